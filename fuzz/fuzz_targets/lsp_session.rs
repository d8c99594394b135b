//! Any bytes as a session with the language server, in process: pieces as messages or as
//! document texts with requests at positions in and past them, then the bytes as a raw stream
//! (`vigil_lsp::fuzz::session`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| vigil_lsp::fuzz::session(data));
