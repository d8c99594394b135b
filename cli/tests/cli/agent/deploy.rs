//! The agent's deployment life cycle end to end: a good update is promoted, a noisy candidate
//! rejected, bad files refused, a restart comes back with the last known good bundle, the
//! crash-loop breaker quarantines a bundle until the quarantine is lifted; and `vigil diff`.

use super::*;

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
