//! Diagnostics as JSON lines, for pipelines (`vigil check --format json`).
//!
//! One object per diagnostic: `code`, `severity`, `message`, `file`, `line`, `column`,
//! `end_line`, `end_column` (1-based; columns count characters; the end is exclusive),
//! `label`, `labels` (an array of `{file, line, column, end_line, end_column, message}`),
//! `help` (string or null) and `notes` (array of strings).

use serde_json::{json, Value};
use vigil_grammar::span::Span;

use super::Diagnostic;
use crate::source::SourceMap;

/// The location fields of a span.
fn location(map: &SourceMap, span: Span) -> (String, u32, u32, u32, u32) {
    let start = map.start(span);
    let end = map.end(span);
    (
        map.name(span.file).to_owned(),
        start.line,
        start.column,
        end.line,
        end.column,
    )
}

/// One diagnostic as a JSON value.
pub fn to_json(diag: &Diagnostic, map: &SourceMap) -> Value {
    let (file, line, column, end_line, end_column) = location(map, diag.primary.span);
    let labels: Vec<Value> = diag
        .labels
        .iter()
        .map(|l| {
            let (file, line, column, end_line, end_column) = location(map, l.span);
            json!({
                "file": file,
                "line": line,
                "column": column,
                "end_line": end_line,
                "end_column": end_column,
                "message": l.message,
            })
        })
        .collect();
    json!({
        "code": diag.code.code(),
        "severity": diag.severity.as_str(),
        "message": diag.message,
        "file": file,
        "line": line,
        "column": column,
        "end_line": end_line,
        "end_column": end_column,
        "label": diag.primary.message,
        "labels": labels,
        "help": diag.help,
        "notes": diag.notes,
    })
}

/// One diagnostic as one line of JSON (without the newline).
pub fn to_line(diag: &Diagnostic, map: &SourceMap) -> String {
    to_json(diag, map).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::ErrorCode;

    #[test]
    fn positions_are_one_based_with_character_columns() {
        let mut map = SourceMap::new();
        let file = map.add("a.vgl", "é x\n");
        let d = Diagnostic::error(ErrorCode::UnknownName, Span::new(file, 3, 4), "m", "l");
        let v = to_json(&d, &map);
        assert_eq!(v["line"], 1);
        assert_eq!(v["column"], 3);
        assert_eq!(v["end_column"], 4);
        assert_eq!(v["code"], "E0202");
        assert_eq!(v["severity"], "error");
        assert!(v["help"].is_null());
    }
}
