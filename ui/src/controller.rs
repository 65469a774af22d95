//! The controller: owns what the client knows (who is online, conversations, files, transfers),
//! turns the user's actions into network [`Command`]s and the network's [`Update`]s into changes
//! on screen. Runs on the UI thread only, and knows neither Slint globals nor sockets: it talks to
//! a [`Network`] and a [`Screen`], so tests drive it with fakes of both.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;

use quicq_client::{ConnState, Event, TransferEvent, TransferKey};
use quicq_common::protocol::{Address, ChatMessage, UserInfo};
use slint::{Model, VecModel};

use crate::backend::{Command, Network, SignInError, Update};
use crate::generated::{MessageRow, TransferRow, UserRow};
use crate::i18n::Texts;
use crate::screen::{
    ComposerShow, ConversationShow, Screen, Show, SignInShow, StatusShow, TrustShow,
};
use crate::settings::Settings;
use crate::view::{self, Conv, FileStatus, History, Roster, Transfer};

#[derive(Default)]
struct State {
    me: String,
    /// What the last sign-in was typed with, remembered once it works.
    form: Settings,
    /// The trust prompt is the changed-certificate warning, whose only answer is to close it.
    trust_changed: bool,
    roster: Roster,
    selected: Option<Conv>,
    histories: HashMap<Conv, History>,
    files: HashMap<u64, FileStatus>,
    transfers: Vec<Transfer>,
}

pub struct Controller {
    network: Rc<dyn Network>,
    screen: Rc<dyn Screen>,
    texts: Texts,
    settings_path: Option<PathBuf>,
    users: Rc<VecModel<UserRow>>,
    messages: Rc<VecModel<MessageRow>>,
    transfers: Rc<VecModel<TransferRow>>,
    state: RefCell<State>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller").field("texts", &self.texts).finish_non_exhaustive()
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
        let controller = Controller {
            network,
            screen,
            texts,
            settings_path,
            users: Rc::default(),
            messages: Rc::default(),
            transfers: Rc::default(),
            state: RefCell::default(),
        };
        if let Some(path) = &controller.settings_path {
            let saved = Settings::load(path);
            controller.show(Show::SignIn(SignInShow::Fill {
                server: saved.server,
                nickname: saved.nickname,
            }));
        }
        controller
    }

    /// The user tree's rows; the view watches this model.
    pub fn users(&self) -> Rc<VecModel<UserRow>> {
        self.users.clone()
    }

    /// The selected conversation's bubbles, oldest first.
    pub fn messages(&self) -> Rc<VecModel<MessageRow>> {
        self.messages.clone()
    }

    /// Running transfers.
    pub fn transfers(&self) -> Rc<VecModel<TransferRow>> {
        self.transfers.clone()
    }

    fn show(&self, change: Show) {
        self.screen.show(change);
    }

    fn notice(&self, text: String) {
        self.show(Show::Status(StatusShow::Notice(text)));
    }

    pub fn sign_in(&self, server: &str, nickname: &str, password: &str) {
        self.state.borrow_mut().form =
            Settings { server: server.to_owned(), nickname: nickname.to_owned() };
        self.show(Show::SignIn(SignInShow::Error(String::new())));
        self.show(Show::SignIn(SignInShow::Busy(true)));
        self.network.command(Command::SignIn {
            server: server.to_owned(),
            nickname: nickname.to_owned(),
            password: password.to_owned(),
        });
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
        match self.state.borrow().selected.clone().unwrap_or(Conv::Everyone) {
            Conv::Everyone => Address::everyone(),
            Conv::With(key) => Address::User(key),
        }
    }

    /// Sends the draft to the selected conversation.
    pub fn send(&self, draft: &str) {
        // Enter arrives before the newline would be inserted; a trailing one from Shift+Enter is
        // part of the message only if there is text around it.
        if draft.trim().is_empty() {
            return;
        }
        self.show(Show::Composer(ComposerShow::ClearDraft));
        self.network.command(Command::Send { to: self.selected_address(), text: draft.to_owned() });
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

    pub fn hide_path_entry(&self) {
        self.show(Show::Composer(ComposerShow::PathEntry(false)));
    }

    /// Asks for the page before the oldest message shown, if the server has one.
    pub fn load_older(&self) {
        let state = self.state.borrow();
        let Some(conv) = state.selected.clone() else { return };
        let Some(history) = state.histories.get(&conv) else { return };
        if !history.more {
            return;
        }
        let before = history.oldest();
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
        let needs_history = {
            let mut state = self.state.borrow_mut();
            state.roster.clear_unread(&conv);
            state.selected = Some(conv.clone());
            let history = state.histories.entry(conv.clone()).or_default();
            !std::mem::replace(&mut history.loaded, true)
        };
        if needs_history {
            self.network.command(Command::History { with: self.selected_address(), before: None });
        }
        self.refresh_title();
        self.refresh_users();
        self.refresh_messages();
    }

    /// Applies one thing the network thread reported.
    pub fn apply(&self, update: Update) {
        match update {
            Update::SignedIn { me, users } => self.signed_in(me, &users),
            Update::SignInFailed(error) => {
                self.show(Show::SignIn(SignInShow::Busy(false)));
                self.show(Show::SignIn(SignInShow::Error(self.describe(&error))));
            }
            Update::TrustNew { server, fingerprint } => {
                self.state.borrow_mut().trust_changed = false;
                self.show(Show::Trust(TrustShow::New { server, fingerprint }));
            }
            Update::TrustChanged { server, expected, presented } => {
                self.state.borrow_mut().trust_changed = true;
                self.show(Show::Trust(TrustShow::Changed { server, expected, presented }));
            }
            Update::Users(users) => {
                self.state.borrow_mut().roster.set_users(&users);
                self.refresh_users();
            }
            Update::Event(event) => self.event(event),
            Update::History { with, page } => {
                let conv = match &with {
                    Address::Group(_) => Conv::Everyone,
                    Address::User(name) => Conv::from_row_key(name),
                };
                {
                    let mut state = self.state.borrow_mut();
                    let history = state.histories.entry(conv.clone()).or_default();
                    for m in page.messages {
                        history.add(m);
                    }
                    history.more = page.more;
                    history.loaded = true;
                }
                if self.state.borrow().selected.as_ref() == Some(&conv) {
                    self.refresh_messages();
                }
            }
            Update::UploadStarted { transfer_id, name, size } => {
                self.upsert_transfer(Transfer {
                    key: TransferKey::Upload(transfer_id),
                    name,
                    done: 0,
                    total: size,
                    bytes_per_sec: 0.0,
                });
            }
            Update::SendFailed(why) => self.notice(self.texts.not_sent(&why)),
            Update::FileNotSent(why) => self.notice(self.texts.file_not_sent(&why)),
            Update::NoFileChosen => {
                self.show(Show::Composer(ComposerShow::PathEntry(true)));
                self.notice(self.texts.no_dialog().into());
            }
        }
    }

    fn signed_in(&self, me: String, users: &[UserInfo]) {
        if let Some(path) = &self.settings_path {
            let settings = self.state.borrow().form.clone();
            if let Err(e) = settings.save(path) {
                tracing::warn!(cause = %e, "cannot remember the sign-in details");
            }
        }
        self.show(Show::SignIn(SignInShow::ClearPassword));
        self.show(Show::SignIn(SignInShow::Busy(false)));
        self.show(Show::SignedIn);
        self.show(Show::Status(StatusShow::Line {
            connected: true,
            text: self.texts.connected(&me),
        }));
        {
            let mut state = self.state.borrow_mut();
            state.me = me;
            state.roster.set_users(users);
        }
        self.select(Conv::Everyone);
    }

    fn event(&self, event: Event) {
        match event {
            Event::Message(m) => self.message(m),
            Event::Presence { user, online } => {
                self.state.borrow_mut().roster.presence(&user, online);
                self.refresh_users();
            }
            Event::State(state) => {
                let (connected, text) = match &state {
                    ConnState::Connected { you } => (true, self.texts.connected(you)),
                    ConnState::Reconnecting { delay, .. } => {
                        (false, self.texts.reconnecting(delay.as_secs_f64().ceil() as u64))
                    }
                    ConnState::Offline { reason } => (false, self.texts.offline(reason)),
                };
                self.show(Show::Status(StatusShow::Line { connected, text }));
            }
            Event::Transfer(t) => self.transfer(t),
        }
    }

    fn message(&self, m: ChatMessage) {
        let visible = {
            let mut state = self.state.borrow_mut();
            let conv = Conv::of(&m, &state.me);
            let own = quicq_common::nickname::key_of(&m.from)
                == quicq_common::nickname::key_of(&state.me);
            let visible = state.selected.as_ref() == Some(&conv);
            if !visible && !own {
                state.roster.add_unread(conv.clone());
            }
            if !state.histories.entry(conv).or_default().add(m) {
                return;
            }
            visible
        };
        if visible {
            self.refresh_messages();
        } else {
            self.refresh_users();
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
            TransferEvent::UploadAccepted { .. } => {}
            TransferEvent::UploadComplete { transfer_id, .. } => {
                let key = TransferKey::Upload(transfer_id);
                let name = self.transfer_name(&key);
                self.remove_transfer(&key);
                self.notice(self.texts.file_sent(&name));
            }
            TransferEvent::UploadFailed { transfer_id, reason, .. } => {
                self.remove_transfer(&TransferKey::Upload(transfer_id));
                self.notice(self.texts.file_not_sent(&reason));
            }
            TransferEvent::Delivered { to, .. } => self.notice(self.texts.delivered(&to)),
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
            self.state.borrow().transfers.iter().map(|t| t.row(&self.texts)).collect();
        self.transfers.set_vec(rows);
    }

    fn refresh_users(&self) {
        let state = self.state.borrow();
        let selected = state.selected.clone().unwrap_or(Conv::Everyone);
        let rows = state.roster.rows(&state.me, &selected, &self.texts);
        self.users.set_vec(rows);
    }

    fn refresh_title(&self) {
        let title = {
            let state = self.state.borrow();
            match state.selected.clone().unwrap_or(Conv::Everyone) {
                Conv::Everyone => self.texts.everyone_title(),
                Conv::With(key) => self.texts.chat_with(state.roster.name_of(&key).unwrap_or(&key)),
            }
        };
        self.show(Show::Conversation(ConversationShow::Title(title)));
    }

    /// Rebuilds the visible conversation's bubbles, touching only rows that changed.
    fn refresh_messages(&self) {
        let (rows, more) = {
            let state = self.state.borrow();
            let Some(conv) = &state.selected else { return };
            let empty = History::default();
            let history = state.histories.get(conv).unwrap_or(&empty);
            (view::message_rows(history, &state.me, &state.files, &self.texts), history.more)
        };
        self.show(Show::Conversation(ConversationShow::MoreHistory(more)));
        let model = &self.messages;
        let same_prefix = model.row_count() <= rows.len()
            && (0..model.row_count()).all(|i| model.row_data(i).as_ref() == rows.get(i));
        if same_prefix {
            for row in rows.into_iter().skip(model.row_count()) {
                model.push(row);
            }
        } else {
            model.set_vec(rows);
        }
    }

    /// Updates the bubble of one file, if it is on screen.
    fn refresh_file(&self, file_id: u64) {
        let state = self.state.borrow();
        let Some(conv) = &state.selected else { return };
        let Some(history) = state.histories.get(conv) else { return };
        let Some(index) =
            history.messages().position(|m| m.file.as_ref().is_some_and(|f| f.id == file_id))
        else {
            return;
        };
        let rows = view::message_rows(history, &state.me, &state.files, &self.texts);
        if let Some(row) = rows.into_iter().nth(index)
            && index < self.messages.row_count()
        {
            self.messages.set_row_data(index, row);
        }
    }

    fn describe(&self, error: &SignInError) -> String {
        let t = &self.texts;
        match error {
            SignInError::MissingFields => t.fill_in().into(),
            SignInError::BadAddress(why) => t.bad_address(why),
            SignInError::WrongPassword => t.wrong_password().into(),
            SignInError::WeakPassword => t.weak_password().into(),
            SignInError::RegistrationClosed => t.registration_closed().into(),
            SignInError::InvalidNickname(why) => t.invalid_nickname(why),
            SignInError::Unreachable(server) => t.unreachable(server),
            SignInError::WrongProtocol => t.wrong_protocol().into(),
            SignInError::Untrusted => t.untrusted().into(),
            SignInError::NotTrusted => t.not_trusted().into(),
            SignInError::Other(why) => t.failed(why),
        }
    }
}
