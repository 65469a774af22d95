//! Nickname rules, shared so a client can reject a bad name before it connects.
//!
//! A nickname is 1 to 32 characters after NFC normalisation: Unicode letters and digits plus
//! `_`, `-` and `.`, with at least one letter or digit. Two nicknames are the same account when
//! their [`Nickname::key`]s match: NFKC plus lower-casing, so `Alice`, `ALICE` and the
//! full-width `Ａｌｉｃｅ` cannot be three different people.

use unicode_normalization::UnicodeNormalization;

use crate::protocol::EVERYONE;

pub const MAX_CHARS: usize = 32;

/// A valid nickname: the spelling its owner chose and the key it is compared by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nickname {
    display: String,
    key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NicknameError {
    #[error("nickname is empty")]
    Empty,
    #[error("nickname is longer than {MAX_CHARS} characters")]
    TooLong,
    #[error("nickname may not contain {0:?}: only letters, digits, '_', '-' and '.' are allowed")]
    BadChar(char),
    #[error("nickname needs at least one letter or digit")]
    NoAlphanumeric,
    #[error("nickname {0:?} is reserved")]
    Reserved(String),
}

impl Nickname {
    pub fn parse(raw: &str) -> Result<Self, NicknameError> {
        let display: String = raw.nfc().collect();
        if display.is_empty() {
            return Err(NicknameError::Empty);
        }
        if display.chars().count() > MAX_CHARS {
            return Err(NicknameError::TooLong);
        }
        if let Some(bad) = display.chars().find(|c| !allowed(*c)) {
            return Err(NicknameError::BadChar(bad));
        }
        if !display.chars().any(char::is_alphanumeric) {
            return Err(NicknameError::NoAlphanumeric);
        }
        let key = key_of(&display);
        if key == EVERYONE {
            return Err(NicknameError::Reserved(display));
        }
        Ok(Nickname { display, key })
    }

    /// The spelling shown to people.
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The comparison key: equal keys mean the same account.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// Comparison key of any string (valid nickname or not), for look-ups.
pub fn key_of(name: &str) -> String {
    let lower: String = name.nfkc().flat_map(char::to_lowercase).collect();
    lower.nfkc().collect()
}

fn allowed(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.')
}

impl std::fmt::Display for Nickname {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_letters_digits_and_punctuation_in_any_script() {
        for ok in ["alice", "小明", "Zoë", "bob_2", "a.b-c", "Ωmega", "١٢٣", "x"] {
            assert!(Nickname::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_bad_names() {
        assert_eq!(Nickname::parse(""), Err(NicknameError::Empty));
        assert_eq!(Nickname::parse(&"a".repeat(33)), Err(NicknameError::TooLong));
        assert!(Nickname::parse(&"字".repeat(32)).is_ok());
        assert_eq!(Nickname::parse("a b"), Err(NicknameError::BadChar(' ')));
        assert_eq!(Nickname::parse("a/b"), Err(NicknameError::BadChar('/')));
        assert_eq!(Nickname::parse("a\u{200b}b"), Err(NicknameError::BadChar('\u{200b}')));
        assert_eq!(Nickname::parse("..."), Err(NicknameError::NoAlphanumeric));
        assert!(matches!(Nickname::parse("Everyone"), Err(NicknameError::Reserved(_))));
    }

    #[test]
    fn case_width_and_normalisation_do_not_make_new_names() {
        let base = Nickname::parse("Alice").unwrap();
        for same in ["alice", "ALICE", "Ａｌｉｃｅ"] {
            assert_eq!(Nickname::parse(same).unwrap().key(), base.key(), "{same}");
        }
        // "é" precomposed and decomposed are one name, and display is NFC.
        let a = Nickname::parse("Jos\u{e9}").unwrap();
        let b = Nickname::parse("Jose\u{301}").unwrap();
        assert_eq!(a.key(), b.key());
        assert_eq!(b.as_str(), "Jos\u{e9}");
    }
}
