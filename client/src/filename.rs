//! Turning a name chosen by someone else into a safe file name in the download folder.
//!
//! The received name is never trusted: only its last path component is kept, invisible format
//! characters (such as a right-to-left override) are removed, control and reserved characters
//! are replaced, leading dots are dropped (no hidden files, no `..`),
//! Windows device names are defused, the length is bounded, and an existing file is never
//! overwritten.

use std::path::{Path, PathBuf};

use quicq_common::text::is_format;

/// Longest name produced, in bytes (well under the 255 most file systems allow, leaving room
/// for ` (n)` and `.part` suffixes).
const MAX_NAME_BYTES: usize = 180;
const FALLBACK: &str = "file";

/// A safe, non-empty, single-component file name.
pub fn sanitize(received: &str) -> String {
    let last = received.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !is_format(*c))
        .map(|c| match c {
            c if c.is_control() => '_',
            '<' | '>' | ':' | '"' | '|' | '?' | '*' => '_',
            c => c,
        })
        .collect();
    let trimmed = cleaned.trim_start_matches(['.', ' ']).trim_end_matches(['.', ' ']);
    let mut name = if trimmed.is_empty() { FALLBACK.to_owned() } else { trimmed.to_owned() };
    if is_device_name(&name) {
        name.insert(0, '_');
    }
    shorten(&name)
}

/// CON, PRN, AUX, NUL, COM1-9, LPT1-9, with or without an extension, in any case.
fn is_device_name(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or_default().trim_end().to_ascii_uppercase();
    matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$")
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit())
}

/// Cuts the stem (keeping a short extension) so the whole name fits [`MAX_NAME_BYTES`].
fn shorten(name: &str) -> String {
    if name.len() <= MAX_NAME_BYTES {
        return name.to_owned();
    }
    let (stem, ext) = split_ext(name);
    let ext = if ext.len() <= 16 { ext } else { "" };
    let mut out = String::new();
    for c in stem.chars() {
        if out.len() + c.len_utf8() + ext.len() > MAX_NAME_BYTES {
            break;
        }
        out.push(c);
    }
    out.push_str(ext);
    out
}

/// `("report", ".pdf")`; a leading-dot-free name without a dot has no extension.
fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    }
}

/// `dir/name`, or `dir/name (1).ext`, `dir/name (2).ext`… whichever does not exist yet.
pub fn candidates(dir: &Path, name: &str) -> impl Iterator<Item = PathBuf> {
    let (stem, ext) = split_ext(name);
    let (stem, ext, dir) = (stem.to_owned(), ext.to_owned(), dir.to_owned());
    let first = dir.join(name);
    std::iter::once(first).chain((1..).map(move |n| dir.join(format!("{stem} ({n}){ext}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_become_harmless() {
        assert_eq!(sanitize("../../x"), "x");
        assert_eq!(sanitize("/etc/passwd"), "passwd");
        assert_eq!(sanitize("..\\..\\windows\\system32\\evil.dll"), "evil.dll");
        assert_eq!(sanitize("CON"), "_CON");
        assert_eq!(sanitize("con.txt"), "_con.txt");
        assert_eq!(sanitize("LPT1"), "_LPT1");
        assert_eq!(sanitize("COM10"), "COM10");
        assert_eq!(sanitize(""), "file");
        assert_eq!(sanitize(".."), "file");
        assert_eq!(sanitize(".bashrc"), "bashrc");
        assert_eq!(sanitize("a\u{0}b\nc"), "a_b_c");
        assert_eq!(sanitize("what?.txt"), "what_.txt");
        assert_eq!(sanitize("照片 2024.jpg"), "照片 2024.jpg");
        // A right-to-left override would show this as "invoiceexe.png".
        assert_eq!(sanitize("invoice\u{202e}gnp.exe"), "invoicegnp.exe");
        assert_eq!(sanitize("\u{2066}.bashrc\u{2069}"), "bashrc");
        let long = sanitize(&format!("{}.tar.gz", "字".repeat(10_000)));
        assert!(long.len() <= MAX_NAME_BYTES, "{}", long.len());
        assert!(long.ends_with(".gz"));
        assert!(sanitize(&"a".repeat(10_000)).len() <= MAX_NAME_BYTES);
    }

    #[test]
    fn candidates_number_before_the_extension() {
        let dir = Path::new("/d");
        let names: Vec<_> = candidates(dir, "a.txt").take(3).collect();
        assert_eq!(names, [dir.join("a.txt"), dir.join("a (1).txt"), dir.join("a (2).txt")]);
        let names: Vec<_> = candidates(dir, "README").take(2).collect();
        assert_eq!(names, [dir.join("README"), dir.join("README (1)")]);
    }
}
