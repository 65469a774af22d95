//! A conversation's identity (everyone, a named group, one person) and how a message's time is
//! shown: shared by the list's rules and the view models, so neither depends on the other.

use quicq_common::nickname::key_of;
use quicq_common::protocol::{Address, ChatMessage, EVERYONE};

/// A conversation: the group, or one other person (by nickname key).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Conv {
    Everyone,
    /// A named group, by its name's key.
    Group(String),
    With(String),
}

impl Conv {
    /// The conversation a message belongs to, seen by `me`.
    pub fn of(message: &ChatMessage, me: &str) -> Conv {
        match &message.to {
            Address::User(to) if key_of(&message.from) == key_of(me) => Conv::With(key_of(to)),
            Address::User(_) => Conv::With(key_of(&message.from)),
            group => Conv::of_address(group),
        }
    }

    /// The conversation an address names (a `history` answer's `with`).
    pub fn of_address(address: &Address) -> Conv {
        match address {
            Address::Group(name) if key_of(name) == EVERYONE => Conv::Everyone,
            Address::Group(name) => Conv::Group(key_of(name)),
            Address::User(name) => Conv::With(key_of(name)),
        }
    }

    /// The row key of this conversation (see [`Conv::from_row_key`]).
    pub fn row_key(&self) -> String {
        match self {
            Conv::Everyone => String::new(),
            Conv::Group(key) => format!("#{key}"),
            Conv::With(key) => key.clone(),
        }
    }

    /// The row key the tree uses: "" for everyone, `#` and the key for a group (nicknames
    /// cannot contain `#`), otherwise the nickname key.
    pub fn from_row_key(key: &str) -> Conv {
        match key.strip_prefix('#') {
            _ if key.is_empty() => Conv::Everyone,
            Some(group) => Conv::Group(key_of(group)),
            None => Conv::With(key_of(key)),
        }
    }
}

/// `14:03` for today, `11-25 14:03` otherwise, in local time.
pub fn clock(at_ms: i64) -> String {
    use chrono::{Local, TimeZone};
    match Local.timestamp_millis_opt(at_ms).single() {
        Some(t) if t.date_naive() == Local::now().date_naive() => t.format("%H:%M").to_string(),
        Some(t) => t.format("%m-%d %H:%M").to_string(),
        None => String::new(),
    }
}
