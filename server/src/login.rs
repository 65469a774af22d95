//! Signing in: the checks on `hello` (plain code), then finding the account and checking its
//! password, or registering a free nickname.

use std::net::IpAddr;

use quicq_common::check::check_device;
use quicq_common::nickname::{Nickname, NicknameError, check_new};
use quicq_common::protocol::{
    ClientFrame, ErrorCode, MAX_INVITE_LEN, MAX_PASSWORD_LEN, MIN_PASSWORD_CHARS, PROTOCOL_VERSION,
    close,
};

use crate::config::Registration;
use crate::error::{Refusal, ServerError};
use crate::hub::Ending;
use crate::state::State;
use crate::store::{Account, InvalidInvite, now_ms};

/// A `hello` that passed the checks that need no stored state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub nickname: Nickname,
    pub password: String,
    pub device: String,
    pub resume_after: Option<u64>,
    pub invite: Option<String>,
}

/// Checks the first frame of the control stream, in the order of docs/protocol.md section 6.
/// On refusal, also says which close code ends the connection.
pub fn check_hello(frame: ClientFrame) -> Result<Hello, (Refusal, u32)> {
    let ClientFrame::Hello { version, nickname, password, resume_after, device, invite, .. } =
        frame
    else {
        return Err((
            Refusal::new(
                ErrorCode::NotLoggedIn,
                "the first frame on the control stream must be hello",
            ),
            close::PROTOCOL_VIOLATION,
        ));
    };
    if version != PROTOCOL_VERSION {
        return Err((
            Refusal::new(
                ErrorCode::UnsupportedVersion,
                format!("this server speaks protocol version {PROTOCOL_VERSION}, not {version}"),
            ),
            close::LOGIN_FAILED,
        ));
    }
    let device = device.unwrap_or_default();
    check_device(&device).map_err(|e| (e.into(), close::PROTOCOL_VIOLATION))?;
    let nickname = Nickname::parse(&nickname).map_err(|e| {
        (Refusal::new(ErrorCode::InvalidNickname, e.to_string()), close::LOGIN_FAILED)
    })?;
    if password.len() > MAX_PASSWORD_LEN {
        return Err((
            Refusal::new(ErrorCode::WeakPassword, "password is too long"),
            close::LOGIN_FAILED,
        ));
    }
    let invite = invite.filter(|code| !code.is_empty());
    if invite.as_ref().is_some_and(|code| code.len() > MAX_INVITE_LEN) {
        return Err((
            Refusal::new(
                ErrorCode::InvalidInvite,
                format!("an invite is at most {MAX_INVITE_LEN} bytes"),
            ),
            close::LOGIN_FAILED,
        ));
    }
    Ok(Hello { nickname, password, device, resume_after, invite })
}

/// Checks the password, or registers a free nickname. Returns the account and whether it was
/// created now. After repeated wrong passwords for the account or from `from`, the attempt is
/// refused with `rate_limited` before any hashing.
pub async fn login(
    state: &State,
    nick: &Nickname,
    password: &str,
    invite: Option<&str>,
    from: IpAddr,
) -> Result<(Account, bool), ServerError> {
    let wait = state.login_wait(nick.key(), from);
    if !wait.is_zero() {
        let mut refusal = Refusal::rate_limited(wait);
        refusal.message = "too many wrong passwords; wait before trying again".into();
        return Err(refusal.into());
    }
    let mode = state.config().registration_mode();
    // Under `invite`, an unusable invite turns every failure below into `invalid_invite`, for
    // unknown and existing nicknames alike, so the answer says nothing about which exist; an
    // account's owner still signs in with an old link.
    let (invite, bad_invite) = match (mode, invite) {
        (Registration::Invite, Some(code)) => {
            let lookup = code.to_owned();
            match state.with_store(move |s| Ok(s.invite_usable(&lookup, now_ms())?)).await? {
                true => (Some(code.to_owned()), false),
                false => (None, true),
            }
        }
        _ => (None, false),
    };
    let refused = || if bad_invite { invalid_invite() } else { wrong_password() };
    let key = nick.key().to_owned();
    let existing = state.with_store(move |s| Ok(s.account_by_key(&key)?)).await?;
    if let Some(account) = existing {
        let checked = check_password(state, account, password, from).await.map_err(|e| match e {
            ServerError::Refused(Refusal { code: ErrorCode::WrongPassword, .. }) => refused(),
            other => other,
        });
        let wrong = matches!(
            &checked,
            Err(ServerError::Refused(Refusal {
                code: ErrorCode::WrongPassword | ErrorCode::InvalidInvite,
                ..
            }))
        );
        if checked.is_ok() || wrong {
            state.login_result(nick.key(), from, checked.is_ok());
        }
        // Told only to whoever knows the password.
        return match checked {
            Ok(account) if account.disabled => Err(ServerError::refused(
                ErrorCode::AccountDisabled,
                "this account has been disabled by the server's operator",
            )),
            other => other.map(|a| (a, false)),
        };
    }
    let may_register = match mode {
        Registration::Open => true,
        Registration::Invite => invite.is_some(),
        Registration::Closed => false,
    };
    if !may_register {
        // Indistinguishable from a wrong password, in answer and in work done, so a stranger
        // cannot learn which nicknames exist.
        state.verify_decoy(password, from).await?;
        state.login_result(nick.key(), from, false);
        return Err(refused());
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ServerError::refused(
            ErrorCode::WeakPassword,
            format!("a new account needs a password of at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    check_new(nick).map_err(invalid_nickname)?;
    let phc = state.hash_password(password, from).await?;
    let (name, key, hub) = (nick.as_str().to_owned(), nick.key().to_owned(), state.hub().clone());
    // On the store thread, which runs registrations one at a time: the look-alike check and
    // the new name's entry in the hub cannot interleave with another registration.
    let created = state
        .with_store(move |s| {
            if let Some(existing) = s.account_by_key(&key)? {
                return Ok(Err(Some(existing)));
            }
            if let Some(other) = hub.looks_like(&key) {
                return Err(invalid_nickname(NicknameError::LooksLike(name, other)));
            }
            let created = match &invite {
                None => s.create_account(&name, &key, &phc, now_ms())?,
                Some(code) => s
                    .create_account_with_invite(&name, &key, &phc, code, now_ms())?
                    .map_err(|InvalidInvite| invalid_invite())?,
            };
            Ok(match created {
                Some(account) => {
                    hub.add_account(account.id, &account.name, &account.key);
                    Ok(account)
                }
                None => Err(s.account_by_key(&key)?),
            })
        })
        .await?;
    match created {
        Ok(account) => {
            tracing::info!(user = %account.name, "registered");
            state.login_result(nick.key(), from, true);
            Ok((account, true))
        }
        // Someone registered the same name a moment ago: this is now a login.
        Err(Some(account)) => {
            check_password(state, account, password, from).await.map(|a| (a, false))
        }
        Err(None) => Err(ServerError::Store(crate::store::StoreError::Vanished("account"))),
    }
}

/// How often accounts disabled by `quicq-server admin disable` are looked for.
const DISABLED_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Ends the live sessions of accounts the operator disabled (the admin command works on the
/// database, not on this process), until `shutdown`.
pub async fn end_disabled_sessions(
    state: std::sync::Arc<State>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(DISABLED_POLL);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        match state.with_store(|s| Ok(s.disabled_accounts()?)).await {
            Ok(ids) => {
                for id in ids {
                    if state.hub().end_sessions(id, Ending::Disabled) {
                        tracing::info!(account = id, "ended the sessions of a disabled account");
                    }
                }
            }
            Err(e) => tracing::error!(cause = %e, "cannot read disabled accounts"),
        }
    }
}

fn invalid_invite() -> ServerError {
    ServerError::refused(
        ErrorCode::InvalidInvite,
        "this invite is not valid: unknown, used up, expired or revoked",
    )
}

fn wrong_password() -> ServerError {
    ServerError::refused(ErrorCode::WrongPassword, "wrong nickname or password")
}

fn invalid_nickname(e: NicknameError) -> ServerError {
    ServerError::refused(ErrorCode::InvalidNickname, e.to_string())
}

async fn check_password(
    state: &State,
    account: Account,
    password: &str,
    from: IpAddr,
) -> Result<Account, ServerError> {
    if state.verify_password(password, &account.password_hash, from).await? {
        Ok(account)
    } else {
        Err(wrong_password())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(version: u32, nickname: &str, password: &str, device: Option<&str>) -> ClientFrame {
        ClientFrame::Hello {
            version,
            nickname: nickname.into(),
            password: password.into(),
            client: "test".into(),
            resume_after: Some(5),
            device: device.map(Into::into),
            invite: None,
        }
    }

    #[test]
    fn hello_checks_in_the_documented_order_with_their_close_codes() {
        use ErrorCode::*;
        let long_pw = "p".repeat(MAX_PASSWORD_LEN + 1);
        let long_device = "d".repeat(65);
        let v = PROTOCOL_VERSION;
        let cases: Vec<(ClientFrame, Option<(ErrorCode, u32)>)> = vec![
            (hello(v, "alice", "pw", None), None),
            (ClientFrame::Ack { up_to: 1 }, Some((NotLoggedIn, close::PROTOCOL_VIOLATION))),
            (hello(1, "alice", "pw", None), Some((UnsupportedVersion, close::LOGIN_FAILED))),
            // Version is checked before anything else in the frame.
            (hello(1, "", &long_pw, None), Some((UnsupportedVersion, close::LOGIN_FAILED))),
            (
                hello(v, "alice", "pw", Some(&long_device)),
                Some((MalformedFrame, close::PROTOCOL_VIOLATION)),
            ),
            (hello(v, "", "pw", None), Some((InvalidNickname, close::LOGIN_FAILED))),
            (hello(v, "a b", "pw", None), Some((InvalidNickname, close::LOGIN_FAILED))),
            (hello(v, "alice", &long_pw, None), Some((WeakPassword, close::LOGIN_FAILED))),
            // Short passwords are only refused when registering, which needs the store.
            (hello(v, "alice", "x", None), None),
        ];
        for (frame, want) in cases {
            let got = check_hello(frame.clone()).err().map(|(r, close)| (r.code, close));
            assert_eq!(got, want, "{frame:?}");
        }
        let ok = check_hello(hello(v, "Alice", "pw", Some("dev"))).unwrap();
        assert_eq!(
            (ok.nickname.key(), ok.device.as_str(), ok.resume_after),
            ("alice", "dev", Some(5))
        );
        assert_eq!(check_hello(hello(v, "alice", "pw", None)).unwrap().device, "");
    }
}
