//! What the controller changes on screen, one enum per view, so the controller never touches a
//! Slint global: the adapters apply these to the views, and the controller's tests record them.
//!
//! Lists (users, bubbles, transfers) are not here: the controller owns their models and the
//! views watch them directly.

use quicq_common::Fingerprint;

/// The sign-in page.
#[derive(Debug, Clone, PartialEq)]
pub enum SignInShow {
    /// Fill in what was remembered from the last run.
    Fill {
        server: String,
        nickname: String,
    },
    Busy(bool),
    /// Why the last attempt failed; empty clears it.
    Error(String),
    /// Never keep a password on screen after it worked.
    ClearPassword,
}

/// The trust prompt.
#[derive(Debug, Clone, PartialEq)]
pub enum TrustShow {
    /// First contact: ask.
    New {
        server: String,
        fingerprint: Fingerprint,
    },
    /// A known server presents another certificate: warn, and offer only to close (at sign-in)
    /// or to sign out or retry (`in_session`: the change showed up on a reconnect).
    Changed {
        server: String,
        expected: Fingerprint,
        presented: Fingerprint,
        in_session: bool,
    },
    Hidden,
}

/// The conversation pane's header and paging; its bubbles are a model.
#[derive(Debug, Clone, PartialEq)]
pub enum ConversationShow {
    Title(String),
    MoreHistory(bool),
}

/// The composer.
#[derive(Debug, Clone, PartialEq)]
pub enum ComposerShow {
    ClearDraft,
    ClearTypedPath,
    /// The typed-path row, for systems where the file dialog gave nothing.
    PathEntry(bool),
}

/// The status bar.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusShow {
    Line {
        connected: bool,
        text: String,
    },
    /// Given up: not coming back by itself (the dot is neither green nor amber).
    Offline(String),
    Notice(String),
    /// The notice's time is up.
    ClearNotice,
}

/// One change to one view.
#[derive(Debug, Clone, PartialEq)]
pub enum Show {
    SignIn(SignInShow),
    Trust(TrustShow),
    /// The chat page replaces the sign-in page.
    SignedIn,
    /// Back to the sign-in page.
    SignedOut,
    Conversation(ConversationShow),
    Composer(ComposerShow),
    Status(StatusShow),
}

/// Where the controller sends its changes; implemented on the window by the adapters.
pub trait Screen {
    fn show(&self, change: Show);
}
