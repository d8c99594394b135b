//! Tracing evaluation, for `vigil why` and `vigil test --explain`: the value each node of a
//! rule's condition gave on one event, the fields as the rule read them, and the prefilter's
//! answer for the rule.
//!
//! There is no second evaluator here. [`Interp::trace_root`] runs the interpreter's own
//! evaluation (`Interp::run`) with a per-node record switched on: each value pushed for a
//! node is copied into [`NodeTrace`] (the last value, and how many times the node was
//! evaluated: a quantifier's body once per item). A node with no record was not reached
//! (short-circuit `and`/`or`, a quantifier decided early), except the operands the
//! interpreter reads in place (a constant list or a list field of `in` and of a quantifier, a
//! field passed to a builtin for its truncated flag): those are filled in afterwards, marked
//! [`NodeTrace::in_place`], when their parent was evaluated.
//!
//! Input: a verified program's [`Interp`], a rule, a decoded event (and the prefilter, when the
//! engine runs one). Output: a [`RuleTrace`]. Rendering is the compiler's (`why.rs`); the state
//! of sequences and thresholds is the engine's to report ([`crate::engine::Engine::key_state`]).

use crate::casefold::fold_str;
use crate::eval::EvalError;
use crate::event::Event;
use crate::ir::{ExprId, ExprKind, FieldRef, Rule, RuleId, RuleKind};
use crate::prefilter::{Prefilter, PrefilterAnswer};
use crate::state::CaptureView;
use crate::types::Ty;
use crate::value::Value;

use super::Interp;

/// What one node gave in a traced evaluation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeTrace {
    /// Its last value; `None`: not evaluated.
    pub value: Option<Value<'static>>,
    /// How many times it was evaluated (a quantifier's body: once per item it saw).
    pub visits: u32,
    /// Read in place by its parent rather than evaluated (a constant list, a list field, a
    /// field passed to a builtin): the value shown is what the parent read.
    pub in_place: bool,
}

/// Records value `v` for node `id`.
pub(super) fn record(t: &mut [NodeTrace], id: ExprId, v: &Value<'_>) {
    if let Some(n) = t.get_mut(id.0 as usize) {
        n.value = Some(v.clone().into_owned());
        n.visits = n.visits.saturating_add(1);
    }
}

/// One traced condition: a rule's `when`, a sequence step's, a threshold's.
#[derive(Clone, Debug, PartialEq)]
pub struct CondTrace {
    /// What it is: `when`, or `step NAME`.
    pub label: String,
    /// A sequence step's index.
    pub step: Option<usize>,
    /// Its root node.
    pub root: ExprId,
    /// Whether it held.
    pub value: bool,
    /// Per node of the rule (by id).
    pub nodes: Vec<NodeTrace>,
}

/// A field as the rule read it on the event.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldTrace {
    /// The field.
    pub field: FieldRef,
    /// Its name.
    pub name: String,
    /// Its slot on the event's type (what the prefilter's literals name).
    pub index: Option<crate::schema::FieldIndex>,
    /// Its type.
    pub ty: Ty,
    /// The event carried it (after the mapping).
    pub present: bool,
    /// Its value was cut to the schema's bound (or had invalid UTF-8 replaced).
    pub truncated: bool,
    /// The value read (its type's empty value when absent).
    pub value: Value<'static>,
    /// The case-folded value, when a folding test reads the field.
    pub folded: Option<String>,
}

/// A rule traced on one event.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleTrace {
    /// The rule.
    pub rule: RuleId,
    /// The rule runs on the event's type.
    pub watched: bool,
    /// The conditions that apply to the event: a single rule's or a threshold's `when` (none
    /// when it has no condition), each sequence step of the event's type.
    pub conds: Vec<CondTrace>,
    /// The fields the traced conditions read, in field order.
    pub fields: Vec<FieldTrace>,
    /// The prefilter's answer (single-event rules, when a prefilter is given).
    pub prefilter: Option<PrefilterAnswer>,
}

impl RuleTrace {
    /// A single-event rule's verdict from the trace: it runs on the event's type and its
    /// condition (if any) held. (Stateful rules fire by their state: ask the engine.)
    pub fn holds(&self) -> bool {
        self.watched && self.conds.iter().all(|c| c.value)
    }
}

impl Interp {
    /// Evaluates node `root` of rule `rule` on `event` (with `captures` for `Captured`), as
    /// [`Interp::eval_root`] does, recording each node's value.
    pub fn trace_root(
        &self,
        rule: RuleId,
        root: ExprId,
        event: &Event<'_>,
        captures: Option<&CaptureView<'_>>,
    ) -> Result<(bool, Vec<NodeTrace>), EvalError> {
        let r = self.rule(rule)?;
        let empty = vec![NodeTrace::default(); r.exprs.len()];
        let (v, _, t) = self.run(r, root, event, captures.copied(), Some(empty))?;
        let b = v
            .as_bool()
            .ok_or_else(|| EvalError::Internal("condition is not a bool".into()))?;
        let mut nodes = t.unwrap_or_default();
        self.fill_in_place(r, event, &mut nodes);
        Ok((b, nodes))
    }

    /// The operands read in place by evaluated parents: their values as the parent read them.
    fn fill_in_place(&self, r: &Rule, event: &Event<'_>, nodes: &mut [NodeTrace]) {
        for (i, e) in r.exprs.iter().enumerate() {
            if nodes.get(i).is_none_or(|n| n.value.is_none()) {
                continue;
            }
            let mut in_place = Vec::new();
            match &e.kind {
                ExprKind::Member { list, .. } | ExprKind::Quant { list, .. } => {
                    in_place.push(*list);
                }
                ExprKind::Call { args, .. } => in_place.extend(args.iter().copied()),
                _ => {}
            }
            for id in in_place {
                let Some(op) = r.expr(id) else { continue };
                let v = match &op.kind {
                    ExprKind::List(l) => self
                        .lists
                        .get(l.0 as usize)
                        .map(|p| Value::List(p.values.clone()).into_owned()),
                    ExprKind::Field(f) => Some(self.field_value(*f, op.ty, event).into_owned()),
                    _ => None,
                };
                if let (Some(v), Some(n)) = (v, nodes.get_mut(id.0 as usize)) {
                    if n.value.is_none() {
                        n.value = Some(v);
                        n.in_place = true;
                    }
                }
            }
        }
    }

    /// Traces rule `rule` on `event`: the conditions that apply to the event's type (a
    /// sequence's steps with no captures: a step reading an earlier step's value sees it
    /// absent), the fields they read, and `prefilter`'s answer for a single-event rule.
    pub fn trace_rule(
        &self,
        rule: RuleId,
        event: &Event<'_>,
        prefilter: Option<&Prefilter>,
    ) -> Result<RuleTrace, EvalError> {
        let r = self.rule(rule)?;
        let watched = self.binding.rule_events(rule).contains(&event.ty());
        let ty_name = self.binding.event_name(event.ty());
        let mut roots: Vec<(String, Option<usize>, ExprId)> = Vec::new();
        match &r.kind {
            RuleKind::Single { cond, .. } => {
                roots.extend(cond.map(|c| ("when".to_owned(), None, c)));
            }
            RuleKind::Threshold(t) => roots.extend(t.cond.map(|c| ("when".to_owned(), None, c))),
            RuleKind::Sequence(s) | RuleKind::SequenceAnyOrder(s) => {
                for (i, step) in s.steps.iter().enumerate() {
                    if step.event == ty_name {
                        if let Some(c) = step.cond {
                            roots.push((format!("step {}", step.name), Some(i), c));
                        }
                    }
                }
            }
        }
        let mut conds = Vec::new();
        if watched {
            for (label, step, root) in roots {
                let (value, nodes) = self.trace_root(rule, root, event, None)?;
                conds.push(CondTrace {
                    label,
                    step,
                    root,
                    value,
                    nodes,
                });
            }
        }
        let fields = self.fields_read(r, &conds, event);
        let prefilter = match (&r.kind, prefilter) {
            (RuleKind::Single { .. }, Some(p)) if watched => Some(p.answer(event, rule)),
            _ => None,
        };
        Ok(RuleTrace {
            rule,
            watched,
            conds,
            fields,
            prefilter,
        })
    }

    /// The fields the traced conditions' nodes read, with their values on `event`.
    fn fields_read(&self, r: &Rule, conds: &[CondTrace], event: &Event<'_>) -> Vec<FieldTrace> {
        // Per field: read at all, read by a folding test.
        let mut read: Vec<(FieldRef, bool)> = Vec::new();
        let mut note = |f: FieldRef, folded: bool| match read.iter_mut().find(|(g, _)| *g == f) {
            Some((_, fo)) => *fo |= folded,
            None => read.push((f, folded)),
        };
        for c in conds {
            let mut stack = vec![c.root];
            let mut seen = vec![false; r.exprs.len()];
            while let Some(id) = stack.pop() {
                match seen.get_mut(id.0 as usize) {
                    Some(s) if !*s => *s = true,
                    _ => continue,
                }
                let Some(e) = r.expr(id) else { continue };
                match &e.kind {
                    ExprKind::Field(f) | ExprKind::Exists(f) | ExprKind::Truncated(f) => {
                        note(*f, false);
                    }
                    ExprKind::StrTest {
                        fold: true, lhs, ..
                    }
                    | ExprKind::StrList {
                        fold: true, lhs, ..
                    }
                    | ExprKind::Member {
                        fold: true, lhs, ..
                    } => {
                        if let Some(ExprKind::Field(f)) = r.expr(*lhs).map(|x| &x.kind) {
                            note(*f, true);
                        }
                    }
                    _ => {}
                }
                e.kind.for_each_operand(|o| stack.push(o));
            }
        }
        read.sort_by_key(|(f, _)| *f);
        read.into_iter()
            .filter_map(|(f, folded)| {
                let req = self.program.fields.get(f.0 as usize)?;
                let ix = self.field_index(f, event);
                let present = ix.is_some_and(|ix| event.is_present(ix));
                let truncated = ix.is_some_and(|ix| event.is_truncated(ix));
                let value = self.field_value(f, req.ty, event).into_owned();
                let folded = folded
                    .then(|| value.as_str().map(|s| fold_str(s).into_owned()))
                    .flatten();
                Some(FieldTrace {
                    field: f,
                    name: req.field.clone(),
                    index: ix,
                    ty: req.ty,
                    present,
                    truncated,
                    value,
                    folded,
                })
            })
            .collect()
    }
}
