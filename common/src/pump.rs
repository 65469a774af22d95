//! The one loop that moves a file from a QUIC stream to disk, the same for the server receiving
//! an upload and the client receiving a download: blocks are read on the async side and handed
//! to a [`FileSink`] writer thread, so a slow disk slows the stream instead of filling memory.
//!
//! The pump only moves bytes and says how the stream ended; what an ending means (resume, fail,
//! which code to report) is each side's own rule.

use std::io;

use tokio_util::sync::CancellationToken;

use crate::file_sink::FileSink;

/// Bytes per stream read handed to the writer as one block.
pub const BLOCK: usize = 256 * 1024;
/// Blocks waiting for the writer thread; the reader pauses when they are all taken.
pub const QUEUED_BLOCKS: usize = 4;

/// Why the pump stopped reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The sender finished the stream (FIN) without exceeding `remaining`. Fewer bytes than
    /// expected is still `Finished`: the writer's length tells.
    Finished,
    /// The sender reset the stream with this application error code.
    Reset(u64),
    /// The stream became unreadable for another reason, normally the connection was lost; what
    /// arrived is written, so the transfer can resume from there.
    Lost(quinn::ReadError),
    /// The cancellation token fired.
    Cancelled,
    /// More than `remaining` bytes arrived. Reading stopped at that read, and the block holding
    /// the excess was not written. The stream is left as it is: the caller decides how to stop it.
    TooLong,
    /// The writer thread took no more blocks; its error is in [`Pumped::written`].
    WriterFailed,
}

/// What one call of [`pump`] did.
#[derive(Debug)]
pub struct Pumped {
    pub end: End,
    /// Bytes read from the stream and handed to the writer by this call.
    pub received: u64,
    /// The writer's result: the file's whole length (from its start, not from this call's
    /// offset) and its BLAKE3 hash in lowercase hex, or the first write error.
    pub written: io::Result<(u64, String)>,
}

/// Copies `recv` into `sink` until the stream ends, `remaining` is exceeded, the token fires or
/// the writer fails; then waits for the writer to finish and returns both results.
///
/// - `sink` is opened by the caller (at the resume offset) and runs on its own thread via
///   [`FileSink::spawn`], which calls `after_each` after every block, on that thread.
/// - `remaining` is how many more bytes the stream may carry; one byte more ends the pump at the
///   read that brought it ([`End::TooLong`]).
/// - `progress` runs on the async side after each block is handed to the writer, with the
///   bytes received so far by this call.
///
/// Every byte within `remaining` that was read is written, whatever the ending (except
/// [`End::TooLong`]): a resumed transfer may keep it. The stream is never stopped here.
pub async fn pump<F, P>(
    recv: &mut quinn::RecvStream,
    sink: FileSink,
    after_each: F,
    remaining: u64,
    cancel: &CancellationToken,
    mut progress: P,
) -> Pumped
where
    F: FnMut(&mut FileSink) -> io::Result<()> + Send + 'static,
    P: FnMut(u64),
{
    let (tx, writer) = sink.spawn(QUEUED_BLOCKS, after_each);
    let mut received = 0u64;
    let end = loop {
        let mut block = vec![0u8; BLOCK];
        let mut filled = 0;
        let stop = loop {
            if filled == BLOCK {
                break None;
            }
            let read = tokio::select! {
                biased;
                () = cancel.cancelled() => break Some(End::Cancelled),
                r = recv.read(&mut block[filled..]) => r,
            };
            match classify_read(read, received + filled as u64, remaining) {
                Ok(n) => filled += n,
                Err(end) => break Some(end),
            }
        };
        if filled > 0 && stop != Some(End::TooLong) {
            block.truncate(filled);
            if tx.send(block).await.is_err() {
                break End::WriterFailed;
            }
            received += filled as u64;
            progress(received);
        }
        if let Some(end) = stop {
            break end;
        }
    };
    drop(tx);
    let written = match writer.await {
        Ok(result) => result,
        Err(_) => Err(io::Error::other("the file writer thread stopped")),
    };
    Pumped { end, received, written }
}

/// What one stream read means: `Ok(n)` to keep reading, or why the pump ends. `received` is
/// what this pump has accepted before the read.
pub fn classify_read(
    read: Result<Option<usize>, quinn::ReadError>,
    received: u64,
    remaining: u64,
) -> Result<usize, End> {
    match read {
        Ok(Some(n)) if received.checked_add(n as u64).is_none_or(|total| total > remaining) => {
            Err(End::TooLong)
        }
        Ok(Some(n)) => Ok(n),
        Ok(None) => Err(End::Finished),
        Err(quinn::ReadError::Reset(code)) => Err(End::Reset(code.into_inner())),
        Err(other) => Err(End::Lost(other)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::tls::{self, Identity, Roots, ServerVerifier};

    #[test]
    fn each_read_is_classified() {
        use quinn::{ConnectionError, ReadError, VarInt};
        let lost = ReadError::ConnectionLost(ConnectionError::TimedOut);
        type Read = Result<Option<usize>, ReadError>;
        let cases: Vec<(Read, u64, u64, Result<usize, End>)> = vec![
            (Ok(Some(10)), 0, 100, Ok(10)),
            (Ok(Some(10)), 90, 100, Ok(10)), // exactly up to the limit
            (Ok(Some(11)), 90, 100, Err(End::TooLong)), // one byte over
            (Ok(Some(1)), 0, 0, Err(End::TooLong)), // nothing was expected
            (Ok(Some(1)), u64::MAX, u64::MAX, Err(End::TooLong)), // no overflow
            (Ok(None), 0, 100, Err(End::Finished)), // short: the length tells
            (Ok(None), 100, 100, Err(End::Finished)),
            (Err(ReadError::Reset(VarInt::from_u32(7))), 5, 100, Err(End::Reset(7))),
            (Err(lost.clone()), 5, 100, Err(End::Lost(lost))),
            (Err(ReadError::ClosedStream), 5, 100, Err(End::Lost(ReadError::ClosedStream))),
        ];
        for (read, received, remaining, want) in cases {
            let shown = format!("{read:?} after {received} of {remaining}");
            assert_eq!(classify_read(read, received, remaining), want, "{shown}");
        }
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 253) as u8).collect()
    }

    /// A server and a client on 127.0.0.1 with the server's self-signed certificate pinned.
    struct Pair {
        client: quinn::Connection,
        server: quinn::Connection,
        _endpoints: (quinn::Endpoint, quinn::Endpoint),
        _dir: tempfile::TempDir,
    }

    async fn pair() -> Pair {
        let dir = tempfile::tempdir().unwrap();
        let (identity, _) = Identity::load_or_create(dir.path(), &["localhost".into()]).unwrap();
        let fingerprint = identity.fingerprint();
        let crypto = tls::server_config(identity).unwrap();
        let quic = quinn::crypto::rustls::QuicServerConfig::try_from(crypto).unwrap();
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let server_ep =
            quinn::Endpoint::server(quinn::ServerConfig::with_crypto(Arc::new(quic)), any).unwrap();
        let verifier = Arc::new(ServerVerifier::new(Some(fingerprint), &Roots::None).unwrap());
        let crypto = tls::client_config(verifier, vec![crate::protocol::ALPN.to_vec()]).unwrap();
        let quic = quinn::crypto::rustls::QuicClientConfig::try_from(crypto).unwrap();
        let mut client_ep = quinn::Endpoint::client(any).unwrap();
        client_ep.set_default_client_config(quinn::ClientConfig::new(Arc::new(quic)));
        let addr = server_ep.local_addr().unwrap();
        let (client, server) = tokio::join!(
            async { client_ep.connect(addr, "localhost").unwrap().await.unwrap() },
            async { server_ep.accept().await.unwrap().await.unwrap() },
        );
        Pair { client, server, _endpoints: (client_ep, server_ep), _dir: dir }
    }

    /// Sends `bytes` on a new stream from the client, ending it as `end` says, and pumps it into
    /// a fresh file on the server side that already holds `prefix`.
    async fn pump_bytes(
        pair: &Pair,
        prefix: &[u8],
        bytes: Vec<u8>,
        remaining: u64,
        end: &'static str,
        cancel: &CancellationToken,
    ) -> (Pumped, Vec<u8>, u64, u64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, prefix).unwrap();
        let mut send = pair.client.open_uni().await.unwrap();
        let sender = tokio::spawn(async move {
            let _ = send.write_all(&bytes).await;
            match end {
                "fin" => {
                    let _ = send.finish();
                    let _ = send.stopped().await;
                }
                "reset" => {
                    // Bytes first, then the reset, so it does not overtake them.
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    let _ = send.reset(quinn::VarInt::from_u32(9));
                }
                _ => {
                    let _ = send.stopped().await;
                }
            }
        });
        let mut recv = pair.server.accept_uni().await.unwrap();
        let sink = FileSink::open(&path, prefix.len() as u64).unwrap();
        let blocks = Arc::new(AtomicU64::new(0));
        let b = blocks.clone();
        let mut last = 0;
        let pumped = pump(
            &mut recv,
            sink,
            move |_| {
                b.fetch_add(1, Ordering::Relaxed);
                Ok(())
            },
            remaining,
            cancel,
            |so_far| last = so_far,
        )
        .await;
        if end == "open" {
            let _ = recv.stop(quinn::VarInt::from_u32(0));
        }
        let _ = sender.await;
        (pumped, std::fs::read(&path).unwrap(), blocks.load(Ordering::Relaxed), last)
    }

    #[tokio::test]
    async fn a_finished_stream_is_written_whole_after_the_resumed_prefix() {
        let pair = pair().await;
        let bytes = data(3 * BLOCK + 1234);
        let prefix = b"already here";
        let n = bytes.len() as u64;
        let cancel = CancellationToken::new();
        let (p, file, blocks, last) =
            pump_bytes(&pair, prefix, bytes.clone(), n, "fin", &cancel).await;
        assert_eq!(p.end, End::Finished);
        assert_eq!(p.received, n);
        assert_eq!(last, n, "progress saw every byte");
        assert!(blocks >= 4, "{blocks} blocks");
        let mut whole = prefix.to_vec();
        whole.extend_from_slice(&bytes);
        let (len, hash) = p.written.unwrap();
        assert_eq!(len, whole.len() as u64);
        assert_eq!(hash, blake3::hash(&whole).to_hex().to_string());
        assert_eq!(file, whole);
    }

    #[tokio::test]
    async fn one_byte_too_many_stops_the_pump_at_once_and_writes_nothing_past_the_limit() {
        let pair = pair().await;
        let bytes = data(1000);
        let cancel = CancellationToken::new();
        // The sender never finishes: the pump must not wait for FIN to notice.
        let (p, file, _, _) = pump_bytes(&pair, b"", bytes, 999, "open", &cancel).await;
        assert_eq!(p.end, End::TooLong);
        assert_eq!(p.received, 0);
        assert!(file.len() <= 999, "{} bytes written", file.len());
        assert!(p.written.is_ok());
    }

    #[tokio::test]
    async fn a_reset_reports_its_code_and_keeps_what_arrived() {
        let pair = pair().await;
        let bytes = data(5000);
        let cancel = CancellationToken::new();
        let (p, file, _, _) = pump_bytes(&pair, b"", bytes.clone(), 10_000, "reset", &cancel).await;
        assert_eq!(p.end, End::Reset(9));
        assert_eq!(file, bytes[..p.received as usize]);
        assert_eq!(p.written.unwrap().0, p.received);
    }

    #[tokio::test]
    async fn cancelling_ends_the_pump_and_the_writer_still_finishes() {
        let pair = pair().await;
        let cancel = CancellationToken::new();
        cancel.cancel();
        let (p, file, _, _) = pump_bytes(&pair, b"x", data(100), 10_000, "open", &cancel).await;
        assert_eq!(p.end, End::Cancelled);
        assert_eq!(p.written.unwrap().0, 1 + p.received);
        assert_eq!(file.len() as u64, 1 + p.received);
    }

    #[tokio::test]
    async fn a_lost_connection_is_told_apart_from_a_reset() {
        let pair = pair().await;
        let mut send = pair.client.open_uni().await.unwrap();
        send.write_all(b"some bytes").await.unwrap();
        let mut recv = pair.server.accept_uni().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::open(&dir.path().join("f"), 0).unwrap();
        let client = pair.client.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            client.close(quinn::VarInt::from_u32(3), b"gone");
        });
        let cancel = CancellationToken::new();
        let p = pump(&mut recv, sink, |_| Ok(()), 1 << 20, &cancel, |_| {}).await;
        assert!(matches!(p.end, End::Lost(quinn::ReadError::ConnectionLost(_))), "{:?}", p.end);
        assert_eq!(p.received, 10);
        assert_eq!(p.written.unwrap().0, 10);
    }

    #[tokio::test]
    async fn a_failing_writer_ends_the_pump_with_its_error() {
        let pair = pair().await;
        let cancel = CancellationToken::new();
        let mut send = pair.client.open_uni().await.unwrap();
        let bytes = data(2 * BLOCK * QUEUED_BLOCKS);
        tokio::spawn(async move {
            let _ = send.write_all(&bytes).await;
            let _ = send.finish();
        });
        let mut recv = pair.server.accept_uni().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::open(&dir.path().join("f"), 0).unwrap();
        let p = pump(
            &mut recv,
            sink,
            |_| Err(io::Error::other("disk full")),
            u64::MAX,
            &cancel,
            |_| {},
        )
        .await;
        assert_eq!(p.end, End::WriterFailed);
        assert_eq!(p.written.unwrap_err().to_string(), "disk full");
    }
}
