//! Syntax errors: [`SyntaxError`], the value every lexing and parsing error is, and the span
//! helpers that build them.
//!
//! A leaf: the tokens, the lexer adapter and the grammar all build `SyntaxError`s, and this
//! module imports none of them (the translation of LALRPOP's parse errors, which needs the
//! tokens, is `parse_error`). The codes are the E01xx rows of the registry
//! ([`vigil_codes::ErrorCode`], stage `Parse`). Rendering is the compiler's job
//! (`compiler/src/diag/render.rs`); a `SyntaxError` only carries the content.

use std::fmt;

pub use vigil_codes::ErrorCode;

use crate::span::{FileId, Span};

/// One lexing or parsing error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// Which error this is.
    pub code: ErrorCode,
    /// Lower case, no final period, names in backticks.
    pub message: String,
    /// The primary span, as narrow as the fault.
    pub span: Span,
    /// A few words about the span.
    pub label: String,
    /// Something to do about it.
    pub help: Option<String>,
    /// Facts that explain it.
    pub notes: Vec<String>,
}

impl SyntaxError {
    /// A new error without help or notes.
    pub fn new(
        code: ErrorCode,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Self {
        SyntaxError {
            code,
            message: message.into(),
            span,
            label: label.into(),
            help: None,
            notes: Vec::new(),
        }
    }

    /// Adds a help line.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a note.
    #[must_use]
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "error[{}]: {} at {}..{}",
            self.code.code(),
            self.message,
            self.span.start,
            self.span.end
        )
    }
}

impl std::error::Error for SyntaxError {}

/// Converts a `usize` offset to the `u32` spans use (sources are at most 16 MiB).
pub(crate) fn offset(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A span over `start..end`.
pub(crate) fn span(file: FileId, start: usize, end: usize) -> Span {
    Span::new(file, offset(start), offset(end))
}

#[cfg(test)]
mod tests {
    use vigil_codes::{Severity, Stage};

    use super::*;

    #[test]
    fn parse_codes_are_e01xx_errors() {
        let parse: Vec<ErrorCode> = ErrorCode::ALL
            .iter()
            .copied()
            .filter(|c| c.stage() == Stage::Parse)
            .collect();
        assert_eq!(parse.len(), 18);
        for c in parse {
            assert_eq!(c.code(), format!("E{:04}", c.number()));
            assert_eq!(c.severity(), Severity::Error);
            assert!(!c.title().is_empty());
            assert!((101..200).contains(&c.number()));
        }
    }

    #[test]
    fn display_names_code_and_span() {
        let e = SyntaxError::new(
            ErrorCode::UnknownCharacter,
            span(FileId(0), 3, 4),
            "unknown character `@`",
            "not a token",
        );
        assert_eq!(e.to_string(), "error[E0101]: unknown character `@` at 3..4");
    }
}
