//! Retention: files past their time and uploads that stalled are dropped, once a minute; files
//! whose message was recalled or whose group was deleted are dropped at once.

use std::sync::Arc;
use std::time::Duration;

use quicq_common::protocol::ErrorCode;
use tokio_util::sync::CancellationToken;

use crate::error::ServerError;
use crate::files::rules;
use crate::state::State;
use crate::store::{AccountId, now_ms};

/// How often the sweep runs.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Sweeps until `shutdown`.
pub async fn sweep(state: Arc<State>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        match expire(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(files = n, "expired files removed"),
            Err(e) => tracing::error!(cause = %e, "file expiry failed"),
        }
    }
}

/// Drops files past retention and uploads stalled too long; returns how many.
pub async fn expire(state: &Arc<State>) -> Result<usize, ServerError> {
    let now = now_ms();
    let config = state.config();
    let (kept_since, stalled_since) =
        rules::expiry_cutoffs(now, config.file_retention_secs, config.upload_stall_secs);
    let shared = state.clone();
    let expired = state
        .with_store(move |s| {
            let mut dropped = Vec::new();
            for (id, complete) in s.files_to_expire(kept_since, stalled_since)? {
                if let Some(to) = rules::expire_to(complete, shared.uploads().is_running(id)) {
                    s.set_file_progress(id, 0, to, now)?;
                    dropped.push(id);
                }
            }
            Ok(dropped)
        })
        .await?;
    for id in &expired {
        state.discard_file(*id, ErrorCode::FileUnavailable);
    }
    Ok(expired.len())
}

/// Drops one file now: stops its upload if one is running (the uploader cannot resume it),
/// marks it dropped, deletes its bytes, and tells `notify`'s sessions it is gone.
pub async fn remove(state: &Arc<State>, file_id: u64, notify: &[AccountId], why: &str) {
    let row = state.with_store(move |s| Ok(s.file(file_id)?)).await.ok().flatten();
    let writing = state.uploads().take_over(file_id).await;
    // After the take-over: a stopped upload records its progress on the way out.
    let dropped = state.with_store(move |s| Ok(s.drop_file(file_id, now_ms())?)).await;
    if let Err(e) = dropped {
        tracing::error!(cause = %e, file = file_id, "cannot record a dropped file");
    }
    state.discard_file(file_id, ErrorCode::FileUnavailable);
    state.uploads().finish(file_id, &writing);
    let gone = quicq_common::protocol::ServerFrame::FileGone {
        file_id,
        code: ErrorCode::FileUnavailable,
        message: why.to_owned(),
    };
    state.hub().notify_all(notify, &gone);
    // Not every byte had arrived: its upload was running or could be resumed, so the uploader
    // must hear that it will not complete.
    if let Some(row) = row.filter(|r| r.received < r.size) {
        let rejected = quicq_common::protocol::ServerFrame::FileRejected {
            transfer_id: row.transfer_id,
            file_id: Some(file_id),
            code: ErrorCode::FileUnavailable,
            message: why.to_owned(),
        };
        state.hub().notify(row.sender, &rejected);
    }
    tracing::info!(file = file_id, why, "file removed");
}
