//! The requirement analysis: per single-event rule and event type, a *necessary condition* of
//! the rule's condition over literal occurrences ("literal `\powershell.exe` occurred at the
//! end of `image`, folded"), so that the engine may skip the rule when it is false.
//!
//! Input: a rule's expression arena and a way to read a `string` field's slot on the event type
//! ([`Fields`]); output: a [`Req`] per rule (or none: the rule always runs) plus the literals it
//! names ([`Literal`]), which [`super::Prefilter`] compiles into its automata.
//!
//! Soundness is the whole point: `Req` must be true on every event the condition is true on.
//! The analysis is one pass over the arena in id order (children first, no recursion), with
//! `None` meaning "no requirement" (true):
//! - `a and b`: both requirements (a `None` conjunct is dropped);
//! - `a or b`: either (any `None` disjunct makes the whole `None`);
//! - a literal test on a `string` field with a constant, non-empty pattern: that literal's bit
//!   (`contains` any position, `startswith` at 0, `endswith` at the end, `==` the whole value),
//!   folded when the test folds. An empty pattern gives none: `image endswith ""` is true even
//!   on an absent field (absent reads as `""`);
//! - `f in [..]` / `f iin [..]` over a constant string list: any item's whole-value bit;
//!   `f OP any [...]` any item's bit, `f OP all [...]` every item's bit;
//! - `f matches /re/`: one of the literals every match starts with (regex-syntax's prefix
//!   extractor), folded, as a folded `contains` (the case variants of `(?i)` merge), when that
//!   set is finite and has no empty literal;
//! - everything else (`not`, comparisons of other types, quantifiers, builtins, captured
//!   values): none.
//!
//! Requirements larger than [`MAX_REQ_NODES`] are dropped (none is always sound).

use regex_syntax::hir::literal::{ExtractKind, Extractor};

use crate::casefold::fold_str;
use crate::ir::{CmpOp, ExprKind, ListId, Program, Quant, Rule, StrTest};
use crate::schema::FieldIndex;
use crate::types::Ty;

/// A literal may occur anywhere in the field's value.
pub const AT_ANY: u8 = 1;
/// A literal occurred at offset 0.
pub const AT_START: u8 = 2;
/// A literal occurred ending at the value's end.
pub const AT_END: u8 = 4;
/// A literal is the whole value.
pub const WHOLE: u8 = 8;

/// The largest requirement kept per node (counted in [`Req`] nodes); larger ones become "no
/// requirement", which is sound.
pub const MAX_REQ_NODES: usize = 4096;

/// The deepest requirement kept (nested `and`/`or` levels): evaluating one recurses once per
/// level, so deeper ones become "no requirement" (sound), whatever depth the verifier admits.
pub const MAX_REQ_DEPTH: usize = 32;

/// A literal a rule looks for: in which field, folded or not, and its bytes (already folded
/// when `folded`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Literal {
    /// The field's index on the event type.
    pub field: FieldIndex,
    /// Matched against the case-folded field value.
    pub folded: bool,
    /// The pattern (folded when `folded`); never empty.
    pub bytes: Vec<u8>,
}

/// A necessary condition over literal occurrences.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Req {
    /// Literal number `lit` (an index into the analysis's literal table) occurred with `at`
    /// (one of [`AT_ANY`], [`AT_START`], [`AT_END`], [`WHOLE`]).
    Lit {
        /// The literal.
        lit: u32,
        /// Where.
        at: u8,
    },
    /// Every one holds.
    And(Vec<Req>),
    /// At least one holds.
    Or(Vec<Req>),
}

impl Req {
    /// Nodes in the tree.
    pub fn size(&self) -> usize {
        match self {
            Req::Lit { .. } => 1,
            Req::And(v) | Req::Or(v) => 1 + v.iter().map(Req::size).sum::<usize>(),
        }
    }

    /// Evaluates the requirement, `at(lit)` giving the occurrence bits of literal `lit`.
    pub fn holds(&self, at: &impl Fn(u32) -> u8) -> bool {
        match self {
            Req::Lit { lit, at: want } => at(*lit) & want != 0,
            Req::And(v) => v.iter().all(|r| r.holds(at)),
            Req::Or(v) => v.iter().any(|r| r.holds(at)),
        }
    }
}

/// How the analysis reads a field reference on the event type being analysed: its slot index,
/// when it is a scalar `string` field there.
pub trait Fields {
    /// The slot of `f` when it is a scalar `string` field on this event type.
    fn str_field(&self, f: crate::ir::FieldRef) -> Option<FieldIndex>;
}

/// The literal table the analysis fills (deduplicated).
#[derive(Clone, Debug, Default)]
pub struct Literals {
    /// The literals, by number.
    pub list: Vec<Literal>,
    /// Per literal: where the analysed tests want it ([`AT_ANY`], [`AT_START`], [`AT_END`],
    /// [`WHOLE`], or'ed): what the prefilter must answer exactly for it.
    pub wants: Vec<u8>,
    index: std::collections::HashMap<Literal, u32>,
}

impl Literals {
    /// The number of `lit`, adding it when new.
    ///
    /// `at`: where the test interning it wants it (added to [`Literals::wants`]).
    pub fn intern(&mut self, lit: Literal, at: u8) -> Option<u32> {
        if let Some(&n) = self.index.get(&lit) {
            if let Some(w) = self.wants.get_mut(n as usize) {
                *w |= at;
            }
            return Some(n);
        }
        let n = u32::try_from(self.list.len()).ok()?;
        self.index.insert(lit.clone(), n);
        self.list.push(lit);
        self.wants.push(at);
        Some(n)
    }

    /// The number of `lit`, if known.
    pub fn find(&self, lit: &Literal) -> Option<u32> {
        self.index.get(lit).copied()
    }
}

/// Where a test's pattern must occur for the test to hold.
pub fn at_of(op: StrTest) -> u8 {
    match op {
        StrTest::Eq => WHOLE,
        StrTest::Contains => AT_ANY,
        StrTest::StartsWith => AT_START,
        StrTest::EndsWith => AT_END,
    }
}

/// The literal a test of `pattern` against field `field` looks for; `None` for an empty
/// pattern (no requirement: an empty pattern matches every value, absent ones included).
pub fn literal_of(field: FieldIndex, folded: bool, pattern: &str) -> Option<Literal> {
    let bytes = if folded {
        fold_str(pattern).as_bytes().to_vec()
    } else {
        pattern.as_bytes().to_vec()
    };
    if bytes.is_empty() {
        return None;
    }
    Some(Literal {
        field,
        folded,
        bytes,
    })
}

/// The requirement of `rule`'s condition `cond`, adding its literals to `lits`.
///
/// `reads` receives the (field, folded) pair of every literal test on a `string` field of the
/// condition (regexes and `==` included), under `not` too: the scans whose bits the
/// requirement and compiled code may read for this rule.
pub fn analyse(
    program: &Program,
    rule: &Rule,
    cond: crate::ir::ExprId,
    fields: &impl Fields,
    lits: &mut Literals,
    reads: &mut Vec<(FieldIndex, bool)>,
) -> Option<Req> {
    let n = (cond.0 as usize).saturating_add(1).min(rule.exprs.len());
    for expr in rule.exprs.iter().take(n) {
        let read = match &expr.kind {
            ExprKind::StrTest { fold, lhs, .. } | ExprKind::StrList { fold, lhs, .. } => {
                str_field_of(rule, *lhs, fields).map(|f| (f, *fold))
            }
            ExprKind::Member { fold, lhs, .. } => {
                str_field_of(rule, *lhs, fields).map(|f| (f, *fold))
            }
            // Regexes require folded literals, `==` plain ones (see `node_req`).
            ExprKind::Matches { lhs, .. } => str_field_of(rule, *lhs, fields).map(|f| (f, true)),
            ExprKind::Cmp(_, a, b) => str_field_of(rule, *a, fields)
                .or_else(|| str_field_of(rule, *b, fields))
                .map(|f| (f, false)),
            _ => None,
        };
        if let Some(r) = read {
            if !reads.contains(&r) {
                reads.push(r);
            }
        }
    }
    let mut reqs: Vec<Option<Req>> = Vec::with_capacity(n);
    // Per node: (size, depth) of its requirement, so that neither needs a recursive walk.
    let mut dims: Vec<(usize, usize)> = Vec::with_capacity(n);
    for expr in rule.exprs.iter().take(n) {
        let r = node_req(program, rule, &expr.kind, &reqs, fields, lits);
        let mut dim: (usize, usize) = (1, 1);
        if let ExprKind::And(ops) | ExprKind::Or(ops) = &expr.kind {
            for o in ops {
                let (s, d) = dims.get(o.0 as usize).copied().unwrap_or((1, 1));
                dim.0 = dim.0.saturating_add(s);
                dim.1 = dim.1.max(d.saturating_add(1));
            }
        } else if let Some(r) = &r {
            // Leaves: a literal, or a flat `or`/`and` of literals (lists, regexes).
            dim = match r {
                Req::Lit { .. } => (1, 1),
                Req::And(v) | Req::Or(v) => (v.len().saturating_add(1), 2),
            };
        }
        let keep = dim.0 <= MAX_REQ_NODES && dim.1 <= MAX_REQ_DEPTH;
        reqs.push(r.filter(|_| keep));
        dims.push(if keep { dim } else { (1, 1) });
    }
    reqs.get(cond.0 as usize).cloned().flatten()
}

fn str_field_of(rule: &Rule, id: crate::ir::ExprId, fields: &impl Fields) -> Option<FieldIndex> {
    let e = rule.expr(id)?;
    if e.ty != Ty::STR {
        return None;
    }
    match e.kind {
        ExprKind::Field(f) => fields.str_field(f),
        _ => None,
    }
}

fn const_str<'p>(program: &'p Program, rule: &Rule, id: crate::ir::ExprId) -> Option<&'p str> {
    match rule.expr(id)?.kind {
        ExprKind::Str(s) => program.strings.get(s.0 as usize).map(String::as_str),
        _ => None,
    }
}

fn lit_req(lits: &mut Literals, lit: Option<Literal>, at: u8) -> Option<Req> {
    let lit = lits.intern(lit?, at)?;
    Some(Req::Lit { lit, at })
}

fn and_of(parts: Vec<Req>) -> Option<Req> {
    let mut flat = Vec::with_capacity(parts.len());
    for p in parts {
        match p {
            Req::And(v) => flat.extend(v),
            other => flat.push(other),
        }
    }
    match flat.len() {
        0 => None,
        1 => flat.pop(),
        _ => Some(Req::And(flat)),
    }
}

fn or_of(parts: Vec<Req>) -> Option<Req> {
    let mut flat = Vec::with_capacity(parts.len());
    for p in parts {
        match p {
            Req::Or(v) => flat.extend(v),
            other => flat.push(other),
        }
    }
    match flat.len() {
        0 => None, // an `or` of nothing is false; "no requirement" is still sound
        1 => flat.pop(),
        _ => Some(Req::Or(flat)),
    }
}

fn list_strs(program: &Program, list: ListId) -> Option<Vec<&str>> {
    let l = program.lists.get(list.0 as usize)?;
    l.items
        .iter()
        .map(|c| match c {
            crate::ir::Const::Str(s) => Some(s.as_str()),
            _ => None,
        })
        .collect()
}

/// `field OP any|all items`: any (all) item's literal.
fn list_req(
    lits: &mut Literals,
    field: FieldIndex,
    fold: bool,
    op: StrTest,
    quant: Quant,
    items: &[&str],
) -> Option<Req> {
    let at = at_of(op);
    match quant {
        Quant::Any => {
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                // One item without a requirement (empty) makes the whole `any` requirement-free.
                parts.push(lit_req(lits, literal_of(field, fold, item), at)?);
            }
            or_of(parts)
        }
        Quant::All => {
            let parts = items
                .iter()
                .filter_map(|item| lit_req(lits, literal_of(field, fold, item), at))
                .collect();
            and_of(parts)
        }
    }
}

fn node_req(
    program: &Program,
    rule: &Rule,
    kind: &ExprKind,
    reqs: &[Option<Req>],
    fields: &impl Fields,
    lits: &mut Literals,
) -> Option<Req> {
    let get = |id: crate::ir::ExprId| reqs.get(id.0 as usize).cloned().flatten();
    match kind {
        ExprKind::And(ops) => and_of(ops.iter().filter_map(|&o| get(o)).collect()),
        ExprKind::Or(ops) => {
            let parts: Option<Vec<Req>> = ops.iter().map(|&o| get(o)).collect();
            or_of(parts?)
        }
        ExprKind::StrTest { op, fold, lhs, rhs } => {
            let field = str_field_of(rule, *lhs, fields)?;
            let pattern = const_str(program, rule, *rhs)?;
            lit_req(lits, literal_of(field, *fold, pattern), at_of(*op))
        }
        ExprKind::Cmp(CmpOp::Eq, a, b) => {
            let (field, pattern) = match (
                str_field_of(rule, *a, fields),
                str_field_of(rule, *b, fields),
            ) {
                (Some(f), _) => (f, const_str(program, rule, *b)?),
                (None, Some(f)) => (f, const_str(program, rule, *a)?),
                (None, None) => return None,
            };
            lit_req(lits, literal_of(field, false, pattern), WHOLE)
        }
        ExprKind::StrList {
            op,
            fold,
            quant,
            lhs,
            list,
        } => {
            let field = str_field_of(rule, *lhs, fields)?;
            let items = list_strs(program, *list)?;
            list_req(lits, field, *fold, *op, *quant, &items)
        }
        ExprKind::Member { lhs, list, fold } => {
            let field = str_field_of(rule, *lhs, fields)?;
            let ExprKind::List(l) = rule.expr(*list)?.kind else {
                return None;
            };
            let items = list_strs(program, l)?;
            list_req(lits, field, *fold, StrTest::Eq, Quant::Any, &items)
        }
        ExprKind::Matches { lhs, regex } => {
            let field = str_field_of(rule, *lhs, fields)?;
            let pattern = program.regexes.get(regex.0 as usize)?;
            regex_req(lits, field, pattern)
        }
        _ => None,
    }
}

/// At most this many literals are taken from one regex.
pub(crate) const MAX_REGEX_LITERALS: usize = 64;

/// The literals one of which every match of `pattern` starts with, as the prefilter takes
/// them (at most [`MAX_REGEX_LITERALS`]; `None` when the pattern gives no usable set). The cost
/// model charges the prefilter's scan for them too.
pub(crate) fn regex_literals(pattern: &str) -> Option<Vec<String>> {
    // The engines compile with regex-automata's defaults (Unicode, UTF-8): parse the same way.
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .ok()?;
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    let literals = seq.literals()?;
    if literals.is_empty() || literals.len() > MAX_REGEX_LITERALS {
        return None;
    }
    let mut out = Vec::with_capacity(literals.len());
    for l in literals {
        // Every match starts with `l`, so the field contains `l`, and, simple folding being
        // per character, the folded field contains `l` folded. Folded literals merge the case
        // variants an `(?i)` regex expands to. A literal cut inside a character (the
        // extractor's length limits) is cut back to its last whole character: still a
        // substring of every match.
        let bytes = l.as_bytes();
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => std::str::from_utf8(bytes.get(..e.valid_up_to())?).ok()?,
        };
        out.push(text.to_owned());
    }
    Some(out)
}

/// A regex search's requirement: one of the literals every match starts with occurs.
fn regex_req(lits: &mut Literals, field: FieldIndex, pattern: &str) -> Option<Req> {
    let literals = regex_literals(pattern)?;
    let mut parts = Vec::with_capacity(literals.len());
    for text in &literals {
        // `literal_of` refuses the empty literal (no requirement).
        parts.push(lit_req(lits, literal_of(field, true, text), AT_ANY)?);
    }
    parts.sort_by_key(|r| match r {
        Req::Lit { lit, .. } => *lit,
        _ => u32::MAX,
    });
    parts.dedup();
    or_of(parts)
}
