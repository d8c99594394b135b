//! Expressions: `ast::Expr` → arena nodes, with names resolved.
//!
//! The conversion is a loop over an explicit work stack (visit a node, then build it once its
//! operands are built), so nodes come out in post-order: operands before the nodes that use
//! them. Name lookup is innermost first: quantifier binder, fn parameter, `event`, sequence
//! step, field of the event, user lists and fns, stdlib lists and fns, builtins.

use vigil_grammar::ast;
use vigil_grammar::span::Span;
use vigil_runtime::builtins;
use vigil_runtime::ir::{ArithOp, CmpOp, Quant, StrTest};
use vigil_runtime::schema::EventTypeId;

use super::{suggest_fix, FixAt, Item, Resolver};
use crate::diag::{Diagnostic, ErrorCode};
use crate::hir::{
    BinderId, ExprId, ExprKind, FieldBase, FieldInfo, FieldSource, FnId, ParamType, StrLit,
};

/// The event whose fields are in scope.
#[derive(Clone, Debug)]
pub(crate) enum EventScope {
    /// No event (fn bodies, lists, test values).
    None,
    /// The rule's event types are unknown (already reported): unknown names are not reported.
    Poisoned,
    /// The rule's (or step's) event types.
    Types(Vec<EventTypeId>),
}

/// A sequence step as seen from expressions.
#[derive(Clone, Debug)]
pub(crate) struct StepScope {
    /// Its name.
    pub(crate) name: String,
    /// The name's span.
    pub(crate) span: Span,
    /// Its event type, when known.
    pub(crate) event: Option<EventTypeId>,
}

/// What names mean in one expression.
#[derive(Clone, Debug)]
pub(crate) struct Scope {
    binders: Vec<(String, BinderId)>,
    func: Option<FnId>,
    steps: Vec<StepScope>,
    current_step: Option<usize>,
    /// `sequence any order`: every other step counts as later.
    unordered: bool,
    event: EventScope,
}

impl Scope {
    /// No names but globals.
    pub(crate) fn empty() -> Self {
        Scope {
            binders: Vec::new(),
            func: None,
            steps: Vec::new(),
            current_step: None,
            unordered: false,
            event: EventScope::None,
        }
    }

    /// A fn body: its parameters.
    pub(crate) fn for_fn(func: FnId) -> Self {
        Scope {
            func: Some(func),
            ..Scope::empty()
        }
    }

    /// A rule's condition: the event's fields.
    pub(crate) fn for_rule(event: EventScope) -> Self {
        Scope {
            event,
            ..Scope::empty()
        }
    }

    /// A sequence step's condition: its event's fields and the earlier steps.
    pub(crate) fn for_step(steps: Vec<StepScope>, current: usize) -> Self {
        let event = match steps.get(current).and_then(|s| s.event) {
            Some(id) => EventScope::Types(vec![id]),
            None => EventScope::Poisoned,
        };
        Scope {
            steps,
            current_step: Some(current),
            event,
            ..Scope::empty()
        }
    }

    /// A step's condition in `sequence any order`: its event's fields only (naming another
    /// step is E0209, as no step is known to come before it).
    pub(crate) fn for_unordered_step(steps: Vec<StepScope>, current: usize) -> Self {
        Scope {
            unordered: true,
            ..Scope::for_step(steps, current)
        }
    }
}

/// The result of looking a field up across the event types of a rule.
pub(crate) enum FieldLookup {
    /// On every type with one type.
    Found(FieldInfo),
    /// On some types, or with different types: the note says which.
    NotCommon(String),
    /// On none.
    Missing,
}

/// Whether an expression is a constant literal: bool, int (possibly negated), string, or a
/// list of those.
pub(crate) fn is_constant(e: &ast::Expr) -> bool {
    fn scalar(e: &ast::Expr) -> bool {
        match &e.kind {
            ast::ExprKind::Bool(_)
            | ast::ExprKind::Int(_)
            | ast::ExprKind::Str(_)
            | ast::ExprKind::Error => true,
            ast::ExprKind::Unary(ast::UnOp::Neg, inner) => {
                matches!(inner.kind, ast::ExprKind::Int(_))
            }
            _ => false,
        }
    }
    match &e.kind {
        ast::ExprKind::List(items) => items.iter().all(scalar),
        _ => scalar(e),
    }
}

/// The value of an integer literal node.
fn int_literal(e: &ast::Expr) -> Option<u64> {
    match e.kind {
        ast::ExprKind::Int(n) => Some(n),
        _ => None,
    }
}

/// Work items of the conversion loop.
enum Task<'a> {
    Visit(&'a ast::Expr),
    Build(&'a ast::Expr),
    /// After a quantifier's list: bind its name for the body.
    Bind(&'a ast::Ident),
}

fn str_test(op: ast::StrOp) -> (StrTest, bool) {
    match op {
        ast::StrOp::Ieq => (StrTest::Eq, true),
        ast::StrOp::Contains => (StrTest::Contains, false),
        ast::StrOp::StartsWith => (StrTest::StartsWith, false),
        ast::StrOp::EndsWith => (StrTest::EndsWith, false),
        ast::StrOp::IContains => (StrTest::Contains, true),
        ast::StrOp::IStartsWith => (StrTest::StartsWith, true),
        ast::StrOp::IEndsWith => (StrTest::EndsWith, true),
    }
}

fn quant(q: ast::Quantifier) -> Quant {
    match q {
        ast::Quantifier::Any => Quant::Any,
        ast::Quantifier::All => Quant::All,
    }
}

impl Resolver<'_> {
    /// Converts an expression; every name in it is resolved in `scope`.
    pub(crate) fn expr(&mut self, root: &ast::Expr, scope: &mut Scope) -> ExprId {
        let mut tasks: Vec<Task<'_>> = vec![Task::Visit(root)];
        let mut results: Vec<ExprId> = Vec::new();
        let mut binder_ids: Vec<BinderId> = Vec::new();
        while let Some(task) = tasks.pop() {
            match task {
                Task::Visit(e) => self.visit(e, scope, &mut tasks, &mut results),
                Task::Bind(name) => {
                    let list = results.last().copied().unwrap_or(ExprId(0));
                    let id = BinderId(u32::try_from(self.module.binders.len()).unwrap_or(u32::MAX));
                    self.warn_binder_shadows(name, scope);
                    self.module.binders.push(crate::hir::Binder {
                        name: name.name.clone(),
                        span: name.span,
                        list,
                    });
                    scope.binders.push((name.name.clone(), id));
                    binder_ids.push(id);
                }
                Task::Build(e) => {
                    let id = self.build(e, scope, &mut results, &mut binder_ids);
                    results.push(id);
                }
            }
        }
        results
            .pop()
            .unwrap_or_else(|| self.push_expr(ExprKind::Error, root.span))
    }

    fn visit<'a>(
        &mut self,
        e: &'a ast::Expr,
        scope: &mut Scope,
        tasks: &mut Vec<Task<'a>>,
        results: &mut Vec<ExprId>,
    ) {
        let leaf = |kind| Some(kind);
        let kind = match &e.kind {
            ast::ExprKind::Bool(b) => leaf(ExprKind::Bool(*b)),
            ast::ExprKind::Int(n) => match i64::try_from(*n) {
                Ok(v) => leaf(ExprKind::Int(v)),
                Err(_) => {
                    self.int_out_of_range(e.span, *n, false);
                    leaf(ExprKind::Error)
                }
            },
            ast::ExprKind::Unary(ast::UnOp::Neg, inner) if int_literal(inner).is_some() => {
                let n = int_literal(inner).unwrap_or(0);
                let v = -i128::from(n);
                match i64::try_from(v) {
                    Ok(v) => leaf(ExprKind::Int(v)),
                    Err(_) => {
                        self.int_out_of_range(inner.span, n, true);
                        leaf(ExprKind::Error)
                    }
                }
            }
            ast::ExprKind::Str(s) => leaf(ExprKind::Str(StrLit {
                value: s.value.clone(),
                content_offset: s.content_offset,
                verbatim: s.verbatim,
            })),
            ast::ExprKind::Name(n) => leaf(self.name(n, scope)),
            ast::ExprKind::Error => leaf(ExprKind::Error),
            ast::ExprKind::Quant {
                binder, list, body, ..
            } => {
                tasks.push(Task::Build(e));
                tasks.push(Task::Visit(body));
                tasks.push(Task::Bind(binder));
                tasks.push(Task::Visit(list));
                None
            }
            _ => {
                tasks.push(Task::Build(e));
                let mut children = Vec::new();
                e.for_each_child(|c| children.push(c));
                for c in children.into_iter().rev() {
                    tasks.push(Task::Visit(c));
                }
                None
            }
        };
        if let Some(kind) = kind {
            let id = self.push_expr(kind, e.span);
            results.push(id);
        }
    }

    fn int_out_of_range(&mut self, span: Span, n: u64, negative: bool) {
        let mut d = Diagnostic::error(
            ErrorCode::IntOutOfRange,
            span,
            format!(
                "integer literal `{}{n}` is out of range",
                if negative { "-" } else { "" }
            ),
            "does not fit in a 64-bit signed int",
        )
        .with_note("ints range from -9223372036854775808 to 9223372036854775807");
        if !negative && n == 1u64 << 63 {
            d = d.with_help("`-9223372036854775808` is accepted only with its unary minus");
        }
        self.sink.push(d);
    }

    /// Pops `n` results (in source order).
    fn pop_n(results: &mut Vec<ExprId>, n: usize) -> Vec<ExprId> {
        let at = results.len().saturating_sub(n);
        results.split_off(at)
    }

    fn pop1(results: &mut Vec<ExprId>) -> ExprId {
        results.pop().unwrap_or(ExprId(0))
    }

    fn build(
        &mut self,
        e: &ast::Expr,
        scope: &mut Scope,
        results: &mut Vec<ExprId>,
        binder_ids: &mut Vec<BinderId>,
    ) -> ExprId {
        let kind = match &e.kind {
            ast::ExprKind::List(items) => ExprKind::List(Self::pop_n(results, items.len())),
            ast::ExprKind::Field(_, name) => {
                let base = Self::pop1(results);
                self.field_access(base, name, scope)
            }
            ast::ExprKind::Call(name, args) => {
                let args = Self::pop_n(results, args.len());
                self.call(name, args)
            }
            ast::ExprKind::Exists(_) => ExprKind::Exists(Self::pop1(results)),
            ast::ExprKind::Unary(ast::UnOp::Not, _) => ExprKind::Not(Self::pop1(results)),
            ast::ExprKind::Unary(ast::UnOp::Neg, _) => ExprKind::Neg(Self::pop1(results)),
            ast::ExprKind::Binary(op, _, _) => {
                let b = Self::pop1(results);
                let a = Self::pop1(results);
                match op {
                    ast::BinOp::Eq => ExprKind::Cmp(CmpOp::Eq, a, b),
                    ast::BinOp::Ne => ExprKind::Cmp(CmpOp::Ne, a, b),
                    ast::BinOp::Lt => ExprKind::Cmp(CmpOp::Lt, a, b),
                    ast::BinOp::Le => ExprKind::Cmp(CmpOp::Le, a, b),
                    ast::BinOp::Gt => ExprKind::Cmp(CmpOp::Gt, a, b),
                    ast::BinOp::Ge => ExprKind::Cmp(CmpOp::Ge, a, b),
                    ast::BinOp::Add => ExprKind::Arith(ArithOp::Add, a, b),
                    ast::BinOp::Sub => ExprKind::Arith(ArithOp::Sub, a, b),
                    ast::BinOp::Mul => ExprKind::Arith(ArithOp::Mul, a, b),
                    ast::BinOp::Div => ExprKind::Arith(ArithOp::Div, a, b),
                    ast::BinOp::Rem => ExprKind::Arith(ArithOp::Rem, a, b),
                    ast::BinOp::In => ExprKind::Member {
                        lhs: a,
                        list: b,
                        fold: false,
                    },
                    ast::BinOp::IIn => ExprKind::Member {
                        lhs: a,
                        list: b,
                        fold: true,
                    },
                    ast::BinOp::Matches => ExprKind::Matches { lhs: a, pattern: b },
                    ast::BinOp::Str(op) => {
                        let (op, fold) = str_test(*op);
                        ExprKind::StrTest {
                            op,
                            fold,
                            lhs: a,
                            rhs: b,
                        }
                    }
                }
            }
            ast::ExprKind::And(v) => ExprKind::And(Self::pop_n(results, v.len())),
            ast::ExprKind::Or(v) => ExprKind::Or(Self::pop_n(results, v.len())),
            ast::ExprKind::StrAnyAll { op, quant: q, .. } => {
                let list = Self::pop1(results);
                let lhs = Self::pop1(results);
                let (op, fold) = str_test(*op);
                ExprKind::StrList {
                    op,
                    fold,
                    quant: quant(*q),
                    lhs,
                    list,
                }
            }
            ast::ExprKind::Quant { quant: q, .. } => {
                let body = Self::pop1(results);
                let list = Self::pop1(results);
                scope.binders.pop();
                let binder = binder_ids.pop().unwrap_or(BinderId(0));
                ExprKind::Quant {
                    quant: quant(*q),
                    binder,
                    list,
                    body,
                }
            }
            // Leaves are built in `visit`.
            ast::ExprKind::Bool(_)
            | ast::ExprKind::Int(_)
            | ast::ExprKind::Str(_)
            | ast::ExprKind::Name(_)
            | ast::ExprKind::Error => ExprKind::Error,
        };
        self.push_expr(kind, e.span)
    }

    fn warn_binder_shadows(&mut self, name: &ast::Ident, scope: &Scope) {
        let what = if scope.binders.iter().any(|(n, _)| *n == name.name) {
            Some("an outer binder".to_owned())
        } else if scope.func.is_some_and(|f| {
            self.module
                .func(f)
                .params
                .iter()
                .any(|p| p.name == name.name)
        }) {
            Some(format!("the parameter `{}`", name.name))
        } else if scope.steps.iter().any(|s| s.name == name.name) {
            Some(format!("the step `{}`", name.name))
        } else if matches!(&scope.event, EventScope::Types(t) if !matches!(self.common_field(t, &name.name), FieldLookup::Missing))
        {
            Some(format!("the field `{}`", name.name))
        } else {
            self.global(&name.name)
                .map(|item| format!("the {} `{}`", Self::item_kind(item), name.name))
        };
        if let Some(what) = what {
            let d = Diagnostic::warning(
                ErrorCode::Shadowed,
                name.span,
                format!("`{}` shadows {what}", name.name),
                "shadows an outer name",
            )
            .with_help("rename the binder");
            self.sink.push(d);
        }
    }

    /// Looks a field up on every one of `types`.
    pub(crate) fn common_field(&self, types: &[EventTypeId], name: &str) -> FieldLookup {
        let mut sources: Vec<FieldSource> = Vec::new();
        let mut ty = None;
        let mut missing: Vec<&str> = Vec::new();
        let mut conflict: Option<String> = None;
        for &id in types {
            let Some(event) = self.schema.event_by_id(id) else {
                continue;
            };
            match event.field(name) {
                Some((index, def)) => {
                    match ty {
                        None => ty = Some((def.ty, event.name.as_str())),
                        Some((t, first)) if t != def.ty => {
                            conflict = Some(format!(
                                "`{name}` is `{t}` on `{first}` but `{}` on `{}`",
                                def.ty, event.name
                            ));
                        }
                        Some(_) => {}
                    }
                    sources.push(FieldSource {
                        event: event.name.clone(),
                        event_id: id,
                        index,
                        max_len: def.max_len,
                        max_items: def.max_items,
                    });
                }
                None => missing.push(event.name.as_str()),
            }
        }
        match ty {
            None => FieldLookup::Missing,
            Some(_) if !missing.is_empty() => {
                FieldLookup::NotCommon(format!("`{}` has no field `{name}`", missing.join("`, `")))
            }
            Some(_) if conflict.is_some() => FieldLookup::NotCommon(conflict.unwrap_or_default()),
            Some((t, _)) => FieldLookup::Found(FieldInfo {
                name: name.to_owned(),
                ty: t,
                sources,
            }),
        }
    }

    /// Names of the fields common to all `types` (for suggestions).
    pub(crate) fn common_field_names(&self, types: &[EventTypeId]) -> Vec<String> {
        let Some(first) = types.first().and_then(|id| self.schema.event_by_id(*id)) else {
            return Vec::new();
        };
        first
            .fields
            .iter()
            .filter(|f| matches!(self.common_field(types, &f.name), FieldLookup::Found(_)))
            .map(|f| f.name.clone())
            .collect()
    }

    fn event_names(&self, types: &[EventTypeId]) -> String {
        types
            .iter()
            .filter_map(|id| self.schema.event_by_id(*id))
            .map(|e| format!("`{}`", e.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Reports an unknown field of `types`; `extra` are more names in scope for suggestions;
    /// `at` is where a suggestion's fix goes.
    pub(crate) fn unknown_field(
        &mut self,
        span: Span,
        name: &str,
        types: &[EventTypeId],
        code: ErrorCode,
        extra: Vec<String>,
        at: FixAt,
    ) {
        let mut cands = self.common_field_names(types);
        cands.extend(extra);
        let events = self.event_names(types);
        let on = if types.len() > 1 { "events" } else { "event" };
        let (message, label) = match code {
            ErrorCode::UnknownTemplateField => (
                format!("unknown field `{name}` in emit template on {on} {events}"),
                "no such field",
            ),
            ErrorCode::UnknownOutputField => (
                format!("unknown field `{name}` in `fields` on {on} {events}"),
                "no such field",
            ),
            _ => (
                format!("unknown field `{name}` on {on} {events}"),
                "no such field",
            ),
        };
        let d = Diagnostic::error(code, span, message, label);
        let d = suggest_fix(d, name, cands.iter().map(String::as_str), at);
        self.sink.push(d);
    }

    /// Reports a field that is not on every event type of the rule.
    pub(crate) fn not_common(&mut self, name: &ast::Ident, types: &[EventTypeId], note: String) {
        let events = self.event_names(types);
        let d = Diagnostic::error(
            ErrorCode::FieldNotCommon,
            name.span,
            format!(
                "field `{}` is not common to every event type of the rule ({events})",
                name.name
            ),
            "not on every event type",
        )
        .with_note(note)
        .with_help(
            "only fields every listed event type has, with one type, are in scope: split the rule",
        );
        self.sink.push(d);
    }

    /// Every value name in scope, for suggestions.
    fn names_in_scope(&self, scope: &Scope) -> Vec<String> {
        let mut out: Vec<String> = scope.binders.iter().map(|(n, _)| n.clone()).collect();
        if let Some(f) = scope.func {
            out.extend(self.module.func(f).params.iter().map(|p| p.name.clone()));
        }
        out.extend(scope.steps.iter().map(|s| s.name.clone()));
        if let EventScope::Types(t) = &scope.event {
            out.push("event".to_owned());
            out.extend(self.common_field_names(t));
        }
        out.extend(self.visible_lists().into_iter().map(str::to_owned));
        out
    }

    /// Resolves a bare name used as a value.
    fn name(&mut self, n: &ast::Ident, scope: &Scope) -> ExprKind {
        let name = n.name.as_str();
        if let Some((_, id)) = scope.binders.iter().rev().find(|(b, _)| b == name) {
            return ExprKind::Binder(*id);
        }
        if let Some(func) = scope.func {
            if let Some(index) = self
                .module
                .func(func)
                .params
                .iter()
                .position(|p| p.name == name)
            {
                if let Some(u) = self
                    .params_used
                    .get_mut(func.0 as usize)
                    .and_then(|v| v.get_mut(index))
                {
                    *u = true;
                }
                return ExprKind::Param {
                    func,
                    index: u32::try_from(index).unwrap_or(0),
                };
            }
        }
        if let Some(j) = scope.steps.iter().position(|s| s.name == name) {
            let current = scope.current_step.unwrap_or(usize::MAX);
            let Some(event) = scope.steps[j].event else {
                return ExprKind::Error;
            };
            if j == current {
                return ExprKind::Event {
                    events: vec![event],
                };
            }
            if (j > current || scope.unordered) && current != usize::MAX {
                self.later_step(n, &scope.steps[j], &scope.steps[current], scope.unordered);
                return ExprKind::Error;
            }
            return ExprKind::Step {
                index: u32::try_from(j).unwrap_or(0),
                event,
            };
        }
        if name == "event" {
            match &scope.event {
                EventScope::Types(t) => return ExprKind::Event { events: t.clone() },
                EventScope::Poisoned => return ExprKind::Error,
                EventScope::None => {}
            }
        }
        if let EventScope::Types(types) = &scope.event {
            match self.common_field(types, name) {
                FieldLookup::Found(field) => {
                    if let Some(item) = self.global(name) {
                        let what = Self::item_kind(item);
                        let d = Diagnostic::warning(
                            ErrorCode::Shadowed,
                            n.span,
                            format!("the field `{name}` shadows the {what} `{name}`"),
                            "this is the event's field",
                        )
                        .with_help(format!("rename the {what} to use it here"));
                        self.sink.push(d);
                    }
                    return ExprKind::Field {
                        base: FieldBase::Event,
                        field,
                    };
                }
                FieldLookup::NotCommon(note) => {
                    let types = types.clone();
                    self.not_common(n, &types, note);
                    return ExprKind::Error;
                }
                FieldLookup::Missing => {}
            }
        }
        match self.global(name) {
            Some(Item::List(id)) => {
                self.note_ref(Item::List(id));
                return ExprKind::ListRef(id);
            }
            Some(Item::Fn(id)) => {
                self.note_ref(Item::Fn(id));
                let d = Diagnostic::error(
                    ErrorCode::NotAValue,
                    n.span,
                    format!("fn `{name}` is used as a value"),
                    "a fn, not a value",
                )
                .with_help(format!("call it: `{name}(...)`"));
                self.sink.push(d);
                return ExprKind::Error;
            }
            None => {}
        }
        if builtins::lookup(name).is_some() {
            let d = Diagnostic::error(
                ErrorCode::NotAValue,
                n.span,
                format!("builtin `{name}` is used as a value"),
                "a builtin, not a value",
            )
            .with_help(format!("call it: `{name}(...)`"));
            self.sink.push(d);
            return ExprKind::Error;
        }
        let cands = self.names_in_scope(scope);
        match &scope.event {
            EventScope::Poisoned => {}
            EventScope::Types(types) => {
                let types = types.clone();
                let extra: Vec<String> = cands;
                self.unknown_field(
                    n.span,
                    name,
                    &types,
                    ErrorCode::UnknownField,
                    extra,
                    FixAt::Ident(n.span),
                );
            }
            EventScope::None => {
                let d = Diagnostic::error(
                    ErrorCode::UnknownName,
                    n.span,
                    format!("unknown name `{name}`"),
                    "not found in this scope",
                );
                let mut d = suggest_fix(
                    d,
                    name,
                    cands.iter().map(String::as_str),
                    FixAt::Ident(n.span),
                );
                if name == "event" || scope.func.is_some() {
                    d = d.with_note("a fn sees only its parameters, lists and fns: pass the event as a parameter (`p: process_start`) to read its fields");
                }
                self.sink.push(d);
            }
        }
        ExprKind::Error
    }

    fn later_step(
        &mut self,
        n: &ast::Ident,
        later: &StepScope,
        current: &StepScope,
        unordered: bool,
    ) {
        let d = if unordered {
            Diagnostic::error(
                ErrorCode::LaterStep,
                n.span,
                format!(
                    "step `{}` reads step `{}` in a sequence in any order",
                    current.name, later.name
                ),
                "may not have matched yet",
            )
            .with_label(later.span, "defined here")
            .with_note("in `sequence any order` a step reads only its own event")
        } else {
            Diagnostic::error(
                ErrorCode::LaterStep,
                n.span,
                format!(
                    "step `{}` reads step `{}`, which comes after it",
                    current.name, later.name
                ),
                "not matched yet",
            )
            .with_label(later.span, "defined here, later")
            .with_note("a step may read only the steps before it")
        };
        self.sink.push(d);
    }

    /// `base.name`: a field of an event value.
    fn field_access(&mut self, base: ExprId, name: &ast::Ident, _scope: &Scope) -> ExprKind {
        let base_expr = self.module.expr(base).clone();
        let (fb, types) = match &base_expr.kind {
            ExprKind::Error => return ExprKind::Error,
            ExprKind::Event { events } => (FieldBase::Event, events.clone()),
            ExprKind::Step { index, event } => (FieldBase::Step(*index), vec![*event]),
            ExprKind::Param { func, index } => {
                match &self.module.func(*func).params[*index as usize].ty {
                    ParamType::Event(e) => (FieldBase::Param(*index), vec![e.id]),
                    ParamType::Value(t) => {
                        let t = *t;
                        return self.not_event(base_expr.span, name, &format!("a `{t}` parameter"));
                    }
                    ParamType::Unknown => return ExprKind::Error,
                }
            }
            ExprKind::Field { field, .. } => {
                let t = field.ty;
                return self.not_event(base_expr.span, name, &format!("a `{t}` field"));
            }
            ExprKind::Binder(_) => {
                return self.not_event(base_expr.span, name, "a quantifier's element")
            }
            ExprKind::ListRef(_) => return self.not_event(base_expr.span, name, "a list"),
            _ => return self.not_event(base_expr.span, name, "a value"),
        };
        match self.common_field(&types, &name.name) {
            FieldLookup::Found(field) => ExprKind::Field { base: fb, field },
            FieldLookup::NotCommon(note) => {
                self.not_common(name, &types, note);
                ExprKind::Error
            }
            FieldLookup::Missing => {
                self.unknown_field(
                    name.span,
                    &name.name,
                    &types,
                    ErrorCode::UnknownField,
                    Vec::new(),
                    FixAt::Ident(name.span),
                );
                ExprKind::Error
            }
        }
    }

    fn not_event(&mut self, base: Span, name: &ast::Ident, what: &str) -> ExprKind {
        let d = Diagnostic::error(
            ErrorCode::FieldOnNonEvent,
            name.span,
            format!("`.{}` on {what}, which is not an event", name.name),
            "only events have fields",
        )
        .with_label(base, "not an event")
        .with_help("read fields of `event`, of a sequence step, or of an event-typed parameter");
        self.sink.push(d);
        ExprKind::Error
    }

    /// `name(args)`: a fn or a builtin.
    fn call(&mut self, name: &ast::Ident, args: Vec<ExprId>) -> ExprKind {
        match self.global(&name.name) {
            Some(Item::Fn(func)) => {
                self.note_ref(Item::Fn(func));
                return ExprKind::CallFn { func, args };
            }
            Some(Item::List(l)) => {
                self.note_ref(Item::List(l));
                let d = Diagnostic::error(
                    ErrorCode::UnknownFn,
                    name.span,
                    format!("`{}` is a list, not a fn", name.name),
                    "not callable",
                )
                .with_help(format!("test membership with `x in {}`", name.name));
                self.sink.push(d);
                return ExprKind::Error;
            }
            None => {}
        }
        if let Some((builtin, _)) = builtins::lookup(&name.name) {
            return ExprKind::CallBuiltin { builtin, args };
        }
        let d = Diagnostic::error(
            ErrorCode::UnknownFn,
            name.span,
            format!("unknown fn `{}`", name.name),
            "no such fn or builtin",
        );
        let d = suggest_fix(
            d,
            &name.name,
            self.visible_callables(),
            FixAt::Ident(name.span),
        );
        self.sink.push(d);
        ExprKind::Error
    }
}
