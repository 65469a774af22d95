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

/// Transport settings for the reference transfer: large windows so flow control never idles
/// the link on loopback.
pub fn transport() -> Arc<quinn::TransportConfig> {
    let mut t = quicq_common::socket::transport();
    t.stream_receive_window((32u32 << 20).into())
        .receive_window((64u32 << 20).into())
        .send_window(64 << 20)
        .max_idle_timeout(Some(Duration::from_secs(30).try_into().expect("30 s fits")));
    Arc::new(t)
}
