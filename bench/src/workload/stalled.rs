//! W9: sessions that never read their deliveries. Each stalled session grants the server no
//! stream to deliver on, while someone sends it large messages: the server must hold at most
//! its per-session bound for each (then close it to catch up later), not everything sent.

use std::time::Duration;

use quicq_common::Address;
use quicq_common::protocol::ServerFrame;

use crate::raw;
use crate::server::{PASSWORD, ServerProcess};

pub struct Stalled {
    /// Server memory growth at its peak over the run, MiB.
    pub peak_growth_mib: f64,
    /// …per stalled session.
    pub per_session_mib: f64,
    /// Stalled sessions the server closed as too slow.
    pub closed: usize,
}

/// `sessions` stalled sessions, each sent `messages` messages of about 16 KB.
pub async fn stalled(sessions: usize, messages: usize) -> anyhow::Result<Stalled> {
    // 8,000 two-byte characters: 16 KB of text per message.
    let server = ServerProcess::start(&["--max-text-chars", "8000"])?;
    let mut transport = quinn::TransportConfig::default();
    // No delivery stream is ever granted: the server's writer for this session waits forever.
    transport.max_concurrent_uni_streams(0u32.into());
    let (addr, config) = raw::client_config(&server, Some(transport))?;
    let endpoint = raw::endpoint("127.0.0.1:0".parse()?, &config)?;

    let mut stalled = Vec::new();
    for i in 0..sessions {
        let conn = endpoint.connect(addr, "127.0.0.1")?.await?;
        let (send, recv, answer) = raw::hello(&conn, &format!("stalled{i}"), PASSWORD).await?;
        if !matches!(answer, Some(ServerFrame::Welcome { .. })) {
            anyhow::bail!("stalled{i} could not sign in: {answer:?}");
        }
        stalled.push((conn, send, recv));
    }
    let (sender, _events) = server.client("sender").await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (before, _) = server.memory();
    let text = "é".repeat(8000);
    let mut peak = before;
    for round in 0..messages {
        let mut sends = tokio::task::JoinSet::new();
        for i in 0..sessions {
            let (sender, text) = (sender.clone(), text.clone());
            sends.spawn(
                async move { sender.send(Address::User(format!("stalled{i}")), text).await },
            );
        }
        while let Some(sent) = sends.join_next().await {
            sent??;
        }
        if round % 16 == 0 {
            peak = peak.max(server.memory().0);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    peak = peak.max(server.memory().0);
    let closed = stalled.iter().filter(|(conn, _, _)| conn.close_reason().is_some()).count();
    let growth = peak.saturating_sub(before) as f64 / (1u64 << 20) as f64;
    Ok(Stalled { peak_growth_mib: growth, per_session_mib: growth / sessions as f64, closed })
}
