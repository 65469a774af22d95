//! `quicq-server`: parse flags, set up logging, build the config, run until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use quicq_server::{Config, Server};
use tokio_util::sync::CancellationToken;

/// QuicQ server: encrypted chat and file sharing over QUIC.
///
/// Settings come from flags, then QUICQ_* environment variables, then the optional TOML file
/// (--config), then built-in defaults.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// TOML config file (see quicq-server.example.toml).
    #[arg(long, env = "QUICQ_CONFIG")]
    config: Option<PathBuf>,
    /// UDP address to listen on [default: [::]:7373, every IPv6 and IPv4 address].
    #[arg(long, env = "QUICQ_LISTEN")]
    listen: Option<SocketAddr>,
    /// Name or address clients use to reach this server; written into the self-signed
    /// certificate when it is first made. Repeat for several [default: localhost, 127.0.0.1, ::1].
    #[arg(long = "hostname", env = "QUICQ_HOSTNAME", value_delimiter = ',')]
    hostnames: Vec<String>,
    /// Directory for the self-signed certificate and key [default: certs].
    #[arg(long, env = "QUICQ_CERT_DIR")]
    cert_dir: Option<PathBuf>,
    /// CA-issued certificate chain (PEM) to use instead of a self-signed one.
    #[arg(long, env = "QUICQ_CERT", requires = "key")]
    cert: Option<PathBuf>,
    /// Private key (PEM) for --cert.
    #[arg(long, env = "QUICQ_KEY", requires = "cert")]
    key: Option<PathBuf>,
    /// Directory for the database [default: data].
    #[arg(long, env = "QUICQ_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Refuse to create new accounts; only existing nicknames can log in.
    #[arg(long, env = "QUICQ_NO_REGISTRATION")]
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

impl Args {
    fn into_config(self) -> anyhow::Result<Config> {
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
            max_text_chars,
            messages_per_second,
            message_burst,
            max_connections,
            max_file_bytes,
            spool_quota_bytes,
            file_retention_secs
        );
        if self.cert.is_some() {
            config.cert = self.cert;
            config.key = self.key;
        }
        if !self.hostnames.is_empty() {
            config.hostnames = self.hostnames;
        }
        if self.no_registration {
            config.registration = false;
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
    let config = Args::parse().into_config()?;
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

    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    server.run(shutdown).await;
    Ok(())
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
