//! The formatter (`vigil fmt`, `vigil_compiler::fmt`), data-driven and over everything there is:
//!
//! - `tests/fmt/NAME.vgl` is formatted and compared with `NAME.out.vgl` (`VIGIL_BLESS=1`
//!   rewrites it; an `.out.vgl` without its input fails); the output must format to itself.
//! - every `.vgl` file of the repository (outside `target/` and hidden folders) that parses is
//!   formatted and must keep its meaning: the IR hash of the program it compiles to (with the
//!   standard library, alone) is unchanged, or, for a file that does not compile alone (it uses
//!   another file's lists, or is an error case), its syntax tree with spans erased is; the
//!   output formats to itself; every comment comes out as often as it went in. Files that do not
//!   parse (the syntax-error cases) are counted and skipped.
//! - the SigmaHQ trees of the importer's corpus test, converted, then formatted: each output
//!   formats to itself, and the converted set compiles to the same IR hash before and after.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use vigil_compiler::fmt::format_source;
use vigil_compiler::sigma::{self, InputFile, Options};
use vigil_compiler::{Options as CompileOptions, Sources};
use vigil_grammar::span::FileId;
use vigil_runtime::budget::Budget;
use vigil_runtime::hash::{program_hash, to_hex};
use vigil_runtime::schema::Schema;
use vigil_test_support::golden::Golden;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The canonical hash of what `texts` compile to with the standard library, or `None` when
/// they do not compile.
fn ir_hash(texts: &[(String, &str)]) -> Option<String> {
    let mut sources = Sources::with_stdlib();
    for (name, text) in texts {
        sources.add(name.clone(), text.as_bytes().to_vec());
    }
    let compiled = vigil_compiler::compile::compile(
        &sources,
        &Schema::endpoint(),
        &CompileOptions::default(),
        &Budget::default(),
    )
    .ok()?;
    Some(to_hex(&program_hash(compiled.verified.program())))
}

/// The syntax tree of `text` with everything layout decides erased: spans, whether a name was
/// backticked, how a string was quoted.
fn erased_tree(text: &str) -> String {
    let (file, _) = vigil_grammar::parse(FileId(0), text);
    let dump = format!("{file:?}");
    let mut out = String::with_capacity(dump.len());
    let mut rest = dump.as_str();
    'scan: while !rest.is_empty() {
        for key in [
            "start: ",
            "end: ",
            "content_offset: ",
            "quoted: ",
            "verbatim: ",
        ] {
            if let Some(after) = rest.strip_prefix(key) {
                out.push_str(key);
                out.push('_');
                let value_len = after
                    .find(|c: char| !c.is_ascii_alphanumeric())
                    .unwrap_or(after.len());
                rest = &after[value_len..];
                continue 'scan;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The comments of `text`, each with how often it occurs.
fn comment_counts(text: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for c in vigil_grammar::comments(FileId(0), text) {
        *counts.entry(c.text).or_insert(0) += 1;
    }
    counts
}

fn walk_vgl(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if p.is_dir() {
            walk_vgl(&p, out);
        } else if name.ends_with(".vgl") {
            out.push(p);
        }
    }
}

#[test]
fn fmt_cases_match_expected_output() {
    let dir = repo().join("tests/fmt");
    let mut suite = Golden::new(&dir, ".vgl");
    let cases: Vec<_> = suite
        .cases()
        .into_iter()
        .filter(|c| !c.name.ends_with(".out"))
        .collect();
    assert!(cases.len() >= 8, "only {} fmt cases", cases.len());
    for case in &cases {
        let text = String::from_utf8_lossy(&case.read()).into_owned();
        match format_source(&text) {
            Ok(out) => {
                match format_source(&out) {
                    Ok(again) if again == out => {}
                    Ok(again) => suite.fail(case, format!("not idempotent:\n{out}\n---\n{again}")),
                    Err(d) => suite.fail(case, format!("output does not parse: {d:?}")),
                }
                if comment_counts(&out) != comment_counts(&text) {
                    suite.fail(case, "comments lost or duplicated");
                }
                suite.check(case, ".out.vgl", Some(&out));
            }
            Err(d) => suite.fail(case, format!("does not parse: {d:?}")),
        }
    }
    suite.finish(&[".out.vgl"]);
}

#[test]
fn every_repository_vgl_file_round_trips_with_its_meaning() {
    let root = repo();
    let mut files = Vec::new();
    walk_vgl(&root, &mut files);
    let (mut by_ir, mut by_tree, mut unparsed, mut changed) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    for path in &files {
        let rel = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        let Ok(bytes) = fs::read(path) else {
            failures.push(format!("{rel}: unreadable"));
            continue;
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let Ok(out) = format_source(&text) else {
            unparsed += 1;
            continue;
        };
        if out != text {
            changed += 1;
        }
        match format_source(&out) {
            Ok(again) if again == out => {}
            Ok(_) => failures.push(format!("{rel}: formatting is not idempotent")),
            Err(_) => failures.push(format!("{rel}: the formatted text does not parse")),
        }
        if comment_counts(&out) != comment_counts(&text) {
            failures.push(format!("{rel}: comments lost or duplicated"));
        }
        if erased_tree(&out) != erased_tree(&text) {
            failures.push(format!("{rel}: the syntax tree changed"));
        }
        match ir_hash(&[(rel.clone(), &text)]) {
            Some(before) => {
                by_ir += 1;
                if ir_hash(&[(rel.clone(), &out)]).as_deref() != Some(before.as_str()) {
                    failures.push(format!("{rel}: the IR hash changed"));
                }
            }
            None => by_tree += 1,
        }
    }
    eprintln!(
        "fmt: {} repository .vgl files: {by_ir} round-tripped with equal IR hashes, {by_tree} \
         (not compiling alone) with equal syntax trees, {unparsed} syntax-error cases skipped; \
         {changed} not yet in the canonical layout",
        files.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(by_ir >= 100, "only {by_ir} files compiled alone");
    assert!(
        by_ir + by_tree >= 150,
        "only {} files formatted",
        by_ir + by_tree
    );
}

#[test]
fn converted_sigma_rules_round_trip_with_equal_ir() {
    let trees = super::sigma::TREES;
    let needed: Vec<String> = trees.iter().map(|t| format!("sigma/{t}")).collect();
    let needed: Vec<&str> = needed.iter().map(String::as_str).collect();
    let Some(corpus) =
        vigil_tests::corpus_for("converted_sigma_rules_round_trip_with_equal_ir", &needed)
    else {
        return;
    };
    let mut inputs: Vec<InputFile> = Vec::new();
    for tree in trees {
        let root = corpus.join("sigma").join(tree);
        inputs.extend(vigil_tests::sigma_files(&root, &root));
    }
    let import = sigma::import(&inputs, Options::default()).expect("built-in table loads");
    let mut failures = Vec::new();
    let mut before = Vec::new();
    let mut after = Vec::new();
    for f in &import.files {
        let rel = f.rel.display().to_string();
        match format_source(&f.text) {
            Ok(out) => {
                if format_source(&out).ok().as_deref() != Some(out.as_str()) {
                    failures.push(format!("{rel}: formatting is not idempotent"));
                }
                before.push((rel.clone(), f.text.as_str()));
                after.push((rel, out));
            }
            Err(_) => failures.push(format!("{rel}: the importer's output does not parse")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let changed = before
        .iter()
        .zip(&after)
        .filter(|((_, a), (_, b))| a != b)
        .count();
    let after: Vec<(String, &str)> = after.iter().map(|(n, t)| (n.clone(), t.as_str())).collect();
    let hash = ir_hash(&before).expect("the converted rules compile together");
    assert_eq!(
        ir_hash(&after).as_deref(),
        Some(hash.as_str()),
        "formatting changed the converted rules' IR"
    );
    eprintln!(
        "fmt: {} converted Sigma files round-tripped with equal IR hashes ({changed} changed by \
         formatting)",
        after.len()
    );
    assert!(after.len() >= 2500, "only {} converted files", after.len());
}

/// `text` with a comment after every code token: `kind` 0 a trailing line comment, 1 a block
/// comment in the line, 2 a line comment on a line of its own.
fn comment_everywhere(text: &str, kind: usize) -> String {
    let (tokens, _) = vigil_grammar::tokens(FileId(0), text);
    let mut out = String::with_capacity(text.len() * 3);
    let mut at = 0;
    for (i, (span, token)) in tokens.iter().enumerate() {
        if matches!(token, vigil_grammar::token::Token::Comment) {
            continue;
        }
        let end = span.end as usize;
        out.push_str(&text[at..end]);
        at = end;
        match kind {
            0 => out.push_str(&format!(" // c{i}\n")),
            1 => out.push_str(&format!(" /* c{i} */ ")),
            _ => out.push_str(&format!("\n// c{i}\n")),
        }
    }
    out.push_str(&text[at..]);
    out
}

#[test]
fn comments_after_every_token_survive_formatting_once_each() {
    let root = repo();
    let mut files = Vec::new();
    walk_vgl(&root.join("tests/fmt"), &mut files);
    walk_vgl(&root.join("examples"), &mut files);
    let mut tried = 0;
    let mut failures = Vec::new();
    for path in &files {
        let text = fs::read_to_string(path).expect("read");
        if format_source(&text).is_err() {
            continue;
        }
        for kind in 0..3 {
            let input = comment_everywhere(&text, kind);
            let rel = format!("{} (comments of kind {kind})", path.display());
            tried += 1;
            let Ok(out) = format_source(&input) else {
                failures.push(format!("{rel}: does not parse"));
                continue;
            };
            if format_source(&out).ok().as_deref() != Some(out.as_str()) {
                failures.push(format!("{rel}: formatting is not idempotent"));
            }
            if comment_counts(&out) != comment_counts(&input) {
                failures.push(format!("{rel}: comments lost or duplicated"));
            }
            if erased_tree(&out) != erased_tree(&text) {
                failures.push(format!("{rel}: the syntax tree changed"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(tried >= 30, "only {tried} files tried");
}
