//! The golden-file loop: a folder of cases, each an input file `NAME<input suffix>` whose
//! output is compared with expected files beside it (`NAME.stderr`, `NAME.ir`, ...).
//!
//! - **Compare**: [`Golden::check`] compares a case's actual output with its expected file and
//!   records a difference as a failure.
//! - **Bless**: with `VIGIL_BLESS=1` in the environment ([`BLESS_VAR`]), `check` rewrites the
//!   expected file instead (and removes it when the case produces nothing); review the diff
//!   like code. `VIGIL_BLESS=1 cargo test -p vigil-tests` re-blesses every suite.
//! - **Orphans**: [`Golden::finish`] fails on an expected file whose input does not exist, so a
//!   renamed or deleted case cannot leave a stale expectation behind.
//!
//! ```no_run
//! use vigil_test_support::golden::Golden;
//! let mut suite = Golden::new("tests/ui", ".vgl");
//! for case in suite.cases() {
//!     let actual = format!("output of {}", case.name);
//!     suite.check(&case, ".stderr", Some(&actual));
//! }
//! suite.finish(&[".stderr"]);
//! ```

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// The environment variable that turns comparing into rewriting: `VIGIL_BLESS=1`.
pub const BLESS_VAR: &str = "VIGIL_BLESS";

/// Whether this run rewrites expected files (`VIGIL_BLESS=1`).
pub fn bless() -> bool {
    std::env::var_os(BLESS_VAR).is_some_and(|v| v == "1")
}

/// The files directly in `dir` whose names end in `suffix`, sorted; none when `dir` is missing.
pub fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.ends_with(suffix) && n.len() > suffix.len())
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// One case of a suite: its input file and its name (the file name without the input suffix).
#[derive(Clone, Debug)]
pub struct Case {
    /// The case's name: `NAME` of `NAME.vgl`.
    pub name: String,
    /// The input file.
    pub input: PathBuf,
}

impl Case {
    /// The input's bytes.
    ///
    /// # Panics
    /// When the file cannot be read: the suite's folder is broken.
    pub fn read(&self) -> Vec<u8> {
        fs::read(&self.input).unwrap_or_else(|e| panic!("{}: {e}", self.input.display()))
    }

    /// The path of this case's file with `suffix` (`.stderr`) beside its input.
    pub fn sibling(&self, suffix: &str) -> PathBuf {
        self.input.with_file_name(format!("{}{suffix}", self.name))
    }
}

/// A folder of cases being checked; collects failures and reports them all at the end.
#[derive(Debug)]
pub struct Golden {
    dir: PathBuf,
    input_suffix: String,
    bless: bool,
    failures: Vec<String>,
}

impl Golden {
    /// The suite of the files `*<input_suffix>` in `dir`.
    pub fn new(dir: impl Into<PathBuf>, input_suffix: &str) -> Self {
        Golden {
            dir: dir.into(),
            input_suffix: input_suffix.to_owned(),
            bless: bless(),
            failures: Vec::new(),
        }
    }

    /// The suite's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether expected files are being rewritten in this run.
    pub fn blessing(&self) -> bool {
        self.bless
    }

    /// The cases, sorted by name.
    pub fn cases(&self) -> Vec<Case> {
        files_with_suffix(&self.dir, &self.input_suffix)
            .into_iter()
            .filter_map(|input| {
                let file = input.file_name()?.to_str()?;
                let name = file.strip_suffix(self.input_suffix.as_str())?.to_owned();
                Some(Case { name, input })
            })
            .collect()
    }

    /// Compares `actual` (`None`: the case produces no such file) with the case's expected
    /// file `NAME<suffix>`, or rewrites that file when blessing.
    ///
    /// # Panics
    /// When blessing and the file cannot be written.
    pub fn check(&mut self, case: &Case, suffix: &str, actual: Option<&str>) {
        let path = case.sibling(suffix);
        self.check_path(&path, actual);
    }

    /// [`Golden::check`] for an expected file named by its path.
    ///
    /// # Panics
    /// When blessing and the file cannot be written.
    pub fn check_path(&mut self, path: &Path, actual: Option<&str>) {
        if self.bless {
            match actual {
                Some(text) => {
                    fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                }
                None => {
                    // Nothing to remove is fine: the case never produced this file.
                    let _ = fs::remove_file(path);
                }
            }
            return;
        }
        let expected = fs::read_to_string(path).ok();
        if expected.as_deref() != actual {
            self.failures.push(format!(
                "{}:\n--- expected\n{}\n+++ actual\n{}",
                path.display(),
                expected.as_deref().unwrap_or("(no file)"),
                actual.unwrap_or("(nothing)")
            ));
        }
    }

    /// Records a failure of a case that is not a difference (it does not compile, say).
    pub fn fail(&mut self, case: &Case, message: impl std::fmt::Display) {
        self.failures
            .push(format!("{}: {message}", case.input.display()));
    }

    /// Records a failure about the suite as a whole.
    pub fn fail_suite(&mut self, message: impl std::fmt::Display) {
        self.failures
            .push(format!("{}: {message}", self.dir.display()));
    }

    /// Fails on every expected file (a file ending in one of `expected_suffixes`) whose case
    /// input does not exist, then on every failure recorded.
    ///
    /// # Panics
    /// When anything failed: that is the test failing.
    pub fn finish(mut self, expected_suffixes: &[&str]) {
        for orphan in self.orphans(expected_suffixes) {
            self.failures.push(format!(
                "{}: expected output without an input `{}`",
                orphan.display(),
                self.input_suffix
            ));
        }
        if self.failures.is_empty() {
            return;
        }
        let mut report = format!(
            "{} failure(s) in {} (rerun with {BLESS_VAR}=1 to accept differences):\n",
            self.failures.len(),
            self.dir.display()
        );
        for f in &self.failures {
            let _ = write!(report, "\n{f}\n");
        }
        panic!("{report}");
    }

    /// The expected files (ending in one of `expected_suffixes`) without their input.
    pub fn orphans(&self, expected_suffixes: &[&str]) -> Vec<PathBuf> {
        let mut orphans = Vec::new();
        for suffix in expected_suffixes {
            for path in files_with_suffix(&self.dir, suffix) {
                let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                let stem = name.strip_suffix(suffix).unwrap_or(name);
                let input = self.dir.join(format!("{stem}{}", self.input_suffix));
                if !input.exists() {
                    orphans.push(path);
                }
            }
        }
        orphans
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder under the target directory's temp space.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vigil-golden-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn matching_cases_pass_and_an_orphan_is_reported() {
        let dir = scratch("orphan");
        fs::write(dir.join("a.in"), "x").expect("write");
        fs::write(dir.join("a.out"), "X").expect("write");
        fs::write(dir.join("gone.out"), "Y").expect("write");
        let mut suite = Golden {
            bless: false,
            ..Golden::new(&dir, ".in")
        };
        for case in suite.cases() {
            let actual = String::from_utf8_lossy(&case.read()).to_uppercase();
            suite.check(&case, ".out", Some(&actual));
        }
        assert!(suite.failures.is_empty(), "{:?}", suite.failures);
        assert_eq!(suite.orphans(&[".out"]), vec![dir.join("gone.out")]);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_difference_fails_and_blessing_rewrites() {
        let dir = scratch("bless");
        fs::write(dir.join("a.in"), "x").expect("write");
        fs::write(dir.join("a.out"), "stale").expect("write");
        fs::write(dir.join("a.extra"), "stale").expect("write");
        let mut check = Golden {
            bless: false,
            ..Golden::new(&dir, ".in")
        };
        let case = check.cases().remove(0);
        check.check(&case, ".out", Some("fresh"));
        assert_eq!(check.failures.len(), 1);
        let mut bless = Golden {
            bless: true,
            ..Golden::new(&dir, ".in")
        };
        bless.check(&case, ".out", Some("fresh"));
        bless.check(&case, ".extra", None);
        assert_eq!(
            fs::read_to_string(dir.join("a.out")).ok().as_deref(),
            Some("fresh")
        );
        assert!(!dir.join("a.extra").exists());
        bless.finish(&[".out", ".extra"]);
        let _ = fs::remove_dir_all(&dir);
    }
}
