//! `vigil agent --source ebpf` for real: the agent loads the eBPF sensor into the running
//! kernel, the test does real things (runs a renamed copy of `/bin/true` with marker
//! arguments, an `sh -c` pipe, a program it writes and compiles, a TCP connection to its own
//! listener, files created, renamed and deleted in a temporary folder) and checks the alerts'
//! exact fields: pids, parent pid, images, command lines, parent image and command line,
//! ports, paths. Then: the final accounting of `status.json` (`produced = received + lost`,
//! `received = evaluated + dropped`), the programs gone from the kernel after the agent exits,
//! the binding refusal of a bundle that reads a field the sensor does not fill (the agent keeps
//! its bundle and still alerts), the coded start errors (not root, no BTF), and a flood on the
//! smallest ring buffer, stopped while it is read: loss is counted, never silent.
//!
//! These tests need root, kernel BTF and a `vigil` built with its BPF programs (clang and
//! bpftool at build time). Without them each test prints one line saying why and returns,
//! unless `VIGIL_REQUIRE_EBPF=1` (set by `.ci/run`), which turns the skip into a failure.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{
    active_version, bundle, dirs, drop_bundle, refused, send_signal, spawn, status, stderr_of,
    wait_exit, wait_for, Dirs, DEADLINE,
};

/// Why this machine cannot run the live tests, if it cannot.
fn unsupported() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return Some("not Linux".into());
    }
    let uid = fs::read_to_string("/proc/self/status").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2).map(str::to_owned))
    });
    if uid.as_deref() != Some("0") {
        return Some("not running as root".into());
    }
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        return Some("the kernel has no BTF (/sys/kernel/btf/vmlinux)".into());
    }
    None
}

/// True when the test can go on; otherwise prints why and fails under `VIGIL_REQUIRE_EBPF=1`.
fn ready(test: &str) -> bool {
    let Some(why) = unsupported() else {
        return true;
    };
    assert!(
        std::env::var("VIGIL_REQUIRE_EBPF").as_deref() != Ok("1"),
        "{test}: VIGIL_REQUIRE_EBPF=1 but the eBPF sensor cannot run here: {why}"
    );
    eprintln!("skipping {test}: the eBPF sensor cannot run here: {why}");
    false
}

/// The agent's alerts so far.
fn alerts(d: &Dirs, tag: &str) -> Vec<Value> {
    fs::read_to_string(d.root.join(format!("{tag}.stdout")))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Waits for an alert of `rule` whose fields satisfy `pred`, and returns its fields.
fn wait_alert(d: &Dirs, tag: &str, rule: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        if let Some(a) = alerts(d, tag)
            .into_iter()
            .find(|a| a["rule"] == rule && pred(&a["fields"]))
        {
            return a["fields"].clone();
        }
        assert!(
            start.elapsed() < DEADLINE,
            "no alert of `{rule}` came; alerts: {:?}\nstderr: {}",
            alerts(d, tag)
                .iter()
                .map(|a| a["fields"].to_string())
                .collect::<Vec<_>>(),
            stderr_of(d)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts the agent on the eBPF source and waits until the bundle runs and the sensor is
/// attached. `None` when this `vigil` has no BPF programs (skipped, or failed under
/// `VIGIL_REQUIRE_EBPF=1`).
fn start(d: &Dirs, tag: &str) -> Option<std::process::Child> {
    start_with(d, tag, &[])
}

/// [`start`] with more arguments for the agent.
fn start_with(d: &Dirs, tag: &str, extra: &[&str]) -> Option<std::process::Child> {
    let mut args = vec!["--source", "ebpf"];
    args.extend_from_slice(extra);
    let mut child = spawn(d, &args, &[], tag);
    let begin = Instant::now();
    loop {
        if status(d).is_some_and(|s| s["source"]["name"] == "ebpf" && active_version(&s).is_some())
        {
            return Some(child);
        }
        if let Some(exit) = child.try_wait().expect("try_wait") {
            let err = stderr_of(d);
            if built_without_bpf(tag, &err) {
                return None;
            }
            panic!("the agent exited ({exit}) before the sensor ran: {err}");
        }
        assert!(
            begin.elapsed() < DEADLINE,
            "the sensor did not start: {}",
            stderr_of(d)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A count of `status.json`.
fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("a count: {v}"))
}

/// The final status's `source`, checked: every record the kernel side tried to write was read
/// or counted lost, every record read was evaluated or dropped under a code, none in flight.
fn accounted(s: &Value) -> Value {
    let src = s["source"].clone();
    let dropped: u64 = src["dropped"]
        .as_object()
        .map(|m| m.values().map(count).sum())
        .unwrap_or(0);
    assert_eq!(
        count(&src["produced"]),
        count(&src["received"]) + count(&src["lost"]),
        "{src}"
    );
    assert_eq!(
        count(&src["received"]),
        count(&src["evaluated"]) + dropped,
        "{src}"
    );
    assert_eq!(count(&src["in_flight"]), 0, "{src}");
    src
}

/// True (after saying so) when `stderr` is the refusal of a `vigil` built without its BPF
/// programs; fails instead under `VIGIL_REQUIRE_EBPF=1`.
fn built_without_bpf(test: &str, stderr: &str) -> bool {
    if !stderr.contains("E1001") {
        return false;
    }
    assert!(
        std::env::var("VIGIL_REQUIRE_EBPF").as_deref() != Ok("1"),
        "{test}: VIGIL_REQUIRE_EBPF=1 but this vigil has no BPF programs: {stderr}"
    );
    eprintln!("skipping {test}: this vigil was built without its BPF programs: {stderr}");
    true
}

/// The ids of the BPF programs the process `pid` holds (from its fd info).
fn prog_ids(pid: u32) -> BTreeSet<u64> {
    let mut ids = BTreeSet::new();
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return ids;
    };
    for e in entries.flatten() {
        let text = fs::read_to_string(e.path()).unwrap_or_default();
        for line in text.lines() {
            if let Some(id) = line.strip_prefix("prog_id:") {
                if let Ok(id) = id.trim().parse() {
                    ids.insert(id);
                }
            }
        }
    }
    ids
}

/// Whether the kernel still has BPF program `id`.
fn prog_exists(id: u64) -> bool {
    Command::new("bpftool")
        .args(["prog", "show", "id", &id.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn canonical(p: &Path) -> String {
    fs::canonicalize(p)
        .unwrap_or_else(|e| panic!("canonicalize {}: {e}", p.display()))
        .display()
        .to_string()
}

/// The first program named `name` on PATH, resolved as the kernel resolves an exec.
fn which(name: &str) -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .map(|p| canonical(&p))
        .unwrap_or_else(|| panic!("`{name}` is not on PATH"))
}

/// A C program that creates the file `argv[1]` and connects to 127.0.0.1:`argv[2]`.
const PROGRAM_C: &str = r#"
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int f = open(argv[1], O_CREAT | O_WRONLY | O_TRUNC, 0600);
    if (f < 0 || write(f, "x", 1) != 1) return 3;
    close(f);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)atoi(argv[2]));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) return 4;
    close(s);
    return 0;
}
"#;

#[test]
fn live_processes_connections_and_files_raise_alerts_with_their_exact_fields() {
    const TEST: &str = "live_processes_connections_and_files";
    if !ready(TEST) {
        return;
    }
    let d = dirs("live-ebpf");
    let me = std::process::id();
    let my_exe = canonical(Path::new("/proc/self/exe"));
    let tmp = PathBuf::from(canonical(&d.root));
    let mark = format!("vigil-live-mark-{me}");
    let pipe_mark = format!("vigil-live-pipe-{me}");
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("addr").port();
    let true_copy = tmp.join("renamed-true");
    fs::copy("/bin/true", &true_copy).expect("copy /bin/true");
    let program = tmp.join("vigil-live-prog");
    let source = tmp.join("prog.c");
    fs::write(&source, PROGRAM_C).expect("write the C program");
    let cc = Command::new("cc")
        .arg("-O1")
        .arg("-o")
        .arg(&program)
        .arg(&source)
        .status()
        .expect("runs cc");
    assert!(cc.success(), "cc compiles the test program");
    let files = tmp.join("files");
    fs::create_dir_all(&files).expect("files dir");
    let files_s = files.display().to_string();
    let prog_s = program.display().to_string();

    // The rules read only fields the sensor fills; they are compiled against `endpoint`, the
    // default schema, and bind to the sensor's profile.
    let rules = format!(
        r#"
rule marker_exec {{
    on process_start
    when command_line contains "{mark}"
    fields [pid, ppid, image, command_line, args, parent_image, parent_command_line, user, current_directory, process_guid, parent_process_guid]
}}
rule pipe_child {{
    on process_start
    when parent_command_line contains "{pipe_mark}" and basename(image) == "cat"
    fields [pid, ppid, image, command_line, parent_image, parent_command_line]
}}
rule program_exec {{
    on process_start
    when image == "{prog_s}"
    fields [pid, ppid, image, command_line, parent_image]
}}
rule file_created {{
    on file_create
    when target_filename startswith "{files_s}/"
    fields [pid, image, user, target_filename]
}}
rule file_renamed {{
    on file_rename
    when target_filename startswith "{files_s}/"
    fields [pid, image, source_filename, target_filename]
}}
rule file_deleted {{
    on file_delete
    when target_filename startswith "{files_s}/"
    fields [pid, image, target_filename]
}}
rule connection {{
    on network_connect
    when dest_port == {port} or source_port == {port}
    fields [pid, image, protocol, initiated, source_ip, source_port, dest_ip, dest_port]
}}
"#
    );
    drop_bundle(&d, "live.vglb", &bundle(&rules, 1, "live"));
    let Some(mut agent) = start(&d, "live") else {
        return;
    };
    let agent_pid = agent.id();
    let programs = prog_ids(agent_pid);
    assert!(
        programs.len() >= 2,
        "the agent holds its BPF programs: {programs:?}"
    );

    // A renamed copy of /bin/true with marker arguments.
    let mut child = Command::new(&true_copy)
        .arg(&mark)
        .arg("two words")
        .current_dir(&tmp)
        .spawn()
        .expect("runs the renamed true");
    let true_pid = child.id();
    assert!(child.wait().expect("waits").success());
    let a = wait_alert(&d, "live", "marker_exec", |f| f["pid"] == true_pid);
    assert_eq!(a["ppid"], me);
    assert_eq!(a["image"], true_copy.display().to_string());
    assert_eq!(
        a["command_line"],
        format!("{} {mark} two words", true_copy.display())
    );
    assert_eq!(
        a["args"],
        serde_json::json!([true_copy.display().to_string(), mark, "two words"])
    );
    assert_eq!(a["parent_image"], my_exe);
    assert_eq!(a["user"], "root");
    assert_eq!(a["current_directory"], tmp.display().to_string());
    let guid = a["process_guid"].as_str().expect("guid");
    assert!(
        guid.len() == 38 && guid.starts_with('{') && guid.ends_with('}'),
        "{guid}"
    );
    assert_ne!(a["process_guid"], a["parent_process_guid"]);

    // An `sh -c` pipe: `cat` is the shell's child.
    let script = format!("echo {pipe_mark} | cat");
    let sh = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .stdout(Stdio::null())
        .spawn()
        .expect("runs sh");
    let sh_pid = sh.id();
    assert!(sh.wait_with_output().expect("waits").status.success());
    let a = wait_alert(&d, "live", "pipe_child", |f| f["ppid"] == sh_pid);
    assert_eq!(a["image"], which("cat"));
    assert_eq!(a["command_line"], "cat");
    assert_eq!(a["parent_image"], which("sh"));
    assert_eq!(a["parent_command_line"], format!("sh -c {script}"));

    // A program the test wrote: it creates a file and connects to the listener.
    let made = files.join("made-by-program");
    let mut prog = Command::new(&program)
        .arg(&made)
        .arg(port.to_string())
        .spawn()
        .expect("runs the program");
    let prog_pid = prog.id();
    let (peer, _) = listener.accept().expect("accepts the program");
    drop(peer);
    assert!(prog.wait().expect("waits").success());
    let a = wait_alert(&d, "live", "program_exec", |f| f["pid"] == prog_pid);
    assert_eq!(a["ppid"], me);
    assert_eq!(a["parent_image"], my_exe);
    assert_eq!(
        a["command_line"],
        format!("{prog_s} {} {port}", made.display())
    );
    let a = wait_alert(&d, "live", "file_created", |f| f["pid"] == prog_pid);
    assert_eq!(a["image"], prog_s);
    assert_eq!(a["target_filename"], made.display().to_string());
    let a = wait_alert(&d, "live", "connection", |f| f["pid"] == prog_pid);
    assert_eq!(a["image"], prog_s);
    assert_eq!(a["initiated"], true);
    assert_eq!(a["dest_port"], port);
    assert_eq!(a["dest_ip"], "127.0.0.1");

    // A TCP connection of the test itself: its connect and its accept.
    let client = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    let client_port = client.local_addr().expect("local").port();
    let (mut server, _) = listener.accept().expect("accepts");
    let a = wait_alert(&d, "live", "connection", |f| {
        f["initiated"] == true && f["source_port"] == client_port
    });
    assert_eq!(a["pid"], me);
    assert_eq!(a["image"], my_exe);
    assert_eq!(a["protocol"], "tcp");
    assert_eq!(a["source_ip"], "127.0.0.1");
    assert_eq!(a["dest_port"], port);
    let a = wait_alert(&d, "live", "connection", |f| {
        f["initiated"] == false && f["dest_port"] == client_port
    });
    assert_eq!(a["pid"], me);
    assert_eq!(a["source_port"], port);
    drop(client);
    let _ = server.read(&mut [0u8; 1]);

    // Files of the test itself: created, renamed, deleted.
    let first = files.join("first.txt");
    let second = files.join("second.txt");
    fs::File::create(&first)
        .and_then(|mut f| f.write_all(b"x"))
        .expect("creates");
    fs::rename(&first, &second).expect("renames");
    fs::remove_file(&second).expect("deletes");
    let a = wait_alert(&d, "live", "file_created", |f| {
        f["target_filename"] == first.display().to_string()
    });
    assert_eq!(a["pid"], me);
    assert_eq!(a["image"], my_exe);
    assert_eq!(a["user"], "root");
    let a = wait_alert(&d, "live", "file_renamed", |f| f["pid"] == me);
    assert_eq!(a["source_filename"], first.display().to_string());
    assert_eq!(a["target_filename"], second.display().to_string());
    let a = wait_alert(&d, "live", "file_deleted", |f| f["pid"] == me);
    assert_eq!(a["target_filename"], second.display().to_string());

    // A clean stop: the ring buffer drained, every record accounted for, the programs gone.
    send_signal(&agent, "TERM");
    let exit = wait_exit(&mut agent);
    assert!(exit.success(), "{exit}: {}", stderr_of(&d));
    let s = status(&d).expect("final status");
    assert_eq!(s["running"], false);
    let src = accounted(&s);
    assert!(count(&src["received"]) > 0, "{src}");
    assert_eq!(src["detail"]["detached"], true, "{src}");
    assert_eq!(src["detail"]["untracked"], 0, "{src}");
    for id in programs {
        assert!(
            !prog_exists(id),
            "BPF program {id} is still loaded after the agent exited"
        );
    }
}

#[test]
fn a_bundle_reading_a_field_the_sensor_lacks_is_refused_and_the_agent_keeps_its_bundle() {
    const TEST: &str = "live_binding_refusal";
    if !ready(TEST) {
        return;
    }
    let d = dirs("live-bind");
    let mark = format!("vigil-live-bind-{}", std::process::id());
    let good = format!(
        "rule marker {{ on process_start when command_line contains \"{mark}\" fields [pid] }}"
    );
    drop_bundle(&d, "v1.vglb", &bundle(&good, 1, "bind"));
    let Some(mut agent) = start(&d, "bind") else {
        return;
    };
    // Version 2 reads `integrity_level`: `endpoint` has it, the sensor does not fill it.
    let bad =
        format!("{good}\nrule elevated {{ on process_start when integrity_level == \"High\" }}");
    drop_bundle(&d, "v2.vglb", &bundle(&bad, 2, "bind"));
    let s = wait_for(
        &d,
        "the binding refusal",
        || {},
        |s| refused(s, "E0623") == 1,
    );
    assert_eq!(active_version(&s), Some(1), "the agent keeps version 1");
    let log = stderr_of(&d);
    assert!(
        log.contains("E0623") && log.contains("elevated") && log.contains("integrity_level"),
        "the refusal names the rule and the field: {log}"
    );
    // Still running version 1 on live events.
    let mut child = Command::new("/bin/true")
        .arg(&mark)
        .spawn()
        .expect("runs true");
    let pid = child.id();
    assert!(child.wait().expect("waits").success());
    wait_alert(&d, "bind", "marker", |f| f["pid"] == pid);
    send_signal(&agent, "TERM");
    assert!(wait_exit(&mut agent).success(), "{}", stderr_of(&d));
}

#[test]
fn the_sensor_refuses_to_start_without_root_or_btf_with_a_coded_error() {
    const TEST: &str = "live_start_errors";
    if !ready(TEST) {
        return;
    }
    let d = dirs("live-errors");
    drop_bundle(
        &d,
        "v1.vglb",
        &bundle("rule r { on process_start when pid == 1 }", 1, "err"),
    );
    let run = |prefix: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(prefix.first().copied().unwrap_or("env"));
        cmd.args(prefix.get(1..).unwrap_or_default())
            .arg(env!("CARGO_BIN_EXE_vigil"))
            .args(["agent", "--source", "ebpf", "--bundles"])
            .arg(&d.bundles)
            .arg("--state")
            .arg(d.root.join("state-err"))
            .arg("--pubkey")
            .arg(&d.pubkey);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("runs vigil")
    };
    let out = run(&["env"], &[("VIGIL_SENSOR_BTF", "/nonexistent/vmlinux")]);
    let err = String::from_utf8_lossy(&out.stderr);
    if built_without_bpf(TEST, &err) {
        return;
    }
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("error[E1003]") && err.contains("/nonexistent/vmlinux"),
        "{err}"
    );

    let out = run(
        &[
            "setpriv",
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("error[E1002]") && err.contains("root"),
        "{err}"
    );
}

#[test]
fn a_flood_is_shed_by_counted_loss_and_a_stop_under_load_accounts_for_every_record() {
    const TEST: &str = "live_flood";
    if !ready(TEST) {
        return;
    }
    let d = dirs("live-flood");
    let tmp = PathBuf::from(canonical(&d.root));
    let flood = tmp.join("flood");
    fs::create_dir_all(&flood).expect("flood dir");
    let rule = format!(
        "rule flood {{ on file_create when target_filename startswith \"{}/\" fields [target_filename] }}",
        flood.display()
    );
    drop_bundle(&d, "v1.vglb", &bundle(&rule, 1, "flood"));
    // The smallest ring buffer: 1 MiB holds about 120 file records.
    let Some(mut agent) = start_with(&d, "flood", &["--ring-mb", "1"]) else {
        return;
    };
    // A burst from four threads, and a stop while it is being read.
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let dir = flood.clone();
            std::thread::spawn(move || {
                for i in 0..5_000 {
                    let p = dir.join(format!("{t}-{i}"));
                    fs::write(&p, b"x").expect("creates");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("burst thread");
    }
    send_signal(&agent, "TERM");
    let exit = wait_exit(&mut agent);
    assert!(exit.success(), "{exit}: {}", stderr_of(&d));
    let src = accounted(&status(&d).expect("final status"));
    assert!(count(&src["produced"]) >= 20_000, "{src}");
    // The alerts are the evaluated creations of the flood: never more than were received.
    let alerts = alerts(&d, "flood").len() as u64;
    assert!(alerts <= count(&src["evaluated"]), "{alerts} alerts, {src}");
    eprintln!(
        "{TEST}: produced {}, lost {}, alerts {alerts}",
        count(&src["produced"]),
        count(&src["lost"])
    );
}
