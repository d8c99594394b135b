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
//! Forms: [`Decoder::native`], [`Decoder::with_mapping`], or [`Decoder::auto`], which tells
//! each record's form by its shape (an `event` key: native; `Channel`/`EventID`: the built-in
//! `windows` mapping). A record of several event types is parsed once and each type's event is
//! built from that one parse. A record no route takes is returned as E0710 but counted as
//! unrouted, by kind, not as a bad line ([`DecodeStats`] says how records and events add up).
//!
//! Projection ([`Decoder::project`], with a [`FieldSet`], typically
//! [`FieldSet::for_binding`] of the loaded program): the decoder then produces only the fields
//! the set names. The JSON values of every other key are skipped while parsing: still checked
//! for JSON syntax (a malformed line is a bad line either way), but not unescaped, not coerced
//! and not copied, and mapping routes do not look them up; only the keys route conditions read
//! (`Channel`, `EventID`, ...) are always parsed. Consequences: values of fields nobody reads
//! are not coerced, so [`DecodeStats::uncoercible_values`] counts only fields that are read;
//! and a skipped number is checked by grammar only (`1e999` in a skipped value is no error,
//! where a decoded one makes the line bad, as serde_json reads it). Without a projection the
//! decoder decodes every field and parses every value, as before projections existed.
//!
//! Cost: strings without escapes are borrowed from the line; unescaped strings, repaired text
//! and numbers given to string fields are copied into each event's own reused text buffer. With
//! the parse scratch and the events recycled ([`Decoder::recycle`]), a stream decodes without
//! allocating per line in steady state, escaped strings included. Keys are found through a
//! hash table built once; the lines of a mapping go to the routes their dispatch key (the key
//! most route conditions test, `Channel` for the shipped mappings) selects, found with one
//! case-folded lookup instead of one comparison per route.

mod json;
mod mapping;
mod project;

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::sync::Arc;

// The codes live beside the event builder, which reports them too (`crate::event::error`).
pub use crate::event::{DecodeError, ErrorCode};
pub use mapping::{Mapping, MatchValue, Route};
pub use project::FieldSet;

use crate::casefold::{eq_folded, fold_into};
use crate::coerce;
use crate::event::{recycle_vec, Event, EventBuilder, Source, TypeLayout};
use crate::schema::{EventTypeId, FieldIndex, Schema};
use crate::types::{Scalar, Ty};
use json::{FastOutcome, FxMap, JScalar, JVal, Keys, Parsed, NO_VAL, UNKNOWN};

/// How many bad-line errors [`DecodeStats::first_errors`] keeps.
pub const KEPT_ERRORS: usize = 32;
/// How many recycled events a decoder keeps for reuse.
const POOL_MAX: usize = 64;

/// How many distinct kinds of unrouted record [`DecodeStats::unrouted_kinds`] tells apart; the
/// others are counted under [`OTHER_KINDS`].
pub const KEPT_UNROUTED_KINDS: usize = 256;
/// The kind unrouted records beyond [`KEPT_UNROUTED_KINDS`] kinds are counted under.
pub const OTHER_KINDS: &str = "(other kinds)";

/// Counters of a decoder, since it was made (or since [`Decoder::take_stats`]).
///
/// How they add up: `lines` = blank lines + `records`; `records` = records that gave events +
/// `unrouted` + `bad_lines`; `events` >= records that gave events (a record of several event
/// types gives one event per type).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Lines seen (blank lines included).
    pub lines: u64,
    /// Records read: the lines that were not blank.
    pub records: u64,
    /// Events produced.
    pub events: u64,
    /// Records no mapping route takes (E0710): well-formed, of a kind the mapping does not
    /// route. Counted here, not in `bad_lines`.
    pub unrouted: u64,
    /// Unrouted records per kind (`Channel `Security`, EventID 4627`), at most
    /// [`KEPT_UNROUTED_KINDS`] kinds (the rest under [`OTHER_KINDS`]).
    pub unrouted_kinds: BTreeMap<String, u64>,
    /// Lines that produced no event because of an error (unrouted records excluded).
    pub bad_lines: u64,
    /// Bad lines per code.
    pub bad_by_code: BTreeMap<ErrorCode, u64>,
    /// The first [`KEPT_ERRORS`] bad lines, with line numbers and reasons.
    pub first_errors: Vec<DecodeError>,
    /// Values that could not be coerced to their field's type (the field is absent): E0704.
    /// Under a projection ([`Decoder::project`]), only values of the fields decoded are
    /// coerced, so only those are counted.
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
    /// Records that named a key more than once (the last value kept): E0713. Only keys the
    /// decoder reads are compared (under a projection, the fields decoded and the dispatch
    /// keys).
    pub duplicate_key_lines: u64,
}

impl DecodeStats {
    /// Counts an unrouted record of kind `kind`.
    fn count_unrouted(&mut self, kind: &str) {
        self.unrouted += 1;
        self.add_unrouted_kind(kind, 1);
    }

    /// Adds `n` unrouted records of kind `kind` to the per-kind table (bounded).
    pub fn add_unrouted_kind(&mut self, kind: &str, n: u64) {
        if let Some(c) = self.unrouted_kinds.get_mut(kind) {
            *c += n;
        } else if self.unrouted_kinds.len() < KEPT_UNROUTED_KINDS {
            self.unrouted_kinds.insert(kind.to_owned(), n);
        } else {
            *self
                .unrouted_kinds
                .entry(OTHER_KINDS.to_owned())
                .or_insert(0) += n;
        }
    }

    /// The most frequent unrouted kinds, most frequent first (ties by name), at most `n`.
    pub fn top_unrouted(&self, n: usize) -> Vec<(&str, u64)> {
        let mut v: Vec<(&str, u64)> = self
            .unrouted_kinds
            .iter()
            .map(|(k, c)| (k.as_str(), *c))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v.truncate(n);
        v
    }

    /// Adds the counters of `other` (first errors kept up to [`KEPT_ERRORS`]).
    pub fn add(&mut self, other: &DecodeStats) {
        self.lines += other.lines;
        self.records += other.records;
        self.events += other.events;
        self.unrouted += other.unrouted;
        for (k, n) in &other.unrouted_kinds {
            self.add_unrouted_kind(k, *n);
        }
        self.bad_lines += other.bad_lines;
        for (code, n) in &other.bad_by_code {
            *self.bad_by_code.entry(*code).or_insert(0) += n;
        }
        for e in &other.first_errors {
            if self.first_errors.len() < KEPT_ERRORS {
                self.first_errors.push(e.clone());
            }
        }
        self.uncoercible_values += other.uncoercible_values;
        self.truncated_values += other.truncated_values;
        self.dropped_items += other.dropped_items;
        self.unknown_fields += other.unknown_fields;
        self.invalid_utf8_lines += other.invalid_utf8_lines;
        self.duplicate_key_lines += other.duplicate_key_lines;
    }

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

/// A field of a route: where it goes, how it is read, its source key ids (first present wins).
type RouteField = (FieldIndex, Conv, Vec<u32>);

/// A mapping route resolved against the host schema.
#[derive(Clone, Debug)]
struct RouteC {
    ty: EventTypeId,
    when: Vec<(u32, Vec<MatchValue>)>,
    /// Whether the dispatch indexes the route by its condition on the dispatch key: a route
    /// found through the key's value then meets that condition already.
    indexed: bool,
    /// Every field the route maps.
    all: Vec<RouteField>,
    /// The fields decoded: `all`, or those of the projection.
    fields: Vec<RouteField>,
}

/// Which routes a record may match, by the case-folded value of one key.
#[derive(Clone, Debug)]
struct Dispatch {
    /// The key: the one most routes test against non-empty strings only.
    key: u32,
    /// Folded value to the routes to try (in route order): those whose condition on `key`
    /// accepts the value, and every route without such a condition.
    by_value: FxMap<Box<str>, Vec<u32>>,
    /// The routes without a string-only condition on `key`: all a record may match when its
    /// value of `key` is absent, null, or a value no route names.
    always: Vec<u32>,
}

#[derive(Clone, Debug)]
struct MappingC {
    routes: Vec<RouteC>,
    /// Every route, in order: the candidates when the dispatch key holds a number or bool.
    every: Vec<u32>,
    dispatch: Option<Dispatch>,
}

/// What the decoder keeps per event type.
#[derive(Clone, Debug)]
struct TypeC {
    layout: TypeLayout,
    /// Native form: key id to field and conversion.
    native: FxMap<u32, (FieldIndex, Conv)>,
}

/// The read-only part of a decoder (changed only by [`Decoder::project`]).
#[derive(Clone, Debug)]
struct Ctx {
    schema: Schema,
    types: HashMap<String, EventTypeId>,
    per_type: Vec<TypeC>,
    keys: Keys,
    /// The native form's `event` key.
    event_key: u32,
    /// `Channel`, `EventID`, `event`: named in a no-route error, so always parsed.
    describe_keys: [u32; 3],
    mapping: Option<MappingC>,
    /// With a mapping: whether records in the native form (an `event` key) are decoded
    /// natively too, the form being told by each record's shape ([`Decoder::auto`]).
    native_too: bool,
    projection: Option<FieldSet>,
    /// Whether a record naming a key twice is a bad line (E0713) instead of a counted one.
    refuse_duplicates: bool,
}

/// The mutable scratch of a decoder.
#[derive(Debug, Default)]
struct Work {
    stats: DecodeStats,
    pool: Vec<Event<'static>>,
    /// Per key id: the line stamp and value index of its last occurrence.
    key_pos: Vec<(u32, u32)>,
    stamp: u32,
    /// The dispatch key's value, folded.
    fold: String,
    /// Per key id: the stamp of the line it was last seen on (duplicate keys).
    seen: Vec<u32>,
    /// This line's stamp for `seen`.
    seen_stamp: u32,
}

/// Decodes JSON lines into events. See the module documentation.
#[derive(Debug)]
pub struct Decoder {
    ctx: Ctx,
    strict: bool,
    file: Option<Arc<str>>,
    work: Work,
    parsed: Parsed<'static>,
}

impl Decoder {
    fn new(schema: &Schema, mapping: Option<(Keys, MappingC)>, native_too: bool) -> Decoder {
        let mut types = HashMap::new();
        let (mut keys, mapping) = match mapping {
            Some((keys, m)) => (keys, Some(m)),
            None => (Keys::default(), None),
        };
        let native_too = native_too && mapping.is_some();
        let native_form = mapping.is_none() || native_too;
        let mut per_type = Vec::with_capacity(schema.events.len());
        for (i, et) in schema.events.iter().enumerate() {
            if let Ok(id) = u16::try_from(i) {
                types.insert(et.name.clone(), EventTypeId(id));
            }
            let mut native = FxMap::default();
            if native_form {
                for (j, f) in et.fields.iter().enumerate() {
                    if let Ok(ix) = u16::try_from(j) {
                        let id = keys.intern(&f.name);
                        if id != UNKNOWN && f.name != "event" {
                            native.insert(id, (FieldIndex(ix), Conv::of(&f.name, f.ty)));
                        }
                    }
                }
            }
            per_type.push(TypeC {
                layout: TypeLayout::of(et),
                native,
            });
        }
        let event_key = keys.intern("event");
        let describe_keys = [keys.intern("Channel"), keys.intern("EventID"), event_key];
        keys.check_unknown = true;
        keys.record_skipped = native_form;
        Decoder {
            ctx: Ctx {
                schema: schema.clone(),
                types,
                per_type,
                keys,
                event_key,
                describe_keys,
                mapping,
                native_too,
                projection: None,
                refuse_duplicates: false,
            },
            strict: false,
            file: None,
            work: Work::default(),
            parsed: Parsed::default(),
        }
    }

    /// A decoder of Vigil's native JSON lines for `schema`.
    pub fn native(schema: &Schema) -> Decoder {
        Decoder::new(schema, None, false)
    }

    /// A decoder that tells each record's form by its shape, for input given without a
    /// mapping: a record with an `event` key is Vigil's native form; one with a `Channel` or
    /// `EventID` key is a Windows event record, read through the built-in `windows` mapping;
    /// any other record is a bad line (E0703) whose message says to name a mapping. Records
    /// the mapping does not route are unrouted ([`DecodeStats::unrouted`]), not bad. When the
    /// `windows` mapping does not fit `schema` (another schema than `endpoint`), the decoder
    /// is [`Decoder::native`].
    pub fn auto(schema: &Schema) -> Decoder {
        let Ok(windows) = Mapping::builtin("windows") else {
            return Decoder::native(schema);
        };
        match Decoder::mapped(schema, &windows, true) {
            Ok(d) => d,
            Err(_) => Decoder::native(schema),
        }
    }

    /// Whether the decoder tells native and Windows records apart by shape
    /// ([`Decoder::auto`]).
    pub fn is_auto(&self) -> bool {
        self.ctx.native_too
    }

    /// A decoder of a source's records through `mapping`, resolved against `schema`: refused
    /// (E0709) when the mapping targets another schema or names an event type or field the
    /// schema lacks.
    pub fn with_mapping(schema: &Schema, mapping: &Mapping) -> Result<Decoder, DecodeError> {
        Decoder::mapped(schema, mapping, false)
    }

    fn mapped(
        schema: &Schema,
        mapping: &Mapping,
        native_too: bool,
    ) -> Result<Decoder, DecodeError> {
        mapping.check_overlaps()?;
        let bad = |msg: String| {
            DecodeError::new(
                ErrorCode::MappingSchema,
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
        let mut keys = Keys::default();
        let mut routes = Vec::with_capacity(mapping.routes.len());
        for route in &mapping.routes {
            let (ty, et) = schema
                .event(&route.event)
                .ok_or_else(|| bad(format!("unknown event type `{}`", route.event)))?;
            let mut fields: Vec<RouteField> = Vec::new();
            for (name, sources) in &route.fields {
                let (ix, def) = et
                    .field(name)
                    .ok_or_else(|| bad(format!("no field `{name}` on event `{}`", route.event)))?;
                fields.push((
                    ix,
                    Conv::of(name, def.ty),
                    sources.iter().map(|k| keys.intern(k)).collect(),
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
                    sources.iter().map(|k| keys.intern(k)).collect(),
                ));
            }
            let when = route
                .when
                .iter()
                .map(|(k, v)| (keys.intern(k), v.clone()))
                .collect();
            routes.push(RouteC {
                ty,
                when,
                indexed: false,
                all: fields.clone(),
                fields,
            });
        }
        let every = (0..routes.len())
            .filter_map(|r| u32::try_from(r).ok())
            .collect();
        let dispatch = build_dispatch(&mut routes);
        Ok(Decoder::new(
            schema,
            Some((
                keys,
                MappingC {
                    routes,
                    every,
                    dispatch,
                },
            )),
            native_too,
        ))
    }

    /// Whether a record that names a key twice is a bad line (E0713), as `vigil run --strict`
    /// wants; by default it is counted ([`DecodeStats::duplicate_key_lines`]) and the last
    /// value is kept.
    pub fn refuse_duplicate_keys(&mut self, refuse: bool) {
        self.ctx.refuse_duplicates = refuse;
    }

    /// Strict mode: [`Decoder::decode_reader`] stops at the first bad line.
    pub fn strict(mut self, strict: bool) -> Decoder {
        self.strict = strict;
        self
    }

    /// From now on, decodes only the fields in `needed` (see the module documentation): the
    /// values of every other key are skipped. Fields `needed` names that the schema lacks are
    /// ignored. Replaces any earlier projection.
    pub fn project(&mut self, needed: &FieldSet) {
        let ctx = &mut self.ctx;
        ctx.keys.keep_all(false);
        ctx.keys.check_unknown = false;
        ctx.keys.set_keep(ctx.event_key, true);
        for k in ctx.describe_keys {
            ctx.keys.set_keep(k, true);
        }
        if let Some(m) = &mut ctx.mapping {
            for route in &mut m.routes {
                route.fields = route
                    .all
                    .iter()
                    .filter(|(ix, _, _)| needed.contains(route.ty, *ix))
                    .cloned()
                    .collect();
                for (key, _) in &route.when {
                    ctx.keys.set_keep(*key, true);
                }
                for (_, _, sources) in &route.fields {
                    for k in sources {
                        ctx.keys.set_keep(*k, true);
                    }
                }
            }
        }
        if ctx.mapping.is_none() || ctx.native_too {
            for (t, tc) in ctx.per_type.iter().enumerate() {
                let Ok(t) = u16::try_from(t) else { break };
                for (&key, &(ix, _)) in &tc.native {
                    if needed.contains(EventTypeId(t), ix) {
                        ctx.keys.set_keep(key, true);
                    }
                }
            }
        }
        ctx.projection = Some(needed.clone());
    }

    /// Drops the projection: every field is decoded again.
    pub fn project_all(&mut self) {
        let ctx = &mut self.ctx;
        ctx.keys.keep_all(true);
        ctx.keys.check_unknown = true;
        if let Some(m) = &mut ctx.mapping {
            for route in &mut m.routes {
                route.fields.clone_from(&route.all);
            }
        }
        ctx.projection = None;
    }

    /// The projection in force, if any.
    pub fn projection(&self) -> Option<&FieldSet> {
        self.ctx.projection.as_ref()
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
        &self.work.stats
    }

    /// The counters so far, resetting them.
    pub fn take_stats(&mut self) -> DecodeStats {
        std::mem::take(&mut self.work.stats)
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
            if self.work.pool.len() < POOL_MAX {
                self.work.pool.push(ev.recycle());
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
        self.work.stats.lines += 1;
        let line = trim_ascii(line);
        if line.is_empty() {
            return Ok(());
        }
        self.work.stats.records += 1;
        let source = Source::Line {
            file: self.file.clone(),
            line: line_no,
        };
        let first = out.len();
        // Valid UTF-8 is parsed in place; the fast parser also says whether the line holds a
        // surrogate escape, so only such lines (and those it leaves to serde_json) are checked
        // for lone ones. Invalid UTF-8 and lone surrogates are repaired into an owned copy.
        let mut repaired = None;
        let result = match std::str::from_utf8(line) {
            Ok(text) => {
                let mut parsed: Parsed<'a> = std::mem::take(&mut self.parsed).recycle();
                let fast = parsed.parse_fast(text, &self.ctx.keys);
                if fast != (FastOutcome::Parsed { surrogates: false }) {
                    repaired = json::fix_surrogates(text);
                }
                let r = match (repaired.is_some(), fast) {
                    (true, _) => Ok(()),
                    (false, FastOutcome::Parsed { .. }) => decode_parsed::<FromLine>(
                        &self.ctx,
                        &mut self.work,
                        &parsed,
                        line_no,
                        &source,
                        out,
                    ),
                    (false, FastOutcome::GaveUp) => {
                        match parsed.parse_serde(text, &self.ctx.keys) {
                            Ok(()) => decode_parsed::<FromLine>(
                                &self.ctx,
                                &mut self.work,
                                &parsed,
                                line_no,
                                &source,
                                out,
                            ),
                            Err(e) => Err(bad_json(&e, line_no)),
                        }
                    }
                };
                self.parsed = parsed.recycle();
                r
            }
            Err(_) => {
                repaired = Some(json::repair_bytes(line));
                Ok(())
            }
        };
        let result = match repaired {
            None => result,
            Some(fixed) => {
                self.work.stats.invalid_utf8_lines += 1;
                let mut parsed: Parsed<'_> = std::mem::take(&mut self.parsed).recycle();
                let r = match parsed.parse(&fixed, &self.ctx.keys) {
                    Ok(()) => decode_parsed::<FromRepair>(
                        &self.ctx,
                        &mut self.work,
                        &parsed,
                        line_no,
                        &source,
                        out,
                    ),
                    Err(e) => Err(bad_json(&e, line_no)),
                };
                self.parsed = parsed.recycle();
                r
            }
        };
        let stats = &mut self.work.stats;
        match result {
            Ok(()) => {
                for ev in out.get(first..).unwrap_or_default() {
                    stats.events += 1;
                    stats.truncated_values += u64::from(ev.truncated_values());
                    stats.dropped_items += u64::from(ev.dropped_items());
                }
                Ok(())
            }
            Err(e) => {
                // No half-decoded line: drop what this line added.
                let pool = &mut self.work.pool;
                for ev in out.drain(first..) {
                    if pool.len() < POOL_MAX {
                        pool.push(ev.recycle());
                    }
                }
                // An unrouted record is counted by kind where it was seen (`decode_parsed`).
                if e.code != ErrorCode::NoRoute {
                    stats.bad(&e);
                }
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
                DecodeError::new(
                    ErrorCode::DecodeIo,
                    line_no + 1,
                    format!("read failed: {e}"),
                )
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
                // An unrouted record is no bad line: strict mode goes on.
                if self.strict && e.code != ErrorCode::NoRoute {
                    return Err(e);
                }
            }
        }
    }
}

/// The dispatch of `routes` (see [`Dispatch`]), marking the routes it indexes; `None` when no
/// key is tested against strings.
fn build_dispatch(routes: &mut [RouteC]) -> Option<Dispatch> {
    // A route is indexed by a key when its condition on the key accepts non-empty strings only
    // (an empty string would also accept an absent key).
    let indexable = |vals: &[MatchValue]| {
        !vals.is_empty()
            && vals
                .iter()
                .all(|v| matches!(v, MatchValue::Str(s) if !s.is_empty()))
    };
    let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
    for r in routes.iter() {
        for (key, vals) in &r.when {
            if indexable(vals) {
                *counts.entry(*key).or_insert(0) += 1;
            }
        }
    }
    let (&key, _) = counts
        .iter()
        .max_by_key(|&(k, n)| (*n, std::cmp::Reverse(*k)))?;
    let mut by_value: FxMap<Box<str>, Vec<u32>> = FxMap::default();
    let mut always = Vec::new();
    let mut folded = String::new();
    for (i, r) in routes.iter_mut().enumerate() {
        let Ok(i) = u32::try_from(i) else { break };
        match r.when.iter().find(|(k, _)| *k == key) {
            Some((_, vals)) if indexable(vals) => {
                r.indexed = true;
                for v in vals {
                    if let MatchValue::Str(s) = v {
                        fold_into(s, &mut folded);
                        by_value.entry(folded.as_str().into()).or_default().push(i);
                    }
                }
            }
            _ => always.push(i),
        }
    }
    for list in by_value.values_mut() {
        list.extend_from_slice(&always);
        list.sort_unstable();
        list.dedup();
    }
    Some(Dispatch {
        key,
        by_value,
        always,
    })
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
        ErrorCode::BadJson,
        line_no,
        format!("not a JSON object: {e}"),
    )
}

/// How a parse's strings become the events' (`'t`: the parsed text, `'a`: the events').
trait Lend<'t, 'a> {
    /// Whether the text is a repair (invalid UTF-8 or lone surrogates replaced): strings with
    /// U+FFFD are then flagged truncated.
    const REPAIRED: bool;
    /// The string as the events may borrow it; `None`: copy it.
    fn lend(s: &'t str) -> Option<&'a str>;
}

/// The text is the line, which outlives the events: borrow.
struct FromLine;

impl<'a> Lend<'a, 'a> for FromLine {
    const REPAIRED: bool = false;
    fn lend(s: &'a str) -> Option<&'a str> {
        Some(s)
    }
}

/// The text is a repair local to the decoder: copy.
struct FromRepair;

impl<'t, 'a> Lend<'t, 'a> for FromRepair {
    const REPAIRED: bool = true;
    fn lend(_: &'t str) -> Option<&'a str> {
        None
    }
}

/// The kept value of key `key` on this line (its last occurrence).
fn value_of<'p, 't>(
    key_pos: &[(u32, u32)],
    stamp: u32,
    parsed: &'p Parsed<'t>,
    key: u32,
) -> Option<&'p JVal<'t>> {
    match key_pos.get(key as usize) {
        Some(&(s, ix)) if s == stamp && ix != NO_VAL => parsed.value(ix),
        _ => None,
    }
}

/// Builds the events of one parsed record.
fn decode_parsed<'t, 'a, L: Lend<'t, 'a>>(
    ctx: &Ctx,
    work: &mut Work,
    parsed: &Parsed<'t>,
    line_no: u64,
    source: &Source,
    out: &mut Vec<Event<'a>>,
) -> Result<(), DecodeError> {
    duplicate_keys(ctx, work, parsed, line_no)?;
    let Some(mapping) = &ctx.mapping else {
        return decode_native::<L>(ctx, work, parsed, line_no, source, out);
    };
    // Where each key's value is: stamped per line, so nothing is cleared.
    work.stamp = work.stamp.wrapping_add(1);
    if work.stamp == 0 {
        work.key_pos.iter_mut().for_each(|p| *p = (0, NO_VAL));
        work.stamp = 1;
    }
    let stamp = work.stamp;
    if work.key_pos.len() < ctx.keys.len() {
        work.key_pos.resize(ctx.keys.len(), (0, NO_VAL));
    }
    for &(id, ix) in &parsed.entries {
        if let Some(p) = work.key_pos.get_mut(id as usize) {
            *p = (stamp, ix);
        }
    }
    let key_pos = &work.key_pos;
    if ctx.native_too {
        // The record's shape, from the key positions just stamped (one slot read per key).
        let has = |key: u32| {
            key_pos
                .get(key as usize)
                .is_some_and(|&(st, _)| st == stamp)
        };
        if has(ctx.event_key) {
            return decode_native::<L>(ctx, work, parsed, line_no, source, out);
        }
        if !has(ctx.describe_keys[0]) && !has(ctx.describe_keys[1]) {
            return Err(DecodeError::new(
                ErrorCode::MissingEventType,
                line_no,
                "no `event` key (Vigil's native form) and no `Channel` or `EventID` (a Windows \
                 event record): the record's form is not recognised; name a mapping \
                 (`--mapping`)",
            ));
        }
    }
    // The candidates, and the dispatch key whose condition they are known to meet (when they
    // come from the key's value and the route is indexed by it).
    let mut met = UNKNOWN;
    let candidates: &[u32] = match &mapping.dispatch {
        None => &mapping.every,
        Some(d) => match value_of(key_pos, stamp, parsed, d.key) {
            Some(JVal::Scalar(s @ (JScalar::Str(_) | JScalar::Esc { .. }))) => {
                let text = match *s {
                    JScalar::Str(t) => t,
                    JScalar::Esc { start, len } => parsed.esc(start, len),
                    _ => "",
                };
                fold_into(text, &mut work.fold);
                match d.by_value.get(work.fold.as_str()) {
                    Some(v) => {
                        met = d.key;
                        v
                    }
                    None => &d.always,
                }
            }
            Some(JVal::Scalar(
                JScalar::Bool(_) | JScalar::Int(_) | JScalar::UInt(_) | JScalar::Float(_),
            )) => &mapping.every,
            Some(JVal::Scalar(JScalar::Null) | JVal::List { .. } | JVal::Other) | None => &d.always,
        },
    };
    let mut matched = false;
    for &r in candidates {
        let Some(route) = mapping.routes.get(r as usize) else {
            continue;
        };
        let holds = route.when.iter().all(|(key, accepted)| {
            if *key == met && route.indexed {
                return true;
            }
            let v = value_of(key_pos, stamp, parsed, *key);
            accepted.iter().any(|m| match_value(m, v, parsed))
        });
        if !holds {
            continue;
        }
        matched = true;
        let (Some(et), Some(tc)) = (
            ctx.schema.event_by_id(route.ty),
            ctx.per_type.get(usize::from(route.ty.0)),
        ) else {
            continue;
        };
        let mut b = EventBuilder::with_layout(
            route.ty,
            et,
            &tc.layout,
            work.pool.pop().unwrap_or_default(),
        );
        for (field, how, keys) in &route.fields {
            let Some(v) = keys
                .iter()
                .find_map(|&k| value_of(key_pos, stamp, parsed, k))
            else {
                continue;
            };
            set_field::<L>(&mut b, *field, *how, v, parsed, &mut work.stats);
        }
        b.set_source(Some(source.clone()));
        out.push(b.finish());
    }
    if matched {
        Ok(())
    } else {
        let kind = record_kind(ctx, key_pos, stamp, parsed);
        work.stats.count_unrouted(&kind);
        let message = if kind.is_empty() {
            "no mapping route matches the record".to_owned()
        } else {
            format!("no mapping route matches the record ({kind})")
        };
        Err(DecodeError::new(ErrorCode::NoRoute, line_no, message))
    }
}

/// `Channel `X`, EventID 4`, from the usual keys (`""` when the record has none of them): the
/// kind of an unrouted record.
fn record_kind(ctx: &Ctx, key_pos: &[(u32, u32)], stamp: u32, parsed: &Parsed<'_>) -> String {
    let mut parts = Vec::new();
    // In a fixed order (Channel, EventID, event), each key's last occurrence (as stamped).
    for &key in &ctx.describe_keys {
        let Some(value) = value_of(key_pos, stamp, parsed, key) else {
            continue;
        };
        // Text that reads as an int shows as the int, so that `"4688"` and `4688` are one kind.
        let show =
            |s: &str| coerce::parse_int(s).map_or_else(|| format!("`{s}`"), |i| i.to_string());
        let text = match value {
            JVal::Scalar(JScalar::Str(s)) => show(s),
            JVal::Scalar(JScalar::Esc { start, len }) => show(parsed.esc(*start, *len)),
            JVal::Scalar(JScalar::Int(i)) => i.to_string(),
            JVal::Scalar(JScalar::Null) => "null".to_owned(),
            _ => "?".to_owned(),
        };
        parts.push(format!("{} {text}", ctx.keys.name(key)));
    }
    parts.join(", ")
}

fn match_value(m: &MatchValue, v: Option<&JVal<'_>>, parsed: &Parsed<'_>) -> bool {
    let raw = match v {
        Some(JVal::Scalar(s)) => Some(parsed.raw(s)),
        Some(_) => return false,
        None => None,
    };
    match m {
        MatchValue::Int(n) => raw.is_some_and(|r| coerce::to_int(&r) == Ok(Some(*n))),
        MatchValue::Str(s) => match raw {
            None | Some(coerce::Raw::Null) => s.is_empty(),
            Some(coerce::Raw::Str(text)) => eq_folded(&text, s),
            Some(coerce::Raw::Bool(b)) => s.eq_ignore_ascii_case(if b { "true" } else { "false" }),
            Some(coerce::Raw::Int(i)) => coerce::parse_int(s) == Some(i),
            Some(coerce::Raw::UInt(u)) => s.parse::<u64>().ok() == Some(u),
            Some(coerce::Raw::Float(_)) => false,
        },
    }
}

/// Counts a record that names a known key more than once (E0713; a bad line when the decoder
/// refuses duplicates). Keys outside the key table (unknown to the schema and the mapping) are
/// not compared: their values are never read.
fn duplicate_keys(
    ctx: &Ctx,
    work: &mut Work,
    parsed: &Parsed<'_>,
    line_no: u64,
) -> Result<(), DecodeError> {
    work.seen_stamp = work.seen_stamp.wrapping_add(1);
    if work.seen_stamp == 0 {
        work.seen.iter_mut().for_each(|s| *s = 0);
        work.seen_stamp = 1;
    }
    if work.seen.len() < ctx.keys.len() {
        work.seen.resize(ctx.keys.len(), 0);
    }
    let stamp = work.seen_stamp;
    let mut twice = None;
    for &(id, _) in &parsed.entries {
        if let Some(s) = work.seen.get_mut(id as usize) {
            if *s == stamp {
                twice = Some(id);
                break;
            }
            *s = stamp;
        }
    }
    let Some(id) = twice else {
        return Ok(());
    };
    work.stats.duplicate_key_lines += 1;
    if ctx.refuse_duplicates {
        return Err(DecodeError::new(
            ErrorCode::DuplicateKey,
            line_no,
            format!("key `{}` is given twice", ctx.keys.name(id)),
        ));
    }
    Ok(())
}

fn decode_native<'t, 'a, L: Lend<'t, 'a>>(
    ctx: &Ctx,
    work: &mut Work,
    parsed: &Parsed<'t>,
    line_no: u64,
    source: &Source,
    out: &mut Vec<Event<'a>>,
) -> Result<(), DecodeError> {
    // The last `event` key wins, as for every duplicate key.
    let ty_name = parsed
        .entries
        .iter()
        .rev()
        .find(|(id, _)| *id == ctx.event_key)
        .map(|&(_, ix)| parsed.value(ix));
    let ty_name = match ty_name {
        Some(Some(JVal::Scalar(JScalar::Str(s)))) => *s,
        Some(Some(JVal::Scalar(JScalar::Esc { start, len }))) => parsed.esc(*start, *len),
        Some(_) => {
            return Err(DecodeError::new(
                ErrorCode::MissingEventType,
                line_no,
                "`event` is not a string",
            ))
        }
        None => {
            return Err(DecodeError::new(
                ErrorCode::MissingEventType,
                line_no,
                "no `event` key",
            ))
        }
    };
    let Some(&ty) = ctx.types.get(ty_name) else {
        return Err(DecodeError::new(
            ErrorCode::DecodeUnknownEventType,
            line_no,
            format!(
                "unknown event type `{ty_name}` in schema `{}`",
                ctx.schema.name
            ),
        ));
    };
    let (Some(et), Some(tc)) = (
        ctx.schema.event_by_id(ty),
        ctx.per_type.get(usize::from(ty.0)),
    ) else {
        return Err(DecodeError::new(
            ErrorCode::DecodeUnknownEventType,
            line_no,
            "event type out of range",
        ));
    };
    let mut b = EventBuilder::with_layout(ty, et, &tc.layout, work.pool.pop().unwrap_or_default());
    for &(id, ix) in &parsed.entries {
        if id == ctx.event_key {
            continue;
        }
        match tc.native.get(&id) {
            Some(&(field, how)) => {
                let wanted = ctx
                    .projection
                    .as_ref()
                    .is_none_or(|p| p.contains(ty, field));
                if let (true, Some(v)) = (wanted, parsed.value(ix)) {
                    set_field::<L>(&mut b, field, how, v, parsed, &mut work.stats);
                }
            }
            None => work.stats.unknown_fields += 1,
        }
    }
    b.set_source(Some(source.clone()));
    out.push(b.finish());
    Ok(())
}

/// Sets one field from a JSON value through the coercion table; uncoercible values leave the
/// field absent and are counted. Builder errors cannot occur (index and type come from the
/// schema), and are counted as uncoercible if they ever do.
fn set_field<'t, 'a, L: Lend<'t, 'a>>(
    b: &mut EventBuilder<'_, 'a>,
    ix: FieldIndex,
    how: Conv,
    v: &JVal<'t>,
    parsed: &Parsed<'t>,
    stats: &mut DecodeStats,
) {
    let ok = match (how, v) {
        (Conv::List(item), JVal::List { start, len }) => {
            let mut ok = b.start_list(ix).is_ok();
            for it in parsed.list_items(*start, *len) {
                match it {
                    JVal::Scalar(s) => ok &= push_item::<L>(b, ix, item, s, parsed),
                    _ => stats.uncoercible_values += 1,
                }
            }
            ok
        }
        (Conv::List(item), JVal::Scalar(s)) => {
            // A scalar for a list field is a one-item list (absent when absent).
            if matches!(s, JScalar::Null) {
                true
            } else {
                b.start_list(ix).is_ok() && push_item::<L>(b, ix, item, s, parsed)
            }
        }
        (_, JVal::Scalar(s)) => set_scalar::<L>(b, ix, how, s, parsed),
        _ => false,
    };
    if !ok {
        stats.uncoercible_values += 1;
    }
}

/// The result of a coercion and a builder call: true unless uncoercible (or refused).
fn done<T>(r: coerce::Coerced<Result<(), T>>) -> bool {
    match r {
        Ok(None) => true,
        Ok(Some(r)) => r.is_ok(),
        Err(_) => false,
    }
}

/// Sets a scalar field; false when uncoercible.
fn set_scalar<'t, 'a, L: Lend<'t, 'a>>(
    b: &mut EventBuilder<'_, 'a>,
    ix: FieldIndex,
    how: Conv,
    s: &JScalar<'t>,
    parsed: &Parsed<'t>,
) -> bool {
    let raw = || parsed.raw(s);
    match how {
        Conv::Int => done(coerce::to_int(&raw()).map(|v| v.map(|v| b.set_int(ix, v)))),
        Conv::Time => done(coerce::to_time(&raw()).map(|v| v.map(|v| b.set_int(ix, v)))),
        Conv::Bool => done(coerce::to_bool(&raw()).map(|v| v.map(|v| b.set_bool(ix, v)))),
        Conv::Ip => done(coerce::to_ip(&raw()).map(|v| v.map(|v| b.set_ip(ix, v)))),
        Conv::Str => put_string::<L>(b, ix, s, parsed, false),
        Conv::List(_) => false,
    }
}

/// Appends one item; false when uncoercible (the item is skipped).
fn push_item<'t, 'a, L: Lend<'t, 'a>>(
    b: &mut EventBuilder<'_, 'a>,
    ix: FieldIndex,
    item: Scalar,
    s: &JScalar<'t>,
    parsed: &Parsed<'t>,
) -> bool {
    let raw = || parsed.raw(s);
    match item {
        Scalar::Int => done(coerce::to_int(&raw()).map(|v| v.map(|v| b.push_int_item(ix, v)))),
        Scalar::Ip => done(coerce::to_ip(&raw()).map(|v| v.map(|v| b.push_ip_item(ix, v)))),
        _ => put_string::<L>(b, ix, s, parsed, true),
    }
}

/// Sets (or, `item`, appends to) a string field the coercion table's way
/// ([`coerce::to_str`]: null and `"-"` are absent, numbers and bools their text), borrowing
/// the line's strings where the events may, copying the rest into the event's text buffer.
fn put_string<'t, 'a, L: Lend<'t, 'a>>(
    b: &mut EventBuilder<'_, 'a>,
    ix: FieldIndex,
    s: &JScalar<'t>,
    parsed: &Parsed<'t>,
    item: bool,
) -> bool {
    let text = match *s {
        JScalar::Null => return true,
        JScalar::Bool(v) => {
            let t = if v { "true" } else { "false" };
            return if item {
                b.push_item(ix, t).is_ok()
            } else {
                b.set_str(ix, t).is_ok()
            };
        }
        JScalar::Int(i) => return put_display(b, ix, &i, item),
        JScalar::UInt(u) => return put_display(b, ix, &u, item),
        JScalar::Float(x) => return put_display(b, ix, &x, item),
        JScalar::Str(t) => match L::lend(t) {
            Some(t) if t != "-" => {
                return if item {
                    b.push_item(ix, t).is_ok()
                } else {
                    b.set_str(ix, t).is_ok()
                };
            }
            Some(_) => return true,
            None => t,
        },
        JScalar::Esc { start, len } => parsed.esc(start, len),
    };
    if text == "-" {
        return true;
    }
    let set = if item {
        b.push_copied(ix, text)
    } else {
        b.set_copied(ix, text)
    };
    if L::REPAIRED && text.contains('\u{FFFD}') {
        let _ = b.mark_truncated(ix);
    }
    set.is_ok()
}

fn put_display(
    b: &mut EventBuilder<'_, '_>,
    ix: FieldIndex,
    v: &dyn std::fmt::Display,
    item: bool,
) -> bool {
    if item {
        b.push_display(ix, v).is_ok()
    } else {
        b.set_display(ix, v).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_counted_or_refused() {
        let line = br#"{"event": "process_start", "pid": 1, "pid": 2}"#;
        let mut d = Decoder::native(&Schema::endpoint());
        let mut out = Vec::new();
        assert!(d.decode_line(line, 1, &mut out).is_ok());
        assert_eq!(out.len(), 1);
        assert_eq!(d.stats().duplicate_key_lines, 1);
        let mut strict = Decoder::native(&Schema::endpoint());
        strict.refuse_duplicate_keys(true);
        let mut out = Vec::new();
        let err = strict.decode_line(line, 7, &mut out).err();
        assert_eq!(
            err.map(|e| (e.code, e.line)),
            Some((ErrorCode::DuplicateKey, 7))
        );
        assert!(out.is_empty());
        // One key per line is no duplicate.
        let mut out = Vec::new();
        assert!(strict
            .decode_line(br#"{"event": "process_start", "pid": 1}"#, 8, &mut out)
            .is_ok());
    }
}
