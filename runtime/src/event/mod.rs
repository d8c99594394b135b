//! Decoded events: an [`Event`] is one event of one event type of the HOST schema, held as
//! typed [`Slot`]s (one per field, at the field's `FieldIndex`) plus a flag byte per field, and
//! the strings those slots point at.
//!
//! This module owns the event model and its builder ([`EventBuilder`], the agent-facing API);
//! decoders (`crate::decode`) and agents fill events only through the builder, which enforces
//! the host's bounds (`max_len`, `max_items`), so every event an engine sees is within the
//! bounds the verifier proved rules against.
//!
//! Strings are borrowed from the source where it allows; every other string (unescaped,
//! repaired, a number's text, an owned string an agent hands over) is copied into the event's
//! own text buffer, one `String` per event that all such strings share and that
//! [`Event::recycle`] keeps (emptied) for the next event. The slots' addresses (string bytes,
//! list item arrays) are written once, when the builder finishes the event, after which nothing
//! the event owns grows or moves: the JIT may read them (see `slot.rs`), the interpreter reads
//! the same data through the safe accessors here.
//!
//! Buffers are reused: [`Event::recycle`] empties an event keeping its capacity (and frees it
//! from the lifetime of its old source), and [`EventBuilder::reuse`] fills it again, so decoding
//! a stream allocates nothing per event in steady state, escaped strings included.

mod builder;
mod error;
pub mod slot;

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

pub use builder::TypeLayout;
pub use builder::{EventBuilder, EventTypeKey, FieldKey};
pub use error::{DecodeError, ErrorCode};
pub use slot::{Slot, FLAG_PRESENT, FLAG_TRUNCATED, SLOT_BYTES};

use crate::schema::{EventTypeId, FieldIndex};
use crate::types::{Scalar, Ty};
use crate::value::Value;

/// Marks "no entry" in the per-field reference table.
const NONE: u32 = u32::MAX;

/// What a field holds, for the accessors (a copy of the schema's type, per field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Bool,
    Int,
    Str,
    Ip,
    StrList,
    IntList,
    IpList,
}

impl Kind {
    pub(crate) fn of(ty: Ty) -> Kind {
        match ty {
            Ty::Scalar(Scalar::Bool) => Kind::Bool,
            Ty::Scalar(Scalar::Int) => Kind::Int,
            // `cidr` never occurs in a schema; a string is the harmless reading.
            Ty::Scalar(Scalar::Str | Scalar::Cidr) => Kind::Str,
            Ty::Scalar(Scalar::Ip) => Kind::Ip,
            Ty::List(Scalar::Int) => Kind::IntList,
            Ty::List(Scalar::Ip) => Kind::IpList,
            Ty::List(_) => Kind::StrList,
        }
    }

    fn is_list(self) -> bool {
        matches!(self, Kind::StrList | Kind::IntList | Kind::IpList)
    }
}

/// Where an event came from, carried into alerts (`source` in `docs/alerts.md`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// A line of a file or stream: the file's name (if known) and the 1-based line number.
    Line {
        /// The file's name as the decoder was told it.
        file: Option<Arc<str>>,
        /// 1-based line number.
        line: u64,
    },
    /// A record of a sensor's own numbering (agents using the builder API).
    Record {
        /// The record id.
        id: u64,
    },
}

/// Where a string of an event lives: borrowed from the source, or a range of the event's own
/// text buffer (`Event::text`).
#[derive(Clone, Copy, Debug)]
enum StrRef<'a> {
    Borrowed(&'a str),
    Own { start: usize, len: usize },
}

/// A list item not yet placed: which field it belongs to, and its value.
#[derive(Clone, Copy, Debug)]
struct Pending {
    field: u16,
    slot: Slot,
    /// Index into `strs` for string items, [`NONE`] otherwise.
    str_ix: u32,
}

/// One decoded event, laid out by the host schema. Built by [`EventBuilder`]; read through the
/// accessors (interpreter, alerts) or the raw [`Event::slots`] / [`Event::flags`] (JIT).
///
/// Accessors never panic: an index out of range, or of a field of another type, reads as the
/// empty value (`""`, `0`, `false`, `0.0.0.0`, no items).
#[derive(Debug)]
pub struct Event<'a> {
    ty: EventTypeId,
    kinds: Vec<Kind>,
    slots: Vec<Slot>,
    flags: Vec<u8>,
    /// Per field: index into `strs` (strings), first item in `items` (lists), or [`NONE`].
    refs: Vec<u32>,
    strs: Vec<StrRef<'a>>,
    /// The text of the strings the event owns (`StrRef::Own` ranges); never grows once the
    /// addresses are written.
    text: String,
    /// The string and list fields set while building (maybe repeated): the slots whose
    /// addresses [`Event::fix_addresses`] writes. Every other slot stays as the builder left it.
    touched: Vec<u16>,
    items: Vec<Slot>,
    /// Per item: index into `strs` for string items, [`NONE`] otherwise.
    item_strs: Vec<u32>,
    pending: Vec<Pending>,
    time_ix: Option<u16>,
    host_ix: Option<u16>,
    source: Option<Source>,
    truncated_values: u32,
    dropped_items: u32,
}

impl Default for Event<'_> {
    fn default() -> Self {
        Event {
            ty: EventTypeId(0),
            kinds: Vec::new(),
            slots: Vec::new(),
            flags: Vec::new(),
            refs: Vec::new(),
            strs: Vec::new(),
            text: String::new(),
            touched: Vec::new(),
            items: Vec::new(),
            item_strs: Vec::new(),
            pending: Vec::new(),
            time_ix: None,
            host_ix: None,
            source: None,
            truncated_values: 0,
            dropped_items: 0,
        }
    }
}

impl Clone for Event<'_> {
    /// A deep copy whose slots point at the copy's own strings and items.
    fn clone(&self) -> Self {
        let mut ev = Event {
            ty: self.ty,
            kinds: self.kinds.clone(),
            slots: self.slots.clone(),
            flags: self.flags.clone(),
            refs: self.refs.clone(),
            strs: self.strs.clone(),
            text: self.text.clone(),
            touched: self.touched.clone(),
            items: self.items.clone(),
            item_strs: self.item_strs.clone(),
            pending: Vec::new(),
            time_ix: self.time_ix,
            host_ix: self.host_ix,
            source: self.source.clone(),
            truncated_values: self.truncated_values,
            dropped_items: self.dropped_items,
        };
        ev.fix_addresses();
        ev
    }
}

/// Moves a vector's allocation to another element type of the same layout, emptied. The
/// standard library reuses the allocation for this in-place `collect`; no element is mapped
/// because the vector is empty.
pub(crate) fn recycle_vec<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

impl<'a> Event<'a> {
    /// The event's type in the host schema.
    pub fn ty(&self) -> EventTypeId {
        self.ty
    }

    /// The number of fields (slots) of the event's type.
    pub fn field_count(&self) -> usize {
        self.slots.len()
    }

    /// The slots, one per field of the event type, in `FieldIndex` order (layout: `slot.rs`).
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// The flag bytes, one per field ([`FLAG_PRESENT`], [`FLAG_TRUNCATED`]).
    pub fn flags(&self) -> &[u8] {
        &self.flags
    }

    fn flag(&self, f: FieldIndex) -> u8 {
        self.flags.get(usize::from(f.0)).copied().unwrap_or(0)
    }

    /// The kind of value field `ix` holds (for the engine's shape check).
    pub(crate) fn kind_at(&self, ix: u16) -> Option<Kind> {
        self.kinds.get(usize::from(ix)).copied()
    }

    fn kind(&self, f: FieldIndex) -> Option<Kind> {
        self.kinds.get(usize::from(f.0)).copied()
    }

    fn slot(&self, f: FieldIndex) -> Slot {
        self.slots
            .get(usize::from(f.0))
            .copied()
            .unwrap_or_default()
    }

    /// Whether the event carried the field (`exists(field)`).
    pub fn is_present(&self, f: FieldIndex) -> bool {
        self.flag(f) & FLAG_PRESENT != 0
    }

    /// Whether the field's value was cut to its bound or had invalid UTF-8 replaced
    /// (`truncated(field)`).
    pub fn is_truncated(&self, f: FieldIndex) -> bool {
        self.flag(f) & FLAG_TRUNCATED != 0
    }

    /// An `int` field; 0 when absent or not an int field.
    pub fn get_int(&self, f: FieldIndex) -> i64 {
        match self.kind(f) {
            Some(Kind::Int) => self.slot(f).w0 as i64,
            _ => 0,
        }
    }

    /// A `bool` field; false when absent or not a bool field.
    pub fn get_bool(&self, f: FieldIndex) -> bool {
        match self.kind(f) {
            Some(Kind::Bool) => self.slot(f).w0 != 0,
            _ => false,
        }
    }

    /// A `string` field; `""` when absent or not a string field.
    pub fn get_str(&self, f: FieldIndex) -> &str {
        match self.kind(f) {
            Some(Kind::Str) => self.str_at(self.refs.get(usize::from(f.0)).copied()),
            _ => "",
        }
    }

    fn str_at(&self, ix: Option<u32>) -> &str {
        match ix {
            Some(ix) if ix != NONE => self.strs.get(ix as usize).map_or("", |s| self.resolve(*s)),
            _ => "",
        }
    }

    /// The text a string reference stands for (`""` if a range were ever out of bounds).
    fn resolve(&self, s: StrRef<'a>) -> &str {
        match s {
            StrRef::Borrowed(b) => b,
            StrRef::Own { start, len } => self
                .text
                .get(start..start.saturating_add(len))
                .unwrap_or_default(),
        }
    }

    /// An `ip` field; `0.0.0.0` when absent or not an ip field. (The slot of an absent ip is
    /// all zero, as for every absent field: readers must check the present flag.)
    pub fn get_ip(&self, f: FieldIndex) -> IpAddr {
        match self.kind(f) {
            Some(Kind::Ip) if self.is_present(f) => self.slot(f).to_ip(),
            _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }
    }

    /// The number of items of a list field; 0 when absent or not a list.
    pub fn list_len(&self, f: FieldIndex) -> usize {
        match self.kind(f) {
            Some(k) if k.is_list() => self.slot(f).w1 as usize,
            _ => 0,
        }
    }

    fn item_ix(&self, f: FieldIndex, i: usize) -> Option<usize> {
        if i >= self.list_len(f) {
            return None;
        }
        let start = *self.refs.get(usize::from(f.0))?;
        if start == NONE {
            return None;
        }
        Some(start as usize + i)
    }

    /// Item `i` of a `[string]` field; `""` when out of range.
    pub fn list_item_str(&self, f: FieldIndex, i: usize) -> &str {
        match self.item_ix(f, i) {
            Some(ix) if self.kind(f) == Some(Kind::StrList) => {
                self.str_at(self.item_strs.get(ix).copied())
            }
            _ => "",
        }
    }

    /// Item `i` of a list field as a value; `None` when out of range.
    pub fn list_item(&self, f: FieldIndex, i: usize) -> Option<Value<'_>> {
        let ix = self.item_ix(f, i)?;
        let slot = self.items.get(ix).copied()?;
        Some(match self.kind(f)? {
            Kind::StrList => {
                Value::Str(Cow::Borrowed(self.str_at(self.item_strs.get(ix).copied())))
            }
            Kind::IntList => Value::Int(slot.w0 as i64),
            Kind::IpList => Value::Ip(slot.to_ip()),
            _ => return None,
        })
    }

    /// The field's value, its type's empty value when absent (`None` only for an index out of
    /// range).
    pub fn value(&self, f: FieldIndex) -> Option<Value<'_>> {
        Some(match self.kind(f)? {
            Kind::Bool => Value::Bool(self.get_bool(f)),
            Kind::Int => Value::Int(self.get_int(f)),
            Kind::Str => Value::Str(Cow::Borrowed(self.get_str(f))),
            Kind::Ip => Value::Ip(self.get_ip(f)),
            Kind::StrList | Kind::IntList | Kind::IpList => Value::List(
                (0..self.list_len(f))
                    .filter_map(|i| self.list_item(f, i))
                    .collect(),
            ),
        })
    }

    /// The event's `time` (nanoseconds since the Unix epoch); 0 when absent.
    pub fn time(&self) -> i64 {
        self.time_ix.map_or(0, |ix| self.get_int(FieldIndex(ix)))
    }

    /// The event's `time` when it carries one (`None` when its type has no `time` field or
    /// the event left it absent): what correlation windows are measured on.
    pub fn time_opt(&self) -> Option<i64> {
        let ix = FieldIndex(self.time_ix?);
        self.is_present(ix).then(|| self.get_int(ix))
    }

    /// The event's `host`; `""` when absent.
    pub fn host(&self) -> &str {
        self.host_ix.map_or("", |ix| self.get_str(FieldIndex(ix)))
    }

    /// Where the event came from, if known.
    pub fn source(&self) -> Option<&Source> {
        self.source.as_ref()
    }

    /// Sets where the event came from.
    pub fn set_source(&mut self, source: Option<Source>) {
        self.source = source;
    }

    /// How many values were cut to their bound (or had invalid UTF-8 replaced) while building.
    pub fn truncated_values(&self) -> u32 {
        self.truncated_values
    }

    /// How many list items were dropped beyond `max_items` while building.
    pub fn dropped_items(&self) -> u32 {
        self.dropped_items
    }

    /// Empties the event, keeping its buffers' capacity, for [`EventBuilder::reuse`]; the
    /// result may borrow from another source than this event did.
    pub fn recycle<'b>(self) -> Event<'b> {
        Event {
            ty: EventTypeId(0),
            kinds: recycle_vec(self.kinds),
            slots: recycle_vec(self.slots),
            flags: recycle_vec(self.flags),
            refs: recycle_vec(self.refs),
            strs: recycle_vec(self.strs),
            text: {
                let mut t = self.text;
                t.clear();
                t
            },
            touched: recycle_vec(self.touched),
            items: recycle_vec(self.items),
            item_strs: recycle_vec(self.item_strs),
            pending: recycle_vec(self.pending),
            time_ix: None,
            host_ix: None,
            source: None,
            truncated_values: 0,
            dropped_items: 0,
        }
    }

    /// Empties the event in place, keeping its buffers (same source lifetime).
    pub fn clear(&mut self) {
        let old = std::mem::take(self);
        *self = old.recycle();
    }

    /// Writes every address into the slots: string slots point at their strings, list slots at
    /// their first item in `items`, string items at their strings. Called once the buffers stop
    /// growing (builder finish, clone); afterwards nothing moves until the event is recycled.
    /// Only the touched fields hold addresses: every other slot is as the builder left it.
    fn fix_addresses(&mut self) {
        for &t in &self.touched {
            let i = usize::from(t);
            let Some(&kind) = self.kinds.get(i) else {
                continue;
            };
            let present = self.flags.get(i).copied().unwrap_or(0) & FLAG_PRESENT != 0;
            let r = self.refs.get(i).copied().unwrap_or(NONE);
            let string = match (kind, self.strs.get(r as usize)) {
                (Kind::Str, Some(&s)) if present && r != NONE => Some(self.resolve(s)),
                _ => None,
            };
            let string = string.map(Slot::for_str);
            let Some(slot) = self.slots.get_mut(i) else {
                continue;
            };
            match kind {
                Kind::Str => *slot = string.unwrap_or_default(),
                Kind::StrList | Kind::IntList | Kind::IpList => {
                    let count = slot.w1;
                    slot.w0 = match self.items.get(r as usize) {
                        Some(first) if r != NONE && count > 0 => std::ptr::from_ref(first) as u64,
                        _ => 0,
                    };
                }
                Kind::Bool | Kind::Int | Kind::Ip => {}
            }
        }
        for (i, &sx) in self.item_strs.iter().enumerate() {
            if sx == NONE {
                continue;
            }
            let Some(&s) = self.strs.get(sx as usize) else {
                continue;
            };
            let slot = Slot::for_str(self.resolve(s));
            if let Some(item) = self.items.get_mut(i) {
                *item = slot;
            }
        }
    }
}
