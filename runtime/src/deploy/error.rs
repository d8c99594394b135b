//! [`UpdateError`], what every refused update, stage or restore returns, with the registry's
//! E08xx deployment codes ([`ErrorCode`], stage `Deploy`).
//!
//! A refusal is either a bundle that did not load ([`UpdateError::Load`], carrying the E04xx,
//! E05xx or E06xx code of the loader) or a deployment rule that refused it
//! ([`UpdateError::Refused`], an E08xx code). Either way the running bundle is untouched. Codes
//! are also the keys of the refusal and drop counters ([`UpdateError::code`] prints them as
//! `E0511`). A released code is never reused or renumbered.

use std::fmt;

pub use vigil_codes::ErrorCode;

use crate::bundle::LoadError;

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
        code: ErrorCode,
        /// Lower case, names in backticks, no final period.
        message: String,
    },
}

impl UpdateError {
    /// A deployment refusal.
    pub fn refused(code: ErrorCode, message: impl Into<String>) -> UpdateError {
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
    pub fn deploy_code(&self) -> Option<ErrorCode> {
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
    use vigil_codes::Stage;

    use super::*;

    #[test]
    fn codes_are_sorted_unique_and_in_their_range() {
        let deploy: Vec<ErrorCode> = ErrorCode::ALL
            .iter()
            .copied()
            .filter(|c| c.stage() == Stage::Deploy)
            .collect();
        assert_eq!(deploy.len(), 16);
        for pair in deploy.windows(2) {
            assert!(pair[0] < pair[1], "{} before {}", pair[0], pair[1]);
        }
        for code in &deploy {
            assert!((801..900).contains(&code.number()));
            assert!(!code.title().is_empty());
            assert_eq!(code.to_string(), code.code());
        }
        assert_eq!(ErrorCode::Downgrade.code(), "E0801");
    }

    #[test]
    fn a_refusal_prints_its_code() {
        let e = UpdateError::refused(ErrorCode::Replay, "content version 7 was accepted");
        assert_eq!(e.code(), "E0802");
        assert_eq!(e.deploy_code(), Some(ErrorCode::Replay));
        assert_eq!(
            e.to_string(),
            "error[E0802]: content version 7 was accepted"
        );
    }
}
