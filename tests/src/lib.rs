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
