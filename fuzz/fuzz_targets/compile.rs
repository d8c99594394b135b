//! Any text through the whole compile (check, lower, bind, verify): diagnostics or a program.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| vigil_tests::fuzz::compile(data));
