//! Input without `--mapping`: records told by their shape (an `event` key: Vigil's native
//! form; `Channel`/`EventID`: a Windows record, through the built-in `windows` mapping), one
//! input mixing both, unrouted records counted apart from bad lines and listed by kind, and a
//! mapping whose routes overlap refused at load (E0715). `docs/mappings.md`.

use std::path::PathBuf;

use super::support::{repo, s, text, vigil};

fn scratch(name: &str) -> PathBuf {
    super::support::scratch("shapes", name)
}

/// A native process start and a Sysmon one that both fire `encoded_powershell`, a Windows
/// record of a channel no route takes (twice), and a record of neither shape.
const MIXED: &str = concat!(
    r#"{"event": "process_start", "pid": 1, "image": "C:\\Windows\\powershell.exe", "command_line": "powershell -enc AAAA"}"#,
    "\n",
    r#"{"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "ProcessId": 2, "Image": "C:\\Windows\\powershell.exe", "CommandLine": "powershell -enc BBBB"}"#,
    "\n",
    r#"{"EventID": "7", "Channel": "Vendor-Thing/Operational"}"#,
    "\n",
    r#"{"EventID": 7, "Channel": "vendor-thing/operational"}"#,
    "\n",
    "\n",
    r#"{"foo": 1}"#,
    "\n",
);

#[test]
fn mixed_native_and_windows_lines_without_mapping() {
    let dir = scratch("mixed");
    let events = dir.join("mixed.jsonl");
    std::fs::write(&events, MIXED).expect("write");
    for threads in ["1", "2"] {
        let o = vigil(&["run", "--threads", threads, "examples/rules", s(&events)]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{err}");
        let out = text(&o.stdout);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{threads}: {out}");
        assert!(
            lines[0].contains("encoded PowerShell") && lines[0].contains("\"line\":1"),
            "{out}"
        );
        assert!(lines[1].contains("\"line\":2"), "{out}");
        assert!(
            err.contains("lines: 6 = 5 records + 1 blank"),
            "{threads}: {err}"
        );
        // The Sysmon record is a `process_start` and a `win_sysmon` event.
        assert!(
            err.contains("records: 5 = 2 with events + 2 unrouted + 1 bad; 3 events"),
            "{threads}: {err}"
        );
        // Both spellings of the channel (case folding aside) and of the id are listed by
        // what they hold; the string id reads as the int.
        assert!(
            err.contains("unrouted records: 2 (E0710")
                && err.contains("  Channel `Vendor-Thing/Operational`, EventID 7: 1")
                && err.contains("  Channel `vendor-thing/operational`, EventID 7: 1"),
            "{threads}: {err}"
        );
        assert!(
            err.contains("bad lines: 1") && err.contains("E0703") && err.contains("--mapping"),
            "{threads}: {err}"
        );
    }
    // `--strict` stops at the bad line, not at the unrouted ones before it.
    let o = vigil(&["run", "--strict", "examples/rules", s(&events)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains(":6: "), "{}", text(&o.stderr));
    // `--mapping native` reads the native form only: the Windows records are bad.
    let o = vigil(&["run", "--mapping", "native", "examples/rules", s(&events)]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(text(&o.stdout).lines().count(), 1, "{err}");
    assert!(err.contains("+ 0 unrouted + 4 bad"), "{err}");
}

/// The EVTX-derived Windows sample set without `--mapping` raises exactly the alerts it
/// raises with `--mapping windows`, and lists what no route takes.
#[test]
fn windows_samples_without_mapping_alert_as_with_the_windows_mapping() {
    let corpus = repo().join("../shared/corpus/events/evtx-attack-samples");
    if !corpus.is_dir() {
        assert!(
            std::env::var_os("VIGIL_REQUIRE_CORPUS").is_none_or(|v| v != "1"),
            "no corpus at {} (VIGIL_REQUIRE_CORPUS=1)",
            corpus.display()
        );
        eprintln!("note: no corpus at {}; skipping", corpus.display());
        return;
    }
    let auto = vigil(&["run", "examples/rules", s(&corpus)]);
    let windows = vigil(&["run", "--mapping", "windows", "examples/rules", s(&corpus)]);
    let err = text(&auto.stderr);
    assert_eq!(auto.status.code(), Some(0), "{err}");
    assert_eq!(windows.status.code(), Some(0), "{}", text(&windows.stderr));
    assert!(!auto.stdout.is_empty(), "no alert: {err}");
    assert_eq!(text(&auto.stdout), text(&windows.stdout));
    // Every line is a record with events or unrouted; none is bad.
    assert!(err.contains("+ 0 bad;"), "{err}");
    assert!(!err.contains("bad lines:"), "{err}");
    let listing: Vec<&str> = err
        .lines()
        .skip_while(|l| !l.starts_with("unrouted records: "))
        .skip(1)
        .take_while(|l| l.starts_with("  ") && !l.starts_with("  ..."))
        .collect();
    assert!(
        !listing.is_empty() && listing.iter().all(|l| l.contains(", EventID ")),
        "{err}"
    );
    assert!(listing.len() <= 10, "{err}");
}

#[test]
fn a_mapping_with_overlapping_routes_is_refused() {
    let dir = scratch("overlap");
    let mapping = dir.join("dup.toml");
    std::fs::write(
        &mapping,
        "name = \"dup\"\nschema = \"endpoint\"\n\n[[route]]\nevent = \"process_start\"\nwhen = { Channel = \"Security\", EventID = 4688 }\n[route.fields]\npid = \"NewProcessId\"\n\n[[route]]\nevent = \"process_start\"\nwhen = { Channel = \"security\", EventID = \"4688\" }\n[route.fields]\nimage = \"NewProcessName\"\n",
    )
    .expect("write");
    let events = dir.join("ev.jsonl");
    std::fs::write(&events, "{\"Channel\": \"Security\", \"EventID\": 4688}\n").expect("write");
    let o = vigil(&[
        "run",
        "--mapping",
        s(&mapping),
        "examples/rules",
        s(&events),
    ]);
    let err = text(&o.stderr);
    assert_ne!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("E0715") && err.contains("routes 1 (line 4") && err.contains("2 (line 10"),
        "{err}"
    );
}

/// `vigil agent` without `--mapping` reads the mixed input the same way, and its `status.json`
/// counts records, events, unrouted records (by kind) and bad lines.
#[test]
fn agent_reads_mixed_lines_and_reports_records_and_events() {
    let dir = scratch("agent");
    let bundles = dir.join("bundles");
    std::fs::create_dir_all(&bundles).expect("bundles folder");
    let o = vigil(&[
        "build",
        "examples/rules",
        "--unsigned",
        "--content-version",
        "1",
        "-o",
        s(&bundles.join("rules.vglb")),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let events = dir.join("mixed.jsonl");
    std::fs::write(&events, MIXED).expect("write");
    let state = dir.join("state");
    let o = vigil(&[
        "agent",
        "--bundles",
        s(&bundles),
        "--state",
        s(&state),
        "--allow-unsigned",
        "--exit-after-idle-ms",
        "200",
        s(&events),
    ]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(text(&o.stdout).lines().count(), 2, "{err}");
    let status: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(state.join("status.json")).expect("status.json"),
    )
    .expect("status.json is JSON");
    let d = &status["decode"];
    assert_eq!(d["records"], 5, "{status}");
    assert_eq!(d["events"], 3, "{status}");
    assert_eq!(d["unrouted"], 2, "{status}");
    assert_eq!(d["bad_lines"], 1, "{status}");
    assert_eq!(
        d["unrouted_kinds"][0][0], "Channel `Vendor-Thing/Operational`, EventID 7",
        "{status}"
    );
}
