//! `vigil agent` end to end: the binary is spawned on a bundles folder and a state folder, and
//! the test waits on `status.json` conditions (polling with generous deadlines, never a fixed
//! sleep): a good update is promoted, a noisy candidate rolled back, tampered, truncated,
//! garbage and downgraded files refused, a killed agent comes back with its last known good
//! bundle, and the crash-loop breaker quarantines a bundle after K crashes (driven by the
//! `VIGIL_AGENT_ABORT_AFTER_ACTIVATE` test hook) until the quarantine is lifted.
//!
//! The hostile-input and fault findings of issue 13 each have a test here: SIGTERM stops
//! cleanly and restarts never quarantine the only bundle (nor a kill while idle), a bundle
//! kept for want of another is said loudly, a downgrade copied into the state folder is not
//! restored, the state folder's mode, `--follow` through rename and copytruncate rotation and
//! across restarts, stdout closed under the agent, huge and special bundle files, an
//! over-long line, a full disk during an update, a same-size same-mtime replacement, a
//! missing bundles folder and a bundle that expires while running.
//!
//! `VIGIL_TEST_BIN=/path/to/vigil` runs them against another build of `vigil` (to check that
//! they fail without the fixes).

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use vigil_compiler::compile::compile;
use vigil_compiler::{Options, Sources};
use vigil_runtime::budget::Budget;
use vigil_runtime::bundle::{encode, HeaderInput, Keypair};
use vigil_runtime::schema::Schema;

const DEADLINE: Duration = Duration::from_secs(120);

const QUIET: &str = r#"
rule rare {
    meta { severity: high }
    on process_start
    when image == "rare.exe"
}
"#;

const QUIET_V2: &str = r#"
rule rare {
    meta { severity: high }
    on process_start
    when image == "rare.exe"
}
rule rarer {
    on process_start
    when image == "rarer.exe"
}
"#;

const NOISY: &str = r#"
rule rare {
    meta { severity: high }
    on process_start
    when image == "rare.exe"
}
rule noisy {
    on process_start
    when image != ""
}
"#;

fn key() -> Keypair {
    Keypair::from_seed(&[42; 32])
}

/// `src` compiled against the endpoint schema and signed as version `v` with id `id`.
fn bundle(src: &str, v: u64, id: &str) -> Vec<u8> {
    let mut sources = Sources::with_stdlib();
    sources.add("rules.vgl", src);
    let compiled = compile(
        &sources,
        &Schema::endpoint(),
        &Options::default(),
        &Budget::default(),
    )
    .unwrap_or_else(|d| panic!("compiles: {d:?}"));
    let header = HeaderInput {
        content_version: v,
        bundle_id: id.into(),
        created_by: "cli_agent".into(),
        ..HeaderInput::default()
    };
    encode(
        compiled.program(),
        Some(&compiled.debug),
        &header,
        Some(key().signing_key()),
    )
    .expect("encodes")
}

struct Dirs {
    root: PathBuf,
    bundles: PathBuf,
    state: PathBuf,
    pubkey: PathBuf,
    events: PathBuf,
    stop: PathBuf,
}

fn dirs(name: &str) -> Dirs {
    let root = std::env::temp_dir().join(format!("vigil-cli-agent-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    let d = Dirs {
        bundles: root.join("bundles"),
        state: root.join("state"),
        pubkey: root.join("ci.pub"),
        events: root.join("events.jsonl"),
        stop: root.join("stop"),
        root,
    };
    fs::create_dir_all(&d.bundles).expect("bundles dir");
    fs::write(&d.pubkey, key().to_public_text()).expect("pub key");
    fs::write(&d.events, b"").expect("events file");
    d
}

/// Drops a bundle into the folder as a publisher would: written aside, renamed in.
fn drop_bundle(d: &Dirs, name: &str, bytes: &[u8]) {
    let tmp = d.root.join(format!("{name}.part"));
    fs::write(&tmp, bytes).expect("write");
    fs::rename(&tmp, d.bundles.join(name)).expect("rename");
}

fn event_line(image: &str) -> String {
    format!(
        "{{\"event\": \"process_start\", \"time\": 1, \"host\": \"pc1\", \"pid\": 7, \"image\": \"{image}\"}}\n"
    )
}

fn append_events(d: &Dirs, n: usize, image: &str) {
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(&d.events)
        .expect("events file");
    for _ in 0..n {
        f.write_all(event_line(image).as_bytes()).expect("append");
    }
}

/// The `vigil` binary under test: this build's, or `VIGIL_TEST_BIN`.
fn vigil() -> Command {
    Command::new(
        std::env::var_os("VIGIL_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_vigil").into()),
    )
}

fn spawn(d: &Dirs, args: &[&str], env: &[(&str, &str)], tag: &str) -> Child {
    let mut cmd = vigil();
    cmd.arg("agent")
        .arg("--bundles")
        .arg(&d.bundles)
        .arg("--state")
        .arg(&d.state)
        .arg("--pubkey")
        .arg(&d.pubkey)
        .arg("--poll-ms")
        .arg("30")
        .args(args)
        .stdin(Stdio::null())
        .stdout(fs::File::create(d.root.join(format!("{tag}.stdout"))).expect("stdout file"))
        .stderr(fs::File::create(d.root.join(format!("{tag}.stderr"))).expect("stderr file"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawns vigil agent")
}

fn status(d: &Dirs) -> Option<Value> {
    let text = fs::read_to_string(d.state.join("status.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Waits until `cond` holds on `status.json`, calling `tick` between looks (to feed events).
fn wait_for(d: &Dirs, what: &str, mut tick: impl FnMut(), cond: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        if let Some(s) = status(d) {
            if cond(&s) {
                return s;
            }
        }
        assert!(
            start.elapsed() < DEADLINE,
            "timed out waiting for {what}; status: {}\nstderr: {}",
            status(d).map(|s| s.to_string()).unwrap_or_default(),
            stderr_of(d)
        );
        tick();
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stderr_of(d: &Dirs) -> String {
    let mut out = String::new();
    if let Ok(entries) = fs::read_dir(&d.root) {
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "stderr") {
                out.push_str(&format!("--- {}\n", p.display()));
                out.push_str(&fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    out
}

fn wait_exit(child: &mut Child) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            return s;
        }
        assert!(start.elapsed() < DEADLINE, "the agent did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn active_version(s: &Value) -> Option<u64> {
    s["active"]["content_version"].as_u64()
}

fn refused(s: &Value, code: &str) -> u64 {
    s["updates"]["refused"][code].as_u64().unwrap_or(0)
}

fn balanced(s: &Value) -> bool {
    let dropped: u64 = s["events"]["dropped"]
        .as_object()
        .map(|m| m.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    s["events"]["received"].as_u64() == s["events"]["evaluated"].as_u64().map(|e| e + dropped)
}

#[test]
fn agent_promotes_rejects_refuses_and_restarts_with_last_known_good() {
    let d = dirs("rollout");
    drop_bundle(&d, "v1.vglb", &bundle(QUIET, 1, "rules-v1"));
    let args = [
        "--follow",
        d.events.to_str().expect("utf-8 path"),
        "--promote-after-events",
        "20",
        "--max-alert-rate",
        "100",
        "--stop-file",
        d.stop.to_str().expect("utf-8 path"),
    ];
    let mut child = spawn(&d, &args, &[], "first");
    wait_for(&d, "v1 active", || {}, |s| active_version(s) == Some(1));
    append_events(&d, 4, "a.exe");
    append_events(&d, 1, "rare.exe");
    wait_for(&d, "5 events", || {}, |s| s["events"]["evaluated"] == 5);

    // A good update: staged in shadow, then promoted.
    drop_bundle(&d, "v2.vglb", &bundle(QUIET_V2, 2, "rules-v2"));
    let s = wait_for(
        &d,
        "v2 promoted",
        || append_events(&d, 2, "a.exe"),
        |s| active_version(s) == Some(2),
    );
    assert_eq!(s["updates"]["promoted"], 1);
    assert_eq!(s["lkg"]["content_version"], 1);

    // A noisy candidate: rejected, v2 runs on.
    let noisy = bundle(NOISY, 3, "rules-v3-noisy");
    drop_bundle(&d, "v3.vglb", &noisy);
    let s = wait_for(
        &d,
        "noisy v3 rejected",
        || append_events(&d, 2, "a.exe"),
        |s| refused(s, "E0807") == 1,
    );
    assert_eq!(active_version(&s), Some(2));
    assert!(s["candidate"].is_null());
    assert_eq!(s["rejected"].as_array().map(Vec::len), Some(1));

    // Bad files: tampered, truncated, garbage, downgrade. None replaces v2.
    let mut tampered = bundle(QUIET_V2, 4, "rules-v4");
    let at = tampered.len() - 50;
    tampered[at] ^= 0x20;
    drop_bundle(&d, "v4-tampered.vglb", &tampered);
    let v5 = bundle(QUIET_V2, 5, "rules-v5");
    drop_bundle(&d, "v5-truncated.vglb", &v5[..v5.len() / 3]);
    drop_bundle(&d, "garbage.vglb", b"\x00\x01 definitely not a bundle");
    drop_bundle(&d, "v1-again.vglb", &bundle(NOISY, 1, "rules-v1-other"));
    let s = wait_for(
        &d,
        "bad files refused",
        || append_events(&d, 1, "a.exe"),
        |s| {
            refused(s, "E0511") == 1
                && refused(s, "E0503") == 1
                && refused(s, "E0501") == 1
                && refused(s, "E0801") == 1
        },
    );
    assert_eq!(active_version(&s), Some(2));
    assert!(
        s["updates"]["last_refusal"]
            .as_str()
            .is_some_and(|r| r.contains(".vglb`")),
        "the refusal names the file: {s}"
    );

    // Kill it (no clean shutdown) and start again: v2 comes back from the state folder; the
    // rejected candidate is not staged again, and the bad files, refused for good, are not
    // read or counted again.
    child.kill().expect("kill");
    let _ = child.wait();
    let first_stdout = fs::read_to_string(d.root.join("first.stdout")).expect("stdout");
    assert!(first_stdout
        .lines()
        .any(|l| l.contains("\"rule\":\"rare\"")));
    assert!(first_stdout
        .lines()
        .any(|l| l.contains("\"rule\":\"noisy\"") && l.contains("\"shadow\":true")));
    let mut child = spawn(&d, &args, &[], "second");
    let pid = u64::from(child.id());
    let s = wait_for(
        &d,
        "restart with v2",
        || {},
        |s| s["pid"] == pid && active_version(s) == Some(2),
    );
    assert!(
        s["candidate"].is_null(),
        "the rejected v3 is not staged again"
    );
    for code in ["E0511", "E0503", "E0501", "E0801"] {
        assert_eq!(refused(&s, code), 0, "{code} counted again: {s}");
    }
    // `--follow` resumes where the killed run was (its position is saved each poll): only the
    // three new `rare.exe` alert, the earlier one is not read again.
    append_events(&d, 3, "rare.exe");
    let s = wait_for(
        &d,
        "events after restart",
        || {},
        |s| s["pid"] == pid && s["alerts"]["total"].as_u64() >= Some(3),
    );
    assert_eq!(
        s["alerts"]["total"], 3,
        "the earlier events were read again: {s}"
    );

    // Stop cleanly.
    fs::write(&d.stop, b"").expect("stop file");
    assert!(wait_exit(&mut child).success());
    let s = status(&d).expect("final status");
    assert_eq!(s["running"], false);
    assert!(balanced(&s), "{s}");
    let _ = fs::remove_dir_all(&d.root);
}

#[test]
fn crash_loop_quarantines_the_bundle_until_lifted() {
    let d = dirs("crashloop");
    let events = d.root.join("finite.jsonl");
    let mut text = String::new();
    for _ in 0..5 {
        text.push_str(&event_line("a.exe"));
    }
    text.push_str(&event_line("rare.exe"));
    text.push_str("this line is not JSON\n");
    fs::write(&events, text).expect("events");
    let ev = events.to_str().expect("utf-8 path");
    let args = ["--promote-after-events", "2", ev];
    let hook = [("VIGIL_AGENT_ABORT_AFTER_ACTIVATE", "rules-v2")];

    // No state yet: the newest valid bundle in the folder starts; garbage is refused.
    drop_bundle(&d, "v1.vglb", &bundle(QUIET, 1, "rules-v1"));
    drop_bundle(&d, "junk.vglb", b"junk");
    let mut child = spawn(&d, &args, &hook, "run0");
    assert!(wait_exit(&mut child).success(), "{}", stderr_of(&d));
    let s = status(&d).expect("status");
    assert_eq!(active_version(&s), Some(1));
    assert_eq!(refused(&s, "E0501"), 1);
    assert_eq!(s["events"]["received"], 7);
    assert_eq!(s["events"]["evaluated"], 6);
    assert_eq!(s["events"]["dropped"]["E0701"], 1);
    assert!(balanced(&s));
    let out = fs::read_to_string(d.root.join("run0.stdout")).expect("stdout");
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("\"rule\":\"rare\""))
            .count(),
        1
    );

    // v2 is promoted, then the agent dies right after activating it, three times.
    let v2 = bundle(QUIET_V2, 2, "rules-v2");
    drop_bundle(&d, "v2.vglb", &v2);
    for i in 1..=3 {
        let mut child = spawn(&d, &args, &hook, &format!("crash{i}"));
        let status = wait_exit(&mut child);
        assert!(!status.success(), "run {i} should abort: {}", stderr_of(&d));
    }

    // The fourth start quarantines v2 and runs the last known good v1.
    let mut child = spawn(&d, &args, &hook, "run4");
    assert!(wait_exit(&mut child).success(), "{}", stderr_of(&d));
    let s = status(&d).expect("status");
    assert_eq!(active_version(&s), Some(1), "{s}");
    let q = s["quarantine"].as_array().cloned().unwrap_or_default();
    assert_eq!(q.len(), 1, "{s}");
    assert_eq!(q[0]["bundle_id"], "rules-v2");
    assert_eq!(q[0]["crashes"], 3);
    assert_eq!(
        refused(&s, "E0804"),
        2,
        "restoring it, and staging it from the folder"
    );
    let sha = q[0]["sha256"].as_str().expect("sha").to_string();

    // Lift it; without the hook, v2 is staged and promoted again.
    let lifted = vigil()
        .args(["agent", "--state"])
        .arg(&d.state)
        .args(["--lift-quarantine", &sha[..16]])
        .output()
        .expect("runs");
    assert!(
        lifted.status.success(),
        "{}",
        String::from_utf8_lossy(&lifted.stderr)
    );
    let mut child = spawn(&d, &args, &[], "run5");
    assert!(wait_exit(&mut child).success(), "{}", stderr_of(&d));
    let s = status(&d).expect("status");
    assert_eq!(active_version(&s), Some(2), "{s}");
    assert!(s["quarantine"].as_array().is_some_and(Vec::is_empty));
    let _ = fs::remove_dir_all(&d.root);
}

#[test]
fn diff_lists_rule_changes_and_alerts_that_appear_or_disappear() {
    let d = dirs("diff");
    let old_dir = d.root.join("old");
    let new_dir = d.root.join("new");
    fs::create_dir_all(&old_dir).expect("dir");
    fs::create_dir_all(&new_dir).expect("dir");
    fs::write(old_dir.join("r.vgl"), QUIET_V2).expect("write");
    let changed = NOISY.replace("\"rare.exe\"", "\"RARE.exe\"");
    fs::write(new_dir.join("r.vgl"), changed).expect("write");
    fs::write(
        &d.events,
        format!("{}{}", event_line("rare.exe"), event_line("a.exe")),
    )
    .expect("events");
    let old_bundle = d.root.join("old.vglb");
    fs::write(&old_bundle, bundle(QUIET_V2, 1, "old")).expect("bundle");

    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("diff")
        .arg(&old_bundle)
        .arg(&new_dir)
        .arg(&d.events)
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("rules: 1 added, 1 removed, 1 changed, 0 unchanged"),
        "{text}"
    );
    assert!(
        text.contains("+ rule noisy")
            && text.contains("- rule rarer")
            && text.contains("~ rule rare"),
        "{text}"
    );
    assert!(
        text.contains("alerts over 2 events: 2 appear, 1 disappear"),
        "{text}"
    );
    let events = d.events.display().to_string();
    assert!(
        text.contains(&format!("- alert rare at {events}:1")),
        "{text}"
    );
    assert!(
        text.contains(&format!("+ alert noisy at {events}:2")),
        "{text}"
    );

    // The same set on both sides: no difference.
    let same = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("diff")
        .arg(&old_bundle)
        .arg(&old_dir)
        .arg("--json")
        .output()
        .expect("runs");
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&same.stdout)
    );
    let _ = fs::remove_dir_all(&d.root);
}

// ---- Issue 13: hostile input and faults -------------------------------------------------

fn send_signal(child: &Child, signal: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .expect("runs kill");
    assert!(ok.success(), "kill -{signal}");
}

fn state_json(d: &Dirs) -> Value {
    let text = fs::read_to_string(d.state.join("state.json")).expect("state.json");
    serde_json::from_str(&text).expect("state.json parses")
}

fn sha_of(path: &std::path::Path) -> Option<String> {
    use sha2::{Digest, Sha256};
    let bytes = fs::read(path).ok()?;
    Some(
        Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

fn file_of(d: &Dirs, tag: &str, ext: &str) -> String {
    fs::read_to_string(d.root.join(format!("{tag}.{ext}"))).unwrap_or_default()
}

/// Events with `n` lines of `image`.
fn events_file(d: &Dirs, name: &str, n: usize, image: &str) -> String {
    let path = d.root.join(name);
    let text: String = (0..n).map(|_| event_line(image)).collect();
    fs::write(&path, text).expect("events");
    path.to_str().expect("utf-8 path").to_string()
}

#[test]
fn sigterm_stops_cleanly_and_restarts_never_quarantine_the_only_bundle() {
    let d = dirs("sigterm");
    drop_bundle(&d, "v1.vglb", &bundle(QUIET, 1, "rules-v1"));
    let follow = ["--follow", d.events.to_str().expect("utf-8 path")];
    // Three routine restarts (`systemctl restart`): SIGTERM, then SIGINT, then SIGTERM.
    for (i, signal) in ["TERM", "INT", "TERM"].iter().enumerate() {
        let mut child = spawn(&d, &follow, &[], &format!("restart{i}"));
        let pid = u64::from(child.id());
        wait_for(
            &d,
            "running v1",
            || {},
            |s| s["pid"] == pid && active_version(s) == Some(1),
        );
        send_signal(&child, signal);
        let status = wait_exit(&mut child);
        assert!(
            status.success(),
            "SIGTERM/SIGINT is a clean stop: {status:?}\n{}",
            stderr_of(&d)
        );
        let s = status_of_final(&d);
        assert_eq!(s["running"], false, "the final status is written");
    }
    // Three kills while idle (no input): not crashes either.
    for i in 0..3 {
        let mut child = spawn(&d, &follow, &[], &format!("idlekill{i}"));
        let pid = u64::from(child.id());
        wait_for(
            &d,
            "running v1",
            || {},
            |s| s["pid"] == pid && active_version(s) == Some(1),
        );
        // Idle once the run entry of this start is marked clean in the state.
        let start = Instant::now();
        loop {
            let st = state_json(&d);
            let runs = st["runs"].as_array().cloned().unwrap_or_default();
            if runs.len() >= 4 + i && runs.last().is_some_and(|r| r["clean"] == true) {
                break;
            }
            assert!(start.elapsed() < DEADLINE, "never idle: {st}");
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill().expect("kill -9");
        let _ = child.wait();
    }
    // The bundle still runs: every event is evaluated, nothing is quarantined.
    let ev = events_file(&d, "sample.jsonl", 3, "rare.exe");
    let mut child = spawn(&d, &[&ev], &[], "after");
    assert!(wait_exit(&mut child).success(), "{}", stderr_of(&d));
    let s = status(&d).expect("status");
    assert_eq!(active_version(&s), Some(1), "{s}");
    assert!(s["quarantine"].as_array().is_some_and(Vec::is_empty), "{s}");
    assert_eq!(s["events"]["evaluated"], 3, "{s}");
    assert_eq!(s["alerts"]["total"], 3, "{s}");
    let _ = fs::remove_dir_all(&d.root);
}

fn status_of_final(d: &Dirs) -> Value {
    status(d).expect("status")
}

#[test]
fn a_quarantined_only_bundle_keeps_running_and_says_so() {
    let d = dirs("keepalone");
    drop_bundle(&d, "v1.vglb", &bundle(QUIET, 1, "rules-v1"));
    let ev = events_file(&d, "ev.jsonl", 2, "rare.exe");
    // It crashes right after activation, three times: the breaker quarantines it, but there
    // is no last known good bundle to fall back to.
    for i in 0..3 {
        let mut child = spawn(
            &d,
            &[&ev],
            &[("VIGIL_AGENT_ABORT_AFTER_ACTIVATE", "rules-v1")],
            &format!("crash{i}"),
        );
        assert!(!wait_exit(&mut child).success());
    }
    let mut child = spawn(&d, &[&ev], &[], "after");
    let code = wait_exit(&mut child);
    let s = status(&d).expect("status");
    assert_eq!(active_version(&s), Some(1), "not blind: {s}");
    assert_eq!(s["events"]["evaluated"], 2, "{s}");
    assert_eq!(s["quarantine"].as_array().map(Vec::len), Some(1), "{s}");
    assert!(s["degraded"].is_string(), "the status says it: {s}");
    assert_eq!(s["blind"], false);
    assert_eq!(code.code(), Some(3), "a non-zero exit says it too");
    let err = file_of(&d, "after", "stderr");
    assert!(err.contains("degraded"), "stderr says it: {err}");
    // Nothing to restore, and the folder holds only the quarantined bundle: kept too.
    fs::remove_file(d.state.join("active.vglb")).expect("rm");
    let mut child = spawn(&d, &[&ev], &[], "folder");
    let code = wait_exit(&mut child);
    let s = status(&d).expect("status");
    assert_eq!(active_version(&s), Some(1), "not blind: {s}");
    assert_eq!(s["events"]["evaluated"], 2, "{s}");
    assert!(s["degraded"].is_string(), "{s}");
    assert_eq!(code.code(), Some(3));
    let _ = fs::remove_dir_all(&d.root);
}

#[test]
fn running_blind_is_never_silent() {
    let d = dirs("blind");
    // No bundle at all: every event is dropped (E0811), and the agent says so.
    let ev = events_file(&d, "ev.jsonl", 4, "rare.exe");
    let mut child = spawn(&d, &[&ev], &[], "blind");
    let code = wait_exit(&mut child);
    let s = status(&d).expect("status");
    assert_eq!(s["events"]["dropped"]["E0811"], 4, "{s}");
    assert_eq!(s["blind"], true, "{s}");
    assert_eq!(code.code(), Some(3));
    let err = file_of(&d, "blind", "stderr");
    assert!(err.contains("E0811"), "stderr says it: {err}");
    let _ = fs::remove_dir_all(&d.root);
}

#[test]
fn a_downgrade_copied_into_the_state_folder_is_not_restored() {
    let d = dirs("statedowngrade");
    drop_bundle(&d, "v1.vglb", &bundle(QUIET, 1, "rules-v1"));
    let ev = events_file(&d, "ev.jsonl", 3, "a.exe");
    let mut child = spawn(&d, &[&ev], &[], "run1");
    assert!(wait_exit(&mut child).success(), "{}", stderr_of(&d));
    // v2 is promoted: active v2, last known good v1.
    drop_bundle(&d, "v2.vglb", &bundle(QUIET_V2, 2, "rules-v2"));
    let mut child = spawn(&d, &["--promote-after-events", "1", &ev], &[], "run2");
    assert!(wait_exit(&mut child).success(), "{}", stderr_of(&d));
    let s = status(&d).expect("status");
    assert_eq!(active_version(&s), Some(2), "{s}");
    assert_eq!(s["lkg"]["content_version"], 1, "{s}");
    // An older, validly signed bundle copied over the active one.
    fs::remove_file(d.bundles.join("v1.vglb")).expect("rm");
    fs::remove_file(d.bundles.join("v2.vglb")).expect("rm");
    fs::write(
        d.state.join("active.vglb"),
        bundle(NOISY, 1, "rules-old-noisy"),
    )
    .expect("copy");
    let mut child = spawn(&d, &[&ev], &[], "run3");
    wait_exit(&mut child);
    let s = status(&d).expect("status");
    assert_eq!(
        s["active"]["bundle_id"], "rules-v1",
        "the last known good runs, not the copied downgrade: {s}"
    );
    assert_eq!(refused(&s, "E0801"), 1, "{s}");
    assert_eq!(s["highest_version"], 2);
    let _ = fs::remove_dir_all(&d.root);
}

#[test]
fn the_state_folder_is_the_agents_alone() {
    use std::os::unix::fs::PermissionsExt;
    let d = dirs("statemode");
    let ev = events_file(&d, "ev.jsonl", 1, "a.exe");
    // A missing state folder is created with mode 0700.
    let mut child = spawn(&d, &[&ev], &[], "create");
    wait_exit(&mut child);
    let mode = fs::metadata(&d.state)
        .expect("created")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700, "{mode:o}");
    // One that others may write is refused.
    fs::set_permissions(&d.state, fs::Permissions::from_mode(0o777)).expect("chmod");
    let mut child = spawn(&d, &[&ev], &[], "open");
    let code = wait_exit(&mut child);
    assert!(!code.success());
    let err = file_of(&d, "open", "stderr");
    assert!(err.contains("E0816"), "{err}");
    let _ = fs::remove_dir_all(&d.root);
}

#[test]
fn follow_survives_rename_and_copytruncate_rotation_and_resumes_after_restart() {
    let d = dirs("rotate");
    drop_bundle(&d, "v1.vglb", &bundle(QUIET, 1, "rules-v1"));
    let args = [
        "--follow",
        d.events.to_str().expect("utf-8 path"),
        "--stop-file",
        d.stop.to_str().expect("utf-8 path"),
    ];
    let mut child = spawn(&d, &args, &[], "first");
    wait_for(&d, "v1 active", || {}, |s| active_version(s) == Some(1));
    append_events(&d, 2, "rare.exe");
    wait_for(&d, "2 alerts", || {}, |s| s["alerts"]["total"] == 2);
    // Rename rotation: the old file's last line has no newline yet; the new file grows past
    // the old offset.
    {
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(&d.events)
            .expect("events file");
        f.write_all(event_line("rare.exe").trim_end().as_bytes())
            .expect("append");
    }
    fs::rename(&d.events, d.root.join("events.jsonl.1")).expect("mv");
    append_events_new(&d, 5, "rare.exe");
    wait_for(&d, "8 alerts", || {}, |s| s["alerts"]["total"] == 8);
    // Copytruncate: the file is emptied in place and written again, shorter.
    fs::write(&d.events, event_line("rare.exe")).expect("truncate");
    wait_for(&d, "9 alerts", || {}, |s| s["alerts"]["total"] == 9);
    append_events(&d, 1, "a.exe");
    wait_for(&d, "10 events", || {}, |s| s["events"]["evaluated"] == 10);
    fs::write(&d.stop, b"").expect("stop");
    assert!(wait_exit(&mut child).success(), "{}", stderr_of(&d));
    // A restart resumes after the last line: nothing is read twice.
    let _ = fs::remove_file(&d.stop);
    let mut child = spawn(&d, &args, &[], "second");
    let pid = u64::from(child.id());
    append_events(&d, 1, "rare.exe");
    let s = wait_for(
        &d,
        "the new alert",
        || {},
        |s| s["pid"] == pid && s["alerts"]["total"] == 1,
    );
    assert_eq!(s["events"]["evaluated"], 1, "lines read again: {s}");
    fs::write(&d.stop, b"").expect("stop");
    assert!(wait_exit(&mut child).success());
    let out = file_of(&d, "second", "stdout");
    assert_eq!(out.lines().count(), 1, "{out}");
    let _ = fs::remove_dir_all(&d.root);
}

/// Creates the events file anew (after a rename) with `n` lines.
fn append_events_new(d: &Dirs, n: usize, image: &str) {
    let text: String = (0..n).map(|_| event_line(image)).collect();
    fs::write(&d.events, text).expect("new events file");
}

#[test]
fn stdout_closed_exits_non_zero_and_counts_the_lost_alerts() {
    use std::io::{BufRead, BufReader};
    let d = dirs("stdout");
    drop_bundle(&d, "v1.vglb", &bundle(QUIET, 1, "rules-v1"));
    let ev = events_file(&d, "ev.jsonl", 20_000, "rare.exe");
    let mut child = vigil()
        .arg("agent")
        .arg("--bundles")
        .arg(&d.bundles)
        .arg("--state")
        .arg(&d.state)
        .arg("--pubkey")
        .arg(&d.pubkey)
        .arg(&ev)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(fs::File::create(d.root.join("pipe.stderr")).expect("stderr file"))
        .spawn()
        .expect("spawns");
    // `| head -1`
    let mut first = String::new();
    {
        let out = child.stdout.take().expect("stdout");
        let mut reader = BufReader::new(out);
        reader.read_line(&mut first).expect("one line");
    }
    assert!(first.contains("\"rule\":\"rare\""), "{first}");
    let code = wait_exit(&mut child);
    assert!(!code.success(), "exit 0 with stdout closed");
    let err = file_of(&d, "pipe", "stderr");
    assert!(err.contains("stdout was closed"), "{err}");
    let s = status(&d).expect("status");
    assert!(s["alerts_lost"].as_u64() > Some(0), "{s}");
    let _ = fs::remove_dir_all(&d.root);
}

#[test]
fn huge_and_special_bundle_files_are_refused_unread_and_named() {
    let d = dirs("hugebundle");
    drop_bundle(&d, "v1.vglb", &bundle(QUIET, 1, "rules-v1"));
    // A sparse file larger than any bundle can be, and a FIFO (reading it would block).
    let huge = fs::File::create(d.bundles.join("huge.vglb")).expect("create");
    huge.set_len((256 << 20) + (1 << 20)).expect("set_len");
    drop(huge);
    let fifo = Command::new("mkfifo")
        .arg(d.bundles.join("pipe.vglb"))
        .status()
        .expect("mkfifo");
    assert!(fifo.success());
    let ev = events_file(&d, "ev.jsonl", 1, "rare.exe");
    let mut child = spawn(&d, &[&ev], &[], "run");
    assert!(wait_exit(&mut child).success(), "{}", stderr_of(&d));
    let s = status(&d).expect("status");
    assert_eq!(active_version(&s), Some(1), "{s}");
    assert_eq!(refused(&s, "E0814"), 2, "{s}");
    let log = s["log"].to_string();
    assert!(
        log.contains("huge.vglb") && log.contains("pipe.vglb"),
        "{log}"
    );
    let err = file_of(&d, "run", "stderr");
    assert!(err.contains("huge.vglb"), "{err}");
    let _ = fs::remove_dir_all(&d.root);
}

#[test]
fn a_line_over_16_mib_is_one_dropped_line_and_later_lines_keep_their_numbers() {
    let d = dirs("longline");
    drop_bundle(&d, "v1.vglb", &bundle(QUIET, 1, "rules-v1"));
    let path = d.root.join("ev.jsonl");
    let mut text = event_line("a.exe").into_bytes();
    text.extend(std::iter::repeat_n(b'x', (16 << 20) + 10));
    text.push(b'\n');
    text.extend_from_slice(event_line("rare.exe").as_bytes());
    fs::write(&path, text).expect("events");
    let mut child = spawn(&d, &[path.to_str().expect("utf-8 path")], &[], "run");
    assert!(wait_exit(&mut child).success(), "{}", stderr_of(&d));
    let s = status(&d).expect("status");
    assert_eq!(s["events"]["received"], 3, "{s}");
    assert_eq!(s["events"]["evaluated"], 2, "{s}");
    assert_eq!(s["events"]["dropped"]["E0815"], 1, "{s}");
    assert!(balanced(&s));
    let out = file_of(&d, "run", "stdout");
    let alert: Value = serde_json::from_str(out.lines().next().expect("an alert")).expect("json");
    assert_eq!(alert["source"]["line"], 3, "{alert}");
    let err = file_of(&d, "run", "stderr");
    assert!(err.contains("line longer than 16 MiB"), "{err}");
    let _ = fs::remove_dir_all(&d.root);
}

#[test]
fn a_full_disk_during_an_update_leaves_the_state_folder_consistent() {
    let d = dirs("fulldisk");
    drop_bundle(&d, "v1.vglb", &bundle(QUIET, 1, "rules-v1"));
    let ev = events_file(&d, "ev.jsonl", 3, "a.exe");
    let mut child = spawn(&d, &[&ev], &[], "run1");
    assert!(wait_exit(&mut child).success(), "{}", stderr_of(&d));
    // v2 is promoted while writing `lkg.vglb` fails (a full disk).
    drop_bundle(&d, "v2.vglb", &bundle(QUIET_V2, 2, "rules-v2"));
    let mut child = spawn(
        &d,
        &["--promote-after-events", "1", &ev],
        &[("VIGIL_AGENT_FAIL_STATE_WRITES_OF", "lkg.vglb")],
        "run2",
    );
    wait_exit(&mut child);
    let s = status(&d).expect("status");
    assert!(
        s["state_errors"].as_u64() > Some(0),
        "the failure is counted: {s}"
    );
    // Whatever state.json names is on disk, byte for byte.
    let st = state_json(&d);
    assert_eq!(
        st["active"]["sha256"].as_str().map(str::to_string),
        sha_of(&d.state.join("active.vglb")),
        "{st}"
    );
    if !st["lkg"].is_null() {
        assert_eq!(
            st["lkg"]["sha256"].as_str().map(str::to_string),
            sha_of(&d.state.join("lkg.vglb")),
            "{st}"
        );
    }
    // A restart runs what the record names, at or above the recorded version.
    fs::remove_file(d.bundles.join("v2.vglb")).expect("rm");
    let mut child = spawn(&d, &[&ev], &[], "run3");
    assert!(wait_exit(&mut child).success(), "{}", stderr_of(&d));
    let s = status(&d).expect("status");
    let highest = s["highest_version"].as_u64();
    assert!(
        active_version(&s) >= highest.filter(|_| st["lkg"].is_null()),
        "{s}"
    );
    let _ = fs::remove_dir_all(&d.root);
}

#[test]
fn a_bundle_replaced_with_the_same_size_and_mtime_is_noticed() {
    let d = dirs("samestamp");
    // Same rules, another version and id of the same length: the same size.
    let a = bundle(QUIET, 1, "rules-aaa");
    let b = bundle(QUIET, 2, "rules-bbb");
    assert_eq!(a.len(), b.len());
    let path = d.bundles.join("rules.vglb");
    fs::write(&path, &a).expect("write");
    let mtime = fs::metadata(&path)
        .and_then(|m| m.modified())
        .expect("mtime");
    let args = [
        "--follow",
        d.events.to_str().expect("utf-8 path"),
        "--stop-file",
        d.stop.to_str().expect("utf-8 path"),
        "--promote-after-events",
        "1",
    ];
    let mut child = spawn(&d, &args, &[], "run");
    wait_for(&d, "v1 active", || {}, |s| active_version(s) == Some(1));
    // `cp -p`: other bytes, same size, same modification time.
    fs::write(&path, &b).expect("overwrite");
    fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(mtime))
        .expect("set mtime");
    wait_for(
        &d,
        "v2 noticed and promoted",
        || append_events(&d, 1, "a.exe"),
        |s| active_version(s) == Some(2),
    );
    fs::write(&d.stop, b"").expect("stop");
    assert!(wait_exit(&mut child).success());
    let _ = fs::remove_dir_all(&d.root);
}

#[test]
fn a_missing_bundles_folder_is_an_error() {
    let d = dirs("nobundles");
    fs::remove_dir_all(&d.bundles).expect("rm");
    let ev = events_file(&d, "ev.jsonl", 1, "a.exe");
    let mut child = spawn(&d, &[&ev], &[], "run");
    let code = wait_exit(&mut child);
    assert_eq!(code.code(), Some(2), "{}", stderr_of(&d));
    let err = file_of(&d, "run", "stderr");
    assert!(err.contains("--bundles"), "{err}");
    let _ = fs::remove_dir_all(&d.root);
}

#[test]
fn a_bundle_that_expires_while_running_is_handled_and_never_leaves_the_agent_blind() {
    let d = dirs("expires");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.as_secs());
    let mut sources = Sources::with_stdlib();
    sources.add("rules.vgl", QUIET);
    let compiled = compile(
        &sources,
        &Schema::endpoint(),
        &Options::default(),
        &Budget::default(),
    )
    .unwrap_or_else(|e| panic!("compiles: {e:?}"));
    let header = HeaderInput {
        content_version: 1,
        bundle_id: "rules-expiring".into(),
        expires_unix: Some(now + 3),
        ..HeaderInput::default()
    };
    let bytes =
        encode(compiled.program(), None, &header, Some(key().signing_key())).expect("encodes");
    drop_bundle(&d, "v1.vglb", &bytes);
    let args = [
        "--follow",
        d.events.to_str().expect("utf-8 path"),
        "--stop-file",
        d.stop.to_str().expect("utf-8 path"),
    ];
    let mut child = spawn(&d, &args, &[], "run");
    wait_for(&d, "v1 active", || {}, |s| active_version(s) == Some(1));
    let s = wait_for(&d, "expiry noticed", || {}, |s| s["degraded"].is_string());
    assert_eq!(
        active_version(&s),
        Some(1),
        "kept, for want of another: {s}"
    );
    append_events(&d, 1, "rare.exe");
    wait_for(
        &d,
        "still evaluating",
        || {},
        |s| s["events"]["evaluated"] == 1,
    );
    fs::write(&d.stop, b"").expect("stop");
    assert_eq!(wait_exit(&mut child).code(), Some(3));
    let _ = fs::remove_dir_all(&d.root);
}
