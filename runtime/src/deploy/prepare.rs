//! Everything a bundle passes before the swap: load (frame, signature, expiry, minimum
//! version, bind, verify), quarantine, the version checks and the engine build, giving the
//! [`Active`] that [`Deployer::activate`] swaps in. It changes nothing: a refusal here leaves
//! the deployer as it was.

use std::sync::Arc;

use super::control::{describe, Control};
use super::{Active, BundleRecord, Deployer, ErrorCode, RuleCounts, UpdateError};
use crate::bundle::{load, Loaded};
use crate::engine::{Engine, EngineOptions};
use crate::hash::{program_hash, to_hex};

/// Which version checks a load makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Versions {
    /// None (a rollback to the last known good bundle).
    Skip,
    /// Only the signed floor (a restored file that `state.json` names).
    Floor,
    /// All: floor, highest accepted, replay (an update).
    All,
}

pub(super) enum Prepared {
    Ready(Box<Active>),
    Unchanged(BundleRecord),
    /// A candidate that cannot run beside the active bundle within the budget: it replaces
    /// the active bundle without staging (the message says so).
    Swap(Box<Active>, String),
}

/// A refusal, with the bundle when it got far enough to be known.
pub(super) type Refusal = Box<(UpdateError, Option<BundleRecord>)>;

pub(super) fn record_of(loaded: &Loaded) -> BundleRecord {
    BundleRecord {
        bundle_id: loaded.header.bundle_id.clone(),
        content_version: loaded.header.content_version,
        sha256: to_hex(&loaded.sha256),
        program_hash: to_hex(&program_hash(loaded.verified.program())),
        key_id: loaded.header.key_id.map(|k| k.to_string()),
    }
}

impl Deployer {
    /// Load, quarantine, versions and engine: everything but the swap. `keep`: a bundle kept
    /// for want of another, loaded whatever its quarantine or expiry.
    pub(super) fn prepare(
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
        let fail = |code: ErrorCode, message: String| {
            Err(Box::new((
                UpdateError::refused(code, message),
                Some(record.clone()),
            )))
        };
        if ctl.quarantined(&record.sha256) && !keep {
            return fail(
                ErrorCode::Quarantined,
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
                    ErrorCode::Downgrade,
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
                        ErrorCode::Downgrade,
                        format!("content version {v} is below the highest accepted ({high})"),
                    );
                }
                if v == high
                    && p.highest_program_hash
                        .as_ref()
                        .is_some_and(|h| *h != record.program_hash)
                {
                    return fail(
                        ErrorCode::Replay,
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
            Err(e) => return fail(ErrorCode::EngineBuild, e.to_string()),
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

    pub(super) fn make_active(
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
}
