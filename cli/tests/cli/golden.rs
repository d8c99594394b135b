//! Golden CLI cases as data: each `tests/golden/NAME.args` is one run of `vigil`, and
//! `NAME.stdout`, `NAME.stderr` and `NAME.code` beside it are what it must print and its exit
//! status. The layout, and how to add or bless a case, is in `tests/golden/README.md`.
//!
//! The loop is the workspace's one golden loop (`vigil_test_support::golden`): every mismatch
//! reported at once, `VIGIL_BLESS=1` writes the expected files from what the binary printed
//! (review the diff like code), and an expected file without its `.args` fails the run. Any
//! other stray file in the folder fails it too.

use std::path::{Path, PathBuf};
use std::process::Command;

use vigil_test_support::golden::{files_with_suffix, Golden};

/// What each case is checked against, by extension.
const EXPECTED: [&str; 3] = [".stdout", ".stderr", ".code"];

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
    let mut suite = Golden::new(golden_dir(), ".args");
    let cases = suite.cases();
    assert!(!cases.is_empty(), "no cases in {}", suite.dir().display());
    // Anything that is neither a case nor an expected file is a mistake (a typo'd extension).
    for path in files_with_suffix(suite.dir(), "") {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        let known = name == "README.md"
            || path.is_dir()
            || name.ends_with(".args")
            || EXPECTED.iter().any(|ext| name.ends_with(ext));
        if !known {
            suite.fail_suite(format!(
                "{name}: not a case file (NAME.args, .stdout, .stderr, .code)"
            ));
        }
    }
    for case in &cases {
        let text = String::from_utf8_lossy(&case.read()).into_owned();
        let got = run_case(&parse_args(&text));
        for (ext, got) in EXPECTED.iter().zip(&got) {
            suite.check(case, ext, Some(got));
        }
    }
    suite.finish(&EXPECTED);
}

#[test]
fn args_files_skip_blank_and_comment_lines() {
    assert_eq!(
        parse_args("# a comment\ncheck\n\nexamples/rules\n"),
        ["check", "examples/rules"]
    );
}
