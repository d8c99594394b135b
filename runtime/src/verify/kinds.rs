//! Rule shapes: unique rule ids (E0428), event types (E0429), sequences (E0414 steps, E0416
//! captures), thresholds (E0430), keys (E0417), windows (E0415), state declarations (E0413),
//! and the event type of every key and capture field (E0411). Expressions are checked by
//! [`super::structure`].

use std::collections::HashSet;

use super::{Cx, VerifyError};
use crate::error::ErrorCode;
use crate::ir::{Counting, FieldRef, Rule, RuleId, RuleKind, StateDecl};
use crate::types::Ty;

/// Fewest steps of a sequence.
pub(crate) const MIN_STEPS: usize = 2;
/// Most steps of a sequence.
pub(crate) const MAX_STEPS: usize = 8;

/// Program-wide: rule ids are unique.
pub(super) fn check_program(cx: &Cx<'_>, errors: &mut Vec<VerifyError>) {
    let mut seen = HashSet::new();
    for (i, rule) in cx.program.rules.iter().enumerate() {
        if !seen.insert(rule.id.as_str()) {
            let id = RuleId(u32::try_from(i).unwrap_or(u32::MAX));
            errors.push(cx.err(
                ErrorCode::VerifyDuplicateRuleId,
                id,
                None,
                format!("rule id `{}` is used by an earlier rule too", rule.id),
            ));
        }
    }
}

/// The shape of one rule.
pub(super) fn check_rule(cx: &Cx<'_>, id: RuleId, rule: &Rule, errors: &mut Vec<VerifyError>) {
    let limits = &cx.budget.limits;
    let mut err = |code: ErrorCode, message: String| errors.push(cx.err(code, id, None, message));
    match &rule.kind {
        RuleKind::Single { events, .. } => {
            if events.is_empty() {
                err(ErrorCode::NoEvents, "runs on no event type".to_string());
            }
        }
        RuleKind::Sequence(seq) | RuleKind::SequenceAnyOrder(seq) => {
            let n = seq.steps.len();
            if !(MIN_STEPS..=MAX_STEPS).contains(&n) {
                err(
                    ErrorCode::SequenceSteps,
                    format!("the sequence has {n} step(s), it needs {MIN_STEPS} to {MAX_STEPS}"),
                );
            }
            window(seq.within_ns, limits.max_window_ns, &mut err);
            state(&seq.state, limits.max_capture_len, &mut err);
            if matches!(rule.kind, RuleKind::SequenceAnyOrder(_)) && !seq.captures.is_empty() {
                err(
                    ErrorCode::BadCapture,
                    format!(
                        "a sequence in any order has no captures, this one has {}",
                        seq.captures.len()
                    ),
                );
            }
            for (c, cap) in seq.captures.iter().enumerate() {
                let step = usize::from(cap.step);
                let Some(step_def) = seq.steps.get(step) else {
                    err(
                        ErrorCode::BadCapture,
                        format!("capture {c} is of step {step}, the sequence has {n} step(s)"),
                    );
                    continue;
                };
                match cx.program.fields.get(cap.field.0 as usize) {
                    None => err(
                        ErrorCode::FieldOutOfRange,
                        format!(
                            "capture {c} reads field #{}, which is out of range",
                            cap.field.0
                        ),
                    ),
                    Some(req) if req.event != step_def.event => err(
                        ErrorCode::BadCapture,
                        format!(
                            "capture {c} reads `{}.{}` from step `{}`, which matches `{}`",
                            req.event, req.field, step_def.name, step_def.event
                        ),
                    ),
                    Some(_) => {}
                }
            }
            let keys: Vec<(&str, &[FieldRef])> = seq
                .steps
                .iter()
                .map(|s| (s.event.as_str(), s.key.as_slice()))
                .collect();
            self::keys(cx, &keys, &mut err);
        }
        RuleKind::Threshold(t) => {
            if t.events.is_empty() {
                err(ErrorCode::NoEvents, "runs on no event type".to_string());
            }
            if t.count == 0 {
                err(
                    ErrorCode::BadThreshold,
                    "the threshold count is 0".to_string(),
                );
            }
            window(t.within_ns, limits.max_window_ns, &mut err);
            state(&t.state, limits.max_capture_len, &mut err);
            if t.key.len() == t.events.len() {
                let keys: Vec<(&str, &[FieldRef])> = t
                    .events
                    .iter()
                    .zip(&t.key)
                    .map(|(e, k)| (e.as_str(), k.as_slice()))
                    .collect();
                self::keys(cx, &keys, &mut err);
            } else {
                err(
                    ErrorCode::BadThreshold,
                    format!(
                        "the threshold has {} key list(s) for {} event type(s)",
                        t.key.len(),
                        t.events.len()
                    ),
                );
            }
            if let Some(f) = t.counting.field() {
                let what = match t.counting {
                    Counting::Sum(_) => "sums",
                    Counting::Avg(_) => "averages",
                    _ => "counts distinct values of",
                };
                match cx.program.fields.get(f.0 as usize) {
                    None => err(
                        ErrorCode::FieldOutOfRange,
                        format!("{what} field #{}, which is out of range", f.0),
                    ),
                    Some(req) if !t.events.contains(&req.event) => err(
                        ErrorCode::FieldOfOtherEvent,
                        format!(
                            "{what} `{}.{}`, but runs on {}",
                            req.event,
                            req.field,
                            t.events.join(", ")
                        ),
                    ),
                    Some(req) if req.ty.is_list() => err(
                        ErrorCode::IllTyped,
                        format!("{what} `{}.{}`, a list", req.event, req.field),
                    ),
                    Some(req) if t.counting.is_amount() && req.ty != Ty::INT => err(
                        ErrorCode::IllTyped,
                        format!("{what} `{}.{}`, which is not an int", req.event, req.field),
                    ),
                    Some(_) => {}
                }
            }
        }
    }
}

fn window(within_ns: u64, max: u64, err: &mut impl FnMut(ErrorCode, String)) {
    if within_ns == 0 || within_ns > max {
        err(
            ErrorCode::BadWindow,
            format!("the window is {within_ns} ns, it must be 1 to {max} ns"),
        );
    }
}

fn state(decl: &StateDecl, max_capture_len: u32, err: &mut impl FnMut(ErrorCode, String)) {
    if decl.capacity == 0 || decl.per_key == 0 {
        err(
            ErrorCode::BadStateDecl,
            format!(
                "the state keeps {} key(s) and {} entr(ies) per key, both must be at least 1",
                decl.capacity, decl.per_key
            ),
        );
    }
    if decl.capture_len > max_capture_len {
        err(
            ErrorCode::BadStateDecl,
            format!(
                "captures keep {} bytes, the limit is {max_capture_len}",
                decl.capture_len
            ),
        );
    }
}

/// Each key list's fields are of its event type and scalar; all lists have one length and
/// one type per position.
fn keys(cx: &Cx<'_>, keys: &[(&str, &[FieldRef])], err: &mut impl FnMut(ErrorCode, String)) {
    let mut first: Option<Vec<Ty>> = None;
    for (event, key) in keys {
        let mut types = Vec::with_capacity(key.len());
        for f in key.iter() {
            match cx.program.fields.get(f.0 as usize) {
                None => {
                    err(
                        ErrorCode::FieldOutOfRange,
                        format!("key field #{} is out of range", f.0),
                    );
                    return;
                }
                Some(req) if req.event != *event => {
                    err(
                        ErrorCode::FieldOfOtherEvent,
                        format!("the key for `{event}` reads `{}.{}`", req.event, req.field),
                    );
                    return;
                }
                Some(req) if req.ty.is_list() => {
                    err(
                        ErrorCode::KeyMismatch,
                        format!("key field `{}.{}` is a list", req.event, req.field),
                    );
                    return;
                }
                Some(req) => types.push(req.ty),
            }
        }
        match &first {
            None => first = Some(types),
            Some(expected) if *expected != types => {
                let show = |t: &[Ty]| {
                    t.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                err(
                    ErrorCode::KeyMismatch,
                    format!(
                        "the key for `{event}` is ({}), an earlier one is ({})",
                        show(&types),
                        show(expected)
                    ),
                );
                return;
            }
            Some(_) => {}
        }
    }
}
