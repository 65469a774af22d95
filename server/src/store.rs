//! Durable state in one SQLite file (WAL, `synchronous=FULL`): accounts, messages and each
//! account's delivery position. Synchronous: callers run it on blocking threads.
//!
//! Message ids come from `AUTOINCREMENT`, so they only ever grow, even across deletions.

use std::path::Path;

use quicq_common::protocol::{
    Address, ChatMessage, EVERYONE, FILE_CLIENT_ID_PREFIX, FileInfo, MAX_FRAME_LEN,
};
use rusqlite::{Connection, OptionalExtension, params};

pub type AccountId = i64;

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
}

/// A message's destination as stored: an account id or a group name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    User(AccountId),
    Group(String),
}

/// Result of storing a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub message: ChatMessage,
    /// True when this `client_id` was already stored; nothing new was written.
    pub duplicate: bool,
}

/// 2 added `invites` and `accounts.disabled`.
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,
    key             TEXT NOT NULL UNIQUE,
    password_hash   TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    delivered_up_to INTEGER NOT NULL DEFAULT 0,
    disabled        INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS files (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    sender      INTEGER NOT NULL REFERENCES accounts(id),
    transfer_id TEXT NOT NULL,
    name        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    blake3      TEXT NOT NULL,
    received    INTEGER NOT NULL DEFAULT 0,
    state       TEXT NOT NULL CHECK (state IN ('uploading', 'complete', 'failed', 'expired')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (sender, transfer_id)
);
CREATE TABLE IF NOT EXISTS messages (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    sender    INTEGER NOT NULL REFERENCES accounts(id),
    to_user   INTEGER REFERENCES accounts(id),
    to_group  TEXT,
    text      TEXT NOT NULL,
    at        INTEGER NOT NULL,
    client_id TEXT NOT NULL,
    file_id   INTEGER REFERENCES files(id),
    UNIQUE (sender, client_id),
    CHECK ((to_user IS NULL) <> (to_group IS NULL))
);
CREATE TABLE IF NOT EXISTS invites (
    code       TEXT PRIMARY KEY,
    uses_left  INTEGER NOT NULL,
    expires_at INTEGER,
    created_at INTEGER NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS file_done (
    file_id INTEGER NOT NULL REFERENCES files(id),
    account INTEGER NOT NULL REFERENCES accounts(id),
    device  TEXT NOT NULL,
    saved   INTEGER NOT NULL,
    PRIMARY KEY (file_id, account, device)
);
CREATE INDEX IF NOT EXISTS messages_file ON messages (file_id) WHERE file_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_direct ON messages (sender, to_user, id) WHERE to_user IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_inbox ON messages (to_user, id) WHERE to_user IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_group ON messages (to_group, id) WHERE to_group IS NOT NULL;
";

const SELECT_MESSAGE: &str = "
SELECT m.id, s.name, r.name, m.to_group, m.text, m.at, f.id, f.name, f.size, f.blake3, f.transfer_id
FROM messages m JOIN accounts s ON s.id = m.sender LEFT JOIN accounts r ON r.id = m.to_user
LEFT JOIN files f ON f.id = m.file_id";

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

const SELECT_FILE: &str = "
SELECT f.id, f.sender, f.transfer_id, f.size, f.blake3, f.received, f.state, f.created_at, m.id
FROM files f JOIN messages m ON m.file_id = f.id";

#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) `quicq.sqlite3` under `data_dir`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|source| StoreError::DataDir { path: dir.to_owned(), source })?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::FutureSchema(version));
        }
        if version == 1 {
            conn.execute_batch(
                "ALTER TABLE accounts ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0",
            )?;
        }
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        Ok(Store { conn })
    }

    pub fn account_by_key(&self, key: &str) -> Result<Option<Account>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, name, key, password_hash, delivered_up_to, disabled FROM accounts
                 WHERE key = ?1",
                [key],
                |r| {
                    Ok(Account {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        key: r.get(2)?,
                        password_hash: r.get(3)?,
                        delivered_up_to: r.get::<_, i64>(4)? as u64,
                        disabled: r.get(5)?,
                    })
                },
            )
            .optional()?)
    }

    /// Creates an account; `Ok(None)` if the key is taken. A new account's delivery position
    /// starts at the newest message, so it is not flooded with old group traffic (history has it).
    pub fn create_account(
        &mut self,
        name: &str,
        key: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<Option<Account>, StoreError> {
        let position = self.max_message_id()?;
        let inserted = self.conn.execute(
            "INSERT INTO accounts (name, key, password_hash, created_at, delivered_up_to)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (key) DO NOTHING",
            params![name, key, password_hash, now, position as i64],
        )?;
        if inserted == 0 {
            return Ok(None);
        }
        Ok(Some(Account {
            id: self.conn.last_insert_rowid(),
            name: name.to_owned(),
            key: key.to_owned(),
            password_hash: password_hash.to_owned(),
            delivered_up_to: position,
            disabled: false,
        }))
    }

    /// Creates the account and uses up one use of `invite`, in one transaction: `Ok(None)` if the
    /// key is taken, `Err(InvalidInvite)` if the invite is not usable now.
    pub fn create_account_with_invite(
        &mut self,
        name: &str,
        key: &str,
        password_hash: &str,
        invite: &str,
        now: i64,
    ) -> Result<Result<Option<Account>, InvalidInvite>, StoreError> {
        let tx = self.conn.transaction()?;
        let used = tx.execute(
            "UPDATE invites SET uses_left = uses_left - 1
             WHERE code = ?1 AND uses_left > 0 AND revoked = 0
               AND (expires_at IS NULL OR expires_at > ?2)",
            params![invite, now],
        )?;
        if used == 0 {
            return Ok(Err(InvalidInvite));
        }
        let position: i64 =
            tx.query_row("SELECT coalesce(max(id), 0) FROM messages", [], |r| r.get(0))?;
        let inserted = tx.execute(
            "INSERT INTO accounts (name, key, password_hash, created_at, delivered_up_to)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (key) DO NOTHING",
            params![name, key, password_hash, now, position],
        )?;
        if inserted == 0 {
            // Not registered after all: the invite keeps its use (the transaction is dropped).
            return Ok(Ok(None));
        }
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(Ok(Some(Account {
            id,
            name: name.to_owned(),
            key: key.to_owned(),
            password_hash: password_hash.to_owned(),
            delivered_up_to: position as u64,
            disabled: false,
        })))
    }

    /// Whether `code` is an invite usable now (it is not used up by asking).
    pub fn invite_usable(&self, code: &str, now: i64) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM invites WHERE code = ?1 AND uses_left > 0 AND revoked = 0
                   AND (expires_at IS NULL OR expires_at > ?2)",
                params![code, now],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    pub fn create_invite(
        &self,
        code: &str,
        uses: u32,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO invites (code, uses_left, expires_at, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![code, uses, expires_at, now],
        )?;
        Ok(())
    }

    /// Every invite, newest first.
    pub fn invites(&self) -> Result<Vec<Invite>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT code, uses_left, expires_at, created_at, revoked FROM invites
             ORDER BY created_at DESC, code",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Invite {
                code: r.get(0)?,
                uses_left: r.get(1)?,
                expires_at: r.get(2)?,
                created_at: r.get(3)?,
                revoked: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Revokes an invite; false if there is none with this code.
    pub fn revoke_invite(&self, code: &str) -> Result<bool, StoreError> {
        Ok(self.conn.execute("UPDATE invites SET revoked = 1 WHERE code = ?1", params![code])? > 0)
    }

    /// Disables or enables the account with this key; false if there is none.
    pub fn set_disabled(&self, key: &str, disabled: bool) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .execute("UPDATE accounts SET disabled = ?2 WHERE key = ?1", params![key, disabled])?
            > 0)
    }

    /// Replaces the password hash of the account with this key; false if there is none.
    pub fn set_password_hash(&self, key: &str, phc: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .execute("UPDATE accounts SET password_hash = ?2 WHERE key = ?1", params![key, phc])?
            > 0)
    }

    /// Ids of disabled accounts.
    pub fn disabled_accounts(&self) -> Result<Vec<AccountId>, StoreError> {
        let mut stmt = self.conn.prepare_cached("SELECT id FROM accounts WHERE disabled = 1")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many accounts exist.
    pub fn account_count(&self) -> Result<u64, StoreError> {
        Ok(self.conn.query_row("SELECT count(*) FROM accounts", [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// Every account as (id, name, key), ordered by key.
    pub fn accounts(&self) -> Result<Vec<(AccountId, String, String)>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT id, name, key FROM accounts ORDER BY key")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn max_message_id(&self) -> Result<u64, StoreError> {
        let id: Option<i64> =
            self.conn.query_row("SELECT max(id) FROM messages", [], |r| r.get(0))?;
        Ok(id.unwrap_or(0) as u64)
    }

    /// Stores a message durably, or returns the one already stored under the same
    /// (sender, client_id).
    pub fn insert_message(
        &mut self,
        sender: AccountId,
        target: &Target,
        text: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Stored, StoreError> {
        let mut stored = self.insert_messages(&[(sender, target, text, client_id, now)])?;
        stored.pop().ok_or(StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows))
    }

    /// Stores several messages in one transaction (one sync to disk), in order; each is new or
    /// the one already stored under its (sender, client_id).
    pub fn insert_messages(
        &mut self,
        rows: &[(AccountId, &Target, &str, &str, i64)],
    ) -> Result<Vec<Stored>, StoreError> {
        let tx = self.conn.transaction()?;
        let mut out = Vec::with_capacity(rows.len());
        for &(sender, target, text, client_id, now) in rows {
            let (to_user, to_group) = match target {
                Target::User(id) => (Some(*id), None),
                Target::Group(name) => (None, Some(name.as_str())),
            };
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO messages (sender, to_user, to_group, text, at, client_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (sender, client_id) DO NOTHING",
                )?
                .execute(params![sender, to_user, to_group, text, now, client_id])?;
            let id: i64 = if inserted == 1 {
                tx.last_insert_rowid()
            } else {
                tx.prepare_cached("SELECT id FROM messages WHERE sender = ?1 AND client_id = ?2")?
                    .query_row(params![sender, client_id], |r| r.get(0))?
            };
            let message = tx
                .prepare_cached(&format!("{SELECT_MESSAGE} WHERE m.id = ?1"))?
                .query_row([id], row_to_message)?;
            out.push(Stored { message, duplicate: inserted == 0 });
        }
        tx.commit()?;
        Ok(out)
    }

    /// Messages the account should receive with id above `after`, oldest first: sent to it,
    /// sent by it, or sent to a group it is in.
    pub fn inbox_after(
        &self,
        account: AccountId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "{SELECT_MESSAGE} WHERE m.id > ?1 AND (m.to_group = ?2 OR m.to_user = ?3 OR m.sender = ?3)
             ORDER BY m.id LIMIT ?4"
        ))?;
        let rows =
            stmt.query_map(params![after as i64, EVERYONE, account, limit as i64], row_to_message)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One page of a conversation, newest first, at most `limit` messages and at most about
    /// one frame's worth of bytes. Returns the page and whether older messages exist.
    pub fn history(
        &self,
        account: AccountId,
        with: &Target,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<ChatMessage>, bool), StoreError> {
        let before = before.map_or(i64::MAX, |b| b.min(i64::MAX as u64) as i64);
        let fetch = limit as i64 + 1;
        let mut messages = match with {
            Target::Group(name) => {
                let mut stmt = self.conn.prepare_cached(&format!(
                    "{SELECT_MESSAGE} WHERE m.to_group = ?1 AND m.id < ?2 ORDER BY m.id DESC LIMIT ?3"
                ))?;
                let rows = stmt.query_map(params![name, before, fetch], row_to_message)?;
                rows.collect::<Result<Vec<_>, _>>()?
            }
            Target::User(other) => {
                let mut stmt = self.conn.prepare_cached(&format!(
                    "{SELECT_MESSAGE} WHERE m.id IN (
                        SELECT id FROM messages WHERE sender = ?1 AND to_user = ?2 AND id < ?3
                        UNION ALL
                        SELECT id FROM messages WHERE sender = ?2 AND to_user = ?1 AND id < ?3
                            AND ?1 <> ?2
                        ORDER BY id DESC LIMIT ?4)
                     ORDER BY m.id DESC"
                ))?;
                let rows =
                    stmt.query_map(params![account, other, before, fetch], row_to_message)?;
                rows.collect::<Result<Vec<_>, _>>()?
            }
        };
        let mut more = messages.len() > limit;
        messages.truncate(limit);
        // Keep the answer inside one frame: stop adding once the JSON would get too big.
        more |= fit_frame(&mut messages);
        Ok((messages, more))
    }

    /// Raises the account's delivery position to `up_to` (never lowers it).
    pub fn set_delivered(&self, account: AccountId, up_to: u64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE accounts SET delivered_up_to = max(delivered_up_to, ?2) WHERE id = ?1",
            params![account, up_to.min(i64::MAX as u64) as i64],
        )?;
        Ok(())
    }

    /// Creates a file and the message announcing it, in one transaction; or returns the existing
    /// one for the same (sender, transfer_id). The bool is true when created now.
    #[allow(clippy::too_many_arguments)]
    pub fn create_upload(
        &mut self,
        sender: AccountId,
        target: &Target,
        transfer_id: &str,
        name: &str,
        size: u64,
        blake3: &str,
        now: i64,
    ) -> Result<(FileRow, bool), StoreError> {
        if let Some(existing) = self.file_by_transfer(sender, transfer_id)? {
            return Ok((existing, false));
        }
        let (to_user, to_group) = match target {
            Target::User(id) => (Some(*id), None),
            Target::Group(name) => (None, Some(name.as_str())),
        };
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO files (sender, transfer_id, name, size, blake3, state, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'uploading', ?6, ?6)",
            params![sender, transfer_id, name, size as i64, blake3, now],
        )?;
        let file_id = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO messages (sender, to_user, to_group, text, at, client_id, file_id)
             VALUES (?1, ?2, ?3, '', ?4, ?5, ?6)",
            params![
                sender,
                to_user,
                to_group,
                now,
                format!("{FILE_CLIENT_ID_PREFIX}{transfer_id}"),
                file_id
            ],
        )?;
        tx.commit()?;
        let row = self
            .file(file_id as u64)?
            .ok_or(StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows))?;
        Ok((row, true))
    }

    fn fill_message(&self, found: Option<(FileRow, i64)>) -> Result<Option<FileRow>, StoreError> {
        let Some((mut row, message_id)) = found else {
            return Ok(None);
        };
        row.message = self.conn.query_row(
            &format!("{SELECT_MESSAGE} WHERE m.id = ?1"),
            [message_id],
            row_to_message,
        )?;
        Ok(Some(row))
    }

    pub fn file(&self, id: u64) -> Result<Option<FileRow>, StoreError> {
        let found = self
            .conn
            .query_row(&format!("{SELECT_FILE} WHERE f.id = ?1"), [id as i64], row_to_file)
            .optional()?;
        self.fill_message(found)
    }

    pub fn file_by_transfer(
        &self,
        sender: AccountId,
        transfer_id: &str,
    ) -> Result<Option<FileRow>, StoreError> {
        let found = self
            .conn
            .query_row(
                &format!("{SELECT_FILE} WHERE f.sender = ?1 AND f.transfer_id = ?2"),
                params![sender, transfer_id],
                row_to_file,
            )
            .optional()?;
        self.fill_message(found)
    }

    /// Records upload progress (how many bytes are safely in the spool) and state.
    pub fn set_file_progress(
        &self,
        id: u64,
        received: u64,
        state: FileState,
        now: i64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE files SET received = ?2, state = ?3, updated_at = ?4 WHERE id = ?1",
            params![id as i64, received as i64, state.as_str(), now],
        )?;
        Ok(())
    }

    /// Bytes reserved by files that are uploading or kept.
    /// Every file that holds or may hold spool space: (id, sender, size, received, complete).
    pub fn live_file_sizes(&self) -> Result<Vec<LiveFile>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, sender, size, received, state = 'complete' FROM files
             WHERE state IN ('uploading', 'complete')",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(LiveFile {
                id: r.get::<_, i64>(0)? as u64,
                sender: r.get(1)?,
                size: r.get::<_, i64>(2)? as u64,
                received: r.get::<_, i64>(3)? as u64,
                complete: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Whether the account may fetch this file: it is in the account's inbox.
    pub fn can_read_file(&self, account: AccountId, file_id: u64) -> Result<bool, StoreError> {
        let found: Option<i64> = self
            .conn
            .query_row(
                "SELECT m.id FROM messages m WHERE m.file_id = ?1
                 AND (m.to_group = ?2 OR m.to_user = ?3 OR m.sender = ?3)",
                params![file_id as i64, EVERYONE, account],
                |r| r.get(0),
            )
            .optional()?;
        Ok(found.is_some())
    }

    /// Marks a file done for one device of an account; true if it was not already.
    pub fn mark_file_done(
        &self,
        file_id: u64,
        account: AccountId,
        device: &str,
        saved: bool,
    ) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "INSERT INTO file_done (file_id, account, device, saved) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
            params![file_id as i64, account, device, saved],
        )?;
        Ok(n == 1)
    }

    /// File messages for this account that this device has not finished, whose file is still
    /// uploading or kept; oldest first, at most `limit`.
    pub fn pending_files(
        &self,
        account: AccountId,
        device: &str,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "{SELECT_MESSAGE} WHERE m.file_id IS NOT NULL
               AND (m.to_group = ?1 OR m.to_user = ?2 OR m.sender = ?2)
               AND f.state IN ('uploading', 'complete')
               AND NOT EXISTS (SELECT 1 FROM file_done d
                               WHERE d.file_id = f.id AND d.account = ?2 AND d.device = ?3)
             ORDER BY m.id LIMIT ?4"
        ))?;
        let rows =
            stmt.query_map(params![EVERYONE, account, device, limit as i64], row_to_message)?;
        let mut messages: Vec<ChatMessage> = rows.collect::<Result<_, _>>()?;
        // Keep the answer inside one frame; the rest comes on the next sign-in.
        fit_frame(&mut messages);
        Ok(messages)
    }

    /// Files to drop: complete ones created before `kept_since`, and uploads with no progress
    /// since `stalled_since`. Returns (id, was_complete).
    pub fn files_to_expire(
        &self,
        kept_since: i64,
        stalled_since: i64,
    ) -> Result<Vec<(u64, bool)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, state = 'complete' FROM files
             WHERE (state = 'complete' AND created_at < ?1) OR (state = 'uploading' AND updated_at < ?2)",
        )?;
        let rows = stmt.query_map(params![kept_since, stalled_since], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Ids of files whose spool must exist (uploading or complete).
    pub fn live_files(&self) -> Result<Vec<u64>, StoreError> {
        let mut stmt =
            self.conn.prepare("SELECT id FROM files WHERE state IN ('uploading', 'complete')")?;
        let rows = stmt.query_map([], |r| Ok(r.get::<_, i64>(0)? as u64))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Moves the WAL into the main file, so a stopped server leaves one self-contained file.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
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

fn row_to_file(r: &rusqlite::Row<'_>) -> rusqlite::Result<(FileRow, i64)> {
    let state: String = r.get(6)?;
    Ok((
        FileRow {
            id: r.get::<_, i64>(0)? as u64,
            sender: r.get(1)?,
            transfer_id: r.get(2)?,
            size: r.get::<_, i64>(3)? as u64,
            blake3: r.get(4)?,
            received: r.get::<_, i64>(5)? as u64,
            state: FileState::parse(&state),
            created_at: r.get(7)?,
            message: ChatMessage {
                id: 0,
                from: String::new(),
                to: Address::Group(String::new()),
                text: String::new(),
                at: 0,
                file: None,
                ..Default::default()
            },
        },
        r.get(8)?,
    ))
}

fn row_to_message(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChatMessage> {
    let to = match (r.get::<_, Option<String>>(2)?, r.get::<_, Option<String>>(3)?) {
        (Some(user), _) => Address::User(user),
        (None, Some(group)) => Address::Group(group),
        (None, None) => Address::Group(String::new()),
    };
    let file = match r.get::<_, Option<i64>>(6)? {
        Some(id) => Some(FileInfo {
            id: id as u64,
            name: r.get(7)?,
            size: r.get::<_, i64>(8)? as u64,
            blake3: r.get(9)?,
            transfer_id: r.get(10)?,
        }),
        None => None,
    };
    Ok(ChatMessage {
        id: r.get::<_, i64>(0)? as u64,
        from: r.get(1)?,
        to,
        text: r.get(4)?,
        at: r.get(5)?,
        file,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("q.sqlite3")).unwrap();
        (dir, store)
    }

    #[test]
    fn accounts_are_unique_by_key() {
        let (_dir, mut s) = store();
        let a = s.create_account("Alice", "alice", "h", 0).unwrap().unwrap();
        assert!(s.create_account("ALICE", "alice", "h2", 0).unwrap().is_none());
        assert_eq!(s.account_by_key("alice").unwrap().unwrap(), a);
        assert!(s.account_by_key("bob").unwrap().is_none());
    }

    #[test]
    fn duplicate_client_id_returns_original_message() {
        let (_dir, mut s) = store();
        let a = s.create_account("a", "a", "h", 0).unwrap().unwrap();
        let b = s.create_account("b", "b", "h", 0).unwrap().unwrap();
        let first = s.insert_message(a.id, &Target::User(b.id), "hi", "c1", 5).unwrap();
        assert!(!first.duplicate);
        let again = s.insert_message(a.id, &Target::User(b.id), "hi", "c1", 9).unwrap();
        assert!(again.duplicate);
        assert_eq!(again.message, first.message);
        // Another sender may use the same client id.
        let other = s.insert_message(b.id, &Target::User(a.id), "yo", "c1", 9).unwrap();
        assert!(!other.duplicate);
        assert!(other.message.id > first.message.id);
    }

    #[test]
    fn inbox_and_history_select_the_right_conversation() {
        let (_dir, mut s) = store();
        let a = s.create_account("a", "a", "h", 0).unwrap().unwrap();
        let b = s.create_account("b", "b", "h", 0).unwrap().unwrap();
        let c = s.create_account("c", "c", "h", 0).unwrap().unwrap();
        let ab = s.insert_message(a.id, &Target::User(b.id), "a→b", "1", 1).unwrap().message;
        let g =
            s.insert_message(c.id, &Target::Group(EVERYONE.into()), "all", "2", 2).unwrap().message;
        let ca = s.insert_message(c.id, &Target::User(a.id), "c→a", "3", 3).unwrap().message;
        let ba = s.insert_message(b.id, &Target::User(a.id), "b→a", "4", 4).unwrap().message;

        let ids = |v: Vec<ChatMessage>| v.into_iter().map(|m| m.id).collect::<Vec<_>>();
        assert_eq!(ids(s.inbox_after(b.id, 0, 100).unwrap()), vec![ab.id, g.id, ba.id]);
        assert_eq!(ids(s.inbox_after(b.id, ab.id, 100).unwrap()), vec![g.id, ba.id]);
        assert_eq!(ids(s.inbox_after(a.id, 0, 2).unwrap()), vec![ab.id, g.id]);

        let (page, more) = s.history(a.id, &Target::User(b.id), None, 10).unwrap();
        assert_eq!(ids(page), vec![ba.id, ab.id]);
        assert!(!more);
        let (page, more) = s.history(a.id, &Target::User(b.id), None, 1).unwrap();
        assert_eq!(ids(page), vec![ba.id]);
        assert!(more);
        let (page, more) = s.history(a.id, &Target::User(b.id), Some(ba.id), 1).unwrap();
        assert_eq!(ids(page), vec![ab.id]);
        assert!(!more);
        let (page, _) = s.history(b.id, &Target::Group(EVERYONE.into()), None, 10).unwrap();
        assert_eq!(ids(page), vec![g.id]);
        assert_eq!(ca.to, Address::User("a".into()));
    }

    #[test]
    fn history_page_fits_in_one_frame() {
        let (_dir, mut s) = store();
        let a = s.create_account("a", "a", "h", 0).unwrap().unwrap();
        let big = "字".repeat(4000);
        for i in 0..20 {
            s.insert_message(a.id, &Target::Group(EVERYONE.into()), &big, &i.to_string(), 0)
                .unwrap();
        }
        let (page, more) = s.history(a.id, &Target::Group(EVERYONE.into()), None, 200).unwrap();
        assert!(more);
        assert!(!page.is_empty() && page.len() < 20);
        assert!(serde_json::to_vec(&page).unwrap().len() < MAX_FRAME_LEN);
    }

    #[test]
    fn delivery_position_only_moves_forward_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.sqlite3");
        let mut s = Store::open(&path).unwrap();
        let a = s.create_account("a", "a", "h", 0).unwrap().unwrap();
        s.set_delivered(a.id, 10).unwrap();
        s.set_delivered(a.id, 3).unwrap();
        drop(s);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.account_by_key("a").unwrap().unwrap().delivered_up_to, 10);
    }
}
