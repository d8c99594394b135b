//! A readable dump of IR programs: per rule, its numbered nodes, its roots (conditions, steps,
//! `emit`, alert fields), its worst-case cost and state bytes, and the fields it reads.
//!
//! Input: an [`ir::Program`] and, when it has been verified, its [`CostReport`]
//! ([`explain_verified`]); output: an [`Explained`] value, rendered as text
//! ([`Explained::to_text`], what `vigil explain` prints and what the `tests/ir/` snapshots
//! pin) or JSON ([`Explained::to_json`]). Node numbers are arena ids, so `%7` here is the
//! `(node 7)` of a verifier error.
//!
//! One line per node: `%3 = str_test contains fold %1, "x" : bool`. Operands print as `%N`,
//! except scalar constants, which print inline (their own nodes are listed too). This module
//! never panics, even on an unverified program: an id out of range prints as `%N?`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;
use vigil_runtime::ir::{
    self, ArithOp, CmpOp, Counting, ExprId, ExprKind, FieldRef, Program, Quant, RuleKind, StrTest,
    TemplatePart,
};
use vigil_runtime::verify::{steps_to_ns, CostReport, LinearBound, Verified, TYPICAL_EVENT_BYTES};

/// Items of a constant list printed before `…`.
const LIST_ITEMS_SHOWN: usize = 8;

/// A whole program, explained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Explained {
    /// The schema the program was built against: `endpoint 1.0`.
    pub schema: String,
    /// Per rule, in program order.
    pub rules: Vec<RuleExplain>,
    /// Per event type that rules run on (only when a cost report was given).
    pub events: Vec<EventExplain>,
    /// Worst-case state bytes of the whole program (when a cost report was given).
    pub state_bytes: Option<u64>,
}

/// One rule, explained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleExplain {
    /// The rule id.
    pub id: String,
    /// The rule name.
    pub name: String,
    /// Its title.
    pub title: String,
    /// Its severity, as written in rules.
    pub severity: String,
    /// `single`, `sequence` or `threshold`.
    pub kind: String,
    /// Whether it is a shadow rule.
    pub shadow: bool,
    /// The event types it runs on.
    pub events: Vec<String>,
    /// The rule's shape: `on ...`, `sequence ...`, `threshold ...`, steps and captures.
    pub shape: Vec<String>,
    /// One line per node, in id order: `%3 = not %2 : bool`.
    pub nodes: Vec<String>,
    /// The roots: `when %5`, `step a: when %3`, `emit "..."`, `field image = %1`.
    pub roots: Vec<String>,
    /// Worst-case steps per event (the rule's residual; the prefilter is charged to the event
    /// type) at the largest event, when a cost report was given.
    pub cost_steps: Option<u64>,
    /// The rule's bound as a function of the event's size, when a cost report was given.
    pub bound: Option<BoundExplain>,
    /// Worst-case state bytes, when a cost report was given.
    pub state_bytes: Option<u64>,
    /// The fields it reads (expressions, keys, captures, distinct fields), each once.
    pub fields: Vec<FieldRead>,
}

/// A field a rule reads, with the bounds the program assumed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldRead {
    /// Event type.
    pub event: String,
    /// Field name.
    pub field: String,
    /// Type as written in rules.
    pub ty: String,
    /// Maximum bytes of a string (or of each list item); 0 for other types.
    pub max_len: u32,
    /// Maximum items of a list; 0 for scalars.
    pub max_items: u32,
}

/// A cost bound `base_steps + steps_per_byte x n` for an event of `n` input bytes, and what
/// it means in time with the calibrated constant ([`vigil_runtime::verify::PS_PER_STEP`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct BoundExplain {
    /// Steps whatever the event's size.
    pub base_steps: u64,
    /// Steps per input byte.
    pub steps_per_byte: u64,
    /// The schema's largest event (`max_event_bytes`).
    pub max_event_bytes: u64,
    /// The worst case at `max_event_bytes`, in steps.
    pub max_steps: u64,
    /// The bound at a typical event of 1 KiB, in nanoseconds.
    pub typical_ns: u64,
    /// The bound at `max_event_bytes`, in nanoseconds.
    pub max_ns: u64,
}

impl BoundExplain {
    /// From the verifier's bound.
    pub fn of(b: &LinearBound) -> BoundExplain {
        BoundExplain {
            base_steps: b.base_steps,
            steps_per_byte: b.steps_per_byte,
            max_event_bytes: b.max_event_bytes,
            max_steps: b.max(),
            typical_ns: steps_to_ns(b.at(TYPICAL_EVENT_BYTES)),
            max_ns: steps_to_ns(b.max()),
        }
    }

    /// `120 + 3 x n steps (1.2 µs at 1 KiB; 295.0 µs at 262144 bytes)`.
    pub fn to_text(&self) -> String {
        format!(
            "{} + {} x n steps ({} at 1 KiB; {} at {} bytes)",
            self.base_steps,
            self.steps_per_byte,
            show_ns(self.typical_ns),
            show_ns(self.max_ns),
            self.max_event_bytes
        )
    }
}

/// Nanoseconds as a person reads them: `850 ns`, `12.3 µs`, `4.1 ms`.
pub fn show_ns(ns: u64) -> String {
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else {
        format!("{:.1} s", ns as f64 / 1e9)
    }
}

/// One event type's worst case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventExplain {
    /// The event type.
    pub name: String,
    /// Its bound as a function of the event's size.
    pub bound: BoundExplain,
    /// The shared literal prefilter's steps.
    pub prefilter_steps: u64,
    /// Prefilter plus every rule's steps.
    pub total_steps: u64,
    /// The ids of the rules that run on it.
    pub rules: Vec<String>,
}

/// Explains a verified program, with its cost report.
pub fn explain_verified(verified: &Verified) -> Explained {
    explain(verified.program(), Some(verified.cost()))
}

/// Explains `program`; `cost` adds per-rule and per-event-type worst cases.
pub fn explain(program: &Program, cost: Option<&CostReport>) -> Explained {
    let rules = program
        .rules
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            let rc = cost.and_then(|c| c.rules.iter().find(|r| r.rule.0 as usize == i));
            RuleExplain {
                id: rule.id.clone(),
                name: rule.name.clone(),
                title: rule.title.clone(),
                severity: rule.severity.as_str().to_owned(),
                kind: match rule.kind {
                    RuleKind::Single { .. } => "single",
                    RuleKind::Sequence(_) => "sequence",
                    RuleKind::Threshold(_) => "threshold",
                }
                .to_owned(),
                shadow: rule.shadow,
                events: rule.event_types().into_iter().map(str::to_owned).collect(),
                shape: shape(program, rule),
                nodes: (0..rule.exprs.len())
                    .map(|n| node_line(program, rule, n))
                    .collect(),
                roots: roots(rule),
                cost_steps: rc.map(|r| r.steps),
                bound: rc.map(|r| BoundExplain::of(&r.bound)),
                state_bytes: rc.map(|r| r.state_bytes),
                fields: fields_read(rule)
                    .into_iter()
                    .map(|f| field_read(program, f))
                    .collect(),
            }
        })
        .collect();
    let events = cost.map_or_else(Vec::new, |c| {
        c.events
            .iter()
            .map(|e| EventExplain {
                name: e.name.clone(),
                bound: BoundExplain::of(&e.bound),
                prefilter_steps: e.prefilter_steps,
                total_steps: e.total_steps,
                rules: e
                    .rules
                    .iter()
                    .map(|r| {
                        program
                            .rules
                            .get(r.0 as usize)
                            .map_or_else(|| format!("#{}", r.0), |r| r.id.clone())
                    })
                    .collect(),
            })
            .collect()
    });
    Explained {
        schema: format!(
            "{} {}.{}",
            program.schema.name, program.schema.major, program.schema.minor
        ),
        rules,
        events,
        state_bytes: cost.map(|c| c.state_bytes),
    }
}

impl Explained {
    /// The text `vigil explain` prints.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (i, r) in self.rules.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&r.to_text());
        }
        if !self.events.is_empty() || self.state_bytes.is_some() {
            if !self.rules.is_empty() {
                out.push('\n');
            }
            let _ = writeln!(out, "schema {}", self.schema);
            for e in &self.events {
                let _ = writeln!(
                    out,
                    "event {}: {} ({} steps worst case, {} prefilter, {} rule{}: {})",
                    e.name,
                    e.bound.to_text(),
                    e.total_steps,
                    e.prefilter_steps,
                    e.rules.len(),
                    if e.rules.len() == 1 { "" } else { "s" },
                    e.rules.join(", ")
                );
            }
            if let Some(s) = self.state_bytes {
                let _ = writeln!(out, "state: {s} bytes worst case");
            }
        }
        out
    }

    /// The JSON value `vigil explain --format json` prints.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

impl RuleExplain {
    /// One rule's text: header, shape, nodes, roots, cost, fields.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "rule {}", self.name);
        let _ = writeln!(out, "  id: {}", self.id);
        let _ = writeln!(out, "  title: {}", self.title);
        let _ = writeln!(
            out,
            "  severity: {}{}",
            self.severity,
            if self.shadow { " (shadow)" } else { "" }
        );
        for line in &self.shape {
            let _ = writeln!(out, "  {line}");
        }
        for line in &self.nodes {
            let _ = writeln!(out, "  {line}");
        }
        for line in &self.roots {
            let _ = writeln!(out, "  {line}");
        }
        match (self.bound, self.cost_steps) {
            (Some(b), _) => {
                let _ = writeln!(out, "  cost: {} per event", b.to_text());
            }
            (None, Some(steps)) => {
                let _ = writeln!(out, "  cost: {steps} steps per event worst case");
            }
            (None, None) => {}
        }
        if let Some(bytes) = self.state_bytes {
            let _ = writeln!(out, "  state: {bytes} bytes worst case");
        }
        if self.fields.is_empty() {
            let _ = writeln!(out, "  reads: nothing");
        } else {
            let _ = writeln!(out, "  reads:");
            for f in &self.fields {
                let _ = write!(out, "    {}.{}: {}", f.event, f.field, f.ty);
                if f.max_len > 0 {
                    let _ = write!(out, ", max_len {}", f.max_len);
                }
                if f.max_items > 0 {
                    let _ = write!(out, ", max_items {}", f.max_items);
                }
                out.push('\n');
            }
        }
        out
    }
}

/// Every field requirement `rule` refers to (expression reads, keys, captures, a threshold's
/// distinct field), each once, by index.
pub fn fields_read(rule: &ir::Rule) -> Vec<FieldRef> {
    let mut set = BTreeSet::new();
    for expr in &rule.exprs {
        if let ExprKind::Field(r) | ExprKind::Exists(r) | ExprKind::Truncated(r) = expr.kind {
            set.insert(r);
        }
    }
    match &rule.kind {
        RuleKind::Single { .. } => {}
        RuleKind::Sequence(seq) => {
            set.extend(seq.steps.iter().flat_map(|s| s.key.iter().copied()));
            set.extend(seq.captures.iter().map(|c| c.field));
        }
        RuleKind::Threshold(t) => {
            set.extend(t.key.iter().flatten().copied());
            if let Counting::Distinct(r) = t.counting {
                set.insert(r);
            }
        }
    }
    set.into_iter().collect()
}

fn field_read(program: &Program, f: FieldRef) -> FieldRead {
    match program.fields.get(f.0 as usize) {
        Some(req) => FieldRead {
            event: req.event.clone(),
            field: req.field.clone(),
            ty: req.ty.to_string(),
            max_len: req.max_len,
            max_items: req.max_items,
        },
        None => FieldRead {
            event: "?".to_owned(),
            field: format!("#{}?", f.0),
            ty: "?".to_owned(),
            max_len: 0,
            max_items: 0,
        },
    }
}

/// `process_start.image`.
fn field_name(program: &Program, f: FieldRef) -> String {
    program.fields.get(f.0 as usize).map_or_else(
        || format!("field#{}?", f.0),
        |req| format!("{}.{}", req.event, req.field),
    )
}

/// Only the field's name (for keys, where the event type is the step's).
fn field_short(program: &Program, f: FieldRef) -> String {
    program
        .fields
        .get(f.0 as usize)
        .map_or_else(|| format!("field#{}?", f.0), |req| req.field.clone())
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

fn state_decl(s: &ir::StateDecl) -> String {
    format!(
        "capacity {}, per key {}, capture_len {}",
        s.capacity, s.per_key, s.capture_len
    )
}

fn keys(program: &Program, key: &[FieldRef]) -> String {
    let names: Vec<String> = key.iter().map(|f| field_short(program, *f)).collect();
    format!("[{}]", names.join(", "))
}

fn shape(program: &Program, rule: &ir::Rule) -> Vec<String> {
    match &rule.kind {
        RuleKind::Single { events, .. } => vec![format!("on {}", events.join(", "))],
        RuleKind::Sequence(seq) => {
            let mut v = vec![format!(
                "sequence within {} ({})",
                duration(seq.within_ns),
                state_decl(&seq.state)
            )];
            for step in &seq.steps {
                v.push(format!(
                    "step {}: {} by {}",
                    step.name,
                    step.event,
                    keys(program, &step.key)
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
            let counting = match t.counting {
                Counting::Count => "count".to_owned(),
                Counting::Distinct(f) => format!("distinct({})", field_short(program, f)),
            };
            let by: Vec<String> = t.key.iter().map(|k| keys(program, k)).collect();
            vec![
                format!("on {}", t.events.join(", ")),
                format!(
                    "threshold {counting} >= {} within {} by {} ({})",
                    t.count,
                    duration(t.within_ns),
                    by.join(" | "),
                    state_decl(&t.state)
                ),
            ]
        }
    }
}

fn capture_name(program: &Program, rule: &ir::Rule, step: u8, field: FieldRef) -> String {
    let step_name = match &rule.kind {
        RuleKind::Sequence(seq) => seq
            .steps
            .get(usize::from(step))
            .map_or_else(|| format!("step#{step}?"), |s| s.name.clone()),
        _ => format!("step#{step}?"),
    };
    format!("{step_name}.{}", field_short(program, field))
}

fn roots(rule: &ir::Rule) -> Vec<String> {
    let cond = |c: Option<ExprId>| c.map_or_else(|| "(always)".to_owned(), |e| operand(rule, e));
    let mut v = Vec::new();
    match &rule.kind {
        RuleKind::Single { cond: c, .. } => v.push(format!("when {}", cond(*c))),
        RuleKind::Sequence(seq) => {
            for step in &seq.steps {
                v.push(format!("step {} when {}", step.name, cond(step.cond)));
            }
        }
        RuleKind::Threshold(t) => v.push(format!("when {}", cond(t.cond))),
    }
    if !rule.emit.is_empty() {
        let mut text = String::new();
        for part in &rule.emit {
            match part {
                TemplatePart::Lit(s) => text.push_str(&s.replace('{', "{{").replace('}', "}}")),
                TemplatePart::Expr(e) => {
                    let _ = write!(text, "{{{}}}", operand(rule, *e));
                }
            }
        }
        v.push(format!("emit {text:?}"));
    }
    for (name, e) in &rule.fields {
        v.push(format!("field {name} = {}", operand(rule, *e)));
    }
    v
}

/// An operand: a scalar constant inline, anything else `%N`.
fn operand(rule: &ir::Rule, id: ExprId) -> String {
    match rule.expr(id).map(|e| &e.kind) {
        Some(ExprKind::Bool(b)) => b.to_string(),
        Some(ExprKind::Int(i)) => i.to_string(),
        Some(ExprKind::Ip(ip)) => ip.to_string(),
        Some(_) => format!("%{}", id.0),
        None => format!("%{}?", id.0),
    }
}

/// An operand of a node of `program` (resolves string constants, which need the pool).
fn arg(program: &Program, rule: &ir::Rule, id: ExprId) -> String {
    match rule.expr(id).map(|e| &e.kind) {
        Some(ExprKind::Str(s)) => string_const(program, s.0),
        _ => operand(rule, id),
    }
}

fn string_const(program: &Program, s: u32) -> String {
    program
        .strings
        .get(s as usize)
        .map_or_else(|| format!("str#{s}?"), |t| format!("{t:?}"))
}

fn konst(c: &ir::Const) -> String {
    match c {
        ir::Const::Bool(b) => b.to_string(),
        ir::Const::Int(i) => i.to_string(),
        ir::Const::Str(s) => format!("{s:?}"),
        ir::Const::Ip(ip) => ip.to_string(),
        ir::Const::Cidr(ip, len) => format!("{ip}/{len}"),
    }
}

fn list_const(program: &Program, l: u32) -> String {
    let Some(list) = program.lists.get(l as usize) else {
        return format!("list#{l}?");
    };
    let mut items: Vec<String> = list
        .items
        .iter()
        .take(LIST_ITEMS_SHOWN)
        .map(konst)
        .collect();
    if list.items.len() > LIST_ITEMS_SHOWN {
        items.push(format!("… {} more", list.items.len() - LIST_ITEMS_SHOWN));
    }
    format!("list#{l} [{}]", items.join(", "))
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

/// `%N = op operands : ty`.
fn node_line(program: &Program, rule: &ir::Rule, n: usize) -> String {
    let Some(expr) = rule.exprs.get(n) else {
        return format!("%{n} = ?");
    };
    let a = |e: ExprId| arg(program, rule, e);
    let body = match &expr.kind {
        ExprKind::Bool(b) => format!("const {b}"),
        ExprKind::Int(i) => format!("const {i}"),
        ExprKind::Str(s) => format!("const {}", string_const(program, s.0)),
        ExprKind::Ip(ip) => format!("const {ip}"),
        ExprKind::List(l) => format!("const {}", list_const(program, l.0)),
        ExprKind::Field(f) => format!("field {}", field_name(program, *f)),
        ExprKind::Exists(f) => format!("exists {}", field_name(program, *f)),
        ExprKind::Truncated(f) => format!("truncated {}", field_name(program, *f)),
        ExprKind::Captured(c) => match &rule.kind {
            RuleKind::Sequence(seq) => seq.captures.get(usize::from(c.0)).map_or_else(
                || format!("captured #{}?", c.0),
                |cap| {
                    format!(
                        "captured #{} {}",
                        c.0,
                        capture_name(program, rule, cap.step, cap.field)
                    )
                },
            ),
            _ => format!("captured #{}?", c.0),
        },
        ExprKind::Local(l) => format!("local ${}", l.0),
        ExprKind::Not(e) => format!("not {}", a(*e)),
        ExprKind::Neg(e) => format!("neg {}", a(*e)),
        ExprKind::And(v) | ExprKind::Or(v) => {
            let word = if matches!(expr.kind, ExprKind::And(_)) {
                "and"
            } else {
                "or"
            };
            let ops: Vec<String> = v.iter().map(|e| a(*e)).collect();
            format!("{word} {}", ops.join(", "))
        }
        ExprKind::Arith(op, x, y) => {
            let word = match op {
                ArithOp::Add => "add",
                ArithOp::Sub => "sub",
                ArithOp::Mul => "mul",
                ArithOp::Div => "div",
                ArithOp::Rem => "rem",
            };
            format!("{word} {}, {}", a(*x), a(*y))
        }
        ExprKind::Cmp(op, x, y) => {
            let word = match op {
                CmpOp::Eq => "eq",
                CmpOp::Ne => "ne",
                CmpOp::Lt => "lt",
                CmpOp::Le => "le",
                CmpOp::Gt => "gt",
                CmpOp::Ge => "ge",
            };
            format!("cmp {word} {}, {}", a(*x), a(*y))
        }
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
            list,
        } => format!(
            "str_list {}{} {} {}, list#{}",
            str_test(*op),
            fold(*f),
            quant(*q),
            a(*lhs),
            list.0
        ),
        ExprKind::Member { lhs, list, fold: f } => {
            format!("member{} {}, {}", fold(*f), a(*lhs), a(*list))
        }
        ExprKind::Matches { lhs, regex } => {
            let pattern = program
                .regexes
                .get(regex.0 as usize)
                .map_or_else(|| "?".to_owned(), |p| format!("{p:?}"));
            format!("matches {}, regex#{} {pattern}", a(*lhs), regex.0)
        }
        ExprKind::Call { builtin, args } => {
            let name = program
                .builtins
                .get(usize::from(builtin.0))
                .map_or("?", |b| b.name.as_str());
            let ops: Vec<String> = args.iter().map(|e| a(*e)).collect();
            format!("call {name}({})", ops.join(", "))
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
    };
    let mut line = format!("%{n} = {body} : {}", expr.ty);
    // StrList patterns are a constant list not otherwise shown: print them after the node.
    if let ExprKind::StrList { list, .. } = &expr.kind {
        let _ = write!(line, "  ; {}", list_const(program, list.0));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_the_largest_dividing_unit() {
        assert_eq!(duration(30_000_000_000), "30s");
        assert_eq!(duration(300_000_000_000), "5m");
        assert_eq!(duration(1_500_000_000), "1500ms");
        assert_eq!(duration(86_400_000_000_000 * 2), "2d");
        assert_eq!(duration(7), "7ns");
        assert_eq!(duration(0), "0s");
    }

    #[test]
    fn operands_inline_scalar_constants_and_survive_bad_ids() {
        let rule = ir::Rule {
            id: "r".into(),
            name: "r".into(),
            title: "r".into(),
            severity: ir::Severity::Low,
            shadow: false,
            meta: Vec::new(),
            exprs: vec![
                ir::Expr {
                    ty: vigil_runtime::types::Ty::INT,
                    kind: ExprKind::Int(4),
                },
                ir::Expr {
                    ty: vigil_runtime::types::Ty::BOOL,
                    kind: ExprKind::Not(ExprId(9)),
                },
            ],
            kind: RuleKind::Single {
                events: vec!["process_start".into()],
                cond: Some(ExprId(1)),
            },
            emit: Vec::new(),
            fields: Vec::new(),
        };
        let program = Program {
            schema: ir::SchemaRef {
                name: "endpoint".into(),
                major: 1,
                minor: 0,
            },
            fields: Vec::new(),
            builtins: Vec::new(),
            strings: Vec::new(),
            lists: Vec::new(),
            regexes: Vec::new(),
            rules: vec![rule],
        };
        let e = explain(&program, None);
        assert_eq!(
            e.rules[0].nodes,
            ["%0 = const 4 : int", "%1 = not %9? : bool"]
        );
        assert_eq!(e.rules[0].roots, ["when %1"]);
        assert!(e.to_text().contains("reads: nothing"));
    }
}
