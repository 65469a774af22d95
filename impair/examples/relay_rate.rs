//! How many 1452-byte datagrams per second one [`Proxy`] relays with no impairment: senders
//! blast as fast as they can for a few seconds and the far side counts what arrives. Run with
//! `cargo run --release -p quicq-impair --example relay_rate [seconds] [delay_ms] [up|down|both]
//! [rate]`; a delay puts every packet through the timer heap, `both` floods both directions
//! at once, a rate (`1gbit`) adds a bottleneck with a round-trip queue.
//! QuicQ pushes up to 1 Gbit/s, about 86k such packets/s.

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use quicq_impair::{Impairment, PathConfig, Proxy};

const PAYLOAD: usize = 1452;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let delay_ms: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(0);
    let mode = args.next().unwrap_or_else(|| "up".into());
    let (up, down) = match mode.as_str() {
        "up" => (true, false),
        "down" => (false, true),
        "both" => (true, true),
        other => anyhow::bail!("unknown direction {other:?}: up, down or both"),
    };

    let server = quicq_common::socket::bind("127.0.0.1:0".parse()?)?;
    let client = quicq_common::socket::bind("127.0.0.1:0".parse()?)?;
    let rate_bps = args.next().map(|s| quicq_impair::parse::rate(&s)).transpose()?;
    let delay = Duration::from_millis(delay_ms);
    let delayed = match rate_bps {
        Some(rate) => Impairment::internet(delay, 0.0, rate),
        None => Impairment { delay, ..Impairment::default() },
    };
    let proxy = Proxy::start(server.local_addr()?, PathConfig::symmetric(delayed, 1))?;
    client.connect(proxy.local_addr())?;
    // Open the flow and learn the proxy's upstream address for this client.
    client.send(b"hello")?;
    let mut buf = [0u8; 2048];
    let (_, upstream) = server.recv_from(&mut buf)?;
    server.connect(upstream)?;

    let (server, client) = (Arc::new(server), Arc::new(client));
    let stop = Arc::new(AtomicBool::new(false));
    let (up_count, down_count) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut threads = vec![
        count(server.clone(), up_count.clone(), stop.clone())?,
        count(client.clone(), down_count.clone(), stop.clone())?,
    ];
    let start = Instant::now();
    let sent_up = Arc::new(AtomicU64::new(0));
    let sent_down = Arc::new(AtomicU64::new(0));
    if up {
        threads.push(blast(client, sent_up.clone(), stop.clone()));
    }
    if down {
        threads.push(blast(server, sent_down.clone(), stop.clone()));
    }
    std::thread::sleep(Duration::from_secs(seconds));
    let elapsed = start.elapsed().as_secs_f64();
    let (got_up, got_down) = (up_count.load(Ordering::Relaxed), down_count.load(Ordering::Relaxed));
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        let _ = thread.join();
    }
    let rate = |n: u64| n as f64 / elapsed;
    for (name, on, sent, got) in
        [("up", up, &sent_up, got_up), ("down", down, &sent_down, got_down)]
    {
        if on {
            println!(
                "{name}: sent {:.0} packets/s, relayed {:.0} packets/s ({:.0} Mbit/s of payload), \
                 delay {delay_ms} ms, {elapsed:.1} s",
                rate(sent.load(Ordering::Relaxed)),
                rate(got),
                rate(got) * PAYLOAD as f64 * 8.0 / 1e6,
            );
        }
    }
    println!("proxy counters: {:?}", proxy.stats()?);
    Ok(())
}

fn count(
    socket: Arc<UdpSocket>,
    received: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    socket.set_read_timeout(Some(Duration::from_millis(200)))?;
    Ok(std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            if socket.recv(&mut buf).is_ok() {
                received.fetch_add(1, Ordering::Relaxed);
            }
        }
    }))
}

fn blast(socket: Arc<UdpSocket>, sent: Arc<AtomicU64>, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let packet = [0x5a; PAYLOAD];
        while !stop.load(Ordering::Relaxed) {
            for _ in 0..64 {
                if socket.send(&packet).is_ok() {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    })
}
