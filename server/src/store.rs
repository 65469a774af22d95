//! Durable state: accounts, messages and each account's delivery position, named groups and
//! their members, read positions, reactions, files and invites, behind one interface
//! ([`Store`]) with two backends: [`Sqlite`] (one file, the default) and [`Postgres`] (for
//! several nodes sharing one database). Synchronous: the store thread runs it.
//!
//! Both keep the same two promises the rest of the server is built on:
//! - message ids only ever grow, and a reader that sees id N committed sees every smaller id
//!   that will ever exist (SQLite has one writer; PostgreSQL takes ids from a counter row that
//!   each inserting transaction holds locked until it commits);
//! - `messages.to_group` is `everyone` or a named group's id (as text): the name can change, the
//!   id cannot, so a group's history follows it through renames.

mod postgres;
mod sqlite;
#[cfg(test)]
mod suite;

pub use postgres::Postgres;
pub use sqlite::Sqlite;

use crate::config::Database;
use quicq_common::protocol::{
    Address, ChatMessage, Conversation, EVENT_CLIENT_ID_PREFIX, EVERYONE, Event, FileInfo,
    MAX_FRAME_LEN, QUOTE_CHARS, Quote, Reaction, ReadPosition, Role,
};

pub type AccountId = i64;
/// A named group's id.
pub type GroupId = i64;

/// Milliseconds since the Unix epoch: the clock every stored timestamp uses.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database error: {}", postgres::reason(.0))]
    Postgres(#[from] ::postgres::Error),
    #[error("cannot create data directory {path}: {source}")]
    DataDir { path: std::path::PathBuf, source: std::io::Error },
    #[error("database schema version {0} is newer than this server understands")]
    FutureSchema(i64),
    #[error("the store thread has stopped")]
    Stopped,
    /// A row that was just written or found is not there any more.
    #[error("the {0} disappeared")]
    Vanished(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub key: String,
    pub password_hash: String,
    pub delivered_up_to: u64,
    /// Disabled by the operator: cannot sign in, live sessions are ended.
    pub disabled: bool,
    /// Shares read receipts (and sees others').
    pub receipts: bool,
}

/// A message's destination as stored, which is also the conversation it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Target {
    User(AccountId),
    Everyone,
    Group(GroupId),
}

impl Target {
    /// (`to_user`, `to_group`) as stored.
    fn columns(&self) -> (Option<AccountId>, Option<String>) {
        match self {
            Target::User(id) => (Some(*id), None),
            Target::Everyone => (None, Some(EVERYONE.to_owned())),
            Target::Group(id) => (None, Some(id.to_string())),
        }
    }

    /// The conversation's key in `reads`, the same for both ends of a one-to-one.
    fn conversation(&self, account: AccountId) -> String {
        match self {
            Target::User(other) => {
                format!("u:{}:{}", account.min(*other), account.max(*other))
            }
            Target::Everyone => EVERYONE.to_owned(),
            Target::Group(id) => format!("g:{id}"),
        }
    }
}

/// Why the store did not take a request, decided inside its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The sender is not (or no longer) a member of the group.
    NotMember,
    /// No such message that this account can see and that can be quoted or changed.
    UnknownMessage,
    /// Not the account's own message, or not a kind that can be changed so.
    NotAllowed,
    /// The edit or recall window has passed.
    TooLate,
}

/// A message to store.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub sender: AccountId,
    pub target: Target,
    pub text: &'a str,
    pub client_id: &'a str,
    pub now: i64,
    pub reply_to: Option<u64>,
}

/// A change to an earlier message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Edit { text: String, window_ms: i64 },
    Recall { window_ms: i64 },
    React { emoji: Option<String> },
}

/// What a stored change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    /// The stored event (or, for a repeated client id, the original one).
    pub stored: Stored,
    /// The conversation it went to.
    pub target: Target,
    /// A file the change removed (recall of a file message): (file id, was complete).
    pub removed_file: Option<u64>,
}

/// A group's row and its members, as loaded at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    pub id: GroupId,
    pub name: String,
    pub topic: String,
    pub members: Vec<(AccountId, Role)>,
}

/// A membership change to store with its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// Becomes a member (again) with this role; visibility starts at the event.
    Join(AccountId, Role),
    /// Stays a member with a new role.
    Role(AccountId, Role),
    /// Stops being a member; the event is the last message it receives.
    Leave(AccountId),
}

/// A stored message and what routing it needs: who sent it and to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub sender: AccountId,
    pub target: Target,
    pub message: ChatMessage,
}

/// Result of storing a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub message: ChatMessage,
    /// True when this `client_id` was already stored; nothing new was written.
    pub duplicate: bool,
}

/// Messages added to the search index per transaction; the store thread indexes as soon as this
/// many wait and it is idle, and fewer after a quiet second. Large batches make few, large index
/// segments, which FTS5 merges far less often than one per commit.
pub const INDEX_BATCH: usize = 2000;
/// Where a file is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    Uploading,
    Complete,
    Failed,
    Expired,
}

impl FileState {
    fn as_str(self) -> &'static str {
        match self {
            FileState::Uploading => "uploading",
            FileState::Complete => "complete",
            FileState::Failed => "failed",
            FileState::Expired => "expired",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "uploading" => FileState::Uploading,
            "complete" => FileState::Complete,
            "expired" => FileState::Expired,
            _ => FileState::Failed,
        }
    }
}

/// An invite code, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub code: String,
    pub uses_left: u32,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub revoked: bool,
}

/// An invite that is unknown, used up, expired or revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidInvite;

/// A file that holds or may hold spool space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveFile {
    pub id: u64,
    pub sender: AccountId,
    pub size: u64,
    pub received: u64,
    pub complete: bool,
}

/// A stored file and the message that announced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    pub id: u64,
    pub sender: AccountId,
    pub transfer_id: String,
    pub size: u64,
    pub blake3: String,
    pub received: u64,
    pub state: FileState,
    pub created_at: i64,
    pub message: ChatMessage,
}

/// Opens the database `config` names, creating or upgrading its tables. Blocks: call it off the
/// async runtime (the PostgreSQL client runs its own).
pub fn open(database: &Database) -> Result<Box<dyn Store>, StoreError> {
    Ok(match database {
        Database::Sqlite(path) => Box::new(Sqlite::open(path)?),
        Database::Postgres(url) => Box::new(Postgres::connect(url)?),
    })
}

/// Everything the server keeps, whichever database holds it. Every method is one transaction.
pub trait Store: Send {
    fn account_by_key(&mut self, key: &str) -> Result<Option<Account>, StoreError>;

    /// Creates an account; `Ok(None)` if the key is taken. A new account's delivery position
    /// starts at the newest message, so it is not flooded with old group traffic (history has it).
    fn create_account(
        &mut self,
        name: &str,
        key: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<Option<Account>, StoreError>;

    /// Creates the account and uses up one use of `invite`, in one transaction: `Ok(None)` if the
    /// key is taken, `Err(InvalidInvite)` if the invite is not usable now.
    fn create_account_with_invite(
        &mut self,
        name: &str,
        key: &str,
        password_hash: &str,
        invite: &str,
        now: i64,
    ) -> Result<Result<Option<Account>, InvalidInvite>, StoreError>;

    /// Whether `code` is an invite usable now (it is not used up by asking).
    fn invite_usable(&mut self, code: &str, now: i64) -> Result<bool, StoreError>;

    fn create_invite(
        &mut self,
        code: &str,
        uses: u32,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<(), StoreError>;

    /// Every invite, newest first.
    fn invites(&mut self) -> Result<Vec<Invite>, StoreError>;

    /// Revokes an invite; false if there is none with this code.
    fn revoke_invite(&mut self, code: &str) -> Result<bool, StoreError>;

    /// Disables or enables the account with this key; false if there is none.
    fn set_disabled(&mut self, key: &str, disabled: bool) -> Result<bool, StoreError>;

    /// Replaces the password hash of the account with this key; false if there is none.
    fn set_password_hash(&mut self, key: &str, phc: &str) -> Result<bool, StoreError>;

    /// Ids of disabled accounts.
    fn disabled_accounts(&mut self) -> Result<Vec<AccountId>, StoreError>;

    /// How many accounts exist.
    fn account_count(&mut self) -> Result<u64, StoreError>;

    /// Every account as (id, name, key), ordered by key.
    fn accounts(&mut self) -> Result<Vec<(AccountId, String, String)>, StoreError>;

    fn max_message_id(&mut self) -> Result<u64, StoreError>;

    /// Stores a message durably, or returns the one already stored under the same
    /// (sender, client_id).
    fn insert_message(
        &mut self,
        sender: AccountId,
        target: &Target,
        text: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Result<Stored, Rejection>, StoreError>;

    /// Stores several messages in one transaction (one sync to disk), in order; each is new,
    /// the one already stored under its (sender, client_id), or refused: a group the sender is
    /// no longer in, a quote of a message it cannot see.
    fn insert_messages(
        &mut self,
        rows: &[NewMessage<'_>],
    ) -> Result<Vec<Result<Stored, Rejection>>, StoreError>;

    /// Applies an edit, recall or reaction to message `id` and stores its event, in one
    /// transaction; or returns the event already stored under (actor, client_id).
    fn change_message(
        &mut self,
        actor: AccountId,
        id: u64,
        change: &Change,
        client_id: &str,
        now: i64,
    ) -> Result<Result<Changed, Rejection>, StoreError>;

    /// Messages the account should receive with id above `after`, oldest first: sent to it,
    /// sent by it, sent to everyone, or sent to a group while it was a member.
    fn inbox_after(
        &mut self,
        account: AccountId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError>;

    /// One page of a conversation, newest first, at most `limit` messages and at most about
    /// one frame's worth of bytes. Returns the page and whether older messages exist. Events
    /// that change earlier messages are left out (their effect is in the messages), and a group
    /// shows only what the account may read (from when it joined; nothing once it left).
    fn history(
        &mut self,
        account: AccountId,
        with: &Target,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<ChatMessage>, bool), StoreError>;

    /// Messages containing `text` (case-insensitive) that the account may read, in `with` or in
    /// every conversation, newest first, below `before`. Events and recalled messages are not
    /// searched.
    fn search(
        &mut self,
        account: AccountId,
        text: &str,
        with: Option<&Target>,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<ChatMessage>, bool), StoreError>;

    /// About how many messages wait for the search index (ids are not dense: at most this many).
    fn index_backlog(&mut self) -> Result<u64, StoreError>;

    /// Adds up to `limit` more messages to the search index, in one transaction; returns how
    /// many messages it covered (0: the index is up to date).
    fn index_pending(&mut self, limit: usize) -> Result<usize, StoreError>;

    /// Where the account's current membership of a group starts; `None` if it is not a member.
    fn member_since(
        &mut self,
        group: GroupId,
        account: AccountId,
    ) -> Result<Option<u64>, StoreError>;

    /// Every live named group with its current members (for the hub at start-up).
    fn groups(&mut self) -> Result<Vec<GroupRow>, StoreError>;

    /// Creates a group named `name` (key `key`) with `creator` as owner: stores its `created`
    /// event, and the `added` event of each of `members`. Returns the group id and the events.
    fn create_group(
        &mut self,
        creator: AccountId,
        name: &str,
        key: &str,
        members: &[(AccountId, String)],
        now: i64,
    ) -> Result<(GroupId, Vec<ChatMessage>), StoreError>;

    /// Stores group events from `actor`, each with the membership changes it records, in one
    /// transaction; `rename` sets the group's name and key, `topic` its topic. Returns the
    /// events in order.
    fn group_events(
        &mut self,
        group: GroupId,
        actor: AccountId,
        events: &[(Event, Vec<Membership>)],
        rename: Option<(&str, &str)>,
        topic: Option<&str>,
        now: i64,
    ) -> Result<Vec<ChatMessage>, StoreError>;

    /// Who becomes owner when `leaving` (the owner) leaves: the longest-standing admin, else
    /// the longest-standing member; `None` if nobody else is left.
    fn successor(
        &mut self,
        group: GroupId,
        leaving: AccountId,
    ) -> Result<Option<AccountId>, StoreError>;

    /// Marks a file dropped (an upload fails, a kept file expires) so its space is free.
    fn drop_file(&mut self, id: u64, now: i64) -> Result<(), StoreError>;

    /// Deletes a group: stores its `deleted` event from `actor`, ends every membership there,
    /// deletes every other message of the group and frees its name. Returns the event and the
    /// files that were removed.
    fn delete_group(
        &mut self,
        group: GroupId,
        actor: AccountId,
        now: i64,
    ) -> Result<(ChatMessage, Vec<u64>), StoreError>;

    /// Raises the account's read position in a conversation (never lowers it, never past the
    /// newest message). Returns the position before and after.
    fn set_read(
        &mut self,
        account: AccountId,
        with: &Target,
        up_to: u64,
    ) -> Result<(u64, u64), StoreError>;

    /// The read positions of `others` in the conversation `with` as `account` names it, for
    /// those with receipts on and a position above 0.
    fn read_positions(
        &mut self,
        account: AccountId,
        with: &Target,
        others: &[(AccountId, String)],
    ) -> Result<Vec<ReadPosition>, StoreError>;

    /// Whether the account shares read receipts.
    fn receipts_on(&mut self, account: AccountId) -> Result<bool, StoreError>;

    fn set_receipts(&mut self, account: AccountId, on: bool) -> Result<(), StoreError>;

    /// The account's conversations (`everyone`, `groups` with their names, and every
    /// one-to-one with a message), most recent first, with its read position and unread count.
    fn conversations(
        &mut self,
        account: AccountId,
        groups: &[(GroupId, String)],
    ) -> Result<Vec<Conversation>, StoreError>;

    /// Raises the account's delivery position to `up_to` (never lowers it).
    fn set_delivered(&mut self, account: AccountId, up_to: u64) -> Result<(), StoreError>;

    /// Creates a file and the message announcing it, in one transaction; or returns the existing
    /// one for the same (sender, transfer_id). The bool is true when created now. Refused when
    /// the group is one the sender is not in.
    #[allow(clippy::too_many_arguments)]
    fn create_upload(
        &mut self,
        sender: AccountId,
        target: &Target,
        transfer_id: &str,
        name: &str,
        size: u64,
        blake3: &str,
        now: i64,
    ) -> Result<Result<(FileRow, bool), Rejection>, StoreError>;

    fn file(&mut self, id: u64) -> Result<Option<FileRow>, StoreError>;

    fn file_by_transfer(
        &mut self,
        sender: AccountId,
        transfer_id: &str,
    ) -> Result<Option<FileRow>, StoreError>;

    /// Records upload progress (how many bytes are safely in the spool) and state.
    fn set_file_progress(
        &mut self,
        id: u64,
        received: u64,
        state: FileState,
        now: i64,
    ) -> Result<(), StoreError>;

    /// Bytes reserved by files that are uploading or kept.
    /// Every file that holds or may hold spool space: (id, sender, size, received, complete).
    fn live_file_sizes(&mut self) -> Result<Vec<LiveFile>, StoreError>;

    /// Whether the account may fetch this file: its own, or in a conversation it may read now.
    fn can_read_file(&mut self, account: AccountId, file_id: u64) -> Result<bool, StoreError>;

    /// Marks a file done for one device of an account; true if it was not already.
    fn mark_file_done(
        &mut self,
        file_id: u64,
        account: AccountId,
        device: &str,
        saved: bool,
    ) -> Result<bool, StoreError>;

    /// File messages for this account that this device has not finished, whose file is still
    /// uploading or kept; oldest first, at most `limit`.
    fn pending_files(
        &mut self,
        account: AccountId,
        device: &str,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError>;

    /// Files to drop: complete ones created before `kept_since`, and uploads with no progress
    /// since `stalled_since`. Returns (id, was_complete).
    fn files_to_expire(
        &mut self,
        kept_since: i64,
        stalled_since: i64,
    ) -> Result<Vec<(u64, bool)>, StoreError>;

    /// Ids of files whose spool must exist (uploading or complete).
    fn live_files(&mut self) -> Result<Vec<u64>, StoreError>;

    /// Every message stored with an id above `after`, in id order, at most `limit`: what a
    /// cluster node delivers, in the order every node delivers it.
    fn committed_after(&mut self, after: u64, limit: usize) -> Result<Vec<Committed>, StoreError>;

    /// The accounts that receive group message `id`: members from the event that made them
    /// one to the event that ended it.
    fn receivers(&mut self, group: GroupId, id: u64) -> Result<Vec<AccountId>, StoreError>;

    /// A live group with its current members; `None` once deleted.
    fn group(&mut self, group: GroupId) -> Result<Option<GroupRow>, StoreError>;

    /// Before each job: a backend whose database server went away (and perhaps came back)
    /// connects again. An error here is logged and the job runs anyway (and fails clearly).
    fn reconnect(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Moves what is only in a write-ahead log into the main file, so a stopped server leaves
    /// one self-contained file. Nothing to do where the database server owns its files.
    fn checkpoint(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A message row as both backends select it (`SELECT_MESSAGE`): the message, its sender's and
/// recipient's names, the group's name, the file, and the quoted message.
struct MessageColumns {
    id: i64,
    from: String,
    to_user: Option<String>,
    to_group: Option<String>,
    group_name: Option<String>,
    text: String,
    at: i64,
    file_id: Option<i64>,
    file_name: Option<String>,
    file_size: Option<i64>,
    file_blake3: Option<String>,
    file_transfer_id: Option<String>,
    edited_at: Option<i64>,
    recalled: bool,
    event: Option<String>,
    quote_id: Option<i64>,
    quote_from: Option<String>,
    quote_text: Option<String>,
    quote_file_name: Option<String>,
    quote_recalled: Option<bool>,
}

impl MessageColumns {
    fn into_message(self) -> ChatMessage {
        let to = match (self.to_user, self.to_group) {
            (Some(user), _) => Address::User(user),
            (None, Some(group)) if group == EVERYONE => Address::everyone(),
            (None, _) => Address::Group(self.group_name.unwrap_or_default()),
        };
        let file = match self.file_id {
            Some(id) if !self.recalled => Some(FileInfo {
                id: id as u64,
                name: self.file_name.unwrap_or_default(),
                size: self.file_size.unwrap_or_default() as u64,
                blake3: self.file_blake3.unwrap_or_default(),
                transfer_id: self.file_transfer_id.unwrap_or_default(),
            }),
            _ => None,
        };
        let event = self.event.and_then(|json| serde_json::from_str::<Event>(&json).ok());
        let reply_to = self.quote_id.map(|id| {
            let recalled = self.quote_recalled.unwrap_or(false);
            Quote {
                id: id as u64,
                from: self.quote_from.unwrap_or_default(),
                text: self.quote_text.unwrap_or_default().chars().take(QUOTE_CHARS).collect(),
                file_name: if recalled { None } else { self.quote_file_name },
                recalled,
            }
        });
        ChatMessage {
            id: self.id as u64,
            from: self.from,
            to,
            text: self.text,
            at: self.at,
            file,
            reply_to: reply_to.map(Box::new),
            edited_at: self.edited_at,
            recalled: self.recalled,
            reactions: Vec::new(),
            event: event.map(Box::new),
        }
    }
}

/// Adds a reaction row (emoji, user) to a message: emoji in the order first used, users in
/// the order they reacted (the order the rows come in).
fn add_reaction(message: &mut ChatMessage, emoji: String, user: String) {
    match message.reactions.iter_mut().find(|r| r.emoji == emoji) {
        Some(reaction) => reaction.users.push(user),
        None => message.reactions.push(Reaction { emoji, users: vec![user] }),
    }
}

/// A page of at most `limit` of `fetched` (which holds one more when more exist), with its
/// reactions, cut to fit one frame; and whether more exist.
fn page(
    mut fetched: Vec<ChatMessage>,
    limit: usize,
    add_reactions: impl FnOnce(&mut [ChatMessage]) -> Result<(), StoreError>,
) -> Result<(Vec<ChatMessage>, bool), StoreError> {
    let mut more = fetched.len() > limit;
    fetched.truncate(limit);
    add_reactions(&mut fetched)?;
    // Keep the answer inside one frame: stop adding once the JSON would get too big.
    more |= fit_frame(&mut fetched);
    Ok((fetched, more))
}

/// Drops messages from the end until the list's JSON fits in a frame with room to spare.
fn fit_frame(messages: &mut Vec<ChatMessage>) -> bool {
    let budget = MAX_FRAME_LEN - 1024;
    let mut used = 0;
    for (i, m) in messages.iter().enumerate() {
        used += serde_json::to_vec(m).map_or(budget, |v| v.len() + 1);
        if used > budget {
            messages.truncate(i);
            return true;
        }
    }
    false
}

fn stored_target(to_user: Option<i64>, to_group: Option<String>) -> Target {
    match (to_user, to_group) {
        (Some(user), _) => Target::User(user),
        (None, Some(group)) if group == EVERYONE => Target::Everyone,
        (None, group) => Target::Group(group.and_then(|g| g.parse().ok()).unwrap_or(0)),
    }
}

/// A person's message that `account` may read now (not an event, not recalled).
struct Original {
    sender: AccountId,
    target: Target,
    at: i64,
    file_id: Option<u64>,
}

impl Original {
    /// The message's conversation as `account` (one of its ends) addresses it.
    fn target_for(&self, account: AccountId) -> Target {
        match self.target {
            Target::User(_) if self.sender != account => Target::User(self.sender),
            target => target,
        }
    }
}

/// A client id for an event the server stores on its own; clients may not use the prefix.
fn event_client_id() -> String {
    format!("{EVENT_CLIENT_ID_PREFIX}{:032x}", rand::random::<u128>())
}

fn role_str(role: Role) -> &'static str {
    match role {
        Role::Owner => "owner",
        Role::Admin => "admin",
        Role::Member => "member",
    }
}

fn parse_role(s: &str) -> Role {
    match s {
        "owner" => Role::Owner,
        "admin" => Role::Admin,
        _ => Role::Member,
    }
}
