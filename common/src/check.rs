//! Field checks both ends make, so a client refuses locally exactly what the server would refuse
//! remotely, with the same code and words.

use crate::protocol::{
    EVENT_CLIENT_ID_PREFIX, ErrorCode, FILE_CLIENT_ID_PREFIX, MAX_CLIENT_ID_LEN, MAX_EMOJI_BYTES,
    MAX_TRANSFER_ID_LEN,
};

/// A field the server refuses, with the code it answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    pub code: ErrorCode,
    pub message: String,
}

impl Invalid {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Invalid { code, message: message.into() }
    }
}

/// Checks a `send` before it is stored or sent: the client id, then the text against
/// `max_text_chars` (from `welcome.limits`).
pub fn check_send(client_id: &str, text: &str, max_text_chars: u32) -> Result<(), Invalid> {
    check_client_id(client_id)?;
    if text.trim().is_empty() {
        return Err(Invalid::new(ErrorCode::EmptyText, "message text is empty"));
    }
    if text.chars().count() > max_text_chars as usize {
        return Err(Invalid::new(
            ErrorCode::TextTooLong,
            format!("message is longer than {max_text_chars} characters"),
        ));
    }
    Ok(())
}

/// Checks the client id of a `send`, `edit`, `recall` or `react`: 1 to 64 bytes, not starting
/// with a prefix the server uses for its own messages.
pub fn check_client_id(client_id: &str) -> Result<(), Invalid> {
    if client_id.is_empty() || client_id.len() > MAX_CLIENT_ID_LEN {
        return Err(Invalid::new(
            ErrorCode::InvalidClientId,
            format!("client_id must be 1 to {MAX_CLIENT_ID_LEN} bytes"),
        ));
    }
    for prefix in [FILE_CLIENT_ID_PREFIX, EVENT_CLIENT_ID_PREFIX] {
        if client_id.starts_with(prefix) {
            return Err(Invalid::new(
                ErrorCode::InvalidClientId,
                format!("client ids starting with {prefix:?} are reserved for the server"),
            ));
        }
    }
    Ok(())
}

/// Checks a reaction: 1 to [`MAX_EMOJI_BYTES`] bytes with no letters, digits, spaces or control
/// characters, so it is a symbol (an emoji, with its modifiers and joiners), not words.
pub fn check_emoji(emoji: &str) -> Result<(), Invalid> {
    let symbol = |c: char| !c.is_alphanumeric() && !c.is_whitespace() && !c.is_control();
    if emoji.is_empty() || emoji.len() > MAX_EMOJI_BYTES || !emoji.chars().all(symbol) {
        return Err(Invalid::new(
            ErrorCode::InvalidEmoji,
            format!(
                "a reaction is one emoji (at most {MAX_EMOJI_BYTES} bytes, no letters, digits or spaces)"
            ),
        ));
    }
    Ok(())
}

/// Checks an upload's `transfer_id`.
pub fn check_transfer_id(transfer_id: &str) -> Result<(), Invalid> {
    if transfer_id.is_empty() || transfer_id.len() > MAX_TRANSFER_ID_LEN {
        return Err(Invalid::new(
            ErrorCode::InvalidTransferId,
            format!("transfer_id must be 1 to {MAX_TRANSFER_ID_LEN} bytes"),
        ));
    }
    Ok(())
}

/// Checks a BLAKE3 digest as the protocol writes it: 64 lower-case hex digits.
pub fn check_blake3(hex: &str) -> Result<(), Invalid> {
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(Invalid::new(
            ErrorCode::MalformedFrame,
            "blake3 must be 64 lower-case hex digits",
        ));
    }
    Ok(())
}

/// Checks `hello.device`.
pub fn check_device(device: &str) -> Result<(), Invalid> {
    if device.len() > MAX_TRANSFER_ID_LEN {
        return Err(Invalid::new(
            ErrorCode::MalformedFrame,
            format!("device id is longer than {MAX_TRANSFER_ID_LEN} bytes"),
        ));
    }
    Ok(())
}

/// `text` cut to at most `max` bytes at a character boundary.
pub fn truncate_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_checks_in_the_order_the_protocol_gives() {
        let long_id = "x".repeat(MAX_CLIENT_ID_LEN + 1);
        let cases: &[(&str, &str, u32, Option<ErrorCode>)] = &[
            ("c1", "hi", 10, None),
            ("", "hi", 10, Some(ErrorCode::InvalidClientId)),
            (&long_id, "hi", 10, Some(ErrorCode::InvalidClientId)),
            ("file:abc", "hi", 10, Some(ErrorCode::InvalidClientId)),
            ("event:abc", "hi", 10, Some(ErrorCode::InvalidClientId)),
            ("eventful", "hi", 10, None),
            ("c1", "", 10, Some(ErrorCode::EmptyText)),
            ("c1", " \n\t", 10, Some(ErrorCode::EmptyText)),
            ("c1", "0123456789", 10, None),
            ("c1", "01234567890", 10, Some(ErrorCode::TextTooLong)),
            // Characters, not bytes: ten CJK characters are 30 bytes.
            ("c1", "你好你好你好你好你好", 10, None),
            ("", "", 10, Some(ErrorCode::InvalidClientId)),
        ];
        for (id, text, max, want) in cases {
            let got = check_send(id, text, *max).err().map(|e| e.code);
            assert_eq!(got, *want, "check_send({id:?}, {text:?}, {max})");
        }
    }

    #[test]
    fn reactions_are_symbols_not_words() {
        for ok in ["👍", "❤️", "👍🏽", "👨‍👩‍👧", "🇨🇳", "😂"] {
            assert_eq!(check_emoji(ok), Ok(()), "{ok:?}");
        }
        let long = "👍".repeat(9);
        for bad in ["", "ok", "1", " ", "👍 ", "\n", "好", long.as_str()] {
            assert_eq!(check_emoji(bad).unwrap_err().code, ErrorCode::InvalidEmoji, "{bad:?}");
        }
    }

    #[test]
    fn transfer_ids_blake3_and_devices() {
        assert!(check_transfer_id("t").is_ok());
        assert_eq!(check_transfer_id("").unwrap_err().code, ErrorCode::InvalidTransferId);
        assert_eq!(
            check_transfer_id(&"x".repeat(65)).unwrap_err().code,
            ErrorCode::InvalidTransferId
        );
        assert!(check_blake3(&"a1".repeat(32)).is_ok());
        for bad in ["", "A1".repeat(32).as_str(), "g".repeat(64).as_str(), "a".repeat(63).as_str()]
        {
            assert_eq!(check_blake3(bad).unwrap_err().code, ErrorCode::MalformedFrame, "{bad}");
        }
        assert!(check_device(&"d".repeat(64)).is_ok());
        assert!(check_device(&"d".repeat(65)).is_err());
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate_bytes("abc", 5), "abc");
        assert_eq!(truncate_bytes("abc", 2), "ab");
        assert_eq!(truncate_bytes("a你b", 2), "a");
        assert_eq!(truncate_bytes("a你b", 4), "a你");
    }
}
