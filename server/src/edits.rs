//! Changes to sent messages: edit, recall and react. Each is stored as an event message in the
//! same conversation (so every recipient, offline ones included, applies it in order) and
//! applied to the original in the same transaction (so history shows the result).

use std::sync::Arc;

use quicq_common::check::{check_client_id, check_emoji, check_send};
use quicq_common::protocol::ServerFrame;

use crate::chat::take_rate_token;
use crate::error::ServerError;
use crate::files::retention;
use crate::state::State;
use crate::store::{Account, Change, now_ms};

/// `edit`: replaces the text of one's own message within the edit window.
pub async fn edit(
    state: &Arc<State>,
    account: &Account,
    client_id: String,
    id: u64,
    text: String,
) -> Result<ServerFrame, ServerError> {
    check_send(&client_id, &text, state.config().max_text_chars())?;
    let window_ms = window(state.config().edit_window_secs);
    apply(state, account, client_id, id, Change::Edit { text, window_ms }).await
}

/// `recall`: deletes one's own message for everyone within the recall window, its file too.
pub async fn recall(
    state: &Arc<State>,
    account: &Account,
    client_id: String,
    id: u64,
) -> Result<ServerFrame, ServerError> {
    check_client_id(&client_id)?;
    let window_ms = window(state.config().recall_window_secs);
    apply(state, account, client_id, id, Change::Recall { window_ms }).await
}

/// `react`: sets or clears one's reaction to a message.
pub async fn react(
    state: &Arc<State>,
    account: &Account,
    client_id: String,
    id: u64,
    emoji: Option<String>,
) -> Result<ServerFrame, ServerError> {
    check_client_id(&client_id)?;
    if let Some(emoji) = &emoji {
        check_emoji(emoji)?;
    }
    apply(state, account, client_id, id, Change::React { emoji }).await
}

async fn apply(
    state: &Arc<State>,
    account: &Account,
    client_id: String,
    id: u64,
    change: Change,
) -> Result<ServerFrame, ServerError> {
    take_rate_token(state, account.id)?;
    let (actor, shared, cid) = (account.id, state.clone(), client_id.clone());
    let changed = state
        .with_store(move |s| {
            let changed = s.change_message(actor, id, &change, &cid, now_ms())??;
            if !changed.stored.duplicate {
                shared.hub().fan_out(actor, &changed.target, &changed.stored.message);
            }
            Ok(changed)
        })
        .await?;
    if let Some(file) = changed.removed_file {
        let notify = state.hub().participants(actor, &changed.target);
        retention::remove(state, file, &notify, "the sender recalled the file").await;
    }
    let message = changed.stored.message;
    Ok(ServerFrame::Sent { client_id, id: message.id, at: message.at })
}

fn window(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}
