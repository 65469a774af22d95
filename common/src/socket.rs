//! UDP sockets for QUIC endpoints. Default socket buffers (about 208 KiB on Linux) overflow on a
//! fast link, and every dropped datagram costs QUIC a loss-recovery round and a smaller
//! congestion window; both sides ask for larger ones. The kernel caps the request at
//! `net.core.rmem_max` / `wmem_max` (see docs/deploy.md).

use std::net::{SocketAddr, UdpSocket};

/// The largest UDP payload QUIC's MTU discovery may probe for. Quinn stops at 1452 by default;
/// jumbo-frame LANs and loopback carry 9000, and each packet has a fixed cost, so larger packets
/// mean less CPU per byte there. On ordinary 1500-byte paths the probes fail and nothing changes.
pub const MAX_UDP_PAYLOAD: u16 = 9000;

/// Buffer size requested for each direction.
pub const BUFFER_BYTES: usize = 8 << 20;

/// Binds a UDP socket and asks for [`BUFFER_BYTES`] of send and receive buffer; a smaller grant
/// is not an error.
pub fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = UdpSocket::bind(addr)?;
    let sock = socket2::SockRef::from(&socket);
    let _ = sock.set_recv_buffer_size(BUFFER_BYTES);
    let _ = sock.set_send_buffer_size(BUFFER_BYTES);
    Ok(socket)
}

#[cfg(test)]
mod tests {
    #[test]
    fn asks_for_larger_buffers_than_the_default() {
        let socket = super::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let granted = socket2::SockRef::from(&socket).recv_buffer_size().unwrap();
        // Linux reports double the request, capped by rmem_max; either way above the default.
        assert!(granted > 212_992, "granted {granted}");
    }
}
