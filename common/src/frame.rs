//! Framing: a 4-byte big-endian length, then that many bytes of one UTF-8 JSON object.
//!
//! Decoding is pure ([`decode`]) and checks the length before allocating anything; the async
//! helpers read exactly one frame and never past it, so a file's raw bytes can follow a header
//! frame on the same stream.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::protocol::{ErrorCode, MAX_FRAME_LEN};

/// Bytes of the length prefix.
pub const HEADER_LEN: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {0} bytes exceeds the limit of {MAX_FRAME_LEN} bytes")]
    TooLarge(usize),
    #[error("stream ended in the middle of a frame")]
    Truncated,
    #[error("frame is not valid JSON: {0}")]
    Malformed(String),
    #[error("unknown frame type {0:?}")]
    UnknownType(String),
    #[error("frame fields are wrong for type {kind:?}: {detail}")]
    BadFields { kind: String, detail: String },
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl FrameError {
    /// The error code to report to the peer.
    pub fn code(&self) -> ErrorCode {
        match self {
            FrameError::TooLarge(_) => ErrorCode::FrameTooLarge,
            FrameError::UnknownType(_) => ErrorCode::UnknownType,
            FrameError::Truncated
            | FrameError::Malformed(_)
            | FrameError::BadFields { .. }
            | FrameError::Io(_) => ErrorCode::MalformedFrame,
        }
    }
}

/// Serialises `frame` with its length prefix.
pub fn encode<T: Serialize>(frame: &T) -> Vec<u8> {
    let mut buf = vec![0u8; HEADER_LEN];
    // Serialising our own protocol types into a Vec cannot fail: no maps with non-string keys.
    serde_json::to_writer(&mut buf, frame).expect("protocol types always serialise");
    let len = (buf.len() - HEADER_LEN) as u32;
    buf[..HEADER_LEN].copy_from_slice(&len.to_be_bytes());
    buf
}

/// Reads the length prefix; `Ok(None)` if `buf` holds fewer than [`HEADER_LEN`] bytes.
pub fn body_len(buf: &[u8]) -> Result<Option<usize>, FrameError> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(len));
    }
    Ok(Some(len))
}

/// Decodes one frame from the front of `buf`: `Ok(None)` means more bytes are needed, otherwise
/// the frame and how many bytes it used.
pub fn decode<T: DeserializeOwned>(buf: &[u8]) -> Result<Option<(T, usize)>, FrameError> {
    let Some(len) = body_len(buf)? else {
        return Ok(None);
    };
    let Some(body) = buf.get(HEADER_LEN..HEADER_LEN + len) else {
        return Ok(None);
    };
    Ok(Some((parse(body)?, HEADER_LEN + len)))
}

/// Parses a frame body, telling malformed JSON, unknown types and wrong fields apart.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    match serde_json::from_slice::<T>(body) {
        Ok(frame) => Ok(frame),
        Err(err) => Err(classify::<T>(body, err)),
    }
}

fn classify<T: DeserializeOwned>(body: &[u8], err: serde_json::Error) -> FrameError {
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => return FrameError::Malformed(err.to_string()),
    };
    let Some(kind) = value.get("type").and_then(|t| t.as_str()) else {
        return FrameError::Malformed("expected an object with a string \"type\" field".into());
    };
    // Is the type itself unknown, or are the fields wrong? Ask serde about the bare type.
    let bare = serde_json::json!({ "type": kind });
    if let Err(e) = serde_json::from_value::<T>(bare)
        && e.to_string().starts_with("unknown variant")
    {
        return FrameError::UnknownType(truncate(kind, 64));
    }
    FrameError::BadFields { kind: truncate(kind, 64), detail: err.to_string() }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Reads one frame. `Ok(None)` means the stream finished cleanly before any byte of a new frame.
pub async fn read_frame<T, R>(reader: &mut R) -> Result<Option<T>, FrameError>
where
    T: DeserializeOwned,
    R: AsyncRead + Unpin,
{
    let mut header = [0u8; HEADER_LEN];
    let mut filled = 0;
    while filled < HEADER_LEN {
        let n = reader.read(&mut header[filled..]).await?;
        if n == 0 {
            return if filled == 0 { Ok(None) } else { Err(FrameError::Truncated) };
        }
        filled += n;
    }
    let len = body_len(&header)?.unwrap_or_default();
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => FrameError::Truncated,
        _ => FrameError::Io(e),
    })?;
    parse(&body).map(Some)
}

/// Writes one frame (without finishing the stream).
pub async fn write_frame<T, W>(writer: &mut W, frame: &T) -> std::io::Result<()>
where
    T: Serialize,
    W: AsyncWrite + Unpin,
{
    writer.write_all(&encode(frame)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Address, ClientFrame, ServerFrame};

    fn send_frame() -> ClientFrame {
        ClientFrame::Send {
            client_id: "x".into(),
            to: Address::everyone(),
            text: "你好".into(),
            reply_to: None,
        }
    }

    #[test]
    fn round_trip() {
        let bytes = encode(&send_frame());
        let (frame, used) = decode::<ClientFrame>(&bytes).unwrap().unwrap();
        assert_eq!(frame, send_frame());
        assert_eq!(used, bytes.len());
    }

    #[test]
    fn partial_input_needs_more() {
        let bytes = encode(&send_frame());
        for cut in 0..bytes.len() {
            assert!(decode::<ClientFrame>(&bytes[..cut]).unwrap().is_none(), "cut at {cut}");
        }
    }

    #[test]
    fn oversized_length_rejected_before_body_arrives() {
        let header = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes();
        let err = decode::<ClientFrame>(&header).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge(n) if n == MAX_FRAME_LEN + 1));
        assert_eq!(err.code(), ErrorCode::FrameTooLarge);
    }

    #[test]
    fn errors_are_classified() {
        let cases: [(&[u8], ErrorCode); 6] = [
            (br#"{"type":"send","to":"bob"}"#, ErrorCode::MalformedFrame),
            (b"{not json", ErrorCode::MalformedFrame),
            (b"[1,2]", ErrorCode::MalformedFrame),
            (br#"{"type":"teleport"}"#, ErrorCode::UnknownType),
            (br#"{"type":"send","text":5}"#, ErrorCode::MalformedFrame),
            (b"\xff\xfe", ErrorCode::MalformedFrame),
        ];
        for (body, code) in cases {
            let err = parse::<ClientFrame>(body).unwrap_err();
            assert_eq!(err.code(), code, "{:?} gave {err}", String::from_utf8_lossy(body));
        }
        assert!(matches!(
            parse::<ClientFrame>(br#"{"type":"send","text":5}"#),
            Err(FrameError::BadFields { .. })
        ));
    }

    #[tokio::test]
    async fn reader_stops_at_frame_boundary_and_reports_clean_end() {
        let mut bytes = encode(&ServerFrame::UserList { users: vec![], more: false });
        bytes.extend_from_slice(b"raw file bytes");
        let mut reader = &bytes[..];
        let frame: ServerFrame = read_frame(&mut reader).await.unwrap().unwrap();
        assert_eq!(frame, ServerFrame::UserList { users: vec![], more: false });
        assert_eq!(reader, b"raw file bytes");

        let mut empty: &[u8] = &[];
        assert!(read_frame::<ServerFrame, _>(&mut empty).await.unwrap().is_none());

        let mut cut: &[u8] = &bytes[..6];
        assert!(matches!(read_frame::<ServerFrame, _>(&mut cut).await, Err(FrameError::Truncated)));
    }
}
