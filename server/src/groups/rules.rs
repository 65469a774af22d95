//! What a group change needs: a valid name, and a role that allows it. Pure decisions, tested
//! by table.

use quicq_common::nickname::{Nickname, NicknameError, check_new};
use quicq_common::protocol::{ErrorCode, GroupChange, Role};

use crate::error::Refusal;

/// A checked new group name: (spelling as given after NFC, comparison key).
pub fn check_name(raw: &str, max_chars: u32) -> Result<(String, String), Refusal> {
    let invalid = |message: String| Refusal::new(ErrorCode::InvalidGroupName, message);
    let name = Nickname::parse(raw).map_err(|e| match e {
        NicknameError::Reserved(name) => {
            Refusal::new(ErrorCode::NameTaken, format!("the group name {name:?} is reserved"))
        }
        NicknameError::TooLong => {
            invalid(format!("group name is longer than {max_chars} characters"))
        }
        other => invalid(other.to_string().replacen("nickname", "group name", 1)),
    })?;
    if name.as_str().chars().count() > max_chars as usize {
        return Err(invalid(format!("group name is longer than {max_chars} characters")));
    }
    check_new(&name).map_err(|e| invalid(e.to_string().replacen("nickname", "group name", 1)))?;
    Ok((name.as_str().to_owned(), name.key().to_owned()))
}

/// Whether a member with role `actor` may make `change`. `target` is the role of the user the
/// change names (`None`: not a member), `on_self` whether that user is the actor.
pub fn may_change(
    actor: Role,
    change: &GroupChange,
    target: Option<Role>,
    on_self: bool,
) -> Result<(), Refusal> {
    let manager = matches!(actor, Role::Owner | Role::Admin);
    let no = |why: &str| Err(Refusal::new(ErrorCode::NotAllowed, why));
    match change {
        GroupChange::Leave {} => Ok(()),
        GroupChange::Add { .. } if !manager => no("only the owner and admins can add members"),
        GroupChange::Add { .. } => match target {
            Some(_) => Err(Refusal::new(ErrorCode::AlreadyMember, "that user is already a member")),
            None => Ok(()),
        },
        GroupChange::Remove { .. } => match (target, actor) {
            (None, _) => Err(not_member()),
            _ if on_self => no("to remove yourself, leave the group"),
            (Some(_), Role::Owner) | (Some(Role::Member), Role::Admin) => Ok(()),
            (Some(_), Role::Admin) => no("admins can remove only plain members"),
            (Some(_), Role::Member) => no("only the owner and admins can remove members"),
        },
        GroupChange::Role { role, .. } => match target {
            _ if actor != Role::Owner => no("only the owner can change roles"),
            None => Err(not_member()),
            _ if on_self => no("the owner hands over ownership by making another member owner"),
            Some(current) if current == *role => no("that member already has this role"),
            Some(_) => Ok(()),
        },
        GroupChange::Rename { .. } | GroupChange::Topic { .. } if !manager => {
            no("only the owner and admins can rename the group or set its topic")
        }
        GroupChange::Rename { .. } | GroupChange::Topic { .. } => Ok(()),
        GroupChange::Delete {} if actor != Role::Owner => no("only the owner can delete the group"),
        GroupChange::Delete {} => Ok(()),
    }
}

fn not_member() -> Refusal {
    Refusal::new(ErrorCode::NotMember, "that user is not a member of the group")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorCode::*;
    use Role::*;

    #[test]
    fn names_follow_the_nickname_rules_and_the_configured_length() {
        assert_eq!(check_name("Rust-中文", 32).unwrap(), ("Rust-中文".into(), "rust-中文".into()));
        let cases: &[(&str, u32, ErrorCode)] = &[
            ("", 32, InvalidGroupName),
            ("a b", 32, InvalidGroupName),
            ("abcdef", 5, InvalidGroupName),
            ("Everyone", 32, NameTaken),
            ("p\u{430}ypal", 32, InvalidGroupName),
            ("...", 32, InvalidGroupName),
        ];
        for (raw, max, code) in cases {
            let err = check_name(raw, *max).unwrap_err();
            assert_eq!(err.code, *code, "{raw:?}: {err}");
            assert!(!err.message.contains("nickname"), "{err}");
        }
    }

    #[test]
    fn roles_allow_what_the_protocol_says() {
        let add = GroupChange::Add { user: "x".into() };
        let remove = GroupChange::Remove { user: "x".into() };
        let admin = GroupChange::Role { user: "x".into(), role: Admin };
        let owner = GroupChange::Role { user: "x".into(), role: Owner };
        let rename = GroupChange::Rename { name: "n".into() };
        let topic = GroupChange::Topic { topic: "t".into() };
        let delete = GroupChange::Delete {};
        let leave = GroupChange::Leave {};
        // (actor, change, target role, on self, expected refusal)
        type Case<'a> = (Role, &'a GroupChange, Option<Role>, bool, Option<ErrorCode>);
        let cases: &[Case<'_>] = &[
            (Owner, &add, None, false, None),
            (Admin, &add, None, false, None),
            (Member, &add, None, false, Some(NotAllowed)),
            (Owner, &add, Some(Member), false, Some(AlreadyMember)),
            (Owner, &remove, Some(Admin), false, None),
            (Owner, &remove, Some(Member), false, None),
            (Owner, &remove, Some(Owner), true, Some(NotAllowed)),
            (Admin, &remove, Some(Member), false, None),
            (Admin, &remove, Some(Admin), false, Some(NotAllowed)),
            (Admin, &remove, Some(Owner), false, Some(NotAllowed)),
            (Member, &remove, Some(Member), false, Some(NotAllowed)),
            (Owner, &remove, None, false, Some(NotMember)),
            (Owner, &admin, Some(Member), false, None),
            (Owner, &admin, Some(Admin), false, Some(NotAllowed)),
            (Owner, &owner, Some(Admin), false, None),
            (Owner, &owner, Some(Owner), true, Some(NotAllowed)),
            (Owner, &admin, None, false, Some(NotMember)),
            (Admin, &admin, Some(Member), false, Some(NotAllowed)),
            (Admin, &rename, None, false, None),
            (Member, &rename, None, false, Some(NotAllowed)),
            (Admin, &topic, None, false, None),
            (Member, &topic, None, false, Some(NotAllowed)),
            (Owner, &delete, None, false, None),
            (Admin, &delete, None, false, Some(NotAllowed)),
            (Member, &leave, None, false, None),
            (Owner, &leave, None, false, None),
        ];
        for (actor, change, target, on_self, want) in cases {
            let got = may_change(*actor, change, *target, *on_self).err().map(|r| r.code);
            assert_eq!(got, *want, "{actor:?} {change:?} on {target:?} (self: {on_self})");
        }
    }
}
