//! The state model: worst-case bytes of a stateful rule's table, and the steps its update takes
//! per event (E0426, E0427; E0627 when only looser host bounds break the proof).
//!
//! Keys are stored as 128-bit hashes ([`KEY_HASH_BYTES`]), distinct values as 64-bit hashes
//! ([`VALUE_HASH_BYTES`]), times as [`TIMESTAMP_BYTES`]; each key's entry has a fixed
//! [`STATE_ENTRY_OVERHEAD_BYTES`] (table slot, eviction links, counters).
//!
//! - sequence: `capacity x (key + overhead + per_key x (steps x timestamp + captures))`, where a
//!   captured string costs [`CAPTURE_HEADER_BYTES`] plus its bound cut to `capture_len`, a
//!   captured list that per item plus a header, and any other value 16 bytes;
//! - threshold: `capacity x (key + overhead + per_key x (timestamp [+ value hash if distinct]))`.
//!
//! Per event, a stateful rule also hashes its key fields, copies its captures, and touches up
//! to `per_key` entries (expiry): [`STATE_UPDATE_STEPS`] plus those bytes, added to its steps.

use super::cost::{field_bound, Bounds};
use super::Cx;
use crate::ir::{Counting, Rule, RuleId, RuleKind};
use crate::types::{Scalar, Ty};

/// Bytes of a key's hash.
pub const KEY_HASH_BYTES: u64 = 16;
/// Bytes of a stored time.
pub const TIMESTAMP_BYTES: u64 = 8;
/// Bytes of a distinct value's hash.
pub const VALUE_HASH_BYTES: u64 = 8;
/// Bytes of a captured value's header (length, pointer, flag).
pub const CAPTURE_HEADER_BYTES: u64 = 24;
/// Fixed bytes per key of a state table.
pub const STATE_ENTRY_OVERHEAD_BYTES: u64 = 64;
/// Fixed steps of a stateful rule's update per event.
pub const STATE_UPDATE_STEPS: u64 = 64;
/// Bytes of a stored non-string scalar.
const SCALAR_BYTES: u64 = 16;

/// Worst-case state bytes of one rule.
pub(crate) fn rule_bytes(cx: &Cx<'_>, rid: RuleId, rule: &Rule, mode: Bounds) -> u64 {
    match &rule.kind {
        RuleKind::Single { .. } => 0,
        RuleKind::Sequence(seq) => {
            let capture_len = u64::from(seq.state.capture_len);
            let captures = seq
                .captures
                .iter()
                .map(|c| {
                    let ty = cx.program.fields.get(c.field.0 as usize).map(|r| r.ty);
                    let b = field_bound(cx, rid, c.field, mode);
                    let string = CAPTURE_HEADER_BYTES.saturating_add(b.len.min(capture_len));
                    match ty {
                        Some(Ty::Scalar(Scalar::Str)) => string,
                        Some(Ty::List(Scalar::Str)) => {
                            CAPTURE_HEADER_BYTES.saturating_add(b.items.saturating_mul(string))
                        }
                        Some(Ty::List(_)) => CAPTURE_HEADER_BYTES
                            .saturating_add(b.items.saturating_mul(SCALAR_BYTES)),
                        _ => SCALAR_BYTES,
                    }
                })
                .fold(0u64, u64::saturating_add);
            let entry = (seq.steps.len() as u64)
                .saturating_mul(TIMESTAMP_BYTES)
                .saturating_add(captures);
            u64::from(seq.state.capacity).saturating_mul(
                KEY_HASH_BYTES
                    .saturating_add(STATE_ENTRY_OVERHEAD_BYTES)
                    .saturating_add(u64::from(seq.state.per_key).saturating_mul(entry)),
            )
        }
        RuleKind::Threshold(t) => {
            let entry = match t.counting {
                Counting::Count => TIMESTAMP_BYTES,
                Counting::Distinct(_) => TIMESTAMP_BYTES + VALUE_HASH_BYTES,
            };
            u64::from(t.state.capacity).saturating_mul(
                KEY_HASH_BYTES
                    .saturating_add(STATE_ENTRY_OVERHEAD_BYTES)
                    .saturating_add(u64::from(t.state.per_key).saturating_mul(entry)),
            )
        }
    }
}

/// Worst-case steps of one rule's state update per event.
pub(crate) fn update_steps(cx: &Cx<'_>, rid: RuleId, rule: &Rule, mode: Bounds) -> u64 {
    let hash = |fields: &mut dyn Iterator<Item = crate::ir::FieldRef>| -> u64 {
        fields
            .map(|f| {
                let b = field_bound(cx, rid, f, mode);
                b.len.saturating_mul(b.items.max(1)).saturating_add(8)
            })
            .fold(0u64, u64::saturating_add)
    };
    match &rule.kind {
        RuleKind::Single { .. } => 0,
        RuleKind::Sequence(seq) => {
            let keys = hash(&mut seq.steps.iter().flat_map(|s| s.key.iter().copied()));
            let captures = seq
                .captures
                .iter()
                .map(|c| {
                    let b = field_bound(cx, rid, c.field, mode);
                    b.len
                        .min(u64::from(seq.state.capture_len))
                        .saturating_mul(b.items.max(1))
                })
                .fold(0u64, u64::saturating_add);
            STATE_UPDATE_STEPS
                .saturating_mul(seq.steps.len() as u64)
                .saturating_add(keys)
                .saturating_add(captures)
                .saturating_add(u64::from(seq.state.per_key))
        }
        RuleKind::Threshold(t) => {
            let keys = t
                .key
                .iter()
                .map(|k| hash(&mut k.iter().copied()))
                .max()
                .unwrap_or(0);
            let distinct = match t.counting {
                Counting::Count => 0,
                Counting::Distinct(f) => hash(&mut std::iter::once(f)),
            };
            STATE_UPDATE_STEPS
                .saturating_add(keys)
                .saturating_add(distinct)
                .saturating_add(u64::from(t.state.per_key))
        }
    }
}
