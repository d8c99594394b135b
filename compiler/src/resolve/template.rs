//! `emit` templates and `fields [...]` lists: the fields they name, bound to the schema.
//!
//! A template is literal text with `{field}` (single and threshold rules) or `{step.field}`
//! (sequences) holes; `{{` and `}}` write literal braces. A bad hole is reported with a span
//! inside the string (when the literal has no escapes, so offsets map to the source).

use vigil_grammar::ast;
use vigil_grammar::span::Span;

use super::expr::{EventScope, FieldLookup, StepScope};
use super::{suggest_fix, FixAt, Resolver};
use crate::diag::{Diagnostic, ErrorCode};
use crate::hir::{ExprId, ExprKind, FieldBase, TemplatePart};

/// What template names refer to.
#[derive(Clone, Debug)]
pub(crate) enum Ctx {
    /// A single or threshold rule: the event's fields.
    Single(EventScope),
    /// A sequence: `step.field`.
    Sequence(Vec<StepScope>),
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

impl Resolver<'_> {
    fn malformed(&mut self, span: Span, message: &str, label: &str, help: &str) {
        let d = Diagnostic::error(
            ErrorCode::MalformedTemplate,
            span,
            message.to_owned(),
            label.to_owned(),
        )
        .with_help(help.to_owned());
        self.sink.push(d);
    }

    /// Parses and binds an `emit` template.
    pub(crate) fn template(&mut self, lit: &ast::StrLit, ctx: &Ctx) -> Vec<TemplatePart> {
        let text = lit.value.as_str();
        let bytes = text.as_bytes();
        let mut parts: Vec<TemplatePart> = Vec::new();
        let mut buf = String::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'{' if bytes.get(i + 1) == Some(&b'{') => {
                    buf.push('{');
                    i += 2;
                }
                b'}' if bytes.get(i + 1) == Some(&b'}') => {
                    buf.push('}');
                    i += 2;
                }
                b'}' => {
                    self.malformed(
                        lit.span_of(i, i + 1),
                        "unmatched `}` in emit template",
                        "no `{` before it",
                        "write `}}` for a literal `}`",
                    );
                    i += 1;
                }
                b'{' => {
                    let Some(close) = text[i + 1..].find('}').map(|c| c + i + 1) else {
                        self.malformed(
                            lit.span_of(i, text.len()),
                            "unclosed `{` in emit template",
                            "no `}` after it",
                            "close the field with `}`, or write `{{` for a literal `{`",
                        );
                        break;
                    };
                    let inner = &text[i + 1..close];
                    let span = lit.span_of(i, close + 1);
                    let valid = !inner.is_empty()
                        && inner.split('.').count() <= 2
                        && inner.split('.').all(is_ident);
                    if !valid {
                        self.malformed(
                            span,
                            &format!("`{{{inner}}}` is not a field in an emit template"),
                            "expected `{field}` or `{step.field}`",
                            "write a field name between the braces, or `{{` for a literal `{`",
                        );
                    } else if let Some(id) =
                        self.template_field(inner, span, ctx, ErrorCode::UnknownTemplateField)
                    {
                        if !buf.is_empty() {
                            parts.push(TemplatePart::Lit(std::mem::take(&mut buf)));
                        }
                        parts.push(TemplatePart::Field(id));
                    }
                    i = close + 1;
                }
                _ => {
                    // Copy one whole character.
                    let ch_len = text[i..].chars().next().map_or(1, char::len_utf8);
                    buf.push_str(&text[i..i + ch_len]);
                    i += ch_len;
                }
            }
        }
        if !buf.is_empty() {
            parts.push(TemplatePart::Lit(buf));
        }
        parts
    }

    /// `fields [a, step.b]`.
    pub(crate) fn output_fields(
        &mut self,
        paths: &[ast::FieldPath],
        ctx: &Ctx,
    ) -> Vec<(String, ExprId)> {
        let mut out = Vec::new();
        for p in paths {
            let name = p
                .parts
                .iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>()
                .join(".");
            if let Some(id) = self.template_field(&name, p.span, ctx, ErrorCode::UnknownOutputField)
            {
                out.push((name, id));
            }
        }
        out
    }

    /// Binds `field` or `step.field` and allocates its field node.
    fn template_field(
        &mut self,
        path: &str,
        span: Span,
        ctx: &Ctx,
        code: ErrorCode,
    ) -> Option<ExprId> {
        let (step, field) = match path.split_once('.') {
            Some((s, f)) => (Some(s), f),
            None => (None, path),
        };
        // Where the step's and the field's names are, for fixes: the span holds the path as
        // written in `fields [..]`, or in braces in a template; not known when escapes in the
        // template make its bytes differ from the text.
        let len32 = |s: &str| u32::try_from(s.len()).unwrap_or(u32::MAX);
        let base = match span.len().checked_sub(len32(path)) {
            Some(0) if code == ErrorCode::UnknownOutputField => Some(0),
            Some(2) if code == ErrorCode::UnknownTemplateField => Some(1),
            _ => None,
        };
        let step_at = step.zip(base).map(|(s, b)| span.sub(b, len32(s)));
        let field_at = base.map(|b| span.sub(b + len32(path) - len32(field), len32(field)));
        match (ctx, step) {
            (Ctx::Single(EventScope::Types(types)), None) => {
                match self.common_field(types, field) {
                    FieldLookup::Found(info) => Some(self.push_expr(
                        ExprKind::Field {
                            base: FieldBase::Event,
                            field: info,
                        },
                        span,
                    )),
                    FieldLookup::NotCommon(note) => {
                        let ident = ast::Ident {
                            name: field.to_owned(),
                            span,
                            quoted: false,
                        };
                        let types = types.clone();
                        self.not_common(&ident, &types, note);
                        None
                    }
                    FieldLookup::Missing => {
                        let types = types.clone();
                        self.unknown_field(
                            span,
                            field,
                            &types,
                            code,
                            Vec::new(),
                            FixAt::Raw(field_at),
                        );
                        None
                    }
                }
            }
            (Ctx::Single(_), None) => None,
            (Ctx::Single(_), Some(s)) => {
                let d = Diagnostic::error(
                    code,
                    span,
                    format!("`{path}` names a step, but this rule is not a sequence"),
                    "no steps here",
                )
                .with_help(format!("write `{field}`"));
                let _ = s;
                self.sink.push(d);
                None
            }
            (Ctx::Sequence(steps), None) => {
                let having: Vec<String> = steps
                    .iter()
                    .filter(|s| {
                        s.event
                            .and_then(|e| self.schema.event_by_id(e))
                            .is_some_and(|t| t.field(field).is_some())
                    })
                    .map(|s| format!("`{}.{field}`", s.name))
                    .collect();
                let mut d = Diagnostic::error(
                    code,
                    span,
                    format!("`{field}` does not say which step it is read from"),
                    "needs a step name",
                )
                .with_note("in a sequence, fields are named `step.field`");
                if !having.is_empty() {
                    d = d.with_help(format!("write {}", having.join(" or ")));
                }
                self.sink.push(d);
                None
            }
            (Ctx::Sequence(steps), Some(s)) => {
                let Some(index) = steps.iter().position(|st| st.name == s) else {
                    let d = Diagnostic::error(
                        code,
                        span,
                        format!("unknown step `{s}`"),
                        "no such step",
                    );
                    let names = steps.iter().map(|st| st.name.as_str());
                    let d = suggest_fix(d, s, names, FixAt::Raw(step_at));
                    self.sink.push(d);
                    return None;
                };
                let event = steps[index].event?;
                match self.common_field(&[event], field) {
                    FieldLookup::Found(info) => {
                        let base = if index + 1 == steps.len() {
                            FieldBase::Event
                        } else {
                            FieldBase::Step(u32::try_from(index).unwrap_or(0))
                        };
                        Some(self.push_expr(ExprKind::Field { base, field: info }, span))
                    }
                    _ => {
                        self.unknown_field(
                            span,
                            field,
                            &[event],
                            code,
                            Vec::new(),
                            FixAt::Raw(field_at),
                        );
                        None
                    }
                }
            }
        }
    }
}
