//! W2's reference: a bare quinn fan-out server, what W2's per-delivery cost is compared with.
//! It runs as its own process (`quicq-bench raw-fanout-server`, like `quicq-server` in W2) so
//! that its CPU time is measured alone. Each message arrives on a bidirectional stream; the
//! server writes it to every connection, each copy on a stream of its own (`open_uni`,
//! `write_all`, `finish`, in the request's task), then answers one byte. No accounts, no store,
//! no order, no queues: the least a server that sends each message on its own stream can do.
//! Its answer is the number of connections the message went to.
//!
//! A message is [`MESSAGE_BYTES`] long: a kind byte (`w` warm-up, not counted; `u` unpaced,
//! counted; `p` paced, counted and timed), the send time (µs since the bench's epoch, u64 little
//! endian), then padding.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use quicq_common::Fingerprint;
use quicq_common::socket::Windows;
use quicq_common::tls::{self, Identity};

use super::chat::wait_for_count;
use crate::stats::Samples;

/// Bytes of each message: about what one W2 message is on the wire as a `message` frame.
pub const MESSAGE_BYTES: usize = 180;

/// The server side; prints `ADDRESS FINGERPRINT` on stdout, then serves until killed.
pub async fn serve() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (identity, _) = Identity::load_or_create(dir.path(), &["localhost".into()])?;
    let fingerprint = identity.fingerprint();
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls::server_config(identity)?)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    // QuicQ's server transport and its default stream limits.
    let mut transport = quicq_common::socket::transport(Windows::SERVER, Default::default());
    transport.max_concurrent_bidi_streams(33u32.into()).max_concurrent_uni_streams(8u32.into());
    config.transport_config(Arc::new(transport));
    let endpoint = quicq_common::socket::endpoint("127.0.0.1:0".parse()?, Some(config))?;
    println!("{} {}", endpoint.local_addr()?, fingerprint.to_hex());
    let everyone: Arc<RwLock<Vec<quinn::Connection>>> = Arc::default();
    while let Some(incoming) = endpoint.accept().await {
        let everyone = everyone.clone();
        tokio::spawn(async move {
            let conn = incoming.await?;
            everyone.write().unwrap_or_else(|e| e.into_inner()).push(conn.clone());
            loop {
                let (send, recv) = conn.accept_bi().await?;
                tokio::spawn(relay(send, recv, everyone.clone()));
            }
            #[allow(unreachable_code)]
            anyhow::Ok(())
        });
    }
    Ok(())
}

/// One message: read it, write it to every connection, answer.
async fn relay(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    everyone: Arc<RwLock<Vec<quinn::Connection>>>,
) -> anyhow::Result<()> {
    let message = recv.read_to_end(64 << 10).await?;
    let conns = everyone.read().unwrap_or_else(|e| e.into_inner()).clone();
    for conn in &conns {
        let mut stream = conn.open_uni().await?;
        stream.write_all(&message).await?;
        stream.finish()?;
    }
    send.write_all(&(conns.len() as u32).to_le_bytes()).await?;
    send.finish()?;
    Ok(())
}

/// A running reference server process.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
    fingerprint: Fingerprint,
}

impl ServerProcess {
    fn start() -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("raw-fanout-server")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start the reference server")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let (addr, fingerprint) =
            line.trim().split_once(' ').context("the reference server printed no address")?;
        Ok(ServerProcess { child, addr: addr.parse()?, fingerprint: fingerprint.parse()? })
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the reference did: W2's figures for bare quinn.
pub struct Fanout {
    pub deliveries_per_sec: f64,
    /// Server CPU µs per delivery in the unpaced phase.
    pub server_cpu_us: f64,
    pub paced_p99_ms: f64,
    /// CPU µs per delivery in the paced phase: the server's, and the clients' (this process).
    pub paced_server_cpu_us: f64,
    pub paced_clients_cpu_us: f64,
}

/// W2's shape against the reference: `users` connections; `senders` of them send `each`
/// messages, 32 in flight; then `rate` messages per second for `seconds`.
pub async fn run(
    users: usize,
    senders: usize,
    each: usize,
    (rate, seconds): (u32, u32),
) -> anyhow::Result<Fanout> {
    let server = ServerProcess::start()?;
    let mut config = crate::raw::pinned(server.fingerprint)?;
    let mut transport = quicq_common::socket::transport(Windows::CLIENT, Default::default());
    transport.max_concurrent_bidi_streams(0u32.into()).max_concurrent_uni_streams(1024u32.into());
    config.transport_config(Arc::new(transport));
    let received = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(std::sync::Mutex::new(Samples::default()));
    let epoch = Instant::now();
    let mut conns = Vec::with_capacity(users);
    for _ in 0..users {
        let endpoint = quicq_common::socket::endpoint("127.0.0.1:0".parse()?, None)?;
        let conn = endpoint.connect_with(config.clone(), server.addr, "localhost")?.await?;
        tokio::spawn(receive(conn.clone(), received.clone(), latencies.clone(), epoch));
        conns.push((endpoint, conn));
    }
    // The server lists a connection once its side of the handshake ends, which may be after
    // ours: warm up until a message reaches every connection.
    let deadline = Instant::now() + Duration::from_secs(30);
    while send(&conns[0].1, Kind::Warm, 0).await? < users {
        anyhow::ensure!(Instant::now() < deadline, "the reference server never saw every client");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let start = Instant::now();
    let cpu = crate::cpu::seconds(server.child.id());
    let mut tasks = tokio::task::JoinSet::new();
    for (_, conn) in conns.iter().take(senders) {
        let conn = conn.clone();
        tasks.spawn(async move {
            let mut inflight = tokio::task::JoinSet::new();
            for _ in 0..each {
                if inflight.len() >= 32
                    && let Some(r) = inflight.join_next().await
                {
                    r??;
                }
                let conn = conn.clone();
                inflight.spawn(async move { send(&conn, Kind::Unpaced, 0).await });
            }
            while let Some(r) = inflight.join_next().await {
                r??;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let unpaced = (senders * each * users) as u64;
    wait_for_count(&received, unpaced).await?;
    let elapsed = start.elapsed().as_secs_f64();
    let server_cpu = crate::cpu::seconds(server.child.id()) - cpu;

    *latencies.lock().unwrap_or_else(|e| e.into_inner()) = Samples::default();
    let total = (rate * seconds) as usize;
    let cpu = (crate::cpu::seconds(server.child.id()), crate::cpu::own_seconds());
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut paced = tokio::task::JoinSet::new();
    for i in 0..total {
        tick.tick().await;
        let conn = conns[i % senders].1.clone();
        let now = epoch.elapsed().as_micros() as u64;
        paced.spawn(async move { send(&conn, Kind::Paced, now).await });
    }
    while let Some(r) = paced.join_next().await {
        r??;
    }
    wait_for_count(&received, unpaced + (total * users) as u64).await?;
    let paced_cpu = crate::cpu::seconds(server.child.id()) - cpu.0;
    let paced_clients_cpu = crate::cpu::own_seconds() - cpu.1;
    let p99 = latencies.lock().unwrap_or_else(|e| e.into_inner()).percentile_ms(99.0);
    for (endpoint, _) in &conns {
        endpoint.close(0u32.into(), b"");
    }
    Ok(Fanout {
        deliveries_per_sec: unpaced as f64 / elapsed,
        server_cpu_us: server_cpu * 1e6 / unpaced as f64,
        paced_p99_ms: p99,
        paced_server_cpu_us: paced_cpu * 1e6 / (total * users) as f64,
        paced_clients_cpu_us: paced_clients_cpu * 1e6 / (total * users) as f64,
    })
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Warm = b'w' as isize,
    Unpaced = b'u' as isize,
    Paced = b'p' as isize,
}

/// Sends one message stamped with `sent` (µs since the epoch) and returns the server's answer:
/// how many connections it went to.
async fn send(conn: &quinn::Connection, kind: Kind, sent: u64) -> anyhow::Result<usize> {
    let mut message = vec![b'x'; MESSAGE_BYTES];
    message[0] = kind as u8;
    message[1..9].copy_from_slice(&sent.to_le_bytes());
    let (mut send, mut recv) = conn.open_bi().await?;
    send.write_all(&message).await?;
    send.finish()?;
    let answer = recv.read_to_end(4).await?;
    let count = answer
        .try_into()
        .map(u32::from_le_bytes)
        .map_err(|_| anyhow::anyhow!("the reference server's answer is not a count"))?;
    Ok(count as usize)
}

/// Reads every delivery on `conn`, counting it and timing the stamped ones.
async fn receive(
    conn: quinn::Connection,
    received: Arc<AtomicU64>,
    latencies: Arc<std::sync::Mutex<Samples>>,
    epoch: Instant,
) {
    while let Ok(mut stream) = conn.accept_uni().await {
        let (received, latencies) = (received.clone(), latencies.clone());
        tokio::spawn(async move {
            let Ok(message) = stream.read_to_end(64 << 10).await else { return };
            let sent = message.get(1..9).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
            match (message.first(), sent) {
                (Some(b'u'), _) => {}
                (Some(b'p'), Some(sent)) => {
                    let now = epoch.elapsed().as_micros() as u64;
                    let latency = Duration::from_micros(now.saturating_sub(sent));
                    latencies.lock().unwrap_or_else(|e| e.into_inner()).push(latency);
                }
                _ => return,
            }
            received.fetch_add(1, Ordering::Relaxed);
        });
    }
}
