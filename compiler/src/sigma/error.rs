//! Why a Sigma rule was not converted: the [`Refusal`] value, carrying one of the registry's
//! E09xx codes ([`ErrorCode`], stage `Sigma`; LANGUAGE.md section 9) with its detail, and the
//! codes' short names in the coverage report ([`reason`]).
//!
//! Every code is a real limit of the conversion (an input that is not a Sigma rule, or a
//! construct Vigil cannot express exactly); `docs/sigma.md` lists them all. A released code is
//! never reused or renumbered.

use std::fmt;

pub use vigil_codes::ErrorCode;

/// A refusal's stable short name, the key of the coverage report's `refused` table
/// (`docs/sigma.md` lists them): `unmapped_field` for E0905. A code of another stage never
/// refuses a Sigma rule; it would be keyed by its registry name.
pub fn reason(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::MalformedYaml => "malformed_yaml",
        ErrorCode::TooLarge => "too_large",
        ErrorCode::InvalidRule => "invalid_rule",
        ErrorCode::UnknownLogsource => "unknown_logsource",
        ErrorCode::UnmappedField => "unmapped_field",
        ErrorCode::UnknownModifier => "unknown_modifier",
        ErrorCode::UnsupportedModifier => "unsupported_modifier",
        ErrorCode::SigmaTypeMismatch => "type_mismatch",
        ErrorCode::UnsupportedCondition => "unsupported_condition",
        ErrorCode::UnsupportedRegex => "unsupported_regex",
        ErrorCode::TooManyValues => "too_many_values",
        ErrorCode::UnsupportedCorrelation => "unsupported_correlation",
        ErrorCode::DoesNotCompile => "does_not_compile",
        ErrorCode::InvalidFilter => "invalid_filter",
        other => other.name(),
    }
}

/// A rule the importer would not convert, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The reason's code.
    pub code: ErrorCode,
    /// What exactly: lower case, names in backticks, no final period.
    pub message: String,
}

impl Refusal {
    /// A refusal with its code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Refusal {
    /// `error[E0905]: unmapped field `Foo` for logsource `windows/process_creation``.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error[{}]: {}", self.code, self.message)
    }
}

/// A result whose error is a [`Refusal`].
pub type Result<T> = std::result::Result<T, Refusal>;

#[cfg(test)]
mod tests {
    use vigil_codes::Stage;

    use super::*;

    #[test]
    fn every_importer_code_has_a_snake_case_reason() {
        let sigma: Vec<ErrorCode> = ErrorCode::ALL
            .iter()
            .copied()
            .filter(|c| c.stage() == Stage::Sigma)
            .collect();
        assert_eq!(sigma.len(), 14);
        let mut seen = std::collections::HashSet::new();
        for code in sigma {
            let r = reason(code);
            assert!(
                r.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{r}"
            );
            assert!(seen.insert(r), "{r} twice");
        }
        assert_eq!(reason(ErrorCode::SigmaTypeMismatch), "type_mismatch");
    }

    #[test]
    fn a_refusal_prints_its_code() {
        let r = Refusal::new(ErrorCode::UnmappedField, "unmapped field `Foo`");
        assert_eq!(r.to_string(), "error[E0905]: unmapped field `Foo`");
    }
}
