//! `vigil_schema`: the host schema a deployer binds bundles to, one shipped with Vigil
//! (`endpoint`, `linux-ebpf`) or parsed from a schema file's text.

use std::ffi::c_char;

use vigil_runtime::Schema;

use crate::status::{clear_out, free, give, guard, text, vigil_status, Error};

/// A host schema. One thread at a time; a deployer takes a copy.
#[derive(Debug)]
pub struct vigil_schema {
    pub(crate) schema: Schema,
}

/// A schema shipped with Vigil, by name: `"endpoint"` (the embedded default) or
/// `"linux-ebpf"`. Another name is `VIGIL_E_UNKNOWN`.
///
/// Threads: one thread at a time per schema.
///
/// # Safety
/// `name` is NULL or `name_len` readable bytes; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vigil_schema_shipped(
    name: *const c_char,
    name_len: usize,
    out: *mut *mut vigil_schema,
) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract.
        unsafe { clear_out(out, "out") }?;
        // SAFETY: the header's contract.
        let name = unsafe { text(name, name_len, "name") }?;
        let schema = Schema::shipped(name).ok_or_else(|| {
            Error::new(
                vigil_status::VIGIL_E_UNKNOWN,
                format!("no shipped schema `{name}` (there are: endpoint, linux-ebpf)"),
            )
        })?;
        // SAFETY: the header's contract.
        unsafe { give(out, vigil_schema { schema }) }
    })
}

/// A schema from the text of a schema file (the format of `stdlib/schema/endpoint.toml`). A
/// malformed one is `VIGIL_E_INVALID` with its E06xx code and the line it is on.
///
/// Threads: one thread at a time per schema.
///
/// # Safety
/// `toml` is NULL or `toml_len` readable bytes; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vigil_schema_from_toml(
    toml: *const c_char,
    toml_len: usize,
    out: *mut *mut vigil_schema,
) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract.
        unsafe { clear_out(out, "out") }?;
        // SAFETY: the header's contract.
        let toml = unsafe { text(toml, toml_len, "toml") }?;
        let schema = Schema::from_toml("<schema>", toml).map_err(|e| Error {
            status: vigil_status::VIGIL_E_INVALID,
            code: Some(e.code.code()),
            message: format!("schema, line {}: {}", e.line, e.message),
        })?;
        // SAFETY: the header's contract.
        unsafe { give(out, vigil_schema { schema }) }
    })
}

/// Frees a schema; NULL does nothing.
///
/// Threads: no other thread may use the handle during or after the call.
///
/// # Safety
/// `schema` is NULL or a schema not freed before.
#[no_mangle]
pub unsafe extern "C" fn vigil_schema_free(schema: *mut vigil_schema) {
    // SAFETY: the header's contract.
    unsafe { free(schema) }
}
