//! The workspace's conventions, checked mechanically (issue 17): no source file over 600
//! lines, modules as `foo.rs` + `foo/` (no `mod.rs`), and no import cycle between sibling
//! modules of a crate — at any depth: a module that uses a sibling (`crate::a::...` or
//! `super::a::...` from inside `b`) depends on it, and no two siblings may depend on each
//! other, directly or through others. Test modules (`#[cfg(test)] mod ...` and `tests.rs`)
//! are left out: a test may use its siblings to build fixtures.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 600;

/// Every crate of the workspace.
const CRATES: &[&str] = &[
    "proto",
    "tsdb",
    "agent",
    "broker",
    "sub-manager",
    "super-manager",
    "web",
    "testkit",
    "bench",
    "cli",
    "tests",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn crate_files(name: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for sub in ["src", "tests", "benches"] {
        rust_files(&root().join(name).join(sub), &mut files);
    }
    files.sort();
    files
}

#[test]
fn no_source_file_passes_600_lines_and_no_mod_rs() {
    let mut problems = Vec::new();
    for name in CRATES {
        for f in crate_files(name) {
            let text = std::fs::read_to_string(&f).unwrap();
            let lines = text.lines().count();
            let shown = f.strip_prefix(root()).unwrap_or(&f).display().to_string();
            if lines > MAX_LINES {
                problems.push(format!("{shown}: {lines} lines (at most {MAX_LINES})"));
            }
            if f.file_name().is_some_and(|n| n == "mod.rs") {
                problems.push(format!("{shown}: a mod.rs (use foo.rs beside foo/)"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A module's path from its file (`src/a/b.rs` is `a::b`; `lib.rs` and `main.rs` the root).
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
        parts.clear();
    }
    parts
}

/// The text of a file without comments and without its test modules.
fn production_text(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        out.push_str(code);
        out.push('\n');
    }
    // an inline test module runs to the end of the file, by the workspace's habit
    let mut cut = out.len();
    for marker in ["#[cfg(test)]\nmod ", "#[cfg(test)]\npub mod "] {
        if let Some(at) = out.find(marker) {
            let rest = &out[at + marker.len()..];
            let is_inline = rest
                .split_whitespace()
                .nth(1)
                .is_some_and(|t| t.starts_with('{'));
            if is_inline {
                cut = cut.min(at);
            }
        }
    }
    out.truncate(cut);
    out
}

/// Expands a `use` tree (`a::{b, c::d}`) into its paths.
fn expand(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{')
        && tree.ends_with('}')
    {
        let mut head: Vec<String> = prefix.to_vec();
        head.extend(
            tree[..open]
                .split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from),
        );
        let inner = &tree[open + 1..tree.len() - 1];
        let (mut depth, mut start) = (0, 0);
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&head, &inner[start..i], out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand(&head, &inner[start..], out);
        return;
    }
    let path = tree.split(" as ").next().unwrap_or("");
    let mut p = prefix.to_vec();
    p.extend(
        path.split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from),
    );
    if !p.is_empty() {
        out.push(p);
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every `crate::`, `super::` or `self::` path the text names, resolved from module `me`.
fn references(text: &str, me: &[String]) -> Vec<Vec<String>> {
    let mut raw = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        rest = &rest[at + 4..];
        if before.is_some_and(is_ident) {
            continue;
        }
        let Some(end) = rest.find(';') else { break };
        let tree = &rest[..end];
        let t = tree.trim_start();
        if t.starts_with("crate::") || t.starts_with("super::") || t.starts_with("self::") {
            expand(&[], t, &mut raw);
        }
    }
    for root in ["crate::", "super::"] {
        let mut rest = text;
        while let Some(at) = rest.find(root) {
            let before = rest[..at].chars().last();
            let tail = &rest[at..];
            rest = &rest[at + root.len()..];
            if before.is_some_and(|c| is_ident(c) || c == ':') {
                continue;
            }
            let end = tail
                .find(|c: char| !(is_ident(c) || c == ':'))
                .unwrap_or(tail.len());
            expand(&[], &tail[..end], &mut raw);
        }
    }
    raw.into_iter()
        .map(|p| {
            if p[0] == "crate" {
                return p[1..].to_vec();
            }
            let mut at = me.to_vec();
            let mut i = 0;
            while i < p.len() && (p[i] == "super" || p[i] == "self") {
                if p[i] == "super" {
                    at.pop();
                }
                i += 1;
            }
            at.extend_from_slice(&p[i..]);
            at
        })
        .collect()
}

/// The sibling dependencies of a crate's library or binary: (from, to) module paths.
fn sibling_edges(src: &Path) -> BTreeSet<(Vec<String>, Vec<String>)> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .map(|f| (module_path(src, f), f.clone()))
        .collect();
    let mut edges = BTreeSet::new();
    for (me, file) in &modules {
        if me.last().is_some_and(|m| m == "tests") || me.first().is_some_and(|m| m == "bin") {
            continue;
        }
        let text = production_text(&std::fs::read_to_string(file).unwrap());
        for r in references(&text, me) {
            // the first level at which `me` and `r` part: siblings there
            for depth in 1..=me.len().min(r.len()) {
                if me[..depth - 1] == r[..depth - 1] && me[depth - 1] != r[depth - 1] {
                    let target = r[..depth].to_vec();
                    if modules.contains_key(&target) {
                        edges.insert((me[..depth].to_vec(), target));
                    }
                    break;
                }
            }
        }
    }
    edges
}

/// Groups of modules that depend on each other (strongly connected, more than one).
fn cycles(edges: &BTreeSet<(Vec<String>, Vec<String>)>) -> Vec<Vec<String>> {
    let nodes: BTreeSet<&Vec<String>> = edges.iter().flat_map(|(a, b)| [a, b]).collect();
    let reach = |from: &Vec<String>| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(n) = todo.pop() {
            for (a, b) in edges {
                if *a == n && seen.insert(b.clone()) {
                    todo.push(b.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&Vec<String>, BTreeSet<Vec<String>>> =
        nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut groups: BTreeSet<Vec<String>> = BTreeSet::new();
    for n in &nodes {
        let group: Vec<String> = nodes
            .iter()
            .filter(|m| reachable[*n].contains(**m) && reachable[**m].contains(*n))
            .map(|m| m.join("::"))
            .collect();
        if group.len() > 1 {
            groups.insert(group);
        }
    }
    groups.into_iter().collect()
}

#[test]
fn no_sibling_modules_import_each_other() {
    let mut problems = Vec::new();
    for name in CRATES {
        let src = root().join(name).join("src");
        let edges = sibling_edges(&src);
        for group in cycles(&edges) {
            let inside: Vec<String> = edges
                .iter()
                .filter(|(a, b)| group.contains(&a.join("::")) && group.contains(&b.join("::")))
                .map(|(a, b)| format!("{} -> {}", a.join("::"), b.join("::")))
                .collect();
            problems.push(format!("{name}: {group:?}: {}", inside.join(", ")));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::write(src.join("lib.rs"), "mod a;\nmod b;\nmod c;\n").unwrap();
    std::fs::write(src.join("a.rs"), "use crate::b::{Thing, other::X};\n").unwrap();
    std::fs::write(src.join("b.rs"), "pub fn f() { super::a::g() }\n").unwrap();
    std::fs::write(
        src.join("c.rs"),
        "use crate::a::G;\n#[cfg(test)]\nmod tests {\n    use crate::c::X;\n}\n",
    )
    .unwrap();
    let edges = sibling_edges(src);
    assert_eq!(cycles(&edges), vec![vec!["a".to_string(), "b".to_string()]]);
}
