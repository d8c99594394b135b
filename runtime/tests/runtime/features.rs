//! Which runtime this test binary was built against. CI runs the runtime's tests a second time
//! with `--no-default-features` and `VIGIL_EXPECT_INTERPRETER_ONLY=1`; this test then fails if
//! the JIT came back (feature unification through a dev-dependency that takes the runtime with
//! its default features would do that silently).

use vigil_runtime::EngineKind;

#[test]
fn the_build_has_the_features_ci_asked_for() {
    let jit_built = EngineKind::Jit.is_built();
    assert_eq!(jit_built, cfg!(feature = "jit"));
    if std::env::var_os("VIGIL_EXPECT_INTERPRETER_ONLY").is_some() {
        assert!(!cfg!(feature = "jit"), "the `jit` feature is on");
        assert!(!jit_built, "the runtime library was built with the JIT");
        assert_eq!(EngineKind::fastest(), EngineKind::Interp);
    }
}
