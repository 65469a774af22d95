//! What the chat workloads run against: one node on SQLite (the default), one node on
//! PostgreSQL, or several nodes on one PostgreSQL database and one NATS server (a cluster), all
//! real processes on loopback. PostgreSQL syncs every commit to disk, as SQLite does.

use quicq_client::{Client, Events};
use quicq_fixtures::nats::Nats;
use quicq_fixtures::postgres::PgCluster;

use crate::server::ServerProcess;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
    /// This many nodes.
    Cluster(usize),
}

impl Kind {
    pub fn label(self) -> String {
        match self {
            Kind::Sqlite => "sqlite".into(),
            Kind::Postgres => "postgres".into(),
            Kind::Cluster(n) => format!("cluster{n}"),
        }
    }
}

pub struct Deployment {
    /// Declared first: the nodes stop before the database and NATS they use.
    pub nodes: Vec<ServerProcess>,
    postgres: Option<PgCluster>,
    nats: Option<Nats>,
    _spool: Option<tempfile::TempDir>,
}

impl Deployment {
    pub fn start(kind: Kind) -> anyhow::Result<Self> {
        if kind == Kind::Sqlite {
            let node = ServerProcess::start(&[])?;
            return Ok(Deployment { nodes: vec![node], postgres: None, nats: None, _spool: None });
        }
        let postgres = PgCluster::start_durable()?;
        let url = postgres.new_database()?;
        let mut args = vec!["--store".to_owned(), "postgres".into(), "--database-url".into(), url];
        let (count, nats, spool) = match kind {
            Kind::Cluster(n) => {
                let nats = Nats::start()?;
                let spool = tempfile::tempdir()?;
                args.extend(["--nats-url".into(), nats.url(), "--spool-dir".into()]);
                args.push(spool.path().display().to_string());
                (n, Some(nats), Some(spool))
            }
            _ => (1, None, None),
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let nodes = (0..count).map(|_| ServerProcess::start(&args)).collect::<Result<_, _>>()?;
        Ok(Deployment { nodes, postgres: Some(postgres), nats, _spool: spool })
    }

    /// A client of node `i` (modulo the number of nodes).
    pub async fn client(&self, i: usize, nick: &str) -> anyhow::Result<(Client, Events)> {
        self.nodes[i % self.nodes.len()].client(nick).await
    }

    /// CPU seconds used so far by everything that serves: the nodes, PostgreSQL (every
    /// backend) and NATS.
    pub fn cpu_seconds(&self) -> f64 {
        let nodes: f64 = self.nodes.iter().map(|n| crate::cpu::seconds(n.pid())).sum();
        let postgres =
            self.postgres.as_ref().and_then(PgCluster::pid).map_or(0.0, crate::cpu::tree_seconds);
        let nats = self.nats.as_ref().and_then(Nats::pid).map_or(0.0, crate::cpu::seconds);
        nodes + postgres + nats
    }
}
