//! A sequence rule's table: per key, the most recent partial match at each step, with their
//! captured values (semantics in the parent module's docs).
//!
//! Storage is a set of flat arrays indexed by key slot (see `lru.rs`), each slot holding
//! `levels = steps - 1` partial-match *records* of a fixed size:
//!
//! ```text
//!  record (one partial, level k: steps 0..=k matched)
//!    times   [first_time, last_time]        2 x i64
//!    slots   one Slot per capture            C x 16 bytes   (string: w0 = 0 here, w1 = length)
//!    flags   one flag byte per capture       C bytes        (FLAG_PRESENT, FLAG_TRUNCATED)
//!    bytes   each string capture's area      S bytes        (S = sum of the strings' max_bytes)
//!  per slot: a validity byte (bit k: level k is held) + levels records
//! ```
//!
//! In a level-`k` record the captures of steps `<= k` are filled and the others absent. When a
//! condition is evaluated, the record's slots are copied to a scratch array with each present
//! string's `w0` set to the address of its bytes in the table ([`CaptureView`]); those
//! addresses stay valid while the view is borrowed, i.e. until the table's next mutation.

use std::net::IpAddr;

use super::key::KeyHash;
use super::lru::Lru;
use super::{
    admit_event, bump, Clocks, Counters, StateError, TimeConfig, MAX_STEPS, MIN_STEPS, SHARED_CLOCK,
};
use crate::event::{Slot, FLAG_PRESENT, FLAG_TRUNCATED};
use crate::types::{Scalar, Ty};

/// How a captured value is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CaptureKind {
    /// An `int`, `bool` or `ip`: one 16-byte slot.
    Scalar,
    /// A `string`: a slot plus up to `max_bytes` bytes (longer values are cut at a char
    /// boundary and flagged truncated).
    Str {
        /// The most bytes kept: the rule's `capture_len`, or the field's `max_len` if smaller.
        max_bytes: u32,
    },
}

/// One capture of a sequence: the step whose event supplies it and how it is stored. In the
/// order of [`crate::ir::SequenceDef::captures`], so `CaptureId(i)` is index `i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CaptureSpec {
    /// The step whose event supplies the value.
    pub step: u8,
    /// How it is stored.
    pub kind: CaptureKind,
}

impl CaptureSpec {
    /// The spec of a capture of a field of type `ty` whose values are at most `max_len` bytes
    /// (the host schema's bound; ignored for non-strings), in a rule with `capture_len`.
    /// `None` for list types, which captures do not support yet.
    pub fn for_type(step: u8, ty: Ty, max_len: u64, capture_len: u32) -> Option<CaptureSpec> {
        let kind = match ty {
            Ty::Scalar(Scalar::Str) => CaptureKind::Str {
                max_bytes: u32::try_from(max_len).unwrap_or(u32::MAX).min(capture_len),
            },
            Ty::Scalar(Scalar::Bool | Scalar::Int | Scalar::Ip) => CaptureKind::Scalar,
            Ty::Scalar(Scalar::Cidr) | Ty::List(_) => return None,
        };
        Some(CaptureSpec { step, kind })
    }

    fn max_bytes(self) -> usize {
        match self.kind {
            CaptureKind::Scalar => 0,
            CaptureKind::Str { max_bytes } => max_bytes as usize,
        }
    }
}

/// A value to capture from the current event, as the engine reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureValue<'e> {
    /// The event does not carry the field.
    Absent,
    /// A `bool`.
    Bool(bool),
    /// An `int`.
    Int(i64),
    /// An `ip`.
    Ip(IpAddr),
    /// A `string`, and whether the event had already truncated it.
    Str {
        /// The value.
        value: &'e str,
        /// The event's truncated flag for the field.
        truncated: bool,
    },
}

/// Parameters of a [`SequenceState`], from the rule's [`crate::ir::SequenceDef`].
#[derive(Clone, Copy, Debug)]
pub struct SequenceParams<'a> {
    /// Steps (2 to 8).
    pub steps: usize,
    /// The window: last step's time minus the first's is at most this.
    pub within_ns: u64,
    /// Keys kept at most (`StateDecl::capacity`).
    pub capacity: u32,
    /// The captures, in `CaptureId` order.
    pub captures: &'a [CaptureSpec],
    /// Lateness and clock resets.
    pub time: TimeConfig,
}

/// The stored captures of a partial match (or of a completed one, in [`Fired`]), read by the
/// engine as `Captured(i)`.
///
/// `slots()` and `flags()` have one entry per capture, laid out as an event's slots are
/// (`crate::event::slot`): the JIT reads `Captured(i)` at `slots().as_ptr() + 16 * i`. A present
/// string's `w0` is the address of its bytes inside the table, valid while this view is
/// borrowed (the table cannot change meanwhile). Captures of steps not yet matched read as
/// absent. The typed getters are the interpreter's safe path and mirror `Event`'s: an absent
/// capture reads as its type's empty value.
#[derive(Clone, Copy, Debug)]
pub struct CaptureView<'a> {
    slots: &'a [Slot],
    flags: &'a [u8],
    bytes: &'a [u8],
    offsets: &'a [u32],
    specs: &'a [CaptureSpec],
}

impl<'a> CaptureView<'a> {
    /// Number of captures.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the rule has no captures.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// One slot per capture (see the type's docs).
    pub fn slots(&self) -> &'a [Slot] {
        self.slots
    }

    /// One flag byte per capture: `FLAG_PRESENT`, `FLAG_TRUNCATED`.
    pub fn flags(&self) -> &'a [u8] {
        self.flags
    }

    /// Capture `i`'s slot (all zero when out of range).
    pub fn slot(&self, i: usize) -> Slot {
        self.slots.get(i).copied().unwrap_or_default()
    }

    /// Whether capture `i` holds a value.
    pub fn is_present(&self, i: usize) -> bool {
        self.flags.get(i).is_some_and(|f| f & FLAG_PRESENT != 0)
    }

    /// Whether capture `i` was cut to its `max_bytes` (or the event had truncated it).
    pub fn is_truncated(&self, i: usize) -> bool {
        self.flags.get(i).is_some_and(|f| f & FLAG_TRUNCATED != 0)
    }

    /// Capture `i` as an `int` (0 when absent).
    pub fn get_int(&self, i: usize) -> i64 {
        self.slot(i).w0 as i64
    }

    /// Capture `i` as a `bool` (false when absent).
    pub fn get_bool(&self, i: usize) -> bool {
        self.slot(i).w0 != 0
    }

    /// Capture `i` as an `ip` (`0.0.0.0` when absent).
    pub fn get_ip(&self, i: usize) -> IpAddr {
        if self.is_present(i) {
            self.slot(i).to_ip()
        } else {
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
        }
    }

    /// Capture `i` as a `string` (`""` when absent or not a string capture).
    pub fn get_str(&self, i: usize) -> &'a str {
        let (Some(spec), Some(&off)) = (self.specs.get(i), self.offsets.get(i)) else {
            return "";
        };
        if !matches!(spec.kind, CaptureKind::Str { .. }) || !self.is_present(i) {
            return "";
        }
        let start = off as usize;
        let len = usize::try_from(self.slot(i).w1).unwrap_or(usize::MAX);
        start
            .checked_add(len)
            .and_then(|end| self.bytes.get(start..end))
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

/// A completed sequence: the rule fires with the last step's event.
#[derive(Clone, Copy, Debug)]
pub struct Fired<'a> {
    /// The key that matched.
    pub key: KeyHash,
    /// The first step's time.
    pub first_time: i64,
    /// The last step's time (the alert's time).
    pub time: i64,
    /// Every capture of the match (the last step's taken from the current event), for `emit`
    /// and `fields`.
    pub captures: CaptureView<'a>,
}

/// Sizes of one sequence table's parts, shared by the constructor and the bound.
#[derive(Clone, Copy, Debug)]
struct Layout {
    levels: u64,
    captures: u64,
    str_bytes: u64,
}

impl Layout {
    fn of(steps: usize, captures: &[CaptureSpec]) -> Layout {
        Layout {
            levels: (steps as u64).saturating_sub(1),
            captures: captures.len() as u64,
            str_bytes: captures
                .iter()
                .map(|c| c.max_bytes() as u64)
                .fold(0, u64::saturating_add),
        }
    }

    /// Heap bytes of one key slot's payload.
    fn slot_bytes(self) -> u64 {
        let record = (2 * size_of::<i64>() as u64)
            .saturating_add(self.captures.saturating_mul(size_of::<Slot>() as u64 + 1))
            .saturating_add(self.str_bytes);
        1u64.saturating_add(self.levels.saturating_mul(record))
    }

    /// Heap bytes that do not depend on the number of keys (scratch, the fired buffer, specs).
    fn fixed_bytes(self) -> u64 {
        let per_capture = 2 * size_of::<Slot>() as u64 // view scratch, fired slots
            + 2 // fired flags, zero flags
            + size_of::<u32>() as u64 // offsets
            + size_of::<CaptureSpec>() as u64;
        self.captures
            .saturating_mul(per_capture)
            .saturating_add(self.str_bytes)
            .saturating_add(size_of::<SequenceState>() as u64)
    }
}

/// The most bytes a [`SequenceState`] of `steps` steps, `capacity` keys and these captures
/// ever holds (heap and the struct itself):
///
/// ```text
///   size_of::<SequenceState>()
/// + C * (2*16 + 2 + 4 + size_of::<CaptureSpec>()) + S          scratch, fired buffer, layout
/// + capacity * (48 + 1 + (steps-1) * (16 + 17*C + S))          key slots and their records
/// + 4 * next_power_of_two(2 * capacity)                         the key index
/// + capacity * 48 + 4 * next_power_of_two(2 * capacity)         the hosts' clocks
/// ```
///
/// with `C` the number of captures, `S` the sum of the string captures' `max_bytes`, 48 the
/// key slot (128-bit key hash, 128-bit host hash, last-update time, two links; a host's clock
/// takes one such slot). A capacity of 0 counts as 1.
/// Saturates at `u64::MAX`.
#[must_use]
pub fn sequence_state_bound_bytes(steps: usize, capacity: u32, captures: &[CaptureSpec]) -> u64 {
    let l = Layout::of(steps, captures);
    u64::from(capacity.max(1))
        .saturating_mul(l.slot_bytes())
        .saturating_add(l.fixed_bytes())
        .saturating_add(Lru::bound_bytes(capacity))
        .saturating_add(Clocks::bound_bytes(capacity))
}

/// One sequence rule's state (see the module docs of [`crate::state`] for the semantics).
#[derive(Debug)]
pub struct SequenceState {
    lru: Lru,
    clocks: Clocks,
    within: i128,
    steps: usize,
    levels: usize,
    specs: Vec<CaptureSpec>,
    /// Per capture: offset of its bytes inside a record's string area.
    offsets: Vec<u32>,
    str_bytes: usize,
    /// Per slot: bit `k` set when level `k` holds a partial.
    valid: Vec<u8>,
    /// Per record: first and last step times.
    times: Vec<i64>,
    /// Per record: one slot per capture (strings: `w0` 0, `w1` the length).
    slots: Vec<Slot>,
    /// Per record: one flag byte per capture.
    flags: Vec<u8>,
    /// Per record: the string captures' bytes.
    bytes: Vec<u8>,
    /// Scratch: the slots handed to the evaluator.
    view: Vec<Slot>,
    /// All-absent flags, for step 0's view.
    zero_flags: Vec<u8>,
    fired_slots: Vec<Slot>,
    fired_flags: Vec<u8>,
    fired_bytes: Vec<u8>,
    counters: Counters,
}

fn grow_exact<T: Clone>(v: &mut Vec<T>, len: usize, fill: T) {
    if len > v.len() {
        v.reserve_exact(len - v.len());
        v.resize(len, fill);
    }
}

/// Copies capture values into one record (or the fired buffer).
struct RecordMut<'r> {
    slots: &'r mut [Slot],
    flags: &'r mut [u8],
    bytes: &'r mut [u8],
}

impl RecordMut<'_> {
    fn write(&mut self, i: usize, spec: CaptureSpec, off: usize, value: CaptureValue<'_>) {
        let (Some(slot), Some(flag)) = (self.slots.get_mut(i), self.flags.get_mut(i)) else {
            return;
        };
        let (s, f) = match (spec.kind, value) {
            (CaptureKind::Scalar, CaptureValue::Bool(b)) => (Slot::from_bool(b), FLAG_PRESENT),
            (CaptureKind::Scalar, CaptureValue::Int(n)) => (Slot::from_int(n), FLAG_PRESENT),
            (CaptureKind::Scalar, CaptureValue::Ip(ip)) => (Slot::from_ip(ip), FLAG_PRESENT),
            (CaptureKind::Str { max_bytes }, CaptureValue::Str { value, truncated }) => {
                let mut n = value.len().min(max_bytes as usize);
                while !value.is_char_boundary(n) {
                    n -= 1;
                }
                let dst = off
                    .checked_add(n)
                    .and_then(|end| self.bytes.get_mut(off..end));
                match (dst, value.as_bytes().get(..n)) {
                    (Some(dst), Some(src)) => dst.copy_from_slice(src),
                    _ => n = 0,
                }
                let cut = n < value.len() || truncated;
                let f = FLAG_PRESENT | if cut { FLAG_TRUNCATED } else { 0 };
                (
                    Slot {
                        w0: 0,
                        w1: n as u64,
                    },
                    f,
                )
            }
            // Absent, or a value of another type than the capture's (an engine bug): absent.
            _ => (Slot::default(), 0),
        };
        *slot = s;
        *flag = f;
    }
}

impl SequenceState {
    /// An empty table. Allocates only the per-rule scratch; key slots are allocated as keys
    /// arrive, up to `capacity`.
    pub fn new(p: SequenceParams<'_>) -> Result<SequenceState, StateError> {
        if !(MIN_STEPS..=MAX_STEPS).contains(&p.steps) {
            return Err(StateError::Steps(p.steps));
        }
        if p.capacity == 0 {
            return Err(StateError::ZeroCapacity);
        }
        for (i, c) in p.captures.iter().enumerate() {
            if usize::from(c.step) >= p.steps {
                return Err(StateError::CaptureStep {
                    capture: i,
                    step: c.step,
                    steps: p.steps,
                });
            }
        }
        let mut offsets = Vec::with_capacity(p.captures.len());
        let mut str_bytes: u32 = 0;
        for c in p.captures {
            offsets.push(str_bytes);
            let b = u32::try_from(c.max_bytes()).map_err(|_| StateError::TooLarge)?;
            str_bytes = str_bytes.checked_add(b).ok_or(StateError::TooLarge)?;
        }
        let layout = Layout::of(p.steps, p.captures);
        // The whole table must be addressable.
        let total = sequence_state_bound_bytes(p.steps, p.capacity, p.captures);
        if usize::try_from(total).is_err() || total == u64::MAX {
            return Err(StateError::TooLarge);
        }
        let c = p.captures.len();
        let s = str_bytes as usize;
        Ok(SequenceState {
            lru: Lru::new(p.capacity),
            clocks: Clocks::new(p.time, p.within_ns, p.capacity),
            within: i128::from(p.within_ns),
            steps: p.steps,
            levels: layout.levels as usize,
            specs: p.captures.to_vec(),
            offsets,
            str_bytes: s,
            valid: Vec::new(),
            times: Vec::new(),
            slots: Vec::new(),
            flags: Vec::new(),
            bytes: Vec::new(),
            view: vec![Slot::default(); c],
            zero_flags: vec![0; c],
            fired_slots: vec![Slot::default(); c],
            fired_flags: vec![0; c],
            fired_bytes: vec![0; s],
            counters: Counters::default(),
        })
    }

    /// The counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Counts an event that takes no part because its key field is absent.
    pub fn note_absent_key(&mut self) {
        bump(&mut self.counters.absent_key);
    }

    /// Keys held now (never more than [`SequenceState::capacity`]).
    pub fn keys(&self) -> usize {
        self.lru.len()
    }

    /// The most keys held.
    pub fn capacity(&self) -> usize {
        self.lru.capacity()
    }

    /// Steps of the sequence.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Calls `f` with the captures of `key`'s partial match of `steps_done` steps, as the
    /// table hands them to the next step's condition; `None` when the key holds no such
    /// partial. Only the view's scratch is written: the table's state does not change.
    pub fn with_partial<R>(
        &mut self,
        key: KeyHash,
        steps_done: usize,
        f: impl FnOnce(&CaptureView<'_>) -> R,
    ) -> Option<R> {
        let slot = self.lru.get(key)?;
        let level = steps_done.checked_sub(1)?;
        if level >= self.levels || !self.is_valid(slot, level) {
            return None;
        }
        let rec = self.rec(slot, level);
        let view = self.view_of(rec);
        Some(f(&view))
    }

    /// The partial matches `key` holds now (read-only), fewest steps first.
    pub fn partials(&self, key: KeyHash) -> Vec<super::Partial> {
        let Some(slot) = self.lru.get(key) else {
            return Vec::new();
        };
        let within = i64::try_from(self.within).unwrap_or(i64::MAX);
        (0..self.levels)
            .filter(|&level| self.is_valid(slot, level))
            .filter_map(|level| {
                let (first, last) = self.record_times(self.rec(slot, level))?;
                Some(super::Partial {
                    steps_done: level + 1,
                    first_time: first,
                    last_time: last,
                    expires: first.saturating_add(within),
                })
            })
            .collect()
    }

    /// The bytes held now, from the actual capacities of the table's arrays (and the struct
    /// itself); never more than [`sequence_state_bound_bytes`] for the same parameters.
    pub fn measured_bytes(&self) -> u64 {
        let slot = size_of::<Slot>();
        let heap = self.valid.capacity()
            + self.times.capacity() * size_of::<i64>()
            + self.slots.capacity() * slot
            + self.flags.capacity()
            + self.bytes.capacity()
            + self.view.capacity() * slot
            + self.zero_flags.capacity()
            + self.fired_slots.capacity() * slot
            + self.fired_flags.capacity()
            + self.fired_bytes.capacity()
            + self.offsets.capacity() * size_of::<u32>()
            + self.specs.capacity() * size_of::<CaptureSpec>();
        (heap as u64)
            .saturating_add(self.lru.measured_bytes())
            .saturating_add(self.clocks.measured_bytes())
            .saturating_add(size_of::<SequenceState>() as u64)
    }

    /// Drops every key and every host's clock (counters are kept).
    pub fn clear(&mut self) {
        self.lru.clear();
        self.clocks.hosts.clear();
    }

    fn ensure_payload(&mut self) {
        let slots = self.lru.slots();
        if self.valid.len() >= slots {
            return;
        }
        let recs = slots * self.levels;
        let c = self.specs.len();
        grow_exact(&mut self.valid, slots, 0);
        grow_exact(&mut self.times, recs * 2, 0);
        grow_exact(&mut self.slots, recs * c, Slot::default());
        grow_exact(&mut self.flags, recs * c, 0);
        grow_exact(&mut self.bytes, recs * self.str_bytes, 0);
    }

    fn rec(&self, slot: u32, level: usize) -> usize {
        slot as usize * self.levels + level
    }

    fn is_valid(&self, slot: u32, level: usize) -> bool {
        self.valid
            .get(slot as usize)
            .is_some_and(|v| v & (1 << level) != 0)
    }

    fn set_valid(&mut self, slot: u32, level: usize, on: bool) {
        if let Some(v) = self.valid.get_mut(slot as usize) {
            if on {
                *v |= 1 << level;
            } else {
                *v &= !(1 << level);
            }
        }
    }

    fn record_times(&self, rec: usize) -> Option<(i64, i64)> {
        Some((*self.times.get(rec * 2)?, *self.times.get(rec * 2 + 1)?))
    }

    /// Writes the current event's captures of `step` into record `rec` (first making every
    /// capture absent when `clear`).
    fn write_step<'e>(
        &mut self,
        rec: usize,
        step: usize,
        clear: bool,
        capture: &mut impl FnMut(usize) -> CaptureValue<'e>,
    ) {
        let c = self.specs.len();
        let s = self.str_bytes;
        let (Some(slots), Some(flags), Some(bytes)) = (
            self.slots.get_mut(rec * c..(rec + 1) * c),
            self.flags.get_mut(rec * c..(rec + 1) * c),
            self.bytes.get_mut(rec * s..(rec + 1) * s),
        ) else {
            return;
        };
        let mut r = RecordMut {
            slots,
            flags,
            bytes,
        };
        if clear {
            r.slots.fill(Slot::default());
            r.flags.fill(0);
        }
        for (i, spec) in self.specs.iter().enumerate() {
            if usize::from(spec.step) == step {
                let off = self.offsets.get(i).map_or(0, |&o| o as usize);
                r.write(i, *spec, off, capture(i));
            }
        }
    }

    /// The view of record `rec`'s captures (pointers patched into the scratch slots).
    fn view_of(&mut self, rec: usize) -> CaptureView<'_> {
        let c = self.specs.len();
        let s = self.str_bytes;
        let bytes = self.bytes.get(rec * s..(rec + 1) * s).unwrap_or(&[]);
        let slots = self.slots.get(rec * c..(rec + 1) * c).unwrap_or(&[]);
        let flags = self.flags.get(rec * c..(rec + 1) * c).unwrap_or(&[]);
        patch(
            &mut self.view,
            slots,
            flags,
            &self.specs,
            &self.offsets,
            bytes,
        );
        CaptureView {
            slots: &self.view,
            flags: if flags.len() == c {
                flags
            } else {
                &self.zero_flags
            },
            bytes,
            offsets: &self.offsets,
            specs: &self.specs,
        }
    }

    fn empty_view(&mut self) -> CaptureView<'_> {
        self.view.fill(Slot::default());
        CaptureView {
            slots: &self.view,
            flags: &self.zero_flags,
            bytes: &[],
            offsets: &self.offsets,
            specs: &self.specs,
        }
    }

    /// Starts a partial at level 0 in `slot` with the current event as step 0.
    fn start<'e>(
        &mut self,
        slot: u32,
        t: i64,
        capture: &mut impl FnMut(usize) -> CaptureValue<'e>,
    ) {
        let rec = self.rec(slot, 0);
        if let Some(ts) = self.times.get_mut(rec * 2..rec * 2 + 2) {
            ts.copy_from_slice(&[t, t]);
        }
        self.write_step(rec, 0, true, capture);
        self.set_valid(slot, 0, true);
    }

    /// Copies record `src`'s captures (strings by their length) to `dst`.
    fn copy_record(&mut self, src: usize, dst: usize) {
        let c = self.specs.len();
        let s = self.str_bytes;
        if (src.max(dst) + 1) * c > self.slots.len() || (src.max(dst) + 1) * s > self.bytes.len() {
            return;
        }
        self.slots.copy_within(src * c..(src + 1) * c, dst * c);
        self.flags.copy_within(src * c..(src + 1) * c, dst * c);
        for (i, spec) in self.specs.iter().enumerate() {
            if let (CaptureKind::Str { .. }, Some(&off), Some(sl)) =
                (spec.kind, self.offsets.get(i), self.slots.get(dst * c + i))
            {
                let off = off as usize;
                let len = (sl.w1 as usize).min(spec.max_bytes());
                let from = src * s + off;
                self.bytes.copy_within(from..from + len, dst * s + off);
            }
        }
    }

    /// Moves the level `step - 1` partial of `slot` to level `step`, adding the current event.
    fn advance<'e>(
        &mut self,
        slot: u32,
        step: usize,
        t: i64,
        capture: &mut impl FnMut(usize) -> CaptureValue<'e>,
    ) {
        let src = self.rec(slot, step - 1);
        let dst = self.rec(slot, step);
        let first = self.record_times(src).map_or(t, |(f, _)| f);
        if let Some(ts) = self.times.get_mut(dst * 2..dst * 2 + 2) {
            ts.copy_from_slice(&[first, t]);
        }
        self.copy_record(src, dst);
        self.write_step(dst, step, false, capture);
        self.set_valid(slot, step - 1, false);
        self.set_valid(slot, step, true);
    }

    /// Fills the fired buffer from the level `steps - 2` record of `slot` plus the current
    /// event's captures of the last step.
    fn fill_fired<'e>(&mut self, rec: usize, capture: &mut impl FnMut(usize) -> CaptureValue<'e>) {
        let c = self.specs.len();
        let s = self.str_bytes;
        let last = self.steps - 1;
        if let (Some(sl), Some(fl)) = (
            self.slots.get(rec * c..(rec + 1) * c),
            self.flags.get(rec * c..(rec + 1) * c),
        ) {
            self.fired_slots.copy_from_slice(sl);
            self.fired_flags.copy_from_slice(fl);
        }
        for (i, spec) in self.specs.iter().enumerate() {
            if let (CaptureKind::Str { .. }, Some(&off), Some(sl)) =
                (spec.kind, self.offsets.get(i), self.fired_slots.get(i))
            {
                let off = off as usize;
                let len = (sl.w1 as usize).min(spec.max_bytes());
                let from = rec * s + off;
                if let (Some(src), Some(dst)) = (
                    self.bytes.get(from..from + len),
                    self.fired_bytes.get_mut(off..off + len),
                ) {
                    dst.copy_from_slice(src);
                }
            }
        }
        let mut r = RecordMut {
            slots: &mut self.fired_slots,
            flags: &mut self.fired_flags,
            bytes: &mut self.fired_bytes,
        };
        for (i, spec) in self.specs.iter().enumerate() {
            if usize::from(spec.step) == last {
                let off = self.offsets.get(i).map_or(0, |&o| o as usize);
                r.write(i, *spec, off, capture(i));
            }
        }
        let base = self.fired_bytes.as_ptr() as u64;
        for (i, sl) in self.fired_slots.iter_mut().enumerate() {
            let is_str = matches!(
                self.specs.get(i).map(|s| s.kind),
                Some(CaptureKind::Str { .. })
            );
            if is_str
                && self
                    .fired_flags
                    .get(i)
                    .is_some_and(|f| f & FLAG_PRESENT != 0)
            {
                sl.w0 = base + u64::from(self.offsets.get(i).copied().unwrap_or(0));
            }
        }
    }

    /// [`SequenceState::on_host_event`] for an event judged by the clock all host-less events
    /// share ([`SHARED_CLOCK`]).
    pub fn on_event<'e, E>(
        &mut self,
        key: KeyHash,
        time: Option<i64>,
        steps: &[usize],
        eval: impl FnMut(usize, &CaptureView<'_>) -> Result<bool, E>,
        capture: impl FnMut(usize) -> CaptureValue<'e>,
    ) -> Result<Option<Fired<'_>>, E> {
        self.on_host_event(SHARED_CLOCK, key, time, steps, eval, capture)
    }

    /// Hands one event to the table.
    ///
    /// - `host`: the [`super::host_hash`] of the event's `host` (whose clock judges its time);
    ///   the key must be of that host;
    /// - `key`: the event's key hash (the caller skips events whose key field is absent, and
    ///   calls [`SequenceState::note_absent_key`]);
    /// - `time`: the event's time, `None` when it has none;
    /// - `steps`: the steps whose event type is this event's type (any order; out-of-range
    ///   entries are ignored);
    /// - `eval(step, captures)`: evaluates `step`'s condition on the current event, with the
    ///   captures of the partial match it would extend (all absent for step 0). Called at most
    ///   once per step, last step first, and only for steps that could advance (step 0 always;
    ///   step `k` only when the key holds a level `k-1` partial inside the window);
    /// - `capture(i)`: capture `i`'s value on the current event; called only for the captures
    ///   of a step that matched.
    ///
    /// Returns the completed match when the last step matched (borrowing the table until the
    /// next call), or the first error `eval` returned (later steps are then not tried).
    pub fn on_host_event<'e, E>(
        &mut self,
        host: KeyHash,
        key: KeyHash,
        time: Option<i64>,
        steps: &[usize],
        mut eval: impl FnMut(usize, &CaptureView<'_>) -> Result<bool, E>,
        mut capture: impl FnMut(usize) -> CaptureValue<'e>,
    ) -> Result<Option<Fired<'_>>, E> {
        bump(&mut self.counters.events);
        let Some(t) = time else {
            bump(&mut self.counters.missing_time);
            return Ok(None);
        };
        let (lru, clocks, counters) = (&mut self.lru, &mut self.clocks, &mut self.counters);
        if !admit_event(lru, clocks, counters, host, key, t, false) {
            return Ok(None);
        }
        let mut mask: u16 = 0;
        for &s in steps {
            if s < self.steps {
                mask |= 1 << s;
            }
        }
        let mut slot = self.lru.get(key);
        for step in (0..self.steps).rev() {
            if mask & (1 << step) == 0 {
                continue;
            }
            if step == 0 {
                if !eval(0, &self.empty_view())? {
                    continue;
                }
                let sl = match slot {
                    Some(sl) => sl,
                    None => {
                        let ins = self.lru.insert(key, host, t);
                        if ins.evicted {
                            bump(&mut self.counters.evicted);
                        }
                        self.ensure_payload();
                        if let Some(v) = self.valid.get_mut(ins.slot as usize) {
                            *v = 0;
                        }
                        slot = Some(ins.slot);
                        ins.slot
                    }
                };
                self.start(sl, t, &mut capture);
                self.lru.touch(sl, t);
                continue;
            }
            let Some(sl) = slot else { continue };
            if !self.is_valid(sl, step - 1) {
                continue;
            }
            let rec = self.rec(sl, step - 1);
            let Some((first, last)) = self.record_times(rec) else {
                continue;
            };
            let tt = i128::from(t);
            if tt < i128::from(last) || tt - i128::from(first) > self.within {
                continue;
            }
            if !eval(step, &self.view_of(rec))? {
                continue;
            }
            if step == self.steps - 1 {
                self.fill_fired(rec, &mut capture);
                self.lru.remove(sl);
                bump(&mut self.counters.fired);
                return Ok(Some(Fired {
                    key,
                    first_time: first,
                    time: t,
                    captures: CaptureView {
                        slots: &self.fired_slots,
                        flags: &self.fired_flags,
                        bytes: &self.fired_bytes,
                        offsets: &self.offsets,
                        specs: &self.specs,
                    },
                }));
            }
            self.advance(sl, step, t, &mut capture);
            self.lru.touch(sl, t);
        }
        Ok(None)
    }
}

/// Copies `slots` into `view`, pointing each present string at its bytes in `bytes`.
fn patch(
    view: &mut [Slot],
    slots: &[Slot],
    flags: &[u8],
    specs: &[CaptureSpec],
    offsets: &[u32],
    bytes: &[u8],
) {
    let base = bytes.as_ptr() as u64;
    for (i, v) in view.iter_mut().enumerate() {
        let mut s = slots.get(i).copied().unwrap_or_default();
        let present = flags.get(i).is_some_and(|f| f & FLAG_PRESENT != 0);
        if present && matches!(specs.get(i).map(|c| c.kind), Some(CaptureKind::Str { .. })) {
            s.w0 = base + u64::from(offsets.get(i).copied().unwrap_or(0));
        }
        *v = s;
    }
}
