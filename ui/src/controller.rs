//! The controller: owns what the client knows (who is online, conversations, files, transfers),
//! turns the user's actions into network [`Command`]s and the network's [`Update`]s into changes
//! on screen. Runs on the UI thread only, and knows neither Slint globals nor sockets: it talks to
//! a [`Network`] and a [`Screen`], so tests drive it with fakes of both.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;

use quicq_client::{ConnState, Event, TransferEvent, TransferKey};
use quicq_common::protocol::{Address, ChatMessage, ErrorCode, GroupInfo, UserInfo};
use slint::VecModel;

mod account;
mod groups;
mod list;
mod preferences;
mod search;

pub use list::ListState;
pub use preferences::System;

use crate::address::{self, AddressProblem};
use crate::backend::{Command, Network, SendFailure, SignInError, Update};
use crate::conversations::Activity;
use crate::drafts::Drafts;
use crate::follow::{Follow, Position};
use crate::generated::{MessageRow, TransferRow, UserRow};
use crate::i18n::Texts;
use crate::problem::Problem;
use crate::screen::{
    ComposerShow, ConversationShow, Recipient, Screen, Show, SignInShow, StatusShow, TrustShow,
};
use crate::settings::{Account, Settings};
use crate::status::Clocks;
use crate::timeline::{Placed, Timeline};
use crate::view::{self, Conv, FileStatus, History, Roster, SendStatus, Transfer};

mod life;

/// Timeline keys of messages not yet stored are this plus their local name: after every id the
/// server gives, so they stay at the bottom until their stored copy takes their place.
const PENDING: u64 = 1 << 63;

/// Told what the list shows besides its rows; see [`Controller::watch_list`].
pub type ListWatch = Box<dyn Fn(ListState)>;

/// A message sent from this window that the server has not sent back yet.
#[derive(Debug, Clone)]
struct Pending {
    conv: Conv,
    to: Address,
    text: String,
    /// The message it quotes, when it is a reply.
    reply_to: Option<u64>,
}

#[derive(Default)]
struct State {
    me: String,
    /// What the last sign-in was typed with, remembered once it works.
    form: Account,
    /// The trust prompt is the changed-certificate warning, whose only answer is to close it.
    trust_changed: bool,
    /// Past the sign-in page (a changed certificate then offers to sign out or retry).
    signed_in: bool,
    clocks: Clocks,
    roster: Roster,
    /// Each conversation's newest message, group members, mutes: the list's order and lines.
    activity: Activity,
    /// What was last told to the list's watcher (it changes only when this does).
    list_state: list::ListState,
    /// The group (by key) whose members panel is open.
    group_panel: Option<String>,
    /// The search on screen, and the conversation of each of its results.
    search: Option<(String, Vec<Conv>)>,
    selected: Option<Conv>,
    histories: HashMap<Conv, History>,
    /// The bubbles of each conversation opened so far; messages to them are added as they come.
    timelines: HashMap<Conv, Timeline>,
    /// Where the user is in the selected conversation.
    position: Position,
    /// What was typed and not sent, per conversation.
    drafts: Drafts,
    /// Messages sent from here whose copy from the server has not come yet, by local name.
    pending: HashMap<u64, Pending>,
    next_local: u64,
    /// Stored messages whose copy has not come yet: their id, then their local name.
    awaiting_copy: HashMap<u64, u64>,
    /// Which conversation and message announce each file, to redraw one bubble on progress.
    file_messages: HashMap<u64, (Conv, u64)>,
    files: HashMap<u64, FileStatus>,
    /// Previews of saved pictures by file id; `None` while being made, or if it cannot be.
    thumbnails: HashMap<u64, Option<slint::Image>>,
    /// Saved pictures whose preview is to be asked for.
    thumbnails_wanted: Vec<(u64, PathBuf)>,
    transfers: Vec<Transfer>,
    /// Replies, edits, receipts and typing ([`life`]).
    life: life::Life,
    /// The local day the day separators were made on ("Today" is this day).
    today: Option<chrono::NaiveDate>,
}

pub struct Controller {
    network: Rc<dyn Network>,
    screen: Rc<dyn Screen>,
    /// Changed by the settings page's language choice.
    texts: Cell<Texts>,
    settings_path: Option<PathBuf>,
    /// The settings page's choices and what overrides them ([`preferences`]).
    prefs: RefCell<preferences::Prefs>,
    users: Rc<VecModel<UserRow>>,
    /// Shown before any conversation is open.
    no_messages: Rc<VecModel<MessageRow>>,
    transfers: Rc<VecModel<TransferRow>>,
    /// Told the unread total and the selected row's mute when they change; watched like the
    /// list models, not a [`Show`].
    list_watch: RefCell<Option<ListWatch>>,
    /// Desktop notifications; none until the app sets one.
    notifier: RefCell<Option<Rc<dyn crate::notify::Notifier>>>,
    state: RefCell<State>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller").field("texts", &self.texts()).finish_non_exhaustive()
    }
}

impl Controller {
    /// Fills in the sign-in page from the settings at `settings_path`, if any.
    pub fn new(
        network: Rc<dyn Network>,
        screen: Rc<dyn Screen>,
        texts: Texts,
        settings_path: Option<PathBuf>,
    ) -> Controller {
        let saved = settings_path.as_deref().map(Settings::load).unwrap_or_default();
        let controller = Controller {
            network,
            screen,
            texts: Cell::new(texts),
            prefs: RefCell::new(preferences::Prefs::new(saved.clone())),
            settings_path,
            users: Rc::default(),
            no_messages: Rc::default(),
            transfers: Rc::default(),
            list_watch: RefCell::default(),
            notifier: RefCell::default(),
            state: RefCell::default(),
        };
        if controller.settings_path.is_some() {
            controller.show(Show::SignIn(SignInShow::Fill {
                server: saved.server,
                nickname: saved.nickname,
            }));
        }
        controller
    }

    /// The texts in the language on screen.
    fn texts(&self) -> Texts {
        self.texts.get()
    }

    /// The user tree's rows; the view watches this model.
    pub fn users(&self) -> Rc<VecModel<UserRow>> {
        self.users.clone()
    }

    /// The selected conversation's bubbles, oldest first. Each open conversation has its own
    /// model; [`ConversationShow::Messages`] tells the view which one to watch.
    pub fn messages(&self) -> Rc<VecModel<MessageRow>> {
        let state = self.state.borrow();
        state
            .selected
            .as_ref()
            .and_then(|conv| state.timelines.get(conv))
            .map_or_else(|| self.no_messages.clone(), Timeline::rows)
    }

    /// Running transfers.
    pub fn transfers(&self) -> Rc<VecModel<TransferRow>> {
        self.transfers.clone()
    }

    fn show(&self, change: Show) {
        self.screen.show(change);
    }

    /// A notice in the status bar; it clears itself after [`crate::status::NOTICE_SECS`].
    fn notice(&self, text: String) {
        self.state.borrow_mut().clocks.notice();
        self.show(Show::Status(StatusShow::Notice(text)));
    }

    /// One second passed (the window's timer): counts the reconnect down, ages the notice.
    pub fn tick(&self) {
        let tick = self.state.borrow_mut().clocks.tick();
        if let Some(secs) = tick.reconnect_in {
            let text = match secs {
                0 => self.texts().reconnecting_now().to_owned(),
                secs => self.texts().reconnecting(secs),
            };
            self.show(Show::Status(StatusShow::Line { connected: false, text }));
        }
        if tick.clear_notice {
            self.show(Show::Status(StatusShow::ClearNotice));
        }
        self.life_tick();
        self.ask_for_thumbnails();
        self.new_day(chrono::Local::now().date_naive());
    }

    /// The day the separators are made on, fixed the first time it is asked for.
    fn today(&self) -> chrono::NaiveDate {
        *self.state.borrow_mut().today.get_or_insert_with(|| chrono::Local::now().date_naive())
    }

    /// Past midnight: "Today" above yesterday's messages becomes "Yesterday", and so on; only
    /// the rows with a separator change.
    pub(super) fn new_day(&self, today: chrono::NaiveDate) {
        let mut state = self.state.borrow_mut();
        if state.today.replace(today).is_none_or(|before| before == today) {
            return;
        }
        let texts = self.texts();
        let State { timelines, histories, .. } = &mut *state;
        for (conv, timeline) in timelines.iter_mut() {
            let Some(history) = histories.get(conv) else { continue };
            for id in timeline.ids().to_vec() {
                let (Some(mut row), Some(m)) = (timeline.row_of(id), history.get(id)) else {
                    continue;
                };
                if row.day.is_empty() {
                    continue;
                }
                let label = view::day_label(m, &texts, today);
                if row.day != label.as_str() {
                    row.day = label.into();
                    timeline.put(id, Some(row));
                }
            }
        }
    }

    pub fn sign_in(&self, server: &str, nickname: &str, password: &str) {
        self.state.borrow_mut().form =
            Account { server: server.to_owned(), nickname: nickname.to_owned() };
        // A web address or a typo is said in words here, before the network is asked.
        if !server.trim().is_empty()
            && let Err(problem) = address::check(server)
        {
            self.show(Show::SignIn(SignInShow::Error(self.texts().address(&problem))));
            return;
        }
        self.show(Show::SignIn(SignInShow::Error(String::new())));
        self.show(Show::SignIn(SignInShow::Busy(true)));
        self.network.command(Command::SignIn {
            server: server.to_owned(),
            nickname: nickname.to_owned(),
            password: password.to_owned(),
        });
    }

    /// Stops "Connecting…": the form is free again at once; the network's answer
    /// ([`SignInError::Cancelled`]) says nothing more.
    pub fn cancel_sign_in(&self) {
        self.network.command(Command::CancelSignIn);
        self.show(Show::SignIn(SignInShow::Busy(false)));
    }

    /// Closes the session and goes back to the sign-in page, forgetting what it showed.
    pub fn sign_out(&self) {
        self.network.command(Command::SignOut);
        {
            let mut state = self.state.borrow_mut();
            let form = std::mem::take(&mut state.form);
            *state = State { form, ..State::default() };
        }
        self.users.set_vec(Vec::new());
        self.forget_list();
        // Every conversation's model went with the state; the view watches the empty one.
        self.show(Show::Conversation(ConversationShow::Messages(self.no_messages.clone().into())));
        self.transfers.set_vec(Vec::new());
        self.show(Show::Trust(TrustShow::Hidden));
        self.show(Show::SignIn(SignInShow::Busy(false)));
        self.show(Show::Status(StatusShow::ClearNotice));
        self.signed_out_of_settings();
        self.show(Show::SignedOut);
    }

    /// After the session ended (a changed certificate): the same sign-in once more.
    pub fn retry_sign_in(&self) {
        self.state.borrow_mut().trust_changed = false;
        self.show(Show::Trust(TrustShow::Hidden));
        self.show(Show::Status(StatusShow::Line {
            connected: false,
            text: self.texts().reconnecting_now().into(),
        }));
        self.network.command(Command::Retry);
    }

    /// The answer to the trust prompt. Closing the changed-certificate warning sends nothing:
    /// there is nothing to ask the network.
    pub fn trust(&self, yes: bool) {
        self.show(Show::Trust(TrustShow::Hidden));
        if std::mem::take(&mut self.state.borrow_mut().trust_changed) {
            self.show(Show::SignIn(SignInShow::Busy(false)));
            return;
        }
        self.network.command(Command::Trust(yes));
    }

    fn selected_address(&self) -> Address {
        let state = self.state.borrow();
        match state.selected.clone().unwrap_or(Conv::Everyone) {
            Conv::Everyone => Address::everyone(),
            Conv::Group(key) => {
                Address::Group(state.roster.group(&key).map_or(key, |g| g.name.clone()))
            }
            Conv::With(key) => Address::User(key),
        }
    }

    /// Sends the draft to the selected conversation. The text moves from the composer into a
    /// bubble marked "sending", so nothing is lost if the server never stores it.
    pub fn send(&self, draft: &str) {
        // Enter arrives before the newline would be inserted; a trailing one from Shift+Enter is
        // part of the message only if there is text around it.
        if crate::names::is_blank(draft) {
            return;
        }
        if self.save_edit(draft) {
            return;
        }
        let to = self.selected_address();
        let conv = self.state.borrow().selected.clone().unwrap_or(Conv::Everyone);
        let reply_to = self.take_reply(&conv);
        let local = {
            let mut state = self.state.borrow_mut();
            state.next_local += 1;
            let local = state.next_local;
            let text = draft.to_owned();
            let pending = Pending { conv: conv.clone(), to: to.clone(), text, reply_to };
            state.pending.insert(local, pending);
            local
        };
        self.show(Show::Composer(ComposerShow::ClearDraft));
        if reply_to.is_some() {
            self.show(Show::Composer(ComposerShow::Mode(String::new())));
        }
        self.edited("");
        self.typing_sent();
        self.put_pending(&conv, local, Some(SendStatus::Sending));
        self.network.command(life::send_command(to, draft.to_owned(), local, reply_to));
    }

    /// Sends a failed message again, from its bubble.
    pub fn retry(&self, local: u64) {
        let Some(pending) = self.state.borrow().pending.get(&local).cloned() else { return };
        self.put_pending(&pending.conv, local, Some(SendStatus::Sending));
        self.network.command(life::send_command(pending.to, pending.text, local, pending.reply_to));
    }

    /// Draws (or with `None` removes) the bubble of a message not yet back from the server.
    fn put_pending(&self, conv: &Conv, local: u64, status: Option<SendStatus>) {
        let placed = {
            let mut state = self.state.borrow_mut();
            let State { timelines, pending, me, .. } = &mut *state;
            let row = status
                .zip(pending.get(&local))
                .map(|(status, p)| view::pending_row(me, &p.text, status, local));
            match timelines.get_mut(conv) {
                Some(timeline) => timeline.put(PENDING + local, row),
                None => Placed::Nothing,
            }
        };
        if placed == Placed::Appended {
            self.follow(conv, true);
        }
    }

    /// A message was added at the bottom of `conv`: follow it, or count it.
    fn follow(&self, conv: &Conv, own: bool) {
        if self.state.borrow().selected.as_ref() != Some(conv) {
            return;
        }
        let follow = self.state.borrow_mut().position.added(own);
        self.show(Show::Conversation(match follow {
            Follow::ToNewest => ConversationShow::ToNewest,
            Follow::Count(n) => ConversationShow::NewBelow(n),
        }));
    }

    /// The server stored a message sent from here.
    fn sent(&self, local: u64, id: u64) {
        let Some(pending) = self.state.borrow().pending.get(&local).cloned() else { return };
        let arrived =
            self.state.borrow().histories.get(&pending.conv).is_some_and(|h| h.get(id).is_some());
        if arrived {
            self.put_pending(&pending.conv, local, None);
            self.state.borrow_mut().pending.remove(&local);
        } else {
            self.state.borrow_mut().awaiting_copy.insert(id, local);
            self.put_pending(&pending.conv, local, Some(SendStatus::Sent));
        }
    }

    /// A message sent from here was not stored: its bubble says so and offers to retry, unless
    /// the client refused it outright (too long, empty), when the text goes back to the
    /// composer to be changed.
    fn send_failed(&self, local: u64, why: &SendFailure) {
        self.notice(self.texts().not_sent(&self.texts().send_failure(why)));
        let Some(pending) = self.state.borrow().pending.get(&local).cloned() else { return };
        let refused_as_written =
            matches!(why, SendFailure::Refused(ErrorCode::TextTooLong | ErrorCode::EmptyText));
        if !refused_as_written {
            self.put_pending(&pending.conv, local, Some(SendStatus::Failed));
            return;
        }
        self.put_pending(&pending.conv, local, None);
        let selected = {
            let mut state = self.state.borrow_mut();
            state.pending.remove(&local);
            if !state.drafts.get(&pending.conv).is_empty() {
                // Something new was typed meanwhile: keep the bubble rather than overwrite it.
                state.pending.insert(local, pending.clone());
                drop(state);
                self.put_pending(&pending.conv, local, Some(SendStatus::Failed));
                return;
            }
            state.drafts.set(&pending.conv, &pending.text);
            state.selected.as_ref() == Some(&pending.conv)
        };
        if selected {
            self.show(Show::Composer(ComposerShow::Draft(pending.text)));
        }
    }

    /// The user changed the composer's text (kept as the selected conversation's draft).
    pub fn edited(&self, draft: &str) {
        {
            let mut state = self.state.borrow_mut();
            let State { selected, drafts, .. } = &mut *state;
            if let Some(conv) = selected {
                drafts.set(conv, draft);
            }
        }
        self.typed(draft);
    }

    pub fn pick_file(&self) {
        self.network.command(Command::PickFile { to: self.selected_address() });
    }

    pub fn send_typed_path(&self, path: &str) {
        let path = path.trim();
        if path.is_empty() {
            return;
        }
        self.show(Show::Composer(ComposerShow::ClearTypedPath));
        self.show(Show::Composer(ComposerShow::PathEntry(false)));
        self.network.command(Command::SendFile { to: self.selected_address(), path: path.into() });
    }

    /// The answer to a large incoming file, by its message's id in the open conversation:
    /// download it now, or leave it on the server (declined, for this run).
    pub fn answer_offer(&self, id: &str, download: bool) {
        let Ok(id) = id.parse::<u64>() else { return };
        let message = {
            let state = self.state.borrow();
            let conv = state.selected.as_ref();
            conv.and_then(|c| state.histories.get(c)).and_then(|h| h.get(id)).cloned()
        };
        let Some(message) = message else { return };
        let Some(file_id) = message.file.as_ref().map(|f| f.id) else { return };
        if download {
            self.state.borrow_mut().files.remove(&file_id);
            self.network.command(Command::Download(Box::new(message)));
        } else {
            self.state.borrow_mut().files.insert(file_id, FileStatus::Declined);
        }
        self.refresh_file(file_id);
    }

    /// A file dropped on the window (each of several comes on its own): sent to the open
    /// conversation, as if picked in the dialog. Ignored before signing in.
    pub fn dropped_file(&self, path: PathBuf) {
        if self.state.borrow().signed_in {
            self.network.command(Command::SendFile { to: self.selected_address(), path });
        }
    }

    pub fn hide_path_entry(&self) {
        self.show(Show::Composer(ComposerShow::PathEntry(false)));
    }

    /// Asks for the page before the oldest message shown, if the server has one.
    pub fn load_older(&self) {
        let mut state = self.state.borrow_mut();
        let Some(conv) = state.selected.clone() else { return };
        let Some(history) = state.histories.get_mut(&conv) else { return };
        let before = history.oldest();
        if !history.more || before.is_none() || history.asked_before == before {
            return;
        }
        history.asked_before = before;
        drop(state);
        self.network.command(Command::History { with: self.selected_address(), before });
    }

    /// Cancels the transfer with this row key; unknown keys are ignored.
    pub fn cancel(&self, key: &str) {
        match Transfer::key_from_row(key) {
            Some(TransferKey::Upload(id)) => self.network.command(Command::CancelUpload(id)),
            Some(TransferKey::Download(id)) => self.network.command(Command::CancelDownload(id)),
            None => {}
        }
    }

    /// Shows a conversation: clears its unread count and fetches its history the first time.
    pub fn select(&self, conv: Conv) {
        let (needs_history, switched) = {
            let mut state = self.state.borrow_mut();
            state.roster.clear_unread(&conv);
            let switched = state.selected.as_ref() != Some(&conv);
            state.selected = Some(conv.clone());
            let history = state.histories.entry(conv.clone()).or_default();
            (!std::mem::replace(&mut history.loaded, true), switched)
        };
        if switched {
            self.switched_to(&conv);
            self.show_composer_for(&conv);
        }
        if needs_history {
            self.network.command(Command::History { with: self.selected_address(), before: None });
        }
        self.refresh_title();
        self.refresh_users();
        self.open_timeline();
    }

    /// The composer of the conversation just opened: its draft, and whom it writes to.
    fn show_composer_for(&self, conv: &Conv) {
        let (draft, recipient) = {
            let state = self.state.borrow();
            let recipient = match conv {
                Conv::Everyone => Recipient::Everyone,
                Conv::Group(key) => Recipient::Named(format!(
                    "# {}",
                    state.roster.group(key).map_or(key.as_str(), |g| g.name.as_str())
                )),
                Conv::With(key) => {
                    Recipient::Named(state.roster.name_of(key).unwrap_or(key).to_owned())
                }
            };
            (state.drafts.get(conv).to_owned(), recipient)
        };
        self.show(Show::Composer(ComposerShow::Draft(draft)));
        self.show(Show::Composer(ComposerShow::Recipient(recipient)));
    }

    /// The view reports whether the user is at the bottom of the conversation.
    pub fn scrolled(&self, at_bottom: bool) {
        let cleared = self.state.borrow_mut().position.scrolled(at_bottom);
        if let Some(count) = cleared {
            self.show(Show::Conversation(ConversationShow::NewBelow(count)));
        }
    }

    /// The "new messages" button: to the newest message, counter cleared.
    pub fn jump_to_newest(&self) {
        self.state.borrow_mut().position.to_newest();
        self.show(Show::Conversation(ConversationShow::NewBelow(0)));
        self.show(Show::Conversation(ConversationShow::ToNewest));
    }

    /// Applies one thing the network thread reported.
    pub fn apply(&self, update: Update) {
        self.apply_one(update);
        self.ask_for_thumbnails();
    }

    fn apply_one(&self, update: Update) {
        match update {
            Update::SignedIn { me, users, groups } => self.signed_in(me, &users, &groups),
            // Cancelling already freed the form; a later sign-in may be under way.
            Update::SignInFailed(SignInError::Cancelled) => {}
            // A retry from the chat page (after a changed certificate) failed otherwise.
            Update::SignInFailed(error) if self.state.borrow().signed_in => {
                self.apply(Update::SessionEnded(error));
            }
            Update::SignInFailed(error) => {
                self.show(Show::SignIn(SignInShow::Busy(false)));
                self.show(Show::SignIn(SignInShow::Error(self.describe(&error))));
            }
            Update::TrustNew { server, fingerprint } => {
                self.state.borrow_mut().trust_changed = false;
                self.show(Show::Trust(TrustShow::New { server, fingerprint }));
            }
            Update::TrustChanged { server, expected, presented } => {
                let in_session = {
                    let mut state = self.state.borrow_mut();
                    state.trust_changed = true;
                    state.signed_in
                };
                if in_session {
                    self.link_down();
                    self.show(Show::Status(StatusShow::Offline(
                        self.texts().certificate_changed().into(),
                    )));
                }
                self.show(Show::Trust(TrustShow::Changed {
                    server,
                    expected,
                    presented,
                    in_session,
                }));
            }
            Update::SessionEnded(error) => {
                self.link_down();
                let text = self.texts().offline_because(&self.describe(&error));
                self.show(Show::Status(StatusShow::Offline(text)));
            }
            Update::Users(users) => {
                self.state.borrow_mut().roster.set_users(&users);
                self.refresh_users();
            }
            Update::Event(event) => self.event(event),
            Update::History { with, page } => self.history_page(Conv::of_address(&with), page),
            Update::UploadStarted { transfer_id, name, size } => {
                self.upsert_transfer(Transfer {
                    key: TransferKey::Upload(transfer_id),
                    name,
                    done: 0,
                    total: size,
                    bytes_per_sec: 0.0,
                });
            }
            Update::Sent { local, id } => self.sent(local, id),
            Update::SendFailed { local, why } => self.send_failed(local, &why),
            Update::FileNotSent(why) => self.notice(self.texts().file_not_sent(&why)),
            Update::NoFileChosen => {
                self.show(Show::Composer(ComposerShow::PathEntry(true)));
                self.notice(self.texts().no_dialog().into());
            }
            Update::SavedFiles(saved) => {
                self.state.borrow_mut().files =
                    saved.into_iter().map(|(id, path)| (id, FileStatus::Saved(path))).collect();
            }
            Update::CannotOpen { name, why } => self.notice(self.texts().cannot_open(&name, &why)),
            Update::Thumbnail { file_id, pixels } => {
                let image = pixels.map(slint::Image::from_rgba8);
                let shown = image.is_some();
                self.state.borrow_mut().thumbnails.insert(file_id, image);
                if shown {
                    self.refresh_file(file_id);
                }
            }
            Update::Limits { edit_window_secs, recall_window_secs } => {
                self.limits(edit_window_secs, recall_window_secs)
            }
            Update::Receipts { with, read } => self.receipts(&with, read),
            Update::ChangeFailed { change, why } => self.change_failed(change, &why),
            Update::SavedAs(result) => self.saved_as(result),
            Update::Conversations(summaries) => self.conversations(summaries),
            Update::Members { group, members } => self.members(&group, members),
            Update::GroupCreated { name } => self.group_created(&name),
            Update::GroupChanged { group, change } => self.group_changed(&group, &change),
            Update::GroupRefused(code) => self.group_refused(code),
            Update::SearchResults { text, messages, more } => {
                self.search_results(&text, &messages, more)
            }
            Update::SearchFailed { text, code } => self.search_failed(&text, code),
            Update::ReceiptsSetting(on) => self.receipts_setting(on),
            Update::ReceiptsNotChanged(why) => self.receipts_not_changed(&why),
            Update::FolderChosen(folder) => self.folder_chosen(folder),
        }
    }

    /// A saved file's Open (or, with `folder`, Show in folder) button.
    pub fn open(&self, path: &str, folder: bool) {
        self.network.command(Command::Open { path: path.into(), folder });
    }

    fn signed_in(&self, me: String, users: &[UserInfo], groups: &[GroupInfo]) {
        if let Some(path) = &self.settings_path {
            let account = self.state.borrow().form.clone();
            // The rest of the file is the settings page's, kept as it is.
            let settings = Settings {
                server: account.server.clone(),
                nickname: account.nickname.clone(),
                ..Settings::load(path)
            };
            if let Err(e) = settings.save(path) {
                tracing::warn!(cause = %e, "cannot remember the sign-in details");
            }
            self.remember_account(&account);
            self.load_mutes();
        }
        self.show(Show::SignIn(SignInShow::ClearPassword));
        self.show(Show::SignIn(SignInShow::Busy(false)));
        self.show(Show::SignedIn);
        self.show(Show::Status(StatusShow::Line {
            connected: true,
            text: self.texts().connected(&me),
        }));
        {
            let mut state = self.state.borrow_mut();
            state.me = me;
            state.signed_in = true;
            state.clocks.stop_countdown();
            state.roster.set_link(true);
            state.roster.set_users(users);
            state.roster.set_groups(groups);
            state.activity.set_topics(groups);
        }
        // Signed in again from the offline banner: the conversation on screen stays.
        let conv = self.state.borrow().selected.clone().unwrap_or(Conv::Everyone);
        self.select(conv);
    }

    fn event(&self, event: Event) {
        match event {
            Event::Message(m) => self.message(m),
            Event::Presence { user, online } => {
                self.state.borrow_mut().roster.presence(&user, online);
                self.refresh_users();
            }
            Event::State(state) => self.link(state),
            Event::Transfer(t) => self.transfer(t),
            Event::Read { by, with, up_to } => self.read_by(&by, &with, up_to),
            Event::Typing { from, with, for_ms } => self.someone_typing(&from, &with, for_ms),
        }
    }

    /// The link to the server came, went, or is given up: the status bar says which (in this
    /// module's words; the client's reason goes to the log), and the tree shows presence only
    /// while connected.
    fn link(&self, state: ConnState) {
        let change = match state {
            ConnState::Connected { you } => {
                {
                    let mut state = self.state.borrow_mut();
                    state.clocks.stop_countdown();
                    state.roster.set_link(true);
                    // A page asked for on a lost connection may never have come.
                    for history in state.histories.values_mut() {
                        history.asked_before = None;
                    }
                }
                self.connected_again();
                self.refresh_users();
                StatusShow::Line { connected: true, text: self.texts().connected(&you) }
            }
            ConnState::Reconnecting { delay, reason, attempt } => {
                tracing::info!(%reason, attempt, "reconnecting");
                self.link_down();
                let secs = self.state.borrow_mut().clocks.reconnecting(delay);
                let text = match secs {
                    0 => self.texts().reconnecting_now().to_owned(),
                    secs => self.texts().reconnecting(secs),
                };
                StatusShow::Line { connected: false, text }
            }
            ConnState::Offline { reason } => {
                tracing::info!(%reason, "offline");
                self.link_down();
                StatusShow::Offline(self.texts().offline().into())
            }
        };
        self.show(Show::Status(change));
    }

    /// Presence is stale from now on, and no countdown runs.
    fn link_down(&self) {
        {
            let mut state = self.state.borrow_mut();
            state.clocks.stop_countdown();
            state.roster.set_link(false);
        }
        self.refresh_users();
    }

    fn message(&self, m: ChatMessage) {
        let notice = self.notice_for(&m);
        let visible = {
            let mut state = self.state.borrow_mut();
            let me = state.me.clone();
            let conv = Conv::of(&m, &me);
            // A renamed group keeps its history under its new name.
            if let Some(old) = state.roster.group_message(&m, &me) {
                let old = Conv::Group(old);
                if let Some(history) = state.histories.remove(&old) {
                    state.histories.insert(conv.clone(), history);
                }
                if let Some(timeline) = state.timelines.remove(&old) {
                    state.timelines.insert(conv.clone(), timeline);
                }
                state.drafts.renamed(&old, &conv);
                if let (Conv::Group(old), Conv::Group(new)) = (&old, &conv) {
                    state.activity.renamed(old, new);
                }
                if state.selected.as_ref() == Some(&old) {
                    state.selected = Some(conv.clone());
                }
            }
            let own = quicq_common::nickname::key_of(&m.from)
                == quicq_common::nickname::key_of(&state.me);
            let visible = state.selected.as_ref() == Some(&conv);
            let m_is_news = m.event.is_none();
            let from = m.from.clone();
            let shown = m.event.as_deref().and_then(quicq_common::protocol::Event::applies_to);
            let membership = m.event.is_some() && shown.is_none();
            let shown = shown.unwrap_or(m.id);
            if let Some(file) = &m.file {
                state.file_messages.insert(file.id, (conv.clone(), m.id));
            }
            let ask_members = state.activity.noted(&conv, &m, &me, &self.texts());
            // A message seen before (a history page, then live) is not news twice.
            let group = match (&m.to, ask_members) {
                (Address::Group(name), true) => Some(name.clone()),
                _ => None,
            };
            if !state.histories.entry(conv.clone()).or_default().add(m) {
                return;
            }
            // Events are not news to count; a person's message from someone else is.
            if !visible && !own && m_is_news {
                state.roster.add_unread(conv.clone());
            }
            (visible, conv, shown, own, membership, from, group)
        };
        let (visible, conv, shown, own, membership, from, ask_members) = visible;
        self.stopped_typing(&conv, &from);
        if let Some(notice) = notice {
            self.notify(&conv, notice);
        }
        if let Some(group) = ask_members {
            self.network.command(Command::Members { group });
        }
        // The tree may have changed too (a group joined, renamed or left).
        self.refresh_users();
        let placed = self.place(&conv, shown);
        // The server's copy of a message sent from here takes the place of its bubble: known by
        // its id once stored, or (when the copy is first) by its text.
        let copy_of = {
            let mut state = self.state.borrow_mut();
            let by_id = state.awaiting_copy.remove(&shown);
            let text = own.then(|| state.histories.get(&conv)?.get(shown)).flatten();
            let text = text.map(|m| m.text.clone());
            by_id.or_else(|| {
                let text = text?;
                let same = state.pending.iter().filter(|(_, p)| p.conv == conv && p.text == text);
                same.map(|(local, _)| *local).min()
            })
        };
        if let Some(local) = copy_of {
            self.put_pending(&conv, local, None);
            self.state.borrow_mut().pending.remove(&local);
        }
        // Below bubbles still sending counts as the bottom too.
        let newest =
            || self.state.borrow().histories.get(&conv).and_then(History::newest) == Some(shown);
        if copy_of.is_none()
            && (placed == Placed::Appended || (placed == Placed::Inserted && newest()))
        {
            self.follow(&conv, own);
        }
        // An event may have renamed the group on screen.
        if visible && membership {
            self.refresh_title();
        }
    }

    /// A page of history: kept, and put into the conversation's bubbles if it is open (older
    /// messages go above, at their place).
    fn history_page(&self, conv: Conv, page: quicq_client::HistoryPage) {
        let (mut shown, first_page) = {
            let mut state = self.state.borrow_mut();
            let State { histories, file_messages, timelines, activity, me, .. } = &mut *state;
            let first_page = timelines.get(&conv).is_none_or(Timeline::is_empty);
            let history = histories.entry(conv.clone()).or_default();
            let mut shown = Vec::new();
            for m in page.messages {
                let id = m.event.as_deref().and_then(quicq_common::protocol::Event::applies_to);
                let id = id.unwrap_or(m.id);
                if let Some(file) = &m.file {
                    file_messages.insert(file.id, (conv.clone(), m.id));
                }
                activity.note(&conv, &m, me, &self.texts());
                if history.add(m) {
                    shown.push(id);
                }
            }
            history.more = page.more;
            history.loaded = true;
            (shown, first_page)
        };
        // Oldest first, so a first page is appended row by row.
        shown.sort_unstable();
        shown.dedup();
        for id in shown {
            self.place(&conv, id);
        }
        let state = self.state.borrow();
        if state.selected.as_ref() == Some(&conv) {
            let more = state.histories.get(&conv).is_some_and(|h| h.more);
            drop(state);
            self.show(Show::Conversation(ConversationShow::MoreHistory(more)));
            if first_page {
                self.show(Show::Conversation(ConversationShow::ToNewest));
            }
        }
    }

    /// Puts message `id`'s bubble, as it is now, into its conversation's timeline if that is
    /// open: O(1) for a new newest message, one row changed for an edit, recall or reaction.
    fn place(&self, conv: &Conv, id: u64) -> Placed {
        let (texts, today) = (self.texts(), self.today());
        let mut state = self.state.borrow_mut();
        let read = Self::read_up_to(&state, conv);
        let State { histories, timelines, me, files, thumbnails, thumbnails_wanted, .. } =
            &mut *state;
        let Some(timeline) = timelines.get_mut(conv) else { return Placed::Nothing };
        let history = histories.get(conv);
        let row = history.and_then(|h| h.get(id)).and_then(|m| {
            let mut row = view::message_row(m, me, files, &self.texts(), read)?;
            if let Some(file) = &m.file {
                with_thumbnail(&mut row, file, files, thumbnails, thumbnails_wanted);
            }
            Some(life::grouped(row, timeline, history, m, (&texts, today)))
        });
        let placed = timeline.put(id, row);
        if placed == Placed::Inserted {
            life::regroup_after(timeline, history, id, (&texts, today));
        }
        placed
    }

    /// Asks the network thread for the previews that bubbles placed since need.
    fn ask_for_thumbnails(&self) {
        let wanted = std::mem::take(&mut self.state.borrow_mut().thumbnails_wanted);
        for (file_id, path) in wanted {
            self.network.command(Command::Thumbnail { file_id, path });
        }
    }

    fn transfer(&self, event: TransferEvent) {
        match event {
            TransferEvent::Progress { key, name, done, total, bytes_per_sec } => {
                if let TransferKey::Download(id) = key {
                    self.state.borrow_mut().files.insert(id, FileStatus::Receiving { done, total });
                    self.refresh_file(id);
                }
                self.upsert_transfer(Transfer { key, name, done, total, bytes_per_sec });
            }
            TransferEvent::DownloadStarted { file_id, name, size, .. } => {
                self.state
                    .borrow_mut()
                    .files
                    .insert(file_id, FileStatus::Receiving { done: 0, total: size });
                self.upsert_transfer(Transfer {
                    key: TransferKey::Download(file_id),
                    name,
                    done: 0,
                    total: size,
                    bytes_per_sec: 0.0,
                });
                self.refresh_file(file_id);
            }
            TransferEvent::Saved { file_id, path } => {
                self.state.borrow_mut().files.insert(file_id, FileStatus::Saved(path));
                self.remove_transfer(&TransferKey::Download(file_id));
                self.refresh_file(file_id);
            }
            TransferEvent::DownloadFailed { file_id, reason, .. } => {
                self.state.borrow_mut().files.insert(file_id, FileStatus::Failed(reason));
                self.remove_transfer(&TransferKey::Download(file_id));
                self.refresh_file(file_id);
            }
            // Larger than one downloads by oneself: Download or Decline on its bubble.
            TransferEvent::Offered { file_id, .. } => {
                self.state.borrow_mut().files.entry(file_id).or_insert(FileStatus::Offered);
                self.refresh_file(file_id);
            }
            TransferEvent::UploadAccepted { .. } => {}
            TransferEvent::UploadComplete { transfer_id, .. } => {
                let key = TransferKey::Upload(transfer_id);
                let name = self.transfer_name(&key);
                self.remove_transfer(&key);
                self.notice(self.texts().file_sent(&name));
            }
            TransferEvent::UploadFailed { transfer_id, reason, code } => {
                tracing::info!(%reason, "upload failed");
                self.remove_transfer(&TransferKey::Upload(transfer_id));
                self.notice(self.texts().file_not_sent(&Problem::of_code(code)));
            }
            TransferEvent::Delivered { to, .. } => self.notice(self.texts().delivered(&to)),
        }
    }

    fn transfer_name(&self, key: &TransferKey) -> String {
        let state = self.state.borrow();
        state.transfers.iter().find(|t| &t.key == key).map(|t| t.name.clone()).unwrap_or_default()
    }

    fn upsert_transfer(&self, transfer: Transfer) {
        {
            let mut state = self.state.borrow_mut();
            match state.transfers.iter_mut().find(|t| t.key == transfer.key) {
                Some(existing) => *existing = transfer,
                None => state.transfers.push(transfer),
            }
        }
        self.refresh_transfers();
    }

    fn remove_transfer(&self, key: &TransferKey) {
        self.state.borrow_mut().transfers.retain(|t| &t.key != key);
        self.refresh_transfers();
    }

    fn refresh_transfers(&self) {
        let rows: Vec<_> =
            self.state.borrow().transfers.iter().map(|t| t.row(&self.texts())).collect();
        self.transfers.set_vec(rows);
    }

    fn refresh_users(&self) {
        let state = self.state.borrow();
        let selected = state.selected.clone().unwrap_or(Conv::Everyone);
        let rows = state.roster.rows(&state.me, &selected, &state.activity, &self.texts());
        drop(state);
        self.users.set_vec(rows);
        self.tell_list_state();
        self.refresh_group_panel();
    }

    fn refresh_title(&self) {
        let title = {
            let state = self.state.borrow();
            match state.selected.clone().unwrap_or(Conv::Everyone) {
                Conv::Everyone => self.texts().everyone_title(),
                Conv::Group(key) => self.texts().group_title(
                    state.roster.group(&key).map_or(key.as_str(), |g| g.name.as_str()),
                ),
                Conv::With(key) => {
                    self.texts().chat_with(state.roster.name_of(&key).unwrap_or(&key))
                }
            }
        };
        self.show(Show::Conversation(ConversationShow::Title(title)));
    }

    /// Shows the selected conversation's bubbles at its newest message; its timeline is made
    /// from what is known the first time it is opened, and kept up to date after that.
    fn open_timeline(&self) {
        let (texts, today) = (self.texts(), self.today());
        let (model, more) = {
            let mut state = self.state.borrow_mut();
            let State { selected, histories, timelines, me, files, position, life, .. } =
                &mut *state;
            let Some(conv) = selected.clone() else { return };
            *position = Position::default();
            let read = life.read.others(&conv);
            let history = histories.entry(conv.clone()).or_default();
            let timeline = timelines.entry(conv).or_insert_with(|| {
                let mut timeline = Timeline::default();
                for m in history.messages() {
                    let row = view::message_row(m, me, files, &self.texts(), read);
                    let row =
                        row.map(|r| life::grouped(r, &timeline, Some(history), m, (&texts, today)));
                    timeline.put(m.id, row);
                }
                timeline
            });
            (timeline.model(), history.more)
        };
        self.show(Show::Conversation(ConversationShow::Messages(model)));
        self.show(Show::Conversation(ConversationShow::MoreHistory(more)));
        self.show(Show::Conversation(ConversationShow::NewBelow(0)));
        self.show(Show::Conversation(ConversationShow::ToNewest));
    }

    /// Redraws the bubble of one file, if its conversation is open.
    fn refresh_file(&self, file_id: u64) {
        let found = self.state.borrow().file_messages.get(&file_id).cloned();
        if let Some((conv, id)) = found {
            self.place(&conv, id);
        }
    }

    fn describe(&self, error: &SignInError) -> String {
        let t = &self.texts();
        match error {
            SignInError::MissingFields => t.fill_in().into(),
            SignInError::BadAddress(why) => {
                tracing::info!(%why, "bad address");
                t.address(&AddressProblem::Invalid)
            }
            SignInError::WrongPassword => t.wrong_password().into(),
            SignInError::WeakPassword => t.weak_password().into(),
            SignInError::RegistrationClosed => t.registration_closed().into(),
            SignInError::InvalidNickname(why) => {
                tracing::info!(%why, "nickname refused");
                t.invalid_nickname().into()
            }
            SignInError::Unreachable(server) => t.unreachable(server),
            SignInError::WrongProtocol => t.wrong_protocol().into(),
            SignInError::Untrusted => t.untrusted().into(),
            SignInError::NotTrusted => t.not_trusted().into(),
            SignInError::Cancelled => String::new(),
            SignInError::Other(why) => {
                tracing::warn!(%why, "sign-in failed");
                t.failed().into()
            }
        }
    }
}

/// A saved picture's bubble shows its preview once made; the first bubble that needs one asks
/// for it (once per file, also when it cannot be made).
fn with_thumbnail(
    row: &mut MessageRow,
    file: &quicq_common::protocol::FileInfo,
    files: &HashMap<u64, FileStatus>,
    thumbnails: &mut HashMap<u64, Option<slint::Image>>,
    wanted: &mut Vec<(u64, PathBuf)>,
) {
    let Some(FileStatus::Saved(path)) = files.get(&file.id) else { return };
    if !crate::thumbnail::is_picture(&file.name) {
        return;
    }
    match thumbnails.get(&file.id) {
        Some(Some(image)) => {
            row.thumbnail = image.clone();
            row.has_thumbnail = true;
        }
        Some(None) => {}
        None => {
            thumbnails.insert(file.id, None);
            wanted.push((file.id, path.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use quicq_client::HistoryPage;
    use quicq_common::Fingerprint;
    use quicq_common::protocol::{FileInfo, GroupInfo};
    use slint::Model;

    use super::*;

    /// Records the commands instead of sending them.
    #[derive(Default)]
    struct FakeNetwork(RefCell<Vec<Command>>);

    impl Network for FakeNetwork {
        fn command(&self, command: Command) {
            self.0.borrow_mut().push(command);
        }
    }

    /// Records the changes instead of drawing them.
    #[derive(Default)]
    struct FakeScreen(RefCell<Vec<Show>>);

    impl Screen for FakeScreen {
        fn show(&self, change: Show) {
            self.0.borrow_mut().push(change);
        }
    }

    pub(super) struct Rig {
        pub(super) controller: Controller,
        network: Rc<FakeNetwork>,
        screen: Rc<FakeScreen>,
    }

    impl Rig {
        pub(super) fn new(settings_path: Option<PathBuf>) -> Rig {
            let network = Rc::new(FakeNetwork::default());
            let screen = Rc::new(FakeScreen::default());
            let controller =
                Controller::new(network.clone(), screen.clone(), Texts::english(), settings_path);
            Rig { controller, network, screen }
        }

        /// Signed in as alice with bob and carol known, the group selected, nothing recorded.
        pub(super) fn signed_in() -> Rig {
            let rig = Rig::new(None);
            rig.controller.apply(Update::SignedIn {
                me: "alice".into(),
                users: vec![user("alice", true), user("bob", true), user("carol", false)],
                groups: vec![],
            });
            rig.take();
            rig
        }

        /// What the controller did since the last call.
        pub(super) fn take(&self) -> (Vec<Command>, Vec<Show>) {
            (self.network.0.take(), self.screen.0.take())
        }

        fn user_rows(&self) -> Vec<(String, i32, bool)> {
            let users = self.controller.users();
            users.iter().map(|r| (r.label.to_string(), r.unread, r.selected)).collect()
        }

        fn bubbles(&self) -> Vec<String> {
            self.controller.messages().iter().map(|r| r.text.to_string()).collect()
        }
    }

    fn user(name: &str, online: bool) -> UserInfo {
        UserInfo { name: name.into(), online }
    }

    pub(super) fn msg(id: u64, from: &str, to: Address, text: &str) -> ChatMessage {
        ChatMessage {
            id,
            from: from.into(),
            to,
            text: text.into(),
            at: 0,
            file: None,
            ..Default::default()
        }
    }

    fn bob() -> Address {
        Address::User("bob".into())
    }

    fn composer(change: ComposerShow) -> Show {
        Show::Composer(change)
    }

    #[test]
    fn user_actions_become_commands_and_screen_changes() {
        type Action = fn(&Controller);
        let cases: &[(&str, Action, Vec<Command>, Vec<Show>)] = &[
            (
                "sign in locks the form",
                |c| c.sign_in("h:1", "alice", "pw"),
                vec![Command::SignIn {
                    server: "h:1".into(),
                    nickname: "alice".into(),
                    password: "pw".into(),
                }],
                vec![
                    Show::SignIn(SignInShow::Error(String::new())),
                    Show::SignIn(SignInShow::Busy(true)),
                ],
            ),
            (
                "a draft goes to the selected conversation",
                |c| c.send("hi all"),
                vec![Command::Send { to: Address::everyone(), text: "hi all".into(), local: 1 }],
                vec![
                    composer(ComposerShow::ClearDraft),
                    Show::Conversation(ConversationShow::ToNewest),
                ],
            ),
            (
                "a web address is explained, not tried",
                |c| c.sign_in("https://h:1", "alice", "pw"),
                vec![],
                vec![Show::SignIn(SignInShow::Error(
                    "A https:// address is a web address, not a QuicQ server. Enter the server \
                     as host:port (for example chat.example.org:7373) or paste a quicq:// join \
                     link."
                        .into(),
                ))],
            ),
            (
                "cancelling a sign-in frees the form at once",
                |c| c.cancel_sign_in(),
                vec![Command::CancelSignIn],
                vec![Show::SignIn(SignInShow::Busy(false))],
            ),
            (
                "retrying after a changed certificate",
                |c| c.retry_sign_in(),
                vec![Command::Retry],
                vec![
                    Show::Trust(TrustShow::Hidden),
                    Show::Status(StatusShow::Line {
                        connected: false,
                        text: "Connection lost; reconnecting now…".into(),
                    }),
                ],
            ),
            ("a blank draft is kept, not sent", |c| c.send(" \n "), vec![], vec![]),
            (
                "a trailing newline with text around it is part of the message",
                |c| c.send("two\nlines\n"),
                vec![Command::Send {
                    to: Address::everyone(),
                    text: "two\nlines\n".into(),
                    local: 1,
                }],
                vec![
                    composer(ComposerShow::ClearDraft),
                    Show::Conversation(ConversationShow::ToNewest),
                ],
            ),
            (
                "the file dialog is the network thread's job",
                |c| c.pick_file(),
                vec![Command::PickFile { to: Address::everyone() }],
                vec![],
            ),
            (
                "a typed path is trimmed and sent",
                |c| c.send_typed_path("  /tmp/a b.pdf "),
                vec![Command::SendFile { to: Address::everyone(), path: "/tmp/a b.pdf".into() }],
                vec![
                    composer(ComposerShow::ClearTypedPath),
                    composer(ComposerShow::PathEntry(false)),
                ],
            ),
            ("an empty path is ignored", |c| c.send_typed_path("  "), vec![], vec![]),
            (
                "a file dropped on the window goes to the open conversation",
                |c| c.dropped_file("/home/a/报告.pdf".into()),
                vec![Command::SendFile {
                    to: Address::everyone(),
                    path: "/home/a/报告.pdf".into(),
                }],
                vec![],
            ),
            (
                "hiding the path entry",
                |c| c.hide_path_entry(),
                vec![],
                vec![composer(ComposerShow::PathEntry(false))],
            ),
            (
                "cancel an upload",
                |c| c.cancel("u:0192-abc"),
                vec![Command::CancelUpload("0192-abc".into())],
                vec![],
            ),
            ("cancel a download", |c| c.cancel("d:7"), vec![Command::CancelDownload(7)], vec![]),
            ("an unknown row key is ignored", |c| c.cancel("x:7"), vec![], vec![]),
            (
                "no older page without the server saying there is one",
                |c| c.load_older(),
                vec![],
                vec![],
            ),
        ];
        for (name, action, commands, shows) in cases {
            let rig = Rig::signed_in();
            action(&rig.controller);
            assert_eq!(rig.take(), (commands.clone(), shows.clone()), "{name}");
        }
    }

    #[test]
    fn trust_answers_depend_on_which_prompt_is_open() {
        let fp = Fingerprint([1; 32]);
        let new = || Update::TrustNew { server: "h:1".into(), fingerprint: fp };
        let changed = || Update::TrustChanged {
            server: "h:1".into(),
            expected: Fingerprint([2; 32]),
            presented: fp,
        };
        let hidden = Show::Trust(TrustShow::Hidden);
        let cases = [
            (
                "first contact, trusted",
                new(),
                true,
                vec![Command::Trust(true)],
                vec![hidden.clone()],
            ),
            (
                "first contact, refused",
                new(),
                false,
                vec![Command::Trust(false)],
                vec![hidden.clone()],
            ),
            (
                // Closing the warning only unlocks the form: there is no way to accept.
                "changed certificate, closed",
                changed(),
                false,
                vec![],
                vec![hidden.clone(), Show::SignIn(SignInShow::Busy(false))],
            ),
            (
                "changed certificate, even a stray yes",
                changed(),
                true,
                vec![],
                vec![hidden.clone(), Show::SignIn(SignInShow::Busy(false))],
            ),
        ];
        for (name, prompt, answer, commands, shows) in cases {
            let rig = Rig::new(None);
            rig.controller.apply(prompt);
            let (_, shown) = rig.take();
            assert!(matches!(shown[..], [Show::Trust(_)]), "{name}: the prompt opens");
            rig.controller.trust(answer);
            assert_eq!(rig.take(), (commands, shows), "{name}");
        }
        // After a changed-certificate warning, a first-contact prompt asks again.
        let rig = Rig::new(None);
        rig.controller.apply(changed());
        rig.controller.trust(false);
        rig.controller.apply(new());
        rig.take();
        rig.controller.trust(true);
        assert_eq!(rig.take().0, [Command::Trust(true)]);
    }

    #[test]
    fn sign_in_failures_are_said_in_words_and_unlock_the_form() {
        let cases = [
            (SignInError::MissingFields, "Enter the server, your nickname and your password."),
            (SignInError::WrongPassword, "Wrong nickname or password."),
            (SignInError::NotTrusted, "Not connected: the server was not trusted."),
            (
                SignInError::BadAddress("no port".into()),
                "The server address is not valid. Enter the server as host:port (for example \
                 chat.example.org:7373) or paste a quicq:// join link.",
            ),
            (
                SignInError::Unreachable("h:1".into()),
                "Cannot reach the server at h:1. Check the address and your network.",
            ),
            (SignInError::Other("boom".into()), "Something went wrong; the log has the details."),
        ];
        for (error, text) in cases {
            let rig = Rig::new(None);
            rig.controller.apply(Update::SignInFailed(error.clone()));
            assert_eq!(
                rig.take(),
                (
                    vec![],
                    vec![
                        Show::SignIn(SignInShow::Busy(false)),
                        Show::SignIn(SignInShow::Error(text.into()))
                    ]
                ),
                "{error:?}"
            );
        }
    }

    #[test]
    fn signing_in_shows_the_group_and_asks_for_its_history_once() {
        let rig = Rig::new(None);
        rig.controller.apply(Update::SignedIn {
            me: "alice".into(),
            users: vec![user("alice", true), user("bob", true), user("carol", false)],
            groups: vec![],
        });
        let (commands, shows) = rig.take();
        assert_eq!(commands, [Command::History { with: Address::everyone(), before: None }]);
        assert_eq!(
            shows,
            [
                Show::SignIn(SignInShow::ClearPassword),
                Show::SignIn(SignInShow::Busy(false)),
                Show::SignedIn,
                Show::Status(StatusShow::Line {
                    connected: true,
                    text: "Connected as alice".into()
                }),
                composer(ComposerShow::Draft(String::new())),
                composer(ComposerShow::Recipient(Recipient::Everyone)),
                Show::Conversation(ConversationShow::Title("Everyone".into())),
                Show::Conversation(ConversationShow::Messages(rig.controller.messages().into())),
                Show::Conversation(ConversationShow::MoreHistory(false)),
                Show::Conversation(ConversationShow::NewBelow(0)),
                Show::Conversation(ConversationShow::ToNewest),
            ]
        );
        assert_eq!(
            rig.user_rows(),
            [
                ("Everyone (2 online)".to_owned(), 0, true),
                ("bob".to_owned(), 0, false),
                ("carol".to_owned(), 0, false)
            ]
        );
        rig.controller.select(Conv::Everyone);
        assert!(rig.take().0.is_empty(), "the group's history is asked for once");
    }

    #[test]
    fn messages_elsewhere_count_as_unread_until_selected() {
        let rig = Rig::signed_in();
        let cases = [
            // (message, shown in the group view, bob's unread count after it)
            (msg(1, "bob", Address::everyone(), "group hi"), true, 0),
            (msg(2, "bob", Address::User("alice".into()), "psst"), false, 1),
            (msg(3, "alice", bob(), "own words never count"), false, 1),
            (msg(2, "bob", Address::User("alice".into()), "psst"), false, 1),
        ];
        for (m, shown, unread) in cases {
            let text = m.text.clone();
            rig.controller.apply(Update::Event(Event::Message(m)));
            assert_eq!(rig.bubbles().contains(&text), shown, "{text}");
            assert_eq!(rig.user_rows()[1].1, unread, "{text}");
        }
        // The tree is redrawn by anything, e.g. presence: the duplicate still counts once.
        rig.controller.apply(Update::Event(Event::Presence { user: "carol".into(), online: true }));
        assert_eq!(rig.user_rows()[1].1, 1, "a duplicate is not unread twice");
        rig.take();
        rig.controller.select(Conv::With("bob".into()));
        let (commands, shows) = rig.take();
        assert_eq!(commands, [Command::History { with: bob(), before: None }]);
        assert!(
            shows.contains(&Show::Conversation(ConversationShow::Title("Chat with bob".into())))
        );
        assert_eq!(rig.user_rows()[1], ("bob".to_owned(), 0, true));
        assert_eq!(rig.bubbles(), ["psst", "own words never count"], "by id, no duplicates");
    }

    #[test]
    fn history_pages_fill_their_conversation_and_older_pages_follow() {
        let rig = Rig::signed_in();
        rig.controller.apply(Update::History {
            with: Address::everyone(),
            page: HistoryPage {
                messages: vec![
                    msg(9, "bob", Address::everyone(), "new"),
                    msg(7, "bob", Address::everyone(), "old"),
                ],
                more: true,
            },
        });
        assert_eq!(rig.bubbles(), ["old", "new"]);
        assert_eq!(
            rig.take().1,
            [
                Show::Conversation(ConversationShow::MoreHistory(true)),
                // The first page opens the conversation at its newest message.
                Show::Conversation(ConversationShow::ToNewest),
            ]
        );
        rig.controller.load_older();
        assert_eq!(rig.take().0, [Command::History { with: Address::everyone(), before: Some(7) }]);
        rig.controller.load_older();
        assert!(rig.take().0.is_empty(), "asked once per page");
        // A page for a conversation not on screen is kept for later, not shown.
        rig.controller.apply(Update::History {
            with: bob(),
            page: HistoryPage { messages: vec![msg(3, "bob", bob(), "earlier")], more: false },
        });
        assert_eq!(rig.bubbles(), ["old", "new"]);
        rig.controller.select(Conv::With("bob".into()));
        assert!(rig.take().0.is_empty(), "bob's history is already here");
        assert_eq!(rig.bubbles(), ["earlier"]);
    }

    #[test]
    fn the_first_row_of_each_day_carries_the_day_and_an_older_page_moves_it_up() {
        use chrono::{Local, TimeZone};
        let today = Local::now().date_naive();
        // Bob's message `days_ago` at noon, plus `minutes`, local time.
        let at = |id, days_ago: u64, minutes: i64, text| {
            let day = today - chrono::Days::new(days_ago);
            let noon = Local.from_local_datetime(&day.and_hms_opt(12, 0, 0).unwrap());
            let mut m = msg(id, "bob", Address::everyone(), text);
            m.at = noon.earliest().unwrap().timestamp_millis() + minutes * 60_000;
            m
        };
        let label = |days_ago| Texts::english().day(today - chrono::Days::new(days_ago), today);
        let rig = Rig::signed_in();
        let page = |messages| Update::History {
            with: Address::everyone(),
            page: HistoryPage { messages, more: true },
        };
        let days = || -> Vec<(String, String)> {
            let rows = rig.controller.messages();
            rows.iter().map(|r| (r.day.to_string(), r.text.to_string())).collect()
        };
        let row = |day: &str, text: &str| (day.to_owned(), text.to_owned());
        rig.controller.apply(page(vec![
            at(12, 0, 0, "today"),
            at(11, 2, 1, "a minute later"),
            at(10, 2, 0, "two days ago"),
        ]));
        assert_eq!(
            days(),
            [row(&label(2), "two days ago"), row("", "a minute later"), row("Today", "today")]
        );
        // A new message of today: no separator, one row appended.
        rig.controller.apply(Update::Event(Event::Message(at(13, 0, 1, "still today"))));
        assert_eq!(days()[3], row("", "still today"));
        // An older page of the same day: the separator moves up to its first row; the row that
        // had it changes, nothing else is redrawn.
        let ops = || rig.controller.state.borrow().timelines[&Conv::Everyone].operations();
        let before = ops();
        rig.controller.apply(page(vec![at(9, 2, -5, "earlier that day"), at(8, 3, 0, "before")]));
        assert_eq!(
            days(),
            [
                row(&label(3), "before"),
                row(&label(2), "earlier that day"),
                row("", "two days ago"),
                row("", "a minute later"),
                row("Today", "today"),
                row("", "still today"),
            ]
        );
        let after = ops();
        assert_eq!((after.inserted - before.inserted, after.changed - before.changed), (2, 1));
        assert_eq!(after.appended, before.appended);

        // Past midnight the separators say what the days are now; no row is added or removed.
        let tomorrow = today + chrono::Days::new(1);
        rig.controller.new_day(tomorrow);
        let seen_tomorrow =
            |days_ago| Texts::english().day(today - chrono::Days::new(days_ago), tomorrow);
        let separators: Vec<String> = days().into_iter().map(|(day, _)| day).collect();
        assert_eq!(
            separators,
            [
                seen_tomorrow(3),
                seen_tomorrow(2),
                String::new(),
                String::new(),
                "Yesterday".into(),
                String::new()
            ]
        );
        let later = ops();
        assert_eq!(
            (later.appended, later.inserted, later.removed),
            (after.appended, after.inserted, after.removed)
        );
    }

    fn edit(id: u64, target: u64, text: &str) -> ChatMessage {
        ChatMessage {
            event: Some(Box::new(quicq_common::protocol::Event::Edited {
                id: target,
                text: text.into(),
            })),
            ..msg(id, "bob", Address::everyone(), "")
        }
    }

    #[test]
    fn a_message_costs_one_row_not_a_rebuild_of_the_conversation() {
        use crate::timeline::Operations;
        let rig = Rig::signed_in();
        let everyone = |id, text: &str| msg(id, "bob", Address::everyone(), text);
        let page = (1..=1000).rev().map(|id| everyone(id * 2, "old")).collect();
        rig.controller.apply(Update::History {
            with: Address::everyone(),
            page: HistoryPage { messages: page, more: true },
        });
        let model = rig.controller.messages();
        let ops = || rig.controller.state.borrow().timelines[&Conv::Everyone].operations();
        assert_eq!(ops(), Operations { appended: 1000, ..Operations::default() });
        rig.take();
        let cases: Vec<(ChatMessage, Operations, Vec<Show>)> = vec![
            (
                everyone(3001, "new"),
                Operations { appended: 1001, ..Operations::default() },
                vec![Show::Conversation(ConversationShow::ToNewest)],
            ),
            (
                edit(3002, 2000, "fixed"),
                Operations { appended: 1001, changed: 1, ..Operations::default() },
                vec![],
            ),
            (
                // Live, out of order: an older id goes to its place.
                everyone(2999, "late"),
                Operations { appended: 1001, changed: 1, inserted: 1, ..Operations::default() },
                vec![],
            ),
        ];
        for (m, after, shows) in cases {
            let what = format!("{m:?}");
            rig.controller.apply(Update::Event(Event::Message(m)));
            assert_eq!(ops(), after, "{what}");
            assert_eq!(rig.take().1, shows, "{what}");
        }
        assert!(Rc::ptr_eq(&model, &rig.controller.messages()), "the same model throughout");
        let bubbles = rig.bubbles();
        assert_eq!(bubbles.len(), 1002);
        assert_eq!(bubbles[999..], ["fixed (edited)", "late", "new"]);
    }

    #[test]
    fn new_messages_below_the_view_are_counted_until_the_bottom_is_reached() {
        let rig = Rig::signed_in();
        let from = |id, who: &str| msg(id, who, Address::everyone(), "hi");
        let new_below = |n| Show::Conversation(ConversationShow::NewBelow(n));
        let to_newest = Show::Conversation(ConversationShow::ToNewest);
        rig.controller.scrolled(false);
        let cases: Vec<(ChatMessage, Vec<Show>)> = vec![
            (from(1, "bob"), vec![new_below(1)]),
            (from(2, "carol"), vec![new_below(2)]),
            // One's own message is shown however far up one was.
            (from(3, "alice"), vec![to_newest.clone()]),
            (from(4, "bob"), vec![to_newest.clone()]),
        ];
        for (m, shows) in cases {
            let what = format!("{m:?}");
            rig.controller.apply(Update::Event(Event::Message(m)));
            assert_eq!(rig.take().1, shows, "{what}");
        }
        rig.controller.scrolled(false);
        rig.controller.apply(Update::Event(Event::Message(from(5, "bob"))));
        rig.take();
        rig.controller.scrolled(true);
        assert_eq!(rig.take().1, [new_below(0)], "reaching the bottom clears the count");
        rig.controller.scrolled(false);
        rig.controller.apply(Update::Event(Event::Message(from(6, "bob"))));
        rig.take();
        rig.controller.jump_to_newest();
        assert_eq!(rig.take().1, [new_below(0), to_newest.clone()], "the button jumps");
        // Another conversation's messages never move this one.
        rig.controller.scrolled(false);
        rig.controller.apply(Update::Event(Event::Message(msg(
            7,
            "bob",
            Address::User("alice".into()),
            "psst",
        ))));
        assert!(rig.take().1.is_empty());
    }

    #[test]
    fn each_conversation_keeps_its_draft_and_the_composer_names_the_recipient() {
        let rig = Rig::signed_in();
        rig.controller.apply(Update::SignedIn {
            me: "alice".into(),
            users: vec![user("alice", true), user("Bob", true)],
            groups: vec![GroupInfo { name: "Rust".into(), ..Default::default() }],
        });
        rig.take();
        let drafts = |shows: Vec<Show>| {
            shows.into_iter().filter(|s| matches!(s, Show::Composer(_))).collect::<Vec<_>>()
        };
        let named = |n: &str| composer(ComposerShow::Recipient(Recipient::Named(n.into())));
        let everyone = composer(ComposerShow::Recipient(Recipient::Everyone));
        let draft = |t: &str| composer(ComposerShow::Draft(t.into()));
        type Step = fn(&Controller);
        let steps: &[(&str, Step, Vec<Show>)] = &[
            ("typed in the group", |c| c.edited("for all"), vec![]),
            ("to bob", |c| c.select(Conv::With("bob".into())), vec![draft(""), named("Bob")]),
            ("typed to bob", |c| c.edited("for bob"), vec![]),
            (
                "to the group",
                |c| c.select(Conv::Everyone),
                vec![draft("for all"), everyone.clone()],
            ),
            (
                "to a named group",
                |c| c.select(Conv::Group("rust".into())),
                vec![draft(""), named("# Rust")],
            ),
            (
                "back to bob",
                |c| c.select(Conv::With("bob".into())),
                vec![draft("for bob"), named("Bob")],
            ),
            ("bob again changes nothing", |c| c.select(Conv::With("bob".into())), vec![]),
            ("sent", |c| c.send("for bob"), vec![composer(ComposerShow::ClearDraft)]),
            ("to the group", |c| c.select(Conv::Everyone), vec![draft("for all"), everyone]),
            (
                "back to bob: sent is gone",
                |c| c.select(Conv::With("bob".into())),
                vec![draft(""), named("Bob")],
            ),
        ];
        for (name, step, shows) in steps {
            step(&rig.controller);
            assert_eq!(drafts(rig.take().1), *shows, "{name}");
        }
    }

    #[test]
    fn a_message_sent_shows_sending_then_gives_way_to_the_stored_one_or_waits_to_be_retried() {
        let rig = Rig::signed_in();
        let statuses = || {
            rig.controller
                .messages()
                .iter()
                .map(|r| format!("{}:{}", r.text, r.status))
                .collect::<Vec<_>>()
        };
        rig.controller.send("one");
        rig.controller.send("two");
        assert_eq!(statuses(), ["one:sending", "two:sending"]);
        // Stored before its copy comes: "sent"; the copy takes its place.
        rig.controller.apply(Update::Sent { local: 1, id: 10 });
        assert_eq!(statuses(), ["one:sent", "two:sending"]);
        let own = |id, text: &str| {
            Update::Event(Event::Message(msg(id, "alice", Address::everyone(), text)))
        };
        rig.controller.apply(own(10, "one"));
        assert_eq!(statuses(), ["one:", "two:sending"]);
        // A message from someone else goes above what is still sending.
        rig.controller.apply(Update::Event(Event::Message(msg(
            11,
            "bob",
            Address::everyone(),
            "hi",
        ))));
        assert_eq!(statuses(), ["one:", "hi:", "two:sending"]);
        // The copy before the answer: the bubble goes when the answer comes.
        rig.controller.apply(own(12, "two"));
        rig.controller.apply(Update::Sent { local: 2, id: 12 });
        assert_eq!(statuses(), ["one:", "hi:", "two:"]);
        rig.take();

        // Failed: kept, marked, said in words; Retry sends the same text again.
        rig.controller.send("three");
        rig.take();
        rig.controller.apply(Update::SendFailed { local: 3, why: SendFailure::Offline });
        assert_eq!(statuses()[3], "three:failed");
        assert_eq!(
            rig.take().1,
            [Show::Status(StatusShow::Notice("Message not sent: not connected".into()))]
        );
        rig.controller.retry(3);
        assert_eq!(statuses()[3], "three:sending");
        assert_eq!(
            rig.take().0,
            [Command::Send { to: Address::everyone(), text: "three".into(), local: 3 }]
        );

        // Refused as written (too long): the text goes back to the composer to be changed.
        rig.controller.send("far too long");
        rig.take();
        let too_long = SendFailure::Refused(quicq_common::protocol::ErrorCode::TextTooLong);
        rig.controller.apply(Update::SendFailed { local: 4, why: too_long });
        assert_eq!(statuses().len(), 4, "no bubble for it");
        assert!(rig.take().1.contains(&composer(ComposerShow::Draft("far too long".into()))));
    }

    #[test]
    fn connection_states_reach_the_status_bar() {
        let cases = [
            (ConnState::Connected { you: "alice".into() }, true, "Connected as alice"),
            (
                ConnState::Reconnecting {
                    attempt: 2,
                    delay: Duration::from_millis(1500),
                    reason: "lost".into(),
                },
                false,
                "Connection lost; reconnecting in 2 s…",
            ),
        ];
        for (state, connected, text) in cases {
            let rig = Rig::signed_in();
            rig.controller.apply(Update::Event(Event::State(state)));
            assert_eq!(
                rig.take().1,
                [Show::Status(StatusShow::Line { connected, text: text.into() })]
            );
        }
        // Given up: the client's English reason stays in the log.
        let rig = Rig::signed_in();
        rig.controller
            .apply(Update::Event(Event::State(ConnState::Offline { reason: "closed".into() })));
        assert_eq!(rig.take().1, [Show::Status(StatusShow::Offline("Offline".into()))]);
    }

    #[test]
    fn a_lost_link_greys_the_tree_and_counts_down_each_second() {
        let rig = Rig::signed_in();
        let line =
            |text: &str| Show::Status(StatusShow::Line { connected: false, text: text.into() });
        let reconnecting = |ms| {
            Update::Event(Event::State(ConnState::Reconnecting {
                attempt: 1,
                delay: Duration::from_millis(ms),
                reason: "the server stopped answering".into(),
            }))
        };
        rig.controller.apply(reconnecting(2200));
        assert_eq!(rig.take().1, [line("Connection lost; reconnecting in 3 s…")]);
        assert_eq!(rig.user_rows()[0].0, "Everyone (offline)");
        assert!(rig.controller.users().iter().all(|r| !r.online), "nobody is shown online");
        let cases = [
            vec![line("Connection lost; reconnecting in 2 s…")],
            vec![line("Connection lost; reconnecting in 1 s…")],
            vec![line("Connection lost; reconnecting now…")],
            vec![],
        ];
        for shows in cases {
            rig.controller.tick();
            assert_eq!(rig.take().1, shows);
        }
        rig.controller
            .apply(Update::Event(Event::State(ConnState::Connected { you: "alice".into() })));
        assert_eq!(rig.user_rows()[0].0, "Everyone (2 online)");
        rig.take();
        rig.controller.tick();
        assert_eq!(rig.take().1, [], "no countdown once connected");

        // A notice clears itself.
        rig.controller.apply(Update::FileNotSent(Problem::CannotRead));
        rig.take();
        for _ in 1..crate::status::NOTICE_SECS {
            rig.controller.tick();
        }
        assert_eq!(rig.take().1, []);
        rig.controller.tick();
        assert_eq!(rig.take().1, [Show::Status(StatusShow::ClearNotice)]);
    }

    #[test]
    fn a_certificate_change_in_session_is_the_blocking_warning_with_a_way_out() {
        let rig = Rig::signed_in();
        let (expected, presented) = (Fingerprint([2; 32]), Fingerprint([1; 32]));
        rig.controller.apply(Update::Event(Event::State(ConnState::Offline {
            reason: "WARNING: THE CERTIFICATE OF h:1 HAS CHANGED! …".into(),
        })));
        rig.controller.apply(Update::TrustChanged { server: "h:1".into(), expected, presented });
        let (_, shows) = rig.take();
        assert_eq!(
            shows,
            [
                Show::Status(StatusShow::Offline("Offline".into())),
                Show::Status(StatusShow::Offline(
                    "Offline: the server's certificate has changed".into()
                )),
                Show::Trust(TrustShow::Changed {
                    server: "h:1".into(),
                    expected,
                    presented,
                    in_session: true,
                }),
            ]
        );
        rig.controller.sign_out();
        let (commands, shows) = rig.take();
        assert_eq!(commands, [Command::SignOut]);
        assert!(
            shows.contains(&Show::SignedOut) && shows.contains(&Show::Trust(TrustShow::Hidden))
        );
        assert!(rig.user_rows().is_empty() && rig.bubbles().is_empty(), "nothing left behind");
        // Another reason to end the session is said in words too, also when a retry fails.
        for update in [
            Update::SessionEnded(SignInError::WrongPassword),
            Update::SignInFailed(SignInError::WrongPassword),
        ] {
            let rig = Rig::signed_in();
            rig.controller.apply(update);
            assert_eq!(
                rig.take().1,
                [Show::Status(StatusShow::Offline("Offline: Wrong nickname or password.".into()))]
            );
        }
    }

    #[test]
    fn files_saved_in_an_earlier_run_show_as_saved_and_open_through_the_network() {
        let rig = Rig::signed_in();
        rig.controller.apply(Update::SavedFiles([(5, "/dl/b.zip".into())].into()));
        for (id, file_id) in [(4, 5), (6, 7)] {
            let mut file = msg(id, "bob", Address::everyone(), "");
            file.file = Some(FileInfo {
                id: file_id,
                name: "b.zip".into(),
                size: 100,
                blake3: String::new(),
                transfer_id: String::new(),
            });
            rig.controller.apply(Update::Event(Event::Message(file)));
        }
        let bubbles = rig.controller.messages();
        let state = |i| {
            let b = bubbles.row_data(i).unwrap();
            (b.file_state.to_string(), b.file_path.to_string())
        };
        assert_eq!(state(0), ("saved".to_owned(), "/dl/b.zip".to_owned()));
        assert_eq!(state(1).1, "", "a file not in the record is not shown as saved");
        rig.take();
        rig.controller.open("/dl/b.zip", true);
        assert_eq!(rig.take().0, [Command::Open { path: "/dl/b.zip".into(), folder: true }]);
    }

    #[test]
    fn transfers_come_and_go_with_their_events() {
        let rig = Rig::signed_in();
        let transfers = rig.controller.transfers();
        let names = || transfers.iter().map(|r| r.name.to_string()).collect::<Vec<_>>();
        let notice = |text: &str| Show::Status(StatusShow::Notice(text.into()));

        rig.controller.apply(Update::UploadStarted {
            transfer_id: "t1".into(),
            name: "a.pdf".into(),
            size: 10,
        });
        let mut file = msg(4, "bob", Address::everyone(), "");
        file.file = Some(FileInfo {
            id: 5,
            name: "b.zip".into(),
            size: 100,
            blake3: String::new(),
            transfer_id: String::new(),
        });
        rig.controller.apply(Update::Event(Event::Message(file)));
        rig.controller.apply(Update::Event(Event::Transfer(TransferEvent::Progress {
            key: TransferKey::Download(5),
            name: "b.zip".into(),
            done: 40,
            total: 100,
            bytes_per_sec: 0.0,
        })));
        assert_eq!(names(), ["a.pdf", "b.zip"]);
        let bubble = rig.controller.messages().row_data(0).unwrap();
        assert_eq!(bubble.file_state.as_str(), "receiving 40 %");
        rig.take();

        let cases = [
            (
                TransferEvent::UploadComplete {
                    transfer_id: "t1".into(),
                    file_id: 6,
                    offline: vec![],
                },
                vec!["b.zip"],
                vec![notice("Sent a.pdf")],
            ),
            (
                TransferEvent::Delivered { file_id: 6, to: "bob".into() },
                vec!["b.zip"],
                vec![notice("bob saved your file")],
            ),
            (TransferEvent::Saved { file_id: 5, path: "/dl/b.zip".into() }, vec![], vec![]),
        ];
        for (event, left, shows) in cases {
            let what = format!("{event:?}");
            rig.controller.apply(Update::Event(Event::Transfer(event)));
            assert_eq!(names(), left, "{what}");
            assert_eq!(rig.take().1, shows, "{what}");
        }
        let bubble = rig.controller.messages().row_data(0).unwrap();
        assert_eq!((bubble.file_state.as_str(), bubble.file_path.as_str()), ("saved", "/dl/b.zip"));
    }

    #[test]
    fn failures_to_send_become_notices() {
        let cases = [
            (
                Update::SendFailed {
                    local: 9,
                    why: SendFailure::Refused(quicq_common::protocol::ErrorCode::RateLimited),
                },
                vec!["Message not sent: too many messages at once"],
            ),
            (
                Update::FileNotSent(Problem::NoSuchFile),
                vec!["File not sent: there is no such file"],
            ),
            (
                Update::CannotOpen { name: "a.pdf".into(), why: Problem::NoOpener },
                vec!["Cannot open a.pdf: no program is set up to open it"],
            ),
        ];
        for (update, notices) in cases {
            let rig = Rig::signed_in();
            rig.controller.apply(update);
            let expected: Vec<Show> =
                notices.into_iter().map(|n| Show::Status(StatusShow::Notice(n.into()))).collect();
            assert_eq!(rig.take().1, expected);
        }
        // No file dialog: offer the typed path.
        let rig = Rig::signed_in();
        rig.controller.apply(Update::NoFileChosen);
        assert_eq!(
            rig.take().1,
            [
                composer(ComposerShow::PathEntry(true)),
                Show::Status(StatusShow::Notice(
                    "No file chosen; you can type a path instead.".into()
                ))
            ]
        );
    }

    #[test]
    fn sign_in_details_but_never_the_password_are_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ui.json");
        Settings { server: "old:1".into(), nickname: "al".into(), ..Settings::default() }
            .save(&path)
            .unwrap();
        let rig = Rig::new(Some(path.clone()));
        assert_eq!(
            rig.take().1,
            [Show::SignIn(SignInShow::Fill { server: "old:1".into(), nickname: "al".into() })]
        );
        rig.controller.sign_in("new:2", "alice", "secret pw");
        assert_eq!(Settings::load(&path).server, "old:1", "not before it worked");
        rig.controller.apply(Update::SignedIn {
            me: "alice".into(),
            users: vec![],
            groups: vec![],
        });
        assert_eq!(
            Settings::load(&path),
            Settings { server: "new:2".into(), nickname: "alice".into(), ..Settings::default() }
        );
        assert!(!std::fs::read_to_string(&path).unwrap().contains("secret"));
    }

    #[test]
    fn the_list_takes_the_servers_conversations_and_counts_what_is_unread() {
        use quicq_common::protocol::{Conversation, MemberInfo, Role};

        use crate::backend::Summary;
        let rig = Rig::signed_in();
        let totals = Rc::new(RefCell::new(Vec::new()));
        let seen = totals.clone();
        rig.controller.watch_list(Box::new(move |n| seen.borrow_mut().push(n.unread)));
        let summary = |with: Address, last_id, unread, newest: Vec<ChatMessage>| Summary {
            conversation: Conversation { with, last_id, read_up_to: 0, unread },
            newest,
        };
        rig.controller.apply(Update::Conversations(vec![
            summary(Address::User("carol".into()), 8, 2, vec![msg(8, "carol", bob(), "latest")]),
            summary(Address::everyone(), 6, 4, vec![]),
            summary(bob(), 5, 1, vec![msg(5, "alice", bob(), "mine")]),
        ]));
        let rows = || {
            let users = rig.controller.users();
            users
                .iter()
                .map(|r| (r.label.to_string(), r.preview.to_string(), r.unread))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            rows(),
            [
                ("Everyone (2 online)".to_owned(), String::new(), 0),
                ("carol".to_owned(), "carol: latest".to_owned(), 2),
                ("bob".to_owned(), "You: mine".to_owned(), 1),
            ],
            "the open conversation is being read; the others keep the server's counts"
        );
        assert_eq!(*totals.borrow(), [3]);
        rig.controller.select(Conv::With("carol".into()));
        rig.controller.apply(Update::Event(Event::Message(msg(
            9,
            "carol",
            Address::User("alice".into()),
            "new",
        ))));
        rig.take();
        assert_eq!(*totals.borrow(), [3, 1]);
        assert_eq!(rows()[1].0, "carol", "the newest message first");
        assert_eq!(rows()[1].1, "carol: new");

        // A group one is added to: its members are asked for, then counted online.
        let mut added = msg(10, "bob", Address::Group("Rust".into()), "");
        added.event = Some(Box::new(quicq_common::protocol::Event::Added { user: "alice".into() }));
        rig.controller.apply(Update::Event(Event::Message(added)));
        assert_eq!(rig.take().0, [Command::Members { group: "Rust".into() }]);
        let member =
            |name: &str| MemberInfo { name: name.into(), role: Role::Member, online: true };
        rig.controller.apply(Update::Members {
            group: "Rust".into(),
            members: vec![member("alice"), member("bob"), member("carol")],
        });
        let rust = rig.controller.users().row_data(1).unwrap();
        assert_eq!((rust.label.as_str(), rust.detail.as_str()), ("# Rust", "2 online"));
        rig.controller.sign_out();
        assert_eq!(totals.borrow().last(), Some(&0), "nothing unread once signed out");
    }

    #[test]
    fn switching_account_offers_the_other_remembered_one_or_an_empty_form() {
        let dir = tempfile::tempdir().unwrap();
        let rig = Rig::new(Some(dir.path().join("ui.json")));
        for nick in ["bob", "alice"] {
            rig.controller.sign_in("h:1", nick, "pw");
            rig.controller.apply(Update::SignedIn {
                me: nick.into(),
                users: vec![],
                groups: vec![],
            });
        }
        rig.take();
        let fill = |server: &str, nickname: &str| {
            Show::SignIn(SignInShow::Fill { server: server.into(), nickname: nickname.into() })
        };
        rig.controller.switch_account();
        let (commands, shows) = rig.take();
        assert_eq!(commands, [Command::SignOut]);
        assert!(
            shows.contains(&Show::SignedOut) && shows.contains(&fill("h:1", "bob")),
            "{shows:?}"
        );
        assert!(shows.contains(&Show::SignIn(SignInShow::ClearPassword)));

        // Nothing remembered: an empty form.
        let rig = Rig::signed_in();
        rig.controller.switch_account();
        assert!(rig.take().1.contains(&fill("", "")));

        // Reconnect now: the same sign-in again, at once; the conversation on screen stays.
        let rig = Rig::signed_in();
        rig.controller.select(Conv::With("bob".into()));
        rig.take();
        rig.controller.reconnect_now();
        assert_eq!(rig.take().0, [Command::Retry]);
        rig.controller.apply(Update::SignedIn {
            me: "alice".into(),
            users: vec![user("alice", true), user("bob", true)],
            groups: vec![],
        });
        let (_, shows) = rig.take();
        assert!(
            shows.contains(&Show::Conversation(ConversationShow::Title("Chat with bob".into())))
        );
    }

    /// Records notifications; the window's focus is whatever the test says.
    #[derive(Default)]
    struct FakeNotifier {
        focused: std::cell::Cell<bool>,
        shown: RefCell<Vec<crate::notify::Notice>>,
    }

    impl crate::notify::Notifier for FakeNotifier {
        fn focused(&self) -> bool {
            self.focused.get()
        }

        fn notify(&self, notice: crate::notify::Notice) {
            self.shown.borrow_mut().push(notice);
        }
    }

    #[test]
    fn news_from_others_is_notified_while_away_unless_muted() {
        use crate::notify::Notice;
        let rig = Rig::signed_in();
        let notifier = Rc::new(FakeNotifier::default());
        rig.controller.set_notifier(notifier.clone());
        let states = Rc::new(RefCell::new(Vec::new()));
        let seen = states.clone();
        rig.controller.watch_list(Box::new(move |s| seen.borrow_mut().push(s)));
        let to_alice = || Address::User("alice".into());
        let notice = |title: &str, body: &str| Notice { title: title.into(), body: body.into() };
        let mut recalled = msg(5, "bob", to_alice(), "");
        recalled.event = Some(Box::new(quicq_common::protocol::Event::Recalled { id: 1 }));
        type Step = Box<dyn Fn(&Controller)>;
        let message = |m: ChatMessage| -> Step {
            Box::new(move |c: &Controller| c.apply(Update::Event(Event::Message(m.clone()))))
        };
        let steps: Vec<(&str, bool, Step, Vec<Notice>)> = vec![
            (
                "from bob, away",
                false,
                message(msg(1, "bob", to_alice(), "hi")),
                vec![notice("bob", "bob: hi")],
            ),
            ("the same again", false, message(msg(1, "bob", to_alice(), "hi")), vec![]),
            ("focused", true, message(msg(2, "bob", to_alice(), "there")), vec![]),
            ("own", false, message(msg(3, "alice", bob(), "mine")), vec![]),
            (
                "in the group",
                false,
                message(msg(4, "carol", Address::everyone(), "all")),
                vec![notice("Everyone", "carol: all")],
            ),
            ("an event", false, message(recalled), vec![]),
            (
                "muted",
                false,
                Box::new(|c: &Controller| {
                    c.select(Conv::With("bob".into()));
                    c.toggle_mute();
                    c.select(Conv::Everyone);
                }),
                vec![],
            ),
            ("from bob, muted", false, message(msg(6, "bob", to_alice(), "shh")), vec![]),
        ];
        for (name, focused, step, want) in steps {
            notifier.focused.set(focused);
            step(&rig.controller);
            assert_eq!(notifier.shown.take(), want, "{name}");
        }
        let bob_row = rig.controller.users().iter().find(|r| r.key == "bob").unwrap();
        assert_eq!((bob_row.unread, bob_row.muted), (1, true), "the badge still counts, muted");
        let last = *states.borrow().last().unwrap();
        assert_eq!(
            last,
            ListState { unread: 0, selected_muted: false, ..Default::default() },
            "not in the total"
        );
        rig.controller.select(Conv::With("bob".into()));
        assert_eq!(
            *states.borrow().last().unwrap(),
            ListState { unread: 0, selected_muted: true, ..Default::default() }
        );
        rig.controller.toggle_mute();
        assert_eq!(
            *states.borrow().last().unwrap(),
            ListState { unread: 0, selected_muted: false, ..Default::default() }
        );
    }

    #[test]
    fn groups_are_created_and_changed_through_the_panel_and_refusals_are_words() {
        use quicq_common::protocol::{ErrorCode, GroupChange, MemberInfo, Role};

        use crate::screen::GroupShow;
        let rig = Rig::signed_in();
        let group = |g: GroupShow| Show::Group(g);
        let cleared = group(GroupShow::Error(String::new()));
        rig.controller.open_new_group();
        assert_eq!(rig.take().1, [cleared.clone(), group(GroupShow::Create)]);
        rig.controller.create_group(" Rust ", "bob, carol bob");
        assert_eq!(
            rig.take().0,
            [Command::CreateGroup {
                name: "Rust".into(),
                members: vec!["bob".into(), "carol".into()]
            }]
        );
        let refusals = [
            (Some(ErrorCode::InvalidGroupName), "That cannot be a group name."),
            (Some(ErrorCode::NameTaken), "That name is taken"),
            (Some(ErrorCode::NotAllowed), "Your role in the group does not allow that."),
            (None, "Not connected."),
        ];
        for (code, words) in refusals {
            rig.controller.apply(Update::GroupRefused(code));
            let shows = rig.take().1;
            assert!(
                matches!(&shows[..], [Show::Group(GroupShow::Error(e))] if e.starts_with(words)),
                "{code:?}: {shows:?}"
            );
        }
        rig.controller.apply(Update::GroupCreated { name: "Rust".into() });
        let shows = rig.take().1;
        assert!(shows.contains(&group(GroupShow::Closed)));
        assert!(shows.contains(&Show::Conversation(ConversationShow::Title("Group Rust".into()))));

        // The panel: roles, presence, what one may do.
        rig.controller.open_group_panel();
        assert_eq!(rig.take().0, [Command::Members { group: "Rust".into() }], "asked afresh");
        let member = |name: &str, role| MemberInfo { name: name.into(), role, online: true };
        rig.controller.apply(Update::Members {
            group: "Rust".into(),
            members: vec![
                member("carol", Role::Admin),
                member("alice", Role::Owner),
                member("bob", Role::Member),
            ],
        });
        let panel = rig.take().1.into_iter().rev().find_map(|s| match s {
            Show::Group(GroupShow::Members { can_manage, members, .. }) => {
                Some((can_manage, members))
            }
            _ => None,
        });
        let (can_manage, rows) = panel.unwrap();
        assert!(can_manage);
        let rows: Vec<_> = rows
            .iter()
            .map(|r| (r.name.to_string(), r.role.to_string(), r.online, r.can_remove))
            .collect();
        assert_eq!(
            rows,
            [
                ("alice".to_owned(), "owner".to_owned(), true, false),
                ("carol".to_owned(), "admin".to_owned(), false, true),
                ("bob".to_owned(), "member".to_owned(), true, true),
            ],
            "owner first; carol is offline in the roster; nobody removes themselves"
        );
        rig.controller.change_group(GroupChange::Add { user: "  ".into() });
        assert!(rig.take().0.is_empty(), "nothing typed, nothing asked");
        rig.controller.change_group(GroupChange::Add { user: " dan ".into() });
        assert_eq!(
            rig.take().0,
            [Command::ChangeGroup {
                group: "Rust".into(),
                change: GroupChange::Add { user: "dan".into() }
            }]
        );
        rig.controller
            .apply(Update::GroupChanged { group: "Rust".into(), change: GroupChange::Leave {} });
        let shows = rig.take().1;
        assert!(shows.contains(&group(GroupShow::Closed)));
        assert!(shows.contains(&Show::Conversation(ConversationShow::Title("Everyone".into()))));
    }

    #[test]
    fn search_asks_the_server_shows_the_current_answer_and_opens_a_result() {
        use crate::screen::SearchShow;
        let rig = Rig::signed_in();
        let results = |shows: Vec<Show>| {
            shows.into_iter().find_map(|s| match s {
                Show::Search(SearchShow::Results { rows, status }) => Some((
                    rows.iter()
                        .map(|r| format!("{}|{}|{}", r.conversation, r.sender, r.text))
                        .collect::<Vec<_>>(),
                    status,
                )),
                _ => None,
            })
        };
        rig.controller.search("  ");
        assert_eq!(rig.take(), (vec![], vec![Show::Search(SearchShow::Cleared)]), "blank ends it");
        rig.controller.search(" 北京 ");
        let (commands, shows) = rig.take();
        assert_eq!(commands, [Command::Search { text: "北京".into() }]);
        assert_eq!(results(shows), Some((vec![], "Searching…".to_owned())));
        rig.controller.search("烤鸭");
        rig.take();
        let found = vec![
            msg(9, "carol", Address::everyone(), "北京 is big"),
            msg(5, "bob", Address::User("alice".into()), "去北京吃烤鸭"),
        ];
        // An answer to the search before is not shown.
        rig.controller.apply(Update::SearchResults {
            text: "北京".into(),
            messages: found.clone(),
            more: false,
        });
        assert!(rig.take().1.is_empty());
        rig.controller.apply(Update::SearchResults {
            text: "烤鸭".into(),
            messages: found,
            more: true,
        });
        assert_eq!(
            results(rig.take().1),
            Some((
                vec!["Everyone|carol|北京 is big".to_owned(), "bob|bob|去北京吃烤鸭".to_owned()],
                "The newest 2 matches; type more to narrow the search.".to_owned()
            ))
        );
        rig.controller.open_result(1);
        let (commands, shows) = rig.take();
        assert_eq!(commands, [Command::History { with: bob(), before: None }]);
        assert!(shows.contains(&Show::Search(SearchShow::Cleared)));
        assert!(
            shows.contains(&Show::Conversation(ConversationShow::Title("Chat with bob".into())))
        );
        rig.controller.open_result(0);
        assert_eq!(rig.take(), (vec![], vec![]), "no search, nothing to open");
        rig.controller.search("x");
        rig.take();
        rig.controller.apply(Update::SearchFailed { text: "x".into(), code: None });
        assert_eq!(results(rig.take().1), Some((vec![], "Not connected.".to_owned())));
    }

    #[test]
    fn mutes_are_kept_per_account_between_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ui.json");
        let signed_in = |nick: &str| {
            let rig = Rig::new(Some(path.clone()));
            rig.controller.sign_in("h:1", nick, "pw");
            rig.controller.apply(Update::SignedIn {
                me: nick.into(),
                users: vec![user("alice", true), user("bob", true)],
                groups: vec![],
            });
            rig.take();
            rig
        };
        let muted = |rig: &Rig| {
            rig.controller
                .users()
                .iter()
                .filter(|r| r.muted)
                .map(|r| r.key.to_string())
                .collect::<Vec<_>>()
        };
        let rig = signed_in("alice");
        rig.controller.select(Conv::With("bob".into()));
        rig.controller.toggle_mute();
        rig.controller.select(Conv::Everyone);
        rig.controller.toggle_mute();
        assert_eq!(muted(&rig), ["", "bob"]);
        assert_eq!(muted(&signed_in("alice")), ["", "bob"], "the next run");
        assert!(muted(&signed_in("bob")).is_empty(), "another account's own");
        let rig = signed_in("Alice");
        rig.controller.select(Conv::With("bob".into()));
        rig.controller.toggle_mute();
        assert_eq!(muted(&signed_in("alice")), [""]);
    }
}
