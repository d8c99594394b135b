//! The one random-program generator: well-typed IR programs within the verifier's default
//! limits and budget, deterministic in a seed, for the differential tests of the interpreter
//! and the JIT, the verifier's property tests and the fuzz targets.
//!
//! - [`endpoint`]: programs over the standard `endpoint` schema mixing single, sequence and
//!   threshold rules ([`program_from_seed`], and [`arbitrary_program`] as a proptest strategy);
//! - [`dense`]: single-event programs over a tiny schema with every field type and tight
//!   bounds, where generated events reach every bound.
//!
//! Both read the builtins from the runtime's table ([`vigil_runtime::builtins::BUILTINS`]) by
//! signature and cost, never by a list of names: a builtin added to the table with a signature
//! a position can take is generated without touching this module.

pub mod dense;
pub mod endpoint;

use std::sync::OnceLock;

use vigil_runtime::builtins::{Builtin, ParamTy, BUILTINS};
use vigil_runtime::types::{Scalar, Ty};

use crate::rng::SplitMix64;

pub use endpoint::{arbitrary_program, endpoint_schema, program_from_seed};

/// The builtins a generator may call in each position, by signature, in table order (the
/// int-valued ones cheapest first).
#[derive(Debug)]
pub(crate) struct Table {
    /// `string -> string`.
    pub(crate) str_to_str: Vec<&'static str>,
    /// `string -> int`, cheapest first.
    pub(crate) str_to_int: Vec<&'static str>,
    /// `string -> int` whose cost does not grow with the argument (for quantifier bodies).
    pub(crate) cheap_str_to_int: Vec<&'static str>,
    /// `(string, int, int) -> string`: slices.
    pub(crate) slices: Vec<&'static str>,
    /// `(string or list) -> int`: lengths.
    pub(crate) lengths: Vec<&'static str>,
    /// `(string field) -> bool`: a field's flags.
    pub(crate) field_flags: Vec<&'static str>,
}

/// One of `names` (never empty: see [`table`]). A single candidate costs no random draw, so a
/// seed keeps generating the same program (and committed fuzz regressions keep replaying what
/// they found) until the table offers a second builtin for that position.
pub(crate) fn choose(rng: &mut SplitMix64, names: &[&'static str]) -> &'static str {
    match names {
        [only] => only,
        _ => rng.pick(names),
    }
}

/// Whether a parameter accepts a `string` expression.
fn takes_str(p: &ParamTy) -> bool {
    matches!(p, ParamTy::Exact(t) if *t == Ty::STR) || *p == ParamTy::StrOrList
}

fn names<'a>(rows: impl Iterator<Item = &'a Builtin>) -> Vec<&'static str> {
    rows.map(|b| b.name).collect()
}

/// The builtin table, sorted by what a generator can call where.
///
/// # Panics
/// When the table offers no builtin for one of the positions: the generators would stop
/// covering calls, which is a test-support bug to fix here.
pub(crate) fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let unary = |ret: Ty| {
            BUILTINS
                .iter()
                .filter(move |b| b.ret == ret && b.params.len() == 1 && takes_str(&b.params[0]))
        };
        let mut by_cost: Vec<&Builtin> = unary(Ty::INT).collect();
        by_cost.sort_by_key(|b| b.cost.base);
        let constant_cost = |b: &&Builtin| b.cost.per_byte.is_empty() && b.cost.per_item.is_empty();
        let table = Table {
            str_to_str: names(unary(Ty::STR).filter(|b| b.params[0] == ParamTy::Exact(Ty::STR))),
            str_to_int: names(by_cost.iter().copied()),
            cheap_str_to_int: names(by_cost.iter().copied().filter(constant_cost)),
            slices: names(BUILTINS.iter().filter(|b| {
                b.ret == Ty::STR
                    && b.params
                        == [
                            ParamTy::Exact(Ty::STR),
                            ParamTy::Exact(Ty::INT),
                            ParamTy::Exact(Ty::INT),
                        ]
            })),
            lengths: names(unary(Ty::INT).filter(|b| b.params[0] == ParamTy::StrOrList)),
            field_flags: names(
                BUILTINS
                    .iter()
                    .filter(|b| b.ret == Ty::BOOL && b.params == [ParamTy::FieldRef(Scalar::Str)]),
            ),
        };
        let positions = [
            &table.str_to_str,
            &table.str_to_int,
            &table.cheap_str_to_int,
            &table.slices,
            &table.lengths,
            &table.field_flags,
        ];
        assert!(
            positions.iter().all(|p| !p.is_empty()),
            "the builtin table offers nothing for a generator position: {table:?}"
        );
        table
    })
}

#[cfg(test)]
mod tests {
    use super::table;

    #[test]
    fn every_builtin_of_the_table_is_generated_somewhere() {
        let t = table();
        let covered: Vec<&str> = [
            &t.str_to_str,
            &t.str_to_int,
            &t.slices,
            &t.lengths,
            &t.field_flags,
        ]
        .into_iter()
        .flatten()
        .copied()
        .collect();
        for b in vigil_runtime::builtins::BUILTINS {
            assert!(covered.contains(&b.name), "`{}` is never generated", b.name);
        }
    }
}
