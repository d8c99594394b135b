//! `vigil agent`: a reference endpoint agent around [`vigil_runtime::deploy::Deployer`].
//!
//! It restores the active bundle from the state directory (or activates the newest valid
//! bundle in `--bundles`), reads JSON-lines events (files, `-` for stdin, and `--follow` to tail
//! a file that grows) and the events of a live source (the eBPF sensor, [`LiveSource`], on its
//! own thread), prints alerts as JSON lines on stdout, and watches `--bundles` for new
//! `*.vglb` files: each one is staged as a shadow candidate beside the active bundle and then
//! promoted or rejected by the promotion policy. Whatever lands in the folder (garbage,
//! truncated, tampered, downgraded, schema-incompatible bundles) is refused with a coded reason
//! and counted; it never stops the agent and never replaces the active bundle.
//!
//! Every poll (`--poll-ms`) it writes `STATE/status.json` atomically: the active, candidate and
//! last known good bundles, event accounting (`received = evaluated + sum(dropped)`), alerts
//! per rule, updates accepted and refused by code, the quarantine list and the deployment log.
//! Deployment log lines also go to stderr. It stops (after flushing alerts and a final status
//! write marked `"running": false`) at the end of finite inputs unless `--follow` or a live
//! source is given (a live source is drained and accounted for before that last write), on
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

mod live;
mod sources;
mod status;
mod watch;

pub use live::{LiveSource, SourceReport};

use std::collections::HashMap;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_runtime::budget::Budget;
use vigil_runtime::bundle::TrustStore;
use vigil_runtime::decode::Decoder;
use vigil_runtime::deploy::{DeployOptions, Deployer, ErrorCode, Processed, StateDir};
use vigil_runtime::schema::Schema;
use vigil_runtime::Event;

use crate::inputs::lines::TOO_LONG;
use crate::inputs::make_decoder;
use live::Live;
use sources::{spawn_files, spawn_follow, FilePos, FollowRecord, Msg};
use watch::Watcher;

/// The status file, in the state directory.
const STATUS_FILE: &str = "status.json";
/// The `--follow` position, in the state directory.
const FOLLOW_FILE: &str = "follow.json";
/// The crash test hook's environment variable.
const ABORT_HOOK: &str = "VIGIL_AGENT_ABORT_AFTER_ACTIVATE";
/// The full-disk test hook's environment variable.
const FAIL_WRITES_HOOK: &str = "VIGIL_AGENT_FAIL_STATE_WRITES_OF";
/// Exit status when stdout was closed or the agent could not start.
pub const EXIT_IO: u8 = 2;
/// Exit status when the agent ran blind or degraded.
pub const EXIT_DEGRADED: u8 = 3;

/// What the agent runs with: the folders, the host, the trust store, the inputs and the
/// deployment policy (`vigil agent` fills it from its command line; an embedder from its own
/// configuration).
pub struct Config {
    /// The folder watched for new `*.vglb` bundles.
    pub bundles: PathBuf,
    /// The state folder: active and last known good bundles, `state.json`, `status.json`.
    pub state: PathBuf,
    /// The host schema events are decoded into and bundles are bound to.
    pub schema: Schema,
    /// The keys bundles must be signed with (and the revoked ones).
    pub trust: TrustStore,
    /// Event files (JSON lines), read in order; `-` reads stdin.
    pub events: Vec<PathBuf>,
    /// A file tailed for events as it grows (the agent then runs until stopped).
    pub follow: Option<PathBuf>,
    /// A field mapping events are read through: a shipped one by name, a TOML file, or
    /// `native`. Without one, each record's form is told by its shape (`Decoder::auto`).
    pub mapping: Option<String>,
    /// How often to scan the bundles folder and write the status.
    pub poll: Duration,
    /// The deployer's engine, promotion policy, crash-loop breaker and lateness.
    pub deploy: DeployOptions,
    /// Stop after this long without events or new bundles.
    pub exit_after_idle: Option<Duration>,
    /// Stop cleanly when this file exists.
    pub stop_file: Option<PathBuf>,
    /// A live source (the eBPF sensor), run on its own thread until the agent stops; the
    /// agent then runs until stopped, as with `follow`.
    pub live: Option<Box<dyn LiveSource>>,
}

/// Checks that `dir` is a folder that can be read (the bundles folder).
///
/// # Errors
/// A message naming the folder and what is wrong with it.
pub fn check_bundles_dir(bundles: &Path) -> Result<(), String> {
    match std::fs::metadata(bundles) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!("`--bundles {}` is not a folder", bundles.display())),
        Err(e) => Err(format!(
            "`--bundles {}`: cannot read the folder: {e}",
            bundles.display()
        )),
    }
}

/// The reference agent: a [`Deployer`] fed by the event inputs and the bundles folder, alerts
/// written as JSON lines to its sink. Build it with [`Agent::start`], drive it with
/// [`Agent::run`].
pub struct Agent {
    deployer: Deployer,
    state: StateDir,
    watcher: Watcher,
    decoder: Decoder,
    files: Vec<String>,
    rx: Receiver<Msg>,
    follow: Option<PathBuf>,
    live: Option<Live>,
    poll: Duration,
    idle: Option<Duration>,
    stop_file: Option<PathBuf>,
    abort_on: Option<String>,
    out: BufWriter<Box<dyn Write + Send>>,
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
    /// Opens the state folder, restores the active bundle (or the last known good), installs
    /// the SIGTERM and SIGINT handlers and starts the input threads. Alerts go to `alerts`.
    ///
    /// # Errors
    /// A message when the bundles folder, the mapping, the state folder or the signal handlers
    /// cannot be set up.
    pub fn start(config: Config, alerts: Box<dyn Write + Send>) -> Result<Agent, String> {
        let Config {
            bundles,
            state,
            schema,
            trust,
            events,
            follow,
            mapping,
            poll,
            deploy: options,
            exit_after_idle,
            stop_file,
            live,
        } = config;
        check_bundles_dir(&bundles)?;
        // Every field is decoded (no projection): the running bundle can change between any
        // two events (update, promotion, rollback), and a projection derived from one bundle
        // would starve the next of the fields only it reads.
        let decoder = make_decoder(mapping.as_deref(), &schema, None)?;
        let mut state = StateDir::open(&state).map_err(|e| e.to_string())?;
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
        let mut files: Vec<String> = events.iter().map(|p| p.display().to_string()).collect();
        let poll = poll.max(Duration::from_millis(1));
        let mut follow_pos = None;
        if let Some(f) = &follow {
            files.push(f.display().to_string());
            follow_pos = read_follow_pos(&state, f);
            spawn_follow(f.clone(), files.len() - 1, poll, follow_pos, tx.clone());
        }
        let live = live.map(|source| Live::spawn(source, tx.clone(), poll));
        spawn_files(events, tx);

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
            follow,
            live,
            poll,
            idle: exit_after_idle,
            stop_file,
            abort_on: std::env::var(ABORT_HOOK).ok().filter(|s| !s.is_empty()),
            out: BufWriter::new(alerts),
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

    /// A flag that stops [`Agent::run`] cleanly at its next turn when set (as SIGTERM does).
    pub fn stop_handle(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Runs until the finite inputs end (without `follow`), a stop signal or the stop file, or
    /// the idle limit; then flushes the alerts and writes the final status. Returns the exit
    /// status: 0, [`EXIT_IO`] (the alert sink was closed) or [`EXIT_DEGRADED`].
    pub fn run(&mut self) -> u8 {
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
                Ok(Msg::Events(events)) => {
                    last_activity = Instant::now();
                    input_since_poll = true;
                    if !self.busy {
                        self.busy = true;
                        self.deployer.set_busy(true);
                    }
                    if !self.live_events(&events) {
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
            if self.inputs_done && self.follow.is_none() && self.live.is_none() {
                break;
            }
            if self.live.as_ref().is_some_and(Live::ended) {
                eprintln!("vigil agent: error: the live source stopped on its own: stopping");
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
        self.stop_live();
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
            return EXIT_IO;
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
            return EXIT_DEGRADED;
        }
        0
    }

    /// Stops the live source (it drains what it holds first) and evaluates what it handed on,
    /// so that the final status accounts for every record it read. The channel is read while
    /// the source drains: the source blocks when it is full.
    fn stop_live(&mut self) {
        let Some(live) = &self.live else { return };
        live.request_stop();
        loop {
            let ended = self.live.as_ref().is_none_or(Live::ended);
            match self.rx.recv_timeout(Duration::from_millis(10)) {
                Ok(Msg::Events(events)) => {
                    self.live_events(&events);
                }
                Ok(Msg::Line { .. } | Msg::Done) | Err(RecvTimeoutError::Timeout) => {
                    if ended {
                        break;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        if let Some(live) = &mut self.live {
            live.join();
        }
        while let Ok(msg) = self.rx.try_recv() {
            if let Msg::Events(events) = msg {
                self.live_events(&events);
            }
        }
    }

    /// Evaluates a batch of the live source's events (each counted, the rest of the batch
    /// too when stdout closes midway); false when stdout is closed.
    fn live_events(&mut self, events: &[Event<'static>]) -> bool {
        let mut ok = true;
        for ev in events {
            ok &= self.live_event(ev);
        }
        if let Some(live) = &self.live {
            live.took(events.len());
        }
        ok
    }

    /// Evaluates one event of the live source and counts what became of it; false when
    /// stdout is closed (the event is then counted as dropped, `stdout_closed`).
    fn live_event(&mut self, ev: &Event<'_>) -> bool {
        if self.stdout_error.is_some() {
            if let Some(live) = &mut self.live {
                *live
                    .counts
                    .dropped
                    .entry("stdout_closed".to_owned())
                    .or_insert(0) += 1;
            }
            return false;
        }
        let (processed, ok) = self.evaluate(ev);
        if let Some(live) = &mut self.live {
            if processed.evaluated {
                live.counts.evaluated += 1;
            } else {
                let code = if processed.bundle.is_some() {
                    ErrorCode::EventRefused
                } else {
                    ErrorCode::NoActiveBundle
                };
                *live.counts.dropped.entry(code.code()).or_insert(0) += 1;
            }
        }
        ok
    }

    /// Evaluates `ev`, writing its alerts; false when stdout is closed.
    fn evaluate(&mut self, ev: &Event<'_>) -> (Processed, bool) {
        let mut error = None;
        let mut written = 0u64;
        let mut lost = 0u64;
        let out = &mut self.out;
        let processed = self.deployer.process(ev, &mut |alert| {
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
        self.unflushed += written;
        if let Some(e) = error {
            self.stdout_closed(e);
            self.alerts_lost += lost;
            return (processed, false);
        }
        (processed, true)
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

    /// Decodes and evaluates one line; false when stdout is closed.
    fn line(&mut self, line: &[u8], file: usize, line_no: u64, too_long: bool) -> bool {
        if too_long {
            self.lines += 1;
            self.deployer.record_dropped(&ErrorCode::LineTooLong.code());
            eprintln!(
                "vigil agent: `{}` line {line_no}: {TOO_LONG} [{}]: dropped",
                self.files.get(file).map_or("?", String::as_str),
                ErrorCode::LineTooLong
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
        for ev in &events {
            if !self.evaluate(ev).1 {
                return false;
            }
        }
        true
    }
}
