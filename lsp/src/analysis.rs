//! What a file says, read from its syntax tree: the lists, fns and rules it declares and every
//! name it uses, each with its span. The workspace indexes these to know which files a change
//! can affect; hover, completion, go to definition and find references ask what is at a
//! position.
//!
//! It reads the tree only: no name resolution or type checking (the compiler does those). A
//! bare name in a rule is a field when one of the rule's event types has a field of that name
//! (fields are searched before lists and fns, as the resolver does), local when a quantifier,
//! a fn parameter, a step or `event` binds it, and global (a list or fn) otherwise. Trees are
//! walked with an explicit stack.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use vigil_compiler::fmt::type_expr;
use vigil_grammar::ast::{self, Expr, ExprKind, Item, MetaValue, Trigger, TypeExpr};
use vigil_grammar::span::{FileId, Span};
use vigil_runtime::schema::Schema;

/// What is at one place of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sym {
    /// A list or fn: used by name, or declared.
    Global(String),
    /// A call: a fn or a builtin.
    Call(String),
    /// A field of one of these event types.
    Field {
        /// The field's name.
        name: String,
        /// The event types it may belong to.
        events: Vec<String>,
    },
    /// An event type's name (`on process_start`, a step, a parameter type, a test case).
    EventType(String),
    /// A key of `meta { ... }`.
    MetaKey(String),
    /// The value of a meta key written as a bare word or string (`severity: high`).
    MetaValue {
        /// The key.
        key: String,
        /// The value as written.
        value: String,
    },
    /// A rule's name (its declaration, or a `test` block naming it).
    Rule(String),
}

/// A symbol and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    /// Its bytes.
    pub span: Span,
    /// What it is.
    pub sym: Sym,
    /// Whether this is the declaration of the name (a list's, fn's or rule's own name).
    pub decl: bool,
}

/// A declared list.
#[derive(Clone, Debug)]
pub struct ListInfo {
    /// Its name.
    pub name: String,
    /// The name's bytes.
    pub span: Span,
    /// The declared type, as written.
    pub ty: Option<String>,
    /// The items as written.
    pub items: Vec<String>,
}

/// A declared fn.
#[derive(Clone, Debug)]
pub struct FnInfo {
    /// Its name.
    pub name: String,
    /// The name's bytes.
    pub span: Span,
    /// `fn name(p: T, ...) -> R`.
    pub signature: String,
}

/// A declared rule.
#[derive(Clone, Debug)]
pub struct RuleInfo {
    /// Its name.
    pub name: String,
    /// The name's bytes.
    pub span: Span,
    /// The whole declaration.
    pub whole: Span,
    /// Its meta `id`, when written.
    pub id: Option<String>,
    /// The event types it reads (`on` types, or each step's).
    pub events: Vec<String>,
}

/// One file's declarations and uses.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Lists declared.
    pub lists: Vec<ListInfo>,
    /// Fns declared.
    pub fns: Vec<FnInfo>,
    /// Rules declared.
    pub rules: Vec<RuleInfo>,
    /// Every symbol, in source order of the walk.
    pub hits: Vec<Hit>,
    /// A hash of the declarations other files can see (lists and fns as written, rule names
    /// and ids): when it changes, files that use them must be checked again.
    pub decl_key: u64,
}

impl Summary {
    /// Names this file uses that another file may declare: lists, fns and rules (tests name
    /// rules).
    pub fn used_names(&self) -> impl Iterator<Item = &str> {
        self.hits
            .iter()
            .filter(|h| !h.decl)
            .filter_map(|h| match &h.sym {
                Sym::Global(n) | Sym::Call(n) | Sym::Rule(n) => Some(n.as_str()),
                _ => None,
            })
    }

    /// Names this file declares: lists, fns, rules and rule ids.
    pub fn declared_names(&self) -> impl Iterator<Item = &str> {
        let lists = self.lists.iter().map(|l| l.name.as_str());
        let fns = self.fns.iter().map(|f| f.name.as_str());
        let rules = self
            .rules
            .iter()
            .flat_map(|r| std::iter::once(r.name.as_str()).chain(r.id.as_deref()));
        lists.chain(fns).chain(rules)
    }

    /// The innermost symbol whose bytes hold `offset` (or end right at it: the cursor just
    /// after a name).
    pub fn at(&self, offset: u32) -> Option<&Hit> {
        self.hits
            .iter()
            .filter(|h| h.span.start <= offset && offset <= h.span.end)
            .min_by_key(|h| h.span.len())
    }

    /// The rule whose declaration holds `offset`.
    pub fn rule_at(&self, offset: u32) -> Option<&RuleInfo> {
        self.rules
            .iter()
            .find(|r| r.whole.start <= offset && offset <= r.whole.end)
    }
}

fn slice(text: &str, span: Span) -> String {
    text.get(span.start as usize..span.end as usize)
        .unwrap_or("")
        .to_owned()
}

/// Reads `text` (the file's text, lossy UTF-8) and its tree.
pub fn summarize(text: &str, file: &ast::File, schema: &Schema) -> Summary {
    let mut w = Walker {
        schema,
        text,
        out: Summary::default(),
    };
    for item in &file.items {
        w.item(item);
    }
    let mut h = DefaultHasher::new();
    for l in &w.out.lists {
        (&l.name, &l.ty, &l.items).hash(&mut h);
    }
    for f in &w.out.fns {
        f.signature.hash(&mut h);
    }
    // A fn's body matters to its callers too (their types and costs): hash its text.
    for item in &file.items {
        if let Item::Fn(f) = item {
            slice(text, f.span).hash(&mut h);
        }
    }
    for r in &w.out.rules {
        (&r.name, &r.id).hash(&mut h);
    }
    w.out.decl_key = h.finish();
    w.out
}

/// Parses `text` and reads it (the parse's errors are the compiler's to report).
pub fn summarize_text(text: &str, schema: &Schema) -> Summary {
    let (file, _) = vigil_grammar::parse(FileId(0), text);
    summarize(text, &file, schema)
}

struct Walker<'a> {
    schema: &'a Schema,
    text: &'a str,
    out: Summary,
}

/// What names mean inside an expression.
#[derive(Clone, Default)]
struct Scope {
    /// Event types whose fields bare names read.
    events: Vec<String>,
    /// Names bound locally (parameters, binders, steps, `event`), with the event type of an
    /// event-valued one.
    locals: Vec<(String, Option<String>)>,
}

impl Walker<'_> {
    fn hit(&mut self, span: Span, sym: Sym, decl: bool) {
        self.out.hits.push(Hit { span, sym, decl });
    }

    fn has_field(&self, events: &[String], name: &str) -> bool {
        events.iter().any(|e| {
            self.schema
                .event(e)
                .is_some_and(|(_, t)| t.field(name).is_some())
        })
    }

    fn field_hit(&mut self, ident: &ast::Ident, events: Vec<String>) {
        self.hit(
            ident.span,
            Sym::Field {
                name: ident.name.clone(),
                events,
            },
            false,
        );
    }

    fn type_hits(&mut self, t: &TypeExpr) {
        match t {
            TypeExpr::Named(i) => {
                if self.schema.event(&i.name).is_some() {
                    self.hit(i.span, Sym::EventType(i.name.clone()), false);
                }
            }
            TypeExpr::List(inner, _) => self.type_hits(inner),
        }
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::List(l) => {
                self.hit(l.name.span, Sym::Global(l.name.name.clone()), true);
                let items = match &l.value.kind {
                    ExprKind::List(v) => v.iter().map(|e| slice(self.text, e.span)).collect(),
                    _ => vec![slice(self.text, l.value.span)],
                };
                self.out.lists.push(ListInfo {
                    name: l.name.name.clone(),
                    span: l.name.span,
                    ty: l.ty.as_ref().map(type_expr),
                    items,
                });
                self.expr(&l.value, &Scope::default());
            }
            Item::Fn(f) => {
                self.hit(f.name.span, Sym::Global(f.name.name.clone()), true);
                let params: Vec<String> = f
                    .params
                    .iter()
                    .map(|p| format!("{}: {}", p.name.name, type_expr(&p.ty)))
                    .collect();
                self.out.fns.push(FnInfo {
                    name: f.name.name.clone(),
                    span: f.name.span,
                    signature: format!(
                        "fn {}({}) -> {}",
                        f.name.name,
                        params.join(", "),
                        type_expr(&f.ret)
                    ),
                });
                let mut scope = Scope::default();
                for p in &f.params {
                    self.type_hits(&p.ty);
                    let ev = match &p.ty {
                        TypeExpr::Named(i) if self.schema.event(&i.name).is_some() => {
                            Some(i.name.clone())
                        }
                        _ => None,
                    };
                    scope.locals.push((p.name.name.clone(), ev));
                }
                self.type_hits(&f.ret);
                self.expr(&f.body, &scope);
            }
            Item::Rule(r) => self.rule(r),
            Item::Test(t) => {
                self.hit(t.rule.span, Sym::Rule(t.rule.name.clone()), false);
                for c in &t.cases {
                    self.hit(c.event.span, Sym::EventType(c.event.name.clone()), false);
                    for (name, value) in &c.fields {
                        self.field_hit(name, vec![c.event.name.clone()]);
                        self.expr(value, &Scope::default());
                    }
                }
            }
        }
    }

    fn rule(&mut self, r: &ast::RuleDecl) {
        self.hit(r.name.span, Sym::Rule(r.name.name.clone()), true);
        let mut id = None;
        if let Some(meta) = &r.meta {
            for e in &meta.entries {
                self.hit(e.key.span, Sym::MetaKey(e.key.name.clone()), false);
                let value = match &e.value {
                    MetaValue::Word(w) => Some((w.span, w.name.clone())),
                    MetaValue::Str(s) => Some((s.span, s.value.clone())),
                    _ => None,
                };
                if let Some((span, value)) = value {
                    if e.key.name == "id" {
                        id = Some(value.clone());
                    }
                    let key = e.key.name.clone();
                    self.hit(span, Sym::MetaValue { key, value }, false);
                }
            }
        }
        let mut scope = Scope {
            locals: vec![("event".to_owned(), None)],
            ..Scope::default()
        };
        let mut events = Vec::new();
        match &r.trigger {
            Some(Trigger::On(types, _)) => {
                for t in types {
                    self.hit(t.span, Sym::EventType(t.name.clone()), false);
                    events.push(t.name.clone());
                }
                scope.events.clone_from(&events);
                if let Some((_, ev)) = scope.locals.first_mut() {
                    *ev = events.first().cloned();
                }
                if let Some(w) = &r.when {
                    self.expr(w, &scope);
                }
            }
            Some(Trigger::Sequence(seq)) => {
                let step_events: Vec<String> =
                    seq.steps.iter().map(|s| s.event.name.clone()).collect();
                for k in &seq.by {
                    self.field_hit(k, step_events.clone());
                }
                for (i, st) in seq.steps.iter().enumerate() {
                    self.hit(st.event.span, Sym::EventType(st.event.name.clone()), false);
                    events.push(st.event.name.clone());
                    let mut s = Scope {
                        events: vec![st.event.name.clone()],
                        locals: vec![("event".to_owned(), Some(st.event.name.clone()))],
                    };
                    for earlier in &seq.steps[..=i] {
                        s.locals
                            .push((earlier.name.name.clone(), Some(earlier.event.name.clone())));
                    }
                    if let Some(w) = &st.when {
                        self.expr(w, &s);
                    }
                }
                for st in &seq.steps {
                    scope
                        .locals
                        .push((st.name.name.clone(), Some(st.event.name.clone())));
                }
                if let Some(w) = &r.when {
                    self.expr(w, &scope);
                }
            }
            None => {
                if let Some(w) = &r.when {
                    self.expr(w, &scope);
                }
            }
        }
        if let Some(th) = &r.threshold {
            if let ast::ThresholdKind::Distinct(f, _)
            | ast::ThresholdKind::Sum(f, _)
            | ast::ThresholdKind::Avg(f, _) = &th.kind
            {
                self.field_hit(f, events.clone());
            }
            for k in &th.by {
                self.field_hit(k, events.clone());
            }
        }
        if let Some(fields) = &r.fields {
            for p in fields {
                match p.parts.as_slice() {
                    [f] => self.field_hit(f, scope.events.clone()),
                    [step, f] => {
                        let ev = scope
                            .locals
                            .iter()
                            .find(|(n, _)| *n == step.name)
                            .and_then(|(_, e)| e.clone());
                        self.field_hit(f, ev.into_iter().collect());
                    }
                    _ => {}
                }
            }
        }
        self.out.rules.push(RuleInfo {
            name: r.name.name.clone(),
            span: r.name.span,
            whole: r.span,
            id,
            events,
        });
    }

    fn expr(&mut self, root: &Expr, scope: &Scope) {
        // Scopes change only under a quantifier; the stack holds the scope each node sees.
        let mut stack: Vec<(&Expr, std::rc::Rc<Scope>)> =
            vec![(root, std::rc::Rc::new(scope.clone()))];
        while let Some((e, sc)) = stack.pop() {
            match &e.kind {
                ExprKind::Name(i) => {
                    if sc.locals.iter().any(|(n, _)| *n == i.name) {
                        continue;
                    }
                    if self.has_field(&sc.events, &i.name) {
                        self.field_hit(i, sc.events.clone());
                    } else {
                        self.hit(i.span, Sym::Global(i.name.clone()), false);
                    }
                }
                ExprKind::Call(name, args) => {
                    self.hit(name.span, Sym::Call(name.name.clone()), false);
                    for a in args.iter().rev() {
                        stack.push((a, sc.clone()));
                    }
                }
                ExprKind::Field(base, name) => {
                    let events = match &base.kind {
                        ExprKind::Name(b) => {
                            sc.locals.iter().find(|(n, _)| *n == b.name).map_or_else(
                                || sc.events.clone(),
                                |(_, ev)| ev.iter().cloned().collect(),
                            )
                        }
                        _ => sc.events.clone(),
                    };
                    self.field_hit(name, events);
                    // The base (a step, `event`, a parameter) is local; anything else is walked.
                    if !matches!(&base.kind, ExprKind::Name(b) if sc.locals.iter().any(|(n, _)| *n == b.name))
                    {
                        stack.push((base, sc.clone()));
                    }
                }
                ExprKind::Quant {
                    binder, list, body, ..
                } => {
                    stack.push((list, sc.clone()));
                    let mut inner = (*sc).clone();
                    inner.locals.push((binder.name.clone(), None));
                    stack.push((body, std::rc::Rc::new(inner)));
                }
                _ => {
                    let mut children = Vec::new();
                    e.for_each_child(|c| children.push(c));
                    for c in children.into_iter().rev() {
                        stack.push((c, sc.clone()));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_says_what_it_declares_and_uses() {
        let text = r#"
list shells = ["cmd.exe", "pwsh.exe"]
fn is_shell(p: process_start) -> bool { basename(p.image) iin shells }
rule r {
    meta { id: "r-1", severity: high }
    on process_start
    when is_shell(event) and image iin shells and any(x in args, x == "-enc") and other_list_user(image)
}
test r { process_start { image: "cmd.exe" } => fires }
"#;
        let s = summarize_text(text, &Schema::endpoint());
        assert_eq!(s.lists[0].items, vec!["\"cmd.exe\"", "\"pwsh.exe\""]);
        assert_eq!(s.fns[0].signature, "fn is_shell(p: process_start) -> bool");
        assert_eq!(s.rules[0].id.as_deref(), Some("r-1"));
        assert_eq!(s.rules[0].events, vec!["process_start"]);
        let mut used: Vec<&str> = s.used_names().collect();
        used.sort_unstable();
        used.dedup();
        assert_eq!(
            used,
            vec!["basename", "is_shell", "other_list_user", "r", "shells"]
        );
        let mut declared: Vec<&str> = s.declared_names().collect();
        declared.sort_unstable();
        assert_eq!(declared, vec!["is_shell", "r", "r-1", "shells"]);
        // `image` is a field, `x` a binder, `p.image` a field of the parameter's type.
        let at = |needle: &str, nth: usize| {
            let off = text
                .match_indices(needle)
                .nth(nth)
                .map(|(i, _)| i)
                .expect("in text");
            s.at(u32::try_from(off + 1).expect("small"))
                .map(|h| h.sym.clone())
        };
        assert_eq!(
            at("image iin", 0),
            Some(Sym::Field {
                name: "image".into(),
                events: vec!["process_start".into()]
            })
        );
        assert_eq!(
            at("image)", 0),
            Some(Sym::Field {
                name: "image".into(),
                events: vec!["process_start".into()]
            })
        );
        assert_eq!(at("shells", 2), Some(Sym::Global("shells".into())));
        assert_eq!(
            at("high", 0),
            Some(Sym::MetaValue {
                key: "severity".into(),
                value: "high".into()
            })
        );
        assert_eq!(at("severity", 0), Some(Sym::MetaKey("severity".into())));
        assert_eq!(at("is_shell(event)", 0), Some(Sym::Call("is_shell".into())));
        assert_eq!(at("x ==", 0), None);
    }

    #[test]
    fn the_declaration_key_changes_with_what_others_see_only() {
        let schema = Schema::endpoint();
        let a = summarize_text(
            "list l = [\"a\"]\nrule r { on process_start when image == \"x\" }",
            &schema,
        );
        let b = summarize_text(
            "list l = [\"a\"]\nrule r { on process_start when image == \"y\" }",
            &schema,
        );
        let c = summarize_text(
            "list l = [\"b\"]\nrule r { on process_start when image == \"x\" }",
            &schema,
        );
        assert_eq!(a.decl_key, b.decl_key);
        assert_ne!(a.decl_key, c.decl_key);
    }
}
