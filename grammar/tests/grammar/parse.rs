//! Parser tests: every construct of LANGUAGE.md, precedence, recovery, and each error code.

use vigil_grammar::ast::{
    self, BinOp, Expect, Expr, ExprKind, Item, MetaValue, Quantifier, StrOp, ThresholdKind,
    Trigger, TypeExpr, UnOp,
};
use vigil_grammar::span::FileId;
use vigil_grammar::{parse, parse_bytes, parse_expr, ErrorCode, SyntaxError};

const F: FileId = FileId(0);
const SECOND: u64 = 1_000_000_000;

/// Parses a file that must have no errors.
fn parse_ok(text: &str) -> ast::File {
    let (file, errors) = parse(F, text);
    assert!(errors.is_empty(), "unexpected errors: {errors:#?}");
    file
}

/// The codes of the errors of `text`.
fn codes(text: &str) -> Vec<ErrorCode> {
    parse(F, text).1.iter().map(|e| e.code).collect()
}

/// An S-expression for an expression, for compact assertions.
fn sexpr(e: &Expr) -> String {
    let list = |v: &[Expr]| v.iter().map(sexpr).collect::<Vec<_>>().join(" ");
    match &e.kind {
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Int(n) => n.to_string(),
        ExprKind::Str(s) => format!("{:?}", s.value),
        ExprKind::List(v) => format!("[{}]", list(v)),
        ExprKind::Name(n) => n.name.clone(),
        ExprKind::Field(b, f) => format!("(. {} {})", sexpr(b), f.name),
        ExprKind::Call(f, args) => format!("(call {} {})", f.name, list(args)),
        ExprKind::Exists(x) => format!("(exists {})", sexpr(x)),
        ExprKind::Unary(UnOp::Not, x) => format!("(not {})", sexpr(x)),
        ExprKind::Unary(UnOp::Neg, x) => format!("(neg {})", sexpr(x)),
        ExprKind::Binary(op, a, b) => format!("({} {} {})", op.as_str(), sexpr(a), sexpr(b)),
        ExprKind::And(v) => format!("(and {})", list(v)),
        ExprKind::Or(v) => format!("(or {})", list(v)),
        ExprKind::StrAnyAll {
            op,
            quant,
            lhs,
            list,
        } => format!(
            "({} {} {} {})",
            op.as_str(),
            quant_str(*quant),
            sexpr(lhs),
            sexpr(list)
        ),
        ExprKind::Quant {
            quant,
            binder,
            list,
            body,
        } => format!(
            "({} {} {} {})",
            quant_str(*quant),
            binder.name,
            sexpr(list),
            sexpr(body)
        ),
        ExprKind::Error => "ERR".to_owned(),
    }
}

fn quant_str(q: Quantifier) -> &'static str {
    match q {
        Quantifier::Any => "any",
        Quantifier::All => "all",
    }
}

fn expr(text: &str) -> String {
    let (e, errors) = parse_expr(F, text);
    assert!(errors.is_empty(), "{text}: {errors:#?}");
    sexpr(&e)
}

fn rule(file: &ast::File, i: usize) -> &ast::RuleDecl {
    match &file.items[i] {
        Item::Rule(r) => r,
        other => panic!("item {i} is not a rule: {other:?}"),
    }
}

fn test_decl(file: &ast::File, i: usize) -> &ast::TestDecl {
    match &file.items[i] {
        Item::Test(t) => t,
        other => panic!("item {i} is not a test: {other:?}"),
    }
}

fn slice<'a>(text: &'a str, e: &SyntaxError) -> &'a str {
    &text[e.span.start as usize..e.span.end as usize]
}

// ---------------------------------------------------------------------------------------------
// LANGUAGE.md examples

const FIRST_RULE: &str = r#"
list shells = ["powershell.exe", "pwsh.exe", "cmd.exe"]

rule encoded_powershell {
    meta {
        id: "8c1a2f3e-0d4b-4b2e-9a51-3f7c2b1d9e01",
        title: "Encoded PowerShell command line",
        severity: high,
        attack: ["T1059.001"],
        author: "detection team",
    }
    on process_start
    when basename(image) iin ["powershell.exe", "pwsh.exe"]
     and command_line icontains any ["-enc ", "-encodedcommand", "-ec "]
    emit "encoded PowerShell run by {user}: {command_line}"
}
"#;

#[test]
fn first_rule_parses() {
    let file = parse_ok(FIRST_RULE);
    assert_eq!(file.items.len(), 2);
    let Item::List(list) = &file.items[0] else {
        panic!("expected a list")
    };
    assert_eq!(list.name.name, "shells");
    assert!(list.ty.is_none());
    assert_eq!(
        sexpr(&list.value),
        r#"["powershell.exe" "pwsh.exe" "cmd.exe"]"#
    );

    let r = rule(&file, 1);
    assert_eq!(r.name.name, "encoded_powershell");
    let meta = r.meta.as_ref().expect("meta");
    let keys: Vec<&str> = meta.entries.iter().map(|e| e.key.name.as_str()).collect();
    assert_eq!(keys, ["id", "title", "severity", "attack", "author"]);
    assert!(matches!(&meta.entries[2].value, MetaValue::Word(w) if w.name == "high"));
    assert!(matches!(&meta.entries[3].value, MetaValue::List(v, _) if v.len() == 1));
    let Some(Trigger::On(types, _)) = &r.trigger else {
        panic!("expected on")
    };
    assert_eq!(types[0].name, "process_start");
    assert_eq!(
        sexpr(r.when.as_ref().expect("when")),
        r#"(and (iin (call basename image) ["powershell.exe" "pwsh.exe"]) (icontains any command_line ["-enc " "-encodedcommand" "-ec "]))"#
    );
    assert_eq!(
        r.emit.as_ref().expect("emit").value,
        "encoded PowerShell run by {user}: {command_line}"
    );
    assert!(r.threshold.is_none() && r.fields.is_none());
    // The rule's span covers `rule` to `}`.
    let span = r.span;
    assert!(FIRST_RULE[span.start as usize..span.end as usize].starts_with("rule encoded"));
    assert!(FIRST_RULE[span.start as usize..span.end as usize].ends_with('}'));
}

#[test]
fn lists_and_functions() {
    let text = r#"
list office_apps = ["winword.exe", "excel.exe", "powerpnt.exe", "outlook.exe"]
list private_nets: [cidr] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8",]

fn from_office(p: process_start) -> bool {
    basename(p.parent_image) iin office_apps
}
fn two(a: [string], b: int,) -> int { len(a) + b }
"#;
    let file = parse_ok(text);
    assert_eq!(file.items.len(), 4);
    let Item::List(l) = &file.items[1] else {
        panic!()
    };
    match &l.ty {
        Some(TypeExpr::List(inner, _)) => {
            assert!(matches!(&**inner, TypeExpr::Named(n) if n.name == "cidr"));
        }
        other => panic!("{other:?}"),
    }
    let Item::Fn(f) = &file.items[2] else {
        panic!()
    };
    assert_eq!(f.name.name, "from_office");
    assert_eq!(f.params.len(), 1);
    assert_eq!(f.params[0].name.name, "p");
    assert!(matches!(&f.ret, TypeExpr::Named(n) if n.name == "bool"));
    assert_eq!(
        sexpr(&f.body),
        "(iin (call basename (. p parent_image)) office_apps)"
    );
    let Item::Fn(f) = &file.items[3] else {
        panic!()
    };
    assert_eq!(f.params.len(), 2);
    assert!(matches!(&f.params[0].ty, TypeExpr::List(..)));
}

#[test]
fn sequence_rule() {
    let text = r#"
rule office_child_beacons {
    meta { title: "Office application spawns a process that connects out", severity: critical }
    sequence by pid within 30s {
        spawn:   process_start   when from_office(event)
        connect: network_connect when not (dest_ip in private_nets)
    }
    emit "{spawn.image} started by Office connected to {connect.dest_ip}:{connect.dest_port}"
}
"#;
    let file = parse_ok(text);
    let r = rule(&file, 0);
    let Some(Trigger::Sequence(seq)) = &r.trigger else {
        panic!("expected a sequence")
    };
    assert_eq!(seq.by.len(), 1);
    assert_eq!(seq.by[0].name, "pid");
    assert_eq!(seq.within.expect("within").nanos, 30 * SECOND);
    assert_eq!(seq.steps.len(), 2);
    assert_eq!(seq.steps[0].name.name, "spawn");
    assert_eq!(seq.steps[0].event.name, "process_start");
    assert_eq!(
        sexpr(seq.steps[0].when.as_ref().expect("when")),
        "(call from_office event)"
    );
    assert_eq!(
        sexpr(seq.steps[1].when.as_ref().expect("when")),
        "(not (in dest_ip private_nets))"
    );
}

#[test]
fn sequence_variants() {
    let text = r#"
rule a {
    sequence within 5m by pid, host {
        s1: process_start when dest_port == 443 and spawn.user != "SYSTEM",
        s2: network_connect;
        s3: file_create when true;
    }
}
rule b { sequence { x: process_start } }
"#;
    let file = parse_ok(text);
    let Some(Trigger::Sequence(seq)) = &rule(&file, 0).trigger else {
        panic!()
    };
    assert_eq!(seq.by.len(), 2);
    assert_eq!(seq.within.expect("within").nanos, 300 * SECOND);
    assert_eq!(seq.steps.len(), 3);
    assert!(seq.steps[1].when.is_none());
    let Some(Trigger::Sequence(seq)) = &rule(&file, 1).trigger else {
        panic!()
    };
    assert!(seq.by.is_empty() && seq.within.is_none());
}

#[test]
fn threshold_rules() {
    let text = r#"
rule password_spray {
    meta { title: "Many failed network logons from one address", severity: medium }
    on logon_failure
    when logon_type == 3
    threshold count >= 20 within 5m by source_ip
    emit "{source_ip}: 20 failed logons in 5 minutes"
}
rule t2 {
    on logon_failure
    threshold distinct(target_user) >= 10 by source_ip, workstation within 1h
}
rule t3 { on logon_failure threshold count >= 5 within 500ms }
"#;
    let file = parse_ok(text);
    let t = rule(&file, 0).threshold.as_ref().expect("threshold");
    assert!(matches!(t.kind, ThresholdKind::Count(_)));
    assert_eq!(t.count, 20);
    assert_eq!(
        &text[t.count_span.start as usize..t.count_span.end as usize],
        "20"
    );
    assert_eq!(t.within.expect("within").nanos, 300 * SECOND);
    assert_eq!(t.by[0].name, "source_ip");
    let t = rule(&file, 1).threshold.as_ref().expect("threshold");
    assert!(matches!(&t.kind, ThresholdKind::Distinct(f, _) if f.name == "target_user"));
    assert_eq!(t.by.len(), 2);
    assert_eq!(t.within.expect("within").nanos, 3600 * SECOND);
    let t = rule(&file, 2).threshold.as_ref().expect("threshold");
    assert!(t.by.is_empty());
    assert_eq!(t.within.expect("within").nanos, SECOND / 2);
}

#[test]
fn sum_and_avg_thresholds() {
    let text = r#"
rule s { on net threshold sum(bytes) >= 1000000 within 10m by src }
rule a { on net threshold avg(`sum`) >= 50 within 1m }
"#;
    let file = parse_ok(text);
    let t = rule(&file, 0).threshold.as_ref().expect("threshold");
    assert!(matches!(&t.kind, ThresholdKind::Sum(f, _) if f.name == "bytes"));
    assert_eq!(t.count, 1_000_000);
    let t = rule(&file, 1).threshold.as_ref().expect("threshold");
    assert!(matches!(&t.kind, ThresholdKind::Avg(f, _) if f.name == "sum"));
    // Any other word before `(FIELD)` is an error naming the aggregates.
    assert_eq!(
        codes("rule m { on net threshold max(bytes) >= 5 within 1m }"),
        vec![ErrorCode::UnexpectedToken]
    );
    // `sum` and `avg` stay usable as field names.
    parse_ok("rule f { on net when sum > 3 and avg == 1 }");
}

#[test]
fn sequence_any_order() {
    let text = "rule r { sequence any order by pid within 1m { a: x b: y } }\n\
                rule o { sequence by pid within 1m { a: x b: y } }";
    let file = parse_ok(text);
    let seq = |i| match rule(&file, i).trigger.as_ref() {
        Some(Trigger::Sequence(s)) => s.clone(),
        other => panic!("{other:?}"),
    };
    assert!(seq(0).any_order);
    assert_eq!(seq(0).steps.len(), 2);
    assert!(!seq(1).any_order);
    assert_eq!(
        codes("rule r { sequence any way by pid within 1m { a: x b: y } }"),
        vec![ErrorCode::UnexpectedToken]
    );
}

#[test]
fn multi_type_on_fields_and_keyword_meta_keys() {
    let text = r#"
rule r {
    meta { test: "x", fields: 3, by: -7, on: true, big: 18446744073709551615, l: [a, "b", 1,], }
    on file_create, file_modify, file_delete
    when `Threat Name` != "" and event.pid > 0
    emit "x"
    fields [image, spawn.image, `Threat Name`,]
}
"#;
    let file = parse_ok(text);
    let r = rule(&file, 0);
    let meta = r.meta.as_ref().expect("meta");
    let keys: Vec<&str> = meta.entries.iter().map(|e| e.key.name.as_str()).collect();
    assert_eq!(keys, ["test", "fields", "by", "on", "big", "l"]);
    assert!(matches!(meta.entries[2].value, MetaValue::Int(-7, _)));
    assert!(matches!(meta.entries[3].value, MetaValue::Bool(true, _)));
    assert!(matches!(meta.entries[4].value, MetaValue::Int(n, _) if n == i128::from(u64::MAX)));
    let Some(Trigger::On(types, _)) = &r.trigger else {
        panic!()
    };
    assert_eq!(types.len(), 3);
    let fields = r.fields.as_ref().expect("fields");
    assert_eq!(fields.len(), 3);
    assert_eq!(fields[1].parts.len(), 2);
    assert!(fields[2].parts[0].quoted);
    assert_eq!(fields[2].parts[0].name, "Threat Name");
    assert_eq!(
        sexpr(r.when.as_ref().expect("when")),
        r#"(and (!= Threat Name "") (> (. event pid) 0))"#
    );
}

#[test]
fn rule_without_when_and_empty_rule_body_parts() {
    let file = parse_ok("rule r { on process_start }");
    let r = rule(&file, 0);
    assert!(r.when.is_none() && r.meta.is_none() && r.emit.is_none());
}

#[test]
fn tests_blocks() {
    let text = r#"
test encoded_powershell {
    process_start { image: r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
                    command_line: "powershell -enc SQBFAFgA", user: "alice" } => fires
    process_start { image: r"C:\Windows\notepad.exe" } => quiet
}

test office_child_beacons {
    at 0s process_start   { pid: 7, parent_image: r"C:\Office\WINWORD.EXE", image: "x.exe" }
    at 4s network_connect { pid: 7, dest_ip: "8.8.8.8", dest_port: 443 } => fires
}

test other {
    process_start { `Threat Name`: "x", count: -7, args: ["a", "b"], in: true, } => fires 2,
    process_start {};
    process_start { pid: 0x1f }
}
"#;
    let file = parse_ok(text);
    let t = test_decl(&file, 0);
    assert_eq!(t.rule.name, "encoded_powershell");
    assert_eq!(t.cases.len(), 2);
    assert_eq!(t.cases[0].fields.len(), 3);
    assert_eq!(
        sexpr(&t.cases[0].fields[0].1),
        format!(
            "{:?}",
            r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
        )
    );
    assert_eq!(t.cases[0].expect.map(|e| e.0), Some(Expect::Fires(None)));
    assert_eq!(t.cases[1].expect.map(|e| e.0), Some(Expect::Quiet));
    assert!(t.cases[0].at.is_none());

    let t = test_decl(&file, 1);
    assert_eq!(t.cases[0].at.expect("at").nanos, 0);
    assert_eq!(t.cases[1].at.expect("at").nanos, 4 * SECOND);
    assert!(t.cases[0].expect.is_none());
    assert_eq!(t.cases[1].fields[2].0.name, "dest_port");

    let t = test_decl(&file, 2);
    assert_eq!(t.cases.len(), 3);
    let keys: Vec<&str> = t.cases[0]
        .fields
        .iter()
        .map(|f| f.0.name.as_str())
        .collect();
    assert_eq!(keys, ["Threat Name", "count", "args", "in"]);
    assert!(t.cases[0].fields[0].0.quoted);
    assert_eq!(sexpr(&t.cases[0].fields[1].1), "(neg 7)");
    assert_eq!(t.cases[0].expect.map(|e| e.0), Some(Expect::Fires(Some(2))));
    assert!(t.cases[1].fields.is_empty());
    assert_eq!(sexpr(&t.cases[2].fields[0].1), "31");
}

#[test]
fn comments_anywhere() {
    let text = "// leading\nrule /* here */ r { /* a /* nested */ b */ on x // trailing\n }";
    let file = parse_ok(text);
    assert_eq!(rule(&file, 0).name.name, "r");
}

#[test]
fn empty_and_blank_files() {
    assert!(parse_ok("").items.is_empty());
    assert!(parse_ok("  \n\t // just a comment\n /* and another */")
        .items
        .is_empty());
}

// ---------------------------------------------------------------------------------------------
// Expressions

#[test]
fn precedence_loosest_first() {
    assert_eq!(expr("a or b and c"), "(or a (and b c))");
    assert_eq!(expr("a and b or c and d"), "(or (and a b) (and c d))");
    assert_eq!(expr("not a and b"), "(and (not a) b)");
    assert_eq!(expr("not a == b"), "(not (== a b))");
    assert_eq!(expr("a == b + c * d"), "(== a (+ b (* c d)))");
    assert_eq!(expr("a - b - c"), "(- (- a b) c)");
    assert_eq!(expr("a / b % c"), "(% (/ a b) c)");
    assert_eq!(expr("-a * b"), "(* (neg a) b)");
    assert_eq!(expr("-7"), "(neg 7)");
    assert_eq!(expr("- -7"), "(neg (neg 7))");
    assert_eq!(expr("-x.y"), "(neg (. x y))");
    assert_eq!(expr("f(a).b.c"), "(. (. (call f a) b) c)");
    assert_eq!(expr("(a or b) and c"), "(and (or a b) c)");
    assert_eq!(expr("not not x"), "(not (not x))");
    assert_eq!(expr("a + b in [1, 2]"), "(in (+ a b) [1 2])");
}

#[test]
fn and_or_chains_are_flat() {
    assert_eq!(expr("a or b or c or d"), "(or a b c d)");
    assert_eq!(expr("a and b and c"), "(and a b c)");
    // Parentheses keep their grouping.
    assert_eq!(expr("(a or b) or c"), "(or (or a b) c)");
}

#[test]
fn comparison_operators() {
    for op in ["==", "!=", "<", "<=", ">", ">=", "in", "iin", "matches"] {
        assert_eq!(expr(&format!("a {op} b")), format!("({op} a b)"));
    }
    for op in [
        "ieq",
        "contains",
        "startswith",
        "endswith",
        "icontains",
        "istartswith",
        "iendswith",
    ] {
        assert_eq!(expr(&format!("a {op} b")), format!("({op} a b)"));
        assert_eq!(
            expr(&format!("a {op} any [\"x\", \"y\"]")),
            format!("({op} any a [\"x\" \"y\"])")
        );
        assert_eq!(
            expr(&format!("a {op} all names")),
            format!("({op} all a names)")
        );
    }
    let (e, _) = parse_expr(F, "a ieq b");
    assert!(matches!(
        e.kind,
        ExprKind::Binary(BinOp::Str(StrOp::Ieq), _, _)
    ));
}

#[test]
fn comparisons_do_not_associate() {
    let (_, errors) = parse_expr(F, "a == b == c");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, ErrorCode::UnexpectedToken);
}

#[test]
fn quantifiers_and_exists() {
    assert_eq!(
        expr(r#"any(a in args, a istartswith "-e")"#),
        r#"(any a args (istartswith a "-e"))"#
    );
    assert_eq!(
        expr("all(a in args, len(a) < 200)"),
        "(all a args (< (call len a) 200))"
    );
    assert_eq!(expr("exists(field)"), "(exists field)");
    assert_eq!(expr("exists(spawn.user)"), "(exists (. spawn user))");
    // `OP any(` after a string operator is a quantifier on the right-hand side.
    assert_eq!(
        expr("x contains any(a in l, a)"),
        "(contains x (any a l a))"
    );
}

#[test]
fn literals_in_expressions() {
    assert_eq!(expr("0x1f"), "31");
    assert_eq!(expr("18446744073709551615"), u64::MAX.to_string());
    assert_eq!(expr("-9223372036854775808"), "(neg 9223372036854775808)");
    assert_eq!(expr("true and false"), "(and true false)");
    assert_eq!(expr(r#""a\\b\n""#), format!("{:?}", "a\\b\n"));
    assert_eq!(expr(r#"r"C:\Windows""#), format!("{:?}", r"C:\Windows"));
    assert_eq!(expr(r###"r#"say "hi""#"###), format!("{:?}", r#"say "hi""#));
    assert_eq!(expr(r#""\u{48}\u{1F600}""#), format!("{:?}", "H\u{1F600}"));
    assert_eq!(expr("[]"), "[]");
    assert_eq!(expr("[1, [2], 3,]"), "[1 [2] 3]");
    assert_eq!(expr("`Threat Name`"), "Threat Name");
}

#[test]
fn string_literal_spans() {
    let text = r##"x == r#"abc"#"##;
    let (e, errors) = parse_expr(F, text);
    assert!(errors.is_empty());
    let ExprKind::Binary(_, _, rhs) = &e.kind else {
        panic!()
    };
    let ExprKind::Str(s) = &rhs.kind else {
        panic!()
    };
    assert_eq!(
        &text[s.span.start as usize..s.span.end as usize],
        r##"r#"abc"#"##
    );
    assert_eq!(s.content_offset, 3);
    assert!(s.verbatim);
    let b = s.span_of(1, 2);
    assert_eq!(&text[b.start as usize..b.end as usize], "b");
}

#[test]
fn expression_spans() {
    let text = "a and basename(image) iin list";
    let (e, _) = parse_expr(F, text);
    assert_eq!((e.span.start, e.span.end), (0, text.len() as u32));
    let ExprKind::And(v) = &e.kind else { panic!() };
    assert_eq!(
        &text[v[1].span.start as usize..v[1].span.end as usize],
        "basename(image) iin list"
    );
}

// ---------------------------------------------------------------------------------------------
// Errors and recovery

#[test]
fn recovery_reports_errors_in_several_items() {
    let text = r#"
rule a { on process_start when image == emit "x" }
rule b { on process_start when ) and x }
list l = [1, , 3]
rule c { on process_start when x }
fn f(a: int) -> int { a + }
test c { process_start { a 1, b: 2 } => fires }
"#;
    let (file, errors) = parse(F, text);
    assert!(errors.len() >= 5, "{errors:#?}");
    assert!(errors.iter().all(|e| matches!(
        e.code,
        ErrorCode::UnexpectedToken | ErrorCode::UnexpectedEof
    )));
    let names: Vec<String> = file
        .items
        .iter()
        .map(|i| match i {
            Item::Rule(r) => format!("rule {}", r.name.name),
            Item::List(l) => format!("list {}", l.name.name),
            Item::Fn(f) => format!("fn {}", f.name.name),
            Item::Test(t) => format!("test {}", t.rule.name),
        })
        .collect();
    // Every item survives, with error placeholders inside.
    assert_eq!(
        names,
        ["rule a", "rule b", "list l", "rule c", "fn f", "test c"]
    );
    let a = rule(&file, 0);
    assert_eq!(sexpr(a.when.as_ref().expect("when")), "(== image ERR)");
    assert!(a.emit.is_some());
    let Item::List(l) = &file.items[2] else {
        panic!()
    };
    assert_eq!(sexpr(&l.value), "[1 ERR 3]");
    assert!(rule(&file, 3).when.is_some());
    let t = test_decl(&file, 5);
    assert_eq!(t.cases.len(), 1);
    assert_eq!(t.cases[0].fields.len(), 1);
}

#[test]
fn expected_token_messages_are_friendly() {
    let text = "rule r { on process_start when x == 1 emit }";
    let (_, errors) = parse(F, text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].code, ErrorCode::UnexpectedToken);
    assert_eq!(errors[0].message, "expected string, found `}`");
    assert_eq!(slice(text, &errors[0]), "}");

    let (_, errors) = parse(F, "rule r { on x bogus }");
    assert!(
        errors[0].message.starts_with("expected one of ")
            && errors[0].message.contains("`when`")
            && errors[0].message.contains("`emit`")
            && errors[0].message.ends_with("found identifier `bogus`"),
        "{}",
        errors[0].message
    );

    let (_, errors) = parse(F, "rule r { on x when a == }");
    assert_eq!(errors[0].message, "expected expression, found `}`");
}

#[test]
fn unexpected_eof() {
    let (_, errors) = parse(F, "rule r { on x when a");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].code, ErrorCode::UnexpectedEof);
    assert!(errors[0]
        .message
        .starts_with("unexpected end of file, expected"));
}

#[test]
fn clause_order_duplicates_and_missing_trigger() {
    let text = "rule r { on x emit \"a\" when y }";
    let (file, errors) = parse(F, text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].code, ErrorCode::ClauseOutOfOrder);
    assert_eq!(slice(text, &errors[0]), "when");
    assert!(errors[0].message.contains("`when` must come before `emit`"));
    // The clause is still kept.
    assert!(rule(&file, 0).when.is_some());

    let text = "rule r { on x when a when b }";
    let (_, errors) = parse(F, text);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, ErrorCode::DuplicateClause);
    assert_eq!(errors[0].span.start, 21);

    let (_, errors) = parse(F, "rule r { on x sequence { a: b } }");
    assert_eq!(errors[0].code, ErrorCode::DuplicateClause);

    let text = "rule nothing { when x }";
    let (_, errors) = parse(F, text);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, ErrorCode::MissingTrigger);
    assert_eq!(slice(text, &errors[0]), "nothing");
}

#[test]
fn lexical_error_codes() {
    let cases: &[(&str, ErrorCode)] = &[
        ("rule r { on x when a # b }", ErrorCode::UnknownCharacter),
        ("rule r { on x emit \"abc }", ErrorCode::UnterminatedString),
        (
            "rule r { on x } /* never closed",
            ErrorCode::UnterminatedComment,
        ),
        (
            "rule r { on x emit \"C:\\Windows\" }",
            ErrorCode::InvalidEscape,
        ),
        (
            "rule r { on x when a == 18446744073709551616 }",
            ErrorCode::IntegerTooLarge,
        ),
        (
            "rule r { sequence within 30sec { a: b } }",
            ErrorCode::UnknownDurationUnit,
        ),
        (
            "rule r { on x when a == 0xZZ }",
            ErrorCode::InvalidHexLiteral,
        ),
        (
            "rule r { on x when `abc == 1 }",
            ErrorCode::InvalidQuotedName,
        ),
        (
            "rule r { on x emit \"\\u{D800}\" }",
            ErrorCode::InvalidUnicodeEscape,
        ),
    ];
    for (text, code) in cases {
        let found = codes(text);
        assert!(found.contains(code), "{text}: {found:?}");
    }
}

#[test]
fn bad_escape_error_points_at_escape() {
    let text = r#"rule r { on x when image == "C:\Windows\notepad.exe" }"#;
    let (file, errors) = parse(F, text);
    // `\W` is invalid; `\n` is a valid escape (a newline), which is why raw strings are advised.
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].code, ErrorCode::InvalidEscape);
    assert_eq!(slice(text, &errors[0]), "\\W");
    assert_eq!(
        errors[0].help.as_deref(),
        Some("use a raw string: r\"...\"")
    );
    // The rule is still there.
    assert_eq!(file.items.len(), 1);
}

#[test]
fn unknown_duration_unit_names_it() {
    let text = "rule r { on x threshold count >= 3 within 30sec }";
    let (_, errors) = parse(F, text);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, ErrorCode::UnknownDurationUnit);
    assert_eq!(errors[0].message, "unknown duration unit `sec`");
    assert_eq!(slice(text, &errors[0]), "sec");
}

#[test]
fn several_lexical_errors_are_all_reported() {
    let text =
        "rule r { on x when a § b }\nrule s { on x when c ¤¤ d }\nrule t { on x emit \"\\q\" }";
    let (_, errors) = parse(F, text);
    let lexical: Vec<_> = errors
        .iter()
        .filter(|e| e.code != ErrorCode::UnexpectedToken)
        .collect();
    assert_eq!(lexical.len(), 3, "{errors:#?}");
    assert_eq!(slice(text, lexical[0]), "§");
    // Adjacent unknown characters are one error.
    assert_eq!(slice(text, lexical[1]), "¤¤");
    assert_eq!(lexical[2].code, ErrorCode::InvalidEscape);
}

#[test]
fn unterminated_string_and_comment_at_eof() {
    let (_, errors) = parse(F, "rule r { on x emit \"abc");
    assert_eq!(errors[0].code, ErrorCode::UnterminatedString);
    assert_eq!(errors[0].span.start, 19);
    let (_, errors) = parse(F, "rule r { on x } /* a /* b */");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, ErrorCode::UnterminatedComment);
    let (_, errors) = parse(F, "\"");
    assert!(errors
        .iter()
        .any(|e| e.code == ErrorCode::UnterminatedString));
    let (_, errors) = parse(F, "r#\"");
    assert!(errors
        .iter()
        .any(|e| e.code == ErrorCode::UnterminatedString));
}

#[test]
fn invalid_utf8_is_one_error_at_first_bad_byte() {
    let mut bytes = b"rule r { on x when a == \"".to_vec();
    let at = bytes.len();
    bytes.extend_from_slice(&[0xff, 0xfe]);
    bytes.extend_from_slice(b"\" }\nrule s { on y ");
    bytes.push(0xc3);
    bytes.extend_from_slice(b" }");
    let (file, errors) = parse_bytes(F, &bytes);
    let utf8: Vec<_> = errors
        .iter()
        .filter(|e| e.code == ErrorCode::InvalidUtf8)
        .collect();
    assert_eq!(utf8.len(), 1, "{errors:#?}");
    assert_eq!(utf8[0].span.start as usize, at);
    assert_eq!(file.items.len(), 2, "{errors:#?}");
    assert!(!errors.iter().any(|e| e.code == ErrorCode::UnknownCharacter));
}

#[test]
fn valid_bytes_parse_like_text() {
    let (a, ea) = parse_bytes(F, FIRST_RULE.as_bytes());
    let (b, eb) = parse(F, FIRST_RULE);
    assert_eq!(a, b);
    assert_eq!(ea, eb);
}

#[test]
fn error_messages_follow_the_style() {
    let text = "rule r { on x when a # ) }\nrule s { on when }\nlist x = [\"\\q\"]";
    let (_, errors) = parse(F, text);
    assert!(!errors.is_empty());
    for e in &errors {
        assert!(!e.message.ends_with('.'), "{}", e.message);
        assert!(
            e.message.chars().next().is_some_and(|c| !c.is_uppercase()),
            "{}",
            e.message
        );
        assert!(!e.label.is_empty());
        assert!(e.span.start <= e.span.end);
        assert!((e.span.end as usize) <= text.len());
    }
    // Errors come back in source order.
    assert!(errors
        .windows(2)
        .all(|w| w[0].span.start <= w[1].span.start));
}

#[test]
fn project_example_rules_parse() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rules");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "vgl") {
            let bytes = std::fs::read(&path).expect("readable example");
            let (file, errors) = parse_bytes(F, &bytes);
            assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
            assert!(!file.items.is_empty());
        }
    }
}

#[test]
fn tokens_keep_comments_and_spans() {
    use vigil_grammar::token::Token;
    let text = "rule /* c */ r // d\n{ \"s\" 30s }";
    let (tokens, errors) = vigil_grammar::tokens(F, text);
    assert!(errors.is_empty());
    let shown: Vec<&str> = tokens
        .iter()
        .map(|(s, _)| &text[s.start as usize..s.end as usize])
        .collect();
    assert_eq!(
        shown,
        ["rule", "/* c */", "r", "// d", "{", "\"s\"", "30s", "}"]
    );
    assert_eq!(tokens[1].1, Token::Comment);
    assert!(tokens[0].1.is_keyword());
    assert_eq!(tokens[0].1.text(), Some("rule"));
    let (_, errors) = vigil_grammar::tokens(F, "a é b");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, ErrorCode::UnknownCharacter);
    assert_eq!((errors[0].span.start, errors[0].span.end), (2, 4));
}
