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

/// The day, in time zone `tz`, of a message sent at `at_ms`.
pub fn day_in<Tz: chrono::TimeZone>(at_ms: i64, tz: &Tz) -> Option<chrono::NaiveDate> {
    tz.timestamp_millis_opt(at_ms).single().map(|t| t.date_naive())
}

/// Whether the row of a message sent at `at_ms` starts a day in time zone `tz`: it is the first
/// row shown (`prev_at_ms` is `None`), or the row above it is of another day.
pub fn starts_day<Tz: chrono::TimeZone>(prev_at_ms: Option<i64>, at_ms: i64, tz: &Tz) -> bool {
    prev_at_ms.is_none_or(|prev| day_in(prev, tz) != day_in(at_ms, tz))
}

#[cfg(test)]
mod tests {
    use chrono::FixedOffset;

    use super::*;

    #[test]
    fn a_row_starts_a_day_when_the_row_above_is_of_another_local_day() {
        // 2025-12-01 23:30 UTC and 2025-12-02 00:30 UTC, an hour apart across UTC midnight.
        let late = 1_764_631_800_000;
        let early = late + 3_600_000;
        let hour = 3600;
        let utc = FixedOffset::east_opt(0).unwrap();
        let beijing = FixedOffset::east_opt(8 * hour).unwrap();
        let new_york = FixedOffset::east_opt(-5 * hour).unwrap();
        let india = FixedOffset::east_opt(5 * hour + 1800).unwrap();
        // (above, this one, zone, starts a day)
        let cases = [
            (None, late, utc, true),
            (Some(late), early, utc, true),
            (Some(late), late + 60_000, utc, false),
            // 07:30 and 08:30 on the 2nd in Beijing: one day there.
            (Some(late), early, beijing, false),
            // 18:30 and 19:30 on the 1st in New York.
            (Some(late), early, new_york, false),
            // 05:00 and 06:00 on the 2nd in India.
            (Some(late), early, india, false),
            // 15:59 and 16:01 UTC are 23:59 and 00:01 in Beijing: another day there only.
            (
                Some(late - 7 * 3_600_000 - 1_860_000),
                late - 7 * 3_600_000 - 1_740_000,
                beijing,
                true,
            ),
            (Some(late - 7 * 3_600_000 - 1_860_000), late - 7 * 3_600_000 - 1_740_000, utc, false),
            // Days apart, and a message older than the one above (out of order): still a break.
            (Some(late), late + 3 * 86_400_000, utc, true),
            (Some(early), late, utc, true),
        ];
        for (i, (above, at, zone, want)) in cases.into_iter().enumerate() {
            assert_eq!(starts_day(above, at, &zone), want, "case {i}");
        }
    }
}
