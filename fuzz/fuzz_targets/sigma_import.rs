//! Any bytes as a Sigma YAML file through the importer: outcomes, never a panic; what it writes
//! parses.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| vigil_tests::fuzz::sigma_import(data));
