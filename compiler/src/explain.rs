//! A readable dump of IR programs: per rule, its numbered nodes, its roots (conditions, steps,
//! `emit`, alert fields), its worst-case cost and state bytes, and the fields it reads.
//!
//! Input: an [`ir::Program`] and, when it has been verified, its [`CostReport`]
//! ([`explain_verified`]); output: an [`Explained`] value, rendered as text
//! ([`Explained::to_text`], what `vigil explain` prints and what the `tests/ir/` snapshots
//! pin) or JSON ([`Explained::to_json`]). Node numbers are arena ids, so `%7` here is the
//! `(node 7)` of a verifier error.
//!
//! The rule's shape, one line per node (`%3 = str_test contains fold %1, "x" : bool`) and its
//! roots are the runtime's IR text ([`vigil_runtime::ir_text`]), with constant lists cut after
//! eight items; this module adds the cost, state and field annotations. It never panics, even
//! on an unverified program.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;
use vigil_runtime::ir::{self, ExprKind, FieldRef, Program, RuleKind};
use vigil_runtime::ir_text::{self, Style};
use vigil_runtime::verify::{steps_to_ns, CostReport, LinearBound, Verified, TYPICAL_EVENT_BYTES};

/// Node lines cut constant lists after 8 items (`… N more`).
const STYLE: Style = Style {
    max_list_items: Some(8),
};

/// A whole program, explained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Explained {
    /// The schema the program was built against: `endpoint 1.1`.
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
                    RuleKind::Sequence(_) | RuleKind::SequenceAnyOrder(_) => "sequence",
                    RuleKind::Threshold(_) => "threshold",
                }
                .to_owned(),
                shadow: rule.shadow,
                events: rule.event_types().into_iter().map(str::to_owned).collect(),
                shape: ir_text::shape_lines(program, rule),
                nodes: ir_text::rule_node_lines(program, rule, STYLE),
                roots: ir_text::root_lines(program, rule),
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
        RuleKind::Sequence(seq) | RuleKind::SequenceAnyOrder(seq) => {
            set.extend(seq.steps.iter().flat_map(|s| s.key.iter().copied()));
            set.extend(seq.captures.iter().map(|c| c.field));
        }
        RuleKind::Threshold(t) => {
            set.extend(t.key.iter().flatten().copied());
            if let Some(r) = t.counting.field() {
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

/// `30s`, `5m`, `250ms`: the largest unit that divides the window.
pub fn duration(ns: u64) -> String {
    ir_text::duration(ns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_runtime::ir::ExprId;

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
            ["%0 = const 4 : int", "%1 = not %9 : bool"]
        );
        assert_eq!(e.rules[0].roots, ["when %1"]);
        assert!(e.to_text().contains("reads: nothing"));
    }
}
