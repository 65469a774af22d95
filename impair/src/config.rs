//! What a path does to packets: one [`Impairment`] per direction, gathered in a [`PathConfig`]
//! with the seed that makes a run replayable.

use std::time::Duration;

/// The UDP payload a 1500-byte IPv4 path carries (1500 − 20 IP − 8 UDP). QuicQ probes up to
/// 9000 bytes on loopback; dropping what exceeds this makes MTU discovery settle where it
/// would on the internet.
pub const INTERNET_MTU: usize = 1472;

/// The smallest queue [`Impairment::internet`] gives a link: below about 64 KiB a slow link's
/// queue cannot even hold one congestion window's initial burst.
pub const MIN_QUEUE_BYTES: usize = 64 << 10;

/// Which packets a link loses, decided per packet from the link's own random stream.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Loss {
    /// Nothing is lost.
    #[default]
    None,
    /// Each packet is lost with this probability, independently of the others (Bernoulli).
    Random(f64),
    /// Two-state Gilbert–Elliott model: losses come in bursts while the link is in its bad state.
    /// The same four numbers as netem's `loss gemodel p r 1-h 1-k`.
    GilbertElliott {
        /// Probability of moving from the good to the bad state, per packet (netem `p`).
        good_to_bad: f64,
        /// Probability of moving from the bad to the good state, per packet (netem `r`).
        bad_to_good: f64,
        /// Loss probability while bad (netem `1-h`).
        loss_in_bad: f64,
        /// Loss probability while good (netem `1-k`).
        loss_in_good: f64,
    },
}

impl Loss {
    /// Bursty loss in its simplest (Gilbert) form: everything is lost while bad, nothing while
    /// good, with a long-run `loss_fraction` and bursts of `mean_burst` packets on average
    /// (a burst ends with probability 1/`mean_burst` per packet). Compare with
    /// `Random(loss_fraction)`, whose mean burst is 1/(1 − loss_fraction).
    pub fn bursts(loss_fraction: f64, mean_burst: f64) -> Self {
        if loss_fraction >= 1.0 {
            return Loss::Random(1.0);
        }
        let bad_to_good = 1.0 / mean_burst.max(1.0);
        let loss = loss_fraction.max(0.0);
        let good_to_bad = loss * bad_to_good / (1.0 - loss);
        Loss::GilbertElliott {
            good_to_bad: good_to_bad.min(1.0),
            bad_to_good,
            loss_in_bad: 1.0,
            loss_in_good: 0.0,
        }
    }

    /// The long-run fraction of packets lost.
    pub fn mean_rate(&self) -> f64 {
        match *self {
            Loss::None => 0.0,
            Loss::Random(p) => p,
            Loss::GilbertElliott { good_to_bad, bad_to_good, loss_in_bad, loss_in_good } => {
                let moves = good_to_bad + bad_to_good;
                if moves == 0.0 {
                    // Never leaves the good state it starts in.
                    return loss_in_good;
                }
                let bad = good_to_bad / moves;
                bad * loss_in_bad + (1.0 - bad) * loss_in_good
            }
        }
    }

    fn probabilities(&self) -> Vec<(&'static str, f64)> {
        match *self {
            Loss::None => vec![],
            Loss::Random(p) => vec![("loss", p)],
            Loss::GilbertElliott { good_to_bad, bad_to_good, loss_in_bad, loss_in_good } => vec![
                ("good_to_bad", good_to_bad),
                ("bad_to_good", bad_to_good),
                ("loss_in_bad", loss_in_bad),
                ("loss_in_good", loss_in_good),
            ],
        }
    }
}

/// One direction of a path. [`Default`] is transparent apart from the [`INTERNET_MTU`].
#[derive(Debug, Clone, PartialEq)]
pub struct Impairment {
    /// Fixed one-way delay added to every packet.
    pub delay: Duration,
    /// Upper bound of a uniformly drawn extra delay per packet (0..=jitter). Packets whose draws
    /// differ by more than their spacing arrive out of order, as with netem.
    pub jitter: Duration,
    pub loss: Loss,
    /// Probability that a packet is delivered twice.
    pub duplicate: f64,
    /// Probability that a packet skips the delay line (and its jitter) and so overtakes the
    /// packets ahead of it, like netem `reorder`. Has no visible effect without a delay.
    pub reorder: f64,
    /// Bottleneck rate in bits/s; `None` is unlimited (no queue either).
    pub rate_bps: Option<u64>,
    /// Bytes the bottleneck queue holds, the packet being sent included; a packet that does
    /// not fit is dropped (tail drop). Only meaningful with a `rate_bps`.
    pub queue_bytes: usize,
    /// Largest UDP payload carried; bigger ones are dropped.
    pub mtu: usize,
}

impl Default for Impairment {
    fn default() -> Self {
        Self {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: Loss::None,
            duplicate: 0.0,
            reorder: 0.0,
            rate_bps: None,
            queue_bytes: MIN_QUEUE_BYTES,
            mtu: INTERNET_MTU,
        }
    }
}

impl Impairment {
    /// The common case: a one-way delay, random loss, and a bottleneck whose queue holds about
    /// one bandwidth-delay product of the round trip (2 × `one_way_delay`), at least
    /// [`MIN_QUEUE_BYTES`] — the buffer sizing rule of thumb for internet routers.
    pub fn internet(one_way_delay: Duration, loss_fraction: f64, rate_bps: u64) -> Self {
        Self {
            delay: one_way_delay,
            loss: if loss_fraction > 0.0 { Loss::Random(loss_fraction) } else { Loss::None },
            rate_bps: Some(rate_bps),
            queue_bytes: round_trip_queue(rate_bps, one_way_delay),
            ..Self::default()
        }
    }

    /// Checks that every probability is within 0..=1 and a rate is not zero.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut probabilities = self.loss.probabilities();
        probabilities.push(("duplicate", self.duplicate));
        probabilities.push(("reorder", self.reorder));
        for (name, p) in probabilities {
            if !(0.0..=1.0).contains(&p) {
                return Err(ConfigError::Probability { name, value: p });
            }
        }
        if self.rate_bps == Some(0) {
            return Err(ConfigError::ZeroRate);
        }
        Ok(())
    }
}

/// Bytes of one bandwidth-delay product of the round trip (2 × `one_way_delay` at `rate_bps`),
/// at least [`MIN_QUEUE_BYTES`].
pub fn round_trip_queue(rate_bps: u64, one_way_delay: Duration) -> usize {
    let bdp = rate_bps as f64 * 2.0 * one_way_delay.as_secs_f64() / 8.0;
    (bdp as usize).max(MIN_QUEUE_BYTES)
}

/// Both directions of a path.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PathConfig {
    /// Client → server.
    pub up: Impairment,
    /// Server → client.
    pub down: Impairment,
    /// Every random decision derives from this: the same seed and the same packets give the
    /// same losses, duplicates and jitter.
    pub seed: u64,
}

impl PathConfig {
    /// The same impairment both ways.
    pub fn symmetric(impairment: Impairment, seed: u64) -> Self {
        Self { up: impairment.clone(), down: impairment, seed }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.up.validate()?;
        self.down.validate()
    }
}

/// A setting no link can follow.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("{name} probability {value} is outside 0..=1")]
    Probability { name: &'static str, value: f64 },
    #[error("a rate limit of 0 bit/s would carry nothing; use a blackhole instead")]
    ZeroRate,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internet_queue_is_one_round_trip_bdp_at_least_64_kib() {
        let cases = [
            // (one-way delay ms, rate bit/s, expected queue bytes)
            (25, 100_000_000, 625_000),
            (100, 1_000_000_000, 25_000_000),
            (10, 1_000_000, MIN_QUEUE_BYTES),
        ];
        for (ms, rate, queue) in cases {
            let imp = Impairment::internet(Duration::from_millis(ms), 0.01, rate);
            assert_eq!(imp.queue_bytes, queue, "{ms} ms at {rate}");
            assert_eq!(imp.loss, Loss::Random(0.01));
            assert_eq!(imp.mtu, INTERNET_MTU);
        }
        let lossless = Impairment::internet(Duration::from_millis(10), 0.0, 1_000_000);
        assert_eq!(lossless.loss, Loss::None);
    }

    #[test]
    fn validate_rejects_impossible_settings() {
        let ok = Impairment::default();
        assert_eq!(ok.validate(), Ok(()));
        let cases = [
            Impairment { duplicate: 1.5, ..ok.clone() },
            Impairment { reorder: -0.1, ..ok.clone() },
            Impairment { loss: Loss::Random(2.0), ..ok.clone() },
            Impairment {
                loss: Loss::GilbertElliott {
                    good_to_bad: 0.1,
                    bad_to_good: f64::NAN,
                    loss_in_bad: 1.0,
                    loss_in_good: 0.0,
                },
                ..ok.clone()
            },
            Impairment { rate_bps: Some(0), ..ok.clone() },
        ];
        for case in cases {
            assert!(case.validate().is_err(), "{case:?}");
        }
    }

    #[test]
    fn bursts_have_the_asked_mean_rate() {
        for (loss, burst) in [(0.01, 3.0), (0.05, 5.0), (0.2, 1.0), (0.0, 4.0), (1.0, 2.0)] {
            let model = Loss::bursts(loss, burst);
            assert!((model.mean_rate() - loss).abs() < 1e-9, "{loss} {burst}: {model:?}");
            assert_eq!(Impairment { loss: model, ..Impairment::default() }.validate(), Ok(()));
        }
    }

    #[test]
    fn gilbert_elliott_mean_rate_is_the_stationary_mix() {
        let ge = Loss::GilbertElliott {
            good_to_bad: 0.01,
            bad_to_good: 0.19,
            loss_in_bad: 0.5,
            loss_in_good: 0.0,
        };
        // Bad 5 % of the time, losing half of it there.
        assert!((ge.mean_rate() - 0.025).abs() < 1e-12);
    }
}
