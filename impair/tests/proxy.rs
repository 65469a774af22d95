//! The proxy over real loopback UDP, in front of an echo server that answers every datagram
//! with the address it came from followed by the datagram.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use quicq_impair::{Impairment, Loss, PathConfig, PathStats, Proxy};

/// How long a test waits for an answer it expects; generous, the machine is shared.
const PATIENCE: Duration = Duration::from_secs(5);
/// How long a test listens for an answer it expects not to come.
const SILENCE: Duration = Duration::from_millis(300);

/// An echo server on its own thread, which ends when the test process does.
fn echo_server() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind echo");
    let addr = socket.local_addr().expect("echo addr");
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let mut answer = from.to_string().into_bytes();
            answer.push(b' ');
            answer.extend_from_slice(&buf[..n]);
            let _ = socket.send_to(&answer, from);
        }
    });
    addr
}

fn client(proxy: &Proxy) -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind client");
    socket.connect(proxy.local_addr()).expect("connect");
    socket
}

/// The echo's answer as (the address the server saw, the payload), or `None` on timeout.
fn exchange(socket: &UdpSocket, payload: &[u8], wait: Duration) -> Option<(String, Vec<u8>)> {
    socket.set_read_timeout(Some(wait)).expect("timeout");
    socket.send(payload).expect("send");
    let mut buf = vec![0u8; 65_536];
    let n = socket.recv(&mut buf).ok()?;
    let space = buf[..n].iter().position(|b| *b == b' ')?;
    Some((String::from_utf8_lossy(&buf[..space]).into_owned(), buf[space + 1..n].to_vec()))
}

/// Waits until the proxy's counters satisfy `check`; the proxy counts on its own thread.
fn eventually(proxy: &Proxy, check: impl Fn(&PathStats) -> bool) {
    let start = Instant::now();
    loop {
        let stats = proxy.stats().expect("stats");
        if check(&stats) {
            return;
        }
        assert!(start.elapsed() < PATIENCE, "counters never got there: {stats:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn answer_takes_at_least_the_round_trip_delay() {
    let delay = Duration::from_millis(40);
    let path = Impairment { delay, ..Impairment::default() };
    let proxy = Proxy::start(echo_server(), PathConfig::symmetric(path, 1)).expect("proxy");
    let socket = client(&proxy);
    let start = Instant::now();
    let (_, payload) = exchange(&socket, b"ping", PATIENCE).expect("an answer");
    assert!(start.elapsed() >= 2 * delay, "{:?}", start.elapsed());
    assert_eq!(payload, b"ping");
    let stats = proxy.stats().expect("stats");
    assert_eq!((stats.up.forwarded_packets, stats.down.forwarded_packets, stats.flows), (1, 1, 1));
}

#[test]
fn total_loss_lets_nothing_through() {
    let path = Impairment { loss: Loss::Random(1.0), ..Impairment::default() };
    let proxy = Proxy::start(echo_server(), PathConfig::symmetric(path, 1)).expect("proxy");
    let socket = client(&proxy);
    for _ in 0..3 {
        assert_eq!(exchange(&socket, b"ping", SILENCE), None);
    }
    eventually(&proxy, |s| s.up.dropped_loss == 3);
}

#[test]
fn blackhole_then_restore() {
    let proxy = Proxy::start(echo_server(), PathConfig::default()).expect("proxy");
    let socket = client(&proxy);
    assert!(exchange(&socket, b"before", PATIENCE).is_some());

    proxy.blackhole(false, true).expect("blackhole down");
    assert_eq!(exchange(&socket, b"during", SILENCE), None);
    eventually(&proxy, |s| (s.up.forwarded_packets, s.down.dropped_blackhole) == (2, 1));

    proxy.blackhole(false, false).expect("restore");
    let (_, payload) = exchange(&socket, b"after", PATIENCE).expect("an answer after the outage");
    assert_eq!(payload, b"after");
}

#[test]
fn oversized_datagrams_are_dropped_at_the_mtu() {
    let proxy = Proxy::start(echo_server(), PathConfig::default()).expect("proxy");
    let socket = client(&proxy);
    // Room for the echo's address prefix on the way back.
    assert!(exchange(&socket, &[7; 1400], PATIENCE).is_some());
    assert_eq!(exchange(&socket, &[7; 1473], SILENCE), None);
    eventually(&proxy, |s| s.up.dropped_mtu == 1);
}

#[test]
fn each_client_socket_gets_its_own_upstream_address() {
    let proxy = Proxy::start(echo_server(), PathConfig::default()).expect("proxy");
    let (a, b) = (client(&proxy), client(&proxy));
    let (seen_a, _) = exchange(&a, b"a", PATIENCE).expect("answer to a");
    let (seen_b, _) = exchange(&b, b"b", PATIENCE).expect("answer to b");
    let (again_a, _) = exchange(&a, b"a", PATIENCE).expect("second answer to a");
    assert_ne!(seen_a, seen_b);
    assert_eq!(seen_a, again_a, "a client keeps its upstream address");
    assert_ne!(seen_a, proxy.local_addr().to_string());
    assert_eq!(proxy.stats().expect("stats").flows, 2);
}

#[test]
fn set_path_applies_to_a_running_flow() {
    let proxy = Proxy::start(echo_server(), PathConfig::default()).expect("proxy");
    let socket = client(&proxy);
    assert!(exchange(&socket, b"open", PATIENCE).is_some());
    let lossy = Impairment { loss: Loss::Random(1.0), ..Impairment::default() };
    proxy.set_path(PathConfig::symmetric(lossy, 1)).expect("set path");
    assert_eq!(exchange(&socket, b"lost", SILENCE), None);
    proxy.set_path(PathConfig::default()).expect("set path back");
    assert!(exchange(&socket, b"back", PATIENCE).is_some());
}

#[test]
fn invalid_settings_are_refused() {
    let bad = Impairment { duplicate: 2.0, ..Impairment::default() };
    let err =
        Proxy::start(echo_server(), PathConfig::symmetric(bad.clone(), 1)).expect_err("invalid");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let proxy = Proxy::start(echo_server(), PathConfig::default()).expect("proxy");
    assert!(proxy.set_path(PathConfig::symmetric(bad, 1)).is_err());
}

#[test]
fn duplicates_arrive_twice() {
    let path = PathConfig {
        up: Impairment { duplicate: 1.0, ..Impairment::default() },
        ..PathConfig::default()
    };
    let proxy = Proxy::start(echo_server(), path).expect("proxy");
    let socket = client(&proxy);
    assert!(exchange(&socket, b"twice", PATIENCE).is_some());
    socket.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let mut buf = [0u8; 256];
    assert!(socket.recv(&mut buf).is_ok(), "the echo of the copy");
    let stats = proxy.stats().expect("stats");
    assert_eq!((stats.up.duplicated, stats.down.forwarded_packets), (1, 2));
}

/// The sequence numbers a sink behind a proxy with `seed` receives out of 300 sent at 30 %
/// loss, jitter and duplication.
fn survivors(seed: u64) -> Vec<u16> {
    let sink = UdpSocket::bind("127.0.0.1:0").expect("bind sink");
    let path = PathConfig {
        up: Impairment {
            loss: Loss::Random(0.3),
            duplicate: 0.1,
            jitter: Duration::from_millis(3),
            ..Impairment::default()
        },
        down: Impairment::default(),
        seed,
    };
    let proxy = Proxy::start(sink.local_addr().expect("sink addr"), path).expect("proxy");
    let socket = client(&proxy);
    for i in 0..300u16 {
        socket.send(&i.to_be_bytes()).expect("send");
    }
    eventually(&proxy, |s| s.up.forwarded_packets + s.up.dropped() - s.up.duplicated == 300);
    let expected = proxy.stats().expect("stats").up.forwarded_packets;
    sink.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let mut got: Vec<u16> = (0..expected)
        .map(|_| {
            let mut buf = [0u8; 2];
            sink.recv(&mut buf).expect("a forwarded packet");
            u16::from_be_bytes(buf)
        })
        .collect();
    // Jitter reorders; what is replayed is which packets get through and how often.
    got.sort_unstable();
    got
}

#[test]
fn the_same_seed_replays_the_same_losses_and_duplicates() {
    let first = survivors(11);
    assert!(first.len() > 150 && first.len() < 260, "{}", first.len());
    assert_eq!(survivors(11), first);
    assert_ne!(survivors(12), first);
}
