//! `vigil_trust`: the keys a C host trusts, the key ids it has revoked, and whether it loads
//! unsigned bundles (development only). A deployer takes a copy.

use std::ffi::c_char;

use vigil_runtime::bundle::{parse_public_key_text, KeyId, TrustStore};
use vigil_runtime::ErrorCode;

use crate::status::{clear_out, free, give, guard, handle_mut, text, vigil_status, Error};

/// A trust store. One thread at a time.
#[derive(Debug, Default)]
pub struct vigil_trust {
    pub(crate) store: TrustStore,
}

/// An empty trust store: it refuses every bundle until a key is added.
///
/// Threads: one thread at a time per trust store.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vigil_trust_new(out: *mut *mut vigil_trust) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract on `out`.
        unsafe {
            clear_out(out, "out")?;
            give(out, vigil_trust::default())
        }
    })
}

/// Trusts a public key: the text of a `vigil keygen` `NAME.pub` file (whitespace around it is
/// ignored). A malformed key is `VIGIL_E_INVALID` with its code.
///
/// Threads: one thread at a time per trust store.
///
/// # Safety
/// `trust` is NULL or a live trust store; `key` is NULL or `key_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn vigil_trust_add_key(
    trust: *mut vigil_trust,
    key: *const c_char,
    key_len: usize,
) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract.
        let (trust, key) = unsafe { (handle_mut(trust, "trust")?, text(key, key_len, "key")?) };
        let parsed = parse_public_key_text(key.trim()).map_err(|e| Error {
            status: vigil_status::VIGIL_E_INVALID,
            code: Some(e.code.code()),
            message: e.message,
        })?;
        trust.store.trust(parsed);
        Ok(vigil_status::VIGIL_OK)
    })
}

/// Revokes a key id (16 hex digits, as `vigil verify` prints it): bundles it signed are
/// refused even when the key is also trusted.
///
/// Threads: one thread at a time per trust store.
///
/// # Safety
/// `trust` is NULL or a live trust store; `key_id` is NULL or `key_id_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn vigil_trust_revoke(
    trust: *mut vigil_trust,
    key_id: *const c_char,
    key_id_len: usize,
) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract.
        let (trust, id) = unsafe {
            (
                handle_mut(trust, "trust")?,
                text(key_id, key_id_len, "key_id")?,
            )
        };
        let parsed = KeyId::parse(id.trim()).ok_or_else(|| {
            Error::coded(
                vigil_status::VIGIL_E_INVALID,
                ErrorCode::BadKeyFile,
                format!("`{}` is not a key id (16 hex digits)", id.trim()),
            )
        })?;
        trust.store.revoke(parsed);
        Ok(vigil_status::VIGIL_OK)
    })
}

/// Whether unsigned bundles load (development only; off by default).
///
/// Threads: one thread at a time per trust store.
///
/// # Safety
/// `trust` is NULL or a live trust store.
#[no_mangle]
pub unsafe extern "C" fn vigil_trust_allow_unsigned(
    trust: *mut vigil_trust,
    allow: bool,
) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract.
        let trust = unsafe { handle_mut(trust, "trust")? };
        trust.store.allow_unsigned = allow;
        Ok(vigil_status::VIGIL_OK)
    })
}

/// Frees a trust store; NULL does nothing.
///
/// Threads: no other thread may use the handle during or after the call.
///
/// # Safety
/// `trust` is NULL or a trust store not freed before.
#[no_mangle]
pub unsafe extern "C" fn vigil_trust_free(trust: *mut vigil_trust) {
    // SAFETY: the header's contract.
    unsafe { free(trust) }
}
