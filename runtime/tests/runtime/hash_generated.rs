//! The canonical hash over generated programs (moved here from `runtime/src/hash.rs`'s unit
//! tests when the generator moved to `vigil-test-support`): interning order and unused
//! constants do not change a program's hash; values do.

use vigil_runtime::hash::{program_hash, rule_hash, to_hex};
use vigil_runtime::ir::{
    CallId, Counting, ExprKind, FieldRef, ListId, Program, RegexId, RuleKind, StrId,
};
use vigil_test_support::testgen::{endpoint_schema as endpoint, program_from_seed};

/// Reverses every table of a program and renumbers the references: same program, other
/// interning order.
fn reintern(program: &Program) -> Program {
    let mut p = program.clone();
    let flip = |i: u32, n: usize| u32::try_from(n).expect("small") - 1 - i;
    let (ns, nl, nr, nf, nb) = (
        p.strings.len(),
        p.lists.len(),
        p.regexes.len(),
        p.fields.len(),
        p.builtins.len(),
    );
    p.strings.reverse();
    p.lists.reverse();
    p.regexes.reverse();
    p.fields.reverse();
    p.builtins.reverse();
    let field = |f: FieldRef| FieldRef(flip(f.0, nf));
    for rule in &mut p.rules {
        for expr in &mut rule.exprs {
            match &mut expr.kind {
                ExprKind::Str(s) => *s = StrId(flip(s.0, ns)),
                ExprKind::List(l) | ExprKind::StrList { list: l, .. } => *l = ListId(flip(l.0, nl)),
                ExprKind::Matches { regex, .. } => *regex = RegexId(flip(regex.0, nr)),
                ExprKind::Field(f) | ExprKind::Exists(f) | ExprKind::Truncated(f) => *f = field(*f),
                ExprKind::Call { builtin, .. } => {
                    let n = u16::try_from(nb).expect("small");
                    *builtin = CallId(n - 1 - builtin.0);
                }
                _ => {}
            }
        }
        match &mut rule.kind {
            RuleKind::Single { .. } => {}
            RuleKind::Sequence(seq) | RuleKind::SequenceAnyOrder(seq) => {
                seq.steps
                    .iter_mut()
                    .flat_map(|s| s.key.iter_mut())
                    .for_each(|k| *k = field(*k));
                seq.captures
                    .iter_mut()
                    .for_each(|c| c.field = field(c.field));
            }
            RuleKind::Threshold(t) => {
                t.key.iter_mut().flatten().for_each(|k| *k = field(*k));
                if let Counting::Distinct(f) | Counting::Sum(f) | Counting::Avg(f) = &mut t.counting
                {
                    *f = field(*f);
                }
            }
        }
    }
    p
}

#[test]
fn interning_order_does_not_change_the_hash() {
    for seed in 0..50 {
        let p = program_from_seed(seed, endpoint());
        let q = reintern(&p);
        if p.strings.len() > 1 || p.fields.len() > 1 {
            assert_ne!(p, q, "seed {seed}: the reinterned program differs as data");
        }
        assert_eq!(program_hash(&p), program_hash(&q), "seed {seed}");
        for (a, b) in p.rules.iter().zip(&q.rules) {
            assert_eq!(rule_hash(&p, a), rule_hash(&q, b));
        }
    }
}

#[test]
fn unused_constants_do_not_change_the_hash_and_values_do() {
    let p = program_from_seed(7, endpoint());
    let mut q = p.clone();
    q.strings.push("unused".to_string());
    q.regexes.push("unused".to_string());
    assert_eq!(program_hash(&p), program_hash(&q));

    let mut r = p.clone();
    let changed = r
        .rules
        .iter_mut()
        .flat_map(|rule| rule.exprs.iter_mut())
        .any(|e| {
            if let ExprKind::Int(i) = &mut e.kind {
                *i = i.wrapping_add(1);
                true
            } else {
                false
            }
        });
    if changed {
        assert_ne!(program_hash(&p), program_hash(&r));
    }
    let mut s = p.clone();
    s.rules[0].title.push('!');
    assert_ne!(program_hash(&p), program_hash(&s));
    assert_ne!(rule_hash(&p, &p.rules[0]), rule_hash(&s, &s.rules[0]));
    let mut t = p.clone();
    if let Some(e) = t.rules[0].exprs.first_mut() {
        e.kind = ExprKind::Local(vigil_runtime::ir::LocalId(3));
        assert_ne!(program_hash(&p), program_hash(&t));
    }
    assert_eq!(to_hex(&[0x01, 0xab]), "01ab");
}
