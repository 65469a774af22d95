//! The life of a message over real QUIC, with frames crafted by hand: replies, edits and recalls
//! within and after their windows, reactions, search in Chinese and English, read receipts,
//! typing and unread counts.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::time::Duration;

use quicq_common::protocol::{
    Address, ChatMessage, ClientFrame, ErrorCode, Event, GroupChange, Quote, Reaction, ServerFrame,
    TYPING_FOR_MS,
};
use quicq_tests::*;

const QUIET: Duration = Duration::from_millis(500);

fn user(name: &str) -> Address {
    Address::User(name.into())
}

fn send(id: &str, to: Address, text: &str, reply_to: Option<u64>) -> ClientFrame {
    ClientFrame::Send { client_id: id.into(), to, text: text.into(), reply_to }
}

async fn page(user: &RawUser, with: Address, before: Option<u64>, limit: u32) -> Vec<ChatMessage> {
    match user.request(&ClientFrame::History { with, before, limit }).await {
        ServerFrame::HistoryPage { messages, .. } => messages,
        other => panic!("expected a page, got {other:?}"),
    }
}

async fn search(user: &RawUser, text: &str, with: Option<Address>) -> Vec<String> {
    let frame = ClientFrame::Search { text: text.into(), with, before: None, limit: 100 };
    match user.request(&frame).await {
        ServerFrame::SearchResults { messages, .. } => {
            messages.into_iter().map(|m| m.text).collect()
        }
        other => panic!("expected search results, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_quotes_its_original_even_when_the_original_is_on_an_older_page() {
    let server = TestServer::start().await;
    let alice = RawUser::login(&server, "alice").await;
    let mut bob = RawUser::login(&server, "bob").await;
    let original = sent_id(&bob.request(&send("b1", user("alice"), "lunch at noon?", None)).await);
    for i in 0..5 {
        sent_id(&bob.request(&send(&format!("b{}", i + 2), user("alice"), "filler", None)).await);
    }
    let reply = sent_id(&alice.request(&send("a1", user("bob"), "yes!", Some(original))).await);
    let delivered = bob.messages(7).await.pop().unwrap();
    let quote = Quote {
        id: original,
        from: "bob".into(),
        text: "lunch at noon?".into(),
        ..Quote::default()
    };
    assert_eq!((delivered.id, delivered.reply_to.as_deref()), (reply, Some(&quote)));
    // A one-message page holds the reply alone; its quote is still complete.
    let newest = page(&alice, user("bob"), None, 1).await;
    assert_eq!(newest[0].reply_to.as_deref(), Some(&quote));

    // A quote must be of the same conversation, and of a person's message.
    let elsewhere = sent_id(&alice.request(&send("a2", Address::everyone(), "hi all", None)).await);
    let wrong = send("a3", user("bob"), "re", Some(elsewhere));
    assert_eq!(error_code(&alice.request(&wrong).await), ErrorCode::UnknownMessage);
    let missing = send("a4", user("bob"), "re", Some(999_999));
    assert_eq!(error_code(&alice.request(&missing).await), ErrorCode::UnknownMessage);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_changes_the_text_for_everyone_within_the_window_and_only_the_sender_may() {
    let server = TestServer::start().await;
    let mut alice = RawUser::login(&server, "alice").await;
    let mut bob = RawUser::login(&server, "bob").await;
    let id = sent_id(&alice.request(&send("a1", user("bob"), "helo", None)).await);
    bob.next_message().await;
    let edit = ClientFrame::Edit { client_id: "a2".into(), id, text: "hello".into() };
    let event = sent_id(&alice.request(&edit).await);
    // A retry is answered with the same event and stores nothing new.
    assert_eq!(sent_id(&alice.request(&edit).await), event);
    let m = bob.next_message().await;
    assert_eq!(
        (m.id, m.from.as_str(), m.event.map(|e| *e)),
        (event, "alice", Some(Event::Edited { id, text: "hello".into() }))
    );
    bob.no_message(QUIET).await;
    // History shows the edited text, marked, and not the event itself.
    let log = page(&bob, user("alice"), None, 10).await;
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].id, log[0].text.as_str(), log[0].edited_at.is_some()), (id, "hello", true));
    // Someone else's message, an event, nothing, bad text: refused.
    let theirs = ClientFrame::Edit { client_id: "b1".into(), id, text: "mine now".into() };
    assert_eq!(error_code(&bob.request(&theirs).await), ErrorCode::NotAllowed);
    let of_event = ClientFrame::Edit { client_id: "a3".into(), id: event, text: "x".into() };
    assert_eq!(error_code(&alice.request(&of_event).await), ErrorCode::UnknownMessage);
    let empty = ClientFrame::Edit { client_id: "a4".into(), id, text: " ".into() };
    assert_eq!(error_code(&alice.request(&empty).await), ErrorCode::EmptyText);
    let reserved = ClientFrame::Edit { client_id: "event:1".into(), id, text: "x".into() };
    assert_eq!(error_code(&alice.request(&reserved).await), ErrorCode::InvalidClientId);
    alice.messages(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_and_recalls_after_their_window_are_refused() {
    let server = TestServer::start_with(|c| {
        c.edit_window_secs = 0;
        c.recall_window_secs = 0;
    })
    .await;
    let alice = RawUser::login(&server, "alice").await;
    let id = sent_id(&alice.request(&send("a1", Address::everyone(), "too late", None)).await);
    // The window is 0 s: once a millisecond has passed, it is closed.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let edit = ClientFrame::Edit { client_id: "a2".into(), id, text: "x".into() };
    assert_eq!(error_code(&alice.request(&edit).await), ErrorCode::TooLate);
    let recall = ClientFrame::Recall { client_id: "a3".into(), id };
    assert_eq!(error_code(&alice.request(&recall).await), ErrorCode::TooLate);
    assert_eq!(page(&alice, Address::everyone(), None, 5).await[0].text, "too late");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recall_leaves_a_placeholder_scrubs_earlier_edits_and_cannot_be_repeated() {
    let server = TestServer::start().await;
    let mut alice = RawUser::login(&server, "alice").await;
    let mut bob = RawUser::login(&server, "bob").await;
    let id =
        sent_id(&alice.request(&send("a1", user("bob"), "oops, password: hunter2", None)).await);
    let edit = ClientFrame::Edit { client_id: "a2".into(), id, text: "oops, still hunter2".into() };
    sent_id(&alice.request(&edit).await);
    let recall = ClientFrame::Recall { client_id: "a3".into(), id };
    let event = sent_id(&alice.request(&recall).await);
    let got = bob.messages(3).await;
    assert_eq!(got[2].event.as_deref(), Some(&Event::Recalled { id }));
    assert_eq!(got[2].id, event);
    assert_eq!(
        error_code(&alice.request(&ClientFrame::Recall { client_id: "a4".into(), id }).await),
        ErrorCode::UnknownMessage
    );
    let by_bob = ClientFrame::Recall { client_id: "b1".into(), id: event };
    assert_eq!(error_code(&bob.request(&by_bob).await), ErrorCode::UnknownMessage);
    // History: a placeholder; catch-up: the message and its edit event without the text.
    let log = page(&bob, user("alice"), None, 10).await;
    assert_eq!(log.len(), 1);
    assert!(log[0].recalled && log[0].text.is_empty(), "{:?}", log[0]);
    let conn = raw_connect(&server).await;
    let (_control, _answers, welcome) =
        raw_login_resuming(&conn, "bob", PASSWORD, Some(id - 1)).await;
    assert!(matches!(welcome, ServerFrame::Welcome { .. }));
    let mut texts = String::new();
    for _ in 0..3 {
        let mut stream = tokio::time::timeout(WAIT, conn.accept_uni()).await.unwrap().unwrap();
        let bytes = stream.read_to_end(1 << 16).await.unwrap();
        texts.push_str(&String::from_utf8_lossy(&bytes));
    }
    assert!(!texts.contains("hunter2"), "recalled text still delivered: {texts}");
    assert_eq!(search(&bob, "hunter2", None).await, Vec::<String>::new());
    alice.messages(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recalling_a_file_message_removes_the_file_from_the_server() {
    let server = TestServer::start().await;
    let (alice, _alice_events) = connect(&server, "alice").await;
    let mut bob = RawUser::login(&server, "bob").await;
    let path = make_file(server.dir.path(), "photo.bin", 256 << 10, 7);
    let upload = alice.send_file(user("bob"), &path).await.unwrap();
    let file_message = bob.next_message().await;
    let file = file_message.file.clone().unwrap();
    upload.finished().await.unwrap();
    let spool = server.dir.path().join("data").join("spool").join(format!("{}.spool", file.id));
    assert!(spool.exists(), "the complete file is kept");

    let recall = ClientFrame::Recall { client_id: "r1".into(), id: file_message.id };
    let raw_alice = RawUser::login(&server, "alice").await;
    sent_id(&raw_alice.request(&recall).await);
    let gone = bob
        .next_control(|f| matches!(f, ServerFrame::FileGone { file_id, .. } if *file_id == file.id))
        .await;
    assert!(matches!(gone, ServerFrame::FileGone { code: ErrorCode::FileUnavailable, .. }));
    assert!(!spool.exists(), "the spool copy is deleted");
    let fetch = ClientFrame::Download { file_id: file.id, offset: 0 };
    assert_eq!(error_code(&bob.request(&fetch).await), ErrorCode::UnknownFile);
    let log = page(&bob, user("alice"), None, 10).await;
    assert!(log[0].recalled && log[0].file.is_none(), "{:?}", log[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_reaction_per_user_per_message_set_replaced_and_cleared() {
    let server = TestServer::start().await;
    let mut alice = RawUser::login(&server, "alice").await;
    let bob = RawUser::login(&server, "bob").await;
    let carol = RawUser::login(&server, "carol").await;
    let id = sent_id(&alice.request(&send("a1", Address::everyone(), "shipped 1.0", None)).await);
    let react = |who: &str, emoji: Option<&str>| ClientFrame::React {
        client_id: format!("{who}-{}", emoji.unwrap_or("none")),
        id,
        emoji: emoji.map(str::to_owned),
    };
    sent_id(&bob.request(&react("b", Some("👍"))).await);
    sent_id(&carol.request(&react("c", Some("🎉"))).await);
    sent_id(&bob.request(&react("b", Some("🎉"))).await);
    sent_id(&alice.request(&react("a", Some("👍"))).await);
    sent_id(&alice.request(&react("a", None)).await);
    for bad in ["", "ok", "👍 👍", "a👍"] {
        let frame =
            ClientFrame::React { client_id: format!("x{bad}"), id, emoji: Some(bad.into()) };
        assert_eq!(error_code(&alice.request(&frame).await), ErrorCode::InvalidEmoji, "{bad:?}");
    }
    let log = page(&alice, Address::everyone(), None, 10).await;
    assert_eq!(log.len(), 1, "reaction events are not in history");
    assert_eq!(
        log[0].reactions,
        [Reaction { emoji: "🎉".into(), users: vec!["carol".into(), "bob".into()] }]
    );
    // Every reaction is also an event delivered in order.
    let got = alice.messages(6).await;
    let kinds: Vec<_> =
        got[1..].iter().map(|m| (m.from.clone(), m.event.as_deref().cloned())).collect();
    assert_eq!(kinds[4], ("alice".into(), Some(Event::Reacted { id, emoji: None })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_chinese_and_english_only_where_the_user_may_read() {
    let server = TestServer::start().await;
    let mut alice = RawUser::login(&server, "alice").await;
    let bob = RawUser::login(&server, "bob").await;
    let eve = RawUser::login(&server, "eve").await;
    let texts = [
        (Address::everyone(), "今天天气很好，我们去公园吧"),
        (Address::everyone(), "The Quick Brown Fox"),
        (user("bob"), "我们明天在公园见面"),
        (user("bob"), "private fox business"),
    ];
    for (i, (to, text)) in texts.iter().enumerate() {
        sent_id(&alice.request(&send(&format!("a{i}"), to.clone(), text, None)).await);
    }
    let create = ClientFrame::GroupCreate { name: "den".into(), members: vec!["bob".into()] };
    alice.request(&create).await;
    sent_id(
        &alice.request(&send("g1", Address::Group("den".into()), "狐狸 in the den", None)).await,
    );

    assert_eq!(
        search(&bob, "公园", None).await,
        ["我们明天在公园见面", "今天天气很好，我们去公园吧"]
    );
    assert_eq!(search(&bob, "去公园", None).await, ["今天天气很好，我们去公园吧"]);
    assert_eq!(search(&bob, "QUICK brown", None).await, ["The Quick Brown Fox"]);
    assert_eq!(search(&bob, "fox", None).await, ["private fox business", "The Quick Brown Fox"]);
    assert_eq!(search(&bob, "狐狸", None).await, ["狐狸 in the den"]);
    assert_eq!(search(&bob, "fox", Some(Address::everyone())).await, ["The Quick Brown Fox"]);
    // eve sees only what everyone sees.
    assert_eq!(search(&eve, "公园", None).await, ["今天天气很好，我们去公园吧"]);
    assert_eq!(search(&eve, "fox", None).await, ["The Quick Brown Fox"]);
    assert!(search(&eve, "狐狸", None).await.is_empty());
    // An edit is found by its new text only.
    let edit = ClientFrame::Edit { client_id: "e1".into(), id: 1, text: "今天下雨".into() };
    sent_id(&alice.request(&edit).await);
    assert_eq!(search(&bob, "公园", Some(Address::everyone())).await, Vec::<String>::new());
    assert_eq!(search(&bob, "下雨", None).await, ["今天下雨"]);
    let blank = ClientFrame::Search { text: "  ".into(), with: None, before: None, limit: 10 };
    assert_eq!(error_code(&bob.request(&blank).await), ErrorCode::InvalidSearch);
    let huge = ClientFrame::Search { text: "x".into(), with: None, before: None, limit: 101 };
    assert_eq!(error_code(&bob.request(&huge).await), ErrorCode::InvalidLimit);
    alice.messages(7).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_positions_reach_the_sender_and_ones_own_devices_unless_receipts_are_off() {
    let server = TestServer::start().await;
    let mut alice = RawUser::login(&server, "alice").await;
    let mut bob = RawUser::login(&server, "bob").await;
    let mut bob_phone = RawUser::login(&server, "bob").await;
    let id = sent_id(&alice.request(&send("a1", user("bob"), "did you see this?", None)).await);
    let is_read = |f: &ServerFrame| matches!(f, ServerFrame::Read { .. });
    bob.control(&ClientFrame::Read { with: user("ALICE"), up_to: id }).await;
    let to_alice = alice.next_control(is_read).await;
    assert_eq!(to_alice, ServerFrame::Read { by: "bob".into(), with: user("bob"), up_to: id });
    let to_phone = bob_phone.next_control(is_read).await;
    assert_eq!(to_phone, ServerFrame::Read { by: "bob".into(), with: user("alice"), up_to: id });
    let ServerFrame::Receipts { read, .. } =
        alice.request(&ClientFrame::Receipts { with: user("bob") }).await
    else {
        panic!()
    };
    assert_eq!(read.len(), 1);
    assert_eq!((read[0].user.as_str(), read[0].up_to), ("bob", id));
    // Not raised: nothing is passed on.
    bob.control(&ClientFrame::Read { with: user("alice"), up_to: id - 1 }).await;
    alice.no_control(QUIET, is_read).await;
    // With receipts off, bob's reads reach only his own devices, and he sees no one's.
    let off = bob.request(&ClientFrame::Settings { receipts: Some(false) }).await;
    assert_eq!(off, ServerFrame::Settings { receipts: false });
    let next = sent_id(&alice.request(&send("a2", user("bob"), "and this?", None)).await);
    bob.control(&ClientFrame::Read { with: user("alice"), up_to: next }).await;
    bob_phone.next_control(is_read).await;
    alice.no_control(QUIET, is_read).await;
    let ServerFrame::Receipts { read, .. } =
        alice.request(&ClientFrame::Receipts { with: user("bob") }).await
    else {
        panic!()
    };
    assert!(read.is_empty(), "{read:?}");
    let again = RawUser::login(&server, "bob").await;
    assert!(matches!(again.welcome, ServerFrame::Welcome { receipts: false, .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_counts_follow_the_read_position_in_every_conversation() {
    let server = TestServer::start().await;
    let alice = RawUser::login(&server, "alice").await;
    let mut bob = RawUser::login(&server, "bob").await;
    let create = ClientFrame::GroupCreate { name: "team".into(), members: vec!["bob".into()] };
    alice.request(&create).await;
    let mut last = 0;
    for i in 0..3 {
        last = sent_id(
            &alice.request(&send(&format!("t{i}"), Address::Group("team".into()), "x", None)).await,
        );
    }
    sent_id(&alice.request(&send("d", user("bob"), "direct", None)).await);
    sent_id(&bob.request(&send("mine", user("alice"), "my own", None)).await);
    let list = |frame: ServerFrame| match frame {
        ServerFrame::ConversationList { conversations } => {
            conversations.into_iter().map(|c| (c.with, c.unread)).collect::<Vec<_>>()
        }
        other => panic!("{other:?}"),
    };
    let before = list(bob.request(&ClientFrame::Conversations {}).await);
    assert_eq!(
        before,
        [(user("alice"), 1), (Address::Group("team".into()), 3), (Address::everyone(), 0)]
    );
    bob.control(&ClientFrame::Read { with: Address::Group("team".into()), up_to: last - 1 }).await;
    bob.next_control(|f| matches!(f, ServerFrame::Read { .. })).await;
    let after = list(bob.request(&ClientFrame::Conversations {}).await);
    assert_eq!(after[1], (Address::Group("team".into()), 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_is_relayed_rate_limited_never_stored_and_not_for_big_groups() {
    let server = TestServer::start_with(|c| c.receipts_max_members = 2).await;
    let mut alice = RawUser::login(&server, "alice").await;
    let mut bob = RawUser::login(&server, "bob").await;
    let is_typing = |f: &ServerFrame| matches!(f, ServerFrame::Typing { .. });
    alice.control(&ClientFrame::Typing { to: user("bob") }).await;
    let got = bob.next_control(is_typing).await;
    assert_eq!(
        got,
        ServerFrame::Typing { from: "alice".into(), with: user("alice"), for_ms: TYPING_FOR_MS }
    );
    // Again at once: dropped (one per 2 s); never to oneself; never stored.
    alice.control(&ClientFrame::Typing { to: user("bob") }).await;
    bob.no_control(QUIET, is_typing).await;
    alice.no_control(QUIET, is_typing).await;
    assert!(page(&bob, user("alice"), None, 10).await.is_empty());
    // A group of 3 is over this server's receipts size: no typing there.
    let _carol = RawUser::login(&server, "carol").await;
    let create = ClientFrame::GroupCreate {
        name: "trio".into(),
        members: vec!["bob".into(), "carol".into()],
    };
    alice.request(&create).await;
    alice.control(&ClientFrame::Typing { to: Address::Group("trio".into()) }).await;
    bob.no_control(QUIET, is_typing).await;
    // Typing to a group one is not in, or to nobody, is dropped without harm.
    alice.control(&ClientFrame::Typing { to: Address::Group("nope".into()) }).await;
    alice.control(&ClientFrame::Group { group: "x".into(), change: GroupChange::Leave {} }).await;
    let closed = tokio::time::timeout(WAIT, alice.conn.closed()).await.unwrap();
    assert!(matches!(closed, quinn::ConnectionError::ApplicationClosed(_)), "{closed:?}");
}
