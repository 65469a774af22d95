//! W8: a login storm. Wrong-password sign-ins pour in from many loopback addresses
//! (127.0.0.2, 127.0.0.3, …) while a real user signs in again and again from 127.0.0.1: how
//! long the real user waits, against the same sign-ins without the storm, and how the storm
//! was answered (checked, i.e. hashed, or throttled before hashing).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use quicq_common::protocol::{ErrorCode, ServerFrame};

use crate::raw;
use crate::server::{PASSWORD, ServerProcess};
use crate::stats::Samples;

pub struct Storm {
    pub baseline_p50_ms: f64,
    pub baseline_p99_ms: f64,
    pub storm_p50_ms: f64,
    pub storm_p99_ms: f64,
    /// Storm sign-ins answered per second.
    pub storm_answers_per_s: f64,
    /// Share of the storm answered `rate_limited` (refused before any hashing).
    pub storm_throttled_share: f64,
}

/// `addresses` attackers, each with `parallel` sign-ins in flight, during `logins` real ones.
pub async fn storm(addresses: usize, parallel: usize, logins: usize) -> anyhow::Result<Storm> {
    let server = ServerProcess::start(&[])?;
    let (addr, config) = raw::client_config(&server, None)?;
    let endpoint_at = |ip: Ipv4Addr| raw::endpoint(SocketAddr::new(IpAddr::V4(ip), 0), &config);
    let real = endpoint_at(Ipv4Addr::LOCALHOST)?;
    // Accounts: the real user, and the victim the storm guesses at.
    for nick in ["real", "victim"] {
        let (_, answer) = sign_in(&real, addr, nick, PASSWORD).await?;
        anyhow::ensure!(answer.is_none(), "cannot register {nick}: {answer:?}");
    }
    let mut baseline = real_logins(&real, addr, logins).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let (answered, throttled) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut flood = tokio::task::JoinSet::new();
    for a in 0..addresses {
        let ip = Ipv4Addr::new(127, 0, 1 + (a / 250) as u8, 2 + (a % 250) as u8);
        let endpoint = endpoint_at(ip)?;
        for _ in 0..parallel {
            let (endpoint, stop) = (endpoint.clone(), stop.clone());
            let (answered, throttled) = (answered.clone(), throttled.clone());
            flood.spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((_, code)) =
                        sign_in(&endpoint, addr, "victim", "not the password").await
                    {
                        answered.fetch_add(1, Ordering::Relaxed);
                        if code == Some(ErrorCode::RateLimited) {
                            throttled.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    }
    // Let the storm build up before measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let before = answered.load(Ordering::Relaxed);
    let mut during = real_logins(&real, addr, logins).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let storm_answers = answered.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    while flood.join_next().await.is_some() {}
    let total = answered.load(Ordering::Relaxed).max(1);
    Ok(Storm {
        baseline_p50_ms: baseline.percentile_ms(50.0),
        baseline_p99_ms: baseline.percentile_ms(99.0),
        storm_p50_ms: during.percentile_ms(50.0),
        storm_p99_ms: during.percentile_ms(99.0),
        storm_answers_per_s: storm_answers as f64 / elapsed,
        storm_throttled_share: throttled.load(Ordering::Relaxed) as f64 / total as f64,
    })
}

/// `n` sign-ins of the real user one after another.
async fn real_logins(
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
    n: usize,
) -> anyhow::Result<Samples> {
    let mut times = Samples::with_capacity(n);
    for _ in 0..n {
        let (took, answer) = sign_in(endpoint, addr, "real", PASSWORD).await?;
        anyhow::ensure!(answer.is_none(), "the real user was refused: {answer:?}");
        times.push(took);
    }
    Ok(times)
}

/// One `hello` on a new connection: how long until the answer, and its error code if refused.
async fn sign_in(
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
    nickname: &str,
    password: &str,
) -> anyhow::Result<(Duration, Option<ErrorCode>)> {
    let start = Instant::now();
    let conn = endpoint.connect(addr, "127.0.0.1")?.await?;
    let (_, _, answer) = raw::hello(&conn, nickname, password).await?;
    let took = start.elapsed();
    conn.close(0u32.into(), b"");
    match answer {
        Some(ServerFrame::Welcome { .. }) => Ok((took, None)),
        Some(ServerFrame::Error { code, .. }) => Ok((took, Some(code))),
        other => anyhow::bail!("unexpected answer {other:?}"),
    }
}
