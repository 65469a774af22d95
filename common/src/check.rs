//! Field checks both ends make, so a client refuses locally exactly what the server would refuse
//! remotely, with the same code and words.

use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

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

/// Checks a `send` (or an `edit`, whose text follows the same rules) before it is stored or
/// sent: the client id, then the text against `max_text_chars` (from `welcome.limits`).
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

/// Checks the client id of a `send`, `edit`, `recall` or `react`: 1 to [`MAX_CLIENT_ID_LEN`]
/// bytes, and not in a namespace the server gives its own messages (files, events), so a client
/// cannot make its message pass for one of them.
pub fn check_client_id(client_id: &str) -> Result<(), Invalid> {
    if client_id.is_empty() || client_id.len() > MAX_CLIENT_ID_LEN {
        return Err(Invalid::new(
            ErrorCode::InvalidClientId,
            format!("client_id must be 1 to {MAX_CLIENT_ID_LEN} bytes"),
        ));
    }
    if client_id.starts_with(FILE_CLIENT_ID_PREFIX) {
        return Err(Invalid::new(
            ErrorCode::InvalidClientId,
            format!("client ids starting with {FILE_CLIENT_ID_PREFIX:?} are reserved for files"),
        ));
    }
    if client_id.starts_with(EVENT_CLIENT_ID_PREFIX) {
        return Err(Invalid::new(
            ErrorCode::InvalidClientId,
            format!("client ids starting with {EVENT_CLIENT_ID_PREFIX:?} are reserved for events"),
        ));
    }
    Ok(())
}

/// Checks a reaction: 1 to [`MAX_EMOJI_BYTES`] bytes, with no letters or digits (Unicode
/// general categories L and N), whitespace or control characters, so a reaction is a symbol (an
/// emoji with its modifiers, variation selectors and joiners) and never a second message
/// squeezed under another one. By category rather than by `char::is_alphabetic`, which also
/// counts symbols such as 🅰 and Ⓜ (both emoji) as letters.
pub fn check_emoji(emoji: &str) -> Result<(), Invalid> {
    if emoji.is_empty() || emoji.len() > MAX_EMOJI_BYTES {
        return Err(Invalid::new(
            ErrorCode::InvalidEmoji,
            format!("a reaction must be 1 to {MAX_EMOJI_BYTES} bytes"),
        ));
    }
    let refused = |c: char| {
        matches!(
            c.general_category_group(),
            GeneralCategoryGroup::Letter | GeneralCategoryGroup::Number
        ) || c.is_whitespace()
            || c.is_control()
    };
    if let Some(c) = emoji.chars().find(|c| refused(*c)) {
        return Err(Invalid::new(
            ErrorCode::InvalidEmoji,
            format!(
                "a reaction is an emoji; it may not contain letters, digits, spaces or control characters (found {c:?})"
            ),
        ));
    }
    Ok(())
}

/// Checks a `search` text: not empty once trimmed, at most `max_text_chars` characters (no
/// message is longer, so no longer text can match).
pub fn check_search(text: &str, max_text_chars: u32) -> Result<(), Invalid> {
    if text.trim().is_empty() {
        return Err(Invalid::new(ErrorCode::InvalidSearch, "search text is empty"));
    }
    if text.chars().count() > max_text_chars as usize {
        return Err(Invalid::new(
            ErrorCode::InvalidSearch,
            format!("search text is longer than {max_text_chars} characters"),
        ));
    }
    Ok(())
}

/// Checks a group topic against `max_topic_chars` (empty clears the topic and is fine).
pub fn check_topic(topic: &str, max_topic_chars: u32) -> Result<(), Invalid> {
    if topic.chars().count() > max_topic_chars as usize {
        return Err(Invalid::new(
            ErrorCode::TopicTooLong,
            format!("the topic is longer than {max_topic_chars} characters"),
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
            ("events", "hi", 10, None),
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
    fn reactions_are_symbols_of_at_most_32_bytes() {
        let cases: &[(&str, bool)] = &[
            ("👍", true),
            ("❤️", true),
            // Skin tone modifier, and a ZWJ family: joiners and modifiers are part of an emoji.
            ("👍🏽", true),
            ("👨\u{200d}👩\u{200d}👧", true),
            // A flag: two regional indicators.
            ("🇨🇳", true),
            ("🅰️", true),
            ("#️⃣", true),
            ("!", true),
            ("", false),
            ("a", false),
            ("好", false),
            ("1", false),
            ("①", false),
            ("👍 ", false),
            (" ", false),
            ("\u{3000}", false),
            ("👍\n", false),
            ("\u{1b}", false),
            ("Ⓜ️", true),
            ("😂", true),
            // Eight four-byte emoji are 32 bytes; nine are too many.
            ("😀😀😀😀😀😀😀😀", true),
            ("😀😀😀😀😀😀😀😀😀", false),
        ];
        for (emoji, ok) in cases {
            let got = check_emoji(emoji);
            assert_eq!(got.is_ok(), *ok, "check_emoji({emoji:?}) = {got:?}");
            if let Err(e) = got {
                assert_eq!(e.code, ErrorCode::InvalidEmoji);
            }
        }
    }

    #[test]
    fn client_ids_search_texts_and_topics() {
        let ids: &[(&str, bool)] = &[
            ("0190c3a2-7b1e-7000-8000-000000000000", true),
            ("", false),
            ("file:1", false),
            ("event:1", false),
            ("x:event:1", true),
        ];
        for (id, ok) in ids {
            assert_eq!(check_client_id(id).is_ok(), *ok, "{id:?}");
        }
        assert_eq!(
            check_client_id(&"x".repeat(MAX_CLIENT_ID_LEN + 1)).unwrap_err().code,
            ErrorCode::InvalidClientId
        );
        let searches: &[(&str, u32, bool)] = &[
            ("你好", 10, true),
            ("a", 10, true),
            ("", 10, false),
            ("  \t", 10, false),
            ("0123456789", 10, true),
            ("01234567890", 10, false),
        ];
        for (text, max, ok) in searches {
            let got = check_search(text, *max);
            assert_eq!(got.is_ok(), *ok, "check_search({text:?}, {max})");
            if let Err(e) = got {
                assert_eq!(e.code, ErrorCode::InvalidSearch);
            }
        }
        assert!(check_topic("", 3).is_ok());
        assert!(check_topic("话题们", 3).is_ok());
        assert_eq!(check_topic("话题们!", 3).unwrap_err().code, ErrorCode::TopicTooLong);
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
