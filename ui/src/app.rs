//! The controller: wires the window's callbacks to network commands and applies the network's
//! updates to the view models. Runs on the UI thread only.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::{Rc, Weak};

use quicq_client::{ConnState, Event, TransferEvent, TransferKey};
use quicq_common::protocol::{Address, ChatMessage};
use slint::{ComponentHandle, Model, ModelRc, VecModel};

use crate::backend::{Command, Network, SignInError, Update};
use crate::i18n::Texts;
use crate::settings::Settings;
use crate::view::{self, Conv, FileStatus, History, Roster, Transfer};
use crate::{Bridge, MainWindow, MessageRow};

#[derive(Default)]
struct State {
    me: String,
    roster: Roster,
    selected: Option<Conv>,
    histories: HashMap<Conv, History>,
    files: HashMap<u64, FileStatus>,
    transfers: Vec<Transfer>,
}

pub struct App {
    window: MainWindow,
    network: Rc<dyn Network>,
    updates: std::sync::mpsc::Receiver<Update>,
    texts: Texts,
    settings_path: Option<PathBuf>,
    messages: Rc<VecModel<MessageRow>>,
    state: RefCell<State>,
}

impl App {
    /// Connects the window to the network. `updates` is drained by [`App::pump`], which the
    /// window's `pump` callback calls whenever the network thread reports something.
    pub fn new(
        window: MainWindow,
        network: Rc<dyn Network>,
        updates: std::sync::mpsc::Receiver<Update>,
        texts: Texts,
        settings_path: Option<PathBuf>,
    ) -> Rc<App> {
        let messages = Rc::new(VecModel::default());
        let app = Rc::new(App {
            window,
            network,
            updates,
            texts,
            settings_path,
            messages: messages.clone(),
            state: RefCell::default(),
        });
        let bridge = app.window.global::<Bridge>();
        bridge.set_messages(ModelRc::from(messages));
        if let Some(path) = &app.settings_path {
            let saved = Settings::load(path);
            bridge.set_server(saved.server.into());
            bridge.set_nickname(saved.nickname.into());
        }
        let weak = Rc::downgrade(&app);
        let with = move |f: fn(&App)| {
            let weak: Weak<App> = weak.clone();
            move || {
                if let Some(app) = weak.upgrade() {
                    f(&app);
                }
            }
        };
        bridge.on_pump(with(App::pump));
        bridge.on_sign_in(with(App::sign_in));
        bridge.on_send(with(App::send));
        bridge.on_pick_file(with(App::pick_file));
        bridge.on_send_typed_path(with(App::send_typed_path));
        bridge.on_hide_path_entry(with(|app| app.bridge().set_path_entry_visible(false)));
        bridge.on_load_older(with(App::load_older));
        let weak = Rc::downgrade(&app);
        bridge.on_trust({
            let weak = weak.clone();
            move |yes| {
                if let Some(app) = weak.upgrade() {
                    app.trust(yes);
                }
            }
        });
        bridge.on_select({
            let weak = weak.clone();
            move |key| {
                if let Some(app) = weak.upgrade() {
                    app.select(Conv::from_row_key(&key));
                }
            }
        });
        bridge.on_cancel_transfer({
            let weak = weak.clone();
            move |key| {
                if let Some(app) = weak.upgrade() {
                    app.cancel(&key);
                }
            }
        });
        bridge.on_open_file(|path| open_path(Path::new(path.as_str())));
        bridge.on_open_folder(|path| {
            if let Some(dir) = Path::new(path.as_str()).parent() {
                open_path(dir);
            }
        });
        app
    }

    pub fn window(&self) -> &MainWindow {
        &self.window
    }

    fn bridge(&self) -> Bridge<'_> {
        self.window.global::<Bridge>()
    }

    /// Applies everything the network thread has reported so far.
    pub fn pump(&self) {
        while let Ok(update) = self.updates.try_recv() {
            self.apply(update);
        }
    }

    fn sign_in(&self) {
        let bridge = self.bridge();
        bridge.set_sign_in_error("".into());
        bridge.set_busy(true);
        self.network.command(Command::SignIn {
            server: bridge.get_server().to_string(),
            nickname: bridge.get_nickname().to_string(),
            password: bridge.get_password().to_string(),
        });
    }

    fn trust(&self, yes: bool) {
        let bridge = self.bridge();
        bridge.set_trust_visible(false);
        if bridge.get_trust_changed() {
            bridge.set_trust_changed(false);
            bridge.set_busy(false);
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

    fn send(&self) {
        let bridge = self.bridge();
        let text = bridge.get_draft().to_string();
        // Enter arrives before the newline would be inserted; a trailing one from Shift+Enter is
        // part of the message only if there is text around it.
        if text.trim().is_empty() {
            return;
        }
        bridge.set_draft("".into());
        self.network.command(Command::Send { to: self.selected_address(), text });
    }

    fn pick_file(&self) {
        self.network.command(Command::PickFile { to: self.selected_address() });
    }

    fn send_typed_path(&self) {
        let bridge = self.bridge();
        let path = bridge.get_typed_path().trim().to_owned();
        if path.is_empty() {
            return;
        }
        bridge.set_typed_path("".into());
        bridge.set_path_entry_visible(false);
        self.network.command(Command::SendFile { to: self.selected_address(), path: path.into() });
    }

    fn load_older(&self) {
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

    fn cancel(&self, key: &str) {
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

    fn apply(&self, update: Update) {
        match update {
            Update::SignedIn { me, users } => self.signed_in(me, &users),
            Update::SignInFailed(error) => {
                let bridge = self.bridge();
                bridge.set_busy(false);
                bridge.set_sign_in_error(self.describe(&error).into());
            }
            Update::TrustNew { server, fingerprint } => {
                let bridge = self.bridge();
                bridge.set_trust_changed(false);
                bridge.set_trust_server(server.into());
                bridge.set_trust_fingerprint(fingerprint.pretty().into());
                bridge.set_trust_visible(true);
            }
            Update::TrustChanged { server, expected, presented } => {
                let bridge = self.bridge();
                bridge.set_trust_changed(true);
                bridge.set_trust_server(server.into());
                bridge.set_trust_expected(expected.pretty().into());
                bridge.set_trust_fingerprint(presented.pretty().into());
                bridge.set_trust_visible(true);
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
            Update::SendFailed(why) => self.bridge().set_notice(self.texts.not_sent(&why).into()),
            Update::FileNotSent(why) => {
                self.bridge().set_notice(self.texts.file_not_sent(&why).into())
            }
            Update::NoFileChosen => {
                let bridge = self.bridge();
                bridge.set_path_entry_visible(true);
                bridge.set_notice(self.texts.no_dialog().into());
            }
        }
    }

    fn signed_in(&self, me: String, users: &[quicq_common::protocol::UserInfo]) {
        let bridge = self.bridge();
        if let Some(path) = &self.settings_path {
            let settings = Settings {
                server: bridge.get_server().to_string(),
                nickname: bridge.get_nickname().to_string(),
            };
            if let Err(e) = settings.save(path) {
                tracing::warn!(cause = %e, "cannot remember the sign-in details");
            }
        }
        bridge.set_password("".into());
        bridge.set_busy(false);
        bridge.set_signed_in(true);
        bridge.set_connected(true);
        bridge.set_status(self.texts.connected(&me).into());
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
                let bridge = self.bridge();
                let (connected, text) = match &state {
                    ConnState::Connected { you } => (true, self.texts.connected(you)),
                    ConnState::Reconnecting { delay, .. } => {
                        (false, self.texts.reconnecting(delay.as_secs_f64().ceil() as u64))
                    }
                    ConnState::Offline { reason } => (false, self.texts.offline(reason)),
                };
                bridge.set_connected(connected);
                bridge.set_status(text.into());
            }
            Event::Transfer(t) => self.transfer(t),
        }
    }

    fn message(&self, m: ChatMessage) {
        let (conv, visible) = {
            let mut state = self.state.borrow_mut();
            let conv = Conv::of(&m, &state.me);
            let own = quicq_common::nickname::key_of(&m.from)
                == quicq_common::nickname::key_of(&state.me);
            let visible = state.selected.as_ref() == Some(&conv);
            if !visible && !own {
                state.roster.add_unread(conv.clone());
            }
            if !state.histories.entry(conv.clone()).or_default().add(m) {
                return;
            }
            (conv, visible)
        };
        let _ = conv;
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
                self.bridge().set_notice(self.texts.file_sent(&name).into());
            }
            TransferEvent::UploadFailed { transfer_id, reason, .. } => {
                self.remove_transfer(&TransferKey::Upload(transfer_id));
                self.bridge().set_notice(self.texts.file_not_sent(&reason).into());
            }
            TransferEvent::Delivered { to, .. } => {
                self.bridge().set_notice(self.texts.delivered(&to).into())
            }
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
        self.bridge().set_transfers(ModelRc::new(VecModel::from(rows)));
    }

    fn refresh_users(&self) {
        let state = self.state.borrow();
        let selected = state.selected.clone().unwrap_or(Conv::Everyone);
        let rows = state.roster.rows(&state.me, &selected, &self.texts);
        self.bridge().set_users(ModelRc::new(VecModel::from(rows)));
    }

    fn refresh_title(&self) {
        let state = self.state.borrow();
        let title = match state.selected.clone().unwrap_or(Conv::Everyone) {
            Conv::Everyone => self.texts.everyone_title(),
            Conv::With(key) => self.texts.chat_with(state.roster.name_of(&key).unwrap_or(&key)),
        };
        self.bridge().set_conversation_title(title.into());
    }

    /// Rebuilds the visible conversation's bubbles, touching only rows that changed.
    fn refresh_messages(&self) {
        let state = self.state.borrow();
        let Some(conv) = &state.selected else { return };
        let empty = History::default();
        let history = state.histories.get(conv).unwrap_or(&empty);
        let rows = view::message_rows(history, &state.me, &state.files, &self.texts);
        self.bridge().set_more_history(history.more);
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

fn open_path(path: &Path) {
    if let Err(e) = open::that_detached(path) {
        tracing::warn!(path = %path.display(), cause = %e, "cannot open");
    }
}
