//! Real QUIC through the proxy: what the proxy is for. A lossy, delayed, rate-capped path
//! still carries a stream byte for byte, and MTU discovery allowed up to 9000 bytes settles at
//! the path's 1472.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quicq_common::protocol::ALPN;
use quicq_common::tls::{self, Identity, Roots, ServerVerifier};
use quicq_impair::{Impairment, PathConfig, Proxy};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

const SIZE: usize = 512 << 10;

/// QuicQ's endpoint: it lets its peer send up to 9000-byte datagrams (quinn's default endpoint
/// advertises 1472, which caps the peer's MTU discovery there whatever its upper bound.)
fn jumbo_endpoint(server: Option<quinn::ServerConfig>) -> anyhow::Result<quinn::Endpoint> {
    Ok(quicq_common::socket::endpoint("127.0.0.1:0".parse()?, server)?)
}

/// A QUIC server that echoes one bidirectional stream per connection; returns its address
/// and the certificate fingerprint to pin.
fn echo_server() -> anyhow::Result<(quinn::Endpoint, tls::Fingerprint)> {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    let identity = Identity {
        chain: vec![generated.cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der())),
    };
    let fingerprint = identity.fingerprint();
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls::server_config(identity)?)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(Arc::new(quicq_common::socket::transport(
        quicq_common::socket::Windows::CLIENT,
        quicq_common::congestion::Congestion::default(),
    )));
    let endpoint = jumbo_endpoint(Some(config))?;
    let server = endpoint.clone();
    tokio::spawn(async move {
        while let Some(incoming) = server.accept().await {
            tokio::spawn(async move {
                let connection = incoming.await?;
                let (mut send, mut recv) = connection.accept_bi().await?;
                let data = recv.read_to_end(SIZE).await?;
                send.write_all(&data).await?;
                send.finish()?;
                connection.closed().await;
                anyhow::Ok(())
            });
        }
    });
    Ok((endpoint, fingerprint))
}

async fn connect(addr: SocketAddr, pin: tls::Fingerprint) -> anyhow::Result<quinn::Connection> {
    let verifier = Arc::new(ServerVerifier::new(Some(pin), &Roots::None)?);
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls::client_config(
        verifier,
        vec![ALPN.to_vec()],
    )?)?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(Arc::new(quicq_common::socket::transport(
        quicq_common::socket::Windows::CLIENT,
        quicq_common::congestion::Congestion::default(),
    )));
    let endpoint = jumbo_endpoint(None)?;
    Ok(endpoint.connect_with(config, addr, "localhost")?.await?)
}

#[tokio::test]
async fn quic_stream_survives_a_lossy_path_byte_for_byte() -> anyhow::Result<()> {
    let (server, pin) = echo_server()?;
    let path = Impairment {
        jitter: Duration::from_millis(2),
        reorder: 0.01,
        duplicate: 0.01,
        ..Impairment::internet(Duration::from_millis(10), 0.05, 100_000_000)
    };
    let proxy = Proxy::start(server.local_addr()?, PathConfig::symmetric(path, 7))?;
    let connection = connect(proxy.local_addr(), pin).await?;

    let data: Vec<u8> = (0..SIZE).map(|i| (i * 7 % 251) as u8).collect();
    let (mut send, mut recv) = connection.open_bi().await?;
    send.write_all(&data).await?;
    send.finish()?;
    let echoed = recv.read_to_end(SIZE).await?;
    assert!(echoed == data, "the echo differs");

    let stats = proxy.stats()?;
    assert!(stats.up.dropped_loss > 0 && stats.down.dropped_loss > 0, "{stats:?}");
    assert!(connection.stats().path.lost_packets > 0);
    // Probes above the path MTU were dropped and discovery settled below it.
    assert!(connection.stats().path.current_mtu <= 1472, "{:?}", connection.stats().path);
    assert!(stats.up.dropped_mtu + stats.down.dropped_mtu > 0, "{stats:?}");
    connection.close(0u32.into(), b"done");
    Ok(())
}
