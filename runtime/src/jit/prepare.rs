//! The constants compiled code embeds by address: string constants and constant lists laid out
//! as slots, prepared as the translator meets them (`jit::JitProgram` compiles rules lazily, so
//! this store grows with each rule compiled).
//!
//! Input: the program's string and list pools; output: addresses of boxed data that never moves
//! nor changes once prepared, owned by the `JitProgram`'s compiler state and dropped only after
//! the code that embeds them is freed. What helpers read by index (constant lists for
//! membership and `any|all`, regexes, builtin rows) is not here: they read the interpreter's own
//! prepared tables (`crate::interp::Interp`), by the program's ids.

use std::collections::HashMap;

use super::JitError;
use crate::event::Slot;
use crate::ir::{ListId, Program, StrId};
use crate::ops::const_value;
use crate::types::Scalar;
use crate::value::Value;

/// The constants compiled code embeds the addresses of, with the maps that share entries.
#[derive(Debug, Default)]
pub(crate) struct Prepare {
    /// String constants.
    strings: Vec<Box<str>>,
    /// Constant lists laid out as slots (for quantifiers and `len`). String items point into
    /// `slot_strings`.
    slot_lists: Vec<Box<[Slot]>>,
    /// The strings `slot_lists` point at.
    slot_strings: Vec<Box<str>>,
    string_ix: HashMap<StrId, usize>,
    slot_list_ix: HashMap<ListId, usize>,
}

fn addr(p: *const u8) -> u64 {
    p as u64
}

impl Prepare {
    /// Address and length of string constant `s`.
    pub(crate) fn string(&mut self, program: &Program, s: StrId) -> Result<(u64, u64), JitError> {
        let ix = match self.string_ix.get(&s) {
            Some(&ix) => ix,
            None => {
                let text = program
                    .strings
                    .get(s.0 as usize)
                    .ok_or_else(|| JitError::Internal(format!("string #{} out of range", s.0)))?;
                // The box's heap bytes do not move when the vector grows.
                self.strings.push(text.clone().into_boxed_str());
                let ix = self.strings.len() - 1;
                self.string_ix.insert(s, ix);
                ix
            }
        };
        let text = self
            .strings
            .get(ix)
            .ok_or_else(|| JitError::Internal("string table".into()))?;
        Ok((addr(text.as_ptr()), text.len() as u64))
    }

    /// Address, item count and item type of constant list `l` laid out as slots.
    pub(crate) fn list_slots(
        &mut self,
        program: &Program,
        l: ListId,
    ) -> Result<(u64, u64, Scalar), JitError> {
        let list = program
            .lists
            .get(l.0 as usize)
            .ok_or_else(|| JitError::Internal(format!("list #{} out of range", l.0)))?;
        let ix = match self.slot_list_ix.get(&l) {
            Some(&ix) => ix,
            None => {
                let mut slots = Vec::with_capacity(list.items.len());
                for item in &list.items {
                    slots.push(match const_value(item) {
                        Value::Bool(b) => Slot::from_bool(b),
                        Value::Int(i) => Slot::from_int(i),
                        Value::Ip(ip) => Slot::from_ip(ip),
                        Value::Str(s) => {
                            let boxed: Box<str> = s.into_owned().into_boxed_str();
                            let slot = Slot::for_str(&boxed);
                            // The box's heap bytes do not move when the box is moved here.
                            self.slot_strings.push(boxed);
                            slot
                        }
                        Value::Cidr(_) | Value::List(_) => {
                            return Err(JitError::Internal(format!(
                                "list #{}: items cannot be slots",
                                l.0
                            )))
                        }
                    });
                }
                self.slot_lists.push(slots.into_boxed_slice());
                let ix = self.slot_lists.len() - 1;
                self.slot_list_ix.insert(l, ix);
                ix
            }
        };
        let slots = self
            .slot_lists
            .get(ix)
            .ok_or_else(|| JitError::Internal("slot list table".into()))?;
        Ok((addr(slots.as_ptr().cast()), slots.len() as u64, list.elem))
    }
}
