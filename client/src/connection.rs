//! One connection attempt: resolve, QUIC + TLS with the trust decision, then `hello`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use quicq_common::frame::{FrameError, read_frame, write_frame};
use quicq_common::protocol::{
    ClientFrame, ErrorCode, GroupInfo, Limits, PROTOCOL_VERSION, ServerFrame,
};
use quicq_common::socket::Windows;
use quicq_common::tls::{self, Roots, ServerVerifier, TlsError};
use quicq_common::{Fingerprint, JoinLink};
use rustls::AlertDescription;

pub use crate::config::{ClientConfig, Credentials, DEFAULT_ALPN};
use crate::trust::{Decision, Trust};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long each address gets when a link names several, before the next is tried.
const NEXT_NODE_TIMEOUT: Duration = Duration::from_secs(3);
/// A packet at least this often keeps the connection (and the NAT mappings on its path, which
/// common home routers drop after 30 s of UDP silence) alive.
pub const KEEP_ALIVE: Duration = Duration::from_secs(3);
/// No packet from the server for this long: it is gone, and the client says so and reconnects.
/// Long enough for two lost keep-alives and their retransmissions on a lossy path.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(8);

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot resolve {host}: {source}")]
    Resolve { host: String, source: std::io::Error },
    #[error("{0} has no address")]
    NoAddress(String),
    #[error(
        "the server at {authority} is not known yet; its certificate fingerprint is\n  {}\nCheck it with the server's operator before trusting it",
        .fingerprint.pretty()
    )]
    UnknownServer { authority: String, fingerprint: Fingerprint },
    #[error(
        "WARNING: THE CERTIFICATE OF {authority} HAS CHANGED!\n\
         Someone may be intercepting your connection, or the server's certificate was replaced.\n\
         Expected fingerprint {}\n\
         The server presented {}\n\
         Refusing to connect. If the operator confirms the change, delete the line for {authority} in {}",
        .expected.pretty(), .presented.pretty(), .file.display()
    )]
    FingerprintChanged {
        authority: String,
        expected: Fingerprint,
        presented: Fingerprint,
        file: PathBuf,
    },
    #[error(
        "the server's certificate does not match the given fingerprint\n  expected {}\n  presented {}",
        .expected.pretty(), .presented.pretty()
    )]
    FingerprintMismatch { expected: Fingerprint, presented: Fingerprint },
    #[error("the server's certificate is not trusted: {0}")]
    Untrusted(String),
    #[error("the server does not speak QuicQ protocol quicq/1 (TLS application protocol mismatch)")]
    WrongProtocol,
    #[error("cannot reach {authority}: {reason}")]
    Unreachable { authority: String, reason: String },
    #[error("the server refused the login: {message} ({code})")]
    Refused { code: ErrorCode, message: String },
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("tls: {0}")]
    Tls(#[from] TlsError),
    #[error("known-servers file: {0}")]
    KnownServers(std::io::Error),
}

impl ConnectError {
    /// Errors that will not go away by trying again (bad password, untrusted server…).
    pub fn is_permanent(&self) -> bool {
        match self {
            ConnectError::Unreachable { .. }
            | ConnectError::Resolve { .. }
            | ConnectError::NoAddress(_)
            | ConnectError::Protocol(_) => false,
            ConnectError::Refused { code, .. } => {
                // A sign-in throttled after wrong passwords passes once the wait is over.
                !matches!(
                    code,
                    ErrorCode::Internal | ErrorCode::ShuttingDown | ErrorCode::RateLimited
                )
            }
            _ => true,
        }
    }
}

/// What the server said in `welcome`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    pub you: String,
    pub server: String,
    pub registered: bool,
    pub groups: Vec<GroupInfo>,
    pub limits: Limits,
    /// Whether this account shares read receipts (and sees others'); changed with the
    /// client's `set_receipts`.
    pub receipts: bool,
}

/// A logged-in connection.
pub(crate) struct Live {
    pub conn: quinn::Connection,
    pub control_send: quinn::SendStream,
    pub control_recv: quinn::RecvStream,
    pub welcome: Welcome,
}

/// Makes a client endpoint for the address family of `server`.
pub(crate) fn endpoint_for(server: SocketAddr) -> std::io::Result<quinn::Endpoint> {
    let bind: SocketAddr = if server.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" }
        .parse()
        .expect("literal socket address");
    quicq_common::socket::endpoint(bind, None)
}

/// The first address of the link's first node that resolves: it decides the client socket's
/// address family.
pub(crate) async fn resolve(link: &JoinLink) -> Result<SocketAddr, ConnectError> {
    let mut first_error = None;
    for (host, port) in link.addresses() {
        match resolve_one(host, port).await {
            Ok(addrs) if !addrs.is_empty() => return Ok(addrs[0]),
            Ok(_) => first_error = first_error.or(Some(ConnectError::NoAddress(host.to_owned()))),
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    Err(first_error.unwrap_or_else(|| ConnectError::NoAddress(link.host.clone())))
}

async fn resolve_one(host: &str, port: u16) -> Result<Vec<SocketAddr>, ConnectError> {
    let addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|source| ConnectError::Resolve { host: host.to_owned(), source })?;
    Ok(addrs.collect())
}

/// Every address to try, in the link's order, of the family `endpoint` can reach: each node's
/// name may resolve to several (DNS with several records), and a link may name several nodes.
async fn candidates(endpoint: &quinn::Endpoint, link: &JoinLink) -> Vec<(SocketAddr, String)> {
    let v6 = endpoint.local_addr().is_ok_and(|a| a.is_ipv6());
    let mut out = Vec::new();
    for (host, port) in link.addresses() {
        if let Ok(addrs) = resolve_one(host, port).await {
            out.extend(
                addrs.into_iter().filter(|a| v6 || a.is_ipv4()).map(|a| (a, host.to_owned())),
            );
        }
    }
    out
}

/// Connects and logs in once, trusting the server as `trust` says (normally `config.trust`).
pub(crate) async fn connect_once(
    endpoint: &quinn::Endpoint,
    config: &ClientConfig,
    trust: &Trust,
    resume_after: Option<u64>,
) -> Result<Live, ConnectError> {
    let link = &config.server;
    let alpn = &config.alpn;
    let authority = link.authority();
    let candidates = candidates(endpoint, link).await;
    if candidates.is_empty() {
        // Resolve again only for its error (no address at all, or of the wrong family).
        resolve(link).await?;
        return Err(ConnectError::NoAddress(link.host.clone()));
    }
    let mut trust = trust.clone();
    if link.fingerprint.is_some() {
        trust.fingerprint = link.fingerprint;
    }
    let decision = trust.decide(&authority).map_err(ConnectError::KnownServers)?;
    let verifier = Arc::new(ServerVerifier::new(decision.pin, &decision.roots)?);
    let crypto = tls::client_config(verifier.clone(), vec![alpn.to_vec()])?;
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(crypto)
        .map_err(|e| ConnectError::Protocol(e.to_string()))?;
    let mut quic_config = quinn::ClientConfig::new(Arc::new(quic));
    let mut transport = quicq_common::socket::transport(Windows::CLIENT, config.congestion);
    transport
        .keep_alive_interval(Some(KEEP_ALIVE))
        .max_idle_timeout(Some(IDLE_TIMEOUT.try_into().expect("8 s fits")))
        .max_concurrent_bidi_streams(0u32.into())
        .max_concurrent_uni_streams(1024u32.into());
    quic_config.transport_config(Arc::new(transport));

    // With several addresses (a cluster's nodes), one that is down must not hold up the rest.
    let wait = if candidates.len() > 1 { NEXT_NODE_TIMEOUT } else { CONNECT_TIMEOUT };
    let mut unreachable = None;
    for (addr, host) in candidates {
        let reached = match endpoint.connect_with(quic_config.clone(), addr, &host) {
            Ok(connecting) => tokio::time::timeout(wait, connecting).await,
            Err(e) => {
                let reason = format!("{addr}: {e}");
                unreachable =
                    Some(ConnectError::Unreachable { authority: authority.clone(), reason });
                continue;
            }
        };
        let conn = match reached {
            Ok(Ok(conn)) => conn,
            Err(_) => {
                let reason = format!("no answer from {addr} within {} s", wait.as_secs());
                unreachable =
                    Some(ConnectError::Unreachable { authority: authority.clone(), reason });
                continue;
            }
            Ok(Err(err)) => {
                let e = explain_handshake_failure(err, verifier.presented(), &decision, &authority);
                if matches!(e, ConnectError::Unreachable { .. }) {
                    unreachable = Some(e);
                    continue;
                }
                return Err(e);
            }
        };
        if let Some(presented) = verifier.presented() {
            // A pin given on the command line or in a link is remembered for next time.
            if decision.pinned_by_file.is_none() && decision.pin.is_some() {
                trust.remember(&authority, presented).map_err(ConnectError::KnownServers)?;
            }
        }
        return hello(conn, config, resume_after).await;
    }
    Err(unreachable.unwrap_or(ConnectError::NoAddress(link.host.clone())))
}

/// Names a failed handshake from quinn's typed error: a TLS alert arrives as transport error
/// code `0x100 + alert`, raised locally when our verifier refused the certificate, or sent by
/// the server when it refused our ALPN. `presented` is the certificate the verifier saw.
fn explain_handshake_failure(
    err: quinn::ConnectionError,
    presented: Option<Fingerprint>,
    decision: &Decision,
    authority: &str,
) -> ConnectError {
    if let Some(presented) = presented {
        match (decision.pin, &decision.pinned_by_file) {
            (Some(expected), Some(file)) if expected != presented => {
                return ConnectError::FingerprintChanged {
                    authority: authority.to_owned(),
                    expected,
                    presented,
                    file: file.clone(),
                };
            }
            (Some(expected), None) if expected != presented => {
                return ConnectError::FingerprintMismatch { expected, presented };
            }
            (None, _) if local_alert(&err).is_some_and(is_certificate_alert) => {
                return match decision.roots {
                    Roots::File(_) => ConnectError::Untrusted(err.to_string()),
                    _ => ConnectError::UnknownServer {
                        authority: authority.to_owned(),
                        fingerprint: presented,
                    },
                };
            }
            _ => {}
        }
    }
    if alert(&err) == Some(AlertDescription::NoApplicationProtocol) {
        return ConnectError::WrongProtocol;
    }
    ConnectError::Unreachable { authority: authority.to_owned(), reason: err.to_string() }
}

/// The TLS alert of a transport error code, if it is one (RFC 9001 §4.8).
fn alert_of(code: quinn::TransportErrorCode) -> Option<AlertDescription> {
    let code = u64::from(code);
    (0x100..0x200).contains(&code).then(|| AlertDescription::from((code & 0xff) as u8))
}

/// The TLS alert this side raised, ending the handshake.
fn local_alert(err: &quinn::ConnectionError) -> Option<AlertDescription> {
    match err {
        quinn::ConnectionError::TransportError(e) => alert_of(e.code),
        _ => None,
    }
}

/// The TLS alert that ended the handshake, raised by either side.
fn alert(err: &quinn::ConnectionError) -> Option<AlertDescription> {
    match err {
        quinn::ConnectionError::ConnectionClosed(close) => alert_of(close.error_code),
        other => local_alert(other),
    }
}

/// Alerts rustls raises when a certificate is refused (its mapping of `CertificateError`;
/// `decrypt_error` is a bad signature).
fn is_certificate_alert(alert: AlertDescription) -> bool {
    use AlertDescription as A;
    matches!(
        alert,
        A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::UnknownCA
            | A::AccessDenied
            | A::DecryptError
            | A::BadCertificateStatusResponse
            | A::CertificateRequired
    )
}

async fn hello(
    conn: quinn::Connection,
    config: &ClientConfig,
    resume_after: Option<u64>,
) -> Result<Live, ConnectError> {
    let credentials = &config.credentials;
    let protocol = |e: &dyn std::fmt::Display| ConnectError::Protocol(e.to_string());
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| protocol(&e))?;
    let hello = ClientFrame::Hello {
        version: PROTOCOL_VERSION,
        nickname: credentials.nickname.clone(),
        password: credentials.password.clone(),
        client: config.client_name.clone(),
        resume_after,
        device: config.device.clone(),
        // From the join link; the server uses it only to register a free nickname.
        invite: config.server.invite.clone(),
    };
    write_frame(&mut send, &hello).await.map_err(|e| protocol(&e))?;
    let answer = tokio::time::timeout(CONNECT_TIMEOUT, read_frame::<ServerFrame, _>(&mut recv))
        .await
        .map_err(|_| ConnectError::Protocol("no welcome within 10 s".into()))?;
    match answer {
        Ok(Some(ServerFrame::Welcome { you, server, registered, groups, limits, receipts })) => {
            Ok(Live {
                conn,
                control_send: send,
                control_recv: recv,
                welcome: Welcome { you, server, registered, groups, limits, receipts },
            })
        }
        Ok(Some(ServerFrame::Error { code, message, .. })) => {
            conn.close(0u32.into(), b"");
            Err(ConnectError::Refused { code, message })
        }
        Ok(Some(other)) => Err(ConnectError::Protocol(format!("expected welcome, got {other:?}"))),
        Ok(None) => Err(ConnectError::Protocol("server closed the control stream".into())),
        Err(FrameError::Io(e)) => Err(ConnectError::Protocol(match conn.close_reason() {
            Some(reason) => reason.to_string(),
            None => e.to_string(),
        })),
        Err(e) => Err(protocol(&e)),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use quinn::{ConnectionClose, ConnectionError, TransportErrorCode};

    use super::*;

    const A: Fingerprint = Fingerprint([1; 32]);
    const B: Fingerprint = Fingerprint([2; 32]);

    fn local(alert: AlertDescription) -> ConnectionError {
        ConnectionError::TransportError(TransportErrorCode::crypto(alert.into()).into())
    }

    fn from_server(alert: AlertDescription) -> ConnectionError {
        ConnectionError::ConnectionClosed(ConnectionClose {
            error_code: TransportErrorCode::crypto(alert.into()),
            frame_type: None,
            reason: Default::default(),
        })
    }

    fn decision(pin: Option<Fingerprint>, file: Option<&str>, roots: Roots) -> Decision {
        Decision { pin, pinned_by_file: file.map(PathBuf::from), roots }
    }

    fn name(e: &ConnectError) -> &'static str {
        match e {
            ConnectError::FingerprintChanged { .. } => "changed",
            ConnectError::FingerprintMismatch { .. } => "mismatch",
            ConnectError::UnknownServer { .. } => "unknown",
            ConnectError::Untrusted(_) => "untrusted",
            ConnectError::WrongProtocol => "wrong protocol",
            ConnectError::Unreachable { .. } => "unreachable",
            _ => "other",
        }
    }

    #[test]
    fn handshake_failures_are_named_from_typed_errors() {
        use AlertDescription as Alert;
        let ca = || Roots::File(PathBuf::from("ca.pem"));
        let cases = [
            // A remembered pin the server no longer matches.
            (
                local(Alert::UnknownCA),
                Some(B),
                decision(Some(A), Some("ks"), Roots::None),
                "changed",
            ),
            // A pin from a link or flag.
            (local(Alert::UnknownCA), Some(B), decision(Some(A), None, Roots::None), "mismatch"),
            // No pin: our verifier refused the certificate.
            (local(Alert::UnknownCA), Some(B), decision(None, None, Roots::System), "unknown"),
            (local(Alert::BadCertificate), Some(B), decision(None, None, Roots::None), "unknown"),
            (local(Alert::CertificateExpired), Some(B), decision(None, None, ca()), "untrusted"),
            (local(Alert::DecryptError), Some(B), decision(None, None, ca()), "untrusted"),
            // The server refused our application protocol (alert 120), sent or raised.
            (
                from_server(Alert::NoApplicationProtocol),
                None,
                decision(None, None, Roots::None),
                "wrong protocol",
            ),
            (
                local(Alert::NoApplicationProtocol),
                None,
                decision(None, None, Roots::None),
                "wrong protocol",
            ),
            // A certificate alert the server sent is not our verifier's verdict.
            (
                from_server(Alert::BadCertificate),
                Some(B),
                decision(None, None, Roots::None),
                "unreachable",
            ),
            // Not TLS at all.
            (ConnectionError::TimedOut, None, decision(None, None, Roots::None), "unreachable"),
            (
                ConnectionError::TimedOut,
                Some(A),
                decision(Some(A), None, Roots::None),
                "unreachable",
            ),
            (
                ConnectionError::TransportError(TransportErrorCode::PROTOCOL_VIOLATION.into()),
                Some(B),
                decision(None, None, Roots::None),
                "unreachable",
            ),
        ];
        for (err, presented, decision, want) in cases {
            let shown = format!("{err:?} presented {presented:?} with {decision:?}");
            let got = explain_handshake_failure(err, presented, &decision, "h:1");
            assert_eq!(name(&got), want, "{shown}");
        }
    }

    #[test]
    fn only_failures_that_may_pass_are_retried() {
        let refused = |code| ConnectError::Refused { code, message: String::new() };
        let unreachable = ConnectError::Unreachable { authority: "h:1".into(), reason: "x".into() };
        let cases = [
            (unreachable, false),
            (ConnectError::NoAddress("h".into()), false),
            (ConnectError::Protocol("x".into()), false),
            (refused(ErrorCode::Internal), false),
            (refused(ErrorCode::ShuttingDown), false),
            (refused(ErrorCode::RateLimited), false),
            (refused(ErrorCode::WrongPassword), true),
            (ConnectError::WrongProtocol, true),
            (ConnectError::Untrusted("x".into()), true),
            (ConnectError::UnknownServer { authority: "h:1".into(), fingerprint: A }, true),
            (ConnectError::FingerprintMismatch { expected: A, presented: B }, true),
        ];
        for (err, permanent) in cases {
            assert_eq!(err.is_permanent(), permanent, "{err:?}");
        }
    }
}
