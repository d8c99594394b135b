//! Differential test: the dense generator (`vigil_test_support::testgen::dense`) makes
//! well-typed IR programs over its test schema (every node kind: arithmetic with zero divisors
//! and `i64::MIN`, comparisons of every scalar type, string tests folded and not, string lists
//! any/all including empty ones, membership of strings, ints, ips and ips in cidrs, regexes,
//! every builtin, quantifiers (nested) over list fields and constant lists,
//! `exists`/`truncated`, nested `and`/`or`/`not`), proptest generates events within
//! the schema's bounds (empty, max-length and over-long strings, case folds that change
//! length, missing fields, truncated flags, lists with 0 and max items), and asserts that the
//! JIT and the interpreter agree on every (program, event).
//!
//! Each case compiles one program of several rules and runs it on a batch of events, so many
//! evaluations cost one compile. `VIGIL_DIFF_CASES` sets the number of cases.

use std::net::IpAddr;

use proptest::prelude::*;
use vigil_runtime::event::{Event, EventBuilder};
use vigil_runtime::schema::Schema;
use vigil_test_support::testgen::dense::{ip, program, program_of, schema, INTS, IPS, WORDS};

use crate::jit_common::assert_agree;

/// Cases per run: `VIGIL_DIFF_CASES`, default 2048 (each compiles 1 to 5 rules and runs them on
/// 24 events: about 50,000 (program, event) pairs, a few seconds in a debug build).
fn cases() -> u32 {
    std::env::var("VIGIL_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2048)
}

/// One event's values, as proptest generates them (and shrinks them).
#[derive(Clone, Debug)]
struct EventSpec {
    second_type: bool,
    s1: Option<String>,
    s2: Option<String>,
    host: Option<String>,
    n1: Option<i64>,
    n2: Option<i64>,
    time: Option<i64>,
    b1: Option<bool>,
    ip1: Option<IpAddr>,
    ip2: Option<IpAddr>,
    args: Option<Vec<String>>,
    ports: Option<Vec<i64>>,
    addrs: Option<Vec<IpAddr>>,
    truncated: Option<&'static str>,
}

fn string_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(WORDS).prop_map(str::to_string),
        // Over-long values: the builder cuts them at a character boundary and flags them.
        2 => "[a-cA-CẞßKkİé.\\\\/ ]{0,12}",
        1 => Just("abcdefgh".to_string()),
        1 => Just("ẞẞẞ".to_string()),
        1 => Just("\u{212A}\u{212A}\u{212A}".to_string()),
    ]
}

fn int_value() -> impl Strategy<Value = i64> {
    prop_oneof![3 => proptest::sample::select(INTS), 1 => any::<i64>(), 1 => -10i64..10]
}

fn ip_value() -> impl Strategy<Value = IpAddr> {
    prop_oneof![3 => proptest::sample::select(IPS).prop_map(ip), 1 => any::<IpAddr>()]
}

fn event_spec() -> impl Strategy<Value = EventSpec> {
    let strings = (
        proptest::option::weighted(0.8, string_value()),
        proptest::option::weighted(0.8, string_value()),
        proptest::option::weighted(0.5, string_value()),
    );
    let ints = (
        proptest::option::weighted(0.8, int_value()),
        proptest::option::weighted(0.8, int_value()),
        proptest::option::weighted(0.5, int_value()),
        proptest::option::weighted(0.8, any::<bool>()),
    );
    let ips = (
        proptest::option::weighted(0.8, ip_value()),
        proptest::option::weighted(0.6, ip_value()),
    );
    let lists = (
        proptest::option::weighted(0.8, proptest::collection::vec(string_value(), 0..5)),
        proptest::option::weighted(0.8, proptest::collection::vec(int_value(), 0..5)),
        proptest::option::weighted(0.8, proptest::collection::vec(ip_value(), 0..5)),
    );
    let extra = (
        any::<bool>(),
        proptest::option::weighted(
            0.2,
            proptest::sample::select(&["s1", "s2", "args", "n1"][..]),
        ),
    );
    (strings, ints, ips, lists, extra).prop_map(
        |(
            (s1, s2, host),
            (n1, n2, time, b1),
            (ip1, ip2),
            (args, ports, addrs),
            (second_type, truncated),
        )| {
            EventSpec {
                second_type,
                s1,
                s2,
                host,
                n1,
                n2,
                time,
                b1,
                ip1,
                ip2,
                args,
                ports,
                addrs,
                truncated,
            }
        },
    )
}

fn build<'a>(schema: &Schema, spec: &'a EventSpec) -> Event<'a> {
    let ty = if spec.second_type { "ev2" } else { "ev" };
    let mut b = EventBuilder::new(schema, ty).expect("test event type");
    let ok = "test field";
    if let Some(v) = &spec.s1 {
        b.set_str("s1", v).expect(ok);
    }
    if let Some(v) = &spec.s2 {
        b.set_str("s2", v).expect(ok);
    }
    if let Some(v) = &spec.host {
        b.set_str("host", v).expect(ok);
    }
    for (name, v) in [("n1", spec.n1), ("n2", spec.n2), ("time", spec.time)] {
        if let Some(v) = v {
            b.set_int(name, v).expect(ok);
        }
    }
    if let Some(v) = spec.b1 {
        b.set_bool("b1", v).expect(ok);
    }
    for (name, v) in [("ip1", spec.ip1), ("ip2", spec.ip2)] {
        if let Some(v) = v {
            b.set_ip(name, v).expect(ok);
        }
    }
    if let Some(items) = &spec.args {
        b.start_list("args").expect(ok);
        for v in items {
            b.push_item("args", v).expect(ok);
        }
    }
    if let Some(items) = &spec.ports {
        b.start_list("ports").expect(ok);
        for v in items {
            b.push_int_item("ports", *v).expect(ok);
        }
    }
    if let Some(items) = &spec.addrs {
        b.start_list("addrs").expect(ok);
        for v in items {
            b.push_ip_item("addrs", *v).expect(ok);
        }
    }
    if let Some(name) = spec.truncated {
        b.mark_truncated(name).expect(ok);
    }
    b.finish()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn jit_agrees_with_interpreter(seed in any::<u64>(), specs in proptest::collection::vec(event_spec(), 24)) {
        let schema = schema();
        let events: Vec<Event<'_>> = specs.iter().map(|s| build(&schema, s)).collect();
        let verified = program(seed, schema.clone()).try_verify();
        // Every generated program is within the verifier's limits; a refusal is a generator bug.
        let verified = verified.map_err(|e| TestCaseError::fail(format!("seed {seed}: {e}")))?;
        assert_agree(&verified, &events);
    }
}

#[test]
fn many_rules_compile_into_one_program() {
    // The size knob of the scaling run: `VIGIL_TEST_SCALE` rules (default 300).
    let n: u64 = std::env::var("VIGIL_TEST_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let schema = schema();
    let verified = program_of(7, schema.clone(), Some(n)).verify();
    let compiled = vigil_runtime::jit::compile(&verified).expect("compiles");
    let stats = compiled.stats();
    assert_eq!(stats.rules as u64, n);
    assert!(stats.functions >= stats.rules);
    eprintln!(
        "{} rules, {} functions, {} bytes of code, compiled in {:?}",
        stats.rules, stats.functions, stats.code_bytes, stats.compile_time
    );
    let events: Vec<Event<'_>> = ["ev", "ev2"]
        .iter()
        .map(|ty| EventBuilder::new(&schema, *ty).expect("type").finish())
        .collect();
    assert_agree(&verified, &events);
}
