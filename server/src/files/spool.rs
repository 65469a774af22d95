//! Files on disk while they upload and until retention ends, as `<data dir>/spool/<id>.spool`.
//! A watch per live file lets downloads follow an upload that is still running (cut-through)
//! without holding any of its bytes in memory.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use quicq_common::protocol::ErrorCode;
use tokio::sync::watch;

/// How far a file has got, as downloads see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    /// Bytes written to the spool file and readable.
    pub received: u64,
    pub state: Phase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Phase {
    Uploading,
    Complete,
    Gone(ErrorCode),
}

#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    live: Mutex<HashMap<u64, watch::Sender<Progress>>>,
}

impl Spool {
    pub fn open(dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Spool { dir, live: Mutex::new(HashMap::new()) })
    }

    /// The file's bytes, wherever they are in its life (uploads write here too).
    pub fn path(&self, id: u64) -> PathBuf {
        path_in(&self.dir, id)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<u64, watch::Sender<Progress>>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Follows a file; `initial` is used if nobody is following it yet.
    pub fn watch(&self, id: u64, initial: Progress) -> watch::Receiver<Progress> {
        self.live().entry(id).or_insert_with(|| watch::Sender::new(initial)).subscribe()
    }

    /// Publishes progress to every follower.
    pub fn publish(&self, id: u64, progress: Progress) {
        let mut live = self.live();
        let sender = live.entry(id).or_insert_with(|| watch::Sender::new(progress));
        sender.send_replace(progress);
        // A finished file's watch stays until `release` or `discard`: a download that read the
        // database just before completion must still find the final state here.
    }

    /// Progress another node published, for downloads here that follow the file (a node that
    /// has none keeps nothing). A file gone there is gone here too; its bytes are already
    /// removed from the shared spool.
    pub fn follow_elsewhere(&self, id: u64, progress: Progress) {
        let mut live = self.live();
        if let Some(sender) = live.get(&id) {
            sender.send_replace(progress);
            if matches!(progress.state, Phase::Gone(_)) {
                live.remove(&id);
            }
        }
    }

    /// Forgets the watch of a finished file once its last follower is done.
    pub fn release(&self, id: u64) {
        let mut live = self.live();
        if let Some(sender) = live.get(&id)
            && sender.borrow().state != Phase::Uploading
            && sender.receiver_count() == 0
        {
            live.remove(&id);
        }
    }

    /// Deletes the bytes and tells followers the file is gone.
    pub fn discard(&self, id: u64, why: ErrorCode) {
        if let Some(sender) = self.live().remove(&id) {
            sender.send_replace(Progress { received: 0, state: Phase::Gone(why) });
        }
        remove_quietly(&self.path(id));
    }

    /// Deletes spool files that no stored file claims (left by a crash). Directories are not
    /// the spool's and are left alone (a spool at a mount's root has `lost+found`).
    pub fn remove_orphans(&self, keep: &HashSet<u64>) -> std::io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                continue;
            }
            let path = entry.path();
            let id = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".spool"))
                .and_then(|n| n.parse::<u64>().ok());
            if id.is_none_or(|id| !keep.contains(&id)) {
                remove_quietly(&path);
                removed += 1;
            }
        }
        Ok(removed)
    }
}

pub fn path_in(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id}.spool"))
}

fn remove_quietly(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::error!(path = %path.display(), cause = %e, "cannot delete spool file"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn followers_see_progress_and_discard() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path().join("spool")).unwrap();
        let start = Progress { received: 0, state: Phase::Uploading };
        let rx = spool.watch(7, start);
        spool.publish(7, Progress { received: 10, state: Phase::Uploading });
        assert_eq!(rx.borrow().received, 10);
        std::fs::write(spool.path(7), b"x").unwrap();
        spool.discard(7, ErrorCode::Cancelled);
        assert_eq!(rx.borrow().state, Phase::Gone(ErrorCode::Cancelled));
        assert!(!spool.path(7).exists());
    }

    #[test]
    fn orphans_are_removed_and_claimed_files_kept() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path().to_owned()).unwrap();
        for name in ["1.spool", "2.spool", "junk"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join("lost+found")).unwrap();
        let removed = spool.remove_orphans(&HashSet::from([1])).unwrap();
        assert_eq!(removed, 2);
        assert!(spool.path(1).exists());
        assert!(!spool.path(2).exists());
        assert!(dir.path().join("lost+found").is_dir(), "not the spool's to delete");
    }
}
