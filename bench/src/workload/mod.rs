//! The workloads, one module each; every one starts its own server and clients.

pub mod chat;
pub mod files;
pub mod logins;
pub mod raw_quic;
pub mod scale;
pub mod stalled;

/// Bytes in a GiB, for per-GiB figures.
pub const GIB: f64 = (1u64 << 30) as f64;

use std::sync::Arc;
use std::time::Duration;

use quicq_common::congestion::Congestion;
use quicq_common::socket::Windows;

/// Transport settings for the reference transfer: large windows so flow control never idles
/// the link on loopback, and quinn's default controller (Cubic).
pub fn transport() -> Arc<quinn::TransportConfig> {
    let windows = Windows { stream: 32 << 20, connection: 64 << 20, send: 64 << 20 };
    let mut t = quicq_common::socket::transport(windows, Congestion::Cubic);
    t.max_idle_timeout(Some(Duration::from_secs(30).try_into().expect("30 s fits")));
    Arc::new(t)
}
