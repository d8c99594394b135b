//! Any bytes as JSON lines through the native, `sysmon` and `windows` decoders, with and
//! without a projection: coded errors or events, never a panic; both agree.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| vigil_tests::fuzz::json_decode(data));
