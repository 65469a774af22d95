//! What a client reports to its front end, in the order it happens: one stream for messages,
//! presence, connection state and file transfers, so a UI has a single place to listen.

use std::path::PathBuf;
use std::time::Duration;

use quicq_common::protocol::{Address, ChatMessage, ErrorCode};
use tokio::sync::mpsc;

/// What happens, in the order it happens.
// Messages are by far the most frequent event: boxing them would cost an allocation each to
// save a few hundred bytes on the rarer ones.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A message for this user (including ones this user sent, from any session). Each id is
    /// reported once, in increasing id order. Events (membership changes, edits, recalls,
    /// reactions) are messages too, with [`ChatMessage::event`] set: a front end applies an
    /// edit, recall or reaction to the earlier message it names.
    Message(ChatMessage),
    /// `by` has read the conversation `with` (named as this user sees it) up to message
    /// `up_to`. `by` may be this user, from another of its sessions, so unread counts agree.
    Read {
        by: String,
        with: Address,
        up_to: u64,
    },
    /// `from` is typing in the conversation `with`; forget it after `for_ms` milliseconds
    /// unless another one arrives. Never stored: missed while offline.
    Typing {
        from: String,
        with: Address,
        for_ms: u64,
    },
    Presence {
        user: String,
        online: bool,
    },
    State(ConnState),
    /// Progress and outcomes of file uploads and downloads.
    Transfer(TransferEvent),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConnState {
    Connected {
        you: String,
    },
    /// The connection was lost; the next attempt is in `delay`.
    Reconnecting {
        attempt: u32,
        delay: Duration,
        reason: String,
    },
    /// Given up (wrong password, untrusted server) or closed by the user.
    Offline {
        reason: String,
    },
}

pub type Events = mpsc::UnboundedReceiver<Event>;

/// The sending end of [`Events`]; sending never fails the sender (a front end that stopped
/// listening just misses events).
#[derive(Debug, Clone)]
pub(crate) struct Emitter(mpsc::UnboundedSender<Event>);

impl Emitter {
    pub(crate) fn channel() -> (Emitter, Events) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Emitter(tx), rx)
    }

    pub(crate) fn emit(&self, event: Event) {
        let _ = self.0.send(event);
    }

    pub(crate) fn transfer(&self, event: TransferEvent) {
        self.emit(Event::Transfer(event));
    }
}

/// Which transfer an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TransferKey {
    Upload(String),
    Download(u64),
}

/// Everything that happens to uploads and downloads, for progress bars and notices.
#[derive(Debug, Clone, PartialEq)]
pub enum TransferEvent {
    Progress {
        key: TransferKey,
        name: String,
        done: u64,
        total: u64,
        bytes_per_sec: f64,
    },
    /// The server accepted an upload's header; recipients online now start receiving.
    UploadAccepted {
        transfer_id: String,
        file_id: u64,
    },
    /// Every byte arrived and the hash matched; `offline` recipients get it when they sign in.
    UploadComplete {
        transfer_id: String,
        file_id: u64,
        offline: Vec<String>,
    },
    UploadFailed {
        transfer_id: String,
        code: Option<ErrorCode>,
        reason: String,
    },
    /// A recipient saved an uploaded file.
    Delivered {
        file_id: u64,
        to: String,
    },
    /// A file larger than [`crate::ClientConfig::auto_download_max`] was not downloaded by
    /// itself (live, or found pending when signing in): [`crate::Client::download`] fetches it,
    /// resuming what an earlier attempt kept.
    Offered {
        file_id: u64,
        name: String,
        from: String,
        size: u64,
    },
    DownloadStarted {
        file_id: u64,
        name: String,
        from: String,
        size: u64,
    },
    Saved {
        file_id: u64,
        path: PathBuf,
    },
    DownloadFailed {
        file_id: u64,
        code: Option<ErrorCode>,
        reason: String,
    },
}
