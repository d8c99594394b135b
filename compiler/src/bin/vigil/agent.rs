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
//! Deployment log lines also go to stderr. It stops (after flushing alerts and a final status
//! write marked `"running": false`) at the end of finite inputs unless `--follow` is given, on
//! SIGTERM or SIGINT, when `--stop-file` appears, or after `--exit-after-idle-ms` without
//! input. Exit status: 0 when all went well; 2 when stdout was closed under it (the alerts not
//! delivered are counted, `alerts_lost`) or it cannot start; 3 when it ran blind or degraded
//! (events dropped for want of a bundle, or a quarantined or expired bundle kept for want of
//! another), which stderr and `status.json` (`blind`, `degraded`) also say.
//!
//! The crash-loop breaker counts a crash only while a bundle is new or evaluating: the agent
//! tells the deployer when it goes idle (a poll with no input), so a kill while idle, like a
//! clean stop, is not a crash.
//!
//! `--follow` tails a file as log rotation leaves it: a rename (`mv ev.jsonl ev.jsonl.1`, then
//! a new `ev.jsonl`) is noticed by the inode, the old file drained and the new one read from
//! its start; a truncation below the offset (copytruncate) starts over at 0. The position
//! (device, inode, offset of the last line processed) is kept in `STATE/follow.json`, so a
//! restart resumes where the last run stopped instead of repeating alerts.
//!
//! Bundle files are looked at by content: a file whose size, times or inode changed is read
//! (only if it is a regular file no larger than a bundle can be, E0814, through a bounded
//! reader) and hashed, so a replacement with the same size and modification time is noticed
//! and an unchanged one is not staged twice. Files refused for good before (malformed,
//! tampered, older) are remembered by hash in the state and not counted again.
//!
//! Events are decoded in full (no projection, unlike `vigil run`): the bundle that evaluates
//! them can change between any two events, so the decoder cannot know which fields the next
//! one reads.
//!
//! Test hooks: with `VIGIL_AGENT_ABORT_AFTER_ACTIVATE=BUNDLE_ID` in the environment the agent
//! aborts (as a crash would) right after a bundle with that id becomes active, so tests can
//! drive the crash-loop breaker; with `VIGIL_AGENT_FAIL_STATE_WRITES_OF=NAME` every write of
//! the state file `NAME` (`lkg.vglb`, ...) fails as on a full disk.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vigil_runtime::budget::Budget;
use vigil_runtime::bundle::{self, KeyId, TrustStore};
use vigil_runtime::decode::Decoder;
use vigil_runtime::deploy::{
    lift_quarantine_in, DeployCode, DeployOptions, DeployStatus, Deployer, PromotionPolicy,
    StageOutcome, StateDir, UpdateError, UpdateOutcome, MAX_BUNDLE_FILE_BYTES,
};
use vigil_runtime::hash::to_hex;

use crate::common::{fail, load_schema, make_decoder};
use crate::lines::{LineReader, Outcome, TOO_LONG};
use crate::run::EngineChoice;

/// The status file, in the state directory.
const STATUS_FILE: &str = "status.json";
/// The `--follow` position, in the state directory.
const FOLLOW_FILE: &str = "follow.json";
/// The crash test hook's environment variable.
const ABORT_HOOK: &str = "VIGIL_AGENT_ABORT_AFTER_ACTIVATE";
/// The full-disk test hook's environment variable.
const FAIL_WRITES_HOOK: &str = "VIGIL_AGENT_FAIL_STATE_WRITES_OF";
/// Exit status when stdout was closed or the agent could not start.
const EXIT_IO: u8 = 2;
/// Exit status when the agent ran blind or degraded.
const EXIT_DEGRADED: u8 = 3;

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
    /// How much older than the newest time seen from its host an event may be and still
    /// count for sequence and threshold rules (`500ms`, `2s`; default 0). Late events are
    /// counted in `status.json` (`event_time`).
    #[arg(long, value_name = "DURATION", value_parser = crate::run::parse_lateness, default_value = "0s")]
    lateness: u64,
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

/// Where a followed file was read up to: the end of the last line handed over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct FilePos {
    dev: u64,
    ino: u64,
    offset: u64,
    /// Lines read from the file up to `offset`.
    line_no: u64,
}

/// What `follow.json` holds.
#[derive(Debug, Serialize, Deserialize)]
struct FollowRecord {
    path: PathBuf,
    #[serde(flatten)]
    pos: FilePos,
}

/// One input line (numbered in its file; `at`: the followed file's position after it), or the
/// end of the finite inputs.
enum Msg {
    Line {
        line: Vec<u8>,
        file: usize,
        line_no: u64,
        too_long: bool,
        at: Option<FilePos>,
    },
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
    /// Whether no bundle is active (events are dropped, E0811).
    blind: bool,
    /// Alerts not delivered because stdout was closed.
    alerts_lost: u64,
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
        Err(e) => {
            eprintln!("vigil agent: error: {e}");
            ExitCode::from(EXIT_IO)
        }
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
            let mut lines = LineReader::new();
            let mut line_no = 0u64;
            loop {
                let mut line = Vec::new();
                let too_long = match lines.read(&mut *reader, &mut line) {
                    Ok(Outcome::End) => break,
                    Ok(Outcome::Line { .. } | Outcome::Pending { .. }) => false,
                    Ok(Outcome::TooLong { .. }) => true,
                    Err(e) => {
                        eprintln!("vigil agent: reading `{}`: {e}", path.display());
                        break;
                    }
                };
                line_no += 1;
                let msg = Msg::Line {
                    line,
                    file: i,
                    line_no,
                    too_long,
                    at: None,
                };
                if tx.send(msg).is_err() {
                    return;
                }
            }
        }
        let _ = tx.send(Msg::Done);
    });
}

/// The device and inode of a file.
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

/// A followed file, open.
struct Followed {
    reader: BufReader<File>,
    dev: u64,
    ino: u64,
    /// Bytes consumed through `reader` (an unfinished line's included).
    pos: u64,
    line_no: u64,
    lines: LineReader,
}

impl Followed {
    /// Opens `path` at `resume` when it is the same file (device, inode) and not shorter;
    /// otherwise at its start.
    fn open(path: &Path, resume: Option<FilePos>) -> io::Result<Followed> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        let (dev, ino) = identity(&meta);
        let mut f = Followed {
            reader: BufReader::new(file),
            dev,
            ino,
            pos: 0,
            line_no: 0,
            lines: LineReader::following(),
        };
        if let Some(r) = resume.filter(|r| (r.dev, r.ino) == (dev, ino) && r.offset <= meta.len()) {
            f.reader.seek(SeekFrom::Start(r.offset))?;
            f.pos = r.offset;
            f.line_no = r.line_no;
        }
        Ok(f)
    }

    /// The position after the last whole line.
    fn at(&self) -> FilePos {
        FilePos {
            dev: self.dev,
            ino: self.ino,
            offset: self.pos.saturating_sub(self.lines.pending_bytes()),
            line_no: self.line_no,
        }
    }

    /// Reads what there is to read, sending each line; false when the receiver is gone.
    fn drain(&mut self, file: usize, tx: &SyncSender<Msg>) -> io::Result<bool> {
        loop {
            let mut line = Vec::new();
            let too_long = match self.lines.read(&mut self.reader, &mut line)? {
                Outcome::End => return Ok(true),
                Outcome::Pending { consumed } => {
                    self.pos += consumed;
                    return Ok(true);
                }
                Outcome::Line { consumed } => {
                    self.pos += consumed;
                    false
                }
                Outcome::TooLong { consumed } => {
                    self.pos += consumed;
                    true
                }
            };
            self.line_no += 1;
            let msg = Msg::Line {
                line,
                file,
                line_no: self.line_no,
                too_long,
                at: Some(self.at()),
            };
            if tx.send(msg).is_err() {
                return Ok(false);
            }
        }
    }
}

/// Tails `path` from `resume` (or its start): whole lines as they are appended; a rename
/// (another inode at `path`) drains the old file and opens the new one at its start; a
/// truncation below the offset (copytruncate) starts over at 0; waits for the file to exist.
fn spawn_follow(
    path: PathBuf,
    file: usize,
    poll: Duration,
    resume: Option<FilePos>,
    tx: SyncSender<Msg>,
) {
    std::thread::spawn(move || {
        let nap = (poll / 4).max(Duration::from_millis(5));
        let mut resume = resume;
        let mut cur: Option<Followed> = None;
        loop {
            let Some(f) = cur.as_mut() else {
                match Followed::open(&path, resume.take()) {
                    Ok(f) => cur = Some(f),
                    Err(_) => std::thread::sleep(nap),
                }
                continue;
            };
            match f.drain(file, &tx) {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    eprintln!("vigil agent: reading `{}`: {e}", path.display());
                    std::thread::sleep(nap);
                    // Start again after the last whole line.
                    let at = f.at();
                    f.lines.reset();
                    f.pos = at.offset;
                    let _ = f.reader.seek(SeekFrom::Start(at.offset));
                    continue;
                }
            }
            // At the end: has the file been replaced (rotated) or truncated?
            match std::fs::metadata(&path) {
                Ok(meta) if identity(&meta) != (f.dev, f.ino) => {
                    // Rotated: what was appended to the old file before the rename is read,
                    // then the new file from its start.
                    if let Ok(false) = f.drain(file, &tx) {
                        return;
                    }
                    // A last line without its newline: the old file will not grow any more.
                    let mut line = Vec::new();
                    if let Some(o) = f.lines.finish_pending(&mut line) {
                        f.line_no += 1;
                        let msg = Msg::Line {
                            line,
                            file,
                            line_no: f.line_no,
                            too_long: matches!(o, Outcome::TooLong { .. }),
                            at: None,
                        };
                        if tx.send(msg).is_err() {
                            return;
                        }
                    }
                    eprintln!(
                        "vigil agent: `{}` was replaced (rotated): reading the new file",
                        path.display()
                    );
                    cur = None;
                }
                Ok(meta) if meta.len() < f.pos => {
                    eprintln!(
                        "vigil agent: `{}` was truncated: reading it from its start",
                        path.display()
                    );
                    f.lines.reset();
                    f.pos = 0;
                    f.line_no = 0;
                    if f.reader.seek(SeekFrom::Start(0)).is_err() {
                        cur = None;
                    }
                }
                _ => std::thread::sleep(nap),
            }
        }
    });
}

/// What identifies a file's version without reading it: device, inode, length, and the
/// modification and change times (the change time moves on every write, whatever `cp -p` or
/// `touch` do to the modification time).
type Stamp = (u64, u64, u64, i64, i64, i64, i64);

fn stamp(meta: &std::fs::Metadata) -> Stamp {
    (
        meta.dev(),
        meta.ino(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec(),
    )
}

/// A bundle file seen: its stamp and, once read, its content hash.
struct Seen {
    stamp: Stamp,
    sha256: Option<String>,
}

/// A new bundle file, read.
struct Found {
    path: PathBuf,
    bytes: Vec<u8>,
    sha256: String,
}

/// The bundles folder: which files were seen, by stamp and content hash (a file whose stamp
/// changes is read again, and looked at only when its content changed).
struct Watcher {
    dir: PathBuf,
    seen: HashMap<PathBuf, Seen>,
}

/// Reads a bundle file: only a regular file no larger than a bundle can be, through a bounded
/// reader (it may grow between the look and the read). E0814 otherwise.
fn read_bundle_file(path: &Path) -> Result<Vec<u8>, UpdateError> {
    let refused = |m: String| UpdateError::refused(DeployCode::BundleFileRefused, m);
    let io = |e: io::Error| {
        UpdateError::refused(
            DeployCode::Io,
            format!("cannot read `{}`: {e}", path.display()),
        )
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(refused(format!(
            "`{}` is not a regular file",
            path.display()
        )));
    }
    let too_large = |n: u64| {
        refused(format!(
            "`{}` is {n} bytes, more than a bundle can be ({MAX_BUNDLE_FILE_BYTES})",
            path.display()
        ))
    };
    if meta.len() > MAX_BUNDLE_FILE_BYTES {
        return Err(too_large(meta.len()));
    }
    let file = File::open(path).map_err(io)?;
    if !file.metadata().map_err(io)?.is_file() {
        return Err(refused(format!(
            "`{}` is not a regular file",
            path.display()
        )));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_BUNDLE_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_BUNDLE_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

impl Watcher {
    /// New or changed `*.vglb` files, read, ordered by content version (undecodable first).
    /// Files that cannot be bundles are refused through `refuse`.
    fn changed(&mut self, refuse: &mut dyn FnMut(&UpdateError, &Path)) -> Vec<Found> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "vglb") {
                continue;
            }
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let st = stamp(&meta);
            let seen = self.seen.get(&path);
            if seen.is_some_and(|s| s.stamp == st) {
                continue;
            }
            let before = seen.and_then(|s| s.sha256.clone());
            let bytes = match read_bundle_file(&path) {
                Ok(b) => b,
                Err(e) => {
                    refuse(&e, &path);
                    self.seen.insert(
                        path,
                        Seen {
                            stamp: st,
                            sha256: None,
                        },
                    );
                    continue;
                }
            };
            let sha256 = to_hex(&Sha256::digest(&bytes));
            self.seen.insert(
                path.clone(),
                Seen {
                    stamp: st,
                    sha256: Some(sha256.clone()),
                },
            );
            if before.as_ref() == Some(&sha256) {
                continue;
            }
            out.push(Found {
                path,
                bytes,
                sha256,
            });
        }
        out.sort_by_key(|f| {
            let version = bundle::decode(&f.bytes).map_or(0, |b| b.header.content_version);
            (version, f.path.clone())
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
    follow: Option<PathBuf>,
    poll: Duration,
    idle: Option<Duration>,
    stop_file: Option<PathBuf>,
    abort_on: Option<String>,
    out: BufWriter<io::Stdout>,
    log_seq: u64,
    lines: u64,
    inputs_done: bool,
    /// Set by SIGTERM and SIGINT.
    stop: Arc<AtomicBool>,
    /// Whether the active bundle is evaluating (for the crash-loop breaker).
    busy: bool,
    /// Alerts written to `out` since its last successful flush.
    unflushed: u64,
    /// Set when stdout was closed.
    stdout_error: Option<io::Error>,
    alerts_lost: u64,
    /// The followed file's position after the last line processed, and the one last saved.
    follow_pos: Option<FilePos>,
    follow_saved: Option<FilePos>,
    /// Events dropped for want of a bundle, as last reported on stderr.
    blind_reported: u64,
    degraded_reported: Option<String>,
}

/// Reads `follow.json` for `path`: the position to resume at.
fn read_follow_pos(state: &StateDir, path: &Path) -> Option<FilePos> {
    let bytes = state.read(FOLLOW_FILE).ok().flatten()?;
    let record: FollowRecord = serde_json::from_slice(&bytes).ok()?;
    (record.path == path).then_some(record.pos)
}

impl Agent {
    fn start(args: &Args) -> Result<Agent, String> {
        let bundles = args
            .bundles
            .clone()
            .ok_or_else(|| "`--bundles DIR` is required".to_string())?;
        match std::fs::metadata(&bundles) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(format!("`--bundles {}` is not a folder", bundles.display())),
            Err(e) => {
                return Err(format!(
                    "`--bundles {}`: cannot read the folder: {e}",
                    bundles.display()
                ))
            }
        }
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
            lateness_ns: args.lateness,
        };
        let mut state = StateDir::open(&args.state).map_err(|e| e.to_string())?;
        if let Some(name) = std::env::var(FAIL_WRITES_HOOK)
            .ok()
            .filter(|s| !s.is_empty())
        {
            state.fail_writes_of(&name);
        }
        let stop = Arc::new(AtomicBool::new(false));
        for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::flag::register(signal, stop.clone())
                .map_err(|e| format!("cannot handle signal {signal}: {e}"))?;
        }
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
        let mut follow_pos = None;
        if let Some(f) = &args.follow {
            files.push(f.display().to_string());
            follow_pos = read_follow_pos(&state, f);
            spawn_follow(f.clone(), files.len() - 1, poll, follow_pos, tx.clone());
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
            follow: args.follow.clone(),
            poll,
            idle: args.exit_after_idle_ms.map(Duration::from_millis),
            stop_file: args.stop_file.clone(),
            abort_on: std::env::var(ABORT_HOOK).ok().filter(|s| !s.is_empty()),
            out: BufWriter::new(io::stdout()),
            log_seq: 0,
            lines: 0,
            inputs_done: false,
            stop,
            busy: true,
            unflushed: 0,
            stdout_error: None,
            alerts_lost: 0,
            follow_saved: follow_pos,
            follow_pos,
            blind_reported: 0,
            degraded_reported: None,
        })
    }

    fn run(&mut self) -> ExitCode {
        self.scan();
        self.after_change();
        self.write_status(true);
        let mut next_poll = Instant::now() + self.poll;
        let mut last_activity = Instant::now();
        let mut input_since_poll = false;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                eprintln!("vigil agent: stop signal: stopping cleanly");
                break;
            }
            let wait = next_poll.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(wait) {
                Ok(Msg::Line {
                    line,
                    file,
                    line_no,
                    too_long,
                    at,
                }) => {
                    last_activity = Instant::now();
                    input_since_poll = true;
                    if !self.busy {
                        self.busy = true;
                        self.deployer.set_busy(true);
                    }
                    let ok = self.line(&line, file, line_no, too_long);
                    if at.is_some() {
                        self.follow_pos = at;
                    }
                    if !ok {
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
            if self.inputs_done && self.follow.is_none() {
                break;
            }
            if Instant::now() >= next_poll {
                if self.scan() {
                    last_activity = Instant::now();
                }
                if self.deployer.check_expiry().is_some() {
                    self.after_change();
                }
                if self.deployer.review().is_some() {
                    self.after_change();
                }
                if !self.flush() {
                    break;
                }
                if !input_since_poll {
                    // Idle: a kill from now on is not a crash of the running bundle (nor of
                    // one activated since the last poll). Cheap when nothing changes.
                    self.busy = false;
                    self.deployer.set_busy(false);
                }
                input_since_poll = false;
                self.save_follow_pos();
                self.report_health();
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
        if self.stdout_error.is_none() {
            self.scan();
            if self.deployer.review().is_some() {
                self.after_change();
            }
        }
        self.flush();
        self.save_follow_pos();
        self.deployer.shutdown();
        self.report_health();
        self.write_status(false);
        if let Some(e) = &self.stdout_error {
            eprintln!(
                "vigil agent: error: stdout was closed ({e}): stopped; {} alerts were not delivered",
                self.alerts_lost
            );
            return ExitCode::from(EXIT_IO);
        }
        let blind = self.blind_drops();
        let degraded = self.deployer.degraded();
        if blind > 0 || degraded.is_some() {
            if blind > 0 {
                eprintln!(
                    "vigil agent: error: ran blind: {blind} events dropped with no active bundle \
                     (E0811)"
                );
            }
            if let Some(d) = degraded {
                eprintln!("vigil agent: error: ran degraded: {d}");
            }
            return ExitCode::from(EXIT_DEGRADED);
        }
        ExitCode::SUCCESS
    }

    /// Events dropped so far for want of a bundle.
    fn blind_drops(&self) -> u64 {
        self.deployer
            .event_counts()
            .dropped
            .get(&DeployCode::NoActiveBundle.code())
            .copied()
            .unwrap_or(0)
    }

    /// Says on stderr, once per change, that the agent runs blind or degraded.
    fn report_health(&mut self) {
        let blind = self.blind_drops();
        if blind > self.blind_reported {
            eprintln!(
                "vigil agent: warning: no active bundle: {blind} events dropped so far (E0811)"
            );
            self.blind_reported = blind;
        }
        let degraded = self.deployer.degraded();
        if degraded.is_some() && degraded != self.degraded_reported {
            if let Some(d) = &degraded {
                eprintln!("vigil agent: warning: degraded: {d}");
            }
        }
        self.degraded_reported = degraded;
    }

    /// Flushes alerts; false (and the loss counted) when stdout is closed.
    fn flush(&mut self) -> bool {
        if self.stdout_error.is_some() {
            return false;
        }
        match self.out.flush() {
            Ok(()) => {
                self.unflushed = 0;
                true
            }
            Err(e) => {
                self.stdout_closed(e);
                false
            }
        }
    }

    /// Stdout is closed: the alerts not confirmed written are lost, and counted.
    fn stdout_closed(&mut self, e: io::Error) {
        if self.stdout_error.is_none() {
            self.alerts_lost += self.unflushed;
            self.unflushed = 0;
            self.stdout_error = Some(e);
        }
    }

    /// Writes `follow.json` when the position moved (after the alerts are flushed).
    fn save_follow_pos(&mut self) {
        let (Some(path), Some(pos)) = (&self.follow, self.follow_pos) else {
            return;
        };
        if self.follow_saved == Some(pos) || self.stdout_error.is_some() {
            return;
        }
        let record = FollowRecord {
            path: path.clone(),
            pos,
        };
        match serde_json::to_vec(&record) {
            Ok(bytes) => match self.state.write(FOLLOW_FILE, &bytes) {
                Ok(()) => self.follow_saved = Some(pos),
                Err(e) => eprintln!("vigil agent: {e}"),
            },
            Err(e) => eprintln!("vigil agent: cannot encode the follow position: {e}"),
        }
    }

    /// Decodes and evaluates one line; false when stdout is closed.
    fn line(&mut self, line: &[u8], file: usize, line_no: u64, too_long: bool) -> bool {
        if too_long {
            self.lines += 1;
            self.deployer
                .record_dropped(&DeployCode::LineTooLong.code());
            eprintln!(
                "vigil agent: `{}` line {line_no}: {TOO_LONG} [{}]: dropped",
                self.files.get(file).map_or("?", String::as_str),
                DeployCode::LineTooLong
            );
            return true;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            return true;
        }
        self.lines += 1;
        self.decoder
            .set_file(self.files.get(file).map(String::as_str));
        let mut events = Vec::new();
        match self.decoder.decode_line(line, line_no, &mut events) {
            Err(e) => self.deployer.record_dropped(&e.code.to_string()),
            Ok(()) if events.is_empty() => self.deployer.record_dropped("no_event"),
            Ok(()) => {}
        }
        let mut error = None;
        let mut written = 0u64;
        let mut lost = 0u64;
        for ev in &events {
            let out = &mut self.out;
            self.deployer.process(ev, &mut |alert| {
                if error.is_some() {
                    lost += 1;
                    return;
                }
                match writeln!(out, "{}", alert.to_json_line()) {
                    Ok(()) => written += 1,
                    Err(e) => {
                        lost += 1;
                        error = Some(e);
                    }
                }
            });
        }
        self.unflushed += written;
        if let Some(e) = error {
            self.stdout_closed(e);
            self.alerts_lost += lost;
            return false;
        }
        true
    }

    /// Looks at new files in the bundles folder: with no active bundle, activates the newest
    /// that loads; otherwise stages each (the deployer refuses and counts the bad ones).
    /// Returns whether there was anything new.
    fn scan(&mut self) -> bool {
        let deployer = &self.deployer;
        let changed = self.watcher.changed(&mut |e, path| {
            deployer.record_refusal(e, &path.display().to_string());
        });
        if changed.is_empty() {
            self.after_change();
            return false;
        }
        let mut pending: Vec<Found> = Vec::new();
        for found in changed {
            let sha = &found.sha256;
            let known = [
                self.deployer.active(),
                self.deployer.candidate(),
                self.deployer.last_known_good(),
            ]
            .into_iter()
            .flatten()
            .any(|b| b.sha256 == *sha);
            if known {
                continue;
            }
            if self.deployer.was_rejected(sha) {
                eprintln!(
                    "vigil agent: `{}` was rejected as a candidate before; not staged again",
                    found.path.display()
                );
                continue;
            }
            if let Some(code) = self.deployer.refused_before(sha) {
                eprintln!(
                    "vigil agent: `{}` was refused before [{code}]; not read again",
                    found.path.display()
                );
                continue;
            }
            pending.push(found);
        }
        if self.deployer.active().is_none() {
            // The newest bundle that loads becomes active; the rest are then staged (and
            // refused as older, or whatever is wrong with them).
            let mut activated = None;
            for (i, f) in pending.iter().enumerate().rev() {
                let name = f.path.display().to_string();
                if let Ok(UpdateOutcome::Activated { bundle, .. }) =
                    self.deployer.update_from(&f.bytes, Some(&name))
                {
                    eprintln!(
                        "vigil agent: activated {} v{} from `{name}`",
                        bundle.bundle_id, bundle.content_version,
                    );
                    activated = Some(i);
                    break;
                }
            }
            if activated.is_none() {
                // None activates: a quarantined or expired one beats none (said loudly).
                for (i, f) in pending.iter().enumerate().rev() {
                    let name = f.path.display().to_string();
                    if let Ok(UpdateOutcome::Activated { bundle, .. }) =
                        self.deployer.keep_from(&f.bytes, Some(&name))
                    {
                        eprintln!(
                            "vigil agent: kept {} v{} from `{name}` for want of another bundle",
                            bundle.bundle_id, bundle.content_version,
                        );
                        activated = Some(i);
                        break;
                    }
                }
            }
            if let Some(i) = activated {
                pending.remove(i);
            }
        }
        for f in &pending {
            let name = f.path.display().to_string();
            match self.deployer.stage_from(&f.bytes, Some(&name)) {
                Ok(StageOutcome::Staged { bundle, .. }) => eprintln!(
                    "vigil agent: staged {} v{} from `{name}` in shadow",
                    bundle.bundle_id, bundle.content_version,
                ),
                Ok(StageOutcome::Activated { bundle, .. }) => eprintln!(
                    "vigil agent: activated {} v{} from `{name}`",
                    bundle.bundle_id, bundle.content_version,
                ),
                _ => {}
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
            let file = e.file.map(|f| format!(" `{f}`")).unwrap_or_default();
            eprintln!(
                "vigil agent: {}{file}{bundle}{code}: {}",
                e.event, e.message
            );
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
            blind: deploy.active.is_none(),
            alerts_lost: self.alerts_lost,
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
