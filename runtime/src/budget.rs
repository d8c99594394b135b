//! What a loading host allows a bundle to cost: [`Budget`] (steps per event, state bytes) and
//! [`Limits`] (counts and sizes that keep the verifier itself, and lowering, bounded on hostile
//! input). The verifier ([`crate::verify`]) reads both; the cost model is documented there.
//!
//! The defaults are chosen so that the converted SigmaHQ set and reasonable field rules pass
//! (a few dozen regexes on the command line, quantifiers over `args` with a regex) while
//! content whose worst case is pathological (a regex that only a PikeVM over thousands of NFA
//! states can run, over a 98,304-byte command line) is refused; and so that no event type
//! of a verified bundle can cost more than 100 ms per event at the calibrated constant.

use serde::{Deserialize, Serialize};

/// Cost and state budgets, and the count limits, under which a bundle must verify. Read from
/// JSON or TOML, missing keys take their defaults.
///
/// Cost bounds have the form `base + per_byte x n` ([`crate::verify::LinearBound`]), `n` the
/// event's input bytes, at most the event type's `max_event_bytes`. Each term has its budget,
/// per rule and per event type, and so has the worst case they give at `max_event_bytes`. A
/// step is calibrated in time ([`crate::verify::PS_PER_STEP`]): the default event budget,
/// 100,000,000 steps, caps what one event can cost an agent at 100 ms whatever the bundle
/// holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Budget {
    /// Worst-case steps one rule may take on one event at `max_event_bytes` (its residual
    /// work: the shared literal prefilter is charged to the event type). Default 20,000,000
    /// (20 ms).
    pub max_rule_cost: u64,
    /// A rule's steps whatever the event's size. Default 4,000,000.
    pub max_rule_base_steps: u64,
    /// A rule's steps per input byte of the event. Default 64: a few dozen DFA searches over
    /// the same bytes, a quantifier with a regex over every item of a list.
    pub max_rule_steps_per_byte: u64,
    /// Worst-case steps for one event type at `max_event_bytes`: the shared prefilter plus
    /// every rule that runs on it. Default 100,000,000 (100 ms at the calibrated constant).
    pub max_event_cost: u64,
    /// An event type's steps whatever the event's size. Default 32,000,000.
    pub max_event_base_steps: u64,
    /// An event type's steps per input byte. Default 384 (the converted SigmaHQ set's
    /// `process_start`, 1,402 rules, needs 248).
    pub max_event_steps_per_byte: u64,
    /// Worst-case state bytes of one stateful rule. Default 64 MiB.
    pub max_rule_state_bytes: u64,
    /// Worst-case state bytes of the whole bundle. Default 512 MiB.
    pub max_state_bytes: u64,
    /// Count and size limits.
    pub limits: Limits,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            max_rule_cost: 20_000_000,
            max_rule_base_steps: 4_000_000,
            max_rule_steps_per_byte: 64,
            max_event_cost: 100_000_000,
            max_event_base_steps: 32_000_000,
            max_event_steps_per_byte: 384,
            max_rule_state_bytes: 64 << 20,
            max_state_bytes: 512 << 20,
            limits: Limits::default(),
        }
    }
}

/// Count and size limits, checked before anything proportional to them is done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Rules in a program. Default 100,000.
    pub max_rules: u32,
    /// Expression nodes in one rule. Default 65,536.
    pub max_nodes_per_rule: u32,
    /// Expression nodes (and operand edges) in the whole program. Default 8,000,000.
    pub max_nodes_total: u64,
    /// Field requirements. Default 65,536.
    pub max_fields: u32,
    /// Builtins in the program's table. Default 1,024.
    pub max_builtins: u32,
    /// Interned strings. Default 1,000,000.
    pub max_strings: u32,
    /// Constant lists. Default 100,000.
    pub max_lists: u32,
    /// Items in one constant list. Default 100,000.
    pub max_list_items: u32,
    /// Items over all constant lists. Default 2,000,000.
    pub max_total_list_items: u64,
    /// Regular expressions. Default 10,000.
    pub max_regexes: u32,
    /// Bytes of one string constant, list item, regex pattern or meta value. Default 64 KiB.
    pub max_const_bytes: u32,
    /// Literal bytes over the whole program: strings, list items, patterns, names, meta,
    /// templates. Default 64 MiB.
    pub max_literal_bytes: u64,
    /// Height of one rule's expression DAG (longest operand chain). Default 256.
    pub max_depth: u32,
    /// Nested quantifier levels ([`crate::ir::LocalId`] values `0..max_quant_levels`). At most
    /// 16. Default 4.
    pub max_quant_levels: u16,
    /// Longest sequence or threshold window. Default 30 days.
    pub max_window_ns: u64,
    /// Largest `capture_len` of a sequence. Default 64 KiB.
    pub max_capture_len: u32,
}

/// The hard cap on [`Limits::max_quant_levels`]: the verifier tracks quantifier variables in a
/// fixed array of this many levels.
pub const QUANT_LEVELS_CAP: u16 = 16;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_rules: 100_000,
            max_nodes_per_rule: 65_536,
            max_nodes_total: 8_000_000,
            max_fields: 65_536,
            max_builtins: 1_024,
            max_strings: 1_000_000,
            max_lists: 100_000,
            max_list_items: 100_000,
            max_total_list_items: 2_000_000,
            max_regexes: 10_000,
            max_const_bytes: 64 * 1024,
            max_literal_bytes: 64 << 20,
            max_depth: 256,
            max_quant_levels: 4,
            max_window_ns: 30 * 24 * 3600 * 1_000_000_000,
            max_capture_len: 64 * 1024,
        }
    }
}
