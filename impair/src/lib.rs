//! An impairment proxy: a UDP relay on loopback that makes the path between QUIC clients and
//! a server look like the internet — delay, jitter, random or bursty (Gilbert–Elliott) loss,
//! reordering, duplication, a bandwidth cap with a bounded queue and a 1500-byte MTU, each
//! direction on its own — without root or network namespaces. Every random decision comes
//! from a seed, so a failing run can be replayed.
//!
//! Layout:
//! - [`config`]: what a path does ([`Impairment`] per direction, [`PathConfig`], [`Loss`]).
//! - [`loss`]: the loss models' running state.
//! - [`link`]: one direction of one client's path as a pure state machine ([`Link::admit`]).
//! - [`stats`]: the counters.
//! - [`parse`]: the textual forms the CLI takes (`100mbit`, `1%`).
//! - [`proxy`]: the relay itself; [`Proxy::start`] is the entry point.
//!
//! The `quicq-impair` binary runs a proxy by hand; `examples/relay_rate.rs` measures how many
//! packets per second one relays.
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! use std::time::Duration;
//! use quicq_impair::{Impairment, PathConfig, Proxy};
//! let server: std::net::SocketAddr = "127.0.0.1:7373".parse().unwrap();
//! let path = Impairment::internet(Duration::from_millis(25), 0.01, 100_000_000);
//! let proxy = Proxy::start(server, PathConfig::symmetric(path, 1))?;
//! // Point the client at proxy.local_addr() instead of the server.
//! # Ok(()) }
//! ```

pub mod config;
pub mod link;
pub mod loss;
pub mod parse;
pub mod proxy;
pub mod stats;

pub use config::{ConfigError, Impairment, Loss, PathConfig};
pub use link::{DropReason, Link, Verdict};
pub use proxy::{Proxy, SetPathError, Stopped};
pub use stats::{LinkStats, PathStats};
