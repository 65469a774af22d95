//! Transfer progress: measured on every block, reported at most five times a second so a fast
//! transfer does not flood the event stream.

use std::time::{Duration, Instant};

use crate::event::{Emitter, TransferEvent, TransferKey};

/// Progress events per transfer are at least this far apart.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Measures progress and decides when to report it.
pub(super) struct Meter {
    key: TransferKey,
    name: String,
    total: u64,
    started: Instant,
    /// Where this attempt started (a resumed transfer's offset), so the rate counts only
    /// bytes moved now.
    start_bytes: u64,
    last: Instant,
}

impl Meter {
    pub(super) fn new(key: TransferKey, name: &str, total: u64, start_bytes: u64) -> Self {
        let now = Instant::now();
        Meter {
            key,
            name: name.to_owned(),
            total,
            started: now,
            start_bytes,
            last: now - PROGRESS_EVERY,
        }
    }

    /// Reports `done` bytes if the last report is old enough, or always with `force`.
    pub(super) fn report(&mut self, events: &Emitter, done: u64, force: bool) {
        let now = Instant::now();
        if !force && now - self.last < PROGRESS_EVERY {
            return;
        }
        self.last = now;
        let secs = (now - self.started).as_secs_f64().max(1e-3);
        let rate = done.saturating_sub(self.start_bytes) as f64 / secs;
        events.transfer(TransferEvent::Progress {
            key: self.key.clone(),
            name: self.name.clone(),
            done,
            total: self.total,
            bytes_per_sec: rate,
        });
    }
}
