//! W7's emulated internet paths: a round trip, random loss each way and a link rate, put
//! between a client and the server by a `quicq-impair` proxy on loopback.

use std::time::Duration;

use quicq_impair::{Impairment, PathConfig, Proxy};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PathSpec {
    pub rtt_ms: u64,
    /// Loss each way, percent.
    pub loss_percent: f64,
    pub mbit: u64,
}

impl PathSpec {
    /// Half the round trip each way, the loss each way, and a bottleneck at the link rate each
    /// way whose queue holds one bandwidth-delay product.
    pub fn config(&self, seed: u64) -> PathConfig {
        let one_way = Duration::from_millis(self.rtt_ms) / 2;
        let impairment =
            Impairment::internet(one_way, self.loss_percent / 100.0, self.mbit * 1_000_000);
        PathConfig::symmetric(impairment, seed)
    }

    /// A proxy in front of `server` that emulates this path.
    pub fn proxy(&self, server: std::net::SocketAddr, seed: u64) -> anyhow::Result<Proxy> {
        Ok(Proxy::start(server, self.config(seed))?)
    }

    pub fn link_mb_per_sec(&self) -> f64 {
        self.mbit as f64 / 8.0
    }

    /// For figure names: `50ms_1pct_100mbit`.
    pub fn label(&self) -> String {
        format!("{}ms_{}pct_{}mbit", self.rtt_ms, self.loss_percent, self.mbit)
    }
}
