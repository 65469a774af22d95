//! `low-delay`: a delay-based congestion controller that ignores random loss and keeps the
//! bottleneck queue near [`LowDelayConfig::target`].
//!
//! Once per round trip it measures the delivery rate and the smallest round-trip time of the
//! round. The window it sets is the delivery rate times (base round trip + target), the window
//! that leaves about `target` of queue at the bottleneck ("Vegas"-style), so a chat message
//! sent on the same connection waits behind at most that much file data in the network.
//! - Start: the window grows by half of what is acknowledged (1.5 times each round) until the
//!   queue passes the target.
//! - Queue above twice the target, or more than a fifth of a round's bytes lost: the window is
//!   set straight to the rate × (base + target).
//! - Random loss below that is not congestion and changes nothing (retransmission is the
//!   connection's business), which is what keeps a 5 %-loss path at a useful rate.
//! - Otherwise the window moves toward that goal each round; after three rounds in a row with
//!   almost no queue while the window is full it also probes for more: one target's worth of
//!   queue, doubling each further calm round (the path may have got faster).
//! - The base round trip is the lowest seen; if no round has come within the target of it for
//!   [`BASE_LIFETIME`], the window is halved for two rounds to drain the queue and measure the
//!   base again (a longer route would otherwise look like a standing queue forever).
//!
//! It yields to loss-based flows sharing the bottleneck (they fill the queue, it backs off),
//! like LEDBAT: a big file transfer never crowds out the rest of a user's connection.

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

use quinn::congestion::{Controller, ControllerFactory};
use quinn_proto::RttEstimator;

/// How long the base round trip is trusted without a round coming near it.
pub const BASE_LIFETIME: Duration = Duration::from_secs(10);
/// The shortest round over which the rate is measured (loopback round trips are ~0.1 ms).
const MIN_ROUND: Duration = Duration::from_millis(2);
/// Rounds with almost no queue, window full, before the window probes higher.
const CALM_ROUNDS: u32 = 3;
/// Rounds of the halved window that measure the base again.
const DRAIN_ROUNDS: u32 = 2;
/// Consecutive round-trip samples above the target that end the start.
const QUEUED_SAMPLES: u32 = 8;

/// Settings of [`LowDelay`]; also its factory.
#[derive(Debug, Clone)]
pub struct LowDelayConfig {
    /// The bottleneck queue the controller aims for, as a delay. A chat message sent during a
    /// file transfer waits about this long per bottleneck; twice this triggers a cut.
    pub target: Duration,
    /// The window before the first round trip, in bytes (RFC 9002's 14,720).
    pub initial_window: u64,
}

impl Default for LowDelayConfig {
    fn default() -> Self {
        LowDelayConfig { target: Duration::from_millis(5), initial_window: 14_720 }
    }
}

impl ControllerFactory for LowDelayConfig {
    fn build(self: Arc<Self>, _now: Instant, current_mtu: u16) -> Box<dyn Controller> {
        Box::new(LowDelay::new(self, current_mtu))
    }
}

#[derive(Debug, Clone)]
pub struct LowDelay {
    config: Arc<LowDelayConfig>,
    mss: u64,
    window: u64,
    slow_start: bool,
    base: Option<Base>,
    round: Round,
    srtt: Duration,
    calm_rounds: u32,
    /// Probes made since the queue was last seen.
    probes: u32,
    /// Consecutive samples above base + target.
    queued_samples: u32,
    drain: Option<Drain>,
    /// Rounds whose rate still reflects a drain, not measured.
    settling: u32,
    batch: Batch,
}

/// The acknowledgements since the last end of a batch.
#[derive(Debug, Clone, Copy, Default)]
struct Batch {
    acked: u64,
    /// Acknowledged while the sender had more to send.
    growth: u64,
}

/// The lowest round trip seen, and when a round last came near it.
#[derive(Debug, Clone, Copy)]
struct Base {
    rtt: Duration,
    seen: Instant,
}

#[derive(Debug, Clone, Copy, Default)]
struct Round {
    start: Option<Instant>,
    acked: u64,
    lost: u64,
    min_rtt: Option<Duration>,
    app_limited: bool,
    /// The most bytes in flight seen before a batch of acknowledgements.
    max_in_flight: u64,
}

#[derive(Debug, Clone, Copy)]
struct Drain {
    /// The window to return to.
    saved: u64,
    rounds_left: u32,
    min_rtt: Option<Duration>,
}

impl LowDelay {
    pub fn new(config: Arc<LowDelayConfig>, mtu: u16) -> Self {
        let window = config.initial_window;
        LowDelay {
            config,
            mss: u64::from(mtu),
            window,
            slow_start: true,
            base: None,
            round: Round::default(),
            srtt: Duration::ZERO,
            calm_rounds: 0,
            probes: 0,
            queued_samples: 0,
            drain: None,
            settling: 0,
            batch: Batch::default(),
        }
    }

    fn min_window(&self) -> u64 {
        4 * self.mss
    }

    /// Acknowledged bytes of one packet sent at `sent`; `srtt` is the connection's smoothed RTT.
    pub fn ack(
        &mut self,
        now: Instant,
        sent: Instant,
        bytes: u64,
        app_limited: bool,
        srtt: Duration,
    ) {
        self.srtt = srtt;
        let sample = now.saturating_duration_since(sent);
        let round = &mut self.round;
        round.start.get_or_insert(now);
        round.acked += bytes;
        round.min_rtt = Some(round.min_rtt.map_or(sample, |m| m.min(sample)));
        round.app_limited |= app_limited;
        let queued = self.base.is_some_and(|b| sample > b.rtt + self.config.target);
        self.queued_samples = if queued { self.queued_samples + 1 } else { 0 };
        self.batch.acked += bytes;
        if !app_limited {
            self.batch.growth += bytes;
        }
        if self.slow_start {
            // Leave the start as soon as the queue shows (a run of samples above the target),
            // not at the end of the round, which would add another round of growth.
            if let Some(base) = self.base
                && self.queued_samples >= QUEUED_SAMPLES
                && let Some(start) = round.start
            {
                let elapsed = now.saturating_duration_since(start).max(MIN_ROUND);
                let rate = round.acked as f64 / elapsed.as_secs_f64();
                self.slow_start = false;
                self.window = self.window.min(self.goal(rate, base.rtt));
            }
        }
    }

    /// The end of a batch of acknowledgements, `in_flight` bytes still unacknowledged: closes
    /// the round once it is a round trip long.
    pub fn end_acks(&mut self, now: Instant, in_flight: u64) {
        let batch = std::mem::take(&mut self.batch);
        // In flight before these acknowledgements: how much of the window was used.
        let used = in_flight + batch.acked;
        self.round.max_in_flight = self.round.max_in_flight.max(used);
        // Grow only a window that is used (RFC 7661): a sender waiting for data (the server
        // relaying an upload that arrives slowly) would otherwise grow a window it then spends
        // in one burst that queues a round trip.
        if self.slow_start && used.saturating_mul(2) >= self.window {
            // Half of what was acknowledged: 1.5 times per round, not TCP's 2. The queue is
            // seen a round after it forms, so the start overshoots by what one round adds;
            // half a bandwidth-delay product fits the usual router queue, a whole one
            // overflows it and loses the chat packets queued with the file's.
            self.window += batch.growth / 2;
        }
        let Some(start) = self.round.start else { return };
        let elapsed = now.saturating_duration_since(start);
        if elapsed < self.srtt.max(MIN_ROUND) {
            return;
        }
        let round = std::mem::take(&mut self.round);
        self.finish_round(now, round, elapsed);
    }

    /// Lost bytes; `persistent` is RFC 9002's persistent congestion (everything lost for
    /// several round trips), the one loss that resets the window.
    pub fn lost(&mut self, bytes: u64, persistent: bool) {
        self.round.lost += bytes;
        if persistent {
            self.window = self.min_window();
            self.slow_start = true;
            self.drain = None;
        }
    }

    pub fn set_mss(&mut self, mtu: u16) {
        self.mss = u64::from(mtu);
        self.window = self.window.max(self.min_window());
    }

    pub fn current_window(&self) -> u64 {
        match self.drain {
            Some(_) => (self.window / 2).max(self.min_window()),
            None => self.window.max(self.min_window()),
        }
    }

    /// The window that leaves `target` of queue at `rate` bytes/s.
    fn goal(&self, rate: f64, base: Duration) -> u64 {
        let goal = rate * (base + self.config.target).as_secs_f64();
        (goal as u64).max(self.min_window())
    }

    fn finish_round(&mut self, now: Instant, round: Round, elapsed: Duration) {
        let Some(min_rtt) = round.min_rtt else { return };
        let rate = round.acked as f64 / elapsed.as_secs_f64();
        tracing::trace!(
            min_rtt_us = min_rtt.as_micros() as u64,
            base_us = self.base.map_or(0, |b| b.rtt.as_micros() as u64),
            rate_mb_s = rate / 1e6,
            window = self.window,
            max_in_flight = round.max_in_flight,
            lost = round.lost,
            slow_start = self.slow_start,
            draining = self.drain.is_some(),
            "low-delay round"
        );
        let target = self.config.target;

        if let Some(mut drain) = self.drain.take() {
            drain.min_rtt = Some(drain.min_rtt.map_or(min_rtt, |m| m.min(min_rtt)));
            drain.rounds_left -= 1;
            if drain.rounds_left > 0 {
                self.drain = Some(drain);
            } else {
                let rtt = drain.min_rtt.unwrap_or(min_rtt);
                self.base = Some(Base { rtt, seen: now });
                self.window = drain.saved;
                self.settling = 1;
            }
            return;
        }
        if self.settling > 0 {
            self.settling -= 1;
            return;
        }

        let mut base = match self.base {
            Some(b) if b.rtt <= min_rtt => b,
            _ => Base { rtt: min_rtt, seen: now },
        };
        let queue = min_rtt.saturating_sub(base.rtt);
        if queue <= target {
            base.seen = now;
        }
        self.base = Some(base);

        let lost_share_high =
            round.lost * 5 > round.acked + round.lost && round.acked + round.lost > 20 * self.mss;
        if queue > 2 * target || lost_share_high {
            self.slow_start = false;
            self.calm_rounds = 0;
            self.probes = 0;
            self.window = self.window.min(self.goal(rate, base.rtt));
        } else if self.slow_start {
            if queue > target {
                self.slow_start = false;
                self.window = self.window.min(self.goal(rate, base.rtt));
            }
        } else if !round.app_limited && round.max_in_flight.saturating_mul(4) >= self.window * 3 {
            if queue < target / 4 {
                self.calm_rounds += 1;
            } else {
                self.calm_rounds = 0;
                self.probes = 0;
            }
            // Up to the window that makes the queue the target; down only half way, since the
            // queue seen now answers the window of a round ago.
            let goal = self.goal(rate, base.rtt).min(self.window * 2);
            self.window =
                if goal > self.window { goal } else { self.window - (self.window - goal) / 2 };
            if self.calm_rounds >= CALM_ROUNDS {
                // Still no queue: the path may have grown faster than the rate shows. Probe
                // with one target's worth of queue, doubling each calm round after, so a
                // faster path is found in a few rounds without queueing a round trip on a
                // long path that did not change.
                let step = rate * target.as_secs_f64() * f64::from(1u32 << self.probes.min(10));
                self.window += (step as u64).min(self.window);
                self.probes += 1;
            }
        }

        if !self.slow_start && now.saturating_duration_since(base.seen) > BASE_LIFETIME {
            self.drain =
                Some(Drain { saved: self.window, rounds_left: DRAIN_ROUNDS, min_rtt: None });
        }
    }
}

impl Controller for LowDelay {
    fn on_ack(
        &mut self,
        now: Instant,
        sent: Instant,
        bytes: u64,
        app_limited: bool,
        rtt: &RttEstimator,
    ) {
        self.ack(now, sent, bytes, app_limited, rtt.get());
    }

    fn on_end_acks(
        &mut self,
        now: Instant,
        in_flight: u64,
        _app_limited: bool,
        _largest_packet_num_acked: Option<u64>,
    ) {
        self.end_acks(now, in_flight);
    }

    fn on_congestion_event(
        &mut self,
        _now: Instant,
        _sent: Instant,
        is_persistent_congestion: bool,
        lost_bytes: u64,
    ) {
        self.lost(lost_bytes, is_persistent_congestion);
    }

    fn on_mtu_update(&mut self, new_mtu: u16) {
        self.set_mss(new_mtu);
    }

    fn window(&self) -> u64 {
        self.current_window()
    }

    fn clone_box(&self) -> Box<dyn Controller> {
        Box::new(self.clone())
    }

    fn initial_window(&self) -> u64 {
        self.config.initial_window
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    const MSS: u64 = 1452;

    /// One sender, one bottleneck link with a FIFO queue, a fixed propagation round trip and
    /// random loss at the link (seeded). Steps of 50 µs; the sender always has data and is paced
    /// as quinn paces.
    struct Path {
        rate: f64,
        rtt: Duration,
        loss: f64,
        queue_limit: u64,
    }

    struct Outcome {
        /// Delivered / link rate over the measured span.
        utilisation: f64,
        /// 99th percentile and largest queueing delay over the measured span.
        queue_p99: Duration,
        queue_max: Duration,
    }

    fn simulate(path: &Path, warmup: Duration, measure: Duration) -> Outcome {
        let config = Arc::new(LowDelayConfig::default());
        let mut cc = LowDelay::new(config, MSS as u16);
        let start = Instant::now();
        let dt = Duration::from_micros(50);
        let mut now = start;
        let mut queue: VecDeque<Instant> = VecDeque::new(); // send times, MSS each
        let mut in_flight = 0u64;
        let (mut credit, mut pace) = (0.0f64, 0.0f64);
        // (arrival of the ack or loss notice, send time, lost)
        let mut returns: VecDeque<(Instant, Instant, bool)> = VecDeque::new();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut random = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut srtt = path.rtt;
        let (mut delivered, mut delays) = (0u64, Vec::new());
        while now < start + warmup + measure {
            now += dt;
            let measuring = now > start + warmup;
            let mut acked_any = false;
            while returns.front().is_some_and(|r| r.0 <= now) {
                let (_, sent, lost) = returns.pop_front().unwrap();
                in_flight -= MSS;
                if lost {
                    cc.lost(MSS, false);
                } else {
                    let sample = now - sent;
                    srtt = (srtt * 7 + sample) / 8;
                    cc.ack(now, sent, MSS, false, srtt);
                    acked_any = true;
                    if measuring {
                        delivered += MSS;
                    }
                }
            }
            if acked_any {
                cc.end_acks(now, in_flight);
            }
            credit += path.rate * dt.as_secs_f64();
            while credit >= MSS as f64 {
                let Some(sent) = queue.pop_front() else {
                    credit = credit.min(MSS as f64);
                    break;
                };
                credit -= MSS as f64;
                let lost = random() < path.loss;
                // A loss is noticed about a round trip later, like an ack.
                returns.push_back((now + path.rtt, sent, lost));
            }
            // Quinn's pacer: 1.25 windows per smoothed round trip, bursts of 10 packets.
            pace = (pace
                + 1.25 * cc.current_window() as f64 * dt.as_secs_f64() / srtt.as_secs_f64())
            .min(10.0 * MSS as f64);
            while in_flight + MSS <= cc.current_window() && pace >= MSS as f64 {
                pace -= MSS as f64;
                in_flight += MSS;
                if queue.len() as u64 * MSS >= path.queue_limit {
                    returns.push_back((now + path.rtt, now, true));
                } else {
                    queue.push_back(now);
                }
            }
            if measuring {
                delays.push(Duration::from_secs_f64(queue.len() as f64 * MSS as f64 / path.rate));
            }
        }
        delays.sort();
        Outcome {
            utilisation: delivered as f64 / (path.rate * measure.as_secs_f64()),
            queue_p99: delays[delays.len() * 99 / 100],
            queue_max: *delays.last().unwrap(),
        }
    }

    fn path(mbit: f64, rtt_ms: u64, loss: f64) -> Path {
        let rate = mbit * 1e6 / 8.0;
        let rtt = Duration::from_millis(rtt_ms);
        Path { rate, rtt, loss, queue_limit: (rate * rtt.as_secs_f64()) as u64 }
    }

    #[test]
    fn fills_the_link_with_a_short_queue_on_clean_and_lossy_paths() {
        let ms = Duration::from_millis;
        for (mbit, rtt, loss) in [
            (100.0, 20, 0.0),
            (100.0, 50, 0.0),
            (100.0, 200, 0.0),
            (100.0, 100, 0.01),
            (100.0, 50, 0.05),
            (1000.0, 100, 0.01),
        ] {
            let out =
                simulate(&path(mbit, rtt, loss), Duration::from_secs(8), Duration::from_secs(12));
            let case = format!(
                "{mbit} Mbit/s, {rtt} ms, {loss} loss: utilisation {:.2}, queue p99 {:?} max {:?}",
                out.utilisation, out.queue_p99, out.queue_max
            );
            eprintln!("{case}");
            assert!(out.utilisation > 0.85 * (1.0 - loss), "{case}");
            assert!(out.queue_p99 <= ms(25), "{case}");
        }
    }

    #[test]
    fn the_start_overshoots_by_about_half_a_round_trip_of_queue() {
        for rtt in [20, 50, 200] {
            let out = simulate(&path(100.0, rtt, 0.0), Duration::ZERO, Duration::from_secs(4));
            eprintln!("{rtt} ms: start queue max {:?}", out.queue_max);
            let limit = (Duration::from_millis(rtt) * 6 / 10).max(Duration::from_millis(20));
            assert!(out.queue_max <= limit, "{rtt} ms: queue reached {:?}", out.queue_max);
        }
    }

    #[test]
    fn random_loss_does_not_shrink_the_window_but_heavy_loss_does() {
        let mut cc = LowDelay::new(Arc::new(LowDelayConfig::default()), MSS as u16);
        let t0 = Instant::now();
        let rtt = Duration::from_millis(50);
        // Leave the start with a 100-packet window at a steady 50 ms.
        cc.slow_start = false;
        cc.window = 100 * MSS;
        cc.base = Some(Base { rtt, seen: t0 });
        let round = |cc: &mut LowDelay, start: Instant, lost: u64| {
            for i in 0..100 {
                let now = start + Duration::from_micros(500 * i);
                if i < lost {
                    cc.lost(MSS, false);
                } else {
                    cc.ack(now, now - rtt, MSS, false, rtt);
                }
            }
            cc.end_acks(start + rtt + Duration::from_millis(1), 100 * MSS);
        };
        round(&mut cc, t0 + rtt, 5);
        assert!(cc.current_window() >= 100 * MSS, "5 % loss shrank the window");
        let before = cc.current_window();
        round(&mut cc, t0 + rtt * 3, 40);
        assert!(cc.current_window() < before, "40 % loss left the window");
    }

    #[test]
    fn a_window_at_its_minimum_grows_back() {
        let mut cc = LowDelay::new(Arc::new(LowDelayConfig::default()), MSS as u16);
        let t0 = Instant::now();
        let rtt = Duration::from_millis(100);
        cc.slow_start = false;
        cc.window = 4 * MSS;
        cc.base = Some(Base { rtt, seen: t0 });
        // Every round the window is full and acknowledged two packets at a time, with no queue:
        // what a sender whose window was cut to the bone sees on an idle path.
        for round in 1..=10u32 {
            let start = t0 + rtt * round;
            let packets = cc.current_window() / MSS;
            for i in 0..packets {
                let now = start + Duration::from_micros(10 * i);
                cc.ack(now, now - rtt, MSS, false, rtt);
                if i % 2 == 1 {
                    cc.end_acks(now, cc.current_window() - (i % 2 + 1) * MSS);
                }
            }
            cc.end_acks(start + rtt, 0);
        }
        assert!(cc.current_window() > 20 * MSS, "stuck at {} packets", cc.current_window() / MSS);
    }

    #[test]
    fn persistent_congestion_starts_over() {
        let mut cc = LowDelay::new(Arc::new(LowDelayConfig::default()), MSS as u16);
        cc.slow_start = false;
        cc.window = 1000 * MSS;
        cc.lost(MSS, true);
        assert_eq!(cc.current_window(), 4 * MSS);
        assert!(cc.slow_start);
    }
}
