//! Shadow and promotion: [`Deployer::stage`] runs a candidate beside the active bundle (its
//! alerts marked `shadow`), and [`Deployer::review`] promotes it (through the swap) or rejects
//! it by the [`PromotionPolicy`](super::PromotionPolicy). It never swaps by itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::control::{describe, sha_hex, Control};
use super::prepare::{Prepared, Refusal, Versions};
use super::{
    combined_cost_fits, decide, lock, state, Active, BundleRecord, Deployer, ErrorCode,
    ReviewOutcome, RuleCounts, ShadowReport, StageOutcome, UpdateError, UpdateOutcome,
};
use crate::engine::{Engine, EngineOptions};

/// A staged candidate running in shadow.
pub(super) struct Candidate {
    pub(super) active: Arc<Active>,
    pub(super) against_generation: u64,
    pub(super) staged_at: Instant,
    pub(super) staged_unix: u64,
    pub(super) events: AtomicU64,
    pub(super) active_alerts: RuleCounts,
}

pub(super) fn shadow_report(c: &Candidate) -> ShadowReport {
    let stats = c.active.engine.stats();
    ShadowReport {
        events: c.events.load(Ordering::Relaxed),
        candidate_errors: stats.eval_errors + stats.internal_errors + stats.refused_events,
        candidate_alerts: c.active.alerts.snapshot(),
        active_alerts: c.active_alerts.snapshot(),
    }
}

impl Deployer {
    /// The staged candidate.
    pub fn candidate(&self) -> Option<BundleRecord> {
        self.candidate
            .load()
            .as_ref()
            .map(|c| c.active.record.clone())
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
                ErrorCode::NoActiveBundle,
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
                    let e = UpdateError::refused(ErrorCode::EngineBuild, e.to_string());
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
                    Some(ErrorCode::OverBudget.code()),
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
                        ErrorCode::Superseded,
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
                        ErrorCode::Downgrade,
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
                .map_err(|e| (ErrorCode::EngineBuild, e.to_string()))
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
}
