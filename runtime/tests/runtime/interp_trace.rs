//! The tracing evaluation (`interp::trace`, behind `vigil why`) against the plain one, over the
//! dense generator's programs (every node kind) and events built by the one RNG: for every
//! single-event rule and event, the traced verdict equals `eval_cond` and the engine's alert;
//! the root of each traced condition is recorded with that verdict; an `and` that is false, or
//! an `or` that is true, has an operand with that value, after which no operand of its own was
//! reached (unless shared with an earlier one); and a rule whose condition holds passes the
//! prefilter.

use vigil_runtime::alert::Alert;
use vigil_runtime::engine::{Engine, EngineOptions};
use vigil_runtime::event::{Event, EventBuilder};
use vigil_runtime::ir::{ExprKind, RuleId, RuleKind};
use vigil_runtime::schema::Schema;
use vigil_runtime::value::Value;
use vigil_test_support::rng::SplitMix64;
use vigil_test_support::testgen::dense::{ip, program, schema, INTS, IPS, WORDS};

fn event(schema: &Schema, rng: &mut SplitMix64) -> Event<'static> {
    let ty = if rng.chance(50) { "ev" } else { "ev2" };
    let mut b = EventBuilder::new(schema, ty).expect("test event type");
    for name in ["s1", "s2", "host"] {
        if rng.chance(80) {
            // A field the type lacks is refused; that is fine here.
            let _ = b.set_str(name, rng.pick(WORDS));
        }
    }
    for name in ["n1", "n2", "time"] {
        if rng.chance(80) {
            let _ = b.set_int(name, rng.pick(INTS));
        }
    }
    if rng.chance(80) {
        let _ = b.set_bool("b1", rng.chance(50));
    }
    for name in ["ip1", "ip2"] {
        if rng.chance(80) {
            let _ = b.set_ip(name, ip(rng.pick(IPS)));
        }
    }
    if rng.chance(80) && b.start_list("args").is_ok() {
        for _ in 0..rng.below(5) {
            let _ = b.push_item("args", rng.pick(WORDS));
        }
    }
    if rng.chance(80) && b.start_list("ports").is_ok() {
        for _ in 0..rng.below(5) {
            let _ = b.push_int_item("ports", rng.pick(INTS));
        }
    }
    if rng.chance(15) {
        let _ = b.mark_truncated("s1");
    }
    b.finish()
}

#[test]
fn traces_agree_with_evaluation_and_the_engine() {
    let schema = schema();
    let mut rng = SplitMix64::new(18);
    let mut compared = 0u32;
    let mut short_circuits = 0u32;
    for seed in 0..300u64 {
        let Ok(verified) = program(seed, schema.clone()).try_verify() else {
            panic!("seed {seed}: the generator made a program the verifier refuses");
        };
        let engine = Engine::new(&verified, EngineOptions::default()).expect("engine");
        let interp = engine.interp();
        for _ in 0..8 {
            let ev = event(&schema, &mut rng);
            let mut alerted: Vec<String> = Vec::new();
            engine
                .process(&ev, &mut |a: &Alert| alerted.push(a.rule.clone()))
                .expect("processed");
            for (i, rule) in interp.program().rules.iter().enumerate() {
                let rid = RuleId(u32::try_from(i).expect("rule id"));
                if !matches!(rule.kind, RuleKind::Single { .. }) {
                    continue;
                }
                let t = interp
                    .trace_rule(rid, &ev, engine.prefilter())
                    .expect("traced");
                let plain = t.watched && interp.eval_cond(rid, &ev).expect("evaluated");
                assert_eq!(t.holds(), plain, "seed {seed}, rule {i}");
                assert_eq!(
                    t.holds(),
                    alerted.contains(&rule.id),
                    "seed {seed}, rule {i}"
                );
                if t.holds() {
                    assert!(t.prefilter.as_ref().is_none_or(|p| p.passes), "seed {seed}");
                }
                for c in &t.conds {
                    let root = c.nodes.get(c.root.0 as usize).expect("root traced");
                    assert_eq!(root.value, Some(Value::Bool(c.value)), "seed {seed}");
                    for (id, n) in c.nodes.iter().enumerate() {
                        let (Some(Value::Bool(b)), Some(e)) = (&n.value, rule.exprs.get(id)) else {
                            continue;
                        };
                        let (ExprKind::And(ops) | ExprKind::Or(ops)) = &e.kind else {
                            continue;
                        };
                        let decides = matches!(e.kind, ExprKind::And(_)) != *b;
                        if !decides || n.visits != 1 {
                            continue;
                        }
                        // The first operand with the deciding value; none after it was reached
                        // except operands also reached before.
                        let at = ops.iter().position(|o| {
                            c.nodes.get(o.0 as usize).and_then(|x| x.value.clone())
                                == Some(Value::Bool(*b))
                        });
                        let at = at.unwrap_or_else(|| panic!("seed {seed}: no deciding operand"));
                        for later in ops.iter().skip(at + 1) {
                            let reached = c
                                .nodes
                                .get(later.0 as usize)
                                .is_some_and(|x| x.value.is_some());
                            let shared = ops.iter().take(at + 1).any(|o| o == later);
                            if reached && !shared && ops.len() > at + 1 {
                                // Reached through another parent: only when the arena shares it.
                                let parents = rule.exprs.iter().filter(|x| {
                                    let mut hit = false;
                                    x.kind.for_each_operand(|o| hit |= o == *later);
                                    hit
                                });
                                assert!(
                                    parents.count() > 1,
                                    "seed {seed}: operand past the decision reached"
                                );
                            }
                        }
                        short_circuits += 1;
                    }
                }
                compared += 1;
            }
        }
    }
    assert!(compared > 1000, "{compared} comparisons");
    assert!(short_circuits > 50, "{short_circuits} short-circuits seen");
}
