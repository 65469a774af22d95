//! The client handle every front end uses: requests, one stream of events, and a supervisor task
//! that reconnects with backoff and catches up on what was missed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quicq_common::JoinLink;
use quicq_common::frame::{FrameError, read_frame, write_frame};
use quicq_common::protocol::{
    Address, ChatMessage, ClientFrame, ErrorCode, Limits, MAX_HISTORY_PAGE, ServerFrame, UserInfo,
    close,
};
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::connection::{
    ConnectError, Credentials, DEFAULT_ALPN, Live, Welcome, connect_once, endpoint_for, resolve,
};
use crate::trust::Trust;

/// Everything needed to connect.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Server address or join link (a link's fingerprint is pinned).
    pub server: JoinLink,
    pub credentials: Credentials,
    pub trust: Trust,
    /// Sent in `hello` for the server's logs, e.g. `quicq-cli 0.1.0`.
    pub client_name: String,
    /// TLS application protocol offered; leave at the default except to test refusal.
    pub alpn: Vec<u8>,
}

impl ClientConfig {
    pub fn new(server: JoinLink, nickname: impl Into<String>, password: impl Into<String>) -> Self {
        ClientConfig {
            server,
            credentials: Credentials {
                nickname: nickname.into(),
                password: password.into(),
            },
            trust: Trust::default(),
            client_name: concat!("quicq-client ", env!("CARGO_PKG_VERSION")).into(),
            alpn: DEFAULT_ALPN.to_vec(),
        }
    }
}

/// What happens, in the order it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A message for this user (including ones this user sent, from any session). Each id is
    /// reported once, in increasing id order.
    Message(ChatMessage),
    Presence {
        user: String,
        online: bool,
    },
    State(ConnState),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConnState {
    Connected {
        you: String,
    },
    /// The connection was lost; the next attempt is in `delay`.
    Reconnecting {
        attempt: u32,
        delay: Duration,
        reason: String,
    },
    /// Given up (wrong password, untrusted server) or closed by the user.
    Offline {
        reason: String,
    },
}

pub type Events = mpsc::UnboundedReceiver<Event>;

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum RequestError {
    #[error("offline: {0}")]
    Offline(String),
    #[error("the connection was lost")]
    ConnectionLost,
    #[error("{message} ({code})")]
    Refused {
        code: ErrorCode,
        message: String,
        retry_after_ms: Option<u64>,
    },
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// The server's acknowledgement of a sent message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub id: u64,
    pub at: i64,
    pub client_id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPage {
    /// Newest first.
    pub messages: Vec<ChatMessage>,
    pub more: bool,
}

#[derive(Debug, Clone)]
enum LinkState {
    Up(quinn::Connection),
    Down,
    Offline(String),
}

struct Inner {
    config: ClientConfig,
    endpoint: quinn::Endpoint,
    link: watch::Sender<LinkState>,
    welcome: Mutex<Welcome>,
    /// Highest message id received; deliveries at or below it are duplicates.
    last_seen: AtomicU64,
    events: mpsc::UnboundedSender<Event>,
    shutdown: CancellationToken,
    /// Set by [`Client::reconnect`] so the supervisor reconnects without waiting.
    reconnect_now: AtomicBool,
}

/// A connected client. Cheap to clone; every clone drives the same connection.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.inner.config.server.authority())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects and logs in. Fails if the first attempt fails; after that, reconnection is
    /// automatic and reported as [`Event::State`].
    pub async fn connect(config: ClientConfig) -> Result<(Client, Events), ConnectError> {
        let addr = resolve(&config.server).await?;
        let endpoint = endpoint_for(addr).map_err(|e| ConnectError::Unreachable {
            authority: config.server.authority(),
            reason: format!("cannot open a UDP socket: {e}"),
        })?;
        let live = establish(&endpoint, &config, None).await?;
        let (events_tx, events) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            config,
            endpoint,
            link: watch::Sender::new(LinkState::Down),
            welcome: Mutex::new(live.welcome.clone()),
            last_seen: AtomicU64::new(0),
            events: events_tx,
            shutdown: CancellationToken::new(),
            reconnect_now: AtomicBool::new(false),
        });
        tokio::spawn(supervise(inner.clone(), live));
        Ok((Client { inner }, events))
    }

    /// The latest `welcome` (nickname as registered, limits, groups).
    pub fn welcome(&self) -> Welcome {
        self.inner
            .welcome
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn limits(&self) -> Limits {
        self.welcome().limits
    }

    /// Sends a chat message and waits until the server has stored it. A lost connection does not
    /// lose it: the same message (same client id) is sent again after reconnecting and the server
    /// stores it once.
    pub async fn send(&self, to: Address, text: impl Into<String>) -> Result<Sent, RequestError> {
        let text = text.into();
        let limits = self.limits();
        if text.trim().is_empty() {
            return Err(refused(ErrorCode::EmptyText, "message text is empty"));
        }
        if text.chars().count() > limits.max_text_chars as usize {
            return Err(refused(
                ErrorCode::TextTooLong,
                format!(
                    "message is longer than {} characters",
                    limits.max_text_chars
                ),
            ));
        }
        let client_id = uuid::Uuid::new_v4().to_string();
        let frame = ClientFrame::Send {
            client_id: client_id.clone(),
            to,
            text,
        };
        let mut failures = 0;
        loop {
            match self.request(&frame).await {
                Ok(ServerFrame::Sent { client_id, id, at }) => {
                    return Ok(Sent { id, at, client_id });
                }
                Ok(other) => {
                    return Err(RequestError::Protocol(format!(
                        "expected sent, got {other:?}"
                    )));
                }
                Err(RequestError::Refused {
                    code: ErrorCode::RateLimited,
                    retry_after_ms,
                    ..
                }) => {
                    let wait =
                        Duration::from_millis(retry_after_ms.unwrap_or(100).clamp(1, 60_000));
                    tokio::time::sleep(wait).await;
                }
                Err(RequestError::Refused {
                    code: ErrorCode::Internal | ErrorCode::ShuttingDown,
                    ..
                }) if failures < 5 => {
                    failures += 1;
                    tokio::time::sleep(Duration::from_millis(200 << failures)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One page of a conversation, newest first; pass the oldest id seen as `before` for the
    /// next page.
    pub async fn history(
        &self,
        with: Address,
        before: Option<u64>,
        limit: u32,
    ) -> Result<HistoryPage, RequestError> {
        let frame = ClientFrame::History {
            with,
            before,
            limit: limit.clamp(1, MAX_HISTORY_PAGE),
        };
        match self.request(&frame).await? {
            ServerFrame::HistoryPage { messages, more, .. } => Ok(HistoryPage { messages, more }),
            other => Err(RequestError::Protocol(format!(
                "expected history_page, got {other:?}"
            ))),
        }
    }

    /// Every account and whether it is online, fetched page by page.
    pub async fn users(&self) -> Result<Vec<UserInfo>, RequestError> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            match self
                .request(&ClientFrame::Users {
                    after: after.take(),
                })
                .await?
            {
                ServerFrame::UserList { users, more } => {
                    let last = users.last().map(|u| u.name.clone());
                    all.extend(users);
                    match (more, last) {
                        (true, Some(last)) => after = Some(last),
                        _ => return Ok(all),
                    }
                }
                other => {
                    return Err(RequestError::Protocol(format!(
                        "expected user_list, got {other:?}"
                    )));
                }
            }
        }
    }

    /// Sends one request frame on a new stream and returns the answer; retries on a new
    /// connection if this one is lost. Error frames come back as [`RequestError::Refused`].
    pub async fn request(&self, frame: &ClientFrame) -> Result<ServerFrame, RequestError> {
        let mut dead: Option<usize> = None;
        loop {
            let conn = self.connection(dead).await?;
            match request_on(&conn, frame).await {
                Ok(ServerFrame::Error {
                    code,
                    message,
                    retry_after_ms,
                }) => {
                    return Err(RequestError::Refused {
                        code,
                        message,
                        retry_after_ms,
                    });
                }
                Ok(answer) => return Ok(answer),
                Err(RequestError::ConnectionLost) => dead = Some(conn.stable_id()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits for a live connection other than `dead`.
    async fn connection(&self, dead: Option<usize>) -> Result<quinn::Connection, RequestError> {
        let mut rx = self.inner.link.subscribe();
        loop {
            match &*rx.borrow_and_update() {
                LinkState::Up(conn)
                    if Some(conn.stable_id()) != dead && conn.close_reason().is_none() =>
                {
                    return Ok(conn.clone());
                }
                LinkState::Offline(reason) => return Err(RequestError::Offline(reason.clone())),
                _ => {}
            }
            if rx.changed().await.is_err() {
                return Err(RequestError::Offline("client closed".into()));
            }
        }
    }

    /// Drops the current connection and reconnects at once (unacknowledged sends are repeated).
    pub fn reconnect(&self) {
        self.inner.reconnect_now.store(true, Ordering::SeqCst);
        if let LinkState::Up(conn) = &*self.inner.link.borrow() {
            conn.close(close::NORMAL.into(), b"reconnecting");
        }
    }

    /// Logs out: closes the connection and stops reconnecting.
    pub async fn close(&self) {
        self.inner.shutdown.cancel();
        if let LinkState::Up(conn) = &*self.inner.link.borrow() {
            conn.close(close::NORMAL.into(), b"bye");
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), self.inner.endpoint.wait_idle()).await;
    }
}

fn refused(code: ErrorCode, message: impl Into<String>) -> RequestError {
    RequestError::Refused {
        code,
        message: message.into(),
        retry_after_ms: None,
    }
}

async fn request_on(
    conn: &quinn::Connection,
    frame: &ClientFrame,
) -> Result<ServerFrame, RequestError> {
    let (mut send, mut recv) = conn
        .open_bi()
        .await
        .map_err(|_| RequestError::ConnectionLost)?;
    write_frame(&mut send, frame)
        .await
        .map_err(|_| RequestError::ConnectionLost)?;
    send.finish().map_err(|_| RequestError::ConnectionLost)?;
    match read_frame::<ServerFrame, _>(&mut recv).await {
        Ok(Some(answer)) => Ok(answer),
        Ok(None) | Err(FrameError::Io(_)) | Err(FrameError::Truncated) => {
            Err(RequestError::ConnectionLost)
        }
        Err(e) => Err(RequestError::Protocol(e.to_string())),
    }
}

/// One connection attempt, trusting an unknown server first if the config says to.
async fn establish(
    endpoint: &quinn::Endpoint,
    config: &ClientConfig,
    resume_after: Option<u64>,
) -> Result<Live, ConnectError> {
    let attempt = || {
        connect_once(
            endpoint,
            &config.server,
            &config.trust,
            &config.credentials,
            &config.client_name,
            resume_after,
            &config.alpn,
        )
    };
    match attempt().await {
        Err(ConnectError::UnknownServer {
            authority,
            fingerprint,
        }) if config.trust.accept_new => {
            tracing::info!(%authority, fingerprint = %fingerprint.pretty(), "trusting new server");
            config
                .trust
                .remember(&authority, fingerprint)
                .map_err(ConnectError::KnownServers)?;
            match config.trust.known_servers {
                Some(_) => attempt().await,
                None => {
                    // Nowhere to remember it: pin it for this connection only.
                    let mut once = config.trust.clone();
                    once.fingerprint = Some(fingerprint);
                    connect_once(
                        endpoint,
                        &config.server,
                        &once,
                        &config.credentials,
                        &config.client_name,
                        resume_after,
                        &config.alpn,
                    )
                    .await
                }
            }
        }
        other => other,
    }
}

/// Runs connections one after another until the user closes or a permanent error.
async fn supervise(inner: Arc<Inner>, mut live: Live) {
    loop {
        *inner.welcome.lock().unwrap_or_else(|e| e.into_inner()) = live.welcome.clone();
        let you = live.welcome.you.clone();
        inner.link.send_replace(LinkState::Up(live.conn.clone()));
        let _ = inner
            .events
            .send(Event::State(ConnState::Connected { you }));

        let (reason, mut delay) = run_connection(&inner, live).await;
        if inner.shutdown.is_cancelled() {
            return go_offline(&inner, "closed".into());
        }
        inner.link.send_replace(LinkState::Down);
        let mut reason = reason;
        let mut attempt = 0;
        live = loop {
            attempt += 1;
            let _ = inner.events.send(Event::State(ConnState::Reconnecting {
                attempt,
                delay,
                reason: reason.clone(),
            }));
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = inner.shutdown.cancelled() => return go_offline(&inner, "closed".into()),
            }
            let resume = match inner.last_seen.load(Ordering::SeqCst) {
                0 => None,
                seen => Some(seen),
            };
            match establish(&inner.endpoint, &inner.config, resume).await {
                Ok(live) => break live,
                Err(e) if e.is_permanent() => return go_offline(&inner, e.to_string()),
                Err(e) => {
                    reason = e.to_string();
                    let jitter = rand::rng().random_range(0.8..1.2);
                    delay = (delay * 2)
                        .clamp(Duration::from_millis(500), Duration::from_secs(30))
                        .mul_f64(jitter);
                }
            }
        };
    }
}

fn go_offline(inner: &Inner, reason: String) {
    inner.link.send_replace(LinkState::Offline(reason.clone()));
    let _ = inner
        .events
        .send(Event::State(ConnState::Offline { reason }));
}

/// Serves one connection until it closes; returns why and how soon to reconnect.
async fn run_connection(inner: &Arc<Inner>, live: Live) -> (String, Duration) {
    let conn = live.conn.clone();
    let mut tasks = JoinSet::new();
    tasks.spawn(read_deliveries(inner.clone(), conn.clone()));
    tasks.spawn(read_control(inner.clone(), live.control_recv));
    tasks.spawn(send_acks(inner.clone(), live.control_send));
    let closed = tokio::select! {
        e = conn.closed() => e,
        () = inner.shutdown.cancelled() => {
            conn.close(close::NORMAL.into(), b"bye");
            quinn::ConnectionError::LocallyClosed
        }
    };
    tasks.abort_all();
    let now = inner.reconnect_now.swap(false, Ordering::SeqCst);
    let (reason, delay) = describe_close(&closed);
    (reason, if now { Duration::ZERO } else { delay })
}

fn describe_close(err: &quinn::ConnectionError) -> (String, Duration) {
    match err {
        quinn::ConnectionError::ApplicationClosed(c) => {
            let text = String::from_utf8_lossy(&c.reason).into_owned();
            match u32::try_from(c.error_code.into_inner()).unwrap_or(u32::MAX) {
                close::SHUTDOWN => ("the server is shutting down".into(), Duration::from_secs(1)),
                close::QUEUE_OVERFLOW => ("fell behind; catching up".into(), Duration::ZERO),
                _ if text.is_empty() => (
                    "the connection was closed".into(),
                    Duration::from_millis(500),
                ),
                _ => (text, Duration::from_millis(500)),
            }
        }
        quinn::ConnectionError::TimedOut => (
            "the server stopped answering".into(),
            Duration::from_millis(500),
        ),
        other => (other.to_string(), Duration::from_millis(500)),
    }
}

/// Reads server-opened streams one after another, so messages are seen in the order sent.
async fn read_deliveries(inner: Arc<Inner>, conn: quinn::Connection) {
    while let Ok(mut stream) = conn.accept_uni().await {
        let frame = tokio::time::timeout(
            Duration::from_secs(30),
            read_frame::<ServerFrame, _>(&mut stream),
        )
        .await;
        match frame {
            Ok(Ok(Some(ServerFrame::Message(message)))) => {
                let previous = inner.last_seen.fetch_max(message.id, Ordering::SeqCst);
                if message.id > previous {
                    let _ = inner.events.send(Event::Message(message));
                }
            }
            Ok(Ok(other)) => tracing::warn!(?other, "unexpected frame on a delivery stream"),
            Ok(Err(e)) => tracing::warn!(cause = %e, "bad delivery stream"),
            Err(_) => tracing::warn!("delivery stream stalled; skipped"),
        }
    }
}

async fn read_control(inner: Arc<Inner>, mut recv: quinn::RecvStream) {
    loop {
        match read_frame::<ServerFrame, _>(&mut recv).await {
            Ok(Some(ServerFrame::Presence { user, online })) => {
                let _ = inner.events.send(Event::Presence { user, online });
            }
            Ok(Some(other)) => tracing::debug!(?other, "unexpected frame on the control stream"),
            Ok(None) | Err(_) => return,
        }
    }
}

/// Tells the server how far this client has received, at most four times a second.
async fn send_acks(inner: Arc<Inner>, mut control: quinn::SendStream) {
    let mut acked = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        let seen = inner.last_seen.load(Ordering::SeqCst);
        if seen > acked {
            if write_frame(&mut control, &ClientFrame::Ack { up_to: seen })
                .await
                .is_err()
            {
                return;
            }
            acked = seen;
        }
    }
}
