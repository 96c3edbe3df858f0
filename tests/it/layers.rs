//! The house's rule, checked: the library is built in layers (folders of `src/`), and a file
//! names (`crate::…`, `super::…`, `self::…`) only its own layer's files or a lower layer's,
//! with no loop between the files of one layer. `aws` imports nothing of dyno; `replicate` and
//! `publish` import `aws`; `ops` and `local` import those (and `local` the checkpoints of
//! `ops`); the edge (`config`) imports anything.
//!
//! The checker ([`violations`]) works on (layer, module, text) triples, so it is tried on
//! synthetic files that break the rule as well as on the real tree. A file's module is its path
//! in its layer, as the compiler sees it: `src/replicate/shape.rs` is (`replicate`, `shape`), a
//! file included with `#[path = "filter_check.rs"] mod check;` from `src/replicate/filter.rs` is
//! (`replicate`, `filter::check`), and a layer's `mod.rs` (or `src/config.rs`) is the layer
//! itself, module ``. A `super::` is resolved from that module path. Inline modules
//! (`mod tests { … }`) are not followed: a `super::` in one is read as if it were the file's own,
//! which names the file's parent instead of the file itself (the same layer, so no upward import).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each layer, and the layers it may import (besides itself).
const LAYERS: [(&str, &[&str]); 7] = [
    ("aws", &[]),
    ("replicate", &["aws"]),
    ("publish", &["aws"]),
    ("ops", &["aws", "replicate", "publish"]),
    ("regional", &["aws", "publish", "ops"]),
    ("local", &["aws", "replicate", "publish", "ops"]),
    ("config", &["aws", "replicate", "publish", "ops", "local"]),
];

/// A file of the library: its layer, its module path within the layer (`::`-separated; empty
/// for the layer's own `mod.rs`), and its text.
type File = (String, String, String);

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file of the library (not the binaries, not `lib.rs`), with its layer and module.
fn library() -> Vec<File> {
    let mut files: BTreeMap<PathBuf, (Vec<String>, String)> = BTreeMap::new();
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
                files.insert(relative.clone(), (module_path(&relative), text));
            }
        }
    }
    // A file included with `#[path = "…"] mod name;` is `name` in the including file's module
    // (which may be included that way too: until nothing changes).
    for _ in 0..files.len() {
        let mut changed = false;
        let included: Vec<(PathBuf, Vec<String>)> = files
            .iter()
            .flat_map(|(relative, (path, text))| {
                let dir = relative.parent().unwrap_or(Path::new("")).to_owned();
                path_includes(text).into_iter().map(move |(file, name)| {
                    let mut module = path.clone();
                    module.push(name);
                    (dir.join(file), module)
                })
            })
            .collect();
        for (file, module) in included {
            match files.get_mut(&file) {
                Some((path, _)) if *path != module => {
                    *path = module;
                    changed = true;
                }
                _ => {}
            }
        }
        if !changed {
            break;
        }
    }
    files
        .into_values()
        .filter(|(path, _)| !path.is_empty())
        .map(|(path, text)| (path[0].clone(), path[1..].join("::"), text))
        .collect()
}

/// A file's module path from where it is: `aws/table.rs` is `aws::table`, `aws/mod.rs` is
/// `aws`, `config.rs` is `config`, `lib.rs` is the crate itself (empty).
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The `(file, module name)` of each `#[path = "file"] mod name;` in `text`.
fn path_includes(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices("#[path = \"") {
        let rest = &text[at + "#[path = \"".len()..];
        let Some((file, after)) = rest.split_once('"') else {
            continue;
        };
        // Past `]`, any other attributes, and `pub`/`pub(crate)`: `mod name;`.
        let Some(declared) = after.split_once("mod ").map(|(_, d)| d) else {
            continue;
        };
        let name: String = declared
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.push((file.to_owned(), name));
        }
    }
    found
}

fn word(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The module paths (from the crate's root) a file at module path `at` names: `crate::a::b`,
/// and `super::…` and `self::…` resolved from `at` (each `super` one level up), as far as the
/// names go (they may end in an item: see [`node`]).
fn named(at: &[String], text: &str) -> BTreeSet<Vec<String>> {
    let mut found = BTreeSet::new();
    for start in ["crate::", "super::", "self::"] {
        for (i, _) in text.match_indices(start) {
            // The start of a path only: not `x::super::`, not `my_crate::`.
            let before = text[..i].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let mut rest = &text[i..];
            let mut path: Vec<String> = match start {
                "crate::" => {
                    rest = &rest["crate::".len()..];
                    Vec::new()
                }
                "self::" => {
                    rest = &rest["self::".len()..];
                    at.to_vec()
                }
                _ => {
                    let mut up = at.to_vec();
                    while let Some(next) = rest.strip_prefix("super::") {
                        up.pop();
                        rest = next;
                    }
                    up
                }
            };
            loop {
                let name = word(rest);
                if name.is_empty() {
                    break;
                }
                path.push(name.to_owned());
                match rest[name.len()..].strip_prefix("::") {
                    Some(next) => rest = next,
                    None => break,
                }
            }
            found.insert(path);
        }
    }
    found
}

/// The file a module path names: its layer, and the longest start of the rest that is a
/// module of `known` (else its first name: no file of the tree, or the layer's own `mod.rs`
/// when there is none).
fn node(path: &[String], known: &BTreeSet<(String, String)>) -> Option<(String, String)> {
    let (layer, rest) = path.split_first()?;
    let module = (1..=rest.len())
        .rev()
        .map(|n| rest[..n].join("::"))
        .find(|m| known.contains(&(layer.clone(), m.clone())))
        .unwrap_or_else(|| rest.first().cloned().unwrap_or_default());
    Some((layer.clone(), module))
}

/// Every breach of the rule among `files` (layer, module, text): an import of a layer that is
/// not below (`layer/module imports other`), and each file of a loop between the files of one
/// layer (`import loop through layer/module`).
fn violations(files: &[File]) -> Vec<String> {
    let allowed: BTreeMap<&str, &[&str]> = LAYERS.into_iter().collect();
    let known: BTreeSet<(String, String)> = files
        .iter()
        .map(|(layer, module, _)| (layer.clone(), module.clone()))
        .collect();
    let mut found = Vec::new();
    let mut edges: BTreeMap<(String, String), BTreeSet<(String, String)>> = BTreeMap::new();
    for (layer, module, text) in files {
        let may = allowed
            .get(layer.as_str())
            .unwrap_or_else(|| panic!("src/{layer} is no layer of LAYERS: add it"));
        let mut at = vec![layer.clone()];
        at.extend(
            module
                .split("::")
                .filter(|m| !m.is_empty())
                .map(str::to_owned),
        );
        let mut targets = BTreeSet::new();
        for (other, other_module) in named(&at, text).iter().filter_map(|p| node(p, &known)) {
            if other != *layer && !may.contains(&other.as_str()) {
                let line = format!("{layer}/{module} imports {other}");
                if !found.contains(&line) {
                    found.push(line);
                }
            }
            if other == *layer && other_module != *module && !other_module.is_empty() {
                targets.insert((other, other_module));
            }
        }
        edges.insert((layer.clone(), module.clone()), targets);
    }
    for start in edges.keys() {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&(String, String)> = edges[start].iter().collect();
        while let Some(next) = todo.pop() {
            if next == start {
                found.push(format!("import loop through {}/{}", start.0, start.1));
                break;
            }
            if seen.insert(next) {
                todo.extend(edges.get(next).into_iter().flatten());
            }
        }
    }
    found
}

#[test]
fn imports_only_point_down_with_no_loop() {
    let files = library();
    // The tree is read as the compiler sees it: layers, files, and `#[path]` modules.
    let modules: BTreeSet<(&str, &str)> = files
        .iter()
        .map(|(l, m, _)| (l.as_str(), m.as_str()))
        .collect();
    for expected in [
        ("aws", ""),
        ("aws", "table"),
        ("config", ""),
        ("ops", "diff::tests"),
        ("replicate", "filter::check"),
        ("replicate", "filter::check::tests"),
    ] {
        assert!(modules.contains(&expected), "{expected:?}: {modules:?}");
    }
    let found = violations(&files);
    assert!(found.is_empty(), "the rule is broken: {found:#?}");
}

fn file(layer: &str, module: &str, text: &str) -> File {
    (layer.to_owned(), module.to_owned(), text.to_owned())
}

#[test]
fn the_checker_reports_every_kind_of_breach() {
    // Upward, spelled `crate::`.
    let upward = [file("aws", "table", "use crate::ops::diff::compare;")];
    // A loop of two files of one layer, spelled `crate::`.
    let crate_loop = [
        file("publish", "a", "use crate::publish::b::B;"),
        file("publish", "b", "fn f() { crate::publish::a::g() }"),
    ];
    // Upward, spelled `super::super::` (from aws/key: aws, then the crate), and from a `#[path]`
    // module three levels down (replicate::filter::check), `super::super::super::`.
    let super_upward = [
        file("aws", "key", "use super::super::replicate::shape::Shape;"),
        file(
            "replicate",
            "filter::check",
            "use super::super::super::ops::plan::Plan;",
        ),
    ];
    // Loops spelled `super::`: ops/c and ops/d name each other that way; local/runner names
    // local/stop that way, which names it back with `crate::`.
    let super_loops = [
        file("ops", "c", "use super::d::D;"),
        file("ops", "d", "use super::c::C;\nfn f() { super::c::g() }"),
        file("local", "runner", "use super::stop::Stop;"),
        file("local", "stop", "use crate::local::runner::x;"),
    ];
    // No breach: downward and sideways imports, a layer's `mod.rs` re-exporting its file, a
    // `#[path]` module naming its parent, a `super::*`, names that only end in `crate::` or
    // `super::`.
    let clean = [
        file(
            "replicate",
            "shape",
            "use crate::aws::key::Key;\nuse super::super::aws::table::Table;\nuse super::filter::F;",
        ),
        file("replicate", "filter", "mod check; use self::check::x;"),
        file(
            "replicate",
            "filter::check::tests",
            "use super::*; use super::depth;",
        ),
        file("local", "", "pub use self::runner::Runner;"),
        file(
            "config",
            "",
            "use crate::local::runner::Runner; my_crate::x; a::super::b;",
        ),
    ];
    assert_eq!(violations(&clean), Vec::<String>::new());
    let with = |breach: &[File]| violations(&[breach, &clean[..]].concat());
    assert_eq!(with(&upward), ["aws/table imports ops"]);
    assert_eq!(
        with(&crate_loop),
        [
            "import loop through publish/a",
            "import loop through publish/b"
        ]
    );
    assert_eq!(
        with(&super_upward),
        [
            "aws/key imports replicate",
            "replicate/filter::check imports ops"
        ]
    );
    assert_eq!(
        with(&super_loops),
        [
            "import loop through local/runner",
            "import loop through local/stop",
            "import loop through ops/c",
            "import loop through ops/d",
        ]
    );
    // Without its way back, a chain is no loop.
    assert_eq!(with(&super_loops[..1]), Vec::<String>::new());
    assert_eq!(with(&super_loops[2..3]), Vec::<String>::new());
}

#[test]
fn super_is_resolved_from_the_files_module_path() {
    let at = |p: &str| p.split("::").map(str::to_owned).collect::<Vec<_>>();
    let names = |at: &[String], text: &str| -> Vec<String> {
        named(at, text).into_iter().map(|p| p.join("::")).collect()
    };
    // src/replicate/x.rs: `super::y` is replicate::y; `super::super::aws::z` is aws::z.
    assert_eq!(
        names(&at("replicate::x"), "use super::y;"),
        ["replicate::y"]
    );
    assert_eq!(
        names(&at("replicate::x"), "use super::super::aws::z::Z;"),
        ["aws::z::Z"]
    );
    // From a layer's mod.rs, `super::` is the crate and `self::` the layer.
    assert_eq!(names(&at("replicate"), "use super::aws::z;"), ["aws::z"]);
    assert_eq!(
        names(&at("replicate"), "use self::y::Y;"),
        ["replicate::y::Y"]
    );
    // A group names the module it is in.
    assert_eq!(
        names(&at("replicate::filter::check"), "use super::{A, b};"),
        ["replicate::filter"]
    );
    let known = BTreeSet::from([
        ("replicate".to_owned(), "filter".to_owned()),
        ("replicate".to_owned(), "filter::check".to_owned()),
    ]);
    let file = |p: &str| node(&at(p), &known);
    let pair = |l: &str, m: &str| Some((l.to_owned(), m.to_owned()));
    assert_eq!(
        file("replicate::filter::check::depth"),
        pair("replicate", "filter::check")
    );
    assert_eq!(
        file("replicate::filter::Filter"),
        pair("replicate", "filter")
    );
    assert_eq!(file("replicate::shape::Shape"), pair("replicate", "shape"));
    assert_eq!(file("replicate"), pair("replicate", ""));
}
