//! Syntax errors: [`SyntaxError`] and the E01xx code list ([`SyntaxCode`]).
//!
//! Owns every error the lexer and the parser report, and the translation of LALRPOP's parse
//! errors (expected terminal names) into friendly messages. Rendering is the compiler's job
//! (`compiler/src/diag/render.rs`); a `SyntaxError` only carries the content. A released code is
//! never reused or renumbered.

use std::fmt;

use lalrpop_util::ParseError;

use crate::span::{FileId, Span};
use crate::token::Token;

/// One lexing or parsing error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// Which error this is.
    pub code: SyntaxCode,
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
        code: SyntaxCode,
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

macro_rules! syntax_codes {
    ($($(#[$doc:meta])* $name:ident = $num:literal, $code:literal, $title:literal;)*) => {
        /// The E01xx codes: lexing and parsing. Numbers are explicit and never reused.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum SyntaxCode {
            $($(#[$doc])* $name = $num,)*
        }

        impl SyntaxCode {
            /// Every code, in numeric order.
            pub const ALL: &'static [SyntaxCode] = &[$(SyntaxCode::$name),*];

            /// The code as printed: `"E0101"`.
            pub fn code(self) -> &'static str {
                match self {
                    $(SyntaxCode::$name => $code,)*
                }
            }

            /// A short title for the error index (`docs/errors.md`).
            pub fn title(self) -> &'static str {
                match self {
                    $(SyntaxCode::$name => $title,)*
                }
            }

            /// The number: `101` for `E0101`.
            pub fn number(self) -> u16 {
                self as u16
            }
        }
    };
}

syntax_codes! {
    /// A character that starts no token.
    UnknownCharacter = 101, "E0101", "unknown character";
    /// A `"..."` or raw string without its closing quote.
    UnterminatedString = 102, "E0102", "unterminated string literal";
    /// A `/* ...` comment without its closing `*/`.
    UnterminatedComment = 103, "E0103", "unterminated block comment";
    /// An escape other than `\\ \" \n \r \t \0 \u{...}`.
    InvalidEscape = 104, "E0104", "invalid escape in string literal";
    /// An integer literal above `u64::MAX`.
    IntegerTooLarge = 105, "E0105", "integer literal too large";
    /// A duration with a unit other than `ms s m h d`.
    UnknownDurationUnit = 106, "E0106", "unknown duration unit";
    /// A token the grammar does not allow here.
    UnexpectedToken = 107, "E0107", "unexpected token";
    /// The file ends in the middle of a declaration.
    UnexpectedEof = 108, "E0108", "unexpected end of file";
    /// Brackets, unary operators or expressions nested deeper than `MAX_NESTING`.
    NestingTooDeep = 109, "E0109", "nesting too deep";
    /// The source is not valid UTF-8.
    InvalidUtf8 = 110, "E0110", "invalid UTF-8";
    /// The source is larger than `MAX_SOURCE_BYTES`.
    FileTooLarge = 111, "E0111", "source file too large";
    /// More than `MAX_ERRORS` errors; the rest of the file is not read.
    TooManyErrors = 112, "E0112", "too many syntax errors";
    /// `0x` without hex digits, or with a non-hex character.
    InvalidHexLiteral = 113, "E0113", "invalid hexadecimal literal";
    /// A `` `name `` without its closing backtick on the same line, or an empty one.
    InvalidQuotedName = 114, "E0114", "invalid backticked name";
    /// A `\u{...}` escape that is malformed or not a Unicode scalar value.
    InvalidUnicodeEscape = 115, "E0115", "invalid unicode escape";
    /// A rule clause written after one that must follow it.
    ClauseOutOfOrder = 116, "E0116", "rule clause out of order";
    /// A rule clause written twice (`on` and `sequence` count as one).
    DuplicateClause = 117, "E0117", "duplicate rule clause";
    /// A rule with neither `on` nor `sequence`.
    MissingTrigger = 118, "E0118", "rule without `on` or `sequence`";
}

impl fmt::Display for SyntaxCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Converts a `usize` offset to the `u32` spans use (sources are at most 16 MiB).
pub(crate) fn offset(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A span over `start..end`.
pub(crate) fn span(file: FileId, start: usize, end: usize) -> Span {
    Span::new(file, offset(start), offset(end))
}

/// How an expected terminal (as LALRPOP names it) is written, for messages.
fn describe_expected(terminal: &str) -> String {
    match terminal {
        "Ident" => "identifier".to_owned(),
        "Backtick" => "backticked name".to_owned(),
        "Int" => "integer".to_owned(),
        "Duration" => "duration".to_owned(),
        "Str" => "string".to_owned(),
        other => {
            let bare = other
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .unwrap_or(other);
            format!("`{bare}`")
        }
    }
}

/// Tokens that can start an expression; when all of the key ones are expected, the list says
/// "expression" instead of naming each.
const EXPR_START: &[&str] = &[
    "Ident",
    "Backtick",
    "Int",
    "Str",
    "\"(\"",
    "\"[\"",
    "\"-\"",
    "\"not\"",
    "\"true\"",
    "\"false\"",
    "\"exists\"",
    "\"any\"",
    "\"all\"",
];

/// Binary operators; when all of the key ones are expected, the list says "operator".
const OPERATORS: &[&str] = &[
    "\"or\"",
    "\"and\"",
    "\"==\"",
    "\"!=\"",
    "\"<\"",
    "\"<=\"",
    "\">\"",
    "\">=\"",
    "\"+\"",
    "\"-\"",
    "\"*\"",
    "\"/\"",
    "\"%\"",
    "\".\"",
    "\"in\"",
    "\"iin\"",
    "\"matches\"",
    "\"ieq\"",
    "\"contains\"",
    "\"startswith\"",
    "\"endswith\"",
    "\"icontains\"",
    "\"istartswith\"",
    "\"iendswith\"",
];

/// Keywords accepted as keys before `:` (meta keys, test field keys); when all are expected
/// they are summarised as "key".
const KEY_KEYWORDS: &[&str] = &["\"list\"", "\"rule\"", "\"meta\"", "\"count\""];

/// The friendly list of expected things: `` `when`, `emit` ``, or "expression".
pub(crate) fn expected_list(expected: &[String]) -> String {
    let has = |t: &str| expected.iter().any(|e| e == t);
    let mut out: Vec<String> = Vec::new();
    let mut skip: Vec<&str> = Vec::new();
    if has("Int") && has("Str") && has("\"(\"") && has("Ident") {
        out.push("expression".to_owned());
        skip.extend_from_slice(EXPR_START);
    }
    if has("\"==\"") && has("\"+\"") && has("\"*\"") {
        out.push("operator".to_owned());
        skip.extend_from_slice(OPERATORS);
    }
    if KEY_KEYWORDS.iter().all(|k| has(k)) && has("Ident") {
        out.push("key".to_owned());
        return join_or(&out);
    }
    for e in expected {
        if !skip.contains(&e.as_str()) {
            out.push(describe_expected(e));
        }
    }
    join_or(&out)
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => "something else".to_owned(),
        [one] => one.clone(),
        many => format!("one of {}", many.join(", ")),
    }
}

/// Converts a LALRPOP parse error into a [`SyntaxError`].
pub(crate) fn from_parse_error(
    file: FileId,
    error: ParseError<usize, Token, SyntaxError>,
) -> SyntaxError {
    match error {
        ParseError::InvalidToken { location } => SyntaxError::new(
            SyntaxCode::UnknownCharacter,
            span(file, location, location),
            "invalid token",
            "not a token",
        ),
        ParseError::UnrecognizedEof { location, expected } => SyntaxError::new(
            SyntaxCode::UnexpectedEof,
            span(file, location, location),
            format!(
                "unexpected end of file, expected {}",
                expected_list(&expected)
            ),
            "the file ends here",
        ),
        ParseError::UnrecognizedToken {
            token: (start, token, end),
            expected,
        } => SyntaxError::new(
            SyntaxCode::UnexpectedToken,
            span(file, start, end),
            format!(
                "expected {}, found {}",
                expected_list(&expected),
                token.describe()
            ),
            "unexpected here",
        ),
        ParseError::ExtraToken {
            token: (start, token, end),
        } => SyntaxError::new(
            SyntaxCode::UnexpectedToken,
            span(file, start, end),
            format!("unexpected {}", token.describe()),
            "unexpected here",
        ),
        ParseError::User { error } => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_numbers() {
        for c in SyntaxCode::ALL {
            assert_eq!(c.code(), format!("E{:04}", c.number()));
            assert!(!c.title().is_empty());
            assert!((101..200).contains(&c.number()));
        }
    }

    #[test]
    fn codes_are_unique() {
        let mut numbers: Vec<u16> = SyntaxCode::ALL.iter().map(|c| c.number()).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), SyntaxCode::ALL.len());
    }

    #[test]
    fn expected_lists_are_friendly() {
        let e = vec!["\"when\"".to_owned(), "\"emit\"".to_owned()];
        assert_eq!(expected_list(&e), "one of `when`, `emit`");
        assert_eq!(expected_list(&["\"}\"".to_owned()]), "`}`");
    }
}
