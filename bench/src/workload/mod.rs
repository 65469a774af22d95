//! The workloads, one module each; every one starts its own server and clients.

pub mod chat;
pub mod files;
pub mod groups;
pub mod logins;
pub mod raw_fanout;
pub mod raw_quic;
pub mod scale;
pub mod stalled;

/// Bytes in a GiB, for per-GiB figures.
pub const GIB: f64 = (1u64 << 30) as f64;
