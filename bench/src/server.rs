//! A real `quicq-server` process on loopback with a fresh data directory.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};
use quicq_client::{Client, ClientConfig, Events, Trust};
use quicq_common::JoinLink;

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
    pub fn start(extra: &[&str]) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut child = Command::new(server_binary()?)
            .args(["--listen", "127.0.0.1:0", "--hostname", "127.0.0.1"])
            .args(["--messages-per-second", "10000000", "--message-burst", "10000000"])
            .args(extra)
            .current_dir(dir.path())
            .env("RUST_LOG", "quicq_server=warn,quicq_server::server=info,quicq_server=info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
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
        let mut config = ClientConfig::new(self.link.clone(), nick, PASSWORD);
        config.trust = Trust { known_servers: None, system_roots: false, ..Trust::default() };
        config.client_name = "quicq-bench".into();
        Ok(Client::connect(config).await?)
    }

    pub async fn client_with_downloads(
        &self,
        nick: &str,
        dir: PathBuf,
    ) -> anyhow::Result<(Client, Events)> {
        let mut config = ClientConfig::new(self.link.clone(), nick, PASSWORD);
        config.trust = Trust { known_servers: None, system_roots: false, ..Trust::default() };
        config.client_name = "quicq-bench".into();
        config.downloads = Some(dir);
        config.device = Some(format!("bench-{nick}"));
        Ok(Client::connect(config).await?)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
