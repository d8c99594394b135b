//! `vigil agent` file inputs through the one input layer (issue 17): a `.gz` input is
//! decompressed (it was read as raw bytes, every line dropped), by name or by magic bytes.

use std::fs;
use std::io::Write;

use flate2::write::GzEncoder;

use super::{bundle, dirs, drop_bundle, event_line, spawn, status, stderr_of, wait_exit, QUIET};

#[test]
fn agent_reads_gzip_inputs() {
    let d = dirs("gzip");
    let mut text = String::new();
    for _ in 0..5 {
        text.push_str(&event_line("a.exe"));
    }
    text.push_str(&event_line("rare.exe"));
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text.as_bytes()).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let named = d.root.join("finite.jsonl.gz");
    fs::write(&named, &gz).expect("events");
    let unnamed = d.root.join("finite.log");
    fs::write(&unnamed, &gz).expect("events");
    drop_bundle(&d, "v1.vglb", &bundle(QUIET, 1, "rules-v1"));
    let args = [
        named.to_str().expect("utf-8 path"),
        unnamed.to_str().expect("utf-8 path"),
    ];
    let mut child = spawn(&d, &args, &[], "gz");
    assert!(wait_exit(&mut child).success(), "{}", stderr_of(&d));
    let s = status(&d).expect("status");
    assert_eq!(s["events"]["received"], 12, "{s}");
    assert_eq!(s["events"]["evaluated"], 12, "{s}");
    let out = fs::read_to_string(d.root.join("gz.stdout")).expect("stdout");
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("\"rule\":\"rare\""))
            .count(),
        2,
        "{out}"
    );
    let _ = fs::remove_dir_all(&d.root);
}

/// A Sysmon sample of the corpus, as `.evtx` and as JSON lines.
const EVTX_SAMPLE: &str =
    "evtx-attack-samples/AutomatedTestingTools__panache_sysmon_vs_EDRTestingScript";

const CMD: &str = r#"
rule cmd {
    on process_start
    when lower(basename(image)) == "cmd.exe"
}
"#;

#[test]
fn agent_reads_evtx_inputs_as_their_json_lines() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    let evtx = corpus.join(format!("evtx/{EVTX_SAMPLE}.evtx"));
    let json = corpus.join(format!("events/{EVTX_SAMPLE}.jsonl.gz"));
    if !evtx.exists() || !json.exists() {
        assert!(
            std::env::var_os("VIGIL_REQUIRE_CORPUS").is_none_or(|v| v != "1"),
            "no corpus file {} (VIGIL_REQUIRE_CORPUS=1)",
            evtx.display()
        );
        eprintln!("note: corpus absent; skipping");
        return;
    }
    let mut counts = Vec::new();
    for (tag, input) in [("evtx", &evtx), ("json", &json)] {
        let d = dirs(&format!("evtx_{tag}"));
        drop_bundle(&d, "v1.vglb", &bundle(CMD, 1, "rules-v1"));
        let args = ["--mapping", "windows", input.to_str().expect("utf-8 path")];
        let mut child = spawn(&d, &args, &[], tag);
        assert!(wait_exit(&mut child).success(), "{}", stderr_of(&d));
        let s = status(&d).expect("status");
        let out = fs::read_to_string(d.root.join(format!("{tag}.stdout"))).expect("stdout");
        let alerts = out
            .lines()
            .filter(|l| l.contains("\"rule\":\"cmd\""))
            .count();
        counts.push((s["events"]["received"].clone(), alerts));
        let _ = fs::remove_dir_all(&d.root);
    }
    assert!(counts[1].1 > 0, "{counts:?}");
    assert_eq!(
        counts[0], counts[1],
        "the .evtx file reads as its JSON lines"
    );
}
