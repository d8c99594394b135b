//! Completion: what may be written at a position, read from the text before the cursor (a
//! half-typed file does not parse, so the context is found in the text, and the rule's event
//! types in its `on` line or its steps).
//!
//! After `severity:` the severities; inside `meta { }` the meta keys; after `on` (or a
//! sequence step's `name:`) the event types; after `x.` the fields of the rule's event types;
//! elsewhere the fields of the rule's event types, the lists and fns in scope, the builtins
//! and the keywords.

use lsp_types::{CompletionItem, CompletionItemKind, Documentation, MarkupContent, MarkupKind};
use vigil_runtime::builtins::BUILTINS;
use vigil_runtime::schema::Schema;

use crate::analysis::Summary;
use crate::docs;

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn item(label: &str, kind: CompletionItemKind, detail: Option<String>) -> CompletionItem {
    CompletionItem {
        label: label.to_owned(),
        kind: Some(kind),
        detail,
        ..CompletionItem::default()
    }
}

/// The event types named by the rule around `offset`: the names after `on` (up to a line
/// break) and after each step's `name:` in a sequence, searched back to the `rule` line.
fn rule_events(before: &str, schema: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for line in before.lines().rev() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("on ") {
            for name in rest.split(|c: char| !is_word(c)).filter(|w| !w.is_empty()) {
                if name == "when" {
                    break;
                }
                if schema.event(name).is_some() {
                    out.push(name.to_owned());
                }
            }
        } else if let Some((_, rest)) = t.split_once(':') {
            let name: String = rest
                .trim_start()
                .chars()
                .take_while(|&c| is_word(c))
                .collect();
            if schema.event(&name).is_some() {
                out.push(name);
            }
        }
        if t.starts_with("rule ") || t.starts_with("fn ") || t.starts_with("list ") {
            break;
        }
    }
    out.dedup();
    out
}

/// The completion items at byte `offset` of `text`.
pub fn items(
    text: &str,
    offset: usize,
    summary: &Summary,
    schema: &Schema,
    scope: &[&Summary],
) -> Vec<CompletionItem> {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let word_start = before
        .char_indices()
        .rev()
        .find(|&(_, c)| !is_word(c))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let head = before[..word_start].trim_end();
    let line_head = head.rsplit('\n').next().unwrap_or("").trim_start();
    let mut out = Vec::new();
    // Severities.
    if head.ends_with("severity:") {
        for (s, doc) in docs::SEVERITIES {
            out.push(item(
                s,
                CompletionItemKind::ENUM_MEMBER,
                Some((*doc).to_owned()),
            ));
        }
        return out;
    }
    // Meta keys: inside an open `meta {`, at a key's place.
    if let Some(m) = head.rfind("meta") {
        let inside = &head[m..];
        if inside.contains('{')
            && !inside.contains('}')
            && (head.ends_with('{') || head.ends_with(','))
        {
            for (k, doc) in docs::META_KEYS {
                out.push(item(
                    k,
                    CompletionItemKind::PROPERTY,
                    Some((*doc).to_owned()),
                ));
            }
            return out;
        }
    }
    let events: Vec<String> = match summary.rule_at(u32::try_from(offset).unwrap_or(u32::MAX)) {
        Some(r) if !r.events.is_empty() => r.events.clone(),
        _ => rule_events(before, schema),
    };
    // Event types: after `on`, after a comma on the `on` line, after a step's `name:`.
    let step_head = line_head.ends_with(':') && !line_head.contains(' ');
    if head.ends_with(" on")
        || line_head == "on"
        || (line_head.starts_with("on ") && head.ends_with(','))
        || step_head
    {
        for e in &schema.events {
            out.push(item(
                &e.name,
                CompletionItemKind::CLASS,
                Some(e.description.clone()),
            ));
        }
        return out;
    }
    // Fields.
    let mut fields: Vec<(String, String)> = Vec::new();
    for e in events.iter().filter_map(|e| schema.event(e)) {
        for f in &e.1.fields {
            if !fields.iter().any(|(n, _)| *n == f.name) {
                fields.push((f.name.clone(), vigil_compiler::schema_doc::field_line(f)));
            }
        }
    }
    let field_item =
        |(name, line): &(String, String)| item(name, CompletionItemKind::FIELD, Some(line.clone()));
    if before[..word_start].ends_with('.') {
        return fields.iter().map(field_item).collect();
    }
    out.extend(fields.iter().map(field_item));
    let mut seen = std::collections::HashSet::new();
    for s in scope {
        for l in &s.lists {
            if seen.insert(l.name.clone()) {
                out.push(item(
                    &l.name,
                    CompletionItemKind::CONSTANT,
                    Some(format!("list of {} items", l.items.len())),
                ));
            }
        }
        for f in &s.fns {
            if seen.insert(f.name.clone()) {
                out.push(item(
                    &f.name,
                    CompletionItemKind::FUNCTION,
                    Some(f.signature.clone()),
                ));
            }
        }
    }
    for b in BUILTINS {
        let mut it = item(
            b.name,
            CompletionItemKind::FUNCTION,
            Some(docs::builtin_signature(b)),
        );
        it.documentation = Some(Documentation::MarkupContent(MarkupContent {
            kind: MarkupKind::Markdown,
            value: b.doc.to_owned(),
        }));
        out.push(it);
    }
    for k in vigil_compiler::fmt::KEYWORDS {
        out.push(item(k, CompletionItemKind::KEYWORD, None));
    }
    out
}
