//! The `vigil why` suite (`vigil_compiler::why`, `vigil_runtime::interp::trace`).
//!
//! - Goldens: `tests/why/rules.vgl` and `tests/why/events.jsonl`, and one `NAME.case` per case
//!   (`rule = "..."`, `line = N`): the events before line N go through a fresh engine, then
//!   the rule is observed on line N; its report must equal `NAME.txt` (text) and `NAME.json`
//!   (JSON, pretty). `VIGIL_BLESS=1` rewrites them.
//! - Agreement: over the examples' events and a corpus file, for every single-event rule that
//!   watches an event, the traced verdict equals whether the engine alerted for the rule on
//!   that event, and a rule that holds always passes the prefilter; for every rule, `observe`'s
//!   `fired` is the engine's alert.
//! - A corpus EVTX file's record through a converted SigmaHQ rule: the report names the
//!   literals the prefilter found.

use std::path::{Path, PathBuf};

use vigil_compiler::compile::{compile, Compiled};
use vigil_compiler::why::{find_rule, observe, Context};
use vigil_compiler::{Options, Sources};
use vigil_runtime::alert::Alert;
use vigil_runtime::budget::Budget;
use vigil_runtime::decode::Decoder;
use vigil_runtime::engine::{Engine, EngineOptions};
use vigil_runtime::event::Event;
use vigil_runtime::ir::{RuleId, RuleKind};
use vigil_runtime::schema::Schema;
use vigil_test_support::golden::Golden;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("why")
}

fn compile_files(files: &[(String, Vec<u8>)]) -> (Sources, Compiled) {
    let mut sources = Sources::with_stdlib();
    for (name, bytes) in files {
        sources.add(name.clone(), bytes.clone());
    }
    let compiled = compile(
        &sources,
        &Schema::endpoint(),
        &Options::default(),
        &Budget::default(),
    )
    .unwrap_or_else(|d| panic!("does not compile: {d:?}"));
    (sources, compiled)
}

fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    body.split(|b| *b == b'\n').collect()
}

#[test]
fn why_goldens() {
    let rules = std::fs::read(dir().join("rules.vgl")).expect("rules.vgl");
    let events = std::fs::read(dir().join("events.jsonl")).expect("events.jsonl");
    let (sources, compiled) = compile_files(&[("why/rules.vgl".to_owned(), rules)]);
    let schema = Schema::endpoint();
    let lines = lines(&events);
    let cx = Context {
        program: compiled.program(),
        debug: &compiled.debug,
        map: &sources.map,
    };
    let mut suite = Golden::new(dir(), ".case");
    let cases = suite.cases();
    assert!(cases.len() >= 12, "too few why cases");
    for case in &cases {
        let spec: toml::Table = String::from_utf8_lossy(&case.read())
            .parse()
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let rule_name = spec.get("rule").and_then(|v| v.as_str()).expect("rule");
        let line = spec
            .get("line")
            .and_then(toml::Value::as_integer)
            .and_then(|n| usize::try_from(n).ok())
            .expect("line");
        let rule = find_rule(compiled.program(), rule_name).expect("the rule exists");
        let engine = Engine::new(&compiled.verified, EngineOptions::default()).expect("engine");
        let mut decoder = Decoder::native(&schema);
        for (i, l) in lines.iter().enumerate().take(line - 1) {
            let mut evs: Vec<Event<'_>> = Vec::new();
            decoder
                .decode_line(l, i as u64 + 1, &mut evs)
                .expect("decodes");
            for ev in &evs {
                engine.process(ev, &mut |_| {}).expect("processed");
            }
        }
        let mut evs: Vec<Event<'_>> = Vec::new();
        decoder
            .decode_line(lines[line - 1], line as u64, &mut evs)
            .expect("decodes");
        let why = observe(&engine, rule, &evs[0]).expect("observed");
        if matches!(
            compiled.program().rules[rule.0 as usize].kind,
            RuleKind::Single { .. }
        ) {
            assert_eq!(why.trace.holds(), why.fired, "{}", case.name);
        }
        suite.check(case, ".txt", Some(&why.to_text(&cx)));
        let json = serde_json::to_string_pretty(&why.to_json(&cx)).expect("json");
        suite.check(case, ".json", Some(&format!("{json}\n")));
    }
    suite.finish(&[".txt", ".json"]);
}

/// Runs `events` (JSON lines, `windows` records through the auto decoder) through one engine
/// and checks, per event, the trace of every single-event rule of its type against the
/// engine's alerts. Returns (events, rule evaluations compared, alerts).
fn agreement(compiled: &Compiled, events: &[u8]) -> (usize, usize, usize) {
    let schema = Schema::endpoint();
    let engine = Engine::new(&compiled.verified, EngineOptions::default()).expect("engine");
    let interp = engine.interp();
    let program = compiled.program();
    let mut decoder = Decoder::auto(&schema);
    let (mut n_events, mut compared, mut n_alerts) = (0, 0, 0);
    for (i, l) in lines(events).iter().enumerate() {
        let mut evs: Vec<Event<'_>> = Vec::new();
        if decoder.decode_line(l, i as u64 + 1, &mut evs).is_err() {
            continue;
        }
        for ev in &evs {
            n_events += 1;
            let mut holds = Vec::new();
            for (r, rule) in program.rules.iter().enumerate() {
                let rid = RuleId(r as u32);
                if !matches!(rule.kind, RuleKind::Single { .. })
                    || !interp.binding().rule_events(rid).contains(&ev.ty())
                {
                    continue;
                }
                let t = interp
                    .trace_rule(rid, ev, engine.prefilter())
                    .expect("traced");
                if t.holds() {
                    let p = t.prefilter.as_ref().expect("a prefilter answer");
                    assert!(
                        p.passes,
                        "rule {} holds but the prefilter skips it",
                        rule.id
                    );
                }
                holds.push((rule.id.clone(), t.holds()));
            }
            let mut alerted: Vec<String> = Vec::new();
            engine
                .process(ev, &mut |a: &Alert| alerted.push(a.rule.clone()))
                .expect("processed");
            n_alerts += alerted.len();
            for (id, h) in holds {
                compared += 1;
                assert_eq!(h, alerted.contains(&id), "rule {id}, line {}", i + 1);
            }
        }
    }
    (n_events, compared, n_alerts)
}

fn examples() -> Compiled {
    let rules_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rules");
    let mut files = Vec::new();
    for f in [
        "process.vgl",
        "network.vgl",
        "persistence.vgl",
        "correlation.vgl",
    ] {
        files.push((
            f.to_owned(),
            std::fs::read(rules_dir.join(f)).expect("rule file"),
        ));
    }
    compile_files(&files).1
}

#[test]
fn traces_agree_with_the_engine_on_the_examples() {
    let compiled = examples();
    let events = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/events/sample.jsonl"),
    )
    .expect("sample events");
    let (n, compared, alerts) = agreement(&compiled, &events);
    assert!(
        n >= 10 && compared >= 50 && alerts >= 5,
        "{n} {compared} {alerts}"
    );
}

#[test]
fn traces_agree_with_the_engine_on_a_corpus_file() {
    let sample = "events/evtx-attack-samples/Execution__exec_persist_rundll32_mshta_scheduledtask_sysmon_1_3_11.jsonl.gz";
    let Some(root) = vigil_tests::corpus_for("why_corpus", &[sample]) else {
        return;
    };
    let mut gz =
        flate2::read::GzDecoder::new(std::fs::File::open(root.join(sample)).expect("open"));
    let mut events = Vec::new();
    std::io::Read::read_to_end(&mut gz, &mut events).expect("gunzip");
    let compiled = examples();
    let (n, compared, alerts) = agreement(&compiled, &events);
    assert!(
        n > 0 && compared > 0 && alerts >= 3,
        "{n} {compared} {alerts}"
    );
    // And the report on the first alerting event: the script host connecting out.
    let rule = find_rule(compiled.program(), "vgl-ex-0102").expect("rule");
    let engine = Engine::new(&compiled.verified, EngineOptions::default()).expect("engine");
    let mut decoder = Decoder::auto(&Schema::endpoint());
    let lines = lines(&events);
    for (i, l) in lines.iter().enumerate().take(3) {
        let mut evs: Vec<Event<'_>> = Vec::new();
        let _ = decoder.decode_line(l, i as u64 + 1, &mut evs);
        for ev in &evs {
            engine.process(ev, &mut |_| {}).expect("processed");
        }
    }
    let mut evs: Vec<Event<'_>> = Vec::new();
    decoder
        .decode_line(lines[3], 4, &mut evs)
        .expect("line 4 decodes");
    let why = observe(&engine, rule, &evs[0]).expect("observed");
    assert!(why.fired && why.trace.holds());
    let image = why
        .trace
        .fields
        .iter()
        .find(|f| f.name == "image")
        .expect("image read");
    assert_eq!(image.value.as_str(), Some(r"C:\Windows\System32\mshta.exe"));
}

#[test]
fn why_on_an_evtx_record_through_a_converted_sigma_rule() {
    let rule_file =
        "sigma/rules/windows/process_creation/proc_creation_win_mshta_inline_vbscript.yml";
    let evtx = "evtx/evtx-attack-samples/Execution__exec_persist_rundll32_mshta_scheduledtask_sysmon_1_3_11.evtx";
    let Some(root) = vigil_tests::corpus_for("why_sigma_evtx", &[rule_file, evtx]) else {
        return;
    };
    let input = vigil_compiler::sigma::InputFile {
        rel: PathBuf::from("proc_creation_win_mshta_inline_vbscript.yml"),
        bytes: std::fs::read(root.join(rule_file)).expect("rule"),
    };
    let import = vigil_compiler::sigma::import(&[input], vigil_compiler::sigma::Options::default())
        .expect("built-in table");
    let files: Vec<(String, Vec<u8>)> = import
        .files
        .iter()
        .map(|f| (f.rel.display().to_string(), f.text.clone().into_bytes()))
        .collect();
    assert_eq!(files.len(), 1, "the rule converts");
    let (sources, compiled) = compile_files(&files);
    // The first record of the log, read as `vigil why FILE.evtx:1` reads it.
    let mut reader = vigil_agent::inputs::events::open_events_with(
        Some(&root.join(evtx)),
        std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)),
        &vigil_agent::inputs::issues::Issues::quiet(),
    )
    .expect("the EVTX file opens");
    let mut json = Vec::new();
    std::io::Read::read_to_end(&mut reader, &mut json).expect("records");
    let first = lines(&json)[0];
    let mut decoder = Decoder::auto(&Schema::endpoint());
    let mut evs: Vec<Event<'_>> = Vec::new();
    decoder
        .decode_line(first, 1, &mut evs)
        .expect("record 1 decodes");
    let rule =
        find_rule(compiled.program(), "2c28c248-7f50-417a-9186-a85b223010ee").expect("by id");
    let engine = Engine::new(&compiled.verified, EngineOptions::default()).expect("engine");
    let why = observe(&engine, rule, &evs[0]).expect("observed");
    assert!(why.fired && why.trace.holds());
    let p = why.trace.prefilter.as_ref().expect("a prefilter answer");
    assert!(p.filtered && p.passes);
    let found: Vec<&str> = p
        .literals
        .iter()
        .filter(|l| l.found)
        .map(|l| l.pattern.as_str())
        .collect();
    assert_eq!(found, ["wscript.", ".shell", ".run"]);
    let cx = Context {
        program: compiled.program(),
        debug: &compiled.debug,
        map: &sources.map,
    };
    let text = why.to_text(&cx);
    assert!(
        text.contains(r#"command_line icontains all ["Wscript.", ".Shell", ".Run"]  =>  true"#),
        "{text}"
    );
}
