//! The references: bare quinn transfers, one unidirectional stream, no QuicQ code on the data
//! path (the certificate comes from QuicQ's helper, nothing else). One hop (sender to
//! receiver, optionally over an emulated path) or two (a cut-through relay in between, the
//! shape of QuicQ's A → server → B).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use quicq_common::Fingerprint;
use quicq_common::tls::{self, Identity};

use super::GIB;
use crate::path::PathSpec;

/// Result of one reference transfer.
pub struct Raw {
    /// Bytes received by the end (or the cap) over the time taken, MB/s.
    pub mb_per_sec: f64,
    /// CPU seconds per GiB moved, every end together (they share this process).
    pub cpu_s_per_gib: f64,
    /// Every byte arrived before the cap.
    pub complete: bool,
}

/// quinn's defaults, as a newcomer's program would have them.
pub fn default_transport() -> Arc<quinn::TransportConfig> {
    Arc::new(quinn::TransportConfig::default())
}

/// Windows of 32 MiB per stream (64 MiB per connection and to send) and `congestion`.
pub fn tuned_transport(
    congestion: quicq_common::congestion::Congestion,
) -> Arc<quinn::TransportConfig> {
    let windows =
        quicq_common::socket::Windows { stream: 32 << 20, connection: 64 << 20, send: 64 << 20 };
    let mut t = quicq_common::socket::transport(windows, congestion);
    t.max_idle_timeout(Some(Duration::from_secs(30).try_into().expect("30 s fits")));
    Arc::new(t)
}

/// A QUIC server endpoint on loopback with a fresh self-signed certificate.
fn listener(
    dir: &std::path::Path,
    transport: &Arc<quinn::TransportConfig>,
) -> anyhow::Result<(quinn::Endpoint, Fingerprint)> {
    let (identity, _) = Identity::load_or_create(dir, &["localhost".into()])?;
    let fingerprint = identity.fingerprint();
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls::server_config(identity)?)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(transport.clone());
    // The same large socket buffers as QuicQ's endpoints.
    let endpoint = quicq_common::socket::endpoint("127.0.0.1:0".parse()?, Some(config))?;
    Ok((endpoint, fingerprint))
}

async fn connect(
    to: SocketAddr,
    fingerprint: Fingerprint,
    transport: &Arc<quinn::TransportConfig>,
) -> anyhow::Result<(quinn::Endpoint, quinn::Connection)> {
    let mut config = crate::raw::pinned(fingerprint)?;
    config.transport_config(transport.clone());
    let endpoint = quicq_common::socket::endpoint("127.0.0.1:0".parse()?, None)?;
    let conn = endpoint.connect_with(config, to, "localhost")?.await?;
    Ok((endpoint, conn))
}

/// Reads a whole unidirectional stream, counting into `received`.
async fn drain(mut stream: quinn::RecvStream, received: &AtomicU64) -> anyhow::Result<()> {
    while let Some(chunk) = stream.read_chunk(usize::MAX, true).await? {
        received.fetch_add(chunk.bytes.len() as u64, Ordering::Relaxed);
    }
    Ok(())
}

/// Writes `size` bytes on a new unidirectional stream.
async fn fill(conn: &quinn::Connection, size: u64) -> anyhow::Result<()> {
    let block = vec![0x5au8; 1 << 20];
    let mut stream = conn.open_uni().await?;
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        stream.write_all(&block[..n]).await?;
        left -= n as u64;
    }
    stream.finish()?;
    Ok(())
}

/// Moves `size` bytes from one endpoint to the other with `transport` on both, over `path`
/// when given (through an impairment proxy), stopping at `cap`.
pub async fn run(
    size: u64,
    transport: Arc<quinn::TransportConfig>,
    path: Option<PathSpec>,
    cap: Option<Duration>,
) -> anyhow::Result<Raw> {
    let dir = tempfile::tempdir()?;
    let (server, fingerprint) = listener(dir.path(), &transport)?;
    let proxy = match path {
        Some(p) => Some(p.proxy(server.local_addr()?, 1)?),
        None => None,
    };
    let to = proxy.as_ref().map_or(server.local_addr()?, |p| p.local_addr());
    let received = Arc::new(AtomicU64::new(0));
    let counted = received.clone();
    let receiver = tokio::spawn(async move {
        let conn = server.accept().await.ok_or_else(|| anyhow::anyhow!("no connection"))?.await?;
        drain(conn.accept_uni().await?, &counted).await?;
        conn.close(0u32.into(), b"done");
        anyhow::Ok(())
    });
    let (endpoint, conn) = connect(to, fingerprint, &transport).await?;
    let start = Instant::now();
    let cpu = crate::cpu::own_seconds();
    let transfer = async {
        fill(&conn, size).await?;
        receiver.await?
    };
    let complete = match cap {
        Some(cap) => tokio::time::timeout(cap, transfer).await.is_ok_and(|r| r.is_ok()),
        None => transfer.await.is_ok(),
    };
    finish(start, cpu, received.load(Ordering::Relaxed), size, complete, || {
        endpoint.close(0u32.into(), b"")
    })
}

/// A → relay → B on loopback: the relay copies each chunk from A's stream to B's as it
/// arrives (cut-through), the least a relaying server can do.
pub async fn relay(size: u64, transport: Arc<quinn::TransportConfig>) -> anyhow::Result<Raw> {
    let dir = tempfile::tempdir()?;
    let (relay, fingerprint) = listener(dir.path(), &transport)?;
    let relay_addr = relay.local_addr()?;
    let relaying = tokio::spawn(async move {
        let accept = || async {
            let incoming = relay.accept().await.ok_or_else(|| anyhow::anyhow!("no connection"))?;
            anyhow::Ok(incoming.await?)
        };
        // B connects first, then A.
        let to_b = accept().await?;
        let from_a = accept().await?;
        let mut inbound = from_a.accept_uni().await?;
        let mut outbound = to_b.open_uni().await?;
        while let Some(chunk) = inbound.read_chunk(usize::MAX, true).await? {
            outbound.write_chunk(chunk.bytes).await?;
        }
        outbound.finish()?;
        let _ = to_b.closed().await;
        anyhow::Ok(())
    });
    let (b_endpoint, b) = connect(relay_addr, fingerprint, &transport).await?;
    let received = Arc::new(AtomicU64::new(0));
    let counted = received.clone();
    let receiver = tokio::spawn(async move {
        drain(b.accept_uni().await?, &counted).await?;
        b.close(0u32.into(), b"done");
        anyhow::Ok(())
    });
    let (a_endpoint, a) = connect(relay_addr, fingerprint, &transport).await?;
    let start = Instant::now();
    let cpu = crate::cpu::own_seconds();
    fill(&a, size).await?;
    receiver.await??;
    relaying.await??;
    finish(start, cpu, received.load(Ordering::Relaxed), size, true, || {
        a_endpoint.close(0u32.into(), b"");
        b_endpoint.close(0u32.into(), b"");
    })
}

fn finish(
    start: Instant,
    cpu: f64,
    received: u64,
    size: u64,
    complete: bool,
    close: impl FnOnce(),
) -> anyhow::Result<Raw> {
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = crate::cpu::own_seconds() - cpu;
    close();
    anyhow::ensure!(!complete || received == size, "received {received} of {size} bytes");
    Ok(Raw {
        mb_per_sec: received as f64 / elapsed / 1e6,
        cpu_s_per_gib: cpu / (received.max(1) as f64 / GIB),
        complete,
    })
}
