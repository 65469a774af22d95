//! Presence changes go out in batches. A change is sent at once when the previous batch is old
//! enough; otherwise it waits for the batch interval, with whatever else changed meanwhile, each
//! account in its latest state. The interval grows with the number of sessions so that presence
//! costs the server at most about [`FRAMES_PER_SECOND`] control frames a second however many
//! people are online: without it, 10,000 people signing in means 10,000 frames to each of
//! 10,000 sessions.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use quicq_common::frame::encode;
use quicq_common::protocol::{MAX_PRESENCE_NAMES, ServerFrame};

use crate::store::AccountId;

/// The shortest wait between batches: what a small server's users may notice at most.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// Presence frames per second across all sessions that the interval aims to stay under.
const FRAMES_PER_SECOND: u64 = 10_000;

/// The wait between batches with `sessions` live sessions: 100 ms up to 1,000 sessions, then
/// 0.1 ms more per session (a second at 10,000).
pub fn interval(sessions: usize) -> Duration {
    let spread = Duration::from_micros(sessions as u64 * 1_000_000 / FRAMES_PER_SECOND);
    spread.max(MIN_INTERVAL)
}

/// Changes not yet sent, and when the last batch went out.
#[derive(Debug, Default)]
pub struct PendingPresence {
    changes: HashMap<AccountId, bool>,
    last_sent: Option<Instant>,
}

impl PendingPresence {
    /// Records that `account` is now online or offline; a later change replaces an earlier one.
    pub fn record(&mut self, account: AccountId, online: bool) {
        self.changes.insert(account, online);
    }

    /// When the next batch may go out; `None` means at once (nothing was sent yet).
    pub fn due_at(&self, sessions: usize) -> Option<Instant> {
        self.last_sent.map(|sent| sent + interval(sessions))
    }

    /// Takes the pending changes as encoded `presence` frames (none when nothing changed),
    /// names sorted, at most [`MAX_PRESENCE_NAMES`] a frame.
    pub fn take_frames(
        &mut self,
        names: &HashMap<AccountId, String>,
        now: Instant,
    ) -> Vec<Arc<[u8]>> {
        if self.changes.is_empty() {
            return Vec::new();
        }
        self.last_sent = Some(now);
        let mut changes: Vec<(&String, bool)> = self
            .changes
            .drain()
            .filter_map(|(account, online)| names.get(&account).map(|name| (name, online)))
            .collect();
        changes.sort();
        changes
            .chunks(MAX_PRESENCE_NAMES)
            .map(|chunk| {
                let pick = |want: bool| {
                    chunk
                        .iter()
                        .filter(move |(_, online)| *online == want)
                        .map(|(n, _)| (*n).clone())
                };
                let frame = ServerFrame::Presence {
                    online: pick(true).collect(),
                    offline: pick(false).collect(),
                };
                encode(&frame).into()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use quicq_common::frame::parse;

    fn decoded(frames: &[Arc<[u8]>]) -> Vec<(Vec<String>, Vec<String>)> {
        frames
            .iter()
            .map(|f| match parse::<ServerFrame>(&f[4..]).unwrap() {
                ServerFrame::Presence { online, offline } => (online, offline),
                other => panic!("not presence: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn the_interval_is_short_on_small_servers_and_grows_with_sessions() {
        assert_eq!(interval(0), MIN_INTERVAL);
        assert_eq!(interval(1_000), MIN_INTERVAL);
        assert_eq!(interval(10_000), Duration::from_secs(1));
    }

    #[test]
    fn changes_within_a_batch_keep_only_each_accounts_latest_state() {
        let names: HashMap<AccountId, String> =
            [(1, "alice".to_string()), (2, "bob".to_string()), (3, "carol".to_string())].into();
        let mut pending = PendingPresence::default();
        assert_eq!(pending.due_at(5), None);
        pending.record(2, true);
        pending.record(1, true);
        pending.record(3, true);
        pending.record(3, false);
        let now = Instant::now();
        let frames = pending.take_frames(&names, now);
        assert_eq!(
            decoded(&frames),
            vec![(vec!["alice".to_string(), "bob".to_string()], vec!["carol".to_string()])]
        );
        assert_eq!(pending.due_at(5), Some(now + MIN_INTERVAL));
        assert!(pending.take_frames(&names, now).is_empty());
    }

    #[test]
    fn a_large_batch_is_split_into_frames_under_the_size_limit() {
        let long = |i: usize| format!("{i:05}{}", "長".repeat(27));
        let names: HashMap<AccountId, String> = (0..1_000).map(|i| (i as i64, long(i))).collect();
        let mut pending = PendingPresence::default();
        for i in 0..1_000 {
            pending.record(i, i % 2 == 0);
        }
        let frames = pending.take_frames(&names, Instant::now());
        assert_eq!(frames.len(), 1_000usize.div_ceil(MAX_PRESENCE_NAMES));
        assert!(frames.iter().all(|f| f.len() <= quicq_common::protocol::MAX_FRAME_LEN));
        let all = decoded(&frames);
        assert_eq!(all.iter().map(|(on, off)| on.len() + off.len()).sum::<usize>(), 1_000);
        assert!(
            all.iter().flat_map(|(on, _)| on).all(|n| n.starts_with(|c: char| c.is_ascii_digit()))
        );
    }
}
