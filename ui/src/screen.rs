//! What the controller changes on screen, one enum per view, so the controller never touches a
//! Slint global: the adapters apply these to the views, and the controller's tests record them.
//!
//! Lists (users, bubbles, transfers) are not here: the controller owns their models and the
//! views watch them directly.

use quicq_common::Fingerprint;
use slint::ModelRc;

use crate::generated::{MemberRow, MessageRow, SearchRow};

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

/// The conversation pane's header, paging and scrolling; its bubbles are a model.
#[derive(Debug, Clone, PartialEq)]
pub enum ConversationShow {
    Title(String),
    /// The selected conversation's bubbles (each open conversation has its own model).
    Messages(ModelRc<MessageRow>),
    MoreHistory(bool),
    /// Scroll to the newest message and keep following it.
    ToNewest,
    /// How many messages arrived below the user's view; 0 hides the button.
    NewBelow(u32),
    /// Who is typing, as a line; empty hides it.
    Typing(String),
    /// Ask whether to recall message `id`; `None` closes the question.
    ConfirmRecall(Option<u64>),
}

/// The composer.
#[derive(Debug, Clone, PartialEq)]
pub enum ComposerShow {
    ClearDraft,
    /// The text typed earlier in the conversation just opened.
    Draft(String),
    /// Who the composer writes to, for its placeholder: everyone, or a name (`# rust` for a
    /// group).
    Recipient(Recipient),
    ClearTypedPath,
    /// The typed-path row, for systems where the file dialog gave nothing.
    PathEntry(bool),
    /// What Send does instead of a new message ("Replying to bob: …", "Editing…"); empty for
    /// a new message.
    Mode(String),
}

/// Who a message typed now goes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Recipient {
    Everyone,
    Named(String),
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

/// The group dialog.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupShow {
    /// The empty form for a new group.
    Create,
    /// A group's members panel.
    Members {
        group: String,
        topic: String,
        /// One is the owner or an admin: add, remove, rename and topic are offered.
        can_manage: bool,
        /// One owns it: roles and deleting it are offered.
        is_owner: bool,
        members: Vec<MemberRow>,
    },
    /// Why the last request was refused; empty clears it.
    Error(String),
    Closed,
}

/// The search panel.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchShow {
    /// A search is on; `status` says "searching", "nothing found" or why it failed ("" with
    /// results).
    Results { rows: Vec<SearchRow>, status: String },
    /// Back to the conversation list, the field emptied.
    Cleared,
}

/// The settings page.
#[derive(Debug, Clone, PartialEq)]
pub enum SettingsShow {
    Open(bool),
    /// What it shows, as it is now.
    Page(SettingsPage),
    /// Why the folder typed or chosen cannot be used; empty clears it.
    FolderError(String),
    /// Why the size typed is not one; empty clears it.
    ThresholdError(String),
    /// The window's texts change to this language.
    Language(crate::i18n::Lang),
}

/// The settings page's values; an `…_from_env` choice is decided by an environment variable
/// and the page says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsPage {
    pub download_dir: String,
    pub download_dir_from_env: bool,
    pub notifications: bool,
    pub sound: bool,
    /// "system", "en" or "zh".
    pub language: String,
    pub language_from_env: bool,
    pub receipts: bool,
    /// The server's answer has come (until then the switch waits).
    pub receipts_known: bool,
    pub ask_above_mib: String,
    pub ask_above_from_env: bool,
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
    Group(GroupShow),
    Search(SearchShow),
    Settings(SettingsShow),
}

/// Where the controller sends its changes; implemented on the window by the adapters.
pub trait Screen {
    fn show(&self, change: Show);
}
