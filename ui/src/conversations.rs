//! What the conversation list knows beyond who is online: each conversation's newest message
//! (its place in the list, its preview line and time), the members of each named group (for
//! "N online"), which conversations are muted, and
//! Plain Rust, tested on its own.

use std::collections::{BTreeMap, HashMap, HashSet};

use quicq_common::nickname::key_of;
use quicq_common::protocol::{ChatMessage, Event, MemberInfo, Role};

use crate::conv::{Conv, clock};
use crate::i18n::Texts;

/// Longest preview line, in characters, before it is cut with "…" (the view elides too; this
/// keeps a 4,000-character message from being laid out in every row).
pub const PREVIEW_CHARS: usize = 80;

/// A conversation's newest message as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Last {
    /// Server ids grow across the whole server, so they order conversations by recency.
    pub id: u64,
    /// The message the preview shows (the newest may be known only by its id, or have no
    /// preview of its own, like an edit).
    pub shown: u64,
    /// `14:03` or `11-25 14:03`; empty when only the id is known.
    pub time: String,
    /// `sender: text`, a file's name for a file; empty when only the id is known.
    pub preview: String,
}

/// Everything the list needs per conversation besides presence and unread counts.
#[derive(Debug, Default)]
pub struct Activity {
    last: HashMap<Conv, Last>,
    /// The message each preview was made from, to make it again in another language.
    previewed: HashMap<Conv, ChatMessage>,
    /// Named groups' members by group key, then by nickname key; absent until asked for.
    members: HashMap<String, BTreeMap<String, MemberInfo>>,
    muted: HashSet<Conv>,
    /// Named groups' topics by group key.
    topics: HashMap<String, String>,
}

impl Activity {
    /// Notes a message of `conv` if it is newer than what is known. Changes to other messages
    /// (edits, recalls, reactions) are not activity. True when the list changed.
    pub fn note(&mut self, conv: &Conv, m: &ChatMessage, me: &str, texts: &Texts) -> bool {
        if self.last.get(conv).is_some_and(|l| l.shown >= m.id) {
            return false;
        }
        let Some(preview) = preview(m, me, texts) else { return false };
        let id = self.last.get(conv).map_or(m.id, |l| l.id.max(m.id));
        self.last.insert(conv.clone(), Last { id, shown: m.id, time: clock(m.at), preview });
        self.previewed.insert(conv.clone(), m.clone());
        true
    }

    /// The previews again, in the language of `texts` (the settings page changed it).
    pub fn relabel(&mut self, me: &str, texts: &Texts) {
        for (conv, m) in &self.previewed {
            if let (Some(last), Some(preview)) = (self.last.get_mut(conv), preview(m, me, texts)) {
                last.preview = preview;
            }
        }
    }

    /// Notes a message of `conv` (see [`Activity::note`]) and follows it if it changes a
    /// group's members. True when the group's members should be asked for.
    pub fn noted(&mut self, conv: &Conv, m: &ChatMessage, me: &str, texts: &Texts) -> bool {
        self.note(conv, m, me, texts);
        match conv {
            Conv::Group(key) => self.membership(key, m),
            _ => false,
        }
    }

    /// Knows only that `conv`'s newest message is `id` (from the server's conversation list).
    pub fn touch(&mut self, conv: &Conv, id: u64) {
        if id == 0 {
            return;
        }
        let last = self.last.entry(conv.clone()).or_insert_with(|| Last {
            id: 0,
            shown: 0,
            time: String::new(),
            preview: String::new(),
        });
        last.id = last.id.max(id);
    }

    pub fn last(&self, conv: &Conv) -> Option<&Last> {
        self.last.get(conv)
    }

    /// A renamed group keeps its place and preview.
    pub fn renamed(&mut self, old: &str, new: &str) {
        if let Some(last) = self.last.remove(&Conv::Group(old.to_owned())) {
            self.last.insert(Conv::Group(new.to_owned()), last);
        }
        if let Some(m) = self.previewed.remove(&Conv::Group(old.to_owned())) {
            self.previewed.insert(Conv::Group(new.to_owned()), m);
        }
        if let Some(members) = self.members.remove(old) {
            self.members.insert(new.to_owned(), members);
        }
        if let Some(topic) = self.topics.remove(old) {
            self.topics.insert(new.to_owned(), topic);
        }
        if self.muted.remove(&Conv::Group(old.to_owned())) {
            self.muted.insert(Conv::Group(new.to_owned()));
        }
    }

    pub fn set_members(&mut self, group: &str, members: Vec<MemberInfo>) {
        let members = members.into_iter().map(|m| (key_of(&m.name), m)).collect();
        self.members.insert(key_of(group), members);
    }

    /// The members of a group, if known, in the order they are listed (owner, admins, then
    /// members, each in natural name order).
    pub fn members(&self, group: &str) -> Option<Vec<&MemberInfo>> {
        let members = self.members.get(&key_of(group))?;
        let rank = |r: &Role| match r {
            Role::Owner => 0,
            Role::Admin => 1,
            Role::Member => 2,
        };
        let mut list: Vec<&MemberInfo> = members.values().collect();
        list.sort_by(|a, b| {
            rank(&a.role)
                .cmp(&rank(&b.role))
                .then_with(|| crate::names::natural_cmp(&a.name, &b.name))
        });
        Some(list)
    }

    /// Follows a membership event of group `group`. Returns true when the members should be
    /// asked for again: they are not known, or the event cannot be applied here.
    pub fn membership(&mut self, group: &str, m: &ChatMessage) -> bool {
        let Some(event) = m.event.as_deref() else { return false };
        if event.applies_to().is_some() {
            return false;
        }
        if let Event::Topic { topic } = event {
            self.topics.insert(key_of(group), topic.clone());
        }
        let Some(members) = self.members.get_mut(&key_of(group)) else {
            return !matches!(event, Event::Deleted {});
        };
        let member = |name: &str, role| MemberInfo { name: name.to_owned(), role, online: true };
        match event {
            Event::Created { .. } => {
                members.insert(key_of(&m.from), member(&m.from, Role::Owner));
            }
            Event::Added { user } => {
                members.entry(key_of(user)).or_insert_with(|| member(user, Role::Member));
            }
            Event::Left {} => {
                members.remove(&key_of(&m.from));
            }
            Event::Removed { user } => {
                members.remove(&key_of(user));
            }
            Event::Role { user, role } => match members.get_mut(&key_of(user)) {
                Some(found) => found.role = *role,
                None => return true,
            },
            Event::Deleted {} => {
                self.members.remove(&key_of(group));
            }
            _ => {}
        }
        false
    }

    /// How many of a group's members are online, by `online` (the roster's presence); `None`
    /// while its members are not known.
    pub fn online_in(&self, group: &str, online: impl Fn(&str) -> bool) -> Option<usize> {
        let members = self.members.get(&key_of(group))?;
        Some(members.keys().filter(|k| online(k)).count())
    }

    /// The topics of `welcome`'s groups.
    pub fn set_topics(&mut self, groups: &[quicq_common::protocol::GroupInfo]) {
        self.topics = groups.iter().map(|g| (key_of(&g.name), g.topic.clone())).collect();
    }

    pub fn topic(&self, group: &str) -> &str {
        self.topics.get(&key_of(group)).map_or("", String::as_str)
    }

    pub fn set_muted(&mut self, conv: &Conv, muted: bool) {
        if muted {
            self.muted.insert(conv.clone());
        } else {
            self.muted.remove(conv);
        }
    }

    pub fn is_muted(&self, conv: &Conv) -> bool {
        self.muted.contains(conv)
    }

    /// The muted conversations as list row keys, in order (to be kept between runs).
    pub fn muted_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.muted.iter().map(Conv::row_key).collect();
        keys.sort();
        keys
    }

    pub fn set_muted_keys(&mut self, keys: &[String]) {
        self.muted = keys.iter().map(|k| Conv::from_row_key(k)).collect();
    }
}

/// The window's title: the unread total first, as `(3) QuicQ`, capped like a badge.
pub fn window_title(unread: u32) -> String {
    match unread {
        0 => "QuicQ".to_owned(),
        n => format!("({}) QuicQ", crate::names::badge(n)),
    }
}

/// A message's preview line: `sender: text` (`You: …` for one's own), a file's name for a file,
/// a membership event in words, "(message recalled)"; `None` for changes to other messages and
/// events this build does not know. One line, cut to [`PREVIEW_CHARS`].
pub fn preview(m: &ChatMessage, me: &str, texts: &Texts) -> Option<String> {
    let sender =
        if key_of(&m.from) == key_of(me) { texts.you().to_owned() } else { m.from.clone() };
    let line = if m.recalled {
        texts.recalled().to_owned()
    } else if let Some(event) = m.event.as_deref() {
        if event.applies_to().is_some() {
            return None;
        }
        texts.event(&m.from, event)?
    } else if let Some(file) = &m.file {
        texts.said(&sender, &file.name)
    } else {
        texts.said(&sender, &m.text)
    };
    let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(match line.char_indices().nth(PREVIEW_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    })
}

#[cfg(test)]
mod tests {
    use quicq_common::protocol::{Address, FileInfo};

    use super::*;

    fn msg(id: u64, from: &str, text: &str) -> ChatMessage {
        ChatMessage {
            id,
            from: from.into(),
            to: Address::everyone(),
            text: text.into(),
            ..Default::default()
        }
    }

    fn event(id: u64, from: &str, event: Event) -> ChatMessage {
        ChatMessage { event: Some(Box::new(event)), ..msg(id, from, "") }
    }

    #[test]
    fn previews_say_who_and_what_on_one_line() {
        let texts = Texts::english();
        let zh = Texts::new(crate::i18n::Lang::Chinese);
        let mut file = msg(1, "bob", "");
        file.file = Some(FileInfo {
            id: 1,
            name: "报告.pdf".into(),
            size: 3,
            blake3: String::new(),
            transfer_id: String::new(),
        });
        let mut recalled = msg(1, "bob", "");
        recalled.recalled = true;
        let long = "x".repeat(PREVIEW_CHARS + 5);
        let cases = [
            ("text", msg(1, "bob", "hi there"), Some("bob: hi there".to_owned())),
            ("own", msg(1, "Alice", "mine"), Some("You: mine".to_owned())),
            ("lines joined", msg(1, "bob", "one\n two"), Some("bob: one two".to_owned())),
            ("file by name", file, Some("bob: 报告.pdf".to_owned())),
            ("recalled", recalled, Some("(message recalled)".to_owned())),
            (
                "membership",
                event(1, "bob", Event::Added { user: "carol".into() }),
                Some("bob added carol".to_owned()),
            ),
            (
                "an edit is not news",
                event(1, "bob", Event::Edited { id: 0, text: "x".into() }),
                None,
            ),
            ("cut", msg(1, "bob", &long), Some(format!("bob: {}…", &long[..PREVIEW_CHARS - 5]))),
        ];
        for (name, m, want) in cases {
            assert_eq!(preview(&m, "alice", &texts), want, "{name}");
        }
        assert_eq!(preview(&msg(1, "alice", "中文"), "alice", &zh).unwrap(), "我：中文");
    }

    #[test]
    fn the_title_counts_unread_messages() {
        let cases = [(0, "QuicQ"), (3, "(3) QuicQ"), (1000, "(99+) QuicQ")];
        for (unread, title) in cases {
            assert_eq!(window_title(unread), title);
        }
    }

    #[test]
    fn the_newest_message_wins_and_ids_alone_keep_the_order() {
        let texts = Texts::english();
        let mut activity = Activity::default();
        let bob = Conv::With("bob".into());
        activity.touch(&bob, 5);
        assert_eq!(activity.last(&bob).unwrap().preview, "");
        assert!(activity.note(&bob, &msg(7, "bob", "new"), "alice", &texts));
        assert!(!activity.note(&bob, &msg(6, "bob", "older page"), "alice", &texts));
        activity.touch(&bob, 6);
        let last = |a: &Activity| a.last(&bob).map(|l| (l.id, l.preview.clone()));
        assert_eq!(last(&activity), Some((7, "bob: new".into())));
        assert!(!activity.note(&bob, &event(8, "bob", Event::Recalled { id: 7 }), "alice", &texts));
        // Only the id of a newer one known (the server's list): first in order, old preview kept
        // until a message with a preview comes.
        activity.touch(&bob, 12);
        assert_eq!(last(&activity), Some((12, "bob: new".into())));
        assert!(activity.note(&bob, &msg(10, "bob", "page"), "alice", &texts));
        assert_eq!(last(&activity), Some((12, "bob: page".into())));
    }

    #[test]
    fn group_members_follow_membership_events() {
        let member = |name: &str, role| MemberInfo { name: name.into(), role, online: true };
        let mut activity = Activity::default();
        let g = "Rust";
        assert!(activity.membership(g, &event(1, "bob", Event::Added { user: "a".into() })), "ask");
        activity.set_members(g, vec![member("bob", Role::Owner), member("alice", Role::Member)]);
        let steps: &[(ChatMessage, bool, &[&str])] = &[
            (
                event(2, "bob", Event::Added { user: "carol".into() }),
                false,
                &["bob", "alice", "carol"],
            ),
            (
                event(3, "bob", Event::Role { user: "carol".into(), role: Role::Admin }),
                false,
                &["bob", "carol", "alice"],
            ),
            (event(4, "carol", Event::Left {}), false, &["bob", "alice"]),
            (event(5, "bob", Event::Removed { user: "alice".into() }), false, &["bob"]),
            (
                event(6, "bob", Event::Role { user: "dan".into(), role: Role::Admin }),
                true,
                &["bob"],
            ),
            (msg(7, "bob", "plain"), false, &["bob"]),
        ];
        for (m, ask, names) in steps {
            assert_eq!(activity.membership("rust", m), *ask, "{m:?}");
            let now: Vec<_> = activity.members(g).unwrap().iter().map(|m| m.name.clone()).collect();
            assert_eq!(now, *names, "{m:?}");
        }
        assert_eq!(activity.online_in(g, |k| k == "bob"), Some(1));
        assert_eq!(activity.online_in("other", |_| true), None);
        activity.membership(g, &event(8, "bob", Event::Deleted {}));
        assert!(activity.members(g).is_none());
    }
}
