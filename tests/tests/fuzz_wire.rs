//! Whatever a peer sends, on any stream, the server answers or closes that stream or connection,
//! and never panics; other users are served throughout. Random inputs from a seed (set
//! `QUICQ_FUZZ_SEED` to replay a failure; the seed is printed), a bounded number of cases.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use quicq_common::frame::encode;
use quicq_common::protocol::{Address, ClientFrame};
use quicq_tests::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

static PANICS: AtomicUsize = AtomicUsize::new(0);

const CASES: usize = 60;
/// Each hostile stream gets this long before the next case starts.
const PER_CASE: Duration = Duration::from_millis(200);

const TYPES: &[&str] = &[
    "hello",
    "ack",
    "send",
    "history",
    "upload",
    "upload_status",
    "download",
    "pending_files",
    "file_done",
    "users",
    "teleport",
];
const FIELDS: &[&str] = &[
    "version",
    "nickname",
    "password",
    "client",
    "resume_after",
    "device",
    "up_to",
    "client_id",
    "to",
    "text",
    "with",
    "before",
    "limit",
    "transfer_id",
    "name",
    "size",
    "blake3",
    "offset",
    "file_id",
    "saved",
    "after",
];

fn random_value(rng: &mut StdRng) -> serde_json::Value {
    match rng.random_range(0..8) {
        0 => serde_json::Value::Null,
        1 => rng.random::<bool>().into(),
        2 => rng.random::<u64>().into(),
        3 => rng.random::<i64>().into(),
        4 => serde_json::json!({ "user": "bob" }),
        5 => serde_json::json!({ "group": "everyone" }),
        6 => "x".repeat(rng.random_range(0..70_000)).into(),
        _ => String::from_utf8_lossy(&random_bytes(rng, 40)).into_owned().into(),
    }
}

fn random_bytes(rng: &mut StdRng, max: usize) -> Vec<u8> {
    let len = rng.random_range(0..max);
    (0..len).map(|_| rng.random()).collect()
}

/// A length-prefixed JSON object with a real or bogus type and real field names holding any
/// values; or raw bytes; or a real frame followed by garbage.
fn hostile_payload(rng: &mut StdRng) -> Vec<u8> {
    match rng.random_range(0..4) {
        0 => random_bytes(rng, 3000),
        1 => {
            let mut bytes = encode(&ClientFrame::Send {
                client_id: "c".into(),
                to: Address::everyone(),
                text: "hi".into(),
                reply_to: None,
            });
            bytes.extend(random_bytes(rng, 500));
            bytes
        }
        _ => {
            let mut object = serde_json::Map::new();
            object.insert("type".into(), TYPES[rng.random_range(0..TYPES.len())].into());
            for _ in 0..rng.random_range(0..8) {
                let name = FIELDS[rng.random_range(0..FIELDS.len())];
                object.insert(name.into(), random_value(rng));
            }
            let body = serde_json::to_vec(&object).unwrap_or_default();
            let mut bytes = (body.len() as u32).to_be_bytes().to_vec();
            bytes.extend(body);
            if rng.random_bool(0.2) {
                bytes.truncate(rng.random_range(0..bytes.len().max(1)));
            }
            bytes
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_streams_never_panic_the_server_or_disturb_others() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));
    let seed = std::env::var("QUICQ_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("QUICQ_FUZZ_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);

    let server = TestServer::start_with(|c| c.message_burst = 1000).await;
    let (bystander, _) = connect(&server, "bystander").await;
    let _ = connect(&server, "bob").await;
    for case in 0..CASES {
        let payload = hostile_payload(&mut rng);
        let conn = raw_connect(&server).await;
        let outcome = async {
            match case % 4 {
                // The control stream's first frame, before any login.
                0 => {
                    let (mut send, _recv) = conn.open_bi().await?;
                    send.write_all(&payload).await?;
                    let _ = send.finish();
                }
                // A request stream, a control-stream frame and an upload stream after login.
                n => {
                    let (mut control, _recv, _) = raw_login(&conn, "mallory", PASSWORD).await;
                    match n {
                        1 => {
                            let (mut send, _recv) = conn.open_bi().await?;
                            send.write_all(&payload).await?;
                            let _ = send.finish();
                        }
                        2 => control.write_all(&payload).await?,
                        _ => {
                            let mut send = conn.open_uni().await?;
                            send.write_all(&payload).await?;
                            let _ = send.finish();
                        }
                    }
                }
            }
            tokio::time::sleep(PER_CASE).await;
            anyhow::Ok(())
        };
        // The server may close the stream or connection at any point; that is an answer too.
        let _ = tokio::time::timeout(WAIT, outcome).await;
        conn.close(0u32.into(), b"");
        assert_eq!(PANICS.load(Ordering::SeqCst), 0, "case {case} (seed {seed}) panicked");
        // Others are served between hostile cases.
        bystander.send(Address::User("bob".into()), format!("still here {case}")).await.unwrap();
    }
    let (late, _) = connect(&server, "latecomer").await;
    late.send(Address::everyone(), "the server still serves").await.unwrap();
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "seed {seed}");
}
