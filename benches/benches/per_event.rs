//! Per-event benchmarks, group `per_event`: `per_event/{jit,interp,baseline}/rules={1,10}`.
//!
//! Input: 480 in-memory `process_start` events from `vigil_benches::generate_events` (fixed,
//! deterministic; every twelfth one suspicious, so that a few fire: 4 of 480 with 1 rule, 44
//! with 10), built once with `EventBuilder`. Each iteration runs every event through:
//!
//! - `jit`: `Engine::process` with the Cranelift JIT evaluating conditions;
//! - `interp`: `Engine::process` with the reference interpreter;
//! - `baseline`: a hand-written Rust closure doing the same tests on the same `Event` through its
//!   safe getters (field indexes looked up once, case folded with `vigil_runtime::casefold`
//!   where the rule is case-insensitive).
//!
//! Two diagnostics split the engine's own cost from the evaluators': `jit_cond` and
//! `interp_cond` evaluate every rule's condition on every event through the `Evaluator` alone
//! (no dispatch, counters, `catch_unwind` or alert building).
//!
//! Throughput is in elements (events). The rules and their shapes are listed in
//! `vigil_benches::per_event` (1 rule: `image iendswith C and command_line icontains any
//! [4 items]`; 10 rules: `iendswith`/`icontains`/`ieq`/`istartswith`, `any`/`all` lists,
//! `not`, one `basename()` builtin with `iin`, int comparisons; no regex). An alert costs the
//! engines the alert itself (message interpolation, owned strings); the baseline only counts.
//!
//! Goals: the JIT within 1.5x of the baseline, and at least 5x faster than the interpreter.
//!
//! Run: `cargo bench -p vigil-benches --bench per_event`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use vigil_benches::per_event::{baseline_1, baseline_10, rules};
use vigil_benches::{compile_text, generate_events};
use vigil_runtime::engine::{Engine, EngineKind, EngineOptions, Evaluator};
use vigil_runtime::event::Event;
use vigil_runtime::interp::Interp;
use vigil_runtime::ir::RuleId;
use vigil_runtime::jit;
use vigil_runtime::schema::Schema;

const EVENTS: usize = 480;

fn engine(compiled: &vigil_compiler::compile::Compiled, kind: EngineKind) -> Engine {
    Engine::new(
        &compiled.verified,
        EngineOptions {
            engine: kind,
            ..EngineOptions::default()
        },
    )
    .expect("the engine builds")
}

fn run_engine(engine: &Engine, events: &[Event<'_>]) -> usize {
    let mut fired = 0;
    for event in events {
        fired += engine
            .process(black_box(event), &mut |alert| {
                black_box(alert);
            })
            .expect("the event fits");
    }
    fired
}

/// Every rule's condition on every event, through `evaluator` alone; how many hold.
fn run_conds(evaluator: &dyn Evaluator, rules: u32, events: &[Event<'_>]) -> usize {
    let mut hits = 0;
    for event in events {
        for r in 0..rules {
            hits += usize::from(
                evaluator
                    .eval(RuleId(r), black_box(event))
                    .expect("evaluates"),
            );
        }
    }
    hits
}

fn per_event(c: &mut Criterion) {
    let schema = Schema::endpoint();
    let events = generate_events(&schema, EVENTS);
    let mut g = c.benchmark_group("per_event");
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.measurement_time(Duration::from_secs(5));
    g.warm_up_time(Duration::from_secs(1));

    for n in [1usize, 10] {
        let compiled = compile_text(&rules(n), &schema);
        let jit = engine(&compiled, EngineKind::Jit);
        let interp = engine(&compiled, EngineKind::Interp);
        let baseline: Box<dyn Fn(&Event<'_>) -> usize> = if n == 1 {
            Box::new(baseline_1(&schema))
        } else {
            Box::new(baseline_10(&schema))
        };
        let run_baseline =
            |events: &[Event<'_>]| -> usize { events.iter().map(|e| baseline(black_box(e))).sum() };
        // The three agree on the inputs (the library's tests check it event by event).
        let want = run_baseline(&events);
        assert_eq!(run_engine(&jit, &events), want, "jit, {n} rules");
        assert_eq!(run_engine(&interp, &events), want, "interp, {n} rules");
        eprintln!("per_event: {n} rules fire {want} times on {EVENTS} events");
        let jit_cond = jit::compile(&compiled.verified).expect("the JIT compiles");
        let interp_cond = Interp::new(&compiled.verified).expect("the interpreter builds");
        let count = u32::try_from(n).expect("few rules");
        assert_eq!(run_conds(&jit_cond, count, &events), want);
        assert_eq!(run_conds(&interp_cond, count, &events), want);

        let param = format!("rules={n}");
        g.bench_function(BenchmarkId::new("jit", &param), |b| {
            b.iter(|| run_engine(&jit, &events));
        });
        g.bench_function(BenchmarkId::new("interp", &param), |b| {
            b.iter(|| run_engine(&interp, &events));
        });
        g.bench_function(BenchmarkId::new("baseline", &param), |b| {
            b.iter(|| run_baseline(&events));
        });
        g.bench_function(BenchmarkId::new("jit_cond", &param), |b| {
            b.iter(|| run_conds(&jit_cond, count, &events));
        });
        g.bench_function(BenchmarkId::new("interp_cond", &param), |b| {
            b.iter(|| run_conds(&interp_cond, count, &events));
        });
    }
    g.finish();
}

criterion_group!(benches, per_event);
criterion_main!(benches);
