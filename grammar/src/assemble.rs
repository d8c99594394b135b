//! Helpers for the grammar's actions: building spanned nodes, and assembling a rule from its
//! clauses.
//!
//! The grammar accepts a rule's clauses in any order (so error recovery can resume at any
//! clause keyword); this module puts them into a [`RuleDecl`] and reports clauses out of order
//! (`E0116`), written twice (`E0117`) and a missing `on`/`sequence` (`E0118`).

use vigil_codes::ErrorCode;

use crate::ast::{
    DurationLit, Expr, FieldPath, Ident, Meta, RuleDecl, StrLit, Threshold, ThresholdKind, Trigger,
};
use crate::error::{span, SyntaxError};
use crate::lexer::Sink;
use crate::span::{FileId, Span};
use crate::token::StrToken;

/// One clause of a rule, with the span of its keyword.
#[derive(Debug)]
pub(crate) enum Clause {
    Meta(Meta),
    Trigger(Trigger, Span),
    When(Expr, Span),
    Threshold(Threshold),
    Emit(StrLit, Span),
    Fields(Vec<FieldPath>, Span),
}

impl Clause {
    /// The clause's place in the required order.
    fn rank(&self) -> usize {
        match self {
            Clause::Meta(_) => 0,
            Clause::Trigger(..) => 1,
            Clause::When(..) => 2,
            Clause::Threshold(_) => 3,
            Clause::Emit(..) => 4,
            Clause::Fields(..) => 5,
        }
    }

    /// The clause's keyword, as written in messages.
    fn keyword(&self) -> &'static str {
        match self {
            Clause::Meta(_) => "meta",
            Clause::Trigger(Trigger::On(..), _) => "on",
            Clause::Trigger(Trigger::Sequence(_), _) => "sequence",
            Clause::When(..) => "when",
            Clause::Threshold(_) => "threshold",
            Clause::Emit(..) => "emit",
            Clause::Fields(..) => "fields",
        }
    }

    /// Where to point at the clause: its keyword.
    fn keyword_span(&self) -> Span {
        match self {
            Clause::Meta(m) => m.span.sub(0, 4),
            Clause::Threshold(t) => t.span.sub(0, 9),
            Clause::Trigger(_, s)
            | Clause::When(_, s)
            | Clause::Emit(_, s)
            | Clause::Fields(_, s) => *s,
        }
    }
}

const CLAUSE_ORDER: &str =
    "clauses go in this order: `meta`, `on` or `sequence`, `when`, `threshold`, `emit`, `fields`";

/// A span in `file`.
pub(crate) fn sp(file: FileId, l: usize, r: usize) -> Span {
    span(file, l, r)
}

/// A plain or backticked name.
pub(crate) fn ident(file: FileId, l: usize, r: usize, name: String, quoted: bool) -> Ident {
    Ident {
        name,
        span: span(file, l, r),
        quoted,
    }
}

/// A string literal from its token.
pub(crate) fn str_lit(file: FileId, l: usize, r: usize, t: StrToken) -> StrLit {
    StrLit {
        value: t.value,
        span: span(file, l, r),
        content_offset: t.content_offset,
        verbatim: t.verbatim,
    }
}

/// A duration literal.
pub(crate) fn duration(file: FileId, l: usize, r: usize, nanos: u64) -> DurationLit {
    DurationLit {
        nanos,
        span: span(file, l, r),
    }
}

/// Assembles a rule from its clauses (`None` marks a clause lost to error recovery).
pub(crate) fn rule(
    sink: &Sink,
    name: Ident,
    clauses: Vec<Option<Clause>>,
    l: usize,
    r: usize,
) -> RuleDecl {
    let mut rule = RuleDecl {
        name,
        meta: None,
        trigger: None,
        when: None,
        threshold: None,
        emit: None,
        fields: None,
        span: span(sink.file, l, r),
    };
    let recovered = clauses.iter().any(Option::is_none);
    // The highest-ranked clause so far, with its keyword and span.
    let mut last: Option<(usize, &'static str)> = None;
    let mut seen = [false; 6];
    for clause in clauses.into_iter().flatten() {
        let rank = clause.rank();
        let keyword = clause.keyword();
        let at = clause.keyword_span();
        if seen[rank] {
            let (what, help) = match rank {
                1 => (
                    "`on`/`sequence`".to_owned(),
                    "a rule has one trigger; `on T1, T2` runs it on several event types",
                ),
                2 => (
                    "`when`".to_owned(),
                    "combine the conditions into one `when` with `and`",
                ),
                _ => (format!("`{keyword}`"), "keep one of the two clauses"),
            };
            sink.push(
                SyntaxError::new(
                    ErrorCode::DuplicateClause,
                    at,
                    format!("rule `{}` has a second {what} clause", rule.name.name),
                    "written again here",
                )
                .with_help(help),
            );
            continue;
        }
        seen[rank] = true;
        if let Some((last_rank, last_keyword)) = last {
            if rank < last_rank {
                sink.push(
                    SyntaxError::new(
                        ErrorCode::ClauseOutOfOrder,
                        at,
                        format!("`{keyword}` must come before `{last_keyword}`"),
                        "out of order",
                    )
                    .with_help(format!("move `{keyword}` up"))
                    .with_note(CLAUSE_ORDER),
                );
            }
        }
        if last.is_none_or(|(last_rank, _)| rank > last_rank) {
            last = Some((rank, keyword));
        }
        match clause {
            Clause::Meta(m) => rule.meta = Some(m),
            Clause::Trigger(t, _) => rule.trigger = Some(t),
            Clause::When(e, _) => rule.when = Some(e),
            Clause::Threshold(t) => rule.threshold = Some(t),
            Clause::Emit(s, _) => rule.emit = Some(s),
            Clause::Fields(f, _) => rule.fields = Some(f),
        }
    }
    if rule.trigger.is_none() && !recovered && !sink.any_error_within(l, r) {
        sink.push(
            SyntaxError::new(
                ErrorCode::MissingTrigger,
                rule.name.span,
                format!("rule `{}` has neither `on` nor `sequence`", rule.name.name),
                "no event type",
            )
            .with_help("add `on EVENT_TYPE` after `meta`, as in `on process_start`"),
        );
    }
    rule
}

/// `func(FIELD)` after `threshold`: `sum` or `avg` (matched as words, so fields of those names
/// stay usable elsewhere); any other word is reported and read as `count`.
pub(crate) fn aggregate(sink: &Sink, func: Ident, field: Ident, span: Span) -> ThresholdKind {
    match func.name.as_str() {
        "sum" if !func.quoted => ThresholdKind::Sum(field, span),
        "avg" if !func.quoted => ThresholdKind::Avg(field, span),
        _ => {
            sink.push(
                SyntaxError::new(
                    ErrorCode::UnexpectedToken,
                    func.span,
                    format!("`{}` is not a threshold aggregate", func.name),
                    "not `count`, `distinct`, `sum` or `avg`",
                )
                .with_help("write `count`, `distinct(FIELD)`, `sum(FIELD)` or `avg(FIELD)`"),
            );
            ThresholdKind::Count(span)
        }
    }
}

/// `any order` after `sequence`: any other word after `any` is reported (and read as `order`).
pub(crate) fn any_order(sink: &Sink, word: Option<Ident>) -> bool {
    let Some(w) = word else {
        return false;
    };
    if w.name != "order" || w.quoted {
        sink.push(
            SyntaxError::new(
                ErrorCode::UnexpectedToken,
                w.span,
                format!("expected `order` after `sequence any`, found `{}`", w.name),
                "expected `order`",
            )
            .with_help("write `sequence any order by ... within ... { ... }`"),
        );
    }
    true
}

/// `-N` for a meta value: the sign folded in.
pub(crate) fn negate(n: u64) -> i128 {
    -i128::from(n)
}
