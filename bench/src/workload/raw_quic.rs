//! The reference: a bare quinn transfer, one connection, one unidirectional stream, no QuicQ
//! code on the data path (the certificate comes from QuicQ's helper, nothing else).

use std::sync::Arc;
use std::time::Instant;

use quicq_common::tls::{self, Identity, Roots, ServerVerifier};

use super::{GIB, transport};

/// Result of one reference transfer.
pub struct Raw {
    pub mb_per_sec: f64,
    /// CPU seconds per GiB moved, both ends together (they share this process).
    pub cpu_s_per_gib: f64,
}

/// Moves `size` bytes from one endpoint to the other.
pub async fn run(size: u64) -> anyhow::Result<Raw> {
    let dir = tempfile::tempdir()?;
    let (identity, _) = Identity::load_or_create(dir.path(), &["localhost".into()])?;
    let fingerprint = identity.fingerprint();
    let server_crypto =
        quinn::crypto::rustls::QuicServerConfig::try_from(tls::server_config(identity)?)?;
    let mut server_config = quinn::ServerConfig::with_crypto(Arc::new(server_crypto));
    server_config.transport_config(transport());
    // The same large socket buffers as QuicQ's endpoints.
    let server = quicq_common::socket::endpoint("127.0.0.1:0".parse()?, Some(server_config))?;
    let addr = server.local_addr()?;

    let receiver = tokio::spawn(async move {
        let conn = server.accept().await.ok_or_else(|| anyhow::anyhow!("no connection"))?.await?;
        let mut stream = conn.accept_uni().await?;
        let mut total = 0u64;
        while let Some(chunk) = stream.read_chunk(usize::MAX, true).await? {
            total += chunk.bytes.len() as u64;
        }
        conn.close(0u32.into(), b"done");
        anyhow::Ok(total)
    });

    let verifier = Arc::new(ServerVerifier::new(Some(fingerprint), &Roots::None)?);
    let client_crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls::client_config(
        verifier,
        vec![quicq_common::protocol::ALPN.to_vec()],
    )?)?;
    let mut client_config = quinn::ClientConfig::new(Arc::new(client_crypto));
    client_config.transport_config(transport());
    let endpoint = quicq_common::socket::endpoint("127.0.0.1:0".parse()?, None)?;
    let conn = endpoint.connect_with(client_config, addr, "localhost")?.await?;
    let block = vec![0x5au8; 1 << 20];
    let start = Instant::now();
    let cpu = crate::cpu::own_seconds();
    let mut stream = conn.open_uni().await?;
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        stream.write_all(&block[..n]).await?;
        left -= n as u64;
    }
    stream.finish()?;
    let received = receiver.await??;
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = crate::cpu::own_seconds() - cpu;
    anyhow::ensure!(received == size, "received {received} of {size} bytes");
    endpoint.close(0u32.into(), b"");
    Ok(Raw { mb_per_sec: size as f64 / elapsed / 1e6, cpu_s_per_gib: cpu / (size as f64 / GIB) })
}
