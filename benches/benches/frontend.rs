//! Front-end benchmarks, group `compile`, over 10,000 generated single-event `process_start`
//! rules (`vigil_benches::generate_rules`), on one core:
//!
//! - `compile/check/rules=10000`: parse, resolve and type-check (`vigil_compiler::check`). Goal:
//!   at most 1 s.
//! - `compile/full/rules=10000`: check, lower, bind and verify (`compile::compile`).
//! - `compile/verify/rules=10000`: the verifier alone: `bind` + `verify` of the lowered program
//!   (the clone of the program it consumes is made outside the timing).
//!
//! Run: `cargo bench -p vigil-benches --bench frontend`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, SamplingMode};
use vigil_benches::{bench_budget, compile_text, generate_rules, sources};
use vigil_compiler::compile::compile;
use vigil_compiler::{check, Options};
use vigil_runtime::bind::bind;
use vigil_runtime::schema::Schema;
use vigil_runtime::verify::verify;

const RULES: usize = 10_000;

fn frontend(c: &mut Criterion) {
    let schema = Schema::endpoint();
    let text = generate_rules(RULES);
    let srcs = sources(&text);
    let opts = Options::default();
    let budget = bench_budget();
    let program = compile_text(&text, &schema).program().clone();
    let id = |name: &str| BenchmarkId::new(name, format!("rules={RULES}"));

    let mut g = c.benchmark_group("compile");
    g.sample_size(10);
    // Flat: each iteration takes long; ten samples of a few iterations each.
    g.sampling_mode(SamplingMode::Flat);
    g.measurement_time(Duration::from_secs(10));
    g.warm_up_time(Duration::from_secs(2));

    g.bench_function(id("check"), |b| {
        b.iter(|| {
            let (typed, diags) = check(&srcs, &schema, &opts);
            assert!(typed.is_some(), "{diags:?}");
            typed
        });
    });
    g.bench_function(id("full"), |b| {
        b.iter(|| compile(&srcs, &schema, &opts, &budget).expect("the generated rules compile"));
    });
    g.bench_function(id("verify"), |b| {
        b.iter_batched(
            || program.clone(),
            |program| {
                let binding = bind(&program, &schema).expect("binds");
                verify(program, binding, &budget).expect("verifies")
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

criterion_group!(benches, frontend);
criterion_main!(benches);
