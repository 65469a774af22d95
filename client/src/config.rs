//! What a client needs to connect: where, as whom, whom to trust, where files go.

use std::path::PathBuf;

use quicq_common::JoinLink;
use quicq_common::congestion::Congestion;
use quicq_common::protocol::ALPN;

use crate::trust::Trust;

/// For tests and diagnostics: the ALPN this client normally offers.
pub const DEFAULT_ALPN: &[u8] = ALPN;

/// Everything needed to connect.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Server address or join link (a link's fingerprint is pinned, its invite code is sent
    /// with `hello`).
    pub server: JoinLink,
    pub credentials: Credentials,
    pub trust: Trust,
    /// Sent in `hello` for the server's logs, e.g. `quicq-cli 0.1.0`.
    pub client_name: String,
    /// TLS application protocol offered; leave at the default except to test refusal.
    pub alpn: Vec<u8>,
    /// A stable random id of this device, so each device of an account gets every file once.
    pub device: Option<String>,
    /// Download every incoming file into this folder; `None` downloads nothing by itself.
    pub downloads: Option<PathBuf>,
    /// Files larger than this (bytes) are not downloaded by themselves: the front end offers
    /// them and calls [`crate::Client::download`]. `None`: every file.
    pub auto_download_max: Option<u64>,
    /// The congestion controller for what this client sends (its uploads).
    pub congestion: Congestion,
}

impl ClientConfig {
    pub fn new(server: JoinLink, nickname: impl Into<String>, password: impl Into<String>) -> Self {
        ClientConfig {
            server,
            credentials: Credentials { nickname: nickname.into(), password: password.into() },
            trust: Trust::default(),
            client_name: concat!("quicq-client ", env!("CARGO_PKG_VERSION")).into(),
            alpn: DEFAULT_ALPN.to_vec(),
            device: None,
            downloads: None,
            auto_download_max: None,
            congestion: Congestion::default(),
        }
    }
}

/// Login details sent in `hello`.
#[derive(Clone)]
pub struct Credentials {
    pub nickname: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password, not even in a debug log.
        f.debug_struct("Credentials").field("nickname", &self.nickname).finish_non_exhaustive()
    }
}
