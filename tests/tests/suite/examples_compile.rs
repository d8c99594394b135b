//! The example rules compile through the whole pipeline (check, lower, bind, verify) with no
//! diagnostics at all, and the IR they produce is deterministic.

use std::path::Path;

use vigil_compiler::compile::compile;
use vigil_compiler::{Options, Sources};
use vigil_runtime::budget::Budget;
use vigil_runtime::schema::Schema;

fn example_sources() -> Sources {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rules");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/rules exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "vgl"))
        .collect();
    paths.sort();
    let mut sources = Sources::with_stdlib();
    for p in paths {
        let text = std::fs::read(&p).expect("readable example");
        let name = format!(
            "examples/rules/{}",
            p.file_name().unwrap_or_default().to_string_lossy()
        );
        sources.add(name, text);
    }
    sources
}

#[test]
fn examples_compile_and_verify_without_diagnostics() {
    let schema = Schema::endpoint();
    let sources = example_sources();
    let compiled = match compile(&sources, &schema, &Options::default(), &Budget::default()) {
        Ok(c) => c,
        Err(diags) => {
            let shown: Vec<String> = diags
                .iter()
                .map(|d| vigil_compiler::diag::render::render(d, &sources.map, false))
                .collect();
            panic!("examples do not compile:\n{}", shown.join("\n"));
        }
    };
    assert!(compiled.warnings.is_empty(), "{:?}", compiled.warnings);
    assert!(compiled.program().rules.len() >= 20);
}

#[test]
fn same_sources_give_the_same_program() {
    let schema = Schema::endpoint();
    let a = compile(
        &example_sources(),
        &schema,
        &Options::default(),
        &Budget::default(),
    )
    .map_err(|d| format!("{d:?}"))
    .expect("compiles");
    let b = compile(
        &example_sources(),
        &schema,
        &Options::default(),
        &Budget::default(),
    )
    .map_err(|d| format!("{d:?}"))
    .expect("compiles");
    assert_eq!(a.program(), b.program());
    assert_eq!(
        vigil_runtime::hash::program_hash(a.program()),
        vigil_runtime::hash::program_hash(b.program())
    );
}
