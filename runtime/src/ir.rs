//! The IR: what a compiled bundle carries and what both engines run.
//!
//! A [`Program`] is a set of rules plus program-wide constant pools (strings, constant lists,
//! regex patterns), the table of builtins it calls (by name and signature, mapped to this
//! runtime's registry at bind time), and the field *requirements* it reads: `(event type, field,
//! type, bounds)`. Fields are never slots here; `schema::bind` resolves requirements to the host's
//! slots, after which `verify` checks the program against the host's bounds.
//!
//! Each rule owns an expression arena. Children always have smaller ids than their parent, so the
//! arena is a DAG in topological order: evaluating nodes in id order is a valid schedule, the
//! verifier checks acyclicity with one comparison per edge, and no pass needs recursion. There are
//! no calls to user functions (inlined during lowering), no jumps and no loops but [`ExprKind::Quant`]
//! over a bounded list field.
//!
//! Sequence rules read earlier steps' fields through [`ExprKind::Captured`], whose values the
//! engine stores (strings cut to the rule's `capture_len`) when that step matches.
//!
//! The IR holds no source spans: those live in [`DebugInfo`], a separate, strippable section.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::types::{Scalar, Ty};

/// Index of a node in a rule's expression arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ExprId(pub u32);

/// Index into [`Program::fields`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FieldRef(pub u32);

/// Index into [`Program::strings`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StrId(pub u32);

/// Index into [`Program::lists`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ListId(pub u32);

/// Index into [`Program::regexes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RegexId(pub u32);

/// Index into [`Program::builtins`] (the program's own table, not the runtime's registry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CallId(pub u16);

/// Index into a sequence's [`SequenceDef::captures`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CaptureId(pub u16);

/// A quantifier's bound variable: the nesting level of the quantifier that binds it (0 is the
/// outermost quantifier of the expression).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LocalId(pub u16);

/// Index of a rule in [`Program::rules`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RuleId(pub u32);

/// The IR format version; bumped on any incompatible change.
pub const IR_VERSION: u32 = 1;

/// A whole compiled program.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Program {
    /// The schema the program was built against.
    pub schema: SchemaRef,
    /// Every field the program reads, with the bounds its proofs assumed.
    pub fields: Vec<FieldReq>,
    /// The builtins it calls, by name and signature.
    pub builtins: Vec<BuiltinRef>,
    /// Interned string constants.
    pub strings: Vec<String>,
    /// Interned constant lists.
    pub lists: Vec<ConstList>,
    /// Regular expression patterns (compiled by the engines at load, size-checked by the verifier).
    pub regexes: Vec<String>,
    /// The rules.
    pub rules: Vec<Rule>,
}

/// The schema a program was built against.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SchemaRef {
    /// Schema name, e.g. `endpoint`.
    pub name: String,
    /// Major version: a host with another major version refuses the program.
    pub major: u32,
    /// Minor version: a host with the same major and any minor accepts it (fields only added).
    pub minor: u32,
}

/// A field the program reads and the bounds its proofs assumed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FieldReq {
    /// Event type name.
    pub event: String,
    /// Field name.
    pub field: String,
    /// Its type.
    pub ty: Ty,
    /// Maximum bytes of a string (or of each list item); 0 for other types.
    pub max_len: u32,
    /// Maximum items of a list; 0 for scalars.
    pub max_items: u32,
}

/// A builtin the program calls: name and signature, checked against the runtime's registry.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BuiltinRef {
    /// Its name as written in rules.
    pub name: String,
    /// Argument types.
    pub params: Vec<Ty>,
    /// Result type.
    pub ret: Ty,
}

/// A scalar constant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Const {
    /// A bool.
    Bool(bool),
    /// An int.
    Int(i64),
    /// A string.
    Str(String),
    /// An IP address.
    Ip(IpAddr),
    /// A network prefix: address and prefix length.
    Cidr(IpAddr, u8),
}

/// A constant list with one element type.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConstList {
    /// Element type.
    pub elem: Scalar,
    /// Items, in source order.
    pub items: Vec<Const>,
}

/// Alert severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Severity {
    /// `informational`
    Informational,
    /// `low`
    Low,
    /// `medium`
    Medium,
    /// `high`
    High,
    /// `critical`
    Critical,
}

impl Severity {
    /// The word as written in rules and alerts.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses the word as written in rules.
    pub fn parse(word: &str) -> Option<Severity> {
        Some(match word {
            "informational" => Severity::Informational,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

/// A meta value carried into alerts unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MetaValue {
    /// A string (bare words become strings).
    Str(String),
    /// An integer.
    Int(i64),
    /// A bool.
    Bool(bool),
    /// A list of strings.
    List(Vec<String>),
}

/// One rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// The rule's id (meta `id`, default its name); unique in a program.
    pub id: String,
    /// The rule's name as declared.
    pub name: String,
    /// Title (meta `title`, default the name).
    pub title: String,
    /// Severity (meta `severity`, default medium).
    pub severity: Severity,
    /// Shadow rule: evaluated and counted, alerts marked as shadow.
    pub shadow: bool,
    /// Every other meta entry, in source order.
    pub meta: Vec<(String, MetaValue)>,
    /// The expression arena; children before parents.
    pub exprs: Vec<Expr>,
    /// What the rule runs on and how it matches.
    pub kind: RuleKind,
    /// The alert message template; empty means "the title".
    pub emit: Vec<TemplatePart>,
    /// Fields copied into the alert: output name and the expression read.
    pub fields: Vec<(String, ExprId)>,
}

/// A piece of an `emit` template.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TemplatePart {
    /// Literal text.
    Lit(String),
    /// A value printed as `docs/alerts.md` says.
    Expr(ExprId),
}

/// How a rule matches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RuleKind {
    /// Fires on each event of the listed types whose condition holds.
    Single {
        /// Event types (names) the rule runs on.
        events: Vec<String>,
        /// The condition; `None` fires on every event.
        cond: Option<ExprId>,
    },
    /// `sequence by ... within ... { steps }`
    Sequence(SequenceDef),
    /// `on ... when ... threshold ...`
    Threshold(ThresholdDef),
    /// `sequence any order by ... within ... { steps }`: each step matched once, in any order,
    /// all within the window; no captures (a step reads only its own event). Last, so that
    /// bundles without it decode as before.
    SequenceAnyOrder(SequenceDef),
}

impl RuleKind {
    /// The steps of a sequence, ordered or not.
    #[must_use]
    pub fn sequence(&self) -> Option<&SequenceDef> {
        match self {
            RuleKind::Sequence(s) | RuleKind::SequenceAnyOrder(s) => Some(s),
            _ => None,
        }
    }
}

/// Declared bounds of a stateful rule's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StateDecl {
    /// Maximum keys kept; the oldest is evicted beyond it.
    pub capacity: u32,
    /// Maximum entries per key (threshold `count`/`distinct`: N; `sum`/`avg`: the events kept
    /// per key, meta `entries`; sequence: number of steps).
    pub per_key: u32,
    /// Maximum bytes kept of a captured string.
    pub capture_len: u32,
}

/// A sequence rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SequenceDef {
    /// The steps, two to eight.
    pub steps: Vec<StepDef>,
    /// The window from the first step's time to the last's, in nanoseconds.
    pub within_ns: u64,
    /// Values of earlier steps read later (by later steps, `emit` or `fields`).
    pub captures: Vec<Capture>,
    /// State bounds.
    pub state: StateDecl,
}

/// One step of a sequence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepDef {
    /// The step's name.
    pub name: String,
    /// The event type it matches.
    pub event: String,
    /// Its condition (may read captures of earlier steps only).
    pub cond: Option<ExprId>,
    /// The key fields on this step's event, in `by` order; all steps' keys have the same types.
    pub key: Vec<FieldRef>,
}

/// A value stored when step `step` matches, read later through [`ExprKind::Captured`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Capture {
    /// The step whose event supplies the value.
    pub step: u8,
    /// The field read from it.
    pub field: FieldRef,
}

/// What a threshold counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Counting {
    /// Events.
    Count,
    /// Distinct values of a field.
    Distinct(FieldRef),
    /// The sum of an int field's values (exact: summed as `i128`).
    Sum(FieldRef),
    /// The average of an int field's values (exact: `sum >= N * count`, no division).
    Avg(FieldRef),
}

impl Counting {
    /// The field read from each counted event (`distinct`, `sum`, `avg`); `None` for `count`.
    #[must_use]
    pub fn field(self) -> Option<FieldRef> {
        match self {
            Counting::Count => None,
            Counting::Distinct(f) | Counting::Sum(f) | Counting::Avg(f) => Some(f),
        }
    }

    /// `sum(F)` or `avg(F)`: the table keeps each event's value, up to
    /// [`StateDecl::per_key`] events per key.
    #[must_use]
    pub fn is_amount(self) -> bool {
        matches!(self, Counting::Sum(_) | Counting::Avg(_))
    }
}

/// A threshold rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThresholdDef {
    /// Event types it counts.
    pub events: Vec<String>,
    /// Which events count.
    pub cond: Option<ExprId>,
    /// What is counted.
    pub counting: Counting,
    /// Fires when the count (distinct values, sum, average) in the window reaches this.
    pub count: u64,
    /// Window length in nanoseconds.
    pub within_ns: u64,
    /// Key fields (empty: one key per host). One list per event type in `events`, same order.
    pub key: Vec<Vec<FieldRef>>,
    /// State bounds.
    pub state: StateDecl,
}

/// Arithmetic on ints: wrapping; division and remainder by zero give 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ArithOp {
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
}

/// Comparisons. `Eq`/`Ne` take two scalars of one type; the others take ints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CmpOp {
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
}

/// String tests; `fold` on the node selects case folding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StrTest {
    /// Equal.
    Eq,
    /// Contains.
    Contains,
    /// Starts with.
    StartsWith,
    /// Ends with.
    EndsWith,
}

/// `any` or `all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Quant {
    /// At least one (false over an empty list).
    Any,
    /// Every one (true over an empty list).
    All,
}

/// A typed node.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Expr {
    /// The node's type (checked by the verifier against its operands).
    pub ty: Ty,
    /// What it computes.
    pub kind: ExprKind,
}

/// What a node computes. Operand ids are always smaller than the node's own id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExprKind {
    /// A bool constant.
    Bool(bool),
    /// An int constant.
    Int(i64),
    /// A string constant.
    Str(StrId),
    /// An IP constant.
    Ip(IpAddr),
    /// A constant list.
    List(ListId),
    /// The current event's field (its type's empty value when absent).
    Field(FieldRef),
    /// Whether the current event carried the field.
    Exists(FieldRef),
    /// Whether the current event's string field was cut to its `max_len` (or had invalid UTF-8
    /// replaced).
    Truncated(FieldRef),
    /// A value captured from an earlier sequence step.
    Captured(CaptureId),
    /// The element bound by the enclosing quantifier at this level.
    Local(LocalId),
    /// `not e`
    Not(ExprId),
    /// All operands true (short-circuit, left to right).
    And(Vec<ExprId>),
    /// Any operand true (short-circuit, left to right).
    Or(Vec<ExprId>),
    /// Wrapping negation.
    Neg(ExprId),
    /// Wrapping arithmetic.
    Arith(ArithOp, ExprId, ExprId),
    /// Comparison.
    Cmp(CmpOp, ExprId, ExprId),
    /// `lhs OP rhs` on strings.
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
    /// `lhs OP any|all LIST` with a constant string list (`in`/`iin` on strings is `Eq`/`Any`).
    StrList {
        /// The test.
        op: StrTest,
        /// Under case folding.
        fold: bool,
        /// Any or all.
        quant: Quant,
        /// Subject.
        lhs: ExprId,
        /// The constant list of patterns.
        list: ListId,
    },
    /// Membership of a scalar in a list expression (a constant list or a list field). For an
    /// `ip` in a `[cidr]` list this is a network match.
    Member {
        /// The element.
        lhs: ExprId,
        /// The list.
        list: ExprId,
        /// Strings compared under case folding (`iin`).
        fold: bool,
    },
    /// Regex search.
    Matches {
        /// Subject.
        lhs: ExprId,
        /// Pattern.
        regex: RegexId,
    },
    /// A builtin call.
    Call {
        /// Which builtin of the program's table.
        builtin: CallId,
        /// Arguments.
        args: Vec<ExprId>,
    },
    /// `any(x in list, body)` / `all(...)`: the only loop, over a list-typed node.
    Quant {
        /// Any or all.
        quant: Quant,
        /// The level of the bound variable.
        local: LocalId,
        /// The list iterated over.
        list: ExprId,
        /// The condition, evaluated once per item.
        body: ExprId,
    },
}

impl ExprKind {
    /// Calls `f` on each operand id.
    pub fn for_each_operand(&self, mut f: impl FnMut(ExprId)) {
        match self {
            ExprKind::Bool(_)
            | ExprKind::Int(_)
            | ExprKind::Str(_)
            | ExprKind::Ip(_)
            | ExprKind::List(_)
            | ExprKind::Field(_)
            | ExprKind::Exists(_)
            | ExprKind::Truncated(_)
            | ExprKind::Captured(_)
            | ExprKind::Local(_) => {}
            ExprKind::Not(e) | ExprKind::Neg(e) => f(*e),
            ExprKind::And(v) | ExprKind::Or(v) => v.iter().copied().for_each(f),
            ExprKind::Call { args, .. } => args.iter().copied().for_each(f),
            ExprKind::Arith(_, a, b) | ExprKind::Cmp(_, a, b) => {
                f(*a);
                f(*b);
            }
            ExprKind::StrTest { lhs, rhs, .. } => {
                f(*lhs);
                f(*rhs);
            }
            ExprKind::StrList { lhs, .. } | ExprKind::Matches { lhs, .. } => f(*lhs),
            ExprKind::Member { lhs, list, .. } => {
                f(*lhs);
                f(*list);
            }
            ExprKind::Quant { list, body, .. } => {
                f(*list);
                f(*body);
            }
        }
    }
}

impl ExprKind {
    /// Rewrites each operand id with `f` (used by passes that renumber an arena).
    pub fn map_operands(&mut self, mut f: impl FnMut(ExprId) -> ExprId) {
        match self {
            ExprKind::Bool(_)
            | ExprKind::Int(_)
            | ExprKind::Str(_)
            | ExprKind::Ip(_)
            | ExprKind::List(_)
            | ExprKind::Field(_)
            | ExprKind::Exists(_)
            | ExprKind::Truncated(_)
            | ExprKind::Captured(_)
            | ExprKind::Local(_) => {}
            ExprKind::Not(e) | ExprKind::Neg(e) => *e = f(*e),
            ExprKind::And(v) | ExprKind::Or(v) | ExprKind::Call { args: v, .. } => {
                v.iter_mut().for_each(|e| *e = f(*e))
            }
            ExprKind::Arith(_, a, b)
            | ExprKind::Cmp(_, a, b)
            | ExprKind::StrTest { lhs: a, rhs: b, .. }
            | ExprKind::Member {
                lhs: a, list: b, ..
            }
            | ExprKind::Quant {
                list: a, body: b, ..
            } => {
                *a = f(*a);
                *b = f(*b);
            }
            ExprKind::StrList { lhs, .. } | ExprKind::Matches { lhs, .. } => *lhs = f(*lhs),
        }
    }
}

impl Rule {
    /// The root nodes of the rule: conditions, `emit` parts and alert fields.
    pub fn roots(&self) -> Vec<ExprId> {
        let mut out = Vec::new();
        match &self.kind {
            RuleKind::Single { cond, .. } => out.extend(cond),
            RuleKind::Threshold(t) => out.extend(t.cond),
            RuleKind::Sequence(s) | RuleKind::SequenceAnyOrder(s) => {
                out.extend(s.steps.iter().filter_map(|st| st.cond));
            }
        }
        out.extend(self.emit.iter().filter_map(|p| match p {
            TemplatePart::Expr(e) => Some(*e),
            TemplatePart::Lit(_) => None,
        }));
        out.extend(self.fields.iter().map(|(_, e)| *e));
        out
    }

    /// The node with id `id`, if in range.
    pub fn expr(&self, id: ExprId) -> Option<&Expr> {
        self.exprs.get(id.0 as usize)
    }

    /// The event types this rule reads (each once, in first-use order).
    pub fn event_types(&self) -> Vec<&str> {
        let names: Vec<&str> = match &self.kind {
            RuleKind::Single { events, .. } => events.iter().map(String::as_str).collect(),
            RuleKind::Threshold(t) => t.events.iter().map(String::as_str).collect(),
            RuleKind::Sequence(s) | RuleKind::SequenceAnyOrder(s) => {
                s.steps.iter().map(|st| st.event.as_str()).collect()
            }
        };
        let mut out: Vec<&str> = Vec::with_capacity(names.len());
        for name in names {
            if !out.contains(&name) {
                out.push(name);
            }
        }
        out
    }
}

/// Source positions for a program: the debug section of a bundle. Stripping it changes no
/// semantics; verifier errors then name rules and node ids instead of source lines.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebugInfo {
    /// Source file names, indexed by [`SrcSpan::file`].
    pub files: Vec<String>,
    /// Per rule, in program order.
    pub rules: Vec<RuleDebug>,
}

/// Spans of one rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleDebug {
    /// The rule's name span.
    pub name: SrcSpan,
    /// One span per expression node (same index as the arena).
    pub exprs: Vec<SrcSpan>,
}

/// A byte range in a source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SrcSpan {
    /// Index into [`DebugInfo::files`].
    pub file: u32,
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}
