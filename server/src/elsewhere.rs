//! Who is online on the other nodes of a cluster, as each last said: a change when an account's
//! first session there opens or its last closes, and its whole list every few seconds. A node
//! not heard from for a while is forgotten, with everyone it had (it died, or lost NATS).

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use crate::store::AccountId;

/// A node's id in the cluster.
pub type NodeId = u64;

#[derive(Debug, Default)]
pub struct Elsewhere {
    nodes: HashMap<NodeId, Node>,
    /// On how many other nodes each account is online.
    count: HashMap<AccountId, u32>,
}

#[derive(Debug)]
struct Node {
    online: HashSet<AccountId>,
    heard: Instant,
}

impl Elsewhere {
    pub fn is_online(&self, account: AccountId) -> bool {
        self.count.contains_key(&account)
    }

    /// Every account online on another node.
    pub fn accounts(&self) -> impl Iterator<Item = AccountId> + '_ {
        self.count.keys().copied()
    }

    /// `node` says `account` came online there or went offline. Returns whether that changed
    /// whether the account is online on some other node.
    pub fn set(&mut self, node: NodeId, account: AccountId, online: bool, now: Instant) -> bool {
        let was = self.is_online(account);
        let entry = self.node(node, now);
        let changed =
            if online { entry.online.insert(account) } else { entry.online.remove(&account) };
        if changed {
            self.adjust(account, online);
        }
        was != self.is_online(account)
    }

    /// `node`'s whole list. Returns the accounts whose being online elsewhere changed, with
    /// whether they now are.
    pub fn replace(
        &mut self,
        node: NodeId,
        accounts: &[AccountId],
        now: Instant,
    ) -> Vec<(AccountId, bool)> {
        let new: HashSet<AccountId> = accounts.iter().copied().collect();
        let old = std::mem::take(&mut self.node(node, now).online);
        let mut changed = Vec::new();
        for gone in old.difference(&new) {
            self.adjust(*gone, false);
            if !self.is_online(*gone) {
                changed.push((*gone, false));
            }
        }
        for came in new.difference(&old) {
            if !self.is_online(*came) {
                changed.push((*came, true));
            }
            self.adjust(*came, true);
        }
        self.node(node, now).online = new;
        changed
    }

    /// Forgets the nodes not heard from since `before`; returns the accounts that are then
    /// online on no other node.
    pub fn expire(&mut self, before: Instant) -> Vec<AccountId> {
        let silent: Vec<NodeId> =
            self.nodes.iter().filter(|(_, n)| n.heard < before).map(|(id, _)| *id).collect();
        let mut gone = Vec::new();
        for id in silent {
            if let Some(node) = self.nodes.remove(&id) {
                for account in node.online {
                    self.adjust(account, false);
                    if !self.is_online(account) {
                        gone.push(account);
                    }
                }
            }
        }
        gone
    }

    fn node(&mut self, id: NodeId, now: Instant) -> &mut Node {
        let node =
            self.nodes.entry(id).or_insert_with(|| Node { online: HashSet::new(), heard: now });
        node.heard = now;
        node
    }

    fn adjust(&mut self, account: AccountId, up: bool) {
        if up {
            *self.count.entry(account).or_default() += 1;
        } else if let Some(n) = self.count.get_mut(&account) {
            *n -= 1;
            if *n == 0 {
                self.count.remove(&account);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_account_is_online_elsewhere_while_any_other_node_has_it() {
        let t = Instant::now();
        let mut e = Elsewhere::default();
        assert!(e.set(1, 10, true, t), "first node: now online elsewhere");
        assert!(!e.set(2, 10, true, t), "second node: no change");
        assert!(!e.set(1, 10, false, t), "still on node 2");
        assert!(e.is_online(10));
        assert!(e.set(2, 10, false, t), "gone from both");
        assert!(!e.set(2, 10, false, t), "twice offline is no change");
        assert!(!e.is_online(10));
    }

    #[test]
    fn a_list_replaces_what_the_node_said_before() {
        let t = Instant::now();
        let mut e = Elsewhere::default();
        e.set(1, 10, true, t);
        e.set(2, 11, true, t);
        let mut changed = e.replace(1, &[11, 12], t);
        changed.sort();
        assert_eq!(changed, vec![(10, false), (12, true)], "11 was already online on node 2");
        assert!(e.is_online(11) && e.is_online(12) && !e.is_online(10));
        assert_eq!(e.replace(1, &[11, 12], t), vec![], "the same list changes nothing");
    }

    #[test]
    fn a_silent_node_is_forgotten_with_its_accounts() {
        let t = Instant::now();
        let later = t + Duration::from_secs(20);
        let mut e = Elsewhere::default();
        e.set(1, 10, true, t);
        e.set(1, 11, true, t);
        e.set(2, 11, true, later);
        let mut gone = e.expire(t + Duration::from_secs(10));
        gone.sort();
        assert_eq!(gone, vec![10], "11 is still on node 2, heard later");
        assert!(e.is_online(11));
        assert_eq!(e.expire(later + Duration::from_secs(1)), vec![11]);
    }
}
