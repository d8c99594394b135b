//! What every module of the CLI tests runs the binary with: the repository it runs in, the
//! binary under test, running it (with or without standard input), scratch folders, and text.
//!
//! `VIGIL_TEST_BIN` runs the tests against another build of `vigil` (to show that a test fails
//! against an older binary), and `VIGIL_TEST_REPO` names the checkout that binary's examples
//! come from.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository the binary runs in (its examples): this one, or `VIGIL_TEST_REPO`.
pub(crate) fn repo() -> PathBuf {
    std::env::var_os("VIGIL_TEST_REPO").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
        PathBuf::from,
    )
}

/// The binary under test: this build's, or `VIGIL_TEST_BIN`.
pub(crate) fn bin() -> PathBuf {
    std::env::var_os("VIGIL_TEST_BIN")
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_vigil")), PathBuf::from)
}

/// Runs the binary in the repository with `args` and an empty standard input.
pub(crate) fn vigil(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::null())
        .output()
        .expect("the vigil binary runs")
}

/// Runs the binary in the repository with `args` and `stdin` as its standard input (written
/// from a thread, so a binary that stops reading early cannot block the test).
pub(crate) fn vigil_in(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the vigil binary runs");
    let mut pipe = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = pipe.write_all(&data);
    });
    let out = child.wait_with_output().expect("vigil ends");
    let _ = feeder.join();
    out
}

/// Output bytes as text.
pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fresh scratch folder for one test (`area`: the module, `name`: the test).
pub(crate) fn scratch(area: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli_{area}_{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// A path as an argument.
pub(crate) fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}
