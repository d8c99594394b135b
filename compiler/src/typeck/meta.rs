//! Rule meta blocks: known keys typed (`id`, `title`, `severity`, `capacity`, `capture_len`, `entries`,
//! `shadow`), every other key kept as a string, int, bool, word or list of strings, and rule
//! ids unique across everything compiled together (E0206, both places shown).

use std::collections::HashMap;

use vigil_grammar::span::Span;
use vigil_runtime::ir::{MetaValue, Severity};

use super::Checker;
use crate::diag::{did_you_mean, Diagnostic, ErrorCode};
use crate::hir::{MetaLit, RuleMeta};

const SEVERITIES: [&str; 5] = ["informational", "low", "medium", "high", "critical"];

fn describe(v: &MetaLit) -> &'static str {
    match v {
        MetaLit::Str(..) => "a string",
        MetaLit::Int(..) => "an integer",
        MetaLit::Bool(..) => "a bool",
        MetaLit::Word(..) => "a bare word",
        MetaLit::List(..) => "a list",
    }
}

fn invalid(c: &mut Checker<'_>, span: Span, message: String, label: &str, help: Option<String>) {
    let d = Diagnostic::error(ErrorCode::InvalidMetaValue, span, message, label.to_owned())
        .with_help_opt(help);
    c.push(d);
}

/// [`invalid`] with a did-you-mean fix: `replacement` written over the value at `span`.
fn invalid_with_fix(
    c: &mut Checker<'_>,
    span: Span,
    message: String,
    label: &str,
    help: Option<String>,
    replacement: Option<String>,
) {
    let mut d = Diagnostic::error(ErrorCode::InvalidMetaValue, span, message, label.to_owned())
        .with_help_opt(help);
    if let Some(r) = replacement {
        d = d.with_fix(span, r);
    }
    c.push(d);
}

fn string(c: &mut Checker<'_>, key: &str, v: &MetaLit) -> Option<String> {
    match v {
        MetaLit::Str(s, _) => Some(s.clone()),
        other => {
            invalid(
                c,
                other.span(),
                format!("meta `{key}` must be a string, not {}", describe(other)),
                "expected a string",
                Some(format!("write `{key}: \"...\"`")),
            );
            None
        }
    }
}

fn positive(c: &mut Checker<'_>, key: &str, v: &MetaLit) -> Option<u32> {
    match v {
        MetaLit::Int(n, span) => match u32::try_from(*n) {
            Ok(n) if n > 0 => Some(n),
            _ => {
                invalid(
                    c,
                    *span,
                    format!("meta `{key}` must be between 1 and {}", u32::MAX),
                    "out of range",
                    None,
                );
                None
            }
        },
        other => {
            invalid(
                c,
                other.span(),
                format!(
                    "meta `{key}` must be a positive integer, not {}",
                    describe(other)
                ),
                "expected an integer",
                None,
            );
            None
        }
    }
}

fn other_value(c: &mut Checker<'_>, key: &str, v: &MetaLit) -> Option<MetaValue> {
    Some(match v {
        MetaLit::Str(s, _) | MetaLit::Word(s, _) => MetaValue::Str(s.clone()),
        MetaLit::Bool(b, _) => MetaValue::Bool(*b),
        MetaLit::Int(n, span) => match i64::try_from(*n) {
            Ok(n) => MetaValue::Int(n),
            Err(_) => {
                let d = Diagnostic::error(
                    ErrorCode::IntOutOfRange,
                    *span,
                    format!("meta `{key}` is out of the 64-bit signed range"),
                    "does not fit in an int",
                );
                c.push(d);
                return None;
            }
        },
        MetaLit::List(items, _) => {
            let mut out = Vec::new();
            for item in items {
                match item {
                    MetaLit::Str(s, _) => out.push(s.clone()),
                    other => {
                        invalid(
                            c,
                            other.span(),
                            format!(
                                "items of meta `{key}` must be strings, not {}",
                                describe(other)
                            ),
                            "expected a string",
                            Some("quote it".to_owned()),
                        );
                        return None;
                    }
                }
            }
            MetaValue::List(out)
        }
    })
}

/// Types every rule's meta and checks ids are unique.
pub(crate) fn check(c: &mut Checker<'_>) {
    let mut ids: HashMap<String, (usize, Option<Span>)> = HashMap::new();
    for ri in 0..c.module.rules.len() {
        let rule = &c.module.rules[ri];
        let entries = rule.meta_entries.clone();
        let name = rule.name.clone();
        let mut meta = RuleMeta {
            id: name.clone(),
            title: name.clone(),
            ..rule.meta.clone()
        };
        let mut id_span = None;
        for e in &entries {
            let key = e.key.as_str();
            match key {
                "id" => {
                    if let Some(s) = string(c, key, &e.value) {
                        meta.id = s;
                        id_span = Some(e.value.span());
                    }
                }
                "title" => {
                    if let Some(s) = string(c, key, &e.value) {
                        meta.title = s;
                    }
                }
                "severity" => {
                    let word = match &e.value {
                        MetaLit::Word(w, _) | MetaLit::Str(w, _) => Some(w.as_str()),
                        _ => None,
                    };
                    match word.and_then(Severity::parse) {
                        Some(s) => meta.severity = s,
                        None => {
                            let best = word
                                .and_then(|w| did_you_mean(&w.to_ascii_lowercase(), SEVERITIES))
                                .or_else(|| {
                                    word.filter(|w| {
                                        SEVERITIES.contains(&w.to_ascii_lowercase().as_str())
                                    })
                                    .map(str::to_ascii_lowercase)
                                });
                            let help = best.as_ref().map(|s| format!("did you mean `{s}`?"));
                            invalid_with_fix(
                                c,
                                e.value.span(),
                                "meta `severity` must be one of `informational`, `low`, `medium`, `high`, `critical`".to_owned(),
                                "not a severity",
                                help,
                                best,
                            );
                        }
                    }
                }
                "capacity" => {
                    if let Some(n) = positive(c, key, &e.value) {
                        meta.capacity = n;
                    }
                }
                "capture_len" => {
                    if let Some(n) = positive(c, key, &e.value) {
                        meta.capture_len = n;
                    }
                }
                "entries" => {
                    if let Some(n) = positive(c, key, &e.value) {
                        meta.entries = n;
                    }
                }
                "shadow" => match &e.value {
                    MetaLit::Bool(b, _) => meta.shadow = *b,
                    other => invalid(
                        c,
                        other.span(),
                        format!(
                            "meta `shadow` must be `true` or `false`, not {}",
                            describe(other)
                        ),
                        "expected a bool",
                        None,
                    ),
                },
                _ => {
                    if let Some(v) = other_value(c, key, &e.value) {
                        meta.other.push((key.to_owned(), v));
                    }
                }
            }
        }
        let name_span = c.module.rules[ri].span;
        match ids.get(&meta.id) {
            Some(&(first, first_span)) => {
                let first_rule = &c.module.rules[first];
                // Two rules of one name are already reported (E0201).
                if !(first_rule.name == name && id_span.is_none() && first_span.is_none()) {
                    let d = Diagnostic::error(
                        ErrorCode::DuplicateRuleId,
                        id_span.unwrap_or(name_span),
                        format!(
                            "rule id `{}` is used by rules `{}` and `{name}`",
                            meta.id, first_rule.name
                        ),
                        "used again here",
                    )
                    .with_label(first_span.unwrap_or(first_rule.span), "first used here")
                    .with_help("give each rule its own `id`")
                    .with_note("a rule without `id` has its name as id");
                    c.push(d);
                }
            }
            None => {
                ids.insert(meta.id.clone(), (ri, id_span));
            }
        }
        c.module.rules[ri].meta = meta;
    }
}
