//! Named groups: creating one, changing it (members, roles, name, topic, deletion) and listing
//! groups and members. The server stores each change as an event message that every member
//! receives, the changed member included, as an [`Event::Message`](crate::Event::Message); a
//! change's answer is that event's id.
//!
//! A group one is not in answers `unknown_recipient`, exactly like one that does not exist.
//! Changes take a token of the account's rate limit; when rate limited they wait and are
//! repeated, like sends.
//! Changes carry no client id, so a change whose connection is lost before the answer is
//! repeated on the next connection and may then be refused for having happened already
//! (`already_member`, `not_member`).

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

impl Client {
    /// Creates a named group with oneself as owner and `members` (nicknames) added, in that
    /// order. Nothing is created if any of them is unknown (`unknown_recipient`).
    pub async fn create_group(
        &self,
        name: impl Into<String>,
        members: Vec<String>,
    ) -> Result<GroupMembers, RequestError> {
        let frame = ClientFrame::GroupCreate { name: name.into(), members };
        self.group_members_answer(&frame).await
    }

    /// Changes a named group; returns the id of the event message that records it.
    pub async fn group_change(
        &self,
        group: impl Into<String>,
        change: GroupChange,
    ) -> Result<u64, RequestError> {
        if let GroupChange::Topic { topic } = &change {
            check_topic(topic, self.limits().max_topic_chars)?;
        }
        match self.request_paced(&ClientFrame::Group { group: group.into(), change }).await? {
            ServerFrame::Done { id } => Ok(id),
            other => Err(RequestError::unexpected("done", &other)),
        }
    }

    /// Owner or admin: adds `user` to the group.
    pub async fn add_member(
        &self,
        group: impl Into<String>,
        user: impl Into<String>,
    ) -> Result<u64, RequestError> {
        self.group_change(group, GroupChange::Add { user: user.into() }).await
    }

    /// Owner: removes anyone but oneself; admin: removes plain members. (To go oneself, leave.)
    pub async fn remove_member(
        &self,
        group: impl Into<String>,
        user: impl Into<String>,
    ) -> Result<u64, RequestError> {
        self.group_change(group, GroupChange::Remove { user: user.into() }).await
    }

    /// Leaves the group. An owner's ownership passes to the longest-standing admin (or else
    /// member); the last member leaving deletes the group.
    pub async fn leave_group(&self, group: impl Into<String>) -> Result<u64, RequestError> {
        self.group_change(group, GroupChange::Leave {}).await
    }

    /// Owner: makes `user` an admin or a plain member, or with [`Role::Owner`] hands ownership
    /// over (oneself becomes an admin).
    pub async fn set_role(
        &self,
        group: impl Into<String>,
        user: impl Into<String>,
        role: Role,
    ) -> Result<u64, RequestError> {
        self.group_change(group, GroupChange::Role { user: user.into(), role }).await
    }

    /// Owner or admin: renames the group; its history follows it to the new name.
    pub async fn rename_group(
        &self,
        group: impl Into<String>,
        name: impl Into<String>,
    ) -> Result<u64, RequestError> {
        self.group_change(group, GroupChange::Rename { name: name.into() }).await
    }

    /// Owner or admin: sets the topic; an empty one clears it.
    pub async fn set_topic(
        &self,
        group: impl Into<String>,
        topic: impl Into<String>,
    ) -> Result<u64, RequestError> {
        self.group_change(group, GroupChange::Topic { topic: topic.into() }).await
    }

    /// Owner: deletes the group for everyone, with its messages and files.
    pub async fn delete_group(&self, group: impl Into<String>) -> Result<u64, RequestError> {
        self.group_change(group, GroupChange::Delete {}).await
    }

    /// A group's members (only for members).
    pub async fn group_members(
        &self,
        group: impl Into<String>,
    ) -> Result<GroupMembers, RequestError> {
        self.group_members_answer(&ClientFrame::GroupMembers { group: group.into() }).await
    }

    /// The groups one is in: `everyone` first, then every named group.
    pub async fn groups(&self) -> Result<Vec<GroupInfo>, RequestError> {
        match self.request(&ClientFrame::Groups {}).await? {
            ServerFrame::GroupList { groups } => Ok(groups),
            other => Err(RequestError::unexpected("group_list", &other)),
        }
    }

    async fn group_members_answer(
        &self,
        frame: &ClientFrame,
    ) -> Result<GroupMembers, RequestError> {
        match self.request_paced(frame).await? {
            ServerFrame::GroupMembers { group, members } => Ok(GroupMembers { group, members }),
            other => Err(RequestError::unexpected("group_members", &other)),
        }
    }
}
