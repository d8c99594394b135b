//! Projection end to end: decoding only the fields a program reads
//! ([`FieldSet::for_binding`]) raises exactly the alerts that decoding every field raises, and
//! gives the same values on those fields. Checked with the example rules over the example
//! events (native form), and with the corpus's SigmaHQ Windows rules (imported, compiled into
//! one program) over the corpus's event sets through the `windows` mapping.
//!
//! The corpus is looked up at `$VIGIL_CORPUS`, else `../../shared/corpus` from this crate;
//! without it that part prints a note and passes. `VIGIL_TEST_SCALE` (default 1) multiplies
//! how many lines of each OTRF sample are read.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use vigil_compiler::compile::compile;
use vigil_compiler::sigma::{self, Options as ImportOptions};
use vigil_compiler::{Options, Sources};
use vigil_runtime::alert::Alert;
use vigil_runtime::budget::Budget;
use vigil_runtime::decode::{Decoder, FieldSet, Mapping};
use vigil_runtime::engine::{Engine, EngineKind, EngineOptions};
use vigil_runtime::event::Event;
use vigil_runtime::schema::{FieldIndex, Schema};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scale() -> usize {
    std::env::var("VIGIL_TEST_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1)
}

fn engine(sources: &Sources, schema: &Schema) -> Engine {
    let compiled = match compile(sources, schema, &Options::default(), &Budget::default()) {
        Ok(c) => c,
        Err(diags) => panic!(
            "rules do not compile: {:?}",
            diags
                .iter()
                .filter(|d| d.is_error())
                .take(5)
                .map(|d| d.message.clone())
                .collect::<Vec<_>>()
        ),
    };
    Engine::new(
        &compiled.verified,
        EngineOptions {
            engine: EngineKind::Jit,
            ..EngineOptions::default()
        },
    )
    .expect("engine builds")
}

/// Runs `lines` through a full and a projected decoder in lockstep, each feeding its own
/// engine (so correlation state is separate): same decode outcomes, same values on the
/// projected fields (nothing elsewhere), same alerts. Returns (events, alerts, values skipped).
fn both_ways(
    sources: &Sources,
    schema: &Schema,
    make: &dyn Fn() -> Decoder,
    lines: &[&[u8]],
) -> (u64, u64, u64) {
    let full_engine = engine(sources, schema);
    let proj_engine = engine(sources, schema);
    let needed = FieldSet::for_binding(schema, proj_engine.interp().binding());
    assert!(!needed.is_empty());
    let mut full = make();
    let mut projected = make();
    projected.project(&needed);
    let (mut events, mut alerts, mut skipped) = (0u64, 0u64, 0u64);
    let mut spare_a: Vec<Event<'static>> = Vec::new();
    let mut spare_b: Vec<Event<'static>> = Vec::new();
    let run = |engine: &Engine, ev: &Event<'_>| -> Vec<Alert> {
        let mut out = Vec::new();
        engine
            .process(ev, &mut |a| out.push(a.clone()))
            .expect("event fits the program");
        out
    };
    for (n, line) in lines.iter().enumerate() {
        let line_no = n as u64 + 1;
        let (mut a, mut b) = (spare_a, spare_b);
        let ra = full
            .decode_line(line, line_no, &mut a)
            .map_err(|e| e.to_string());
        let rb = projected
            .decode_line(line, line_no, &mut b)
            .map_err(|e| e.to_string());
        assert_eq!(ra, rb, "line {line_no}: decode outcome");
        assert_eq!(a.len(), b.len(), "line {line_no}: events");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.ty(), y.ty());
            for i in 0..x.field_count() {
                let f = FieldIndex(i as u16);
                if needed.contains(x.ty(), f) {
                    assert_eq!(x.value(f), y.value(f), "line {line_no}: field {i}");
                    assert_eq!(x.flags()[i], y.flags()[i], "line {line_no}: flags {i}");
                } else {
                    assert!(!y.is_present(f), "line {line_no}: field {i} skipped");
                    skipped += u64::from(x.is_present(f));
                }
            }
            let (ax, ay) = (run(&full_engine, x), run(&proj_engine, y));
            assert_eq!(ax, ay, "line {line_no}: alerts");
            events += 1;
            alerts += ax.len() as u64;
        }
        spare_a = full.recycle(a);
        spare_b = projected.recycle(b);
    }
    (events, alerts, skipped)
}

#[test]
fn example_rules_raise_the_same_alerts_on_projected_events() {
    let mut sources = Sources::with_stdlib();
    let mut files: Vec<PathBuf> = fs::read_dir(repo().join("examples/rules"))
        .expect("examples/rules")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "vgl"))
        .collect();
    files.sort();
    for f in &files {
        sources.add(f.display().to_string(), fs::read(f).expect("read rule"));
    }
    let events = fs::read(repo().join("examples/events/sample.jsonl")).expect("sample events");
    let lines: Vec<&[u8]> = events.split(|&b| b == b'\n').collect();
    let schema = Schema::endpoint();
    let (n, alerts, skipped) = both_ways(&sources, &schema, &|| Decoder::native(&schema), &lines);
    assert!(n > 0 && alerts > 0, "{n} events, {alerts} alerts");
    assert!(
        skipped > 0,
        "the projection skips fields the rules do not read"
    );
}

#[test]
fn sigma_rules_raise_the_same_alerts_on_projected_corpus_events() {
    let Some(root) = vigil_tests::corpus_for(
        "sigma_rules_raise_the_same_alerts_on_projected_corpus_events",
        &["events", "sigma/rules/windows"],
    ) else {
        return;
    };
    let base = root.join("sigma");
    let mut inputs = Vec::new();
    inputs.extend(vigil_tests::sigma_files(&base, &base.join("rules/windows")));
    let import = sigma::import(&inputs, ImportOptions::default()).expect("built-in table loads");
    let mut sources = Sources::with_stdlib();
    for f in &import.files {
        sources.add(f.rel.display().to_string(), f.text.clone().into_bytes());
    }
    // Every line of the EVTX-derived sets, and the first lines of each OTRF sample.
    let mut texts = Vec::new();
    for (set, per_file) in [
        ("evtx-attack-samples", usize::MAX),
        ("sigma-regression", usize::MAX),
        ("otrf-security-datasets", 2000 * scale()),
    ] {
        let mut files: Vec<PathBuf> = fs::read_dir(root.join("events").join(set))
            .expect("list samples")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.to_string_lossy().ends_with(".jsonl.gz"))
            .collect();
        files.sort();
        for f in files {
            let mut bytes = Vec::new();
            GzDecoder::new(fs::File::open(&f).expect("open"))
                .read_to_end(&mut bytes)
                .expect("gunzip");
            let cut: Vec<u8> = bytes
                .split(|&b| b == b'\n')
                .take(per_file)
                .flat_map(|l| l.iter().copied().chain([b'\n']))
                .collect();
            texts.push(cut);
        }
    }
    let lines: Vec<&[u8]> = texts
        .iter()
        .flat_map(|t| t.split(|&b| b == b'\n'))
        .collect();
    let schema = Schema::endpoint();
    let mapping = Mapping::builtin("windows").expect("mapping");
    let make = || Decoder::with_mapping(&schema, &mapping).expect("mapping fits");
    let (n, alerts, skipped) = both_ways(&sources, &schema, &make, &lines);
    eprintln!("{n} events, {alerts} alerts, {skipped} field values skipped");
    assert!(n > 10_000 && alerts > 100, "{n} events, {alerts} alerts");
    assert!(skipped > 0);
}
