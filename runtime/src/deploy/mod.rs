//! Safe content deployment: the [`Deployer`] owns the running bundle and replaces it only with
//! one that is fully loaded, verified, bound and compiled, between events.
//!
//! Input: bundle bytes ([`Deployer::update`], [`Deployer::stage`]) and events
//! ([`Deployer::process`]); output: alerts through a callback, typed outcomes or coded refusals
//! ([`UpdateError`]: the loader's E04xx–E06xx, or this module's E08xx, [`ErrorCode`]), and a
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
//!
//! This file holds the [`Deployer`], the bundle it runs (`Active`), [`Deployer::new`],
//! [`Deployer::update`], [`Deployer::process`], [`Deployer::rollback`] and the swap
//! (`Deployer::activate`). The rest, one job a file: `prepare.rs` (what a bundle passes
//! before the swap), `shadow.rs` (staging and promotion), `restore.rs` (the state directory's
//! restore and the crash-loop breaker), `control.rs` (the log, counters and persistence),
//! `status.rs` (outcome and status types, and the queries that report them); [`policy`]
//! (promotion decisions), [`state`] (the state directory's files), [`error`] (E08xx).

pub mod error;
pub mod policy;
pub mod state;

mod control;
mod prepare;
mod restore;
mod shadow;
mod status;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arc_swap::{ArcSwap, ArcSwapOption};

pub use control::LOG_ENTRIES;
pub use error::{ErrorCode, UpdateError};
pub use policy::{combined_cost_fits, decide, PromotionPolicy, RuleCounts, ShadowReport};
pub use restore::lift_quarantine_in;
pub use state::{
    crashes_within, BundleRecord, PersistedState, QuarantineEntry, RefusedEntry, RunEntry,
    StateDir, ACTIVE_FILE, LKG_FILE, STATE_FILE,
};
pub use status::{
    ActiveStatus, AlertCounts, BundleTag, CandidateStatus, DeployStatus, EventCounts,
    EventTimeCounts, LogEntry, Processed, Restored, ReviewOutcome, StageOutcome, UpdateCounts,
    UpdateOutcome,
};

use crate::alert::Alert;
use crate::budget::Budget;
use crate::bundle::{Loaded, TrustStore, MAX_HEADER_BYTES, MAX_SECTION_BYTES};
use crate::engine::{Engine, EngineKind};
use crate::event::Event;
use crate::schema::Schema;
use control::{describe, sha_hex, Control};
use prepare::{Prepared, Versions};
use shadow::Candidate;

/// The largest file a bundle can be: magic and format version, the header, the four other
/// sections at their limit, and the signature, each with its 5-byte frame. A host reads no
/// more than this from a bundle file (about 256 MiB).
pub const MAX_BUNDLE_FILE_BYTES: u64 =
    (10 + 5 + MAX_HEADER_BYTES + 4 * (5 + MAX_SECTION_BYTES) + 5 + 64) as u64;

/// How a [`Deployer`] behaves.
#[derive(Clone, Debug, PartialEq)]
pub struct DeployOptions {
    /// The evaluator of every bundle. Default [`EngineKind::fastest`]: the JIT when it is built, else the interpreter.
    pub engine: EngineKind,
    /// Accept content versions below the highest accepted (never below a signed minimum).
    pub allow_downgrade: bool,
    /// When and how a shadow candidate is promoted.
    pub policy: PromotionPolicy,
    /// Unclean exits while running one bundle that quarantine it. Default 3.
    pub crash_limit: u32,
    /// The window those exits must fall in, in seconds. Default 600.
    pub crash_window_secs: u64,
    /// Every engine's
    /// [`EngineOptions::lateness_ns`](crate::engine::EngineOptions::lateness_ns): how much
    /// older than the newest time seen from its host an event may be and still count for
    /// stateful rules. Default 0.
    pub lateness_ns: u64,
}

impl Default for DeployOptions {
    fn default() -> DeployOptions {
        DeployOptions {
            engine: EngineKind::fastest(),
            allow_downgrade: false,
            policy: PromotionPolicy::default(),
            crash_limit: 3,
            crash_window_secs: 600,
            lateness_ns: 0,
        }
    }
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn system_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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

    /// Reactivates the last known good bundle (not a downgrade: the highest accepted version
    /// stays). Refused (E0813) when there is none, or when it no longer loads.
    pub fn rollback(&self) -> Result<UpdateOutcome, UpdateError> {
        let mut ctl = lock(&self.control);
        let now = self.now();
        let Some(bytes) = ctl.lkg_bytes.clone() else {
            let e = UpdateError::refused(
                ErrorCode::NoLastKnownGood,
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
                ErrorCode::Superseded,
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
}
