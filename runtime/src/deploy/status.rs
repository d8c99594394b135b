//! What a [`Deployer`] reports: the outcome of each call ([`UpdateOutcome`], [`StageOutcome`],
//! [`ReviewOutcome`], [`Restored`], [`Processed`]), the counters and the [`DeployStatus`]
//! snapshot, and the read-only queries that build them. Nothing here changes a deployer.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use serde::Serialize;

use super::shadow::shadow_report;
use super::{
    lock, BundleRecord, DeployOptions, Deployer, ErrorCode, QuarantineEntry, ShadowReport,
    UpdateError,
};
use crate::schema::Schema;

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
        code: ErrorCode,
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

impl Deployer {
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

    /// Why the host runs degraded, if it does. See [`DeployStatus::degraded`].
    pub fn degraded(&self) -> Option<String> {
        lock(&self.control).degraded.clone()
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
        let mut add = |code: ErrorCode, n: u64| {
            if n > 0 {
                *dropped.entry(code.code()).or_insert(0) += n;
            }
        };
        add(
            ErrorCode::NoActiveBundle,
            self.dropped_no_active.load(Ordering::Relaxed),
        );
        add(
            ErrorCode::EventRefused,
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
