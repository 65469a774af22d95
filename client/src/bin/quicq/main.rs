//! `quicq`: the command-line client. Parses flags, connects (asking before trusting a new
//! server), then runs the chosen command: interactive chat by default, or a one-shot command for
//! scripts.
//!
//! Layout: `args` (the command line), `commands` (the one-shot commands), `line_mode` (the
//! interactive chat), `print` (every line shown, for people or as JSON).

mod args;
mod commands;
mod line_mode;
mod print;

use std::io::IsTerminal;

use anyhow::{Context, bail};
use clap::Parser;
use quicq_client::{Client, ClientConfig, ConnectError, Events, Trust};

use crate::args::{Args, Command};

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
    let result = commands::run(&client, args.command.unwrap_or(Command::Chat), events).await;
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
