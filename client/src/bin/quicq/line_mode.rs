//! Interactive chat: plain lines go to the current conversation, `/` starts a command.

use std::time::Duration;

use quicq_client::{Client, Event, Events, conversation_of};
use quicq_common::Address;
use quicq_common::nickname::key_of;
use quicq_common::protocol::{ChatMessage, EVERYONE, Event as MessageEvent, Role};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::args::parse_id;
use crate::print::{self, Bars};

const HELP: &str = "\
Commands:
  /msg NAME text       send one message to NAME
  /file NAME PATH      send a file to NAME (NAME may be all)
  /to NAME             talk to NAME from now on
  /group GROUP         talk in a named group from now on (also /join GROUP)
  /all                 talk to everyone from now on
  /users               who is here (● online)
  /groups              your groups
  /unread              your conversations with unread counts
  /history [N]         the last N messages of the current conversation (default 20)
  /reply ID text       answer message ID in the current conversation
  /edit ID text        change the text of your message ID
  /recall ID           delete your message ID for everyone
  /react ID [EMOJI]    react to message ID; without EMOJI, take your reaction back
  /search text         find messages in all your conversations
  /create GROUP [NAME...]  create a group (with these members) and talk in it
  In a group:
  /members             who is in it
  /add NAME, /remove NAME, /role NAME admin|member|owner
  /topic [text]        set the topic (no text clears it)
  /rename NEWNAME      rename it
  /leave               leave it
  /quit                leave the chat
  Anything else is sent to the current conversation. Message ids are the #N before each line.";

/// What one input line asks for.
#[derive(Debug, PartialEq)]
pub enum Input {
    Say(String),
    Msg(String, String),
    File(Option<String>, String),
    To(String),
    Group(String),
    All,
    Users,
    Groups,
    Unread,
    History(u32),
    Reply(u64, String),
    Edit(u64, String),
    Recall(u64),
    React(u64, Option<String>),
    Search(String),
    Create(String, Vec<String>),
    Members,
    Add(String),
    Remove(String),
    SetRole(String, Role),
    Topic(String),
    Rename(String),
    Leave,
    Help,
    Quit,
    Nothing,
    Bad(String),
}

/// `ID text` for the message commands.
fn id_and_text(rest: &str, usage: &str) -> Result<(u64, String), String> {
    match rest.split_once(char::is_whitespace) {
        Some((id, text)) if !text.trim().is_empty() => {
            Ok((parse_id(id).map_err(|_| usage.to_owned())?, text.trim().to_owned()))
        }
        _ => Err(usage.to_owned()),
    }
}

fn one_word(rest: &str, make: impl FnOnce(String) -> Input, usage: &str) -> Input {
    match rest.split_whitespace().collect::<Vec<_>>().as_slice() {
        [word] => make((*word).to_owned()),
        _ => Input::Bad(usage.into()),
    }
}

pub fn parse(line: &str) -> Input {
    let line = line.trim_end_matches(['\r', '\n']);
    let Some(command) = line.strip_prefix('/') else {
        return if line.trim().is_empty() { Input::Nothing } else { Input::Say(line.to_owned()) };
    };
    let mut parts = command.splitn(2, char::is_whitespace);
    let name = parts.next().unwrap_or_default();
    let rest = parts.next().unwrap_or_default().trim();
    let bad_or = |r: Result<Input, String>| r.unwrap_or_else(Input::Bad);
    match name {
        "msg" | "m" => match rest.split_once(char::is_whitespace) {
            Some((to, text)) if !text.trim().is_empty() => {
                Input::Msg(to.to_owned(), text.trim().to_owned())
            }
            _ => Input::Bad("usage: /msg NAME text".into()),
        },
        "file" | "f" => match rest.split_once(char::is_whitespace) {
            Some((to, path)) if !path.trim().is_empty() => {
                let to = if to == "all" { None } else { Some(to.to_owned()) };
                Input::File(to, path.trim().to_owned())
            }
            _ => Input::Bad("usage: /file NAME PATH (NAME may be all)".into()),
        },
        "to" if !rest.is_empty() => Input::To(rest.to_owned()),
        "to" => Input::Bad("usage: /to NAME".into()),
        "group" | "join" | "g" => one_word(rest, Input::Group, "usage: /group GROUP"),
        "all" => Input::All,
        "users" | "who" => Input::Users,
        "groups" => Input::Groups,
        "unread" | "conversations" => Input::Unread,
        "history" | "h" if rest.is_empty() => Input::History(20),
        "history" | "h" => match rest.parse() {
            Ok(n) if n > 0 => Input::History(n),
            _ => Input::Bad("usage: /history [N]".into()),
        },
        "reply" | "r" => bad_or(
            id_and_text(rest, "usage: /reply ID text").map(|(id, text)| Input::Reply(id, text)),
        ),
        "edit" => bad_or(
            id_and_text(rest, "usage: /edit ID text").map(|(id, text)| Input::Edit(id, text)),
        ),
        "recall" => match parse_id(rest) {
            Ok(id) => Input::Recall(id),
            Err(_) => Input::Bad("usage: /recall ID".into()),
        },
        "react" => match rest.split_whitespace().collect::<Vec<_>>().as_slice() {
            [id] => parse_id(id).map_or_else(Input::Bad, |id| Input::React(id, None)),
            [id, emoji] => parse_id(id)
                .map_or_else(Input::Bad, |id| Input::React(id, Some((*emoji).to_owned()))),
            _ => Input::Bad("usage: /react ID [EMOJI]".into()),
        },
        "search" | "s" if !rest.is_empty() => Input::Search(rest.to_owned()),
        "search" | "s" => Input::Bad("usage: /search text".into()),
        "create" => match rest.split_whitespace().collect::<Vec<_>>().as_slice() {
            [name, members @ ..] => {
                Input::Create((*name).to_owned(), members.iter().map(|m| (*m).to_owned()).collect())
            }
            [] => Input::Bad("usage: /create GROUP [NAME...]".into()),
        },
        "members" => Input::Members,
        "add" => one_word(rest, Input::Add, "usage: /add NAME"),
        "remove" | "kick" => one_word(rest, Input::Remove, "usage: /remove NAME"),
        "role" => match rest.split_whitespace().collect::<Vec<_>>().as_slice() {
            [user, "admin"] => Input::SetRole((*user).to_owned(), Role::Admin),
            [user, "member"] => Input::SetRole((*user).to_owned(), Role::Member),
            [user, "owner"] => Input::SetRole((*user).to_owned(), Role::Owner),
            _ => Input::Bad("usage: /role NAME admin|member|owner".into()),
        },
        "topic" => Input::Topic(rest.to_owned()),
        "rename" => one_word(rest, Input::Rename, "usage: /rename NEWNAME"),
        "leave" => Input::Leave,
        "help" | "?" => Input::Help,
        "quit" | "q" | "exit" => Input::Quit,
        // "//text" sends a line that starts with a slash.
        _ if command.starts_with('/') => Input::Say(command.to_owned()),
        other => Input::Bad(format!("unknown command /{other}; /help lists them")),
    }
}

/// The named group `current` is, if it is one (`everyone` cannot be changed).
fn named_group(current: &Address) -> Option<&str> {
    match current {
        Address::Group(name) if key_of(name) != EVERYONE => Some(name),
        _ => None,
    }
}

/// How often the chat tells the server how far the open conversation has been shown: a burst
/// of messages (a catch-up after reconnecting) becomes one `read`, not one per message.
const READ_EVERY: Duration = Duration::from_millis(500);

/// Where the chat goes after an event in the current conversation: a renamed group is followed
/// to its new name; a group one left, was removed from, or that was deleted leaves one talking
/// to everyone.
fn follow(current: &Address, m: &ChatMessage, me: &str) -> Option<Address> {
    let Address::Group(group) = current else { return None };
    let event = m.event.as_deref()?;
    // The server may already name the group by its new name in the `renamed` event itself.
    if let MessageEvent::Renamed { name, old } = event {
        return (key_of(old) == key_of(group)).then(|| Address::Group(name.clone()));
    }
    if !matches!(&m.to, Address::Group(to) if key_of(to) == key_of(group)) {
        return None;
    }
    let mine = |user: &str| key_of(user) == key_of(me);
    match event {
        MessageEvent::Removed { user } if mine(user) => Some(Address::everyone()),
        MessageEvent::Left {} if mine(&m.from) => Some(Address::everyone()),
        MessageEvent::Deleted {} => Some(Address::everyone()),
        _ => None,
    }
}

pub async fn run(client: &Client, mut events: Events) -> anyhow::Result<()> {
    let welcome = client.welcome();
    let me = welcome.you.clone();
    print::say(&format!(
        "Signed in as {} ({}). Talking to everyone. /help for commands.",
        welcome.you, welcome.server
    ));
    let mut current = Address::everyone();
    let mut bars = Bars::new();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    // Shown in the open conversation, not yet reported read.
    let mut shown: Option<(Address, u64)> = None;
    let mut read_tick = tokio::time::interval(READ_EVERY);
    loop {
        tokio::select! {
            _ = read_tick.tick() => {
                if let Some((with, up_to)) = shown.take() {
                    client.mark_read(with, up_to);
                }
            }
            event = events.recv() => match event {
                Some(Event::Message(m)) => {
                    bars.println(&print::numbered_line(&m));
                    let conversation = conversation_of(&m, &me);
                    if conversation == current && key_of(&m.from) != key_of(&me) {
                        shown = Some((conversation, m.id));
                    }
                    if let Some(next) = follow(&current, &m, &me) {
                        current = next;
                        print::say(&format!("* talking to {current}"));
                    }
                }
                Some(Event::Presence { user, online }) => {
                    bars.println(&format!("* {user} is {}", if online { "online" } else { "offline" }));
                }
                Some(Event::State(state)) => bars.println(&print::state_line(&state)),
                // One's own other sessions report their reading too; that is no news here.
                Some(Event::Read { by, with, up_to }) if key_of(&by) != key_of(&me) => {
                    bars.println(&print::read_line(&by, &with, up_to));
                }
                Some(Event::Read { .. }) => {}
                Some(Event::Typing { from, with, .. }) => {
                    bars.println(&print::typing_line(&from, &with));
                }
                Some(Event::Transfer(t)) => {
                    bars.update(&t);
                    if let Some(line) = print::transfer_line(&t) {
                        bars.println(&line);
                    }
                }
                None => return Ok(()),
            },
            line = lines.next_line() => {
                let Some(line) = line? else { return Ok(()) };
                let input = parse(&line);
                if input == Input::Quit {
                    return Ok(());
                }
                if let Some(next) = obey(client, &current, input, &mut bars).await {
                    current = next;
                    print::say(&format!("* talking to {current}"));
                }
            }
        }
    }
}

/// Does what one line asks; returns the conversation to switch to, if it asks for that.
/// Everything that stores a message is called here, before the next line is read, so lines
/// are stored in the order they were typed (the client opens their streams in call order).
async fn obey(
    client: &Client,
    current: &Address,
    input: Input,
    bars: &mut Bars,
) -> Option<Address> {
    let fail = |e: &dyn std::fmt::Display| print::say(&format!("! {e}"));
    match input {
        Input::Say(text) => send(client, current.clone(), text),
        Input::Msg(to, text) => send(client, Address::User(to), text),
        Input::Reply(id, text) => {
            let to = current.clone();
            background(client.send_reply(to.clone(), text, id), format!("reply not sent to {to}"));
        }
        Input::Edit(id, text) => background(client.edit(id, text), format!("#{id} not edited")),
        Input::Recall(id) => background(client.recall(id), format!("#{id} not recalled")),
        Input::React(id, emoji) => {
            background(client.react(id, emoji), format!("no reaction to #{id}"))
        }
        Input::File(to, path) => {
            let to = to.map_or_else(Address::everyone, Address::User);
            match client.send_file(to, std::path::Path::new(&path)).await {
                Ok(upload) => bars.println(&format!("* sending {}", upload.name)),
                Err(e) => bars.println(&format!("! {e}")),
            }
        }
        Input::To(name) => return Some(Address::User(name)),
        Input::Group(name) => return Some(Address::Group(name)),
        Input::All => return Some(Address::everyone()),
        Input::Users => match client.users().await {
            Ok(users) => print::users(&users, false),
            Err(e) => fail(&e),
        },
        Input::Groups => match client.groups().await {
            Ok(groups) => print::groups(&groups, false),
            Err(e) => fail(&e),
        },
        Input::Unread => match client.conversations().await {
            Ok(list) => print::conversations(&list, false),
            Err(e) => fail(&e),
        },
        Input::History(n) => match client.history(current.clone(), None, n).await {
            Ok(page) => {
                print::history(&page.messages, false);
                if let Some(newest) = page.messages.first() {
                    client.mark_read(current.clone(), newest.id);
                }
            }
            Err(e) => fail(&e),
        },
        Input::Search(text) => match client.search(text, None, None, 20).await {
            Ok(page) => print::search_results(&page.messages, false),
            Err(e) => fail(&e),
        },
        Input::Create(name, members) => match client.create_group(name, members).await {
            Ok(created) => {
                print::members(&created, false);
                return Some(Address::Group(created.group.name));
            }
            Err(e) => fail(&e),
        },
        Input::Members
        | Input::Add(_)
        | Input::Remove(_)
        | Input::SetRole(..)
        | Input::Topic(_)
        | Input::Rename(_)
        | Input::Leave => {
            let Some(group) = named_group(current) else {
                print::say("! not in a named group: /group GROUP first");
                return None;
            };
            return in_group(client, group, input).await;
        }
        Input::Help => println!("{HELP}"),
        Input::Quit | Input::Nothing => {}
        Input::Bad(why) => print::say(&format!("! {why}")),
    }
    None
}

/// The group commands, on the current group; a rename follows the group to its new name and
/// leaving it returns to everyone.
async fn in_group(client: &Client, group: &str, input: Input) -> Option<Address> {
    let changed = match input {
        Input::Members => {
            match client.group_members(group).await {
                Ok(members) => print::members(&members, false),
                Err(e) => print::say(&format!("! {e}")),
            }
            return None;
        }
        Input::Add(user) => client.add_member(group, user).await,
        Input::Remove(user) => client.remove_member(group, user).await,
        Input::SetRole(user, role) => client.set_role(group, user, role).await,
        Input::Topic(topic) => client.set_topic(group, topic).await,
        Input::Rename(name) => {
            return match client.rename_group(group, &name).await {
                Ok(_) => Some(Address::Group(name)),
                Err(e) => {
                    print::say(&format!("! {e}"));
                    None
                }
            };
        }
        Input::Leave => {
            return match client.leave_group(group).await {
                Ok(_) => Some(Address::everyone()),
                Err(e) => {
                    print::say(&format!("! {e}"));
                    None
                }
            };
        }
        _ => return None,
    };
    // Success shows as the event the server delivers to every member.
    if let Err(e) = changed {
        print::say(&format!("! {e}"));
    }
    None
}

/// Sends in the background: the message shows when the server delivers it back; only a failure
/// is printed here. `send` is called here, not in the task, so lines keep the order they were
/// typed in (the client opens their streams in the order of the calls).
fn send(client: &Client, to: Address, text: String) {
    let sending = client.send(to.clone(), text);
    background(sending, format!("not sent to {to}"));
}

/// Awaits a stored change in the background (its event shows when the server delivers it);
/// prints only a failure, after `what`.
fn background(
    storing: impl std::future::Future<Output = Result<quicq_client::Sent, quicq_client::RequestError>>
    + Send
    + 'static,
    what: String,
) {
    tokio::spawn(async move {
        if let Err(e) = storing.await {
            print::say(&format!("! {what}: {e}"));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_and_text() {
        assert_eq!(parse("hello"), Input::Say("hello".into()));
        assert_eq!(parse("   "), Input::Nothing);
        assert_eq!(parse("/msg 小明 你好 呀"), Input::Msg("小明".into(), "你好 呀".into()));
        assert!(matches!(parse("/msg bob"), Input::Bad(_)));
        assert_eq!(parse("/to bob"), Input::To("bob".into()));
        assert_eq!(
            parse("/file bob ./a b.txt"),
            Input::File(Some("bob".into()), "./a b.txt".into())
        );
        assert_eq!(parse("/file all x"), Input::File(None, "x".into()));
        assert!(matches!(parse("/file bob"), Input::Bad(_)));
        assert_eq!(parse("/all"), Input::All);
        assert_eq!(parse("/history"), Input::History(20));
        assert_eq!(parse("/history 5"), Input::History(5));
        assert!(matches!(parse("/history x"), Input::Bad(_)));
        assert_eq!(parse("/quit"), Input::Quit);
        assert_eq!(parse("//etc/passwd is a path"), Input::Say("/etc/passwd is a path".into()));
        assert!(matches!(parse("/frobnicate"), Input::Bad(_)));
    }

    #[test]
    fn parses_group_and_message_commands() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cases = [
            ("/group rust", Input::Group("rust".into())),
            ("/join rust", Input::Group("rust".into())),
            ("/groups", Input::Groups),
            ("/unread", Input::Unread),
            ("/create rust bob 小明", Input::Create("rust".into(), s(&["bob", "小明"]))),
            ("/create solo", Input::Create("solo".into(), vec![])),
            ("/members", Input::Members),
            ("/add bob", Input::Add("bob".into())),
            ("/remove bob", Input::Remove("bob".into())),
            ("/role bob admin", Input::SetRole("bob".into(), Role::Admin)),
            ("/role bob owner", Input::SetRole("bob".into(), Role::Owner)),
            ("/topic Rust 2027", Input::Topic("Rust 2027".into())),
            ("/topic", Input::Topic(String::new())),
            ("/rename rustaceans", Input::Rename("rustaceans".into())),
            ("/leave", Input::Leave),
            ("/reply 12 me too", Input::Reply(12, "me too".into())),
            ("/reply #12 me too", Input::Reply(12, "me too".into())),
            ("/edit 12 fixed typo", Input::Edit(12, "fixed typo".into())),
            ("/recall 12", Input::Recall(12)),
            ("/recall #12", Input::Recall(12)),
            ("/react 12 👍", Input::React(12, Some("👍".into()))),
            ("/react 12", Input::React(12, None)),
            ("/search 你好 world", Input::Search("你好 world".into())),
            ("/help", Input::Help),
        ];
        for (line, want) in cases {
            assert_eq!(parse(line), want, "{line}");
        }
        for bad in [
            "/group",
            "/group a b",
            "/create",
            "/add",
            "/add a b",
            "/role bob king",
            "/role bob",
            "/rename",
            "/reply 12",
            "/reply x text",
            "/edit 12",
            "/recall",
            "/recall x",
            "/react",
            "/react x 👍",
            "/react 1 👍 ❤",
            "/search",
        ] {
            assert!(matches!(parse(bad), Input::Bad(_)), "{bad}: {:?}", parse(bad));
        }
    }

    #[test]
    fn the_chat_follows_its_group_when_it_is_renamed_or_gone() {
        let rust = || Address::Group("rust".into());
        let event = |from: &str, to: Address, event| ChatMessage {
            from: from.into(),
            to,
            event: Some(Box::new(event)),
            ..Default::default()
        };
        let renamed = || MessageEvent::Renamed { name: "rs".into(), old: "rust".into() };
        let cases = [
            (rust(), event("bob", rust(), renamed()), Some(Address::Group("rs".into()))),
            (
                Address::Group("RUST".into()),
                event("bob", rust(), renamed()),
                Some(Address::Group("rs".into())),
            ),
            (
                rust(),
                event("bob", Address::Group("rs".into()), renamed()),
                Some(Address::Group("rs".into())),
            ),
            // Renamed by this chat's own /rename, which has switched already.
            (
                Address::Group("rs".into()),
                event("alice", Address::Group("rs".into()), renamed()),
                None,
            ),
            (Address::Group("go".into()), event("bob", rust(), renamed()), None),
            (Address::User("bob".into()), event("bob", rust(), renamed()), None),
            (
                rust(),
                event("bob", rust(), MessageEvent::Removed { user: "Alice".into() }),
                Some(Address::everyone()),
            ),
            (rust(), event("bob", rust(), MessageEvent::Removed { user: "carol".into() }), None),
            (rust(), event("alice", rust(), MessageEvent::Left {}), Some(Address::everyone())),
            (rust(), event("bob", rust(), MessageEvent::Left {}), None),
            (rust(), event("bob", rust(), MessageEvent::Deleted {}), Some(Address::everyone())),
            (rust(), event("bob", rust(), MessageEvent::Added { user: "dan".into() }), None),
            (rust(), ChatMessage { to: rust(), text: "hi".into(), ..Default::default() }, None),
        ];
        for (current, m, want) in cases {
            assert_eq!(follow(&current, &m, "alice"), want, "{current:?} after {m:?}");
        }
    }

    #[test]
    fn group_commands_need_a_named_group() {
        let cases = [
            (Address::Group("rust".into()), Some("rust")),
            (Address::everyone(), None),
            (Address::Group("Everyone".into()), None),
            (Address::User("bob".into()), None),
        ];
        for (current, want) in cases {
            assert_eq!(named_group(&current), want, "{current:?}");
        }
    }
}
