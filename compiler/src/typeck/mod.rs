//! Type checking: [`crate::hir::Module`] → [`Typed`] (the module, completed, plus a type per node).
//!
//! Owns E03xx: operand types, field types, string literals read as `ip` / `cidr` where those
//! are expected (parsed here, at compile time), list typing (declared or inferred for named
//! lists, by context for literals), `matches` patterns (compiled here), fn signatures, rule
//! conditions, meta values, test values, and the W03xx warnings (empty `any`/`all` lists,
//! constant conditions).
//!
//! Checking is one loop over the arena in id order: operands come before the nodes that use
//! them, so each node is typed from its operands' types, with no recursion. String and list
//! literals that context reads as `ip` or `cidr` are rewritten in place.

mod expr;
mod fold;
mod meta;
pub mod regex;

use std::fmt;

use vigil_runtime::schema::{EventTypeId, Schema, SchemaVersion};
use vigil_runtime::types::{Scalar, Ty};
use vigil_runtime::value::{Cidr, Value};

use crate::diag::{Diagnostic, ErrorCode};
use crate::hir::{ExprId, ExprKind, FnId, ListId, Module, RuleKind};
use crate::resolve::{Owner, Sink};

pub use regex::REGEX_SIZE_LIMIT;

/// The type of an expression node.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// A value of a Vigil type.
    Value(Ty),
    /// `[]`, before context gives it an element type.
    EmptyList,
    /// An event value (`event`, a step, an event-typed parameter): one of these types.
    Event(Vec<EventTypeId>),
    /// A node that failed to check (already reported); never in a [`Typed`].
    Error,
}

impl Type {
    const BOOL: Type = Type::Value(Ty::BOOL);
    const INT: Type = Type::Value(Ty::INT);
    const STR: Type = Type::Value(Ty::STR);

    /// The value type, if this is one.
    pub fn ty(&self) -> Option<Ty> {
        match self {
            Type::Value(t) => Some(*t),
            _ => None,
        }
    }

    fn is_error(&self) -> bool {
        matches!(self, Type::Error)
    }
}

/// A type as diagnostics print it (event names need the schema).
pub(crate) struct Show<'a>(pub(crate) &'a Type, pub(crate) &'a Schema);

impl fmt::Display for Show<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Type::Value(t) => write!(f, "{t}"),
            Type::EmptyList => f.write_str("[]"),
            Type::Event(ids) => {
                let names: Vec<&str> = ids
                    .iter()
                    .filter_map(|id| self.1.event_by_id(*id))
                    .map(|e| e.name.as_str())
                    .collect();
                write!(f, "{} event", names.join(" | "))
            }
            Type::Error => f.write_str("{error}"),
        }
    }
}

/// The checked program: what lowering takes.
#[derive(Clone, Debug)]
pub struct Typed {
    /// The module, complete: meta typed, lists' values typed, test values typed; string
    /// literals used as `ip`/`cidr` rewritten to [`ExprKind::Ip`] / [`ExprKind::Cidr`].
    pub module: Module,
    /// The type of every node, indexed by [`ExprId`] (nodes no root reaches may be
    /// [`Type::Error`]: lowering never visits them).
    pub types: Vec<Type>,
    /// The schema's name.
    pub schema_name: String,
    /// The schema's version.
    pub schema_version: SchemaVersion,
}

impl Typed {
    /// The type of node `id`.
    pub fn ty(&self, id: ExprId) -> &Type {
        self.types.get(id.0 as usize).unwrap_or(&Type::Error)
    }
}

/// Checker state.
pub(crate) struct Checker<'s> {
    pub(crate) schema: &'s Schema,
    pub(crate) module: Module,
    pub(crate) types: Vec<Type>,
    pub(crate) sink: Sink,
    /// The stdlib item each node belongs to (diagnostics there are deferred).
    owners: Vec<Option<Owner>>,
    /// The list literal nodes that are named lists' values.
    pub(crate) list_roots: std::collections::HashSet<ExprId>,
}

/// `a `string`` / `an `int``, for labels.
pub(crate) fn a_type(s: Scalar) -> String {
    match s {
        Scalar::Int | Scalar::Ip => format!("an `{s}`"),
        _ => format!("a `{s}`"),
    }
}

/// Checks the module; diagnostics go into `sink` (deferred ones are flushed for used stdlib
/// items at the end).
pub(crate) fn check(module: Module, schema: &Schema, sink: Sink) -> (Typed, Sink) {
    let n = module.exprs.len();
    let mut c = Checker {
        schema,
        module,
        types: vec![Type::Error; n],
        sink,
        owners: vec![None; n],
        list_roots: std::collections::HashSet::new(),
    };
    c.list_roots = c.module.lists.iter().map(|l| l.value).collect();
    c.mark_owners();
    c.type_lists();
    for i in 0..n {
        let id = ExprId(u32::try_from(i).unwrap_or(u32::MAX));
        c.sink.owner = c.owners[i];
        let t = c.node(id);
        c.types[i] = t;
    }
    c.sink.owner = None;
    c.check_fns();
    c.check_rules();
    c.check_tests();
    meta::check(&mut c);
    let module = &c.module;
    c.sink.flush(|owner| match owner {
        Owner::Fn(f) => module.func(f).used,
        Owner::List(l) => module.list(l).used,
    });
    let typed = Typed {
        module: c.module,
        types: c.types,
        schema_name: schema.name.clone(),
        schema_version: schema.version,
    };
    (typed, c.sink)
}

impl Checker<'_> {
    /// Marks every node reachable from a stdlib item's root with that item.
    fn mark_owners(&mut self) {
        let mut roots: Vec<(ExprId, Owner)> = Vec::new();
        for (i, f) in self.module.fns.iter().enumerate() {
            if f.stdlib {
                roots.push((f.body, Owner::Fn(FnId(u32::try_from(i).unwrap_or(0)))));
            }
        }
        for (i, l) in self.module.lists.iter().enumerate() {
            if l.stdlib {
                roots.push((l.value, Owner::List(ListId(u32::try_from(i).unwrap_or(0)))));
            }
        }
        for (root, owner) in roots {
            let mut stack = vec![root];
            while let Some(id) = stack.pop() {
                let Some(slot) = self.owners.get_mut(id.0 as usize) else {
                    continue;
                };
                *slot = Some(owner);
                self.module.exprs[id.0 as usize]
                    .kind
                    .for_each_operand(|c| stack.push(c));
            }
        }
    }

    pub(crate) fn push(&mut self, d: Diagnostic) {
        self.sink.push(d);
    }

    pub(crate) fn show<'a>(&'a self, t: &'a Type) -> Show<'a> {
        Show(t, self.schema)
    }

    /// A type in running text: `` `int` ``, or ``a `process_start` event``.
    pub(crate) fn describe(&self, t: &Type) -> String {
        match t {
            Type::Event(ids) => {
                let names: Vec<String> = ids
                    .iter()
                    .filter_map(|id| self.schema.event_by_id(*id))
                    .map(|e| format!("`{}`", e.name))
                    .collect();
                format!("a {} event", names.join(" or "))
            }
            other => format!("`{}`", self.show(other)),
        }
    }

    /// Reads a literal node as a constant value (after coercion).
    pub(crate) fn const_value(&self, id: ExprId) -> Option<Value<'static>> {
        Some(match &self.module.expr(id).kind {
            ExprKind::Bool(b) => Value::Bool(*b),
            ExprKind::Int(i) => Value::Int(*i),
            ExprKind::Str(s) => Value::Str(s.value.clone().into()),
            ExprKind::Ip(ip) => Value::Ip(*ip),
            ExprKind::Cidr(addr, prefix) => Value::Cidr(Cidr {
                addr: *addr,
                prefix: *prefix,
            }),
            ExprKind::List(items) => Value::List(
                items
                    .iter()
                    .map(|i| self.const_value(*i))
                    .collect::<Option<Vec<_>>>()?,
            ),
            _ => return None,
        })
    }

    /// The scalar type of a literal node, before coercion.
    fn literal_scalar(kind: &ExprKind) -> Option<Scalar> {
        match kind {
            ExprKind::Bool(_) => Some(Scalar::Bool),
            ExprKind::Int(_) => Some(Scalar::Int),
            ExprKind::Str(_) => Some(Scalar::Str),
            ExprKind::Ip(_) => Some(Scalar::Ip),
            ExprKind::Cidr(..) => Some(Scalar::Cidr),
            _ => None,
        }
    }

    /// Types named lists (before the arena loop, so that references know their type).
    fn type_lists(&mut self) {
        for li in 0..self.module.lists.len() {
            let (value, declared, name, span, stdlib) = {
                let l = &self.module.lists[li];
                (l.value, l.declared, l.name.clone(), l.span, l.stdlib)
            };
            self.sink.owner = stdlib.then_some(Owner::List(ListId(u32::try_from(li).unwrap_or(0))));
            let ExprKind::List(items) = self.module.expr(value).kind.clone() else {
                // Not a list literal (already reported as not constant), or a single value.
                if !matches!(self.module.expr(value).kind, ExprKind::Error) {
                    let d = Diagnostic::error(
                        ErrorCode::TypeMismatch,
                        self.module.expr(value).span,
                        format!("list `{name}` must be a list literal `[...]`"),
                        "not a list",
                    )
                    .with_help("write the items between brackets");
                    self.push(d);
                }
                continue;
            };
            let elem = match declared {
                Some(ty) => {
                    let s = ty.scalar();
                    for &item in &items {
                        if matches!(self.module.expr(item).kind, ExprKind::Str(_))
                            && matches!(s, Scalar::Ip | Scalar::Cidr)
                        {
                            // Parsed here; a string that is no address is reported once.
                            self.coerce(item, Ty::Scalar(s));
                            continue;
                        }
                        let kind = &self.module.expr(item).kind;
                        if let Some(found) = Self::literal_scalar(kind) {
                            if found != s {
                                let d = Diagnostic::error(
                                    ErrorCode::TypeMismatch,
                                    self.module.expr(item).span,
                                    format!("list `{name}` is declared `{ty}`, but this item is `{found}`"),
                                    format!("expected `{s}`"),
                                );
                                self.push(d);
                            }
                        }
                    }
                    Some(s)
                }
                None => {
                    let mut first: Option<(Scalar, ExprId)> = None;
                    let mut bad = false;
                    for &item in &items {
                        let Some(found) = Self::literal_scalar(&self.module.expr(item).kind) else {
                            bad = true;
                            continue;
                        };
                        match first {
                            None => first = Some((found, item)),
                            Some((s, first_item)) if s != found => {
                                let d = Diagnostic::error(
                                    ErrorCode::MixedListTypes,
                                    self.module.expr(item).span,
                                    format!("list `{name}` mixes `{s}` and `{found}` items"),
                                    a_type(found),
                                )
                                .with_label(
                                    self.module.expr(first_item).span,
                                    format!("the list is `[{s}]` from here"),
                                )
                                .with_help("every item of a list has one type");
                                self.push(d);
                                bad = true;
                                break;
                            }
                            Some(_) => {}
                        }
                    }
                    if items.is_empty() {
                        let d = Diagnostic::error(
                            ErrorCode::MixedListTypes,
                            span,
                            format!("the type of the empty list `{name}` cannot be inferred"),
                            "empty and untyped",
                        )
                        .with_help(format!("declare its type: `list {name}: [string] = []`"));
                        self.push(d);
                    }
                    if bad {
                        None
                    } else {
                        first.map(|(s, _)| s)
                    }
                }
            };
            let values: Vec<Value<'static>> =
                items.iter().filter_map(|i| self.const_value(*i)).collect();
            let l = &mut self.module.lists[li];
            l.elem = elem;
            l.values = values;
        }
        self.sink.owner = None;
    }

    fn check_fns(&mut self) {
        for fi in 0..self.module.fns.len() {
            let f = &self.module.fns[fi];
            let (body, ret, ret_span, name) = (f.body, f.ret, f.ret_span, f.name.clone());
            if !f.ret_known {
                continue;
            }
            self.sink.owner = f
                .stdlib
                .then_some(Owner::Fn(FnId(u32::try_from(fi).unwrap_or(0))));
            self.coerce(body, ret);
            let t = self.types[body.0 as usize].clone();
            if !t.is_error() && t != Type::Value(ret) && !(t == Type::EmptyList && ret.is_list()) {
                let d = Diagnostic::error(
                    ErrorCode::TypeMismatch,
                    self.module.expr(body).span,
                    format!(
                        "fn `{name}` returns `{ret}`, but its body is `{}`",
                        self.show(&t)
                    ),
                    format!("this is `{}`", self.show(&t)),
                )
                .with_label(ret_span, "declared here");
                self.push(d);
            }
        }
        self.sink.owner = None;
    }

    /// A condition must be a bool; constant ones are warned about.
    fn condition(&mut self, id: ExprId, what: &str) {
        let t = self.types[id.0 as usize].clone();
        if t.is_error() {
            return;
        }
        if t != Type::BOOL {
            let d = Diagnostic::error(
                ErrorCode::ConditionNotBool,
                self.module.expr(id).span,
                format!("the condition of {what} is `{}`, not `bool`", self.show(&t)),
                "not a bool",
            )
            .with_help("compare it with something, for example `x != \"\"`");
            self.push(d);
            return;
        }
        // Only on otherwise clean sources: a condition with a type error may fold to nonsense.
        if self.sink.diags.iter().any(Diagnostic::is_error) {
            return;
        }
        if let Some(Value::Bool(b)) = fold::fold(self, id) {
            let d = Diagnostic::warning(
                ErrorCode::ConstantCondition,
                self.module.expr(id).span,
                format!("the condition of {what} is always {b}"),
                format!("always {b}"),
            )
            .with_help(if b {
                "remove the `when` clause to fire on every event, or fix the condition"
            } else {
                "this rule can never fire: fix the condition"
            });
            self.push(d);
        }
    }

    fn check_rules(&mut self) {
        for ri in 0..self.module.rules.len() {
            let rule = &self.module.rules[ri];
            let name = rule.name.clone();
            let conds: Vec<(ExprId, String)> = match &rule.kind {
                RuleKind::Single { cond, .. } => cond
                    .iter()
                    .map(|c| (*c, format!("rule `{name}`")))
                    .collect(),
                RuleKind::Threshold(t) => t
                    .cond
                    .iter()
                    .map(|c| (*c, format!("rule `{name}`")))
                    .collect(),
                RuleKind::Sequence(s) => s
                    .steps
                    .iter()
                    .filter_map(|st| st.cond.map(|c| (c, format!("step `{}`", st.name))))
                    .collect(),
            };
            for (c, what) in conds {
                self.condition(c, &what);
            }
        }
    }

    fn check_tests(&mut self) {
        for ti in 0..self.module.tests.len() {
            for ci in 0..self.module.tests[ti].cases.len() {
                for fi in 0..self.module.tests[ti].cases[ci].fields.len() {
                    let tf = &self.module.tests[ti].cases[ci].fields[fi];
                    let (expr, want, name) = (tf.expr, tf.field.ty, tf.field.name.clone());
                    self.coerce(expr, want);
                    let t = self.types[expr.0 as usize].clone();
                    let ok = t == Type::Value(want) || (t == Type::EmptyList && want.is_list());
                    if !t.is_error() && !ok {
                        let d = Diagnostic::error(
                            ErrorCode::TypeMismatch,
                            self.module.expr(expr).span,
                            format!(
                                "field `{name}` is `{want}`, but this value is `{}`",
                                self.show(&t)
                            ),
                            format!("expected `{want}`"),
                        );
                        self.push(d);
                        continue;
                    }
                    let value = if t.is_error() {
                        None
                    } else {
                        self.const_value(expr)
                    };
                    self.module.tests[ti].cases[ci].fields[fi].value = value;
                }
            }
        }
    }
}
