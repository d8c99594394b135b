//! Unit tests of the JIT that need its internals: a panicking helper is caught and reported as
//! a status, and the engine goes on; compiled code is freed with its program.

use std::sync::Arc;

use super::*;
use crate::bind::bind;
use crate::budget::Budget;
use crate::engine::{Engine, EngineKind, EngineOptions};
use crate::event::EventBuilder;
use crate::ir::{
    BuiltinRef, Expr, ExprId, ExprKind, Program, Rule, SchemaRef, Severity, StrId, StrTest,
};
use crate::schema::Schema;
use crate::types::Ty;
use crate::value::Value;
use crate::verify::verify;

/// Two rules on `process_start`: `lower(image) == "x"` (calls the builtin helper) and `pid == 7`
/// (inline only).
fn program() -> Verified {
    let schema = Schema::endpoint();
    let req = |field: &str, ty: Ty, max_len: u32| crate::ir::FieldReq {
        event: "process_start".into(),
        field: field.into(),
        ty,
        max_len,
        max_items: 0,
    };
    let rule = |name: &str, exprs: Vec<Expr>, cond: u32| Rule {
        id: name.into(),
        name: name.into(),
        title: name.into(),
        severity: Severity::Low,
        shadow: false,
        meta: Vec::new(),
        exprs,
        kind: RuleKind::Single {
            events: vec!["process_start".into()],
            cond: Some(ExprId(cond)),
        },
        emit: Vec::new(),
        fields: Vec::new(),
    };
    let e = |ty: Ty, kind: ExprKind| Expr { ty, kind };
    let program = Program {
        schema: SchemaRef {
            name: "endpoint".into(),
            major: 1,
            minor: 0,
        },
        fields: vec![req("image", Ty::STR, 98_304), req("pid", Ty::INT, 0)],
        builtins: vec![BuiltinRef {
            name: "lower".into(),
            params: vec![Ty::STR],
            ret: Ty::STR,
        }],
        strings: vec!["x".into()],
        lists: Vec::new(),
        regexes: Vec::new(),
        rules: vec![
            rule(
                "lowered",
                vec![
                    e(Ty::STR, ExprKind::Field(crate::ir::FieldRef(0))),
                    e(
                        Ty::STR,
                        ExprKind::Call {
                            builtin: crate::ir::CallId(0),
                            args: vec![ExprId(0)],
                        },
                    ),
                    e(Ty::STR, ExprKind::Str(StrId(0))),
                    e(
                        Ty::BOOL,
                        ExprKind::StrTest {
                            op: StrTest::Eq,
                            fold: false,
                            lhs: ExprId(1),
                            rhs: ExprId(2),
                        },
                    ),
                ],
                3,
            ),
            rule(
                "pid",
                vec![
                    e(Ty::INT, ExprKind::Field(crate::ir::FieldRef(1))),
                    e(Ty::INT, ExprKind::Int(7)),
                    e(
                        Ty::BOOL,
                        ExprKind::Cmp(crate::ir::CmpOp::Eq, ExprId(0), ExprId(1)),
                    ),
                ],
                2,
            ),
        ],
    };
    let binding = bind(&program, &schema).expect("binds");
    verify(program, binding, &Budget::default()).expect("verifies")
}

fn panicking_builtin(_: &[Value<'_>]) -> Value<'static> {
    panic!("injected panic in a builtin");
}

fn event(schema: &Schema) -> Event<'static> {
    let mut b = EventBuilder::new(schema, "process_start").expect("type");
    b.set_str("image", "X").expect("image");
    b.set_int("pid", 7).expect("pid");
    b.finish()
}

#[test]
fn compiled_code_agrees_before_injection() {
    let schema = Schema::endpoint();
    let jit = compile(&program()).expect("compiles");
    assert_eq!(jit.eval(RuleId(0), &event(&schema)), Ok(true));
    assert_eq!(jit.eval(RuleId(1), &event(&schema)), Ok(true));
    assert_eq!(jit.stats().functions, 2);
    assert!(jit.stats().code_bytes > 0);
}

#[test]
fn a_panicking_helper_is_caught_and_reported_as_a_status() {
    let schema = Schema::endpoint();
    let jit = compile_with(&program(), Some(panicking_builtin)).expect("compiles");
    let ev = event(&schema);
    assert_eq!(jit.run_raw(RuleId(0), &ev), Ok(STATUS_PANIC));
    assert!(matches!(
        jit.eval(RuleId(0), &ev),
        Err(EvalError::Helper(_))
    ));
    // The program goes on: the other rule, and the same rule again, still run.
    assert_eq!(jit.eval(RuleId(1), &ev), Ok(true));
    assert_eq!(jit.run_raw(RuleId(0), &ev), Ok(STATUS_PANIC));
}

#[test]
fn the_engine_counts_a_helper_panic_and_goes_on() {
    let schema = Schema::endpoint();
    let verified = program();
    let jit = compile_with(&verified, Some(panicking_builtin)).expect("compiles");
    let engine = Engine::with_evaluator(
        &verified,
        Arc::new(jit),
        EngineKind::Jit,
        EngineOptions::default(),
    )
    .expect("engine");
    let mut fired = Vec::new();
    for _ in 0..3 {
        let n = engine
            .process(&event(&schema), &mut |a| fired.push(a.rule.clone()))
            .expect("event fits");
        assert_eq!(n, 1);
    }
    assert_eq!(fired, vec!["pid", "pid", "pid"]);
    let stats = engine.stats();
    assert_eq!(stats.eval_errors, 3);
    assert_eq!(stats.internal_errors, 0);
    assert_eq!(stats.alerts, 3);
}

#[test]
fn the_engine_runs_the_jit_when_asked() {
    let schema = Schema::endpoint();
    let engine = Engine::new(
        &program(),
        EngineOptions {
            engine: EngineKind::Jit,
            ..EngineOptions::default()
        },
    )
    .expect("engine");
    assert_eq!(engine.kind(), EngineKind::Jit);
    let n = engine
        .process(&event(&schema), &mut |_| {})
        .expect("event fits");
    assert_eq!(n, 2);
}

#[test]
fn programs_compile_and_drop_repeatedly() {
    // Code memory is freed on drop (`JITModule::free_memory`); many programs in a row must
    // neither leak into each other nor crash.
    let schema = Schema::endpoint();
    let verified = program();
    for _ in 0..50 {
        let jit = compile(&verified).expect("compiles");
        assert_eq!(jit.eval(RuleId(0), &event(&schema)), Ok(true));
    }
}

#[test]
fn jit_program_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<JitProgram>();
}

#[test]
fn evaluation_from_many_threads() {
    let schema = Schema::endpoint();
    let jit = Arc::new(compile(&program()).expect("compiles"));
    std::thread::scope(|s| {
        for _ in 0..4 {
            let jit = Arc::clone(&jit);
            let schema = &schema;
            s.spawn(move || {
                for _ in 0..200 {
                    assert_eq!(jit.eval(RuleId(0), &event(schema)), Ok(true));
                }
            });
        }
    });
}

#[test]
fn a_lazy_program_compiles_each_rule_on_first_use_only() {
    let schema = Schema::endpoint();
    let verified = program();
    let interp = Arc::new(Interp::new(&verified).expect("interp"));
    let jit = lazy(interp, None).expect("the host runs the JIT");
    assert_eq!(jit.stats().functions, 0, "nothing is generated up front");
    let ev = event(&schema);
    assert_eq!(jit.eval(RuleId(1), &ev), Ok(true));
    let after_one = jit.stats();
    assert_eq!((after_one.rules, after_one.functions), (1, 1));
    assert!(after_one.code_bytes > 0);
    // Evaluating it again compiles nothing more.
    assert_eq!(jit.eval(RuleId(1), &ev), Ok(true));
    assert_eq!(jit.stats().functions, 1);
    // The other rule compiles when asked for; `compile_all` then has nothing left to do.
    assert_eq!(jit.eval(RuleId(0), &ev), Ok(true));
    jit.compile_all().expect("compiles");
    let all = jit.stats();
    assert_eq!((all.rules, all.functions, all.refused), (2, 2, 0));
}

#[test]
fn many_threads_asking_for_a_new_rule_compile_it_once() {
    let schema = Schema::endpoint();
    let verified = program();
    let interp = Arc::new(Interp::new(&verified).expect("interp"));
    let jit = Arc::new(lazy(interp, None).expect("the host runs the JIT"));
    std::thread::scope(|s| {
        for t in 0..4 {
            let jit = Arc::clone(&jit);
            let schema = &schema;
            s.spawn(move || {
                for i in 0..100 {
                    let rule = RuleId((t + i) % 2);
                    assert_eq!(jit.eval(rule, &event(schema)), Ok(true));
                }
            });
        }
    });
    assert_eq!(jit.stats().functions, 2);
}

/// `pid == 7` under `depth` `not`s, `depth` even (so it holds on [`event`]).
fn deep_program(depth: u32) -> Verified {
    let schema = Schema::endpoint();
    let mut exprs = vec![
        Expr {
            ty: Ty::INT,
            kind: ExprKind::Field(crate::ir::FieldRef(0)),
        },
        Expr {
            ty: Ty::INT,
            kind: ExprKind::Int(7),
        },
        Expr {
            ty: Ty::BOOL,
            kind: ExprKind::Cmp(crate::ir::CmpOp::Eq, ExprId(0), ExprId(1)),
        },
    ];
    for i in 0..depth {
        exprs.push(Expr {
            ty: Ty::BOOL,
            kind: ExprKind::Not(ExprId(2 + i)),
        });
    }
    let program = Program {
        schema: SchemaRef {
            name: "endpoint".into(),
            major: 1,
            minor: 0,
        },
        fields: vec![crate::ir::FieldReq {
            event: "process_start".into(),
            field: "pid".into(),
            ty: Ty::INT,
            max_len: 0,
            max_items: 0,
        }],
        builtins: Vec::new(),
        strings: Vec::new(),
        lists: Vec::new(),
        regexes: Vec::new(),
        rules: vec![Rule {
            id: "deep".into(),
            name: "deep".into(),
            title: "deep".into(),
            severity: Severity::Low,
            shadow: false,
            meta: Vec::new(),
            exprs,
            kind: RuleKind::Single {
                events: vec!["process_start".into()],
                cond: Some(ExprId(2 + depth)),
            },
            emit: Vec::new(),
            fields: Vec::new(),
        }],
    };
    let binding = bind(&program, &schema).expect("binds");
    let mut budget = Budget::default();
    budget.limits.max_depth = depth + 16;
    verify(program, binding, &budget).expect("verifies under the raised depth limit")
}

#[test]
fn a_rule_the_lazy_jit_refuses_runs_on_the_interpreter_and_is_counted() {
    // The verifier, the interpreter and the translator recurse over 520 levels: a debug build
    // needs more than a test thread's stack for that.
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(refused_rule_runs_on_the_interpreter)
        .expect("thread")
        .join()
        .expect("the test passes");
}

fn refused_rule_runs_on_the_interpreter() {
    // Deeper than the translator recurses (`MAX_DEPTH`): a host that raised the verifier's
    // depth limit gets `TooLarge` for it.
    let verified = deep_program(520);
    assert!(matches!(compile(&verified), Err(JitError::TooLarge { .. })));
    let schema = Schema::endpoint();
    let ev = event(&schema);
    // The engine's default (lazy) JIT builds, and the rule still fires, on the interpreter.
    let engine = Engine::new(
        &verified,
        EngineOptions {
            engine: EngineKind::Jit,
            ..EngineOptions::default()
        },
    )
    .expect("engine builds");
    assert_eq!(engine.kind(), EngineKind::Jit);
    let mut fired = Vec::new();
    let n = engine
        .process(&ev, &mut |a| fired.push(a.rule.clone()))
        .expect("event fits");
    assert_eq!((n, fired), (1, vec!["deep".to_owned()]));
    let stats = engine.jit_stats().expect("a JIT engine");
    assert_eq!((stats.refused, stats.functions), (1, 0));
    assert_eq!(engine.stats().eval_errors, 0);
    // An eager engine refuses the program instead.
    let eager = Engine::new(
        &verified,
        EngineOptions {
            engine: EngineKind::Jit,
            jit_eager: true,
            ..EngineOptions::default()
        },
    );
    assert!(matches!(eager, Err(crate::eval::EngineError::Jit(_))));
}

#[test]
fn argument_kinds_round_trip_through_their_encoding() {
    use super::helpers::{decode_kind_for_tests, encode_kinds, ArgKind};
    use crate::types::Scalar;
    let all = [
        ArgKind::Bool,
        ArgKind::Int,
        ArgKind::Str,
        ArgKind::Ip,
        ArgKind::List(Scalar::Bool),
        ArgKind::List(Scalar::Int),
        ArgKind::List(Scalar::Str),
        ArgKind::List(Scalar::Ip),
        ArgKind::List(Scalar::Cidr),
    ];
    let code = encode_kinds(&all).expect("nine arguments fit");
    for (i, k) in all.iter().enumerate() {
        assert_eq!(decode_kind_for_tests(code >> (4 * i)), Some(*k));
    }
    assert_eq!(decode_kind_for_tests(0xf), None);
    assert!(encode_kinds(&[ArgKind::Int; 17]).is_none());
    assert!(encode_kinds(&[ArgKind::Int; 16]).is_some());
}
