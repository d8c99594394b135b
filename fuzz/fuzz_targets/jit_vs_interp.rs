//! A generated program (from the seed in the input's first eight bytes) must give the same
//! answer in both engines on an event of each type it runs on, with every field absent.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| vigil_tests::fuzz::jit_vs_interp(data));
