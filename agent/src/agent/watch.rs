//! The bundles folder: which `*.vglb` files are new or changed (by stamp, then by content
//! hash), read through a bounded reader (E0814 for what cannot be a bundle), and handed to the
//! [`Deployer`](vigil_runtime::deploy::Deployer) to activate or stage ([`Agent::scan`]).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
#[cfg(unix)]
use std::os::unix::fs::MetadataExt;
#[cfg(windows)]
use std::os::windows::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use vigil_runtime::bundle;
use vigil_runtime::deploy::{
    ErrorCode, StageOutcome, UpdateError, UpdateOutcome, MAX_BUNDLE_FILE_BYTES,
};
use vigil_runtime::hash::to_hex;

use super::Agent;

/// What identifies a file's version without reading it: device, inode, length, and the
/// modification and change times (the change time moves on every write, whatever `cp -p` or
/// `touch` do to the modification time).
pub(super) type Stamp = (u64, u64, u64, i64, i64, i64, i64);

#[cfg(unix)]
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

/// Windows: no device, inode or change time in the standard library; the creation and
/// last-write times (100 ns ticks) and the length stand for them.
#[cfg(windows)]
fn stamp(meta: &std::fs::Metadata) -> Stamp {
    let ticks = |t: u64| i64::try_from(t).unwrap_or(i64::MAX);
    (
        0,
        0,
        meta.len(),
        ticks(meta.last_write_time()),
        0,
        ticks(meta.creation_time()),
        0,
    )
}

/// A bundle file seen: its stamp and, once read, its content hash.
pub(super) struct Seen {
    stamp: Stamp,
    sha256: Option<String>,
}

/// A new bundle file, read.
pub(super) struct Found {
    path: PathBuf,
    bytes: Vec<u8>,
    sha256: String,
}

/// The bundles folder: which files were seen, by stamp and content hash (a file whose stamp
/// changes is read again, and looked at only when its content changed).
pub(super) struct Watcher {
    pub(super) dir: PathBuf,
    pub(super) seen: HashMap<PathBuf, Seen>,
}

/// Reads a bundle file: only a regular file no larger than a bundle can be, through a bounded
/// reader (it may grow between the look and the read). E0814 otherwise.
fn read_bundle_file(path: &Path) -> Result<Vec<u8>, UpdateError> {
    let refused = |m: String| UpdateError::refused(ErrorCode::BundleFileRefused, m);
    let io = |e: io::Error| {
        UpdateError::refused(
            ErrorCode::Io,
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
    pub(super) fn changed(&mut self, refuse: &mut dyn FnMut(&UpdateError, &Path)) -> Vec<Found> {
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

impl Agent {
    /// Looks at new files in the bundles folder: with no active bundle, activates the newest
    /// that loads; otherwise stages each (the deployer refuses and counts the bad ones).
    /// Returns whether there was anything new.
    pub(super) fn scan(&mut self) -> bool {
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
}
