//! The end-to-end and conformance tests across the Vigil crates: one test binary, one module
//! per suite. The data-driven suites ([`ui`], [`ir`], [`run`], [`sigma`]) walk a folder of cases
//! with `vigil_test_support::golden`: adding a case is adding a file, and `VIGIL_BLESS=1 cargo
//! test -p vigil-tests` rewrites the expected files. [`tidy`] and [`cycles`] check the
//! workspace's sources themselves.

mod cli_bundle;
mod cycles;
mod differential;
mod embed;
mod evtx;
mod examples_compile;
mod examples_linux;
mod fmt;
mod fuzz_front;
mod fuzz_regressions;
mod ir;
mod overlap;
mod projection;
mod run;
mod sigma;
mod sigma_conformance;
mod sigma_linux;
mod stateful;
mod stdlib_doc;
mod tidy;
mod ui;
mod why;
