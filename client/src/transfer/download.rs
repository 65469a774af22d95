//! The download job: asks for the file from the offset its `.part` file holds, receives the
//! server-opened stream through the shared byte pump (hashing as it writes), checks the hash
//! and moves the file to a free name; a lost connection resumes on the next one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use quicq_common::file_sink::{self, FileSink};
use quicq_common::protocol::{ChatMessage, ClientFrame, FileInfo, ServerFrame, stream_code};
use quicq_common::pump;
use tokio_util::sync::CancellationToken;

use super::error::DownloadError;
use super::meter::Meter;
use super::registry::Transfers;
use super::rules::{self, Answer, Received};
use crate::event::{TransferEvent, TransferKey};
use crate::filename;
use crate::link::request_on;

/// The default download folder: the user's download directory plus `QuicQ`.
pub fn default_download_dir() -> PathBuf {
    directories::UserDirs::new()
        .and_then(|d| d.download_dir().map(Path::to_owned))
        .or_else(|| directories::BaseDirs::new().map(|d| d.home_dir().join("Downloads")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("QuicQ")
}

/// Starts downloading the file a message announces, unless it is already being fetched or no
/// download folder is set.
pub(crate) fn start(transfers: Arc<Transfers>, message: ChatMessage) {
    let Some(info) = message.file.clone() else { return };
    let Some(dir) = transfers.download_dir.clone() else { return };
    if !transfers.begin_download(info.id) {
        return;
    }
    tokio::spawn(async move {
        let job = DownloadJob { transfers: transfers.clone(), message, info, dir };
        let result = job.run().await;
        transfers.end_download(job.info.id);
        let done_for_good = rules::done_for_good(&result);
        let saved = result.is_ok();
        match result {
            Ok(path) => {
                transfers.events.transfer(TransferEvent::Saved { file_id: job.info.id, path });
            }
            Err(e) => {
                transfers.events.transfer(TransferEvent::DownloadFailed {
                    file_id: job.info.id,
                    code: e.code(),
                    reason: e.to_string(),
                });
            }
        }
        if done_for_good {
            transfers.send_control(ClientFrame::FileDone { file_id: job.info.id, saved });
        }
    });
}

/// Downloads what this device has not finished yet (after a restart or an interruption);
/// files over the limit are offered again instead.
pub(crate) async fn fetch_pending(transfers: Arc<Transfers>) {
    match transfers.link.request(&ClientFrame::PendingFiles {}).await {
        Ok(ServerFrame::FileList { messages }) => {
            for message in messages {
                let arrival = super::arrival(
                    &message,
                    false,
                    transfers.has_download_dir(),
                    transfers.auto_download_max(),
                );
                on_arrival(&transfers, arrival, &message);
            }
        }
        Ok(other) => tracing::warn!(?other, "unexpected answer to pending_files"),
        Err(e) => tracing::warn!(cause = %e, "cannot list pending files"),
    }
}

/// Starts the download, or tells the front end of a file over the limit, as `arrival` says.
pub(crate) fn on_arrival(
    transfers: &Arc<Transfers>,
    arrival: super::Arrival,
    message: &ChatMessage,
) {
    match (arrival, &message.file) {
        (super::Arrival::Download, _) => start(transfers.clone(), message.clone()),
        (super::Arrival::Offer, Some(f)) => transfers.events.transfer(TransferEvent::Offered {
            file_id: f.id,
            name: f.name.clone(),
            from: message.from.clone(),
            size: f.size,
        }),
        _ => {}
    }
}

struct DownloadJob {
    transfers: Arc<Transfers>,
    message: ChatMessage,
    info: FileInfo,
    dir: PathBuf,
}

impl DownloadJob {
    fn part_path(&self) -> PathBuf {
        self.dir.join(format!(
            "{}.quicq-{}.part",
            filename::sanitize(&self.info.name),
            self.info.id
        ))
    }

    async fn run(&self) -> Result<PathBuf, DownloadError> {
        let (link, id) = (&self.transfers.link, self.info.id);
        tokio::fs::create_dir_all(&self.dir).await?;
        let part = self.part_path();
        self.transfers.events.transfer(TransferEvent::DownloadStarted {
            file_id: id,
            name: self.info.name.clone(),
            from: self.message.from.clone(),
            size: self.info.size,
        });
        let cancel = self.transfers.download_canceller(id);
        loop {
            let part_len = tokio::fs::metadata(&part).await.ok().map(|m| m.len());
            let offset = rules::resume_offset(part_len, self.info.size);
            let conn = link.connection(None).await?;
            let stream = self.transfers.expect_file_stream(id);
            let frame = ClientFrame::Download { file_id: id, offset };
            match rules::download_answer(request_on(&conn, &frame).await) {
                Answer::Started => {}
                Answer::Refused(e) => {
                    self.transfers.forget_file_stream(id);
                    let _ = tokio::fs::remove_file(&part).await;
                    return Err(e);
                }
                Answer::Unexpected(e) => {
                    self.transfers.forget_file_stream(id);
                    return Err(e);
                }
                Answer::Lost => {
                    self.transfers.forget_file_stream(id);
                    link.wait_for_new_connection(conn.stable_id()).await?;
                    continue;
                }
            }
            let stream = tokio::select! {
                s = stream => s.ok(),
                _ = conn.closed() => None,
                () = cancel.cancelled() => {
                    self.transfers.forget_file_stream(id);
                    let _ = tokio::fs::remove_file(&part).await;
                    return Err(DownloadError::Cancelled);
                }
            };
            let Some(stream) = stream else {
                link.wait_for_new_connection(conn.stable_id()).await?;
                continue;
            };
            match self.receive(stream, &part, offset, &cancel).await {
                Received::Complete(hash) => return self.finish(&part, hash).await,
                Received::Lost => link.wait_for_new_connection(conn.stable_id()).await?,
                Received::Failed(e) => {
                    let _ = tokio::fs::remove_file(&part).await;
                    return Err(e);
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
            Ok(Err(source)) => {
                return Received::Failed(DownloadError::Open { path: part.to_owned(), source });
            }
            Err(e) => return Received::Failed(std::io::Error::other(e.to_string()).into()),
        };
        let events = &self.transfers.events;
        let mut meter = Meter::new(
            TransferKey::Download(self.info.id),
            &self.info.name,
            self.info.size,
            offset,
        );
        let remaining = self.info.size.saturating_sub(offset);
        let pumped = pump::pump(
            &mut stream,
            sink,
            |_| Ok(()),
            remaining,
            cancel,
            |got| {
                meter.report(events, offset + got, false);
            },
        )
        .await;
        if rules::stop_stream(&pumped.end) {
            let _ = stream.stop(stream_code::CANCELLED.into());
        }
        let outcome = rules::received(pumped, self.info.size, part);
        if matches!(outcome, Received::Complete(_)) {
            meter.report(events, self.info.size, true);
        }
        outcome
    }

    /// Checks the hash of the whole `.part` (taken as it was written) and renames it to a free
    /// name.
    async fn finish(&self, part: &Path, hash: String) -> Result<PathBuf, DownloadError> {
        let (part, dir, name, expected) = (
            part.to_owned(),
            self.dir.clone(),
            filename::sanitize(&self.info.name),
            self.info.blake3.clone(),
        );
        tokio::task::spawn_blocking(move || {
            if hash != expected {
                let _ = std::fs::remove_file(&part);
                return Err(DownloadError::HashMismatch);
            }
            for candidate in filename::candidates(&dir, &name) {
                // Claim the name first so nothing existing is ever replaced, then move into it.
                match std::fs::OpenOptions::new().write(true).create_new(true).open(&candidate) {
                    Ok(mut claimed) => {
                        let _ = claimed.flush();
                        std::fs::rename(&part, &candidate)?;
                        file_sink::sync_dir_of(&candidate)?;
                        return Ok(candidate);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                    Err(source) => return Err(DownloadError::Save { path: candidate, source }),
                }
            }
            Err(DownloadError::NoFreeName)
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?
    }
}
