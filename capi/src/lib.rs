//! Vigil's C API: the runtime (`vigil-runtime`) as a C library for endpoint agents written in C
//! or C++ (`libvigil_capi.so`, `libvigil_capi.a`, `vigil_capi.dll`), with the header
//! `include/vigil.h` generated from this crate by cbindgen.
//!
//! What a C agent does, and where it lives:
//! - [`trust`]: the keys it trusts and the ids it has revoked (`vigil_trust_*`);
//! - [`schema`]: its host schema, shipped or from a file's text (`vigil_schema_*`);
//! - [`deployer`]: the running bundle, its updates, rollbacks and status, and the processing
//!   of events with alerts delivered to a callback (`vigil_deployer_*`);
//! - [`event`]: events built by hand through a builder, fields resolved once by name and set
//!   by handle (`vigil_builder_*`, `vigil_event_*`);
//! - [`json`]: events decoded from JSON lines, native or through a mapping (`vigil_decoder_*`);
//! - [`status`]: status codes, the thread-local last error, the panic guard every entry point
//!   runs in, and the helpers that turn C arguments into Rust values.
//!
//! The rules every function keeps (`docs/embedding.md` says them for C programmers): each
//! returns a [`vigil_status`]; any pointer may be NULL (a required one gives
//! [`vigil_status::VIGIL_E_NULL`]); strings are (pointer, length) pairs that must be UTF-8;
//! no panic crosses the boundary; every handle has its `_free`, which takes NULL.
//!
//! Safety: this crate is the one place the project writes `unsafe` for a foreign caller. Each
//! `unsafe` block dereferences a pointer the C caller passed, under the contract the header
//! states (a handle from its `_new`, not yet freed; a buffer of the length given); the
//! conversions are gathered in [`status`] so the entry points read as plain Rust.

#![allow(unsafe_code)]
#![allow(non_camel_case_types)]

pub mod deployer;
pub mod event;
pub mod json;
pub mod schema;
pub mod status;
pub mod trust;

pub use deployer::{vigil_alert, vigil_alert_fn, vigil_deployer, vigil_severity, vigil_verdict};
pub use event::{vigil_builder, vigil_event, vigil_field};
pub use json::vigil_decoder;
pub use schema::vigil_schema;
pub use status::{vigil_engine, vigil_status};
pub use trust::vigil_trust;

/// The ABI version of this header and library. It changes only when a function's signature or
/// a type's layout changes incompatibly; additions keep it (`docs/embedding.md`).
pub const VIGIL_ABI_VERSION: u32 = 1;

/// The library's ABI version ([`VIGIL_ABI_VERSION`] when it was built): a host compiled
/// against one header checks it at start.
#[no_mangle]
pub extern "C" fn vigil_abi_version() -> u32 {
    VIGIL_ABI_VERSION
}

/// The library's version, `"0.1.0"`: static, NUL-terminated.
#[no_mangle]
pub extern "C" fn vigil_version() -> *const std::ffi::c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
