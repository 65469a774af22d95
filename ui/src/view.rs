//! What the window shows, computed from what the client knows: the user tree, conversations and
//! transfers. Plain Rust, no network and no window, so it is tested on its own.

use std::collections::{BTreeMap, HashMap};

use quicq_client::TransferKey;
use quicq_common::nickname::key_of;
use quicq_common::protocol::{
    Address, ChatMessage, EVERYONE, Event, GroupInfo, Quote, Reaction, UserInfo,
};
use slint::SharedString;

pub use crate::conv::{Conv, clock};
use crate::conversations::Activity;
use crate::generated::{MessageRow, TransferRow, UserRow};
use crate::i18n::Texts;
use crate::names::{badge, natural_cmp};

/// A named group as the tree shows it. (No member count: events caught up after `welcome`
/// would count twice; showing members and presence is the desktop-client issue's.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
}

#[derive(Debug, Clone)]
struct Person {
    name: String,
    online: bool,
}

/// Everyone known, who is online, and unread counts per conversation.
#[derive(Debug, Default)]
pub struct Roster {
    people: BTreeMap<String, Person>,
    /// Named groups one is in, by name key.
    groups: BTreeMap<String, GroupEntry>,
    unread: HashMap<Conv, u32>,
    /// The link to the server is down: what is known of presence is stale, so nobody is shown
    /// online until it is back.
    link_down: bool,
}

impl Roster {
    /// Whether the link to the server is up; presence is only shown while it is.
    pub fn set_link(&mut self, up: bool) {
        self.link_down = !up;
    }

    pub fn link_up(&self) -> bool {
        !self.link_down
    }

    pub fn set_users(&mut self, users: &[UserInfo]) {
        self.people = users
            .iter()
            .map(|u| (key_of(&u.name), Person { name: u.name.clone(), online: u.online }))
            .collect();
    }

    pub fn presence(&mut self, user: &str, online: bool) {
        self.people
            .entry(key_of(user))
            .and_modify(|p| p.online = online)
            .or_insert_with(|| Person { name: user.to_owned(), online });
    }

    /// The named groups of `welcome` (`everyone` is left out).
    pub fn set_groups(&mut self, groups: &[GroupInfo]) {
        self.groups = groups
            .iter()
            .filter(|g| key_of(&g.name) != EVERYONE)
            .map(|g| (key_of(&g.name), GroupEntry { name: g.name.clone() }))
            .collect();
    }

    /// A group one just created (its `created` event may come after the answer).
    pub fn add_group(&mut self, name: &str) {
        self.groups.insert(key_of(name), GroupEntry { name: name.to_owned() });
    }

    pub fn group(&self, key: &str) -> Option<&GroupEntry> {
        self.groups.get(key)
    }

    /// Follows a group's membership events (and learns of groups from their messages), as `me`
    /// sees them. Returns the group's old key when it was renamed, so its history can follow.
    pub fn group_message(&mut self, message: &ChatMessage, me: &str) -> Option<String> {
        let Conv::Group(key) = Conv::of(message, me) else { return None };
        let Address::Group(name) = &message.to else { return None };
        let is_me = |user: &str| key_of(user) == key_of(me);
        if let Some(Event::Renamed { old, .. }) = message.event.as_deref() {
            let old = key_of(old);
            if old != key && self.groups.remove(&old).is_some() {
                self.groups.insert(key, GroupEntry { name: name.clone() });
                return Some(old);
            }
        }
        let gone = match message.event.as_deref() {
            Some(Event::Left {}) => is_me(&message.from),
            Some(Event::Removed { user }) => is_me(user),
            Some(Event::Deleted {}) => true,
            _ => false,
        };
        if gone {
            self.groups.remove(&key);
            return None;
        }
        self.groups.insert(key, GroupEntry { name: name.clone() });
        None
    }

    /// Whether the person with this nickname key is shown online (never while the link is down).
    pub fn is_online(&self, key: &str) -> bool {
        !self.link_down && self.people.get(key).is_some_and(|p| p.online)
    }

    /// The display name of a conversation's other person, if known.
    pub fn name_of(&self, key: &str) -> Option<&str> {
        self.people.get(key).map(|p| p.name.as_str())
    }

    pub fn online_count(&self) -> usize {
        self.people.values().filter(|p| p.online).count()
    }

    pub fn add_unread(&mut self, conv: Conv) {
        *self.unread.entry(conv).or_default() += 1;
    }

    pub fn clear_unread(&mut self, conv: &Conv) {
        self.unread.remove(conv);
    }

    /// The server's count from before this session, unless more were counted here already.
    pub fn set_unread(&mut self, conv: Conv, count: u32) {
        let unread = self.unread.entry(conv).or_default();
        *unread = (*unread).max(count);
    }

    pub fn unread(&self, conv: &Conv) -> u32 {
        self.unread.get(conv).copied().unwrap_or(0)
    }

    /// The list: everyone first, then the named groups (pinned, in natural name order,
    /// [`names::natural_cmp`]), then everyone but `me`: those one has talked with, most recent
    /// first, then the rest, online first, in natural name order. Each row has its newest
    /// message's preview and time; groups say how many members are online. While the link is
    /// down nobody is online and the root says so instead of a count.
    pub fn rows(
        &self,
        me: &str,
        selected: &Conv,
        activity: &Activity,
        texts: &Texts,
    ) -> Vec<UserRow> {
        let me = key_of(me);
        let up = !self.link_down;
        let mut people: Vec<(&String, &Person)> =
            self.people.iter().filter(|(k, _)| **k != me).collect();
        let recent = |key: &String| activity.last(&Conv::With(key.clone())).map(|l| l.id);
        people.sort_by(|(ka, a), (kb, b)| {
            recent(kb).cmp(&recent(ka)).then_with(|| {
                (!(up && a.online))
                    .cmp(&!(up && b.online))
                    .then_with(|| natural_cmp(&a.name, &b.name))
            })
        });
        let mut groups: Vec<(&String, &GroupEntry)> = self.groups.iter().collect();
        groups.sort_by(|(_, a), (_, b)| natural_cmp(&a.name, &b.name));
        let row = |conv: Conv, key: String, label: String, online: bool| {
            let unread = self.unread(&conv);
            let last = activity.last(&conv);
            UserRow {
                key: key.into(),
                label: label.into(),
                online,
                unread: unread as i32,
                badge: badge(unread).into(),
                is_root: conv == Conv::Everyone,
                is_group: matches!(conv, Conv::Group(_)),
                selected: *selected == conv,
                preview: last.map(|l| l.preview.as_str()).unwrap_or_default().into(),
                time: last.map(|l| l.time.as_str()).unwrap_or_default().into(),
                detail: SharedString::new(),
                muted: activity.is_muted(&conv),
            }
        };
        let root_label =
            if up { texts.everyone(self.online_count()) } else { texts.everyone_offline() };
        let root = row(Conv::Everyone, String::new(), root_label, up);
        let online = |key: &str| up && self.people.get(key).is_some_and(|p| p.online);
        let groups = groups.into_iter().map(|(key, g)| {
            let mut row =
                row(Conv::Group(key.clone()), format!("#{key}"), format!("# {}", g.name), up);
            if let Some(n) = activity.online_in(key, online).filter(|_| up) {
                row.detail = texts.online(n).into();
            }
            row
        });
        let people = people.into_iter().map(|(key, p)| {
            row(Conv::With(key.clone()), key.clone(), p.name.clone(), up && p.online)
        });
        std::iter::once(root).chain(groups).chain(people).collect()
    }
}

/// One conversation's messages, by id (clients order by id, not arrival).
#[derive(Debug, Default)]
pub struct History {
    messages: BTreeMap<u64, ChatMessage>,
    /// Whether older pages exist on the server.
    pub more: bool,
    /// Whether the newest page was fetched.
    pub loaded: bool,
    /// The `before` of the last older page asked for: each turn of the wheel at the top asks
    /// again, and one request per page is enough.
    pub asked_before: Option<u64>,
}

impl History {
    /// Adds a message, or applies an event that changes an earlier one (edit, recall,
    /// reaction) to it if it is held. True when something changed.
    pub fn add(&mut self, message: ChatMessage) -> bool {
        let Some(target) = message.event.as_deref().and_then(Event::applies_to) else {
            return self.messages.insert(message.id, message).is_none();
        };
        let Some(original) = self.messages.get_mut(&target) else { return false };
        match message.event.map(|e| *e) {
            Some(Event::Edited { text, .. }) => {
                original.text = text;
                original.edited_at = Some(message.at);
            }
            Some(Event::Recalled { .. }) => {
                original.recalled = true;
                original.text.clear();
                original.file = None;
                original.reactions.clear();
            }
            Some(Event::Reacted { emoji, .. }) => {
                for reaction in &mut original.reactions {
                    reaction.users.retain(|u| key_of(u) != key_of(&message.from));
                }
                original.reactions.retain(|r| !r.users.is_empty());
                if let Some(emoji) = emoji {
                    match original.reactions.iter_mut().find(|r| r.emoji == emoji) {
                        Some(reaction) => reaction.users.push(message.from),
                        None => {
                            original.reactions.push(Reaction { emoji, users: vec![message.from] })
                        }
                    }
                }
            }
            _ => return false,
        }
        true
    }

    pub fn get(&self, id: u64) -> Option<&ChatMessage> {
        self.messages.get(&id)
    }

    /// The messages with ids after `after`, up to `up_to`.
    pub fn between(&self, after: u64, up_to: u64) -> impl Iterator<Item = &ChatMessage> {
        let later = self.messages.range(after.saturating_add(1)..);
        later.take_while(move |(id, _)| **id <= up_to).map(|(_, m)| m)
    }

    pub fn newest(&self) -> Option<u64> {
        self.messages.keys().next_back().copied()
    }

    pub fn oldest(&self) -> Option<u64> {
        self.messages.keys().next().copied()
    }

    pub fn messages(&self) -> impl Iterator<Item = &ChatMessage> {
        self.messages.values()
    }
}

/// What is known about a file's download.
#[derive(Debug, Clone, PartialEq)]
pub enum FileStatus {
    Receiving {
        done: u64,
        total: u64,
    },
    Saved(std::path::PathBuf),
    Failed(String),
    /// Larger than the user downloads by themselves: Download or Decline.
    Offered,
    Declined,
}

/// Bubbles for a conversation, oldest first.
pub fn message_rows(
    history: &History,
    me: &str,
    files: &HashMap<u64, FileStatus>,
    texts: &Texts,
) -> Vec<MessageRow> {
    history.messages().filter_map(|m| message_row(m, me, files, texts, 0)).collect()
}

/// One message's bubble; `None` when it is not shown (an event kind this build does not know).
/// `read_up_to`: how far another participant has read the conversation (one's own messages up
/// to it show "read").
pub fn message_row(
    m: &ChatMessage,
    me: &str,
    files: &HashMap<u64, FileStatus>,
    texts: &Texts,
    read_up_to: u64,
) -> Option<MessageRow> {
    let text = shown_text(m, texts)?;
    let own = key_of(&m.from) == key_of(me);
    let (is_file, file_name, file_size, file_path, file_state) = match &m.file {
        Some(f) => {
            let (path, state) = match files.get(&f.id) {
                Some(FileStatus::Saved(p)) => (p.display().to_string(), texts.saved().to_owned()),
                Some(FileStatus::Receiving { done, total }) => {
                    (String::new(), texts.receiving(percent(*done, *total)))
                }
                Some(FileStatus::Failed(why)) => (String::new(), why.clone()),
                Some(FileStatus::Offered) => (String::new(), texts.offered().to_owned()),
                Some(FileStatus::Declined) => (String::new(), texts.declined().to_owned()),
                None => (String::new(), String::new()),
            };
            (true, f.name.clone(), human_size(f.size), path, state)
        }
        None => (false, String::new(), String::new(), String::new(), String::new()),
    };
    Some(MessageRow {
        sender: m.from.as_str().into(),
        time: clock(m.at).into(),
        text: text.into(),
        own,
        is_file,
        file_name: file_name.into(),
        file_size: file_size.into(),
        file_path: file_path.into(),
        file_state: file_state.into(),
        status: SharedString::new(),
        local: 0,
        id: m.id.to_string().into(),
        quote: m.reply_to.as_deref().map(|q| quote_line(q, texts)).unwrap_or_default().into(),
        reactions: reaction_counts(&m.reactions).into(),
        can_answer: answerable(m),
        can_change: own && answerable(m),
        read: own && answerable(m) && m.id <= read_up_to,
        full_time: full_time(m.at).into(),
        initials: initials(&m.from).into(),
        avatar: avatar_colour(&m.from),
        link: if m.recalled { String::new() } else { first_link(&m.text).unwrap_or_default() }
            .into(),
        // Set from the row above, where the row is placed.
        continued: false,
        day: SharedString::new(),
        offered: m.file.as_ref().is_some_and(|f| files.get(&f.id) == Some(&FileStatus::Offered)),
        // Set where the row is placed, once the preview is made.
        has_thumbnail: false,
        thumbnail: slint::Image::default(),
    })
}

/// A sender's avatar: the first letter of the name, upper-cased (the first character for
/// names in scripts without case).
pub fn initials(name: &str) -> String {
    name.chars().next().map(|c| c.to_uppercase().collect()).unwrap_or_default()
}

/// One of six colours, the same for the same name (by its key) in every run.
pub fn avatar_colour(name: &str) -> i32 {
    let sum =
        key_of(name).bytes().fold(0u32, |sum, b| sum.wrapping_mul(31).wrapping_add(u32::from(b)));
    (sum % 6) as i32
}

/// The first `http://` or `https://` address in `text`, without trailing punctuation.
pub fn first_link(text: &str) -> Option<String> {
    let start = ["https://", "http://"].iter().filter_map(|s| text.find(s)).min()?;
    let rest = &text[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || "<>\"'“”「」（）。，、".contains(c))
        .unwrap_or(rest.len());
    let link = rest[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']', '。', '，']);
    (link.len() > "https://".len()).then(|| link.to_owned())
}

/// How long apart two messages of one sender may be and still be one group.
const GROUP_MS: i64 = 5 * 60 * 1000;

/// Whether `m` continues the group of the message shown above it: the same person, minutes
/// apart, the same day (its name and avatar are then left out).
pub fn continues(prev: Option<&ChatMessage>, m: &ChatMessage) -> bool {
    use chrono::{Local, TimeZone};
    let day = |at: i64| Local.timestamp_millis_opt(at).single().map(|t| t.date_naive());
    prev.is_some_and(|p| {
        p.event.is_none()
            && m.event.is_none()
            && key_of(&p.from) == key_of(&m.from)
            && (0..GROUP_MS).contains(&(m.at - p.at))
            && day(p.at) == day(m.at)
    })
}

/// The day separator at the top of `m`'s row ("Today", "Yesterday", "December 1"), in local
/// time, seen on `today`; empty when the row above (`prev`) is of the same day.
pub fn day_header(
    prev: Option<&ChatMessage>,
    m: &ChatMessage,
    texts: &Texts,
    today: chrono::NaiveDate,
) -> String {
    use chrono::Local;
    if !crate::conv::starts_day(prev.map(|p| p.at), m.at, &Local) {
        return String::new();
    }
    day_label(m, texts, today)
}

/// The day of message `m` as its separator says it, seen on `today`.
pub fn day_label(m: &ChatMessage, texts: &Texts, today: chrono::NaiveDate) -> String {
    match crate::conv::day_in(m.at, &chrono::Local) {
        Some(day) => texts.day(day, today),
        None => String::new(),
    }
}

/// `2026-12-03 14:03:27`, in local time.
pub fn full_time(at_ms: i64) -> String {
    use chrono::{Local, TimeZone};
    match Local.timestamp_millis_opt(at_ms).single() {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        None => String::new(),
    }
}

/// A message a person wrote that is still there: it can be answered (reply, reaction), and
/// changed by its sender.
pub fn answerable(m: &ChatMessage) -> bool {
    m.event.is_none() && !m.recalled
}

/// The quoted message above a reply's text: its sender and the start of its first line.
pub fn quote_line(quote: &Quote, texts: &Texts) -> String {
    let what = if quote.recalled {
        texts.recalled().to_owned()
    } else if let Some(name) = &quote.file_name {
        format!("📎 {name}")
    } else {
        snippet(&quote.text)
    };
    format!("{}: {what}", quote.from)
}

/// The first line of `text`, cut to a few words' length with "…" when there is more.
pub fn snippet(text: &str) -> String {
    const CHARS: usize = 60;
    let line = text.trim().lines().next().unwrap_or_default();
    let cut: String = line.chars().take(CHARS).collect();
    if cut.len() < text.trim().len() { format!("{cut}…") } else { cut }
}

/// Reactions under the bubble, as counts: `👍 2   🎉 1`.
pub fn reaction_counts(reactions: &[Reaction]) -> String {
    let counts: Vec<String> = reactions
        .iter()
        .filter(|r| !r.users.is_empty())
        .map(|r| format!("{} {}", r.emoji, r.users.len()))
        .collect();
    counts.join("   ")
}

/// The emoji `me` reacted to `m` with, if any.
pub fn my_reaction<'a>(m: &'a ChatMessage, me: &str) -> Option<&'a str> {
    m.reactions
        .iter()
        .find(|r| r.users.iter().any(|u| key_of(u) == key_of(me)))
        .map(|r| r.emoji.as_str())
}

/// Where a message sent from this window is before the server has stored it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStatus {
    Sending,
    /// Stored; its own bubble comes with the server's copy.
    Sent,
    Failed,
}

/// The bubble of a message sent from this window and not yet back from the server.
pub fn pending_row(me: &str, text: &str, status: SendStatus, local: u64) -> MessageRow {
    MessageRow {
        sender: me.into(),
        text: text.into(),
        own: true,
        status: match status {
            SendStatus::Sending => "sending",
            SendStatus::Sent => "sent",
            SendStatus::Failed => "failed",
        }
        .into(),
        local: i32::try_from(local).unwrap_or(i32::MAX),
        ..MessageRow::default()
    }
}

/// What a message shows as its text: a placeholder once recalled, a line for a membership
/// event, the text marked when edited. (Reactions are counted under it, in their own line.)
/// `None`: not shown at all (an event kind this build does not know).
fn shown_text(m: &ChatMessage, texts: &Texts) -> Option<String> {
    let text = if m.recalled {
        texts.recalled().to_owned()
    } else if let Some(event) = m.event.as_deref() {
        texts.event(&m.from, event)?
    } else if m.edited_at.is_some() {
        format!("{} {}", m.text, texts.edited())
    } else {
        m.text.clone()
    };
    Some(text)
}

/// A running transfer as the panel shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    pub key: TransferKey,
    pub name: String,
    pub done: u64,
    pub total: u64,
    pub bytes_per_sec: f64,
}

impl Transfer {
    pub fn row(&self, texts: &Texts) -> TransferRow {
        let (upload, key) = match &self.key {
            TransferKey::Upload(id) => (true, format!("u:{id}")),
            TransferKey::Download(id) => (false, format!("d:{id}")),
        };
        TransferRow {
            key: key.into(),
            name: self.name.as_str().into(),
            upload,
            progress: if self.total == 0 {
                1.0
            } else {
                (self.done as f64 / self.total as f64) as f32
            },
            detail: texts
                .transfer_detail(
                    &human_size(self.done),
                    &human_size(self.total),
                    &human_rate(self.bytes_per_sec),
                )
                .into(),
        }
    }

    /// Parses a row key back into the transfer it names.
    pub fn key_from_row(key: &str) -> Option<TransferKey> {
        if let Some(id) = key.strip_prefix("u:") {
            return Some(TransferKey::Upload(id.to_owned()));
        }
        key.strip_prefix("d:").and_then(|id| id.parse().ok()).map(TransferKey::Download)
    }
}

fn percent(done: u64, total: u64) -> u32 {
    done.saturating_mul(100).checked_div(total).map_or(100, |p| p.min(100) as u32)
}

/// `532 B`, `1.4 KiB`, `12.0 MiB`, `3.25 GiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    let digits = if value < 10.0 {
        2
    } else if value < 100.0 {
        1
    } else {
        0
    };
    format!("{value:.digits$} {}", UNITS[unit])
}

pub fn human_rate(bytes_per_sec: f64) -> String {
    format!("{}/s", human_size(bytes_per_sec.max(0.0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quicq_common::protocol::FileInfo;

    fn msg(id: u64, from: &str, to: Address) -> ChatMessage {
        ChatMessage {
            id,
            from: from.into(),
            to,
            text: format!("m{id}"),
            at: 0,
            file: None,
            ..Default::default()
        }
    }

    #[test]
    fn messages_belong_to_the_right_conversation() {
        let me = "Alice";
        assert_eq!(Conv::of(&msg(1, "bob", Address::everyone()), me), Conv::Everyone);
        assert_eq!(
            Conv::of(&msg(2, "Bob", Address::User("alice".into())), me),
            Conv::With("bob".into())
        );
        assert_eq!(
            Conv::of(&msg(3, "ALICE", Address::User("Bob".into())), me),
            Conv::With("bob".into())
        );
        assert_eq!(Conv::from_row_key(""), Conv::Everyone);
        assert_eq!(Conv::from_row_key("小明"), Conv::With("小明".into()));
    }

    #[test]
    fn tree_has_the_group_first_then_online_people_then_the_rest() {
        let texts = Texts::english();
        let mut roster = Roster::default();
        roster.set_users(&[
            UserInfo { name: "zed".into(), online: true },
            UserInfo { name: "Amy".into(), online: false },
            UserInfo { name: "me".into(), online: true },
            UserInfo { name: "bob".into(), online: true },
        ]);
        roster.presence("小明", true);
        roster.add_unread(Conv::With("amy".into()));
        roster.add_unread(Conv::With("amy".into()));
        let rows = roster.rows("ME", &Conv::With("bob".into()), &Activity::default(), &texts);
        let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["Everyone (4 online)", "bob", "zed", "小明", "Amy"]);
        assert!(rows[0].is_root && !rows[0].selected);
        assert!(rows[1].selected);
        assert_eq!(rows[4].unread, 2);
        roster.clear_unread(&Conv::With("amy".into()));
        assert_eq!(roster.rows("me", &Conv::Everyone, &Activity::default(), &texts)[4].unread, 0);
        roster.presence("zed", false);
        assert_eq!(roster.online_count(), 3);
    }

    #[test]
    fn the_list_pins_the_groups_and_orders_people_by_their_newest_message() {
        use quicq_common::protocol::{MemberInfo, Role};
        let texts = Texts::english();
        let mut roster = Roster::default();
        let names = ["amy", "bob", "carol", "dan", "me"];
        roster.set_users(&names.map(|n| UserInfo { name: n.into(), online: n != "amy" }));
        roster.set_groups(&[
            GroupInfo { name: "Zoo".into(), ..Default::default() },
            GroupInfo { name: "Rust".into(), ..Default::default() },
        ]);
        let mut activity = Activity::default();
        let said = |id, from: &str, to: &str| ChatMessage {
            text: format!("m{id}"),
            ..msg(id, from, Address::User(to.into()))
        };
        activity.note(&Conv::With("carol".into()), &said(5, "carol", "me"), "me", &texts);
        activity.note(&Conv::With("amy".into()), &said(9, "me", "amy"), "me", &texts);
        activity.note(&Conv::Group("zoo".into()), &said(20, "bob", "x"), "me", &texts);
        let member =
            |name: &str| MemberInfo { name: name.into(), role: Role::Member, online: true };
        activity.set_members("Rust", vec![member("me"), member("amy"), member("bob")]);
        activity.set_muted(&Conv::With("carol".into()), true);
        let rows = roster.rows("me", &Conv::Everyone, &activity, &texts);
        let shown: Vec<(&str, &str, &str)> = rows
            .iter()
            .map(|r| (r.label.as_str(), r.preview.as_str(), r.detail.as_str()))
            .collect();
        assert_eq!(
            shown,
            [
                ("Everyone (4 online)", "", ""),
                ("# Rust", "", "2 online"),
                ("# Zoo", "bob: m20", ""),
                ("amy", "You: m9", ""),
                ("carol", "carol: m5", ""),
                ("bob", "", ""),
                ("dan", "", ""),
            ],
            "groups pinned in name order, then the most recent talk, then online, then names"
        );
        assert!(rows[4].muted && !rows[3].muted);
        assert!(!rows[4].time.is_empty());
        roster.presence("bob", false);
        let rows = roster.rows("me", &Conv::Everyone, &activity, &texts);
        assert_eq!(rows[1].detail, "1 online", "presence counts in the group");
        roster.set_link(false);
        let rows = roster.rows("me", &Conv::Everyone, &activity, &texts);
        assert_eq!(rows[1].detail, "", "nobody is known online while the link is down");
    }

    #[test]
    fn tree_sorts_naturally_caps_badges_and_greys_out_while_the_link_is_down() {
        let texts = Texts::english();
        let mut roster = Roster::default();
        let names = ["user10", "User3", "user2", "carol", "me"];
        roster.set_users(&names.map(|n| UserInfo { name: n.into(), online: n != "carol" }));
        for _ in 0..150 {
            roster.add_unread(Conv::With("user2".into()));
        }
        let cases = [
            // (link up, labels, who is shown online, root's online flag)
            (true, ["Everyone (4 online)", "user2", "User3", "user10", "carol"], 3, true),
            (false, ["Everyone (offline)", "carol", "user2", "User3", "user10"], 0, false),
            (true, ["Everyone (4 online)", "user2", "User3", "user10", "carol"], 3, true),
        ];
        for (up, labels, online, root_online) in cases {
            roster.set_link(up);
            let rows = roster.rows("me", &Conv::Everyone, &Activity::default(), &texts);
            let shown: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
            assert_eq!(shown, labels, "link up: {up}");
            assert_eq!(rows.iter().skip(1).filter(|r| r.online).count(), online, "link up: {up}");
            assert_eq!(rows[0].online, root_online);
            let user2 = rows.iter().find(|r| r.key == "user2").unwrap();
            assert_eq!((user2.unread, user2.badge.as_str()), (150, "99+"));
        }
    }

    #[test]
    fn history_orders_by_id_and_ignores_duplicates() {
        let mut h = History::default();
        assert!(h.add(msg(5, "a", Address::everyone())));
        assert!(h.add(msg(2, "a", Address::everyone())));
        assert!(!h.add(msg(5, "a", Address::everyone())));
        assert_eq!(h.messages().map(|m| m.id).collect::<Vec<_>>(), [2, 5]);
        assert_eq!(h.oldest(), Some(2));
    }

    #[test]
    fn bubbles_mark_own_messages_and_file_states() {
        let texts = Texts::english();
        let mut h = History::default();
        h.add(msg(1, "Me", Address::everyone()));
        let mut file = msg(2, "bob", Address::User("me".into()));
        file.text.clear();
        file.file = Some(FileInfo {
            id: 9,
            name: "a.pdf".into(),
            size: 3 * 1024 * 1024,
            blake3: String::new(),
            transfer_id: String::new(),
        });
        h.add(file);
        let mut files = HashMap::new();
        files.insert(9, FileStatus::Receiving { done: 1, total: 4 });
        let rows = message_rows(&h, "me", &files, &texts);
        assert!(rows[0].own && !rows[1].own);
        assert!(rows[1].is_file);
        assert_eq!(rows[1].file_size.as_str(), "3.00 MiB");
        assert_eq!(rows[1].file_state.as_str(), "receiving 25 %");
        files.insert(9, FileStatus::Saved("/tmp/a.pdf".into()));
        let rows = message_rows(&h, "me", &files, &texts);
        assert_eq!(rows[1].file_path.as_str(), "/tmp/a.pdf");
    }

    #[test]
    fn a_sender_is_grouped_for_a_few_minutes() {
        use chrono::{Local, TimeZone};
        let noon = Local::now().date_naive().and_hms_opt(12, 0, 0).unwrap();
        let today = Local.from_local_datetime(&noon).single().unwrap().timestamp_millis();
        let at = |from: &str, minutes: i64| ChatMessage {
            at: today + minutes * 60_000,
            ..msg(1, from, Address::everyone())
        };
        let event = ChatMessage { event: Some(Box::new(Event::Left {})), ..at("bob", 1) };
        // (above, this one, continued)
        let cases = [
            (None, at("bob", 0), false),
            (Some(at("bob", 0)), at("Bob", 4), true),
            (Some(at("bob", 0)), at("bob", 5), false),
            (Some(at("bob", 0)), at("carol", 1), false),
            (Some(event.clone()), at("bob", 2), false),
            (Some(at("bob", 0)), event, false),
            (Some(at("bob", -24 * 60)), at("bob", 0), false),
        ];
        for (prev, m, continued) in cases {
            assert_eq!(continues(prev.as_ref(), &m), continued, "{prev:?} {m:?}");
        }
    }

    #[test]
    fn avatars_and_links() {
        assert_eq!(initials("bob"), "B");
        assert_eq!(initials("小明"), "小");
        assert_eq!(initials(""), "");
        assert_eq!(avatar_colour("Bob"), avatar_colour("bob"));
        assert!((0..6).contains(&avatar_colour("小明")));
        let cases = [
            ("see https://example.org/a?b=1.", Some("https://example.org/a?b=1")),
            ("(http://x.org/y), then https://z.org", Some("http://x.org/y")),
            ("链接：https://例子.cn/页面。谢谢", Some("https://例子.cn/页面")),
            ("no link here", None),
            ("just https://", None),
        ];
        for (text, want) in cases {
            assert_eq!(first_link(text).as_deref(), want, "{text}");
        }
    }

    #[test]
    fn sizes_rates_and_transfer_rows() {
        assert_eq!(human_size(532), "532 B");
        assert_eq!(human_size(1536), "1.50 KiB");
        assert_eq!(human_size(50 * 1024 * 1024), "50.0 MiB");
        assert_eq!(human_size(3 * 1024 * 1024 * 1024 + 1), "3.00 GiB");
        assert_eq!(human_rate(2048.0), "2.00 KiB/s");
        let t = Transfer {
            key: TransferKey::Download(7),
            name: "x".into(),
            done: 512,
            total: 1024,
            bytes_per_sec: 100.0,
        };
        let row = t.row(&Texts::english());
        assert_eq!(row.progress, 0.5);
        assert!(!row.upload);
        assert_eq!(Transfer::key_from_row(&row.key), Some(TransferKey::Download(7)));
        assert_eq!(Transfer::key_from_row("u:abc"), Some(TransferKey::Upload("abc".into())));
        assert_eq!(Transfer::key_from_row("zz"), None);
    }

    fn event(id: u64, from: &str, group: &str, event: Event) -> ChatMessage {
        ChatMessage {
            text: String::new(),
            event: Some(Box::new(event)),
            ..msg(id, from, Address::Group(group.into()))
        }
    }

    #[test]
    fn named_groups_are_conversations_of_their_own_in_the_tree() {
        let texts = Texts::english();
        assert_eq!(
            Conv::of(&msg(1, "bob", Address::Group("Rust".into())), "me"),
            Conv::Group("rust".into())
        );
        assert_eq!(Conv::of_address(&Address::Group("EVERYONE".into())), Conv::Everyone);
        assert_eq!(Conv::from_row_key("#rust"), Conv::Group("rust".into()));
        let mut roster = Roster::default();
        roster.set_groups(&[
            GroupInfo { name: "everyone".into(), members: 3, ..Default::default() },
            GroupInfo { name: "Rust".into(), members: 2, ..Default::default() },
        ]);
        roster.set_users(&[UserInfo { name: "bob".into(), online: true }]);
        let rows = roster.rows("me", &Conv::Group("rust".into()), &Activity::default(), &texts);
        let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["Everyone (1 online)", "# Rust", "bob"]);
        assert!(rows[1].is_group && rows[1].selected && rows[1].key == "#rust");
        // Membership events keep the tree right: a member added, a rename, being removed.
        assert_eq!(
            roster.group_message(
                &event(5, "bob", "Rust", Event::Added { user: "carol".into() }),
                "me"
            ),
            None
        );
        assert!(roster.group("rust").is_some());
        let renamed =
            event(6, "bob", "Go", Event::Renamed { name: "Go".into(), old: "Rust".into() });
        assert_eq!(roster.group_message(&renamed, "me"), Some("rust".into()));
        assert_eq!(roster.group("go").unwrap().name, "Go");
        roster.group_message(&event(7, "bob", "Go", Event::Removed { user: "ME".into() }), "me");
        assert!(roster.group("go").is_none());
        // A message from a group not yet known (added while this window was open) adds it.
        roster.group_message(&event(8, "dan", "ops", Event::Added { user: "me".into() }), "me");
        assert_eq!(roster.group("ops").unwrap().name, "ops");
    }

    #[test]
    fn edits_recalls_and_reactions_change_the_message_they_name() {
        let texts = Texts::english();
        let mut history = History::default();
        let group = "rust";
        assert!(history.add(msg(1, "bob", Address::Group(group.into()))));
        assert!(history.add(msg(2, "carol", Address::Group(group.into()))));
        assert!(history.add(event(3, "bob", group, Event::Edited { id: 1, text: "fixed".into() })));
        assert!(history.add(event(
            4,
            "alice",
            group,
            Event::Reacted { id: 1, emoji: Some("👍".into()) }
        )));
        assert!(history.add(event(
            5,
            "dan",
            group,
            Event::Reacted { id: 1, emoji: Some("👍".into()) }
        )));
        assert!(history.add(event(
            6,
            "alice",
            group,
            Event::Reacted { id: 1, emoji: Some("🎉".into()) }
        )));
        assert!(history.add(event(7, "carol", group, Event::Recalled { id: 2 })));
        assert!(history.add(event(8, "bob", group, Event::Added { user: "erin".into() })));
        // An event for a message not held changes nothing.
        assert!(!history.add(event(9, "bob", group, Event::Recalled { id: 99 })));
        let rows = message_rows(&history, "alice", &HashMap::new(), &texts);
        let shown: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
        // Reactions are counted under the bubble, not written into its text.
        assert_eq!(shown, ["fixed (edited)", "(message recalled)", "bob added erin"]);
        assert_eq!(rows[0].reactions.as_str(), "👍 1   🎉 1");
        assert!(rows[0].can_answer && !rows[0].can_change, "bob's message, seen by alice");
        assert!(!rows[1].can_answer, "a recalled message has nothing to answer");
        assert!(!rows[2].can_answer, "nor has an event");
        let zh = Texts::new(crate::i18n::Lang::Chinese);
        let rows = message_rows(&history, "alice", &HashMap::new(), &zh);
        assert_eq!(rows[2].text.as_str(), "bob 添加了 erin");
        assert_eq!(rows[1].text.as_str(), "（消息已撤回）");
    }
}
