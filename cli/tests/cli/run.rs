//! `vigil run` and `vigil test`, end to end through the built binary: alerts on the example
//! events, both engines printing the same bytes, bad lines counted with their line numbers,
//! `--strict`, gzip and stdin inputs, bundles, a real Sysmon corpus file through `--mapping
//! sysmon`, and the exit codes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

use vigil_compiler::compile::compile;
use vigil_compiler::{Options, Sources};
use vigil_runtime::budget::Budget;
use vigil_runtime::bundle::{self, HeaderInput};
use vigil_runtime::schema::Schema;

use super::support::{repo, text, vigil, vigil_in};

const ENCODED_POWERSHELL: &str = "8c1a2f3e-0d4b-4b2e-9a51-3f7c2b1d9e01";

fn scratch(name: &str) -> PathBuf {
    super::support::scratch("run", name)
}

fn alerts(stdout: &[u8]) -> Vec<serde_json::Value> {
    text(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {e}: {l}")))
        .collect()
}

fn rule_ids(stdout: &[u8]) -> Vec<String> {
    alerts(stdout)
        .iter()
        .map(|a| a["rule"].as_str().unwrap_or_default().to_owned())
        .collect()
}

const SAMPLE: &str = "examples/events/sample.jsonl";

#[test]
fn run_prints_alerts_of_the_example_rules() {
    let out = vigil(&["run", "examples/rules", SAMPLE]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let ids = rule_ids(&out.stdout);
    for id in [ENCODED_POWERSHELL, "vgl-ex-0002", "vgl-ex-0203"] {
        assert!(ids.iter().any(|i| i == id), "{id} missing from {ids:?}");
    }
    let first = &alerts(&out.stdout)[0];
    assert_eq!(first["source"]["file"], SAMPLE);
    assert!(first["source"]["line"].as_u64().is_some_and(|l| l >= 1));
    assert_eq!(first["bundle"], serde_json::Value::Null);
    let err = text(&out.stderr);
    assert!(err.contains("vigil run: 39 events"), "{err}");
    assert!(err.contains("events/s"), "{err}");
    assert!(
        err.contains(&format!("{ENCODED_POWERSHELL} (encoded_powershell): 1")),
        "{err}"
    );
}

#[test]
fn both_engines_print_identical_alerts() {
    let jit = vigil(&["run", "examples/rules", SAMPLE, "--engine", "jit"]);
    let interp = vigil(&["run", "examples/rules", SAMPLE, "--engine", "interp"]);
    assert_eq!(jit.status.code(), Some(0), "{}", text(&jit.stderr));
    assert_eq!(interp.status.code(), Some(0), "{}", text(&interp.stderr));
    assert!(!jit.stdout.is_empty());
    assert_eq!(text(&jit.stdout), text(&interp.stdout));
}

#[test]
fn test_passes_on_the_example_rules() {
    let out = vigil(&["test", "examples/rules"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("test encoded_powershell ... case 1 ... ok"),
        "{stdout}"
    );
    assert!(stdout.contains("test result: ok."), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("vigil test: ") && l.contains(" passed, 0 failed, ")),
        "{stdout}"
    );
}

#[test]
fn test_reports_failures_with_rule_and_line_and_exits_1() {
    let dir = scratch("test_failure");
    let rules = dir.join("r.vgl");
    std::fs::write(
        &rules,
        "rule r { on process_start when pid == 1 }\n\ntest r {\n    process_start { pid: 1 } => fires\n    process_start { pid: 2 } => fires\n}\n",
    )
    .expect("write rules");
    let path = rules.display().to_string();
    let out = vigil(&["test", &path]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("test r ... case 2 ... FAILED"), "{stdout}");
    assert!(stdout.contains(&format!("{path}:5")), "{stdout}");
    assert!(
        stdout.contains("vigil test: 1 passed, 1 failed, 0 skipped"),
        "{stdout}"
    );

    let json = vigil(&["test", &path, "--format", "json", "--engine", "interp"]);
    assert_eq!(json.status.code(), Some(1));
    let cases = alerts(&json.stdout);
    assert_eq!(cases.len(), 2);
    assert_eq!(cases[1]["status"], "failed");
    assert_eq!(cases[1]["line"], 5);

    let junit = vigil(&["test", &path, "--format", "junit"]);
    let xml = text(&junit.stdout);
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(
        xml.contains("<testsuites name=\"vigil test\" tests=\"2\" failures=\"1\""),
        "{xml}"
    );
    assert_eq!(xml.matches("<failure ").count(), 1, "{xml}");
    assert!(text(&junit.stderr).contains("vigil test: 1 passed, 1 failed, 0 skipped"));
}

#[test]
fn bad_lines_are_counted_with_their_line_numbers_and_strict_stops() {
    let dir = scratch("bad_lines");
    let sample = std::fs::read_to_string(repo().join(SAMPLE)).expect("sample");
    let mut lines: Vec<&str> = sample.lines().collect();
    lines.insert(1, "{not json");
    let events = dir.join("events.jsonl");
    std::fs::write(&events, lines.join("\n") + "\n").expect("write events");
    let path = events.display().to_string();

    let out = vigil(&["run", "examples/rules", &path]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("bad lines: 1"), "{err}");
    assert!(
        err.contains(&format!(
            "E0701 line is not a JSON object: 1 (line {path}:2)"
        )),
        "{err}"
    );
    // Lines after the bad one keep their numbers: the encoded PowerShell event moved to line 4.
    let ps = alerts(&out.stdout)
        .into_iter()
        .find(|a| a["rule"] == ENCODED_POWERSHELL)
        .expect("encoded_powershell fires");
    assert_eq!(ps["source"]["line"], 4);

    let strict = vigil(&["run", "examples/rules", &path, "--strict"]);
    let err = text(&strict.stderr);
    assert_eq!(strict.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("{path}:2")), "{err}");
    // Only the alerts of line 1 (none) were printed before the stop.
    assert!(
        rule_ids(&strict.stdout).is_empty(),
        "{}",
        text(&strict.stdout)
    );
}

#[test]
fn gzip_and_stdin_inputs_give_the_same_alerts() {
    let dir = scratch("gzip");
    let sample = std::fs::read(repo().join(SAMPLE)).expect("sample");
    let gz_path = dir.join("sample.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&sample).expect("compress");
    std::fs::write(&gz_path, enc.finish().expect("compress")).expect("write gz");
    // Also under a name without `.gz`: recognised by its magic bytes.
    let disguised = dir.join("sample-compressed.jsonl");
    std::fs::copy(&gz_path, &disguised).expect("copy");

    let plain = vigil(&["run", "examples/rules", SAMPLE]);
    let strip = |o: &Output| -> Vec<(String, u64)> {
        alerts(&o.stdout)
            .iter()
            .map(|a| {
                (
                    a["rule"].as_str().unwrap_or_default().to_owned(),
                    a["source"]["line"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    };
    let expected = strip(&plain);
    assert!(!expected.is_empty());
    for p in [&gz_path, &disguised] {
        let path = p.display().to_string();
        let out = vigil(&["run", "examples/rules", &path]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(strip(&out), expected, "{path}");
        assert_eq!(alerts(&out.stdout)[0]["source"]["file"], path.as_str());
    }
    let stdin = vigil_in(&["run", "examples/rules", "-"], &sample);
    assert_eq!(stdin.status.code(), Some(0), "{}", text(&stdin.stderr));
    assert_eq!(strip(&stdin), expected);
    assert_eq!(alerts(&stdin.stdout)[0]["source"]["file"], "-");
}

#[test]
fn output_file_and_event_directories() {
    let dir = scratch("output");
    let events = dir.join("events");
    std::fs::create_dir_all(events.join("sub")).expect("mkdir");
    let sample = std::fs::read(repo().join(SAMPLE)).expect("sample");
    std::fs::write(events.join("sub/b.jsonl"), &sample).expect("write");
    std::fs::write(events.join("a.jsonl"), &sample).expect("write");
    std::fs::write(events.join("notes.txt"), "not events").expect("write");
    let out_file = dir.join("alerts.jsonl");
    let out = vigil(&[
        "run",
        "examples/rules",
        &events.display().to_string(),
        "--output",
        &out_file.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let written = std::fs::read(&out_file).expect("alerts written");
    let all = alerts(&written);
    let single = alerts(&vigil(&["run", "examples/rules", SAMPLE]).stdout);
    // Two copies of the sample; stateful rules may match across the two files, so at least
    // twice the single-file alerts of every stateless rule.
    assert!(
        all.len() >= single.len() * 2 - 8,
        "{} vs {}",
        all.len(),
        single.len()
    );
    let files: Vec<&str> = all
        .iter()
        .filter_map(|a| a["source"]["file"].as_str())
        .collect();
    let a_pos = files.iter().position(|f| f.ends_with("a.jsonl"));
    let b_pos = files.iter().position(|f| f.ends_with("b.jsonl"));
    assert!(
        a_pos.is_some() && b_pos.is_some() && a_pos < b_pos,
        "{files:?}"
    );
    assert!(
        text(&out.stderr).contains("in 2 inputs"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn bundles_run_with_their_identity_and_are_refused_without_trust() {
    let dir = scratch("bundle");
    // The files in the order `vigil run` compiles them (sorted), so rule order matches.
    let mut paths: Vec<PathBuf> = std::fs::read_dir(repo().join("examples/rules"))
        .expect("examples")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "vgl"))
        .collect();
    paths.sort();
    let mut sources = Sources::with_stdlib();
    for p in paths {
        sources.add(p.display().to_string(), std::fs::read(&p).expect("read"));
    }
    let compiled = compile(
        &sources,
        &Schema::endpoint(),
        &Options::default(),
        &Budget::default(),
    )
    .unwrap_or_else(|d| panic!("{d:?}"));
    let header = HeaderInput {
        content_version: 3,
        bundle_id: "cli-run-test".to_owned(),
        ..HeaderInput::default()
    };
    let bytes = bundle::encode(compiled.program(), None, &header, None).expect("encode");
    let path = dir.join("rules.vglb");
    std::fs::write(&path, bytes).expect("write bundle");
    let path = path.display().to_string();

    let refused = vigil(&["run", &path, SAMPLE]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("refused"),
        "{}",
        text(&refused.stderr)
    );

    let out = vigil(&["run", &path, SAMPLE, "--allow-unsigned"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let all = alerts(&out.stdout);
    assert!(all.iter().any(|a| a["rule"] == ENCODED_POWERSHELL));
    assert_eq!(all[0]["bundle"]["id"], "cli-run-test");
    assert_eq!(all[0]["bundle"]["content_version"], 3);
    assert_eq!(all[0]["bundle"]["sha256"].as_str().map(str::len), Some(64));
    // Same alerts as compiling the sources, apart from `bundle`.
    let from_source = alerts(&vigil(&["run", "examples/rules", SAMPLE]).stdout);
    let without_bundle = |v: &[serde_json::Value]| -> Vec<String> {
        v.iter()
            .map(|a| {
                let mut a = a.clone();
                a["bundle"] = serde_json::Value::Null;
                a.to_string()
            })
            .collect()
    };
    assert_eq!(without_bundle(&all), without_bundle(&from_source));
}

#[test]
fn exit_codes_for_bad_rules_and_missing_inputs() {
    let dir = scratch("exit_codes");
    let bad = dir.join("bad.vgl");
    std::fs::write(&bad, "rule r { on no_such_event }\n").expect("write");
    let out = vigil(&["run", &bad.display().to_string(), SAMPLE]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let out = vigil(&["run", "examples/rules", "no/such/file.jsonl"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = vigil(&[
        "run",
        "examples/rules",
        SAMPLE,
        "--mapping",
        "no-such-mapping",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = vigil(&["run", "examples/rules"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn sysmon_mapping_over_real_corpus_files() {
    let corpus = repo().join("../shared/corpus/events/evtx-attack-samples");
    // Sysmon records of many kinds, and a Security/System file that the mapping mostly has
    // no route for (unrouted records, counted).
    let files = [
        corpus.join("AutomatedTestingTools__PanacheSysmon_vs_AtomicRedTeam01.jsonl.gz"),
        corpus.join("Command_and_Control__bits_openvpn.jsonl.gz"),
    ];
    if files.iter().any(|f| !f.exists()) {
        // CI has the corpus and sets VIGIL_REQUIRE_CORPUS=1: there, a missing file fails.
        assert!(
            std::env::var_os("VIGIL_REQUIRE_CORPUS").is_none_or(|v| v != "1"),
            "no corpus files under {} (VIGIL_REQUIRE_CORPUS=1)",
            corpus.display()
        );
        eprintln!(
            "note: corpus files under {} absent; skipping the Sysmon run",
            corpus.display()
        );
        return;
    }
    let paths: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let mut outputs = Vec::new();
    for engine in ["jit", "interp"] {
        let out = vigil(&[
            "run",
            "examples/rules",
            &paths[0],
            &paths[1],
            "--mapping",
            "sysmon",
            "--engine",
            engine,
        ]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(err.contains("vigil run: "), "{err}");
        // Records of channels the `sysmon` mapping does not route are unrouted, not bad,
        // and listed by kind.
        assert!(!err.contains("bad lines: "), "{err}");
        assert!(err.contains("unrouted records: "), "{err}");
        assert!(err.contains("  Channel `"), "{err}");
        let _ = alerts(&out.stdout);
        outputs.push(out.stdout);
    }
    assert_eq!(text(&outputs[0]), text(&outputs[1]));
}

#[test]
fn lateness_flag_decides_what_stateful_rules_accept_and_the_summary_counts_it() {
    let dir = scratch("lateness");
    let rules = dir.join("late.vgl");
    std::fs::write(
        &rules,
        "rule three { on process_start threshold count >= 3 within 1m by pid }\n",
    )
    .expect("rules written");
    let s = 1_000_000_000i64;
    let ev = |host: &str, pid: i64, time: Option<i64>| {
        let time = time.map_or(String::new(), |t| format!(", \"time\": {t}"));
        format!("{{\"event\": \"process_start\", \"host\": \"{host}\", \"pid\": {pid}{time}}}\n")
    };
    let events = dir.join("events.jsonl");
    let lines = [
        ev("h1", 7, Some(100 * s)),
        // Another host, 30 s ahead: its clock is its own.
        ev("h3", 9, Some(130 * s)),
        // 2 s older than h1's newest: late.
        ev("h1", 7, Some(98 * s)),
        ev("h1", 7, Some(101 * s)),
        ev("h1", 8, None),
        // h2 runs two days ahead, then its clock is set back: a clock reset.
        ev("h2", 5, Some(2 * 86_400 * s)),
        ev("h2", 5, Some(100 * s)),
    ];
    std::fs::write(&events, lines.concat()).expect("events written");
    let (rules, events) = (
        rules.to_str().expect("utf-8 path"),
        events.to_str().expect("utf-8 path"),
    );
    let run = |lateness: Option<&str>| {
        let mut args = vec!["run", rules, events];
        if let Some(l) = lateness {
            args.extend(["--lateness", l]);
        }
        vigil(&args)
    };
    // Default (0) and 500ms: the late event is skipped, h1 counts 2 events, no alert.
    for lateness in [None, Some("500ms")] {
        let out = run(lateness);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(rule_ids(&out.stdout).is_empty(), "{lateness:?}: {err}");
        assert!(
            err.contains("late events skipped by stateful rules (older than their host's newest time by more than --lateness): 1\n"),
            "{lateness:?}: {err}"
        );
        assert!(!err.contains("late events accepted"), "{err}");
        assert!(
            err.contains("events without a time skipped by stateful rules: 1\n"),
            "{err}"
        );
        assert!(err.contains("clock resets ("), "{err}");
        assert!(err.contains("its state was dropped): 1\n"), "{err}");
    }
    // 2s: the late event is accepted and completes h1's count.
    let out = run(Some("2s"));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(rule_ids(&out.stdout), ["three"], "{err}");
    assert!(
        err.contains("late events accepted by stateful rules (within --lateness): 1\n"),
        "{err}"
    );
    assert!(!err.contains("late events skipped"), "{err}");
    // Not a duration: a usage error that says what a duration is.
    let out = run(Some("2x"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("`2x` is not a duration"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn agent_lateness_flag_and_event_time_counters_in_status_json() {
    let dir = scratch("agent_lateness");
    let rules = dir.join("late.vgl");
    std::fs::write(
        &rules,
        "rule three { on process_start threshold count >= 3 within 1m by pid }\n",
    )
    .expect("rules written");
    let bundles = dir.join("bundles");
    std::fs::create_dir_all(&bundles).expect("bundles folder");
    let bundle = bundles.join("late.vglb");
    let p = |p: &Path| p.to_str().expect("utf-8 path").to_owned();
    let out = vigil(&["build", &p(&rules), "-o", &p(&bundle), "--unsigned"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = 1_000_000_000i64;
    let events = dir.join("events.jsonl");
    let lines = [
        format!(
            "{{\"event\": \"process_start\", \"host\": \"h1\", \"pid\": 7, \"time\": {}}}\n",
            100 * s
        ),
        format!(
            "{{\"event\": \"process_start\", \"host\": \"h1\", \"pid\": 7, \"time\": {}}}\n",
            98 * s
        ),
        format!(
            "{{\"event\": \"process_start\", \"host\": \"h1\", \"pid\": 7, \"time\": {}}}\n",
            101 * s
        ),
        "{\"event\": \"process_start\", \"host\": \"h1\", \"pid\": 8}\n".to_owned(),
        format!(
            "{{\"event\": \"process_start\", \"host\": \"h2\", \"pid\": 5, \"time\": {}}}\n",
            2 * 86_400 * s
        ),
        format!(
            "{{\"event\": \"process_start\", \"host\": \"h2\", \"pid\": 5, \"time\": {}}}\n",
            100 * s
        ),
    ];
    std::fs::write(&events, lines.concat()).expect("events written");
    // (lateness, late skipped, late accepted, alerts)
    for (lateness, skipped, accepted, alerts) in [("0s", 1, 0, 0), ("2s", 0, 1, 1)] {
        let state = dir.join(format!("state-{lateness}"));
        let out = vigil(&[
            "agent",
            "--bundles",
            &p(&bundles),
            "--state",
            &p(&state),
            "--allow-unsigned",
            "--engine",
            "interp",
            "--lateness",
            lateness,
            "--exit-after-idle-ms",
            "200",
            &p(&events),
        ]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert_eq!(rule_ids(&out.stdout).len(), alerts, "{lateness}: {err}");
        let status: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(state.join("status.json")).expect("status.json"),
        )
        .expect("status.json is JSON");
        let t = &status["active"]["event_time"];
        assert_eq!(t["late_skipped"], skipped, "{lateness}: {status}");
        assert_eq!(t["late_accepted"], accepted, "{lateness}: {status}");
        assert_eq!(t["missing_time"], 1, "{status}");
        assert_eq!(t["clock_resets"], 1, "{status}");
    }
}
