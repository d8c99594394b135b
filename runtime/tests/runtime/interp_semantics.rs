//! The reference interpreter, operator by operator (LANGUAGE.md sections 2 and 3).

use vigil_runtime::event::{Event, EventBuilder};
use vigil_runtime::interp::Interp;
use vigil_runtime::ir::{ArithOp, CmpOp, Const, ExprId, ExprKind, LocalId, Quant, RuleId, StrTest};
use vigil_runtime::schema::Schema;
use vigil_runtime::types::{Scalar, Ty};
use vigil_runtime::value::Value;
use vigil_test_support::builder::{field, str_const, Prog, Rb};

/// Builds a program with one rule on process_start whose condition `build` gives, and returns
/// the interpreter.
fn interp_for(build: impl FnOnce(&mut Prog, &mut Rb) -> Option<ExprId>) -> Interp {
    let mut p = Prog::new();
    p.rule("r", &["process_start"], build);
    Interp::new(&p.verify()).expect("interp")
}

fn event<'a>(schema: &Schema, set: impl FnOnce(&mut EventBuilder<'_, 'a>)) -> Event<'a> {
    let mut b = EventBuilder::new(schema, "process_start").expect("type");
    set(&mut b);
    b.finish()
}

fn cond(
    build: impl FnOnce(&mut Prog, &mut Rb) -> ExprId,
    set: impl FnOnce(&mut EventBuilder<'_, '_>),
) -> bool {
    let schema = Schema::endpoint();
    let interp = interp_for(|p, rb| Some(build(p, rb)));
    let ev = event(&schema, set);
    interp.eval_cond(RuleId(0), &ev).expect("eval")
}

/// The value of an int expression `a OP b` (as `(a OP b) == expected` must hold).
fn arith(op: ArithOp, a: i64, b: i64) -> i64 {
    let mut p = Prog::new();
    let mut result = ExprId(0);
    p.rule("r", &["process_start"], |_, rb| {
        let x = rb.int(a);
        let y = rb.int(b);
        result = rb.e(Ty::INT, ExprKind::Arith(op, x, y));
        let zero = rb.int(0);
        Some(rb.e(Ty::BOOL, ExprKind::Cmp(CmpOp::Ne, result, zero)))
    });
    let interp = Interp::new(&p.verify()).expect("interp");
    let schema = Schema::endpoint();
    let ev = event(&schema, |_| {});
    match interp.eval_value(RuleId(0), result, &ev).expect("eval") {
        Value::Int(i) => i,
        v => panic!("not an int: {v:?}"),
    }
}

#[test]
fn arithmetic_wraps_and_never_traps() {
    assert_eq!(arith(ArithOp::Add, i64::MAX, 1), i64::MIN);
    assert_eq!(arith(ArithOp::Sub, i64::MIN, 1), i64::MAX);
    assert_eq!(arith(ArithOp::Mul, i64::MAX, 2), -2);
    assert_eq!(arith(ArithOp::Div, 7, 0), 0);
    assert_eq!(arith(ArithOp::Rem, 7, 0), 0);
    assert_eq!(arith(ArithOp::Div, i64::MIN, -1), i64::MIN);
    assert_eq!(arith(ArithOp::Rem, i64::MIN, -1), 0);
    assert_eq!(arith(ArithOp::Div, -7, 2), -3);
    assert_eq!(arith(ArithOp::Rem, -7, 3), -1);
    assert_eq!(arith(ArithOp::Rem, 7, -3), 1);
}

#[test]
fn negation_wraps() {
    let mut p = Prog::new();
    let mut neg = ExprId(0);
    p.rule("r", &["process_start"], |_, rb| {
        let x = rb.int(i64::MIN);
        neg = rb.e(Ty::INT, ExprKind::Neg(x));
        let y = rb.int(i64::MIN);
        Some(rb.e(Ty::BOOL, ExprKind::Cmp(CmpOp::Eq, neg, y)))
    });
    let interp = Interp::new(&p.verify()).expect("interp");
    let schema = Schema::endpoint();
    let ev = event(&schema, |_| {});
    assert!(interp.eval_cond(RuleId(0), &ev).expect("eval"));
}

#[test]
fn comparisons_on_fields_and_absent_fields_read_empty() {
    let pid_is = |op: CmpOp, k: i64| {
        move |p: &mut Prog, rb: &mut Rb| {
            let f = field(p, rb, "process_start", "pid");
            let c = rb.int(k);
            rb.e(Ty::BOOL, ExprKind::Cmp(op, f, c))
        }
    };
    assert!(cond(pid_is(CmpOp::Eq, 42), |b| b
        .set_int("pid", 42)
        .expect("set")));
    assert!(cond(pid_is(CmpOp::Lt, 43), |b| b
        .set_int("pid", 42)
        .expect("set")));
    assert!(cond(pid_is(CmpOp::Ge, 42), |b| b
        .set_int("pid", 42)
        .expect("set")));
    assert!(!cond(pid_is(CmpOp::Gt, 42), |b| b
        .set_int("pid", 42)
        .expect("set")));
    // Absent: reads as 0.
    assert!(cond(pid_is(CmpOp::Eq, 0), |_| {}));
    // Absent string reads "", absent ip 0.0.0.0.
    assert!(cond(
        |p, rb| {
            let f = field(p, rb, "process_start", "image");
            let s = str_const(p, rb, "");
            rb.e(Ty::BOOL, ExprKind::Cmp(CmpOp::Eq, f, s))
        },
        |_| {}
    ));
    let schema = Schema::endpoint();
    let mut p = Prog::new();
    p.rule("r", &["network_connect"], |p, rb| {
        let f = field(p, rb, "network_connect", "dest_ip");
        let z = rb.ip("0.0.0.0");
        Some(rb.e(Ty::BOOL, ExprKind::Cmp(CmpOp::Eq, f, z)))
    });
    let interp = Interp::new(&p.verify()).expect("interp");
    let ev = EventBuilder::new(&schema, "network_connect")
        .expect("type")
        .finish();
    assert!(interp.eval_cond(RuleId(0), &ev).expect("eval"));
}

#[test]
fn exists_and_truncated_read_the_flags() {
    let exists = |p: &mut Prog, rb: &mut Rb| {
        let (f, _) = p.field("process_start", "image");
        rb.e(Ty::BOOL, ExprKind::Exists(f))
    };
    assert!(!cond(exists, |_| {}));
    assert!(cond(exists, |b| b.set_str("image", "").expect("set")));
    let truncated = |p: &mut Prog, rb: &mut Rb| {
        let (f, _) = p.field("process_start", "integrity_level");
        rb.e(Ty::BOOL, ExprKind::Truncated(f))
    };
    assert!(!cond(truncated, |b| b
        .set_str("integrity_level", "High")
        .expect("set")));
    let long = "x".repeat(100);
    assert!(cond(truncated, |b| b
        .set_string("integrity_level", long)
        .expect("set")));
}

fn str_test(op: StrTest, fold: bool, subject: &'static str, pattern: &str) -> bool {
    cond(
        |p, rb| {
            let f = field(p, rb, "process_start", "command_line");
            let s = str_const(p, rb, pattern);
            rb.e(
                Ty::BOOL,
                ExprKind::StrTest {
                    op,
                    fold,
                    lhs: f,
                    rhs: s,
                },
            )
        },
        |b| b.set_str("command_line", subject).expect("set"),
    )
}

#[test]
fn string_tests_are_case_sensitive_unless_folded() {
    assert!(str_test(
        StrTest::Contains,
        false,
        "powershell -enc AAA",
        "-enc "
    ));
    assert!(!str_test(
        StrTest::Contains,
        false,
        "powershell -ENC AAA",
        "-enc "
    ));
    assert!(str_test(
        StrTest::Contains,
        true,
        "powershell -ENC AAA",
        "-enc "
    ));
    assert!(str_test(StrTest::StartsWith, false, "cmd.exe /c", "cmd"));
    assert!(!str_test(StrTest::StartsWith, false, "CMD.exe /c", "cmd"));
    assert!(str_test(StrTest::StartsWith, true, "CMD.exe /c", "cmd"));
    assert!(str_test(
        StrTest::EndsWith,
        true,
        r"C:\X\POWERSHELL.EXE",
        "powershell.exe"
    ));
    assert!(str_test(StrTest::Eq, false, "abc", "abc"));
    assert!(!str_test(StrTest::Eq, false, "abc", "ABC"));
    assert!(str_test(StrTest::Eq, true, "abc", "ABC"));
    // Unicode simple case folding, not lower(): Σ, σ and ς all fold to σ; ß does not become ss.
    assert!(str_test(StrTest::Eq, true, "ΣΑΣ", "σας"));
    assert!(str_test(StrTest::Contains, true, "ÉTÉ", "été"));
    assert!(!str_test(StrTest::Eq, true, "STRASSE", "straße"));
    // The empty pattern is contained in, starts and ends every string.
    assert!(str_test(StrTest::Contains, false, "", ""));
    assert!(str_test(StrTest::EndsWith, false, "abc", ""));
}

fn str_list(op: StrTest, fold: bool, quant: Quant, subject: &'static str, items: &[&str]) -> bool {
    let items: Vec<String> = items.iter().map(|s| (*s).to_owned()).collect();
    cond(
        move |p, rb| {
            let f = field(p, rb, "process_start", "command_line");
            let refs: Vec<&str> = items.iter().map(String::as_str).collect();
            let list = p.str_list(&refs);
            rb.e(
                Ty::BOOL,
                ExprKind::StrList {
                    op,
                    fold,
                    quant,
                    lhs: f,
                    list,
                },
            )
        },
        |b| b.set_str("command_line", subject).expect("set"),
    )
}

#[test]
fn string_list_tests_any_and_all() {
    assert!(str_list(
        StrTest::Contains,
        true,
        Quant::Any,
        "powershell -EC x",
        &["-enc ", "-ec "]
    ));
    assert!(!str_list(
        StrTest::Contains,
        false,
        Quant::Any,
        "powershell -EC x",
        &["-enc ", "-ec "]
    ));
    assert!(str_list(
        StrTest::Contains,
        false,
        Quant::All,
        "a b c",
        &["a", "c"]
    ));
    assert!(!str_list(
        StrTest::Contains,
        false,
        Quant::All,
        "a b c",
        &["a", "d"]
    ));
    assert!(str_list(
        StrTest::EndsWith,
        true,
        Quant::Any,
        r"C:\PWSH.EXE",
        &["powershell.exe", "pwsh.exe"]
    ));
    // `any []` is false, `all []` is true.
    assert!(!str_list(StrTest::Contains, false, Quant::Any, "x", &[]));
    assert!(str_list(StrTest::Contains, false, Quant::All, "x", &[]));
}

#[test]
fn membership_in_constant_lists() {
    let member = |fold: bool, subject: &'static str| {
        cond(
            move |p, rb| {
                let f = field(p, rb, "process_start", "integrity_level");
                let l = p.str_list(&["High", "System"]);
                let list = rb.e(Ty::List(Scalar::Str), ExprKind::List(l));
                rb.e(Ty::BOOL, ExprKind::Member { lhs: f, list, fold })
            },
            move |b| b.set_str("integrity_level", subject).expect("set"),
        )
    };
    assert!(member(false, "High"));
    assert!(!member(false, "high"));
    assert!(member(true, "high"));
    assert!(member(true, "SYSTEM"));
    assert!(!member(true, "Medium"));

    let int_member = |k: i64| {
        cond(
            |p, rb| {
                let f = field(p, rb, "process_start", "pid");
                let l = p.list(Scalar::Int, vec![Const::Int(4), Const::Int(8)]);
                let list = rb.e(Ty::List(Scalar::Int), ExprKind::List(l));
                rb.e(
                    Ty::BOOL,
                    ExprKind::Member {
                        lhs: f,
                        list,
                        fold: false,
                    },
                )
            },
            move |b| b.set_int("pid", k).expect("set"),
        )
    };
    assert!(int_member(8));
    assert!(!int_member(9));
}

fn ip_in_cidrs(ip: &str) -> bool {
    let schema = Schema::endpoint();
    let mut p = Prog::new();
    p.rule("r", &["network_connect"], |p, rb| {
        let f = field(p, rb, "network_connect", "dest_ip");
        let cidr = |t: &str| {
            let (a, n) = t.split_once('/').expect("prefix");
            Const::Cidr(a.parse().expect("addr"), n.parse().expect("len"))
        };
        let l = p.list(
            Scalar::Cidr,
            vec![
                cidr("10.0.0.0/8"),
                cidr("fe80::/10"),
                Const::Ip("8.8.8.8".parse().expect("ip")),
            ],
        );
        let list = rb.e(Ty::List(Scalar::Cidr), ExprKind::List(l));
        Some(rb.e(
            Ty::BOOL,
            ExprKind::Member {
                lhs: f,
                list,
                fold: false,
            },
        ))
    });
    let interp = Interp::new(&p.verify()).expect("interp");
    let mut b = EventBuilder::new(&schema, "network_connect").expect("type");
    b.set_ip("dest_ip", ip.parse().expect("ip")).expect("set");
    interp.eval_cond(RuleId(0), &b.finish()).expect("eval")
}

#[test]
fn ip_membership_is_a_network_match() {
    assert!(ip_in_cidrs("10.1.2.3"));
    assert!(
        ip_in_cidrs("::ffff:10.1.2.3"),
        "IPv4-mapped IPv6 matches IPv4 prefixes"
    );
    assert!(ip_in_cidrs("fe80::1"));
    assert!(
        ip_in_cidrs("8.8.8.8"),
        "a plain address in a [cidr] list is a /32"
    );
    assert!(!ip_in_cidrs("8.8.4.4"));
    assert!(!ip_in_cidrs("11.0.0.1"));
}

fn matches(pattern: &str, subject: &'static str) -> bool {
    cond(
        |p, rb| {
            let f = field(p, rb, "process_start", "command_line");
            let regex = p.regex(pattern);
            rb.e(Ty::BOOL, ExprKind::Matches { lhs: f, regex })
        },
        |b| b.set_str("command_line", subject).expect("set"),
    )
}

#[test]
fn regex_search_semantics() {
    assert!(matches(
        r"-e(nc)?\s+[a-z0-9+/=]{8,}",
        "powershell -enc aaaabbbbcccc="
    ));
    assert!(!matches(
        r"-e(nc)?\s+[a-z0-9+/=]{8,}",
        "powershell -ENC aaaabbbbcccc="
    ));
    assert!(matches(
        r"(?i)-e(nc)?\s+[a-z0-9+/=]{8,}",
        "powershell -ENC AGVSBG8GD29YBGQ="
    ));
    assert!(matches(r"^cmd", "cmd /c"));
    assert!(!matches(r"^cmd", " cmd /c"));
    assert!(matches(r"", ""));
}

#[test]
fn and_or_not_short_circuit_left_to_right() {
    // `false and (1/0 == 0)` never needs the right side; the IR has no trap anyway, so check
    // the value and the step count: the right operand is not visited.
    let mut p = Prog::new();
    p.rule("r", &["process_start"], |_, rb| {
        let f = rb.bool(false);
        let t = rb.bool(true);
        let n = rb.e(Ty::BOOL, ExprKind::Not(t));
        let or = rb.e(Ty::BOOL, ExprKind::Or(vec![n, t]));
        Some(rb.e(Ty::BOOL, ExprKind::And(vec![f, or])))
    });
    let interp = Interp::new(&p.verify()).expect("interp");
    let schema = Schema::endpoint();
    let ev = event(&schema, |_| {});
    let (v, steps) = interp.eval_cond_counted(RuleId(0), &ev).expect("eval");
    assert!(!v);
    assert_eq!(steps, 2, "and + its first operand only");

    assert!(cond(
        |_, rb| {
            let f = rb.bool(false);
            let t = rb.bool(true);
            rb.e(Ty::BOOL, ExprKind::Or(vec![f, t]))
        },
        |_| {}
    ));
    assert!(cond(|_, rb| rb.e(Ty::BOOL, ExprKind::And(vec![])), |_| {}));
    assert!(!cond(|_, rb| rb.e(Ty::BOOL, ExprKind::Or(vec![])), |_| {}));
}

fn quant_args(quant: Quant, args: &'static [&'static str]) -> bool {
    cond(
        move |p, rb| {
            let list = field(p, rb, "process_start", "args");
            let a = rb.e(Ty::STR, ExprKind::Local(LocalId(0)));
            let pat = str_const(p, rb, "-e");
            let body = rb.e(
                Ty::BOOL,
                ExprKind::StrTest {
                    op: StrTest::StartsWith,
                    fold: true,
                    lhs: a,
                    rhs: pat,
                },
            );
            rb.e(
                Ty::BOOL,
                ExprKind::Quant {
                    quant,
                    local: LocalId(0),
                    list,
                    body,
                },
            )
        },
        move |b| {
            for a in args {
                b.push_item("args", a).expect("push");
            }
        },
    )
}

#[test]
fn quantifiers_over_list_fields() {
    assert!(quant_args(
        Quant::Any,
        &["powershell", "-NoP", "-Enc", "AAAA"]
    ));
    assert!(!quant_args(Quant::Any, &["powershell", "-NoP"]));
    assert!(quant_args(Quant::All, &["-e", "-E"]));
    assert!(!quant_args(Quant::All, &["-e", "x"]));
    assert!(!quant_args(Quant::Any, &[]), "any over no items is false");
    assert!(quant_args(Quant::All, &[]), "all over no items is true");
}

#[test]
fn nested_quantifiers_and_membership_in_a_list_field() {
    // any(a in args, all(b in args, len(a) >= len(b))) and "x" in args
    let schema = Schema::endpoint();
    let mut p = Prog::new();
    p.rule("r", &["process_start"], |p, rb| {
        let len = p.builtin("len", &[Ty::STR]);
        let args = field(p, rb, "process_start", "args");
        let a = rb.e(Ty::STR, ExprKind::Local(LocalId(0)));
        let b = rb.e(Ty::STR, ExprKind::Local(LocalId(1)));
        let la = rb.e(
            Ty::INT,
            ExprKind::Call {
                builtin: len,
                args: vec![a],
            },
        );
        let lb = rb.e(
            Ty::INT,
            ExprKind::Call {
                builtin: len,
                args: vec![b],
            },
        );
        let ge = rb.e(Ty::BOOL, ExprKind::Cmp(CmpOp::Ge, la, lb));
        let inner = rb.e(
            Ty::BOOL,
            ExprKind::Quant {
                quant: Quant::All,
                local: LocalId(1),
                list: args,
                body: ge,
            },
        );
        let outer = rb.e(
            Ty::BOOL,
            ExprKind::Quant {
                quant: Quant::Any,
                local: LocalId(0),
                list: args,
                body: inner,
            },
        );
        let x = str_const(p, rb, "x");
        let member = rb.e(
            Ty::BOOL,
            ExprKind::Member {
                lhs: x,
                list: args,
                fold: false,
            },
        );
        Some(rb.e(Ty::BOOL, ExprKind::And(vec![outer, member])))
    });
    let interp = Interp::new(&p.verify()).expect("interp");
    let mut b = EventBuilder::new(&schema, "process_start").expect("type");
    for a in ["x", "longest", "mid"] {
        b.push_item("args", a).expect("push");
    }
    assert!(interp.eval_cond(RuleId(0), &b.finish()).expect("eval"));
    let mut b = EventBuilder::new(&schema, "process_start").expect("type");
    b.push_item("args", "y").expect("push");
    assert!(!interp.eval_cond(RuleId(0), &b.finish()).expect("eval"));
}

#[test]
fn a_rule_without_condition_holds() {
    let schema = Schema::endpoint();
    let interp = interp_for(|_, _| None);
    assert!(interp
        .eval_cond(RuleId(0), &event(&schema, |_| {}))
        .expect("eval"));
}

#[test]
fn deep_conditions_evaluate_without_recursion() {
    // not(not(...not(true)...)) 200 deep, within the verifier's depth limit; evaluated on an
    // explicit stack.
    let schema = Schema::endpoint();
    let interp = interp_for(|_, rb| {
        let mut e = rb.bool(true);
        for _ in 0..200 {
            e = rb.e(Ty::BOOL, ExprKind::Not(e));
        }
        Some(e)
    });
    let (v, steps) = interp
        .eval_cond_counted(RuleId(0), &event(&schema, |_| {}))
        .expect("eval");
    assert!(v);
    assert_eq!(steps, 201);
}

#[test]
fn steps_stay_under_the_verifier_cost_bound() {
    let mut p = Prog::new();
    p.rule("r", &["process_start"], |p, rb| {
        let args = field(p, rb, "process_start", "args");
        let a = rb.e(Ty::STR, ExprKind::Local(LocalId(0)));
        let pat = str_const(p, rb, "zz");
        let body = rb.e(
            Ty::BOOL,
            ExprKind::StrTest {
                op: StrTest::Contains,
                fold: true,
                lhs: a,
                rhs: pat,
            },
        );
        Some(rb.e(
            Ty::BOOL,
            ExprKind::Quant {
                quant: Quant::Any,
                local: LocalId(0),
                list: args,
                body,
            },
        ))
    });
    let verified = p.verify();
    let bound = verified.cost().rules[0].steps;
    let interp = Interp::new(&verified).expect("interp");
    let schema = Schema::endpoint();
    let mut b = EventBuilder::new(&schema, "process_start").expect("type");
    for _ in 0..64 {
        b.push_item("args", "aaaa").expect("push");
    }
    let (v, steps) = interp
        .eval_cond_counted(RuleId(0), &b.finish())
        .expect("eval");
    assert!(!v);
    assert!(steps > 64 && steps <= bound, "steps {steps}, bound {bound}");
}
