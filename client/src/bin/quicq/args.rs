//! The command line: every flag, command and argument of `quicq`, with the help text people
//! read (from these doc comments).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use quicq_common::protocol::Role;
use quicq_common::{Address, Fingerprint, JoinLink};

/// QuicQ command-line client: encrypted chat over QUIC.
///
/// The password is read from QUICQ_PASSWORD or asked for without echo; it is never a flag.
/// Options other than --server and --nick may also follow the command.
#[derive(Debug, Parser)]
#[command(version)]
pub struct Args {
    /// Server address (host, host:port) or join link (quicq://host:port#fp=…).
    #[arg(short, long, env = "QUICQ_SERVER")]
    pub server: JoinLink,
    /// Your nickname; a free one is registered on first use.
    #[arg(short, long, env = "QUICQ_NICK")]
    pub nick: String,
    /// Require this certificate fingerprint (SHA-256, hex) and remember it.
    #[arg(long, global = true, env = "QUICQ_FINGERPRINT")]
    pub fingerprint: Option<Fingerprint>,
    /// Trust servers whose certificate is issued by (or is) a certificate in this PEM file.
    #[arg(long, global = true, env = "QUICQ_CA")]
    pub ca: Option<PathBuf>,
    /// Trust a server seen for the first time without asking, and remember it.
    #[arg(long, global = true)]
    pub accept_new: bool,
    /// Known-servers file [default: ~/.config/quicq/known_servers].
    #[arg(long, global = true, env = "QUICQ_KNOWN_SERVERS")]
    pub known_servers: Option<PathBuf>,
    /// Where received files are saved [default: your download folder/QuicQ].
    #[arg(long, global = true, env = "QUICQ_DOWNLOAD_DIR")]
    pub download_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// One conversation: a user, a named group, or everyone. Exactly one is required.
#[derive(Debug, Clone, PartialEq, clap::Args)]
#[group(required = true, multiple = false)]
pub struct Target {
    /// A user (nickname).
    #[arg(long, value_name = "NAME")]
    pub to: Option<String>,
    /// A named group.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Everyone.
    #[arg(long)]
    pub all: bool,
}

impl Target {
    pub fn address(&self) -> Address {
        Within { to: self.to.clone(), group: self.group.clone(), all: self.all }
            .address()
            .unwrap_or_else(Address::everyone)
    }
}

/// At most one conversation; what none means is up to the command.
#[derive(Debug, Clone, PartialEq, clap::Args)]
#[group(required = false, multiple = false)]
pub struct Within {
    /// The conversation with this user.
    #[arg(long, value_name = "NAME")]
    pub to: Option<String>,
    /// This named group.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// The everyone group.
    #[arg(long)]
    pub all: bool,
}

impl Within {
    pub fn address(&self) -> Option<Address> {
        match (&self.to, &self.group, self.all) {
            (Some(user), _, _) => Some(Address::User(user.clone())),
            (_, Some(group), _) => Some(Address::Group(group.clone())),
            (_, _, true) => Some(Address::everyone()),
            _ => None,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Interactive chat (the default): plain lines go to the current conversation.
    Chat,
    /// Send one message and exit once the server has stored it.
    Send {
        #[command(flatten)]
        target: Target,
        /// The message; several words are joined with spaces.
        #[arg(required = true)]
        text: Vec<String>,
    },
    /// Answer (quote) message ID in its conversation.
    ///
    /// The reply goes to the conversation of message ID. Give it with --to, --group or --all;
    /// without one, quicq finds it among your conversations (one request each).
    Reply {
        /// The message answered (as `#ID` in history).
        #[arg(value_parser = parse_id)]
        id: u64,
        /// The reply; several words are joined with spaces.
        #[arg(required = true)]
        text: Vec<String>,
        #[command(flatten)]
        within: Within,
    },
    /// Replace the text of your message ID (within the server's edit window).
    Edit {
        /// Your message (as `#ID` in history).
        #[arg(value_parser = parse_id)]
        id: u64,
        /// The new text; several words are joined with spaces.
        #[arg(required = true)]
        text: Vec<String>,
    },
    /// Delete your message ID for everyone, with its file (within the server's recall window).
    Recall {
        /// Your message (as `#ID` in history).
        #[arg(value_parser = parse_id)]
        id: u64,
    },
    /// React to message ID with an emoji (replacing your earlier reaction), or --clear it.
    React {
        /// The message (as `#ID` in history).
        #[arg(value_parser = parse_id)]
        id: u64,
        /// One emoji (with its modifiers), e.g. 👍.
        #[arg(required_unless_present = "clear", conflicts_with = "clear")]
        emoji: Option<String>,
        /// Take your reaction back.
        #[arg(long)]
        clear: bool,
    },
    /// Find messages containing TEXT (any case), newest first: in every conversation you are
    /// in, or only in the one given.
    Search {
        /// What to find; several words are joined with spaces.
        #[arg(required = true)]
        text: Vec<String>,
        #[command(flatten)]
        within: Within,
        /// How many results.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Only messages older than this id.
        #[arg(long, value_parser = parse_id)]
        before: Option<u64>,
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Send a file to a user, a group or everyone, with a progress bar; exits once the server
    /// has it.
    #[command(
        override_usage = "quicq send-file NAME PATH\n       quicq send-file --all PATH\n       \
                                quicq send-file --group GROUP PATH"
    )]
    SendFile {
        /// Send to everyone.
        #[arg(long, conflicts_with = "group")]
        all: bool,
        /// Send to a named group.
        #[arg(long, value_name = "GROUP")]
        group: Option<String>,
        /// NAME PATH, or just PATH with --all or --group.
        #[arg(num_args = 1..=2, required = true, value_names = ["NAME", "PATH"])]
        args: Vec<String>,
    },
    /// Print events (messages and their events, presence, read receipts, typing, connection
    /// state, files) as JSON lines until interrupted; incoming files are saved to the download
    /// folder.
    Listen,
    /// Print a conversation's history, oldest first.
    History {
        /// The other user; or use --group or --all.
        #[arg(conflicts_with_all = ["all", "group"], required_unless_present_any = ["all", "group"])]
        with: Option<String>,
        /// A named group.
        #[arg(long, value_name = "GROUP", conflicts_with = "all")]
        group: Option<String>,
        /// The everyone group.
        #[arg(long)]
        all: bool,
        /// How many messages.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Only messages older than this id.
        #[arg(long, value_parser = parse_id)]
        before: Option<u64>,
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Your conversations, most recent first, with unread counts.
    Conversations {
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// How far the others in a conversation have read it (for those who share receipts).
    Receipts {
        #[command(flatten)]
        target: Target,
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Change your settings.
    Settings {
        /// Share read receipts (and see others').
        #[arg(long, value_name = "on|off")]
        receipts: Option<OnOff>,
    },
    /// Named groups: create, change, list.
    Group {
        #[command(subcommand)]
        command: GroupCommand,
    },
    /// List users and who is online.
    Users {
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, PartialEq, Subcommand)]
pub enum GroupCommand {
    /// Create a group with you as its owner, adding the members named.
    Create { name: String, members: Vec<String> },
    /// Add USER (owners and admins).
    Add { group: String, user: String },
    /// Remove USER (owners: anyone; admins: plain members).
    Remove { group: String, user: String },
    /// Leave the group (an owner hands ownership on; the last one out deletes it).
    Leave { group: String },
    /// Rename the group (owners and admins); its history follows.
    Rename { group: String, name: String },
    /// Set the topic (owners and admins); no TEXT clears it.
    Topic { group: String, text: Vec<String> },
    /// Make USER an admin or a member, or hand ownership over to USER (owners).
    Role { group: String, user: String, role: RoleArg },
    /// Delete the group with its messages and files, for everyone (owners).
    Delete { group: String },
    /// List the members: owner, admins, members.
    Members {
        group: String,
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List your groups.
    List {
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// A role as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, ValueEnum)]
pub enum RoleArg {
    Admin,
    Member,
    Owner,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::Admin => Role::Admin,
            RoleArg::Member => Role::Member,
            RoleArg::Owner => Role::Owner,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

/// A message id as people copy it from history: `42` or `#42`.
pub fn parse_id(text: &str) -> Result<u64, String> {
    match text.strip_prefix('#').unwrap_or(text).parse() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(format!("{text:?} is not a message id (a number, as #42 in history)")),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn command_line_definition_is_valid() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }

    /// Every `quicq …` command the README shows, in its code blocks and after "or:" in their
    /// comments, split as a shell would split it (quotes, backslash-newline).
    fn readme_commands() -> Vec<Vec<String>> {
        let readme = include_str!("../../../../README.md");
        let mut commands = Vec::new();
        let mut in_code = false;
        let mut joined = String::new();
        for line in readme.lines() {
            if line.starts_with("```") {
                in_code = !in_code;
                continue;
            }
            if !in_code {
                continue;
            }
            if let Some(start) = line.strip_suffix('\\') {
                joined.push_str(start);
                continue;
            }
            joined.push_str(line);
            let (code, comment) = joined.split_once(" #").unwrap_or((&joined, ""));
            let alternative = comment.split_once("or:").map(|(_, alt)| alt.split(';').next());
            for text in [Some(code), alternative.flatten()].into_iter().flatten() {
                let words = shell_words(text.trim());
                let start = match words.iter().position(|w| w == "--") {
                    Some(dashes) if words.iter().any(|w| w == "quicq") => Some(dashes + 1),
                    _ if words.first().is_some_and(|w| w == "quicq") => Some(1),
                    _ => None,
                };
                if let Some(start) = start {
                    commands.push(words[start..].to_vec());
                }
            }
            joined.clear();
        }
        commands
    }

    fn shell_words(text: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut word: Option<String> = None;
        let mut quote = None;
        for c in text.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => word.get_or_insert_default().push(c),
                (None, '"' | '\'') => {
                    quote = Some(c);
                    word.get_or_insert_default();
                }
                (None, c) if c.is_whitespace() => words.extend(word.take()),
                (None, c) => word.get_or_insert_default().push(c),
            }
        }
        words.extend(word);
        words
    }

    #[test]
    fn every_command_in_the_readme_is_accepted() {
        let commands = readme_commands();
        assert!(commands.len() >= 9, "found only {commands:?}");
        for words in commands {
            let mut argv = vec!["quicq".to_owned()];
            // The README sets the server and nickname once, by environment or flags.
            if !words.iter().any(|w| w == "--server") {
                argv.extend(["--server", "localhost", "--nick", "alice"].map(String::from));
            }
            // Placeholders stand for a real value.
            argv.extend(
                words.iter().map(|w| {
                    w.replace("<fingerprint>", &"0".repeat(64)).replace("<invite>", "abc")
                }),
            );
            if let Err(e) = Args::try_parse_from(&argv) {
                panic!("README command {words:?} is refused:\n{e}");
            }
        }
    }

    #[test]
    fn the_download_dir_may_follow_the_command() {
        let args = Args::try_parse_from([
            "quicq",
            "--server",
            "localhost",
            "--nick",
            "a",
            "listen",
            "--download-dir",
            "/tmp/x",
        ])
        .unwrap();
        assert_eq!(args.download_dir.as_deref(), Some(std::path::Path::new("/tmp/x")));
    }

    fn parse(line: &str) -> Result<Command, String> {
        let argv = ["quicq", "-s", "localhost", "-n", "alice"].into_iter().map(String::from);
        let words = shell_words(line);
        Args::try_parse_from(argv.chain(words))
            .map(|a| a.command.expect("a command"))
            .map_err(|e| e.kind().to_string())
    }

    fn user(name: &str) -> Address {
        Address::User(name.into())
    }

    fn group(name: &str) -> Address {
        Address::Group(name.into())
    }

    #[test]
    fn messages_go_to_exactly_one_conversation() {
        let cases: &[(&str, Option<Address>)] = &[
            ("send --to bob hi there", Some(user("bob"))),
            ("send --group rust hi", Some(group("rust"))),
            ("send --all hi", Some(Address::everyone())),
            ("send hi", None),
            ("send --to bob --group rust hi", None),
            ("send --all --group rust hi", None),
            ("send --group rust", None),
            ("receipts --to bob", Some(user("bob"))),
            ("receipts --group rust", Some(group("rust"))),
            ("receipts", None),
        ];
        for (line, want) in cases {
            let got = match parse(line) {
                Ok(Command::Send { target, .. } | Command::Receipts { target, .. }) => {
                    Some(target.address())
                }
                Ok(other) => panic!("{line}: {other:?}"),
                Err(_) => None,
            };
            assert_eq!(&got, want, "{line}");
        }
        let Ok(Command::Send { text, .. }) = parse("send --group rust 你好 世界") else {
            panic!()
        };
        assert_eq!(text.join(" "), "你好 世界");
    }

    #[test]
    fn message_commands_take_ids_as_history_shows_them() {
        let ok = |line: &str| parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(
            matches!(ok("edit 42 new text"), Command::Edit { id: 42, text } if text == ["new", "text"])
        );
        assert!(matches!(ok("edit #42 x"), Command::Edit { id: 42, .. }));
        assert!(matches!(ok("recall 7"), Command::Recall { id: 7 }));
        assert!(
            matches!(ok("react 7 👍"), Command::React { id: 7, emoji: Some(e), clear: false } if e == "👍")
        );
        assert!(matches!(
            ok("react 7 --clear"),
            Command::React { id: 7, emoji: None, clear: true }
        ));
        let Command::Reply { id: 9, text, within } = ok("reply #9 me too") else { panic!() };
        assert_eq!((text.join(" ").as_str(), within.address()), ("me too", None));
        let Command::Reply { within, .. } = ok("reply 9 ok --group rust") else { panic!() };
        assert_eq!(within.address(), Some(group("rust")));
        for bad in [
            "edit 42",
            "edit x text",
            "edit 0 text",
            "recall",
            "react 7",
            "react 7 👍 --clear",
            "reply 9",
            "reply 9 x --to bob --all",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn search_history_and_settings() {
        let Ok(Command::Search { text, within, limit: 20, before: None, json: false }) =
            parse("search 你好 world")
        else {
            panic!()
        };
        assert_eq!((text.join(" ").as_str(), within.address()), ("你好 world", None));
        let Ok(Command::Search { within, before: Some(5), .. }) =
            parse("search x --to bob --before #5")
        else {
            panic!()
        };
        assert_eq!(within.address(), Some(user("bob")));
        assert!(parse("search").is_err());
        assert!(parse("search x --to bob --group g").is_err());

        let history = |line| match parse(line) {
            Ok(Command::History { with, group, all, .. }) => Some((with, group, all)),
            _ => None,
        };
        assert_eq!(history("history bob"), Some((Some("bob".into()), None, false)));
        assert_eq!(history("history --group rust"), Some((None, Some("rust".into()), false)));
        assert_eq!(history("history --all"), Some((None, None, true)));
        assert_eq!(history("history"), None);
        assert_eq!(history("history bob --group rust"), None);

        assert!(matches!(
            parse("settings --receipts off"),
            Ok(Command::Settings { receipts: Some(OnOff::Off) })
        ));
        assert!(parse("settings --receipts maybe").is_err());
    }

    #[test]
    fn group_commands() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cases: Vec<(&str, Option<GroupCommand>)> = vec![
            (
                "group create rust bob 小明",
                Some(GroupCommand::Create { name: "rust".into(), members: s(&["bob", "小明"]) }),
            ),
            (
                "group create solo",
                Some(GroupCommand::Create { name: "solo".into(), members: vec![] }),
            ),
            (
                "group add rust bob",
                Some(GroupCommand::Add { group: "rust".into(), user: "bob".into() }),
            ),
            (
                "group remove rust bob",
                Some(GroupCommand::Remove { group: "rust".into(), user: "bob".into() }),
            ),
            ("group leave rust", Some(GroupCommand::Leave { group: "rust".into() })),
            (
                "group rename rust rustaceans",
                Some(GroupCommand::Rename { group: "rust".into(), name: "rustaceans".into() }),
            ),
            (
                "group topic rust Rust 2027 edition",
                Some(GroupCommand::Topic {
                    group: "rust".into(),
                    text: s(&["Rust", "2027", "edition"]),
                }),
            ),
            ("group topic rust", Some(GroupCommand::Topic { group: "rust".into(), text: vec![] })),
            (
                "group role rust bob admin",
                Some(GroupCommand::Role {
                    group: "rust".into(),
                    user: "bob".into(),
                    role: RoleArg::Admin,
                }),
            ),
            (
                "group role rust bob owner",
                Some(GroupCommand::Role {
                    group: "rust".into(),
                    user: "bob".into(),
                    role: RoleArg::Owner,
                }),
            ),
            ("group delete rust", Some(GroupCommand::Delete { group: "rust".into() })),
            (
                "group members rust",
                Some(GroupCommand::Members { group: "rust".into(), json: false }),
            ),
            ("group list --json", Some(GroupCommand::List { json: true })),
            ("group role rust bob king", None),
            ("group add rust", None),
            ("group create", None),
            ("group explode rust", None),
        ];
        for (line, want) in cases {
            let got = match parse(line) {
                Ok(Command::Group { command }) => Some(command),
                Ok(other) => panic!("{line}: {other:?}"),
                Err(_) => None,
            };
            assert_eq!(got, want, "{line}");
        }
        assert_eq!(Role::from(RoleArg::Member), Role::Member);
    }

    #[test]
    fn ids_are_numbers_with_an_optional_hash() {
        let cases = [
            ("42", Some(42)),
            ("#42", Some(42)),
            ("0", None),
            ("-1", None),
            ("x", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_id(text).ok(), want, "{text:?}");
        }
    }
}
