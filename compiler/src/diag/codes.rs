//! The compiler's diagnostic codes: E02xx (names) and E03xx (types and fields) errors, and the
//! W02xx / W03xx warnings of the same stages. They are rows of the one registry,
//! [`ErrorCode`] (crate `vigil-codes`, stages `Names` and `Types`), as are the grammar's,
//! the runtime's and the Sigma importer's. A released code is never reused or renumbered;
//! `docs/errors.md` has one entry per code (checked by the registry's tests), and a test checks
//! that every front-end code has a `tests/ui/` case.

pub use vigil_codes::ErrorCode;

#[cfg(test)]
mod tests {
    use vigil_codes::{Severity, Stage};

    use super::*;

    /// The compiler's own codes: the registry's `Names` and `Types` stages.
    fn compiler_codes(severity: Severity) -> Vec<ErrorCode> {
        ErrorCode::ALL
            .iter()
            .copied()
            .filter(|c| matches!(c.stage(), Stage::Names | Stage::Types))
            .filter(|c| c.severity() == severity)
            .collect()
    }

    #[test]
    fn codes_are_in_their_ranges_and_ordered() {
        let errors = compiler_codes(Severity::Error);
        for pair in errors.windows(2) {
            assert!(pair[0] < pair[1]);
        }
        for code in &errors {
            assert!((201..400).contains(&code.number()));
            assert!(!code.title().is_empty());
        }
        let warnings = compiler_codes(Severity::Warning);
        for code in &warnings {
            assert!((201..400).contains(&code.number()));
        }
        assert_eq!((errors.len(), warnings.len()), (42, 11));
        assert_eq!(ErrorCode::UnknownField.code(), "E0302");
        assert_eq!(ErrorCode::Shadowed.code(), "W0201");
    }
}
