//! Chat through the client library against a real server over QUIC on loopback.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::HashSet;
use std::time::Duration;

use quicq_client::{ConnState, ConnectError, Event, RequestError};
use quicq_common::protocol::{Address, ErrorCode};
use quicq_tests::*;

fn user(name: &str) -> Address {
    Address::User(name.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_then_log_in_again() {
    let server = TestServer::start().await;
    let (alice, _) = connect(&server, "Alice").await;
    assert!(alice.welcome().registered);
    assert_eq!(alice.welcome().you, "Alice");
    alice.close().await;

    // Same account, any case: logs in, keeps the registered spelling.
    let (again, _) = connect(&server, "alice").await;
    assert!(!again.welcome().registered);
    assert_eq!(again.welcome().you, "Alice");
    assert!(again.limits().max_text_chars > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_wrong_passwords_are_throttled_before_any_check() {
    let server = TestServer::start().await;
    let _ = connect(&server, "bob").await;
    let attempt = |password: &str| {
        let mut cfg = config(&server, "bob");
        cfg.credentials.password = password.into();
        quicq_client::Client::connect(cfg)
    };
    // A person mistyping gets a few tries…
    for _ in 0..3 {
        let err = attempt("guess").await.unwrap_err();
        assert!(
            matches!(err, ConnectError::Refused { code: ErrorCode::WrongPassword, .. }),
            "{err}"
        );
    }
    let err = attempt("guess").await.unwrap_err();
    assert!(matches!(err, ConnectError::Refused { code: ErrorCode::WrongPassword, .. }), "{err}");
    // …then every attempt waits, even with the right password: nothing is checked until then.
    let err = attempt(PASSWORD).await.unwrap_err();
    assert!(matches!(err, ConnectError::Refused { code: ErrorCode::RateLimited, .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_refused() {
    let server = TestServer::start().await;
    let _ = connect(&server, "bob").await;
    let mut cfg = config(&server, "BOB");
    cfg.credentials.password = "not the password".into();
    let err = quicq_client::Client::connect(cfg).await.unwrap_err();
    assert!(matches!(err, ConnectError::Refused { code: ErrorCode::WrongPassword, .. }), "{err}");
    assert!(!err.to_string().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn look_alike_nicknames_cannot_be_registered_but_the_original_still_signs_in() {
    let server = TestServer::start().await;
    let (alice, _) = connect(&server, "alice").await;
    alice.close().await;
    // Cyrillic а, Latin alpha, small-capital A, dotless ı; Cyrillic е in "everyone".
    for look_alike in
        ["\u{430}lice", "\u{251}lice", "\u{1d00}lice", "al\u{131}ce", "\u{435}veryone"]
    {
        let err = try_connect(&server, look_alike).await.unwrap_err();
        assert!(
            matches!(err, ConnectError::Refused { code: ErrorCode::InvalidNickname, .. }),
            "{look_alike:?}: {err}"
        );
    }
    let users = connect(&server, "alice").await.0.users().await.unwrap();
    let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["alice"], "no look-alike account was created");
    // Names in other scripts, and recognised mixes, still register.
    for fine in ["Иван", "李lee", "田中たろう"] {
        connect(&server, fine).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nickname_rules_are_enforced_and_chinese_names_work() {
    let server = TestServer::start().await;
    let (ming, _) = connect(&server, "小明").await;
    assert_eq!(ming.welcome().you, "小明");

    for bad in ["", "has space", "a/b", "everyone", &"x".repeat(33), "..."] {
        let err = try_connect(&server, bad).await.unwrap_err();
        assert!(
            matches!(err, ConnectError::Refused { code: ErrorCode::InvalidNickname, .. }),
            "{bad:?}: {err}"
        );
    }
    // Full-width letters are the same name as ASCII ones: no impersonation.
    let _ = connect(&server, "Alice").await;
    let mut cfg = config(&server, "Ａｌｉｃｅ");
    cfg.credentials.password = "another password".into();
    let err = quicq_client::Client::connect(cfg).await.unwrap_err();
    assert!(matches!(err, ConnectError::Refused { code: ErrorCode::WrongPassword, .. }), "{err}");

    // A short password cannot register.
    let mut cfg = config(&server, "newbie");
    cfg.credentials.password = "short".into();
    let err = quicq_client::Client::connect(cfg).await.unwrap_err();
    assert!(matches!(err, ConnectError::Refused { code: ErrorCode::WeakPassword, .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_registration_refuses_new_names_but_not_existing_accounts() {
    let server = TestServer::start().await;
    let (a, _) = connect(&server, "alice").await;
    a.close().await;
    let dir = server.stop().await;
    let server = TestServer::start_in(dir, |c| {
        c.registration = Some(quicq_server::config::Registration::Closed)
    })
    .await;
    let _ = connect(&server, "alice").await;
    let err = try_connect(&server, "mallory").await.unwrap_err();
    // The same answer as a wrong password for alice: nobody learns which nicknames exist.
    let ConnectError::Refused { code, message } = err else { panic!("{err}") };
    let mut cfg = config(&server, "alice");
    cfg.credentials.password = "not alice's password".into();
    let wrong = quicq_client::Client::connect(cfg).await.unwrap_err();
    let ConnectError::Refused { code: wrong_code, message: wrong_message } = wrong else {
        panic!("{wrong}")
    };
    assert_eq!((code, &message), (ErrorCode::WrongPassword, &wrong_message));
    assert_eq!(wrong_code, ErrorCode::WrongPassword);
}

/// Makes an invite in the server's database, as `quicq-server admin invite create` does.
fn invite(server: &TestServer, uses: u32) -> String {
    quicq_fixtures::postgres::off_runtime(|| {
        let mut store = quicq_server::store::open(&server.database).unwrap();
        quicq_server::admin::create_invite(store.as_mut(), uses, None).unwrap()
    })
}

fn with_invite(server: &TestServer, nick: &str, code: &str) -> quicq_client::ClientConfig {
    let mut cfg = config(server, nick);
    cfg.server.invite = Some(code.into());
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_server_registers_only_with_a_usable_invite_and_leaks_no_nicknames() {
    let server = TestServer::start_with(|c| {
        c.registration = Some(quicq_server::config::Registration::Invite)
    })
    .await;
    let refused = |err: ConnectError| match err {
        ConnectError::Refused { code, .. } => code,
        other => panic!("{other}"),
    };
    // Without an invite a free nickname is answered like a wrong password.
    let err = try_connect(&server, "stranger").await.unwrap_err();
    assert_eq!(refused(err), ErrorCode::WrongPassword);
    // A bogus invite is named as such, and the same for taken and free nicknames.
    let err = quicq_client::Client::connect(with_invite(&server, "stranger", "bogus")).await;
    assert_eq!(refused(err.unwrap_err()), ErrorCode::InvalidInvite);

    let code = invite(&server, 1);
    let (alice, _) =
        quicq_client::Client::connect(with_invite(&server, "alice", &code)).await.unwrap();
    assert!(alice.welcome().registered);
    alice.close().await;
    // Used up: the next stranger is refused…
    let err = quicq_client::Client::connect(with_invite(&server, "bob", &code)).await;
    assert_eq!(refused(err.unwrap_err()), ErrorCode::InvalidInvite);
    // …while alice signs in with her old link…
    let (again, _) =
        quicq_client::Client::connect(with_invite(&server, "alice", &code)).await.unwrap();
    assert!(!again.welcome().registered);
    // …and a wrong password for her gets the same answer as bob's free nickname did.
    let mut guess = with_invite(&server, "alice", &code);
    guess.credentials.password = "not alice's".into();
    let err = quicq_client::Client::connect(guess).await.unwrap_err();
    assert_eq!(refused(err), ErrorCode::InvalidInvite);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_join_and_leave() {
    let server = TestServer::start().await;
    let (alice, mut alice_events) = connect(&server, "alice").await;
    let (bob, _) = connect(&server, "bob").await;
    wait_for(&mut alice_events, "bob online", |e| {
        *e == Event::Presence { user: "bob".into(), online: true }
    })
    .await;
    let users = alice.users().await.unwrap();
    assert!(users.iter().any(|u| u.name == "bob" && u.online));
    bob.close().await;
    wait_for(&mut alice_events, "bob offline", |e| {
        *e == Event::Presence { user: "bob".into(), online: false }
    })
    .await;
    let users = alice.users().await.unwrap();
    assert!(users.iter().any(|u| u.name == "bob" && !u.online));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_message_reaches_only_recipient_and_senders_other_sessions() {
    let server = TestServer::start().await;
    let (alice, mut alice_events) = connect(&server, "alice").await;
    let (_alice2, mut alice2_events) = connect(&server, "alice").await;
    let (_bob, mut bob_events) = connect(&server, "bob").await;
    let (_carol, mut carol_events) = connect(&server, "carol").await;

    let sent = alice.send(user("BOB"), "hi bob, 你好").await.unwrap();
    let got = next_message(&mut bob_events).await;
    assert_eq!((got.id, got.from.as_str(), got.text.as_str()), (sent.id, "alice", "hi bob, 你好"));
    assert_eq!(got.to, user("bob"));
    assert_eq!(next_message(&mut alice2_events).await.id, sent.id);
    assert_eq!(next_message(&mut alice_events).await.id, sent.id);
    no_message(&mut carol_events, Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_message_reaches_every_online_member() {
    let server = TestServer::start().await;
    let names = ["ann", "ben", "cat", "dan"];
    let mut clients = Vec::new();
    for n in names {
        clients.push(connect(&server, n).await);
    }
    let sent = clients[0].0.send(Address::everyone(), "hello all").await.unwrap();
    for (client, events) in &mut clients {
        let m = next_message(events).await;
        assert_eq!((m.id, m.text.as_str()), (sent.id, "hello all"), "{:?}", client.welcome().you);
        assert_eq!(m.to, Address::everyone());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_every_recipient_sees_every_message_once_in_id_order() {
    let server = TestServer::start_with(|c| {
        c.messages_per_second = 1000;
        c.message_burst = 1000;
    })
    .await;
    let mut receivers = Vec::new();
    for n in ["r1", "r2"] {
        receivers.push(connect(&server, n).await);
    }
    let mut senders = Vec::new();
    for n in ["s1", "s2", "s3", "s4"] {
        senders.push(connect(&server, n).await.0);
    }
    const EACH: usize = 50;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, s) in senders.iter().enumerate() {
        for j in 0..EACH {
            // Several in flight per sender, each on its own stream.
            let s = s.clone();
            tasks.spawn(async move {
                s.send(Address::everyone(), format!("{i}-{j}")).await.unwrap().id
            });
        }
    }
    let mut all_ids = HashSet::new();
    while let Some(id) = tasks.join_next().await {
        assert!(all_ids.insert(id.unwrap()));
    }
    let total = EACH * senders.len();
    for (_, events) in &mut receivers {
        let got = messages(events, total).await;
        let ids: Vec<u64> = got.iter().map(|m| m.id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids out of order");
        assert_eq!(ids.iter().copied().collect::<HashSet<_>>(), all_ids);
        no_message(events, Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_message_delivered_after_restart() {
    let server = TestServer::start().await;
    let (bob, _) = connect(&server, "bob").await;
    bob.close().await;
    let (alice, _) = connect(&server, "alice").await;
    let direct = alice.send(user("bob"), "while you were out").await.unwrap();
    let group = alice.send(Address::everyone(), "to all").await.unwrap();
    alice.close().await;

    let dir = server.stop().await;
    let server = TestServer::start_in(dir, |_| {}).await;
    let (_bob, mut bob_events) = connect(&server, "bob").await;
    let got = messages(&mut bob_events, 2).await;
    assert_eq!(got[0].id, direct.id);
    assert_eq!(got[0].text, "while you were out");
    assert_eq!(got[1].id, group.id);
    no_message(&mut bob_events, Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_messages_are_not_delivered_again_on_next_login() {
    let server = TestServer::start().await;
    let (bob, mut bob_events) = connect(&server, "bob").await;
    let (alice, _) = connect(&server, "alice").await;
    let first = alice.send(user("bob"), "one").await.unwrap();
    assert_eq!(next_message(&mut bob_events).await.id, first.id);
    // Closing sends the last ack, and waits until the server has stored it.
    bob.close().await;
    let second = alice.send(user("bob"), "two").await.unwrap();
    let (_bob, mut bob_events) = connect(&server, "bob").await;
    assert_eq!(next_message(&mut bob_events).await.id, second.id);
    no_message(&mut bob_events, Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_newest_first() {
    let server = TestServer::start_with(|c| c.message_burst = 100).await;
    let (alice, _) = connect(&server, "alice").await;
    let (bob, _) = connect(&server, "bob").await;
    let mut ids = Vec::new();
    for i in 0..25 {
        let (from, to) = if i % 2 == 0 { (&alice, "bob") } else { (&bob, "alice") };
        ids.push(from.send(user(to), format!("m{i}")).await.unwrap().id);
    }
    alice.send(Address::everyone(), "not in the direct conversation").await.unwrap();

    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = alice.history(user("bob"), before, 10).await.unwrap();
        assert!(page.messages.len() <= 10);
        seen.extend(page.messages.iter().map(|m| m.id));
        before = page.messages.last().map(|m| m.id);
        if !page.more {
            break;
        }
    }
    ids.reverse();
    assert_eq!(seen, ids);
    // Bob sees the same conversation from his side.
    let page = bob.history(user("alice"), None, 3).await.unwrap();
    assert_eq!(page.messages.iter().map(|m| m.id).collect::<Vec<_>>(), ids[..3]);
    let group = bob.history(Address::everyone(), None, 50).await.unwrap();
    assert_eq!(group.messages.len(), 1);
    assert!(!group.more);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_after_dropped_connection_produces_no_duplicate() {
    let server = TestServer::start_with(|c| c.message_burst = 200).await;
    let (alice, mut alice_events) = connect(&server, "alice").await;
    let (_bob, mut bob_events) = connect(&server, "bob").await;
    let mut sends = Vec::new();
    for i in 0..40 {
        let a = alice.clone();
        sends.push(tokio::spawn(
            async move { a.send(user("bob"), format!("n{i}")).await.unwrap().id },
        ));
        if i == 10 || i == 25 {
            alice.reconnect(); // drop the connection with requests in flight
        }
    }
    let mut ids = HashSet::new();
    for s in sends {
        assert!(ids.insert(s.await.unwrap()), "two sends got one id");
    }
    let got = messages(&mut bob_events, 40).await;
    let texts: HashSet<_> = got.iter().map(|m| m.text.clone()).collect();
    assert_eq!(texts.len(), 40, "every message exactly once");
    assert_eq!(got.iter().map(|m| m.id).collect::<HashSet<_>>(), ids);
    no_message(&mut bob_events, Duration::from_millis(500)).await;
    wait_for(&mut alice_events, "reconnected", |e| {
        matches!(e, Event::State(ConnState::Connected { .. }))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_caught_by_a_dropped_connection_keep_the_order_of_the_calls() {
    let server = TestServer::start_with(|c| c.message_burst = 1000).await;
    let (alice, _alice_events) = connect(&server, "alice").await;
    let (_bob, _bob_events) = connect(&server, "bob").await;
    // Every send from its own task, called in order; the connection is dropped twice with
    // sends in flight, which are sent again on the next connection.
    let mut tasks = Vec::new();
    for i in 0..300 {
        tasks.push(tokio::spawn(alice.send(user("bob"), format!("n{i}"))));
        if i == 100 || i == 200 {
            alice.reconnect();
        }
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap().unwrap().id);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "stored out of call order: {ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_reconnects_after_server_restart_and_catches_up() {
    let server = TestServer::start().await;
    let port = server.addr.port();
    let (_bob, mut bob_events) = connect(&server, "bob").await;
    let dir = server.stop().await;
    wait_for(&mut bob_events, "reconnecting", |e| {
        matches!(e, Event::State(ConnState::Reconnecting { .. }))
    })
    .await;

    // Same port, same certificate and database.
    let server = TestServer::start_in(dir, |c| c.listen.set_port(port)).await;
    let (alice, _) = connect(&server, "alice").await;
    let sent = alice.send(user("bob"), "welcome back").await.unwrap();
    let got = next_message(&mut bob_events).await;
    assert_eq!(got.id, sent.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sends_get_clear_errors() {
    let server = TestServer::start_with(|c| c.max_text_chars = 10).await;
    let (alice, _) = connect(&server, "alice").await;
    let err = alice.send(user("nobody"), "hello").await.unwrap_err();
    assert!(
        matches!(err, RequestError::Refused { code: ErrorCode::UnknownRecipient, .. }),
        "{err}"
    );
    let err = alice.send(Address::Group("staff".into()), "hello").await.unwrap_err();
    assert!(
        matches!(err, RequestError::Refused { code: ErrorCode::UnknownRecipient, .. }),
        "{err}"
    );
    let err = alice.send(Address::everyone(), "x".repeat(11)).await.unwrap_err();
    assert!(matches!(err, RequestError::Refused { code: ErrorCode::TextTooLong, .. }), "{err}");
    let err = alice.send(Address::everyone(), "   ").await.unwrap_err();
    assert!(matches!(err, RequestError::Refused { code: ErrorCode::EmptyText, .. }), "{err}");
    // Ten characters of Chinese are within a ten-character limit.
    alice.send(Address::everyone(), "一二三四五六七八九十").await.unwrap();
}
