//! File workloads: sharing a large file through the server (W3) and chat during it (W4).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use quicq_client::{Event, Events, TransferEvent};
use quicq_common::congestion::Congestion;
use quicq_common::protocol::Address;

use crate::deployment::Deployment;
use crate::disk::SyncProbe;
use crate::path::PathSpec;
use crate::server::{ServerProcess, Via};
use crate::stats::Samples;

/// Writes `size` bytes of incompressible data.
pub fn make_file(dir: &Path, size: u64) -> anyhow::Result<PathBuf> {
    use std::io::Write;
    let path = dir.join("payload.bin");
    let mut file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut block = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for chunk in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        file.write_all(&block[..n])?;
        left -= n as u64;
    }
    file.flush()?;
    // Write it out now: a gigabyte of dirty page cache being flushed during the measurement
    // would slow every fsync on this disk, the server's database commits included.
    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(path)
}

async fn saved(events: &mut Events) -> anyhow::Result<PathBuf> {
    loop {
        match tokio::time::timeout(Duration::from_secs(600), events.recv())
            .await
            .context("no file within 600 s")?
        {
            Some(Event::Transfer(TransferEvent::Saved { path, .. })) => return Ok(path),
            Some(Event::Transfer(TransferEvent::DownloadFailed { reason, .. })) => {
                anyhow::bail!("download failed: {reason}")
            }
            Some(_) => {}
            None => anyhow::bail!("event stream ended"),
        }
    }
}

/// Samples the server's resident memory every 20 ms until dropped; keeps the peak.
struct MemoryWatch {
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl MemoryWatch {
    fn start(pid: u32) -> Self {
        let peak = Arc::new(AtomicU64::new(0));
        let p = peak.clone();
        let task = tokio::spawn(async move {
            loop {
                let status =
                    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                if let Some(kb) = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                {
                    p.fetch_max(kb * 1024, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        MemoryWatch { peak, task }
    }

    fn peak(self) -> u64 {
        self.task.abort();
        self.peak.load(Ordering::Relaxed)
    }
}

/// Result of W3's one-to-one part.
pub struct Share {
    /// MB/s from the start of `send_file` until the recipient has the file verified and saved
    /// (or, when capped, has received what it had at the cap).
    pub mb_per_sec: f64,
    /// The whole file arrived before the cap.
    pub complete: bool,
    /// Growth of the server's resident memory during the transfer, bytes.
    pub server_growth: u64,
    /// CPU seconds per GiB: the server's, and the two clients' (they share this process).
    pub server_cpu_s_per_gib: f64,
    pub clients_cpu_s_per_gib: f64,
    /// Without chat: p50, p99 and max ms of a 4 KiB write + fdatasync on the same disk
    /// meanwhile. The max matters too: messages queue behind one slow commit, so a single
    /// 100 ms sync delays the ten messages sent during it.
    pub disk_sync_ms: Option<(f64, f64, f64)>,
}

/// Where the transfer runs: straight over loopback (W3, W4) or over emulated paths (W7).
#[derive(Debug, Clone, Default)]
pub struct Route {
    /// Each client's path to the server, through a proxy of its own, so the file crosses the
    /// path twice (A to the server, the server to B), as between two people on the internet.
    pub path: Option<PathSpec>,
    /// The congestion controller of the server and both clients; their default when `None`.
    pub congestion: Option<Congestion>,
    /// Stop after this long and report the rate so far (a lossy path with a poor controller
    /// would take hours).
    pub cap: Option<Duration>,
}

/// W3, W4 and W7: `size` bytes from A through the server to B, by `route`.
/// With `chat_every`, A also sends B a message at that interval; returns their p50 and p99 in ms
/// too. Without it, a [`SyncProbe`] measures the disk meanwhile (with chat it would add load).
pub async fn share(
    size: u64,
    chat_every: Option<Duration>,
    route: &Route,
) -> anyhow::Result<(Share, Option<(f64, f64)>)> {
    let work = tempfile::tempdir()?;
    let path = make_file(work.path(), size)?;
    let max_file = (size * 2).to_string();
    let mut args = vec!["--max-file-bytes", &max_file];
    if let Some(c) = route.congestion {
        args.extend(["--congestion", c.as_str()]);
    }
    let server = ServerProcess::start(&args)?;
    // One proxy per client, seeded apart: the two paths lose different packets.
    let proxies = match route.path {
        Some(p) => Some((p.proxy(server.addr()?, 1)?, p.proxy(server.addr()?, 2)?)),
        None => None,
    };
    let via = |proxy: Option<&quicq_impair::Proxy>| Via {
        addr: proxy.map(|p| p.local_addr()),
        congestion: route.congestion,
        ..Via::default()
    };
    let (a, _a_events) = server.client_via("a", via(proxies.as_ref().map(|p| &p.0))).await?;
    let b_via =
        Via { downloads: Some(work.path().join("b")), ..via(proxies.as_ref().map(|p| &p.1)) };
    let (_b, mut b_events) = server.client_via("b", b_via).await?;
    let (baseline, _) = server.memory();
    let watch = MemoryWatch::start(server.pid());
    let probe = match chat_every {
        None => Some(SyncProbe::start(work.path())?),
        Some(_) => None,
    };

    let start = Instant::now();
    let deadline = start + route.cap.unwrap_or(Duration::from_secs(600));
    let cpu = (crate::cpu::seconds(server.pid()), crate::cpu::own_seconds());
    let upload = a.send_file(Address::User("b".into()), &path).await?;
    // Each message goes out on its own at its time (a slow ack never delays the next one); its
    // send instant travels in the text, so B can tell its latency.
    let epoch = Instant::now();
    let chatter = chat_every.map(|every| {
        let a = a.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            for _ in 0u64..1_000_000 {
                tick.tick().await;
                let a = a.clone();
                let sent = epoch.elapsed().as_micros();
                tokio::spawn(
                    async move { a.send(Address::User("b".into()), format!("c{sent}")).await },
                );
            }
        })
    });
    // Everything b sees until the file is saved (or the cap): chat latencies and progress.
    let mut latencies = Samples::default();
    let mut received = 0;
    // W7_TRACE=1: each message's latency on stderr, to see when in a transfer the slow ones go.
    let trace = std::env::var_os("W7_TRACE").is_some();
    let saved_path = loop {
        let event = tokio::time::timeout_at(deadline.into(), b_events.recv()).await;
        match event {
            Err(_) if route.cap.is_some() => break None,
            Err(_) => anyhow::bail!("stalled"),
            Ok(Some(Event::Message(m))) if m.file.is_none() => {
                if let Some(sent) = m.text.strip_prefix('c').and_then(|n| n.parse::<u64>().ok()) {
                    let now = epoch.elapsed().as_micros() as u64;
                    latencies.push(Duration::from_micros(now.saturating_sub(sent)));
                    if trace {
                        eprintln!(
                            "chat sent at {} ms took {} ms",
                            sent / 1000,
                            now.saturating_sub(sent) / 1000
                        );
                    }
                }
            }
            Ok(Some(Event::Transfer(TransferEvent::Progress { done, .. }))) => {
                received = received.max(done)
            }
            Ok(Some(Event::Transfer(TransferEvent::Saved { path, .. }))) => break Some(path),
            Ok(Some(Event::Transfer(TransferEvent::DownloadFailed { reason, .. }))) => {
                anyhow::bail!("{reason}")
            }
            Ok(Some(_)) => {}
            Ok(None) => anyhow::bail!("event stream ended"),
        }
    };
    let elapsed = start.elapsed().as_secs_f64();
    let moved = if saved_path.is_some() { size } else { received };
    let gib = moved.max(1) as f64 / super::GIB;
    let server_cpu = (crate::cpu::seconds(server.pid()) - cpu.0) / gib;
    let clients_cpu = (crate::cpu::own_seconds() - cpu.1) / gib;
    if let Some(chatter) = chatter {
        chatter.abort();
    }
    if let Some(saved_path) = &saved_path {
        upload.finished().await?;
        anyhow::ensure!(
            std::fs::metadata(saved_path)?.len() == size,
            "saved file has the wrong size"
        );
    }
    let peak = watch.peak();
    let disk_sync_ms = match probe {
        Some(probe) => {
            let mut syncs = probe.stop()?;
            Some((syncs.percentile_ms(50.0), syncs.percentile_ms(99.0), syncs.percentile_ms(100.0)))
        }
        None => None,
    };
    let share = Share {
        mb_per_sec: moved as f64 / elapsed / 1e6,
        complete: saved_path.is_some(),
        server_growth: peak.saturating_sub(baseline),
        server_cpu_s_per_gib: server_cpu,
        clients_cpu_s_per_gib: clients_cpu,
        disk_sync_ms,
    };
    let chat = chat_every.map(|_| (latencies.percentile_ms(50.0), latencies.percentile_ms(99.0)));
    Ok((share, chat))
}

/// W3 group part: `size` bytes from A to everyone, `recipients` of them online and downloading.
/// Returns aggregate MB/s delivered (size × recipients / time until the last one saved).
pub async fn share_group(size: u64, recipients: usize) -> anyhow::Result<f64> {
    let work = tempfile::tempdir()?;
    let path = make_file(work.path(), size)?;
    let server = ServerProcess::start(&["--max-file-bytes", &(size * 2).to_string()])?;
    let (a, _a_events) = server.client("a").await?;
    let mut receivers = Vec::new();
    for i in 0..recipients {
        let nick = format!("r{i}");
        receivers.push(server.client_with_downloads(&nick, work.path().join(&nick)).await?);
    }
    let start = Instant::now();
    let upload = a.send_file(Address::everyone(), &path).await?;
    let mut waits = tokio::task::JoinSet::new();
    for (client, mut events) in receivers {
        waits.spawn(async move {
            let got = saved(&mut events).await;
            drop(client);
            got
        });
    }
    while let Some(r) = waits.join_next().await {
        let p = r??;
        anyhow::ensure!(std::fs::metadata(&p)?.len() == size, "a copy has the wrong size");
    }
    let elapsed = start.elapsed().as_secs_f64();
    upload.finished().await?;
    Ok(size as f64 * recipients as f64 / elapsed / 1e6)
}

/// W11's file: `size` bytes from A on node 0 to B on node 1 (the same node when there is one),
/// from `send_file` until B has it verified and saved. Returns MB/s and the CPU seconds per GiB
/// of everything that serves.
pub async fn across(deployment: &Deployment, size: u64) -> anyhow::Result<(f64, f64)> {
    let work = tempfile::tempdir()?;
    let path = make_file(work.path(), size)?;
    let (a, _a_events) = deployment.client(0, "a").await?;
    let b_node = &deployment.nodes[1 % deployment.nodes.len()];
    let b_via = Via { downloads: Some(work.path().join("b")), ..Via::default() };
    let (b, mut b_events) = b_node.client_via("b", b_via).await?;
    let start = Instant::now();
    let cpu = deployment.cpu_seconds();
    let upload = a.send_file(Address::User("b".into()), &path).await?;
    loop {
        match tokio::time::timeout(Duration::from_secs(600), b_events.recv()).await {
            Err(_) => anyhow::bail!("stalled"),
            Ok(Some(Event::Transfer(TransferEvent::Saved { .. }))) => break,
            Ok(Some(Event::Transfer(TransferEvent::DownloadFailed { reason, .. }))) => {
                anyhow::bail!("{reason}")
            }
            Ok(Some(_)) => {}
            Ok(None) => anyhow::bail!("event stream ended"),
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = (deployment.cpu_seconds() - cpu) / (size as f64 / super::GIB);
    upload.finished().await?;
    a.close().await;
    b.close().await;
    Ok((size as f64 / elapsed / 1e6, cpu))
}
