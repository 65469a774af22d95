//! The transfers running now, and what their jobs share with the client: the link, the event
//! stream, the control queue and the download folder. The client routes the server's upload
//! verdicts and file streams here; the jobs register and unregister themselves.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use quicq_common::protocol::{ClientFrame, ErrorCode, ServerFrame, stream_code};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::event::Emitter;
use crate::link::Link;

/// What the server says about an upload on the control stream.
#[derive(Debug)]
pub(crate) enum UploadSignal {
    Accepted(u64),
    Complete { file_id: u64, offline: Vec<String> },
    Rejected { code: ErrorCode, message: String },
}

pub(crate) struct Transfers {
    pub(super) link: Arc<Link>,
    pub(super) events: Emitter,
    /// Frames for the control stream (`file_done`); the client's writer survives reconnects.
    control: mpsc::UnboundedSender<ClientFrame>,
    pub(super) download_dir: Option<PathBuf>,
    /// Larger files wait for [`crate::Client::download`].
    auto_download_max: Option<u64>,
    /// Running uploads, by transfer id, waiting for the server's verdicts.
    uploads: Mutex<HashMap<String, mpsc::UnboundedSender<UploadSignal>>>,
    /// Files being downloaded, with their cancel tokens.
    downloads: Mutex<HashMap<u64, CancellationToken>>,
    /// Downloads waiting for their file stream to arrive.
    incoming: Mutex<HashMap<u64, oneshot::Sender<quinn::RecvStream>>>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Transfers {
    pub(crate) fn new(
        link: Arc<Link>,
        events: Emitter,
        control: mpsc::UnboundedSender<ClientFrame>,
        download_dir: Option<PathBuf>,
        auto_download_max: Option<u64>,
    ) -> Self {
        Transfers {
            link,
            events,
            control,
            download_dir,
            auto_download_max,
            uploads: Mutex::default(),
            downloads: Mutex::default(),
            incoming: Mutex::default(),
        }
    }

    pub(crate) fn has_download_dir(&self) -> bool {
        self.download_dir.is_some()
    }

    pub(crate) fn auto_download_max(&self) -> Option<u64> {
        self.auto_download_max
    }

    pub(super) fn send_control(&self, frame: ClientFrame) {
        let _ = self.control.send(frame);
    }

    pub(super) fn add_upload(
        &self,
        transfer_id: &str,
        signals: mpsc::UnboundedSender<UploadSignal>,
    ) {
        locked(&self.uploads).insert(transfer_id.to_owned(), signals);
    }

    pub(super) fn remove_upload(&self, transfer_id: &str) {
        locked(&self.uploads).remove(transfer_id);
    }

    /// True if this client is sending the upload (so its own file message starts no download).
    pub(crate) fn is_own_upload(&self, transfer_id: &str) -> bool {
        locked(&self.uploads).contains_key(transfer_id)
    }

    /// Passes a verdict from the control stream to the upload it is about.
    pub(crate) fn signal_upload(&self, transfer_id: &str, signal: UploadSignal) {
        if let Some(tx) = locked(&self.uploads).get(transfer_id) {
            let _ = tx.send(signal);
        }
    }

    /// Registers a download; false if it is already running.
    pub(super) fn begin_download(&self, file_id: u64) -> bool {
        let mut downloads = locked(&self.downloads);
        if downloads.contains_key(&file_id) {
            return false;
        }
        downloads.insert(file_id, CancellationToken::new());
        true
    }

    pub(super) fn end_download(&self, file_id: u64) {
        locked(&self.downloads).remove(&file_id);
    }

    pub(super) fn download_canceller(&self, file_id: u64) -> CancellationToken {
        locked(&self.downloads).entry(file_id).or_default().clone()
    }

    /// Stops a running download (no-op if there is none).
    pub(crate) fn cancel_download(&self, file_id: u64) {
        if let Some(token) = locked(&self.downloads).get(&file_id) {
            token.cancel();
        }
    }

    /// Waits for the file stream of `file_id`, which [`Transfers::route_file_stream`] delivers.
    pub(super) fn expect_file_stream(&self, file_id: u64) -> oneshot::Receiver<quinn::RecvStream> {
        let (tx, rx) = oneshot::channel();
        locked(&self.incoming).insert(file_id, tx);
        rx
    }

    pub(super) fn forget_file_stream(&self, file_id: u64) {
        locked(&self.incoming).remove(&file_id);
    }

    /// Hands a server-opened file stream (its `file` header already read) to the download
    /// waiting for it; a stream nobody waits for is stopped.
    pub(crate) fn route_file_stream(&self, frame: ServerFrame, mut stream: quinn::RecvStream) {
        let ServerFrame::File { file_id, .. } = frame else { return };
        let waiting = locked(&self.incoming).remove(&file_id);
        match waiting {
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
}
