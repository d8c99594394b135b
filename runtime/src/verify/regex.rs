//! Regex checks (E0418, E0419): every pattern compiles to a [`Matcher`] (a DFA within its
//! size limit, else a PikeVM over an NFA within [`super::REGEX_SIZE_LIMIT`]: linear in the
//! input, never backtracking; see [`crate::matcher`]). The compiled regexes are kept in
//! [`super::Verified`] for the engines, and the cost pass charges each its engine's worst case.

use crate::matcher::Matcher;

use super::{Cx, VerifyError, REGEX_SIZE_LIMIT};
use crate::error::ErrorCode;
use crate::ir::{ExprId, ExprKind, RuleId};

/// Compiles every pattern of the program, in [`crate::ir::RegexId`] order.
pub(super) fn compile_all(cx: &Cx<'_>, errors: &mut Vec<VerifyError>) -> Vec<Matcher> {
    let p = cx.program;
    let mut out = Vec::with_capacity(p.regexes.len());
    let mut failed = Vec::new();
    // The program's patterns share one DFA allowance, so that compiling thousands of
    // patterns is bounded in time and memory however hostile they are.
    let mut dfa_left = crate::matcher::PROGRAM_DFA_BYTES;
    for (i, pattern) in p.regexes.iter().enumerate() {
        match Matcher::with_dfa_limit(pattern, dfa_left) {
            Ok(re) => {
                dfa_left = dfa_left.saturating_sub(re.dfa_bytes());
                out.push(re);
            }
            Err(e) => {
                let (code, why) = if e.size_limit().is_some() {
                    (
                        ErrorCode::VerifyRegexTooLarge,
                        format!("compiles to more than {REGEX_SIZE_LIMIT} bytes"),
                    )
                } else {
                    (
                        ErrorCode::VerifyInvalidRegex,
                        format!("does not compile: {e}"),
                    )
                };
                failed.push((i, code, why));
            }
        }
    }
    if failed.is_empty() {
        return out;
    }
    // Name the first rule and node using each failed pattern (one pass over the rules).
    let mut users: Vec<Option<(RuleId, ExprId)>> = vec![None; p.regexes.len()];
    for (r, rule) in p.rules.iter().enumerate() {
        for (e, expr) in rule.exprs.iter().enumerate() {
            if let ExprKind::Matches { regex, .. } = expr.kind {
                if let Some(slot @ None) = users.get_mut(regex.0 as usize) {
                    *slot = Some((
                        RuleId(u32::try_from(r).unwrap_or(u32::MAX)),
                        ExprId(u32::try_from(e).unwrap_or(u32::MAX)),
                    ));
                }
            }
        }
    }
    for (i, code, why) in failed {
        let shown: String = p.regexes.get(i).map_or(String::new(), |s| {
            let mut cut: String = s.chars().take(60).collect();
            if cut.len() < s.len() {
                cut.push('…');
            }
            cut
        });
        let message = format!("regex #{i} `{shown}` {why}");
        errors.push(match users.get(i).copied().flatten() {
            Some((rule, expr)) => cx.err(code, rule, Some(expr), message),
            None => Cx::global(code, message),
        });
    }
    Vec::new()
}
