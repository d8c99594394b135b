//! Safe content deployment: the [`Deployer`] owns the running bundle and replaces it only with
//! one that is fully loaded, verified, bound and compiled, between events.
//!
//! Input: bundle bytes ([`Deployer::update`], [`Deployer::stage`]) and events
//! ([`Deployer::process`]); output: alerts through a callback, typed outcomes or coded refusals
//! ([`UpdateError`]: the loader's E04xx–E06xx, or this module's E08xx, [`DeployCode`]), and a
//! [`DeployStatus`] snapshot of every counter. This module must not run unverified code, block
//! evaluation on an update, or panic across its API.
//!
//! ```text
//!  update(bytes) ─► load (frame, signature, expiry, min version, bind, verify)
//!                ─► quarantine? ─► versions (monotonic) ─► build the engine (JIT) ─► swap
//!                   any failure: Err(UpdateError), counted per code; the active bundle runs on
//!
//!  process(event) ─► one load of the active Arc ─► the whole event on that bundle
//!                                              └─► the shadow candidate, if staged, same event
//! ```
//!
//! - **Atomic swap.** The active bundle sits in an `ArcSwap`: `process` loads it once per event,
//!   so an event is evaluated entirely by one bundle, and the replaced bundle (its JIT code
//!   included) is freed when the last event using it finishes (the `Arc` count; a retire hook,
//!   [`Deployer::on_retire`], observes it).
//! - **Versions.** A content version below the highest accepted, or equal to it with another
//!   `program_hash`, is refused (E0801, E0802) unless [`DeployOptions::allow_downgrade`]; a
//!   version below the highest signed minimum version accepted is refused even then. Rolling
//!   back to the last known good bundle ([`Deployer::rollback`]) is not a downgrade. Expiry and
//!   a bundle's own minimum version are the loader's checks, at the deployer's clock.
//! - **Trust.** [`Deployer::set_trust`] rotates and revokes keys for every later load.
//! - **Last known good.** With a state directory ([`Deployer::open_state`], [`state`]), every
//!   activation persists the active and the previous bundle; a start restores them, and the
//!   crash-loop breaker quarantines a bundle that was running at [`DeployOptions::crash_limit`]
//!   unclean exits within [`DeployOptions::crash_window_secs`].
//! - **Shadow.** [`Deployer::stage`] runs a candidate beside the active bundle (its alerts
//!   marked `shadow`), and [`Deployer::review`] promotes or rejects it by the
//!   [`PromotionPolicy`] ([`policy`]). Staging is refused when the two bundles together exceed
//!   the host's budget.
//! - **Never blind.** A start never leaves the host without a bundle while one verified bundle
//!   is at hand: when the breaker quarantines the only bundle, or the only bundle has expired,
//!   it keeps running and [`DeployStatus::degraded`] says why (the host must say it loudly).
//! - **Accounting.** Every event handed to [`Deployer::process`] (or recorded as dropped by the
//!   host, [`Deployer::record_dropped`]) is counted received, and then exactly once evaluated or
//!   dropped by reason: `received = evaluated + sum(dropped)` once calls have returned.

pub mod error;
pub mod policy;
pub mod state;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use arc_swap::{ArcSwap, ArcSwapOption};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use error::{DeployCode, UpdateError};
pub use policy::{combined_cost_fits, decide, PromotionPolicy, RuleCounts, ShadowReport};
pub use state::{
    crashes_within, BundleRecord, PersistedState, QuarantineEntry, RefusedEntry, RunEntry,
    StateDir, ACTIVE_FILE, LKG_FILE, STATE_FILE,
};

use crate::alert::Alert;
use crate::budget::Budget;
use crate::bundle::{load, Loaded, TrustStore, MAX_HEADER_BYTES, MAX_SECTION_BYTES};
use crate::engine::{Engine, EngineKind, EngineOptions};
use crate::event::Event;
use crate::hash::{program_hash, to_hex};
use crate::schema::Schema;

/// How many log entries [`DeployStatus::log`] keeps.
pub const LOG_ENTRIES: usize = 64;

/// The largest file a bundle can be: magic and format version, the header, the four other
/// sections at their limit, and the signature, each with its 5-byte frame. A host reads no
/// more than this from a bundle file (about 256 MiB).
pub const MAX_BUNDLE_FILE_BYTES: u64 =
    (10 + 5 + MAX_HEADER_BYTES + 4 * (5 + MAX_SECTION_BYTES) + 5 + 64) as u64;

/// Refusal codes that depend on a bundle file's bytes alone (malformed, tampered) or on the
/// versions accepted (which only grow): such a file is remembered and not read again.
const PERMANENT_REFUSALS: &[&str] = &[
    "E0501", "E0502", "E0503", "E0504", "E0505", "E0506", "E0507", "E0511", "E0801", "E0802",
];

/// Which version checks a load makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Versions {
    /// None (a rollback to the last known good bundle).
    Skip,
    /// Only the signed floor (a restored file that `state.json` names).
    Floor,
    /// All: floor, highest accepted, replay (an update).
    All,
}
/// How a [`Deployer`] behaves.
#[derive(Clone, Debug, PartialEq)]
pub struct DeployOptions {
    /// The evaluator of every bundle. Default [`EngineKind::Jit`].
    pub engine: EngineKind,
    /// Accept content versions below the highest accepted (never below a signed minimum).
    pub allow_downgrade: bool,
    /// When and how a shadow candidate is promoted.
    pub policy: PromotionPolicy,
    /// Unclean exits while running one bundle that quarantine it. Default 3.
    pub crash_limit: u32,
    /// The window those exits must fall in, in seconds. Default 600.
    pub crash_window_secs: u64,
    /// Every engine's [`EngineOptions::lateness_ns`]: how much older than the newest time seen
    /// from its host an event may be and still count for stateful rules. Default 0.
    pub lateness_ns: u64,
}

impl Default for DeployOptions {
    fn default() -> DeployOptions {
        DeployOptions {
            engine: EngineKind::Jit,
            allow_downgrade: false,
            policy: PromotionPolicy::default(),
            crash_limit: 3,
            crash_window_secs: 600,
            lateness_ns: 0,
        }
    }
}

/// Which bundle evaluated an event: its activation number and content version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BundleTag {
    /// Activation number, unique per [`Deployer`] (1 for the first activation).
    pub generation: u64,
    /// The bundle's content version.
    pub content_version: u64,
}

/// What [`Deployer::process`] did with one event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Processed {
    /// The bundle that evaluated it; `None` when it was dropped for want of one.
    pub bundle: Option<BundleTag>,
    /// Whether the active bundle evaluated it (false: dropped).
    pub evaluated: bool,
    /// Alerts of the active bundle.
    pub alerts: usize,
    /// Alerts of the shadow candidate.
    pub shadow_alerts: usize,
}

/// A successful [`Deployer::update`] or [`Deployer::rollback`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// The bundle now runs.
    Activated {
        /// It.
        bundle: BundleRecord,
        /// Its activation number.
        generation: u64,
        /// The bundle it replaced.
        replaced: Option<BundleRecord>,
    },
    /// The bundle already runs (same bytes): nothing changed.
    Unchanged {
        /// It.
        bundle: BundleRecord,
    },
}

/// A successful [`Deployer::stage`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StageOutcome {
    /// The bundle runs in shadow beside the active one.
    Staged {
        /// It.
        bundle: BundleRecord,
        /// The candidate it replaced, if any (rejected as superseded).
        superseded: Option<BundleRecord>,
    },
    /// No bundle was active: it was activated directly.
    Activated {
        /// It.
        bundle: BundleRecord,
        /// Its activation number.
        generation: u64,
    },
    /// The bundle already runs or is already staged.
    Unchanged {
        /// It.
        bundle: BundleRecord,
    },
}

/// What [`Deployer::review`] decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReviewOutcome {
    /// The candidate became the active bundle.
    Promoted {
        /// It.
        bundle: BundleRecord,
        /// Its activation number.
        generation: u64,
        /// Why.
        reason: String,
    },
    /// The candidate was dropped; the active bundle runs on.
    Rejected {
        /// It.
        bundle: BundleRecord,
        /// The E08xx code.
        code: DeployCode,
        /// Why.
        reason: String,
    },
}

/// What [`Deployer::open_state`] restored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    /// The bundle now active, if any.
    pub active: Option<BundleRecord>,
    /// Whether it is the last known good bundle (the active one was quarantined or refused).
    pub from_lkg: bool,
    /// Bundles quarantined by this start.
    pub quarantined: Vec<QuarantineEntry>,
    /// Refusals met on the way (a persisted bundle that no longer loads, a corrupt state file).
    pub refusals: Vec<UpdateError>,
}

/// One line of the deployment log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogEntry {
    /// Sequence number, from 1.
    pub seq: u64,
    /// Unix seconds.
    pub time_unix: u64,
    /// `activated`, `restored`, `rolled_back`, `refused`, `staged`, `promoted`, `rejected`,
    /// `quarantined`, `lifted`, `state_error`, `trust`.
    pub event: &'static str,
    /// The bundle concerned: `ID vVERSION SHA256-PREFIX`.
    pub bundle: Option<String>,
    /// The code, for refusals and rejections.
    pub code: Option<String>,
    /// The file the bundle came from, when the host named it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Why.
    pub message: String,
}

/// The active bundle, as reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ActiveStatus {
    /// Which bundle.
    #[serde(flatten)]
    pub bundle: BundleRecord,
    /// Its activation number.
    pub generation: u64,
    /// Since when it runs (Unix seconds).
    pub since_unix: u64,
    /// Its evaluation errors and caught panics so far.
    pub errors: u64,
    /// Its alerts per rule id since it was activated.
    pub alerts_per_rule: BTreeMap<String, u64>,
    /// Its stateful rules' event-time counters (see [`EventTimeCounts`]).
    pub event_time: EventTimeCounts,
}

/// Event-time counters of the active bundle's stateful rules, summed over the rules (an event
/// seen by two such rules counts twice); tables handed over on an update keep their counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EventTimeCounts {
    /// Late events skipped: older than their host's newest time by more than the lateness
    /// allowance ([`DeployOptions::lateness_ns`]).
    pub late_skipped: u64,
    /// Late events accepted: older than their host's newest time, within the allowance.
    pub late_accepted: u64,
    /// Events without a time (skipped by stateful rules).
    pub missing_time: u64,
    /// Times a host's clock went back past the reset horizon (its state was dropped).
    pub clock_resets: u64,
}

/// The shadow candidate, as reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CandidateStatus {
    /// Which bundle.
    #[serde(flatten)]
    pub bundle: BundleRecord,
    /// When it was staged (Unix seconds).
    pub staged_unix: u64,
    /// What it measured so far.
    #[serde(flatten)]
    pub report: ShadowReport,
}

/// Event accounting: `received = evaluated + sum(dropped)`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EventCounts {
    /// Events received (decoded, or recorded as dropped by the host).
    pub received: u64,
    /// Events evaluated by the active bundle.
    pub evaluated: u64,
    /// Events dropped, by code.
    pub dropped: BTreeMap<String, u64>,
}

impl EventCounts {
    /// Whether `received = evaluated + sum(dropped)`.
    pub fn balanced(&self) -> bool {
        self.dropped
            .values()
            .try_fold(self.evaluated, |acc, n| acc.checked_add(*n))
            == Some(self.received)
    }
}

/// Alert counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AlertCounts {
    /// Alerts of active bundles.
    pub total: u64,
    /// Alerts of shadow candidates.
    pub shadow: u64,
    /// Alerts of active bundles per rule id, over every bundle that ran.
    pub per_rule: BTreeMap<String, u64>,
}

/// Update counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UpdateCounts {
    /// Bundles activated (updates, promotions, rollbacks, restores).
    pub accepted: u64,
    /// Candidates staged.
    pub staged: u64,
    /// Candidates promoted.
    pub promoted: u64,
    /// Candidates rejected.
    pub rejected: u64,
    /// Refusals and rejections by code.
    pub refused: BTreeMap<String, u64>,
    /// The last refusal's message.
    pub last_refusal: Option<String>,
}

/// A snapshot of a [`Deployer`]: what `vigil agent` writes to `status.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeployStatus {
    /// The active bundle.
    pub active: Option<ActiveStatus>,
    /// The shadow candidate.
    pub candidate: Option<CandidateStatus>,
    /// The last known good bundle.
    pub lkg: Option<BundleRecord>,
    /// The highest content version accepted.
    pub highest_version: Option<u64>,
    /// The highest signed minimum version accepted.
    pub floor_version: Option<u64>,
    /// Event accounting.
    pub events: EventCounts,
    /// Alert counts.
    pub alerts: AlertCounts,
    /// Update counts.
    pub updates: UpdateCounts,
    /// Quarantined bundles.
    pub quarantine: Vec<QuarantineEntry>,
    /// SHA-256 of rejected candidates.
    pub rejected: Vec<String>,
    /// Replaced bundles freed so far.
    pub freed: u64,
    /// State directory errors so far.
    pub state_errors: u64,
    /// Why the host runs degraded, if it does: the only bundle at hand is quarantined or
    /// expired and keeps running for want of another. `None` when all is well.
    pub degraded: Option<String>,
    /// The last log entries.
    pub log: Vec<LogEntry>,
}

/// A hook called when a replaced bundle is freed: its activation number and identity.
pub type RetireHook = Arc<dyn Fn(u64, &BundleRecord) + Send + Sync>;

/// Shared with every [`Active`]: what is left when one is freed.
#[derive(Default)]
struct Retired {
    freed: AtomicU64,
    alerts: Mutex<BTreeMap<String, u64>>,
    hook: Mutex<Option<RetireHook>>,
}

/// A running (or runnable) bundle: its engine, compiled, and its identity.
struct Active {
    generation: u64,
    record: BundleRecord,
    engine: Engine,
    loaded: Loaded,
    bytes: Arc<[u8]>,
    since_unix: u64,
    alerts: RuleCounts,
    shadow: bool,
    retired: Arc<Retired>,
}

impl Drop for Active {
    /// The last event using this bundle has finished: fold its counts (an active bundle's,
    /// not a shadow candidate's), then tell the hook.
    fn drop(&mut self) {
        if !self.shadow {
            let mut folded = lock(&self.retired.alerts);
            for (rule, n) in self.alerts.snapshot() {
                if n > 0 {
                    *folded.entry(rule).or_insert(0) += n;
                }
            }
        }
        self.retired.freed.fetch_add(1, Ordering::SeqCst);
        let hook = lock(&self.retired.hook).clone();
        if let Some(hook) = hook {
            hook(self.generation, &self.record);
        }
    }
}

/// A staged candidate running in shadow.
struct Candidate {
    active: Arc<Active>,
    against_generation: u64,
    staged_at: Instant,
    staged_unix: u64,
    events: AtomicU64,
    active_alerts: RuleCounts,
}

/// Updates' serialised part: versions, last known good, the state directory, counters.
#[derive(Default)]
struct Control {
    state: Option<StateDir>,
    persisted: PersistedState,
    lkg_bytes: Option<Arc<[u8]>>,
    next_generation: u64,
    updates: UpdateCounts,
    log: VecDeque<LogEntry>,
    log_seq: u64,
    state_errors: u64,
    /// Bundle files of the last activation not yet on disk (the write failed): written with
    /// the next record, which is not written without them.
    unwritten: Vec<(String, Arc<[u8]>)>,
    /// The file the bundle of the current call came from.
    source: Option<String>,
    /// See [`DeployStatus::degraded`].
    degraded: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn describe(r: &BundleRecord) -> String {
    let sha = r.sha256.get(..12).unwrap_or(&r.sha256);
    format!("{} v{} {sha}", r.bundle_id, r.content_version)
}

fn record_of(loaded: &Loaded) -> BundleRecord {
    BundleRecord {
        bundle_id: loaded.header.bundle_id.clone(),
        content_version: loaded.header.content_version,
        sha256: to_hex(&loaded.sha256),
        program_hash: to_hex(&program_hash(loaded.verified.program())),
        key_id: loaded.header.key_id.map(|k| k.to_string()),
    }
}

fn system_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Control {
    fn log(
        &mut self,
        now: u64,
        event: &'static str,
        bundle: Option<&BundleRecord>,
        code: Option<String>,
        message: String,
    ) {
        self.log_seq += 1;
        if self.log.len() >= LOG_ENTRIES {
            self.log.pop_front();
        }
        self.log.push_back(LogEntry {
            seq: self.log_seq,
            time_unix: now,
            event,
            bundle: bundle.map(describe),
            code,
            file: self.source.clone(),
            message,
        });
    }

    fn refuse(&mut self, now: u64, e: &UpdateError, bundle: Option<&BundleRecord>) {
        let code = e.code();
        *self.updates.refused.entry(code.clone()).or_insert(0) += 1;
        let message = e.to_string();
        self.updates.last_refusal = Some(match &self.source {
            Some(file) => format!("`{file}`: {message}"),
            None => message.clone(),
        });
        self.log(now, "refused", bundle, Some(code), message);
    }

    /// Remembers a bundle file refused for good (see [`PERMANENT_REFUSALS`]), in the state.
    fn remember_refused(&mut self, now: u64, sha256: &str, e: &UpdateError) {
        let code = e.code();
        if !PERMANENT_REFUSALS.contains(&code.as_str())
            || self.persisted.refused.iter().any(|r| r.sha256 == sha256)
        {
            return;
        }
        if self.persisted.refused.len() >= state::MAX_REFUSED {
            self.persisted.refused.remove(0);
        }
        self.persisted.refused.push(RefusedEntry {
            sha256: sha256.to_string(),
            code,
        });
        self.persist(now, &[]);
    }

    fn quarantined(&self, sha256: &str) -> bool {
        self.persisted.quarantine.iter().any(|q| q.sha256 == sha256)
    }

    /// Writes `files` and `state.json` as one transaction ([`StateDir::commit`]). A failure
    /// is logged and counted, not fatal: the running bundle is what matters. The files stay
    /// due, and every later write carries them (the record is never written without the
    /// files it names), so the directory keeps the previous consistent state until one
    /// succeeds.
    fn persist(&mut self, now: u64, files: &[(&str, &[u8])]) {
        let Some(dir) = self.state.clone() else {
            return;
        };
        self.persisted.format = 1;
        for (name, bytes) in files {
            self.unwritten.retain(|(n, _)| n != name);
            self.unwritten
                .push(((*name).to_string(), Arc::from(*bytes)));
        }
        let due: Vec<(&str, &[u8])> = self
            .unwritten
            .iter()
            .map(|(n, b)| (n.as_str(), &b[..]))
            .collect();
        match dir.commit(&due, &self.persisted) {
            Ok(()) => self.unwritten.clear(),
            Err(e) => {
                self.state_errors += 1;
                self.log(now, "state_error", None, Some(e.code()), e.to_string());
            }
        }
    }
}

/// Owns the running bundle and replaces it safely. See the module documentation.
pub struct Deployer {
    host: Schema,
    budget: Budget,
    options: DeployOptions,
    trust: ArcSwap<TrustStore>,
    active: ArcSwapOption<Active>,
    candidate: ArcSwapOption<Candidate>,
    control: Mutex<Control>,
    retired: Arc<Retired>,
    clock: ArcSwap<Box<dyn Fn() -> u64 + Send + Sync>>,
    received: AtomicU64,
    evaluated: AtomicU64,
    dropped_no_active: AtomicU64,
    dropped_refused: AtomicU64,
    dropped_other: Mutex<BTreeMap<String, u64>>,
    alerts: AtomicU64,
    shadow_alerts: AtomicU64,
}

impl std::fmt::Debug for Deployer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployer")
            .field("active", &self.active.load().as_ref().map(|a| &a.record))
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

enum Prepared {
    Ready(Box<Active>),
    Unchanged(BundleRecord),
    /// A candidate that cannot run beside the active bundle within the budget: it replaces
    /// the active bundle without staging (the message says so).
    Swap(Box<Active>, String),
}

/// A refusal, with the bundle when it got far enough to be known.
type Refusal = Box<(UpdateError, Option<BundleRecord>)>;

impl Deployer {
    /// A deployer for host schema `host` under `budget`, trusting `trust`, with no bundle yet
    /// (events are dropped, E0811, until one is activated).
    pub fn new(host: Schema, budget: Budget, trust: TrustStore, options: DeployOptions) -> Self {
        Deployer {
            host,
            budget,
            options,
            trust: ArcSwap::from_pointee(trust),
            active: ArcSwapOption::empty(),
            candidate: ArcSwapOption::empty(),
            control: Mutex::new(Control::default()),
            retired: Arc::new(Retired::default()),
            clock: ArcSwap::from_pointee(Box::new(system_now)),
            received: AtomicU64::new(0),
            evaluated: AtomicU64::new(0),
            dropped_no_active: AtomicU64::new(0),
            dropped_refused: AtomicU64::new(0),
            dropped_other: Mutex::new(BTreeMap::new()),
            alerts: AtomicU64::new(0),
            shadow_alerts: AtomicU64::new(0),
        }
    }

    /// Replaces the clock (Unix seconds) used for expiry, logs and the crash-loop window.
    pub fn set_clock(&self, clock: impl Fn() -> u64 + Send + Sync + 'static) {
        self.clock.store(Arc::new(Box::new(clock)));
    }

    fn now(&self) -> u64 {
        (self.clock.load())()
    }

    /// Replaces the trusted keys and the revocation list for every later load (a running
    /// bundle signed by a key revoked now keeps running until replaced; a restart will refuse
    /// it and fall back to the last known good bundle).
    pub fn set_trust(&self, trust: TrustStore) {
        self.trust.store(Arc::new(trust));
        let now = self.now();
        lock(&self.control).log(
            now,
            "trust",
            None,
            None,
            "trusted keys replaced".to_string(),
        );
    }

    /// Calls `hook` each time a replaced bundle (or a dropped candidate) is freed, after the
    /// last event using it. The hook runs on whichever thread lets go last, possibly inside an
    /// update: it must not call back into the deployer.
    pub fn on_retire(&self, hook: impl Fn(u64, &BundleRecord) + Send + Sync + 'static) {
        *lock(&self.retired.hook) = Some(Arc::new(hook));
    }

    /// The host schema.
    pub fn host(&self) -> &Schema {
        &self.host
    }

    /// The options.
    pub fn options(&self) -> &DeployOptions {
        &self.options
    }

    /// The active bundle.
    pub fn active(&self) -> Option<BundleRecord> {
        self.active.load().as_ref().map(|a| a.record.clone())
    }

    /// The active bundle's tag.
    pub fn active_tag(&self) -> Option<BundleTag> {
        self.active.load().as_ref().map(|a| BundleTag {
            generation: a.generation,
            content_version: a.record.content_version,
        })
    }

    /// The last known good bundle.
    pub fn last_known_good(&self) -> Option<BundleRecord> {
        lock(&self.control).persisted.lkg.clone()
    }

    /// The staged candidate.
    pub fn candidate(&self) -> Option<BundleRecord> {
        self.candidate
            .load()
            .as_ref()
            .map(|c| c.active.record.clone())
    }

    /// Whether bundle bytes with SHA-256 `sha256` (hex) were rejected as a candidate.
    pub fn was_rejected(&self, sha256: &str) -> bool {
        lock(&self.control)
            .persisted
            .rejected
            .iter()
            .any(|s| s == sha256)
    }

    /// Whether bundle bytes with SHA-256 `sha256` (hex) are quarantined.
    pub fn is_quarantined(&self, sha256: &str) -> bool {
        lock(&self.control).quarantined(sha256)
    }

    /// Evaluates `event` on the active bundle (loaded once: the whole event runs on it),
    /// calling `on_alert` for each alert, then on the shadow candidate if one is staged (its
    /// alerts marked `shadow`). An event with no active bundle, or that does not fit the active
    /// bundle's binding, is dropped and counted.
    pub fn process(&self, event: &Event<'_>, on_alert: &mut dyn FnMut(&Alert)) -> Processed {
        self.received.fetch_add(1, Ordering::Relaxed);
        let active = self.active.load();
        let Some(active) = active.as_ref() else {
            self.dropped_no_active.fetch_add(1, Ordering::Relaxed);
            return Processed::default();
        };
        let candidate = self.candidate.load();
        let candidate = candidate
            .as_ref()
            .filter(|c| c.against_generation == active.generation);
        let mut out = Processed {
            bundle: Some(BundleTag {
                generation: active.generation,
                content_version: active.record.content_version,
            }),
            ..Processed::default()
        };
        let result = active.engine.process(event, &mut |alert| {
            active.alerts.bump(&alert.rule);
            if let Some(c) = candidate {
                c.active_alerts.bump(&alert.rule);
            }
            on_alert(alert);
        });
        match result {
            Ok(n) => {
                out.evaluated = true;
                out.alerts = n;
                self.evaluated.fetch_add(1, Ordering::Relaxed);
                self.alerts.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(_) => {
                self.dropped_refused.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(c) = candidate {
            c.events.fetch_add(1, Ordering::Relaxed);
            let shadow = &c.active;
            let n = shadow
                .engine
                .process(event, &mut |alert| {
                    shadow.alerts.bump(&alert.rule);
                    on_alert(alert);
                })
                .unwrap_or(0);
            out.shadow_alerts = n;
            self.shadow_alerts.fetch_add(n as u64, Ordering::Relaxed);
        }
        out
    }

    /// Counts one event the host received but dropped before evaluation (a line that did not
    /// decode, say), under `code` (`E0701`, ...): it is received and dropped.
    pub fn record_dropped(&self, code: &str) {
        self.received.fetch_add(1, Ordering::Relaxed);
        *lock(&self.dropped_other)
            .entry(code.to_string())
            .or_insert(0) += 1;
    }

    /// Loads, checks and compiles `bytes` entirely, then swaps it in between events. Any
    /// failure leaves the running bundle untouched, is counted under its code and returned.
    pub fn update(&self, bytes: &[u8]) -> Result<UpdateOutcome, UpdateError> {
        self.update_from(bytes, None)
    }

    /// [`Deployer::update`] of bytes read from `file` (named in the log and the status).
    pub fn update_from(
        &self,
        bytes: &[u8],
        file: Option<&str>,
    ) -> Result<UpdateOutcome, UpdateError> {
        let mut ctl = lock(&self.control);
        ctl.source = file.map(str::to_string);
        let now = self.now();
        let out = match self.prepare(&ctl, bytes, now, Versions::All, false, false) {
            Err(r) => {
                let (e, record) = *r;
                ctl.refuse(now, &e, record.as_ref());
                ctl.remember_refused(now, &sha_hex(bytes), &e);
                Err(e)
            }
            Ok(Prepared::Unchanged(bundle)) => Ok(UpdateOutcome::Unchanged { bundle }),
            Ok(Prepared::Ready(active) | Prepared::Swap(active, _)) => {
                Ok(self.activate(&mut ctl, active, now, "activated"))
            }
        };
        ctl.source = None;
        out
    }

    /// The last resort of a host with no active bundle when none of the bundles at hand
    /// activates ([`Deployer::update_from`] refused them all): runs `bytes` although it is
    /// quarantined or expired (nothing else is waived), a quarantined bundle beating none.
    /// Logged as `kept` and `degraded`; [`DeployStatus::degraded`] says why. Otherwise
    /// refused as an update would be (not counted again).
    pub fn keep_from(
        &self,
        bytes: &[u8],
        file: Option<&str>,
    ) -> Result<UpdateOutcome, UpdateError> {
        let mut ctl = lock(&self.control);
        ctl.source = file.map(str::to_string);
        let now = self.now();
        let out = match self.prepare(&ctl, bytes, now, Versions::All, false, false) {
            Err(r) => {
                let (e, _) = *r;
                self.keep_instead(&mut ctl, bytes, now, &e, Versions::All)
                    .ok_or(e)
            }
            Ok(Prepared::Unchanged(bundle)) => Ok(UpdateOutcome::Unchanged { bundle }),
            Ok(Prepared::Ready(active) | Prepared::Swap(active, _)) => {
                Ok(self.activate(&mut ctl, active, now, "activated"))
            }
        };
        ctl.source = None;
        out
    }

    /// With no active bundle, and `e` a refusal for quarantine (or expiry) alone, the bundle
    /// runs all the same: a quarantined bundle beats none. Logged as `kept`, and the status is
    /// marked degraded.
    fn keep_instead(
        &self,
        ctl: &mut Control,
        bytes: &[u8],
        now: u64,
        e: &UpdateError,
        versions: Versions,
    ) -> Option<UpdateOutcome> {
        if self.active.load().is_some() || !matches!(e.code().as_str(), "E0804" | "E0512") {
            return None;
        }
        let Ok(Prepared::Ready(active)) = self.prepare(ctl, bytes, now, versions, false, true)
        else {
            return None;
        };
        let why = if e.code() == "E0804" {
            "quarantined after repeated crashes"
        } else {
            "expired"
        };
        let message = format!(
            "bundle {} is {why}, but no other bundle loads: it keeps running (lift the \
             quarantine or deploy a new bundle)",
            describe(&active.record)
        );
        let record = active.record.clone();
        ctl.degraded = Some(message.clone());
        let outcome = self.activate(ctl, active, now, "kept");
        ctl.log(now, "degraded", Some(&record), Some(e.code()), message);
        Some(outcome)
    }

    /// Records a refusal the host made before handing the bytes over (a bundle file that is
    /// not a regular file, or too large to be a bundle), naming `file`.
    pub fn record_refusal(&self, e: &UpdateError, file: &str) {
        let mut ctl = lock(&self.control);
        let now = self.now();
        ctl.source = Some(file.to_string());
        ctl.refuse(now, e, None);
        ctl.source = None;
    }

    /// The code a bundle file with SHA-256 `sha256` (hex) was refused with for good before
    /// (malformed, tampered, below the versions accepted), if it was: a host need not read
    /// it or count it again. Version refusals do not count with `allow_downgrade`.
    pub fn refused_before(&self, sha256: &str) -> Option<String> {
        let ctl = lock(&self.control);
        ctl.persisted
            .refused
            .iter()
            .find(|r| {
                r.sha256 == sha256
                    && !(self.options.allow_downgrade
                        && matches!(r.code.as_str(), "E0801" | "E0802"))
            })
            .map(|r| r.code.clone())
    }

    /// Tells the crash-loop breaker whether the active bundle is evaluating (`true`) or idle
    /// (`false`): its run entry is unclean only while it evaluates (and from its activation
    /// until the first call), so a process killed while idle is not counted as a crash. The
    /// state is written on each change.
    pub fn set_busy(&self, busy: bool) {
        let Some(sha) = self.active.load().as_ref().map(|a| a.record.sha256.clone()) else {
            return;
        };
        let mut ctl = lock(&self.control);
        let now = self.now();
        if ctl.state.is_none() {
            return;
        }
        let Some(run) = ctl
            .persisted
            .runs
            .iter_mut()
            .rev()
            .find(|r| r.sha256 == sha)
        else {
            return;
        };
        if run.clean != busy {
            return;
        }
        run.clean = !busy;
        ctl.persist(now, &[]);
    }

    /// Handles an active bundle whose expiry has passed as a load would: it is refused (E0512)
    /// and the last known good bundle replaces it; when there is none that loads, it keeps
    /// running and the status is marked degraded. Returns what was done, if anything.
    pub fn check_expiry(&self) -> Option<String> {
        let active = self.active.load_full()?;
        let expires = active.loaded.header.expires_unix?;
        let now = self.now();
        if now < expires {
            return None;
        }
        let mut ctl = lock(&self.control);
        if ctl
            .degraded
            .as_ref()
            .is_some_and(|d| d.contains(&describe(&active.record)))
        {
            return None;
        }
        let record = active.record.clone();
        drop(active);
        let message = format!("the bundle expired at {expires} (Unix seconds), it is now {now}");
        if let Some(bytes) = ctl.lkg_bytes.clone() {
            if let Ok(Prepared::Ready(lkg)) =
                self.prepare(&ctl, &bytes, now, Versions::Skip, false, false)
            {
                ctl.log(
                    now,
                    "expired",
                    Some(&record),
                    Some("E0512".into()),
                    message.clone(),
                );
                self.activate(&mut ctl, lkg, now, "rolled_back");
                return Some(format!(
                    "{} expired: the last known good bundle replaces it",
                    describe(&record)
                ));
            }
        }
        let degraded = format!(
            "bundle {} expired at {expires}, but no other bundle loads: it keeps running \
             (deploy a new bundle)",
            describe(&record)
        );
        ctl.log(
            now,
            "expired",
            Some(&record),
            Some("E0512".into()),
            degraded.clone(),
        );
        ctl.degraded = Some(degraded.clone());
        Some(degraded)
    }

    /// Why the host runs degraded, if it does. See [`DeployStatus::degraded`].
    pub fn degraded(&self) -> Option<String> {
        lock(&self.control).degraded.clone()
    }

    /// Loads, checks and compiles `bytes`, then runs it in shadow beside the active bundle
    /// until [`Deployer::review`] decides. Refused as [`Deployer::update`] would, and also when
    /// its version is not above a staged candidate's, or the two bundles together exceed the
    /// host's budget (E0805). With no active bundle, it is activated directly.
    pub fn stage(&self, bytes: &[u8]) -> Result<StageOutcome, UpdateError> {
        self.stage_from(bytes, None)
    }

    /// [`Deployer::stage`] of bytes read from `file` (named in the log and the status). A
    /// candidate that cannot run beside the active bundle within the budget (E0805) replaces
    /// it without staging, and the log says so.
    pub fn stage_from(
        &self,
        bytes: &[u8],
        file: Option<&str>,
    ) -> Result<StageOutcome, UpdateError> {
        if self.active.load().is_none() {
            return match self.update_from(bytes, file)? {
                UpdateOutcome::Activated {
                    bundle, generation, ..
                } => Ok(StageOutcome::Activated { bundle, generation }),
                UpdateOutcome::Unchanged { bundle } => Ok(StageOutcome::Unchanged { bundle }),
            };
        }
        let mut ctl = lock(&self.control);
        ctl.source = file.map(str::to_string);
        let out = self.stage_locked(&mut ctl, bytes);
        ctl.source = None;
        out
    }

    fn stage_locked(&self, ctl: &mut Control, bytes: &[u8]) -> Result<StageOutcome, UpdateError> {
        let now = self.now();
        let Some(current) = self.active.load_full() else {
            return Err(UpdateError::refused(
                DeployCode::NoActiveBundle,
                "no active bundle to stage a candidate beside",
            ));
        };
        let staged = self.candidate.load_full();
        let prepared = self
            .prepare(ctl, bytes, now, Versions::All, true, false)
            .and_then(|p| match p {
                Prepared::Ready(a) => self.check_candidate(a, &current, staged.as_deref()),
                other => Ok(other),
            });
        match prepared {
            Err(r) => {
                let (e, record) = *r;
                ctl.refuse(now, &e, record.as_ref());
                ctl.remember_refused(now, &sha_hex(bytes), &e);
                Err(e)
            }
            Ok(Prepared::Unchanged(bundle)) => Ok(StageOutcome::Unchanged { bundle }),
            Ok(Prepared::Swap(shadow, why)) => {
                let options = EngineOptions {
                    engine: self.options.engine,
                    shadow: false,
                    lateness_ns: self.options.lateness_ns,
                    ..EngineOptions::default()
                };
                let engine = Engine::from_loaded(&shadow.loaded, options).map_err(|e| {
                    let e = UpdateError::refused(DeployCode::EngineBuild, e.to_string());
                    ctl.refuse(now, &e, Some(&shadow.record));
                    e
                })?;
                let active = self.make_active(
                    ctl,
                    engine,
                    shadow.loaded.clone(),
                    shadow.bytes.clone(),
                    now,
                    false,
                );
                let bundle = active.record.clone();
                ctl.log(
                    now,
                    "swapped",
                    Some(&bundle),
                    Some(DeployCode::OverBudget.code()),
                    format!("replaces the active bundle without staging: {why}"),
                );
                match self.activate(ctl, Box::new(active), now, "activated") {
                    UpdateOutcome::Activated {
                        bundle, generation, ..
                    } => Ok(StageOutcome::Activated { bundle, generation }),
                    UpdateOutcome::Unchanged { bundle } => Ok(StageOutcome::Unchanged { bundle }),
                }
            }
            Ok(Prepared::Ready(shadow)) => {
                let bundle = shadow.record.clone();
                let candidate = Candidate {
                    against_generation: current.generation,
                    active_alerts: RuleCounts::new(current.loaded.verified.program()),
                    active: Arc::from(shadow),
                    staged_at: Instant::now(),
                    staged_unix: now,
                    events: AtomicU64::new(0),
                };
                let old = self.candidate.swap(Some(Arc::new(candidate)));
                let superseded = old.map(|c| c.active.record.clone());
                if let Some(s) = &superseded {
                    let e = UpdateError::refused(
                        DeployCode::Superseded,
                        format!("candidate superseded by {}", describe(&bundle)),
                    );
                    ctl.updates.rejected += 1;
                    ctl.refuse(now, &e, Some(s));
                }
                ctl.updates.staged += 1;
                ctl.log(
                    now,
                    "staged",
                    Some(&bundle),
                    None,
                    "running in shadow beside the active bundle".to_string(),
                );
                Ok(StageOutcome::Staged { bundle, superseded })
            }
        }
    }

    /// Staging checks against the running bundle and the staged candidate.
    fn check_candidate(
        &self,
        shadow: Box<Active>,
        current: &Active,
        staged: Option<&Candidate>,
    ) -> Result<Prepared, Refusal> {
        let record = shadow.record.clone();
        if let Some(staged) = staged {
            if staged.active.record.sha256 == record.sha256 {
                return Ok(Prepared::Unchanged(record));
            }
            if record.content_version <= staged.active.record.content_version {
                return Err(Box::new((
                    UpdateError::refused(
                        DeployCode::Downgrade,
                        format!(
                            "content version {} is not above the staged candidate's ({})",
                            record.content_version, staged.active.record.content_version
                        ),
                    ),
                    Some(record),
                )));
            }
        }
        if let Err(m) = combined_cost_fits(
            current.loaded.verified.cost(),
            shadow.loaded.verified.cost(),
            &self.budget,
        ) {
            // Each fits alone (the loader checked the candidate): it cannot be compared in
            // shadow, so it replaces the active bundle directly.
            return Ok(Prepared::Swap(shadow, m));
        }
        Ok(Prepared::Ready(shadow))
    }

    /// Decides on the staged candidate once the policy says it is due: promotes it (it
    /// replaces the active bundle, atomically) or rejects it (it is dropped; the active bundle
    /// runs on). `None` when there is no candidate or it is not due yet. Cheap to call often.
    pub fn review(&self) -> Option<ReviewOutcome> {
        self.review_inner(false)
    }

    /// Decides on the staged candidate now, due or not.
    pub fn review_now(&self) -> Option<ReviewOutcome> {
        self.review_inner(true)
    }

    fn review_inner(&self, force: bool) -> Option<ReviewOutcome> {
        let candidate = self.candidate.load_full()?;
        let policy = &self.options.policy;
        let events = candidate.events.load(Ordering::Relaxed);
        let due = force
            || events >= policy.after_events
            || policy
                .after_secs
                .is_some_and(|s| candidate.staged_at.elapsed().as_secs() >= s);
        if !due {
            return None;
        }
        let mut ctl = lock(&self.control);
        let now = self.now();
        let still = self.candidate.load_full();
        if !still.as_ref().is_some_and(|c| Arc::ptr_eq(c, &candidate)) {
            return None;
        }
        let report = shadow_report(&candidate);
        let bundle = candidate.active.record.clone();
        let decision = decide(policy, &report).and_then(|reason| {
            let options = EngineOptions {
                engine: self.options.engine,
                shadow: false,
                lateness_ns: self.options.lateness_ns,
                ..EngineOptions::default()
            };
            Engine::from_loaded(&candidate.active.loaded, options)
                .map(|engine| (engine, reason))
                .map_err(|e| (DeployCode::EngineBuild, e.to_string()))
        });
        match decision {
            Ok((engine, reason)) => {
                let active = self.make_active(
                    &ctl,
                    engine,
                    candidate.active.loaded.clone(),
                    candidate.active.bytes.clone(),
                    now,
                    false,
                );
                self.candidate.store(None);
                let generation = active.generation;
                ctl.updates.promoted += 1;
                ctl.log(now, "promoted", Some(&bundle), None, reason.clone());
                self.activate(&mut ctl, Box::new(active), now, "activated");
                Some(ReviewOutcome::Promoted {
                    bundle,
                    generation,
                    reason,
                })
            }
            Err((code, reason)) => {
                self.candidate.store(None);
                ctl.updates.rejected += 1;
                let e = UpdateError::refused(code, reason.clone());
                ctl.refuse(now, &e, Some(&bundle));
                ctl.log(
                    now,
                    "rejected",
                    Some(&bundle),
                    Some(code.code()),
                    "rolled back: the active bundle runs on".to_string(),
                );
                if ctl.persisted.rejected.len() >= state::MAX_REJECTED {
                    ctl.persisted.rejected.remove(0);
                }
                ctl.persisted.rejected.push(bundle.sha256.clone());
                ctl.persist(now, &[]);
                Some(ReviewOutcome::Rejected {
                    bundle,
                    code,
                    reason,
                })
            }
        }
    }

    /// Reactivates the last known good bundle (not a downgrade: the highest accepted version
    /// stays). Refused (E0813) when there is none, or when it no longer loads.
    pub fn rollback(&self) -> Result<UpdateOutcome, UpdateError> {
        let mut ctl = lock(&self.control);
        let now = self.now();
        let Some(bytes) = ctl.lkg_bytes.clone() else {
            let e = UpdateError::refused(
                DeployCode::NoLastKnownGood,
                "there is no last known good bundle to roll back to",
            );
            ctl.refuse(now, &e, None);
            return Err(e);
        };
        match self.prepare(&ctl, &bytes, now, Versions::Skip, false, false) {
            Err(r) => {
                let (e, record) = *r;
                ctl.refuse(now, &e, record.as_ref());
                Err(e)
            }
            Ok(Prepared::Unchanged(bundle)) => Ok(UpdateOutcome::Unchanged { bundle }),
            Ok(Prepared::Ready(active) | Prepared::Swap(active, _)) => {
                Ok(self.activate(&mut ctl, active, now, "rolled_back"))
            }
        }
    }

    /// Load, quarantine, versions and engine: everything but the swap. `keep`: a bundle kept
    /// for want of another, loaded whatever its quarantine or expiry.
    fn prepare(
        &self,
        ctl: &Control,
        bytes: &[u8],
        now: u64,
        versions: Versions,
        shadow: bool,
        keep: bool,
    ) -> Result<Prepared, Refusal> {
        let trust = self.trust.load();
        let load_time = if keep { 0 } else { now };
        let loaded = load(bytes, &self.host, &trust, &self.budget, load_time)
            .map_err(|e| Box::new((e.into(), None)))?;
        let record = record_of(&loaded);
        let fail = |code: DeployCode, message: String| {
            Err(Box::new((
                UpdateError::refused(code, message),
                Some(record.clone()),
            )))
        };
        if ctl.quarantined(&record.sha256) && !keep {
            return fail(
                DeployCode::Quarantined,
                format!(
                    "bundle {} is quarantined after repeated crashes; lift it with \
                     `vigil agent --lift-quarantine {}`",
                    describe(&record),
                    record.sha256
                ),
            );
        }
        let current = self.active.load();
        if let Some(a) = current.as_ref() {
            if a.record.sha256 == record.sha256 {
                return Ok(Prepared::Unchanged(record));
            }
        }
        if versions != Versions::Skip {
            let v = record.content_version;
            let p = &ctl.persisted;
            if let Some(floor) = p.floor_version.filter(|f| v < *f) {
                return fail(
                    DeployCode::Downgrade,
                    format!(
                        "content version {v} is below the signed minimum version {floor} of an \
                         accepted bundle"
                    ),
                );
            }
            let all = versions == Versions::All;
            if let (Some(high), false, true) =
                (p.highest_version, self.options.allow_downgrade, all)
            {
                if v < high {
                    return fail(
                        DeployCode::Downgrade,
                        format!("content version {v} is below the highest accepted ({high})"),
                    );
                }
                if v == high
                    && p.highest_program_hash
                        .as_ref()
                        .is_some_and(|h| *h != record.program_hash)
                {
                    return fail(
                        DeployCode::Replay,
                        format!(
                            "content version {v} was accepted with other content; a new \
                             bundle needs a higher version"
                        ),
                    );
                }
            }
        }
        let options = EngineOptions {
            engine: self.options.engine,
            shadow,
            lateness_ns: self.options.lateness_ns,
            ..EngineOptions::default()
        };
        let engine = match Engine::from_loaded(&loaded, options) {
            Ok(e) => e,
            Err(e) => return fail(DeployCode::EngineBuild, e.to_string()),
        };
        Ok(Prepared::Ready(Box::new(self.make_active(
            ctl,
            engine,
            loaded,
            Arc::from(bytes),
            now,
            shadow,
        ))))
    }

    fn make_active(
        &self,
        ctl: &Control,
        engine: Engine,
        loaded: Loaded,
        bytes: Arc<[u8]>,
        now: u64,
        shadow: bool,
    ) -> Active {
        Active {
            generation: ctl.next_generation + 1,
            record: record_of(&loaded),
            alerts: RuleCounts::new(loaded.verified.program()),
            engine,
            loaded,
            bytes,
            since_unix: now,
            shadow,
            retired: self.retired.clone(),
        }
    }

    /// The swap, and everything recorded with it. `how` is the log event: `activated`,
    /// `rolled_back` or `restored`.
    fn activate(
        &self,
        ctl: &mut Control,
        active: Box<Active>,
        now: u64,
        how: &'static str,
    ) -> UpdateOutcome {
        // State hand-over: the sequence and threshold tables of unchanged stateful rules move
        // from the running bundle's engine to the new one just before the swap. Events still
        // in flight on the old bundle after this point update tables that are dropped with it
        // (a window of at most the events being evaluated at the swap).
        let adopted = self
            .active
            .load_full()
            .map(|cur| active.engine.adopt_state(&cur.engine));
        ctl.next_generation = active.generation;
        if how != "kept" {
            ctl.degraded = None;
        }
        let bundle = active.record.clone();
        let generation = active.generation;
        let bytes = active.bytes.clone();
        let min_version = active.loaded.header.min_version;
        // A candidate compared against the bundle being replaced means nothing any more.
        if let Some(c) = self.candidate.swap(None) {
            let e = UpdateError::refused(
                DeployCode::Superseded,
                format!("candidate superseded by {}", describe(&bundle)),
            );
            ctl.updates.rejected += 1;
            ctl.refuse(now, &e, Some(&c.active.record));
        }
        let old = self.active.swap(Some(Arc::from(active)));
        let replaced = old.as_ref().map(|o| o.record.clone());

        let p = &mut ctl.persisted;
        if how != "rolled_back" {
            let v = bundle.content_version;
            if p.highest_version.is_none_or(|h| v >= h) {
                p.highest_version = Some(v);
                p.highest_program_hash = Some(bundle.program_hash.clone());
            }
            if let Some(m) = min_version {
                p.floor_version = Some(p.floor_version.map_or(m, |f| f.max(m)));
            }
        }
        let mut files: Vec<(&str, Arc<[u8]>)> = vec![(ACTIVE_FILE, bytes)];
        if how == "activated" {
            if let Some(old) = &old {
                p.lkg = Some(old.record.clone());
                ctl.lkg_bytes = Some(old.bytes.clone());
                files.push((LKG_FILE, old.bytes.clone()));
            }
        }
        let p = &mut ctl.persisted;
        p.active = Some(bundle.clone());
        // The run ledger: the bundle we leave was left cleanly; the new one starts unclean.
        for run in p.runs.iter_mut().filter(|r| !r.clean) {
            if replaced.as_ref().is_some_and(|r| r.sha256 == run.sha256) {
                run.clean = true;
            }
        }
        p.runs.push(RunEntry {
            sha256: bundle.sha256.clone(),
            since_unix: now,
            clean: false,
        });
        if p.runs.len() > state::MAX_RUNS {
            let excess = p.runs.len() - state::MAX_RUNS;
            p.runs.drain(..excess);
        }
        ctl.updates.accepted += 1;
        let mut message = match &replaced {
            Some(r) => format!("replaces {}", describe(r)),
            None => "first bundle".to_string(),
        };
        if let Some(a) = adopted.filter(|a| !a.kept.is_empty()) {
            message.push_str(&format!("; state kept for {} rules", a.kept.len()));
        }
        ctl.log(now, how, Some(&bundle), None, message);
        let file_refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, &b[..])).collect();
        ctl.persist(now, &file_refs);
        drop(old);
        UpdateOutcome::Activated {
            bundle,
            generation,
            replaced,
        }
    }

    /// Opens the state directory: reads `state.json`, runs the crash-loop breaker, restores the
    /// active bundle (or the last known good one when the active one is quarantined or no
    /// longer loads) and records this start in the run ledger. From now on every activation
    /// is persisted there.
    pub fn open_state(&self, dir: StateDir) -> Restored {
        let mut ctl = lock(&self.control);
        let now = self.now();
        let mut out = Restored::default();
        match dir.read_state() {
            Ok(Some(s)) => ctl.persisted = s,
            Ok(None) => {}
            Err(e) => {
                ctl.state_errors += 1;
                ctl.log(now, "state_error", None, Some(e.code()), e.to_string());
                out.refusals.push(e);
            }
        }
        ctl.state = Some(dir.clone());
        // The crash-loop breaker: unclean runs are crashes.
        let mut shas: Vec<String> = ctl
            .persisted
            .runs
            .iter()
            .filter(|r| !r.clean)
            .map(|r| r.sha256.clone())
            .collect();
        shas.sort();
        shas.dedup();
        for sha in shas {
            let crashes = crashes_within(
                &ctl.persisted.runs,
                &sha,
                now,
                self.options.crash_window_secs,
            );
            if crashes < self.options.crash_limit || ctl.quarantined(&sha) {
                continue;
            }
            let known = [&ctl.persisted.active, &ctl.persisted.lkg]
                .into_iter()
                .flatten()
                .find(|r| r.sha256 == sha)
                .cloned()
                .unwrap_or_default();
            let entry = QuarantineEntry {
                sha256: sha,
                bundle_id: known.bundle_id.clone(),
                content_version: known.content_version,
                since_unix: now,
                crashes,
            };
            let record = BundleRecord {
                sha256: entry.sha256.clone(),
                ..known
            };
            ctl.log(
                now,
                "quarantined",
                Some(&record),
                Some(DeployCode::Quarantined.code()),
                format!(
                    "{crashes} unclean exits within {} s of running it",
                    self.options.crash_window_secs
                ),
            );
            ctl.persisted.quarantine.push(entry.clone());
            out.quarantined.push(entry);
        }
        // Restore: the active bundle, else the last known good one. A file is trusted no more
        // than an update: one that `state.json` names (by SHA-256) need only be at or above
        // the signed floor (a rollback may have left it below the highest version); any other
        // (copied over it, or left by an interrupted write) must pass every version check.
        let lkg = dir.read(LKG_FILE).ok().flatten();
        let lkg_sha = lkg.as_deref().map(sha_hex);
        ctl.lkg_bytes = lkg
            .filter(|_| ctl.persisted.lkg.as_ref().map(|r| &r.sha256) == lkg_sha.as_ref())
            .map(Arc::from);
        let mut fallback: Option<(Vec<u8>, UpdateError, Versions, bool)> = None;
        for (name, from_lkg) in [(ACTIVE_FILE, false), (LKG_FILE, true)] {
            let bytes = match dir.read(name) {
                Ok(Some(b)) => b,
                Ok(None) => continue,
                Err(e) => {
                    ctl.refuse(now, &e, None);
                    out.refusals.push(e);
                    continue;
                }
            };
            let sha = sha_hex(&bytes);
            let named = if from_lkg {
                &ctl.persisted.lkg
            } else {
                &ctl.persisted.active
            };
            let versions = if named.as_ref().is_some_and(|r| r.sha256 == sha) {
                Versions::Floor
            } else {
                Versions::All
            };
            match self.prepare(&ctl, &bytes, now, versions, false, false) {
                Ok(Prepared::Ready(active) | Prepared::Swap(active, _)) => {
                    let outcome = self.activate(&mut ctl, active, now, "restored");
                    if let UpdateOutcome::Activated { bundle, .. } = outcome {
                        out.active = Some(bundle);
                    }
                    out.from_lkg = from_lkg;
                    break;
                }
                Ok(Prepared::Unchanged(bundle)) => {
                    out.active = Some(bundle);
                    break;
                }
                Err(r) => {
                    let (e, record) = *r;
                    ctl.source = Some(dir.path().join(name).display().to_string());
                    ctl.refuse(now, &e, record.as_ref());
                    ctl.source = None;
                    if fallback.is_none() && matches!(e.code().as_str(), "E0804" | "E0512") {
                        fallback = Some((bytes, e.clone(), versions, from_lkg));
                    }
                    out.refusals.push(e);
                }
            }
        }
        // Never blind while a verified bundle is at hand: a quarantined or expired one keeps
        // running when nothing else loads, and the status says so.
        if out.active.is_none() {
            if let Some((bytes, e, versions, from_lkg)) = fallback {
                if let Some(UpdateOutcome::Activated { bundle, .. }) =
                    self.keep_instead(&mut ctl, &bytes, now, &e, versions)
                {
                    out.active = Some(bundle);
                    out.from_lkg = from_lkg;
                }
            }
        }
        if out.active.is_none() {
            ctl.persist(now, &[]);
        }
        out
    }

    /// Marks the running bundle's run entry clean and writes the state: call on a clean
    /// shutdown, or the next start counts this run as a crash.
    pub fn shutdown(&self) {
        let mut ctl = lock(&self.control);
        let now = self.now();
        for run in &mut ctl.persisted.runs {
            run.clean = true;
        }
        ctl.persist(now, &[]);
    }

    /// Lifts the quarantine of the bundles whose SHA-256 starts with `sha256_prefix` (at
    /// least 8 hex digits); their crash history is forgotten. Returns the entries lifted.
    pub fn lift_quarantine(&self, sha256_prefix: &str) -> Vec<QuarantineEntry> {
        let mut ctl = lock(&self.control);
        let now = self.now();
        let lifted = lift(&mut ctl.persisted, sha256_prefix);
        for q in &lifted {
            let record = BundleRecord {
                bundle_id: q.bundle_id.clone(),
                content_version: q.content_version,
                sha256: q.sha256.clone(),
                ..BundleRecord::default()
            };
            ctl.log(
                now,
                "lifted",
                Some(&record),
                None,
                "quarantine lifted".to_string(),
            );
        }
        if !lifted.is_empty() {
            ctl.persist(now, &[]);
        }
        lifted
    }

    /// Log entries with a sequence number above `after`.
    pub fn log_since(&self, after: u64) -> Vec<LogEntry> {
        lock(&self.control)
            .log
            .iter()
            .filter(|e| e.seq > after)
            .cloned()
            .collect()
    }

    /// Event accounting so far.
    pub fn event_counts(&self) -> EventCounts {
        let mut dropped = lock(&self.dropped_other).clone();
        let mut add = |code: DeployCode, n: u64| {
            if n > 0 {
                *dropped.entry(code.code()).or_insert(0) += n;
            }
        };
        add(
            DeployCode::NoActiveBundle,
            self.dropped_no_active.load(Ordering::Relaxed),
        );
        add(
            DeployCode::EventRefused,
            self.dropped_refused.load(Ordering::Relaxed),
        );
        EventCounts {
            received: self.received.load(Ordering::Relaxed),
            evaluated: self.evaluated.load(Ordering::Relaxed),
            dropped,
        }
    }

    /// Replaced bundles freed so far.
    pub fn freed(&self) -> u64 {
        self.retired.freed.load(Ordering::SeqCst)
    }

    /// A snapshot of everything. See [`DeployStatus`].
    pub fn status(&self) -> DeployStatus {
        let events = self.event_counts();
        let active_now = self.active.load_full();
        let candidate = self.candidate.load_full();
        let mut per_rule = lock(&self.retired.alerts).clone();
        let active = active_now.as_ref().map(|a| {
            let counts = a.alerts.snapshot();
            for (rule, n) in &counts {
                if *n > 0 {
                    *per_rule.entry(rule.clone()).or_insert(0) += n;
                }
            }
            let stats = a.engine.stats();
            ActiveStatus {
                bundle: a.record.clone(),
                generation: a.generation,
                since_unix: a.since_unix,
                errors: stats.eval_errors + stats.internal_errors,
                alerts_per_rule: counts,
                event_time: EventTimeCounts {
                    late_skipped: stats.state_late,
                    late_accepted: stats.state_late_accepted,
                    missing_time: stats.state_missing_time,
                    clock_resets: stats.state_clock_resets,
                },
            }
        });
        let candidate = candidate.map(|c| CandidateStatus {
            bundle: c.active.record.clone(),
            staged_unix: c.staged_unix,
            report: shadow_report(&c),
        });
        let ctl = lock(&self.control);
        DeployStatus {
            active,
            candidate,
            lkg: ctl.persisted.lkg.clone(),
            highest_version: ctl.persisted.highest_version,
            floor_version: ctl.persisted.floor_version,
            events,
            alerts: AlertCounts {
                total: self.alerts.load(Ordering::Relaxed),
                shadow: self.shadow_alerts.load(Ordering::Relaxed),
                per_rule,
            },
            updates: ctl.updates.clone(),
            quarantine: ctl.persisted.quarantine.clone(),
            rejected: ctl.persisted.rejected.clone(),
            freed: self.freed(),
            state_errors: ctl.state_errors,
            degraded: ctl.degraded.clone(),
            log: ctl.log.iter().cloned().collect(),
        }
    }
}

/// SHA-256 of `bytes`, lower-case hex.
fn sha_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

fn shadow_report(c: &Candidate) -> ShadowReport {
    let stats = c.active.engine.stats();
    ShadowReport {
        events: c.events.load(Ordering::Relaxed),
        candidate_errors: stats.eval_errors + stats.internal_errors + stats.refused_events,
        candidate_alerts: c.active.alerts.snapshot(),
        active_alerts: c.active_alerts.snapshot(),
    }
}

/// Removes the quarantine entries whose SHA-256 starts with `prefix` (at least 8 hex digits)
/// and forgets their crash history.
fn lift(state: &mut PersistedState, prefix: &str) -> Vec<QuarantineEntry> {
    let prefix = prefix.trim().to_ascii_lowercase();
    if prefix.len() < 8 {
        return Vec::new();
    }
    let (lifted, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut state.quarantine)
        .into_iter()
        .partition(|q| q.sha256.starts_with(&prefix));
    state.quarantine = kept;
    for run in &mut state.runs {
        if lifted.iter().any(|q| q.sha256 == run.sha256) {
            run.clean = true;
        }
    }
    lifted
}

/// Lifts a quarantine in a state directory no process is running on (what
/// `vigil agent --lift-quarantine` does). Returns the entries lifted.
pub fn lift_quarantine_in(
    dir: &StateDir,
    sha256_prefix: &str,
) -> Result<Vec<QuarantineEntry>, UpdateError> {
    let mut state = dir.read_state()?.unwrap_or_default();
    let lifted = lift(&mut state, sha256_prefix);
    if !lifted.is_empty() {
        dir.write_state(&state)?;
    }
    Ok(lifted)
}
