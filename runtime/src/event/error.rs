//! Event decoding and mapping errors: [`DecodeCode`] (the E07xx list) and [`DecodeError`], what
//! the event builder ([`crate::event::EventBuilder`]) and the decoders built on it
//! ([`crate::decode`], which re-exports both) report. They live here, below the decoders, so that
//! `event` never imports `decode`.
//!
//! Some codes stop a line (the line is counted as bad and yields no event); others are counted
//! per value and the line goes on ([`DecodeCode::is_line_error`]). A released code is never
//! reused or renumbered.

use std::fmt;

/// What went wrong while decoding an event or reading a mapping. Variants read as their title.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum DecodeCode {
    /// The line is not a JSON object (invalid JSON, nested deeper than the parser's limit, or
    /// another JSON value than an object).
    BadJson = 701,
    /// The record names an event type the host schema does not have.
    UnknownEventType = 702,
    /// A native record has no `event` key (or its value is not a string).
    MissingEventType = 703,
    /// A value could not be read as its field's type; the field is absent (counted, the line
    /// goes on).
    UncoercibleValue = 704,
    /// A key that is not a field of the event type (native decoder: counted, not an error);
    /// builder API: an unknown field name or index (an error of that call).
    UnknownField = 705,
    /// A string was cut to its field's `max_len`, or list items beyond `max_items` were
    /// dropped (counted; `truncated(field)` is true).
    Truncated = 706,
    /// The line held invalid UTF-8 or a lone UTF-16 surrogate escape; replaced by U+FFFD and
    /// the fields holding it flagged (counted, the line goes on).
    InvalidUtf8 = 707,
    /// A mapping file is not valid mapping TOML.
    MappingSyntax = 708,
    /// A mapping names an event type or field the host schema does not have, or maps a field
    /// twice in one route.
    MappingSchema = 709,
    /// No route of the mapping matches the record.
    NoRoute = 710,
    /// Builder API: a value of another type than the field's (`set_int` on a string field).
    WrongType = 711,
    /// Reading the input failed (an I/O error of the reader).
    Io = 712,
    /// A record names the same key twice (the last value is kept; counted, the line goes on,
    /// unless the decoder refuses duplicates: then the line is bad).
    DuplicateKey = 713,
    /// A line is longer than the reader's limit (16 MiB for the CLI): counted as one bad line
    /// and skipped to its end, never held in memory.
    LineTooLong = 714,
}

impl DecodeCode {
    /// Every code, in numeric order.
    pub const ALL: &'static [DecodeCode] = &[
        DecodeCode::BadJson,
        DecodeCode::UnknownEventType,
        DecodeCode::MissingEventType,
        DecodeCode::UncoercibleValue,
        DecodeCode::UnknownField,
        DecodeCode::Truncated,
        DecodeCode::InvalidUtf8,
        DecodeCode::MappingSyntax,
        DecodeCode::MappingSchema,
        DecodeCode::NoRoute,
        DecodeCode::WrongType,
        DecodeCode::Io,
        DecodeCode::DuplicateKey,
        DecodeCode::LineTooLong,
    ];

    /// The number, e.g. 701.
    pub fn number(self) -> u16 {
        self as u16
    }

    /// The code as printed: `E0701`.
    pub fn code(self) -> String {
        format!("E{:04}", self.number())
    }

    /// A short title, for `docs/errors.md` and `vigil explain`.
    pub fn title(self) -> &'static str {
        match self {
            DecodeCode::BadJson => "line is not a JSON object",
            DecodeCode::UnknownEventType => "unknown event type",
            DecodeCode::MissingEventType => "record names no event type",
            DecodeCode::UncoercibleValue => "value cannot be read as its field's type",
            DecodeCode::UnknownField => "unknown field",
            DecodeCode::Truncated => "value cut to the field's bound",
            DecodeCode::InvalidUtf8 => "invalid UTF-8 replaced",
            DecodeCode::MappingSyntax => "mapping file is not valid mapping TOML",
            DecodeCode::MappingSchema => "mapping does not fit the host schema",
            DecodeCode::NoRoute => "no mapping route matches the record",
            DecodeCode::WrongType => "value of the wrong type for the field",
            DecodeCode::Io => "input could not be read",
            DecodeCode::DuplicateKey => "key given twice in a record",
            DecodeCode::LineTooLong => "line too long",
        }
    }

    /// Whether this code makes a whole line bad (no event from it). The others are counted per
    /// value, and the line still yields its events.
    pub fn is_line_error(self) -> bool {
        matches!(
            self,
            DecodeCode::BadJson
                | DecodeCode::UnknownEventType
                | DecodeCode::MissingEventType
                | DecodeCode::NoRoute
                | DecodeCode::Io
        )
    }
}

impl fmt::Display for DecodeCode {
    /// `E0701`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E{:04}", self.number())
    }
}

/// A coded decoding error, with the 1-based line it was found on (0 when not from a line: the
/// builder API, a mapping file without position).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// What went wrong.
    pub code: DecodeCode,
    /// 1-based line number in the input (or in the mapping file), 0 when unknown.
    pub line: u64,
    /// Lower-case message naming what is wrong with what.
    pub message: String,
}

impl DecodeError {
    /// A new error.
    pub fn new(code: DecodeCode, line: u64, message: impl Into<String>) -> DecodeError {
        DecodeError {
            code,
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for DecodeError {
    /// `error[E0701]: line 3: expected value at column 1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "error[{}]: line {}: {}",
                self.code, self.line, self.message
            )
        } else {
            write!(f, "error[{}]: {}", self.code, self.message)
        }
    }
}

impl std::error::Error for DecodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_numbered_in_order_and_titled() {
        let mut last = 700;
        for code in DecodeCode::ALL {
            assert!(code.number() > last, "{code:?}");
            last = code.number();
            assert!(!code.title().is_empty());
            assert_eq!(code.code(), format!("E0{}", code.number()));
        }
        assert_eq!(DecodeCode::BadJson.number(), 701);
    }
}
