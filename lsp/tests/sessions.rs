//! The fuzz target's sessions under `cargo test`: every seed of `fuzz/seeds/lsp_session/` and
//! every kept regression of `fuzz/regressions/lsp_session/` (a crash the fuzzer found stays
//! fixed), then seeded mutations of the seeds (bytes flipped, cut, spliced), so that bad input
//! is exercised on stable Rust too. A panic is a failure.

use std::path::{Path, PathBuf};

use vigil_test_support::rng::SplitMix64;

fn inputs() -> Vec<(PathBuf, Vec<u8>)> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut out = Vec::new();
    for dir in ["seeds/lsp_session", "regressions/lsp_session"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir)) else {
            continue;
        };
        for e in entries.filter_map(Result::ok) {
            let p = e.path();
            if let Ok(bytes) = std::fs::read(&p) {
                out.push((p, bytes));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn seeds_and_regressions_run_without_a_panic() {
    let inputs = inputs();
    assert!(inputs.len() >= 5, "the seeds are missing: {inputs:?}");
    for (path, bytes) in &inputs {
        eprintln!("{}", path.display());
        vigil_lsp::fuzz::session(bytes);
    }
}

#[test]
fn mutated_sessions_run_without_a_panic() {
    let inputs = inputs();
    let mut rng = SplitMix64::new(0x5e55_1015);
    for _ in 0..100 {
        let (_, base) = rng.pick_ref(&inputs);
        let mut data = base.clone();
        for _ in 0..=rng.below(8) {
            if data.is_empty() {
                break;
            }
            let i = rng.index(data.len());
            match rng.below(4) {
                0 => data[i] = rng.next_u64() as u8,
                1 => data.truncate(i),
                2 => data.insert(i, 0x1e),
                _ => {
                    let (_, other) = rng.pick_ref(&inputs);
                    let j = rng.index(other.len().max(1));
                    data.extend_from_slice(other.get(j..).unwrap_or_default());
                }
            }
        }
        vigil_lsp::fuzz::session(&data);
    }
}
