//! Tests that walk the builtin table: every row is complete, and every example evaluates to
//! its expected value.

use std::borrow::Cow;

use super::*;
use crate::types::{Scalar, Ty};
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

// ---- a tiny parser for the examples: `name(arg, ...)` with literal arguments ----

struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn skip_ws(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn eat(&mut self, prefix: &str) -> bool {
        self.skip_ws();
        match self.rest.strip_prefix(prefix) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn ident(&mut self) -> Option<&'a str> {
        self.skip_ws();
        let end = self
            .rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(self.rest.len());
        if end == 0 {
            return None;
        }
        let (id, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(id)
    }

    /// A literal; `None` for anything else (a field name, say).
    fn literal(&mut self) -> Option<Value<'static>> {
        self.skip_ws();
        if self.eat("[") {
            let mut items = Vec::new();
            if !self.eat("]") {
                loop {
                    items.push(self.literal()?);
                    if self.eat("]") {
                        break;
                    }
                    if !self.eat(",") {
                        return None;
                    }
                }
            }
            return Some(Value::List(items));
        }
        if self.rest.starts_with("r\"") || self.rest.starts_with("r#") {
            let hashes = self.rest[1..].chars().take_while(|&c| c == '#').count();
            let open = 1 + hashes + 1;
            let close = format!("\"{}", "#".repeat(hashes));
            let body_end = self.rest[open..].find(&close)? + open;
            let body = self.rest[open..body_end].to_owned();
            self.rest = &self.rest[body_end + close.len()..];
            return Some(Value::Str(Cow::Owned(body)));
        }
        if self.eat("\"") {
            let mut out = String::new();
            let mut chars = self.rest.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        self.rest = &self.rest[i + 1..];
                        return Some(Value::Str(Cow::Owned(out)));
                    }
                    '\\' => match chars.next()?.1 {
                        '\\' => out.push('\\'),
                        '"' => out.push('"'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        '0' => out.push('\0'),
                        'u' => {
                            let (j, _) = chars.next().filter(|&(_, c)| c == '{')?;
                            let len = self.rest[j..].find('}')?;
                            let hex = &self.rest[j + 1..j + len];
                            out.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
                            for _ in 0..len {
                                chars.next();
                            }
                        }
                        _ => return None,
                    },
                    c => out.push(c),
                }
            }
            return None;
        }
        let negative = self.eat("-");
        let word = self.ident()?;
        let value = match word {
            "true" => return Some(Value::Bool(true)),
            "false" => return Some(Value::Bool(false)),
            w => match w.strip_prefix("0x") {
                Some(hex) => i64::from_str_radix(hex, 16).ok()?,
                None => w.parse::<i64>().ok()?,
            },
        };
        Some(Value::Int(if negative {
            value.wrapping_neg()
        } else {
            value
        }))
    }

    /// `name(literal, ...)`; `None` when an argument is not a literal.
    fn call(&mut self) -> Option<(&'a str, Vec<Value<'static>>)> {
        let name = self.ident()?;
        if !self.eat("(") {
            return None;
        }
        let mut args = Vec::new();
        if !self.eat(")") {
            loop {
                args.push(self.literal()?);
                if self.eat(")") {
                    break;
                }
                if !self.eat(",") {
                    return None;
                }
            }
        }
        Some((name, args))
    }
}

fn parse_literal(text: &str) -> Option<Value<'static>> {
    let mut cursor = Cursor { rest: text };
    let value = cursor.literal()?;
    cursor.skip_ws();
    cursor.rest.is_empty().then_some(value)
}

#[test]
fn example_parser_reads_literals() {
    assert_eq!(
        parse_literal(r#""a\\b\"\n\u{e9}""#),
        Some(Value::Str("a\\b\"\né".into()))
    );
    assert_eq!(
        parse_literal(r#"r"C:\x""#),
        Some(Value::Str(r"C:\x".into()))
    );
    assert_eq!(
        parse_literal(r##"r#"say "hi""#"##),
        Some(Value::Str(r#"say "hi""#.into()))
    );
    assert_eq!(parse_literal("-7"), Some(Value::Int(-7)));
    assert_eq!(parse_literal("0x1f"), Some(Value::Int(31)));
    assert_eq!(
        parse_literal(r#"["a", 1]"#),
        Some(Value::List(vec![Value::Str("a".into()), Value::Int(1)]))
    );
    assert_eq!(parse_literal("command_line"), None);
}

#[test]
fn every_example_evaluates_to_its_expected_value() {
    let mut skipped = Vec::new();
    for b in BUILTINS {
        for &(expr, expected) in b.examples {
            let expected_value = parse_literal(expected).unwrap_or_else(|| {
                panic!("{}: expected value `{expected}` is not a literal", b.name)
            });
            assert_eq!(
                expected_value.ty(),
                Some(b.ret),
                "{expr}: expected value's type"
            );
            let mut cursor = Cursor { rest: expr };
            let Some((name, args)) = cursor.call() else {
                skipped.push(expr);
                continue;
            };
            cursor.skip_ws();
            assert!(cursor.rest.is_empty(), "{expr}: trailing text");
            assert_eq!(name, b.name, "{expr}: example calls another builtin");
            assert_eq!(args.len(), b.params.len(), "{expr}: arity");
            for (arg, param) in args.iter().zip(b.params) {
                let ok = match param {
                    ParamTy::Exact(ty) => arg.ty() == Some(*ty),
                    ParamTy::StrOrList => matches!(arg, Value::Str(_) | Value::List(_)),
                    ParamTy::FieldRef(_) => false,
                };
                assert!(ok, "{expr}: argument {arg} does not fit {param:?}");
            }
            assert_eq!((b.eval)(&args), expected_value, "{expr}");
            // And the bound on the result holds for the literal arguments.
            let lens: Vec<u64> = args
                .iter()
                .map(|a| a.as_str().map_or(0, |s| s.len() as u64))
                .collect();
            if let Some(result) = (b.eval)(&args).as_str() {
                let bound = result_max_len(lookup(b.name).expect("row").0, &lens);
                assert!(
                    result.len() as u64 <= bound,
                    "{expr}: {} > {bound}",
                    result.len()
                );
            }
        }
    }
    // Only the field-argument builtin cannot be run from literals alone.
    assert_eq!(skipped, ["truncated(command_line)"]);
    let (_, truncated) = lookup("truncated").expect("truncated");
    assert_eq!((truncated.eval)(&[Value::Bool(true)]), Value::Bool(true));
    assert_eq!((truncated.eval)(&[Value::Bool(false)]), Value::Bool(false));
    assert_eq!(truncated.params, &[ParamTy::FieldRef(Scalar::Str)]);
}
