//! The house's rule, checked: the library is built in layers (folders of `src/`), and a file
//! names (`crate::…`) only its own layer's files or a lower layer's, with no loop between the
//! files of one layer. `aws` imports nothing of dyno; `replicate` and `publish` import `aws`;
//! `ops` and `local` import those (and `local` the checkpoints of `ops`); the edge (`config`)
//! imports anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each layer, and the layers it may import (besides itself).
const LAYERS: [(&str, &[&str]); 6] = [
    ("aws", &[]),
    ("replicate", &["aws"]),
    ("publish", &["aws"]),
    ("ops", &["aws", "replicate", "publish"]),
    ("local", &["aws", "replicate", "publish", "ops"]),
    ("config", &["aws", "replicate", "publish", "ops", "local"]),
];

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file of the library (not the binaries), with its layer and module name.
fn library() -> Vec<(String, String, String)> {
    let mut files = Vec::new();
    let mut visit = vec![src()];
    while let Some(dir) = visit.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(src()).unwrap().to_owned();
            if relative.starts_with("bin") {
                continue;
            }
            if path.is_dir() {
                visit.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let (layer, module) = place(&relative);
                files.push((layer, module, text));
            }
        }
    }
    files
}

/// `aws/table.rs` is (`aws`, `table`); `config.rs` is (`config`, `config`).
fn place(relative: &Path) -> (String, String) {
    let parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    match parts.as_slice() {
        [file] => (file.clone(), file.clone()),
        [layer, file, ..] => (layer.clone(), file.clone()),
        [] => unreachable!("a file has a name"),
    }
}

/// The (layer, module) pairs a file names through `crate::layer::module`, and the layers it
/// names through `crate::layer` alone.
fn named(text: &str) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        let word = |s: &str| -> String {
            s.chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        };
        let layer = word(rest);
        let after = &rest[layer.len()..];
        let module = after.strip_prefix("::").map(word).unwrap_or_default();
        found.insert((layer, module));
    }
    found
}

#[test]
fn imports_only_point_down() {
    let allowed: BTreeMap<&str, &[&str]> = LAYERS.into_iter().collect();
    let mut upward = Vec::new();
    for (layer, module, text) in library() {
        if layer == "lib" {
            continue;
        }
        let may = allowed
            .get(layer.as_str())
            .unwrap_or_else(|| panic!("src/{layer} is no layer of LAYERS: add it"));
        for (other, _) in named(&text) {
            if other != layer && !may.contains(&other.as_str()) {
                upward.push(format!("{layer}/{module} imports {other}"));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that do not point down: {upward:#?}"
    );
}

#[test]
fn no_loop_between_the_files_of_a_layer() {
    let files = library();
    let mut edges: BTreeMap<(String, String), BTreeSet<(String, String)>> = BTreeMap::new();
    for (layer, module, text) in &files {
        let targets = named(text)
            .into_iter()
            .filter(|(l, m)| l == layer && m != module && !m.is_empty())
            .collect();
        edges.insert((layer.clone(), module.clone()), targets);
    }
    for start in edges.keys() {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&(String, String)> = edges[start].iter().collect();
        while let Some(next) = todo.pop() {
            assert_ne!(next, start, "an import loop through {start:?}");
            if seen.insert(next) {
                todo.extend(edges.get(next).into_iter().flatten());
            }
        }
    }
}

#[test]
fn the_rule_catches_an_upward_import() {
    // The checker itself: a lower layer naming a higher one is found.
    let text = "use crate::ops::diff::compare;\nfn f() { crate::aws::table::x(); }";
    let named = named(text);
    assert!(named.contains(&("ops".to_owned(), "diff".to_owned())));
    assert!(named.contains(&("aws".to_owned(), "table".to_owned())));
    let allowed: BTreeMap<&str, &[&str]> = LAYERS.into_iter().collect();
    assert!(!allowed["aws"].contains(&"ops"));
}
