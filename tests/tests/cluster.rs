//! Three QuicQ nodes on one PostgreSQL database and one NATS server, all real, on loopback:
//! what is stored on one node reaches sessions on every node, in one order, none lost.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::time::Duration;

use quicq_common::protocol::{Address, ChatMessage, ClientFrame, ErrorCode, ServerFrame};
use quicq_fixtures::nats::Nats;
use quicq_fixtures::postgres::PgCluster;
use quicq_server::config::StoreKind;
use quicq_tests::*;

/// Nodes of one cluster, and the NATS server they talk through.
struct Cluster {
    nodes: Vec<TestServer>,
    nats: Nats,
    /// The spool every node shares.
    spool: tempfile::TempDir,
    /// The certificate every node presents (the first node makes it).
    _certs: tempfile::TempDir,
}

/// `n` nodes on a fresh database.
async fn cluster(n: usize) -> Cluster {
    cluster_on(PgCluster::shared(), n).await
}

/// `n` nodes on a fresh database of `postgres`.
async fn cluster_on(postgres: &PgCluster, n: usize) -> Cluster {
    let database = postgres.new_database().unwrap();
    let nats = Nats::start().unwrap();
    let spool = tempfile::tempdir().unwrap();
    let certs = tempfile::tempdir().unwrap();
    let mut nodes = Vec::new();
    for _ in 0..n {
        let (database, nats, spool) = (database.clone(), nats.url(), spool.path().to_owned());
        let certs = certs.path().to_owned();
        nodes.push(
            TestServer::start_with(move |c| {
                c.cert_dir = certs;
                c.spool_dir = Some(spool);
                c.health_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
                c.store = StoreKind::Postgres;
                c.database_url = Some(database);
                c.nats_url = Some(nats);
                // The order test sends as fast as it can.
                c.messages_per_second = 10_000;
                c.message_burst = 10_000;
            })
            .await,
        );
    }
    Cluster { nodes, nats, spool, _certs: certs }
}

fn everyone() -> Address {
    Address::everyone()
}

fn send(id: &str, to: Address, text: &str) -> ClientFrame {
    ClientFrame::Send { client_id: id.into(), to, text: text.into(), reply_to: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_one_node_stores_reaches_sessions_on_the_others() {
    let c = cluster(3).await;
    let mut alice = RawUser::login(&c.nodes[0], "alice").await;
    let mut bob = RawUser::login(&c.nodes[1], "bob").await;
    let mut carol = RawUser::login(&c.nodes[2], "carol").await;

    // One to one: bob registered on another node a moment ago.
    let id = sent_id(&alice.request(&send("1", Address::User("bob".into()), "hi bob")).await);
    let got = bob.next_message().await;
    assert_eq!((got.id, got.from.as_str(), got.text.as_str()), (id, "alice", "hi bob"));
    assert_eq!(alice.next_message().await.id, id, "the sender's own session too");

    // Everyone.
    let id = sent_id(&carol.request(&send("2", everyone(), "hello all")).await);
    for user in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(user.next_message().await.id, id, "{}", user.name);
    }

    // A group made on node 0; its members on nodes 1 and 2 see its events and its messages.
    let members = vec!["bob".into(), "carol".into()];
    let made = alice.request(&ClientFrame::GroupCreate { name: "rust".into(), members }).await;
    assert!(matches!(made, ServerFrame::GroupMembers { .. }), "{made:?}");
    assert_eq!(alice.messages(3).await.len(), 3);
    assert_eq!(bob.messages(2).await.len(), 2, "bob: from its own `added` on");
    assert_eq!(carol.messages(1).await.len(), 1);
    let group = Address::Group("rust".into());
    let id = sent_id(&bob.request(&send("3", group.clone(), "from node 1")).await);
    for user in [&mut alice, &mut bob, &mut carol] {
        let got = user.next_message().await;
        assert_eq!((got.id, got.to.clone()), (id, group.clone()), "{}", user.name);
    }

    // Ephemeral frames cross too: carol (node 2) sees alice (node 0) typing in the group.
    alice.control(&ClientFrame::Typing { to: group.clone() }).await;
    let typing = carol.next_control(|f| matches!(f, ServerFrame::Typing { .. })).await;
    assert!(matches!(typing, ServerFrame::Typing { from, .. } if from == "alice"));
}

/// Three senders, one per node, at once; every session on every node sees every message once,
/// all in the same order, which is history's order, and each sender's in the order sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_on_every_node_are_seen_in_one_order_by_everyone() {
    const EACH: usize = 60;
    let c = cluster(3).await;
    let names = ["ann", "ben", "cat"];
    let mut users = Vec::new();
    for (node, name) in c.nodes.iter().zip(names) {
        users.push(RawUser::login(node, name).await);
    }
    // A watcher on node 0 that sends nothing.
    let mut watcher = RawUser::login(&c.nodes[0], "watcher").await;
    let runs: Vec<_> = users
        .into_iter()
        .map(|mut user| {
            tokio::spawn(async move {
                let mut sent = Vec::new();
                for i in 0..EACH {
                    let text = format!("{} {i}", user.name);
                    sent.push(sent_id(
                        &user.request(&send(&i.to_string(), everyone(), &text)).await,
                    ));
                }
                let seen = user.messages(EACH * 3).await;
                (user, sent, seen)
            })
        })
        .collect();
    let mut all_sent = Vec::new();
    let mut views: Vec<Vec<ChatMessage>> = Vec::new();
    for run in runs {
        let (mut user, sent, seen) = run.await.unwrap();
        all_sent.extend(sent);
        views.push(seen);
        user.no_message(Duration::from_millis(300)).await;
    }
    views.push(watcher.messages(EACH * 3).await);
    all_sent.sort();
    let ids = |v: &[ChatMessage]| v.iter().map(|m| m.id).collect::<Vec<_>>();
    for view in &views {
        assert_eq!(ids(view), all_sent, "every message once, in id order");
        for name in names {
            let texts: Vec<&str> =
                view.iter().filter(|m| m.from == name).map(|m| m.text.as_str()).collect();
            let want: Vec<String> = (0..EACH).map(|i| format!("{name} {i}")).collect();
            assert_eq!(texts, want, "{name}'s messages in the order sent");
        }
    }
    let history = match watcher
        .request(&ClientFrame::History { with: everyone(), before: None, limit: 200 })
        .await
    {
        ServerFrame::HistoryPage { messages, .. } => messages,
        other => panic!("{other:?}"),
    };
    let mut history = ids(&history);
    history.reverse();
    assert_eq!(history, all_sent, "history agrees with live delivery");
}

/// With NATS gone, nodes still deliver each other's messages (they read the database every
/// second), and once it is back, doorbells work again; nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_across_nodes_survives_nats_going_away_and_coming_back() {
    let mut c = cluster(2).await;
    let alice = RawUser::login(&c.nodes[0], "alice").await;
    let mut bob = RawUser::login(&c.nodes[1], "bob").await;
    let first = sent_id(&alice.request(&send("1", everyone(), "before")).await);
    assert_eq!(bob.next_message().await.id, first);
    c.nats.stop();
    let during = sent_id(&alice.request(&send("2", everyone(), "while NATS is down")).await);
    assert_eq!(bob.next_message().await.id, during);
    c.nats.restart().unwrap();
    let after = sent_id(&alice.request(&send("3", everyone(), "after")).await);
    assert_eq!(bob.next_message().await.id, after);
}

/// Presence is the cluster's: a user on one node sees who is online on the others, and hears
/// when they leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_spans_the_nodes() {
    let c = cluster(2).await;
    let alice = RawUser::login(&c.nodes[0], "alice").await;
    let mut bob = RawUser::login(&c.nodes[1], "bob").await;
    let online = |frame: ServerFrame| match frame {
        ServerFrame::UserList { users, .. } => {
            users.into_iter().filter(|u| u.online).map(|u| u.name).collect::<Vec<_>>()
        }
        other => panic!("{other:?}"),
    };
    // Told at once when NATS is already up, else by the next whole list (every 5 s).
    tokio::time::timeout(WAIT, async {
        while online(bob.request(&ClientFrame::Users { after: None }).await) != ["alice", "bob"] {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("bob sees alice online on the other node");
    alice.conn.close(0u32.into(), b"bye");
    let gone = |f: &ServerFrame| matches!(f, ServerFrame::Presence { offline, .. } if offline.contains(&"alice".to_owned()));
    bob.next_control(gone).await;
    assert_eq!(online(bob.request(&ClientFrame::Users { after: None }).await), ["bob"]);
}

/// A file uploaded to one node is downloaded from another, while the upload is still running
/// (the recipient's client starts as soon as the file message arrives), intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_uploaded_to_one_node_is_downloaded_from_another() {
    let c = cluster(2).await;
    let work = tempfile::tempdir().unwrap();
    let downloads = work.path().join("bob");
    let (alice, _) = connect(&c.nodes[0], "alice").await;
    let mut cfg = config(&c.nodes[1], "bob");
    cfg.downloads = Some(downloads.clone());
    let (_bob, mut bob_events) = quicq_client::Client::connect(cfg).await.unwrap();

    let path = make_file(work.path(), "big.bin", 48 << 20, 7);
    let upload = alice.send_file(Address::User("bob".into()), &path).await.unwrap();
    let saved = wait_for(&mut bob_events, "the file saved on the other node", |e| {
        matches!(e, quicq_client::Event::Transfer(quicq_client::TransferEvent::Saved { .. }))
    })
    .await;
    let quicq_client::Event::Transfer(quicq_client::TransferEvent::Saved { path: got, .. }) = saved
    else {
        unreachable!()
    };
    upload.finished().await.unwrap();
    assert!(std::fs::read(&got).unwrap() == std::fs::read(&path).unwrap(), "the same bytes");
    assert_eq!(std::fs::read_dir(c.spool.path()).unwrap().count(), 1, "one copy, shared");
}

/// PostgreSQL restarts under a running cluster: requests meanwhile get a clear error, nothing
/// acknowledged is lost, and the nodes carry on by themselves once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_carries_on_after_postgresql_restarts() {
    let postgres = PgCluster::start().unwrap();
    let c = cluster_on(&postgres, 2).await;
    let alice = RawUser::login(&c.nodes[0], "alice").await;
    let mut bob = RawUser::login(&c.nodes[1], "bob").await;
    let before = sent_id(&alice.request(&send("1", everyone(), "before")).await);
    assert_eq!(bob.next_message().await.id, before);
    let (status, body) = health(&c.nodes[0]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""ready":true"#) && body.contains(r#""database":"ok""#), "{body}");

    quicq_fixtures::postgres::off_runtime(|| postgres.stop());
    let (status, body) = health(&c.nodes[1]).await;
    assert_eq!(status, 503, "a node without its database is not ready: {body}");
    let refused = alice.request(&send("2", everyone(), "while it is down")).await;
    assert!(
        matches!(&refused, ServerFrame::Error { code: ErrorCode::Internal, .. }),
        "a clear error, not a hang: {refused:?}"
    );

    quicq_fixtures::postgres::off_runtime(|| postgres.start_server()).unwrap();
    // The first request after the restart may still meet the old connection.
    let mut after = None;
    for attempt in 0..50 {
        match alice.request(&send("3", everyone(), "after")).await {
            ServerFrame::Sent { id, .. } => {
                after = Some(id);
                break;
            }
            other => assert!(attempt < 49, "still failing: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = after.unwrap();
    assert_eq!(health(&c.nodes[1]).await.0, 200);
    assert_eq!(bob.next_message().await.id, after, "delivery across nodes resumed");
    let history = match bob
        .request(&ClientFrame::History { with: everyone(), before: None, limit: 10 })
        .await
    {
        ServerFrame::HistoryPage { messages, .. } => messages,
        other => panic!("{other:?}"),
    };
    let texts: Vec<&str> = history.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["after", "before"], "what was acknowledged, and only that");
}

/// A link naming every node lets a client start on a node that is down and move when its node
/// stops, by itself; it carries on where it was (one database, one order).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_the_clusters_link_finds_a_node_that_is_up() {
    let mut c = cluster(2).await;
    assert_eq!(c.nodes[0].fingerprint, c.nodes[1].fingerprint, "one certificate");
    let (_bob, mut bob_events) = connect(&c.nodes[1], "bob").await;
    // A silent UDP port stands for a node that is down; then the two real nodes.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut link = c.nodes[0].link();
    link.port = dead.local_addr().unwrap().port();
    link.more = c.nodes.iter().map(|n| ("127.0.0.1".to_owned(), n.addr.port())).collect();
    let mut cfg = config(&c.nodes[0], "alice");
    cfg.server = link.to_string().parse().unwrap();
    let (alice, mut alice_events) = quicq_client::Client::connect(cfg).await.unwrap();
    alice.send(Address::User("bob".into()), "first".to_owned()).await.unwrap();
    assert_eq!(next_message(&mut bob_events).await.text, "first");

    // alice's node (node 0) stops; her client finds node 1 by itself and carries on.
    let stopped = c.nodes.remove(0);
    stopped.stop().await;
    wait_for(&mut alice_events, "connected again", |e| {
        matches!(e, quicq_client::Event::State(quicq_client::ConnState::Connected { .. }))
    })
    .await;
    alice.send(Address::User("bob".into()), "second".to_owned()).await.unwrap();
    assert_eq!(next_message(&mut bob_events).await.text, "second");
    drop(dead);
}

/// An upload to a node that stops half-way resumes on another node, from what the first one
/// recorded, and the recipient gets the file intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_interrupted_by_its_node_stopping_resumes_on_another_node() {
    use quicq_client::{TransferEvent, TransferKey};
    let mut c = cluster(2).await;
    let work = tempfile::tempdir().unwrap();
    let mut cfg = config(&c.nodes[1], "bob");
    cfg.downloads = Some(work.path().join("bob"));
    let (_bob, mut bob_events) = quicq_client::Client::connect(cfg).await.unwrap();
    // alice reaches node 0 through a 200 Mbit/s link (2.7 s for 64 MiB), so node 0 can stop
    // while her upload runs; her link names node 1 next.
    let slow = quicq_impair::Impairment { rate_bps: Some(200_000_000), ..Default::default() };
    let paths = quicq_impair::PathConfig::symmetric(slow, 3);
    let proxy = quicq_impair::Proxy::start(c.nodes[0].addr, paths).unwrap();
    let mut link = c.nodes[0].link();
    link.port = proxy.local_addr().port();
    link.more = vec![("127.0.0.1".to_owned(), c.nodes[1].addr.port())];
    let mut cfg = config(&c.nodes[0], "alice");
    cfg.server = link;
    let (alice, mut alice_events) = quicq_client::Client::connect(cfg).await.unwrap();

    let path = make_file(work.path(), "disk.img", 64 << 20, 5);
    let upload = alice.send_file(Address::User("bob".into()), &path).await.unwrap();
    let key = TransferKey::Upload(upload.transfer_id.clone());
    wait_for(&mut alice_events, "a quarter uploaded", |e| {
        matches!(e, quicq_client::Event::Transfer(TransferEvent::Progress { key: k, done, .. })
            if *k == key && *done >= 16 << 20)
    })
    .await;
    let stopped = c.nodes.remove(0);
    stopped.stop().await;
    wait_for(&mut alice_events, "connected to node 1", |e| {
        matches!(e, quicq_client::Event::State(quicq_client::ConnState::Connected { .. }))
    })
    .await;
    let resumed_at = match wait_for(&mut alice_events, "progress on node 1", |e| {
        matches!(e, quicq_client::Event::Transfer(TransferEvent::Progress { key: k, .. }) if *k == key)
    })
    .await
    {
        quicq_client::Event::Transfer(TransferEvent::Progress { done, .. }) => done,
        _ => unreachable!(),
    };
    assert!(resumed_at >= 1 << 20, "resumed from what node 0 recorded, not from 0: {resumed_at}");
    upload.finished().await.unwrap();
    let saved = wait_for(&mut bob_events, "the file saved", |e| {
        matches!(e, quicq_client::Event::Transfer(TransferEvent::Saved { .. }))
    })
    .await;
    let quicq_client::Event::Transfer(TransferEvent::Saved { path: got, .. }) = saved else {
        unreachable!()
    };
    assert!(std::fs::read(&got).unwrap() == std::fs::read(&path).unwrap(), "the same bytes");
}

/// One HTTP request to a node's health address: the status code and the body.
async fn health(node: &TestServer) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(node.health.unwrap()).await.unwrap();
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: quicq\r\n\r\n").await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap().to_owned();
    (status, body)
}
