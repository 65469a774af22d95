//! Which congestion controller QUIC connections use: one setting, so the choice can be changed
//! per deployment and measured (docs/benchmarks.md, W7).
//!
//! Quinn's Cubic and NewReno read every lost packet as congestion; on a path with random loss
//! (Wi-Fi, mobile) they fall to the loss-bound rate of a Reno sender (about 1 % of a 50 ms,
//! 5 %-loss path). Quinn's BBR ignores random loss but, paced by its window, keeps about one
//! bandwidth-delay product queued at the bottleneck, which delays chat on the same connection by
//! a full round trip. [`LowDelay`] ignores random loss and keeps the queue short.

mod low_delay;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use quinn::congestion::{BbrConfig, ControllerFactory, CubicConfig, NewRenoConfig};

pub use low_delay::{LowDelay, LowDelayConfig};

/// The congestion controller of a connection's sending side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Congestion {
    /// Quinn's Cubic (its default).
    Cubic,
    /// Quinn's NewReno.
    NewReno,
    /// Quinn's BBR (version 1).
    Bbr,
    /// QuicQ's delay-based controller ([`LowDelay`]).
    #[default]
    LowDelay,
}

impl Congestion {
    pub const ALL: [Congestion; 4] =
        [Congestion::Cubic, Congestion::NewReno, Congestion::Bbr, Congestion::LowDelay];

    pub fn as_str(self) -> &'static str {
        match self {
            Congestion::Cubic => "cubic",
            Congestion::NewReno => "new-reno",
            Congestion::Bbr => "bbr",
            Congestion::LowDelay => "low-delay",
        }
    }

    /// The factory for quinn's `TransportConfig::congestion_controller_factory`.
    pub fn factory(self) -> Arc<dyn ControllerFactory + Send + Sync + 'static> {
        match self {
            Congestion::Cubic => Arc::new(CubicConfig::default()),
            Congestion::NewReno => Arc::new(NewRenoConfig::default()),
            Congestion::Bbr => Arc::new(BbrConfig::default()),
            Congestion::LowDelay => Arc::new(LowDelayConfig::default()),
        }
    }
}

impl fmt::Display for Congestion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown congestion controller {0:?} (expected cubic, new-reno, bbr or low-delay)")]
pub struct UnknownCongestion(String);

impl FromStr for Congestion {
    type Err = UnknownCongestion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Congestion::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCongestion(s.to_owned()))
    }
}

impl serde::Serialize for Congestion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Congestion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for c in Congestion::ALL {
            assert_eq!(c.as_str().parse::<Congestion>(), Ok(c));
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{c}\""));
        }
        assert!("reno".parse::<Congestion>().is_err());
        assert!(serde_json::from_str::<Congestion>("\"BBR\"").is_err());
    }
}
