//! How the CLI shows things: text for people, JSON lines for scripts.

use std::collections::HashMap;
use std::path::Path;

use chrono::{Local, TimeZone};
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressStyle};
use quicq_client::{Client, ConnState, Event, Events, GroupMembers, TransferEvent, TransferKey};
use quicq_common::Address;
use quicq_common::protocol::{
    ChatMessage, Conversation, Event as MessageEvent, GroupInfo, MAX_UNREAD_COUNT, MemberInfo,
    Quote, ReadPosition, Role, UserInfo,
};
use quicq_common::text::for_terminal;
use serde_json::json;

use crate::args::GroupCommand;

/// Prints a line for people: whatever a peer chose (text, names, reasons) cannot reach the
/// terminal as control sequences or forged lines.
pub fn say(line: &str) {
    println!("{}", for_terminal(line));
}

pub fn time(at_ms: i64) -> String {
    match Local.timestamp_millis_opt(at_ms).single() {
        Some(t) => t.format("%H:%M").to_string(),
        None => "--:--".into(),
    }
}

/// How many characters of a quoted message a reply shows.
const QUOTE_SHOWN_CHARS: usize = 40;

/// One message as a line: `12:00 alice → #rust: text`, with what happened to it (a quote it
/// answers, `[edited]`, `(message recalled)`, reactions); an event as `12:00 #rust * alice
/// added bob`.
pub fn message_line(m: &ChatMessage) -> String {
    if let Some(event) = m.event.as_deref() {
        let place = match &m.to {
            Address::Group(_) => m.to.to_string(),
            Address::User(_) => format!("{} → {}", m.from, m.to),
        };
        return format!("{} {place} * {} {}", time(m.at), m.from, event_phrase(event));
    }
    let mut line = format!("{} {} → {}: ", time(m.at), m.from, m.to);
    if let Some(quote) = m.reply_to.as_deref() {
        line.push_str(&format!("[↪ {}] ", quote_text(quote)));
    }
    match &m.file {
        _ if m.recalled => line.push_str("(message recalled)"),
        Some(f) => line.push_str(&format!("[file] {} ({})", f.name, HumanBytes(f.size))),
        None => line.push_str(&m.text),
    }
    if m.edited_at.is_some() && !m.recalled {
        line.push_str(" [edited]");
    }
    if !m.reactions.is_empty() {
        let shown: Vec<String> =
            m.reactions.iter().map(|r| format!("{} {}", r.emoji, r.users.join(", "))).collect();
        line.push_str(&format!("  ({})", shown.join("; ")));
    }
    line
}

/// A message line with its id first, as `edit`, `recall`, `reply` and `react` take it.
pub fn numbered_line(m: &ChatMessage) -> String {
    format!("#{} {}", m.id, message_line(m))
}

/// `bob: the first words of what bob said…`
fn quote_text(quote: &Quote) -> String {
    let text = if quote.recalled {
        "(message recalled)".to_owned()
    } else if let Some(name) = &quote.file_name {
        format!("[file] {name}")
    } else if quote.text.chars().count() > QUOTE_SHOWN_CHARS {
        let start: String = quote.text.chars().take(QUOTE_SHOWN_CHARS).collect();
        format!("{start}…")
    } else {
        quote.text.clone()
    };
    format!("{}: {text}", quote.from)
}

/// What an event's actor did, to follow their name.
pub fn event_phrase(event: &MessageEvent) -> String {
    match event {
        MessageEvent::Created { name } => format!("created the group {name}"),
        MessageEvent::Added { user } => format!("added {user}"),
        MessageEvent::Left {} => "left".to_owned(),
        MessageEvent::Removed { user } => format!("removed {user}"),
        MessageEvent::Renamed { name, old } => format!("renamed the group from {old} to {name}"),
        MessageEvent::Topic { topic } if topic.is_empty() => "cleared the topic".to_owned(),
        MessageEvent::Topic { topic } => format!("set the topic: {topic}"),
        MessageEvent::Role { user, role } => format!("made {user} {}", role_with_article(*role)),
        MessageEvent::Deleted {} => "deleted the group".to_owned(),
        // A recall empties the texts of earlier edits.
        MessageEvent::Edited { id, text } if text.is_empty() => format!("edited #{id}"),
        MessageEvent::Edited { id, text } => format!("edited #{id}: {text}"),
        MessageEvent::Recalled { id } => format!("recalled #{id}"),
        MessageEvent::Reacted { id, emoji: Some(emoji) } => format!("reacted {emoji} to #{id}"),
        MessageEvent::Reacted { id, emoji: None } => format!("took back their reaction to #{id}"),
        _ => "did something this version of quicq does not know".to_owned(),
    }
}

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Owner => "owner",
        Role::Admin => "admin",
        Role::Member => "member",
    }
}

fn role_with_article(role: Role) -> &'static str {
    match role {
        Role::Owner => "the owner",
        Role::Admin => "an admin",
        Role::Member => "a member",
    }
}

/// `* bob read up to #42` (in a one-to-one conversation), `* bob read #rust up to #42`.
pub fn read_line(by: &str, with: &Address, up_to: u64) -> String {
    match with {
        Address::User(other) if other == by => format!("* {by} read up to #{up_to}"),
        _ => format!("* {by} read {with} up to #{up_to}"),
    }
}

/// `* bob is typing…`, `* bob is typing in #rust…`.
pub fn typing_line(from: &str, with: &Address) -> String {
    match with {
        Address::User(other) if other == from => format!("* {from} is typing…"),
        _ => format!("* {from} is typing in {with}…"),
    }
}

/// `#rust (owner): 4 members, 2 online — the topic`.
pub fn group_line(g: &GroupInfo) -> String {
    let members = if g.members == 1 { "member" } else { "members" };
    let mut line = format!(
        "#{} ({}): {} {members}, {} online",
        g.name,
        role_name(g.role),
        g.members,
        g.online
    );
    if !g.topic.is_empty() {
        line.push_str(&format!(" — {}", g.topic));
    }
    line
}

/// `● alice (owner)`, `○ bob`.
pub fn member_line(m: &MemberInfo) -> String {
    let dot = if m.online { "●" } else { "○" };
    match m.role {
        Role::Member => format!("{dot} {}", m.name),
        role => format!("{dot} {} ({})", m.name, role_name(role)),
    }
}

/// `#rust: 3 unread, newest #120`; counts stop at 999+ as the server's do.
pub fn conversation_line(c: &Conversation) -> String {
    let unread = match c.unread {
        0 => "all read".to_owned(),
        n if n >= MAX_UNREAD_COUNT => format!("{MAX_UNREAD_COUNT}+ unread"),
        n => format!("{n} unread"),
    };
    format!("{}: {unread}, newest #{}", c.with, c.last_id)
}

/// What a group command did: `added bob to rust (event 42)`.
pub fn change_line(command: &GroupCommand, event: u64) -> String {
    let what = match command {
        GroupCommand::Add { group, user } => format!("added {user} to {group}"),
        GroupCommand::Remove { group, user } => format!("removed {user} from {group}"),
        GroupCommand::Leave { group } => format!("left {group}"),
        GroupCommand::Rename { group, name } => format!("renamed {group} to {name}"),
        GroupCommand::Topic { group, text } if text.is_empty() => {
            format!("cleared the topic of {group}")
        }
        GroupCommand::Topic { group, .. } => format!("set the topic of {group}"),
        GroupCommand::Role { group, user, role } => {
            format!("made {user} {} of {group}", role_with_article((*role).into()))
        }
        GroupCommand::Delete { group } => format!("deleted {group}"),
        GroupCommand::Create { name, .. } => format!("created {name}"),
        GroupCommand::Members { group, .. } => format!("listed {group}"),
        GroupCommand::List { .. } => "listed groups".to_owned(),
    };
    format!("{what} (event {event})")
}

/// `bob read up to #42`.
pub fn receipt_line(r: &ReadPosition) -> String {
    format!("{} read up to #{}", r.user, r.up_to)
}

/// Text for a transfer outcome, or `None` for progress (shown as a bar).
pub fn transfer_line(event: &TransferEvent) -> Option<String> {
    Some(match event {
        TransferEvent::Progress { .. } | TransferEvent::UploadAccepted { .. } => return None,
        TransferEvent::UploadComplete { offline, .. } if offline.is_empty() => {
            "* file sent".to_owned()
        }
        TransferEvent::UploadComplete { offline, .. } => {
            format!("* file sent; kept for {} (offline)", offline.join(", "))
        }
        TransferEvent::UploadFailed { reason, .. } => format!("! file not sent: {reason}"),
        TransferEvent::Delivered { to, .. } => format!("* {to} saved your file"),
        TransferEvent::Offered { name, from, size, .. } => {
            format!("* {from} offers {name} ({}); not downloaded", HumanBytes(*size))
        }
        TransferEvent::DownloadStarted { name, from, size, .. } => {
            format!("* receiving {name} ({}) from {from}", HumanBytes(*size))
        }
        TransferEvent::Saved { path, .. } => format!("* saved {}", path.display()),
        TransferEvent::DownloadFailed { reason, .. } => format!("! download failed: {reason}"),
    })
}

/// Progress bars for running transfers, printed on stderr when it is a terminal.
pub struct Bars {
    multi: MultiProgress,
    bars: HashMap<TransferKey, ProgressBar>,
}

impl Bars {
    pub fn new() -> Self {
        Bars { multi: MultiProgress::new(), bars: HashMap::new() }
    }

    /// Prints a line for people above the bars, with control and bidi characters escaped.
    pub fn println(&self, line: &str) {
        self.println_raw(&for_terminal(line));
    }

    /// Prints a line as it is (JSON, which escapes control characters itself).
    pub fn println_raw(&self, line: &str) {
        if self.multi.is_hidden() {
            println!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }

    pub fn update(&mut self, event: &TransferEvent) {
        match event {
            // No bars when stderr is not a terminal: they would only litter logs.
            TransferEvent::Progress { .. } if self.multi.is_hidden() => {}
            TransferEvent::Progress { key, name, done, total, .. } => {
                let bar = self.bars.entry(key.clone()).or_insert_with(|| {
                    let bar = self.multi.add(ProgressBar::new(*total));
                    bar.set_style(style());
                    bar.set_message(name.clone());
                    bar
                });
                bar.set_position(*done);
            }
            TransferEvent::UploadComplete { transfer_id, .. }
            | TransferEvent::UploadFailed { transfer_id, .. } => {
                self.finish(&TransferKey::Upload(transfer_id.clone()))
            }
            TransferEvent::Saved { file_id, .. }
            | TransferEvent::DownloadFailed { file_id, .. } => {
                self.finish(&TransferKey::Download(*file_id))
            }
            _ => {}
        }
    }

    fn finish(&mut self, key: &TransferKey) {
        if let Some(bar) = self.bars.remove(key) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{msg:20!} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

/// `quicq send-file`: one progress bar, then the server's verdict.
pub async fn send_file(
    client: &Client,
    to: Address,
    path: &Path,
    mut events: Events,
) -> anyhow::Result<()> {
    let upload = client.send_file(to.clone(), path).await?;
    let bar = ProgressBar::new(upload.size);
    bar.set_style(style());
    bar.set_message(upload.name.clone());
    let name = upload.name.clone();
    let size = upload.size;
    let cancel = upload.canceller();
    let mut done = Box::pin(upload.finished());
    loop {
        tokio::select! {
            result = &mut done => {
                bar.finish_and_clear();
                let sent = result?;
                say(&format!("sent {name} ({}) to {to} as file {}", HumanBytes(size), sent.file_id));
                if !sent.offline.is_empty() {
                    say(&format!("kept on the server for {} (offline)", sent.offline.join(", ")));
                }
                return Ok(());
            }
            event = events.recv() => match event {
                Some(Event::Transfer(TransferEvent::Progress { done, .. })) => bar.set_position(done),
                Some(Event::State(state @ ConnState::Reconnecting { .. })) => bar.println(state_line(&state)),
                Some(_) => {}
                None => anyhow::bail!("connection closed"),
            },
            _ = tokio::signal::ctrl_c() => {
                // Cancel for real so the server discards the partial file and tells the others.
                cancel.cancel();
                let _ = tokio::time::timeout(std::time::Duration::from_secs(2), &mut done).await;
                bar.abandon();
                anyhow::bail!("cancelled");
            }
        }
    }
}

pub fn state_line(state: &ConnState) -> String {
    match state {
        ConnState::Connected { you } => format!("* connected as {you}"),
        ConnState::Reconnecting { attempt, delay, reason } => {
            format!("* {reason}; reconnecting in {:.1} s (attempt {attempt})", delay.as_secs_f32())
        }
        ConnState::Offline { reason } => format!("* offline: {reason}"),
    }
}

pub fn event_json(event: &Event) -> serde_json::Value {
    match event {
        Event::Message(m) => json!({ "event": "message", "message": m }),
        Event::Presence { user, online } => {
            json!({ "event": "presence", "user": user, "online": online })
        }
        Event::State(ConnState::Connected { you }) => json!({ "event": "connected", "you": you }),
        Event::State(ConnState::Reconnecting { attempt, delay, reason }) => json!({
            "event": "reconnecting", "attempt": attempt, "delay_ms": delay.as_millis() as u64, "reason": reason
        }),
        Event::State(ConnState::Offline { reason }) => {
            json!({ "event": "offline", "reason": reason })
        }
        Event::Read { by, with, up_to } => {
            json!({ "event": "read", "by": by, "with": with, "up_to": up_to })
        }
        Event::Typing { from, with, for_ms } => {
            json!({ "event": "typing", "from": from, "with": with, "for_ms": for_ms })
        }
        Event::Transfer(t) => transfer_json(t),
    }
}

fn transfer_json(event: &TransferEvent) -> serde_json::Value {
    match event {
        TransferEvent::Progress { key, name, done, total, bytes_per_sec } => {
            let (kind, id) = match key {
                TransferKey::Upload(id) => ("upload", json!(id)),
                TransferKey::Download(id) => ("download", json!(id)),
            };
            json!({ "event": "progress", "kind": kind, "id": id, "name": name, "done": done,
                    "total": total, "bytes_per_sec": *bytes_per_sec as u64 })
        }
        TransferEvent::UploadAccepted { transfer_id, file_id } => {
            json!({ "event": "upload_accepted", "transfer_id": transfer_id, "file_id": file_id })
        }
        TransferEvent::UploadComplete { transfer_id, file_id, offline } => json!({
            "event": "upload_complete", "transfer_id": transfer_id, "file_id": file_id, "offline": offline
        }),
        TransferEvent::UploadFailed { transfer_id, code, reason } => json!({
            "event": "upload_failed", "transfer_id": transfer_id, "code": code, "reason": reason
        }),
        TransferEvent::Delivered { file_id, to } => {
            json!({ "event": "delivered", "file_id": file_id, "to": to })
        }
        TransferEvent::Offered { file_id, name, from, size } => json!({
            "event": "offered", "file_id": file_id, "name": name, "from": from, "size": size
        }),
        TransferEvent::DownloadStarted { file_id, name, from, size } => json!({
            "event": "download_started", "file_id": file_id, "name": name, "from": from, "size": size
        }),
        TransferEvent::Saved { file_id, path } => {
            json!({ "event": "saved", "file_id": file_id, "path": path })
        }
        TransferEvent::DownloadFailed { file_id, code, reason } => json!({
            "event": "download_failed", "file_id": file_id, "code": code, "reason": reason
        }),
    }
}

/// `quicq listen`: one JSON object per line until the connection gives up or Ctrl-C; progress
/// bars on stderr (when it is a terminal) while files arrive.
pub async fn listen(mut events: Events) -> anyhow::Result<()> {
    let mut bars = Bars::new();
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { return Ok(()) };
                if let Event::Transfer(t) = &event {
                    bars.update(t);
                    if matches!(t, TransferEvent::Progress { .. }) {
                        continue;
                    }
                }
                bars.println_raw(&event_json(&event).to_string());
                if let Event::State(ConnState::Offline { reason }) = &event {
                    anyhow::bail!("offline: {reason}");
                }
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// Prints newest-first `messages` oldest first.
pub fn history(messages: &[ChatMessage], as_json: bool) {
    for m in messages.iter().rev() {
        if as_json {
            println!("{}", json!(m));
        } else {
            say(&numbered_line(m));
        }
    }
}

/// Prints search results as they come, newest first.
pub fn search_results(messages: &[ChatMessage], as_json: bool) {
    if messages.is_empty() && !as_json {
        eprintln!("(nothing found)");
    }
    for m in messages {
        if as_json {
            println!("{}", json!(m));
        } else {
            say(&numbered_line(m));
        }
    }
}

pub fn conversations(list: &[Conversation], as_json: bool) {
    for c in list {
        if as_json {
            println!("{}", json!(c));
        } else {
            say(&conversation_line(c));
        }
    }
}

pub fn receipts(list: &[ReadPosition], as_json: bool) {
    if list.is_empty() && !as_json {
        eprintln!(
            "(no receipts: yours are off, nobody else shares theirs, or the group is too big)"
        );
    }
    for r in list {
        if as_json {
            println!("{}", json!(r));
        } else {
            say(&receipt_line(r));
        }
    }
}

/// The group's line, then one line per member (as JSON: one line per member).
pub fn members(group: &GroupMembers, as_json: bool) {
    if !as_json {
        say(&group_line(&group.group));
    }
    for m in &group.members {
        if as_json {
            println!("{}", json!(m));
        } else {
            say(&format!("  {}", member_line(m)));
        }
    }
}

pub fn groups(list: &[GroupInfo], as_json: bool) {
    for g in list {
        if as_json {
            println!("{}", json!(g));
        } else {
            say(&group_line(g));
        }
    }
}

pub fn users(users: &[UserInfo], as_json: bool) {
    let mut sorted: Vec<&UserInfo> = users.iter().collect();
    sorted.sort_by_key(|u| (!u.online, u.name.to_lowercase()));
    for u in sorted {
        if as_json {
            println!("{}", json!({ "name": u.name, "online": u.online }));
        } else {
            say(&format!("{} {}", if u.online { "●" } else { "○" }, u.name));
        }
    }
}

#[cfg(test)]
mod tests {
    use quicq_common::Address;
    use quicq_common::protocol::{ChatMessage, FileInfo};

    use super::*;

    #[test]
    fn a_peers_text_reaches_the_terminal_as_one_line_without_escape_sequences() {
        let text = "hi\u{1b}]0;owned\u{7}\n12:00 admin → you: send me your password\u{1b}[2J";
        let mut m = ChatMessage {
            id: 1,
            from: "mallory".into(),
            to: Address::everyone(),
            text: text.into(),
            at: 0,
            file: None,
            ..Default::default()
        };
        let shown = for_terminal(&message_line(&m)).into_owned();
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert_eq!(shown.lines().count(), 1);
        m.file = Some(FileInfo {
            id: 1,
            name: "invoice\u{202e}gnp.exe".into(),
            size: 1,
            blake3: String::new(),
            transfer_id: String::new(),
        });
        let shown = for_terminal(&message_line(&m)).into_owned();
        assert!(shown.contains("invoice\\u{202e}gnp.exe"), "{shown}");
    }

    fn at(from: &str, to: Address) -> ChatMessage {
        ChatMessage { id: 9, from: from.into(), to, at: 0, ..Default::default() }
    }

    fn rust() -> Address {
        Address::Group("rust".into())
    }

    #[test]
    fn every_kind_of_message_reads_as_one_line() {
        use quicq_common::protocol::{Quote, Reaction};
        let t = time(0);
        let text = |text: &str| ChatMessage { text: text.into(), ..at("alice", rust()) };
        let quote = |text: &str| Quote {
            id: 3,
            from: "bob".into(),
            text: text.into(),
            ..Default::default()
        };
        let long = "x".repeat(QUOTE_SHOWN_CHARS + 5);
        let file = FileInfo {
            id: 1,
            name: "a.pdf".into(),
            size: 2048,
            blake3: String::new(),
            transfer_id: String::new(),
        };
        let cases = [
            (text("hi"), "alice → #rust: hi".to_owned()),
            (
                ChatMessage { edited_at: Some(5), ..text("fixed") },
                "alice → #rust: fixed [edited]".to_owned(),
            ),
            (
                ChatMessage { recalled: true, edited_at: Some(5), ..text("") },
                "alice → #rust: (message recalled)".to_owned(),
            ),
            (
                ChatMessage { recalled: true, ..at("alice", Address::User("bob".into())) },
                "alice → bob: (message recalled)".to_owned(),
            ),
            (
                ChatMessage { file: Some(file.clone()), ..text("") },
                "alice → #rust: [file] a.pdf (2.00 KiB)".to_owned(),
            ),
            (
                ChatMessage { reply_to: Some(Box::new(quote("are we there?"))), ..text("yes") },
                "alice → #rust: [↪ bob: are we there?] yes".to_owned(),
            ),
            (
                ChatMessage { reply_to: Some(Box::new(quote(&long))), ..text("hm") },
                format!("alice → #rust: [↪ bob: {}…] hm", "x".repeat(QUOTE_SHOWN_CHARS)),
            ),
            (
                ChatMessage {
                    reply_to: Some(Box::new(Quote { recalled: true, ..quote("") })),
                    ..text("what was it?")
                },
                "alice → #rust: [↪ bob: (message recalled)] what was it?".to_owned(),
            ),
            (
                ChatMessage {
                    reply_to: Some(Box::new(Quote {
                        file_name: Some("a.pdf".into()),
                        ..quote("")
                    })),
                    ..text("thanks")
                },
                "alice → #rust: [↪ bob: [file] a.pdf] thanks".to_owned(),
            ),
            (
                ChatMessage {
                    reactions: vec![
                        Reaction {
                            emoji: "👍".into(), users: vec!["bob".into(), "carol".into()]
                        },
                        Reaction { emoji: "❤️".into(), users: vec!["dave".into()] },
                    ],
                    ..text("ship it")
                },
                "alice → #rust: ship it  (👍 bob, carol; ❤️ dave)".to_owned(),
            ),
        ];
        for (m, want) in cases {
            assert_eq!(message_line(&m), format!("{t} {want}"), "{m:?}");
            assert_eq!(numbered_line(&m), format!("#9 {t} {want}"));
        }
    }

    #[test]
    fn events_read_as_what_their_actor_did() {
        use quicq_common::protocol::Event as E;
        let t = time(0);
        let cases = [
            (E::Created { name: "rust".into() }, "#rust * alice created the group rust"),
            (E::Added { user: "bob".into() }, "#rust * alice added bob"),
            (E::Left {}, "#rust * alice left"),
            (E::Removed { user: "bob".into() }, "#rust * alice removed bob"),
            (
                E::Renamed { name: "rust".into(), old: "rs".into() },
                "#rust * alice renamed the group from rs to rust",
            ),
            (E::Topic { topic: "2027".into() }, "#rust * alice set the topic: 2027"),
            (E::Topic { topic: String::new() }, "#rust * alice cleared the topic"),
            (E::Role { user: "bob".into(), role: Role::Admin }, "#rust * alice made bob an admin"),
            (E::Role { user: "bob".into(), role: Role::Owner }, "#rust * alice made bob the owner"),
            (E::Role { user: "bob".into(), role: Role::Member }, "#rust * alice made bob a member"),
            (E::Deleted {}, "#rust * alice deleted the group"),
            (E::Edited { id: 3, text: "new".into() }, "#rust * alice edited #3: new"),
            (E::Edited { id: 3, text: String::new() }, "#rust * alice edited #3"),
            (E::Recalled { id: 3 }, "#rust * alice recalled #3"),
            (E::Reacted { id: 3, emoji: Some("👍".into()) }, "#rust * alice reacted 👍 to #3"),
            (E::Reacted { id: 3, emoji: None }, "#rust * alice took back their reaction to #3"),
            (E::Unknown, "#rust * alice did something this version of quicq does not know"),
        ];
        for (event, want) in cases {
            let m = ChatMessage { event: Some(Box::new(event)), ..at("alice", rust()) };
            assert_eq!(message_line(&m), format!("{t} {want}"));
        }
        // One to one: both ends are named.
        let m = ChatMessage {
            event: Some(Box::new(E::Recalled { id: 3 })),
            ..at("alice", Address::User("bob".into()))
        };
        assert_eq!(message_line(&m), format!("{t} alice → bob * alice recalled #3"));
    }

    #[test]
    fn receipts_typing_groups_and_conversations() {
        let bob = || Address::User("bob".into());
        assert_eq!(read_line("bob", &bob(), 42), "* bob read up to #42");
        assert_eq!(read_line("bob", &rust(), 42), "* bob read #rust up to #42");
        assert_eq!(typing_line("bob", &bob()), "* bob is typing…");
        assert_eq!(typing_line("bob", &rust()), "* bob is typing in #rust…");
        assert_eq!(
            receipt_line(&ReadPosition { user: "bob".into(), up_to: 7 }),
            "bob read up to #7"
        );

        let group = |role, topic: &str| GroupInfo {
            name: "rust".into(),
            members: 4,
            online: 2,
            topic: topic.into(),
            role,
        };
        assert_eq!(group_line(&group(Role::Owner, "")), "#rust (owner): 4 members, 2 online");
        let alone = GroupInfo { members: 1, online: 1, ..group(Role::Owner, "") };
        assert_eq!(group_line(&alone), "#rust (owner): 1 member, 1 online");
        assert_eq!(
            group_line(&group(Role::Member, "2027")),
            "#rust (member): 4 members, 2 online — 2027"
        );
        let member = |role, online| MemberInfo { name: "bob".into(), role, online };
        assert_eq!(member_line(&member(Role::Owner, true)), "● bob (owner)");
        assert_eq!(member_line(&member(Role::Admin, false)), "○ bob (admin)");
        assert_eq!(member_line(&member(Role::Member, true)), "● bob");

        let conv = |unread| Conversation { with: rust(), last_id: 120, read_up_to: 100, unread };
        assert_eq!(conversation_line(&conv(0)), "#rust: all read, newest #120");
        assert_eq!(conversation_line(&conv(3)), "#rust: 3 unread, newest #120");
        assert_eq!(conversation_line(&conv(999)), "#rust: 999+ unread, newest #120");
    }

    #[test]
    fn group_changes_say_what_was_done() {
        use crate::args::RoleArg;
        let g = || "rust".to_owned();
        let cases = [
            (GroupCommand::Add { group: g(), user: "bob".into() }, "added bob to rust"),
            (GroupCommand::Remove { group: g(), user: "bob".into() }, "removed bob from rust"),
            (GroupCommand::Leave { group: g() }, "left rust"),
            (GroupCommand::Rename { group: g(), name: "rs".into() }, "renamed rust to rs"),
            (GroupCommand::Topic { group: g(), text: vec![] }, "cleared the topic of rust"),
            (GroupCommand::Topic { group: g(), text: vec!["x".into()] }, "set the topic of rust"),
            (
                GroupCommand::Role { group: g(), user: "bob".into(), role: RoleArg::Owner },
                "made bob the owner of rust",
            ),
            (GroupCommand::Delete { group: g() }, "deleted rust"),
        ];
        for (command, want) in cases {
            assert_eq!(change_line(&command, 42), format!("{want} (event 42)"));
        }
    }

    #[test]
    fn listen_prints_reads_typing_and_events_as_json_lines() {
        let read = Event::Read { by: "bob".into(), with: rust(), up_to: 7 };
        assert_eq!(
            event_json(&read).to_string(),
            r#"{"by":"bob","event":"read","up_to":7,"with":{"group":"rust"}}"#
        );
        let typing =
            Event::Typing { from: "bob".into(), with: Address::User("bob".into()), for_ms: 6000 };
        assert_eq!(
            event_json(&typing).to_string(),
            r#"{"event":"typing","for_ms":6000,"from":"bob","with":{"user":"bob"}}"#
        );
        let added = ChatMessage {
            event: Some(Box::new(quicq_common::protocol::Event::Added { user: "bob".into() })),
            ..at("alice", rust())
        };
        let json = event_json(&Event::Message(added));
        assert_eq!(json["event"], "message");
        assert_eq!(json["message"]["event"]["kind"], "added");
        assert_eq!(json["message"]["event"]["user"], "bob");
    }
}
