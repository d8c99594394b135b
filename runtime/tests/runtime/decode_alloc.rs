//! Decoding a typical line into reused events allocates nothing in steady state: native lines
//! with and without escaped strings, and mapped records (Windows paths, every string escaped)
//! with and without a projection. Unescaped strings go into the events' reused text buffers.
//! Measured with a counting global allocator (counting only on the test's own thread, so the
//! harness does not disturb it).

use crate::counting_alloc::allocations_during;

use vigil_runtime::decode::{Decoder, FieldSet, Mapping};
use vigil_runtime::event::Event;
use vigil_runtime::schema::{EventTypeId, Schema};

const LINE: &[u8] = br#"{"event": "process_start", "time": 1700000000000000000, "host": "workstation-7", "pid": 4242, "ppid": 4, "image": "C:/Windows/System32/WindowsPowerShell/v1.0/powershell.exe", "command_line": "powershell -NoProfile -EncodedCommand SQBFAFgA", "args": ["powershell", "-NoProfile", "-EncodedCommand", "SQBFAFgA"], "user": "CORP/alice", "integrity_level": "High", "parent_image": "C:/Windows/explorer.exe"}"#;

#[test]
fn steady_state_decoding_allocates_nothing() {
    // The counter works: a real allocation is seen.
    assert!(allocations_during(|| drop(std::hint::black_box(Vec::<u8>::with_capacity(8)))) >= 1);
    let schema = Schema::endpoint();
    let mut decoder = Decoder::native(&schema);
    let mut spare: Vec<Event<'static>> = Vec::new();
    // Warm up: buffers grow to this line's needs.
    for n in 1..=3 {
        let mut out = spare;
        decoder.decode_line(LINE, n, &mut out).expect("good line");
        spare = decoder.recycle(out);
    }
    let allocs = allocations_during(|| {
        for n in 4..=1000 {
            let mut out = spare;
            decoder.decode_line(LINE, n, &mut out).expect("good line");
            assert_eq!(out.len(), 1);
            spare = decoder.recycle(out);
        }
        drop(spare);
    });
    assert_eq!(allocs, 0, "allocations while decoding 997 lines");
    assert_eq!(decoder.stats().events, 1000);
}

/// A native line whose strings hold escapes (Windows paths, quotes, a non-ASCII escape) and a
/// number given to a string field.
const ESCAPED: &[u8] = br#"{"event": "process_start", "time": "2024-01-02T03:04:05Z", "host": "ws\\7", "pid": 4242, "image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", "command_line": "powershell -c \"Write-Host \u00e9\"", "args": ["C:\\x", "-c", 5], "user": "CORP\\alice", "integrity_level": 3, "parent_image": "C:\\Windows\\explorer.exe"}"#;

/// Sysmon and Security records as the corpus has them: every path escaped.
const SYSMON: &[&[u8]] = &[
    br#"{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"WORKSTATION5.theshire.local","UtcTime":"2020-09-21 17:21:36.455","ProcessGuid":"{39e4a257-e110-5f68-0d02-000000000400}","ProcessId":"6984","Image":"C:\\Windows\\System32\\cmd.exe","FileVersion":"10.0.18362.449","CommandLine":"\"C:\\Windows\\system32\\cmd.exe\" /c whoami","CurrentDirectory":"C:\\Users\\pgustavo\\","User":"THESHIRE\\pgustavo","IntegrityLevel":"Medium","Hashes":"SHA1=8DCA9749CD48D286950E7A9FA1088C937CBCCAD4","ParentImage":"C:\\Windows\\explorer.exe","ParentCommandLine":"C:\\Windows\\Explorer.EXE"}"#,
    br#"{"EventID":10,"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"WORKSTATION5.theshire.local","UtcTime":"2020-09-21 17:21:36.456","SourceProcessGUID":"{39e4a257-e110-5f68-0d02-000000000400}","SourceProcessId":"6984","SourceImage":"C:\\Windows\\System32\\cmd.exe","TargetImage":"C:\\Windows\\system32\\lsass.exe","GrantedAccess":"0x1010","CallTrace":"C:\\Windows\\SYSTEM32\\ntdll.dll+9c584|C:\\Windows\\System32\\KERNELBASE.dll+2730e"}"#,
    br#"{"EventID":4688,"Channel":"Security","Computer":"DC1","TimeCreated":"2020-09-21T17:21:36.457Z","NewProcessName":"C:\\Windows\\System32\\whoami.exe","CommandLine":"whoami /all","SubjectUserName":"pgustavo","ParentProcessName":"C:\\Windows\\System32\\cmd.exe"}"#,
];

/// Decodes `lines` over and over into recycled events: after a warm-up, no allocation.
/// Returns the events of one round.
fn steady(decoder: &mut Decoder, lines: &[&[u8]]) -> usize {
    // Each event's source names the file: a shared `Arc<str>`, cloned without allocating.
    decoder.set_file(Some("events.jsonl"));
    let mut spare: Vec<Event<'static>> = Vec::new();
    let mut n = 0u64;
    let mut events_per_round = 0;
    for _ in 0..3 {
        events_per_round = 0;
        for line in lines {
            n += 1;
            let mut out = spare;
            decoder.decode_line(line, n, &mut out).expect("good line");
            events_per_round += out.len();
            spare = decoder.recycle(out);
        }
    }
    let allocs = allocations_during(|| {
        for _ in 0..300 {
            let mut produced = 0;
            for line in lines {
                n += 1;
                let mut out = spare;
                decoder.decode_line(line, n, &mut out).expect("good line");
                produced += out.len();
                spare = decoder.recycle(out);
            }
            assert_eq!(produced, events_per_round);
        }
        drop(spare);
    });
    assert_eq!(allocs, 0, "allocations while decoding 300 rounds");
    events_per_round
}

#[test]
fn escaped_strings_decode_without_allocating() {
    let schema = Schema::endpoint();
    let mut decoder = Decoder::native(&schema);
    assert_eq!(steady(&mut decoder, &[ESCAPED, LINE]), 2);
    assert_eq!(decoder.stats().bad_lines, 0);
}

#[test]
fn mapped_records_decode_without_allocating_projected_or_not() {
    let schema = Schema::endpoint();
    let mapping = Mapping::builtin("windows").expect("mapping");
    let mut full = Decoder::with_mapping(&schema, &mapping).expect("fits");
    // process_start + win_sysmon, process_access + win_sysmon, process_start + win_security
    // (and more: one record may match several routes).
    let events = steady(&mut full, SYSMON);
    assert!(events >= 6, "{events} events a round");
    let mut needed = FieldSet::new();
    for (t, et) in schema.events.iter().enumerate() {
        for name in [
            "time",
            "host",
            "image",
            "command_line",
            "target_image",
            "event_id",
        ] {
            if let Some((f, _)) = et.field(name) {
                needed.insert(EventTypeId(t as u16), f);
            }
        }
    }
    let mut projected = Decoder::with_mapping(&schema, &mapping).expect("fits");
    projected.project(&needed);
    assert_eq!(steady(&mut projected, SYSMON), events);
}
