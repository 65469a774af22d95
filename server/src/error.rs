//! Errors inside the server, and the one place they become what a peer is told.
//!
//! Handlers return [`ServerError`]; a refusal the peer caused travels in it unchanged, anything
//! else is the server's own failure. [`ServerError::into_refusal`] is called only where an
//! answer leaves for the peer (a request's response, an upload's verdict): the cause is logged
//! there and the peer gets `internal` without details.

use std::sync::Arc;
use std::time::Duration;

use quicq_common::check::Invalid;
use quicq_common::protocol::{ErrorCode, ServerFrame};

use crate::store::{Rejection, StoreError};

/// A request's failure as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after_ms: Option<u64>,
}

impl Refusal {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Refusal { code, message: message.into(), retry_after_ms: None }
    }

    /// `rate_limited`, retry after `wait` (rounded up, so a retry at that time succeeds).
    pub fn rate_limited(wait: Duration) -> Self {
        Refusal {
            code: ErrorCode::RateLimited,
            message: "sending too fast; slow down".into(),
            retry_after_ms: Some(wait.as_millis() as u64 + 1),
        }
    }

    pub fn into_frame(self) -> ServerFrame {
        ServerFrame::Error {
            code: self.code,
            message: self.message,
            retry_after_ms: self.retry_after_ms,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<Invalid> for Refusal {
    fn from(invalid: Invalid) -> Self {
        Refusal::new(invalid.code, invalid.message)
    }
}

/// Why a request or a file job did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The peer asked for something the rules do not allow; it is told exactly this.
    #[error("refused: {0}")]
    Refused(Refusal),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// A group commit failed; every message in it shares the cause.
    #[error("storing messages: {0}")]
    Commit(Arc<StoreError>),
    #[error("password hashing: {0}")]
    Password(argon2::password_hash::Error),
    #[error("a blocking task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl ServerError {
    pub fn refused(code: ErrorCode, message: impl Into<String>) -> Self {
        ServerError::Refused(Refusal::new(code, message))
    }

    /// What the peer is told. The server's own failures are logged here with their cause and
    /// reach the peer as `internal`, which may be retried.
    pub fn into_refusal(self) -> Refusal {
        match self {
            ServerError::Refused(refusal) => refusal,
            other => {
                tracing::error!(cause = %other, "request failed inside the server");
                Refusal::new(ErrorCode::Internal, "the server failed; try again")
            }
        }
    }
}

impl From<Rejection> for Refusal {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::NotMember => {
                Refusal::new(ErrorCode::UnknownRecipient, "no such group that you are in")
            }
            Rejection::UnknownMessage => Refusal::new(
                ErrorCode::UnknownMessage,
                "no such message in a conversation you can read",
            ),
            Rejection::NotAllowed => Refusal::new(
                ErrorCode::NotAllowed,
                "only the sender can change a message, and a file message has no text to edit",
            ),
            Rejection::TooLate => {
                Refusal::new(ErrorCode::TooLate, "the time to change this message has passed")
            }
        }
    }
}

impl From<Rejection> for ServerError {
    fn from(rejection: Rejection) -> Self {
        ServerError::Refused(rejection.into())
    }
}

impl From<Refusal> for ServerError {
    fn from(refusal: Refusal) -> Self {
        ServerError::Refused(refusal)
    }
}

impl From<Invalid> for ServerError {
    fn from(invalid: Invalid) -> Self {
        ServerError::Refused(invalid.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_pass_through_and_failures_become_internal_without_detail() {
        let refused = ServerError::refused(ErrorCode::TextTooLong, "too long");
        assert_eq!(refused.into_refusal(), Refusal::new(ErrorCode::TextTooLong, "too long"));

        let secret = std::io::Error::other("/var/lib/quicq/spool/7.spool: disk on fire");
        let refusal = ServerError::Io(secret).into_refusal();
        assert_eq!(refusal.code, ErrorCode::Internal);
        assert!(!refusal.message.contains("spool"), "internal detail leaked: {refusal}");

        let limited = Refusal::rate_limited(Duration::from_micros(99_500));
        assert_eq!(limited.retry_after_ms, Some(100));
    }
}
