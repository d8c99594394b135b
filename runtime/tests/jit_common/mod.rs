//! Shared support of the JIT tests: a small test schema with every field type and tight bounds
//! (so that max-length strings, truncation and full lists are cheap to reach), a tiny IR
//! builder, and the differential check "JIT result == interpreter result".

#![allow(dead_code, unreachable_pub)]

use vigil_runtime::engine::{Engine, EngineKind, EngineOptions, Evaluator};
use vigil_runtime::event::Event;
use vigil_runtime::interp::Interp;
use vigil_runtime::ir::RuleId;
use vigil_runtime::jit;
use vigil_runtime::schema::Schema;
use vigil_runtime::verify::Verified;

/// Two event types with every field type. Strings are at most 8 bytes and lists at most 3
/// items, so generated values reach the bounds often.
pub const TEST_SCHEMA: &str = r#"
name = "jittest"
version = "1.0"

[events.ev]
description = "every field type"
fields = [
  { name = "time",  type = "int", description = "t" },
  { name = "host",  type = "string", max_len = 8, description = "h" },
  { name = "s1",    type = "string", max_len = 8, description = "a string" },
  { name = "s2",    type = "string", max_len = 8, description = "a string" },
  { name = "n1",    type = "int", description = "an int" },
  { name = "n2",    type = "int", description = "an int" },
  { name = "b1",    type = "bool", description = "a bool" },
  { name = "ip1",   type = "ip", description = "an ip" },
  { name = "ip2",   type = "ip", description = "an ip" },
  { name = "args",  type = "[string]", max_items = 3, max_len = 8, description = "strings" },
  { name = "ports", type = "[int]", max_items = 3, description = "ints" },
  { name = "addrs", type = "[ip]", max_items = 3, description = "ips" },
]

[events.ev2]
description = "the same names at other indexes"
fields = [
  { name = "b1",    type = "bool", description = "a bool" },
  { name = "time",  type = "int", description = "t" },
  { name = "n2",    type = "int", description = "an int" },
  { name = "s2",    type = "string", max_len = 8, description = "a string" },
  { name = "host",  type = "string", max_len = 8, description = "h" },
  { name = "n1",    type = "int", description = "an int" },
  { name = "s1",    type = "string", max_len = 8, description = "a string" },
  { name = "ip1",   type = "ip", description = "an ip" },
  { name = "ip2",   type = "ip", description = "an ip" },
  { name = "args",  type = "[string]", max_items = 3, max_len = 8, description = "strings" },
  { name = "ports", type = "[int]", max_items = 3, description = "ints" },
  { name = "addrs", type = "[ip]", max_items = 3, description = "ips" },
]
"#;

/// The test schema.
pub fn schema() -> Schema {
    Schema::from_toml("jittest.toml", TEST_SCHEMA).expect("the test schema is valid")
}

// The IR builder is the interpreter tests' own: one builder for every runtime test.
#[path = "../interp_common/mod.rs"]
mod builder;
#[allow(
    unused_imports,
    reason = "each test binary includes this module and uses a different part of it"
)]
pub use builder::{field, str_const, Prog, Rb};

/// Evaluates every rule of `verified` on every event of a type it runs on with both engines;
/// panics naming the rule and event on the first disagreement. Returns (evaluations, trues).
pub fn assert_agree(verified: &Verified, events: &[Event<'_>]) -> (usize, usize) {
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
pub fn assert_engines_agree(verified: &Verified, events: &[Event<'_>]) {
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
