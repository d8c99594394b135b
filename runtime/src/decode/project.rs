//! Projection: which fields of which event types a decoder produces ([`FieldSet`]), and the
//! set a loaded program needs ([`FieldSet::for_binding`]).
//!
//! A decoder told a projection ([`super::Decoder::project`]) decodes only those fields: the
//! JSON values of every other key are skipped while parsing (checked for JSON syntax, never
//! unescaped, coerced or copied), and mapping routes do not look them up. What a program needs
//! is every field its binding resolves (conditions, `emit` templates, `fields [..]`, state
//! keys, captures, the same-named fields of rules on several event types) plus `time` and
//! `host` of every event type (alerts carry them, correlation windows read `time`).

use crate::bind::Binding;
use crate::schema::{EventTypeId, FieldIndex, Schema};

/// A set of fields, per event type: a bit per field index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    /// Per event type id, the bits of its field indexes.
    types: Vec<Vec<u64>>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// Every field of every event type of `schema`: a projection that skips nothing.
    pub fn all(schema: &Schema) -> FieldSet {
        let mut set = FieldSet::new();
        for (t, et) in schema.events.iter().enumerate() {
            let Ok(t) = u16::try_from(t) else { break };
            for f in 0..et.fields.len() {
                let Ok(f) = u16::try_from(f) else { break };
                set.insert(EventTypeId(t), FieldIndex(f));
            }
        }
        set
    }

    /// What a program bound by `binding` to the host schema `schema` reads
    /// ([`Binding::fields_read`]), plus `time` and `host` of every event type of `schema`.
    pub fn for_binding(schema: &Schema, binding: &Binding) -> FieldSet {
        let mut set = FieldSet::new();
        for (ty, field) in binding.fields_read() {
            set.insert(ty, field);
        }
        for (t, et) in schema.events.iter().enumerate() {
            let Ok(t) = u16::try_from(t) else { break };
            for name in ["time", "host"] {
                if let Some((ix, _)) = et.field(name) {
                    set.insert(EventTypeId(t), ix);
                }
            }
        }
        set
    }

    /// Adds field `field` of event type `ty`.
    pub fn insert(&mut self, ty: EventTypeId, field: FieldIndex) {
        let t = usize::from(ty.0);
        if self.types.len() <= t {
            self.types.resize_with(t + 1, Vec::new);
        }
        let Some(bits) = self.types.get_mut(t) else {
            return;
        };
        let (word, bit) = (usize::from(field.0) / 64, field.0 % 64);
        if bits.len() <= word {
            bits.resize(word + 1, 0);
        }
        if let Some(w) = bits.get_mut(word) {
            *w |= 1 << bit;
        }
    }

    /// Whether the set holds field `field` of event type `ty`.
    pub fn contains(&self, ty: EventTypeId, field: FieldIndex) -> bool {
        let (word, bit) = (usize::from(field.0) / 64, field.0 % 64);
        self.types
            .get(usize::from(ty.0))
            .and_then(|bits| bits.get(word))
            .is_some_and(|w| w & (1 << bit) != 0)
    }

    /// Adds every field of `other`.
    pub fn union_with(&mut self, other: &FieldSet) {
        for (t, bits) in other.types.iter().enumerate() {
            if self.types.len() <= t {
                self.types.resize_with(t + 1, Vec::new);
            }
            if let Some(mine) = self.types.get_mut(t) {
                if mine.len() < bits.len() {
                    mine.resize(bits.len(), 0);
                }
                for (m, b) in mine.iter_mut().zip(bits) {
                    *m |= b;
                }
            }
        }
    }

    /// The fields, by event type then field index.
    pub fn iter(&self) -> impl Iterator<Item = (EventTypeId, FieldIndex)> + '_ {
        self.types.iter().enumerate().flat_map(|(t, bits)| {
            bits.iter().enumerate().flat_map(move |(w, &word)| {
                (0..64u32)
                    .filter(move |b| word & (1 << b) != 0)
                    .filter_map(move |b| {
                        let t = u16::try_from(t).ok()?;
                        let f = u16::try_from(w * 64 + b as usize).ok()?;
                        Some((EventTypeId(t), FieldIndex(f)))
                    })
            })
        })
    }

    /// How many fields the set holds.
    pub fn len(&self) -> usize {
        self.types
            .iter()
            .flatten()
            .map(|w| w.count_ones() as usize)
            .sum()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.types.iter().flatten().all(|&w| w == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_contains_iter_union() {
        let mut a = FieldSet::new();
        assert!(a.is_empty());
        a.insert(EventTypeId(2), FieldIndex(70));
        a.insert(EventTypeId(0), FieldIndex(1));
        a.insert(EventTypeId(0), FieldIndex(1));
        assert!(a.contains(EventTypeId(2), FieldIndex(70)));
        assert!(!a.contains(EventTypeId(2), FieldIndex(6)));
        assert!(!a.contains(EventTypeId(9), FieldIndex(0)));
        assert_eq!(a.len(), 2);
        let mut b = FieldSet::new();
        b.insert(EventTypeId(1), FieldIndex(0));
        b.union_with(&a);
        assert_eq!(
            b.iter().collect::<Vec<_>>(),
            vec![
                (EventTypeId(0), FieldIndex(1)),
                (EventTypeId(1), FieldIndex(0)),
                (EventTypeId(2), FieldIndex(70)),
            ]
        );
        let schema = Schema::endpoint();
        let all = FieldSet::all(&schema);
        let total: usize = schema.events.iter().map(|e| e.fields.len()).sum();
        assert_eq!(all.len(), total);
    }
}
