//! Any bytes as the files of an agent's state directory, then a restore: coded refusals or a
//! bundle that loads, never a panic; a clean restart restores the same bundle.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = vigil_tests::fuzz::state_restore(data);
});
