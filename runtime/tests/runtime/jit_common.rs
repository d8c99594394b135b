//! Shared support of the JIT tests: the differential check "JIT result == interpreter result",
//! rule by rule and engine to engine. (The test schema with tight bounds and the IR builder are
//! `vigil_test_support::testgen::dense` and `vigil_test_support::builder`.)

use vigil_runtime::engine::{Engine, EngineKind, EngineOptions, Evaluator};
use vigil_runtime::event::Event;
use vigil_runtime::interp::Interp;
use vigil_runtime::ir::RuleId;
use vigil_runtime::jit;
use vigil_runtime::verify::Verified;

/// Evaluates every rule of `verified` on every event of a type it runs on with both engines;
/// panics naming the rule and event on the first disagreement. Returns (evaluations, trues).
pub(crate) fn assert_agree(verified: &Verified, events: &[Event<'_>]) -> (usize, usize) {
    let interp = Interp::new(verified).expect("interp");
    let jit = jit::compile(verified).unwrap_or_else(|e| panic!("jit compile: {e}"));
    let mut n = 0;
    let mut trues = 0;
    for (r, rule) in verified.program().rules.iter().enumerate() {
        let id = RuleId(r as u32);
        let types = verified.binding().rule_events(id);
        for (e, event) in events.iter().enumerate() {
            if !types.contains(&event.ty()) {
                continue;
            }
            let want = interp.eval_cond(id, event);
            let got = jit.eval(id, event);
            assert_eq!(
                got,
                want,
                "rule {} ({}) on event {e}: jit {got:?}, interp {want:?}\nrule: {:#?}\nevent: {event:#?}",
                r,
                rule.name,
                rule.exprs
            );
            n += 1;
            if want == Ok(true) {
                trues += 1;
            }
        }
    }
    assert_engines_agree(verified, events);
    (n, trues)
}

/// The engines end to end: the JIT with the whole-bundle prefilter (rules skipped, literal
/// tests answered from its bits) against the interpreter without it, rule by rule; the same
/// rules must fire on every event, in the same order.
pub(crate) fn assert_engines_agree(verified: &Verified, events: &[Event<'_>]) {
    let oracle = Engine::new(
        verified,
        EngineOptions {
            engine: EngineKind::Interp,
            prefilter: false,
            ..EngineOptions::default()
        },
    )
    .expect("interp engine");
    let jit = Engine::new(
        verified,
        EngineOptions {
            engine: EngineKind::Jit,
            prefilter: true,
            ..EngineOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("jit engine: {e}"));
    for (e, event) in events.iter().enumerate() {
        let mut want = Vec::new();
        let mut got = Vec::new();
        let w = oracle.process(event, &mut |a| want.push(a.rule.clone()));
        let g = jit.process(event, &mut |a| got.push(a.rule.clone()));
        assert_eq!(
            (g.is_ok(), &got),
            (w.is_ok(), &want),
            "event {e}: jit+prefilter fired {got:?}, interp fired {want:?}\nprogram: {:#?}\nevent: {event:#?}",
            verified.program().rules
        );
    }
    assert_eq!(jit.stats().eval_errors, oracle.stats().eval_errors);
    assert_eq!(jit.stats().internal_errors, 0);
}
