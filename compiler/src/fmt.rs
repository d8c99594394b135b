//! The formatter: prints an [`vigil_grammar::ast::File`] as canonical `.vgl` text.
//!
//! Input: a syntax tree (parsed, or built by a tool such as the Sigma importer); output: text
//! that parses back to the same tree (spans aside). It owns layout only: it never checks names,
//! types or the schema, and it drops comments (the tree has none). Layout:
//!
//! - four-space indents, one blank line between items, clauses in the order LANGUAGE.md fixes;
//! - an expression that fits in [`WIDTH`] columns stays on one line; a longer `and`/`or` chain
//!   puts one operand per line, the operator first, four columns deeper than its clause; a long
//!   list puts one item per line with a trailing comma;
//! - parentheses where precedence needs them, around an `and` inside an `or`, and around the
//!   operand of `not` unless it is atomic (`not exists(x)`, `not (a ieq b)`);
//! - strings holding a backslash print raw (`r"C:\Windows"`, `r#"say "hi""#`); other strings
//!   print with escapes; names that are keywords or not plain identifiers print in backticks.
//!
//! Recursion follows the tree, whose depth the parser bounds (`MAX_NESTING`); trees built by
//! tools must stay within the same bound.

use std::fmt::Write as _;

use vigil_grammar::ast::{
    BinOp, Expect, Expr, ExprKind, FieldPath, File, FnDecl, Ident, Item, ListDecl, Meta, MetaValue,
    Quantifier, RuleDecl, Sequence, StrLit, TestDecl, Threshold, ThresholdKind, Trigger, TypeExpr,
    UnOp,
};

/// The column limit a line is kept within where the layout allows it.
pub const WIDTH: usize = 100;

/// The words of the language that cannot be used as bare names.
const KEYWORDS: &[&str] = &[
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
];

/// Prints a whole file: its items in order, separated by one blank line, ending in a newline.
pub fn format_file(file: &File) -> String {
    let mut out = String::new();
    for (i, item) in file.items.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        match item {
            Item::List(l) => list_decl(&mut out, l),
            Item::Fn(f) => fn_decl(&mut out, f),
            Item::Rule(r) => rule_decl(&mut out, r),
            Item::Test(t) => test_decl(&mut out, t),
        }
    }
    out
}

/// Prints one expression on as many lines as it needs, continuation lines indented by
/// `indent` columns (the first line is not indented).
pub fn format_expr(e: &Expr, indent: usize) -> String {
    pretty(e, indent, 0)
}

/// Whether `name` can be written bare: an identifier that is not a keyword.
pub fn is_bare_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') && !KEYWORDS.contains(&name)
}

/// A name, in backticks when it cannot be written bare.
pub fn name(n: &str) -> String {
    if is_bare_name(n) {
        n.to_owned()
    } else {
        format!("`{n}`")
    }
}

fn ident(i: &Ident) -> String {
    name(&i.name)
}

/// A string literal for `value`: raw when it holds a backslash (and nothing a raw string cannot
/// hold), escaped otherwise.
pub fn string(value: &str) -> String {
    let control = value.chars().any(char::is_control);
    if value.contains('\\') && !control {
        // Enough `#`s that no `"###` inside the value closes the literal early.
        let mut hashes = 0;
        if value.contains('"') {
            hashes = 1;
            while value.contains(&format!("\"{}", "#".repeat(hashes))) {
                hashes += 1;
            }
        }
        let h = "#".repeat(hashes);
        return format!("r{h}\"{value}\"{h}");
    }
    let mut s = String::with_capacity(value.len() + 2);
    s.push('"');
    for c in value.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            '\0' => s.push_str("\\0"),
            c if c.is_control() => {
                let _ = write!(s, "\\u{{{:x}}}", u32::from(c));
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

fn str_lit(s: &StrLit) -> String {
    string(&s.value)
}

/// A duration in the largest unit that divides it exactly.
fn duration(nanos: u64) -> String {
    const MS: u64 = 1_000_000;
    const UNITS: [(u64, &str); 5] = [
        (86_400_000 * MS, "d"),
        (3_600_000 * MS, "h"),
        (60_000 * MS, "m"),
        (1000 * MS, "s"),
        (MS, "ms"),
    ];
    for (size, unit) in UNITS {
        if nanos >= size && nanos.is_multiple_of(size) {
            return format!("{}{unit}", nanos / size);
        }
    }
    // Below a millisecond: the grammar has no unit for it; round up so the window never shrinks.
    format!("{}ms", nanos.div_ceil(MS))
}

fn type_expr(t: &TypeExpr) -> String {
    match t {
        TypeExpr::Named(i) => ident(i),
        TypeExpr::List(inner, _) => format!("[{}]", type_expr(inner)),
    }
}

fn list_decl(out: &mut String, l: &ListDecl) {
    let head = match &l.ty {
        Some(t) => format!("list {}: {} = ", ident(&l.name), type_expr(t)),
        None => format!("list {} = ", ident(&l.name)),
    };
    let _ = writeln!(out, "{head}{}", pretty(&l.value, 0, head.len()));
}

fn fn_decl(out: &mut String, f: &FnDecl) {
    let params: Vec<String> = f
        .params
        .iter()
        .map(|p| format!("{}: {}", ident(&p.name), type_expr(&p.ty)))
        .collect();
    let _ = writeln!(
        out,
        "fn {}({}) -> {} {{",
        ident(&f.name),
        params.join(", "),
        type_expr(&f.ret)
    );
    let _ = writeln!(out, "    {}", pretty(&f.body, 8, 4));
    out.push_str("}\n");
}

fn meta(out: &mut String, m: &Meta) {
    out.push_str("    meta {\n");
    for e in &m.entries {
        let key = ident(&e.key);
        let _ = writeln!(
            out,
            "        {key}: {},",
            meta_value(&e.value, 8 + key.len() + 2)
        );
    }
    out.push_str("    }\n");
}

fn meta_value(v: &MetaValue, col: usize) -> String {
    match v {
        MetaValue::Str(s) => str_lit(s),
        MetaValue::Int(n, _) => n.to_string(),
        MetaValue::Bool(b, _) => b.to_string(),
        MetaValue::Word(w) => ident(w),
        MetaValue::List(items, _) => {
            let parts: Vec<String> = items.iter().map(|i| meta_value(i, 12)).collect();
            let flat = format!("[{}]", parts.join(", "));
            if col + flat.len() < WIDTH && !flat.contains('\n') {
                flat
            } else {
                let mut s = String::from("[\n");
                for p in parts {
                    let _ = writeln!(s, "            {p},");
                }
                s.push_str("        ]");
                s
            }
        }
    }
}

fn rule_decl(out: &mut String, r: &RuleDecl) {
    let _ = writeln!(out, "rule {} {{", ident(&r.name));
    if let Some(m) = &r.meta {
        meta(out, m);
    }
    match &r.trigger {
        Some(Trigger::On(types, _)) => {
            let names: Vec<String> = types.iter().map(ident).collect();
            let _ = writeln!(out, "    on {}", names.join(", "));
        }
        Some(Trigger::Sequence(s)) => sequence(out, s),
        None => {}
    }
    if let Some(w) = &r.when {
        let _ = writeln!(out, "    when {}", pretty(w, 8, 9));
    }
    if let Some(t) = &r.threshold {
        threshold(out, t);
    }
    if let Some(e) = &r.emit {
        let _ = writeln!(out, "    emit {}", str_lit(e));
    }
    if let Some(f) = &r.fields {
        let paths: Vec<String> = f.iter().map(field_path).collect();
        let _ = writeln!(out, "    fields [{}]", paths.join(", "));
    }
    out.push_str("}\n");
}

fn field_path(p: &FieldPath) -> String {
    let parts: Vec<String> = p.parts.iter().map(ident).collect();
    parts.join(".")
}

fn window(by: &[Ident], within: Option<u64>) -> String {
    let mut s = String::new();
    if !by.is_empty() {
        let names: Vec<String> = by.iter().map(ident).collect();
        let _ = write!(s, " by {}", names.join(", "));
    }
    if let Some(d) = within {
        let _ = write!(s, " within {}", duration(d));
    }
    s
}

fn sequence(out: &mut String, s: &Sequence) {
    let _ = writeln!(
        out,
        "    sequence{}{} {{",
        if s.any_order { " any order" } else { "" },
        window(&s.by, s.within.map(|d| d.nanos))
    );
    let width = s
        .steps
        .iter()
        .map(|st| ident(&st.name).len())
        .max()
        .unwrap_or(0);
    for st in &s.steps {
        let head = format!("{}:", ident(&st.name));
        let mut line = format!("        {head:<w$} {}", ident(&st.event), w = width + 1);
        if let Some(w) = &st.when {
            let col = line.len() + 6;
            let _ = write!(line, " when {}", pretty(w, 12, col));
        }
        let _ = writeln!(out, "{line}");
    }
    out.push_str("    }\n");
}

fn threshold(out: &mut String, t: &Threshold) {
    let kind = match &t.kind {
        ThresholdKind::Count(_) => "count".to_owned(),
        ThresholdKind::Distinct(f, _) => format!("distinct({})", ident(f)),
        ThresholdKind::Sum(f, _) => format!("sum({})", ident(f)),
        ThresholdKind::Avg(f, _) => format!("avg({})", ident(f)),
    };
    // `within D by K`, as LANGUAGE.md writes thresholds (sequences read `by K within D`).
    let mut line = format!("    threshold {kind} >= {}", t.count);
    if let Some(d) = t.within {
        let _ = write!(line, " within {}", duration(d.nanos));
    }
    if !t.by.is_empty() {
        let names: Vec<String> = t.by.iter().map(ident).collect();
        let _ = write!(line, " by {}", names.join(", "));
    }
    let _ = writeln!(out, "{line}");
}

fn test_decl(out: &mut String, t: &TestDecl) {
    let _ = writeln!(out, "test {} {{", ident(&t.rule));
    for c in &t.cases {
        let mut line = String::from("    ");
        if let Some(at) = c.at {
            let _ = write!(line, "at {} ", duration(at.nanos));
        }
        let fields: Vec<String> = c
            .fields
            .iter()
            .map(|(k, v)| format!("{}: {}", ident(k), flat(v)))
            .collect();
        let _ = write!(line, "{} {{ {} }}", ident(&c.event), fields.join(", "));
        match c.expect {
            Some((Expect::Fires(None), _)) => line.push_str(" => fires"),
            Some((Expect::Fires(Some(n)), _)) => {
                let _ = write!(line, " => fires {n}");
            }
            Some((Expect::Quiet, _)) => line.push_str(" => quiet"),
            None => {}
        }
        let _ = writeln!(out, "{line}");
    }
    out.push_str("}\n");
}

/// Binding strength, loosest first; an operand binding looser than its context is
/// parenthesised.
fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Or(_) => 1,
        ExprKind::And(_) => 2,
        ExprKind::Unary(UnOp::Not, _) => 3,
        ExprKind::Binary(op, _, _) => match op {
            BinOp::Add | BinOp::Sub => 5,
            BinOp::Mul | BinOp::Div | BinOp::Rem => 6,
            _ => 4,
        },
        ExprKind::StrAnyAll { .. } => 4,
        ExprKind::Unary(UnOp::Neg, _) => 7,
        _ => 8,
    }
}

/// The expression on one line.
fn flat(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Int(n) => n.to_string(),
        ExprKind::Str(s) => str_lit(s),
        ExprKind::List(items) => {
            let parts: Vec<String> = items.iter().map(flat).collect();
            format!("[{}]", parts.join(", "))
        }
        ExprKind::Name(i) => ident(i),
        ExprKind::Field(base, f) => format!("{}.{}", operand(base, 8), ident(f)),
        ExprKind::Call(f, args) => {
            let parts: Vec<String> = args.iter().map(flat).collect();
            format!("{}({})", ident(f), parts.join(", "))
        }
        ExprKind::Exists(x) => format!("exists({})", flat(x)),
        ExprKind::Unary(UnOp::Not, x) => format!("not {}", not_operand(x)),
        ExprKind::Unary(UnOp::Neg, x) => format!("-{}", operand(x, 8)),
        ExprKind::Binary(op, a, b) => {
            let p = prec(e);
            // Arithmetic is left-associative: the right operand needs parentheses at equal
            // strength; comparisons do not chain, so both sides need a stronger operand.
            let (lp, rp) = if p >= 5 { (p, p + 1) } else { (p + 1, p + 1) };
            format!("{} {} {}", operand(a, lp), op.as_str(), operand(b, rp))
        }
        ExprKind::StrAnyAll {
            op,
            quant,
            lhs,
            list,
        } => format!(
            "{} {} {} {}",
            operand(lhs, 5),
            op.as_str(),
            quant_word(*quant),
            flat(list)
        ),
        ExprKind::Quant {
            quant,
            binder,
            list,
            body,
        } => format!(
            "{}({} in {}, {})",
            quant_word(*quant),
            ident(binder),
            flat(list),
            flat(body)
        ),
        ExprKind::And(v) => join_flat(v, " and ", 3),
        // `and` inside `or` is parenthesised although precedence does not need it: readers
        // should not have to remember which binds tighter.
        ExprKind::Or(v) => join_flat(v, " or ", 3),
        // Error placeholders only come from recovery; print something that re-parses as an
        // error rather than silently changing meaning.
        ExprKind::Error => "(?)".to_owned(),
    }
}

fn join_flat(v: &[Expr], sep: &str, min: u8) -> String {
    let parts: Vec<String> = v.iter().map(|x| operand(x, min)).collect();
    parts.join(sep)
}

fn quant_word(q: Quantifier) -> &'static str {
    match q {
        Quantifier::Any => "any",
        Quantifier::All => "all",
    }
}

/// `e` on one line, parenthesised when it binds looser than `min`.
fn operand(e: &Expr, min: u8) -> String {
    if prec(e) < min {
        format!("({})", flat(e))
    } else {
        flat(e)
    }
}

fn not_operand(e: &Expr) -> String {
    if prec(e) >= 8 {
        flat(e)
    } else {
        format!("({})", flat(e))
    }
}

/// `e` laid out from column `col`, continuation lines at `indent`.
fn pretty(e: &Expr, indent: usize, col: usize) -> String {
    let one = flat(e);
    if col + one.len() <= WIDTH {
        return one;
    }
    let pad = " ".repeat(indent);
    match &e.kind {
        ExprKind::And(v) | ExprKind::Or(v) => {
            let (word, min) = if matches!(e.kind, ExprKind::And(_)) {
                ("and ", 3)
            } else {
                ("or ", 3)
            };
            let mut s = String::new();
            for (i, x) in v.iter().enumerate() {
                let start = if i == 0 {
                    col
                } else {
                    let _ = write!(s, "\n{pad}{word}");
                    indent + word.len()
                };
                s.push_str(&pretty_operand(x, min, indent, start));
            }
            s
        }
        ExprKind::Unary(UnOp::Not, x) if prec(x) < 8 => {
            format!("not {}", paren_block(x, indent, col + 4))
        }
        ExprKind::Binary(op, a, b) if matches!(b.kind, ExprKind::List(_)) => {
            let lhs = operand(a, 5);
            format!("{lhs} {} {}", op.as_str(), list_block(b, indent))
        }
        ExprKind::StrAnyAll {
            op,
            quant,
            lhs,
            list,
        } if matches!(list.kind, ExprKind::List(_)) => format!(
            "{} {} {} {}",
            operand(lhs, 5),
            op.as_str(),
            quant_word(*quant),
            list_block(list, indent)
        ),
        ExprKind::List(_) => list_block(e, indent),
        _ => one,
    }
}

/// An operand of an `and`/`or` chain laid out from `col`.
fn pretty_operand(x: &Expr, min: u8, indent: usize, col: usize) -> String {
    if prec(x) < min {
        paren_block(x, indent, col)
    } else {
        pretty(x, indent, col)
    }
}

/// `(x)` on one line if it fits, else `(`, `x` four columns deeper, `)` at `indent`.
fn paren_block(x: &Expr, indent: usize, col: usize) -> String {
    let one = flat(x);
    if col + one.len() + 2 <= WIDTH {
        return format!("({one})");
    }
    let inner = indent + 4;
    format!(
        "(\n{}{}\n{})",
        " ".repeat(inner),
        pretty(x, inner, inner),
        " ".repeat(indent)
    )
}

/// A list literal, one item per line, closing bracket at `indent`.
fn list_block(l: &Expr, indent: usize) -> String {
    let ExprKind::List(items) = &l.kind else {
        return flat(l);
    };
    let pad = " ".repeat(indent + 4);
    let mut s = String::from("[\n");
    for i in items {
        let _ = writeln!(s, "{pad}{},", flat(i));
    }
    s.push_str(&" ".repeat(indent));
    s.push(']');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_with_backslashes_print_raw() {
        assert_eq!(string(r"C:\Windows"), r#"r"C:\Windows""#);
        assert_eq!(string(r#"a\"b"#), r###"r#"a\"b"#"###);
        assert_eq!(string("say \"hi\""), r#""say \"hi\"""#);
        assert_eq!(string("a\\\nb"), r#""a\\\nb""#);
    }

    #[test]
    fn keywords_and_odd_names_print_in_backticks() {
        assert_eq!(name("count"), "`count`");
        assert_eq!(name("Threat Name"), "`Threat Name`");
        assert_eq!(name("image"), "image");
    }

    #[test]
    fn durations_use_the_largest_exact_unit() {
        assert_eq!(duration(30 * 1_000_000_000), "30s");
        assert_eq!(duration(90 * 1_000_000_000), "90s");
        assert_eq!(duration(3_600 * 1_000_000_000), "1h");
        assert_eq!(duration(500_000_000), "500ms");
    }

    #[test]
    fn formatting_round_trips_through_the_parser() {
        let src = "list xs = [\"a\", \"b\"]\n\nrule r {\n    meta {\n        title: \"t\",\n        severity: high,\n    }\n    on process_start\n    when image iendswith r\"\\x.exe\" and not (command_line icontains any [\"a\", \"b\"] or exists(user))\n}\n";
        let (file, errors) = vigil_grammar::parse(vigil_grammar::span::FileId(0), src);
        assert!(errors.is_empty(), "{errors:?}");
        let once = format_file(&file);
        let (again, errors) = vigil_grammar::parse(vigil_grammar::span::FileId(0), &once);
        assert!(errors.is_empty(), "{once}\n{errors:?}");
        assert_eq!(format_file(&again), once);
    }
}
