//! Dispatch: which rules run on an event of a given type, built once per program, and the
//! check that an event has the shape the program was bound to.
//!
//! Input: a program and its [`Binding`]; output: a [`Dispatch`] table: per host event type, the
//! single-event rules to evaluate, the stateful rules (sequence, threshold) that see it, and
//! all of them together, each in program order; per event type, the slots the program reads
//! (conditions, keys, captures, distinct fields) with the kind of value each must hold. The
//! whole-bundle literal prefilter, which narrows a type's single-event rules down to those
//! whose required literals occur in the event, is [`crate::prefilter`].

use crate::bind::{for_each_field_ref, Binding};
use crate::event::{Event, Kind};
use crate::ir::{Program, RuleId, RuleKind};
use crate::schema::EventTypeId;

/// Per event type: the rules to run, and what the program reads.
#[derive(Clone, Debug, Default)]
struct PerType {
    rules: Vec<RuleId>,
    stateful: Vec<RuleId>,
    all: Vec<RuleId>,
    /// `(field index, kind)` of every slot a rule reads on this type.
    reads: Vec<(u16, Kind)>,
}

/// Rules per event type, built once.
#[derive(Clone, Debug, Default)]
pub(crate) struct Dispatch {
    types: Vec<PerType>,
}

impl Dispatch {
    /// Builds the table for `program` bound by `binding`.
    pub(crate) fn new(program: &Program, binding: &Binding) -> Dispatch {
        let mut types: Vec<PerType> = Vec::new();
        for (i, rule) in program.rules.iter().enumerate() {
            let Ok(id) = u32::try_from(i) else { break };
            let rule_id = RuleId(id);
            let events = binding.rule_events(rule_id);
            for ev in events {
                let t = usize::from(ev.0);
                if types.len() <= t {
                    types.resize_with(t + 1, PerType::default);
                }
                let Some(per) = types.get_mut(t) else {
                    continue;
                };
                match rule.kind {
                    RuleKind::Single { .. } => per.rules.push(rule_id),
                    RuleKind::Sequence(_)
                    | RuleKind::SequenceAnyOrder(_)
                    | RuleKind::Threshold(_) => per.stateful.push(rule_id),
                }
                per.all.push(rule_id);
                for_each_field_ref(rule, |f| {
                    if let Some(b) = binding.field_on(f, *ev) {
                        let read = (b.index.0, Kind::of(b.ty));
                        if !per.reads.contains(&read) {
                            per.reads.push(read);
                        }
                    }
                });
            }
        }
        Dispatch { types }
    }

    /// The single-event rules that run on events of type `ty`, in program order.
    pub(crate) fn rules_for(&self, ty: EventTypeId) -> &[RuleId] {
        self.types
            .get(usize::from(ty.0))
            .map_or(&[], |p| p.rules.as_slice())
    }

    /// How many stateful rules (sequences, thresholds) see events of type `ty`.
    pub(crate) fn stateful_for(&self, ty: EventTypeId) -> u32 {
        self.types
            .get(usize::from(ty.0))
            .map_or(0, |p| u32::try_from(p.stateful.len()).unwrap_or(u32::MAX))
    }

    /// The stateful rules (sequences, thresholds) that see events of type `ty`, in program
    /// order.
    pub(crate) fn stateful_rules_for(&self, ty: EventTypeId) -> &[RuleId] {
        self.types
            .get(usize::from(ty.0))
            .map_or(&[], |p| p.stateful.as_slice())
    }

    /// Every rule that runs on events of type `ty`, single-event and stateful, in program
    /// order.
    pub(crate) fn all_rules_for(&self, ty: EventTypeId) -> &[RuleId] {
        self.types
            .get(usize::from(ty.0))
            .map_or(&[], |p| p.all.as_slice())
    }

    /// Whether `event` has every slot the program reads on its type, holding the kind of value
    /// the binding expects: an event built against another schema is refused before any rule
    /// (in particular JIT code, which reads slots by fixed offsets) sees it.
    pub(crate) fn fits(&self, event: &Event<'_>) -> bool {
        let Some(per) = self.types.get(usize::from(event.ty().0)) else {
            return true; // no rule reads anything on this type
        };
        per.reads
            .iter()
            .all(|&(ix, kind)| event.kind_at(ix) == Some(kind))
    }
}
