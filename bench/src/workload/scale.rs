//! W5: many idle signed-in clients on one server. Raw connections share a few client
//! endpoints (one UDP socket each), so the bench process itself stays small.

use std::time::{Duration, Instant};

use quicq_common::protocol::ServerFrame;

use crate::raw;
use crate::server::{PASSWORD, ServerProcess};

pub struct Scale {
    /// Server memory growth per signed-in connection, bytes.
    pub bytes_per_connection: f64,
    pub sign_ins_per_sec: f64,
    pub connections: usize,
}

/// A signed-in client doing nothing but read its control stream (presence), as a real idle
/// client does; a client that never reads would leave the server's frames piling up.
struct Idle {
    _conn: quinn::Connection,
    _send: quinn::SendStream,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Idle {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

pub async fn idle_clients(n: usize) -> anyhow::Result<Scale> {
    let server = ServerProcess::start(&["--max-connections", &(n + 100).to_string()])?;
    let mut transport = quinn::TransportConfig::default();
    transport
        .keep_alive_interval(Some(Duration::from_secs(10)))
        .max_idle_timeout(Some(Duration::from_secs(60).try_into()?));
    let (addr, config) = raw::client_config(&server, Some(transport))?;
    let endpoints: Vec<quinn::Endpoint> = (0..8)
        .map(|_| raw::endpoint("127.0.0.1:0".parse()?, &config))
        .collect::<anyhow::Result<_>>()?;

    // Warm-up sign-ins first: Argon2's working memory (19 MiB per hash running at once) stays
    // with the allocator afterwards and must not be counted as per-connection cost.
    let warm_up = (n / 10).clamp(1, 200);
    let mut held = Vec::with_capacity(n);
    let mut tasks = tokio::task::JoinSet::new();
    let mut before = 0;
    let mut start = Instant::now();
    for i in 0..n {
        if i == warm_up {
            while let Some(r) = tasks.join_next().await {
                held.push(r??);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            before = server.memory().0;
            start = Instant::now();
        }
        if tasks.len() >= 64 {
            held.push(tasks.join_next().await.expect("a task")??);
        }
        let endpoint = endpoints[i % endpoints.len()].clone();
        tasks.spawn(async move {
            // A sign-in that loses its connection under load is tried again once.
            match sign_in(&endpoint, addr, i).await {
                Ok(idle) => Ok(idle),
                Err(_) => sign_in(&endpoint, addr, i).await,
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        held.push(r??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    // Let presence traffic settle before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (after, _) = server.memory();
    let measured = (n - warm_up).max(1) as f64;
    let result = Scale {
        bytes_per_connection: after.saturating_sub(before) as f64 / measured,
        sign_ins_per_sec: measured / elapsed,
        connections: held.len(),
    };
    drop(held);
    Ok(result)
}

async fn sign_in(
    endpoint: &quinn::Endpoint,
    addr: std::net::SocketAddr,
    i: usize,
) -> anyhow::Result<Idle> {
    let conn = endpoint.connect(addr, "127.0.0.1")?.await?;
    let (send, mut recv, answer) = raw::hello(&conn, &format!("idle{i:05}"), PASSWORD).await?;
    if !matches!(answer, Some(ServerFrame::Welcome { .. })) {
        anyhow::bail!("sign-in {i} failed: {answer:?}");
    }
    let reader =
        tokio::spawn(
            async move { while let Ok(Some(_)) = recv.read_chunk(usize::MAX, true).await {} },
        );
    Ok(Idle { _conn: conn, _send: send, reader })
}
