//! Cost per event as the rule set grows: the converted SigmaHQ Windows `process_creation` rules
//! (the first 1, 10, 100, 1,000, then all, in file order) over the corpus's Sysmon EID 1
//! events (`events/evtx-attack-samples`, decoded with the `sysmon` mapping, `process_start`
//! only), in memory, on one core.
//!
//! Per rule count, three engines: `jit` (native code with the whole-bundle prefilter: rules
//! whose required literals did not occur are skipped, literal tests read the prefilter's
//! bits), `jit_no_prefilter` (native code, rule by rule: the baseline the prefilter is
//! measured against) and `interp` (the reference interpreter, with the prefilter). Throughput
//! in events. Run: `cargo bench -p vigil-benches --bench scaling` (`VIGIL_CORPUS` overrides the
//! corpus location; without a corpus it prints a note and exits). Results and the goals they
//! are compared with: `docs/performance.md`, "Prefilter and scaling".

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use vigil_benches::corpus;
use vigil_runtime::budget::Budget;
use vigil_runtime::decode::{Decoder, Mapping};
use vigil_runtime::engine::{Engine, EngineKind, EngineOptions};
use vigil_runtime::event::Event;
use vigil_runtime::schema::Schema;
use vigil_runtime::verify::Verified;

fn verify(rules: &[(String, String)]) -> Verified {
    corpus::compile_rules(rules, &Schema::endpoint(), &Budget::default()).verified
}

fn engine(verified: &Verified, kind: EngineKind, prefilter: bool) -> Engine {
    Engine::new(
        verified,
        EngineOptions {
            engine: kind,
            prefilter,
            ..EngineOptions::default()
        },
    )
    .expect("engine")
}

fn scaling(c: &mut Criterion) {
    let Some(root) = corpus::root() else {
        eprintln!("scaling: no corpus; skipped");
        return;
    };
    let rules = corpus::sigma_rules(&root, "rules/windows/process_creation");
    let lines = corpus::event_lines(&root, "evtx-attack-samples");
    let schema = Schema::endpoint();
    let mapping = Mapping::builtin("sysmon").expect("the sysmon mapping ships");
    let mut decoder = Decoder::with_mapping(&schema, &mapping).expect("sysmon decoder");
    let process_start = schema.event("process_start").expect("process_start").0;
    let mut events: Vec<Event<'_>> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let _ = decoder.decode_line(line, i as u64 + 1, &mut events);
    }
    events.retain(|e| e.ty() == process_start);
    eprintln!(
        "scaling: {} process_creation rules, {} process_start events",
        rules.len(),
        events.len()
    );

    let mut group = c.benchmark_group("scaling");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(events.len() as u64));
    let mut counts: Vec<usize> = [1, 10, 100, 1000]
        .into_iter()
        .filter(|&n| n < rules.len())
        .collect();
    counts.push(rules.len());
    for n in counts {
        let verified = verify(&rules[..n]);
        for (name, kind, prefilter) in [
            ("jit", EngineKind::Jit, true),
            ("jit_no_prefilter", EngineKind::Jit, false),
            ("interp", EngineKind::Interp, true),
        ] {
            let e = engine(&verified, kind, prefilter);
            group.bench_with_input(BenchmarkId::new(name, format!("rules={n}")), &n, |b, _| {
                b.iter(|| {
                    let mut alerts = 0usize;
                    for ev in &events {
                        alerts += e.process(ev, &mut |_| {}).unwrap_or(0);
                    }
                    alerts
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, scaling);
criterion_main!(benches);
