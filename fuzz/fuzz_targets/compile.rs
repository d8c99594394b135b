//! Any text through the whole compile (check, lower, bind, verify): diagnostics or a program.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut sources = vigil_compiler::Sources::with_stdlib();
    sources.add("fuzz.vgl", data.to_vec());
    let schema = vigil_runtime::schema::Schema::endpoint();
    let _ = vigil_compiler::compile::compile(
        &sources,
        &schema,
        &vigil_compiler::Options::default(),
        &vigil_runtime::budget::Budget::default(),
    );
});
