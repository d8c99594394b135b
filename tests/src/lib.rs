//! Support code of the end-to-end tests: the cargo-fuzz targets' entry points ([`fuzz`],
//! [`capi_calls`]), shared by `fuzz/` and `tests/tests/suite/fuzz_regressions.rs`, and where
//! the shared corpus is ([`corpus`]).

pub mod capi_calls;
pub mod fuzz;

/// The shared corpus (`../shared/corpus` beside the repository, or `VIGIL_CORPUS`).
pub fn corpus() -> std::path::PathBuf {
    std::env::var_os("VIGIL_CORPUS").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"),
        std::path::PathBuf::from,
    )
}

/// The shared corpus, when every path of `needed` (relative to it) is there. Otherwise a test
/// skips with one line on stderr naming `test` and the missing path, except under
/// `VIGIL_REQUIRE_CORPUS=1` (`.ci/run` sets it): then it fails, so that a corpus test never
/// passes in CI without running.
pub fn corpus_for(test: &str, needed: &[&str]) -> Option<std::path::PathBuf> {
    let root = corpus();
    let Some(missing) = needed.iter().map(|n| root.join(n)).find(|p| !p.exists()) else {
        return Some(root);
    };
    let why = format!("{test}: no corpus at {}", missing.display());
    if std::env::var_os("VIGIL_REQUIRE_CORPUS").is_some_and(|v| v == "1") {
        panic!("{why} (VIGIL_REQUIRE_CORPUS=1)");
    }
    eprintln!("skipping {why}");
    None
}
