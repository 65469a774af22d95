//! File transfer through a real server: one-to-one, group, offline, resume, cancel, bad input,
//! and chat that keeps flowing during a large transfer.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};
use std::time::Duration;

use quicq_client::{Client, Event, Events, TransferError, TransferEvent, TransferKey, Uploaded};
use quicq_common::frame::{encode, read_frame};
use quicq_common::protocol::{Address, ClientFrame, ErrorCode, ServerFrame};
use quicq_impair::{Impairment, PathConfig, Proxy};
use quicq_tests::*;

const MIB: u64 = 1024 * 1024;

fn same_bytes(a: &Path, b: &Path) -> bool {
    std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}

/// Connects with automatic downloads into `dir` and a device id of its own.
async fn receiver(server: &TestServer, nick: &str, dir: &Path) -> (Client, Events) {
    let mut cfg = config(server, nick);
    cfg.downloads = Some(dir.to_owned());
    cfg.device = Some(format!("device-of-{nick}"));
    Client::connect(cfg).await.unwrap()
}

/// A client behind a 200 Mbit/s link (2.7 s for 64 MiB), so a transfer is surely under way
/// when a test cuts the connection; on bare loopback it can finish between two progress events.
async fn on_slow_link(
    server: &TestServer,
    nick: &str,
    downloads: Option<&Path>,
) -> (Client, Events, Proxy) {
    let link = Impairment { rate_bps: Some(200_000_000), ..Impairment::default() };
    let proxy = Proxy::start(server.addr, PathConfig::symmetric(link, 11)).unwrap();
    let mut cfg = config(server, nick);
    cfg.server.port = proxy.local_addr().port();
    cfg.downloads = downloads.map(Path::to_owned);
    cfg.device = Some(format!("device-of-{nick}"));
    let (client, events) = Client::connect(cfg).await.unwrap();
    (client, events, proxy)
}

async fn sender(server: &TestServer, nick: &str) -> (Client, Events) {
    let mut cfg = config(server, nick);
    cfg.device = Some(format!("device-of-{nick}"));
    Client::connect(cfg).await.unwrap()
}

/// Waits for a transfer event matching `pred`.
async fn transfer_event(
    events: &mut Events,
    what: &str,
    mut pred: impl FnMut(&TransferEvent) -> bool,
) -> TransferEvent {
    match wait_for(events, what, |e| matches!(e, Event::Transfer(t) if pred(t))).await {
        Event::Transfer(t) => t,
        _ => unreachable!(),
    }
}

async fn saved(events: &mut Events) -> PathBuf {
    match transfer_event(events, "file saved", |t| {
        matches!(t, TransferEvent::Saved { .. } | TransferEvent::DownloadFailed { .. })
    })
    .await
    {
        TransferEvent::Saved { path, .. } => path,
        other => panic!("download failed: {other:?}"),
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => {
            entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
        }
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

fn spool(server: &TestServer) -> PathBuf {
    server.dir.path().join("data").join("spool")
}

/// Bytes in the server's spool files.
fn spooled_bytes(server: &TestServer) -> u64 {
    files_in(&spool(server))
        .iter()
        .filter_map(|f| std::fs::metadata(spool(server).join(f)).ok())
        .map(|m| m.len())
        .sum()
}

/// Waits until the spool holds exactly `n` files (uploads finish asynchronously).
async fn spool_settles(server: &TestServer, n: usize) {
    for _ in 0..200 {
        if files_in(&spool(server)).len() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("spool holds {:?}, expected {n} files", files_in(&spool(server)));
}

/// Registers bob and leaves him offline, then alice sends him each of `files` and disconnects;
/// returns what each upload reported.
async fn send_to_offline_bob(server: &TestServer, work: &Path, files: &[&Path]) -> Vec<Uploaded> {
    let (bob, _) = receiver(server, "bob", &work.join("unused")).await;
    bob.close().await;
    let (alice, _) = sender(server, "alice").await;
    let mut done = Vec::new();
    for path in files {
        let upload = alice.send_file(Address::User("bob".into()), path).await.unwrap();
        done.push(upload.finished().await.unwrap());
    }
    alice.close().await;
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_to_one_file_arrives_intact_and_sender_hears_delivery() {
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let downloads = work.path().join("bob-downloads");
    let (alice, mut alice_events) = sender(&server, "alice").await;
    let (_bob, mut bob_events) = receiver(&server, "bob", &downloads).await;
    let (_carol, mut carol_events) = receiver(&server, "carol", &work.path().join("carol")).await;

    let path = make_file(work.path(), "report 2026.pdf", 3 * MIB + 17, 1);
    let upload = alice.send_file(Address::User("bob".into()), &path).await.unwrap();
    let done = upload.finished().await.unwrap();
    assert!(done.offline.is_empty());

    let announced = next_message(&mut bob_events).await;
    let info = announced.file.clone().expect("a file message");
    assert_eq!((info.name.as_str(), info.size), ("report 2026.pdf", 3 * MIB + 17));
    let got = saved(&mut bob_events).await;
    assert_eq!(got, downloads.join("report 2026.pdf"));
    assert!(same_bytes(&path, &got));
    assert_eq!(files_in(&downloads), ["report 2026.pdf"], "no .part left behind");
    transfer_event(
        &mut alice_events,
        "delivered",
        |t| matches!(t, TransferEvent::Delivered { to, .. } if to == "bob"),
    )
    .await;
    no_message(&mut carol_events, Duration::from_millis(300)).await;

    // The same name again is saved beside it, never over it.
    let upload = alice.send_file(Address::User("bob".into()), &path).await.unwrap();
    upload.finished().await.unwrap();
    assert_eq!(saved(&mut bob_events).await, downloads.join("report 2026 (1).pdf"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_file_reaches_three_recipients() {
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let (alice, _) = sender(&server, "alice").await;
    let mut recipients = Vec::new();
    for nick in ["r1", "r2", "r3"] {
        let dir = work.path().join(nick);
        recipients.push((receiver(&server, nick, &dir).await, dir));
    }
    let path = make_file(work.path(), "photo.jpg", 2 * MIB, 2);
    alice.send_file(Address::everyone(), &path).await.unwrap().finished().await.unwrap();
    for ((_client, events), dir) in &mut recipients {
        let got = saved(events).await;
        assert!(got.starts_with(&*dir));
        assert!(same_bytes(&path, &got));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_recipient_gets_the_file_after_signing_in() {
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let path = make_file(work.path(), "notes.txt", MIB / 2, 3);
    let done = send_to_offline_bob(&server, work.path(), &[&path]).await;
    assert_eq!(done[0].offline, ["bob"], "the sender hears bob will get it later");

    // Alice, back online, hears when bob's saving reached the server.
    let (_alice, mut alice_events) = sender(&server, "alice").await;
    let downloads = work.path().join("bob");
    let (bob, mut bob_events) = receiver(&server, "bob", &downloads).await;
    let got = saved(&mut bob_events).await;
    assert!(same_bytes(&path, &got));
    transfer_event(
        &mut alice_events,
        "delivered",
        |t| matches!(t, TransferEvent::Delivered { to, .. } if to == "bob"),
    )
    .await;
    // Closing stores bob's last ack, so the file message is not delivered to him again.
    bob.close().await;
    // Once saved, the next sign-in does not fetch it again.
    let (_again, mut again_events) = receiver(&server, "bob", &downloads).await;
    assert!(
        tokio::time::timeout(
            Duration::from_millis(800),
            transfer_event(&mut again_events, "any download", |t| {
                matches!(t, TransferEvent::DownloadStarted { .. })
            })
        )
        .await
        .is_err()
    );
    assert_eq!(files_in(&downloads), ["notes.txt"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn senders_other_device_gets_the_file_but_not_the_uploading_one() {
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let (_bob, _) = receiver(&server, "bob", &work.path().join("bob")).await;
    let mut cfg = config(&server, "alice");
    cfg.device = Some("laptop".into());
    cfg.downloads = Some(work.path().join("laptop"));
    let (laptop, mut laptop_events) = Client::connect(cfg).await.unwrap();
    let path = make_file(work.path(), "slides.pdf", MIB, 4);
    laptop.send_file(Address::User("bob".into()), &path).await.unwrap().finished().await.unwrap();

    // Alice's phone was offline; it gets her own file when it signs in.
    let mut cfg = config(&server, "alice");
    cfg.device = Some("phone".into());
    cfg.downloads = Some(work.path().join("phone"));
    let (_phone, mut phone_events) = Client::connect(cfg).await.unwrap();
    assert!(same_bytes(&path, &saved(&mut phone_events).await));
    let laptop_download = tokio::time::timeout(
        Duration::from_millis(500),
        transfer_event(&mut laptop_events, "any download", |t| {
            matches!(t, TransferEvent::DownloadStarted { .. })
        }),
    );
    assert!(laptop_download.await.is_err(), "the uploading device downloads its own file");
    assert!(files_in(&work.path().join("laptop")).is_empty(), "the uploading device keeps no copy");
}

/// A raw upload: header, then `body`, then FIN; returns the connection for reading verdicts.
#[allow(clippy::too_many_arguments)]
async fn raw_upload(
    server: &TestServer,
    nick: &str,
    transfer_id: &str,
    to: Address,
    name: &str,
    declared_size: u64,
    blake3: &str,
    body: &[u8],
) -> (quinn::Connection, quinn::RecvStream) {
    let conn = raw_connect(server).await;
    let (_send, control, welcome) = raw_login(&conn, nick, PASSWORD).await;
    std::mem::forget(_send); // keep the control stream open
    assert!(matches!(welcome, ServerFrame::Welcome { .. }));
    let mut stream = conn.open_uni().await.unwrap();
    let header = ClientFrame::Upload {
        transfer_id: transfer_id.into(),
        to,
        name: name.into(),
        size: declared_size,
        blake3: blake3.into(),
        offset: 0,
    };
    stream.write_all(&encode(&header)).await.unwrap();
    let _ = stream.write_all(body).await;
    let _ = stream.finish();
    (conn, control)
}

/// Reads control frames until one about files matches.
async fn control_frame(
    control: &mut quinn::RecvStream,
    mut pred: impl FnMut(&ServerFrame) -> bool,
) -> ServerFrame {
    tokio::time::timeout(WAIT, async {
        loop {
            let frame =
                read_frame::<ServerFrame, _>(control).await.unwrap().expect("control stream open");
            if pred(&frame) {
                return frame;
            }
        }
    })
    .await
    .expect("control frame in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_hash_is_rejected_and_nothing_is_left_anywhere() {
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let downloads = work.path().join("bob");
    let (_bob, mut bob_events) = receiver(&server, "bob", &downloads).await;
    let body = vec![7u8; 300_000];
    let wrong = blake3::hash(b"something else").to_hex().to_string();
    let (_conn, mut control) = raw_upload(
        &server,
        "mallory",
        "t-1",
        Address::User("bob".into()),
        "evil.bin",
        body.len() as u64,
        &wrong,
        &body,
    )
    .await;
    match control_frame(&mut control, |f| matches!(f, ServerFrame::FileRejected { .. })).await {
        ServerFrame::FileRejected { code, .. } => assert_eq!(code, ErrorCode::HashMismatch),
        _ => unreachable!(),
    }
    // Bob may have started downloading; either way he ends with nothing saved.
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        transfer_event(&mut bob_events, "download end", |t| {
            matches!(t, TransferEvent::DownloadFailed { .. } | TransferEvent::Saved { .. })
        }),
    )
    .await;
    // A failed download removes its .part before it reports the failure.
    assert!(files_in(&downloads).is_empty(), "left in downloads: {:?}", files_in(&downloads));
    spool_settles(&server, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_are_sanitised_on_save() {
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let downloads = work.path().join("bob");
    let (_bob, mut bob_events) = receiver(&server, "bob", &downloads).await;
    let body = b"payload".to_vec();
    let hash = blake3::hash(&body).to_hex().to_string();
    let long = "a".repeat(10_000);
    let cases = [
        ("../../x", "x"),
        ("/etc/passwd", "passwd"),
        ("CON", "_CON"),
        ("", "file"),
        (".hidden", "hidden"),
        (long.as_str(), ""),
    ];
    for (i, (name, _)) in cases.iter().enumerate() {
        let (_conn, mut control) = raw_upload(
            &server,
            "mallory",
            &format!("n-{i}"),
            Address::User("bob".into()),
            name,
            body.len() as u64,
            &hash,
            &body,
        )
        .await;
        control_frame(&mut control, |f| matches!(f, ServerFrame::FileComplete { .. })).await;
        let got = saved(&mut bob_events).await;
        assert_eq!(got.parent(), Some(downloads.as_path()), "{name:?} escaped to {got:?}");
        let file_name = got.file_name().unwrap().to_string_lossy().into_owned();
        let expected = cases[i].1;
        if expected.is_empty() {
            assert!(file_name.len() <= 200 && file_name.starts_with("aaaa"), "{file_name}");
        } else {
            assert_eq!(file_name, expected);
        }
        assert_eq!(std::fs::read(&got).unwrap(), body);
    }
    assert!(!work.path().join("x").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_is_refused_before_sending_and_by_the_server() {
    let server = TestServer::start_with(|c| c.max_file_bytes = MIB).await;
    let work = tempfile::tempdir().unwrap();
    let (alice, _) = sender(&server, "alice").await;
    let (_bob, _) = receiver(&server, "bob", &work.path().join("bob")).await;
    assert_eq!(alice.limits().max_file_bytes, MIB);
    let path = make_file(work.path(), "big.iso", MIB + 1, 5);
    let err = alice.send_file(Address::User("bob".into()), &path).await.unwrap_err();
    assert!(matches!(err, TransferError::Refused { code: ErrorCode::FileTooLarge, .. }), "{err}");

    // A client that ignores the limit is refused by the server from the header alone.
    let hash = blake3::hash(b"").to_hex().to_string();
    let (_conn, mut control) = raw_upload(
        &server,
        "mallory",
        "big",
        Address::User("bob".into()),
        "big.iso",
        10 * MIB,
        &hash,
        &[],
    )
    .await;
    match control_frame(&mut control, |f| matches!(f, ServerFrame::FileRejected { .. })).await {
        ServerFrame::FileRejected { code, file_id, .. } => {
            assert_eq!(code, ErrorCode::FileTooLarge);
            assert_eq!(file_id, None);
        }
        _ => unreachable!(),
    }
    spool_settles(&server, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_exceeded_is_refused() {
    let server = TestServer::start_with(|c| c.spool_quota_bytes = 3 * MIB).await;
    let work = tempfile::tempdir().unwrap();
    let (alice, _) = sender(&server, "alice").await;
    let (_bob, _) = receiver(&server, "bob", &work.path().join("bob")).await;
    let first = make_file(work.path(), "a.bin", 2 * MIB, 6);
    alice.send_file(Address::User("bob".into()), &first).await.unwrap().finished().await.unwrap();
    let second = make_file(work.path(), "b.bin", 2 * MIB, 7);
    let err = alice
        .send_file(Address::User("bob".into()), &second)
        .await
        .unwrap()
        .finished()
        .await
        .unwrap_err();
    assert!(matches!(err, TransferError::Refused { code: ErrorCode::QuotaExceeded, .. }), "{err}");
    spool_settles(&server, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_cancel_aborts_for_everyone_and_cleans_up() {
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let downloads = work.path().join("bob");
    let (alice, mut alice_events) = sender(&server, "alice").await;
    let (_bob, mut bob_events) = receiver(&server, "bob", &downloads).await;
    let path = make_file(work.path(), "movie.mkv", 96 * MIB, 8);
    let upload = alice.send_file(Address::User("bob".into()), &path).await.unwrap();
    // Cancel once bob is receiving.
    transfer_event(
        &mut bob_events,
        "bob receiving",
        |t| matches!(t, TransferEvent::Progress { done, .. } if *done > 0),
    )
    .await;
    upload.cancel();
    let err = upload.finished().await.unwrap_err();
    assert_eq!(err, TransferError::Cancelled);
    transfer_event(&mut alice_events, "upload failed", |t| {
        matches!(t, TransferEvent::UploadFailed { .. })
    })
    .await;
    match transfer_event(&mut bob_events, "bob's download ends", |t| {
        matches!(t, TransferEvent::DownloadFailed { .. } | TransferEvent::Saved { .. })
    })
    .await
    {
        TransferEvent::DownloadFailed { .. } => {}
        other => panic!("the cancelled file was saved: {other:?}"),
    }
    assert!(files_in(&downloads).is_empty(), "left: {:?}", files_in(&downloads));
    spool_settles(&server, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipient_cancel_stops_only_that_download() {
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let (alice, _) = sender(&server, "alice").await;
    let (bob, mut bob_events) = receiver(&server, "bob", &work.path().join("bob")).await;
    let (_carol, mut carol_events) = receiver(&server, "carol", &work.path().join("carol")).await;
    let path = make_file(work.path(), "dataset.csv", 48 * MIB, 9);
    let upload = alice.send_file(Address::everyone(), &path).await.unwrap();
    let file_id = match transfer_event(
        &mut bob_events,
        "bob receiving",
        |t| matches!(t, TransferEvent::Progress { done, .. } if *done > 0),
    )
    .await
    {
        TransferEvent::Progress { key: TransferKey::Download(id), .. } => id,
        other => panic!("{other:?}"),
    };
    bob.cancel_download(file_id);
    match transfer_event(&mut bob_events, "bob's download ends", |t| {
        matches!(t, TransferEvent::DownloadFailed { .. } | TransferEvent::Saved { .. })
    })
    .await
    {
        TransferEvent::DownloadFailed { code, .. } => assert_eq!(code, Some(ErrorCode::Cancelled)),
        other => panic!("{other:?}"),
    }
    assert!(files_in(&work.path().join("bob")).is_empty());
    upload.finished().await.unwrap();
    assert!(same_bytes(&path, &saved(&mut carol_events).await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_resumes_after_the_connection_is_cut() {
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let (alice, mut alice_events, _link) = on_slow_link(&server, "alice", None).await;
    let (_bob, mut bob_events) = receiver(&server, "bob", &work.path().join("bob")).await;
    let path = make_file(work.path(), "disk.img", 64 * MIB, 10);
    let upload = alice.send_file(Address::User("bob".into()), &path).await.unwrap();
    let key = TransferKey::Upload(upload.transfer_id.clone());
    transfer_event(&mut alice_events, "a quarter uploaded", |t| {
        matches!(t, TransferEvent::Progress { key: k, done, .. } if *k == key && *done >= 16 * MIB)
    })
    .await;
    alice.reconnect();
    // After the reconnect the upload continues from what the server holds, not from zero.
    wait_for(&mut alice_events, "reconnected", |e| {
        matches!(e, Event::State(quicq_client::ConnState::Connected { .. }))
    })
    .await;
    let resumed_at = match transfer_event(
        &mut alice_events,
        "progress after reconnect",
        |t| matches!(t, TransferEvent::Progress { key: k, .. } if *k == key),
    )
    .await
    {
        TransferEvent::Progress { done, .. } => done,
        _ => unreachable!(),
    };
    assert!(resumed_at >= MIB, "restarted from {resumed_at}");
    upload.finished().await.unwrap();
    assert!(same_bytes(&path, &saved(&mut bob_events).await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_resumes_after_the_connection_is_cut() {
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let (alice, _) = sender(&server, "alice").await;
    let (bob, mut bob_events, _link) =
        on_slow_link(&server, "bob", Some(&work.path().join("bob"))).await;
    let path = make_file(work.path(), "backup.tar", 64 * MIB, 11);
    let upload = alice.send_file(Address::User("bob".into()), &path).await.unwrap();
    transfer_event(&mut bob_events, "a quarter downloaded", |t| {
        matches!(t, TransferEvent::Progress { key: TransferKey::Download(_), done, .. } if *done >= 16 * MIB)
    })
    .await;
    bob.reconnect();
    wait_for(&mut bob_events, "reconnected", |e| {
        matches!(e, Event::State(quicq_client::ConnState::Connected { .. }))
    })
    .await;
    let resumed_at = match transfer_event(&mut bob_events, "progress after reconnect", |t| {
        matches!(t, TransferEvent::Progress { key: TransferKey::Download(_), .. })
    })
    .await
    {
        TransferEvent::Progress { done, .. } => done,
        _ => unreachable!(),
    };
    assert!(resumed_at >= 16 * MIB, "restarted from {resumed_at}");
    upload.finished().await.unwrap();
    let got = saved(&mut bob_events).await;
    assert!(same_bytes(&path, &got));
    assert_eq!(files_in(&work.path().join("bob")), ["backup.tar"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_is_never_blocked_by_a_large_file_on_the_same_connection() {
    let server = TestServer::start_with(|c| c.message_burst = 100).await;
    let work = tempfile::tempdir().unwrap();
    let (alice, mut alice_events) = sender(&server, "alice").await;
    let (_bob, mut bob_events) = receiver(&server, "bob", &work.path().join("bob")).await;
    let path = make_file(work.path(), "huge.bin", 200 * MIB, 12);
    let upload = alice.send_file(Address::User("bob".into()), &path).await.unwrap();
    transfer_event(
        &mut alice_events,
        "upload under way",
        |t| matches!(t, TransferEvent::Progress { done, .. } if *done > 0),
    )
    .await;
    const MESSAGES: usize = 20;
    for i in 0..MESSAGES {
        alice.send(Address::User("bob".into()), format!("while the file moves {i}")).await.unwrap();
    }
    // Everything bob sees, in order, until the file is saved.
    let mut texts = Vec::new();
    let saved_at = loop {
        match tokio::time::timeout(Duration::from_secs(120), bob_events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            Event::Message(m) if m.file.is_none() => texts.push(m.text),
            Event::Transfer(TransferEvent::Saved { path, .. }) => break path,
            Event::Transfer(TransferEvent::DownloadFailed { reason, .. }) => panic!("{reason}"),
            _ => {}
        }
    };
    assert_eq!(texts.len(), MESSAGES, "every message arrived before the file finished");
    upload.finished().await.unwrap();
    assert!(same_bytes(&path, &saved_at));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_reconciles_spool_and_database() {
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let kept = make_file(work.path(), "kept.txt", 1000, 14);
    let lost = make_file(work.path(), "lost.txt", 1000, 15);
    let lost_id = send_to_offline_bob(&server, work.path(), &[&kept, &lost]).await[1].file_id;
    let dir = server.stop().await;

    // A backup restored without the lost file's bytes, plus a stray file from a crash.
    let spool_dir = dir.path().join("data").join("spool");
    std::fs::remove_file(spool_dir.join(format!("{lost_id}.spool"))).unwrap();
    std::fs::write(spool_dir.join("999.spool"), b"stray").unwrap();
    let server = TestServer::start_in(dir, |_| {}).await;
    assert!(!spool(&server).join("999.spool").exists(), "stray spool file removed");

    let downloads = work.path().join("bob");
    let (_bob, mut bob_events) = receiver(&server, "bob", &downloads).await;
    // Both file messages reach bob; the one without bytes is reported unavailable.
    let mut outcomes = Vec::new();
    while outcomes.len() < 2 {
        outcomes.push(
            transfer_event(&mut bob_events, "download outcome", |t| {
                matches!(t, TransferEvent::Saved { .. } | TransferEvent::DownloadFailed { .. })
            })
            .await,
        );
    }
    for outcome in outcomes {
        match outcome {
            TransferEvent::Saved { path, .. } => assert!(same_bytes(&kept, &path)),
            TransferEvent::DownloadFailed { file_id, code, .. } => {
                assert_eq!((file_id, code), (lost_id, Some(ErrorCode::FileUnavailable)));
            }
            _ => unreachable!(),
        }
    }
    assert_eq!(files_in(&downloads), ["kept.txt"]);
}

/// docs/deploy.md suggests a second disk for the spool via a mount or a symlink at
/// `<data>/spool`; the server must write, keep across a restart and serve files there.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spool_can_live_elsewhere_through_a_symlink() {
    let elsewhere = tempfile::tempdir().unwrap();
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("data").join("spool")).unwrap();
    let server = TestServer::start_in(dir, |_| {}).await;

    let work = tempfile::tempdir().unwrap();
    let path = make_file(work.path(), "video.mp4", 2 * MIB + 5, 16);
    let file_id = send_to_offline_bob(&server, work.path(), &[&path]).await[0].file_id;
    assert_eq!(files_in(elsewhere.path()), [format!("{file_id}.spool")]);

    // A restart reconciles the spool through the link and keeps the file for bob.
    let dir = server.stop().await;
    let server = TestServer::start_in(dir, |_| {}).await;
    let downloads = work.path().join("bob");
    let (_bob, mut bob_events) = receiver(&server, "bob", &downloads).await;
    assert!(same_bytes(&path, &saved(&mut bob_events).await));
    assert!(spool(&server).is_symlink(), "the server left the link in place");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_longer_than_declared_is_stopped_before_its_fin() {
    let server = TestServer::start().await;
    let conn = raw_connect(&server).await;
    let (_send, mut control, welcome) = raw_login(&conn, "mallory", PASSWORD).await;
    assert!(matches!(welcome, ServerFrame::Welcome { .. }));
    let body = vec![9u8; 1000];
    let header = ClientFrame::Upload {
        transfer_id: "t-over".into(),
        to: Address::everyone(),
        name: "over.bin".into(),
        size: body.len() as u64 - 1,
        blake3: blake3::hash(&body[1..]).to_hex().to_string(),
        offset: 0,
    };
    let mut stream = conn.open_uni().await.unwrap();
    stream.write_all(&encode(&header)).await.unwrap();
    // One byte more than declared, and the stream stays open: no FIN.
    stream.write_all(&body).await.unwrap();
    let stopped = tokio::time::timeout(WAIT, stream.stopped()).await.expect("stopped in time");
    assert_eq!(stopped.unwrap(), Some(quicq_common::protocol::stream_code::FILE_ABORTED.into()));
    match control_frame(&mut control, |f| matches!(f, ServerFrame::FileRejected { .. })).await {
        ServerFrame::FileRejected { code, file_id, .. } => {
            assert_eq!(code, ErrorCode::SizeMismatch);
            assert!(file_id.is_some(), "the file was accepted, then failed");
        }
        _ => unreachable!(),
    }
    spool_settles(&server, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_shutdown_records_every_byte_an_interrupted_upload_delivered() {
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let (_bob, _) = receiver(&server, "bob", &work.path().join("bob")).await;
    // Alice declares 16 MiB and sends 2 MiB, then nothing: far below the 64 MiB between
    // progress records, so only the shutdown can record how far it got.
    let body = vec![3u8; 16 * MIB as usize];
    let conn = raw_connect(&server).await;
    let (_control, _, _) = raw_login(&conn, "alice", PASSWORD).await;
    let mut stream = conn.open_uni().await.unwrap();
    let header = ClientFrame::Upload {
        transfer_id: "t-cut".into(),
        to: Address::User("bob".into()),
        name: "cut.bin".into(),
        size: body.len() as u64,
        blake3: blake3::hash(&body).to_hex().to_string(),
        offset: 0,
    };
    stream.write_all(&encode(&header)).await.unwrap();
    stream.write_all(&body[..2 * MIB as usize]).await.unwrap();
    // The server has written at least 1 MiB to its spool (its own progress, not yet recorded).
    tokio::time::timeout(WAIT, async {
        while spooled_bytes(&server) < MIB {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the spool grows");
    let dir = server.stop().await;
    assert_eq!(files_in(&dir.path().join("data").join("spool")).len(), 1, "one spool file");

    let server = TestServer::start_in(dir, |_| {}).await;
    let conn = raw_connect(&server).await;
    let (_control, _, _) = raw_login(&conn, "alice", PASSWORD).await;
    let spool_len = spooled_bytes(&server);
    let status = ClientFrame::UploadStatus { transfer_id: "t-cut".into() };
    match raw_frame(&conn, &status).await {
        ServerFrame::UploadState { received, complete, .. } => {
            assert!(!complete);
            assert!(received >= MIB, "recorded {received} bytes, bob had at least {MIB}");
            assert_eq!(received, spool_len, "what is recorded is what the spool holds");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_larger_than_the_free_disk_is_refused_even_within_the_quota() {
    let pib = 1u64 << 50;
    let server = TestServer::start_with(|c| {
        c.max_file_bytes = pib;
        c.spool_quota_bytes = 2 * pib;
    })
    .await;
    let (_conn, mut control) = raw_upload(
        &server,
        "alice",
        "t-huge",
        Address::everyone(),
        "huge.bin",
        pib,
        &"a".repeat(64),
        b"",
    )
    .await;
    match control_frame(&mut control, |f| matches!(f, ServerFrame::FileRejected { .. })).await {
        ServerFrame::FileRejected { code, file_id, message, .. } => {
            assert_eq!(code, ErrorCode::QuotaExceeded, "{message}");
            assert_eq!(file_id, None, "nothing was stored");
        }
        _ => unreachable!(),
    }
    spool_settles(&server, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_file_whose_bytes_are_gone_is_refused_not_left_hanging() {
    let server = TestServer::start().await;
    // An upload that stopped half-way: its row says uploading, and its spool file is lost (as
    // when a failure could not be recorded on a full disk).
    let body = vec![5u8; 400_000];
    let hash = blake3::hash(&body).to_hex().to_string();
    let conn = raw_connect(&server).await;
    let (_send, mut control, _) = raw_login(&conn, "alice", PASSWORD).await;
    let mut stream = conn.open_uni().await.unwrap();
    let header = ClientFrame::Upload {
        transfer_id: "t-lost".into(),
        to: Address::everyone(),
        name: "lost.bin".into(),
        size: body.len() as u64,
        blake3: hash,
        offset: 0,
    };
    stream.write_all(&encode(&header)).await.unwrap();
    // More than one 256 KiB block, so the server writes some of it to its spool.
    stream.write_all(&body[..300_000]).await.unwrap();
    let file_id = match control_frame(&mut control, |f| {
        matches!(f, ServerFrame::FileAccepted { .. })
    })
    .await
    {
        ServerFrame::FileAccepted { file_id, .. } => file_id,
        _ => unreachable!(),
    };
    // Once bytes are in it, the upload has its spool file open (deleting it earlier would let
    // the upload create it again).
    tokio::time::timeout(WAIT, async {
        while spooled_bytes(&server) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the spool grows");
    for file in files_in(&spool(&server)) {
        std::fs::remove_file(spool(&server).join(file)).unwrap();
    }
    let reader = raw_connect(&server).await;
    let (_control, _, _) = raw_login(&reader, "bob", PASSWORD).await;
    let answer = raw_frame(&reader, &ClientFrame::Download { file_id, offset: 0 }).await;
    assert!(
        matches!(answer, ServerFrame::Error { code: ErrorCode::FileUnavailable, .. }),
        "{answer:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_without_bytes_cannot_lock_others_out_of_file_sharing() {
    let server = TestServer::start_with(|c| {
        c.spool_quota_bytes = 3 * MIB;
        c.account_spool_quota_bytes = 2 * MIB;
        // Alice's uploads are watched with the same limit: long enough that a busy machine's
        // pause is not taken for an idle upload.
        c.upload_idle_secs = 3;
    })
    .await;
    let work = tempfile::tempdir().unwrap();
    let (alice, _) = sender(&server, "alice").await;
    let (_bob, _) = receiver(&server, "bob", &work.path().join("bob")).await;

    // Mallory declares files and sends no bytes.
    let conn = raw_connect(&server).await;
    let (_control_send, mut control, _) = raw_login(&conn, "mallory", PASSWORD).await;
    let mut held = Vec::new();
    for (id, size) in [("m-1", 2 * MIB), ("m-2", MIB)] {
        let mut stream = conn.open_uni().await.unwrap();
        let header = ClientFrame::Upload {
            transfer_id: id.into(),
            to: Address::User("bob".into()),
            name: "nothing.bin".into(),
            size,
            blake3: "a".repeat(64),
            offset: 0,
        };
        stream.write_all(&encode(&header)).await.unwrap();
        held.push(stream);
        // One at a time, so the order of the checks is known.
        let verdict = control_frame(&mut control, |f| {
            matches!(f, ServerFrame::FileAccepted { .. } | ServerFrame::FileRejected { .. })
        })
        .await;
        match (id, verdict) {
            ("m-1", ServerFrame::FileAccepted { .. }) => {}
            // Her first header holds her whole share, so the second is refused…
            ("m-2", ServerFrame::FileRejected { code: ErrorCode::QuotaExceeded, .. }) => {}
            (id, other) => panic!("{id}: {other:?}"),
        }
    }
    // …while others still have room: the server holds 2 of 3 MiB.
    let first = make_file(work.path(), "first.bin", MIB, 30);
    alice.send_file(Address::User("bob".into()), &first).await.unwrap().finished().await.unwrap();
    // Now it is full, until her idle header fails and stops holding anything.
    match control_frame(&mut control, |f| matches!(f, ServerFrame::FileRejected { .. })).await {
        ServerFrame::FileRejected { transfer_id, code, .. } => {
            assert_eq!((transfer_id.as_str(), code), ("m-1", ErrorCode::UploadIdle));
        }
        _ => unreachable!(),
    }
    let second = make_file(work.path(), "second.bin", MIB, 31);
    alice.send_file(Address::User("bob".into()), &second).await.unwrap().finished().await.unwrap();
}
