//! Speed of every converted SigmaHQ Windows rule over the shared corpus's EVTX-derived events,
//! in memory, on one core (docs/sigma.md, "Speed").
//!
//! Imports `sigma/rules/windows`, `rules-emerging-threats` and `rules-threat-hunting/windows`,
//! compiles the converted rules into one program, decompresses `events/evtx-attack-samples` and
//! `events/sigma-regression` into memory, then times separately: decoding the JSON lines through
//! the `windows` mapping, and running the decoded events through the JIT and the interpreter.
//! Each measurement is the best of several rounds. Run: `cargo bench -p vigil-benches --bench
//! sigma_corpus` (`VIGIL_CORPUS` overrides the corpus location; without a corpus it prints a
//! note and exits).

use std::time::{Duration, Instant};

use vigil_benches::corpus;
use vigil_compiler::compile::compile;
use vigil_compiler::sigma::{self, Options as ImportOptions};
use vigil_compiler::{Options, Sources};
use vigil_runtime::budget::Budget;
use vigil_runtime::decode::{Decoder, Mapping};
use vigil_runtime::engine::{Engine, EngineKind, EngineOptions};
use vigil_runtime::event::Event;
use vigil_runtime::schema::Schema;

const ROUNDS: usize = 5;

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

fn main() {
    let Some(root) = corpus::root() else {
        eprintln!("sigma_corpus: no corpus; skipped");
        return;
    };
    let base = root.join("sigma");
    let mut inputs = Vec::new();
    for tree in [
        "rules/windows",
        "rules-emerging-threats",
        "rules-threat-hunting/windows",
    ] {
        inputs.extend(corpus::sigma_files(&base, &base.join(tree)));
    }
    let t = Instant::now();
    let import = sigma::import(&inputs, ImportOptions::default()).expect("built-in table");
    let t_import = t.elapsed();
    let converted = import.rules.iter().filter(|r| r.result.is_ok()).count();
    let mut sources = Sources::with_stdlib();
    for f in &import.files {
        sources.add(f.rel.display().to_string(), f.text.clone().into_bytes());
    }
    let schema = Schema::endpoint();
    let t = Instant::now();
    let compiled = compile(&sources, &schema, &Options::default(), &Budget::default())
        .unwrap_or_else(|d| panic!("the converted rules do not compile: {} errors", d.len()));
    let t_compile = t.elapsed();
    let t = Instant::now();
    let jit = Engine::new(
        &compiled.verified,
        EngineOptions {
            engine: EngineKind::Jit,
            ..EngineOptions::default()
        },
    )
    .expect("JIT engine");
    let t_jit = t.elapsed();
    let interp = Engine::new(&compiled.verified, EngineOptions::default()).expect("interpreter");

    // Every line of both sets, in memory.
    let mut lines: Vec<Vec<u8>> = corpus::event_lines(&root, "evtx-attack-samples");
    lines.extend(corpus::event_lines(&root, "sigma-regression"));
    let bytes: usize = lines.iter().map(Vec::len).sum();
    let mapping = Mapping::builtin("windows").expect("windows mapping");
    let mut decoder = Decoder::with_mapping(&schema, &mapping).expect("mapping fits");

    // Decode time: every line, events recycled.
    let mut spare: Vec<Event<'static>> = Vec::new();
    let t_decode = best(|| {
        for (i, l) in lines.iter().enumerate() {
            let mut out = spare.split_off(0);
            let _ = decoder.decode_line(l, i as u64 + 1, &mut out);
            spare = decoder.recycle(out);
        }
    });
    let mut events: Vec<Event<'_>> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let _ = decoder.decode_line(l, i as u64 + 1, &mut events);
    }
    let n = events.len() as f64;
    let mut alerts = 0usize;
    let mut run = |engine: &Engine| {
        best(|| {
            alerts = 0;
            for ev in &events {
                let _ = engine.process(ev, &mut |_| alerts += 1);
            }
        })
    };
    let t_run_jit = run(&jit);
    let t_run_interp = run(&interp);
    let per_s = |d: Duration| n / d.as_secs_f64().max(1e-12);
    println!(
        "sigma_corpus: {} rules converted of {}; {} lines ({:.1} MiB JSON) -> {} events; {} alerts",
        converted,
        import.rules.len(),
        lines.len(),
        bytes as f64 / 1048576.0,
        events.len(),
        alerts
    );
    println!("  import {t_import:.2?}, compile {t_compile:.2?}, JIT build {t_jit:.2?} (once)");
    println!(
        "  decode (JSON through the windows mapping): {t_decode:.2?} = {:.0} events/s, {:.0} MiB/s",
        per_s(t_decode),
        bytes as f64 / 1048576.0 / t_decode.as_secs_f64().max(1e-12)
    );
    println!(
        "  rules, JIT:         {t_run_jit:.2?} = {:.0} events/s ({:.1} us/event)",
        per_s(t_run_jit),
        t_run_jit.as_secs_f64() * 1e6 / n
    );
    println!(
        "  rules, interpreter: {t_run_interp:.2?} = {:.0} events/s ({:.1} us/event)",
        per_s(t_run_interp),
        t_run_interp.as_secs_f64() * 1e6 / n
    );
    let both = t_decode + t_run_jit;
    println!(
        "  decode + JIT:       {both:.2?} = {:.0} events/s",
        per_s(both)
    );
}
