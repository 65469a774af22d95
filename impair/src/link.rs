//! One direction of one client's path as a pure state machine: given a packet's arrival time
//! and length it says when the packet (and maybe a copy) is delivered, or why it is dropped.
//! No sockets and no clock of its own, so every rule is tested with made-up instants.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::Impairment;
use crate::loss::LossModel;
use crate::stats::LinkStats;

/// Why a packet did not get through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    Blackhole,
    Mtu,
    Loss,
    Queue,
}

/// What happens to one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Drop(DropReason),
    /// Deliver at `at`, and a second copy at `duplicate` if there is one.
    Deliver {
        at: Instant,
        duplicate: Option<Instant>,
    },
}

/// The random draws for one packet, taken before any decision so that every packet consumes
/// the same number of draws: the loss, duplicate and jitter sequence then depends only on the
/// seed and the packet's position, not on timing (queue drops) or a blackhole in between.
struct Draws {
    lost: bool,
    duplicate: bool,
    reorder: bool,
    jitter: Duration,
    duplicate_jitter: Duration,
}

/// One direction of a path.
#[derive(Debug)]
pub struct Link {
    impairment: Impairment,
    rng: StdRng,
    loss: LossModel,
    blackhole: bool,
    /// When the bottleneck finishes sending the last packet admitted to it.
    last_departure: Option<Instant>,
    /// Packets in the bottleneck queue (the one on the wire included): departure, length.
    queue: VecDeque<(Instant, usize)>,
    queued_bytes: usize,
    stats: LinkStats,
}

impl Link {
    pub fn new(impairment: Impairment, seed: u64) -> Self {
        Self {
            loss: LossModel::new(impairment.loss),
            impairment,
            rng: StdRng::seed_from_u64(seed),
            blackhole: false,
            last_departure: None,
            queue: VecDeque::new(),
            queued_bytes: 0,
            stats: LinkStats::default(),
        }
    }

    /// Replaces the settings from the next packet on. Packets already queued keep their times;
    /// the random stream goes on, and the loss model restarts in its good state.
    pub fn set_impairment(&mut self, impairment: Impairment) {
        self.loss = LossModel::new(impairment.loss);
        self.impairment = impairment;
    }

    /// While set, every packet is dropped, as when a route disappears.
    pub fn set_blackhole(&mut self, on: bool) {
        self.blackhole = on;
    }

    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Decides the fate of a `len`-byte UDP payload arriving at `now`. Calls must come in
    /// non-decreasing `now`.
    pub fn admit(&mut self, now: Instant, len: usize) -> Verdict {
        let draws = self.draw();
        let verdict = self.decide(now, len, &draws);
        match verdict {
            Verdict::Drop(reason) => {
                let counter = match reason {
                    DropReason::Blackhole => &mut self.stats.dropped_blackhole,
                    DropReason::Mtu => &mut self.stats.dropped_mtu,
                    DropReason::Loss => &mut self.stats.dropped_loss,
                    DropReason::Queue => &mut self.stats.dropped_queue,
                };
                *counter += 1;
            }
            Verdict::Deliver { duplicate, .. } => {
                let copies = 1 + u64::from(duplicate.is_some());
                self.stats.forwarded_packets += copies;
                self.stats.forwarded_bytes += copies * len as u64;
                self.stats.duplicated += copies - 1;
            }
        }
        verdict
    }

    fn draw(&mut self) -> Draws {
        let imp = &self.impairment;
        let lost = self.loss.lose(&mut self.rng);
        let duplicate = self.rng.random::<f64>() < imp.duplicate;
        let reorder = self.rng.random::<f64>() < imp.reorder;
        let max = imp.jitter.as_nanos() as u64;
        let mut jitter = || Duration::from_nanos(self.rng.random_range(0..=max));
        let (jitter, duplicate_jitter) = (jitter(), jitter());
        Draws { lost, duplicate, reorder, jitter, duplicate_jitter }
    }

    fn decide(&mut self, now: Instant, len: usize, draws: &Draws) -> Verdict {
        if self.blackhole {
            return Verdict::Drop(DropReason::Blackhole);
        }
        if len > self.impairment.mtu {
            return Verdict::Drop(DropReason::Mtu);
        }
        if draws.lost {
            return Verdict::Drop(DropReason::Loss);
        }
        let Some(departure) = self.enqueue(now, len) else {
            return Verdict::Drop(DropReason::Queue);
        };
        let delay = self.impairment.delay;
        let at = if draws.reorder { departure } else { departure + delay + draws.jitter };
        let duplicate = draws.duplicate.then(|| departure + delay + draws.duplicate_jitter);
        Verdict::Deliver { at, duplicate }
    }

    /// When the packet leaves the bottleneck, or `None` if its queue is full. A queue smaller
    /// than one packet still takes a packet when empty, or it would carry nothing at all.
    fn enqueue(&mut self, now: Instant, len: usize) -> Option<Instant> {
        let Some(rate) = self.impairment.rate_bps else {
            return Some(now);
        };
        while let Some(&(departure, bytes)) = self.queue.front() {
            if departure > now {
                break;
            }
            self.queue.pop_front();
            self.queued_bytes -= bytes;
        }
        if !self.queue.is_empty() && self.queued_bytes + len > self.impairment.queue_bytes {
            return None;
        }
        let start = self.last_departure.map_or(now, |last| last.max(now));
        let departure = start + serialisation(len, rate);
        self.last_departure = Some(departure);
        self.queue.push_back((departure, len));
        self.queued_bytes += len;
        Some(departure)
    }
}

/// Time to put `len` bytes on a `rate` bit/s wire.
fn serialisation(len: usize, rate: u64) -> Duration {
    Duration::from_nanos((len as u128 * 8 * 1_000_000_000 / rate as u128) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Loss;

    const MS: Duration = Duration::from_millis(1);

    fn deliver(v: Verdict) -> (Instant, Option<Instant>) {
        match v {
            Verdict::Deliver { at, duplicate } => (at, duplicate),
            Verdict::Drop(reason) => panic!("dropped: {reason:?}"),
        }
    }

    #[test]
    fn transparent_link_delivers_at_once() {
        let mut link = Link::new(Impairment::default(), 1);
        let t = Instant::now();
        assert_eq!(link.admit(t, 1200), Verdict::Deliver { at: t, duplicate: None });
        let s = link.stats();
        assert_eq!((s.forwarded_packets, s.forwarded_bytes, s.dropped()), (1, 1200, 0));
    }

    #[test]
    fn rate_spaces_departures_and_the_queue_drops_its_tail() {
        // 8 Mbit/s: one 1000-byte packet per millisecond; the queue holds three of them.
        let imp = Impairment {
            rate_bps: Some(8_000_000),
            queue_bytes: 3000,
            delay: 10 * MS,
            ..Impairment::default()
        };
        let mut link = Link::new(imp, 1);
        let t = Instant::now();
        // (arrival offset, expected: delivery offset or None for a queue drop)
        let table = [
            (Duration::ZERO, Some(11 * MS)),
            (Duration::ZERO, Some(12 * MS)),
            (Duration::ZERO, Some(13 * MS)),
            (Duration::ZERO, None), // 3000 bytes ahead: full
            (MS, Some(14 * MS)),    // the first has left; room for one
            (MS, None),
            (10 * MS, Some(21 * MS)), // the queue drained: sent at once
        ];
        for (i, (arrival, expected)) in table.into_iter().enumerate() {
            let verdict = link.admit(t + arrival, 1000);
            match expected {
                Some(delivery) => {
                    assert_eq!(
                        verdict,
                        Verdict::Deliver { at: t + delivery, duplicate: None },
                        "{i}"
                    )
                }
                None => assert_eq!(verdict, Verdict::Drop(DropReason::Queue), "{i}"),
            }
        }
        assert_eq!(link.stats().dropped_queue, 2);
        assert_eq!(link.stats().forwarded_packets, 5);
    }

    #[test]
    fn queue_smaller_than_a_packet_still_carries_one_at_a_time() {
        let imp = Impairment { rate_bps: Some(8_000_000), queue_bytes: 100, ..Default::default() };
        let mut link = Link::new(imp, 1);
        let t = Instant::now();
        assert!(matches!(link.admit(t, 1000), Verdict::Deliver { .. }));
        assert_eq!(link.admit(t, 1000), Verdict::Drop(DropReason::Queue));
        assert!(matches!(link.admit(t + MS, 1000), Verdict::Deliver { .. }));
    }

    #[test]
    fn payloads_above_the_mtu_are_dropped() {
        let mut link = Link::new(Impairment::default(), 1);
        let t = Instant::now();
        assert!(matches!(link.admit(t, 1472), Verdict::Deliver { .. }));
        assert_eq!(link.admit(t, 1473), Verdict::Drop(DropReason::Mtu));
        assert_eq!(link.admit(t, 9000), Verdict::Drop(DropReason::Mtu));
        assert_eq!(link.stats().dropped_mtu, 2);
    }

    #[test]
    fn duplicate_produces_two_deliveries() {
        let imp = Impairment { duplicate: 1.0, delay: 5 * MS, ..Default::default() };
        let mut link = Link::new(imp, 1);
        let t = Instant::now();
        assert_eq!(
            link.admit(t, 100),
            Verdict::Deliver { at: t + 5 * MS, duplicate: Some(t + 5 * MS) }
        );
        let s = link.stats();
        assert_eq!((s.forwarded_packets, s.forwarded_bytes, s.duplicated), (2, 200, 1));
    }

    #[test]
    fn reordered_packet_skips_the_delay_and_overtakes() {
        let imp = Impairment { reorder: 1.0, delay: 50 * MS, jitter: 5 * MS, ..Default::default() };
        let mut link = Link::new(imp.clone(), 1);
        let t = Instant::now();
        assert_eq!(deliver(link.admit(t, 100)).0, t);

        let mut normal = Link::new(Impairment { reorder: 0.0, ..imp }, 1);
        let (at, _) = deliver(normal.admit(t, 100));
        assert!(at >= t + 50 * MS && at <= t + 55 * MS);
    }

    #[test]
    fn jitter_stays_within_its_bound_and_reorders_close_packets() {
        let imp = Impairment { delay: 20 * MS, jitter: 10 * MS, ..Default::default() };
        let mut link = Link::new(imp, 3);
        let t = Instant::now();
        let times: Vec<Instant> = (0..200u32)
            .map(|i| deliver(link.admit(t + i * Duration::from_micros(100), 100)).0)
            .collect();
        for (i, at) in times.iter().enumerate() {
            let sent = t + i as u32 * Duration::from_micros(100);
            assert!(*at >= sent + 20 * MS && *at <= sent + 30 * MS);
        }
        assert!(times.windows(2).any(|w| w[1] < w[0]), "some packets overtake others");
    }

    #[test]
    fn blackhole_drops_everything_until_lifted() {
        let mut link = Link::new(Impairment::default(), 1);
        let t = Instant::now();
        link.set_blackhole(true);
        for len in [1, 1000, 9000] {
            assert_eq!(link.admit(t, len), Verdict::Drop(DropReason::Blackhole));
        }
        link.set_blackhole(false);
        assert!(matches!(link.admit(t, 1000), Verdict::Deliver { .. }));
        assert_eq!(link.stats().dropped_blackhole, 3);
    }

    #[test]
    fn certain_loss_drops_and_counts() {
        let mut link = Link::new(Impairment { loss: Loss::Random(1.0), ..Default::default() }, 1);
        let t = Instant::now();
        assert_eq!(link.admit(t, 100), Verdict::Drop(DropReason::Loss));
        assert_eq!(link.stats().dropped_loss, 1);
    }

    #[test]
    fn losses_do_not_depend_on_timing_or_blackholes() {
        let imp = Impairment {
            loss: Loss::Random(0.3),
            rate_bps: Some(8_000_000),
            queue_bytes: 2000,
            ..Default::default()
        };
        let t = Instant::now();
        let pattern = |gap: Duration, blackhole_at: Option<usize>| -> Vec<bool> {
            let mut link = Link::new(imp.clone(), 9);
            (0..1000)
                .map(|i| {
                    link.set_blackhole(Some(i) == blackhole_at);
                    link.admit(t + gap * i as u32, 1000) == Verdict::Drop(DropReason::Loss)
                })
                .collect()
        };
        let spaced = pattern(10 * MS, None);
        // Back-to-back arrivals overflow the queue, yet the same packets are lost to the model.
        assert_eq!(pattern(Duration::ZERO, None), spaced);
        let mut with_outage = pattern(10 * MS, Some(5));
        with_outage[5] = spaced[5];
        assert_eq!(with_outage, spaced);
    }
}
