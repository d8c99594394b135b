//! The printer: [`Program`] → IR text (the format is described in the module above). Never
//! panics, even on ill-formed programs: whatever the ids, it prints something that parses back
//! to the same program.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::ir::{
    ArithOp, CmpOp, Const, ConstList, Counting, Expr, ExprId, ExprKind, FieldRef, MetaValue,
    Program, Quant, Rule, RuleKind, StateDecl, StrTest, TemplatePart,
};
use crate::types::{Scalar, Ty};

/// How much to print of what a line refers to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    /// Items of a constant list printed before `… N more` (the text no longer parses when a
    /// list is cut); `None` prints every item.
    pub max_list_items: Option<usize>,
}

/// The whole program as text.
pub fn print(program: &Program) -> String {
    let style = Style::default();
    let mut rules = String::new();
    for rule in &program.rules {
        rules.push('\n');
        rule_text(program, rule, style, &mut rules);
    }
    let mut head = String::new();
    let _ = writeln!(
        head,
        "schema {} {}.{}",
        name(&program.schema.name),
        program.schema.major,
        program.schema.minor
    );
    for (i, f) in program.fields.iter().enumerate() {
        let _ = write!(
            head,
            "field#{i} = {}.{} : {}",
            name(&f.event),
            name(&f.field),
            f.ty
        );
        if f.max_len > 0 {
            let _ = write!(head, ", max_len {}", f.max_len);
        }
        if f.max_items > 0 {
            let _ = write!(head, ", max_items {}", f.max_items);
        }
        head.push('\n');
    }
    // Pools the rules imply (first use, in order) need no declaration: try without them.
    let trial = super::parse(&format!("{head}{rules}")).ok();
    let implied = |same: &dyn Fn(&Program) -> bool| trial.as_ref().is_some_and(same);
    if !implied(&|t| t.builtins == program.builtins) {
        for (i, b) in program.builtins.iter().enumerate() {
            let params: Vec<String> = b.params.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                head,
                "builtin#{i} = {}({}) -> {}",
                name(&b.name),
                params.join(", "),
                b.ret
            );
        }
    }
    if !implied(&|t| t.strings == program.strings) {
        for (i, s) in program.strings.iter().enumerate() {
            let _ = writeln!(head, "string#{i} = {}", quote(s));
        }
    }
    if !implied(&|t| t.lists == program.lists) {
        for (i, l) in program.lists.iter().enumerate() {
            let _ = writeln!(head, "list#{i} = {}", list_items(l, style));
        }
    }
    if !implied(&|t| t.regexes == program.regexes) {
        for (i, r) in program.regexes.iter().enumerate() {
            let _ = writeln!(head, "regex#{i} = {}", quote(r));
        }
    }
    head + &rules
}

/// One rule: name, id, title, severity, meta, shape, nodes, roots; two-space indented.
fn rule_text(program: &Program, rule: &Rule, style: Style, out: &mut String) {
    let _ = writeln!(out, "rule {}", raw(&rule.name));
    let _ = writeln!(out, "  id: {}", raw(&rule.id));
    let _ = writeln!(out, "  title: {}", raw(&rule.title));
    let _ = writeln!(
        out,
        "  severity: {}{}",
        rule.severity.as_str(),
        if rule.shadow { " (shadow)" } else { "" }
    );
    for (key, value) in &rule.meta {
        let _ = writeln!(out, "  meta {} = {}", name(key), meta_value(value));
    }
    let lines = shape_lines(program, rule)
        .into_iter()
        .chain(rule_node_lines(program, rule, style))
        .chain(root_lines(program, rule));
    for line in lines {
        let _ = writeln!(out, "  {line}");
    }
}

fn meta_value(v: &MetaValue) -> String {
    match v {
        MetaValue::Str(s) => quote(s),
        MetaValue::Int(i) => i.to_string(),
        MetaValue::Bool(b) => b.to_string(),
        MetaValue::List(items) => {
            let items: Vec<String> = items.iter().map(|s| quote(s)).collect();
            format!("[{}]", items.join(", "))
        }
    }
}

/// A string literal: Rust escapes, double quotes.
pub(super) fn quote(s: &str) -> String {
    format!("{s:?}")
}

/// Whether `s` can be written bare where a name is expected.
pub(super) fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A name: bare when an identifier, else quoted.
pub(super) fn name(s: &str) -> String {
    if is_ident(s) {
        s.to_owned()
    } else {
        quote(s)
    }
}

/// An alert field's output name: identifiers joined by dots are bare.
fn out_name(s: &str) -> String {
    if !s.is_empty() && s.split('.').all(is_ident) {
        s.to_owned()
    } else {
        quote(s)
    }
}

/// Text to the end of the line (rule names, ids, titles): bare unless it would not read back.
pub(super) fn raw(s: &str) -> String {
    let bare = !s.is_empty()
        && s.trim() == s
        && !s.contains('"')
        && !s.contains(';')
        && !s.chars().any(char::is_control);
    if bare {
        s.to_owned()
    } else {
        quote(s)
    }
}

/// A constant as written in lists and inline operands.
pub(super) fn konst(c: &Const) -> String {
    match c {
        Const::Bool(b) => b.to_string(),
        Const::Int(i) => i.to_string(),
        Const::Str(s) => quote(s),
        Const::Ip(ip) => ip.to_string(),
        Const::Cidr(ip, len) => format!("{ip}/{len}"),
    }
}

/// The item type a list's items imply: all of one type, or addresses and prefixes (`cidr`).
pub(super) fn implied_elem(items: &[Const]) -> Option<Scalar> {
    let of = |c: &Const| match c {
        Const::Bool(_) => Scalar::Bool,
        Const::Int(_) => Scalar::Int,
        Const::Str(_) => Scalar::Str,
        Const::Ip(_) => Scalar::Ip,
        Const::Cidr(..) => Scalar::Cidr,
    };
    let first = of(items.first()?);
    let mut elem = first;
    for c in items {
        match (elem, of(c)) {
            (a, b) if a == b => {}
            (Scalar::Ip | Scalar::Cidr, Scalar::Ip | Scalar::Cidr) => elem = Scalar::Cidr,
            _ => return None,
        }
    }
    Some(elem)
}

/// `[1, 2]`, or `string []` when the items do not imply the item type.
fn list_items(list: &ConstList, style: Style) -> String {
    let shown = style.max_list_items.unwrap_or(usize::MAX);
    let mut items: Vec<String> = list.items.iter().take(shown).map(konst).collect();
    if list.items.len() > shown {
        items.push(format!("… {} more", list.items.len() - shown));
    }
    let body = format!("[{}]", items.join(", "));
    if implied_elem(&list.items) == Some(list.elem) {
        body
    } else {
        format!("{} {body}", list.elem.name())
    }
}

/// `list#N [items]`, bare `list#N` when out of range.
fn list_ref(program: &Program, l: u32, style: Style) -> String {
    match program.lists.get(l as usize) {
        Some(list) => format!("list#{l} {}", list_items(list, style)),
        None => format!("list#{l}"),
    }
}

/// Whether `pool[id]` is the first entry equal to it (so it can be named by its content).
fn first_of<T: PartialEq>(pool: &[T], id: usize) -> bool {
    pool.get(id)
        .is_some_and(|v| pool.iter().position(|w| w == v) == Some(id))
}

/// A string constant: its text, or `str#N`.
fn string_ref(program: &Program, s: u32) -> String {
    if first_of(&program.strings, s as usize) {
        program
            .strings
            .get(s as usize)
            .map_or_else(String::new, |t| quote(t))
    } else {
        format!("str#{s}")
    }
}

/// Whether field entry `f` is the first with its event and field names.
fn field_is_first(program: &Program, f: FieldRef) -> bool {
    let Some(req) = program.fields.get(f.0 as usize) else {
        return false;
    };
    program
        .fields
        .iter()
        .position(|r| r.event == req.event && r.field == req.field)
        == Some(f.0 as usize)
}

/// `event.field`, or `field#N`.
pub(super) fn field_ref(program: &Program, f: FieldRef) -> String {
    match program.fields.get(f.0 as usize) {
        Some(req) if field_is_first(program, f) => {
            format!("{}.{}", name(&req.event), name(&req.field))
        }
        _ => format!("field#{}", f.0),
    }
}

/// A field on event type `event`: its short name when that names it, else [`field_ref`].
pub(super) fn field_short(program: &Program, f: FieldRef, event: Option<&str>) -> String {
    if let (Some(req), Some(event)) = (program.fields.get(f.0 as usize), event) {
        let first = program
            .fields
            .iter()
            .position(|r| r.event == event && r.field == req.field);
        if first == Some(f.0 as usize) {
            return name(&req.field);
        }
    }
    field_ref(program, f)
}

/// `30s`, `5m`, `250ms`: the largest unit that divides the window.
pub fn duration(ns: u64) -> String {
    const UNITS: [(u64, &str); 6] = [
        (86_400_000_000_000, "d"),
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1, "ns"),
    ];
    if ns == 0 {
        return "0s".to_owned();
    }
    for (unit, suffix) in UNITS {
        if ns.is_multiple_of(unit) {
            return format!("{}{suffix}", ns / unit);
        }
    }
    format!("{ns}ns")
}

fn state_decl(s: &StateDecl) -> String {
    format!(
        "capacity {}, per key {}, capture_len {}",
        s.capacity, s.per_key, s.capture_len
    )
}

fn keys(program: &Program, key: &[FieldRef], event: Option<&str>) -> String {
    let names: Vec<String> = key
        .iter()
        .map(|f| field_short(program, *f, event))
        .collect();
    format!("[{}]", names.join(", "))
}

/// A step by name, `step#N` when out of range or not the first of its name.
fn step_ref(rule: &Rule, step: u8) -> String {
    if let RuleKind::Sequence(seq) | RuleKind::SequenceAnyOrder(seq) = &rule.kind {
        if let Some(s) = seq.steps.get(usize::from(step)) {
            if seq.steps.iter().position(|t| t.name == s.name) == Some(usize::from(step)) {
                return name(&s.name);
            }
        }
    }
    format!("step#{step}")
}

/// `drop.target_filename`: a capture's step and field.
pub(super) fn capture_name(program: &Program, rule: &Rule, step: u8, field: FieldRef) -> String {
    let event = match &rule.kind {
        RuleKind::Sequence(seq) | RuleKind::SequenceAnyOrder(seq) => {
            seq.steps.get(usize::from(step)).map(|s| s.event.as_str())
        }
        _ => None,
    };
    format!(
        "{}.{}",
        step_ref(rule, step),
        field_short(program, field, event)
    )
}

/// The rule's shape: `on ...`, `threshold ...`, `sequence ...`, steps and captures.
pub fn shape_lines(program: &Program, rule: &Rule) -> Vec<String> {
    let events = |events: &[String]| {
        let names: Vec<String> = events.iter().map(|e| name(e)).collect();
        if names.is_empty() {
            "on".to_owned()
        } else {
            format!("on {}", names.join(", "))
        }
    };
    match &rule.kind {
        RuleKind::Single { events: evs, .. } => vec![events(evs)],
        RuleKind::Sequence(seq) | RuleKind::SequenceAnyOrder(seq) => {
            let mut v = vec![format!(
                "sequence {}within {} ({})",
                if matches!(rule.kind, RuleKind::SequenceAnyOrder(_)) {
                    "any order "
                } else {
                    ""
                },
                duration(seq.within_ns),
                state_decl(&seq.state)
            )];
            for step in &seq.steps {
                v.push(format!(
                    "step {}: {} by {}",
                    name(&step.name),
                    name(&step.event),
                    keys(program, &step.key, Some(&step.event))
                ));
            }
            for (i, c) in seq.captures.iter().enumerate() {
                v.push(format!(
                    "capture #{i} = {}",
                    capture_name(program, rule, c.step, c.field)
                ));
            }
            v
        }
        RuleKind::Threshold(t) => {
            let first = t.events.first().map(String::as_str);
            let counting = match t.counting {
                Counting::Count => "count".to_owned(),
                Counting::Distinct(f) => format!("distinct({})", field_short(program, f, first)),
                Counting::Sum(f) => format!("sum({})", field_short(program, f, first)),
                Counting::Avg(f) => format!("avg({})", field_short(program, f, first)),
            };
            let by = if t.key.is_empty() {
                String::new()
            } else {
                let lists: Vec<String> = t
                    .key
                    .iter()
                    .enumerate()
                    .map(|(i, k)| keys(program, k, t.events.get(i).map(String::as_str)))
                    .collect();
                format!(" by {}", lists.join(" | "))
            };
            vec![
                events(&t.events),
                format!(
                    "threshold {counting} >= {} within {}{by} ({})",
                    t.count,
                    duration(t.within_ns),
                    state_decl(&t.state)
                ),
            ]
        }
    }
}

/// The scalar constant a node holds when it can be written inline: at its own type, and a
/// string only when named by its text.
fn inline_const(program: &Program, expr: &Expr, strings: bool) -> Option<String> {
    match (&expr.kind, expr.ty) {
        (ExprKind::Bool(b), Ty::BOOL) => Some(b.to_string()),
        (ExprKind::Int(i), Ty::INT) => Some(i.to_string()),
        (ExprKind::Ip(ip), Ty::IP) => Some(ip.to_string()),
        (ExprKind::Str(s), Ty::STR) if strings && first_of(&program.strings, s.0 as usize) => {
            Some(string_ref(program, s.0))
        }
        _ => None,
    }
}

/// Operands of the nodes before some point: an inline constant stands for the last node
/// holding it so far.
struct Operands<'a> {
    program: &'a Program,
    rule: &'a Rule,
    last: HashMap<&'a Expr, u32>,
}

impl<'a> Operands<'a> {
    fn new(program: &'a Program, rule: &'a Rule) -> Operands<'a> {
        Operands {
            program,
            rule,
            last: HashMap::new(),
        }
    }

    /// Nodes `..n` are now before the point.
    fn advance(&mut self, n: usize) {
        if let Some(expr) = self.rule.exprs.get(n) {
            if inline_const(self.program, expr, true).is_some() {
                self.last.insert(expr, u32::try_from(n).unwrap_or(u32::MAX));
            }
        }
    }

    fn show(&self, id: ExprId, strings: bool) -> String {
        if let Some(expr) = self.rule.expr(id) {
            if self.last.get(expr) == Some(&id.0) {
                if let Some(text) = inline_const(self.program, expr, strings) {
                    return text;
                }
            }
        }
        format!("%{}", id.0)
    }
}

/// One line per node, in id order: `%3 = str_test contains fold %1, "x" : bool`.
pub fn rule_node_lines(program: &Program, rule: &Rule, style: Style) -> Vec<String> {
    let mut ops = Operands::new(program, rule);
    let mut out = Vec::with_capacity(rule.exprs.len());
    for (n, expr) in rule.exprs.iter().enumerate() {
        out.push(format!(
            "%{n} = {} : {}",
            node_body(&ops, expr, style),
            expr.ty
        ));
        ops.advance(n);
    }
    out
}

fn str_test(op: StrTest) -> &'static str {
    match op {
        StrTest::Eq => "eq",
        StrTest::Contains => "contains",
        StrTest::StartsWith => "startswith",
        StrTest::EndsWith => "endswith",
    }
}

fn quant(q: Quant) -> &'static str {
    match q {
        Quant::Any => "any",
        Quant::All => "all",
    }
}

fn fold(f: bool) -> &'static str {
    if f {
        " fold"
    } else {
        ""
    }
}

fn arith(op: ArithOp) -> &'static str {
    match op {
        ArithOp::Add => "add",
        ArithOp::Sub => "sub",
        ArithOp::Mul => "mul",
        ArithOp::Div => "div",
        ArithOp::Rem => "rem",
    }
}

fn cmp(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "eq",
        CmpOp::Ne => "ne",
        CmpOp::Lt => "lt",
        CmpOp::Le => "le",
        CmpOp::Gt => "gt",
        CmpOp::Ge => "ge",
    }
}

fn node_body(ops: &Operands<'_>, expr: &Expr, style: Style) -> String {
    let program = ops.program;
    let rule = ops.rule;
    let a = |e: ExprId| ops.show(e, true);
    let list = |v: &[ExprId]| v.iter().map(|e| a(*e)).collect::<Vec<_>>().join(", ");
    match &expr.kind {
        ExprKind::Bool(b) => format!("const {b}"),
        ExprKind::Int(i) => format!("const {i}"),
        ExprKind::Str(s) => format!("const {}", string_ref(program, s.0)),
        ExprKind::Ip(ip) => format!("const {ip}"),
        ExprKind::List(l) => format!("const {}", list_ref(program, l.0, style)),
        ExprKind::Field(f) => format!("field {}", field_ref(program, *f)),
        ExprKind::Exists(f) => format!("exists {}", field_ref(program, *f)),
        ExprKind::Truncated(f) => format!("truncated {}", field_ref(program, *f)),
        ExprKind::Captured(c) => match &rule.kind {
            RuleKind::Sequence(seq) | RuleKind::SequenceAnyOrder(seq) => {
                match seq.captures.get(usize::from(c.0)) {
                    Some(cap) => format!(
                        "captured #{} {}",
                        c.0,
                        capture_name(program, rule, cap.step, cap.field)
                    ),
                    None => format!("captured #{}", c.0),
                }
            }
            _ => format!("captured #{}", c.0),
        },
        ExprKind::Local(l) => format!("local ${}", l.0),
        ExprKind::Not(e) => format!("not {}", a(*e)),
        ExprKind::Neg(e) => format!("neg {}", a(*e)),
        ExprKind::And(v) => format!("and {}", list(v)).trim_end().to_owned(),
        ExprKind::Or(v) => format!("or {}", list(v)).trim_end().to_owned(),
        ExprKind::Arith(op, x, y) => format!("{} {}, {}", arith(*op), a(*x), a(*y)),
        ExprKind::Cmp(op, x, y) => format!("cmp {} {}, {}", cmp(*op), a(*x), a(*y)),
        ExprKind::StrTest {
            op,
            fold: f,
            lhs,
            rhs,
        } => format!(
            "str_test {}{} {}, {}",
            str_test(*op),
            fold(*f),
            a(*lhs),
            a(*rhs)
        ),
        ExprKind::StrList {
            op,
            fold: f,
            quant: q,
            lhs,
            list: l,
        } => format!(
            "str_list {}{} {} {}, {}",
            str_test(*op),
            fold(*f),
            quant(*q),
            a(*lhs),
            list_ref(program, l.0, style)
        ),
        ExprKind::Member { lhs, list, fold: f } => {
            format!("member{} {}, {}", fold(*f), a(*lhs), a(*list))
        }
        ExprKind::Matches { lhs, regex } => {
            let pattern = program
                .regexes
                .get(regex.0 as usize)
                .map_or_else(String::new, |p| format!(" {}", quote(p)));
            format!("matches {}, regex#{}{pattern}", a(*lhs), regex.0)
        }
        ExprKind::Call { builtin, args } => {
            let i = usize::from(builtin.0);
            let callee = match program.builtins.get(i) {
                Some(b) if program.builtins.iter().position(|c| c.name == b.name) == Some(i) => {
                    name(&b.name)
                }
                _ => format!("builtin#{}", builtin.0),
            };
            format!("call {callee}({})", list(args))
        }
        ExprKind::Quant {
            quant: q,
            local,
            list,
            body,
        } => format!(
            "quant {} ${} in {}: {}",
            quant(*q),
            local.0,
            a(*list),
            a(*body)
        ),
    }
}

/// The roots: `when %5`, `step a when %3`, `emit "..."`, `field image = %1`.
pub fn root_lines(program: &Program, rule: &Rule) -> Vec<String> {
    let mut ops = Operands::new(program, rule);
    for n in 0..rule.exprs.len() {
        ops.advance(n);
    }
    let op = |e: ExprId| ops.show(e, false);
    let cond = |c: Option<ExprId>| c.map_or_else(|| "(always)".to_owned(), op);
    let mut v = Vec::new();
    match &rule.kind {
        RuleKind::Single { cond: c, .. } => v.push(format!("when {}", cond(*c))),
        RuleKind::Sequence(seq) | RuleKind::SequenceAnyOrder(seq) => {
            for step in &seq.steps {
                v.push(format!(
                    "step {} when {}",
                    name(&step.name),
                    cond(step.cond)
                ));
            }
        }
        RuleKind::Threshold(t) => v.push(format!("when {}", cond(t.cond))),
    }
    if !rule.emit.is_empty() {
        let mut text = String::new();
        for (i, part) in rule.emit.iter().enumerate() {
            match part {
                TemplatePart::Lit(s) => {
                    text.push_str(&s.replace('{', "{{").replace('}', "}}"));
                    let next_lit = matches!(rule.emit.get(i + 1), Some(TemplatePart::Lit(_)));
                    if s.is_empty() || next_lit {
                        text.push_str("{}");
                    }
                }
                TemplatePart::Expr(e) => {
                    let _ = write!(text, "{{{}}}", op(*e));
                }
            }
        }
        v.push(format!("emit {}", quote(&text)));
    }
    for (field, e) in &rule.fields {
        v.push(format!("field {} = {}", out_name(field), op(*e)));
    }
    v
}
