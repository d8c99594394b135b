//! Replays every file under `fuzz/regressions/<target>/` through the same entry point its
//! cargo-fuzz target drives (`fuzz/fuzz_targets/`): a crash the fuzzer once found becomes a file
//! here, and this test keeps it fixed. Each input must return (an error or a result), never
//! panic.

use std::path::{Path, PathBuf};

use vigil_runtime::bundle::{load, TrustStore};

fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    assert!(
        !files.is_empty(),
        "no regression inputs in {}",
        dir.display()
    );
    files
}

#[test]
fn parse_regressions_return() {
    for f in inputs("parse") {
        let bytes = std::fs::read(&f).expect("readable");
        let _ = vigil_grammar::parse_bytes(vigil_grammar::span::FileId(0), &bytes);
    }
}

#[test]
fn compile_regressions_return() {
    let schema = vigil_runtime::schema::Schema::endpoint();
    for f in inputs("compile") {
        let bytes = std::fs::read(&f).expect("readable");
        let mut sources = vigil_compiler::Sources::with_stdlib();
        sources.add("fuzz.vgl", bytes);
        let _ = vigil_compiler::compile::compile(
            &sources,
            &schema,
            &vigil_compiler::Options::default(),
            &vigil_runtime::budget::Budget::default(),
        );
    }
}

#[test]
fn load_regressions_are_refused_with_a_code() {
    let schema = vigil_runtime::schema::Schema::endpoint();
    let trust = TrustStore {
        allow_unsigned: true,
        ..TrustStore::default()
    };
    for f in inputs("load") {
        let bytes = std::fs::read(&f).expect("readable");
        let r = load(
            &bytes,
            &schema,
            &trust,
            &vigil_runtime::budget::Budget::default(),
            0,
        );
        let Err(e) = r else {
            panic!("{} loaded", f.display());
        };
        assert!(
            e.code().to_string().starts_with("E05"),
            "{}: {e}",
            f.display()
        );
    }
}
