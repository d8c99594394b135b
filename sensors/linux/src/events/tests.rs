//! Records in, events out: each kind of record against the sensor's schema, what is flagged
//! and counted, and a narrower host schema.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use vigil_runtime::{ErrorCode, Event, Schema};

use super::{Builder, FMODE_CREATED};
use crate::procs::{ProcInfo, ProcessTable, Users};
use crate::record::{encode, parse, Header, NAME_BYTES};

const STR_TRUNCATED: u16 = 1;
const STR_UNREADABLE: u16 = 2;
const STR_COMPONENTS: u16 = 4;

/// A temporary passwd file naming uid 0 and 1000, one per call: tests run in parallel, and
/// one test rewriting a shared file while another read it left the reader with no names.
fn users() -> Users {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("vigil-events-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let passwd = dir.join(format!("passwd-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(
        &passwd,
        "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/bash\n",
    )
    .expect("passwd");
    Users::new(passwd)
}

fn builder(schema: Schema) -> Builder {
    let mut users = users();
    let mut procs = ProcessTable::new(64);
    procs.exec(ProcInfo {
        pid: 100,
        ppid: 1,
        start_ticks: 5,
        image: "/usr/bin/bash".into(),
        command_line: "bash -i".into(),
        command_line_truncated: false,
        uid: 1000,
        user: users.name(1000),
    });
    Builder::new(
        Arc::new(schema),
        PathBuf::from("/nonexistent-proc"),
        "host1".into(),
        0xabcd_ef01,
        100,
        procs,
        users,
    )
}

/// A walked path as the kernel writes it: leaf first, one slot per component.
fn walked(path: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for name in path.split('/').filter(|n| !n.is_empty()).rev() {
        let mut slot = vec![0u8; NAME_BYTES];
        slot[..name.len()].copy_from_slice(name.as_bytes());
        out.extend_from_slice(&slot);
    }
    out
}

fn header(pid: u32, ppid: u32) -> Header {
    Header {
        time_ns: 1_000,
        pid,
        tid: pid,
        ppid,
        uid: 1000,
        euid: 0,
        gid: 1000,
        start_ns: 70_000_000,
        cgroup_id: 42,
        ..Header::default()
    }
}

fn build(b: &mut Builder, kind: u16, h: &Header, strs: &[(&[u8], u16)]) -> Event<'static> {
    let bytes = encode(kind, h, strs);
    let rec = parse(&bytes).expect("valid record");
    b.build(&rec).expect("builds")
}

fn text(schema: &Schema, ev: &Event<'_>, field: &str) -> Option<String> {
    let ty = schema.event_by_id(ev.ty())?;
    let (ix, _) = ty.field(field)?;
    ev.is_present(ix).then(|| ev.get_str(ix).to_owned())
}

fn int(schema: &Schema, ev: &Event<'_>, field: &str) -> Option<i64> {
    let ty = schema.event_by_id(ev.ty())?;
    let (ix, _) = ty.field(field)?;
    ev.is_present(ix).then(|| ev.get_int(ix))
}

fn truncated(schema: &Schema, ev: &Event<'_>, field: &str) -> bool {
    schema
        .event_by_id(ev.ty())
        .and_then(|t| t.field(field))
        .is_some_and(|(ix, _)| ev.is_truncated(ix))
}

fn type_name(schema: &Schema, ev: &Event<'_>) -> String {
    schema
        .event_by_id(ev.ty())
        .map(|t| t.name.clone())
        .unwrap_or_default()
}

#[test]
fn an_exec_takes_its_parent_from_the_table_and_becomes_a_parent() {
    let s = Schema::linux_ebpf();
    let mut b = builder(s.clone());
    let image = walked("/usr/bin/curl");
    let cwd = walked("/home/alice");
    let ev = build(
        &mut b,
        1,
        &header(200, 100),
        &[
            (&image, STR_COMPONENTS),
            (b"curl", 0),
            (b"curl\0-fsSL\0http://x.test/a.sh\0", 0),
            (&cwd, STR_COMPONENTS),
            (
                b"docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope",
                0,
            ),
        ],
    );
    assert_eq!(type_name(&s, &ev), "process_start");
    assert_eq!(text(&s, &ev, "image").as_deref(), Some("/usr/bin/curl"));
    assert_eq!(
        text(&s, &ev, "command_line").as_deref(),
        Some("curl -fsSL http://x.test/a.sh")
    );
    assert_eq!(
        text(&s, &ev, "current_directory").as_deref(),
        Some("/home/alice")
    );
    assert_eq!(text(&s, &ev, "user").as_deref(), Some("alice"));
    assert_eq!(
        text(&s, &ev, "parent_image").as_deref(),
        Some("/usr/bin/bash")
    );
    assert_eq!(
        text(&s, &ev, "parent_command_line").as_deref(),
        Some("bash -i")
    );
    assert_eq!(text(&s, &ev, "parent_user").as_deref(), Some("alice"));
    assert_eq!(
        text(&s, &ev, "container_id").as_deref(),
        Some("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
    );
    assert_eq!(int(&s, &ev, "pid"), Some(200));
    assert_eq!(int(&s, &ev, "ppid"), Some(100));
    assert_eq!(int(&s, &ev, "euid"), Some(0));
    assert_eq!(int(&s, &ev, "cgroup_id"), Some(42));
    assert_eq!(b.flagged().parent_unknown, 0);

    // The child of curl now finds curl as its parent.
    let sh = walked("/usr/bin/dash");
    let ev = build(
        &mut b,
        1,
        &header(300, 200),
        &[
            (&sh, STR_COMPONENTS),
            (b"/bin/sh", 0),
            (b"sh", 0),
            (&cwd, STR_COMPONENTS),
            (b"", 0),
        ],
    );
    assert_eq!(
        text(&s, &ev, "parent_image").as_deref(),
        Some("/usr/bin/curl")
    );
    assert_eq!(text(&s, &ev, "container_id"), None);
}

#[test]
fn what_a_record_could_not_carry_is_flagged_and_counted() {
    let s = Schema::linux_ebpf();
    let mut b = builder(s.clone());
    // argv cut at the sensor's bound, an unreadable image (the given file name is made
    // absolute against the working directory), and a parent the table does not know.
    let cwd = walked("/srv");
    let ev = build(
        &mut b,
        1,
        &header(400, 999),
        &[
            (b"", STR_COMPONENTS | STR_UNREADABLE),
            (b"./tool", 0),
            (b"./tool\0aaaa", STR_TRUNCATED),
            (&cwd, STR_COMPONENTS),
            (b"", STR_UNREADABLE),
        ],
    );
    assert_eq!(text(&s, &ev, "image").as_deref(), Some("/srv/./tool"));
    assert!(truncated(&s, &ev, "command_line"));
    assert!(truncated(&s, &ev, "args"));
    assert_eq!(text(&s, &ev, "parent_image"), None);
    let f = b.flagged();
    assert_eq!(
        (f.argv_truncated, f.unreadable, f.parent_unknown),
        (1, 1, 1)
    );

    // A path deeper than the walk: flagged on the event.
    let deep = walked("/a/b/c");
    let ev = build(
        &mut b,
        5,
        &header(100, 1),
        &[(&deep, STR_COMPONENTS | STR_TRUNCATED)],
    );
    assert!(truncated(&s, &ev, "target_filename"));
    assert_eq!(b.flagged().path_truncated, 1);

    // A file record of a process nobody knows.
    let path = walked("/tmp/x");
    let ev = build(&mut b, 5, &header(777, 1), &[(&path, STR_COMPONENTS)]);
    assert_eq!(text(&s, &ev, "image"), None);
    assert_eq!(text(&s, &ev, "user").as_deref(), Some("alice"));
    assert_eq!(b.flagged().process_unknown, 1);
}

#[test]
fn files_network_exits_and_modules_become_their_event_types() {
    let s = Schema::linux_ebpf();
    let mut b = builder(s.clone());
    let path = walked("/etc/cron.d/job");
    let mut h = header(100, 1);
    h.a = FMODE_CREATED | 2;
    let ev = build(&mut b, 5, &h, &[(&path, STR_COMPONENTS)]);
    assert_eq!(type_name(&s, &ev), "file_create");
    assert_eq!(
        text(&s, &ev, "target_filename").as_deref(),
        Some("/etc/cron.d/job")
    );
    assert_eq!(text(&s, &ev, "image").as_deref(), Some("/usr/bin/bash"));
    h.a = 2;
    let ev = build(&mut b, 5, &h, &[(&path, STR_COMPONENTS)]);
    assert_eq!(type_name(&s, &ev), "file_modify");

    // Relative paths of unlink and rename are joined to the directory they were relative to.
    let base = walked("/home/alice");
    let ev = build(&mut b, 6, &h, &[(b"notes.txt", 0), (&base, STR_COMPONENTS)]);
    assert_eq!(type_name(&s, &ev), "file_delete");
    assert_eq!(
        text(&s, &ev, "target_filename").as_deref(),
        Some("/home/alice/notes.txt")
    );
    // Relative to the root directory: the root walks to no component.
    let ev = build(&mut b, 6, &h, &[(b"etc/x", 0), (b"", STR_COMPONENTS)]);
    assert_eq!(text(&s, &ev, "target_filename").as_deref(), Some("/etc/x"));
    let ev = build(
        &mut b,
        7,
        &h,
        &[(b"/tmp/a", 0), (b"", 0), (b"b", 0), (&base, STR_COMPONENTS)],
    );
    assert_eq!(text(&s, &ev, "source_filename").as_deref(), Some("/tmp/a"));
    assert_eq!(
        text(&s, &ev, "target_filename").as_deref(),
        Some("/home/alice/b")
    );

    // An IPv6 UDP connect and an IPv4 TCP accept.
    let mut h6 = header(100, 1);
    h6.a = 10;
    h6.b = 17;
    h6.sport = 5353;
    h6.dport = 53;
    h6.daddr = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let ev = build(&mut b, 3, &h6, &[]);
    assert_eq!(type_name(&s, &ev), "network_connect");
    assert_eq!(text(&s, &ev, "protocol").as_deref(), Some("udp"));
    let ty = s.event_by_id(ev.ty()).expect("type");
    let (dest, _) = ty.field("dest_ip").expect("dest_ip");
    assert_eq!(ev.get_ip(dest).to_string(), "2001:db8::1");
    let (init, _) = ty.field("initiated").expect("initiated");
    assert!(ev.get_bool(init));
    let mut h4 = header(100, 1);
    h4.a = 2;
    h4.b = 6;
    h4.saddr[..4].copy_from_slice(&[10, 0, 0, 5]);
    h4.daddr[..4].copy_from_slice(&[10, 0, 0, 9]);
    let ev = build(&mut b, 4, &h4, &[]);
    assert!(!ev.get_bool(init));
    assert_eq!(text(&s, &ev, "protocol").as_deref(), Some("tcp"));
    let (src, _) = ty.field("source_ip").expect("source_ip");
    assert_eq!(ev.get_ip(src).to_string(), "10.0.0.5");

    // Exit statuses: an exit code, and a signal as 128 + its number.
    let mut he = header(100, 1);
    he.a = 3 << 8;
    let ev = build(&mut b, 2, &he, &[]);
    assert_eq!(type_name(&s, &ev), "process_end");
    assert_eq!(int(&s, &ev, "exit_code"), Some(3));
    he.a = 9;
    let ev = build(&mut b, 2, &he, &[]);
    assert_eq!(int(&s, &ev, "exit_code"), Some(137));

    let ev = build(&mut b, 8, &header(100, 1), &[(b"evil_rootkit", 0)]);
    assert_eq!(type_name(&s, &ev), "driver_load");
    assert_eq!(
        text(&s, &ev, "image_loaded").as_deref(),
        Some("evil_rootkit")
    );
    assert_eq!(text(&s, &ev, "image").as_deref(), Some("/usr/bin/bash"));
}

#[test]
fn a_narrower_host_schema_gets_what_it_has_and_refuses_what_it_lacks() {
    let narrow = Schema::from_toml(
        "narrow.toml",
        r#"
name = "endpoint"
version = "1.1"
[events.process_start]
fields = [
  { name = "time", type = "int" },
  { name = "host", type = "string", max_len = 64 },
  { name = "image", type = "string", max_len = 4096 },
]
"#,
    )
    .expect("valid");
    let mut b = builder(narrow.clone());
    let image = walked("/usr/bin/id");
    let ev = build(
        &mut b,
        1,
        &header(500, 100),
        &[
            (&image, STR_COMPONENTS),
            (b"id", 0),
            (b"id", 0),
            (b"", STR_UNREADABLE),
            (b"", 0),
        ],
    );
    assert_eq!(text(&narrow, &ev, "image").as_deref(), Some("/usr/bin/id"));
    let path = walked("/tmp/x");
    let bytes = encode(5, &header(500, 100), &[(&path, STR_COMPONENTS)]);
    let rec = parse(&bytes).expect("valid");
    let (code, message) = b.build(&rec).expect_err("no file_modify in this schema");
    assert_eq!(code, ErrorCode::SensorEventRefused);
    assert!(message.contains("file_modify"), "{message}");
}
