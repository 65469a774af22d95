//! The upload job: hashes the file, sends it on a unidirectional stream of its own below chat
//! priority, and waits for the server's verdict on the control stream; a lost connection
//! resumes from what the server holds.

use std::io::{Read, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use quicq_common::frame::write_frame;
use quicq_common::protocol::{Address, ClientFrame, ErrorCode, ServerFrame, stream_code};
use quicq_common::pump::BLOCK;
use quicq_common::socket::Figures;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::error::TransferError;
use super::handle::{UploadHandle, Uploaded};
use super::meter::Meter;
use super::registry::{Transfers, UploadSignal};
use super::rules::{self, AfterVerdict, Attempt, Resume, ServerHas};
use crate::error::RequestError;
use crate::event::{TransferEvent, TransferKey};

/// Starts uploading `path` to `to`. Fails at once if the file is larger than the server allows.
pub(crate) async fn start(
    transfers: Arc<Transfers>,
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
    let max = transfers.link.limits().max_file_bytes;
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
    transfers.add_upload(&transfer_id, signals_tx);
    let job = UploadJob {
        transfers,
        transfer_id: transfer_id.clone(),
        to,
        path: path.to_owned(),
        name: name.clone(),
        size,
        cancel: cancel.clone(),
    };
    tokio::spawn(async move {
        let result = job.run(signals).await;
        job.transfers.remove_upload(&job.transfer_id);
        if let Err(e) = &result {
            job.transfers.events.transfer(TransferEvent::UploadFailed {
                transfer_id: job.transfer_id.clone(),
                code: e.code(),
                reason: e.to_string(),
            });
        }
        let _ = done_tx.send(result);
    });
    Ok(UploadHandle { transfer_id, name, size, cancel, done })
}

struct UploadJob {
    transfers: Arc<Transfers>,
    transfer_id: String,
    to: Address,
    path: PathBuf,
    name: String,
    size: u64,
    cancel: CancellationToken,
}

impl UploadJob {
    async fn run(
        &self,
        mut signals: mpsc::UnboundedReceiver<UploadSignal>,
    ) -> Result<Uploaded, TransferError> {
        let link = &self.transfers.link;
        let hash = hash_file(&self.path).await?;
        let mut first = true;
        let mut rate_limited = 0;
        loop {
            let conn = link.connection(None).await?;
            let offset = if first {
                0
            } else {
                match rules::resume_upload(self.server_state().await?) {
                    Resume::Done(uploaded) => return Ok(uploaded),
                    Resume::From(offset) => offset,
                }
            };
            first = false;
            let attempt = tokio::select! {
                a = self.send(&conn, &hash, offset) => a?,
                () = self.cancel.cancelled() => return Err(TransferError::Cancelled),
            };
            if attempt == Attempt::Lost {
                link.wait_for_new_connection(conn.stable_id()).await?;
                continue;
            }
            // The verdict comes on the control stream; if the connection drops first, ask again.
            let verdict = tokio::select! {
                v = self.verdict(&mut signals) => v,
                _ = conn.closed() => None,
                () = self.cancel.cancelled() => return Err(TransferError::Cancelled),
            };
            match rules::after_verdict(verdict, rate_limited) {
                AfterVerdict::Finish(result) => return result,
                AfterVerdict::Retry(wait) => {
                    rate_limited += 1;
                    first = true;
                    tokio::time::sleep(wait).await;
                }
                AfterVerdict::AskAgain => link.wait_for_new_connection(conn.stable_id()).await?,
                AfterVerdict::AskNow => {}
            }
        }
    }

    /// What the server holds of this transfer, asked with `upload_status`.
    async fn server_state(&self) -> Result<ServerHas, TransferError> {
        let frame = ClientFrame::UploadStatus { transfer_id: self.transfer_id.clone() };
        match self.transfers.link.request(&frame).await {
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
            return Ok(rules::after_failed_write(&stream.stopped().await));
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
        let events = &self.transfers.events;
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
            let began = Instant::now();
            tokio::select! {
                r = stream.write_all(&buf[..n]) => {
                    if began.elapsed() >= SLOW_WRITE {
                        tracing::info!(
                            sent,
                            waited_ms = began.elapsed().as_millis() as u64,
                            transport = %Figures(conn.stats()),
                            "upload block waited long to be sent"
                        );
                    }
                    if r.is_err() {
                        return Ok(rules::after_failed_write(&stream.stopped().await));
                    }
                },
                () = self.cancel.cancelled() => {
                    let _ = stream.reset(stream_code::CANCELLED.into());
                    return Err(TransferError::Cancelled);
                }
            }
            sent += n as u64;
            meter.report(events, sent, false);
        }
        meter.report(events, sent, true);
        if stream.finish().is_err() {
            return Ok(Attempt::Lost);
        }
        Ok(Attempt::Sent)
    }

    /// Reports acceptance as it comes; returns the final verdict, or `None` if the client
    /// stopped routing signals.
    async fn verdict(
        &self,
        signals: &mut mpsc::UnboundedReceiver<UploadSignal>,
    ) -> Option<Result<Uploaded, TransferError>> {
        let events = &self.transfers.events;
        while let Some(signal) = signals.recv().await {
            match signal {
                UploadSignal::Accepted(file_id) => {
                    events.transfer(TransferEvent::UploadAccepted {
                        transfer_id: self.transfer_id.clone(),
                        file_id,
                    });
                }
                UploadSignal::Complete { file_id, offline } => {
                    events.transfer(TransferEvent::UploadComplete {
                        transfer_id: self.transfer_id.clone(),
                        file_id,
                        offline: offline.clone(),
                    });
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

/// A block that waits this long for room to be sent is logged with the connection's state.
const SLOW_WRITE: Duration = Duration::from_secs(10);

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
