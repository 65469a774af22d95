//! Speaking the protocol by hand, for workloads that need many cheap connections or
//! misbehaving ones: a client config pinning the server's certificate, and `hello`.

use std::net::SocketAddr;
use std::sync::Arc;

use quicq_common::Fingerprint;
use quicq_common::frame::{read_frame, write_frame};
use quicq_common::protocol::{ALPN, ClientFrame, PROTOCOL_VERSION, ServerFrame};
use quicq_common::tls::{self, Roots, ServerVerifier};

use crate::server::ServerProcess;

/// The server's address, and a client config that pins its certificate (with `transport`, or
/// quinn's defaults).
pub fn client_config(
    server: &ServerProcess,
    transport: Option<quinn::TransportConfig>,
) -> anyhow::Result<(SocketAddr, quinn::ClientConfig)> {
    let fingerprint = server.link.fingerprint.ok_or_else(|| anyhow::anyhow!("no fingerprint"))?;
    let mut config = pinned(fingerprint)?;
    if let Some(transport) = transport {
        config.transport_config(Arc::new(transport));
    }
    Ok((server.addr()?, config))
}

/// A client config that trusts only the certificate with `fingerprint`, offering QuicQ's ALPN.
pub fn pinned(fingerprint: Fingerprint) -> anyhow::Result<quinn::ClientConfig> {
    let verifier = Arc::new(ServerVerifier::new(Some(fingerprint), &Roots::None)?);
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls::client_config(
        verifier,
        vec![ALPN.to_vec()],
    )?)?;
    Ok(quinn::ClientConfig::new(Arc::new(crypto)))
}

/// A client endpoint on `bind` using `config` for its connections.
pub fn endpoint(bind: SocketAddr, config: &quinn::ClientConfig) -> anyhow::Result<quinn::Endpoint> {
    let mut endpoint = quinn::Endpoint::client(bind)?;
    endpoint.set_default_client_config(config.clone());
    Ok(endpoint)
}

/// Opens the control stream and sends `hello`; returns the stream and the server's answer.
pub async fn hello(
    conn: &quinn::Connection,
    nickname: &str,
    password: &str,
) -> anyhow::Result<(quinn::SendStream, quinn::RecvStream, Option<ServerFrame>)> {
    let (mut send, mut recv) = conn.open_bi().await?;
    let hello = ClientFrame::Hello {
        version: PROTOCOL_VERSION,
        nickname: nickname.into(),
        password: password.into(),
        client: "quicq-bench".into(),
        resume_after: None,
        device: None,
        invite: None,
    };
    write_frame(&mut send, &hello).await?;
    let answer = read_frame::<ServerFrame, _>(&mut recv).await?;
    Ok((send, recv, answer))
}
