//! Raw wire tests: bad input gets its error, and other users keep chatting meanwhile.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::time::Duration;

use quicq_common::frame::{encode, read_frame, write_frame};
use quicq_common::protocol::{Address, ClientFrame, ErrorCode, MAX_FRAME_LEN, ServerFrame, close};
use quicq_tests::*;

/// Two well-behaved users exchange a message; used to prove the server is unharmed.
async fn still_chatting(server: &TestServer) {
    let (a, _) = connect(server, "steady_a").await;
    let (_b, mut b_events) = connect(server, "steady_b").await;
    let sent = a.send(Address::User("steady_b".into()), "still here").await.unwrap();
    assert_eq!(next_message(&mut b_events).await.id, sent.id);
}

fn send_frame(client_id: &str, to: Address, text: &str) -> ClientFrame {
    ClientFrame::Send { client_id: client_id.into(), to, text: text.into(), reply_to: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_request_frames_get_their_errors() {
    let server = TestServer::start_with(|c| c.max_text_chars = 100).await;
    let conn = raw_connect(&server).await;
    let (_ctl_send, _ctl_recv, welcome) = raw_login(&conn, "raw", PASSWORD).await;
    assert!(matches!(welcome, ServerFrame::Welcome { .. }));

    let body = b"{this is not json";
    let mut bytes = (body.len() as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(body);
    assert_eq!(error_code(&raw_request(&conn, &bytes).await), ErrorCode::MalformedFrame);

    let body = br#"{"type":"teleport","to":"mars"}"#;
    let mut bytes = (body.len() as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(body);
    assert_eq!(error_code(&raw_request(&conn, &bytes).await), ErrorCode::UnknownType);

    let body = br#"{"type":"send","to":"bob"}"#;
    let mut bytes = (body.len() as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(body);
    assert_eq!(error_code(&raw_request(&conn, &bytes).await), ErrorCode::MalformedFrame);

    // A length over the limit is refused from the prefix alone, before any body is sent.
    let bytes = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes();
    assert_eq!(error_code(&raw_request(&conn, &bytes).await), ErrorCode::FrameTooLarge);
    let bytes = u32::MAX.to_be_bytes();
    assert_eq!(error_code(&raw_request(&conn, &bytes).await), ErrorCode::FrameTooLarge);

    let frame = send_frame("c1", Address::User("ghost".into()), "boo");
    assert_eq!(error_code(&raw_frame(&conn, &frame).await), ErrorCode::UnknownRecipient);
    let frame = send_frame("c2", Address::everyone(), &"x".repeat(101));
    assert_eq!(error_code(&raw_frame(&conn, &frame).await), ErrorCode::TextTooLong);
    let frame = send_frame("c3", Address::everyone(), "");
    assert_eq!(error_code(&raw_frame(&conn, &frame).await), ErrorCode::EmptyText);
    let frame = send_frame(&"i".repeat(65), Address::everyone(), "hi");
    assert_eq!(error_code(&raw_frame(&conn, &frame).await), ErrorCode::InvalidClientId);
    // Client ids of this form name file messages and cannot be used for chat.
    let frame = send_frame("file:abc", Address::everyone(), "hi");
    assert_eq!(error_code(&raw_frame(&conn, &frame).await), ErrorCode::InvalidClientId);
    let frame = ClientFrame::History { with: Address::everyone(), before: None, limit: 0 };
    assert_eq!(error_code(&raw_frame(&conn, &frame).await), ErrorCode::InvalidLimit);
    let frame = ClientFrame::Ack { up_to: 1 };
    assert_eq!(error_code(&raw_frame(&conn, &frame).await), ErrorCode::UnexpectedFrame);

    // The misbehaving connection itself still works after all that.
    let frame = send_frame("ok", Address::everyone(), "fine");
    assert!(matches!(raw_frame(&conn, &frame).await, ServerFrame::Sent { .. }));
    still_chatting(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_before_login_is_refused_and_connection_closed() {
    let server = TestServer::start().await;
    let conn = raw_connect(&server).await;
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    write_frame(&mut send, &send_frame("x", Address::everyone(), "sneaky")).await.unwrap();
    let answer = read_frame::<ServerFrame, _>(&mut recv).await.unwrap().unwrap();
    assert_eq!(error_code(&answer), ErrorCode::NotLoggedIn);
    let closed = tokio::time::timeout(WAIT, conn.closed()).await.unwrap();
    match closed {
        quinn::ConnectionError::ApplicationClosed(c) => {
            assert_eq!(c.error_code.into_inner(), u64::from(close::PROTOCOL_VIOLATION))
        }
        other => panic!("unexpected close {other:?}"),
    }
    still_chatting(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_version_and_garbage_hello_are_refused() {
    let server = TestServer::start().await;
    // 1 is the version whose `presence` frame had another shape, 2 the one without named groups
    // or events: such a client must be refused at hello, not left unable to parse what follows.
    for version in [99, 1, 2] {
        let conn = raw_connect(&server).await;
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        let hello = format!(
            r#"{{"type":"hello","version":{version},"nickname":"x","password":"12345678","client":"t"}}"#
        );
        let mut bytes = (hello.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(hello.as_bytes());
        send.write_all(&bytes).await.unwrap();
        let answer = read_frame::<ServerFrame, _>(&mut recv).await.unwrap().unwrap();
        assert_eq!(error_code(&answer), ErrorCode::UnsupportedVersion, "version {version}");
    }

    let conn = raw_connect(&server).await;
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(&[0, 0, 0, 3, b'{', b'{', b'{']).await.unwrap();
    let answer = read_frame::<ServerFrame, _>(&mut recv).await.unwrap().unwrap();
    assert_eq!(error_code(&answer), ErrorCode::MalformedFrame);
    still_chatting(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_client_is_closed_after_hello_timeout() {
    let server = TestServer::start_with(|c| c.hello_timeout_secs = 1).await;
    let conn = raw_connect(&server).await;
    let closed = tokio::time::timeout(WAIT, conn.closed()).await.unwrap();
    match closed {
        quinn::ConnectionError::ApplicationClosed(c) => {
            assert_eq!(c.error_code.into_inner(), u64::from(close::HELLO_TIMEOUT))
        }
        other => panic!("unexpected close {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flooding_is_rate_limited_per_account() {
    let server = TestServer::start_with(|c| {
        c.messages_per_second = 2;
        c.message_burst = 5;
    })
    .await;
    let conn = raw_connect(&server).await;
    let _login = raw_login(&conn, "flood", PASSWORD).await;
    let mut limited = 0;
    let mut retry = None;
    for i in 0..20 {
        match raw_frame(&conn, &send_frame(&format!("f{i}"), Address::everyone(), "spam")).await {
            ServerFrame::Sent { .. } => {}
            ServerFrame::Error { code: ErrorCode::RateLimited, retry_after_ms, .. } => {
                limited += 1;
                retry = retry_after_ms;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(limited >= 10, "only {limited} of 20 were limited");
    assert!(retry.is_some_and(|ms| ms > 0 && ms <= 1000));
    still_chatting(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_client_id_is_stored_once_across_connections() {
    let server = TestServer::start().await;
    let (_bob, mut bob_events) = connect(&server, "bob").await;
    let frame = send_frame("same-id", Address::User("bob".into()), "only once");

    // First connection: write the request and vanish without reading the ack.
    let conn = raw_connect(&server).await;
    let _login = raw_login(&conn, "alice", PASSWORD).await;
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    send.write_all(&encode(&frame)).await.unwrap();
    send.finish().unwrap();
    let first = next_message(&mut bob_events).await;
    conn.close(0u32.into(), b"gone");

    // The client re-sends on a new connection: same id back, nothing new delivered.
    let conn = raw_connect(&server).await;
    let _login = raw_login(&conn, "alice", PASSWORD).await;
    match raw_frame(&conn, &frame).await {
        ServerFrame::Sent { id, client_id, .. } => {
            assert_eq!(id, first.id);
            assert_eq!(client_id, "same-id");
        }
        other => panic!("unexpected {other:?}"),
    }
    no_message(&mut bob_events, Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_streams_cost_only_the_offender() {
    let server = TestServer::start_with(|c| c.max_concurrent_requests = 4).await;
    let conn = raw_connect(&server).await;
    let _login = raw_login(&conn, "greedy", PASSWORD).await;
    // Open streams and never finish them: quinn holds the client at the limit (4 requests + the
    // control stream), so the fifth waits instead of reaching the server.
    let mut held = Vec::new();
    for _ in 0..4 {
        let (mut send, recv) = conn.open_bi().await.unwrap();
        send.write_all(&[0, 0]).await.unwrap(); // half a length prefix
        held.push((send, recv));
    }
    let fifth = tokio::time::timeout(Duration::from_millis(500), conn.open_bi()).await;
    assert!(fifth.is_err(), "stream limit not enforced");
    still_chatting(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_reader_is_disconnected_without_slowing_others() {
    let server = TestServer::start_with(|c| {
        c.session_queue = 8;
        c.messages_per_second = 10_000;
        c.message_burst = 10_000;
    })
    .await;
    // A raw client that logs in and never accepts its delivery streams.
    let stalled = raw_connect(&server).await;
    let _login = raw_login(&stalled, "stalled", PASSWORD).await;
    let (sender, _) = connect(&server, "sender").await;
    let (_fast, mut fast_events) = connect(&server, "fast").await;
    let mut ids = Vec::new();
    for i in 0..300 {
        ids.push(sender.send(Address::everyone(), format!("g{i}")).await.unwrap().id);
    }
    let got = messages(&mut fast_events, ids.len()).await;
    assert_eq!(got.iter().map(|m| m.id).collect::<Vec<_>>(), ids);
    let closed = tokio::time::timeout(WAIT, stalled.closed()).await.unwrap();
    match closed {
        quinn::ConnectionError::ApplicationClosed(c) => {
            assert_eq!(c.error_code.into_inner(), u64::from(close::QUEUE_OVERFLOW))
        }
        other => panic!("unexpected close {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sessions_messages_are_stored_in_the_order_of_their_streams() {
    let server = TestServer::start_with(|c| c.message_burst = 1000).await;
    let conn = raw_connect(&server).await;
    let _login = raw_login(&conn, "orderly", PASSWORD).await;
    const N: usize = 30;
    // Open every stream first, in order, then write their frames last to first, a few ms
    // apart: the frames reach the server in the reverse of the streams' order, as they can
    // when a packet is lost and the next one is not.
    let mut streams = Vec::new();
    for _ in 0..N {
        streams.push(conn.open_bi().await.unwrap());
    }
    for (i, (send, _)) in streams.iter_mut().enumerate().rev() {
        let frame = send_frame(&format!("o{i}"), Address::everyone(), &format!("line {i}"));
        send.write_all(&encode(&frame)).await.unwrap();
        send.finish().unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut ids = Vec::new();
    for (i, (_, recv)) in streams.iter_mut().enumerate() {
        match read_frame::<ServerFrame, _>(recv).await.unwrap().unwrap() {
            ServerFrame::Sent { client_id, id, .. } => {
                assert_eq!(client_id, format!("o{i}"));
                ids.push(id);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "stored out of the streams' order: {ids:?}");
    // History agrees.
    let (alice, _events) = connect(&server, "alice").await;
    let mut page = alice.history(Address::everyone(), None, 100).await.unwrap().messages;
    page.sort_by_key(|m| m.id);
    let texts: Vec<&str> = page.iter().map(|m| m.text.as_str()).collect();
    let expected: Vec<String> = (0..N).map(|i| format!("line {i}")).collect();
    assert_eq!(texts, expected);
}
