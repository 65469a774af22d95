//! Runs an impairment proxy by hand: point a client at the printed address instead of the
//! server. Ctrl-C prints what the path did and stops.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use quicq_impair::config::{INTERNET_MTU, round_trip_queue};
use quicq_impair::{Impairment, Loss, PathConfig, Proxy, parse};

/// A UDP relay that emulates an internet path (delay, jitter, loss, reordering, duplication,
/// a bandwidth cap). Settings apply to both directions unless an --up-*/--down-* flag overrides
/// them; "up" is client → server.
#[derive(Debug, Parser)]
#[command(name = "quicq-impair", version)]
struct Args {
    /// The server to relay to.
    #[arg(long)]
    upstream: SocketAddr,
    /// Where clients send.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// One-way delay, e.g. 25ms.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    delay: Duration,
    /// Extra delay drawn per packet from 0..=jitter.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    jitter: Duration,
    /// Random loss, e.g. 1% or 0.01.
    #[arg(long, value_parser = parse::probability, conflicts_with = "ge")]
    loss: Option<f64>,
    /// Bursty Gilbert-Elliott loss: p,r,loss_in_bad,loss_in_good (netem gemodel order).
    #[arg(long, value_parser = parse::gilbert_elliott)]
    ge: Option<Loss>,
    /// Bandwidth cap, e.g. 100mbit.
    #[arg(long, value_parser = parse::rate)]
    rate: Option<u64>,
    /// Bottleneck queue in bytes [default: one round-trip bandwidth-delay product, ≥ 64 KiB].
    #[arg(long)]
    queue: Option<usize>,
    /// Duplication probability.
    #[arg(long, value_parser = parse::probability, default_value = "0")]
    dup: f64,
    /// Probability that a packet skips the delay (and overtakes others).
    #[arg(long, value_parser = parse::probability, default_value = "0")]
    reorder: f64,
    /// Largest UDP payload carried.
    #[arg(long, default_value_t = INTERNET_MTU)]
    mtu: usize,
    /// Seed of every random decision; the same seed replays the same run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Client → server delay instead of --delay.
    #[arg(long, value_parser = humantime::parse_duration)]
    up_delay: Option<Duration>,
    /// Server → client delay instead of --delay.
    #[arg(long, value_parser = humantime::parse_duration)]
    down_delay: Option<Duration>,
    /// Client → server random loss instead of --loss/--ge.
    #[arg(long, value_parser = parse::probability)]
    up_loss: Option<f64>,
    /// Server → client random loss instead of --loss/--ge.
    #[arg(long, value_parser = parse::probability)]
    down_loss: Option<f64>,
    /// Client → server cap instead of --rate.
    #[arg(long, value_parser = parse::rate)]
    up_rate: Option<u64>,
    /// Server → client cap instead of --rate.
    #[arg(long, value_parser = parse::rate)]
    down_rate: Option<u64>,
}

impl Args {
    fn direction(
        &self,
        delay: Option<Duration>,
        loss: Option<f64>,
        rate: Option<u64>,
    ) -> Impairment {
        let delay = delay.unwrap_or(self.delay);
        let loss = match (loss.or(self.loss), self.ge) {
            (Some(p), _) => Loss::Random(p),
            (None, Some(ge)) => ge,
            (None, None) => Loss::None,
        };
        let rate_bps = rate.or(self.rate);
        // The round trip is this direction's delay both ways: good enough for a default.
        let queue_bytes = self.queue.unwrap_or_else(|| {
            rate_bps.map_or(Impairment::default().queue_bytes, |r| round_trip_queue(r, delay))
        });
        Impairment {
            delay,
            jitter: self.jitter,
            loss,
            duplicate: self.dup,
            reorder: self.reorder,
            rate_bps,
            queue_bytes,
            mtu: self.mtu,
        }
    }

    fn path(&self) -> PathConfig {
        PathConfig {
            up: self.direction(self.up_delay, self.up_loss, self.up_rate),
            down: self.direction(self.down_delay, self.down_loss, self.down_rate),
            seed: self.seed,
        }
    }
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let path = args.path();
    let proxy =
        Proxy::bind(args.listen, args.upstream, path.clone()).context("starting the proxy")?;
    println!("listening on {} → {}", proxy.local_addr(), args.upstream);
    println!("up:   {:?}\ndown: {:?}\nseed: {}", path.up, path.down, path.seed);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(tokio::signal::ctrl_c())
        .context("waiting for Ctrl-C")?;
    let stats = proxy.stats()?;
    println!("flows: {}\nup:   {:?}\ndown: {:?}", stats.flows, stats.up, stats.down);
    Ok(())
}
