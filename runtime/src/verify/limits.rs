//! Count and size limits over the whole program (E0401, E0402, E0421–E0423, E0431), and the
//! validity of constants (E0420, E0422). Runs first: every later pass does work proportional to
//! the counts checked here.

use std::net::IpAddr;

use super::{Cx, VerifyError};
use crate::error::ErrorCode;
use crate::ir::{Const, ExprId, ExprKind, MetaValue, RuleId, RuleKind, TemplatePart};
use crate::types::Scalar;

/// Table counts, node counts and literal bytes.
pub(super) fn check(cx: &Cx<'_>, errors: &mut Vec<VerifyError>) {
    let p = cx.program;
    let l = &cx.budget.limits;
    let count = |what: &str, n: usize, max: u64, code: ErrorCode, errors: &mut Vec<VerifyError>| {
        if n as u64 > max {
            errors.push(Cx::global(
                code,
                format!("the program has {n} {what}, the limit is {max}"),
            ));
        }
    };
    count(
        "rules",
        p.rules.len(),
        u64::from(l.max_rules),
        ErrorCode::TooManyRules,
        errors,
    );
    count(
        "field requirements",
        p.fields.len(),
        u64::from(l.max_fields),
        ErrorCode::TooManyConstants,
        errors,
    );
    count(
        "builtins",
        p.builtins.len(),
        u64::from(l.max_builtins),
        ErrorCode::TooManyConstants,
        errors,
    );
    count(
        "strings",
        p.strings.len(),
        u64::from(l.max_strings),
        ErrorCode::TooManyConstants,
        errors,
    );
    count(
        "constant lists",
        p.lists.len(),
        u64::from(l.max_lists),
        ErrorCode::TooManyConstants,
        errors,
    );
    count(
        "regular expressions",
        p.regexes.len(),
        u64::from(l.max_regexes),
        ErrorCode::TooManyRegexes,
        errors,
    );

    let items: u64 = p
        .lists
        .iter()
        .map(|list| list.items.len() as u64)
        .fold(0, u64::saturating_add);
    if items > l.max_total_list_items {
        errors.push(Cx::global(
            ErrorCode::TooManyConstants,
            format!(
                "the program's constant lists hold {items} items, the limit is {}",
                l.max_total_list_items
            ),
        ));
    }

    // Nodes and operand edges: the size of the work of every per-node pass.
    let mut nodes: u64 = 0;
    for rule in &p.rules {
        nodes = nodes.saturating_add(rule.exprs.len() as u64);
        for expr in &rule.exprs {
            let mut edges = 0u64;
            expr.kind.for_each_operand(|_| edges += 1);
            nodes = nodes.saturating_add(edges);
        }
    }
    if nodes > l.max_nodes_total {
        errors.push(Cx::global(
            ErrorCode::TooManyNodes,
            format!(
                "the program has {nodes} expression nodes and operands, the limit is {}",
                l.max_nodes_total
            ),
        ));
    }

    let bytes = literal_bytes(cx);
    if bytes > l.max_literal_bytes {
        errors.push(Cx::global(
            ErrorCode::TooManyLiteralBytes,
            format!(
                "the program holds {bytes} bytes of literals, the limit is {}",
                l.max_literal_bytes
            ),
        ));
    }
}

/// Every byte of text the program carries: strings, list items, patterns, names, meta,
/// templates, field and builtin names.
fn literal_bytes(cx: &Cx<'_>) -> u64 {
    let p = cx.program;
    let mut total: u64 = 0;
    let mut add = |n: usize| total = total.saturating_add(n as u64);
    add(p.schema.name.len());
    p.strings.iter().for_each(|s| add(s.len()));
    p.regexes.iter().for_each(|s| add(s.len()));
    for list in &p.lists {
        for item in &list.items {
            if let Const::Str(s) = item {
                add(s.len());
            }
        }
    }
    for f in &p.fields {
        add(f.event.len());
        add(f.field.len());
    }
    p.builtins.iter().for_each(|b| add(b.name.len()));
    for rule in &p.rules {
        add(rule.id.len());
        add(rule.name.len());
        add(rule.title.len());
        for (key, value) in &rule.meta {
            add(key.len());
            match value {
                MetaValue::Str(s) => add(s.len()),
                MetaValue::List(items) => items.iter().for_each(|s| add(s.len())),
                MetaValue::Int(_) | MetaValue::Bool(_) => {}
            }
        }
        for part in &rule.emit {
            if let TemplatePart::Lit(s) = part {
                add(s.len());
            }
        }
        rule.fields.iter().for_each(|(name, _)| add(name.len()));
        match &rule.kind {
            RuleKind::Single { events, .. } => events.iter().for_each(|e| add(e.len())),
            RuleKind::Threshold(t) => t.events.iter().for_each(|e| add(e.len())),
            RuleKind::Sequence(s) | RuleKind::SequenceAnyOrder(s) => {
                s.steps.iter().for_each(|st| {
                    add(st.name.len());
                    add(st.event.len());
                })
            }
        }
    }
    total
}

/// A constant of the program's pools: what a fault is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Pool {
    Str(usize),
    Regex(usize),
    List(usize),
}

/// Each constant is a value of its type and within the size limits. A fault is reported at the
/// first node that uses the constant (so the compiler shows the literal in the source), or for
/// the whole program when no rule uses it.
pub(super) fn check_constants(cx: &Cx<'_>, errors: &mut Vec<VerifyError>) {
    let p = cx.program;
    let l = &cx.budget.limits;
    let max = l.max_const_bytes as usize;
    let mut faults: Vec<(Pool, ErrorCode, String)> = Vec::new();
    for (i, s) in p.strings.iter().enumerate() {
        if s.len() > max {
            faults.push((
                Pool::Str(i),
                ErrorCode::ConstantTooLarge,
                format!(
                    "string constant #{i} is {} bytes long, the limit is {max}",
                    s.len()
                ),
            ));
        }
    }
    for (i, s) in p.regexes.iter().enumerate() {
        if s.len() > max {
            faults.push((
                Pool::Regex(i),
                ErrorCode::ConstantTooLarge,
                format!("regex #{i} is {} bytes long, the limit is {max}", s.len()),
            ));
        }
    }
    for (i, list) in p.lists.iter().enumerate() {
        if list.items.len() > l.max_list_items as usize {
            faults.push((
                Pool::List(i),
                ErrorCode::ConstantTooLarge,
                format!(
                    "constant list #{i} has {} items, the limit is {}",
                    list.items.len(),
                    l.max_list_items
                ),
            ));
            continue;
        }
        for (j, item) in list.items.iter().enumerate() {
            let fault = match (list.elem, item) {
                (Scalar::Bool, Const::Bool(_)) | (Scalar::Int, Const::Int(_)) => None,
                (Scalar::Str, Const::Str(s)) => (s.len() > max).then(|| {
                    (
                        ErrorCode::ConstantTooLarge,
                        format!("is {} bytes long, the limit is {max}", s.len()),
                    )
                }),
                (Scalar::Ip, Const::Ip(_)) => None,
                // In a `[cidr]` list a plain address is a /32 or /128.
                (Scalar::Cidr, Const::Ip(_)) => None,
                (Scalar::Cidr, Const::Cidr(addr, prefix)) => {
                    let width = match addr {
                        IpAddr::V4(_) => 32,
                        IpAddr::V6(_) => 128,
                    };
                    (*prefix > width).then(|| {
                        (
                            ErrorCode::InvalidConstant,
                            format!("has prefix length {prefix}, past the address width {width}"),
                        )
                    })
                }
                (elem, _) => Some((
                    ErrorCode::InvalidConstant,
                    format!("is not a `{elem}` although the list's items are"),
                )),
            };
            if let Some((code, what)) = fault {
                faults.push((
                    Pool::List(i),
                    code,
                    format!("item {j} of constant list #{i} {what}"),
                ));
            }
            if faults.len() >= super::MAX_REPORTED_ERRORS {
                break;
            }
        }
        if faults.len() >= super::MAX_REPORTED_ERRORS {
            break;
        }
    }
    if faults.is_empty() {
        return;
    }
    // The first node using each faulty constant: one pass over the rules.
    let mut users: std::collections::HashMap<Pool, (RuleId, ExprId)> =
        std::collections::HashMap::new();
    let wanted: std::collections::HashSet<Pool> = faults.iter().map(|f| f.0).collect();
    for (r, rule) in p.rules.iter().enumerate() {
        let rid = RuleId(u32::try_from(r).unwrap_or(u32::MAX));
        for (e, expr) in rule.exprs.iter().enumerate() {
            let pool = match &expr.kind {
                ExprKind::Str(s) => Pool::Str(s.0 as usize),
                ExprKind::List(l) => Pool::List(l.0 as usize),
                ExprKind::StrList { list, .. } => Pool::List(list.0 as usize),
                ExprKind::Matches { regex, .. } => Pool::Regex(regex.0 as usize),
                _ => continue,
            };
            if wanted.contains(&pool) {
                users
                    .entry(pool)
                    .or_insert((rid, ExprId(u32::try_from(e).unwrap_or(u32::MAX))));
            }
        }
    }
    for (pool, code, message) in faults.into_iter().take(super::MAX_REPORTED_ERRORS) {
        errors.push(match users.get(&pool) {
            Some(&(rule, expr)) => cx.err(code, rule, Some(expr), message),
            None => Cx::global(code, message),
        });
    }
}
