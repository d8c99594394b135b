//! Bad input: what adversarial events cost next to typical ones, per event and per input byte,
//! and whether any event costs more than the verifier's bound predicts.
//!
//! The converted SigmaHQ `rules/windows` rules (imported with `vigil_compiler::sigma::import`,
//! compiled under the default budget) run in one engine (JIT with the whole-bundle prefilter)
//! over five streams of JSON lines, all decoded by the real decoder through the `windows`
//! mapping (`vigil_benches::adversarial` generates them, deterministically):
//!
//! - `typical`: the corpus's `events/evtx-attack-samples` lines;
//! - `max_len`: one record per mapping route, every string at its schema `max_len`, every list
//!   at `max_items` items of `max_len`;
//! - `literals`: the same, each string made of the literals the rules test on its field;
//! - `invalid_utf8`: the same as `max_len`, with invalid UTF-8 and lone surrogate escapes every
//!   61 bytes;
//! - `deep_nesting`: short records with 100,000 nested arrays or objects in an unread key and
//!   in a read key, and 100 levels in both.
//!
//! First the calibration, then a table (printed once, before criterion): per stream, decode,
//! eval and decode + eval in ns per event and per input byte (each the best of [`ROUNDS`]
//! passes), the per-byte ratio to `typical` (goal: at most 10), and the bound check: every
//! event is timed alone (`Engine::process`, the minimum over repeated runs), and divided by its
//! event type's verifier bound (`Verified::cost().events[..].total_steps`) converted to time
//! with a measured constant, ns per step (`max m/b`; the goal: no event above 1). The constant
//! is the largest time per bound step over one-rule programs whose bound is tight for their
//! event (one construct at maximal input length): the synthetic workloads of
//! `vigil_benches::adversarial::CALIBRATION`, and a scan of `command_line` by each literal set
//! the program tests (folded or not, over filler text and over text made of the set), since a
//! scan's time per byte depends on its patterns. The model has no per-event, per-rule or
//! per-alert constant; the bench measures them (`FixedCost` programs on a short event) and
//! shows the check with them added to the bound too (`m/b+fix`). `VIGIL_ADV_TOP=N` lists the
//! N worst events of each stream (default 1).
//!
//! Then criterion measures `adversarial/decode/<stream>` and `adversarial/decode_eval/<stream>`
//! (throughput in input bytes), few samples. Run: `cargo bench -p vigil-benches --bench
//! adversarial` (`VIGIL_CORPUS` overrides the corpus location; without a corpus it prints a
//! note and exits). Results: `docs/performance.md`, "Bad input".

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use vigil_benches::adversarial::{
    calibration_line, calibration_rule, deep_nesting_lines, field_literals, fixed_cost_rules,
    invalid_utf8_lines, literal_command_line, literal_lines, max_len_line_first, max_len_lines,
    scan_rule, short_line, templates, FixedCost, Template, CALIBRATION, FIXED_RULES,
};
use vigil_benches::{compile_text, corpus};
use vigil_runtime::budget::Budget;
use vigil_runtime::decode::{Decoder, Mapping};
use vigil_runtime::engine::{Engine, EngineKind, EngineOptions};
use vigil_runtime::event::Event;
use vigil_runtime::schema::{EventTypeId, Schema};
use vigil_runtime::verify::Verified;

/// Passes over a whole stream per figure of the table; the best is kept.
const ROUNDS: usize = 3;
/// Runs of each event alone for the bound check; the fastest is kept (noise only adds).
const REPEATS: usize = 7;
/// Runs of each calibration event; the fastest is kept.
const CAL_REPEATS: usize = 50;
/// Bounds from this many steps up are "big": the fixed costs (under 1 µs) are noise there.
const BIG_BOUND: u64 = 100_000;

struct Stream {
    name: &'static str,
    lines: Vec<Vec<u8>>,
}

impl Stream {
    fn bytes(&self) -> u64 {
        self.lines.iter().map(|l| l.len() as u64 + 1).sum()
    }
}

fn jit(verified: &Verified) -> Engine {
    Engine::new(
        verified,
        EngineOptions {
            engine: EngineKind::Jit,
            prefilter: true,
            ..EngineOptions::default()
        },
    )
    .expect("JIT engine")
}

fn best(mut f: impl FnMut()) -> Duration {
    (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// Decodes every line, events recycled; returns the events produced.
fn decode_pass(decoder: &mut Decoder, lines: &[Vec<u8>], spare: &mut Vec<Event<'static>>) -> u64 {
    let mut n = 0;
    for (i, line) in lines.iter().enumerate() {
        let mut out = std::mem::take(spare);
        let _ = decoder.decode_line(line, i as u64 + 1, &mut out);
        n += out.len() as u64;
        *spare = decoder.recycle(out);
    }
    n
}

/// Decodes every line and runs its events; returns the alerts.
fn decode_eval_pass(
    decoder: &mut Decoder,
    engine: &Engine,
    lines: &[Vec<u8>],
    spare: &mut Vec<Event<'static>>,
) -> u64 {
    let mut alerts = 0;
    for (i, line) in lines.iter().enumerate() {
        let mut out = std::mem::take(spare);
        let _ = decoder.decode_line(line, i as u64 + 1, &mut out);
        for ev in &out {
            alerts += engine.process(ev, &mut |_| {}).unwrap_or(0) as u64;
        }
        *spare = decoder.recycle(out);
    }
    alerts
}

/// The fastest of `repeats` runs of `event` alone, and the alerts it fires.
fn time_one(engine: &Engine, event: &Event<'_>, repeats: usize) -> (Duration, usize) {
    let mut fired = 0;
    let best = (0..repeats)
        .map(|_| {
            let t = Instant::now();
            let n = engine.process(event, &mut |_| {});
            let d = t.elapsed();
            fired = black_box(n).unwrap_or(0);
            d
        })
        .min()
        .unwrap_or_default();
    (best, fired)
}

/// The measured constants: time per bound step, and the fixed costs the model leaves out.
#[derive(Clone, Copy, Debug)]
struct Calibrated {
    /// The largest ns per bound step over the calibration workloads.
    ns_per_step: f64,
    /// The engine's frame per event (an event of a type no rule runs on), ns.
    frame_ns: f64,
    /// Per rule evaluated beyond its steps (an int compare that does not fire), ns.
    rule_ns: f64,
    /// Per alert built, ns.
    alert_ns: f64,
}

impl Calibrated {
    /// The verifier's bound of an event type as time: `steps` x ns per step.
    fn bound_ns(&self, steps: u64) -> f64 {
        steps as f64 * self.ns_per_step
    }

    /// The bound with the fixed costs added: the frame, and every one of the type's `rules`
    /// evaluated and firing.
    fn amended_ns(&self, steps: u64, rules: usize) -> f64 {
        self.bound_ns(steps) + self.frame_ns + rules as f64 * (self.rule_ns + self.alert_ns)
    }
}

/// The one event of type `event` that `line` decodes to.
fn decode_event<'a>(schema: &Schema, mapping: &Mapping, line: &'a [u8], event: &str) -> Event<'a> {
    let mut decoder = Decoder::with_mapping(schema, mapping).expect("decoder");
    let mut events = Vec::new();
    decoder
        .decode_line(line, 1, &mut events)
        .expect("the calibration line decodes");
    let ty = schema.event(event).expect("event type").0;
    events
        .into_iter()
        .find(|e| e.ty() == ty)
        .expect("an event of the route's type")
}

/// The bound of `process_start` in a compiled one-rule program, and the time of `event` there.
fn time_per_step(schema: &Schema, text: &str, event: &Event<'_>) -> (u64, f64) {
    let ty = schema.event("process_start").expect("process_start").0;
    let compiled = compile_text(text, schema);
    let steps = compiled
        .verified
        .cost()
        .events
        .iter()
        .find(|e| e.event == ty)
        .map_or(0, |e| e.total_steps);
    let engine = jit(&compiled.verified);
    let ns = time_one(&engine, event, CAL_REPEATS).0.as_nanos() as f64;
    (steps, ns)
}

/// Measures the constants, printing their table: ns per step is the largest time per bound
/// step over [`CALIBRATION`] and over scans of `command_line` by automata of the program's own
/// literal sets (`literals`, each folded and not, over filler text and over text made of the
/// set), each on a max-length `process_start` event; the fixed costs come from the
/// [`FixedCost`] programs on a short `process_start` event.
fn calibrate(
    schema: &Schema,
    mapping: &Mapping,
    templates: &[Template],
    literals: &BTreeMap<String, Vec<String>>,
) -> Calibrated {
    let Some(t) = templates.iter().find(|t| t.event == "process_start") else {
        panic!("the mapping has no process_start route");
    };
    println!("\ncalibration: one rule each, on the max-length process_start event (command_line 98,304 bytes), fastest of {CAL_REPEATS} runs");
    println!(
        "{:<18} {:>11} {:>10} {:>8}  what",
        "workload", "bound steps", "ns", "ns/step"
    );
    let mut ns_per_step = 0.0f64;
    for c in CALIBRATION {
        let line = calibration_line(t, c);
        let event = decode_event(schema, mapping, &line, "process_start");
        let (steps, ns) = time_per_step(schema, &calibration_rule(c), &event);
        let per = ns / steps.max(1) as f64;
        ns_per_step = ns_per_step.max(per);
        println!(
            "{:<18} {:>11} {:>10.0} {:>8.4}  {}",
            c.name, steps, ns, per, c.what
        );
    }
    // The program's own literal sets, as automata over command_line.
    let filler_line = max_len_line_first(t, "command_line");
    let filler_event = decode_event(schema, mapping, &filler_line, "process_start");
    let mut scans = Vec::new();
    for (field, set) in literals {
        let hits_line = literal_command_line(t, set);
        let hits_event = decode_event(schema, mapping, &hits_line, "process_start");
        for folded in [true, false] {
            let rule = scan_rule(set, folded);
            for (text, event) in [("filler", &filler_event), ("its literals", &hits_event)] {
                let (steps, ns) = time_per_step(schema, &rule, event);
                scans.push((
                    ns / steps.max(1) as f64,
                    field,
                    set.len(),
                    folded,
                    text,
                    steps,
                    ns,
                ));
            }
        }
    }
    scans.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (per, field, n, folded, text, steps, ns) in scans.iter().take(3) {
        println!(
            "{:<18} {:>11} {:>10.0} {:>8.4}  prefilter scan, {}, the {n} literals the rules test on `{field}`, over {text}",
            "scan_program", steps, ns, per, if *folded { "folded" } else { "case-sensitive" }
        );
    }
    let median = scans.get(scans.len() / 2).map_or(0.0, |s| s.0);
    println!(
        "  ({} program scans: {} literal sets x folded or not x 2 texts; the 3 slowest shown; median {median:.4} ns/step)",
        scans.len(),
        literals.len()
    );
    let synthetic = ns_per_step;
    if let Some(s) = scans.first() {
        ns_per_step = ns_per_step.max(s.0);
    }

    let short = short_line(t);
    let event = decode_event(schema, mapping, &short, "process_start");
    let fixed = |kind| {
        let compiled = compile_text(&fixed_cost_rules(kind), schema);
        let engine = jit(&compiled.verified);
        time_one(&engine, &event, CAL_REPEATS * 20).0.as_nanos() as f64
    };
    let (frame, rules, alerts) = (
        fixed(FixedCost::Frame),
        fixed(FixedCost::Rules),
        fixed(FixedCost::Alerts),
    );
    let n = FIXED_RULES as f64;
    let cal = Calibrated {
        ns_per_step,
        frame_ns: frame,
        rule_ns: ((rules - frame) / n).max(0.0),
        alert_ns: ((alerts - rules) / n).max(0.0),
    };
    println!(
        "ns per step: {ns_per_step:.4}, the largest (synthetic workloads alone: {synthetic:.4})\nfixed costs the model leaves out (short process_start event): frame {:.0} ns per event (no rule on its type); {:.1} ns per rule evaluated ({FIXED_RULES} int compares, none fires: {rules:.0} ns); {:.1} ns per alert ({FIXED_RULES} that fire: {alerts:.0} ns)",
        cal.frame_ns, cal.rule_ns, cal.alert_ns
    );
    cal
}

/// One event of the bound check.
struct Timed {
    /// Measured / predicted time.
    ratio: f64,
    /// Measured / predicted time with the fixed costs ([`Calibrated::amended_ns`]).
    amended: f64,
    /// Its event type.
    ty: String,
    /// Measured time, ns.
    ns: f64,
    /// The verifier's bound for its type, steps.
    steps: u64,
    /// The alerts it fires.
    fired: usize,
}

impl Timed {
    fn show(&self) -> String {
        format!(
            "{:<28} {:>10.0} ns  bound {:>11} steps  {} alerts",
            self.ty, self.ns, self.steps, self.fired
        )
    }
}

/// The bound check of one stream: its events with a bound, worst first; the events of types
/// no rule runs on (bound 0), and the slowest of them.
struct BoundCheck {
    events: usize,
    timed: Vec<Timed>,
    unbounded_events: usize,
    unbounded_max_ns: f64,
}

impl BoundCheck {
    fn worst(&self) -> Option<&Timed> {
        self.timed.first()
    }

    fn worst_amended(&self) -> Option<&Timed> {
        self.timed
            .iter()
            .max_by(|a, b| a.amended.total_cmp(&b.amended))
    }

    /// The event with the most time per bound step among those whose bound is at least
    /// [`BIG_BOUND`] steps (where the fixed costs are noise): the constant this stream needs.
    fn most_ns_per_step(&self) -> Option<&Timed> {
        self.timed
            .iter()
            .filter(|t| t.steps >= BIG_BOUND)
            .max_by(|a, b| (a.ns / a.steps as f64).total_cmp(&(b.ns / b.steps as f64)))
    }
}

fn bound_check(
    schema: &Schema,
    mapping: &Mapping,
    engine: &Engine,
    bounds: &HashMap<EventTypeId, (u64, usize)>,
    cal: &Calibrated,
    lines: &[Vec<u8>],
) -> BoundCheck {
    let mut decoder = Decoder::with_mapping(schema, mapping).expect("decoder");
    let mut events = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let _ = decoder.decode_line(line, i as u64 + 1, &mut events);
    }
    let mut check = BoundCheck {
        events: events.len(),
        timed: Vec::new(),
        unbounded_events: 0,
        unbounded_max_ns: 0.0,
    };
    for ev in &events {
        let (t, fired) = time_one(engine, ev, REPEATS);
        let ns = t.as_nanos() as f64;
        match bounds.get(&ev.ty()) {
            Some(&(steps, rules)) if steps > 0 => check.timed.push(Timed {
                ratio: ns / cal.bound_ns(steps),
                amended: ns / cal.amended_ns(steps, rules),
                ty: schema
                    .event_by_id(ev.ty())
                    .map_or_else(|| "?".to_owned(), |e| e.name.clone()),
                ns,
                steps,
                fired,
            }),
            _ => {
                check.unbounded_events += 1;
                check.unbounded_max_ns = check.unbounded_max_ns.max(ns);
            }
        }
    }
    check.timed.sort_by(|a, b| b.ratio.total_cmp(&a.ratio));
    check
}

fn adversarial(c: &mut Criterion) {
    let Some(root) = corpus::root() else {
        eprintln!("adversarial: no corpus (set VIGIL_CORPUS); skipped");
        return;
    };
    let schema = Schema::endpoint();
    let rules = corpus::sigma_rules(&root, "rules/windows");
    let compiled = corpus::compile_rules(&rules, &schema, &Budget::default());
    let verified = &compiled.verified;
    let engine = jit(verified);
    let mapping = Mapping::builtin("windows").expect("the windows mapping ships");
    let templates = templates(&schema, &mapping);
    let literals = field_literals(verified.program());
    let streams = [
        Stream {
            name: "typical",
            lines: corpus::event_lines(&root, "evtx-attack-samples"),
        },
        Stream {
            name: "max_len",
            lines: max_len_lines(&templates),
        },
        Stream {
            name: "literals",
            lines: literal_lines(&templates, &literals),
        },
        Stream {
            name: "invalid_utf8",
            lines: invalid_utf8_lines(&templates),
        },
        Stream {
            name: "deep_nesting",
            lines: deep_nesting_lines(&templates)
                .into_iter()
                .map(|(_, l)| l)
                .collect(),
        },
    ];
    println!(
        "adversarial: {} converted rules (rules/windows), JIT + prefilter, `windows` mapping, {} routes; {} fields with literal tests, {} literals",
        verified.program().rules.len(),
        templates.len(),
        literals.len(),
        literals.values().map(Vec::len).sum::<usize>()
    );

    let bounds: HashMap<EventTypeId, (u64, usize)> = verified
        .cost()
        .events
        .iter()
        .map(|e| (e.event, (e.total_steps, e.rules.len())))
        .collect();
    let cal = calibrate(&schema, &mapping, &templates, &literals);

    // The table.
    println!(
        "\n{:<13} {:>6} {:>6} {:>10} | {:>9} {:>6} | {:>9} {:>6} | {:>9} {:>6} {:>6} | {:>6} | {:>8} {:>8} {:>8}",
        "stream", "lines", "events", "bytes", "decode/ev", "/byte", "eval/ev", "/byte", "both/ev", "/byte", "ratio", "rules", "max m/b", "m/b+fix", "ns/step"
    );
    let mut typical_per_byte = None;
    let mut rows = Vec::new();
    for s in &streams {
        let mut decoder = Decoder::with_mapping(&schema, &mapping).expect("decoder");
        let mut spare = Vec::new();
        let events = decode_pass(&mut decoder, &s.lines, &mut spare);
        let bad = decoder.stats().bad_lines;
        let t_decode = best(|| {
            decode_pass(&mut decoder, &s.lines, &mut spare);
        });
        let t_both = best(|| {
            decode_eval_pass(&mut decoder, &engine, &s.lines, &mut spare);
        });
        let held = {
            let mut v = Vec::new();
            for (i, line) in s.lines.iter().enumerate() {
                let _ = decoder.decode_line(line, i as u64 + 1, &mut v);
            }
            v
        };
        let before = engine.stats();
        let t_eval = best(|| {
            for ev in &held {
                black_box(engine.process(ev, &mut |_| {}).ok());
            }
        });
        let after = engine.stats();
        let evaluated = (after.evaluations - before.evaluations) as f64
            / (after.events - before.events).max(1) as f64;
        drop(held);
        let check = bound_check(&schema, &mapping, &engine, &bounds, &cal, &s.lines);
        let bytes = s.bytes();
        let per_ev = |d: Duration| d.as_nanos() as f64 / events.max(1) as f64;
        let per_byte = |d: Duration| d.as_nanos() as f64 / bytes.max(1) as f64;
        let both_byte = per_byte(t_both);
        let base = *typical_per_byte.get_or_insert(both_byte);
        println!(
            "{:<13} {:>6} {:>6} {:>10} | {:>9.0} {:>6.2} | {:>9.0} {:>6.2} | {:>9.0} {:>6.2} {:>6.2} | {:>6.1} | {:>8.3} {:>8.3} {:>8.3}",
            s.name,
            s.lines.len(),
            events,
            bytes,
            per_ev(t_decode),
            per_byte(t_decode),
            per_ev(t_eval),
            per_byte(t_eval),
            per_ev(t_both),
            both_byte,
            both_byte / base,
            evaluated,
            check.worst().map_or(0.0, |w| w.ratio),
            check.worst_amended().map_or(0.0, |w| w.amended),
            check
                .most_ns_per_step()
                .map_or(0.0, |t| t.ns / t.steps as f64),
        );
        rows.push((s.name, bad, check));
    }
    println!(
        "\nns per event and per input byte (line bytes + newline), each the best of {ROUNDS} passes; \
         eval = the engine over the decoded events held in memory; both = decode + eval line by \
         line; ratio = per-byte cost of both / typical's (goal <= 10); rules = rules evaluated per \
         event (the prefilter skips the others); max m/b = the largest measured time / (verifier \
         bound in steps x {:.4} ns), each event timed alone, fastest of {REPEATS} runs (goal <= \
         1); m/b+fix = the same with the fixed costs added to the bound (frame + every rule of \
         the type evaluated and firing); ns/step = the most time per bound step over events \
         whose bound is at least {BIG_BOUND} steps (the constant this stream needs).",
        cal.ns_per_step
    );
    let top: usize = std::env::var("VIGIL_ADV_TOP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    for (name, bad, check) in &rows {
        println!(
            "{name}: {} events ({bad} bad lines); {} of types no rule runs on (bound 0 steps), slowest {:.0} ns",
            check.events, check.unbounded_events, check.unbounded_max_ns
        );
        for t in check.timed.iter().take(top) {
            println!("    m/b {:>8.3}: {}", t.ratio, t.show());
        }
        let mut by_amended: Vec<&Timed> = check.timed.iter().collect();
        by_amended.sort_by(|a, b| b.amended.total_cmp(&a.amended));
        for t in by_amended.into_iter().take(top) {
            println!("    m/b+fix {:>4.3}: {}", t.amended, t.show());
        }
        if let Some(t) = check.most_ns_per_step() {
            println!(
                "    ns/step {:>5.3} at most over bounds >= {BIG_BOUND} steps: {}",
                t.ns / t.steps as f64,
                t.show()
            );
        }
    }

    // Criterion: each stream, decode and decode + eval.
    let mut g = c.benchmark_group("adversarial");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for s in &streams {
        g.throughput(Throughput::Bytes(s.bytes()));
        let mut decoder = Decoder::with_mapping(&schema, &mapping).expect("decoder");
        let mut spare = Vec::new();
        g.bench_function(BenchmarkId::new("decode", s.name), |b| {
            b.iter(|| decode_pass(&mut decoder, &s.lines, &mut spare));
        });
        g.bench_function(BenchmarkId::new("decode_eval", s.name), |b| {
            b.iter(|| decode_eval_pass(&mut decoder, &engine, &s.lines, &mut spare));
        });
    }
    g.finish();
}

criterion_group!(benches, adversarial);
criterion_main!(benches);
