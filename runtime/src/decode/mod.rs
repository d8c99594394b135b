//! Decoding JSON lines into [`Event`]s of the host schema: Vigil's native form, or a source's
//! own records through a [`Mapping`].
//!
//! Input: one line of bytes (any bytes: invalid JSON, invalid UTF-8 and hostile nesting are
//! handled, never a panic); output: zero or more events appended to the caller's vector, or a
//! coded [`DecodeError`] for a bad line (which is also counted in [`DecodeStats`]). Values go
//! through the one coercion table ([`crate::coerce`]) and the [`EventBuilder`], so every event
//! is within the host's bounds.
//!
//! Native form: `{"event": "process_start", "time": 1700000000000000000, "host": "pc1",
//! "image": "...", "args": ["a", "b"]}`: `event` names the event type, every other key a field
//! (unknown keys are counted, not errors).
//!
//! Strings without escapes are borrowed from the line; buffers (events, parse scratch) are
//! recycled, so a stream decodes without allocating per line in steady state when its strings
//! need no unescaping (see [`Decoder::recycle`]).

mod error;
mod json;
mod mapping;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::sync::Arc;

pub use error::{DecodeCode, DecodeError};
pub use mapping::{Mapping, MatchValue, Route};

use crate::casefold::eq_folded;
use crate::coerce::{self, Raw};
use crate::event::{recycle_vec, Event, EventBuilder, Source};
use crate::schema::{EventTypeId, FieldIndex, Schema};
use crate::types::{Scalar, Ty};
use json::{JVal, Parsed};

/// How many bad-line errors [`DecodeStats::first_errors`] keeps.
pub const KEPT_ERRORS: usize = 32;
/// How many recycled events a decoder keeps for reuse.
const POOL_MAX: usize = 64;

/// Counters of a decoder, since it was made (or since [`Decoder::take_stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Lines seen (blank lines included).
    pub lines: u64,
    /// Events produced.
    pub events: u64,
    /// Lines that produced no event because of an error.
    pub bad_lines: u64,
    /// Bad lines per code.
    pub bad_by_code: BTreeMap<DecodeCode, u64>,
    /// The first [`KEPT_ERRORS`] bad lines, with line numbers and reasons.
    pub first_errors: Vec<DecodeError>,
    /// Values that could not be coerced to their field's type (the field is absent): E0704.
    pub uncoercible_values: u64,
    /// Strings cut to `max_len` or lists cut to `max_items`, or values with invalid UTF-8
    /// replaced: E0706 / E0707.
    pub truncated_values: u64,
    /// List items dropped beyond `max_items`.
    pub dropped_items: u64,
    /// Keys that are no field of the event type (native form): E0705.
    pub unknown_fields: u64,
    /// Lines that held invalid UTF-8 or lone surrogate escapes: E0707.
    pub invalid_utf8_lines: u64,
}

impl DecodeStats {
    fn bad(&mut self, err: &DecodeError) {
        self.bad_lines += 1;
        *self.bad_by_code.entry(err.code).or_insert(0) += 1;
        if self.first_errors.len() < KEPT_ERRORS {
            self.first_errors.push(err.clone());
        }
    }
}

/// How the value of a field is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Conv {
    Bool,
    Int,
    Time,
    Str,
    Ip,
    List(Scalar),
}

impl Conv {
    fn of(name: &str, ty: Ty) -> Conv {
        match ty {
            Ty::Scalar(Scalar::Int) if name == "time" => Conv::Time,
            Ty::Scalar(Scalar::Int) => Conv::Int,
            Ty::Scalar(Scalar::Bool) => Conv::Bool,
            Ty::Scalar(Scalar::Ip) => Conv::Ip,
            Ty::Scalar(_) => Conv::Str,
            Ty::List(s) => Conv::List(s),
        }
    }
}

/// A mapping route resolved against the host schema.
#[derive(Clone, Debug)]
struct RouteC {
    ty: EventTypeId,
    when: Vec<(usize, Vec<MatchValue>)>,
    /// Field, how to read it, source key ids (first present wins).
    fields: Vec<(FieldIndex, Conv, Vec<usize>)>,
}

#[derive(Clone, Debug)]
struct MappingC {
    keys: HashMap<String, usize>,
    routes: Vec<RouteC>,
}

/// Per event type: field name to index and conversion.
type FieldMap = HashMap<String, (FieldIndex, Conv)>;

/// The read-only part of a decoder.
#[derive(Clone, Debug)]
struct Ctx {
    schema: Schema,
    types: HashMap<String, EventTypeId>,
    fields: Vec<FieldMap>,
    mapping: Option<MappingC>,
}

/// Decodes JSON lines into events. See the module documentation.
#[derive(Debug)]
pub struct Decoder {
    ctx: Ctx,
    strict: bool,
    file: Option<Arc<str>>,
    stats: DecodeStats,
    pool: Vec<Event<'static>>,
    parsed: Parsed<'static>,
    key_pos: Vec<u32>,
}

const NO_POS: u32 = u32::MAX;

impl Decoder {
    fn new(schema: &Schema, mapping: Option<MappingC>) -> Decoder {
        let mut types = HashMap::new();
        let mut fields = Vec::with_capacity(schema.events.len());
        for (i, et) in schema.events.iter().enumerate() {
            if let Ok(id) = u16::try_from(i) {
                types.insert(et.name.clone(), EventTypeId(id));
            }
            let mut map = HashMap::new();
            for (j, f) in et.fields.iter().enumerate() {
                if let Ok(ix) = u16::try_from(j) {
                    map.insert(f.name.clone(), (FieldIndex(ix), Conv::of(&f.name, f.ty)));
                }
            }
            fields.push(map);
        }
        Decoder {
            ctx: Ctx {
                schema: schema.clone(),
                types,
                fields,
                mapping,
            },
            strict: false,
            file: None,
            stats: DecodeStats::default(),
            pool: Vec::new(),
            parsed: Parsed::default(),
            key_pos: Vec::new(),
        }
    }

    /// A decoder of Vigil's native JSON lines for `schema`.
    pub fn native(schema: &Schema) -> Decoder {
        Decoder::new(schema, None)
    }

    /// A decoder of a source's records through `mapping`, resolved against `schema`: refused
    /// (E0709) when the mapping targets another schema or names an event type or field the
    /// schema lacks.
    pub fn with_mapping(schema: &Schema, mapping: &Mapping) -> Result<Decoder, DecodeError> {
        let bad = |msg: String| {
            DecodeError::new(
                DecodeCode::MappingSchema,
                0,
                format!("mapping `{}`: {msg}", mapping.name),
            )
        };
        if mapping.schema != schema.name {
            return Err(bad(format!(
                "maps onto schema `{}`, the host's is `{}`",
                mapping.schema, schema.name
            )));
        }
        let mut keys: HashMap<String, usize> = HashMap::new();
        let mut key_id = |k: &str| -> usize {
            let n = keys.len();
            *keys.entry(k.to_owned()).or_insert(n)
        };
        let mut routes = Vec::with_capacity(mapping.routes.len());
        for route in &mapping.routes {
            let (ty, et) = schema
                .event(&route.event)
                .ok_or_else(|| bad(format!("unknown event type `{}`", route.event)))?;
            let mut fields: Vec<(FieldIndex, Conv, Vec<usize>)> = Vec::new();
            for (name, sources) in &route.fields {
                let (ix, def) = et
                    .field(name)
                    .ok_or_else(|| bad(format!("no field `{name}` on event `{}`", route.event)))?;
                fields.push((
                    ix,
                    Conv::of(name, def.ty),
                    sources.iter().map(|k| key_id(k)).collect(),
                ));
            }
            for (name, sources) in &mapping.defaults {
                let Some((ix, def)) = et.field(name) else {
                    continue;
                };
                if fields.iter().any(|(f, _, _)| *f == ix) {
                    continue;
                }
                fields.push((
                    ix,
                    Conv::of(name, def.ty),
                    sources.iter().map(|k| key_id(k)).collect(),
                ));
            }
            let when = route
                .when
                .iter()
                .map(|(k, v)| (key_id(k), v.clone()))
                .collect();
            routes.push(RouteC { ty, when, fields });
        }
        Ok(Decoder::new(schema, Some(MappingC { keys, routes })))
    }

    /// Strict mode: [`Decoder::decode_reader`] stops at the first bad line.
    pub fn strict(mut self, strict: bool) -> Decoder {
        self.strict = strict;
        self
    }

    /// The file name recorded in events' [`Source`] from now on.
    pub fn set_file(&mut self, file: Option<&str>) {
        self.file = file.map(Arc::from);
    }

    /// The host schema.
    pub fn schema(&self) -> &Schema {
        &self.ctx.schema
    }

    /// The counters so far.
    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }

    /// The counters so far, resetting them.
    pub fn take_stats(&mut self) -> DecodeStats {
        std::mem::take(&mut self.stats)
    }

    /// Takes back decoded events for reuse, returning the emptied vector (its allocation kept),
    /// ready to be filled by the next [`Decoder::decode_line`]:
    ///
    /// ```
    /// # use vigil_runtime::{decode::Decoder, event::Event, schema::Schema};
    /// let mut decoder = Decoder::native(&Schema::endpoint());
    /// let mut spare: Vec<Event<'static>> = Vec::new();
    /// for (n, line) in [br#"{"event": "process_end", "pid": 1}"#].iter().enumerate() {
    ///     let mut out = spare;
    ///     let _ = decoder.decode_line(*line, n as u64 + 1, &mut out);
    ///     // ... use the events in `out` ...
    ///     spare = decoder.recycle(out);
    /// }
    /// ```
    pub fn recycle(&mut self, mut events: Vec<Event<'_>>) -> Vec<Event<'static>> {
        for ev in events.drain(..) {
            if self.pool.len() < POOL_MAX {
                self.pool.push(ev.recycle());
            }
        }
        recycle_vec(events)
    }

    /// Decodes one line (1-based number `line_no`), appending its events to `out`. A bad line
    /// appends nothing, is counted, and is returned as the error; the caller may go on with the
    /// next line. Blank lines yield nothing and are no error.
    pub fn decode_line<'a>(
        &mut self,
        line: &'a [u8],
        line_no: u64,
        out: &mut Vec<Event<'a>>,
    ) -> Result<(), DecodeError> {
        self.stats.lines += 1;
        let line = trim_ascii(line);
        if line.is_empty() {
            return Ok(());
        }
        let source = Source::Line {
            file: self.file.clone(),
            line: line_no,
        };
        let first = out.len();
        let result = match json::repair(line) {
            Ok(text) => {
                let mut parsed: Parsed<'a> = std::mem::take(&mut self.parsed).recycle();
                let r = match parsed.parse(text) {
                    Ok(()) => decode_parsed(
                        &self.ctx,
                        &mut self.stats,
                        &mut self.pool,
                        &mut self.key_pos,
                        &parsed,
                        &|c| c,
                        false,
                        line_no,
                        &source,
                        out,
                    ),
                    Err(e) => Err(bad_json(&e, line_no)),
                };
                self.parsed = parsed.recycle();
                r
            }
            Err(fixed) => {
                self.stats.invalid_utf8_lines += 1;
                let mut parsed = Parsed::default();
                match parsed.parse(&fixed) {
                    Ok(()) => decode_parsed(
                        &self.ctx,
                        &mut self.stats,
                        &mut self.pool,
                        &mut self.key_pos,
                        &parsed,
                        &|c| Cow::Owned(c.into_owned()),
                        true,
                        line_no,
                        &source,
                        out,
                    ),
                    Err(e) => Err(bad_json(&e, line_no)),
                }
            }
        };
        match result {
            Ok(()) => {
                for ev in out.get(first..).unwrap_or_default() {
                    self.stats.events += 1;
                    self.stats.truncated_values += u64::from(ev.truncated_values());
                    self.stats.dropped_items += u64::from(ev.dropped_items());
                }
                Ok(())
            }
            Err(e) => {
                // No half-decoded line: drop what this line added.
                let added: Vec<Event<'a>> = out.drain(first..).collect();
                for ev in added {
                    if self.pool.len() < POOL_MAX {
                        self.pool.push(ev.recycle());
                    }
                }
                self.stats.bad(&e);
                Err(e)
            }
        }
    }

    /// Decodes every line of `reader`, calling `on_event` with each event in order. Bad lines
    /// are counted (see [`Decoder::stats`]) and skipped; in strict mode the first one is
    /// returned. An I/O error is returned (E0712).
    pub fn decode_reader<R: BufRead>(
        &mut self,
        mut reader: R,
        mut on_event: impl FnMut(&Event<'_>),
    ) -> Result<(), DecodeError> {
        let mut buf: Vec<u8> = Vec::new();
        let mut spare: Vec<Event<'static>> = Vec::new();
        let mut line_no = 0u64;
        loop {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf).map_err(|e| {
                DecodeError::new(DecodeCode::Io, line_no + 1, format!("read failed: {e}"))
            })?;
            if n == 0 {
                return Ok(());
            }
            line_no += 1;
            let mut out = spare;
            let result = self.decode_line(&buf, line_no, &mut out);
            for ev in &out {
                on_event(ev);
            }
            spare = self.recycle(out);
            if let Err(e) = result {
                if self.strict {
                    return Err(e);
                }
            }
        }
    }
}

fn trim_ascii(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    while let [first, rest @ ..] = b {
        if first.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    b
}

fn bad_json(e: &serde_json::Error, line_no: u64) -> DecodeError {
    DecodeError::new(
        DecodeCode::BadJson,
        line_no,
        format!("not a JSON object: {e}"),
    )
}

/// Builds the events of one parsed record. `conv` turns the parse's strings into the events'
/// (identity when the line itself outlives the events; owning when the text was repaired).
#[expect(
    clippy::too_many_arguments,
    reason = "one call site per text lifetime; a struct would only rename them"
)]
fn decode_parsed<'t, 'a>(
    ctx: &Ctx,
    stats: &mut DecodeStats,
    pool: &mut Vec<Event<'static>>,
    key_pos: &mut Vec<u32>,
    parsed: &Parsed<'t>,
    conv: &dyn Fn(Cow<'t, str>) -> Cow<'a, str>,
    lossy: bool,
    line_no: u64,
    source: &Source,
    out: &mut Vec<Event<'a>>,
) -> Result<(), DecodeError> {
    let Some(mapping) = &ctx.mapping else {
        return decode_native(ctx, stats, pool, parsed, conv, lossy, line_no, source, out);
    };
    key_pos.clear();
    key_pos.resize(mapping.keys.len(), NO_POS);
    for (i, (key, _)) in parsed.entries.iter().enumerate() {
        if let Some(&id) = mapping.keys.get(key.as_ref()) {
            if let Some(p) = key_pos.get_mut(id) {
                *p = i as u32;
            }
        }
    }
    let value_of = |key: usize| -> Option<&JVal<'t>> {
        let pos = *key_pos.get(key)?;
        parsed.entries.get(pos as usize).map(|(_, v)| v)
    };
    let mut matched = false;
    for route in &mapping.routes {
        let holds = route.when.iter().all(|(key, accepted)| {
            let v = value_of(*key);
            accepted.iter().any(|m| match_value(m, v))
        });
        if !holds {
            continue;
        }
        matched = true;
        let Some(et) = ctx.schema.event_by_id(route.ty) else {
            continue;
        };
        let mut b = EventBuilder::for_type(route.ty, et, pool.pop().unwrap_or_default());
        for (field, how, keys) in &route.fields {
            let Some(v) = keys.iter().find_map(|&k| value_of(k)) else {
                continue;
            };
            set_field(&mut b, *field, *how, v, parsed, conv, lossy, stats);
        }
        b.set_source(Some(source.clone()));
        out.push(b.finish());
    }
    if matched {
        Ok(())
    } else {
        Err(DecodeError::new(
            DecodeCode::NoRoute,
            line_no,
            describe_record(parsed),
        ))
    }
}

/// `no route for Channel `X`, EventID 4`, from the usual keys, for the error message.
fn describe_record(parsed: &Parsed<'_>) -> String {
    let mut parts = Vec::new();
    for (key, v) in &parsed.entries {
        if matches!(key.as_ref(), "Channel" | "EventID" | "event") {
            let text = match v {
                JVal::Scalar(Raw::Str(s)) => format!("`{s}`"),
                JVal::Scalar(Raw::Int(i)) => i.to_string(),
                _ => "?".to_owned(),
            };
            parts.push(format!("{key} {text}"));
        }
    }
    if parts.is_empty() {
        "no mapping route matches the record".to_owned()
    } else {
        format!("no mapping route matches the record ({})", parts.join(", "))
    }
}

fn match_value(m: &MatchValue, v: Option<&JVal<'_>>) -> bool {
    let raw = match v {
        Some(JVal::Scalar(raw)) => Some(raw),
        Some(_) => return false,
        None => None,
    };
    match m {
        MatchValue::Int(n) => raw.is_some_and(|r| coerce::to_int(r) == Ok(Some(*n))),
        MatchValue::Str(s) => match raw {
            None | Some(Raw::Null) => s.is_empty(),
            Some(Raw::Str(text)) => eq_folded(text, s),
            Some(Raw::Bool(b)) => s.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
            Some(Raw::Int(i)) => coerce::parse_int(s) == Some(*i),
            Some(Raw::UInt(u)) => s.parse::<u64>().ok() == Some(*u),
            Some(Raw::Float(_)) => false,
        },
    }
}

#[expect(clippy::too_many_arguments, reason = "mirrors decode_parsed")]
fn decode_native<'t, 'a>(
    ctx: &Ctx,
    stats: &mut DecodeStats,
    pool: &mut Vec<Event<'static>>,
    parsed: &Parsed<'t>,
    conv: &dyn Fn(Cow<'t, str>) -> Cow<'a, str>,
    lossy: bool,
    line_no: u64,
    source: &Source,
    out: &mut Vec<Event<'a>>,
) -> Result<(), DecodeError> {
    // The last `event` key wins, as for every duplicate key.
    let ty_name = parsed
        .entries
        .iter()
        .rev()
        .find(|(k, _)| k == "event")
        .map(|(_, v)| v);
    let ty_name = match ty_name {
        Some(JVal::Scalar(Raw::Str(s))) => s,
        Some(_) => {
            return Err(DecodeError::new(
                DecodeCode::MissingEventType,
                line_no,
                "`event` is not a string",
            ))
        }
        None => {
            return Err(DecodeError::new(
                DecodeCode::MissingEventType,
                line_no,
                "no `event` key",
            ))
        }
    };
    let Some(&ty) = ctx.types.get(ty_name.as_ref()) else {
        return Err(DecodeError::new(
            DecodeCode::UnknownEventType,
            line_no,
            format!(
                "unknown event type `{ty_name}` in schema `{}`",
                ctx.schema.name
            ),
        ));
    };
    let (Some(et), Some(fields)) = (
        ctx.schema.event_by_id(ty),
        ctx.fields.get(usize::from(ty.0)),
    ) else {
        return Err(DecodeError::new(
            DecodeCode::UnknownEventType,
            line_no,
            "event type out of range",
        ));
    };
    let mut b = EventBuilder::for_type(ty, et, pool.pop().unwrap_or_default());
    for (key, v) in &parsed.entries {
        if key == "event" {
            continue;
        }
        match fields.get(key.as_ref()) {
            Some(&(ix, how)) => set_field(&mut b, ix, how, v, parsed, conv, lossy, stats),
            None => stats.unknown_fields += 1,
        }
    }
    b.set_source(Some(source.clone()));
    out.push(b.finish());
    Ok(())
}

/// Sets one field from a JSON value through the coercion table; uncoercible values leave the
/// field absent and are counted. Builder errors cannot occur (index and type come from the
/// schema), and are counted as uncoercible if they ever do.
#[expect(
    clippy::too_many_arguments,
    reason = "the decoding context, passed down"
)]
fn set_field<'t, 'a>(
    b: &mut EventBuilder<'_, 'a>,
    ix: FieldIndex,
    how: Conv,
    v: &JVal<'t>,
    parsed: &Parsed<'t>,
    conv: &dyn Fn(Cow<'t, str>) -> Cow<'a, str>,
    lossy: bool,
    stats: &mut DecodeStats,
) {
    let ok = match (how, v) {
        (Conv::List(item), JVal::List { start, len }) => {
            let mut ok = b.start_list(ix).is_ok();
            for it in parsed.list_items(*start, *len) {
                match it {
                    JVal::Scalar(raw) => ok &= push_item(b, ix, item, raw, conv, lossy, stats),
                    _ => stats.uncoercible_values += 1,
                }
            }
            ok
        }
        (Conv::List(item), JVal::Scalar(raw)) => {
            // A scalar for a list field is a one-item list (absent when absent).
            if matches!(raw, Raw::Null) {
                true
            } else {
                b.start_list(ix).is_ok() && push_item(b, ix, item, raw, conv, lossy, stats)
            }
        }
        (_, JVal::Scalar(raw)) => set_scalar(b, ix, how, raw, conv, lossy),
        _ => false,
    };
    if !ok {
        stats.uncoercible_values += 1;
    }
}

/// Sets a scalar field; false when uncoercible.
fn set_scalar<'t, 'a>(
    b: &mut EventBuilder<'_, 'a>,
    ix: FieldIndex,
    how: Conv,
    raw: &Raw<'t>,
    conv: &dyn Fn(Cow<'t, str>) -> Cow<'a, str>,
    lossy: bool,
) -> bool {
    let set = match how {
        Conv::Int => coerce::to_int(raw).map(|v| v.map(|v| b.set_int(ix, v))),
        Conv::Time => coerce::to_time(raw).map(|v| v.map(|v| b.set_int(ix, v))),
        Conv::Bool => coerce::to_bool(raw).map(|v| v.map(|v| b.set_bool(ix, v))),
        Conv::Ip => coerce::to_ip(raw).map(|v| v.map(|v| b.set_ip(ix, v))),
        Conv::Str => coerce::to_str(raw.clone()).map(|v| {
            v.map(|s| {
                let replaced = lossy && s.contains('\u{FFFD}');
                let r = b.set_cow(ix, conv(s));
                if replaced {
                    let _ = b.mark_truncated(ix);
                }
                r
            })
        }),
        Conv::List(_) => return false,
    };
    match set {
        Ok(None) => true,
        Ok(Some(r)) => r.is_ok(),
        Err(_) => false,
    }
}

/// Appends one item; false when uncoercible (the item is skipped).
fn push_item<'t, 'a>(
    b: &mut EventBuilder<'_, 'a>,
    ix: FieldIndex,
    item: Scalar,
    raw: &Raw<'t>,
    conv: &dyn Fn(Cow<'t, str>) -> Cow<'a, str>,
    lossy: bool,
    _stats: &mut DecodeStats,
) -> bool {
    let pushed = match item {
        Scalar::Int => coerce::to_int(raw).map(|v| v.map(|v| b.push_int_item(ix, v))),
        Scalar::Ip => coerce::to_ip(raw).map(|v| v.map(|v| b.push_ip_item(ix, v))),
        _ => coerce::to_str(raw.clone()).map(|v| {
            v.map(|s| {
                let replaced = lossy && s.contains('\u{FFFD}');
                let r = b.push_item_cow(ix, conv(s));
                if replaced {
                    let _ = b.mark_truncated(ix);
                }
                r
            })
        }),
    };
    match pushed {
        Ok(None) => true,
        Ok(Some(r)) => r.is_ok(),
        Err(_) => false,
    }
}
