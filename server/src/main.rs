//! `quicq-server`: parse flags, set up logging, build the config, run until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use quicq_common::nickname::key_of;
use quicq_common::{Fingerprint, JoinLink};
use quicq_server::admin;
use quicq_server::config::{Database, Registration, StoreKind};
use quicq_server::password::Passwords;
use quicq_server::store;
use quicq_server::{Config, Server};
use tokio_util::sync::CancellationToken;

/// QuicQ server: encrypted chat and file sharing over QUIC.
///
/// Settings come from flags, then QUICQ_* environment variables, then the optional TOML file
/// (--config), then built-in defaults.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// TOML config file (see quicq-server.example.toml).
    #[arg(long, global = true, env = "QUICQ_CONFIG")]
    config: Option<PathBuf>,
    /// UDP address to listen on [default: [::]:7373, every IPv6 and IPv4 address].
    #[arg(long, global = true, env = "QUICQ_LISTEN")]
    listen: Option<SocketAddr>,
    /// Name or address clients use to reach this server; written into the self-signed
    /// certificate when it is first made. Repeat for several [default: localhost, 127.0.0.1, ::1].
    #[arg(long = "hostname", global = true, env = "QUICQ_HOSTNAME", value_delimiter = ',')]
    hostnames: Vec<String>,
    /// Directory for the self-signed certificate and key [default: certs].
    #[arg(long, global = true, env = "QUICQ_CERT_DIR")]
    cert_dir: Option<PathBuf>,
    /// CA-issued certificate chain (PEM) to use instead of a self-signed one.
    #[arg(long, env = "QUICQ_CERT", requires = "key")]
    cert: Option<PathBuf>,
    /// Private key (PEM) for --cert.
    #[arg(long, env = "QUICQ_KEY", requires = "cert")]
    key: Option<PathBuf>,
    /// Directory for the SQLite database and the file spool [default: data].
    #[arg(long, global = true, env = "QUICQ_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Directory for shared files' bytes [default: spool in --data-dir]; every node of a
    /// cluster uses the same one.
    #[arg(long, global = true, env = "QUICQ_SPOOL_DIR")]
    spool_dir: Option<PathBuf>,
    /// Database for accounts, messages and groups: sqlite (in --data-dir) or postgres (at
    /// --database-url) [default: sqlite].
    #[arg(long, global = true, env = "QUICQ_STORE", value_enum)]
    store: Option<StoreKind>,
    /// PostgreSQL connection URL, e.g. postgresql://quicq@localhost/quicq or
    /// "host=/run/postgresql dbname=quicq"; with --store postgres.
    #[arg(long, global = true, env = "QUICQ_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Run as one node of a cluster that talks through this NATS server, e.g.
    /// nats://127.0.0.1:4222; needs --store postgres (see docs/cluster.md).
    #[arg(long, env = "QUICQ_NATS_URL")]
    nats_url: Option<String>,
    /// Answer health requests over HTTP on this TCP address, e.g. 127.0.0.1:7374 (200 while
    /// the node can serve, 503 when its database does not answer).
    #[arg(long, env = "QUICQ_HEALTH_LISTEN")]
    health_listen: Option<SocketAddr>,
    /// Who may register a free nickname: open (anyone), invite (with an invite code) or closed
    /// [default: invite, or open when listening on loopback only].
    #[arg(long, env = "QUICQ_REGISTRATION", value_enum)]
    registration: Option<Registration>,
    /// The same as --registration closed.
    #[arg(long, env = "QUICQ_NO_REGISTRATION", conflicts_with = "registration")]
    no_registration: bool,
    /// Longest chat message, in characters [default: 4000].
    #[arg(long, env = "QUICQ_MAX_TEXT_CHARS")]
    max_text_chars: Option<u32>,
    /// Sustained messages per second per account [default: 10].
    #[arg(long, env = "QUICQ_MESSAGES_PER_SECOND")]
    messages_per_second: Option<u32>,
    /// Messages an account may send in a burst [default: 30].
    #[arg(long, env = "QUICQ_MESSAGE_BURST")]
    message_burst: Option<u32>,
    /// Congestion controller for what the server sends: low-delay, bbr, cubic or new-reno
    /// [default: low-delay].
    #[arg(long, env = "QUICQ_CONGESTION")]
    congestion: Option<quicq_common::congestion::Congestion>,
    /// Flow-control window per stream, bytes; must cover bandwidth × round trip
    /// [default: 16 MiB].
    #[arg(long, env = "QUICQ_STREAM_WINDOW_BYTES")]
    stream_window_bytes: Option<u32>,
    /// Most connections at once [default: 20000].
    #[arg(long, env = "QUICQ_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Largest file an upload may declare, in bytes [default: 16 GiB].
    #[arg(long, env = "QUICQ_MAX_FILE_BYTES")]
    max_file_bytes: Option<u64>,
    /// Total bytes of files kept or uploading at once [default: 64 GiB].
    #[arg(long, env = "QUICQ_SPOOL_QUOTA_BYTES")]
    spool_quota_bytes: Option<u64>,
    /// Seconds a file is kept for recipients who have not fetched it [default: 7 days].
    #[arg(long, env = "QUICQ_FILE_RETENTION_SECS")]
    file_retention_secs: Option<u64>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Manage the server in the data directory; safe while it runs.
    #[command(subcommand)]
    Admin(Admin),
}

#[derive(Debug, clap::Subcommand)]
enum Admin {
    /// Invite codes: registering a free nickname needs one when registration is `invite`.
    #[command(subcommand)]
    Invite(InviteCommand),
    /// List the accounts.
    Users,
    /// Stop an account from signing in, and end its sessions (within seconds).
    Disable { nickname: String },
    /// Let a disabled account sign in again.
    Enable { nickname: String },
    /// Give an account a new random password, printed once.
    ResetPassword { nickname: String },
}

#[derive(Debug, clap::Subcommand)]
enum InviteCommand {
    /// Make an invite and print its join link.
    Create {
        /// How many accounts it may register.
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// How long it lasts, e.g. 7d, 12h, 30m; never expires when absent.
        #[arg(long, value_parser = humantime::parse_duration)]
        expires: Option<std::time::Duration>,
    },
    /// List invites and what is left of them.
    List,
    /// Make an invite unusable.
    Revoke { code: String },
}

impl Args {
    fn into_config(mut self) -> anyhow::Result<(Config, Option<Command>)> {
        let command = self.command.take();
        Ok((self.into_settings()?, command))
    }

    fn into_settings(self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("invalid config file {}", path.display()))?
            }
            None => Config::default(),
        };
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { config.$field = v; } )* };
        }
        set!(
            listen,
            cert_dir,
            data_dir,
            store,
            max_text_chars,
            messages_per_second,
            message_burst,
            congestion,
            stream_window_bytes,
            max_connections,
            max_file_bytes,
            spool_quota_bytes,
            file_retention_secs
        );
        if self.database_url.is_some() {
            config.database_url = self.database_url;
        }
        if self.spool_dir.is_some() {
            config.spool_dir = self.spool_dir;
        }
        if self.nats_url.is_some() {
            config.nats_url = self.nats_url;
        }
        if self.health_listen.is_some() {
            config.health_listen = self.health_listen;
        }
        if self.cert.is_some() {
            config.cert = self.cert;
            config.key = self.key;
        }
        if !self.hostnames.is_empty() {
            config.hostnames = self.hostnames;
        }
        if self.no_registration {
            config.registration = Some(Registration::Closed);
        } else if self.registration.is_some() {
            config.registration = self.registration;
        }
        Ok(config)
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", quicq_common::report::one_line(e.as_ref()));
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "quicq_server=info".into()),
        )
        // Colour only on a terminal, not in journald or files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let (config, command) = Args::parse().into_config()?;
    if let Some(Command::Admin(admin)) = command {
        // Off the runtime's threads: the PostgreSQL client blocks.
        return std::thread::scope(|s| {
            s.spawn(|| run_admin(&config, admin))
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the admin command failed")))
        });
    }
    let data_dir = config.data_dir.clone();
    let server = Server::bind(config).context("cannot start server")?;

    if server.certificate_created() {
        tracing::info!("made a new self-signed certificate");
    }
    for host in server.uncovered_hostnames() {
        tracing::warn!(%host, "the certificate does not name this host; delete the certificate files to make a new one");
    }
    tracing::info!(addr = %server.local_addr(), data = %data_dir.display(), "listening");
    tracing::info!(fingerprint = %server.fingerprint().pretty(), "certificate SHA-256");
    tracing::info!("join link: {}", server.join_link());
    tracing::info!(registration = ?server.registration(), "new accounts");
    if let Some(code) = server.first_invite() {
        let link = JoinLink { invite: Some(code.to_owned()), ..server.join_link() };
        tracing::info!(
            "no account yet; register the first one with this link (one use, 7 days): {link}"
        );
    }

    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    server.run(shutdown).await;
    Ok(())
}

/// `quicq-server admin …`: works on the database in the data directory.
fn run_admin(config: &Config, admin: Admin) -> anyhow::Result<()> {
    let database = config.database()?;
    let mut store = store::open(&database).with_context(|| match &database {
        Database::Sqlite(path) => format!("cannot open {}", path.display()),
        Database::Postgres(_) => "cannot open the PostgreSQL database".to_owned(),
    })?;
    let now = quicq_server::store::now_ms();
    match admin {
        Admin::Invite(InviteCommand::Create { uses, expires }) => {
            let code = admin::create_invite(store.as_mut(), uses, expires)?;
            println!("invite {code}");
            match invite_link(config, &code) {
                Ok(link) => println!("join link: {link}"),
                Err(e) => {
                    eprintln!("(no join link: {})", quicq_common::report::one_line(e.as_ref()))
                }
            }
        }
        Admin::Invite(InviteCommand::List) => {
            for invite in store.invites()? {
                println!("{}", admin::describe(&invite, now));
            }
        }
        Admin::Invite(InviteCommand::Revoke { code }) => {
            if !store.revoke_invite(&code)? {
                anyhow::bail!("no invite {code}");
            }
            println!("revoked {code}");
        }
        Admin::Users => {
            for (_, name, _) in store.accounts()? {
                println!("{name}");
            }
        }
        Admin::Disable { nickname } => {
            if !store.set_disabled(&key_of(&nickname), true)? {
                anyhow::bail!("no account {nickname}");
            }
            println!("disabled {nickname}; its sessions end within seconds");
        }
        Admin::Enable { nickname } => {
            if !store.set_disabled(&key_of(&nickname), false)? {
                anyhow::bail!("no account {nickname}");
            }
            println!("enabled {nickname}");
        }
        Admin::ResetPassword { nickname } => {
            let password = admin::new_password();
            let phc = Passwords::new(1).hash(&password).context("cannot hash the password")?;
            if !store.set_password_hash(&key_of(&nickname), &phc)? {
                anyhow::bail!("no account {nickname}");
            }
            println!("new password for {nickname}: {password}");
        }
    }
    Ok(())
}

/// The join link for `code`: the configured host and port and the certificate's fingerprint.
fn invite_link(config: &Config, code: &str) -> anyhow::Result<JoinLink> {
    let cert = match &config.cert {
        Some(cert) => cert.clone(),
        None => config.cert_dir.join(quicq_common::tls::CERT_FILE),
    };
    let chain = quicq_common::tls::load_certs(&cert)?;
    let first = chain.first().context("the certificate file is empty")?;
    Ok(JoinLink {
        host: config.hostnames.first().cloned().unwrap_or_else(|| "localhost".into()),
        port: config.listen.port(),
        fingerprint: Some(Fingerprint::of(first)),
        invite: Some(code.to_owned()),
        more: vec![],
    })
}

async fn stop_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(cause = %e, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    shutdown.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => tracing::info!("SIGINT received"),
            _ = term.recv() => tracing::info!("SIGTERM received"),
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    shutdown.cancel();
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_line_definition_is_valid() {
        use clap::CommandFactory;
        super::Args::command().debug_assert();
    }
}
