//! The engine's side of correlation: one state table per stateful rule (the state module's
//! [`SequenceState`] / [`ThresholdState`], the ONE implementation both evaluators share), and
//! per (rule, event type) a plan of what to read from an event: key fields, the steps it can
//! fill and their conditions, the captures, a threshold's distinct field.
//!
//! Input: a verified program and its binding; output: [`Stateful`] entries the engine drives
//! from `process`. Nothing here evaluates an expression (the engine's evaluator does) and
//! nothing allocates per event: keys are hashed in place ([`KeyHasher`]), captured values
//! are borrowed from the event until the table copies them.

use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::bind::Binding;
use crate::event::Event;
use crate::hash::{rule_hash, Digest32};
use crate::ir::{Counting, ExprId, FieldRef, Program, Rule, RuleId, RuleKind};
use crate::schema::{EventTypeId, FieldIndex};
use crate::state::{
    value_hash, AmountKind, AmountParams, AnyOrderParams, AnyOrderState, CaptureSpec, CaptureValue,
    CaptureView, Counters, KeyHash, KeyHasher, KeyPart, KeyState, SequenceParams, SequenceState,
    StateError, ThresholdParams, ThresholdState, TimeConfig, ValueHash,
};
use crate::types::{Scalar, Ty};

/// A field as read on one event type: where it is and its scalar type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Read {
    pub(crate) index: FieldIndex,
    pub(crate) scalar: Scalar,
}

/// What a stateful rule reads from events of one type.
#[derive(Clone, Debug, Default)]
pub(crate) struct Plan {
    /// The key fields (`by`), in order; empty: one key per host.
    pub(crate) key: Vec<Read>,
    /// Sequence: the steps events of this type can fill.
    pub(crate) steps: Vec<usize>,
    /// Sequence: each capture's field on this type (`None` for captures of other types'
    /// steps: the table asks only for the captures of the step that matched).
    pub(crate) captures: Vec<Option<Read>>,
    /// Threshold: the counted field of `distinct(F)`.
    pub(crate) distinct: Option<Read>,
    /// Threshold: the summed field of `sum(F)` / `avg(F)` (an int).
    pub(crate) amount: Option<Read>,
}

/// A rule's table.
#[derive(Debug)]
pub(crate) enum Table {
    /// A sequence (boxed, as is a threshold: their structs differ in size by hundreds of
    /// bytes; one table per rule).
    Sequence(Box<SequenceState>),
    /// A threshold (`count`, `distinct`, `sum`, `avg`).
    Threshold(Box<ThresholdState>),
    /// A `sequence any order`.
    AnyOrder(Box<AnyOrderState>),
}

impl Table {
    pub(crate) fn counters(&self) -> Counters {
        match self {
            Table::Sequence(s) => s.counters(),
            Table::Threshold(t) => t.counters(),
            Table::AnyOrder(t) => t.counters(),
        }
    }

    pub(crate) fn note_absent_key(&mut self) {
        match self {
            Table::Sequence(s) => s.note_absent_key(),
            Table::Threshold(t) => t.note_absent_key(),
            Table::AnyOrder(t) => t.note_absent_key(),
        }
    }

    pub(crate) fn measured_bytes(&self) -> u64 {
        match self {
            Table::Sequence(s) => s.measured_bytes(),
            Table::Threshold(t) => t.measured_bytes(),
            Table::AnyOrder(t) => t.measured_bytes(),
        }
    }

    pub(crate) fn keys(&self) -> usize {
        match self {
            Table::Sequence(s) => s.keys(),
            Table::Threshold(t) => t.keys(),
            Table::AnyOrder(t) => t.keys(),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        match self {
            Table::Sequence(s) => s.capacity(),
            Table::Threshold(t) => t.capacity(),
            Table::AnyOrder(t) => t.capacity(),
        }
    }
}

/// What must be equal for a rule's table to be handed from one engine to the next: the
/// rule's id, its canonical IR hash, and the table's layout (capture specs from the host's
/// bounds, time configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) id: String,
    pub(crate) hash: Digest32,
    pub(crate) captures: Vec<CaptureSpec>,
    pub(crate) time: TimeConfig,
}

/// One stateful rule of an engine.
#[derive(Debug)]
pub(crate) struct Stateful {
    pub(crate) rule: RuleId,
    pub(crate) identity: Identity,
    /// Per host event type id: the plan, when the rule sees that type.
    plans: Vec<Option<Plan>>,
    /// Sequence: each step's condition root.
    pub(crate) step_conds: Vec<Option<ExprId>>,
    /// Threshold: the condition root.
    pub(crate) cond: Option<ExprId>,
    /// The verifier's bound on this table's bytes.
    pub(crate) bound_bytes: u64,
    table: Mutex<Table>,
}

/// Why a rule's table could not be built (the verifier refuses such rules first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BuildError {
    /// A capture the tables cannot store (a list field).
    Capture(String),
    /// The table refused its parameters.
    State(String, StateError),
}

fn read_of(binding: &Binding, f: FieldRef, ev: EventTypeId) -> Option<Read> {
    let b = binding.field_on(f, ev)?;
    match b.ty {
        Ty::Scalar(s) => Some(Read {
            index: b.index,
            scalar: s,
        }),
        Ty::List(_) => None,
    }
}

fn plans_len(binding: &Binding, rule: RuleId) -> usize {
    binding
        .rule_events(rule)
        .iter()
        .map(|e| usize::from(e.0) + 1)
        .max()
        .unwrap_or(0)
}

impl Stateful {
    /// What this rule's table holds for `event`'s key, read-only (for `vigil why`); `None`
    /// when the rule does not see the event's type.
    pub(crate) fn key_state(&self, event: &Event<'_>) -> Option<KeyState> {
        let plan = self.plan(event.ty())?;
        let Some(key) = key_of(event, &plan.key) else {
            return Some(KeyState::AbsentKey);
        };
        let Some(t) = event.time_opt() else {
            return Some(KeyState::NoTime);
        };
        Some(match &*self.lock() {
            Table::Sequence(s) => KeyState::Sequence(s.partials(key)),
            Table::AnyOrder(a) => KeyState::AnyOrder(a.held(key)),
            Table::Threshold(th) => KeyState::Threshold(th.window(key, t)),
        })
    }

    /// Calls `f` with the captures of the partial match of `steps_done` steps that `event`'s
    /// key holds (a sequence's; read-only); `None` when there is none.
    pub(crate) fn with_partial<R>(
        &self,
        event: &Event<'_>,
        steps_done: usize,
        f: impl FnOnce(&CaptureView<'_>) -> R,
    ) -> Option<R> {
        let plan = self.plan(event.ty())?;
        let key = key_of(event, &plan.key)?;
        match &mut *self.lock() {
            Table::Sequence(s) => s.with_partial(key, steps_done, f),
            Table::Threshold(_) | Table::AnyOrder(_) => None,
        }
    }

    /// The entry of rule `rid` (`None` for a single-event rule).
    pub(crate) fn build(
        program: &Program,
        binding: &Binding,
        rid: RuleId,
        rule: &Rule,
        bound_bytes: u64,
        time: TimeConfig,
    ) -> Option<Result<Stateful, BuildError>> {
        let hash = rule_hash(program, rule);
        let mut plans: Vec<Option<Plan>> = vec![None; plans_len(binding, rid)];
        let out = match &rule.kind {
            RuleKind::Single { .. } => return None,
            RuleKind::Sequence(seq) | RuleKind::SequenceAnyOrder(seq) => {
                let Some(specs) = crate::verify::state::capture_specs(program, binding, rid, seq)
                else {
                    return Some(Err(BuildError::Capture(rule.name.clone())));
                };
                let step_events = binding.step_events(rid);
                for (k, &ev) in step_events.iter().enumerate() {
                    let Some(slot) = plans.get_mut(usize::from(ev.0)) else {
                        continue;
                    };
                    let plan = slot.get_or_insert_with(|| Plan {
                        key: seq
                            .steps
                            .get(k)
                            .map(|s| {
                                s.key
                                    .iter()
                                    .filter_map(|f| read_of(binding, *f, ev))
                                    .collect()
                            })
                            .unwrap_or_default(),
                        captures: seq
                            .captures
                            .iter()
                            .map(|c| {
                                let own = step_events.get(usize::from(c.step)) == Some(&ev);
                                own.then(|| read_of(binding, c.field, ev)).flatten()
                            })
                            .collect(),
                        ..Plan::default()
                    });
                    plan.steps.push(k);
                }
                let table = if matches!(rule.kind, RuleKind::SequenceAnyOrder(_)) {
                    AnyOrderState::new(AnyOrderParams {
                        steps: seq.steps.len(),
                        within_ns: seq.within_ns,
                        capacity: seq.state.capacity,
                        time,
                    })
                    .map(|t| Table::AnyOrder(Box::new(t)))
                } else {
                    SequenceState::new(SequenceParams {
                        steps: seq.steps.len(),
                        within_ns: seq.within_ns,
                        capacity: seq.state.capacity,
                        captures: &specs,
                        time,
                    })
                    .map(|t| Table::Sequence(Box::new(t)))
                }
                .map_err(|e| BuildError::State(rule.name.clone(), e));
                table.map(|table| Stateful {
                    rule: rid,
                    identity: Identity {
                        id: rule.id.clone(),
                        hash,
                        captures: specs.clone(),
                        time,
                    },
                    plans,
                    step_conds: seq.steps.iter().map(|s| s.cond).collect(),
                    cond: None,
                    bound_bytes,
                    table: Mutex::new(table),
                })
            }
            RuleKind::Threshold(t) => {
                for &ev in binding.rule_events(rid) {
                    let name = binding.event_name(ev);
                    let Some(i) = t.events.iter().position(|e| e == name) else {
                        continue;
                    };
                    let Some(slot) = plans.get_mut(usize::from(ev.0)) else {
                        continue;
                    };
                    *slot = Some(Plan {
                        key: t
                            .key
                            .get(i)
                            .map(|k| k.iter().filter_map(|f| read_of(binding, *f, ev)).collect())
                            .unwrap_or_default(),
                        distinct: match t.counting {
                            Counting::Distinct(f) => read_of(binding, f, ev),
                            _ => None,
                        },
                        amount: match t.counting {
                            Counting::Sum(f) | Counting::Avg(f) => read_of(binding, f, ev),
                            _ => None,
                        },
                        ..Plan::default()
                    });
                }
                let table = match t.counting {
                    Counting::Sum(_) | Counting::Avg(_) => ThresholdState::amounts(AmountParams {
                        kind: if matches!(t.counting, Counting::Avg(_)) {
                            AmountKind::Avg
                        } else {
                            AmountKind::Sum
                        },
                        threshold: t.count,
                        within_ns: t.within_ns,
                        capacity: t.state.capacity,
                        per_key: t.state.per_key,
                        time,
                    })
                    .map(|a| Table::Threshold(Box::new(a))),
                    Counting::Count | Counting::Distinct(_) => {
                        ThresholdState::new(ThresholdParams {
                            count: u32::try_from(t.count).unwrap_or(u32::MAX),
                            within_ns: t.within_ns,
                            capacity: t.state.capacity,
                            distinct: matches!(t.counting, Counting::Distinct(_)),
                            time,
                        })
                        .map(|th| Table::Threshold(Box::new(th)))
                    }
                }
                .map_err(|e| BuildError::State(rule.name.clone(), e));
                table.map(|tab| Stateful {
                    rule: rid,
                    identity: Identity {
                        id: rule.id.clone(),
                        hash,
                        captures: Vec::new(),
                        time,
                    },
                    plans,
                    step_conds: Vec::new(),
                    cond: t.cond,
                    bound_bytes,
                    table: Mutex::new(tab),
                })
            }
        };
        Some(out)
    }

    /// The plan for events of type `ty`.
    pub(crate) fn plan(&self, ty: EventTypeId) -> Option<&Plan> {
        self.plans.get(usize::from(ty.0)).and_then(Option::as_ref)
    }

    /// The table, locked. A poisoned lock (a panic while it was held: a bug, since evaluator
    /// panics are caught before they reach the table) is taken over as it is: the table's
    /// invariants hold between its operations, and its memory stays bounded whatever.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Key hashes already computed for the current event, so rules keyed on the same fields hash
/// once per event (a handful of entries on the stack; key field lists longer than
/// [`CACHED_KEY_FIELDS`] are not cached).
#[derive(Debug, Default)]
pub(crate) struct KeyCache {
    entries: [Option<CachedKey>; 4],
    next: usize,
}

/// Key field lists up to this long are cached.
const CACHED_KEY_FIELDS: usize = 4;

#[derive(Clone, Copy, Debug)]
struct CachedKey {
    fields: [u16; CACHED_KEY_FIELDS],
    len: usize,
    key: Option<KeyHash>,
}

impl KeyCache {
    /// The hash naming the clock of `event`'s host ([`crate::state::host_hash`]: the key of
    /// no `by` fields), remembered for this event.
    pub(crate) fn host(&mut self, event: &Event<'_>) -> KeyHash {
        self.key(event, &[])
            .unwrap_or_else(|| KeyHasher::new(event.host()).finish())
    }

    /// [`key_of`], remembered for this event.
    pub(crate) fn key(&mut self, event: &Event<'_>, key: &[Read]) -> Option<KeyHash> {
        if key.len() > CACHED_KEY_FIELDS {
            return key_of(event, key);
        }
        let mut fields = [0u16; CACHED_KEY_FIELDS];
        for (slot, r) in fields.iter_mut().zip(key) {
            *slot = r.index.0;
        }
        for c in self.entries.iter().flatten() {
            if c.len == key.len() && c.fields == fields {
                return c.key;
            }
        }
        let hash = key_of(event, key);
        let len = self.entries.len();
        if let Some(e) = self.entries.get_mut(self.next % len) {
            *e = Some(CachedKey {
                fields,
                len: key.len(),
                key: hash,
            });
        }
        self.next = self.next.wrapping_add(1);
        hash
    }
}

/// The key hash of `event` for key fields `key` (with its `host`); `None` when a key field
/// is absent.
pub(crate) fn key_of(event: &Event<'_>, key: &[Read]) -> Option<KeyHash> {
    let mut h = KeyHasher::new(event.host());
    for r in key {
        if !event.is_present(r.index) {
            return None;
        }
        h.push(part_of(event, *r));
    }
    Some(h.finish())
}

fn part_of<'e>(event: &'e Event<'_>, r: Read) -> KeyPart<'e> {
    match r.scalar {
        Scalar::Int => KeyPart::Int(event.get_int(r.index)),
        Scalar::Bool => KeyPart::Bool(event.get_bool(r.index)),
        Scalar::Ip => KeyPart::Ip(event.get_ip(r.index)),
        Scalar::Str | Scalar::Cidr => KeyPart::Str(event.get_str(r.index)),
    }
}

/// The hash of a distinct field's value; `None` when absent.
pub(crate) fn value_of(event: &Event<'_>, r: Read) -> Option<ValueHash> {
    event
        .is_present(r.index)
        .then(|| value_hash(part_of(event, r)))
}

/// The int value of `read` on `event` (`sum`/`avg`), `None` when absent or not an int.
pub(crate) fn amount_of(event: &Event<'_>, r: Read) -> Option<i64> {
    (r.scalar == Scalar::Int && event.is_present(r.index)).then(|| event.get_int(r.index))
}

/// Capture `read`'s value on `event`.
pub(crate) fn capture_of<'e>(event: &'e Event<'_>, read: Option<Read>) -> CaptureValue<'e> {
    let Some(r) = read else {
        return CaptureValue::Absent;
    };
    if !event.is_present(r.index) {
        return CaptureValue::Absent;
    }
    match r.scalar {
        Scalar::Int => CaptureValue::Int(event.get_int(r.index)),
        Scalar::Bool => CaptureValue::Bool(event.get_bool(r.index)),
        Scalar::Ip => CaptureValue::Ip(event.get_ip(r.index)),
        Scalar::Str | Scalar::Cidr => CaptureValue::Str {
            value: event.get_str(r.index),
            truncated: event.is_truncated(r.index),
        },
    }
}
