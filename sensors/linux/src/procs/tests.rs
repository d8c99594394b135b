//! Tests of the enrichment tables: fake `/proc` folders and passwd files in temp dirs, plus one
//! seed from the real `/proc`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::proc_fs::{parse_stat, parse_status_uid, read_bounded, Stat};
use super::*;

/// A temp dir removed on drop (no temp-file crate in this workspace's dependencies).
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("vigil-procs-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One process of a fake `/proc`.
struct FakeProc<'a> {
    pid: u32,
    comm: &'a str,
    ppid: u32,
    start_ticks: u64,
    uid: u32,
    argv: &'a [u8],
    exe: Option<&'a str>,
}

impl FakeProc<'_> {
    fn new(pid: u32) -> FakeProc<'static> {
        FakeProc {
            pid,
            comm: "proc",
            ppid: 1,
            start_ticks: 1000 + u64::from(pid),
            uid: 0,
            argv: b"/bin/proc\0",
            exe: Some("/bin/proc"),
        }
    }

    /// `PID/stat` as the kernel writes it: 52 fields, the comm in parentheses.
    fn stat(&self) -> String {
        let mut fields = vec![
            format!("{}", self.pid),
            format!("({})", self.comm),
            "S".to_owned(),
            format!("{}", self.ppid),
        ];
        // Fields 5..=21: pgrp, session, tty, tpgid, flags, faults, times, priority, nice,
        // num_threads, itrealvalue.
        fields.extend((5..=21).map(|i| format!("{i}")));
        fields.push(format!("{}", self.start_ticks));
        fields.extend((23..=52).map(|i| format!("{i}")));
        fields.join(" ") + "\n"
    }

    fn write(&self, root: &Path) {
        let dir = root.join(self.pid.to_string());
        std::fs::create_dir_all(&dir).expect("create pid dir");
        std::fs::write(dir.join("stat"), self.stat()).expect("write stat");
        let status = format!(
            "Name:\t{}\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t{pid}\nPid:\t{pid}\n\
             PPid:\t{}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\nGid:\t0\t0\t0\t0\n",
            self.comm,
            self.ppid,
            pid = self.pid,
            uid = self.uid,
        );
        std::fs::write(dir.join("status"), status).expect("write status");
        std::fs::write(dir.join("cmdline"), self.argv).expect("write cmdline");
        if let Some(exe) = self.exe {
            std::os::unix::fs::symlink(exe, dir.join("exe")).expect("symlink exe");
        }
    }
}

fn passwd(dir: &TempDir, text: &str) -> Users {
    Users::for_test(
        dir.write("passwd", text.as_bytes()),
        Duration::ZERO,
        MAX_PASSWD_BYTES,
        MAX_PASSWD_ENTRIES,
    )
}

fn info(pid: u32) -> ProcInfo {
    ProcInfo {
        pid,
        ppid: 1,
        start_ticks: u64::from(pid) * 10,
        image: format!("/bin/p{pid}"),
        command_line: format!("p{pid} --run"),
        command_line_truncated: false,
        uid: 1000,
        user: Arc::from("alice"),
    }
}

fn pids(table: &ProcessTable, candidates: std::ops::RangeInclusive<u32>) -> Vec<u32> {
    candidates.filter(|&pid| table.contains(pid)).collect()
}

// ---------------------------------------------------------------- split_argv

#[test]
fn split_argv_cases() {
    let cases: &[(&[u8], &str, &[&str])] = &[
        (b"", "", &[]),
        (b"\0", "", &[""]),
        (b"ls\0", "ls", &["ls"]),
        (b"ls", "ls", &["ls"]),
        (b"ls\0-l\0/tmp\0", "ls -l /tmp", &["ls", "-l", "/tmp"]),
        (b"ls\0-l\0/tm", "ls -l /tm", &["ls", "-l", "/tm"]),
        (b"a\0\0b\0", "a  b", &["a", "", "b"]),
        (b"a\0\0", "a ", &["a", ""]),
        (b"\0\0", " ", &["", ""]),
        (
            b"sh\0-c\0echo hi\0",
            "sh -c echo hi",
            &["sh", "-c", "echo hi"],
        ),
        // Non-UTF-8 is replaced, per argument.
        (b"\xff\0x\0", "\u{fffd} x", &["\u{fffd}", "x"]),
        // A multi-byte character cut by the bound: one replacement character.
        (b"caf\xc3", "caf\u{fffd}", &["caf\u{fffd}"]),
        (b"\xc3\xa9t\xc3\xa9\0", "\u{e9}t\u{e9}", &["\u{e9}t\u{e9}"]),
    ];
    for &(raw, line, args) in cases {
        let (got_line, got_args) = split_argv(raw);
        assert_eq!(got_line, line, "command line of {raw:?}");
        assert_eq!(got_args, args, "args of {raw:?}");
    }
}

// ---------------------------------------------------------------- container_id

#[test]
fn container_id_forms() {
    let id = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899";
    let upper = id.to_uppercase();
    let short = &id[..63];
    let long = format!("{id}0");
    let found = [
        format!("docker-{id}.scope"),
        format!("cri-containerd-{id}.scope"),
        format!("crio-{id}.scope"),
        format!("libpod-{id}.scope"),
        id.to_owned(),
        format!("/system.slice/docker-{id}.scope"),
        format!("/kubepods/besteffort/pod1/{id}"),
    ];
    for leaf in &found {
        assert_eq!(container_id(leaf), Some(id), "{leaf}");
    }
    let absent = [
        String::new(),
        "/".to_owned(),
        "session-3.scope".to_owned(),
        "user@1000.service".to_owned(),
        "init.scope".to_owned(),
        "docker.service".to_owned(),
        format!("crio-conmon-{id}.scope"),
        format!("docker-{id}"),
        format!("{id}.scope"),
        format!("docker-{short}.scope"),
        format!("docker-{long}.scope"),
        format!("docker-{upper}.scope"),
        short.to_owned(),
        long,
        format!("other-{id}.scope"),
        format!("docker-{}g.scope", &id[..63]),
        format!("docker-{id}.scope/"),
    ];
    for leaf in &absent {
        assert_eq!(container_id(leaf), None, "{leaf}");
    }
}

// ---------------------------------------------------------------- process_guid

/// The inverse of the documented layout, written from the doc, not from the code.
fn guid_parts(guid: &str) -> Option<(u32, u32, u64)> {
    let inner = guid.strip_prefix('{')?.strip_suffix('}')?;
    let groups: Vec<&str> = inner.split('-').collect();
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    if lens != [8, 4, 4, 4, 12] {
        return None;
    }
    if !inner
        .bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f' | b'-'))
    {
        return None;
    }
    let boot = u32::from_str_radix(groups[0], 16).ok()?;
    let ticks_hex = format!("{}{}{}{}", groups[1], groups[2], groups[3], &groups[4][..4]);
    let ticks = u64::from_str_radix(&ticks_hex, 16).ok()?;
    let pid = u32::from_str_radix(&groups[4][4..], 16).ok()?;
    Some((boot, pid, ticks))
}

#[test]
fn process_guid_layout() {
    let cases: &[(u32, u32, u64, &str)] = &[
        (0, 0, 0, "{00000000-0000-0000-0000-000000000000}"),
        (
            0x6f1c_0a52,
            1,
            0x1234,
            "{6f1c0a52-0000-0000-0000-123400000001}",
        ),
        (
            0xdead_beef,
            0x0040_0000,
            0x0102_0304_0506_0708,
            "{deadbeef-0102-0304-0506-070800400000}",
        ),
        (
            u32::MAX,
            u32::MAX,
            u64::MAX,
            "{ffffffff-ffff-ffff-ffff-ffffffffffff}",
        ),
    ];
    for &(boot, pid, ticks, want) in cases {
        let guid = process_guid(boot, pid, ticks);
        assert_eq!(guid, want);
        assert_eq!(guid.len(), 38, "the schema's process_guid bound");
        assert_eq!(guid_parts(&guid), Some((boot, pid, ticks)));
    }
}

#[test]
fn process_guid_is_unique_per_boot_pid_and_start() {
    let mut seen = std::collections::HashSet::new();
    let boots = [0, 1, 0x8000_0000, u32::MAX];
    let pids = [0, 1, 2, 4_194_304, u32::MAX];
    let ticks = [0, 1, 0xffff, 0x1_0000, 1 << 32, 1 << 48, u64::MAX];
    for &boot in &boots {
        for &pid in &pids {
            for &tick in &ticks {
                let guid = process_guid(boot, pid, tick);
                assert_eq!(guid_parts(&guid), Some((boot, pid, tick)));
                assert!(seen.insert(guid), "{boot} {pid} {tick}");
            }
        }
    }
    assert_eq!(seen.len(), boots.len() * pids.len() * ticks.len());
}

#[test]
fn boot_id_prefix_reads_the_first_32_bits() {
    let dir = TempDir::new("boot");
    let cases: &[(&[u8], u32)] = &[
        (b"6f1c0a52-3b1e-4c53-9a7e-0d9c2f4b1a2e\n", 0x6f1c_0a52),
        (b"FFFFFFFF-0000-0000-0000-000000000000", 0xffff_ffff),
        (b"00000001-", 1),
        (b"6f1c0a5", 0),
        (b"", 0),
        (b"+f1c0a52-3b1e", 0),
        (b"zzzzzzzz-3b1e", 0),
        (b"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8", 0),
    ];
    for (i, &(text, want)) in cases.iter().enumerate() {
        let path = dir.write(&format!("boot_id{i}"), text);
        assert_eq!(boot_id_prefix(&path), want, "{text:?}");
    }
    assert_eq!(boot_id_prefix(&dir.path().join("missing")), 0);
    let real = boot_id_prefix(Path::new("/proc/sys/kernel/random/boot_id"));
    let text = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    if let Some(head) = text.get(..8) {
        assert_eq!(format!("{real:08x}"), head.to_ascii_lowercase());
    }
}

#[test]
fn ticks_from_boot_ns_match_the_kernel() {
    // nsec_to_clock_t with USER_HZ = 100: 10 ms per tick, rounded down.
    assert_eq!(boot_ns_to_ticks(0, 100), 0);
    assert_eq!(boot_ns_to_ticks(9_999_999, 100), 0);
    assert_eq!(boot_ns_to_ticks(10_000_000, 100), 1);
    assert_eq!(boot_ns_to_ticks(123_456_789_012, 100), 12_345);
    assert_eq!(boot_ns_to_ticks(123_456_789_012, 1000), 123_456);
    assert_eq!(boot_ns_to_ticks(123_456_789_012, 0), 12_345);
    assert_eq!(boot_ns_to_ticks(u64::MAX, 100), u64::MAX / 10_000_000);
    let hz = clk_tck();
    assert!((1..=1_000_000_000).contains(&hz), "{hz}");
}

// ---------------------------------------------------------------- /proc parsing

#[test]
fn stat_parses_after_the_last_parenthesis() {
    let fields_after = |rest: &str| {
        // state, ppid, 17 more, then starttime = field 22.
        let middle: Vec<String> = (5..=21).map(|i| i.to_string()).collect();
        format!("S 77 {} 424242 23 24\n", middle.join(" ") + rest)
    };
    let cases: Vec<(String, Option<Stat>)> = vec![
        (
            format!("12 (bash) {}", fields_after("")),
            Some(Stat {
                pid: 12,
                ppid: 77,
                start_ticks: 424_242,
            }),
        ),
        (
            format!("12 ((a) b)) {}", fields_after("")),
            Some(Stat {
                pid: 12,
                ppid: 77,
                start_ticks: 424_242,
            }),
        ),
        (
            format!("12 (a) b) {}", fields_after("")),
            Some(Stat {
                pid: 12,
                ppid: 77,
                start_ticks: 424_242,
            }),
        ),
        (
            format!("12 () ) 1 2 3 () {}", fields_after("")),
            Some(Stat {
                pid: 12,
                ppid: 77,
                start_ticks: 424_242,
            }),
        ),
        (format!("12 bash {}", fields_after("")), None),
        (format!("12 )bash( {}", fields_after("")), None),
        (format!("x (bash) {}", fields_after("")), None),
        ("12 (bash) S 77 5 6".to_owned(), None),
        ("12 (bash) S notanumber 5".to_owned(), None),
        (String::new(), None),
        ("12 (bash".to_owned(), None),
    ];
    for (text, want) in cases {
        assert_eq!(parse_stat(text.as_bytes()), want, "{text:?}");
    }
    // The comm is never decoded: any bytes but NUL.
    let mut raw = b"12 (\xff\xfe) x) ".to_vec();
    raw.extend_from_slice(fields_after("").as_bytes());
    assert_eq!(
        parse_stat(&raw),
        Some(Stat {
            pid: 12,
            ppid: 77,
            start_ticks: 424_242,
        })
    );
}

#[test]
fn status_uid_is_the_real_uid_of_a_whole_line() {
    let cases: &[(&[u8], bool, Option<u32>)] = &[
        (b"Name:\tx\nUid:\t1000\t0\t0\t0\n", false, Some(1000)),
        (b"Name:\tx\nUid:\t1000\t0\t0\t0", false, Some(1000)),
        (b"Uid:\t1000\t0\t0\t0\nGid:\t5\n", true, Some(1000)),
        // Cut inside the Uid line: `10` is not the uid.
        (b"Name:\tx\nUid:\t10", true, None),
        (b"Name:\tx\n", false, None),
        (b"Uid:\tx\t0\n", false, None),
        (b"", false, None),
        (b"Uid:", true, None),
    ];
    for &(raw, cut, want) in cases {
        assert_eq!(parse_status_uid(raw, cut), want, "{raw:?}");
    }
}

#[test]
fn bounded_read_flags_the_cut() {
    let dir = TempDir::new("bounded");
    let path = dir.write("f", &[b'x'; 100]);
    for (cap, len, cut) in [
        (0, 0, true),
        (99, 99, true),
        (100, 100, false),
        (101, 100, false),
    ] {
        let (bytes, was_cut) = read_bounded(&path, cap).expect("read");
        assert_eq!((bytes.len(), was_cut), (len, cut), "cap {cap}");
    }
    assert!(read_bounded(&dir.path().join("missing"), 10).is_err());
}

// ---------------------------------------------------------------- seeding

#[test]
fn seeds_from_a_fake_proc() {
    let root = TempDir::new("proc");
    let etc = TempDir::new("etc");
    let mut users = passwd(
        &etc,
        "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/a:/bin/sh\n",
    );
    FakeProc {
        comm: "systemd",
        argv: b"/sbin/init\0splash\0",
        exe: Some("/usr/lib/systemd/systemd"),
        ppid: 0,
        ..FakeProc::new(1)
    }
    .write(root.path());
    FakeProc {
        comm: "(a) b)",
        ppid: 1,
        uid: 1000,
        start_ticks: 5555,
        argv: b"./weird\0(a)\0b)\0",
        exe: Some("/home/a/weird (deleted)"),
        ..FakeProc::new(42)
    }
    .write(root.path());
    // A kernel thread: no exe link, empty cmdline.
    FakeProc {
        comm: "kthreadd",
        ppid: 0,
        argv: b"",
        exe: None,
        ..FakeProc::new(2)
    }
    .write(root.path());
    // A user nobody lists: the uid as a number.
    FakeProc {
        uid: 4242,
        ..FakeProc::new(7)
    }
    .write(root.path());
    // A huge cmdline (a hostile process can have megabytes): cut at ARGV_BYTES.
    let mut huge = b"/bin/huge\0".to_vec();
    huge.extend(std::iter::repeat_n(b'A', 2 << 20));
    FakeProc {
        argv: &huge,
        ..FakeProc::new(900)
    }
    .write(root.path());
    // Vanished: the directory is listed but its files are gone.
    std::fs::create_dir_all(root.path().join("31337")).expect("mkdir");
    // Malformed: stat of another pid, stat without fields, status without a Uid line.
    FakeProc::new(600).write(root.path());
    std::fs::write(root.path().join("600/stat"), FakeProc::new(601).stat()).expect("write");
    FakeProc::new(601).write(root.path());
    std::fs::write(root.path().join("601/stat"), "601 (x) S\n").expect("write");
    FakeProc::new(602).write(root.path());
    std::fs::write(root.path().join("602/status"), "Name:\tx\n").expect("write");
    // Not processes: skipped, not counted.
    for name in ["self", "sys", "1x", "net"] {
        std::fs::create_dir_all(root.path().join(name)).expect("mkdir");
    }
    root.write("uptime", b"1.00 1.00\n");

    let mut table = ProcessTable::new(64);
    let report = table.seed_from_proc(root.path(), &mut users);
    assert_eq!(
        report,
        SeedReport {
            read: 5,
            known: 0,
            failed: 4
        }
    );
    assert_eq!(table.len(), 5);
    assert_eq!(table.stats().seeded, 5);

    let init = table.get(1).expect("pid 1");
    assert_eq!(
        (init.ppid, init.image.as_str(), init.command_line.as_str()),
        (0, "/usr/lib/systemd/systemd", "/sbin/init splash")
    );
    assert_eq!(&*init.user, "root");

    let weird = table.get(42).expect("pid 42");
    assert_eq!(
        *weird,
        ProcInfo {
            pid: 42,
            ppid: 1,
            start_ticks: 5555,
            image: "/home/a/weird (deleted)".to_owned(),
            command_line: "./weird (a) b)".to_owned(),
            command_line_truncated: false,
            uid: 1000,
            user: Arc::from("alice"),
        }
    );

    let kthread = table.get(2).expect("pid 2");
    assert_eq!(
        (kthread.image.as_str(), kthread.command_line.as_str()),
        ("", "")
    );

    assert_eq!(&*table.get(7).expect("pid 7").user, "4242");

    let big = table.get(900).expect("pid 900");
    assert!(big.command_line_truncated);
    assert_eq!(big.command_line.len(), ARGV_BYTES);
    assert!(big.command_line.starts_with("/bin/huge AAAA"));

    for pid in [31337, 600, 601, 602] {
        assert!(table.get(pid).is_none(), "{pid}");
    }

    // Seeding again leaves known processes alone (an exec record may be newer).
    table.exec(ProcInfo {
        command_line: "newer".to_owned(),
        ..info(42)
    });
    let again = table.seed_from_proc(root.path(), &mut users);
    assert_eq!(
        again,
        SeedReport {
            read: 5,
            known: 5,
            failed: 4
        }
    );
    assert_eq!(table.get(42).expect("pid 42").command_line, "newer");

    // A missing root reads nothing, and fails nothing.
    let none = table.seed_from_proc(&root.path().join("absent"), &mut users);
    assert_eq!(none, SeedReport::default());
}

#[test]
fn fill_from_proc_reads_one_unknown_pid() {
    let root = TempDir::new("fill");
    let etc = TempDir::new("fill-etc");
    let mut users = passwd(&etc, "root:x:0:0::/root:/bin/sh\n");
    FakeProc {
        argv: b"worker\0",
        ..FakeProc::new(55)
    }
    .write(root.path());
    let mut table = ProcessTable::new(4);
    assert!(table.get(55).is_none());
    let filled = table.fill_from_proc(root.path(), 55, &mut users).cloned();
    assert_eq!(filled.map(|p| p.command_line), Some("worker".to_owned()));
    assert_eq!(table.get(55).map(|p| p.pid), Some(55));
    assert!(table.fill_from_proc(root.path(), 56, &mut users).is_none());
    // A known pid is not re-read.
    table.exec(ProcInfo {
        command_line: "from exec".to_owned(),
        ..info(55)
    });
    let known = table.fill_from_proc(root.path(), 55, &mut users);
    assert_eq!(known.map(|p| p.command_line.as_str()), Some("from exec"));
    let stats = table.stats();
    assert_eq!((stats.seeded, stats.inserted, stats.misses), (1, 1, 1));
}

#[test]
fn seeds_from_the_real_proc_and_finds_itself() {
    let mut users = Users::new(PathBuf::from("/etc/passwd"));
    let mut table = ProcessTable::new(1 << 16);
    let report = table.seed_from_proc(Path::new("/proc"), &mut users);
    assert!(report.read >= 1, "{report:?}");
    let me = std::process::id();
    let mine = table.get(me).expect("the test process is in /proc").clone();
    let exe = std::fs::read_link("/proc/self/exe").expect("read /proc/self/exe");
    assert_eq!(mine.image, exe.to_string_lossy());
    assert_eq!(mine.ppid, std::os::unix::process::parent_id());
    let argv0 = std::env::args().next().expect("argv[0]");
    assert!(mine.command_line.starts_with(&argv0), "{mine:?}");
    // Start ticks are in clock ticks since boot: not after now.
    let uptime = std::fs::read_to_string("/proc/uptime").expect("read /proc/uptime");
    let uptime_s: f64 = uptime
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .expect("uptime seconds");
    let started_s = mine.start_ticks as f64 / clk_tck() as f64;
    assert!(started_s <= uptime_s + 1.0, "{started_s} > {uptime_s}");
    // The parent is there too, and started no later than us.
    if let Some(parent) = table.get(mine.ppid) {
        assert!(parent.start_ticks <= mine.start_ticks);
    }
    assert_eq!(mine.user, users.name(mine.uid));
}

// ---------------------------------------------------------------- table

#[test]
fn full_table_evicts_exited_first_then_oldest_inserted() {
    let mut table = ProcessTable::new(4);
    for pid in 1..=4 {
        table.exec(info(pid));
    }
    assert_eq!(table.len(), 4);
    // 3 exits, then 1 exits: the oldest exit (3) goes first, although 1 is older.
    table.exited(3, 100);
    table.exited(1, 200);
    table.exec(info(5));
    assert_eq!(pids(&table, 1..=9), [1, 2, 4, 5]);
    table.exec(info(6));
    assert_eq!(pids(&table, 1..=9), [2, 4, 5, 6]);
    // No exited entry left: the oldest-inserted live one goes (2, then 4).
    table.exec(info(7));
    assert_eq!(pids(&table, 1..=9), [4, 5, 6, 7]);
    // Replacing pid 4 (a new exec) makes it the newest: 5 goes next.
    table.exec(info(4));
    table.exec(info(8));
    assert_eq!(pids(&table, 1..=9), [4, 6, 7, 8]);
    let stats = table.stats();
    assert_eq!(
        (
            stats.inserted,
            stats.evicted_exited_early,
            stats.evicted_full,
            stats.evicted_exited
        ),
        (9, 2, 2, 0)
    );
    assert_eq!(table.len(), 4);
}

#[test]
fn exited_processes_stay_for_the_grace_period() {
    let grace = 1_000;
    let mut table = ProcessTable::with_grace(16, grace);
    for pid in 1..=4 {
        table.exec(info(pid));
    }
    table.exited(2, 10_000);
    table.exited(1, 10_500);
    // Out-of-order record times: 3 exits "before" 1 but is reported after it.
    table.exited(3, 10_400);
    // A second exit of 2 does not restart its clock; an unknown pid is ignored.
    table.exited(2, 10_900);
    table.exited(99, 10_000);

    table.expire(10_999);
    assert_eq!(pids(&table, 1..=4), [1, 2, 3, 4]);
    assert_eq!(table.get(2).map(|p| p.pid), Some(2), "found while in grace");
    table.expire(11_000);
    assert_eq!(pids(&table, 1..=4), [1, 3, 4]);
    // 3's grace is over at 11_400 but it waits behind 1 (reported first).
    table.expire(11_450);
    assert_eq!(pids(&table, 1..=4), [1, 3, 4]);
    table.expire(11_500);
    assert_eq!(pids(&table, 1..=4), [4]);
    // A live process never expires.
    table.expire(u64::MAX);
    assert_eq!(pids(&table, 1..=4), [4]);
    assert_eq!(table.stats().evicted_exited, 3);
}

#[test]
fn exec_of_an_exited_pid_makes_it_live_again() {
    let mut table = ProcessTable::with_grace(8, 100);
    table.exec(info(10));
    table.exited(10, 1_000);
    // The pid is reused by a new process before the grace period ends.
    table.exec(ProcInfo {
        start_ticks: 777,
        ..info(10)
    });
    table.expire(10_000);
    assert_eq!(table.get(10).map(|p| p.start_ticks), Some(777));
    assert_eq!(table.stats().evicted_exited, 0);
    // And it can exit again.
    table.exited(10, 20_000);
    table.expire(20_100);
    assert!(table.get(10).is_none());
}

#[test]
fn queues_stay_bounded_under_churn() {
    let capacity = 8;
    let mut table = ProcessTable::with_grace(capacity, u64::MAX);
    for round in 0..20_000u32 {
        // Re-exec the same few pids (stale live items), and exit and reuse others.
        table.exec(info(round % 3));
        let pid = 100 + round % 50;
        table.exec(info(pid));
        table.exited(pid, u64::from(round));
        assert!(table.len() <= capacity);
        let (live, exits) = table.queue_lens();
        let bound = 2 * capacity + 64;
        assert!(
            live <= bound && exits <= bound,
            "round {round}: {live} {exits}"
        );
    }
    // Pids 0..3 were re-exec'd every round: always among the newest, never evicted.
    assert_eq!(pids(&table, 0..=2), [0, 1, 2]);
}

#[test]
fn zero_capacity_holds_one() {
    let mut table = ProcessTable::new(0);
    assert_eq!(table.capacity(), 1);
    table.exec(info(1));
    table.exec(info(2));
    assert_eq!(pids(&table, 1..=2), [2]);
    assert!(!table.is_empty());
}

#[test]
fn misses_are_counted() {
    let mut table = ProcessTable::new(4);
    table.exec(info(1));
    assert!(table.get(1).is_some());
    assert!(table.get(2).is_none());
    assert!(table.get(3).is_none());
    assert_eq!(table.stats().misses, 2);
}

// ---------------------------------------------------------------- users

#[test]
fn users_resolve_names_and_numbers() {
    let etc = TempDir::new("users");
    let mut users = passwd(
        &etc,
        "root:x:0:0:root:/root:/bin/bash\n\
         daemon:x:1:1::/:/usr/sbin/nologin\n\
         alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\r\n\
         nobody:x:65534:65534::/nonexistent:/usr/sbin/nologin",
    );
    let cases = [
        (0, "root"),
        (1, "daemon"),
        (1000, "alice"),
        (65534, "nobody"),
        (2, "2"),
        (u32::MAX, "4294967295"),
    ];
    for (uid, name) in cases {
        assert_eq!(&*users.name(uid), name, "uid {uid}");
    }
    // The same Arc is handed out each time.
    assert!(Arc::ptr_eq(&users.name(1000), &users.name(1000)));
    assert_eq!(users.stats().entries, 4);
}

#[test]
fn users_pick_up_a_changed_passwd() {
    let etc = TempDir::new("users-change");
    let path = etc.write("passwd", b"alice:x:1000:1000::/:/bin/sh\n");
    let mut users = Users::for_test(path.clone(), Duration::ZERO, 1 << 20, 100);
    assert_eq!(&*users.name(1000), "alice");
    assert_eq!(&*users.name(1001), "1001");
    // Replaced the way vipw and useradd do: a new file renamed over the old one.
    let next = etc.write(
        "passwd.new",
        b"alice:x:1000:1000::/:/bin/sh\nbob:x:1001:1001::/:/bin/sh\n",
    );
    std::fs::rename(&next, &path).expect("rename");
    assert_eq!(&*users.name(1001), "bob");
    // Rewritten in place with a different length.
    std::fs::write(&path, b"carol:x:1000:1000::/:/bin/sh\n").expect("write");
    assert_eq!(&*users.name(1000), "carol");
    assert_eq!(&*users.name(1001), "1001");
    assert_eq!(users.stats().loads, 3);
    // Unchanged: not re-read.
    users.name(1000);
    assert_eq!(users.stats().loads, 3);
    // Removed (mid-rename): the names last read stay.
    std::fs::remove_file(&path).expect("remove");
    assert_eq!(&*users.name(1000), "carol");
}

#[test]
fn users_check_for_changes_at_most_once_per_interval() {
    let etc = TempDir::new("users-interval");
    let path = etc.write("passwd", b"alice:x:1000:1000::/:/bin/sh\n");
    let mut users = Users::for_test(path.clone(), Duration::from_secs(3600), 1 << 20, 100);
    let next = etc.write("passwd.new", b"bob:x:1000:1000::/:/bin/sh\n");
    std::fs::rename(&next, &path).expect("rename");
    assert_eq!(
        &*users.name(1000),
        "alice",
        "not re-read within the interval"
    );
    assert_eq!(users.stats().loads, 1);
}

#[test]
fn users_missing_file_resolves_numbers_then_appears() {
    let etc = TempDir::new("users-missing");
    let path = etc.path().join("passwd");
    let mut users = Users::for_test(path.clone(), Duration::ZERO, 1 << 20, 100);
    assert_eq!(&*users.name(0), "0");
    assert_eq!(users.stats().loads, 0);
    std::fs::write(&path, b"root:x:0:0::/:/bin/sh\n").expect("write");
    assert_eq!(&*users.name(0), "root");
}

#[test]
fn users_skip_hostile_lines() {
    let etc = TempDir::new("users-hostile");
    let long_name = "n".repeat(MAX_USER_NAME_BYTES + 1);
    let max_name = "m".repeat(MAX_USER_NAME_BYTES);
    let text = format!(
        "# a comment\n\
         \n\
         root:x:0:0::/root:/bin/sh\n\
         root2:x:0:0::/root:/bin/sh\n\
         :x:5:5::/:/bin/sh\n\
         nouid\n\
         nouid2:x\n\
         emptyuid:x::1::/:/bin/sh\n\
         neg:x:-1:1::/:/bin/sh\n\
         plus:x:+7:1::/:/bin/sh\n\
         big:x:4294967296:1::/:/bin/sh\n\
         hex:x:0x10:1::/:/bin/sh\n\
         space:x: 8:1::/:/bin/sh\n\
         +nis::::::\n\
         -nis2:x:9:9::/:/bin/sh\n\
         ctl\x07:x:10:1::/:/bin/sh\n\
         {long_name}:x:11:1::/:/bin/sh\n\
         {max_name}:x:12:1::/:/bin/sh\n\
         short:x:13\n\
         caf\u{e9}:x:14:1::/:/bin/sh\n"
    );
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(b"bin\xff:x:15:1::/:/bin/sh\n");
    let path = etc.write("passwd", &bytes);
    let mut users = Users::for_test(path, Duration::ZERO, 1 << 20, 100);
    let cases = [
        (0, "root".to_owned()),
        (5, "5".to_owned()),
        (7, "7".to_owned()),
        (8, "8".to_owned()),
        (9, "9".to_owned()),
        (10, "10".to_owned()),
        (11, "11".to_owned()),
        (12, max_name.clone()),
        (13, "short".to_owned()),
        (14, "caf\u{e9}".to_owned()),
        (15, "bin\u{fffd}".to_owned()),
        (16, "16".to_owned()),
    ];
    for (uid, name) in cases {
        assert_eq!(&*users.name(uid), name, "uid {uid}");
    }
    let stats = users.stats();
    assert_eq!(
        (stats.entries, stats.skipped_lines, stats.cut),
        (5, 15, false)
    );
}

#[test]
fn users_are_bounded_in_entries_and_bytes() {
    let etc = TempDir::new("users-bounds");
    // Many entries: only the first max_entries are kept.
    let many: String = (0..1000)
        .map(|uid| format!("u{uid}:x:{uid}:0::/:/bin/sh\n"))
        .collect();
    let path = etc.write("many", many.as_bytes());
    let mut users = Users::for_test(path, Duration::ZERO, 1 << 20, 100);
    assert_eq!(&*users.name(99), "u99");
    assert_eq!(&*users.name(100), "100");
    let stats = users.stats();
    assert_eq!((stats.entries, stats.cut), (100, true));

    // Many bytes: reading stops at max_bytes, and a line cut there is not half-read
    // (`u1234:x:1234` cut to `u1234:x:12` must not name uid 12).
    let line = |uid: u32| format!("u{uid}:x:{uid}:0::/:/bin/sh\n");
    let first = line(1);
    let second = line(1234);
    let text = format!("{first}{second}");
    let cut_at = first.len() + "u1234:x:12".len();
    let path = etc.write("big", text.as_bytes());
    let mut users = Users::for_test(path, Duration::ZERO, cut_at, 100);
    assert_eq!(&*users.name(1), "u1");
    assert_eq!(&*users.name(12), "12");
    assert_eq!(&*users.name(1234), "1234");
    let stats = users.stats();
    assert_eq!(
        (stats.entries, stats.skipped_lines, stats.cut),
        (1, 1, true)
    );

    // The real bound: a passwd larger than MAX_PASSWD_BYTES keeps only what fits.
    let filler = "x".repeat(200);
    let huge: String = (0..30_000u32)
        .map(|uid| format!("u{uid}:x:{uid}:0:{filler}:/:/bin/sh\n"))
        .collect();
    assert!(huge.len() > MAX_PASSWD_BYTES);
    let path = etc.write("huge", huge.as_bytes());
    let mut users = Users::new(path);
    let stats = users.stats();
    assert!(stats.cut);
    assert!(
        stats.entries < 30_000 && stats.entries > 10_000,
        "{stats:?}"
    );
    assert_eq!(&*users.name(0), "u0");
    assert_eq!(&*users.name(29_999), "29999");
}

#[test]
fn tables_can_move_to_and_be_shared_with_a_sensor_thread() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<ProcessTable>();
    send_sync::<Users>();
    send_sync::<ProcInfo>();
}
