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

/// Every code in the E04xx–E06xx ranges (schema loading's included), as `(code, title)` in
/// numeric order.
pub fn all_codes() -> Vec<(String, &'static str)> {
    let mut out: Vec<(u16, String, &'static str)> = ErrorCode::ALL
        .iter()
        .filter(|c| is_load_code(**c))
        .map(|c| (c.number(), c.code(), c.title()))
        .collect();
    out.sort_by_key(|(n, _, _)| *n);
    out.into_iter().map(|(_, c, t)| (c, t)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_codes_are_sorted_unique_and_in_their_ranges() {
        let all = all_codes();
        for pair in all.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} before {}", pair[0].0, pair[1].0);
        }
        for (code, title) in &all {
            let parsed = ErrorCode::parse(code);
            let n = parsed.map_or(0, ErrorCode::number);
            assert!((401..500).contains(&n) || (501..600).contains(&n) || (601..700).contains(&n));
            assert!(!title.is_empty());
        }
        assert_eq!(ErrorCode::OperandNotBefore.to_string(), "E0403");
        assert_eq!(ErrorCode::parse("E403"), None);
        assert_eq!(ErrorCode::parse("E9999"), None);
    }

    #[test]
    fn all_codes_lists_schema_loading_too() {
        let all = all_codes();
        assert!(all.iter().any(|(c, _)| c == "E0601"));
        assert!(all.iter().any(|(c, _)| c == "E0623"));
        assert!(!all.iter().any(|(c, _)| c == "E0701"));
        assert_eq!(all.len(), 32 + 16 + 13 + 9);
    }
}
