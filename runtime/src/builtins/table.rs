//! The builtin registry: one [`Builtin`] row per function, sorted by name. Adding a builtin is
//! adding a row here and its function in a family file; the tests walk the table.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::{path, string};
use crate::types::{Scalar, Ty};
use crate::value::Value;

/// The interpreter's (and constant folder's) implementation of a builtin. Total: it never
/// panics; given the wrong number or types of arguments (which the type checker and the
/// verifier rule out) it returns the empty value of its result type.
pub type EvalFn = fn(&[Value<'_>]) -> Value<'static>;

/// The type of one parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParamTy {
    /// Exactly this type.
    Exact(Ty),
    /// A `string` or any list (`len`).
    StrOrList,
    /// The argument must be written as a field of the event (or of a sequence step) whose
    /// scalar type is this one, for a list field its item type (`truncated(field)`: a `string`
    /// or `[string]` field). The engine passes the field's truncation flag as the argument
    /// value, a `bool`.
    FieldRef(Scalar),
}

/// What a builtin does besides computing its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purity {
    /// Nothing: same arguments, same result; calls can be folded, shared and reordered.
    Pure,
}

/// Worst-case steps of one call, from the arguments' bounds:
/// `base + Σ k · max_len(arg) over per_byte + Σ k · max_items(arg) over per_item`, saturating.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cost {
    /// Steps whatever the arguments.
    pub base: u64,
    /// `(argument index, steps per byte of that argument's maximum length)`.
    pub per_byte: &'static [(u8, u64)],
    /// `(argument index, steps per item of that argument's maximum item count)`.
    pub per_item: &'static [(u8, u64)],
}

impl Cost {
    /// The cost of a call whose argument `i` has at most `arg_max_len[i]` bytes (of a string,
    /// or of each item of a list; 0 for other types) and `arg_max_items[i]` items. An argument
    /// the formula names but the slices lack counts as unbounded, so the result is `u64::MAX`.
    pub fn steps(&self, arg_max_len: &[u64], arg_max_items: &[u64]) -> u64 {
        let term = |bounds: &[u64], &(arg, k): &(u8, u64)| {
            bounds
                .get(usize::from(arg))
                .map_or(u64::MAX, |&bound| bound.saturating_mul(k))
        };
        let bytes = self.per_byte.iter().map(|t| term(arg_max_len, t));
        let items = self.per_item.iter().map(|t| term(arg_max_items, t));
        bytes.chain(items).fold(self.base, u64::saturating_add)
    }
}

/// How long a builtin's result can be, in bytes, from its arguments' bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RetLen {
    /// The result is not a string: 0.
    NotString,
    /// At most as long as argument `0`-based index (a slice of it).
    AtMostArg(u8),
    /// At most `max_len(arg) · num / den` (rounded down, saturating): a case mapping.
    Scaled {
        /// The argument.
        arg: u8,
        /// Numerator of the growth factor.
        num: u64,
        /// Denominator of the growth factor (nonzero).
        den: u64,
    },
}

/// How the JIT compiles a call of a builtin: inline where the answer is a word the event's slot
/// already holds, otherwise a call to the generic helper, which runs the row's own `eval` (one
/// algorithm, two calling conventions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JitLowering {
    /// A call to the generic helper (`jit/helpers.rs`), which runs [`Builtin::eval`].
    Helper,
    /// Inline: the length word of the one argument (a string's byte length, a list's item
    /// count; a constant list's count is a constant). For a `(string | list) -> int` row.
    SlotLength,
    /// Inline: the one argument, already the field's truncation flag (the engine passes it for
    /// a [`ParamTy::FieldRef`] parameter). For a `(field) -> bool` row.
    TruncatedFlag,
}

/// A builtin function's one declaration.
#[derive(Clone, Copy, Debug)]
pub struct Builtin {
    /// The name as written in rules: `basename`.
    pub name: &'static str,
    /// The parameters, in order.
    pub params: &'static [ParamTy],
    /// The result type.
    pub ret: Ty,
    /// Side effects (none).
    pub purity: Purity,
    /// Worst-case steps of a call.
    pub cost: Cost,
    /// The bound on the length of a string result.
    pub ret_len: RetLen,
    /// The implementation.
    pub eval: EvalFn,
    /// How the JIT compiles a call (the JIT reads this, never the name).
    pub jit: JitLowering,
    /// What it does, edge cases included; feeds `docs/stdlib.md` and `vigil explain`.
    pub doc: &'static str,
    /// `(expression as written in a rule, its value as written)`, edge cases included; run as
    /// tests by every engine and the constant folder.
    pub examples: &'static [(&'static str, &'static str)],
}

/// A builtin's row in [`BUILTINS`]; what the IR stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BuiltinId(pub u16);

/// The builtin named `name`, with its id.
pub fn lookup(name: &str) -> Option<(BuiltinId, &'static Builtin)> {
    let index = BUILTINS.binary_search_by(|b| b.name.cmp(name)).ok()?;
    Some((BuiltinId(u16::try_from(index).ok()?), BUILTINS.get(index)?))
}

/// The builtin with id `id`.
pub fn get(id: BuiltinId) -> Option<&'static Builtin> {
    BUILTINS.get(usize::from(id.0))
}

/// The longest a call's string result can be, in bytes, when argument `i` is at most
/// `arg_max_len[i]` bytes long. 0 for builtins whose result is not a string; `u64::MAX` (no
/// bound known) for an unknown id or a missing argument bound.
pub fn result_max_len(id: BuiltinId, arg_max_len: &[u64]) -> u64 {
    let Some(builtin) = get(id) else {
        return u64::MAX;
    };
    let arg_len = |arg: u8| {
        arg_max_len
            .get(usize::from(arg))
            .copied()
            .unwrap_or(u64::MAX)
    };
    match builtin.ret_len {
        RetLen::NotString => 0,
        RetLen::AtMostArg(arg) => arg_len(arg),
        RetLen::Scaled { arg, num, den } => {
            // An overflowing (or unbounded) length stays unbounded.
            arg_len(arg)
                .checked_mul(num)
                .and_then(|n| n.checked_div(den))
                .unwrap_or(u64::MAX)
        }
    }
}

/// `lower` grows a string by at most this factor (`İ`, 2 bytes, becomes `i̇`, 3 bytes).
const LOWER_GROWTH: (u64, u64) = (3, 2);
/// `upper` grows a string by at most this factor (`ΐ`, 2 bytes, becomes 3 characters, 6 bytes).
const UPPER_GROWTH: (u64, u64) = (3, 1);

const STR: &[ParamTy] = &[ParamTy::Exact(Ty::STR)];

/// Every builtin, sorted by name; a [`BuiltinId`] is an index here.
pub static BUILTINS: &[Builtin] = &[
    Builtin {
        name: "basename",
        params: STR,
        ret: Ty::STR,
        purity: Purity::Pure,
        cost: Cost {
            base: 1,
            per_byte: &[(0, 1)],
            per_item: &[],
        },
        ret_len: RetLen::AtMostArg(0),
        eval: eval_basename,
        jit: JitLowering::Helper,
        doc: "The last component of a path: everything after the last `\\` or `/` (both \
              separate, on every platform); the whole string when it has no separator; `\"\"` \
              when it ends in one.",
        examples: &[
            (
                r#"basename(r"C:\Windows\System32\cmd.exe")"#,
                r#""cmd.exe""#,
            ),
            (r#"basename("/usr/bin/python3")"#, r#""python3""#),
            (r#"basename(r"C:\Windows\")"#, r#""""#),
            (r#"basename("cmd.exe")"#, r#""cmd.exe""#),
            (r#"basename(r"C:\Users\José/naïve.txt")"#, r#""naïve.txt""#),
            (r#"basename("")"#, r#""""#),
        ],
    },
    Builtin {
        name: "dirname",
        params: STR,
        ret: Ty::STR,
        purity: Purity::Pure,
        cost: Cost {
            base: 1,
            per_byte: &[(0, 1)],
            per_item: &[],
        },
        ret_len: RetLen::AtMostArg(0),
        eval: eval_dirname,
        jit: JitLowering::Helper,
        doc: "Everything before the last `\\` or `/` of a path, without that separator; `\"\"` \
              when there is none. A root keeps its separator, as in Python and POSIX: the \
              directory of `C:\\cmd.exe` is `C:\\` and of `/bin` is `/`.",
        examples: &[
            (
                r#"dirname(r"C:\Windows\System32\cmd.exe")"#,
                r#"r"C:\Windows\System32""#,
            ),
            (r#"dirname(r"C:\cmd.exe")"#, r#"r"C:\""#),
            (r#"dirname("/bin")"#, r#""/""#),
            (r#"dirname(r"C:\Windows\")"#, r#"r"C:\Windows""#),
            (r#"dirname("cmd.exe")"#, r#""""#),
            (r#"dirname("")"#, r#""""#),
        ],
    },
    Builtin {
        name: "entropy",
        params: STR,
        ret: Ty::INT,
        purity: Purity::Pure,
        cost: Cost {
            base: 256,
            per_byte: &[(0, 2)],
            per_item: &[],
        },
        ret_len: RetLen::NotString,
        eval: eval_entropy,
        jit: JitLowering::Helper,
        doc: "Shannon entropy of the string's bytes, in bits per byte, times 1000, rounded \
              down: 0 (one repeated byte, or `\"\"`) to 8000 (every byte value equally often). \
              Random base64 is near 6000, English text near 4000.",
        examples: &[
            (r#"entropy("")"#, "0"),
            (r#"entropy("aaaa")"#, "0"),
            (r#"entropy("ab")"#, "1000"),
            (r#"entropy("abcd")"#, "2000"),
            (r#"entropy("aab")"#, "918"),
            (r#"entropy("é")"#, "1000"),
        ],
    },
    Builtin {
        name: "extension",
        params: STR,
        ret: Ty::STR,
        purity: Purity::Pure,
        cost: Cost {
            base: 1,
            per_byte: &[(0, 1)],
            per_item: &[],
        },
        ret_len: RetLen::AtMostArg(0),
        eval: eval_extension,
        jit: JitLowering::Helper,
        doc: "The file extension of a path: what follows the last `.` of its basename, without \
              the dot, as written (compare with `ieq`); `\"\"` when the basename has no dot or \
              ends in one. Windows reading: `.bashrc` has the extension `bashrc`.",
        examples: &[
            (r#"extension(r"C:\Users\a\report.PDF")"#, r#""PDF""#),
            (r#"extension("archive.tar.gz")"#, r#""gz""#),
            (r#"extension(".bashrc")"#, r#""bashrc""#),
            (r#"extension("Makefile")"#, r#""""#),
            (r#"extension("file.")"#, r#""""#),
            (r#"extension(r"C:\dir.d\file")"#, r#""""#),
            (r#"extension("")"#, r#""""#),
        ],
    },
    Builtin {
        name: "len",
        params: &[ParamTy::StrOrList],
        ret: Ty::INT,
        purity: Purity::Pure,
        cost: Cost {
            base: 1,
            per_byte: &[],
            per_item: &[],
        },
        ret_len: RetLen::NotString,
        eval: eval_len,
        jit: JitLowering::SlotLength,
        doc: "The length of a string in bytes of UTF-8 (not characters), or the number of \
              items of a list.",
        examples: &[
            (r#"len("cmd.exe")"#, "7"),
            (r#"len("")"#, "0"),
            (r#"len("é")"#, "2"),
            (r#"len(["a", "b", "c"])"#, "3"),
        ],
    },
    Builtin {
        name: "lower",
        params: STR,
        ret: Ty::STR,
        purity: Purity::Pure,
        cost: Cost {
            base: 1,
            per_byte: &[(0, 4)],
            per_item: &[],
        },
        ret_len: RetLen::Scaled {
            arg: 0,
            num: LOWER_GROWTH.0,
            den: LOWER_GROWTH.1,
        },
        eval: eval_lower,
        jit: JitLowering::Helper,
        doc: "The string in lower case, by Unicode's default full lowercase mapping (Rust's \
              `str::to_lowercase`, with the final-sigma rule). This is not case folding: to \
              compare without case, use `ieq`, `icontains`, `iin`. The result can be up to 3/2 \
              as long in bytes (`İ` becomes `i` + U+0307).",
        examples: &[
            (r#"lower("CMD.EXE")"#, r#""cmd.exe""#),
            (r#"lower("ÀÉÎ")"#, r#""àéî""#),
            (r#"lower("ΣΑΣ")"#, r#""σας""#),
            (r#"lower("İ")"#, r#""i\u{307}""#),
            (r#"lower("")"#, r#""""#),
        ],
    },
    Builtin {
        name: "substr",
        params: &[
            ParamTy::Exact(Ty::STR),
            ParamTy::Exact(Ty::INT),
            ParamTy::Exact(Ty::INT),
        ],
        ret: Ty::STR,
        purity: Purity::Pure,
        cost: Cost {
            base: 2,
            per_byte: &[(0, 1)],
            per_item: &[],
        },
        ret_len: RetLen::AtMostArg(0),
        eval: eval_substr,
        jit: JitLowering::Helper,
        doc: "`substr(s, start, len)`: the bytes `start .. start + len` of `s`, clamped into it \
              (a negative start or length counts as 0), then each end moved back to a \
              character boundary: a start inside a character takes the whole character in, an \
              end inside one leaves it out. Never longer than `s`; always valid UTF-8.",
        examples: &[
            (r#"substr("powershell.exe", 0, 10)"#, r#""powershell""#),
            (r#"substr("abcdef", 1, 3)"#, r#""bcd""#),
            (r#"substr("abc", -5, 2)"#, r#""ab""#),
            (r#"substr("abc", 1, 100)"#, r#""bc""#),
            (r#"substr("abc", 10, 1)"#, r#""""#),
            (r#"substr("abc", 1, -1)"#, r#""""#),
            (r#"substr("héllo", 2, 2)"#, r#""él""#),
            (r#"substr("héllo", 0, 2)"#, r#""h""#),
        ],
    },
    Builtin {
        name: "truncated",
        params: &[ParamTy::FieldRef(Scalar::Str)],
        ret: Ty::BOOL,
        purity: Purity::Pure,
        cost: Cost {
            base: 1,
            per_byte: &[],
            per_item: &[],
        },
        ret_len: RetLen::NotString,
        eval: eval_truncated,
        jit: JitLowering::TruncatedFlag,
        doc: "`truncated(field)`: whether this event's value of a `string` or `[string]` field \
              was cut to the schema's `max_len` (or `max_items`), or had invalid UTF-8 replaced; \
              such events are also counted. The argument must be a field, not an expression.",
        examples: &[("truncated(command_line)", "false")],
    },
    Builtin {
        name: "upper",
        params: STR,
        ret: Ty::STR,
        purity: Purity::Pure,
        cost: Cost {
            base: 1,
            per_byte: &[(0, 4)],
            per_item: &[],
        },
        ret_len: RetLen::Scaled {
            arg: 0,
            num: UPPER_GROWTH.0,
            den: UPPER_GROWTH.1,
        },
        eval: eval_upper,
        jit: JitLowering::Helper,
        doc: "The string in upper case, by Unicode's default full uppercase mapping (Rust's \
              `str::to_uppercase`: `ß` becomes `SS`). The result can be up to 3 times as long \
              in bytes (`ΐ`, 2 bytes, becomes three characters, 6 bytes).",
        examples: &[
            (r#"upper("cmd.exe")"#, r#""CMD.EXE""#),
            (r#"upper("straße")"#, r#""STRASSE""#),
            (r#"upper("ΐ")"#, r#""\u{399}\u{308}\u{301}""#),
            (r#"upper("")"#, r#""""#),
        ],
    },
];

fn owned(s: Cow<'_, str>) -> Value<'static> {
    Value::Str(Cow::Owned(s.into_owned()))
}

fn empty_str() -> Value<'static> {
    Value::Str(Cow::Borrowed(""))
}

fn eval_basename(args: &[Value<'_>]) -> Value<'static> {
    match args {
        [Value::Str(s)] => owned(Cow::Borrowed(path::basename(s))),
        _ => empty_str(),
    }
}

fn eval_dirname(args: &[Value<'_>]) -> Value<'static> {
    match args {
        [Value::Str(s)] => owned(Cow::Borrowed(path::dirname(s))),
        _ => empty_str(),
    }
}

fn eval_extension(args: &[Value<'_>]) -> Value<'static> {
    match args {
        [Value::Str(s)] => owned(Cow::Borrowed(path::extension(s))),
        _ => empty_str(),
    }
}

fn eval_entropy(args: &[Value<'_>]) -> Value<'static> {
    match args {
        [Value::Str(s)] => Value::Int(string::entropy_millibits(s.as_bytes())),
        _ => Value::Int(0),
    }
}

fn eval_len(args: &[Value<'_>]) -> Value<'static> {
    let len = match args {
        [Value::Str(s)] => s.len(),
        [Value::List(items)] => items.len(),
        _ => 0,
    };
    Value::Int(i64::try_from(len).unwrap_or(i64::MAX))
}

fn eval_lower(args: &[Value<'_>]) -> Value<'static> {
    match args {
        [Value::Str(s)] => owned(string::lower(s)),
        _ => empty_str(),
    }
}

fn eval_upper(args: &[Value<'_>]) -> Value<'static> {
    match args {
        [Value::Str(s)] => owned(string::upper(s)),
        _ => empty_str(),
    }
}

fn eval_substr(args: &[Value<'_>]) -> Value<'static> {
    match args {
        [Value::Str(s), Value::Int(start), Value::Int(len)] => {
            owned(Cow::Borrowed(string::substr(s, *start, *len)))
        }
        _ => empty_str(),
    }
}

fn eval_truncated(args: &[Value<'_>]) -> Value<'static> {
    match args {
        [Value::Bool(flag)] => Value::Bool(*flag),
        _ => Value::Bool(false),
    }
}
