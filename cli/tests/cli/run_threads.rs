//! `vigil run --threads N` (decoding and single-event rules on N workers, stateful rules in one
//! ordered stage) prints the same bytes as one thread, stops at the same bad line under
//! `--strict`, and `vigil bench --format json` prints its figures (resident memory included).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn vigil(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("the vigil binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const SAMPLE: &str = "examples/events/sample.jsonl";

#[test]
fn threads_print_the_same_alerts_in_the_same_order() {
    for engine in ["jit", "interp"] {
        let one = vigil(&[
            "run",
            "examples/rules",
            SAMPLE,
            "--engine",
            engine,
            "--threads",
            "1",
        ]);
        assert_eq!(one.status.code(), Some(0), "{}", text(&one.stderr));
        assert!(!one.stdout.is_empty());
        for threads in ["2", "3"] {
            let many = vigil(&[
                "run",
                "examples/rules",
                SAMPLE,
                "--engine",
                engine,
                "--threads",
                threads,
            ]);
            assert_eq!(many.status.code(), Some(0), "{}", text(&many.stderr));
            assert_eq!(
                text(&many.stdout),
                text(&one.stdout),
                "{engine}, {threads} threads"
            );
        }
    }
}

#[test]
fn threads_over_the_sysmon_corpus_print_the_same_bytes() {
    let corpus = repo().join("../shared/corpus/events/evtx-attack-samples");
    if !corpus.exists() {
        eprintln!("note: {} absent; skipping", corpus.display());
        return;
    }
    let dir = corpus.display().to_string();
    let run = |threads: &str| {
        let out = vigil(&[
            "run",
            "examples/rules",
            &dir,
            "--mapping",
            "sysmon",
            "--threads",
            threads,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        out.stdout
    };
    assert_eq!(text(&run("3")), text(&run("1")));
}

#[test]
fn strict_stops_at_the_first_bad_line_with_threads() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli_run_threads_strict");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let sample = std::fs::read_to_string(repo().join(SAMPLE)).expect("sample");
    let mut lines: Vec<&str> = sample.lines().collect();
    lines.insert(1, "{not json");
    let events = dir.join("events.jsonl");
    std::fs::write(&events, lines.join("\n") + "\n").expect("write events");
    let path = events.display().to_string();
    let strict = vigil(&["run", "examples/rules", &path, "--strict", "--threads", "3"]);
    let err = text(&strict.stderr);
    assert_eq!(strict.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("{path}:2")), "{err}");
    assert!(strict.stdout.is_empty(), "{}", text(&strict.stdout));
}

#[test]
fn bench_prints_its_figures_as_json() {
    let out = vigil(&[
        "bench",
        "examples/rules",
        SAMPLE,
        "--format",
        "json",
        "--repeat",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    for key in [
        "events",
        "rules",
        "alerts",
        "decode_ns_per_event",
        "eval_ns_per_event",
        "end_to_end_ns_per_event",
        "events_per_sec",
        "bytes",
        "mb_per_sec",
        "load_ms",
        "first_pass_ns_per_event",
        "end_to_end_ns_per_line",
        "end_to_end_lines_per_sec",
    ] {
        assert!(v.get(key).is_some(), "no `{key}` in {v}");
    }
    // Records and events are counted apart; the JIT (the default engine) says what it compiled
    // on first use: at least the rules that fired.
    assert!(v["lines"].as_u64().unwrap_or(0) > 0, "{v}");
    assert!(
        v["end_to_end_lines_per_sec"].as_f64().unwrap_or(0.0) > 0.0,
        "{v}"
    );
    assert!(v["jit_rules_compiled"].as_u64().unwrap_or(0) > 0, "{v}");
    assert!(v["events"].as_u64().unwrap_or(0) > 0, "{v}");
    assert!(v["alerts"].as_u64().unwrap_or(0) > 0, "{v}");
    // The same alerts without the prefilter.
    let base = vigil(&[
        "bench",
        "examples/rules",
        SAMPLE,
        "--format",
        "json",
        "--no-prefilter",
        "--threads",
        "2",
    ]);
    assert_eq!(base.status.code(), Some(0), "{}", text(&base.stderr));
    let b: serde_json::Value = serde_json::from_slice(&base.stdout).expect("one JSON object");
    assert_eq!(b["alerts"], v["alerts"]);
    assert_eq!(b["prefilter"], false);
}

#[test]
fn bench_reports_resident_memory() {
    let out = vigil(&["bench", "examples/rules", SAMPLE, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let (after, peak) = (&v["rss_after_load_bytes"], &v["peak_rss_bytes"]);
    if cfg!(target_os = "linux") {
        let (after, peak) = (after.as_u64().unwrap_or(0), peak.as_u64().unwrap_or(0));
        assert!(after > 0 && peak >= after, "{v}");
    } else {
        assert!(after.is_null() && peak.is_null(), "{v}");
    }
    let human = vigil(&["bench", "examples/rules", SAMPLE]);
    assert_eq!(human.status.code(), Some(0), "{}", text(&human.stderr));
    assert!(text(&human.stdout).contains("resident after loading the rules"));
}
