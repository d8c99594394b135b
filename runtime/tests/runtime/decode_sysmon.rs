//! The `sysmon` mapping over REAL corpus lines (`shared/corpus/events`, read-only): every line
//! decodes or is counted with a reason, and each mapped event carries the values of its source
//! record (checked against an independent parse of the same line with serde_json).
//!
//! Size knob: `VIGIL_TEST_SCALE` (default 1) multiplies how many OTRF samples are read.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use serde_json::Value as Json;
use vigil_runtime::decode::{Decoder, ErrorCode, Mapping};
use vigil_runtime::event::Event;
use vigil_runtime::schema::{FieldIndex, Schema};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/events")
}

fn scale() -> usize {
    std::env::var("VIGIL_TEST_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// The `.jsonl.gz` files of a set, sorted by name.
fn samples(set: &str) -> Vec<PathBuf> {
    let dir = corpus().join(set);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".jsonl.gz"))
        .collect();
    v.sort();
    v
}

fn read_gz(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(std::fs::File::open(path).expect("open"))
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

fn ix(schema: &Schema, event: &str, field: &str) -> FieldIndex {
    schema
        .event(event)
        .expect("type")
        .1
        .field(field)
        .unwrap_or_else(|| panic!("{event}.{field}"))
        .0
}

fn json_str(j: &Json, key: &str) -> Option<String> {
    match j.get(key)? {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// What an event must hold, given its source record.
fn check(schema: &Schema, ev: &Event<'_>, rec: &Json, where_: &str) {
    let ty = schema.event_by_id(ev.ty()).expect("type").name.as_str();
    // host and time on every event.
    assert_eq!(
        Some(ev.host().to_owned()),
        json_str(rec, "Computer"),
        "{where_}"
    );
    assert!(
        ev.time() > 1_000_000_000_000_000_000,
        "{where_}: time {}",
        ev.time()
    );
    let s = |field: &str| ev.get_str(ix(schema, ty, field)).to_owned();
    let cut = |v: String, field: &str| {
        let max = schema
            .event(ty)
            .expect("type")
            .1
            .field(field)
            .expect("field")
            .1
            .max_len as usize;
        let mut end = v.len().min(max);
        while !v.is_char_boundary(end) {
            end -= 1;
        }
        v[..end].to_owned()
    };
    let same = |field: &str, key: &str| {
        let want = json_str(rec, key)
            .filter(|v| v != "-")
            .map(|v| cut(v, field))
            .unwrap_or_default();
        assert_eq!(s(field), want, "{where_}: {ty}.{field} from {key}");
    };
    match ty {
        "process_start" if rec.get("NewProcessName").is_some() => {
            same("image", "NewProcessName");
            same("command_line", "CommandLine");
            if let Some(pid) = json_str(rec, "NewProcessId") {
                let want = i64::from_str_radix(pid.trim_start_matches("0x"), 16).expect("hex pid");
                assert_eq!(ev.get_int(ix(schema, ty, "pid")), want, "{where_}");
            }
        }
        "process_start" => {
            same("image", "Image");
            same("command_line", "CommandLine");
            same("parent_image", "ParentImage");
            same("user", "User");
            if let Some(pid) = json_str(rec, "ProcessId") {
                assert_eq!(
                    ev.get_int(ix(schema, ty, "pid")).to_string(),
                    pid,
                    "{where_}"
                );
            }
        }
        "file_access" => same("target_filename", "ObjectName"),
        "network_connect" => {
            same("image", "Image");
            if let Some(ip) = json_str(rec, "DestinationIp") {
                let got = ev.get_ip(ix(schema, ty, "dest_ip"));
                assert_eq!(
                    got,
                    ip.parse::<std::net::IpAddr>()
                        .map(vigil_runtime::value::canonical_ip)
                        .expect("ip"),
                    "{where_}"
                );
            }
            if let Some(p) = json_str(rec, "DestinationPort") {
                assert_eq!(
                    ev.get_int(ix(schema, ty, "dest_port")).to_string(),
                    p,
                    "{where_}"
                );
            }
            if let Some(i) = json_str(rec, "Initiated") {
                assert_eq!(
                    ev.get_bool(ix(schema, ty, "initiated")).to_string(),
                    i.to_lowercase(),
                    "{where_}"
                );
            }
        }
        "image_load" => {
            same("image_loaded", "ImageLoaded");
            same("signature", "Signature");
        }
        "registry_create" | "registry_delete" | "registry_set" | "registry_rename" => {
            same("target_object", "TargetObject");
        }
        "file_create" | "file_delete" => same("target_filename", "TargetFilename"),
        "process_access" => {
            same("source_image", "SourceImage");
            same("target_image", "TargetImage");
            same("granted_access", "GrantedAccess");
        }
        "create_remote_thread" => same("target_image", "TargetImage"),
        "dns_query" => same("query_name", "QueryName"),
        "pipe_created" | "pipe_connected" => same("pipe_name", "PipeName"),
        "logon_success" | "logon_failure" => {
            same("target_user", "TargetUserName");
            if let Some(t) = json_str(rec, "LogonType") {
                assert_eq!(
                    ev.get_int(ix(schema, ty, "logon_type")).to_string(),
                    t,
                    "{where_}"
                );
            }
        }
        _ => {}
    }
}

/// Expected event type of a record, from Channel and EventID, by the mapping's own table.
fn expected_type(rec: &Json) -> Option<&'static str> {
    let channel = json_str(rec, "Channel")?.to_lowercase();
    let id: i64 = json_str(rec, "EventID")?.parse().ok()?;
    if channel == "security" {
        return match id {
            4624 => Some("logon_success"),
            4625 => Some("logon_failure"),
            4688 => Some("process_start"),
            4663 if json_str(rec, "ObjectType").is_some_and(|t| t.eq_ignore_ascii_case("file")) => {
                Some("file_access")
            }
            _ => None,
        };
    }
    if channel != "microsoft-windows-sysmon/operational" {
        return None;
    }
    Some(match id {
        1 => "process_start",
        2 => "file_modify",
        3 => "network_connect",
        5 => "process_end",
        6 => "driver_load",
        7 => "image_load",
        8 => "create_remote_thread",
        9 => "raw_access_read",
        10 => "process_access",
        11 => "file_create",
        12 => match json_str(rec, "EventType").as_deref() {
            Some("DeleteKey" | "DeleteValue") => "registry_delete",
            _ => "registry_create",
        },
        13 => "registry_set",
        14 => "registry_rename",
        15 => "file_stream_hash",
        17 => "pipe_created",
        18 => "pipe_connected",
        19..=21 => "wmi_event",
        22 => "dns_query",
        23 | 26 => "file_delete",
        25 => "process_tampering",
        _ => return None,
    })
}

fn run_set(set: &str, limit: usize) -> (usize, std::collections::BTreeMap<String, usize>) {
    let schema = Schema::endpoint();
    let mapping = Mapping::builtin("sysmon").expect("embedded mapping");
    let mut decoder = Decoder::with_mapping(&schema, &mapping).expect("mapping fits the schema");
    let mut by_type = std::collections::BTreeMap::new();
    let mut lines = 0;
    for path in samples(set).into_iter().take(limit) {
        let data = read_gz(&path);
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        for (i, line) in data.split(|&b| b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            lines += 1;
            let rec: Json = serde_json::from_slice(line).expect("corpus lines are JSON");
            let mut out = Vec::new();
            let result = decoder.decode_line(line, i as u64 + 1, &mut out);
            let where_ = format!("{name}:{}", i + 1);
            match expected_type(&rec) {
                Some(want) => {
                    assert!(result.is_ok(), "{where_}: {result:?}");
                    assert_eq!(out.len(), 1, "{where_}");
                    let got = &schema.event_by_id(out[0].ty()).expect("type").name;
                    assert_eq!(got, want, "{where_}");
                    check(&schema, &out[0], &rec, &where_);
                    *by_type.entry(want.to_owned()).or_insert(0) += 1;
                }
                None => {
                    let err = result.expect_err("unmapped records are counted as no route");
                    assert_eq!(err.code, ErrorCode::NoRoute, "{where_}");
                    assert_eq!(err.line, i as u64 + 1);
                }
            }
        }
    }
    let s = decoder.stats();
    assert_eq!(s.bad_by_code.get(&ErrorCode::BadJson), None);
    (lines, by_type)
}

#[test]
fn evtx_attack_samples_map_onto_the_endpoint_schema() {
    let (lines, by_type) = run_set("evtx-attack-samples", usize::MAX);
    assert!(lines > 7000, "{lines}");
    for t in [
        "process_start",
        "network_connect",
        "image_load",
        "create_remote_thread",
        "process_access",
        "file_create",
        "registry_create",
        "registry_set",
        "pipe_created",
        "logon_success",
        "dns_query",
        "process_end",
        "file_access",
    ] {
        assert!(
            by_type.get(t).copied().unwrap_or(0) > 0,
            "no {t} in {by_type:?}"
        );
    }
}

#[test]
fn sigma_regression_samples_map() {
    let (_, by_type) = run_set("sigma-regression", usize::MAX);
    assert!(
        by_type.get("process_start").copied().unwrap_or(0) >= 100,
        "{by_type:?}"
    );
}

#[test]
fn otrf_samples_with_string_typed_values_map() {
    // String-typed values ("ProcessId": "292"), lower-case `security`, missing EventType.
    let (lines, by_type) = run_set("otrf-security-datasets", 3 * scale());
    assert!(lines > 0);
    assert!(!by_type.is_empty(), "{by_type:?}");
}

#[test]
fn one_record_can_yield_several_events() {
    let schema = Schema::endpoint();
    let text = r#"
        name = "multi"
        schema = "endpoint"
        [defaults]
        host = "Computer"
        [[route]]
        event = "process_start"
        when = { Channel = "x", EventID = 1 }
        fields = { image = "Image" }
        [[route]]
        event = "process_end"
        when = { EventID = [1, 5] }
        fields = { image = "Image", pid = ["Pid", "ProcessId"] }
    "#;
    let mapping = Mapping::from_toml("multi.toml", text).expect("mapping");
    let mut d = Decoder::with_mapping(&schema, &mapping).expect("fits");
    let mut out = Vec::new();
    d.decode_line(br#"{"Channel": "X", "EventID": "1", "Image": "a.exe", "ProcessId": "0x10", "Computer": "h"}"#, 1, &mut out)
        .expect("routes");
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].get_int(ix(&schema, "process_end", "pid")), 16);
    assert_eq!(out[0].host(), "h");
    out.clear();
    d.decode_line(br#"{"Channel": "y", "EventID": 5}"#, 2, &mut out)
        .expect("one route");
    assert_eq!(out.len(), 1);
    let err = d
        .decode_line(br#"{"EventID": 4}"#, 3, &mut out)
        .expect_err("no route");
    assert_eq!((err.code, err.line), (ErrorCode::NoRoute, 3));
}

#[test]
fn mappings_that_do_not_fit_the_schema_are_refused() {
    let schema = Schema::endpoint();
    let bad_field = "name = \"m\"\nschema = \"endpoint\"\n[[route]]\nevent = \"process_start\"\nfields = { imagee = \"Image\" }\n";
    let m = Mapping::from_toml("m.toml", bad_field).expect("syntax is fine");
    assert_eq!(
        Decoder::with_mapping(&schema, &m)
            .expect_err("no such field")
            .code,
        ErrorCode::MappingSchema
    );
    let bad_type = "name = \"m\"\nschema = \"endpoint\"\n[[route]]\nevent = \"nope\"\n";
    let m = Mapping::from_toml("m.toml", bad_type).expect("syntax is fine");
    assert_eq!(
        Decoder::with_mapping(&schema, &m)
            .expect_err("no such type")
            .code,
        ErrorCode::MappingSchema
    );
    let err = Mapping::from_toml(
        "m.toml",
        "name = \"m\"\nschema = \"endpoint\"\n[[route]]\nevnt = \"x\"\n",
    )
    .expect_err("syntax");
    assert_eq!(err.code, ErrorCode::MappingSyntax);
    assert_eq!(err.line, 4);
    assert!(Mapping::builtin("nope").is_err());
}

#[test]
fn corpus_events_run_through_the_engine() {
    use vigil_runtime::engine::{Engine, EngineOptions};
    use vigil_runtime::ir::{ExprKind, StrTest};
    use vigil_runtime::types::Ty;
    use vigil_test_support::builder::{field, str_const, Prog};

    // image iendswith "\\powershell.exe" on process_start: the alerts must be exactly the
    // records (Sysmon 1 or Security 4688) whose image ends so, by an independent check.
    let mut p = Prog::new();
    p.rule("ps", &["process_start"], |p, rb| {
        let image = field(p, rb, "process_start", "image");
        let pat = str_const(p, rb, "\\powershell.exe");
        Some(rb.e(
            Ty::BOOL,
            ExprKind::StrTest {
                op: StrTest::EndsWith,
                fold: true,
                lhs: image,
                rhs: pat,
            },
        ))
    });
    let engine = Engine::new(&p.verify(), EngineOptions::default()).expect("engine");
    let schema = Schema::endpoint();
    let mapping = Mapping::builtin("sysmon").expect("mapping");
    let mut decoder = Decoder::with_mapping(&schema, &mapping).expect("fits");
    let (mut alerts, mut expected) = (0usize, 0usize);
    for path in samples("evtx-attack-samples") {
        let data = read_gz(&path);
        for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let rec: Json = serde_json::from_slice(line).expect("json");
            if expected_type(&rec) == Some("process_start") {
                let image = json_str(&rec, "Image")
                    .or_else(|| json_str(&rec, "NewProcessName"))
                    .unwrap_or_default();
                if image.to_lowercase().ends_with("\\powershell.exe") {
                    expected += 1;
                }
            }
            let mut out = Vec::new();
            let _ = decoder.decode_line(line, 1, &mut out);
            for ev in &out {
                alerts += engine
                    .process(ev, &mut |a| assert_eq!(a.rule, "ps"))
                    .expect("process");
            }
        }
    }
    assert!(expected > 10, "{expected}");
    assert_eq!(alerts, expected);
    assert_eq!(
        engine.stats().internal_errors + engine.stats().eval_errors,
        0
    );
}
