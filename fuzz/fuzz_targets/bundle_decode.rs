//! Any bytes through the bundle decoder and the whole load, with unsigned bundles allowed and
//! with one trusted key: a coded error or a program that runs, never a panic or a bypass.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| vigil_tests::fuzz::bundle_decode(data));
