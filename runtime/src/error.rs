//! The runtime's error codes: E04xx (the verifier), E05xx (bundles and signatures), E06xx
//! (schema files, 601–619, and binding, 620 and up), E07xx (event decoding) and E08xx
//! (deployment). They are rows of the one registry, [`ErrorCode`] (crate `vigil-codes`), which
//! this module re-exports so that an embedder can name them through the runtime alone.
//!
//! A released code is never reused or renumbered; `docs/errors.md` has a section for every
//! code of the registry, checked by the registry's tests.

pub use vigil_codes::{ErrorCode, Stage};

/// Whether `code` is one of the runtime's loading codes: the verifier (E04xx), bundles (E05xx),
/// schema files and binding (E06xx).
pub fn is_load_code(code: ErrorCode) -> bool {
    matches!(
        code.stage(),
        Stage::Verify | Stage::Bundle | Stage::Schema | Stage::Bind
    )
}

/// Every loading code ([`is_load_code`]: E04xx–E06xx, schema loading's included), in the
/// registry's order, which is numeric.
pub fn load_codes() -> impl Iterator<Item = ErrorCode> {
    ErrorCode::ALL.iter().copied().filter(|c| is_load_code(*c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_codes_are_sorted_unique_and_in_their_ranges() {
        let all: Vec<ErrorCode> = load_codes().collect();
        for pair in all.windows(2) {
            assert!(
                pair[0].number() < pair[1].number(),
                "{} before {}",
                pair[0],
                pair[1]
            );
        }
        for code in &all {
            let n = code.number();
            assert!((401..500).contains(&n) || (501..600).contains(&n) || (601..700).contains(&n));
            assert!(!code.title().is_empty());
        }
        assert_eq!(ErrorCode::OperandNotBefore.to_string(), "E0403");
        assert_eq!(ErrorCode::parse("E403"), None);
        assert_eq!(ErrorCode::parse("E9999"), None);
    }

    #[test]
    fn load_codes_list_schema_loading_too() {
        let all: Vec<&str> = load_codes().map(ErrorCode::as_str).collect();
        assert!(all.contains(&"E0601"));
        assert!(all.contains(&"E0623"));
        assert!(!all.contains(&"E0701"));
        assert_eq!(all.len(), 32 + 16 + 13 + 9);
    }
}
