//! The running state of a [`Loss`] model: which packets it loses, one decision per packet.

use rand::Rng;

use crate::config::Loss;

/// A loss model with its memory (the Gilbert–Elliott state).
#[derive(Debug, Clone)]
pub struct LossModel {
    loss: Loss,
    bad: bool,
}

impl LossModel {
    /// Starts in the good state.
    pub fn new(loss: Loss) -> Self {
        Self { loss, bad: false }
    }

    /// Whether the next packet is lost. Takes the same number of draws from `rng` for every
    /// packet of a given model, so the decisions after it do not depend on this one's outcome.
    pub fn lose(&mut self, rng: &mut impl Rng) -> bool {
        match self.loss {
            Loss::None => false,
            Loss::Random(p) => rng.random::<f64>() < p,
            Loss::GilbertElliott { good_to_bad, bad_to_good, loss_in_bad, loss_in_good } => {
                let p = if self.bad { loss_in_bad } else { loss_in_good };
                let lost = rng.random::<f64>() < p;
                let flip = if self.bad { bad_to_good } else { good_to_bad };
                if rng.random::<f64>() < flip {
                    self.bad = !self.bad;
                }
                lost
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    const PACKETS: usize = 100_000;

    fn losses(loss: Loss, seed: u64) -> Vec<bool> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut model = LossModel::new(loss);
        (0..PACKETS).map(|_| model.lose(&mut rng)).collect()
    }

    fn rate(lost: &[bool]) -> f64 {
        lost.iter().filter(|l| **l).count() as f64 / lost.len() as f64
    }

    /// Mean length of runs of consecutive losses.
    fn mean_burst(lost: &[bool]) -> f64 {
        let bursts = lost.windows(2).filter(|w| w[1] && !w[0]).count() + usize::from(lost[0]);
        lost.iter().filter(|l| **l).count() as f64 / bursts as f64
    }

    const GE: Loss = Loss::GilbertElliott {
        good_to_bad: 0.01,
        bad_to_good: 0.19,
        loss_in_bad: 0.8,
        loss_in_good: 0.001,
    };

    #[test]
    fn random_five_percent_loses_four_to_six_percent() {
        for seed in [1, 2, 3] {
            let r = rate(&losses(Loss::Random(0.05), seed));
            assert!((0.04..=0.06).contains(&r), "seed {seed}: {r}");
        }
    }

    #[test]
    fn no_loss_and_certain_loss() {
        assert_eq!(rate(&losses(Loss::None, 1)), 0.0);
        assert_eq!(rate(&losses(Loss::Random(1.0), 1)), 1.0);
        assert_eq!(rate(&losses(Loss::Random(0.0), 1)), 0.0);
    }

    #[test]
    fn gilbert_elliott_loses_its_stationary_rate_in_longer_bursts() {
        let expected = GE.mean_rate();
        let ge = losses(GE, 7);
        let r = rate(&ge);
        assert!((r - expected).abs() < 0.2 * expected, "{r} vs {expected}");

        let random = losses(Loss::Random(expected), 7);
        let (ge_burst, random_burst) = (mean_burst(&ge), mean_burst(&random));
        assert!(ge_burst > 2.0 * random_burst, "bursts {ge_burst} vs {random_burst}");
    }

    #[test]
    fn bursts_come_in_runs_of_the_asked_length() {
        let lost = losses(Loss::bursts(0.02, 4.0), 5);
        let (r, burst) = (rate(&lost), mean_burst(&lost));
        assert!((r - 0.02).abs() < 0.005, "rate {r}");
        assert!((burst - 4.0).abs() < 0.8, "burst {burst}");
    }

    #[test]
    fn the_same_seed_gives_the_same_losses() {
        for loss in [Loss::Random(0.05), GE] {
            assert_eq!(losses(loss, 42), losses(loss, 42));
            assert_ne!(losses(loss, 42), losses(loss, 43));
        }
    }
}
