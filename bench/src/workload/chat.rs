//! Chat workloads: one-to-one latency (W1), group fan-out (W2) and durable store rate (W6).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use quicq_client::{Client, Event, Events};
use quicq_common::protocol::Address;

use crate::deployment::Deployment;
use crate::stats::Samples;

const WAIT: Duration = Duration::from_secs(60);

/// Waits for the next chat message on `events`, returning its text.
async fn next_text(events: &mut Events) -> anyhow::Result<String> {
    loop {
        match tokio::time::timeout(WAIT, events.recv()).await.context("no message within 60 s")? {
            Some(Event::Message(m)) => return Ok(m.text),
            Some(_) => {}
            None => anyhow::bail!("event stream ended"),
        }
    }
}

/// W1: `n` messages A→B one at a time; latency from `send` to B's receipt. Returns (p50, p99) ms.
/// A signs in to node 0 and B to node `b_node` (modulo the nodes).
pub async fn latency(
    deployment: &Deployment,
    n: usize,
    b_node: usize,
) -> anyhow::Result<(f64, f64)> {
    let (a, _a_events) = deployment.client(0, "a").await?;
    let (b, mut b_events) = deployment.client(b_node, "b").await?;
    let to = Address::User("b".into());
    // Warm up connections, caches and the database.
    for i in 0..50 {
        a.send(to.clone(), format!("warm {i}")).await?;
        next_text(&mut b_events).await?;
    }
    let mut samples = Samples::with_capacity(n);
    for i in 0..n {
        let text = format!("m{i}");
        let start = Instant::now();
        let sending = a.send(to.clone(), text.clone());
        let (sent, got) = tokio::join!(sending, next_text(&mut b_events));
        sent?;
        let got = got?;
        samples.push(start.elapsed());
        anyhow::ensure!(got == text, "expected {text}, got {got}");
    }
    a.close().await;
    b.close().await;
    Ok((samples.percentile_ms(50.0), samples.percentile_ms(99.0)))
}

/// Everyone online in `everyone`, counting what they receive.
struct Crowd<'a> {
    deployment: &'a Deployment,
    clients: Vec<Client>,
    received: Arc<AtomicU64>,
    latencies: Arc<std::sync::Mutex<Samples>>,
    /// Paced messages carry their send time in microseconds since this instant.
    epoch: Instant,
}

impl Crowd<'_> {
    /// Signs everyone out, so no client is left reconnecting to a server that has gone.
    async fn close(self) {
        for client in self.clients {
            client.close().await;
        }
    }
}

/// `users` clients, spread over the nodes in turn.
async fn crowd(deployment: &Deployment, users: usize) -> anyhow::Result<Crowd<'_>> {
    let received = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(std::sync::Mutex::new(Samples::default()));
    let epoch = Instant::now();
    let mut clients = Vec::with_capacity(users);
    for i in 0..users {
        let (client, mut events) = deployment.client(i, &format!("user{i:03}")).await?;
        let (received, latencies) = (received.clone(), latencies.clone());
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if let Event::Message(m) = event {
                    if let Some(sent) = m.text.strip_prefix('p').and_then(|t| t.parse::<u64>().ok())
                    {
                        let now = epoch.elapsed().as_micros() as u64;
                        let latency = Duration::from_micros(now.saturating_sub(sent));
                        latencies.lock().unwrap_or_else(|e| e.into_inner()).push(latency);
                    }
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        clients.push(client);
    }
    Ok(Crowd { deployment, clients, received, latencies, epoch })
}

/// Waits (at most 5 minutes) until `counter` reaches `target`.
pub async fn wait_for_count(counter: &AtomicU64, target: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    while counter.load(Ordering::Relaxed) < target {
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {} of {target} deliveries arrived",
            counter.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// Sends `count` messages to `to`, keeping 32 in flight (the server's default limit of open
/// requests), each on its own stream; texts are `prefix` plus a number.
async fn send_pipelined(
    client: Client,
    to: Address,
    count: usize,
    prefix: String,
) -> anyhow::Result<()> {
    let mut inflight = tokio::task::JoinSet::new();
    for i in 0..count {
        if inflight.len() >= 32
            && let Some(r) = inflight.join_next().await
        {
            r??;
        }
        let (c, to, text) = (client.clone(), to.clone(), format!("{prefix}{i}"));
        inflight.spawn(async move { c.send(to, text).await.map(|_| ()) });
    }
    while let Some(r) = inflight.join_next().await {
        r??;
    }
    Ok(())
}

/// Result of W2's unpaced phase.
pub struct FanOut {
    pub deliveries_per_sec: f64,
    /// The server's CPU µs per delivery.
    pub server_cpu_us: f64,
}

/// W2 unpaced: `senders` × `each` group messages as fast as they go to `users` online users.
/// Fails unless every delivery arrived.
pub async fn fan_out(
    deployment: &Deployment,
    users: usize,
    senders: usize,
    each: usize,
) -> anyhow::Result<FanOut> {
    let crowd = crowd(deployment, users).await?;
    let start = Instant::now();
    let cpu = crowd.deployment.cpu_seconds();
    let mut tasks = tokio::task::JoinSet::new();
    for s in 0..senders {
        let client = crowd.clients[s].clone();
        tasks.spawn(send_pipelined(client, Address::everyone(), each, format!("s{s}-")));
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let target = (senders * each * users) as u64;
    wait_for_count(&crowd.received, target).await?;
    let elapsed = start.elapsed().as_secs_f64();
    let server_cpu = crowd.deployment.cpu_seconds() - cpu;
    let got = crowd.received.load(Ordering::Relaxed);
    anyhow::ensure!(got == target, "{got} deliveries, expected exactly {target}");
    crowd.close().await;
    Ok(FanOut {
        deliveries_per_sec: target as f64 / elapsed,
        server_cpu_us: server_cpu * 1e6 / target as f64,
    })
}

/// Result of W2's paced phase.
pub struct Paced {
    pub p99_ms: f64,
    /// CPU µs per delivery: the server's, and the clients' (this process).
    pub server_cpu_us: f64,
    pub clients_cpu_us: f64,
}

/// W2 paced: `rate` group messages per second in total for `seconds`, spread over `senders`.
pub async fn fan_out_paced(
    deployment: &Deployment,
    users: usize,
    senders: usize,
    rate: u32,
    seconds: u32,
) -> anyhow::Result<Paced> {
    let crowd = crowd(deployment, users).await?;
    let cpu = (crowd.deployment.cpu_seconds(), crate::cpu::own_seconds());
    let total = (rate * seconds) as usize;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        tick.tick().await;
        let client = crowd.clients[i % senders].clone();
        let text = format!("p{}", crowd.epoch.elapsed().as_micros());
        tasks.spawn(async move { client.send(Address::everyone(), text).await.map(|_| ()) });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let deliveries = (total * users) as u64;
    wait_for_count(&crowd.received, deliveries).await?;
    let server_cpu = crowd.deployment.cpu_seconds() - cpu.0;
    let clients_cpu = crate::cpu::own_seconds() - cpu.1;
    let p99 = crowd.latencies.lock().unwrap_or_else(|e| e.into_inner()).percentile_ms(99.0);
    crowd.close().await;
    Ok(Paced {
        p99_ms: p99,
        server_cpu_us: server_cpu * 1e6 / deliveries as f64,
        clients_cpu_us: clients_cpu * 1e6 / deliveries as f64,
    })
}

/// Result of W6.
pub struct StoreRate {
    /// Messages stored (acknowledged) per second.
    pub per_sec: f64,
    /// CPU microseconds per message: the server's, and the clients' (this process).
    pub server_cpu_us: f64,
    pub clients_cpu_us: f64,
}

/// W6: durable stores per second: `connections` clients each pipelining sends to an offline
/// user until `total` messages are stored (acknowledged).
pub async fn store_rate(
    deployment: &Deployment,
    connections: usize,
    total: usize,
) -> anyhow::Result<StoreRate> {
    // The recipient exists but is offline: the work is the store, not delivery.
    let (sink, _) = deployment.client(0, "sink").await?;
    sink.close().await;
    let mut clients = Vec::new();
    for i in 0..connections {
        clients.push(deployment.client(i, &format!("writer{i}")).await?.0);
    }
    let per = total / connections;
    let start = Instant::now();
    let cpu = (deployment.cpu_seconds(), crate::cpu::own_seconds());
    let mut tasks = tokio::task::JoinSet::new();
    let writers = clients.clone();
    for (w, client) in clients.into_iter().enumerate() {
        tasks.spawn(send_pipelined(client, Address::User("sink".into()), per, format!("w{w}-")));
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let stored = (per * connections) as f64;
    let per_sec = stored / start.elapsed().as_secs_f64();
    let server_cpu = deployment.cpu_seconds() - cpu.0;
    let clients_cpu = crate::cpu::own_seconds() - cpu.1;
    for client in writers {
        client.close().await;
    }
    Ok(StoreRate {
        per_sec,
        server_cpu_us: server_cpu * 1e6 / stored,
        clients_cpu_us: clients_cpu * 1e6 / stored,
    })
}
