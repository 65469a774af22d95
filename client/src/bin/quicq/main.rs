//! `quicq`: the command-line client. Parses flags, connects (asking before trusting a new
//! server), then runs the chosen command: interactive chat by default, or a one-shot command for
//! scripts.

mod line_mode;
mod print;

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use quicq_client::{Client, ClientConfig, ConnectError, Events, Trust};
use quicq_common::{Address, Fingerprint, JoinLink};

/// QuicQ command-line client: encrypted chat over QUIC.
///
/// The password is read from QUICQ_PASSWORD or asked for without echo; it is never a flag.
/// Options other than --server and --nick may also follow the command.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Server address (host, host:port) or join link (quicq://host:port#fp=…).
    #[arg(short, long, env = "QUICQ_SERVER")]
    server: JoinLink,
    /// Your nickname; a free one is registered on first use.
    #[arg(short, long, env = "QUICQ_NICK")]
    nick: String,
    /// Require this certificate fingerprint (SHA-256, hex) and remember it.
    #[arg(long, global = true, env = "QUICQ_FINGERPRINT")]
    fingerprint: Option<Fingerprint>,
    /// Trust servers whose certificate is issued by (or is) a certificate in this PEM file.
    #[arg(long, global = true, env = "QUICQ_CA")]
    ca: Option<PathBuf>,
    /// Trust a server seen for the first time without asking, and remember it.
    #[arg(long, global = true)]
    accept_new: bool,
    /// Known-servers file [default: ~/.config/quicq/known_servers].
    #[arg(long, global = true, env = "QUICQ_KNOWN_SERVERS")]
    known_servers: Option<PathBuf>,
    /// Where received files are saved [default: your download folder/QuicQ].
    #[arg(long, global = true, env = "QUICQ_DOWNLOAD_DIR")]
    download_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Interactive chat (the default): plain lines go to the current conversation.
    Chat,
    /// Send one message and exit once the server has stored it.
    Send {
        /// Recipient nickname.
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        to: Option<String>,
        /// Send to everyone.
        #[arg(long)]
        all: bool,
        /// The message; several words are joined with spaces.
        #[arg(required = true)]
        text: Vec<String>,
    },
    /// Send a file to a user or everyone, with a progress bar; exits once the server has it.
    #[command(override_usage = "quicq send-file NAME PATH\n       quicq send-file --all PATH")]
    SendFile {
        /// Send to everyone.
        #[arg(long)]
        all: bool,
        /// NAME PATH, or just PATH with --all.
        #[arg(num_args = 1..=2, required = true, value_names = ["NAME", "PATH"])]
        args: Vec<String>,
    },
    /// Print events (messages, presence, connection state, files) as JSON lines until
    /// interrupted; incoming files are saved to the download folder.
    Listen,
    /// Print a conversation's history, oldest first.
    History {
        /// The other user; omit with --all for the group.
        #[arg(conflicts_with = "all", required_unless_present = "all")]
        with: Option<String>,
        #[arg(long)]
        all: bool,
        /// How many messages.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Only messages older than this id.
        #[arg(long)]
        before: Option<u64>,
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List users and who is online.
    Users {
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn address(to: Option<String>, all: bool) -> Address {
    match (to, all) {
        (Some(name), false) => Address::User(name),
        _ => Address::everyone(),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Errors are for people: one clean message, no backtrace.
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let line = quicq_common::report::one_line(e.as_ref());
            eprintln!("error: {}", quicq_common::text::for_terminal(&line));
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    // Only the long-running commands take files in.
    let receives = matches!(args.command, None | Some(Command::Chat) | Some(Command::Listen));
    let (client, events) = connect(&args, receives).await?;
    let result = match args.command.unwrap_or(Command::Chat) {
        Command::Chat => line_mode::run(&client, events).await,
        Command::SendFile { all, args } => {
            let (to, path) = match (all, args.as_slice()) {
                (true, [path]) => (Address::everyone(), path),
                (false, [name, path]) => (Address::User(name.clone()), path),
                (true, _) => bail!("with --all, give only the file: quicq send-file --all PATH"),
                (false, _) => bail!("give a nickname and a file: quicq send-file NAME PATH"),
            };
            print::send_file(&client, to, std::path::Path::new(path), events).await
        }
        Command::Send { to, all, text } => {
            let sent = client.send(address(to, all), text.join(" ")).await?;
            println!("sent message {}", sent.id);
            Ok(())
        }
        Command::Listen => print::listen(events).await,
        Command::History { with, all, limit, before, json } => {
            let page = client.history(address(with, all), before, limit).await?;
            print::history(&page.messages, json);
            if page.more && !json {
                let oldest = page.messages.last().map_or(0, |m| m.id);
                eprintln!("(older messages exist: --before {oldest})");
            }
            Ok(())
        }
        Command::Users { json } => {
            print::users(&client.users().await?, json);
            Ok(())
        }
    };
    client.close().await;
    result
}

fn password() -> anyhow::Result<String> {
    if let Ok(pw) = std::env::var("QUICQ_PASSWORD") {
        return Ok(pw);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no password: set QUICQ_PASSWORD or run in a terminal to be asked");
    }
    rpassword::prompt_password("Password: ").context("cannot read password")
}

/// Connects; on first contact with a server, shows its fingerprint and asks before trusting it.
async fn connect(args: &Args, receive_files: bool) -> anyhow::Result<(Client, Events)> {
    let mut config = ClientConfig::new(args.server.clone(), args.nick.clone(), password()?);
    config.client_name = concat!("quicq-cli ", env!("CARGO_PKG_VERSION")).into();
    if let Some(path) = quicq_client::device::default_path() {
        match quicq_client::device::load_or_create(&path) {
            Ok(id) => config.device = Some(id),
            Err(e) => tracing::warn!(cause = %e, "cannot keep a device id; files may arrive twice"),
        }
    }
    if receive_files {
        config.downloads = Some(
            args.download_dir.clone().unwrap_or_else(quicq_client::transfer::default_download_dir),
        );
    }
    config.trust = Trust {
        known_servers: args
            .known_servers
            .clone()
            .or_else(quicq_client::trust::default_known_servers),
        fingerprint: args.fingerprint,
        ca: args.ca.clone(),
        accept_new: args.accept_new,
        system_roots: true,
    };
    match Client::connect(config.clone()).await {
        Ok(connected) => Ok(connected),
        Err(ConnectError::UnknownServer { authority, fingerprint }) => {
            if !std::io::stdin().is_terminal() {
                bail!(
                    "{}\nPass --fingerprint {fingerprint} or --accept-new once you have checked it.",
                    ConnectError::UnknownServer { authority, fingerprint }
                );
            }
            eprintln!(
                "{}",
                ConnectError::UnknownServer { authority: authority.clone(), fingerprint }
            );
            if !ask_yes("Trust this server and remember it? Type yes or no: ")? {
                bail!("not connecting to an untrusted server");
            }
            config
                .trust
                .remember(&authority, fingerprint)
                .context("cannot write the known-servers file")?;
            config.trust.fingerprint = Some(fingerprint);
            Ok(Client::connect(config).await?)
        }
        Err(e) => Err(e.into()),
    }
}

fn ask_yes(prompt: &str) -> anyhow::Result<bool> {
    use std::io::Write;
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(answer.trim().eq_ignore_ascii_case("yes"))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Args;

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
}
