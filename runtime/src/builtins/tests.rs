//! Tests that walk the builtin table: every row is complete, its bounds hold. Its examples are
//! run by the runtime's integration tests (`runtime/tests/runtime/interp_builtins.rs`), through
//! the examples parser of `vigil-test-support`.

use super::*;
use crate::types::Ty;
use crate::value::Value;

#[test]
fn table_is_sorted_and_ids_round_trip() {
    assert!(BUILTINS.windows(2).all(|w| w[0].name < w[1].name));
    for (i, builtin) in BUILTINS.iter().enumerate() {
        let (id, found) = lookup(builtin.name).expect("every row can be looked up");
        assert_eq!(usize::from(id.0), i);
        assert_eq!(found.name, builtin.name);
        assert_eq!(get(id).map(|b| b.name), Some(builtin.name));
    }
    assert!(lookup("basenam").is_none());
    assert!(get(BuiltinId(u16::MAX)).is_none());
}

#[test]
fn the_language_builtins_are_declared() {
    for name in [
        "lower",
        "upper",
        "len",
        "basename",
        "dirname",
        "extension",
        "substr",
        "entropy",
        "truncated",
    ] {
        assert!(lookup(name).is_some(), "{name}");
    }
}

#[test]
fn every_row_is_complete() {
    for b in BUILTINS {
        assert!(b.doc.len() > 20, "{}: doc", b.name);
        assert!(!b.examples.is_empty(), "{}: examples", b.name);
        assert!(b.cost.base > 0, "{}: cost", b.name);
        assert!(b.cost.steps(&[0; 3], &[0; 3]) > 0, "{}: cost", b.name);
        assert_eq!(b.purity, Purity::Pure);
        let returns_string = b.ret == Ty::STR;
        assert_eq!(
            returns_string,
            b.ret_len != RetLen::NotString,
            "{}: ret_len",
            b.name
        );
        for &(arg, _) in b.cost.per_byte.iter().chain(b.cost.per_item) {
            assert!(
                usize::from(arg) < b.params.len(),
                "{}: cost names arg {arg}",
                b.name
            );
        }
        if let RetLen::AtMostArg(arg) | RetLen::Scaled { arg, .. } = b.ret_len {
            assert!(usize::from(arg) < b.params.len(), "{}", b.name);
        }
    }
}

/// An inline JIT lowering reads one word of the argument's slot: it fits only the signature
/// it was written for, so a row that claims one must have that shape.
#[test]
fn inline_jit_lowerings_fit_their_rows() {
    for b in BUILTINS {
        match b.jit {
            JitLowering::Helper => {}
            JitLowering::SlotLength => {
                assert_eq!(b.params, &[ParamTy::StrOrList], "{}", b.name);
                assert_eq!(b.ret, Ty::INT, "{}", b.name);
            }
            JitLowering::TruncatedFlag => {
                assert!(
                    matches!(b.params, [ParamTy::FieldRef(_)]),
                    "{}: {:?}",
                    b.name,
                    b.params
                );
                assert_eq!(b.ret, Ty::BOOL, "{}", b.name);
            }
        }
    }
    let inline = |name: &str| lookup(name).map(|(_, b)| b.jit);
    assert_eq!(inline("len"), Some(JitLowering::SlotLength));
    assert_eq!(inline("truncated"), Some(JitLowering::TruncatedFlag));
    assert_eq!(inline("basename"), Some(JitLowering::Helper));
}

#[test]
fn cost_steps_saturate_and_refuse_missing_bounds() {
    let cost = Cost {
        base: 3,
        per_byte: &[(0, 2)],
        per_item: &[(1, 5)],
    };
    assert_eq!(cost.steps(&[10, 0], &[0, 4]), 3 + 20 + 20);
    assert_eq!(cost.steps(&[u64::MAX, 0], &[0, 4]), u64::MAX);
    assert_eq!(cost.steps(&[10], &[0]), u64::MAX);
}

#[test]
fn result_bounds() {
    let id = |name| lookup(name).expect("builtin").0;
    assert_eq!(result_max_len(id("basename"), &[100]), 100);
    assert_eq!(result_max_len(id("substr"), &[100, 0, 0]), 100);
    assert_eq!(result_max_len(id("lower"), &[100]), 150);
    assert_eq!(result_max_len(id("lower"), &[3]), 4);
    assert_eq!(result_max_len(id("upper"), &[100]), 300);
    assert_eq!(result_max_len(id("upper"), &[u64::MAX]), u64::MAX);
    assert_eq!(result_max_len(id("len"), &[100]), 0);
    assert_eq!(result_max_len(id("lower"), &[]), u64::MAX);
    assert_eq!(result_max_len(BuiltinId(999), &[1]), u64::MAX);
}

/// The declared growth factors of `lower` and `upper` are the true maxima over every char.
#[test]
fn case_mapping_growth_bounds_are_exact() {
    let (mut lower, mut upper) = ((0usize, 1usize), (0usize, 1usize));
    for c in (0..=0x10_FFFF_u32).filter_map(char::from_u32) {
        let n = c.len_utf8();
        let l: usize = c.to_lowercase().map(char::len_utf8).sum();
        let u: usize = c.to_uppercase().map(char::len_utf8).sum();
        if l * lower.1 > lower.0 * n {
            lower = (l, n);
        }
        if u * upper.1 > upper.0 * n {
            upper = (u, n);
        }
    }
    let id = |name| lookup(name).expect("builtin").0;
    // max_len 2n: the bound is n·num/den·2 exactly when the factor is right.
    let scaled = |(num, den): (usize, usize)| (200 * num / den) as u64;
    assert_eq!(result_max_len(id("lower"), &[200]), scaled(lower));
    assert_eq!(result_max_len(id("upper"), &[200]), scaled(upper));
    // Context (final sigma) never lengthens beyond the per-char maximum: σ and ς are both 2 bytes.
    assert_eq!("ΣΣ".to_lowercase().len(), 4);
}

#[test]
fn eval_is_total_on_wrong_arguments() {
    let junk: &[&[Value<'_>]] = &[
        &[],
        &[Value::Int(1)],
        &[Value::Str("a".into()), Value::Str("b".into())],
        &[Value::List(vec![])],
        &[
            Value::Bool(true),
            Value::Bool(true),
            Value::Bool(true),
            Value::Bool(true),
        ],
    ];
    for b in BUILTINS {
        for args in junk {
            let v = (b.eval)(args);
            if b.name != "len" || args.len() != 1 {
                assert_eq!(v.ty(), Some(b.ret), "{}({args:?})", b.name);
            }
        }
    }
}
