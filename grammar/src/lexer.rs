//! The adapter between the logos [`Token`] stream and LALRPOP: `(start, Token, end)` triples.
//!
//! Owns the limits that keep the parser bounded before it runs: bracket nesting and runs of
//! unary operators deeper than [`MAX_NESTING`] end the token stream (one `E0109`), and so does
//! reaching [`MAX_ERRORS`]. With both bounds the LR parser's stack stays small, and its error
//! recovery (which scans that stack) stays linear. Unknown characters are reported (adjacent ones
//! as one error), skipped, and lexing goes on, so one file reports all its lexical errors.
//! Errors go to the shared [`Sink`]; the iterator itself only yields tokens.

use std::cell::{Cell, RefCell};

use lalrpop_util::{ErrorRecovery, ParseError};
use logos::Logos;

use vigil_codes::ErrorCode;

use crate::error::{span, SyntaxError};
use crate::parse_error::from_parse_error;
use crate::span::{FileId, Span};
use crate::token::{LexState, Token};

/// Deepest nesting of `( [ {`, of consecutive unary operators, and of expressions.
pub const MAX_NESTING: usize = 256;

/// Errors reported for one file before the rest of it is skipped.
pub const MAX_ERRORS: usize = 100;

/// Where the lexer and the grammar's recovery actions put their errors.
#[derive(Debug)]
pub(crate) struct Sink {
    /// The file being parsed.
    pub(crate) file: FileId,
    errors: RefCell<Vec<SyntaxError>>,
    /// Set when the lexer stopped early; parse errors from that point on are consequences.
    halted_at: Cell<Option<usize>>,
}

impl Sink {
    pub(crate) fn new(file: FileId) -> Self {
        Sink {
            file,
            errors: RefCell::new(Vec::new()),
            halted_at: Cell::new(None),
        }
    }

    /// Records an error.
    pub(crate) fn push(&self, e: SyntaxError) {
        self.errors.borrow_mut().push(e);
    }

    /// Records the error behind a recovery (`!` in the grammar).
    pub(crate) fn recover(&self, e: ErrorRecovery<usize, Token, SyntaxError>) {
        self.report(e.error);
    }

    /// Records a parse error, unless it only reflects the lexer having stopped early.
    pub(crate) fn report(&self, e: ParseError<usize, Token, SyntaxError>) {
        if let Some(halt) = self.halted_at.get() {
            let at = match &e {
                ParseError::InvalidToken { location }
                | ParseError::UnrecognizedEof { location, .. } => *location,
                ParseError::UnrecognizedToken { token, .. } | ParseError::ExtraToken { token } => {
                    token.0
                }
                ParseError::User { .. } => 0,
            };
            if at >= halt || matches!(e, ParseError::UnrecognizedEof { .. }) {
                return;
            }
        }
        self.push(from_parse_error(self.file, e));
    }

    /// True when any error was recorded inside bytes `start..end`.
    pub(crate) fn any_error_within(&self, start: usize, end: usize) -> bool {
        let (start, end) = (crate::error::offset(start), crate::error::offset(end));
        self.errors
            .borrow()
            .iter()
            .any(|e| e.span.start >= start && e.span.start < end)
    }

    fn len(&self) -> usize {
        self.errors.borrow().len()
    }

    fn halt(&self, at: usize) {
        self.halted_at.set(Some(at));
    }

    /// The errors, in source order.
    pub(crate) fn into_errors(self) -> Vec<SyntaxError> {
        let mut errors = self.errors.into_inner();
        errors.sort_by_key(|e| (e.span.start, e.span.end));
        errors
    }
}

/// The token stream the parser reads.
pub(crate) struct Lexer<'s> {
    inner: logos::Lexer<'s, Token>,
    text: &'s str,
    sink: &'s Sink,
    depth: usize,
    unary_run: usize,
    /// An unknown-character run not reported yet: adjacent ones merge into one error.
    unknown: Option<(usize, usize)>,
    done: bool,
}

impl<'s> Lexer<'s> {
    pub(crate) fn new(text: &'s str, sink: &'s Sink) -> Self {
        let extras = LexState {
            file: sink.file,
            errors: Vec::new(),
        };
        Lexer {
            inner: Token::lexer_with_extras(text, extras),
            text,
            sink,
            depth: 0,
            unary_run: 0,
            unknown: None,
            done: false,
        }
    }

    fn flush_unknown(&mut self) {
        if let Some((start, end)) = self.unknown.take() {
            let chars = self.text.get(start..end).unwrap_or("");
            let message = if chars.chars().count() == 1 {
                format!("unknown character `{}`", chars.escape_debug())
            } else {
                format!("unknown characters `{}`", chars.escape_debug())
            };
            self.sink.push(SyntaxError::new(
                ErrorCode::UnknownCharacter,
                span(self.sink.file, start, end),
                message,
                "not part of any token",
            ));
        }
    }

    /// Ends the stream at `at` with one error.
    fn stop(&mut self, at: usize, e: SyntaxError) -> Option<<Self as Iterator>::Item> {
        self.flush_unknown();
        self.sink.push(e);
        self.sink.halt(at);
        self.done = true;
        None
    }

    /// Extends a byte range to whole characters of the source.
    fn char_range(&self, start: usize, end: usize) -> (usize, usize) {
        let mut end = end.max(start + 1).min(self.text.len());
        while end < self.text.len() && !self.text.is_char_boundary(end) {
            end += 1;
        }
        (start, end)
    }
}

impl Iterator for Lexer<'_> {
    type Item = Result<(usize, Token, usize), SyntaxError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            let Some(next) = self.inner.next() else {
                self.flush_unknown();
                self.done = true;
                return None;
            };
            let range = self.inner.span();
            for e in self.inner.extras.errors.drain(..) {
                self.sink.push(e);
            }
            let token = match next {
                Ok(Token::Comment) => None,
                Ok(token) => Some(token),
                Err(()) => {
                    let (start, end) = self.char_range(range.start, range.end);
                    self.unknown = match self.unknown {
                        Some((s, e)) if e >= start => Some((s, end.max(e))),
                        _ => {
                            self.flush_unknown();
                            Some((start, end))
                        }
                    };
                    // Continuation bytes of a character logos split are part of this error.
                    if end > range.end && end <= self.text.len() {
                        self.inner.bump(end - range.end);
                    }
                    None
                }
            };
            if token.is_some() {
                self.flush_unknown();
            }
            if self.sink.len() + usize::from(self.unknown.is_some()) >= MAX_ERRORS {
                let e = SyntaxError::new(
                    ErrorCode::TooManyErrors,
                    span(self.sink.file, range.start, range.end),
                    format!(
                        "too many syntax errors; the file is not read past the first \
                         {MAX_ERRORS}"
                    ),
                    "reading stopped here",
                )
                .with_help("fix the errors above first");
                return self.stop(range.start, e);
            }
            let Some(token) = token else {
                continue;
            };
            match token {
                Token::LParen | Token::LBracket | Token::LBrace => {
                    self.depth += 1;
                    if self.depth > MAX_NESTING {
                        let e = nesting_error(span(self.sink.file, range.start, range.end));
                        return self.stop(range.start, e);
                    }
                }
                Token::RParen | Token::RBracket | Token::RBrace => {
                    self.depth = self.depth.saturating_sub(1);
                }
                _ => {}
            }
            if matches!(token, Token::Not | Token::Minus) {
                self.unary_run += 1;
                if self.unary_run > MAX_NESTING {
                    let e = nesting_error(span(self.sink.file, range.start, range.end));
                    return self.stop(range.start, e);
                }
            } else {
                self.unary_run = 0;
            }
            return Some(Ok((range.start, token, range.end)));
        }
    }
}

/// The error for nesting deeper than [`MAX_NESTING`], at the first place that is too deep.
pub(crate) fn nesting_error(at: Span) -> SyntaxError {
    SyntaxError::new(
        ErrorCode::NestingTooDeep,
        at,
        format!("nesting deeper than {MAX_NESTING} levels"),
        "too deep",
    )
    .with_help("split the expression, or name its parts with `fn` or `list`")
    .with_note(format!(
        "brackets, runs of `not`/`-` and expressions nest at most {MAX_NESTING} levels"
    ))
}

/// All tokens of `text` with their spans, comments included and nothing bounded: for tools
/// such as a formatter. Errors inside tokens and unknown characters are returned alongside.
pub fn tokens(file: FileId, text: &str) -> (Vec<(Span, Token)>, Vec<SyntaxError>) {
    let mut lexer = Token::lexer_with_extras(
        text,
        LexState {
            file,
            errors: Vec::new(),
        },
    );
    let mut out = Vec::new();
    let mut errors = Vec::new();
    while let Some(next) = lexer.next() {
        let range = lexer.span();
        errors.append(&mut lexer.extras.errors);
        match next {
            Ok(t) => out.push((span(file, range.start, range.end), t)),
            Err(()) => {
                let mut end = range.end.max(range.start + 1).min(text.len());
                while end < text.len() && !text.is_char_boundary(end) {
                    end += 1;
                }
                if end > range.end {
                    lexer.bump(end - range.end);
                }
                let chars = text.get(range.start..end).unwrap_or("");
                errors.push(SyntaxError::new(
                    ErrorCode::UnknownCharacter,
                    span(file, range.start, end),
                    format!("unknown character `{}`", chars.escape_debug()),
                    "not part of any token",
                ));
            }
        }
    }
    (out, errors)
}

/// One comment of a source file: `// line` (to the end of its line, newline excluded) or
/// `/* block */` (nesting, possibly over several lines).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// Where it is, delimiters included.
    pub span: Span,
    /// The comment as written, delimiters included.
    pub text: String,
    /// A `/* ... */` comment (otherwise a `//` comment).
    pub block: bool,
}

/// The comments of `text` in source order, with their spans: what the parser skips, for tools
/// that must keep them (the formatter). Lexing errors are ignored here; [`crate::parse`]
/// reports them.
pub fn comments(file: FileId, text: &str) -> Vec<Comment> {
    comments_of(text, &tokens(file, text).0)
}

/// The comments among `tokens`, the [`tokens`] of `text` (for a tool that needs both).
pub fn comments_of(text: &str, tokens: &[(Span, Token)]) -> Vec<Comment> {
    tokens
        .iter()
        .filter(|(_, t)| matches!(t, Token::Comment))
        .map(|&(mut s, _)| {
            let mut body = text.get(s.start as usize..s.end as usize).unwrap_or("");
            let block = body.starts_with("/*");
            if !block {
                // A line comment in a CRLF file: the `\r` belongs to the line break.
                let trimmed = body.trim_end_matches('\r');
                s.end -= u32::try_from(body.len() - trimmed.len()).unwrap_or(0);
                body = trimmed;
            }
            Comment {
                span: s,
                text: body.to_owned(),
                block,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_come_back_with_spans_in_source_order() {
        let text = "// a\r\nrule /* b /* nested */ */ r { // c\n}\n";
        let found = comments(FileId(0), text);
        let got: Vec<(u32, u32, &str, bool)> = found
            .iter()
            .map(|c| (c.span.start, c.span.end, c.text.as_str(), c.block))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, 4, "// a", false),
                (11, 31, "/* b /* nested */ */", true),
                (36, 40, "// c", false),
            ]
        );
    }
}
