//! Any bytes as a Windows event log file (EVTX) through the input layer's reader: JSON lines
//! with the System keys, or coded input errors (E0720–E0729), never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| vigil_tests::fuzz::evtx_read(data));
