//! Server verification: pins, trust on first use, a changed fingerprint, CA files, ALPN.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use quicq_client::{Client, ConnectError, KnownServers, Trust};
use quicq_common::Fingerprint;
use quicq_common::protocol::ALPN;
use quicq_tests::*;

fn tofu_config(
    server: &TestServer,
    known: &std::path::Path,
    accept_new: bool,
) -> quicq_client::ClientConfig {
    let mut cfg = config(server, "alice");
    cfg.server = server.address();
    cfg.trust = Trust {
        known_servers: Some(known.to_owned()),
        fingerprint: None,
        ca: None,
        accept_new,
        system_roots: false,
    };
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_server_needs_consent_then_is_remembered() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let known = known_servers_in(dir.path());

    let err = Client::connect(tofu_config(&server, &known, false)).await.unwrap_err();
    match &err {
        ConnectError::UnknownServer { fingerprint, .. } => {
            assert_eq!(*fingerprint, server.fingerprint)
        }
        other => panic!("expected UnknownServer, got {other}"),
    }
    assert!(err.to_string().contains(&server.fingerprint.pretty()));
    assert!(!known.exists(), "nothing is trusted without consent");

    let (client, _) = Client::connect(tofu_config(&server, &known, true)).await.unwrap();
    client.close().await;
    let authority = server.address().authority();
    assert_eq!(KnownServers::load(&known).unwrap().get(&authority), Some(server.fingerprint));

    // Next time no consent is needed: the fingerprint is pinned from the file.
    let (client, _) = Client::connect(tofu_config(&server, &known, false)).await.unwrap();
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_fingerprint_is_refused_loudly() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let known = known_servers_in(dir.path());
    let old = Fingerprint([0x42; 32]);
    KnownServers::add(&known, &server.address().authority(), old).unwrap();

    // Even with accept_new, a known server presenting another certificate is refused.
    let err = Client::connect(tofu_config(&server, &known, true)).await.unwrap_err();
    match &err {
        ConnectError::FingerprintChanged { expected, presented, .. } => {
            assert_eq!(*expected, old);
            assert_eq!(*presented, server.fingerprint);
        }
        other => panic!("expected FingerprintChanged, got {other}"),
    }
    assert!(err.to_string().contains("HAS CHANGED"));
    // The file still holds the old fingerprint.
    assert_eq!(KnownServers::load(&known).unwrap().get(&server.address().authority()), Some(old));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_certificate_changed_after_restart_is_refused() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let known = known_servers_in(dir.path());
    let (client, _) = Client::connect(tofu_config(&server, &known, true)).await.unwrap();
    client.close().await;
    let port = server.addr.port();
    let data = server.stop().await;
    // The operator loses the certificate: a new one is made on the next start.
    std::fs::remove_dir_all(data.path().join("certs")).unwrap();
    let server = TestServer::start_in(data, |c| c.listen.set_port(port)).await;
    let err = Client::connect(tofu_config(&server, &known, true)).await.unwrap_err();
    assert!(matches!(err, ConnectError::FingerprintChanged { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_pinned_fingerprint_is_refused() {
    let server = TestServer::start().await;
    let mut cfg = config(&server, "alice");
    cfg.server.fingerprint = Some(Fingerprint([7; 32]));
    let err = Client::connect(cfg).await.unwrap_err();
    assert!(matches!(err, ConnectError::FingerprintMismatch { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_file_with_the_server_certificate_is_trusted() {
    let server = TestServer::start().await;
    let mut cfg = config(&server, "alice");
    cfg.server = server.address();
    cfg.trust.ca = Some(server.cert_path());
    let (client, _) = Client::connect(cfg).await.unwrap();
    client.close().await;

    // Another server's certificate as CA does not vouch for this one.
    let other = TestServer::start().await;
    let mut cfg = config(&server, "alice");
    cfg.server = server.address();
    cfg.trust.ca = Some(other.cert_path());
    let err = Client::connect(cfg).await.unwrap_err();
    assert!(matches!(err, ConnectError::Untrusted(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_alpn_gets_a_clear_error_not_a_hang() {
    let server = TestServer::start().await;
    let mut cfg = config(&server, "alice");
    cfg.alpn = b"quicq/2".to_vec();
    let err = tokio::time::timeout(WAIT, Client::connect(cfg)).await.expect("no hang").unwrap_err();
    assert!(matches!(err, ConnectError::WrongProtocol), "{err}");

    // At the raw level too.
    assert!(raw_connect_alpn(&server, b"http/1.1").await.is_err());
    assert!(raw_connect_alpn(&server, ALPN).await.is_ok());
}
