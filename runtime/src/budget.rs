//! What a loading host allows a bundle to cost: [`Budget`] (steps per event, state bytes) and
//! [`Limits`] (counts and sizes that keep the verifier itself, and lowering, bounded on hostile
//! input). The verifier ([`crate::verify`]) reads both; the cost model is documented there.
//!
//! The defaults are chosen so that a realistic rule set passes (about 1,500 Sigma-like
//! `process_start` rules over fields up to 98,304 bytes, a few dozen with regexes on the
//! command line) while one pathological rule (a quantifier over a 64-item list of 32 KiB
//! strings, each matched against a regex) is refused.

use serde::{Deserialize, Serialize};

/// Cost and state budgets, and the count limits, under which a bundle must verify. Read from
/// JSON or TOML, missing keys take their defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Budget {
    /// Worst-case steps one rule may take on one event (its residual work: the shared literal
    /// prefilter is charged to the event type, not to the rule). Default 12,000,000: a
    /// case-folded `contains` over every item of a 64-item list of 98,304-byte strings (9.4
    /// million), or fifteen regex searches over a 98,304-byte command line, fit; a regex over
    /// every item of a 64-item list of 32 KiB strings (16.8 million) does not.
    pub max_rule_cost: u64,
    /// Worst-case steps for one event type: the shared prefilter plus every rule that runs on
    /// it. Default 1,073,741,824 (2^30).
    pub max_event_cost: u64,
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
            max_rule_cost: 12_000_000,
            max_event_cost: 1 << 30,
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
