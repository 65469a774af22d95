//! Group requests. Every change is one job on the store thread: check against the hub's
//! membership (exact there, since only store-thread jobs change it), store the event and the
//! membership in one transaction, update the hub, deliver the event. A member who joins is in
//! the hub before its `added` goes out; one who leaves is taken out after its `left`/`removed`
//! went out, so it receives that event and nothing later.

use std::sync::Arc;

use quicq_common::check::check_topic;
use quicq_common::protocol::{ErrorCode, Event, GroupChange, Role, ServerFrame};

use crate::chat::take_rate_token;
use crate::error::{Refusal, ServerError};
use crate::files::retention;
use crate::groups::rules;
use crate::hub::Hub;
use crate::membership::{Group, GroupId};
use crate::state::State;
use crate::store::{Account, AccountId, Membership, Target, now_ms};

/// `group_create`: a new group with `account` as owner and `members` added.
pub async fn create(
    state: &Arc<State>,
    account: &Account,
    name: String,
    members: Vec<String>,
) -> Result<ServerFrame, ServerError> {
    let config = state.config();
    let (name, key) = rules::check_name(&name, config.max_group_name_chars())?;
    let mut added: Vec<(AccountId, String)> = Vec::new();
    for member in &members {
        let found = state.hub().account(member).ok_or_else(|| no_user(member))?;
        if found.0 != account.id && !added.iter().any(|(id, _)| *id == found.0) {
            added.push(found);
        }
    }
    let max_members = config.max_group_members() as usize;
    if added.len() + 1 > max_members {
        return Err(group_full(max_members));
    }
    take_rate_token(state, account.id)?;
    let (creator, max_groups) = (account.id, config.max_groups_per_user as usize);
    let shared = state.clone();
    state
        .with_store(move |s| {
            let hub = shared.hub();
            if let Some(taken) = hub.groups_view(|g| g.clash(&key, None)) {
                return Err(name_taken(&name, &taken));
            }
            let accounts = std::iter::once(creator).chain(added.iter().map(|(id, _)| *id));
            for id in accounts {
                if hub.groups_view(|g| g.count_of(id)) >= max_groups {
                    return Err(too_many_groups(hub, id, max_groups));
                }
            }
            let (id, events) = s.create_group(creator, &name, &key, &added, now_ms())?;
            // Each member joins the hub just before its own `added` goes out, so live delivery
            // shows it what catch-up and history would: the group from that event on.
            let owner = [(creator, Role::Owner)].into_iter().collect();
            hub.update_groups(|g| {
                g.insert(Group { id, name: name.clone(), topic: String::new(), members: owner })
            });
            let target = Target::Group(id);
            let mut events = events.iter();
            if let Some(created) = events.next() {
                hub.fan_out(creator, &target, created);
            }
            for ((member, _), event) in added.iter().zip(events) {
                hub.update_groups(|g| g.set_member(id, *member, Role::Member));
                hub.fan_out(creator, &target, event);
            }
            let group = hub.group(id).ok_or(crate::store::StoreError::Vanished("group"))?;
            Ok(ServerFrame::GroupMembers {
                group: hub.group_info(&group, creator),
                members: hub.members(&group),
            })
        })
        .await
}

/// `group_members`: only for members.
pub fn members(state: &State, account: &Account, name: &str) -> Result<ServerFrame, ServerError> {
    let group = state.hub().group_for(name, account.id).ok_or_else(|| no_group(name))?;
    Ok(ServerFrame::GroupMembers {
        group: state.hub().group_info(&group, account.id),
        members: state.hub().members(&group),
    })
}

/// `group`: one change, answered with the id of its (first) stored event.
pub async fn change(
    state: &Arc<State>,
    account: &Account,
    name: String,
    change: GroupChange,
) -> Result<ServerFrame, ServerError> {
    let config = state.config();
    // What can be checked without the group first.
    let new_name = match &change {
        GroupChange::Rename { name } => {
            Some(rules::check_name(name, config.max_group_name_chars())?)
        }
        _ => None,
    };
    if let GroupChange::Topic { topic } = &change {
        check_topic(topic, config.max_topic_chars())?;
    }
    let user = match &change {
        GroupChange::Add { user }
        | GroupChange::Remove { user }
        | GroupChange::Role { user, .. } => {
            Some(state.hub().account(user).ok_or_else(|| no_user(user))?)
        }
        _ => None,
    };
    take_rate_token(state, account.id)?;
    let actor = account.id;
    let limits = (config.max_group_members() as usize, config.max_groups_per_user as usize);
    let shared = state.clone();
    let (id, dropped) = state
        .with_store(move |s| {
            let hub = shared.hub();
            let group = hub.group_for(&name, actor).ok_or_else(|| no_group(&name))?;
            let actor_role = group.role_of(actor).unwrap_or_default();
            let target_role = user.as_ref().and_then(|(id, _)| group.role_of(*id));
            let on_self = user.as_ref().is_some_and(|(id, _)| *id == actor);
            rules::may_change(actor_role, &change, target_role, on_self)?;
            let gid = group.id;
            let now = now_ms();
            let mut dropped = Vec::new();
            let first = match change {
                GroupChange::Add { .. } => {
                    let (user, user_name) = user
                        .ok_or(ServerError::Store(crate::store::StoreError::Vanished("account")))?;
                    let (max_members, max_groups) = limits;
                    if group.members.len() >= max_members {
                        return Err(group_full(max_members));
                    }
                    if hub.groups_view(|g| g.count_of(user)) >= max_groups {
                        return Err(too_many_groups(hub, user, max_groups));
                    }
                    let event = Event::Added { user: user_name };
                    let stored = s.group_events(
                        gid,
                        actor,
                        &[(event, vec![Membership::Join(user, Role::Member)])],
                        None,
                        None,
                        now,
                    )?;
                    hub.update_groups(|g| g.set_member(gid, user, Role::Member));
                    deliver(hub, gid, &stored)
                }
                GroupChange::Remove { .. } => {
                    let (user, user_name) = user
                        .ok_or(ServerError::Store(crate::store::StoreError::Vanished("account")))?;
                    let event = Event::Removed { user: user_name };
                    let stored = s.group_events(
                        gid,
                        actor,
                        &[(event, vec![Membership::Leave(user)])],
                        None,
                        None,
                        now,
                    )?;
                    let id = deliver(hub, gid, &stored);
                    hub.update_groups(|g| g.remove_member(gid, user));
                    id
                }
                GroupChange::Leave {} if group.members.len() <= 1 => {
                    let (event, files) = s.delete_group(gid, actor, now)?;
                    let id = deliver(hub, gid, std::slice::from_ref(&event));
                    dropped = files.into_iter().map(|f| (f, vec![actor])).collect();
                    hub.update_groups(|g| {
                        g.remove(gid);
                    });
                    id
                }
                GroupChange::Leave {} => {
                    let mut events = vec![(Event::Left {}, vec![Membership::Leave(actor)])];
                    let successor = match actor_role {
                        Role::Owner => s.successor(gid, actor)?,
                        _ => None,
                    };
                    if let Some(next) = successor {
                        let next_name = hub.name_of(next).unwrap_or_default();
                        events.push((
                            Event::Role { user: next_name, role: Role::Owner },
                            vec![Membership::Role(next, Role::Owner)],
                        ));
                    }
                    let stored = s.group_events(gid, actor, &events, None, None, now)?;
                    let id = deliver(hub, gid, &stored[..1]);
                    hub.update_groups(|g| {
                        g.remove_member(gid, actor);
                        if let Some(next) = successor {
                            g.set_member(gid, next, Role::Owner);
                        }
                    });
                    deliver(hub, gid, &stored[1..]);
                    id
                }
                GroupChange::Role { role, .. } => {
                    let (user, user_name) = user
                        .ok_or(ServerError::Store(crate::store::StoreError::Vanished("account")))?;
                    let mut events = vec![(
                        Event::Role { user: user_name, role },
                        vec![Membership::Role(user, role)],
                    )];
                    if role == Role::Owner {
                        let me = hub.name_of(actor).unwrap_or_default();
                        events.push((
                            Event::Role { user: me, role: Role::Admin },
                            vec![Membership::Role(actor, Role::Admin)],
                        ));
                    }
                    let stored = s.group_events(gid, actor, &events, None, None, now)?;
                    hub.update_groups(|g| {
                        g.set_member(gid, user, role);
                        if role == Role::Owner {
                            g.set_member(gid, actor, Role::Admin);
                        }
                    });
                    deliver(hub, gid, &stored)
                }
                GroupChange::Rename { .. } => {
                    let (new, key) = new_name
                        .ok_or(ServerError::Store(crate::store::StoreError::Vanished("name")))?;
                    if let Some(taken) = hub.groups_view(|g| g.clash(&key, Some(gid))) {
                        return Err(name_taken(&new, &taken));
                    }
                    let event = Event::Renamed { name: new.clone(), old: group.name.clone() };
                    let stored = s.group_events(
                        gid,
                        actor,
                        &[(event, vec![])],
                        Some((&new, &key)),
                        None,
                        now,
                    )?;
                    hub.update_groups(|g| g.rename(gid, &new));
                    deliver(hub, gid, &stored)
                }
                GroupChange::Topic { topic } => {
                    let event = Event::Topic { topic: topic.clone() };
                    let stored =
                        s.group_events(gid, actor, &[(event, vec![])], None, Some(&topic), now)?;
                    hub.update_groups(|g| g.set_topic(gid, &topic));
                    deliver(hub, gid, &stored)
                }
                GroupChange::Delete {} => {
                    let (event, files) = s.delete_group(gid, actor, now)?;
                    let id = deliver(hub, gid, std::slice::from_ref(&event));
                    let members: Vec<AccountId> = hub.update_groups(|g| g.remove(gid));
                    dropped = files.into_iter().map(|f| (f, members.clone())).collect();
                    id
                }
            };
            Ok((first, dropped))
        })
        .await?;
    for (file, notify) in dropped {
        retention::remove(state, file, &notify, "the group was deleted").await;
    }
    Ok(ServerFrame::Done { id })
}

/// Delivers stored group events in order; returns the first one's id.
fn deliver(hub: &Hub, group: GroupId, events: &[quicq_common::protocol::ChatMessage]) -> u64 {
    for event in events {
        hub.fan_out(0, &Target::Group(group), event);
    }
    events.first().map_or(0, |e| e.id)
}

fn no_group(name: &str) -> ServerError {
    ServerError::refused(
        ErrorCode::UnknownRecipient,
        format!("no group named {name} that you are in"),
    )
}

fn no_user(name: &str) -> ServerError {
    ServerError::refused(ErrorCode::UnknownRecipient, format!("no user named {name}"))
}

fn name_taken(name: &str, taken: &str) -> ServerError {
    let message = if quicq_common::nickname::key_of(taken) == quicq_common::nickname::key_of(name) {
        format!("a group named {taken} exists")
    } else {
        format!("{name} looks like {taken}; choose a name that cannot be mistaken for it")
    };
    Refusal::new(ErrorCode::NameTaken, message).into()
}

fn group_full(max: usize) -> ServerError {
    ServerError::refused(ErrorCode::GroupFull, format!("a group has at most {max} members"))
}

fn too_many_groups(hub: &Hub, account: AccountId, max: usize) -> ServerError {
    let who = hub.name_of(account).unwrap_or_default();
    ServerError::refused(ErrorCode::TooManyGroups, format!("{who} is already in {max} groups"))
}
