//! Nickname rules, shared so a client can reject a bad name before it connects.
//!
//! A nickname is 1 to 32 characters after NFC normalisation: Unicode letters and digits plus
//! `_`, `-` and `.`, with at least one letter or digit. Two nicknames are the same account when
//! their [`Nickname::key`]s match: NFKC plus lower-casing, so `Alice`, `ALICE` and the
//! full-width `Ａｌｉｃｅ` cannot be three different people.
//!
//! A *new* nickname must also not look like another: [`check_new`] refuses names that mix
//! scripts beyond UTS #39's "highly restrictive" level (Latin with Han and kana, Hangul or
//! Bopomofo is fine; Latin with Cyrillic or Greek is not) or use characters outside its
//! identifier profile, and [`skeleton_of`] is the confusable skeleton a server compares with
//! every existing nickname and `everyone` (Cyrillic `аlice` and Latin `alice` share one).

use unicode_normalization::UnicodeNormalization;
use unicode_security::{RestrictionLevel, RestrictionLevelDetection};

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
    #[error(
        "nickname {0:?} mixes scripts or uses characters that can pass for others; use one script (Latin may go with Chinese, Japanese or Korean)"
    )]
    MixedScript(String),
    #[error("nickname {0:?} looks like {1:?}; choose one that cannot be mistaken for it")]
    LooksLike(String, String),
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

/// Checks what only a nickname being registered must satisfy (existing accounts keep theirs):
/// one script, or Latin with Han and Japanese or Korean, in UTS #39's identifier profile.
pub fn check_new(nick: &Nickname) -> Result<(), NicknameError> {
    if nick.as_str().detect_restriction_level() > RestrictionLevel::HighlyRestrictive {
        return Err(NicknameError::MixedScript(nick.as_str().to_owned()));
    }
    Ok(())
}

/// The UTS #39 confusable skeleton of a nickname's key: two names with equal skeletons can be
/// mistaken for each other.
pub fn skeleton_of(key: &str) -> String {
    unicode_security::skeleton(key).collect()
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
    fn new_names_stay_in_one_script_or_a_recognised_mix() {
        for ok in [
            "alice",
            "小明",
            "Zoë",
            "bob_2",
            "a.b-c",
            "Ωμέγα",
            "ivan",
            "Иван",
            "李lee",
            "たなか",
            "田中たろう",
            "김민수",
            "alıce",
        ] {
            let nick = Nickname::parse(ok).unwrap();
            assert_eq!(check_new(&nick), Ok(()), "{ok}");
        }
        // Cyrillic а in Latin; Latin alpha and small-capital A are outside the profile.
        for bad in
            ["\u{430}lice", "\u{251}lice", "\u{1d00}lice", "\u{435}veryone", "pаypal", "Ωmega"]
        {
            let nick = Nickname::parse(bad).unwrap();
            assert!(matches!(check_new(&nick), Err(NicknameError::MixedScript(_))), "{bad}");
        }
    }

    #[test]
    fn look_alikes_share_a_skeleton() {
        let skeleton = |name: &str| skeleton_of(Nickname::parse(name).unwrap().key());
        assert_eq!(skeleton("alıce"), skeleton("alice"));
        assert_eq!(skeleton("\u{430}lice"), skeleton("alice"));
        assert_eq!(skeleton("\u{435}veryone"), skeleton_of(EVERYONE));
        assert_eq!(skeleton("rn"), skeleton("m"));
        assert_ne!(skeleton("alice"), skeleton("alicia"));
        assert_ne!(skeleton("小明"), skeleton("小朋"));
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
