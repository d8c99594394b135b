//! The call graph of fns: recursion (E0203, the cycle shown), the inlining size budget (E0208,
//! computed by memoised sizes in topological order, never by expanding), which lists and fns
//! user code reaches, and unused-name warnings (W0202–W0204).
//!
//! A fn's inlined size is the number of nodes of its body once every call in it is inlined:
//! a call `g(a1..an)` costs `size(g) - Σ uses_j + Σ uses_j × size(a_j)`, where `uses_j` is how
//! often `g`'s parameter `j` occurs in `g`'s own inlined body. All arithmetic saturates, so a
//! chain of fns that each call the next twice is rejected in linear time.

use std::collections::VecDeque;

use vigil_grammar::span::Span;

use super::{Item, Owner, Resolver, MAX_INLINED_NODES};
use crate::diag::{Diagnostic, ErrorCode};
use crate::hir::{ExprId, ExprKind, FieldBase, FnId};

/// Size of an inlined body and how often each parameter occurs in it.
#[derive(Clone, Debug, Default)]
struct Expansion {
    size: u64,
    uses: Vec<u64>,
}

/// Runs every graph check.
pub(super) fn check(r: &mut Resolver<'_>) {
    let n = r.module.fns.len();
    let calls: Vec<Vec<(FnId, Span)>> = (0..n).map(|f| calls_in(r, r.fn_ranges[f])).collect();
    let (order, recursive) = find_cycles(r, &calls);
    budget(r, &order, &recursive);
    reach(r);
    unused(r);
}

/// Calls in an id range, with the callee name's span.
fn calls_in(r: &Resolver<'_>, (start, end): (u32, u32)) -> Vec<(FnId, Span)> {
    let mut out = Vec::new();
    for e in &r.module.exprs[start as usize..end as usize] {
        if let ExprKind::CallFn { func, .. } = &e.kind {
            let name_len = u32::try_from(r.module.func(*func).name.len()).unwrap_or(0);
            out.push((*func, e.span.sub(0, name_len)));
        }
    }
    out
}

/// Depth-first search over the call graph (with an explicit stack): reports each cycle found
/// once, and returns the fns in post-order (callees before callers) and which are recursive.
fn find_cycles(r: &mut Resolver<'_>, calls: &[Vec<(FnId, Span)>]) -> (Vec<FnId>, Vec<bool>) {
    let n = calls.len();
    let mut color = vec![0u8; n]; // 0 unvisited, 1 on the stack, 2 done
    let mut recursive = vec![false; n];
    let mut order = Vec::with_capacity(n);
    for root in 0..n {
        if color[root] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        color[root] = 1;
        while let Some(&mut (f, ref mut next)) = stack.last_mut() {
            if let Some(&(g, _)) = calls[f].get(*next) {
                *next += 1;
                let g = g.0 as usize;
                match color[g] {
                    0 => {
                        color[g] = 1;
                        stack.push((g, 0));
                    }
                    1 => {
                        // A back edge: the cycle is the stack from g to f, then back to g.
                        let from = stack.iter().position(|&(h, _)| h == g).unwrap_or(0);
                        let cycle: Vec<(usize, Span)> = stack[from..]
                            .iter()
                            .map(|&(h, e)| (h, calls[h][e.saturating_sub(1)].1))
                            .collect();
                        for &(h, _) in &cycle {
                            recursive[h] = true;
                        }
                        report_cycle(r, &cycle);
                    }
                    _ => {}
                }
            } else {
                color[f] = 2;
                order.push(FnId(u32::try_from(f).unwrap_or(0)));
                stack.pop();
            }
        }
    }
    (order, recursive)
}

fn report_cycle(r: &mut Resolver<'_>, cycle: &[(usize, Span)]) {
    let Some(&(first, _)) = cycle.first() else {
        return;
    };
    let names: Vec<String> = cycle
        .iter()
        .map(|&(h, _)| format!("`{}`", r.module.fns[h].name))
        .collect();
    let first_name = &r.module.fns[first].name;
    let message = if cycle.len() == 1 {
        format!("fn `{first_name}` calls itself")
    } else {
        format!(
            "fn `{first_name}` calls itself through {}",
            names[1..].join(", ")
        )
    };
    let mut d = Diagnostic::error(
        ErrorCode::RecursiveFn,
        r.module.fns[first].span,
        message,
        "recursive fn",
    );
    for (i, &(_, call)) in cycle.iter().enumerate() {
        let callee = &r.module.fns[cycle[(i + 1) % cycle.len()].0].name;
        d = d.with_label(call, format!("calls `{callee}`"));
    }
    let cycle_text = names
        .iter()
        .chain(std::iter::once(&names[0]))
        .cloned()
        .collect::<Vec<_>>()
        .join(" → ");
    d = d
        .with_note(format!("the cycle: {cycle_text}"))
        .with_help("fns are inlined, so they cannot recurse: unroll the recursion by hand");
    let owner = r.module.fns[first]
        .stdlib
        .then_some(Owner::Fn(FnId(u32::try_from(first).unwrap_or(0))));
    r.with_owner(owner, |r| r.sink.push(d));
}

/// The expansion of the nodes `start..end` of one item, bottom-up; `params` is the number of
/// parameters of the fn the nodes belong to (0 for rules).
fn expand(
    r: &Resolver<'_>,
    fns: &[Option<Expansion>],
    (start, end): (u32, u32),
    params: usize,
) -> Vec<Expansion> {
    let len = (end - start) as usize;
    let mut out: Vec<Expansion> = Vec::with_capacity(len);
    let local = |id: ExprId| -> Option<usize> {
        (id.0 >= start && id.0 < end).then(|| (id.0 - start) as usize)
    };
    for i in 0..len {
        let e = &r.module.exprs[start as usize + i];
        let mut x = Expansion {
            size: 1,
            uses: vec![0; params],
        };
        match &e.kind {
            ExprKind::Param { index, .. }
            | ExprKind::Field {
                base: FieldBase::Param(index),
                ..
            } => {
                if let Some(u) = x.uses.get_mut(*index as usize) {
                    *u = 1;
                }
            }
            ExprKind::CallFn { func, args } => {
                if let Some(Some(g)) = fns.get(func.0 as usize) {
                    let mut size = g
                        .size
                        .saturating_sub(g.uses.iter().fold(0u64, |a, &b| a.saturating_add(b)));
                    for (j, arg) in args.iter().enumerate() {
                        let Some(a) = local(*arg).and_then(|k| out.get(k)) else {
                            continue;
                        };
                        let u = g.uses.get(j).copied().unwrap_or(0);
                        size = size.saturating_add(u.saturating_mul(a.size));
                        for (p, occ) in a.uses.iter().enumerate() {
                            x.uses[p] = x.uses[p].saturating_add(u.saturating_mul(*occ));
                        }
                    }
                    x.size = size.max(1);
                } else {
                    // A recursive callee (reported): count the call and its arguments once.
                    for arg in args {
                        if let Some(a) = local(*arg).and_then(|k| out.get(k)) {
                            x.size = x.size.saturating_add(a.size);
                        }
                    }
                }
            }
            kind => kind.for_each_operand(|c| {
                if let Some(a) = local(c).and_then(|k| out.get(k)) {
                    x.size = x.size.saturating_add(a.size);
                    for (p, occ) in a.uses.iter().enumerate() {
                        x.uses[p] = x.uses[p].saturating_add(*occ);
                    }
                }
            }),
        }
        out.push(x);
    }
    out
}

fn budget(r: &mut Resolver<'_>, order: &[FnId], recursive: &[bool]) {
    let n = r.module.fns.len();
    let mut fns: Vec<Option<Expansion>> = vec![None; n];
    let mut over = vec![false; n];
    for &f in order {
        let fi = f.0 as usize;
        if recursive[fi] {
            continue;
        }
        let range = r.fn_ranges[fi];
        let params = r.module.fns[fi].params.len();
        let nodes = expand(r, &fns, range, params);
        let body = r.module.fns[fi].body;
        let x = body
            .0
            .checked_sub(range.0)
            .and_then(|k| nodes.get(k as usize).cloned())
            .unwrap_or_default();
        r.module.fns[fi].inlined_size = x.size;
        let callees_over = calls_in(r, range).iter().any(|(g, _)| over[g.0 as usize]);
        let added = x.size.saturating_sub(u64::from(range.1 - range.0));
        if added > MAX_INLINED_NODES {
            over[fi] = true;
            if !callees_over {
                let name = r.module.fns[fi].name.clone();
                let d = Diagnostic::error(
                    ErrorCode::InlinedTooLarge,
                    r.module.fns[fi].span,
                    format!("fn `{name}` is too large once the fns it calls are inlined"),
                    format!("expands to {} nodes", x.size),
                )
                .with_note(format!(
                    "the budget is {MAX_INLINED_NODES} nodes per fn or rule"
                ))
                .with_help(
                    "call fns fewer times, or bind a repeated argument to a simpler expression",
                );
                let owner = r.module.fns[fi].stdlib.then_some(Owner::Fn(f));
                r.with_owner(owner, |r| r.sink.push(d));
            }
        }
        fns[fi] = Some(x);
    }
    for ri in 0..r.module.rules.len() {
        let range = r.rule_ranges[ri];
        let nodes = expand(r, &fns, range, 0);
        // Roots are the nodes no other node of the rule uses.
        let mut used = vec![false; nodes.len()];
        for e in &r.module.exprs[range.0 as usize..range.1 as usize] {
            e.kind.for_each_operand(|c| {
                if let Some(k) = c.0.checked_sub(range.0) {
                    if let Some(u) = used.get_mut(k as usize) {
                        *u = true;
                    }
                }
            });
        }
        let total = nodes
            .iter()
            .zip(&used)
            .filter(|(_, u)| !**u)
            .fold(0u64, |a, (x, _)| a.saturating_add(x.size));
        // A rule's own size is not limited here (a 100,000-long `or` is fine): only what
        // inlining adds to it.
        let added = total.saturating_sub(u64::from(range.1 - range.0));
        let callees_over = calls_in(r, range).iter().any(|(g, _)| over[g.0 as usize]);
        if added > MAX_INLINED_NODES && !callees_over {
            let rule = &r.module.rules[ri];
            let d = Diagnostic::error(
                ErrorCode::InlinedTooLarge,
                rule.span,
                format!("rule `{}` is too large once its fns are inlined", rule.name),
                format!("expands to {total} nodes"),
            )
            .with_note(format!(
                "the budget is {MAX_INLINED_NODES} nodes per fn or rule"
            ))
            .with_help("split the rule, or call fns fewer times");
            r.sink.push(d);
        }
    }
}

/// Marks the lists and fns reachable from user code as used.
fn reach(r: &mut Resolver<'_>) {
    let mut queue: VecDeque<Item> = r.refs_from_user.iter().copied().collect();
    while let Some(item) = queue.pop_front() {
        match item {
            Item::List(l) => {
                let def = &mut r.module.lists[l.0 as usize];
                def.used = true;
            }
            Item::Fn(f) => {
                if r.module.fns[f.0 as usize].used {
                    continue;
                }
                r.module.fns[f.0 as usize].used = true;
                let (start, end) = r.fn_ranges[f.0 as usize];
                for e in &r.module.exprs[start as usize..end as usize] {
                    match &e.kind {
                        ExprKind::CallFn { func, .. } => queue.push_back(Item::Fn(*func)),
                        ExprKind::ListRef(l) => queue.push_back(Item::List(*l)),
                        _ => {}
                    }
                }
            }
        }
    }
}

fn unused(r: &mut Resolver<'_>) {
    let referenced: std::collections::HashSet<Item> = r.refs_from_user.iter().copied().collect();
    let mut diags = Vec::new();
    for (i, l) in r.module.lists.iter().enumerate() {
        let id = Item::List(crate::hir::ListId(u32::try_from(i).unwrap_or(0)));
        if !l.stdlib && !l.name.starts_with('_') && !referenced.contains(&id) {
            diags.push(
                Diagnostic::warning(
                    ErrorCode::UnusedList,
                    l.span,
                    format!("list `{}` is never used", l.name),
                    "unused",
                )
                .with_help("use it in a rule or fn, or remove it (a leading `_` silences this)"),
            );
        }
    }
    for (i, f) in r.module.fns.iter().enumerate() {
        if f.stdlib {
            continue;
        }
        let id = Item::Fn(FnId(u32::try_from(i).unwrap_or(0)));
        if !f.name.starts_with('_') && !referenced.contains(&id) {
            diags.push(
                Diagnostic::warning(
                    ErrorCode::UnusedFn,
                    f.span,
                    format!("fn `{}` is never used", f.name),
                    "unused",
                )
                .with_help("call it from a rule, or remove it (a leading `_` silences this)"),
            );
        }
        for (j, p) in f.params.iter().enumerate() {
            let read = r
                .params_used
                .get(i)
                .and_then(|v| v.get(j))
                .copied()
                .unwrap_or(true);
            if !read && !p.name.starts_with('_') {
                diags.push(
                    Diagnostic::warning(
                        ErrorCode::UnusedParam,
                        p.span,
                        format!("parameter `{}` of fn `{}` is never read", p.name, f.name),
                        "unused",
                    )
                    .with_help(format!("remove it, or name it `_{}`", p.name)),
                );
            }
        }
    }
    r.sink.diags.extend(diags);
}
