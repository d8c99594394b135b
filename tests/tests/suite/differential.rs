//! Differential test across the crates: random programs from `vigil_test_support::testgen` over the
//! standard `endpoint` schema (single, sequence and threshold rules; every node kind the
//! generator knows), random events of every event type those rules run on, within the
//! schema's bounds (absent fields, empty and max-length strings, over-long strings cut and
//! flagged by the builder, non-ASCII with case folds that change length, `i64::MIN`, full and
//! over-full lists). The interpreter is the oracle: the JIT must return the same result, bit
//! for bit, on every (program, event).
//!
//! The JIT's own generator over a small test schema (more node shapes, tighter bounds) is
//! `runtime/tests/runtime/jit_diff.rs`. `VIGIL_DIFF_CASES` sets the number of programs here (default
//! 1024, each run on 16 events).

use std::net::IpAddr;

use proptest::prelude::*;
use vigil_runtime::bind::bind;
use vigil_runtime::budget::Budget;
use vigil_runtime::engine::Evaluator;
use vigil_runtime::event::{Event, EventBuilder};
use vigil_runtime::interp::Interp;
use vigil_runtime::ir::RuleId;
use vigil_runtime::jit;
use vigil_runtime::schema::Schema;
use vigil_runtime::types::{Scalar, Ty};
use vigil_runtime::verify::verify;
use vigil_test_support::testgen::{endpoint_schema as endpoint, program_from_seed};

fn cases() -> u32 {
    std::env::var("VIGIL_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

const WORDS: &[&str] = &[
    "",
    "a",
    "cmd.exe",
    "CMD.EXE",
    "powershell",
    "-enc",
    "\\",
    "/",
    "é",
    "ΣΑΣ",
    "K",
    "\u{212A}",
    "İ",
    "ẞ",
    "ß",
    ".exe",
    "http",
    "C:\\Windows\\",
    "\u{0}",
    "日本",
    "ab",
    "aab",
    "x.dll",
];
const INTS: &[i64] = &[0, 1, -1, 7, 443, 1000, i64::MIN, i64::MAX];
const IPS: &[&str] = &[
    "10.1.2.3",
    "::ffff:10.1.2.3",
    "192.168.0.9",
    "8.8.8.8",
    "::1",
    "fe80::1",
    "0.0.0.0",
];

/// What to put in one field, chosen by proptest independently of the field's type.
#[derive(Clone, Debug)]
enum Choice {
    Absent,
    Word(usize),
    /// A string of this many repeats of a character (past `max_len`: cut and flagged).
    Long(char, usize),
    Int(i64),
    Items(Vec<usize>),
    Truncated(usize),
}

fn choice() -> impl Strategy<Value = Choice> {
    prop_oneof![
        2 => Just(Choice::Absent),
        6 => (0..WORDS.len()).prop_map(Choice::Word),
        1 => (proptest::sample::select(&['a', 'ẞ', 'K', '\u{212A}', 'é'][..]), 0usize..1200)
            .prop_map(|(c, n)| Choice::Long(c, n)),
        2 => prop_oneof![proptest::sample::select(INTS), any::<i64>()].prop_map(Choice::Int),
        2 => proptest::collection::vec(0..WORDS.len(), 0..6).prop_map(Choice::Items),
        1 => (0..WORDS.len()).prop_map(Choice::Truncated),
    ]
}

/// Fills every field of event type `ty` from `choices` (cycled), by the field's type.
fn build(schema: &Schema, ty: &str, choices: &[Choice]) -> Event<'static> {
    let (_, et) = schema.event(ty).expect("event type from the schema");
    let mut b = EventBuilder::new(schema, ty).expect("event type from the schema");
    let ok = "field from the schema";
    for (i, def) in et.fields.iter().enumerate() {
        let c = &choices[i % choices.len()];
        let name = def.name.as_str();
        let word = |k: usize| WORDS[k % WORDS.len()];
        match (c, def.ty) {
            (Choice::Absent, _) => {}
            (Choice::Word(k) | Choice::Truncated(k), Ty::Scalar(Scalar::Str)) => {
                b.set_str(name, word(*k)).expect(ok);
                if matches!(c, Choice::Truncated(_)) {
                    b.mark_truncated(name).expect(ok);
                }
            }
            (Choice::Long(c, n), Ty::Scalar(Scalar::Str)) => {
                b.set_string(name, c.to_string().repeat(*n)).expect(ok);
            }
            (Choice::Int(v), Ty::Scalar(Scalar::Str)) => {
                b.set_string(name, v.to_string()).expect(ok)
            }
            (Choice::Items(items), Ty::Scalar(Scalar::Str)) => {
                b.set_str(name, word(items.len())).expect(ok);
            }
            (Choice::Int(v), Ty::Scalar(Scalar::Int)) => b.set_int(name, *v).expect(ok),
            (
                Choice::Word(k) | Choice::Truncated(k) | Choice::Long(_, k),
                Ty::Scalar(Scalar::Int),
            ) => {
                b.set_int(name, INTS[k % INTS.len()]).expect(ok);
            }
            (_, Ty::Scalar(Scalar::Int)) => b.set_int(name, 0).expect(ok),
            (c, Ty::Scalar(Scalar::Bool)) => b
                .set_bool(name, matches!(c, Choice::Word(k) if k % 2 == 0))
                .expect(ok),
            (c, Ty::Scalar(Scalar::Ip)) => {
                let k = match c {
                    Choice::Word(k) | Choice::Truncated(k) | Choice::Long(_, k) => *k,
                    Choice::Int(v) => v.unsigned_abs() as usize,
                    _ => 0,
                };
                let ip: IpAddr = IPS[k % IPS.len()].parse().expect("test ip");
                b.set_ip(name, ip).expect(ok);
            }
            (c, Ty::List(elem)) => {
                let items: Vec<usize> = match c {
                    Choice::Items(items) => items.clone(),
                    Choice::Word(k) => vec![*k],
                    // More than any test bound: the builder keeps max_items and flags the rest.
                    Choice::Long(_, n) => (0..(*n % 80)).collect(),
                    _ => Vec::new(),
                };
                b.start_list(name).expect(ok);
                for k in items {
                    match elem {
                        Scalar::Int => b.push_int_item(name, INTS[k % INTS.len()]).expect(ok),
                        Scalar::Ip => b
                            .push_ip_item(name, IPS[k % IPS.len()].parse().expect("ip"))
                            .expect(ok),
                        _ => b.push_item(name, word(k)).expect(ok),
                    }
                }
            }
            _ => {}
        }
    }
    b.finish()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn jit_agrees_with_interpreter_on_generated_programs(
        seed in any::<u64>(),
        events in proptest::collection::vec(proptest::collection::vec(choice(), 1..24), 16),
    ) {
        let schema = endpoint();
        let program = program_from_seed(seed, schema);
        let binding = bind(&program, schema).map_err(|e| TestCaseError::fail(format!("bind: {e:?}")))?;
        let verified = match verify(program, binding, &Budget::default()) {
            Ok(v) => v,
            // The generator stays within the default limits; a refusal is discarded (and would
            // show up as a low acceptance rate in `generated_programs_mostly_verify`).
            Err(_) => return Err(TestCaseError::reject("refused by the verifier")),
        };
        let interp = Interp::new(&verified).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let compiled = jit::compile(&verified).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (r, rule) in verified.program().rules.iter().enumerate() {
            let id = RuleId(r as u32);
            for &ty in verified.binding().rule_events(id) {
                let name = verified.binding().event_name(ty).to_owned();
                for choices in &events {
                    let event = build(schema, &name, choices);
                    let want = interp.eval_cond(id, &event);
                    let got = compiled.eval(id, &event);
                    prop_assert_eq!(
                        &got, &want,
                        "seed {} rule {} ({}) on {}: {:#?}\nevent: {:#?}", seed, r, rule.name, name, rule, event
                    );
                }
            }
        }
    }
}

#[test]
fn generated_programs_mostly_verify() {
    let schema = endpoint();
    let total = 200u64;
    let accepted = (0..total)
        .filter(|&seed| {
            let program = program_from_seed(seed, schema);
            bind(&program, schema)
                .ok()
                .is_some_and(|b| verify(program, b, &Budget::default()).is_ok())
        })
        .count() as u64;
    assert!(
        accepted * 10 >= total * 9,
        "only {accepted} of {total} generated programs verify"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases() / 4))]

    /// The verifier's promise, checked by execution: a generated program that verifies runs
    /// every rule on every event within the worst-case steps the verifier computed for it.
    /// The interpreter counts one step per node visit and per quantifier iteration; the
    /// verifier's bound also charges every byte a string operation may scan, so it must
    /// never be the smaller number.
    #[test]
    fn verified_programs_run_within_their_cost_bound(
        seed in any::<u64>(),
        events in proptest::collection::vec(proptest::collection::vec(choice(), 1..24), 8),
    ) {
        let schema = endpoint();
        let program = program_from_seed(seed, schema);
        let binding = bind(&program, schema).map_err(|e| TestCaseError::fail(format!("bind: {e:?}")))?;
        let Ok(verified) = verify(program, binding, &Budget::default()) else {
            return Err(TestCaseError::reject("refused by the verifier"));
        };
        let interp = Interp::new(&verified).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (r, rule) in verified.program().rules.iter().enumerate() {
            let id = RuleId(r as u32);
            let bound = verified
                .cost()
                .rules
                .iter()
                .find(|c| c.rule == id)
                .map(|c| c.steps)
                .ok_or_else(|| TestCaseError::fail("no cost for rule"))?;
            for &ty in verified.binding().rule_events(id) {
                let name = verified.binding().event_name(ty).to_owned();
                for choices in &events {
                    let event = build(schema, &name, choices);
                    if let Ok((_, steps)) = interp.eval_cond_counted(id, &event) {
                        prop_assert!(
                            steps <= bound,
                            "seed {} rule {} ({}): {} steps, bound {}", seed, r, rule.name, steps, bound
                        );
                    }
                }
            }
        }
    }
}
