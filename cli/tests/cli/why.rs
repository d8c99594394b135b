//! `vigil why` end to end: a report on an example event (human and JSON, fired or not, gzip
//! input), every coded failure (E1101–E1109 but the engine's), and `vigil test` printing the
//! condition tree (`--explain`, and for failed cases).

use std::io::Write;

use crate::support::{s, scratch, text, vigil};

const SAMPLE: &str = "examples/events/sample.jsonl";

#[test]
fn why_reports_the_tree_fields_and_verdict() {
    // Line 3 of the sample: Word starts PowerShell.
    let out = vigil(&[
        "why",
        "examples/rules",
        "--rule",
        "vgl-ex-0002",
        "--event",
        &format!("{SAMPLE}:3"),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        stdout.contains("on a `process_start` event: FIRED"),
        "{stdout}"
    );
    assert!(stdout.contains("=>  \"WINWORD.EXE\""), "{stdout}");
    assert!(stdout.contains("fields read:"), "{stdout}");
    assert!(stdout.contains("prefilter:"), "{stdout}");
    // By name, on a line where it does not fire: still exit 0.
    let quiet = vigil(&[
        "why",
        "examples/rules",
        "--rule",
        "office_spawns_script_host",
        "--event",
        &format!("{SAMPLE}:2"),
        "--format",
        "json",
    ]);
    assert_eq!(quiet.status.code(), Some(0), "{}", text(&quiet.stderr));
    let v: serde_json::Value = serde_json::from_slice(&quiet.stdout).expect("one JSON object");
    assert_eq!(v["rule"], "vgl-ex-0002");
    assert_eq!(v["fired"], false);
    assert!(v["tree"]["children"].is_array(), "{v}");
    assert!(v["fields"].is_array() && v["prefilter"].is_object(), "{v}");
}

#[test]
fn why_reads_gzip_and_reports_sequence_state() {
    let dir = scratch("why", "gzip");
    let gz = dir.join("sample.jsonl.gz");
    let bytes = std::fs::read(crate::support::repo().join(SAMPLE)).expect("sample");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&bytes).expect("gzip");
    std::fs::write(&gz, enc.finish().expect("gzip")).expect("write");
    // Line 7: the Run key set to the dropped file, the second step of vgl-ex-0304.
    let out = vigil(&[
        "why",
        "examples/rules",
        "--rule",
        "vgl-ex-0304",
        "--event",
        &format!("{}:7", s(&gz)),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stdout.contains("FIRED"), "{stdout}");
    assert!(
        stdout.contains("partial match: 1 of 2 steps done"),
        "{stdout}"
    );
    assert!(
        stdout.contains("with the captures of the partial match"),
        "{stdout}"
    );
}

#[test]
fn why_failures_are_coded() {
    let dir = scratch("why", "failures");
    let bad = dir.join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"event\":\"process_start\",\"pid\":1}\nnot json\n\n",
    )
    .expect("write");
    let bad_line = |n: u32| format!("{}:{n}", s(&bad));
    let missing = dir.join("missing.jsonl");
    let rules = "examples/rules";
    let cases: Vec<(Vec<String>, i32, &str, &str)> = vec![
        (
            vec![
                "--rule".into(),
                "vgl-ex-9999".into(),
                "--event".into(),
                SAMPLE.into(),
            ],
            1,
            "E1101",
            "",
        ),
        (
            vec![
                "--rule".into(),
                "office_spawns_script_hots".into(),
                "--event".into(),
                SAMPLE.into(),
            ],
            1,
            "E1101",
            "did you mean `office_spawns_script_host`?",
        ),
        (
            vec![
                "--rule".into(),
                "vgl-ex-0002".into(),
                "--event".into(),
                format!("{SAMPLE}:0"),
            ],
            2,
            "E1103",
            "",
        ),
        (
            vec![
                "--rule".into(),
                "vgl-ex-0002".into(),
                "--event".into(),
                s(&missing).to_owned(),
            ],
            2,
            "E1104",
            "",
        ),
        (
            vec![
                "--rule".into(),
                "vgl-ex-0002".into(),
                "--event".into(),
                format!("{SAMPLE}:9999"),
            ],
            1,
            "E1105",
            "past its end",
        ),
        (
            vec![
                "--rule".into(),
                "vgl-ex-0002".into(),
                "--event".into(),
                bad_line(2),
            ],
            1,
            "E1106",
            "does not decode",
        ),
        (
            vec![
                "--rule".into(),
                "vgl-ex-0002".into(),
                "--event".into(),
                bad_line(3),
            ],
            1,
            "E1106",
            "no event",
        ),
        (
            vec![
                "--rule".into(),
                "vgl-ex-0101".into(),
                "--event".into(),
                bad_line(1),
            ],
            1,
            "E1107",
            "runs on network_connect only",
        ),
        (
            vec![
                "--rule".into(),
                "vgl-ex-0002".into(),
                "--event".into(),
                SAMPLE.into(),
                "--mapping".into(),
                "no-such-mapping".into(),
            ],
            2,
            "E1108",
            "",
        ),
    ];
    for (args, status, code, note) in cases {
        let mut all = vec!["why", rules];
        all.extend(args.iter().map(String::as_str));
        let out = vigil(&all);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(status), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("error[{code}]")),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains(note), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn why_refuses_an_ambiguous_rule() {
    let dir = scratch("why", "ambiguous");
    let rules = dir.join("r.vgl");
    std::fs::write(
        &rules,
        "rule a { meta { id: \"b\" } on process_start }\nrule b { meta { id: \"c\" } on process_start }\n",
    )
    .expect("write");
    let out = vigil(&["why", s(&rules), "--rule", "b", "--event", SAMPLE]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error[E1102]") && stderr.contains("`b`, `c`"),
        "{stderr}"
    );
}

#[test]
fn test_prints_the_tree_for_failures_and_with_explain() {
    let dir = scratch("why", "test_explain");
    let path = dir.join("t.vgl");
    std::fs::write(
        &path,
        "rule r { on process_start when image iendswith \"cmd.exe\" and pid > 3 }\n\
         test r {\n    process_start { image: \"C:\\\\cmd.exe\", pid: 1 } => fires\n    \
         process_start { image: \"C:\\\\cmd.exe\", pid: 5 } => fires\n}\n",
    )
    .expect("write");
    let out = vigil(&["test", s(&path)]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("it fired no alert"), "{stdout}");
    assert!(stdout.contains("    condition (when): false"), "{stdout}");
    assert!(stdout.contains("pid > 3  =>  false"), "{stdout}");
    // Only the failed case prints a tree without --explain.
    assert_eq!(stdout.matches("condition (when)").count(), 1, "{stdout}");
    let explained = vigil(&["test", s(&path), "--explain"]);
    let stdout = text(&explained.stdout);
    assert_eq!(stdout.matches("condition (when)").count(), 3, "{stdout}");
    assert!(stdout.contains("pid > 3  =>  true"), "{stdout}");
    let json = vigil(&["test", s(&path), "--format", "json"]);
    let lines: Vec<serde_json::Value> = text(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines[0]["why"]["fired"], false);
    assert!(lines[1]["why"].is_null());
}
