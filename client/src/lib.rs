//! The QuicQ client library: the async API every front end (the `quicq` CLI, the desktop UI)
//! is built on.
//!
//! # Layout
//! Each module imports only modules listed below it, never one that imports it back.
//! - [`messages`]: the life of a message: send, reply, edit, recall, react, search, each stored
//!   in the order of the calls.
//! - [`groups`]: named groups: create, change (members, roles, name, topic, delete), list.
//! - [`receipts`]: read positions, receipts, unread counts, typing.
//! - [`client`]: [`Client::connect`], requests (history, users), the ordered path every stored
//!   change takes, and the supervisor task that serves a connection, reconnects with backoff
//!   and catches up.
//! - `session`: what one connection carries besides requests: deliveries (in order, each id
//!   once) and the control stream both ways.
//! - [`transfer`]: file uploads and downloads (resumable, lower priority than chat); its
//!   `rules` module holds the decisions ("when is a download done for good?", "where does an
//!   upload resume?"), `upload` and `download` the jobs, `registry` the running transfers.
//! - `order`: the order of the calls that change something, which they take effect in.
//! - `link`: the connection state (up, down, given up) and request plumbing on top of it.
//! - `in_flight`: unanswered sends and the connection each one's stream is on, so sends caught
//!   by a lost connection are sent again in their order, before later ones.
//! - [`connection`]: one connection attempt: QUIC, TLS verification (handshake failures named
//!   from quinn's typed errors), `hello`.
//! - `retry`: when to try again: close reasons, reconnect backoff, repeated sends.
//! - [`config`]: [`ClientConfig`] and [`Credentials`].
//! - [`event`]: the [`Event`] stream a front end listens to.
//! - [`trust`]: pinned fingerprints, the known-servers file, CA files, system roots.
//! - [`filename`]: received names made safe to save; [`device`]: this device's stable id.
//! - `error`: [`RequestError`], shared by everything that talks to the server.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use quicq_client::{Client, ClientConfig};
//! use quicq_common::Address;
//! let config = ClientConfig::new("quicq://chat.example.org:7373".parse()?, "alice", "secret pw");
//! let (client, mut events) = Client::connect(config).await?;
//! client.send(Address::everyone(), "hello").await?;
//! while let Some(event) = events.recv().await { println!("{event:?}"); }
//! # Ok(()) }
//! ```

pub mod client;
pub mod config;
pub mod connection;
pub mod device;
mod error;
pub mod event;
pub mod filename;
pub mod groups;
mod in_flight;
mod link;
pub mod messages;
mod order;
pub mod receipts;
mod retry;
mod session;
pub mod transfer;
pub mod trust;

pub use client::{Client, HistoryPage, Sent};
pub use config::{ClientConfig, Credentials};
pub use connection::{ConnectError, Welcome};
pub use error::RequestError;
pub use event::{ConnState, Event, Events, TransferEvent, TransferKey};
pub use groups::GroupMembers;
pub use messages::{SearchPage, conversation_of};
pub use transfer::{DownloadError, TransferError, UploadHandle, Uploaded};
pub use trust::{KnownServers, Trust};
