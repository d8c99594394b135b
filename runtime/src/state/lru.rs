//! The key table both state kinds share: a slab of key slots, an intrusive least-recently-
//! updated list through them, and an open-addressing index from [`KeyHash`] to slot.
//!
//! Every operation is O(1) (amortised for growth; the index probes are expected O(1)). The
//! table never holds more than `capacity` keys: inserting into a full table first evicts the
//! key updated least recently (the list's tail).
//!
//! Memory grows lazily and stops at a fixed ceiling: the slab's `Vec` is grown with
//! `reserve_exact` to `min(capacity, max(16, 2 * slots))` slots, and the index to
//! `next_power_of_two(2 * slots)` buckets, so at most `capacity` slots and
//! `next_power_of_two(2 * capacity)` buckets are ever allocated ([`Lru::bound_bytes`]). The
//! index is our own (linear probing, backward-shift deletion, no tombstones) rather than a
//! `HashMap`, whose growth under delete/insert churn depends on its internals: at load <= 1/2 a
//! probe always meets an empty bucket, and its size is exactly what the bound says.
//!
//! Bucket positions come from a per-table [`RandomState`] over the key hash, so keys crafted to
//! share low bits (the key hash itself is unkeyed and public) do not pile into one bucket.

use std::hash::{BuildHasher, RandomState};

use super::key::KeyHash;

/// "No slot": end of a list, empty bucket.
pub(crate) const NIL: u32 = u32::MAX;

/// Slots the slab grows by at least.
const MIN_GROW: usize = 16;

/// One key slot: its key, the host whose clock judges it, its last-update time, and its links
/// in the recency list (the free list reuses `next`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node {
    key: KeyHash,
    /// The host (`host_hash`) of the events that update this key; in a table of host clocks,
    /// the key itself.
    host: KeyHash,
    /// The newest event time that updated this key.
    touched: i64,
    prev: u32,
    next: u32,
}

/// Slab + recency list + index. The owner keeps per-slot payload in parallel arrays sized to
/// [`Lru::slots`].
#[derive(Debug)]
pub(crate) struct Lru {
    nodes: Vec<Node>,
    buckets: Vec<u32>,
    hasher: RandomState,
    capacity: usize,
    len: usize,
    /// Most recently updated.
    head: u32,
    /// Least recently updated.
    tail: u32,
    free: u32,
}

/// What [`Lru::insert`] did besides inserting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Inserted {
    /// The new key's slot.
    pub(crate) slot: u32,
    /// A key was evicted to make room.
    pub(crate) evicted: bool,
}

impl Lru {
    /// An empty table for at most `capacity` keys (at least 1). Allocates nothing yet.
    pub(crate) fn new(capacity: u32) -> Lru {
        Lru {
            nodes: Vec::new(),
            buckets: Vec::new(),
            hasher: RandomState::new(),
            capacity: (capacity as usize).max(1),
            len: 0,
            head: NIL,
            tail: NIL,
            free: NIL,
        }
    }

    /// Keys held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The most keys ever held.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Slots allocated (payload arrays must cover this many).
    pub(crate) fn slots(&self) -> usize {
        self.nodes.capacity()
    }

    /// Heap bytes held now, from the actual capacities.
    pub(crate) fn measured_bytes(&self) -> u64 {
        (self.nodes.capacity() * size_of::<Node>() + self.buckets.capacity() * size_of::<u32>())
            as u64
    }

    /// The most heap bytes a table of `capacity` keys ever holds.
    pub(crate) fn bound_bytes(capacity: u32) -> u64 {
        let cap = u64::from(capacity.max(1));
        let buckets = (2 * cap).next_power_of_two();
        cap * size_of::<Node>() as u64 + buckets * size_of::<u32>() as u64
    }

    fn bucket_of(&self, key: KeyHash) -> usize {
        // Truncation is the point: the low bits pick the bucket.
        (self.hasher.hash_one(key.0) as usize) & self.buckets.len().wrapping_sub(1)
    }

    fn node(&self, slot: u32) -> Option<&Node> {
        self.nodes.get(slot as usize)
    }

    fn node_mut(&mut self, slot: u32) -> Option<&mut Node> {
        self.nodes.get_mut(slot as usize)
    }

    /// The slot of `key`, if held.
    pub(crate) fn get(&self, key: KeyHash) -> Option<u32> {
        if self.buckets.is_empty() {
            return None;
        }
        let mask = self.buckets.len() - 1;
        let mut i = self.bucket_of(key);
        // Load <= 1/2: an empty bucket ends every probe; the count is a belt and braces.
        for _ in 0..self.buckets.len() {
            let s = *self.buckets.get(i)?;
            if s == NIL {
                return None;
            }
            if self.node(s).is_some_and(|n| n.key == key) {
                return Some(s);
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// The key held in `slot`.
    pub(crate) fn key(&self, slot: u32) -> Option<KeyHash> {
        self.node(slot).map(|n| n.key)
    }

    /// The host of the key held in `slot`.
    pub(crate) fn host(&self, slot: u32) -> Option<KeyHash> {
        self.node(slot).map(|n| n.host)
    }

    /// The last-update time of the key held in `slot`.
    pub(crate) fn touched(&self, slot: u32) -> Option<i64> {
        self.node(slot).map(|n| n.touched)
    }

    /// Sets the last-update time of `slot` to `time` (even backwards: a clock reset) and makes
    /// it the most recent.
    pub(crate) fn set_touched(&mut self, slot: u32, time: i64) {
        if let Some(n) = self.node_mut(slot) {
            n.touched = time;
        } else {
            return;
        }
        if self.head != slot {
            self.unlink(slot);
            self.link_head(slot);
        }
    }

    /// The least recently updated key: its slot and last-update time.
    pub(crate) fn oldest(&self) -> Option<(u32, i64)> {
        self.node(self.tail).map(|n| (self.tail, n.touched))
    }

    fn index_insert(&mut self, key: KeyHash, slot: u32) {
        if self.buckets.is_empty() {
            return;
        }
        let mask = self.buckets.len() - 1;
        let mut i = self.bucket_of(key);
        for _ in 0..self.buckets.len() {
            match self.buckets.get_mut(i) {
                Some(b) if *b == NIL => {
                    *b = slot;
                    return;
                }
                Some(_) => i = (i + 1) & mask,
                None => return,
            }
        }
    }

    fn index_remove(&mut self, key: KeyHash) {
        if self.buckets.is_empty() {
            return;
        }
        let mask = self.buckets.len() - 1;
        let mut i = self.bucket_of(key);
        let mut found = None;
        for _ in 0..self.buckets.len() {
            let s = self.buckets.get(i).copied().unwrap_or(NIL);
            if s == NIL {
                break;
            }
            if self.node(s).is_some_and(|n| n.key == key) {
                found = Some(i);
                break;
            }
            i = (i + 1) & mask;
        }
        let Some(mut hole) = found else { return };
        // Backward-shift deletion: move later members of the run into the hole when their
        // home bucket does not lie cyclically in (hole, j].
        let mut j = (hole + 1) & mask;
        for _ in 0..self.buckets.len() {
            let s = self.buckets.get(j).copied().unwrap_or(NIL);
            if s == NIL {
                break;
            }
            let home = self.node(s).map_or(j, |n| self.bucket_of(n.key));
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                if let Some(b) = self.buckets.get_mut(hole) {
                    *b = s;
                }
                hole = j;
            }
            j = (j + 1) & mask;
        }
        if let Some(b) = self.buckets.get_mut(hole) {
            *b = NIL;
        }
    }

    fn unlink(&mut self, slot: u32) {
        let Some(&Node { prev, next, .. }) = self.node(slot) else {
            return;
        };
        match self.node_mut(prev) {
            Some(p) => p.next = next,
            None => self.head = next,
        }
        match self.node_mut(next) {
            Some(n) => n.prev = prev,
            None => self.tail = prev,
        }
    }

    fn link_head(&mut self, slot: u32) {
        let old = self.head;
        if let Some(n) = self.node_mut(slot) {
            n.prev = NIL;
            n.next = old;
        }
        match self.node_mut(old) {
            Some(o) => o.prev = slot,
            None => self.tail = slot,
        }
        self.head = slot;
    }

    /// Marks `slot` updated at `time`: it becomes the most recent, and its last-update time the
    /// newer of `time` and what it was.
    pub(crate) fn touch(&mut self, slot: u32, time: i64) {
        if let Some(n) = self.node_mut(slot) {
            n.touched = n.touched.max(time);
        } else {
            return;
        }
        if self.head != slot {
            self.unlink(slot);
            self.link_head(slot);
        }
    }

    /// Drops the key in `slot` (its slot goes to the free list).
    pub(crate) fn remove(&mut self, slot: u32) {
        let Some(key) = self.key(slot) else { return };
        self.index_remove(key);
        self.unlink(slot);
        let free = self.free;
        if let Some(n) = self.node_mut(slot) {
            n.next = free;
            n.prev = NIL;
        }
        self.free = slot;
        self.len = self.len.saturating_sub(1);
    }

    /// Drops every key (O(keys held), not O(slots)); keeps the memory.
    pub(crate) fn clear(&mut self) {
        while let Some((slot, _)) = self.oldest() {
            self.remove(slot);
        }
    }

    /// Grows the slab (and rebuilds the index at twice its size) when no slot is free.
    fn grow(&mut self) {
        let have = self.nodes.capacity();
        let want = (have.saturating_mul(2)).max(MIN_GROW).min(self.capacity);
        if want <= have {
            return;
        }
        self.nodes.reserve_exact(want - self.nodes.len());
        let buckets = (2 * self.nodes.capacity()).next_power_of_two();
        if buckets != self.buckets.len() {
            self.buckets = vec![NIL; buckets];
            let mut s = self.head;
            while let Some(&Node { key, next, .. }) = self.node(s) {
                self.index_insert(key, s);
                s = next;
            }
        }
    }

    /// Inserts `key` of `host` (`key` must not be held) as the most recent, at `time`; evicts
    /// the least recently updated key first when the table is full.
    pub(crate) fn insert(&mut self, key: KeyHash, host: KeyHash, time: i64) -> Inserted {
        let mut evicted = false;
        if self.len >= self.capacity {
            if let Some((slot, _)) = self.oldest() {
                self.remove(slot);
                evicted = true;
            }
        }
        let slot = if self.free != NIL {
            let slot = self.free;
            self.free = self.node(slot).map_or(NIL, |n| n.next);
            slot
        } else {
            if self.nodes.len() == self.nodes.capacity() {
                self.grow();
            }
            let slot = u32::try_from(self.nodes.len()).unwrap_or(NIL);
            self.nodes.push(Node {
                key,
                host,
                touched: time,
                prev: NIL,
                next: NIL,
            });
            slot
        };
        if let Some(n) = self.node_mut(slot) {
            *n = Node {
                key,
                host,
                touched: time,
                prev: NIL,
                next: NIL,
            };
        }
        self.index_insert(key, slot);
        self.link_head(slot);
        self.len += 1;
        Inserted { slot, evicted }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_slot_is_48_bytes_as_the_bound_docs_say() {
        assert_eq!(size_of::<Node>(), 48);
    }

    #[test]
    fn evicts_least_recently_updated() {
        let mut t = Lru::new(3);
        let a = t.insert(KeyHash(1), KeyHash(0), 1).slot;
        t.insert(KeyHash(2), KeyHash(0), 2);
        t.insert(KeyHash(3), KeyHash(0), 3);
        t.touch(a, 4);
        let ins = t.insert(KeyHash(4), KeyHash(0), 5);
        assert!(ins.evicted);
        assert_eq!(t.get(KeyHash(2)), None);
        assert!(t.get(KeyHash(1)).is_some());
        assert!(t.get(KeyHash(3)).is_some());
        assert!(t.get(KeyHash(4)).is_some());
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn churn_keeps_index_consistent_and_bounded() {
        let cap = 100u32;
        let mut t = Lru::new(cap);
        for i in 0..20_000u128 {
            let k = KeyHash(i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            assert_eq!(t.get(k), None);
            let s = t.insert(k, KeyHash(0), i as i64).slot;
            assert_eq!(t.get(k), Some(s));
            if i % 3 == 0 {
                t.remove(s);
                assert_eq!(t.get(k), None);
            }
            assert!(t.len() <= cap as usize);
            assert!(t.measured_bytes() <= Lru::bound_bytes(cap));
        }
        // Every held key is found, every slot on the list is indexed.
        let mut s = t.head;
        let mut n = 0;
        while let Some(node) = t.node(s) {
            assert_eq!(t.get(node.key), Some(s));
            s = node.next;
            n += 1;
        }
        assert_eq!(n, t.len());
        t.clear();
        assert_eq!(t.len(), 0);
        assert_eq!(t.oldest(), None);
    }
}
