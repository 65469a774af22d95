//! The default backend: one SQLite file in WAL mode with `synchronous=FULL`. Message ids come
//! from `AUTOINCREMENT`, so they only ever grow, even across deletions, and a single writer
//! commits them in order.

use std::path::Path;

use quicq_common::protocol::{
    Address, ChatMessage, Conversation, EVERYONE, Event, FILE_CLIENT_ID_PREFIX, MAX_CONVERSATIONS,
    MAX_UNREAD_COUNT, ReadPosition, Role,
};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{
    Account, AccountId, Change, Changed, Committed, FileRow, FileState, GroupId, GroupRow,
    INDEX_BATCH, InvalidInvite, Invite, LiveFile, Membership, MessageColumns, NewMessage, Original,
    Rejection, Store, StoreError, Stored, Target, add_reaction, event_client_id, fit_frame, page,
    parse_role, role_str, stored_target,
};

/// 2 added `invites` and `accounts.disabled`; 3 named groups, replies, edits, recalls,
/// reactions, read positions and full-text search.
const SCHEMA_VERSION: i64 = 3;

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
/// Version 3, on top of the version 2 tables.
const SCHEMA_V3: &str = "
ALTER TABLE accounts ADD COLUMN receipts INTEGER NOT NULL DEFAULT 1;
ALTER TABLE messages ADD COLUMN reply_to INTEGER;
ALTER TABLE messages ADD COLUMN edited_at INTEGER;
ALTER TABLE messages ADD COLUMN recalled INTEGER NOT NULL DEFAULT 0;
-- The protocol's Event as JSON, for event messages.
ALTER TABLE messages ADD COLUMN event TEXT;
-- For edited/recalled/reacted events: the message they change. History leaves these out.
ALTER TABLE messages ADD COLUMN applies_to INTEGER;
CREATE TABLE groups (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    -- NULL once deleted, so the name is free again.
    key        TEXT UNIQUE,
    topic      TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
-- A member sees the group's messages with since <= id (<= until, once it has left).
CREATE TABLE members (
    group_id INTEGER NOT NULL REFERENCES groups(id),
    account  INTEGER NOT NULL REFERENCES accounts(id),
    role     TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    since    INTEGER NOT NULL,
    until    INTEGER,
    PRIMARY KEY (group_id, account)
);
CREATE INDEX members_account ON members (account, group_id);
CREATE TABLE reads (
    account      INTEGER NOT NULL REFERENCES accounts(id),
    conversation TEXT NOT NULL,
    up_to        INTEGER NOT NULL,
    PRIMARY KEY (account, conversation)
);
CREATE TABLE reactions (
    message_id INTEGER NOT NULL,
    account    INTEGER NOT NULL REFERENCES accounts(id),
    emoji      TEXT NOT NULL,
    at         INTEGER NOT NULL,
    PRIMARY KEY (message_id, account)
);
CREATE INDEX messages_applies ON messages (applies_to) WHERE applies_to IS NOT NULL;
-- Trigram: finds any substring of 3+ characters in any script, Chinese included (the default
-- tokenizer splits on spaces, which Chinese does not have).
CREATE VIRTUAL TABLE messages_fts USING fts5(
    text, content = 'messages', content_rowid = 'id', tokenize = 'trigram'
);
-- Messages are indexed in batches when the store is idle (and before every search), not as they
-- are stored: indexing one message per commit cost as much as storing it. Messages up to
-- `indexed_up_to` are in the index; the triggers keep those right when they change.
CREATE TABLE search_index (indexed_up_to INTEGER NOT NULL);
INSERT INTO search_index (indexed_up_to) SELECT coalesce(max(id), 0) FROM messages;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.text <> '' AND old.id <= (SELECT indexed_up_to FROM search_index) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages
WHEN old.id <= (SELECT indexed_up_to FROM search_index) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text)
        SELECT 'delete', old.id, old.text WHERE old.text <> '';
    INSERT INTO messages_fts (rowid, text) SELECT new.id, new.text WHERE new.text <> '';
END;
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
";

const SELECT_MESSAGE: &str = "
SELECT m.id, s.name, r.name, m.to_group, g.name, m.text, m.at,
       f.id, f.name, f.size, f.blake3, f.transfer_id,
       m.edited_at, m.recalled, m.event, q.id, qs.name, q.text, qf.name, q.recalled,
       m.sender, m.to_user, m.to_group
FROM messages m JOIN accounts s ON s.id = m.sender LEFT JOIN accounts r ON r.id = m.to_user
LEFT JOIN groups g ON m.to_group <> 'everyone' AND g.id = CAST(m.to_group AS INTEGER)
LEFT JOIN files f ON f.id = m.file_id
LEFT JOIN messages q ON q.id = m.reply_to LEFT JOIN accounts qs ON qs.id = q.sender
LEFT JOIN files qf ON qf.id = q.file_id";

/// Whether account `?A` receives message `m`: its own, to it, to everyone, or to a group while
/// it was a member (from the event that made it one to the event that ended it). `?A` is
/// replaced by the caller's parameter number.
const RECEIVES: &str = "(m.to_group = 'everyone' OR m.to_user = ?A OR m.sender = ?A
    OR (m.to_group <> 'everyone' AND EXISTS (SELECT 1 FROM members gm
        WHERE gm.group_id = CAST(m.to_group AS INTEGER) AND gm.account = ?A
          AND m.id >= gm.since AND (gm.until IS NULL OR m.id <= gm.until))))";

/// Whether account `?A` may read message `m` now: as [`RECEIVES`], but only in groups it is
/// still in (history, search, files).
const READS: &str = "(m.to_group = 'everyone' OR m.to_user = ?A
    OR (m.sender = ?A AND m.to_user IS NOT NULL)
    OR (m.to_group <> 'everyone' AND EXISTS (SELECT 1 FROM members gm
        WHERE gm.group_id = CAST(m.to_group AS INTEGER) AND gm.account = ?A
          AND m.id >= gm.since AND gm.until IS NULL)))";

/// `RECEIVES`/`READS` with the account as parameter `n`.
fn who(clause: &str, n: u8) -> String {
    clause.replace("?A", &format!("?{n}"))
}

const SELECT_FILE: &str = "
SELECT f.id, f.sender, f.transfer_id, f.size, f.blake3, f.received, f.state, f.created_at, m.id
FROM files f JOIN messages m ON m.file_id = f.id";

#[derive(Debug)]
pub struct Sqlite {
    conn: Connection,
}

impl Sqlite {
    /// Opens (creating if needed) `quicq.sqlite3` under `data_dir`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|source| StoreError::DataDir { path: dir.to_owned(), source })?;
        }
        let mut conn = Connection::open(path)?;
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
        let tx = conn.transaction()?;
        tx.execute_batch(SCHEMA)?;
        if version < 3 {
            tx.execute_batch(SCHEMA_V3)?;
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
        Ok(Sqlite { conn })
    }

    /// Fills in each message's reactions: emoji in the order first used, users in the order
    /// they reacted.
    fn add_reactions(&self, messages: &mut [ChatMessage]) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.emoji, a.name FROM reactions r JOIN accounts a ON a.id = r.account
             WHERE r.message_id = ?1 ORDER BY r.at, r.account",
        )?;
        for message in messages.iter_mut() {
            let rows = stmt.query_map([message.id as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            for row in rows {
                let (emoji, user) = row?;
                add_reaction(message, emoji, user);
            }
        }
        Ok(())
    }

    fn read_position(&self, account: AccountId, with: &Target) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT up_to FROM reads WHERE account = ?1 AND conversation = ?2")?
            .query_row(params![account, with.conversation(account)], |r| r.get::<_, i64>(0))
            .optional()?
            .unwrap_or(0) as u64)
    }

    /// The newest visible message id of a conversation and how many messages from others
    /// follow `read` (capped).
    fn unread(
        &mut self,
        account: AccountId,
        with: &Target,
        read: u64,
    ) -> Result<(u64, u32), StoreError> {
        let (scope, other) = match with {
            Target::User(other) => (
                "((m.sender = ?1 AND m.to_user = ?2) OR (m.sender = ?2 AND m.to_user = ?1))",
                Some(*other),
            ),
            _ => ("m.to_group = ?3", None),
        };
        let (_, to_group) = with.columns();
        let since = match with {
            Target::Group(group) => self.member_since(*group, account)?.unwrap_or(u64::MAX),
            _ => 0,
        };
        let last: i64 = self
            .conn
            .prepare_cached(&format!(
            "SELECT coalesce(max(m.id), 0) FROM messages m WHERE {scope} AND m.applies_to IS NULL
               AND m.id >= ?4"
        ))?
            .query_row(
                params![account, other, to_group, since.min(i64::MAX as u64) as i64],
                |r| r.get(0),
            )?;
        let unread: i64 = self
            .conn
            .prepare_cached(&format!(
                "SELECT count(*) FROM (SELECT 1 FROM messages m WHERE {scope} AND m.id > ?5
               AND m.id >= ?4 AND m.sender <> ?1 AND m.event IS NULL LIMIT ?6)"
            ))?
            .query_row(
                params![
                    account,
                    other,
                    to_group,
                    since.min(i64::MAX as u64) as i64,
                    read as i64,
                    MAX_UNREAD_COUNT as i64
                ],
                |r| r.get(0),
            )?;
        Ok((last as u64, unread as u32))
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
}

impl Store for Sqlite {
    fn account_by_key(&mut self, key: &str) -> Result<Option<Account>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, name, key, password_hash, delivered_up_to, disabled, receipts
                 FROM accounts WHERE key = ?1",
                [key],
                |r| {
                    Ok(Account {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        key: r.get(2)?,
                        password_hash: r.get(3)?,
                        delivered_up_to: r.get::<_, i64>(4)? as u64,
                        disabled: r.get(5)?,
                        receipts: r.get(6)?,
                    })
                },
            )
            .optional()?)
    }

    fn create_account(
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
            receipts: true,
        }))
    }

    fn create_account_with_invite(
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
            receipts: true,
        })))
    }

    fn invite_usable(&mut self, code: &str, now: i64) -> Result<bool, StoreError> {
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

    fn create_invite(
        &mut self,
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

    fn invites(&mut self) -> Result<Vec<Invite>, StoreError> {
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

    fn revoke_invite(&mut self, code: &str) -> Result<bool, StoreError> {
        Ok(self.conn.execute("UPDATE invites SET revoked = 1 WHERE code = ?1", params![code])? > 0)
    }

    fn set_disabled(&mut self, key: &str, disabled: bool) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .execute("UPDATE accounts SET disabled = ?2 WHERE key = ?1", params![key, disabled])?
            > 0)
    }

    fn set_password_hash(&mut self, key: &str, phc: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .execute("UPDATE accounts SET password_hash = ?2 WHERE key = ?1", params![key, phc])?
            > 0)
    }

    fn disabled_accounts(&mut self) -> Result<Vec<AccountId>, StoreError> {
        let mut stmt = self.conn.prepare_cached("SELECT id FROM accounts WHERE disabled = 1")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn account_count(&mut self) -> Result<u64, StoreError> {
        Ok(self.conn.query_row("SELECT count(*) FROM accounts", [], |r| r.get::<_, i64>(0))? as u64)
    }

    fn accounts(&mut self) -> Result<Vec<(AccountId, String, String)>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT id, name, key FROM accounts ORDER BY key")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn max_message_id(&mut self) -> Result<u64, StoreError> {
        let id: Option<i64> =
            self.conn.query_row("SELECT max(id) FROM messages", [], |r| r.get(0))?;
        Ok(id.unwrap_or(0) as u64)
    }

    fn insert_message(
        &mut self,
        sender: AccountId,
        target: &Target,
        text: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Result<Stored, Rejection>, StoreError> {
        let row = NewMessage { sender, target: *target, text, client_id, now, reply_to: None };
        let mut stored = self.insert_messages(&[row])?;
        stored.pop().ok_or(StoreError::Vanished("message"))
    }

    fn insert_messages(
        &mut self,
        rows: &[NewMessage<'_>],
    ) -> Result<Vec<Result<Stored, Rejection>>, StoreError> {
        let tx = self.conn.transaction()?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(insert_one(&tx, row)?);
        }
        tx.commit()?;
        Ok(out)
    }

    fn change_message(
        &mut self,
        actor: AccountId,
        id: u64,
        change: &Change,
        client_id: &str,
        now: i64,
    ) -> Result<Result<Changed, Rejection>, StoreError> {
        let tx = self.conn.transaction()?;
        if let Some(existing) = find_client_id(&tx, actor, client_id)? {
            let target = target_of(&tx, existing)?;
            let stored = Stored { message: message_by_id(&tx, existing)?, duplicate: true };
            return Ok(Ok(Changed { stored, target, removed_file: None }));
        }
        let Some(original) = original(&tx, actor, id)? else {
            return Ok(Err(Rejection::UnknownMessage));
        };
        let event = match change {
            Change::Edit { text, window_ms } => {
                if original.sender != actor || original.file_id.is_some() {
                    return Ok(Err(Rejection::NotAllowed));
                }
                if now - original.at > *window_ms {
                    return Ok(Err(Rejection::TooLate));
                }
                tx.execute(
                    "UPDATE messages SET text = ?2, edited_at = ?3 WHERE id = ?1",
                    params![id as i64, text, now],
                )?;
                Event::Edited { id, text: text.clone() }
            }
            Change::Recall { window_ms } => {
                if original.sender != actor {
                    return Ok(Err(Rejection::NotAllowed));
                }
                if now - original.at > *window_ms {
                    return Ok(Err(Rejection::TooLate));
                }
                tx.execute(
                    "UPDATE messages SET text = '', recalled = 1 WHERE id = ?1",
                    [id as i64],
                )?;
                // Earlier edits carried the text too.
                tx.execute(
                    "UPDATE messages SET event = json_set(event, '$.text', '')
                     WHERE applies_to = ?1 AND json_extract(event, '$.kind') = 'edited'",
                    [id as i64],
                )?;
                tx.execute("DELETE FROM reactions WHERE message_id = ?1", [id as i64])?;
                if let Some(file) = original.file_id {
                    tx.execute(
                        "UPDATE files SET state = CASE state WHEN 'uploading' THEN 'failed'
                             WHEN 'complete' THEN 'expired' ELSE state END, updated_at = ?2
                         WHERE id = ?1",
                        params![file as i64, now],
                    )?;
                }
                Event::Recalled { id }
            }
            Change::React { emoji } => {
                match emoji {
                    Some(emoji) => tx.execute(
                        "INSERT INTO reactions (message_id, account, emoji, at) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (message_id, account)
                         DO UPDATE SET emoji = excluded.emoji, at = excluded.at",
                        params![id as i64, actor, emoji, now],
                    )?,
                    None => tx.execute(
                        "DELETE FROM reactions WHERE message_id = ?1 AND account = ?2",
                        params![id as i64, actor],
                    )?,
                };
                Event::Reacted { id, emoji: emoji.clone() }
            }
        };
        let target = original.target_for(actor);
        let event_id = insert_event(&tx, actor, &target, &event, client_id, now)?;
        let message = message_by_id(&tx, event_id)?;
        tx.commit()?;
        let removed_file = match change {
            Change::Recall { .. } => original.file_id,
            _ => None,
        };
        Ok(Ok(Changed { stored: Stored { message, duplicate: false }, target, removed_file }))
    }

    fn inbox_after(
        &mut self,
        account: AccountId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "{SELECT_MESSAGE} WHERE m.id > ?1 AND {} ORDER BY m.id LIMIT ?3",
            who(RECEIVES, 2)
        ))?;
        let rows = stmt.query_map(params![after as i64, account, limit as i64], row_to_message)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn history(
        &mut self,
        account: AccountId,
        with: &Target,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<ChatMessage>, bool), StoreError> {
        let before = before.map_or(i64::MAX, |b| b.min(i64::MAX as u64) as i64);
        let fetch = limit as i64 + 1;
        let messages = match with {
            Target::Everyone | Target::Group(_) => {
                let since = match with {
                    Target::Group(group) => match self.member_since(*group, account)? {
                        Some(since) => since as i64,
                        None => return Ok((Vec::new(), false)),
                    },
                    _ => 0,
                };
                let (_, to_group) = with.columns();
                let mut stmt = self.conn.prepare_cached(&format!(
                    "{SELECT_MESSAGE} WHERE m.to_group = ?1 AND m.id < ?2 AND m.id >= ?4
                       AND m.applies_to IS NULL ORDER BY m.id DESC LIMIT ?3"
                ))?;
                let rows =
                    stmt.query_map(params![to_group, before, fetch, since], row_to_message)?;
                rows.collect::<Result<Vec<_>, _>>()?
            }
            Target::User(other) => {
                let mut stmt = self.conn.prepare_cached(&format!(
                    "{SELECT_MESSAGE} WHERE m.id IN (
                        SELECT id FROM messages WHERE sender = ?1 AND to_user = ?2 AND id < ?3
                            AND applies_to IS NULL
                        UNION ALL
                        SELECT id FROM messages WHERE sender = ?2 AND to_user = ?1 AND id < ?3
                            AND applies_to IS NULL AND ?1 <> ?2
                        ORDER BY id DESC LIMIT ?4)
                     ORDER BY m.id DESC"
                ))?;
                let rows =
                    stmt.query_map(params![account, other, before, fetch], row_to_message)?;
                rows.collect::<Result<Vec<_>, _>>()?
            }
        };
        page(messages, limit, |m| self.add_reactions(m))
    }

    fn search(
        &mut self,
        account: AccountId,
        text: &str,
        with: Option<&Target>,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<ChatMessage>, bool), StoreError> {
        // Everything stored so far is searched.
        while self.index_pending(INDEX_BATCH)? > 0 {}
        let before = before.map_or(i64::MAX, |b| b.min(i64::MAX as u64) as i64);
        let (to_user, to_group) = with.map_or((None, None), Target::columns);
        // Every branch names ?5 and ?6 (NULL when unused): SQLite counts parameters up to the
        // highest number used.
        let in_conversation = match with {
            None => "(?5 IS NULL AND ?6 IS NULL)",
            Some(Target::User(_)) => {
                "((m.sender = ?1 AND m.to_user = ?5) OR (m.sender = ?5 AND m.to_user = ?1))
                 AND ?6 IS NULL"
            }
            Some(_) => "m.to_group = ?6 AND ?5 IS NULL",
        };
        // The trigram index needs three characters; shorter text is looked for row by row.
        let matches = if text.chars().count() >= 3 {
            "m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?2)"
        } else {
            "instr(lower(m.text), lower(?2)) > 0"
        };
        let pattern = if text.chars().count() >= 3 {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_owned()
        };
        let mut stmt = self.conn.prepare_cached(&format!(
            "{SELECT_MESSAGE} WHERE {matches} AND m.id < ?3 AND m.event IS NULL
               AND m.recalled = 0 AND {in_conversation} AND {}
             ORDER BY m.id DESC LIMIT ?4",
            who(READS, 1)
        ))?;
        let rows = stmt.query_map(
            params![account, pattern, before, limit as i64 + 1, to_user, to_group],
            row_to_message,
        )?;
        let messages: Vec<ChatMessage> = rows.collect::<Result<_, _>>()?;
        page(messages, limit, |m| self.add_reactions(m))
    }

    fn index_backlog(&mut self) -> Result<u64, StoreError> {
        let indexed: i64 =
            self.conn.query_row("SELECT indexed_up_to FROM search_index", [], |r| r.get(0))?;
        Ok(self.max_message_id()?.saturating_sub(indexed as u64))
    }

    fn index_pending(&mut self, limit: usize) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let indexed: i64 =
            tx.query_row("SELECT indexed_up_to FROM search_index", [], |r| r.get(0))?;
        let (covered, up_to): (i64, Option<i64>) = tx.query_row(
            "SELECT count(*), max(id) FROM
                 (SELECT id FROM messages WHERE id > ?1 ORDER BY id LIMIT ?2)",
            params![indexed, limit as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let Some(up_to) = up_to else { return Ok(0) };
        tx.execute(
            "INSERT INTO messages_fts (rowid, text)
             SELECT id, text FROM messages WHERE id > ?1 AND id <= ?2 AND text <> ''",
            params![indexed, up_to],
        )?;
        tx.execute("UPDATE search_index SET indexed_up_to = ?1", [up_to])?;
        tx.commit()?;
        Ok(covered as usize)
    }

    fn member_since(
        &mut self,
        group: GroupId,
        account: AccountId,
    ) -> Result<Option<u64>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT since FROM members WHERE group_id = ?1 AND account = ?2 AND until IS NULL",
            )?
            .query_row(params![group, account], |r| r.get::<_, i64>(0))
            .optional()?
            .map(|s| s as u64))
    }

    fn groups(&mut self) -> Result<Vec<GroupRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, name, topic FROM groups WHERE key IS NOT NULL ORDER BY id")?;
        let mut groups: Vec<GroupRow> = stmt
            .query_map([], |r| {
                Ok(GroupRow { id: r.get(0)?, name: r.get(1)?, topic: r.get(2)?, members: vec![] })
            })?
            .collect::<Result<_, _>>()?;
        let mut members = self.conn.prepare(
            "SELECT account, role FROM members WHERE group_id = ?1 AND until IS NULL ORDER BY since",
        )?;
        for group in &mut groups {
            group.members = members
                .query_map([group.id], |r| Ok((r.get(0)?, parse_role(&r.get::<_, String>(1)?))))?
                .collect::<Result<_, _>>()?;
        }
        Ok(groups)
    }

    fn create_group(
        &mut self,
        creator: AccountId,
        name: &str,
        key: &str,
        members: &[(AccountId, String)],
        now: i64,
    ) -> Result<(GroupId, Vec<ChatMessage>), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO groups (name, key, created_at) VALUES (?1, ?2, ?3)",
            params![name, key, now],
        )?;
        let group = tx.last_insert_rowid();
        let target = Target::Group(group);
        let mut events = Vec::new();
        let created = Event::Created { name: name.to_owned() };
        let id = insert_event(&tx, creator, &target, &created, &event_client_id(), now)?;
        set_membership(&tx, group, Membership::Join(creator, Role::Owner), id)?;
        events.push(id);
        for (member, member_name) in members {
            let added = Event::Added { user: member_name.clone() };
            let id = insert_event(&tx, creator, &target, &added, &event_client_id(), now)?;
            set_membership(&tx, group, Membership::Join(*member, Role::Member), id)?;
            events.push(id);
        }
        let events =
            events.into_iter().map(|id| message_by_id(&tx, id)).collect::<Result<_, _>>()?;
        tx.commit()?;
        Ok((group, events))
    }

    fn group_events(
        &mut self,
        group: GroupId,
        actor: AccountId,
        events: &[(Event, Vec<Membership>)],
        rename: Option<(&str, &str)>,
        topic: Option<&str>,
        now: i64,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let tx = self.conn.transaction()?;
        let mut ids = Vec::with_capacity(events.len());
        for (event, changes) in events {
            let id =
                insert_event(&tx, actor, &Target::Group(group), event, &event_client_id(), now)?;
            for change in changes {
                set_membership(&tx, group, *change, id)?;
            }
            ids.push(id);
        }
        if let Some((name, key)) = rename {
            tx.execute(
                "UPDATE groups SET name = ?2, key = ?3 WHERE id = ?1",
                params![group, name, key],
            )?;
        }
        if let Some(topic) = topic {
            tx.execute("UPDATE groups SET topic = ?2 WHERE id = ?1", params![group, topic])?;
        }
        let messages =
            ids.into_iter().map(|id| message_by_id(&tx, id)).collect::<Result<_, _>>()?;
        tx.commit()?;
        Ok(messages)
    }

    fn successor(
        &mut self,
        group: GroupId,
        leaving: AccountId,
    ) -> Result<Option<AccountId>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT account FROM members WHERE group_id = ?1 AND until IS NULL AND account <> ?2
                 ORDER BY role = 'admin' DESC, since LIMIT 1",
                params![group, leaving],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn drop_file(&mut self, id: u64, now: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE files SET state = CASE state WHEN 'uploading' THEN 'failed'
                 WHEN 'complete' THEN 'expired' ELSE state END, received = 0, updated_at = ?2
             WHERE id = ?1",
            params![id as i64, now],
        )?;
        Ok(())
    }

    fn delete_group(
        &mut self,
        group: GroupId,
        actor: AccountId,
        now: i64,
    ) -> Result<(ChatMessage, Vec<u64>), StoreError> {
        let tx = self.conn.transaction()?;
        let target = Target::Group(group);
        let id = insert_event(&tx, actor, &target, &Event::Deleted {}, &event_client_id(), now)?;
        tx.execute(
            "UPDATE members SET until = ?2 WHERE group_id = ?1 AND until IS NULL",
            params![group, id],
        )?;
        let to_group = group.to_string();
        let files: Vec<u64> = tx
            .prepare(
                "SELECT f.id FROM files f JOIN messages m ON m.file_id = f.id
                 WHERE m.to_group = ?1 AND f.state IN ('uploading', 'complete')",
            )?
            .query_map([&to_group], |r| Ok(r.get::<_, i64>(0)? as u64))?
            .collect::<Result<_, _>>()?;
        tx.execute(
            "UPDATE files SET state = CASE state WHEN 'uploading' THEN 'failed' ELSE 'expired' END,
                 updated_at = ?2
             WHERE id IN (SELECT file_id FROM messages WHERE to_group = ?1 AND file_id IS NOT NULL)
               AND state IN ('uploading', 'complete')",
            params![to_group, now],
        )?;
        tx.execute(
            "DELETE FROM reactions WHERE message_id IN (SELECT id FROM messages WHERE to_group = ?1)",
            [&to_group],
        )?;
        tx.execute("DELETE FROM messages WHERE to_group = ?1 AND id <> ?2", params![to_group, id])?;
        tx.execute("UPDATE groups SET key = NULL WHERE id = ?1", [group])?;
        let message = message_by_id(&tx, id)?;
        tx.commit()?;
        Ok((message, files))
    }

    fn set_read(
        &mut self,
        account: AccountId,
        with: &Target,
        up_to: u64,
    ) -> Result<(u64, u64), StoreError> {
        let before = self.read_position(account, with)?;
        let newest = self.max_message_id()?;
        let key = with.conversation(account);
        self.conn.execute(
            "INSERT INTO reads (account, conversation, up_to) VALUES (?1, ?2, ?3)
             ON CONFLICT (account, conversation) DO UPDATE SET up_to = max(up_to, excluded.up_to)",
            params![account, key, up_to.min(newest) as i64],
        )?;
        Ok((before, self.read_position(account, with)?))
    }

    fn read_positions(
        &mut self,
        account: AccountId,
        with: &Target,
        others: &[(AccountId, String)],
    ) -> Result<Vec<ReadPosition>, StoreError> {
        let key = with.conversation(account);
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.up_to FROM reads r JOIN accounts a ON a.id = r.account
             WHERE r.account = ?1 AND r.conversation = ?2 AND a.receipts = 1",
        )?;
        let mut out = Vec::new();
        for (other, name) in others {
            if let Some(up_to) =
                stmt.query_row(params![other, key], |r| r.get::<_, i64>(0)).optional()?
                && up_to > 0
            {
                out.push(ReadPosition { user: name.clone(), up_to: up_to as u64 });
            }
        }
        Ok(out)
    }

    fn receipts_on(&mut self, account: AccountId) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT receipts FROM accounts WHERE id = ?1", [account], |r| r.get(0))?)
    }

    fn set_receipts(&mut self, account: AccountId, on: bool) -> Result<(), StoreError> {
        self.conn
            .execute("UPDATE accounts SET receipts = ?2 WHERE id = ?1", params![account, on])?;
        Ok(())
    }

    fn conversations(
        &mut self,
        account: AccountId,
        groups: &[(GroupId, String)],
    ) -> Result<Vec<Conversation>, StoreError> {
        let mut found: Vec<(Target, Address)> = vec![(Target::Everyone, Address::everyone())];
        found.extend(
            groups.iter().map(|(id, name)| (Target::Group(*id), Address::Group(name.clone()))),
        );
        let partners: Vec<(i64, String)> = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT a.id, a.name FROM accounts a WHERE a.id IN (
                     SELECT to_user FROM messages WHERE sender = ?1 AND to_user IS NOT NULL
                     UNION SELECT sender FROM messages WHERE to_user = ?1)",
            )?
            .query_map([account], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (id, name) in partners {
            found.push((Target::User(id), Address::User(name)));
        }
        let mut out = Vec::with_capacity(found.len());
        for (target, with) in found {
            let read_up_to = self.read_position(account, &target)?;
            let (last_id, unread) = self.unread(account, &target, read_up_to)?;
            out.push(Conversation { with, last_id, read_up_to, unread });
        }
        out.sort_by_key(|c| std::cmp::Reverse(c.last_id));
        out.truncate(MAX_CONVERSATIONS);
        Ok(out)
    }

    fn set_delivered(&mut self, account: AccountId, up_to: u64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE accounts SET delivered_up_to = max(delivered_up_to, ?2) WHERE id = ?1",
            params![account, up_to.min(i64::MAX as u64) as i64],
        )?;
        Ok(())
    }

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
    ) -> Result<Result<(FileRow, bool), Rejection>, StoreError> {
        if let Some(existing) = self.file_by_transfer(sender, transfer_id)? {
            return Ok(Ok((existing, false)));
        }
        let (to_user, to_group) = target.columns();
        let tx = self.conn.transaction()?;
        if let Target::Group(group) = target
            && !is_member(&tx, *group, sender)?
        {
            return Ok(Err(Rejection::NotMember));
        }
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
        let row = self.file(file_id as u64)?.ok_or(StoreError::Vanished("file"))?;
        Ok(Ok((row, true)))
    }

    fn file(&mut self, id: u64) -> Result<Option<FileRow>, StoreError> {
        let found = self
            .conn
            .query_row(&format!("{SELECT_FILE} WHERE f.id = ?1"), [id as i64], row_to_file)
            .optional()?;
        self.fill_message(found)
    }

    fn file_by_transfer(
        &mut self,
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

    fn set_file_progress(
        &mut self,
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

    fn live_file_sizes(&mut self) -> Result<Vec<LiveFile>, StoreError> {
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

    fn can_read_file(&mut self, account: AccountId, file_id: u64) -> Result<bool, StoreError> {
        let found: Option<i64> = self
            .conn
            .query_row(
                &format!(
                    "SELECT m.id FROM messages m WHERE m.file_id = ?1 AND m.recalled = 0
                     AND (m.sender = ?2 OR {})",
                    who(READS, 2)
                ),
                params![file_id as i64, account],
                |r| r.get(0),
            )
            .optional()?;
        Ok(found.is_some())
    }

    fn mark_file_done(
        &mut self,
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

    fn pending_files(
        &mut self,
        account: AccountId,
        device: &str,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "{SELECT_MESSAGE} WHERE m.file_id IS NOT NULL AND ?1 = ?1
               AND (m.sender = ?2 OR {})
               AND f.state IN ('uploading', 'complete')
               AND NOT EXISTS (SELECT 1 FROM file_done d
                               WHERE d.file_id = f.id AND d.account = ?2 AND d.device = ?3)
             ORDER BY m.id LIMIT ?4",
            who(READS, 2)
        ))?;
        let rows =
            stmt.query_map(params![EVERYONE, account, device, limit as i64], row_to_message)?;
        let mut messages: Vec<ChatMessage> = rows.collect::<Result<_, _>>()?;
        // Keep the answer inside one frame; the rest comes on the next sign-in.
        fit_frame(&mut messages);
        Ok(messages)
    }

    fn files_to_expire(
        &mut self,
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

    fn live_files(&mut self) -> Result<Vec<u64>, StoreError> {
        let mut stmt =
            self.conn.prepare("SELECT id FROM files WHERE state IN ('uploading', 'complete')")?;
        let rows = stmt.query_map([], |r| Ok(r.get::<_, i64>(0)? as u64))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn checkpoint(&mut self) -> Result<(), StoreError> {
        self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    fn committed_after(&mut self, after: u64, limit: usize) -> Result<Vec<Committed>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{SELECT_MESSAGE} WHERE m.id > ?1 ORDER BY m.id LIMIT ?2"))?;
        let rows =
            stmt.query_map(params![after.min(i64::MAX as u64) as i64, limit as i64], |r| {
                Ok(Committed {
                    sender: r.get(20)?,
                    target: stored_target(r.get(21)?, r.get(22)?),
                    message: row_to_message(r)?,
                })
            })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn receivers(&mut self, group: GroupId, id: u64) -> Result<Vec<AccountId>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT account FROM members WHERE group_id = ?1 AND since <= ?2
               AND (until IS NULL OR until >= ?2)",
        )?;
        let rows = stmt.query_map(params![group, id.min(i64::MAX as u64) as i64], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn group(&mut self, group: GroupId) -> Result<Option<GroupRow>, StoreError> {
        let found = self
            .conn
            .query_row(
                "SELECT id, name, topic FROM groups WHERE id = ?1 AND key IS NOT NULL",
                [group],
                |r| {
                    Ok(GroupRow {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        topic: r.get(2)?,
                        members: vec![],
                    })
                },
            )
            .optional()?;
        let Some(mut row) = found else { return Ok(None) };
        row.members = self
            .conn
            .prepare_cached(
                "SELECT account, role FROM members WHERE group_id = ?1 AND until IS NULL ORDER BY since",
            )?
            .query_map([group], |r| Ok((r.get(0)?, parse_role(&r.get::<_, String>(1)?))))?
            .collect::<Result<_, _>>()?;
        Ok(Some(row))
    }
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
    Ok(MessageColumns {
        id: r.get(0)?,
        from: r.get(1)?,
        to_user: r.get(2)?,
        to_group: r.get(3)?,
        group_name: r.get(4)?,
        text: r.get(5)?,
        at: r.get(6)?,
        file_id: r.get(7)?,
        file_name: r.get(8)?,
        file_size: r.get(9)?,
        file_blake3: r.get(10)?,
        file_transfer_id: r.get(11)?,
        edited_at: r.get(12)?,
        recalled: r.get(13)?,
        event: r.get(14)?,
        quote_id: r.get(15)?,
        quote_from: r.get(16)?,
        quote_text: r.get(17)?,
        quote_file_name: r.get(18)?,
        quote_recalled: r.get(19)?,
    }
    .into_message())
}

/// Stores one message of a group commit (see [`Store::insert_messages`]).
fn insert_one(
    tx: &Transaction<'_>,
    row: &NewMessage<'_>,
) -> Result<Result<Stored, Rejection>, StoreError> {
    let checked = matches!(row.target, Target::Group(_)) || row.reply_to.is_some();
    // A repeat is answered before any check: a retry after leaving a group still gets its `sent`.
    // Unchecked messages (most of them) learn it from the insert itself.
    if checked && let Some(id) = find_client_id(tx, row.sender, row.client_id)? {
        return Ok(Ok(Stored { message: message_by_id(tx, id)?, duplicate: true }));
    }
    if let Target::Group(group) = row.target
        && !is_member(tx, group, row.sender)?
    {
        return Ok(Err(Rejection::NotMember));
    }
    if let Some(quoted) = row.reply_to {
        match original(tx, row.sender, quoted)? {
            Some(q) if q.target_for(row.sender) == row.target => {}
            _ => return Ok(Err(Rejection::UnknownMessage)),
        }
    }
    let (to_user, to_group) = row.target.columns();
    let inserted = tx
        .prepare_cached(
            "INSERT INTO messages (sender, to_user, to_group, text, at, client_id, reply_to)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (sender, client_id) DO NOTHING",
        )?
        .execute(params![
            row.sender,
            to_user,
            to_group,
            row.text,
            row.now,
            row.client_id,
            row.reply_to.map(|id| id as i64)
        ])?;
    if inserted == 0 {
        let id = find_client_id(tx, row.sender, row.client_id)?
            .ok_or(StoreError::Vanished("message"))?;
        return Ok(Ok(Stored { message: message_by_id(tx, id)?, duplicate: true }));
    }
    let message = message_by_id(tx, tx.last_insert_rowid())?;
    Ok(Ok(Stored { message, duplicate: false }))
}

fn find_client_id(
    tx: &Transaction<'_>,
    sender: AccountId,
    client_id: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(tx
        .prepare_cached("SELECT id FROM messages WHERE sender = ?1 AND client_id = ?2")?
        .query_row(params![sender, client_id], |r| r.get(0))
        .optional()?)
}

fn message_by_id(tx: &Transaction<'_>, id: i64) -> Result<ChatMessage, StoreError> {
    Ok(tx
        .prepare_cached(&format!("{SELECT_MESSAGE} WHERE m.id = ?1"))?
        .query_row([id], row_to_message)?)
}

fn target_of(tx: &Transaction<'_>, id: i64) -> Result<Target, StoreError> {
    let (to_user, to_group): (Option<i64>, Option<String>) = tx
        .prepare_cached("SELECT to_user, to_group FROM messages WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(stored_target(to_user, to_group))
}

fn is_member(tx: &Transaction<'_>, group: GroupId, account: AccountId) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached(
            "SELECT 1 FROM members WHERE group_id = ?1 AND account = ?2 AND until IS NULL",
        )?
        .query_row(params![group, account], |_| Ok(()))
        .optional()?
        .is_some())
}

fn original(
    tx: &Transaction<'_>,
    account: AccountId,
    id: u64,
) -> Result<Option<Original>, StoreError> {
    let Ok(id) = i64::try_from(id) else { return Ok(None) };
    Ok(tx
        .prepare_cached(&format!(
            "SELECT m.sender, m.to_user, m.to_group, m.at, m.file_id FROM messages m
             WHERE m.id = ?1 AND m.event IS NULL AND m.recalled = 0 AND {}",
            who(READS, 2)
        ))?
        .query_row(params![id, account], |r| {
            Ok(Original {
                sender: r.get(0)?,
                target: stored_target(r.get(1)?, r.get(2)?),
                at: r.get(3)?,
                file_id: r.get::<_, Option<i64>>(4)?.map(|f| f as u64),
            })
        })
        .optional()?)
}

/// Stores an event message; returns its id.
fn insert_event(
    tx: &Transaction<'_>,
    sender: AccountId,
    target: &Target,
    event: &Event,
    client_id: &str,
    now: i64,
) -> Result<i64, StoreError> {
    let (to_user, to_group) = target.columns();
    let json = serde_json::to_string(event).unwrap_or_default();
    tx.prepare_cached(
        "INSERT INTO messages (sender, to_user, to_group, text, at, client_id, event, applies_to)
         VALUES (?1, ?2, ?3, '', ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        sender,
        to_user,
        to_group,
        now,
        client_id,
        json,
        event.applies_to().map(|id| id as i64)
    ])?;
    Ok(tx.last_insert_rowid())
}

fn set_membership(
    tx: &Transaction<'_>,
    group: GroupId,
    change: Membership,
    event: i64,
) -> Result<(), StoreError> {
    match change {
        Membership::Join(account, role) => tx.execute(
            "INSERT INTO members (group_id, account, role, since) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (group_id, account)
             DO UPDATE SET role = excluded.role, since = excluded.since, until = NULL",
            params![group, account, role_str(role), event],
        )?,
        Membership::Role(account, role) => tx.execute(
            "UPDATE members SET role = ?3 WHERE group_id = ?1 AND account = ?2",
            params![group, account, role_str(role)],
        )?,
        Membership::Leave(account) => tx.execute(
            "UPDATE members SET until = ?3 WHERE group_id = ?1 AND account = ?2 AND until IS NULL",
            params![group, account, event],
        )?,
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_2_database_is_migrated_and_its_old_messages_are_searchable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.sqlite3");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            conn.execute_batch(
                "INSERT INTO accounts (name, key, password_hash, created_at) VALUES ('a', 'a', 'h', 0);
                 INSERT INTO messages (sender, to_group, text, at, client_id)
                     VALUES (1, 'everyone', '旧消息 from version two', 0, 'c1');
                 PRAGMA user_version = 2;",
            )
            .unwrap();
        }
        let mut s = Sqlite::open(&path).unwrap();
        let a = s.account_by_key("a").unwrap().unwrap();
        assert!(a.receipts, "receipts default to on");
        for text in ["旧消息", "VERSION two", "旧"] {
            let (found, _) = s.search(a.id, text, None, None, 10).unwrap();
            assert_eq!(found.len(), 1, "{text}");
        }
        // New messages keep counting from the old ones.
        let new = s.insert_message(a.id, &Target::Everyone, "new", "c2", 1).unwrap().unwrap();
        assert_eq!(new.message.id, 2);
        drop(s);
        // Opening again changes nothing.
        let mut s = Sqlite::open(&path).unwrap();
        assert_eq!(s.search(a.id, "new", None, None, 10).unwrap().0.len(), 1);
    }

    #[test]
    fn the_search_index_catches_up_in_batches() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Sqlite::open(&dir.path().join("q.sqlite3")).unwrap();
        let a = s.create_account("a", "a", "h", 0).unwrap().unwrap();
        s.insert_message(a.id, &Target::Everyone, "早上好 morning", "1", 0).unwrap().unwrap();
        s.insert_message(a.id, &Target::Everyone, "晚上好 evening", "2", 0).unwrap().unwrap();
        assert_eq!(s.index_backlog().unwrap(), 2);
        assert_eq!(s.index_pending(1).unwrap(), 1);
        assert_eq!(s.index_pending(INDEX_BATCH).unwrap(), 1);
        assert_eq!(s.index_pending(INDEX_BATCH).unwrap(), 0);
        assert_eq!(s.index_backlog().unwrap(), 0);
    }
}
