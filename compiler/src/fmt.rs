//! The formatter: prints `.vgl` source, or an [`vigil_grammar::ast::File`], in the one
//! canonical layout, keeping the source's comments where they were.
//!
//! Input: source text ([`format_source`]) or a syntax tree built by a tool such as the Sigma
//! importer ([`format_file`]); output: text that parses back to the same tree (spans aside). It
//! owns layout only: it never checks names, types or the schema. Layout:
//!
//! - four-space indents, one blank line between items, clauses in the order LANGUAGE.md fixes;
//! - an expression that fits in [`WIDTH`] columns stays on one line; a longer `and`/`or` chain
//!   puts one operand per line, the operator first, four columns deeper than its clause; a long
//!   list puts one item per line with a trailing comma;
//! - parentheses where precedence needs them, around an `and` inside an `or`, and around the
//!   operand of `not` unless it is atomic (`not exists(x)`, `not (a ieq b)`);
//! - strings holding a backslash print raw (`r"C:\Windows"`, `r#"say "hi""#`); other strings
//!   print with escapes; names that are keywords or not plain identifiers print in backticks.
//!
//! Comments (from [`vigil_grammar::comments`]) are placed by line. The printer builds lines,
//! each marked with the source offset of its first token; those offsets cut the source into one
//! segment per printed line. A comment on a line of its own goes on its own line before the
//! printed line holding the next token (so a comment inside a one-line expression moves above
//! it); a comment after code goes at the end of the printed line holding the code before it
//! (when that code is an `and`/`or` starting its line, at the end of the line before; when
//! that line already ends in a `//` comment, on its own line before the next one). An
//! `and`/`or` chain or a list with a comment between its operands or items is always broken,
//! one operand or item per line, so that the comment stays beside it. One blank line is kept
//! before and after a comment that had one; other blank lines go. Comment text is never
//! changed, and every comment is printed exactly once, which makes formatting idempotent: a
//! comment printed before or after a line is read back to the same line.
//!
//! Recursion follows the tree, whose depth the parser bounds (`MAX_NESTING`); trees built by
//! tools must stay within the same bound.

use std::fmt::Write as _;

use crate::diag::Diagnostic;
use vigil_grammar::ast::{
    BinOp, Expect, Expr, ExprKind, FieldPath, File, FnDecl, Ident, Item, ListDecl, Meta, MetaValue,
    Quantifier, RuleDecl, Sequence, StrLit, TestDecl, Threshold, ThresholdKind, Trigger, TypeExpr,
    UnOp,
};
use vigil_grammar::span::{FileId, Span};
use vigil_grammar::token::Token;
use vigil_grammar::Comment;

/// The column limit a line is kept within where the layout allows it.
pub const WIDTH: usize = 100;

/// The words of the language that cannot be used as bare names.
pub const KEYWORDS: &[&str] = &[
    "list",
    "fn",
    "rule",
    "test",
    "meta",
    "on",
    "sequence",
    "by",
    "within",
    "when",
    "threshold",
    "count",
    "distinct",
    "emit",
    "fields",
    "at",
    "fires",
    "quiet",
    "and",
    "or",
    "not",
    "in",
    "iin",
    "matches",
    "any",
    "all",
    "exists",
    "true",
    "false",
    "ieq",
    "contains",
    "startswith",
    "endswith",
    "icontains",
    "istartswith",
    "iendswith",
];

/// Formats `.vgl` source text: parses it and prints it in the canonical layout with its
/// comments. Syntax errors come back as diagnostics and nothing is printed (a file that does not
/// parse is never rewritten). What `vigil fmt` and the language server's document formatting
/// call.
pub fn format_source(text: &str) -> Result<String, Vec<Diagnostic>> {
    let (file, errors) = vigil_grammar::parse(FileId(0), text);
    if !errors.is_empty() {
        return Err(errors.iter().map(Diagnostic::from_syntax).collect());
    }
    let src = Source::new(text);
    let mut p = Printer::new(Some(&src));
    p.file(&file);
    Ok(p.render())
}

/// Prints a whole file: its items in order, separated by one blank line, ending in a newline.
/// The tree carries no comments; [`format_source`] keeps those of a source text.
pub fn format_file(file: &File) -> String {
    let mut p = Printer::new(None);
    p.file(file);
    p.render()
}

/// Prints one expression on as many lines as it needs, continuation lines indented by
/// `indent` columns (the first line is not indented).
pub fn format_expr(e: &Expr, indent: usize) -> String {
    let mut p = Printer::new(None);
    p.start(0, None, Kind::Plain);
    p.pretty(e, indent);
    let lines: Vec<String> = p.lines.iter().map(Line::text).collect();
    lines.join("\n")
}

/// What the formatter knows of the source text besides the tree: its code tokens and its
/// comments, by offset.
struct Source<'t> {
    text: &'t str,
    /// Start, end and kind of every token that is not a comment, in order.
    code: Vec<(u32, u32, Tok)>,
    comments: Vec<Comment>,
}

/// The token kinds the layout needs to tell apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    LParen,
    RParen,
    AndOr,
    Other,
}

impl<'t> Source<'t> {
    fn new(text: &'t str) -> Self {
        let (tokens, _) = vigil_grammar::tokens(FileId(0), text);
        let code = tokens
            .iter()
            .filter(|(_, t)| !matches!(t, Token::Comment))
            .map(|(s, t)| {
                let kind = match t {
                    Token::LParen => Tok::LParen,
                    Token::RParen => Tok::RParen,
                    Token::And | Token::Or => Tok::AndOr,
                    _ => Tok::Other,
                };
                (s.start, s.end, kind)
            })
            .collect();
        Source {
            text,
            code,
            comments: vigil_grammar::comments_of(text, &tokens),
        }
    }

    /// The first code token starting at or after `pos` that is not a `)`.
    fn next_code(&self, pos: u32) -> Option<u32> {
        let i = self.code.partition_point(|t| t.0 < pos);
        self.code
            .get(i..)?
            .iter()
            .find(|t| t.2 != Tok::RParen)
            .map(|t| t.0)
    }

    /// The first `and`/`or` token at or after `pos`.
    fn next_and_or(&self, pos: u32) -> Option<u32> {
        let i = self.code.partition_point(|t| t.0 < pos);
        self.code
            .get(i..)?
            .iter()
            .find(|t| t.2 == Tok::AndOr)
            .map(|t| t.0)
    }

    /// `span` widened over the parentheses written around it.
    fn ext(&self, span: Span) -> (u32, u32) {
        let first = self.code.partition_point(|t| t.0 < span.start);
        let last = self.code.partition_point(|t| t.1 < span.end);
        let (Some(a), Some(b)) = (self.code.get(first), self.code.get(last)) else {
            return (span.start, span.end);
        };
        if a.0 != span.start || b.1 != span.end {
            return (span.start, span.end);
        }
        let opens = self.code[..first]
            .iter()
            .rev()
            .take_while(|t| t.2 == Tok::LParen)
            .count();
        let closes = self.code[last + 1..]
            .iter()
            .take_while(|t| t.2 == Tok::RParen)
            .count();
        let n = opens.min(closes);
        (self.code[first - n].0, self.code[last + n].1)
    }

    /// Whether a comment starts in `lo..hi`.
    fn comment_in(&self, lo: u32, hi: u32) -> bool {
        let i = self.comments.partition_point(|c| c.span.start < lo);
        self.comments.get(i).is_some_and(|c| c.span.start < hi)
    }

    /// Whether the text between `a` and `b` holds a blank line.
    fn blank_between(&self, a: u32, b: u32) -> bool {
        let gap = self.text.get(a as usize..b as usize).unwrap_or("");
        gap.split('\n')
            .skip(1)
            .take(gap.matches('\n').count().saturating_sub(1))
            .any(|l| l.trim().is_empty())
    }
}

/// What a printed line is, for placing comments around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Any line.
    Plain,
    /// A line that closes a block (`}`, `]`, `)`): comments before it are indented one level
    /// deeper, as the block's content.
    Close,
    /// A line that starts with an `and`/`or` operator.
    Op,
}

/// One printed line.
#[derive(Debug)]
struct Line {
    indent: usize,
    body: String,
    /// The source offset where this line's segment starts (its first token), when known.
    lo: Option<u32>,
    kind: Kind,
}

impl Line {
    fn text(&self) -> String {
        if self.body.is_empty() {
            String::new()
        } else {
            format!("{}{}", " ".repeat(self.indent), self.body)
        }
    }
}

/// Builds the lines of a file or expression, then places the comments among them.
struct Printer<'s> {
    lines: Vec<Line>,
    src: Option<&'s Source<'s>>,
}

impl<'s> Printer<'s> {
    fn new(src: Option<&'s Source<'s>>) -> Self {
        Printer {
            lines: Vec::new(),
            src,
        }
    }

    /// `pos` as a line mark, when printing source text.
    fn at(&self, pos: u32) -> Option<u32> {
        self.src.map(|_| pos)
    }

    /// Starts a new line.
    fn start(&mut self, indent: usize, lo: Option<u32>, kind: Kind) {
        self.lines.push(Line {
            indent,
            body: String::new(),
            lo,
            kind,
        });
    }

    fn push(&mut self, s: &str) {
        if let Some(l) = self.lines.last_mut() {
            l.body.push_str(s);
        }
    }

    /// The column the current line has reached.
    fn col(&self) -> usize {
        self.lines.last().map_or(0, |l| l.indent + l.body.len())
    }

    fn blank(&mut self) {
        self.start(0, None, Kind::Plain);
    }

    fn file(&mut self, file: &File) {
        for (i, item) in file.items.iter().enumerate() {
            if i > 0 {
                self.blank();
            }
            match item {
                Item::List(l) => self.list_decl(l),
                Item::Fn(f) => self.fn_decl(f),
                Item::Rule(r) => self.rule_decl(r),
                Item::Test(t) => self.test_decl(t),
            }
        }
    }

    fn list_decl(&mut self, l: &ListDecl) {
        self.start(0, self.at(l.span.start), Kind::Plain);
        let head = match &l.ty {
            Some(t) => format!("list {}: {} = ", ident(&l.name), type_expr(t)),
            None => format!("list {} = ", ident(&l.name)),
        };
        self.push(&head);
        self.pretty(&l.value, 0);
    }

    fn fn_decl(&mut self, f: &FnDecl) {
        let params: Vec<String> = f
            .params
            .iter()
            .map(|p| format!("{}: {}", ident(&p.name), type_expr(&p.ty)))
            .collect();
        self.start(0, self.at(f.span.start), Kind::Plain);
        self.push(&format!(
            "fn {}({}) -> {} {{",
            ident(&f.name),
            params.join(", "),
            type_expr(&f.ret)
        ));
        let body = self.src.map(|s| s.ext(f.body.span).0);
        self.start(4, body, Kind::Plain);
        self.pretty(&f.body, 8);
        self.start(0, self.at(f.span.end.saturating_sub(1)), Kind::Close);
        self.push("}");
    }

    fn meta(&mut self, m: &Meta) {
        self.start(4, self.at(m.span.start), Kind::Plain);
        self.push("meta {");
        for e in &m.entries {
            let key = ident(&e.key);
            self.start(8, self.at(e.key.span.start), Kind::Plain);
            self.push(&format!("{key}: "));
            self.meta_value(&e.value);
            self.push(",");
        }
        self.start(4, self.at(m.span.end.saturating_sub(1)), Kind::Close);
        self.push("}");
    }

    /// A meta value from the current column; a list that does not fit (or has a comment
    /// between its items) puts one item per line.
    fn meta_value(&mut self, v: &MetaValue) {
        let MetaValue::List(items, span) = v else {
            self.push(&meta_value(v, self.col()));
            return;
        };
        let parts: Vec<String> = items.iter().map(|i| meta_value(i, 12)).collect();
        let flat = format!("[{}]", parts.join(", "));
        let gaps = self.src.is_some_and(|s| {
            let mut lo = span.start.saturating_add(1);
            for i in items {
                if s.comment_in(lo, i.span().start) {
                    return true;
                }
                lo = i.span().end;
            }
            s.comment_in(lo, span.end.saturating_sub(1))
        });
        if self.col() + flat.len() < WIDTH && !flat.contains('\n') && !gaps {
            self.push(&flat);
            return;
        }
        self.push("[");
        for (i, p) in items.iter().zip(parts) {
            self.start(12, self.at(i.span().start), Kind::Plain);
            self.push(&format!("{p},"));
        }
        self.start(8, self.at(span.end.saturating_sub(1)), Kind::Close);
        self.push("]");
    }

    fn rule_decl(&mut self, r: &RuleDecl) {
        self.start(0, self.at(r.span.start), Kind::Plain);
        self.push(&format!("rule {} {{", ident(&r.name)));
        // Where the last clause ended: the next clause's keyword is the next token.
        let mut end = r.name.span.end;
        if let Some(m) = &r.meta {
            self.meta(m);
            end = m.span.end;
        }
        match &r.trigger {
            Some(Trigger::On(types, span)) => {
                let names: Vec<String> = types.iter().map(ident).collect();
                self.start(4, self.at(span.start), Kind::Plain);
                self.push(&format!("on {}", names.join(", ")));
                end = span.end;
            }
            Some(Trigger::Sequence(s)) => {
                self.sequence(s);
                end = s.span.end;
            }
            None => {}
        }
        if let Some(w) = &r.when {
            self.start(4, self.keyword_after(end), Kind::Plain);
            self.push("when ");
            self.pretty(w, 8);
            end = w.span.end;
        }
        if let Some(t) = &r.threshold {
            self.threshold(t);
            end = t.span.end;
        }
        if let Some(e) = &r.emit {
            self.start(4, self.keyword_after(end), Kind::Plain);
            self.push(&format!("emit {}", str_lit(e)));
            end = e.span.end;
        }
        if let Some(f) = &r.fields {
            let paths: Vec<String> = f.iter().map(field_path).collect();
            self.start(4, self.keyword_after(end), Kind::Plain);
            self.push(&format!("fields [{}]", paths.join(", ")));
        }
        self.start(0, self.at(r.span.end.saturating_sub(1)), Kind::Close);
        self.push("}");
    }

    /// The mark of a clause whose keyword is the first token after `end`.
    fn keyword_after(&self, end: u32) -> Option<u32> {
        self.src.and_then(|s| s.next_code(end))
    }

    fn sequence(&mut self, s: &Sequence) {
        self.start(4, self.at(s.span.start), Kind::Plain);
        self.push(&format!(
            "sequence{}{} {{",
            if s.any_order { " any order" } else { "" },
            window(&s.by, s.within.map(|d| d.nanos))
        ));
        let width = s
            .steps
            .iter()
            .map(|st| ident(&st.name).len())
            .max()
            .unwrap_or(0);
        for st in &s.steps {
            let head = format!("{}:", ident(&st.name));
            self.start(8, self.at(st.span.start), Kind::Plain);
            self.push(&format!("{head:<w$} {}", ident(&st.event), w = width + 1));
            if let Some(w) = &st.when {
                self.push(" when ");
                self.pretty(w, 12);
            }
        }
        self.start(4, self.at(s.span.end.saturating_sub(1)), Kind::Close);
        self.push("}");
    }

    fn threshold(&mut self, t: &Threshold) {
        let kind = match &t.kind {
            ThresholdKind::Count(_) => "count".to_owned(),
            ThresholdKind::Distinct(f, _) => format!("distinct({})", ident(f)),
            ThresholdKind::Sum(f, _) => format!("sum({})", ident(f)),
            ThresholdKind::Avg(f, _) => format!("avg({})", ident(f)),
        };
        // `within D by K`, as LANGUAGE.md writes thresholds (sequences read `by K within D`).
        let mut line = format!("threshold {kind} >= {}", t.count);
        if let Some(d) = t.within {
            let _ = write!(line, " within {}", duration(d.nanos));
        }
        if !t.by.is_empty() {
            let names: Vec<String> = t.by.iter().map(ident).collect();
            let _ = write!(line, " by {}", names.join(", "));
        }
        self.start(4, self.at(t.span.start), Kind::Plain);
        self.push(&line);
    }

    fn test_decl(&mut self, t: &TestDecl) {
        self.start(0, self.at(t.span.start), Kind::Plain);
        self.push(&format!("test {} {{", ident(&t.rule)));
        for c in &t.cases {
            let mut line = String::new();
            if let Some(at) = c.at {
                let _ = write!(line, "at {} ", duration(at.nanos));
            }
            let fields: Vec<String> = c
                .fields
                .iter()
                .map(|(k, v)| format!("{}: {}", ident(k), flat(v)))
                .collect();
            let _ = write!(line, "{} {{ {} }}", ident(&c.event), fields.join(", "));
            match c.expect {
                Some((Expect::Fires(None), _)) => line.push_str(" => fires"),
                Some((Expect::Fires(Some(n)), _)) => {
                    let _ = write!(line, " => fires {n}");
                }
                Some((Expect::Quiet, _)) => line.push_str(" => quiet"),
                None => {}
            }
            self.start(4, self.at(c.span.start), Kind::Plain);
            self.push(&line);
        }
        self.start(0, self.at(t.span.end.saturating_sub(1)), Kind::Close);
        self.push("}");
    }

    /// Whether `e` must be broken over lines because a comment sits between the operands or
    /// items of a chain or list it would lay out (the breakable parts [`Self::pretty`] walks).
    fn needs_break(&self, e: &Expr) -> bool {
        let Some(s) = self.src else {
            return false;
        };
        match &e.kind {
            ExprKind::And(v) | ExprKind::Or(v) => {
                v.windows(2)
                    .any(|w| s.comment_in(s.ext(w[0].span).1, s.ext(w[1].span).0))
                    || v.iter().any(|x| self.needs_break(x))
            }
            ExprKind::Unary(UnOp::Not, x) if prec(x) < 8 => self.needs_break(x),
            ExprKind::Binary(_, _, b) if matches!(b.kind, ExprKind::List(_)) => self.needs_break(b),
            ExprKind::StrAnyAll { list, .. } if matches!(list.kind, ExprKind::List(_)) => {
                self.needs_break(list)
            }
            ExprKind::List(items) => {
                let mut lo = e.span.start.saturating_add(1);
                for i in items {
                    let (a, b) = s.ext(i.span);
                    if s.comment_in(lo, a) {
                        return true;
                    }
                    lo = b;
                }
                s.comment_in(lo, e.span.end.saturating_sub(1))
            }
            _ => false,
        }
    }

    /// `e` laid out from the current column, continuation lines at `indent`.
    fn pretty(&mut self, e: &Expr, indent: usize) {
        let one = flat(e);
        if self.col() + one.len() <= WIDTH && !self.needs_break(e) {
            self.push(&one);
            return;
        }
        match &e.kind {
            ExprKind::And(v) | ExprKind::Or(v) => {
                let word = if matches!(e.kind, ExprKind::And(_)) {
                    "and "
                } else {
                    "or "
                };
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        let lo = self.src.and_then(|s| s.next_and_or(s.ext(v[i - 1].span).1));
                        self.start(indent, lo, Kind::Op);
                        self.push(word);
                    }
                    self.pretty_operand(x, 3, indent);
                }
            }
            ExprKind::Unary(UnOp::Not, x) if prec(x) < 8 => {
                self.push("not ");
                self.paren_block(x, indent);
            }
            ExprKind::Binary(op, a, b) if matches!(b.kind, ExprKind::List(_)) => {
                self.push(&format!("{} {} ", operand(a, 5), op.as_str()));
                self.list_block(b, indent);
            }
            ExprKind::StrAnyAll {
                op,
                quant,
                lhs,
                list,
            } if matches!(list.kind, ExprKind::List(_)) => {
                self.push(&format!(
                    "{} {} {} ",
                    operand(lhs, 5),
                    op.as_str(),
                    quant_word(*quant)
                ));
                self.list_block(list, indent);
            }
            ExprKind::List(_) => self.list_block(e, indent),
            _ => self.push(&one),
        }
    }

    /// An operand of an `and`/`or` chain laid out from the current column.
    fn pretty_operand(&mut self, x: &Expr, min: u8, indent: usize) {
        if prec(x) < min {
            self.paren_block(x, indent);
        } else {
            self.pretty(x, indent);
        }
    }

    /// `(x)` on one line if it fits, else `(`, `x` four columns deeper, `)` at `indent`.
    fn paren_block(&mut self, x: &Expr, indent: usize) {
        let one = flat(x);
        if self.col() + one.len() + 2 <= WIDTH && !self.needs_break(x) {
            self.push(&format!("({one})"));
            return;
        }
        let inner = indent + 4;
        self.push("(");
        self.start(inner, self.at(x.span.start), Kind::Plain);
        self.pretty(x, inner);
        self.start(indent, self.at(x.span.end), Kind::Close);
        self.push(")");
    }

    /// A list literal, one item per line, closing bracket at `indent`.
    fn list_block(&mut self, l: &Expr, indent: usize) {
        let ExprKind::List(items) = &l.kind else {
            self.push(&flat(l));
            return;
        };
        self.push("[");
        for i in items {
            let lo = self.src.map(|s| s.ext(i.span).0);
            self.start(indent + 4, lo, Kind::Plain);
            self.push(&format!("{},", flat(i)));
        }
        self.start(indent, self.at(l.span.end.saturating_sub(1)), Kind::Close);
        self.push("]");
    }

    /// The text: the lines with the comments placed among them, ending in a newline.
    fn render(self) -> String {
        let n = self.lines.len();
        // Comments (indices) to print on their own lines before line `i` (`n`: at the end),
        // and at the end of line `i`.
        let mut before: Vec<Vec<usize>> = vec![Vec::new(); n + 1];
        let mut after: Vec<Vec<usize>> = vec![Vec::new(); n];
        let no_comments = Vec::new();
        let comments = self.src.map_or(&no_comments, |s| &s.comments);
        // Whether a blank line precedes / follows each comment in the source.
        let mut blank_before = vec![false; comments.len()];
        let mut blank_after = vec![false; comments.len()];
        if let Some(s) = self.src {
            let marks: Vec<(u32, usize)> = self
                .lines
                .iter()
                .enumerate()
                .filter_map(|(i, l)| l.lo.map(|lo| (lo, i)))
                .collect();
            // The index in `marks` of the line whose segment holds `pos`.
            let mark_of = |pos: u32| marks.partition_point(|m| m.0 <= pos).checked_sub(1);
            let line_starts: Vec<u32> = std::iter::once(0)
                .chain(
                    s.text
                        .bytes()
                        .enumerate()
                        .filter(|(_, b)| *b == b'\n')
                        .map(|(i, _)| u32::try_from(i + 1).unwrap_or(u32::MAX)),
                )
                .collect();
            let line_of = |pos: u32| line_starts.partition_point(|&l| l <= pos);
            for (k, c) in comments.iter().enumerate() {
                let prev_code = s.code.partition_point(|t| t.1 <= c.span.start);
                let prev_code = prev_code.checked_sub(1).map(|i| s.code[i]);
                let next_code = s.code.get(s.code.partition_point(|t| t.0 < c.span.end));
                let prev_end = prev_code
                    .map(|t| t.1)
                    .into_iter()
                    .chain(k.checked_sub(1).map(|j| comments[j].span.end))
                    .max();
                let next_start = next_code
                    .map(|t| t.0)
                    .into_iter()
                    .chain(comments.get(k + 1).map(|c| c.span.start))
                    .min();
                blank_before[k] = prev_end.is_some_and(|p| s.blank_between(p, c.span.start));
                blank_after[k] = next_start.is_some_and(|b| s.blank_between(c.span.end, b));
                let trailing = prev_code.is_some_and(|p| line_of(p.1) == line_of(c.span.start));
                if let (true, Some(p)) = (trailing, prev_code) {
                    if let Some(mut m) = mark_of(p.0) {
                        // After an `and`/`or` that starts its line: the end of the line before.
                        if self.lines[marks[m].1].kind == Kind::Op && marks[m].0 == p.0 && m > 0 {
                            m -= 1;
                        }
                        let line = marks[m].1;
                        if after[line].iter().any(|&j| !comments[j].block) {
                            // A line comment already ends that line: this one goes on its own
                            // line, before the next line that prints source.
                            let next = marks.get(m + 1).map_or(n, |m| m.1);
                            before[next].push(k);
                        } else {
                            after[line].push(k);
                        }
                        continue;
                    }
                }
                let line = next_code
                    .and_then(|t| mark_of(t.0))
                    .map_or(n, |m| marks[m].1);
                before[line].push(k);
            }
        }
        let mut out = String::new();
        // Whether the output is empty or ends with a blank line.
        let mut blank = true;
        let mut want_blank = false;
        for (i, slot) in before.iter().enumerate() {
            let line = self.lines.get(i);
            for &k in slot {
                if (blank_before[k] || want_blank) && !blank {
                    out.push('\n');
                }
                let indent = match line {
                    Some(l) if l.kind == Kind::Close => l.indent + 4,
                    Some(l) => l.indent,
                    None => 0,
                };
                let _ = writeln!(out, "{}{}", " ".repeat(indent), comments[k].text);
                blank = false;
                want_blank = blank_after[k];
            }
            let Some(line) = line else {
                break;
            };
            if want_blank && !blank && line.kind != Kind::Close && !line.body.is_empty() {
                out.push('\n');
            }
            want_blank = false;
            let mut text = line.text();
            for &k in &after[i] {
                text.push(' ');
                text.push_str(&comments[k].text);
            }
            out.push_str(&text);
            out.push('\n');
            blank = text.is_empty();
        }
        out
    }
}

/// Whether `name` can be written bare: an identifier that is not a keyword.
pub fn is_bare_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') && !KEYWORDS.contains(&name)
}

/// A name, in backticks when it cannot be written bare.
pub fn name(n: &str) -> String {
    if is_bare_name(n) {
        n.to_owned()
    } else {
        format!("`{n}`")
    }
}

fn ident(i: &Ident) -> String {
    name(&i.name)
}

/// A string literal for `value`: raw when it holds a backslash (and nothing a raw string cannot
/// hold), escaped otherwise.
pub fn string(value: &str) -> String {
    let control = value.chars().any(char::is_control);
    if value.contains('\\') && !control {
        // Enough `#`s that no `"###` inside the value closes the literal early.
        let mut hashes = 0;
        if value.contains('"') {
            hashes = 1;
            while value.contains(&format!("\"{}", "#".repeat(hashes))) {
                hashes += 1;
            }
        }
        let h = "#".repeat(hashes);
        return format!("r{h}\"{value}\"{h}");
    }
    let mut s = String::with_capacity(value.len() + 2);
    s.push('"');
    for c in value.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            '\0' => s.push_str("\\0"),
            c if c.is_control() => {
                let _ = write!(s, "\\u{{{:x}}}", u32::from(c));
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

fn str_lit(s: &StrLit) -> String {
    string(&s.value)
}

/// A duration in the largest unit that divides it exactly.
fn duration(nanos: u64) -> String {
    const MS: u64 = 1_000_000;
    const UNITS: [(u64, &str); 5] = [
        (86_400_000 * MS, "d"),
        (3_600_000 * MS, "h"),
        (60_000 * MS, "m"),
        (1000 * MS, "s"),
        (MS, "ms"),
    ];
    for (size, unit) in UNITS {
        if nanos >= size && nanos.is_multiple_of(size) {
            return format!("{}{unit}", nanos / size);
        }
    }
    // Below a millisecond: the grammar has no unit for it; round up so the window never shrinks.
    format!("{}ms", nanos.div_ceil(MS))
}

/// A type as written in rules (`string`, `[cidr]`, names in backticks where needed).
pub fn type_expr(t: &TypeExpr) -> String {
    match t {
        TypeExpr::Named(i) => ident(i),
        TypeExpr::List(inner, _) => format!("[{}]", type_expr(inner)),
    }
}

fn field_path(p: &FieldPath) -> String {
    let parts: Vec<String> = p.parts.iter().map(ident).collect();
    parts.join(".")
}

fn window(by: &[Ident], within: Option<u64>) -> String {
    let mut s = String::new();
    if !by.is_empty() {
        let names: Vec<String> = by.iter().map(ident).collect();
        let _ = write!(s, " by {}", names.join(", "));
    }
    if let Some(d) = within {
        let _ = write!(s, " within {}", duration(d));
    }
    s
}

/// A meta value on one line, as a string (a list inside a list breaks at column 12).
fn meta_value(v: &MetaValue, col: usize) -> String {
    match v {
        MetaValue::Str(s) => str_lit(s),
        MetaValue::Int(n, _) => n.to_string(),
        MetaValue::Bool(b, _) => b.to_string(),
        MetaValue::Word(w) => ident(w),
        MetaValue::List(items, _) => {
            let parts: Vec<String> = items.iter().map(|i| meta_value(i, 12)).collect();
            let flat = format!("[{}]", parts.join(", "));
            if col + flat.len() < WIDTH && !flat.contains('\n') {
                flat
            } else {
                let mut s = String::from("[\n");
                for p in parts {
                    let _ = writeln!(s, "            {p},");
                }
                s.push_str("        ]");
                s
            }
        }
    }
}

/// Binding strength, loosest first; an operand binding looser than its context is
/// parenthesised.
fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Or(_) => 1,
        ExprKind::And(_) => 2,
        ExprKind::Unary(UnOp::Not, _) => 3,
        ExprKind::Binary(op, _, _) => match op {
            BinOp::Add | BinOp::Sub => 5,
            BinOp::Mul | BinOp::Div | BinOp::Rem => 6,
            _ => 4,
        },
        ExprKind::StrAnyAll { .. } => 4,
        ExprKind::Unary(UnOp::Neg, _) => 7,
        _ => 8,
    }
}

/// The expression on one line.
fn flat(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Int(n) => n.to_string(),
        ExprKind::Str(s) => str_lit(s),
        ExprKind::List(items) => {
            let parts: Vec<String> = items.iter().map(flat).collect();
            format!("[{}]", parts.join(", "))
        }
        ExprKind::Name(i) => ident(i),
        ExprKind::Field(base, f) => format!("{}.{}", operand(base, 8), ident(f)),
        ExprKind::Call(f, args) => {
            let parts: Vec<String> = args.iter().map(flat).collect();
            format!("{}({})", ident(f), parts.join(", "))
        }
        ExprKind::Exists(x) => format!("exists({})", flat(x)),
        ExprKind::Unary(UnOp::Not, x) => format!("not {}", not_operand(x)),
        ExprKind::Unary(UnOp::Neg, x) => format!("-{}", operand(x, 8)),
        ExprKind::Binary(op, a, b) => {
            let p = prec(e);
            // Arithmetic is left-associative: the right operand needs parentheses at equal
            // strength; comparisons do not chain, so both sides need a stronger operand.
            let (lp, rp) = if p >= 5 { (p, p + 1) } else { (p + 1, p + 1) };
            format!("{} {} {}", operand(a, lp), op.as_str(), operand(b, rp))
        }
        ExprKind::StrAnyAll {
            op,
            quant,
            lhs,
            list,
        } => format!(
            "{} {} {} {}",
            operand(lhs, 5),
            op.as_str(),
            quant_word(*quant),
            flat(list)
        ),
        ExprKind::Quant {
            quant,
            binder,
            list,
            body,
        } => format!(
            "{}({} in {}, {})",
            quant_word(*quant),
            ident(binder),
            flat(list),
            flat(body)
        ),
        ExprKind::And(v) => join_flat(v, " and ", 3),
        // `and` inside `or` is parenthesised although precedence does not need it: readers
        // should not have to remember which binds tighter.
        ExprKind::Or(v) => join_flat(v, " or ", 3),
        // Error placeholders only come from recovery; print something that re-parses as an
        // error rather than silently changing meaning.
        ExprKind::Error => "(?)".to_owned(),
    }
}

fn join_flat(v: &[Expr], sep: &str, min: u8) -> String {
    let parts: Vec<String> = v.iter().map(|x| operand(x, min)).collect();
    parts.join(sep)
}

fn quant_word(q: Quantifier) -> &'static str {
    match q {
        Quantifier::Any => "any",
        Quantifier::All => "all",
    }
}

/// `e` on one line, parenthesised when it binds looser than `min`.
fn operand(e: &Expr, min: u8) -> String {
    if prec(e) < min {
        format!("({})", flat(e))
    } else {
        flat(e)
    }
}

fn not_operand(e: &Expr) -> String {
    if prec(e) >= 8 {
        flat(e)
    } else {
        format!("({})", flat(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_with_backslashes_print_raw() {
        assert_eq!(string(r"C:\Windows"), r#"r"C:\Windows""#);
        assert_eq!(string(r#"a\"b"#), r###"r#"a\"b"#"###);
        assert_eq!(string("say \"hi\""), r#""say \"hi\"""#);
        assert_eq!(string("a\\\nb"), r#""a\\\nb""#);
    }

    #[test]
    fn keywords_and_odd_names_print_in_backticks() {
        assert_eq!(name("count"), "`count`");
        assert_eq!(name("Threat Name"), "`Threat Name`");
        assert_eq!(name("image"), "image");
    }

    #[test]
    fn durations_use_the_largest_exact_unit() {
        assert_eq!(duration(30 * 1_000_000_000), "30s");
        assert_eq!(duration(90 * 1_000_000_000), "90s");
        assert_eq!(duration(3_600 * 1_000_000_000), "1h");
        assert_eq!(duration(500_000_000), "500ms");
    }

    #[test]
    fn formatting_round_trips_through_the_parser() {
        let src = "list xs = [\"a\", \"b\"]\n\nrule r {\n    meta {\n        title: \"t\",\n        severity: high,\n    }\n    on process_start\n    when image iendswith r\"\\x.exe\" and not (command_line icontains any [\"a\", \"b\"] or exists(user))\n}\n";
        let (file, errors) = vigil_grammar::parse(vigil_grammar::span::FileId(0), src);
        assert!(errors.is_empty(), "{errors:?}");
        let once = format_file(&file);
        let (again, errors) = vigil_grammar::parse(vigil_grammar::span::FileId(0), &once);
        assert!(errors.is_empty(), "{once}\n{errors:?}");
        assert_eq!(format_file(&again), once);
    }

    #[test]
    fn comments_stay_beside_their_code_and_formatting_is_idempotent() {
        let src = "// head\nrule r { on x // t\n when a // one\n // two\n or b }\n";
        let once = format_source(src).expect("parses");
        assert_eq!(
            once,
            "// head\nrule r {\n    on x // t\n    when a // one\n        // two\n        or b\n}\n"
        );
        assert_eq!(format_source(&once).expect("parses"), once);
        assert!(format_source("rule r { on }").is_err());
    }
}
