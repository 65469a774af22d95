//! When to try again: how a closed connection is described and how soon to reconnect, the
//! reconnect backoff, and which refused sends are repeated. Pure, so the supervisor's and
//! `send`'s loops only sleep and call these.

use std::time::Duration;

use quicq_common::protocol::{ClientFrame, ErrorCode, close};

use crate::error::RequestError;

/// The longest wait between reconnection attempts.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The shortest wait after a failed reconnection attempt.
pub(crate) const MIN_BACKOFF: Duration = Duration::from_millis(500);
/// Sends refused as `internal` or `shutting_down` are repeated this many times.
pub(crate) const SEND_RETRIES: u32 = 5;

/// Why a connection closed, in words for the user, and how soon to reconnect.
pub(crate) fn describe_close(err: &quinn::ConnectionError) -> (String, Duration) {
    match err {
        quinn::ConnectionError::ApplicationClosed(c) => {
            let text = String::from_utf8_lossy(&c.reason).into_owned();
            match u32::try_from(c.error_code.into_inner()).unwrap_or(u32::MAX) {
                close::SHUTDOWN => ("the server is shutting down".into(), Duration::from_secs(1)),
                close::QUEUE_OVERFLOW => ("fell behind; catching up".into(), Duration::ZERO),
                _ if text.is_empty() => ("the connection was closed".into(), MIN_BACKOFF),
                _ => (text, MIN_BACKOFF),
            }
        }
        quinn::ConnectionError::TimedOut => ("the server stopped answering".into(), MIN_BACKOFF),
        other => (other.to_string(), MIN_BACKOFF),
    }
}

/// The wait after a failed reconnection attempt: doubled, at least [`MIN_BACKOFF`], spread by
/// `jitter` (0.8–1.2, so clients that lost the same server do not return in step), at most
/// [`MAX_BACKOFF`].
pub(crate) fn next_backoff(delay: Duration, jitter: f64) -> Duration {
    (delay * 2).max(MIN_BACKOFF).mul_f64(jitter).min(MAX_BACKOFF)
}

/// Whether a refused `send` is repeated, after how long, and the count of server failures
/// after it. Rate limiting waits as the server asks and is always repeated (the server stores
/// nothing for a refused send); a server failure is repeated [`SEND_RETRIES`] times.
pub(crate) fn send_retry(err: &RequestError, failures: u32) -> Option<(Duration, u32)> {
    match err {
        RequestError::Refused { code: ErrorCode::RateLimited, retry_after_ms, .. } => {
            let wait = Duration::from_millis(retry_after_ms.unwrap_or(100).clamp(1, 60_000));
            Some((wait, failures))
        }
        RequestError::Refused { code: ErrorCode::Internal | ErrorCode::ShuttingDown, .. }
            if failures < SEND_RETRIES =>
        {
            let failures = failures + 1;
            Some((Duration::from_millis(200 << failures), failures))
        }
        _ => None,
    }
}

/// Whether a refused change is repeated, after how long, and the count of server failures
/// after it. One with a client id (send, edit, recall, react) as [`send_retry`] says: the server
/// stores it once however often it comes. One without (a group change) only when rate
/// limited, which stores nothing: after a server failure it could have happened already.
pub(crate) fn change_retry(
    frame: &ClientFrame,
    err: &RequestError,
    failures: u32,
) -> Option<(Duration, u32)> {
    let has_client_id = matches!(
        frame,
        ClientFrame::Send { .. }
            | ClientFrame::Edit { .. }
            | ClientFrame::Recall { .. }
            | ClientFrame::React { .. }
    );
    match err {
        _ if has_client_id => send_retry(err, failures),
        RequestError::Refused { code: ErrorCode::RateLimited, .. } => send_retry(err, failures),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use quinn::{ApplicationClose, ConnectionError, VarInt};

    use super::*;

    fn app_close(code: u32, reason: &'static str) -> ConnectionError {
        ConnectionError::ApplicationClosed(ApplicationClose {
            error_code: VarInt::from_u32(code),
            reason: reason.as_bytes().to_vec().into(),
        })
    }

    #[test]
    fn a_close_says_why_and_how_soon_to_come_back() {
        let ms = Duration::from_millis;
        let cases = [
            (app_close(close::SHUTDOWN, "bye"), "the server is shutting down", ms(1000)),
            (app_close(close::QUEUE_OVERFLOW, "x"), "fell behind; catching up", ms(0)),
            (app_close(close::NORMAL, ""), "the connection was closed", ms(500)),
            (app_close(4242, "kicked out"), "kicked out", ms(500)),
            (ConnectionError::TimedOut, "the server stopped answering", ms(500)),
            (ConnectionError::Reset, "reset by peer", ms(500)),
        ];
        for (err, reason, delay) in cases {
            assert_eq!(describe_close(&err), (reason.to_owned(), delay), "{err:?}");
        }
    }

    #[test]
    fn backoff_doubles_from_half_a_second_up_to_thirty() {
        let ms = Duration::from_millis;
        let cases = [
            (ms(0), 1.0, ms(500)),
            (ms(500), 1.0, ms(1000)),
            (ms(500), 0.8, ms(800)),
            (ms(500), 1.2, ms(1200)),
            (ms(20_000), 1.0, ms(30_000)),
            (ms(30_000), 1.2, ms(30_000)),
        ];
        for (delay, jitter, want) in cases {
            assert_eq!(next_backoff(delay, jitter), want, "{delay:?} × {jitter}");
        }
    }

    #[test]
    fn refused_sends_are_repeated_only_when_the_server_may_take_them_later() {
        let ms = Duration::from_millis;
        let refused = |code, retry_after_ms| RequestError::Refused {
            code,
            message: String::new(),
            retry_after_ms,
        };
        let cases = [
            (refused(ErrorCode::RateLimited, Some(250)), 3, Some((ms(250), 3))),
            (refused(ErrorCode::RateLimited, None), 0, Some((ms(100), 0))),
            (refused(ErrorCode::RateLimited, Some(0)), 0, Some((ms(1), 0))),
            (refused(ErrorCode::RateLimited, Some(999_999)), 9, Some((ms(60_000), 9))),
            (refused(ErrorCode::Internal, None), 0, Some((ms(400), 1))),
            (refused(ErrorCode::ShuttingDown, None), 4, Some((ms(6400), 5))),
            (refused(ErrorCode::Internal, None), 5, None),
            (refused(ErrorCode::TextTooLong, None), 0, None),
            (RequestError::ConnectionLost, 0, None),
            (RequestError::Offline("closed".into()), 0, None),
        ];
        for (err, failures, want) in cases {
            assert_eq!(send_retry(&err, failures), want, "{err:?} after {failures}");
        }
    }

    #[test]
    fn changes_without_a_client_id_are_repeated_only_when_rate_limited() {
        let ms = Duration::from_millis;
        let refused = |code, retry_after_ms| RequestError::Refused {
            code,
            message: String::new(),
            retry_after_ms,
        };
        let leave = ClientFrame::Group {
            group: "g".into(),
            change: quicq_common::protocol::GroupChange::Leave {},
        };
        let create = ClientFrame::GroupCreate { name: "g".into(), members: vec![] };
        let edit = ClientFrame::Edit { client_id: "c".into(), id: 1, text: "t".into() };
        let react = ClientFrame::React { client_id: "c".into(), id: 1, emoji: None };
        let cases = [
            (&leave, refused(ErrorCode::RateLimited, Some(250)), Some((ms(250), 0))),
            (&create, refused(ErrorCode::RateLimited, None), Some((ms(100), 0))),
            (&leave, refused(ErrorCode::Internal, None), None),
            (&create, refused(ErrorCode::ShuttingDown, None), None),
            (&leave, refused(ErrorCode::NotAllowed, None), None),
            (&leave, RequestError::ConnectionLost, None),
            (&edit, refused(ErrorCode::RateLimited, Some(5)), Some((ms(5), 0))),
            (&edit, refused(ErrorCode::Internal, None), Some((ms(400), 1))),
            (&react, refused(ErrorCode::TooLate, None), None),
        ];
        for (frame, err, want) in cases {
            assert_eq!(change_retry(frame, &err, 0), want, "{frame:?}: {err:?}");
        }
    }
}
