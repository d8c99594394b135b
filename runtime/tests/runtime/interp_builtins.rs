//! Every builtin's own examples (the registry's `examples`), run through the interpreter as
//! tiny IR programs: `CALL == EXPECTED` as a rule's condition, and the call's value.

use vigil_runtime::builtins::{lookup, result_max_len, ParamTy, BUILTINS};
use vigil_runtime::event::EventBuilder;
use vigil_runtime::interp::Interp;
use vigil_runtime::ir::{CmpOp, Const, ExprId, ExprKind, RuleId};
use vigil_runtime::schema::Schema;
use vigil_runtime::types::{Scalar, Ty};
use vigil_runtime::value::Value;
use vigil_test_support::builder::{Prog, Rb};
use vigil_test_support::examples::{parse_call, parse_literal, Arg};

fn ty_of(v: &Value<'_>) -> Ty {
    match v {
        Value::List(_) => Ty::List(Scalar::Str),
        v => v.ty().expect("scalar"),
    }
}

fn lit(p: &mut Prog, rb: &mut Rb, v: &Value<'_>) -> ExprId {
    match v {
        Value::Bool(b) => rb.bool(*b),
        Value::Int(i) => rb.int(*i),
        Value::Str(s) => {
            let id = p.string(s);
            rb.e(Ty::STR, ExprKind::Str(id))
        }
        Value::List(items) => {
            let items = items
                .iter()
                .map(|i| Const::Str(i.as_str().expect("string item").to_owned()))
                .collect();
            let l = p.list(Scalar::Str, items);
            rb.e(Ty::List(Scalar::Str), ExprKind::List(l))
        }
        v => panic!("no literal for {v:?}"),
    }
}

#[test]
fn every_builtin_example_holds_in_the_interpreter() {
    let schema = Schema::endpoint();
    let mut ran = 0;
    for b in BUILTINS {
        for (expr, expected) in b.examples {
            let (name, args) = parse_call(expr).unwrap_or_else(|| panic!("parse {expr}"));
            assert_eq!(name, b.name);
            let expected = parse_literal(expected).unwrap_or_else(|| panic!("parse {expected}"));
            let mut p = Prog::new();
            let mut call_id = ExprId(0);
            p.rule("r", &["process_start"], |p, rb| {
                let mut ids = Vec::new();
                let mut tys = Vec::new();
                for a in &args {
                    match a {
                        Arg::Lit(v) => {
                            ids.push(lit(p, rb, v));
                            tys.push(ty_of(v));
                        }
                        Arg::Field(f) => {
                            let (fr, ty) = p.field("process_start", f);
                            ids.push(rb.e(ty, ExprKind::Field(fr)));
                            tys.push(ty);
                        }
                    }
                }
                let builtin = p.builtin(b.name, &tys);
                call_id = rb.e(b.ret, ExprKind::Call { builtin, args: ids });
                let want = lit(p, rb, &expected);
                Some(rb.e(Ty::BOOL, ExprKind::Cmp(CmpOp::Eq, call_id, want)))
            });
            let interp = Interp::new(&p.verify()).expect("interp");
            let mut eb = EventBuilder::new(&schema, "process_start").expect("type");
            eb.set_str("command_line", "powershell -enc AAAA")
                .expect("set");
            let ev = eb.finish();
            let got = interp.eval_value(RuleId(0), call_id, &ev).expect("eval");
            assert_eq!(got, expected, "{expr}");
            assert!(
                interp.eval_cond(RuleId(0), &ev).expect("eval"),
                "{expr} == {expected:?}"
            );
            ran += 1;
        }
    }
    assert!(ran >= 40, "only {ran} examples");
}

#[test]
fn truncated_builtin_reads_the_flag() {
    let schema = Schema::endpoint();
    let mut p = Prog::new();
    p.rule("r", &["process_start"], |p, rb| {
        let (f, ty) = p.field("process_start", "integrity_level");
        let arg = rb.e(ty, ExprKind::Field(f));
        let builtin = p.builtin("truncated", &[ty]);
        Some(rb.e(
            Ty::BOOL,
            ExprKind::Call {
                builtin,
                args: vec![arg],
            },
        ))
    });
    let interp = Interp::new(&p.verify()).expect("interp");
    let mut eb = EventBuilder::new(&schema, "process_start").expect("type");
    eb.set_string("integrity_level", "H".repeat(40))
        .expect("set");
    assert!(interp.eval_cond(RuleId(0), &eb.finish()).expect("eval"));
    let mut eb = EventBuilder::new(&schema, "process_start").expect("type");
    eb.set_str("integrity_level", "High").expect("set");
    assert!(!interp.eval_cond(RuleId(0), &eb.finish()).expect("eval"));
}

/// The examples without the IR: each call evaluated by the row's own function, its result
/// within the row's length bound.
#[test]
fn every_builtin_example_holds_when_called_directly() {
    let mut skipped = Vec::new();
    for b in BUILTINS {
        for (expr, expected) in b.examples {
            let expected_value = parse_literal(expected).unwrap_or_else(|| {
                panic!("{}: expected value `{expected}` is not a literal", b.name)
            });
            assert_eq!(
                expected_value.ty(),
                Some(b.ret),
                "{expr}: expected value's type"
            );
            let (name, args) = parse_call(expr).unwrap_or_else(|| panic!("parse {expr}"));
            let Some(args) = args
                .into_iter()
                .map(|a| match a {
                    Arg::Lit(v) => Some(v),
                    Arg::Field(_) => None,
                })
                .collect::<Option<Vec<Value<'static>>>>()
            else {
                skipped.push(*expr);
                continue;
            };
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
