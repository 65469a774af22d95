//! A real `quicq-server` process on loopback with a fresh data directory.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};
use quicq_client::{Client, ClientConfig, Events, Trust};
use quicq_common::JoinLink;
use quicq_common::congestion::Congestion;

pub const PASSWORD: &str = "benchmark password";

pub struct ServerProcess {
    child: Child,
    pub link: JoinLink,
    _dir: tempfile::TempDir,
}

/// The server binary next to this one (both come from `cargo build --release`).
fn server_binary() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let dir = me.parent().context("no directory for the bench binary")?;
    let path = dir.join("quicq-server");
    if !path.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p quicq-server -p quicq-bench`",
            path.display()
        );
    }
    Ok(path)
}

impl ServerProcess {
    /// Starts a server with limits opened up for load (rate limits, connections, queues).
    /// For diagnosis, `QUICQ_BENCH_SERVER_LOG=FILE` keeps its log (stderr) in FILE, and
    /// `QUICQ_BENCH_SERVER_RUST_LOG` sets its `RUST_LOG`.
    pub fn start(extra: &[&str]) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut child = Command::new(server_binary()?)
            .args(["--listen", "127.0.0.1:0", "--hostname", "127.0.0.1"])
            .args(["--messages-per-second", "10000000", "--message-burst", "10000000"])
            .args(extra)
            .current_dir(dir.path())
            .env(
                "RUST_LOG",
                std::env::var("QUICQ_BENCH_SERVER_RUST_LOG")
                    .unwrap_or_else(|_| "quicq_server=info".into()),
            )
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(match std::env::var_os("QUICQ_BENCH_SERVER_LOG") {
                Some(path) => Stdio::from(std::fs::File::create(path)?),
                None => Stdio::null(),
            })
            .spawn()
            .context("cannot start quicq-server")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let link = loop {
            let Some(line) = lines.next() else {
                bail!("quicq-server exited before printing its join link")
            };
            let line = line?;
            if let Some(at) = line.find("quicq://") {
                break line[at..].trim().parse::<JoinLink>()?;
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Ok(ServerProcess { child, link, _dir: dir })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// (resident, peak resident) memory of the server process, in bytes.
    pub fn memory(&self) -> (u64, u64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map_or(0, |kb| kb * 1024)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    pub async fn client(&self, nick: &str) -> anyhow::Result<(Client, Events)> {
        self.client_via(nick, Via::default()).await
    }

    pub async fn client_with_downloads(
        &self,
        nick: &str,
        dir: PathBuf,
    ) -> anyhow::Result<(Client, Events)> {
        self.client_via(nick, Via { downloads: Some(dir), ..Via::default() }).await
    }

    /// The server's UDP address.
    pub fn addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(SocketAddr::new(self.link.host.parse()?, self.link.port))
    }

    /// A client that reaches the server as `via` says (through a proxy, with downloads…).
    pub async fn client_via(&self, nick: &str, via: Via) -> anyhow::Result<(Client, Events)> {
        let mut link = self.link.clone();
        if let Some(addr) = via.addr {
            link.host = addr.ip().to_string();
            link.port = addr.port();
        }
        let mut config = ClientConfig::new(link, nick, PASSWORD);
        config.trust = Trust { known_servers: None, system_roots: false, ..Trust::default() };
        config.client_name = "quicq-bench".into();
        if let Some(dir) = via.downloads {
            config.downloads = Some(dir);
            config.device = Some(format!("bench-{nick}"));
        }
        if let Some(congestion) = via.congestion {
            config.congestion = congestion;
        }
        Ok(Client::connect(config).await?)
    }
}

/// How a bench client reaches the server; the default is directly, downloading nothing.
#[derive(Debug, Clone, Default)]
pub struct Via {
    /// Another address to send to (an impairment proxy in front of the server).
    pub addr: Option<SocketAddr>,
    pub downloads: Option<PathBuf>,
    pub congestion: Option<Congestion>,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
