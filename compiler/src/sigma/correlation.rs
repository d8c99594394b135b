//! Sigma correlation rules to thresholds and sequences: `event_count` →
//! `threshold count >= N`, `value_count` → `threshold distinct(F) >= N`, `value_sum` →
//! `threshold sum(F) >= N`, `value_avg` → `threshold avg(F) >= N` (F an int field),
//! `temporal_ordered` → `sequence by ... within ...`, `temporal` (all rules, in any order) →
//! `sequence any order by ... within ...`.
//!
//! Input: a correlation and the converted rules it may refer to (by `name` or `id`); output:
//! the trigger, condition and threshold of one Vigil rule, or a [`Refusal`].

use std::collections::HashMap;

use vigil_grammar::ast::{DurationLit, Sequence, Step, Threshold, ThresholdKind, Trigger};
use vigil_grammar::span::Span;
use vigil_runtime::types::Ty;
use yaml_rust2::Yaml;

use super::build as b;
use super::error::{ErrorCode, Refusal, Result};
use super::rule::Correlation;
use super::{Converted, DeclParts};

fn refuse(msg: impl Into<String>) -> Refusal {
    Refusal::new(ErrorCode::UnsupportedCorrelation, msg)
}

/// A Sigma timespan (`30s`, `5m`, `1h`, `1d`, `1w`) in nanoseconds.
fn timespan(t: &str) -> Option<u64> {
    let t = t.trim();
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().ok()?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(secs)?.checked_mul(1_000_000_000)
}

pub(crate) fn convert(c: &Correlation, by_ref: &HashMap<String, Converted>) -> Result<DeclParts> {
    if c.has_aliases {
        return Err(refuse(
            "correlation `aliases` (field names differing per rule)",
        ));
    }
    if c.rules.is_empty() {
        return Err(Refusal::new(
            ErrorCode::InvalidRule,
            "the correlation names no rules",
        ));
    }
    let mut rules = Vec::with_capacity(c.rules.len());
    for r in &c.rules {
        rules.push((
            r,
            by_ref.get(r).ok_or_else(|| {
                refuse(format!(
                    "the correlation refers to `{r}`, which is not a converted rule of this import"
                ))
            })?,
        ));
    }
    let span_text = c
        .timespan
        .as_deref()
        .ok_or_else(|| Refusal::new(ErrorCode::InvalidRule, "the correlation has no `timespan`"))?;
    let nanos = timespan(span_text).ok_or_else(|| {
        Refusal::new(
            ErrorCode::InvalidRule,
            format!("cannot read the timespan `{span_text}`"),
        )
    })?;
    let within = Some(DurationLit {
        nanos,
        span: Span::default(),
    });
    // Group-by fields, mapped the same way in every rule.
    let mut by = Vec::with_capacity(c.group_by.len());
    for g in &c.group_by {
        let mut name: Option<String> = None;
        for (_, conv) in &rules {
            let f = conv.source.fields.get(g).ok_or_else(|| {
                Refusal::new(
                    ErrorCode::UnmappedField,
                    format!("unmapped field `{g}` for logsource `{}`", conv.label),
                )
            })?;
            if name.as_ref().is_some_and(|n| n != &f.name) {
                return Err(refuse(format!(
                    "`{g}` maps to different fields in the rules"
                )));
            }
            name = Some(f.name.clone());
        }
        by.push(b::ident(&name.unwrap_or_default()));
    }
    let cond: HashMap<&str, &Yaml> = c.condition.iter().map(|(k, v)| (k.as_str(), v)).collect();
    match c.kind.as_str() {
        "event_count" | "value_count" | "value_sum" | "value_avg" => {
            let events = &rules[0].1.events;
            if rules.iter().any(|(_, r)| &r.events != events) {
                return Err(refuse("the correlated rules read different event types"));
            }
            let count = if c.kind == "value_avg" {
                avg_at_least(&cond)?
            } else {
                at_least(&cond)?
            };
            let kind = if c.kind == "event_count" {
                ThresholdKind::Count(Span::default())
            } else {
                let Some(f) = cond.get("field").and_then(|y| y.as_str()) else {
                    return Err(Refusal::new(
                        ErrorCode::InvalidRule,
                        format!("`{}` without `condition.field`", c.kind),
                    ));
                };
                let mapped = rules[0].1.source.fields.get(f).ok_or_else(|| {
                    Refusal::new(
                        ErrorCode::UnmappedField,
                        format!("unmapped field `{f}` for logsource `{}`", rules[0].1.label),
                    )
                })?;
                let field = b::ident(&mapped.name);
                match c.kind.as_str() {
                    "value_count" => ThresholdKind::Distinct(field, Span::default()),
                    _ if mapped.ty != Ty::INT => {
                        return Err(Refusal::new(
                            ErrorCode::SigmaTypeMismatch,
                            format!(
                                "`{}` of `{f}`, which maps to `{}`, of type `{}`; sums and averages take an int field",
                                c.kind, mapped.name, mapped.ty
                            ),
                        ));
                    }
                    "value_sum" => ThresholdKind::Sum(field, Span::default()),
                    _ => ThresholdKind::Avg(field, Span::default()),
                }
            };
            let when = b::or(rules.iter().map(|(_, r)| r.when.clone()).collect());
            Ok(DeclParts {
                trigger: Trigger::On(
                    events.iter().map(|e| b::ident(e)).collect(),
                    Span::default(),
                ),
                when: Some(when),
                threshold: Some(Threshold {
                    kind,
                    count,
                    count_span: Span::default(),
                    within,
                    by,
                    span: Span::default(),
                }),
            })
        }
        "temporal_ordered" | "temporal" => {
            if let Some(n) = cond.get("gte").and_then(|y| y.as_i64()) {
                if usize::try_from(n).ok() != Some(rules.len()) {
                    return Err(refuse(format!(
                        "`{}` with a condition other than all of its rules",
                        c.kind
                    )));
                }
            }
            let mut steps = Vec::with_capacity(rules.len());
            let mut used: Vec<String> = Vec::new();
            for (i, (r, conv)) in rules.iter().enumerate() {
                let [event] = conv.events.as_slice() else {
                    return Err(refuse(format!(
                        "`{r}` reads several event types; a sequence step reads one"
                    )));
                };
                let mut name = super::snake(r);
                if name.len() > 40 || used.contains(&name) {
                    name = format!("step{}", i + 1);
                }
                used.push(name.clone());
                steps.push(Step {
                    name: b::ident(&name),
                    event: b::ident(event),
                    when: Some(conv.when.clone()),
                    span: Span::default(),
                });
            }
            Ok(DeclParts {
                trigger: Trigger::Sequence(Sequence {
                    by,
                    within,
                    steps,
                    any_order: c.kind == "temporal",
                    span: Span::default(),
                }),
                when: None,
                threshold: None,
            })
        }
        other => Err(refuse(format!("unknown correlation type `{other}`"))),
    }
}

/// The N of "at least N" from `gte: N` or `gt: N - 1`; other comparisons are refused.
fn at_least(cond: &HashMap<&str, &Yaml>) -> Result<u64> {
    let num = |k: &str| {
        cond.get(k)
            .and_then(|y| y.as_i64())
            .and_then(|n| u64::try_from(n).ok())
    };
    if let Some(n) = num("gte") {
        return Ok(n.max(1));
    }
    if let Some(n) = num("gt") {
        return Ok(n.saturating_add(1));
    }
    Err(refuse(
        "a correlation condition other than `gte`/`gt` (Vigil thresholds fire at \"at least N\")",
    ))
}

/// The N of "average at least N" from `gte: N`; `gt: N` is not `gte: N + 1` for an average
/// (a mean of ints need not be an int), so it and the other comparisons are refused.
fn avg_at_least(cond: &HashMap<&str, &Yaml>) -> Result<u64> {
    match cond.get("gte").and_then(|y| y.as_i64()) {
        Some(n) => u64::try_from(n).map_err(|_| {
            refuse("a `value_avg` condition below zero (Vigil thresholds are unsigned)")
        }),
        None => Err(refuse(
            "a `value_avg` condition other than `gte` (Vigil's `avg(F) >= N` is exact; \
             `gt` of a mean has no unsigned-integer equivalent)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans() {
        assert_eq!(timespan("5m"), Some(300_000_000_000));
        assert_eq!(timespan("1h"), Some(3_600_000_000_000));
        assert_eq!(timespan("10x"), None);
    }
}
