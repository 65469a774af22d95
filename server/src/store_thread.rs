//! The one thread that touches the database. Jobs run in the order they arrive; message inserts
//! that queue up behind each other are committed together (group commit), so many senders share
//! one fsync while every message is still durable before its ack. Fan-out happens here too, in
//! commit order, which keeps every session's queue in id order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use tokio::sync::oneshot;

use crate::store::{
    AccountId, INDEX_BATCH, NewMessage, Rejection, Store, StoreError, Stored, Target,
};

/// Most inserts committed in one transaction.
const MAX_BATCH: usize = 256;

type Run = Box<dyn FnOnce(&mut dyn Store) + Send>;

/// What an insert's requester learns: stored (or a repeat), refused, or the commit failed.
pub type InsertResult = Result<Result<Stored, Rejection>, Arc<StoreError>>;

/// A message to store; `then` runs after the commit (for new messages only, not repeats).
pub struct Insert {
    pub sender: AccountId,
    pub target: Target,
    pub text: String,
    pub client_id: String,
    pub now: i64,
    pub reply_to: Option<u64>,
    pub then: Box<dyn FnOnce(&Stored) + Send>,
    /// A failed group commit fails every insert in it with the same cause.
    pub reply: oneshot::Sender<InsertResult>,
}

/// Why the after-job hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// After this node's own work.
    Here,
    /// Another node rang: it stored something.
    Elsewhere,
}

/// Runs on the store thread after every job (a cluster node delivers what was committed).
pub type AfterJob = Box<dyn FnMut(&mut dyn Store, Cause) + Send>;

enum Job {
    Run(Run),
    Insert(Insert),
    /// Only the after-job hook, for another node's commits.
    Ring,
    /// The last job: runs, then the thread ends.
    Stop(Run),
}

#[derive(Debug, Clone)]
pub struct StoreThread {
    tx: mpsc::Sender<Job>,
    /// A ring is queued and not yet run: more rings until then add nothing.
    ringing: Arc<AtomicBool>,
    /// Taken by [`StoreThread::join`]; shared so every clone can ask whether it is gone.
    handle: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl StoreThread {
    /// Runs `store` on a thread of its own; `after` (if any) runs after every job.
    pub fn start(store: Box<dyn Store>, after: Option<AfterJob>) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let ringing = Arc::new(AtomicBool::new(false));
        let worker = Worker { after, ringing: ringing.clone() };
        let handle = std::thread::Builder::new()
            .name("quicq-store".into())
            .spawn(move || worker.work(store, rx))?;
        Ok(StoreThread { tx, ringing, handle: Arc::new(Mutex::new(Some(handle))) })
    }

    /// Runs the after-job hook for another node's commits, once for any number of rings that
    /// arrive before it runs.
    pub fn ring(&self) {
        if !self.ringing.swap(true, Ordering::AcqRel) {
            let _ = self.tx.send(Job::Ring);
        }
    }

    /// Queues `f`; it runs after everything queued before it. False if the thread has stopped.
    pub fn run(&self, f: impl FnOnce(&mut dyn Store) + Send + 'static) -> bool {
        let sent = self.tx.send(Job::Run(Box::new(f))).is_ok();
        if !sent {
            tracing::error!("the store thread has stopped");
        }
        sent
    }

    pub fn insert(&self, insert: Insert) {
        if let Err(mpsc::SendError(Job::Insert(insert))) = self.tx.send(Job::Insert(insert)) {
            let _ = insert.reply.send(Err(Arc::new(StoreError::Stopped)));
        }
    }

    /// Runs `last` after every job queued so far, then ends the thread and waits for it. Jobs
    /// queued later fail as if the thread had stopped.
    pub async fn join(&self, last: impl FnOnce(&mut dyn Store) + Send + 'static) {
        let Some(handle) = self.handle.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let _ = self.tx.send(Job::Stop(Box::new(last)));
        if !matches!(tokio::task::spawn_blocking(move || handle.join()).await, Ok(Ok(()))) {
            tracing::error!("the store thread panicked");
        }
    }
}

struct Worker {
    after: Option<AfterJob>,
    ringing: Arc<AtomicBool>,
}

impl Worker {
    fn work(mut self, mut store: Box<dyn Store>, rx: mpsc::Receiver<Job>) {
        work(store.as_mut(), rx, |store, cause| {
            if cause == Cause::Elsewhere {
                self.ringing.store(false, Ordering::Release);
            }
            if let Some(after) = &mut self.after {
                after(store, cause);
            }
        });
    }
}

fn work(
    store: &mut dyn Store,
    rx: mpsc::Receiver<Job>,
    mut after: impl FnMut(&mut dyn Store, Cause),
) {
    let mut next = rx.recv().ok();
    while let Some(job) = next.take() {
        if let Err(e) = store.reconnect() {
            tracing::error!(cause = %e, "cannot reach the database");
        }
        match job {
            Job::Ring => after(store, Cause::Elsewhere),
            Job::Run(f) => {
                f(store);
                after(store, Cause::Here);
            }
            Job::Stop(last) => {
                last(store);
                break;
            }
            Job::Insert(first) => {
                let mut batch = vec![first];
                // Take whatever inserts are already waiting; stop at anything else.
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(Job::Insert(more)) => batch.push(more),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                commit(store, batch);
                after(store, Cause::Here);
            }
        }
        if next.is_none() {
            next = wait_indexing(store, &rx);
        }
    }
    tracing::debug!("store thread finished");
}

/// How long the store must be quiet before a small backlog is indexed.
const INDEX_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

/// The next job. While none is waiting the search index catches up: at once when a full batch
/// waits, otherwise after [`INDEX_IDLE`] without jobs.
fn wait_indexing(store: &mut dyn Store, rx: &mpsc::Receiver<Job>) -> Option<Job> {
    loop {
        match rx.try_recv() {
            Ok(job) => return Some(job),
            Err(mpsc::TryRecvError::Disconnected) => return None,
            Err(mpsc::TryRecvError::Empty) => {}
        }
        let backlog = store.index_backlog().unwrap_or(0);
        if backlog < INDEX_BATCH as u64 {
            match rx.recv_timeout(if backlog == 0 { INDEX_IDLE * 3600 } else { INDEX_IDLE }) {
                Ok(job) => return Some(job),
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
        if let Err(e) = store.index_pending(INDEX_BATCH) {
            tracing::error!(cause = %e, "search indexing failed");
            return rx.recv().ok();
        }
    }
}

fn commit(store: &mut dyn Store, batch: Vec<Insert>) {
    let rows: Vec<NewMessage<'_>> = batch
        .iter()
        .map(|i| NewMessage {
            sender: i.sender,
            target: i.target,
            text: &i.text,
            client_id: &i.client_id,
            now: i.now,
            reply_to: i.reply_to,
        })
        .collect();
    match store.insert_messages(&rows) {
        Ok(stored) => {
            for (insert, stored) in batch.into_iter().zip(stored) {
                if let Ok(new) = &stored
                    && !new.duplicate
                {
                    (insert.then)(new);
                }
                let _ = insert.reply.send(Ok(stored));
            }
        }
        Err(e) => {
            tracing::error!(cause = %e, messages = batch.len(), "storing messages failed");
            let e = Arc::new(e);
            for insert in batch {
                let _ = insert.reply.send(Err(e.clone()));
            }
        }
    }
}
