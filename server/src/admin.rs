//! What `quicq-server admin …` does: invites and the account list, worked on the data directory
//! directly. Safe while the server runs: SQLite in WAL mode lets both write, one at a time.

use std::time::Duration;

use rand::Rng;

use crate::store::{Invite, Store, StoreError, now_ms};

/// Characters of invite codes: no look-alikes (0/O, 1/l/I), safe in a URL fragment.
const ALPHABET: &[u8] = b"23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
/// Characters per code: 16 of 56 is about 93 bits, beyond guessing.
const CODE_LEN: usize = 16;
/// How long the invite made at a server's first start lasts.
pub const FIRST_INVITE_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// A new random invite code.
pub fn new_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// Makes an invite for `uses` registrations, valid for `lifetime` (or until revoked).
pub fn create_invite(
    store: &mut dyn Store,
    uses: u32,
    lifetime: Option<Duration>,
) -> Result<String, StoreError> {
    let code = new_code();
    let now = now_ms();
    let expires = lifetime.map(|d| now.saturating_add(d.as_millis().min(i64::MAX as u128) as i64));
    store.create_invite(&code, uses, expires, now)?;
    Ok(code)
}

/// On a server that needs invites and has no account and no usable invite yet, makes one for
/// the operator's first account, so the very first start prints a link that works.
pub fn first_invite(store: &mut dyn Store) -> Result<Option<String>, StoreError> {
    let now = now_ms();
    let usable = store.invites()?.iter().any(|i| usable(i, now));
    if store.account_count()? > 0 || usable {
        return Ok(None);
    }
    create_invite(store, 1, Some(FIRST_INVITE_LIFETIME)).map(Some)
}

pub fn usable(invite: &Invite, now: i64) -> bool {
    !invite.revoked && invite.uses_left > 0 && invite.expires_at.is_none_or(|at| at > now)
}

/// A new random password, for `reset-password`.
pub fn new_password() -> String {
    new_code()
}

/// One line per invite, for people.
pub fn describe(invite: &Invite, now: i64) -> String {
    let state = if invite.revoked {
        "revoked".to_owned()
    } else if invite.uses_left == 0 {
        "used up".to_owned()
    } else {
        match invite.expires_at {
            Some(at) if at <= now => "expired".to_owned(),
            Some(at) => format!(
                "{} use(s) left, expires in {}",
                invite.uses_left,
                humantime::format_duration(Duration::from_secs(((at - now) / 1000) as u64))
            ),
            None => format!("{} use(s) left, never expires", invite.uses_left),
        }
    };
    format!("{}  {state}", invite.code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Sqlite;

    fn store() -> (tempfile::TempDir, Sqlite) {
        let dir = tempfile::tempdir().unwrap();
        let store = Sqlite::open(&dir.path().join("db.sqlite3")).unwrap();
        (dir, store)
    }

    #[test]
    fn invites_are_used_up_revoked_and_expire() {
        let (_dir, mut store) = store();
        let code = create_invite(&mut store, 2, None).unwrap();
        assert_eq!(code.len(), CODE_LEN);
        let now = now_ms();
        assert!(store.invite_usable(&code, now).unwrap());
        let mut register = |name: &str| {
            store.create_account_with_invite(name, name, "phc", &code, now_ms()).unwrap()
        };
        assert!(register("a").unwrap().is_some());
        // A taken nickname does not use the invite up.
        assert!(register("a").unwrap().is_none());
        assert!(register("b").unwrap().is_some());
        assert!(register("c").is_err(), "two uses only");
        assert_eq!(describe(&store.invites().unwrap()[0], now_ms()), format!("{code}  used up"));

        let short = create_invite(&mut store, 5, Some(Duration::from_millis(1))).unwrap();
        assert!(!store.invite_usable(&short, now_ms() + 10).unwrap(), "expired");
        let revoked = create_invite(&mut store, 5, None).unwrap();
        assert!(store.revoke_invite(&revoked).unwrap());
        assert!(!store.invite_usable(&revoked, now_ms()).unwrap());
        assert!(!store.revoke_invite("nope").unwrap());
        assert!(!store.invite_usable("nope", now_ms()).unwrap());
    }

    #[test]
    fn the_first_start_makes_one_invite_and_only_then() {
        let (_dir, mut store) = store();
        let first = first_invite(&mut store).unwrap().expect("a fresh server makes one");
        assert!(store.invite_usable(&first, now_ms()).unwrap());
        assert_eq!(first_invite(&mut store).unwrap(), None, "one usable invite is enough");
    }
}
