//! The QuicQ wire protocol, version [`PROTOCOL_VERSION`]: every frame either side can send, and
//! every limit both sides check.
//!
//! # Flow of a connection
//! 1. The client connects with ALPN [`ALPN`] and opens its first bidirectional stream, the
//!    *control stream*. It sends [`ClientFrame::Hello`]; the server answers
//!    [`ServerFrame::Welcome`] or [`ServerFrame::Error`] (and then closes the connection).
//! 2. After `welcome` the server pushes [`ServerFrame::Presence`] batches on the control stream, and the
//!    client may send [`ClientFrame::Ack`] on it to record how far it has received.
//! 3. Every request (send, history, users) uses a new bidirectional stream: one request frame,
//!    FIN; one response frame, FIN.
//! 4. The server delivers every chat message on a new unidirectional stream it opens: one
//!    [`ServerFrame::Message`] frame, FIN.
//!
//! `docs/protocol.md` is the normative description; keep the two in step.

use serde::{Deserialize, Serialize};

/// TLS application protocol name. A client offering anything else fails the handshake.
pub const ALPN: &[u8] = b"quicq/1";
/// Version carried in `hello`; the server refuses any other with `unsupported_version`.
pub const PROTOCOL_VERSION: u32 = 3;
/// UDP port the server listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 7373;
/// The built-in group that every account belongs to.
pub const EVERYONE: &str = "everyone";

/// Largest frame body (the JSON object) either side accepts, in bytes.
pub const MAX_FRAME_LEN: usize = 64 * 1024;
/// Default longest chat text, in Unicode scalar values.
pub const DEFAULT_MAX_TEXT_CHARS: u32 = 4000;
/// Longest client-chosen message id, in bytes.
pub const MAX_CLIENT_ID_LEN: usize = 64;
/// Longest password accepted, in bytes (Argon2 input is bounded to keep hashing cheap).
pub const MAX_PASSWORD_LEN: usize = 1024;
/// Shortest password accepted when registering, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Largest page a history request may ask for.
pub const MAX_HISTORY_PAGE: u32 = 200;
/// Accounts per `user_list` page (256 names of at most 32 characters stay well under a frame).
pub const USERS_PAGE: usize = 256;
/// Most names in one `presence` frame (both lists together); a 32-character nickname takes at
/// most 128 bytes, so a frame stays well under [`MAX_FRAME_LEN`].
pub const MAX_PRESENCE_NAMES: usize = 256;
/// Longest transfer id or device id, in bytes.
pub const MAX_TRANSFER_ID_LEN: usize = 64;
/// Longest invite code, in bytes.
pub const MAX_INVITE_LEN: usize = 64;
/// Longest file name the server keeps, in bytes; longer names are cut at a character boundary
/// (receivers sanitise names anyway), so every frame that carries one stays small.
pub const MAX_FILE_NAME_BYTES: usize = 1024;
/// Most file messages in one `file_list` answer; a client asks again after finishing them.
pub const PENDING_FILES_PAGE: usize = 100;
/// Most names in `file_complete.offline`.
pub const MAX_OFFLINE_NAMES: usize = 100;
/// How long a request stream may take to deliver its one frame before `request_timeout`.
pub const REQUEST_TIMEOUT_SECS: u64 = 30;
/// How long an upload stream may take to deliver its header before it is stopped.
pub const UPLOAD_HEADER_TIMEOUT_SECS: u64 = 30;
/// Client ids starting with this are reserved: the server gives a file's message the client id
/// `file:<transfer_id>`, so a `send` may not use it.
pub const FILE_CLIENT_ID_PREFIX: &str = "file:";
/// Client ids starting with this are reserved for the events the server stores on its own
/// (membership changes), so a client may not use it.
pub const EVENT_CLIENT_ID_PREFIX: &str = "event:";
/// Most characters of a quoted message's text carried in [`Quote::text`].
pub const QUOTE_CHARS: usize = 100;
/// Longest reaction, in bytes: one emoji, possibly with modifiers and joiners.
pub const MAX_EMOJI_BYTES: usize = 32;
/// Most messages in one `search` answer.
pub const MAX_SEARCH_PAGE: u32 = 100;
/// How long a `typing` indicator lasts unless renewed, in milliseconds.
pub const TYPING_FOR_MS: u64 = 6000;

/// Who a message is for, and a conversation's name: one user, or a group ([`EVERYONE`] or a
/// named group). Names compare by their nickname key (case-folded).
///
/// Encoded as `{"user": "alice"}` or `{"group": "everyone"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Address {
    User(String),
    Group(String),
}

impl Address {
    pub fn everyone() -> Self {
        Address::Group(EVERYONE.to_owned())
    }
}

/// A placeholder (the `everyone` group) so structs holding an address can derive `Default`.
impl Default for Address {
    fn default() -> Self {
        Address::everyone()
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::User(name) => write!(f, "{name}"),
            Address::Group(name) => write!(f, "#{name}"),
        }
    }
}

/// Frames a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(ClientFrameType),
    doc = "The `type` of a client frame.",
    derive(strum::EnumIter, strum::IntoStaticStr),
    strum(serialize_all = "snake_case")
)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientFrame {
    /// First frame on the control stream: log in, or register a free nickname.
    Hello {
        /// Must equal [`PROTOCOL_VERSION`].
        version: u32,
        nickname: String,
        password: String,
        /// Free text naming the client program, for the server's logs.
        client: String,
        /// Highest message id this client already holds. Absent for a fresh device: the server
        /// then resumes from the account's stored delivery position.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume_after: Option<u64>,
        /// A stable random id for this device (at most 64 bytes), so each of an account's devices
        /// gets every file once. Absent: all such sessions count as one device.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<String>,
        /// An invite code, to register a free nickname on a server whose registration needs
        /// one (at most [`MAX_INVITE_LEN`] bytes). Ignored for existing accounts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        invite: Option<String>,
    },
    /// On the control stream: every message with id up to `up_to` has reached the user; the
    /// server stores it as the account's delivery position.
    Ack { up_to: u64 },
    /// On a request stream: send a chat message.
    Send {
        /// Chosen by the client, unique per account (a UUID); re-sending the same id after a
        /// reconnect is answered with the original `sent` and stores nothing new.
        client_id: String,
        to: Address,
        text: String,
        /// The id of a message of the same conversation this one answers (quotes).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<u64>,
    },
    /// On a request stream: replace the text of one's own message. Answered with `sent` for the
    /// stored `edited` event.
    Edit { client_id: String, id: u64, text: String },
    /// On a request stream: delete one's own message for everyone, within the recall window.
    /// Answered with `sent` for the stored `recalled` event.
    Recall { client_id: String, id: u64 },
    /// On a request stream: set (or with `emoji` absent, clear) one's reaction to a message.
    /// Answered with `sent` for the stored `reacted` event.
    React {
        client_id: String,
        id: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        emoji: Option<String>,
    },
    /// On a request stream: messages containing `text` in the conversations one belongs to
    /// (or only in `with`), newest first.
    Search {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        with: Option<Address>,
        /// Only messages with an id below this one; absent for the newest.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<u64>,
        /// At most this many (1 to [`MAX_SEARCH_PAGE`]).
        limit: u32,
    },
    /// On a request stream: create a named group with oneself as owner and `members` added.
    /// Answered with `group_members`.
    GroupCreate {
        name: String,
        #[serde(default)]
        members: Vec<String>,
    },
    /// On a request stream: change a named group. Answered with `done`.
    Group {
        group: String,
        #[serde(flatten)]
        change: GroupChange,
    },
    /// On a request stream: a group's members (only for members). Answered with `group_members`.
    GroupMembers { group: String },
    /// On a request stream: the groups one is in. Answered with `group_list`.
    Groups {},
    /// On a request stream: who has read how far in a conversation. Answered with `receipts`.
    Receipts { with: Address },
    /// On a request stream: one's conversations with their unread counts, most recent first.
    /// Answered with `conversation_list`.
    Conversations {},
    /// On a request stream: change one's settings (absent fields stay as they are). Answered
    /// with `settings`, the settings now in force.
    Settings {
        /// Share read receipts (and see others'). On by default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        receipts: Option<bool>,
    },
    /// On the control stream: this user has read the conversation `with` up to message `up_to`.
    Read { with: Address, up_to: u64 },
    /// On the control stream: this user is typing to `to`. Send again at most every few
    /// seconds while typing continues; it expires by itself after [`TYPING_FOR_MS`].
    Typing { to: Address },
    /// On a request stream: one page of a conversation, newest first.
    History {
        with: Address,
        /// Only messages with an id below this one; absent for the newest page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<u64>,
        /// At most this many (1 to [`MAX_HISTORY_PAGE`]).
        limit: u32,
    },
    /// First frame of a client-opened unidirectional stream: a file upload. Exactly
    /// `size - offset` raw bytes follow, then FIN.
    Upload {
        /// Chosen by the client, unique per account (a UUID); names the transfer across
        /// reconnects.
        transfer_id: String,
        to: Address,
        /// As the sender named it; receivers must sanitise it before saving.
        name: String,
        size: u64,
        /// BLAKE3-256 of the whole file, 64 lower-case hex digits.
        blake3: String,
        /// Bytes the server already holds (0 for a new upload; see `upload_status`).
        #[serde(default)]
        offset: u64,
    },
    /// On a request stream: how much of an upload the server holds, to resume it.
    UploadStatus { transfer_id: String },
    /// On a request stream: send me file `file_id` from byte `offset` on a new unidirectional
    /// stream.
    Download {
        file_id: u64,
        #[serde(default)]
        offset: u64,
    },
    /// On a request stream: files for this device that it has not yet finished, oldest first.
    PendingFiles {},
    /// On the control stream: this device is done with a file (saved it, or declined it).
    FileDone { file_id: u64, saved: bool },
    /// On a request stream: one page of accounts, ordered by nickname key.
    Users {
        /// Only accounts whose key sorts after this name's key; absent for the first page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
    },
}

/// Frames the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(ServerFrameType),
    doc = "The `type` of a server frame.",
    derive(strum::EnumIter, strum::IntoStaticStr),
    strum(serialize_all = "snake_case")
)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
// Frames live only between the wire and a handler; boxing the large message would cost an
// allocation per delivery for nothing.
#[allow(clippy::large_enum_variant)]
pub enum ServerFrame {
    /// Answer to a successful `hello`.
    Welcome {
        /// The account's nickname as registered (its canonical spelling).
        you: String,
        /// Server software version, e.g. `quicq-server 0.1.0`.
        server: String,
        /// True when this `hello` created the account.
        registered: bool,
        /// The groups this account is in. The user list is not here (it can be larger than a
        /// frame); fetch it with `users`.
        groups: Vec<GroupInfo>,
        limits: Limits,
        /// One's settings (see `settings`).
        #[serde(default)]
        receipts: bool,
    },
    /// A request failed; on the control stream before `welcome` the connection closes after it.
    Error {
        code: ErrorCode,
        message: String,
        /// For `rate_limited`: milliseconds until a retry can succeed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    /// Control stream: accounts that came online (first session) or went offline (last
    /// session) since the previous `presence`, each in its latest state; at most
    /// [`MAX_PRESENCE_NAMES`] names in all.
    Presence { online: Vec<String>, offline: Vec<String> },
    /// Answer to `send`, `edit`, `recall` and `react`: the message (or event) is stored durably.
    Sent { client_id: String, id: u64, at: i64 },
    /// Answer to `history`.
    HistoryPage {
        with: Address,
        /// Newest first. May hold fewer than `limit` so the frame stays under the size limit.
        messages: Vec<ChatMessage>,
        /// True when older messages exist before the last one in this page.
        more: bool,
    },
    /// Answer to `users`: at most [`USERS_PAGE`] accounts.
    UserList {
        users: Vec<UserInfo>,
        /// True when more accounts follow; ask again with `after` = the last name.
        more: bool,
    },
    /// Delivery of one chat message, alone on a server-opened unidirectional stream.
    Message(ChatMessage),
    /// Answer to `upload_status`. `file_id` is absent when the server has no such transfer.
    UploadState {
        transfer_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file_id: Option<u64>,
        received: u64,
        /// True once every byte arrived and the hash matched; nothing more to send.
        #[serde(default)]
        complete: bool,
    },
    /// Answer to `download`: the data follows on a server-opened unidirectional stream.
    DownloadStarted { file_id: u64, offset: u64 },
    /// Answer to `pending_files`: file messages this device should still download.
    FileList { messages: Vec<ChatMessage> },
    /// First frame of a server-opened unidirectional stream carrying file data: the bytes
    /// `offset..size` follow, then FIN.
    File {
        file_id: u64,
        /// The chat message announcing the file.
        message_id: u64,
        from: String,
        to: Address,
        name: String,
        size: u64,
        blake3: String,
        at: i64,
        offset: u64,
    },
    /// Control stream, to the uploader's sessions: the upload header was accepted.
    FileAccepted { transfer_id: String, file_id: u64, message_id: u64 },
    /// Control stream, to the uploader's sessions: the upload failed or was refused.
    FileRejected {
        transfer_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file_id: Option<u64>,
        code: ErrorCode,
        message: String,
    },
    /// Control stream, to the uploader's sessions: every byte arrived and the hash matched.
    /// `offline` lists recipients who will get it when they next sign in.
    FileComplete { transfer_id: String, file_id: u64, offline: Vec<String> },
    /// Control stream, to the uploader's sessions: a recipient saved the file.
    FileDelivered { file_id: u64, to: String },
    /// Control stream, to recipients: the file will never complete (upload cancelled or
    /// failed, recalled, or retention ended).
    FileGone { file_id: u64, code: ErrorCode, message: String },
    /// Answer to a group change: it is stored as the event message `id` (delivered like any
    /// message to every member, the changed member included).
    Done { id: u64 },
    /// Answer to `group_create` and `group_members`.
    GroupMembers { group: GroupInfo, members: Vec<MemberInfo> },
    /// Answer to `groups`.
    GroupList { groups: Vec<GroupInfo> },
    /// Answer to `search`.
    SearchResults {
        messages: Vec<ChatMessage>,
        /// True when older matches exist; ask again with `before` = the last id.
        more: bool,
    },
    /// Answer to `receipts`: each other member's read position, for members who share receipts.
    /// Empty when oneself has receipts off or the group is larger than `receipts_max_members`.
    Receipts { with: Address, read: Vec<ReadPosition> },
    /// Answer to `conversations`.
    ConversationList { conversations: Vec<Conversation> },
    /// Answer to `settings`, and in `welcome`.
    Settings { receipts: bool },
    /// Control stream: `by` has read the conversation `with` (named as the receiver sees it)
    /// up to `up_to`. Also sent to `by`'s own other sessions, so unread counts agree.
    Read { by: String, with: Address, up_to: u64 },
    /// Control stream: `from` is typing in the conversation `with` (named as the receiver sees
    /// it); forget it after `for_ms` unless renewed.
    Typing { from: String, with: Address, for_ms: u64 },
}

/// A change to a named group, in `group` requests: `{"type":"group","group":"rust",
/// "change":"add","user":"bob"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum GroupChange {
    /// Owner or admin: add an account as a member.
    Add { user: String },
    /// Owner: anyone but oneself; admin: plain members.
    Remove { user: String },
    /// Anyone: leave. An owner who leaves hands ownership to the longest-standing admin, or else
    /// member; the last member leaving deletes the group.
    Leave {},
    /// Owner only: make a member `admin` or `member`, or hand over ownership with `owner` (the
    /// old owner becomes an admin).
    Role { user: String, role: Role },
    /// Owner or admin.
    Rename { name: String },
    /// Owner or admin; empty clears it.
    Topic { topic: String },
    /// Owner only: delete the group, its messages and its files.
    Delete {},
}

/// A member's standing in a named group; ordered from most to least rights.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    #[default]
    Member,
}

/// A stored chat message as delivered and as found in history.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Server-assigned, strictly increasing across the whole server.
    pub id: u64,
    pub from: String,
    pub to: Address,
    /// Empty for a file message.
    pub text: String,
    /// Milliseconds since the Unix epoch, UTC, when the server stored it.
    pub at: i64,
    /// Present when the message announces a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileInfo>,
    /// The message this one answers. (Boxed, like `event`: rarely there, and a message is moved
    /// several times between the wire and a front end; inline they tripled its size.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Box<Quote>>,
    /// When the text was last edited, in ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<i64>,
    /// The sender recalled it: text and file are gone.
    #[serde(default, skip_serializing_if = "is_false")]
    pub recalled: bool,
    /// Reactions, in history pages and search results only (live, they arrive as `reacted`
    /// events).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// Present when this is an event rather than something a person wrote: a membership change
    /// or a change to an earlier message. `text` is empty then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Box<Event>>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Enough of a quoted message to show it without fetching it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Quote {
    pub id: u64,
    pub from: String,
    /// The first [`QUOTE_CHARS`] characters of its text (empty for a file or a recalled message).
    pub text: String,
    /// For a file message, the file's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub recalled: bool,
}

/// One emoji and who reacted with it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Reaction {
    pub emoji: String,
    pub users: Vec<String>,
}

/// What an event message records. The actor is the message's `from`; the conversation is its
/// `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// `from` created the group, named `name`.
    Created { name: String },
    /// `from` added `user`.
    Added { user: String },
    /// `from` left.
    Left {},
    /// `from` removed `user`.
    Removed { user: String },
    /// `from` renamed the group from `old` to `name`.
    Renamed { name: String, old: String },
    /// `from` set the topic (empty: cleared).
    Topic { topic: String },
    /// `user` now has `role` (set by `from`, or by the server when an owner left).
    Role { user: String, role: Role },
    /// `from` deleted the group: its members are gone and its history with it.
    Deleted {},
    /// `from` changed the text of message `id` to `text`.
    Edited { id: u64, text: String },
    /// `from` recalled message `id`.
    Recalled { id: u64 },
    /// `from` set (or with `emoji` absent, cleared) a reaction to message `id`.
    Reacted {
        id: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        emoji: Option<String>,
    },
    /// An event kind this build does not know: a newer server's. Ignore it.
    #[serde(other)]
    Unknown,
}

impl Event {
    /// The earlier message this event changes, for events that change one.
    pub fn applies_to(&self) -> Option<u64> {
        match self {
            Event::Edited { id, .. } | Event::Recalled { id } | Event::Reacted { id, .. } => {
                Some(*id)
            }
            _ => None,
        }
    }
}

/// The file a message announces; fetch its bytes with `download`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    pub id: u64,
    pub name: String,
    pub size: u64,
    /// BLAKE3-256, 64 lower-case hex digits.
    pub blake3: String,
    /// The uploader's transfer id, so the uploading device recognises its own file.
    pub transfer_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub name: String,
    pub online: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GroupInfo {
    pub name: String,
    /// How many accounts are members.
    pub members: u64,
    /// How many members are online now.
    #[serde(default)]
    pub online: u64,
    #[serde(default)]
    pub topic: String,
    /// One's own role (`member` in `everyone`).
    #[serde(default)]
    pub role: Role,
}

/// One member of a named group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub name: String,
    pub role: Role,
    pub online: bool,
}

/// How far one member has read a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadPosition {
    pub user: String,
    pub up_to: u64,
}

/// One conversation in `conversation_list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub with: Address,
    /// The newest message's id (0 when there is none).
    pub last_id: u64,
    /// One's own read position.
    pub read_up_to: u64,
    /// Messages from others after `read_up_to`, counted up to [`MAX_UNREAD_COUNT`].
    pub unread: u32,
}

/// Most conversations in one `conversation_list` (the most recent), so it fits one frame.
pub const MAX_CONVERSATIONS: usize = 250;
/// Unread counts stop here; a client shows "999+".
pub const MAX_UNREAD_COUNT: u32 = 999;

/// What the server allows, sent in `welcome` so a client can check before it sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub max_frame_bytes: u32,
    pub max_text_chars: u32,
    /// Largest file an upload may declare.
    pub max_file_bytes: u64,
    /// How long the server keeps a file for recipients who have not downloaded it, in seconds.
    #[serde(default)]
    pub file_retention_secs: u64,
    /// Sustained messages per second per account.
    pub messages_per_second: u32,
    /// Messages an account may send at once.
    pub message_burst: u32,
    /// Messages an account may save up while quiet and send faster than the sustained rate.
    #[serde(default)]
    pub message_backlog: u32,
    /// The rate, per second, at which saved-up messages may be sent.
    #[serde(default)]
    pub backlog_messages_per_second: u32,
    pub max_history_page: u32,
    /// Concurrent request streams a connection may have open.
    pub max_concurrent_requests: u32,
    /// Named groups an account may be a member of.
    #[serde(default)]
    pub max_groups_per_user: u32,
    /// Members a named group may have.
    #[serde(default)]
    pub max_group_members: u32,
    /// Longest group name, in characters.
    #[serde(default)]
    pub max_group_name_chars: u32,
    /// Longest group topic, in characters.
    #[serde(default)]
    pub max_topic_chars: u32,
    /// How long after sending a message its sender may still edit it, in seconds.
    #[serde(default)]
    pub edit_window_secs: u64,
    /// How long after sending a message its sender may still recall it, in seconds.
    #[serde(default)]
    pub recall_window_secs: u64,
    /// Groups with more members than this have no read receipts.
    #[serde(default)]
    pub receipts_max_members: u32,
}

/// Machine-readable reason in an `error` frame. The wire name is the variant in snake_case, for
/// serde and [`ErrorCode::as_str`] alike (both derived, so they cannot disagree).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame is not valid JSON, or its fields are wrong for its type.
    MalformedFrame,
    /// The length prefix exceeds the maximum frame size.
    FrameTooLarge,
    /// The `type` is not one this server knows.
    UnknownType,
    /// The frame type is not allowed here (e.g. `send` on the control stream).
    UnexpectedFrame,
    /// A request's frame did not arrive within [`REQUEST_TIMEOUT_SECS`].
    RequestTimeout,
    /// `hello.version` is not supported.
    UnsupportedVersion,
    /// A request stream was opened before a successful `hello`.
    NotLoggedIn,
    InvalidNickname,
    WrongPassword,
    /// The password is too short or too long to register.
    WeakPassword,
    /// The nickname is free but the server does not accept new accounts.
    RegistrationClosed,
    /// The operator disabled this account.
    AccountDisabled,
    /// `hello.invite` is not a usable invite (unknown, used up, expired or revoked).
    InvalidInvite,
    UnknownRecipient,
    TextTooLong,
    EmptyText,
    InvalidClientId,
    /// An upload's `transfer_id` (or `upload_status`'s) is empty or too long.
    InvalidTransferId,
    InvalidLimit,
    RateLimited,
    /// The server failed; the request may be retried.
    Internal,
    ShuttingDown,
    /// The declared file size exceeds `max_file_bytes`.
    FileTooLarge,
    /// The server's file storage quota would be exceeded.
    QuotaExceeded,
    /// No such file, or not for this user.
    UnknownFile,
    /// The file will never be complete (cancelled, failed, or past retention).
    FileUnavailable,
    /// An upload's `offset` is not what the server holds, or a download's is beyond the size.
    BadOffset,
    /// An upload header names a transfer whose every byte has already arrived; nothing more is
    /// needed.
    AlreadyComplete,
    /// The uploaded bytes do not match the declared BLAKE3 hash.
    HashMismatch,
    /// The upload stream ended before `size` bytes, or carried more.
    SizeMismatch,
    /// The uploader cancelled the transfer.
    Cancelled,
    /// An upload delivered no bytes for `upload_idle_secs`; it failed and holds no space.
    UploadIdle,
    /// A group name that breaks the naming rules.
    InvalidGroupName,
    /// The group name is taken, or looks like a taken one (or like `everyone`).
    NameTaken,
    /// One's role in the group does not allow this change, or the message is not one's own.
    NotAllowed,
    /// The user is not a member of the group (for `remove` and `role`).
    NotMember,
    /// The user is already a member (for `add`).
    AlreadyMember,
    /// Creating or joining would exceed `max_groups_per_user`.
    TooManyGroups,
    /// Adding would exceed `max_group_members`.
    GroupFull,
    /// A topic longer than `max_topic_chars`.
    TopicTooLong,
    /// No such message in a conversation one can read (or it cannot be quoted/changed: an
    /// event, a recalled message).
    UnknownMessage,
    /// The edit or recall window has passed.
    TooLate,
    /// A reaction that is empty, too long, or contains letters, digits or spaces.
    InvalidEmoji,
    /// Search text that is empty or longer than a message.
    InvalidSearch,
    /// A code this build does not know: a newer server's. Treat it as a failure of the request.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The snake_case name used on the wire.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// QUIC application close codes (the `error_code` of CONNECTION_CLOSE).
pub mod close {
    /// The peer is done; nothing went wrong.
    pub const NORMAL: u32 = 0;
    /// The server is shutting down; reconnect later.
    pub const SHUTDOWN: u32 = 1;
    /// The peer broke the protocol (e.g. no `hello` first, bad frame on the control stream).
    pub const PROTOCOL_VIOLATION: u32 = 2;
    /// The client did not take its deliveries fast enough; reconnect to catch up from the store.
    pub const QUEUE_OVERFLOW: u32 = 3;
    /// Login failed; the `error` frame on the control stream says why.
    pub const LOGIN_FAILED: u32 = 4;
    /// No `hello` arrived in time.
    pub const HELLO_TIMEOUT: u32 = 5;
    /// The operator disabled the account; signing in again is refused with `account_disabled`.
    pub const ACCOUNT_DISABLED: u32 = 6;
}

/// QUIC stream error codes (RESET_STREAM / STOP_SENDING).
pub mod stream_code {
    /// The frame on this stream was rejected; for requests an `error` frame was sent first,
    /// for uploads a `file_rejected` on the control stream.
    pub const REJECTED: u32 = 1;
    /// The sender or receiver of a file cancelled it.
    pub const CANCELLED: u32 = 2;
    /// The server aborted a file (hash or size mismatch, cancelled upload, quota); the reason
    /// follows as `file_rejected`/`file_gone` on the control stream.
    pub const FILE_ABORTED: u32 = 3;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_use_snake_case_type_tags() {
        let hello = ClientFrame::Hello {
            version: 1,
            nickname: "小明".into(),
            password: "pw".into(),
            client: "test".into(),
            resume_after: None,
            device: None,
            invite: None,
        };
        let json = serde_json::to_value(&hello).unwrap();
        assert_eq!(json["type"], "hello");
        assert!(json.get("resume_after").is_none());

        let send = ClientFrame::Send {
            client_id: "c1".into(),
            to: Address::everyone(),
            text: "hi".into(),
            reply_to: None,
        };
        let json = serde_json::to_string(&send).unwrap();
        assert_eq!(
            json,
            r#"{"type":"send","client_id":"c1","to":{"group":"everyone"},"text":"hi"}"#
        );
    }

    #[test]
    fn message_delivery_is_flat() {
        let m = ServerFrame::Message(ChatMessage {
            id: 7,
            from: "a".into(),
            to: Address::User("b".into()),
            text: "x".into(),
            at: 1,
            file: None,
            ..Default::default()
        });
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(
            json,
            r#"{"type":"message","id":7,"from":"a","to":{"user":"b"},"text":"x","at":1}"#
        );
        assert_eq!(serde_json::from_str::<ServerFrame>(&json).unwrap(), m);
    }

    #[test]
    fn presence_is_two_name_lists_as_in_the_protocol_document() {
        let doc = r#"{"type":"presence","online":["bob","小明"],"offline":["carol"]}"#;
        let frame = ServerFrame::Presence {
            online: vec!["bob".into(), "小明".into()],
            offline: vec!["carol".into()],
        };
        assert_eq!(serde_json::from_str::<ServerFrame>(doc).unwrap(), frame);
        assert_eq!(serde_json::to_string(&frame).unwrap(), doc);
        let empty = ServerFrame::Presence { online: vec![], offline: vec!["x".into()] };
        assert_eq!(
            serde_json::to_string(&empty).unwrap(),
            r#"{"type":"presence","online":[],"offline":["x"]}"#
        );
    }

    #[test]
    fn error_code_names_match_serde() {
        use strum::IntoEnumIterator;
        for code in ErrorCode::iter() {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
        assert_eq!(ErrorCode::RequestTimeout.as_str(), "request_timeout");
    }

    #[test]
    fn unknown_error_codes_from_a_newer_server_still_parse() {
        let frame: ServerFrame =
            serde_json::from_str(r#"{"type":"error","code":"something_new","message":"m"}"#)
                .unwrap();
        assert!(matches!(frame, ServerFrame::Error { code: ErrorCode::Unknown, .. }));
    }

    #[test]
    fn users_request_accepts_bare_type() {
        let f: ClientFrame = serde_json::from_str(r#"{"type":"users"}"#).unwrap();
        assert_eq!(f, ClientFrame::Users { after: None });
    }

    #[test]
    fn group_changes_are_flat_in_the_group_frame() {
        let doc = r#"{"type":"group","group":"rust","change":"role","user":"bob","role":"admin"}"#;
        let frame = ClientFrame::Group {
            group: "rust".into(),
            change: GroupChange::Role { user: "bob".into(), role: Role::Admin },
        };
        assert_eq!(serde_json::from_str::<ClientFrame>(doc).unwrap(), frame);
        assert_eq!(serde_json::to_string(&frame).unwrap(), doc);
        let leave: ClientFrame =
            serde_json::from_str(r#"{"type":"group","group":"rust","change":"leave"}"#).unwrap();
        assert_eq!(
            leave,
            ClientFrame::Group { group: "rust".into(), change: GroupChange::Leave {} }
        );
        for bad in [
            r#"{"type":"group","group":"rust"}"#,
            r#"{"type":"group","group":"rust","change":"explode"}"#,
            r#"{"type":"group","group":"rust","change":"add"}"#,
            r#"{"type":"group","group":"rust","change":"role","user":"b","role":"god"}"#,
        ] {
            assert!(serde_json::from_str::<ClientFrame>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn events_ride_in_messages_and_unknown_kinds_still_parse() {
        let m = ChatMessage {
            id: 9,
            from: "alice".into(),
            to: Address::Group("rust".into()),
            at: 1,
            event: Some(Box::new(Event::Reacted { id: 7, emoji: Some("👍".into()) })),
            ..Default::default()
        };
        let json = serde_json::to_string(&ServerFrame::Message(m.clone())).unwrap();
        assert_eq!(
            json,
            r#"{"type":"message","id":9,"from":"alice","to":{"group":"rust"},"text":"","at":1,"event":{"kind":"reacted","id":7,"emoji":"👍"}}"#
        );
        assert_eq!(m.event.as_deref().and_then(Event::applies_to), Some(7));
        let newer = r#"{"type":"message","id":9,"from":"a","to":{"group":"g"},"text":"","at":1,"event":{"kind":"pinned","id":3}}"#;
        let ServerFrame::Message(parsed) = serde_json::from_str(newer).unwrap() else { panic!() };
        assert_eq!(parsed.event.as_deref(), Some(&Event::Unknown));
    }
}
