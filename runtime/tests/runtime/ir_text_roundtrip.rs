//! Round trips of the IR text (`vigil_runtime::ir_text`) over generated programs, then the same
//! programs bent out of shape (duplicate pool entries, ids out of range, odd names and
//! templates), and damaged text: a program or a positioned error, never a panic. The fixed
//! cases live beside the printer (`runtime/src/ir_text/tests.rs`); these need the generator of
//! `vigil-test-support`, which the runtime's unit tests cannot use.

use std::net::{IpAddr, Ipv6Addr};

use proptest::prelude::*;

use vigil_runtime::ir::{
    BuiltinRef, CallId, CaptureId, Const, ConstList, Expr, ExprId, ExprKind, ListId, LocalId,
    MetaValue, Program, RegexId, RuleKind, StrId, TemplatePart,
};
use vigil_runtime::ir_text::{parse, print};
use vigil_runtime::types::{Scalar, Ty};
use vigil_test_support::testgen::{endpoint_schema, program_from_seed};

fn round_trip(program: &Program) -> std::result::Result<(), TestCaseError> {
    let text = print(program);
    match parse(&text) {
        Ok(back) => {
            prop_assert_eq!(&back, program, "text:\n{}", text);
            prop_assert_eq!(print(&back), text);
        }
        Err(e) => prop_assert!(false, "{e}\ntext:\n{text}"),
    }
    Ok(())
}

/// One edit that makes a program odd but still printable: the printer must fall back to its
/// explicit forms (`str#N`, `field#N`, declared pools, quoted names) and still read back.
fn bend(program: &mut Program, pick: u64, value: u32) {
    let odd_names = ["", "a b", "x;y", "\"q\"", "é", "1st", "tab\there", "}{"];
    let odd = odd_names[(value as usize) % odd_names.len()].to_owned();
    match pick % 16 {
        0 => {
            let dup = program.strings.first().cloned().unwrap_or_default();
            program.strings.push(dup);
        }
        1 => {
            if let Some(f) = program.fields.first().cloned() {
                program.fields.push(f);
            }
        }
        2 => program.lists.push(ConstList {
            elem: Scalar::Str,
            items: Vec::new(),
        }),
        3 => program.lists.push(ConstList {
            elem: Scalar::Int,
            items: vec![
                Const::Str(odd),
                Const::Cidr(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
            ],
        }),
        4 => program.regexes.insert(0, odd),
        5 => program.builtins.push(BuiltinRef {
            name: odd,
            params: vec![Ty::List(Scalar::Cidr)],
            ret: Ty::BOOL,
        }),
        6 => program.schema.name = odd,
        _ => {
            let rules = program.rules.len() as u64;
            let Some(rule) = program.rules.get_mut(((pick >> 8) % rules.max(1)) as usize) else {
                return;
            };
            let n = rule.exprs.len() as u32;
            match pick % 16 {
                7 => rule.name = odd,
                8 => rule.title = odd,
                9 => rule.meta.push((odd.clone(), MetaValue::List(vec![odd]))),
                10 => {
                    rule.emit = vec![
                        TemplatePart::Lit(String::new()),
                        TemplatePart::Lit(odd),
                        TemplatePart::Expr(ExprId(value % (n + 2))),
                        TemplatePart::Lit("{}".into()),
                        TemplatePart::Lit(String::new()),
                    ]
                }
                11 => rule.fields.push((odd, ExprId(value % (n + 2)))),
                12 => rule.exprs.push(Expr {
                    ty: Ty::STR,
                    kind: ExprKind::Int(i64::from(value) - 7),
                }),
                13 => {
                    // A constant again, then a node reading it: the nearest one is meant.
                    rule.exprs.push(Expr {
                        ty: Ty::INT,
                        kind: ExprKind::Int(5),
                    });
                    rule.exprs.push(Expr {
                        ty: Ty::INT,
                        kind: ExprKind::Int(5),
                    });
                    rule.exprs.push(Expr {
                        ty: Ty::BOOL,
                        kind: ExprKind::Cmp(vigil_runtime::ir::CmpOp::Eq, ExprId(n), ExprId(n + 1)),
                    });
                }
                14 => {
                    let kind = match value % 8 {
                        0 => ExprKind::Str(StrId(value)),
                        1 => ExprKind::List(ListId(value)),
                        2 => ExprKind::Field(vigil_runtime::ir::FieldRef(value)),
                        3 => ExprKind::Captured(CaptureId(3)),
                        4 => ExprKind::Matches {
                            lhs: ExprId(n + 4),
                            regex: RegexId(value),
                        },
                        5 => ExprKind::Call {
                            builtin: CallId(9),
                            args: vec![ExprId(n + 1)],
                        },
                        6 => ExprKind::And(Vec::new()),
                        _ => ExprKind::Local(LocalId(7)),
                    };
                    rule.exprs.push(Expr { ty: Ty::BOOL, kind });
                }
                _ => match &mut rule.kind {
                    RuleKind::Single { events, cond } => {
                        events.clear();
                        *cond = Some(ExprId(value));
                    }
                    RuleKind::Threshold(t) => {
                        t.key.push(Vec::new());
                        t.events.push(odd);
                    }
                    RuleKind::Sequence(s) | RuleKind::SequenceAnyOrder(s) => {
                        if let Some(step) = s.steps.first().cloned() {
                            s.steps.push(step);
                        }
                        s.captures.push(vigil_runtime::ir::Capture {
                            step: 9,
                            field: vigil_runtime::ir::FieldRef(value),
                        });
                    }
                },
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn generated_programs_round_trip(seed in any::<u64>()) {
        round_trip(&program_from_seed(seed, endpoint_schema()))?;
    }

    #[test]
    fn bent_programs_round_trip(
        seed in any::<u64>(),
        edits in prop::collection::vec((any::<u64>(), any::<u32>()), 1..6),
    ) {
        let mut program = program_from_seed(seed, endpoint_schema());
        for (pick, value) in edits {
            bend(&mut program, pick, value);
        }
        round_trip(&program)?;
    }

    #[test]
    fn damaged_text_gives_a_program_or_an_error(
        seed in any::<u64>(),
        cut in any::<usize>(),
        byte in any::<u8>(),
    ) {
        let text = print(&program_from_seed(seed, endpoint_schema()));
        let mut bytes = text.into_bytes();
        let at = cut % bytes.len().max(1);
        if let Some(b) = bytes.get_mut(at) {
            *b = byte;
        }
        let damaged = String::from_utf8_lossy(&bytes);
        if let Err(e) = parse(&damaged) {
            prop_assert!(e.line >= 1 && e.column >= 1 && !e.message.is_empty());
        }
        let _ = parse(damaged.get(..at).unwrap_or(""));
    }
}
