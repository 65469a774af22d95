//! Shared helpers for the end-to-end tests: a real server on `127.0.0.1:0` with a fresh
//! certificate and database, clients that pin that certificate, and raw-wire access.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use quicq_client::{Client, ClientConfig, ConnectError, Event, Events, Trust};
use quicq_common::frame::{encode, read_frame, write_frame};
use quicq_common::protocol::{ALPN, ChatMessage, ClientFrame, PROTOCOL_VERSION, ServerFrame};
use quicq_common::tls::{self, Roots, ServerVerifier};
use quicq_common::{Fingerprint, JoinLink};
use quicq_server::{Config, Server};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a test waits for something that should happen; generous for loaded CI machines.
pub const WAIT: Duration = Duration::from_secs(20);
pub const PASSWORD: &str = "correct horse battery";

pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// A running server and the directory holding its certificate and database.
pub struct TestServer {
    pub addr: SocketAddr,
    pub fingerprint: Fingerprint,
    pub dir: Arc<tempfile::TempDir>,
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
        tweak(&mut config);
        let server = Server::bind(config).expect("server starts");
        let (addr, fingerprint) = (server.local_addr(), server.fingerprint());
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move {
            server.run(token).await;
        });
        TestServer { addr, fingerprint, dir, shutdown, task }
    }

    /// Address with the certificate pinned.
    pub fn link(&self) -> JoinLink {
        JoinLink {
            host: "127.0.0.1".into(),
            port: self.addr.port(),
            fingerprint: Some(self.fingerprint),
            invite: None,
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
    let (mut send, mut recv) = conn.open_bi().await.expect("control stream");
    let hello = ClientFrame::Hello {
        version: PROTOCOL_VERSION,
        nickname: nickname.into(),
        password: password.into(),
        client: "raw".into(),
        resume_after: None,
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
