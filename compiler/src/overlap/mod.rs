//! Overlaps between rules, found on the lowered IR: rules whose conditions are the same
//! (W0304), a rule whose condition implies another's (W0305), and a condition that can never
//! be true (W0306) or is always true (W0307) once its field tests are compared with each other.
//!
//! Input: the [`ir::Program`] and its [`ir::DebugInfo`] from lowering; output: warnings, never
//! errors (they fail a check only under `--deny-warnings`). Constant conditions the type
//! checker folds (W0302) are not reported again.
//!
//! How it works:
//! - Every node of every rule gets a **canonical id**, hash-consed over the whole program from
//!   its kind, its constants and its operands' canonical ids, with fields by name and the
//!   operands of `and`/`or` sorted. Equal ids mean equal trees, exactly (no hash collision can
//!   make two different conditions "the same"). Rules are bucketed by a key of their event
//!   types and condition ids (plus, for thresholds and sequences, everything else that decides
//!   when they fire; meta, name, `emit` and `fields` excluded).
//! - A condition becomes a small **formula** in negation normal form whose literals are string
//!   tests of a literal (`f == "x"`, `f icontains "x"`, one per item of an `in [..]` list),
//!   int ranges (`x > 5`) and opaque nodes (anything else, by canonical id). `implies` and
//!   `disjoint` decide the simple cases and answer `false` when unsure or when a step budget
//!   runs out, so every warning is sound: a rule is reported subsumed only when every event it
//!   fires on makes the other fire too.
//! - Implication candidates come from an index of (event type, subject) → rules: a rule can
//!   only imply a conjunct whose subject (the field or expression tested) it tests itself, so
//!   each rule is compared with the few rules that test its rarest conjunct's subject, never
//!   with all of them.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use vigil_grammar::span::{FileId, Span};
use vigil_runtime::casefold::fold_str;
use vigil_runtime::ir::{
    self, ArithOp, CallId, CmpOp, Const, ExprKind, ListId, LocalId, Quant, RegexId, RuleKind,
    StrId, StrTest,
};
use vigil_runtime::types::{Scalar, Ty};

use crate::diag::{Diagnostic, ErrorCode};

mod formula;

use formula::{complement, disjoint, implies, range, unsat, Atom, Budget, Lit, F};

/// Items of an `in [..]` list expanded into one literal each; longer lists stay opaque.
const MAX_EXPANDED_ITEMS: usize = 512;
/// Formula nesting beyond which a node is kept opaque.
const MAX_FORMULA_DEPTH: u32 = 128;
/// Steps one implication between two rules may take.
const PAIR_BUDGET: u32 = 20_000;
/// Steps deciding whether one condition is unsatisfiable or always true may take.
const SELF_BUDGET: u32 = 100_000;
/// Other subsuming rules named in one W0305 note.
const MAX_NAMED: usize = 3;

/// The overlap warnings of a lowered program, sorted by position.
pub fn check(program: &ir::Program, debug: &ir::DebugInfo) -> Vec<Diagnostic> {
    let mut canon = Canonical::new(program);
    let rules: Vec<RuleFacts> = program
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| RuleFacts::new(i, r, &mut canon))
        .collect();
    let span_of = |rule: usize, node: Option<ir::ExprId>| -> Span {
        let d = debug.rules.get(rule);
        let s = node
            .and_then(|n| d.and_then(|d| d.exprs.get(n.0 as usize)))
            .or(d.map(|d| &d.name))
            .copied()
            .unwrap_or_default();
        Span::new(FileId(s.file), s.start, s.end)
    };
    let mut out = Vec::new();
    let duplicate = identical(program, &rules, &span_of, &mut out);
    constant_conditions(program, &rules, &span_of, &mut out);
    implications(program, &rules, &duplicate, &span_of, &mut out);
    out.sort_by_key(|d| {
        (
            d.primary.span.file,
            d.primary.span.start,
            d.primary.span.end,
        )
    });
    out
}

// ---- canonical ids ----------------------------------------------------------------------

/// A node with its operands replaced by canonical ids and its fields by name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Canon {
    Bool(bool),
    Int(i64),
    Str(StrId),
    Ip(IpAddr),
    List(ListId),
    Field(u32),
    Exists(u32),
    Truncated(u32),
    Captured(u8, u32),
    Local(LocalId),
    Not(u32),
    And(Vec<u32>),
    Or(Vec<u32>),
    Neg(u32),
    Arith(ArithOp, u32, u32),
    Cmp(CmpOp, u32, u32),
    StrTest(StrTest, bool, u32, u32),
    StrList(StrTest, bool, Quant, u32, ListId),
    Member(u32, u32, bool),
    Matches(u32, RegexId),
    Call(CallId, Vec<u32>),
    Quant(Quant, LocalId, u32, u32),
    /// A node whose operand is out of range (a lowering bug; never equal to another).
    Broken(u32, u32),
}

/// The program-wide hash-consing table.
struct Canonical {
    ids: HashMap<Canon, u32>,
    /// Field requirement → interned field name.
    field_names: Vec<u32>,
    broken: u32,
}

impl Canonical {
    fn new(program: &ir::Program) -> Self {
        let mut names: HashMap<&str, u32> = HashMap::new();
        let field_names = program
            .fields
            .iter()
            .map(|f| {
                let next = names.len() as u32;
                *names.entry(f.field.as_str()).or_insert(next)
            })
            .collect();
        Canonical {
            ids: HashMap::new(),
            field_names,
            broken: 0,
        }
    }

    fn intern(&mut self, c: Canon) -> u32 {
        let next = self.ids.len() as u32;
        *self.ids.entry(c).or_insert(next)
    }

    fn field(&self, f: ir::FieldRef) -> u32 {
        self.field_names
            .get(f.0 as usize)
            .copied()
            .unwrap_or(u32::MAX - f.0)
    }

    /// Canonical ids of every node of `rule`, in arena order (operands come first).
    fn rule(&mut self, rule_index: usize, rule: &ir::Rule) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::with_capacity(rule.exprs.len());
        let captures = rule.kind.sequence().map(|s| s.captures.as_slice());
        for (i, e) in rule.exprs.iter().enumerate() {
            let at = |id: ir::ExprId| out.get(id.0 as usize).copied();
            let c = (|| -> Option<Canon> {
                Some(match &e.kind {
                    ExprKind::Bool(b) => Canon::Bool(*b),
                    ExprKind::Int(v) => Canon::Int(*v),
                    ExprKind::Str(s) => Canon::Str(*s),
                    ExprKind::Ip(ip) => Canon::Ip(*ip),
                    ExprKind::List(l) => Canon::List(*l),
                    ExprKind::Field(f) => Canon::Field(self.field(*f)),
                    ExprKind::Exists(f) => Canon::Exists(self.field(*f)),
                    ExprKind::Truncated(f) => Canon::Truncated(self.field(*f)),
                    ExprKind::Captured(c) => {
                        let cap = captures?.get(c.0 as usize)?;
                        Canon::Captured(cap.step, self.field(cap.field))
                    }
                    ExprKind::Local(l) => Canon::Local(*l),
                    ExprKind::Not(a) => Canon::Not(at(*a)?),
                    ExprKind::Neg(a) => Canon::Neg(at(*a)?),
                    ExprKind::And(v) | ExprKind::Or(v) => {
                        let mut ids = v.iter().map(|x| at(*x)).collect::<Option<Vec<u32>>>()?;
                        // Pure, total operands: order and repetition change nothing.
                        ids.sort_unstable();
                        ids.dedup();
                        if matches!(e.kind, ExprKind::And(_)) {
                            Canon::And(ids)
                        } else {
                            Canon::Or(ids)
                        }
                    }
                    ExprKind::Arith(op, a, b) => Canon::Arith(*op, at(*a)?, at(*b)?),
                    ExprKind::Cmp(op, a, b) => {
                        let (mut a, mut b) = (at(*a)?, at(*b)?);
                        if matches!(op, CmpOp::Eq | CmpOp::Ne) && b < a {
                            std::mem::swap(&mut a, &mut b);
                        }
                        Canon::Cmp(*op, a, b)
                    }
                    ExprKind::StrTest { op, fold, lhs, rhs } => {
                        Canon::StrTest(*op, *fold, at(*lhs)?, at(*rhs)?)
                    }
                    ExprKind::StrList {
                        op,
                        fold,
                        quant,
                        lhs,
                        list,
                    } => Canon::StrList(*op, *fold, *quant, at(*lhs)?, *list),
                    ExprKind::Member { lhs, list, fold } => {
                        Canon::Member(at(*lhs)?, at(*list)?, *fold)
                    }
                    ExprKind::Matches { lhs, regex } => Canon::Matches(at(*lhs)?, *regex),
                    ExprKind::Call { builtin, args } => Canon::Call(
                        *builtin,
                        args.iter().map(|x| at(*x)).collect::<Option<Vec<u32>>>()?,
                    ),
                    ExprKind::Quant {
                        quant,
                        local,
                        list,
                        body,
                    } => Canon::Quant(*quant, *local, at(*list)?, at(*body)?),
                })
            })();
            let c = c.unwrap_or_else(|| {
                self.broken += 1;
                Canon::Broken(rule_index as u32, i as u32 + self.broken)
            });
            let id = self.intern(c);
            out.push(id);
        }
        out
    }
}

// ---- what is known about each rule ------------------------------------------------------

/// What decides when a rule fires, as canonical ids: equal keys, equal behaviour.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Single {
        events: Vec<String>,
        cond: Option<u32>,
    },
    Threshold {
        events: Vec<(String, Vec<u32>)>,
        cond: Option<u32>,
        counting: (u8, Option<u32>),
        count: u64,
        within_ns: u64,
    },
    Sequence {
        any_order: bool,
        steps: Vec<(String, Option<u32>, Vec<u32>)>,
        within_ns: u64,
    },
}

/// One condition of a rule (a rule's, a threshold's or a step's).
struct Cond {
    /// Its root node.
    root: ir::ExprId,
    /// `rule `r`` or `step `a` of rule `r``.
    what: String,
}

struct RuleFacts {
    key: Key,
    /// The conditions to check for contradictions.
    conds: Vec<Cond>,
    /// Canonical ids of the rule's nodes.
    ids: Vec<u32>,
    /// For a rule of kind single with a condition: its event types (sorted) and condition.
    single: Option<(Vec<String>, ir::ExprId)>,
}

impl RuleFacts {
    fn new(index: usize, rule: &ir::Rule, canon: &mut Canonical) -> Self {
        let ids = canon.rule(index, rule);
        let id = |e: Option<ir::ExprId>| e.and_then(|e| ids.get(e.0 as usize).copied());
        let sorted = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v.dedup();
            v
        };
        let what = format!("rule `{}`", rule.name);
        let mut conds = Vec::new();
        let mut single = None;
        let key = match &rule.kind {
            RuleKind::Single { events, cond } => {
                conds.extend(cond.map(|root| Cond {
                    root,
                    what: what.clone(),
                }));
                single = cond.map(|c| (sorted(events), c));
                Key::Single {
                    events: sorted(events),
                    cond: id(*cond),
                }
            }
            RuleKind::Threshold(t) => {
                conds.extend(t.cond.map(|root| Cond {
                    root,
                    what: what.clone(),
                }));
                let mut events: Vec<(String, Vec<u32>)> = t
                    .events
                    .iter()
                    .enumerate()
                    .map(|(i, e)| {
                        let key = t
                            .key
                            .get(i)
                            .map(|k| k.iter().map(|f| canon.field(*f)).collect())
                            .unwrap_or_default();
                        (e.clone(), key)
                    })
                    .collect();
                events.sort();
                let counting = match t.counting {
                    ir::Counting::Count => (0, None),
                    ir::Counting::Distinct(f) => (1, Some(canon.field(f))),
                    ir::Counting::Sum(f) => (2, Some(canon.field(f))),
                    ir::Counting::Avg(f) => (3, Some(canon.field(f))),
                };
                Key::Threshold {
                    events,
                    cond: id(t.cond),
                    counting,
                    count: t.count,
                    within_ns: t.within_ns,
                }
            }
            RuleKind::Sequence(s) | RuleKind::SequenceAnyOrder(s) => {
                for st in &s.steps {
                    conds.extend(st.cond.map(|root| Cond {
                        root,
                        what: format!("step `{}` of rule `{}`", st.name, rule.name),
                    }));
                }
                Key::Sequence {
                    any_order: matches!(rule.kind, RuleKind::SequenceAnyOrder(_)),
                    steps: s
                        .steps
                        .iter()
                        .map(|st| {
                            (
                                st.event.clone(),
                                id(st.cond),
                                st.key.iter().map(|f| canon.field(*f)).collect(),
                            )
                        })
                        .collect(),
                    within_ns: s.within_ns,
                }
            }
        };
        RuleFacts {
            key,
            conds,
            ids,
            single,
        }
    }
}

// ---- W0304: the same condition ----------------------------------------------------------

/// Reports rules whose keys are equal to an earlier rule's; returns which rules are such
/// duplicates (they take no further part in implication).
fn identical(
    program: &ir::Program,
    rules: &[RuleFacts],
    span_of: &dyn Fn(usize, Option<ir::ExprId>) -> Span,
    out: &mut Vec<Diagnostic>,
) -> Vec<bool> {
    let mut first: HashMap<&Key, usize> = HashMap::new();
    let mut duplicate = vec![false; rules.len()];
    for (i, r) in rules.iter().enumerate() {
        match first.get(&r.key) {
            None => {
                first.insert(&r.key, i);
            }
            // A shadow rule beside a live one is how a new version is tried out.
            Some(&j) if program.rules[j].shadow != program.rules[i].shadow => {}
            Some(&j) => {
                duplicate[i] = true;
                let (a, b) = (&program.rules[j].name, &program.rules[i].name);
                let what = if matches!(r.key, Key::Single { .. }) {
                    "the same event types and condition"
                } else {
                    "the same event types, condition, window and counting or steps"
                };
                out.push(
                    Diagnostic::warning(
                        ErrorCode::DuplicateCondition,
                        span_of(i, None),
                        format!("rule `{b}` has the same condition as rule `{a}`"),
                        format!("same condition as `{a}`"),
                    )
                    .with_label(span_of(j, None), format!("`{a}` is declared here"))
                    .with_note(format!(
                        "both rules have {what} (meta, `emit` and `fields` aside), so they fire on \
                         the same events"
                    ))
                    .with_help(format!(
                        "remove one of them, or merge `{b}`'s meta into `{a}`"
                    )),
                );
            }
        }
    }
    duplicate
}

// ---- W0306, W0307: conditions never or always true -------------------------------------

fn constant_conditions(
    program: &ir::Program,
    rules: &[RuleFacts],
    span_of: &dyn Fn(usize, Option<ir::ExprId>) -> Span,
    out: &mut Vec<Diagnostic>,
) {
    for (i, (rule, facts)) in program.rules.iter().zip(rules).enumerate() {
        for cond in &facts.conds {
            // A constant root is the type checker's W0302.
            if matches!(
                rule.expr(cond.root).map(|e| &e.kind),
                Some(ExprKind::Bool(_)) | None
            ) {
                continue;
            }
            let f = Builder {
                rule,
                ids: &facts.ids,
                program,
            }
            .build(cond.root);
            if let F::Const(b) = f {
                // Folded to a constant by comparing ranges with their type's bounds.
                out.push(constant_diag(
                    b,
                    &cond.what,
                    span_of(i, Some(cond.root)),
                    None,
                ));
                continue;
            }
            // Never true (W0306), or, its negation never true, always true (W0307).
            for (formula, always) in [(f.clone(), false), (f.negate(), true)] {
                if unsat(&formula, &mut Budget(SELF_BUDGET)) {
                    let pair = conflict(&formula, &mut Budget(SELF_BUDGET))
                        .map(|(a, b)| (span_of(i, Some(a)), span_of(i, Some(b))));
                    out.push(constant_diag(
                        always,
                        &cond.what,
                        span_of(i, Some(cond.root)),
                        pair,
                    ));
                    break;
                }
            }
        }
    }
}

/// W0306 (`always == false`) or W0307 at the condition, or, when two of its tests are the
/// reason, at the later one with a label on the earlier (the narrowest place to look).
fn constant_diag(always: bool, what: &str, span: Span, pair: Option<(Span, Span)>) -> Diagnostic {
    let (code, message, label, help) = if always {
        (
            ErrorCode::AlwaysTrueCondition,
            format!("the condition of {what} is true for every event"),
            "always true",
            "remove the `when` clause to fire on every event, or fix the condition",
        )
    } else {
        (
            ErrorCode::UnsatisfiableCondition,
            format!("the condition of {what} can never be true"),
            "never true",
            "no event can pass these tests together: fix the condition",
        )
    };
    match pair {
        Some((a, b)) if a != b && a.file == b.file => {
            let (first, second) = if a.start <= b.start { (a, b) } else { (b, a) };
            let here = if always {
                "true for every event the other test is not"
            } else {
                "cannot be true together with the other test"
            };
            Diagnostic::warning(code, second, message, here).with_label(first, "the other test")
        }
        _ => Diagnostic::warning(code, span, message, label),
    }
    .with_help(help)
}

/// The first two operands of a conjunction that cannot hold together: where to point. (For an
/// always-true disjunction, called on its negation: two disjuncts that leave nothing out.)
fn conflict(f: &F, budget: &mut Budget) -> Option<(ir::ExprId, ir::ExprId)> {
    let F::And(xs, _) = f else { return None };
    for (i, a) in xs.iter().enumerate() {
        for b in &xs[i + 1..] {
            if disjoint(a, b, budget) {
                return Some((a.node()?, b.node()?));
            }
        }
    }
    None
}

// ---- W0305: one condition implies another's ----------------------------------------------

/// A rule taking part in implication: its event types (sorted), its condition's formula and
/// the subjects that formula tests (sorted).
type Usable = (Vec<String>, F, Vec<u32>);

fn implications(
    program: &ir::Program,
    rules: &[RuleFacts],
    duplicate: &[bool],
    span_of: &dyn Fn(usize, Option<ir::ExprId>) -> Span,
    out: &mut Vec<Diagnostic>,
) {
    // The rules taking part: single-event rules with a condition that is neither constant nor
    // decided, each once.
    let mut formulas: Vec<Option<Usable>> = Vec::with_capacity(rules.len());
    for (i, (rule, facts)) in program.rules.iter().zip(rules).enumerate() {
        let usable = (|| {
            if duplicate[i] {
                return None;
            }
            let (events, root) = facts.single.as_ref()?;
            let f = Builder {
                rule,
                ids: &facts.ids,
                program,
            }
            .build(*root);
            if matches!(f, F::Const(_))
                || unsat(&f, &mut Budget(SELF_BUDGET))
                || unsat(&f.negate(), &mut Budget(SELF_BUDGET))
            {
                return None;
            }
            let mut subjects = Vec::new();
            f.subjects(&mut subjects);
            subjects.sort_unstable();
            subjects.dedup();
            Some((events.clone(), f, subjects))
        })();
        formulas.push(usable);
    }
    // (event type, subject) → the rules testing that subject on that event type; and
    // (event type, subject, trigram) → the rules with a positive string test of that subject
    // whose (folded) literal holds the trigram.
    let mut postings: HashMap<(&str, u32), Vec<usize>> = HashMap::new();
    let mut trigrams: HashMap<(&str, u32, [u8; 3]), Vec<usize>> = HashMap::new();
    for (i, f) in formulas.iter().enumerate() {
        let Some((events, form, subjects)) = f else {
            continue;
        };
        let mut tris: HashSet<(u32, [u8; 3])> = HashSet::new();
        form.for_each_lit(&mut |l| {
            if let (true, Atom::Str { subj, pat, .. }) = (l.pos, &l.atom) {
                for w in fold_str(pat).as_bytes().windows(3) {
                    tris.insert((*subj, [w[0], w[1], w[2]]));
                }
            }
        });
        for e in events {
            for s in subjects {
                postings.entry((e.as_str(), *s)).or_default().push(i);
            }
            for (s, t) in &tris {
                trigrams.entry((e.as_str(), *s, *t)).or_default().push(i);
            }
        }
    }
    let mut subsumed_by: Vec<Vec<usize>> = vec![Vec::new(); rules.len()];
    let mut equivalent: Vec<(usize, usize)> = Vec::new();
    for (b, fb) in formulas.iter().enumerate() {
        let Some((events_b, form_b, _)) = fb else {
            continue;
        };
        // What any rule implying `b` must test: per conjunct, one of its subjects.
        let conjuncts: Vec<&F> = match form_b {
            F::And(xs, _) => xs.iter().collect(),
            other => vec![other],
        };
        let needs: Vec<Vec<u32>> = conjuncts
            .iter()
            .map(|c| {
                let mut s = Vec::new();
                c.subjects(&mut s);
                s.sort_unstable();
                s.dedup();
                s
            })
            .collect();
        // Where to look for the rules implying one conjunct: a rule implies a positive string
        // test `x OP p` only through a positive test of `x` whose literal holds `p` (folded),
        // so through one holding `p`'s rarest trigram; other conjuncts, through their subjects.
        let lookups = |c: &F, need: &[u32]| -> Vec<&[usize]> {
            let items: Vec<&F> = match c {
                F::Or(xs, _) => xs.iter().collect(),
                other => vec![other],
            };
            let mut by_tri = Vec::new();
            for item in &items {
                let F::Lit(Lit {
                    atom: Atom::Str { subj, pat, .. },
                    pos: true,
                    ..
                }) = item
                else {
                    by_tri.clear();
                    break;
                };
                let folded = fold_str(pat);
                let best = folded
                    .as_bytes()
                    .windows(3)
                    .map(|w| {
                        events_b
                            .iter()
                            .map(|e| {
                                trigrams
                                    .get(&(e.as_str(), *subj, [w[0], w[1], w[2]]))
                                    .map_or(&[][..], Vec::as_slice)
                            })
                            .collect::<Vec<&[usize]>>()
                    })
                    .min_by_key(|lists| lists.iter().map(|l| l.len()).sum::<usize>());
                let Some(lists) = best else {
                    by_tri.clear();
                    break;
                };
                by_tri.extend(lists);
            }
            if !by_tri.is_empty() || items.is_empty() {
                return by_tri;
            }
            events_b
                .iter()
                .flat_map(|e| need.iter().map(move |s| (e.as_str(), *s)))
                .filter_map(|k| postings.get(&k).map(Vec::as_slice))
                .collect()
        };
        let Some((anchor_conjunct, anchor)) = conjuncts
            .iter()
            .zip(&needs)
            .map(|(c, need)| (*c, lookups(c, need)))
            .min_by_key(|(_, lists)| lists.iter().map(|l| l.len()).sum::<usize>())
        else {
            continue;
        };
        let mut candidates: Vec<usize> = anchor
            .into_iter()
            .flatten()
            .copied()
            .filter(|&a| a != b)
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        for a in candidates {
            let Some((events_a, form_a, subjects_a)) = &formulas[a] else {
                continue;
            };
            if !events_a.iter().all(|e| events_b.contains(e))
                || program.rules[a].shadow != program.rules[b].shadow
            {
                continue;
            }
            let tests_all = needs
                .iter()
                .all(|req| req.iter().any(|s| subjects_a.binary_search(s).is_ok()));
            if !tests_all {
                continue;
            }
            let mut budget = Budget(PAIR_BUDGET);
            // The rarest conjunct first: most candidates fail there.
            if !implies(form_a, anchor_conjunct, &mut budget)
                || !implies(form_a, form_b, &mut budget)
            {
                continue;
            }
            if events_a == events_b && implies(form_b, form_a, &mut Budget(PAIR_BUDGET)) {
                if a < b {
                    equivalent.push((a, b));
                }
            } else {
                subsumed_by[a].push(b);
            }
        }
    }
    let name = |i: usize| program.rules[i].name.as_str();
    for (a, b) in equivalent {
        out.push(
            Diagnostic::warning(
                ErrorCode::DuplicateCondition,
                span_of(b, None),
                format!(
                    "rule `{}` fires on exactly the events rule `{}` fires on",
                    name(b),
                    name(a)
                ),
                format!("equivalent to `{}`", name(a)),
            )
            .with_label(span_of(a, None), format!("`{}` is declared here", name(a)))
            .with_note("their conditions are written differently but each implies the other")
            .with_help(format!(
                "remove one of them, or merge `{}`'s meta into `{}`",
                name(b),
                name(a)
            )),
        );
    }
    for (a, by) in subsumed_by.iter().enumerate() {
        let Some(&b) = by.first() else { continue };
        let mut d = Diagnostic::warning(
            ErrorCode::SubsumedRule,
            span_of(a, None),
            format!(
                "rule `{}` is subsumed by rule `{}`: every event `{}` fires on, `{}` fires on too",
                name(a),
                name(b),
                name(a),
                name(b)
            ),
            "subsumed",
        )
        .with_label(
            span_of(b, None),
            format!("fires on every event `{}` fires on", name(a)),
        )
        .with_help(format!(
            "remove `{}`, or narrow `{}` (`and not ...`) if both are meant to alert",
            name(a),
            name(b)
        ));
        if by.len() > 1 {
            let others: Vec<String> = by[1..]
                .iter()
                .take(MAX_NAMED)
                .map(|&o| format!("`{}`", name(o)))
                .collect();
            let more = by.len() - 1 - others.len();
            d = d.with_note(format!(
                "also subsumed by {}{}",
                others.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ));
        }
        out.push(d);
    }
}

/// Builds the formula of a condition.
struct Builder<'a> {
    rule: &'a ir::Rule,
    ids: &'a [u32],
    program: &'a ir::Program,
}

impl Builder<'_> {
    fn build(&self, root: ir::ExprId) -> F {
        self.go(root, false, 0)
    }

    fn opaque(&self, id: ir::ExprId, pos: bool) -> F {
        let c = self.ids.get(id.0 as usize).copied().unwrap_or(u32::MAX);
        F::Lit(Lit {
            atom: Atom::Opaque(c),
            pos,
            node: Some(id),
        })
    }

    fn canon(&self, id: ir::ExprId) -> Option<u32> {
        self.ids.get(id.0 as usize).copied()
    }

    fn str_const(&self, id: ir::ExprId) -> Option<&str> {
        match self.rule.expr(id)?.kind {
            ExprKind::Str(s) => self.program.strings.get(s.0 as usize).map(String::as_str),
            _ => None,
        }
    }

    fn int_const(&self, id: ir::ExprId) -> Option<i64> {
        match self.rule.expr(id)?.kind {
            ExprKind::Int(v) => Some(v),
            _ => None,
        }
    }

    /// Whether `id` is a value read from the event (not a constant).
    fn is_subject(&self, id: ir::ExprId, ty: Ty) -> bool {
        self.rule.expr(id).is_some_and(|e| {
            e.ty == ty
                && !matches!(
                    e.kind,
                    ExprKind::Bool(_)
                        | ExprKind::Int(_)
                        | ExprKind::Str(_)
                        | ExprKind::Ip(_)
                        | ExprKind::List(_)
                )
        })
    }

    fn str_lit(
        &self,
        subj: u32,
        fold: bool,
        op: StrTest,
        pat: &str,
        pos: bool,
        node: ir::ExprId,
    ) -> F {
        // `contains ""`, `startswith ""` and `endswith ""` hold for every string.
        if op != StrTest::Eq && pat.is_empty() {
            return F::Const(pos);
        }
        let pat = if fold {
            fold_str(pat).into_owned()
        } else {
            pat.to_owned()
        };
        F::Lit(Lit {
            atom: Atom::Str {
                subj,
                folded: fold,
                op,
                pat,
            },
            pos,
            node: Some(node),
        })
    }

    /// The formula of node `id`, negated when `neg`.
    fn go(&self, id: ir::ExprId, neg: bool, depth: u32) -> F {
        let Some(e) = self.rule.expr(id) else {
            return self.opaque(id, !neg);
        };
        if depth > MAX_FORMULA_DEPTH {
            return self.opaque(id, !neg);
        }
        let node = Some(id);
        match &e.kind {
            ExprKind::Bool(b) => F::Const(*b != neg),
            ExprKind::Not(a) => self.go(*a, !neg, depth + 1),
            ExprKind::And(xs) | ExprKind::Or(xs) => {
                let parts = xs.iter().map(|x| self.go(*x, neg, depth + 1)).collect();
                if matches!(e.kind, ExprKind::And(_)) != neg {
                    F::and(parts, node)
                } else {
                    F::or(parts, node)
                }
            }
            ExprKind::StrTest { op, fold, lhs, rhs } => {
                match (self.canon(*lhs), self.str_const(*rhs)) {
                    (Some(subj), Some(pat)) if self.is_subject(*lhs, Ty::STR) => {
                        self.str_lit(subj, *fold, *op, pat, !neg, id)
                    }
                    _ => self.opaque(id, !neg),
                }
            }
            ExprKind::Cmp(op, a, b) => self.cmp(id, *op, *a, *b, neg),
            ExprKind::StrList {
                op,
                fold,
                quant,
                lhs,
                list,
            } => {
                let items = self.program.lists.get(list.0 as usize).filter(|l| {
                    l.elem == Scalar::Str
                        && !l.items.is_empty()
                        && l.items.len() <= MAX_EXPANDED_ITEMS
                });
                match (items, self.canon(*lhs)) {
                    (Some(l), Some(subj)) if self.is_subject(*lhs, Ty::STR) => {
                        let parts = l
                            .items
                            .iter()
                            .filter_map(|c| match c {
                                Const::Str(s) => Some(self.str_lit(subj, *fold, *op, s, !neg, id)),
                                _ => None,
                            })
                            .collect();
                        // `any` is an `or` of the items' tests, `all` an `and`; negation swaps.
                        if (*quant == Quant::All) != neg {
                            F::and(parts, node)
                        } else {
                            F::or(parts, node)
                        }
                    }
                    _ => self.opaque(id, !neg),
                }
            }
            ExprKind::Member { lhs, list, .. } => {
                let ints = self.rule.expr(*list).and_then(|l| match l.kind {
                    ExprKind::List(l) => self.program.lists.get(l.0 as usize),
                    _ => None,
                });
                match (ints, self.canon(*lhs)) {
                    (Some(l), Some(subj))
                        if l.elem == Scalar::Int
                            && !l.items.is_empty()
                            && l.items.len() <= MAX_EXPANDED_ITEMS
                            && self.is_subject(*lhs, Ty::INT) =>
                    {
                        let parts: Vec<F> = l
                            .items
                            .iter()
                            .filter_map(|c| match c {
                                Const::Int(v) => Some(range(subj, *v, *v, node)),
                                _ => None,
                            })
                            .collect();
                        let f = F::or(parts, node);
                        if neg {
                            f.negate()
                        } else {
                            f
                        }
                    }
                    _ => self.opaque(id, !neg),
                }
            }
            _ => self.opaque(id, !neg),
        }
    }

    /// A comparison: a string equality or an int range when one side is a constant.
    fn cmp(&self, id: ir::ExprId, op: CmpOp, a: ir::ExprId, b: ir::ExprId, neg: bool) -> F {
        let node = Some(id);
        // String equality with a literal, on either side.
        if matches!(op, CmpOp::Eq | CmpOp::Ne) {
            for (subj, lit) in [(a, b), (b, a)] {
                if let (Some(s), Some(pat)) = (self.canon(subj), self.str_const(lit)) {
                    if self.is_subject(subj, Ty::STR) {
                        let pos = (op == CmpOp::Eq) != neg;
                        return self.str_lit(s, false, StrTest::Eq, pat, pos, id);
                    }
                }
            }
        }
        // Int comparison with a literal, written either way round.
        let (subj, c, op) = match (self.int_const(a), self.int_const(b)) {
            (None, Some(c)) if self.is_subject(a, Ty::INT) => (a, c, op),
            (Some(c), None) if self.is_subject(b, Ty::INT) => (b, c, flip(op)),
            _ => return self.opaque(id, !neg),
        };
        let Some(s) = self.canon(subj) else {
            return self.opaque(id, !neg);
        };
        let f = match op {
            CmpOp::Eq => range(s, c, c, node),
            CmpOp::Ne => complement(s, c, c, node),
            CmpOp::Lt => c
                .checked_sub(1)
                .map_or(F::Const(false), |h| range(s, i64::MIN, h, node)),
            CmpOp::Le => range(s, i64::MIN, c, node),
            CmpOp::Gt => c
                .checked_add(1)
                .map_or(F::Const(false), |l| range(s, l, i64::MAX, node)),
            CmpOp::Ge => range(s, c, i64::MAX, node),
        };
        if neg {
            f.negate()
        } else {
            f
        }
    }
}

/// `c op x` as `x op' c`.
fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use vigil_runtime::budget::Budget as CostBudget;
    use vigil_runtime::ops::str_test;
    use vigil_runtime::schema::Schema;

    use super::*;
    use crate::compile::compile;
    use crate::{Options, Sources};

    /// The overlap warnings of `text` (checked against the endpoint schema).
    fn warnings(text: &str) -> Vec<Diagnostic> {
        let mut sources = Sources::with_stdlib();
        sources.add("t.vgl", text);
        let compiled = compile(
            &sources,
            &Schema::endpoint(),
            &Options::default(),
            &CostBudget::default(),
        )
        .unwrap_or_else(|d| panic!("{d:?}"));
        compiled
            .warnings
            .into_iter()
            .filter(|d| d.code.number() >= 304)
            .collect()
    }

    fn codes(text: &str) -> Vec<&'static str> {
        warnings(text).iter().map(|d| d.code.as_str()).collect()
    }

    /// Two rules on `process_start`: `a` when `ca`, `b` when `cb`.
    fn pair(ca: &str, cb: &str) -> String {
        format!(
            "rule a {{ on process_start when {ca} }}\nrule b {{ on process_start when {cb} }}\n"
        )
    }

    #[test]
    fn implication_table() {
        // (a's condition, b's condition, whether `a` is reported subsumed by `b`)
        let cases = [
            (r#"image == "x.exe""#, r#"image endswith "exe""#, true),
            (r#"image == "x.exe""#, r#"image iendswith "EXE""#, true),
            (r#"image == "x.exe""#, r#"image startswith "exe""#, false),
            (r#"image ieq "X.exe""#, r#"image == "x.exe""#, false),
            (r#"image ieq "X.exe""#, r#"image icontains ".EX""#, true),
            (
                r#"image iendswith ".exe""#,
                r#"image endswith ".exe""#,
                false,
            ),
            (r#"image startswith "ab""#, r#"image contains "b""#, true),
            (r#"image contains "ab""#, r#"image startswith "a""#, false),
            (
                r#"image in ["a", "b"]"#,
                r#"image in ["a", "b", "c"]"#,
                true,
            ),
            (
                r#"image in ["a", "b", "c"]"#,
                r#"image in ["a", "b"]"#,
                false,
            ),
            (r#"pid > 5"#, r#"pid > 3"#, true),
            (r#"pid > 3"#, r#"pid > 5"#, false),
            (r#"pid in [4, 6]"#, r#"pid >= 4"#, true),
            (r#"pid in [4, 6]"#, r#"pid != 5"#, true),
            (r#"pid in [4, 5]"#, r#"pid != 5"#, false),
            (r#"image == "a" and user == "u""#, r#"image == "a""#, true),
            (r#"image == "a""#, r#"image == "a" and user == "u""#, false),
            (
                r#"image endswith "\\wermgr.exe""#,
                r#"not (image endswith "\\sndvol.exe" and user == "x")"#,
                true,
            ),
            (r#"image == "a" or image == "b""#, r#"image != "c""#, true),
            (r#"image == "a" or user == "b""#, r#"image == "a""#, false),
            (
                r#"basename(image) == "a""#,
                r#"basename(image) contains "a""#,
                true,
            ),
            (r#"basename(image) == "a""#, r#"image contains "a""#, false),
        ];
        for (ca, cb, want) in cases {
            let got = warnings(&pair(ca, cb));
            let subsumed = got.iter().any(|d| {
                d.code == ErrorCode::SubsumedRule && d.message.starts_with("rule `a` is subsumed")
            });
            assert_eq!(subsumed, want, "`{ca}` => `{cb}`: {got:#?}");
        }
    }

    #[test]
    fn same_condition_in_another_order_is_one_warning() {
        let text = pair(
            r#"image == "a" and user == "u""#,
            r#"user == "u" and image == "a""#,
        );
        assert_eq!(codes(&text), vec!["W0304"]);
        // Another event type is another rule.
        let text = "rule a { on process_start when host == \"u\" }\n\
                    rule b { on logon_success when host == \"u\" }\n";
        assert_eq!(codes(text), Vec::<&str>::new());
        // Equivalent but written differently.
        let text = pair(r#"pid in [1, 2]"#, r#"pid == 2 or pid == 1"#);
        assert_eq!(codes(&text), vec!["W0304"]);
    }

    #[test]
    fn deny_warnings_withholds_the_program_on_an_overlap() {
        let mut sources = Sources::with_stdlib();
        sources.add("t.vgl", pair(r#"image == "a""#, r#"image == "a""#));
        let opts = Options {
            deny_warnings: true,
        };
        let result = compile(&sources, &Schema::endpoint(), &opts, &CostBudget::default());
        let Err(diags) = result else {
            panic!("an overlap under --deny-warnings must fail the compile");
        };
        let codes: Vec<&str> = diags.iter().map(|d| d.code.as_str()).collect();
        assert_eq!(codes, vec!["W0304"]);
    }

    #[test]
    fn contradictions_and_tautologies() {
        let one = |c: &str| codes(&format!("rule r {{ on process_start when {c} }}"));
        assert_eq!(one(r#"image == "a" and image == "b""#), vec!["W0306"]);
        assert_eq!(one(r#"pid > 5 and pid < 3"#), vec!["W0306"]);
        assert_eq!(
            one(r#"image startswith "ab" and image startswith "ac""#),
            vec!["W0306"]
        );
        assert_eq!(one(r#"pid > 5 or pid <= 5"#), vec!["W0307"]);
        assert_eq!(one(r#"image contains "" "#), vec!["W0307"]);
        // Satisfiable: no warning.
        assert!(one(r#"image startswith "ab" and image startswith "a""#).is_empty());
        assert!(one(r#"image ieq "A" and image == "a""#).is_empty());
        assert!(one(r#"pid > 5 and pid < 7"#).is_empty());
        assert!(one(r#"image startswith "a" and image endswith "b""#).is_empty());
    }

    // ---- soundness, against the runtime's own string tests -------------------------------

    /// The value of `f` for a string subject `s` and an int subject `n` (every subject is
    /// one of these two here).
    fn eval(f: &F, s: &str, n: i64) -> bool {
        match f {
            F::Const(b) => *b,
            F::And(xs, _) => xs.iter().all(|x| eval(x, s, n)),
            F::Or(xs, _) => xs.iter().any(|x| eval(x, s, n)),
            F::Lit(l) => {
                let v = match &l.atom {
                    Atom::Str {
                        folded, op, pat, ..
                    } => {
                        if *folded {
                            str_test(*op, &fold_str(s), pat)
                        } else {
                            str_test(*op, s, pat)
                        }
                    }
                    Atom::Int { lo, hi, .. } => *lo <= n && n <= *hi,
                    Atom::Opaque(_) => unreachable!("no opaque tests generated"),
                };
                v == l.pos
            }
        }
    }

    fn arb_lit() -> impl Strategy<Value = F> {
        let pat = proptest::string::string_regex("[aAbK]{0,3}").expect("regex");
        let ops = prop_oneof![
            Just(StrTest::Eq),
            Just(StrTest::Contains),
            Just(StrTest::StartsWith),
            Just(StrTest::EndsWith)
        ];
        prop_oneof![
            (ops, any::<bool>(), pat, any::<bool>()).prop_map(|(op, folded, p, pos)| {
                let pat = if folded { fold_str(&p).into_owned() } else { p };
                F::Lit(Lit {
                    atom: Atom::Str {
                        subj: 0,
                        folded,
                        op,
                        pat,
                    },
                    pos,
                    node: None,
                })
            }),
            (-3i64..3, -3i64..3).prop_map(|(a, b)| range(1, a.min(b), a.max(b), None)),
        ]
    }

    fn arb_formula() -> impl Strategy<Value = F> {
        arb_lit().prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 1..4).prop_map(|v| F::and(v, None)),
                proptest::collection::vec(inner.clone(), 1..4).prop_map(|v| F::or(v, None)),
                inner.prop_map(|f| f.negate()),
            ]
        })
    }

    fn samples() -> Vec<(String, i64)> {
        let strs = [
            "", "a", "A", "b", "ab", "Ab", "ba", "aa", "K", "\u{212A}", "k", "aab", "bAa",
        ];
        let mut out = Vec::new();
        for s in strs {
            for n in [i64::MIN, -4, -3, -2, -1, 0, 1, 2, 3, i64::MAX] {
                out.push((s.to_owned(), n));
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn decisions_are_sound(a in arb_formula(), b in arb_formula()) {
            let values = samples();
            if implies(&a, &b, &mut Budget(PAIR_BUDGET)) {
                for (s, n) in &values {
                    prop_assert!(!eval(&a, s, *n) || eval(&b, s, *n), "{a:?} => {b:?} at {s:?} {n}");
                }
            }
            if disjoint(&a, &b, &mut Budget(PAIR_BUDGET)) {
                for (s, n) in &values {
                    prop_assert!(!(eval(&a, s, *n) && eval(&b, s, *n)), "{a:?} # {b:?} at {s:?} {n}");
                }
            }
            if unsat(&a, &mut Budget(SELF_BUDGET)) {
                for (s, n) in &values {
                    prop_assert!(!eval(&a, s, *n), "{a:?} unsat, true at {s:?} {n}");
                }
            }
            for (s, n) in &values {
                prop_assert_eq!(eval(&a.negate(), s, *n), !eval(&a, s, *n));
            }
        }
    }
}
