//! Bundles across the crates, in-process: the compiler's bundle writer and the runtime's loader
//! agree, and every loading code of the runtime (E04xx–E06xx: `vigil_runtime::error::load_codes`)
//! has a case that shows it: a `; error:` line in `tests/verify/*.vir`, an assertion in
//! `runtime/tests/runtime/bundle_cases.rs` or the schema loader's tests, a coded error asserted
//! by the CLI tests (`cli/tests/cli/bundle.rs`), or a test in this file (the inputs of E0613 and
//! E0628 are too large to commit, so they are generated here). That every code has its entry in
//! `docs/errors.md` is the registry's own test (`codes/tests/registry.rs`).
//!
//! The CLI itself (`vigil keygen/build/verify/inspect/explain`) is tested end to end in
//! `cli/tests/cli/bundle.rs`, where the binary's path is known to Cargo.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use vigil_compiler::bundle::{build, BuildOptions};
use vigil_compiler::compile::compile;
use vigil_compiler::{Options, Sources};
use vigil_runtime::bind::bind;
use vigil_runtime::budget::Budget;
use vigil_runtime::bundle::{load, Keypair, TrustStore};
use vigil_runtime::error::{load_codes, ErrorCode};
use vigil_runtime::ir::Program;
use vigil_runtime::schema::Schema;

/// Codes whose input this file generates: code and the test that covers it.
const GENERATED: &[(&str, &str)] = &[
    ("E0613", "a_schema_with_too_many_fields_is_refused"),
    ("E0628", "a_program_with_too_many_builtins_cannot_bind"),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every code some case shows.
fn covered_codes() -> BTreeSet<String> {
    let mut seen: BTreeSet<String> = GENERATED.iter().map(|(c, _)| (*c).to_owned()).collect();
    // The must-reject corpus.
    let verify_dir = root().join("tests/verify");
    for entry in fs::read_dir(&verify_dir).expect("tests/verify exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "vir") {
            let text = fs::read_to_string(&path).unwrap_or_default();
            for (_, codes) in text.lines().filter_map(|l| l.split_once("; error:")) {
                seen.extend(codes.split(',').map(|c| c.trim().to_owned()));
            }
        }
    }
    // Assertions naming a variant, in the runtime's bundle and schema tests.
    let bundle_cases = read("runtime/tests/runtime/bundle_cases.rs");
    for code in ErrorCode::ALL {
        if bundle_cases.contains(&format!("ErrorCode::{code:?}")) {
            seen.insert(code.code());
        }
    }
    let schema_tests = read("runtime/src/schema/tests.rs");
    for code in ErrorCode::ALL {
        if schema_tests.contains(&format!("ErrorCode::{code:?}")) {
            seen.insert(code.code());
        }
    }
    // Coded errors the CLI tests assert.
    let cli = read("cli/tests/cli/bundle.rs");
    for code in load_codes() {
        if cli.contains(&format!("error[{code}]")) {
            seen.insert(code.code());
        }
    }
    seen
}

#[test]
fn every_runtime_loading_code_has_a_case() {
    let seen = covered_codes();
    let mut missing = Vec::new();
    for code in load_codes() {
        if !seen.contains(code.as_str()) {
            missing.push(format!(
                "{code}: no case shows it (tests/verify, runtime/tests/runtime/bundle_cases.rs, \
                 cli/tests/cli/bundle.rs)"
            ));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn a_schema_with_too_many_fields_is_refused() {
    let mut text = String::from(
        "name = \"huge\"\nversion = \"1.0\"\n[events.e]\ndescription = \"x\"\nfields = [\n  \
         { name = \"time\", type = \"int\", description = \"t\" },\n  \
         { name = \"host\", type = \"string\", max_len = 8, description = \"h\" },\n",
    );
    for i in 0..=usize::from(u16::MAX) {
        text.push_str(&format!(
            "  {{ name = \"f{i}\", type = \"int\", description = \"x\" }},\n"
        ));
    }
    text.push_str("]\n");
    let errors = Schema::from_toml_all("huge.toml", &text).expect_err("too many fields");
    assert!(
        errors.iter().any(|e| e.code == ErrorCode::TooManyItems),
        "{errors:?}"
    );
}

#[test]
fn a_program_with_too_many_builtins_cannot_bind() {
    let mut program: Program =
        vigil_runtime::ir_text::parse(&read("tests/verify/ok_single.vir")).expect("IR text");
    let one = program
        .builtins
        .first()
        .cloned()
        .expect("ok_single calls a builtin");
    program.builtins = vec![one; usize::from(u16::MAX) + 2];
    let errors = bind(&program, &Schema::endpoint()).expect_err("cannot number the builtins");
    assert!(
        errors.iter().any(|e| e.code == ErrorCode::BindingTooLarge),
        "{errors:?}"
    );
}

#[test]
fn compiled_bundles_load_in_the_runtime() {
    let mut sources = Sources::with_stdlib();
    for entry in fs::read_dir(root().join("examples/rules")).expect("examples") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "vgl") {
            sources.add(
                path.display().to_string(),
                fs::read(&path).expect("readable"),
            );
        }
    }
    let compiled = compile(
        &sources,
        &Schema::endpoint(),
        &Options::default(),
        &Budget::default(),
    )
    .expect("the examples compile");
    let key = Keypair::from_seed(&[9; 32]);
    let opts = BuildOptions {
        content_version: 2,
        min_version: Some(1),
        ..BuildOptions::default()
    };
    let built = build(&compiled, &opts, Some(&key)).expect("builds");
    let mut trust = TrustStore::new();
    trust.trust(key.verifying_key());
    let loaded = load(
        &built.bytes,
        &Schema::endpoint(),
        &trust,
        &Budget::default(),
        0,
    )
    .expect("loads");
    assert_eq!(loaded.verified.program(), compiled.program());
    assert_eq!(loaded.debug.as_ref(), Some(&compiled.debug));
    assert_eq!(loaded.sha256, built.sha256);
    assert_eq!(loaded.verified.cost(), compiled.verified.cost());
}
