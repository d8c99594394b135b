//! The overlap suite: `tests/overlap/NAME.vgl` compiled in-process (check, lower, the overlap
//! pass, bind, verify) against the embedded standard library and schema; the plain rendered
//! diagnostics must equal `tests/overlap/NAME.stderr` exactly. The overlap warnings (W0304–W0307)
//! are found on the lowered IR, so the `ui/` suite (which stops after type checking) cannot show
//! them. `VIGIL_BLESS=1` rewrites the expected files; an expected file without its input fails.

use std::path::Path;

use vigil_compiler::compile::compile;
use vigil_compiler::diag::render;
use vigil_compiler::{Options, Sources};
use vigil_runtime::budget::Budget;
use vigil_runtime::schema::Schema;
use vigil_test_support::golden::Golden;

/// Compiles one file (named as shown) and renders every diagnostic plainly.
fn rendered(name: &str, bytes: Vec<u8>) -> String {
    let mut sources = Sources::with_stdlib();
    sources.add(name, bytes);
    let diags = match compile(
        &sources,
        &Schema::endpoint(),
        &Options::default(),
        &Budget::default(),
    ) {
        Ok(compiled) => compiled.warnings,
        Err(diags) => diags,
    };
    render::render_all(&diags, &sources.map, false)
}

#[test]
fn overlap() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("overlap");
    let mut suite = Golden::new(root, ".vgl");
    let cases = suite.cases();
    assert!(
        !cases.is_empty(),
        "no overlap cases in {}",
        suite.dir().display()
    );
    for case in &cases {
        let actual = rendered(&format!("overlap/{}.vgl", case.name), case.read());
        suite.check(case, ".stderr", Some(&actual));
    }
    suite.finish(&[".stderr"]);
}
