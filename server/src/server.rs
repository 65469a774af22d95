//! The listener: binds the QUIC endpoint, accepts connections under a limit, runs a [`Session`]
//! for each, and shuts down in order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quicq_common::JoinLink;
use quicq_common::protocol::close;
use quicq_common::tls::{self, Fingerprint, Identity, TlsError};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::chat::Chat;
use crate::chat::now_ms;
use crate::config::Config;
use crate::session::Session;
use crate::spool::Spool;
use crate::store::{FileState, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("certificate: {0}")]
    Tls(#[from] TlsError),
    #[error("--cert and --key must be given together")]
    CertWithoutKey,
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot use spool directory {path}: {source}")]
    Spool { path: std::path::PathBuf, source: std::io::Error },
    #[error("quic configuration: {0}")]
    Quic(String),
}

/// A bound server, ready to [`run`](Server::run).
#[derive(Debug)]
pub struct Server {
    endpoint: quinn::Endpoint,
    chat: Arc<Chat>,
    fingerprint: Fingerprint,
    certificate_created: bool,
    uncovered_hostnames: Vec<String>,
}

impl Server {
    /// Loads or makes the certificate, opens the database and binds the UDP socket.
    /// Must be called inside a tokio runtime.
    pub fn bind(config: Config) -> Result<Self, StartError> {
        let (identity, certificate_created) = match (&config.cert, &config.key) {
            (Some(cert), Some(key)) => (Identity::load(cert, key)?, false),
            (None, None) => Identity::load_or_create(&config.cert_dir, &config.hostnames)?,
            _ => return Err(StartError::CertWithoutKey),
        };
        let fingerprint = identity.fingerprint();
        let uncovered_hostnames = config
            .hostnames
            .iter()
            .filter(|h| !tls::certificate_names(&identity.chain[0], h))
            .cloned()
            .collect();

        let crypto =
            quinn::crypto::rustls::QuicServerConfig::try_from(tls::server_config(identity)?)
                .map_err(|e| StartError::Quic(e.to_string()))?;
        let mut server_config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        let mut transport = quicq_common::socket::transport();
        transport
            // One more than the request limit: the control stream is bidirectional too.
            .max_concurrent_bidi_streams((config.max_concurrent_requests + 1).into())
            .max_concurrent_uni_streams(config.max_concurrent_uploads.into())
            .max_idle_timeout(Some(
                config
                    .idle_timeout()
                    .try_into()
                    .map_err(|_| StartError::Quic("idle timeout too large".into()))?,
            ));
        server_config.transport_config(Arc::new(transport));

        let store = Store::open(&config.database_path())?;
        let spool = Spool::open(config.spool_dir())
            .map_err(|source| StartError::Spool { path: config.spool_dir(), source })?;
        match reconcile(&store, &spool)? {
            (0, 0) => {}
            (deleted, failed) => tracing::warn!(
                deleted,
                failed,
                "spool and database disagreed: removed unclaimed spool files, failed files without bytes"
            ),
        }
        let listen = config.listen;
        let chat = Arc::new(Chat::new(config, store, spool)?);
        let endpoint = quicq_common::socket::endpoint(listen, Some(server_config))
            .map_err(|source| StartError::Bind { addr: listen, source })?;
        Ok(Server { endpoint, chat, fingerprint, certificate_created, uncovered_hostnames })
    }

    pub fn local_addr(&self) -> SocketAddr {
        // The socket is bound; this only fails if it was closed, which run() owns.
        self.endpoint.local_addr().unwrap_or_else(|_| self.chat.config.listen)
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// True if the self-signed certificate was made by this start.
    pub fn certificate_created(&self) -> bool {
        self.certificate_created
    }

    /// Configured hostnames the certificate does not name (it was made for other names).
    pub fn uncovered_hostnames(&self) -> &[String] {
        &self.uncovered_hostnames
    }

    /// The link to hand to users: first configured hostname, the bound port, the fingerprint.
    pub fn join_link(&self) -> JoinLink {
        let host =
            self.chat.config.hostnames.first().cloned().unwrap_or_else(|| "localhost".into());
        JoinLink { host, port: self.local_addr().port(), fingerprint: Some(self.fingerprint) }
    }

    /// Serves until `shutdown` is cancelled, then tells every client, closes the endpoint and
    /// flushes the database.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), StartError> {
        let sweeper = tokio::spawn(sweep(self.chat.clone(), shutdown.clone()));
        let presence = tokio::spawn({
            let chat = self.chat.clone();
            async move { chat.hub.presence_batches().await }
        });
        let mut sessions = JoinSet::new();
        let max = self.chat.config.max_connections;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                incoming = self.endpoint.accept() => {
                    let Some(incoming) = incoming else { break };
                    if sessions.len() >= max {
                        tracing::warn!(remote = %incoming.remote_address(), "connection limit reached; refusing");
                        incoming.refuse();
                        continue;
                    }
                    let remote = incoming.remote_address();
                    let (chat, token) = (self.chat.clone(), shutdown.child_token());
                    let span = tracing::info_span!("session", %remote, user = tracing::field::Empty);
                    sessions.spawn(async move {
                        match incoming.await {
                            Ok(conn) => {
                                if let Err(e) = Session::new(conn, chat, token).run().await {
                                    tracing::info!(cause = %e, "session ended with error");
                                }
                            }
                            Err(e) => tracing::debug!(cause = %e, "handshake failed"),
                        }
                    }.instrument(span));
                }
                Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            }
        }

        tracing::info!(sessions = sessions.len(), "shutting down");
        self.endpoint.set_server_config(None);
        let drain = async { while sessions.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(5), drain).await.is_err() {
            sessions.abort_all();
        }
        self.endpoint.close(close::SHUTDOWN.into(), b"server shutting down");
        let _ = tokio::time::timeout(Duration::from_secs(3), self.endpoint.wait_idle()).await;
        sweeper.abort();
        presence.abort();
        if let Err(e) = self.chat.flush().await {
            tracing::error!(cause = %e.message, "final database flush failed");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Drops expired files and stalled uploads once a minute.
async fn sweep(chat: Arc<Chat>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        match chat.expire_files().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(files = n, "expired files removed"),
            Err(e) => tracing::error!(cause = %e.message, "file expiry failed"),
        }
    }
}

/// Makes the spool and the database agree before serving: spool files no stored file claims
/// (left by a crash) are deleted, and stored files whose bytes are gone (a restored backup) are
/// marked failed, so nobody is offered them. Returns (deleted, failed).
fn reconcile(store: &Store, spool: &Spool) -> Result<(usize, usize), StartError> {
    let live = store.live_files()?;
    let mut failed = 0;
    for id in &live {
        if !spool.path(*id).exists() {
            store.set_file_progress(*id, 0, FileState::Failed, now_ms())?;
            failed += 1;
        }
    }
    let deleted = spool
        .remove_orphans(&live.into_iter().collect())
        .map_err(|source| StartError::Spool { path: spool.dir().to_owned(), source })?;
    Ok((deleted, failed))
}
