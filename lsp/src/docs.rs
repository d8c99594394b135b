//! The words hover shows: fields (the schema's own text, `vigil_compiler::schema_doc`),
//! builtins (signature, cost, what it does, examples: the builtin table's rows), lists with
//! their items, fns with their signature, event types, meta keys and severities.

use std::fmt::Write as _;

use vigil_runtime::builtins::{self, Builtin, ParamTy};
use vigil_runtime::schema::Schema;

use crate::analysis::{Summary, Sym};

/// The most list items a hover shows.
const MAX_ITEMS: usize = 40;

/// The meta keys the compiler knows, with what they mean.
pub const META_KEYS: &[(&str, &str)] = &[
    ("id", "The rule's id, a string unique in a bundle (alerts carry it). Defaults to the rule's name."),
    ("title", "A one-line title, a string. Alerts without `emit` carry it as their message."),
    ("severity", "How bad a match is: `informational`, `low`, `medium`, `high` or `critical`."),
    ("capacity", "Sequences and thresholds: the most keys kept in state (default 4096); the oldest is evicted."),
    ("capture_len", "Sequences: the bytes kept of each captured field value (default 256); longer values are cut and flagged."),
    ("entries", "Thresholds: the most entries kept per key for `distinct`."),
    ("shadow", "`true`: the rule runs and is measured, but its alerts are not delivered."),
];

/// The severities, lowest first, with what they mean.
pub const SEVERITIES: &[(&str, &str)] = &[
    (
        "informational",
        "Worth recording, not worth a look on its own.",
    ),
    ("low", "Unusual; look when there is time."),
    ("medium", "Suspicious; look today."),
    ("high", "Likely malicious; look now."),
    ("critical", "An attack in progress; act now."),
];

fn param_text(p: &ParamTy) -> String {
    match p {
        ParamTy::Exact(t) => t.to_string(),
        ParamTy::StrOrList => "string | [T]".to_owned(),
        ParamTy::FieldRef(s) => format!("field of {s}"),
    }
}

/// `name(string, int) -> bool`.
pub fn builtin_signature(b: &Builtin) -> String {
    let params: Vec<String> = b.params.iter().map(param_text).collect();
    format!("{}({}) -> {}", b.name, params.join(", "), b.ret)
}

/// The worst-case cost in words: `1 + 1 × bytes of argument 1`.
pub fn builtin_cost(b: &Builtin) -> String {
    let mut out = format!("{}", b.cost.base);
    for (arg, k) in b.cost.per_byte {
        let _ = write!(out, " + {k} × bytes of argument {}", u32::from(*arg) + 1);
    }
    for (arg, k) in b.cost.per_item {
        let _ = write!(out, " + {k} × items of argument {}", u32::from(*arg) + 1);
    }
    out.push_str(" steps");
    out
}

fn builtin_hover(b: &Builtin) -> String {
    let mut out = format!(
        "```vgl\n{}\n```\n\n{}\n\nCost: {}.\n",
        builtin_signature(b),
        b.doc,
        builtin_cost(b)
    );
    if !b.examples.is_empty() {
        out.push_str("\nExamples:\n\n```vgl\n");
        for (expr, value) in b.examples.iter().take(4) {
            let _ = writeln!(out, "{expr}  // {value}");
        }
        out.push_str("```\n");
    }
    out
}

/// The hover text of a symbol, or `None` when there is nothing to say.
pub fn hover(sym: &Sym, schema: &Schema, scope: Vec<&Summary>) -> Option<String> {
    match sym {
        Sym::Field { name, events } => {
            let parts: Vec<String> = events
                .iter()
                .filter_map(|e| schema.event(e))
                .filter_map(|(_, t)| t.field(name).map(|(_, f)| vigil_compiler::schema_doc::field_hover(t, f)))
                .collect();
            (!parts.is_empty()).then(|| parts.join("\n---\n"))
        }
        Sym::Call(name) | Sym::Global(name) => {
            for s in &scope {
                if let Some(f) = s.fns.iter().find(|f| f.name == *name) {
                    return Some(format!("```vgl\n{}\n```\n", f.signature));
                }
                if let Some(l) = s.lists.iter().find(|l| l.name == *name) {
                    let ty = l.ty.as_deref().map(|t| format!(": {t}")).unwrap_or_default();
                    let mut out = format!("```vgl\nlist {}{ty}\n```\n\n{} item{}:\n\n", l.name, l.items.len(), if l.items.len() == 1 { "" } else { "s" });
                    for i in l.items.iter().take(MAX_ITEMS) {
                        let _ = writeln!(out, "- `{i}`");
                    }
                    if l.items.len() > MAX_ITEMS {
                        let _ = writeln!(out, "- … and {} more", l.items.len() - MAX_ITEMS);
                    }
                    return Some(out);
                }
            }
            builtins::lookup(name).map(|(_, b)| builtin_hover(b))
        }
        Sym::EventType(name) => schema.event(name).map(|(_, t)| {
            format!("```vgl\nevent {}\n```\n\n{}\n\n{} fields.\n", t.name, t.description, t.fields.len())
        }),
        Sym::MetaKey(k) => Some(match META_KEYS.iter().find(|(n, _)| n == k) {
            Some((_, doc)) => format!("`meta {k}`: {doc}"),
            None => format!("`meta {k}`: not a key the compiler knows; its value (a string, integer, bool, bare word or list of strings) travels into alerts unchanged."),
        }),
        Sym::MetaValue { key, value } if key == "severity" => SEVERITIES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(value))
            .map(|(n, doc)| format!("severity `{n}`: {doc}")),
        Sym::MetaValue { .. } => None,
        Sym::Rule(name) => scope.iter().flat_map(|s| &s.rules).find(|r| r.name == *name).map(|r| {
            let mut out = format!("```vgl\nrule {}\n```\n", r.name);
            if let Some(id) = &r.id {
                let _ = writeln!(out, "\nid `{id}`");
            }
            if !r.events.is_empty() {
                let _ = writeln!(out, "\non {}", r.events.join(", "));
            }
            out
        }),
    }
}

#[cfg(test)]
mod tests {
    use vigil_runtime::ir::Severity;

    use super::SEVERITIES;

    /// The severities offered are the language's, in its order (lowest first), each once.
    #[test]
    fn severities_are_the_languages() {
        let parsed: Vec<Severity> = SEVERITIES
            .iter()
            .map(|(w, _)| Severity::parse(w).unwrap_or_else(|| panic!("`{w}` is no severity")))
            .collect();
        let mut sorted = parsed.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(parsed, sorted);
        assert_eq!(parsed.len(), 5);
    }
}
