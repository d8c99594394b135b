//! Fixed cases of the IR text: exact output, parse errors with their positions, line items, the
//! explicit forms. The round trips over generated programs are in the runtime's integration tests
//! (`runtime/tests/runtime/ir_text_roundtrip.rs`), where the generator is.

use super::*;
use crate::ir::{ConstList, Expr, ExprKind, ListId, StrId, TemplatePart};
use crate::types::{Scalar, Ty};

const SMALL: &str = r#"schema endpoint 1.1
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
            "schema endpoint 1.1\nrule r\n  on process_start\n  %0 = cmp eq 5, %1 : bool",
            "4:15: no earlier node holds this constant: write its `%N`",
        ),
        (
            "schema endpoint 1.1\nrule r\n  on e\n  %1 = const 1 : int",
            "4:3: expected %0",
        ),
        (
            "schema endpoint 1.1\nrule r\n  on e\n  %0 = field e.f : int",
            "4:14: no field `e.f` in the field table (declare it: `field#N = e.f : TYPE`)",
        ),
        (
            "schema endpoint 1.1\nrule r\n  %0 = const true : bool",
            "2:1: the rule has no `on`, `threshold` or `sequence` line",
        ),
        (
            "schema endpoint 1.1\nrule r\n  on e\n  emit \"{%0\"",
            "4:8: a `{` without its `}` in the template",
        ),
        (
            "schema endpoint 1.1\nlist#1 = [1]",
            "2:13: list#1 is defined before list#0",
        ),
        (
            "schema endpoint 1.1\nrule r\n  on e\n  %0 = const list#0 [] : [int]",
            "4:21: an empty or mixed list names its item type: `list#N string []`",
        ),
        (
            "schema endpoint 1.1\nrule r\n  on e\n  %0 = const \"a\\q\" : string",
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
    let text = "schema endpoint 1.1 ; budget: max_rules = 1\n\
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
