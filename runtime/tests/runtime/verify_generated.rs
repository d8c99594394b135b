//! The verifier over generated programs (moved here from `runtime/src/verify/tests.rs` when
//! the generator moved to `vigil-test-support`): generated programs almost always verify (cost
//! is the only acceptable refusal), mutated ones fail with a code or verify, and every
//! generated program survives an encode/decode round trip with its hash.

use proptest::prelude::*;
use vigil_runtime::bind::bind;
use vigil_runtime::budget::Budget;
use vigil_runtime::error::ErrorCode;
use vigil_runtime::hash::program_hash;
use vigil_runtime::ir::{CaptureId, ExprId, ExprKind, FieldRef, LocalId, Program, Quant, StrId};
use vigil_runtime::schema::Schema;
use vigil_runtime::types::{Scalar, Ty};
use vigil_runtime::verify::{verify, Verified};
use vigil_test_support::testgen::{
    arbitrary_program, endpoint_schema as endpoint, program_from_seed,
};

fn check(program: Program, schema: &Schema, budget: &Budget) -> Result<Verified, Vec<ErrorCode>> {
    let binding =
        bind(&program, schema).map_err(|v| v.iter().map(|e| e.code).collect::<Vec<_>>())?;
    verify(program, binding, budget).map_err(|v| v.iter().map(|e| e.code).collect())
}

#[test]
fn generated_programs_mostly_verify() {
    let schema = endpoint();
    let mut rejected = Vec::new();
    let total = 300u64;
    for seed in 0..total {
        let program = program_from_seed(seed, schema);
        if let Err(codes) = check(program, schema, &Budget::default()) {
            rejected.push((seed, codes));
        }
    }
    // Cost rejections are expected now and then (several regexes over a 98 KiB field in one
    // rule); anything else is a generator or verifier bug.
    for (seed, codes) in &rejected {
        assert!(
            codes.iter().all(|c| *c == ErrorCode::RuleCostOverBudget),
            "seed {seed}: {codes:?}"
        );
    }
    assert!(
        rejected.len() * 10 < total as usize,
        "{} of {total} rejected",
        rejected.len()
    );
}

/// One structural mutation of a generated program, chosen by `pick`.
fn mutate(program: &mut Program, pick: u64, value: u32) {
    let rules = program.rules.len() as u64;
    let Some(rule) = program.rules.get_mut((pick % rules.max(1)) as usize) else {
        return;
    };
    let n = rule.exprs.len() as u64;
    let Some(expr) = rule.exprs.get_mut(((pick >> 8) % n.max(1)) as usize) else {
        return;
    };
    match (pick >> 16) % 8 {
        0 => expr.ty = Ty::INT,
        1 => expr.ty = Ty::List(Scalar::Str),
        2 => expr.kind = ExprKind::Field(FieldRef(value % 8)),
        3 => expr.kind = ExprKind::Local(LocalId((value % 5) as u16)),
        4 => expr.kind = ExprKind::Captured(CaptureId((value % 2) as u16)),
        5 => expr.kind = ExprKind::Not(ExprId(value % 64)),
        6 => {
            expr.kind = ExprKind::Quant {
                quant: Quant::All,
                local: LocalId((value % 3) as u16),
                list: ExprId(value % 16),
                body: ExprId((value >> 4) % 16),
            }
        }
        _ => expr.kind = ExprKind::Str(StrId(value % 4)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn mutated_programs_fail_with_a_code_or_verify(
        seed in any::<u64>(),
        edits in prop::collection::vec((any::<u64>(), any::<u32>()), 1..4),
    ) {
        let schema = endpoint();
        let mut program = program_from_seed(seed, schema);
        for (pick, value) in edits {
            mutate(&mut program, pick, value);
        }
        match bind(&program, schema) {
            Err(errors) => prop_assert!(!errors.is_empty()),
            Ok(binding) => match verify(program, binding, &Budget::default()) {
                Ok(v) => prop_assert_eq!(v.cost().rules.len(), v.program().rules.len()),
                Err(errors) => {
                    prop_assert!(!errors.is_empty());
                    for e in &errors {
                        prop_assert!(!e.to_string().is_empty());
                    }
                }
            },
        }
    }

    #[test]
    fn generated_programs_hash_and_round_trip(program in arbitrary_program()) {
        let bytes = postcard::to_allocvec(&program).expect("encodes");
        let back: Program = postcard::from_bytes(&bytes).expect("decodes");
        prop_assert_eq!(program_hash(&back), program_hash(&program));
        prop_assert_eq!(back, program);
    }
}
