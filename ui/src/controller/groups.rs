//! The controller's side of group management: the new-group form and a group's members panel
//! (roles, presence, add, remove, promote and demote, rename, topic, leave, delete), all through the client library; the
//! server's refusals are put in words by [`crate::i18n::Texts::group_refused`].

use quicq_common::nickname::key_of;
use quicq_common::protocol::{GroupChange, Role};

use super::Controller;
use crate::backend::Command;
use crate::generated::MemberRow;
use crate::screen::{GroupShow, Show};
use crate::view::Conv;

/// The nicknames typed into the members field: separated by commas, semicolons or spaces
/// (nicknames have none), each once.
pub fn nicknames(typed: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in typed.split(|c: char| c == ',' || c == ';' || c == '，' || c.is_whitespace()) {
        if !name.is_empty() && !names.iter().any(|n| key_of(n) == key_of(name)) {
            names.push(name.to_owned());
        }
    }
    names
}

/// Whether `actor` may remove a member with role `target` (the server decides; this only
/// decides what is offered): the owner anyone but themselves, an admin plain members.
pub fn may_remove(actor: Role, target: Role, on_self: bool) -> bool {
    !on_self
        && match actor {
            Role::Owner => true,
            Role::Admin => target == Role::Member,
            Role::Member => false,
        }
}

/// The role change the owner is offered for a member with role `target`: plain members can
/// be made admins and admins members (ownership is handed over from the CLI); nothing for
/// oneself or for anyone when one is not the owner.
pub fn role_offered(actor: Role, target: Role, on_self: bool) -> Option<Role> {
    match (actor, target) {
        _ if on_self => None,
        (Role::Owner, Role::Member) => Some(Role::Admin),
        (Role::Owner, Role::Admin) => Some(Role::Member),
        _ => None,
    }
}

impl Controller {
    /// "New group": the empty form.
    pub fn open_new_group(&self) {
        self.show(Show::Group(GroupShow::Error(String::new())));
        self.show(Show::Group(GroupShow::Create));
    }

    pub fn create_group(&self, name: &str, members: &str) {
        self.show(Show::Group(GroupShow::Error(String::new())));
        let members = nicknames(members);
        self.network.command(Command::CreateGroup { name: name.trim().to_owned(), members });
    }

    /// The members panel of the group on screen (nothing for Everyone or a person), its
    /// members asked for afresh.
    pub fn open_group_panel(&self) {
        let group = match self.state.borrow().selected.clone() {
            Some(Conv::Group(key)) => key,
            _ => return,
        };
        self.state.borrow_mut().group_panel = Some(group.clone());
        self.show(Show::Group(GroupShow::Error(String::new())));
        self.refresh_group_panel();
        let name = self.group_name(&group);
        self.network.command(Command::Members { group: name });
    }

    pub fn close_group_dialog(&self) {
        self.state.borrow_mut().group_panel = None;
        self.show(Show::Group(GroupShow::Closed));
    }

    /// A change to the group whose panel is open.
    pub fn change_group(&self, change: GroupChange) {
        let Some(group) = self.state.borrow().group_panel.clone() else { return };
        let blank = match &change {
            GroupChange::Add { user } | GroupChange::Remove { user } => user.trim().is_empty(),
            GroupChange::Rename { name } => name.trim().is_empty(),
            _ => false,
        };
        if blank {
            return;
        }
        let change = match change {
            GroupChange::Add { user } => GroupChange::Add { user: user.trim().to_owned() },
            GroupChange::Rename { name } => GroupChange::Rename { name: name.trim().to_owned() },
            other => other,
        };
        self.show(Show::Group(GroupShow::Error(String::new())));
        self.network.command(Command::ChangeGroup { group: self.group_name(&group), change });
    }

    fn group_name(&self, key: &str) -> String {
        let state = self.state.borrow();
        state.roster.group(key).map_or_else(|| key.to_owned(), |g| g.name.clone())
    }

    /// Created: the form closes and the new group opens.
    pub(super) fn group_created(&self, name: &str) {
        self.state.borrow_mut().roster.add_group(name);
        self.close_group_dialog();
        self.select(Conv::Group(key_of(name)));
    }

    pub(super) fn group_changed(&self, group: &str, change: &GroupChange) {
        match change {
            GroupChange::Leave {} | GroupChange::Delete {} => {
                self.close_group_dialog();
                let selected = self.state.borrow().selected.clone();
                if selected == Some(Conv::Group(key_of(group))) {
                    self.select(Conv::Everyone);
                }
            }
            GroupChange::Rename { name } => {
                let mut state = self.state.borrow_mut();
                if state.group_panel.as_deref() == Some(&key_of(group)) {
                    state.group_panel = Some(key_of(name));
                }
                drop(state);
                self.network.command(Command::Members { group: name.clone() });
            }
            _ => self.network.command(Command::Members { group: group.to_owned() }),
        }
    }

    pub(super) fn group_refused(&self, code: Option<quicq_common::protocol::ErrorCode>) {
        self.show(Show::Group(GroupShow::Error(self.texts().group_refused(code))));
    }

    /// Redraws the open members panel from what is known.
    pub(super) fn refresh_group_panel(&self) {
        let shown = {
            let state = self.state.borrow();
            let Some(key) = state.group_panel.clone() else { return };
            let me = key_of(&state.me);
            let members = state.activity.members(&key).unwrap_or_default();
            let my_role = members.iter().find(|m| key_of(&m.name) == me).map(|m| m.role);
            let actor = my_role.unwrap_or(Role::Member);
            let rows = members
                .iter()
                .map(|m| MemberRow {
                    name: m.name.as_str().into(),
                    role: self.texts().role(m.role).into(),
                    online: state.roster.is_online(&key_of(&m.name)),
                    can_remove: may_remove(actor, m.role, key_of(&m.name) == me),
                    can_promote: role_offered(actor, m.role, key_of(&m.name) == me)
                        == Some(Role::Admin),
                    can_demote: role_offered(actor, m.role, key_of(&m.name) == me)
                        == Some(Role::Member),
                })
                .collect();
            GroupShow::Members {
                group: state.roster.group(&key).map_or_else(|| key.clone(), |g| g.name.clone()),
                topic: state.activity.topic(&key).to_owned(),
                can_manage: matches!(actor, Role::Owner | Role::Admin),
                is_owner: actor == Role::Owner,
                members: rows,
            }
        };
        self.show(Show::Group(shown));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_members_are_split_and_each_kept_once() {
        let cases = [
            ("", vec![]),
            ("bob", vec!["bob"]),
            ("bob, carol", vec!["bob", "carol"]),
            ("bob,carol  Bob;小明，dan", vec!["bob", "carol", "小明", "dan"]),
        ];
        for (typed, want) in cases {
            assert_eq!(nicknames(typed), want, "{typed:?}");
        }
    }

    #[test]
    fn the_owner_is_offered_roles_for_others() {
        use Role::*;
        let cases = [
            ((Owner, Member, false), Some(Admin)),
            ((Owner, Admin, false), Some(Member)),
            ((Owner, Owner, true), None),
            ((Admin, Member, false), None),
            ((Admin, Admin, true), None),
            ((Member, Member, false), None),
        ];
        for ((actor, target, on_self), want) in cases {
            assert_eq!(role_offered(actor, target, on_self), want, "{actor:?} on {target:?}");
        }
    }

    #[test]
    fn removing_is_offered_as_the_server_allows_it() {
        use Role::*;
        // (actor, target, on self, offered)
        let cases = [
            (Owner, Admin, false, true),
            (Owner, Member, false, true),
            (Owner, Owner, true, false),
            (Admin, Member, false, true),
            (Admin, Admin, false, false),
            (Admin, Owner, false, false),
            (Member, Member, false, false),
        ];
        for (actor, target, on_self, offered) in cases {
            assert_eq!(may_remove(actor, target, on_self), offered, "{actor:?} {target:?}");
        }
    }
}
