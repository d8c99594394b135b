//! Lowering: [`Typed`] (the checked HIR) → [`ir::Program`] + [`ir::DebugInfo`].
//!
//! Owns the translation from names and fns to the IR's closed world: fns are inlined (an
//! event-typed parameter becomes the event or the step it was given, a value parameter the node
//! of its argument, so an argument used twice is one shared node), constants are folded with
//! the runtime's own functions (the builtin registry's `eval`, `ops::arith`), named and
//! literal lists are interned as constant lists, `matches` patterns as regexes, and each field
//! read becomes a field *requirement* `(event type, field, type, bounds)`.
//!
//! Layout decisions:
//! - A rule `on T1, T2` is one IR rule whose field requirements name `T1`; the runtime's
//!   binding reads the field of the same name on `T2` (`Binding::field_on`).
//! - In a sequence, a step's condition reads its own event through `Field` and earlier steps
//!   through `Captured`; `emit` and `fields` read the last step's event through `Field`.
//! - Nodes are hash-consed per rule, so repeated sub-expressions are one node.
//!
//! The HIR arena is in topological order and accepted trees are depth-bounded by the parser,
//! so the recursion here is bounded by that depth times the fn inlining depth, itself bounded
//! by resolve's inlined-size budget.

use std::collections::HashMap;

use vigil_grammar::span::Span;
use vigil_runtime::builtins::{self, BuiltinId, ParamTy};
use vigil_runtime::ir::{
    self, ArithOp, BuiltinRef, CallId, Capture, CaptureId, CmpOp, Const, ConstList, FieldRef,
    ListId, LocalId, Quant, RegexId, SrcSpan, StateDecl, StrId, StrTest, TemplatePart,
};
use vigil_runtime::types::{Scalar, Ty};
use vigil_runtime::value::Value;

use crate::diag::{Diagnostic, ErrorCode};
use crate::hir::{self, ExprId, FieldBase, FieldInfo, Module};
use crate::typeck::{Type, Typed};

/// The most IR nodes one rule may have after inlining (the verifier has its own limit; this
/// one stops lowering itself from growing without bound).
pub const MAX_RULE_NODES: usize = 65_536;

/// A lowered program and its debug section.
#[derive(Clone, Debug)]
pub struct Lowered {
    /// The IR.
    pub program: ir::Program,
    /// Source spans of the IR, per rule and node.
    pub debug: ir::DebugInfo,
    /// For each IR rule, the HIR rule it came from (one IR rule per user rule).
    pub origin: Vec<hir::RuleId>,
}

/// Lowers a checked program. `file_names` are the source map's names, indexed by `FileId`.
pub fn lower(typed: &Typed, file_names: &[String]) -> Result<Lowered, Vec<Diagnostic>> {
    let mut p = ProgramBuilder::default();
    let mut debug = ir::DebugInfo {
        files: file_names.to_vec(),
        rules: Vec::new(),
    };
    let mut origin = Vec::new();
    let mut errors: Vec<Diagnostic> = Vec::new();
    for (index, rule) in typed.module.rules.iter().enumerate() {
        if rule.stdlib {
            continue;
        }
        let rid = hir::RuleId(index as u32);
        match lower_rule(typed, rule, &mut p) {
            Ok(rules) => {
                for (r, d) in rules {
                    p.rules.push(r);
                    debug.rules.push(d);
                    origin.push(rid);
                }
            }
            Err(e) => errors.push(*e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let program = ir::Program {
        schema: ir::SchemaRef {
            name: typed.schema_name.clone(),
            major: typed.schema_version.major,
            minor: typed.schema_version.minor,
        },
        fields: p.fields.items,
        builtins: p.builtins.items,
        strings: p.strings.items,
        lists: p.lists.items,
        regexes: p.regexes.items,
        rules: p.rules,
    };
    Ok(Lowered {
        program,
        debug,
        origin,
    })
}

/// A rule's `emit` template and `fields`, lowered.
type Outputs = (Vec<TemplatePart>, Vec<(String, ir::ExprId)>);

/// One lowered IR rule and its spans.
type Lowered1 = (ir::Rule, ir::RuleDebug);

/// An interner: values in first-use order, deterministic for a deterministic traversal.
struct Interner<T: std::hash::Hash + Eq + Clone> {
    items: Vec<T>,
    index: HashMap<T, u32>,
}

impl<T: std::hash::Hash + Eq + Clone> Default for Interner<T> {
    fn default() -> Self {
        Interner {
            items: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<T: std::hash::Hash + Eq + Clone> Interner<T> {
    fn intern(&mut self, value: T) -> u32 {
        if let Some(&i) = self.index.get(&value) {
            return i;
        }
        let i = self.items.len() as u32;
        self.items.push(value.clone());
        self.index.insert(value, i);
        i
    }
}

#[derive(Default)]
struct ProgramBuilder {
    fields: Interner<ir::FieldReq>,
    builtins: Interner<BuiltinRef>,
    strings: Interner<String>,
    lists: Interner<ConstList>,
    regexes: Interner<String>,
    rules: Vec<ir::Rule>,
}

/// What an event-typed value refers to while lowering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EventSel {
    /// The event being evaluated.
    Current,
    /// An earlier sequence step.
    Step(u32),
}

/// A lowered HIR value: an IR node or an event reference (fn arguments only).
#[derive(Clone, Copy, Debug)]
enum Lv {
    Node(ir::ExprId),
    Event(EventSel),
}

/// One inlining frame: the arguments of the fn being inlined and the quantifier level at its
/// call site.
struct Frame {
    args: Vec<Lv>,
    base_level: u16,
    memo: HashMap<ExprId, Lv>,
}

/// Lowers the expressions of one IR rule.
struct RuleLowerer<'a> {
    typed: &'a Typed,
    p: &'a mut ProgramBuilder,
    /// Which event type "the current event" is (index into the HIR source list of a field).
    event_name: String,
    /// In a sequence: the current step (its event is `Current`); `None` outside sequences.
    step: Option<u32>,
    /// In a sequence: every step's event type name.
    step_events: Vec<String>,
    captures: Vec<Capture>,
    exprs: Vec<ir::Expr>,
    spans: Vec<SrcSpan>,
    cons: HashMap<ir::Expr, ir::ExprId>,
    /// Quantifier level of each binder (set when its quantifier is lowered).
    binder_level: HashMap<hir::BinderId, u16>,
    rule_span: Span,
    /// Whether a fn was inlined into the rule (for the size error's wording).
    inlined: bool,
}

fn src(span: Span) -> SrcSpan {
    SrcSpan {
        file: span.file.0,
        start: span.start,
        end: span.end,
    }
}

fn too_large(span: Span, inlined: bool) -> Box<Diagnostic> {
    let (message, note) = if inlined {
        (
            "rule is too large once its functions are inlined",
            format!("a rule may have at most {MAX_RULE_NODES} nodes after inlining"),
        )
    } else {
        (
            "rule is too large",
            format!("a rule may have at most {MAX_RULE_NODES} nodes"),
        )
    };
    Box::new(
        Diagnostic::error(ErrorCode::InlinedTooLarge, span, message, "this rule").with_note(note),
    )
}

fn state_decl(meta: &hir::RuleMeta, per_key: u64) -> StateDecl {
    StateDecl {
        capacity: meta.capacity,
        per_key: u32::try_from(per_key).unwrap_or(u32::MAX),
        capture_len: meta.capture_len,
    }
}

fn lower_rule(
    typed: &Typed,
    rule: &hir::Rule,
    p: &mut ProgramBuilder,
) -> Result<Vec<Lowered1>, Box<Diagnostic>> {
    let mut out = Vec::new();
    match &rule.kind {
        hir::RuleKind::Single { events, cond } => {
            // Fields are required on the first event type; the runtime's binding reads the
            // field of the same name on the others (`Binding::field_on`).
            let first = events.first().map(|e| e.name.clone()).unwrap_or_default();
            let mut l = RuleLowerer::new(typed, p, first, None, Vec::new(), rule);
            let c = cond.map(|c| l.lower_bool_root(c)).transpose()?;
            let (emit, fields) = l.lower_outputs(rule)?;
            let kind = ir::RuleKind::Single {
                events: events.iter().map(|e| e.name.clone()).collect(),
                cond: c,
            };
            out.push(l.finish(rule, kind, emit, fields));
        }
        hir::RuleKind::Threshold(t) => {
            let first = t.events.first().map(|e| e.name.clone()).unwrap_or_default();
            let mut l = RuleLowerer::new(typed, p, first.clone(), None, Vec::new(), rule);
            let c = t.cond.map(|c| l.lower_bool_root(c)).transpose()?;
            let key: Vec<Vec<FieldRef>> = t
                .events
                .iter()
                .map(|ev| t.by.iter().map(|f| l.field_ref(f, &ev.name)).collect())
                .collect();
            let counting = match &t.counting {
                hir::Counting::Count => ir::Counting::Count,
                hir::Counting::Distinct(f) => ir::Counting::Distinct(l.field_ref(f, &first)),
                hir::Counting::Sum(f) => ir::Counting::Sum(l.field_ref(f, &first)),
                hir::Counting::Avg(f) => ir::Counting::Avg(l.field_ref(f, &first)),
            };
            // `count`/`distinct` keep N entries per key; `sum`/`avg` the rule's `entries`.
            let per_key = if counting.is_amount() {
                u64::from(rule.meta.entries)
            } else {
                t.count
            };
            let (emit, fields) = l.lower_outputs(rule)?;
            let kind = ir::RuleKind::Threshold(ir::ThresholdDef {
                events: t.events.iter().map(|e| e.name.clone()).collect(),
                cond: c,
                counting,
                count: t.count,
                within_ns: t.within_ns,
                key,
                state: state_decl(&rule.meta, per_key),
            });
            out.push(l.finish(rule, kind, emit, fields));
        }
        hir::RuleKind::Sequence(s) => {
            let step_events: Vec<String> = s.steps.iter().map(|st| st.event.name.clone()).collect();
            let last = s.steps.len().saturating_sub(1) as u32;
            let first_event = step_events.first().cloned().unwrap_or_default();
            let mut l = RuleLowerer::new(typed, p, first_event, Some(0), step_events.clone(), rule);
            let mut steps = Vec::with_capacity(s.steps.len());
            for (i, st) in s.steps.iter().enumerate() {
                l.step = Some(i as u32);
                l.event_name = st.event.name.clone();
                let cond = st.cond.map(|c| l.lower_bool_root(c)).transpose()?;
                let key = st
                    .key
                    .iter()
                    .map(|f| l.field_ref(f, &st.event.name))
                    .collect();
                steps.push(ir::StepDef {
                    name: st.name.clone(),
                    event: st.event.name.clone(),
                    cond,
                    key,
                });
            }
            // emit and fields are evaluated when the last step fires.
            l.step = Some(last);
            l.event_name = step_events.last().cloned().unwrap_or_default();
            let (emit, fields) = l.lower_outputs(rule)?;
            let def = ir::SequenceDef {
                steps,
                within_ns: s.within_ns,
                captures: std::mem::take(&mut l.captures),
                state: state_decl(&rule.meta, s.steps.len() as u64),
            };
            let kind = if s.any_order {
                ir::RuleKind::SequenceAnyOrder(def)
            } else {
                ir::RuleKind::Sequence(def)
            };
            out.push(l.finish(rule, kind, emit, fields));
        }
    }
    Ok(out)
}

impl<'a> RuleLowerer<'a> {
    fn new(
        typed: &'a Typed,
        p: &'a mut ProgramBuilder,
        event_name: String,
        step: Option<u32>,
        step_events: Vec<String>,
        rule: &hir::Rule,
    ) -> Self {
        RuleLowerer {
            typed,
            p,
            event_name,
            step,
            step_events,
            captures: Vec::new(),
            exprs: Vec::new(),
            spans: Vec::new(),
            cons: HashMap::new(),
            binder_level: HashMap::new(),
            rule_span: rule.span,
            inlined: false,
        }
    }

    fn module(&self) -> &'a Module {
        &self.typed.module
    }

    fn finish(
        self,
        rule: &hir::Rule,
        kind: ir::RuleKind,
        emit: Vec<TemplatePart>,
        fields: Vec<(String, ir::ExprId)>,
    ) -> (ir::Rule, ir::RuleDebug) {
        let mut r = ir::Rule {
            id: rule.meta.id.clone(),
            name: rule.name.clone(),
            title: rule.meta.title.clone(),
            severity: rule.meta.severity,
            shadow: rule.meta.shadow,
            meta: rule.meta.other.clone(),
            exprs: self.exprs,
            kind,
            emit,
            fields,
        };
        let mut d = ir::RuleDebug {
            name: src(rule.span),
            exprs: self.spans,
        };
        compact(&mut r, &mut d);
        (r, d)
    }

    /// Adds a node (hash-consed) and returns its id.
    fn push(
        &mut self,
        ty: Ty,
        kind: ir::ExprKind,
        span: Span,
    ) -> Result<ir::ExprId, Box<Diagnostic>> {
        let e = ir::Expr { ty, kind };
        if let Some(&id) = self.cons.get(&e) {
            return Ok(id);
        }
        if self.exprs.len() >= MAX_RULE_NODES {
            return Err(too_large(self.rule_span, self.inlined));
        }
        let id = ir::ExprId(self.exprs.len() as u32);
        self.exprs.push(e.clone());
        self.spans.push(src(span));
        self.cons.insert(e, id);
        Ok(id)
    }

    fn node(&self, id: ir::ExprId) -> &ir::Expr {
        &self.exprs[id.0 as usize]
    }

    fn const_of(&self, id: ir::ExprId) -> Option<Const> {
        match &self.node(id).kind {
            ir::ExprKind::Bool(b) => Some(Const::Bool(*b)),
            ir::ExprKind::Int(i) => Some(Const::Int(*i)),
            ir::ExprKind::Str(s) => Some(Const::Str(self.p.strings.items[s.0 as usize].clone())),
            ir::ExprKind::Ip(ip) => Some(Const::Ip(*ip)),
            _ => None,
        }
    }

    fn push_const(&mut self, c: Const, span: Span) -> Result<ir::ExprId, Box<Diagnostic>> {
        match c {
            Const::Bool(b) => self.push(Ty::BOOL, ir::ExprKind::Bool(b), span),
            Const::Int(i) => self.push(Ty::INT, ir::ExprKind::Int(i), span),
            Const::Str(s) => {
                let id = StrId(self.p.strings.intern(s));
                self.push(Ty::STR, ir::ExprKind::Str(id), span)
            }
            Const::Ip(ip) => self.push(Ty::IP, ir::ExprKind::Ip(ip), span),
            Const::Cidr(..) => unreachable_cidr(span),
        }
    }

    fn field_ref(&mut self, field: &FieldInfo, event: &str) -> FieldRef {
        // `sources` has one entry per event type the base may be; pick this event type's.
        let source = field
            .sources
            .iter()
            .find(|s| s.event == event)
            .or_else(|| field.sources.first());
        let (max_len, max_items) = source.map_or((0, 0), |s| (s.max_len, s.max_items));
        FieldRef(self.p.fields.intern(ir::FieldReq {
            event: event.to_owned(),
            field: field.name.clone(),
            ty: field.ty,
            max_len,
            max_items,
        }))
    }

    fn capture(&mut self, step: u32, field: &FieldInfo) -> CaptureId {
        let event = self
            .step_events
            .get(step as usize)
            .cloned()
            .unwrap_or_default();
        let fref = self.field_ref(field, &event);
        let cap = Capture {
            step: step as u8,
            field: fref,
        };
        let i = match self.captures.iter().position(|c| *c == cap) {
            Some(i) => i,
            None => {
                self.captures.push(cap);
                self.captures.len() - 1
            }
        };
        CaptureId(i as u16)
    }

    fn lower_bool_root(&mut self, root: ExprId) -> Result<ir::ExprId, Box<Diagnostic>> {
        let mut frame = Frame {
            args: Vec::new(),
            base_level: 0,
            memo: HashMap::new(),
        };
        match self.lower(root, &mut frame, 0)? {
            Lv::Node(n) => Ok(n),
            Lv::Event(_) => Err(self.not_value(root)),
        }
    }

    fn lower_outputs(&mut self, rule: &hir::Rule) -> Result<Outputs, Box<Diagnostic>> {
        let mut emit = Vec::new();
        if let Some(parts) = &rule.emit {
            for part in parts {
                match part {
                    hir::TemplatePart::Lit(s) => emit.push(TemplatePart::Lit(s.clone())),
                    hir::TemplatePart::Field(e) => {
                        let n = self.lower_bool_root_any(*e)?;
                        emit.push(TemplatePart::Expr(n));
                    }
                }
            }
        }
        let mut fields = Vec::new();
        for (name, e) in &rule.fields {
            let n = self.lower_bool_root_any(*e)?;
            fields.push((name.clone(), n));
        }
        Ok((emit, fields))
    }

    /// Lowers a root expression of any value type.
    fn lower_bool_root_any(&mut self, root: ExprId) -> Result<ir::ExprId, Box<Diagnostic>> {
        self.lower_bool_root(root)
    }

    fn not_value(&self, id: ExprId) -> Box<Diagnostic> {
        Box::new(Diagnostic::error(
            ErrorCode::NotAValue,
            self.module().expr(id).span,
            "an event is not a value here",
            "event value",
        ))
    }

    fn ty_of(&self, id: ExprId) -> Ty {
        match self.typed.ty(id) {
            Type::Value(t) => *t,
            // An empty list literal takes its element type from context; as a value it is an
            // empty list of strings (no element is ever read).
            _ => Ty::List(Scalar::Str),
        }
    }

    /// Lowers HIR node `id` in `frame`; `depth` counts enclosing quantifiers inside the frame.
    fn lower(&mut self, id: ExprId, frame: &mut Frame, depth: u16) -> Result<Lv, Box<Diagnostic>> {
        if let Some(v) = frame.memo.get(&id) {
            // Nodes under a quantifier body depend on its binder; memoising is still sound
            // because a HIR node always sits at one quantifier depth.
            return Ok(*v);
        }
        let module = self.module();
        let e = module.expr(id);
        let span = e.span;
        let ty = self.ty_of(id);
        let v = match &e.kind {
            hir::ExprKind::Bool(b) => {
                Lv::Node(self.push(Ty::BOOL, ir::ExprKind::Bool(*b), span)?)
            }
            hir::ExprKind::Int(i) => Lv::Node(self.push(Ty::INT, ir::ExprKind::Int(*i), span)?),
            hir::ExprKind::Str(s) => Lv::Node(self.push_const(Const::Str(s.value.clone()), span)?),
            hir::ExprKind::Ip(ip) => Lv::Node(self.push(Ty::IP, ir::ExprKind::Ip(*ip), span)?),
            hir::ExprKind::Cidr(..) => return unreachable_cidr(span).map(Lv::Node),
            hir::ExprKind::List(_) | hir::ExprKind::ListRef(_) => {
                let list = self.const_list(id)?;
                Lv::Node(self.push(ty, ir::ExprKind::List(list), span)?)
            }
            hir::ExprKind::Field { base, field } => self.lower_field(*base, field, frame, span)?,
            hir::ExprKind::Event { .. } => Lv::Event(EventSel::Current),
            hir::ExprKind::Step { index, .. } => Lv::Event(self.step_sel(*index)),
            hir::ExprKind::Param { index, .. } => frame
                .args
                .get(*index as usize)
                .copied()
                .ok_or_else(|| self.not_value(id))?,
            hir::ExprKind::Binder(b) => {
                let level = self.binder_level.get(b).copied().unwrap_or(0);
                Lv::Node(self.push(ty, ir::ExprKind::Local(LocalId(level)), span)?)
            }
            hir::ExprKind::Exists(f) => {
                let hir::ExprKind::Field { base, field } = &module.expr(*f).kind else {
                    return Err(self.not_value(*f));
                };
                let fref = self.current_field(*base, field, frame, span, "exists")?;
                Lv::Node(self.push(Ty::BOOL, ir::ExprKind::Exists(fref), span)?)
            }
            hir::ExprKind::Not(a) => {
                let a = self.node_of(*a, frame, depth)?;
                Lv::Node(self.push_not(a, span)?)
            }
            hir::ExprKind::Neg(a) => {
                let a = self.node_of(*a, frame, depth)?;
                Lv::Node(self.push_neg(a, span)?)
            }
            hir::ExprKind::And(v) => self.lower_logic(true, v, frame, depth, span)?,
            hir::ExprKind::Or(v) => self.lower_logic(false, v, frame, depth, span)?,
            hir::ExprKind::Arith(op, a, b) => {
                let a = self.node_of(*a, frame, depth)?;
                let b = self.node_of(*b, frame, depth)?;
                Lv::Node(self.push_arith(*op, a, b, span)?)
            }
            hir::ExprKind::Cmp(op, a, b) => {
                let a = self.node_of(*a, frame, depth)?;
                let b = self.node_of(*b, frame, depth)?;
                Lv::Node(self.push_cmp(*op, a, b, span)?)
            }
            hir::ExprKind::StrTest { op, fold, lhs, rhs } => {
                let lhs = self.node_of(*lhs, frame, depth)?;
                let rhs = self.node_of(*rhs, frame, depth)?;
                let kind = ir::ExprKind::StrTest {
                    op: *op,
                    fold: *fold,
                    lhs,
                    rhs,
                };
                Lv::Node(self.push(Ty::BOOL, kind, span)?)
            }
            hir::ExprKind::StrList {
                op,
                fold,
                quant,
                lhs,
                list,
            } => {
                let lhs = self.node_of(*lhs, frame, depth)?;
                let list = self.const_list(*list)?;
                let kind = ir::ExprKind::StrList {
                    op: *op,
                    fold: *fold,
                    quant: *quant,
                    lhs,
                    list,
                };
                Lv::Node(self.push(Ty::BOOL, kind, span)?)
            }
            hir::ExprKind::Member { lhs, list, fold } => {
                Lv::Node(self.lower_member(*lhs, *list, *fold, frame, depth, span)?)
            }
            hir::ExprKind::Matches { lhs, pattern } => {
                let lhs = self.node_of(*lhs, frame, depth)?;
                let hir::ExprKind::Str(pat) = &module.expr(*pattern).kind else {
                    return Err(self.not_value(*pattern));
                };
                let regex = RegexId(self.p.regexes.intern(pat.value.clone()));
                Lv::Node(self.push(Ty::BOOL, ir::ExprKind::Matches { lhs, regex }, span)?)
            }
            hir::ExprKind::CallFn { func, args } => self.inline_call(*func, args, frame, depth)?,
            hir::ExprKind::CallBuiltin { builtin, args } => {
                self.lower_builtin(*builtin, args, ty, frame, depth, span)?
            }
            hir::ExprKind::Quant { quant, list, .. }
                if *self.typed.ty(*list) == Type::EmptyList =>
            {
                // `any`/`all` over `[]` is false/true without reading anything (W0301 says
                // so), and its binder has no element type to lower the body with.
                Lv::Node(self.push(Ty::BOOL, ir::ExprKind::Bool(*quant == Quant::All), span)?)
            }
            hir::ExprKind::Quant {
                quant,
                binder,
                list,
                body,
            } => {
                let level = frame.base_level + depth;
                let list = self.node_of(*list, frame, depth)?;
                self.binder_level.insert(*binder, level);
                let body = self.node_of(*body, frame, depth + 1)?;
                let kind = ir::ExprKind::Quant {
                    quant: *quant,
                    local: LocalId(level),
                    list,
                    body,
                };
                Lv::Node(self.push(Ty::BOOL, kind, span)?)
            }
            hir::ExprKind::Error => return Err(self.not_value(id)),
        };
        self.memo(frame, id, v)
    }

    /// `not a`, folded when `a` is a constant.
    fn push_not(&mut self, a: ir::ExprId, span: Span) -> Result<ir::ExprId, Box<Diagnostic>> {
        match self.node(a).kind {
            ir::ExprKind::Bool(b) => self.push(Ty::BOOL, ir::ExprKind::Bool(!b), span),
            _ => self.push(Ty::BOOL, ir::ExprKind::Not(a), span),
        }
    }

    /// `-a`, folded when `a` is a constant.
    fn push_neg(&mut self, a: ir::ExprId, span: Span) -> Result<ir::ExprId, Box<Diagnostic>> {
        match self.node(a).kind {
            ir::ExprKind::Int(i) => self.push(Ty::INT, ir::ExprKind::Int(i.wrapping_neg()), span),
            _ => self.push(Ty::INT, ir::ExprKind::Neg(a), span),
        }
    }

    /// `a op b`, folded with the interpreter's arithmetic when both are constants.
    fn push_arith(
        &mut self,
        op: ArithOp,
        a: ir::ExprId,
        b: ir::ExprId,
        span: Span,
    ) -> Result<ir::ExprId, Box<Diagnostic>> {
        match (&self.node(a).kind, &self.node(b).kind) {
            (ir::ExprKind::Int(x), ir::ExprKind::Int(y)) => {
                let r = vigil_runtime::ops::arith(op, *x, *y);
                self.push(Ty::INT, ir::ExprKind::Int(r), span)
            }
            _ => self.push(Ty::INT, ir::ExprKind::Arith(op, a, b), span),
        }
    }

    /// `a op b`, a comparison, folded when both are constants.
    fn push_cmp(
        &mut self,
        op: CmpOp,
        a: ir::ExprId,
        b: ir::ExprId,
        span: Span,
    ) -> Result<ir::ExprId, Box<Diagnostic>> {
        match (self.const_of(a), self.const_of(b)) {
            (Some(x), Some(y)) => {
                let r = fold_cmp(op, &x, &y);
                self.push(Ty::BOOL, ir::ExprKind::Bool(r), span)
            }
            _ => self.push(Ty::BOOL, ir::ExprKind::Cmp(op, a, b), span),
        }
    }

    /// `and` (`is_and`) or `or` over `operands`, dropping the constants that change nothing,
    /// stopping at one that decides, and giving a lone operand itself.
    fn lower_logic(
        &mut self,
        is_and: bool,
        operands: &[ExprId],
        frame: &mut Frame,
        depth: u16,
        span: Span,
    ) -> Result<Lv, Box<Diagnostic>> {
        let mut ops = Vec::with_capacity(operands.len());
        let mut decided = None;
        for &op in operands {
            let n = self.node_of(op, frame, depth)?;
            match self.node(n).kind {
                // `true` in an `and` and `false` in an `or` change nothing.
                ir::ExprKind::Bool(b) if b == is_and => {}
                ir::ExprKind::Bool(b) => {
                    decided = Some(b);
                    break;
                }
                _ => ops.push(n),
            }
        }
        let kind = match (decided, ops.as_slice()) {
            (Some(b), _) => ir::ExprKind::Bool(b),
            (None, []) => ir::ExprKind::Bool(is_and),
            (None, [one]) => return Ok(Lv::Node(*one)),
            (None, _) if is_and => ir::ExprKind::And(ops),
            (None, _) => ir::ExprKind::Or(ops),
        };
        Ok(Lv::Node(self.push(Ty::BOOL, kind, span)?))
    }

    /// `lhs in list` (`iin` when `fold`). String membership in a constant list becomes a
    /// string-list test, the prefilter's favourite shape.
    fn lower_member(
        &mut self,
        lhs: ExprId,
        list: ExprId,
        fold: bool,
        frame: &mut Frame,
        depth: u16,
        span: Span,
    ) -> Result<ir::ExprId, Box<Diagnostic>> {
        let lhs_ty = self.ty_of(lhs);
        let lhs = self.node_of(lhs, frame, depth)?;
        let list_is_const = matches!(
            self.module().expr(list).kind,
            hir::ExprKind::List(_) | hir::ExprKind::ListRef(_)
        );
        let kind = if list_is_const && lhs_ty == Ty::STR {
            let list = self.const_list(list)?;
            ir::ExprKind::StrList {
                op: StrTest::Eq,
                fold,
                quant: Quant::Any,
                lhs,
                list,
            }
        } else {
            let list = self.node_of(list, frame, depth)?;
            ir::ExprKind::Member { lhs, list, fold }
        };
        self.push(Ty::BOOL, kind, span)
    }

    /// Inlines a call of fn `func`: its body lowered in a new frame whose parameters are the
    /// lowered arguments and whose quantifiers take levels below the caller's.
    fn inline_call(
        &mut self,
        func: hir::FnId,
        args: &[ExprId],
        frame: &mut Frame,
        depth: u16,
    ) -> Result<Lv, Box<Diagnostic>> {
        let mut lowered = Vec::with_capacity(args.len());
        for &a in args {
            lowered.push(self.lower(a, frame, depth)?);
        }
        let body = self.module().func(func).body;
        self.inlined = true;
        let mut inner = Frame {
            args: lowered,
            base_level: frame.base_level + depth,
            memo: HashMap::new(),
        };
        self.lower(body, &mut inner, 0)
    }

    fn memo(&mut self, frame: &mut Frame, id: ExprId, v: Lv) -> Result<Lv, Box<Diagnostic>> {
        frame.memo.insert(id, v);
        Ok(v)
    }

    fn node_of(
        &mut self,
        id: ExprId,
        frame: &mut Frame,
        depth: u16,
    ) -> Result<ir::ExprId, Box<Diagnostic>> {
        match self.lower(id, frame, depth)? {
            Lv::Node(n) => Ok(n),
            Lv::Event(_) => Err(self.not_value(id)),
        }
    }

    fn step_sel(&self, index: u32) -> EventSel {
        if self.step == Some(index) {
            EventSel::Current
        } else {
            EventSel::Step(index)
        }
    }

    /// The event a field base refers to, after substituting fn arguments.
    fn base_sel(&self, base: FieldBase, frame: &Frame) -> Option<EventSel> {
        match base {
            FieldBase::Event => Some(EventSel::Current),
            FieldBase::Step(i) => Some(self.step_sel(i)),
            FieldBase::Param(i) => match frame.args.get(i as usize) {
                Some(Lv::Event(EventSel::Step(j))) => Some(self.step_sel(*j)),
                Some(Lv::Event(EventSel::Current)) => Some(EventSel::Current),
                _ => None,
            },
        }
    }

    fn lower_field(
        &mut self,
        base: FieldBase,
        field: &FieldInfo,
        frame: &Frame,
        span: Span,
    ) -> Result<Lv, Box<Diagnostic>> {
        match self.base_sel(base, frame) {
            Some(EventSel::Current) => {
                let event = self.event_name.clone();
                let fref = self.field_ref(field, &event);
                Ok(Lv::Node(self.push(
                    field.ty,
                    ir::ExprKind::Field(fref),
                    span,
                )?))
            }
            Some(EventSel::Step(j)) => {
                let cap = self.capture(j, field);
                Ok(Lv::Node(self.push(
                    field.ty,
                    ir::ExprKind::Captured(cap),
                    span,
                )?))
            }
            None => Err(Box::new(Diagnostic::error(
                ErrorCode::FieldOnNonEvent,
                span,
                format!("`{}` is not read from an event", field.name),
                "field of a non-event value",
            ))),
        }
    }

    /// A field of the current event, for `exists` and `truncated`, which read event flags.
    fn current_field(
        &mut self,
        base: FieldBase,
        field: &FieldInfo,
        frame: &Frame,
        span: Span,
        what: &str,
    ) -> Result<FieldRef, Box<Diagnostic>> {
        match self.base_sel(base, frame) {
            Some(EventSel::Current) => {
                let event = self.event_name.clone();
                Ok(self.field_ref(field, &event))
            }
            _ => Err(Box::new(
                Diagnostic::error(
                    ErrorCode::NotAField,
                    span,
                    format!("`{what}` reads a field of the event being matched"),
                    "an earlier step's field",
                )
                .with_note("an earlier step's values are captured without their flags"),
            )),
        }
    }

    fn lower_builtin(
        &mut self,
        builtin: BuiltinId,
        args: &[ExprId],
        ty: Ty,
        frame: &mut Frame,
        depth: u16,
        span: Span,
    ) -> Result<Lv, Box<Diagnostic>> {
        let module = self.module();
        let Some(def) = builtins::get(builtin) else {
            return Err(self.not_value(args.first().copied().unwrap_or(ExprId(0))));
        };
        if def.name == "truncated" {
            let arg = args.first().copied().unwrap_or(ExprId(0));
            let hir::ExprKind::Field { base, field } = &module.expr(arg).kind else {
                return Err(self.not_value(arg));
            };
            let fref = self.current_field(*base, field, frame, span, "truncated")?;
            return Ok(Lv::Node(self.push(
                Ty::BOOL,
                ir::ExprKind::Truncated(fref),
                span,
            )?));
        }
        let mut nodes = Vec::with_capacity(args.len());
        let mut params = Vec::with_capacity(args.len());
        for (i, &a) in args.iter().enumerate() {
            nodes.push(self.node_of(a, frame, depth)?);
            let declared = def.params.get(i);
            params.push(match declared {
                Some(ParamTy::Exact(t)) => *t,
                Some(ParamTy::FieldRef(s)) => Ty::Scalar(*s),
                _ => self.ty_of(a),
            });
        }
        // Fold calls whose arguments are all constants with the registry's own function.
        let consts: Option<Vec<Const>> = nodes.iter().map(|n| self.const_of(*n)).collect();
        if let Some(consts) = consts {
            let values: Vec<Value<'static>> = consts.iter().map(const_value).collect();
            if let Some(c) = value_const(&(def.eval)(&values)) {
                return Ok(Lv::Node(self.push_const(c, span)?));
            }
        }
        let call = CallId(self.p.builtins.intern(BuiltinRef {
            name: def.name.to_owned(),
            params,
            ret: def.ret,
        }) as u16);
        Ok(Lv::Node(self.push(
            ty,
            ir::ExprKind::Call {
                builtin: call,
                args: nodes,
            },
            span,
        )?))
    }

    /// Interns the constant list that HIR node `id` denotes.
    fn const_list(&mut self, id: ExprId) -> Result<ListId, Box<Diagnostic>> {
        let module = self.module();
        let (elem, items) = match &module.expr(id).kind {
            hir::ExprKind::ListRef(l) => {
                let def = module.list(*l);
                let elem = def.elem.unwrap_or(Scalar::Str);
                let items = def.values.iter().filter_map(value_const).collect();
                (elem, items)
            }
            hir::ExprKind::List(items) => {
                let elem = match self.typed.ty(id) {
                    Type::Value(Ty::List(s)) => *s,
                    _ => Scalar::Str,
                };
                let mut out = Vec::with_capacity(items.len());
                for &item in items {
                    match &module.expr(item).kind {
                        hir::ExprKind::Bool(b) => out.push(Const::Bool(*b)),
                        hir::ExprKind::Int(i) => out.push(Const::Int(*i)),
                        hir::ExprKind::Str(s) => out.push(Const::Str(s.value.clone())),
                        hir::ExprKind::Ip(ip) => out.push(Const::Ip(*ip)),
                        hir::ExprKind::Cidr(ip, n) => out.push(Const::Cidr(*ip, *n)),
                        hir::ExprKind::Neg(n) => match module.expr(*n).kind {
                            hir::ExprKind::Int(i) => out.push(Const::Int(i.wrapping_neg())),
                            _ => return Err(self.not_value(item)),
                        },
                        _ => return Err(self.not_value(item)),
                    }
                }
                (elem, out)
            }
            _ => return Err(self.not_value(id)),
        };
        Ok(ListId(self.p.lists.intern(ConstList { elem, items })))
    }
}

/// Drops the nodes no root reaches (operands that constant folding replaced) and renumbers the
/// rest, keeping their order, so the arena stays topological and holds only live code.
fn compact(rule: &mut ir::Rule, debug: &mut ir::RuleDebug) {
    let n = rule.exprs.len();
    let mut live = vec![false; n];
    for root in rule.roots() {
        if let Some(l) = live.get_mut(root.0 as usize) {
            *l = true;
        }
    }
    // Operands have smaller ids than their node: one backward pass marks everything reachable.
    for i in (0..n).rev() {
        if live[i] {
            rule.exprs[i].kind.for_each_operand(|o| {
                if let Some(l) = live.get_mut(o.0 as usize) {
                    *l = true;
                }
            });
        }
    }
    if live.iter().all(|&l| l) {
        return;
    }
    let mut new_id = vec![ir::ExprId(u32::MAX); n];
    let mut exprs = Vec::with_capacity(n);
    let mut spans = Vec::with_capacity(n);
    for (i, expr) in std::mem::take(&mut rule.exprs).into_iter().enumerate() {
        if live[i] {
            new_id[i] = ir::ExprId(exprs.len() as u32);
            let mut expr = expr;
            expr.kind.map_operands(|o| new_id[o.0 as usize]);
            exprs.push(expr);
            spans.push(debug.exprs.get(i).copied().unwrap_or_default());
        }
    }
    rule.exprs = exprs;
    debug.exprs = spans;
    let map = |e: &mut ir::ExprId| *e = new_id[e.0 as usize];
    match &mut rule.kind {
        ir::RuleKind::Single { cond, .. } => cond.iter_mut().for_each(map),
        ir::RuleKind::Threshold(t) => t.cond.iter_mut().for_each(map),
        ir::RuleKind::Sequence(s) | ir::RuleKind::SequenceAnyOrder(s) => s
            .steps
            .iter_mut()
            .for_each(|st| st.cond.iter_mut().for_each(map)),
    }
    for part in &mut rule.emit {
        if let TemplatePart::Expr(e) = part {
            map(e);
        }
    }
    rule.fields.iter_mut().for_each(|(_, e)| map(e));
}

fn unreachable_cidr(span: Span) -> Result<ir::ExprId, Box<Diagnostic>> {
    Err(Box::new(Diagnostic::error(
        ErrorCode::TypeNotAllowed,
        span,
        "a network prefix is only allowed in a list",
        "cidr outside a list",
    )))
}

fn fold_cmp(op: CmpOp, a: &Const, b: &Const) -> bool {
    match op {
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
    }
}

fn const_value(c: &Const) -> Value<'static> {
    match c {
        Const::Bool(b) => Value::Bool(*b),
        Const::Int(i) => Value::Int(*i),
        Const::Str(s) => Value::Str(std::borrow::Cow::Owned(s.clone())),
        Const::Ip(ip) => Value::Ip(*ip),
        Const::Cidr(ip, n) => Value::Cidr(vigil_runtime::value::Cidr {
            addr: *ip,
            prefix: *n,
        }),
    }
}

fn value_const(v: &Value<'_>) -> Option<Const> {
    Some(match v {
        Value::Bool(b) => Const::Bool(*b),
        Value::Int(i) => Const::Int(*i),
        Value::Str(s) => Const::Str(s.to_string()),
        Value::Ip(ip) => Const::Ip(*ip),
        Value::Cidr(c) => Const::Cidr(c.addr, c.prefix),
        Value::List(_) => return None,
    })
}
