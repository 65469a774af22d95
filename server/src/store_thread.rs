//! The one thread that touches the database. Jobs run in the order they arrive; message inserts
//! that queue up behind each other are committed together (group commit), so many senders share
//! one fsync while every message is still durable before its ack. Fan-out happens here too, in
//! commit order, which keeps every session's queue in id order.

use std::sync::mpsc;

use tokio::sync::oneshot;

use crate::store::{AccountId, Store, StoreError, Stored, Target};

/// Most inserts committed in one transaction.
const MAX_BATCH: usize = 256;

type Run = Box<dyn FnOnce(&mut Store) + Send>;

/// A message to store; `then` runs after the commit (for new messages only, not repeats).
pub struct Insert {
    pub sender: AccountId,
    pub target: Target,
    pub text: String,
    pub client_id: String,
    pub now: i64,
    pub then: Box<dyn FnOnce(&Stored) + Send>,
    pub reply: oneshot::Sender<Result<Stored, String>>,
}

enum Job {
    Run(Run),
    Insert(Insert),
}

#[derive(Debug, Clone)]
pub struct StoreThread {
    tx: mpsc::Sender<Job>,
}

impl StoreThread {
    pub fn start(store: Store) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new().name("quicq-store".into()).spawn(move || work(store, rx))?;
        Ok(StoreThread { tx })
    }

    /// Queues `f`; it runs after everything queued before it.
    pub fn run(&self, f: impl FnOnce(&mut Store) + Send + 'static) {
        if self.tx.send(Job::Run(Box::new(f))).is_err() {
            tracing::error!("the store thread has stopped");
        }
    }

    pub fn insert(&self, insert: Insert) {
        if let Err(mpsc::SendError(Job::Insert(insert))) = self.tx.send(Job::Insert(insert)) {
            let _ = insert.reply.send(Err("the store thread has stopped".into()));
        }
    }
}

fn work(mut store: Store, rx: mpsc::Receiver<Job>) {
    let mut next = rx.recv().ok();
    while let Some(job) = next.take() {
        match job {
            Job::Run(f) => f(&mut store),
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
                commit(&mut store, batch);
            }
        }
        if next.is_none() {
            next = rx.recv().ok();
        }
    }
    tracing::debug!("store thread finished");
}

fn commit(store: &mut Store, batch: Vec<Insert>) {
    let rows: Vec<(AccountId, &Target, &str, &str, i64)> = batch
        .iter()
        .map(|i| (i.sender, &i.target, i.text.as_str(), i.client_id.as_str(), i.now))
        .collect();
    match store.insert_messages(&rows) {
        Ok(stored) => {
            for (insert, stored) in batch.into_iter().zip(stored) {
                if !stored.duplicate {
                    (insert.then)(&stored);
                }
                let _ = insert.reply.send(Ok(stored));
            }
        }
        Err(e) => {
            let e: StoreError = e;
            tracing::error!(cause = %e, messages = batch.len(), "storing messages failed");
            for insert in batch {
                let _ = insert.reply.send(Err(e.to_string()));
            }
        }
    }
}
