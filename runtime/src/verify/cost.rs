//! The cost model: worst-case steps per event, per rule and per event type, as a function of
//! the event's size, from the HOST's bounds (E0424, E0425, E0432; E0627 when only the host's
//! looser bounds break the proof).
//!
//! **Units.** A step is about one nanosecond of the slower engine on the reference machine:
//! about one byte examined by a scan, a few per node evaluated. [`PS_PER_STEP`] is the
//! calibrated conversion (picoseconds per step), re-measured by the adversarial bench, which
//! fails when the constant is too small.
//!
//! **Form.** Every bound is `base + per_byte x n`, where `n` is the event's input bytes: the
//! sum of its string and list-of-string values as decoded. The schema bounds `n` per event type
//! (`max_event_bytes`), each string by its `max_len`, each `[string]` list's items together by
//! its `max_total_len`; every input path cuts values to those bounds ([`crate::event`]'s
//! builder), so the bound holds for every event that reaches a rule.
//!
//! Internally a bound is a linear form [`Lin`] over the lengths of the event's fields:
//! `base + Σ c_f · len(f)`. Distinct fields of one event share its `n` bytes (`Σ len(f) <= n`),
//! so a form is at most `base + max_f(c_f) · n`: the slope is the largest coefficient of any one
//! field, not their sum. Fields bounded by at most [`SMALL_FIELD_BYTES`] (host names, GUIDs,
//! hashes) are charged at their bound, in the base.
//!
//! Lengths are forms too: a field read is `len(f)`, a constant its size, a captured value at
//! most the rule's `capture_len`, a builtin's string result [`crate::builtins::RetLen`] of its
//! arguments (at most an argument, or a scaled one), and a quantifier variable `len(item_k)`,
//! a symbol closed by its quantifier: a body that costs `b0 + c · len(item_k)` per item costs
//! `max_items · b0 + c · total(list)` over the list, where `total` is the list's
//! `max_total_len`-bounded bytes. A quantifier is charged per item plus per byte of its items,
//! never items x the longest possible item.
//!
//! Steps per node ([`NODE_STEPS`] plus its operands' steps, and):
//! - `==`/`!=` on strings: the shorter operand;
//! - a *literal test* (`StrTest` of a `string` field against a constant, `StrList` of a
//!   `string` field): [`LITERAL_PATTERN_STEPS`] per pattern; the bundle-shared prefilter scans
//!   the field once per event and is charged to the EVENT TYPE, per byte of the field:
//!   [`PREFILTER_AC_BYTE_STEPS`] for a small literal set, [`PREFILTER_GRAM_BYTE_STEPS`] for a
//!   set served by the gram searcher (over 64 literals), x 3/2 when folded;
//! - any other string test: `contains` scans the subject and the pattern (x 3/2 folded);
//!   `==`, `startswith`, `endswith` compare at most the pattern's length of the subject (3 x
//!   under folding);
//! - membership: the list's items plus its bytes;
//! - `matches`: the pattern's engine's worst case ([`crate::matcher`]): a DFA
//!   [`crate::matcher::DFA_BYTE_STEPS`] per subject byte, a PikeVM
//!   [`crate::matcher::PIKE_STATE_STEPS`] per byte per NFA state, plus
//!   [`crate::matcher::REGEX_BASE_STEPS`];
//! - a builtin call: its declared [`crate::builtins::Cost`] over its arguments' forms;
//! - a quantifier: its list's steps plus its body closed over the list, plus 1 per item.
//!
//! Costs are computed over the expression DAG as a tree (a node shared by two parents is
//! charged twice), bottom-up in one pass, with saturating arithmetic.
//!
//! A rule's cost is its roots' (condition(s), `emit` parts, alert fields), the bytes its alert
//! may print, its state work ([`super::state`]) and the engine's fixed work per rule
//! ([`RULE_FRAME_STEPS`], [`ALERT_FRAME_STEPS`]). An event type's cost is its prefilter plus
//! every rule that runs on it plus [`EVENT_FRAME_STEPS`]. Both are checked against
//! [`crate::budget::Budget`]: the base, the slope, and the total at `max_event_bytes`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{state, Cx, VerifyError};
use crate::bind::for_each_field_ref;
use crate::budget::Budget;
use crate::builtins::{self, BuiltinId, RetLen};
use crate::error::ErrorCode;
use crate::ir::{
    CallId, Expr, ExprId, ExprKind, FieldRef, ListId, RegexId, Rule, RuleId, RuleKind, StrTest,
    TemplatePart,
};
use crate::matcher::{Matcher, MatcherKind, REGEX_BASE_STEPS};
use crate::schema::{EventTypeId, FieldIndex};
use crate::types::{Scalar, Ty};

/// Steps of evaluating any node, beyond its operands.
pub const NODE_STEPS: u64 = 4;
/// A rule's residual steps per pattern of a literal test (the prefilter did the scan).
pub const LITERAL_PATTERN_STEPS: u64 = 4;
/// Prefilter steps per scanned byte of a field whose literal set is small (aho-corasick),
/// beyond its hits.
pub const PREFILTER_AC_BYTE_STEPS: u64 = 1;
/// Prefilter steps per literal hit (recording it); a byte has at most one hit's worth.
pub const PREFILTER_HIT_STEPS: u64 = 14;
/// Prefilter steps per scanned byte of a field whose unanchored literal set is served by the
/// gram searcher (more than [`PREFILTER_GRAM_PATTERNS`] literals): up to 8 candidate patterns
/// verified per position.
pub const PREFILTER_GRAM_BYTE_STEPS: u64 = 20;
/// Above this many literals on one field, the prefilter uses the gram searcher.
pub const PREFILTER_GRAM_PATTERNS: usize = 64;
/// Case folding grows a string by at most `FOLD_NUM / FOLD_DEN`.
pub const FOLD_NUM: u64 = 3;
/// See [`FOLD_NUM`].
pub const FOLD_DEN: u64 = 2;
/// The engine's fixed work per event of a type some rule runs on (dispatch, shape check,
/// counters, starting the prefilter).
pub const EVENT_FRAME_STEPS: u64 = 64;
/// The engine's fixed work per rule evaluated (the call into the evaluator, its guard).
pub const RULE_FRAME_STEPS: u64 = 24;
/// The engine's fixed work per alert built and delivered, beyond the bytes it prints.
/// Charged to every rule (any may fire).
pub const ALERT_FRAME_STEPS: u64 = 96;
/// Steps of printing a non-string value into an alert.
const PRINT_SCALAR_STEPS: u64 = 40;
/// Fields bounded by at most this many bytes are charged at their bound (in the base), not
/// per byte of the event.
pub const SMALL_FIELD_BYTES: u64 = 4096;
/// The calibrated conversion from steps to time: picoseconds per step, the slower of the
/// interpreter and the JIT over the adversarial bench's calibration workloads
/// (`benches/benches/adversarial.rs`, which fails when a measured time per step exceeds it).
pub const PS_PER_STEP: u64 = 1_000;
/// The "typical" event size at which bounds are also shown in time: 1 KiB.
pub const TYPICAL_EVENT_BYTES: u64 = 1024;

/// Steps to nanoseconds, with the calibrated [`PS_PER_STEP`].
pub fn steps_to_ns(steps: u64) -> u64 {
    steps.saturating_mul(PS_PER_STEP) / 1000
}

pub use super::state::{
    CAPTURE_HEADER_BYTES, KEY_HASH_BYTES, STATE_ENTRY_OVERHEAD_BYTES, STATE_UPDATE_STEPS,
    TIMESTAMP_BYTES, VALUE_HASH_BYTES,
};

/// A bound `base_steps + steps_per_byte x n` for an event of `n` input bytes, at most
/// `max_event_bytes`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LinearBound {
    /// Steps whatever the event's size.
    pub base_steps: u64,
    /// Steps per input byte of the event.
    pub steps_per_byte: u64,
    /// The largest `n` (the schema's `max_event_bytes`; for a rule, the largest over its
    /// event types).
    pub max_event_bytes: u64,
    /// The worst case at `max_event_bytes`: at most `base_steps + steps_per_byte x
    /// max_event_bytes`, and less when the fields with the steepest slopes cannot fill the
    /// event alone (a 98,304-byte command line in a 262,144-byte event): the event's bytes
    /// given to the costliest fields first, each up to its own bound.
    pub max_steps: u64,
}

impl LinearBound {
    /// The bound for an event of `n` bytes (`n` capped at `max_event_bytes`).
    pub fn at(&self, n: u64) -> u64 {
        self.base_steps
            .saturating_add(
                self.steps_per_byte
                    .saturating_mul(n.min(self.max_event_bytes)),
            )
            .min(self.max_steps)
    }

    /// The worst case per event: [`LinearBound::max_steps`].
    pub fn max(&self) -> u64 {
        self.max_steps
    }
}

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
    /// Its bound per event (the rule's residual: the prefilter is charged to the event type).
    pub bound: LinearBound,
    /// Worst-case steps per event: the bound at `max_event_bytes`.
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
    /// Its bound per event: prefilter, every rule, the frame.
    pub bound: LinearBound,
    /// The shared literal prefilter's steps at `max_event_bytes`.
    pub prefilter_steps: u64,
    /// The fields the prefilter scans.
    pub prefilter: Vec<PrefilterField>,
    /// The rules that run on it.
    pub rules: Vec<RuleId>,
    /// The bound at `max_event_bytes`.
    pub total_steps: u64,
}

/// A field the prefilter scans on one event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PrefilterField {
    /// The field.
    pub index: FieldIndex,
    /// Scanned case-folded.
    pub folded: bool,
    /// Its charge per byte of the field.
    pub steps_per_byte: u64,
    /// Its charge at the field's largest length.
    pub steps: u64,
}

/// Which bounds the model reads: the host's (the proof) or the ones the bundle assumed (to
/// tell whether looser host bounds are what breaks a proof).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bounds {
    Host,
    Assumed,
}

/// A field's length bounds, as numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Bound {
    /// Bytes of a string, or of each item of a list.
    pub(crate) len: u64,
    /// Items of a list.
    pub(crate) items: u64,
    /// Bytes of all items of a list together (of a string: `len`).
    pub(crate) total: u64,
}

/// What a term of a [`Lin`] measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Var {
    /// The bytes of a field (a string's, or all of a list's items).
    Field(FieldRef),
    /// The bytes of the current item of the quantifier at this level.
    Item(u16),
}

/// `base + Σ coefficient · len(var)`, saturating; terms sorted by var, no zero coefficient.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Lin {
    base: u64,
    terms: Vec<(Var, u64)>,
}

impl Lin {
    fn constant(base: u64) -> Lin {
        Lin {
            base,
            terms: Vec::new(),
        }
    }

    fn var(v: Var) -> Lin {
        Lin {
            base: 0,
            terms: vec![(v, 1)],
        }
    }

    fn add_const(mut self, k: u64) -> Lin {
        self.base = self.base.saturating_add(k);
        self
    }

    fn add(mut self, other: &Lin) -> Lin {
        self.base = self.base.saturating_add(other.base);
        for &(v, c) in &other.terms {
            match self.terms.binary_search_by(|t| t.0.cmp(&v)) {
                Ok(i) => {
                    if let Some(t) = self.terms.get_mut(i) {
                        t.1 = t.1.saturating_add(c);
                    }
                }
                Err(i) => self.terms.insert(i, (v, c)),
            }
        }
        self
    }

    /// `self · k`.
    fn times(mut self, k: u64) -> Lin {
        if k == 0 {
            return Lin::default();
        }
        self.base = self.base.saturating_mul(k);
        for t in &mut self.terms {
            t.1 = t.1.saturating_mul(k);
        }
        self
    }

    /// `self · num / den`, every coefficient rounded up (an upper bound).
    fn scaled(mut self, num: u64, den: u64) -> Lin {
        let den = den.max(1);
        let up = |x: u64| x.saturating_mul(num).div_ceil(den);
        self.base = up(self.base);
        for t in &mut self.terms {
            t.1 = up(t.1);
        }
        self
    }

    /// Splits off the coefficient of `v`: `(self without v, coefficient of v)`.
    fn take(mut self, v: Var) -> (Lin, u64) {
        match self.terms.binary_search_by(|t| t.0.cmp(&v)) {
            Ok(i) => {
                let (_, c) = self.terms.remove(i);
                (self, c)
            }
            Err(_) => (self, 0),
        }
    }

    /// The form's value when every field is at its bound (`field`) and every item at
    /// `item_len[level]`.
    fn eval(&self, field: &dyn Fn(FieldRef) -> u64, item_len: &[u64]) -> u64 {
        self.terms.iter().fold(self.base, |acc, &(v, c)| {
            let len = match v {
                Var::Field(f) => field(f),
                Var::Item(k) => item_len.get(usize::from(k)).copied().unwrap_or(u64::MAX),
            };
            acc.saturating_add(c.saturating_mul(len))
        })
    }
}

fn fold_if(fold: bool, l: Lin) -> Lin {
    if fold {
        l.scaled(FOLD_NUM, FOLD_DEN)
    } else {
        l
    }
}

/// `n` x 3/2, rounded up, saturating.
pub(crate) fn folded(n: u64) -> u64 {
    (n / FOLD_DEN)
        .saturating_mul(FOLD_NUM)
        .saturating_add((n % FOLD_DEN * FOLD_NUM).div_ceil(FOLD_DEN))
}

/// The bounds of field requirement `f` as rule `rid` reads it (for a rule on several event
/// types, the largest over them).
pub(crate) fn field_bound(cx: &Cx<'_>, rid: RuleId, f: FieldRef, mode: Bounds) -> Bound {
    let Some(req) = cx.program.fields.get(f.0 as usize) else {
        return Bound {
            len: u64::MAX,
            items: u64::MAX,
            total: u64::MAX,
        };
    };
    let host = |bf: crate::bind::BoundField| Bound {
        len: u64::from(bf.max_len),
        items: u64::from(bf.max_items),
        total: if req.ty.is_list() {
            u64::from(bf.max_total_len)
        } else {
            u64::from(bf.max_len)
        },
    };
    let mut b = cx.binding.field(f).map_or(Bound::default(), host);
    for &ev in cx.binding.rule_events(rid) {
        if let Some(bf) = cx.binding.field_on(f, ev) {
            let h = host(bf);
            b.len = b.len.max(h.len);
            b.items = b.items.max(h.items);
            b.total = b.total.max(h.total);
        }
    }
    if mode == Bounds::Assumed {
        // The bundle records `max_len` and `max_items`: its items held at most their product
        // (and no more than the host allows in all).
        b.len = u64::from(req.max_len);
        b.items = u64::from(req.max_items);
        b.total = if req.ty.is_list() {
            b.total.min(b.len.saturating_mul(b.items))
        } else {
            b.len
        };
    }
    b
}

/// A node's length bounds as forms.
#[derive(Clone, Debug, Default)]
struct LenBound {
    /// Bytes of a string, or of all items of a list together.
    len: Lin,
    /// Items of a list.
    items: u64,
}

/// One rule's cost and the literal tests it leaves to the prefilter.
pub(crate) struct RuleSteps {
    /// The rule's cost as a form over its fields.
    pub(crate) lin: Lin,
    /// `(field, folded, literal)` of each literal the prefilter scans for on the rule's
    /// behalf: literal tests' patterns, and the prefixes it takes from regexes over a field.
    pub(crate) literals: Vec<(FieldRef, bool, String)>,
    /// Per node: its cost (a form) and how many times its parent runs it per event.
    costs: Vec<Lin>,
}

/// The cost of one (already structurally verified) rule as a form over its fields.
pub(crate) fn rule_steps(
    cx: &Cx<'_>,
    regexes: &[Matcher],
    rid: RuleId,
    rule: &Rule,
    mode: Bounds,
) -> RuleSteps {
    let n = rule.exprs.len();
    let mut walk = Walk {
        cx,
        regexes,
        rid,
        rule,
        mode,
        lens: Vec::with_capacity(n),
        costs: Vec::with_capacity(n),
        literals: Vec::new(),
    };
    for expr in &rule.exprs {
        let lb = walk.len_bound(expr);
        // Cost: own work plus operands (a quantifier closes its body instead).
        let mut operands = Lin::default();
        if !matches!(expr.kind, ExprKind::Quant { .. }) {
            expr.kind.for_each_operand(|o| {
                operands = std::mem::take(&mut operands).add(&walk.cost_of(o))
            });
        }
        let own = walk.own_cost(expr);
        walk.lens.push(lb);
        walk.costs.push(own.add(&operands));
    }
    RuleSteps {
        lin: walk.total(),
        literals: walk.literals,
        costs: walk.costs,
    }
}

/// One rule's bottom-up pass: the length bound and cost of each node so far (an operand's
/// are always there: operands precede their nodes), and the literals left to the prefilter.
struct Walk<'a, 'p> {
    cx: &'a Cx<'p>,
    regexes: &'a [Matcher],
    rid: RuleId,
    rule: &'a Rule,
    mode: Bounds,
    lens: Vec<LenBound>,
    costs: Vec<Lin>,
    literals: Vec<(FieldRef, bool, String)>,
}

fn unbounded() -> Lin {
    Lin::constant(u64::MAX)
}

impl Walk<'_, '_> {
    fn len_of(&self, e: ExprId) -> LenBound {
        self.lens.get(e.0 as usize).cloned().unwrap_or(LenBound {
            len: Lin::constant(u64::MAX),
            items: u64::MAX,
        })
    }

    fn cost_of(&self, e: ExprId) -> Lin {
        self.costs.get(e.0 as usize).cloned().unwrap_or(unbounded())
    }

    /// The field node `e` reads, when it is a read of a `string` field.
    fn str_field(&self, e: ExprId) -> Option<FieldRef> {
        match self.rule.exprs.get(e.0 as usize) {
            Some(x) if x.ty == Ty::STR => match x.kind {
                ExprKind::Field(f) => Some(f),
                _ => None,
            },
            _ => None,
        }
    }

    /// The smaller of two forms (`min(a, b)` is at most either, so either is a sound bound),
    /// judged with every field at its bound and every quantifier item at 64 KiB.
    fn smaller(&self, a: Lin, b: Lin) -> Lin {
        let at = |l: &Lin| {
            l.eval(
                &|f| field_bound(self.cx, self.rid, f, self.mode).total,
                &[u64::from(u16::MAX); 16],
            )
        };
        if at(&a) <= at(&b) {
            a
        } else {
            b
        }
    }

    /// Node `expr`'s length bound: bytes of a string (or of a list's items together) and
    /// items of a list.
    fn len_bound(&self, expr: &Expr) -> LenBound {
        let p = self.cx.program;
        match &expr.kind {
            ExprKind::Str(s) => LenBound {
                len: Lin::constant(p.strings.get(s.0 as usize).map_or(0, |s| s.len() as u64)),
                items: 0,
            },
            ExprKind::List(l) => {
                let (total, items) = p.lists.get(l.0 as usize).map_or((0, 0), |list| {
                    let total = list
                        .items
                        .iter()
                        .map(|c| match c {
                            crate::ir::Const::Str(s) => s.len() as u64,
                            _ => 0,
                        })
                        .fold(0u64, u64::saturating_add);
                    (total, list.items.len() as u64)
                });
                LenBound {
                    len: Lin::constant(total),
                    items,
                }
            }
            ExprKind::Field(f) => LenBound {
                len: Lin::var(Var::Field(*f)),
                items: field_bound(self.cx, self.rid, *f, self.mode).items,
            },
            ExprKind::Captured(_) => LenBound {
                len: Lin::constant(match &self.rule.kind {
                    RuleKind::Sequence(seq) | RuleKind::SequenceAnyOrder(seq) => {
                        u64::from(seq.state.capture_len)
                    }
                    _ => 0,
                }),
                items: 0,
            },
            ExprKind::Local(l) => LenBound {
                len: Lin::var(Var::Item(l.0)),
                items: 0,
            },
            ExprKind::Call { builtin, args } => {
                let id = self
                    .cx
                    .binding
                    .builtin(*builtin)
                    .unwrap_or(BuiltinId(u16::MAX));
                let arg = |i: u8| {
                    args.get(usize::from(i))
                        .map_or(unbounded(), |a| self.len_of(*a).len)
                };
                let len = match (expr.ty, builtins::get(id).map(|b| b.ret_len)) {
                    (Ty::Scalar(Scalar::Str), Some(RetLen::AtMostArg(i))) => arg(i),
                    (Ty::Scalar(Scalar::Str), Some(RetLen::Scaled { arg: i, num, den })) => {
                        arg(i).scaled(num, den)
                    }
                    (Ty::Scalar(Scalar::Str), _) => unbounded(),
                    _ => Lin::default(),
                };
                // No builtin returns a list today; one that did would need an item bound.
                let items = if expr.ty.is_list() { u64::MAX } else { 0 };
                LenBound { len, items }
            }
            _ => LenBound::default(),
        }
    }

    /// Node `expr`'s own steps, beyond its operands' (a quantifier's include its list and its
    /// body closed over the list). Records the literals it leaves to the prefilter.
    fn own_cost(&mut self, expr: &Expr) -> Lin {
        let exprs = &self.rule.exprs;
        match &expr.kind {
            ExprKind::Cmp(_, a, c) if exprs.get(a.0 as usize).is_some_and(|x| x.ty == Ty::STR) => {
                self.smaller(self.len_of(*a).len, self.len_of(*c).len)
                    .add_const(NODE_STEPS)
            }
            ExprKind::StrTest { op, fold, lhs, rhs } => self.str_test_cost(*op, *fold, *lhs, *rhs),
            ExprKind::StrList {
                op,
                fold,
                lhs,
                list,
                ..
            } => self.str_list_cost(*op, *fold, *lhs, *list),
            ExprKind::Member { list, fold, .. } => {
                let l = self.len_of(*list);
                fold_if(*fold, l.len)
                    .add_const(l.items)
                    .add_const(NODE_STEPS)
            }
            ExprKind::Matches { lhs, regex } => self.matches_cost(*lhs, *regex),
            ExprKind::Call { builtin, args } => self.call_cost(*builtin, args),
            ExprKind::Quant {
                local, list, body, ..
            } => {
                let l = self.len_of(*list);
                let (rest, per_item_byte) = self.cost_of(*body).take(Var::Item(local.0));
                self.cost_of(*list)
                    .add(&rest.add_const(1).times(l.items))
                    .add(&l.len.times(per_item_byte))
                    .add_const(NODE_STEPS)
            }
            _ => Lin::constant(NODE_STEPS),
        }
    }

    /// A string test: a literal test (a `string` field against a constant) leaves the scan to
    /// the prefilter; any other is charged by [`string_test`].
    fn str_test_cost(&mut self, op: StrTest, fold: bool, lhs: ExprId, rhs: ExprId) -> Lin {
        let p = self.cx.program;
        let pattern = match self.rule.exprs.get(rhs.0 as usize).map(|x| &x.kind) {
            Some(ExprKind::Str(s)) => {
                Some(p.strings.get(s.0 as usize).cloned().unwrap_or_default())
            }
            _ => None,
        };
        match (self.str_field(lhs), pattern) {
            (Some(f), Some(pattern)) => {
                self.literals.push((f, fold, pattern));
                Lin::constant(LITERAL_PATTERN_STEPS)
            }
            _ => string_test(
                op,
                fold,
                self.len_of(lhs).len,
                self.len_of(rhs).len,
                &|a, b| self.smaller(a, b),
            ),
        }
    }

    /// A string test against each item of constant list `list`: over a `string` field, the
    /// items are literals for the prefilter; otherwise one automaton pass (`contains`) or one
    /// test per item.
    fn str_list_cost(&mut self, op: StrTest, fold: bool, lhs: ExprId, list: ListId) -> Lin {
        let p = self.cx.program;
        let items = p
            .lists
            .get(list.0 as usize)
            .map_or(&[][..], |l| l.items.as_slice());
        let k = items.len() as u64;
        if let Some(f) = self.str_field(lhs) {
            for item in items {
                if let crate::ir::Const::Str(t) = item {
                    self.literals.push((f, fold, t.clone()));
                }
            }
            return Lin::constant(
                k.saturating_mul(LITERAL_PATTERN_STEPS)
                    .saturating_add(NODE_STEPS),
            );
        }
        let subject = self.len_of(lhs).len;
        let lens_c = items.iter().map(|c| match c {
            crate::ir::Const::Str(t) => t.len() as u64,
            _ => 0,
        });
        if op == StrTest::Contains {
            // One automaton pass over the subject, plus building it.
            let patterns = lens_c
                .map(|m| folded_if(fold, m))
                .fold(0u64, u64::saturating_add);
            fold_if(fold, subject)
                .add_const(patterns)
                .add_const(k)
                .add_const(NODE_STEPS)
        } else {
            lens_c.fold(Lin::constant(NODE_STEPS), |acc, m| {
                acc.add(&string_test(
                    op,
                    fold,
                    subject.clone(),
                    Lin::constant(m),
                    &|a, b| self.smaller(a, b),
                ))
            })
        }
    }

    /// `matches`: the pattern's engine's steps per subject byte, plus its base. The prefilter
    /// scans a field for the regex's prefixes (folded).
    fn matches_cost(&mut self, lhs: ExprId, regex: RegexId) -> Lin {
        if let (Some(f), Some(pattern)) = (
            self.str_field(lhs),
            self.cx.program.regexes.get(regex.0 as usize),
        ) {
            for l in crate::prefilter::require::regex_literals(pattern).unwrap_or_default() {
                self.literals.push((f, true, l));
            }
        }
        let per_byte = self
            .regexes
            .get(regex.0 as usize)
            .map_or(u64::MAX, Matcher::steps_per_byte);
        self.len_of(lhs)
            .len
            .times(per_byte)
            .add_const(REGEX_BASE_STEPS)
            .add_const(NODE_STEPS)
    }

    /// A builtin call: its declared cost over its arguments' bounds.
    fn call_cost(&self, builtin: CallId, args: &[ExprId]) -> Lin {
        let Some(def) = self.cx.binding.builtin(builtin).and_then(builtins::get) else {
            return unbounded();
        };
        let arg = |i: u8| {
            args.get(usize::from(i)).map_or(
                LenBound {
                    len: unbounded(),
                    items: u64::MAX,
                },
                |a| self.len_of(*a),
            )
        };
        let mut c = Lin::constant(def.cost.base.saturating_add(NODE_STEPS));
        for &(i, k) in def.cost.per_byte {
            c = c.add(&arg(i).len.times(k));
        }
        for &(i, k) in def.cost.per_item {
            c = c.add_const(arg(i).items.saturating_mul(k));
        }
        c
    }

    /// Steps of printing node `e` into an alert.
    fn print(&self, e: ExprId) -> Lin {
        let bound = self.len_of(e);
        match self.rule.exprs.get(e.0 as usize).map(|x| x.ty) {
            Some(Ty::Scalar(Scalar::Str)) => bound.len,
            Some(Ty::List(_)) => bound
                .len
                .add_const(bound.items.saturating_mul(PRINT_SCALAR_STEPS)),
            _ => Lin::constant(PRINT_SCALAR_STEPS),
        }
    }

    /// The rule's cost: its roots' (condition(s), `emit` parts, alert fields, with the bytes
    /// the alert prints) and the engine's fixed work per rule.
    fn total(&self) -> Lin {
        let rule = self.rule;
        let mut total = Lin::default();
        let mut add = |l: &Lin| total = std::mem::take(&mut total).add(l);
        match &rule.kind {
            RuleKind::Single { cond, .. } => {
                if let Some(c) = cond {
                    add(&self.cost_of(*c));
                }
            }
            RuleKind::Threshold(t) => {
                if let Some(c) = t.cond {
                    add(&self.cost_of(c));
                }
            }
            RuleKind::Sequence(seq) | RuleKind::SequenceAnyOrder(seq) => seq
                .steps
                .iter()
                .filter_map(|st| st.cond)
                .for_each(|c| add(&self.cost_of(c))),
        }
        for part in &rule.emit {
            if let TemplatePart::Expr(e) = part {
                add(&self.cost_of(*e));
                add(&self.print(*e));
            }
        }
        for (_, e) in &rule.fields {
            add(&self.cost_of(*e));
            add(&self.print(*e));
        }
        // The engine's own work for the rule: the call into the evaluator and, when it fires,
        // building and delivering the alert (beyond the bytes printed, counted above).
        add(&Lin::constant(
            RULE_FRAME_STEPS.saturating_add(ALERT_FRAME_STEPS),
        ));
        total
    }
}

fn folded_if(fold: bool, n: u64) -> u64 {
    if fold {
        folded(n)
    } else {
        n
    }
}

/// Steps of one string test of a subject of at most `n` bytes against a pattern of at most
/// `m`: `contains` scans the subject (and the pattern); `==`, `startswith` and `endswith`
/// compare at most the pattern's length of the subject (3 x that under folding, which can
/// shrink a character to a third of its bytes).
fn string_test(op: StrTest, fold: bool, n: Lin, m: Lin, smaller: &dyn Fn(Lin, Lin) -> Lin) -> Lin {
    let work = match op {
        StrTest::Contains => fold_if(fold, n).add(&fold_if(fold, m)),
        StrTest::Eq | StrTest::StartsWith | StrTest::EndsWith => {
            let window = if fold { m.clone().times(3) } else { m.clone() };
            fold_if(fold, smaller(n, window)).add(&fold_if(fold, m))
        }
    };
    work.add_const(NODE_STEPS)
}

/// The bounds a form's fields take on event type `ev` (or, for `None`, over the rule's events).
struct Resolved {
    base: u64,
    /// Per host field of the event (or per requirement not on it): the summed coefficient and
    /// the field's bound in bytes.
    slopes: Slopes,
}

/// Per field: `(steps per byte, the field's largest length)`.
type Slopes = BTreeMap<(bool, u32), (u64, u64)>;

fn add_slope(slopes: &mut Slopes, key: (bool, u32), c: u64, cap: u64) {
    let slot = slopes.entry(key).or_insert((0, cap));
    slot.0 = slot.0.saturating_add(c);
    slot.1 = slot.1.max(cap);
}

/// Resolves rule `rid`'s form on event type `ev`: requirements mapped to the host field they
/// read there (two requirements on one field add up), small fields charged at their bound.
fn resolve(cx: &Cx<'_>, rid: RuleId, lin: &Lin, ev: EventTypeId, mode: Bounds) -> Resolved {
    let mut base = lin.base;
    let mut slopes = Slopes::new();
    for &(v, c) in &lin.terms {
        match v {
            Var::Field(f) => {
                let b = field_bound(cx, rid, f, mode);
                let on = cx.binding.field_on(f, ev);
                let bound = match on {
                    Some(bf) => {
                        let is_list = cx
                            .program
                            .fields
                            .get(f.0 as usize)
                            .is_some_and(|r| r.ty.is_list());
                        if mode == Bounds::Assumed {
                            b.total
                        } else if is_list {
                            u64::from(bf.max_total_len)
                        } else {
                            u64::from(bf.max_len)
                        }
                    }
                    None => b.total,
                };
                if bound <= SMALL_FIELD_BYTES {
                    base = base.saturating_add(c.saturating_mul(bound));
                } else {
                    let key = match on {
                        Some(bf) => (true, u32::from(bf.index.0)),
                        None => (false, f.0),
                    };
                    add_slope(&mut slopes, key, c, bound);
                }
            }
            // An item symbol left open (the structure pass forbids it): unbounded.
            Var::Item(_) => base = u64::MAX,
        }
    }
    Resolved { base, slopes }
}

fn linear(base: u64, slopes: &Slopes, max_event_bytes: u64) -> LinearBound {
    // The worst case at `max_event_bytes`: bytes to the steepest fields first.
    let mut by_slope: Vec<(u64, u64)> = slopes.values().copied().collect();
    by_slope.sort_unstable_by_key(|s| std::cmp::Reverse(s.0));
    let mut left = max_event_bytes;
    let mut max_steps = base;
    for (c, cap) in by_slope {
        let take = cap.min(left);
        max_steps = max_steps.saturating_add(c.saturating_mul(take));
        left -= take;
    }
    LinearBound {
        base_steps: base,
        steps_per_byte: slopes.values().map(|s| s.0).max().unwrap_or(0),
        max_event_bytes,
        max_steps,
    }
}

/// The cost report of a structurally verified program whose patterns compiled to `regexes`.
pub(crate) fn report(cx: &Cx<'_>, regexes: &[Matcher], mode: Bounds) -> CostReport {
    let p = cx.program;
    let mut rules = Vec::with_capacity(p.rules.len());
    let mut events: BTreeMap<EventTypeId, EventAcc> = BTreeMap::new();
    let mut state_bytes: u64 = 0;
    for (i, rule) in p.rules.iter().enumerate() {
        let rid = RuleId(u32::try_from(i).unwrap_or(u32::MAX));
        let r = rule_steps(cx, regexes, rid, rule, mode);
        let lin = r
            .lin
            .clone()
            .add_const(state::update_steps(cx, rid, rule, mode));
        let st = state::rule_bytes(cx, rid, rule, mode);
        state_bytes = state_bytes.saturating_add(st);
        let mut rb = LinearBound::default();
        for &ev in cx.binding.rule_events(rid) {
            let res = resolve(cx, rid, &lin, ev, mode);
            let n = u64::from(cx.binding.max_event_bytes(ev));
            let b = linear(res.base, &res.slopes, n);
            rb.base_steps = rb.base_steps.max(b.base_steps);
            rb.steps_per_byte = rb.steps_per_byte.max(b.steps_per_byte);
            rb.max_event_bytes = rb.max_event_bytes.max(n);
            rb.max_steps = rb.max_steps.max(b.max_steps);
            events
                .entry(ev)
                .or_default()
                .add_rule(cx, ev, rid, res, &r.literals);
        }
        rules.push(RuleCost {
            rule: rid,
            bound: rb,
            steps: rb.max(),
            state_bytes: st,
        });
    }
    let events = events
        .into_iter()
        .map(|(ev, acc)| acc.finish(cx, ev))
        .collect();
    CostReport {
        rules,
        events,
        state_bytes,
    }
}

/// One event type's cost as [`report`] gathers it from the rules that run on it.
#[derive(Default)]
struct EventAcc {
    base: u64,
    slopes: Slopes,
    rules: Vec<RuleId>,
    /// The (field, folded) scans of the prefilter.
    prefilter: std::collections::BTreeSet<(FieldIndex, bool)>,
    /// Per (field, folded): the literals scanned for.
    literal_sets: BTreeMap<(FieldIndex, bool), std::collections::BTreeSet<String>>,
}

impl EventAcc {
    /// Adds rule `rid`, whose form resolved on event type `ev` is `res` and which leaves
    /// `literals` to the prefilter.
    fn add_rule(
        &mut self,
        cx: &Cx<'_>,
        ev: EventTypeId,
        rid: RuleId,
        res: Resolved,
        literals: &[(FieldRef, bool, String)],
    ) {
        self.base = self.base.saturating_add(res.base);
        for (k, (c, cap)) in res.slopes {
            add_slope(&mut self.slopes, k, c, cap);
        }
        self.rules.push(rid);
        for (f, fold, lit) in literals {
            if let Some(bf) = cx.binding.field_on(*f, ev) {
                self.prefilter.insert((bf.index, *fold));
                let lit = if *fold {
                    lit.to_ascii_lowercase()
                } else {
                    lit.clone()
                };
                self.literal_sets
                    .entry((bf.index, *fold))
                    .or_default()
                    .insert(lit);
            }
        }
    }

    /// The event type's cost: its rules, the prefilter's scans and the frame.
    fn finish(mut self, cx: &Cx<'_>, ev: EventTypeId) -> EventCost {
        let n = u64::from(cx.binding.max_event_bytes(ev));
        let event_type = cx.binding.event_name(ev).to_string();
        let mut prefilter = Vec::new();
        let mut prefilter_steps: u64 = 0;
        for &(index, folded_scan) in &self.prefilter {
            // The field's scan covers every literal of both foldings.
            let all: Vec<&String> = [true, false]
                .iter()
                .filter_map(|&f| self.literal_sets.get(&(index, f)))
                .flatten()
                .collect();
            let per = scan_steps_per_byte(&all);
            let per = if folded_scan { folded(per) } else { per };
            let max_len = field_max_len(cx, ev, index);
            let steps = per.saturating_mul(max_len.min(n));
            prefilter_steps = prefilter_steps.saturating_add(steps);
            if max_len <= SMALL_FIELD_BYTES {
                self.base = self.base.saturating_add(steps);
            } else {
                add_slope(&mut self.slopes, (true, u32::from(index.0)), per, max_len);
            }
            prefilter.push(PrefilterField {
                index,
                folded: folded_scan,
                steps_per_byte: per,
                steps,
            });
        }
        let bound = linear(self.base.saturating_add(EVENT_FRAME_STEPS), &self.slopes, n);
        EventCost {
            event: ev,
            name: event_type,
            bound,
            prefilter_steps,
            prefilter,
            rules: self.rules,
            total_steps: bound.max(),
        }
    }
}

/// Prefilter steps per byte of one field's scan for `literals`: a set over
/// [`PREFILTER_GRAM_PATTERNS`] runs on the gram searcher ([`PREFILTER_GRAM_BYTE_STEPS`]);
/// a smaller one on aho-corasick, [`PREFILTER_AC_BYTE_STEPS`] per byte plus
/// [`PREFILTER_HIT_STEPS`] per hit, where the hits per byte are at most `Σ 1 / period(l)` (a
/// literal whose shortest period is `p` occurs at most once every `p` bytes) and at most 1.
fn scan_steps_per_byte(literals: &[&String]) -> u64 {
    if literals.len() > PREFILTER_GRAM_PATTERNS {
        return PREFILTER_GRAM_BYTE_STEPS;
    }
    // Hits per byte, in 1/1000ths.
    let density: u64 = literals
        .iter()
        .map(|l| 1000u64.div_ceil(period(l.as_bytes()).max(1) as u64))
        .sum::<u64>()
        .min(1000);
    PREFILTER_AC_BYTE_STEPS + (PREFILTER_HIT_STEPS * density).div_ceil(1000)
}

/// The shortest period of `s`: the least `p >= 1` with `s[i] == s[i + p]` wherever both
/// exist (`len - ` the longest proper border, by the KMP failure function).
fn period(s: &[u8]) -> usize {
    let n = s.len();
    if n == 0 {
        return 1;
    }
    let mut fail = vec![0usize; n];
    let mut k = 0;
    for i in 1..n {
        while k > 0 && s.get(i) != s.get(k) {
            k = fail.get(k - 1).copied().unwrap_or(0);
        }
        if s.get(i) == s.get(k) {
            k += 1;
        }
        if let Some(slot) = fail.get_mut(i) {
            *slot = k;
        }
    }
    n - fail.get(n - 1).copied().unwrap_or(0)
}

/// The host's `max_len` of field `index` of event type `ev` (its `max_total_len` for a list).
fn field_max_len(cx: &Cx<'_>, ev: EventTypeId, index: FieldIndex) -> u64 {
    cx.binding
        .field_def(ev, index)
        .map_or(u64::MAX, |(len, total)| u64::from(len.max(total)))
}

/// The node that dominates rule `rid`'s cost: descending from its roots, the deepest node
/// whose cost (times the items its quantifiers run it for) is at least half the rule's, with
/// its share in percent.
pub(crate) fn dominant_node(
    cx: &Cx<'_>,
    regexes: &[Matcher],
    rid: RuleId,
    rule: &Rule,
) -> Option<(ExprId, u64)> {
    let r = rule_steps(cx, regexes, rid, rule, Bounds::Host);
    let n = cx
        .binding
        .rule_events(rid)
        .iter()
        .map(|&ev| u64::from(cx.binding.max_event_bytes(ev)))
        .max()
        .unwrap_or(0);
    let field = |f: FieldRef| field_bound(cx, rid, f, Bounds::Host).total.min(n);
    let items_of = |e: ExprId| -> u64 {
        match rule.exprs.get(e.0 as usize).map(|x| &x.kind) {
            Some(ExprKind::Field(f)) => field_bound(cx, rid, *f, Bounds::Host).items,
            Some(ExprKind::List(l)) => cx
                .program
                .lists
                .get(l.0 as usize)
                .map_or(0, |l| l.items.len() as u64),
            _ => 1,
        }
    };
    let item_len = [n; 16];
    let total = r.lin.eval(&field, &item_len).max(1);
    let at = |e: ExprId, mult: u64| {
        r.costs
            .get(e.0 as usize)
            .map_or(0, |c| c.eval(&field, &item_len))
            .saturating_mul(mult)
    };
    let roots = rule.roots();
    let (mut node, mut mult) = roots
        .iter()
        .map(|&e| (e, 1u64))
        .max_by_key(|&(e, m)| at(e, m))?;
    if at(node, mult).saturating_mul(2) < total {
        return None;
    }
    while let Some(expr) = rule.exprs.get(node.0 as usize) {
        let mut best: Option<(ExprId, u64)> = None;
        let mut consider = |e: ExprId, m: u64| {
            if best.is_none_or(|(b, bm)| at(e, m) > at(b, bm)) {
                best = Some((e, m));
            }
        };
        match &expr.kind {
            ExprKind::Quant { list, body, .. } => {
                consider(*list, mult);
                consider(*body, mult.saturating_mul(items_of(*list)));
            }
            other => other.for_each_operand(|o| consider(o, mult)),
        }
        match best {
            Some((e, m)) if at(e, m).saturating_mul(2) >= total => {
                node = e;
                mult = m;
            }
            _ => break,
        }
    }
    let share = at(node, mult).saturating_mul(100) / total;
    Some((node, share.min(100)))
}

/// The regex nodes of a rule whose pattern runs on a PikeVM, with the pattern's id.
fn pike_regexes(rule: &Rule, regexes: &[Matcher]) -> Vec<(ExprId, usize)> {
    rule.exprs
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e.kind {
            ExprKind::Matches { regex, .. }
                if regexes
                    .get(regex.0 as usize)
                    .is_some_and(|m| m.kind() == MatcherKind::PikeVm) =>
            {
                Some((
                    ExprId(u32::try_from(i).unwrap_or(u32::MAX)),
                    regex.0 as usize,
                ))
            }
            _ => None,
        })
        .collect()
}

/// `B + S x n (T at N bytes)`.
fn show(b: &LinearBound) -> String {
    format!(
        "{} + {} x n steps per event ({} at {} bytes)",
        b.base_steps,
        b.steps_per_byte,
        b.max(),
        b.max_event_bytes
    )
}

/// Checks a host-bounds report against the budget. A failure that the bundle's own assumed
/// bounds would pass is reported as [`ErrorCode::HostBoundsBreakProof`], naming the fields the host
/// bounds more loosely. A rule over budget is reported at the node that dominates its cost
/// (with its share), and at a regex that only a PikeVM runs when that regex alone is over the
/// slope budget ([`ErrorCode::RegexCostOverBudget`]).
pub(crate) fn check_budget(
    cx: &Cx<'_>,
    regexes: &[Matcher],
    report: &CostReport,
    errors: &mut Vec<VerifyError>,
) {
    let budget = cx.budget;
    let over = report
        .rules
        .iter()
        .any(|r| rule_over(budget, &r.bound) || r.state_bytes > budget.max_rule_state_bytes)
        || report.events.iter().any(|e| event_over(budget, &e.bound))
        || report.state_bytes > budget.max_state_bytes;
    if !over {
        return;
    }
    // Under the bounds the bundle assumed: a failure that passes there is the host's doing.
    let assumed = self::report(cx, regexes, Bounds::Assumed);
    for rc in &report.rules {
        let Some(rule) = cx.program.rules.get(rc.rule.0 as usize) else {
            continue;
        };
        if rule_over(budget, &rc.bound) {
            errors.push(rule_cost_error(cx, regexes, &assumed, rc, rule));
        }
        if rc.state_bytes > budget.max_rule_state_bytes {
            errors.push(rule_state_error(cx, &assumed, rc, rule));
        }
    }
    for ec in &report.events {
        if event_over(budget, &ec.bound) {
            errors.push(event_cost_error(cx, regexes, report, &assumed, ec));
        }
    }
    if report.state_bytes > budget.max_state_bytes {
        errors.push(bundle_state_error(cx, report, &assumed));
    }
}

fn rule_over(budget: &Budget, b: &LinearBound) -> bool {
    b.base_steps > budget.max_rule_base_steps
        || b.steps_per_byte > budget.max_rule_steps_per_byte
        || b.max() > budget.max_rule_cost
}

fn event_over(budget: &Budget, b: &LinearBound) -> bool {
    b.base_steps > budget.max_event_base_steps
        || b.steps_per_byte > budget.max_event_steps_per_byte
        || b.max() > budget.max_event_cost
}

/// The rule budget as messages print it, at an event of `n` bytes.
fn rule_budget(budget: &Budget, n: u64) -> String {
    format!(
        "{} + {} x n ({} at {} bytes)",
        budget.max_rule_base_steps, budget.max_rule_steps_per_byte, budget.max_rule_cost, n
    )
}

/// Rule `rule` (cost `rc`) is over the rule budget: the host's looser bounds, a regex only a
/// PikeVM runs, or else the rule, at the node that dominates its cost.
fn rule_cost_error(
    cx: &Cx<'_>,
    regexes: &[Matcher],
    assumed: &CostReport,
    rc: &RuleCost,
    rule: &Rule,
) -> VerifyError {
    let budget = cx.budget;
    let passes = assumed
        .rules
        .get(rc.rule.0 as usize)
        .is_some_and(|a| !rule_over(budget, &a.bound));
    let loose = loose_fields(cx, rc.rule, rule);
    // A regex that only a PikeVM runs, alone over the slope budget.
    let pike = pike_regexes(rule, regexes).into_iter().find(|&(_, ix)| {
        regexes
            .get(ix)
            .is_some_and(|m| m.steps_per_byte() > budget.max_rule_steps_per_byte)
    });
    if passes && !loose.is_empty() {
        cx.err(
            ErrorCode::HostBoundsBreakProof,
            rc.rule,
            None,
            format!(
                "host bounds {}, and the cost proof fails under them: the rule takes up \
                 to {}, the budget is {}",
                loose.join("; "),
                show(&rc.bound),
                rule_budget(budget, rc.bound.max_event_bytes)
            ),
        )
    } else if let Some((node, ix)) = pike {
        regex_cost_error(cx, regexes, rc, node, ix)
    } else {
        let dominant = dominant_node(cx, regexes, rc.rule, rule);
        let share = dominant.map_or(String::new(), |(_, pct)| {
            format!("; this part is {pct}% of it")
        });
        cx.err(
            ErrorCode::RuleCostOverBudget,
            rc.rule,
            dominant.map(|(e, _)| e),
            format!(
                "the rule takes up to {}, the budget is {}{share}",
                show(&rc.bound),
                rule_budget(budget, rc.bound.max_event_bytes)
            ),
        )
    }
}

/// Regex `ix`, matched at `node` and run by a PikeVM only, puts the rule over its slope
/// budget alone.
fn regex_cost_error(
    cx: &Cx<'_>,
    regexes: &[Matcher],
    rc: &RuleCost,
    node: ExprId,
    ix: usize,
) -> VerifyError {
    let (pattern, states, per) = regexes.get(ix).map_or((String::new(), 0, 0), |m| {
        (
            cx.program.regexes.get(ix).map_or(String::new(), |p| {
                let mut cut: String = p.chars().take(60).collect();
                if cut.len() < p.len() {
                    cut.push('…');
                }
                cut
            }),
            m.nfa_states(),
            m.steps_per_byte(),
        )
    });
    cx.err(
        ErrorCode::RegexCostOverBudget,
        rc.rule,
        Some(node),
        format!(
            "regex `{pattern}` has no DFA within {} bytes and runs on a PikeVM over \
             {states} NFA states: {per} steps per subject byte; the rule takes up to \
             {}, the budget is {}",
            crate::matcher::DFA_SIZE_LIMIT,
            show(&rc.bound),
            rule_budget(cx.budget, rc.bound.max_event_bytes)
        ),
    )
}

/// Rule `rule` (cost `rc`) keeps more state than the rule budget allows.
fn rule_state_error(cx: &Cx<'_>, assumed: &CostReport, rc: &RuleCost, rule: &Rule) -> VerifyError {
    let budget = cx.budget;
    let passes = assumed
        .rules
        .get(rc.rule.0 as usize)
        .is_some_and(|a| a.state_bytes <= budget.max_rule_state_bytes);
    let loose = loose_fields(cx, rc.rule, rule);
    if passes && !loose.is_empty() {
        cx.err(
            ErrorCode::HostBoundsBreakProof,
            rc.rule,
            None,
            format!(
                "host bounds {}, and the state proof fails under them: {} bytes, the \
                 budget is {}",
                loose.join("; "),
                rc.state_bytes,
                budget.max_rule_state_bytes
            ),
        )
    } else {
        cx.err(
            ErrorCode::RuleStateOverBudget,
            rc.rule,
            None,
            format!(
                "the rule keeps up to {} bytes of state, the budget is {}",
                rc.state_bytes, budget.max_rule_state_bytes
            ),
        )
    }
}

/// Event type `ec` is over the event budget: reported at the costliest rule's dominating node,
/// where a fix would start.
fn event_cost_error(
    cx: &Cx<'_>,
    regexes: &[Matcher],
    report: &CostReport,
    assumed: &CostReport,
    ec: &EventCost,
) -> VerifyError {
    let budget = cx.budget;
    let passes = assumed
        .events
        .iter()
        .find(|a| a.event == ec.event)
        .is_some_and(|a| !event_over(budget, &a.bound));
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
    // The rule that costs most on this event type.
    let heaviest = ec
        .rules
        .iter()
        .filter_map(|r| report.rules.get(r.0 as usize))
        .max_by_key(|r| r.steps);
    let heaviest_text = heaviest.map_or(String::new(), |r| {
        let name = cx
            .program
            .rules
            .get(r.rule.0 as usize)
            .map_or("?", |rule| rule.name.as_str());
        format!(
            "; the costliest rule, `{name}`, takes {} ({}%)",
            show(&r.bound),
            r.steps.saturating_mul(100) / ec.total_steps.max(1)
        )
    });
    let message = format!(
        "event type `{}` takes up to {} ({} in the prefilter, over {} rules), the \
         budget is {} + {} x n ({} at {} bytes){heaviest_text}",
        ec.name,
        show(&ec.bound),
        ec.prefilter_steps,
        ec.rules.len(),
        budget.max_event_base_steps,
        budget.max_event_steps_per_byte,
        budget.max_event_cost,
        ec.bound.max_event_bytes
    );
    // Reported at the costliest rule's dominating node, where a fix would start.
    let at_rule = heaviest.map(|r| r.rule);
    let at_node = at_rule.and_then(|rid| {
        cx.program
            .rules
            .get(rid.0 as usize)
            .and_then(|rule| dominant_node(cx, regexes, rid, rule))
            .map(|(e, _)| e)
    });
    let (code, message) = if passes && !loose.is_empty() {
        (
            ErrorCode::HostBoundsBreakProof,
            format!(
                "host bounds {}, and the cost proof fails under them: {message}",
                loose.join("; ")
            ),
        )
    } else {
        (ErrorCode::EventCostOverBudget, message)
    };
    match at_rule {
        Some(rid) => cx.err(code, rid, at_node, message),
        None => Cx::global(code, message),
    }
}

/// The bundle keeps more state than the bundle budget allows.
fn bundle_state_error(cx: &Cx<'_>, report: &CostReport, assumed: &CostReport) -> VerifyError {
    let budget = cx.budget;
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
    if passes && !loose.is_empty() {
        Cx::global(
            ErrorCode::HostBoundsBreakProof,
            format!(
                "host bounds {}, and the state proof fails under them: {message}",
                loose.join("; ")
            ),
        )
    } else {
        Cx::global(ErrorCode::BundleStateOverBudget, message)
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
