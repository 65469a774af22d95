//! File transfers: uploads on a dedicated unidirectional stream each, downloads into a `.part`
//! file that is hash-checked and then renamed. Both survive a lost connection by resuming from
//! the offset already transferred. File streams have a lower send priority than chat streams,
//! so messages never wait behind file bytes.

use std::io::{Read, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use quicq_common::file_sink::{self, FileSink};
use quicq_common::frame::write_frame;
use quicq_common::protocol::{
    Address, ChatMessage, ClientFrame, ErrorCode, FileInfo, ServerFrame, stream_code,
};
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::client::{Event, Inner, RequestError};
use crate::filename;

/// Bytes per disk read/write and stream write.
const BLOCK: usize = 256 * 1024;
/// Blocks waiting for the disk writer of a download.
const QUEUED_BLOCKS: usize = 4;
/// Progress events per transfer are at least this far apart.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Which transfer an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TransferKey {
    Upload(String),
    Download(u64),
}

/// Everything that happens to uploads and downloads, for progress bars and notices.
#[derive(Debug, Clone, PartialEq)]
pub enum TransferEvent {
    Progress {
        key: TransferKey,
        name: String,
        done: u64,
        total: u64,
        bytes_per_sec: f64,
    },
    /// The server accepted an upload's header; recipients online now start receiving.
    UploadAccepted {
        transfer_id: String,
        file_id: u64,
    },
    /// Every byte arrived and the hash matched; `offline` recipients get it when they sign in.
    UploadComplete {
        transfer_id: String,
        file_id: u64,
        offline: Vec<String>,
    },
    UploadFailed {
        transfer_id: String,
        code: Option<ErrorCode>,
        reason: String,
    },
    /// A recipient saved an uploaded file.
    Delivered {
        file_id: u64,
        to: String,
    },
    DownloadStarted {
        file_id: u64,
        name: String,
        from: String,
        size: u64,
    },
    Saved {
        file_id: u64,
        path: PathBuf,
    },
    DownloadFailed {
        file_id: u64,
        code: Option<ErrorCode>,
        reason: String,
    },
}

/// How an upload ended.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TransferError {
    #[error("{reason} ({code})")]
    Refused { code: ErrorCode, reason: String },
    #[error("cancelled")]
    Cancelled,
    #[error("cannot read or write the file: {0}")]
    Io(String),
    #[error("{0}")]
    Request(#[from] RequestError),
}

/// A finished upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub file_id: u64,
    pub offline: Vec<String>,
}

/// A running upload: follow it through [`Event::Transfer`], cancel it, or wait for its end.
#[derive(Debug)]
pub struct UploadHandle {
    pub transfer_id: String,
    pub name: String,
    pub size: u64,
    cancel: CancellationToken,
    done: oneshot::Receiver<Result<Uploaded, TransferError>>,
}

impl UploadHandle {
    /// Stops the upload; the server discards what it has and tells the recipients.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    pub fn canceller(&self) -> CancellationToken {
        self.cancel.clone()
    }

    pub async fn finished(self) -> Result<Uploaded, TransferError> {
        self.done.await.unwrap_or(Err(TransferError::Cancelled))
    }
}

/// What the server says about an upload on the control stream.
#[derive(Debug)]
pub(crate) enum UploadSignal {
    Accepted(u64),
    Complete { file_id: u64, offline: Vec<String> },
    Rejected { code: ErrorCode, message: String },
}

/// Measures progress and decides when to report it.
struct Meter {
    key: TransferKey,
    name: String,
    total: u64,
    started: Instant,
    start_bytes: u64,
    last: Instant,
}

impl Meter {
    fn new(key: TransferKey, name: &str, total: u64, start_bytes: u64) -> Self {
        let now = Instant::now();
        Meter {
            key,
            name: name.to_owned(),
            total,
            started: now,
            start_bytes,
            last: now - PROGRESS_EVERY,
        }
    }

    fn report(&mut self, inner: &Inner, done: u64, force: bool) {
        let now = Instant::now();
        if !force && now - self.last < PROGRESS_EVERY {
            return;
        }
        self.last = now;
        let secs = (now - self.started).as_secs_f64().max(1e-3);
        let rate = done.saturating_sub(self.start_bytes) as f64 / secs;
        inner.emit(Event::Transfer(TransferEvent::Progress {
            key: self.key.clone(),
            name: self.name.clone(),
            done,
            total: self.total,
            bytes_per_sec: rate,
        }));
    }
}

/// Starts uploading `path` to `to`. Fails at once if the file is larger than the server allows.
pub(crate) async fn start_upload(
    inner: Arc<Inner>,
    to: Address,
    path: &Path,
) -> Result<UploadHandle, TransferError> {
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| TransferError::Io(format!("{}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(TransferError::Io(format!("{} is not a regular file", path.display())));
    }
    let size = meta.len();
    let max = inner.limits().max_file_bytes;
    if size > max {
        return Err(TransferError::Refused {
            code: ErrorCode::FileTooLarge,
            reason: format!("the file has {size} bytes; this server accepts at most {max}"),
        });
    }
    let name =
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "file".into());
    let transfer_id = uuid::Uuid::now_v7().to_string();
    let cancel = CancellationToken::new();
    let (done_tx, done) = oneshot::channel();
    let (signals_tx, signals) = mpsc::unbounded_channel();
    inner.uploads().insert(transfer_id.clone(), signals_tx);
    let job = UploadJob {
        inner: inner.clone(),
        transfer_id: transfer_id.clone(),
        to,
        path: path.to_owned(),
        name: name.clone(),
        size,
        cancel: cancel.clone(),
    };
    tokio::spawn(async move {
        let result = job.run(signals).await;
        job.inner.uploads().remove(&job.transfer_id);
        if let Err(e) = &result {
            let code = match e {
                TransferError::Refused { code, .. } => Some(*code),
                TransferError::Cancelled => Some(ErrorCode::Cancelled),
                _ => None,
            };
            job.inner.emit(Event::Transfer(TransferEvent::UploadFailed {
                transfer_id: job.transfer_id.clone(),
                code,
                reason: e.to_string(),
            }));
        }
        let _ = done_tx.send(result);
    });
    Ok(UploadHandle { transfer_id, name, size, cancel, done })
}

struct UploadJob {
    inner: Arc<Inner>,
    transfer_id: String,
    to: Address,
    path: PathBuf,
    name: String,
    size: u64,
    cancel: CancellationToken,
}

struct ServerHas {
    received: u64,
    complete: bool,
    file_id: u64,
}

enum Attempt {
    /// All bytes written; wait for the server's verdict.
    Sent,
    /// The connection went away; resume on the next one.
    Lost,
}

impl UploadJob {
    async fn run(
        &self,
        mut signals: mpsc::UnboundedReceiver<UploadSignal>,
    ) -> Result<Uploaded, TransferError> {
        let hash = hash_file(&self.path).await?;
        let mut first = true;
        let mut rate_limited = 0;
        loop {
            let conn = self.inner.connection(None).await?;
            let offset = if first {
                0
            } else {
                match self.server_state().await? {
                    // Everything arrived before the connection dropped.
                    ServerHas { complete: true, file_id, .. } => {
                        return Ok(Uploaded { file_id, offline: Vec::new() });
                    }
                    // Resend the header from what it holds (with no bytes left, that tells the
                    // server the upload is finished).
                    ServerHas { received, .. } => received,
                }
            };
            first = false;
            let attempt = tokio::select! {
                a = self.send(&conn, &hash, offset) => a?,
                () = self.cancel.cancelled() => return Err(TransferError::Cancelled),
            };
            if let Attempt::Lost = attempt {
                self.inner.wait_for_new_connection(conn.stable_id()).await?;
                continue;
            }
            // The verdict comes on the control stream; if the connection drops first, ask again.
            let verdict = tokio::select! {
                v = self.verdict(&mut signals) => v,
                _ = conn.closed() => None,
                () = self.cancel.cancelled() => return Err(TransferError::Cancelled),
            };
            match verdict {
                Some(Err(TransferError::Refused { code: ErrorCode::RateLimited, .. }))
                    if rate_limited < 10 =>
                {
                    // Nothing was stored; try the same transfer again shortly.
                    rate_limited += 1;
                    first = true;
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                Some(result) => return result,
                None => self.inner.wait_for_new_connection(conn.stable_id()).await?,
            }
        }
    }

    /// What the server holds of this transfer, asked with `upload_status`.
    async fn server_state(&self) -> Result<ServerHas, TransferError> {
        let frame = ClientFrame::UploadStatus { transfer_id: self.transfer_id.clone() };
        match self.inner.request(&frame).await {
            Ok(ServerFrame::UploadState { received, complete, file_id, .. }) => {
                Ok(ServerHas { received, complete, file_id: file_id.unwrap_or(0) })
            }
            Ok(other) => {
                Err(RequestError::Protocol(format!("expected upload_state, got {other:?}")).into())
            }
            Err(RequestError::Refused { code, message, .. }) => {
                Err(TransferError::Refused { code, reason: message })
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn send(
        &self,
        conn: &quinn::Connection,
        hash: &str,
        offset: u64,
    ) -> Result<Attempt, TransferError> {
        let Ok(mut stream) = conn.open_uni().await else {
            return Ok(Attempt::Lost);
        };
        // Below every chat stream: a message never waits behind file bytes.
        let _ = stream.set_priority(-1);
        let header = ClientFrame::Upload {
            transfer_id: self.transfer_id.clone(),
            to: self.to.clone(),
            name: self.name.clone(),
            size: self.size,
            blake3: hash.to_owned(),
            offset,
        };
        if write_frame(&mut stream, &header).await.is_err() {
            return self.lost_or_refused(&mut stream).await;
        }
        let mut file = tokio::fs::File::open(&self.path)
            .await
            .map_err(|e| TransferError::Io(e.to_string()))?;
        tokio::io::AsyncSeekExt::seek(&mut file, SeekFrom::Start(offset))
            .await
            .map_err(|e| TransferError::Io(e.to_string()))?;
        let mut meter = Meter::new(
            TransferKey::Upload(self.transfer_id.clone()),
            &self.name,
            self.size,
            offset,
        );
        let mut sent = offset;
        let mut buf = vec![0u8; BLOCK];
        while sent < self.size {
            let want = BLOCK.min((self.size - sent) as usize);
            let n =
                file.read(&mut buf[..want]).await.map_err(|e| TransferError::Io(e.to_string()))?;
            if n == 0 {
                let _ = stream.reset(stream_code::CANCELLED.into());
                return Err(TransferError::Io(
                    "the file got shorter while it was being sent".into(),
                ));
            }
            tokio::select! {
                r = stream.write_all(&buf[..n]) => if r.is_err() {
                    return self.lost_or_refused(&mut stream).await;
                },
                () = self.cancel.cancelled() => {
                    let _ = stream.reset(stream_code::CANCELLED.into());
                    return Err(TransferError::Cancelled);
                }
            }
            sent += n as u64;
            meter.report(&self.inner, sent, false);
        }
        meter.report(&self.inner, sent, true);
        if stream.finish().is_err() {
            return Ok(Attempt::Lost);
        }
        Ok(Attempt::Sent)
    }

    /// A write failed: the server either refused the upload (its reason follows on the control
    /// stream) or the connection is gone.
    async fn lost_or_refused(
        &self,
        stream: &mut quinn::SendStream,
    ) -> Result<Attempt, TransferError> {
        match stream.stopped().await {
            Ok(Some(_code)) => Ok(Attempt::Sent), // refused: the verdict tells why
            _ => Ok(Attempt::Lost),
        }
    }

    async fn verdict(
        &self,
        signals: &mut mpsc::UnboundedReceiver<UploadSignal>,
    ) -> Option<Result<Uploaded, TransferError>> {
        while let Some(signal) = signals.recv().await {
            match signal {
                UploadSignal::Accepted(file_id) => {
                    self.inner.emit(Event::Transfer(TransferEvent::UploadAccepted {
                        transfer_id: self.transfer_id.clone(),
                        file_id,
                    }));
                }
                UploadSignal::Complete { file_id, offline } => {
                    self.inner.emit(Event::Transfer(TransferEvent::UploadComplete {
                        transfer_id: self.transfer_id.clone(),
                        file_id,
                        offline: offline.clone(),
                    }));
                    return Some(Ok(Uploaded { file_id, offline }));
                }
                UploadSignal::Rejected { code, message } => {
                    return Some(Err(TransferError::Refused { code, reason: message }));
                }
            }
        }
        None
    }
}

/// BLAKE3 of a whole file, read on a blocking thread.
async fn hash_file(path: &Path) -> Result<String, TransferError> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&path)?;
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                return Ok(hasher.finalize().to_hex().to_string());
            }
            hasher.update(&buf[..n]);
        }
    })
    .await
    .map_err(|e| TransferError::Io(e.to_string()))?
    .map_err(|e: std::io::Error| TransferError::Io(e.to_string()))
}

/// Starts downloading the file a message announces, unless it is already being fetched.
pub(crate) fn start_download(inner: Arc<Inner>, message: ChatMessage) {
    let Some(info) = message.file.clone() else { return };
    let Some(dir) = inner.download_dir() else { return };
    if !inner.begin_download(info.id) {
        return;
    }
    tokio::spawn(async move {
        let job = DownloadJob { inner: inner.clone(), message, info, dir };
        let result = job.run().await;
        inner.end_download(job.info.id);
        let (code, saved) = match result {
            Ok(path) => {
                inner.emit(Event::Transfer(TransferEvent::Saved { file_id: job.info.id, path }));
                (None, true)
            }
            Err((code, reason)) => {
                inner.emit(Event::Transfer(TransferEvent::DownloadFailed {
                    file_id: job.info.id,
                    code,
                    reason,
                }));
                (code, false)
            }
        };
        // Done for good unless it failed for a reason that may pass (network, disk).
        if saved
            || matches!(
                code,
                Some(
                    ErrorCode::FileUnavailable
                        | ErrorCode::UnknownFile
                        | ErrorCode::Cancelled
                        | ErrorCode::HashMismatch
                )
            )
        {
            inner.send_control(ClientFrame::FileDone { file_id: job.info.id, saved });
        }
    });
}

struct DownloadJob {
    inner: Arc<Inner>,
    message: ChatMessage,
    info: FileInfo,
    dir: PathBuf,
}

type Failure = (Option<ErrorCode>, String);

impl DownloadJob {
    fn part_path(&self) -> PathBuf {
        self.dir.join(format!(
            "{}.quicq-{}.part",
            filename::sanitize(&self.info.name),
            self.info.id
        ))
    }

    async fn run(&self) -> Result<PathBuf, Failure> {
        let io = |e: std::io::Error| (None, e.to_string());
        tokio::fs::create_dir_all(&self.dir).await.map_err(io)?;
        let part = self.part_path();
        self.inner.emit(Event::Transfer(TransferEvent::DownloadStarted {
            file_id: self.info.id,
            name: self.info.name.clone(),
            from: self.message.from.clone(),
            size: self.info.size,
        }));
        let cancel = self.inner.download_canceller(self.info.id);
        loop {
            let offset = match tokio::fs::metadata(&part).await {
                Ok(m) => m.len().min(self.info.size),
                Err(_) => 0,
            };
            let conn = self.inner.connection(None).await.map_err(|e| (None, e.to_string()))?;
            let (tx, rx) = oneshot::channel();
            self.inner.incoming_files().insert(self.info.id, tx);
            let frame = ClientFrame::Download { file_id: self.info.id, offset };
            match self.inner.request_on(&conn, &frame).await {
                Ok(ServerFrame::DownloadStarted { .. }) => {}
                Ok(ServerFrame::Error { code, message, .. }) => {
                    self.inner.incoming_files().remove(&self.info.id);
                    let _ = tokio::fs::remove_file(&part).await;
                    return Err((Some(code), message));
                }
                Ok(other) => return Err((None, format!("unexpected answer {other:?}"))),
                Err(_) => {
                    self.inner.incoming_files().remove(&self.info.id);
                    self.inner
                        .wait_for_new_connection(conn.stable_id())
                        .await
                        .map_err(|e| (None, e.to_string()))?;
                    continue;
                }
            }
            let stream = tokio::select! {
                s = rx => s.ok(),
                _ = conn.closed() => None,
                () = cancel.cancelled() => {
                    self.inner.incoming_files().remove(&self.info.id);
                    let _ = tokio::fs::remove_file(&part).await;
                    return Err((Some(ErrorCode::Cancelled), "cancelled".into()));
                }
            };
            let Some(stream) = stream else {
                self.inner
                    .wait_for_new_connection(conn.stable_id())
                    .await
                    .map_err(|e| (None, e.to_string()))?;
                continue;
            };
            match self.receive(stream, &part, offset, &cancel).await {
                Received::Complete(hash) => return self.finish(&part, hash).await,
                Received::Lost => {
                    self.inner
                        .wait_for_new_connection(conn.stable_id())
                        .await
                        .map_err(|e| (None, e.to_string()))?;
                }
                Received::Failed(code, reason) => {
                    let _ = tokio::fs::remove_file(&part).await;
                    return Err((code, reason));
                }
            }
        }
    }

    /// Appends the stream to `part` from `offset`; the bytes are hashed as they are written.
    async fn receive(
        &self,
        mut stream: quinn::RecvStream,
        part: &Path,
        offset: u64,
        cancel: &CancellationToken,
    ) -> Received {
        let path = part.to_owned();
        let sink = match tokio::task::spawn_blocking(move || FileSink::open(&path, offset)).await {
            Ok(Ok(sink)) => sink,
            Ok(Err(e)) => {
                return Received::Failed(None, format!("cannot open {}: {e}", part.display()));
            }
            Err(e) => return Received::Failed(None, e.to_string()),
        };
        let (tx, writer) = sink.spawn(QUEUED_BLOCKS, |_| Ok(()));
        let mut meter = Meter::new(
            TransferKey::Download(self.info.id),
            &self.info.name,
            self.info.size,
            offset,
        );
        let mut done = offset;
        let end = loop {
            let mut block = vec![0u8; BLOCK];
            let mut filled = 0;
            let end = loop {
                if filled == BLOCK {
                    break None;
                }
                let read = tokio::select! {
                    r = stream.read(&mut block[filled..]) => r,
                    () = cancel.cancelled() => {
                        let _ = stream.stop(stream_code::CANCELLED.into());
                        break Some(Received::Failed(Some(ErrorCode::Cancelled), "cancelled".into()));
                    }
                };
                match read {
                    Ok(Some(n)) => {
                        filled += n;
                        if done + filled as u64 > self.info.size {
                            let _ = stream.stop(stream_code::CANCELLED.into());
                            break Some(Received::Failed(
                                Some(ErrorCode::SizeMismatch),
                                "the server sent more than the file size".into(),
                            ));
                        }
                    }
                    Ok(None) => break Some(Received::Complete(String::new())),
                    // Not marked done: if the file still exists, the next sign-in retries it.
                    Err(quinn::ReadError::Reset(_)) => {
                        break Some(Received::Failed(
                            None,
                            "the server aborted the file (the upload was cancelled or failed)"
                                .into(),
                        ));
                    }
                    Err(_) => break Some(Received::Lost),
                }
            };
            if filled > 0 && !matches!(end, Some(Received::Failed(..))) {
                block.truncate(filled);
                if tx.send(block).await.is_err() {
                    let _ = stream.stop(stream_code::CANCELLED.into());
                    break None; // the writer failed; its error is reported below
                }
                done += filled as u64;
                meter.report(&self.inner, done, false);
            }
            if let Some(end) = end {
                break Some(end);
            }
        };
        drop(tx);
        let written = match writer.await {
            Ok(written) => written,
            Err(e) => Err(std::io::Error::other(e.to_string())),
        };
        match (end, written) {
            (Some(Received::Failed(code, reason)), _) => Received::Failed(code, reason),
            (_, Err(e)) => Received::Failed(None, format!("cannot write {}: {e}", part.display())),
            (Some(Received::Complete(_)), Ok((len, hash))) => {
                meter.report(&self.inner, len, true);
                if len == self.info.size {
                    Received::Complete(hash)
                } else {
                    Received::Failed(
                        Some(ErrorCode::SizeMismatch),
                        format!("got {len} of {} bytes", self.info.size),
                    )
                }
            }
            (Some(Received::Lost) | None, Ok(_)) => Received::Lost,
        }
    }

    /// Checks the hash of the whole `.part` (taken as it was written) and renames it to a free
    /// name.
    async fn finish(&self, part: &Path, hash: String) -> Result<PathBuf, Failure> {
        let (part, dir, name, expected) = (
            part.to_owned(),
            self.dir.clone(),
            filename::sanitize(&self.info.name),
            self.info.blake3.clone(),
        );
        tokio::task::spawn_blocking(move || {
            if hash != expected {
                let _ = std::fs::remove_file(&part);
                return Err((
                    Some(ErrorCode::HashMismatch),
                    "the received bytes do not match the file's hash; nothing was saved".into(),
                ));
            }
            for candidate in filename::candidates(&dir, &name) {
                // Claim the name first so nothing existing is ever replaced, then move into it.
                match std::fs::OpenOptions::new().write(true).create_new(true).open(&candidate) {
                    Ok(mut claimed) => {
                        let _ = claimed.flush();
                        std::fs::rename(&part, &candidate).map_err(|e| (None, e.to_string()))?;
                        file_sink::sync_dir_of(&candidate).map_err(|e| (None, e.to_string()))?;
                        return Ok(candidate);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                    Err(e) => {
                        return Err((None, format!("cannot save to {}: {e}", candidate.display())));
                    }
                }
            }
            Err((None, "no free file name".into()))
        })
        .await
        .map_err(|e| (None, e.to_string()))?
    }
}

enum Received {
    /// The whole file, with its hash.
    Complete(String),
    Lost,
    Failed(Option<ErrorCode>, String),
}

/// The default download folder: the user's download directory plus `QuicQ`.
pub fn default_download_dir() -> PathBuf {
    directories::UserDirs::new()
        .and_then(|d| d.download_dir().map(Path::to_owned))
        .or_else(|| directories::BaseDirs::new().map(|d| d.home_dir().join("Downloads")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("QuicQ")
}

/// Reads the `file` header that starts a server-opened file stream and hands the stream to the
/// download waiting for it.
pub(crate) fn route_file_stream(inner: &Inner, frame: ServerFrame, mut stream: quinn::RecvStream) {
    let ServerFrame::File { file_id, .. } = frame else { return };
    match inner.incoming_files().remove(&file_id) {
        Some(waiting) => {
            if let Err(mut stream) = waiting.send(stream) {
                let _ = stream.stop(stream_code::CANCELLED.into());
            }
        }
        None => {
            let _ = stream.stop(stream_code::CANCELLED.into());
        }
    }
}
