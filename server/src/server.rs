//! The listener: binds the QUIC endpoint, accepts connections under a limit, runs a [`Session`]
//! for each, and shuts down in order: stop accepting, tell every session, let file jobs record
//! their progress, close the endpoint, then flush and join the store thread.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quicq_common::JoinLink;
use quicq_common::protocol::close;
use quicq_common::tls::{self, Fingerprint, Identity, TlsError};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::admin;
use crate::cluster;
use crate::config::{Config, ConfigError, Database, Registration};
use crate::files::retention;
use crate::files::spool::Spool;
use crate::health;
use crate::hub::{Hub, QueueLimit};
use crate::login;
use crate::session::Session;
use crate::state::State;
use crate::store::{self, FileState, Store, StoreError, now_ms};
use crate::store_thread::StoreThread;

/// How long sessions get to close after being told to.
const SESSIONS_GRACE: Duration = Duration::from_secs(5);
/// How long uploads and downloads get to record their progress once connections are closed.
const FILE_JOBS_GRACE: Duration = Duration::from_secs(5);
/// How long the endpoint may take to deliver the last close frames.
const CLOSE_GRACE: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("certificate: {0}")]
    Tls(#[from] TlsError),
    #[error("--cert and --key must be given together")]
    CertWithoutKey,
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("settings: {0}")]
    Config(#[from] ConfigError),
    #[error("cannot start the store thread: {0}")]
    StoreThread(std::io::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot use spool directory {path}: {source}")]
    Spool { path: std::path::PathBuf, source: std::io::Error },
    #[error("tls configuration unusable for quic: {0}")]
    Quic(#[from] quinn::crypto::rustls::NoInitialCipherSuite),
    #[error("idle timeout too large: {0}")]
    IdleTimeout(#[from] quinn::VarIntBoundsExceeded),
}

/// A bound server, ready to [`run`](Server::run).
#[derive(Debug)]
pub struct Server {
    endpoint: quinn::Endpoint,
    state: Arc<State>,
    /// This node's link to the others, when it is one node of a cluster.
    cluster: Option<cluster::Link>,
    /// Where health requests are answered, if anywhere.
    health: Option<std::net::TcpListener>,
    fingerprint: Fingerprint,
    certificate_created: bool,
    uncovered_hostnames: Vec<String>,
    first_invite: Option<String>,
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

        // Stateless resets must outlive a crash, so their key comes from the identity's.
        let reset_secret = identity.key.secret_der().to_vec();
        let crypto =
            quinn::crypto::rustls::QuicServerConfig::try_from(tls::server_config(identity)?)?;
        let mut server_config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        let mut transport = quicq_common::socket::transport(config.windows(), config.congestion);
        transport
            // One more than the request limit: the control stream is bidirectional too.
            .max_concurrent_bidi_streams((config.max_concurrent_requests + 1).into())
            .max_concurrent_uni_streams(config.max_concurrent_uploads.into())
            .max_idle_timeout(Some(config.idle_timeout().try_into()?));
        server_config.transport_config(Arc::new(transport));

        let database = config.database()?;
        let spool = Spool::open(config.spool_dir())
            .map_err(|source| StartError::Spool { path: config.spool_dir(), source })?;
        // On a thread of its own: the PostgreSQL client blocks, which a runtime thread must not.
        let prepared = std::thread::scope(|s| {
            s.spawn(|| prepare_store(&config, &database, &spool))
                .join()
                .unwrap_or(Err(StartError::Store(StoreError::Stopped)))
        })?;
        let first_invite = prepared.first_invite;
        let listen = config.listen;
        let state = Arc::new(State::new(config, prepared.hub, prepared.store, spool));
        let endpoint = quicq_common::socket::server_endpoint(listen, server_config, &reset_secret)
            .map_err(|source| StartError::Bind { addr: listen, source })?;
        let health = match state.config().health_listen {
            Some(addr) => {
                let bind = || {
                    let listener = std::net::TcpListener::bind(addr)?;
                    listener.set_nonblocking(true)?;
                    Ok(listener)
                };
                Some(bind().map_err(|source| StartError::Bind { addr, source })?)
            }
            None => None,
        };
        Ok(Server {
            endpoint,
            state,
            cluster: prepared.cluster,
            health,
            fingerprint,
            certificate_created,
            uncovered_hostnames,
            first_invite,
        })
    }

    /// Where health requests are answered, if anywhere.
    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.health.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn local_addr(&self) -> SocketAddr {
        // The socket is bound; this only fails if it was closed, which run() owns.
        self.endpoint.local_addr().unwrap_or_else(|_| self.state.config().listen)
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

    /// The invite made at this start because the server needs invites and has no account yet:
    /// the operator registers the first account with it.
    pub fn first_invite(&self) -> Option<&str> {
        self.first_invite.as_deref()
    }

    /// How registration works on this server.
    pub fn registration(&self) -> Registration {
        self.state.config().registration_mode()
    }

    /// The link to hand to users: first configured hostname, the bound port, the fingerprint.
    pub fn join_link(&self) -> JoinLink {
        let host =
            self.state.config().hostnames.first().cloned().unwrap_or_else(|| "localhost".into());
        let port = self.local_addr().port();
        JoinLink { host, port, fingerprint: Some(self.fingerprint), invite: None, more: vec![] }
    }

    /// Serves until `shutdown` is cancelled, then shuts down in order.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let cluster = self
            .cluster
            .take()
            .map(|link| tokio::spawn(link.run(self.state.clone(), shutdown.clone())));
        if let Some(listener) =
            self.health.take().and_then(|l| tokio::net::TcpListener::from_std(l).ok())
        {
            tokio::spawn(health::serve(listener, self.state.clone(), shutdown.clone()));
        }
        let sweeper = tokio::spawn(retention::sweep(self.state.clone(), shutdown.clone()));
        let disabled =
            tokio::spawn(login::end_disabled_sessions(self.state.clone(), shutdown.clone()));
        let presence = tokio::spawn({
            let state = self.state.clone();
            async move { state.hub().presence_batches().await }
        });
        let mut sessions = JoinSet::new();
        let max = self.state.config().max_connections;
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
                    let (state, token) = (self.state.clone(), shutdown.child_token());
                    let span = tracing::info_span!("session", %remote, user = tracing::field::Empty);
                    sessions.spawn(async move {
                        match incoming.await {
                            Ok(conn) => {
                                if let Err(e) = Session::new(conn, state, token).run().await {
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

        // 1. Stop accepting; sessions (children of `shutdown`) close their connections with
        //    the shutdown code.
        tracing::info!(sessions = sessions.len(), "shutting down");
        self.endpoint.set_server_config(None);
        let drain = async { while sessions.join_next().await.is_some() {} };
        if tokio::time::timeout(SESSIONS_GRACE, drain).await.is_err() {
            sessions.abort_all();
        }
        // 2. Close what is left, so uploads see their streams end and record how far they got.
        self.endpoint.close(close::SHUTDOWN.into(), b"server shutting down");
        sweeper.abort();
        disabled.abort();
        presence.abort();
        if let Some(cluster) = cluster {
            // It ends on `shutdown`, after telling NATS what it had queued.
            let _ = tokio::time::timeout(CLOSE_GRACE, cluster).await;
        }
        let tasks = self.state.tasks();
        tasks.close();
        if tokio::time::timeout(FILE_JOBS_GRACE, tasks.wait()).await.is_err() {
            tracing::warn!(running = tasks.len(), "file jobs still running at shutdown");
        }
        // 3. Everything queued for the store runs, then the WAL is flushed and the thread ends.
        self.state.close_store().await;
        let _ = tokio::time::timeout(CLOSE_GRACE, self.endpoint.wait_idle()).await;
        tracing::info!("stopped");
    }
}

/// The database, opened and checked, running on its thread; and what the hub starts from.
struct Prepared {
    hub: Arc<Hub>,
    store: StoreThread,
    cluster: Option<cluster::Link>,
    first_invite: Option<String>,
}

/// Opens the database, makes it agree with the spool, on a server that needs invites and has
/// none makes the first one, and hands the database to its thread. The PostgreSQL client may
/// only be used and dropped off the runtime's threads, so from here on only the store thread
/// holds it.
fn prepare_store(
    config: &Config,
    database: &Database,
    spool: &Spool,
) -> Result<Prepared, StartError> {
    let mut store = store::open(database)?;
    match reconcile(store.as_mut(), spool)? {
        (0, 0) => {}
        (deleted, failed) => tracing::warn!(
            deleted,
            failed,
            "spool and database disagreed: removed unclaimed spool files, failed files without bytes"
        ),
    }
    let first_invite = match config.registration_mode() {
        Registration::Invite => admin::first_invite(store.as_mut())?,
        _ => None,
    };
    let hub = Arc::new(Hub::new(
        store.accounts()?,
        store.groups()?,
        QueueLimit { items: config.session_queue, bytes: config.session_queue_bytes },
        config.rates(),
    ));
    // Messages stored before this start reach sessions by catch-up, not live.
    let (after, cluster) = match &config.nats_url {
        Some(url) => {
            let (after, link) = cluster::join(url, &hub, store.max_message_id()?);
            (Some(after), Some(link))
        }
        None => (None, None),
    };
    let store = StoreThread::start(store, after).map_err(StartError::StoreThread)?;
    Ok(Prepared { hub, store, cluster, first_invite })
}

/// Makes the spool and the database agree before serving: spool files no stored file claims
/// (left by a crash) are deleted, and stored files whose bytes are gone (a restored backup) are
/// marked failed, so nobody is offered them. Returns (deleted, failed).
fn reconcile(store: &mut dyn Store, spool: &Spool) -> Result<(usize, usize), StartError> {
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
