//! Golden CLI cases as data: each `tests/golden/NAME.args` is one run of `vigil`, and
//! `NAME.stdout`, `NAME.stderr` and `NAME.code` beside it are what it must print and its exit
//! status. The layout, and how to add or bless a case, is in `tests/golden/README.md`.
//!
//! One loop runs every case and reports every mismatch at once. `VIGIL_BLESS=1` writes the
//! expected files from what the binary printed (review the diff like code). An expected file
//! without its `.args`, or any other stray file in the folder, fails the run (orphans are never
//! blessed away silently).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What each case is checked against, by extension.
const EXPECTED: [&str; 3] = ["stdout", "stderr", "code"];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// The repository root: cases run there, so paths in `.args` files are relative to it.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The arguments of a case: one a line; blank lines and lines starting with `#` are skipped.
fn parse_args(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect()
}

/// Runs one case: its stdout, stderr and exit status (`signal` when it had none).
fn run_case(args: &[&str]) -> [String; 3] {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("spawn vigil");
    let code = out
        .status
        .code()
        .map_or_else(|| "signal".to_owned(), |c| c.to_string());
    [
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        format!("{code}\n"),
    ]
}

#[test]
fn golden_cases_print_what_their_expected_files_say() {
    let bless = std::env::var_os("VIGIL_BLESS").is_some_and(|v| v == "1");
    let dir = golden_dir();
    let mut cases = BTreeSet::new();
    let mut expected = Vec::new();
    let mut failures = Vec::new();
    let entries = std::fs::read_dir(&dir).expect("read tests/golden");
    for entry in entries {
        let path = entry.expect("read tests/golden").path();
        if path.is_dir() {
            continue;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match name.rsplit_once('.') {
            _ if name == "README.md" => {}
            Some((stem, "args")) => {
                cases.insert(stem.to_owned());
            }
            Some((stem, ext)) if EXPECTED.contains(&ext) => expected.push((stem.to_owned(), name)),
            _ => failures.push(format!(
                "{name}: not a case file (NAME.args, .stdout, .stderr, .code)"
            )),
        }
    }
    for (stem, name) in &expected {
        if !cases.contains(stem) {
            failures.push(format!("{name}: orphan: no {stem}.args produces it"));
        }
    }
    assert!(!cases.is_empty(), "no cases in {}", dir.display());
    for case in &cases {
        let text = std::fs::read_to_string(dir.join(format!("{case}.args"))).expect("read .args");
        let got = run_case(&parse_args(&text));
        for (ext, got) in EXPECTED.iter().zip(&got) {
            let path = dir.join(format!("{case}.{ext}"));
            if bless {
                std::fs::write(&path, got).expect("bless");
                continue;
            }
            match std::fs::read_to_string(&path) {
                Ok(want) if want == *got => {}
                Ok(want) => failures.push(format!(
                    "{case}.{ext} differs (VIGIL_BLESS=1 to accept):\n--- expected\n{want}\n--- got\n{got}"
                )),
                Err(_) => failures.push(format!(
                    "{case}.{ext} is missing (VIGIL_BLESS=1 writes it); got:\n{got}"
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn args_files_skip_blank_and_comment_lines() {
    assert_eq!(
        parse_args("# a comment\ncheck\n\nexamples/rules\n"),
        ["check", "examples/rules"]
    );
}
