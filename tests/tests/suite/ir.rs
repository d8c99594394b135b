//! The lowering suite: each `tests/ir/NAME.vgl` is compiled in-process (check, lower, bind,
//! verify against the embedded standard library, the `endpoint` schema and the default budget)
//! and its IR, printed by `vigil_compiler::explain` (numbered nodes, roots, worst-case cost and
//! state, fields read), must equal `tests/ir/NAME.ir` exactly. `VIGIL_BLESS=1` rewrites the
//! expected files; an `.ir` file without its `.vgl` fails the run, as does a case that does
//! not compile.

use std::path::{Path, PathBuf};

use vigil_compiler::compile::compile;
use vigil_compiler::diag::render;
use vigil_compiler::explain::explain_verified;
use vigil_compiler::{Options, Sources};
use vigil_runtime::budget::Budget;
use vigil_runtime::schema::Schema;
use vigil_test_support::golden::Golden;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ir")
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
    let mut suite = Golden::new(dir(), ".vgl");
    let cases = suite.cases();
    assert!(
        cases.len() >= 8,
        "too few ir cases in {}",
        suite.dir().display()
    );
    for case in &cases {
        match dump(&format!("ir/{}.vgl", case.name), case.read()) {
            Ok(actual) => suite.check(case, ".ir", Some(&actual)),
            Err(diags) => suite.fail(case, format!("does not compile:\n{diags}")),
        }
    }
    suite.finish(&[".ir"]);
}
