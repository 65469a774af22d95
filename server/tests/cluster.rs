//! Cluster nodes as real processes: a node killed with SIGKILL in the middle of traffic loses
//! nothing it acknowledged, and the survivors' sessions see one order.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quicq_client::{Client, ClientConfig, Event, Trust};
use quicq_common::{Address, JoinLink};
use quicq_fixtures::nats::Nats;
use quicq_fixtures::postgres::PgCluster;

const PASSWORD: &str = "correct horse battery";

/// A node process, killed if the test ends first.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a node in `dir` on the cluster's database and NATS; its join link from the log.
fn node(dir: &Path, database: &str, nats: &str) -> (Node, JoinLink) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_quicq-server"))
        .args(["--listen", "127.0.0.1:0", "--hostname", "127.0.0.1"])
        .args(["--store", "postgres", "--database-url", database, "--nats-url", nats])
        .args(["--messages-per-second", "10000", "--message-burst", "10000"])
        .current_dir(dir)
        .env("RUST_LOG", "quicq_server=info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let link = loop {
        let line = lines.next().expect("the node printed its join link").unwrap();
        if let Some(at) = line.find("quicq://")
            && line.contains("join link")
        {
            break line[at..].trim().parse::<JoinLink>().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (Node(child), link)
}

fn config(link: &JoinLink, nick: &str) -> ClientConfig {
    let mut config = ClientConfig::new(link.clone(), nick, PASSWORD);
    config.trust = Trust { known_servers: None, system_roots: false, ..Trust::default() };
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_traffic_loses_nothing_it_acknowledged() {
    let database = PgCluster::shared().new_database().unwrap();
    let nats = Nats::start().unwrap();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut a, link_a) = node(dir_a.path(), &database, &nats.url());
    let (_b, link_b) = node(dir_b.path(), &database, &nats.url());

    let (bob, mut bob_events) = Client::connect(config(&link_b, "bob")).await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let watcher = tokio::spawn({
        let seen = seen.clone();
        async move {
            while let Some(event) = bob_events.recv().await {
                if let Event::Message(m) = event {
                    seen.lock().unwrap().push(m.id);
                }
            }
        }
    });

    // alice on node A sends as fast as acknowledgements come back; A is killed mid-stream.
    let (alice, _) = Client::connect(config(&link_a, "alice")).await.unwrap();
    let acked = Arc::new(Mutex::new(Vec::new()));
    let sender = tokio::spawn({
        let acked = acked.clone();
        async move {
            for i in 0.. {
                match alice.send(Address::everyone(), &format!("a{i}")).await {
                    Ok(sent) => acked.lock().unwrap().push(sent.id),
                    Err(_) => return alice,
                }
            }
            alice
        }
    });
    while acked.lock().unwrap().len() < 60 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    a.0.kill().unwrap();
    a.0.wait().unwrap();
    // Whatever was still in flight is never acknowledged now; stop asking.
    tokio::time::sleep(Duration::from_millis(300)).await;
    sender.abort();
    let before_kill: Vec<u64> = acked.lock().unwrap().clone();

    // alice moves to node B and carries on.
    let (alice, _) = Client::connect(config(&link_b, "alice")).await.unwrap();
    let mut after_kill = Vec::new();
    for i in 0..20 {
        after_kill.push(alice.send(Address::everyone(), &format!("b{i}")).await.unwrap().id);
    }

    let wanted: HashSet<u64> = before_kill.iter().chain(&after_kill).copied().collect();
    tokio::time::timeout(Duration::from_secs(20), async {
        while !wanted.iter().all(|id| seen.lock().unwrap().contains(id)) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("bob, on the surviving node, gets every acknowledged message");
    tokio::time::sleep(Duration::from_millis(300)).await;
    watcher.abort();
    let seen = seen.lock().unwrap().clone();
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "once each, in id order: {seen:?}");

    // History on the surviving node is the same stream.
    let mut history = Vec::new();
    let mut before = None;
    loop {
        let page = bob.history(Address::everyone(), before, 200).await.unwrap();
        history.extend(page.messages.iter().map(|m| m.id));
        before = page.messages.last().map(|m| m.id);
        if !page.more {
            break;
        }
    }
    history.reverse();
    assert_eq!(history, seen, "live delivery and history agree");
}
