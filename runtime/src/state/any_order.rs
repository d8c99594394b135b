//! A `sequence any order` rule's table: per key, the time each step last matched; semantics in
//! the parent module's docs ("Sequences in any order").
//!
//! Each key slot owns one entry per step in flat arrays:
//!
//! ```text
//!  per slot   mask: u8          bit i: step i has matched and is still in the window
//!             times  n x i64    step i's latest match
//! ```
//!
//! An event costs O(n) (n <= 8 steps): its matched steps are recorded, steps older than the
//! window before the newest are dropped, and the rule fires when every step is held.

use super::key::KeyHash;
use super::lru::Lru;
use super::{
    admit_event, bump, Clocks, Counters, StateError, TimeConfig, MAX_STEPS, MIN_STEPS, SHARED_CLOCK,
};

/// Parameters of an [`AnyOrderState`], from the rule's [`crate::ir::SequenceDef`].
#[derive(Clone, Copy, Debug)]
pub struct AnyOrderParams {
    /// The number of steps (2 to 8).
    pub steps: usize,
    /// `D`: every step's match must lie within `D` of every other's (`max - min <= D`).
    pub within_ns: u64,
    /// Keys kept at most (`StateDecl::capacity`).
    pub capacity: u32,
    /// Lateness and clock resets.
    pub time: TimeConfig,
}

/// Every step matched inside the window: the rule fires with the current event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnyOrderFired {
    /// The key whose steps all matched.
    pub key: KeyHash,
    /// The earliest of the steps' times.
    pub first_time: i64,
}

/// The most bytes an [`AnyOrderState`] of `capacity` keys and `steps` steps ever holds (heap
/// and the struct itself): `size_of::<AnyOrderState>() + capacity * (1 + 8 * steps)` plus the
/// key table's and the hosts' clocks' bounds. A capacity of 0 counts as 1. Saturates.
#[must_use]
pub fn any_order_state_bound_bytes(steps: usize, capacity: u32) -> u64 {
    let slot = 1u64.saturating_add((steps as u64).saturating_mul(8));
    u64::from(capacity.max(1))
        .saturating_mul(slot)
        .saturating_add(Lru::bound_bytes(capacity))
        .saturating_add(Clocks::bound_bytes(capacity))
        .saturating_add(size_of::<AnyOrderState>() as u64)
}

/// One `sequence any order` rule's state.
#[derive(Debug)]
pub struct AnyOrderState {
    lru: Lru,
    clocks: Clocks,
    n: usize,
    within: i128,
    /// Per slot: the steps held.
    mask: Vec<u8>,
    /// Per slot: `n` times.
    times: Vec<i64>,
    counters: Counters,
}

impl AnyOrderState {
    /// An empty table; key slots are allocated as keys arrive, up to `capacity`.
    pub fn new(p: AnyOrderParams) -> Result<AnyOrderState, StateError> {
        if !(MIN_STEPS..=MAX_STEPS).contains(&p.steps) {
            return Err(StateError::Steps(p.steps));
        }
        if p.capacity == 0 {
            return Err(StateError::ZeroCapacity);
        }
        let total = any_order_state_bound_bytes(p.steps, p.capacity);
        if usize::try_from(total).is_err() || total == u64::MAX {
            return Err(StateError::TooLarge);
        }
        Ok(AnyOrderState {
            lru: Lru::new(p.capacity),
            clocks: Clocks::new(p.time, p.within_ns, p.capacity),
            n: p.steps,
            within: i128::from(p.within_ns),
            mask: Vec::new(),
            times: Vec::new(),
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

    /// Keys held now.
    pub fn keys(&self) -> usize {
        self.lru.len()
    }

    /// The most keys held.
    pub fn capacity(&self) -> usize {
        self.lru.capacity()
    }

    /// The steps the key holds now (bit i: step i); 0 for a key not held.
    pub fn held(&self, key: KeyHash) -> u8 {
        self.lru
            .get(key)
            .and_then(|s| self.mask.get(s as usize))
            .copied()
            .unwrap_or(0)
    }

    /// The bytes held now, from the actual capacities (never more than
    /// [`any_order_state_bound_bytes`]).
    pub fn measured_bytes(&self) -> u64 {
        let heap = self.mask.capacity() + self.times.capacity() * size_of::<i64>();
        (heap as u64)
            .saturating_add(self.lru.measured_bytes())
            .saturating_add(self.clocks.measured_bytes())
            .saturating_add(size_of::<AnyOrderState>() as u64)
    }

    /// Drops every key and every host's clock (counters are kept).
    pub fn clear(&mut self) {
        self.lru.clear();
        self.clocks.hosts.clear();
    }

    /// [`AnyOrderState::on_host_event`] with the clock all host-less events share.
    pub fn on_event(
        &mut self,
        key: KeyHash,
        time: Option<i64>,
        matched: u8,
    ) -> Option<AnyOrderFired> {
        self.on_host_event(SHARED_CLOCK, key, time, matched)
    }

    /// Hands one event of the rule's steps' types to the table: `matched` has bit i set when
    /// the event satisfies step i (its type and condition; 0 when it satisfies none: the
    /// event still advances its host's clock). Returns `Some` when, with this event, every
    /// step of the key has matched within the window: the rule fires and the key starts
    /// afresh.
    pub fn on_host_event(
        &mut self,
        host: KeyHash,
        key: KeyHash,
        time: Option<i64>,
        matched: u8,
    ) -> Option<AnyOrderFired> {
        bump(&mut self.counters.events);
        let Some(t) = time else {
            bump(&mut self.counters.missing_time);
            return None;
        };
        let (lru, clocks, counters) = (&mut self.lru, &mut self.clocks, &mut self.counters);
        if !admit_event(lru, clocks, counters, host, key, t, false) {
            return None;
        }
        let all: u8 = if self.n >= 8 {
            u8::MAX
        } else {
            (1u8 << self.n) - 1
        };
        let matched = matched & all;
        if matched == 0 {
            return None;
        }
        let n = self.n;
        let (mut mask, mut times) = (0u8, [0i64; MAX_STEPS]);
        let slot = self.lru.get(key);
        if let Some(s) = slot {
            mask = self.mask.get(s as usize).copied().unwrap_or(0) & all;
            for (i, x) in times.iter_mut().enumerate().take(n) {
                *x = self.times.get(s as usize * n + i).copied().unwrap_or(0);
            }
        }
        for (i, x) in times.iter_mut().enumerate().take(n) {
            if matched & (1 << i) != 0 {
                *x = if mask & (1 << i) != 0 { (*x).max(t) } else { t };
                mask |= 1 << i;
            }
        }
        // Steps that can no longer share a window with the newest are dropped.
        let newest = (0..n)
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| times[i])
            .max()
            .unwrap_or(t);
        for (i, x) in times.iter().enumerate().take(n) {
            if mask & (1 << i) != 0 && i128::from(newest) - i128::from(*x) > self.within {
                mask &= !(1 << i);
            }
        }
        if mask == all {
            if let Some(s) = slot {
                self.lru.remove(s);
            }
            bump(&mut self.counters.fired);
            let first = times.iter().take(n).copied().min().unwrap_or(t);
            return Some(AnyOrderFired {
                key,
                first_time: first,
            });
        }
        let s = match slot {
            Some(s) => s,
            None => {
                let ins = self.lru.insert(key, host, newest);
                if ins.evicted {
                    bump(&mut self.counters.evicted);
                }
                let slots = self.lru.slots();
                if self.mask.len() < slots {
                    self.mask.reserve_exact(slots - self.mask.len());
                    self.mask.resize(slots, 0);
                    self.times.reserve_exact(slots * n - self.times.len());
                    self.times.resize(slots * n, 0);
                }
                ins.slot
            }
        };
        if let Some(m) = self.mask.get_mut(s as usize) {
            *m = mask;
        }
        for (i, x) in times.iter().enumerate().take(n) {
            if let Some(y) = self.times.get_mut(s as usize * n + i) {
                *y = *x;
            }
        }
        self.lru.touch(s, newest);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::key_hash;

    const S: i64 = 1_000_000_000;

    fn table(steps: usize) -> AnyOrderState {
        AnyOrderState::new(AnyOrderParams {
            steps,
            within_ns: 10 * S as u64,
            capacity: 4,
            time: TimeConfig::default(),
        })
        .expect("table")
    }

    #[test]
    fn fires_in_either_order_and_starts_afresh() {
        let k = key_hash("h", &[]);
        let mut t = table(2);
        assert_eq!(t.on_event(k, Some(0), 0b10), None);
        let f = t.on_event(k, Some(S), 0b01).expect("fires");
        assert_eq!(f.first_time, 0);
        assert_eq!(t.held(k), 0);
        assert_eq!(t.on_event(k, Some(2 * S), 0b01), None);
        assert!(t.on_event(k, Some(3 * S), 0b10).is_some());
    }

    #[test]
    fn a_step_outside_the_window_is_dropped_and_repeats_refresh() {
        let k = key_hash("h", &[]);
        let mut t = table(3);
        assert_eq!(t.on_event(k, Some(0), 0b001), None);
        assert_eq!(t.on_event(k, Some(5 * S), 0b010), None);
        // Exactly D apart still matches; 0 and 11 s do not: step 0 is dropped.
        assert_eq!(t.on_event(k, Some(11 * S), 0b100), None);
        assert_eq!(t.held(k), 0b110);
        assert!(t.on_event(k, Some(12 * S), 0b001).is_some());
        // One event may satisfy several steps.
        assert!(t.on_event(k, Some(20 * S), 0b111).is_some());
    }

    #[test]
    fn bounded_and_counted() {
        let mut t = table(8);
        for i in 0..100i64 {
            let k = key_hash("h", &[crate::state::KeyPart::Int(i)]);
            assert_eq!(t.on_event(k, Some(i), 1 << (i % 7)), None);
            assert!(t.keys() <= 4);
        }
        assert!(t.measured_bytes() <= any_order_state_bound_bytes(8, 4));
        assert_eq!(t.on_event(key_hash("h", &[]), None, 1), None);
        assert_eq!(t.counters().missing_time, 1);
        assert!(AnyOrderState::new(AnyOrderParams {
            steps: 1,
            within_ns: 1,
            capacity: 1,
            time: TimeConfig::default(),
        })
        .is_err());
    }
}
