//! The hostile-input and fault findings of issue 13, one test each: SIGTERM, a quarantined only
//! bundle, running blind, a downgrade in the state folder, the state folder's mode, `--follow`
//! through rotation and restarts, closed stdout, huge and special bundle files, an over-long
//! line, a full disk, a same-size same-mtime replacement, a missing bundles folder, expiry.

use super::*;

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
