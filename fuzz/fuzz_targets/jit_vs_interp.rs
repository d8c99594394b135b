//! A generated program (from the fuzzer's seed) must give the same answer in both engines on
//! an event of each type it runs on, with every field absent.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vigil_runtime::engine::Evaluator;
use vigil_runtime::ir::RuleId;

fuzz_target!(|seed: u64| {
    let schema = vigil_runtime::schema::Schema::endpoint();
    let program = vigil_runtime::testgen::program_from_seed(seed, &schema);
    let Ok(binding) = vigil_runtime::bind::bind(&program, &schema) else { return };
    let budget = vigil_runtime::budget::Budget::default();
    let Ok(verified) = vigil_runtime::verify::verify(program, binding, &budget) else { return };
    let Ok(interp) = vigil_runtime::interp::Interp::new(&verified) else { return };
    let Ok(jit) = vigil_runtime::jit::compile(&verified) else { return };
    for (i, rule) in verified.program().rules.iter().enumerate() {
        for ev in rule.event_types() {
            let Ok(builder) = vigil_runtime::event::EventBuilder::new(&schema, ev) else { continue };
            let event = builder.finish();
            let id = RuleId(i as u32);
            assert_eq!(interp.eval(id, &event).ok(), jit.eval(id, &event).ok());
        }
    }
});
