//! Deployment codes (the E08xx list, [`DeployCode`]) and [`UpdateError`], what every refused
//! update, stage or restore returns.
//!
//! A refusal is either a bundle that did not load ([`UpdateError::Load`], carrying the E04xx,
//! E05xx or E06xx code of the loader) or a deployment rule that refused it
//! ([`UpdateError::Refused`], an E08xx code). Either way the running bundle is untouched. Codes
//! are also the keys of the refusal and drop counters ([`UpdateError::code`] prints them as
//! `E0511`). A released code is never reused or renumbered.

use std::fmt;

use crate::bundle::LoadError;

/// What the deployment layer refuses, rejects or drops. Variants read as their title.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum DeployCode {
    /// The bundle's content version is below the highest version accepted (or below the
    /// highest signed minimum version seen, or below the staged candidate's).
    Downgrade = 801,
    /// The bundle has the highest accepted content version but other content (by
    /// `program_hash`): a replay or a re-signed edit.
    Replay = 802,
    /// The engine (the JIT) could not be built for an otherwise valid bundle.
    EngineBuild = 803,
    /// The bundle is quarantined: the process crashed repeatedly soon after activating it.
    Quarantined = 804,
    /// The active and the candidate bundles together exceed the host's cost or state budget.
    OverBudget = 805,
    /// The shadow candidate had evaluation errors or refused events.
    CandidateErrors = 806,
    /// The shadow candidate's alert rates were out of the promotion policy's bounds.
    CandidateTooNoisy = 807,
    /// The shadow candidate was replaced by a newer bundle before a decision.
    Superseded = 808,
    /// A bundle or state file could not be read or written.
    Io = 809,
    /// The state file could not be parsed; it was ignored.
    StateCorrupt = 810,
    /// An event was dropped because no bundle is active.
    NoActiveBundle = 811,
    /// An event was dropped because it does not fit the active bundle's binding.
    EventRefused = 812,
    /// A rollback was asked for, but there is no last known good bundle.
    NoLastKnownGood = 813,
    /// A file in the bundles folder was not read: it is not a regular file, or it is larger
    /// than any bundle can be ([`super::MAX_BUNDLE_FILE_BYTES`]).
    BundleFileRefused = 814,
    /// An input line was dropped: it is longer than 16 MiB.
    LineTooLong = 815,
    /// The state directory is unsafe: writable by group or others, or owned by another user
    /// than the agent's.
    StateDirUnsafe = 816,
}

impl DeployCode {
    /// Every code, in numeric order.
    pub const ALL: &'static [DeployCode] = &[
        DeployCode::Downgrade,
        DeployCode::Replay,
        DeployCode::EngineBuild,
        DeployCode::Quarantined,
        DeployCode::OverBudget,
        DeployCode::CandidateErrors,
        DeployCode::CandidateTooNoisy,
        DeployCode::Superseded,
        DeployCode::Io,
        DeployCode::StateCorrupt,
        DeployCode::NoActiveBundle,
        DeployCode::EventRefused,
        DeployCode::NoLastKnownGood,
        DeployCode::BundleFileRefused,
        DeployCode::LineTooLong,
        DeployCode::StateDirUnsafe,
    ];

    /// The number, e.g. 801.
    pub fn number(self) -> u16 {
        self as u16
    }

    /// The code as printed: `E0801`.
    pub fn code(self) -> String {
        format!("E{:04}", self.number())
    }

    /// A short title, for `docs/errors.md` and `vigil explain`.
    pub fn title(self) -> &'static str {
        match self {
            DeployCode::Downgrade => "content version below the highest accepted",
            DeployCode::Replay => "same content version with different content",
            DeployCode::EngineBuild => "engine could not be built for the bundle",
            DeployCode::Quarantined => "bundle quarantined after repeated crashes",
            DeployCode::OverBudget => "active and candidate bundles exceed the host's budget",
            DeployCode::CandidateErrors => "candidate bundle had errors in shadow",
            DeployCode::CandidateTooNoisy => "candidate bundle's alert rate out of bounds",
            DeployCode::Superseded => "candidate superseded by a newer bundle",
            DeployCode::Io => "bundle or state file could not be read or written",
            DeployCode::StateCorrupt => "state file unreadable, ignored",
            DeployCode::NoActiveBundle => "event dropped: no active bundle",
            DeployCode::EventRefused => "event dropped: it does not fit the active bundle",
            DeployCode::NoLastKnownGood => "no last known good bundle",
            DeployCode::BundleFileRefused => {
                "bundle file not read: not a regular file or too large"
            }
            DeployCode::LineTooLong => "event dropped: line longer than 16 MiB",
            DeployCode::StateDirUnsafe => "state directory writable by others",
        }
    }
}

impl fmt::Display for DeployCode {
    /// `E0801`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E{:04}", self.number())
    }
}

/// Why an update, a stage, a rollback or a restore was refused. The running bundle is
/// untouched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateError {
    /// The bundle did not load: bytes, signature, key, expiry, minimum version (E05xx),
    /// binding (E06xx) or verification (E04xx).
    Load(LoadError),
    /// A deployment rule refused it (E08xx).
    Refused {
        /// The code.
        code: DeployCode,
        /// Lower case, names in backticks, no final period.
        message: String,
    },
}

impl UpdateError {
    /// A deployment refusal.
    pub fn refused(code: DeployCode, message: impl Into<String>) -> UpdateError {
        UpdateError::Refused {
            code,
            message: message.into(),
        }
    }

    /// The code as printed (`E0511`, `E0801`): the key of the refusal counters.
    pub fn code(&self) -> String {
        match self {
            UpdateError::Load(e) => e.code().to_string(),
            UpdateError::Refused { code, .. } => code.code(),
        }
    }

    /// The deployment code, when it is one.
    pub fn deploy_code(&self) -> Option<DeployCode> {
        match self {
            UpdateError::Load(_) => None,
            UpdateError::Refused { code, .. } => Some(*code),
        }
    }
}

impl fmt::Display for UpdateError {
    /// `error[E0801]: message` (a load error prints its own lines).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpdateError::Load(e) => write!(f, "{e}"),
            UpdateError::Refused { code, message } => write!(f, "error[{code}]: {message}"),
        }
    }
}

impl std::error::Error for UpdateError {}

impl From<LoadError> for UpdateError {
    fn from(e: LoadError) -> UpdateError {
        UpdateError::Load(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_sorted_unique_and_in_their_range() {
        for pair in DeployCode::ALL.windows(2) {
            assert!(pair[0] < pair[1], "{} before {}", pair[0], pair[1]);
        }
        for code in DeployCode::ALL {
            assert!((801..900).contains(&code.number()));
            assert!(!code.title().is_empty());
            assert_eq!(code.to_string(), code.code());
        }
        assert_eq!(DeployCode::Downgrade.code(), "E0801");
    }

    #[test]
    fn every_code_has_an_entry_in_the_error_index() {
        let docs = include_str!("../../../docs/errors.md");
        for code in DeployCode::ALL {
            let heading = format!("## {}: {}", code.code(), code.title());
            assert!(
                docs.lines().any(|l| l == heading),
                "docs/errors.md lacks `{heading}`"
            );
        }
    }
}
