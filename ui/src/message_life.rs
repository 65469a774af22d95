//! The rules behind a bubble's menu and the signals around a conversation, pure so they are
//! tested without a window: what the composer is doing (a new message, a reply, an edit),
//! whether an edit or recall is still allowed, how a reaction toggles, how often "typing" is
//! told and how long it is shown, how far others have read and when to say one has read.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use quicq_common::nickname::key_of;

use crate::view::Conv;

/// What Send does with the composer's text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Compose {
    #[default]
    New,
    /// A new message quoting message `id` of `conv`.
    Reply { conv: Conv, id: u64 },
    /// New text for one's message `id` of `conv`; `draft` is what the box held before, given
    /// back when the edit is saved or cancelled.
    Edit { conv: Conv, id: u64, draft: String },
}

impl Compose {
    /// The conversation the mode belongs to (switching away leaves it).
    pub fn conv(&self) -> Option<&Conv> {
        match self {
            Compose::New => None,
            Compose::Reply { conv, .. } | Compose::Edit { conv, .. } => Some(conv),
        }
    }
}

/// Whether a change to a message sent at `sent_at_ms` is still allowed at `now_ms`, with a
/// window of `window_secs` (0: not known, the server decides).
pub fn within_window(sent_at_ms: i64, now_ms: i64, window_secs: u64) -> bool {
    if window_secs == 0 {
        return true;
    }
    let window_ms = i64::try_from(window_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    now_ms.saturating_sub(sent_at_ms) <= window_ms
}

/// The reaction to send when `chosen` is picked and one's reaction is `mine`: the same emoji
/// again takes it back (one emoji per user per message).
pub fn toggled(mine: Option<&str>, chosen: &str) -> Option<String> {
    if mine == Some(chosen) { None } else { Some(chosen.to_owned()) }
}

/// How often "typing" is told while the draft changes.
pub const TYPING_EVERY: Duration = Duration::from_secs(3);

/// When "typing" was last told, and for which conversation.
#[derive(Debug, Default)]
pub struct TypingSignal {
    last: Option<(Conv, Instant)>,
}

impl TypingSignal {
    /// The draft of `conv` changed at `now` (`blank`: it is empty now): whether to tell.
    pub fn typed(&mut self, conv: &Conv, blank: bool, now: Instant) -> bool {
        if blank {
            return false;
        }
        let recent = self.last.as_ref().is_some_and(|(last_conv, at)| {
            last_conv == conv && now.saturating_duration_since(*at) < TYPING_EVERY
        });
        if recent {
            return false;
        }
        self.last = Some((conv.clone(), now));
        true
    }

    /// A message was sent: the next keystroke is a new bout of typing.
    pub fn sent(&mut self) {
        self.last = None;
    }
}

/// Who is typing where, until when.
#[derive(Debug, Default)]
pub struct Typists {
    until: HashMap<Conv, Vec<(String, Instant)>>,
}

impl Typists {
    /// `who` is typing in `conv` until `until`.
    pub fn typing(&mut self, conv: Conv, who: &str, until: Instant) {
        let list = self.until.entry(conv).or_default();
        list.retain(|(name, _)| key_of(name) != key_of(who));
        list.push((who.to_owned(), until));
    }

    /// `who` sent a message to `conv`: done typing there. True when that changed something.
    pub fn done(&mut self, conv: &Conv, who: &str) -> bool {
        let Some(list) = self.until.get_mut(conv) else { return false };
        let before = list.len();
        list.retain(|(name, _)| key_of(name) != key_of(who));
        list.len() != before
    }

    /// Forgets whoever stopped by `now`; true when someone was forgotten in `conv`.
    pub fn expire(&mut self, conv: Option<&Conv>, now: Instant) -> bool {
        let mut changed = false;
        for (c, list) in &mut self.until {
            let before = list.len();
            list.retain(|(_, until)| *until > now);
            changed |= list.len() != before && Some(c) == conv;
        }
        self.until.retain(|_, list| !list.is_empty());
        changed
    }

    /// Who is typing in `conv`, in the order they started.
    pub fn names(&self, conv: &Conv) -> Vec<&str> {
        self.until.get(conv).map_or_else(Vec::new, |l| l.iter().map(|(n, _)| n.as_str()).collect())
    }
}

/// How far others have read each conversation, and how far one has said one read it.
#[derive(Debug, Default)]
pub struct ReadState {
    /// The furthest any other participant has read, per conversation.
    others: HashMap<Conv, u64>,
    /// What one last told the server, per conversation.
    told: HashMap<Conv, u64>,
    /// Read by one's own eyes and not told yet: told on the next tick, so a burst of messages
    /// read at the bottom costs one signal.
    wanted: Option<(Conv, u64)>,
}

impl ReadState {
    /// `by` read `conv` up to `up_to` (seen by `me`). Returns the range of ids that became read
    /// (after the old position, up to the new one), or `None` when nothing changed.
    pub fn read(&mut self, conv: Conv, by: &str, up_to: u64, me: &str) -> Option<(u64, u64)> {
        if key_of(by) == key_of(me) {
            return None;
        }
        let known = self.others.entry(conv).or_default();
        if up_to <= *known {
            return None;
        }
        let old = std::mem::replace(known, up_to);
        Some((old, up_to))
    }

    /// How far another participant has read `conv`.
    pub fn others(&self, conv: &Conv) -> u64 {
        self.others.get(conv).copied().unwrap_or(0)
    }

    /// One has seen `conv` up to `newest`: remembered for the next [`ReadState::due`].
    pub fn seen(&mut self, conv: &Conv, newest: u64) {
        if self.told.get(conv).is_none_or(|told| *told < newest) {
            self.wanted = Some((conv.clone(), newest));
        }
    }

    /// What to tell the server now, if anything.
    pub fn due(&mut self) -> Option<(Conv, u64)> {
        let (conv, up_to) = self.wanted.take()?;
        let told = self.told.entry(conv.clone()).or_default();
        if *told >= up_to {
            return None;
        }
        *told = up_to;
        Some((conv, up_to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_and_recall_windows() {
        // (sent at, now, window, allowed)
        let cases = [
            (0, 119_000, 120, true),
            (0, 120_000, 120, true),
            (0, 120_001, 120, false),
            (1_000, 0, 120, true),
            (0, i64::MAX, 0, true),
            (0, i64::MAX, u64::MAX, true),
        ];
        for (sent, now, window, allowed) in cases {
            assert_eq!(within_window(sent, now, window), allowed, "{sent} {now} {window}");
        }
    }

    #[test]
    fn a_reaction_toggles() {
        let cases =
            [(None, "👍", Some("👍")), (Some("👍"), "👍", None), (Some("👍"), "🎉", Some("🎉"))];
        for (mine, chosen, want) in cases {
            assert_eq!(toggled(mine, chosen).as_deref(), want, "{mine:?} {chosen}");
        }
    }

    #[test]
    fn typing_is_told_at_most_every_three_seconds_per_conversation() {
        let t0 = Instant::now();
        let bob = Conv::With("bob".into());
        let mut signal = TypingSignal::default();
        // (conversation, blank?, seconds after t0, told?)
        let cases = [
            (&bob, false, 0, true),
            (&bob, false, 1, false),
            (&bob, true, 2, false),
            (&bob, false, 3, true),
            (&Conv::Everyone, false, 4, true),
            (&bob, false, 5, true),
        ];
        for (conv, blank, secs, told) in cases {
            let now = t0 + Duration::from_secs(secs);
            assert_eq!(signal.typed(conv, blank, now), told, "at {secs} s");
        }
        signal.sent();
        assert!(signal.typed(&bob, false, t0 + Duration::from_secs(6)), "a new bout");
    }

    #[test]
    fn typists_expire_and_stop_when_they_send() {
        let t0 = Instant::now();
        let bob = Conv::With("bob".into());
        let mut typists = Typists::default();
        typists.typing(Conv::Everyone, "bob", t0 + Duration::from_secs(5));
        typists.typing(Conv::Everyone, "carol", t0 + Duration::from_secs(2));
        typists.typing(bob.clone(), "bob", t0 + Duration::from_secs(5));
        // Again: still one entry, with the later time.
        typists.typing(Conv::Everyone, "Bob", t0 + Duration::from_secs(8));
        assert_eq!(typists.names(&Conv::Everyone), ["carol", "Bob"]);
        assert!(!typists.expire(Some(&Conv::Everyone), t0 + Duration::from_secs(1)));
        assert!(typists.expire(Some(&Conv::Everyone), t0 + Duration::from_secs(3)));
        assert_eq!(typists.names(&Conv::Everyone), ["Bob"]);
        assert!(typists.done(&bob, "BOB"));
        assert!(typists.names(&bob).is_empty());
        assert!(!typists.expire(Some(&bob), t0 + Duration::from_secs(9)), "not the one shown");
        assert!(typists.names(&Conv::Everyone).is_empty());
    }

    #[test]
    fn read_positions_rise_and_one_tells_once_per_tick() {
        let bob = Conv::With("bob".into());
        let mut read = ReadState::default();
        // (by, up to, newly read ids)
        let cases = [
            ("bob", 5, Some((0, 5))),
            ("bob", 3, None),
            ("alice", 9, None), // one's own other session
            ("carol", 7, Some((5, 7))),
        ];
        for (by, up_to, want) in cases {
            assert_eq!(read.read(bob.clone(), by, up_to, "Alice"), want, "{by} {up_to}");
        }
        assert_eq!(read.others(&bob), 7);
        assert_eq!(read.others(&Conv::Everyone), 0);

        assert_eq!(read.due(), None);
        read.seen(&bob, 10);
        read.seen(&bob, 11);
        assert_eq!(read.due(), Some((bob.clone(), 11)), "only the newest");
        assert_eq!(read.due(), None);
        read.seen(&bob, 11);
        assert_eq!(read.due(), None, "told already");
    }
}
