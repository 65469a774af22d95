//! The UDP relay: a [`Proxy`] runs on its own OS thread with a current-thread tokio runtime, so
//! it serves synchronous tests, async tests and the benchmark alike without sharing (or
//! blocking) the caller's runtime. Each client source address gets its own upstream socket and
//! its own pair of [`Link`]s, so the server sees distinct clients and a client that rebinds
//! appears to move, as behind a NAT.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::config::PathConfig;
use crate::link::{Link, Verdict};
use crate::stats::PathStats;

/// A client that sends and receives nothing for this long is forgotten; its next packet comes
/// from a new upstream port, as after a NAT binding expires.
pub const FLOW_IDLE: Duration = Duration::from_secs(60);

/// Larger than any UDP payload, so oversized datagrams arrive whole and meet the MTU rule
/// instead of being truncated.
const DATAGRAM_BUFFER: usize = 65_536;

/// Server datagrams read but not yet through their link. When full, the readers wait and the
/// kernel's socket buffers take the excess, as they do for the client side.
const SERVER_BACKLOG: usize = 1024;

/// Datagrams taken from one socket per wake before the timers get a turn.
const BATCH: usize = 64;

/// The proxy thread has ended (it panicked or its socket failed); see the log.
#[derive(Debug, thiserror::Error)]
#[error("the impairment proxy has stopped")]
pub struct Stopped;

/// A running relay. Dropping it stops the relay and waits for its thread.
#[derive(Debug)]
pub struct Proxy {
    local: SocketAddr,
    control: mpsc::UnboundedSender<Command>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
enum Command {
    SetPath(Box<PathConfig>, std_mpsc::SyncSender<()>),
    Blackhole { up: bool, down: bool, done: std_mpsc::SyncSender<()> },
    Stats(std_mpsc::SyncSender<PathStats>),
    Shutdown,
}

impl Proxy {
    /// Relays between `127.0.0.1:0` and `upstream`.
    pub fn start(upstream: SocketAddr, path: PathConfig) -> io::Result<Proxy> {
        Self::bind((Ipv4Addr::LOCALHOST, 0).into(), upstream, path)
    }

    /// Relays between `listen` and `upstream`.
    pub fn bind(listen: SocketAddr, upstream: SocketAddr, path: PathConfig) -> io::Result<Proxy> {
        path.validate().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let socket = quicq_common::socket::bind(listen)?;
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        let (control, commands) = mpsc::unbounded_channel();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let thread = std::thread::Builder::new().name("quicq-impair".into()).spawn(move || {
            runtime.block_on(async move {
                let relay = match UdpSocket::from_std(socket) {
                    Ok(listen) => Relay::new(Arc::new(listen), upstream, path),
                    Err(e) => return tracing::error!(cause = %e, "impairment proxy socket"),
                };
                if let Err(e) = relay.run(commands).await {
                    tracing::error!(cause = %e, "impairment proxy stopped");
                }
            })
        })?;
        Ok(Proxy { local, control, thread: Some(thread) })
    }

    /// Where clients should send: the proxy's listening address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Replaces both directions' settings for every client, from the next packet on; returns
    /// once the relay applies them. The seed only affects clients seen after this call.
    pub fn set_path(&self, path: PathConfig) -> Result<(), SetPathError> {
        path.validate()?;
        Ok(self.ask(|done| Command::SetPath(Box::new(path), done))?)
    }

    /// Drops everything in a direction while `true` (an outage); returns once in effect.
    pub fn blackhole(&self, up: bool, down: bool) -> Result<(), Stopped> {
        self.ask(|done| Command::Blackhole { up, down, done })
    }

    pub fn stats(&self) -> Result<PathStats, Stopped> {
        self.ask(Command::Stats)
    }

    fn ask<T>(
        &self,
        command: impl FnOnce(std_mpsc::SyncSender<T>) -> Command,
    ) -> Result<T, Stopped> {
        let (reply, answer) = std_mpsc::sync_channel(1);
        self.control.send(command(reply)).map_err(|_| Stopped)?;
        answer.recv().map_err(|_| Stopped)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.control.send(Command::Shutdown);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Why [`Proxy::set_path`] did not apply.
#[derive(Debug, thiserror::Error)]
pub enum SetPathError {
    #[error("invalid path: {0}")]
    Invalid(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Stopped(#[from] Stopped),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Direction {
    Up,
    Down,
}

/// A packet waiting for its delivery time. Ordered by (time, arrival sequence), so packets due
/// at the same instant leave in the order they came.
#[derive(Debug)]
struct Pending {
    at: Instant,
    seq: u64,
    flow: u64,
    direction: Direction,
    data: Vec<u8>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// One client's path.
struct Flow {
    client: SocketAddr,
    upstream: Arc<UdpSocket>,
    up: Link,
    down: Link,
    last_seen: Instant,
    receiver: AbortHandle,
}

struct Relay {
    listen: Arc<UdpSocket>,
    upstream: SocketAddr,
    path: PathConfig,
    blackhole: (bool, bool),
    flows: HashMap<u64, Flow>,
    by_client: HashMap<SocketAddr, u64>,
    next_flow: u64,
    pending: BinaryHeap<Reverse<Pending>>,
    seq: u64,
    /// Counters of forgotten flows.
    retired: PathStats,
    server_tx: mpsc::Sender<(u64, Vec<u8>)>,
    server_rx: Option<mpsc::Receiver<(u64, Vec<u8>)>>,
}

impl Relay {
    fn new(listen: Arc<UdpSocket>, upstream: SocketAddr, path: PathConfig) -> Self {
        let (server_tx, server_rx) = mpsc::channel(SERVER_BACKLOG);
        Self {
            listen,
            upstream,
            path,
            blackhole: (false, false),
            flows: HashMap::new(),
            by_client: HashMap::new(),
            next_flow: 0,
            pending: BinaryHeap::new(),
            seq: 0,
            retired: PathStats::default(),
            server_tx,
            server_rx: Some(server_rx),
        }
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) -> io::Result<()> {
        let listen = self.listen.clone();
        let Some(mut from_server) = self.server_rx.take() else { return Ok(()) };
        let mut buf = vec![0u8; DATAGRAM_BUFFER];
        let mut sweep = tokio::time::interval(FLOW_IDLE / 12);
        loop {
            let next = self.pending.peek().map(|p| p.0.at);
            let wake = tokio::time::Instant::from_std(
                next.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600)),
            );
            // Unbiased: under a flood from clients the server's packets (a transfer's ACKs)
            // must still get their turn.
            tokio::select! {
                command = commands.recv() => match command {
                    None | Some(Command::Shutdown) => return Ok(()),
                    Some(command) => self.command(command),
                },
                received = listen.recv_from(&mut buf) => {
                    if let Some((n, from)) = tolerate(received)? {
                        self.on_client_packet(from, &buf[..n]);
                    }
                    for _ in 1..BATCH {
                        match tolerate(listen.try_recv_from(&mut buf)) {
                            Ok(Some((n, from))) => self.on_client_packet(from, &buf[..n]),
                            Ok(None) => {}
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(e) => return Err(e),
                        }
                    }
                }
                Some((flow, data)) = from_server.recv() => {
                    self.on_server_packet(flow, data);
                    for _ in 1..BATCH {
                        let Ok((flow, data)) = from_server.try_recv() else { break };
                        self.on_server_packet(flow, data);
                    }
                }
                () = tokio::time::sleep_until(wake), if next.is_some() => {}
                _ = sweep.tick() => self.forget_idle(Instant::now()),
            }
            self.send_due().await;
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::SetPath(path, done) => {
                for flow in self.flows.values_mut() {
                    flow.up.set_impairment(path.up.clone());
                    flow.down.set_impairment(path.down.clone());
                }
                self.path = *path;
                let _ = done.send(());
            }
            Command::Blackhole { up, down, done } => {
                self.blackhole = (up, down);
                for flow in self.flows.values_mut() {
                    flow.up.set_blackhole(up);
                    flow.down.set_blackhole(down);
                }
                let _ = done.send(());
            }
            Command::Stats(reply) => {
                let mut stats = self.retired;
                for flow in self.flows.values() {
                    stats.up += flow.up.stats();
                    stats.down += flow.down.stats();
                }
                let _ = reply.send(stats);
            }
            Command::Shutdown => {}
        }
    }

    fn on_client_packet(&mut self, from: SocketAddr, data: &[u8]) {
        let id = match self.by_client.get(&from) {
            Some(&id) => id,
            None => match self.open_flow(from) {
                Ok(id) => id,
                // Out of ports or descriptors: this client's packet is lost, the others go on.
                Err(e) => {
                    tracing::warn!(cause = %e, client = %from, "impairment proxy cannot open a flow");
                    return;
                }
            },
        };
        let now = Instant::now();
        let Some(flow) = self.flows.get_mut(&id) else { return };
        flow.last_seen = now;
        let verdict = flow.up.admit(now, data.len());
        self.schedule(verdict, id, Direction::Up, data.to_vec());
    }

    fn on_server_packet(&mut self, id: u64, data: Vec<u8>) {
        let now = Instant::now();
        let Some(flow) = self.flows.get_mut(&id) else { return };
        flow.last_seen = now;
        let verdict = flow.down.admit(now, data.len());
        self.schedule(verdict, id, Direction::Down, data);
    }

    fn schedule(&mut self, verdict: Verdict, flow: u64, direction: Direction, data: Vec<u8>) {
        let Verdict::Deliver { at, duplicate } = verdict else { return };
        if let Some(copy_at) = duplicate {
            self.seq += 1;
            let copy = data.clone();
            self.pending.push(Reverse(Pending {
                at: copy_at,
                seq: self.seq,
                flow,
                direction,
                data: copy,
            }));
        }
        self.seq += 1;
        self.pending.push(Reverse(Pending { at, seq: self.seq, flow, direction, data }));
    }

    /// A new client: its own upstream socket, a task that reads the server's answers from it,
    /// and links seeded from the path seed and the flow's ordinal.
    fn open_flow(&mut self, client: SocketAddr) -> io::Result<u64> {
        let id = self.next_flow;
        self.next_flow += 1;
        let local: SocketAddr = match self.upstream {
            SocketAddr::V4(a) if a.ip().is_loopback() => (Ipv4Addr::LOCALHOST, 0).into(),
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(a) if a.ip().is_loopback() => (Ipv6Addr::LOCALHOST, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = quicq_common::socket::bind(local)?;
        socket.set_nonblocking(true)?;
        let socket = Arc::new(UdpSocket::from_std(socket)?);
        let receiver =
            tokio::spawn(read_server(socket.clone(), self.upstream, id, self.server_tx.clone()))
                .abort_handle();
        let mut up = Link::new(self.path.up.clone(), flow_seed(self.path.seed, id, Direction::Up));
        let mut down =
            Link::new(self.path.down.clone(), flow_seed(self.path.seed, id, Direction::Down));
        up.set_blackhole(self.blackhole.0);
        down.set_blackhole(self.blackhole.1);
        tracing::debug!(%client, upstream = ?socket.local_addr().ok(), "new flow");
        self.flows.insert(
            id,
            Flow { client, upstream: socket, up, down, last_seen: Instant::now(), receiver },
        );
        self.by_client.insert(client, id);
        self.retired.flows += 1;
        Ok(id)
    }

    fn forget_idle(&mut self, now: Instant) {
        let idle: Vec<u64> = self
            .flows
            .iter()
            .filter(|(_, f)| now.duration_since(f.last_seen) > FLOW_IDLE)
            .map(|(id, _)| *id)
            .collect();
        for id in idle {
            if let Some(flow) = self.flows.remove(&id) {
                flow.receiver.abort();
                self.by_client.remove(&flow.client);
                self.retired.up += flow.up.stats();
                self.retired.down += flow.down.stats();
            }
        }
    }

    async fn send_due(&mut self) {
        let now = Instant::now();
        while self.pending.peek().is_some_and(|p| p.0.at <= now) {
            let Some(Reverse(p)) = self.pending.pop() else { break };
            let Some(flow) = self.flows.get(&p.flow) else { continue };
            let sent = match p.direction {
                Direction::Up => flow.upstream.send_to(&p.data, self.upstream).await,
                Direction::Down => self.listen.send_to(&p.data, flow.client).await,
            };
            if let Err(e) = sent {
                tracing::debug!(cause = %e, direction = ?p.direction, "impairment proxy send failed");
            }
        }
    }
}

/// Forwards what the server sends to this flow's socket; anything from elsewhere is ignored.
async fn read_server(
    socket: Arc<UdpSocket>,
    upstream: SocketAddr,
    id: u64,
    relay: mpsc::Sender<(u64, Vec<u8>)>,
) {
    let mut buf = vec![0u8; DATAGRAM_BUFFER];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, from)) if from == upstream => {
                if relay.send((id, buf[..n].to_vec())).await.is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) if transient(&e) => {}
            Err(e) => return tracing::warn!(cause = %e, "impairment proxy upstream socket"),
        }
    }
}

/// Errors a UDP socket reports for an earlier datagram (an ICMP unreachable), not for itself.
fn transient(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset)
}

/// `Ok(None)` for a [`transient`] error.
fn tolerate<T>(r: io::Result<T>) -> io::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if transient(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A link's random stream from the path seed, the flow's ordinal (order of first packet) and
/// the direction, mixed with SplitMix64 so neighbouring flows get unrelated streams.
fn flow_seed(seed: u64, flow: u64, direction: Direction) -> u64 {
    let mut z =
        seed ^ (flow.wrapping_mul(2) + direction as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_link_gets_its_own_stream() {
        let seeds = [
            flow_seed(1, 0, Direction::Up),
            flow_seed(1, 0, Direction::Down),
            flow_seed(1, 1, Direction::Up),
            flow_seed(2, 0, Direction::Up),
        ];
        for (i, a) in seeds.iter().enumerate() {
            for b in &seeds[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(flow_seed(1, 1, Direction::Down), flow_seed(1, 1, Direction::Down));
    }

    #[test]
    fn pending_packets_leave_by_time_then_arrival() {
        let t = Instant::now();
        let p = |ms: u64, seq| {
            Reverse(Pending {
                at: t + Duration::from_millis(ms),
                seq,
                flow: 0,
                direction: Direction::Up,
                data: vec![],
            })
        };
        let mut heap: BinaryHeap<_> = [p(5, 1), p(1, 3), p(1, 2), p(0, 4)].into_iter().collect();
        let order: Vec<u64> = std::iter::from_fn(|| heap.pop().map(|r| r.0.seq)).collect();
        assert_eq!(order, [4, 2, 3, 1]);
    }
}
