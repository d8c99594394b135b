//! The resolved tree: what `resolve` builds from the AST and `typeck` completes.
//!
//! Names are gone: every reference is an id (a list, a fn, a builtin, a quantifier binder, a
//! fn parameter, a sequence step) or a bound field ([`FieldInfo`], with the schema bounds the
//! program's proofs will assume). Expressions of the whole module live in one arena
//! ([`Module::exprs`]) addressed by [`ExprId`]; every node's operands have smaller ids than the
//! node itself, so passes are loops in id order, never deep recursion. Spans are kept for
//! diagnostics.
//!
//! Fields marked "filled by typeck" hold defaults after `resolve`; in a [`crate::typeck::Typed`]
//! (which only exists for sources without errors) they are complete. Lowering reads a `Typed`.

use std::net::IpAddr;

use vigil_grammar::span::Span;
use vigil_runtime::builtins::BuiltinId;
use vigil_runtime::ir::{ArithOp, CmpOp, MetaValue, Quant, Severity, StrTest};
use vigil_runtime::schema::{EventTypeId, FieldIndex};
use vigil_runtime::types::{Scalar, Ty};
use vigil_runtime::value::Value;

/// Index of a node in [`Module::exprs`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExprId(pub u32);

/// Index of a named list in [`Module::lists`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListId(pub u32);

/// Index of a fn in [`Module::fns`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FnId(pub u32);

/// Index of a rule in [`Module::rules`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleId(pub u32);

/// Index of a quantifier binder in [`Module::binders`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BinderId(pub u32);

/// The default `capacity` of a stateful rule (keys kept).
pub const DEFAULT_CAPACITY: u32 = 4096;
/// The default `capture_len` of a sequence (bytes kept of a captured string).
pub const DEFAULT_CAPTURE_LEN: u32 = 256;
/// The default `entries` of a `sum`/`avg` threshold (values kept per key).
pub const DEFAULT_ENTRIES: u32 = 256;

/// Everything compiled together: user files and the standard library.
#[derive(Clone, Debug, Default)]
pub struct Module {
    /// The expression arena; operands before the nodes that use them.
    pub exprs: Vec<Expr>,
    /// Named lists, user and stdlib.
    pub lists: Vec<ListDef>,
    /// Fns, user and stdlib.
    pub fns: Vec<FnDef>,
    /// Rules, in source order (user files in the order given, then stdlib).
    pub rules: Vec<Rule>,
    /// Test blocks, in source order.
    pub tests: Vec<Test>,
    /// Quantifier binders.
    pub binders: Vec<Binder>,
}

impl Module {
    /// The node with id `id`.
    ///
    /// # Panics
    /// When `id` is not an id of this module (ids are only made by `resolve`).
    pub fn expr(&self, id: ExprId) -> &Expr {
        &self.exprs[id.0 as usize]
    }

    /// The list with id `id`.
    ///
    /// # Panics
    /// When `id` is not an id of this module.
    pub fn list(&self, id: ListId) -> &ListDef {
        &self.lists[id.0 as usize]
    }

    /// The fn with id `id`.
    ///
    /// # Panics
    /// When `id` is not an id of this module.
    pub fn func(&self, id: FnId) -> &FnDef {
        &self.fns[id.0 as usize]
    }

    /// The binder with id `id`.
    ///
    /// # Panics
    /// When `id` is not an id of this module.
    pub fn binder(&self, id: BinderId) -> &Binder {
        &self.binders[id.0 as usize]
    }
}

/// One expression node.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What it computes.
    pub kind: ExprKind,
    /// Where it was written.
    pub span: Span,
}

/// A string literal's value and how to find sub-spans of it in the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrLit {
    /// The decoded value.
    pub value: String,
    /// Bytes from the literal's start to its first content byte.
    pub content_offset: u32,
    /// Whether value bytes map one to one onto source bytes.
    pub verbatim: bool,
}

impl StrLit {
    /// The source span of `value[start..end]`, given the literal's whole span; the whole span
    /// when the value is not verbatim.
    pub fn span_of(&self, whole: Span, start: usize, end: usize) -> Span {
        if self.verbatim {
            let s = u32::try_from(start).unwrap_or(u32::MAX);
            let e = u32::try_from(end).unwrap_or(u32::MAX);
            whole.sub(self.content_offset.saturating_add(s), e.saturating_sub(s))
        } else {
            whole
        }
    }
}

/// Which event value a field is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldBase {
    /// The event the rule (or the sequence step) is evaluating.
    Event,
    /// An earlier sequence step's event (its values are captured when that step matched). A
    /// step reading its own name is [`FieldBase::Event`].
    Step(u32),
    /// An event-typed parameter of the enclosing fn (replaced by the argument when inlining).
    Param(u32),
}

/// Where a field comes from in the schema, for one event type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldSource {
    /// Event type name.
    pub event: String,
    /// Event type id in the schema compiled against.
    pub event_id: EventTypeId,
    /// Field index in that event type.
    pub index: FieldIndex,
    /// The schema's `max_len` (bytes of a string or of each list item; 0 otherwise).
    pub max_len: u32,
    /// The schema's `max_items` (0 for scalars).
    pub max_items: u32,
}

/// A field bound to the schema. For a rule `on T1, T2` it has one source per event type (the
/// type is the same in each; the bounds may differ).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldInfo {
    /// The field's name.
    pub name: String,
    /// Its type (the same in every source).
    pub ty: Ty,
    /// One source per event type the base may be, in the rule's event type order.
    pub sources: Vec<FieldSource>,
}

/// The type of a fn parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamType {
    /// A value type.
    Value(Ty),
    /// An event type: the argument is `event` or a step name.
    Event(EventRef),
    /// The type written is unknown (already reported); never in a `Typed`.
    Unknown,
}

/// An event type named in the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRef {
    /// Its name.
    pub name: String,
    /// Its id in the schema.
    pub id: EventTypeId,
    /// Where it was named.
    pub span: Span,
}

/// What a node computes.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// `true` / `false`.
    Bool(bool),
    /// An int literal, the sign folded in.
    Int(i64),
    /// A string literal (typeck turns those used as `ip`/`cidr` into [`ExprKind::Ip`] and
    /// [`ExprKind::Cidr`]).
    Str(StrLit),
    /// An `ip` constant, parsed from a string literal at compile time (typeck).
    Ip(IpAddr),
    /// A `cidr` constant, parsed from a string literal in a `[cidr]` list (typeck).
    Cidr(IpAddr, u8),
    /// A list literal: every item is a constant node (literal).
    List(Vec<ExprId>),
    /// A named list.
    ListRef(ListId),
    /// A field read.
    Field {
        /// Which event value.
        base: FieldBase,
        /// The field.
        field: FieldInfo,
    },
    /// The current event as a value (`event`): only as a fn argument.
    Event {
        /// The event types it may be.
        events: Vec<EventTypeId>,
    },
    /// A sequence step's event as a value: only as a fn argument.
    Step {
        /// The step's index.
        index: u32,
        /// Its event type.
        event: EventTypeId,
    },
    /// A parameter of the enclosing fn.
    Param {
        /// Which fn.
        func: FnId,
        /// Parameter index.
        index: u32,
    },
    /// The element bound by an enclosing quantifier.
    Binder(BinderId),
    /// `exists(field)`: the operand is a [`ExprKind::Field`] node.
    Exists(ExprId),
    /// `not e`.
    Not(ExprId),
    /// `-e` (not folded into a literal).
    Neg(ExprId),
    /// All operands true.
    And(Vec<ExprId>),
    /// Any operand true.
    Or(Vec<ExprId>),
    /// Wrapping int arithmetic.
    Arith(ArithOp, ExprId, ExprId),
    /// `== != < <= > >=`.
    Cmp(CmpOp, ExprId, ExprId),
    /// A string test (`ieq` is `Eq` with `fold`).
    StrTest {
        /// The test.
        op: StrTest,
        /// Under case folding.
        fold: bool,
        /// Subject.
        lhs: ExprId,
        /// Pattern.
        rhs: ExprId,
    },
    /// `lhs OP any|all LIST`: `list` is a constant list ([`ExprKind::List`] or
    /// [`ExprKind::ListRef`]) of strings.
    StrList {
        /// The test.
        op: StrTest,
        /// Under case folding.
        fold: bool,
        /// Any or all.
        quant: Quant,
        /// Subject.
        lhs: ExprId,
        /// The list.
        list: ExprId,
    },
    /// `lhs in list` / `lhs iin list`; an `ip` in a `[cidr]` list is a network match.
    Member {
        /// The element.
        lhs: ExprId,
        /// The list (constant or a list field).
        list: ExprId,
        /// `iin`.
        fold: bool,
    },
    /// `lhs matches pattern`; `pattern` is a [`ExprKind::Str`] node whose value compiled.
    Matches {
        /// Subject.
        lhs: ExprId,
        /// The pattern literal.
        pattern: ExprId,
    },
    /// A call to a user or stdlib fn (inlined by lowering).
    CallFn {
        /// Which fn.
        func: FnId,
        /// Arguments, one per parameter.
        args: Vec<ExprId>,
    },
    /// A builtin call.
    CallBuiltin {
        /// The builtin's row in the registry.
        builtin: BuiltinId,
        /// Arguments.
        args: Vec<ExprId>,
    },
    /// `any(x in list, body)` / `all(...)`.
    Quant {
        /// Any or all.
        quant: Quant,
        /// The bound element.
        binder: BinderId,
        /// The list iterated over.
        list: ExprId,
        /// The condition.
        body: ExprId,
    },
    /// A node that failed to resolve; never in a `Typed`.
    Error,
}

impl ExprKind {
    /// Calls `f` on each operand, in source order.
    pub fn for_each_operand(&self, mut f: impl FnMut(ExprId)) {
        match self {
            ExprKind::Bool(_)
            | ExprKind::Int(_)
            | ExprKind::Str(_)
            | ExprKind::Ip(_)
            | ExprKind::Cidr(..)
            | ExprKind::ListRef(_)
            | ExprKind::Field { .. }
            | ExprKind::Event { .. }
            | ExprKind::Step { .. }
            | ExprKind::Param { .. }
            | ExprKind::Binder(_)
            | ExprKind::Error => {}
            ExprKind::List(v)
            | ExprKind::And(v)
            | ExprKind::Or(v)
            | ExprKind::CallFn { args: v, .. }
            | ExprKind::CallBuiltin { args: v, .. } => v.iter().copied().for_each(f),
            ExprKind::Exists(e) | ExprKind::Not(e) | ExprKind::Neg(e) => f(*e),
            ExprKind::Arith(_, a, b)
            | ExprKind::Cmp(_, a, b)
            | ExprKind::StrTest { lhs: a, rhs: b, .. }
            | ExprKind::StrList {
                lhs: a, list: b, ..
            }
            | ExprKind::Member {
                lhs: a, list: b, ..
            }
            | ExprKind::Matches { lhs: a, pattern: b }
            | ExprKind::Quant {
                list: a, body: b, ..
            } => {
                f(*a);
                f(*b);
            }
        }
    }
}

/// A quantifier's bound name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binder {
    /// The name as written.
    pub name: String,
    /// Where it was bound.
    pub span: Span,
    /// The list it ranges over (its element type is the binder's type).
    pub list: ExprId,
}

/// `list NAME [: TYPE] = [...]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ListDef {
    /// Its name.
    pub name: String,
    /// The name's span.
    pub span: Span,
    /// The declared type, when written.
    pub declared: Option<Ty>,
    /// The list literal node.
    pub value: ExprId,
    /// From `stdlib/lib/`.
    pub stdlib: bool,
    /// Referenced by user code, directly or through stdlib fns and lists.
    pub used: bool,
    /// Element type: declared or inferred (filled by typeck).
    pub elem: Option<Scalar>,
    /// The items as constants of the element type (filled by typeck).
    pub values: Vec<Value<'static>>,
}

/// A fn parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// The name's span.
    pub span: Span,
    /// Its type.
    pub ty: ParamType,
}

/// `fn NAME(params) -> TYPE { body }`.
#[derive(Clone, Debug, PartialEq)]
pub struct FnDef {
    /// Its name.
    pub name: String,
    /// The name's span.
    pub span: Span,
    /// Parameters in order.
    pub params: Vec<Param>,
    /// The declared result type (`bool` when it was unknown: see `ret_known`).
    pub ret: Ty,
    /// Whether the result type was understood (false only with errors).
    pub ret_known: bool,
    /// The return type's span.
    pub ret_span: Span,
    /// The body's root node.
    pub body: ExprId,
    /// From `stdlib/lib/`.
    pub stdlib: bool,
    /// Referenced by user code, directly or through other fns.
    pub used: bool,
    /// Nodes of the body once every call in it is inlined (params counted as one node),
    /// saturating. Filled by resolve's budget pass.
    pub inlined_size: u64,
}

/// How a rule matches.
#[derive(Clone, Debug, PartialEq)]
pub enum RuleKind {
    /// `on T1, T2 [when C]`.
    Single {
        /// Event types, in the order written.
        events: Vec<EventRef>,
        /// The condition.
        cond: Option<ExprId>,
    },
    /// `sequence by K within D { steps }`.
    Sequence(Sequence),
    /// `on T [when C] threshold ...`.
    Threshold(Threshold),
}

/// A sequence rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Sequence {
    /// The steps, 2 to 8 (checked).
    pub steps: Vec<Step>,
    /// `by` field names, in order (each step has them in its `key`).
    pub by: Vec<String>,
    /// The window in nanoseconds.
    pub within_ns: u64,
    /// `sequence any order`: no step reads another.
    pub any_order: bool,
}

/// One sequence step.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Its name.
    pub name: String,
    /// The name's span.
    pub span: Span,
    /// The event type.
    pub event: EventRef,
    /// Its condition (reads this step's event through [`FieldBase::Event`] and earlier steps
    /// through [`FieldBase::Step`]).
    pub cond: Option<ExprId>,
    /// The `by` fields on this step's event, in `by` order.
    pub key: Vec<FieldInfo>,
}

/// What a threshold counts.
#[derive(Clone, Debug, PartialEq)]
pub enum Counting {
    /// Events.
    Count,
    /// Distinct values of a field.
    Distinct(FieldInfo),
    /// The sum of an int field's values.
    Sum(FieldInfo),
    /// The average of an int field's values.
    Avg(FieldInfo),
}

/// A threshold rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// Event types counted.
    pub events: Vec<EventRef>,
    /// Which events count.
    pub cond: Option<ExprId>,
    /// What is counted.
    pub counting: Counting,
    /// Fires when the count reaches this (at least 1).
    pub count: u64,
    /// The window in nanoseconds.
    pub within_ns: u64,
    /// Key fields (empty: one key per host); each has one source per event type.
    pub by: Vec<FieldInfo>,
}

/// A piece of an `emit` template.
#[derive(Clone, Debug, PartialEq)]
pub enum TemplatePart {
    /// Literal text (`{{` and `}}` already unescaped).
    Lit(String),
    /// A field read ([`ExprKind::Field`] node).
    Field(ExprId),
}

/// The rule's meta block, typed (filled by typeck).
#[derive(Clone, Debug, PartialEq)]
pub struct RuleMeta {
    /// `id`, default the rule's name.
    pub id: String,
    /// `title`, default the rule's name.
    pub title: String,
    /// `severity`, default medium.
    pub severity: Severity,
    /// `shadow`, default false.
    pub shadow: bool,
    /// `capacity`, default [`DEFAULT_CAPACITY`].
    pub capacity: u32,
    /// `capture_len`, default [`DEFAULT_CAPTURE_LEN`].
    pub capture_len: u32,
    /// `entries`, default [`DEFAULT_ENTRIES`].
    pub entries: u32,
    /// Every other key, in source order (bare words become strings).
    pub other: Vec<(String, MetaValue)>,
}

/// One meta entry as written (typed by typeck into [`RuleMeta`]).
#[derive(Clone, Debug, PartialEq)]
pub struct MetaEntry {
    /// The key.
    pub key: String,
    /// The key's span.
    pub key_span: Span,
    /// The value.
    pub value: MetaLit,
}

/// A meta value as written.
#[derive(Clone, Debug, PartialEq)]
pub enum MetaLit {
    /// A string.
    Str(String, Span),
    /// An integer (any size; typeck checks the range).
    Int(i128, Span),
    /// A bool.
    Bool(bool, Span),
    /// A bare word.
    Word(String, Span),
    /// A list.
    List(Vec<MetaLit>, Span),
}

impl MetaLit {
    /// The value's span.
    pub fn span(&self) -> Span {
        match self {
            MetaLit::Str(_, s)
            | MetaLit::Int(_, s)
            | MetaLit::Bool(_, s)
            | MetaLit::Word(_, s)
            | MetaLit::List(_, s) => *s,
        }
    }
}

/// One rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// Its name.
    pub name: String,
    /// The name's span.
    pub span: Span,
    /// Meta entries as written.
    pub meta_entries: Vec<MetaEntry>,
    /// Typed meta (filled by typeck).
    pub meta: RuleMeta,
    /// How it matches.
    pub kind: RuleKind,
    /// The `emit` template; `None` means the alert carries the title.
    pub emit: Option<Vec<TemplatePart>>,
    /// `fields [...]`: output name (`image`, `spawn.image`) and the field node.
    pub fields: Vec<(String, ExprId)>,
    /// From `stdlib/lib/`.
    pub stdlib: bool,
}

/// What a test line expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// `=> fires` (at least one alert) or `=> fires N` (exactly N).
    Fires(Option<u64>),
    /// `=> quiet`.
    Quiet,
}

/// One field value of a test event.
#[derive(Clone, Debug, PartialEq)]
pub struct TestField {
    /// The field.
    pub field: FieldInfo,
    /// The value expression (a literal or list literal).
    pub expr: ExprId,
    /// The value, typed as the field (filled by typeck).
    pub value: Option<Value<'static>>,
}

/// One test line.
#[derive(Clone, Debug, PartialEq)]
pub struct TestCase {
    /// The event's offset in nanoseconds: its `at`, or (in a block with `at` lines) the previous
    /// line's, or 0.
    pub at_ns: u64,
    /// Whether the line has its own `at`.
    pub has_at: bool,
    /// The event type.
    pub event: EventRef,
    /// Field values.
    pub fields: Vec<TestField>,
    /// The expectation, when written.
    pub expect: Option<Expect>,
    /// The whole line.
    pub span: Span,
}

/// `test RULE { cases }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Test {
    /// The rule under test.
    pub rule: RuleId,
    /// The rule name's span in the test.
    pub span: Span,
    /// Whether any line has `at`: the block is one event stream; otherwise independent cases.
    pub stream: bool,
    /// The cases in order.
    pub cases: Vec<TestCase>,
}
