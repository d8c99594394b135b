//! Schema loading errors: [`SchemaError`], carrying one of the registry's E0601–E0619 codes
//! ([`ErrorCode`], stage `Schema`; 620 and up are binding). A released code is never reused or
//! renumbered.

pub use vigil_codes::ErrorCode;

/// One error found while loading a schema file, located in it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("error[{code}]: {message}\n  --> {file}:{line}:{column}")]
pub struct SchemaError {
    /// What kind of error.
    pub code: ErrorCode,
    /// Lower case, names in backticks, no final period.
    pub message: String,
    /// The file name given to the loader.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
}

#[cfg(test)]
mod tests {
    use vigil_codes::Stage;

    use super::*;

    #[test]
    fn codes_are_numbered_in_the_loading_range() {
        let schema: Vec<ErrorCode> = ErrorCode::ALL
            .iter()
            .copied()
            .filter(|c| c.stage() == Stage::Schema)
            .collect();
        assert_eq!(schema.len(), 13);
        for (i, code) in schema.iter().enumerate() {
            assert!((601..620).contains(&code.number()));
            assert!(!code.title().is_empty());
            assert_eq!(code.code(), format!("E0{}", code.number()));
            if i > 0 {
                assert!(schema[i - 1] < *code);
            }
        }
        assert_eq!(ErrorCode::SchemaSyntax.code(), "E0601");
    }
}
