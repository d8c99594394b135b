//! Restore and the crash-loop breaker: [`Deployer::open_state`] reads the state directory,
//! quarantines a bundle that keeps crashing the host, and restores the active (or last known
//! good) bundle; the run ledger ([`Deployer::set_busy`], [`Deployer::shutdown`]), lifting a
//! quarantine, and the last resorts that keep a quarantined or expired bundle running when
//! nothing else loads ([`Deployer::keep_from`], [`Deployer::check_expiry`]).

use std::sync::Arc;

use super::control::{describe, sha_hex, Control};
use super::prepare::{Prepared, Versions};
use super::{
    crashes_within, lock, BundleRecord, Deployer, ErrorCode, PersistedState, QuarantineEntry,
    Restored, StateDir, UpdateError, UpdateOutcome, ACTIVE_FILE, LKG_FILE,
};

impl Deployer {
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
        out.quarantined = self.trip_breaker(&mut ctl, now);
        self.restore(&mut ctl, &dir, now, &mut out);
        if out.active.is_none() {
            ctl.persist(now, &[]);
        }
        out
    }

    /// The crash-loop breaker: unclean runs are crashes, and a bundle with
    /// [`DeployOptions::crash_limit`](super::DeployOptions::crash_limit) of them within the
    /// window is quarantined. Returns the entries added.
    fn trip_breaker(&self, ctl: &mut Control, now: u64) -> Vec<QuarantineEntry> {
        let mut quarantined = Vec::new();
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
                Some(ErrorCode::Quarantined.code()),
                format!(
                    "{crashes} unclean exits within {} s of running it",
                    self.options.crash_window_secs
                ),
            );
            ctl.persisted.quarantine.push(entry.clone());
            quarantined.push(entry);
        }
        quarantined
    }

    /// Restores the active bundle, else the last known good one, into `out`. A file is trusted
    /// no more than an update: one that `state.json` names (by SHA-256) need only be at or
    /// above the signed floor (a rollback may have left it below the highest version); any
    /// other (copied over it, or left by an interrupted write) must pass every version check.
    fn restore(&self, ctl: &mut Control, dir: &StateDir, now: u64, out: &mut Restored) {
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
            match self.prepare(ctl, &bytes, now, versions, false, false) {
                Ok(Prepared::Ready(active) | Prepared::Swap(active, _)) => {
                    let outcome = self.activate(ctl, active, now, "restored");
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
                    self.keep_instead(ctl, &bytes, now, &e, versions)
                {
                    out.active = Some(bundle);
                    out.from_lkg = from_lkg;
                }
            }
        }
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

    /// The last resort of a host with no active bundle when none of the bundles at hand
    /// activates ([`Deployer::update_from`] refused them all): runs `bytes` although it is
    /// quarantined or expired (nothing else is waived), a quarantined bundle beating none.
    /// Logged as `kept` and `degraded`;
    /// [`DeployStatus::degraded`](super::DeployStatus::degraded) says why. Otherwise refused
    /// as an update would be (not counted again).
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
