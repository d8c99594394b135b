//! The cost model: worst-case steps per event, per rule and per event type, from the HOST's
//! bounds (E0424, E0425; E0627 when only the host's looser bounds break the proof).
//!
//! A step is about one byte examined or one node evaluated. Costs are computed over the
//! expression DAG as a tree (a node shared by two parents is charged twice, as an engine that
//! evaluates a tree would run it twice), bottom-up in one pass, with saturating arithmetic: a
//! hostile DAG that doubles at each level saturates and is refused, never overflows.
//!
//! Bounds first: each node has a byte bound (of a string, or of each item of a list) and an
//! item bound (of a list). A field read has the host's `max_len`/`max_items` (for a rule on
//! several event types, the largest over them); a captured value at most the rule's
//! `capture_len`; a constant its own size; a builtin's string result
//! [`crate::builtins::result_max_len`] of its arguments' bounds; a quantifier variable the item
//! bound of its quantifier's list (the largest over quantifiers of that level: levels nest
//! strictly, so one pass per level settles them).
//!
//! Then steps per node ([`NODE_STEPS`] plus its operands' steps, and):
//! - `==`/`!=` on strings: the shorter operand's bound;
//! - a *literal test*: `StrTest` whose subject is a `string` field and whose pattern is a
//!   string constant, or `StrList` whose subject is a `string` field. The bundle-shared
//!   prefilter (one scan per field: a gram searcher or automata, case-folded where needed)
//!   scans that field once per event; the scan is charged to the EVENT TYPE, once per
//!   (field, folding), at the field's `max_len` (x 3/2 when folded: [`FOLD_NUM`]/
//!   [`FOLD_DEN`]). The rule's residual is [`LITERAL_PATTERN_STEPS`] per pattern;
//! - any other string test: `contains` scans the subject and the pattern (each x 3/2 when
//!   folded); `==`, `startswith`, `endswith` compare at most the pattern's length of the subject
//!   (3 x that under folding, which can shrink a character to a third of its bytes). A
//!   `StrList` that is no literal test: for `contains`, one automaton pass over the subject plus
//!   every pattern and one per pattern; otherwise the sum of the single tests;
//! - membership: the list's item bound times (the shorter of element and item bounds + 1);
//! - `matches`: [`REGEX_BYTE_STEPS`] per byte of the subject's bound plus
//!   [`REGEX_BASE_STEPS`] (the lazy DFA's worst case per byte, cache misses included);
//! - a builtin call: its declared [`crate::builtins::Cost`] from its arguments' bounds;
//! - a quantifier: its list's steps plus `max_items` x (its body's steps + 1).
//!
//! A rule's steps are its roots' steps (condition(s), `emit` parts, alert fields), the bytes
//! its alert may print, for a stateful rule its per-event state work ([`super::state`]), and
//! the engine's fixed work per rule ([`RULE_FRAME_STEPS`], [`ALERT_FRAME_STEPS`]). An event
//! type's steps are its prefilter charge plus the steps of every rule that runs on it plus
//! [`EVENT_FRAME_STEPS`]. Both are checked against [`crate::budget::Budget`].

use std::collections::BTreeMap;

use serde::Serialize;

use super::{state, Cx, VerifyError};
use crate::bind::for_each_field_ref;
use crate::budget::QUANT_LEVELS_CAP;
use crate::builtins::{self, BuiltinId};
use crate::error::Code;
use crate::ir::{ExprKind, FieldRef, Rule, RuleId, RuleKind, StrTest, TemplatePart};
use crate::schema::{EventTypeId, FieldIndex};
use crate::types::{Scalar, Ty};

/// Steps of evaluating any node, beyond its operands.
pub const NODE_STEPS: u64 = 1;
/// A rule's residual steps per pattern of a literal test (the prefilter did the scan).
pub const LITERAL_PATTERN_STEPS: u64 = 4;
/// Steps per byte of a regex search's subject.
pub const REGEX_BYTE_STEPS: u64 = 8;
/// Steps of a regex search whatever the subject.
pub const REGEX_BASE_STEPS: u64 = 16;
/// Case folding grows a string by at most `FOLD_NUM / FOLD_DEN`.
pub const FOLD_NUM: u64 = 3;
/// See [`FOLD_NUM`].
pub const FOLD_DEN: u64 = 2;
/// The engine's fixed work per event of a type some rule runs on (dispatch, shape check,
/// counters, starting the prefilter), in steps. Measured with the adversarial bench
/// (`benches/benches/adversarial.rs`): about 37 ns, against 13 ns per step for the slowest
/// step kind measured (docs/performance.md, "Bad input").
pub const EVENT_FRAME_STEPS: u64 = 4;
/// The engine's fixed work per rule evaluated (the call into the evaluator, its guard and
/// context): about 14 ns measured.
pub const RULE_FRAME_STEPS: u64 = 2;
/// The engine's fixed work per alert built and delivered, beyond the bytes it prints: about
/// 69 ns measured. Charged to every rule (any may fire).
pub const ALERT_FRAME_STEPS: u64 = 6;
/// Steps of printing a non-string value into an alert.
const PRINT_SCALAR_STEPS: u64 = 40;

pub use super::state::{
    CAPTURE_HEADER_BYTES, KEY_HASH_BYTES, STATE_ENTRY_OVERHEAD_BYTES, STATE_UPDATE_STEPS,
    TIMESTAMP_BYTES, VALUE_HASH_BYTES,
};

/// Worst-case cost of a verified program.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CostReport {
    /// Per rule, in program order.
    pub rules: Vec<RuleCost>,
    /// Per host event type that at least one rule runs on, by id.
    pub events: Vec<EventCost>,
    /// Worst-case state bytes of the whole bundle.
    pub state_bytes: u64,
}

/// Worst-case cost of one rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleCost {
    /// The rule.
    pub rule: RuleId,
    /// Worst-case steps per event (the rule's residual: the prefilter is charged to the event
    /// type).
    pub steps: u64,
    /// Worst-case state bytes.
    pub state_bytes: u64,
}

/// Worst-case cost of one event type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventCost {
    /// The host event type.
    pub event: EventTypeId,
    /// Its name.
    pub name: String,
    /// The shared literal prefilter's steps: each (field, folding) scanned once.
    pub prefilter_steps: u64,
    /// The fields the prefilter scans.
    pub prefilter: Vec<PrefilterField>,
    /// The rules that run on it.
    pub rules: Vec<RuleId>,
    /// Prefilter plus every rule's steps.
    pub total_steps: u64,
}

/// A field the prefilter scans on one event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PrefilterField {
    /// The field.
    pub index: FieldIndex,
    /// Scanned case-folded.
    pub folded: bool,
    /// Its charge.
    pub steps: u64,
}

/// Which bounds the model reads: the host's (the proof) or the ones the bundle assumed (to
/// tell whether looser host bounds are what breaks a proof).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bounds {
    Host,
    Assumed,
}

/// A node's length bounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Bound {
    /// Bytes of a string, or of each item of a list.
    pub(crate) len: u64,
    /// Items of a list.
    pub(crate) items: u64,
}

/// `n` x 3/2, rounded up, saturating.
pub(crate) fn folded(n: u64) -> u64 {
    (n / FOLD_DEN)
        .saturating_mul(FOLD_NUM)
        .saturating_add((n % FOLD_DEN * FOLD_NUM).div_ceil(FOLD_DEN))
}

fn fold_if(fold: bool, n: u64) -> u64 {
    if fold {
        folded(n)
    } else {
        n
    }
}

/// Steps of one string test of a subject of at most `n` bytes against a pattern of at most
/// `m`: `contains` scans the subject (and the pattern); `==`, `startswith` and `endswith`
/// compare at most the pattern's length of the subject (3 x under folding, which can shrink a
/// character to a third of its bytes).
fn string_test(op: StrTest, fold: bool, n: u64, m: u64) -> u64 {
    let work = match op {
        StrTest::Contains => fold_if(fold, n).saturating_add(fold_if(fold, m)),
        StrTest::Eq | StrTest::StartsWith | StrTest::EndsWith => {
            let window = if fold { m.saturating_mul(3) } else { m };
            fold_if(fold, n.min(window)).saturating_add(fold_if(fold, m))
        }
    };
    work.saturating_add(NODE_STEPS)
}

/// The bounds of field requirement `f` as rule `rid` reads it.
pub(crate) fn field_bound(cx: &Cx<'_>, rid: RuleId, f: FieldRef, mode: Bounds) -> Bound {
    let Some(req) = cx.program.fields.get(f.0 as usize) else {
        return Bound {
            len: u64::MAX,
            items: u64::MAX,
        };
    };
    match mode {
        Bounds::Assumed => Bound {
            len: u64::from(req.max_len),
            items: u64::from(req.max_items),
        },
        Bounds::Host => {
            let mut b = cx.binding.field(f).map_or(Bound::default(), |bf| Bound {
                len: u64::from(bf.max_len),
                items: u64::from(bf.max_items),
            });
            for &ev in cx.binding.rule_events(rid) {
                if let Some(bf) = cx.binding.field_on(f, ev) {
                    b.len = b.len.max(u64::from(bf.max_len));
                    b.items = b.items.max(u64::from(bf.max_items));
                }
            }
            b
        }
    }
}

/// One rule's steps and the literal tests it leaves to the prefilter.
pub(crate) struct RuleSteps {
    pub(crate) steps: u64,
    /// `(field, folded)` of each literal test.
    pub(crate) literals: Vec<(FieldRef, bool)>,
}

const LEVELS: usize = QUANT_LEVELS_CAP as usize;

/// The steps of one (already structurally verified) rule.
pub(crate) fn rule_steps(cx: &Cx<'_>, rid: RuleId, rule: &Rule, mode: Bounds) -> RuleSteps {
    let p = cx.program;
    let exprs = &rule.exprs;
    let n = exprs.len();
    let capture_len = match &rule.kind {
        RuleKind::Sequence(seq) => u64::from(seq.state.capture_len),
        _ => 0,
    };
    let max_level = exprs
        .iter()
        .filter_map(|e| match e.kind {
            ExprKind::Quant { local, .. } => Some(usize::from(local.0)),
            _ => None,
        })
        .max();
    // Level k's list bounds depend only on levels below k: k + 1 passes settle level k, and
    // one more computes every node with all levels settled.
    let passes = max_level.map_or(1, |m| m.min(LEVELS) + 2);
    let mut level_len = [0u64; LEVELS];
    let mut bounds = vec![Bound::default(); n];
    let b = |bounds: &[Bound], e: crate::ir::ExprId| {
        bounds.get(e.0 as usize).copied().unwrap_or_default()
    };
    for _ in 0..passes {
        for (i, expr) in exprs.iter().enumerate() {
            let bound = match &expr.kind {
                ExprKind::Str(s) => Bound {
                    len: p.strings.get(s.0 as usize).map_or(0, |s| s.len() as u64),
                    items: 0,
                },
                ExprKind::List(l) => list_bound(cx, l.0),
                ExprKind::Field(f) => field_bound(cx, rid, *f, mode),
                ExprKind::Captured(c) => {
                    let field = match &rule.kind {
                        RuleKind::Sequence(seq) => {
                            seq.captures.get(usize::from(c.0)).map(|c| c.field)
                        }
                        _ => None,
                    };
                    let fb = field.map_or(Bound::default(), |f| field_bound(cx, rid, f, mode));
                    Bound {
                        len: fb.len.min(capture_len),
                        items: fb.items,
                    }
                }
                ExprKind::Local(l) => Bound {
                    len: level_len.get(usize::from(l.0)).copied().unwrap_or(u64::MAX),
                    items: 0,
                },
                ExprKind::Call { builtin, args } => {
                    let lens: Vec<u64> = args.iter().map(|a| b(&bounds, *a).len).collect();
                    let id = cx.binding.builtin(*builtin).unwrap_or(BuiltinId(u16::MAX));
                    let len = match expr.ty {
                        Ty::Scalar(Scalar::Str) | Ty::List(Scalar::Str) => {
                            builtins::result_max_len(id, &lens)
                        }
                        _ => 0,
                    };
                    // No builtin returns a list today; one that did would need an item bound.
                    let items = if expr.ty.is_list() { u64::MAX } else { 0 };
                    Bound { len, items }
                }
                _ => Bound::default(),
            };
            if let Some(slot) = bounds.get_mut(i) {
                *slot = bound;
            }
        }
        for expr in exprs {
            if let ExprKind::Quant { local, list, .. } = expr.kind {
                if let Some(slot) = level_len.get_mut(usize::from(local.0)) {
                    *slot = (*slot).max(b(&bounds, list).len);
                }
            }
        }
    }

    let mut steps = vec![0u64; n];
    let mut literals = Vec::new();
    let s =
        |steps: &[u64], e: crate::ir::ExprId| steps.get(e.0 as usize).copied().unwrap_or(u64::MAX);
    let str_field = |e: crate::ir::ExprId| match exprs.get(e.0 as usize) {
        Some(x) if x.ty == Ty::STR => match x.kind {
            ExprKind::Field(f) => Some(f),
            _ => None,
        },
        _ => None,
    };
    for (i, expr) in exprs.iter().enumerate() {
        let mut operands: u64 = 0;
        if !matches!(expr.kind, ExprKind::Quant { .. }) {
            expr.kind
                .for_each_operand(|o| operands = operands.saturating_add(s(&steps, o)));
        }
        let own = match &expr.kind {
            ExprKind::Cmp(_, a, c) if exprs.get(a.0 as usize).is_some_and(|x| x.ty == Ty::STR) => {
                b(&bounds, *a)
                    .len
                    .min(b(&bounds, *c).len)
                    .saturating_add(NODE_STEPS)
            }
            ExprKind::StrTest { op, fold, lhs, rhs } => {
                let const_pattern = exprs
                    .get(rhs.0 as usize)
                    .is_some_and(|x| matches!(x.kind, ExprKind::Str(_)));
                match str_field(*lhs) {
                    Some(f) if const_pattern => {
                        literals.push((f, *fold));
                        LITERAL_PATTERN_STEPS
                    }
                    _ => string_test(*op, *fold, b(&bounds, *lhs).len, b(&bounds, *rhs).len),
                }
            }
            ExprKind::StrList {
                op,
                fold,
                lhs,
                list,
                ..
            } => {
                let items = p
                    .lists
                    .get(list.0 as usize)
                    .map_or(&[][..], |l| l.items.as_slice());
                let k = items.len() as u64;
                match str_field(*lhs) {
                    Some(f) => {
                        literals.push((f, *fold));
                        k.saturating_mul(LITERAL_PATTERN_STEPS)
                            .saturating_add(NODE_STEPS)
                    }
                    None => {
                        let n = b(&bounds, *lhs).len;
                        let lens = items.iter().map(|c| match c {
                            crate::ir::Const::Str(t) => t.len() as u64,
                            _ => 0,
                        });
                        if *op == StrTest::Contains {
                            // One automaton pass over the subject, plus building it.
                            let patterns = lens
                                .map(|m| fold_if(*fold, m))
                                .fold(0u64, u64::saturating_add);
                            fold_if(*fold, n)
                                .saturating_add(patterns)
                                .saturating_add(k)
                                .saturating_add(NODE_STEPS)
                        } else {
                            lens.map(|m| string_test(*op, *fold, n, m))
                                .fold(NODE_STEPS, u64::saturating_add)
                        }
                    }
                }
            }
            ExprKind::Member { lhs, list, fold } => {
                let (e, l) = (b(&bounds, *lhs), b(&bounds, *list));
                l.items
                    .saturating_mul(fold_if(*fold, e.len.min(l.len)).saturating_add(1))
                    .saturating_add(NODE_STEPS)
            }
            ExprKind::Matches { lhs, .. } => REGEX_BYTE_STEPS
                .saturating_mul(b(&bounds, *lhs).len)
                .saturating_add(REGEX_BASE_STEPS),
            ExprKind::Call { builtin, args } => {
                let lens: Vec<u64> = args.iter().map(|a| b(&bounds, *a).len).collect();
                let items: Vec<u64> = args.iter().map(|a| b(&bounds, *a).items).collect();
                cx.binding
                    .builtin(*builtin)
                    .and_then(builtins::get)
                    .map_or(u64::MAX, |def| def.cost.steps(&lens, &items))
                    .saturating_add(NODE_STEPS)
            }
            ExprKind::Quant { list, body, .. } => {
                let per_item = s(&steps, *body).saturating_add(1);
                s(&steps, *list)
                    .saturating_add(b(&bounds, *list).items.saturating_mul(per_item))
                    .saturating_add(NODE_STEPS)
            }
            _ => NODE_STEPS,
        };
        if let Some(slot) = steps.get_mut(i) {
            *slot = own.saturating_add(operands);
        }
    }

    let mut total: u64 = 0;
    let mut add = |v: u64| total = total.saturating_add(v);
    let print = |e: crate::ir::ExprId| {
        let bound = b(&bounds, e);
        match exprs.get(e.0 as usize).map(|x| x.ty) {
            Some(Ty::Scalar(Scalar::Str)) => bound.len,
            Some(Ty::List(_)) => bound
                .items
                .saturating_mul(bound.len.saturating_add(PRINT_SCALAR_STEPS)),
            _ => PRINT_SCALAR_STEPS,
        }
    };
    match &rule.kind {
        RuleKind::Single { cond, .. } => add(cond.map_or(0, |c| s(&steps, c))),
        RuleKind::Threshold(t) => add(t.cond.map_or(0, |c| s(&steps, c))),
        RuleKind::Sequence(seq) => seq
            .steps
            .iter()
            .filter_map(|st| st.cond)
            .for_each(|c| add(s(&steps, c))),
    }
    for part in &rule.emit {
        if let TemplatePart::Expr(e) = part {
            add(s(&steps, *e));
            add(print(*e));
        }
    }
    for (_, e) in &rule.fields {
        add(s(&steps, *e));
        add(print(*e));
    }
    add(state::update_steps(cx, rid, rule, mode));
    // The engine's own work for the rule: the call into the evaluator and, when it fires,
    // building and delivering the alert (beyond the bytes printed, counted above).
    add(RULE_FRAME_STEPS);
    add(ALERT_FRAME_STEPS);
    RuleSteps {
        steps: total,
        literals,
    }
}

/// A constant list's bounds: its longest string item and its item count.
fn list_bound(cx: &Cx<'_>, l: u32) -> Bound {
    cx.program
        .lists
        .get(l as usize)
        .map_or(Bound::default(), |list| Bound {
            len: list
                .items
                .iter()
                .map(|c| match c {
                    crate::ir::Const::Str(s) => s.len() as u64,
                    _ => 0,
                })
                .max()
                .unwrap_or(0),
            items: list.items.len() as u64,
        })
}

/// The cost report of a structurally verified program.
pub(crate) fn report(cx: &Cx<'_>, mode: Bounds) -> CostReport {
    struct Acc {
        rule_steps: u64,
        rules: Vec<RuleId>,
        prefilter: BTreeMap<(FieldIndex, bool), u64>,
    }
    let p = cx.program;
    let mut rules = Vec::with_capacity(p.rules.len());
    let mut events: BTreeMap<EventTypeId, Acc> = BTreeMap::new();
    let mut state_bytes: u64 = 0;
    for (i, rule) in p.rules.iter().enumerate() {
        let rid = RuleId(u32::try_from(i).unwrap_or(u32::MAX));
        let r = rule_steps(cx, rid, rule, mode);
        let st = state::rule_bytes(cx, rid, rule, mode);
        state_bytes = state_bytes.saturating_add(st);
        for &ev in cx.binding.rule_events(rid) {
            let acc = events.entry(ev).or_insert_with(|| Acc {
                rule_steps: 0,
                rules: Vec::new(),
                prefilter: BTreeMap::new(),
            });
            acc.rule_steps = acc.rule_steps.saturating_add(r.steps);
            acc.rules.push(rid);
            for &(f, fold) in &r.literals {
                if let Some(bf) = cx.binding.field_on(f, ev) {
                    let len = match mode {
                        Bounds::Host => u64::from(bf.max_len),
                        Bounds::Assumed => p
                            .fields
                            .get(f.0 as usize)
                            .map_or(0, |r| u64::from(r.max_len)),
                    };
                    let charge = fold_if(fold, len);
                    let slot = acc.prefilter.entry((bf.index, fold)).or_insert(0);
                    *slot = (*slot).max(charge);
                }
            }
        }
        rules.push(RuleCost {
            rule: rid,
            steps: r.steps,
            state_bytes: st,
        });
    }
    let events = events
        .into_iter()
        .map(|(ev, acc)| {
            let prefilter: Vec<PrefilterField> = acc
                .prefilter
                .into_iter()
                .map(|((index, folded), steps)| PrefilterField {
                    index,
                    folded,
                    steps,
                })
                .collect();
            let prefilter_steps = prefilter
                .iter()
                .map(|f| f.steps)
                .fold(0, u64::saturating_add);
            EventCost {
                event: ev,
                name: cx.binding.event_name(ev).to_string(),
                prefilter_steps,
                prefilter,
                rules: acc.rules,
                total_steps: prefilter_steps
                    .saturating_add(acc.rule_steps)
                    .saturating_add(EVENT_FRAME_STEPS),
            }
        })
        .collect();
    CostReport {
        rules,
        events,
        state_bytes,
    }
}

/// Checks a host-bounds report against the budget. A failure that the bundle's own assumed
/// bounds would pass is reported as [`Code::HostBoundsBreakProof`], naming the fields the host
/// bounds more loosely.
pub(crate) fn check_budget(cx: &Cx<'_>, report: &CostReport, errors: &mut Vec<VerifyError>) {
    let budget = cx.budget;
    let over = report
        .rules
        .iter()
        .any(|r| r.steps > budget.max_rule_cost || r.state_bytes > budget.max_rule_state_bytes)
        || report
            .events
            .iter()
            .any(|e| e.total_steps > budget.max_event_cost)
        || report.state_bytes > budget.max_state_bytes;
    if !over {
        return;
    }
    // Under the bounds the bundle assumed: a failure that passes there is the host's doing.
    let assumed = self::report(cx, Bounds::Assumed);
    for rc in &report.rules {
        let rule = cx.program.rules.get(rc.rule.0 as usize);
        if rc.steps > budget.max_rule_cost {
            let passes = assumed
                .rules
                .get(rc.rule.0 as usize)
                .is_some_and(|a| a.steps <= budget.max_rule_cost);
            let what = format!(
                "the cost proof fails under them: {} steps per event, the budget is {}",
                rc.steps, budget.max_rule_cost
            );
            errors.push(match (passes, rule.map(|r| loose_fields(cx, rc.rule, r))) {
                (true, Some(loose)) if !loose.is_empty() => cx.err(
                    Code::HostBoundsBreakProof,
                    rc.rule,
                    None,
                    format!("host bounds {}, and {what}", loose.join("; ")),
                ),
                _ => cx.err(
                    Code::RuleCostOverBudget,
                    rc.rule,
                    None,
                    format!(
                        "the rule takes up to {} steps per event, the budget is {}",
                        rc.steps, budget.max_rule_cost
                    ),
                ),
            });
        }
        if rc.state_bytes > budget.max_rule_state_bytes {
            let passes = assumed
                .rules
                .get(rc.rule.0 as usize)
                .is_some_and(|a| a.state_bytes <= budget.max_rule_state_bytes);
            errors.push(match (passes, rule.map(|r| loose_fields(cx, rc.rule, r))) {
                (true, Some(loose)) if !loose.is_empty() => cx.err(
                    Code::HostBoundsBreakProof,
                    rc.rule,
                    None,
                    format!(
                        "host bounds {}, and the state proof fails under them: {} bytes, the \
                         budget is {}",
                        loose.join("; "),
                        rc.state_bytes,
                        budget.max_rule_state_bytes
                    ),
                ),
                _ => cx.err(
                    Code::RuleStateOverBudget,
                    rc.rule,
                    None,
                    format!(
                        "the rule keeps up to {} bytes of state, the budget is {}",
                        rc.state_bytes, budget.max_rule_state_bytes
                    ),
                ),
            });
        }
    }
    for ec in &report.events {
        if ec.total_steps > budget.max_event_cost {
            let passes = assumed
                .events
                .iter()
                .find(|a| a.event == ec.event)
                .is_some_and(|a| a.total_steps <= budget.max_event_cost);
            let loose: Vec<String> = ec
                .rules
                .iter()
                .filter_map(|r| {
                    cx.program
                        .rules
                        .get(r.0 as usize)
                        .map(|rule| loose_fields(cx, *r, rule))
                })
                .flatten()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let message = format!(
                "event type `{}` takes up to {} steps per event ({} in the prefilter, over {} \
                 rules), the budget is {}",
                ec.name,
                ec.total_steps,
                ec.prefilter_steps,
                ec.rules.len(),
                budget.max_event_cost
            );
            errors.push(if passes && !loose.is_empty() {
                Cx::global(
                    Code::HostBoundsBreakProof,
                    format!(
                        "host bounds {}, and the cost proof fails under them: {message}",
                        loose.join("; ")
                    ),
                )
            } else {
                Cx::global(Code::EventCostOverBudget, message)
            });
        }
    }
    if report.state_bytes > budget.max_state_bytes {
        let passes = assumed.state_bytes <= budget.max_state_bytes;
        let loose: Vec<String> = cx
            .program
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| !matches!(r.kind, RuleKind::Single { .. }))
            .flat_map(|(i, r)| loose_fields(cx, RuleId(u32::try_from(i).unwrap_or(u32::MAX)), r))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let message = format!(
            "the bundle keeps up to {} bytes of state, the budget is {}",
            report.state_bytes, budget.max_state_bytes
        );
        errors.push(if passes && !loose.is_empty() {
            Cx::global(
                Code::HostBoundsBreakProof,
                format!(
                    "host bounds {}, and the state proof fails under them: {message}",
                    loose.join("; ")
                ),
            )
        } else {
            Cx::global(Code::BundleStateOverBudget, message)
        });
    }
}

/// The fields rule `rid` refers to whose host bounds are looser than the bundle assumed, as
/// "`args` at 128 items, the bundle assumed 64".
fn loose_fields(cx: &Cx<'_>, rid: RuleId, rule: &Rule) -> Vec<String> {
    let mut refs = std::collections::BTreeSet::new();
    for_each_field_ref(rule, |f| {
        refs.insert(f);
    });
    let mut out = Vec::new();
    for f in refs {
        let Some(req) = cx.program.fields.get(f.0 as usize) else {
            continue;
        };
        let host = field_bound(cx, rid, f, Bounds::Host);
        let name = format!("{}.{}", req.event, req.field);
        if host.items > u64::from(req.max_items) {
            out.push(format!(
                "`{name}` at {} items, the bundle assumed {}",
                host.items, req.max_items
            ));
        }
        if host.len > u64::from(req.max_len) {
            out.push(format!(
                "`{name}` at {} bytes, the bundle assumed {}",
                host.len, req.max_len
            ));
        }
    }
    out
}
