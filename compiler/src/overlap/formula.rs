//! The logic of the overlap warnings: conditions as formulas in negation normal form over
//! literals (string tests of a literal, int ranges, opaque nodes), and the decisions on them
//! (implication, disjointness, unsatisfiability) under a step budget.
//!
//! Input: formulas built by the parent module from a rule's IR; output: `true` only when the
//! answer is proven. Every decision answers `false` when unsure or out of steps, so a warning
//! built on these answers is sound. String tests are decided with the runtime's own
//! [`str_test`] and case folding, so "implies" means what the engine does.

use vigil_runtime::casefold::fold_str;
use vigil_runtime::ir::{self, StrTest};
use vigil_runtime::ops::str_test;

/// A condition in negation normal form. `and`/`or` are flattened and never hold constants.
#[derive(Clone, Debug)]
pub(super) enum F {
    Const(bool),
    And(Vec<F>, Option<ir::ExprId>),
    Or(Vec<F>, Option<ir::ExprId>),
    Lit(Lit),
}

/// A test, or its negation (`pos == false`).
#[derive(Clone, Debug)]
pub(super) struct Lit {
    pub(super) atom: Atom,
    pub(super) pos: bool,
    /// The IR node it came from (for spans).
    pub(super) node: Option<ir::ExprId>,
}

/// What a literal tests. `subj` is the canonical id of the value tested.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Atom {
    /// `subj OP pat`; when `folded`, both sides are case folded and `pat` is stored folded.
    Str {
        subj: u32,
        folded: bool,
        op: StrTest,
        pat: String,
    },
    /// `lo <= subj <= hi` on an int (always positive: negation is the complement).
    Int { subj: u32, lo: i64, hi: i64 },
    /// Any other node, by canonical id.
    Opaque(u32),
}

impl Atom {
    pub(super) fn subject(&self) -> u32 {
        match self {
            Atom::Str { subj, .. } | Atom::Int { subj, .. } | Atom::Opaque(subj) => *subj,
        }
    }
}

impl F {
    pub(super) fn and(xs: Vec<F>, node: Option<ir::ExprId>) -> F {
        F::join(true, xs, node)
    }

    pub(super) fn or(xs: Vec<F>, node: Option<ir::ExprId>) -> F {
        F::join(false, xs, node)
    }

    /// `and` (`is_and`) or `or` of `xs`, flattened, constants dropped or deciding.
    pub(super) fn join(is_and: bool, xs: Vec<F>, node: Option<ir::ExprId>) -> F {
        let mut out = Vec::with_capacity(xs.len());
        for x in xs {
            match x {
                F::Const(b) if b == is_and => {}
                F::Const(b) => return F::Const(b),
                F::And(inner, _) if is_and => out.extend(inner),
                F::Or(inner, _) if !is_and => out.extend(inner),
                other => out.push(other),
            }
        }
        match out.len() {
            0 => F::Const(is_and),
            1 => out.pop().unwrap_or(F::Const(is_and)),
            _ if is_and => F::And(out, node),
            _ => F::Or(out, node),
        }
    }

    pub(super) fn node(&self) -> Option<ir::ExprId> {
        match self {
            F::Const(_) => None,
            F::And(_, n) | F::Or(_, n) => *n,
            F::Lit(l) => l.node,
        }
    }

    /// The formula of `not self`.
    pub(super) fn negate(&self) -> F {
        match self {
            F::Const(b) => F::Const(!b),
            F::And(xs, n) => F::or(xs.iter().map(F::negate).collect(), *n),
            F::Or(xs, n) => F::and(xs.iter().map(F::negate).collect(), *n),
            F::Lit(l) => match &l.atom {
                Atom::Int { subj, lo, hi } => complement(*subj, *lo, *hi, l.node),
                _ => F::Lit(Lit {
                    atom: l.atom.clone(),
                    pos: !l.pos,
                    node: l.node,
                }),
            },
        }
    }

    /// Calls `f` on every literal.
    pub(super) fn for_each_lit(&self, f: &mut dyn FnMut(&Lit)) {
        match self {
            F::Const(_) => {}
            F::And(xs, _) | F::Or(xs, _) => xs.iter().for_each(|x| x.for_each_lit(f)),
            F::Lit(l) => f(l),
        }
    }

    /// Every literal's subject.
    pub(super) fn subjects(&self, out: &mut Vec<u32>) {
        match self {
            F::Const(_) => {}
            F::And(xs, _) | F::Or(xs, _) => xs.iter().for_each(|x| x.subjects(out)),
            F::Lit(l) => out.push(l.atom.subject()),
        }
    }
}

/// An int range literal; empty and full ranges are constants.
pub(super) fn range(subj: u32, lo: i64, hi: i64, node: Option<ir::ExprId>) -> F {
    if lo > hi {
        F::Const(false)
    } else if lo == i64::MIN && hi == i64::MAX {
        F::Const(true)
    } else {
        F::Lit(Lit {
            atom: Atom::Int { subj, lo, hi },
            pos: true,
            node,
        })
    }
}

/// The values outside `lo..=hi`.
pub(super) fn complement(subj: u32, lo: i64, hi: i64, node: Option<ir::ExprId>) -> F {
    let below = lo
        .checked_sub(1)
        .map_or(F::Const(false), |h| range(subj, i64::MIN, h, node));
    let above = hi
        .checked_add(1)
        .map_or(F::Const(false), |l| range(subj, l, i64::MAX, node));
    F::or(vec![below, above], node)
}

/// Steps left; every decision answers `false` (unknown) once they run out, and no answer is
/// ever negated, so running out can only hide a warning, never invent one.
pub(super) struct Budget(pub(super) u32);

impl Budget {
    pub(super) fn take(&mut self) -> bool {
        if self.0 == 0 {
            false
        } else {
            self.0 -= 1;
            true
        }
    }
}

/// Whether every value satisfying `a` satisfies `b` (`false`: not shown).
pub(super) fn implies(a: &F, b: &F, budget: &mut Budget) -> bool {
    if !budget.take() {
        return false;
    }
    match (a, b) {
        (_, F::Const(true)) | (F::Const(false), _) => true,
        (F::Const(true), _) | (_, F::Const(false)) => false,
        (F::Or(xs, _), _) => xs.iter().all(|x| implies(x, b, budget)),
        (_, F::And(ys, _)) => ys.iter().all(|y| implies(a, y, budget)),
        (F::And(xs, _), F::Or(ys, _)) => {
            xs.iter().any(|x| implies(x, b, budget)) || ys.iter().any(|y| implies(a, y, budget))
        }
        (F::And(xs, _), F::Lit(_)) => xs.iter().any(|x| implies(x, b, budget)),
        (F::Lit(_), F::Or(ys, _)) => ys.iter().any(|y| implies(a, y, budget)),
        (F::Lit(x), F::Lit(y)) => lit_implies(x, y),
    }
}

/// Whether no value satisfies both `a` and `b` (`false`: not shown).
pub(super) fn disjoint(a: &F, b: &F, budget: &mut Budget) -> bool {
    if !budget.take() {
        return false;
    }
    match (a, b) {
        (F::Const(false), _) | (_, F::Const(false)) => true,
        (F::Const(true), _) | (_, F::Const(true)) => false,
        (F::Or(xs, _), _) => xs.iter().all(|x| disjoint(x, b, budget)),
        (_, F::Or(ys, _)) => ys.iter().all(|y| disjoint(a, y, budget)),
        (F::And(xs, _), _) => xs.iter().any(|x| disjoint(x, b, budget)),
        (_, F::And(ys, _)) => ys.iter().any(|y| disjoint(a, y, budget)),
        (F::Lit(x), F::Lit(y)) => lit_disjoint(x, y),
    }
}

/// Whether no value satisfies `f` (`false`: not shown).
pub(super) fn unsat(f: &F, budget: &mut Budget) -> bool {
    if !budget.take() {
        return false;
    }
    match f {
        F::Const(b) => !b,
        F::Lit(_) => false,
        F::Or(xs, _) => xs.iter().all(|x| unsat(x, budget)),
        F::And(xs, _) => {
            xs.iter().any(|x| unsat(x, budget))
                || xs.iter().enumerate().any(|(i, a)| {
                    xs[i + 1..].iter().any(|b| {
                        // Only literals of one subject, or compound operands, can conflict.
                        let same = match (a, b) {
                            (F::Lit(x), F::Lit(y)) => x.atom.subject() == y.atom.subject(),
                            _ => true,
                        };
                        same && disjoint(a, b, budget)
                    })
                })
        }
    }
}

fn lit_implies(a: &Lit, b: &Lit) -> bool {
    if a.atom.subject() != b.atom.subject() {
        return false;
    }
    match (&a.atom, &b.atom) {
        (Atom::Opaque(x), Atom::Opaque(y)) => x == y && a.pos == b.pos,
        (Atom::Int { lo, hi, .. }, Atom::Int { lo: l2, hi: h2, .. }) => l2 <= lo && hi <= h2,
        (Atom::Str { .. }, Atom::Str { .. }) => match (a.pos, b.pos) {
            (true, true) => str_implies(&a.atom, &b.atom),
            (true, false) => str_disjoint(&a.atom, &b.atom),
            (false, false) => str_implies(&b.atom, &a.atom),
            (false, true) => false,
        },
        _ => false,
    }
}

fn lit_disjoint(a: &Lit, b: &Lit) -> bool {
    if a.atom.subject() != b.atom.subject() {
        return false;
    }
    match (&a.atom, &b.atom) {
        (Atom::Opaque(x), Atom::Opaque(y)) => x == y && a.pos != b.pos,
        (Atom::Int { lo, hi, .. }, Atom::Int { lo: l2, hi: h2, .. }) => hi < l2 || h2 < lo,
        (Atom::Str { .. }, Atom::Str { .. }) => match (a.pos, b.pos) {
            (true, true) => str_disjoint(&a.atom, &b.atom),
            (true, false) => str_implies(&a.atom, &b.atom),
            (false, true) => str_implies(&b.atom, &a.atom),
            (false, false) => false,
        },
        _ => false,
    }
}

/// A string literal's parts: folded, op, pattern.
fn str_parts(a: &Atom) -> Option<(bool, StrTest, &str)> {
    match a {
        Atom::Str {
            folded, op, pat, ..
        } => Some((*folded, *op, pat.as_str())),
        _ => None,
    }
}

/// `x a.op a.pat` ⇒ `x b.op b.pat` for every string `x` (same subject).
fn str_implies(a: &Atom, b: &Atom) -> bool {
    let (Some((fa, oa, pa)), Some((fb, ob, pb))) = (str_parts(a), str_parts(b)) else {
        return false;
    };
    // `contains ""`, `startswith ""` and `endswith ""` hold for every string.
    if ob != StrTest::Eq && pb.is_empty() {
        return true;
    }
    // A case-sensitive test implies its folded form (simple folding maps character by
    // character, so it keeps equality, prefixes, suffixes and substrings); the converse fails.
    let pa = match (fa, fb) {
        (true, false) => return false,
        (false, true) => fold_str(pa),
        _ => std::borrow::Cow::Borrowed(pa),
    };
    let pa = pa.as_ref();
    match oa {
        // `x` is exactly `pa` (folded: `fold(x)` is): evaluate `b` on it, as the runtime does.
        StrTest::Eq => str_test(ob, pa, pb),
        StrTest::StartsWith => match ob {
            StrTest::StartsWith => pa.starts_with(pb),
            StrTest::Contains => pa.contains(pb),
            _ => false,
        },
        StrTest::EndsWith => match ob {
            StrTest::EndsWith => pa.ends_with(pb),
            StrTest::Contains => pa.contains(pb),
            _ => false,
        },
        StrTest::Contains => ob == StrTest::Contains && pa.contains(pb),
    }
}

/// No string `x` passes both tests (same subject).
fn str_disjoint(a: &Atom, b: &Atom) -> bool {
    let (Some((fa, oa, pa)), Some((fb, ob, pb))) = (str_parts(a), str_parts(b)) else {
        return false;
    };
    // Compare in one space: a case-sensitive test implies its folded form, so if the folded
    // forms cannot hold together, neither can the tests.
    let lift = |folded: bool, p: &str| {
        if (fa || fb) && !folded {
            fold_str(p).into_owned()
        } else {
            p.to_owned()
        }
    };
    let (pa, pb) = (lift(fa, pa), lift(fb, pb));
    match (oa, ob) {
        (StrTest::Eq, _) => !str_test(ob, &pa, &pb),
        (_, StrTest::Eq) => !str_test(oa, &pb, &pa),
        (StrTest::StartsWith, StrTest::StartsWith) => !pa.starts_with(&pb) && !pb.starts_with(&pa),
        (StrTest::EndsWith, StrTest::EndsWith) => !pa.ends_with(&pb) && !pb.ends_with(&pa),
        _ => false,
    }
}
