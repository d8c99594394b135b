//! The module graph has no cycles: in every crate of the workspace (each folder with a
//! `Cargo.toml` and a `src/`), no two top-level modules of `src/` reach each other through
//! `crate::` paths. A Rust port of `module-cycles.py`, the quick check in the shared tools:
//!
//! - an edge `a -> b` is a `crate::b` path in a file of module `a` (comments stripped), or a
//!   `crate::Name` / `use crate::{Name, ...}` where `Name` is re-exported at the crate root
//!   from module `b` (`pub use b::...::Name;` in `lib.rs` or `main.rs`);
//! - test-only code is left out: files named `tests.rs` or under a `tests/` folder, files that
//!   open with `#![cfg(test)]`, and everything from the first `#[cfg(test)] mod tests` on.
//!
//! A cycle is reported as its strongly connected component: `runtime/src: alert, engine`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use regex_automata::meta::Regex;
use vigil_test_support::tree;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `src/` of every crate: folders holding a `Cargo.toml` and a `src/`, as paths relative to the
/// workspace root, sorted.
fn crate_sources(root: &Path) -> Vec<String> {
    tree::files(root, &["Cargo.toml"])
        .into_iter()
        .filter_map(|manifest| {
            let src = manifest.parent()?.join("src");
            let rel = src
                .strip_prefix(root)
                .ok()?
                .to_string_lossy()
                .replace('\\', "/");
            src.is_dir().then_some(rel)
        })
        .collect()
}

/// Every `.rs` file under `dir`, as (path relative to `dir` by component, full path).
fn rust_files(dir: &Path) -> Vec<(Vec<String>, PathBuf)> {
    tree::files(dir, &[".rs"])
        .into_iter()
        .filter_map(|path| {
            let parts = path
                .strip_prefix(dir)
                .ok()?
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            Some((parts, path))
        })
        .collect()
}

/// The patterns of the check, compiled once per run.
struct Patterns {
    line_comment: Regex,
    block_comment: Regex,
    reexport: Regex,
    ident: Regex,
    cfg_test_file: Regex,
    cfg_test_mod: Regex,
    crate_module: Regex,
    crate_name: Regex,
    use_group: Regex,
    group_module: Regex,
    group_name: Regex,
}

impl Patterns {
    fn new() -> Patterns {
        let re = |p: &str| Regex::new(p).unwrap_or_else(|e| panic!("pattern {p}: {e}"));
        Patterns {
            line_comment: re(r"//[^\n]*"),
            block_comment: re(r"(?s)/\*.*?\*/"),
            reexport: re(
                r"pub\s+use\s+(?:self::|crate::)?([a-z_][a-z0-9_]*)::(?:[a-z_0-9]+::)*\{?([^;]*?)\}?;",
            ),
            ident: re(r"([A-Za-z_][A-Za-z0-9_]*)"),
            cfg_test_file: re(r"\A\s*(//[^\n]*\n\s*)*#!\[cfg\(test\)\]"),
            cfg_test_mod: re(r"#\[cfg\(test\)\]\s*mod\s+tests"),
            crate_module: re(r"\bcrate::([a-z_][a-z0-9_]*)"),
            crate_name: re(r"\bcrate::([A-Z][A-Za-z0-9_]*)"),
            use_group: re(r"use\s+crate::\{([^}]*)\}"),
            group_module: re(r"(?:^|,)\s*([a-z_][a-z0-9_]*)"),
            group_name: re(r"(?:^|,)\s*([A-Z][A-Za-z0-9_]*)"),
        }
    }
}

/// `text` without the matches of `re`.
fn strip(re: &Regex, text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for m in re.find_iter(text) {
        out.push_str(&text[at..m.start()]);
        at = m.end();
    }
    out.push_str(&text[at..]);
    out
}

/// The text of capture group `group` of every match of `re` in `text`.
fn groups<'t>(re: &Regex, text: &'t str, group: usize) -> Vec<&'t str> {
    re.captures_iter(text)
        .filter_map(|c| c.get_group(group).map(|s| &text[s.range()]))
        .collect()
}

/// The module graph of one crate's `src/`: top-level module -> modules it refers to.
fn graph(src: &Path, pat: &Patterns) -> BTreeMap<String, BTreeSet<String>> {
    let mut reexport: BTreeMap<String, String> = BTreeMap::new();
    for root_file in ["lib.rs", "main.rs"] {
        let Ok(text) = fs::read_to_string(src.join(root_file)) else {
            continue;
        };
        let text = strip(&pat.line_comment, &text);
        for c in pat.reexport.captures_iter(&text) {
            let (Some(module), Some(names)) = (c.get_group(1), c.get_group(2)) else {
                continue;
            };
            for name in groups(&pat.ident, &text[names.range()], 1) {
                reexport.insert(name.to_owned(), text[module.range()].to_owned());
            }
        }
    }
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (parts, path) in rust_files(src) {
        let Some(file) = parts.last() else {
            continue;
        };
        let dirs = &parts[..parts.len() - 1];
        if file == "tests.rs" || dirs.iter().any(|d| d == "tests") {
            continue;
        }
        let top = match parts.as_slice() {
            [only] => only.trim_end_matches(".rs").to_owned(),
            [first, ..] => first.clone(),
            [] => continue,
        };
        if top == "lib" || top == "main" {
            continue;
        }
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        if pat.cfg_test_file.is_match(&text) {
            continue;
        }
        let text = strip(&pat.line_comment, &text);
        let mut text = strip(&pat.block_comment, &text);
        // Tests may reach anywhere: drop the `#[cfg(test)] mod tests` and what follows.
        if let Some(m) = pat.cfg_test_mod.find(&text) {
            text.truncate(m.start());
        }
        let via_root = |name: &str| reexport.get(name).cloned();
        let mut refs: BTreeSet<String> = groups(&pat.crate_module, &text, 1)
            .into_iter()
            .map(str::to_owned)
            .collect();
        refs.extend(
            groups(&pat.crate_name, &text, 1)
                .into_iter()
                .filter_map(via_root),
        );
        for group in groups(&pat.use_group, &text, 1) {
            refs.extend(
                groups(&pat.group_module, group, 1)
                    .into_iter()
                    .map(str::to_owned),
            );
            refs.extend(
                groups(&pat.group_name, group, 1)
                    .into_iter()
                    .filter_map(via_root),
            );
        }
        refs.remove(&top);
        edges.entry(top).or_default().extend(refs);
    }
    edges
}

/// The strongly connected components of more than one module (Tarjan, iterative), each
/// sorted, in the order of their smallest module.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let mut nodes: BTreeSet<&str> = edges.keys().map(String::as_str).collect();
    nodes.extend(edges.values().flatten().map(String::as_str));
    let nodes: Vec<&str> = nodes.into_iter().collect();
    let id = |n: &str| nodes.binary_search(&n).ok();
    let succ: Vec<Vec<usize>> = nodes
        .iter()
        .map(|n| {
            edges
                .get(*n)
                .map(|s| s.iter().filter_map(|m| id(m)).collect())
                .unwrap_or_default()
        })
        .collect();
    let n = nodes.len();
    let (mut index, mut low) = (vec![usize::MAX; n], vec![0; n]);
    let (mut on_stack, mut stack) = (vec![false; n], Vec::new());
    let mut next = 0;
    let mut out = Vec::new();
    for start in 0..n {
        if index[start] != usize::MAX {
            continue;
        }
        // (node, position in its successor list)
        let mut work = vec![(start, 0usize)];
        while let Some(&mut (v, ref mut i)) = work.last_mut() {
            if *i == 0 && index[v] == usize::MAX {
                index[v] = next;
                low[v] = next;
                next += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&w) = succ[v].get(*i) {
                *i += 1;
                if index[w] == usize::MAX {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(nodes[w].to_owned());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    out.push(component);
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn no_cycles_between_top_level_modules() {
    let root = workspace_root();
    let pat = Patterns::new();
    let sources = crate_sources(&root);
    assert!(
        sources.iter().any(|s| s == "runtime/src"),
        "no crates found under {}: {sources:?}",
        root.display()
    );
    let mut found = Vec::new();
    for src in &sources {
        for cycle in cycles(&graph(&root.join(src), &pat)) {
            found.push(format!("{src}: cycle among {}", cycle.join(", ")));
        }
    }
    assert!(
        found.is_empty(),
        "module cycles (move what both sides need into a leaf module):\n{}",
        found.join("\n")
    );
}

#[test]
fn a_cycle_through_a_root_reexport_is_found_and_tests_are_not_counted() {
    let dir = std::env::temp_dir().join(format!("vigil-cycles-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("c")).expect("temp dir");
    let write = |name: &str, text: &str| fs::write(dir.join(name), text).expect("write");
    write("lib.rs", "mod a;\nmod b;\nmod c;\npub use b::Thing;\n");
    // `a` reaches `c` only from its tests, and `c` reaches `a`: no cycle through `c`.
    write(
        "a.rs",
        "use crate::Thing;\n#[cfg(test)]\nmod tests { use crate::c::x; }\n",
    );
    write("b.rs", "pub struct Thing;\nfn f() { crate::a::g() }\n");
    write("c/mod.rs", "use crate::a;\n");
    // Test-only files: no edges at all.
    write("c/tests.rs", "use crate::b;\n");
    write("d.rs", "// d\n#![cfg(test)]\nuse crate::a;\n");
    let edges = graph(&dir, &Patterns::new());
    let _ = fs::remove_dir_all(&dir);
    assert_eq!(cycles(&edges), vec![vec!["a".to_owned(), "b".to_owned()]]);
    assert_eq!(edges.get("c"), Some(&BTreeSet::from(["a".to_owned()])));
    assert!(!edges.contains_key("d"));
}
