//! Readable descriptions of an event schema: its event types and their fields with types,
//! bounds and descriptions.
//!
//! Input: a [`Schema`]; output: text, or JSON for tools ([`schema_json`], [`event_type_json`]).
//! `vigil schema` prints it and the language server's hover shows the same words, so a field
//! reads the same in the terminal and in the editor. It owns wording only: it never checks or
//! changes the schema.

use std::fmt::Write as _;

use serde_json::{json, Value};
use vigil_runtime::schema::{EventType, FieldDef, Schema};

/// One field on one line: `name: type (bounds) — description`.
pub fn field_line(field: &FieldDef) -> String {
    let mut out = format!("{}: {}", field.name, field.ty);
    let bounds = field_bounds(field);
    if !bounds.is_empty() {
        let _ = write!(out, " ({bounds})");
    }
    if !field.description.is_empty() {
        let _ = write!(out, " — {}", field.description);
    }
    out
}

/// A field's bounds in words (`at most 98304 bytes`), empty for types without bounds.
pub fn field_bounds(field: &FieldDef) -> String {
    let mut parts = Vec::new();
    if field.max_items > 0 {
        parts.push(format!("at most {} items", field.max_items));
    }
    if field.max_len > 0 {
        parts.push(format!("at most {} bytes", field.max_len));
    }
    if field.max_total_len > 0 {
        parts.push(format!("at most {} bytes in all", field.max_total_len));
    }
    parts.join(", ")
}

/// A field's bounds in short (`≤ 98304 bytes`, `≤ 64 items of ≤ 4096 bytes, ≤ 98304 in all`),
/// for the columns of [`event_type_text`]; empty for types without bounds.
pub fn field_bounds_short(field: &FieldDef) -> String {
    let mut out = String::new();
    if field.max_items > 0 {
        let _ = write!(out, "≤ {} items", field.max_items);
        if field.max_len > 0 {
            let _ = write!(out, " of ");
        }
    }
    if field.max_len > 0 {
        let _ = write!(out, "≤ {} bytes", field.max_len);
    }
    let product = u64::from(field.max_len) * u64::from(field.max_items.max(1));
    if field.max_total_len > 0 && u64::from(field.max_total_len) < product {
        let _ = write!(out, ", ≤ {} in all", field.max_total_len);
    }
    out
}

/// A field as the language server's hover shows it (Markdown): its name and type, the event
/// type it belongs to, its bounds and its description.
pub fn field_hover(event: &EventType, field: &FieldDef) -> String {
    let mut out = format!("```vgl\n{}.{}: {}\n```\n", event.name, field.name, field.ty);
    let bounds = field_bounds(field);
    if !bounds.is_empty() {
        let _ = writeln!(out, "\n{bounds}");
    }
    if !field.description.is_empty() {
        let _ = writeln!(out, "\n{}", field.description);
    }
    out
}

/// An event type: its name and description, then one line per field with its name, type,
/// bounds and description in aligned columns, then the event's byte limit.
pub fn event_type_text(event: &EventType) -> String {
    let mut out = event.name.clone();
    if !event.description.is_empty() {
        let _ = write!(out, " — {}", event.description);
    }
    out.push('\n');
    let rows: Vec<[String; 4]> = event
        .fields
        .iter()
        .map(|f| {
            [
                f.name.clone(),
                f.ty.to_string(),
                field_bounds_short(f),
                f.description.clone(),
            ]
        })
        .collect();
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let (w0, w1, w2) = (width(0), width(1), width(2));
    for [name, ty, bounds, description] in &rows {
        let mut line = format!("    {name:<w0$}  {ty:<w1$}");
        if w2 > 0 {
            let _ = write!(line, "  {bounds:<w2$}");
        }
        if !description.is_empty() {
            let _ = write!(line, "  {description}");
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    if event.max_event_bytes > 0 {
        let _ = writeln!(
            out,
            "    (string and list values hold at most {} bytes in all)",
            event.max_event_bytes
        );
    }
    out
}

/// The whole schema: a header with its name and version, then every event type in order.
pub fn schema_text(schema: &Schema) -> String {
    let mut out = format!(
        "schema {} {}.{}",
        schema.name, schema.version.major, schema.version.minor
    );
    if let Some(profile) = &schema.profile {
        let _ = write!(out, " (profile {profile})");
    }
    let _ = writeln!(
        out,
        ": {} event type{}",
        schema.events.len(),
        if schema.events.len() == 1 { "" } else { "s" }
    );
    for e in &schema.events {
        out.push('\n');
        out.push_str(&event_type_text(e));
    }
    out
}

/// A field as JSON: `name`, `type`, `max_len`, `max_items`, `max_total_len` (0: no bound of
/// that kind), `bounds` (in words) and `description`.
pub fn field_json(field: &FieldDef) -> Value {
    json!({
        "name": field.name,
        "type": field.ty.to_string(),
        "max_len": field.max_len,
        "max_items": field.max_items,
        "max_total_len": field.max_total_len,
        "bounds": field_bounds(field),
        "description": field.description,
    })
}

/// An event type as JSON: `name`, `description`, `max_event_bytes` and `fields`.
pub fn event_type_json(event: &EventType) -> Value {
    json!({
        "name": event.name,
        "description": event.description,
        "max_event_bytes": event.max_event_bytes,
        "fields": event.fields.iter().map(field_json).collect::<Vec<Value>>(),
    })
}

/// The whole schema as JSON: `schema` (name), `version` (`"1.0"`), `profile` (or null) and
/// `events`.
pub fn schema_json(schema: &Schema) -> Value {
    json!({
        "schema": schema.name,
        "version": format!("{}.{}", schema.version.major, schema.version.minor),
        "profile": schema.profile,
        "events": schema.events.iter().map(event_type_json).collect::<Vec<Value>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_of_the_endpoint_schema_is_described_once() {
        let schema = Schema::endpoint();
        let text = schema_text(&schema);
        assert!(text.starts_with("schema endpoint "), "{text}");
        let json = schema_json(&schema);
        let events = json["events"].as_array().expect("events");
        assert_eq!(events.len(), schema.events.len());
        for (e, j) in schema.events.iter().zip(events) {
            assert_eq!(j["name"], e.name.as_str());
            let one = event_type_text(e);
            assert_eq!(
                one.lines().count(),
                e.fields.len() + 1 + usize::from(e.max_event_bytes > 0)
            );
            for (f, jf) in e.fields.iter().zip(j["fields"].as_array().expect("fields")) {
                assert_eq!(jf["type"], f.ty.to_string());
                assert!(one.contains(&f.description), "{one}");
                assert!(field_hover(e, f).contains(&format!("{}.{}", e.name, f.name)));
            }
        }
    }
}
