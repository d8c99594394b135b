//! Rendering diagnostics for people, with ariadne.
//!
//! The header reads `error[E0302]: message` / `warning[W0201]: message` (a custom report kind:
//! ariadne's own header would read `[E0302] Error:`), followed by ariadne's frame with the
//! primary label, the secondary labels, and the help and note lines. In plain mode no colour
//! escape is written (and any that slipped through are stripped), so snapshots are stable.
//! Takes [`Diagnostic`]s and a [`SourceMap`]; gives text. Owns nothing else.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

use ariadne::{Cache, CharSet, Color, Config, IndexType, Label, Report, ReportKind, Source};
use vigil_grammar::span::{FileId, Span};

use super::{Diagnostic, Severity};
use crate::source::SourceMap;

/// Whether to colour the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ColorChoice {
    /// Colour when writing to a terminal.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// An ariadne cache over the source map: one [`Source`] per file, built on first use.
struct MapCache<'a> {
    map: &'a SourceMap,
    sources: HashMap<FileId, Source<&'a str>>,
}

/// The name ariadne prints for a file.
struct FileName(String);

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'a> Cache<FileId> for MapCache<'a> {
    type Storage = &'a str;

    fn fetch(&mut self, id: &FileId) -> Result<&Source<&'a str>, impl fmt::Debug> {
        let map = self.map;
        Ok::<_, String>(
            self.sources
                .entry(*id)
                .or_insert_with(|| Source::from(map.text(*id))),
        )
    }

    fn display<'b>(&self, id: &'b FileId) -> Option<impl fmt::Display + 'b> {
        Some(FileName(self.map.name(*id).to_owned()))
    }
}

/// A span as ariadne takes it: clamped to the file's text and widened to whole characters
/// (a span from another reading of the bytes, such as the first invalid UTF-8 byte, may end
/// inside the replacement character).
fn range(map: &SourceMap, span: Span) -> (FileId, Range<usize>) {
    let text = map.text(span.file);
    let len = text.len();
    let mut start = (span.start as usize).min(len);
    while start > 0 && !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (span.end as usize).clamp(start, len);
    while end < len && !text.is_char_boundary(end) {
        end += 1;
    }
    (span.file, start..end)
}

/// Renders one diagnostic. `color` selects ANSI colours; when false the text is plain.
pub fn render(diag: &Diagnostic, map: &SourceMap, color: bool) -> String {
    let (kind_color, label_color) = match diag.severity {
        Severity::Error => (Color::Red, Color::Red),
        Severity::Warning => (Color::Yellow, Color::Yellow),
    };
    let header = format!("{}[{}]", diag.severity.as_str(), diag.code);
    let config = Config::default()
        .with_color(color)
        .with_index_type(IndexType::Byte)
        .with_char_set(CharSet::Unicode);
    let primary = range(map, diag.primary.span);
    let mut builder = Report::build(ReportKind::Custom(&header, kind_color), primary.clone())
        .with_config(config)
        .with_message(&diag.message);
    let mut primary_label = Label::new(primary).with_order(0).with_priority(1);
    if !diag.primary.message.is_empty() {
        primary_label = primary_label.with_message(&diag.primary.message);
    }
    if color {
        primary_label = primary_label.with_color(label_color);
    }
    builder = builder.with_label(primary_label);
    for (i, label) in diag.labels.iter().enumerate() {
        let mut l =
            Label::new(range(map, label.span)).with_order(i32::try_from(i + 1).unwrap_or(i32::MAX));
        if !label.message.is_empty() {
            l = l.with_message(&label.message);
        }
        if color {
            l = l.with_color(Color::Blue);
        }
        builder = builder.with_label(l);
    }
    if let Some(help) = &diag.help {
        builder = builder.with_help(help);
    }
    for note in &diag.notes {
        builder = builder.with_note(note);
    }
    let report = builder.finish();
    let mut out = Vec::new();
    let cache = MapCache {
        map,
        sources: HashMap::new(),
    };
    if report.write(cache, &mut out).is_err() {
        // Writing to a Vec cannot fail; keep the header at least.
        out.clear();
        out.extend_from_slice(format!("{header}: {}\n", diag.message).as_bytes());
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    if color {
        text
    } else {
        plain(&text)
    }
}

/// Plain text: no escapes, no trailing spaces (ariadne pads some lines), so snapshots are
/// stable under editors that trim them.
fn plain(text: &str) -> String {
    let stripped = strip_ansi(text);
    let mut out = String::with_capacity(stripped.len());
    for line in stripped.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Renders every diagnostic, in order.
pub fn render_all(diags: &[Diagnostic], map: &SourceMap, color: bool) -> String {
    let mut out = String::new();
    for d in diags {
        out.push_str(&render(d, map, color));
    }
    out
}

/// Removes ANSI escape sequences (`ESC [ ... letter`).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::ErrorCode;

    #[test]
    fn header_reads_error_code_message_and_has_no_escapes_in_plain_mode() {
        let mut map = SourceMap::new();
        let file = map.add("a.vgl", "rule r {\n  on x\n}\n");
        let d = Diagnostic::error(
            ErrorCode::UnknownEventType,
            Span::new(file, 14, 15),
            "unknown event type `x`",
            "no such event type",
        )
        .with_help("did you mean `y`?");
        let text = render(&d, &map, false);
        assert!(
            text.starts_with("error[E0204]: unknown event type `x`\n"),
            "{text}"
        );
        assert!(text.contains("a.vgl:2:6"), "{text}");
        assert!(!text.contains('\u{1b}'));
    }

    #[test]
    fn strip_ansi_removes_sequences() {
        assert_eq!(strip_ansi("\u{1b}[31merror\u{1b}[0m: x"), "error: x");
    }
}
