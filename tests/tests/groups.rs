//! Named groups over real QUIC, with frames crafted by hand: membership is the authorisation
//! boundary for every request, and membership changes are stored events delivered in order.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::time::Duration;

use quicq_common::frame::{read_frame, write_frame};
use quicq_common::protocol::{
    Address, ChatMessage, ClientFrame, ErrorCode, Event, GroupChange, Role, ServerFrame,
};
use quicq_tests::*;

/// Long enough for a delivery that should not happen to have happened on loopback.
const QUIET: Duration = Duration::from_millis(500);

fn group(name: &str) -> Address {
    Address::Group(name.into())
}

fn send(id: &str, to: Address, text: &str) -> ClientFrame {
    ClientFrame::Send { client_id: id.into(), to, text: text.into(), reply_to: None }
}

fn change(name: &str, change: GroupChange) -> ClientFrame {
    ClientFrame::Group { group: name.into(), change }
}

fn done(frame: &ServerFrame) -> u64 {
    match frame {
        ServerFrame::Done { id } => *id,
        other => panic!("expected done, got {other:?}"),
    }
}

fn history_of(frame: ServerFrame) -> Vec<ChatMessage> {
    match frame {
        ServerFrame::HistoryPage { messages, .. } => messages,
        other => panic!("expected a history page, got {other:?}"),
    }
}

async fn history(user: &RawUser, with: Address) -> Vec<ChatMessage> {
    history_of(user.request(&ClientFrame::History { with, before: None, limit: 200 }).await)
}

fn events(messages: &[ChatMessage]) -> Vec<Event> {
    messages.iter().filter_map(|m| m.event.as_deref().cloned()).collect()
}

/// Creates `name` owned by `owner` with `members`; every member (and the owner) drains the events
/// it receives.
async fn create(owner: &mut RawUser, name: &str, members: &mut [&mut RawUser]) {
    let names = members.iter().map(|m| m.name.clone()).collect();
    let answer =
        owner.request(&ClientFrame::GroupCreate { name: name.into(), members: names }).await;
    assert!(matches!(answer, ServerFrame::GroupMembers { .. }), "{answer:?}");
    let n = members.len();
    owner.messages(1 + n).await;
    for (i, member) in members.iter_mut().enumerate() {
        // Each member sees the group from its own `added` on.
        member.messages(n - i).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_is_created_with_its_members_and_each_sees_it_from_its_own_added_event() {
    let server = TestServer::start().await;
    let mut alice = RawUser::login(&server, "alice").await;
    let mut bob = RawUser::login(&server, "bob").await;
    let mut carol = RawUser::login(&server, "carol").await;
    let answer = alice
        .request(&ClientFrame::GroupCreate {
            name: "Rust中文".into(),
            members: vec!["BOB".into(), "carol".into(), "alice".into(), "bob".into()],
        })
        .await;
    let ServerFrame::GroupMembers { group: info, members } = answer else { panic!("{answer:?}") };
    assert_eq!((info.name.as_str(), info.members, info.role), ("Rust中文", 3, Role::Owner));
    let roles: Vec<_> = members.iter().map(|m| (m.name.as_str(), m.role)).collect();
    assert_eq!(roles, [("alice", Role::Owner), ("bob", Role::Member), ("carol", Role::Member)]);

    let seen = alice.messages(3).await;
    assert_eq!(
        events(&seen),
        [
            Event::Created { name: "Rust中文".into() },
            Event::Added { user: "bob".into() },
            Event::Added { user: "carol".into() },
        ]
    );
    assert!(
        seen.iter().all(|m| m.from == "alice" && m.to == group("Rust中文") && m.text.is_empty())
    );
    assert_eq!(events(&bob.messages(2).await)[0], Event::Added { user: "bob".into() });
    assert_eq!(events(&[carol.next_message().await]), [Event::Added { user: "carol".into() }]);

    // The name is matched by key, and messages reach the members.
    let id = sent_id(&bob.request(&send("b1", group("rust中文"), "hello group")).await);
    for user in [&mut alice, &mut bob, &mut carol] {
        let m = user.next_message().await;
        assert_eq!((m.id, m.text.as_str(), m.to.clone()), (id, "hello group", group("Rust中文")));
    }
    // A new sign-in lists the group after everyone.
    let again = RawUser::login(&server, "carol").await;
    let ServerFrame::Welcome { groups, .. } = &again.welcome else { panic!() };
    let names: Vec<_> = groups.iter().map(|g| (g.name.as_str(), g.members)).collect();
    assert_eq!(names, [("everyone", 3), ("Rust中文", 3)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_names_follow_the_nickname_rules_and_cannot_pass_for_another() {
    let server = TestServer::start_with(|c| c.max_group_name_chars = 10).await;
    let alice = RawUser::login(&server, "alice").await;
    let make =
        |name: &str, members: Vec<String>| ClientFrame::GroupCreate { name: name.into(), members };
    for name in ["rust", "com"] {
        let answer = alice.request(&make(name, vec![])).await;
        assert!(matches!(answer, ServerFrame::GroupMembers { .. }), "{answer:?}");
    }
    let cases: &[(&str, ErrorCode)] = &[
        ("RUST", ErrorCode::NameTaken),
        ("ru\u{455}t", ErrorCode::InvalidGroupName),
        ("corn", ErrorCode::NameTaken),
        ("Everyone", ErrorCode::NameTaken),
        ("\u{435}veryone", ErrorCode::InvalidGroupName),
        ("two words", ErrorCode::InvalidGroupName),
        ("", ErrorCode::InvalidGroupName),
        ("elevenchars", ErrorCode::InvalidGroupName),
    ];
    for (name, want) in cases {
        assert_eq!(error_code(&alice.request(&make(name, vec![])).await), *want, "{name:?}");
    }
    let ghost = make("ok", vec!["nobody".into()]);
    assert_eq!(error_code(&alice.request(&ghost).await), ErrorCode::UnknownRecipient);
    // Nothing was created by the refused requests.
    let ServerFrame::GroupList { groups } = alice.request(&ClientFrame::Groups {}).await else {
        panic!()
    };
    assert_eq!(
        groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(),
        ["everyone", "rust", "com"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_members_can_use_a_group_and_to_others_it_does_not_exist() {
    let server = TestServer::start().await;
    let mut alice = RawUser::login(&server, "alice").await;
    let mut bob = RawUser::login(&server, "bob").await;
    let mut eve = RawUser::login(&server, "eve").await;
    create(&mut alice, "team", &mut [&mut bob]).await;
    let secret = sent_id(&alice.request(&send("a1", group("team"), "the plan")).await);
    alice.next_message().await;
    bob.next_message().await;

    // Every request that names the group is refused to a non-member as if it did not exist.
    let refusals = [
        send("e1", group("team"), "let me in"),
        ClientFrame::History { with: group("team"), before: None, limit: 10 },
        ClientFrame::Search {
            text: "plan".into(),
            with: Some(group("team")),
            before: None,
            limit: 10,
        },
        ClientFrame::Receipts { with: group("team") },
        ClientFrame::GroupMembers { group: "team".into() },
        change("team", GroupChange::Add { user: "eve".into() }),
        change("team", GroupChange::Leave {}),
        change("team", GroupChange::Delete {}),
    ];
    for frame in &refusals {
        assert_eq!(error_code(&eve.request(frame).await), ErrorCode::UnknownRecipient, "{frame:?}");
    }
    // Nor do search results or files of the group reach it.
    let ServerFrame::SearchResults { messages, .. } = eve
        .request(&ClientFrame::Search { text: "plan".into(), with: None, before: None, limit: 10 })
        .await
    else {
        panic!()
    };
    assert!(messages.is_empty(), "{messages:?}");
    eve.no_message(QUIET).await;
    let reply = ClientFrame::Send {
        client_id: "e2".into(),
        to: Address::everyone(),
        text: "quoting".into(),
        reply_to: Some(secret),
    };
    assert_eq!(error_code(&eve.request(&reply).await), ErrorCode::UnknownMessage);
    let react =
        ClientFrame::React { client_id: "e3".into(), id: secret, emoji: Some("👀".into()) };
    assert_eq!(error_code(&eve.request(&react).await), ErrorCode::UnknownMessage);
    // The members' group is untouched.
    assert_eq!(
        history(&bob, group("team")).await.last().unwrap().event.as_deref(),
        Some(&Event::Added { user: "bob".into() })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_gets_its_removal_and_nothing_after_and_cannot_read_or_send() {
    let server = TestServer::start().await;
    let mut alice = RawUser::login(&server, "alice").await;
    let mut bob = RawUser::login(&server, "bob").await;
    let mut carol = RawUser::login(&server, "carol").await;
    create(&mut alice, "team", &mut [&mut bob, &mut carol]).await;

    let removed =
        done(&alice.request(&change("team", GroupChange::Remove { user: "bob".into() })).await);
    for user in [&mut alice, &mut bob, &mut carol] {
        let m = user.next_message().await;
        assert_eq!(
            (m.id, m.event.map(|e| *e)),
            (removed, Some(Event::Removed { user: "bob".into() }))
        );
    }
    sent_id(&alice.request(&send("a1", group("team"), "after bob left")).await);
    alice.next_message().await;
    carol.next_message().await;
    bob.no_message(QUIET).await;
    assert_eq!(
        error_code(&bob.request(&send("b1", group("team"), "hello?")).await),
        ErrorCode::UnknownRecipient
    );
    let page = ClientFrame::History { with: group("team"), before: None, limit: 10 };
    assert_eq!(error_code(&bob.request(&page).await), ErrorCode::UnknownRecipient);

    // A new sign-in no longer lists the group.
    let again = RawUser::login(&server, "bob").await;
    let ServerFrame::Welcome { groups, .. } = &again.welcome else { panic!() };
    assert_eq!(groups.len(), 1, "only everyone: {groups:?}");

    // Added again, bob sees the group from the new `added` on, not what was said meanwhile.
    let added =
        done(&alice.request(&change("team", GroupChange::Add { user: "bob".into() })).await);
    let m = bob.next_message().await;
    assert_eq!((m.id, m.event.map(|e| *e)), (added, Some(Event::Added { user: "bob".into() })));
    let seen = history(&bob, group("team")).await;
    assert_eq!(seen.iter().map(|m| m.id).collect::<Vec<_>>(), [added]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_rename_topic_and_the_owner_handing_over_by_leaving() {
    let server = TestServer::start().await;
    let mut alice = RawUser::login(&server, "alice").await;
    let mut bob = RawUser::login(&server, "bob").await;
    let mut carol = RawUser::login(&server, "carol").await;
    create(&mut alice, "team", &mut [&mut bob, &mut carol]).await;

    // A plain member may not manage; the owner makes bob an admin.
    let add = change("team", GroupChange::Add { user: "dave".into() });
    assert_eq!(
        error_code(&carol.request(&add).await),
        ErrorCode::UnknownRecipient,
        "dave has no account"
    );
    let _dave = RawUser::login(&server, "dave").await;
    assert_eq!(error_code(&carol.request(&add).await), ErrorCode::NotAllowed);
    let promote = change("team", GroupChange::Role { user: "bob".into(), role: Role::Admin });
    assert_eq!(error_code(&bob.request(&promote).await), ErrorCode::NotAllowed);
    done(&alice.request(&promote).await);
    assert_eq!(error_code(&alice.request(&promote).await), ErrorCode::NotAllowed, "already admin");
    // An admin renames and sets the topic; history follows the group to its new name.
    let rename = change("team", GroupChange::Rename { name: "crew".into() });
    done(&bob.request(&rename).await);
    let topic = change("crew", GroupChange::Topic { topic: "ship it 🚀".into() });
    done(&bob.request(&topic).await);
    let long = change("crew", GroupChange::Topic { topic: "x".repeat(501) });
    assert_eq!(error_code(&bob.request(&long).await), ErrorCode::TopicTooLong);
    assert_eq!(
        error_code(&bob.request(&send("b", group("team"), "old name")).await),
        ErrorCode::UnknownRecipient
    );
    let log = history(&carol, group("crew")).await;
    assert!(log.iter().all(|m| m.to == group("crew")), "{log:?}");
    assert_eq!(
        events(&log[..3]),
        [
            Event::Topic { topic: "ship it 🚀".into() },
            Event::Renamed { name: "crew".into(), old: "team".into() },
            Event::Role { user: "bob".into(), role: Role::Admin },
        ]
    );
    // The owner leaves: the longest-standing admin (bob) becomes owner, in the same order for
    // everyone.
    let left = done(&alice.request(&change("crew", GroupChange::Leave {})).await);
    for user in [&mut bob, &mut carol] {
        let got: Vec<_> = user
            .messages(5)
            .await
            .into_iter()
            .skip(3)
            .map(|m| (m.id, m.event.map(|e| *e)))
            .collect();
        assert_eq!(
            got,
            [
                (left, Some(Event::Left {})),
                (left + 1, Some(Event::Role { user: "bob".into(), role: Role::Owner })),
            ]
        );
    }
    let ServerFrame::GroupMembers { members, group: info } =
        carol.request(&ClientFrame::GroupMembers { group: "CREW".into() }).await
    else {
        panic!()
    };
    assert_eq!(info.topic, "ship it 🚀");
    let roles: Vec<_> = members.iter().map(|m| (m.name.as_str(), m.role)).collect();
    assert_eq!(roles, [("bob", Role::Owner), ("carol", Role::Member)]);
    // The new owner may delete; an admin-less member may not.
    assert_eq!(
        error_code(&carol.request(&change("crew", GroupChange::Delete {})).await),
        ErrorCode::NotAllowed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_group_deletes_its_history_and_frees_its_name() {
    let server = TestServer::start().await;
    let mut alice = RawUser::login(&server, "alice").await;
    let mut bob = RawUser::login(&server, "bob").await;
    create(&mut alice, "team", &mut [&mut bob]).await;
    sent_id(&bob.request(&send("b1", group("team"), "soon gone 秘密")).await);
    alice.next_message().await;
    bob.next_message().await;
    let deleted = done(&alice.request(&change("team", GroupChange::Delete {})).await);
    for user in [&mut alice, &mut bob] {
        let m = user.next_message().await;
        assert_eq!((m.id, m.event.map(|e| *e)), (deleted, Some(Event::Deleted {})));
    }
    assert_eq!(
        error_code(&bob.request(&send("b2", group("team"), "hello?")).await),
        ErrorCode::UnknownRecipient
    );
    let search = ClientFrame::Search { text: "秘密".into(), with: None, before: None, limit: 10 };
    let ServerFrame::SearchResults { messages, .. } = bob.request(&search).await else { panic!() };
    assert!(messages.is_empty());
    // The name is free, and the new group has none of the old one's history.
    create(&mut bob, "team", &mut []).await;
    let log = history(&bob, group("team")).await;
    assert_eq!(events(&log), [Event::Created { name: "team".into() }]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_limits_are_enforced() {
    let server = TestServer::start_with(|c| {
        c.max_group_members = 2;
        c.max_groups_per_user = 1;
    })
    .await;
    let mut alice = RawUser::login(&server, "alice").await;
    let mut bob = RawUser::login(&server, "bob").await;
    let carol = RawUser::login(&server, "carol").await;
    let three = ClientFrame::GroupCreate {
        name: "big".into(),
        members: vec!["bob".into(), "carol".into()],
    };
    assert_eq!(error_code(&alice.request(&three).await), ErrorCode::GroupFull);
    create(&mut alice, "one", &mut [&mut bob]).await;
    let add = change("one", GroupChange::Add { user: "carol".into() });
    assert_eq!(error_code(&alice.request(&add).await), ErrorCode::GroupFull);
    let second = ClientFrame::GroupCreate { name: "two".into(), members: vec![] };
    assert_eq!(error_code(&alice.request(&second).await), ErrorCode::TooManyGroups);
    let with_bob = ClientFrame::GroupCreate { name: "three".into(), members: vec!["bob".into()] };
    assert_eq!(
        error_code(&carol.request(&with_bob).await),
        ErrorCode::TooManyGroups,
        "bob is in one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_member_catches_up_on_every_event_in_order() {
    let server = TestServer::start().await;
    let mut alice = RawUser::login(&server, "alice").await;
    let mut bob = RawUser::login(&server, "bob").await;
    create(&mut alice, "team", &mut [&mut bob]).await;
    // Everything bob has, up to now.
    let ServerFrame::HistoryPage { messages, .. } =
        bob.request(&ClientFrame::History { with: group("team"), before: None, limit: 1 }).await
    else {
        panic!()
    };
    let held = messages[0].id;
    bob.conn.close(0u32.into(), b"");

    let first = sent_id(&alice.request(&send("a1", group("team"), "first")).await);
    let edit =
        ClientFrame::Edit { client_id: "a2".into(), id: first, text: "first, edited".into() };
    let edited = sent_id(&alice.request(&edit).await);
    let react =
        ClientFrame::React { client_id: "a3".into(), id: first, emoji: Some("🎉".into()) };
    let reacted = sent_id(&alice.request(&react).await);
    let second = sent_id(&alice.request(&send("a4", group("team"), "second")).await);
    let recalled =
        sent_id(&alice.request(&ClientFrame::Recall { client_id: "a5".into(), id: second }).await);
    let topic =
        done(&alice.request(&change("team", GroupChange::Topic { topic: "t".into() })).await);

    // bob returns holding up to `held`: every event arrives once, in id order.
    let conn = raw_connect(&server).await;
    // The control stream stays open (held) for as long as the session should.
    let (_control, _answers, welcome) =
        raw_login_resuming(&conn, "bob", PASSWORD, Some(held)).await;
    assert!(matches!(welcome, ServerFrame::Welcome { .. }));
    let mut got = Vec::new();
    for _ in 0..6 {
        let mut stream = tokio::time::timeout(WAIT, conn.accept_uni()).await.unwrap().unwrap();
        let Some(ServerFrame::Message(m)) = read_frame(&mut stream).await.unwrap() else {
            panic!()
        };
        got.push(m);
    }
    let ids: Vec<u64> = got.iter().map(|m| m.id).collect();
    assert_eq!(ids, [first, edited, reacted, second, recalled, topic]);
    // The messages come as the store holds them now: edited, recalled.
    assert_eq!((got[0].text.as_str(), got[0].edited_at.is_some()), ("first, edited", true));
    assert!(got[3].recalled && got[3].text.is_empty());
    assert_eq!(
        got[1].event.as_deref(),
        Some(&Event::Edited { id: first, text: "first, edited".into() })
    );
    assert_eq!(
        got[2].event.as_deref(),
        Some(&Event::Reacted { id: first, emoji: Some("🎉".into()) })
    );
    assert_eq!(got[4].event.as_deref(), Some(&Event::Recalled { id: second }));
    assert_eq!(got[5].event.as_deref(), Some(&Event::Topic { topic: "t".into() }));
}

/// Uploads `bytes` to `to` on a stream of its own, as the protocol's `upload` frame says.
async fn upload(user: &RawUser, transfer_id: &str, to: Address, bytes: &[u8]) {
    let header = ClientFrame::Upload {
        transfer_id: transfer_id.into(),
        to,
        name: "plan.txt".into(),
        size: bytes.len() as u64,
        blake3: blake3::hash(bytes).to_hex().to_string(),
        offset: 0,
    };
    let mut stream = user.conn.open_uni().await.unwrap();
    write_frame(&mut stream, &header).await.unwrap();
    // A refused upload is stopped by the server; the write may fail then.
    let _ = stream.write_all(bytes).await;
    let _ = stream.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_files_reach_members_only_and_only_from_their_own_added_event() {
    let server = TestServer::start().await;
    let mut alice = RawUser::login(&server, "alice").await;
    let mut bob = RawUser::login(&server, "bob").await;
    let mut eve = RawUser::login(&server, "eve").await;
    let carol = RawUser::login(&server, "carol").await;
    carol.conn.close(0u32.into(), b"");
    create(&mut alice, "team", &mut [&mut bob]).await;
    done(&alice.request(&change("team", GroupChange::Add { user: "carol".into() })).await);
    alice.next_message().await;
    bob.next_message().await;

    // A non-member's upload is refused as if the group did not exist.
    upload(&eve, "e1", group("team"), b"let me in").await;
    let refused = eve.next_control(|f| matches!(f, ServerFrame::FileRejected { .. })).await;
    assert!(
        matches!(refused, ServerFrame::FileRejected { code: ErrorCode::UnknownRecipient, .. }),
        "{refused:?}"
    );

    // A member's upload: one file message to the members, complete with the offline member
    // named.
    upload(&bob, "b1", group("team"), b"the plan, in full").await;
    let complete = bob.next_control(|f| matches!(f, ServerFrame::FileComplete { .. })).await;
    let ServerFrame::FileComplete { file_id, offline, .. } = complete else { panic!() };
    assert_eq!(offline, ["carol"]);
    for user in [&mut alice, &mut bob] {
        let m = user.next_message().await;
        assert_eq!(m.file.as_ref().map(|f| f.id), Some(file_id));
    }
    eve.no_message(QUIET).await;
    let fetch = ClientFrame::Download { file_id, offset: 0 };
    assert_eq!(error_code(&eve.request(&fetch).await), ErrorCode::UnknownFile);
    assert!(matches!(alice.request(&fetch).await, ServerFrame::DownloadStarted { .. }));
    // The offline member finds it waiting.
    let carol = RawUser::login(&server, "carol").await;
    let ServerFrame::FileList { messages } = carol.request(&ClientFrame::PendingFiles {}).await
    else {
        panic!()
    };
    assert_eq!(
        messages.iter().filter_map(|m| m.file.as_ref()).map(|f| f.id).collect::<Vec<_>>(),
        [file_id]
    );
    // Added after the file was sent, eve cannot fetch it, and it is not pending for her.
    done(&alice.request(&change("team", GroupChange::Add { user: "eve".into() })).await);
    assert_eq!(error_code(&eve.request(&fetch).await), ErrorCode::UnknownFile);
    let ServerFrame::FileList { messages } = eve.request(&ClientFrame::PendingFiles {}).await
    else {
        panic!()
    };
    assert!(messages.is_empty(), "{messages:?}");
}
