//! Serving files to recipients: `download` streams a file from the spool on a new
//! unidirectional stream, following an upload that is still running (cut-through);
//! `pending_files` and `file_done` track which files each device still needs.

use std::io::SeekFrom;
use std::sync::Arc;

use quicq_common::frame::write_frame;
use quicq_common::protocol::{ErrorCode, PENDING_FILES_PAGE, ServerFrame, stream_code};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::error::ServerError;
use crate::files::rules;
use crate::files::spool::{Phase, Progress};
use crate::state::{Peer, State};
use crate::store::{FileRow, FileState};

/// Bytes moved per disk read.
const BLOCK: usize = 256 * 1024;

/// Why a download stream ended early.
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("stream: {0}")]
    Write(#[from] quinn::WriteError),
    #[error("stream closed: {0}")]
    Closed(#[from] quinn::ClosedStream),
    #[error("spool: {0}")]
    Io(#[from] std::io::Error),
    #[error("the spool file is shorter than its progress")]
    Short,
    #[error("the upload's progress stopped without an end state")]
    Abandoned,
    #[error("a file message without its file")]
    NoFile,
}

/// Answers `download`: checks access, then streams the file on a new unidirectional stream.
pub async fn start(
    state: Arc<State>,
    peer: &Peer,
    conn: quinn::Connection,
    file_id: u64,
    offset: u64,
) -> Result<ServerFrame, ServerError> {
    let account = peer.account.id;
    let file = state
        .with_store(move |s| {
            Ok(match s.can_read_file(account, file_id)? {
                true => s.file(file_id)?,
                false => None,
            })
        })
        .await?
        .ok_or_else(|| {
            ServerError::refused(ErrorCode::UnknownFile, format!("no file {file_id} for you"))
        })?;
    let phase = rules::download_phase(file.state, offset, file.size)?;
    let progress = state.spool().watch(file_id, Progress { received: file.received, state: phase });
    // The upload may have finished between reading the row and following it: the database is
    // updated before progress is published, so a second read settles it.
    let fresh = state.with_store(move |s| Ok(s.file(file_id)?)).await;
    let fresh = match fresh {
        Ok(fresh) => fresh,
        Err(e) => {
            drop(progress);
            state.spool().release(file_id);
            return Err(e);
        }
    };
    match fresh.as_ref().map(|f| (f.state, f.received)) {
        Some((FileState::Complete, received)) if progress.borrow().state == Phase::Uploading => {
            state.spool().publish(file_id, Progress { received, state: Phase::Complete });
        }
        Some((FileState::Failed | FileState::Expired, _)) | None => {
            drop(progress);
            state.spool().release(file_id);
            return Err(ServerError::refused(
                ErrorCode::FileUnavailable,
                "this file was cancelled or failed",
            ));
        }
        _ => {}
    }
    // Opened before answering, so a file whose bytes are gone (a failure that could not be
    // recorded, say on a full disk) is refused here instead of ending in a reset stream the
    // client cannot tie to its request.
    let disk = match tokio::fs::File::open(state.spool().path(file_id)).await {
        Ok(disk) => disk,
        Err(e) => {
            tracing::error!(file = file_id, cause = %e, "spool file of a live file cannot be opened");
            drop(progress);
            state.spool().release(file_id);
            return Err(ServerError::refused(
                ErrorCode::FileUnavailable,
                "the server no longer has this file's bytes",
            ));
        }
    };
    let task_state = state.clone();
    state.tasks().spawn(async move {
        let state = task_state;
        match conn.open_uni().await {
            Ok(mut send) => {
                // A download following an upload may wait for bytes indefinitely; it ends with
                // its connection (at shutdown too, which waits for file jobs).
                let sent = tokio::select! {
                    sent = send_file(&mut send, disk, &file, offset, progress) => sent,
                    _ = conn.closed() => Ok(()),
                };
                if let Err(e) = sent {
                    // Never let a failed download look like a complete one.
                    let _ = send.reset(stream_code::FILE_ABORTED.into());
                    tracing::debug!(file = file_id, cause = %e, "download ended early");
                }
            }
            Err(e) => {
                drop(progress);
                tracing::debug!(file = file_id, cause = %e, "cannot open download stream");
            }
        }
        state.spool().release(file_id);
    });
    Ok(ServerFrame::DownloadStarted { file_id, offset })
}

async fn send_file(
    send: &mut quinn::SendStream,
    mut disk: tokio::fs::File,
    file: &FileRow,
    offset: u64,
    mut progress: tokio::sync::watch::Receiver<Progress>,
) -> Result<(), SendError> {
    // Chat streams (priority 0) go first; files fill the rest of the link.
    send.set_priority(-1)?;
    let m = &file.message;
    let info = m.file.as_ref().ok_or(SendError::NoFile)?;
    let header = ServerFrame::File {
        file_id: file.id,
        message_id: m.id,
        from: m.from.clone(),
        to: m.to.clone(),
        name: info.name.clone(),
        size: file.size,
        blake3: file.blake3.clone(),
        at: m.at,
        offset,
    };
    write_frame(send, &header).await?;
    disk.seek(SeekFrom::Start(offset)).await?;
    let mut pos = offset;
    let mut buf = vec![0u8; BLOCK];
    loop {
        let now = *progress.borrow_and_update();
        if let Phase::Gone(_) = now.state {
            let _ = send.reset(stream_code::FILE_ABORTED.into());
            return Ok(());
        }
        if pos < now.received {
            let want = BLOCK.min((now.received - pos) as usize);
            let n = disk.read(&mut buf[..want]).await?;
            if n == 0 {
                return Err(SendError::Short);
            }
            match send.write_all(&buf[..n]).await {
                Ok(()) => pos += n as u64,
                // The recipient cancelled: nothing to clean up for the others.
                Err(quinn::WriteError::Stopped(_)) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
            continue;
        }
        if now.state == Phase::Complete && pos >= file.size {
            send.finish()?;
            return Ok(());
        }
        if progress.changed().await.is_err() {
            return Err(SendError::Abandoned);
        }
    }
}

/// Answers `pending_files`: the files this device has not yet finished, oldest first.
pub async fn pending(state: &State, peer: &Peer) -> Result<ServerFrame, ServerError> {
    let (id, device) = (peer.account.id, peer.device.clone());
    let messages =
        state.with_store(move |s| Ok(s.pending_files(id, &device, PENDING_FILES_PAGE)?)).await?;
    Ok(ServerFrame::FileList { messages })
}

/// `file_done`: marks a file done for the peer's device; tells the uploader when a recipient
/// saved it (once per account).
pub async fn done(
    state: &State,
    peer: &Peer,
    file_id: u64,
    saved: bool,
) -> Result<(), ServerError> {
    let (id, device) = (peer.account.id, peer.device.clone());
    let found = state
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
        && sender != peer.account.id
    {
        state.notify(sender, ServerFrame::FileDelivered { file_id, to: peer.account.name.clone() });
    }
    Ok(())
}
