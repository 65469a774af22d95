//! Receiving an upload: read its header, decide (see [`rules`]), then stream the bytes into the
//! spool while downloads follow, and record the verdict. Memory per upload is a few blocks,
//! whatever the file size.

use std::sync::Arc;
use std::time::{Duration, Instant};

use quicq_common::check::truncate_bytes;
use quicq_common::file_sink::{FileSink, free_bytes};
use quicq_common::frame::read_frame;
use quicq_common::protocol::{
    ClientFrame, MAX_FILE_NAME_BYTES, MAX_OFFLINE_NAMES, ServerFrame, UPLOAD_HEADER_TIMEOUT_SECS,
    stream_code,
};
use quicq_common::pump;
use quicq_common::socket::Figures;
use quicq_common::text::strip_format;
use tokio_util::sync::CancellationToken;

use crate::chat::{resolve, take_rate_token};
use crate::error::{Refusal, ServerError};
use crate::files::registry::{Claim, Writing};
use crate::files::rules::{self, End, Header, Held, Start, Verdict};
use crate::files::spool::{self, Phase, Progress};
use crate::state::{Peer, State};
use crate::store::{FileRow, FileState, Target, now_ms};

/// Progress is recorded in the database at least this often (bytes)…
const PERSIST_EVERY: u64 = 64 * 1024 * 1024;
/// …and at least this often, so a slow upload never looks stalled.
const PERSIST_INTERVAL: Duration = Duration::from_secs(60);
/// How often a running upload's progress goes to the other nodes of a cluster.
const RELAY_EVERY: Duration = Duration::from_millis(50);

/// Reads an upload header and the bytes after it, to the end.
pub async fn receive(
    state: Arc<State>,
    peer: Arc<Peer>,
    conn: quinn::Connection,
    mut recv: quinn::RecvStream,
) {
    let timeout = Duration::from_secs(UPLOAD_HEADER_TIMEOUT_SECS);
    let header = tokio::time::timeout(timeout, read_frame::<ClientFrame, _>(&mut recv)).await;
    let Ok(Ok(Some(ClientFrame::Upload { transfer_id, to, name, size, blake3, offset }))) = header
    else {
        // Without a readable header there is no transfer to report on.
        let _ = recv.stop(stream_code::REJECTED.into());
        return;
    };
    let upload = Upload { state, peer, conn, transfer_id };
    let header = Header { transfer_id: &upload.transfer_id, size, blake3: &blake3, offset };
    // Stored without invisible format characters, so nobody is shown a name that reads
    // differently from what it is.
    let name = strip_format(&name);
    let name = truncate_bytes(&name, MAX_FILE_NAME_BYTES);
    match upload.start(&header, &to, name).await {
        Ok((file, writing)) => upload.receive(file, offset, recv, writing).await,
        Err(e) => {
            let _ = recv.stop(stream_code::REJECTED.into());
            upload.reject(None, e.into_refusal());
        }
    }
}

struct Upload {
    state: Arc<State>,
    peer: Arc<Peer>,
    /// For its statistics when the upload stalls.
    conn: quinn::Connection,
    transfer_id: String,
}

impl Upload {
    /// Checks the header, then creates the file (and its announcing message) or finds the one
    /// being resumed and becomes its only writer.
    async fn start(
        &self,
        header: &Header<'_>,
        to: &quicq_common::Address,
        name: &str,
    ) -> Result<(FileRow, Writing), ServerError> {
        let state = &self.state;
        rules::check_header(header, state.config().max_file_bytes)?;
        let target = resolve(state, self.peer.account.id, to).await?;
        let existing = {
            let (sender, transfer_id) = (self.peer.account.id, self.transfer_id.clone());
            state.with_store(move |s| Ok(s.file_by_transfer(sender, &transfer_id)?)).await?
        };
        let held =
            existing.as_ref().map(|f| Held { size: f.size, blake3: &f.blake3, state: f.state });
        let (file, claim) = match (rules::start(header, held)?, existing) {
            (Start::Resume, Some(file)) => {
                let claim = state.uploads().claim(file.id);
                (file, claim)
            }
            _ => self.create(target, name, header).await?,
        };
        let writing = claim.acquire().await;
        match self.recheck(header, file.id).await {
            Ok(file) => Ok((file, writing)),
            Err(e) => {
                state.uploads().finish(file.id, &writing);
                Err(e)
            }
        }
    }

    /// Reads the file again once this upload is its only writer: it may have completed or
    /// failed while the old writer stopped, and only now is its length final.
    async fn recheck(&self, header: &Header<'_>, id: u64) -> Result<FileRow, ServerError> {
        let file = self
            .state
            .with_store(move |s| Ok(s.file(id)?))
            .await?
            .ok_or(ServerError::Store(crate::store::StoreError::Vanished("file")))?;
        let held = Held { size: file.size, blake3: &file.blake3, state: file.state };
        rules::start(header, Some(held))?;
        rules::check_resume_offset(header.offset, file.received)?;
        Ok(file)
    }

    /// Reserves quota, stores the file and its message, and announces it like a chat message.
    async fn create(
        &self,
        target: Target,
        name: &str,
        header: &Header<'_>,
    ) -> Result<(FileRow, Claim), ServerError> {
        let state = &self.state;
        take_rate_token(state, self.peer.account.id)?;
        let (quota, account_quota) =
            (state.config().spool_quota_bytes, state.config().account_spool_quota_bytes);
        let shared = state.clone();
        let spool_dir = state.spool().dir().to_owned();
        let (hub, sender, device) =
            (state.hub().clone(), self.peer.account.id, self.peer.device.clone());
        let (transfer_id, name, blake3, size) =
            (self.transfer_id.clone(), name.to_owned(), header.blake3.to_owned(), header.size);
        let file = state
            .with_store(move |s| {
                let held = rules::reserved(
                    &s.live_file_sizes()?,
                    |id| shared.uploads().is_running(id),
                    sender,
                );
                rules::check_quota(held, size, quota, account_quota)?;
                rules::check_space(free_bytes(&spool_dir), size)?;
                let (file, created) = s.create_upload(
                    sender,
                    &target,
                    &transfer_id,
                    &name,
                    size,
                    &blake3,
                    now_ms(),
                )??;
                if created {
                    // The spool file exists before anyone hears of the upload, so a download
                    // that starts at once finds it (empty, and growing).
                    if let Err(e) = std::fs::File::create(spool::path_in(&spool_dir, file.id)) {
                        tracing::error!(cause = %e, "cannot create spool file");
                    }
                    // The uploading device has the file already.
                    s.mark_file_done(file.id, sender, &device, true)?;
                    hub.fan_out(sender, &target, &file.message);
                }
                // Claimed in the same job as the quota check, so the next check counts it.
                let claim = shared.uploads().claim(file.id);
                Ok((file, claim))
            })
            .await?;
        tracing::info!(file = file.0.id, size, "upload started");
        Ok(file)
    }

    /// Streams the bytes into the spool, then records the verdict.
    async fn receive(
        &self,
        file: FileRow,
        offset: u64,
        mut recv: quinn::RecvStream,
        writing: Writing,
    ) {
        let state = &self.state;
        state.notify(
            self.peer.account.id,
            ServerFrame::FileAccepted {
                transfer_id: self.transfer_id.clone(),
                file_id: file.id,
                message_id: file.message.id,
            },
        );
        let end = match open_spool(state, file.id, offset).await {
            Ok(sink) => {
                let after_each = record_progress(state.clone(), file.id, sink.len());
                let remaining = file.size - offset;
                // Stopped by a newer upload of the file, or by the idle watch below.
                let stop = writing.stop.child_token();
                let pump = pump::pump(&mut recv, sink, after_each, remaining, &stop, |_| {});
                tokio::pin!(pump);
                let idle = state.config().upload_idle();
                let watch = watch_idle(state, &self.conn, file.id, idle, stop.clone());
                tokio::pin!(watch);
                let mut watching = true;
                let pumped = loop {
                    tokio::select! {
                        pumped = &mut pump => break pumped,
                        () = &mut watch, if watching => watching = false,
                    }
                };
                if let Err(e) = &pumped.written {
                    tracing::error!(cause = %e, file = file.id, "spool write failed");
                }
                match rules::upload_end(pumped.end, pumped.written) {
                    End::Interrupted { .. }
                        if stop.is_cancelled() && !writing.stop.is_cancelled() =>
                    {
                        End::Idle
                    }
                    end => end,
                }
            }
            Err(e) => {
                tracing::error!(cause = %e, "cannot open spool file");
                End::WriteFailed
            }
        };
        state.uploads().finish(file.id, &writing);
        if matches!(end, End::TooLong | End::WriteFailed | End::Idle) {
            let _ = recv.stop(stream_code::FILE_ABORTED.into());
        }
        match rules::verdict(end, file.size, &file.blake3) {
            Verdict::Complete { received } => self.complete(&file, received).await,
            Verdict::Keep { received } => {
                let id = file.id;
                let _ = state
                    .with_store(move |s| {
                        Ok(s.set_file_progress(id, received, FileState::Uploading, now_ms())?)
                    })
                    .await;
                tracing::info!(file = id, received, "upload interrupted; can be resumed");
            }
            Verdict::Fail(refusal) => self.fail(&file, refusal).await,
        }
    }

    async fn complete(&self, file: &FileRow, received: u64) {
        let state = &self.state;
        let id = file.id;
        let recorded = state
            .with_store(move |s| {
                Ok(s.set_file_progress(id, received, FileState::Complete, now_ms())?)
            })
            .await;
        if let Err(e) = recorded {
            tracing::error!(cause = %e, file = id, "cannot record a complete upload");
            let refusal = Refusal::new(
                quicq_common::ErrorCode::Internal,
                "the server could not record the file",
            );
            return self.fail(file, refusal).await;
        }
        state.file_progress(id, Progress { received, state: Phase::Complete }, true);
        state.spool().release(id);
        let offline =
            state.hub().offline_recipients(file.sender, &file.message.to, MAX_OFFLINE_NAMES);
        tracing::info!(file = id, size = received, "upload complete");
        state.notify(
            file.sender,
            ServerFrame::FileComplete {
                transfer_id: self.transfer_id.clone(),
                file_id: id,
                offline,
            },
        );
    }

    async fn fail(&self, file: &FileRow, refusal: Refusal) {
        let state = &self.state;
        let id = file.id;
        tracing::info!(file = id, code = %refusal.code, "upload failed");
        // The bytes go first: on a full disk that frees the room the database needs to record
        // the failure. Should recording still fail, downloads find no spool file and are
        // refused, and the next start marks the file failed (see `Server::bind`).
        state.discard_file(id, refusal.code);
        let recorded = state
            .with_store(move |s| Ok(s.set_file_progress(id, 0, FileState::Failed, now_ms())?))
            .await;
        if let Err(e) = recorded {
            tracing::error!(cause = %e, file = id, "cannot record a failed upload");
        }
        if let Some(target) = state.hub().resolve(file.sender, &file.message.to) {
            state.hub().control_fan_out(
                file.sender,
                &target,
                &ServerFrame::FileGone {
                    file_id: id,
                    code: refusal.code,
                    message: refusal.message.clone(),
                },
            );
        }
        self.reject(Some(id), refusal);
    }

    fn reject(&self, file_id: Option<u64>, refusal: Refusal) {
        self.state.notify(
            self.peer.account.id,
            ServerFrame::FileRejected {
                transfer_id: self.transfer_id.clone(),
                file_id,
                code: refusal.code,
                message: refusal.message,
            },
        );
    }
}

/// Cancels `stop` when no block of the upload reaches the spool for `idle`: a stream that
/// delivers nothing must not hold its declared size of the quota.
async fn watch_idle(
    state: &State,
    conn: &quinn::Connection,
    file_id: u64,
    idle: Duration,
    stop: CancellationToken,
) {
    let start = Progress { received: 0, state: Phase::Uploading };
    let mut progress = state.spool().watch(file_id, start);
    loop {
        match tokio::time::timeout(idle, progress.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return,
            Err(_) => {
                tracing::info!(
                    file = file_id,
                    received = progress.borrow().received,
                    transport = %Figures(conn.stats()),
                    "upload idle; stopping it"
                );
                stop.cancel();
                return;
            }
        }
    }
}

/// Opens the file's spool at `offset` (truncating anything past it) and hashes what is there.
async fn open_spool(state: &State, file_id: u64, offset: u64) -> std::io::Result<FileSink> {
    let path = state.spool().path(file_id);
    tokio::task::spawn_blocking(move || FileSink::open(&path, offset))
        .await
        .map_err(std::io::Error::other)?
}

/// Runs on the writer thread after each block: publishes progress to downloads following the
/// file, and now and then syncs and records how much is durably there, so an interrupted upload
/// can resume from it.
fn record_progress(
    state: Arc<State>,
    file_id: u64,
    mut persisted: u64,
) -> impl FnMut(&mut FileSink) -> std::io::Result<()> + Send + 'static {
    let mut persisted_at = Instant::now();
    let mut relayed_at: Option<Instant> = None;
    move |sink| {
        let received = sink.len();
        // Other nodes' downloads follow a few times a second, not every block.
        let elsewhere = relayed_at.is_none_or(|at| at.elapsed() >= RELAY_EVERY);
        if elsewhere {
            relayed_at = Some(Instant::now());
        }
        let progress = Progress { received, state: Phase::Uploading };
        state.file_progress(file_id, progress, elsewhere);
        if received - persisted >= PERSIST_EVERY || persisted_at.elapsed() >= PERSIST_INTERVAL {
            sink.sync()?;
            state.store_later(move |store| {
                if let Err(e) =
                    store.set_file_progress(file_id, received, FileState::Uploading, now_ms())
                {
                    tracing::error!(cause = %e, "cannot record upload progress");
                }
            });
            persisted = received;
            persisted_at = Instant::now();
        }
        Ok(())
    }
}

/// Answers `upload_status`, first stopping any upload of it still running on a dead connection.
pub async fn status(
    state: &State,
    peer: &Peer,
    transfer_id: String,
) -> Result<ServerFrame, ServerError> {
    let (sender, id) = (peer.account.id, transfer_id.clone());
    let file = state.with_store(move |s| Ok(s.file_by_transfer(sender, &id)?)).await?;
    let Some(file) = file else {
        return Ok(ServerFrame::UploadState {
            transfer_id,
            file_id: None,
            received: 0,
            complete: false,
        });
    };
    if file.state == FileState::Uploading {
        let writing = state.uploads().take_over(file.id).await;
        state.uploads().finish(file.id, &writing);
    }
    let id = file.id;
    let file = state
        .with_store(move |s| Ok(s.file(id)?))
        .await?
        .ok_or(ServerError::Store(crate::store::StoreError::Vanished("file")))?;
    match file.state {
        FileState::Failed | FileState::Expired => Err(rules::unavailable_upload().into()),
        _ => Ok(ServerFrame::UploadState {
            transfer_id,
            file_id: Some(file.id),
            received: file.received,
            complete: file.state == FileState::Complete,
        }),
    }
}
