//! The QuicQ client library: the async API every front end (the `quicq` CLI, the desktop UI)
//! is built on.
//!
//! # Layout
//! - [`client`]: [`Client::connect`], requests (send, history, users) and the [`Event`] stream;
//!   a supervisor task reconnects with backoff and catches up.
//! - [`connection`]: one connection attempt: QUIC, TLS verification, `hello`.
//! - [`transfer`]: file uploads and downloads (resumable, lower priority than chat);
//!   [`filename`] makes received names safe to save.
//! - [`trust`]: pinned fingerprints, the known-servers file, CA files, system roots.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use quicq_client::{Client, ClientConfig};
//! use quicq_common::Address;
//! let config = ClientConfig::new("quicq://chat.example.org:7373".parse()?, "alice", "secret pw");
//! let (client, mut events) = Client::connect(config).await?;
//! client.send(Address::everyone(), "hello").await?;
//! while let Some(event) = events.recv().await { println!("{event:?}"); }
//! # Ok(()) }
//! ```

pub mod client;
pub mod connection;
pub mod device;
pub mod filename;
pub mod transfer;
pub mod trust;

pub use client::{Client, ClientConfig, ConnState, Event, Events, HistoryPage, RequestError, Sent};
pub use connection::{ConnectError, Credentials, Welcome};
pub use transfer::{TransferError, TransferEvent, TransferKey, UploadHandle, Uploaded};
pub use trust::{KnownServers, Trust};
