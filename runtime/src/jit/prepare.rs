//! The constants compiled code and helpers need, prepared once per program by `jit::compile`.
//!
//! Input: the program's pools (strings, constant lists, regexes) and the builtin calls the
//! translator meets; output: [`Shared`], owned by the `JitProgram` (behind an `Arc` that every
//! `EvalCtx` also holds). Compiled code refers to its entries by index (helpers bounds-check
//! them) or, for strings and constant lists laid out as slots, by address: those addresses
//! point into boxed data that never moves or changes once prepared, and live as long as the
//! `JitProgram` whose code embeds them.

use std::collections::HashMap;

use super::helpers::ArgKind;
use super::JitError;
use crate::builtins::{self, BuiltinId, EvalFn};
use crate::casefold::fold_str;
use crate::event::Slot;
use crate::ir::{ListId, Program, RegexId, StrId};
use crate::ops::{const_value, prepare_list, PreparedList};
use crate::types::Scalar;
use crate::value::Value;

/// A constant string list for `OP any|all [...]`: its items, and folded (for `fold` tests)
/// exactly as the interpreter prepares them.
#[derive(Debug)]
pub(crate) struct StrList {
    pub(crate) items: Vec<String>,
    pub(crate) folded: Vec<String>,
}

/// A constant list for membership: its element type, its items as values (as the interpreter
/// reads them), and string items folded.
#[derive(Debug)]
pub(crate) struct ConstList {
    pub(crate) elem: Scalar,
    pub(crate) values: Vec<Value<'static>>,
    pub(crate) folded: Vec<String>,
}

/// A builtin call site's shape: the registry's `eval` and how to read each argument slot.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) eval: EvalFn,
    pub(crate) params: Vec<ArgKind>,
}

/// Everything prepared, shared by the compiled code, the helpers and every `EvalCtx`.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// String constants; compiled code embeds their addresses.
    pub(crate) strings: Vec<Box<str>>,
    /// Constant lists laid out as slots (for quantifiers and `len`); compiled code embeds
    /// their addresses. String items point into `slot_strings`.
    pub(crate) slot_lists: Vec<Box<[Slot]>>,
    /// The strings `slot_lists` point at.
    pub(crate) slot_strings: Vec<Box<str>>,
    pub(crate) str_lists: Vec<StrList>,
    pub(crate) const_lists: Vec<ConstList>,
    /// Indexed by [`RegexId`].
    pub(crate) regexes: Vec<crate::matcher::Matcher>,
    pub(crate) calls: Vec<Call>,
}

/// [`Shared`] while it is being filled, with the maps that share entries.
#[derive(Debug, Default)]
pub(crate) struct Prepare {
    pub(crate) shared: Shared,
    strings: HashMap<StrId, usize>,
    slot_lists: HashMap<ListId, usize>,
    str_lists: HashMap<ListId, usize>,
    const_lists: HashMap<ListId, usize>,
    calls: HashMap<(BuiltinId, Vec<ArgKind>), usize>,
}

fn addr(p: *const u8) -> u64 {
    p as u64
}

impl Prepare {
    /// Starts with the program's compiled regexes (from the verifier).
    pub(crate) fn new(regexes: Vec<crate::matcher::Matcher>) -> Prepare {
        Prepare {
            shared: Shared {
                regexes,
                ..Shared::default()
            },
            ..Prepare::default()
        }
    }

    /// Address and length of string constant `s`.
    pub(crate) fn string(&mut self, program: &Program, s: StrId) -> Result<(u64, u64), JitError> {
        let ix = match self.strings.get(&s) {
            Some(&ix) => ix,
            None => {
                let text = program
                    .strings
                    .get(s.0 as usize)
                    .ok_or_else(|| JitError::Internal(format!("string #{} out of range", s.0)))?;
                self.shared.strings.push(text.clone().into_boxed_str());
                let ix = self.shared.strings.len() - 1;
                self.strings.insert(s, ix);
                ix
            }
        };
        let text = self
            .shared
            .strings
            .get(ix)
            .ok_or_else(|| JitError::Internal("string table".into()))?;
        Ok((addr(text.as_ptr()), text.len() as u64))
    }

    fn list(program: &Program, l: ListId) -> Result<&crate::ir::ConstList, JitError> {
        program
            .lists
            .get(l.0 as usize)
            .ok_or_else(|| JitError::Internal(format!("list #{} out of range", l.0)))
    }

    /// Address, item count and item type of constant list `l` laid out as slots.
    pub(crate) fn list_slots(
        &mut self,
        program: &Program,
        l: ListId,
    ) -> Result<(u64, u64, Scalar), JitError> {
        let list = Self::list(program, l)?;
        let ix = match self.slot_lists.get(&l) {
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
                            self.shared.slot_strings.push(boxed);
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
                self.shared.slot_lists.push(slots.into_boxed_slice());
                let ix = self.shared.slot_lists.len() - 1;
                self.slot_lists.insert(l, ix);
                ix
            }
        };
        let slots = self
            .shared
            .slot_lists
            .get(ix)
            .ok_or_else(|| JitError::Internal("slot list table".into()))?;
        Ok((addr(slots.as_ptr().cast()), slots.len() as u64, list.elem))
    }

    /// Index of constant string list `l` for `OP any|all`.
    pub(crate) fn str_list(
        &mut self,
        program: &Program,
        l: ListId,
        _fold: bool,
    ) -> Result<usize, JitError> {
        if let Some(&ix) = self.str_lists.get(&l) {
            return Ok(ix);
        }
        let list = Self::list(program, l)?;
        let items: Vec<String> = list
            .items
            .iter()
            .map(|c| const_value(c).as_str().unwrap_or_default().to_owned())
            .collect();
        let folded = items.iter().map(|s| fold_str(s).into_owned()).collect();
        self.shared.str_lists.push(StrList { items, folded });
        let ix = self.shared.str_lists.len() - 1;
        self.str_lists.insert(l, ix);
        Ok(ix)
    }

    /// Index of constant list `l` for membership.
    pub(crate) fn const_list(&mut self, program: &Program, l: ListId) -> Result<usize, JitError> {
        if let Some(&ix) = self.const_lists.get(&l) {
            return Ok(ix);
        }
        let list = Self::list(program, l)?;
        // As the interpreter: string lists are folded once (for `iin`); others are not.
        let PreparedList { values, folded } = prepare_list(list);
        self.shared.const_lists.push(ConstList {
            elem: list.elem,
            values,
            folded,
        });
        let ix = self.shared.const_lists.len() - 1;
        self.const_lists.insert(l, ix);
        Ok(ix)
    }

    /// Index of regex `r` (the verifier compiled them, in program order).
    pub(crate) fn regex(&mut self, r: RegexId) -> Result<usize, JitError> {
        let ix = r.0 as usize;
        if ix < self.shared.regexes.len() {
            Ok(ix)
        } else {
            Err(JitError::Internal(format!("regex #{} out of range", r.0)))
        }
    }

    /// Index of a call to `builtin` with arguments read as `params`.
    pub(crate) fn call(
        &mut self,
        builtin: BuiltinId,
        params: Vec<ArgKind>,
    ) -> Result<usize, JitError> {
        if let Some(&ix) = self.calls.get(&(builtin, params.clone())) {
            return Ok(ix);
        }
        let b = builtins::get(builtin)
            .ok_or_else(|| JitError::Internal(format!("builtin #{} unknown", builtin.0)))?;
        self.shared.calls.push(Call {
            eval: b.eval,
            params: params.clone(),
        });
        let ix = self.shared.calls.len() - 1;
        self.calls.insert((builtin, params), ix);
        Ok(ix)
    }
}
