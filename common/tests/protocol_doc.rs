//! docs/protocol.md is the contract: every JSON example in it must be a frame the real types
//! parse and write back unchanged, every frame type must have an example, and the error-code
//! table must list exactly the codes the code knows.

use std::collections::BTreeSet;

use quicq_common::protocol::{
    ClientFrame, ClientFrameType, ErrorCode, ServerFrame, ServerFrameType,
};
use serde_json::Value;
use strum::IntoEnumIterator;

fn document() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md");
    std::fs::read_to_string(path).expect("docs/protocol.md is readable")
}

/// The body of every ```json block, with the line it starts on.
fn json_examples(doc: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in doc.lines().enumerate() {
        match (&mut current, line.trim_end()) {
            (None, "```json") => current = Some((n + 2, String::new())),
            (Some(_), "```") => out.extend(current.take()),
            (Some((_, body)), text) => {
                body.push_str(text);
                body.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "an unclosed ```json block");
    out
}

/// What an example is: a client frame, a server frame, or both (`read`, `receipts` and
/// `settings` name a frame in each direction), each only if writing it back gives the same JSON
/// (so no field is misspelt, missing or extra).
struct Parsed {
    client: Option<ClientFrame>,
    server: Option<ServerFrame>,
}

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(value: &Value) -> Option<T> {
    let frame: T = serde_json::from_value(value.clone()).ok()?;
    (serde_json::to_value(&frame).ok()? == *value).then_some(frame)
}

fn parse(line: usize, body: &str) -> Parsed {
    let value: Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("line {line}: not JSON: {e}\n{body}"));
    let parsed = Parsed { client: round_trip(&value), server: round_trip(&value) };
    if parsed.client.is_none() && parsed.server.is_none() {
        let client = serde_json::from_value::<ClientFrame>(value.clone()).err();
        let server = serde_json::from_value::<ServerFrame>(value).err();
        panic!(
            "line {line}: not a client or server frame that survives a round trip \
             (client: {client:?}, server: {server:?})\n{body}"
        );
    }
    parsed
}

#[test]
fn every_json_example_is_a_real_frame() {
    let doc = document();
    let examples = json_examples(&doc);
    assert!(examples.len() >= 30, "found only {} examples", examples.len());
    for (line, body) in &examples {
        parse(*line, body);
    }
}

#[test]
fn every_frame_type_has_an_example() {
    let doc = document();
    let mut client = BTreeSet::new();
    let mut server = BTreeSet::new();
    for (line, body) in json_examples(&doc) {
        let parsed = parse(line, &body);
        if let Some(f) = parsed.client {
            client.insert(<&str>::from(ClientFrameType::from(&f)));
        }
        if let Some(f) = parsed.server {
            server.insert(<&str>::from(ServerFrameType::from(&f)));
        }
    }
    let all_client: BTreeSet<&str> = ClientFrameType::iter().map(<&str>::from).collect();
    let all_server: BTreeSet<&str> = ServerFrameType::iter().map(<&str>::from).collect();
    let missing: Vec<_> =
        all_client.difference(&client).chain(all_server.difference(&server)).collect();
    assert!(missing.is_empty(), "frame types without an example in docs/protocol.md: {missing:?}");
}

#[test]
fn the_error_code_table_lists_exactly_the_known_codes() {
    let doc = document();
    let start = doc.find("## 11. Error codes").expect("section 11 exists");
    let end = start + doc[start..].find("\n## 12.").expect("section 12 follows");
    let documented: BTreeSet<&str> = doc[start..end]
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    let known: BTreeSet<&str> =
        ErrorCode::iter().filter(|c| *c != ErrorCode::Unknown).map(ErrorCode::as_str).collect();
    assert_eq!(documented, known, "section 11 of docs/protocol.md and ErrorCode disagree");
}
