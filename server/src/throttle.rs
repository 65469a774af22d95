//! Login throttling: after a few wrong passwords, an account and a source address must wait
//! before the next attempt is even checked, the wait doubling with each failure. Plain code with
//! an injected clock; the login path asks before it hashes, so a guessing flood costs the
//! server no Argon2 time.
//!
//! Memory is bounded: at most `capacity` keys are tracked; when full, keys whose wait has run
//! out are dropped first, then the ones with the fewest failures.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Failures allowed before any wait (a person mistyping).
pub const FREE_FAILURES: u32 = 3;
/// The first wait; it doubles with each further failure.
pub const FIRST_WAIT: Duration = Duration::from_secs(1);
/// The longest wait.
pub const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// A key with no failure for this long is forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last: Instant,
}

#[derive(Debug)]
pub struct Throttle<K> {
    records: HashMap<K, Record>,
    capacity: usize,
}

impl<K: Hash + Eq + Clone> Throttle<K> {
    pub fn new(capacity: usize) -> Self {
        Throttle { records: HashMap::new(), capacity: capacity.max(1) }
    }

    /// How long `key` must still wait before an attempt is checked; zero when it may try now.
    pub fn wait(&self, key: &K, now: Instant) -> Duration {
        let Some(record) = self.records.get(key) else {
            return Duration::ZERO;
        };
        (record.last + delay(record.failures)).saturating_duration_since(now)
    }

    /// Whether `key` has failures on record.
    pub fn has_failed(&self, key: &K) -> bool {
        self.records.contains_key(key)
    }

    /// Records a wrong password.
    pub fn failed(&mut self, key: &K, now: Instant) {
        if !self.records.contains_key(key) && self.records.len() >= self.capacity {
            self.make_room(now);
        }
        let record = self.records.entry(key.clone()).or_insert(Record { failures: 0, last: now });
        record.failures = record.failures.saturating_add(1);
        record.last = now;
    }

    /// Forgets `key` after a successful login.
    pub fn succeeded(&mut self, key: &K) {
        self.records.remove(key);
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn make_room(&mut self, now: Instant) {
        self.records.retain(|_, r| now.saturating_duration_since(r.last) < FORGET_AFTER);
        if self.records.len() < self.capacity {
            return;
        }
        self.records.retain(|_, r| r.last + delay(r.failures) > now);
        if self.records.len() < self.capacity {
            return;
        }
        // Still full of keys that must wait: drop the one with the fewest failures.
        if let Some(key) =
            self.records.iter().min_by_key(|(_, r)| (r.failures, r.last)).map(|(k, _)| k.clone())
        {
            self.records.remove(&key);
        }
    }
}

/// The wait after `failures` wrong passwords in a row.
pub fn delay(failures: u32) -> Duration {
    match failures.checked_sub(FREE_FAILURES) {
        None | Some(0) => Duration::ZERO,
        Some(over) => FIRST_WAIT.saturating_mul(1u32 << (over - 1).min(20)).min(MAX_WAIT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_after_the_free_failures_and_is_capped() {
        let cases =
            [(0, 0), (1, 0), (3, 0), (4, 1), (5, 2), (6, 4), (13, 512), (14, 900), (60, 900)];
        for (failures, secs) in cases {
            assert_eq!(delay(failures), Duration::from_secs(secs), "{failures} failures");
        }
    }

    #[test]
    fn failures_make_a_key_wait_and_success_clears_it() {
        let start = Instant::now();
        let mut t = Throttle::new(10);
        for _ in 0..5 {
            t.failed(&"alice", start);
        }
        assert_eq!(t.wait(&"alice", start), Duration::from_secs(2));
        assert_eq!(
            t.wait(&"alice", start + Duration::from_millis(1500)),
            Duration::from_millis(500)
        );
        assert_eq!(t.wait(&"alice", start + Duration::from_secs(2)), Duration::ZERO);
        assert_eq!(t.wait(&"bob", start), Duration::ZERO, "other keys are not affected");
        t.succeeded(&"alice");
        assert_eq!(t.wait(&"alice", start), Duration::ZERO);
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_keys() {
        let start = Instant::now();
        let mut t = Throttle::new(100);
        // The attacker's own key is well throttled…
        for _ in 0..10 {
            t.failed(&0u32, start);
        }
        // …and a flood of single failures from other keys cannot push it out.
        for key in 1..10_000u32 {
            t.failed(&key, start);
            assert!(t.len() <= 100);
        }
        assert!(t.wait(&0, start) > Duration::from_secs(60));
        // A day later, new keys that need the room push out the old ones.
        let later = start + FORGET_AFTER + Duration::from_secs(1);
        for key in 20_000..20_200u32 {
            t.failed(&key, later);
        }
        assert!(!t.records.contains_key(&0));
        assert!(t.len() <= 100);
    }
}
