//! The client handle every front end uses: requests, one stream of events, and a supervisor task
//! that reconnects with backoff and catches up on what was missed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
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
use crate::transfer::{self, TransferError, TransferEvent, UploadHandle, UploadSignal};
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
    /// A stable random id of this device, so each device of an account gets every file once.
    pub device: Option<String>,
    /// Download every incoming file into this folder; `None` downloads nothing by itself.
    pub downloads: Option<PathBuf>,
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
    /// Progress and outcomes of file uploads and downloads.
    Transfer(TransferEvent),
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
    Refused { code: ErrorCode, message: String, retry_after_ms: Option<u64> },
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

pub(crate) struct Inner {
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
    /// Running uploads, by transfer id, waiting for the server's verdicts.
    uploads: Mutex<HashMap<String, mpsc::UnboundedSender<UploadSignal>>>,
    /// Files being downloaded, with their cancel tokens.
    downloads: Mutex<HashMap<u64, CancellationToken>>,
    /// Downloads waiting for their file stream to arrive.
    incoming_files: Mutex<HashMap<u64, tokio::sync::oneshot::Sender<quinn::RecvStream>>>,
    /// Control frames to send (`file_done`); survives reconnects.
    control_out: mpsc::UnboundedSender<ClientFrame>,
    control_queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<ClientFrame>>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    pub(crate) fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    pub(crate) fn limits(&self) -> Limits {
        locked(&self.welcome).limits.clone()
    }

    pub(crate) fn uploads(
        &self,
    ) -> MutexGuard<'_, HashMap<String, mpsc::UnboundedSender<UploadSignal>>> {
        locked(&self.uploads)
    }

    pub(crate) fn incoming_files(
        &self,
    ) -> MutexGuard<'_, HashMap<u64, tokio::sync::oneshot::Sender<quinn::RecvStream>>> {
        locked(&self.incoming_files)
    }

    pub(crate) fn download_dir(&self) -> Option<PathBuf> {
        self.config.downloads.clone()
    }

    /// Registers a download; false if it is already running.
    pub(crate) fn begin_download(&self, file_id: u64) -> bool {
        let mut downloads = locked(&self.downloads);
        if downloads.contains_key(&file_id) {
            return false;
        }
        downloads.insert(file_id, CancellationToken::new());
        true
    }

    pub(crate) fn end_download(&self, file_id: u64) {
        locked(&self.downloads).remove(&file_id);
    }

    pub(crate) fn download_canceller(&self, file_id: u64) -> CancellationToken {
        locked(&self.downloads).entry(file_id).or_default().clone()
    }

    pub(crate) fn send_control(&self, frame: ClientFrame) {
        let _ = self.control_out.send(frame);
    }

    /// Waits for a live connection other than `dead`.
    pub(crate) async fn connection(
        &self,
        dead: Option<usize>,
    ) -> Result<quinn::Connection, RequestError> {
        let mut rx = self.link.subscribe();
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

    /// Waits until the connection with this id has been replaced.
    pub(crate) async fn wait_for_new_connection(&self, dead: usize) -> Result<(), RequestError> {
        self.connection(Some(dead)).await.map(|_| ())
    }

    /// One request on a given connection; error frames are returned as frames.
    pub(crate) async fn request_on(
        &self,
        conn: &quinn::Connection,
        frame: &ClientFrame,
    ) -> Result<ServerFrame, RequestError> {
        request_on(conn, frame).await
    }

    /// Sends one request frame on a new stream and returns the answer; retries on a new
    /// connection if this one is lost. Error frames come back as [`RequestError::Refused`].
    pub(crate) async fn request(&self, frame: &ClientFrame) -> Result<ServerFrame, RequestError> {
        let mut dead: Option<usize> = None;
        loop {
            let conn = self.connection(dead).await?;
            match request_on(&conn, frame).await {
                Ok(ServerFrame::Error { code, message, retry_after_ms }) => {
                    return Err(RequestError::Refused { code, message, retry_after_ms });
                }
                Ok(answer) => return Ok(answer),
                Err(RequestError::ConnectionLost) => dead = Some(conn.stable_id()),
                Err(e) => return Err(e),
            }
        }
    }
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
        let (control_out, control_queue) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            config,
            endpoint,
            link: watch::Sender::new(LinkState::Down),
            welcome: Mutex::new(live.welcome.clone()),
            last_seen: AtomicU64::new(0),
            events: events_tx,
            shutdown: CancellationToken::new(),
            reconnect_now: AtomicBool::new(false),
            uploads: Mutex::default(),
            downloads: Mutex::default(),
            incoming_files: Mutex::default(),
            control_out,
            control_queue: tokio::sync::Mutex::new(control_queue),
        });
        tokio::spawn(supervise(inner.clone(), live));
        Ok((Client { inner }, events))
    }

    /// The latest `welcome` (nickname as registered, limits, groups).
    pub fn welcome(&self) -> Welcome {
        locked(&self.inner.welcome).clone()
    }

    pub fn limits(&self) -> Limits {
        self.inner.limits()
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
                format!("message is longer than {} characters", limits.max_text_chars),
            ));
        }
        // Time-ordered, so the server's (account, client_id) index grows at one end instead of
        // touching a random page per message.
        let client_id = uuid::Uuid::now_v7().to_string();
        let frame = ClientFrame::Send { client_id: client_id.clone(), to, text };
        let mut failures = 0;
        loop {
            match self.request(&frame).await {
                Ok(ServerFrame::Sent { client_id, id, at }) => {
                    return Ok(Sent { id, at, client_id });
                }
                Ok(other) => {
                    return Err(RequestError::Protocol(format!("expected sent, got {other:?}")));
                }
                Err(RequestError::Refused {
                    code: ErrorCode::RateLimited, retry_after_ms, ..
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
        let frame = ClientFrame::History { with, before, limit: limit.clamp(1, MAX_HISTORY_PAGE) };
        match self.request(&frame).await? {
            ServerFrame::HistoryPage { messages, more, .. } => Ok(HistoryPage { messages, more }),
            other => Err(RequestError::Protocol(format!("expected history_page, got {other:?}"))),
        }
    }

    /// Every account and whether it is online, fetched page by page.
    pub async fn users(&self) -> Result<Vec<UserInfo>, RequestError> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            match self.request(&ClientFrame::Users { after: after.take() }).await? {
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
        self.inner.request(frame).await
    }

    /// Starts sending a file to a user or group. Fails at once if the file cannot be read or is
    /// larger than the server accepts; afterwards progress and outcome arrive as
    /// [`Event::Transfer`] and through the handle. A lost connection resumes where it stopped.
    pub async fn send_file(&self, to: Address, path: &Path) -> Result<UploadHandle, TransferError> {
        transfer::start_upload(self.inner.clone(), to, path).await
    }

    /// Downloads the file a message announces into the download folder (see
    /// [`ClientConfig::downloads`]); does nothing if it is already downloading.
    pub fn download(&self, message: ChatMessage) {
        transfer::start_download(self.inner.clone(), message);
    }

    /// Stops a download and deletes its partial data.
    pub fn cancel_download(&self, file_id: u64) {
        if let Some(token) = locked(&self.inner.downloads).get(&file_id) {
            token.cancel();
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
    RequestError::Refused { code, message: message.into(), retry_after_ms: None }
}

async fn request_on(
    conn: &quinn::Connection,
    frame: &ClientFrame,
) -> Result<ServerFrame, RequestError> {
    let (mut send, mut recv) = conn.open_bi().await.map_err(|_| RequestError::ConnectionLost)?;
    write_frame(&mut send, frame).await.map_err(|_| RequestError::ConnectionLost)?;
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
    let attempt = || connect_once(endpoint, config, &config.trust, resume_after);
    match attempt().await {
        Err(ConnectError::UnknownServer { authority, fingerprint }) if config.trust.accept_new => {
            tracing::info!(%authority, fingerprint = %fingerprint.pretty(), "trusting new server");
            config.trust.remember(&authority, fingerprint).map_err(ConnectError::KnownServers)?;
            match config.trust.known_servers {
                Some(_) => attempt().await,
                None => {
                    // Nowhere to remember it: pin it for this connection only.
                    let mut once = config.trust.clone();
                    once.fingerprint = Some(fingerprint);
                    connect_once(endpoint, config, &once, resume_after).await
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
        let _ = inner.events.send(Event::State(ConnState::Connected { you }));
        if inner.config.downloads.is_some() {
            tokio::spawn(fetch_pending_files(inner.clone()));
        }

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
                    let max = Duration::from_secs(30);
                    delay = (delay * 2).max(Duration::from_millis(500)).mul_f64(jitter).min(max);
                }
            }
        };
    }
}

fn go_offline(inner: &Inner, reason: String) {
    inner.link.send_replace(LinkState::Offline(reason.clone()));
    let _ = inner.events.send(Event::State(ConnState::Offline { reason }));
}

/// Serves one connection until it closes; returns why and how soon to reconnect.
async fn run_connection(inner: &Arc<Inner>, live: Live) -> (String, Duration) {
    let conn = live.conn.clone();
    let mut tasks = JoinSet::new();
    tasks.spawn(read_deliveries(inner.clone(), conn.clone()));
    tasks.spawn(read_control(inner.clone(), live.control_recv));
    tasks.spawn(write_control(inner.clone(), live.control_send));
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
                _ if text.is_empty() => {
                    ("the connection was closed".into(), Duration::from_millis(500))
                }
                _ => (text, Duration::from_millis(500)),
            }
        }
        quinn::ConnectionError::TimedOut => {
            ("the server stopped answering".into(), Duration::from_millis(500))
        }
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
                    let own_upload = message
                        .file
                        .as_ref()
                        .is_some_and(|f| inner.uploads().contains_key(&f.transfer_id));
                    if message.file.is_some() && !own_upload && inner.config.downloads.is_some() {
                        transfer::start_download(inner.clone(), message.clone());
                    }
                    let _ = inner.events.send(Event::Message(message));
                }
            }
            Ok(Ok(Some(header @ ServerFrame::File { .. }))) => {
                transfer::route_file_stream(&inner, header, stream);
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
            Ok(Some(ServerFrame::Presence { online, offline })) => {
                let changes = online.into_iter().map(|user| (user, true));
                for (user, online) in changes.chain(offline.into_iter().map(|user| (user, false))) {
                    let _ = inner.events.send(Event::Presence { user, online });
                }
            }
            Ok(Some(ServerFrame::FileAccepted { transfer_id, file_id, .. })) => {
                signal_upload(&inner, &transfer_id, UploadSignal::Accepted(file_id));
            }
            Ok(Some(ServerFrame::FileComplete { transfer_id, file_id, offline })) => {
                signal_upload(&inner, &transfer_id, UploadSignal::Complete { file_id, offline });
            }
            Ok(Some(ServerFrame::FileRejected { transfer_id, code, message, .. })) => {
                signal_upload(&inner, &transfer_id, UploadSignal::Rejected { code, message });
            }
            Ok(Some(ServerFrame::FileDelivered { file_id, to })) => {
                inner.emit(Event::Transfer(TransferEvent::Delivered { file_id, to }));
            }
            Ok(Some(ServerFrame::FileGone { file_id, .. })) => {
                // A running download learns it from its stream; stop one still waiting.
                if let Some(token) = locked(&inner.downloads).get(&file_id) {
                    token.cancel();
                }
            }
            Ok(Some(other)) => tracing::debug!(?other, "unexpected frame on the control stream"),
            Ok(None) | Err(_) => return,
        }
    }
}

fn signal_upload(inner: &Inner, transfer_id: &str, signal: UploadSignal) {
    if let Some(tx) = inner.uploads().get(transfer_id) {
        let _ = tx.send(signal);
    }
}

/// Downloads what this device has not finished yet (after a restart or an interruption).
async fn fetch_pending_files(inner: Arc<Inner>) {
    match inner.request(&ClientFrame::PendingFiles {}).await {
        Ok(ServerFrame::FileList { messages }) => {
            for message in messages {
                transfer::start_download(inner.clone(), message);
            }
        }
        Ok(other) => tracing::warn!(?other, "unexpected answer to pending_files"),
        Err(e) => tracing::warn!(cause = %e, "cannot list pending files"),
    }
}

/// Writes the control stream: how far this client has received (at most four times a second)
/// and queued frames such as `file_done`.
async fn write_control(inner: Arc<Inner>, mut control: quinn::SendStream) {
    let mut queue = inner.control_queue.lock().await;
    let mut acked = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        let frame = tokio::select! {
            _ = tick.tick() => {
                let seen = inner.last_seen.load(Ordering::SeqCst);
                if seen <= acked {
                    continue;
                }
                acked = seen;
                ClientFrame::Ack { up_to: seen }
            }
            Some(frame) = queue.recv() => frame,
        };
        if write_frame(&mut control, &frame).await.is_err() {
            if matches!(frame, ClientFrame::FileDone { .. }) {
                // Keep it for the next connection.
                let _ = inner.control_out.send(frame);
            }
            return;
        }
    }
}
