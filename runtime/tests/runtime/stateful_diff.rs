//! Differential test of correlation: generated sequence (ordered and `any order`) and threshold rules (2 or 3 steps on
//! two event types, keys of one or two fields of several types, conditions reading the
//! current event and earlier steps' captures, strings captured longer than `capture_len`,
//! `count`, `distinct`, `sum` and `avg` thresholds, small capacities so keys are evicted) run over generated
//! event streams (keys from a small domain, three hosts, one of whose clocks runs ahead,
//! times increasing with occasional equal times, late events, rare jumps two days ahead that
//! make clock resets, some events without a time or a key; half the programs with a lateness
//! allowance) by an interpreter engine and a JIT engine: both must
//! deliver identical alerts, in identical order, and identical state counters.
//!
//! `VIGIL_DIFF_CASES` sets the number of programs (default 200).

use vigil_runtime::alert::Alert;
use vigil_runtime::engine::{Engine, EngineKind, EngineOptions};
use vigil_runtime::event::{Event, EventBuilder};
use vigil_runtime::ir::{
    Capture, CaptureId, CmpOp, Counting, ExprId, ExprKind, FieldRef, Rule, RuleKind, SequenceDef,
    Severity, StateDecl, StepDef, StrTest, TemplatePart, ThresholdDef,
};
use vigil_runtime::schema::Schema;
use vigil_runtime::types::{Scalar, Ty};
use vigil_test_support::builder::{Prog, Rb};
use vigil_test_support::rng::SplitMix64;
use vigil_test_support::testgen::dense::schema;

fn cases() -> u64 {
    std::env::var("VIGIL_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

const EVENTS: [&str; 2] = ["ev", "ev2"];
/// Scalar fields both event types have.
const SCALARS: [&str; 7] = ["s1", "s2", "n1", "n2", "b1", "ip1", "ip2"];
const WORDS: [&str; 8] = ["", "a", "ab", "abc", "abcdefgh", "é", "éé", "ẞx"];
const IPS: [&str; 4] = ["10.0.0.1", "10.0.0.2", "::1", "0.0.0.0"];

/// One step's (or a threshold's) condition: a few comparisons of the current event's fields
/// with constants and with the captures readable here.
fn gen_cond(
    rng: &mut SplitMix64,
    p: &mut Prog,
    rb: &mut Rb,
    event: &str,
    caps: &[(CaptureId, Ty)],
) -> Option<ExprId> {
    if rng.below(5) == 0 {
        return None;
    }
    let mut terms = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let name = rng.pick(&SCALARS);
        let (f, ty) = p.field(event, name);
        let lhs = rb.e(ty, ExprKind::Field(f));
        let same: Vec<CaptureId> = caps.iter().filter(|c| c.1 == ty).map(|c| c.0).collect();
        let rhs = if !same.is_empty() && rng.below(2) == 0 {
            rb.e(ty, ExprKind::Captured(rng.pick(&same)))
        } else {
            match ty {
                Ty::Scalar(Scalar::Str) => {
                    let id = p.string(rng.pick(&WORDS));
                    rb.e(ty, ExprKind::Str(id))
                }
                Ty::Scalar(Scalar::Int) => rb.int(rng.below(3) as i64),
                Ty::Scalar(Scalar::Bool) => rb.bool(rng.below(2) == 0),
                _ => rb.ip(rng.pick(&IPS)),
            }
        };
        let t = match (ty, rng.below(3)) {
            (Ty::Scalar(Scalar::Str), 0) => rb.e(
                Ty::BOOL,
                ExprKind::StrTest {
                    op: StrTest::Contains,
                    fold: rng.below(2) == 0,
                    lhs,
                    rhs,
                },
            ),
            (Ty::Scalar(Scalar::Int), 0) => rb.e(Ty::BOOL, ExprKind::Cmp(CmpOp::Ge, lhs, rhs)),
            (_, 1) => rb.e(Ty::BOOL, ExprKind::Cmp(CmpOp::Ne, lhs, rhs)),
            _ => rb.e(Ty::BOOL, ExprKind::Cmp(CmpOp::Eq, lhs, rhs)),
        };
        terms.push(t);
    }
    Some(if terms.len() == 1 {
        terms[0]
    } else if rng.below(2) == 0 {
        rb.e(Ty::BOOL, ExprKind::Or(terms))
    } else {
        rb.e(Ty::BOOL, ExprKind::And(terms))
    })
}

fn key_fields(rng: &mut SplitMix64) -> Vec<&'static str> {
    match rng.below(4) {
        0 => vec!["n1"],
        1 => vec!["s1"],
        2 => vec!["n1", "ip1"],
        _ => vec!["b1", "s1"],
    }
}

fn state(rng: &mut SplitMix64, per_key: u32) -> StateDecl {
    StateDecl {
        capacity: 1 + rng.below(6) as u32,
        per_key,
        capture_len: 1 + rng.below(6) as u32,
    }
}

fn gen_sequence(rng: &mut SplitMix64, p: &mut Prog, name: &str) {
    let mut rb = Rb::default();
    let n = 2 + rng.below(2) as usize;
    let events: Vec<&str> = (0..n).map(|_| rng.pick(&EVENTS)).collect();
    let by = key_fields(rng);
    // A quarter are `any order` (named `any...`): no captures, no outputs (as the compiler
    // makes them).
    let any_order = rng.below(4) == 0;
    let name = if any_order {
        format!("any{name}")
    } else {
        name.to_owned()
    };
    let mut captures: Vec<Capture> = Vec::new();
    let mut caps: Vec<(CaptureId, Ty)> = Vec::new();
    let mut steps = Vec::new();
    for (k, ev) in events.iter().enumerate() {
        let cond = gen_cond(rng, p, &mut rb, ev, &caps);
        let key: Vec<FieldRef> = by.iter().map(|f| p.field(ev, f).0).collect();
        steps.push(StepDef {
            name: format!("s{k}"),
            event: (*ev).into(),
            cond,
            key,
        });
        // Captures of this step, readable by later steps and the outputs.
        if k + 1 < n && !any_order {
            for _ in 0..rng.below(3) {
                let fname = rng.pick(&SCALARS);
                let (f, ty) = p.field(ev, fname);
                let cap = Capture {
                    step: k as u8,
                    field: f,
                };
                let id = match captures.iter().position(|c| *c == cap) {
                    Some(i) => i,
                    None => {
                        captures.push(cap);
                        captures.len() - 1
                    }
                };
                let id = CaptureId(id as u16);
                if !caps.contains(&(id, ty)) {
                    caps.push((id, ty));
                }
            }
        }
    }
    // emit: every capture, then a field of the last step's event.
    let mut emit = vec![TemplatePart::Lit("m".into())];
    let mut fields = Vec::new();
    for (id, ty) in &caps {
        let e = rb.e(*ty, ExprKind::Captured(*id));
        emit.push(TemplatePart::Lit("|".into()));
        emit.push(TemplatePart::Expr(e));
        fields.push((format!("c{}", id.0), e));
    }
    let last = events[n - 1];
    let (f, ty) = p.field(last, "s2");
    let e = rb.e(ty, ExprKind::Field(f));
    emit.push(TemplatePart::Expr(e));
    fields.push(("last".into(), e));
    if any_order {
        emit.clear();
        fields.clear();
    }
    let def = SequenceDef {
        steps,
        within_ns: 1 + rng.below(40),
        captures,
        state: state(rng, n as u32),
    };
    p.p.rules.push(Rule {
        id: name.clone(),
        name: name.clone(),
        title: name.clone(),
        severity: Severity::Low,
        shadow: false,
        meta: Vec::new(),
        exprs: rb.exprs,
        kind: if any_order {
            RuleKind::SequenceAnyOrder(def)
        } else {
            RuleKind::Sequence(def)
        },
        emit,
        fields,
    });
}

fn gen_threshold(rng: &mut SplitMix64, p: &mut Prog, name: &str) {
    let mut rb = Rb::default();
    let events: Vec<&str> = if rng.below(2) == 0 {
        vec!["ev"]
    } else {
        vec!["ev", "ev2"]
    };
    let cond = gen_cond(rng, p, &mut rb, events[0], &[]);
    let by = if rng.below(4) == 0 {
        Vec::new()
    } else {
        key_fields(rng)
    };
    let key: Vec<Vec<FieldRef>> = events
        .iter()
        .map(|ev| by.iter().map(|f| p.field(ev, f).0).collect())
        .collect();
    let counting = match rng.below(4) {
        0 => Counting::Count,
        1 => Counting::Distinct(p.field(events[0], rng.pick(&["s2", "n2", "ip2"])).0),
        2 => Counting::Sum(p.field(events[0], "n2").0),
        _ => Counting::Avg(p.field(events[0], "n2").0),
    };
    let count = 1 + rng.below(4);
    // `sum`/`avg` keep `per_key` values (small here, so keys drop their oldest); the others N.
    let per_key = if counting.is_amount() {
        1 + rng.below(4) as u32
    } else {
        count as u32
    };
    // `sum`/`avg` rules are named `amt...`.
    let name = if counting.is_amount() {
        format!("amt{name}")
    } else {
        name.to_owned()
    };
    let (f, ty) = p.field(events[0], "s1");
    let e = rb.e(ty, ExprKind::Field(f));
    p.p.rules.push(Rule {
        id: name.clone(),
        name: name.clone(),
        title: name.clone(),
        severity: Severity::Low,
        shadow: false,
        meta: Vec::new(),
        exprs: rb.exprs,
        kind: RuleKind::Threshold(ThresholdDef {
            events: events.iter().map(|e| (*e).into()).collect(),
            cond,
            counting,
            count,
            within_ns: 1 + rng.below(40),
            key,
            state: state(rng, per_key),
        }),
        emit: vec![TemplatePart::Lit("t ".into()), TemplatePart::Expr(e)],
        fields: vec![("s1".into(), e)],
    });
}

fn gen_events(rng: &mut SplitMix64, schema: &Schema, n: usize) -> Vec<Event<'static>> {
    let mut out = Vec::with_capacity(n);
    let mut time: i64 = 1000;
    for _ in 0..n {
        let ty = rng.pick(&EVENTS);
        let mut b = EventBuilder::new(schema, ty).expect("type");
        // Times increase by 0 to 5 (equal times often); now and then go back or are absent.
        // Each host has its own clock: h3's runs 7 ahead, and now and then a host sends one
        // event two days ahead (its next event is a clock reset of that host only).
        let host = rng.pick(&["h1", "h2", "h3"]);
        let skew = if host == "h3" { 7 } else { 0 };
        match rng.below(20) {
            0 => {}
            1 => b.set_int("time", time - 3 + skew).expect("time"),
            2 if rng.below(8) == 0 => b
                .set_int("time", time + 2 * 86_400_000_000_000)
                .expect("time"),
            _ => {
                time += rng.below(6) as i64;
                b.set_int("time", time + skew).expect("time");
            }
        }
        b.set_str("host", host).expect("host");
        for name in SCALARS {
            if rng.below(8) == 0 {
                continue; // absent (a key field absent: the event takes no part)
            }
            match name {
                "s1" | "s2" => b.set_str(name, rng.pick(&WORDS)).expect("str"),
                "n1" | "n2" => b.set_int(name, rng.below(3) as i64).expect("int"),
                "b1" => b.set_bool(name, rng.below(2) == 0).expect("bool"),
                _ => b
                    .set_ip(name, rng.pick(&IPS).parse().expect("ip"))
                    .expect("ip"),
            }
        }
        out.push(b.finish());
    }
    out
}

fn run(engine: &Engine, events: &[Event<'_>]) -> Vec<String> {
    let mut alerts = Vec::new();
    for (i, ev) in events.iter().enumerate() {
        engine
            .process(ev, &mut |a: &Alert| {
                alerts.push(format!("#{i} {}", a.to_json_line()));
            })
            .expect("process");
    }
    alerts
}

#[test]
fn interpreter_and_jit_engines_give_identical_stateful_alerts() {
    let schema = schema();
    let mut programs = 0;
    let mut fired = 0;
    let mut rejected = 0;
    let mut seq_fired = 0;
    let (mut any_fired, mut amount_fired) = (0, 0);
    let (mut late, mut resets) = (0, 0);
    for seed in 0..cases() {
        let mut rng = SplitMix64::new(seed.wrapping_mul(0x1234_5678_9ABC_DEF1));
        let mut p = Prog::with_schema(schema.clone());
        for r in 0..1 + rng.below(4) {
            if rng.below(2) == 0 {
                gen_sequence(&mut rng, &mut p, &format!("seq{r}"));
            } else {
                gen_threshold(&mut rng, &mut p, &format!("thr{r}"));
            }
        }
        let verified = match p.try_verify() {
            Ok(v) => v,
            Err(e) => {
                rejected += 1;
                assert!(rejected * 10 <= cases() + 10, "generator rejected: {e}");
                continue;
            }
        };
        programs += 1;
        let events = gen_events(&mut rng, &schema, 200);
        // Half the programs run with a lateness allowance.
        let lateness_ns = if seed % 2 == 0 { 0 } else { 3 };
        let mk = |kind| {
            Engine::new(
                &verified,
                EngineOptions {
                    engine: kind,
                    lateness_ns,
                    ..EngineOptions::default()
                },
            )
            .expect("engine")
        };
        let (interp, jit) = (mk(EngineKind::Interp), mk(EngineKind::Jit));
        let a = run(&interp, &events);
        let b = run(&jit, &events);
        assert_eq!(
            a,
            b,
            "seed {seed}: alerts differ\n{:#?}",
            verified.program()
        );
        assert_eq!(
            interp.rule_state_stats(),
            jit.rule_state_stats(),
            "seed {seed}"
        );
        let (si, sj) = (interp.stats(), jit.stats());
        assert_eq!((si.eval_errors, si.internal_errors), (0, 0), "seed {seed}");
        assert_eq!((sj.eval_errors, sj.internal_errors), (0, 0), "seed {seed}");
        assert_eq!(si.state_bytes, sj.state_bytes);
        assert!(si.state_bytes <= interp.state_bound_bytes());
        late += si.state_late + si.state_late_accepted;
        resets += si.state_clock_resets;
        fired += a.len();
        seq_fired += a.iter().filter(|l| l.contains("\"rule\":\"seq")).count();
        any_fired += a.iter().filter(|l| l.contains("\"rule\":\"anyseq")).count();
        amount_fired += a.iter().filter(|l| l.contains("\"rule\":\"amtthr")).count();
    }
    assert!(
        programs * 10 >= cases() * 9,
        "{programs} of {} verified",
        cases()
    );
    assert!(fired > 0, "nothing fired in {programs} programs");
    assert!(seq_fired > 0, "no sequence fired in {programs} programs");
    assert!(
        any_fired > 0,
        "no `any order` sequence fired in {programs} programs"
    );
    assert!(
        amount_fired > 0,
        "no `sum`/`avg` threshold fired in {programs} programs"
    );
    assert!(late > 0 && resets > 0, "late {late}, clock resets {resets}");
}
