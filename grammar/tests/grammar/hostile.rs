//! Hostile input: every call must return (no panic, no stack overflow) in the default test
//! thread, with coded errors where the input is over a limit.

use proptest::prelude::*;
use vigil_grammar::ast::{ExprKind, Item};
use vigil_grammar::span::FileId;
use vigil_grammar::{
    parse, parse_bytes, parse_expr, ErrorCode, MAX_ERRORS, MAX_NESTING, MAX_SOURCE_BYTES,
};

const F: FileId = FileId(0);

fn in_rule(expr: &str) -> String {
    format!("rule r {{ on process_start when {expr} }}\nrule after {{ on x }}\n")
}

fn has(errors: &[vigil_grammar::SyntaxError], code: ErrorCode) -> bool {
    errors.iter().any(|e| e.code == code)
}

#[test]
fn ten_thousand_nested_parentheses() {
    let text = in_rule(&format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000)));
    let (file, errors) = parse(F, &text);
    assert!(has(&errors, ErrorCode::NestingTooDeep), "{errors:#?}");
    // One error about the nesting, not a cascade of consequences.
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(file.items.len() <= 2);
}

#[test]
fn ten_thousand_nested_brackets_and_braces() {
    for (open, close) in [("[", "]"), ("{", "}")] {
        let text = in_rule(&format!("{}{}", open.repeat(10_000), close.repeat(10_000)));
        let (_, errors) = parse(F, &text);
        assert!(has(&errors, ErrorCode::NestingTooDeep), "{errors:#?}");
    }
}

#[test]
fn nesting_within_the_limit_parses() {
    let depth = MAX_NESTING - 10;
    let text = in_rule(&format!("{}a{}", "(".repeat(depth), ")".repeat(depth)));
    let (file, errors) = parse(F, &text);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(file.items.len(), 2);
}

#[test]
fn ten_thousand_nots() {
    let text = in_rule(&format!("{}x", "not ".repeat(10_000)));
    let (_, errors) = parse(F, &text);
    assert!(has(&errors, ErrorCode::NestingTooDeep), "{errors:#?}");
    assert_eq!(errors.len(), 1, "{errors:#?}");
}

#[test]
fn ten_thousand_unary_minuses() {
    let text = in_rule(&format!("{}1 == 1", "- ".repeat(10_000)));
    let (_, errors) = parse(F, &text);
    assert!(has(&errors, ErrorCode::NestingTooDeep), "{errors:#?}");
    let (e, errors) = parse_expr(F, &format!("{}1", "-".repeat(10_000)));
    assert!(has(&errors, ErrorCode::NestingTooDeep));
    assert!(matches!(e.kind, ExprKind::Error));
}

#[test]
fn unary_runs_within_the_limit_parse_and_nest() {
    let (e, errors) = parse_expr(F, &format!("{}x", "not ".repeat(200)));
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(e.depth(), 201);
}

#[test]
fn deep_expression_drops_only_its_item() {
    // Each level adds `not`, `-` and a paren: under the lexer's bounds, too deep as a tree.
    let depth = 200;
    let body = format!("{}x{}", "not -(".repeat(depth), ")".repeat(depth));
    let text = in_rule(&body);
    let (file, errors) = parse(F, &text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].code, ErrorCode::NestingTooDeep);
    assert_eq!(file.items.len(), 1);
    let Item::Rule(r) = &file.items[0] else {
        panic!()
    };
    assert_eq!(r.name.name, "after");
    // The same through parse_expr.
    let (e, errors) = parse_expr(F, &body);
    assert!(has(&errors, ErrorCode::NestingTooDeep));
    assert!(matches!(e.kind, ExprKind::Error));
}

#[test]
fn long_or_chain_is_flat() {
    let n = 100_000;
    let chain = vec!["a"; n].join(" or ");
    let text = in_rule(&chain);
    let (file, errors) = parse(F, &text);
    assert!(errors.is_empty(), "{errors:?}");
    let Item::Rule(r) = &file.items[0] else {
        panic!()
    };
    let when = r.when.as_ref().expect("when");
    let ExprKind::Or(v) = &when.kind else {
        panic!("not an or")
    };
    assert_eq!(v.len(), n);
    assert_eq!(when.depth(), 2);
}

#[test]
fn long_and_chain_and_long_list() {
    let n = 100_000;
    let (e, errors) = parse_expr(F, &vec!["a == 1"; n].join(" and "));
    assert!(errors.is_empty());
    assert!(matches!(&e.kind, ExprKind::And(v) if v.len() == n));
    let (e, errors) = parse_expr(F, &format!("[{}]", vec!["\"x\""; n].join(", ")));
    assert!(errors.is_empty());
    assert!(matches!(&e.kind, ExprKind::List(v) if v.len() == n));
}

#[test]
fn ten_megabyte_file_parses() {
    let one = r#"
rule encoded_powershell_NNNN {
    meta { title: "Encoded PowerShell command line", severity: high, attack: ["T1059.001"] }
    on process_start
    when basename(image) iin ["powershell.exe", "pwsh.exe"]
     and command_line icontains any ["-enc ", "-encodedcommand", "-ec "] // comment
    emit "encoded PowerShell run by {user}: {command_line}"
}
"#;
    let mut text = String::with_capacity(10 * 1024 * 1024 + one.len());
    let mut count = 0;
    while text.len() < 10 * 1024 * 1024 {
        text.push_str(one);
        count += 1;
    }
    let (file, errors) = parse(F, &text);
    assert!(errors.is_empty(), "{:?}", errors.first());
    assert_eq!(file.items.len(), count);
}

#[test]
fn ten_megabytes_of_comments_strings_and_garbage() {
    let size = 10 * 1024 * 1024;
    let comments = "/* c */ // line\n".repeat(size / 16);
    let (file, errors) = parse(F, &comments);
    assert!(errors.is_empty() && file.items.is_empty());

    let string = format!("list x = [\"{}\"]", "a".repeat(size));
    let (file, errors) = parse(F, &string);
    assert!(errors.is_empty());
    assert_eq!(file.items.len(), 1);

    let closers = ")".repeat(size);
    let (_, errors) = parse(F, &closers);
    assert!(!errors.is_empty() && errors.len() <= MAX_ERRORS + 2);

    let commas = "list x = [".to_owned() + &", ".repeat(size / 2);
    let (_, errors) = parse(F, &commas);
    assert!(!errors.is_empty() && errors.len() <= MAX_ERRORS + 2);
    assert!(
        has(&errors, ErrorCode::TooManyErrors),
        "{:?}",
        errors.last()
    );

    let unknown = "§".repeat(size / 2);
    let (_, errors) = parse(F, &unknown);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, ErrorCode::UnknownCharacter);

    let unknown_spaced = "# ".repeat(size / 2);
    let (_, errors) = parse(F, &unknown_spaced);
    assert!(errors.len() <= MAX_ERRORS + 2);
}

#[test]
fn file_too_large() {
    let text = " ".repeat(MAX_SOURCE_BYTES + 1);
    let (file, errors) = parse(F, &text);
    assert!(file.items.is_empty());
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, ErrorCode::FileTooLarge);
    let (_, errors) = parse_bytes(F, text.as_bytes());
    assert_eq!(errors[0].code, ErrorCode::FileTooLarge);
}

#[test]
fn small_hostile_inputs() {
    for text in [
        "",
        "\"",
        "r#\"",
        "r#",
        "/*",
        "/* /* */",
        "`",
        "rule",
        "rule r {",
        "rule r { on",
        "rule r { on x when",
        "rule r { on x when (",
        "test t { x { a: ",
        "0x",
        "99999999999999999999999999",
        "\\",
        "\"\\u{",
        "\"\\u{FFFFFFFFFFFFFFFFFFFF}\"",
        "\u{0}",
        "rule r { on x when a == b == c == d }",
        "}}}}}}}",
        ")))))",
        "list list list",
        "fn fn fn (((",
    ] {
        let _ = parse(F, text);
        let _ = parse_expr(F, text);
    }
}

#[test]
fn invalid_utf8_and_empty_bytes() {
    let (file, errors) = parse_bytes(F, b"");
    assert!(file.items.is_empty() && errors.is_empty());
    let (_, errors) = parse_bytes(F, &[0xff; 1000]);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, ErrorCode::InvalidUtf8);
    assert_eq!(errors[0].span.start, 0);
    let (_, errors) = parse_bytes(F, b"rule r { on x }\xe2\x82");
    assert!(has(&errors, ErrorCode::InvalidUtf8));
}

/// Source text of tokens (and near-tokens) for token soups.
const PIECES: &[&str] = &[
    "list",
    "fn",
    "rule",
    "test",
    "meta",
    "on",
    "sequence",
    "by",
    "within",
    "when",
    "threshold",
    "count",
    "distinct",
    "emit",
    "fields",
    "at",
    "fires",
    "quiet",
    "and",
    "or",
    "not",
    "in",
    "iin",
    "matches",
    "any",
    "all",
    "exists",
    "true",
    "false",
    "ieq",
    "contains",
    "startswith",
    "endswith",
    "icontains",
    "istartswith",
    "iendswith",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    ";",
    ":",
    ".",
    "->",
    "=>",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "x",
    "image",
    "`A b`",
    "42",
    "0x1f",
    "18446744073709551616",
    "30s",
    "30sec",
    "\"s\"",
    "\"\\q\"",
    "r\"raw\"",
    "r#\"h\"#",
    "// c\n",
    "/* c */",
    "\"",
    "/*",
    "#",
    "é",
    "\n",
];

fn soup() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop::sample::select(PIECES), 0..200),
        any::<bool>(),
    )
        .prop_map(|(pieces, spaced)| pieces.join(if spaced { " " } else { "" }))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_return(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let (_, errors) = parse_bytes(F, &bytes);
        for e in &errors {
            prop_assert!(e.span.start <= e.span.end);
        }
    }

    #[test]
    fn token_soups_return(text in soup()) {
        let (_, errors) = parse(F, &text);
        for e in &errors {
            prop_assert!(e.span.start <= e.span.end);
            prop_assert!(e.span.end as usize <= text.len());
            prop_assert!(!e.message.is_empty());
        }
        prop_assert!(errors.len() <= MAX_ERRORS + 2);
        let _ = parse_expr(F, &text);
    }

    #[test]
    fn soups_inside_a_rule_return(text in soup()) {
        let wrapped = in_rule(&text);
        let _ = parse(F, &wrapped);
    }
}
