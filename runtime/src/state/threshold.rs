//! A threshold rule's table: per key, the times of the last events counted (`count`), or the
//! distinct values seen with their last sighting (`distinct(F)`); semantics in the parent
//! module's docs.
//!
//! Each key slot owns `N` entries in flat arrays (`N` = the threshold):
//!
//! ```text
//!  per slot   len: u32, head: u32
//!             times  N x i64    count: a ring sorted by time (then arrival), oldest at head
//!                               distinct: unordered, paired with values
//!             values N x u64    distinct only: the value hashes
//! ```
//!
//! `count` finds the window's edges by binary search in the sorted ring and drops dead entries
//! from its old end: O(log N) per event with in-order events (an out-of-order event shifts the
//! entries newer than it). `distinct` scans its `N` entries: O(N) per event, as the verifier's
//! cost model charges (`per_key` steps).

use super::key::{KeyHash, ValueHash};
use super::lru::Lru;
use super::{admit_event, bump, Clocks, Counters, StateError, TimeConfig, SHARED_CLOCK};

/// Parameters of a [`ThresholdState`], from the rule's [`crate::ir::ThresholdDef`].
#[derive(Clone, Copy, Debug)]
pub struct ThresholdParams {
    /// `N`: the rule fires when the count in the window reaches it (also the entries kept per
    /// key, `StateDecl::per_key`).
    pub count: u32,
    /// `D`: the window at an event of time `t` is `(t - D, t]`.
    pub within_ns: u64,
    /// Keys kept at most (`StateDecl::capacity`).
    pub capacity: u32,
    /// `distinct(F)` rather than `count`.
    pub distinct: bool,
    /// Lateness and clock resets.
    pub time: TimeConfig,
}

/// A threshold reached: the rule fires with the current event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThresholdFired {
    /// The key that reached it.
    pub key: KeyHash,
    /// The count in the window, this event included (equals `N`).
    pub count: u32,
    /// The oldest time counted in the window.
    pub first_time: i64,
}

/// The most bytes a [`ThresholdState`] of `capacity` keys and `per_key` (= N) entries per key
/// ever holds (heap and the struct itself):
///
/// ```text
///   size_of::<ThresholdState>()
/// + capacity * (48 + 8 + per_key * (8 [+ 8 if distinct]))
/// + 4 * next_power_of_two(2 * capacity)
/// + capacity * 48 + 4 * next_power_of_two(2 * capacity)     the hosts' clocks
/// ```
///
/// 48 is the key slot (128-bit key hash, 128-bit host hash, last-update time, two links; a
/// host's clock takes one such slot), 8 the entry count and ring head. A capacity of 0 counts as 1. Saturates at `u64::MAX`.
#[must_use]
pub fn threshold_state_bound_bytes(capacity: u32, per_key: u32, distinct: bool) -> u64 {
    let entry = if distinct { 16 } else { 8 };
    let slot = 8u64.saturating_add(u64::from(per_key).saturating_mul(entry));
    u64::from(capacity.max(1))
        .saturating_mul(slot)
        .saturating_add(Lru::bound_bytes(capacity))
        .saturating_add(Clocks::bound_bytes(capacity))
        .saturating_add(size_of::<ThresholdState>() as u64)
}

/// One threshold rule's state (see the module docs of [`crate::state`] for the semantics).
#[derive(Debug)]
pub struct ThresholdState {
    lru: Lru,
    clocks: Clocks,
    within: i128,
    n: usize,
    distinct: bool,
    /// Per slot: entries held.
    len: Vec<u32>,
    /// Per slot: the ring's oldest entry (count).
    head: Vec<u32>,
    /// Per slot: `n` times.
    times: Vec<i64>,
    /// Per slot: `n` value hashes (distinct only).
    values: Vec<u64>,
    counters: Counters,
}

fn grow_exact<T: Clone>(v: &mut Vec<T>, len: usize, fill: T) {
    if len > v.len() {
        v.reserve_exact(len - v.len());
        v.resize(len, fill);
    }
}

impl ThresholdState {
    /// An empty table; key slots are allocated as keys arrive, up to `capacity`.
    pub fn new(p: ThresholdParams) -> Result<ThresholdState, StateError> {
        if p.count == 0 {
            return Err(StateError::ZeroThreshold);
        }
        if p.capacity == 0 {
            return Err(StateError::ZeroCapacity);
        }
        let total = threshold_state_bound_bytes(p.capacity, p.count, p.distinct);
        if usize::try_from(total).is_err() || total == u64::MAX {
            return Err(StateError::TooLarge);
        }
        Ok(ThresholdState {
            lru: Lru::new(p.capacity),
            clocks: Clocks::new(p.time, p.within_ns, p.capacity),
            within: i128::from(p.within_ns),
            n: p.count as usize,
            distinct: p.distinct,
            len: Vec::new(),
            head: Vec::new(),
            times: Vec::new(),
            values: Vec::new(),
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

    /// Keys held now (never more than [`ThresholdState::capacity`]).
    pub fn keys(&self) -> usize {
        self.lru.len()
    }

    /// The most keys held.
    pub fn capacity(&self) -> usize {
        self.lru.capacity()
    }

    /// Entries (times, or distinct values) the key holds now; 0 for a key not held.
    pub fn entries(&self, key: KeyHash) -> usize {
        self.lru
            .get(key)
            .and_then(|s| self.len.get(s as usize))
            .map_or(0, |&l| l as usize)
    }

    /// The bytes held now, from the actual capacities of the table's arrays (and the struct
    /// itself); never more than [`threshold_state_bound_bytes`] for the same parameters.
    pub fn measured_bytes(&self) -> u64 {
        let heap = self.len.capacity() * size_of::<u32>()
            + self.head.capacity() * size_of::<u32>()
            + self.times.capacity() * size_of::<i64>()
            + self.values.capacity() * size_of::<u64>();
        (heap as u64)
            .saturating_add(self.lru.measured_bytes())
            .saturating_add(self.clocks.measured_bytes())
            .saturating_add(size_of::<ThresholdState>() as u64)
    }

    /// Drops every key and every host's clock (counters are kept).
    pub fn clear(&mut self) {
        self.lru.clear();
        self.clocks.hosts.clear();
    }

    fn ensure_payload(&mut self) {
        let slots = self.lru.slots();
        if self.len.len() >= slots {
            return;
        }
        grow_exact(&mut self.len, slots, 0);
        grow_exact(&mut self.head, slots, 0);
        grow_exact(&mut self.times, slots * self.n, 0);
        if self.distinct {
            grow_exact(&mut self.values, slots * self.n, 0);
        }
    }

    /// Entries of `host`'s keys at or before this time can be in no future window.
    fn dead_cutoff(&self, host: KeyHash, t: i64) -> i128 {
        self.clocks
            .floor(host)
            .unwrap_or_else(|| i128::from(t) - self.clocks.lateness)
            - self.within
    }

    /// [`ThresholdState::on_host_event`] for an event judged by the clock all host-less events
    /// share ([`SHARED_CLOCK`]).
    pub fn on_event(
        &mut self,
        key: KeyHash,
        time: Option<i64>,
        value: Option<ValueHash>,
    ) -> Option<ThresholdFired> {
        self.on_host_event(SHARED_CLOCK, key, time, value)
    }

    /// Hands one counted event to the table: the caller has checked the rule's event type and
    /// condition, and computed `key` (skipping, and reporting with
    /// [`ThresholdState::note_absent_key`], events whose key field is absent); `host` is the
    /// [`super::host_hash`] of the event's `host`, whose clock judges its time (the key must be
    /// of that host). `time` is the event's time (`None` when it has none); `value` the hash of the counted field for
    /// `distinct(F)` (`None` when absent; ignored for `count`).
    ///
    /// Returns `Some` when the key's count in the window reaches `N` with this event: the rule
    /// fires, and the key starts afresh.
    pub fn on_host_event(
        &mut self,
        host: KeyHash,
        key: KeyHash,
        time: Option<i64>,
        value: Option<ValueHash>,
    ) -> Option<ThresholdFired> {
        bump(&mut self.counters.events);
        let value = if self.distinct {
            match value {
                Some(v) => v,
                None => {
                    bump(&mut self.counters.absent_value);
                    return None;
                }
            }
        } else {
            ValueHash(0)
        };
        let Some(t) = time else {
            bump(&mut self.counters.missing_time);
            return None;
        };
        let (lru, clocks, counters) = (&mut self.lru, &mut self.clocks, &mut self.counters);
        if !admit_event(lru, clocks, counters, host, key, t, true) {
            return None;
        }
        let slot = self.lru.get(key);
        let dead = self.dead_cutoff(host, t);
        let (count, first) = match slot {
            Some(s) if self.distinct => self.distinct_window(s, t, value, dead),
            Some(s) => self.count_window(s, t, dead),
            None => (0, t),
        };
        let count = count.saturating_add(1);
        if count >= self.n {
            if let Some(s) = slot {
                self.lru.remove(s);
            }
            bump(&mut self.counters.fired);
            return Some(ThresholdFired {
                key,
                count: u32::try_from(count).unwrap_or(u32::MAX),
                first_time: first.min(t),
            });
        }
        let s = match slot {
            Some(s) => s,
            None => {
                let ins = self.lru.insert(key, host, t);
                if ins.evicted {
                    bump(&mut self.counters.evicted);
                }
                self.ensure_payload();
                if let Some(l) = self.len.get_mut(ins.slot as usize) {
                    *l = 0;
                }
                if let Some(h) = self.head.get_mut(ins.slot as usize) {
                    *h = 0;
                }
                ins.slot
            }
        };
        if self.distinct {
            self.distinct_add(s, t, value);
        } else {
            self.count_add(s, t);
        }
        self.lru.touch(s, t);
        None
    }

    // ---- count: a sorted ring per slot ----

    fn ring_time(&self, slot: u32, head: usize, i: usize) -> i64 {
        let base = slot as usize * self.n;
        self.times
            .get(base + (head + i) % self.n)
            .copied()
            .unwrap_or(i64::MIN)
    }

    /// Logical index of the first entry with time `> x` (entries are sorted).
    fn ring_upper(&self, slot: u32, head: usize, len: usize, x: i128) -> usize {
        let (mut lo, mut hi) = (0, len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if i128::from(self.ring_time(slot, head, mid)) <= x {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    fn ring_state(&self, slot: u32) -> (usize, usize) {
        let s = slot as usize;
        let len = self.len.get(s).map_or(0, |&l| l as usize).min(self.n);
        let head = self.head.get(s).map_or(0, |&h| h as usize) % self.n.max(1);
        (head, len)
    }

    fn set_ring(&mut self, slot: u32, head: usize, len: usize) {
        let s = slot as usize;
        if let (Some(h), Some(l)) = (self.head.get_mut(s), self.len.get_mut(s)) {
            *h = u32::try_from(head).unwrap_or(0);
            *l = u32::try_from(len).unwrap_or(0);
        }
    }

    /// Drops the key's entries at or before `dead`; returns the count inside `(t - D, t]` and the oldest time
    /// in it.
    fn count_window(&mut self, slot: u32, t: i64, dead: i128) -> (usize, i64) {
        let (mut head, mut len) = self.ring_state(slot);
        let drop = self.ring_upper(slot, head, len, dead);
        head = (head + drop) % self.n;
        len -= drop;
        self.set_ring(slot, head, len);
        let lo = self.ring_upper(slot, head, len, i128::from(t) - self.within);
        let hi = self.ring_upper(slot, head, len, i128::from(t));
        let first = if lo < hi {
            self.ring_time(slot, head, lo)
        } else {
            t
        };
        (hi.saturating_sub(lo), first)
    }

    /// Inserts `t` after every entry at or before it (arrival order for equal times); when the
    /// ring is full its oldest entry is dropped.
    fn count_add(&mut self, slot: u32, t: i64) {
        let n = self.n;
        let (mut head, mut len) = self.ring_state(slot);
        let mut pos = self.ring_upper(slot, head, len, i128::from(t));
        if len == n {
            head = (head + 1) % n;
            len -= 1;
            pos = pos.saturating_sub(1);
        }
        let base = slot as usize * n;
        // Shift the entries newer than `t` one place towards the tail.
        let mut i = len;
        while i > pos {
            let v = self.ring_time(slot, head, i - 1);
            if let Some(x) = self.times.get_mut(base + (head + i) % n) {
                *x = v;
            }
            i -= 1;
        }
        if let Some(x) = self.times.get_mut(base + (head + pos) % n) {
            *x = t;
        }
        self.set_ring(slot, head, len + 1);
    }

    // ---- distinct: unordered (value, last seen) pairs per slot ----

    /// Drops the key's values seen at or before `dead`; returns the number of values other than `v` last seen
    /// inside `(t - D, t]`, and the oldest such sighting.
    fn distinct_window(&mut self, slot: u32, t: i64, v: ValueHash, dead: i128) -> (usize, i64) {
        let n = self.n;
        let base = slot as usize * n;
        let mut len = self
            .len
            .get(slot as usize)
            .map_or(0, |&l| l as usize)
            .min(n);
        let mut i = 0;
        while i < len {
            let ti = self.times.get(base + i).copied().unwrap_or(i64::MIN);
            if i128::from(ti) <= dead {
                // swap_remove within the slot's entries
                let last_t = self.times.get(base + len - 1).copied().unwrap_or(i64::MIN);
                let last_v = self.values.get(base + len - 1).copied().unwrap_or(0);
                if let (Some(x), Some(y)) =
                    (self.times.get_mut(base + i), self.values.get_mut(base + i))
                {
                    *x = last_t;
                    *y = last_v;
                }
                len -= 1;
            } else {
                i += 1;
            }
        }
        if let Some(l) = self.len.get_mut(slot as usize) {
            *l = u32::try_from(len).unwrap_or(0);
        }
        let lo = i128::from(t) - self.within;
        let mut count = 0;
        let mut first = t;
        for i in 0..len {
            let ti = self.times.get(base + i).copied().unwrap_or(i64::MIN);
            let vi = self.values.get(base + i).copied().unwrap_or(0);
            if vi != v.0 && i128::from(ti) > lo && ti <= t {
                count += 1;
                first = first.min(ti);
            }
        }
        (count, first)
    }

    /// Records a sighting of `v` at `t`: refreshes it if held, else adds it (replacing the
    /// oldest sighting when the key's `N` entries are full).
    fn distinct_add(&mut self, slot: u32, t: i64, v: ValueHash) {
        let n = self.n;
        let base = slot as usize * n;
        let len = self
            .len
            .get(slot as usize)
            .map_or(0, |&l| l as usize)
            .min(n);
        let mut oldest = 0;
        for i in 0..len {
            if self.values.get(base + i) == Some(&v.0) {
                if let Some(x) = self.times.get_mut(base + i) {
                    *x = (*x).max(t);
                }
                return;
            }
            let ti = self.times.get(base + i).copied().unwrap_or(i64::MIN);
            if ti < self.times.get(base + oldest).copied().unwrap_or(i64::MIN) {
                oldest = i;
            }
        }
        let (at, new_len) = if len < n {
            (len, len + 1)
        } else {
            (oldest, len)
        };
        if let (Some(x), Some(y)) = (
            self.times.get_mut(base + at),
            self.values.get_mut(base + at),
        ) {
            *x = t;
            *y = v.0;
        }
        if let Some(l) = self.len.get_mut(slot as usize) {
            *l = u32::try_from(new_len).unwrap_or(0);
        }
    }
}
