//! A `sum(F)` / `avg(F)` threshold's table: per key, the times and values of the last events
//! counted, sorted by time; semantics in the parent module's docs ("Sums and averages").
//!
//! Each key slot owns `M` entries in flat arrays (`M` = `StateDecl::per_key`, the rule's meta
//! `entries`):
//!
//! ```text
//!  per slot   len: u32, head: u32
//!             times   M x i64   a ring sorted by time (then arrival), oldest at head
//!             amounts M x i64   each entry's value of F
//! ```
//!
//! An event drops the key's dead entries from the ring's old end, then sums the entries inside
//! its window: O(M) per event, as the verifier's cost model charges (`per_key` steps). Sums are
//! `i128`: `M` values of 64 bits cannot overflow them, so the comparison is exact (no
//! saturation, no wrapping); the average is compared without dividing (`sum >= N * count`).

use super::key::KeyHash;
use super::lru::Lru;
use super::{admit_event, bump, Clocks, Counters, StateError, TimeConfig, SHARED_CLOCK};

/// Which aggregate the table compares with `N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AmountKind {
    /// `sum(F) >= N`.
    Sum,
    /// `avg(F) >= N`: the values' mean, exactly (`sum >= N * count`).
    Avg,
}

/// Parameters of an [`AmountState`], from the rule's [`crate::ir::ThresholdDef`].
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

/// An aggregate reached: the rule fires with the current event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AmountFired {
    /// The key that reached it.
    pub key: KeyHash,
    /// The events in the window, this one included.
    pub count: u32,
    /// Their sum.
    pub sum: i128,
    /// The oldest time counted in the window.
    pub first_time: i64,
}

/// Bytes of one entry: a time and a value.
const ENTRY_BYTES: u64 = 16;

/// The most bytes an [`AmountState`] of `capacity` keys and `per_key` entries per key ever
/// holds (heap and the struct itself):
///
/// ```text
///   size_of::<AmountState>()
/// + capacity * (8 + per_key * 16)
/// + the key table's and the hosts' clocks' bounds (as for count thresholds)
/// ```
///
/// A capacity of 0 counts as 1. Saturates at `u64::MAX`.
#[must_use]
pub fn amount_state_bound_bytes(capacity: u32, per_key: u32) -> u64 {
    let slot = 8u64.saturating_add(u64::from(per_key).saturating_mul(ENTRY_BYTES));
    u64::from(capacity.max(1))
        .saturating_mul(slot)
        .saturating_add(Lru::bound_bytes(capacity))
        .saturating_add(Clocks::bound_bytes(capacity))
        .saturating_add(size_of::<AmountState>() as u64)
}

/// One `sum`/`avg` threshold rule's state.
#[derive(Debug)]
pub struct AmountState {
    lru: Lru,
    clocks: Clocks,
    kind: AmountKind,
    threshold: i128,
    within: i128,
    m: usize,
    /// Per slot: entries held.
    len: Vec<u32>,
    /// Per slot: the ring's oldest entry.
    head: Vec<u32>,
    /// Per slot: `m` times.
    times: Vec<i64>,
    /// Per slot: `m` values, paired with `times`.
    amounts: Vec<i64>,
    counters: Counters,
}

fn grow_exact<T: Clone>(v: &mut Vec<T>, len: usize, fill: T) {
    if len > v.len() {
        v.reserve_exact(len - v.len());
        v.resize(len, fill);
    }
}

impl AmountState {
    /// An empty table; key slots are allocated as keys arrive, up to `capacity`.
    pub fn new(p: AmountParams) -> Result<AmountState, StateError> {
        if p.capacity == 0 || p.per_key == 0 {
            return Err(StateError::ZeroCapacity);
        }
        let total = amount_state_bound_bytes(p.capacity, p.per_key);
        if usize::try_from(total).is_err() || total == u64::MAX {
            return Err(StateError::TooLarge);
        }
        Ok(AmountState {
            lru: Lru::new(p.capacity),
            clocks: Clocks::new(p.time, p.within_ns, p.capacity),
            kind: p.kind,
            threshold: i128::from(p.threshold),
            within: i128::from(p.within_ns),
            m: p.per_key as usize,
            len: Vec::new(),
            head: Vec::new(),
            times: Vec::new(),
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

    /// Keys held now (never more than [`AmountState::capacity`]).
    pub fn keys(&self) -> usize {
        self.lru.len()
    }

    /// The most keys held.
    pub fn capacity(&self) -> usize {
        self.lru.capacity()
    }

    /// Entries the key holds now; 0 for a key not held.
    pub fn entries(&self, key: KeyHash) -> usize {
        self.lru
            .get(key)
            .and_then(|s| self.len.get(s as usize))
            .map_or(0, |&l| l as usize)
    }

    /// The bytes held now, from the actual capacities of the table's arrays (and the struct
    /// itself); never more than [`amount_state_bound_bytes`] for the same parameters.
    pub fn measured_bytes(&self) -> u64 {
        let heap = self.len.capacity() * size_of::<u32>()
            + self.head.capacity() * size_of::<u32>()
            + self.times.capacity() * size_of::<i64>()
            + self.amounts.capacity() * size_of::<i64>();
        (heap as u64)
            .saturating_add(self.lru.measured_bytes())
            .saturating_add(self.clocks.measured_bytes())
            .saturating_add(size_of::<AmountState>() as u64)
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
        grow_exact(&mut self.times, slots * self.m, 0);
        grow_exact(&mut self.amounts, slots * self.m, 0);
    }

    /// Entries of `host`'s keys at or before this time can be in no future window.
    fn dead_cutoff(&self, host: KeyHash, t: i64) -> i128 {
        self.clocks
            .floor(host)
            .unwrap_or_else(|| i128::from(t) - self.clocks.lateness)
            - self.within
    }

    /// [`AmountState::on_host_event`] for an event judged by the clock all host-less events
    /// share ([`SHARED_CLOCK`]).
    pub fn on_event(
        &mut self,
        key: KeyHash,
        time: Option<i64>,
        amount: Option<i64>,
    ) -> Option<AmountFired> {
        self.on_host_event(SHARED_CLOCK, key, time, amount)
    }

    /// Hands one counted event to the table, as [`super::ThresholdState::on_host_event`] does;
    /// `amount` is the event's value of `F` (`None` when absent: counted in `absent_value`
    /// and ignored).
    ///
    /// Returns `Some` when the aggregate of the key's values in the window (this event's
    /// included) reaches `N`: the rule fires, and the key starts afresh.
    pub fn on_host_event(
        &mut self,
        host: KeyHash,
        key: KeyHash,
        time: Option<i64>,
        amount: Option<i64>,
    ) -> Option<AmountFired> {
        bump(&mut self.counters.events);
        let Some(amount) = amount else {
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
        let (count, sum, first) = match slot {
            Some(s) => self.window(s, t, dead),
            None => (0, 0, t),
        };
        let count = count.saturating_add(1);
        let sum = sum + i128::from(amount);
        let reached = match self.kind {
            AmountKind::Sum => sum >= self.threshold,
            // count <= u32::MAX and N < 2^64: the product fits in i128.
            AmountKind::Avg => sum >= self.threshold * count as i128,
        };
        if reached {
            if let Some(s) = slot {
                self.lru.remove(s);
            }
            bump(&mut self.counters.fired);
            return Some(AmountFired {
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
        self.add(s, t, amount);
        self.lru.touch(s, t);
        None
    }

    fn ring_state(&self, slot: u32) -> (usize, usize) {
        let s = slot as usize;
        let len = self.len.get(s).map_or(0, |&l| l as usize).min(self.m);
        let head = self.head.get(s).map_or(0, |&h| h as usize) % self.m.max(1);
        (head, len)
    }

    fn set_ring(&mut self, slot: u32, head: usize, len: usize) {
        let s = slot as usize;
        if let (Some(h), Some(l)) = (self.head.get_mut(s), self.len.get_mut(s)) {
            *h = u32::try_from(head).unwrap_or(0);
            *l = u32::try_from(len).unwrap_or(0);
        }
    }

    /// The array index of the ring's logical entry `i`.
    fn at(&self, slot: u32, head: usize, i: usize) -> usize {
        slot as usize * self.m + (head + i) % self.m
    }

    fn entry(&self, slot: u32, head: usize, i: usize) -> (i64, i64) {
        let at = self.at(slot, head, i);
        (
            self.times.get(at).copied().unwrap_or(i64::MIN),
            self.amounts.get(at).copied().unwrap_or(0),
        )
    }

    /// Drops the key's entries at or before `dead`; returns the count and sum of the entries
    /// inside `(t - D, t]`, and the oldest time among them.
    fn window(&mut self, slot: u32, t: i64, dead: i128) -> (usize, i128, i64) {
        let (mut head, mut len) = self.ring_state(slot);
        while len > 0 && i128::from(self.entry(slot, head, 0).0) <= dead {
            head = (head + 1) % self.m;
            len -= 1;
        }
        self.set_ring(slot, head, len);
        let lo = i128::from(t) - self.within;
        let (mut count, mut sum, mut first) = (0usize, 0i128, t);
        for i in 0..len {
            let (ti, vi) = self.entry(slot, head, i);
            if i128::from(ti) > lo && ti <= t {
                count += 1;
                sum += i128::from(vi);
                first = first.min(ti);
            }
        }
        (count, sum, first)
    }

    /// Inserts `(t, amount)` after every entry at or before `t` (arrival order for equal
    /// times); when the ring is full its oldest entry is dropped.
    fn add(&mut self, slot: u32, t: i64, amount: i64) {
        let m = self.m;
        let (mut head, mut len) = self.ring_state(slot);
        if len == m {
            head = (head + 1) % m;
            len -= 1;
        }
        // Shift the entries newer than `t` one place towards the tail.
        let mut pos = len;
        while pos > 0 && self.entry(slot, head, pos - 1).0 > t {
            let moved = self.entry(slot, head, pos - 1);
            let to = self.at(slot, head, pos);
            if let (Some(x), Some(y)) = (self.times.get_mut(to), self.amounts.get_mut(to)) {
                (*x, *y) = moved;
            }
            pos -= 1;
        }
        let to = self.at(slot, head, pos);
        if let (Some(x), Some(y)) = (self.times.get_mut(to), self.amounts.get_mut(to)) {
            (*x, *y) = (t, amount);
        }
        self.set_ring(slot, head, len + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::key_hash;

    const S: i64 = 1_000_000_000;

    fn table(kind: AmountKind, threshold: u64, per_key: u32) -> AmountState {
        AmountState::new(AmountParams {
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
        assert_eq!(t.on_event(k, Some(0), Some(40)), None);
        assert_eq!(t.on_event(k, Some(S), Some(50)), None);
        let f = t.on_event(k, Some(2 * S), Some(10)).expect("fires");
        assert_eq!((f.count, f.sum, f.first_time), (3, 100, 0));
        assert_eq!(t.entries(k), 0);
        assert_eq!(t.on_event(k, Some(3 * S), Some(99)), None);
    }

    #[test]
    fn values_expire_on_their_own() {
        let k = key_hash("h", &[]);
        let mut t = table(AmountKind::Sum, 100, 8);
        assert_eq!(t.on_event(k, Some(0), Some(60)), None);
        assert_eq!(t.on_event(k, Some(5 * S), Some(30)), None);
        // At 10 s the first value (at exactly t - D) is out: 30 + 30 < 100.
        assert_eq!(t.on_event(k, Some(10 * S), Some(30)), None);
        assert_eq!(t.entries(k), 2);
        let f = t.on_event(k, Some(11 * S), Some(40)).expect("fires");
        assert_eq!((f.count, f.sum), (3, 100));
    }

    #[test]
    fn avg_is_exact_and_negative_values_count() {
        let k = key_hash("h", &[]);
        let mut t = table(AmountKind::Avg, 10, 8);
        assert_eq!(t.on_event(k, Some(0), Some(9)), None);
        // (9 + 10) / 2 = 9.5 < 10.
        assert_eq!(t.on_event(k, Some(S), Some(10)), None);
        // (9 + 10 + 11) / 3 = 10.
        let f = t.on_event(k, Some(2 * S), Some(11)).expect("fires");
        assert_eq!((f.count, f.sum), (3, 30));
        let mut t = table(AmountKind::Sum, 5, 8);
        assert_eq!(t.on_event(k, Some(0), Some(i64::MIN)), None);
        assert_eq!(t.on_event(k, Some(S), Some(i64::MAX)), None);
        assert!(t.on_event(k, Some(2 * S), Some(6)).is_some());
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let k = key_hash("h", &[]);
        let mut t = table(AmountKind::Avg, u64::MAX, 4);
        for i in 0..3 {
            assert_eq!(t.on_event(k, Some(i * S), Some(i64::MAX)), None);
        }
        let mut t = table(AmountKind::Sum, u64::MAX, 4);
        assert_eq!(t.on_event(k, Some(0), Some(i64::MAX)), None);
        assert_eq!(t.on_event(k, Some(S), Some(i64::MAX)), None);
        // 3 * (2^63 - 1) >= 2^64 - 1.
        assert!(t.on_event(k, Some(2 * S), Some(i64::MAX)).is_some());
    }

    #[test]
    fn a_full_key_drops_its_oldest_value_and_stays_bounded() {
        let k = key_hash("h", &[]);
        let mut t = table(AmountKind::Sum, 1_000, 3);
        for i in 0..10 {
            assert_eq!(t.on_event(k, Some(i), Some(100)), None);
            assert!(t.entries(k) <= 3);
        }
        assert!(t.measured_bytes() <= amount_state_bound_bytes(4, 3));
        // An absent value and a missing time touch nothing.
        assert_eq!(t.on_event(k, Some(20), None), None);
        assert_eq!(t.on_event(k, None, Some(5)), None);
        assert_eq!(t.counters().absent_value, 1);
        assert_eq!(t.counters().missing_time, 1);
    }

    #[test]
    fn out_of_order_values_keep_the_ring_sorted() {
        let k = key_hash("h", &[]);
        let mut t = AmountState::new(AmountParams {
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
        assert_eq!(t.on_event(k, Some(4 * S), Some(50)), None);
        // Earlier than the stored entry: the stored one is outside this event's window.
        assert_eq!(t.on_event(k, Some(2 * S), Some(45)), None);
        // At 12 s, the entry at 2 s is out and the one at 4 s in: 50 + 45 = 95 < 100 would
        // be wrong; 50 + 49 = 99 is right.
        assert_eq!(t.on_event(k, Some(12 * S), Some(49)), None);
        assert!(t.on_event(k, Some(12 * S), Some(1)).is_some());
    }
}
