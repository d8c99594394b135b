//! The serialised part of a [`Deployer`]: the [`Control`] record behind its lock (versions
//! accepted, last known good, counters, the log) and its writes to the state directory, plus
//! the refusals a host records itself. It never loads or runs a bundle.

use std::collections::VecDeque;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{
    lock, state, BundleRecord, Deployer, LogEntry, PersistedState, RefusedEntry, StateDir,
    UpdateCounts, UpdateError,
};
use crate::hash::to_hex;

/// How many log entries [`DeployStatus::log`](super::DeployStatus::log) keeps.
pub const LOG_ENTRIES: usize = 64;

/// Refusal codes that depend on a bundle file's bytes alone (malformed, tampered) or on the
/// versions accepted (which only grow): such a file is remembered and not read again.
pub(super) const PERMANENT_REFUSALS: &[&str] = &[
    "E0501", "E0502", "E0503", "E0504", "E0505", "E0506", "E0507", "E0511", "E0801", "E0802",
];

/// Updates' serialised part: versions, last known good, the state directory, counters.
#[derive(Default)]
pub(super) struct Control {
    pub(super) state: Option<StateDir>,
    pub(super) persisted: PersistedState,
    pub(super) lkg_bytes: Option<Arc<[u8]>>,
    pub(super) next_generation: u64,
    pub(super) updates: UpdateCounts,
    pub(super) log: VecDeque<LogEntry>,
    pub(super) log_seq: u64,
    pub(super) state_errors: u64,
    /// Bundle files of the last activation not yet on disk (the write failed): written with
    /// the next record, which is not written without them.
    pub(super) unwritten: Vec<(String, Arc<[u8]>)>,
    /// The file the bundle of the current call came from.
    pub(super) source: Option<String>,
    /// See [`DeployStatus::degraded`](super::DeployStatus::degraded).
    pub(super) degraded: Option<String>,
}

pub(super) fn describe(r: &BundleRecord) -> String {
    let sha = r.sha256.get(..12).unwrap_or(&r.sha256);
    format!("{} v{} {sha}", r.bundle_id, r.content_version)
}

/// SHA-256 of `bytes`, lower-case hex.
pub(super) fn sha_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

impl Control {
    pub(super) fn log(
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

    pub(super) fn refuse(&mut self, now: u64, e: &UpdateError, bundle: Option<&BundleRecord>) {
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
    pub(super) fn remember_refused(&mut self, now: u64, sha256: &str, e: &UpdateError) {
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

    pub(super) fn quarantined(&self, sha256: &str) -> bool {
        self.persisted.quarantine.iter().any(|q| q.sha256 == sha256)
    }

    /// Writes `files` and `state.json` as one transaction ([`StateDir::commit`]). A failure
    /// is logged and counted, not fatal: the running bundle is what matters. The files stay
    /// due, and every later write carries them (the record is never written without the
    /// files it names), so the directory keeps the previous consistent state until one
    /// succeeds.
    pub(super) fn persist(&mut self, now: u64, files: &[(&str, &[u8])]) {
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

impl Deployer {
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
}
