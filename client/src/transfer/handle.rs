//! What a caller holds of an upload: the handle to follow or cancel it, and its result.

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::error::TransferError;

/// A finished upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub file_id: u64,
    pub offline: Vec<String>,
}

/// A running upload: follow it through [`crate::event::Event::Transfer`], cancel it, or wait for its
/// end.
#[derive(Debug)]
pub struct UploadHandle {
    pub transfer_id: String,
    pub name: String,
    pub size: u64,
    pub(super) cancel: CancellationToken,
    pub(super) done: oneshot::Receiver<Result<Uploaded, TransferError>>,
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
