//! Text that other people chose, made safe for where it is shown: file names without invisible
//! format characters (a right-to-left override makes `invoice\u{202e}gnp.exe` look like
//! `invoiceexe.png`), and terminal output without control sequences (a peer must not move the
//! cursor, retitle the window, clear the screen or forge a line).

use std::borrow::Cow;

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Bidirectional controls: marks, embeddings, overrides and isolates.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Invisible format characters (Unicode general category Cf), the bidi controls among them.
pub fn is_format(c: char) -> bool {
    c.general_category() == GeneralCategory::Format
}

/// `name` without format characters.
pub fn strip_format(name: &str) -> Cow<'_, str> {
    if name.chars().any(is_format) {
        Cow::Owned(name.chars().filter(|c| !is_format(*c)).collect())
    } else {
        Cow::Borrowed(name)
    }
}

/// `text` for a terminal: control characters and bidi controls are written as visible escapes
/// (`\n`, `\t`, `\u{1b}`, `\u{202e}`), everything else as it is.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || is_bidi_control(c);
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_characters_leave_file_names() {
        let cases = [
            ("invoice\u{202e}gnp.exe", "invoicegnp.exe"),
            ("a\u{200b}b\u{2066}c\u{2069}.txt", "abc.txt"),
            ("\u{feff}report.pdf", "report.pdf"),
            ("報告 2026.pdf", "報告 2026.pdf"),
            ("plain.txt", "plain.txt"),
        ];
        for (name, want) in cases {
            assert_eq!(strip_format(name), want, "{name:?}");
        }
        assert!(matches!(strip_format("plain.txt"), Cow::Borrowed(_)));
    }

    #[test]
    fn terminal_text_cannot_carry_escape_sequences_or_forge_lines() {
        let cases = [
            ("hi", "hi"),
            ("你好 👋", "你好 👋"),
            ("\u{1b}]0;pwned\u{7}", "\\u{1b}]0;pwned\\u{7}"),
            ("\u{1b}[2J\u{1b}[H", "\\u{1b}[2J\\u{1b}[H"),
            ("ok\n12:00 bob → you: fake", "ok\\n12:00 bob → you: fake"),
            ("a\r\tb", "a\\r\\tb"),
            ("\u{9b}31m", "\\u{9b}31m"),
            ("evil\u{202e}txt.exe", "evil\\u{202e}txt.exe"),
        ];
        for (text, want) in cases {
            assert_eq!(for_terminal(text), want, "{text:?}");
        }
    }
}
