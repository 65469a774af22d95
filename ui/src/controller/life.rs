//! The controller's part for the life of a message: the bubble menu's actions (reply, edit,
//! recall, react, save a copy), the composer's reply and edit modes, read receipts on one's own
//! bubbles, telling when one has read, and typing both ways. The rules are in
//! [`crate::message_life`]; this applies them to the state, the network and the screen.

use std::time::{Duration, Instant};

use quicq_common::nickname::key_of;
use quicq_common::protocol::{Address, ChatMessage, ReadPosition};

use super::{Controller, State};
use crate::backend::{Change, Command, SendFailure};
use crate::generated::MessageRow;
use crate::i18n::Texts;
use crate::message_life::{self, Compose, ReadState, TypingSignal, Typists, within_window};
use crate::problem::Problem;
use crate::screen::{ComposerShow, ConversationShow, Show};
use crate::timeline::Timeline;
use crate::view::{self, Conv};
use chrono::NaiveDate;

/// What the controller keeps for the life of messages.
#[derive(Debug, Default)]
pub(super) struct Life {
    pub(super) compose: Compose,
    typing_signal: TypingSignal,
    typists: Typists,
    /// The typing line on screen, so it is redrawn only when it changes.
    typing_shown: String,
    pub(super) read: ReadState,
    /// Conversations whose receipts are to be asked for on the next tick.
    receipts_wanted: Vec<Conv>,
    receipts_asked: std::collections::HashSet<Conv>,
    /// The message whose recall waits for a yes.
    confirm_recall: Option<(Conv, u64)>,
    edit_window_secs: u64,
    recall_window_secs: u64,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The command that sends a message, quoting `reply_to` if given.
pub(super) fn send_command(
    to: Address,
    text: String,
    local: u64,
    reply_to: Option<u64>,
) -> Command {
    match reply_to {
        Some(reply_to) => Command::Reply { to, text, local, reply_to },
        None => Command::Send { to, text, local },
    }
}

/// `row` of message `m` with its group and its day separator, from the message shown above it
/// in `timeline`.
pub(super) fn grouped(
    mut row: MessageRow,
    timeline: &Timeline,
    history: Option<&view::History>,
    m: &ChatMessage,
    (texts, today): (&Texts, NaiveDate),
) -> MessageRow {
    let prev = timeline.id_before(m.id).and_then(|p| history?.get(p));
    row.continued = view::continues(prev, m);
    row.day = view::day_header(prev, m, texts, today).into();
    row
}

/// A row was inserted above others (an older page, a late message): the row below it may now
/// join or leave a group, and gain or lose its day separator. Changes at most that one row.
pub(super) fn regroup_after(
    timeline: &mut Timeline,
    history: Option<&view::History>,
    id: u64,
    days: (&Texts, NaiveDate),
) {
    let Some(next) = timeline.id_after(id) else { return };
    let (Some(m), Some(row)) = (history.and_then(|h| h.get(next)), timeline.row_of(next)) else {
        return;
    };
    let regrouped = grouped(row.clone(), timeline, history, m, days);
    if regrouped.continued != row.continued || regrouped.day != row.day {
        timeline.put(next, Some(regrouped));
    }
}

impl Controller {
    /// The message `id` of the selected conversation.
    fn selected_message(&self, id: &str) -> Option<(Conv, ChatMessage)> {
        let id: u64 = id.parse().ok()?;
        let state = self.state.borrow();
        let conv = state.selected.clone()?;
        let m = state.histories.get(&conv)?.get(id)?.clone();
        Some((conv, m))
    }

    fn is_mine(&self, m: &ChatMessage) -> bool {
        key_of(&m.from) == key_of(&self.state.borrow().me)
    }

    /// The menu's Reply: the composer quotes the message until sent or cancelled.
    pub fn reply(&self, id: &str) {
        let Some((conv, m)) = self.selected_message(id) else { return };
        if !view::answerable(&m) {
            return;
        }
        self.leave_mode();
        let what = match &m.file {
            Some(file) => format!("📎 {}", file.name),
            None => view::snippet(&m.text),
        };
        self.state.borrow_mut().life.compose = Compose::Reply { conv, id: m.id };
        self.show(Show::Composer(ComposerShow::Mode(self.texts().replying_to(&m.from, &what))));
    }

    /// The menu's Edit: one's own message's text goes into the composer, within the window.
    pub fn edit(&self, id: &str) {
        let Some((conv, m)) = self.selected_message(id) else { return };
        if !view::answerable(&m) || !self.is_mine(&m) || m.file.is_some() {
            return;
        }
        let window = self.state.borrow().life.edit_window_secs;
        if !within_window(m.at, now_ms(), window) {
            self.notice(self.texts().too_late_to_edit(window));
            return;
        }
        self.leave_mode();
        let draft = {
            let mut state = self.state.borrow_mut();
            let draft = state.drafts.get(&conv).to_owned();
            state.drafts.set(&conv, &m.text);
            state.life.compose = Compose::Edit { conv, id: m.id, draft };
            m.text
        };
        self.show(Show::Composer(ComposerShow::Draft(draft)));
        self.show(Show::Composer(ComposerShow::Mode(self.texts().editing().into())));
    }

    /// Send in edit mode: the new text goes to the server and the earlier draft comes back.
    /// False when not editing.
    pub(super) fn save_edit(&self, text: &str) -> bool {
        let (id, changed) = {
            let state = self.state.borrow();
            let Compose::Edit { conv, id, .. } = &state.life.compose else { return false };
            let old = state.histories.get(conv).and_then(|h| h.get(*id)).map(|m| m.text.as_str());
            (*id, old != Some(text))
        };
        self.leave_mode();
        if changed {
            self.network.command(Command::Edit { id, text: text.to_owned() });
        }
        true
    }

    /// The reply a message sent now quotes (the mode ends with it).
    pub(super) fn take_reply(&self, conv: &Conv) -> Option<u64> {
        let mut state = self.state.borrow_mut();
        match &state.life.compose {
            Compose::Reply { conv: c, id } if c == conv => {
                let id = *id;
                state.life.compose = Compose::New;
                Some(id)
            }
            _ => None,
        }
    }

    /// Esc or ✕ in the composer.
    pub fn cancel_mode(&self) {
        self.leave_mode();
    }

    /// Back to a new message: an edit gives back the draft it replaced.
    fn leave_mode(&self) {
        let compose = std::mem::take(&mut self.state.borrow_mut().life.compose);
        match compose {
            Compose::New => return,
            Compose::Reply { .. } => {}
            Compose::Edit { conv, draft, .. } => {
                let selected = {
                    let mut state = self.state.borrow_mut();
                    state.drafts.set(&conv, &draft);
                    state.selected.as_ref() == Some(&conv)
                };
                if selected {
                    self.show(Show::Composer(ComposerShow::Draft(draft)));
                }
            }
        }
        self.show(Show::Composer(ComposerShow::Mode(String::new())));
    }

    /// The menu's Recall: asks first, within the window.
    pub fn recall(&self, id: &str) {
        let Some((conv, m)) = self.selected_message(id) else { return };
        if !view::answerable(&m) || !self.is_mine(&m) {
            return;
        }
        let window = self.state.borrow().life.recall_window_secs;
        if !within_window(m.at, now_ms(), window) {
            self.notice(self.texts().too_late_to_recall(window));
            return;
        }
        self.state.borrow_mut().life.confirm_recall = Some((conv, m.id));
        self.show(Show::Conversation(ConversationShow::ConfirmRecall(Some(m.id))));
    }

    /// The answer to "Recall this message?".
    pub fn recall_answer(&self, yes: bool) {
        let Some((_, id)) = self.state.borrow_mut().life.confirm_recall.take() else { return };
        self.show(Show::Conversation(ConversationShow::ConfirmRecall(None)));
        if yes {
            self.network.command(Command::Recall { id });
        }
    }

    /// The menu's reaction: set it, or take it back when it is already one's own.
    pub fn react(&self, id: &str, emoji: &str) {
        let Some((_, m)) = self.selected_message(id) else { return };
        if !view::answerable(&m) {
            return;
        }
        let me = self.state.borrow().me.clone();
        let emoji = message_life::toggled(view::my_reaction(&m, &me), emoji);
        self.network.command(Command::React { id: m.id, emoji });
    }

    /// The menu's "Save file as…" for a received file.
    pub fn save_file(&self, path: &str) {
        if !path.is_empty() {
            self.network.command(Command::SaveFileAs { path: path.into() });
        }
    }

    /// The system could not open a link from a bubble.
    pub fn link_not_opened(&self) {
        self.notice(self.texts().link_not_opened().into());
    }

    pub(super) fn change_failed(&self, change: Change, why: &SendFailure) {
        self.notice(self.texts().change_failed(change, &self.texts().send_failure(why)));
    }

    pub(super) fn saved_as(&self, result: Result<std::path::PathBuf, Problem>) {
        match result {
            Ok(path) => self.notice(self.texts().saved_as(&path.display().to_string())),
            Err(Problem::Cancelled) => {}
            Err(why) => self.notice(self.texts().not_saved(&why)),
        }
    }

    pub(super) fn limits(&self, edit_window_secs: u64, recall_window_secs: u64) {
        let mut state = self.state.borrow_mut();
        state.life.edit_window_secs = edit_window_secs;
        state.life.recall_window_secs = recall_window_secs;
    }

    /// Another conversation was opened: a reply or edit of the last one ends, a question about
    /// it closes, and this one's typing line and receipts are shown.
    pub(super) fn switched_to(&self, conv: &Conv) {
        let other_mode = self.state.borrow().life.compose.conv().is_some_and(|c| c != conv);
        if other_mode {
            self.leave_mode();
        }
        if self.state.borrow_mut().life.confirm_recall.take().is_some() {
            self.show(Show::Conversation(ConversationShow::ConfirmRecall(None)));
        }
        {
            let mut state = self.state.borrow_mut();
            if state.life.receipts_asked.insert(conv.clone()) {
                state.life.receipts_wanted.push(conv.clone());
            }
        }
        self.show_typing();
    }

    /// Back after a lost connection: how far the others read may have moved meanwhile, so the
    /// open conversation's receipts are asked for again (the others' as they are opened).
    pub(super) fn connected_again(&self) {
        let mut state = self.state.borrow_mut();
        let State { selected, life, .. } = &mut *state;
        life.receipts_asked.clear();
        if let Some(conv) = selected.clone() {
            life.receipts_asked.insert(conv.clone());
            life.receipts_wanted.push(conv);
        }
    }

    /// The draft changed: tell the others one is typing, at most every few seconds.
    pub(super) fn typed(&self, draft: &str) {
        let tell = {
            let mut state = self.state.borrow_mut();
            let State { selected, life, .. } = &mut *state;
            let editing = matches!(life.compose, Compose::Edit { .. });
            selected.as_ref().is_some_and(|conv| {
                !editing && life.typing_signal.typed(conv, draft.trim().is_empty(), Instant::now())
            })
        };
        if tell {
            self.network.command(Command::Typing { to: self.selected_address() });
        }
    }

    /// A message went: the next keystroke starts a new bout of typing.
    pub(super) fn typing_sent(&self) {
        self.state.borrow_mut().life.typing_signal.sent();
    }

    /// Someone is typing somewhere.
    pub(super) fn someone_typing(&self, from: &str, with: &Address, for_ms: u64) {
        {
            let mut state = self.state.borrow_mut();
            if key_of(from) == key_of(&state.me) {
                return;
            }
            let until = Instant::now() + Duration::from_millis(for_ms);
            state.life.typists.typing(Conv::of_address(with), from, until);
        }
        self.show_typing();
    }

    /// A message from `from` came to `conv`: they are done typing there.
    pub(super) fn stopped_typing(&self, conv: &Conv, from: &str) {
        if self.state.borrow_mut().life.typists.done(conv, from) {
            self.show_typing();
        }
    }

    /// Redraws the typing line of the selected conversation if it changed.
    fn show_typing(&self) {
        let line = {
            let mut state = self.state.borrow_mut();
            let line = match &state.selected {
                Some(conv) => self.texts().typing(&state.life.typists.names(conv)),
                None => String::new(),
            };
            if line == state.life.typing_shown {
                return;
            }
            state.life.typing_shown = line.clone();
            line
        };
        self.show(Show::Conversation(ConversationShow::Typing(line)));
    }

    /// Once a second: typing that stopped goes away; what one has seen at the bottom of the
    /// open conversation is told (one signal however many messages came); receipts asked for.
    pub(super) fn life_tick(&self) {
        let (expired, read, receipts) = {
            let mut state = self.state.borrow_mut();
            let State { selected, life, position, histories, .. } = &mut *state;
            let expired = life.typists.expire(selected.as_ref(), Instant::now());
            if let Some(conv) = selected.as_ref()
                && position.at_bottom()
                && let Some(newest) = histories.get(conv).and_then(view::History::newest)
            {
                life.read.seen(conv, newest);
            }
            (expired, life.read.due(), std::mem::take(&mut life.receipts_wanted))
        };
        if expired {
            self.show_typing();
        }
        if let Some((conv, up_to)) = read {
            self.network.command(Command::MarkRead { with: self.address_of(&conv), up_to });
        }
        for conv in receipts {
            self.network.command(Command::Receipts { with: self.address_of(&conv) });
        }
    }

    /// `by` has read `with` up to `up_to`: one's own bubbles up to there say "read".
    pub(super) fn read_by(&self, by: &str, with: &Address, up_to: u64) {
        let conv = Conv::of_address(with);
        let newly = {
            let mut state = self.state.borrow_mut();
            let me = state.me.clone();
            let Some((after, up_to)) = state.life.read.read(conv.clone(), by, up_to, &me) else {
                return;
            };
            let Some(history) = state.histories.get(&conv) else { return };
            let mine = history.between(after, up_to).filter(|m| key_of(&m.from) == key_of(&me));
            mine.map(|m| m.id).collect::<Vec<_>>()
        };
        for id in newly {
            self.place(&conv, id);
        }
    }

    /// The answer to a receipts request.
    pub(super) fn receipts(&self, with: &Address, read: Vec<ReadPosition>) {
        for position in read {
            self.read_by(&position.user, with, position.up_to);
        }
    }

    /// How far others have read `conv` (for its bubbles).
    pub(super) fn read_up_to(state: &State, conv: &Conv) -> u64 {
        state.life.read.others(conv)
    }
}

#[cfg(test)]
mod tests {
    use quicq_client::{ConnState, Event, HistoryPage};
    use quicq_common::protocol::Reaction;
    use slint::Model;

    use super::super::tests::{Rig, msg};
    use super::*;
    use crate::backend::Update;
    use crate::screen::StatusShow;

    fn composer(change: ComposerShow) -> Show {
        Show::Composer(change)
    }

    /// Alice in the group, with bob's message 5 and her own message 6 (sent `age_ms` ago, 👍
    /// from herself on it), edits allowed for 120 s.
    fn rig(age_ms: i64) -> Rig {
        let rig = Rig::signed_in();
        let mut own = msg(6, "alice", Address::everyone(), "teh plan");
        own.at = now_ms() - age_ms;
        own.reactions = vec![Reaction { emoji: "👍".into(), users: vec!["alice".into()] }];
        let mut bobs = msg(5, "bob", Address::everyone(), "what time is it\nsecond line");
        bobs.at = now_ms();
        rig.controller.apply(Update::History {
            with: Address::everyone(),
            page: HistoryPage { messages: vec![bobs, own], more: false },
        });
        rig.controller.apply(Update::Limits { edit_window_secs: 120, recall_window_secs: 120 });
        rig.take();
        rig
    }

    type Step = fn(&Controller);
    /// (what it shows, the message's age in ms, the steps, commands, screen changes)
    type Case = (&'static str, i64, Vec<Step>, Vec<Command>, Vec<Show>);

    #[test]
    fn the_bubble_menu_becomes_modes_questions_and_commands() {
        let mode = |text: &str| composer(ComposerShow::Mode(text.into()));
        let cases: Vec<Case> = vec![
            (
                "a reply quotes the message and the mode ends with the send",
                0,
                vec![|c| c.reply("5"), |c| c.send("noon")],
                vec![Command::Reply {
                    to: Address::everyone(),
                    text: "noon".into(),
                    local: 1,
                    reply_to: 5,
                }],
                vec![
                    mode("Replying to bob: what time is it…"),
                    composer(ComposerShow::ClearDraft),
                    mode(""),
                    Show::Conversation(ConversationShow::ToNewest),
                ],
            ),
            (
                "a cancelled reply sends a plain message",
                0,
                vec![|c| c.reply("5"), |c| c.cancel_mode(), |c| c.send("hi")],
                vec![Command::Send { to: Address::everyone(), text: "hi".into(), local: 1 }],
                vec![
                    mode("Replying to bob: what time is it…"),
                    mode(""),
                    composer(ComposerShow::ClearDraft),
                    Show::Conversation(ConversationShow::ToNewest),
                ],
            ),
            (
                "an edit puts the text in the box and gives the draft back",
                1_000,
                vec![|c| c.edited("half typed"), |c| c.edit("6"), |c| c.send("the plan")],
                vec![
                    Command::Typing { to: Address::everyone() },
                    Command::Edit { id: 6, text: "the plan".into() },
                ],
                vec![
                    composer(ComposerShow::Draft("teh plan".into())),
                    mode("Editing your message (Esc cancels)"),
                    composer(ComposerShow::Draft("half typed".into())),
                    mode(""),
                ],
            ),
            (
                "an edit that changes nothing sends nothing",
                1_000,
                vec![|c| c.edit("6"), |c| c.send("teh plan")],
                vec![],
                vec![
                    composer(ComposerShow::Draft("teh plan".into())),
                    mode("Editing your message (Esc cancels)"),
                    composer(ComposerShow::Draft(String::new())),
                    mode(""),
                ],
            ),
            (
                "too late to edit: said in words, nothing sent",
                121_000,
                vec![|c| c.edit("6")],
                vec![],
                vec![Show::Status(StatusShow::Notice(
                    "Too late to edit: a message can be edited for 2 minutes after it is sent."
                        .into(),
                ))],
            ),
            ("someone else's message cannot be edited", 0, vec![|c| c.edit("5")], vec![], vec![]),
            (
                "a recall asks first",
                1_000,
                vec![|c| c.recall("6"), |c| c.recall_answer(true)],
                vec![Command::Recall { id: 6 }],
                vec![
                    Show::Conversation(ConversationShow::ConfirmRecall(Some(6))),
                    Show::Conversation(ConversationShow::ConfirmRecall(None)),
                ],
            ),
            (
                "a recall answered no",
                1_000,
                vec![|c| c.recall("6"), |c| c.recall_answer(false)],
                vec![],
                vec![
                    Show::Conversation(ConversationShow::ConfirmRecall(Some(6))),
                    Show::Conversation(ConversationShow::ConfirmRecall(None)),
                ],
            ),
            (
                "one's own reaction again takes it back; another replaces it",
                0,
                vec![|c| c.react("6", "👍"), |c| c.react("6", "🎉"), |c| c.react("5", "👍")],
                vec![
                    Command::React { id: 6, emoji: None },
                    Command::React { id: 6, emoji: Some("🎉".into()) },
                    Command::React { id: 5, emoji: Some("👍".into()) },
                ],
                vec![],
            ),
            (
                "an unknown id does nothing",
                0,
                vec![|c| c.reply("99"), |c| c.edit("x")],
                vec![],
                vec![],
            ),
        ];
        for (name, age, steps, commands, shows) in cases {
            let rig = rig(age);
            for step in steps {
                step(&rig.controller);
            }
            assert_eq!(rig.take(), (commands, shows), "{name}");
        }
    }

    #[test]
    fn receipts_mark_own_bubbles_read_and_reading_is_told_once_a_tick() {
        let rig = rig(0);
        let read = || {
            let rows = rig.controller.messages();
            rows.iter().map(|r| (r.text.to_string(), r.read, r.can_change)).collect::<Vec<_>>()
        };
        let row = |text: &str, read, can_change| (text.to_owned(), read, can_change);
        assert_eq!(
            read(),
            [row("what time is it\nsecond line", false, false), row("teh plan", false, true)]
        );
        // Bob read up to bob's own message: nothing of alice's yet; then past hers.
        let read_by = |up_to| {
            Update::Event(Event::Read { by: "bob".into(), with: Address::everyone(), up_to })
        };
        rig.controller.apply(read_by(5));
        assert!(!read()[1].1);
        rig.controller.apply(read_by(6));
        assert_eq!(read()[1], row("teh plan", true, true));
        // At the bottom of the open conversation: told on the tick, once.
        rig.take();
        rig.controller.tick();
        rig.controller.tick();
        let (commands, _) = rig.take();
        assert_eq!(
            commands,
            [
                Command::MarkRead { with: Address::everyone(), up_to: 6 },
                Command::Receipts { with: Address::everyone() },
            ]
        );
        // Scrolled up, a new message is not read.
        rig.controller.scrolled(false);
        rig.controller.apply(Update::Event(Event::Message(msg(
            7,
            "bob",
            Address::everyone(),
            "x",
        ))));
        rig.controller.tick();
        assert!(rig.take().0.is_empty());
        // After a lost connection the receipts are asked for again, once.
        rig.controller
            .apply(Update::Event(Event::State(ConnState::Connected { you: "alice".into() })));
        rig.take();
        rig.controller.tick();
        rig.controller.tick();
        assert_eq!(rig.take().0, [Command::Receipts { with: Address::everyone() }]);
    }

    #[test]
    fn refusals_of_changes_are_said_in_words() {
        use quicq_common::protocol::ErrorCode;
        let cases = [
            (
                Change::Recall,
                SendFailure::Refused(ErrorCode::TooLate),
                "Not recalled: the time allowed for that has passed",
            ),
            (
                Change::Edit,
                SendFailure::Refused(ErrorCode::NotAllowed),
                "Not edited: it is not your message",
            ),
            (Change::React, SendFailure::Offline, "Reaction not sent: not connected"),
        ];
        for (change, why, text) in cases {
            let rig = rig(0);
            rig.controller.apply(Update::ChangeFailed { change, why });
            assert_eq!(rig.take().1, [Show::Status(StatusShow::Notice(text.into()))]);
        }
    }

    #[test]
    fn a_late_row_regroups_only_the_row_below_it() {
        let rig = Rig::signed_in();
        let bob = |id| msg(id, "bob", Address::everyone(), "x");
        rig.controller.apply(Update::History {
            with: Address::everyone(),
            page: HistoryPage { messages: vec![bob(10), bob(12), bob(13)], more: false },
        });
        let rows = || rig.controller.messages().iter().map(|r| r.continued).collect::<Vec<_>>();
        assert_eq!(rows(), [false, true, true]);
        let ops = || rig.controller.state.borrow().timelines[&Conv::Everyone].operations();
        let before = ops();
        let carol = msg(11, "carol", Address::everyone(), "late");
        rig.controller.apply(Update::Event(Event::Message(carol)));
        assert_eq!(rows(), [false, false, false, true]);
        assert_eq!((ops().inserted, ops().changed), (before.inserted + 1, before.changed + 1));
    }

    #[test]
    fn typing_comes_and_goes_for_the_conversation_on_screen() {
        let rig = rig(0);
        let typing = |from: &str, for_ms| {
            Update::Event(Event::Typing { from: from.into(), with: Address::everyone(), for_ms })
        };
        let line = |text: &str| Show::Conversation(ConversationShow::Typing(text.into()));
        rig.controller.apply(typing("bob", 60_000));
        rig.controller.apply(typing("alice", 60_000)); // one's own other session
        rig.controller.apply(typing("carol", 60_000));
        assert_eq!(rig.take().1, [line("bob is typing…"), line("bob and carol are typing…")]);
        // Bob's message ends his typing.
        rig.controller.apply(Update::Event(Event::Message(msg(
            7,
            "bob",
            Address::everyone(),
            "x",
        ))));
        assert!(rig.take().1.contains(&line("carol is typing…")));
        // Another conversation shows its own (nobody), and back.
        rig.controller.select(Conv::With("bob".into()));
        assert!(rig.take().1.contains(&line("")));
        rig.controller.select(Conv::Everyone);
        assert!(rig.take().1.contains(&line("carol is typing…")));
        // Expired by the tick.
        rig.controller.apply(typing("carol", 0));
        rig.controller.tick();
        assert!(rig.take().1.contains(&line("")));
    }
}
