//! Any bytes as a bundle: a coded error or a verified program, never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = vigil_tests::fuzz::load(data);
});
