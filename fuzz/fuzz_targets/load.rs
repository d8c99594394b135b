//! Any bytes as a bundle: a coded error or a verified program, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vigil_runtime::bundle::{load, TrustStore};

fuzz_target!(|data: &[u8]| {
    let schema = vigil_runtime::schema::Schema::endpoint();
    let trust = TrustStore {
        allow_unsigned: true,
        ..TrustStore::default()
    };
    let _ = load(data, &schema, &trust, &vigil_runtime::budget::Budget::default(), 0);
});
