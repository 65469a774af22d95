//! Interactive chat: plain lines go to the current conversation, `/` starts a command.

use quicq_client::{Client, Event, Events};
use quicq_common::Address;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::print::{self, Bars};

const HELP: &str = "\
Commands:
  /msg NAME text   send one message to NAME
  /file NAME PATH  send a file to NAME (NAME may be all)
  /to NAME         talk to NAME from now on
  /all             talk to everyone from now on
  /users           who is here (● online)
  /history [N]     the last N messages of the current conversation (default 20)
  /quit            leave
  Anything else is sent to the current conversation.";

/// What one input line asks for.
#[derive(Debug, PartialEq)]
pub enum Input {
    Say(String),
    Msg(String, String),
    File(Option<String>, String),
    To(String),
    All,
    Users,
    History(u32),
    Help,
    Quit,
    Nothing,
    Bad(String),
}

pub fn parse(line: &str) -> Input {
    let line = line.trim_end_matches(['\r', '\n']);
    let Some(command) = line.strip_prefix('/') else {
        return if line.trim().is_empty() { Input::Nothing } else { Input::Say(line.to_owned()) };
    };
    let mut parts = command.splitn(2, char::is_whitespace);
    let name = parts.next().unwrap_or_default();
    let rest = parts.next().unwrap_or_default().trim();
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
        "all" => Input::All,
        "users" | "who" => Input::Users,
        "history" | "h" if rest.is_empty() => Input::History(20),
        "history" | "h" => match rest.parse() {
            Ok(n) if n > 0 => Input::History(n),
            _ => Input::Bad("usage: /history [N]".into()),
        },
        "help" | "?" => Input::Help,
        "quit" | "q" | "exit" => Input::Quit,
        // "//text" sends a line that starts with a slash.
        _ if command.starts_with('/') => Input::Say(command.to_owned()),
        other => Input::Bad(format!("unknown command /{other}; /help lists them")),
    }
}

pub async fn run(client: &Client, mut events: Events) -> anyhow::Result<()> {
    let welcome = client.welcome();
    print::say(&format!(
        "Signed in as {} ({}). Talking to everyone. /help for commands.",
        welcome.you, welcome.server
    ));
    let mut current = Address::everyone();
    let mut bars = Bars::new();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(Event::Message(m)) => bars.println(&print::message_line(&m)),
                Some(Event::Presence { user, online }) => {
                    bars.println(&format!("* {user} is {}", if online { "online" } else { "offline" }));
                }
                Some(Event::State(state)) => bars.println(&print::state_line(&state)),
                Some(Event::Read { .. } | Event::Typing { .. }) => {}
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
                match parse(&line) {
                    Input::Say(text) => send(client, current.clone(), text),
                    Input::Msg(to, text) => send(client, Address::User(to), text),
                    Input::File(to, path) => {
                        let to = to.map_or_else(Address::everyone, Address::User);
                        match client.send_file(to, std::path::Path::new(&path)).await {
                            Ok(upload) => bars.println(&format!("* sending {}", upload.name)),
                            Err(e) => bars.println(&format!("! {e}")),
                        }
                    }
                    Input::To(name) => {
                        current = Address::User(name);
                        print::say(&format!("* talking to {current}"));
                    }
                    Input::All => {
                        current = Address::everyone();
                        println!("* talking to everyone");
                    }
                    Input::Users => match client.users().await {
                        Ok(users) => print::users(&users, false),
                        Err(e) => print::say(&format!("! {e}")),
                    },
                    Input::History(n) => match client.history(current.clone(), None, n).await {
                        Ok(page) => print::history(&page.messages, false),
                        Err(e) => print::say(&format!("! {e}")),
                    },
                    Input::Help => println!("{HELP}"),
                    Input::Quit => return Ok(()),
                    Input::Nothing => {}
                    Input::Bad(why) => print::say(&format!("! {why}")),
                }
            }
        }
    }
}

/// Sends in the background: the message shows when the server delivers it back; only a failure
/// is printed here. `send` is called here, not in the task, so lines keep the order they were
/// typed in (the client opens their streams in the order of the calls).
fn send(client: &Client, to: Address, text: String) {
    let sending = client.send(to.clone(), text);
    tokio::spawn(async move {
        if let Err(e) = sending.await {
            print::say(&format!("! not sent to {to}: {e}"));
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
}
