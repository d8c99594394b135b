//! Any bytes through the parser: it returns a tree and errors, never panics or hangs.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| vigil_tests::fuzz::parse(data));
