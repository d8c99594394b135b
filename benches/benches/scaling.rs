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

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use vigil_compiler::compile::compile;
use vigil_compiler::sigma::{self, InputFile, Options as ImportOptions};
use vigil_compiler::{Options, Sources};
use vigil_runtime::budget::Budget;
use vigil_runtime::decode::{Decoder, Mapping};
use vigil_runtime::engine::{Engine, EngineKind, EngineOptions};
use vigil_runtime::event::Event;
use vigil_runtime::schema::Schema;
use vigil_runtime::verify::Verified;

fn corpus() -> Option<PathBuf> {
    let root = std::env::var_os("VIGIL_CORPUS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"),
        PathBuf::from,
    );
    root.join("events").is_dir().then_some(root)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<InputFile>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(root, &p, out);
        } else if p.extension().is_some_and(|e| e == "yml") {
            if let (Ok(rel), Ok(bytes)) = (p.strip_prefix(root), fs::read(&p)) {
                out.push(InputFile {
                    rel: rel.to_path_buf(),
                    bytes,
                });
            }
        }
    }
}

/// The converted `process_creation` rule files, in file order: (name, text).
fn process_creation_rules(root: &Path) -> Vec<(String, String)> {
    let base = root.join("sigma/rules/windows");
    let mut inputs = Vec::new();
    walk(&base, &base.join("process_creation"), &mut inputs);
    let import = sigma::import(&inputs, ImportOptions::default()).expect("built-in table");
    import
        .files
        .into_iter()
        .map(|f| (f.rel.display().to_string(), f.text))
        .collect()
}

fn verify(rules: &[(String, String)]) -> Verified {
    let mut sources = Sources::with_stdlib();
    for (name, text) in rules {
        sources.add(name.clone(), text.clone().into_bytes());
    }
    compile(
        &sources,
        &Schema::endpoint(),
        &Options::default(),
        &Budget::default(),
    )
    .unwrap_or_else(|d| panic!("the converted rules do not compile: {} errors", d.len()))
    .verified
}

/// Every line of the EVTX sample set, in memory.
fn lines(root: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = fs::read_dir(root.join("events/evtx-attack-samples"))
        .expect("event set")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".jsonl.gz"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let mut text = Vec::new();
        flate2::read::MultiGzDecoder::new(fs::File::open(&f).expect("open sample"))
            .read_to_end(&mut text)
            .expect("gunzip");
        out.extend(
            text.split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec),
        );
    }
    out
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
    let Some(root) = corpus() else {
        eprintln!("scaling: no corpus; skipped");
        return;
    };
    let rules = process_creation_rules(&root);
    let lines = lines(&root);
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
