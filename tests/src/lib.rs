//! Shared helpers for the end-to-end tests: a real server on `127.0.0.1:0` with a fresh
//! certificate and database, clients that pin that certificate, and raw-wire access.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use quicq_client::{Client, ClientConfig, ConnectError, Event, Events, Trust};
use quicq_common::frame::{encode, read_frame, write_frame};
use quicq_common::protocol::{
    ALPN, ChatMessage, ClientFrame, ErrorCode, PROTOCOL_VERSION, ServerFrame,
};
use quicq_common::tls::{self, Roots, ServerVerifier};
use quicq_common::{Fingerprint, JoinLink};
use quicq_fixtures::postgres::PgCluster;
use quicq_server::config::{Database, StoreKind};
use quicq_server::{Config, Server};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a test waits for something that should happen; generous for loaded CI machines.
pub const WAIT: Duration = Duration::from_secs(20);
pub const PASSWORD: &str = "correct horse battery";

/// Warnings, plus the upload path's own account of a stall (shown only for a failing test).
pub fn init_logging() {
    let stalls = "warn,quicq_server::files::uploads=info,quicq_client::transfer::upload=info";
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| stalls.into()),
        )
        .with_test_writer()
        .try_init();
}

/// A running server and the directory holding its certificate and database.
pub struct TestServer {
    pub addr: SocketAddr,
    pub fingerprint: Fingerprint,
    pub dir: Arc<tempfile::TempDir>,
    /// Where it keeps its data (SQLite in `dir`, or PostgreSQL).
    pub database: Database,
    /// Where it answers health requests, if it was asked to.
    pub health: Option<SocketAddr>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        Self::start_in(dir, tweak).await
    }

    /// Starts on an existing directory (same certificate and database as a previous run).
    pub async fn start_in(dir: Arc<tempfile::TempDir>, tweak: impl FnOnce(&mut Config)) -> Self {
        init_logging();
        let mut config = Config::ephemeral(dir.path());
        on_test_store(&mut config, dir.path());
        tweak(&mut config);
        let database = config.database().expect("store settings");
        let server = Server::bind(config).expect("server starts");
        let (addr, fingerprint) = (server.local_addr(), server.fingerprint());
        let health = server.health_addr();
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move {
            server.run(token).await;
        });
        TestServer { addr, fingerprint, dir, database, health, shutdown, task }
    }

    /// Address with the certificate pinned.
    pub fn link(&self) -> JoinLink {
        JoinLink {
            host: "127.0.0.1".into(),
            port: self.addr.port(),
            fingerprint: Some(self.fingerprint),
            invite: None,
            more: vec![],
        }
    }

    /// Address without a pin.
    pub fn address(&self) -> JoinLink {
        JoinLink { fingerprint: None, ..self.link() }
    }

    pub fn cert_path(&self) -> PathBuf {
        self.dir.path().join("certs").join(tls::CERT_FILE)
    }

    /// Shuts down in order and waits; returns the directory for a restart.
    pub async fn stop(self) -> Arc<tempfile::TempDir> {
        self.shutdown.cancel();
        self.task.await.expect("server task");
        self.dir
    }
}

/// With `QUICQ_TEST_STORE=postgres`, the server keeps its data in a fresh database of a real
/// PostgreSQL (one per test directory, so a restart finds its data again) instead of SQLite.
fn on_test_store(config: &mut Config, dir: &Path) {
    match std::env::var("QUICQ_TEST_STORE").as_deref() {
        Ok("postgres") => {}
        Ok("sqlite") | Err(_) => return,
        Ok(other) => panic!("QUICQ_TEST_STORE={other}: sqlite or postgres"),
    }
    let remembered = dir.join("postgres-url");
    let url = std::fs::read_to_string(&remembered).unwrap_or_else(|_| {
        let url = PgCluster::shared().new_database().expect("a database for the test");
        std::fs::write(&remembered, &url).expect("remember the database");
        url
    });
    config.store = StoreKind::Postgres;
    config.database_url = Some(url);
}

/// A client config that pins the test server and remembers nothing on disk.
pub fn config(server: &TestServer, nickname: &str) -> ClientConfig {
    let mut config = ClientConfig::new(server.link(), nickname, PASSWORD);
    config.trust = Trust { known_servers: None, system_roots: false, ..Trust::default() };
    config.client_name = "quicq-tests".into();
    config
}

pub async fn connect(server: &TestServer, nickname: &str) -> (Client, Events) {
    try_connect(server, nickname).await.unwrap_or_else(|e| panic!("{nickname} connects: {e}"))
}

pub async fn try_connect(
    server: &TestServer,
    nickname: &str,
) -> Result<(Client, Events), ConnectError> {
    Client::connect(config(server, nickname)).await
}

/// Waits for the next chat message, skipping other events.
pub async fn next_message(events: &mut Events) -> ChatMessage {
    tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await {
                Some(Event::Message(m)) => return m,
                Some(_) => {}
                None => panic!("event stream ended"),
            }
        }
    })
    .await
    .expect("a message arrives in time")
}

/// Collects `n` chat messages.
pub async fn messages(events: &mut Events, n: usize) -> Vec<ChatMessage> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        out.push(next_message(events).await);
    }
    out
}

/// Asserts that no chat message arrives within `wait`.
pub async fn no_message(events: &mut Events, wait: Duration) {
    let got = tokio::time::timeout(wait, async {
        loop {
            match events.recv().await {
                Some(Event::Message(m)) => return Some(m),
                Some(_) => {}
                None => return None,
            }
        }
    })
    .await;
    if let Ok(Some(m)) = got {
        panic!("unexpected message {m:?}");
    }
}

/// Waits until `pred` matches an event.
pub async fn wait_for(
    events: &mut Events,
    what: &str,
    mut pred: impl FnMut(&Event) -> bool,
) -> Event {
    tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await {
                Some(e) if pred(&e) => return e,
                Some(_) => {}
                None => panic!("event stream ended while waiting for {what}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// A raw QUIC connection to the server with its certificate pinned, for wire-level tests.
pub async fn raw_connect(server: &TestServer) -> quinn::Connection {
    raw_connect_alpn(server, ALPN).await.expect("raw connection")
}

pub async fn raw_connect_alpn(
    server: &TestServer,
    alpn: &[u8],
) -> Result<quinn::Connection, quinn::ConnectionError> {
    let verifier =
        Arc::new(ServerVerifier::new(Some(server.fingerprint), &Roots::None).expect("verifier"));
    let crypto = tls::client_config(verifier, vec![alpn.to_vec()]).expect("tls config");
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(crypto).expect("quic config");
    let mut endpoint =
        quinn::Endpoint::client("127.0.0.1:0".parse().expect("addr")).expect("endpoint");
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(quic)));
    endpoint.connect(server.addr, "127.0.0.1").expect("connect").await
}

/// Opens the control stream and logs in; returns the streams and the server's answer.
pub async fn raw_login(
    conn: &quinn::Connection,
    nickname: &str,
    password: &str,
) -> (quinn::SendStream, quinn::RecvStream, ServerFrame) {
    raw_login_resuming(conn, nickname, password, None).await
}

/// [`raw_login`] holding every message up to `resume_after` already.
pub async fn raw_login_resuming(
    conn: &quinn::Connection,
    nickname: &str,
    password: &str,
    resume_after: Option<u64>,
) -> (quinn::SendStream, quinn::RecvStream, ServerFrame) {
    let (mut send, mut recv) = conn.open_bi().await.expect("control stream");
    let hello = ClientFrame::Hello {
        version: PROTOCOL_VERSION,
        nickname: nickname.into(),
        password: password.into(),
        client: "raw".into(),
        resume_after,
        device: None,
        invite: None,
    };
    write_frame(&mut send, &hello).await.expect("write hello");
    let answer =
        read_frame::<ServerFrame, _>(&mut recv).await.expect("read answer").expect("an answer");
    (send, recv, answer)
}

/// Sends raw bytes as one request stream and reads the one answer frame.
pub async fn raw_request(conn: &quinn::Connection, bytes: &[u8]) -> ServerFrame {
    let (mut send, mut recv) = conn.open_bi().await.expect("request stream");
    send.write_all(bytes).await.expect("write request");
    let _ = send.finish();
    read_frame::<ServerFrame, _>(&mut recv).await.expect("read answer").expect("an answer")
}

/// Sends a frame as one request stream.
pub async fn raw_frame(conn: &quinn::Connection, frame: &ClientFrame) -> ServerFrame {
    raw_request(conn, &encode(frame)).await
}

/// A throw-away directory path for a known-servers file.
pub fn known_servers_in(dir: &Path) -> PathBuf {
    dir.join("known_servers")
}

/// Writes `size` bytes of seeded pseudo-random data.
pub fn make_file(dir: &Path, name: &str, size: u64, seed: u64) -> PathBuf {
    use std::io::Write;
    let path = dir.join(name);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create test file"));
    let mut x = seed | 1;
    let mut left = size;
    let mut block = vec![0u8; 1 << 16];
    while left > 0 {
        for chunk in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        let n = left.min(block.len() as u64) as usize;
        file.write_all(&block[..n]).expect("write test file");
        left -= n as u64;
    }
    file.flush().expect("flush test file");
    path
}

/// The code of an `error` answer; panics on anything else.
pub fn error_code(frame: &ServerFrame) -> ErrorCode {
    match frame {
        ServerFrame::Error { code, .. } => *code,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// The message id of a `sent` answer; panics on anything else.
pub fn sent_id(frame: &ServerFrame) -> u64 {
    match frame {
        ServerFrame::Sent { id, .. } => *id,
        other => panic!("expected sent, got {other:?}"),
    }
}

/// A user speaking the raw protocol: its own QUIC connection, every delivered message and every
/// control-stream frame collected in order, for tests that craft frames by hand.
pub struct RawUser {
    pub name: String,
    pub conn: quinn::Connection,
    pub welcome: ServerFrame,
    control: quinn::SendStream,
    messages: tokio::sync::mpsc::UnboundedReceiver<ChatMessage>,
    controls: tokio::sync::mpsc::UnboundedReceiver<ServerFrame>,
}

impl RawUser {
    /// Connects and signs in (registering `name` with [`PASSWORD`] if it is free).
    pub async fn login(server: &TestServer, name: &str) -> RawUser {
        let conn = raw_connect(server).await;
        let (control, mut recv, welcome) = raw_login(&conn, name, PASSWORD).await;
        assert!(matches!(welcome, ServerFrame::Welcome { .. }), "{name} logs in: {welcome:?}");
        let (message_tx, messages) = tokio::sync::mpsc::unbounded_channel();
        let deliveries = conn.clone();
        // Streams are read one after the other, in the order the server opened them.
        tokio::spawn(async move {
            while let Ok(mut stream) = deliveries.accept_uni().await {
                if let Ok(Some(ServerFrame::Message(m))) =
                    read_frame::<ServerFrame, _>(&mut stream).await
                    && message_tx.send(m).is_err()
                {
                    return;
                }
            }
        });
        let (control_tx, controls) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(frame)) = read_frame::<ServerFrame, _>(&mut recv).await {
                if control_tx.send(frame).is_err() {
                    return;
                }
            }
        });
        RawUser { name: name.into(), conn, welcome, control, messages, controls }
    }

    /// One request on its own stream; the answer.
    pub async fn request(&self, frame: &ClientFrame) -> ServerFrame {
        raw_frame(&self.conn, frame).await
    }

    /// A frame on the control stream (no answer comes).
    pub async fn control(&mut self, frame: &ClientFrame) {
        write_frame(&mut self.control, frame).await.expect("write on the control stream");
    }

    /// The next delivered message.
    pub async fn next_message(&mut self) -> ChatMessage {
        tokio::time::timeout(WAIT, self.messages.recv())
            .await
            .unwrap_or_else(|_| panic!("{}: no message in time", self.name))
            .expect("delivery stream open")
    }

    /// The next `n` delivered messages.
    pub async fn messages(&mut self, n: usize) -> Vec<ChatMessage> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.next_message().await);
        }
        out
    }

    /// Asserts that no message is delivered within `wait`.
    pub async fn no_message(&mut self, wait: Duration) {
        if let Ok(Some(m)) = tokio::time::timeout(wait, self.messages.recv()).await {
            panic!("{}: unexpected message {m:?}", self.name);
        }
    }

    /// The next control-stream frame that `pred` accepts (presence and others are skipped).
    pub async fn next_control(
        &mut self,
        mut pred: impl FnMut(&ServerFrame) -> bool,
    ) -> ServerFrame {
        tokio::time::timeout(WAIT, async {
            loop {
                match self.controls.recv().await {
                    Some(frame) if pred(&frame) => return frame,
                    Some(_) => {}
                    None => panic!("{}: control stream ended", self.name),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{}: no matching control frame in time", self.name))
    }

    /// Asserts that no control frame `pred` accepts arrives within `wait`.
    pub async fn no_control(&mut self, wait: Duration, mut pred: impl FnMut(&ServerFrame) -> bool) {
        let found = tokio::time::timeout(wait, async {
            loop {
                match self.controls.recv().await {
                    Some(frame) if pred(&frame) => return Some(frame),
                    Some(_) => {}
                    None => return None,
                }
            }
        })
        .await;
        if let Ok(Some(frame)) = found {
            panic!("{}: unexpected control frame {frame:?}", self.name);
        }
    }
}
