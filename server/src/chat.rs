//! The operations behind each request: log in or register, send, history, user list.
//!
//! Storage and password hashing run on blocking threads. Sending holds the store's lock from the
//! insert until the message is queued for its recipients, so queues receive messages in id order.

use std::sync::Arc;
use std::time::Instant;

use quicq_common::nickname::Nickname;
use quicq_common::protocol::{
    Address, ErrorCode, MAX_CLIENT_ID_LEN, MAX_HISTORY_PAGE, MAX_PASSWORD_LEN, MIN_PASSWORD_CHARS,
    ServerFrame,
};
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::hub::Hub;
use crate::password::Passwords;
use crate::spool::Spool;
use crate::store::{Account, FILE_CLIENT_ID_PREFIX, FileState, Store, StoreError};
use crate::store_thread::{Insert, StoreThread};
use crate::transfer::ActiveUploads;

/// A request's failure as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after_ms: Option<u64>,
}

impl Refusal {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Refusal { code, message: message.into(), retry_after_ms: None }
    }

    pub fn into_frame(self) -> ServerFrame {
        ServerFrame::Error {
            code: self.code,
            message: self.message,
            retry_after_ms: self.retry_after_ms,
        }
    }
}

impl From<quicq_common::check::Invalid> for Refusal {
    fn from(invalid: quicq_common::check::Invalid) -> Self {
        Refusal::new(invalid.code, invalid.message)
    }
}

impl From<StoreError> for Refusal {
    fn from(err: StoreError) -> Self {
        tracing::error!(cause = %err, "storage failed");
        Refusal::new(ErrorCode::Internal, "the server could not store or read data; try again")
    }
}

fn internal(what: &str) -> Refusal {
    tracing::error!("{what} failed");
    Refusal::new(ErrorCode::Internal, "internal server error; try again")
}

#[derive(Debug)]
pub struct Chat {
    pub config: Config,
    pub hub: Arc<Hub>,
    pub spool: Spool,
    pub uploads: ActiveUploads,
    store: StoreThread,
    /// Argon2 takes ~19 MiB and tens of milliseconds per hash; bound how many run at once so a
    /// login storm cannot exhaust memory. More than one per core would not make logins faster.
    hashing: Semaphore,
    passwords: Arc<Passwords>,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Chat {
    pub fn new(config: Config, store: Store, spool: Spool) -> Result<Self, StoreError> {
        let hub = Hub::new(
            store.accounts()?,
            config.session_queue,
            config.messages_per_second,
            config.message_burst,
        );
        // At most 4: the pool keeps each hash's 19 MiB for reuse.
        let permits = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        Ok(Chat {
            config,
            hub: Arc::new(hub),
            spool,
            uploads: ActiveUploads::default(),
            store: StoreThread::start(store)
                .map_err(|e| StoreError::DataDir { path: "store thread".into(), source: e })?,
            hashing: Semaphore::new(permits),
            passwords: Arc::new(Passwords::new(permits)),
        })
    }

    /// Runs `f` on the store thread, after everything queued before it.
    pub async fn with_store<T, F>(&self, f: F) -> Result<T, Refusal>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.store.run(move |store| {
            let _ = tx.send(f(store));
        });
        rx.await.map_err(|_| internal("storage task"))?.map_err(Refusal::from)
    }

    /// Checks the password, or registers a free nickname. Returns the account and whether it was
    /// created now.
    pub async fn login(&self, nickname: &str, password: &str) -> Result<(Account, bool), Refusal> {
        let nick = Nickname::parse(nickname)
            .map_err(|e| Refusal::new(ErrorCode::InvalidNickname, e.to_string()))?;
        if password.len() > MAX_PASSWORD_LEN {
            return Err(Refusal::new(ErrorCode::WeakPassword, "password is too long"));
        }
        let key = nick.key().to_owned();
        let existing = self.with_store(move |s| s.account_by_key(&key)).await?;
        if let Some(account) = existing {
            return self.check_password(account, password).await.map(|a| (a, false));
        }
        if !self.config.registration {
            return Err(Refusal::new(
                ErrorCode::RegistrationClosed,
                "no account has this nickname and this server does not accept new accounts",
            ));
        }
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(Refusal::new(
                ErrorCode::WeakPassword,
                format!(
                    "a new account needs a password of at least {MIN_PASSWORD_CHARS} characters"
                ),
            ));
        }
        let phc = self.hash(password).await?;
        let (name, key) = (nick.as_str().to_owned(), nick.key().to_owned());
        let created = self
            .with_store(move |s| {
                Ok(match s.create_account(&name, &key, &phc, now_ms())? {
                    Some(account) => Ok(account),
                    None => Err(s.account_by_key(&key)?),
                })
            })
            .await?;
        match created {
            Ok(account) => {
                self.hub.add_account(account.id, &account.name, &account.key);
                tracing::info!(user = %account.name, "registered");
                Ok((account, true))
            }
            // Someone registered the same name a moment ago: this is now a login.
            Err(Some(account)) => self.check_password(account, password).await.map(|a| (a, false)),
            Err(None) => Err(internal("registration")),
        }
    }

    async fn check_password(&self, account: Account, password: &str) -> Result<Account, Refusal> {
        let _permit = self.hashing.acquire().await.map_err(|_| internal("hashing"))?;
        let (password, phc) = (password.to_owned(), account.password_hash.clone());
        let passwords = self.passwords.clone();
        let ok = tokio::task::spawn_blocking(move || passwords.verify(&password, &phc))
            .await
            .map_err(|_| internal("password check"))?;
        if ok {
            Ok(account)
        } else {
            Err(Refusal::new(ErrorCode::WrongPassword, "wrong password for this nickname"))
        }
    }

    async fn hash(&self, password: &str) -> Result<String, Refusal> {
        let _permit = self.hashing.acquire().await.map_err(|_| internal("hashing"))?;
        let password = password.to_owned();
        let passwords = self.passwords.clone();
        tokio::task::spawn_blocking(move || passwords.hash(&password))
            .await
            .map_err(|_| internal("password hashing"))?
            .map_err(|_| internal("password hashing"))
    }

    /// Validates, rate-limits, stores durably and queues for delivery; returns the `sent` ack.
    pub async fn send(
        &self,
        sender: &Account,
        client_id: String,
        to: Address,
        text: String,
    ) -> Result<ServerFrame, Refusal> {
        if client_id.is_empty() || client_id.len() > MAX_CLIENT_ID_LEN {
            return Err(Refusal::new(
                ErrorCode::InvalidClientId,
                format!("client_id must be 1 to {MAX_CLIENT_ID_LEN} bytes"),
            ));
        }
        if client_id.starts_with(FILE_CLIENT_ID_PREFIX) {
            return Err(Refusal::new(
                ErrorCode::InvalidClientId,
                format!(
                    "client ids starting with {FILE_CLIENT_ID_PREFIX:?} are reserved for files"
                ),
            ));
        }
        if text.trim().is_empty() {
            return Err(Refusal::new(ErrorCode::EmptyText, "message text is empty"));
        }
        let max = self.config.max_text_chars() as usize;
        if text.chars().count() > max {
            return Err(Refusal::new(
                ErrorCode::TextTooLong,
                format!("message is longer than {max} characters"),
            ));
        }
        let target = self.hub.resolve(&to).ok_or_else(|| {
            Refusal::new(ErrorCode::UnknownRecipient, format!("no user or group named {to}"))
        })?;
        if let Err(wait) = self.hub.check_rate(sender.id, Instant::now()) {
            return Err(Refusal {
                code: ErrorCode::RateLimited,
                message: "sending too fast; slow down".into(),
                retry_after_ms: Some(wait.as_millis() as u64 + 1),
            });
        }
        // Stored with whatever other messages are waiting (one sync for all), then queued for
        // the recipients on the store thread, in id order.
        let (hub, sender_id, fan_target) = (self.hub.clone(), sender.id, target.clone());
        let (reply, stored) = tokio::sync::oneshot::channel();
        self.store.insert(Insert {
            sender: sender_id,
            target,
            text,
            client_id: client_id.clone(),
            now: now_ms(),
            then: Box::new(move |stored| hub.fan_out(sender_id, &fan_target, &stored.message)),
            reply,
        });
        let stored = stored.await.map_err(|_| internal("storage task"))?.map_err(|e| {
            tracing::error!(cause = %e, "storing a message failed");
            Refusal::new(ErrorCode::Internal, "the server could not store the message; try again")
        })?;
        Ok(ServerFrame::Sent { client_id, id: stored.message.id, at: stored.message.at })
    }

    pub async fn history(
        &self,
        account: &Account,
        with: Address,
        before: Option<u64>,
        limit: u32,
    ) -> Result<ServerFrame, Refusal> {
        if limit == 0 || limit > MAX_HISTORY_PAGE {
            return Err(Refusal::new(
                ErrorCode::InvalidLimit,
                format!("limit must be 1 to {MAX_HISTORY_PAGE}"),
            ));
        }
        let target = self.hub.resolve(&with).ok_or_else(|| {
            Refusal::new(ErrorCode::UnknownRecipient, format!("no user or group named {with}"))
        })?;
        let id = account.id;
        let (messages, more) =
            self.with_store(move |s| s.history(id, &target, before, limit as usize)).await?;
        Ok(ServerFrame::HistoryPage { with, messages, more })
    }

    pub fn users(&self, after: Option<String>) -> ServerFrame {
        let (users, more) = self.hub.users_page(after.as_deref());
        ServerFrame::UserList { users, more }
    }

    /// Pushes a control frame to every session of an account.
    pub fn notify(&self, account: i64, frame: ServerFrame) {
        self.hub.notify(account, &frame);
    }

    /// Records upload progress without waiting (called from the spool writer's thread).
    pub fn record_progress_blocking(&self, file_id: u64, received: u64) {
        self.store.run(move |store| {
            if let Err(e) =
                store.set_file_progress(file_id, received, FileState::Uploading, now_ms())
            {
                tracing::error!(cause = %e, "cannot record upload progress");
            }
        });
    }

    /// Marks a file done for a device; tells the uploader when a recipient saved it.
    pub async fn file_done(
        &self,
        account: &Account,
        device: &str,
        file_id: u64,
        saved: bool,
    ) -> Result<(), Refusal> {
        let (id, device) = (account.id, device.to_owned());
        let found = self
            .with_store(move |s| {
                if !s.can_read_file(id, file_id)? {
                    return Ok(None);
                }
                let new = s.mark_file_done(file_id, id, &device, saved)?;
                Ok(s.file(file_id)?.map(|f| (f.sender, new)))
            })
            .await?;
        if let Some((sender, true)) = found
            && saved
            && sender != account.id
        {
            self.notify(sender, ServerFrame::FileDelivered { file_id, to: account.name.clone() });
        }
        Ok(())
    }

    /// Drops files past retention and uploads stalled too long; returns how many.
    pub async fn expire_files(self: &Arc<Self>) -> Result<usize, Refusal> {
        let chat = self.clone();
        let now = now_ms();
        let kept_since = now - (self.config.file_retention_secs as i64).saturating_mul(1000);
        let stalled_since = now - (self.config.upload_stall_secs as i64).saturating_mul(1000);
        let expired = self
            .with_store(move |s| {
                let mut found = s.files_to_expire(kept_since, stalled_since)?;
                // An upload being written right now is not stalled, however slow.
                found.retain(|(id, _)| !chat.uploads.is_running(*id));
                for (id, complete) in &found {
                    let state = if *complete { FileState::Expired } else { FileState::Failed };
                    s.set_file_progress(*id, 0, state, now)?;
                }
                Ok(found)
            })
            .await?;
        for (id, _) in &expired {
            self.spool.discard(*id, ErrorCode::FileUnavailable);
        }
        Ok(expired.len())
    }

    /// Flushes the WAL into the database file; called at shutdown.
    pub async fn flush(&self) -> Result<(), Refusal> {
        self.with_store(|s| s.checkpoint()).await
    }
}
