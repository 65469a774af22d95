//! The disk under test: whether it has room for the file workloads, and how long a small durable
//! write takes on it while a workload runs. The latter is the floor under every chat message's
//! latency, since the server syncs each message to disk before it delivers it; on a shared
//! virtual disk it changes by the hour, so it is measured in the same run as the figure it
//! explains.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::stats::Samples;

/// Bytes per probe write: one page, like a small database commit.
const WRITE: usize = 4096;
/// The probe file wraps around at this size, as SQLite's WAL does after a checkpoint.
const WRAP: u64 = 4 << 20;
/// Pause between probes, so the probe itself adds little load (100 syncs a second).
const EVERY: Duration = Duration::from_millis(10);

/// Fails at once, saying what to do, when the disk holding `dir` has less than `need` bytes
/// free: the file workloads write several GiB and would otherwise fail minutes into a run.
pub fn ensure_free(dir: &Path, need: u64) -> anyhow::Result<()> {
    let vfs = rustix::fs::statvfs(dir)?;
    let free = vfs.f_bavail.saturating_mul(vfs.f_frsize);
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    anyhow::ensure!(
        free >= need,
        "{} has {:.1} GiB free but the file workloads need {:.1} GiB: set TMPDIR to a larger \
         disk, or use smaller --mib / --group",
        dir.display(),
        gib(free),
        gib(need)
    );
    Ok(())
}

/// Appends a page and `fdatasync`s it every 10 ms until stopped (or dropped).
pub struct SyncProbe {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<std::io::Result<Samples>>>,
}

impl SyncProbe {
    /// Starts probing with a file in `dir` (on the disk to measure).
    pub fn start(dir: &Path) -> std::io::Result<Self> {
        let mut file = File::create(dir.join("sync-probe"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new().name("sync-probe".into()).spawn(move || {
            let page = [0x5au8; WRITE];
            let mut samples = Samples::default();
            // At least one sync, however soon it is stopped.
            loop {
                if file.stream_position()? >= WRAP {
                    file.seek(SeekFrom::Start(0))?;
                }
                file.write_all(&page)?;
                let start = Instant::now();
                file.sync_data()?;
                samples.push(start.elapsed());
                if stopping.load(Ordering::Relaxed) {
                    return Ok(samples);
                }
                std::thread::sleep(EVERY);
            }
        })?;
        Ok(SyncProbe { stop, thread: Some(thread) })
    }

    /// Stops and returns each sync's duration.
    pub fn stop(mut self) -> anyhow::Result<Samples> {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread.take().ok_or_else(|| anyhow::anyhow!("probe already stopped"))?;
        let samples =
            thread.join().map_err(|_| anyhow::anyhow!("sync probe thread panicked"))??;
        Ok(samples)
    }
}

impl Drop for SyncProbe {
    /// A workload that fails part-way must not leave the probe syncing in the background.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn refuses_to_start_without_the_space_needed() {
        let dir = tempfile::tempdir().unwrap();
        super::ensure_free(dir.path(), 1).unwrap();
        let err = super::ensure_free(dir.path(), u64::MAX).unwrap_err().to_string();
        assert!(err.contains("GiB free but the file workloads need"), "{err}");
    }

    #[test]
    fn measures_syncs_until_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let probe = super::SyncProbe::start(dir.path()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        // A busy disk may allow only one sync in that time.
        let mut samples = probe.stop().unwrap();
        assert!(samples.len() >= 1, "no sync measured");
        assert!(samples.percentile_ms(100.0).is_finite());
    }
}
