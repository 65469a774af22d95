//! `quicq-bench`: measures QuicQ against real servers and clients on loopback and prints a table
//! (or JSON). Build with `cargo build --release -p quicq-server -p quicq-bench`.

mod cpu;
mod deployment;
mod disk;
mod path;
mod raw;
mod server;
mod stats;
mod workload;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde::Serialize;

use quicq_common::congestion::Congestion;

use crate::deployment::{Deployment, Kind};
use crate::path::PathSpec;
use crate::stats::Figure;
use crate::workload::files::Route;
use crate::workload::{chat, files, groups, logins, raw_fanout, raw_quic, scale, stalled};

const MIB: u64 = 1 << 20;

/// Benchmarks for QuicQ: latency, fan-out, file sharing, scale and storage, each against a
/// real quicq-server process on loopback.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Repeat each workload this many times and report the median (min–max).
    #[arg(long, global = true, default_value_t = 3)]
    runs: usize,
    /// Also write the results as JSON to this file.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every workload; --quick shrinks them to a smoke test of a few seconds.
    All {
        #[arg(long)]
        quick: bool,
    },
    /// Reference: bare quinn, one stream.
    RawQuic {
        #[arg(long, default_value_t = 1024)]
        mib: u64,
    },
    /// W1: one-to-one latency, one message at a time.
    W1 {
        #[arg(long, default_value_t = 10_000)]
        messages: usize,
    },
    /// W2: fan-out to everyone online, unpaced and paced.
    W2 {
        #[arg(long, default_value_t = 100)]
        users: usize,
        #[arg(long, default_value_t = 10)]
        senders: usize,
        #[arg(long, default_value_t = 1000)]
        each: usize,
        /// Paced rate, messages per second in total.
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        #[arg(long, default_value_t = 5)]
        seconds: u32,
    },
    /// W3: a file A→B and to a group.
    W3 {
        #[arg(long, default_value_t = 1024)]
        mib: u64,
        #[arg(long, default_value_t = 10)]
        group: usize,
    },
    /// W4: chat every 10 ms during W3's A→B transfer.
    W4 {
        #[arg(long, default_value_t = 1024)]
        mib: u64,
    },
    /// W5: idle signed-in clients.
    W5 {
        #[arg(long, default_value_t = 10_000)]
        clients: usize,
    },
    /// W8: a real user's sign-ins during a storm of wrong-password sign-ins from many addresses.
    W8 {
        /// Attacking loopback addresses (127.0.x.y).
        #[arg(long, default_value_t = 50)]
        addresses: usize,
        /// Sign-ins each address keeps in flight.
        #[arg(long, default_value_t = 4)]
        parallel: usize,
        /// The real user's sign-ins measured, with and without the storm.
        #[arg(long, default_value_t = 40)]
        logins: usize,
    },
    /// W10: named groups chatting at once: deliveries/s with every group's creator pipelining,
    /// then p99 at a fixed total rate.
    W10 {
        #[arg(long, default_value_t = 100)]
        groups: usize,
        #[arg(long, default_value_t = 20)]
        members: usize,
        /// Messages each group's creator sends in the unpaced phase.
        #[arg(long, default_value_t = 50)]
        each: usize,
        /// Messages per second over all groups in the paced phase.
        #[arg(long, default_value_t = 500)]
        rate: u32,
        #[arg(long, default_value_t = 5)]
        seconds: u32,
    },
    /// W9: server memory with sessions that never read their deliveries.
    W9 {
        #[arg(long, default_value_t = 20)]
        sessions: usize,
        /// Messages of 16 KB sent to each.
        #[arg(long, default_value_t = 512)]
        messages: usize,
    },
    /// W7: W4's file and chat (a message every 100 ms) over emulated internet paths, each
    /// client behind its own impairment proxy, beside bare quinn through the same proxy.
    W7 {
        /// Round trips, ms.
        #[arg(long, value_delimiter = ',', default_values_t = [20, 50, 100, 200])]
        rtt: Vec<u64>,
        /// Loss each way, percent.
        #[arg(long, value_delimiter = ',', default_values_t = [0.0, 0.5, 1.0, 5.0])]
        loss: Vec<f64>,
        /// Link rates, Mbit/s.
        #[arg(long, value_delimiter = ',', default_values_t = [100, 1000])]
        mbit: Vec<u64>,
        #[arg(long, default_value_t = 256)]
        mib: u64,
        /// QuicQ's congestion controllers to measure.
        #[arg(long, value_delimiter = ',', default_values_t = [Congestion::LowDelay])]
        congestion: Vec<Congestion>,
        /// Controllers for the tuned bare-quinn reference (32 MiB windows); quinn's defaults
        /// are always measured too.
        #[arg(long, value_delimiter = ',', default_values_t = [Congestion::Bbr])]
        reference: Vec<Congestion>,
        /// A transfer still running after this long stops; its rate so far is reported.
        #[arg(long, default_value_t = 60)]
        cap_secs: u64,
    },
    /// The bare quinn server W2's reference measures (started by W2, not by hand).
    #[command(hide = true)]
    RawFanoutServer,
    /// W6: durable message stores per second.
    W6 {
        #[arg(long, default_value_t = 50_000)]
        messages: usize,
        #[arg(long, default_value_t = 20)]
        connections: usize,
    },
    /// W11: W6, W2 and W1 side by side on one node with SQLite, one node with PostgreSQL and
    /// a cluster of `nodes` on PostgreSQL and NATS (clients spread over the nodes; W1's two
    /// users on different nodes). Needs PostgreSQL and nats-server installed.
    W11 {
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// W6: messages stored, from 20 connections.
        #[arg(long, default_value_t = 20_000)]
        messages: usize,
        /// W2: users online, senders, messages each (unpaced).
        #[arg(long, default_value_t = 100)]
        users: usize,
        #[arg(long, default_value_t = 10)]
        senders: usize,
        #[arg(long, default_value_t = 200)]
        each: usize,
        /// W2 paced: messages per second in total, for 5 s.
        #[arg(long, default_value_t = 500)]
        rate: u32,
        /// W1: messages one at a time.
        #[arg(long, default_value_t = 2000)]
        latency: usize,
        /// A file this large from a user on node 0 to one on node 1.
        #[arg(long, default_value_t = 256)]
        file_mib: u64,
    },
}

/// Parameters of a full or quick run of everything.
struct Plan {
    raw_mib: u64,
    w1_messages: usize,
    w2: (usize, usize, usize),
    w2_paced: (u32, u32),
    w3_mib: u64,
    w3_group: usize,
    w5_clients: usize,
    w6: (usize, usize),
    w8: (usize, usize, usize),
    w9: (usize, usize),
    w10: (usize, usize, usize, u32, u32),
    w7: Wan,
}

/// W7's matrix and file.
#[derive(Debug, Clone)]
struct Wan {
    paths: Vec<PathSpec>,
    mib: u64,
    congestion: Vec<Congestion>,
    reference: Vec<Congestion>,
    cap: Duration,
}

impl Wan {
    fn matrix(rtts: &[u64], losses: &[f64], mbits: &[u64]) -> Vec<PathSpec> {
        let mut paths = Vec::new();
        for &mbit in mbits {
            for &rtt_ms in rtts {
                for &loss_percent in losses {
                    paths.push(PathSpec { rtt_ms, loss_percent, mbit });
                }
            }
        }
        paths
    }
}

impl Plan {
    fn full() -> Self {
        Plan {
            raw_mib: 1024,
            w1_messages: 10_000,
            w2: (100, 10, 1000),
            w2_paced: (1000, 5),
            w3_mib: 1024,
            w3_group: 10,
            // Once: 10,000 Argon2 sign-ins take about 2.5 minutes on 2 cores.
            w5_clients: 10_000,
            w6: (50_000, 20),
            w8: (50, 4, 40),
            w9: (20, 512),
            w10: (100, 20, 50, 500, 5),
            w7: Wan {
                paths: Wan::matrix(&[20, 50, 100, 200], &[0.0, 0.5, 1.0, 5.0], &[100, 1000]),
                mib: 256,
                congestion: vec![Congestion::LowDelay],
                reference: vec![Congestion::Bbr],
                cap: Duration::from_secs(60),
            },
        }
    }

    fn quick() -> Self {
        Plan {
            raw_mib: 32,
            w1_messages: 200,
            w2: (10, 2, 50),
            w2_paced: (200, 1),
            w3_mib: 16,
            w3_group: 3,
            w5_clients: 100,
            w6: (2000, 4),
            w8: (4, 2, 5),
            w9: (2, 20),
            w10: (3, 4, 5, 50, 1),
            w7: Wan {
                paths: Wan::matrix(&[20], &[0.0, 5.0], &[100]),
                mib: 4,
                congestion: vec![Congestion::LowDelay],
                reference: vec![Congestion::Bbr],
                cap: Duration::from_secs(5),
            },
        }
    }
}

#[derive(Debug, Default, Serialize)]
struct Report {
    machine: Machine,
    /// Figure name → value over runs.
    figures: BTreeMap<String, Figure>,
}

#[derive(Debug, Default, Serialize)]
struct Machine {
    cores: usize,
    memory_gib: f64,
    cpu: String,
}

impl Machine {
    fn read() -> Self {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let kb = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_default();
        Machine {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_gib: kb / (1024.0 * 1024.0),
            cpu,
        }
    }
}

impl Report {
    fn add(&mut self, name: &str, values: Vec<f64>) {
        let figure = Figure::of(values);
        eprintln!(
            "  {name:<34} {:>12.3}  ({:.3} – {:.3}, {} runs)",
            figure.median, figure.min, figure.max, figure.runs
        );
        self.figures.insert(name.to_owned(), figure);
    }
}

/// Runs `f` `runs` times, collecting one or more named values per run.
async fn repeat<F, Fut>(
    report: &mut Report,
    runs: usize,
    names: &[&str],
    mut f: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Vec<f64>>>,
{
    let mut columns = vec![Vec::new(); names.len()];
    for _ in 0..runs.max(1) {
        let values = f().await?;
        for (column, v) in columns.iter_mut().zip(values) {
            column.push(v);
        }
    }
    for (name, values) in names.iter().zip(columns) {
        report.add(name, values);
    }
    Ok(())
}

async fn run_raw(report: &mut Report, runs: usize, mib: u64) -> anyhow::Result<()> {
    eprintln!("raw-quic: {mib} MiB over one bare quinn stream, and through a bare relay");
    repeat(report, runs, &["raw_quic_mb_per_s", "raw_quic_cpu_s_per_gib"], || async {
        let raw = raw_quic::run(mib * MIB, tuned(), None, None).await?;
        Ok(vec![raw.mb_per_sec, raw.cpu_s_per_gib])
    })
    .await?;
    let names = ["raw_relay_default_mb_per_s", "raw_relay_tuned_mb_per_s"];
    repeat(report, runs, &names, || async {
        let default = raw_quic::relay(mib * MIB, raw_quic::default_transport()).await?;
        let tuned = raw_quic::relay(mib * MIB, tuned()).await?;
        Ok(vec![default.mb_per_sec, tuned.mb_per_sec])
    })
    .await
}

/// The loopback reference's settings: 32 MiB windows and quinn's default controller.
fn tuned() -> std::sync::Arc<quinn::TransportConfig> {
    raw_quic::tuned_transport(Congestion::Cubic)
}

async fn run_w7(report: &mut Report, plan: &Wan) -> anyhow::Result<()> {
    let mib = plan.mib;
    eprintln!("W7: {mib} MiB A→server→B and a message every 100 ms, over emulated paths");
    let cap = Some(plan.cap);
    let mut table = vec![
        "| path | QuicQ | MB/s | share of link | chat p50 / p99 ms | quinn default | tuned quinn |"
            .to_owned(),
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |".to_owned(),
    ];
    for path in &plan.paths {
        let label = path.label();
        let link = path.link_mb_per_sec();
        eprintln!(" path {label}");
        let mut rows = Vec::new();
        for &congestion in &plan.congestion {
            let names = [
                format!("w7_{label}_{congestion}_link_share"),
                format!("w7_{label}_{congestion}_chat_p50_ms"),
                format!("w7_{label}_{congestion}_chat_p99_ms"),
            ];
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let route = Route { path: Some(*path), congestion: Some(congestion), cap };
            let (share, chat) =
                files::share(mib * MIB, Some(Duration::from_millis(100)), &route).await?;
            let (p50, p99) = chat.unwrap_or((f64::NAN, f64::NAN));
            report.add(names[0], vec![share.mb_per_sec / link]);
            report.add(names[1], vec![p50]);
            report.add(names[2], vec![p99]);
            rows.push(format!(
                "| {label} | {congestion} | {:.1}{} | {:.0} % | {p50:.0} / {p99:.0} |",
                share.mb_per_sec,
                if share.complete { "" } else { " (capped)" },
                100.0 * share.mb_per_sec / link
            ));
        }
        let mut references = vec![("default".to_owned(), raw_quic::default_transport())];
        for &c in &plan.reference {
            references.push((c.to_string(), raw_quic::tuned_transport(c)));
        }
        let mut shares = Vec::new();
        for (name, transport) in references {
            let raw = raw_quic::run(mib * MIB, transport, Some(*path), cap).await?;
            report.add(&format!("w7_{label}_quinn_{name}_link_share"), vec![raw.mb_per_sec / link]);
            let capped = if raw.complete { "" } else { " (capped)" };
            shares.push(format!("{name} {:.0} %{capped}", 100.0 * raw.mb_per_sec / link));
        }
        let tuned = shares[1..].join(", ");
        for row in rows {
            table.push(format!("{row} {} | {tuned} |", shares[0]));
        }
    }
    println!("\nW7 (file {mib} MiB, cap {} s; shares are of the link rate):", plan.cap.as_secs());
    for line in table {
        println!("{line}");
    }
    Ok(())
}

async fn run_w1(report: &mut Report, runs: usize, messages: usize) -> anyhow::Result<()> {
    eprintln!("W1: {messages} messages A→B, one at a time");
    repeat(report, runs, &["w1_p50_ms", "w1_p99_ms"], || async {
        let sqlite = Deployment::start(Kind::Sqlite)?;
        let (p50, p99) = chat::latency(&sqlite, messages, 0).await?;
        Ok(vec![p50, p99])
    })
    .await
}

async fn run_w2(
    report: &mut Report,
    runs: usize,
    (users, senders, each): (usize, usize, usize),
    (rate, seconds): (u32, u32),
) -> anyhow::Result<()> {
    eprintln!(
        "W2: {users} users, {senders} senders × {each} unpaced; {rate}/s paced for {seconds} s"
    );
    repeat(report, runs, &["w2_deliveries_per_s", "w2_server_cpu_us_per_delivery"], || async {
        let sqlite = Deployment::start(Kind::Sqlite)?;
        let fan_out = chat::fan_out(&sqlite, users, senders, each).await?;
        Ok(vec![fan_out.deliveries_per_sec, fan_out.server_cpu_us])
    })
    .await?;
    let names = [
        "w2_paced_p99_ms",
        "w2_paced_server_cpu_us_per_delivery",
        "w2_paced_clients_cpu_us_per_delivery",
    ];
    repeat(report, runs, &names, || async {
        let sqlite = Deployment::start(Kind::Sqlite)?;
        let paced = chat::fan_out_paced(&sqlite, users, senders, rate, seconds).await?;
        Ok(vec![paced.p99_ms, paced.server_cpu_us, paced.clients_cpu_us])
    })
    .await?;
    eprintln!("W2 reference: the same against a bare quinn fan-out server");
    let names = [
        "w2_ref_deliveries_per_s",
        "w2_ref_server_cpu_us_per_delivery",
        "w2_ref_paced_p99_ms",
        "w2_ref_paced_server_cpu_us_per_delivery",
        "w2_ref_paced_clients_cpu_us_per_delivery",
    ];
    repeat(report, runs, &names, || async {
        let r = raw_fanout::run(users, senders, each, (rate, seconds)).await?;
        Ok(vec![
            r.deliveries_per_sec,
            r.server_cpu_us,
            r.paced_p99_ms,
            r.paced_server_cpu_us,
            r.paced_clients_cpu_us,
        ])
    })
    .await
}

async fn run_w3(report: &mut Report, runs: usize, mib: u64, group: usize) -> anyhow::Result<()> {
    eprintln!("W3: {mib} MiB A→B, and to a group of {group}");
    let names = [
        "w3_a_to_b_mb_per_s",
        "w3_server_memory_growth_mib",
        "w3_server_cpu_s_per_gib",
        "w3_clients_cpu_s_per_gib",
        "w3_disk_sync_p50_ms",
        "w3_disk_sync_p99_ms",
        "w3_disk_sync_max_ms",
    ];
    repeat(report, runs, &names, || async {
        let (share, _) = files::share(mib * MIB, None, &Route::default()).await?;
        let (sync_p50, sync_p99, sync_max) =
            share.disk_sync_ms.unwrap_or((f64::NAN, f64::NAN, f64::NAN));
        Ok(vec![
            share.mb_per_sec,
            share.server_growth as f64 / MIB as f64,
            share.server_cpu_s_per_gib,
            share.clients_cpu_s_per_gib,
            sync_p50,
            sync_p99,
            sync_max,
        ])
    })
    .await?;
    repeat(report, 1, &["w3_group_mb_per_s_delivered"], || async {
        Ok(vec![files::share_group(mib * MIB, group).await?])
    })
    .await
}

async fn run_w4(report: &mut Report, runs: usize, mib: u64) -> anyhow::Result<()> {
    eprintln!("W4: a message every 10 ms during {mib} MiB A→B");
    let names = ["w4_message_p50_ms", "w4_message_p99_ms", "w4_file_mb_per_s"];
    repeat(report, runs, &names, || async {
        let (share, chat) =
            files::share(mib * MIB, Some(Duration::from_millis(10)), &Route::default()).await?;
        let (p50, p99) = chat.unwrap_or((f64::NAN, f64::NAN));
        Ok(vec![p50, p99, share.mb_per_sec])
    })
    .await
}

async fn run_w5(report: &mut Report, clients: usize) -> anyhow::Result<()> {
    eprintln!("W5: {clients} idle signed-in clients (one run)");
    repeat(report, 1, &["w5_server_kib_per_connection", "w5_sign_ins_per_s"], || async {
        let s = scale::idle_clients(clients).await?;
        anyhow::ensure!(s.connections == clients, "only {} connections", s.connections);
        Ok(vec![s.bytes_per_connection / 1024.0, s.sign_ins_per_sec])
    })
    .await
}

async fn run_w8(
    report: &mut Report,
    runs: usize,
    (addresses, parallel, logins): (usize, usize, usize),
) -> anyhow::Result<()> {
    eprintln!("W8: {logins} sign-ins during a storm from {addresses} addresses × {parallel}");
    let names = [
        "w8_login_p50_ms",
        "w8_login_p99_ms",
        "w8_storm_login_p50_ms",
        "w8_storm_login_p99_ms",
        "w8_storm_answers_per_s",
        "w8_storm_throttled_share",
    ];
    repeat(report, runs, &names, || async {
        let s = logins::storm(addresses, parallel, logins).await?;
        Ok(vec![
            s.baseline_p50_ms,
            s.baseline_p99_ms,
            s.storm_p50_ms,
            s.storm_p99_ms,
            s.storm_answers_per_s,
            s.storm_throttled_share,
        ])
    })
    .await
}

async fn run_w9(report: &mut Report, (sessions, messages): (usize, usize)) -> anyhow::Result<()> {
    eprintln!(
        "W9: {sessions} sessions that never read, {messages} messages of 16 KB to each (one run)"
    );
    let names = ["w9_server_growth_mib", "w9_growth_per_session_mib", "w9_sessions_closed"];
    repeat(report, 1, &names, || async {
        let s = stalled::stalled(sessions, messages).await?;
        Ok(vec![s.peak_growth_mib, s.per_session_mib, s.closed as f64])
    })
    .await
}

async fn run_w10(
    report: &mut Report,
    runs: usize,
    (groups, members, each, rate, seconds): (usize, usize, usize, u32, u32),
) -> anyhow::Result<()> {
    eprintln!(
        "W10: {groups} groups of {members}; each creator sends {each} unpaced; {rate}/s paced for {seconds} s"
    );
    let names = ["w10_deliveries_per_s", "w10_server_cpu_us_per_delivery", "w10_paced_p99_ms"];
    repeat(report, runs, &names, || async {
        let g = groups::chat(groups, members, each, rate, seconds).await?;
        Ok(vec![g.deliveries_per_sec, g.server_cpu_us_per_delivery, g.paced_p99_ms])
    })
    .await
}

async fn run_w6(
    report: &mut Report,
    runs: usize,
    (messages, connections): (usize, usize),
) -> anyhow::Result<()> {
    eprintln!("W6: {messages} durable stores from {connections} connections");
    let names =
        ["w6_stored_per_s", "w6_server_cpu_us_per_message", "w6_clients_cpu_us_per_message"];
    repeat(report, runs, &names, || async {
        let sqlite = Deployment::start(Kind::Sqlite)?;
        let s = chat::store_rate(&sqlite, connections, messages).await?;
        Ok(vec![s.per_sec, s.server_cpu_us, s.clients_cpu_us])
    })
    .await
}

/// W11's parameters.
struct ClusterPlan {
    nodes: usize,
    messages: usize,
    users: usize,
    senders: usize,
    each: usize,
    rate: u32,
    latency: usize,
    file_mib: u64,
}

async fn run_w11(report: &mut Report, runs: usize, plan: ClusterPlan) -> anyhow::Result<()> {
    for kind in [Kind::Sqlite, Kind::Postgres, Kind::Cluster(plan.nodes)] {
        let label = kind.label();
        eprintln!("W11 on {label}");
        let names: Vec<String> = [
            "w6_stored_per_s",
            "w6_cpu_us_per_message",
            "w2_deliveries_per_s",
            "w2_cpu_us_per_delivery",
            "w2_paced_p99_ms",
            "w2_paced_cpu_us_per_delivery",
            "w1_p50_ms",
            "w1_p99_ms",
            "file_mb_per_s",
            "file_cpu_s_per_gib",
        ]
        .iter()
        .map(|n| format!("w11_{label}_{n}"))
        .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        repeat(report, runs, &names, || async {
            let d = Deployment::start(kind)?;
            let stored = chat::store_rate(&d, 20, plan.messages).await?;
            drop(d);
            let d = Deployment::start(kind)?;
            let fan_out = chat::fan_out(&d, plan.users, plan.senders, plan.each).await?;
            drop(d);
            let d = Deployment::start(kind)?;
            let paced = chat::fan_out_paced(&d, plan.users, plan.senders, plan.rate, 5).await?;
            drop(d);
            let d = Deployment::start(kind)?;
            // Across nodes where there are several.
            let (p50, p99) = chat::latency(&d, plan.latency, 1).await?;
            drop(d);
            let d = Deployment::start(kind)?;
            let (file_mb, file_cpu) = files::across(&d, plan.file_mib * MIB).await?;
            Ok(vec![
                stored.per_sec,
                stored.server_cpu_us,
                fan_out.deliveries_per_sec,
                fan_out.server_cpu_us,
                paced.p99_ms,
                paced.server_cpu_us,
                p50,
                p99,
                file_mb,
                file_cpu,
            ])
        })
        .await?;
    }
    Ok(())
}

/// Disk space W3 and W4 need at their peak: the source file, the server's spool copy and one
/// saved copy per recipient, plus room for the database and logs.
fn file_space(mib: u64, group: usize) -> u64 {
    (mib * (group.max(1) as u64 + 2) + 256) * MIB
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if let Command::RawFanoutServer = args.command {
        return raw_fanout::serve().await;
    }
    let mut report = Report { machine: Machine::read(), ..Report::default() };
    eprintln!(
        "machine: {} cores, {:.1} GiB, {}",
        report.machine.cores, report.machine.memory_gib, report.machine.cpu
    );
    let runs = args.runs;
    match args.command {
        Command::All { quick } => {
            let plan = if quick { Plan::quick() } else { Plan::full() };
            let runs = if quick { 1 } else { runs };
            disk::ensure_free(&std::env::temp_dir(), file_space(plan.w3_mib, plan.w3_group))?;
            run_raw(&mut report, runs, plan.raw_mib).await?;
            run_w1(&mut report, runs, plan.w1_messages).await?;
            run_w2(&mut report, runs, plan.w2, plan.w2_paced).await?;
            // W4 before W3: for about half a minute after W3 writes and deletes its ~12 GiB,
            // two database commits per W4 run stall for ~450 ms each (docs/benchmarks.md).
            run_w4(&mut report, runs, plan.w3_mib).await?;
            run_w3(&mut report, runs, plan.w3_mib, plan.w3_group).await?;
            run_w5(&mut report, plan.w5_clients).await?;
            run_w6(&mut report, runs, plan.w6).await?;
            run_w8(&mut report, runs, plan.w8).await?;
            run_w9(&mut report, plan.w9).await?;
            run_w10(&mut report, runs, plan.w10).await?;
            run_w7(&mut report, &plan.w7).await?;
        }
        Command::RawQuic { mib } => run_raw(&mut report, runs, mib).await?,
        Command::RawFanoutServer => unreachable!("served before the report starts"),
        Command::W1 { messages } => run_w1(&mut report, runs, messages).await?,
        Command::W2 { users, senders, each, rate, seconds } => {
            run_w2(&mut report, runs, (users, senders, each), (rate, seconds)).await?
        }
        Command::W3 { mib, group } => {
            disk::ensure_free(&std::env::temp_dir(), file_space(mib, group))?;
            run_w3(&mut report, runs, mib, group).await?
        }
        Command::W4 { mib } => {
            disk::ensure_free(&std::env::temp_dir(), file_space(mib, 1))?;
            run_w4(&mut report, runs, mib).await?
        }
        Command::W5 { clients } => run_w5(&mut report, clients).await?,
        Command::W6 { messages, connections } => {
            run_w6(&mut report, runs, (messages, connections)).await?
        }
        Command::W11 { nodes, messages, users, senders, each, rate, latency, file_mib } => {
            let plan =
                ClusterPlan { nodes, messages, users, senders, each, rate, latency, file_mib };
            run_w11(&mut report, runs, plan).await?
        }
        Command::W8 { addresses, parallel, logins } => {
            run_w8(&mut report, runs, (addresses, parallel, logins)).await?
        }
        Command::W9 { sessions, messages } => run_w9(&mut report, (sessions, messages)).await?,
        Command::W10 { groups, members, each, rate, seconds } => {
            run_w10(&mut report, runs, (groups, members, each, rate, seconds)).await?
        }
        Command::W7 { rtt, loss, mbit, mib, congestion, reference, cap_secs } => {
            let plan = Wan {
                paths: Wan::matrix(&rtt, &loss, &mbit),
                mib,
                congestion,
                reference,
                cap: Duration::from_secs(cap_secs),
            };
            run_w7(&mut report, &plan).await?
        }
    }
    print_table(&report);
    if let Some(path) = args.json {
        std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn print_table(report: &Report) {
    println!("| figure | median | min – max | runs |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, f) in &report.figures {
        println!("| {name} | {:.3} | {:.3} – {:.3} | {} |", f.median, f.min, f.max, f.runs);
    }
    if let (Some(raw), Some(ab)) =
        (report.figures.get("raw_quic_mb_per_s"), report.figures.get("w3_a_to_b_mb_per_s"))
    {
        println!("\nW3 A→B is {:.0} % of raw-quic", 100.0 * ab.median / raw.median);
    }
    if let (Some(relay), Some(ab)) =
        (report.figures.get("raw_relay_tuned_mb_per_s"), report.figures.get("w3_a_to_b_mb_per_s"))
    {
        println!("W3 A→B is {:.0} % of the tuned bare relay", 100.0 * ab.median / relay.median);
    }
}
