//! The controller's side of the conversation list: the server's list and group members after
//! signing in, read positions told back, and the unread total. The decisions are in
//! [`crate::conversations`]; this moves what they need in and out.

use quicq_common::protocol::{Address, MemberInfo};

use slint::Model;

use super::Controller;
use crate::backend::{Command, Summary};
use crate::view::Conv;

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
                    state.activity.note(&conv, m, &state.me, &self.texts);
                }
                if state.selected.as_ref() != Some(&conv) {
                    state.roster.set_unread(conv, summary.conversation.unread);
                }
            }
        }
        let selected = self.state.borrow().selected.clone();
        if let Some(conv) = selected {
            self.mark_read(&conv);
        }
        self.refresh_users();
    }

    pub(super) fn members(&self, group: &str, members: Vec<MemberInfo>) {
        self.state.borrow_mut().activity.set_members(group, members);
        self.refresh_users();
    }

    /// `conv` is on screen up to its newest message; the server hears of it on the next tick.
    pub(super) fn mark_read(&self, conv: &Conv) {
        self.state.borrow_mut().activity.seen(conv);
    }

    /// Once a second: tells the server how far the conversations seen since were read.
    pub(super) fn tell_reads(&self) {
        let reads = self.state.borrow_mut().activity.reads();
        for (conv, up_to) in reads {
            self.network.command(Command::MarkRead { with: self.address_of(&conv), up_to });
        }
    }

    /// Signed out: nothing is unread any more.
    pub(super) fn forget_unread(&self) {
        if let Some(watch) = &*self.unread_watch.borrow() {
            watch(0);
        }
    }

    /// Calls `watch` with the unread total of conversations that are not muted whenever it
    /// changes (for the list's header and the window's title).
    pub fn watch_unread(&self, watch: super::UnreadWatch) {
        *self.unread_watch.borrow_mut() = Some(watch);
    }

    /// The unread total of conversations that are not muted, from the list's rows.
    pub fn unread_total(&self) -> u32 {
        self.users.iter().filter(|r| !r.muted).map(|r| r.unread.max(0) as u32).sum()
    }

    /// Tells the watcher the unread total, if it changed.
    pub(super) fn show_unread_total(&self) {
        let total = self.unread_total();
        let changed = std::mem::replace(&mut self.state.borrow_mut().unread_total, total) != total;
        if changed && let Some(watch) = &*self.unread_watch.borrow() {
            watch(total);
        }
    }
}
