//! Memory use while a large file moves: alone in its own test binary, because it measures the
//! resident size of the whole process and other tests running beside it would blur that.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::PathBuf;
use std::time::Duration;

use quicq_client::{Client, Event, Events, TransferEvent};
use quicq_common::protocol::Address;
use quicq_common::socket::Windows;
use quicq_tests::*;

const MIB: u64 = 1024 * 1024;

async fn connect_with(
    server: &TestServer,
    nick: &str,
    downloads: Option<PathBuf>,
) -> (Client, Events) {
    let mut cfg = config(server, nick);
    cfg.device = Some(format!("device-of-{nick}"));
    cfg.downloads = downloads;
    Client::connect(cfg).await.unwrap()
}

fn spool_files(server: &TestServer) -> Vec<PathBuf> {
    let dir = server.dir.path().join("data").join("spool");
    std::fs::read_dir(dir).map(|d| d.map(|e| e.unwrap().path()).collect()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_larger_than_memory_allows_moves_through_the_disk_spool() {
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let (alice, mut alice_events) = connect_with(&server, "alice", None).await;
    let (_bob, mut bob_events) = connect_with(&server, "bob", Some(work.path().join("bob"))).await;
    let size = 256 * MIB;
    let path = make_file(work.path(), "large.bin", size, 13);
    let baseline = rss_bytes();
    let upload = alice.send_file(Address::User("bob".into()), &path).await.unwrap();
    let mut peak = baseline;
    let mut spool_seen = 0;
    let got = loop {
        tokio::select! {
            e = bob_events.recv() => match e.unwrap() {
                Event::Transfer(TransferEvent::Saved { path, .. }) => break path,
                Event::Transfer(TransferEvent::DownloadFailed { reason, .. }) => panic!("{reason}"),
                _ => {}
            },
            _ = alice_events.recv() => {}
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
        peak = peak.max(rss_bytes());
        for file in spool_files(&server) {
            spool_seen = spool_seen.max(std::fs::metadata(file).map_or(0, |m| m.len()));
        }
    };
    upload.finished().await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&got).unwrap());
    // The bytes went through the spool on disk…
    let final_size = spool_files(&server).iter().map(|f| std::fs::metadata(f).unwrap().len()).max();
    assert_eq!(spool_seen.max(final_size.unwrap_or(0)), size);
    // …and this whole process (sender, server and recipient) never held the file in memory:
    // at most what the two hops may hold in flight (each sender's unacknowledged data, up to its
    // send window, and each receiver's unread data, up to its stream window: what lets a file
    // fill a long path), plus 32 MiB. A loaded machine fills the receive side too: with only the
    // send windows counted, this failed at 80–83 MiB against an 80 MiB bound.
    let windows = u64::from(
        Windows::CLIENT.send
            + Windows::SERVER.stream
            + Windows::SERVER.send
            + Windows::CLIENT.stream,
    );
    let bound = windows + 32 * MIB;
    assert!(bound <= size / 2);
    let growth = peak.saturating_sub(baseline);
    assert!(
        growth < bound,
        "memory grew by {} MiB for a {} MiB file (bound {} MiB)",
        growth / MIB,
        size / MIB,
        bound / MIB
    );
}

/// Resident set size of this process, from /proc (Linux).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}
