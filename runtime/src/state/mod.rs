//! Correlation state: the per-rule tables of sequence and threshold rules, with fixed capacity,
//! eviction, expiry, and a proven bound on their bytes.
//!
//! One implementation serves both engines. The engine (interpreter or JIT) hands each event to
//! the rule's table with the event's key hash and time; the table decides which steps to try
//! and calls back into the engine to evaluate a step's condition, exposing the partial match's
//! captured values as [`crate::event::Slot`]s so compiled code and the interpreter read
//! `Captured(i)` alike ([`CaptureView`]). Nothing here evaluates expressions, reads events,
//! or allocates per event in steady state.
//!
//! - [`key`]: [`KeyHash`] (128-bit, host always included) and [`ValueHash`] (64-bit).
//! - [`SequenceState`]: `sequence by K within D { s0 ... s(n-1) }`.
//! - [`ThresholdState`]: `threshold count >= N within D by K`, `distinct(F)`, `sum(F)` and
//!   `avg(F)`.
//! - [`AnyOrderState`]: `sequence any order by K within D { ... }`.
//! - [`sequence_state_bound_bytes`], [`threshold_state_bound_bytes`],
//!   [`any_order_state_bound_bytes`]: the verifier's state bound; each table's
//!   `measured_bytes` (from actual capacities) never exceeds it.
//!
//! # Semantics (LANGUAGE.md section 5, made precise)
//!
//! **Keys.** A key is the event's `host` plus the `by` values in order, hashed as in [`key`].
//! An event whose key field is absent takes no part: the caller does not call `on_event`, and
//! counts it with `note_absent_key` (the counter `absent_key`).
//!
//! **Time** (event time, as a stream processor keeps it, one watermark per host). Times are
//! i64 nanoseconds. An event without a `time` is passed as `None`: counted (`missing_time`) and
//! skipped. Each table keeps a *clock per host* (by [`host_hash`] of the event's `host`; events
//! without a host share one clock, as do the events of `on_event`, which takes no host): the
//! newest time it has accepted from that host. Hosts' clocks are independent: a host whose
//! clock runs ahead makes no other host's events late. With the lateness allowance `L`
//! ([`TimeConfig::lateness_ns`], default 0), an event is judged against its host's newest time
//! `n`:
//! - `t >= n`: in order, processed; `n` becomes `t`;
//! - `n - L <= t < n`: late but within the allowance: processed and counted
//!   (`late_accepted`); `n` stays;
//! - `n - R <= t < n - L`: *late*: counted (`late`) and skipped, it does not touch state (the
//!   engine still runs single-event rules on it);
//! - `t < n - R`, with `R` the clock-reset horizon ([`TimeConfig::clock_reset_ns`], default
//!   24 h, never less than `D + L`): the host's clock jumped back (a *clock reset*, counted in
//!   `clock_resets`): its newest time becomes `t` and the event is processed. That host's keys
//!   last updated after `t + L` are from before the reset: they are dropped (`expired`) when
//!   met (by an event of their key, or at the old end of the recency list). Other hosts' state
//!   is untouched. Without resets, one event with a time years in the future would make every
//!   later event of its host late for years; with them, it costs that host's partial state once.
//!
//! A key's last-update time also bounds its host's newest time from below, so that a host whose
//! clock was dropped for room (below) is still judged against what its key has seen. Events at
//! equal times are taken in arrival order. Arithmetic on times never overflows (it is done in
//! i128).
//!
//! **Hosts' clocks** are a table like the keys' (`lru.rs`), of the same capacity as the keys
//! (a key belongs to one host, so a full key table never needs more clocks): when it is full, a
//! new host takes the clock of the host seen least recently. A host whose clock was dropped
//! starts a new one at its next event (judged, as said, against that event's key's last update
//! if the key is still held).
//!
//! **Sequences** (`n` steps, 2 to 8, window `D`). For one key, the table keeps at most one
//! partial match per step `k < n - 1` ("level k": steps `0..=k` matched): the most recent (as
//! EQL does). An event is tried against its event type's steps from the last to the first:
//! - step 0 matches: a new partial starts at level 0 (replacing any older one there);
//! - step `k > 0` matches the level-`k-1` partial `P` (its condition may read `P`'s captures)
//!   when the event's time is not before `P`'s last step (order) and at most `D` after `P`'s
//!   first step (`last - first <= D`: exactly `D` apart still matches). `P` then *moves* to
//!   level `k` (replacing any older one there) and level `k-1` is empty;
//! - step `n - 1` matches: the rule fires once, with the captures of every step (the last
//!   step's from this event), and all of that key's partials are cleared. The completing event
//!   is consumed: it starts no new partial for that key.
//!
//! Processing from the last step down means the level `k-1` partial seen by step `k` is the one
//! from before this event, so one event fills at most one step of a partial (it may still fill
//! step `k` of one partial and step `j < k` of another, older one). Condition errors abort the
//! event's remaining steps; updates already made stay.
//!
//! Captures: a captured string keeps at most its capture's `max_bytes` (the rule's
//! `capture_len`, or the field's `max_len` if smaller), cut at a char boundary and flagged
//! truncated (so is a value the event had already truncated). Ints, bools and ips take one
//! 16-byte slot. An absent field is captured as absent (all-zero slot, flags 0).
//!
//! **Thresholds** (`N`, window `D`). The window at an event of time `t` is `(t - D, t]`:
//! an entry at exactly `t - D` is out. `count`: the event counts if it reaches the table; when
//! the key's count inside the window (this event included) reaches `N`, the rule fires with this
//! event and the key starts afresh (its entries are dropped). `distinct(F)`: the same over the
//! distinct values of `F` whose last sighting is inside the window; a value seen again refreshes
//! its time; each value expires on its own; an event whose `F` is absent is counted
//! (`absent_value`) and ignored. A key keeps at most `N` entries (times, or value hashes with
//! times); with in-order events it never holds more than `N - 1`. With out-of-order events
//! (lateness > 0) an entry newer than the event is outside its window, and when a key's `N`
//! entries are full the oldest one is dropped.
//!
//! **Sequences in any order** (`sequence any order`, `n` steps, window `D`). For one key, the
//! table keeps the time each step last matched (at most one entry per step). An event of the
//! steps' types is tested against each of its type's steps (a step reads only its own event:
//! there are no captures); every step it satisfies records its time (a step matched again keeps
//! the later time). Steps whose time is more than `D` before the key's newest are dropped. When
//! every step is held (all within `D` of each other: exactly `D` apart still matches), the rule
//! fires with this event and the key starts afresh. One event may satisfy several steps.
//!
//! **Sums and averages** (`sum(F)`/`avg(F) >= N`, `F` an int field, window `D`). Each
//! counted event's value of `F` is kept with its time; at an event of time `t`, the values
//! inside `(t - D, t]` (this event's included) are summed exactly (as `i128`: no overflow, no
//! saturation); `sum` fires when the sum reaches `N`, `avg` when the mean does (`sum >= N *
//! count`, exact, no division). Firing starts the key afresh, as for `count`. Each value
//! expires on its own; an event whose `F` is absent is counted (`absent_value`) and ignored. A
//! key keeps at most `M` values (the rule's `entries`, `StateDecl::per_key`); with more than
//! `M` counted events of one key inside one window, the oldest values are dropped (the sum
//! then under-counts: raise `entries` for such rules).
//!
//! **Capacity and expiry.** Each table holds at most `capacity` keys; a new key in a full table
//! evicts the key *updated* least recently (`evicted`). An update is any change to a key's
//! state (a partial started or moved, an entry counted); an event that changes nothing does not
//! refresh its key. As time advances, keys that can no longer match are dropped (`expired`)
//! from the old end of the recency list while that key's last-update time is older than
//! `n - L - D`, with `n` the newest time of the key's OWN host (threshold: at or before it), or
//! is from before a reset of its host's clock; expiry stops at the first key that is live, or
//! whose host's clock is no longer held (it cannot be judged), so it costs O(1) amortised, never
//! a scan. A key is never expired by another host's clock: a host running ahead cannot shorten
//! another host's windows. With one host and in-order events the recency list is in time order
//! and expiry is exact; with several hosts, or out-of-order events (within `L`), a dead key may
//! sit behind a live one (say, of a host that went quiet) until that one expires or is evicted.
//! That costs memory within capacity, never a wrong match: every partial and entry is checked
//! against the window when used.
//!
//! **Memory.** Tables allocate lazily in a few growth steps and stop at the bound: nothing here
//! grows with the number of distinct keys seen, with key or value lengths (only hashes are
//! kept), or with time. `measured_bytes` reports the bytes held now from the actual
//! capacities; the `*_bound_bytes` functions give the most they ever hold.

mod any_order;
pub mod key;
mod lru;
mod sequence;
mod threshold;

use lru::Lru;

pub use any_order::{any_order_state_bound_bytes, AnyOrderFired, AnyOrderParams, AnyOrderState};
pub use key::{key_hash, value_hash, KeyHash, KeyHasher, KeyPart, ValueHash};
pub use sequence::{
    sequence_state_bound_bytes, CaptureKind, CaptureSpec, CaptureValue, CaptureView, Fired,
    SequenceParams, SequenceState,
};
pub use threshold::{
    threshold_state_bound_bytes, AmountKind, AmountParams, ThresholdFired, ThresholdParams,
    ThresholdState,
};

/// What a stateful rule's table holds for one key, read without changing it (for `vigil why`:
/// the state an event met). Times are event times in nanoseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// The event's key field is absent: it takes no part (the table counts it).
    AbsentKey,
    /// The event has no `time`: it takes no part.
    NoTime,
    /// A sequence: the key's partial matches, fewest steps first (none when not held).
    Sequence(Vec<Partial>),
    /// A `sequence any order`: the steps the key holds (bit `k`: step `k`).
    AnyOrder(u8),
    /// A threshold: what the key holds in the window ending at the event's time.
    Threshold(ThresholdWindow),
}

/// One partial match of a sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partial {
    /// Steps matched so far (`1`: the first step).
    pub steps_done: usize,
    /// The first step's time.
    pub first_time: i64,
    /// The last matched step's time.
    pub last_time: i64,
    /// The partial expires after this time (first step's time + `within`).
    pub expires: i64,
}

/// What a threshold's key holds in the window `(t - within, t]` before the event at `t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThresholdWindow {
    /// Events counted (`count`, `sum`, `avg`) or distinct values seen (`distinct`) in the
    /// window.
    pub counted: u64,
    /// The sum of the counted values (`sum`, `avg`; 0 otherwise).
    pub sum: i128,
    /// The oldest time counted in the window.
    pub oldest: Option<i64>,
    /// Entries the key holds in all (some may be outside the window, not yet dropped).
    pub held: usize,
}

/// Steps a sequence has at least.
pub const MIN_STEPS: usize = 2;
/// Steps a sequence has at most.
pub const MAX_STEPS: usize = 8;
/// Default clock-reset horizon: 24 hours, in nanoseconds.
pub const DEFAULT_CLOCK_RESET_NS: u64 = 24 * 3600 * 1_000_000_000;

/// How a table treats event times (see the module docs, "Time").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeConfig {
    /// How much older than its host's newest time an event may be and still touch state
    /// (default 0).
    pub lateness_ns: u64,
    /// How much older than its host's newest time an event must be to be taken as that host's
    /// clock jumping back (its keys from before are dropped); raised to
    /// `window + lateness_ns` if smaller (default 24 h).
    pub clock_reset_ns: u64,
}

impl Default for TimeConfig {
    fn default() -> Self {
        TimeConfig {
            lateness_ns: 0,
            clock_reset_ns: DEFAULT_CLOCK_RESET_NS,
        }
    }
}

/// A table's counters. They only grow (saturating).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Calls to `on_event` (every event handed to the table, late or not).
    pub events: u64,
    /// Times the rule fired.
    pub fired: u64,
    /// Keys evicted to make room for a new key.
    pub evicted: u64,
    /// Keys dropped because their window had passed.
    pub expired: u64,
    /// Events more than the lateness allowance older than their host's newest time: skipped
    /// (state untouched).
    pub late: u64,
    /// Events older than their host's newest time but within the lateness allowance:
    /// processed.
    pub late_accepted: u64,
    /// Events whose key field was absent (reported by the caller, `note_absent_key`).
    pub absent_key: u64,
    /// Events without a time (state untouched).
    pub missing_time: u64,
    /// Times a host's clock jumped back beyond the reset horizon (that host's keys were
    /// dropped).
    pub clock_resets: u64,
    /// Distinct thresholds: events whose counted field was absent (state untouched).
    pub absent_value: u64,
}

/// Why a table could not be built from its parameters (the verifier refuses such rules first).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// A sequence needs 2 to 8 steps.
    #[error("a sequence needs {MIN_STEPS} to {MAX_STEPS} steps, this one has {0}")]
    Steps(usize),
    /// A capture names a step the sequence does not have.
    #[error("capture {capture} is of step {step}, the sequence has {steps} step(s)")]
    CaptureStep {
        /// The capture's index.
        capture: usize,
        /// The step it names.
        step: u8,
        /// The sequence's steps.
        steps: usize,
    },
    /// A threshold needs N >= 1.
    #[error("the threshold count is 0")]
    ZeroThreshold,
    /// A table needs room for at least one key.
    #[error("the state capacity is 0")]
    ZeroCapacity,
    /// The table's layout does not fit in memory addresses.
    #[error("the state table's layout overflows")]
    TooLarge,
}

/// The clock of events that carry no host, and of [`SequenceState::on_event`] /
/// [`ThresholdState::on_event`], which take none: every such event shares it.
pub const SHARED_CLOCK: KeyHash = KeyHash(0);

/// The hash that names a host's clock: the key of a rule without `by` fields on that host
/// (`key_hash(host, &[])`). Events without a host pass `host_hash("")`: they share one clock.
#[must_use]
pub fn host_hash(host: &str) -> KeyHash {
    KeyHasher::new(host).finish()
}

/// What the clocks made of an event's time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Admit {
    /// Process it; `late`: it is older than its host's newest time, within the allowance.
    Accept {
        /// Older than the host's newest time (but not by more than the allowance).
        late: bool,
    },
    /// Process it: the host's clock jumped back past the reset horizon and now reads the
    /// event's time.
    Reset,
    /// Skip it: more than the allowance older than its host's newest time.
    Late,
}

/// A table's clocks: per host (by [`host_hash`]), the newest event time accepted from it, in a
/// bounded table of the same kind as the keys' (fixed capacity, the host seen least recently
/// dropped first), and the lateness rules (see the module docs, "Time").
#[derive(Debug)]
struct Clocks {
    hosts: Lru,
    lateness: i128,
    reset: i128,
    within: i128,
}

impl Clocks {
    fn new(cfg: TimeConfig, window_ns: u64, capacity: u32) -> Clocks {
        let lateness = i128::from(cfg.lateness_ns);
        let within = i128::from(window_ns);
        let reset = i128::from(cfg.clock_reset_ns).max(lateness + within);
        Clocks {
            hosts: Lru::new(capacity),
            lateness,
            reset,
            within,
        }
    }

    /// The most bytes the clocks of a table of `capacity` keys hold (one clock per key at
    /// most: the same bound as the keys' table).
    fn bound_bytes(capacity: u32) -> u64 {
        Lru::bound_bytes(capacity)
    }

    fn measured_bytes(&self) -> u64 {
        self.hosts.measured_bytes()
    }

    /// The newest time accepted from `host`, if its clock is held.
    fn newest(&self, host: KeyHash) -> Option<i64> {
        self.hosts.get(host).and_then(|s| self.hosts.touched(s))
    }

    /// Whether a key of `host` last updated at `touched` is from before a reset of its
    /// host's clock (later than the host's newest time by more than the allowance).
    fn is_stale(&self, host: KeyHash, touched: i64) -> bool {
        self.newest(host)
            .is_some_and(|n| i128::from(touched) > i128::from(n) + self.lateness)
    }

    /// Whether a key of `host` last updated at `touched` can match no event its host may still
    /// send: stale, or its window has passed by its host's clock (`touched < newest - L - D`,
    /// or `<=` when `inclusive`). `None` when the host's clock is not held (it cannot tell).
    fn is_dead(&self, host: KeyHash, touched: i64, inclusive: bool) -> Option<bool> {
        let n = i128::from(self.newest(host)?);
        let t = i128::from(touched);
        let cutoff = n - self.lateness - self.within;
        Some(t > n + self.lateness || t < cutoff || (inclusive && t == cutoff))
    }

    /// The oldest time a future accepted event of `host` can have: `newest - lateness`.
    fn floor(&self, host: KeyHash) -> Option<i128> {
        self.newest(host).map(|n| i128::from(n) - self.lateness)
    }

    /// Judges an event of `host` at `t` whose key (if held, and not stale) was last updated at
    /// `key_time`, and moves the host's clock: its newest time is the newest of its clock and
    /// its key's last update (the key's time stands in when the host's clock was dropped for
    /// room). A host seen for the first time starts its clock at `t`.
    fn admit(&mut self, host: KeyHash, key_time: Option<i64>, t: i64) -> Admit {
        let slot = self.hosts.get(host);
        let clock = slot.and_then(|s| self.hosts.touched(s));
        let newest = match (clock, key_time) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let Some(n) = newest else {
            self.hosts.insert(host, host, t);
            return Admit::Accept { late: false };
        };
        let behind = i128::from(n) - i128::from(t);
        let (verdict, time) = if behind > self.reset {
            (Admit::Reset, t)
        } else if behind > self.lateness {
            return Admit::Late;
        } else {
            (Admit::Accept { late: behind > 0 }, n.max(t))
        };
        match slot {
            Some(s) => self.hosts.set_touched(s, time),
            None => {
                self.hosts.insert(host, host, time);
            }
        }
        verdict
    }
}

/// Judges an event of `host` at `t` for key `key` against the clocks, counts what it was, and
/// drops the keys that can no longer match; returns whether the table processes it. Shared by
/// both kinds of table; `inclusive`: a key last updated exactly `D` before the floor is dead
/// (thresholds, whose window `(t - D, t]` excludes its start).
fn admit_event(
    lru: &mut Lru,
    clocks: &mut Clocks,
    counters: &mut Counters,
    host: KeyHash,
    key: KeyHash,
    t: i64,
    inclusive: bool,
) -> bool {
    let slot = lru.get(key);
    let mut key_time = slot.and_then(|s| lru.touched(s));
    if let (Some(s), Some(kt)) = (slot, key_time) {
        if clocks.is_stale(host, kt) {
            // From before a reset of its host's clock.
            lru.remove(s);
            bump(&mut counters.expired);
            key_time = None;
        }
    }
    match clocks.admit(host, key_time, t) {
        Admit::Late => {
            bump(&mut counters.late);
            return false;
        }
        Admit::Reset => {
            bump(&mut counters.clock_resets);
            if let Some(s) = lru.get(key) {
                if lru.touched(s).is_some_and(|kt| clocks.is_stale(host, kt)) {
                    lru.remove(s);
                    bump(&mut counters.expired);
                }
            }
        }
        Admit::Accept { late } => {
            if late {
                bump(&mut counters.late_accepted);
            }
        }
    }
    expire(lru, clocks, counters, inclusive);
    true
}

/// Drops keys from the old end of the recency list while they are dead by their own host's
/// clock ([`Clocks::is_dead`]); stops at the first live key, or at a key whose host's clock
/// is no longer held (it cannot be judged; eviction still bounds it).
fn expire(lru: &mut Lru, clocks: &Clocks, counters: &mut Counters, inclusive: bool) {
    while let Some((slot, touched)) = lru.oldest() {
        let Some(host) = lru.host(slot) else { break };
        if clocks.is_dead(host, touched, inclusive) != Some(true) {
            break;
        }
        lru.remove(slot);
        bump(&mut counters.expired);
    }
}

fn bump(c: &mut u64) {
    *c = c.saturating_add(1);
}
