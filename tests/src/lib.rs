//! Support code of the end-to-end tests: the cargo-fuzz targets' entry points ([`fuzz`]),
//! shared by `fuzz/` and `tests/tests/suite/fuzz_regressions.rs`.

pub mod capi_calls;
pub mod fuzz;
