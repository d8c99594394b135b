//! `vigil_decoder`: events from JSON lines for C hosts that already have JSON, in the native
//! form (`{"event": "process_start", ...}`, as `examples/events/sample.jsonl`) or through a
//! mapping (shipped `sysmon` and `windows`, or a mapping file's text); with no mapping named,
//! each record's form is told by its shape, as `vigil run` does without `--mapping`.
//! `vigil_deployer_process_json` decodes a line and runs its events. One thread at a time per
//! decoder.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use vigil_runtime::{Decoder, Event, Mapping, Schema};

use crate::deployer::{count, run, vigil_alert_fn, vigil_deployer};
use crate::status::{clear_out, free, give, guard, handle, handle_mut, text, vigil_status, Error};

/// A JSON-lines decoder for one deployer's host schema. One thread at a time.
pub struct vigil_decoder {
    decoder: Decoder,
    /// Events of earlier lines, emptied, for the next line's to reuse.
    spare: Vec<Event<'static>>,
    line_no: u64,
    schema: Arc<Schema>,
}

impl std::fmt::Debug for vigil_decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("vigil_decoder")
            .field("line_no", &self.line_no)
            .finish_non_exhaustive()
    }
}

fn mapping_error(e: vigil_runtime::DecodeError) -> Error {
    Error {
        status: vigil_status::VIGIL_E_INVALID,
        code: Some(e.code.code()),
        message: e.message,
    }
}

/// How a decoder reads records.
enum Form {
    /// By shape ([`Decoder::auto`]): native records by their `event` key, Windows records
    /// through the built-in `windows` mapping.
    Shape,
    /// Vigil's native form only.
    Native,
    /// Through a mapping.
    Mapped(Mapping),
}

fn make(d: &vigil_deployer, form: Form) -> Result<vigil_decoder, Error> {
    let decoder = match form {
        Form::Shape => Decoder::auto(&d.schema),
        Form::Native => Decoder::native(&d.schema),
        Form::Mapped(m) => Decoder::with_mapping(&d.schema, &m).map_err(mapping_error)?,
    };
    Ok(vigil_decoder {
        decoder,
        spare: Vec::new(),
        line_no: 0,
        schema: Arc::clone(&d.schema),
    })
}

/// A decoder for the deployer's host schema. `mapping`: NULL or `""` to tell each record's
/// form by its shape (a record with an `event` key is native, one with `Channel`/`EventID` a
/// Windows event read through the shipped `windows` mapping, where a record no route takes
/// is `VIGIL_E_DECODE` with E0710), `"native"` for the native form only, `"sysmon"` or
/// `"windows"` for the shipped mappings (Windows event logs as JSON, the keys of
/// `docs/mappings.md`); another name is `VIGIL_E_INVALID`.
///
/// Threads: one thread at a time per decoder (the deployer may be shared).
///
/// # Safety
/// `deployer` is NULL or live; `mapping` is NULL or `mapping_len` readable bytes; `out` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vigil_decoder_new(
    deployer: *const vigil_deployer,
    mapping: *const c_char,
    mapping_len: usize,
    out: *mut *mut vigil_decoder,
) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract.
        unsafe { clear_out(out, "out") }?;
        // SAFETY: the header's contract.
        let (d, name) = unsafe {
            (
                handle(deployer, "deployer")?,
                text(mapping, mapping_len, "mapping")?,
            )
        };
        let form = match name {
            "" => Form::Shape,
            "native" => Form::Native,
            name => Form::Mapped(Mapping::builtin(name).map_err(mapping_error)?),
        };
        let decoder = make(d, form)?;
        // SAFETY: the header's contract.
        unsafe { give(out, decoder) }
    })
}

/// A decoder through a mapping given as a mapping file's TOML text (`docs/mappings.md`); a
/// malformed one is `VIGIL_E_INVALID` with its code.
///
/// Threads: one thread at a time per decoder (the deployer may be shared).
///
/// # Safety
/// `deployer` is NULL or live; `toml` is NULL or `toml_len` readable bytes; `out` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn vigil_decoder_new_toml(
    deployer: *const vigil_deployer,
    toml: *const c_char,
    toml_len: usize,
    out: *mut *mut vigil_decoder,
) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract.
        unsafe { clear_out(out, "out") }?;
        // SAFETY: the header's contract.
        let (d, toml) = unsafe { (handle(deployer, "deployer")?, text(toml, toml_len, "toml")?) };
        let mapping = Mapping::from_toml("<mapping>", toml).map_err(mapping_error)?;
        let decoder = make(d, Form::Mapped(mapping))?;
        // SAFETY: the header's contract.
        unsafe { give(out, decoder) }
    })
}

/// Names the input in the alerts of later lines (`source.file`, beside `source.line`) and
/// restarts the line count: the next line is line 1 of this file. NULL or `""` clears the
/// name (and restarts the count too).
///
/// Threads: one thread at a time per decoder (the deployer may be shared).
///
/// # Safety
/// `decoder` is NULL or live; `file` is NULL or `file_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn vigil_decoder_set_file(
    decoder: *mut vigil_decoder,
    file: *const c_char,
    file_len: usize,
) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract.
        let (dec, file) = unsafe {
            (
                handle_mut(decoder, "decoder")?,
                text(file, file_len, "file")?,
            )
        };
        dec.decoder.set_file((!file.is_empty()).then_some(file));
        dec.line_no = 0;
        Ok(vigil_status::VIGIL_OK)
    })
}

/// Decodes one JSON line and runs its events (none for a blank line or one the mapping does
/// not route; sometimes more than one) through the deployer, as `vigil_deployer_process`
/// does, adding their alerts into `*alerts`. A line that does not decode is
/// `VIGIL_E_DECODE` with its E07xx code, and is counted as received and dropped. Invalid
/// UTF-8 inside a line is repaired, not refused (the values are flagged truncated).
///
/// Threads: one thread at a time per decoder (the deployer may be shared).
///
/// # Safety
/// `deployer` and `decoder` are NULL or live (the decoder used by this thread only); `line`
/// is NULL or `line_len` readable bytes; `alerts` is NULL or writable; `on_alert` is NULL or
/// a function safe to call with `user`.
#[no_mangle]
pub unsafe extern "C" fn vigil_deployer_process_json(
    deployer: *const vigil_deployer,
    decoder: *mut vigil_decoder,
    line: *const c_char,
    line_len: usize,
    on_alert: vigil_alert_fn,
    user: *mut c_void,
    alerts: *mut usize,
) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract.
        unsafe { count(alerts, 0) };
        // SAFETY: the header's contract.
        let (d, dec, line) = unsafe {
            (
                handle(deployer, "deployer")?,
                handle_mut(decoder, "decoder")?,
                crate::status::bytes(line.cast(), line_len, "line")?,
            )
        };
        if !Arc::ptr_eq(&dec.schema, &d.schema) {
            return Err(Error::new(
                vigil_status::VIGIL_E_STATE,
                "the decoder was made for another deployer",
            ));
        }
        dec.line_no += 1;
        let mut out = std::mem::take(&mut dec.spare);
        let decoded = dec.decoder.decode_line(line, dec.line_no, &mut out);
        let mut total = 0usize;
        let mut first_error = None;
        for ev in &out {
            match run(d, ev, on_alert, user) {
                Ok(n) => total += n,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        dec.spare = dec.decoder.recycle(out);
        // SAFETY: the header's contract.
        unsafe { count(alerts, total) };
        if let Err(e) = decoded {
            let code = e.code.code();
            d.deployer.record_dropped(&code);
            return Err(Error {
                status: vigil_status::VIGIL_E_DECODE,
                code: Some(code),
                message: format!("line {}: {}", dec.line_no, e.message),
            });
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(vigil_status::VIGIL_OK),
        }
    })
}

/// Frees a decoder; NULL does nothing.
///
/// Threads: no other thread may use the handle during or after the call.
///
/// # Safety
/// `decoder` is NULL or a decoder not freed before.
#[no_mangle]
pub unsafe extern "C" fn vigil_decoder_free(decoder: *mut vigil_decoder) {
    // SAFETY: the header's contract.
    unsafe { free(decoder) }
}
