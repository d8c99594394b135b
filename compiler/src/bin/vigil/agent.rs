//! `vigil agent`: a reference endpoint agent around [`vigil_runtime::deploy::Deployer`].
//!
//! It restores the active bundle from the state directory (or activates the newest valid
//! bundle in `--bundles`), reads JSON-lines events (files, `-` for stdin, and `--follow` to tail
//! a file that grows), prints alerts as JSON lines on stdout, and watches `--bundles` for new
//! `*.vglb` files: each one is staged as a shadow candidate beside the active bundle and then
//! promoted or rejected by the promotion policy. Whatever lands in the folder (garbage,
//! truncated, tampered, downgraded, schema-incompatible bundles) is refused with a coded reason
//! and counted; it never stops the agent and never replaces the active bundle.
//!
//! Every poll (`--poll-ms`) it writes `STATE/status.json` atomically: the active, candidate and
//! last known good bundles, event accounting (`received = evaluated + sum(dropped)`), alerts
//! per rule, updates accepted and refused by code, the quarantine list and the deployment log.
//! Deployment log lines also go to stderr. It exits (status 0, after a final status write
//! marked `"running": false`) at the end of finite inputs unless `--follow` is given, when
//! `--stop-file` appears, or after `--exit-after-idle-ms` without input.
//!
//! Events are decoded in full (no projection, unlike `vigil run`): the bundle that evaluates
//! them can change between any two events, so the decoder cannot know which fields the next
//! one reads.
//!
//! Test hook: with `VIGIL_AGENT_ABORT_AFTER_ACTIVATE=BUNDLE_ID` in the environment the agent
//! aborts (as a crash would) right after a bundle with that id becomes active, so tests can
//! drive the crash-loop breaker.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use sha2::{Digest, Sha256};
use vigil_runtime::budget::Budget;
use vigil_runtime::bundle::{self, KeyId, TrustStore};
use vigil_runtime::decode::Decoder;
use vigil_runtime::deploy::{
    lift_quarantine_in, DeployOptions, DeployStatus, Deployer, PromotionPolicy, StageOutcome,
    StateDir, UpdateOutcome,
};
use vigil_runtime::hash::to_hex;

use crate::common::{fail, load_schema, make_decoder};
use crate::run::EngineChoice;

/// The status file, in the state directory.
const STATUS_FILE: &str = "status.json";
/// The crash test hook's environment variable.
const ABORT_HOOK: &str = "VIGIL_AGENT_ABORT_AFTER_ACTIVATE";
/// Longest event line read; longer lines are cut (and fail to decode).
const MAX_LINE_BYTES: u64 = 16 << 20;

/// Arguments of `vigil agent`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The folder watched for new `*.vglb` bundles.
    #[arg(long, value_name = "DIR", required_unless_present = "lift_quarantine")]
    bundles: Option<PathBuf>,
    /// The state folder: active and last known good bundles, `state.json`, `status.json`.
    #[arg(long, value_name = "DIR")]
    state: PathBuf,
    /// Trust this public key (a `NAME.pub` file from `vigil keygen`, or its text); repeatable.
    #[arg(long = "pubkey", value_name = "K")]
    pubkey: Vec<String>,
    /// Revoke this key id (16 hex digits); repeatable.
    #[arg(long = "revoke", value_name = "KEYID")]
    revoke: Vec<String>,
    /// Load unsigned bundles too (development only).
    #[arg(long)]
    allow_unsigned: bool,
    /// Accept content versions below the highest accepted (never below a signed minimum).
    #[arg(long)]
    allow_downgrade: bool,
    /// Event files (JSON lines), read in order; `-` reads stdin.
    #[arg(value_name = "EVENTS")]
    events: Vec<PathBuf>,
    /// Tail this file for events as it grows (the agent then runs until stopped).
    #[arg(long, value_name = "FILE")]
    follow: Option<PathBuf>,
    /// Read events through a field mapping: a shipped one by name (`sysmon`) or a TOML file.
    #[arg(long, value_name = "M")]
    mapping: Option<String>,
    /// The host schema file (default: the embedded `endpoint` schema).
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// How often to scan the bundles folder and write the status, in milliseconds.
    #[arg(long, value_name = "N", default_value_t = 200)]
    poll_ms: u64,
    /// Decide on a shadow candidate after this many events.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    promote_after_events: u64,
    /// Decide on a shadow candidate after this many seconds, whatever the event count.
    #[arg(long, value_name = "N")]
    promote_after_secs: Option<u64>,
    /// Reject a candidate with a rule above this many alerts per 1000 events.
    #[arg(long, value_name = "X", default_value_t = 50)]
    max_alert_rate: u64,
    /// Reject a candidate with more than this many times the active bundle's alerts ...
    #[arg(long, value_name = "Y", default_value_t = 2.0)]
    max_alert_ratio: f64,
    /// ... plus this many.
    #[arg(long, value_name = "N", default_value_t = 10)]
    alert_slack: u64,
    /// Quarantine a bundle after this many crashes ...
    #[arg(long, value_name = "K", default_value_t = 3)]
    crash_limit: u32,
    /// ... within this many minutes of running it.
    #[arg(long, value_name = "T", default_value_t = 10)]
    crash_window_mins: u64,
    /// The evaluator.
    #[arg(long, value_enum, default_value_t = EngineChoice::Jit)]
    engine: EngineChoice,
    /// Exit after this many milliseconds without events or new bundles.
    #[arg(long, value_name = "N")]
    exit_after_idle_ms: Option<u64>,
    /// Exit cleanly when this file exists.
    #[arg(long, value_name = "PATH")]
    stop_file: Option<PathBuf>,
    /// Lift the quarantine of the bundle whose SHA-256 starts with SHA (at least 8 hex
    /// digits) in the state folder, and exit.
    #[arg(long, value_name = "SHA")]
    lift_quarantine: Option<String>,
}

/// One input line, or the end of the finite inputs.
enum Msg {
    Line { line: Vec<u8>, file: usize },
    Done,
}

/// What `status.json` holds: the deployer's status and the agent's own.
#[derive(Serialize)]
struct AgentStatus<'a> {
    /// Whether the agent is still running (false in the final write).
    running: bool,
    /// The agent's process id.
    pid: u32,
    /// When this was written.
    time_unix: u64,
    /// Whether the finite inputs are all read.
    inputs_done: bool,
    /// Input lines that were not blank.
    lines: u64,
    #[serde(flatten)]
    deploy: &'a DeployStatus,
}

/// Runs `vigil agent`.
pub(crate) fn run(args: &Args) -> ExitCode {
    if let Some(sha) = &args.lift_quarantine {
        return lift(args, sha);
    }
    match Agent::start(args) {
        Ok(mut agent) => agent.run(),
        Err(e) => fail(&e),
    }
}

fn lift(args: &Args, sha: &str) -> ExitCode {
    let lifted = StateDir::open(&args.state).and_then(|dir| lift_quarantine_in(&dir, sha));
    match lifted {
        Ok(v) if v.is_empty() => fail(&format!(
            "no quarantined bundle's SHA-256 starts with `{sha}`"
        )),
        Ok(v) => {
            for q in v {
                eprintln!(
                    "lifted the quarantine of {} v{} ({})",
                    q.bundle_id, q.content_version, q.sha256
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string()),
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The trust store of `--pubkey`, `--revoke` and `--allow-unsigned`.
fn trust_store(args: &Args) -> Result<TrustStore, String> {
    let mut trust = TrustStore::new();
    trust.allow_unsigned = args.allow_unsigned;
    for k in &args.pubkey {
        let path = Path::new(k);
        let text = if path.is_file() {
            std::fs::read_to_string(path).map_err(|e| format!("cannot read `{k}`: {e}"))?
        } else {
            k.clone()
        };
        let key = bundle::parse_public_key_text(text.trim())
            .map_err(|e| format!("`{k}` is no public key file or key: {e}"))?;
        trust.trust(key);
    }
    for id in &args.revoke {
        let id =
            KeyId::parse(id).ok_or_else(|| format!("`{id}` is not a key id (16 hex digits)"))?;
        trust.revoke(id);
    }
    Ok(trust)
}

/// Reads one line into `buf` (cut at [`MAX_LINE_BYTES`]); 0 at the end.
fn read_line(reader: &mut dyn BufRead, buf: &mut Vec<u8>) -> io::Result<usize> {
    reader.take(MAX_LINE_BYTES).read_until(b'\n', buf)
}

/// Reads the finite inputs in order, then says `Done`.
fn spawn_files(inputs: Vec<PathBuf>, tx: SyncSender<Msg>) {
    std::thread::spawn(move || {
        for (i, path) in inputs.iter().enumerate() {
            let reader: io::Result<Box<dyn BufRead>> = if path.as_os_str() == "-" {
                Ok(Box::new(BufReader::new(io::stdin())))
            } else {
                File::open(path).map(|f| Box::new(BufReader::new(f)) as Box<dyn BufRead>)
            };
            let mut reader = match reader {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("vigil agent: cannot read `{}`: {e}", path.display());
                    continue;
                }
            };
            loop {
                let mut line = Vec::new();
                match read_line(&mut *reader, &mut line) {
                    Ok(0) => break,
                    Ok(_) => {
                        if tx.send(Msg::Line { line, file: i }).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        eprintln!("vigil agent: reading `{}`: {e}", path.display());
                        break;
                    }
                }
            }
        }
        let _ = tx.send(Msg::Done);
    });
}

/// Tails `path`: reads it from its start, then whole lines as they are appended; starts over
/// if the file shrinks; waits for it to exist.
fn spawn_follow(path: PathBuf, file: usize, poll: Duration, tx: SyncSender<Msg>) {
    std::thread::spawn(move || {
        let nap = (poll / 4).max(Duration::from_millis(5));
        let mut reader: Option<(BufReader<File>, u64)> = None;
        let mut partial: Vec<u8> = Vec::new();
        loop {
            let Some((r, pos)) = reader.as_mut() else {
                match File::open(&path) {
                    Ok(f) => reader = Some((BufReader::new(f), 0)),
                    Err(_) => std::thread::sleep(nap),
                }
                continue;
            };
            match read_line(r, &mut partial) {
                Ok(0) => {
                    // At the end: has the file been truncated or replaced?
                    let len = std::fs::metadata(&path).map_or(0, |m| m.len());
                    if len < *pos {
                        partial.clear();
                        if let Ok(f) = File::open(&path) {
                            reader = Some((BufReader::new(f), 0));
                        }
                    } else {
                        std::thread::sleep(nap);
                    }
                }
                Ok(n) => {
                    *pos += n as u64;
                    if partial.last() == Some(&b'\n') || partial.len() as u64 >= MAX_LINE_BYTES {
                        let line = std::mem::take(&mut partial);
                        if tx.send(Msg::Line { line, file }).is_err() {
                            return;
                        }
                    }
                }
                Err(_) => {
                    std::thread::sleep(nap);
                    if let Some((r, pos)) = reader.as_mut() {
                        let _ = r.seek(SeekFrom::Start(*pos));
                    }
                }
            }
        }
    });
}

/// The bundles folder: which files were seen, by length and modification time (a file that
/// changes is looked at again).
struct Watcher {
    dir: PathBuf,
    seen: HashMap<PathBuf, (u64, Option<SystemTime>)>,
}

impl Watcher {
    /// New or changed `*.vglb` files, read, ordered by content version (undecodable first).
    fn changed(&mut self) -> Vec<(PathBuf, Vec<u8>)> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "vglb") || !path.is_file() {
                continue;
            }
            let meta = entry.metadata().ok();
            let stamp = (
                meta.as_ref().map_or(0, std::fs::Metadata::len),
                meta.and_then(|m| m.modified().ok()),
            );
            if self.seen.get(&path) == Some(&stamp) {
                continue;
            }
            self.seen.insert(path.clone(), stamp);
            match std::fs::read(&path) {
                Ok(bytes) => out.push((path, bytes)),
                Err(e) => eprintln!("vigil agent: cannot read `{}`: {e}", path.display()),
            }
        }
        out.sort_by_key(|(path, bytes)| {
            let version = bundle::decode(bytes).map_or(0, |b| b.header.content_version);
            (version, path.clone())
        });
        out
    }
}

struct Agent {
    deployer: Deployer,
    state: StateDir,
    watcher: Watcher,
    decoder: Decoder,
    files: Vec<String>,
    rx: Receiver<Msg>,
    follow: bool,
    poll: Duration,
    idle: Option<Duration>,
    stop_file: Option<PathBuf>,
    abort_on: Option<String>,
    out: BufWriter<io::Stdout>,
    log_seq: u64,
    lines: u64,
    line_no: u64,
    inputs_done: bool,
}

impl Agent {
    fn start(args: &Args) -> Result<Agent, String> {
        let bundles = args
            .bundles
            .clone()
            .ok_or_else(|| "`--bundles DIR` is required".to_string())?;
        let schema = load_schema(args.schema.as_deref())?;
        let trust = trust_store(args)?;
        // Every field is decoded (no projection): the running bundle can change between any
        // two events (update, promotion, rollback), and a projection derived from one bundle
        // would starve the next of the fields only it reads.
        let decoder = make_decoder(args.mapping.as_deref(), &schema, None)?;
        let options = DeployOptions {
            engine: args.engine.kind(),
            allow_downgrade: args.allow_downgrade,
            policy: PromotionPolicy {
                after_events: args.promote_after_events,
                after_secs: args.promote_after_secs,
                max_rule_alerts_per_1000: args.max_alert_rate,
                max_total_ratio: args.max_alert_ratio,
                total_slack: args.alert_slack,
            },
            crash_limit: args.crash_limit,
            crash_window_secs: args.crash_window_mins.saturating_mul(60),
        };
        let state = StateDir::open(&args.state).map_err(|e| e.to_string())?;
        let deployer = Deployer::new(schema, Budget::default(), trust, options);
        let restored = deployer.open_state(state.clone());
        if let Some(b) = &restored.active {
            eprintln!(
                "vigil agent: running {} v{}{}",
                b.bundle_id,
                b.content_version,
                if restored.from_lkg {
                    " (last known good)"
                } else {
                    ""
                }
            );
        }

        let (tx, rx) = sync_channel(4096);
        let mut files: Vec<String> = args
            .events
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let poll = Duration::from_millis(args.poll_ms.max(1));
        if let Some(f) = &args.follow {
            files.push(f.display().to_string());
            spawn_follow(f.clone(), files.len() - 1, poll, tx.clone());
        }
        spawn_files(args.events.clone(), tx);

        Ok(Agent {
            deployer,
            state,
            watcher: Watcher {
                dir: bundles,
                seen: HashMap::new(),
            },
            decoder,
            files,
            rx,
            follow: args.follow.is_some(),
            poll,
            idle: args.exit_after_idle_ms.map(Duration::from_millis),
            stop_file: args.stop_file.clone(),
            abort_on: std::env::var(ABORT_HOOK).ok().filter(|s| !s.is_empty()),
            out: BufWriter::new(io::stdout()),
            log_seq: 0,
            lines: 0,
            line_no: 0,
            inputs_done: false,
        })
    }

    fn run(&mut self) -> ExitCode {
        self.scan();
        self.after_change();
        self.write_status(true);
        let mut next_poll = Instant::now() + self.poll;
        let mut last_activity = Instant::now();
        loop {
            let wait = next_poll.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(wait) {
                Ok(Msg::Line { line, file }) => {
                    last_activity = Instant::now();
                    if !self.line(&line, file) {
                        break;
                    }
                    if self.deployer.review().is_some() {
                        self.after_change();
                    }
                }
                Ok(Msg::Done) | Err(RecvTimeoutError::Disconnected) => {
                    self.inputs_done = true;
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if self.inputs_done && !self.follow {
                break;
            }
            if Instant::now() >= next_poll {
                if self.scan() {
                    last_activity = Instant::now();
                }
                if self.deployer.review().is_some() {
                    self.after_change();
                }
                if self.out.flush().is_err() {
                    break;
                }
                self.write_status(true);
                next_poll = Instant::now() + self.poll;
                if self.stop_file.as_ref().is_some_and(|p| p.exists()) {
                    break;
                }
                if self
                    .idle
                    .is_some_and(|idle| last_activity.elapsed() >= idle)
                {
                    break;
                }
            }
        }
        self.scan();
        if self.deployer.review().is_some() {
            self.after_change();
        }
        let _ = self.out.flush();
        self.deployer.shutdown();
        self.write_status(false);
        ExitCode::SUCCESS
    }

    /// Decodes and evaluates one line; false when stdout is closed.
    fn line(&mut self, line: &[u8], file: usize) -> bool {
        if line.iter().all(u8::is_ascii_whitespace) {
            return true;
        }
        self.lines += 1;
        self.line_no += 1;
        self.decoder
            .set_file(self.files.get(file).map(String::as_str));
        let mut events = Vec::new();
        match self.decoder.decode_line(line, self.line_no, &mut events) {
            Err(e) => self.deployer.record_dropped(&e.code.to_string()),
            Ok(()) if events.is_empty() => self.deployer.record_dropped("no_event"),
            Ok(()) => {}
        }
        let mut ok = true;
        for ev in &events {
            let out = &mut self.out;
            self.deployer.process(ev, &mut |alert| {
                if writeln!(out, "{}", alert.to_json_line()).is_err() {
                    ok = false;
                }
            });
        }
        ok
    }

    /// Looks at new files in the bundles folder: with no active bundle, activates the newest
    /// that loads; otherwise stages each (the deployer refuses and counts the bad ones).
    /// Returns whether there was anything new.
    fn scan(&mut self) -> bool {
        let changed = self.watcher.changed();
        if changed.is_empty() {
            return false;
        }
        let mut pending: Vec<(PathBuf, Vec<u8>)> = Vec::new();
        for (path, bytes) in changed {
            let sha = to_hex(&Sha256::digest(&bytes));
            let known = [
                self.deployer.active(),
                self.deployer.candidate(),
                self.deployer.last_known_good(),
            ]
            .into_iter()
            .flatten()
            .any(|b| b.sha256 == sha);
            if known {
                continue;
            }
            if self.deployer.was_rejected(&sha) {
                eprintln!(
                    "vigil agent: `{}` was rejected as a candidate before; not staged again",
                    path.display()
                );
                continue;
            }
            pending.push((path, bytes));
        }
        if self.deployer.active().is_none() {
            // The newest bundle that loads becomes active; the rest are then staged (and
            // refused as older, or whatever is wrong with them).
            let mut activated = None;
            for (i, (path, bytes)) in pending.iter().enumerate().rev() {
                if let Ok(UpdateOutcome::Activated { bundle, .. }) = self.deployer.update(bytes) {
                    eprintln!(
                        "vigil agent: activated {} v{} from `{}`",
                        bundle.bundle_id,
                        bundle.content_version,
                        path.display()
                    );
                    activated = Some(i);
                    break;
                }
            }
            if let Some(i) = activated {
                pending.remove(i);
            }
        }
        for (path, bytes) in &pending {
            if let Ok(StageOutcome::Staged { bundle, .. }) = self.deployer.stage(bytes) {
                eprintln!(
                    "vigil agent: staged {} v{} from `{}` in shadow",
                    bundle.bundle_id,
                    bundle.content_version,
                    path.display()
                );
            }
            self.after_change();
        }
        self.after_change();
        true
    }

    /// Prints new log entries and runs the crash test hook.
    fn after_change(&mut self) {
        for e in self.deployer.log_since(self.log_seq) {
            self.log_seq = e.seq;
            let code = e.code.map(|c| format!(" [{c}]")).unwrap_or_default();
            let bundle = e.bundle.map(|b| format!(" {b}")).unwrap_or_default();
            eprintln!("vigil agent: {}{bundle}{code}: {}", e.event, e.message);
        }
        if let (Some(id), Some(active)) = (self.abort_on.clone(), self.deployer.active()) {
            if id == active.bundle_id {
                let _ = self.out.flush();
                self.write_status(true);
                eprintln!("vigil agent: {ABORT_HOOK}={id}: aborting");
                std::process::abort();
            }
        }
    }

    fn write_status(&mut self, running: bool) {
        let deploy = self.deployer.status();
        let status = AgentStatus {
            running,
            pid: std::process::id(),
            time_unix: now_unix(),
            inputs_done: self.inputs_done,
            lines: self.lines,
            deploy: &deploy,
        };
        match serde_json::to_string_pretty(&status) {
            Ok(mut text) => {
                text.push('\n');
                if let Err(e) = self.state.write(STATUS_FILE, text.as_bytes()) {
                    eprintln!("vigil agent: {e}");
                }
            }
            Err(e) => eprintln!("vigil agent: cannot encode the status: {e}"),
        }
    }
}
