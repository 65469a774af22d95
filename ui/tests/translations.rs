//! The Simplified Chinese translation covers every `@tr` text under the context Slint looks it
//! up by (the name of the component the text is written in), so moving a text to another
//! component or file cannot silently fall back to English. Plain file reading, no window.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const PO: &str = "lang/zh_CN/LC_MESSAGES/quicq-ui.po";

fn slint_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            slint_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "slint") {
            out.push(path);
        }
    }
}

/// The quoted string at the start of `s` (after its opening quote), unescaped.
fn quoted(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return out,
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => break,
            },
            c => out.push(c),
        }
    }
    panic!("unterminated string: {s}");
}

/// (component, text) for every `@tr("…")` in the `.slint` files.
fn texts_in_slint() -> BTreeSet<(String, String)> {
    let mut files = Vec::new();
    slint_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("ui"), &mut files);
    assert!(files.len() > 1, "found the .slint files");
    let mut texts = BTreeSet::new();
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        let mut component = String::new();
        for line in source.lines() {
            let declared = line.strip_prefix("export ").unwrap_or(line);
            if let Some(rest) = declared.strip_prefix("component ") {
                component = rest.split_whitespace().next().unwrap().to_owned();
            }
            for (at, _) in line.match_indices("@tr(\"") {
                assert!(!component.is_empty(), "{}: @tr outside a component", file.display());
                texts.insert((component.clone(), quoted(&line[at + 5..])));
            }
        }
    }
    texts
}

/// (context, text) → translation, from the `.po` file's single-line entries.
fn po_entries() -> BTreeMap<(String, String), String> {
    let po = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(PO)).unwrap();
    let (mut context, mut id) = (String::new(), None);
    let mut entries = BTreeMap::new();
    for line in po.lines() {
        if let Some(rest) = line.strip_prefix("msgctxt \"") {
            context = quoted(rest);
        } else if let Some(rest) = line.strip_prefix("msgid \"") {
            id = Some(quoted(rest));
        } else if let Some(rest) = line.strip_prefix("msgstr \"") {
            let id = id.take().unwrap();
            if !id.is_empty() {
                entries.insert((std::mem::take(&mut context), id), quoted(rest));
            }
        }
    }
    entries
}

#[test]
fn chinese_translates_every_text_in_the_context_slint_uses() {
    let texts = texts_in_slint();
    let po = po_entries();
    let missing: Vec<_> =
        texts.iter().filter(|k| po.get(*k).is_none_or(|t| t.is_empty())).collect();
    assert!(missing.is_empty(), "untranslated (component, text): {missing:#?}");
    let stale: Vec<_> = po.keys().filter(|k| !texts.contains(*k)).collect();
    assert!(stale.is_empty(), "translations no .slint text uses: {stale:#?}");
    for ((context, id), translation) in &po {
        assert_eq!(
            id.matches("{}").count(),
            translation.matches("{}").count(),
            "{context}: {id:?} keeps its placeholders"
        );
    }
}
