//! Event decoding and mapping errors: [`DecodeError`], carrying one of the registry's E07xx
//! codes ([`ErrorCode`], stage `Decode`), what the event builder ([`crate::event::EventBuilder`])
//! and the decoders built on it ([`crate::decode`], which re-exports it) report. They live here,
//! below the decoders, so that `event` never imports `decode`.
//!
//! Some codes stop a line (the line is counted as bad and yields no event); others are counted
//! per value and the line goes on ([`ErrorCode::is_line_error`]). A released code is never reused or
//! renumbered.

use std::fmt;

pub use vigil_codes::ErrorCode;

/// A coded decoding error, with the 1-based line it was found on (0 when not from a line: the
/// builder API, a mapping file without position).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// What went wrong.
    pub code: ErrorCode,
    /// 1-based line number in the input (or in the mapping file), 0 when unknown.
    pub line: u64,
    /// Lower-case message naming what is wrong with what.
    pub message: String,
}

impl DecodeError {
    /// A new error.
    pub fn new(code: ErrorCode, line: u64, message: impl Into<String>) -> DecodeError {
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
    use vigil_codes::Stage;

    use super::*;

    #[test]
    fn codes_are_numbered_in_order_and_titled() {
        let mut last = 700;
        for code in ErrorCode::ALL.iter().filter(|c| c.stage() == Stage::Decode) {
            assert!(code.number() > last, "{code:?}");
            last = code.number();
            assert!(!code.title().is_empty());
            assert_eq!(code.code(), format!("E0{}", code.number()));
        }
        assert_eq!(last, 726);
        assert_eq!(ErrorCode::BadJson.number(), 701);
    }

    #[test]
    fn line_errors_are_the_ones_that_yield_no_event() {
        assert!(ErrorCode::BadJson.is_line_error());
        assert!(ErrorCode::DecodeIo.is_line_error());
        assert!(!ErrorCode::DecodeTruncated.is_line_error());
        assert!(!ErrorCode::UncoercibleValue.is_line_error());
        assert!(!ErrorCode::UnknownField.is_line_error());
    }
}
