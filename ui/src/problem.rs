//! Why something the user did failed, as a kind the window can put in its own language. The
//! client library's errors carry English text meant for logs; the window shows only these
//! kinds (see [`crate::i18n::Texts::problem`]) and leaves the raw text to the log.

use std::io::ErrorKind;

use quicq_client::{RequestError, TransferError};
use quicq_common::protocol::ErrorCode;

/// Why a folder typed or chosen for downloads cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderProblem {
    Empty,
    Missing,
    NotAFolder,
    NotWritable,
}

/// Why a typed size limit is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdProblem {
    NotANumber,
}

/// A failure, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The server refused, with this code.
    Refused(ErrorCode),
    /// Not connected to the server at the moment.
    Offline,
    /// The connection was lost while waiting for the answer.
    ConnectionLost,
    /// The file is not there.
    NoSuchFile,
    /// The file is there but cannot be read.
    CannotRead,
    /// The user cancelled.
    Cancelled,
    /// The system has no program to open it (or the opener failed).
    NoOpener,
    /// Anything else (a protocol error, a bug): only the log can say more.
    Other,
}

impl Problem {
    pub fn of_request(e: &RequestError) -> Problem {
        match e {
            RequestError::Refused { code, .. } => Problem::Refused(*code),
            RequestError::Offline(_) => Problem::Offline,
            RequestError::ConnectionLost => Problem::ConnectionLost,
            RequestError::Protocol(_) => Problem::Other,
        }
    }

    pub fn of_transfer(e: &TransferError) -> Problem {
        match e {
            TransferError::Refused { code, .. } => Problem::Refused(*code),
            TransferError::Cancelled => Problem::Cancelled,
            TransferError::Io(_) => Problem::CannotRead,
            TransferError::Request(e) => Problem::of_request(e),
        }
    }

    /// An upload that failed after it started, from its event's code.
    pub fn of_code(code: Option<ErrorCode>) -> Problem {
        match code {
            Some(ErrorCode::Cancelled) => Problem::Cancelled,
            Some(code) => Problem::Refused(code),
            None => Problem::Other,
        }
    }

    pub fn of_io(e: &std::io::Error) -> Problem {
        match e.kind() {
            ErrorKind::NotFound => Problem::NoSuchFile,
            _ => Problem::CannotRead,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_become_kinds() {
        let cases = [
            (
                Problem::of_request(&RequestError::Refused {
                    code: ErrorCode::TextTooLong,
                    message: "text too long".into(),
                    retry_after_ms: None,
                }),
                Problem::Refused(ErrorCode::TextTooLong),
            ),
            (Problem::of_request(&RequestError::Offline("x".into())), Problem::Offline),
            (Problem::of_request(&RequestError::ConnectionLost), Problem::ConnectionLost),
            (Problem::of_request(&RequestError::Protocol("x".into())), Problem::Other),
            (Problem::of_transfer(&TransferError::Io("x".into())), Problem::CannotRead),
            (Problem::of_transfer(&TransferError::Cancelled), Problem::Cancelled),
            (
                Problem::of_transfer(&TransferError::Request(RequestError::ConnectionLost)),
                Problem::ConnectionLost,
            ),
            (Problem::of_code(Some(ErrorCode::Cancelled)), Problem::Cancelled),
            (
                Problem::of_code(Some(ErrorCode::FileTooLarge)),
                Problem::Refused(ErrorCode::FileTooLarge),
            ),
            (Problem::of_code(None), Problem::Other),
            (Problem::of_io(&ErrorKind::NotFound.into()), Problem::NoSuchFile),
            (Problem::of_io(&ErrorKind::PermissionDenied.into()), Problem::CannotRead),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }
}
