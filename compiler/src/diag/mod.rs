//! Diagnostics as values: [`Diagnostic`], its [`ErrorCode`], [`Severity`] and [`Label`]s.
//!
//! A diagnostic is built where the problem is found (`resolve`, `typeck`, or translated from the
//! grammar's `SyntaxError`) and rendered in one place: [`render`] for people (ariadne), [`json`]
//! for pipelines. This module owns the shape and the did-you-mean helper; it knows nothing of
//! the language itself.

pub mod codes;
pub mod json;
pub mod render;
pub mod sarif;

use vigil_grammar::error::SyntaxError;
use vigil_grammar::span::Span;

pub use codes::ErrorCode;

/// How bad it is. Errors fail a check; warnings only with `--deny-warnings`. It follows the
/// code: `W` codes are warnings.
pub use vigil_codes::Severity;

/// A span with a few words about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What about it ("no such field", "first defined here").
    pub message: String,
}

/// One finding about the sources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Which finding this is.
    pub code: ErrorCode,
    /// Error or warning (follows the code).
    pub severity: Severity,
    /// Lower case, no final period, names in backticks.
    pub message: String,
    /// The primary span, as narrow as the fault, and its label.
    pub primary: Label,
    /// Secondary labels, in source order.
    pub labels: Vec<Label>,
    /// Something to do.
    pub help: Option<String>,
    /// Facts that explain it.
    pub notes: Vec<String>,
    /// A machine-applicable edit that mends it (a did-you-mean replacement), for editors'
    /// code actions and SARIF `fixes`.
    pub fix: Option<Fix>,
}

/// One edit that mends a diagnostic: replace the text at `span` with `replacement`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fix {
    /// What to replace.
    pub span: Span,
    /// What to put there.
    pub replacement: String,
}

impl Diagnostic {
    /// A new diagnostic with code `code`.
    pub fn new(
        code: ErrorCode,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic {
            code,
            severity: code.severity(),
            message: message.into(),
            primary: Label {
                span,
                message: label.into(),
            },
            labels: Vec::new(),
            help: None,
            notes: Vec::new(),
            fix: None,
        }
    }

    /// A new error.
    pub fn error(
        code: ErrorCode,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic::new(code, span, message, label)
    }

    /// A new warning.
    pub fn warning(
        code: ErrorCode,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic::new(code, span, message, label)
    }

    /// The grammar's error as a diagnostic.
    pub fn from_syntax(e: &SyntaxError) -> Self {
        let mut d = Diagnostic::new(e.code, e.span, e.message.clone(), e.label.clone());
        d.help.clone_from(&e.help);
        d.notes.clone_from(&e.notes);
        d
    }

    /// Adds a secondary label, keeping labels in source order.
    #[must_use]
    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        let label = Label {
            span,
            message: message.into(),
        };
        let at = self.labels.partition_point(|l| {
            (l.span.file, l.span.start, l.span.end) <= (span.file, span.start, span.end)
        });
        self.labels.insert(at, label);
        self
    }

    /// Sets the help line.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Sets the help line when there is one.
    #[must_use]
    pub fn with_help_opt(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    /// Sets the machine-applicable edit.
    #[must_use]
    pub fn with_fix(mut self, span: Span, replacement: impl Into<String>) -> Self {
        self.fix = Some(Fix {
            span,
            replacement: replacement.into(),
        });
        self
    }

    /// Adds a note.
    #[must_use]
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The closest of `candidates` to `name` by edit distance, when close enough to be a likely
/// typo: at most a third of the name's length (at least 1, at most 3 edits), or equal under
/// ASCII case folding. Ties go to the first candidate in sorted order.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let limit = (name.chars().count() / 3).clamp(1, 3);
    let mut best: Option<(usize, &str)> = None;
    for cand in candidates {
        if cand == name || cand.is_empty() {
            continue;
        }
        let d = if cand.eq_ignore_ascii_case(name) {
            0
        } else {
            strsim::damerau_levenshtein(name, cand)
        };
        if d > limit {
            continue;
        }
        let better = match best {
            None => true,
            Some((bd, bc)) => d < bd || (d == bd && cand < bc),
        };
        if better {
            best = Some((d, cand));
        }
    }
    best.map(|(_, c)| c.to_owned())
}

/// `did you mean `x`?` for the closest candidate, if any.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    did_you_mean(name, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// Counts of errors and warnings.
pub fn count(diags: &[Diagnostic]) -> (usize, usize) {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    (errors, diags.len() - errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_picks_the_closest_name_within_a_third_of_its_length() {
        let fields = ["command_line", "image", "user", "parent_image"];
        assert_eq!(
            did_you_mean("comand_line", fields).as_deref(),
            Some("command_line")
        );
        assert_eq!(did_you_mean("imag", fields).as_deref(), Some("image"));
        assert_eq!(did_you_mean("xyz", fields), None);
        assert_eq!(did_you_mean("USER", fields).as_deref(), Some("user"));
    }

    #[test]
    fn labels_stay_in_source_order() {
        let s = |a, b| Span::new(vigil_grammar::span::FileId(0), a, b);
        let d = Diagnostic::error(ErrorCode::DefinedTwice, s(50, 55), "m", "l")
            .with_label(s(30, 31), "b")
            .with_label(s(10, 11), "a");
        let starts: Vec<u32> = d.labels.iter().map(|l| l.span.start).collect();
        assert_eq!(starts, vec![10, 30]);
    }
}
