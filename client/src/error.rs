//! How a request to the server can fail; shared by the request plumbing, chat calls and file
//! transfers, so it sits below all of them.

use quicq_common::protocol::ErrorCode;

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum RequestError {
    #[error("offline: {0}")]
    Offline(String),
    #[error("the connection was lost")]
    ConnectionLost,
    #[error("{message} ({code})")]
    Refused { code: ErrorCode, message: String, retry_after_ms: Option<u64> },
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl RequestError {
    pub(crate) fn refused(code: ErrorCode, message: impl Into<String>) -> Self {
        RequestError::Refused { code, message: message.into(), retry_after_ms: None }
    }
}
