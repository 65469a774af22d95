//! How uploads and downloads fail. Both carry the protocol's error code where there is one,
//! because events report it and the download's "done for good" rule depends on it.

use std::path::PathBuf;

use quicq_common::protocol::ErrorCode;

use crate::error::RequestError;

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

impl TransferError {
    /// The code reported in [`crate::event::TransferEvent::UploadFailed`].
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            TransferError::Refused { code, .. } => Some(*code),
            TransferError::Cancelled => Some(ErrorCode::Cancelled),
            TransferError::Io(_) | TransferError::Request(_) => None,
        }
    }
}

/// How a download ended without saving the file.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The server refused the `download` request.
    #[error("{message}")]
    Refused { code: ErrorCode, message: String },
    #[error("cancelled")]
    Cancelled,
    #[error("the server sent more than the file size")]
    TooLong,
    #[error("got {got} of {size} bytes")]
    Short { got: u64, size: u64 },
    #[error("the received bytes do not match the file's hash; nothing was saved")]
    HashMismatch,
    /// The server reset the file stream; not final: if the file still exists, the next sign-in
    /// retries it.
    #[error("the server aborted the file (the upload was cancelled or failed)")]
    Aborted,
    #[error("cannot open {}: {source}", .path.display())]
    Open { path: PathBuf, source: std::io::Error },
    #[error("cannot write {}: {source}", .path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot save to {}: {source}", .path.display())]
    Save { path: PathBuf, source: std::io::Error },
    #[error("no free file name")]
    NoFreeName,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("unexpected answer {0}")]
    Unexpected(String),
    #[error("{0}")]
    Request(#[from] RequestError),
}

impl DownloadError {
    /// The code reported in [`crate::event::TransferEvent::DownloadFailed`].
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            DownloadError::Refused { code, .. } => Some(*code),
            DownloadError::Cancelled => Some(ErrorCode::Cancelled),
            DownloadError::TooLong | DownloadError::Short { .. } => Some(ErrorCode::SizeMismatch),
            DownloadError::HashMismatch => Some(ErrorCode::HashMismatch),
            DownloadError::Aborted
            | DownloadError::Open { .. }
            | DownloadError::Write { .. }
            | DownloadError::Save { .. }
            | DownloadError::NoFreeName
            | DownloadError::Io(_)
            | DownloadError::Unexpected(_)
            | DownloadError::Request(_) => None,
        }
    }
}
