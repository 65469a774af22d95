//! Everything a QuicQ server and client must agree on, and the little both do the same way.
//!
//! # Layout
//! - [`protocol`]: the frames of each direction, addresses, error and close codes, every limit.
//! - [`check`]: field checks both ends make (send, client ids, reactions, search, topics,
//!   transfer ids, hashes), with the server's codes.
//! - [`frame`]: length-prefixed JSON framing, pure decode plus async read/write helpers.
//! - [`nickname`]: nickname validation and the comparison key.
//! - [`tls`]: certificates, fingerprints, rustls configs and the client's verifier.
//! - [`link`]: server addresses and `quicq://` join links.
//! - [`socket`]: QUIC endpoints on UDP sockets with large buffers, and shared transport settings.
//! - [`congestion`]: the congestion-controller setting, and QuicQ's own `low-delay` controller.
//! - [`file_sink`]: writing a received file: hashed as it arrives, synced behind the writer.
//! - [`pump`]: the one loop moving a received file from its QUIC stream into a `file_sink`,
//!   used by the server for uploads and by the client for downloads.
//! - [`turns`]: tickets that wait for every earlier one: how one sender's messages keep their
//!   order although each has its own stream.
//! - [`report`]: errors as one line for people; [`text`]: other people's text made safe to
//!   show (file names, terminals).
//!
//! `docs/protocol.md` at the repository root is the normative description of the wire format.

pub mod check;
pub mod congestion;
pub mod file_sink;
pub mod frame;
pub mod link;
pub mod nickname;
pub mod protocol;
pub mod pump;
pub mod report;
pub mod socket;
pub mod text;
pub mod tls;
pub mod turns;

pub use link::JoinLink;
pub use nickname::Nickname;
pub use protocol::{Address, ChatMessage, ClientFrame, ErrorCode, Limits, ServerFrame};
pub use tls::Fingerprint;
