//! File transfers: an upload streams into the spool while downloads stream out of it, each at
//! its own pace, so a slow recipient slows neither the sender nor anyone else. Memory per
//! transfer is a few buffers, whatever the file size.

use std::collections::HashMap;
use std::io::SeekFrom;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quicq_common::check::{check_blake3, check_transfer_id};
use quicq_common::file_sink::{FileSink, WriterTask};
use quicq_common::frame::{read_frame, write_frame};
use quicq_common::protocol::{Address, ClientFrame, ErrorCode, ServerFrame, stream_code};
use tokio_util::sync::CancellationToken;

use crate::chat::{Chat, Refusal, now_ms};
use crate::spool::{self, Phase, Progress};
use crate::store::{Account, FileRow, FileState, Target};

/// Bytes moved per disk read or write.
const BLOCK: usize = 256 * 1024;
/// Blocks queued between the network and the disk per upload.
const QUEUED_BLOCKS: usize = 4;
/// Progress is recorded in the database at least this often (bytes).
const PERSIST_EVERY: u64 = 64 * 1024 * 1024;
/// …and at least this often, so a slow upload never looks stalled.
const PERSIST_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Uploads running now, so a resumed upload can take over from one stuck on a dead connection.
#[derive(Debug, Default)]
pub struct ActiveUploads {
    running: Mutex<HashMap<u64, Running>>,
    generation: std::sync::atomic::AtomicU64,
}

#[derive(Debug)]
struct Running {
    generation: u64,
    stop: CancellationToken,
    lock: Arc<tokio::sync::Mutex<()>>,
}

/// The right to write one file's spool, until dropped.
pub struct Writing {
    generation: u64,
    stop: CancellationToken,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl ActiveUploads {
    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops any running upload of `file_id` and waits until it has recorded its progress; the
    /// caller is then the only writer.
    async fn take_over(&self, file_id: u64) -> Writing {
        let generation = self.generation.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let stop = CancellationToken::new();
        let lock = {
            let mut running = self.running();
            let lock = running.get(&file_id).map(|r| r.lock.clone()).unwrap_or_default();
            let new = Running { generation, stop: stop.clone(), lock: lock.clone() };
            if let Some(old) = running.insert(file_id, new) {
                old.stop.cancel();
            }
            lock
        };
        Writing { generation, stop, _guard: lock.lock_owned().await }
    }

    /// Whether an upload of this file is being written now.
    pub fn is_running(&self, file_id: u64) -> bool {
        self.running().contains_key(&file_id)
    }

    fn finish(&self, file_id: u64, writing: &Writing) {
        let mut running = self.running();
        if running.get(&file_id).is_some_and(|r| r.generation == writing.generation) {
            running.remove(&file_id);
        }
    }
}

/// Who is on the other end of a session.
#[derive(Debug)]
pub struct Peer {
    pub account: Account,
    pub device: String,
}

/// Reads an upload header and the bytes after it.
pub async fn receive_upload(chat: Arc<Chat>, peer: Arc<Peer>, mut recv: quinn::RecvStream) {
    let header =
        tokio::time::timeout(HEADER_TIMEOUT, read_frame::<ClientFrame, _>(&mut recv)).await;
    let Ok(Ok(Some(ClientFrame::Upload { transfer_id, to, name, size, blake3, offset }))) = header
    else {
        // Without a readable header there is no transfer to report on.
        let _ = recv.stop(stream_code::REJECTED.into());
        return;
    };
    let upload = Upload { chat: chat.clone(), peer: peer.clone(), transfer_id };
    let name = bounded_name(&name);
    match upload.start(&to, &name, size, &blake3, offset).await {
        Ok((file, writing)) => upload.receive(file, offset, recv, writing).await,
        Err(refusal) => {
            let _ = recv.stop(stream_code::REJECTED.into());
            upload.reject(None, refusal);
        }
    }
}

/// Longest file name kept, in bytes; longer names are cut (receivers sanitise them anyway) so
/// every frame that carries one stays small.
pub const MAX_NAME_BYTES: usize = 1024;

fn bounded_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if out.len() + c.len_utf8() > MAX_NAME_BYTES {
            break;
        }
        out.push(c);
    }
    out
}

struct Upload {
    chat: Arc<Chat>,
    peer: Arc<Peer>,
    transfer_id: String,
}

impl Upload {
    /// Validates the header, then creates the file (and its announcing message) or finds the one
    /// being resumed.
    async fn start(
        &self,
        to: &Address,
        name: &str,
        size: u64,
        blake3: &str,
        offset: u64,
    ) -> Result<(FileRow, Writing), Refusal> {
        let chat = &self.chat;
        check_transfer_id(&self.transfer_id).map_err(Refusal::from)?;
        check_blake3(blake3).map_err(Refusal::from)?;
        let max = chat.config.max_file_bytes;
        if size > max {
            return Err(Refusal::new(
                ErrorCode::FileTooLarge,
                format!("file of {size} bytes exceeds this server's limit of {max} bytes"),
            ));
        }
        let target = chat.hub.resolve(to).ok_or_else(|| {
            Refusal::new(ErrorCode::UnknownRecipient, format!("no user or group named {to}"))
        })?;
        let existing = {
            let (sender, transfer_id) = (self.peer.account.id, self.transfer_id.clone());
            chat.with_store(move |s| s.file_by_transfer(sender, &transfer_id)).await?
        };
        let file = match existing {
            Some(file) => file,
            None if offset > 0 => {
                return Err(Refusal::new(
                    ErrorCode::BadOffset,
                    "the server holds nothing of this transfer; start at 0",
                ));
            }
            None => self.create(target, name, size, blake3).await?,
        };
        if file.size != size || file.blake3 != blake3 {
            return Err(Refusal::new(
                ErrorCode::BadOffset,
                "this transfer_id was used for another file",
            ));
        }
        match file.state {
            FileState::Uploading => {}
            FileState::Complete => {
                return Err(Refusal::new(
                    ErrorCode::AlreadyComplete,
                    "this upload is already complete",
                ));
            }
            FileState::Failed | FileState::Expired => {
                return Err(Refusal::new(
                    ErrorCode::FileUnavailable,
                    "this upload failed or expired; start a new one",
                ));
            }
        }
        let writing = chat.uploads.take_over(file.id).await;
        let file = chat
            .with_store(move |s| s.file(file.id))
            .await?
            .ok_or_else(|| Refusal::new(ErrorCode::FileUnavailable, "the file disappeared"))?;
        if offset != file.received {
            return Err(Refusal::new(
                ErrorCode::BadOffset,
                format!("the server holds {} bytes of this transfer, not {offset}", file.received),
            ));
        }
        Ok((file, writing))
    }

    /// Reserves quota, stores the file and its message, and announces it like a chat message.
    async fn create(
        &self,
        target: Target,
        name: &str,
        size: u64,
        blake3: &str,
    ) -> Result<FileRow, Refusal> {
        let chat = &self.chat;
        if let Err(wait) = chat.hub.check_rate(self.peer.account.id, std::time::Instant::now()) {
            return Err(Refusal {
                code: ErrorCode::RateLimited,
                message: "sending too fast; slow down".into(),
                retry_after_ms: Some(wait.as_millis() as u64 + 1),
            });
        }
        let quota = chat.config.spool_quota_bytes;
        let spool_dir = chat.spool.dir().to_owned();
        let (hub, sender, device) =
            (chat.hub.clone(), self.peer.account.id, self.peer.device.clone());
        let (transfer_id, name, blake3) =
            (self.transfer_id.clone(), name.to_owned(), blake3.to_owned());
        let file = chat
            .with_store(move |s| {
                let reserved = s.spool_reserved()?;
                if reserved.saturating_add(size) > quota {
                    return Ok(Err(Refusal::new(
                        ErrorCode::QuotaExceeded,
                        format!(
                            "the server's file storage is full ({reserved} of {quota} bytes in use)"
                        ),
                    )));
                }
                let (file, created) =
                    s.create_upload(sender, &target, &transfer_id, &name, size, &blake3, now_ms())?;
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
                Ok(Ok(file))
            })
            .await??;
        tracing::info!(file = file.id, size, "upload started");
        Ok(file)
    }

    /// Streams the bytes into the spool, checking size and hash, then completes or fails the file.
    async fn receive(
        &self,
        file: FileRow,
        offset: u64,
        mut recv: quinn::RecvStream,
        writing: Writing,
    ) {
        let chat = &self.chat;
        chat.notify(
            self.peer.account.id,
            ServerFrame::FileAccepted {
                transfer_id: self.transfer_id.clone(),
                file_id: file.id,
                message_id: file.message.id,
            },
        );
        let writer = match SpoolWriter::open(chat.clone(), &file, offset).await {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(cause = %e, "cannot open spool file");
                let _ = recv.stop(stream_code::FILE_ABORTED.into());
                return self
                    .fail(
                        &file,
                        Refusal::new(ErrorCode::Internal, "the server cannot store the file"),
                    )
                    .await;
            }
        };
        let outcome = pump(&mut recv, writer, file.size - offset, &writing.stop).await;
        chat.uploads.finish(file.id, &writing);
        match outcome {
            Pumped::Done { received, .. } if received != file.size => {
                let message = format!("expected {} bytes, got {received}", file.size);
                self.fail(&file, Refusal::new(ErrorCode::SizeMismatch, message)).await;
            }
            Pumped::Done { hash, .. } if hash != file.blake3 => {
                let message = "the bytes received do not match the declared BLAKE3 hash";
                self.fail(&file, Refusal::new(ErrorCode::HashMismatch, message)).await;
            }
            Pumped::Done { received, .. } => self.complete(&file, received).await,
            Pumped::TooLong => {
                let _ = recv.stop(stream_code::FILE_ABORTED.into());
                let message = format!("the stream carried more than {} bytes", file.size);
                self.fail(&file, Refusal::new(ErrorCode::SizeMismatch, message)).await;
            }
            Pumped::Cancelled => {
                self.fail(
                    &file,
                    Refusal::new(ErrorCode::Cancelled, "the sender cancelled the upload"),
                )
                .await;
            }
            Pumped::Interrupted { received } => {
                // Resumable: keep what arrived.
                let id = file.id;
                let _ = chat
                    .with_store(move |s| {
                        s.set_file_progress(id, received, FileState::Uploading, now_ms())
                    })
                    .await;
                tracing::info!(file = id, received, "upload interrupted; can be resumed");
            }
            Pumped::Failed(e) => {
                tracing::error!(cause = %e, "spool write failed");
                self.fail(
                    &file,
                    Refusal::new(ErrorCode::Internal, "the server could not store the file"),
                )
                .await;
            }
        }
    }

    async fn complete(&self, file: &FileRow, received: u64) {
        let chat = &self.chat;
        let id = file.id;
        if chat
            .with_store(move |s| s.set_file_progress(id, received, FileState::Complete, now_ms()))
            .await
            .is_err()
        {
            return self
                .fail(
                    file,
                    Refusal::new(ErrorCode::Internal, "the server could not record the file"),
                )
                .await;
        }
        chat.spool.publish(id, Progress { received, state: Phase::Complete });
        chat.spool.release(id);
        let offline = chat.hub.offline_recipients(file.sender, &file.message.to, 100);
        tracing::info!(file = id, size = received, "upload complete");
        chat.notify(
            file.sender,
            ServerFrame::FileComplete {
                transfer_id: self.transfer_id.clone(),
                file_id: id,
                offline,
            },
        );
    }

    async fn fail(&self, file: &FileRow, refusal: Refusal) {
        let chat = &self.chat;
        let id = file.id;
        tracing::info!(file = id, code = %refusal.code, "upload failed");
        let _ =
            chat.with_store(move |s| s.set_file_progress(id, 0, FileState::Failed, now_ms())).await;
        chat.spool.discard(id, refusal.code);
        if let Some(target) = chat.hub.resolve(&file.message.to) {
            chat.hub.control_fan_out(
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
        self.chat.notify(
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

enum Pumped {
    Done { received: u64, hash: String },
    TooLong,
    Cancelled,
    Interrupted { received: u64 },
    Failed(std::io::Error),
}

/// Moves bytes from the stream to the spool file on a blocking thread, a few blocks at a time.
async fn pump(
    recv: &mut quinn::RecvStream,
    writer: SpoolWriter,
    expected: u64,
    token: &CancellationToken,
) -> Pumped {
    let (tx, disk) = writer.spawn();
    let mut total = 0u64;
    let reason = loop {
        let mut block = vec![0u8; BLOCK];
        let mut filled = 0;
        let mut finished = false;
        let mut stop = None;
        while filled < BLOCK {
            let read = tokio::select! {
                r = recv.read(&mut block[filled..]) => r,
                () = token.cancelled() => { stop = Some(None); break; }
            };
            match read {
                Ok(Some(n)) => filled += n,
                Ok(None) => {
                    finished = true;
                    break;
                }
                Err(quinn::ReadError::Reset(_)) => {
                    stop = Some(Some(Pumped::Cancelled));
                    break;
                }
                Err(_) => {
                    stop = Some(None);
                    break;
                }
            }
        }
        total += filled as u64;
        if total > expected {
            break Some(Pumped::TooLong);
        }
        if filled > 0 {
            block.truncate(filled);
            if tx.send(block).await.is_err() {
                break None; // the writer failed; its error is reported below
            }
        }
        if let Some(why) = stop {
            break Some(why.unwrap_or(Pumped::Interrupted { received: 0 }));
        }
        if finished {
            break None;
        }
    };
    drop(tx);
    let (received, hash) = match disk.await {
        Ok(Ok(written)) => written,
        Ok(Err(e)) => return Pumped::Failed(e),
        Err(e) => return Pumped::Failed(std::io::Error::other(e.to_string())),
    };
    match reason {
        None => Pumped::Done { received, hash },
        Some(Pumped::Interrupted { .. }) => Pumped::Interrupted { received },
        Some(other) => other,
    }
}

/// A spool file being uploaded: publishes progress to downloads following it and records in
/// the database, now and then, how much is durably there so an interrupted upload can resume.
struct SpoolWriter {
    chat: Arc<Chat>,
    file_id: u64,
    sink: FileSink,
}

impl SpoolWriter {
    /// Opens the spool file at `offset` (truncating anything past it) and hashes what is there.
    async fn open(chat: Arc<Chat>, row: &FileRow, offset: u64) -> std::io::Result<Self> {
        let path = chat.spool.path(row.id);
        let sink = tokio::task::spawn_blocking(move || FileSink::open(&path, offset))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        Ok(SpoolWriter { chat, file_id: row.id, sink })
    }

    /// Starts writing on a blocking thread; see [`FileSink::spawn`].
    fn spawn(self) -> (tokio::sync::mpsc::Sender<Vec<u8>>, WriterTask) {
        let SpoolWriter { chat, file_id, sink } = self;
        let mut persisted = sink.len();
        let mut persisted_at = std::time::Instant::now();
        sink.spawn(QUEUED_BLOCKS, move |sink| {
            let received = sink.len();
            chat.spool.publish(file_id, Progress { received, state: Phase::Uploading });
            if received - persisted >= PERSIST_EVERY || persisted_at.elapsed() >= PERSIST_INTERVAL {
                sink.sync()?;
                chat.record_progress_blocking(file_id, received);
                persisted = received;
                persisted_at = std::time::Instant::now();
            }
            Ok(())
        })
    }
}

/// Answers `download`: checks access, then streams the file on a new unidirectional stream.
pub async fn start_download(
    chat: Arc<Chat>,
    peer: Arc<Peer>,
    conn: quinn::Connection,
    file_id: u64,
    offset: u64,
) -> Result<ServerFrame, Refusal> {
    let account = peer.account.id;
    let file = chat
        .with_store(move |s| {
            Ok(match s.can_read_file(account, file_id)? {
                true => s.file(file_id)?,
                false => None,
            })
        })
        .await?
        .ok_or_else(|| {
            Refusal::new(ErrorCode::UnknownFile, format!("no file {file_id} for you"))
        })?;
    let phase = match file.state {
        FileState::Uploading => Phase::Uploading,
        FileState::Complete => Phase::Complete,
        FileState::Failed | FileState::Expired => {
            return Err(Refusal::new(
                ErrorCode::FileUnavailable,
                "this file was cancelled, failed or has expired",
            ));
        }
    };
    if offset > file.size {
        return Err(Refusal::new(
            ErrorCode::BadOffset,
            format!("offset {offset} is past the end ({})", file.size),
        ));
    }
    let progress = chat.spool.watch(file_id, Progress { received: file.received, state: phase });
    // The upload may have finished between reading the row and following it: the database is
    // updated before progress is published, so a second read settles it.
    let fresh = chat.with_store(move |s| s.file(file_id)).await?;
    match fresh.as_ref().map(|f| (f.state, f.received)) {
        Some((FileState::Complete, received)) if progress.borrow().state == Phase::Uploading => {
            chat.spool.publish(file_id, Progress { received, state: Phase::Complete });
        }
        Some((FileState::Failed | FileState::Expired, _)) | None => {
            chat.spool.release(file_id);
            return Err(Refusal::new(
                ErrorCode::FileUnavailable,
                "this file was cancelled or failed",
            ));
        }
        _ => {}
    }
    tokio::spawn(async move {
        let mut send = match conn.open_uni().await {
            Ok(send) => send,
            Err(e) => {
                tracing::debug!(file = file_id, cause = %e, "cannot open download stream");
                chat.spool.release(file_id);
                return;
            }
        };
        if let Err(e) = send_file(&chat, &mut send, &file, offset, progress).await {
            // Never let a failed download look like a complete one.
            let _ = send.reset(stream_code::FILE_ABORTED.into());
            tracing::debug!(file = file_id, cause = %e, "download ended early");
        }
        chat.spool.release(file_id);
    });
    Ok(ServerFrame::DownloadStarted { file_id, offset })
}

async fn send_file(
    chat: &Chat,
    send: &mut quinn::SendStream,
    file: &FileRow,
    offset: u64,
    mut progress: tokio::sync::watch::Receiver<Progress>,
) -> anyhow::Result<()> {
    // Chat streams (priority 0) go first; files fill the rest of the link.
    send.set_priority(-1)?;
    let m = &file.message;
    let info = m.file.as_ref().ok_or_else(|| anyhow::anyhow!("file message without file"))?;
    write_frame(
        send,
        &ServerFrame::File {
            file_id: file.id,
            message_id: m.id,
            from: m.from.clone(),
            to: m.to.clone(),
            name: info.name.clone(),
            size: file.size,
            blake3: file.blake3.clone(),
            at: m.at,
            offset,
        },
    )
    .await?;
    let mut disk = tokio::fs::File::open(chat.spool.path(file.id)).await?;
    tokio::io::AsyncSeekExt::seek(&mut disk, SeekFrom::Start(offset)).await?;
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
            let n = tokio::io::AsyncReadExt::read(&mut disk, &mut buf[..want]).await?;
            if n == 0 {
                anyhow::bail!("spool file shorter than its progress");
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
            // The upload's watch went away without an end state; re-read where things stand.
            anyhow::bail!("file progress stopped");
        }
    }
}

/// Answers `upload_status`, first stopping any upload of it still running on a dead connection.
pub async fn upload_status(
    chat: &Chat,
    peer: &Peer,
    transfer_id: String,
) -> Result<ServerFrame, Refusal> {
    let (sender, id) = (peer.account.id, transfer_id.clone());
    let file = chat.with_store(move |s| s.file_by_transfer(sender, &id)).await?;
    let Some(file) = file else {
        return Ok(ServerFrame::UploadState {
            transfer_id,
            file_id: None,
            received: 0,
            complete: false,
        });
    };
    if file.state == FileState::Uploading {
        let writing = chat.uploads.take_over(file.id).await;
        chat.uploads.finish(file.id, &writing);
    }
    let id = file.id;
    let file = chat
        .with_store(move |s| s.file(id))
        .await?
        .ok_or_else(|| Refusal::new(ErrorCode::FileUnavailable, "the file disappeared"))?;
    match file.state {
        FileState::Failed | FileState::Expired => Err(Refusal::new(
            ErrorCode::FileUnavailable,
            "this upload failed or expired; start a new one",
        )),
        _ => Ok(ServerFrame::UploadState {
            transfer_id,
            file_id: Some(file.id),
            received: file.received,
            complete: file.state == FileState::Complete,
        }),
    }
}
