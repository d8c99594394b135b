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
//!
//! Split by job: [`deploy`] (promotion, rejection, refusals, restarts, the crash-loop breaker,
//! `vigil diff`), [`faults`] (the issue 13 findings: signals, rotation, closed stdout,
//! hostile bundle files, full disks, expiry) and [`live`] (the eBPF sensor in the running
//! kernel, as root). The helpers below spawn the agent and wait on
//! `status.json`.

mod deploy;
mod faults;
mod inputs;
mod live;

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

fn status_of_final(d: &Dirs) -> Value {
    status(d).expect("status")
}

/// Creates the events file anew (after a rename) with `n` lines.
fn append_events_new(d: &Dirs, n: usize, image: &str) {
    let text: String = (0..n).map(|_| event_line(image)).collect();
    fs::write(&d.events, text).expect("new events file");
}
