//! Read positions and what follows from them (receipts to the other side, unread counts on
//! every device), typing indicators, and the account's settings. Reads and typing arrive on the
//! control stream, which never answers: what cannot be applied is dropped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use quicq_common::protocol::{Address, EVERYONE, ServerFrame, TYPING_FOR_MS};

use crate::chat::resolve;
use crate::error::ServerError;
use crate::state::State;
use crate::store::{Account, AccountId, Target};

/// Typing indicators relayed per (account, conversation) at most this often.
pub const TYPING_EVERY: Duration = Duration::from_secs(2);

/// `read` on the control stream: raise the read position and, if it rose, tell one's own
/// sessions and, where receipts apply, the other participants who share theirs.
pub async fn read(
    state: &Arc<State>,
    account: &Account,
    with: Address,
    up_to: u64,
) -> Result<(), ServerError> {
    let Some(target) = state.hub().resolve(account.id, &with) else { return Ok(()) };
    let me = account.id;
    let others = receipt_partners(state, me, &target);
    let raised = state
        .with_store(move |s| {
            let (before, position) = s.set_read(me, &target, up_to)?;
            if position <= before {
                return Ok(None);
            }
            let sharing = s.receipts_on(me)?;
            let mut partners = Vec::new();
            for other in others {
                if s.receipts_on(other)? {
                    partners.push(other);
                }
            }
            Ok(Some((position, sharing, partners)))
        })
        .await?;
    // Not raised: nothing to tell anyone.
    let Some((position, sharing, partners)) = raised else { return Ok(()) };
    let hub = state.hub();
    let own = ServerFrame::Read {
        by: account.name.clone(),
        with: canonical(state, &target),
        up_to: position,
    };
    hub.notify(me, &own);
    if sharing && !partners.is_empty() {
        let theirs = ServerFrame::Read {
            by: account.name.clone(),
            with: seen_by_others(state, &target, &account.name),
            up_to: position,
        };
        hub.notify_all(&partners, &theirs);
    }
    Ok(())
}

/// `typing` on the control stream: relayed to the other participants of a conversation small
/// enough for receipts, at most once per conversation every [`TYPING_EVERY`].
pub fn typing(state: &State, account: &Account, to: Address) {
    let Some(target) = state.hub().resolve(account.id, &to) else { return };
    let others = receipt_partners(state, account.id, &target);
    if others.is_empty()
        || !state.hub().typing_allowed(account.id, target, Instant::now(), TYPING_EVERY)
    {
        return;
    }
    let frame = ServerFrame::Typing {
        from: account.name.clone(),
        with: seen_by_others(state, &target, &account.name),
        for_ms: TYPING_FOR_MS,
    };
    state.hub().notify_all(&others, &frame);
}

/// `receipts`: the other participants' read positions (none when one's own receipts are off or
/// the conversation is too large).
pub async fn positions(
    state: &Arc<State>,
    account: &Account,
    with: Address,
) -> Result<ServerFrame, ServerError> {
    let target = resolve(state, account.id, &with).await?;
    let me = account.id;
    let others: Vec<(AccountId, String)> = receipt_partners(state, me, &target)
        .into_iter()
        .filter_map(|id| Some((id, state.hub().name_of(id)?)))
        .collect();
    let read = state
        .with_store(move |s| {
            if !s.receipts_on(me)? {
                return Ok(Vec::new());
            }
            Ok(s.read_positions(me, &target, &others)?)
        })
        .await?;
    let mut read = read;
    read.sort_by_key(|r| quicq_common::nickname::key_of(&r.user));
    Ok(ServerFrame::Receipts { with: canonical(state, &target), read })
}

/// `settings`: changes what is given, answers what is in force.
pub async fn settings(
    state: &Arc<State>,
    account: &Account,
    receipts: Option<bool>,
) -> Result<ServerFrame, ServerError> {
    let me = account.id;
    let receipts = state
        .with_store(move |s| {
            if let Some(on) = receipts {
                s.set_receipts(me, on)?;
            }
            Ok(s.receipts_on(me)?)
        })
        .await?;
    Ok(ServerFrame::Settings { receipts })
}

/// `conversations`: every conversation with its last id, read position and unread count.
pub async fn conversations(
    state: &Arc<State>,
    account: &Account,
) -> Result<ServerFrame, ServerError> {
    let me = account.id;
    let groups: Vec<(i64, String)> =
        state.hub().groups_view(|g| g.of(me).map(|g| (g.id, g.name.clone())).collect());
    let conversations = state.with_store(move |s| Ok(s.conversations(me, &groups)?)).await?;
    Ok(ServerFrame::ConversationList { conversations })
}

/// The other participants who get receipts and typing: both ends of a one-to-one, or the members
/// of a conversation no larger than `receipts_max_members`.
fn receipt_partners(state: &State, me: AccountId, target: &Target) -> Vec<AccountId> {
    let mut all = state.hub().participants(me, target);
    let max = state.config().receipts_max_members as usize;
    if !matches!(target, Target::User(_)) && all.len() > max {
        return Vec::new();
    }
    all.retain(|a| *a != me);
    all
}

/// The conversation as `me` names it.
fn canonical(state: &State, target: &Target) -> Address {
    match target {
        Target::User(other) => Address::User(state.hub().name_of(*other).unwrap_or_default()),
        Target::Everyone => Address::everyone(),
        Target::Group(id) => group_address(state, *id),
    }
}

/// The conversation as the other participants name it: for a one-to-one, by `my_name`.
fn seen_by_others(state: &State, target: &Target, my_name: &str) -> Address {
    match target {
        Target::User(_) => Address::User(my_name.to_owned()),
        Target::Everyone => Address::Group(EVERYONE.into()),
        Target::Group(id) => group_address(state, *id),
    }
}

fn group_address(state: &State, id: i64) -> Address {
    Address::Group(state.hub().group(id).map(|g| g.name).unwrap_or_default())
}
