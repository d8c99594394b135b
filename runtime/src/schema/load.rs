//! Reading a schema TOML file into a [`Schema`]: structure through serde (with spans), then the
//! checks serde cannot make, each with its code and location.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::{
    ErrorCode, EventType, FieldDef, Schema, SchemaError, SchemaVersion, DEFAULT_MAX_EVENT_BYTES,
    MAX_EVENT_BYTES_CAP, MAX_ITEMS_CAP, MAX_LEN_CAP_BYTES,
};
use crate::types::{Scalar, Ty};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchema {
    name: Spanned<String>,
    version: Spanned<String>,
    #[serde(default)]
    #[expect(dead_code, reason = "accepted for documentation, not kept")]
    description: Option<String>,
    /// A sensor's profile of a standard schema: `linux-ebpf 0.1.0`.
    #[serde(default)]
    profile: Option<String>,
    /// `max_event_bytes` of every event type that sets none.
    max_event_bytes: Option<Spanned<i64>>,
    events: BTreeMap<Spanned<String>, Spanned<RawEvent>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    #[serde(default)]
    description: String,
    max_event_bytes: Option<Spanned<i64>>,
    fields: Vec<Spanned<RawField>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    name: Spanned<String>,
    #[serde(rename = "type")]
    ty: Spanned<String>,
    max_len: Option<Spanned<i64>>,
    max_items: Option<Spanned<i64>>,
    max_total_len: Option<Spanned<i64>>,
    #[serde(default)]
    description: String,
}

/// Turns byte offsets into errors with 1-based line and column.
struct Locator<'a> {
    file: &'a str,
    text: &'a str,
    errors: Vec<SchemaError>,
}

impl Locator<'_> {
    fn error(&mut self, code: ErrorCode, span: Range<usize>, message: String) {
        let (line, column) = line_column(self.text, span.start);
        self.errors.push(SchemaError {
            code,
            message,
            file: self.file.to_owned(),
            line,
            column,
        });
    }
}

/// 1-based line and column (in characters) of byte `offset`, clamped into the text.
fn line_column(text: &str, offset: usize) -> (u32, u32) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or_default();
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).unwrap_or_default().chars().count() + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

/// `^[a-z][a-z0-9]*(_[a-z0-9]+)*$`: what rules can write as a bare identifier.
pub(super) fn is_snake_case(name: &str) -> bool {
    let mut bytes = name.bytes();
    if !bytes.next().is_some_and(|b| b.is_ascii_lowercase()) {
        return false;
    }
    !name.ends_with('_')
        && !name.contains("__")
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn parse_version(text: &str) -> Option<SchemaVersion> {
    let (major, minor) = text.split_once('.')?;
    let number = |part: &str| {
        if part.is_empty() || part.len() > 9 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        part.parse::<u32>().ok()
    };
    Some(SchemaVersion {
        major: number(major)?,
        minor: number(minor)?,
    })
}

pub(super) fn load(file: &str, text: &str) -> Result<Schema, Vec<SchemaError>> {
    let mut loc = Locator {
        file,
        text,
        errors: Vec::new(),
    };
    let raw: RawSchema = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim().replace('\n', "; ");
            let code = if message.contains("duplicate key")
                && line_of(text, span.start)
                    .trim_start()
                    .starts_with("[events.")
            {
                ErrorCode::DuplicateEvent
            } else {
                ErrorCode::SchemaSyntax
            };
            loc.error(code, span, message);
            return Err(loc.errors);
        }
    };

    if !is_snake_case(raw.name.get_ref()) {
        loc.error(
            ErrorCode::NotSnakeCase,
            raw.name.span(),
            format!("schema name `{}` is not snake_case", raw.name.get_ref()),
        );
    }
    let version = parse_version(raw.version.get_ref()).unwrap_or_else(|| {
        loc.error(
            ErrorCode::BadVersion,
            raw.version.span(),
            format!(
                "schema version `{}` is not `MAJOR.MINOR` (for example `1.0`)",
                raw.version.get_ref()
            ),
        );
        SchemaVersion { major: 0, minor: 0 }
    });

    // Events in file order: by the position of their table header.
    let mut raw_events: Vec<(Spanned<String>, Spanned<RawEvent>)> =
        raw.events.into_iter().collect();
    raw_events.sort_by_key(|(name, _)| name.span().start);
    if raw_events.len() > usize::from(u16::MAX) + 1 {
        loc.error(
            ErrorCode::TooManyItems,
            0..0,
            format!("{} event types; at most 65536", raw_events.len()),
        );
    }

    let default_event_bytes = match &raw.max_event_bytes {
        Some(v) => bounded(
            &mut loc,
            v,
            MAX_EVENT_BYTES_CAP,
            ErrorCode::MaxLenOutOfRange,
            "max_event_bytes",
            "(the schema's default)",
        )
        .unwrap_or(DEFAULT_MAX_EVENT_BYTES),
        None => DEFAULT_MAX_EVENT_BYTES,
    };
    let mut events = Vec::with_capacity(raw_events.len());
    for (name, event) in raw_events {
        let event_span = event.span();
        let event = event.into_inner();
        let max_event_bytes = match &event.max_event_bytes {
            Some(v) => bounded(
                &mut loc,
                v,
                MAX_EVENT_BYTES_CAP,
                ErrorCode::MaxLenOutOfRange,
                "max_event_bytes",
                &format!("(event type `{}`)", name.get_ref()),
            )
            .unwrap_or(default_event_bytes),
            None => default_event_bytes,
        };
        if !is_snake_case(name.get_ref()) {
            loc.error(
                ErrorCode::NotSnakeCase,
                name.span(),
                format!("event type name `{}` is not snake_case", name.get_ref()),
            );
        }
        if event.fields.len() > usize::from(u16::MAX) + 1 {
            loc.error(
                ErrorCode::TooManyItems,
                name.span(),
                format!(
                    "event type `{}` has {} fields; at most 65536",
                    name.get_ref(),
                    event.fields.len()
                ),
            );
        }
        let mut seen = HashSet::new();
        let mut fields = Vec::with_capacity(event.fields.len());
        for field in event.fields {
            let field_span = field.span();
            let field = field.into_inner();
            let field_name = field.name.get_ref();
            if !is_snake_case(field_name) {
                loc.error(
                    ErrorCode::NotSnakeCase,
                    field.name.span(),
                    format!("field name `{field_name}` is not snake_case"),
                );
            }
            if !seen.insert(field_name.clone()) {
                loc.error(
                    ErrorCode::DuplicateField,
                    field.name.span(),
                    format!(
                        "field `{field_name}` is defined twice in event type `{}`",
                        name.get_ref()
                    ),
                );
            }
            if let Some(def) =
                check_field(&mut loc, name.get_ref(), field, field_span, max_event_bytes)
            {
                fields.push(def);
            }
        }
        for (required, ty) in [("time", Ty::INT), ("host", Ty::STR)] {
            match fields.iter().find(|f| f.name == required) {
                Some(f) if f.ty != ty => loc.error(
                    ErrorCode::RequiredField,
                    name.span(),
                    format!(
                        "field `{required}` of event type `{}` has type `{}`; it must be `{ty}`",
                        name.get_ref(),
                        f.ty
                    ),
                ),
                Some(_) => {}
                // A field that failed its own checks is reported there, not again here.
                None if !seen.contains(required) => loc.error(
                    ErrorCode::RequiredField,
                    event_span.start..event_span.start,
                    format!(
                        "event type `{}` has no field `{required}` (every event type needs \
                         `time` int and `host` string)",
                        name.get_ref()
                    ),
                ),
                None => {}
            }
        }
        events.push(EventType {
            name: name.into_inner(),
            description: event.description,
            fields,
            max_event_bytes,
        });
    }

    if loc.errors.is_empty() {
        Ok(Schema {
            name: raw.name.into_inner(),
            version,
            profile: raw.profile,
            events,
        })
    } else {
        Err(loc.errors)
    }
}

fn line_of(text: &str, offset: usize) -> &str {
    let start = text
        .get(..offset)
        .and_then(|t| t.rfind('\n'))
        .map_or(0, |i| i + 1);
    let rest = text.get(start..).unwrap_or_default();
    rest.split('\n').next().unwrap_or_default()
}

/// Checks one field's type and bounds; `None` when it has an error (already reported).
fn check_field(
    loc: &mut Locator<'_>,
    event: &str,
    field: RawField,
    span: Range<usize>,
    max_event_bytes: u32,
) -> Option<FieldDef> {
    let name = field.name.get_ref();
    let Some(ty) = Ty::parse(field.ty.get_ref()) else {
        loc.error(
            ErrorCode::SchemaUnknownType,
            field.ty.span(),
            format!(
                "unknown type `{}` for field `{name}` of `{event}`; expected one of `bool`, \
                 `int`, `string`, `ip`, `[string]`, `[int]`, `[ip]`",
                field.ty.get_ref()
            ),
        );
        return None;
    };
    let mut ok = true;
    let holds_strings = ty.scalar() == Scalar::Str;
    let max_len = match (&field.max_len, holds_strings) {
        (None, true) => {
            loc.error(
                ErrorCode::MissingMaxLen,
                span.clone(),
                format!("string field `{name}` of `{event}` has no `max_len`"),
            );
            ok = false;
            0
        }
        (None, false) => 0,
        (Some(len), false) => {
            loc.error(
                ErrorCode::BoundOnWrongType,
                len.span(),
                format!("`max_len` on field `{name}` of type `{ty}`, which holds no strings"),
            );
            ok = false;
            0
        }
        (Some(len), true) => bounded(
            loc,
            len,
            MAX_LEN_CAP_BYTES,
            ErrorCode::MaxLenOutOfRange,
            "max_len",
            name,
        )
        .unwrap_or_else(|| {
            ok = false;
            0
        }),
    };
    let max_items = match (&field.max_items, ty.is_list()) {
        (None, true) => {
            loc.error(
                ErrorCode::MissingMaxItems,
                span,
                format!("list field `{name}` of `{event}` has no `max_items`"),
            );
            ok = false;
            0
        }
        (None, false) => 0,
        (Some(items), false) => {
            loc.error(
                ErrorCode::BoundOnWrongType,
                items.span(),
                format!("`max_items` on field `{name}` of type `{ty}`, which is not a list"),
            );
            ok = false;
            0
        }
        (Some(items), true) => bounded(
            loc,
            items,
            MAX_ITEMS_CAP,
            ErrorCode::MaxItemsOutOfRange,
            "max_items",
            name,
        )
        .unwrap_or_else(|| {
            ok = false;
            0
        }),
    };
    let list_of_strings = holds_strings && ty.is_list();
    let max_total_len = match (&field.max_total_len, list_of_strings) {
        (None, true) => max_len.saturating_mul(max_items).min(max_event_bytes),
        (None, false) => 0,
        (Some(total), false) => {
            loc.error(
                ErrorCode::BoundOnWrongType,
                total.span(),
                format!(
                    "`max_total_len` on field `{name}` of type `{ty}`, which is not a list of \
                     strings"
                ),
            );
            ok = false;
            0
        }
        (Some(total), true) => bounded(
            loc,
            total,
            MAX_EVENT_BYTES_CAP,
            ErrorCode::MaxLenOutOfRange,
            "max_total_len",
            name,
        )
        .unwrap_or_else(|| {
            ok = false;
            0
        }),
    };
    ok.then(|| FieldDef {
        name: field.name.into_inner(),
        ty,
        max_len,
        max_items,
        max_total_len,
        description: field.description,
    })
}

fn bounded(
    loc: &mut Locator<'_>,
    value: &Spanned<i64>,
    cap: u32,
    code: ErrorCode,
    key: &str,
    field: &str,
) -> Option<u32> {
    match u32::try_from(*value.get_ref()) {
        Ok(v) if (1..=cap).contains(&v) => Some(v),
        _ => {
            loc.error(
                code,
                value.span(),
                format!(
                    "`{key}` of field `{field}` is {}; it must be between 1 and {cap}",
                    value.get_ref()
                ),
            );
            None
        }
    }
}
