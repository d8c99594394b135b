//! [`EventBuilder`]: the one way to fill an [`Event`], used by the decoders and by agents that
//! supply events directly (no JSON). It enforces the host schema's bounds on every value.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::net::IpAddr;

use super::{Event, Kind, Pending, Source, StrRef, NONE};
use crate::event::error::{DecodeError, ErrorCode};
use crate::event::slot::{Slot, FLAG_PRESENT, FLAG_TRUNCATED};
use crate::schema::{EventType, EventTypeId, FieldDef, FieldIndex, Schema};

/// Names an event type: by name (`"process_start"`) or by [`EventTypeId`].
pub trait EventTypeKey {
    /// The id in `schema`, if it has the type.
    fn resolve(&self, schema: &Schema) -> Option<EventTypeId>;
    /// How the key reads in an error message.
    fn describe(&self) -> String;
}

impl EventTypeKey for &str {
    fn resolve(&self, schema: &Schema) -> Option<EventTypeId> {
        schema.event(self).map(|(id, _)| id)
    }
    fn describe(&self) -> String {
        format!("`{self}`")
    }
}

impl EventTypeKey for EventTypeId {
    fn resolve(&self, schema: &Schema) -> Option<EventTypeId> {
        schema.event_by_id(*self).map(|_| *self)
    }
    fn describe(&self) -> String {
        format!("#{}", self.0)
    }
}

/// Names a field of the builder's event type: by name (`"image"`) or, the fast path, by
/// [`FieldIndex`].
pub trait FieldKey {
    /// The index in `event`, if it has the field.
    fn resolve(&self, event: &EventType) -> Option<FieldIndex>;
    /// How the key reads in an error message.
    fn describe(&self) -> String;
}

impl FieldKey for &str {
    fn resolve(&self, event: &EventType) -> Option<FieldIndex> {
        event.field(self).map(|(ix, _)| ix)
    }
    fn describe(&self) -> String {
        format!("`{self}`")
    }
}

impl FieldKey for FieldIndex {
    fn resolve(&self, event: &EventType) -> Option<FieldIndex> {
        event.field_by_index(*self).map(|_| *self)
    }
    fn describe(&self) -> String {
        format!("#{}", self.0)
    }
}

/// What the builder needs of an event type, computed once per type (by a decoder, or a host
/// that builds events by hand: [`EventBuilder::reuse_with`]) instead of per event: each
/// field's kind and where `time` and `host` are.
#[derive(Clone, Debug)]
pub struct TypeLayout {
    kinds: Vec<Kind>,
    time_ix: Option<u16>,
    host_ix: Option<u16>,
}

impl TypeLayout {
    /// The layout of `event_type`.
    pub fn of(event_type: &EventType) -> TypeLayout {
        TypeLayout {
            kinds: event_type.fields.iter().map(|f| Kind::of(f.ty)).collect(),
            time_ix: event_type.field("time").map(|(ix, _)| ix.0),
            host_ix: event_type.field("host").map(|(ix, _)| ix.0),
        }
    }
}

/// Builds one [`Event`] of one event type of a host schema.
///
/// ```
/// use vigil_runtime::event::EventBuilder;
/// use vigil_runtime::schema::Schema;
///
/// let schema = Schema::endpoint();
/// let mut b = EventBuilder::new(&schema, "process_start").unwrap();
/// b.set_str("image", r"C:\Windows\System32\cmd.exe").unwrap();
/// b.set_int("pid", 42).unwrap();
/// b.push_item("args", "/c").unwrap();
/// let event = b.finish();
/// let (_, ty) = schema.event("process_start").unwrap();
/// let (image, _) = ty.field("image").unwrap();
/// assert_eq!(event.get_str(image), r"C:\Windows\System32\cmd.exe");
/// ```
///
/// Bounds: a string longer than its field's `max_len` is cut at the last whole character
/// within the limit and the field flagged truncated; list items beyond `max_items` are dropped
/// and the field flagged. Both are counted on the event ([`Event::truncated_values`],
/// [`Event::dropped_items`]). Setting a field again replaces its value.
///
/// Borrowed strings (`&'a str`, `Cow::Borrowed`) are kept as references; owned ones are copied
/// into the event's text buffer (reused across [`Event::recycle`]), so the `String` handed over
/// is dropped at once.
#[derive(Debug)]
pub struct EventBuilder<'s, 'a> {
    event_type: &'s EventType,
    ev: Event<'a>,
    /// Bytes of every string stored so far, replaced ones included (an upper bound on the
    /// event's input bytes), and of those, list items': [`EventBuilder::finish`] looks at the
    /// totals only when these could be over a bound.
    stored: u64,
    stored_items: u64,
}

impl<'s, 'a> EventBuilder<'s, 'a> {
    /// A builder for an event of type `ty` (a name or an id) of `schema`.
    pub fn new(schema: &'s Schema, ty: impl EventTypeKey) -> Result<Self, DecodeError> {
        Self::reuse(schema, ty, Event::default())
    }

    /// Like [`EventBuilder::new`], reusing the buffers of `old` (any source lifetime): no
    /// allocation when `old` had room for this event.
    pub fn reuse(
        schema: &'s Schema,
        ty: impl EventTypeKey,
        old: Event<'_>,
    ) -> Result<Self, DecodeError> {
        let unknown = || {
            DecodeError::new(
                ErrorCode::DecodeUnknownEventType,
                0,
                format!(
                    "unknown event type {} in schema `{}`",
                    ty.describe(),
                    schema.name
                ),
            )
        };
        let id = ty.resolve(schema).ok_or_else(unknown)?;
        let event_type = schema.event_by_id(id).ok_or_else(unknown)?;
        Ok(Self::for_type(id, event_type, old))
    }

    /// A builder for `event_type` (whose id is `id`), reusing `old`'s buffers.
    pub(crate) fn for_type(id: EventTypeId, event_type: &'s EventType, old: Event<'_>) -> Self {
        let mut ev: Event<'a> = old.recycle();
        let n = event_type.fields.len();
        ev.ty = id;
        ev.kinds
            .extend(event_type.fields.iter().map(|f| Kind::of(f.ty)));
        ev.slots.resize(n, Slot::default());
        ev.flags.resize(n, 0);
        ev.refs.resize(n, NONE);
        ev.time_ix = event_type.field("time").map(|(ix, _)| ix.0);
        ev.host_ix = event_type.field("host").map(|(ix, _)| ix.0);
        EventBuilder {
            event_type,
            ev,
            stored: 0,
            stored_items: 0,
        }
    }

    /// As [`EventBuilder::reuse`] for the type `id` of a schema, whose definition is
    /// `event_type`, with its layout computed once beforehand (`TypeLayout::of(event_type)`):
    /// no lookup by name per event. A layout of another type (another field count) is not
    /// trusted: the layout is then computed again.
    pub fn reuse_with(
        id: EventTypeId,
        event_type: &'s EventType,
        layout: &TypeLayout,
        old: Event<'_>,
    ) -> Self {
        if layout.kinds.len() == event_type.fields.len() {
            Self::with_layout(id, event_type, layout, old)
        } else {
            Self::for_type(id, event_type, old)
        }
    }

    /// As [`EventBuilder::for_type`], with the type's layout computed beforehand (`layout`
    /// must be `TypeLayout::of(event_type)`).
    pub(crate) fn with_layout(
        id: EventTypeId,
        event_type: &'s EventType,
        layout: &TypeLayout,
        old: Event<'_>,
    ) -> Self {
        let mut ev: Event<'a> = old.recycle();
        let n = layout.kinds.len();
        ev.ty = id;
        ev.kinds.extend_from_slice(&layout.kinds);
        ev.slots.resize(n, Slot::default());
        ev.flags.resize(n, 0);
        ev.refs.resize(n, NONE);
        ev.time_ix = layout.time_ix;
        ev.host_ix = layout.host_ix;
        EventBuilder {
            event_type,
            ev,
            stored: 0,
            stored_items: 0,
        }
    }

    /// The event type being built.
    pub fn event_type(&self) -> &'s EventType {
        self.event_type
    }

    fn field(
        &self,
        f: &impl FieldKey,
        want: &[Kind],
        what: &str,
    ) -> Result<(usize, &'s FieldDef), DecodeError> {
        let Some(ix) = f.resolve(self.event_type) else {
            return Err(DecodeError::new(
                ErrorCode::DecodeUnknownField,
                0,
                format!(
                    "no field {} on event `{}`",
                    f.describe(),
                    self.event_type.name
                ),
            ));
        };
        let i = usize::from(ix.0);
        let def = self.event_type.fields.get(i).ok_or_else(|| {
            DecodeError::new(
                ErrorCode::DecodeUnknownField,
                0,
                format!("no field {}", f.describe()),
            )
        })?;
        if !want.contains(&Kind::of(def.ty)) {
            return Err(DecodeError::new(
                ErrorCode::WrongType,
                0,
                format!(
                    "field `{}` of event `{}` is `{}`, not {what}",
                    def.name, self.event_type.name, def.ty
                ),
            ));
        }
        Ok((i, def))
    }

    fn set_scalar(&mut self, i: usize, slot: Slot) {
        if let Some(s) = self.ev.slots.get_mut(i) {
            *s = slot;
        }
        if let Some(fl) = self.ev.flags.get_mut(i) {
            *fl = FLAG_PRESENT;
        }
    }

    /// Sets a string field to a borrowed string.
    pub fn set_str(&mut self, f: impl FieldKey, v: &'a str) -> Result<(), DecodeError> {
        self.set_cow(f, Cow::Borrowed(v))
    }

    /// Sets a string field to an owned string.
    pub fn set_string(&mut self, f: impl FieldKey, v: String) -> Result<(), DecodeError> {
        self.set_cow(f, Cow::Owned(v))
    }

    /// Sets a string field, borrowed or owned (an owned string is copied into the event's
    /// text buffer).
    pub fn set_cow(&mut self, f: impl FieldKey, v: Cow<'a, str>) -> Result<(), DecodeError> {
        match v {
            Cow::Borrowed(b) => self.set_str_as(f, Text::Borrowed(b)),
            Cow::Owned(o) => self.set_str_as(f, Text::Copied(&o)),
        }
    }

    /// Sets a string field to a copy of `v` (in the event's text buffer): for text that does
    /// not live as long as the event (a decoder's scratch, a sensor's table), without an
    /// intermediate `String`.
    pub fn set_copied(&mut self, f: FieldIndex, v: &str) -> Result<(), DecodeError> {
        self.set_str_as(f, Text::Copied(v))
    }

    /// Sets a string field to `v`'s text (a number's decimal form), written into the event's
    /// text buffer without an intermediate `String`.
    pub fn set_display(&mut self, f: FieldIndex, v: &dyn fmt::Display) -> Result<(), DecodeError> {
        self.set_str_as(f, Text::Display(v))
    }

    fn set_str_as(&mut self, f: impl FieldKey, v: Text<'a, '_>) -> Result<(), DecodeError> {
        let (i, def) = self.field(&f, &[Kind::Str], "a string")?;
        let (v, cut) = self.store(v, def.max_len as usize);
        let ix = self.ev.strs.len() as u32;
        self.ev.strs.push(v);
        if let Some(r) = self.ev.refs.get_mut(i) {
            *r = ix;
        }
        if let Some(fl) = self.ev.flags.get_mut(i) {
            *fl = FLAG_PRESENT;
        }
        self.ev.touched.push(i as u16);
        if cut {
            self.flag_truncated(i);
        }
        Ok(())
    }

    /// Keeps a string within `max` bytes: a borrowed one as a reference, any other copied
    /// into the text buffer. Returns the reference and whether it was cut.
    fn store(&mut self, v: Text<'a, '_>, max: usize) -> (StrRef<'a>, bool) {
        let (r, cut) = self.store_text(v, max);
        self.stored += self.stored_len(&r);
        (r, cut)
    }

    fn store_text(&mut self, v: Text<'a, '_>, max: usize) -> (StrRef<'a>, bool) {
        match v {
            Text::Borrowed(b) => {
                let end = cut_point(b, max);
                (
                    StrRef::Borrowed(b.get(..end).unwrap_or_default()),
                    end < b.len(),
                )
            }
            Text::Copied(c) => {
                let end = cut_point(c, max);
                let start = self.ev.text.len();
                self.ev.text.push_str(c.get(..end).unwrap_or_default());
                (StrRef::Own { start, len: end }, end < c.len())
            }
            Text::Display(d) => {
                let start = self.ev.text.len();
                // Writing into a `String` cannot fail.
                let _ = write!(self.ev.text, "{d}");
                let written = self.ev.text.get(start..).unwrap_or_default();
                let end = cut_point(written, max);
                let cut = end < written.len();
                self.ev.text.truncate(start + end);
                (StrRef::Own { start, len: end }, cut)
            }
        }
    }

    /// Sets an int field.
    pub fn set_int(&mut self, f: impl FieldKey, v: i64) -> Result<(), DecodeError> {
        let (i, _) = self.field(&f, &[Kind::Int], "an int")?;
        self.set_scalar(i, Slot::from_int(v));
        Ok(())
    }

    /// Sets a bool field.
    pub fn set_bool(&mut self, f: impl FieldKey, v: bool) -> Result<(), DecodeError> {
        let (i, _) = self.field(&f, &[Kind::Bool], "a bool")?;
        self.set_scalar(i, Slot::from_bool(v));
        Ok(())
    }

    /// Sets an ip field.
    pub fn set_ip(&mut self, f: impl FieldKey, v: IpAddr) -> Result<(), DecodeError> {
        let (i, _) = self.field(&f, &[Kind::Ip], "an ip")?;
        self.set_scalar(i, Slot::from_ip(v));
        Ok(())
    }

    /// Makes a field absent again (any type; a list loses its items).
    pub fn set_absent(&mut self, f: impl FieldKey) -> Result<(), DecodeError> {
        let all = [
            Kind::Bool,
            Kind::Int,
            Kind::Str,
            Kind::Ip,
            Kind::StrList,
            Kind::IntList,
            Kind::IpList,
        ];
        let (i, _) = self.field(&f, &all, "any type")?;
        self.drop_items_of(i);
        if let Some(s) = self.ev.slots.get_mut(i) {
            *s = Slot::default();
        }
        if let Some(fl) = self.ev.flags.get_mut(i) {
            *fl = 0;
        }
        if let Some(r) = self.ev.refs.get_mut(i) {
            *r = NONE;
        }
        Ok(())
    }

    fn drop_items_of(&mut self, i: usize) {
        let field = i as u16;
        if self.ev.pending.iter().any(|p| p.field == field) {
            self.ev.pending.retain(|p| p.field != field);
        }
    }

    /// Makes a list field present with no items (replacing any items pushed before): a source
    /// that carries an empty list.
    pub fn start_list(&mut self, f: impl FieldKey) -> Result<(), DecodeError> {
        let (i, _) = self.field(&f, &[Kind::StrList, Kind::IntList, Kind::IpList], "a list")?;
        self.drop_items_of(i);
        self.set_scalar(i, Slot::default());
        self.ev.touched.push(i as u16);
        Ok(())
    }

    fn push(&mut self, i: usize, max_items: u32, slot: Slot, str_ix: u32) {
        let Some(s) = self.ev.slots.get_mut(i) else {
            return;
        };
        if let Some(fl) = self.ev.flags.get_mut(i) {
            *fl |= FLAG_PRESENT;
        }
        if s.w1 >= u64::from(max_items) {
            self.ev.dropped_items += 1;
            self.flag_truncated(i);
            return;
        }
        // While building, w1 counts the field's items; finish() writes w0.
        s.w1 += 1;
        self.ev.touched.push(i as u16);
        self.ev.pending.push(Pending {
            field: i as u16,
            slot,
            str_ix,
        });
    }

    /// Appends a borrowed string item to a `[string]` field.
    pub fn push_item(&mut self, f: impl FieldKey, v: &'a str) -> Result<(), DecodeError> {
        self.push_item_cow(f, Cow::Borrowed(v))
    }

    /// Appends a string item, borrowed or owned (then copied into the event's text buffer), to
    /// a `[string]` field.
    pub fn push_item_cow(&mut self, f: impl FieldKey, v: Cow<'a, str>) -> Result<(), DecodeError> {
        match v {
            Cow::Borrowed(b) => self.push_str_as(f, Text::Borrowed(b)),
            Cow::Owned(o) => self.push_str_as(f, Text::Copied(&o)),
        }
    }

    /// Appends a copy of `v` to a `[string]` field (see [`EventBuilder::set_copied`]).
    pub fn push_copied(&mut self, f: FieldIndex, v: &str) -> Result<(), DecodeError> {
        self.push_str_as(f, Text::Copied(v))
    }

    /// Appends `v`'s text to a `[string]` field (see [`EventBuilder::set_display`]).
    pub fn push_display(&mut self, f: FieldIndex, v: &dyn fmt::Display) -> Result<(), DecodeError> {
        self.push_str_as(f, Text::Display(v))
    }

    fn push_str_as(&mut self, f: impl FieldKey, v: Text<'a, '_>) -> Result<(), DecodeError> {
        let (i, def) = self.field(&f, &[Kind::StrList], "a list of strings")?;
        let full = self
            .ev
            .slots
            .get(i)
            .is_some_and(|s| s.w1 >= u64::from(def.max_items));
        if full {
            self.push(i, def.max_items, Slot::default(), NONE);
            return Ok(());
        }
        let (v, cut) = self.store(v, def.max_len as usize);
        self.stored_items += self.stored_len(&v);
        let ix = self.ev.strs.len() as u32;
        self.ev.strs.push(v);
        self.push(i, def.max_items, Slot::default(), ix);
        if cut {
            self.flag_truncated(i);
        }
        Ok(())
    }

    /// Appends an item to an `[int]` field.
    pub fn push_int_item(&mut self, f: impl FieldKey, v: i64) -> Result<(), DecodeError> {
        let (i, def) = self.field(&f, &[Kind::IntList], "a list of ints")?;
        self.push(i, def.max_items, Slot::from_int(v), NONE);
        Ok(())
    }

    /// Appends an item to an `[ip]` field.
    pub fn push_ip_item(&mut self, f: impl FieldKey, v: IpAddr) -> Result<(), DecodeError> {
        let (i, def) = self.field(&f, &[Kind::IpList], "a list of ips")?;
        self.push(i, def.max_items, Slot::from_ip(v), NONE);
        Ok(())
    }

    fn flag_truncated(&mut self, i: usize) {
        if let Some(fl) = self.ev.flags.get_mut(i) {
            *fl |= FLAG_TRUNCATED;
        }
        self.ev.truncated_values += 1;
    }

    /// Flags a present field as truncated (a decoder that replaced invalid UTF-8 in it).
    pub fn mark_truncated(&mut self, f: impl FieldKey) -> Result<(), DecodeError> {
        let all = [
            Kind::Bool,
            Kind::Int,
            Kind::Str,
            Kind::Ip,
            Kind::StrList,
            Kind::IntList,
            Kind::IpList,
        ];
        let (i, _) = self.field(&f, &all, "any type")?;
        self.flag_truncated(i);
        Ok(())
    }

    /// Whether the field has been set (is present) so far.
    pub fn is_set(&self, f: impl FieldKey) -> bool {
        f.resolve(self.event_type).is_some_and(|ix| {
            self.ev
                .flags
                .get(usize::from(ix.0))
                .is_some_and(|fl| fl & FLAG_PRESENT != 0)
        })
    }

    /// Values cut to their bound so far in this event (strings cut, totals enforced at
    /// [`EventBuilder::finish`] not included): a host that must report a cut compares it
    /// before and after a setter.
    pub fn truncated_values(&self) -> u32 {
        self.ev.truncated_values
    }

    /// List items dropped at their list's bound so far in this event.
    pub fn dropped_items(&self) -> u32 {
        self.ev.dropped_items
    }

    /// Sets where the event came from.
    pub fn set_source(&mut self, source: Option<Source>) {
        self.ev.source = source;
    }

    /// The finished event: values cut to the event type's total bounds
    /// ([`crate::schema::FieldDef::max_total_len`], [`EventType::max_event_bytes`]), list
    /// items placed, every slot address written.
    pub fn finish(mut self) -> Event<'a> {
        self.enforce_totals();
        let mut ev = self.ev;
        ev.items.clear();
        ev.item_strs.clear();
        ev.touched.sort_unstable();
        ev.touched.dedup();
        if !ev.pending.is_empty() {
            // Only touched fields can hold items; in field order, as the layout promises.
            for &t in &ev.touched {
                let i = usize::from(t);
                let count = ev.slots.get(i).map_or(0, |s| s.w1);
                if !matches!(ev.kinds.get(i), Some(k) if k.is_list()) || count == 0 {
                    continue;
                }
                let start = ev.items.len() as u32;
                if let Some(r) = ev.refs.get_mut(i) {
                    *r = start;
                }
                for p in ev.pending.iter().filter(|p| usize::from(p.field) == i) {
                    ev.items.push(p.slot);
                    ev.item_strs.push(p.str_ix);
                }
            }
            ev.pending.clear();
        }
        ev.fix_addresses();
        ev
    }
}

impl EventBuilder<'_, '_> {
    /// Cuts string values so that each `[string]` field's items hold at most its
    /// `max_total_len` bytes and all string values of the event at most `max_event_bytes`,
    /// longest values first: every value longer than a level `L` is cut to `L` (at a character
    /// boundary), with `L` the largest level that fits. Each cut value's field is flagged
    /// truncated and counted. The level is found by bisection over the values, so an event
    /// within its bounds costs one pass and no allocation.
    /// This is what makes the verifier's `base + per_byte x n` bounds true on every input
    /// path (decoders and hosts all finish events here).
    fn enforce_totals(&mut self) {
        let et = self.event_type;
        let cap = u64::from(et.max_event_bytes);
        // Most events carry no list items and fewer bytes than the cap: nothing to look at.
        if self.stored_items == 0 && (cap == 0 || self.stored <= cap) {
            return;
        }
        // Lists first, each against its own total.
        for (i, def) in et.fields.iter().enumerate() {
            if self.stored_items == 0 {
                break;
            }
            if def.max_total_len == 0 || self.ev.kinds.get(i) != Some(&Kind::StrList) {
                continue;
            }
            let field = i as u16;
            let total: u64 = self
                .ev
                .pending
                .iter()
                .filter(|p| p.field == field && p.str_ix != NONE)
                .map(|p| self.str_len(p.str_ix) as u64)
                .sum();
            if total > u64::from(def.max_total_len) {
                self.water_fill(u64::from(def.max_total_len), Some(field));
            }
        }
        if cap > 0 && self.stored > cap && self.values_total(None) > cap {
            self.water_fill(cap, None);
        }
    }

    fn stored_len(&self, r: &StrRef<'_>) -> u64 {
        match r {
            StrRef::Borrowed(b) => b.len() as u64,
            StrRef::Own { len, .. } => *len as u64,
        }
    }

    fn str_len(&self, ix: u32) -> usize {
        match self.ev.strs.get(ix as usize) {
            Some(StrRef::Borrowed(b)) => b.len(),
            Some(StrRef::Own { len, .. }) => *len,
            None => 0,
        }
    }

    /// The live string values: `(field, index into strs)` of present string fields (`only`
    /// None) and of pending string items (of field `only`, or all).
    fn for_each_value(&self, only: Option<u16>, mut f: impl FnMut(u16, u32)) {
        if only.is_none() {
            for (i, kind) in self.ev.kinds.iter().enumerate() {
                let present = self
                    .ev
                    .flags
                    .get(i)
                    .is_some_and(|fl| fl & FLAG_PRESENT != 0);
                let r = self.ev.refs.get(i).copied().unwrap_or(NONE);
                if *kind == Kind::Str && present && r != NONE {
                    f(i as u16, r);
                }
            }
        }
        for p in &self.ev.pending {
            if p.str_ix != NONE && only.is_none_or(|o| o == p.field) {
                f(p.field, p.str_ix);
            }
        }
    }

    fn values_total(&self, only: Option<u16>) -> u64 {
        let mut total = 0u64;
        self.for_each_value(only, |_, ix| total += self.str_len(ix) as u64);
        total
    }

    /// Cuts the values (of field `only`, or all) to the largest level whose total fits `cap`.
    fn water_fill(&mut self, cap: u64, only: Option<u16>) {
        let level_total = |b: &Self, level: u64| {
            let mut t = 0u64;
            b.for_each_value(only, |_, ix| t += (b.str_len(ix) as u64).min(level));
            t
        };
        let (mut lo, mut hi) = (0u64, u64::from(u32::MAX));
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if level_total(self, mid) <= cap {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let level = usize::try_from(lo).unwrap_or(usize::MAX);
        // Only events over a bound get here: the list of cut values is allocated then.
        let mut targets: Vec<(u16, u32)> = Vec::new();
        self.for_each_value(only, |field, ix| {
            if self.str_len(ix) > level {
                targets.push((field, ix));
            }
        });
        let text = &self.ev.text;
        for &(_, ix) in &targets {
            match self.ev.strs.get_mut(ix as usize) {
                Some(StrRef::Borrowed(b)) => {
                    let end = cut_point(b, level);
                    *b = b.get(..end).unwrap_or_default();
                }
                Some(StrRef::Own { start, len }) => {
                    let v = text.get(*start..*start + *len).unwrap_or_default();
                    *len = cut_point(v, level);
                }
                None => {}
            }
        }
        targets.sort_unstable();
        targets.dedup_by_key(|t| t.0);
        for (field, _) in targets {
            self.flag_truncated(usize::from(field));
        }
    }
}

/// A string on its way into an event: kept by reference, or copied into its text buffer.
enum Text<'a, 'v> {
    Borrowed(&'a str),
    Copied(&'v str),
    Display(&'v dyn fmt::Display),
}

/// The length of `v` cut at the last whole character within `max` bytes (`v.len()` when it
/// fits).
fn cut_point(v: &str, max: usize) -> usize {
    if v.len() <= max {
        return v.len();
    }
    let mut end = max;
    while end > 0 && !v.is_char_boundary(end) {
        end -= 1;
    }
    end
}
