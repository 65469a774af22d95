//! How a request to the server can fail; shared by the request plumbing, chat calls and file
//! transfers, so it sits below all of them.

use quicq_common::check::Invalid;
use quicq_common::protocol::{ErrorCode, ServerFrame};

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

    /// An answer of the wrong type: the server broke the protocol.
    pub(crate) fn unexpected(expected: &str, got: &ServerFrame) -> Self {
        RequestError::Protocol(format!("expected {expected}, got {got:?}"))
    }
}

/// A request the client refuses itself, with the code and words the server would use.
impl From<Invalid> for RequestError {
    fn from(e: Invalid) -> Self {
        RequestError::refused(e.code, e.message)
    }
}
