//! The shared semantics of the language's operators: arithmetic, comparison, string tests,
//! list membership, constants as values, and how values print ([`mod@print`]).
//!
//! ONE definition that every evaluator calls: the reference interpreter ([`crate::interp`]),
//! the JIT's helpers (`jit/helpers.rs`, `jit/prepare.rs`), alerts ([`crate::alert`]) and the
//! compiler's constant folder. A leaf of the module graph: it reads IR operators, constants and
//! [`Value`]s and depends on nothing that evaluates. Every function here is total (no panic,
//! no error type): a case a verified program cannot reach answers `None` where it must be told
//! apart, and the caller decides what that means.
//!
//! Semantics (LANGUAGE.md): ints wrap; `/` and `%` by zero give 0; `i64::MIN / -1` wraps; `%`
//! takes the sign of the dividend. Ips compare equal across the IPv4-mapped IPv6 and plain
//! forms; `ip in [cidr]` is a network match.

pub mod print;

use std::borrow::Cow;

use crate::casefold::{eq_folded, fold_str};
use crate::ir::{ArithOp, CmpOp, Const, ConstList, StrTest};
use crate::types::Scalar;
use crate::value::{canonical_ip, Cidr, Value};

pub use print::{value_to_json, write_interpolated};

/// Wrapping arithmetic; `/` and `%` by zero give 0; `%` takes the dividend's sign.
pub fn arith(op: ArithOp, a: i64, b: i64) -> i64 {
    match op {
        ArithOp::Add => a.wrapping_add(b),
        ArithOp::Sub => a.wrapping_sub(b),
        ArithOp::Mul => a.wrapping_mul(b),
        ArithOp::Div => {
            if b == 0 {
                0
            } else {
                a.wrapping_div(b)
            }
        }
        ArithOp::Rem => {
            if b == 0 {
                0
            } else {
                a.wrapping_rem(b)
            }
        }
    }
}

/// Comparison `a op b`: `==`/`!=` on any two scalars of one type ([`scalar_eq`]), the
/// orderings on ints. `None` for operands a verified program never compares (values of
/// different types, an ordering of non-ints).
pub fn compare(op: CmpOp, a: &Value<'_>, b: &Value<'_>) -> Option<bool> {
    match op {
        CmpOp::Eq => scalar_eq(a, b),
        CmpOp::Ne => scalar_eq(a, b).map(|e| !e),
        CmpOp::Lt => Some(a.as_int()? < b.as_int()?),
        CmpOp::Le => Some(a.as_int()? <= b.as_int()?),
        CmpOp::Gt => Some(a.as_int()? > b.as_int()?),
        CmpOp::Ge => Some(a.as_int()? >= b.as_int()?),
    }
}

/// Equality of two scalars of one type (ips canonical: `::ffff:1.2.3.4 == 1.2.3.4`); `None`
/// for values of different types (or lists).
pub fn scalar_eq(a: &Value<'_>, b: &Value<'_>) -> Option<bool> {
    Some(match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Ip(x), Value::Ip(y)) => canonical_ip(*x) == canonical_ip(*y),
        (Value::Cidr(x), Value::Cidr(y)) => x == y,
        _ => return None,
    })
}

/// Membership of `a` against one list item: equality (folded for `iin`), a network match for
/// an ip against a prefix.
pub fn member_eq(a: &Value<'_>, item: &Value<'_>, fold: bool) -> bool {
    match (a, item) {
        (Value::Str(x), Value::Str(y)) => {
            if fold {
                eq_folded(x, y)
            } else {
                x == y
            }
        }
        (Value::Ip(ip), Value::Cidr(net)) => net.contains(*ip),
        (Value::Ip(x), Value::Ip(y)) => canonical_ip(*x) == canonical_ip(*y),
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        _ => false,
    }
}

/// String test `s op pat`, case-sensitive (a `fold` test folds both sides first, with
/// [`crate::casefold`]).
pub fn str_test(op: StrTest, s: &str, pat: &str) -> bool {
    match op {
        StrTest::Eq => s == pat,
        StrTest::Contains => s.contains(pat),
        StrTest::StartsWith => s.starts_with(pat),
        StrTest::EndsWith => s.ends_with(pat),
    }
}

/// A constant of the program as a value.
pub fn const_value(c: &Const) -> Value<'static> {
    match c {
        Const::Bool(b) => Value::Bool(*b),
        Const::Int(i) => Value::Int(*i),
        Const::Str(s) => Value::Str(Cow::Owned(s.clone())),
        Const::Ip(ip) => Value::Ip(*ip),
        Const::Cidr(addr, prefix) => Value::Cidr(Cidr {
            addr: *addr,
            prefix: *prefix,
        }),
    }
}

/// A constant list prepared once per program: its items as values and, for a string list, each
/// item folded (what `fold` tests and `iin` compare against; empty for other lists). The
/// interpreter and the JIT prepare membership lists through this one function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedList {
    /// The items as values.
    pub values: Vec<Value<'static>>,
    /// String items folded, in order; empty for other lists.
    pub folded: Vec<String>,
}

/// Prepares `list` ([`PreparedList`]).
pub fn prepare_list(list: &ConstList) -> PreparedList {
    let values: Vec<Value<'static>> = list.items.iter().map(const_value).collect();
    let folded = if list.elem == Scalar::Str {
        values
            .iter()
            .map(|v| fold_str(v.as_str().unwrap_or_default()).into_owned())
            .collect()
    } else {
        Vec::new()
    };
    PreparedList { values, folded }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::*;

    #[test]
    fn arithmetic_wraps_and_division_by_zero_is_zero() {
        assert_eq!(arith(ArithOp::Add, i64::MAX, 1), i64::MIN);
        assert_eq!(arith(ArithOp::Div, 7, 0), 0);
        assert_eq!(arith(ArithOp::Rem, 7, 0), 0);
        assert_eq!(arith(ArithOp::Div, i64::MIN, -1), i64::MIN);
        assert_eq!(arith(ArithOp::Rem, -7, 2), -1);
    }

    #[test]
    fn ips_compare_equal_across_the_mapped_form() {
        let plain = Value::Ip(IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4)));
        let mapped = Value::Ip(IpAddr::V6(Ipv4Addr::new(1, 2, 3, 4).to_ipv6_mapped()));
        assert_eq!(compare(CmpOp::Eq, &plain, &mapped), Some(true));
        assert!(member_eq(&plain, &mapped, false));
        let other = Value::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(compare(CmpOp::Ne, &plain, &other), Some(true));
    }

    #[test]
    fn values_of_different_types_do_not_compare() {
        assert_eq!(compare(CmpOp::Eq, &Value::Int(1), &Value::Bool(true)), None);
        assert_eq!(
            compare(CmpOp::Lt, &Value::Bool(false), &Value::Bool(true)),
            None
        );
        assert_eq!(
            compare(CmpOp::Ge, &Value::Int(2), &Value::Int(2)),
            Some(true)
        );
    }

    #[test]
    fn membership_folds_for_iin_and_matches_networks() {
        let s = |t: &str| Value::Str(Cow::Owned(t.to_owned()));
        assert!(member_eq(&s("CMD.EXE"), &s("cmd.exe"), true));
        assert!(!member_eq(&s("CMD.EXE"), &s("cmd.exe"), false));
        let net = const_value(&Const::Cidr(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)), 8));
        let ip = Value::Ip(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)));
        assert!(member_eq(&ip, &net, false));
    }

    #[test]
    fn string_lists_are_folded_once_and_other_lists_not() {
        let list = |elem, items| ConstList { elem, items };
        let names = prepare_list(&list(Scalar::Str, vec![Const::Str("CMD.exe".into())]));
        assert_eq!(names.folded, vec!["cmd.exe".to_owned()]);
        assert_eq!(names.values, vec![Value::Str(Cow::Borrowed("CMD.exe"))]);
        let ints = prepare_list(&list(Scalar::Int, vec![Const::Int(3)]));
        assert!(ints.folded.is_empty());
        assert_eq!(ints.values, vec![Value::Int(3)]);
    }

    #[test]
    fn string_tests() {
        assert!(str_test(StrTest::Contains, "powershell -enc", "-enc"));
        assert!(str_test(StrTest::StartsWith, "abc", ""));
        assert!(!str_test(StrTest::EndsWith, "abc", "ab"));
        assert!(str_test(StrTest::Eq, "", ""));
    }
}
