//! Who is online and who receives what: the routing decisions, in plain synchronous code.
//!
//! The hub knows every account (the directory), every live session with its bounded outgoing
//! queue, and each account's rate limiter. It never waits: a session whose queue is full is
//! kicked (its connection closed with `QUEUE_OVERFLOW`), and the client catches up from the store
//! when it reconnects, so nobody else is slowed by it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use quicq_common::frame::encode;
use quicq_common::nickname::{key_of, skeleton_of};
use quicq_common::protocol::{
    Address, ChatMessage, EVERYONE, GroupInfo, MemberInfo, Role, ServerFrame, USERS_PAGE, UserInfo,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::elsewhere::{Elsewhere, NodeId};
use crate::files::spool::Progress;
use crate::membership::{Group, GroupId, Groups};
use crate::presence::PendingPresence;
use crate::rate_limit::{MessageRate, Rates};
use crate::store::{AccountId, GroupRow, Target};

/// One item for a session's writer: already-encoded frames, shared between recipients.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// A chat message, sent on its own unidirectional stream.
    Message { id: u64, frame: Arc<[u8]> },
    /// A control-stream frame (presence, file notifications).
    Control(Arc<[u8]>),
}

impl Outgoing {
    /// Bytes this item holds for its session (shared frames count in full for each).
    fn len(&self) -> usize {
        match self {
            Outgoing::Message { frame, .. } | Outgoing::Control(frame) => frame.len(),
        }
    }
}

/// How much may wait for one session before it is closed as too slow: a count, and bytes so
/// that a session that reads nothing cannot make the server hold `items` large messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimit {
    pub items: usize,
    pub bytes: usize,
}

/// A session's end of its delivery queue.
#[derive(Debug)]
pub struct Inbox {
    rx: mpsc::Receiver<Outgoing>,
    bytes: Arc<AtomicUsize>,
}

impl Inbox {
    pub async fn recv(&mut self) -> Option<Outgoing> {
        let item = self.rx.recv().await?;
        self.bytes.fetch_sub(item.len(), Ordering::Relaxed);
        Some(item)
    }

    /// The next item if one is waiting (for tests and draining).
    pub fn try_recv(&mut self) -> Option<Outgoing> {
        let item = self.rx.try_recv().ok()?;
        self.bytes.fetch_sub(item.len(), Ordering::Relaxed);
        Some(item)
    }
}

pub type SessionId = u64;

/// Why the hub ends a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Its delivery queue overflowed; it catches up when it reconnects.
    Overflow,
    /// The operator disabled the account.
    Disabled,
}

/// Called when a session must go.
pub type Kick = Box<dyn Fn(Ending) + Send + Sync>;

struct Session {
    id: SessionId,
    tx: mpsc::Sender<Outgoing>,
    /// Bytes queued and not yet taken by the session's writer.
    bytes: Arc<AtomicUsize>,
    max_bytes: usize,
    kick: Kick,
}

struct Entry {
    id: AccountId,
    name: String,
}

#[derive(Default)]
struct State {
    /// key → account, ordered for paging.
    directory: BTreeMap<String, Entry>,
    /// Confusable skeleton of each key → the first account's name with it, so a new nickname
    /// that looks like an existing one is refused.
    skeletons: HashMap<String, String>,
    names: HashMap<AccountId, String>,
    sessions: HashMap<AccountId, Vec<Session>>,
    /// Live sessions over all accounts.
    session_count: usize,
    presence: PendingPresence,
    buckets: HashMap<AccountId, MessageRate>,
    next_session: SessionId,
    groups: Groups,
    /// When each (account, conversation) last had its typing relayed.
    typing: HashMap<(AccountId, Target), Instant>,
    /// Who is online on the cluster's other nodes.
    elsewhere: Elsewhere,
}

/// What one node's hub tells the other nodes of a cluster, and does when they tell it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Relay {
    /// A control frame for every session of these accounts.
    Notify { accounts: Vec<AccountId>, frame: ServerFrame },
    /// A control frame for whoever receives what `sender` sends to `target`.
    FanOut { sender: AccountId, target: Target, frame: ServerFrame },
    /// A newly registered account.
    Account { id: AccountId, name: String, key: String },
    /// An account's first session opened on the sending node, or its last one closed.
    Presence { account: AccountId, online: bool },
    /// Every account online on the sending node, sent every few seconds.
    Online { accounts: Vec<AccountId> },
    /// How far an upload to the sending node has got (the bytes are in the shared spool), for
    /// downloads elsewhere that follow it. Not the hub's: [`Hub::apply`] ignores it.
    File { id: u64, progress: Progress },
}

/// Hands a [`Relay`] to the other nodes.
pub type Relayer = Box<dyn Fn(Relay) + Send + Sync>;

pub struct Hub {
    state: Mutex<State>,
    /// Set when this node is part of a cluster: stored messages then reach sessions only
    /// through [`Hub::deliver`], in the cluster's order, and control frames go to the other
    /// nodes too.
    cluster: OnceLock<Relayer>,
    /// Woken when presence changes wait for a later batch; see [`Hub::presence_batches`].
    presence_waiting: tokio::sync::Notify,
    queue: QueueLimit,
    rates: Rates,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("queue", &self.queue).finish_non_exhaustive()
    }
}

impl State {
    /// Online here or on another node.
    fn online(&self, account: AccountId) -> bool {
        self.sessions.contains_key(&account) || self.elsewhere.is_online(account)
    }

    fn add(&mut self, id: AccountId, name: &str, key: &str) {
        self.names.insert(id, name.to_owned());
        self.directory.insert(key.to_owned(), Entry { id, name: name.to_owned() });
        self.skeletons.entry(skeleton_of(key)).or_insert_with(|| name.to_owned());
    }
}

impl Hub {
    /// `accounts` is (id, name, key) for every stored account; `groups` every named group.
    pub fn new(
        accounts: Vec<(AccountId, String, String)>,
        groups: Vec<GroupRow>,
        queue: QueueLimit,
        rates: Rates,
    ) -> Self {
        let mut state = State::default();
        for (id, name, key) in accounts {
            state.add(id, &name, &key);
        }
        for row in groups {
            state.groups.insert(Group {
                id: row.id,
                name: row.name,
                topic: row.topic,
                members: row.members.into_iter().collect(),
            });
        }
        Hub {
            state: Mutex::new(state),
            cluster: OnceLock::new(),
            presence_waiting: tokio::sync::Notify::new(),
            queue: QueueLimit { items: queue.items.max(1), bytes: queue.bytes.max(1) },
            rates,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that matters
        // more than refusing all service would.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolves an address from `account` into a stored target: a user, `everyone`, or a named
    /// group only if `account` is a member (to others it does not exist).
    pub fn resolve(&self, account: AccountId, to: &Address) -> Option<Target> {
        let state = self.lock();
        match to {
            Address::User(name) => state.directory.get(&key_of(name)).map(|e| Target::User(e.id)),
            Address::Group(name) if key_of(name) == EVERYONE => Some(Target::Everyone),
            Address::Group(name) => {
                state.groups.named_for(name, account).map(|g| Target::Group(g.id))
            }
        }
    }

    /// The account with this nickname: (id, name as registered).
    pub fn account(&self, name: &str) -> Option<(AccountId, String)> {
        self.lock().directory.get(&key_of(name)).map(|e| (e.id, e.name.clone()))
    }

    pub fn name_of(&self, account: AccountId) -> Option<String> {
        self.lock().names.get(&account).cloned()
    }

    /// A copy of a named group if `account` is a member.
    pub fn group_for(&self, name: &str, account: AccountId) -> Option<Group> {
        self.lock().groups.named_for(name, account).cloned()
    }

    pub fn group(&self, id: GroupId) -> Option<Group> {
        self.lock().groups.get(id).cloned()
    }

    /// Reads the groups (clashes, counts); see [`Groups`].
    pub fn groups_view<T>(&self, f: impl FnOnce(&Groups) -> T) -> T {
        f(&self.lock().groups)
    }

    /// Changes the groups. Call only on the store thread, right after the commit that made the
    /// same change, so routing follows the stored order.
    pub fn update_groups<T>(&self, f: impl FnOnce(&mut Groups) -> T) -> T {
        f(&mut self.lock().groups)
    }

    /// The accounts that take part in a conversation: both ends, everyone, or a group's
    /// members.
    pub fn participants(&self, sender: AccountId, target: &Target) -> Vec<AccountId> {
        let state = self.lock();
        match target {
            Target::User(to) => recipients(sender, *to),
            Target::Everyone => state.names.keys().copied().collect(),
            Target::Group(id) => state
                .groups
                .get(*id)
                .map(|g| g.members.keys().copied().collect())
                .unwrap_or_default(),
        }
    }

    /// A group's members with their roles and presence: owner, admins, members, each by key.
    pub fn members(&self, group: &Group) -> Vec<MemberInfo> {
        let state = self.lock();
        let mut members: Vec<(Role, String, MemberInfo)> = group
            .members
            .iter()
            .filter_map(|(account, role)| {
                let name = state.names.get(account)?;
                let info =
                    MemberInfo { name: name.clone(), role: *role, online: state.online(*account) };
                Some((*role, key_of(name), info))
            })
            .collect();
        members.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        members.into_iter().map(|(_, _, info)| info).collect()
    }

    /// Adds a newly registered account and tells everyone online.
    pub fn add_account(&self, id: AccountId, name: &str, key: &str) {
        // The new account is about to come online; its presence goes out on registration.
        self.lock().add(id, name, key);
        self.tell(|| Relay::Account { id, name: name.to_owned(), key: key.to_owned() });
    }

    /// From now on this hub is one node of a cluster: `relay` reaches the other nodes, and
    /// [`Hub::fan_out`] leaves delivery to the cluster's ordered stream.
    pub fn join_cluster(&self, relay: Relayer) {
        let _ = self.cluster.set(relay);
    }

    /// Does what node `from`'s hub relayed, here only.
    pub fn apply(&self, from: NodeId, relay: Relay) {
        let now = Instant::now();
        match relay {
            Relay::Notify { accounts, frame } => self.notify_here(&accounts, &frame),
            Relay::FanOut { sender, target, frame } => self.control_here(sender, &target, &frame),
            Relay::Account { id, name, key } => self.lock().add(id, &name, &key),
            Relay::Presence { account, online } => {
                let mut state = self.lock();
                if state.elsewhere.set(from, account, online, now) {
                    self.presence_elsewhere(&mut state, [(account, online)]);
                }
            }
            Relay::Online { accounts } => {
                let mut state = self.lock();
                let changed = state.elsewhere.replace(from, &accounts, now);
                self.presence_elsewhere(&mut state, changed);
            }
            Relay::File { .. } => {}
        }
    }

    /// Tells the other nodes of a cluster, if any (for what is not the hub's own business).
    pub fn relay(&self, relay: Relay) {
        self.tell(|| relay);
    }

    /// Accounts online on this node, for the other nodes.
    pub fn online_here(&self) -> Vec<AccountId> {
        self.lock().sessions.keys().copied().collect()
    }

    /// Forgets the other nodes not heard from since `before` (and who was online there).
    pub fn forget_silent_nodes(&self, before: Instant) {
        let mut state = self.lock();
        let gone = state.elsewhere.expire(before);
        self.presence_elsewhere(&mut state, gone.into_iter().map(|a| (a, false)));
    }

    /// Tells this node's sessions about accounts that came online or went offline elsewhere,
    /// unless they have a session here (then nothing changed for anyone here).
    fn presence_elsewhere(
        &self,
        state: &mut State,
        changes: impl IntoIterator<Item = (AccountId, bool)>,
    ) {
        let mut any = false;
        for (account, online) in changes {
            if !state.sessions.contains_key(&account) {
                state.presence.record(account, online);
                any = true;
            }
        }
        if any {
            self.presence_changed(state);
        }
    }

    fn tell(&self, relay: impl FnOnce() -> Relay) {
        if let Some(relayer) = self.cluster.get() {
            relayer(relay());
        }
    }

    /// Live sessions on this node.
    pub fn session_count(&self) -> usize {
        self.lock().session_count
    }

    /// Whether this hub is one node of a cluster.
    pub fn in_cluster(&self) -> bool {
        self.cluster.get().is_some()
    }

    /// Whether the account is in the directory.
    pub fn knows(&self, account: AccountId) -> bool {
        self.lock().names.contains_key(&account)
    }

    /// Adds the accounts not in the directory yet (registered through another node).
    pub fn learn_accounts(&self, accounts: Vec<(AccountId, String, String)>) {
        let mut state = self.lock();
        for (id, name, key) in accounts {
            if !state.names.contains_key(&id) {
                state.add(id, &name, &key);
            }
        }
    }

    /// Replaces a group with its stored state, or removes it (`None`: deleted).
    pub fn replace_group(&self, id: GroupId, row: Option<GroupRow>) {
        let mut state = self.lock();
        state.groups.remove(id);
        if let Some(row) = row {
            state.groups.insert(Group {
                id: row.id,
                name: row.name,
                topic: row.topic,
                members: row.members.into_iter().collect(),
            });
        }
    }

    /// Ends every session of `account`; true if it had any.
    pub fn end_sessions(&self, account: AccountId, why: Ending) -> bool {
        let state = self.lock();
        let sessions = state.sessions.get(&account).map(Vec::as_slice).unwrap_or_default();
        sessions.iter().for_each(|s| (s.kick)(why));
        !sessions.is_empty()
    }

    /// The existing nickname (or `everyone`) that a new one with this key could pass for.
    pub fn looks_like(&self, key: &str) -> Option<String> {
        let skeleton = skeleton_of(key);
        if skeleton == skeleton_of(EVERYONE) {
            return Some(EVERYONE.to_owned());
        }
        self.lock().skeletons.get(&skeleton).cloned()
    }

    /// Adds a session; tells everyone if it is the account's first.
    pub fn register(&self, account: AccountId, kick: Kick) -> (SessionId, Inbox) {
        let (tx, rx) = mpsc::channel(self.queue.items);
        let bytes = Arc::new(AtomicUsize::new(0));
        let mut state = self.lock();
        state.next_session += 1;
        let id = state.next_session;
        let sessions = state.sessions.entry(account).or_default();
        let first = sessions.is_empty();
        let max_bytes = self.queue.bytes;
        sessions.push(Session { id, tx, bytes: bytes.clone(), max_bytes, kick });
        state.session_count += 1;
        if first {
            if !state.elsewhere.is_online(account) {
                state.presence.record(account, true);
                self.presence_changed(&mut state);
            }
            self.tell(|| Relay::Presence { account, online: true });
        }
        (id, Inbox { rx, bytes })
    }

    /// Removes a session; tells everyone if it was the account's last.
    pub fn unregister(&self, account: AccountId, session: SessionId) {
        let mut state = self.lock();
        let Some(sessions) = state.sessions.get_mut(&account) else {
            return;
        };
        let before = sessions.len();
        sessions.retain(|s| s.id != session);
        let removed = before - sessions.len();
        let last = sessions.is_empty();
        state.session_count -= removed;
        if last {
            state.sessions.remove(&account);
            if !state.elsewhere.is_online(account) {
                state.presence.record(account, false);
                self.presence_changed(&mut state);
            }
            self.tell(|| Relay::Presence { account, online: false });
        }
    }

    /// Sends presence now if the last batch is old enough, or leaves it for
    /// [`Hub::presence_batches`].
    fn presence_changed(&self, state: &mut State) {
        let now = Instant::now();
        match state.presence.due_at(state.session_count) {
            Some(due) if due > now => self.presence_waiting.notify_one(),
            _ => send_presence(state, now),
        }
    }

    /// Sends presence changes left waiting for their batch, each when it is due. Runs until
    /// dropped.
    pub async fn presence_batches(&self) {
        loop {
            self.presence_waiting.notified().await;
            let due = {
                let state = self.lock();
                state.presence.due_at(state.session_count)
            };
            if let Some(due) = due {
                tokio::time::sleep_until(due.into()).await;
            }
            send_presence(&mut self.lock(), Instant::now());
        }
    }

    /// Whether a typing indicator may be relayed now: at most one per `every` per account and
    /// conversation.
    pub fn typing_allowed(
        &self,
        account: AccountId,
        target: Target,
        now: Instant,
        every: Duration,
    ) -> bool {
        let mut state = self.lock();
        if state.typing.len() > 10_000 {
            state.typing.retain(|_, at| now.duration_since(*at) < every);
        }
        match state.typing.get(&(account, target)) {
            Some(at) if now.duration_since(*at) < every => false,
            _ => {
                state.typing.insert((account, target), now);
                true
            }
        }
    }

    pub fn check_rate(&self, account: AccountId, now: Instant) -> Result<(), Duration> {
        let rates = self.rates;
        let mut state = self.lock();
        state.buckets.entry(account).or_insert_with(|| MessageRate::new(rates, now)).take(now)
    }

    /// A request handler's delivery of what it just stored: [`Hub::deliver`] on a single
    /// server; nothing in a cluster, where every node delivers from the cluster's ordered
    /// stream instead. Must be called in id order.
    pub fn fan_out(&self, sender: AccountId, target: &Target, message: &ChatMessage) {
        if self.cluster.get().is_none() {
            self.deliver(sender, target, message);
        }
    }

    /// Queues a stored message for every online session that should see it: the target's
    /// sessions and all of the sender's (including the one that sent it, so each session sees
    /// one ordered stream of its conversations). Must be called in id order.
    pub fn deliver(&self, sender: AccountId, target: &Target, message: &ChatMessage) {
        let item = message_item(message);
        let state = self.lock();
        route(&state, sender, target).for_each(|s| push(s, &item));
    }

    /// Queues a stored message for every session of `accounts` (a group message, to the
    /// members it had when stored). Must be called in id order.
    pub fn deliver_to(&self, accounts: &[AccountId], message: &ChatMessage) {
        let item = message_item(message);
        let state = self.lock();
        for account in accounts {
            if let Some(sessions) = state.sessions.get(account) {
                push_all(sessions, &item);
            }
        }
    }

    /// Pushes a control frame to every session of an account.
    pub fn notify(&self, account: AccountId, frame: &ServerFrame) {
        self.notify_all(&[account], frame);
    }

    /// Pushes one control frame to every session of each of `accounts`, on every node.
    pub fn notify_all(&self, accounts: &[AccountId], frame: &ServerFrame) {
        self.notify_here(accounts, frame);
        self.tell(|| Relay::Notify { accounts: accounts.to_vec(), frame: frame.clone() });
    }

    fn notify_here(&self, accounts: &[AccountId], frame: &ServerFrame) {
        let item = Outgoing::Control(encode(frame).into());
        let state = self.lock();
        for account in accounts {
            if let Some(sessions) = state.sessions.get(account) {
                push_all(sessions, &item);
            }
        }
    }

    /// Pushes a control frame to everyone who receives messages sent to `target` by `sender`,
    /// on every node.
    pub fn control_fan_out(&self, sender: AccountId, target: &Target, frame: &ServerFrame) {
        self.control_here(sender, target, frame);
        self.tell(|| Relay::FanOut { sender, target: *target, frame: frame.clone() });
    }

    fn control_here(&self, sender: AccountId, target: &Target, frame: &ServerFrame) {
        let item = Outgoing::Control(encode(frame).into());
        let state = self.lock();
        route(&state, sender, target).for_each(|s| push(s, &item));
    }

    /// Names of the recipients of `to` (other than the sender) who are offline, at most `cap`.
    pub fn offline_recipients(&self, sender: AccountId, to: &Address, cap: usize) -> Vec<String> {
        let target = self.resolve(sender, to);
        let state = self.lock();
        let offline = |id: &AccountId| *id != sender && !state.online(*id);
        match target {
            Some(Target::User(id)) if offline(&id) => {
                state.names.get(&id).cloned().into_iter().collect()
            }
            Some(Target::Everyone) => state
                .directory
                .values()
                .filter(|e| offline(&e.id))
                .take(cap)
                .map(|e| e.name.clone())
                .collect(),
            Some(Target::Group(id)) => {
                let mut names: Vec<String> = state
                    .groups
                    .get(id)
                    .into_iter()
                    .flat_map(|g| g.members.keys())
                    .filter(|a| offline(a))
                    .filter_map(|a| state.names.get(a).cloned())
                    .collect();
                names.sort_by_key(|n| key_of(n));
                names.truncate(cap);
                names
            }
            _ => Vec::new(),
        }
    }

    /// One page of the user list, ordered by key.
    pub fn users_page(&self, after: Option<&str>) -> (Vec<UserInfo>, bool) {
        let state = self.lock();
        let start = after.map(key_of);
        let iter = state.directory.iter().filter(|(k, _)| start.as_ref().is_none_or(|s| *k > s));
        let mut users: Vec<UserInfo> = iter
            .take(USERS_PAGE + 1)
            .map(|(_, e)| UserInfo { name: e.name.clone(), online: state.online(e.id) })
            .collect();
        let more = users.len() > USERS_PAGE;
        users.truncate(USERS_PAGE);
        (users, more)
    }

    /// `everyone`, then the named groups `account` is in, oldest first.
    pub fn groups(&self, account: AccountId) -> Vec<GroupInfo> {
        let state = self.lock();
        let everyone = GroupInfo {
            name: EVERYONE.into(),
            members: state.directory.len() as u64,
            online: (state.sessions.len()
                + state.elsewhere.accounts().filter(|a| !state.sessions.contains_key(a)).count())
                as u64,
            ..GroupInfo::default()
        };
        let named = state.groups.of(account).map(|g| group_info(&state, g, account));
        std::iter::once(everyone).chain(named).collect()
    }

    /// What `account` sees of a group it is in.
    pub fn group_info(&self, group: &Group, account: AccountId) -> GroupInfo {
        group_info(&self.lock(), group, account)
    }
}

fn message_item(message: &ChatMessage) -> Outgoing {
    let frame: Arc<[u8]> = encode(&ServerFrame::Message(message.clone())).into();
    Outgoing::Message { id: message.id, frame }
}

/// The accounts whose sessions receive a direct message: both ends (once if they are the same).
pub fn recipients(sender: AccountId, to: AccountId) -> Vec<AccountId> {
    if sender == to { vec![to] } else { vec![to, sender] }
}

fn group_info(state: &State, group: &Group, account: AccountId) -> GroupInfo {
    GroupInfo {
        name: group.name.clone(),
        members: group.members.len() as u64,
        online: group.members.keys().filter(|a| state.online(**a)).count() as u64,
        topic: group.topic.clone(),
        role: group.role_of(account).unwrap_or_default(),
    }
}

/// Every live session that receives what `sender` sends to `target`: for `everyone`, every
/// session; for a named group, its members' sessions; for a person, both ends' sessions.
fn route<'a>(
    state: &'a State,
    sender: AccountId,
    target: &Target,
) -> Box<dyn Iterator<Item = &'a Session> + 'a> {
    match target {
        Target::Everyone => Box::new(state.sessions.values().flatten()),
        Target::Group(id) => Box::new(
            state
                .groups
                .get(*id)
                .into_iter()
                .flat_map(|g| g.members.keys())
                .filter_map(|account| state.sessions.get(account))
                .flatten(),
        ),
        Target::User(to) => Box::new(
            recipients(sender, *to)
                .into_iter()
                .filter_map(|account| state.sessions.get(&account))
                .flatten(),
        ),
    }
}

/// Queues `item` for a session, or kicks the session if its queue is full, in items or bytes.
fn push(session: &Session, item: &Outgoing) {
    let len = item.len();
    if session.bytes.fetch_add(len, Ordering::Relaxed) + len > session.max_bytes {
        session.bytes.fetch_sub(len, Ordering::Relaxed);
        return (session.kick)(Ending::Overflow);
    }
    match session.tx.try_send(item.clone()) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Closed(_)) => {
            session.bytes.fetch_sub(len, Ordering::Relaxed);
        }
        Err(mpsc::error::TrySendError::Full(_)) => {
            session.bytes.fetch_sub(len, Ordering::Relaxed);
            (session.kick)(Ending::Overflow);
        }
    }
}

fn push_all(sessions: &[Session], item: &Outgoing) {
    sessions.iter().for_each(|s| push(s, item));
}

fn send_presence(state: &mut State, now: Instant) {
    for frame in state.presence.take_frames(&state.names, now) {
        let item = Outgoing::Control(frame);
        for sessions in state.sessions.values() {
            push_all(sessions, &item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn hub(queue: usize) -> Hub {
        hub_with(QueueLimit { items: queue, bytes: 1 << 20 })
    }

    fn hub_with(queue: QueueLimit) -> Hub {
        Hub::new(
            vec![
                (1, "Alice".into(), "alice".into()),
                (2, "小明".into(), key_of("小明")),
                (3, "c".into(), "c".into()),
            ],
            vec![GroupRow {
                id: 5,
                name: "Rust".into(),
                topic: String::new(),
                members: vec![(1, Role::Owner), (3, Role::Member)],
            }],
            queue,
            Rates { per_second: 10, burst: 3, backlog: 20, backlog_per_second: 50 },
        )
    }

    fn message(id: u64) -> ChatMessage {
        ChatMessage {
            id,
            from: "Alice".into(),
            to: Address::User("c".into()),
            text: "t".into(),
            at: 0,
            file: None,
            ..Default::default()
        }
    }

    fn drain(rx: &mut Inbox) -> Vec<u64> {
        let mut ids = vec![];
        while let Some(item) = rx.try_recv() {
            if let Outgoing::Message { id, .. } = item {
                ids.push(id);
            }
        }
        ids
    }

    fn no_kick() -> Kick {
        Box::new(|_| {})
    }

    #[test]
    fn resolves_users_case_insensitively_everyone_and_groups_only_for_members() {
        let hub = hub(8);
        assert_eq!(hub.resolve(2, &Address::User("ALICE".into())), Some(Target::User(1)));
        assert_eq!(hub.resolve(1, &Address::User("小明".into())), Some(Target::User(2)));
        assert_eq!(hub.resolve(1, &Address::User("nobody".into())), None);
        assert_eq!(hub.resolve(2, &Address::Group("Everyone".into())), Some(Target::Everyone));
        assert_eq!(hub.resolve(1, &Address::Group("staff".into())), None);
        assert_eq!(hub.resolve(3, &Address::Group("RUST".into())), Some(Target::Group(5)));
        assert_eq!(hub.resolve(2, &Address::Group("rust".into())), None, "not a member");
    }

    #[test]
    fn a_group_message_reaches_its_members_only() {
        let hub = hub(8);
        let (_, mut a) = hub.register(1, no_kick());
        let (_, mut b) = hub.register(2, no_kick());
        let (_, mut c) = hub.register(3, no_kick());
        hub.fan_out(1, &Target::Group(5), &message(9));
        assert_eq!(drain(&mut a), vec![9]);
        assert_eq!(drain(&mut c), vec![9]);
        assert_eq!(drain(&mut b), Vec::<u64>::new());
        hub.update_groups(|g| g.remove_member(5, 3));
        hub.fan_out(1, &Target::Group(5), &message(10));
        assert_eq!(drain(&mut c), Vec::<u64>::new(), "removed: nothing new");
        let names: Vec<_> = hub.groups(1).into_iter().map(|g| (g.name, g.members)).collect();
        assert_eq!(names, vec![(EVERYONE.to_string(), 3), ("Rust".to_string(), 1)]);
        assert_eq!(hub.groups(3).len(), 1);
    }

    #[test]
    fn new_names_that_look_like_existing_ones_are_found() {
        let hub = hub(8);
        assert_eq!(hub.looks_like(&key_of("al\u{131}ce")), Some("Alice".into()));
        assert_eq!(hub.looks_like(&key_of("\u{430}lice")), Some("Alice".into()));
        assert_eq!(hub.looks_like(&key_of("\u{435}veryone")), Some(EVERYONE.into()));
        assert_eq!(hub.looks_like(&key_of("bob")), None);
        hub.add_account(9, "bob", "bob");
        assert_eq!(hub.looks_like(&key_of("b\u{43e}b")), Some("bob".into()));
    }

    #[test]
    fn direct_message_reaches_both_ends_and_nobody_else() {
        let hub = hub(8);
        let (_, mut a1) = hub.register(1, no_kick());
        let (_, mut a2) = hub.register(1, no_kick());
        let (_, mut b) = hub.register(2, no_kick());
        let (_, mut c) = hub.register(3, no_kick());
        hub.fan_out(1, &Target::User(3), &message(7));
        assert_eq!(drain(&mut a1), vec![7]);
        assert_eq!(drain(&mut a2), vec![7]);
        assert_eq!(drain(&mut c), vec![7]);
        assert_eq!(drain(&mut b), Vec::<u64>::new());
        hub.fan_out(1, &Target::Everyone, &message(8));
        for rx in [&mut a1, &mut a2, &mut b, &mut c] {
            assert_eq!(drain(rx), vec![8]);
        }
    }

    #[test]
    fn overflowing_session_is_kicked_and_others_are_not() {
        let hub = hub(2);
        let kicked = Arc::new(AtomicBool::new(false));
        let flag = kicked.clone();
        let (_, _slow) = hub.register(3, Box::new(move |_| flag.store(true, Ordering::SeqCst)));
        let (_, mut fast) = hub.register(1, no_kick());
        for id in 1..=3 {
            hub.fan_out(1, &Target::User(3), &message(id));
            assert_eq!(drain(&mut fast), vec![id]);
        }
        assert!(kicked.load(Ordering::SeqCst));
    }

    #[test]
    fn a_session_is_kicked_by_bytes_long_before_its_item_count() {
        let big = |id| ChatMessage { text: "x".repeat(16_000), ..message(id) };
        let frame_len = encode(&ServerFrame::Message(big(1))).len();
        let hub = hub_with(QueueLimit { items: 4096, bytes: 3 * frame_len });
        let kicked = Arc::new(AtomicBool::new(false));
        let flag = kicked.clone();
        let (_, mut slow) = hub.register(3, Box::new(move |_| flag.store(true, Ordering::SeqCst)));
        assert_eq!(drain(&mut slow), Vec::<u64>::new(), "only its own presence");
        for id in 1..=3 {
            hub.fan_out(1, &Target::User(3), &big(id));
        }
        assert!(!kicked.load(Ordering::SeqCst), "three frames fit");
        hub.fan_out(1, &Target::User(3), &big(4));
        assert!(kicked.load(Ordering::SeqCst), "the fourth is over the byte limit");
        // Taking items frees their bytes.
        kicked.store(false, Ordering::SeqCst);
        assert_eq!(drain(&mut slow), vec![1, 2, 3]);
        hub.fan_out(1, &Target::User(3), &big(5));
        assert!(!kicked.load(Ordering::SeqCst));
    }

    fn presence(rx: &mut Inbox) -> Vec<(Vec<String>, Vec<String>)> {
        std::iter::from_fn(|| rx.try_recv())
            .map(|item| match item {
                Outgoing::Control(f) => match quicq_common::frame::parse(&f[4..]) {
                    Ok(ServerFrame::Presence { online, offline }) => (online, offline),
                    other => panic!("not presence: {other:?}"),
                },
                Outgoing::Message { .. } => panic!("a message"),
            })
            .collect()
    }

    #[test]
    fn presence_goes_out_on_first_login_and_last_logout_batched_after_the_first() {
        let hub = hub(8);
        let (_, mut watcher) = hub.register(3, no_kick());
        // Nothing was sent before, so the first change goes out at once, to its own session too.
        assert_eq!(presence(&mut watcher), vec![(vec!["c".to_string()], vec![])]);
        let (s1, _) = hub.register(1, no_kick());
        let (s2, _) = hub.register(1, no_kick());
        let (b, _) = hub.register(2, no_kick());
        // Within the interval: held back for the batch.
        assert!(presence(&mut watcher).is_empty());
        send_presence(&mut hub.lock(), Instant::now());
        let both = vec!["Alice".to_string(), "小明".to_string()];
        assert_eq!(presence(&mut watcher), vec![(both, vec![])]);
        hub.unregister(1, s1);
        hub.unregister(2, b);
        send_presence(&mut hub.lock(), Instant::now());
        assert_eq!(presence(&mut watcher), vec![(vec![], vec!["小明".to_string()])]);
        hub.unregister(1, s2);
        send_presence(&mut hub.lock(), Instant::now());
        assert_eq!(presence(&mut watcher), vec![(vec![], vec!["Alice".to_string()])]);
        let (users, more) = hub.users_page(None);
        assert!(!more);
        assert_eq!(users.iter().filter(|u| u.online).count(), 1);
        assert_eq!(hub.lock().session_count, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_batch_task_sends_held_back_changes_when_due() {
        let hub = Arc::new(hub(8));
        let task = tokio::spawn({
            let hub = hub.clone();
            async move { hub.presence_batches().await }
        });
        let (_, mut watcher) = hub.register(3, no_kick());
        assert_eq!(presence(&mut watcher).len(), 1);
        let _alice = hub.register(1, no_kick());
        tokio::time::sleep(crate::presence::MIN_INTERVAL / 2).await;
        assert!(presence(&mut watcher).is_empty());
        tokio::time::sleep(crate::presence::MIN_INTERVAL).await;
        assert_eq!(presence(&mut watcher), vec![(vec!["Alice".to_string()], vec![])]);
        task.abort();
    }

    #[test]
    fn users_are_paged_by_key() {
        let accounts = (0..600).map(|i| (i, format!("u{i:03}"), format!("u{i:03}"))).collect();
        let hub = Hub::new(
            accounts,
            vec![],
            QueueLimit { items: 1, bytes: 1 },
            Rates { per_second: 1, burst: 1, backlog: 0, backlog_per_second: 1 },
        );
        let (first, more) = hub.users_page(None);
        assert!(more);
        assert_eq!(first.len(), USERS_PAGE);
        let (second, _) = hub.users_page(Some(&first.last().unwrap().name));
        assert_eq!(second[0].name, format!("u{:03}", USERS_PAGE));
    }

    #[test]
    fn rate_limit_is_per_account() {
        let hub = hub(8);
        let now = Instant::now();
        for _ in 0..3 {
            assert!(hub.check_rate(1, now).is_ok());
        }
        assert!(hub.check_rate(1, now).is_err());
        assert!(hub.check_rate(2, now).is_ok());
    }
}
