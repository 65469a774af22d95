//! Search over one's conversations: the line a result shows (the match in the middle of its
//! surroundings). Pure; the controller asks the server (`client.search`) and keeps the results.

/// Characters shown around a match, at most, on each side.
pub const AROUND: usize = 24;

/// One line of `text` around the first case-insensitive match of `query`, cut with "…" where
/// text was left out; the whole text (on one line) if it fits or the match is not found.
pub fn excerpt(text: &str, query: &str) -> String {
    let line: Vec<char> = text.split_whitespace().collect::<Vec<_>>().join(" ").chars().collect();
    let lower: Vec<char> = line.iter().map(|c| c.to_lowercase().next().unwrap_or(*c)).collect();
    let needle: Vec<char> =
        query.trim().chars().map(|c| c.to_lowercase().next().unwrap_or(c)).collect();
    let found = (!needle.is_empty())
        .then(|| lower.windows(needle.len()).position(|w| w == needle.as_slice()))
        .flatten();
    let Some(at) = found else {
        return cut(&line, 0, line.len().min(2 * AROUND + needle.len()));
    };
    let start = at.saturating_sub(AROUND);
    let end = (at + needle.len() + AROUND).min(line.len());
    cut(&line, start, end)
}

fn cut(line: &[char], start: usize, end: usize) -> String {
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(&line[start..end]);
    if end < line.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_match_is_shown_with_its_surroundings() {
        let long = format!("{}needle{}", "a".repeat(40), "b".repeat(40));
        let cases = [
            ("short text", "text", "short text".to_owned()),
            ("two\nlines", "LINES", "two lines".to_owned()),
            (
                long.as_str(),
                "NEEDLE",
                format!("…{}needle{}…", "a".repeat(AROUND), "b".repeat(AROUND)),
            ),
            ("我们明天去北京吃烤鸭，你来吗？", "北京", "我们明天去北京吃烤鸭，你来吗？".to_owned()),
            ("not here", "zzz", "not here".to_owned()),
        ];
        for (text, query, want) in cases {
            assert_eq!(excerpt(text, query), want, "{query}");
        }
        let chinese = format!("{}北京{}", "字".repeat(30), "词".repeat(30));
        assert_eq!(
            excerpt(&chinese, "北京"),
            format!("…{}北京{}…", "字".repeat(AROUND), "词".repeat(AROUND))
        );
    }
}
