//! Counters of what a path did to the packets it carried.

use std::ops::AddAssign;

/// One direction's counters. Every packet received is counted exactly once as forwarded or in
/// one of the `dropped_*` counters; a duplicate adds one to `forwarded_packets` and
/// `duplicated`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub forwarded_packets: u64,
    pub forwarded_bytes: u64,
    pub dropped_loss: u64,
    pub dropped_queue: u64,
    pub dropped_mtu: u64,
    pub dropped_blackhole: u64,
    pub duplicated: u64,
}

impl LinkStats {
    pub fn dropped(&self) -> u64 {
        self.dropped_loss + self.dropped_queue + self.dropped_mtu + self.dropped_blackhole
    }
}

impl AddAssign for LinkStats {
    fn add_assign(&mut self, other: Self) {
        self.forwarded_packets += other.forwarded_packets;
        self.forwarded_bytes += other.forwarded_bytes;
        self.dropped_loss += other.dropped_loss;
        self.dropped_queue += other.dropped_queue;
        self.dropped_mtu += other.dropped_mtu;
        self.dropped_blackhole += other.dropped_blackhole;
        self.duplicated += other.duplicated;
    }
}

/// Both directions, summed over every client the proxy has relayed for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathStats {
    /// Client → server.
    pub up: LinkStats,
    /// Server → client.
    pub down: LinkStats,
    /// Clients (source addresses) seen so far, including those forgotten as idle.
    pub flows: u64,
}
