//! The state model: worst-case bytes of a stateful rule's table, and the steps its update takes
//! per event (E0426, E0427; E0627 when only looser host bounds break the proof).
//!
//! The bytes are not a model of the tables but their exact upper bound: this module calls the
//! state module's own bound functions ([`crate::state::sequence_state_bound_bytes`],
//! [`crate::state::threshold_state_bound_bytes`]) with the very parameters the engine builds
//! the tables from ([`capture_specs`]: each capture's [`CaptureSpec`] from the HOST field's
//! bounds through the binding). A table's `measured_bytes()` never exceeds that bound, so the
//! verifier's number is a proof about the engine's memory, not an estimate.
//!
//! A sequence that captures a list field cannot be stored (the tables keep scalars and
//! strings only): its bound is `u64::MAX`, which no budget admits, so the rule is refused.
//!
//! The byte constants below are informational (what a key, a time, a value hash take); the
//! bound functions are the arithmetic. Per event, a stateful rule also hashes its key fields,
//! copies its captures, and touches up to `per_key` entries (expiry): [`STATE_UPDATE_STEPS`]
//! plus those bytes, added to its steps.

use super::cost::{field_bound, Bounds};
use super::Cx;
use crate::bind::Binding;
use crate::ir::{Counting, Program, Rule, RuleId, RuleKind, SequenceDef};
use crate::state::{
    any_order_state_bound_bytes, sequence_state_bound_bytes, threshold_state_bound_bytes,
    CaptureSpec,
};

/// Bytes of a key's hash.
pub const KEY_HASH_BYTES: u64 = 16;
/// Bytes of a stored time.
pub const TIMESTAMP_BYTES: u64 = 8;
/// Bytes of a distinct value's hash.
pub const VALUE_HASH_BYTES: u64 = 8;
/// Bytes of a captured value's slot (pointer or value, length).
pub const CAPTURE_HEADER_BYTES: u64 = 16;
/// Fixed bytes per key of a state table's key slot (key hash, host hash, last update, two
/// links); each table also keeps as many hosts' clocks, one such slot each.
pub const STATE_ENTRY_OVERHEAD_BYTES: u64 = 48;
/// Fixed steps of a stateful rule's update per event.
pub const STATE_UPDATE_STEPS: u64 = 64;

/// The captures of sequence `seq` (rule `rule`) as the engine stores them: one
/// [`CaptureSpec`] per capture, strings cut to `min(capture_len, the HOST field's max_len)`
/// (for a field read on several event types, the largest of them). `None` when a capture
/// cannot be stored (a list field, or a field out of range: the verifier refuses both).
/// The engine builds its tables from exactly this, so the bound below is theirs.
pub(crate) fn capture_specs(
    program: &Program,
    binding: &Binding,
    rule: RuleId,
    seq: &SequenceDef,
) -> Option<Vec<CaptureSpec>> {
    specs_with(program, seq, |f| {
        let mut len = binding.field(f).map_or(0, |b| u64::from(b.max_len));
        for &ev in binding.rule_events(rule) {
            if let Some(b) = binding.field_on(f, ev) {
                len = len.max(u64::from(b.max_len));
            }
        }
        len
    })
}

fn specs_with(
    program: &Program,
    seq: &SequenceDef,
    mut max_len: impl FnMut(crate::ir::FieldRef) -> u64,
) -> Option<Vec<CaptureSpec>> {
    seq.captures
        .iter()
        .map(|c| {
            let ty = program.fields.get(c.field.0 as usize)?.ty;
            CaptureSpec::for_type(c.step, ty, max_len(c.field), seq.state.capture_len)
        })
        .collect()
}

/// Worst-case state bytes of one rule: the state module's bound for the table the engine
/// builds (see the module docs).
pub(crate) fn rule_bytes(cx: &Cx<'_>, rid: RuleId, rule: &Rule, mode: Bounds) -> u64 {
    match &rule.kind {
        RuleKind::Single { .. } => 0,
        RuleKind::SequenceAnyOrder(seq) => {
            any_order_state_bound_bytes(seq.steps.len(), seq.state.capacity)
        }
        RuleKind::Sequence(seq) => {
            let specs = match mode {
                Bounds::Host => capture_specs(cx.program, cx.binding, rid, seq),
                Bounds::Assumed => {
                    specs_with(cx.program, seq, |f| field_bound(cx, rid, f, mode).len)
                }
            };
            match specs {
                Some(specs) => {
                    sequence_state_bound_bytes(seq.steps.len(), seq.state.capacity, &specs)
                }
                None => u64::MAX,
            }
        }
        RuleKind::Threshold(t) if t.counting.is_amount() => {
            threshold_state_bound_bytes(t.state.capacity, t.state.per_key, true)
        }
        RuleKind::Threshold(t) => threshold_state_bound_bytes(
            t.state.capacity,
            u32::try_from(t.count).unwrap_or(u32::MAX),
            matches!(t.counting, Counting::Distinct(_)),
        ),
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
        RuleKind::Sequence(seq) | RuleKind::SequenceAnyOrder(seq) => {
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
                Counting::Count | Counting::Sum(_) | Counting::Avg(_) => 0,
                Counting::Distinct(f) => hash(&mut std::iter::once(f)),
            };
            STATE_UPDATE_STEPS
                .saturating_add(keys)
                .saturating_add(distinct)
                .saturating_add(u64::from(t.state.per_key))
        }
    }
}
