//! The lowering suite: each `tests/ir/NAME.vgl` is compiled in-process (check, lower, bind,
//! verify against the embedded standard library, the `endpoint` schema and the default budget)
//! and its IR, printed by `vigil_compiler::explain` (numbered nodes, roots, worst-case cost and
//! state, fields read), must equal `tests/ir/NAME.ir` exactly. `VIGIL_BLESS=1` rewrites the
//! expected files; an `.ir` file without its `.vgl` fails the run, as does a case that does
//! not compile.

use std::fs;
use std::path::{Path, PathBuf};

use vigil_compiler::compile::compile;
use vigil_compiler::diag::render;
use vigil_compiler::explain::explain_verified;
use vigil_compiler::{Options, Sources};
use vigil_runtime::budget::Budget;
use vigil_runtime::schema::Schema;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ir")
}

fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == ext))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The dump of one case, or its rendered diagnostics as the error.
fn dump(name: &str, bytes: Vec<u8>) -> Result<String, String> {
    let mut sources = Sources::with_stdlib();
    sources.add(name, bytes);
    compile(
        &sources,
        &Schema::endpoint(),
        &Options::default(),
        &Budget::default(),
    )
    .map(|c| explain_verified(&c.verified).to_text())
    .map_err(|diags| render::render_all(&diags, &sources.map, false))
}

#[test]
fn ir() {
    let dir = dir();
    let bless = std::env::var_os("VIGIL_BLESS").is_some_and(|v| v == "1");
    let inputs = files_with_ext(&dir, "vgl");
    assert!(inputs.len() >= 8, "too few ir cases in {}", dir.display());
    let mut failures = Vec::new();
    for input in &inputs {
        let stem = input
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let bytes = fs::read(input).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        let actual = match dump(&format!("ir/{stem}.vgl"), bytes) {
            Ok(text) => text,
            Err(diags) => {
                failures.push(format!("ir/{stem}.vgl does not compile:\n{diags}"));
                continue;
            }
        };
        let expected_path = input.with_extension("ir");
        if bless {
            fs::write(&expected_path, &actual)
                .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            failures.push(format!(
                "--- ir/{stem}.ir (expected)\n{expected}\n+++ actual\n{actual}"
            ));
        }
    }
    for expected in files_with_ext(&dir, "ir") {
        if !expected.with_extension("vgl").exists() {
            failures.push(format!(
                "{}: expected output without an input `.vgl`",
                expected.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} ir case(s) differ (rerun with VIGIL_BLESS=1 to accept):\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}
