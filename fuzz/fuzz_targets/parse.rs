//! Any bytes through the parser: it returns a tree and errors, never panics or hangs.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = vigil_grammar::parse_bytes(vigil_grammar::span::FileId(0), data);
});
