//! The store's behaviour, run against both backends: each test below exists once per backend
//! (`sqlite::…`, `postgres::…`), on a fresh database. PostgreSQL runs for real, from
//! `quicq-fixtures`.

use quicq_common::protocol::{Address, ChatMessage, Event, MAX_FRAME_LEN, Role};

use super::{Change, Database, INDEX_BATCH, Membership, Rejection, Store, Target};

/// A fresh database of one backend, which tests may open more than once.
struct Fresh {
    database: Database,
    _dir: tempfile::TempDir,
}

impl Fresh {
    fn open(&self) -> Box<dyn Store> {
        super::open(&self.database).expect("open the store")
    }
}

fn sqlite() -> Fresh {
    let dir = tempfile::tempdir().expect("temporary directory");
    Fresh { database: Database::Sqlite(dir.path().join("q.sqlite3")), _dir: dir }
}

fn postgres() -> Fresh {
    let url = quicq_fixtures::postgres::PgCluster::shared().new_database().expect("new database");
    Fresh { database: Database::Postgres(url), _dir: tempfile::tempdir().expect("directory") }
}

/// Each test, once per backend.
macro_rules! suite {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $test() { super::$test(super::sqlite()) } )*
        }
        mod postgres {
            $( #[test] fn $test() { super::$test(super::postgres()) } )*
        }
    };
}

suite!(
    accounts_are_unique_by_key,
    duplicate_client_id_returns_original_message,
    inbox_and_history_select_the_right_conversation,
    history_page_fits_in_one_frame,
    delivery_position_only_moves_forward_and_survives_reopen,
    catch_up_follows_group_membership_from_join_to_leave,
    search_follows_edits_and_recalls_in_chinese_and_english,
    the_committed_stream_names_sender_target_and_group_receivers,
);

fn ids(v: Vec<ChatMessage>) -> Vec<u64> {
    v.into_iter().map(|m| m.id).collect()
}

fn accounts_are_unique_by_key(db: Fresh) {
    let mut s = db.open();
    let a = s.create_account("Alice", "alice", "h", 0).unwrap().unwrap();
    assert!(s.create_account("ALICE", "alice", "h2", 0).unwrap().is_none());
    assert_eq!(s.account_by_key("alice").unwrap().unwrap(), a);
    assert!(s.account_by_key("bob").unwrap().is_none());
}

fn duplicate_client_id_returns_original_message(db: Fresh) {
    let mut s = db.open();
    let a = s.create_account("a", "a", "h", 0).unwrap().unwrap();
    let b = s.create_account("b", "b", "h", 0).unwrap().unwrap();
    let first = s.insert_message(a.id, &Target::User(b.id), "hi", "c1", 5).unwrap().unwrap();
    assert!(!first.duplicate);
    let again = s.insert_message(a.id, &Target::User(b.id), "hi", "c1", 9).unwrap().unwrap();
    assert!(again.duplicate);
    assert_eq!(again.message, first.message);
    // Another sender may use the same client id.
    let other = s.insert_message(b.id, &Target::User(a.id), "yo", "c1", 9).unwrap().unwrap();
    assert!(!other.duplicate);
    assert!(other.message.id > first.message.id);
}

fn inbox_and_history_select_the_right_conversation(db: Fresh) {
    let mut s = db.open();
    let a = s.create_account("a", "a", "h", 0).unwrap().unwrap();
    let b = s.create_account("b", "b", "h", 0).unwrap().unwrap();
    let c = s.create_account("c", "c", "h", 0).unwrap().unwrap();
    let ab = s.insert_message(a.id, &Target::User(b.id), "a→b", "1", 1).unwrap().unwrap().message;
    let g = s.insert_message(c.id, &Target::Everyone, "all", "2", 2).unwrap().unwrap().message;
    let ca = s.insert_message(c.id, &Target::User(a.id), "c→a", "3", 3).unwrap().unwrap().message;
    let ba = s.insert_message(b.id, &Target::User(a.id), "b→a", "4", 4).unwrap().unwrap().message;

    assert_eq!(ids(s.inbox_after(b.id, 0, 100).unwrap()), vec![ab.id, g.id, ba.id]);
    assert_eq!(ids(s.inbox_after(b.id, ab.id, 100).unwrap()), vec![g.id, ba.id]);
    assert_eq!(ids(s.inbox_after(a.id, 0, 2).unwrap()), vec![ab.id, g.id]);

    let (page, more) = s.history(a.id, &Target::User(b.id), None, 10).unwrap();
    assert_eq!(ids(page), vec![ba.id, ab.id]);
    assert!(!more);
    let (page, more) = s.history(a.id, &Target::User(b.id), None, 1).unwrap();
    assert_eq!(ids(page), vec![ba.id]);
    assert!(more);
    let (page, more) = s.history(a.id, &Target::User(b.id), Some(ba.id), 1).unwrap();
    assert_eq!(ids(page), vec![ab.id]);
    assert!(!more);
    let (page, _) = s.history(b.id, &Target::Everyone, None, 10).unwrap();
    assert_eq!(ids(page), vec![g.id]);
    assert_eq!(ca.to, Address::User("a".into()));
}

fn history_page_fits_in_one_frame(db: Fresh) {
    let mut s = db.open();
    let a = s.create_account("a", "a", "h", 0).unwrap().unwrap();
    let big = "字".repeat(4000);
    for i in 0..20 {
        s.insert_message(a.id, &Target::Everyone, &big, &i.to_string(), 0).unwrap().unwrap();
    }
    let (page, more) = s.history(a.id, &Target::Everyone, None, 200).unwrap();
    assert!(more);
    assert!(!page.is_empty() && page.len() < 20);
    assert!(serde_json::to_vec(&page).unwrap().len() < MAX_FRAME_LEN);
}

fn delivery_position_only_moves_forward_and_survives_reopen(db: Fresh) {
    let mut s = db.open();
    let a = s.create_account("a", "a", "h", 0).unwrap().unwrap();
    s.set_delivered(a.id, 10).unwrap();
    s.set_delivered(a.id, 3).unwrap();
    drop(s);
    let mut s = db.open();
    assert_eq!(s.account_by_key("a").unwrap().unwrap().delivered_up_to, 10);
}

fn catch_up_follows_group_membership_from_join_to_leave(db: Fresh) {
    let mut s = db.open();
    let a = s.create_account("a", "a", "h", 0).unwrap().unwrap();
    let b = s.create_account("b", "b", "h", 0).unwrap().unwrap();
    let before = s.insert_message(a.id, &Target::Everyone, "x", "0", 0).unwrap().unwrap();
    let (g, events) = s.create_group(a.id, "g", "g", &[], 0).unwrap();
    let early = s.insert_message(a.id, &Target::Group(g), "early", "1", 0).unwrap().unwrap();
    let added = s
        .group_events(
            g,
            a.id,
            &[(Event::Added { user: "b".into() }, vec![Membership::Join(b.id, Role::Member)])],
            None,
            None,
            0,
        )
        .unwrap();
    let during = s.insert_message(b.id, &Target::Group(g), "during", "2", 0).unwrap().unwrap();
    let removed = s
        .group_events(
            g,
            a.id,
            &[(Event::Removed { user: "b".into() }, vec![Membership::Leave(b.id)])],
            None,
            None,
            0,
        )
        .unwrap();
    let after = s.insert_message(a.id, &Target::Group(g), "after", "3", 0).unwrap();
    let refused = s.insert_message(b.id, &Target::Group(g), "let me", "4", 0).unwrap();
    assert_eq!(refused, Err(Rejection::NotMember));
    assert_eq!(
        ids(s.inbox_after(b.id, before.message.id, 100).unwrap()),
        vec![added[0].id, during.message.id, removed[0].id]
    );
    // a: its everyone message, created, early, added, during, removed, after.
    assert_eq!(events.len(), 1);
    assert_eq!(ids(s.inbox_after(a.id, 0, 100).unwrap()).len(), 7);
    assert!(s.history(b.id, &Target::Group(g), None, 10).unwrap().0.is_empty());
    assert!(s.member_since(g, b.id).unwrap().is_none());
    let _ = (early, after);
}

fn search_follows_edits_and_recalls_in_chinese_and_english(db: Fresh) {
    let mut s = db.open();
    let a = s.create_account("a", "a", "h", 0).unwrap().unwrap();
    let texts = |s: &mut dyn Store, q: &str| {
        s.search(a.id, q, None, None, 10).unwrap().0.into_iter().map(|m| m.text).collect::<Vec<_>>()
    };
    let early =
        s.insert_message(a.id, &Target::Everyone, "早上好 morning", "1", 0).unwrap().unwrap();
    // SQLite indexes in batches: edit one message after it was indexed, one before.
    s.index_pending(INDEX_BATCH).unwrap();
    let late =
        s.insert_message(a.id, &Target::Everyone, "晚上好 evening", "2", 0).unwrap().unwrap();
    for (id, text, cid) in
        [(early.message.id, "中午好 noon", "3"), (late.message.id, "夜里好 night", "4")]
    {
        let change = Change::Edit { text: text.into(), window_ms: i64::MAX };
        s.change_message(a.id, id, &change, cid, 1).unwrap().unwrap();
    }
    assert!(texts(s.as_mut(), "早上好").is_empty());
    assert!(texts(s.as_mut(), "evening").is_empty());
    assert_eq!(texts(s.as_mut(), "中午好"), ["中午好 noon"]);
    assert_eq!(texts(s.as_mut(), "NIGHT"), ["夜里好 night"]);
    assert_eq!(texts(s.as_mut(), "夜"), ["夜里好 night"], "shorter than a trigram");
    assert_eq!(texts(s.as_mut(), "100%"), Vec::<String>::new(), "LIKE's characters are literal");
    let recall = Change::Recall { window_ms: i64::MAX };
    s.change_message(a.id, early.message.id, &recall, "5", 2).unwrap().unwrap();
    assert!(texts(s.as_mut(), "noon").is_empty());
}

fn the_committed_stream_names_sender_target_and_group_receivers(db: Fresh) {
    let mut s = db.open();
    let a = s.create_account("a", "a", "h", 0).unwrap().unwrap();
    let b = s.create_account("b", "b", "h", 0).unwrap().unwrap();
    let ab = s.insert_message(a.id, &Target::User(b.id), "hi", "1", 0).unwrap().unwrap().message;
    let (g, created) = s.create_group(a.id, "g", "g", &[(b.id, "b".into())], 0).unwrap();
    let in_group = s.insert_message(b.id, &Target::Group(g), "x", "2", 0).unwrap().unwrap();
    let left = s
        .group_events(g, b.id, &[(Event::Left {}, vec![Membership::Leave(b.id)])], None, None, 0)
        .unwrap();
    let after = s.insert_message(a.id, &Target::Group(g), "y", "3", 0).unwrap().unwrap();

    let all = s.committed_after(0, 100).unwrap();
    let got: Vec<(i64, Target, u64)> =
        all.iter().map(|c| (c.sender, c.target, c.message.id)).collect();
    let group = Target::Group(g);
    assert_eq!(
        got,
        vec![
            (a.id, Target::User(b.id), ab.id),
            (a.id, group, created[0].id),
            (a.id, group, created[1].id),
            (b.id, group, in_group.message.id),
            (b.id, group, left[0].id),
            (a.id, group, after.message.id),
        ]
    );
    assert_eq!(all[3].message, in_group.message);
    assert_eq!(
        ids(s.committed_after(created[1].id, 2).unwrap().into_iter().map(|c| c.message).collect()),
        vec![in_group.message.id, left[0].id]
    );
    let mut receivers = |id| {
        let mut r = s.receivers(g, id).unwrap();
        r.sort();
        r
    };
    assert_eq!(receivers(created[0].id), vec![a.id], "b joins with the next event");
    assert_eq!(receivers(in_group.message.id), vec![a.id, b.id]);
    assert_eq!(receivers(left[0].id), vec![a.id, b.id], "the leaving event is b's last");
    assert_eq!(receivers(after.message.id), vec![a.id]);
    let row = s.group(g).unwrap().unwrap();
    assert_eq!((row.name.as_str(), row.members.len()), ("g", 1));
    s.delete_group(g, a.id, 0).unwrap();
    assert_eq!(s.group(g).unwrap(), None);
}
