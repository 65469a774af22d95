//! The decisions of uploads and downloads, as plain functions: where to resume, what a failed
//! write or a verdict means, how a download's stream end and writer result make an outcome,
//! and which failures are final. The jobs in `upload` and `download` only move bytes and call
//! these.

use std::path::Path;
use std::time::Duration;

use quicq_common::protocol::{ChatMessage, ErrorCode, ServerFrame};
use quicq_common::pump::{End, Pumped};

use super::error::{DownloadError, TransferError};
use super::handle::Uploaded;
use crate::error::RequestError;

/// A rate-limited upload is tried again this many times…
pub(crate) const RATE_LIMIT_RETRIES: u32 = 10;
/// …this long apart.
pub(crate) const RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);

/// What the server holds of an upload, from `upload_state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerHas {
    pub received: u64,
    pub complete: bool,
    pub file_id: u64,
}

/// Where an upload continues after its connection was lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resume {
    /// Everything arrived before the connection dropped.
    Done(Uploaded),
    /// Resend the header from this offset (with no bytes left, that tells the server the
    /// upload is finished).
    From(u64),
}

pub(crate) fn resume_upload(has: ServerHas) -> Resume {
    match has {
        ServerHas { complete: true, file_id, .. } => {
            Resume::Done(Uploaded { file_id, offline: Vec::new() })
        }
        ServerHas { received, .. } => Resume::From(received),
    }
}

/// How one attempt to send an upload's bytes ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// All bytes written, or the server stopped the stream: wait for its verdict.
    Sent,
    /// The connection went away; resume on the next one.
    Lost,
}

/// A write failed: if the server stopped the stream it refused the upload (its reason follows
/// on the control stream); otherwise the connection is gone.
pub(crate) fn after_failed_write(
    stopped: &Result<Option<quinn::VarInt>, quinn::StoppedError>,
) -> Attempt {
    match stopped {
        Ok(Some(_code)) => Attempt::Sent,
        _ => Attempt::Lost,
    }
}

/// What an upload does after waiting for its verdict.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AfterVerdict {
    /// The upload is over.
    Finish(Result<Uploaded, TransferError>),
    /// Nothing was stored: send the same transfer again from the start after this wait.
    Retry(Duration),
    /// The connection dropped before the verdict: ask the server where it stands on the next.
    AskAgain,
    /// The server already has every byte (an earlier attempt completed unseen): ask it now for
    /// the file's id and finish.
    AskNow,
}

/// `verdict` is `None` when the connection closed first; `rate_limited` counts earlier retries.
pub(crate) fn after_verdict(
    verdict: Option<Result<Uploaded, TransferError>>,
    rate_limited: u32,
) -> AfterVerdict {
    match verdict {
        Some(Err(TransferError::Refused { code: ErrorCode::RateLimited, .. }))
            if rate_limited < RATE_LIMIT_RETRIES =>
        {
            AfterVerdict::Retry(RATE_LIMIT_WAIT)
        }
        Some(Err(TransferError::Refused { code: ErrorCode::AlreadyComplete, .. })) => {
            AfterVerdict::AskNow
        }
        Some(result) => AfterVerdict::Finish(result),
        None => AfterVerdict::AskAgain,
    }
}

/// What a client does by itself with a message that reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// Download it: a file, not this client's own upload, a download folder set, and no larger
    /// than the limit (if any).
    Download,
    /// Tell the front end: such a file, but larger than the limit.
    Offer,
    /// Nothing: no file, one's own upload, or no download folder.
    Nothing,
}

pub(crate) fn arrival(
    message: &ChatMessage,
    own_upload: bool,
    have_dir: bool,
    max: Option<u64>,
) -> Arrival {
    match &message.file {
        Some(f) if !own_upload && have_dir => {
            if max.is_none_or(|max| f.size <= max) {
                Arrival::Download
            } else {
                Arrival::Offer
            }
        }
        _ => Arrival::Nothing,
    }
}

/// A download resumes from what its `.part` file holds, never past the file's size.
pub(crate) fn resume_offset(part_len: Option<u64>, size: u64) -> u64 {
    part_len.unwrap_or(0).min(size)
}

/// The server's answer to `download`.
#[derive(Debug)]
pub(crate) enum Answer {
    /// The file stream follows.
    Started,
    /// Final: the `.part` file goes.
    Refused(DownloadError),
    /// An answer that is not one; the download fails.
    Unexpected(DownloadError),
    /// The connection was lost; try on the next one.
    Lost,
}

pub(crate) fn download_answer(answer: Result<ServerFrame, RequestError>) -> Answer {
    match answer {
        Ok(ServerFrame::DownloadStarted { .. }) => Answer::Started,
        Ok(ServerFrame::Error { code, message, .. }) => {
            Answer::Refused(DownloadError::Refused { code, message })
        }
        Ok(other) => Answer::Unexpected(DownloadError::Unexpected(format!("{other:?}"))),
        Err(_) => Answer::Lost,
    }
}

/// How one file stream of a download ended.
#[derive(Debug)]
pub(crate) enum Received {
    /// The whole file, with its hash.
    Complete(String),
    /// Resume on the next connection.
    Lost,
    Failed(DownloadError),
}

/// The client stops the stream itself (with `cancelled`) when it gave up reading early.
pub(crate) fn stop_stream(end: &End) -> bool {
    matches!(end, End::Cancelled | End::TooLong | End::WriterFailed)
}

/// Maps a pumped stream to the download's outcome. Failures of the stream (cancel, excess,
/// reset) win over the writer's result; a writer error wins over a lost connection; a finished
/// stream must have brought exactly `size` bytes.
pub(crate) fn received(pumped: Pumped, size: u64, part: &Path) -> Received {
    match (pumped.end, pumped.written) {
        (End::Cancelled, _) => Received::Failed(DownloadError::Cancelled),
        (End::TooLong, _) => Received::Failed(DownloadError::TooLong),
        (End::Reset(_), _) => Received::Failed(DownloadError::Aborted),
        (_, Err(source)) => {
            Received::Failed(DownloadError::Write { path: part.to_owned(), source })
        }
        (End::Finished, Ok((len, hash))) if len == size => Received::Complete(hash),
        (End::Finished, Ok((got, _))) => Received::Failed(DownloadError::Short { got, size }),
        (End::Lost(_) | End::WriterFailed, Ok(_)) => Received::Lost,
    }
}

/// Whether the server is told `file_done` for this device: after saving, and after failures
/// that will not pass (the file is gone, cancelled, or corrupt); not after network or disk
/// trouble, so the next sign-in tries again.
pub(crate) fn done_for_good(result: &Result<std::path::PathBuf, DownloadError>) -> bool {
    match result {
        Ok(_) => true,
        Err(e) => matches!(
            e.code(),
            Some(
                ErrorCode::FileUnavailable
                    | ErrorCode::UnknownFile
                    | ErrorCode::Cancelled
                    | ErrorCode::HashMismatch
            )
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use quicq_common::protocol::{Address, FileInfo};

    use super::*;

    fn uploaded(file_id: u64) -> Uploaded {
        Uploaded { file_id, offline: Vec::new() }
    }

    #[test]
    fn an_upload_resumes_where_the_server_stopped_or_is_done() {
        let has = |received, complete, file_id| ServerHas { received, complete, file_id };
        let cases = [
            (has(0, false, 0), Resume::From(0)),
            (has(4096, false, 7), Resume::From(4096)),
            (has(10, true, 7), Resume::Done(uploaded(7))),
            (has(0, true, 9), Resume::Done(uploaded(9))),
        ];
        for (state, want) in cases {
            assert_eq!(resume_upload(state.clone()), want, "{state:?}");
        }
    }

    #[test]
    fn a_failed_write_is_a_refusal_only_if_the_server_stopped_the_stream() {
        let lost = quinn::StoppedError::ConnectionLost(quinn::ConnectionError::TimedOut);
        let cases = [
            (Ok(Some(quinn::VarInt::from_u32(3))), Attempt::Sent),
            (Ok(None), Attempt::Lost),
            (Err(lost), Attempt::Lost),
        ];
        for (stopped, want) in cases {
            assert_eq!(after_failed_write(&stopped), want, "{stopped:?}");
        }
    }

    #[test]
    fn only_rate_limiting_repeats_an_upload_and_only_ten_times() {
        let refused = |code| Err(TransferError::Refused { code, reason: String::new() });
        let cases = [
            (Some(Ok(uploaded(1))), 0, AfterVerdict::Finish(Ok(uploaded(1)))),
            (Some(refused(ErrorCode::RateLimited)), 0, AfterVerdict::Retry(RATE_LIMIT_WAIT)),
            (Some(refused(ErrorCode::RateLimited)), 9, AfterVerdict::Retry(RATE_LIMIT_WAIT)),
            (
                Some(refused(ErrorCode::RateLimited)),
                10,
                AfterVerdict::Finish(refused(ErrorCode::RateLimited)),
            ),
            (
                Some(refused(ErrorCode::QuotaExceeded)),
                0,
                AfterVerdict::Finish(refused(ErrorCode::QuotaExceeded)),
            ),
            (
                Some(Err(TransferError::Cancelled)),
                0,
                AfterVerdict::Finish(Err(TransferError::Cancelled)),
            ),
            (None, 0, AfterVerdict::AskAgain),
            (None, 10, AfterVerdict::AskAgain),
            (Some(refused(ErrorCode::AlreadyComplete)), 0, AfterVerdict::AskNow),
        ];
        for (verdict, retries, want) in cases {
            let shown = format!("{verdict:?} after {retries}");
            assert_eq!(after_verdict(verdict, retries), want, "{shown}");
        }
    }

    #[test]
    fn upload_failures_carry_their_code() {
        let cases = [
            (
                TransferError::Refused { code: ErrorCode::FileTooLarge, reason: "x".into() },
                Some(ErrorCode::FileTooLarge),
            ),
            (TransferError::Cancelled, Some(ErrorCode::Cancelled)),
            (TransferError::Io("gone".into()), None),
            (TransferError::Request(RequestError::ConnectionLost), None),
        ];
        for (err, want) in cases {
            assert_eq!(err.code(), want, "{err:?}");
        }
    }

    #[test]
    fn only_other_peoples_files_start_a_download_and_only_with_a_folder() {
        let mut message = ChatMessage {
            id: 1,
            from: "bob".into(),
            to: Address::everyone(),
            text: String::new(),
            at: 0,
            file: None,
            ..Default::default()
        };
        assert_eq!(arrival(&message, false, true, None), Arrival::Nothing, "no file");
        message.file = Some(FileInfo {
            id: 5,
            name: "a".into(),
            size: 1,
            blake3: String::new(),
            transfer_id: "t".into(),
        });
        use Arrival::*;
        let cases = [((false, true), Download), ((true, true), Nothing), ((false, false), Nothing)];
        for ((own, dir), want) in cases {
            assert_eq!(arrival(&message, own, dir, None), want, "own {own}, dir {dir}");
        }
        // The file is 1 byte: a limit below it leaves it to the front end.
        for (max, want) in [(None, Download), (Some(1), Download), (Some(0), Offer)] {
            assert_eq!(arrival(&message, false, true, max), want, "max {max:?}");
        }
        assert_eq!(arrival(&message, true, true, Some(0)), Nothing, "one's own upload");
    }

    #[test]
    fn a_download_resumes_from_its_part_file_but_never_past_the_end() {
        let cases = [(None, 100, 0), (Some(0), 100, 0), (Some(40), 100, 40), (Some(150), 100, 100)];
        for (part, size, want) in cases {
            assert_eq!(resume_offset(part, size), want, "{part:?} of {size}");
        }
    }

    #[test]
    fn the_download_answer_decides_whether_a_stream_follows() {
        let refusal = ServerFrame::Error {
            code: ErrorCode::UnknownFile,
            message: "no such file".into(),
            retry_after_ms: None,
        };
        assert!(matches!(
            download_answer(Ok(ServerFrame::DownloadStarted { file_id: 1, offset: 0 })),
            Answer::Started
        ));
        match download_answer(Ok(refusal)) {
            Answer::Refused(e) => {
                assert_eq!(e.code(), Some(ErrorCode::UnknownFile));
                assert_eq!(e.to_string(), "no such file");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            download_answer(Ok(ServerFrame::FileList { messages: vec![] })),
            Answer::Unexpected(DownloadError::Unexpected(_))
        ));
        assert!(matches!(download_answer(Err(RequestError::ConnectionLost)), Answer::Lost));
    }

    fn pumped(end: End, written: Result<(u64, &str), &str>) -> Pumped {
        Pumped {
            end,
            received: 0,
            written: written.map(|(n, h)| (n, h.to_owned())).map_err(std::io::Error::other),
        }
    }

    #[test]
    fn a_stream_end_and_the_writer_result_make_the_outcome() {
        use quinn::ReadError;
        let lost = || End::Lost(ReadError::ConnectionLost(quinn::ConnectionError::TimedOut));
        // (end, writer, expected outcome as text: "complete HASH", "lost", or the failure's
        // code and message)
        type Written<'a> = Result<(u64, &'a str), &'a str>;
        let cases: Vec<(End, Written, &str)> = vec![
            (End::Finished, Ok((10, "h")), "complete h"),
            (End::Finished, Ok((9, "h")), "Some(SizeMismatch) got 9 of 10 bytes"),
            (End::Finished, Err("disk full"), "None cannot write p.part: disk full"),
            (End::Cancelled, Ok((3, "h")), "Some(Cancelled) cancelled"),
            (End::Cancelled, Err("disk full"), "Some(Cancelled) cancelled"),
            (
                End::TooLong,
                Ok((10, "h")),
                "Some(SizeMismatch) the server sent more than the file size",
            ),
            (
                End::Reset(0),
                Err("disk full"),
                "None the server aborted the file (the upload was cancelled or failed)",
            ),
            (lost(), Ok((4, "h")), "lost"),
            (lost(), Err("disk full"), "None cannot write p.part: disk full"),
            (End::WriterFailed, Err("disk full"), "None cannot write p.part: disk full"),
            (End::WriterFailed, Ok((4, "h")), "lost"),
        ];
        for (end, written, want) in cases {
            let shown = format!("{end:?} {written:?}");
            let got = match received(pumped(end, written), 10, Path::new("p.part")) {
                Received::Complete(hash) => format!("complete {hash}"),
                Received::Lost => "lost".into(),
                Received::Failed(e) => format!("{:?} {e}", e.code()),
            };
            assert_eq!(got, want, "{shown}");
        }
    }

    #[test]
    fn the_client_stops_a_stream_only_when_it_gave_up_reading() {
        let cases = [
            (End::Finished, false),
            (End::Reset(1), false),
            (End::Lost(quinn::ReadError::ClosedStream), false),
            (End::Cancelled, true),
            (End::TooLong, true),
            (End::WriterFailed, true),
        ];
        for (end, want) in cases {
            assert_eq!(stop_stream(&end), want, "{end:?}");
        }
    }

    #[test]
    fn a_download_is_done_for_good_when_saved_or_when_retrying_cannot_help() {
        let refused = |code| Err(DownloadError::Refused { code, message: String::new() });
        let io = || std::io::Error::other("x");
        let cases: Vec<(Result<PathBuf, DownloadError>, bool)> = vec![
            (Ok(PathBuf::from("saved")), true),
            (refused(ErrorCode::FileUnavailable), true),
            (refused(ErrorCode::UnknownFile), true),
            (refused(ErrorCode::Cancelled), true),
            (Err(DownloadError::Cancelled), true),
            (Err(DownloadError::HashMismatch), true),
            (refused(ErrorCode::Internal), false),
            (refused(ErrorCode::RateLimited), false),
            (Err(DownloadError::TooLong), false),
            (Err(DownloadError::Short { got: 1, size: 2 }), false),
            (Err(DownloadError::Aborted), false),
            (Err(DownloadError::Write { path: "p".into(), source: io() }), false),
            (Err(DownloadError::Io(io())), false),
            (Err(DownloadError::Request(RequestError::Offline("closed".into()))), false),
        ];
        for (result, want) in cases {
            assert_eq!(done_for_good(&result), want, "{result:?}");
        }
    }
}
