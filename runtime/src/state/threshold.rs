//! A threshold rule's table, for every kind of threshold: per key, the times of the last events
//! counted (`count`), the distinct values seen with their last sighting (`distinct(F)`), or
//! the times and values of `F` of the last events counted (`sum(F)`, `avg(F)`); semantics in
//! the parent module's docs ("Thresholds", "Sums and averages").
//!
//! Each key slot owns `M` entries in flat arrays (`M` = the threshold `N` for `count` and
//! `distinct`, the rule's meta `entries` for `sum` and `avg`: `StateDecl::per_key`):
//!
//! ```text
//!  per slot   len: u32, head: u32
//!             times   M x i64   count, sum, avg: a ring sorted by time (then arrival),
//!                               oldest at head; distinct: unordered, paired with values
//!             values  M x u64   distinct only: the value hashes
//!             amounts M x i64   sum and avg only: each entry's value of F
//! ```
//!
//! `count` finds the window's edges by binary search in the sorted ring and drops dead entries
//! from its old end: O(log N) per event with in-order events (an out-of-order event shifts the
//! entries newer than it). `sum` and `avg` do the same, then add the amounts inside the window:
//! O(M). `distinct` scans its `N` entries: O(N) per event. Both as the verifier's cost model
//! charges (`per_key` steps). Sums are `i128`: `M` values of 64 bits cannot overflow them, so
//! the comparison is exact (no saturation, no wrapping); the average is compared without
//! dividing (`sum >= N * count`).

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

/// Which aggregate a `sum`/`avg` threshold compares with `N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AmountKind {
    /// `sum(F) >= N`.
    Sum,
    /// `avg(F) >= N`: the values' mean, exactly (`sum >= N * count`).
    Avg,
}

/// Parameters of a `sum(F)` or `avg(F)` threshold's [`ThresholdState`]
/// ([`ThresholdState::amounts`]), from the rule's [`crate::ir::ThresholdDef`].
#[derive(Clone, Copy, Debug)]
pub struct AmountParams {
    /// Sum or average.
    pub kind: AmountKind,
    /// `N`: the rule fires when the aggregate in the window reaches it.
    pub threshold: u64,
    /// `D`: the window at an event of time `t` is `(t - D, t]`.
    pub within_ns: u64,
    /// Keys kept at most (`StateDecl::capacity`).
    pub capacity: u32,
    /// Events kept per key at most (`StateDecl::per_key`); when full, the oldest is dropped.
    pub per_key: u32,
    /// Lateness and clock resets.
    pub time: TimeConfig,
}

/// A threshold reached: the rule fires with the current event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThresholdFired {
    /// The key that reached it.
    pub key: KeyHash,
    /// The count in the window, this event included (equals `N` for `count` and `distinct`).
    pub count: u32,
    /// The sum of the values of `F` in the window, this event's included (`sum` and `avg`;
    /// 0 otherwise).
    pub sum: i128,
    /// The oldest time counted in the window.
    pub first_time: i64,
}

/// What one counted event brings to the table.
#[derive(Clone, Copy)]
enum Entry {
    /// Its time (`count`).
    Time,
    /// Its time and value hash (`distinct`).
    Value(ValueHash),
    /// Its time and value of `F` (`sum`, `avg`).
    Amount(i64),
}

/// The most bytes a [`ThresholdState`] of `capacity` keys and `per_key` entries per key ever
/// holds (heap and the struct itself); `paired`: each entry holds a value beside its time
/// (`distinct`, `sum`, `avg`):
///
/// ```text
///   size_of::<ThresholdState>()
/// + capacity * (48 + 8 + per_key * (8 [+ 8 if paired]))
/// + 4 * next_power_of_two(2 * capacity)
/// + capacity * 48 + 4 * next_power_of_two(2 * capacity)     the hosts' clocks
/// ```
///
/// 48 is the key slot (128-bit key hash, 128-bit host hash, last-update time, two links; a
/// host's clock takes one such slot), 8 the entry count and ring head. A capacity of 0 counts as 1. Saturates at `u64::MAX`.
#[must_use]
pub fn threshold_state_bound_bytes(capacity: u32, per_key: u32, paired: bool) -> u64 {
    let entry = if paired { 16 } else { 8 };
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
    /// Entries per slot (`M`).
    n: usize,
    distinct: bool,
    /// `sum(F)` / `avg(F)`: the aggregate and `N`; `None` for `count` and `distinct(F)`,
    /// which fire at `n` entries.
    amount: Option<(AmountKind, i128)>,
    /// Per slot: entries held.
    len: Vec<u32>,
    /// Per slot: the ring's oldest entry (count).
    head: Vec<u32>,
    /// Per slot: `n` times.
    times: Vec<i64>,
    /// Per slot: `n` value hashes (distinct only).
    values: Vec<u64>,
    /// Per slot: `n` values of `F`, paired with `times` (sum and avg only).
    amounts: Vec<i64>,
    counters: Counters,
}

fn grow_exact<T: Clone>(v: &mut Vec<T>, len: usize, fill: T) {
    if len > v.len() {
        v.reserve_exact(len - v.len());
        v.resize(len, fill);
    }
}

impl ThresholdState {
    /// An empty `count` or `distinct(F)` table; key slots are allocated as keys arrive, up to
    /// `capacity`.
    pub fn new(p: ThresholdParams) -> Result<ThresholdState, StateError> {
        if p.count == 0 {
            return Err(StateError::ZeroThreshold);
        }
        ThresholdState::table(p.capacity, p.count, p.within_ns, p.time, p.distinct, None)
    }

    /// An empty `sum(F)` or `avg(F)` table: per key a ring of the last `per_key` (time, value)
    /// entries.
    pub fn amounts(p: AmountParams) -> Result<ThresholdState, StateError> {
        let amount = Some((p.kind, i128::from(p.threshold)));
        ThresholdState::table(p.capacity, p.per_key, p.within_ns, p.time, false, amount)
    }

    fn table(
        capacity: u32,
        per_key: u32,
        within_ns: u64,
        time: TimeConfig,
        distinct: bool,
        amount: Option<(AmountKind, i128)>,
    ) -> Result<ThresholdState, StateError> {
        if capacity == 0 || per_key == 0 {
            return Err(StateError::ZeroCapacity);
        }
        let paired = distinct || amount.is_some();
        let total = threshold_state_bound_bytes(capacity, per_key, paired);
        if usize::try_from(total).is_err() || total == u64::MAX {
            return Err(StateError::TooLarge);
        }
        Ok(ThresholdState {
            lru: Lru::new(capacity),
            clocks: Clocks::new(time, within_ns, capacity),
            within: i128::from(within_ns),
            n: per_key as usize,
            distinct,
            amount,
            len: Vec::new(),
            head: Vec::new(),
            times: Vec::new(),
            values: Vec::new(),
            amounts: Vec::new(),
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

    /// What `key` holds in the window `(t - D, t]` (read-only; `distinct`: the values last
    /// seen in it). A key not held counts nothing.
    pub fn window(&self, key: KeyHash, t: i64) -> super::ThresholdWindow {
        let mut w = super::ThresholdWindow {
            counted: 0,
            sum: 0,
            oldest: None,
            held: 0,
        };
        let Some(slot) = self.lru.get(key) else {
            return w;
        };
        let lo = i128::from(t) - self.within;
        let base = slot as usize * self.n;
        let (head, len) = if self.distinct {
            (
                0,
                self.len
                    .get(slot as usize)
                    .map_or(0, |&l| l as usize)
                    .min(self.n),
            )
        } else {
            self.ring_state(slot)
        };
        w.held = len;
        for i in 0..len {
            let at = base + (head + i) % self.n.max(1);
            let ti = self.times.get(at).copied().unwrap_or(i64::MIN);
            if i128::from(ti) > lo && ti <= t {
                w.counted += 1;
                w.oldest = Some(w.oldest.map_or(ti, |o| o.min(ti)));
                if self.amount.is_some() {
                    w.sum += i128::from(self.amounts.get(at).copied().unwrap_or(0));
                }
            }
        }
        w
    }

    /// The bytes held now, from the actual capacities of the table's arrays (and the struct
    /// itself); never more than [`threshold_state_bound_bytes`] for the same parameters.
    pub fn measured_bytes(&self) -> u64 {
        let heap = self.len.capacity() * size_of::<u32>()
            + self.head.capacity() * size_of::<u32>()
            + self.times.capacity() * size_of::<i64>()
            + self.values.capacity() * size_of::<u64>()
            + self.amounts.capacity() * size_of::<i64>();
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
        if self.amount.is_some() {
            grow_exact(&mut self.amounts, slots * self.n, 0);
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
    /// of that host). `time` is the event's time (`None` when it has none); `value` the hash of
    /// the counted field for `distinct(F)` (`None` when absent; ignored for `count`). A `sum`
    /// or `avg` table takes its events through [`ThresholdState::on_host_amount`].
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
        let entry = match (self.distinct, value) {
            (false, _) => Some(Entry::Time),
            (true, v) => v.map(Entry::Value),
        };
        self.take(host, key, time, entry)
    }

    /// [`ThresholdState::on_host_amount`] for an event judged by the clock all host-less
    /// events share ([`SHARED_CLOCK`]).
    pub fn on_amount(
        &mut self,
        key: KeyHash,
        time: Option<i64>,
        amount: Option<i64>,
    ) -> Option<ThresholdFired> {
        self.on_host_amount(SHARED_CLOCK, key, time, amount)
    }

    /// Hands one counted event to a `sum(F)` or `avg(F)` table, as
    /// [`ThresholdState::on_host_event`] does; `amount` is the event's value of `F` (`None`
    /// when absent: counted in `absent_value` and ignored).
    ///
    /// Returns `Some` when the aggregate of the key's values in the window (this event's
    /// included) reaches `N`: the rule fires, and the key starts afresh.
    pub fn on_host_amount(
        &mut self,
        host: KeyHash,
        key: KeyHash,
        time: Option<i64>,
        amount: Option<i64>,
    ) -> Option<ThresholdFired> {
        self.take(host, key, time, amount.map(Entry::Amount))
    }

    /// One event: `entry` is `None` when the value the table counts is absent.
    fn take(
        &mut self,
        host: KeyHash,
        key: KeyHash,
        time: Option<i64>,
        entry: Option<Entry>,
    ) -> Option<ThresholdFired> {
        bump(&mut self.counters.events);
        let Some(entry) = entry else {
            bump(&mut self.counters.absent_value);
            return None;
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
        let (count, first, sum) = match (slot, entry) {
            (Some(s), Entry::Value(v)) => {
                let (count, first) = self.distinct_window(s, t, v, dead);
                (count, first, 0)
            }
            (Some(s), _) => self.count_window(s, t, dead),
            (None, _) => (0, t, 0),
        };
        let count = count.saturating_add(1);
        let amount = match entry {
            Entry::Amount(a) => a,
            Entry::Time | Entry::Value(_) => 0,
        };
        let sum = sum + i128::from(amount);
        let reached = match self.amount {
            None => count >= self.n,
            Some((AmountKind::Sum, n)) => sum >= n,
            // count <= u32::MAX and N < 2^64: the product fits in i128.
            Some((AmountKind::Avg, n)) => sum >= n * count as i128,
        };
        if reached {
            if let Some(s) = slot {
                self.lru.remove(s);
            }
            bump(&mut self.counters.fired);
            return Some(ThresholdFired {
                key,
                count: u32::try_from(count).unwrap_or(u32::MAX),
                sum,
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
        match entry {
            Entry::Value(v) => self.distinct_add(s, t, v),
            Entry::Time | Entry::Amount(_) => self.count_add(s, t, amount),
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

    /// Drops the key's entries at or before `dead`; returns the count inside `(t - D, t]`, the
    /// oldest time in it, and the sum of its amounts (`sum`, `avg`; 0 otherwise).
    fn count_window(&mut self, slot: u32, t: i64, dead: i128) -> (usize, i64, i128) {
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
        let mut sum = 0i128;
        if self.amount.is_some() {
            let base = slot as usize * self.n;
            for i in lo..hi {
                let at = base + (head + i) % self.n;
                sum += i128::from(self.amounts.get(at).copied().unwrap_or(0));
            }
        }
        (hi.saturating_sub(lo), first, sum)
    }

    /// Inserts `t` (with `amount` beside it in a `sum`/`avg` table) after every entry at or
    /// before it (arrival order for equal times); when the ring is full its oldest entry is
    /// dropped.
    fn count_add(&mut self, slot: u32, t: i64, amount: i64) {
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
        let summing = self.amount.is_some();
        while i > pos {
            let (from, to) = (base + (head + i - 1) % n, base + (head + i) % n);
            let v = self.ring_time(slot, head, i - 1);
            if let Some(x) = self.times.get_mut(to) {
                *x = v;
            }
            if summing {
                let a = self.amounts.get(from).copied().unwrap_or(0);
                if let Some(x) = self.amounts.get_mut(to) {
                    *x = a;
                }
            }
            i -= 1;
        }
        if let Some(x) = self.times.get_mut(base + (head + pos) % n) {
            *x = t;
        }
        if let Some(x) = self.amounts.get_mut(base + (head + pos) % n) {
            *x = amount;
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

#[cfg(test)]
mod amount_tests {
    use super::*;
    use crate::state::key_hash;

    const S: i64 = 1_000_000_000;

    fn table(kind: AmountKind, threshold: u64, per_key: u32) -> ThresholdState {
        ThresholdState::amounts(AmountParams {
            kind,
            threshold,
            within_ns: 10 * S as u64,
            capacity: 4,
            per_key,
            time: TimeConfig::default(),
        })
        .expect("table")
    }

    #[test]
    fn sum_fires_on_the_event_that_reaches_n_and_starts_afresh() {
        let k = key_hash("h", &[]);
        let mut t = table(AmountKind::Sum, 100, 8);
        assert_eq!(t.on_amount(k, Some(0), Some(40)), None);
        assert_eq!(t.on_amount(k, Some(S), Some(50)), None);
        let f = t.on_amount(k, Some(2 * S), Some(10)).expect("fires");
        assert_eq!((f.count, f.sum, f.first_time), (3, 100, 0));
        assert_eq!(t.entries(k), 0);
        assert_eq!(t.on_amount(k, Some(3 * S), Some(99)), None);
    }

    #[test]
    fn values_expire_on_their_own() {
        let k = key_hash("h", &[]);
        let mut t = table(AmountKind::Sum, 100, 8);
        assert_eq!(t.on_amount(k, Some(0), Some(60)), None);
        assert_eq!(t.on_amount(k, Some(5 * S), Some(30)), None);
        // At 10 s the first value (at exactly t - D) is out: 30 + 30 < 100.
        assert_eq!(t.on_amount(k, Some(10 * S), Some(30)), None);
        assert_eq!(t.entries(k), 2);
        let f = t.on_amount(k, Some(11 * S), Some(40)).expect("fires");
        assert_eq!((f.count, f.sum), (3, 100));
    }

    #[test]
    fn avg_is_exact_and_negative_values_count() {
        let k = key_hash("h", &[]);
        let mut t = table(AmountKind::Avg, 10, 8);
        assert_eq!(t.on_amount(k, Some(0), Some(9)), None);
        // (9 + 10) / 2 = 9.5 < 10.
        assert_eq!(t.on_amount(k, Some(S), Some(10)), None);
        // (9 + 10 + 11) / 3 = 10.
        let f = t.on_amount(k, Some(2 * S), Some(11)).expect("fires");
        assert_eq!((f.count, f.sum), (3, 30));
        let mut t = table(AmountKind::Sum, 5, 8);
        assert_eq!(t.on_amount(k, Some(0), Some(i64::MIN)), None);
        assert_eq!(t.on_amount(k, Some(S), Some(i64::MAX)), None);
        assert!(t.on_amount(k, Some(2 * S), Some(6)).is_some());
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let k = key_hash("h", &[]);
        let mut t = table(AmountKind::Avg, u64::MAX, 4);
        for i in 0..3 {
            assert_eq!(t.on_amount(k, Some(i * S), Some(i64::MAX)), None);
        }
        let mut t = table(AmountKind::Sum, u64::MAX, 4);
        assert_eq!(t.on_amount(k, Some(0), Some(i64::MAX)), None);
        assert_eq!(t.on_amount(k, Some(S), Some(i64::MAX)), None);
        // 3 * (2^63 - 1) >= 2^64 - 1.
        assert!(t.on_amount(k, Some(2 * S), Some(i64::MAX)).is_some());
    }

    #[test]
    fn a_full_key_drops_its_oldest_value_and_stays_bounded() {
        let k = key_hash("h", &[]);
        let mut t = table(AmountKind::Sum, 1_000, 3);
        for i in 0..10 {
            assert_eq!(t.on_amount(k, Some(i), Some(100)), None);
            assert!(t.entries(k) <= 3);
        }
        assert!(t.measured_bytes() <= threshold_state_bound_bytes(4, 3, true));
        // An absent value and a missing time touch nothing.
        assert_eq!(t.on_amount(k, Some(20), None), None);
        assert_eq!(t.on_amount(k, None, Some(5)), None);
        assert_eq!(t.counters().absent_value, 1);
        assert_eq!(t.counters().missing_time, 1);
    }

    #[test]
    fn out_of_order_values_keep_the_ring_sorted() {
        let k = key_hash("h", &[]);
        let mut t = ThresholdState::amounts(AmountParams {
            kind: AmountKind::Sum,
            threshold: 100,
            within_ns: 10 * S as u64,
            capacity: 4,
            per_key: 8,
            time: TimeConfig {
                lateness_ns: 5 * S as u64,
                ..TimeConfig::default()
            },
        })
        .expect("table");
        assert_eq!(t.on_amount(k, Some(4 * S), Some(50)), None);
        // Earlier than the stored entry: the stored one is outside this event's window.
        assert_eq!(t.on_amount(k, Some(2 * S), Some(45)), None);
        // At 12 s, the entry at 2 s is out and the one at 4 s in: 50 + 45 = 95 < 100 would
        // be wrong; 50 + 49 = 99 is right.
        assert_eq!(t.on_amount(k, Some(12 * S), Some(49)), None);
        assert!(t.on_amount(k, Some(12 * S), Some(1)).is_some());
    }
}
