//! The decisions about files, as plain functions: is an upload header acceptable, does it start
//! a new file or resume one, does the quota allow it, how an upload's end becomes its verdict,
//! whether a file can be downloaded, and which files retention drops.

use quicq_common::check::{check_blake3, check_transfer_id};
use quicq_common::protocol::ErrorCode;
use quicq_common::pump;

use crate::error::Refusal;
use crate::files::spool::Phase;
use crate::store::{AccountId, FileState, LiveFile};

/// An upload header's fields that decide whether it is accepted.
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    pub transfer_id: &'a str,
    pub size: u64,
    pub blake3: &'a str,
    pub offset: u64,
}

/// Checks 1–3 of docs/protocol.md section 8, which need no stored state.
pub fn check_header(header: &Header<'_>, max_file_bytes: u64) -> Result<(), Refusal> {
    check_transfer_id(header.transfer_id)?;
    check_blake3(header.blake3)?;
    if header.size > max_file_bytes {
        return Err(Refusal::new(
            ErrorCode::FileTooLarge,
            format!(
                "file of {} bytes exceeds this server's limit of {max_file_bytes} bytes",
                header.size
            ),
        ));
    }
    Ok(())
}

/// What the server holds of a transfer, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held<'a> {
    pub size: u64,
    pub blake3: &'a str,
    pub state: FileState,
}

/// What an acceptable header asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// A new file.
    Create,
    /// Continue the held file (the offset is checked once the old writer has stopped).
    Resume,
}

/// Checks 5–7: a new upload must start at 0; a resumed one must describe the same file, still
/// uploading.
pub fn start(header: &Header<'_>, held: Option<Held<'_>>) -> Result<Start, Refusal> {
    let Some(held) = held else {
        if header.offset > 0 {
            return Err(Refusal::new(
                ErrorCode::BadOffset,
                "the server holds nothing of this transfer; start at 0",
            ));
        }
        return Ok(Start::Create);
    };
    if held.size != header.size || held.blake3 != header.blake3 {
        return Err(Refusal::new(
            ErrorCode::BadOffset,
            "this transfer_id was used for another file",
        ));
    }
    match held.state {
        FileState::Uploading => Ok(Start::Resume),
        FileState::Complete => {
            Err(Refusal::new(ErrorCode::AlreadyComplete, "this upload is already complete"))
        }
        FileState::Failed | FileState::Expired => Err(unavailable_upload()),
    }
}

/// Check 8: the header's offset must be exactly what the server holds.
pub fn check_resume_offset(offset: u64, held: u64) -> Result<(), Refusal> {
    if offset != held {
        return Err(Refusal::new(
            ErrorCode::BadOffset,
            format!("the server holds {held} bytes of this transfer, not {offset}"),
        ));
    }
    Ok(())
}

/// Spool space held, in bytes: a complete file holds its size, an upload being received holds
/// its declared size, and an upload that is not being received (interrupted, or stopped for
/// idling) holds only the bytes it has. Returns (everyone's, `account`'s).
pub fn reserved(
    files: &[LiveFile],
    running: impl Fn(u64) -> bool,
    account: AccountId,
) -> (u64, u64) {
    let mut total = 0u64;
    let mut mine = 0u64;
    for f in files {
        let held = if f.complete || running(f.id) { f.size } else { f.received.min(f.size) };
        total = total.saturating_add(held);
        if f.sender == account {
            mine = mine.saturating_add(held);
        }
    }
    (total, mine)
}

/// Check 5b: what is held plus the new file stays within the server's quota and the account's
/// share of it.
pub fn check_quota(
    (total, mine): (u64, u64),
    size: u64,
    quota: u64,
    account_quota: u64,
) -> Result<(), Refusal> {
    if mine.saturating_add(size) > account_quota {
        return Err(Refusal::new(
            ErrorCode::QuotaExceeded,
            format!(
                "your files on the server would exceed your share ({mine} of {account_quota} bytes in use)"
            ),
        ));
    }
    if total.saturating_add(size) > quota {
        return Err(Refusal::new(
            ErrorCode::QuotaExceeded,
            format!("the server's file storage is full ({total} of {quota} bytes in use)"),
        ));
    }
    Ok(())
}

/// Disk kept free beyond every accepted upload, for the database and the logs.
pub const DISK_RESERVE: u64 = 64 << 20;

/// A new upload must fit on the spool's disk as it is now (`free`, when known), keeping
/// [`DISK_RESERVE`]: the quota alone would accept a file the disk cannot hold.
pub fn check_space(free: Option<u64>, size: u64) -> Result<(), Refusal> {
    match free {
        Some(free) if size.saturating_add(DISK_RESERVE) > free => Err(Refusal::new(
            ErrorCode::QuotaExceeded,
            format!(
                "the server's disk has room for {} more bytes",
                free.saturating_sub(DISK_RESERVE)
            ),
        )),
        _ => Ok(()),
    }
}

pub fn unavailable_upload() -> Refusal {
    Refusal::new(ErrorCode::FileUnavailable, "this upload failed or expired; start a new one")
}

/// How the bytes of an upload stopped coming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// FIN: the writer has (length, BLAKE3) of the whole spool file.
    Finished { received: u64, blake3: String },
    /// More bytes than the header declared.
    TooLong,
    /// The uploader reset the stream.
    Reset,
    /// The connection went away or another upload took over; `received` bytes are durable.
    Interrupted { received: u64 },
    /// The spool could not be written.
    WriteFailed,
    /// No block arrived for the configured idle time.
    Idle,
}

/// The server's reading of how the shared byte pump ended: the writer's failure wins; a lost
/// connection and a take-over by a newer upload of the same file both keep what was written.
pub fn upload_end(end: pump::End, written: std::io::Result<(u64, String)>) -> End {
    let Ok((received, blake3)) = written else {
        return End::WriteFailed;
    };
    match end {
        pump::End::Finished => End::Finished { received, blake3 },
        pump::End::TooLong => End::TooLong,
        pump::End::Reset(_) => End::Reset,
        pump::End::Lost(_) | pump::End::Cancelled => End::Interrupted { received },
        pump::End::WriterFailed => End::WriteFailed,
    }
}

/// What becomes of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Complete {
        received: u64,
    },
    /// Resumable later: keep what arrived.
    Keep {
        received: u64,
    },
    Fail(Refusal),
}

/// Turns the end of an upload into the file's fate; the size and hash are those the header
/// declared.
pub fn verdict(end: End, size: u64, blake3: &str) -> Verdict {
    match end {
        End::Finished { received, .. } if received != size => Verdict::Fail(Refusal::new(
            ErrorCode::SizeMismatch,
            format!("expected {size} bytes, got {received}"),
        )),
        End::Finished { blake3: got, .. } if got != blake3 => Verdict::Fail(Refusal::new(
            ErrorCode::HashMismatch,
            "the bytes received do not match the declared BLAKE3 hash",
        )),
        End::Finished { received, .. } => Verdict::Complete { received },
        End::TooLong => Verdict::Fail(Refusal::new(
            ErrorCode::SizeMismatch,
            format!("the stream carried more than {size} bytes"),
        )),
        End::Reset => {
            Verdict::Fail(Refusal::new(ErrorCode::Cancelled, "the sender cancelled the upload"))
        }
        End::Interrupted { received } => Verdict::Keep { received },
        End::WriteFailed => {
            Verdict::Fail(Refusal::new(ErrorCode::Internal, "the server could not store the file"))
        }
        End::Idle => Verdict::Fail(Refusal::new(
            ErrorCode::UploadIdle,
            "no bytes arrived for too long; upload again",
        )),
    }
}

/// Whether a file in `state` can be downloaded from `offset`, and how far it is.
pub fn download_phase(state: FileState, offset: u64, size: u64) -> Result<Phase, Refusal> {
    let phase = match state {
        FileState::Uploading => Phase::Uploading,
        FileState::Complete => Phase::Complete,
        FileState::Failed | FileState::Expired => {
            return Err(Refusal::new(
                ErrorCode::FileUnavailable,
                "this file was cancelled, failed or has expired",
            ));
        }
    };
    if offset > size {
        return Err(Refusal::new(
            ErrorCode::BadOffset,
            format!("offset {offset} is past the end ({size})"),
        ));
    }
    Ok(phase)
}

/// Retention: the cut-off times, in ms since the epoch, before which complete files and
/// stalled uploads are dropped.
pub fn expiry_cutoffs(now_ms: i64, retention_secs: u64, stall_secs: u64) -> (i64, i64) {
    let ago = |secs: u64| {
        now_ms.saturating_sub(i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000))
    };
    (ago(retention_secs), ago(stall_secs))
}

/// The state a file found by the retention query moves to, or `None` to keep it: an upload
/// being written right now is not stalled, however slow.
pub fn expire_to(complete: bool, running: bool) -> Option<FileState> {
    match (complete, running) {
        (_, true) => None,
        (true, false) => Some(FileState::Expired),
        (false, false) => Some(FileState::Failed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "3b7a1f0c9e2d4a5b6c7d8e9f00112233445566778899aabbccddeeff01234567";

    fn header(offset: u64) -> Header<'static> {
        Header { transfer_id: "t1", size: 100, blake3: HASH, offset }
    }

    fn code<T: std::fmt::Debug>(r: Result<T, Refusal>) -> Option<ErrorCode> {
        r.err().map(|e| e.code)
    }

    #[test]
    fn header_checks_come_in_the_documented_order() {
        let long = "x".repeat(65);
        let cases: &[(Header<'_>, u64, Option<ErrorCode>)] = &[
            (header(0), 100, None),
            (header(0), 99, Some(ErrorCode::FileTooLarge)),
            (Header { transfer_id: "", ..header(0) }, 100, Some(ErrorCode::InvalidTransferId)),
            (Header { transfer_id: &long, ..header(0) }, 100, Some(ErrorCode::InvalidTransferId)),
            (Header { blake3: "ABC", ..header(0) }, 100, Some(ErrorCode::MalformedFrame)),
            // A bad id wins over a bad hash and a bad size.
            (
                Header { transfer_id: "", blake3: "x", size: 1000, offset: 0 },
                1,
                Some(ErrorCode::InvalidTransferId),
            ),
        ];
        for (h, max, want) in cases {
            assert_eq!(code(check_header(h, *max)), *want, "{h:?} with max {max}");
        }
    }

    #[test]
    fn new_or_resumed_by_what_the_server_holds() {
        let held = |size, blake3, state| Some(Held { size, blake3, state });
        let other = "0".repeat(64);
        let cases: Vec<(u64, Option<Held<'_>>, Result<Start, ErrorCode>)> = vec![
            (0, None, Ok(Start::Create)),
            (5, None, Err(ErrorCode::BadOffset)),
            (0, held(100, HASH, FileState::Uploading), Ok(Start::Resume)),
            (40, held(100, HASH, FileState::Uploading), Ok(Start::Resume)),
            (0, held(101, HASH, FileState::Uploading), Err(ErrorCode::BadOffset)),
            (0, held(100, &other, FileState::Uploading), Err(ErrorCode::BadOffset)),
            (100, held(100, HASH, FileState::Complete), Err(ErrorCode::AlreadyComplete)),
            (0, held(100, HASH, FileState::Failed), Err(ErrorCode::FileUnavailable)),
            (0, held(100, HASH, FileState::Expired), Err(ErrorCode::FileUnavailable)),
        ];
        for (offset, held, want) in cases {
            let got = start(&header(offset), held).map_err(|r| r.code);
            assert_eq!(got, want, "offset {offset}, held {held:?}");
        }
        assert!(check_resume_offset(40, 40).is_ok());
        assert_eq!(code(check_resume_offset(41, 40)), Some(ErrorCode::BadOffset));
    }

    #[test]
    fn quota_counts_what_is_reserved_plus_the_new_file() {
        let any = u64::MAX;
        assert!(check_quota((0, 0), 10, 10, any).is_ok());
        assert!(check_quota((5, 0), 5, 10, any).is_ok());
        assert_eq!(code(check_quota((5, 0), 6, 10, any)), Some(ErrorCode::QuotaExceeded));
        // One account's share, whatever is free overall.
        assert!(check_quota((5, 5), 5, 100, 10).is_ok());
        assert_eq!(code(check_quota((5, 5), 6, 100, 10)), Some(ErrorCode::QuotaExceeded));
        // No overflow near the top of the range.
        assert_eq!(
            code(check_quota((u64::MAX - 1, 0), 2, u64::MAX - 1, any)),
            Some(ErrorCode::QuotaExceeded)
        );
    }

    #[test]
    fn only_uploads_being_received_hold_their_declared_size() {
        let file = |id, sender, size, received, complete| LiveFile {
            id,
            sender,
            size,
            received,
            complete,
        };
        let files = [
            file(1, 7, 100, 100, true),  // complete: its size
            file(2, 7, 1000, 10, false), // running (below): its declared size
            file(3, 7, 1000, 30, false), // interrupted or idle: only what arrived
            file(4, 8, 50, 0, false),    // someone else's header with no bytes
        ];
        let running = |id| id == 2;
        assert_eq!(reserved(&files, running, 7), (100 + 1000 + 30, 100 + 1000 + 30));
        assert_eq!(reserved(&files, running, 8), (1130, 0));
        // Once nothing is running, headers without bytes hold nothing.
        assert_eq!(reserved(&files, |_| false, 7), (100 + 10 + 30, 140));
    }

    #[test]
    fn a_file_must_fit_the_disk_with_room_to_spare() {
        let mib = 1 << 20;
        assert!(check_space(None, u64::MAX).is_ok(), "unknown free space refuses nothing");
        assert!(check_space(Some(DISK_RESERVE + 100 * mib), 100 * mib).is_ok());
        // The finding: 100 MiB offered with 50 MiB free.
        assert_eq!(code(check_space(Some(50 * mib), 100 * mib)), Some(ErrorCode::QuotaExceeded));
        assert_eq!(code(check_space(Some(DISK_RESERVE), 1)), Some(ErrorCode::QuotaExceeded));
        assert_eq!(code(check_space(Some(0), 0)), Some(ErrorCode::QuotaExceeded));
    }

    #[test]
    fn an_upload_end_becomes_a_verdict() {
        let fail = |code| move |v: Verdict| matches!(v, Verdict::Fail(r) if r.code == code);
        let finished = |received, blake3: &str| End::Finished { received, blake3: blake3.into() };
        assert_eq!(verdict(finished(100, HASH), 100, HASH), Verdict::Complete { received: 100 });
        assert!(fail(ErrorCode::SizeMismatch)(verdict(finished(99, HASH), 100, HASH)));
        assert!(fail(ErrorCode::HashMismatch)(verdict(finished(100, "00"), 100, HASH)));
        assert!(fail(ErrorCode::SizeMismatch)(verdict(End::TooLong, 100, HASH)));
        assert!(fail(ErrorCode::Cancelled)(verdict(End::Reset, 100, HASH)));
        assert!(fail(ErrorCode::Internal)(verdict(End::WriteFailed, 100, HASH)));
        assert!(fail(ErrorCode::UploadIdle)(verdict(End::Idle, 100, HASH)));
        assert_eq!(
            verdict(End::Interrupted { received: 7 }, 100, HASH),
            Verdict::Keep { received: 7 }
        );
    }

    #[test]
    fn the_pump_end_is_read_the_servers_way() {
        use quinn::{ConnectionError, ReadError};
        let ok = || Ok((40, HASH.to_string()));
        let lost = pump::End::Lost(ReadError::ConnectionLost(ConnectionError::TimedOut));
        let cases = [
            (pump::End::Finished, ok(), End::Finished { received: 40, blake3: HASH.into() }),
            (pump::End::TooLong, ok(), End::TooLong),
            (pump::End::Reset(2), ok(), End::Reset),
            (lost, ok(), End::Interrupted { received: 40 }),
            (pump::End::Cancelled, ok(), End::Interrupted { received: 40 }),
            (pump::End::WriterFailed, Err(std::io::Error::other("disk full")), End::WriteFailed),
            // A failed write wins even over a clean finish.
            (pump::End::Finished, Err(std::io::Error::other("disk full")), End::WriteFailed),
        ];
        for (end, written, want) in cases {
            let shown = format!("{end:?}");
            assert_eq!(upload_end(end, written), want, "{shown}");
        }
    }

    #[test]
    fn downloads_of_live_files_only_and_within_the_size() {
        let cases = [
            (FileState::Uploading, 0, Ok(Phase::Uploading)),
            (FileState::Complete, 100, Ok(Phase::Complete)),
            (FileState::Complete, 101, Err(ErrorCode::BadOffset)),
            (FileState::Failed, 0, Err(ErrorCode::FileUnavailable)),
            (FileState::Expired, 0, Err(ErrorCode::FileUnavailable)),
        ];
        for (state, offset, want) in cases {
            assert_eq!(download_phase(state, offset, 100).map_err(|r| r.code), want);
        }
    }

    #[test]
    fn retention_drops_old_files_and_stalled_uploads_but_not_running_ones() {
        assert_eq!(expiry_cutoffs(10_000, 3, 5), (7_000, 5_000));
        assert_eq!(expiry_cutoffs(0, u64::MAX, 0), (i64::MIN + 1, 0));
        assert_eq!(expire_to(true, false), Some(FileState::Expired));
        assert_eq!(expire_to(true, true), None);
        assert_eq!(expire_to(false, false), Some(FileState::Failed));
        assert_eq!(expire_to(false, true), None);
    }
}
