//! Status codes, the thread-local last error, the guard every entry point runs in (no panic
//! crosses into C), and the conversions of C arguments (pointers, lengths, strings) into Rust
//! values, each refusing NULL, an impossible length or invalid UTF-8 with a status.

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use vigil_runtime::engine::EngineKind;
use vigil_runtime::ErrorCode;

/// What every function returns: 0 is success, 1 success with a value cut, negative an error
/// (then [`vigil_last_error_message`] and [`vigil_last_error_code`] say what).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum vigil_status {
    /// Done.
    VIGIL_OK = 0,
    /// Done, but a string was cut to its field's bound (or a list item dropped at the list's
    /// bound) and the field is flagged truncated, which rules can see.
    VIGIL_TRUNCATED = 1,
    /// A required pointer was NULL.
    VIGIL_E_NULL = -1,
    /// A string was not UTF-8.
    VIGIL_E_UTF8 = -2,
    /// A malformed argument: key text, schema, mapping, engine, address, length.
    VIGIL_E_INVALID = -3,
    /// A bundle (update or rollback) was refused; the running one keeps running.
    VIGIL_E_REFUSED = -4,
    /// No such event type or field in the host schema.
    VIGIL_E_UNKNOWN = -5,
    /// The field has another type than the setter's.
    VIGIL_E_TYPE = -6,
    /// A JSON line was refused (an E07xx code).
    VIGIL_E_DECODE = -7,
    /// The event was not evaluated (no bundle active, E0811; or the active one refused it).
    VIGIL_E_DROPPED = -8,
    /// A call out of order: an event built for another deployer's schema.
    VIGIL_E_STATE = -9,
    /// A panic inside Vigil was caught; the handle it ran on stays usable.
    VIGIL_E_PANIC = -10,
}

/// Which evaluator a deployer runs its bundles with (the `engine` argument of
/// `vigil_deployer_new`, passed as a `uint32_t` so that any value is safe to pass).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum vigil_engine {
    /// The JIT when the library was built with it, else the interpreter.
    VIGIL_ENGINE_DEFAULT = 0,
    /// Cranelift-compiled code; `VIGIL_E_INVALID` from a library built without the JIT.
    VIGIL_ENGINE_JIT = 1,
    /// The interpreter: no generated code, for hosts that forbid it.
    VIGIL_ENGINE_INTERPRETER = 2,
}

impl vigil_engine {
    /// The engine a `uint32_t` names, refusing unknown values and a JIT not built in.
    pub(crate) fn kind(raw: u32) -> Result<EngineKind, Error> {
        let kind = match raw {
            0 => EngineKind::fastest(),
            1 => EngineKind::Jit,
            2 => EngineKind::Interp,
            n => {
                return Err(Error::invalid(format!(
                    "engine {n} is none of VIGIL_ENGINE_DEFAULT (0), VIGIL_ENGINE_JIT (1), VIGIL_ENGINE_INTERPRETER (2)"
                )))
            }
        };
        if !kind.is_built() {
            return Err(Error::invalid(
                "this library was built without the JIT (--no-default-features): ask for VIGIL_ENGINE_INTERPRETER or VIGIL_ENGINE_DEFAULT",
            ));
        }
        Ok(kind)
    }

    /// The name the status JSON gives an engine.
    pub(crate) fn name(kind: EngineKind) -> &'static str {
        match kind {
            EngineKind::Jit => "jit",
            EngineKind::Interp => "interpreter",
        }
    }
}

/// An error on its way to the caller: the status, the registry code if there is one, the
/// message.
#[derive(Debug)]
pub(crate) struct Error {
    pub(crate) status: vigil_status,
    pub(crate) code: Option<String>,
    pub(crate) message: String,
}

impl Error {
    pub(crate) fn new(status: vigil_status, message: impl Into<String>) -> Error {
        Error {
            status,
            code: None,
            message: message.into(),
        }
    }

    pub(crate) fn coded(
        status: vigil_status,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> Error {
        Error {
            status,
            code: Some(code.code()),
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Error {
        Error::new(vigil_status::VIGIL_E_INVALID, message)
    }

    pub(crate) fn null(what: &str) -> Error {
        Error::new(vigil_status::VIGIL_E_NULL, format!("`{what}` is NULL"))
    }
}

/// The last error of this thread. `message` and `code` are kept as C strings so that the
/// accessors can hand out pointers that stay valid until the next call on the thread.
struct LastError {
    message: CString,
    code: CString,
}

thread_local! {
    /// Whether [`LAST`] holds this thread's last error. Every call clears it: a constant
    /// initialiser and a `Cell`, so that clearing costs no lazy initialisation and no borrow
    /// on the path every event takes.
    static HAS_LAST: Cell<bool> = const { Cell::new(false) };
    static LAST: RefCell<LastError> = RefCell::new(LastError {
        message: CString::default(),
        code: CString::default(),
    });
}

fn c_string(text: String) -> CString {
    // A message with a NUL inside is cut at it rather than lost.
    CString::new(text).unwrap_or_else(|e| {
        let at = e.nul_position();
        let mut bytes = e.into_vec();
        bytes.truncate(at);
        CString::new(bytes).unwrap_or_default()
    })
}

fn set_last(e: Error) {
    let _ = LAST.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            last.message = c_string(e.message);
            last.code = c_string(e.code.unwrap_or_default());
            let _ = HAS_LAST.try_with(|h| h.set(true));
        }
    });
}

fn clear_last() {
    let _ = HAS_LAST.try_with(|h| h.set(false));
}

/// Runs an entry point: clears the thread's last error, catches any panic (reported as
/// [`vigil_status::VIGIL_E_PANIC`] with its message) and records an error's message and code.
pub(crate) fn guard(f: impl FnOnce() -> Result<vigil_status, Error>) -> vigil_status {
    clear_last();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => {
            let status = e.status;
            set_last(e);
            status
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_string());
            set_last(Error::new(
                vigil_status::VIGIL_E_PANIC,
                format!("a panic inside vigil was caught: {what}"),
            ));
            vigil_status::VIGIL_E_PANIC
        }
    }
}

/// Runs a function that returns nothing (a `_free`), swallowing any panic.
pub(crate) fn guard_void(f: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(f));
}

/// The message of the last error on this thread: NUL-terminated, never NULL (`""` when the
/// last call succeeded), valid until the next `vigil_` call on this thread other than
/// `vigil_last_error_message` and `vigil_last_error_code` (which leave it as it is).
#[no_mangle]
pub extern "C" fn vigil_last_error_message() -> *const c_char {
    last_field(|l| &l.message)
}

/// The registry code of the last error on this thread (`"E0511"`), or `""` when it has none
/// or the last call succeeded. Same lifetime as [`vigil_last_error_message`].
#[no_mangle]
pub extern "C" fn vigil_last_error_code() -> *const c_char {
    last_field(|l| &l.code)
}

fn last_field(pick: fn(&LastError) -> &CString) -> *const c_char {
    const EMPTY: &[u8] = b"\0";
    catch_unwind(|| {
        if !HAS_LAST.try_with(Cell::get).unwrap_or(false) {
            return EMPTY.as_ptr().cast();
        }
        LAST.try_with(|last| match last.try_borrow() {
            Ok(l) => pick(&l).as_ptr(),
            Err(_) => EMPTY.as_ptr().cast(),
        })
        .unwrap_or(EMPTY.as_ptr().cast())
    })
    .unwrap_or(EMPTY.as_ptr().cast())
}

/// Frees a string Vigil returned (`vigil_deployer_status_json`). NULL does nothing.
///
/// # Safety
/// `s` is NULL or a string Vigil returned, not freed before.
#[no_mangle]
pub unsafe extern "C" fn vigil_string_free(s: *mut c_char) {
    guard_void(|| {
        if !s.is_null() {
            // SAFETY: `s` came from `CString::into_raw` (the contract above).
            drop(unsafe { CString::from_raw(s) });
        }
    });
}

/// Panics inside Vigil and returns what any entry point returns when that happens,
/// [`vigil_status::VIGIL_E_PANIC`]: for testing that no panic crosses the boundary.
#[no_mangle]
pub extern "C" fn vigil_debug_panic() -> vigil_status {
    guard(|| panic!("vigil_debug_panic was called"))
}

/// A handle the caller passed, borrowed: NULL is [`Error::null`].
///
/// # Safety
/// `p` is NULL or points to a live `T` (a handle from its `_new`, not freed).
pub(crate) unsafe fn handle<'a, T>(p: *const T, what: &str) -> Result<&'a T, Error> {
    // SAFETY: the caller's contract.
    unsafe { p.as_ref() }.ok_or_else(|| Error::null(what))
}

/// A handle the caller passed, borrowed mutably (one thread at a time, as the header says).
///
/// # Safety
/// As [`handle`], and no other reference to `*p` is live.
pub(crate) unsafe fn handle_mut<'a, T>(p: *mut T, what: &str) -> Result<&'a mut T, Error> {
    // SAFETY: the caller's contract.
    unsafe { p.as_mut() }.ok_or_else(|| Error::null(what))
}

/// A byte buffer the caller passed: NULL with length 0 is empty; NULL with a length is
/// [`Error::null`]; a length no buffer can have is refused.
///
/// # Safety
/// `p` is NULL or points to `len` readable bytes that stay unchanged during the call.
pub(crate) unsafe fn bytes<'a>(p: *const u8, len: usize, what: &str) -> Result<&'a [u8], Error> {
    if p.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(Error::null(what))
        };
    }
    if len > isize::MAX as usize {
        return Err(Error::invalid(format!(
            "`{what}`: a length of {len} bytes is more than any buffer holds"
        )));
    }
    // SAFETY: the caller's contract; the length fits `isize`.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// A UTF-8 string the caller passed as (pointer, length); see [`bytes`].
///
/// # Safety
/// As [`bytes`].
pub(crate) unsafe fn text<'a>(p: *const c_char, len: usize, what: &str) -> Result<&'a str, Error> {
    // SAFETY: the caller's contract, passed on.
    let b = unsafe { bytes(p.cast(), len, what) }?;
    std::str::from_utf8(b).map_err(|e| {
        Error::new(
            vigil_status::VIGIL_E_UTF8,
            format!(
                "`{what}` is not UTF-8: invalid byte at offset {}",
                e.valid_up_to()
            ),
        )
    })
}

/// Stores a new handle in an out pointer.
///
/// # Safety
/// `out` is NULL or points to writable storage for a pointer.
pub(crate) unsafe fn give<T>(out: *mut *mut T, value: T) -> Result<vigil_status, Error> {
    if out.is_null() {
        return Err(Error::null("out"));
    }
    // SAFETY: the caller's contract.
    unsafe { *out = Box::into_raw(Box::new(value)) };
    Ok(vigil_status::VIGIL_OK)
}

/// Checks an out pointer before anything else (a NULL one is [`Error::null`], whatever else
/// is wrong) and sets it to NULL, so that a failed `_new` leaves no stale handle.
///
/// # Safety
/// As [`give`].
pub(crate) unsafe fn clear_out<T>(out: *mut *mut T, what: &str) -> Result<(), Error> {
    if out.is_null() {
        return Err(Error::null(what));
    }
    // SAFETY: the caller's contract.
    unsafe { *out = std::ptr::null_mut() };
    Ok(())
}

/// Frees a handle made by [`give`]; NULL does nothing.
///
/// # Safety
/// `p` is NULL or a handle from [`give`], not freed before.
pub(crate) unsafe fn free<T>(p: *mut T) {
    guard_void(|| {
        if !p.is_null() {
            // SAFETY: the caller's contract.
            drop(unsafe { Box::from_raw(p) });
        }
    });
}
