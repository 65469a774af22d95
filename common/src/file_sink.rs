//! Writing a received file to disk, the same on both sides of a transfer: bytes are appended on
//! a low-priority thread of their own, hashed as they pass (no second read at the end), and
//! synced a few MiB behind the writer. Syncing behind keeps the file's dirty pages few, so the
//! final sync is short, and a large file never makes other fsyncs on the same disk (the
//! server's database commits, which every chat message waits for) queue behind a gigabyte of
//! write-back.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

/// A background sync starts once this much has been written since the previous one started.
const SYNC_EVERY: u64 = 1 << 20;
/// The writer waits for the running sync once this much is written and not yet being synced,
/// so a disk slower than the network slows the transfer instead of filling memory.
const MAX_BEHIND: u64 = 32 << 20;

/// Added to a file writer thread's nice value, so chat threads win the CPU over bulk file work.
#[cfg(target_os = "linux")]
const BULK_NICE: i32 = 10;

/// The end of a spawned sink: [`FileSink::finish`]'s length and hash, or the first error (a
/// closed channel if the writer thread died).
pub type WriterTask = oneshot::Receiver<io::Result<(u64, String)>>;

/// An append-only file being received, with its running BLAKE3 hash.
pub struct FileSink {
    file: File,
    hasher: blake3::Hasher,
    len: u64,
    unsynced: u64,
    syncing: Option<JoinHandle<io::Result<()>>>,
    path: std::path::PathBuf,
}

impl FileSink {
    /// Opens `path` to continue at `offset`: creates it if missing, cuts anything past `offset`
    /// and hashes the bytes before it. Blocking.
    pub fn open(path: &Path, offset: u64) -> io::Result<Self> {
        // Checked before opening, so a bad offset does not leave an empty file behind.
        let existing = match std::fs::metadata(path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        if existing < offset {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{} has {existing} bytes, fewer than the {offset} to resume from",
                    path.display()
                ),
            ));
        }
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        file.set_len(offset)?;
        let mut hasher = blake3::Hasher::new();
        file.seek(SeekFrom::Start(0))?;
        io::copy(&mut (&file).take(offset), &mut hasher)?;
        file.seek(SeekFrom::End(0))?;
        Ok(FileSink {
            file,
            hasher,
            len: offset,
            unsynced: 0,
            syncing: None,
            path: path.to_owned(),
        })
    }

    /// Bytes in the file so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True before anything is in the file.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `bytes`; may start a background sync, or wait for one when too far ahead.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        self.unsynced += bytes.len() as u64;
        if self.unsynced >= SYNC_EVERY {
            self.sync_behind()?;
        }
        Ok(())
    }

    fn sync_behind(&mut self) -> io::Result<()> {
        if let Some(running) = &self.syncing {
            if !running.is_finished() && self.unsynced < MAX_BEHIND {
                return Ok(());
            }
            self.wait_for_sync()?;
        }
        let file = self.file.try_clone()?;
        let thread = std::thread::Builder::new()
            .name("quicq-sync".into())
            .spawn(move || file.sync_data())?;
        self.syncing = Some(thread);
        self.unsynced = 0;
        Ok(())
    }

    fn wait_for_sync(&mut self) -> io::Result<()> {
        match self.syncing.take() {
            None => Ok(()),
            Some(thread) => thread.join().map_err(|_| io::Error::other("sync thread panicked"))?,
        }
    }

    /// Makes everything written so far durable.
    pub fn sync(&mut self) -> io::Result<()> {
        self.wait_for_sync()?;
        self.file.sync_data()?;
        self.unsynced = 0;
        Ok(())
    }

    /// Makes the file and its directory entry durable; returns its length and BLAKE3 hash
    /// (lowercase hex).
    pub fn finish(mut self) -> io::Result<(u64, String)> {
        self.wait_for_sync()?;
        self.file.sync_all()?;
        sync_dir_of(&self.path)?;
        Ok((self.len, self.hasher.finalize().to_hex().to_string()))
    }

    /// Runs the sink on a thread of its own fed with blocks through a channel of `depth`;
    /// `after_each` runs after every block (progress, checkpoints). The task ends with
    /// [`FileSink::finish`]'s result once the sender is dropped, or with the first error.
    ///
    /// The thread runs at a lower CPU priority: hashing and writing a large file is bulk work,
    /// and on a busy machine it must not make a chat message wait for a time slice. (A thread
    /// of its own, because an unprivileged thread cannot raise its priority back afterwards, so
    /// a pooled blocking thread would stay lowered.)
    pub fn spawn<F>(
        mut self,
        depth: usize,
        mut after_each: F,
    ) -> (mpsc::Sender<Vec<u8>>, WriterTask)
    where
        F: FnMut(&mut FileSink) -> io::Result<()> + Send + 'static,
    {
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(depth);
        let (done_tx, done_rx) = oneshot::channel();
        let started = std::thread::Builder::new().name("quicq-file".into()).spawn(move || {
            lower_priority();
            let run = || {
                while let Some(block) = rx.blocking_recv() {
                    self.write(&block)?;
                    after_each(&mut self)?;
                }
                self.finish()
            };
            let _ = done_tx.send(run());
        });
        match started {
            Ok(_) => (tx, done_rx),
            Err(e) => {
                // `rx` went with the closure, so sends fail and the caller awaits this error.
                let (failed_tx, failed_rx) = oneshot::channel();
                let _ = failed_tx.send(Err(e));
                (tx, failed_rx)
            }
        }
    }
}

/// Lowers the calling thread's CPU priority by [`BULK_NICE`] (best effort; Linux only, where
/// nice values are per thread). Threads it starts, such as the background syncs, inherit it.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let me = Some(rustix::thread::gettid());
        let now = getpriority_process(me).unwrap_or(0);
        // Only ever lowers priority, which needs no privilege; if refused, run as before.
        let _ = setpriority_process(me, (now + BULK_NICE).min(19));
    }
}

/// Bytes an unprivileged process may still write on the file system holding `dir`, where the
/// platform tells (Linux).
pub fn free_bytes(dir: &Path) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let stat = rustix::fs::statvfs(dir).ok()?;
        Some(stat.f_bavail.saturating_mul(stat.f_frsize))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        None
    }
}

/// Makes the directory entry of `path` durable (after creating or renaming it): without this a
/// crash can lose a file whose bytes were synced.
pub fn sync_dir_of(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => File::open(".")?.sync_all(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::FileSink;

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn hash_and_length_match_the_bytes_across_many_background_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let bytes = data(21 << 20);
        let mut sink = FileSink::open(&path, 0).unwrap();
        for chunk in bytes.chunks(100_003) {
            sink.write(chunk).unwrap();
        }
        let (len, hash) = sink.finish().unwrap();
        assert_eq!(len, bytes.len() as u64);
        assert_eq!(hash, blake3::hash(&bytes).to_hex().to_string());
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn resuming_cuts_the_tail_and_hashes_the_kept_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let bytes = data(3 << 20);
        let mut garbage = bytes[..1_000_000].to_vec();
        garbage.extend_from_slice(b"bytes past the resume point that must go");
        std::fs::write(&path, &garbage).unwrap();
        let mut sink = FileSink::open(&path, 1_000_000).unwrap();
        assert_eq!(sink.len(), 1_000_000);
        sink.write(&bytes[1_000_000..]).unwrap();
        let (len, hash) = sink.finish().unwrap();
        assert_eq!(len, bytes.len() as u64);
        assert_eq!(hash, blake3::hash(&bytes).to_hex().to_string());
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn resuming_past_the_end_is_an_error_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"short").unwrap();
        let err = FileSink::open(&path, 10).err().unwrap();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
        assert_eq!(std::fs::read(&path).unwrap(), b"short");
        let missing = dir.path().join("missing");
        assert!(FileSink::open(&missing, 10).is_err());
        assert!(!missing.exists());
    }

    #[tokio::test]
    async fn the_spawned_writer_reports_each_block_and_the_final_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let bytes = data(5 << 20);
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let s = seen.clone();
        let (tx, task) = FileSink::open(&path, 0).unwrap().spawn(2, move |sink| {
            s.store(sink.len(), std::sync::atomic::Ordering::Relaxed);
            Ok(())
        });
        for chunk in bytes.chunks(256 * 1024) {
            tx.send(chunk.to_vec()).await.unwrap();
        }
        drop(tx);
        let (len, hash) = task.await.unwrap().unwrap();
        assert_eq!(len, bytes.len() as u64);
        assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), len);
        assert_eq!(hash, blake3::hash(&bytes).to_hex().to_string());
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_writer_thread_runs_at_a_lower_priority_than_its_caller() {
        use rustix::process::getpriority_process;
        let dir = tempfile::tempdir().unwrap();
        let caller = getpriority_process(Some(rustix::thread::gettid())).unwrap();
        let nice = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(i32::MIN));
        let n = nice.clone();
        let (tx, task) = FileSink::open(&dir.path().join("f"), 0).unwrap().spawn(1, move |_| {
            let me = getpriority_process(Some(rustix::thread::gettid())).unwrap();
            n.store(me, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        });
        tx.send(vec![1; 10]).await.unwrap();
        drop(tx);
        task.await.unwrap().unwrap();
        let writer = nice.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(writer, (caller + super::BULK_NICE).min(19), "caller at nice {caller}");
    }
}
