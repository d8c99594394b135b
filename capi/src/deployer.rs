//! `vigil_deployer`: the running bundle of a C host. Loads and updates bundles from bytes
//! (the running one stays when one is refused), rolls back, reports status as JSON, and runs
//! events, delivering alerts to a C callback. Every function here may be called from any
//! number of threads at once on one deployer.

use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;

use vigil_runtime::budget::Budget;
use vigil_runtime::deploy::{
    DeployOptions, Deployer, UpdateError, UpdateOutcome, MAX_BUNDLE_FILE_BYTES,
};
use vigil_runtime::engine::EngineKind;
use vigil_runtime::ir::Severity;
use vigil_runtime::{Alert, ErrorCode, Event, Schema};

use crate::schema::vigil_schema;
use crate::status::{
    bytes, clear_out, free, give, guard, handle, vigil_engine, vigil_status, Error,
};
use crate::trust::vigil_trust;
use crate::VIGIL_ABI_VERSION;

/// A deployer: the host schema, the trust store, the running bundle and its counters.
/// Thread-safe.
#[derive(Debug)]
pub struct vigil_deployer {
    pub(crate) deployer: Deployer,
    /// The host schema, shared with the builders and decoders made from this deployer (an
    /// event is only run on the deployer whose schema built it).
    pub(crate) schema: Arc<Schema>,
    engine: EngineKind,
}

/// What an update or a rollback did.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum vigil_verdict {
    /// The bundle now runs.
    VIGIL_VERDICT_ACTIVATED = 0,
    /// The same bundle already ran: nothing changed.
    VIGIL_VERDICT_UNCHANGED = 1,
    /// Refused (see `vigil_last_error_code`); the running bundle keeps running.
    VIGIL_VERDICT_REFUSED = 2,
}

/// A rule's severity.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum vigil_severity {
    /// `informational`
    VIGIL_SEVERITY_INFORMATIONAL = 0,
    /// `low`
    VIGIL_SEVERITY_LOW = 1,
    /// `medium`
    VIGIL_SEVERITY_MEDIUM = 2,
    /// `high`
    VIGIL_SEVERITY_HIGH = 3,
    /// `critical`
    VIGIL_SEVERITY_CRITICAL = 4,
}

impl From<Severity> for vigil_severity {
    fn from(s: Severity) -> vigil_severity {
        match s {
            Severity::Informational => vigil_severity::VIGIL_SEVERITY_INFORMATIONAL,
            Severity::Low => vigil_severity::VIGIL_SEVERITY_LOW,
            Severity::Medium => vigil_severity::VIGIL_SEVERITY_MEDIUM,
            Severity::High => vigil_severity::VIGIL_SEVERITY_HIGH,
            Severity::Critical => vigil_severity::VIGIL_SEVERITY_CRITICAL,
        }
    }
}

/// One alert, as the callback sees it. Every pointer is valid only during the callback; the
/// strings are not NUL-terminated.
#[repr(C)]
#[derive(Debug)]
pub struct vigil_alert {
    /// The alert as a JSON object (`docs/alerts.md`), without a trailing newline.
    pub json: *const u8,
    /// Its length in bytes.
    pub json_len: usize,
    /// The rule's id.
    pub rule_id: *const u8,
    /// Its length in bytes.
    pub rule_id_len: usize,
    /// The rule's severity.
    pub severity: vigil_severity,
}

/// Called once per alert, on the thread that called `vigil_deployer_process` or
/// `vigil_deployer_process_json`, with the `user` pointer given there.
pub type vigil_alert_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, alert: *const vigil_alert)>;

/// A deployer for host schema `schema` (NULL: the embedded `endpoint` schema) trusting
/// `trust`, running bundles with `engine` (a `vigil_engine` value), with no bundle yet:
/// events are dropped (E0811) until one is loaded. Schema and trust are copied; they may be
/// freed right after.
///
/// Threads: any number of threads may call this on one deployer at once.
///
/// # Safety
/// `schema` and `trust` are NULL or live handles; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vigil_deployer_new(
    schema: *const vigil_schema,
    trust: *const vigil_trust,
    engine: u32,
    out: *mut *mut vigil_deployer,
) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract.
        unsafe { clear_out(out, "out") }?;
        // SAFETY: the header's contract.
        let trust = unsafe { handle(trust, "trust") }?;
        let host = if schema.is_null() {
            Schema::endpoint()
        } else {
            // SAFETY: the header's contract.
            unsafe { handle(schema, "schema") }?.schema.clone()
        };
        let engine = vigil_engine::kind(engine)?;
        let options = DeployOptions {
            engine,
            ..DeployOptions::default()
        };
        let deployer = Deployer::new(
            host.clone(),
            Budget::default(),
            trust.store.clone(),
            options,
        );
        // SAFETY: the header's contract.
        unsafe {
            give(
                out,
                vigil_deployer {
                    deployer,
                    schema: Arc::new(host),
                    engine,
                },
            )
        }
    })
}

/// Replaces the trust store (copied): later updates are checked against it.
///
/// Threads: any number of threads may call this on one deployer at once.
///
/// # Safety
/// `deployer` and `trust` are NULL or live handles.
#[no_mangle]
pub unsafe extern "C" fn vigil_deployer_set_trust(
    deployer: *const vigil_deployer,
    trust: *const vigil_trust,
) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract.
        let (d, trust) = unsafe { (handle(deployer, "deployer")?, handle(trust, "trust")?) };
        d.deployer.set_trust(trust.store.clone());
        Ok(vigil_status::VIGIL_OK)
    })
}

fn verdict_of(outcome: &UpdateOutcome) -> vigil_verdict {
    match outcome {
        UpdateOutcome::Activated { .. } => vigil_verdict::VIGIL_VERDICT_ACTIVATED,
        UpdateOutcome::Unchanged { .. } => vigil_verdict::VIGIL_VERDICT_UNCHANGED,
    }
}

/// A refusal: its code, and its message without the code repeated in front (the lines after
/// the first, other errors of the same bundle, keep theirs).
fn refused(e: &UpdateError) -> Error {
    let code = e.code();
    let text = e.to_string();
    let message = text
        .strip_prefix(&format!("error[{code}]: "))
        .map_or_else(|| text.clone(), str::to_string);
    Error {
        status: vigil_status::VIGIL_E_REFUSED,
        code: Some(code),
        message,
    }
}

/// Writes a verdict where the caller asked for one.
///
/// # Safety
/// `verdict` is NULL or writable.
unsafe fn tell(verdict: *mut vigil_verdict, v: vigil_verdict) {
    if !verdict.is_null() {
        // SAFETY: the caller's contract.
        unsafe { *verdict = v };
    }
}

/// Loads or updates the running bundle from its bytes (copied): checks the signature against
/// the trust store, binds it to the host schema, verifies it under the host's budget and
/// swaps it in between events. Refused: `VIGIL_E_REFUSED`, `*verdict` =
/// `VIGIL_VERDICT_REFUSED`, the last error's code says why (E05xx bundle, E06xx binding, E04xx
/// verifier, E08xx deployment), and the running bundle keeps running. `verdict` may be NULL.
///
/// Threads: any number of threads may call this on one deployer at once.
///
/// # Safety
/// `deployer` is NULL or live; `bundle` is NULL or `bundle_len` readable bytes; `verdict` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vigil_deployer_update(
    deployer: *const vigil_deployer,
    bundle: *const u8,
    bundle_len: usize,
    verdict: *mut vigil_verdict,
) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract.
        unsafe { tell(verdict, vigil_verdict::VIGIL_VERDICT_REFUSED) };
        // SAFETY: the header's contract.
        let d = unsafe { handle(deployer, "deployer") }?;
        if bundle_len as u64 > MAX_BUNDLE_FILE_BYTES {
            let e = UpdateError::refused(
                ErrorCode::BundleFileRefused,
                format!(
                    "the bundle is {bundle_len} bytes, more than a bundle can be ({MAX_BUNDLE_FILE_BYTES})"
                ),
            );
            d.deployer.record_refusal(&e, "<bytes>");
            return Err(refused(&e));
        }
        // SAFETY: the header's contract.
        let bytes = unsafe { bytes(bundle, bundle_len, "bundle") }?;
        let outcome = d.deployer.update(bytes).map_err(|e| refused(&e))?;
        // SAFETY: the header's contract.
        unsafe { tell(verdict, verdict_of(&outcome)) };
        Ok(vigil_status::VIGIL_OK)
    })
}

/// Reactivates the last known good bundle: the one the last update replaced. Refused (E0813)
/// when there is none; the running bundle keeps running.
///
/// Threads: any number of threads may call this on one deployer at once.
///
/// # Safety
/// `deployer` is NULL or live; `verdict` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vigil_deployer_rollback(
    deployer: *const vigil_deployer,
    verdict: *mut vigil_verdict,
) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract.
        unsafe { tell(verdict, vigil_verdict::VIGIL_VERDICT_REFUSED) };
        // SAFETY: the header's contract.
        let d = unsafe { handle(deployer, "deployer") }?;
        let outcome = d.deployer.rollback().map_err(|e| refused(&e))?;
        // SAFETY: the header's contract.
        unsafe { tell(verdict, verdict_of(&outcome)) };
        Ok(vigil_status::VIGIL_OK)
    })
}

/// The deployer's status as a NUL-terminated JSON object, to free with `vigil_string_free`:
/// `version`, `abi_version`, `engine` (`"jit"` or `"interpreter"`), `schema`, then what
/// `vigil agent` writes to `status.json`: `active`, `lkg`, `events` (`received`, `evaluated`,
/// `dropped` by code), `alerts` (`total`, `shadow`, `per_rule`), `updates` (`accepted`,
/// `refused` by code, `last_refusal`), `log`, ... (`docs/deployment.md`). `len` (may be NULL) gets its length without the NUL.
///
/// Threads: any number of threads may call this on one deployer at once.
///
/// # Safety
/// `deployer` is NULL or live; `json` is NULL or writable; `len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vigil_deployer_status_json(
    deployer: *const vigil_deployer,
    json: *mut *mut c_char,
    len: *mut usize,
) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract.
        unsafe { clear_out(json, "json") }?;
        // SAFETY: the header's contract.
        let d = unsafe { handle(deployer, "deployer") }?;
        let text = status_json(d);
        let n = text.len();
        let c =
            CString::new(text).map_err(|_| Error::invalid("the status has a NUL byte in it"))?;
        // SAFETY: the header's contract.
        unsafe {
            *json = c.into_raw();
            if !len.is_null() {
                *len = n;
            }
        }
        Ok(vigil_status::VIGIL_OK)
    })
}

/// The status object (see [`vigil_deployer_status_json`]).
pub fn status_json(d: &vigil_deployer) -> String {
    let mut out = serde_json::Map::new();
    out.insert("version".into(), env!("CARGO_PKG_VERSION").into());
    out.insert("abi_version".into(), VIGIL_ABI_VERSION.into());
    out.insert("engine".into(), vigil_engine::name(d.engine).into());
    out.insert("schema".into(), d.schema.label().into());
    if let Ok(serde_json::Value::Object(status)) = serde_json::to_value(d.deployer.status()) {
        out.extend(status);
    }
    serde_json::Value::Object(out).to_string()
}

/// Runs `event` on the deployer, calling `on_alert` for each alert.
pub(crate) fn run(
    d: &vigil_deployer,
    event: &Event<'_>,
    on_alert: vigil_alert_fn,
    user: *mut c_void,
) -> Result<usize, Error> {
    let mut deliver = |a: &Alert| {
        if let Some(f) = on_alert {
            let json = a.to_json_line();
            let json = json.trim_end_matches('\n');
            let alert = vigil_alert {
                json: json.as_ptr(),
                json_len: json.len(),
                rule_id: a.rule.as_ptr(),
                rule_id_len: a.rule.len(),
                severity: a.severity.into(),
            };
            // SAFETY: the callback's contract (header): called with the user pointer the
            // caller gave and an alert valid for the call.
            unsafe { f(user, &alert) };
        }
    };
    let processed = d.deployer.process(event, &mut deliver);
    if processed.evaluated {
        return Ok(processed.alerts);
    }
    Err(match processed.bundle {
        None => Error::coded(
            vigil_status::VIGIL_E_DROPPED,
            ErrorCode::NoActiveBundle,
            "event dropped: no bundle is active (load one with vigil_deployer_update)",
        ),
        Some(_) => Error::coded(
            vigil_status::VIGIL_E_DROPPED,
            ErrorCode::EventRefused,
            "event dropped: it does not fit the active bundle",
        ),
    })
}

/// Writes an alert count where the caller asked for one.
///
/// # Safety
/// `alerts` is NULL or writable.
pub(crate) unsafe fn count(alerts: *mut usize, n: usize) {
    if !alerts.is_null() {
        // SAFETY: the caller's contract.
        unsafe { *alerts = n };
    }
}

/// Frees a deployer and its bundles; NULL does nothing. Builders, events and decoders made
/// from it stay valid (they share its schema) but can run on no other deployer.
///
/// Threads: no other thread may use the handle during or after the call.
///
/// # Safety
/// `deployer` is NULL or a deployer not freed before, used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn vigil_deployer_free(deployer: *mut vigil_deployer) {
    // SAFETY: the header's contract.
    unsafe { free(deployer) }
}
