//! The reference interpreter: runs a verified program's IR over one [`Event`], exactly as
//! LANGUAGE.md defines it. It is the ORACLE the JIT is tested against, so it prefers plain code
//! to clever code; it still avoids allocating per node where that is easy (strings are
//! borrowed from the event and the program, constant lists are prepared once).
//!
//! Input: a [`Verified`] program (taken by reference and copied, so the interpreter owns what it
//! runs); output: per rule and event, a condition's truth ([`Interp::eval_cond`]) or a node's
//! [`Value`] ([`Interp::eval_value`], for `emit` and `fields`). Stateful rules' conditions (a
//! sequence step's, a threshold's) are evaluated from their root node with the partial match's
//! captured values ([`Interp::eval_root`]): `Captured(i)` reads capture `i` of the
//! [`CaptureView`] the state table hands over, through its safe getters (an absent capture
//! reads as its type's empty value, as an absent field does). The JIT reads the very same
//! captures through the view's slots.
//!
//! Evaluation is iterative, never recursive: an explicit task stack visits nodes from the root
//! down (short-circuiting `and`/`or`/quantifiers), with a value stack for operands. Hostile
//! nesting cannot overflow the native stack, whatever the verifier's depth limit. Each node
//! visit and each quantifier iteration counts one step ([`Interp::eval_cond_counted`]); that
//! count never exceeds the verifier's cost bound for the rule, which charges at least one step
//! per node per visit.
//!
//! Semantics: ints wrap; `/` and `%` by zero give 0; `i64::MIN / -1` wraps; `%` takes the sign of
//! the dividend. String tests are case-sensitive unless `fold`, which folds both sides with
//! [`crate::casefold`]. `op any []` is false, `op all []` true. `ip in [cidr]` is a network
//! match (IPv4-mapped IPv6 addresses match IPv4 prefixes); ips compare equal across the mapped
//! and plain forms. Absent fields read as their type's empty value. The operators themselves
//! (arithmetic, comparison, string tests, membership, constants) are [`crate::ops`], which the
//! JIT's helpers and the compiler's constant folder call too; this module only walks the tree.

use std::borrow::Cow;

use crate::bind::Binding;
use crate::builtins::{self, Builtin, ParamTy};
use crate::casefold::fold_str;
use crate::eval::{EngineError, EvalError, Evaluator};
use crate::event::Event;
use crate::ir::{
    CallId, CaptureId, CmpOp, Expr, ExprId, ExprKind, FieldRef, ListId, Program, Quant, Rule,
    RuleId, RuleKind, StrTest,
};
use crate::ops::{self, member_eq, prepare_list, str_test, PreparedList};
use crate::state::CaptureView;
use crate::types::{Scalar, Ty};
use crate::value::Value;
use crate::verify::Verified;

use crate::ops::arith;

pub mod trace;

use trace::NodeTrace;

/// The reference interpreter for one verified program.
#[derive(Clone, Debug)]
pub struct Interp {
    program: Program,
    binding: Binding,
    regexes: Vec<crate::matcher::Matcher>,
    lists: Vec<PreparedList>,
    /// Per `CallId`: the registry row.
    calls: Vec<Option<&'static Builtin>>,
}

/// What a quantifier iterates over.
enum ListSrc<'e> {
    Const(ListId),
    Field(FieldRef),
    Value(Vec<Value<'e>>),
}

/// A running quantifier, at its level.
struct Frame<'e> {
    src: ListSrc<'e>,
    len: usize,
    next: usize,
    current: Value<'e>,
}

enum Task {
    Eval(ExprId),
    /// Continue node `id` at stage `stage`.
    Resume(ExprId, u32),
    /// Push the truncated flag of a field (a `FieldRef` argument of a builtin).
    Truncated(FieldRef),
}

/// One evaluation's working state.
struct Run<'e> {
    tasks: Vec<Task>,
    values: Vec<Value<'e>>,
    frames: Vec<Option<Frame<'e>>>,
    steps: u64,
    /// The captured values `Captured(i)` reads (sequence steps, `emit` of a sequence).
    captures: Option<CaptureView<'e>>,
    /// Per node (by id), the value it gave, when tracing ([`trace`]); `None` otherwise.
    trace: Option<Vec<NodeTrace>>,
}

impl<'e> Run<'e> {
    /// The operand on top of the value stack.
    fn pop(&mut self) -> Result<Value<'e>, EvalError> {
        self.values
            .pop()
            .ok_or_else(|| internal("value stack empty"))
    }

    /// Pushes the value node `id` gave, recording it when tracing.
    fn push_node(&mut self, id: ExprId, v: Value<'e>) {
        if let Some(t) = &mut self.trace {
            trace::record(t, id, &v);
        }
        self.values.push(v);
    }
}

/// Capture `c` of `captures` as a value of type `ty` (its type's empty value when absent).
fn captured_value<'e>(captures: Option<CaptureView<'e>>, c: CaptureId, ty: Ty) -> Value<'e> {
    let i = usize::from(c.0);
    match captures {
        Some(cv) if cv.is_present(i) => match ty {
            Ty::Scalar(Scalar::Bool) => Value::Bool(cv.get_bool(i)),
            Ty::Scalar(Scalar::Int) => Value::Int(cv.get_int(i)),
            Ty::Scalar(Scalar::Str) => Value::Str(Cow::Borrowed(cv.get_str(i))),
            Ty::Scalar(Scalar::Ip) => Value::Ip(cv.get_ip(i)),
            _ => Value::empty(ty),
        },
        _ => Value::empty(ty),
    }
}

fn internal(msg: &str) -> EvalError {
    EvalError::Internal(msg.to_owned())
}

impl Interp {
    /// Prepares `verified` for interpretation: copies the program, its binding and its
    /// compiled regexes, prepares the constant lists and resolves builtins.
    pub fn new(verified: &Verified) -> Result<Interp, EngineError> {
        Interp::from_parts(
            verified.program().clone(),
            verified.binding().clone(),
            verified.regexes().to_vec(),
        )
    }

    /// [`Interp::new`], keeping `verified`'s program, binding and regexes instead of copying
    /// them (an agent loading a large bundle then holds one copy, not two).
    pub fn from_verified(verified: Verified) -> Result<Interp, EngineError> {
        let (program, binding, regexes) = verified.into_parts();
        Interp::from_parts(program, binding, regexes)
    }

    fn from_parts(
        program: Program,
        binding: Binding,
        regexes: Vec<crate::matcher::Matcher>,
    ) -> Result<Interp, EngineError> {
        if regexes.len() != program.regexes.len() {
            return Err(EngineError::Internal(
                "regex table does not match the program".into(),
            ));
        }
        let lists = program.lists.iter().map(prepare_list).collect();
        let mut calls = Vec::with_capacity(program.builtins.len());
        for i in 0..program.builtins.len() {
            let id = u16::try_from(i)
                .ok()
                .and_then(|c| binding.builtin(crate::ir::CallId(c)))
                .and_then(builtins::get);
            calls.push(id);
        }
        Ok(Interp {
            program,
            binding,
            regexes,
            lists,
            calls,
        })
    }

    /// The program being run.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Its binding to the host schema.
    pub fn binding(&self) -> &Binding {
        &self.binding
    }

    /// Constant list `l` (a `ListId`'s index): its element type and its items as this
    /// interpreter reads them (string items folded once). The JIT's helpers read the same
    /// prepared lists, so both engines compare against one copy.
    #[cfg(feature = "jit")]
    pub(crate) fn prepared_list(&self, l: usize) -> Option<(Scalar, &PreparedList)> {
        let elem = self.program.lists.get(l)?.elem;
        Some((elem, self.lists.get(l)?))
    }

    /// The program's compiled regexes, by `RegexId`.
    #[cfg(feature = "jit")]
    pub(crate) fn regexes(&self) -> &[crate::matcher::Matcher] {
        &self.regexes
    }

    /// The builtin bound to call `c` (a `CallId`'s index).
    #[cfg(feature = "jit")]
    pub(crate) fn builtin_row(&self, c: usize) -> Option<&'static Builtin> {
        self.calls.get(c).copied().flatten()
    }

    fn rule(&self, rule: RuleId) -> Result<&Rule, EvalError> {
        self.program
            .rules
            .get(rule.0 as usize)
            .ok_or_else(|| internal("rule id out of range"))
    }

    /// Whether single-event rule `rule`'s condition holds on `event` (a rule without `when`
    /// holds on every event). Stateful rules are not evaluated here: false.
    pub fn eval_cond(&self, rule: RuleId, event: &Event<'_>) -> Result<bool, EvalError> {
        self.eval_cond_counted(rule, event).map(|(b, _)| b)
    }

    /// [`Interp::eval_cond`], also giving the steps taken (one per node visit and per
    /// quantifier iteration).
    pub fn eval_cond_counted(
        &self,
        rule: RuleId,
        event: &Event<'_>,
    ) -> Result<(bool, u64), EvalError> {
        let r = self.rule(rule)?;
        let RuleKind::Single { cond, .. } = &r.kind else {
            return Ok((false, 0));
        };
        let Some(cond) = cond else {
            return Ok((true, 0));
        };
        let (v, steps) = self
            .run(r, *cond, event, None, None)
            .map(|(v, s, _)| (v, s))?;
        match v {
            Value::Bool(b) => Ok((b, steps)),
            _ => Err(internal("condition is not a bool")),
        }
    }

    /// Whether the boolean node `root` of rule `rule` holds on `event`, with `Captured(i)`
    /// read from `captures` (absent when `None`). This is how a sequence step's condition
    /// (with the captures of the partial match it would extend) and a threshold's condition
    /// (`None`) are evaluated.
    pub fn eval_root(
        &self,
        rule: RuleId,
        root: ExprId,
        event: &Event<'_>,
        captures: Option<&CaptureView<'_>>,
    ) -> Result<bool, EvalError> {
        self.eval_root_counted(rule, root, event, captures)
            .map(|(b, _)| b)
    }

    /// [`Interp::eval_root`], also giving the steps taken.
    pub fn eval_root_counted(
        &self,
        rule: RuleId,
        root: ExprId,
        event: &Event<'_>,
        captures: Option<&CaptureView<'_>>,
    ) -> Result<(bool, u64), EvalError> {
        let r = self.rule(rule)?;
        let (v, steps) = self
            .run(r, root, event, captures.copied(), None)
            .map(|(v, s, _)| (v, s))?;
        match v {
            Value::Bool(b) => Ok((b, steps)),
            _ => Err(internal("condition is not a bool")),
        }
    }

    /// The value of node `expr` of rule `rule` on `event` (for `emit` and `fields`).
    pub fn eval_value<'e>(
        &'e self,
        rule: RuleId,
        expr: ExprId,
        event: &'e Event<'_>,
    ) -> Result<Value<'e>, EvalError> {
        let r = self.rule(rule)?;
        self.run(r, expr, event, None, None).map(|(v, _, _)| v)
    }

    /// [`Interp::eval_value`] with `Captured(i)` read from `captures` (a sequence's `emit`
    /// and `fields`, evaluated on the last step's event with the completed match's captures).
    pub fn eval_value_with<'e>(
        &'e self,
        rule: RuleId,
        expr: ExprId,
        event: &'e Event<'_>,
        captures: Option<&CaptureView<'e>>,
    ) -> Result<Value<'e>, EvalError> {
        let r = self.rule(rule)?;
        self.run(r, expr, event, captures.copied(), None)
            .map(|(v, _, _)| v)
    }

    fn expr<'r>(&self, rule: &'r Rule, id: ExprId) -> Result<&'r Expr, EvalError> {
        rule.expr(id)
            .ok_or_else(|| internal("node id out of range"))
    }

    /// Evaluates `root` of `rule` on `event` without recursion. With `trace` (one empty
    /// entry per node of the rule), each node's value is recorded there as it is computed
    /// ([`trace`]); the evaluation itself is the same.
    fn run<'e>(
        &'e self,
        rule: &'e Rule,
        root: ExprId,
        event: &'e Event<'_>,
        captures: Option<CaptureView<'e>>,
        trace: Option<Vec<NodeTrace>>,
    ) -> Result<(Value<'e>, u64, Option<Vec<NodeTrace>>), EvalError> {
        let mut run = Run {
            tasks: vec![Task::Eval(root)],
            values: Vec::new(),
            frames: Vec::new(),
            steps: 0,
            captures,
            trace,
        };
        while let Some(task) = run.tasks.pop() {
            match task {
                Task::Eval(id) => {
                    run.steps += 1;
                    let before = run.values.len();
                    self.visit(rule, id, event, &mut run)?;
                    // A leaf pushes its value at its visit; other nodes schedule operands.
                    if run.values.len() > before {
                        if let (Some(t), Some(v)) = (&mut run.trace, run.values.last()) {
                            trace::record(t, id, v);
                        }
                    }
                }
                Task::Resume(id, stage) => self.resume(rule, id, stage, event, &mut run)?,
                Task::Truncated(f) => {
                    let t = self
                        .field_index(f, event)
                        .is_some_and(|ix| event.is_truncated(ix));
                    run.values.push(Value::Bool(t));
                }
            }
        }
        let v = run.values.pop().ok_or_else(|| internal("no value"))?;
        if !run.values.is_empty() {
            return Err(internal("values left over"));
        }
        Ok((v, run.steps, run.trace))
    }

    fn field_index(&self, f: FieldRef, event: &Event<'_>) -> Option<crate::schema::FieldIndex> {
        self.binding.field_on(f, event.ty()).map(|b| b.index)
    }

    fn field_value<'e>(&'e self, f: FieldRef, ty: Ty, event: &'e Event<'_>) -> Value<'e> {
        match self.field_index(f, event).and_then(|ix| event.value(ix)) {
            Some(v) => v,
            None => Value::empty(ty),
        }
    }

    /// First visit of a node: leaves push their value; others schedule their operands.
    fn visit<'e>(
        &'e self,
        rule: &'e Rule,
        id: ExprId,
        event: &'e Event<'_>,
        run: &mut Run<'e>,
    ) -> Result<(), EvalError> {
        let node = self.expr(rule, id)?;
        let push_ops = |run: &mut Run<'e>, ops: &[ExprId]| {
            run.tasks.push(Task::Resume(id, 0));
            for op in ops.iter().rev() {
                run.tasks.push(Task::Eval(*op));
            }
        };
        match &node.kind {
            ExprKind::Bool(b) => run.values.push(Value::Bool(*b)),
            ExprKind::Int(i) => run.values.push(Value::Int(*i)),
            ExprKind::Str(s) => {
                let text = self
                    .program
                    .strings
                    .get(s.0 as usize)
                    .ok_or_else(|| internal("string id"))?;
                run.values.push(Value::Str(Cow::Borrowed(text)));
            }
            ExprKind::Ip(ip) => run.values.push(Value::Ip(*ip)),
            ExprKind::List(l) => {
                let p = self
                    .lists
                    .get(l.0 as usize)
                    .ok_or_else(|| internal("list id"))?;
                run.values.push(Value::List(p.values.clone()));
            }
            ExprKind::Field(f) => run.values.push(self.field_value(*f, node.ty, event)),
            ExprKind::Exists(f) => {
                run.values.push(Value::Bool(
                    self.field_index(*f, event)
                        .is_some_and(|ix| event.is_present(ix)),
                ));
            }
            ExprKind::Truncated(f) => {
                run.values.push(Value::Bool(
                    self.field_index(*f, event)
                        .is_some_and(|ix| event.is_truncated(ix)),
                ));
            }
            ExprKind::Captured(c) => {
                let v = captured_value(run.captures, *c, node.ty);
                run.values.push(v);
            }
            ExprKind::Local(l) => {
                let v = match run.frames.get(usize::from(l.0)) {
                    Some(Some(frame)) => frame.current.clone(),
                    _ => Value::empty(node.ty),
                };
                run.values.push(v);
            }
            ExprKind::Not(e) | ExprKind::Neg(e) => push_ops(run, &[*e]),
            ExprKind::And(_) | ExprKind::Or(_) => run.tasks.push(Task::Resume(id, 0)),
            ExprKind::Arith(_, a, b) | ExprKind::Cmp(_, a, b) => push_ops(run, &[*a, *b]),
            ExprKind::StrTest { lhs, rhs, .. } => push_ops(run, &[*lhs, *rhs]),
            ExprKind::StrList { lhs, .. } | ExprKind::Matches { lhs, .. } => push_ops(run, &[*lhs]),
            ExprKind::Member { lhs, list, .. } => {
                // Constant lists and list fields are read in place; other lists are evaluated.
                match self.expr(rule, *list)?.kind {
                    ExprKind::List(_) | ExprKind::Field(_) => push_ops(run, &[*lhs]),
                    _ => push_ops(run, &[*lhs, *list]),
                }
            }
            ExprKind::Call { builtin, args } => {
                self.schedule_call(rule, id, *builtin, args, run)?
            }
            ExprKind::Quant {
                local, list, body, ..
            } => {
                let src = match &self.expr(rule, *list)?.kind {
                    ExprKind::List(l) => Some(ListSrc::Const(*l)),
                    ExprKind::Field(f) => Some(ListSrc::Field(*f)),
                    _ => None,
                };
                match src {
                    Some(src) => {
                        run.steps += 1; // the list operand, read in place
                        self.start_quant(id, *body, usize::from(local.0), src, event, run)?;
                    }
                    None => push_ops(run, &[*list]),
                }
            }
        }
        Ok(())
    }

    /// Schedules builtin call `id`'s arguments, then its continuation: a field written for a
    /// `FieldRef` parameter passes its truncation flag, any other argument its value.
    fn schedule_call(
        &self,
        rule: &Rule,
        id: ExprId,
        builtin: CallId,
        args: &[ExprId],
        run: &mut Run<'_>,
    ) -> Result<(), EvalError> {
        let b = self.calls.get(usize::from(builtin.0)).copied().flatten();
        run.tasks.push(Task::Resume(id, 0));
        for (i, arg) in args.iter().enumerate().rev() {
            let field_param = b
                .and_then(|b| b.params.get(i))
                .is_some_and(|p| matches!(p, ParamTy::FieldRef(_)));
            match (&self.expr(rule, *arg)?.kind, field_param) {
                (ExprKind::Field(f), true) => run.tasks.push(Task::Truncated(*f)),
                _ => run.tasks.push(Task::Eval(*arg)),
            }
        }
        Ok(())
    }

    fn list_len(&self, src: &ListSrc<'_>, event: &Event<'_>) -> usize {
        match src {
            ListSrc::Const(l) => self.lists.get(l.0 as usize).map_or(0, |p| p.values.len()),
            ListSrc::Field(f) => self
                .field_index(*f, event)
                .map_or(0, |ix| event.list_len(ix)),
            ListSrc::Value(v) => v.len(),
        }
    }

    fn list_item<'e>(
        &'e self,
        src: &ListSrc<'e>,
        i: usize,
        event: &'e Event<'_>,
    ) -> Option<Value<'e>> {
        match src {
            ListSrc::Const(l) => self.lists.get(l.0 as usize)?.values.get(i).cloned(),
            ListSrc::Field(f) => event.list_item(self.field_index(*f, event)?, i),
            ListSrc::Value(v) => v.get(i).cloned(),
        }
    }

    fn start_quant<'e>(
        &'e self,
        id: ExprId,
        body: ExprId,
        level: usize,
        src: ListSrc<'e>,
        event: &'e Event<'_>,
        run: &mut Run<'e>,
    ) -> Result<(), EvalError> {
        let len = self.list_len(&src, event);
        if run.frames.len() <= level {
            run.frames.resize_with(level + 1, || None);
        }
        if let Some(slot) = run.frames.get_mut(level) {
            *slot = Some(Frame {
                src,
                len,
                next: 0,
                current: Value::Bool(false),
            });
        }
        self.next_item(id, body, level, event, run)
    }

    /// Binds the next item and schedules the body, or finishes the quantifier.
    fn next_item<'e>(
        &'e self,
        id: ExprId,
        body: ExprId,
        level: usize,
        event: &'e Event<'_>,
        run: &mut Run<'e>,
    ) -> Result<(), EvalError> {
        let frame = run
            .frames
            .get_mut(level)
            .and_then(Option::as_mut)
            .ok_or_else(|| internal("no frame"))?;
        if frame.next >= frame.len {
            run.tasks.push(Task::Resume(id, 2));
            return Ok(());
        }
        let item = self
            .list_item(&frame.src, frame.next, event)
            .ok_or_else(|| internal("list item"))?;
        frame.current = item;
        frame.next += 1;
        run.steps += 1;
        run.tasks.push(Task::Resume(id, 3));
        run.tasks.push(Task::Eval(body));
        Ok(())
    }

    /// A node's continuation, once its scheduled operands are on the value stack: pops them
    /// and pushes the node's value, or schedules more work (the next operand of `and`/`or`, the
    /// next item of a quantifier).
    fn resume<'e>(
        &'e self,
        rule: &'e Rule,
        id: ExprId,
        stage: u32,
        event: &'e Event<'_>,
        run: &mut Run<'e>,
    ) -> Result<(), EvalError> {
        let node = self.expr(rule, id)?;
        let result: Value<'e> = match &node.kind {
            ExprKind::Not(_) => Value::Bool(!as_bool(&run.pop()?)?),
            ExprKind::Neg(_) => Value::Int(as_int(&run.pop()?)?.wrapping_neg()),
            ExprKind::And(ops) | ExprKind::Or(ops) => {
                let is_and = matches!(node.kind, ExprKind::And(_));
                match resume_and_or(id, ops, is_and, stage, run)? {
                    Some(v) => v,
                    None => return Ok(()),
                }
            }
            ExprKind::Arith(op, _, _) => {
                let b = as_int(&run.pop()?)?;
                let a = as_int(&run.pop()?)?;
                Value::Int(arith(*op, a, b))
            }
            ExprKind::Cmp(op, _, _) => {
                let b = run.pop()?;
                let a = run.pop()?;
                Value::Bool(compare(*op, &a, &b)?)
            }
            ExprKind::StrTest { op, fold, .. } => {
                let b = run.pop()?;
                let a = run.pop()?;
                let (a, b) = (as_str(&a)?, as_str(&b)?);
                Value::Bool(if *fold {
                    str_test(*op, &fold_str(a), &fold_str(b))
                } else {
                    str_test(*op, a, b)
                })
            }
            ExprKind::StrList {
                op,
                fold,
                quant,
                list,
                ..
            } => {
                let a = run.pop()?;
                Value::Bool(self.str_list(*op, *fold, *quant, *list, as_str(&a)?)?)
            }
            ExprKind::Matches { regex, .. } => {
                let a = run.pop()?;
                let re = self
                    .regexes
                    .get(regex.0 as usize)
                    .ok_or_else(|| internal("regex id"))?;
                Value::Bool(re.is_match(as_str(&a)?))
            }
            ExprKind::Member { list, fold, .. } => {
                Value::Bool(self.member(rule, *list, *fold, event, run)?)
            }
            ExprKind::Call { builtin, args } => self.call(*builtin, args.len(), run)?,
            ExprKind::Quant {
                quant, local, body, ..
            } => {
                let level = usize::from(local.0);
                match self.resume_quant(id, *quant, *body, level, stage, event, run)? {
                    Some(v) => v,
                    None => return Ok(()),
                }
            }
            ExprKind::Bool(_)
            | ExprKind::Int(_)
            | ExprKind::Str(_)
            | ExprKind::Ip(_)
            | ExprKind::List(_)
            | ExprKind::Field(_)
            | ExprKind::Exists(_)
            | ExprKind::Truncated(_)
            | ExprKind::Captured(_)
            | ExprKind::Local(_) => return Err(internal("leaf resumed")),
        };
        run.push_node(id, result);
        Ok(())
    }

    /// `s OP any|all [...]` against constant string list `list` (its folded items for `fold`).
    fn str_list(
        &self,
        op: StrTest,
        fold: bool,
        quant: Quant,
        list: ListId,
        s: &str,
    ) -> Result<bool, EvalError> {
        let p = self
            .lists
            .get(list.0 as usize)
            .ok_or_else(|| internal("list id"))?;
        let hit = |pat: &str, s: &str| str_test(op, s, pat);
        Ok(if fold {
            let s = fold_str(s);
            match quant {
                Quant::Any => p.folded.iter().any(|pat| hit(pat, &s)),
                Quant::All => p.folded.iter().all(|pat| hit(pat, &s)),
            }
        } else {
            let mut pats = p.values.iter().map(|v| v.as_str().unwrap_or_default());
            match quant {
                Quant::Any => pats.any(|pat| hit(pat, s)),
                Quant::All => pats.all(|pat| hit(pat, s)),
            }
        })
    }

    /// `a in list` (`iin` when `fold`): a constant list and a list field are read in place
    /// (only `a` was evaluated); any other list was evaluated onto the stack after `a`.
    fn member<'e>(
        &'e self,
        rule: &'e Rule,
        list: ExprId,
        fold: bool,
        event: &'e Event<'_>,
        run: &mut Run<'e>,
    ) -> Result<bool, EvalError> {
        Ok(match &self.expr(rule, list)?.kind {
            ExprKind::List(l) => {
                let a = run.pop()?;
                let p = self
                    .lists
                    .get(l.0 as usize)
                    .ok_or_else(|| internal("list id"))?;
                if fold && !p.folded.is_empty() {
                    let s = fold_str(as_str(&a)?);
                    p.folded.iter().any(|item| *item == *s)
                } else {
                    p.values.iter().any(|item| member_eq(&a, item, fold))
                }
            }
            ExprKind::Field(f) => {
                let a = run.pop()?;
                let src = ListSrc::Field(*f);
                let n = self.list_len(&src, event);
                (0..n)
                    .filter_map(|i| self.list_item(&src, i, event))
                    .any(|item| member_eq(&a, &item, fold))
            }
            _ => {
                let l = run.pop()?;
                let a = run.pop()?;
                let items = l
                    .as_list()
                    .ok_or_else(|| internal("member of a non-list"))?;
                items.iter().any(|item| member_eq(&a, item, fold))
            }
        })
    }

    /// A builtin call whose `nargs` arguments are on the stack: the registry row's `eval`.
    fn call<'e>(
        &self,
        builtin: CallId,
        nargs: usize,
        run: &mut Run<'e>,
    ) -> Result<Value<'e>, EvalError> {
        let b = self
            .calls
            .get(usize::from(builtin.0))
            .copied()
            .flatten()
            .ok_or_else(|| internal("unbound builtin"))?;
        let start = run
            .values
            .len()
            .checked_sub(nargs)
            .ok_or_else(|| internal("value stack short"))?;
        let v = (b.eval)(run.values.get(start..).unwrap_or_default());
        run.values.truncate(start);
        Ok(v)
    }

    /// A quantifier's continuation: at stage 0 its evaluated list is on the stack (start it);
    /// at stage 3 the body's value for the current item (decide, or go on with the next item);
    /// at stage 2 the list is exhausted. `None` when more work was scheduled.
    #[expect(
        clippy::too_many_arguments,
        reason = "the node's parts and the evaluation state, as `resume` has them"
    )]
    fn resume_quant<'e>(
        &'e self,
        id: ExprId,
        quant: Quant,
        body: ExprId,
        level: usize,
        stage: u32,
        event: &'e Event<'_>,
        run: &mut Run<'e>,
    ) -> Result<Option<Value<'e>>, EvalError> {
        match stage {
            0 => {
                // A list that had to be evaluated.
                let items = match run.pop()? {
                    Value::List(items) => items,
                    _ => return Err(internal("quantifier over a non-list")),
                };
                self.start_quant(id, body, level, ListSrc::Value(items), event, run)?;
                Ok(None)
            }
            3 => {
                // The body's value for the current item.
                let b = as_bool(&run.pop()?)?;
                let decided = match quant {
                    Quant::Any => b,
                    Quant::All => !b,
                };
                if !decided {
                    self.next_item(id, body, level, event, run)?;
                    return Ok(None);
                }
                if let Some(slot) = run.frames.get_mut(level) {
                    *slot = None;
                }
                Ok(Some(Value::Bool(b)))
            }
            _ => {
                // 2: the list is exhausted.
                if let Some(slot) = run.frames.get_mut(level) {
                    *slot = None;
                }
                Ok(Some(Value::Bool(matches!(quant, Quant::All))))
            }
        }
    }
}

/// `and`/`or` node `id` at `stage` (the operands evaluated so far): short-circuits on the first
/// operand that decides (false for `and`, true for `or`), else schedules the next operand
/// (`None`); with every operand seen, the identity (`and`: true, `or`: false).
fn resume_and_or(
    id: ExprId,
    ops: &[ExprId],
    is_and: bool,
    stage: u32,
    run: &mut Run<'_>,
) -> Result<Option<Value<'static>>, EvalError> {
    if stage > 0 {
        let b = as_bool(&run.pop()?)?;
        if b != is_and {
            // and: a false operand; or: a true one.
            return Ok(Some(Value::Bool(b)));
        }
    }
    match ops.get(stage as usize) {
        Some(op) => {
            run.tasks.push(Task::Resume(id, stage + 1));
            run.tasks.push(Task::Eval(*op));
            Ok(None)
        }
        None => Ok(Some(Value::Bool(is_and))),
    }
}

impl Evaluator for Interp {
    fn eval(&self, rule: RuleId, event: &Event<'_>) -> Result<bool, EvalError> {
        self.eval_cond(rule, event)
    }

    fn eval_root(
        &self,
        rule: RuleId,
        root: ExprId,
        event: &Event<'_>,
        captures: Option<&CaptureView<'_>>,
    ) -> Result<bool, EvalError> {
        Interp::eval_root(self, rule, root, event, captures)
    }
}

fn as_bool(v: &Value<'_>) -> Result<bool, EvalError> {
    v.as_bool().ok_or_else(|| internal("expected a bool"))
}

fn as_int(v: &Value<'_>) -> Result<i64, EvalError> {
    v.as_int().ok_or_else(|| internal("expected an int"))
}

fn as_str<'v>(v: &'v Value<'_>) -> Result<&'v str, EvalError> {
    v.as_str().ok_or_else(|| internal("expected a string"))
}

fn compare(op: CmpOp, a: &Value<'_>, b: &Value<'_>) -> Result<bool, EvalError> {
    ops::compare(op, a, b).ok_or_else(|| internal("compared values of different types"))
}
