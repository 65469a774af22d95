//! Everything a peer sends goes through these functions first: whatever the bytes, they must
//! answer (a frame, "need more", or an error with a code), never panic, and never read past
//! the frame. Property tests on stable Rust, bounded so they run in CI.

use proptest::prelude::*;
use quicq_common::check::{check_blake3, check_device, check_send, check_transfer_id};
use quicq_common::frame::{FrameError, HEADER_LEN, decode, encode, parse};
use quicq_common::nickname::{Nickname, check_new, key_of, skeleton_of};
use quicq_common::protocol::{Address, ClientFrame, ErrorCode, MAX_FRAME_LEN, ServerFrame};
use quicq_common::text::{for_terminal, strip_format};
use serde_json::{Value, json};

fn config() -> ProptestConfig {
    ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() }
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(".{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Field names of the real frames, so generated objects hit real fields with wrong values.
const FIELDS: &[&str] = &[
    "version",
    "nickname",
    "password",
    "client",
    "resume_after",
    "device",
    "up_to",
    "client_id",
    "to",
    "text",
    "with",
    "before",
    "limit",
    "transfer_id",
    "name",
    "size",
    "blake3",
    "offset",
    "file_id",
    "saved",
    "after",
    "user",
    "group",
];
const TYPES: &[&str] = &[
    "hello",
    "ack",
    "send",
    "history",
    "upload",
    "upload_status",
    "download",
    "pending_files",
    "file_done",
    "users",
    "message",
    "welcome",
    "error",
    "teleport",
    "",
];

/// An object with a known (or bogus) type and real field names holding any values.
fn frame_shaped_json() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(TYPES),
        prop::collection::vec((prop::sample::select(FIELDS), any_json()), 0..8),
    )
        .prop_map(|(kind, fields)| {
            let mut object = serde_json::Map::new();
            object.insert("type".into(), json!(kind));
            for (name, value) in fields {
                object.insert(name.into(), value);
            }
            Value::Object(object)
        })
}

fn code_of(e: &FrameError) -> ErrorCode {
    e.code()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_decode_to_an_answer(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        for result in [decode::<ClientFrame>(&bytes).map(|f| f.map(|(_, n)| n)),
                       decode::<ServerFrame>(&bytes).map(|f| f.map(|(_, n)| n))] {
            match result {
                Ok(Some(used)) => prop_assert!(used <= bytes.len()),
                Ok(None) => {}
                Err(e) => prop_assert_ne!(code_of(&e), ErrorCode::Internal),
            }
        }
    }

    #[test]
    fn a_length_prefix_is_checked_before_anything_is_read(len in any::<u32>(), tail in prop::collection::vec(any::<u8>(), 0..16)) {
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend(&tail);
        match decode::<ClientFrame>(&bytes) {
            Err(FrameError::TooLarge(n)) => prop_assert!(n > MAX_FRAME_LEN),
            Ok(None) => prop_assert!((len as usize) > tail.len()),
            Ok(Some((_, used))) => prop_assert_eq!(used, HEADER_LEN + len as usize),
            Err(e) => prop_assert!((len as usize) <= tail.len() && len as usize <= MAX_FRAME_LEN, "{e}"),
        }
    }

    #[test]
    fn frame_shaped_json_parses_or_names_its_problem(value in frame_shaped_json()) {
        let body = serde_json::to_vec(&value).unwrap_or_default();
        for code in [parse::<ClientFrame>(&body).err().map(|e| e.code()),
                     parse::<ServerFrame>(&body).err().map(|e| e.code())].into_iter().flatten() {
            prop_assert!(matches!(code, ErrorCode::MalformedFrame | ErrorCode::UnknownType | ErrorCode::FrameTooLarge), "{code}");
        }
    }

    #[test]
    fn every_valid_prefix_asks_for_more(text in ".{0,200}", cut in any::<prop::sample::Index>()) {
        let frame = ClientFrame::Send { client_id: "c".into(), to: Address::everyone(), text, reply_to: None  };
        let bytes = encode(&frame);
        let (decoded, used) = decode::<ClientFrame>(&bytes).unwrap().unwrap();
        prop_assert_eq!(decoded, frame);
        prop_assert_eq!(used, bytes.len());
        let prefix = &bytes[..cut.index(bytes.len())];
        prop_assert!(decode::<ClientFrame>(prefix).unwrap().is_none());
    }

    #[test]
    fn field_checks_and_names_answer_any_text(a in ".{0,80}", b in "\\PC{0,80}", max in any::<u32>()) {
        let _ = check_send(&a, &b, max);
        let _ = check_transfer_id(&a);
        let _ = check_blake3(&a);
        let _ = check_device(&b);
        if let Ok(nick) = Nickname::parse(&a) {
            let _ = check_new(&nick);
            prop_assert!(!skeleton_of(nick.key()).is_empty());
            prop_assert_eq!(key_of(nick.as_str()), nick.key());
        }
        prop_assert!(!strip_format(&b).chars().any(quicq_common::text::is_format));
        prop_assert!(!for_terminal(&a).chars().any(char::is_control));
    }
}
