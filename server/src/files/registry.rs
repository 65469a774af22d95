//! Uploads running now, so a resumed upload (or `upload_status`) can take over from one stuck on
//! a dead connection, and the retention sweep never expires a file being written.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio_util::sync::CancellationToken;

#[derive(Debug, Default)]
pub struct Uploads {
    running: Mutex<HashMap<u64, Running>>,
    generation: AtomicU64,
}

#[derive(Debug)]
struct Running {
    generation: u64,
    stop: CancellationToken,
    lock: Arc<tokio::sync::Mutex<()>>,
}

/// The right to write one file's spool, until dropped. `stop` is cancelled when another
/// upload of the same file takes over.
#[derive(Debug)]
pub struct Writing {
    generation: u64,
    pub stop: CancellationToken,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

/// A claim on a file's spool, waiting for the previous writer to finish.
#[derive(Debug)]
#[must_use = "acquire the claim, or the file stays marked as running"]
pub struct Claim {
    generation: u64,
    stop: CancellationToken,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl Claim {
    /// Waits until the previous writer has recorded its progress and let go.
    pub async fn acquire(self) -> Writing {
        let Claim { generation, stop, lock } = self;
        Writing { generation, stop, _guard: lock.lock_owned().await }
    }
}

impl Uploads {
    fn running(&self) -> MutexGuard<'_, HashMap<u64, Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops any running upload of `file_id` and waits until it has recorded its progress; the
    /// caller is then the only writer.
    pub async fn take_over(&self, file_id: u64) -> Writing {
        self.claim(file_id).acquire().await
    }

    /// The first, synchronous half of [`Uploads::take_over`]: from now on the file counts as
    /// running (it holds its declared size of the quota) and any older upload is told to stop.
    /// The claim must be acquired, or the file stays marked as running.
    pub fn claim(&self, file_id: u64) -> Claim {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let stop = CancellationToken::new();
        let mut running = self.running();
        let lock = running.get(&file_id).map(|r| r.lock.clone()).unwrap_or_default();
        let new = Running { generation, stop: stop.clone(), lock: lock.clone() };
        if let Some(old) = running.insert(file_id, new) {
            old.stop.cancel();
        }
        Claim { generation, stop, lock }
    }

    /// Whether an upload of this file is being written now.
    pub fn is_running(&self, file_id: u64) -> bool {
        self.running().contains_key(&file_id)
    }

    /// Forgets `writing` unless a newer upload of the file has taken over since.
    pub fn finish(&self, file_id: u64, writing: &Writing) {
        let mut running = self.running();
        if running.get(&file_id).is_some_and(|r| r.generation == writing.generation) {
            running.remove(&file_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_new_upload_stops_the_old_one_and_waits_for_it() {
        let uploads = Uploads::default();
        let first = uploads.take_over(7).await;
        assert!(uploads.is_running(7));
        let second = {
            let uploads = &uploads;
            let take = uploads.take_over(7);
            tokio::pin!(take);
            // The first writer still holds the file: the second waits, but has already told it
            // to stop.
            assert!(futures_poll_once(&mut take).await.is_none());
            assert!(first.stop.is_cancelled());
            uploads.finish(7, &first);
            drop(first);
            take.await
        };
        // The old writer's finish did not forget the new one.
        assert!(uploads.is_running(7));
        uploads.finish(7, &second);
        assert!(!uploads.is_running(7));
    }

    async fn futures_poll_once<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
        tokio::select! {
            biased;
            out = f => Some(out),
            () = std::future::ready(()) => None,
        }
    }
}
