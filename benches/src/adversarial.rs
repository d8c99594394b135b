//! Adversarial event streams for the bad-input bench (`benches/benches/adversarial.rs`), and the
//! calibration workloads that turn the verifier's steps into time.
//!
//! The streams are JSON lines in the corpus's flat Windows form (`EventID`, `Channel`, then the
//! event data by name), one record per route of a source mapping (`windows`: every event type
//! the converted SigmaHQ rules read), so that the real decoder routes each line to its event
//! type. [`templates`] reads the routes: the `when` keys get a value that matches, every other
//! source key is filled by the stream:
//!
//! - [`max_len_lines`]: every string at its field's schema `max_len` (and every list at
//!   `max_items` items of `max_len`), text of mixed-case words and separators with some
//!   characters whose lower case is longer (`Ⱥ`, `İ`), so folding grows it;
//! - [`literal_lines`]: every string at `max_len`, made of the literals the rules test on that
//!   field ([`field_literals`], read from the compiled program), back to back;
//! - [`invalid_utf8_lines`]: every string at `max_len` with invalid UTF-8 sequences and lone
//!   surrogate escapes every few dozen bytes (the decoder repairs them);
//! - [`deep_nesting_lines`]: short records with 100,000 nested arrays or objects in an unread
//!   key and in a read key, and shallow nesting (100 levels) in both. The decoder skips nested
//!   values without recursing, so every such line decodes; a field whose key holds a nested
//!   value is absent.
//!
//! [`CALIBRATION`] lists one-rule programs whose verifier bound is tight for their event (one
//! construct at maximal input length, on text that is easy or hard for it): the largest
//! measured time per bound step is the constant the bench converts bounds to time with.
//! [`fixed_cost_rules`] measures what the model does not count (the engine's frame per event,
//! per rule evaluated, per alert).
//!
//! Everything here is deterministic: text comes from a fixed-seed generator keyed by the source
//! key, never from the clock.

use std::collections::{BTreeMap, BTreeSet};

use vigil_runtime::decode::{Mapping, MatchValue};
use vigil_runtime::ir::{Const, ExprId, ExprKind, Program};
use vigil_runtime::schema::Schema;
use vigil_runtime::types::{Scalar, Ty};
use vigil_test_support::rng::SplitMix64;

/// Nesting depth of the deep lines: far past any recursion limit.
pub const DEEP: usize = 100_000;
/// Nesting depth of the shallow nested lines (below `serde_json`'s recursion limit, 128, in
/// case a decoder ever recurses).
pub const SHALLOW: usize = 100;
/// The key deep values are put under in records: no mapping reads it.
pub const UNREAD_KEY: &str = "VigilBenchPayload";

/// A JSON value of a generated record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Json {
    /// A number.
    Int(i64),
    /// `true` or `false`.
    Bool(bool),
    /// A string of raw bytes: `"`, `\` and control bytes are escaped, every other byte
    /// (invalid UTF-8 included) is written as it is.
    Str(Vec<u8>),
    /// An array.
    Arr(Vec<Json>),
    /// Text written verbatim: pre-formed JSON.
    Verbatim(Vec<u8>),
}

impl Json {
    /// A string value from text.
    pub fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into().into_bytes())
    }

    /// Appends the value's JSON text to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            Json::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
            Json::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Json::Str(bytes) => {
                out.push(b'"');
                escape_into(bytes, out);
                out.push(b'"');
            }
            Json::Arr(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write(out);
                }
                out.push(b']');
            }
            Json::Verbatim(text) => out.extend_from_slice(text),
        }
    }
}

/// Writes `bytes` as the inside of a JSON string.
fn escape_into(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
}

/// A source key a record sets, and the schema field it feeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldKey {
    /// The source key (`CommandLine`).
    pub key: String,
    /// The field (`command_line`).
    pub field: String,
    /// The field's type.
    pub ty: Ty,
    /// Its `max_len` (strings and string lists).
    pub max_len: u32,
    /// Its `max_items` (lists).
    pub max_items: u32,
    /// Its `max_total_len` (string lists: all items together).
    pub max_total_len: u32,
}

/// The record shape of one mapping route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    /// The route's event type.
    pub event: String,
    /// Keys and the values that meet the route's `when`.
    pub when: Vec<(String, Json)>,
    /// The other keys, one per field the route reads (the first source key of each).
    pub fields: Vec<FieldKey>,
    /// The event type's `max_event_bytes`: the most string bytes one record can carry into
    /// an event (the streams fill fields in order up to it, as a sensor's record limit would).
    pub max_event_bytes: u32,
}

/// One template per route of `mapping`, resolved against `schema` (routes or fields the
/// schema lacks are left out: the decoder refuses such a mapping anyway). A key is set once:
/// a `when` key keeps its matching value even when a field reads it too.
pub fn templates(schema: &Schema, mapping: &Mapping) -> Vec<Template> {
    let mut out = Vec::new();
    for route in &mapping.routes {
        let Some((_, et)) = schema.event(&route.event) else {
            continue;
        };
        let mut used: BTreeSet<&str> = BTreeSet::new();
        let mut when = Vec::new();
        for (key, values) in &route.when {
            let value = match values.first() {
                Some(MatchValue::Int(i)) => Json::Int(*i),
                Some(MatchValue::Str(s)) => Json::str(s.as_str()),
                None => continue,
            };
            used.insert(key.as_str());
            when.push((key.clone(), value));
        }
        let own = route.fields.iter();
        let defaults = mapping
            .defaults
            .iter()
            .filter(|(f, _)| route.fields.iter().all(|(g, _)| g != f));
        let mut fields = Vec::new();
        for (name, keys) in own.chain(defaults) {
            let (Some((_, def)), Some(key)) = (et.field(name), keys.first()) else {
                continue;
            };
            if !used.insert(key.as_str()) {
                continue;
            }
            fields.push(FieldKey {
                key: key.clone(),
                field: name.clone(),
                ty: def.ty,
                max_len: def.max_len,
                max_items: def.max_items,
                max_total_len: def.max_total_len,
            });
        }
        out.push(Template {
            event: route.event.clone(),
            when,
            fields,
            max_event_bytes: et.max_event_bytes,
        });
    }
    out
}

/// One JSON line: the template's `when` keys, then each field key with `value(key)`, then
/// `extra`.
pub fn record(
    t: &Template,
    mut value: impl FnMut(&FieldKey) -> Json,
    extra: &[(&str, Json)],
) -> Vec<u8> {
    let mut out = Vec::new();
    out.push(b'{');
    let mut first = true;
    let mut entry = |out: &mut Vec<u8>, key: &str, v: &Json| {
        if !first {
            out.push(b',');
        }
        first = false;
        Json::str(key).write(out);
        out.push(b':');
        v.write(out);
    };
    for (k, v) in &t.when {
        entry(&mut out, k, v);
    }
    for f in &t.fields {
        entry(&mut out, &f.key, &value(f));
    }
    for (k, v) in extra {
        entry(&mut out, k, v);
    }
    out.push(b'}');
    out
}

/// A value of a field that holds no strings, the same in every stream (the largest sensible
/// one): the largest int, `true`, an IP, a full list of those. `None` for string fields.
pub fn non_string(f: &FieldKey) -> Option<Json> {
    let one = |s: Scalar| match s {
        Scalar::Int if f.field == "time" => Some(Json::str("2019-04-27T15:57:25.868863Z")),
        Scalar::Int => Some(Json::Int(i64::MAX)),
        Scalar::Bool => Some(Json::Bool(true)),
        Scalar::Ip => Some(Json::str("fe80::1ff:fe23:4567:890a")),
        Scalar::Cidr => Some(Json::str("10.0.0.0/8")),
        Scalar::Str => None,
    };
    match f.ty {
        Ty::Scalar(s) => one(s),
        Ty::List(s) => {
            let item = one(s)?;
            Some(Json::Arr(vec![item; f.max_items as usize]))
        }
    }
}

/// The length of every string a record of template `t` carries, per field key (one for a
/// string, one per item for a list): each at its `max_len`, a list's items together within its
/// `max_total_len`, and all together within the event's `max_event_bytes`, cut longest first
/// (the level every longer value is cut to, as the event builder cuts a record over its
/// bounds). Field `first`, when given, keeps its `max_len` and the others share the rest.
pub fn allocate(t: &Template, first: Option<&str>) -> BTreeMap<String, Vec<usize>> {
    fn level(lens: &[usize], cap: usize) -> usize {
        let total: usize = lens.iter().sum();
        if total <= cap {
            return usize::MAX;
        }
        let (mut lo, mut hi) = (0usize, lens.iter().copied().max().unwrap_or(0));
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if lens.iter().map(|&l| l.min(mid)).sum::<usize>() <= cap {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        lo
    }
    let mut out: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for f in &t.fields {
        if non_string(f).is_some() {
            continue;
        }
        let max = f.max_len as usize;
        let lens = match f.ty {
            Ty::List(_) => {
                let items = vec![max; f.max_items as usize];
                let l = level(&items, f.max_total_len as usize);
                items.into_iter().map(|x| x.min(l)).collect()
            }
            Ty::Scalar(_) => vec![max],
        };
        out.insert(f.key.clone(), lens);
    }
    let mut cap = t.max_event_bytes as usize;
    let first_key = first.and_then(|name| t.fields.iter().find(|f| f.field == name));
    if let Some(fk) = first_key {
        if let Some(lens) = out.get_mut(&fk.key) {
            for l in lens.iter_mut() {
                *l = (*l).min(cap);
                cap -= *l;
            }
        }
    }
    let rest: Vec<usize> = out
        .iter()
        .filter(|(k, _)| first_key.is_none_or(|fk| &fk.key != *k))
        .flat_map(|(_, v)| v.iter().copied())
        .collect();
    let l = level(&rest, cap);
    for (k, v) in out.iter_mut() {
        if first_key.is_none_or(|fk| &fk.key != k) {
            for x in v.iter_mut() {
                *x = (*x).min(l);
            }
        }
    }
    out
}

/// The value of field key `f` whose strings come from `text(f, item, len)` (item 0 for a
/// scalar string, 0.. for the items of a list), with the lengths `lens` gives it
/// ([`allocate`]).
fn fill(
    f: &FieldKey,
    lens: &BTreeMap<String, Vec<usize>>,
    mut text: impl FnMut(&FieldKey, usize, usize) -> Json,
) -> Json {
    if let Some(v) = non_string(f) {
        return v;
    }
    let mine = lens.get(&f.key).map_or(&[][..], Vec::as_slice);
    match f.ty {
        Ty::List(_) => Json::Arr(
            mine.iter()
                .enumerate()
                .map(|(i, &len)| text(f, i, len))
                .collect(),
        ),
        Ty::Scalar(_) => text(f, 0, mine.first().copied().unwrap_or(0)),
    }
}

/// A seed from a source key and an item number (FNV-1a).
fn seed(key: &str, item: usize) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes().chain(item.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The letters and digits of [`filler`]'s words.
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// `s` cut at the last character boundary at most `len` bytes in, then padded with `x` to
/// exactly `len` bytes.
fn fit(mut s: String, len: usize) -> String {
    let mut cut = len.min(s.len());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    while s.len() < len {
        s.push('x');
    }
    s
}

/// Exactly `len` bytes of text like a long path or command line: mixed-case words of 1 to 12
/// letters and digits, separated by `\`, space, `.`, `-`, `/`, `_`, `:`, with a non-ASCII
/// character about every 48 words (some of which grow under case folding: `Ⱥ` is 2 bytes,
/// `ⱥ` 3). Deterministic in `seed`.
pub fn filler(len: usize, seed: u64) -> String {
    const SEPS: &[char] = &['\\', ' ', '.', '-', '/', '_', ':', '\\', ' '];
    const WIDE: &[&str] = &["é", "Ⱥ", "ß", "İ", "中", "😀", "Ⱦ"];
    let mut rng = SplitMix64::new(seed);
    let mut s = String::with_capacity(len + 16);
    while s.len() < len {
        for _ in 0..=rng.index(12) {
            s.push(char::from(ALNUM[rng.index(ALNUM.len())]));
        }
        if rng.index(48) == 0 {
            s.push_str(WIDE[rng.index(WIDE.len())]);
        }
        s.push(SEPS[rng.index(SEPS.len())]);
    }
    fit(s, len)
}

/// The max-length stream: one record per template, every string at `max_len` bytes of
/// [`filler`], every list at `max_items` such strings, all within the event's bounds
/// ([`allocate`]: a record as large as the event type allows).
pub fn max_len_lines(templates: &[Template]) -> Vec<Vec<u8>> {
    templates
        .iter()
        .map(|t| {
            let lens = allocate(t, None);
            record(
                t,
                |f| {
                    fill(f, &lens, |f, i, len| {
                        Json::str(filler(len, seed(&f.key, i)))
                    })
                },
                &[],
            )
        })
        .collect()
}

/// The literals a program tests per field name: the string constants of `contains`,
/// `startswith`, `endswith`, `==` tests (single or `any`/`all` lists) and of `in` lists whose
/// subject is a field, over every rule, deduplicated, shortest first (so that a field of
/// `max_len` bytes holds as many as possible). Empty literals are left out. Regex patterns are
/// not read.
pub fn field_literals(program: &Program) -> BTreeMap<String, Vec<String>> {
    let mut sets: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for rule in &program.rules {
        let expr = |id: &ExprId| rule.exprs.get(id.0 as usize).map(|e| &e.kind);
        let field = |id: &ExprId| match expr(id) {
            Some(ExprKind::Field(f)) => program.fields.get(f.0 as usize).map(|r| &r.field),
            _ => None,
        };
        let list = |l: u32| {
            program
                .lists
                .get(l as usize)
                .into_iter()
                .flat_map(|l| &l.items)
                .filter_map(|c| match c {
                    Const::Str(s) => Some(s.as_str()),
                    _ => None,
                })
        };
        for e in &rule.exprs {
            let (name, lits): (_, Vec<&str>) = match &e.kind {
                ExprKind::StrTest { lhs, rhs, .. } => match expr(rhs) {
                    Some(ExprKind::Str(s)) => (
                        field(lhs),
                        program
                            .strings
                            .get(s.0 as usize)
                            .map(String::as_str)
                            .into_iter()
                            .collect(),
                    ),
                    _ => continue,
                },
                ExprKind::StrList { lhs, list: l, .. } => (field(lhs), list(l.0).collect()),
                ExprKind::Member { lhs, list: l, .. } => match expr(l) {
                    Some(ExprKind::List(l)) => (field(lhs), list(l.0).collect()),
                    _ => continue,
                },
                _ => continue,
            };
            if let Some(name) = name {
                let set = sets.entry(name.clone()).or_default();
                set.extend(lits.into_iter().filter(|s| !s.is_empty()));
            }
        }
    }
    sets.into_iter()
        .map(|(name, set)| {
            let mut v: Vec<String> = set.into_iter().map(str::to_owned).collect();
            v.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
            (name, v)
        })
        .collect()
}

/// Exactly `len` bytes made of `literals` back to back, cyclically from `start` (then cut and
/// padded as [`filler`] is). [`filler`] text when there is no literal.
pub fn literal_text(literals: &[String], len: usize, start: usize) -> String {
    if literals.is_empty() {
        return filler(len, start as u64);
    }
    let mut s = String::with_capacity(len + 64);
    let mut i = start;
    while s.len() < len {
        if let Some(l) = literals.get(i % literals.len()) {
            s.push_str(l);
        }
        i += 1;
    }
    fit(s, len)
}

/// The [`max_len_lines`] record of template `t` with field `first` at its `max_len` and the
/// others sharing what the event's bounds leave.
pub fn max_len_line_first(t: &Template, first: &str) -> Vec<u8> {
    let lens = allocate(t, Some(first));
    record(
        t,
        |f| {
            fill(f, &lens, |f, i, len| {
                Json::str(filler(len, seed(&f.key, i)))
            })
        },
        &[],
    )
}

/// The literal stream: one record per template, every string at `max_len` bytes of the
/// literals the rules test on that field (`literals`, from [`field_literals`]), or of every
/// literal of the program when no rule tests the field; lists at `max_items` such strings.
/// A string starts with the shortest literals (the densest occurrences: a literal ends every
/// few bytes); the items of a list start at evenly spread places in the set.
pub fn literal_lines(
    templates: &[Template],
    literals: &BTreeMap<String, Vec<String>>,
) -> Vec<Vec<u8>> {
    let all: Vec<String> = {
        let set: BTreeSet<&String> = literals.values().flatten().collect();
        let mut v: Vec<String> = set.into_iter().cloned().collect();
        v.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
        v
    };
    templates
        .iter()
        .map(|t| {
            let lens = allocate(t, None);
            record(
                t,
                |f| {
                    fill(f, &lens, |f, i, len| {
                        let lits = literals.get(&f.field).unwrap_or(&all);
                        let start = i * lits.len() / (f.max_items as usize).max(1);
                        Json::str(literal_text(lits, len, start))
                    })
                },
                &[],
            )
        })
        .collect()
}

/// Invalid UTF-8 sequences the invalid-UTF-8 stream inserts, in turn: a byte that is never
/// UTF-8, a lead byte without its continuation, a stray continuation, an encoded surrogate,
/// a code point past U+10FFFF, a truncated 3-byte sequence.
const INVALID: &[&[u8]] = &[
    b"\xff",
    b"\xc3",
    b"\x80",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xe2\x82",
];
/// Bytes of valid text between two invalid sequences.
const INVALID_EVERY: usize = 61;

/// A JSON string of [`filler`] text (`len` bytes before insertion) with an invalid UTF-8
/// sequence every [`INVALID_EVERY`] bytes and a lone surrogate escape (`\ud800`) every 16 of
/// those.
fn invalid_string(len: usize, seed: u64) -> Json {
    let text = filler(len, seed);
    let mut out = Vec::with_capacity(len + len / 8);
    out.push(b'"');
    for (i, chunk) in text.as_bytes().chunks(INVALID_EVERY).enumerate() {
        escape_into(chunk, &mut out);
        out.extend_from_slice(INVALID[i % INVALID.len()]);
        if i % 16 == 15 {
            out.extend_from_slice(b"\\ud800");
        }
    }
    out.push(b'"');
    Json::Verbatim(out)
}

/// The invalid-UTF-8 stream: as [`max_len_lines`], every string with invalid UTF-8 inside it
/// (the decoder replaces each bad sequence with U+FFFD and cuts the string to `max_len`).
pub fn invalid_utf8_lines(templates: &[Template]) -> Vec<Vec<u8>> {
    templates
        .iter()
        .map(|t| {
            let lens = allocate(t, None);
            record(
                t,
                |f| fill(f, &lens, |f, i, len| invalid_string(len, seed(&f.key, i))),
                &[],
            )
        })
        .collect()
}

/// `depth` nested arrays: `[[[...]]]`.
pub fn nested_arrays(depth: usize) -> Json {
    let mut v = Vec::with_capacity(2 * depth);
    v.resize(depth, b'[');
    v.resize(2 * depth, b']');
    Json::Verbatim(v)
}

/// `depth` nested objects: `{"a":{"a":...1}}`.
pub fn nested_objects(depth: usize) -> Json {
    let mut v = Vec::with_capacity(6 * depth + 1);
    for _ in 0..depth {
        v.extend_from_slice(b"{\"a\":");
    }
    v.push(b'1');
    v.resize(v.len() + depth, b'}');
    Json::Verbatim(v)
}

/// How a line of the deep-nesting stream nests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nesting {
    /// [`DEEP`] nested arrays under [`UNREAD_KEY`].
    DeepUnreadArrays,
    /// [`DEEP`] nested objects under [`UNREAD_KEY`].
    DeepUnreadObjects,
    /// [`DEEP`] nested arrays as the value of the first string field's key.
    DeepReadArrays,
    /// [`SHALLOW`] nested arrays under [`UNREAD_KEY`].
    ShallowUnread,
    /// [`SHALLOW`] nested arrays as the value of the first string field's key.
    ShallowRead,
}

impl Nesting {
    /// Every kind, in the order the stream writes them.
    pub const ALL: [Nesting; 5] = [
        Nesting::DeepUnreadArrays,
        Nesting::DeepUnreadObjects,
        Nesting::DeepReadArrays,
        Nesting::ShallowUnread,
        Nesting::ShallowRead,
    ];
}

/// A short value of field key `f`: at most 32 bytes of [`filler`], lists of one item.
fn short_value(f: &FieldKey) -> Json {
    if let Some(v) = non_string(f) {
        return match v {
            Json::Arr(mut items) => {
                items.truncate(1);
                Json::Arr(items)
            }
            v => v,
        };
    }
    let text = Json::str(filler((f.max_len as usize).min(32), seed(&f.key, 0)));
    match f.ty {
        Ty::List(_) => Json::Arr(vec![text]),
        Ty::Scalar(_) => text,
    }
}

/// A record of template `t` with short values: every string at most 32 bytes (as a typical
/// event), lists of one item.
pub fn short_line(t: &Template) -> Vec<u8> {
    record(t, short_value, &[])
}

/// The first scalar string field of a template: the key nested values replace.
pub fn first_string_key(t: &Template) -> Option<&FieldKey> {
    t.fields.iter().find(|f| f.ty == Ty::Scalar(Scalar::Str))
}

/// The deep-nesting stream: for each template, one line per [`Nesting`] kind (in
/// [`Nesting::ALL`] order), the other fields short (at most 32 bytes of [`filler`], lists of
/// one item). A template without a string field gets only the unread-key lines. Every line
/// decodes (the decoder never recurses into nested values); the read-key lines leave their
/// field absent.
pub fn deep_nesting_lines(templates: &[Template]) -> Vec<(Nesting, Vec<u8>)> {
    let mut out = Vec::new();
    for t in templates {
        let read = first_string_key(t).map(|f| f.key.clone());
        for kind in Nesting::ALL {
            let (extra, nested_read) = match kind {
                Nesting::DeepUnreadArrays => (Some(nested_arrays(DEEP)), None),
                Nesting::DeepUnreadObjects => (Some(nested_objects(DEEP)), None),
                Nesting::ShallowUnread => (Some(nested_arrays(SHALLOW)), None),
                Nesting::DeepReadArrays => (None, Some(nested_arrays(DEEP))),
                Nesting::ShallowRead => (None, Some(nested_arrays(SHALLOW))),
            };
            if nested_read.is_some() && read.is_none() {
                continue;
            }
            let extra: Vec<(&str, Json)> = extra.into_iter().map(|v| (UNREAD_KEY, v)).collect();
            let line = record(
                t,
                |f| match (&nested_read, Some(&f.key) == read.as_ref()) {
                    (Some(v), true) => v.clone(),
                    _ => short_value(f),
                },
                &extra,
            );
            out.push((kind, line));
        }
    }
    out
}

/// The `command_line` of a calibration workload's event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CalText {
    /// [`filler`] text, as in [`max_len_lines`].
    Filler,
    /// [`dense_literals`] back to back ([`literal_text`]): a literal ends at almost every byte.
    DenseLiterals,
}

/// One calibration workload: a one-rule program on `process_start` whose verifier bound is
/// tight for its event (one construct at maximal input length; the event is the
/// [`max_len_lines`] one, `command_line` as [`CalText`] says).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Calibration {
    /// Short name.
    pub name: &'static str,
    /// What it measures.
    pub what: &'static str,
    /// The rule's condition. `RARE_LITERALS` stands for [`rare_literals`], `DENSE_LITERALS`
    /// for [`dense_literals`], as a `.vgl` list.
    pub when: &'static str,
    /// The event's `command_line`.
    pub text: CalText,
}

/// The calibration workloads. Only `scan_folded_hits` fires (its text is made of its
/// literals); no other matches anywhere.
pub const CALIBRATION: &[Calibration] = &[
    Calibration {
        name: "scan_folded",
        what: "prefilter scan of command_line, folded, 1 literal with a rare byte",
        when: r#"command_line icontains "qq#zz#qq""#,
        text: CalText::Filler,
    },
    Calibration {
        name: "scan_exact",
        what: "prefilter scan of command_line, case-sensitive, 1 literal with a rare byte",
        when: r#"command_line contains "qq#zz#qq""#,
        text: CalText::Filler,
    },
    Calibration {
        name: "scan_folded_rare",
        what: "prefilter scan, folded, 2,000 literals with a rare byte",
        when: "command_line icontains any RARE_LITERALS",
        text: CalText::Filler,
    },
    Calibration {
        name: "scan_folded_dense",
        what: "prefilter scan, folded, 2,000 literals starting with `\\` (a byte of the text)",
        when: "command_line icontains any DENSE_LITERALS",
        text: CalText::Filler,
    },
    Calibration {
        name: "scan_exact_dense",
        what: "prefilter scan, case-sensitive, the same 2,000 literals",
        when: "command_line contains any DENSE_LITERALS",
        text: CalText::Filler,
    },
    Calibration {
        name: "scan_folded_hits",
        what: "prefilter scan, folded, 2,000 literals, over text made of them",
        when: "command_line icontains any DENSE_LITERALS",
        text: CalText::DenseLiterals,
    },
    Calibration {
        name: "regex",
        what: "regex search over command_line (lazy DFA, no literal to skip by)",
        when: r#"command_line matches r"[a-z]{4}[0-9]{3}[A-Z]{4}[0-9]{3}""#,
        text: CalText::Filler,
    },
    Calibration {
        name: "contains_field",
        what: "command_line icontains parent_command_line (no prefilter)",
        when: "command_line icontains parent_command_line",
        text: CalText::Filler,
    },
    Calibration {
        name: "basename",
        what: "basename(image) ieq a constant (a builtin over 98,304 bytes)",
        when: r#"basename(image) ieq "cmd.exe""#,
        text: CalText::Filler,
    },
];

/// How many literals [`rare_literals`] and [`dense_literals`] hold.
pub const CAL_LITERALS: usize = 2_000;

/// [`CAL_LITERALS`] literals of 10 letters and digits with a `#` in the middle: none occurs in
/// [`filler`] text, and an automaton's rare-byte search skips most of it.
pub fn rare_literals() -> Vec<String> {
    let mut rng = SplitMix64::new(0x5eed);
    (0..CAL_LITERALS)
        .map(|_| {
            let mut w = String::new();
            for k in 0..10 {
                if k == 5 {
                    w.push('#');
                }
                w.push(char::from(ALNUM[rng.index(ALNUM.len())]));
            }
            w
        })
        .collect()
}

/// [`CAL_LITERALS`] file-name literals like Sigma's: `\`, 3 to 10 lower-case letters, `.exe`.
/// Every `\` of [`filler`] text starts a candidate match.
pub fn dense_literals() -> Vec<String> {
    let mut rng = SplitMix64::new(0xde05e);
    (0..CAL_LITERALS)
        .map(|_| {
            let mut w = String::from("\\");
            for _ in 0..3 + rng.index(8) {
                w.push(char::from(ALNUM[rng.index(26)]));
            }
            w.push_str(".exe");
            w
        })
        .collect()
}

/// A `.vgl` string literal that holds `s` exactly.
pub fn vgl_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `literals` as a `.vgl` list.
fn vgl_list(literals: &[String]) -> String {
    let items: Vec<String> = literals.iter().map(|l| vgl_str(l)).collect();
    format!("[{}]", items.join(", "))
}

/// A one-rule program on `process_start` that tests `command_line` for any of `literals`
/// (`icontains` when `folded`, else `contains`): the prefilter runs an automaton of exactly
/// that set over `command_line`. The bench calibrates with the program's own literal sets
/// ([`field_literals`]) this way: how fast an automaton scans depends on its patterns.
pub fn scan_rule(literals: &[String], folded: bool) -> String {
    let op = if folded { "icontains" } else { "contains" };
    format!(
        "rule cal_scan {{\n    meta {{ title: \"calibration scan\", severity: low }}\n    on process_start\n    when command_line {op} any {}\n    emit \"calibration\"\n}}\n",
        vgl_list(literals)
    )
}

/// The [`max_len_line_first`] record of template `t` (the `process_start` route) with
/// `command_line` at its `max_len`, made of `literals` ([`literal_text`]).
pub fn literal_command_line(t: &Template, literals: &[String]) -> Vec<u8> {
    let lens = allocate(t, Some("command_line"));
    record(
        t,
        |f| {
            fill(f, &lens, |f, i, len| {
                if f.field == "command_line" {
                    Json::str(literal_text(literals, len, 0))
                } else {
                    Json::str(filler(len, seed(&f.key, i)))
                }
            })
        },
        &[],
    )
}

/// The `.vgl` text of calibration workload `c`: one rule on `process_start`.
pub fn calibration_rule(c: &Calibration) -> String {
    let when = c
        .when
        .replace("RARE_LITERALS", &vgl_list(&rare_literals()))
        .replace("DENSE_LITERALS", &vgl_list(&dense_literals()));
    format!(
        "rule cal_{name} {{\n    meta {{ title: \"calibration {name}\", severity: low }}\n    on process_start\n    when {when}\n    emit \"calibration\"\n}}\n",
        name = c.name
    )
}

/// The event line of calibration workload `c` for template `t` (the `process_start` route):
/// the [`max_len_lines`] record, with `command_line` as `c.text` says.
pub fn calibration_line(t: &Template, c: &Calibration) -> Vec<u8> {
    match c.text {
        CalText::DenseLiterals => literal_command_line(t, &dense_literals()),
        CalText::Filler => max_len_line_first(t, "command_line"),
    }
}

/// The fixed costs the verifier's model leaves out, measured by [`fixed_cost_rules`] programs
/// on a short `process_start` event ([`short_line`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixedCost {
    /// No rule runs on `process_start` (one rule on `process_end`): the engine's frame per
    /// event (shape check, counters, dispatch).
    Frame,
    /// [`FIXED_RULES`] rules on `process_start`, an int compare each, none fires.
    Rules,
    /// The same rules, every one fires (an alert each).
    Alerts,
}

/// How many rules the [`FixedCost::Rules`] and [`FixedCost::Alerts`] programs hold.
pub const FIXED_RULES: usize = 100;

/// The `.vgl` text of a fixed-cost calibration program (see [`FixedCost`]). The short events
/// have `pid` = `i64::MAX`, never negative.
pub fn fixed_cost_rules(kind: FixedCost) -> String {
    let rule = |i: usize, on: &str, when: String| {
        format!(
            "rule cal_fixed_{i} {{\n    meta {{ title: \"calibration {i}\", severity: low }}\n    on {on}\n    when {when}\n}}\n"
        )
    };
    match kind {
        FixedCost::Frame => rule(0, "process_end", "pid == -1".to_owned()),
        FixedCost::Rules | FixedCost::Alerts => {
            let op = if kind == FixedCost::Rules { "==" } else { "!=" };
            (0..FIXED_RULES)
                .map(|i| rule(i, "process_start", format!("pid {op} -{}", i + 1)))
                .collect()
        }
    }
}

#[cfg(test)]
mod tests;
