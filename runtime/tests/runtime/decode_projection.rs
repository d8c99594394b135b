//! Projection ([`Decoder::project`]): a projected decoder gives the same values as an
//! unprojected one on every field of its set, and leaves every other field absent; skipped
//! values are still checked for JSON syntax; only read fields are coerced (and counted).
//! Checked on hand-made lines (native form) and on real corpus lines through the shipped
//! mappings, with field sets of several shapes.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use vigil_runtime::decode::{Decoder, ErrorCode, FieldSet, Mapping};
use vigil_runtime::event::Event;
use vigil_runtime::schema::{EventTypeId, FieldIndex, Schema};

fn ix(schema: &Schema, event: &str, field: &str) -> (EventTypeId, FieldIndex) {
    let (ty, et) = schema.event(event).expect("event type");
    (ty, et.field(field).expect("field").0)
}

/// `time` and `host` of every type, plus the named fields.
fn set(schema: &Schema, fields: &[(&str, &str)]) -> FieldSet {
    let mut s = FieldSet::new();
    for (t, et) in schema.events.iter().enumerate() {
        for name in ["time", "host"] {
            if let Some((f, _)) = et.field(name) {
                s.insert(EventTypeId(t as u16), f);
            }
        }
    }
    for (e, f) in fields {
        let (t, f) = ix(schema, e, f);
        s.insert(t, f);
    }
    s
}

/// `projected` holds exactly `full`'s values on the fields of `needed`, nothing elsewhere.
fn same_on(full: &Event<'_>, projected: &Event<'_>, needed: &FieldSet, what: &str) {
    assert_eq!(full.ty(), projected.ty(), "{what}: event type");
    assert_eq!(full.source(), projected.source(), "{what}: source");
    for i in 0..full.field_count() {
        let f = FieldIndex(i as u16);
        if needed.contains(full.ty(), f) {
            assert_eq!(full.value(f), projected.value(f), "{what}: field {i}");
            assert_eq!(
                full.flags()[i],
                projected.flags()[i],
                "{what}: flags of field {i}"
            );
            if full.list_len(f) == 0 && full.get_str(f).is_empty() {
                // Non-string slots hold the value itself: equal bit for bit.
                assert_eq!(full.slots()[i], projected.slots()[i], "{what}: slot {i}");
            }
        } else {
            assert!(!projected.is_present(f), "{what}: field {i} not projected");
            assert_eq!(projected.slots()[i], Default::default(), "{what}: slot {i}");
        }
    }
}

/// Decodes `lines` with both decoders, line by line, and compares every outcome.
fn compare(full: &mut Decoder, projected: &mut Decoder, needed: &FieldSet, lines: &[&[u8]]) {
    let mut events = 0;
    for (n, line) in lines.iter().enumerate() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let ra = full.decode_line(line, n as u64 + 1, &mut a);
        let rb = projected.decode_line(line, n as u64 + 1, &mut b);
        let what = format!("line {}: {}", n + 1, String::from_utf8_lossy(line));
        assert_eq!(
            ra.as_ref().map_err(|e| e.code),
            rb.as_ref().map_err(|e| e.code),
            "{what}"
        );
        assert_eq!(a.len(), b.len(), "{what}: events");
        for (x, y) in a.iter().zip(&b) {
            same_on(x, y, needed, &what);
            events += 1;
        }
    }
    let (s, p) = (full.stats(), projected.stats());
    assert_eq!(
        (s.lines, s.events, s.bad_lines, s.invalid_utf8_lines),
        (p.lines, p.events, p.bad_lines, p.invalid_utf8_lines)
    );
    assert!(
        p.uncoercible_values <= s.uncoercible_values,
        "only read fields are coerced"
    );
    assert_eq!(s.events, events);
}

#[test]
fn native_lines_decode_the_same_on_projected_fields() {
    let schema = Schema::endpoint();
    let needed = set(
        &schema,
        &[
            ("process_start", "image"),
            ("process_start", "args"),
            ("process_start", "pid"),
            ("network_connect", "dest_ip"),
        ],
    );
    let lines: Vec<&[u8]> = vec![
        br#"{"event": "process_start", "time": "2024-01-02T03:04:05Z", "host": "pc\u0031", "image": "C:\\Windows\\cmd.exe", "pid": "0x10", "ppid": "abc", "args": ["a", "b\tc", 7], "user": "x", "command_line": "cmd \"/c\""}"#,
        br#"{"event": "network_connect", "dest_ip": "10.0.0.1", "source_ip": "nope", "dest_port": 443}"#,
        br#"{"event": "process_start", "image": "a\ud83d\ude00b", "user": "bad \ud800 surrogate"}"#,
        b"{\"event\": \"process_start\", \"image\": \"ok\", \"user\": \"invalid \xff utf8\"}",
        br#"{"event": "process_start", "user": "x", "extra": {"deep": [1, [2, {"a": null}]]}}"#,
        br#"{"event": "process_end", "pid": 3}"#,
        br#"{"event": "process_start", "user": [1, 2,]}"#,
        br#"{"event": "process_start", "user": "x"} trailing"#,
        br#"{"event": "no_such_type"}"#,
        br#"{"event": "process_start", "image": 1.5e3, "pid": -0, "command_line": -12}"#,
    ];
    let mut full = Decoder::native(&schema);
    let mut projected = Decoder::native(&schema);
    projected.project(&needed);
    assert_eq!(projected.projection(), Some(&needed));
    compare(&mut full, &mut projected, &needed, &lines);
    // `ppid: "abc"` and `source_ip: "nope"` are not read: not coerced, not counted (`pid: -0`,
    // a float for an int, is read: counted both ways).
    assert_eq!(full.stats().uncoercible_values, 3);
    assert_eq!(projected.stats().uncoercible_values, 1);
    assert_eq!(full.stats().bad_lines, 3);
    // Back to every field.
    projected.project_all();
    let _ = projected.take_stats();
    assert_eq!(projected.projection(), None);
    let mut again = Decoder::native(&schema);
    compare(&mut again, &mut projected, &FieldSet::all(&schema), &lines);
}

#[test]
fn skipped_values_are_checked_for_syntax_only() {
    let schema = Schema::endpoint();
    let needed = set(&schema, &[("process_start", "image")]);
    let mut d = Decoder::native(&schema);
    d.project(&needed);
    let mut out = Vec::new();
    for bad in [
        &br#"{"event": "process_start", "user": "unterminated}"#[..],
        br#"{"event": "process_start", "user": [1 2]}"#,
        br#"{"event": "process_start", "user": "\q"}"#,
        br#"{"event": "process_start", "user": {"a": tru}}"#,
        br#"{"event": "process_start", "user": 012}"#,
        b"{\"event\": \"process_start\", \"user\": \"ctrl \x01\"}",
    ] {
        let err = d
            .decode_line(bad, 1, &mut out)
            .expect_err("a syntax error in a skipped value");
        assert_eq!(
            err.code,
            ErrorCode::BadJson,
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    // A number out of serde_json's range is an error where it is decoded, not where skipped.
    let huge = br#"{"event": "process_start", "user": 1e999}"#;
    d.decode_line(huge, 1, &mut out)
        .expect("skipped: grammar only");
    let mut full = Decoder::native(&schema);
    assert_eq!(
        full.decode_line(huge, 1, &mut out).map_err(|e| e.code),
        Err(ErrorCode::BadJson)
    );
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/events")
}

fn read_gz(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(std::fs::File::open(path).expect("open"))
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

/// Up to `per_file` lines of every sample of each set.
fn corpus_lines(sets: &[&str], per_file: usize) -> Vec<Vec<u8>> {
    let mut files = Vec::new();
    for set in sets {
        let Ok(dir) = std::fs::read_dir(corpus().join(set)) else {
            continue;
        };
        files.extend(
            dir.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.to_string_lossy().ends_with(".jsonl.gz")),
        );
    }
    files.sort();
    let mut lines = Vec::new();
    for f in files {
        let bytes = read_gz(&f);
        lines.extend(
            bytes
                .split(|&b| b == b'\n')
                .take(per_file)
                .map(<[u8]>::to_vec),
        );
    }
    lines
}

#[test]
fn corpus_lines_decode_the_same_on_projected_fields() {
    let lines = corpus_lines(
        &[
            "evtx-attack-samples",
            "sigma-regression",
            "otrf-security-datasets",
        ],
        400,
    );
    if lines.is_empty() {
        eprintln!("skipped: no corpus at {}", corpus().display());
        return;
    }
    let lines: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
    let schema = Schema::endpoint();
    // Field sets of several shapes: nothing but time and host; every other field; a few
    // fields Sigma rules read on process and registry events.
    let sparse = set(&schema, &[]);
    let mut alternate = sparse.clone();
    for (t, et) in schema.events.iter().enumerate() {
        for f in (0..et.fields.len()).step_by(2) {
            alternate.insert(EventTypeId(t as u16), FieldIndex(f as u16));
        }
    }
    let typical = set(
        &schema,
        &[
            ("process_start", "image"),
            ("process_start", "command_line"),
            ("process_start", "parent_image"),
            ("registry_set", "target_object"),
            ("process_access", "granted_access"),
            ("win_security", "event_id"),
            ("win_sysmon", "event_id"),
        ],
    );
    for name in ["sysmon", "windows"] {
        let mapping = Mapping::builtin(name).expect("mapping");
        for needed in [&sparse, &alternate, &typical] {
            let mut full = Decoder::with_mapping(&schema, &mapping).expect("fits");
            let mut projected = Decoder::with_mapping(&schema, &mapping).expect("fits");
            projected.project(needed);
            compare(&mut full, &mut projected, needed, &lines);
            assert!(full.stats().events > 1000, "{name}: events decoded");
        }
    }
}

#[test]
fn route_dispatch_folds_case_and_escapes() {
    let schema = Schema::endpoint();
    let mapping = Mapping::from_toml(
        "test",
        r#"
name = "t"
schema = "endpoint"
[[route]]
event = "process_start"
when = { Channel = ["Straße", "K-Channel"], EventID = 1 }
fields = { image = "Image" }
[[route]]
event = "process_end"
when = { Channel = "5" }
fields = { image = "Image" }
[[route]]
event = "file_create"
when = { Kind = "file" }
fields = { target_filename = "Image" }
[[route]]
event = "file_delete"
when = { Channel = "" }
fields = { target_filename = "Image" }
"#,
    )
    .expect("mapping");
    let mut d = Decoder::with_mapping(&schema, &mapping).expect("fits");
    let types = |d: &mut Decoder, line: &[u8]| -> Result<Vec<String>, ErrorCode> {
        let mut out = Vec::new();
        d.decode_line(line, 1, &mut out).map_err(|e| e.code)?;
        Ok(out
            .iter()
            .map(|e| schema.events[usize::from(e.ty().0)].name.clone())
            .collect())
    };
    let names = |v: &[&str]| Ok(v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
    // Folded: case, non-ASCII, the Kelvin sign folding to `k`, escapes.
    assert_eq!(
        types(&mut d, r#"{"Channel": "STRASSE", "EventID": 1}"#.as_bytes()),
        Err(ErrorCode::NoRoute),
        "simple folding does not expand `ß`"
    );
    assert_eq!(
        types(&mut d, r#"{"Channel": "STRAßE", "EventID": 1}"#.as_bytes()),
        names(&["process_start"])
    );
    assert_eq!(
        types(
            &mut d,
            "{\"Channel\": \"\u{212A}-channel\", \"EventID\": \"1\"}".as_bytes()
        ),
        names(&["process_start"])
    );
    assert_eq!(
        types(
            &mut d,
            br#"{"Channel": "k-ch\u0041nnel", "EventID": 1, "Kind": "FILE"}"#
        ),
        names(&["process_start", "file_create"])
    );
    assert_eq!(
        types(&mut d, br#"{"Channel": "K-Channel", "EventID": 2}"#),
        Err(ErrorCode::NoRoute)
    );
    // A number where a string is expected reads as its text.
    assert_eq!(types(&mut d, br#"{"Channel": 5}"#), names(&["process_end"]));
    // Absent or null reads as "".
    assert_eq!(
        types(&mut d, br#"{"Kind": "file"}"#),
        names(&["file_create", "file_delete"])
    );
    assert_eq!(
        types(&mut d, br#"{"Channel": null}"#),
        names(&["file_delete"])
    );
    assert_eq!(
        types(&mut d, br#"{"Channel": "other"}"#),
        Err(ErrorCode::NoRoute)
    );
    let mut out = Vec::new();
    let err = d
        .decode_line(br#"{"Channel": "other", "EventID": 4}"#, 9, &mut out)
        .expect_err("no route");
    assert!(
        err.to_string().contains("(Channel `other`, EventID 4)"),
        "{err}"
    );
}
