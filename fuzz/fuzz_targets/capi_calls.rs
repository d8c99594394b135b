//! Random call sequences through the C API: status codes and messages, never a crash.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = vigil_tests::capi_calls::capi_calls(data);
});
