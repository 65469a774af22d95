//! Keeps the benchmark tool working: `quicq-bench all --quick` against a real `quicq-server`
//! process must finish and report every figure. Speed is not checked here (shared, noisy
//! machines); `quicq-bench` itself fails if a workload errors, and W2 checks that exactly every
//! delivery arrived.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Every figure `all` reports; a workload that stops reporting one fails this test.
const FIGURES: &[&str] = &[
    "raw_quic_mb_per_s",
    "raw_quic_cpu_s_per_gib",
    "raw_relay_default_mb_per_s",
    "raw_relay_tuned_mb_per_s",
    "w1_p50_ms",
    "w1_p99_ms",
    "w2_deliveries_per_s",
    "w2_server_cpu_us_per_delivery",
    "w2_paced_p99_ms",
    "w2_paced_server_cpu_us_per_delivery",
    "w2_paced_clients_cpu_us_per_delivery",
    "w2_ref_deliveries_per_s",
    "w2_ref_server_cpu_us_per_delivery",
    "w2_ref_paced_p99_ms",
    "w2_ref_paced_server_cpu_us_per_delivery",
    "w2_ref_paced_clients_cpu_us_per_delivery",
    "w3_a_to_b_mb_per_s",
    "w3_server_memory_growth_mib",
    "w3_server_cpu_s_per_gib",
    "w3_clients_cpu_s_per_gib",
    "w3_disk_sync_p50_ms",
    "w3_disk_sync_p99_ms",
    "w3_disk_sync_max_ms",
    "w3_group_mb_per_s_delivered",
    "w4_message_p50_ms",
    "w4_message_p99_ms",
    "w4_file_mb_per_s",
    "w5_server_kib_per_connection",
    "w5_sign_ins_per_s",
    "w6_stored_per_s",
    "w6_server_cpu_us_per_message",
    "w6_clients_cpu_us_per_message",
    "w8_login_p50_ms",
    "w8_login_p99_ms",
    "w8_storm_login_p50_ms",
    "w8_storm_login_p99_ms",
    "w8_storm_answers_per_s",
    "w8_storm_throttled_share",
    "w9_server_growth_mib",
    "w9_growth_per_session_mib",
    "w9_sessions_closed",
    "w10_deliveries_per_s",
    "w10_server_cpu_us_per_delivery",
    "w10_paced_p99_ms",
    "w7_20ms_0pct_100mbit_low-delay_link_share",
    "w7_20ms_0pct_100mbit_low-delay_chat_p50_ms",
    "w7_20ms_0pct_100mbit_low-delay_chat_p99_ms",
    "w7_20ms_0pct_100mbit_quinn_default_link_share",
    "w7_20ms_0pct_100mbit_quinn_bbr_link_share",
    "w7_20ms_5pct_100mbit_low-delay_link_share",
    "w7_20ms_5pct_100mbit_low-delay_chat_p50_ms",
    "w7_20ms_5pct_100mbit_low-delay_chat_p99_ms",
    "w7_20ms_5pct_100mbit_quinn_default_link_share",
    "w7_20ms_5pct_100mbit_quinn_bbr_link_share",
];

/// A quick run takes about 10 s; a hang must fail the test, not wait for CI's limit.
const DEADLINE: Duration = Duration::from_secs(300);

#[test]
fn quick_run_of_every_workload_reports_every_figure() {
    let bench = Path::new(env!("CARGO_BIN_EXE_quicq-bench"));
    // The bench starts the quicq-server built beside it. Cargo builds only this package's
    // binaries for this test, so build (or confirm up to date) the server in the same profile;
    // after `cargo test --workspace` this is a no-op.
    let built = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "-p", "quicq-server", "--bin", "quicq-server"])
        .args(if cfg!(debug_assertions) { &[][..] } else { &["--release"][..] })
        .status()
        .unwrap();
    assert!(built.success(), "building quicq-server failed");
    let server = bench.with_file_name(format!("quicq-server{}", std::env::consts::EXE_SUFFIX));
    assert!(server.exists(), "{} is missing after building it", server.display());

    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("figures.json");
    let log = dir.path().join("bench.log");
    let mut child = Command::new(bench)
        .args(["all", "--quick", "--json"])
        .arg(&json)
        .env("TMPDIR", dir.path())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("quicq-bench all --quick hung:\n{}", std::fs::read_to_string(&log).unwrap());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.success(),
        "quicq-bench all --quick failed:\n{}",
        std::fs::read_to_string(&log).unwrap()
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(report["machine"]["cores"].as_u64().unwrap() >= 1);
    let figures = report["figures"].as_object().unwrap();
    for name in FIGURES {
        let figure = &figures.get(*name).unwrap_or_else(|| panic!("{name} missing"));
        let median = figure["median"].as_f64().unwrap_or_else(|| panic!("{name}: {figure}"));
        assert!(median.is_finite() && median >= 0.0, "{name} = {median}");
        assert!(figure["runs"].as_u64().unwrap() >= 1, "{name} has no runs");
    }
    assert_eq!(figures.len(), FIGURES.len(), "figures not listed here: {:?}", figures.keys());
}
