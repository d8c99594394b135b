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
//! - [`ThresholdState`]: `threshold count >= N within D by K` and `distinct(F)`.
//! - [`sequence_state_bound_bytes`], [`threshold_state_bound_bytes`]: the verifier's state
//!   bound; each table's `measured_bytes` (from actual capacities) never exceeds it.
//!
//! # Semantics (LANGUAGE.md section 5, made precise)
//!
//! **Keys.** A key is the event's `host` plus the `by` values in order, hashed as in [`key`].
//! An event whose key field is absent takes no part: the caller does not call `on_event`, and
//! counts it with `note_absent_key` (the counter `absent_key`).
//!
//! **Time.** Times are i64 nanoseconds. An event without a `time` is passed as `None`: counted
//! (`missing_time`) and skipped. Each table remembers the newest time it has accepted. With the
//! lateness allowance `L` ([`TimeConfig::lateness_ns`], default 0), an event more than `L` older
//! than the newest time is *late*: counted (`late`), it does not touch state (the engine still
//! runs single-event rules on it). An event more than the clock-reset horizon
//! ([`TimeConfig::clock_reset_ns`], default 24 h, never less than `D + L`) older than the
//! newest time is taken as the host's clock jumping back: the table is cleared (`clock_resets`),
//! the newest time becomes the event's, and the event is processed. Without this, one event
//! with a time years in the future would make every later event late and silence the rule for
//! years; with it, such an event costs the partial state once. Events at equal times are taken
//! in arrival order. Arithmetic on times never overflows (it is done in i128).
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
//! **Capacity and expiry.** Each table holds at most `capacity` keys; a new key in a full table
//! evicts the key *updated* least recently (`evicted`). An update is any change to a key's
//! state (a partial started or moved, an entry counted); an event that changes nothing does not
//! refresh its key. As time advances, keys that can no longer match are dropped (`expired`)
//! from the old end of the recency list while that key's last-update time is older than
//! `newest - L - D` (threshold: at or before it), so expiry costs O(1) amortised, never a scan.
//! With in-order events the recency list is in time order and expiry is exact; with
//! out-of-order events (within `L`) a dead key may sit behind a live one until that one expires
//! or it is evicted. That costs memory within capacity, never a wrong match: every partial and
//! entry is checked against the window when used.
//!
//! **Memory.** Tables allocate lazily in a few growth steps and stop at the bound: nothing here
//! grows with the number of distinct keys seen, with key or value lengths (only hashes are
//! kept), or with time. `measured_bytes` reports the bytes held now from the actual
//! capacities; the `*_bound_bytes` functions give the most they ever hold.

pub mod key;
mod lru;
mod sequence;
mod threshold;

pub use key::{key_hash, value_hash, KeyHash, KeyHasher, KeyPart, ValueHash};
pub use sequence::{
    sequence_state_bound_bytes, CaptureKind, CaptureSpec, CaptureValue, CaptureView, Fired,
    SequenceParams, SequenceState,
};
pub use threshold::{threshold_state_bound_bytes, ThresholdFired, ThresholdParams, ThresholdState};

/// Steps a sequence has at least.
pub const MIN_STEPS: usize = 2;
/// Steps a sequence has at most.
pub const MAX_STEPS: usize = 8;
/// Default clock-reset horizon: 24 hours, in nanoseconds.
pub const DEFAULT_CLOCK_RESET_NS: u64 = 24 * 3600 * 1_000_000_000;

/// How a table treats event times (see the module docs, "Time").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeConfig {
    /// How much older than the newest time an event may be and still touch state (default 0).
    pub lateness_ns: u64,
    /// How much older than the newest time an event must be to be taken as the clock jumping
    /// back (the table is cleared); raised to `window + lateness_ns` if smaller (default 24 h).
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
    /// Events more than the lateness allowance older than the newest time (state untouched).
    pub late: u64,
    /// Events whose key field was absent (reported by the caller, `note_absent_key`).
    pub absent_key: u64,
    /// Events without a time (state untouched).
    pub missing_time: u64,
    /// Times the clock jumped back beyond the reset horizon (the table was cleared).
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

/// What the clock made of an event's time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Admit {
    /// Process it.
    Accept(i64),
    /// Process it after clearing the table.
    Reset(i64),
    /// Skip it: no time.
    Missing,
    /// Skip it: late.
    Late,
}

/// The newest time a table has accepted, and its lateness rules.
#[derive(Clone, Copy, Debug)]
struct Clock {
    newest: Option<i64>,
    lateness: i128,
    reset: i128,
}

impl Clock {
    fn new(cfg: TimeConfig, window_ns: u64) -> Clock {
        let lateness = i128::from(cfg.lateness_ns);
        let reset = i128::from(cfg.clock_reset_ns).max(lateness + i128::from(window_ns));
        Clock {
            newest: None,
            lateness,
            reset,
        }
    }

    fn admit(&mut self, time: Option<i64>) -> Admit {
        let Some(t) = time else { return Admit::Missing };
        match self.newest {
            None => {
                self.newest = Some(t);
                Admit::Accept(t)
            }
            Some(n) => {
                let behind = i128::from(n) - i128::from(t);
                if behind > self.reset {
                    self.newest = Some(t);
                    Admit::Reset(t)
                } else if behind > self.lateness {
                    Admit::Late
                } else {
                    self.newest = Some(n.max(t));
                    Admit::Accept(t)
                }
            }
        }
    }

    /// The oldest time a future accepted event can have: `newest - lateness`.
    fn floor(&self) -> i128 {
        self.newest
            .map_or(i128::MIN / 4, |n| i128::from(n) - self.lateness)
    }
}

fn bump(c: &mut u64) {
    *c = c.saturating_add(1);
}
