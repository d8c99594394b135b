//! Tidy checks over the workspace's own files: every Rust source file opens with a `//!` doc
//! comment saying what it owns, and the docs (`README.md`, `docs/*.md`) name only repository
//! paths that exist.

use std::fs;
use std::path::{Path, PathBuf};

use vigil_test_support::tree;

/// Paths the docs may name although they are absent from a clean checkout: folders that tools
/// create (`cargo fuzz`'s corpus and artifacts).
const MAY_BE_ABSENT: &[&str] = &["fuzz/corpus", "fuzz/artifacts"];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.rs` file of the workspace, relative to the root, sorted. Generated sources live in
/// build output (`target/`), which the walk skips.
fn rust_files(root: &Path) -> Vec<PathBuf> {
    tree::files(root, &[".rs"])
        .into_iter()
        .filter_map(|p| p.strip_prefix(root).ok().map(Path::to_path_buf))
        .collect()
}

/// Whether the first non-blank line of `text` is a `//!` doc comment.
fn opens_with_module_doc(text: &str) -> bool {
    text.lines()
        .map(str::trim_start)
        .find(|l| !l.is_empty())
        .is_some_and(|l| l.starts_with("//!"))
}

#[test]
fn every_rust_file_opens_with_a_module_doc() {
    let root = workspace_root();
    let files = rust_files(&root);
    assert!(files.len() > 50, "only {} .rs files found", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = fs::read_to_string(root.join(f)).unwrap_or_default();
            !opens_with_module_doc(&text)
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "these files do not open with a `//!` comment saying what they own:\n{}",
        missing.join("\n")
    );
}

/// The repository paths named in `text`: words that start with a top-level folder of the
/// workspace (`runtime/src/ir.rs`, `tests/verify/`), `../` prefixes dropped, trailing
/// punctuation trimmed. Patterns (`*`, `{a,b}`, `<name>`) are not paths and are left out.
fn named_paths(text: &str, top_dirs: &[String]) -> Vec<String> {
    let is_path_char = |c: char| c.is_ascii_alphanumeric() || "_./-".contains(c);
    let text = text.replace("../", " ");
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find(|c: char| is_path_char(c)) {
        let word_len = rest[start..]
            .find(|c: char| !is_path_char(c))
            .unwrap_or(rest.len() - start);
        let word = &rest[start..start + word_len];
        let after = rest[start + word_len..].chars().next();
        rest = &rest[start + word_len..];
        if matches!(after, Some('*' | '{' | '<')) || word.contains("..") {
            continue;
        }
        let Some((first, _)) = word.split_once('/') else {
            continue;
        };
        if top_dirs.iter().any(|d| d == first) {
            out.push(word.trim_end_matches(['.', ',', ':', ';']).to_owned());
        }
    }
    out
}

/// A name that stands for any file: a component in capitals (`NAME.vgl`, `TARGET/`), other
/// than the conventional capitalised file names.
fn is_placeholder(path: &str) -> bool {
    path.split('/').any(|c| {
        let stem = c.split('.').next().unwrap_or(c);
        stem.len() > 1
            && stem.chars().all(|ch| ch.is_ascii_uppercase() || ch == '_')
            && !["README", "LICENSE", "CHANGELOG"].contains(&stem)
    })
}

#[test]
fn docs_name_only_files_that_exist() {
    let root = workspace_root();
    let mut top_dirs: Vec<String> = fs::read_dir(&root)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "target" && !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    top_dirs.sort();
    let mut docs = vec![root.join("README.md")];
    let mut in_docs: Vec<PathBuf> = fs::read_dir(root.join("docs"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "md"))
                .collect()
        })
        .unwrap_or_default();
    in_docs.sort();
    docs.extend(in_docs);
    assert!(docs.len() > 3, "docs not found under {}", root.display());
    let mut missing = Vec::new();
    for doc in &docs {
        let text = fs::read_to_string(doc).unwrap_or_else(|e| panic!("{}: {e}", doc.display()));
        for path in named_paths(&text, &top_dirs) {
            let trimmed = path.trim_end_matches('/');
            if root.join(trimmed).exists()
                || is_placeholder(trimmed)
                || MAY_BE_ABSENT.iter().any(|a| trimmed.starts_with(a))
            {
                continue;
            }
            let doc_name = doc.strip_prefix(&root).unwrap_or(doc).display().to_string();
            missing.push(format!("{doc_name}: `{path}` does not exist"));
        }
    }
    missing.dedup();
    assert!(
        missing.is_empty(),
        "the docs name files that do not exist (moved? update the doc):\n{}",
        missing.join("\n")
    );
}

#[test]
fn paths_are_found_in_prose_and_patterns_are_not() {
    let dirs = ["runtime".to_owned(), "tests".to_owned()];
    let text = "See `runtime/src/ir.rs`, then tests/verify/. Not runtime/tests/*.rs, \
                [x](../tests/ui/) or notruntime/x or runtime alone.";
    assert_eq!(
        named_paths(text, &dirs),
        ["runtime/src/ir.rs", "tests/verify/", "tests/ui/"]
    );
    assert!(is_placeholder("tests/sigma/NAME.yml"));
    assert!(!is_placeholder("fuzz/README.md"));
    assert!(opens_with_module_doc("\n//! Owns x.\n"));
    assert!(!opens_with_module_doc("#![no_main]\n//! late\n"));
}
