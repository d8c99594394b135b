//! One input layer for every command (issue 17): `vigil run`, `vigil bench` and `vigil diff`
//! read files, folders, `.gz`, `.evtx` (by name and by magic bytes, inside gzip too) and stdin
//! alike; damaged EVTX gives coded errors in the run summary. Each test failed before the fix
//! it covers (`VIGIL_TEST_BIN=/path/to/old/vigil` runs them against another build).

use std::io::Write;
use std::path::PathBuf;
use std::process::Output;

use flate2::write::GzEncoder;

use super::support::{repo, s, text, vigil, vigil_in};

const SAMPLE: &str = "examples/events/sample.jsonl";
const SAMPLE_EVENTS: usize = 39;
/// A Sysmon sample of the corpus on which the example rules fire (as `.evtx` and as JSON lines).
const EVTX_SAMPLE: &str =
    "evtx-attack-samples/AutomatedTestingTools__panache_sysmon_vs_EDRTestingScript";

fn scratch(name: &str) -> PathBuf {
    super::support::scratch("inputs", name)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

/// A corpus file, or `None` (skip) when the corpus is absent, unless
/// `VIGIL_REQUIRE_CORPUS=1` (CI): then the test fails.
fn corpus_file(rel: &str) -> Option<PathBuf> {
    let p = repo().join("../shared/corpus").join(rel);
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var_os("VIGIL_REQUIRE_CORPUS").is_none_or(|v| v != "1"),
        "no corpus file {} (VIGIL_REQUIRE_CORPUS=1)",
        p.display()
    );
    eprintln!("note: corpus file {} absent; skipping", p.display());
    None
}

/// The alerts of a run as (rule, message) lines, sorted (their `time` and `source` differ
/// between an `.evtx` file and its JSON lines: 100 ns against 1 µs, and the file name).
fn alerts(out: &Output) -> Vec<String> {
    let mut v: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| {
            let a: serde_json::Value = serde_json::from_str(l).expect("alert JSON");
            format!("{} {}", a["rule"], a["message"])
        })
        .collect();
    v.sort();
    v
}

#[test]
fn diff_reads_gzip_folders_and_stdin() {
    let dir = scratch("diff");
    let gz = gzip(&std::fs::read(repo().join(SAMPLE)).expect("sample"));
    let events = dir.join("events");
    std::fs::create_dir_all(&events).expect("events dir");
    let file = events.join("sample.jsonl.gz");
    std::fs::write(&file, &gz).expect("gz");
    let new = dir.join("new.vgl");
    std::fs::write(
        &new,
        "rule nothing {\n    on process_start\n    when image == \"nothing.exe\"\n}\n",
    )
    .expect("rules");
    let plain = vigil(&["diff", "examples/rules", s(&new), SAMPLE]);
    let gone = text(&plain.stdout)
        .lines()
        .filter(|l| l.starts_with("- alert"))
        .count();
    assert!(gone > 0, "{}", text(&plain.stdout));
    let header = format!("alerts over {SAMPLE_EVENTS} events: 0 appear, {gone} disappear");
    assert!(text(&plain.stdout).contains(&header));
    for (what, input, stdin) in [
        ("a .gz file", s(&file), &[][..]),
        ("a folder", s(&events), &[][..]),
        ("gzip on stdin", "-", &gz[..]),
    ] {
        let o = vigil_in(&["diff", "examples/rules", s(&new), input], stdin);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", text(&o.stderr));
        assert!(
            text(&o.stdout).contains(&header),
            "{what}: {}\n{}",
            text(&o.stdout),
            text(&o.stderr)
        );
    }
}

#[test]
fn bench_reads_stdin() {
    let gz = gzip(&std::fs::read(repo().join(SAMPLE)).expect("sample"));
    let o = vigil_in(&["bench", "examples/rules", "-"], &gz);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let file = vigil(&["bench", "examples/rules", SAMPLE]);
    let count = |o: &Output| {
        text(&o.stdout)
            .lines()
            .find(|l| l.trim_start().starts_with("alerts"))
            .map(str::to_owned)
    };
    assert!(count(&o).is_some(), "{}", text(&o.stdout));
    assert_eq!(count(&o), count(&file));
}

#[test]
fn run_reads_evtx_by_name_by_magic_in_gzip_in_folders_and_on_stdin() {
    let (Some(evtx), Some(json)) = (
        corpus_file(&format!("evtx/{EVTX_SAMPLE}.evtx")),
        corpus_file(&format!("events/{EVTX_SAMPLE}.jsonl.gz")),
    ) else {
        return;
    };
    let dir = scratch("evtx");
    let bytes = std::fs::read(&evtx).expect("evtx");
    let expected = alerts(&vigil(&[
        "run",
        "examples/rules",
        s(&json),
        "--mapping",
        "windows",
    ]));
    assert!(!expected.is_empty());
    let magic = dir.join("renamed.log");
    std::fs::write(&magic, &bytes).expect("copy");
    let folder = dir.join("folder");
    std::fs::create_dir_all(&folder).expect("folder");
    std::fs::write(folder.join("Sysmon.evtx"), &bytes).expect("copy");
    let gz = gzip(&bytes);
    let gz_file = dir.join("Sysmon.evtx.gz");
    std::fs::write(&gz_file, &gz).expect("gz");
    for (what, input, stdin) in [
        ("by name", s(&evtx), &[][..]),
        ("by magic", s(&magic), &[][..]),
        ("in a folder", s(&folder), &[][..]),
        ("gzip file", s(&gz_file), &[][..]),
        ("stdin", "-", &bytes[..]),
        ("gzip on stdin", "-", &gz[..]),
    ] {
        let o = vigil_in(
            &["run", "examples/rules", input, "--mapping", "windows"],
            stdin,
        );
        assert_eq!(o.status.code(), Some(0), "{what}: {}", text(&o.stderr));
        assert_eq!(alerts(&o), expected, "{what}: {}", text(&o.stderr));
    }
}

#[test]
fn run_reports_damaged_evtx_as_coded_input_errors() {
    let Some(evtx) = corpus_file(&format!("evtx/{EVTX_SAMPLE}.evtx")) else {
        return;
    };
    let dir = scratch("evtx_cut");
    let bytes = std::fs::read(&evtx).expect("evtx");
    // Cut inside the third chunk.
    let cut = dir.join("cut.evtx");
    std::fs::write(&cut, &bytes[..4096 + 2 * 65536 + 30_000]).expect("cut");
    let o = vigil(&["run", "examples/rules", s(&cut), "--mapping", "windows"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("error[E0724]") && err.contains("chunk 2 "),
        "{err}"
    );
    assert!(err.contains("input errors: "), "{err}");
    assert!(err.contains("  E0724 EVTX file cut short: "), "{err}");
    let o = vigil(&[
        "run",
        "--strict",
        "examples/rules",
        s(&cut),
        "--mapping",
        "windows",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
}
