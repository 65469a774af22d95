//! The QuicQ server: accounts, one-to-one and group chat, durable history, over QUIC.
//!
//! # Layout
//! - [`server`]: [`Server::bind`] and [`Server::run`], the accept loop and ordered shutdown.
//! - [`session`]: one connection: `hello`, request streams, delivery streams.
//! - [`chat`]: what each request does (login/registration, send, history, users).
//! - [`hub`]: who is online and who receives what; bounded per-session queues.
//! - [`presence`]: presence changes gathered into batches.
//! - [`transfer`] and [`spool`]: file uploads and downloads through a disk spool.
//! - [`store`]: SQLite persistence; [`store_thread`] runs it on one thread with group commit.
//! - [`password`], [`rate_limit`], [`config`]: the small parts.
//!
//! Entry point: `Server::bind(config)?.run(shutdown).await`.

pub mod chat;
pub mod config;
pub mod hub;
pub mod password;
pub mod presence;
pub mod rate_limit;
pub mod server;
pub mod session;
pub mod spool;
pub mod store;
pub mod store_thread;
pub mod transfer;

pub use config::Config;
pub use server::{Server, StartError};
