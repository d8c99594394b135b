//! One hand-written test per IR node kind: the JIT agrees with the interpreter on a fixed set
//! of events with the edge cases of each type (absent fields, empty and max-length strings,
//! case folds that change length, i64::MIN, zero divisors, IPv4-mapped addresses, lists with
//! 0 and max items, truncated values).

use std::net::IpAddr;

use crate::jit_common::assert_agree;
use vigil_runtime::engine::Evaluator;
use vigil_runtime::event::{Event, EventBuilder};
use vigil_runtime::ir::{ArithOp, CmpOp, Const, ExprId, ExprKind, LocalId, Quant, RuleId, StrTest};
use vigil_runtime::jit;
use vigil_runtime::schema::Schema;
use vigil_runtime::types::{Scalar, Ty};
use vigil_test_support::builder::{field, str_const, Prog, Rb};
use vigil_test_support::testgen::dense::schema;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test ip")
}

/// One fixed event: s1, s2, n1, n2, b1, ip1, args, ports, addrs.
type Case = (
    &'static str,
    &'static str,
    i64,
    i64,
    bool,
    &'static str,
    &'static [&'static str],
    &'static [i64],
    &'static [&'static str],
);

/// The fixed events: for both event types, a spread of edge cases.
fn events(schema: &Schema) -> Vec<Event<'static>> {
    let mut out = Vec::new();
    for ty in ["ev", "ev2"] {
        // Nothing set.
        out.push(EventBuilder::new(schema, ty).expect("type").finish());
        let cases: &[Case] = &[
            (
                "cmd.exe",
                "CMD.EXE",
                7,
                0,
                true,
                "10.1.2.3",
                &["-enc", "a"],
                &[443],
                &["8.8.8.8"],
            ),
            (
                "",
                "",
                i64::MIN,
                -1,
                false,
                "::ffff:10.0.0.1",
                &[],
                &[],
                &[],
            ),
            (
                "ẞK",
                "ßk",
                i64::MAX,
                1,
                true,
                "fe80::1",
                &["ẞ", "ß", "K"],
                &[0, -1, i64::MIN],
                &["::1", "10.0.0.1", "::ffff:8.8.8.8"],
            ),
            (
                "abcdefgh",
                "abcdefghij",
                -7,
                2,
                false,
                "0.0.0.0",
                &["abcdefgh", "", "x"],
                &[1, 2, 3],
                &["0.0.0.0"],
            ),
            (
                "İi",
                "i̇",
                0,
                0,
                true,
                "192.168.1.1",
                &["é", "É"],
                &[7],
                &["192.168.0.1", "fe80::2"],
            ),
            (
                "a\\b/c.d",
                "C:\\Wi",
                1000,
                3,
                false,
                "8.8.8.8",
                &["\\", "/"],
                &[443, 80],
                &[],
            ),
        ];
        for (i, (s1, s2, n1, n2, b1, ip1, args, ports, addrs)) in cases.iter().enumerate() {
            let mut b = EventBuilder::new(schema, ty).expect("type");
            b.set_str("s1", s1).expect("s1");
            if i % 2 == 0 {
                b.set_str("s2", s2).expect("s2");
            }
            b.set_int("n1", *n1).expect("n1");
            b.set_int("n2", *n2).expect("n2");
            b.set_bool("b1", *b1).expect("b1");
            b.set_ip("ip1", ip(ip1)).expect("ip1");
            if i % 3 == 0 {
                b.set_ip("ip2", ip("::ffff:10.1.2.3")).expect("ip2");
            }
            b.start_list("args").expect("args");
            for a in *args {
                b.push_item("args", a).expect("arg");
            }
            b.start_list("ports").expect("ports");
            for p in *ports {
                b.push_int_item("ports", *p).expect("port");
            }
            b.start_list("addrs").expect("addrs");
            for a in *addrs {
                b.push_ip_item("addrs", ip(a)).expect("addr");
            }
            if i == 3 {
                b.mark_truncated("s1").expect("mark");
            }
            out.push(b.finish());
        }
    }
    out
}

/// Builds a program of the rules `build` adds on both event types, and checks agreement.
fn check(build: impl FnOnce(&mut Prog)) {
    let schema = schema();
    let events = events(&schema);
    let mut p = Prog::with_schema(schema);
    build(&mut p);
    let verified = p.verify();
    let (n, trues) = assert_agree(&verified, &events);
    // The events must tell outcomes apart: not all false, and (but for constant rules) not
    // all true.
    assert!(n > 0 && trues > 0, "{trues} of {n} true");
    eprintln!("{trues} of {n} evaluations true");
}

const BOTH: &[&str] = &["ev", "ev2"];

#[test]
fn constants_and_no_condition() {
    check(|p| {
        p.rule("t", BOTH, |_, rb| Some(rb.bool(true)));
        p.rule("f", BOTH, |_, rb| Some(rb.bool(false)));
        p.rule("none", BOTH, |_, _| None);
        p.rule("int_eq", BOTH, |_, rb| {
            let a = rb.int(i64::MIN);
            let b = rb.int(i64::MIN);
            Some(rb.e(Ty::BOOL, ExprKind::Cmp(CmpOp::Eq, a, b)))
        });
    });
}

#[test]
fn field_reads_exists_and_truncated() {
    check(|p| {
        for name in [
            "s1", "s2", "n1", "b1", "ip1", "ip2", "args", "ports", "addrs",
        ] {
            p.rule(&format!("exists_{name}"), BOTH, |p, rb| {
                let (f, _) = p.field("ev", name);
                Some(rb.e(Ty::BOOL, ExprKind::Exists(f)))
            });
        }
        p.rule("truncated_s1", BOTH, |p, rb| {
            let (f, _) = p.field("ev", "s1");
            Some(rb.e(Ty::BOOL, ExprKind::Truncated(f)))
        });
        p.rule("bool_field", BOTH, |p, rb| Some(field(p, rb, "ev", "b1")));
    });
}

#[test]
fn not_and_or_short_circuit() {
    check(|p| {
        p.rule("and_or", BOTH, |p, rb| {
            let b = field(p, rb, "ev", "b1");
            let nb = rb.e(Ty::BOOL, ExprKind::Not(b));
            let (f, _) = p.field("ev", "s2");
            let ex = rb.e(Ty::BOOL, ExprKind::Exists(f));
            let and = rb.e(Ty::BOOL, ExprKind::And(vec![nb, ex, b]));
            let or = rb.e(Ty::BOOL, ExprKind::Or(vec![and, ex]));
            let empty_and = rb.e(Ty::BOOL, ExprKind::And(vec![]));
            let empty_or = rb.e(Ty::BOOL, ExprKind::Or(vec![]));
            let x = rb.e(Ty::BOOL, ExprKind::Or(vec![empty_or, or]));
            Some(rb.e(Ty::BOOL, ExprKind::And(vec![empty_and, x, b, b])))
        });
    });
}

#[test]
fn arithmetic_wraps_and_never_traps() {
    let ops = [
        ArithOp::Add,
        ArithOp::Sub,
        ArithOp::Mul,
        ArithOp::Div,
        ArithOp::Rem,
    ];
    check(|p| {
        for (i, op) in ops.into_iter().enumerate() {
            for (j, rhs) in [None, Some(0i64), Some(-1), Some(i64::MIN), Some(3)]
                .into_iter()
                .enumerate()
            {
                for cmp in [CmpOp::Eq, CmpOp::Lt, CmpOp::Ge] {
                    p.rule(&format!("arith_{i}_{j}_{cmp:?}"), BOTH, |p, rb| {
                        let a = field(p, rb, "ev", "n1");
                        let b = match rhs {
                            Some(v) => rb.int(v),
                            None => field(p, rb, "ev", "n2"),
                        };
                        let r = rb.e(Ty::INT, ExprKind::Arith(op, a, b));
                        let neg = rb.e(Ty::INT, ExprKind::Neg(r));
                        let n2 = field(p, rb, "ev", "n2");
                        Some(rb.e(Ty::BOOL, ExprKind::Cmp(cmp, neg, n2)))
                    });
                }
            }
        }
        // i64::MIN / -1 and i64::MIN % -1 from constants.
        for op in [ArithOp::Div, ArithOp::Rem] {
            p.rule(&format!("min_{op:?}"), BOTH, |_, rb| {
                let a = rb.int(i64::MIN);
                let b = rb.int(-1);
                let r = rb.e(Ty::INT, ExprKind::Arith(op, a, b));
                let want = rb.int(if op == ArithOp::Div { i64::MIN } else { 0 });
                Some(rb.e(Ty::BOOL, ExprKind::Cmp(CmpOp::Eq, r, want)))
            });
        }
    });
}

#[test]
fn comparisons_of_every_scalar_type() {
    check(|p| {
        for cmp in [
            CmpOp::Eq,
            CmpOp::Ne,
            CmpOp::Lt,
            CmpOp::Le,
            CmpOp::Gt,
            CmpOp::Ge,
        ] {
            p.rule(&format!("int_{cmp:?}"), BOTH, |p, rb| {
                let a = field(p, rb, "ev", "n1");
                let b = field(p, rb, "ev", "n2");
                Some(rb.e(Ty::BOOL, ExprKind::Cmp(cmp, a, b)))
            });
        }
        for cmp in [CmpOp::Eq, CmpOp::Ne] {
            p.rule(&format!("str_{cmp:?}"), BOTH, |p, rb| {
                let a = field(p, rb, "ev", "s1");
                let b = field(p, rb, "ev", "s2");
                Some(rb.e(Ty::BOOL, ExprKind::Cmp(cmp, a, b)))
            });
            for lit in [
                "",
                "cmd.exe",
                "abcdefgh",
                "ẞK",
                "a\\b/c.d",
                "0123456789abcdef0123456789abcdef!",
            ] {
                p.rule(&format!("str_const_{cmp:?}_{lit}"), BOTH, |p, rb| {
                    let a = field(p, rb, "ev", "s1");
                    let b = str_const(p, rb, lit);
                    Some(rb.e(Ty::BOOL, ExprKind::Cmp(cmp, b, a)))
                });
            }
            p.rule(&format!("bool_{cmp:?}"), BOTH, |p, rb| {
                let a = field(p, rb, "ev", "b1");
                let b = rb.bool(true);
                Some(rb.e(Ty::BOOL, ExprKind::Cmp(cmp, a, b)))
            });
            for lit in ["10.1.2.3", "::ffff:10.1.2.3", "0.0.0.0", "::", "fe80::1"] {
                p.rule(&format!("ip_{cmp:?}_{lit}"), BOTH, |p, rb| {
                    let a = field(p, rb, "ev", "ip1");
                    let b = rb.ip(lit);
                    Some(rb.e(Ty::BOOL, ExprKind::Cmp(cmp, a, b)))
                });
            }
            p.rule(&format!("ip_fields_{cmp:?}"), BOTH, |p, rb| {
                let a = field(p, rb, "ev", "ip1");
                let b = field(p, rb, "ev", "ip2");
                Some(rb.e(Ty::BOOL, ExprKind::Cmp(cmp, a, b)))
            });
        }
    });
}

const OPS: [StrTest; 4] = [
    StrTest::Eq,
    StrTest::Contains,
    StrTest::StartsWith,
    StrTest::EndsWith,
];

#[test]
fn string_tests_folded_and_not() {
    check(|p| {
        for op in OPS {
            for fold in [false, true] {
                p.rule(&format!("fields_{op:?}_{fold}"), BOTH, |p, rb| {
                    let a = field(p, rb, "ev", "s1");
                    let b = field(p, rb, "ev", "s2");
                    Some(rb.e(
                        Ty::BOOL,
                        ExprKind::StrTest {
                            op,
                            fold,
                            lhs: a,
                            rhs: b,
                        },
                    ))
                });
                for lit in [
                    "", "c", "cmd", "exe", "ẞ", "ß", "k", "K", "abcdefgh", "İ", "i̇", "\\b/",
                ] {
                    p.rule(&format!("const_{op:?}_{fold}_{lit}"), BOTH, |p, rb| {
                        let a = field(p, rb, "ev", "s1");
                        let b = str_const(p, rb, lit);
                        Some(rb.e(
                            Ty::BOOL,
                            ExprKind::StrTest {
                                op,
                                fold,
                                lhs: a,
                                rhs: b,
                            },
                        ))
                    });
                    p.rule(&format!("const_lhs_{op:?}_{fold}_{lit}"), BOTH, |p, rb| {
                        let a = field(p, rb, "ev", "s1");
                        let b = str_const(p, rb, lit);
                        Some(rb.e(
                            Ty::BOOL,
                            ExprKind::StrTest {
                                op,
                                fold,
                                lhs: b,
                                rhs: a,
                            },
                        ))
                    });
                }
            }
        }
    });
}

#[test]
fn string_lists_any_all_including_empty() {
    check(|p| {
        let lists = [
            p.str_list(&[]),
            p.str_list(&["cmd", "EXE", "ẞ"]),
            p.str_list(&["", "a"]),
            p.str_list(&["k", "abcdefgh"]),
        ];
        for op in OPS {
            for fold in [false, true] {
                for quant in [Quant::Any, Quant::All] {
                    for (i, &list) in lists.iter().enumerate() {
                        p.rule(
                            &format!("strlist_{op:?}_{fold}_{quant:?}_{i}"),
                            BOTH,
                            |p, rb| {
                                let lhs = field(p, rb, "ev", "s1");
                                Some(rb.e(
                                    Ty::BOOL,
                                    ExprKind::StrList {
                                        op,
                                        fold,
                                        quant,
                                        lhs,
                                        list,
                                    },
                                ))
                            },
                        );
                    }
                }
            }
        }
    });
}

#[test]
fn membership_of_every_type() {
    check(|p| {
        let strs = p.str_list(&["cmd.exe", "ẞk", "", "abcdefgh"]);
        let empty = p.str_list(&[]);
        let ints = p.list(
            Scalar::Int,
            vec![Const::Int(7), Const::Int(i64::MIN), Const::Int(0)],
        );
        let ips = p.list(
            Scalar::Ip,
            vec![
                Const::Ip(ip("10.1.2.3")),
                Const::Ip(ip("::ffff:8.8.8.8")),
                Const::Ip(ip("fe80::1")),
            ],
        );
        let cidrs = p.list(
            Scalar::Cidr,
            vec![
                Const::Cidr(ip("10.0.0.0"), 8),
                Const::Cidr(ip("::ffff:192.168.0.0"), 112),
                Const::Cidr(ip("fe80::"), 10),
                Const::Cidr(ip("0.0.0.0"), 32),
            ],
        );
        for fold in [false, true] {
            for (i, list) in [strs, empty].into_iter().enumerate() {
                p.rule(&format!("str_in_{fold}_{i}"), BOTH, |p, rb| {
                    let lhs = field(p, rb, "ev", "s1");
                    let l = rb.e(Ty::List(Scalar::Str), ExprKind::List(list));
                    Some(rb.e(Ty::BOOL, ExprKind::Member { lhs, list: l, fold }))
                });
            }
            p.rule(&format!("str_in_field_{fold}"), BOTH, |p, rb| {
                let lhs = field(p, rb, "ev", "s2");
                let l = field(p, rb, "ev", "args");
                Some(rb.e(Ty::BOOL, ExprKind::Member { lhs, list: l, fold }))
            });
        }
        p.rule("int_in", BOTH, |p, rb| {
            let lhs = field(p, rb, "ev", "n1");
            let l = rb.e(Ty::List(Scalar::Int), ExprKind::List(ints));
            Some(rb.e(
                Ty::BOOL,
                ExprKind::Member {
                    lhs,
                    list: l,
                    fold: false,
                },
            ))
        });
        p.rule("int_in_field", BOTH, |p, rb| {
            let lhs = field(p, rb, "ev", "n1");
            let l = field(p, rb, "ev", "ports");
            Some(rb.e(
                Ty::BOOL,
                ExprKind::Member {
                    lhs,
                    list: l,
                    fold: false,
                },
            ))
        });
        for (name, list, ty) in [
            ("ip_in", ips, Scalar::Ip),
            ("ip_in_cidr", cidrs, Scalar::Cidr),
        ] {
            for f in ["ip1", "ip2"] {
                p.rule(&format!("{name}_{f}"), BOTH, |p, rb| {
                    let lhs = field(p, rb, "ev", f);
                    let l = rb.e(Ty::List(ty), ExprKind::List(list));
                    Some(rb.e(
                        Ty::BOOL,
                        ExprKind::Member {
                            lhs,
                            list: l,
                            fold: false,
                        },
                    ))
                });
            }
        }
        p.rule("ip_in_field", BOTH, |p, rb| {
            let lhs = field(p, rb, "ev", "ip1");
            let l = field(p, rb, "ev", "addrs");
            Some(rb.e(
                Ty::BOOL,
                ExprKind::Member {
                    lhs,
                    list: l,
                    fold: false,
                },
            ))
        });
    });
}

#[test]
fn regex_matches() {
    check(|p| {
        for pat in [
            r"a+b",
            r"(?i)cmd\.exe$",
            r"^$",
            r"\d{2,3}",
            r"(?i)ß",
            r"[^\\]+\.d",
            r"k",
        ] {
            p.rule(&format!("re_{pat}"), BOTH, |p, rb| {
                let lhs = field(p, rb, "ev", "s1");
                let regex = p.regex(pat);
                Some(rb.e(Ty::BOOL, ExprKind::Matches { lhs, regex }))
            });
        }
    });
}

#[test]
fn every_builtin() {
    check(|p| {
        for name in ["basename", "dirname", "extension", "lower", "upper"] {
            for (j, lit) in ["", "cmd.exe", "C:\\Windows\\", "a/b.c"]
                .into_iter()
                .enumerate()
            {
                p.rule(&format!("{name}_{j}"), BOTH, |p, rb| {
                    let call = p.builtin(name, &[Ty::STR]);
                    let a = field(p, rb, "ev", "s1");
                    let r = rb.e(
                        Ty::STR,
                        ExprKind::Call {
                            builtin: call,
                            args: vec![a],
                        },
                    );
                    let b = str_const(p, rb, lit);
                    let c = rb.e(
                        Ty::BOOL,
                        ExprKind::StrTest {
                            op: StrTest::Eq,
                            fold: false,
                            lhs: r,
                            rhs: b,
                        },
                    );
                    // And the result fed into a second call and a helper test.
                    let r2 = rb.e(
                        Ty::STR,
                        ExprKind::Call {
                            builtin: call,
                            args: vec![r],
                        },
                    );
                    let s2 = field(p, rb, "ev", "s2");
                    let d = rb.e(
                        Ty::BOOL,
                        ExprKind::StrTest {
                            op: StrTest::Contains,
                            fold: true,
                            lhs: s2,
                            rhs: r2,
                        },
                    );
                    Some(rb.e(Ty::BOOL, ExprKind::Or(vec![c, d])))
                });
            }
        }
        for k in [0i64, 1, 3, 7, 1000, 8000] {
            p.rule(&format!("entropy_{k}"), BOTH, |p, rb| {
                let call = p.builtin("entropy", &[Ty::STR]);
                let a = field(p, rb, "ev", "s1");
                let r = rb.e(
                    Ty::INT,
                    ExprKind::Call {
                        builtin: call,
                        args: vec![a],
                    },
                );
                let b = rb.int(k);
                Some(rb.e(Ty::BOOL, ExprKind::Cmp(CmpOp::Ge, r, b)))
            });
        }
        for (arg, ty) in [
            ("s1", Ty::STR),
            ("args", Ty::List(Scalar::Str)),
            ("ports", Ty::List(Scalar::Int)),
        ] {
            for k in [0i64, 1, 2, 3, 8] {
                p.rule(&format!("len_{arg}_{k}"), BOTH, |p, rb| {
                    let call = p.builtin("len", &[ty]);
                    let a = field(p, rb, "ev", arg);
                    let r = rb.e(
                        Ty::INT,
                        ExprKind::Call {
                            builtin: call,
                            args: vec![a],
                        },
                    );
                    let b = rb.int(k);
                    Some(rb.e(Ty::BOOL, ExprKind::Cmp(CmpOp::Eq, r, b)))
                });
            }
        }
        let list = p.str_list(&["a", "b"]);
        p.rule("len_const_list", BOTH, |p, rb| {
            let call = p.builtin("len", &[Ty::List(Scalar::Str)]);
            let a = rb.e(Ty::List(Scalar::Str), ExprKind::List(list));
            let r = rb.e(
                Ty::INT,
                ExprKind::Call {
                    builtin: call,
                    args: vec![a],
                },
            );
            let b = rb.int(2);
            Some(rb.e(Ty::BOOL, ExprKind::Cmp(CmpOp::Eq, r, b)))
        });
        for (j, (start, len)) in [
            (0i64, 2i64),
            (1, 100),
            (-5, 2),
            (10, 1),
            (1, -1),
            (i64::MIN, i64::MAX),
        ]
        .into_iter()
        .enumerate()
        {
            p.rule(&format!("substr_{j}"), BOTH, |p, rb| {
                let call = p.builtin("substr", &[Ty::STR, Ty::INT, Ty::INT]);
                let a = field(p, rb, "ev", "s1");
                let s = rb.int(start);
                let l = rb.int(len);
                let r = rb.e(
                    Ty::STR,
                    ExprKind::Call {
                        builtin: call,
                        args: vec![a, s, l],
                    },
                );
                let b = field(p, rb, "ev", "s2");
                Some(rb.e(
                    Ty::BOOL,
                    ExprKind::StrTest {
                        op: StrTest::StartsWith,
                        fold: false,
                        lhs: b,
                        rhs: r,
                    },
                ))
            });
        }
        p.rule("truncated_builtin", BOTH, |p, rb| {
            let call = p.builtin("truncated", &[Ty::STR]);
            let a = field(p, rb, "ev", "s1");
            Some(rb.e(
                Ty::BOOL,
                ExprKind::Call {
                    builtin: call,
                    args: vec![a],
                },
            ))
        });
    });
}

#[test]
fn quantifiers_over_list_fields_and_constants() {
    check(|p| {
        for quant in [Quant::Any, Quant::All] {
            p.rule(&format!("args_{quant:?}"), BOTH, |p, rb| {
                let list = field(p, rb, "ev", "args");
                let x = rb.e(Ty::STR, ExprKind::Local(LocalId(0)));
                let pat = str_const(p, rb, "ß");
                let body = rb.e(
                    Ty::BOOL,
                    ExprKind::StrTest {
                        op: StrTest::Contains,
                        fold: true,
                        lhs: x,
                        rhs: pat,
                    },
                );
                Some(rb.e(
                    Ty::BOOL,
                    ExprKind::Quant {
                        quant,
                        local: LocalId(0),
                        list,
                        body,
                    },
                ))
            });
            p.rule(&format!("ports_{quant:?}"), BOTH, |p, rb| {
                let list = field(p, rb, "ev", "ports");
                let x = rb.e(Ty::INT, ExprKind::Local(LocalId(0)));
                let n1 = field(p, rb, "ev", "n1");
                let body = rb.e(Ty::BOOL, ExprKind::Cmp(CmpOp::Le, x, n1));
                Some(rb.e(
                    Ty::BOOL,
                    ExprKind::Quant {
                        quant,
                        local: LocalId(0),
                        list,
                        body,
                    },
                ))
            });
            p.rule(&format!("addrs_{quant:?}"), BOTH, |p, rb| {
                let list = field(p, rb, "ev", "addrs");
                let x = rb.e(Ty::IP, ExprKind::Local(LocalId(0)));
                let ip1 = field(p, rb, "ev", "ip1");
                let body = rb.e(Ty::BOOL, ExprKind::Cmp(CmpOp::Ne, x, ip1));
                Some(rb.e(
                    Ty::BOOL,
                    ExprKind::Quant {
                        quant,
                        local: LocalId(0),
                        list,
                        body,
                    },
                ))
            });
            // Nested: any(a in args, all(b in args, len(a) >= len(b)) and a != s2).
            p.rule(&format!("nested_{quant:?}"), BOTH, |p, rb| {
                let call = p.builtin("len", &[Ty::STR]);
                let outer = field(p, rb, "ev", "args");
                let inner = field(p, rb, "ev", "args");
                let a = rb.e(Ty::STR, ExprKind::Local(LocalId(0)));
                let b = rb.e(Ty::STR, ExprKind::Local(LocalId(1)));
                let la = rb.e(
                    Ty::INT,
                    ExprKind::Call {
                        builtin: call,
                        args: vec![a],
                    },
                );
                let lb = rb.e(
                    Ty::INT,
                    ExprKind::Call {
                        builtin: call,
                        args: vec![b],
                    },
                );
                let ge = rb.e(Ty::BOOL, ExprKind::Cmp(CmpOp::Ge, la, lb));
                let all = rb.e(
                    Ty::BOOL,
                    ExprKind::Quant {
                        quant: Quant::All,
                        local: LocalId(1),
                        list: inner,
                        body: ge,
                    },
                );
                let s2 = field(p, rb, "ev", "s2");
                let ne = rb.e(Ty::BOOL, ExprKind::Cmp(CmpOp::Ne, a, s2));
                let body = rb.e(Ty::BOOL, ExprKind::And(vec![all, ne]));
                Some(rb.e(
                    Ty::BOOL,
                    ExprKind::Quant {
                        quant,
                        local: LocalId(0),
                        list: outer,
                        body,
                    },
                ))
            });
            let consts = p.str_list(&["cmd", "", "ẞ"]);
            let empty = p.str_list(&[]);
            for (i, l) in [consts, empty].into_iter().enumerate() {
                p.rule(&format!("const_{quant:?}_{i}"), BOTH, |p, rb| {
                    let list = rb.e(Ty::List(Scalar::Str), ExprKind::List(l));
                    let x = rb.e(Ty::STR, ExprKind::Local(LocalId(0)));
                    let s1 = field(p, rb, "ev", "s1");
                    let body = rb.e(
                        Ty::BOOL,
                        ExprKind::StrTest {
                            op: StrTest::StartsWith,
                            fold: true,
                            lhs: s1,
                            rhs: x,
                        },
                    );
                    Some(rb.e(
                        Ty::BOOL,
                        ExprKind::Quant {
                            quant,
                            local: LocalId(0),
                            list,
                            body,
                        },
                    ))
                });
            }
        }
    });
}

#[test]
fn shared_nodes_across_branches() {
    // One node read in several branches and inside and outside a loop: computed once per
    // dominating region, recomputed where it does not dominate.
    check(|p| {
        p.rule("shared", BOTH, |p, rb| {
            let call = p.builtin("lower", &[Ty::STR]);
            let s1 = field(p, rb, "ev", "s1");
            let low = rb.e(
                Ty::STR,
                ExprKind::Call {
                    builtin: call,
                    args: vec![s1],
                },
            );
            let pat = str_const(p, rb, "cmd");
            let t1 = rb.e(
                Ty::BOOL,
                ExprKind::StrTest {
                    op: StrTest::Contains,
                    fold: false,
                    lhs: low,
                    rhs: pat,
                },
            );
            let b1 = field(p, rb, "ev", "b1");
            let nb = rb.e(Ty::BOOL, ExprKind::Not(b1));
            let left = rb.e(Ty::BOOL, ExprKind::And(vec![b1, t1]));
            let right = rb.e(Ty::BOOL, ExprKind::And(vec![nb, t1]));
            let list = field(p, rb, "ev", "args");
            let x = rb.e(Ty::STR, ExprKind::Local(LocalId(0)));
            let body_t = rb.e(
                Ty::BOOL,
                ExprKind::StrTest {
                    op: StrTest::Eq,
                    fold: true,
                    lhs: x,
                    rhs: low,
                },
            );
            let body = rb.e(Ty::BOOL, ExprKind::Or(vec![body_t, t1]));
            let q = rb.e(
                Ty::BOOL,
                ExprKind::Quant {
                    quant: Quant::Any,
                    local: LocalId(0),
                    list,
                    body,
                },
            );
            Some(rb.e(Ty::BOOL, ExprKind::Or(vec![left, right, q, t1])))
        });
    });
}

#[test]
fn rules_on_two_event_types_read_each_types_slots() {
    let schema = schema();
    let mut p = Prog::with_schema(schema.clone());
    let r = p.rule("two", BOTH, |p, rb| {
        let a = field(p, rb, "ev", "s1");
        let b = str_const(p, rb, "x");
        Some(rb.e(Ty::BOOL, ExprKind::Cmp(CmpOp::Eq, a, b)))
    });
    let verified = p.verify();
    let jit = jit::compile(&verified).expect("compile");
    assert_eq!(jit.stats().functions, 2);
    for ty in ["ev", "ev2"] {
        let mut b = EventBuilder::new(&schema, ty).expect("type");
        b.set_str("s1", "x").expect("s1");
        b.set_str("s2", "y").expect("s2");
        assert_eq!(jit.eval(r, &b.finish()), Ok(true), "{ty}");
    }
}

#[test]
fn stateful_rules_are_not_compiled_and_evaluate_false() {
    let schema = schema();
    let mut p = Prog::with_schema(schema.clone());
    let single = p.rule("single", BOTH, |_, rb| Some(rb.bool(true)));
    let (user, _) = p.field("ev", "s1");
    let mut rb = Rb::default();
    let cond: ExprId = rb.bool(true);
    p.p.rules.push(vigil_runtime::ir::Rule {
        id: "th".into(),
        name: "th".into(),
        title: "th".into(),
        severity: vigil_runtime::ir::Severity::Low,
        shadow: false,
        meta: Vec::new(),
        exprs: rb.exprs,
        kind: vigil_runtime::ir::RuleKind::Threshold(vigil_runtime::ir::ThresholdDef {
            events: vec!["ev".into()],
            cond: Some(cond),
            counting: vigil_runtime::ir::Counting::Count,
            count: 3,
            within_ns: 1_000_000_000,
            key: vec![vec![user]],
            state: vigil_runtime::ir::StateDecl {
                capacity: 16,
                per_key: 3,
                capture_len: 0,
            },
        }),
        emit: Vec::new(),
        fields: Vec::new(),
    });
    let verified = p.verify();
    let jit = jit::compile(&verified).expect("compile");
    assert_eq!(jit.stats().rules, 1);
    assert_eq!(jit.stats().skipped, 1);
    let event = EventBuilder::new(&schema, "ev").expect("type").finish();
    assert_eq!(jit.eval(single, &event), Ok(true));
    assert_eq!(jit.eval(RuleId(1), &event), Ok(false));
}

#[test]
fn deepest_rules_the_verifier_allows_compile() {
    // The translator recurses once per level of the expression DAG; the verifier bounds that
    // height (`Limits::max_depth`, default 256). Chains of that height compile and agree.
    let depth = vigil_runtime::budget::Limits::default().max_depth as usize;
    check(|p| {
        p.rule("not_chain", BOTH, |p, rb| {
            let mut e = field(p, rb, "ev", "b1");
            for _ in 0..depth - 2 {
                e = rb.e(Ty::BOOL, ExprKind::Not(e));
            }
            Some(e)
        });
        p.rule("and_or_arith_chain", BOTH, |p, rb| {
            let mut n = field(p, rb, "ev", "n1");
            for i in 0..(depth - 4) / 2 {
                let k = rb.int(i as i64 - 3);
                n = rb.e(Ty::INT, ExprKind::Arith(ArithOp::Rem, n, k));
            }
            let zero = rb.int(0);
            let mut e = rb.e(Ty::BOOL, ExprKind::Cmp(CmpOp::Eq, n, zero));
            for i in 0..(depth - 4) / 2 {
                let b = field(p, rb, "ev", "b1");
                e = if i % 2 == 0 {
                    rb.e(Ty::BOOL, ExprKind::And(vec![b, e]))
                } else {
                    rb.e(Ty::BOOL, ExprKind::Or(vec![b, e]))
                };
            }
            Some(e)
        });
    });
}
