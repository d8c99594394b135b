//! The spanned syntax tree of one `.vgl` file, as the parser builds it.
//!
//! Owns the shape of the language's syntax and nothing else: no resolved names, no types, no
//! schema. Every node carries a [`Span`]. `and`/`or` chains are n-ary (a 100,000-long `or` is a
//! flat vector, not a deep tree), and [`Expr`] drops iteratively, so a deep tree built from hostile
//! input can never overflow the stack while it is freed. Depth is bounded by the parser
//! (`MAX_NESTING`), so the passes that walk an accepted tree recursively stay within bounds.

use crate::span::Span;

/// A name as written, with its span. Backticked names (`` `Threat Name` ``) carry the text
/// between the backticks and `quoted: true`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    /// The name's text.
    pub name: String,
    /// Where it was written (for backticked names, including the backticks).
    pub span: Span,
    /// Written with backticks.
    pub quoted: bool,
}

/// A string literal after escape decoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrLit {
    /// The decoded value.
    pub value: String,
    /// The whole literal, quotes and `r#` included.
    pub span: Span,
    /// Bytes from `span.start` to the first content byte (1 for `"`, 2 for `r"`, 3 for `r#"`...).
    pub content_offset: u32,
    /// True when the value's bytes are exactly the source bytes between the quotes (raw strings,
    /// and plain strings without escapes), so an offset into `value` maps to
    /// `span.start + content_offset + offset` in the source.
    pub verbatim: bool,
}

impl StrLit {
    /// The source span of `value[start..end]`, or the whole literal when the value is not
    /// verbatim (escapes make byte offsets differ).
    pub fn span_of(&self, start: usize, end: usize) -> Span {
        if self.verbatim {
            let s = u32::try_from(start).unwrap_or(u32::MAX);
            let e = u32::try_from(end).unwrap_or(u32::MAX);
            self.span
                .sub(self.content_offset.saturating_add(s), e.saturating_sub(s))
        } else {
            self.span
        }
    }
}

/// A duration literal such as `30s`, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurationLit {
    /// The value in nanoseconds (saturating).
    pub nanos: u64,
    /// Where it was written.
    pub span: Span,
}

/// One parsed file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct File {
    /// Top-level declarations in source order.
    pub items: Vec<Item>,
}

/// A top-level declaration.
#[derive(Clone, Debug, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "items are few per file and moved rarely; boxing would only add indirection"
)]
pub enum Item {
    /// `list NAME [: TYPE] = [ ... ]`
    List(ListDecl),
    /// `fn NAME(params) -> TYPE { body }`
    Fn(FnDecl),
    /// `rule NAME { ... }`
    Rule(RuleDecl),
    /// `test NAME { ... }`
    Test(TestDecl),
}

/// A type as written: `string`, `[cidr]`, `process_start`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeExpr {
    /// A named type: a base type (`bool int string ip cidr duration`) or an event type.
    Named(Ident),
    /// A list type `[T]`, with the span of the brackets.
    List(Box<TypeExpr>, Span),
}

impl TypeExpr {
    /// The span of the whole type.
    pub fn span(&self) -> Span {
        match self {
            TypeExpr::Named(i) => i.span,
            TypeExpr::List(_, s) => *s,
        }
    }
}

/// `list NAME [: TYPE] = VALUE`
#[derive(Clone, Debug, PartialEq)]
pub struct ListDecl {
    /// The list's name.
    pub name: Ident,
    /// The declared type, when written.
    pub ty: Option<TypeExpr>,
    /// The value: a list literal expression (items are checked to be constants by the compiler).
    pub value: Expr,
    /// The whole declaration.
    pub span: Span,
}

/// A function parameter `name: TYPE`.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// The parameter's name.
    pub name: Ident,
    /// Its type.
    pub ty: TypeExpr,
}

/// `fn NAME(p: T, ...) -> T { expr }`
#[derive(Clone, Debug, PartialEq)]
pub struct FnDecl {
    /// The function's name.
    pub name: Ident,
    /// Parameters in order.
    pub params: Vec<Param>,
    /// The declared return type.
    pub ret: TypeExpr,
    /// The body expression.
    pub body: Expr,
    /// The whole declaration.
    pub span: Span,
}

/// A meta value.
#[derive(Clone, Debug, PartialEq)]
pub enum MetaValue {
    /// `"text"`
    Str(StrLit),
    /// `42`, `-7` (the sign folded in), with its span.
    Int(i128, Span),
    /// `true` / `false`
    Bool(bool, Span),
    /// A bare word such as `high`.
    Word(Ident),
    /// `["a", "b"]`, items are meta values (the compiler requires strings).
    List(Vec<MetaValue>, Span),
}

impl MetaValue {
    /// The span of the value.
    pub fn span(&self) -> Span {
        match self {
            MetaValue::Str(s) => s.span,
            MetaValue::Int(_, s) | MetaValue::Bool(_, s) | MetaValue::List(_, s) => *s,
            MetaValue::Word(i) => i.span,
        }
    }
}

/// `key: value` inside `meta { ... }`. Keys may be keywords (`test:`).
#[derive(Clone, Debug, PartialEq)]
pub struct MetaEntry {
    /// The key.
    pub key: Ident,
    /// The value.
    pub value: MetaValue,
}

/// `meta { ... }`
#[derive(Clone, Debug, PartialEq)]
pub struct Meta {
    /// Entries in source order.
    pub entries: Vec<MetaEntry>,
    /// The whole block.
    pub span: Span,
}

/// What a rule runs on.
#[derive(Clone, Debug, PartialEq)]
pub enum Trigger {
    /// `on T1, T2, ...`
    On(Vec<Ident>, Span),
    /// `sequence by ... within ... { steps }`
    Sequence(Sequence),
}

/// `sequence [any order] by F1, F2 within D { step: type when expr ... }`
#[derive(Clone, Debug, PartialEq)]
pub struct Sequence {
    /// The key fields (`by`); may be empty when the rule omits `by`.
    pub by: Vec<Ident>,
    /// The window (`within`); `None` when omitted (the compiler reports it).
    pub within: Option<DurationLit>,
    /// The steps in order.
    pub steps: Vec<Step>,
    /// `sequence any order`: the steps may match in any order.
    pub any_order: bool,
    /// The whole clause.
    pub span: Span,
}

/// One step of a sequence: `name: event_type [when expr]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The step's name, used as `name.field` in later steps, `emit` and `fields`.
    pub name: Ident,
    /// The event type it matches.
    pub event: Ident,
    /// Its condition.
    pub when: Option<Expr>,
    /// The whole step.
    pub span: Span,
}

/// What a threshold counts.
#[derive(Clone, Debug, PartialEq)]
pub enum ThresholdKind {
    /// `count`
    Count(Span),
    /// `distinct(FIELD)`
    Distinct(Ident, Span),
    /// `sum(FIELD)`: the sum of an int field's values in the window.
    Sum(Ident, Span),
    /// `avg(FIELD)`: the average of an int field's values in the window.
    Avg(Ident, Span),
}

/// `threshold count|distinct(F)|sum(F)|avg(F) >= N within D [by K1, K2]`
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// What is counted.
    pub kind: ThresholdKind,
    /// N, the count (sum, average) that fires (an unsigned literal).
    pub count: u64,
    /// The span of N.
    pub count_span: Span,
    /// The window.
    pub within: Option<DurationLit>,
    /// The key fields; empty means one key per host.
    pub by: Vec<Ident>,
    /// The whole clause.
    pub span: Span,
}

/// A field path in `fields [...]`: `image` or `spawn.image`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPath {
    /// One or two components.
    pub parts: Vec<Ident>,
    /// The whole path.
    pub span: Span,
}

/// `rule NAME { meta? (on | sequence) when? threshold? emit? fields? }`
#[derive(Clone, Debug, PartialEq)]
pub struct RuleDecl {
    /// The rule's name.
    pub name: Ident,
    /// `meta { ... }`, when written.
    pub meta: Option<Meta>,
    /// `on ...` or `sequence ...`; `None` when missing (the parser reports it).
    pub trigger: Option<Trigger>,
    /// `when EXPR`.
    pub when: Option<Expr>,
    /// `threshold ...`.
    pub threshold: Option<Threshold>,
    /// `emit "..."`.
    pub emit: Option<StrLit>,
    /// `fields [...]`.
    pub fields: Option<Vec<FieldPath>>,
    /// The whole declaration.
    pub span: Span,
}

/// What a test line expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// `=> fires` (`None`: at least one alert) or `=> fires N` (exactly N).
    Fires(Option<u64>),
    /// `=> quiet`
    Quiet,
}

/// `[at D] event_type { field: value, ... } [=> fires [N] | => quiet]`
#[derive(Clone, Debug, PartialEq)]
pub struct TestCase {
    /// `at D`, when written.
    pub at: Option<DurationLit>,
    /// The event type.
    pub event: Ident,
    /// Field values (constant expressions).
    pub fields: Vec<(Ident, Expr)>,
    /// The expectation, when written.
    pub expect: Option<(Expect, Span)>,
    /// The whole line.
    pub span: Span,
}

/// `test RULE_NAME { cases }`
#[derive(Clone, Debug, PartialEq)]
pub struct TestDecl {
    /// The rule under test.
    pub rule: Ident,
    /// The cases in order.
    pub cases: Vec<TestCase>,
    /// The whole block.
    pub span: Span,
}

/// Binary operators (not `and`/`or`, which are n-ary).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
    /// `in`
    In,
    /// `iin`
    IIn,
    /// `matches`
    Matches,
    /// A string operator (`ieq`, `contains`, ...).
    Str(StrOp),
}

/// String operators, usable alone or with `any`/`all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StrOp {
    /// `ieq`
    Ieq,
    /// `contains`
    Contains,
    /// `startswith`
    StartsWith,
    /// `endswith`
    EndsWith,
    /// `icontains`
    IContains,
    /// `istartswith`
    IStartsWith,
    /// `iendswith`
    IEndsWith,
}

impl StrOp {
    /// The keyword as written.
    pub fn as_str(self) -> &'static str {
        match self {
            StrOp::Ieq => "ieq",
            StrOp::Contains => "contains",
            StrOp::StartsWith => "startswith",
            StrOp::EndsWith => "endswith",
            StrOp::IContains => "icontains",
            StrOp::IStartsWith => "istartswith",
            StrOp::IEndsWith => "iendswith",
        }
    }
}

impl BinOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::In => "in",
            BinOp::IIn => "iin",
            BinOp::Matches => "matches",
            BinOp::Str(s) => s.as_str(),
        }
    }
}

/// `any` or `all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Quantifier {
    /// At least one.
    Any,
    /// Every one.
    All,
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnOp {
    /// `not`
    Not,
    /// `-`
    Neg,
}

/// An expression with its span.
#[derive(Debug, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it was written.
    pub span: Span,
}

/// The kinds of expression.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// `true` / `false`
    Bool(bool),
    /// An unsigned integer token (the sign is a [`UnOp::Neg`] around it).
    Int(u64),
    /// A string literal.
    Str(StrLit),
    /// `[a, b, c]`
    List(Vec<Expr>),
    /// A bare name: a field, a list, a binder, `event`, a step name.
    Name(Ident),
    /// `base.name`: a field of an event value (`spawn.image`, `p.parent_image`).
    Field(Box<Expr>, Ident),
    /// `name(args)`: a user fn or a builtin.
    Call(Ident, Vec<Expr>),
    /// `exists(field)`
    Exists(Box<Expr>),
    /// `not e`, `-e`
    Unary(UnOp, Box<Expr>),
    /// `a OP b`
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `a and b and c` (two or more operands)
    And(Vec<Expr>),
    /// `a or b or c` (two or more operands)
    Or(Vec<Expr>),
    /// `lhs OP any|all LIST`; `list` is a list literal or a name.
    StrAnyAll {
        /// The string operator.
        op: StrOp,
        /// `any` or `all`.
        quant: Quantifier,
        /// The left operand.
        lhs: Box<Expr>,
        /// The list.
        list: Box<Expr>,
    },
    /// `any(x in LIST, body)` / `all(x in LIST, body)`
    Quant {
        /// `any` or `all`.
        quant: Quantifier,
        /// The bound name.
        binder: Ident,
        /// The list iterated over.
        list: Box<Expr>,
        /// The condition.
        body: Box<Expr>,
    },
    /// A placeholder left by error recovery; it checks as any type without further errors.
    Error,
}

impl Expr {
    /// A new expression.
    pub fn new(kind: ExprKind, span: Span) -> Self {
        Expr { kind, span }
    }

    /// Moves this node's direct children out into `out`, leaving `Error` placeholders.
    fn take_children(&mut self, out: &mut Vec<Expr>) {
        fn take(b: &mut Expr) -> Expr {
            std::mem::replace(b, Expr::new(ExprKind::Error, b.span))
        }
        match &mut self.kind {
            ExprKind::Bool(_)
            | ExprKind::Int(_)
            | ExprKind::Str(_)
            | ExprKind::Name(_)
            | ExprKind::Error => {}
            ExprKind::List(v) | ExprKind::Call(_, v) | ExprKind::And(v) | ExprKind::Or(v) => {
                out.append(v)
            }
            ExprKind::Field(e, _) | ExprKind::Exists(e) | ExprKind::Unary(_, e) => {
                out.push(take(e))
            }
            ExprKind::Binary(_, a, b)
            | ExprKind::StrAnyAll {
                lhs: a, list: b, ..
            }
            | ExprKind::Quant {
                list: a, body: b, ..
            } => {
                out.push(take(a));
                out.push(take(b));
            }
        }
    }

    /// The depth of the tree, computed without recursion.
    pub fn depth(&self) -> usize {
        let mut max = 0;
        let mut stack: Vec<(&Expr, usize)> = vec![(self, 1)];
        while let Some((e, d)) = stack.pop() {
            max = max.max(d);
            e.for_each_child(|c| stack.push((c, d + 1)));
        }
        max
    }

    /// Calls `f` on each direct child, in source order.
    pub fn for_each_child<'a>(&'a self, mut f: impl FnMut(&'a Expr)) {
        match &self.kind {
            ExprKind::Bool(_)
            | ExprKind::Int(_)
            | ExprKind::Str(_)
            | ExprKind::Name(_)
            | ExprKind::Error => {}
            ExprKind::List(v) | ExprKind::Call(_, v) | ExprKind::And(v) | ExprKind::Or(v) => {
                v.iter().for_each(f)
            }
            ExprKind::Field(e, _) | ExprKind::Exists(e) | ExprKind::Unary(_, e) => f(e),
            ExprKind::Binary(_, a, b)
            | ExprKind::StrAnyAll {
                lhs: a, list: b, ..
            }
            | ExprKind::Quant {
                list: a, body: b, ..
            } => {
                f(a);
                f(b);
            }
        }
    }
}

impl Clone for Expr {
    fn clone(&self) -> Self {
        // Accepted trees are depth-bounded by the parser, so recursion here is bounded.
        Expr {
            kind: self.kind.clone(),
            span: self.span,
        }
    }
}

impl Drop for Expr {
    fn drop(&mut self) {
        // Iterative drop: a deep tree from hostile input must not overflow the stack.
        let mut stack = Vec::new();
        self.take_children(&mut stack);
        while let Some(mut e) = stack.pop() {
            e.take_children(&mut stack);
        }
    }
}
