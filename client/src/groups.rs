//! Named groups: creating one, changing it (members, roles, name, topic, deletion) and listing
//! groups and members. The server stores each change as an event message that every member
//! receives, the changed member included, as an [`Event::Message`](crate::Event::Message); a
//! change's answer is that event's id.
//!
//! A group one is not in answers `unknown_recipient`, exactly like one that does not exist.
//! Changes are applied in the order of the calls, among sends and edits (see `order`), and take
//! a token of the account's rate limit: when rate limited they wait and are repeated.
//! Changes carry no client id, so a change whose connection is lost before the answer is
//! repeated on the next connection and may then be refused for having happened already
//! (`already_member`, `not_member`).

use std::future::Future;

use quicq_common::check::check_topic;
use quicq_common::protocol::{ClientFrame, GroupChange, GroupInfo, MemberInfo, Role, ServerFrame};

use crate::client::Client;
use crate::error::RequestError;

/// A group and its members: the owner first, then admins, then members, each by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMembers {
    pub group: GroupInfo,
    pub members: Vec<MemberInfo>,
}

/// What a change's future resolves to: the id of the event that records it.
type Change = Result<u64, RequestError>;

impl Client {
    /// Creates a named group with oneself as owner and `members` (nicknames) added, in that
    /// order. Nothing is created if any of them is unknown (`unknown_recipient`). Applied in the
    /// order of the calls, like every change (see [`Client::send`]).
    pub fn create_group(
        &self,
        name: impl Into<String>,
        members: Vec<String>,
    ) -> impl Future<Output = Result<GroupMembers, RequestError>> + Send + 'static {
        let changing = self.change(ClientFrame::GroupCreate { name: name.into(), members });
        async move { members_answer(changing.await?) }
    }

    /// Changes a named group; resolves to the id of the event message that records it.
    /// Applied in the order of the calls, after every earlier send and change has been answered
    /// (see [`Client::send`]).
    pub fn group_change(
        &self,
        group: impl Into<String>,
        change: GroupChange,
    ) -> impl Future<Output = Change> + Send + 'static {
        // The server's own check, so what it would refuse is refused here with its words.
        let checked = match &change {
            GroupChange::Topic { topic } => check_topic(topic, self.limits().max_topic_chars),
            _ => Ok(()),
        };
        let changing = self.change(ClientFrame::Group { group: group.into(), change });
        async move {
            checked?;
            match changing.await? {
                ServerFrame::Done { id } => Ok(id),
                other => Err(RequestError::unexpected("done", &other)),
            }
        }
    }

    /// Owner or admin: adds `user` to the group.
    pub fn add_member(
        &self,
        group: impl Into<String>,
        user: impl Into<String>,
    ) -> impl Future<Output = Change> + Send + 'static {
        self.group_change(group, GroupChange::Add { user: user.into() })
    }

    /// Owner: removes anyone but oneself; admin: removes plain members. (To go oneself, leave.)
    pub fn remove_member(
        &self,
        group: impl Into<String>,
        user: impl Into<String>,
    ) -> impl Future<Output = Change> + Send + 'static {
        self.group_change(group, GroupChange::Remove { user: user.into() })
    }

    /// Leaves the group. An owner's ownership passes to the longest-standing admin (or else
    /// member); the last member leaving deletes the group.
    pub fn leave_group(
        &self,
        group: impl Into<String>,
    ) -> impl Future<Output = Change> + Send + 'static {
        self.group_change(group, GroupChange::Leave {})
    }

    /// Owner: makes `user` an admin or a plain member, or with [`Role::Owner`] hands ownership
    /// over (oneself becomes an admin).
    pub fn set_role(
        &self,
        group: impl Into<String>,
        user: impl Into<String>,
        role: Role,
    ) -> impl Future<Output = Change> + Send + 'static {
        self.group_change(group, GroupChange::Role { user: user.into(), role })
    }

    /// Owner or admin: renames the group; its history follows it to the new name.
    pub fn rename_group(
        &self,
        group: impl Into<String>,
        name: impl Into<String>,
    ) -> impl Future<Output = Change> + Send + 'static {
        self.group_change(group, GroupChange::Rename { name: name.into() })
    }

    /// Owner or admin: sets the topic; an empty one clears it.
    pub fn set_topic(
        &self,
        group: impl Into<String>,
        topic: impl Into<String>,
    ) -> impl Future<Output = Change> + Send + 'static {
        self.group_change(group, GroupChange::Topic { topic: topic.into() })
    }

    /// Owner: deletes the group for everyone, with its messages and files.
    pub fn delete_group(
        &self,
        group: impl Into<String>,
    ) -> impl Future<Output = Change> + Send + 'static {
        self.group_change(group, GroupChange::Delete {})
    }

    /// A group's members (only for members).
    pub async fn group_members(
        &self,
        group: impl Into<String>,
    ) -> Result<GroupMembers, RequestError> {
        members_answer(self.request(&ClientFrame::GroupMembers { group: group.into() }).await?)
    }

    /// The groups one is in: `everyone` first, then every named group.
    pub async fn groups(&self) -> Result<Vec<GroupInfo>, RequestError> {
        match self.request(&ClientFrame::Groups {}).await? {
            ServerFrame::GroupList { groups } => Ok(groups),
            other => Err(RequestError::unexpected("group_list", &other)),
        }
    }
}

fn members_answer(answer: ServerFrame) -> Result<GroupMembers, RequestError> {
    match answer {
        ServerFrame::GroupMembers { group, members } => Ok(GroupMembers { group, members }),
        other => Err(RequestError::unexpected("group_members", &other)),
    }
}
