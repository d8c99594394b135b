//! Round trips of the IR text (generated programs, then the same programs bent out of shape:
//! duplicate pool entries, ids out of range, odd names and templates) and parse errors.

use std::net::{IpAddr, Ipv6Addr};

use proptest::prelude::*;

use super::*;
use crate::ir::{
    BuiltinRef, CallId, CaptureId, Const, ConstList, Expr, ExprKind, ListId, LocalId, MetaValue,
    Program, RegexId, RuleKind, StrId, TemplatePart,
};
use crate::testgen::{endpoint, program_from_seed};
use crate::types::{Scalar, Ty};

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
                        kind: ExprKind::Cmp(crate::ir::CmpOp::Eq, ExprId(n), ExprId(n + 1)),
                    });
                }
                14 => {
                    let kind = match value % 8 {
                        0 => ExprKind::Str(StrId(value)),
                        1 => ExprKind::List(ListId(value)),
                        2 => ExprKind::Field(crate::ir::FieldRef(value)),
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
                    RuleKind::Sequence(s) => {
                        if let Some(step) = s.steps.first().cloned() {
                            s.steps.push(step);
                        }
                        s.captures.push(crate::ir::Capture {
                            step: 9,
                            field: crate::ir::FieldRef(value),
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
        round_trip(&program_from_seed(seed, endpoint()))?;
    }

    #[test]
    fn bent_programs_round_trip(
        seed in any::<u64>(),
        edits in prop::collection::vec((any::<u64>(), any::<u32>()), 1..6),
    ) {
        let mut program = program_from_seed(seed, endpoint());
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
        let text = print(&program_from_seed(seed, endpoint()));
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

const SMALL: &str = r#"schema endpoint 1.0
field#0 = process_start.image : string, max_len 98304
field#1 = process_start.args : [string], max_len 98304, max_items 64

rule encoded
  id: encoded
  title: encoded PowerShell
  severity: high
  meta attack = ["T1059.001"]
  on process_start
  %0 = field process_start.image : string
  %1 = const ".exe" : string
  %2 = str_test endswith fold %0, ".exe" : bool
  %3 = field process_start.args : [string]
  %4 = local $0 : string
  %5 = str_list eq fold any %4, list#0 ["-enc", "-e"] : bool
  %6 = quant any $0 in %3: %5 : bool
  %7 = call basename(%0) : string
  %8 = and %2, %6 : bool
  when %8
  emit "{%0} ran encoded"
  field image = %0
"#;

#[test]
fn the_module_example_prints_as_written() {
    let program = parse(SMALL).expect("parses");
    assert_eq!(program.strings, [".exe"]);
    assert_eq!(program.builtins[0].params, [Ty::STR]);
    assert_eq!(print(&program), SMALL);
}

#[test]
fn errors_have_a_line_and_a_column() {
    let cases = [
        ("", "1:1: expected `schema NAME MAJOR.MINOR`"),
        ("schema endpoint 1", "1:18: expected `.`"),
        (
            "schema endpoint 1.0\nrule r\n  on process_start\n  %0 = cmp eq 5, %1 : bool",
            "4:15: no earlier node holds this constant: write its `%N`",
        ),
        (
            "schema endpoint 1.0\nrule r\n  on e\n  %1 = const 1 : int",
            "4:3: expected %0",
        ),
        (
            "schema endpoint 1.0\nrule r\n  on e\n  %0 = field e.f : int",
            "4:14: no field `e.f` in the field table (declare it: `field#N = e.f : TYPE`)",
        ),
        (
            "schema endpoint 1.0\nrule r\n  %0 = const true : bool",
            "2:1: the rule has no `on`, `threshold` or `sequence` line",
        ),
        (
            "schema endpoint 1.0\nrule r\n  on e\n  emit \"{%0\"",
            "4:8: a `{` without its `}` in the template",
        ),
        (
            "schema endpoint 1.0\nlist#1 = [1]",
            "2:13: list#1 is defined before list#0",
        ),
        (
            "schema endpoint 1.0\nrule r\n  on e\n  %0 = const list#0 [] : [int]",
            "4:21: an empty or mixed list names its item type: `list#N string []`",
        ),
        (
            "schema endpoint 1.0\nrule r\n  on e\n  %0 = const \"a\\q\" : string",
            "4:18: unknown escape",
        ),
    ];
    for (text, want) in cases {
        match parse(text) {
            Ok(p) => panic!("{text:?} parsed: {p:?}"),
            Err(e) => assert_eq!(e.to_string(), want, "{text:?}"),
        }
    }
}

#[test]
fn lines_say_what_they_declare_and_keep_their_comments() {
    let text = "schema endpoint 1.0 ; budget: max_rules = 1\n\
                field#0 = process_start.pid : int\n\
                \n\
                rule r\n  on process_start\n  %0 = const true : bool ; error: E0404\n  when %0\n";
    let (_, lines) = parse_lines(text).expect("parses");
    let items: Vec<LineItem> = lines.iter().map(|l| l.item).collect();
    assert_eq!(
        items,
        [
            LineItem::Header,
            LineItem::Field(crate::ir::FieldRef(0)),
            LineItem::Blank,
            LineItem::Rule(crate::ir::RuleId(0)),
            LineItem::Rule(crate::ir::RuleId(0)),
            LineItem::Node(crate::ir::RuleId(0), ExprId(0)),
            LineItem::Rule(crate::ir::RuleId(0)),
            LineItem::Blank,
        ]
    );
    assert_eq!(lines[0].comment.as_deref(), Some("budget: max_rules = 1"));
    assert_eq!(lines[5].comment.as_deref(), Some("error: E0404"));
}

#[test]
fn odd_programs_use_the_explicit_forms_and_read_back() {
    let mut p = parse(SMALL).expect("parses");
    p.strings.push(".exe".into()); // a duplicate: named `str#1`
    p.fields.push(p.fields[0].clone()); // a duplicate: named `field#2`
    p.lists.push(ConstList {
        elem: Scalar::Str,
        items: Vec::new(),
    });
    let rule = &mut p.rules[0];
    rule.name = "two words; and more".into();
    rule.exprs.push(Expr {
        ty: Ty::STR,
        kind: ExprKind::Str(StrId(1)),
    });
    rule.exprs.push(Expr {
        ty: Ty::STR,
        kind: ExprKind::Field(crate::ir::FieldRef(2)),
    });
    rule.exprs.push(Expr {
        ty: Ty::List(Scalar::Str),
        kind: ExprKind::List(ListId(1)),
    });
    rule.emit = vec![
        TemplatePart::Lit("a".into()),
        TemplatePart::Lit(String::new()),
        TemplatePart::Lit("{b}".into()),
    ];
    let text = print(&p);
    for want in [
        "rule \"two words; and more\"",
        "%9 = const str#1 : string",
        "%10 = field field#2 : string",
        "%11 = const list#1 string [] : [string]",
        "emit \"a{}{}{{b}}\"",
    ] {
        assert!(text.contains(want), "{want} in\n{text}");
    }
    assert_eq!(parse(&text), Ok(p));
}
