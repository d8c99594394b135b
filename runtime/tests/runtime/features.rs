//! Which runtime this test binary was built against. CI runs the runtime's tests a second time
//! with `--no-default-features` and `VIGIL_EXPECT_INTERPRETER_ONLY=1`; this test then fails if
//! the JIT came back (feature unification through a dev-dependency that takes the runtime with
//! its default features would do that silently).

use vigil_runtime::EngineKind;

/// Whether this test crate was compiled with the runtime's `jit` feature.
const JIT_FEATURE: bool = cfg!(feature = "jit");

#[test]
fn the_build_has_the_features_ci_asked_for() {
    let jit_built = EngineKind::Jit.is_built();
    assert_eq!(jit_built, JIT_FEATURE);
    if std::env::var_os("VIGIL_EXPECT_INTERPRETER_ONLY").is_some() {
        assert_eq!(
            (JIT_FEATURE, jit_built),
            (false, false),
            "(jit feature, JIT built into the runtime library)"
        );
        assert_eq!(EngineKind::fastest(), EngineKind::Interp);
    }
}
