//! The network side of the app: a tokio runtime on its own thread that owns the QuicQ client,
//! takes [`Command`]s from the window and reports [`Update`]s back. The window never waits on
//! the network, whatever size the files moving are.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cancel_map::CancelMap;
use quicq_client::{
    Client, ClientConfig, ConnState, ConnectError, Event, HistoryPage, RequestError, TransferEvent,
    Trust, UploadHandle,
};
use quicq_common::protocol::{
    Address, ChatMessage, Conversation, ErrorCode, GroupChange, GroupInfo, MemberInfo,
    ReadPosition, UserInfo,
};
use quicq_common::{Fingerprint, JoinLink};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::problem::Problem;
use crate::saved_files::SavedFiles;

/// What the window asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    SignIn {
        server: String,
        nickname: String,
        password: String,
    },
    /// Answer to [`Update::TrustNew`].
    Trust(bool),
    /// A message; `local` is the window's name for it until the server gives it an id.
    Send {
        to: Address,
        text: String,
        local: u64,
    },
    /// [`Command::Send`] quoting message `reply_to` of the same conversation.
    Reply {
        to: Address,
        text: String,
        local: u64,
        reply_to: u64,
    },
    /// New text for one's own message.
    Edit {
        id: u64,
        text: String,
    },
    /// Delete one's own message for everyone.
    Recall {
        id: u64,
    },
    /// Set (or with `None` take back) one's reaction to a message.
    React {
        id: u64,
        emoji: Option<String>,
    },
    /// One has seen the conversation `with` up to message `up_to`.
    MarkRead {
        with: Address,
        up_to: u64,
    },
    /// One is typing to `to`.
    Typing {
        to: Address,
    },
    /// How far the others have read `with` (answered with [`Update::Receipts`]).
    Receipts {
        with: Address,
    },
    /// Ask where to, then copy a received file there.
    SaveFileAs {
        path: PathBuf,
    },
    /// Open a native file dialog, then send the chosen file.
    PickFile {
        to: Address,
    },
    SendFile {
        to: Address,
        path: PathBuf,
    },
    History {
        with: Address,
        before: Option<u64>,
    },
    CancelUpload(String),
    CancelDownload(u64),
    /// Stop the sign-in under way (it answers [`SignInError::Cancelled`]).
    CancelSignIn,
    /// After a session ended for good: try the same sign-in again.
    Retry,
    /// Close the connection and forget the session.
    SignOut,
    /// Open a saved file (or, with `folder`, the folder holding it) with the system's program.
    Open {
        path: PathBuf,
        folder: bool,
    },
    /// Download the file this message announces (one that was offered).
    Download(Box<ChatMessage>),
    /// Make a preview of the saved picture of file `file_id` ([`Update::Thumbnail`]).
    Thumbnail {
        file_id: u64,
        path: PathBuf,
    },
    /// Ask for a named group's members (answered by [`Update::Members`]).
    Members {
        group: String,
    },
    /// The link is down: reconnect at once instead of waiting out the pause.
    ReconnectNow,
    /// Create a named group with oneself as owner and these members.
    CreateGroup {
        name: String,
        members: Vec<String>,
    },
    /// Change a named group (add, remove, leave, rename, topic…).
    ChangeGroup {
        group: String,
        change: GroupChange,
    },
    /// Messages containing `text` in every conversation one can read.
    Search {
        text: String,
    },
    /// The settings page changed where files go or which are asked about (`None`: unchanged).
    /// The client library takes both when it connects, so they apply from the next sign-in
    /// (or reconnect from the offline banner) on.
    Configure {
        downloads: Option<PathBuf>,
        ask_above_bytes: Option<u64>,
    },
    /// Turn one's read receipts on or off (answered by [`Update::ReceiptsSetting`]).
    SetReceipts(bool),
    /// Open the native folder dialog ([`Update::FolderChosen`]).
    PickFolder,
}

/// Why signing in did not work, for the window to put in words.
#[derive(Debug, Clone, PartialEq)]
pub enum SignInError {
    MissingFields,
    BadAddress(String),
    WrongPassword,
    WeakPassword,
    RegistrationClosed,
    InvalidNickname(String),
    Unreachable(String),
    WrongProtocol,
    Untrusted,
    NotTrusted,
    /// The user cancelled while connecting.
    Cancelled,
    Other(String),
}

/// What happened, for the window.
// Mostly events carrying a message; boxing them would cost an allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Update {
    SignedIn {
        me: String,
        users: Vec<UserInfo>,
        /// From `welcome`: `everyone` and the named groups one is in.
        groups: Vec<GroupInfo>,
    },
    SignInFailed(SignInError),
    /// First contact: ask the user whether to trust this fingerprint.
    TrustNew {
        server: String,
        fingerprint: Fingerprint,
    },
    /// A known server shows another certificate: a blocking warning.
    TrustChanged {
        server: String,
        expected: Fingerprint,
        presented: Fingerprint,
    },
    Event(Event),
    Users(Vec<UserInfo>),
    History {
        with: Address,
        page: HistoryPage,
    },
    UploadStarted {
        transfer_id: String,
        name: String,
        size: u64,
    },
    /// The session ended for good (the client stopped reconnecting), and why, found out by
    /// trying once more. A changed certificate comes as [`Update::TrustChanged`] instead.
    SessionEnded(SignInError),
    /// The server stored the message sent as `local`, as message `id`.
    Sent {
        local: u64,
        id: u64,
    },
    /// The message sent as `local` was not stored.
    SendFailed {
        local: u64,
        why: SendFailure,
    },
    FileNotSent(Problem),
    /// The native dialog gave nothing: offer the typed path.
    NoFileChosen,
    /// Files this device saved in earlier runs, by file id: sent before [`Update::SignedIn`].
    SavedFiles(HashMap<u64, PathBuf>),
    /// [`Command::Open`] failed.
    CannotOpen {
        name: String,
        why: Problem,
    },
    /// The preview of file `file_id`'s picture, or `None` if it could not be made.
    Thumbnail {
        file_id: u64,
        pixels: Option<slint::SharedPixelBuffer<slint::Rgba8Pixel>>,
    },
    /// The server's windows for edits and recalls, in seconds (0: not said).
    Limits {
        edit_window_secs: u64,
        recall_window_secs: u64,
    },
    /// How far the others have read `with`.
    Receipts {
        with: Address,
        read: Vec<ReadPosition>,
    },
    /// An edit, recall or reaction was not stored.
    ChangeFailed {
        change: Change,
        why: SendFailure,
    },
    /// Where a received file was copied, or why it was not.
    SavedAs(Result<PathBuf, Problem>),
    /// After signing in: one's conversations, most recent first, each with its newest message
    /// (for the list's previews) when it could be fetched.
    Conversations(Vec<Summary>),
    /// A named group's members, with their roles and presence.
    Members {
        group: String,
        members: Vec<MemberInfo>,
    },
    /// The group asked for was created (under this spelling).
    GroupCreated {
        name: String,
    },
    /// A change to a group was made.
    GroupChanged {
        group: String,
        change: GroupChange,
    },
    /// A group was not created or changed: refused with this code, or (`None`) not connected
    /// or lost on the way.
    GroupRefused(Option<ErrorCode>),
    /// The answer to [`Command::Search`]: matches, newest first.
    SearchResults {
        text: String,
        messages: Vec<ChatMessage>,
        more: bool,
    },
    /// A search failed: refused with this code, or (`None`) not connected.
    SearchFailed {
        text: String,
        code: Option<ErrorCode>,
    },
    /// The account's read-receipts setting as the server has it: after signing in, and as the
    /// answer to [`Command::SetReceipts`].
    ReceiptsSetting(bool),
    /// [`Command::SetReceipts`] did not reach the server or was refused.
    ReceiptsNotChanged(SendFailure),
    /// The folder dialog's answer; `None`: nothing chosen (or no dialog on this system).
    FolderChosen(Option<PathBuf>),
}

/// A change to an earlier message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Edit,
    Recall,
    React,
}

/// Most search results asked for at once.
pub const SEARCH_RESULTS: u32 = 50;

/// One conversation of the server's list.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub conversation: Conversation,
    /// Its newest messages, newest first (empty if not fetched).
    pub newest: Vec<ChatMessage>,
}

/// Previews are fetched for this many of the most recent conversations at sign-in (one small
/// request each); older ones are ordered by id and get their preview when a message comes.
pub const PREVIEWS: usize = 50;

/// Why a message was not sent, for the window to put in its own words.
#[derive(Debug, Clone, PartialEq)]
pub enum SendFailure {
    /// Not signed in, or the client was closed.
    Offline,
    /// Refused, by the server or by the client's own checks (the same rules).
    Refused(ErrorCode),
    /// Anything else; the detail is logged, not shown.
    Other,
}

/// Where the client keeps things; tests point these at temporary directories.
#[derive(Debug, Clone)]
pub struct Options {
    pub known_servers: Option<PathBuf>,
    pub downloads: PathBuf,
    pub device: Option<String>,
    /// Trust CA-issued server certificates the operating system trusts (tests turn this off).
    pub use_system_roots: bool,
    /// The record of saved files ([`crate::saved_files`]); `None` keeps none.
    pub saved_files: Option<PathBuf>,
    /// Incoming files larger than this (bytes) wait for Download or Decline; `None`: all are
    /// downloaded by themselves.
    pub ask_above_bytes: Option<u64>,
}

/// Sends commands to the network thread.
pub trait Network {
    fn command(&self, command: Command);
}

/// The handle the window holds.
#[derive(Debug, Clone)]
pub struct Backend {
    tx: mpsc::UnboundedSender<Command>,
    /// The sign-in under way; cancelled from here, not through the queue, which waits behind
    /// the attempt.
    attempt: Attempt,
}

type Attempt = Arc<Mutex<CancellationToken>>;

impl Network for Backend {
    fn command(&self, command: Command) {
        match command {
            Command::CancelSignIn => lock(&self.attempt).cancel(),
            // A fresh token per requested attempt, made here so that a cancel arriving while
            // the worker is still busy before connecting cancels this attempt, not the last.
            Command::SignIn { .. } | Command::Trust(_) | Command::Retry => {
                *lock(&self.attempt) = CancellationToken::new();
            }
            _ => {}
        }
        let _ = self.tx.send(command);
    }
}

fn lock(attempt: &Attempt) -> std::sync::MutexGuard<'_, CancellationToken> {
    attempt.lock().unwrap_or_else(|e| e.into_inner())
}

type Notify = Arc<dyn Fn() + Send + Sync>;

impl Backend {
    /// Starts the network thread. `notify` is called after each update is queued, so the window
    /// can drain them on its own thread.
    pub fn start(
        options: Options,
        notify: impl Fn() + Send + Sync + 'static,
    ) -> (Backend, std::sync::mpsc::Receiver<Update>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (updates_tx, updates) = std::sync::mpsc::channel();
        let notify: Notify = Arc::new(notify);
        let attempt = Attempt::default();
        let worker_attempt = attempt.clone();
        std::thread::Builder::new()
            .name("quicq-network".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!(cause = %e, "cannot start the network runtime");
                        return;
                    }
                };
                let out = Out { tx: updates_tx, notify };
                runtime.block_on(Worker::new(options, out, worker_attempt).run(rx));
            })
            .expect("spawning a thread");
        (Backend { tx, attempt }, updates)
    }
}

#[derive(Clone)]
struct Out {
    tx: std::sync::mpsc::Sender<Update>,
    notify: Notify,
}

impl Out {
    fn send(&self, update: Update) {
        if self.tx.send(update).is_ok() {
            (self.notify)();
        }
    }
}

/// A sign-in waiting for the user's trust decision.
struct PendingTrust {
    config: ClientConfig,
    authority: String,
    fingerprint: Fingerprint,
}

struct Worker {
    options: Options,
    out: Out,
    client: Option<Client>,
    /// What signed in, to retry with after the session ended.
    last: Option<ClientConfig>,
    /// Cancelled when the user ends the session, so its end is not mistaken for a failure.
    session: CancellationToken,
    attempt: Attempt,
    pending: Option<PendingTrust>,
    uploads: CancelMap,
}

impl Worker {
    fn new(options: Options, out: Out, attempt: Attempt) -> Self {
        Worker {
            options,
            out,
            client: None,
            last: None,
            session: CancellationToken::new(),
            attempt,
            pending: None,
            uploads: CancelMap::default(),
        }
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        while let Some(command) = rx.recv().await {
            self.handle(command).await;
        }
        self.close().await;
    }

    async fn close(&mut self) {
        self.session.cancel();
        if let Some(client) = self.client.take() {
            client.close().await;
        }
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::SignIn { server, nickname, password } => {
                self.sign_in(server, nickname, password).await
            }
            Command::Trust(yes) => self.trust(yes).await,
            Command::Send { to, text, local } => match self.client.clone() {
                Some(client) => self.send(local, client.send(to, text)),
                None => self.out.send(Update::SendFailed { local, why: SendFailure::Offline }),
            },
            Command::Reply { to, text, local, reply_to } => match self.client.clone() {
                Some(client) => self.send(local, client.send_reply(to, text, reply_to)),
                None => self.out.send(Update::SendFailed { local, why: SendFailure::Offline }),
            },
            command @ (Command::Edit { .. }
            | Command::Recall { .. }
            | Command::React { .. }
            | Command::MarkRead { .. }
            | Command::Typing { .. }
            | Command::Receipts { .. }
            | Command::SaveFileAs { .. }) => self.message_life(command),
            Command::History { with, before } => {
                let (Some(client), out) = (self.client.clone(), self.out.clone()) else { return };
                tokio::spawn(async move {
                    match client.history(with.clone(), before, 50).await {
                        Ok(page) => out.send(Update::History { with, page }),
                        Err(e) => tracing::warn!(cause = %e, "history request failed"),
                    }
                });
            }
            Command::PickFile { to } => {
                let (Some(client), out, uploads) =
                    (self.client.clone(), self.out.clone(), self.uploads.clone())
                else {
                    return;
                };
                tokio::spawn(async move {
                    match rfd::AsyncFileDialog::new().pick_file().await {
                        Some(file) => {
                            start_upload(&client, &out, &uploads, to, file.path().to_owned()).await
                        }
                        None => out.send(Update::NoFileChosen),
                    }
                });
            }
            Command::SendFile { to, path } => {
                let (Some(client), out, uploads) =
                    (self.client.clone(), self.out.clone(), self.uploads.clone())
                else {
                    return;
                };
                tokio::spawn(async move { start_upload(&client, &out, &uploads, to, path).await });
            }
            Command::CancelUpload(id) => self.uploads.cancel(&id),
            Command::CancelDownload(id) => {
                if let Some(client) = &self.client {
                    client.cancel_download(id);
                }
            }
            // Done by `Backend::command` already.
            Command::CancelSignIn => {}
            Command::Retry => {
                if let Some(config) = self.last.clone() {
                    self.close().await;
                    self.connect(config).await;
                }
            }
            Command::SignOut => {
                self.close().await;
                self.last = None;
                self.pending = None;
            }
            Command::Download(message) => {
                if let Some(client) = &self.client {
                    client.download(*message);
                }
            }
            Command::Thumbnail { file_id, path } => {
                let out = self.out.clone();
                tokio::task::spawn_blocking(move || {
                    let pixels = crate::thumbnail::make(&path)
                        .map_err(|e| {
                            tracing::info!(path = %path.display(), cause = %e, "no preview");
                        })
                        .ok();
                    out.send(Update::Thumbnail { file_id, pixels });
                });
            }
            Command::Open { path, folder } => {
                let out = self.out.clone();
                tokio::task::spawn_blocking(move || {
                    if let Err(why) = open(&path, folder) {
                        let name = path.file_name().unwrap_or_default().to_string_lossy().into();
                        out.send(Update::CannotOpen { name, why });
                    }
                });
            }
            Command::Members { group } => {
                let (Some(client), out) = (self.client.clone(), self.out.clone()) else { return };
                tokio::spawn(async move { members(&client, &out, group).await });
            }
            Command::CreateGroup { name, members } => {
                let Some(client) = self.client.clone() else {
                    return self.out.send(Update::GroupRefused(None));
                };
                let (out, creating) = (self.out.clone(), client.create_group(name, members));
                tokio::spawn(async move {
                    match creating.await {
                        Ok(answer) => out.send(Update::GroupCreated { name: answer.group.name }),
                        Err(e) => out.send(group_refused(&e)),
                    }
                });
            }
            Command::ChangeGroup { group, change } => {
                let Some(client) = self.client.clone() else {
                    return self.out.send(Update::GroupRefused(None));
                };
                let out = self.out.clone();
                let changing = client.group_change(group.clone(), change.clone());
                tokio::spawn(async move {
                    match changing.await {
                        Ok(_) => out.send(Update::GroupChanged { group, change }),
                        Err(e) => out.send(group_refused(&e)),
                    }
                });
            }
            Command::Search { text } => {
                let Some(client) = self.client.clone() else {
                    return self.out.send(Update::SearchFailed { text, code: None });
                };
                let out = self.out.clone();
                tokio::spawn(async move {
                    match client.search(text.clone(), None, None, SEARCH_RESULTS).await {
                        Ok(page) => out.send(Update::SearchResults {
                            text,
                            messages: page.messages,
                            more: page.more,
                        }),
                        Err(e) => {
                            tracing::info!(cause = %e, "search failed");
                            let code = match e {
                                RequestError::Refused { code, .. } => Some(code),
                                _ => None,
                            };
                            out.send(Update::SearchFailed { text, code });
                        }
                    }
                });
            }
            Command::ReconnectNow => match &self.client {
                Some(client) => client.reconnect(),
                None => tracing::info!("nothing to reconnect"),
            },
            Command::Configure { downloads, ask_above_bytes } => {
                if let Some(downloads) = downloads {
                    self.options.downloads = downloads;
                }
                if let Some(bytes) = ask_above_bytes {
                    self.options.ask_above_bytes = Some(bytes);
                }
            }
            Command::SetReceipts(on) => {
                let Some(client) = self.client.clone() else {
                    return self.out.send(Update::ReceiptsNotChanged(SendFailure::Offline));
                };
                let out = self.out.clone();
                tokio::spawn(async move {
                    match client.set_receipts(on).await {
                        Ok(now) => out.send(Update::ReceiptsSetting(now)),
                        Err(e) => {
                            tracing::info!(cause = %e, "receipts setting not changed");
                            out.send(Update::ReceiptsNotChanged(send_failure(&e)));
                        }
                    }
                });
            }
            Command::PickFolder => {
                let out = self.out.clone();
                tokio::spawn(async move {
                    let folder = rfd::AsyncFileDialog::new().pick_folder().await;
                    out.send(Update::FolderChosen(folder.map(|f| f.path().to_owned())));
                });
            }
        }
    }

    async fn sign_in(&mut self, server: String, nickname: String, password: String) {
        if server.trim().is_empty() || nickname.trim().is_empty() || password.is_empty() {
            return self.out.send(Update::SignInFailed(SignInError::MissingFields));
        }
        let link: JoinLink = match server.trim().parse() {
            Ok(link) => link,
            Err(e) => {
                return self.out.send(Update::SignInFailed(SignInError::BadAddress(e.to_string())));
            }
        };
        self.close().await;
        let mut config = ClientConfig::new(link, nickname.trim(), password);
        config.client_name = concat!("quicq-ui ", env!("CARGO_PKG_VERSION")).into();
        config.device = self.options.device.clone();
        config.trust = Trust {
            known_servers: self.options.known_servers.clone(),
            fingerprint: None,
            ca: None,
            accept_new: false,
            system_roots: self.options.use_system_roots,
        };
        self.connect(config).await;
    }

    async fn connect(&mut self, mut config: ClientConfig) {
        // Here, not at sign-in, so a retry takes what the settings page changed meanwhile.
        config.downloads = Some(self.options.downloads.clone());
        config.auto_download_max = self.options.ask_above_bytes;
        let cancel = lock(&self.attempt).clone();
        let connected = tokio::select! {
            connected = Client::connect(config.clone()) => connected,
            () = cancel.cancelled() => {
                return self.out.send(Update::SignInFailed(SignInError::Cancelled));
            }
        };
        match connected {
            Ok((client, events)) => {
                self.last = Some(config.clone());
                self.signed_in(client, events, config).await
            }
            Err(ConnectError::UnknownServer { authority, fingerprint }) => {
                self.out.send(Update::TrustNew { server: authority.clone(), fingerprint });
                self.pending = Some(PendingTrust { config, authority, fingerprint });
            }
            Err(e) => self.out.send(failure(&config, &e, Update::SignInFailed)),
        }
    }

    async fn trust(&mut self, yes: bool) {
        let Some(pending) = self.pending.take() else { return };
        if !yes {
            return self.out.send(Update::SignInFailed(SignInError::NotTrusted));
        }
        let mut config = pending.config;
        if let Err(e) = config.trust.remember(&pending.authority, pending.fingerprint) {
            tracing::warn!(cause = %e, "cannot write the known-servers file");
        }
        // Pin what the user saw, so a different certificate on this attempt is still refused.
        config.trust.fingerprint = Some(pending.fingerprint);
        Box::pin(self.connect(config)).await;
    }

    async fn signed_in(
        &mut self,
        client: Client,
        mut events: quicq_client::Events,
        config: ClientConfig,
    ) {
        let welcome = client.welcome();
        let users = client.users().await.unwrap_or_default();
        let saved = self
            .options
            .saved_files
            .clone()
            .map(|path| SavedFiles::new(path, &config.server.authority(), &welcome.you));
        let known = match saved.clone() {
            Some(saved) => {
                tokio::task::spawn_blocking(move || saved.load()).await.unwrap_or_default()
            }
            None => HashMap::new(),
        };
        self.out.send(Update::SavedFiles(known));
        let groups = welcome.groups.clone();
        let receipts = welcome.receipts;
        self.out.send(Update::SignedIn { me: welcome.you, users, groups: welcome.groups });
        self.out.send(Update::ReceiptsSetting(receipts));
        self.out.send(Update::Limits {
            edit_window_secs: welcome.limits.edit_window_secs,
            recall_window_secs: welcome.limits.recall_window_secs,
        });
        tokio::spawn(overview(client.clone(), self.out.clone(), groups));
        let out = self.out.clone();
        let refresh = client.clone();
        self.session = CancellationToken::new();
        let session = self.session.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                // After a reconnect the list may have changed while we were away.
                if let Event::State(ConnState::Connected { .. }) = event
                    && let Ok(users) = refresh.users().await
                {
                    out.send(Update::Users(users));
                }
                let ended = match &event {
                    Event::State(ConnState::Offline { reason }) => Some(reason.clone()),
                    _ => None,
                };
                if let (Event::Transfer(TransferEvent::Saved { file_id, path }), Some(saved)) =
                    (&event, &saved)
                    && let Err(e) = saved.record(*file_id, path)
                {
                    tracing::warn!(cause = %e, "cannot record where a file was saved");
                }
                out.send(Update::Event(event));
                if let Some(reason) = ended
                    && !session.is_cancelled()
                {
                    tracing::warn!(%reason, "the session ended");
                    diagnose(&config, &out).await;
                }
            }
        });
        self.client = Some(client);
    }
}

/// The client gave up reconnecting and said why only in English words: one more attempt with
/// the same settings tells the window what happened, by kind. A changed certificate fails in
/// the handshake, before any password is sent.
async fn diagnose(config: &ClientConfig, out: &Out) {
    match Client::connect(config.clone()).await {
        Err(e) => out.send(failure(config, &e, Update::SessionEnded)),
        // It works again (the cause was passing after all): leave it to the user to retry.
        Ok((client, _)) => client.close().await,
    }
}

/// A failed connection as an update: a changed certificate (found through the known-servers
/// file or a pinned fingerprint) is the blocking warning, anything else an error in `wrap`.
fn failure(config: &ClientConfig, e: &ConnectError, wrap: fn(SignInError) -> Update) -> Update {
    match e {
        ConnectError::FingerprintChanged { authority, expected, presented, .. } => {
            Update::TrustChanged {
                server: authority.clone(),
                expected: *expected,
                presented: *presented,
            }
        }
        ConnectError::FingerprintMismatch { expected, presented } => Update::TrustChanged {
            server: config.server.authority(),
            expected: *expected,
            presented: *presented,
        },
        e => {
            tracing::warn!(cause = %e, "cannot sign in");
            wrap(describe_connect(e))
        }
    }
}

/// Opens `path`, or its folder, with the system's opener, waiting for the opener's verdict
/// (a missing file or program is then said, not only logged).
fn open(path: &Path, folder: bool) -> Result<(), Problem> {
    if !path.exists() {
        return Err(Problem::NoSuchFile);
    }
    let target = if folder { path.parent().unwrap_or(path) } else { path };
    open::that(target).map_err(|e| {
        tracing::warn!(path = %target.display(), cause = %e, "cannot open");
        Problem::NoOpener
    })
}

impl Worker {
    /// Waits for a message (or a reply) whose send was called in the order of the commands, so
    /// messages keep their order; the answer comes back as [`Update::Sent`] or
    /// [`Update::SendFailed`].
    fn send(
        &self,
        local: u64,
        sending: impl Future<Output = Result<quicq_client::Sent, RequestError>> + Send + 'static,
    ) {
        let out = self.out.clone();
        tokio::spawn(async move {
            match sending.await {
                Ok(sent) => out.send(Update::Sent { local, id: sent.id }),
                Err(e) => {
                    tracing::info!(cause = %e, "message not sent");
                    out.send(Update::SendFailed { local, why: send_failure(&e) });
                }
            }
        });
    }

    /// Changes to earlier messages, read positions, typing and saving a received file.
    fn message_life(&self, command: Command) {
        let out = self.out.clone();
        if let Command::SaveFileAs { path } = command {
            tokio::spawn(async move { out.send(Update::SavedAs(save_as(path).await)) });
            return;
        }
        let Some(client) = self.client.clone() else {
            if let Some(change) = change_of(&command) {
                out.send(Update::ChangeFailed { change, why: SendFailure::Offline });
            }
            return;
        };
        type Storing = std::pin::Pin<
            Box<dyn Future<Output = Result<quicq_client::Sent, RequestError>> + Send>,
        >;
        // Called here, in the order of the commands, so changes keep their place among sends.
        let (change, storing): (Change, Storing) = match command {
            Command::Edit { id, text } => (Change::Edit, Box::pin(client.edit(id, text))),
            Command::Recall { id } => (Change::Recall, Box::pin(client.recall(id))),
            Command::React { id, emoji } => (Change::React, Box::pin(client.react(id, emoji))),
            Command::MarkRead { with, up_to } => return client.mark_read(with, up_to),
            Command::Typing { to } => return client.typing(to),
            Command::Receipts { with } => {
                tokio::spawn(async move {
                    match client.receipts(with.clone()).await {
                        Ok(read) => out.send(Update::Receipts { with, read }),
                        Err(e) => tracing::info!(cause = %e, "receipts request failed"),
                    }
                });
                return;
            }
            _ => return,
        };
        tokio::spawn(async move {
            // Success comes as the stored event, like any message.
            if let Err(e) = storing.await {
                tracing::info!(cause = %e, ?change, "change not stored");
                out.send(Update::ChangeFailed { change, why: send_failure(&e) });
            }
        });
    }
}

fn change_of(command: &Command) -> Option<Change> {
    match command {
        Command::Edit { .. } => Some(Change::Edit),
        Command::Recall { .. } => Some(Change::Recall),
        Command::React { .. } => Some(Change::React),
        _ => None,
    }
}

/// Asks where to save a copy of the received file at `from`, and copies it there.
async fn save_as(from: PathBuf) -> Result<PathBuf, Problem> {
    let name = from.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let Some(to) = rfd::AsyncFileDialog::new().set_file_name(name).save_file().await else {
        return Err(Problem::Cancelled);
    };
    let to = to.path().to_owned();
    match tokio::fs::copy(&from, &to).await {
        Ok(_) => Ok(to),
        Err(e) => {
            tracing::warn!(from = %from.display(), to = %to.display(), cause = %e, "cannot copy");
            Err(Problem::of_io(&e))
        }
    }
}

/// What the conversation list needs after signing in: the conversations with their newest
/// message, and each named group's members. Failures leave the list as it is (and are logged).
async fn overview(client: Client, out: Out, groups: Vec<GroupInfo>) {
    match client.conversations().await {
        Ok(conversations) => {
            let mut summaries = Vec::with_capacity(conversations.len());
            for (i, conversation) in conversations.into_iter().enumerate() {
                // A few, as the newest may be an edit or a reaction, which has no preview.
                let newest = if i < PREVIEWS && conversation.last_id > 0 {
                    match client.history(conversation.with.clone(), None, 3).await {
                        Ok(page) => page.messages,
                        Err(e) => {
                            tracing::info!(cause = %e, "no preview");
                            Vec::new()
                        }
                    }
                } else {
                    Vec::new()
                };
                summaries.push(Summary { conversation, newest });
            }
            out.send(Update::Conversations(summaries));
        }
        Err(e) => tracing::warn!(cause = %e, "conversation list request failed"),
    }
    for group in groups.into_iter().filter(|g| g.name != quicq_common::protocol::EVERYONE) {
        members(&client, &out, group.name).await;
    }
}

async fn members(client: &Client, out: &Out, group: String) {
    match client.group_members(group.clone()).await {
        Ok(answer) => {
            out.send(Update::Members { group: answer.group.name, members: answer.members })
        }
        Err(e) => tracing::info!(cause = %e, %group, "group members request failed"),
    }
}

async fn start_upload(client: &Client, out: &Out, uploads: &CancelMap, to: Address, path: PathBuf) {
    match client.send_file(to, &path).await {
        Ok(upload) => {
            out.send(Update::UploadStarted {
                transfer_id: upload.transfer_id.clone(),
                name: upload.name.clone(),
                size: upload.size,
            });
            follow_upload(upload, uploads.clone());
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), cause = %e, "file not sent");
            let problem =
                if path.exists() { Problem::of_transfer(&e) } else { Problem::NoSuchFile };
            out.send(Update::FileNotSent(problem))
        }
    }
}

fn follow_upload(upload: UploadHandle, uploads: CancelMap) {
    let id = upload.transfer_id.clone();
    uploads.insert(id.clone(), upload.canceller());
    tokio::spawn(async move {
        // Outcomes reach the window as transfer events; this only tidies up.
        let _ = upload.finished().await;
        uploads.remove(&id);
    });
}

fn describe_connect(e: &ConnectError) -> SignInError {
    match e {
        ConnectError::Refused { code: ErrorCode::WrongPassword, .. } => SignInError::WrongPassword,
        ConnectError::Refused { code: ErrorCode::WeakPassword, .. } => SignInError::WeakPassword,
        ConnectError::Refused { code: ErrorCode::RegistrationClosed, .. } => {
            SignInError::RegistrationClosed
        }
        ConnectError::Refused { code: ErrorCode::InvalidNickname, message } => {
            SignInError::InvalidNickname(message.clone())
        }
        ConnectError::Unreachable { authority, .. } => SignInError::Unreachable(authority.clone()),
        ConnectError::Resolve { host, .. } | ConnectError::NoAddress(host) => {
            SignInError::Unreachable(host.clone())
        }
        ConnectError::WrongProtocol => SignInError::WrongProtocol,
        ConnectError::Untrusted(_) | ConnectError::FingerprintMismatch { .. } => {
            SignInError::Untrusted
        }
        other => SignInError::Other(other.to_string()),
    }
}

/// A refused group change, by its code; the server's words go to the log.
fn group_refused(e: &RequestError) -> Update {
    tracing::info!(cause = %e, "group change refused");
    match e {
        RequestError::Refused { code, .. } => Update::GroupRefused(Some(*code)),
        _ => Update::GroupRefused(None),
    }
}

fn send_failure(e: &RequestError) -> SendFailure {
    match e {
        RequestError::Refused { code, .. } => SendFailure::Refused(*code),
        RequestError::Offline(_) => SendFailure::Offline,
        _ => SendFailure::Other,
    }
}

/// Cancel tokens of running uploads, shared with the tasks that follow them.
mod cancel_map {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use tokio_util::sync::CancellationToken;

    #[derive(Debug, Clone, Default)]
    pub struct CancelMap(Arc<Mutex<HashMap<String, CancellationToken>>>);

    impl CancelMap {
        fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CancellationToken>> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }

        pub fn insert(&self, id: String, token: CancellationToken) {
            self.lock().insert(id, token);
        }

        pub fn remove(&self, id: &str) {
            self.lock().remove(id);
        }

        pub fn cancel(&self, id: &str) {
            if let Some(token) = self.lock().remove(id) {
                token.cancel();
            }
        }
    }
}
