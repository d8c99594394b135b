//! The `extern "C"` helpers that compiled rules call for the heavy operations: string tests,
//! constant string lists, list membership, regex search and builtin calls.
//!
//! Input: raw words from the compiled code (pointers and lengths of strings, slot arrays, ids
//! into the program's prepared tables, the per-call [`EvalCtx`]); output: a `u32`, `0`/`1` for
//! a boolean result or [`STATUS_PANIC`] / [`STATUS_ERROR`] (see `jit/mod.rs`). Each helper
//! wraps its body in [`std::panic::catch_unwind`], because a panic must never unwind through an
//! `extern "C"` frame or JIT code (it would abort the process).
//!
//! One algorithm, two calling conventions: every test here calls the very functions the
//! interpreter calls (`ops::str_test`, `ops::member_eq`, `casefold::fold_str`, the
//! builtin registry's `eval`), in the same arrangement, never a copy. What this module must not
//! do is decide semantics of its own.

use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::{EvalCtx, STATUS_ERROR, STATUS_PANIC};
use std::cell::RefCell;

use crate::casefold::{fold_into, fold_str};
use crate::event::Slot;
use crate::ir::{Quant, StrTest};
use crate::ops::{member_eq, str_test};
use crate::types::Scalar;
use crate::value::Value;

/// Runs `f`, turning its result into `0`/`1` and a panic into [`STATUS_PANIC`].
fn guard_bool(f: impl FnOnce() -> bool) -> u32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(b) => u32::from(b),
        Err(_) => STATUS_PANIC,
    }
}

/// Runs `f` (which returns a status itself), turning a panic into [`STATUS_PANIC`].
fn guard_status(f: impl FnOnce() -> u32) -> u32 {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(STATUS_PANIC)
}

/// The string of `len` bytes at address `ptr`.
///
/// # Safety
///
/// Unless `len` is 0, `ptr` must point at `len` bytes of valid UTF-8 that stay alive and
/// unchanged for `'a`. Compiled code passes only (a) the two words of a string slot or list
/// item of the event being evaluated (the event builder writes them from a live `&str` the
/// event owns or borrows, `len <= max_len`, and nothing moves until the event is recycled,
/// which needs `&mut Event` while `eval` holds `&Event`), (b) a constant of the program's
/// prepared tables (owned by the `JitProgram` whose code is running), or (c) a builtin result
/// in the per-call scratch of the [`EvalCtx`] (kept until the call ends).
unsafe fn str_at<'a>(ptr: u64, len: u64) -> &'a str {
    if len == 0 {
        // An absent field has address 0; a slice needs a non-null pointer even when empty.
        return "";
    }
    // SAFETY: the caller's contract above: `len` bytes of valid UTF-8 at `ptr`, alive for 'a.
    unsafe {
        std::str::from_utf8_unchecked(std::slice::from_raw_parts(ptr as *const u8, len as usize))
    }
}

/// The `count` slots at address `ptr`.
///
/// # Safety
///
/// Unless `count` is 0, `ptr` must point at `count` initialised [`Slot`]s alive for `'a`: the
/// two words of a list field's slot (the event builder writes the address of the field's first
/// item and the item count, `<= max_items`) or a constant list prepared by `jit::compile`.
unsafe fn slots_at<'a>(ptr: u64, count: u64) -> &'a [Slot] {
    if count == 0 {
        return &[];
    }
    // SAFETY: the caller's contract above.
    unsafe { std::slice::from_raw_parts(ptr as *const Slot, count as usize) }
}

/// The context of the running call.
///
/// # Safety
///
/// `ctx` must be the `*mut EvalCtx` the compiled function was given: `JitProgram::eval` passes
/// a context it holds exclusively (taken from its pool) for the whole call, and compiled code
/// passes it through unchanged; no two helpers run at once on one call.
unsafe fn ctx_at<'a>(ctx: *mut EvalCtx) -> &'a mut EvalCtx {
    // SAFETY: the caller's contract above: `ctx` is valid and exclusively ours for the call.
    unsafe { &mut *ctx }
}

/// Encodes a string test for [`vigil_str_test`] and friends: `op | fold << 2 | all << 3`.
pub(crate) fn encode_test(op: StrTest, fold: bool, quant: Quant) -> u32 {
    let op = match op {
        StrTest::Eq => 0,
        StrTest::Contains => 1,
        StrTest::StartsWith => 2,
        StrTest::EndsWith => 3,
    };
    op | u32::from(fold) << 2 | u32::from(quant == Quant::All) << 3
}

/// Decodes [`encode_test`].
fn decode_test(code: u32) -> (StrTest, bool, Quant) {
    let op = match code & 3 {
        0 => StrTest::Eq,
        1 => StrTest::Contains,
        2 => StrTest::StartsWith,
        _ => StrTest::EndsWith,
    };
    let quant = if code & 8 != 0 {
        Quant::All
    } else {
        Quant::Any
    };
    (op, code & 4 != 0, quant)
}

thread_local! {
    /// Reused buffers for case folding inside helpers: folding a subject with upper-case
    /// letters must not allocate per call (see `runtime/tests/runtime/alloc_jit.rs`).
    static FOLD_BUFS: RefCell<(String, String)> = const { RefCell::new((String::new(), String::new())) };
}

/// Runs `f` on `a` and `b` case-folded into the thread's reused buffers (allocating only the
/// first time a buffer grows, or when re-entered).
fn with_folded<R>(a: &str, b: &str, f: impl FnOnce(&str, &str) -> R) -> R {
    FOLD_BUFS.with(|bufs| match bufs.try_borrow_mut() {
        Ok(mut bufs) => {
            let (fa, fb) = &mut *bufs;
            fold_into(a, fa);
            fold_into(b, fb);
            f(fa, fb)
        }
        Err(_) => f(&fold_str(a), &fold_str(b)),
    })
}

/// `a OP b` on strings (`contains`, `istartswith`, `ieq`, ...).
pub(crate) extern "C" fn vigil_str_test(
    code: u32,
    a_ptr: u64,
    a_len: u64,
    b_ptr: u64,
    b_len: u64,
) -> u32 {
    guard_bool(|| {
        let (op, fold, _) = decode_test(code);
        // SAFETY: both are strings the compiled code read from a slot, a constant or the
        // scratch (see `str_at`).
        let (a, b) = unsafe { (str_at(a_ptr, a_len), str_at(b_ptr, b_len)) };
        // As the interpreter: fold both sides, then the plain test.
        if fold {
            with_folded(a, b, |a, b| str_test(op, a, b))
        } else {
            str_test(op, a, b)
        }
    })
}

/// `s OP any|all LIST` against the program's prepared constant string list `list`.
pub(crate) extern "C" fn vigil_str_list(
    ctx: *mut EvalCtx,
    list: u64,
    code: u32,
    ptr: u64,
    len: u64,
) -> u32 {
    guard_status(|| {
        let (op, fold, quant) = decode_test(code);
        // SAFETY: `ctx` is the call's context (see `ctx_at`).
        let ctx = unsafe { ctx_at(ctx) };
        // SAFETY: a string read from a slot, a constant or the scratch (see `str_at`).
        let s = unsafe { str_at(ptr, len) };
        // The interpreter's own prepared list: its items, and folded once.
        let Some((_, items)) = usize::try_from(list)
            .ok()
            .and_then(|i| ctx.interp.prepared_list(i))
        else {
            return STATUS_ERROR;
        };
        // As the interpreter: the subject folded once against the folded items.
        let hit = |pat: &str, s: &str| str_test(op, s, pat);
        let b = if fold {
            with_folded(s, "", |s, _| match quant {
                Quant::Any => items.folded.iter().any(|pat| hit(pat, s)),
                Quant::All => items.folded.iter().all(|pat| hit(pat, s)),
            })
        } else {
            match quant {
                Quant::Any => items
                    .values
                    .iter()
                    .any(|pat| hit(pat.as_str().unwrap_or_default(), s)),
                Quant::All => items
                    .values
                    .iter()
                    .all(|pat| hit(pat.as_str().unwrap_or_default(), s)),
            }
        };
        u32::from(b)
    })
}

/// Membership of a scalar (`a`, `b` its two words as in a slot) in the prepared constant list
/// `list` (strings, ints, ips, or cidrs for a network match).
pub(crate) extern "C" fn vigil_member_const(
    ctx: *mut EvalCtx,
    list: u64,
    fold: u32,
    a: u64,
    b: u64,
) -> u32 {
    guard_status(|| {
        // SAFETY: `ctx` is the call's context (see `ctx_at`).
        let ctx = unsafe { ctx_at(ctx) };
        // The interpreter's own prepared list (string items folded once, as it reads them).
        let Some((elem, prepared)) = usize::try_from(list)
            .ok()
            .and_then(|i| ctx.interp.prepared_list(i))
        else {
            return STATUS_ERROR;
        };
        let elem = match elem {
            // SAFETY: for a string element, (a, b) are a string's address and length read from
            // a slot, a constant or the scratch (see `str_at`).
            Scalar::Str => Value::Str(Cow::Borrowed(unsafe { str_at(a, b) })),
            Scalar::Int => Value::Int(a as i64),
            Scalar::Bool => Value::Bool(a != 0),
            Scalar::Ip | Scalar::Cidr => Value::Ip(Slot { w0: a, w1: b }.to_ip()),
        };
        // As the interpreter: folded string lists compare folded; everything else through
        // `member_eq` (ips canonical, `ip in [cidr]` a network match).
        let fold = fold != 0;
        let hit = if fold && !prepared.folded.is_empty() {
            with_folded(elem.as_str().unwrap_or_default(), "", |s, _| {
                prepared.folded.iter().any(|item| item == s)
            })
        } else {
            prepared
                .values
                .iter()
                .any(|item| member_eq(&elem, item, fold))
        };
        u32::from(hit)
    })
}

/// Membership of a scalar (`a`, `b` its two words) in a list of `count` slots at `items` (a
/// list field of the event) whose item type is `elem` (0 string, 1 int, 2 ip).
pub(crate) extern "C" fn vigil_member_slots(
    items: u64,
    count: u64,
    elem: u32,
    fold: u32,
    a: u64,
    b: u64,
) -> u32 {
    guard_bool(|| {
        // SAFETY: `items`/`count` are the two words of a list field's slot (see `slots_at`).
        let items = unsafe { slots_at(items, count) };
        let scalar = match elem {
            0 => Scalar::Str,
            1 => Scalar::Int,
            _ => Scalar::Ip,
        };
        let a = item_value(scalar, Slot { w0: a, w1: b });
        // As the interpreter: each item read as a value, then `member_eq`.
        items
            .iter()
            .any(|item| member_eq(&a, &item_value(scalar, *item), fold != 0))
    })
}

/// Regex search of the program's regex `regex` in the string at `ptr`/`len`, with the call's
/// cache.
pub(crate) extern "C" fn vigil_regex(ctx: *mut EvalCtx, regex: u64, ptr: u64, len: u64) -> u32 {
    guard_status(|| {
        // SAFETY: `ctx` is the call's context (see `ctx_at`).
        let ctx = unsafe { ctx_at(ctx) };
        // SAFETY: a string read from a slot, a constant or the scratch (see `str_at`).
        let s = unsafe { str_at(ptr, len) };
        let Ok(ix) = usize::try_from(regex) else {
            return STATUS_ERROR;
        };
        let (Some(re), Some(cache)) = (ctx.interp.regexes().get(ix), ctx.caches.get_mut(ix)) else {
            return STATUS_ERROR;
        };
        // The interpreter's `is_match`, with this call's cache instead of the regex's pool.
        u32::from(re.is_match_with(cache, s))
    })
}

/// Calls the builtin of the program's call `call` (a `CallId`, bound by the interpreter's own
/// table) on `nargs` argument slots at `args`, read as `kinds` says ([`encode_kinds`]),
/// writing the result into `*out` (a string result points into the call's scratch).
pub(crate) extern "C" fn vigil_call(
    ctx: *mut EvalCtx,
    call: u64,
    kinds: u64,
    args: u64,
    nargs: u64,
    out: u64,
) -> u32 {
    guard_status(|| {
        // SAFETY: `ctx` is the call's context (see `ctx_at`).
        let ctx = unsafe { ctx_at(ctx) };
        let Some(row) = usize::try_from(call)
            .ok()
            .and_then(|i| ctx.interp.builtin_row(i))
        else {
            return STATUS_ERROR;
        };
        let Some(n) = usize::try_from(nargs).ok().filter(|&n| n <= MAX_KINDS) else {
            return STATUS_ERROR;
        };
        let eval = ctx.call_override.unwrap_or(row.eval);
        // SAFETY: compiled code passes the address of a stack array of `nargs` slots that it
        // has just filled.
        let arg_slots = unsafe { slots_at(args, nargs) };
        let mut values: Vec<Value<'_>> = Vec::with_capacity(arg_slots.len());
        for (i, slot) in arg_slots.iter().enumerate().take(n) {
            let Some(ty) = decode_kind(kinds >> (4 * i)) else {
                return STATUS_ERROR;
            };
            values.push(match ty {
                ArgKind::Bool => Value::Bool(slot.w0 != 0),
                ArgKind::Int => Value::Int(slot.w0 as i64),
                // SAFETY: a string read from a slot, a constant or the scratch.
                ArgKind::Str => Value::Str(Cow::Borrowed(unsafe { str_at(slot.w0, slot.w1) })),
                ArgKind::Ip => Value::Ip(slot.to_ip()),
                ArgKind::List(elem) => {
                    // SAFETY: the two words of a list field's slot or a prepared constant list.
                    let items = unsafe { slots_at(slot.w0, slot.w1) };
                    Value::List(items.iter().map(|item| item_value(elem, *item)).collect())
                }
            });
        }
        let result = eval(&values);
        let Some(out) = std::ptr::NonNull::new(out as *mut Slot) else {
            return STATUS_ERROR;
        };
        let slot = match result {
            Value::Bool(b) => Slot::from_bool(b),
            Value::Int(i) => Slot::from_int(i),
            Value::Ip(ip) => Slot::from_ip(ip),
            Value::Str(s) => {
                let kept = ctx.keep(s);
                Slot::for_str(kept)
            }
            Value::Cidr(_) | Value::List(_) => return STATUS_ERROR,
        };
        // SAFETY: `out` is the address of a slot on the compiled function's stack, written
        // only here, aligned to 8 bytes (a Cranelift stack slot of 16 bytes, align 8).
        unsafe { out.as_ptr().write(slot) };
        0
    })
}

/// A slot (list item or scalar words) as a value of type `elem`.
fn item_value<'a>(elem: Scalar, item: Slot) -> Value<'a> {
    match elem {
        Scalar::Int => Value::Int(item.w0 as i64),
        Scalar::Bool => Value::Bool(item.w0 != 0),
        Scalar::Ip | Scalar::Cidr => Value::Ip(item.to_ip()),
        // SAFETY: string words come from a slot of the event, a prepared constant or the
        // scratch (see `str_at`); callers drop the value before the helper returns.
        Scalar::Str => Value::Str(Cow::Borrowed(unsafe { str_at(item.w0, item.w1) })),
    }
}

/// The most arguments [`encode_kinds`] describes (4 bits each in a `u64`).
const MAX_KINDS: usize = 16;

/// Encodes how each argument slot of a builtin call is read, 4 bits per argument (argument `i`
/// at bits `4i..4i+4`); `None` past [`MAX_KINDS`] arguments.
pub(crate) fn encode_kinds(kinds: &[ArgKind]) -> Option<u64> {
    if kinds.len() > MAX_KINDS {
        return None;
    }
    let mut code = 0u64;
    for (i, k) in kinds.iter().enumerate() {
        let c: u64 = match k {
            ArgKind::Bool => 0,
            ArgKind::Int => 1,
            ArgKind::Str => 2,
            ArgKind::Ip => 3,
            ArgKind::List(Scalar::Bool) => 4,
            ArgKind::List(Scalar::Int) => 5,
            ArgKind::List(Scalar::Str) => 6,
            ArgKind::List(Scalar::Ip) => 7,
            ArgKind::List(Scalar::Cidr) => 8,
        };
        code |= c << (4 * i);
    }
    Some(code)
}

/// Decodes one argument's kind from the low 4 bits of `code` ([`encode_kinds`]).
fn decode_kind(code: u64) -> Option<ArgKind> {
    Some(match code & 0xf {
        0 => ArgKind::Bool,
        1 => ArgKind::Int,
        2 => ArgKind::Str,
        3 => ArgKind::Ip,
        4 => ArgKind::List(Scalar::Bool),
        5 => ArgKind::List(Scalar::Int),
        6 => ArgKind::List(Scalar::Str),
        7 => ArgKind::List(Scalar::Ip),
        8 => ArgKind::List(Scalar::Cidr),
        _ => return None,
    })
}

/// [`decode_kind`], for the JIT's unit tests.
#[cfg(test)]
pub(crate) fn decode_kind_for_tests(code: u64) -> Option<ArgKind> {
    decode_kind(code)
}

/// How the generic call helper reads one argument slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ArgKind {
    /// `w0` is 0 or 1.
    Bool,
    /// `w0` is the i64.
    Int,
    /// address and length.
    Str,
    /// the two halves.
    Ip,
    /// address of the first item slot and item count.
    List(Scalar),
}
