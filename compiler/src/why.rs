//! Why a rule did or did not fire on one event: `vigil why` and `vigil test --explain`.
//!
//! [`observe`] asks an [`Engine`] (whose state holds the events before this one) about one
//! rule and one event: the rule's conditions traced by the interpreter
//! ([`vigil_runtime::interp::trace`]: each node's value, the fields as read, the prefilter's
//! answer), the state the event meets (a sequence's partial matches for its key, a threshold's
//! window), then it hands the event to the engine and keeps the rule's alerts: `fired` is the
//! engine's own decision. [`Why::to_text`] and [`Why::to_json`] render it against the program's
//! debug section and the sources (each node's source text).
//!
//! Rule lookup for the command line is [`find_rule`]: a rule's meta `id` or its name.

use std::fmt::Write as _;

use serde_json::{json, Value as Json};
use vigil_grammar::span::FileId;
use vigil_runtime::alert::Alert;
use vigil_runtime::coerce::format_time;
use vigil_runtime::engine::{Engine, EngineError};
use vigil_runtime::event::Event;
use vigil_runtime::interp::trace::{CondTrace, NodeTrace, RuleTrace};
use vigil_runtime::ir::{self, Counting, ExprId, ExprKind, Program, RuleId, RuleKind};
use vigil_runtime::prefilter::{AT_END, AT_START, WHOLE};
use vigil_runtime::state::KeyState;
use vigil_runtime::value::Value;

use crate::explain::duration;
use crate::source::SourceMap;

/// At most this many characters of a node's source text are shown (the rest is `...`).
pub const MAX_SOURCE_CHARS: usize = 100;

/// One rule observed on one event.
#[derive(Clone, Debug)]
pub struct Why {
    /// The rule.
    pub rule: RuleId,
    /// Its event's type name.
    pub event_type: String,
    /// The engine alerted for the rule on this event.
    pub fired: bool,
    /// The rule's alerts on this event.
    pub alerts: Vec<Alert>,
    /// Its conditions traced on the event.
    pub trace: RuleTrace,
    /// The state the event met (stateful rules of the event's type).
    pub state: Option<KeyState>,
}

/// Traces `rule` on `event` with `engine`'s interpreter and prefilter, reads the state the
/// event meets, then processes the event with `engine` (all rules of its type, as always) and
/// keeps `rule`'s alerts. The engine must not be shared with other threads meanwhile.
pub fn observe(engine: &Engine, rule: RuleId, event: &Event<'_>) -> Result<Why, EngineError> {
    let interp = engine.interp();
    let mut trace = interp
        .trace_rule(rule, event, engine.prefilter())
        .map_err(|e| EngineError::Internal(e.to_string()))?;
    let ordered = matches!(
        interp.program().rules.get(rule.0 as usize).map(|r| &r.kind),
        Some(RuleKind::Sequence(_))
    );
    // A later step of an ordered sequence is evaluated with the captures of the partial match
    // it would extend, and only when there is one.
    for c in &mut trace.conds {
        let Some(k) = c.step.filter(|k| ordered && *k > 0) else {
            continue;
        };
        let traced = engine.with_partial(rule, event, k, |cv| {
            interp.trace_root(rule, c.root, event, Some(cv))
        });
        match traced {
            Some(Ok((value, nodes))) => {
                c.value = value;
                c.nodes = nodes;
                let _ = write!(
                    c.label,
                    ", with the captures of the partial match of {k} step(s)"
                );
            }
            Some(Err(e)) => return Err(EngineError::Internal(e.to_string())),
            None => {
                let _ = write!(
                    c.label,
                    ", not tried by the engine (no partial match of {k} step(s)); shown with no captures"
                );
            }
        }
    }
    let state = engine.key_state(rule, event);
    let id = interp
        .program()
        .rules
        .get(rule.0 as usize)
        .map(|r| r.id.clone())
        .unwrap_or_default();
    let mut alerts = Vec::new();
    engine.process(event, &mut |a: &Alert| {
        if a.rule == id {
            alerts.push(a.clone());
        }
    })?;
    Ok(Why {
        rule,
        event_type: interp.binding().event_name(event.ty()).to_owned(),
        fired: !alerts.is_empty(),
        alerts,
        trace,
        state,
    })
}

/// Why a rule name or id names no single rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FindError {
    /// No rule has it as id or name; the closest name or id, if any.
    Unknown(Option<String>),
    /// Several rules answer to it (one's id is another's name): their ids.
    Ambiguous(Vec<String>),
}

/// The rule whose meta `id` or name is `name`.
pub fn find_rule(program: &Program, name: &str) -> Result<RuleId, FindError> {
    let hits: Vec<usize> = program
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| r.id == name || r.name == name)
        .map(|(i, _)| i)
        .collect();
    match hits.as_slice() {
        [one] => u32::try_from(*one)
            .map(RuleId)
            .map_err(|_| FindError::Unknown(None)),
        [] => {
            let names = program
                .rules
                .iter()
                .flat_map(|r| [r.name.as_str(), r.id.as_str()]);
            Err(FindError::Unknown(crate::diag::did_you_mean(name, names)))
        }
        many => Err(FindError::Ambiguous(
            many.iter()
                .filter_map(|&i| program.rules.get(i).map(|r| r.id.clone()))
                .collect(),
        )),
    }
}

/// What the renderer reads: the program, its debug section and the sources.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The program the engine ran.
    pub program: &'a Program,
    /// Its debug section (source spans per node).
    pub debug: &'a ir::DebugInfo,
    /// The sources the spans point into.
    pub map: &'a SourceMap,
}

impl Context<'_> {
    /// Node `id`'s source text, whitespace collapsed and cut at [`MAX_SOURCE_CHARS`]; a node
    /// without a span (made by lowering) is described by its kind.
    fn source(&self, rule: RuleId, id: ExprId) -> String {
        let r = self.program.rules.get(rule.0 as usize);
        let span = self
            .debug
            .rules
            .get(rule.0 as usize)
            .and_then(|d| d.exprs.get(id.0 as usize))
            .filter(|s| s.end > s.start);
        let text = span.and_then(|s| {
            self.map
                .file(FileId(s.file))
                .and_then(|f| f.text.get(s.start as usize..s.end as usize))
        });
        let text = match text {
            Some(t) => t.split_whitespace().collect::<Vec<_>>().join(" "),
            None => r
                .and_then(|r| r.expr(id))
                .map_or_else(|| format!("#{}", id.0), |e| self.describe(&e.kind)),
        };
        cut(&text, MAX_SOURCE_CHARS)
    }

    fn describe(&self, kind: &ExprKind) -> String {
        let field = |f: &ir::FieldRef| {
            self.program
                .fields
                .get(f.0 as usize)
                .map_or_else(|| "?".to_owned(), |x| x.field.clone())
        };
        match kind {
            ExprKind::Bool(b) => b.to_string(),
            ExprKind::Int(i) => i.to_string(),
            ExprKind::Str(s) => self
                .program
                .strings
                .get(s.0 as usize)
                .map_or_else(|| "\"?\"".to_owned(), |t| Value::Str(t.into()).to_string()),
            ExprKind::Field(f) => field(f),
            ExprKind::Exists(f) => format!("exists({})", field(f)),
            ExprKind::Truncated(f) => format!("truncated({})", field(f)),
            ExprKind::And(_) => "and".to_owned(),
            ExprKind::Or(_) => "or".to_owned(),
            ExprKind::Not(_) => "not".to_owned(),
            other => format!("{other:?}")
                .split(['(', ' ', '{'])
                .next()
                .unwrap_or("node")
                .to_lowercase(),
        }
    }

    /// The rule's name and id.
    fn rule(&self, rule: RuleId) -> Option<&ir::Rule> {
        self.program.rules.get(rule.0 as usize)
    }

    /// The field's name on the event (for the prefilter's literals, which name slots).
    fn field_name(&self, why: &Why, ix: vigil_runtime::schema::FieldIndex) -> String {
        why.trace
            .fields
            .iter()
            .find(|f| f.index == Some(ix))
            .map_or_else(|| format!("field #{}", ix.0), |f| f.name.clone())
    }
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(max).collect();
    s.push_str("...");
    s
}

/// A node's value as shown in text.
fn show_value(n: Option<&NodeTrace>) -> String {
    match n.and_then(|n| n.value.as_ref().map(|v| (n, v))) {
        None => "not evaluated".to_owned(),
        Some((n, v)) if n.visits > 1 => format!(
            "{} (last of {} evaluations)",
            cut(&v.to_string(), 200),
            n.visits
        ),
        Some((_, v)) => cut(&v.to_string(), 200),
    }
}

/// A value as JSON: bools, ints and strings as themselves, ips and cidrs as strings, lists as
/// arrays.
pub fn value_json(v: &Value<'_>) -> Json {
    match v {
        Value::Bool(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::Str(s) => json!(s),
        Value::Ip(ip) => json!(ip.to_string()),
        Value::Cidr(c) => json!(c.to_string()),
        Value::List(items) => Json::Array(items.iter().map(value_json).collect()),
    }
}

/// The operands shown under a node: constants and quantifier variables are in the node's
/// own text and are left out.
fn shown_children(r: &ir::Rule, id: ExprId) -> Vec<ExprId> {
    let mut out = Vec::new();
    if let Some(e) = r.expr(id) {
        e.kind.for_each_operand(|c| {
            let constant = r.expr(c).is_some_and(|x| {
                matches!(
                    x.kind,
                    ExprKind::Bool(_)
                        | ExprKind::Int(_)
                        | ExprKind::Str(_)
                        | ExprKind::Ip(_)
                        | ExprKind::List(_)
                        | ExprKind::Local(_)
                )
            });
            if !constant {
                out.push(c);
            }
        });
    }
    out
}

fn where_word(at: u8) -> &'static str {
    if at & WHOLE != 0 {
        "as the whole value"
    } else if at & AT_START != 0 {
        "at the start"
    } else if at & AT_END != 0 {
        "at the end"
    } else {
        "anywhere"
    }
}

impl Why {
    /// The human report: header, each condition's tree (node source text and value, indented
    /// by depth), the fields read, the prefilter, the state.
    pub fn to_text(&self, cx: &Context<'_>) -> String {
        let mut out = String::new();
        let Some(r) = cx.rule(self.rule) else {
            return "rule not in the program\n".to_owned();
        };
        let _ = writeln!(
            out,
            "rule `{}` (id `{}`) on a `{}` event: {}",
            r.name,
            r.id,
            self.event_type,
            if self.fired { "FIRED" } else { "did not fire" }
        );
        if !self.trace.watched {
            let _ = writeln!(
                out,
                "  the rule does not run on `{}` events (it runs on: {})",
                self.event_type,
                r.kind_events().join(", ")
            );
            return out;
        }
        if self.trace.conds.is_empty() {
            out.push_str("condition: none (the rule matches every event of its types)\n");
        }
        for c in &self.trace.conds {
            let _ = writeln!(out, "\ncondition ({}): {}", c.label, c.value);
            tree_text(cx, self.rule, r, c, &mut out);
        }
        out.push_str("\nfields read:\n");
        if self.trace.fields.is_empty() {
            out.push_str("  (none)\n");
        }
        for f in &self.trace.fields {
            if !f.present {
                let _ = writeln!(out, "  {} ({}): absent, read as {}", f.name, f.ty, f.value);
                continue;
            }
            let _ = write!(
                out,
                "  {} ({}) = {}",
                f.name,
                f.ty,
                cut(&f.value.to_string(), 300)
            );
            if let Some(folded) = &f.folded {
                if Some(folded.as_str()) != f.value.as_str() {
                    let _ = write!(
                        out,
                        ", folded {}",
                        cut(&Value::Str(folded.into()).to_string(), 300)
                    );
                }
            }
            if f.truncated {
                out.push_str(" [truncated]");
            }
            out.push('\n');
        }
        out.push_str("\nprefilter: ");
        match &self.trace.prefilter {
            None => out.push_str("not used for this rule (stateful rules always run)\n"),
            Some(p) if !p.filtered => {
                out.push_str("no literal requirement: the rule always runs\n");
            }
            Some(p) => {
                let _ = writeln!(
                    out,
                    "{}",
                    if p.passes {
                        "passes (the rule is evaluated)"
                    } else {
                        "skips the rule (a required literal is missing)"
                    }
                );
                for l in &p.literals {
                    let _ = writeln!(
                        out,
                        "  {} in {}{}, {}: {}",
                        Value::Str(l.pattern.as_str().into()),
                        cx.field_name(self, l.field),
                        if l.folded { " (folded)" } else { "" },
                        where_word(l.at),
                        if l.found { "found" } else { "missing" }
                    );
                }
            }
        }
        if let Some(s) = &self.state {
            out.push_str("\nstate (before this event):\n");
            state_text(r, s, &mut out);
        }
        out
    }

    /// The JSON report: `rule`, `name`, `event_type`, `fired`, `alerts`, `conditions` (each
    /// with its `tree`), `tree` (the first condition's, `null` without one), `fields`,
    /// `prefilter`, `state`.
    pub fn to_json(&self, cx: &Context<'_>) -> Json {
        let Some(r) = cx.rule(self.rule) else {
            return json!({ "rule": null, "fired": self.fired });
        };
        let conds: Vec<Json> = self
            .trace
            .conds
            .iter()
            .map(|c| {
                json!({
                    "label": c.label,
                    "value": c.value,
                    "tree": tree_json(cx, self.rule, r, c, c.root, 0, true),
                })
            })
            .collect();
        let tree = conds
            .first()
            .and_then(|c| c.get("tree"))
            .cloned()
            .unwrap_or(Json::Null);
        let fields: Vec<Json> = self
            .trace
            .fields
            .iter()
            .map(|f| {
                json!({
                    "name": f.name,
                    "type": f.ty.to_string(),
                    "present": f.present,
                    "truncated": f.truncated,
                    "value": value_json(&f.value),
                    "folded": f.folded,
                })
            })
            .collect();
        let prefilter = self.trace.prefilter.as_ref().map(|p| {
            json!({
                "filtered": p.filtered,
                "passes": p.passes,
                "literals": p.literals.iter().map(|l| json!({
                    "field": cx.field_name(self, l.field),
                    "pattern": l.pattern,
                    "folded": l.folded,
                    "where": where_word(l.at),
                    "found": l.found,
                })).collect::<Vec<_>>(),
            })
        });
        json!({
            "rule": r.id,
            "name": r.name,
            "event_type": self.event_type,
            "watched": self.trace.watched,
            "fired": self.fired,
            "alerts": self.alerts.iter().map(|a| json!(a.message)).collect::<Vec<_>>(),
            "conditions": conds,
            "tree": tree,
            "fields": fields,
            "prefilter": prefilter,
            "state": self.state.as_ref().map(|s| state_json(r, s)),
        })
    }
}

/// The rule's event types, for "it runs on" lines.
trait KindEvents {
    fn kind_events(&self) -> Vec<String>;
}

impl KindEvents for ir::Rule {
    fn kind_events(&self) -> Vec<String> {
        self.event_types().into_iter().map(str::to_owned).collect()
    }
}

fn tree_text(cx: &Context<'_>, rule: RuleId, r: &ir::Rule, c: &CondTrace, out: &mut String) {
    // (node, depth, its parent was evaluated), depth first, operands in order. Under a node
    // that was not evaluated nothing was (a node shared with an evaluated part of the tree
    // has a value of its own, which is not this path's).
    let mut stack = vec![(c.root, 1usize, true)];
    while let Some((id, depth, reached)) = stack.pop() {
        let n = c.nodes.get(id.0 as usize).filter(|_| reached);
        let _ = writeln!(
            out,
            "{}{}  =>  {}",
            "  ".repeat(depth),
            cx.source(rule, id),
            show_value(n)
        );
        let evaluated = n.is_some_and(|n| n.value.is_some());
        for child in shown_children(r, id).into_iter().rev() {
            stack.push((child, depth + 1, evaluated));
        }
    }
}

/// Deepest nesting rendered as JSON (the verifier bounds depth far below this; a guard).
const MAX_JSON_DEPTH: usize = 256;

fn tree_json(
    cx: &Context<'_>,
    rule: RuleId,
    r: &ir::Rule,
    c: &CondTrace,
    id: ExprId,
    depth: usize,
    reached: bool,
) -> Json {
    let n = c.nodes.get(id.0 as usize).filter(|_| reached);
    let evaluated = n.is_some_and(|n| n.value.is_some());
    let children: Vec<Json> = if depth < MAX_JSON_DEPTH {
        shown_children(r, id)
            .into_iter()
            .map(|ch| tree_json(cx, rule, r, c, ch, depth + 1, evaluated))
            .collect()
    } else {
        Vec::new()
    };
    json!({
        "node": id.0,
        "source": cx.source(rule, id),
        "evaluated": evaluated,
        "value": n.and_then(|n| n.value.as_ref()).map_or(Json::Null, value_json),
        "evaluations": n.map_or(0, |n| n.visits),
        "children": children,
    })
}

fn step_name(r: &ir::Rule, i: usize) -> String {
    r.kind
        .sequence()
        .and_then(|s| s.steps.get(i))
        .map_or_else(|| format!("#{i}"), |s| s.name.clone())
}

fn state_text(r: &ir::Rule, s: &KeyState, out: &mut String) {
    match s {
        KeyState::AbsentKey => {
            out.push_str("  a key (`by`) field is absent on this event: it takes no part\n");
        }
        KeyState::NoTime => out.push_str("  the event has no `time`: it takes no part\n"),
        KeyState::Sequence(partials) => {
            let (steps, within) = r
                .kind
                .sequence()
                .map_or((0, 0), |s| (s.steps.len(), s.within_ns));
            let _ = writeln!(
                out,
                "  sequence of {steps} steps within {}",
                duration(within)
            );
            if partials.is_empty() {
                out.push_str("  no partial match for this event's key\n");
            }
            for p in partials {
                let _ = writeln!(
                    out,
                    "  partial match: {} of {steps} steps done (last `{}`), first at {}, last at {}, expires at {}",
                    p.steps_done,
                    step_name(r, p.steps_done.saturating_sub(1)),
                    format_time(p.first_time),
                    format_time(p.last_time),
                    format_time(p.expires)
                );
            }
        }
        KeyState::AnyOrder(held) => {
            let steps = r.kind.sequence().map_or(0, |s| s.steps.len());
            let names: Vec<String> = (0..steps)
                .filter(|i| held & (1 << i) != 0)
                .map(|i| format!("`{}`", step_name(r, i)))
                .collect();
            let _ = writeln!(
                out,
                "  any order, {steps} steps: the key holds {}",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            );
        }
        KeyState::Threshold(w) => {
            let RuleKind::Threshold(t) = &r.kind else {
                return;
            };
            let (one, many) = match t.counting {
                Counting::Count => ("event counted", "events counted"),
                Counting::Distinct(_) => ("distinct value", "distinct values"),
                Counting::Sum(_) => ("event summed", "events summed"),
                Counting::Avg(_) => ("event averaged", "events averaged"),
            };
            let what = if w.counted == 1 { one } else { many };
            let _ = writeln!(
                out,
                "  threshold {} within {}: {} {what} in the window before this event{}",
                t.count,
                duration(t.within_ns),
                w.counted,
                w.oldest
                    .map_or_else(String::new, |o| format!(" (oldest at {})", format_time(o)))
            );
            if t.counting.is_amount() {
                let _ = writeln!(out, "  sum of the values in the window: {}", w.sum);
            }
            if matches!(t.counting, Counting::Count) {
                let _ = writeln!(
                    out,
                    "  with this event, if it counts: {} of {}",
                    w.counted.saturating_add(1),
                    t.count
                );
            }
        }
    }
}

fn state_json(r: &ir::Rule, s: &KeyState) -> Json {
    match s {
        KeyState::AbsentKey => json!({ "kind": "absent_key" }),
        KeyState::NoTime => json!({ "kind": "no_time" }),
        KeyState::Sequence(partials) => {
            let (steps, within) = r
                .kind
                .sequence()
                .map_or((0, 0), |s| (s.steps.len(), s.within_ns));
            json!({
                "kind": "sequence",
                "steps": steps,
                "within_ns": within,
                "partials": partials.iter().map(|p| json!({
                    "steps_done": p.steps_done,
                    "last_step": step_name(r, p.steps_done.saturating_sub(1)),
                    "first_time": p.first_time,
                    "last_time": p.last_time,
                    "expires": p.expires,
                })).collect::<Vec<_>>(),
            })
        }
        KeyState::AnyOrder(held) => json!({ "kind": "any_order", "held": held }),
        KeyState::Threshold(w) => {
            let (limit, within, counting) = match &r.kind {
                RuleKind::Threshold(t) => (
                    t.count,
                    t.within_ns,
                    match t.counting {
                        Counting::Count => "count",
                        Counting::Distinct(_) => "distinct",
                        Counting::Sum(_) => "sum",
                        Counting::Avg(_) => "avg",
                    },
                ),
                _ => (0, 0, "count"),
            };
            json!({
                "kind": "threshold",
                "counting": counting,
                "limit": limit,
                "within_ns": within,
                "counted": w.counted,
                "sum": w.sum.to_string(),
                "oldest": w.oldest,
            })
        }
    }
}
