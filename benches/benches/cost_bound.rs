//! The verifier's promise, measured: on maximal events, no workload takes longer than its
//! verifier bound says (soundness), on either engine, and on maximal typical events the bound
//! is within 20x of the measured time (tightness).
//!
//! ```text
//! cargo bench -p vigil-benches --bench cost_bound
//! ```
//!
//! Each workload is a one-rule program on `process_start` over one event at its largest (the
//! schema's `max_len` per value, `max_total_len` for `args`, the event at most
//! `max_event_bytes`). Its bound is the event type's `base + per_byte x n` at the event's own
//! `n`, in time with the calibrated constant [`PS_PER_STEP`]. Each event is timed alone, the
//! fastest of a few runs, on the JIT and on the interpreter. The table gives the measured ns per
//! bound step of each: the largest over all workloads is what the constant must cover, and the
//! bench **fails** (panics, after printing the table) when any workload needs more than
//! [`PS_PER_STEP`], so the constant in the code is re-checked whenever the engines change.
//!
//! Streams: regex blow-ups (patterns with large DFAs, and patterns no DFA within the size limit
//! can run, on the PikeVM under a raised budget, over subjects of `a`/`b` with the required `c`
//! at the end so that no prefilter can skip them), quantifier shapes over maximal `args`
//! (`any(a in args, len(a) > 100 and a matches ...)` with every item failing at its last byte),
//! prefilter scans (2,000 literals over text made of them), and typical rules over a maximal
//! event (the tightness rows).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use vigil_benches::adversarial::{dense_literals, filler, literal_text, vgl_str};
use vigil_benches::sources;
use vigil_compiler::compile::compile;
use vigil_compiler::Options;
use vigil_runtime::budget::Budget;
use vigil_runtime::engine::{Engine, EngineKind, EngineOptions};
use vigil_runtime::event::{Event, EventBuilder};
use vigil_runtime::schema::Schema;
use vigil_runtime::verify::{steps_to_ns, Verified, PS_PER_STEP};

/// Runs of each event; the fastest is kept (noise only adds).
const REPEATS: usize = 5;
/// The tightness goal: bound / measured at most this on the `typical` rows.
const TIGHT: f64 = 20.0;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A worst case for its construct: must be within the bound.
    Adversarial,
    /// A typical rule on a maximal event: within the bound and within [`TIGHT`] of it.
    Typical,
}

struct Workload {
    name: &'static str,
    kind: Kind,
    /// The rule's condition.
    when: String,
    /// Whether the default budget is raised (patterns only a PikeVM runs).
    raised: bool,
    /// Builds the event.
    event: fn(&Schema) -> Event<'static>,
}

/// A string of `len` bytes of `a`/`b` (a fixed pseudo-random mix) ending in `c`.
fn ab_text(len: usize) -> String {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut s: String = (0..len.saturating_sub(1))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x & 1 == 0 {
                'a'
            } else {
                'b'
            }
        })
        .collect();
    s.push('c');
    s
}

fn with(schema: &Schema, fill: impl FnOnce(&mut EventBuilder<'_, 'static>)) -> Event<'static> {
    let mut b = EventBuilder::new(schema, "process_start").expect("process_start");
    fill(&mut b);
    b.finish()
}

fn ev_ab(schema: &Schema) -> Event<'static> {
    with(schema, |b| {
        b.set_string("command_line", ab_text(98_304)).expect("set");
    })
}

fn ev_filler(schema: &Schema) -> Event<'static> {
    with(schema, |b| {
        b.set_string("command_line", filler(98_304, 7))
            .expect("set");
    })
}

/// Every string field of `process_start` at its `max_len` (the event cut to
/// `max_event_bytes` by the builder, longest values first), `args` at `max_total_len`.
fn ev_max(schema: &Schema) -> Event<'static> {
    let Some((_, et)) = schema.event("process_start") else {
        panic!("process_start");
    };
    let fields: Vec<(String, usize, bool)> = et
        .fields
        .iter()
        .filter(|f| f.max_len > 0)
        .map(|f| (f.name.clone(), f.max_len as usize, f.ty.is_list()))
        .collect();
    with(schema, |b| {
        for (i, (name, len, list)) in fields.iter().enumerate() {
            if *list {
                for k in 0..64 {
                    let _ =
                        b.push_item_cow(name.as_str(), filler(1536, (i * 100 + k) as u64).into());
                }
            } else {
                let _ = b.set_string(name.as_str(), filler(*len, i as u64));
            }
        }
    })
}

/// `args` at its `max_total_len`: 64 items of 1,536 base64 characters, each ending in `!`
/// (so `^[A-Za-z0-9+/=]+$` scans every item to its end and fails).
fn ev_args_base64(schema: &Schema) -> Event<'static> {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    with(schema, |b| {
        for k in 0..64usize {
            let mut item: String = (0..1535)
                .map(|i| char::from(B64[(i * 7 + k * 13) % B64.len()]))
                .collect();
            item.push('!');
            b.push_item_cow("args", item.into()).expect("push");
        }
        b.set_string("command_line", filler(98_304, 3))
            .expect("set");
    })
}

fn ev_dense(schema: &Schema) -> Event<'static> {
    let lits = dense_literals();
    with(schema, |b| {
        b.set_string("command_line", literal_text(&lits, 98_304, 0))
            .expect("set");
    })
}

fn workloads() -> Vec<Workload> {
    let dense = format!(
        "[{}]",
        dense_literals()
            .iter()
            .map(|l| vgl_str(l))
            .collect::<Vec<_>>()
            .join(", ")
    );
    vec![
        Workload {
            name: "regex_dfa",
            kind: Kind::Adversarial,
            when: r#"command_line matches r"[a-z]{4}[0-9]{3}[A-Z]{4}[0-9]{3}""#.into(),
            raised: false,
            event: ev_filler,
        },
        Workload {
            name: "regex_dfa_ab",
            kind: Kind::Adversarial,
            when: r#"command_line matches r"[ab]*a[ab]{8}c""#.into(),
            raised: false,
            event: ev_ab,
        },
        Workload {
            name: "regex_dfa_unicode",
            kind: Kind::Adversarial,
            when: r#"command_line matches r"\w{2}[0-9a-f]{8}\s\w+c""#.into(),
            raised: false,
            event: ev_ab,
        },
        Workload {
            name: "regex_pike_60",
            kind: Kind::Adversarial,
            when: r#"command_line matches r"[ab]*a[ab]{60}c""#.into(),
            raised: true,
            event: ev_ab,
        },
        Workload {
            name: "regex_pike_900",
            kind: Kind::Adversarial,
            when: r#"command_line matches r"[ab]*a[ab]{900}c""#.into(),
            raised: true,
            event: ev_ab,
        },
        Workload {
            name: "quant_base64",
            kind: Kind::Adversarial,
            when: r#"any(a in args, len(a) > 100 and a matches r"^[A-Za-z0-9+/=]+$")"#.into(),
            raised: false,
            event: ev_args_base64,
        },
        Workload {
            name: "quant_contains",
            kind: Kind::Adversarial,
            when: r#"any(a in args, a icontains "qq#zz" or a iendswith ".hta")"#.into(),
            raised: false,
            event: ev_args_base64,
        },
        Workload {
            name: "scan_dense",
            kind: Kind::Adversarial,
            when: format!("command_line icontains any {dense}"),
            raised: false,
            event: ev_dense,
        },
        Workload {
            name: "field_vs_field",
            kind: Kind::Adversarial,
            when: "command_line icontains parent_command_line".into(),
            raised: false,
            event: ev_max,
        },
        Workload {
            name: "typical_literals",
            kind: Kind::Typical,
            when: r#"basename(image) ieq "certutil.exe" and command_line icontains "-urlcache""#
                .into(),
            raised: false,
            event: ev_max,
        },
        Workload {
            name: "typical_regex",
            kind: Kind::Typical,
            when: r#"image iendswith "\\powershell.exe" or command_line matches r"(?i)-e(nc)?\s+[a-z0-9+/=]{40,}""#
                .into(),
            raised: false,
            event: ev_max,
        },
        Workload {
            name: "typical_args",
            kind: Kind::Typical,
            when: r#"any(a in args, len(a) > 100 and a matches r"^[A-Za-z0-9+/=]+$")"#.into(),
            raised: false,
            event: ev_max,
        },
    ]
}

fn compile_rule(when: &str, raised: bool, schema: &Schema) -> Verified {
    let text = format!(
        "rule w {{\n    meta {{ title: \"workload\", severity: low }}\n    on process_start\n    when {when}\n}}\n"
    );
    let budget = if raised {
        Budget {
            max_rule_cost: u64::MAX,
            max_rule_base_steps: u64::MAX,
            max_rule_steps_per_byte: u64::MAX,
            max_event_cost: u64::MAX,
            max_event_base_steps: u64::MAX,
            max_event_steps_per_byte: u64::MAX,
            ..Budget::default()
        }
    } else {
        Budget::default()
    };
    match compile(&sources(&text), schema, &Options::default(), &budget) {
        Ok(c) => c.verified,
        Err(d) => panic!("workload does not verify: {d:?}"),
    }
}

fn engine(verified: &Verified, kind: EngineKind) -> Engine {
    Engine::new(
        verified,
        EngineOptions {
            engine: kind,
            prefilter: true,
            ..EngineOptions::default()
        },
    )
    .expect("engine")
}

fn fastest(engine: &Engine, event: &Event<'_>, repeats: usize) -> Duration {
    (0..repeats)
        .map(|_| {
            let t = Instant::now();
            black_box(engine.process(event, &mut |_| {}).ok());
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// The event's input bytes `n`: its string values and string list items.
fn input_bytes(schema: &Schema, event: &Event<'_>) -> u64 {
    let Some(et) = schema.event_by_id(event.ty()) else {
        return 0;
    };
    let mut n = 0u64;
    for (i, f) in et.fields.iter().enumerate() {
        let ix = vigil_runtime::schema::FieldIndex(i as u16);
        if f.ty.is_list() {
            for k in 0..event.list_len(ix) {
                n += event.list_item_str(ix, k).len() as u64;
            }
        } else if f.max_len > 0 {
            n += event.get_str(ix).len() as u64;
        }
    }
    n
}

fn cost_bound(_c: &mut Criterion) {
    let schema = Schema::endpoint();
    let ns_per_step = PS_PER_STEP as f64 / 1000.0;
    println!("\ncost_bound: each workload's event timed alone (fastest of {REPEATS}); bound = the event type's base + per_byte x n at the event's n, at {ns_per_step:.3} ns/step (PS_PER_STEP)");
    println!(
        "{:<18} {:>5} {:>7} {:>9} {:>5} {:>11} {:>11} {:>11} {:>11} {:>7} {:>7}",
        "workload",
        "kind",
        "engine",
        "n bytes",
        "/byte",
        "bound steps",
        "bound ns",
        "jit ns",
        "interp ns",
        "jit m/b",
        "int m/b"
    );
    let mut worst_per_step = [0.0f64; 2];
    let mut failures = Vec::new();
    for w in workloads() {
        let verified = compile_rule(&w.when, w.raised, &schema);
        let event = (w.event)(&schema);
        let n = input_bytes(&schema, &event);
        let Some(ev) = verified
            .cost()
            .events
            .iter()
            .find(|e| e.event == event.ty())
        else {
            panic!("{}: no bound for process_start", w.name);
        };
        let steps = ev.bound.at(n);
        let bound_ns = steps_to_ns(steps) as f64;
        let kind = verified.regexes().first().map_or("-", |m| match m.kind() {
            vigil_runtime::matcher::MatcherKind::Dfa => "dfa",
            vigil_runtime::matcher::MatcherKind::PikeVm => "pike",
        });
        let repeats = if w.raised { 2 } else { REPEATS };
        let jit = fastest(&engine(&verified, EngineKind::Jit), &event, repeats).as_nanos() as f64;
        let interp =
            fastest(&engine(&verified, EngineKind::Interp), &event, repeats).as_nanos() as f64;
        println!(
            "{:<18} {:>5} {:>7} {:>9} {:>5} {:>11} {:>11.0} {:>11.0} {:>11.0} {:>7.3} {:>7.3}",
            w.name,
            if w.kind == Kind::Typical {
                "typ"
            } else {
                "adv"
            },
            kind,
            n,
            ev.bound.steps_per_byte,
            steps,
            bound_ns,
            jit,
            interp,
            jit / bound_ns,
            interp / bound_ns
        );
        worst_per_step[0] = worst_per_step[0].max(jit / steps.max(1) as f64);
        worst_per_step[1] = worst_per_step[1].max(interp / steps.max(1) as f64);
        for (engine_name, t) in [("jit", jit), ("interp", interp)] {
            if t > bound_ns {
                failures.push(format!(
                    "{} on the {engine_name}: {t:.0} ns > bound {bound_ns:.0} ns",
                    w.name
                ));
            }
            if w.kind == Kind::Typical && bound_ns / t > TIGHT {
                println!(
                    "  (tightness goal missed: {} on the {engine_name}: bound {:.1}x the time)",
                    w.name,
                    bound_ns / t
                );
            }
        }
    }
    println!(
        "measured ns per bound step, the most over all workloads: JIT {:.3}, interpreter {:.3}; the constant (the slower engine's) is {ns_per_step:.3}",
        worst_per_step[0], worst_per_step[1]
    );
    assert!(
        failures.is_empty(),
        "the verifier's bound is exceeded: the calibrated constant PS_PER_STEP ({PS_PER_STEP} ps) is too small or a charge is wrong:\n{}",
        failures.join("\n")
    );
}

criterion_group!(benches, cost_bound);
criterion_main!(benches);
