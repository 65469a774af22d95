//! How fast an account may send: a sustained rate with a small burst, plus a backlog allowance
//! that lets what was saved up while quiet go out faster than the sustained rate, but not all at
//! once (a two-rate policer in the manner of RFC 2698).
//!
//! Two token buckets, and a send takes a token from each:
//! - sustained: `messages_per_second`, holding `message_burst + message_backlog`;
//! - peak: `backlog_messages_per_second`, holding `message_burst`.
//!
//! A flood is held to the sustained rate (the sustained bucket runs dry). A client coming back
//! from an outage with what its user typed meanwhile finds the sustained bucket full and sends
//! `message_burst` at once, then the rest at the peak rate, instead of draining at the sustained
//! rate while new messages keep arriving at it (a queue that never empties).

use std::time::{Duration, Instant};

/// The settings of [`MessageRate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    pub per_second: u32,
    pub burst: u32,
    pub backlog: u32,
    pub backlog_per_second: u32,
}

#[derive(Debug, Clone)]
pub struct MessageRate {
    sustained: TokenBucket,
    peak: TokenBucket,
}

impl MessageRate {
    pub fn new(rates: Rates, now: Instant) -> Self {
        let per_second = rates.per_second.max(1);
        MessageRate {
            sustained: TokenBucket::new(
                per_second,
                rates.burst.max(1).saturating_add(rates.backlog),
                now,
            ),
            peak: TokenBucket::new(rates.backlog_per_second.max(per_second), rates.burst, now),
        }
    }

    /// Takes one send, or says how long until one is allowed.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let wait = self.sustained.wait(now).max(self.peak.wait(now));
        if wait > Duration::ZERO {
            return Err(wait);
        }
        self.sustained.tokens -= 1.0;
        self.peak.tokens -= 1.0;
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct TokenBucket {
    rate: f64,
    size: f64,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    fn new(rate: u32, size: u32, now: Instant) -> Self {
        let size = f64::from(size.max(1));
        TokenBucket { rate: f64::from(rate.max(1)), size, tokens: size, updated: now }
    }

    /// Refills, then says how long until a whole token is there (zero: now).
    fn wait(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.size);
        self.updated = now;
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATES: Rates = Rates { per_second: 10, burst: 3, backlog: 20, backlog_per_second: 50 };

    /// Sends made between `from` and `to` (ms) when trying every millisecond.
    fn sends(rate: &mut MessageRate, start: Instant, from: u64, to: u64) -> usize {
        (from..to).filter(|ms| rate.take(start + Duration::from_millis(*ms)).is_ok()).count()
    }

    #[test]
    fn a_flood_gets_the_burst_then_the_sustained_rate() {
        let start = Instant::now();
        let mut rate = MessageRate::new(RATES, start);
        // At once: the burst; the peak bucket then lets 50/s through until the sustained bucket
        // (3 + 20) is empty, then 10/s.
        let first_second = sends(&mut rate, start, 0, 1000);
        assert!((3 + 20..=3 + 20 + 10 + 1).contains(&first_second), "{first_second}");
        let next_ten = sends(&mut rate, start, 1000, 11_000);
        assert!((99..=101).contains(&next_ten), "{next_ten}");
    }

    #[test]
    fn the_wait_is_the_longer_of_the_two() {
        let start = Instant::now();
        let mut rate = MessageRate::new(RATES, start);
        for _ in 0..3 {
            rate.take(start).unwrap();
        }
        // The peak bucket (50/s) is empty: 20 ms.
        let wait = rate.take(start).unwrap_err();
        assert!(wait > Duration::from_millis(19) && wait <= Duration::from_millis(20), "{wait:?}");
    }

    #[test]
    fn quiet_time_earns_a_backlog_sent_at_the_peak_rate() {
        let start = Instant::now();
        let mut rate = MessageRate::new(RATES, start);
        // Spend everything, then stay quiet for a minute: the sustained bucket refills to
        // 23 and the backlog goes out at 50/s, far faster than 10/s.
        sends(&mut rate, start, 0, 5000);
        let back = start + Duration::from_secs(60);
        let half_second =
            (0..500).filter(|ms| rate.take(back + Duration::from_millis(*ms)).is_ok()).count();
        assert!((3 + 24..=3 + 26).contains(&half_second), "{half_second}");
    }

    #[test]
    fn no_backlog_is_a_plain_bucket() {
        let start = Instant::now();
        let mut rate = MessageRate::new(Rates { backlog: 0, ..RATES }, start);
        assert_eq!((0..5).filter(|_| rate.take(start).is_ok()).count(), 3);
        let second = sends(&mut rate, start, 1, 1001);
        assert!((9..=11).contains(&second), "{second}");
    }
}
