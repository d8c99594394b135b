//! Schema loading errors: [`SchemaError`] and the E06xx codes [`SchemaCode`] (601–619 are
//! schema loading; 620 and up are binding, defined with the binder). A released code is never
//! reused or renumbered.

use std::fmt;

/// What is wrong with a schema file. Variants read as their title.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum SchemaCode {
    /// The file is not TOML, or not shaped like a schema (a missing, unknown or mistyped key).
    SchemaSyntax = 601,
    /// `version` is not `MAJOR.MINOR`.
    BadVersion = 602,
    /// A schema, event or field name is not snake_case.
    NotSnakeCase = 603,
    /// A field's `type` is not one of the schema types.
    UnknownType = 604,
    /// A string field, or a `[string]` field, has no `max_len`.
    MissingMaxLen = 605,
    /// A list field has no `max_items`.
    MissingMaxItems = 606,
    /// Two event types have one name.
    DuplicateEvent = 607,
    /// Two fields of one event type have one name.
    DuplicateField = 608,
    /// An event type lacks `time` (`int`) or `host` (`string`), or has them with another type.
    RequiredField = 609,
    /// `max_len` is 0 or above [`super::MAX_LEN_CAP_BYTES`].
    MaxLenOutOfRange = 610,
    /// `max_items` is 0 or above [`super::MAX_ITEMS_CAP`].
    MaxItemsOutOfRange = 611,
    /// `max_len` on a field that holds no strings, or `max_items` on a field that is no list.
    BoundOnWrongType = 612,
    /// More event types, or fields in one event type, than ids can number.
    TooManyItems = 613,
}

impl SchemaCode {
    /// Every code, in numeric order.
    pub const ALL: &'static [SchemaCode] = &[
        SchemaCode::SchemaSyntax,
        SchemaCode::BadVersion,
        SchemaCode::NotSnakeCase,
        SchemaCode::UnknownType,
        SchemaCode::MissingMaxLen,
        SchemaCode::MissingMaxItems,
        SchemaCode::DuplicateEvent,
        SchemaCode::DuplicateField,
        SchemaCode::RequiredField,
        SchemaCode::MaxLenOutOfRange,
        SchemaCode::MaxItemsOutOfRange,
        SchemaCode::BoundOnWrongType,
        SchemaCode::TooManyItems,
    ];

    /// The number, e.g. 601.
    pub fn number(self) -> u16 {
        self as u16
    }

    /// The code as printed: `E0601`.
    pub fn code(&self) -> String {
        format!("E{:04}", self.number())
    }

    /// A short title, for `docs/errors.md` and `vigil explain`.
    pub fn title(&self) -> &'static str {
        match self {
            SchemaCode::SchemaSyntax => "schema file is not valid schema TOML",
            SchemaCode::BadVersion => "bad schema version",
            SchemaCode::NotSnakeCase => "name is not snake_case",
            SchemaCode::UnknownType => "unknown field type",
            SchemaCode::MissingMaxLen => "string field without max_len",
            SchemaCode::MissingMaxItems => "list field without max_items",
            SchemaCode::DuplicateEvent => "duplicate event type",
            SchemaCode::DuplicateField => "duplicate field",
            SchemaCode::RequiredField => "event type lacks `time` or `host`",
            SchemaCode::MaxLenOutOfRange => "max_len out of range",
            SchemaCode::MaxItemsOutOfRange => "max_items out of range",
            SchemaCode::BoundOnWrongType => "bound on a field of the wrong type",
            SchemaCode::TooManyItems => "too many event types or fields",
        }
    }
}

impl fmt::Display for SchemaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code())
    }
}

/// One error found while loading a schema file, located in it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("error[{code}]: {message}\n  --> {file}:{line}:{column}")]
pub struct SchemaError {
    /// What kind of error.
    pub code: SchemaCode,
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
    use super::*;

    #[test]
    fn codes_are_numbered_in_the_loading_range() {
        for (i, code) in SchemaCode::ALL.iter().enumerate() {
            assert!((601..620).contains(&code.number()));
            assert!(!code.title().is_empty());
            assert_eq!(code.code(), format!("E0{}", code.number()));
            if i > 0 {
                assert!(SchemaCode::ALL[i - 1] < *code);
            }
        }
        assert_eq!(SchemaCode::SchemaSyntax.code(), "E0601");
    }
}
