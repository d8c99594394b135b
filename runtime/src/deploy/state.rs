//! The state directory: what survives a restart. It holds the active bundle's bytes
//! (`active.vglb`), the last known good bundle's (`lkg.vglb`), and `state.json` (versions,
//! quarantine, rejected candidates, and the run ledger of the crash-loop breaker); hosts may
//! keep their own files beside them (the `vigil agent` writes `status.json`).
//!
//! Every file is written atomically: to `NAME.tmp` in the same directory, flushed to disk, then
//! renamed over `NAME`, so a crash leaves either the old or the new file, never half of one.
//! The bundle files and the record that names them are written as one transaction
//! ([`StateDir::commit`]): every file, `state.json` last, goes to its temporary and is flushed
//! first; only when all of them are on disk are they renamed into place (bundles first, the
//! record last) and the directory flushed. A failure while writing (a full disk) removes the
//! temporaries and leaves the previous files and record as they were. `state.json` names each
//! bundle by its SHA-256, so a start can tell whether a bundle file is the one it records.
//! Reading never trusts the files: bundle bytes are loaded (signature, binding, verification)
//! like any update, and an unparsable `state.json` is reported and ignored.
//!
//! The directory itself must be the agent's alone ([`StateDir::open`]): one that its group or
//! others may write, or that another user owns, is refused (E0816), since whoever writes there
//! chooses the bundle restored; a missing one is created with mode 0700. On Windows the
//! standard library exposes neither the owner nor the ACL of a directory, so neither is checked
//! there: the host puts the directory where only its own account may write (under
//! `%ProgramData%` with an ACL for the service account), and the directory itself is not
//! flushed after a rename (NTFS journals renames; a directory handle cannot be flushed).
//!
//! The crash-loop breaker ([`crashes_within`]) reads the run ledger: each time a bundle starts
//! running (on start, or when an update activates it) an entry "bundle B since t" is recorded
//! unclean; leaving B for another bundle or shutting down cleanly marks it clean. An entry still
//! unclean on the next start is a crash. A host marks the entry clean while the bundle is idle
//! ([`super::Deployer::set_busy`]), so only a crash while a bundle is new or evaluating counts.

use std::fs;
use std::io::Write;
#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{ErrorCode, UpdateError};

/// The active bundle's bytes.
pub const ACTIVE_FILE: &str = "active.vglb";
/// The last known good bundle's bytes.
pub const LKG_FILE: &str = "lkg.vglb";
/// The persisted [`PersistedState`].
pub const STATE_FILE: &str = "state.json";
/// How many run entries the ledger keeps.
pub const MAX_RUNS: usize = 64;
/// How many rejected candidates are remembered.
pub const MAX_REJECTED: usize = 256;

/// Identity of a bundle, as persisted and reported.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleRecord {
    /// The bundle id from its header.
    pub bundle_id: String,
    /// Its content version.
    pub content_version: u64,
    /// SHA-256 of its bytes, lower-case hex.
    pub sha256: String,
    /// `program_hash` of its program, lower-case hex.
    pub program_hash: String,
    /// The key that signed it (16 hex digits), if signed.
    pub key_id: Option<String>,
}

/// A quarantined bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineEntry {
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// Its bundle id and version, when known.
    pub bundle_id: String,
    /// Its content version.
    pub content_version: u64,
    /// When it was quarantined (Unix seconds).
    pub since_unix: u64,
    /// Crashes counted against it.
    pub crashes: u32,
}

/// One entry of the run ledger: bundle `sha256` started running at `since_unix`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunEntry {
    /// SHA-256 of the bundle's bytes.
    pub sha256: String,
    /// When it started running (Unix seconds).
    pub since_unix: u64,
    /// Whether the process left it cleanly (another bundle replaced it, or a clean shutdown).
    pub clean: bool,
}

/// What `state.json` holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PersistedState {
    /// The format of this file: 1.
    pub format: u32,
    /// The active bundle (its bytes are `active.vglb`).
    pub active: Option<BundleRecord>,
    /// The last known good bundle (its bytes are `lkg.vglb`).
    pub lkg: Option<BundleRecord>,
    /// The highest content version ever accepted.
    pub highest_version: Option<u64>,
    /// The `program_hash` of the bundle accepted at that version.
    pub highest_program_hash: Option<String>,
    /// The highest signed minimum version seen in an accepted bundle.
    pub floor_version: Option<u64>,
    /// Quarantined bundles.
    pub quarantine: Vec<QuarantineEntry>,
    /// SHA-256 of candidates the promotion policy rejected (not staged again).
    pub rejected: Vec<String>,
    /// The run ledger, oldest first.
    pub runs: Vec<RunEntry>,
    /// Bundle files refused for good (by SHA-256, with the code): not read and counted again.
    pub refused: Vec<RefusedEntry>,
}

/// A bundle file refused for a reason that cannot change (its bytes, its version).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedEntry {
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// The refusal code (`E0801`, ...).
    pub code: String,
}

/// How many permanently refused bundle files are remembered.
pub const MAX_REFUSED: usize = 256;

/// Counts the unclean runs of bundle `sha256` that started at or after `now - window_secs`.
pub fn crashes_within(runs: &[RunEntry], sha256: &str, now_unix: u64, window_secs: u64) -> u32 {
    let since = now_unix.saturating_sub(window_secs);
    let n = runs
        .iter()
        .filter(|r| !r.clean && r.sha256 == sha256 && r.since_unix >= since)
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A state directory. See the module documentation.
#[derive(Clone, Debug)]
pub struct StateDir {
    path: PathBuf,
    /// Test hook: writes of this file name fail as on a full disk.
    fail_writes_of: Option<String>,
}

fn io_error(what: &str, path: &Path, e: &std::io::Error) -> UpdateError {
    UpdateError::refused(
        ErrorCode::Io,
        format!("cannot {what} `{}`: {e}", path.display()),
    )
}

impl StateDir {
    /// Opens the state directory at `path`, creating it (mode 0700) if it does not exist.
    /// Refused (E0816) when it is writable by group or others or owned by another user than
    /// this process's effective user (not checked on Windows: see the module documentation);
    /// E0809 when it is not a directory or cannot be made.
    pub fn open(path: impl Into<PathBuf>) -> Result<StateDir, UpdateError> {
        let path = path.into();
        if !path.exists() {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent).map_err(|e| io_error("create", parent, &e))?;
            }
            #[cfg_attr(not(unix), allow(unused_mut))]
            let mut builder = fs::DirBuilder::new();
            #[cfg(unix)]
            builder.mode(0o700);
            match builder.create(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_error("create", &path, &e)),
            }
        }
        let meta = fs::metadata(&path).map_err(|e| io_error("open", &path, &e))?;
        if !meta.is_dir() {
            return Err(UpdateError::refused(
                ErrorCode::Io,
                format!("state directory `{}` is not a directory", path.display()),
            ));
        }
        #[cfg(unix)]
        Self::check_owner(&path, &meta)?;
        Ok(StateDir {
            path,
            fail_writes_of: None,
        })
    }

    /// Refuses (E0816) a directory that group or others may write or that another user than
    /// this process's effective user owns.
    #[cfg(unix)]
    fn check_owner(path: &Path, meta: &fs::Metadata) -> Result<(), UpdateError> {
        let mode = meta.mode() & 0o777;
        if mode & 0o022 != 0 {
            return Err(UpdateError::refused(
                ErrorCode::StateDirUnsafe,
                format!(
                    "state directory `{}` is writable by group or others (mode {mode:04o}); \
                     make it 0700",
                    path.display()
                ),
            ));
        }
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            return Err(UpdateError::refused(
                ErrorCode::StateDirUnsafe,
                format!(
                    "state directory `{}` is owned by user {}, not by this process's user {me}",
                    path.display(),
                    meta.uid()
                ),
            ));
        }
        Ok(())
    }

    /// Test hook: from now on every write of the file `name` fails, as on a full disk.
    pub fn fail_writes_of(&mut self, name: &str) {
        self.fail_writes_of = Some(name.to_string());
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads a file of the directory; `Ok(None)` when it does not exist.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, UpdateError> {
        let path = self.path.join(name);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("read", &path, &e)),
        }
    }

    /// Writes a file of the directory atomically (temporary file, flush, rename).
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), UpdateError> {
        let path = self.path.join(name);
        let tmp = self.write_tmp(name, bytes)?;
        fs::rename(&tmp, &path).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_error("write", &path, &e)
        })
    }

    /// Writes `NAME.tmp` and flushes it to disk; returns its path. Nothing is left on failure.
    fn write_tmp(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, UpdateError> {
        let path = self.path.join(name);
        let tmp = self.path.join(format!("{name}.tmp"));
        let write = || -> std::io::Result<()> {
            if self.fail_writes_of.as_deref() == Some(name) {
                return Err(std::io::Error::other(
                    "No space left on device (injected by the test hook)",
                ));
            }
            let mut f = fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_error("write", &path, &e)
        })?;
        Ok(tmp)
    }

    /// Writes `files` and then `state` (which names them) as one transaction: every
    /// temporary is written and flushed before anything is renamed, the record is renamed
    /// last, and the directory is flushed. On failure nothing is renamed: the previous files
    /// and record stay.
    pub fn commit(
        &self,
        files: &[(&str, &[u8])],
        state: &PersistedState,
    ) -> Result<(), UpdateError> {
        let mut text = serde_json::to_string_pretty(state).map_err(|e| {
            UpdateError::refused(ErrorCode::Io, format!("cannot encode the state: {e}"))
        })?;
        text.push('\n');
        let mut written: Vec<(PathBuf, PathBuf)> = Vec::new();
        let all = files
            .iter()
            .copied()
            .chain(std::iter::once((STATE_FILE, text.as_bytes())));
        for (name, bytes) in all {
            match self.write_tmp(name, bytes) {
                Ok(tmp) => written.push((tmp, self.path.join(name))),
                Err(e) => {
                    for (tmp, _) in &written {
                        let _ = fs::remove_file(tmp);
                    }
                    return Err(e);
                }
            }
        }
        for (i, (tmp, path)) in written.iter().enumerate() {
            if let Err(e) = fs::rename(tmp, path) {
                for (tmp, _) in &written[i..] {
                    let _ = fs::remove_file(tmp);
                }
                return Err(io_error("write", path, &e));
            }
        }
        // The renames are durable once the directory is (Windows: see the module
        // documentation).
        #[cfg(unix)]
        fs::File::open(&self.path)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error("flush", &self.path, &e))?;
        Ok(())
    }

    /// Reads `state.json`: `Ok(None)` when there is none, an E0810 error when it does not
    /// parse (the caller goes on without it).
    pub fn read_state(&self) -> Result<Option<PersistedState>, UpdateError> {
        let Some(bytes) = self.read(STATE_FILE)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            UpdateError::refused(
                ErrorCode::StateCorrupt,
                format!("`{STATE_FILE}` does not parse ({e}); starting without it"),
            )
        })
    }

    /// Writes `state.json` atomically.
    pub fn write_state(&self, state: &PersistedState) -> Result<(), UpdateError> {
        self.commit(&[], state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(sha: &str, since: u64, clean: bool) -> RunEntry {
        RunEntry {
            sha256: sha.into(),
            since_unix: since,
            clean,
        }
    }

    #[test]
    fn crashes_count_unclean_runs_of_the_bundle_inside_the_window() {
        let runs = [
            run("a", 100, false),
            run("a", 1000, false),
            run("a", 1100, true),
            run("b", 1100, false),
            run("a", 1150, false),
        ];
        assert_eq!(crashes_within(&runs, "a", 1200, 600), 2);
        assert_eq!(crashes_within(&runs, "a", 1200, 2000), 3);
        assert_eq!(crashes_within(&runs, "b", 1200, 600), 1);
        assert_eq!(crashes_within(&runs, "c", 1200, 600), 0);
    }

    #[test]
    fn writes_are_atomic_and_leave_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("vigil-state-unit-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let state = StateDir::open(&dir).expect("opens");
        assert_eq!(state.read_state(), Ok(None));
        let mut s = PersistedState {
            format: 1,
            highest_version: Some(3),
            ..PersistedState::default()
        };
        state.write_state(&s).expect("writes");
        assert_eq!(state.read_state(), Ok(Some(s.clone())));
        s.highest_version = Some(4);
        state.write_state(&s).expect("writes");
        assert_eq!(state.read_state(), Ok(Some(s)));
        assert!(!dir.join("state.json.tmp").exists());
        state.write(STATE_FILE, b"{not json").expect("writes");
        assert_eq!(
            state.read_state().map_err(|e| e.code()),
            Err("E0810".to_string())
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
