//! Small display rules for names and counts: the order people and groups are listed in, what an
//! unread badge says, how a fingerprint is broken into lines. Pure functions, tested on their own.

use std::cmp::Ordering;

/// The most an unread badge spells out; more shows as "99+".
pub const BADGE_MAX: u32 = 99;

/// Compares names as people read them: case-insensitively, with runs of digits compared as
/// numbers, so `user2` comes before `user10` and `Bob` next to `bob`. Names equal that way are
/// ordered by their exact text, so the order is total and stable.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.chars().peekable(), b.chars().peekable());
    loop {
        match (x.peek().copied(), y.peek().copied()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let (m, n) = (digits(&mut x), digits(&mut y));
                // Without leading zeros, the longer run is the larger number.
                let (m0, n0) = (m.trim_start_matches('0'), n.trim_start_matches('0'));
                let by_value = m0.len().cmp(&n0.len()).then_with(|| m0.cmp(n0));
                if by_value != Ordering::Equal {
                    return by_value;
                }
            }
            (Some(c), Some(d)) => {
                let by_char = c.to_lowercase().cmp(d.to_lowercase());
                if by_char != Ordering::Equal {
                    return by_char;
                }
                x.next();
                y.next();
            }
        }
    }
}

fn digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> String {
    let mut run = String::new();
    while let Some(c) = chars.next_if(char::is_ascii_digit) {
        run.push(c);
    }
    run
}

/// What an unread badge shows: nothing for none, the count up to [`BADGE_MAX`], then "99+".
pub fn badge(unread: u32) -> String {
    match unread {
        0 => String::new(),
        n if n > BADGE_MAX => format!("{BADGE_MAX}+"),
        n => n.to_string(),
    }
}

/// Whether a draft has nothing to send: empty or only white space (including the ideographic
/// space a Chinese input method types). The Send button and [`crate::controller::Controller::send`]
/// agree on this.
pub fn is_blank(draft: &str) -> bool {
    draft.trim().is_empty()
}

/// Bytes per line of a fingerprint on screen: 8 make a line of 23 characters that fits the
/// trust dialog at a large size even on a 480-pixel-wide screen.
pub const FINGERPRINT_BYTES_PER_LINE: usize = 8;

/// A fingerprint (`AB:CD:…`, as [`quicq_common::Fingerprint::pretty`] writes it) broken into
/// lines between bytes, so it can be shown large without wrapping in the middle of one.
pub fn fingerprint_lines(pretty: &str) -> String {
    let bytes: Vec<&str> = pretty.split(':').collect();
    bytes
        .chunks(FINGERPRINT_BYTES_PER_LINE)
        .map(|line| line.join(":"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_drafts_are_not_sendable() {
        let cases = [
            ("", true),
            (" ", true),
            ("\n\t \r\n", true),
            ("\u{3000}", true),
            ("a", false),
            ("  hi\n", false),
            ("\n.\n", false),
        ];
        for (draft, blank) in cases {
            assert_eq!(is_blank(draft), blank, "{draft:?}");
        }
    }

    #[test]
    fn fingerprints_break_between_bytes() {
        let pretty = quicq_common::Fingerprint([0xAB; 32]).pretty();
        let lines = fingerprint_lines(&pretty);
        assert_eq!(lines.lines().count(), 4);
        assert!(lines.lines().all(|l| l == "AB:AB:AB:AB:AB:AB:AB:AB"), "{lines}");
        assert_eq!(lines.replace('\n', ":"), pretty, "nothing lost or added");
        let cases =
            [("", ""), ("01", "01"), ("01:02:03:04:05:06:07:08:09", "01:02:03:04:05:06:07:08\n09")];
        for (pretty, shown) in cases {
            assert_eq!(fingerprint_lines(pretty), shown);
        }
    }

    #[test]
    fn names_sort_naturally_and_ignore_case() {
        let cases: &[(&[&str], &[&str])] = &[
            (&["user10", "user2", "user1"], &["user1", "user2", "user10"]),
            (&["bob", "Alice", "carol"], &["Alice", "bob", "carol"]),
            (&["b", "B"], &["B", "b"]),
            (&["x007", "x7", "x10"], &["x007", "x7", "x10"]),
            (&["a2b10", "a2b9", "a10b1"], &["a2b9", "a2b10", "a10b1"]),
            (&["zoë", "Zoe", "zo"], &["zo", "Zoe", "zoë"]),
            (&["99999999999999999999999", "1"], &["1", "99999999999999999999999"]),
            (&["张三", "user", "2"], &["2", "user", "张三"]),
        ];
        for (input, sorted) in cases {
            let mut names = input.to_vec();
            names.sort_by(|a, b| natural_cmp(a, b));
            assert_eq!(&names, sorted, "{input:?}");
        }
    }

    #[test]
    fn badges_are_capped() {
        let cases = [(0, ""), (1, "1"), (99, "99"), (100, "99+"), (1010, "99+")];
        for (unread, shown) in cases {
            assert_eq!(badge(unread), shown, "{unread}");
        }
    }
}
