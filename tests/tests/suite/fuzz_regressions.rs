//! Replays every file under `fuzz/regressions/<target>/` and `fuzz/seeds/<target>/` through the
//! entry point its cargo-fuzz target drives (`vigil_tests::fuzz`, called by
//! `fuzz/fuzz_targets/<target>.rs`): a crash the fuzzer once found becomes a file there, and
//! this test keeps it fixed. Each input must return (an error or a result), never panic, and
//! hold the target's properties (see `tests/src/fuzz.rs`). The seeds must also still be what
//! they were made as (the bundles load, the state directories restore a bundle), or the
//! fuzzers start from nothing: `fuzz/make-seeds.sh` remakes them.

use std::path::{Path, PathBuf};

use vigil_runtime::bundle::{self, TrustStore};
use vigil_tests::fuzz;

fn files(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(kind)
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The regression inputs and the seeds of `target`; there must be seeds.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let seeds = files("seeds", target);
    assert!(!seeds.is_empty(), "no seeds in fuzz/seeds/{target}/");
    files("regressions", target)
        .into_iter()
        .chain(seeds)
        .map(|f| {
            let bytes = std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            (f, bytes)
        })
        .collect()
}

/// Runs `entry` on every input of `target`, naming the input that panics.
fn replay(target: &str, entry: impl Fn(&[u8])) {
    for (f, bytes) in inputs(target) {
        eprintln!("{target}: {}", f.display());
        entry(&bytes);
    }
}

#[test]
fn parse_inputs_return() {
    replay("parse", fuzz::parse);
}

#[test]
fn compile_inputs_return() {
    replay("compile", fuzz::compile);
}

#[test]
fn jit_vs_interp_inputs_agree() {
    replay("jit_vs_interp", fuzz::jit_vs_interp);
}

#[test]
fn sigma_import_inputs_return() {
    replay("sigma_import", fuzz::sigma_import);
}

#[test]
fn json_decode_inputs_agree() {
    replay("json_decode", fuzz::json_decode);
}

#[test]
fn evtx_read_inputs_return() {
    replay("evtx_read", fuzz::evtx_read);
}

#[test]
fn bundle_decode_inputs_hold() {
    replay("bundle_decode", fuzz::bundle_decode);
}

#[test]
fn state_restore_inputs_hold() {
    replay("state_restore", |b| {
        let _ = fuzz::state_restore(b);
    });
}

#[test]
fn load_regressions_are_refused_with_a_code() {
    let regressions = files("regressions", "load");
    assert!(
        !regressions.is_empty(),
        "no regressions in fuzz/regressions/load/"
    );
    for f in regressions {
        let bytes = std::fs::read(&f).expect("readable");
        let Err(e) = fuzz::load(&bytes) else {
            panic!("{} loaded", f.display());
        };
        assert!(
            e.code().to_string().starts_with("E05"),
            "{}: {e}",
            f.display()
        );
    }
    replay("load", |b| {
        let _ = fuzz::load(b);
    });
}

/// The bundle seeds load (`unsigned*` with unsigned bundles allowed, `signed*` under the fuzz
/// key only): stale seeds after a format change would leave the fuzzers outside the decoder.
#[test]
fn bundle_seeds_still_load() {
    let schema = vigil_runtime::schema::Schema::endpoint();
    let budget = vigil_runtime::budget::Budget::default();
    let mut seen = 0;
    for target in ["load", "bundle_decode"] {
        for f in files("seeds", target) {
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let trust: TrustStore = if name.starts_with("unsigned") {
                fuzz::trust_unsigned()
            } else if name.starts_with("signed") {
                fuzz::trust_key()
            } else {
                continue;
            };
            let bytes = std::fs::read(&f).expect("readable");
            if let Err(e) = bundle::load(&bytes, &schema, &trust, &budget, fuzz::NOW_UNIX) {
                panic!(
                    "seed {} no longer loads (run fuzz/make-seeds.sh): {e}",
                    f.display()
                );
            }
            seen += 1;
        }
    }
    assert!(seen >= 4, "only {seen} bundle seeds");
}

/// Every state seed restores a bundle: a seed that restores nothing tests only the empty path.
#[test]
fn state_seeds_restore_a_bundle() {
    let seeds = files("seeds", "state_restore");
    assert!(!seeds.is_empty());
    for f in seeds {
        let bytes = std::fs::read(&f).expect("readable");
        assert!(
            fuzz::state_restore(&bytes).is_some(),
            "seed {} restores no bundle (run fuzz/make-seeds.sh)",
            f.display()
        );
    }
}

#[test]
fn state_input_round_trips() {
    let files: [(&str, &[u8]); 3] = [
        ("state.json", b"{}"),
        ("active.vglb", b"VIGLBNDL"),
        ("lkg.vglb", b""),
    ];
    let input = fuzz::state_input(&files);
    assert_eq!(fuzz::state_files(&input), files.to_vec());
    assert_eq!(fuzz::seed_of(&[1, 0, 0, 0, 0, 0, 0, 0, 9]), 1);
    assert_eq!(fuzz::seed_of(&[0, 1]), 256);
}

#[test]
fn capi_calls_inputs_return() {
    replay("capi_calls", |b| {
        let _ = vigil_tests::capi_calls::capi_calls(b);
    });
}

/// The hand-made seed loads a signed bundle through the C API, decodes a JSON line and builds
/// an event by hand, and both raise alerts: the target reaches the rules.
#[test]
fn the_capi_calls_seed_reaches_the_rules() {
    let seed = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/seeds/capi_calls/alerts.bin"),
    )
    .expect("fuzz/seeds/capi_calls/alerts.bin");
    assert!(vigil_tests::capi_calls::capi_calls(&seed) >= 2);
}
