//! The controller's side of the conversation list: the server's list and group members after
//! signing in, read positions told back, the unread total, mutes and desktop notifications.
//! The decisions are in [`crate::conversations`] and [`crate::notify`]; this moves what they
//! need in and out.

use std::rc::Rc;

use quicq_common::nickname::key_of;
use quicq_common::protocol::{Address, ChatMessage, MemberInfo};
use slint::Model;

use super::Controller;
use crate::backend::Summary;
use crate::conversations::preview;
use crate::notify::{self, Notice, Notifier};
use crate::settings::Mutes;
use crate::view::Conv;

/// What the list shows besides its rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListState {
    /// Unread messages in conversations that are not muted.
    pub unread: u32,
    pub selected_muted: bool,
    /// The conversation on screen is a named group (its members panel can be opened).
    pub selected_group: bool,
}

impl Controller {
    /// The address of a conversation, as the network wants it.
    pub(super) fn address_of(&self, conv: &Conv) -> Address {
        let state = self.state.borrow();
        match conv {
            Conv::Everyone => Address::everyone(),
            Conv::Group(key) => Address::Group(
                state.roster.group(key).map_or_else(|| key.clone(), |g| g.name.clone()),
            ),
            Conv::With(key) => Address::User(key.clone()),
        }
    }

    /// The server's list after signing in: order, previews and the unread counts from before
    /// this session (not for the conversation on screen, which is being read).
    pub(super) fn conversations(&self, summaries: Vec<Summary>) {
        {
            let mut state = self.state.borrow_mut();
            let state = &mut *state;
            for summary in summaries {
                let conv = Conv::of_address(&summary.conversation.with);
                state.activity.touch(&conv, summary.conversation.last_id);
                for m in &summary.newest {
                    state.activity.note(&conv, m, &state.me, &self.texts());
                }
                if state.selected.as_ref() != Some(&conv) {
                    state.roster.set_unread(conv, summary.conversation.unread);
                }
            }
        }
        self.refresh_users();
    }

    pub(super) fn members(&self, group: &str, members: Vec<MemberInfo>) {
        self.state.borrow_mut().activity.set_members(group, members);
        self.refresh_users();
        self.refresh_group_panel();
    }

    /// Signed out: nothing is unread any more, no group dialog or search is left open.
    pub(super) fn forget_list(&self) {
        if let Some(watch) = &*self.list_watch.borrow() {
            watch(ListState::default());
        }
        self.show(crate::screen::Show::Group(crate::screen::GroupShow::Closed));
        self.show(crate::screen::Show::Search(crate::screen::SearchShow::Cleared));
    }

    /// Calls `watch` with the unread total of conversations that are not muted (the list's
    /// header, the window's title) and whether the selected conversation is muted, whenever
    /// either changes.
    pub fn watch_list(&self, watch: super::ListWatch) {
        *self.list_watch.borrow_mut() = Some(watch);
    }

    /// Where desktop notifications go (the app sets the desktop's; tests a fake).
    pub fn set_notifier(&self, notifier: Rc<dyn Notifier>) {
        notifier.set_sound(self.prefs.borrow().saved.sound);
        *self.notifier.borrow_mut() = Some(notifier);
    }

    /// Mutes the selected conversation, or unmutes it: no notifications, and its unread
    /// count is left out of the total (its badge still counts, in grey).
    /// Kept between runs, per account, in `mutes.json` beside the settings.
    pub fn toggle_mute(&self) {
        let keys = {
            let mut state = self.state.borrow_mut();
            let conv = state.selected.clone().unwrap_or(Conv::Everyone);
            let muted = state.activity.is_muted(&conv);
            state.activity.set_muted(&conv, !muted);
            state.activity.muted_keys()
        };
        self.refresh_users();
        let Some(path) = self.settings_path.as_deref().map(Mutes::path) else { return };
        let mut mutes = Mutes::load(&path);
        let account = Mutes::account(&self.state.borrow().form);
        if keys.is_empty() {
            mutes.by_account.remove(&account);
        } else {
            mutes.by_account.insert(account, keys);
        }
        if let Err(e) = mutes.save(&path) {
            tracing::warn!(cause = %e, "cannot remember the muted conversations");
        }
    }

    /// Signed in: the account's muted conversations from the last run.
    pub(super) fn load_mutes(&self) {
        let Some(path) = self.settings_path.as_deref().map(Mutes::path) else { return };
        let mutes = Mutes::load(&path);
        let mut state = self.state.borrow_mut();
        let account = Mutes::account(&state.form);
        if let Some(keys) = mutes.by_account.get(&account) {
            state.activity.set_muted_keys(keys);
        }
    }

    /// The preview of a message that may be notified (news from someone else), before it is
    /// known whether it is new here.
    pub(super) fn notice_for(&self, m: &ChatMessage) -> Option<String> {
        let state = self.state.borrow();
        let own = key_of(&m.from) == key_of(&state.me);
        if !notify::wanted(m.event.is_none(), own, false, false) {
            return None;
        }
        preview(m, &state.me, &self.texts())
    }

    /// A new message in `conv` with this preview: a desktop notification, unless they are
    /// turned off on the settings page, the conversation is muted or the window has the focus.
    pub(super) fn notify(&self, conv: &Conv, body: String) {
        let Some(notifier) = self.notifier.borrow().clone() else { return };
        if !self.prefs.borrow().saved.notifications {
            return;
        }
        let muted = self.state.borrow().activity.is_muted(conv);
        if !notify::wanted(true, false, muted, notifier.focused()) {
            return;
        }
        let title = {
            let state = self.state.borrow();
            match conv {
                Conv::Everyone => self.texts().everyone_title(),
                Conv::Group(key) => {
                    format!(
                        "# {}",
                        state.roster.group(key).map_or(key.as_str(), |g| g.name.as_str())
                    )
                }
                Conv::With(key) => state.roster.name_of(key).unwrap_or(key).to_owned(),
            }
        };
        notifier.notify(Notice { title, body });
    }

    /// The unread total of conversations that are not muted, from the list's rows.
    pub fn unread_total(&self) -> u32 {
        self.users.iter().filter(|r| !r.muted).map(|r| r.unread.max(0) as u32).sum()
    }

    /// Tells the watcher what the list shows besides its rows, if it changed.
    pub(super) fn tell_list_state(&self) {
        let now = {
            let state = self.state.borrow();
            let selected = state.selected.clone().unwrap_or(Conv::Everyone);
            ListState {
                unread: self.unread_total(),
                selected_muted: state.activity.is_muted(&selected),
                selected_group: matches!(selected, Conv::Group(_)),
            }
        };
        let changed = std::mem::replace(&mut self.state.borrow_mut().list_state, now) != now;
        if changed && let Some(watch) = &*self.list_watch.borrow() {
            watch(now);
        }
    }
}
