//! One JSON line to a flat list of `(key id, value)` entries, plus the repair of invalid UTF-8
//! and lone UTF-16 surrogate escapes.
//!
//! Keys are looked up in a [`Keys`] table as they are read (no key is copied); a key the table
//! says to keep has its value parsed, every other value is skipped: checked for JSON syntax but
//! never unescaped or stored. Strings without escapes are borrowed from the line; unescaped
//! strings go into one per-line text buffer ([`Parsed`] keeps it across lines), so parsing
//! allocates nothing once the buffers have grown to the stream's needs.
//!
//! Only the top level is kept: a top-level array's scalar items go to a side list; deeper values
//! (objects, nested arrays) are skipped and kept as [`JVal::Other`].
//!
//! Two parsers produce the same [`Parsed`]: a fast one written for these flat records (SWAR
//! string scanning, no recursion, nesting up to 64 levels), and serde_json, which runs whenever
//! the fast one gives up: on any error (so a bad line's error is serde_json's, word for word),
//! nesting deeper than 64 levels, and anything else it does not handle. The fast parser accepts
//! only what serde_json accepts (a differential test checks this), and hands numbers it does not
//! read itself (fractions, exponents, negative or long integers) to serde_json, so values are
//! serde_json's to the last bit. Neither parser recurses with the nesting, so hostile nesting
//! cannot overflow the stack.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use serde::de::{
    self, DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};

use crate::coerce::Raw;
use crate::event::recycle_vec;

/// The key id of a key the [`Keys`] table does not hold.
pub(crate) const UNKNOWN: u32 = u32::MAX;
/// The value index of an entry whose value was skipped.
pub(crate) const NO_VAL: u32 = u32::MAX;

/// A scalar of a record, before coercion.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum JScalar<'t> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    /// A string without escapes, borrowed from the line.
    Str(&'t str),
    /// An unescaped string: a range of the line's text buffer ([`Parsed::text`]).
    Esc {
        start: usize,
        len: usize,
    },
}

/// A kept value of a record.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum JVal<'t> {
    /// A scalar.
    Scalar(JScalar<'t>),
    /// An array: `len` items from `start` in [`Parsed::list_items`].
    List { start: u32, len: u32 },
    /// An object, or an array item that is itself an array or object.
    Other,
}

/// FxHash (rustc's hasher): the key table is fixed while decoding and small, so a fast hash
/// with no flooding resistance is fine (input only looks up, never inserts).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FxHasher(u64);

const FX_K: u64 = 0xf135_7aea_2e62_a9c5;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(FX_K);
    }
}

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            for (d, b) in w.iter_mut().zip(rest) {
                *d = *b;
            }
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

/// A map with the [`FxHasher`].
pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The keys a decoder knows, by id, and whether to keep each one's value.
#[derive(Clone, Debug, Default)]
pub(crate) struct Keys {
    ids: FxMap<Box<str>, u32>,
    names: Vec<Box<str>>,
    keep: Vec<bool>,
    /// Whether values of keys not in the table are parsed (and kept under [`UNKNOWN`]) rather
    /// than skipped: without a projection, so that every value is checked exactly as before
    /// projections existed (number ranges included).
    pub(crate) check_unknown: bool,
    /// Whether skipped keys get an entry too (the native form counts unknown keys).
    pub(crate) record_skipped: bool,
}

impl Keys {
    /// The id of `name`, added (kept) if new.
    pub(crate) fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(UNKNOWN);
        if id == UNKNOWN {
            return UNKNOWN;
        }
        self.ids.insert(name.into(), id);
        self.names.push(name.into());
        self.keep.push(true);
        id
    }

    /// The id of `name`; [`UNKNOWN`] when the table lacks it.
    pub(crate) fn id(&self, name: &str) -> u32 {
        self.ids.get(name).copied().unwrap_or(UNKNOWN)
    }

    /// Whether key `id` is named `name` (false for [`UNKNOWN`]).
    fn is(&self, id: u32, name: &[u8]) -> bool {
        self.names
            .get(id as usize)
            .is_some_and(|n| n.as_bytes() == name)
    }

    /// The name of key `id`.
    pub(crate) fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", |n| n)
    }

    /// How many keys the table holds.
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    /// Sets whether key `id`'s values are kept.
    pub(crate) fn set_keep(&mut self, id: u32, keep: bool) {
        if let Some(k) = self.keep.get_mut(id as usize) {
            *k = keep;
        }
    }

    /// Sets whether every key's values are kept.
    pub(crate) fn keep_all(&mut self, keep: bool) {
        self.keep.iter_mut().for_each(|k| *k = keep);
    }

    fn keeps(&self, id: u32) -> bool {
        if id == UNKNOWN {
            self.check_unknown
        } else {
            self.keep.get(id as usize).copied().unwrap_or(false)
        }
    }
}

/// The entries of one parsed line; buffers reused from line to line.
#[derive(Debug, Default)]
pub(crate) struct Parsed<'t> {
    /// Key id and value index ([`NO_VAL`] when skipped; skipped keys only when
    /// [`Keys::record_skipped`]), in line order.
    pub(crate) entries: Vec<(u32, u32)>,
    vals: Vec<JVal<'t>>,
    items: Vec<JVal<'t>>,
    /// The unescaped strings of the line.
    text: String,
    /// An unescaped key.
    key_buf: String,
    /// Key order prediction: for each key id (index id + 1; 0 is the record's start, the last
    /// entry an unknown key), the id of the key that followed it last time. Records of one kind repeat their key order, so
    /// most keys are found with one comparison instead of a hash lookup.
    next_key: Vec<u32>,
}

impl<'t> Parsed<'t> {
    /// Empty, keeping capacity, for text of another lifetime.
    pub(crate) fn recycle<'u>(self) -> Parsed<'u> {
        let mut text = self.text;
        text.clear();
        Parsed {
            entries: self.entries,
            vals: recycle_vec(self.vals),
            items: recycle_vec(self.items),
            text,
            key_buf: self.key_buf,
            next_key: self.next_key,
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.vals.clear();
        self.items.clear();
        self.text.clear();
    }

    /// Parses `text`, which must be one JSON object, keeping the values of the keys `keys`
    /// says to keep: the fast parser, then serde_json if it gives up.
    pub(crate) fn parse(&mut self, text: &'t str, keys: &Keys) -> Result<(), serde_json::Error> {
        match self.parse_fast(text, keys) {
            FastOutcome::Parsed { .. } => Ok(()),
            FastOutcome::GaveUp => self.parse_serde(text, keys),
        }
    }

    /// The fast parser alone (see the module documentation). On [`FastOutcome::GaveUp`] the
    /// entries are garbage: parse again with [`Parsed::parse_serde`].
    pub(crate) fn parse_fast(&mut self, text: &'t str, keys: &Keys) -> FastOutcome {
        self.clear();
        if self.next_key.len() != keys.len() + 2 {
            self.next_key.clear();
            self.next_key.resize(keys.len() + 2, UNKNOWN);
        }
        let mut fast = Fast {
            b: text.as_bytes(),
            text,
            i: 0,
            p: self,
            keys,
            surrogates: false,
            prev: 0,
        };
        match fast.run() {
            Ok(()) => FastOutcome::Parsed {
                surrogates: fast.surrogates,
            },
            Err(Bail) => FastOutcome::GaveUp,
        }
    }

    /// The serde_json parser (see the module documentation).
    pub(crate) fn parse_serde(
        &mut self,
        text: &'t str,
        keys: &Keys,
    ) -> Result<(), serde_json::Error> {
        self.clear();
        let mut de = serde_json::Deserializer::from_str(text);
        (&mut de).deserialize_map(ObjVisitor { p: self, keys })?;
        de.end()
    }

    /// A kept value, by index.
    pub(crate) fn value(&self, ix: u32) -> Option<&JVal<'t>> {
        self.vals.get(ix as usize)
    }

    /// The items of a list value.
    pub(crate) fn list_items(&self, start: u32, len: u32) -> &[JVal<'t>] {
        let start = start as usize;
        self.items
            .get(start..start + len as usize)
            .unwrap_or_default()
    }

    /// The text of an unescaped string.
    pub(crate) fn esc(&self, start: usize, len: usize) -> &str {
        self.text
            .get(start..start.saturating_add(len))
            .unwrap_or_default()
    }

    /// A scalar as the coercion table takes it (strings borrowed, nothing allocated).
    pub(crate) fn raw(&self, s: &JScalar<'t>) -> Raw<'_> {
        match *s {
            JScalar::Null => Raw::Null,
            JScalar::Bool(b) => Raw::Bool(b),
            JScalar::Int(i) => Raw::Int(i),
            JScalar::UInt(u) => Raw::UInt(u),
            JScalar::Float(x) => Raw::Float(x),
            JScalar::Str(s) => Raw::Str(Cow::Borrowed(s)),
            JScalar::Esc { start, len } => Raw::Str(Cow::Borrowed(self.esc(start, len))),
        }
    }
}

// --- The fast parser ---------------------------------------------------------------------

/// What the fast parser made of a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FastOutcome {
    /// A valid record, parsed. `surrogates`: some string holds a `\uD800`-`\uDFFF` escape,
    /// which may be lone (see [`fix_surrogates`]); when false there is none anywhere in the
    /// line (every backslash of valid JSON is in a string, and every string was scanned).
    Parsed { surrogates: bool },
    /// Not parsed: an error, or something left to serde_json.
    GaveUp,
}

/// The fast parser gave up: serde_json decides.
struct Bail;

type Fr<T> = Result<T, Bail>;

/// How deep the fast parser follows nesting (a bit per level says array or object).
const MAX_DEPTH: u32 = 64;

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The first index from `i` of a byte that ends a string's plain run: `"`, `\` or a control
/// character (below 0x20); `b.len()` when there is none. Eight bytes at a time.
fn find_special(b: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = b.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let v = u64::from_le_bytes(w);
        let q = v ^ (LO * u64::from(b'"'));
        let s = v ^ (LO * u64::from(b'\\'));
        let m = (q.wrapping_sub(LO) & !q)
            | (s.wrapping_sub(LO) & !s)
            | (v.wrapping_sub(LO * 0x20) & !v);
        let m = m & HI;
        if m != 0 {
            // The lowest flagged byte is a true hit (borrows only flag bytes above one).
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            return i;
        }
        i += 1;
    }
    b.len()
}

fn hex_digit(c: u8) -> Option<u32> {
    char::from(c).to_digit(16)
}

/// Four hex digits at `b[at..]`.
fn hex4(b: &[u8], at: usize) -> Option<u32> {
    let d = b.get(at..at + 4)?;
    let mut v = 0u32;
    for &c in d {
        v = v * 16 + hex_digit(c)?;
    }
    Some(v)
}

/// Appends the unescaped form of a string's content (`raw`, between the quotes, escapes
/// already checked for form) to `out`. Bails on a lone surrogate (serde_json's error).
fn unescape(raw: &str, out: &mut String) -> Fr<()> {
    let b = raw.as_bytes();
    let mut rest_start = 0;
    let mut i = 0;
    while i < b.len() {
        // `str::find` with an ASCII char is a vectorised byte search.
        let Some(off) = raw.get(i..).and_then(|t| t.find('\\')) else {
            break;
        };
        let at = i + off;
        out.push_str(raw.get(rest_start..at).ok_or(Bail)?);
        let c = *b.get(at + 1).ok_or(Bail)?;
        let mut next = at + 2;
        match c {
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'/' => out.push('/'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let unit = hex4(b, at + 2).ok_or(Bail)?;
                next = at + 6;
                let ch = match unit {
                    0xD800..=0xDBFF => {
                        if b.get(at + 6) != Some(&b'\\') || b.get(at + 7) != Some(&b'u') {
                            return Err(Bail);
                        }
                        let lo = hex4(b, at + 8).ok_or(Bail)?;
                        if !(0xDC00..=0xDFFF).contains(&lo) {
                            return Err(Bail);
                        }
                        next = at + 12;
                        0x10000 + ((unit - 0xD800) << 10) + (lo - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return Err(Bail),
                    u => u,
                };
                out.push(char::from_u32(ch).ok_or(Bail)?);
            }
            _ => return Err(Bail),
        }
        i = next;
        rest_start = next;
    }
    out.push_str(raw.get(rest_start..).ok_or(Bail)?);
    Ok(())
}

struct Fast<'t, 'p> {
    text: &'t str,
    b: &'t [u8],
    i: usize,
    p: &'p mut Parsed<'t>,
    keys: &'p Keys,
    /// A surrogate escape was seen.
    surrogates: bool,
    /// The prediction slot of the previous key ([`Parsed::next_key`]).
    prev: usize,
}

impl<'t> Fast<'t, '_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Fr<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(Bail)
        }
    }

    fn run(&mut self) -> Fr<()> {
        self.ws();
        self.eat(b'{')?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
        } else {
            loop {
                self.ws();
                let id = self.key()?;
                self.ws();
                self.eat(b':')?;
                self.ws();
                if self.keys.keeps(id) {
                    let v = self.value()?;
                    let ix = u32::try_from(self.p.vals.len()).map_err(|_| Bail)?;
                    if ix == NO_VAL {
                        return Err(Bail);
                    }
                    self.p.vals.push(v);
                    self.p.entries.push((id, ix));
                } else {
                    self.skip()?;
                    if self.keys.record_skipped {
                        self.p.entries.push((id, NO_VAL));
                    }
                }
                self.ws();
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(b'}') => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(Bail),
                }
            }
        }
        self.ws();
        if self.i == self.b.len() {
            Ok(())
        } else {
            Err(Bail)
        }
    }

    /// A string at `self.i` (the opening quote): the content's range and whether it holds
    /// escapes (each checked for form).
    fn string(&mut self) -> Fr<(usize, usize, bool)> {
        self.eat(b'"')?;
        let start = self.i;
        let mut escaped = false;
        loop {
            let at = find_special(self.b, self.i);
            match self.b.get(at) {
                Some(b'"') => {
                    self.i = at + 1;
                    return Ok((start, at, escaped));
                }
                Some(b'\\') => {
                    escaped = true;
                    match self.b.get(at + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.i = at + 2;
                        }
                        Some(b'u') => {
                            let unit = hex4(self.b, at + 2).ok_or(Bail)?;
                            self.surrogates |= (0xD800..=0xDFFF).contains(&unit);
                            self.i = at + 6;
                        }
                        _ => return Err(Bail),
                    }
                }
                // A control character, or the end of the line.
                _ => return Err(Bail),
            }
        }
    }

    fn key(&mut self) -> Fr<u32> {
        let (start, end, escaped) = self.string()?;
        let raw = self.text.get(start..end).ok_or(Bail)?;
        let id = if escaped {
            let mut buf = std::mem::take(&mut self.p.key_buf);
            buf.clear();
            let r = unescape(raw, &mut buf).map(|()| self.keys.id(&buf));
            self.p.key_buf = buf;
            r?
        } else {
            let guess = self.p.next_key.get(self.prev).copied().unwrap_or(UNKNOWN);
            if self.keys.is(guess, raw.as_bytes()) {
                guess
            } else {
                let id = self.keys.id(raw);
                if let Some(slot) = self.p.next_key.get_mut(self.prev) {
                    *slot = id;
                }
                id
            }
        };
        self.prev = if id == UNKNOWN {
            self.keys.len() + 1
        } else {
            id as usize + 1
        };
        Ok(id)
    }

    /// A string value: borrowed, or unescaped into the line's text buffer in the same pass
    /// that finds its end. Bails on a lone surrogate (the line is then repaired).
    fn string_value(&mut self) -> Fr<JScalar<'t>> {
        self.eat(b'"')?;
        let start = self.i;
        // Where the plain run not yet copied begins, and where the unescaped text begins in
        // the buffer once the first escape is met.
        let mut run = start;
        let mut esc: Option<usize> = None;
        loop {
            let at = find_special(self.b, self.i);
            match self.b.get(at) {
                Some(b'"') => {
                    self.i = at + 1;
                    let plain = self.text.get(run..at).ok_or(Bail)?;
                    return Ok(match esc {
                        None => JScalar::Str(plain),
                        Some(from) => {
                            self.p.text.push_str(plain);
                            JScalar::Esc {
                                start: from,
                                len: self.p.text.len() - from,
                            }
                        }
                    });
                }
                Some(b'\\') => {
                    let out = &mut self.p.text;
                    esc.get_or_insert(out.len());
                    out.push_str(self.text.get(run..at).ok_or(Bail)?);
                    let mut next = at + 2;
                    match self.b.get(at + 1) {
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'/') => out.push('/'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(b'n') => out.push('\n'),
                        Some(b'r') => out.push('\r'),
                        Some(b't') => out.push('\t'),
                        Some(b'u') => {
                            let unit = hex4(self.b, at + 2).ok_or(Bail)?;
                            next = at + 6;
                            let ch = match unit {
                                0xD800..=0xDBFF => {
                                    self.surrogates = true;
                                    if self.b.get(at + 6) != Some(&b'\\')
                                        || self.b.get(at + 7) != Some(&b'u')
                                    {
                                        return Err(Bail);
                                    }
                                    let lo = hex4(self.b, at + 8).ok_or(Bail)?;
                                    if !(0xDC00..=0xDFFF).contains(&lo) {
                                        return Err(Bail);
                                    }
                                    next = at + 12;
                                    0x10000 + ((unit - 0xD800) << 10) + (lo - 0xDC00)
                                }
                                0xDC00..=0xDFFF => return Err(Bail),
                                u => u,
                            };
                            out.push(char::from_u32(ch).ok_or(Bail)?);
                        }
                        _ => return Err(Bail),
                    }
                    self.i = next;
                    run = next;
                }
                // A control character, or the end of the line.
                _ => return Err(Bail),
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Fr<()> {
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(Bail)
        }
    }

    /// A number's extent (grammar checked), and whether it is a plain non-negative integer of
    /// at most 18 digits (then its value).
    fn number(&mut self) -> Fr<(usize, Option<i64>)> {
        let start = self.i;
        let neg = self.peek() == Some(b'-');
        if neg {
            self.i += 1;
        }
        let digits_start = self.i;
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.i += 1;
                }
            }
            _ => return Err(Bail),
        }
        let digits_end = self.i;
        let mut plain = !neg;
        if self.peek() == Some(b'.') {
            plain = false;
            self.i += 1;
            self.digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            plain = false;
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            self.digits()?;
        }
        if !plain || digits_end - digits_start > 18 {
            return Ok((start, None));
        }
        let mut v: i64 = 0;
        for &d in self.b.get(digits_start..digits_end).unwrap_or_default() {
            v = v * 10 + i64::from(d - b'0');
        }
        Ok((start, Some(v)))
    }

    /// One or more digits.
    fn digits(&mut self) -> Fr<()> {
        let from = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        if self.i == from {
            Err(Bail)
        } else {
            Ok(())
        }
    }

    fn number_value(&mut self) -> Fr<JScalar<'t>> {
        match self.number()? {
            (_, Some(v)) => Ok(JScalar::Int(v)),
            (start, None) => {
                // serde_json's own reading (rounding, range errors, `-0` as a float).
                let text = self.text.get(start..self.i).ok_or(Bail)?;
                let mut de = serde_json::Deserializer::from_str(text);
                (&mut de).deserialize_any(NumVisitor).map_err(|_| Bail)
            }
        }
    }

    /// A scalar at `self.i`; `None` (nothing consumed) at an array or object.
    fn scalar(&mut self) -> Fr<Option<JScalar<'t>>> {
        Ok(Some(match self.peek() {
            Some(b'"') => self.string_value()?,
            Some(b't') => {
                self.literal(b"true")?;
                JScalar::Bool(true)
            }
            Some(b'f') => {
                self.literal(b"false")?;
                JScalar::Bool(false)
            }
            Some(b'n') => {
                self.literal(b"null")?;
                JScalar::Null
            }
            Some(b'-' | b'0'..=b'9') => self.number_value()?,
            Some(b'[' | b'{') => return Ok(None),
            _ => return Err(Bail),
        }))
    }

    /// A kept top-level value.
    fn value(&mut self) -> Fr<JVal<'t>> {
        if let Some(s) = self.scalar()? {
            return Ok(JVal::Scalar(s));
        }
        if self.peek() == Some(b'{') {
            self.skip()?;
            return Ok(JVal::Other);
        }
        self.eat(b'[')?;
        let start = self.p.items.len();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
        } else {
            loop {
                self.ws();
                let item = match self.scalar()? {
                    Some(s) => JVal::Scalar(s),
                    None => {
                        self.skip()?;
                        JVal::Other
                    }
                };
                self.p.items.push(item);
                self.ws();
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(b']') => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(Bail),
                }
            }
        }
        let len = self.p.items.len() - start;
        match (u32::try_from(start), u32::try_from(len)) {
            (Ok(start), Ok(len)) => Ok(JVal::List { start, len }),
            _ => Err(Bail),
        }
    }

    /// Skips one value, checking its syntax (numbers by grammar only, as serde_json's skipping
    /// does).
    fn skip(&mut self) -> Fr<()> {
        // Bit d of `stack`: level d+1 is an object (1) or an array (0).
        let mut stack: u64 = 0;
        let mut depth: u32 = 0;
        loop {
            // A value.
            self.ws();
            match self.peek() {
                Some(b'"') => {
                    self.string()?;
                }
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                Some(b'-' | b'0'..=b'9') => {
                    self.number()?;
                }
                Some(open @ (b'[' | b'{')) => {
                    if depth >= MAX_DEPTH {
                        return Err(Bail);
                    }
                    self.i += 1;
                    let object = open == b'{';
                    if object {
                        stack |= 1 << depth;
                    } else {
                        stack &= !(1 << depth);
                    }
                    depth += 1;
                    self.ws();
                    let close = if object { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.i += 1;
                        depth -= 1;
                    } else {
                        if object {
                            self.string()?;
                            self.ws();
                            self.eat(b':')?;
                        }
                        continue;
                    }
                }
                _ => return Err(Bail),
            }
            // After a value: close levels, or go on to the next member.
            loop {
                if depth == 0 {
                    return Ok(());
                }
                self.ws();
                let object = stack & (1 << (depth - 1)) != 0;
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        if object {
                            self.ws();
                            self.string()?;
                            self.ws();
                            self.eat(b':')?;
                        }
                        break;
                    }
                    Some(b'}') if object => {
                        self.i += 1;
                        depth -= 1;
                    }
                    Some(b']') if !object => {
                        self.i += 1;
                        depth -= 1;
                    }
                    _ => return Err(Bail),
                }
            }
        }
    }
}

/// A number, as serde_json reads it.
struct NumVisitor;

impl<'de> Visitor<'de> for NumVisitor {
    type Value = JScalar<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_i64<E>(self, v: i64) -> Result<JScalar<'de>, E> {
        Ok(JScalar::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<JScalar<'de>, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => JScalar::Int(i),
            Err(_) => JScalar::UInt(v),
        })
    }
    fn visit_f64<E>(self, v: f64) -> Result<JScalar<'de>, E> {
        Ok(JScalar::Float(v))
    }
}

// --- The serde_json parser ---------------------------------------------------------------

/// A key, looked up as it is read.
struct KeySeed<'k> {
    keys: &'k Keys,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = u32;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<u32, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = u32;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_str<E>(self, v: &str) -> Result<u32, E> {
        Ok(self.keys.id(v))
    }
}

struct ObjVisitor<'p, 't> {
    p: &'p mut Parsed<'t>,
    keys: &'p Keys,
}

impl<'de> Visitor<'de> for ObjVisitor<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(id) = map.next_key_seed(KeySeed { keys: self.keys })? {
            if self.keys.keeps(id) {
                let value = map.next_value_seed(TopSeed {
                    items: &mut self.p.items,
                    text: &mut self.p.text,
                })?;
                let ix = u32::try_from(self.p.vals.len())
                    .ok()
                    .filter(|&ix| ix != NO_VAL)
                    .ok_or_else(|| de::Error::custom("too many values"))?;
                self.p.vals.push(value);
                self.p.entries.push((id, ix));
            } else {
                map.next_value::<IgnoredAny>()?;
                if self.keys.record_skipped {
                    self.p.entries.push((id, NO_VAL));
                }
            }
        }
        Ok(())
    }
}

/// A top-level value: scalars, arrays of scalars (into `items`), anything else skipped.
struct TopSeed<'p, 't> {
    items: &'p mut Vec<JVal<'t>>,
    text: &'p mut String,
}

impl<'de> DeserializeSeed<'de> for TopSeed<'_, 'de> {
    type Value = JVal<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<JVal<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

/// Appends `v` to the line's text buffer.
fn esc_of(text: &mut String, v: &str) -> JScalar<'static> {
    let start = text.len();
    text.push_str(v);
    JScalar::Esc {
        start,
        len: v.len(),
    }
}

/// Implements the scalar visits for a visitor with a `text` buffer whose value is a `JVal`.
macro_rules! scalar_visits {
    () => {
        fn visit_bool<E>(self, v: bool) -> Result<JVal<'de>, E> {
            Ok(JVal::Scalar(JScalar::Bool(v)))
        }
        fn visit_i64<E>(self, v: i64) -> Result<JVal<'de>, E> {
            Ok(JVal::Scalar(JScalar::Int(v)))
        }
        fn visit_u64<E>(self, v: u64) -> Result<JVal<'de>, E> {
            Ok(JVal::Scalar(match i64::try_from(v) {
                Ok(i) => JScalar::Int(i),
                Err(_) => JScalar::UInt(v),
            }))
        }
        fn visit_f64<E>(self, v: f64) -> Result<JVal<'de>, E> {
            Ok(JVal::Scalar(JScalar::Float(v)))
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<JVal<'de>, E> {
            Ok(JVal::Scalar(JScalar::Str(v)))
        }
        fn visit_str<E>(self, v: &str) -> Result<JVal<'de>, E> {
            Ok(JVal::Scalar(esc_of(self.text, v)))
        }
        fn visit_unit<E>(self) -> Result<JVal<'de>, E> {
            Ok(JVal::Scalar(JScalar::Null))
        }
        fn visit_none<E>(self) -> Result<JVal<'de>, E> {
            Ok(JVal::Scalar(JScalar::Null))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JVal<'de>, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(JVal::Other)
        }
    };
}

impl<'de> Visitor<'de> for TopSeed<'_, 'de> {
    type Value = JVal<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    scalar_visits!();
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JVal<'de>, A::Error> {
        let start = self.items.len();
        while let Some(item) = seq.next_element_seed(ItemSeed {
            text: &mut *self.text,
        })? {
            self.items.push(item);
        }
        let len = self.items.len() - start;
        match (u32::try_from(start), u32::try_from(len)) {
            (Ok(start), Ok(len)) => Ok(JVal::List { start, len }),
            _ => Err(de::Error::custom("array too long")),
        }
    }
}

/// An item of a top-level array: scalars; nested arrays and objects are skipped.
struct ItemSeed<'p> {
    text: &'p mut String,
}

impl<'de> DeserializeSeed<'de> for ItemSeed<'_> {
    type Value = JVal<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<JVal<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ItemSeed<'_> {
    type Value = JVal<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    scalar_visits!();
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JVal<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(JVal::Other)
    }
}

// --- Repair --------------------------------------------------------------------------------

/// The repair of a line that is not valid UTF-8: invalid bytes and lone `\uD800`-`\uDFFF`
/// escapes become U+FFFD.
pub(crate) fn repair_bytes(line: &[u8]) -> String {
    let lossy = String::from_utf8_lossy(line);
    fix_surrogates(&lossy).unwrap_or_else(|| lossy.into_owned())
}

/// Whether `text` may hold a surrogate escape (`\u` then `d`/`D` then `8`-`f`): the cheap test
/// (a vectorised substring search) that spares almost every line the full scan.
fn may_have_surrogates(text: &str) -> bool {
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(off) = text.get(from..).and_then(|t| t.find("\\u")) {
        let at = from + off;
        if let (Some(b'd' | b'D'), Some(b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F')) =
            (b.get(at + 2), b.get(at + 3))
        {
            return true;
        }
        from = at + 2;
    }
    false
}

/// `text` with each lone surrogate escape replaced by `\uFFFD`; `None` when there is none.
pub(crate) fn fix_surrogates(text: &str) -> Option<String> {
    if !may_have_surrogates(text) {
        return None;
    }
    let b = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        if b.get(i + 1) != Some(&b'u') {
            i += 2;
            continue;
        }
        let Some(unit) = hex4(b, i + 2) else {
            i += 2;
            continue;
        };
        let lone = match unit {
            0xD800..=0xDBFF => {
                let paired = b.get(i + 6) == Some(&b'\\')
                    && b.get(i + 7) == Some(&b'u')
                    && hex4(b, i + 8).is_some_and(|lo| (0xDC00..=0xDFFF).contains(&lo));
                if paired {
                    i += 12;
                    continue;
                }
                true
            }
            0xDC00..=0xDFFF => true,
            _ => false,
        };
        if lone {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(text.get(copied..i).unwrap_or_default());
            o.push_str("\\uFFFD");
            copied = i + 6;
        }
        i += 6;
    }
    let mut o = out?;
    o.push_str(text.get(copied..).unwrap_or_default());
    Some(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(names: &[&str], check_unknown: bool) -> Keys {
        let mut k = Keys::default();
        for n in names {
            k.intern(n);
        }
        k.check_unknown = check_unknown;
        k.record_skipped = true;
        k
    }

    /// The entries as `(key, value)` with values resolved.
    type Dump = Vec<(String, String)>;

    /// The entries as `(key, value)` with values resolved, for comparisons.
    fn dump(p: &Parsed<'_>, k: &Keys) -> Vec<(String, String)> {
        let show = |v: &JVal<'_>| -> String {
            match v {
                JVal::Scalar(s) => format!("{:?}", p.raw(s)),
                JVal::List { start, len } => format!(
                    "[{}]",
                    p.list_items(*start, *len)
                        .iter()
                        .map(|it| match it {
                            JVal::Scalar(s) => format!("{:?}", p.raw(s)),
                            other => format!("{other:?}"),
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                JVal::Other => "Other".to_owned(),
            }
        };
        p.entries
            .iter()
            .map(|&(id, ix)| {
                let name = if id == UNKNOWN { "?" } else { k.name(id) };
                let v = if ix == NO_VAL {
                    "skipped".to_owned()
                } else {
                    p.value(ix).map_or("bad index".to_owned(), show)
                };
                (name.to_owned(), v)
            })
            .collect()
    }

    /// Both parsers on `text`: the fast one must either give up or agree with serde_json.
    fn both(text: &str, k: &Keys) -> (Option<Dump>, Result<Dump, String>) {
        let mut fast = Parsed::default();
        let ok = fast.parse_fast(text, k) != FastOutcome::GaveUp;
        let fast = ok.then(|| dump(&fast, k));
        let mut slow = Parsed::default();
        let slow = slow
            .parse_serde(text, k)
            .map(|()| dump(&slow, k))
            .map_err(|e| e.to_string());
        (fast, slow)
    }

    fn agree(text: &str, k: &Keys) {
        let (fast, slow) = both(text, k);
        if let Some(f) = fast {
            assert_eq!(Ok(f), slow, "fast parser accepted {text:?}");
        }
    }

    #[test]
    fn borrows_plain_strings_and_skips_nesting() {
        let text =
            r#"{"a": "x", "b": "y\\z", "c": [1, "q", [2], {}], "d": {"e": [[]]}, "f": null}"#;
        let k = keys(&["a", "b", "c", "d", "f"], false);
        let mut p = Parsed::default();
        p.parse(text, &k).expect("valid");
        assert_eq!(p.entries.len(), 5);
        assert_eq!(p.value(0), Some(&JVal::Scalar(JScalar::Str("x"))));
        assert!(
            matches!(p.value(1), Some(JVal::Scalar(JScalar::Esc { start, len })) if p.esc(*start, *len) == "y\\z")
        );
        assert_eq!(p.value(2), Some(&JVal::List { start: 0, len: 4 }));
        assert_eq!(p.list_items(0, 4).get(2), Some(&JVal::Other));
        assert_eq!(p.value(3), Some(&JVal::Other));
        assert_eq!(p.value(4), Some(&JVal::Scalar(JScalar::Null)));
        let (fast, slow) = both(text, &k);
        assert_eq!(fast.as_ref(), slow.as_ref().ok(), "both parsers agree");
    }

    #[test]
    fn skipped_keys_are_checked_not_kept() {
        let k = keys(&["a"], false);
        let mut p = Parsed::default();
        p.parse(r#"{"a": 1, "b": "x\ty", "c": [1, {"d": "\u00e9"}]}"#, &k)
            .expect("valid");
        assert_eq!(
            p.entries,
            vec![(0, 0), (UNKNOWN, NO_VAL), (UNKNOWN, NO_VAL)]
        );
        for bad in [
            r#"{"a": 1, "b": "x"#,
            r#"{"a": 1, "b": [1, 2,]}"#,
            r#"{"a": 1, "b": {"c" 1}}"#,
            r#"{"a": 1, "b": tru}"#,
            r#"{"a": 1, "b": 01}"#,
            r#"{"a": 1, "b": "\x"}"#,
            "{\"a\": 1, \"b\": \"\u{1}\"}",
            r#"{"a": 1, "b": 1.}"#,
            r#"{"a": 1} x"#,
        ] {
            assert!(p.parse(bad, &k).is_err(), "{bad}");
        }
    }

    #[test]
    fn fast_parser_agrees_with_serde_json() {
        let k = keys(&["a", "b", "c", "k\"ey", "é"], true);
        // Valid records the fast parser must take itself (and agree on).
        let fast_ok = [
            r#"{}"#,
            r#" { } "#,
            r#"{"a":1}"#,
            r#"{"a": -0, "b": -12, "c": 1.5e3}"#,
            r#"{"a": 123456789012345678, "b": 1234567890123456789, "c": 18446744073709551616}"#,
            r#"{"a": 9223372036854775807, "b": 9223372036854775808, "c": -9223372036854775809}"#,
            r#"{"a": "\ud83d\ude00", "b": "\u00e9\n\t\"\\\/\b\f\r"}"#,
            r#"{"k\"ey": 1, "\u00e9": 2, "\u0061": 3}"#,
            r#"{"a": [], "b": [[], {}], "c": [1, "x", true, null, -1.5]}"#,
            r#"{"a": {"x": [1, {"y": []}]}, "b": 2}"#,
            r#"{"a": 1.5E+2, "b": 2e-2}"#,
            r#"{"a": "x" } "#,
            "{\"a\":\t1,\r\n\"b\" : 2}",
            r#"{"a": "x", "a": "y"}"#,
            r#"{"a": "C:\\Windows\\System32\\cmd.exe", "c": "\"q\" \\\\srv\\share"}"#,
        ];
        for c in fast_ok {
            let (fast, slow) = both(c, &k);
            assert!(fast.is_some(), "the fast parser takes {c:?}");
            assert_eq!(fast.ok_or(()), slow.map_err(|_| ()), "{c:?}");
        }
        // Anything else: the fast parser gives up or agrees.
        let others = [
            r#"{"a": 1e999}"#,
            r#"{"zz": 1e999}"#,
            r#"{"a": "\ud83d"}"#,
            r#"{"a": "\udc00"}"#,
            r#"{"a": "\ud83dx"}"#,
            r#"{"a": "\ud83d\u0041"}"#,
            r#"{"a": [1,]}"#,
            r#"{"a": 1,}"#,
            r#"{"a" 1}"#,
            r#"{"a": 1 "b": 2}"#,
            r#"[1]"#,
            r#""a""#,
            r#"{"a": nul}"#,
            r#"{"a": +1}"#,
            r#"{"a": .5}"#,
            r#"{"a": 1e}"#,
            r#"{"a": 01}"#,
            r#"{"a": 1}}"#,
            r#"{"a": "\u12"}"#,
            r#"{"a": "\u12G4"}"#,
            "{\"a\": \"tab\there\"}",
            "{\"a\": 1}\u{c}",
            r#"{"a": {"b": 1,}}"#,
            r#"{"a": {"b" 1}}"#,
            r#"{"a": [1 2]}"#,
            r#"{"a": "x"#,
            r#"{"a""#,
            r#"{"#,
            "",
        ];
        for c in others {
            agree(c, &k);
            agree(c, &keys(&["a"], false));
        }
        // A skipped number is checked by grammar only.
        let (fast, _) = both(r#"{"zz": 1e999}"#, &keys(&["a"], false));
        assert!(fast.is_some());
        // Nesting beyond the fast parser's depth: serde_json decides.
        let deep = format!("{{\"a\": {}{}}}", "[".repeat(100), "]".repeat(100));
        agree(&deep, &k);
        let mut p = Parsed::default();
        p.parse(&deep, &k).expect("serde_json skips deep nesting");
    }

    /// A JSON-ish text: valid JSON pieces and the characters that break them.
    fn json_ish() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just("[".to_owned()),
            Just("]".to_owned()),
            Just(",".to_owned()),
            Just(":".to_owned()),
            Just(" ".to_owned()),
            Just("\"a\"".to_owned()),
            Just("\"b\": ".to_owned()),
            Just("\"\\\\x\\\"\"".to_owned()),
            Just("\"\\u00e9\\ud83d\\ude00\"".to_owned()),
            Just("\"\\ud800\"".to_owned()),
            Just("\"\\q\"".to_owned()),
            Just("\"".to_owned()),
            Just("\\".to_owned()),
            Just("\u{1}".to_owned()),
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("fals".to_owned()),
            Just("-".to_owned()),
            Just("0".to_owned()),
            Just("12".to_owned()),
            Just("1e999".to_owned()),
            Just("-0.5E+3".to_owned()),
            Just("99999999999999999999".to_owned()),
            Just(".".to_owned()),
            Just("e".to_owned()),
        ];
        proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat())
    }

    /// Valid JSON values of every kind, nested.
    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |x| x.is_finite())
                .prop_map(Value::from),
            any::<String>().prop_map(Value::String),
            "[a-c\\\"/\u{0}-\u{1f}é😀]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map("[a-c]{1,2}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn fast_parser_takes_valid_records_as_serde_json_does(
            fields in proptest::collection::vec(("[a-c]{1,2}", json_value()), 0..8),
        ) {
            let body: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{}: {}", serde_json::Value::from(k.as_str()), v))
                .collect();
            let text = format!("{{{}}}", body.join(", "));
            for k in [keys(&["a", "b", "ab"], true), keys(&["a", "c"], false)] {
                let (fast, slow) = both(&text, &k);
                proptest::prop_assert!(fast.is_some(), "fast parser gave up on {}", text);
                proptest::prop_assert_eq!(fast.ok_or(()), slow.map_err(|_| ()));
            }
        }

        #[test]
        fn fast_parser_never_disagrees(body in json_ish()) {
            let k = keys(&["a", "b"], true);
            for text in [format!("{{{body}}}"), format!("{{\"a\": {body}}}"), body.clone()] {
                agree(&text, &k);
                agree(&text, &keys(&["b"], false));
            }
        }
    }

    /// Every line of the corpus's EVTX-derived samples: the fast parser takes each valid one
    /// and agrees with serde_json on it (skipped when the corpus is absent).
    #[test]
    fn fast_parser_agrees_on_corpus_lines() {
        use std::io::Read;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/corpus/events/evtx-attack-samples");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            eprintln!("skipped: no corpus at {}", dir.display());
            return;
        };
        let k = keys(
            &[
                "EventID",
                "Channel",
                "Image",
                "CommandLine",
                "TargetFilename",
            ],
            false,
        );
        let all = keys(&[], true);
        let mut n = 0;
        for e in entries.flatten() {
            let mut bytes = Vec::new();
            let Ok(f) = std::fs::File::open(e.path()) else {
                continue;
            };
            if flate2::read::GzDecoder::new(f)
                .read_to_end(&mut bytes)
                .is_err()
            {
                continue;
            }
            for line in bytes.split(|&b| b == b'\n') {
                let Ok(text) = std::str::from_utf8(line) else {
                    continue;
                };
                if text.trim().is_empty() {
                    continue;
                }
                for k in [&k, &all] {
                    let (fast, slow) = both(text, k);
                    if slow.is_ok() && !text.contains("\\ud") && !text.contains("\\uD") {
                        assert!(fast.is_some(), "the fast parser takes {text}");
                    }
                    if let Some(f) = fast {
                        assert_eq!(Ok(f), slow, "{text}");
                    }
                }
                n += 1;
            }
        }
        assert!(n > 1000, "{n} lines");
    }

    #[test]
    fn find_special_finds_the_first_hit() {
        let s = b"abcdefgh\"ijklmnop\\";
        assert_eq!(find_special(s, 0), 8);
        assert_eq!(find_special(s, 9), 17);
        assert_eq!(find_special(b"abc", 0), 3);
        assert_eq!(find_special(b"abcdefghijk\x01", 0), 11);
        assert_eq!(find_special("ééééé\"".as_bytes(), 0), 10);
        for n in 0..20 {
            let mut v = vec![b'x'; n];
            v.push(b'"');
            v.extend_from_slice(b"\\\"");
            assert_eq!(find_special(&v, 0), n);
        }
    }

    #[test]
    fn lone_surrogates_are_replaced() {
        assert_eq!(fix_surrogates(r#""\ud83d\ude00""#), None);
        assert_eq!(fix_surrogates(r#""C:\\dir\\udc""#), None);
        assert_eq!(
            fix_surrogates(r#""a\ud800b""#).as_deref(),
            Some(r#""a\uFFFDb""#)
        );
        assert_eq!(
            fix_surrogates(r#""\udc00\\ud800""#).as_deref(),
            Some(r#""\uFFFD\\ud800""#)
        );
        assert_eq!(
            fix_surrogates(r#""\uDBFF""#).as_deref(),
            Some(r#""\uFFFD""#)
        );
        assert_eq!(
            repair_bytes(b"{\"a\":\"\xff\"}"),
            "{\"a\":\"\u{fffd}\"}".to_owned()
        );
        assert!(may_have_surrogates(r"\uD800"));
        assert!(!may_have_surrogates(r"\u00e9 \\d8"));
    }
}
