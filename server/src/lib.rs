//! The QuicQ server: accounts, one-to-one and group chat, durable history and file transfer,
//! over QUIC.
//!
//! # Layout
//! From the top down; a module only uses modules below it.
//! - [`server`]: [`Server::bind`] and [`Server::run`], the accept loop and ordered shutdown.
//! - [`session`]: one connection: `hello`, request streams, uploads, delivery streams; where
//!   internal errors become what the peer is told.
//! - Request handlers: [`login`] (`hello` checks, sign-in, registration), [`chat`] (send,
//!   history, search, users), [`edits`] (edit, recall, react), [`receipts`] (read positions,
//!   typing, settings, unread counts), the [`groups`] wing (create and change named groups;
//!   [`groups::rules`] decide who may do what) and the [`files`] wing (uploads, downloads,
//!   retention, and their [`files::rules`]: change how uploads are checked there).
//! - [`state`]: what every part shares (config, hub, store thread, spool, running uploads,
//!   password hasher), behind methods.
//! - [`hub`]: who is online and who receives what; bounded per-session queues;
//!   [`membership`]: the named groups it routes by. [`delivery`]:
//!   catch-up then live, each message once. [`presence`]: presence changes gathered into
//!   batches.
//! - [`cluster`]: one node of several on one PostgreSQL database, talking through NATS;
//!   [`sequencer`]: such a node's delivery, every node's messages in the database's id order;
//!   [`elsewhere`]: who is online on the other nodes; [`health`]: the node's health over HTTP.
//! - [`store`]: persistence behind one interface, SQLite (the default) or PostgreSQL;
//!   [`store_thread`] runs it on one thread with group commit.
//! - [`error`]: [`ServerError`] inside, [`error::Refusal`] for the peer.
//! - [`password`], [`throttle`] (failed sign-ins), [`fair`] (hashing slots shared fairly
//!   between addresses), [`rate_limit`], [`config`]: the small parts;
//!   [`admin`]: what `quicq-server admin` does (invites, the account list).
//!
//! Entry point: `Server::bind(config)?.run(shutdown).await`.

pub mod admin;
pub mod chat;
pub mod cluster;
pub mod config;
pub mod delivery;
pub mod edits;
pub mod elsewhere;
pub mod error;
pub mod fair;
pub mod files;
pub mod groups;
pub mod health;
pub mod hub;
pub mod login;
pub mod membership;
pub mod password;
pub mod presence;
pub mod rate_limit;
pub mod receipts;
pub mod sequencer;
pub mod server;
pub mod session;
pub mod state;
pub mod store;
pub mod store_thread;
pub mod throttle;

pub use config::Config;
pub use error::ServerError;
pub use server::{Server, StartError};
