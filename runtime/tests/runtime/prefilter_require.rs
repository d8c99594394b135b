//! The prefilter's requirement analysis, case by case: what a rule's condition requires of the
//! literals the prefilter scans for (`vigil_runtime::prefilter::require`).

use vigil_runtime::ir::{ExprId, ExprKind, Quant, RuleId, StrTest};
use vigil_runtime::prefilter::{Prefilter, Req, AT_ANY, AT_END, AT_START, WHOLE};
use vigil_runtime::schema::{EventTypeId, FieldIndex};
use vigil_runtime::types::{Scalar, Ty};
use vigil_runtime::verify::Verified;
use vigil_test_support::builder::{field, str_const, Prog, Rb};

fn test(p: &mut Prog, rb: &mut Rb, name: &str, op: StrTest, fold: bool, pat: &str) -> ExprId {
    let lhs = field(p, rb, "ev", name);
    let rhs = str_const(p, rb, pat);
    rb.e(Ty::BOOL, ExprKind::StrTest { op, fold, lhs, rhs })
}

/// One rule on `ev` built by `build`; its requirement and the prefilter.
fn req_of(build: impl FnOnce(&mut Prog, &mut Rb) -> ExprId) -> (Option<Req>, Prefilter, Verified) {
    let mut p = Prog::with_schema(vigil_test_support::testgen::dense::schema());
    p.rule("r", &["ev"], |p, rb| Some(build(p, rb)));
    let verified = p.verify();
    let pf = Prefilter::new(verified.program(), verified.binding());
    let ty = ev(&verified);
    (pf.requirement(ty, RuleId(0)).cloned(), pf, verified)
}

fn ev(v: &Verified) -> EventTypeId {
    v.binding().rule_events(RuleId(0))[0]
}

fn s1(v: &Verified) -> FieldIndex {
    let f = v
        .program()
        .fields
        .iter()
        .position(|f| f.field == "s1")
        .expect("s1 is read");
    v.binding()
        .field(vigil_runtime::ir::FieldRef(f as u32))
        .expect("bound")
        .index
}

#[test]
fn and_of_or_requires_both_sides() {
    let (req, pf, v) = req_of(|p, rb| {
        let a = test(p, rb, "s1", StrTest::Contains, false, "aa");
        let b = test(p, rb, "s1", StrTest::StartsWith, false, "bb");
        let c = test(p, rb, "s2", StrTest::EndsWith, true, "CC");
        let or = rb.e(Ty::BOOL, ExprKind::Or(vec![b, c]));
        rb.e(Ty::BOOL, ExprKind::And(vec![a, or]))
    });
    let ty = ev(&v);
    let lit = |f: &str, fold, pat, at| {
        let fi = v.binding().field_on(
            vigil_runtime::ir::FieldRef(
                v.program()
                    .fields
                    .iter()
                    .position(|x| x.field == f)
                    .expect("read") as u32,
            ),
            ty,
        );
        pf.literal(ty, fi.expect("bound").index, fold, pat, at)
    };
    let a = lit("s1", false, "aa", AT_ANY).expect("scanned");
    let b = lit("s1", false, "bb", AT_START).expect("scanned");
    // Folded literals are looked up (and scanned for) folded.
    let c = lit("s2", true, "cc", AT_END).expect("scanned");
    assert_eq!(lit("s2", true, "CC", AT_END), Some(c));
    // Where no test wants a literal, its bits answer nothing: `bb` is looked for at the start
    // only, `cc` at the end only.
    assert_eq!(lit("s1", false, "bb", AT_ANY), None);
    assert_eq!(lit("s2", true, "cc", AT_START), None);
    assert_eq!(lit("s2", true, "cc", WHOLE), Some(c));
    assert_eq!(
        req,
        Some(Req::And(vec![
            Req::Lit { lit: a, at: AT_ANY },
            Req::Or(vec![
                Req::Lit {
                    lit: b,
                    at: AT_START
                },
                Req::Lit { lit: c, at: AT_END }
            ])
        ]))
    );
    assert_eq!(pf.automaton_count(ty), 2, "one scan per field: s1 and s2");
}

#[test]
fn not_and_non_literal_tests_require_nothing() {
    let (req, ..) = req_of(|p, rb| {
        let a = test(p, rb, "s1", StrTest::Contains, false, "aa");
        rb.e(Ty::BOOL, ExprKind::Not(a))
    });
    assert_eq!(req, None);
    // A non-literal conjunct is dropped, the literal one kept.
    let (req, _, v) = req_of(|p, rb| {
        let b = field(p, rb, "ev", "b1");
        let a = test(p, rb, "s1", StrTest::Eq, false, "aa");
        rb.e(Ty::BOOL, ExprKind::And(vec![b, a]))
    });
    assert!(matches!(req, Some(Req::Lit { at: WHOLE, .. })), "{req:?}");
    let _ = s1(&v);
    // A non-literal disjunct makes the `or` requirement-free.
    let (req, ..) = req_of(|p, rb| {
        let b = field(p, rb, "ev", "b1");
        let a = test(p, rb, "s1", StrTest::Eq, false, "aa");
        rb.e(Ty::BOOL, ExprKind::Or(vec![b, a]))
    });
    assert_eq!(req, None);
}

#[test]
fn empty_patterns_require_nothing() {
    // `s1 endswith ""` holds on an absent field (absent reads as "").
    let (req, ..) = req_of(|p, rb| test(p, rb, "s1", StrTest::EndsWith, false, ""));
    assert_eq!(req, None);
    // `any` with an empty item: none; `all`: the empty item is dropped.
    let list_test = |quant| {
        req_of(move |p, rb| {
            let lhs = field(p, rb, "ev", "s1");
            let list = p.str_list(&["ab", ""]);
            rb.e(
                Ty::BOOL,
                ExprKind::StrList {
                    op: StrTest::Contains,
                    fold: false,
                    quant,
                    lhs,
                    list,
                },
            )
        })
        .0
    };
    assert_eq!(list_test(Quant::Any), None);
    assert!(matches!(
        list_test(Quant::All),
        Some(Req::Lit { at: AT_ANY, .. })
    ));
}

#[test]
fn membership_requires_a_whole_value() {
    let (req, ..) = req_of(|p, rb| {
        let lhs = field(p, rb, "ev", "s1");
        let l = p.str_list(&["cmd.exe", "CMD.EXE"]);
        let list = rb.e(Ty::List(Scalar::Str), ExprKind::List(l));
        rb.e(
            Ty::BOOL,
            ExprKind::Member {
                lhs,
                list,
                fold: true,
            },
        )
    });
    // Both items fold to one literal.
    match req {
        Some(Req::Or(v)) => {
            assert_eq!(v.len(), 2);
            assert!(v.iter().all(|r| matches!(r, Req::Lit { at: WHOLE, .. })));
            assert_eq!(v[0], v[1]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn regexes_require_their_prefix_literals() {
    let re = |pattern: &'static str| {
        req_of(move |p, rb| {
            let lhs = field(p, rb, "ev", "s1");
            let regex = p.regex(pattern);
            rb.e(Ty::BOOL, ExprKind::Matches { lhs, regex })
        })
        .0
    };
    assert!(matches!(
        re(r"cmd\.exe$"),
        Some(Req::Lit { at: AT_ANY, .. })
    ));
    assert!(matches!(re(r"ab|cd"), Some(Req::Or(v)) if v.len() == 2));
    // Matches the empty string: no requirement.
    assert_eq!(re(r"x*"), None);
    assert_eq!(re(r"^$"), None);
    // A class too wide to enumerate: no requirement.
    assert_eq!(re(r"\w+foo"), None);
}
