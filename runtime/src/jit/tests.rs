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
    let jit = compile_with(&program(), |shared| {
        for call in &mut shared.calls {
            call.eval = panicking_builtin;
        }
    })
    .expect("compiles");
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
    let jit = compile_with(&verified, |shared| {
        for call in &mut shared.calls {
            call.eval = panicking_builtin;
        }
    })
    .expect("compiles");
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
