//! W10: many named groups chatting at once. Members are raw connections sharing a few client
//! endpoints (as in W5), so thousands fit in the bench process; each reads its deliveries in
//! order and counts them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use quicq_common::frame::{encode, read_frame};
use quicq_common::protocol::{Address, ClientFrame, ServerFrame};

use crate::raw;
use crate::server::{PASSWORD, ServerProcess};
use crate::stats::Samples;
use crate::workload::chat::wait_for_count;

pub struct GroupChat {
    /// Deliveries per second while every group's sender pipelines its messages.
    pub deliveries_per_sec: f64,
    /// p99 of (receipt − send) over every delivery of the paced phase, ms.
    pub paced_p99_ms: f64,
    /// Server CPU per delivery in the unpaced phase, µs.
    pub server_cpu_us_per_delivery: f64,
}

/// A signed-in member: its connection, and the tasks reading its streams.
struct Member {
    conn: quinn::Connection,
    _control: quinn::SendStream,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Member {
    fn drop(&mut self) {
        self.tasks.iter().for_each(tokio::task::JoinHandle::abort);
    }
}

/// What every member's reader adds to.
#[derive(Default)]
struct Tally {
    received: AtomicU64,
    latencies: std::sync::Mutex<Samples>,
}

/// `groups` groups of `members` each: first every group's creator sends `each` messages, 8 in
/// flight (deliveries/s), then `rate` messages per second in all for `seconds` (p99).
pub async fn chat(
    groups: usize,
    members: usize,
    each: usize,
    rate: u32,
    seconds: u32,
) -> anyhow::Result<GroupChat> {
    let users = groups * members;
    let server = ServerProcess::start(&["--max-connections", &(users + 100).to_string()])?;
    let mut transport = quinn::TransportConfig::default();
    transport
        .keep_alive_interval(Some(Duration::from_secs(3)))
        .max_idle_timeout(Some(Duration::from_secs(60).try_into()?))
        .max_concurrent_uni_streams(1024u32.into());
    let (addr, config) = raw::client_config(&server, Some(transport))?;
    let endpoints: Vec<quinn::Endpoint> = (0..8)
        .map(|_| raw::endpoint("127.0.0.1:0".parse()?, &config))
        .collect::<anyhow::Result<_>>()?;
    let tally = Arc::new(Tally::default());
    let epoch = Instant::now();

    let mut signed_in = Vec::with_capacity(users);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..users {
        if tasks.len() >= 64 {
            signed_in.push(tasks.join_next().await.expect("a task")??);
        }
        let (endpoint, tally) = (endpoints[i % endpoints.len()].clone(), tally.clone());
        tasks.spawn(async move {
            match sign_in(&endpoint, addr, i, tally.clone(), epoch).await {
                Ok(member) => Ok(member),
                Err(_) => sign_in(&endpoint, addr, i, tally, epoch).await,
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        signed_in.push(r??);
    }
    signed_in.sort_by_key(|(i, _)| *i);
    let members_by_index: Vec<Member> = signed_in.into_iter().map(|(_, m)| m).collect();

    // Group g is members g*members .. (g+1)*members, created by its first.
    for g in 0..groups {
        let names = (1..members).map(|k| name(g * members + k)).collect();
        let create = ClientFrame::GroupCreate { name: format!("group{g:03}"), members: names };
        match request(&members_by_index[g * members].conn, &create).await? {
            ServerFrame::GroupMembers { .. } => {}
            other => anyhow::bail!("creating group {g}: {other:?}"),
        }
    }
    // Each group's events: the creator gets `created` and every `added`; each other member the
    // `added` events from its own on.
    let events = groups * (members + members * (members - 1) / 2);
    wait_for_count(&tally.received, events as u64).await?;
    tally.received.store(0, Ordering::Relaxed);

    // Unpaced: every creator pipelines `each` messages to its group.
    let start = Instant::now();
    let cpu = crate::cpu::seconds(server.pid());
    let mut senders = tokio::task::JoinSet::new();
    for g in 0..groups {
        let conn = members_by_index[g * members].conn.clone();
        senders.spawn(pipeline(conn, g, each));
    }
    while let Some(r) = senders.join_next().await {
        r??;
    }
    let unpaced = (groups * each * members) as u64;
    wait_for_count(&tally.received, unpaced).await?;
    let elapsed = start.elapsed().as_secs_f64();
    let server_cpu = crate::cpu::seconds(server.pid()) - cpu;
    anyhow::ensure!(tally.received.load(Ordering::Relaxed) == unpaced, "extra deliveries");
    tally.received.store(0, Ordering::Relaxed);

    // Paced: `rate` per second in all, groups in turn, each message from the group's next member.
    let total = (rate * seconds) as usize;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..total {
        tick.tick().await;
        let g = i % groups;
        let sender = g * members + (i / groups) % members;
        let conn = members_by_index[sender].conn.clone();
        let text = format!("p{}", epoch.elapsed().as_micros());
        let frame = send_frame(g, format!("paced{i}"), text);
        sends.spawn(async move { request(&conn, &frame).await.map(|_| ()) });
    }
    while let Some(r) = sends.join_next().await {
        r??;
    }
    wait_for_count(&tally.received, (total * members) as u64).await?;
    let p99 = tally.latencies.lock().unwrap_or_else(|e| e.into_inner()).percentile_ms(99.0);
    drop(members_by_index);
    Ok(GroupChat {
        deliveries_per_sec: unpaced as f64 / elapsed,
        paced_p99_ms: p99,
        server_cpu_us_per_delivery: server_cpu * 1e6 / unpaced as f64,
    })
}

fn name(i: usize) -> String {
    format!("member{i:05}")
}

fn send_frame(group: usize, client_id: String, text: String) -> ClientFrame {
    ClientFrame::Send {
        client_id,
        to: Address::Group(format!("group{group:03}")),
        text,
        reply_to: None,
    }
}

async fn sign_in(
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
    i: usize,
    tally: Arc<Tally>,
    epoch: Instant,
) -> anyhow::Result<(usize, Member)> {
    let conn = endpoint.connect(addr, "127.0.0.1")?.await?;
    let (control, mut recv, answer) = raw::hello(&conn, &name(i), PASSWORD).await?;
    anyhow::ensure!(matches!(answer, Some(ServerFrame::Welcome { .. })), "sign-in {i}: {answer:?}");
    let presence =
        tokio::spawn(
            async move { while let Ok(Some(_)) = recv.read_chunk(usize::MAX, true).await {} },
        );
    let deliveries = conn.clone();
    // One stream after the other, in the order the server opened them.
    let reader = tokio::spawn(async move {
        while let Ok(mut stream) = deliveries.accept_uni().await {
            let Ok(Some(ServerFrame::Message(m))) = read_frame::<ServerFrame, _>(&mut stream).await
            else {
                continue;
            };
            if let Some(sent) = m.text.strip_prefix('p').and_then(|t| t.parse::<u64>().ok()) {
                let now = epoch.elapsed().as_micros() as u64;
                let latency = Duration::from_micros(now.saturating_sub(sent));
                tally.latencies.lock().unwrap_or_else(|e| e.into_inner()).push(latency);
            }
            tally.received.fetch_add(1, Ordering::Relaxed);
        }
    });
    Ok((i, Member { conn, _control: control, tasks: vec![presence, reader] }))
}

async fn request(conn: &quinn::Connection, frame: &ClientFrame) -> anyhow::Result<ServerFrame> {
    let (mut send, mut recv) = conn.open_bi().await?;
    send.write_all(&encode(frame)).await?;
    send.finish()?;
    read_frame::<ServerFrame, _>(&mut recv).await?.ok_or_else(|| anyhow::anyhow!("no answer"))
}

/// `each` messages to group `g`, 8 in flight.
async fn pipeline(conn: quinn::Connection, g: usize, each: usize) -> anyhow::Result<()> {
    let mut inflight = tokio::task::JoinSet::new();
    for i in 0..each {
        if inflight.len() >= 8
            && let Some(r) = inflight.join_next().await
        {
            r??;
        }
        let (conn, frame) = (conn.clone(), send_frame(g, format!("u{i}"), format!("u{i}")));
        inflight.spawn(async move {
            match request(&conn, &frame).await? {
                ServerFrame::Sent { .. } => Ok(()),
                other => Err(anyhow::anyhow!("send refused: {other:?}")),
            }
        });
    }
    while let Some(r) = inflight.join_next().await {
        r??;
    }
    Ok(())
}
