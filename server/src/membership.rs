//! Named groups and their members, in memory: what the hub routes by and what requests check
//! first. The store holds the truth; this copy changes only on the store thread, right after the
//! commit that changed the store, so routing agrees with the stored order of events.

use std::collections::{BTreeSet, HashMap};

use quicq_common::nickname::{key_of, skeleton_of};
use quicq_common::protocol::{EVERYONE, Role};

use crate::store::AccountId;

pub type GroupId = i64;

/// One named group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: GroupId,
    pub name: String,
    pub topic: String,
    pub members: HashMap<AccountId, Role>,
}

impl Group {
    pub fn role_of(&self, account: AccountId) -> Option<Role> {
        self.members.get(&account).copied()
    }

    pub fn owner(&self) -> Option<AccountId> {
        self.members.iter().find(|(_, r)| **r == Role::Owner).map(|(a, _)| *a)
    }
}

#[derive(Debug, Default)]
pub struct Groups {
    by_id: HashMap<GroupId, Group>,
    /// Name key → group.
    by_key: HashMap<String, GroupId>,
    /// Confusable skeleton of each name key → group, so a new name that looks like a taken one
    /// is refused.
    skeletons: HashMap<String, GroupId>,
    of_account: HashMap<AccountId, BTreeSet<GroupId>>,
}

impl Groups {
    /// Adds a group (at start-up, or when created) with its members.
    pub fn insert(&mut self, group: Group) {
        let key = key_of(&group.name);
        self.skeletons.insert(skeleton_of(&key), group.id);
        self.by_key.insert(key, group.id);
        for account in group.members.keys() {
            self.of_account.entry(*account).or_default().insert(group.id);
        }
        self.by_id.insert(group.id, group);
    }

    pub fn get(&self, id: GroupId) -> Option<&Group> {
        self.by_id.get(&id)
    }

    /// The group with this name (by key), whoever asks.
    pub fn named(&self, name: &str) -> Option<&Group> {
        self.by_key.get(&key_of(name)).and_then(|id| self.by_id.get(id))
    }

    /// The group with this name if `account` is a member: to anyone else it does not exist.
    pub fn named_for(&self, name: &str, account: AccountId) -> Option<&Group> {
        self.named(name).filter(|g| g.members.contains_key(&account))
    }

    /// The group whose name a new name `key` would clash with (same key or look-alike), or
    /// `everyone`; `except` is the group being renamed.
    pub fn clash(&self, key: &str, except: Option<GroupId>) -> Option<String> {
        let skeleton = skeleton_of(key);
        if key == EVERYONE || skeleton == skeleton_of(EVERYONE) {
            return Some(EVERYONE.to_owned());
        }
        [self.by_key.get(key), self.skeletons.get(&skeleton)]
            .into_iter()
            .flatten()
            .find(|id| Some(**id) != except)
            .and_then(|id| self.by_id.get(id))
            .map(|g| g.name.clone())
    }

    /// Groups `account` is a member of, by id (creation order).
    pub fn of(&self, account: AccountId) -> impl Iterator<Item = &Group> {
        self.of_account.get(&account).into_iter().flatten().filter_map(|id| self.by_id.get(id))
    }

    pub fn count_of(&self, account: AccountId) -> usize {
        self.of_account.get(&account).map_or(0, BTreeSet::len)
    }

    pub fn set_member(&mut self, id: GroupId, account: AccountId, role: Role) {
        if let Some(group) = self.by_id.get_mut(&id) {
            group.members.insert(account, role);
            self.of_account.entry(account).or_default().insert(id);
        }
    }

    pub fn remove_member(&mut self, id: GroupId, account: AccountId) {
        if let Some(group) = self.by_id.get_mut(&id) {
            group.members.remove(&account);
        }
        if let Some(set) = self.of_account.get_mut(&account) {
            set.remove(&id);
            if set.is_empty() {
                self.of_account.remove(&account);
            }
        }
    }

    pub fn rename(&mut self, id: GroupId, name: &str) {
        let Some(group) = self.by_id.get_mut(&id) else { return };
        let old = key_of(&group.name);
        self.by_key.remove(&old);
        self.skeletons.retain(|_, g| *g != id);
        group.name = name.to_owned();
        let key = key_of(name);
        self.skeletons.insert(skeleton_of(&key), id);
        self.by_key.insert(key, id);
    }

    pub fn set_topic(&mut self, id: GroupId, topic: &str) {
        if let Some(group) = self.by_id.get_mut(&id) {
            group.topic = topic.to_owned();
        }
    }

    /// Forgets a deleted group; returns its last members.
    pub fn remove(&mut self, id: GroupId) -> Vec<AccountId> {
        let Some(group) = self.by_id.remove(&id) else { return Vec::new() };
        self.by_key.retain(|_, g| *g != id);
        self.skeletons.retain(|_, g| *g != id);
        let members: Vec<AccountId> = group.members.keys().copied().collect();
        for account in &members {
            if let Some(set) = self.of_account.get_mut(account) {
                set.remove(&id);
                if set.is_empty() {
                    self.of_account.remove(account);
                }
            }
        }
        members
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(id: GroupId, name: &str, members: &[(AccountId, Role)]) -> Group {
        Group {
            id,
            name: name.into(),
            topic: String::new(),
            members: members.iter().copied().collect(),
        }
    }

    #[test]
    fn a_group_exists_only_for_its_members() {
        let mut groups = Groups::default();
        groups.insert(group(1, "Rust", &[(10, Role::Owner), (11, Role::Member)]));
        assert_eq!(groups.named_for("rust", 11).map(|g| g.id), Some(1));
        assert_eq!(groups.named_for("RUST", 10).map(|g| g.id), Some(1));
        assert!(groups.named_for("rust", 12).is_none());
        groups.remove_member(1, 11);
        assert!(groups.named_for("rust", 11).is_none());
        assert_eq!(groups.count_of(11), 0);
        assert_eq!(groups.count_of(10), 1);
        groups.set_member(1, 12, Role::Admin);
        assert_eq!(groups.named_for("rust", 12).and_then(|g| g.role_of(12)), Some(Role::Admin));
    }

    #[test]
    fn names_clash_by_key_by_look_and_with_everyone() {
        let mut groups = Groups::default();
        groups.insert(group(1, "rust", &[(10, Role::Owner)]));
        assert_eq!(groups.clash(&key_of("Rust"), None), Some("rust".into()));
        assert_eq!(groups.clash(&key_of("ru\u{455}t"), None), Some("rust".into()));
        assert_eq!(groups.clash(&key_of("Everyone"), None), Some(EVERYONE.into()));
        assert_eq!(groups.clash(&key_of("\u{435}veryone"), None), Some(EVERYONE.into()));
        assert_eq!(groups.clash(&key_of("go"), None), None);
        // Re-spelling one's own name is not a clash.
        assert_eq!(groups.clash(&key_of("RUST"), Some(1)), None);
        groups.rename(1, "go");
        assert_eq!(groups.clash(&key_of("rust"), None), None);
        assert_eq!(groups.named("GO").map(|g| g.id), Some(1));
        assert_eq!(groups.remove(1), vec![10]);
        assert!(groups.named("go").is_none());
        assert_eq!(groups.clash(&key_of("go"), None), None);
    }
}
