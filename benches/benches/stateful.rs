//! Correlation throughput: 50 stateful rules (sequences of two steps with captures, `count` and
//! `distinct` thresholds, keyed by `pid` or `user`) over a stream of 1,000,000 events with
//! 100,000 distinct keys, in both evaluators.
//!
//! `cargo bench -p vigil-benches --bench stateful` first prints the figure reported in
//! `docs/performance.md` ("Correlation"): one pass over the 1,000,000 events per evaluator,
//! with events/s, the state bytes held against the verifier's bound, and the process's peak
//! resident memory (`VmHWM`); then criterion measures chunks of 100,000 events of the same
//! continuing stream. Building each event (the builder API, buffers reused) is part of the
//! loop; `build_only` measures that alone, in the same group.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use vigil_benches::{bench_budget, sources};
use vigil_compiler::compile::compile;
use vigil_compiler::Options;
use vigil_runtime::budget::Budget;
use vigil_runtime::engine::{Engine, EngineKind, EngineOptions};
use vigil_runtime::event::{Event, EventBuilder};
use vigil_runtime::schema::Schema;
use vigil_runtime::verify::Verified;

const RULES: usize = 50;
const EVENTS: u64 = 1_000_000;
const KEYS: u64 = 100_000;
const CHUNK: u64 = 100_000;
const TYPES: [&str; 3] = ["process_start", "network_connect", "process_end"];

/// The 50 rules, five shapes in turn.
fn rules_text() -> String {
    let mut t = String::new();
    for i in 0..RULES {
        let body = match i % 5 {
            0 => format!(
                "sequence by pid within 30s {{\n\
                   a: process_start when image endswith \"{}.exe\"\n\
                   b: network_connect when dest_port == 443 and a.user != \"svc\"\n\
                 }}\n\
                 emit \"{{a.user}} ran {{a.image}}, then {{b.dest_port}}\"",
                i % 7
            ),
            1 => format!(
                "on process_start when user != \"svc{i}\"\n\
                 threshold count >= 5 within 10s by pid"
            ),
            2 => "on network_connect\n\
                  threshold distinct(dest_port) >= 3 within 1m by pid"
                .to_owned(),
            3 => format!(
                "sequence by pid within 1m {{\n\
                   s: process_start when user != \"x{i}\"\n\
                   e: process_end when image == s.image and pid % 10 == 0\n\
                 }}"
            ),
            _ => "on process_end\n\
                  threshold count >= 10 within 5s by user"
                .to_owned(),
        };
        // Room for every key: the bench measures matching, not a table thrashing at capacity.
        t.push_str(&format!(
            "rule r{i} {{\nmeta {{ capacity: {KEYS}, capture_len: 64 }}\n{body}\n}}\n"
        ));
    }
    t
}

fn verified(schema: &Schema) -> Verified {
    let text = rules_text();
    // 50 tables of 100,000 keys: above the default bundle state budget (512 MiB of worst case).
    let budget = Budget {
        max_state_bytes: u64::MAX,
        ..bench_budget()
    };
    match compile(&sources(&text), schema, &Options::default(), &budget) {
        Ok(c) => c.verified,
        Err(d) => panic!("bench rules do not compile: {d:?}"),
    }
}

/// The strings events borrow: users and images.
struct Strings {
    users: Vec<String>,
    images: Vec<String>,
}

impl Strings {
    fn new() -> Strings {
        Strings {
            users: (0..KEYS).map(|k| format!("CORP\\user{k}")).collect(),
            images: (0..7)
                .map(|i| format!("C:\\Program Files\\app\\{i}.exe"))
                .collect(),
        }
    }
}

/// Fills `buf` with event number `j` of the stream: its type, key (one of [`KEYS`]) and a
/// time 50 µs after the previous one (each key comes back every 5 s of event time, so windows
/// of 5 s to 1 min hold a few of its events: some rules fire, most evaluations do not).
fn build<'s>(schema: &Schema, strings: &'s Strings, j: u64, buf: Event<'static>) -> Event<'s> {
    let k = (j.wrapping_mul(7919)) % KEYS;
    let ty = TYPES[(j % 3) as usize];
    let mut b = EventBuilder::reuse(schema, ty, buf).expect("event type");
    b.set_int("time", 1_700_000_000_000_000_000 + (j as i64) * 50_000)
        .expect("time");
    b.set_str("host", "bench-host").expect("host");
    b.set_int("pid", k as i64).expect("pid");
    b.set_str("user", &strings.users[k as usize]).expect("user");
    b.set_str("image", &strings.images[(k % 7) as usize])
        .expect("image");
    if ty == "network_connect" {
        b.set_int("dest_port", [443, 80, 8080][((j / 3) % 3) as usize])
            .expect("port");
    }
    b.finish()
}

/// Runs events `from..to` of the stream through `engine` (or only builds them).
fn run(schema: &Schema, strings: &Strings, engine: Option<&Engine>, from: u64, to: u64) -> usize {
    let mut alerts = 0;
    let mut buf = Event::default();
    for j in from..to {
        let ev = build(schema, strings, j, buf);
        if let Some(engine) = engine {
            alerts += engine.process(&ev, &mut |_| {}).expect("process");
        }
        black_box(&ev);
        buf = ev.recycle();
    }
    alerts
}

/// The figure for `docs/performance.md`: one pass over the whole stream per evaluator.
fn figure() {
    let schema = Schema::endpoint();
    let verified = verified(&schema);
    let strings = Strings::new();
    let started = Instant::now();
    run(&schema, &strings, None, 0, EVENTS);
    let build = started.elapsed();
    println!(
        "stateful/figure build_only: {EVENTS} events in {:.3} s ({:.0} events/s)",
        build.as_secs_f64(),
        EVENTS as f64 / build.as_secs_f64()
    );
    for kind in [EngineKind::Interp, EngineKind::Jit] {
        let engine = Engine::new(
            &verified,
            EngineOptions {
                engine: kind,
                ..EngineOptions::default()
            },
        )
        .expect("engine");
        let started = Instant::now();
        let mut alerts = 0;
        let mut chunks = Vec::new();
        let total: u64 = std::env::var("VIGIL_BENCH_EVENTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(EVENTS);
        for c in 0..total / CHUNK {
            let t = Instant::now();
            alerts += run(&schema, &strings, Some(&engine), c * CHUNK, (c + 1) * CHUNK);
            chunks.push(format!("{:.2}", t.elapsed().as_secs_f64()));
        }
        let took = started.elapsed();
        println!(
            "stateful/figure {kind:?}: s per 100,000 events: {}",
            chunks.join(" ")
        );
        let s = engine.stats();
        println!(
            "stateful/figure {kind:?}: {RULES} rules, {EVENTS} events, {KEYS} keys: {:.3} s, \
             {:.0} events/s, {alerts} alerts, state {} bytes (bound {}), evicted {}, \
             VmHWM {} KiB",
            took.as_secs_f64(),
            EVENTS as f64 / took.as_secs_f64(),
            s.state_bytes,
            engine.state_bound_bytes(),
            s.state_evicted,
            vigil_benches::rss::peak_rss_bytes().map_or(0, |b| b / 1024)
        );
    }
}

fn bench_stateful(c: &mut Criterion) {
    let schema = Schema::endpoint();
    let verified = verified(&schema);
    let strings = Strings::new();
    let mut group = c.benchmark_group("stateful");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(CHUNK));
    group.bench_function("build_only", |b| {
        let mut next = 0u64;
        b.iter_custom(|iters| {
            let started = Instant::now();
            for _ in 0..iters {
                run(&schema, &strings, None, next, next + CHUNK);
                next += CHUNK;
            }
            started.elapsed()
        });
    });
    for kind in [EngineKind::Interp, EngineKind::Jit] {
        let engine = Engine::new(
            &verified,
            EngineOptions {
                engine: kind,
                ..EngineOptions::default()
            },
        )
        .expect("engine");
        let name = format!("rules={RULES}/keys={KEYS}/{kind:?}").to_lowercase();
        group.bench_function(name, |b| {
            // One continuing stream: each iteration takes the next chunk of events.
            let mut next = 0u64;
            b.iter_custom(|iters| {
                let started = Instant::now();
                for _ in 0..iters {
                    black_box(run(&schema, &strings, Some(&engine), next, next + CHUNK));
                    next += CHUNK;
                }
                started.elapsed()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench_stateful);

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: the long figure runs
    // only when benchmarking.
    if std::env::args().any(|a| a == "--bench") {
        figure();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
