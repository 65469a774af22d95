//! Chat requests: send, history, the user list.
//!
//! A send is stored by the store thread's next group commit (one fsync for every message
//! waiting) and queued for its recipients there, in commit order, so every session's queue is
//! in id order.

use std::time::Instant;

use quicq_common::check::check_send;
use quicq_common::protocol::{Address, ErrorCode, MAX_HISTORY_PAGE, ServerFrame};

use crate::error::{Refusal, ServerError};
use crate::state::State;
use crate::store::{Account, Target, now_ms};
use crate::store_thread::Insert;
use quicq_common::turns::Ticket;

/// The stored target of an address, or `unknown_recipient`.
pub fn resolve(state: &State, to: &Address) -> Result<Target, ServerError> {
    state.hub().resolve(to).ok_or_else(|| {
        ServerError::refused(ErrorCode::UnknownRecipient, format!("no user or group named {to}"))
    })
}

/// Takes one token of the sender's rate limit, or refuses with the time to wait.
pub fn take_rate_token(state: &State, account: i64) -> Result<(), ServerError> {
    state
        .hub()
        .check_rate(account, Instant::now())
        .map_err(|wait| Refusal::rate_limited(wait).into())
}

/// Validates, rate-limits, stores durably and queues for delivery; returns the `sent` ack.
/// The message goes to the store in `ticket`'s turn (the order of the sender's streams,
/// see [`quicq_common::turns`]).
pub async fn send(
    state: &State,
    sender: &Account,
    client_id: String,
    to: Address,
    text: String,
    ticket: Ticket,
) -> Result<ServerFrame, ServerError> {
    check_send(&client_id, &text, state.config().max_text_chars())?;
    let target = resolve(state, &to)?;
    take_rate_token(state, sender.id)?;
    ticket.turn().await;
    let (hub, sender_id, fan_target) = (state.hub().clone(), sender.id, target.clone());
    let (reply, stored) = tokio::sync::oneshot::channel();
    state.insert(Insert {
        sender: sender_id,
        target,
        text,
        client_id: client_id.clone(),
        now: now_ms(),
        then: Box::new(move |stored| hub.fan_out(sender_id, &fan_target, &stored.message)),
        reply,
    });
    // In the store thread's queue: the next stream's message may follow.
    drop(ticket);
    let stored = stored
        .await
        .map_err(|_| ServerError::Store(crate::store::StoreError::Stopped))?
        .map_err(ServerError::Commit)?;
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
    let target = resolve(state, &with)?;
    let id = account.id;
    let (messages, more) =
        state.with_store(move |s| Ok(s.history(id, &target, before, limit as usize)?)).await?;
    Ok(ServerFrame::HistoryPage { with, messages, more })
}

pub fn users(state: &State, after: Option<String>) -> ServerFrame {
    let (users, more) = state.hub().users_page(after.as_deref());
    ServerFrame::UserList { users, more }
}
