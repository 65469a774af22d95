//! Chat requests: send, history, search, the user list.
//!
//! A send is stored by the store thread's next group commit (one fsync for every message
//! waiting) and queued for its recipients there, in commit order, so every session's queue is
//! in id order.

use std::time::Instant;

use quicq_common::check::{check_search, check_send};
use quicq_common::nickname::key_of;
use quicq_common::protocol::{Address, ErrorCode, MAX_HISTORY_PAGE, MAX_SEARCH_PAGE, ServerFrame};

use crate::error::{Refusal, ServerError};
use crate::state::State;
use crate::store::{Account, Target, now_ms};
use crate::store_thread::Insert;
use quicq_common::turns::Ticket;

/// The stored target of an address as `account` may use it, or `unknown_recipient` (a group
/// `account` is not in is reported like one that does not exist).
pub async fn resolve(state: &State, account: i64, to: &Address) -> Result<Target, ServerError> {
    if let Some(target) = state.hub().resolve(account, to) {
        return Ok(target);
    }
    if let Address::User(name) = to
        && state.hub().in_cluster()
    {
        // Perhaps registered through another node a moment ago.
        let key = key_of(name);
        if let Some(found) = state.with_store(move |s| Ok(s.account_by_key(&key)?)).await? {
            state.hub().learn_accounts(vec![(found.id, found.name, found.key)]);
            if let Some(target) = state.hub().resolve(account, to) {
                return Ok(target);
            }
        }
    }
    let message = match to {
        Address::User(name) => format!("no user named {name}"),
        Address::Group(name) => format!("no group named {name} that you are in"),
    };
    Err(ServerError::refused(ErrorCode::UnknownRecipient, message))
}

/// Takes one token of the sender's rate limit, or refuses with the time to wait.
pub fn take_rate_token(state: &State, account: i64) -> Result<(), ServerError> {
    state
        .hub()
        .check_rate(account, Instant::now())
        .map_err(|wait| Refusal::rate_limited(wait).into())
}

/// A send's place among its session's sends, and the session's connection.
pub struct Turn {
    pub ticket: Ticket,
    pub conn: quinn::Connection,
}

impl Turn {
    /// Waits for the turn. It also comes when an earlier stream fails, as every stream does
    /// when the connection is lost: a send stored then could overtake an earlier one that never
    /// arrived, so it is refused (unseen); the client sends every unanswered one again on its
    /// next connection, in order.
    async fn wait(&self) -> Result<(), ServerError> {
        self.ticket.turn().await;
        match self.conn.close_reason() {
            None => Ok(()),
            Some(_) => Err(ServerError::refused(
                ErrorCode::Internal,
                "the connection closed before this message's turn; send it again",
            )),
        }
    }
}

/// Validates, rate-limits, stores durably and queues for delivery; returns the `sent` ack.
/// The message goes to the store in its turn (the order of the sender's streams, see
/// [`quicq_common::turns`]).
pub async fn send(
    state: &State,
    sender: &Account,
    client_id: String,
    to: Address,
    text: String,
    reply_to: Option<u64>,
    turn: Turn,
) -> Result<ServerFrame, ServerError> {
    check_send(&client_id, &text, state.config().max_text_chars())?;
    let target = resolve(state, sender.id, &to).await?;
    take_rate_token(state, sender.id)?;
    turn.wait().await?;
    let (hub, sender_id, fan_target) = (state.hub().clone(), sender.id, target);
    let (reply, stored) = tokio::sync::oneshot::channel();
    state.insert(Insert {
        sender: sender_id,
        target,
        text,
        client_id: client_id.clone(),
        now: now_ms(),
        reply_to,
        then: Box::new(move |stored| hub.fan_out(sender_id, &fan_target, &stored.message)),
        reply,
    });
    // In the store thread's queue: the next stream's message may follow.
    drop(turn);
    let stored = stored
        .await
        .map_err(|_| ServerError::Store(crate::store::StoreError::Stopped))?
        .map_err(ServerError::Commit)??;
    Ok(ServerFrame::Sent { client_id, id: stored.message.id, at: stored.message.at })
}

pub async fn history(
    state: &State,
    account: &Account,
    with: Address,
    before: Option<u64>,
    limit: u32,
) -> Result<ServerFrame, ServerError> {
    if limit == 0 || limit > MAX_HISTORY_PAGE {
        return Err(ServerError::refused(
            ErrorCode::InvalidLimit,
            format!("limit must be 1 to {MAX_HISTORY_PAGE}"),
        ));
    }
    let target = resolve(state, account.id, &with).await?;
    let id = account.id;
    let (messages, more) =
        state.with_store(move |s| Ok(s.history(id, &target, before, limit as usize)?)).await?;
    Ok(ServerFrame::HistoryPage { with, messages, more })
}

/// Messages containing `text` in the conversations `account` may read (or only `with`).
pub async fn search(
    state: &State,
    account: &Account,
    text: String,
    with: Option<Address>,
    before: Option<u64>,
    limit: u32,
) -> Result<ServerFrame, ServerError> {
    check_search(&text, state.config().max_text_chars())?;
    if limit == 0 || limit > MAX_SEARCH_PAGE {
        return Err(ServerError::refused(
            ErrorCode::InvalidLimit,
            format!("limit must be 1 to {MAX_SEARCH_PAGE}"),
        ));
    }
    let with = match with {
        Some(to) => Some(resolve(state, account.id, &to).await?),
        None => None,
    };
    let (id, text) = (account.id, text.trim().to_owned());
    let (messages, more) = state
        .with_store(move |s| Ok(s.search(id, &text, with.as_ref(), before, limit as usize)?))
        .await?;
    Ok(ServerFrame::SearchResults { messages, more })
}

pub fn users(state: &State, after: Option<String>) -> ServerFrame {
    let (users, more) = state.hub().users_page(after.as_deref());
    ServerFrame::UserList { users, more }
}
