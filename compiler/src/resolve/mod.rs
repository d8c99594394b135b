//! Name resolution: `ast::File`s → [`hir::Module`].
//!
//! Owns everything about names (E02xx): the global namespace of lists and fns across all files
//! (user files first, then the standard library, which sees only its own names), scopes
//! (quantifier binder, fn parameter, `event`, sequence step, field of the event, user lists and
//! fns, stdlib lists and fns, builtins: innermost first, inner shadows outer with a warning),
//! event types, duplicates (both places shown), recursion between fns (the cycle shown) and the
//! inlining size budget. Fields are bound to the schema here, because whether a bare name is a
//! field depends on the scope. Types are not checked here (`typeck` does).
//!
//! Expressions are converted with an explicit work stack, never recursion, so any tree the
//! parser accepts is safe; `and`/`or` chains are vectors.

mod expr;
mod graph;
mod sink;
mod template;

use std::collections::HashMap;

use vigil_grammar::ast;
use vigil_grammar::span::Span;
use vigil_runtime::builtins;
use vigil_runtime::schema::{EventTypeId, Schema};
use vigil_runtime::types::{Scalar, Ty};

use crate::diag::{did_you_mean, Diagnostic, ErrorCode};
use crate::hir::{
    self, Counting, EventRef, Expect, ExprId, FieldInfo, FnId, ListId, MetaEntry, MetaLit, Module,
    ParamType, RuleId, RuleKind, RuleMeta, Sequence, Step, Test, TestCase, TestField, Threshold,
};

pub(crate) use sink::{Owner, Sink};

/// The size budget of inlined code: inlining the fns a fn or a rule calls may add at most this
/// many nodes to it (E0208). A body's own size is not limited here.
pub const MAX_INLINED_NODES: u64 = 1 << 16;

/// The most steps a sequence may have.
pub const MAX_STEPS: usize = 8;

/// One parsed file to resolve, and where it comes from.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// The syntax tree.
    pub file: &'a ast::File,
    /// From the standard library (`stdlib/lib/`).
    pub stdlib: bool,
}

/// Where a did-you-mean suggestion's fix goes ([`suggest_fix`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum FixAt {
    /// An identifier as written (backticks included when quoted): the suggestion is written
    /// as a name, in backticks when it is not a bare identifier.
    Ident(Span),
    /// Bytes that hold exactly the name (inside a string: an emit template), written as is;
    /// `None` when the name's bytes are not known (a template with escapes).
    Raw(Option<Span>),
}

/// Adds the did-you-mean help for `name` among `candidates` (the closest one, if close
/// enough: [`did_you_mean`]) and its machine-applicable fix, the suggestion written at `at`.
pub(crate) fn suggest_fix<'a>(
    d: Diagnostic,
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    at: FixAt,
) -> Diagnostic {
    let Some(best) = did_you_mean(name, candidates) else {
        return d;
    };
    let d = d.with_help(format!("did you mean `{best}`?"));
    match at {
        FixAt::Ident(span) => {
            let replacement = crate::fmt::name(&best);
            d.with_fix(span, replacement)
        }
        FixAt::Raw(Some(span)) => d.with_fix(span, best),
        FixAt::Raw(None) => d,
    }
}

/// A global name: a list or a fn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Item {
    List(ListId),
    Fn(FnId),
}

/// The user's and the stdlib's item of one name.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Global {
    user: Option<Item>,
    std: Option<Item>,
}

/// The range of arena ids an item's nodes were allocated in (its nodes are contiguous).
type IdRange = (u32, u32);

/// Resolver state.
pub(crate) struct Resolver<'s> {
    pub(crate) schema: &'s Schema,
    pub(crate) module: Module,
    pub(crate) sink: Sink,
    globals: HashMap<String, Global>,
    rule_names: HashMap<String, RuleId>,
    /// Node ranges per fn / list / rule, for the graph passes.
    fn_ranges: Vec<IdRange>,
    rule_ranges: Vec<IdRange>,
    /// References from user code to lists and fns (for unused warnings and reachability).
    pub(crate) refs_from_user: Vec<Item>,
    /// Parameters read, per fn.
    pub(crate) params_used: Vec<Vec<bool>>,
    /// Whether the item being resolved is from the stdlib (its names resolve stdlib-first).
    pub(crate) in_stdlib: bool,
}

/// Resolves every file into one module. Returns the module and the diagnostics found (all of
/// them; the module has [`hir::ExprKind::Error`] nodes where names failed), plus deferred
/// stdlib diagnostics in the sink.
pub(crate) fn resolve(inputs: &[Input<'_>], schema: &Schema) -> (Module, Sink) {
    let mut r = Resolver {
        schema,
        module: Module::default(),
        sink: Sink::default(),
        globals: HashMap::new(),
        rule_names: HashMap::new(),
        fn_ranges: Vec::new(),
        rule_ranges: Vec::new(),
        refs_from_user: Vec::new(),
        params_used: Vec::new(),
        in_stdlib: false,
    };
    // Pass 1: declarations (so that order in and across files does not matter).
    let mut lists = Vec::new();
    let mut fns = Vec::new();
    let mut rules = Vec::new();
    let mut tests = Vec::new();
    for input in inputs {
        for item in &input.file.items {
            match item {
                ast::Item::List(l) => lists.push((r.declare_list(l, input.stdlib), l)),
                ast::Item::Fn(f) => fns.push((r.declare_fn(f, input.stdlib), f)),
                ast::Item::Rule(rule) => rules.push((rule, input.stdlib)),
                ast::Item::Test(t) => tests.push((t, input.stdlib)),
            }
        }
    }
    // Pass 2: bodies.
    for (id, l) in lists {
        r.resolve_list(id, l);
    }
    r.fn_ranges = vec![(0, 0); r.module.fns.len()];
    for (id, f) in fns {
        r.resolve_fn(id, f);
    }
    for (rule, stdlib) in rules {
        r.resolve_rule(rule, stdlib);
    }
    for (t, _) in tests {
        r.resolve_test(t);
    }
    // Pass 3: the call graph.
    graph::check(&mut r);
    (r.module, r.sink)
}

impl<'s> Resolver<'s> {
    /// Allocates a node.
    pub(crate) fn push_expr(&mut self, kind: hir::ExprKind, span: Span) -> ExprId {
        let id = ExprId(u32::try_from(self.module.exprs.len()).unwrap_or(u32::MAX));
        self.module.exprs.push(hir::Expr { kind, span });
        id
    }

    fn next_id(&self) -> u32 {
        u32::try_from(self.module.exprs.len()).unwrap_or(u32::MAX)
    }

    /// The span of an item's declaration name, for "first defined here".
    fn item_span(&self, item: Item) -> Span {
        match item {
            Item::List(l) => self.module.list(l).span,
            Item::Fn(f) => self.module.func(f).span,
        }
    }

    fn item_kind(item: Item) -> &'static str {
        match item {
            Item::List(_) => "list",
            Item::Fn(_) => "fn",
        }
    }

    /// Registers a global name, reporting duplicates and shadowing.
    fn register(&mut self, name: &ast::Ident, item: Item, stdlib: bool) {
        let entry = self.globals.entry(name.name.clone()).or_default();
        let slot = if stdlib { entry.std } else { entry.user };
        let other = if stdlib { entry.user } else { entry.std };
        if let Some(first) = slot {
            let first_span = self.item_span(first);
            let help = match (first, item) {
                (Item::List(_), Item::List(_)) => "rename one of them, or merge the two lists",
                _ => "rename one of them",
            };
            let d = Diagnostic::error(
                ErrorCode::DefinedTwice,
                name.span,
                format!("`{}` is defined twice", name.name),
                "defined again here",
            )
            .with_label(first_span, "first defined here")
            .with_help(help);
            self.sink.diags.push(d);
            // The second definition is unreachable; do not also call it unused.
            self.refs_from_user.push(item);
            return;
        }
        if stdlib {
            entry.std = Some(item);
        } else {
            entry.user = Some(item);
        }
        if let Some(other) = other {
            // A user item shadows a stdlib one: warn at the user's declaration.
            let (user_item, std_item) = if stdlib { (other, item) } else { (item, other) };
            let user_span = self.item_span(user_item);
            let d = Diagnostic::warning(
                ErrorCode::Shadowed,
                user_span,
                format!(
                    "{} `{}` shadows the standard library's {} of that name",
                    Self::item_kind(user_item),
                    name.name,
                    Self::item_kind(std_item)
                ),
                "shadows the standard library",
            )
            .with_note("your definition is used in your rules; the standard library keeps its own");
            self.sink.diags.push(d);
        }
        if !stdlib && matches!(item, Item::Fn(_)) && builtins::lookup(&name.name).is_some() {
            let d = Diagnostic::warning(
                ErrorCode::Shadowed,
                name.span,
                format!("fn `{}` shadows the builtin of that name", name.name),
                "shadows a builtin",
            )
            .with_help("rename the fn to call the builtin");
            self.sink.diags.push(d);
        }
    }

    fn declare_list(&mut self, l: &ast::ListDecl, stdlib: bool) -> ListId {
        let id = ListId(u32::try_from(self.module.lists.len()).unwrap_or(u32::MAX));
        let declared = l
            .ty
            .as_ref()
            .and_then(|t| self.with_owner(stdlib.then_some(Owner::List(id)), |r| r.list_type(t)));
        self.module.lists.push(hir::ListDef {
            name: l.name.name.clone(),
            span: l.name.span,
            declared,
            value: ExprId(0),
            stdlib,
            used: false,
            elem: None,
            values: Vec::new(),
        });
        self.register(&l.name, Item::List(id), stdlib);
        id
    }

    fn declare_fn(&mut self, f: &ast::FnDecl, stdlib: bool) -> FnId {
        let id = FnId(u32::try_from(self.module.fns.len()).unwrap_or(u32::MAX));
        let owner = stdlib.then_some(Owner::Fn(id));
        let mut dups = Vec::new();
        let (params, ret) = self.with_owner(owner, |r| {
            let mut params: Vec<hir::Param> = Vec::new();
            for p in &f.params {
                if let Some(first) = params.iter().find(|q| q.name == p.name.name) {
                    dups.push(params.len());
                    let d = Diagnostic::error(
                        ErrorCode::DefinedTwice,
                        p.name.span,
                        format!("parameter `{}` is defined twice", p.name.name),
                        "defined again here",
                    )
                    .with_label(first.span, "first defined here")
                    .with_help("rename one of them");
                    r.sink.push(d);
                }
                let ty = r.param_type(&p.ty).unwrap_or(ParamType::Unknown);
                params.push(hir::Param {
                    name: p.name.name.clone(),
                    span: p.name.span,
                    ty,
                });
            }
            let ret = r.return_type(&f.ret);
            (params, ret)
        });
        let mut used = vec![false; params.len()];
        for i in dups {
            used[i] = true;
        }
        self.params_used.push(used);
        self.module.fns.push(hir::FnDef {
            name: f.name.name.clone(),
            span: f.name.span,
            params,
            ret: ret.unwrap_or(Ty::BOOL),
            ret_known: ret.is_some(),
            ret_span: f.ret.span(),
            body: ExprId(0),
            stdlib,
            used: false,
            inlined_size: 0,
        });
        self.register(&f.name, Item::Fn(id), stdlib);
        id
    }

    /// Runs `f` with `owner` as the current stdlib item (diagnostics deferred).
    pub(crate) fn with_owner<T>(
        &mut self,
        owner: Option<Owner>,
        f: impl FnOnce(&mut Self) -> T,
    ) -> T {
        let saved = self.sink.owner;
        let saved_std = self.in_stdlib;
        self.sink.owner = owner;
        self.in_stdlib = owner.is_some();
        let out = f(self);
        self.sink.owner = saved;
        self.in_stdlib = saved_std;
        out
    }

    /// A scalar type name, or `None` (not reported) if it is not one.
    fn scalar_name(name: &str) -> Option<Scalar> {
        Some(match name {
            "bool" => Scalar::Bool,
            "int" => Scalar::Int,
            "string" => Scalar::Str,
            "ip" => Scalar::Ip,
            "cidr" => Scalar::Cidr,
            _ => return None,
        })
    }

    fn unknown_type(&mut self, name: &ast::Ident) {
        let mut cands: Vec<&str> = vec!["bool", "int", "string", "ip", "cidr"];
        cands.extend(self.schema.event_names());
        let d = Diagnostic::error(
            ErrorCode::UnknownType,
            name.span,
            format!("unknown type `{}`", name.name),
            "no such type",
        );
        let d = suggest_fix(d, &name.name, cands, FixAt::Ident(name.span)).with_note(
            "types are `bool`, `int`, `string`, `ip`, `[T]` lists (also `[cidr]`), and event types",
        );
        self.sink.push(d);
    }

    fn not_allowed(&mut self, span: Span, message: String, help: &str) {
        let d = Diagnostic::error(ErrorCode::TypeNotAllowed, span, message, "not allowed here")
            .with_help(help);
        self.sink.push(d);
    }

    /// A list type for `list x: [T]`.
    fn list_type(&mut self, t: &ast::TypeExpr) -> Option<Ty> {
        match t {
            ast::TypeExpr::List(inner, span) => match inner.as_ref() {
                ast::TypeExpr::Named(n) => match Self::scalar_name(&n.name) {
                    Some(s) => Some(Ty::List(s)),
                    None => {
                        if n.name == "duration" || self.schema.event(&n.name).is_some() {
                            self.not_allowed(
                                *span,
                                format!("a list cannot hold `{}` values", n.name),
                                "lists hold `bool`, `int`, `string`, `ip` or `cidr` values",
                            );
                        } else {
                            self.unknown_type(n);
                        }
                        None
                    }
                },
                ast::TypeExpr::List(_, s) => {
                    self.not_allowed(*s, "lists do not nest".to_owned(), "use a flat list");
                    None
                }
            },
            ast::TypeExpr::Named(n) => {
                if Self::scalar_name(&n.name).is_some() || n.name == "duration" {
                    self.not_allowed(
                        n.span,
                        format!("a list has a list type, not `{}`", n.name),
                        &format!("write `[{}]`", n.name),
                    );
                } else if self.schema.event(&n.name).is_some() {
                    self.not_allowed(
                        n.span,
                        format!("a list cannot hold `{}` values", n.name),
                        "lists hold `bool`, `int`, `string`, `ip` or `cidr` values",
                    );
                } else {
                    self.unknown_type(n);
                }
                None
            }
        }
    }

    /// A value type (parameters and results); event types are handled by the caller.
    fn value_type(&mut self, t: &ast::TypeExpr, what: &str) -> Option<Ty> {
        match t {
            ast::TypeExpr::Named(n) => match Self::scalar_name(&n.name) {
                Some(Scalar::Cidr) => {
                    self.not_allowed(
                        n.span,
                        format!("`cidr` is not a {what} type"),
                        "a `cidr` only appears in lists: write `[cidr]`",
                    );
                    None
                }
                Some(s) => Some(Ty::Scalar(s)),
                None if n.name == "duration" => {
                    self.not_allowed(
                        n.span,
                        format!("`duration` is not a {what} type"),
                        "durations are only written in `within` and test `at`",
                    );
                    None
                }
                None => {
                    self.unknown_type(n);
                    None
                }
            },
            ast::TypeExpr::List(..) => self.list_type(t),
        }
    }

    fn param_type(&mut self, t: &ast::TypeExpr) -> Option<ParamType> {
        if let ast::TypeExpr::Named(n) = t {
            if let Some((id, _)) = self.schema.event(&n.name) {
                return Some(ParamType::Event(EventRef {
                    name: n.name.clone(),
                    id,
                    span: n.span,
                }));
            }
        }
        self.value_type(t, "parameter").map(ParamType::Value)
    }

    fn return_type(&mut self, t: &ast::TypeExpr) -> Option<Ty> {
        if let ast::TypeExpr::Named(n) = t {
            if self.schema.event(&n.name).is_some() {
                self.not_allowed(
                    n.span,
                    format!("a fn cannot return an event (`{}`)", n.name),
                    "return a value, such as `bool`",
                );
                return None;
            }
        }
        self.value_type(t, "result")
    }

    /// An event type by name, reporting E0204 when unknown.
    pub(crate) fn event_type(&mut self, name: &ast::Ident) -> Option<EventRef> {
        match self.schema.event(&name.name) {
            Some((id, _)) => Some(EventRef {
                name: name.name.clone(),
                id,
                span: name.span,
            }),
            None => {
                let d = Diagnostic::error(
                    ErrorCode::UnknownEventType,
                    name.span,
                    format!("unknown event type `{}`", name.name),
                    "no such event type",
                );
                let d = suggest_fix(
                    d,
                    &name.name,
                    self.schema.event_names(),
                    FixAt::Ident(name.span),
                )
                .with_note(format!("the schema is `{}`", self.schema.label()));
                self.sink.push(d);
                None
            }
        }
    }

    /// Looks up a global name from the current item's point of view.
    pub(crate) fn global(&self, name: &str) -> Option<Item> {
        let g = self.globals.get(name)?;
        if self.in_stdlib {
            g.std
        } else {
            g.user.or(g.std)
        }
    }

    /// The global names of lists visible from the current item (for suggestions).
    pub(crate) fn visible_lists(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .globals
            .iter()
            .filter(|(_, g)| {
                let item = if self.in_stdlib {
                    g.std
                } else {
                    g.user.or(g.std)
                };
                matches!(item, Some(Item::List(_)))
            })
            .map(|(k, _)| k.as_str())
            .collect();
        v.sort_unstable();
        v
    }

    /// The callable names visible from the current item (for suggestions).
    pub(crate) fn visible_callables(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .globals
            .iter()
            .filter(|(_, g)| {
                let item = if self.in_stdlib {
                    g.std
                } else {
                    g.user.or(g.std)
                };
                matches!(item, Some(Item::Fn(_)))
            })
            .map(|(k, _)| k.as_str())
            .collect();
        v.extend(builtins::BUILTINS.iter().map(|b| b.name));
        v.sort_unstable();
        v
    }

    /// Records a reference to a global item.
    pub(crate) fn note_ref(&mut self, item: Item) {
        if !self.in_stdlib {
            self.refs_from_user.push(item);
        }
    }

    fn resolve_list(&mut self, id: ListId, l: &ast::ListDecl) {
        let owner = self.module.list(id).stdlib.then_some(Owner::List(id));
        self.with_owner(owner, |r| {
            let value = r.constant(&l.value, "list items");
            r.module.lists[id.0 as usize].value = value;
        });
    }

    fn resolve_fn(&mut self, id: FnId, f: &ast::FnDecl) {
        let owner = self.module.func(id).stdlib.then_some(Owner::Fn(id));
        let start = self.next_id();
        self.with_owner(owner, |r| {
            let mut scope = expr::Scope::for_fn(id);
            let body = r.expr(&f.body, &mut scope);
            r.module.fns[id.0 as usize].body = body;
        });
        self.fn_ranges[id.0 as usize] = (start, self.next_id());
    }

    /// Converts a constant (list items, test values): literals and lists of literals only.
    pub(crate) fn constant(&mut self, e: &ast::Expr, what: &str) -> ExprId {
        if expr::is_constant(e) {
            let mut scope = expr::Scope::empty();
            return self.expr(e, &mut scope);
        }
        // Report the first non-constant part: the item of a list, or the whole value.
        let culprits: Vec<Span> = match &e.kind {
            ast::ExprKind::List(items) => items
                .iter()
                .filter(|i| !expr::is_constant(i))
                .map(|i| i.span)
                .collect(),
            _ => vec![e.span],
        };
        for span in culprits {
            let d = Diagnostic::error(
                ErrorCode::NotConstant,
                span,
                format!("{what} must be constants"),
                "not a constant",
            )
            .with_help("write a literal: a string, an integer, `true` or `false`");
            self.sink.push(d);
        }
        self.push_expr(hir::ExprKind::Error, e.span)
    }

    fn meta_lit(v: &ast::MetaValue) -> MetaLit {
        match v {
            ast::MetaValue::Str(s) => MetaLit::Str(s.value.clone(), s.span),
            ast::MetaValue::Int(i, s) => MetaLit::Int(*i, *s),
            ast::MetaValue::Bool(b, s) => MetaLit::Bool(*b, *s),
            ast::MetaValue::Word(w) => MetaLit::Word(w.name.clone(), w.span),
            ast::MetaValue::List(items, s) => {
                MetaLit::List(items.iter().map(Self::meta_lit).collect(), *s)
            }
        }
    }

    fn meta_entries(&mut self, meta: Option<&ast::Meta>) -> Vec<MetaEntry> {
        let mut out: Vec<MetaEntry> = Vec::new();
        for e in meta.map(|m| m.entries.as_slice()).unwrap_or(&[]) {
            if let Some(first) = out.iter().find(|m| m.key == e.key.name) {
                let d = Diagnostic::error(
                    ErrorCode::DuplicateMetaKey,
                    e.key.span,
                    format!("meta key `{}` is written twice", e.key.name),
                    "written again here",
                )
                .with_label(first.key_span, "first written here")
                .with_help("keep one of them");
                self.sink.push(d);
                continue;
            }
            out.push(MetaEntry {
                key: e.key.name.clone(),
                key_span: e.key.span,
                value: Self::meta_lit(&e.value),
            });
        }
        out
    }

    /// Event types of `on T1, T2`, deduplicated; `None` if any is unknown.
    fn on_events(&mut self, names: &[ast::Ident]) -> Option<Vec<EventRef>> {
        let mut out: Vec<EventRef> = Vec::new();
        let mut ok = true;
        for n in names {
            match self.event_type(n) {
                Some(e) => {
                    if !out.iter().any(|o| o.id == e.id) {
                        out.push(e);
                    }
                }
                None => ok = false,
            }
        }
        (ok && !out.is_empty()).then_some(out)
    }

    fn check_window(
        &mut self,
        within: Option<ast::DurationLit>,
        clause_span: Span,
        what: &str,
    ) -> u64 {
        match within {
            None => {
                let d = Diagnostic::error(
                    ErrorCode::MissingWindow,
                    clause_span,
                    format!("{what} without `within`"),
                    "needs a time window",
                )
                .with_help("add `within DURATION`, for example `within 5m`");
                self.sink.push(d);
                0
            }
            Some(w) if w.nanos == 0 => {
                let d = Diagnostic::error(
                    ErrorCode::ZeroWindow,
                    w.span,
                    format!("the window of a {what} must be longer than zero"),
                    "zero window",
                )
                .with_help("use a positive duration, for example `30s`");
                self.sink.push(d);
                0
            }
            Some(w) => w.nanos,
        }
    }

    /// The span of a clause's leading keyword (`sequence`, `threshold`), for narrow primaries.
    fn keyword_span(span: Span, keyword: &str) -> Span {
        span.sub(0, u32::try_from(keyword.len()).unwrap_or(0))
    }

    fn resolve_rule(&mut self, rule: &ast::RuleDecl, stdlib: bool) {
        let id = RuleId(u32::try_from(self.module.rules.len()).unwrap_or(u32::MAX));
        if let Some(&first) = self.rule_names.get(&rule.name.name) {
            let first_span = self.module.rules[first.0 as usize].span;
            let d = Diagnostic::error(
                ErrorCode::DefinedTwice,
                rule.name.span,
                format!("rule `{}` is defined twice", rule.name.name),
                "defined again here",
            )
            .with_label(first_span, "first defined here")
            .with_help("rename one of them");
            self.sink.push(d);
        } else {
            self.rule_names.insert(rule.name.name.clone(), id);
        }
        let start = self.next_id();
        let meta_entries = self.meta_entries(rule.meta.as_ref());
        let mut kind = RuleKind::Single {
            events: Vec::new(),
            cond: None,
        };
        let mut emit = None;
        let mut fields = Vec::new();
        match &rule.trigger {
            None => {
                // The parser reported the missing trigger.
            }
            Some(ast::Trigger::On(names, _)) => {
                let events = self.on_events(names);
                let event_scope = match &events {
                    Some(ev) => expr::EventScope::Types(ev.iter().map(|e| e.id).collect()),
                    None => expr::EventScope::Poisoned,
                };
                let cond = rule.when.as_ref().map(|w| {
                    let mut scope = expr::Scope::for_rule(event_scope.clone());
                    self.expr(w, &mut scope)
                });
                let events = events.unwrap_or_default();
                kind = match &rule.threshold {
                    None => RuleKind::Single { events, cond },
                    Some(t) => self.threshold(t, events, cond, &event_scope),
                };
                if let Some(e) = &rule.emit {
                    emit = Some(self.template(e, &template::Ctx::Single(event_scope.clone())));
                }
                if let Some(fs) = &rule.fields {
                    fields = self.output_fields(fs, &template::Ctx::Single(event_scope.clone()));
                }
            }
            Some(ast::Trigger::Sequence(seq)) => {
                if let Some(w) = &rule.when {
                    let d = Diagnostic::error(
                        ErrorCode::ClauseNotAllowed,
                        w.span,
                        "a sequence rule has no rule-wide `when`",
                        "condition outside the steps",
                    )
                    .with_help(
                        "put the condition on the step it is about: `name: event_type when ...`",
                    );
                    self.sink.push(d);
                }
                if let Some(t) = &rule.threshold {
                    let d = Diagnostic::error(
                        ErrorCode::ClauseNotAllowed,
                        Self::keyword_span(t.span, "threshold"),
                        "a sequence rule cannot also have a `threshold`",
                        "not with `sequence`",
                    )
                    .with_help("write the threshold as a separate rule");
                    self.sink.push(d);
                }
                let (s, steps_scope) = self.sequence(seq);
                if seq.any_order {
                    // The completing event may be any step's: no step's fields are known then.
                    let spans = [
                        rule.emit.as_ref().map(|e| (e.span, "emit")),
                        rule.fields
                            .as_ref()
                            .and_then(|f| f.first())
                            .map(|f| (f.span, "fields")),
                    ];
                    for (span, what) in spans.into_iter().flatten() {
                        let d = Diagnostic::error(
                            ErrorCode::ClauseNotAllowed,
                            span,
                            format!("a sequence in any order has no `{what}`"),
                            "not with `sequence any order`",
                        )
                        .with_help("the alert carries the rule's title and the completing event");
                        self.sink.push(d);
                    }
                } else if let Some(e) = &rule.emit {
                    emit = Some(self.template(e, &template::Ctx::Sequence(steps_scope.clone())));
                }
                if let Some(fs) = &rule.fields {
                    fields = self.output_fields(fs, &template::Ctx::Sequence(steps_scope));
                }
                kind = RuleKind::Sequence(s);
            }
        }
        self.module.rules.push(hir::Rule {
            name: rule.name.name.clone(),
            span: rule.name.span,
            meta_entries,
            meta: RuleMeta {
                id: rule.name.name.clone(),
                title: rule.name.name.clone(),
                severity: vigil_runtime::ir::Severity::Medium,
                shadow: false,
                capacity: hir::DEFAULT_CAPACITY,
                capture_len: hir::DEFAULT_CAPTURE_LEN,
                entries: hir::DEFAULT_ENTRIES,
                other: Vec::new(),
            },
            kind,
            emit,
            fields,
            stdlib,
        });
        self.rule_ranges.push((start, self.next_id()));
    }

    fn threshold(
        &mut self,
        t: &ast::Threshold,
        events: Vec<EventRef>,
        cond: Option<ExprId>,
        scope: &expr::EventScope,
    ) -> RuleKind {
        let counting = match &t.kind {
            ast::ThresholdKind::Count(_) => Counting::Count,
            ast::ThresholdKind::Distinct(f, _) => {
                match self.scope_field(scope, f, ErrorCode::UnknownField) {
                    Some(info) => Counting::Distinct(info),
                    None => Counting::Count,
                }
            }
            ast::ThresholdKind::Sum(f, _) | ast::ThresholdKind::Avg(f, _) => {
                let sum = matches!(t.kind, ast::ThresholdKind::Sum(..));
                match self.scope_field(scope, f, ErrorCode::UnknownField) {
                    Some(info) if info.ty == Ty::INT => {
                        if sum {
                            Counting::Sum(info)
                        } else {
                            Counting::Avg(info)
                        }
                    }
                    Some(info) => {
                        let what = if sum { "sum" } else { "average" };
                        let d = Diagnostic::error(
                            ErrorCode::AggregateNotInt,
                            f.span,
                            format!("cannot {what} `{}`, of type `{}`", f.name, info.ty),
                            format!("`{}`, not `int`", info.ty),
                        )
                        .with_help(format!(
                            "`sum` and `avg` take an int field; count events with `count`, or values with `distinct({})`",
                            f.name
                        ));
                        self.sink.push(d);
                        Counting::Count
                    }
                    None => Counting::Count,
                }
            }
        };
        if t.count == 0 {
            let d = Diagnostic::error(
                ErrorCode::ThresholdZero,
                t.count_span,
                "a threshold of zero would fire before any event",
                "zero",
            )
            .with_help("use a count of at least 1");
            self.sink.push(d);
        }
        let within_ns = self.check_window(
            t.within,
            Self::keyword_span(t.span, "threshold"),
            "threshold",
        );
        let mut by = Vec::new();
        for k in &t.by {
            if let Some(info) = self.scope_field(scope, k, ErrorCode::UnknownField) {
                by.push(info);
            }
        }
        RuleKind::Threshold(Threshold {
            events,
            cond,
            counting,
            count: t.count,
            within_ns,
            by,
        })
    }

    /// A field of the event scope by name (`by`, `distinct`, templates), reporting `code` when
    /// unknown.
    pub(crate) fn scope_field(
        &mut self,
        scope: &expr::EventScope,
        name: &ast::Ident,
        code: ErrorCode,
    ) -> Option<FieldInfo> {
        let expr::EventScope::Types(types) = scope else {
            return None;
        };
        match self.common_field(types, &name.name) {
            expr::FieldLookup::Found(info) => Some(info),
            expr::FieldLookup::NotCommon(note) => {
                self.not_common(name, types, note);
                None
            }
            expr::FieldLookup::Missing => {
                self.unknown_field(
                    name.span,
                    &name.name,
                    types,
                    code,
                    Vec::new(),
                    FixAt::Ident(name.span),
                );
                None
            }
        }
    }

    /// Resolves a sequence: steps, keys, window; returns the step scope for templates.
    fn sequence(&mut self, seq: &ast::Sequence) -> (Sequence, Vec<expr::StepScope>) {
        let kw = Self::keyword_span(seq.span, "sequence");
        if seq.steps.len() < 2 || seq.steps.len() > MAX_STEPS {
            let d = Diagnostic::error(
                ErrorCode::StepCount,
                kw,
                format!(
                    "a sequence has 2 to {MAX_STEPS} steps, this one has {}",
                    seq.steps.len()
                ),
                "wrong number of steps",
            )
            .with_help(if seq.steps.len() < 2 {
                "a single step is a plain rule: write `on EVENT_TYPE when ...`"
            } else {
                "split the sequence into shorter ones"
            });
            self.sink.push(d);
        }
        let within_ns = self.check_window(seq.within, kw, "sequence");
        // Step names and event types.
        let mut steps_scope: Vec<expr::StepScope> = Vec::new();
        for st in &seq.steps {
            if let Some(first) = steps_scope.iter().find(|s| s.name == st.name.name) {
                let d = Diagnostic::error(
                    ErrorCode::DefinedTwice,
                    st.name.span,
                    format!("step `{}` is defined twice", st.name.name),
                    "defined again here",
                )
                .with_label(first.span, "first defined here")
                .with_help("give each step its own name");
                self.sink.push(d);
            }
            let event = self.event_type(&st.event);
            steps_scope.push(expr::StepScope {
                name: st.name.name.clone(),
                span: st.name.span,
                event: event.as_ref().map(|e| e.id),
            });
            if let Some(ev) = &event {
                // A step named like a field of its own event hides that field from `{name}`.
                if let Some(item) = self.global(&st.name.name) {
                    let what = Self::item_kind(item);
                    let d = Diagnostic::warning(
                        ErrorCode::Shadowed,
                        st.name.span,
                        format!(
                            "step `{}` shadows the {what} `{}`",
                            st.name.name, st.name.name
                        ),
                        "shadows an outer name",
                    )
                    .with_help("rename the step");
                    self.sink.push(d);
                } else if self
                    .schema
                    .event_by_id(ev.id)
                    .and_then(|t| t.field(&st.name.name))
                    .is_some()
                {
                    let d = Diagnostic::warning(
                        ErrorCode::Shadowed,
                        st.name.span,
                        format!(
                            "step `{}` shadows the field `{}` of `{}`",
                            st.name.name, st.name.name, ev.name
                        ),
                        "shadows a field",
                    )
                    .with_help("rename the step");
                    self.sink.push(d);
                }
            }
        }
        // Keys: every step has each `by` field, all with one type.
        let mut keys: Vec<Vec<FieldInfo>> = vec![Vec::new(); seq.steps.len()];
        for k in &seq.by {
            let mut first: Option<(Ty, &str)> = None;
            for (i, st) in seq.steps.iter().enumerate() {
                let Some(ev_id) = steps_scope[i].event else {
                    continue;
                };
                match self.common_field(&[ev_id], &k.name) {
                    expr::FieldLookup::Found(info) => {
                        match first {
                            Some((ty, first_step)) if ty != info.ty => {
                                let d = Diagnostic::error(
                                    ErrorCode::SequenceKeyMismatch,
                                    k.span,
                                    format!(
                                        "key field `{}` is `{}` in step `{}` but `{}` in step `{}`",
                                        k.name, ty, first_step, info.ty, st.name.name
                                    ),
                                    "types differ between steps",
                                )
                                .with_label(
                                    st.event.span,
                                    format!("`{}` here is `{}`", k.name, info.ty),
                                )
                                .with_help("key on fields that have one type in every step");
                                self.sink.push(d);
                            }
                            Some(_) => {}
                            None => first = Some((info.ty, st.name.name.as_str())),
                        }
                        keys[i].push(info);
                    }
                    _ => {
                        let names: Vec<&str> = self
                            .schema
                            .event_by_id(ev_id)
                            .map(|t| t.field_names().collect())
                            .unwrap_or_default();
                        let d = Diagnostic::error(
                            ErrorCode::SequenceKeyMismatch,
                            k.span,
                            format!(
                                "key field `{}` is not a field of step `{}`",
                                k.name, st.name.name
                            ),
                            "missing in a step",
                        )
                        .with_label(
                            st.event.span,
                            format!("`{}` has no field `{}`", st.event.name, k.name),
                        );
                        let d = suggest_fix(d, &k.name, names, FixAt::Ident(k.span))
                            .with_note("every step's event type must have each `by` field");
                        self.sink.push(d);
                    }
                }
            }
        }
        // Step conditions.
        let mut steps = Vec::new();
        for (i, st) in seq.steps.iter().enumerate() {
            let cond = st.when.as_ref().map(|w| {
                let mut scope = if seq.any_order {
                    expr::Scope::for_unordered_step(steps_scope.clone(), i)
                } else {
                    expr::Scope::for_step(steps_scope.clone(), i)
                };
                self.expr(w, &mut scope)
            });
            let event = steps_scope[i]
                .event
                .and_then(|id| self.schema.event_by_id(id).map(|t| (id, t.name.clone())))
                .map(|(id, name)| EventRef {
                    name,
                    id,
                    span: st.event.span,
                });
            if let Some(event) = event {
                steps.push(Step {
                    name: st.name.name.clone(),
                    span: st.name.span,
                    event,
                    cond,
                    key: std::mem::take(&mut keys[i]),
                });
            }
        }
        (
            Sequence {
                steps,
                by: seq.by.iter().map(|k| k.name.clone()).collect(),
                within_ns,
                any_order: seq.any_order,
            },
            steps_scope,
        )
    }

    fn resolve_test(&mut self, t: &ast::TestDecl) {
        let Some(&rule) = self.rule_names.get(&t.rule.name) else {
            let mut names: Vec<&str> = self.rule_names.keys().map(String::as_str).collect();
            names.sort_unstable();
            let d = Diagnostic::error(
                ErrorCode::TestUnknownRule,
                t.rule.span,
                format!("test names an unknown rule `{}`", t.rule.name),
                "no such rule",
            );
            let d = suggest_fix(d, &t.rule.name, names, FixAt::Ident(t.rule.span));
            self.sink.push(d);
            return;
        };
        let rule_events: Vec<EventTypeId> = match &self.module.rules[rule.0 as usize].kind {
            RuleKind::Single { events, .. } => events.iter().map(|e| e.id).collect(),
            RuleKind::Threshold(th) => th.events.iter().map(|e| e.id).collect(),
            RuleKind::Sequence(s) => s.steps.iter().map(|s| s.event.id).collect(),
        };
        let stream = t.cases.iter().any(|c| c.at.is_some());
        let mut cases = Vec::new();
        let mut last: Option<(u64, Span)> = None;
        for c in &t.cases {
            let at_ns = match c.at {
                Some(at) => {
                    if let Some((prev, prev_span)) = last {
                        if at.nanos < prev {
                            let d = Diagnostic::error(
                                ErrorCode::TestTimeOrder,
                                at.span,
                                "test events go back in time",
                                "earlier than the line before",
                            )
                            .with_label(prev_span, "this line is later")
                            .with_help("order the lines by their `at` offsets");
                            self.sink.push(d);
                        }
                    }
                    last = Some((at.nanos, at.span));
                    at.nanos
                }
                None => last.map_or(0, |(t, _)| t),
            };
            let Some(event) = self.event_type(&c.event) else {
                continue;
            };
            if !rule_events.is_empty() && !rule_events.contains(&event.id) {
                let d = Diagnostic::warning(
                    ErrorCode::TestEventIgnored,
                    c.event.span,
                    format!("rule `{}` never sees `{}` events", t.rule.name, event.name),
                    "not an event type of the rule",
                )
                .with_note("this event can only check that the rule stays quiet");
                self.sink.push(d);
            }
            let mut fields: Vec<TestField> = Vec::new();
            let mut seen: Vec<(&str, Span)> = Vec::new();
            for (name, value) in &c.fields {
                if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name.name) {
                    let d = Diagnostic::error(
                        ErrorCode::DefinedTwice,
                        name.span,
                        format!("field `{}` is given twice", name.name),
                        "given again here",
                    )
                    .with_label(*first, "first given here")
                    .with_help("keep one value");
                    self.sink.push(d);
                    continue;
                }
                seen.push((&name.name, name.span));
                let expr = self.constant(value, "test values");
                match self.common_field(&[event.id], &name.name) {
                    expr::FieldLookup::Found(field) => fields.push(TestField {
                        field,
                        expr,
                        value: None,
                    }),
                    _ => self.unknown_field(
                        name.span,
                        &name.name,
                        &[event.id],
                        ErrorCode::UnknownField,
                        Vec::new(),
                        FixAt::Ident(name.span),
                    ),
                }
            }
            let expect = c.expect.map(|(e, _)| match e {
                ast::Expect::Fires(n) => Expect::Fires(n),
                ast::Expect::Quiet => Expect::Quiet,
            });
            cases.push(TestCase {
                at_ns,
                has_at: c.at.is_some(),
                event,
                fields,
                expect,
                span: c.span,
            });
        }
        self.module.tests.push(Test {
            rule,
            span: t.rule.span,
            stream,
            cases,
        });
    }
}

#[cfg(test)]
mod fix_tests {
    use vigil_runtime::schema::Schema;

    use crate::diag::Diagnostic;
    use crate::{check, Options, Sources};

    fn diags(text: &str) -> (Vec<Diagnostic>, vigil_grammar::span::FileId) {
        let mut sources = Sources::with_stdlib();
        let id = sources.add("t.vgl", text);
        (
            check(&sources, &Schema::endpoint(), &Options::default()).1,
            id,
        )
    }

    /// Every did-you-mean diagnostic carries a fix that writes the suggestion over exactly
    /// the misspelt name, and the fixed text no longer has that diagnostic.
    #[test]
    fn did_you_mean_diagnostics_carry_their_fix() {
        // (source, code, the text the fix replaces, the replacement)
        let cases = [
            ("fn f(p: proces_start) -> bool { true }", "E0210", "proces_start", "process_start"),
            ("rule r { on proces_start }", "E0204", "proces_start", "process_start"),
            (
                "rule r { sequence by pdi within 1m { a: process_start\n b: network_connect } }",
                "E0314",
                "pdi",
                "pid",
            ),
            ("rule abc { on process_start }\ntest abd { process_start { } }", "E0207", "abd", "abc"),
            ("rule r { on process_start when comand_line == \"x\" }", "E0302", "comand_line", "command_line"),
            ("rule r { on process_start when `comand_line` == \"x\" }", "E0302", "`comand_line`", "command_line"),
            ("rule r { on process_start when event.comand_line == \"x\" }", "E0302", "comand_line", "command_line"),
            (
                "list my_words = [\"a\"]\nfn f(s: string) -> bool { s in my_wrds }",
                "E0202",
                "my_wrds",
                "my_words",
            ),
            ("rule r { on process_start when basenme(image) == \"x\" }", "E0205", "basenme", "basename"),
            ("rule r { on process_start emit \"x {comand_line}\" }", "E0311", "comand_line", "command_line"),
            ("rule r { on process_start fields [comand_line] }", "E0317", "comand_line", "command_line"),
            (
                "rule r { sequence by pid within 1m { a: process_start\n b: network_connect } emit \"{a.imag}\" }",
                "E0311",
                "imag",
                "image",
            ),
            (
                "rule r { sequence by pid within 1m { spawn: process_start\n b: network_connect } emit \"{spwn.image}\" }",
                "E0311",
                "spwn",
                "spawn",
            ),
            (
                "rule r { on process_start }\ntest r { process_start { comand_line: \"x\" } }",
                "E0302",
                "comand_line",
                "command_line",
            ),
            ("rule r { meta { severity: hgh } on process_start }", "E0313", "hgh", "high"),
            ("rule r { meta { severity: \"HIGH\" } on process_start }", "E0313", "\"HIGH\"", "high"),
        ];
        for (src, code, wrong, right) in cases {
            let (found, file) = diags(src);
            let help = format!("did you mean `{right}`?");
            let d = found
                .iter()
                .find(|d| d.help.as_deref() == Some(help.as_str()))
                .unwrap_or_else(|| panic!("no did-you-mean for {src:?}: {found:#?}"));
            assert_eq!(d.code.as_str(), code, "{src}");
            let fix = d.fix.as_ref().unwrap_or_else(|| panic!("no fix: {d:#?}"));
            assert_eq!(fix.span.file, file, "{src}");
            let (a, b) = (fix.span.start as usize, fix.span.end as usize);
            assert_eq!(&src[a..b], wrong, "{src}");
            assert_eq!(fix.replacement, right, "{src}");
            let fixed = format!("{}{}{}", &src[..a], fix.replacement, &src[b..]);
            let (after, _) = diags(&fixed);
            assert!(
                !after.iter().any(|x| x.code.as_str() == code),
                "{fixed:?} still has {code}: {after:#?}"
            );
        }
    }
}
