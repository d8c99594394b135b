//! The `vigil` binary against hostile files and pipes (issue 13): an output that is an input,
//! closed stdout, `--threads` out of range, devices and FIFOs where files are expected,
//! bundles checked by their magic before the rest is read, symlink loops in rule and event
//! folders, truncated `.gz` inputs, `/dev/fd/N` inputs, YAML alias bombs in `vigil import`,
//! atomic `vigil build` output and its `--expires` warning. Real processes, real files.

use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::support::{bin, repo, s, text, vigil};

const SAMPLE: &str = "examples/events/sample.jsonl";
const SAMPLE_EVENTS: usize = 39;

fn scratch(name: &str) -> PathBuf {
    super::support::scratch("io", name)
}

/// Builds the example rules into an unsigned bundle in `dir`.
fn bundle(dir: &Path, content_version: &str) -> PathBuf {
    let out = dir.join("rules.vglb");
    let o = vigil(&[
        "build",
        "examples/rules",
        "--unsigned",
        "--content-version",
        content_version,
        "-o",
        s(&out),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    out
}

/// Runs vigil with its stdout a pipe whose read end is already closed: every write fails
/// with EPIPE.
fn vigil_closed_stdout(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    Command::new(bin())
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("the vigil binary runs")
}

#[test]
fn run_refuses_an_output_that_is_one_of_its_inputs() {
    let dir = scratch("out_is_input");
    let events = dir.join("events.jsonl");
    std::fs::copy(repo().join(SAMPLE), &events).expect("copy");
    let before = std::fs::read(&events).expect("read");
    let o = vigil(&["run", "-o", s(&events), "examples/rules", s(&events)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("is an input"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(
        std::fs::read(&events).expect("read"),
        before,
        "the input was changed"
    );
    // Through another name (a symlink) too.
    let link = dir.join("alerts.jsonl");
    symlink(&events, &link).expect("symlink");
    let o = vigil(&["run", "-o", s(&link), "examples/rules", s(&events)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert_eq!(
        std::fs::read(&events).expect("read"),
        before,
        "the input was changed"
    );
    // Stdin redirected from the output file.
    let o = Command::new(bin())
        .args(["run", "-o", s(&events), "examples/rules", "-"])
        .current_dir(repo())
        .stdin(std::fs::File::open(&events).expect("open"))
        .output()
        .expect("vigil runs");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert_eq!(
        std::fs::read(&events).expect("read"),
        before,
        "the input was changed"
    );
    // A distinct output still works, and an existing one is truncated.
    let out = dir.join("out.jsonl");
    std::fs::write(&out, "x".repeat(100_000)).expect("old output");
    let o = vigil(&["run", "-o", s(&out), "examples/rules", s(&events)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let written = std::fs::read_to_string(&out).expect("output");
    assert!(!written.contains("xxx") && written.lines().count() > 0);
}

#[test]
fn inspect_verify_and_explain_survive_a_closed_stdout() {
    let dir = scratch("epipe");
    let b = bundle(&dir, "1");
    for args in [
        vec!["inspect", s(&b)],
        vec!["verify", s(&b), "--allow-unsigned"],
        vec!["explain", "examples/rules"],
        vec!["explain", "examples/rules", "--format", "json"],
        vec!["bench", "examples/rules", SAMPLE, "--repeat", "1"],
    ] {
        let o = vigil_closed_stdout(&args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o.stderr));
        assert!(!text(&o.stderr).contains("panicked"), "{}", text(&o.stderr));
    }
}

#[test]
fn threads_beyond_the_cap_are_a_usage_error() {
    let o = vigil(&["run", "--threads", "20000", "examples/rules", SAMPLE]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("256"), "{}", text(&o.stderr));
    let o = vigil(&["run", "--help"]);
    assert!(text(&o.stdout).contains("256"), "{}", text(&o.stdout));
    let o = vigil(&["run", "--threads", "256", "examples/rules", SAMPLE]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
}

#[test]
fn a_rule_file_linked_to_a_device_is_refused_by_name() {
    let dir = scratch("device_rule");
    let zero = dir.join("zero.vgl");
    symlink("/dev/zero", &zero).expect("symlink");
    let o = vigil(&["check", s(&zero)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("zero.vgl") && err.contains("device"), "{err}");
    // In a folder it is skipped with a note, and the rest is checked.
    std::fs::copy(repo().join("examples/rules/process.vgl"), dir.join("p.vgl")).expect("copy");
    let o = vigil(&["check", s(&dir)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("skipping"), "{}", text(&o.stderr));
    // And as events.
    let o = vigil(&["run", "examples/rules", "/dev/zero"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("device"), "{}", text(&o.stderr));
}

#[test]
fn a_rule_file_over_the_cap_is_refused_before_reading() {
    let dir = scratch("big_rule");
    let big = dir.join("big.vgl");
    let f = std::fs::File::create(&big).expect("create");
    f.set_len(65 << 20).expect("sparse file");
    let o = vigil(&["check", s(&big)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("larger than 64 MiB"),
        "{}",
        text(&o.stderr)
    );
}

/// `vigil inspect /dev/stdin` with a writer that sends a wrong magic and then 64 MiB: vigil
/// must stop after the magic, so the writer sees the pipe closed long before the end.
#[test]
fn bundles_are_refused_on_their_magic_before_the_rest_is_read() {
    let mut child = Command::new(bin())
        .args(["inspect", "/dev/stdin"])
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vigil runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let block = vec![b'x'; 1 << 16];
    let mut written = 0usize;
    while written < 64 << 20 {
        match stdin.write(&block) {
            Ok(n) => written += n,
            Err(_) => break,
        }
    }
    drop(stdin);
    let o = child.wait_with_output().expect("vigil finishes");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("E05"), "{}", text(&o.stderr));
    assert!(written < 64 << 20, "vigil read all {written} bytes");
    // A bundle file over the format's maximum is refused without reading it.
    let dir = scratch("big_bundle");
    let big = dir.join("big.vglb");
    let mut f = std::fs::File::create(&big).expect("create");
    f.write_all(b"VIGLBNDL").expect("magic");
    f.set_len(1 << 30).expect("sparse file");
    let o = vigil(&["inspect", s(&big)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("larger than"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn symlink_loops_in_rule_folders_are_walked_once() {
    let dir = scratch("rule_loops");
    let rules = dir.join("rules");
    std::fs::create_dir_all(rules.join("a")).expect("a");
    std::fs::copy(
        repo().join("examples/rules/process.vgl"),
        rules.join("a/p.vgl"),
    )
    .expect("cp");
    symlink("..", rules.join("a/up")).expect("up");
    symlink(".", rules.join("me")).expect("me");
    let o = vigil(&["check", s(&rules)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("note: skipping"), "{err}");
    assert!(!err.contains("error"), "{err}");
}

#[test]
fn symlink_loops_in_event_folders_are_walked_once() {
    let dir = scratch("event_loops");
    let events = dir.join("events");
    std::fs::create_dir_all(events.join("a")).expect("a");
    std::fs::copy(repo().join(SAMPLE), events.join("a/s.jsonl")).expect("cp");
    symlink(".", events.join("me")).expect("me");
    symlink("..", events.join("a/up")).expect("up");
    let o = vigil(&["run", "examples/rules", s(&events)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("vigil run: {SAMPLE_EVENTS} events from")),
        "{err}"
    );
    assert!(err.contains("note: skipping"), "{err}");
}

#[test]
fn fifos_in_folders_are_skipped_with_a_note() {
    let dir = scratch("fifo_in_folder");
    std::fs::copy(repo().join(SAMPLE), dir.join("s.jsonl")).expect("cp");
    let fifo = dir.join("pipe.jsonl");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let o = vigil(&["run", "examples/rules", s(&dir)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("pipe.jsonl") && err.contains("FIFO"), "{err}");
}

#[test]
fn pipes_named_on_the_command_line_are_read_as_streams() {
    // `/dev/stdin` (a `/dev/fd/N` path) on a pipe.
    let mut child = Command::new(bin())
        .args(["run", "examples/rules", "/dev/stdin"])
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vigil runs");
    let sample = std::fs::read(repo().join(SAMPLE)).expect("sample");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&sample)
        .expect("write");
    let o = child.wait_with_output().expect("vigil finishes");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains(&format!("{SAMPLE_EVENTS} events")),
        "{}",
        text(&o.stderr)
    );
    assert!(!o.stdout.is_empty());
}

#[test]
fn a_truncated_gz_input_is_a_coded_error_and_the_run_goes_on() {
    let dir = scratch("truncated_gz");
    let gz = dir.join("cut.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&std::fs::read(repo().join(SAMPLE)).expect("sample"))
        .expect("gzip");
    let bytes = enc.finish().expect("gzip");
    std::fs::write(&gz, &bytes[..bytes.len() / 2]).expect("write");
    let o = vigil(&["run", "examples/rules", s(&gz), SAMPLE]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("E0712") && err.contains("cut.jsonl.gz"),
        "{err}"
    );
    // The second input ran whole.
    assert!(!o.stdout.is_empty());
    let strict = vigil(&["run", "--strict", "examples/rules", s(&gz), SAMPLE]);
    assert_eq!(strict.status.code(), Some(1), "{}", text(&strict.stderr));
}

#[test]
fn sigma_alias_bombs_are_refused_with_a_code_naming_the_file() {
    let dir = scratch("alias_bomb");
    let mut yaml =
        String::from("title: bomb\nlogsource:\n  product: windows\n  category: process_creation\n");
    yaml.push_str("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        yaml.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            vec![format!("*a{p}"); 10].join(", ")
        ));
    }
    yaml.push_str("detection:\n  sel:\n    Image: x\n  condition: sel\n");
    std::fs::write(dir.join("bomb.yml"), yaml).expect("write");
    let o = vigil(&[
        "import",
        "sigma",
        "--strict",
        s(&dir.join("bomb.yml")),
        "-o",
        s(&dir.join("out")),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("bomb.yml") && err.contains("E0902"), "{err}");
    assert!(err.contains("aliases"), "{err}");
}

#[test]
fn build_replaces_its_output_atomically() {
    let dir = scratch("atomic_build");
    let out = bundle(&dir, "1");
    let old = std::fs::read(&out).expect("v1");
    // A hard link keeps the inode an agent may hold open: a rename leaves it whole.
    let held = dir.join("held.vglb");
    std::fs::hard_link(&out, &held).expect("link");
    let _ = bundle(&dir, "2");
    assert_eq!(std::fs::read(&held).expect("held"), old, "written in place");
    assert_ne!(std::fs::read(&out).expect("v2"), old);
    // No temporary file is left behind.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn build_warns_when_expires_is_in_the_past() {
    let dir = scratch("expired_build");
    let out = dir.join("x.vglb");
    let o = vigil(&[
        "build",
        "examples/rules",
        "--unsigned",
        "--expires",
        "1000",
        "-o",
        s(&out),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("in the past"),
        "{}",
        text(&o.stderr)
    );
}

/// A rule whose id, title and test name hold terminal escape sequences.
const EVIL_RULE: &str = r#"rule evil {
    meta {
        id: "evil\u{1b}[2J",
        title: "title\u{1b}]0;pwned\u{7}",
        severity: low,
    }
    on process_start
    when image == "x\u{1b}"
    emit "ran {image}"
}

test evil {
    process_start { image: "x\u{1b}" } => quiet
}
"#;

fn assert_no_raw_controls(what: &str, out: &[u8]) {
    let t = text(out);
    assert!(
        !t.chars().any(|c| c.is_control() && c != '\n' && c != '\t'),
        "{what}: raw control characters in {t:?}"
    );
    assert!(t.contains("\\u{1b}"), "{what}: nothing escaped in {t:?}");
}

#[test]
fn control_characters_are_escaped_in_human_output() {
    let dir = scratch("controls");
    let rules = dir.join("evil.vgl");
    std::fs::write(&rules, EVIL_RULE).expect("write");
    let events = dir.join("ev.jsonl");
    std::fs::write(
        &events,
        "{\"event\":\"process_start\",\"image\":\"x\\u001b\"}\n",
    )
    .expect("write");
    // The run summary names the rule.
    let o = vigil(&["run", s(&rules), s(&events)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_no_raw_controls("run summary", &o.stderr);
    // inspect prints ids and titles.
    let b = dir.join("evil.vglb");
    let o = vigil(&["build", s(&rules), "--unsigned", "-o", s(&b)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).ends_with('\n'), "{}", text(&o.stdout));
    let o = vigil(&["inspect", s(&b)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_no_raw_controls("inspect", &o.stdout);
    // Test results name the failing case's rule and its message.
    let o = vigil(&["test", s(&rules)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert_no_raw_controls("test", &o.stdout);
    // Diagnostics quote source lines: in colour, only colour sequences stay.
    let bad = dir.join("bad.vgl");
    std::fs::write(
        &bad,
        "rule x {\n  meta { id: \"a\" }\n  on process_start\n  when image == 1 // \u{1b}]0;pwned\u{7} \u{1b}[2J\n}\n",
    )
    .expect("write");
    let o = vigil(&["check", "--color", "always", s(&bad)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let mut plain = String::new();
    let err = text(&o.stderr);
    let mut rest = err.as_str();
    while let Some(i) = rest.find("\u{1b}[") {
        plain.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let n = after
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(after.len());
        if after[n..].starts_with('m') {
            rest = &after[n + 1..];
        } else {
            plain.push('\u{1b}');
            rest = &rest[i + 1..];
        }
    }
    plain.push_str(rest);
    assert_no_raw_controls("coloured check", plain.as_bytes());
    // diff names rules added and removed.
    let o = vigil(&["diff", "examples/rules", s(&rules)]);
    assert_no_raw_controls("diff", &o.stdout);
}

#[test]
fn duplicate_keys_are_counted_and_refused_under_strict() {
    let dir = scratch("duplicate_keys");
    let events = dir.join("dup.jsonl");
    std::fs::write(
        &events,
        concat!(
            "{\"event\":\"process_start\",\"image\":\"C:\\\\Windows\\\\System32\\\\certutil.exe\",\"image\":\"a.exe\"}\n",
            "{\"event\":\"process_start\",\"image\":\"b.exe\"}\n",
        ),
    )
    .expect("write");
    let o = vigil(&["run", "examples/rules", s(&events)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("E0713"), "{}", text(&o.stderr));
    for threads in ["1", "2"] {
        let o = vigil(&[
            "run",
            "--strict",
            "--threads",
            threads,
            "examples/rules",
            s(&events),
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
        let err = text(&o.stderr);
        assert!(err.contains("E0713") && err.contains(":1:"), "{err}");
    }
}

#[test]
fn absent_fields_print_as_absent_in_alert_messages() {
    let dir = scratch("absent_message");
    let rules = dir.join("r.vgl");
    std::fs::write(
        &rules,
        "rule r {\n    meta { id: \"r\", severity: low }\n    on process_start\n    when not exists(pid)\n    emit \"pid {pid} user {user} image {image}\"\n}\n",
    )
    .expect("write");
    let events = dir.join("ev.jsonl");
    std::fs::write(
        &events,
        "{\"event\":\"process_start\",\"image\":\"a.exe\",\"user\":\"\"}\n",
    )
    .expect("write");
    let o = vigil(&["run", s(&rules), s(&events)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let alert: serde_json::Value =
        serde_json::from_slice(o.stdout.trim_ascii()).expect("one alert");
    // `pid` was absent; `user` was present and empty.
    assert_eq!(
        alert["message"], "pid <absent> user  image a.exe",
        "{alert}"
    );
}

#[test]
fn test_at_offsets_past_the_time_range_are_an_error() {
    let dir = scratch("at_range");
    let rules = dir.join("r.vgl");
    std::fs::write(
        &rules,
        "rule r {\n    meta { id: \"r\", severity: low }\n    on process_start\n    when pid == 1\n}\n\ntest r {\n    at 0s process_start { pid: 1 } => fires\n    at 110000d process_start { pid: 2 } => quiet\n}\n",
    )
    .expect("write");
    let o = vigil(&["test", s(&rules)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("past the time range"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn run_accounting_adds_up_and_names_lines() {
    let dir = scratch("accounting");
    let events = dir.join("ev.jsonl");
    let mut data = Vec::new();
    data.extend_from_slice(b"{\"event\":\"process_start\",\"pid\":1}\n");
    data.extend_from_slice(b"\n   \n");
    data.extend_from_slice(b"{\"event\":\"process_start\",\"pid\":\"not a number\"}\n");
    data.extend_from_slice(b"not json\n");
    data.extend_from_slice(b"{\"event\":\"process_start\",\"image\":\"a\xffb.exe\"}\n");
    std::fs::write(&events, &data).expect("write");
    for threads in ["1", "2"] {
        let o = vigil(&["run", "--threads", threads, "examples/rules", s(&events)]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        let err = text(&o.stderr);
        assert!(
            err.contains("lines: 6 = 4 records + 2 blank")
                && err.contains("records: 4 = 3 with events + 0 unrouted + 1 bad; 3 events"),
            "{threads}: {err}"
        );
        assert!(
            err.contains("uncoercible values (field left absent): 1 (line ")
                && err.contains("ev.jsonl:4)"),
            "{threads}: {err}"
        );
        assert!(
            err.contains("lines with invalid UTF-8 replaced: 1 (line ")
                && err.contains("ev.jsonl:6)"),
            "{threads}: {err}"
        );
    }
}

#[test]
fn run_counts_lines_that_fan_out_to_several_events_apart() {
    let dir = scratch("fanout");
    let mapping = dir.join("two.toml");
    std::fs::write(
        &mapping,
        "name = \"two\"\nschema = \"endpoint\"\n\n[[route]]\nevent = \"process_start\"\n[route.fields]\npid = \"Pid\"\n\n[[route]]\nevent = \"process_end\"\n[route.fields]\npid = \"Pid\"\n",
    )
    .expect("write");
    let events = dir.join("ev.jsonl");
    std::fs::write(&events, "{\"Pid\": 1}\n{\"Pid\": 2}\n\n").expect("write");
    let o = vigil(&[
        "run",
        "--mapping",
        s(&mapping),
        "examples/rules",
        s(&events),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("vigil run: 4 events from 3 lines"), "{err}");
    assert!(
        err.contains("records: 2 = 2 with events + 0 unrouted + 0 bad; 4 events (2 records of several event types gave 2 events more than records)"),
        "{err}"
    );
}

/// A line over 16 MiB is one bad line, reported as "line longer than 16 MiB" (E0714), never
/// held in memory, and the lines after it keep their numbers (issue 13, item 12; `vigil
/// agent` reads through the same reader).
#[test]
fn a_line_over_16_mib_is_one_bad_line_named_for_what_it_is() {
    let dir = scratch("overlong_line");
    let events = dir.join("events.jsonl");
    let sample = std::fs::read_to_string(repo().join(SAMPLE)).expect("sample");
    // The sample's third line fires several rules.
    let first = sample.lines().nth(2).expect("a sample line");
    let mut data = Vec::new();
    data.extend_from_slice(first.as_bytes());
    data.push(b'\n');
    data.extend_from_slice(b"{\"event\": \"process_start\", \"command_line\": \"");
    data.resize(data.len() + (17 << 20), b'a');
    data.extend_from_slice(b"\"}\n");
    data.extend_from_slice(first.as_bytes());
    data.push(b'\n');
    std::fs::write(&events, &data).expect("write events");
    for threads in ["1", "2"] {
        let o = vigil(&["run", "examples/rules", s(&events), "--threads", threads]);
        let err = text(&o.stderr);
        assert!(o.status.success(), "{err}");
        assert!(err.contains("E0714"), "{err}");
        assert!(err.contains("line longer than 16 MiB"), "{err}");
        assert!(!err.contains("EOF while parsing"), "{err}");
        assert!(err.contains(":2"), "the bad line is line 2: {err}");
        // The first and the third line give the same alerts, numbered 1 and 3.
        let out = text(&o.stdout);
        let lines_of = |n: &str| {
            out.lines()
                .filter(|l| l.contains(&format!("\"line\":{n}}}")))
                .count()
        };
        assert!(lines_of("1") > 0, "{out}");
        assert_eq!(lines_of("1"), lines_of("3"), "{out}");
    }
}

#[test]
fn sigma_import_targets_the_schema_given() {
    let dir = scratch("import_schema");
    std::fs::write(
        dir.join("lnx.yml"),
        "title: lnx\nlogsource: {product: linux, category: process_creation}\ndetection:\n  sel:\n    Image|endswith: '/curl'\n  condition: sel\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("win.yml"),
        "title: win\nlogsource: {product: windows, category: process_creation}\ndetection:\n  sel:\n    IntegrityLevel: System\n  condition: sel\n",
    )
    .expect("write");
    // Onto `endpoint` (the default) both convert.
    let o = vigil(&["import", "sigma", s(&dir), "-o", s(&dir.join("out"))]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    // Onto the sensor's profile the Windows rule reads a field it does not fill.
    let o = vigil(&[
        "import",
        "sigma",
        "--strict",
        "--schema",
        "linux-ebpf",
        s(&dir),
        "-o",
        s(&dir.join("out_linux")),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("win.yml") && err.contains("E0905") && err.contains("`integrity_level`"),
        "{err}"
    );
    assert!(err.contains("1 of 2 rules converted"), "{err}");
    assert!(dir.join("out_linux/lnx.vgl").is_file());
}

#[test]
fn import_exits_0_with_refusals_and_1_under_strict() {
    let dir = scratch("import_exit_codes");
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).expect("mkdir");
    std::fs::write(
        rules.join("good.yml"),
        "title: good\nlogsource: {product: windows, category: process_creation}\ndetection:\n  sel:\n    Image|endswith: '\\x.exe'\n  condition: sel\n",
    )
    .expect("write");
    std::fs::write(
        rules.join("expand.yml"),
        "title: expand\nlogsource: {product: windows, category: process_creation}\ndetection:\n  sel:\n    Image|endswith: '\\x.exe'\n  filter:\n    User|expand: '%admins%'\n  condition: sel and not filter\n",
    )
    .expect("write");
    let report = dir.join("report.json");
    let out = dir.join("out");
    let run = |extra: &[&str]| {
        let mut a = vec![
            "import",
            "sigma",
            s(&rules),
            "-o",
            s(&out),
            "--report",
            s(&report),
        ];
        a.extend(extra);
        vigil(&a)
    };
    // A refusal alone is not a failure: what converted is written, with the report.
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("expand.yml") && err.contains("`%admins%`"),
        "{err}"
    );
    assert!(dir.join("out/good.vgl").is_file());
    let r = std::fs::read_to_string(&report).expect("report written");
    assert!(r.contains("\"refused\": 1"), "{r}");
    // `--strict` fails on any refusal, still writing what converted.
    let o = run(&["--strict"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    // With the placeholder's values, every rule converts, strict or not.
    let values = dir.join("placeholders.yml");
    std::fs::write(&values, "admins: ['CORP\\admin', 'CORP\\backup']\n").expect("write");
    let o = run(&["--strict", "--placeholders", s(&values)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let vgl = std::fs::read_to_string(dir.join("out/expand.vgl")).expect("expand converted");
    assert!(vgl.contains(r"CORP\backup"), "{vgl}");
    // A placeholder file that is not a map is a usage error.
    std::fs::write(&values, "- a\n").expect("write");
    let o = run(&["--placeholders", s(&values)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
}
