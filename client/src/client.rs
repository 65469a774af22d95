//! The client handle every front end uses, and the supervisor behind it: it serves one
//! connection at a time (through `session`), reconnects with backoff when it is lost and
//! catches up on what was missed. Connection state lives in `link`, file transfers in
//! [`crate::transfer`], the retry rules in `retry`.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use quicq_common::protocol::{
    Address, ChatMessage, ClientFrame, Limits, MAX_HISTORY_PAGE, ServerFrame, UserInfo, close,
};
use rand::Rng;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::ClientConfig;
use crate::connection::{ConnectError, Live, Welcome, connect_once, endpoint_for, resolve};
use crate::error::RequestError;
use crate::event::{ConnState, Emitter, Event, Events};
use crate::link::Link;
use crate::order::{Order, Place};
use crate::retry;
use crate::session::Session;
use crate::transfer::{self, TransferError, Transfers, UploadHandle};

/// How long a closing client waits for the server to store its last ack and close.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

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

/// The client's shared state; the supervisor and every [`Client`] clone hold it.
struct Inner {
    config: ClientConfig,
    endpoint: quinn::Endpoint,
    link: Arc<Link>,
    transfers: Arc<Transfers>,
    session: Arc<Session>,
    events: Emitter,
    shutdown: CancellationToken,
    /// Set by [`Client::reconnect`] so the supervisor reconnects without waiting.
    reconnect_now: AtomicBool,
    /// The order of the calls that change something (send, edit, recall, react, group
    /// changes), which they are applied in.
    order: Order,
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
        let (emitter, events) = Emitter::channel();
        let (control_out, control_queue) = mpsc::unbounded_channel();
        let link = Arc::new(Link::new(live.welcome.clone()));
        let transfers = Arc::new(Transfers::new(
            link.clone(),
            emitter.clone(),
            control_out.clone(),
            config.downloads.clone(),
            config.auto_download_max,
        ));
        let session =
            Arc::new(Session::new(emitter.clone(), transfers.clone(), control_out, control_queue));
        let inner = Arc::new(Inner {
            config,
            endpoint,
            link,
            transfers,
            session,
            events: emitter,
            shutdown: CancellationToken::new(),
            reconnect_now: AtomicBool::new(false),
            order: Order::new(),
        });
        tokio::spawn(supervise(inner.clone(), live));
        Ok((Client { inner }, events))
    }

    /// The latest `welcome` (nickname as registered, limits, groups).
    pub fn welcome(&self) -> Welcome {
        self.inner.link.welcome()
    }

    pub fn limits(&self) -> Limits {
        self.inner.link.limits()
    }

    /// Sends a frame that stores a message or an event (`send`, `edit`, `recall`, `react`, each
    /// with a fresh client id) and waits until the server has stored it. A lost connection does
    /// not lose it: the same frame (same client id) is sent again after reconnecting and the
    /// server stores it once.
    pub(crate) fn store(
        &self,
        frame: ClientFrame,
    ) -> impl Future<Output = Result<Sent, RequestError>> + Send + 'static {
        // Boxed: the change's state is about 6.5 KB, and tokio copies a task's whole future
        // when it is spawned and again when its output is stored.
        let changing = Box::pin(self.change(frame));
        async move {
            match changing.await? {
                ServerFrame::Sent { client_id, id, at } => Ok(Sent { id, at, client_id }),
                other => Err(RequestError::unexpected("sent", &other)),
            }
        }
    }

    /// Sends a frame that changes something and returns the answer, applied in the order of
    /// the calls (not of the awaits): the place is taken here, so a front end may make each call
    /// from its own task (each typed line, say) and they still take effect in order; sends stay
    /// pipelined (see `order`). A change refused and repeated (rate limited, and for frames
    /// with a client id a server failure) or caught by a lost connection is repeated in its
    /// place only if the server orders it; see `retry::change_retry`.
    pub(crate) fn change(
        &self,
        frame: ClientFrame,
    ) -> impl Future<Output = Result<ServerFrame, RequestError>> + Send + 'static {
        let client = self.clone();
        // Taken now, at the call.
        let place = self.inner.order.place();
        async move { client.change_in_place(frame, place).await }
    }

    async fn change_in_place(
        &self,
        frame: ClientFrame,
        mut place: Place,
    ) -> Result<ServerFrame, RequestError> {
        // `place` lives until this returns: a change the server does not order holds later ones
        // back until it is answered.
        let mut in_turn = place.turn(&frame).await;
        let mut failures = 0;
        loop {
            let answer = match in_turn.take() {
                Some(ticket) => self.inner.link.request_in_turn(&frame, ticket).await,
                None => self.request(&frame).await,
            };
            match answer {
                Err(e) => match retry::change_retry(&frame, &e, failures) {
                    Some((wait, counted)) => {
                        failures = counted;
                        tokio::time::sleep(wait).await;
                    }
                    None => return Err(e),
                },
                answer => return answer,
            }
        }
    }

    /// Queues a frame for the control stream if a connection is up, and drops it otherwise:
    /// for signals (`read`, `typing`) that are stale by the time a new connection is up.
    pub(crate) fn signal(&self, frame: ClientFrame) {
        if self.inner.link.current().is_some() {
            self.inner.session.queue_control(frame);
        }
    }

    /// Records the account's receipts setting as the server now has it.
    pub(crate) fn note_receipts(&self, on: bool) {
        self.inner.link.set_receipts(on);
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
        self.inner.link.request(frame).await
    }

    /// Starts sending a file to a user or group. Fails at once if the file cannot be read or is
    /// larger than the server accepts; afterwards progress and outcome arrive as
    /// [`Event::Transfer`] and through the handle. A lost connection resumes where it stopped.
    pub async fn send_file(&self, to: Address, path: &Path) -> Result<UploadHandle, TransferError> {
        transfer::start_upload(self.inner.transfers.clone(), to, path).await
    }

    /// Downloads the file a message announces into the download folder (see
    /// [`ClientConfig::downloads`]); does nothing if it is already downloading.
    pub fn download(&self, message: ChatMessage) {
        transfer::start_download(self.inner.transfers.clone(), message);
    }

    /// Stops a download and deletes its partial data.
    pub fn cancel_download(&self, file_id: u64) {
        self.inner.transfers.cancel_download(file_id);
    }

    /// Drops the current connection and reconnects at once (unacknowledged sends are repeated).
    pub fn reconnect(&self) {
        self.inner.reconnect_now.store(true, Ordering::SeqCst);
        if let Some(conn) = self.inner.link.current() {
            conn.close(close::NORMAL.into(), b"reconnecting");
        }
    }

    /// Moves the connection to a new UDP socket (a new local port), as after a network change
    /// or a NAT rebinding: the session goes on over the same connection (QUIC migration), with
    /// nothing lost and no new login. Returns the new local address.
    pub fn rebind(&self) -> std::io::Result<SocketAddr> {
        let old = self.inner.endpoint.local_addr()?;
        let bind = SocketAddr::new(old.ip(), 0);
        let socket = quicq_common::socket::bind(bind)?;
        let new = socket.local_addr()?;
        self.inner.endpoint.rebind(socket)?;
        Ok(new)
    }

    /// The local UDP address the connection uses.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.endpoint.local_addr()
    }

    /// Logs out: closes the connection and stops reconnecting.
    pub async fn close(&self) {
        self.inner.shutdown.cancel();
        if let Some(conn) = self.inner.link.current() {
            // See run_connection: the server closes once it has the last ack.
            let _ = tokio::time::timeout(CLOSE_WAIT, conn.closed()).await;
            conn.close(close::NORMAL.into(), b"bye");
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), self.inner.endpoint.wait_idle()).await;
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
        let you = live.welcome.you.clone();
        inner.link.up(live.conn.clone(), live.welcome.clone());
        inner.events.emit(Event::State(ConnState::Connected { you }));
        if inner.config.downloads.is_some() {
            tokio::spawn(transfer::fetch_pending(inner.transfers.clone()));
        }

        let (reason, mut delay) = run_connection(&inner, live).await;
        if inner.shutdown.is_cancelled() {
            return go_offline(&inner, "closed".into());
        }
        inner.link.down();
        let mut reason = reason;
        let mut attempt = 0;
        live = loop {
            attempt += 1;
            inner.events.emit(Event::State(ConnState::Reconnecting {
                attempt,
                delay,
                reason: reason.clone(),
            }));
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = inner.shutdown.cancelled() => return go_offline(&inner, "closed".into()),
            }
            let resume = inner.session.resume_after();
            match establish(&inner.endpoint, &inner.config, resume).await {
                Ok(live) => break live,
                Err(e) if e.is_permanent() => return go_offline(&inner, e.to_string()),
                Err(e) => {
                    reason = e.to_string();
                    delay = retry::next_backoff(delay, rand::rng().random_range(0.8..1.2));
                }
            }
        };
    }
}

fn go_offline(inner: &Inner, reason: String) {
    inner.link.offline(reason.clone());
    inner.events.emit(Event::State(ConnState::Offline { reason }));
}

/// Serves one connection until it closes; returns why and how soon to reconnect.
async fn run_connection(inner: &Arc<Inner>, live: Live) -> (String, Duration) {
    let conn = live.conn.clone();
    let mut tasks = JoinSet::new();
    tasks.spawn(inner.session.clone().read_deliveries(conn.clone()));
    tasks.spawn(inner.session.clone().read_control(live.control_recv));
    tasks.spawn(inner.session.clone().write_control(live.control_send, inner.shutdown.clone()));
    let closed = tokio::select! {
        e = conn.closed() => e,
        () = inner.shutdown.cancelled() => {
            // The control task sends a last ack and finishes its stream; the server closes the
            // connection once it has stored them. Give it a moment, then close anyway.
            let _ = tokio::time::timeout(CLOSE_WAIT, conn.closed()).await;
            conn.close(close::NORMAL.into(), b"bye");
            quinn::ConnectionError::LocallyClosed
        }
    };
    tasks.abort_all();
    let now = inner.reconnect_now.swap(false, Ordering::SeqCst);
    let (reason, delay) = retry::describe_close(&closed);
    (reason, if now { Duration::ZERO } else { delay })
}
