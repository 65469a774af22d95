//! The source tree keeps the shape docs and reviews rely on: inside each crate no module imports
//! one that imports it back (directly or round a longer loop), and `quicq-common` knows nothing
//! of the server or the client.
//!
//! A module "imports" another when its non-test code names it by a `crate::` path or declares it
//! with `mod`. That is a source-level reading, not the compiler's, which is what a reader of the
//! code sees.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Module path (`["files", "rules"]`) → source file, for every `.rs` under `src` except
/// binaries.
fn modules(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("source directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "bin") {
                    dirs.push(path);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).expect("under src").with_extension("");
            let mut parts: Vec<String> =
                rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if parts == ["lib"] || parts == ["main"] {
                parts.clear();
            }
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            out.insert(parts, path);
        }
    }
    out
}

/// The code of a file without its `#[cfg(test)] mod tests { … }` (always last in this tree)
/// and without comments.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("readable source");
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => &text,
    };
    text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// Identifier-ish words following `prefix` in `text`, split on `::`.
fn paths_after<'a>(text: &'a str, prefix: &str) -> Vec<Vec<&'a str>> {
    text.match_indices(prefix)
        .map(|(at, _)| {
            let rest = &text[at + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            rest[..end].split("::").filter(|s| !s.is_empty()).collect()
        })
        .collect()
}

/// file → files it imports.
fn imports(src: &Path) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let mods = modules(src);
    let mut graph = BTreeMap::new();
    for (name, file) in &mods {
        let text = code(file);
        let mut deps = BTreeSet::new();
        for path in paths_after(&text, "crate::") {
            // The longest prefix of the path that is a module is the file it reaches.
            let found = (1..=path.len()).rev().find_map(|n| {
                let key: Vec<String> = path[..n].iter().map(|s| s.to_string()).collect();
                mods.get(&key)
            });
            deps.extend(found.cloned());
        }
        for line in text.lines() {
            let line =
                line.trim_start().trim_start_matches("pub ").trim_start_matches("pub(crate) ");
            if let Some(child) = line.strip_prefix("mod ").and_then(|l| l.strip_suffix(';')) {
                let mut key = name.clone();
                key.push(child.trim().to_owned());
                deps.extend(mods.get(&key).cloned());
            }
        }
        deps.remove(file);
        graph.insert(file.clone(), deps);
    }
    graph
}

/// Some loop in the graph, if there is one.
fn find_loop(graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Option<Vec<PathBuf>> {
    fn visit(
        node: &PathBuf,
        graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        stack: &mut Vec<PathBuf>,
        done: &mut BTreeSet<PathBuf>,
    ) -> Option<Vec<PathBuf>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut found = stack[at..].to_vec();
            found.push(node.clone());
            return Some(found);
        }
        if !done.insert(node.clone()) {
            return None;
        }
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, stack, done) {
                return Some(found);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|start| visit(start, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_crate_has_an_import_loop() {
    for krate in ["common", "server", "client", "ui", "impair"] {
        let src = root().join(krate).join("src");
        let graph = imports(&src);
        assert!(graph.len() > 3, "{krate}: found only {} modules", graph.len());
        if let Some(found) = find_loop(&graph) {
            let names: Vec<_> = found
                .iter()
                .map(|p| p.strip_prefix(&src).unwrap_or(p).display().to_string())
                .collect();
            panic!("{krate} has an import loop: {}", names.join(" -> "));
        }
    }
}

#[test]
fn the_loop_finder_finds_loops() {
    let p = |s: &str| PathBuf::from(s);
    let mut graph = BTreeMap::new();
    graph.insert(p("a"), BTreeSet::from([p("b")]));
    graph.insert(p("b"), BTreeSet::from([p("c")]));
    graph.insert(p("c"), BTreeSet::new());
    assert_eq!(find_loop(&graph), None);
    graph.insert(p("c"), BTreeSet::from([p("a")]));
    assert_eq!(find_loop(&graph), Some(vec![p("a"), p("b"), p("c"), p("a")]));
}

#[test]
fn common_knows_nothing_of_server_or_client() {
    for file in modules(&root().join("common").join("src")).values() {
        let text = code(file);
        for other in ["quicq_server", "quicq_client", "quicq_ui"] {
            assert!(!text.contains(other), "{} mentions {other}", file.display());
        }
    }
    let manifest =
        std::fs::read_to_string(root().join("common").join("Cargo.toml")).expect("manifest");
    for other in ["quicq-server", "quicq-client", "quicq-ui"] {
        assert!(!manifest.contains(other), "common depends on {other}");
    }
}
