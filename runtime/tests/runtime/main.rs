//! The runtime's integration tests: one test binary, one module per area. Modules that need the
//! JIT are compiled only with the runtime's `jit` feature, so `cargo test -p vigil-runtime
//! --no-default-features` runs the rest against the interpreter-only runtime.
//!
//! Helpers are modules here ([`counting_alloc`], [`deploy_common`], [`jit_common`]) or come from
//! `vigil-test-support` (the IR builder, the generators, the RNG). [`verify_corpus`] runs the
//! verifier cases of `tests/verify/`.
//!
//! `counting_alloc` installs this binary's global allocator; it counts per thread, so the
//! allocation tests stay exact while the other tests run beside them.

mod counting_alloc;
mod deploy_common;
#[cfg(feature = "jit")]
mod jit_common;
mod keys;

#[cfg(feature = "jit")]
mod alloc_jit;
mod bundle_cases;
mod bundle_props;
mod decode_alloc;
mod decode_arena;
mod decode_native;
mod decode_projection;
mod decode_sysmon;
mod deploy_refusals;
mod deploy_shadow;
mod deploy_state;
mod deploy_swap;
mod features;
mod hash_generated;
mod interp_builtins;
mod interp_engine;
mod interp_semantics;
mod interp_trace;
mod ir_text_roundtrip;
#[cfg(feature = "jit")]
mod jit_diff;
#[cfg(feature = "jit")]
mod jit_nodes;
mod prefilter_require;
#[cfg(feature = "jit")]
mod prefilter_soundness;
mod state_bounds;
mod state_semantics;
#[cfg(feature = "jit")]
mod stateful_diff;
mod verify_corpus;
mod verify_generated;
