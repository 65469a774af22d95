//! QuicQ over emulated internet paths: each client reaches the test server through its own
//! `quicq-impair` proxy (delay, loss, a rate cap), as people on the internet do. Small files
//! and short waits, so the suite stays quick; the speed figures are W7's (quicq-bench).
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::PathBuf;
use std::time::{Duration, Instant};

use quicq_client::{Client, ConnState, Event, Events, TransferEvent};
use quicq_common::protocol::Address;
use quicq_impair::{Impairment, PathConfig, Proxy};
use quicq_tests::*;

const MIB: u64 = 1024 * 1024;

/// A 20 ms round trip (10 ms each way) with `loss` each way and a `mbit` link.
fn path(loss: f64, mbit: u64, seed: u64) -> PathConfig {
    PathConfig::symmetric(
        Impairment::internet(Duration::from_millis(10), loss, mbit * 1_000_000),
        seed,
    )
}

/// `nick` connected through `proxy`, downloading into `downloads` when given.
async fn connect_via(
    server: &TestServer,
    proxy: &Proxy,
    nick: &str,
    downloads: Option<PathBuf>,
) -> (Client, Events) {
    let mut cfg = config(server, nick);
    cfg.server.port = proxy.local_addr().port();
    cfg.device = Some(format!("device-of-{nick}"));
    cfg.downloads = downloads;
    Client::connect(cfg).await.unwrap()
}

/// Waits for B's copy of a file, collecting the chat messages that arrive before it.
async fn saved_after(events: &mut Events, chat: &mut Vec<String>) -> PathBuf {
    let deadline = Duration::from_secs(120);
    tokio::time::timeout(deadline, async {
        loop {
            match events.recv().await.unwrap() {
                Event::Transfer(TransferEvent::Saved { path, .. }) => return path,
                Event::Transfer(TransferEvent::DownloadFailed { reason, .. }) => panic!("{reason}"),
                Event::Message(m) if m.file.is_none() => chat.push(m.text),
                _ => {}
            }
        }
    })
    .await
    .expect("the file arrives")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_arrives_byte_for_byte_over_paths_losing_five_percent() {
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let to_a = Proxy::start(server.addr, path(0.05, 100, 1)).unwrap();
    let to_b = Proxy::start(server.addr, path(0.05, 100, 2)).unwrap();
    let (alice, _a) = connect_via(&server, &to_a, "alice", None).await;
    let (_bob, mut b) = connect_via(&server, &to_b, "bob", Some(work.path().join("bob"))).await;
    let file = make_file(work.path(), "lossy.bin", 4 * MIB + 12_345, 5);
    let upload = alice.send_file(Address::User("bob".into()), &file).await.unwrap();
    let got = saved_after(&mut b, &mut Vec::new()).await;
    upload.finished().await.unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), std::fs::read(&got).unwrap());
    // The paths did lose packets, both ways, on both hops.
    for proxy in [&to_a, &to_b] {
        let stats = proxy.stats().unwrap();
        assert!(stats.up.dropped_loss > 0 && stats.down.dropped_loss > 0, "{stats:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_is_delivered_while_a_file_fills_the_link() {
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    // 20 Mbit/s: the 8 MiB file needs at least 3.4 s on each hop.
    let to_a = Proxy::start(server.addr, path(0.0, 20, 3)).unwrap();
    let to_b = Proxy::start(server.addr, path(0.0, 20, 4)).unwrap();
    let (alice, _a) = connect_via(&server, &to_a, "alice", None).await;
    let (_bob, mut b) = connect_via(&server, &to_b, "bob", Some(work.path().join("bob"))).await;
    let file = make_file(work.path(), "big.bin", 8 * MIB, 6);
    let upload = alice.send_file(Address::User("bob".into()), &file).await.unwrap();
    // Ten messages once the file has started, sent on the same connections.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..10 {
        alice.send(Address::User("bob".into()), format!("during {i}")).await.unwrap();
    }
    let mut chat = Vec::new();
    let got = saved_after(&mut b, &mut chat).await;
    upload.finished().await.unwrap();
    // Every message reached B before the file did: none waited behind the file's bytes.
    let expected: Vec<String> = (0..10).map(|i| format!("during {i}")).collect();
    assert_eq!(chat, expected);
    assert_eq!(std::fs::metadata(got).unwrap().len(), 8 * MIB);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_survives_a_change_of_the_clients_address() {
    let server = TestServer::start().await;
    let to_a = Proxy::start(server.addr, path(0.0, 100, 5)).unwrap();
    let (alice, mut a) = connect_via(&server, &to_a, "alice", None).await;
    let (bob, mut b) = connect(&server, "bob").await;
    alice.send(Address::User("bob".into()), "before").await.unwrap();
    assert_eq!(next_message(&mut b).await.text, "before");
    assert_eq!(next_message(&mut a).await.text, "before");

    // A new socket, as after a NAT rebinding or a move to another network: the proxy (and so
    // the server) sees Alice's packets come from a new address.
    let old = alice.local_addr().unwrap();
    let new = alice.rebind().unwrap();
    assert_ne!(old.port(), new.port());
    alice.send(Address::User("bob".into()), "after").await.unwrap();
    bob.send(Address::User("alice".into()), "reply").await.unwrap();
    assert_eq!(next_message(&mut b).await.text, "after");
    let texts: Vec<String> = messages(&mut a, 2).await.into_iter().map(|m| m.text).collect();
    assert_eq!(texts, ["after", "reply"]);
    assert_eq!(to_a.stats().unwrap().flows, 2, "the server saw a second address");
    // The same connection carried on: Alice never reconnected.
    while let Ok(event) = a.try_recv() {
        assert!(!matches!(event, Event::State(ConnState::Reconnecting { .. })), "{event:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_goes_silent_is_noticed_within_the_idle_timeout() {
    let server = TestServer::start().await;
    let proxy = Proxy::start(server.addr, path(0.0, 100, 7)).unwrap();
    let (_alice, mut a) = connect_via(&server, &proxy, "alice", None).await;
    wait_for(&mut a, "connected", |e| matches!(e, Event::State(ConnState::Connected { .. }))).await;
    // The server's host vanishes from the network: nothing comes back, nothing says goodbye.
    proxy.blackhole(true, true).unwrap();
    let silent = Instant::now();
    wait_for(&mut a, "reconnecting", |e| matches!(e, Event::State(ConnState::Reconnecting { .. })))
        .await;
    let noticed = silent.elapsed();
    // The client's idle timeout is 8 s after the last packet it heard (at most one keep-alive
    // interval before the blackhole); the bound the client promises is 10 s, plus 2 s for a
    // busy test machine.
    assert!(noticed <= Duration::from_secs(12), "the client noticed after {noticed:?}");
    // And it comes back by itself once the path does.
    proxy.blackhole(false, false).unwrap();
    wait_for(&mut a, "connected again", |e| matches!(e, Event::State(ConnState::Connected { .. })))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_sent_at_once_over_a_lossy_path_are_stored_in_the_order_they_were_typed() {
    let server = TestServer::start_with(|c| c.message_burst = 1000).await;
    let proxy = Proxy::start(server.addr, path(0.05, 100, 8)).unwrap();
    let (alice, _a) = connect_via(&server, &proxy, "alice", None).await;
    // Every line from its own task, as the CLI and the desktop client send them: the order is
    // that of the calls to `send`, whatever order their packets get through.
    let mut tasks = Vec::new();
    for i in 0..60 {
        let sending = alice.send(Address::everyone(), format!("line {i}"));
        tasks.push(tokio::spawn(sending));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap().unwrap().id);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "stored out of order: {ids:?}");
    assert!(proxy.stats().unwrap().up.dropped_loss > 0, "the path lost nothing");
}
