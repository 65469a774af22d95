//! QUIC endpoints and the transport settings every QuicQ endpoint shares. Default socket buffers (about 208 KiB on Linux) overflow on a
//! fast link, and every dropped datagram costs QUIC a loss-recovery round and a smaller
//! congestion window; both sides ask for larger ones. The kernel caps the request at
//! `net.core.rmem_max` / `wmem_max` (see docs/deploy.md).

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;

use crate::congestion::Congestion;

/// The largest UDP payload QUIC's MTU discovery may probe for. Quinn stops at 1452 by default;
/// jumbo-frame LANs and loopback carry 9000, and each packet has a fixed cost, so larger packets
/// mean less CPU per byte there. On ordinary 1500-byte paths the probes fail and nothing changes.
pub const MAX_UDP_PAYLOAD: u16 = 9000;

/// Buffer size requested for each direction.
pub const BUFFER_BYTES: usize = 8 << 20;

/// Binds a UDP socket and asks for [`BUFFER_BYTES`] of send and receive buffer; a smaller grant
/// is not an error.
///
/// The IPv6 wildcard (`[::]`) binds one dual-stack socket that also receives IPv4 (as mapped
/// addresses), whatever the host's `bindv6only` default; on a host without IPv6 it falls back
/// to the IPv4 wildcard on the same port.
pub fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = match addr {
        SocketAddr::V6(v6) if v6.ip().is_unspecified() => match dual_stack(addr) {
            Ok(socket) => socket,
            Err(e) => {
                let v4 = SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, v6.port()));
                UdpSocket::bind(v4).map_err(|_| e)?
            }
        },
        _ => UdpSocket::bind(addr)?,
    };
    let sock = socket2::SockRef::from(&socket);
    let _ = sock.set_recv_buffer_size(BUFFER_BYTES);
    let _ = sock.set_send_buffer_size(BUFFER_BYTES);
    Ok(socket)
}

fn dual_stack(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_only_v6(false)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// A QUIC endpoint on a [`bind`] socket at `addr`; a server endpoint when `server` is given.
pub fn endpoint(
    addr: SocketAddr,
    server: Option<quinn::ServerConfig>,
) -> std::io::Result<quinn::Endpoint> {
    let socket = bind(addr)?;
    quinn::Endpoint::new(
        endpoint_config(quinn::EndpointConfig::default()),
        server,
        socket,
        Arc::new(quinn::TokioRuntime),
    )
}

/// Lets the peer send datagrams up to [`MAX_UDP_PAYLOAD`]: quinn advertises 1472 by default,
/// which caps the peer's MTU discovery there whatever its upper bound says.
fn endpoint_config(mut config: quinn::EndpointConfig) -> quinn::EndpointConfig {
    config
        .max_udp_payload_size(MAX_UDP_PAYLOAD)
        .expect("9000 is within QUIC's 1200..=65527 payload range");
    config
}

/// A server endpoint whose stateless-reset key and connection-id key are derived from `secret`
/// (the server's private key, so they survive a restart). A server restarted after a crash
/// then recognises the connection ids it handed out before and answers their packets with a
/// stateless reset, so clients notice at once instead of after their idle timeout. With
/// quinn's defaults, new random keys at every start, it drops those packets as foreign.
pub fn server_endpoint(
    addr: SocketAddr,
    server: quinn::ServerConfig,
    secret: &[u8],
) -> std::io::Result<quinn::Endpoint> {
    use sha2::Digest;
    let seed = sha2::Sha256::new()
        .chain_update(b"quicq stateless reset key v1")
        .chain_update(secret)
        .finalize();
    let reset_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &seed);
    let mut cid_key = [0u8; 8];
    cid_key.copy_from_slice(&seed[..8]);
    let cid_key = u64::from_le_bytes(cid_key);
    let mut config = endpoint_config(quinn::EndpointConfig::new(Arc::new(reset_key)));
    config.cid_generator(move || {
        Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key))
    });
    let socket = bind(addr)?;
    quinn::Endpoint::new(config, Some(server), socket, Arc::new(quinn::TokioRuntime))
}

/// Flow-control windows and the congestion controller of one side of a connection.
///
/// A stream's window must cover its path's bandwidth × round trip or the transfer waits for
/// window updates (quinn's default 1.25 MB caps a 50 ms path at 25 MB/s). Windows cost memory
/// only while data waits to be read (receive) or acknowledged (send), so the cost is per busy
/// connection; each side bounds it with `send` and `connection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    /// Receive window of each stream, bytes.
    pub stream: u32,
    /// Receive window of the whole connection, bytes.
    pub connection: u32,
    /// Bytes sent and not yet acknowledged, at most.
    pub send: u32,
}

impl Windows {
    /// A server's default: 16 MiB per stream, 1 Gbit/s at 130 ms or 100 Mbit/s at 1.3 s.
    pub const SERVER: Windows = Windows::for_stream(16 << 20);
    /// A client's: 32 MiB per stream, 1 Gbit/s at 260 ms.
    pub const CLIENT: Windows = Windows::for_stream(32 << 20);

    /// `stream` per stream, twice that for the connection (a file and its resumption, or two
    /// files), the same to send.
    pub const fn for_stream(stream: u32) -> Windows {
        Windows { stream, connection: stream.saturating_mul(2), send: stream }
    }
}

/// Transport settings both sides share: MTU discovery allowed up to [`MAX_UDP_PAYLOAD`], the
/// given windows and congestion controller. Each side adds its own limits and timers.
pub fn transport(windows: Windows, congestion: Congestion) -> quinn::TransportConfig {
    let mut mtu = quinn::MtuDiscoveryConfig::default();
    mtu.upper_bound(MAX_UDP_PAYLOAD);
    let mut transport = quinn::TransportConfig::default();
    transport
        .mtu_discovery_config(Some(mtu))
        .stream_receive_window(windows.stream.into())
        .receive_window(windows.connection.into())
        .send_window(windows.send.into())
        .congestion_controller_factory(congestion.factory());
    transport
}

/// A connection's transport state as one log field, the same for both sides: enough to tell a
/// silent peer from a transport that stalled (flow control, congestion) without a packet capture.
pub struct Figures(pub quinn::ConnectionStats);

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (path, rx, tx) = (&self.0.path, &self.0.frame_rx, &self.0.frame_tx);
        write!(
            f,
            "rtt {} ms, cwnd {}, lost {}; STREAM in {} out {}; MAX_DATA in {} out {}; \
             MAX_STREAM_DATA in {} out {}; DATA_BLOCKED in {} out {}; \
             STREAM_DATA_BLOCKED in {} out {}",
            path.rtt.as_millis(),
            path.cwnd,
            path.lost_packets,
            rx.stream,
            tx.stream,
            rx.max_data,
            tx.max_data,
            rx.max_stream_data,
            tx.max_stream_data,
            rx.data_blocked,
            tx.data_blocked,
            rx.stream_data_blocked,
            tx.stream_data_blocked,
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn transport_figures_name_both_directions() {
        let line = super::Figures(quinn::ConnectionStats::default()).to_string();
        assert!(line.starts_with("rtt 0 ms, cwnd 0, lost 0; STREAM in 0 out 0;"), "{line}");
        assert!(line.ends_with("STREAM_DATA_BLOCKED in 0 out 0"), "{line}");
    }

    #[test]
    fn asks_for_larger_buffers_than_the_default() {
        let socket = super::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let granted = socket2::SockRef::from(&socket).recv_buffer_size().unwrap();
        // Linux reports double the request, capped by rmem_max; either way above the default.
        assert!(granted > 212_992, "granted {granted}");
    }

    #[test]
    fn the_ipv6_wildcard_also_receives_ipv4() {
        let socket = super::bind("[::]:0".parse().unwrap()).unwrap();
        let port = socket.local_addr().unwrap().port();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.send_to(b"ping", ("127.0.0.1", port)).unwrap();
        socket.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 8];
        let (n, _) = socket.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"ping");
    }
}
