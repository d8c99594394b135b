//! Soundness of the whole-bundle prefilter: random programs of literal-heavy rules (string
//! tests folded or not, `any`/`all` lists, `in`/`iin`, `==`/`!=`, regexes, `not`, `and`, `or`,
//! `exists`) over random events made of the rules' own literals, case variants, folds that
//! change length (`ẞ`, the Kelvin sign), characters without a simple fold (`İ`), empty
//! strings, over-long (truncated) values and absent fields. Three engines must fire the same
//! rules in the same order on every event: the interpreter without the prefilter (the oracle),
//! the interpreter with it (rules skipped), and the JIT with it (rules skipped and literal
//! tests answered from the prefilter's bits). Some leaves test ~100 literals on one field, enough
//! for the prefilter's gram searcher to answer them.
//!
//! Cases per run: `VIGIL_PREFILTER_CASES` (default 512).

use proptest::prelude::*;
use vigil_runtime::engine::{Engine, EngineKind, EngineOptions};
use vigil_runtime::event::{Event, EventBuilder};
use vigil_runtime::ir::{CmpOp, ExprId, ExprKind, Quant, StrTest};
use vigil_runtime::schema::Schema;
use vigil_runtime::types::{Scalar, Ty};
use vigil_test_support::builder::{field, str_const, Prog, Rb};
use vigil_test_support::rng::SplitMix64;

const SCHEMA: &str = r#"
name = "pftest"
version = "1.0"

[events.proc]
description = "two string fields the rules test"
fields = [
  { name = "time",  type = "int", description = "t" },
  { name = "host",  type = "string", max_len = 16, description = "h" },
  { name = "image", type = "string", max_len = 24, description = "a path" },
  { name = "cmd",   type = "string", max_len = 24, description = "a command line" },
  { name = "n",     type = "int", description = "an int" },
]
"#;

fn schema() -> Schema {
    Schema::from_toml("pftest.toml", SCHEMA).expect("the test schema is valid")
}

fn cases() -> u32 {
    std::env::var("VIGIL_PREFILTER_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

/// The literals rules test and events are made of.
const LITS: &[&str] = &[
    "",
    "a",
    "A",
    "cmd.exe",
    "\\cmd.exe",
    "CMD",
    "powershell",
    "-enc",
    "ẞ",
    "ß",
    "ss",
    "\u{212A}",
    "k",
    "K",
    "İ",
    "i̇",
    "Σ",
    "σ",
    "ς",
    "é",
    "É",
    "日本",
    "\\",
    "x.",
    "aa",
];
const REGEXES: &[&str] = &[
    r"cmd\.exe$",
    r"(?i)power",
    r"a+b",
    r"^$",
    r"(?i)ß",
    r"enc|ps",
    r"\d+",
    r"x*",
    r"(?i)k\b",
    r"^\\",
];
const FIELDS: &[&str] = &["image", "cmd"];

const OPS: &[StrTest] = &[
    StrTest::Eq,
    StrTest::Contains,
    StrTest::StartsWith,
    StrTest::EndsWith,
];

/// `f contains any [..]` over ~100 two-literal concatenations (folded or not): enough distinct
/// patterns on one field (more than 64) for the prefilter's gram searcher, where the other
/// leaves give its small-set searcher and anchored automata.
fn bulk_contains(g: &mut SplitMix64, p: &mut Prog, rb: &mut Rb) -> ExprId {
    let lhs = field(p, rb, "proc", g.pick(FIELDS));
    let items: Vec<String> = (0..100)
        .map(|_| format!("{}{}", g.pick(LITS), g.pick(LITS)))
        .collect();
    let items: Vec<&str> = items.iter().map(String::as_str).collect();
    let list = p.str_list(&items);
    let fold = g.below(2) == 0;
    rb.e(
        Ty::BOOL,
        ExprKind::StrList {
            op: StrTest::Contains,
            fold,
            quant: Quant::Any,
            lhs,
            list,
        },
    )
}

fn bool_expr(g: &mut SplitMix64, p: &mut Prog, rb: &mut Rb, depth: u32) -> ExprId {
    if g.below(8) == 0 {
        return bulk_contains(g, p, rb);
    }
    let choice = if depth == 0 { g.below(6) } else { g.below(10) };
    match choice {
        0 | 1 => {
            let lhs = field(p, rb, "proc", g.pick(FIELDS));
            let rhs = str_const(p, rb, g.pick(LITS));
            let op = g.pick(OPS);
            let fold = g.below(2) == 0;
            rb.e(Ty::BOOL, ExprKind::StrTest { op, fold, lhs, rhs })
        }
        2 => {
            let lhs = field(p, rb, "proc", g.pick(FIELDS));
            let n = g.below(4) as usize;
            let items: Vec<&str> = (0..n).map(|_| g.pick(LITS)).collect();
            let list = p.str_list(&items);
            let quant = if g.below(4) == 0 {
                Quant::All
            } else {
                Quant::Any
            };
            let op = g.pick(OPS);
            let fold = g.below(2) == 0;
            rb.e(
                Ty::BOOL,
                ExprKind::StrList {
                    op,
                    fold,
                    quant,
                    lhs,
                    list,
                },
            )
        }
        3 => {
            let lhs = field(p, rb, "proc", g.pick(FIELDS));
            let n = 1 + g.below(3) as usize;
            let items: Vec<&str> = (0..n).map(|_| g.pick(LITS)).collect();
            let l = p.str_list(&items);
            let list = rb.e(Ty::List(Scalar::Str), ExprKind::List(l));
            let fold = g.below(2) == 0;
            rb.e(Ty::BOOL, ExprKind::Member { lhs, list, fold })
        }
        4 => {
            let lhs = field(p, rb, "proc", g.pick(FIELDS));
            let rhs = str_const(p, rb, g.pick(LITS));
            let op = if g.below(3) == 0 {
                CmpOp::Ne
            } else {
                CmpOp::Eq
            };
            let (a, b) = if g.below(2) == 0 {
                (lhs, rhs)
            } else {
                (rhs, lhs)
            };
            rb.e(Ty::BOOL, ExprKind::Cmp(op, a, b))
        }
        5 => {
            let lhs = field(p, rb, "proc", g.pick(FIELDS));
            let regex = p.regex(g.pick(REGEXES));
            rb.e(Ty::BOOL, ExprKind::Matches { lhs, regex })
        }
        6 => {
            let e = bool_expr(g, p, rb, depth - 1);
            rb.e(Ty::BOOL, ExprKind::Not(e))
        }
        7 | 8 => {
            let n = 2 + g.below(2);
            let ops = (0..n).map(|_| bool_expr(g, p, rb, depth - 1)).collect();
            if choice == 7 {
                rb.e(Ty::BOOL, ExprKind::And(ops))
            } else {
                rb.e(Ty::BOOL, ExprKind::Or(ops))
            }
        }
        _ => {
            let (f, _) = p.field("proc", g.pick(FIELDS));
            rb.e(Ty::BOOL, ExprKind::Exists(f))
        }
    }
}

fn program(seed: u64) -> Prog {
    let mut g = SplitMix64::new(seed);
    let mut p = Prog::with_schema(schema());
    let rules = 1 + g.below(12);
    for r in 0..rules {
        let depth = g.below(4) as u32;
        let mut rb = Rb::default();
        let cond = bool_expr(&mut g, &mut p, &mut rb, depth);
        let exprs = std::mem::take(&mut rb.exprs);
        p.rule(&format!("r{r}"), &["proc"], move |_, rb| {
            rb.exprs = exprs;
            Some(cond)
        });
    }
    p
}

/// A field value: absent, or up to three literals with case flips.
fn value() -> impl Strategy<Value = Option<String>> {
    let piece = (proptest::sample::select(LITS), 0u8..3).prop_map(|(l, case)| match case {
        0 => l.to_string(),
        1 => l.to_uppercase(),
        _ => l.to_lowercase(),
    });
    proptest::option::weighted(0.85, proptest::collection::vec(piece, 0..4))
        .prop_map(|v| v.map(|parts| parts.concat()))
}

fn build<'a>(schema: &Schema, image: &'a Option<String>, cmd: &'a Option<String>) -> Event<'a> {
    let mut b = EventBuilder::new(schema, "proc").expect("test event type");
    if let Some(v) = image {
        b.set_str("image", v).expect("image");
    }
    if let Some(v) = cmd {
        b.set_str("cmd", v).expect("cmd");
    }
    b.finish()
}

fn engine(verified: &vigil_runtime::verify::Verified, kind: EngineKind, prefilter: bool) -> Engine {
    Engine::new(
        verified,
        EngineOptions {
            engine: kind,
            prefilter,
            ..EngineOptions::default()
        },
    )
    .expect("engine")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn prefiltered_engines_fire_as_the_interpreter(
        seed in any::<u64>(),
        values in proptest::collection::vec((value(), value()), 16),
    ) {
        let schema = schema();
        let verified = program(seed)
            .try_verify()
            .map_err(|e| TestCaseError::fail(format!("seed {seed}: {e}")))?;
        let oracle = engine(&verified, EngineKind::Interp, false);
        let interp = engine(&verified, EngineKind::Interp, true);
        let jit = engine(&verified, EngineKind::Jit, true);
        for (image, cmd) in &values {
            let event = build(&schema, image, cmd);
            let fired = |e: &Engine| {
                let mut v = Vec::new();
                e.process(&event, &mut |a| v.push(a.rule.clone())).expect("fits");
                v
            };
            let want = fired(&oracle);
            prop_assert_eq!(&fired(&interp), &want, "interp+prefilter, seed {}, event {:?}", seed, (image, cmd));
            prop_assert_eq!(&fired(&jit), &want, "jit+prefilter, seed {}, event {:?}", seed, (image, cmd));
        }
        prop_assert_eq!(jit.stats().eval_errors + jit.stats().internal_errors, 0);
        prop_assert_eq!(jit.stats().alerts, oracle.stats().alerts);
    }
}

/// The prefilter does skip rules (the property above would hold of a prefilter that never
/// skips anything).
#[test]
fn rules_whose_literals_are_absent_are_skipped() {
    let mut p = Prog::with_schema(schema());
    p.rule("ps", &["proc"], |p, rb| {
        let lhs = field(p, rb, "proc", "image");
        let rhs = str_const(p, rb, "\\powershell.exe");
        Some(rb.e(
            Ty::BOOL,
            ExprKind::StrTest {
                op: StrTest::EndsWith,
                fold: true,
                lhs,
                rhs,
            },
        ))
    });
    p.rule("empty", &["proc"], |p, rb| {
        // `image endswith ""` holds even on an absent field: never skipped.
        let lhs = field(p, rb, "proc", "image");
        let rhs = str_const(p, rb, "");
        Some(rb.e(
            Ty::BOOL,
            ExprKind::StrTest {
                op: StrTest::EndsWith,
                fold: false,
                lhs,
                rhs,
            },
        ))
    });
    let verified = p.verify();
    let schema = schema();
    for kind in [EngineKind::Interp, EngineKind::Jit] {
        let e = engine(&verified, kind, true);
        let none = None;
        let ps = Some("C:\\X\\PowerShell.EXE".to_string());
        let mut fired = Vec::new();
        e.process(&build(&schema, &none, &none), &mut |a| {
            fired.push(a.rule.clone())
        })
        .expect("fits");
        e.process(&build(&schema, &ps, &none), &mut |a| {
            fired.push(a.rule.clone())
        })
        .expect("fits");
        assert_eq!(fired, ["empty", "ps", "empty"]);
        let s = e.stats();
        assert_eq!((s.prefilter_skipped, s.evaluations), (1, 3), "{kind:?}");
    }
}
