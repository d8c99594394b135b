//! The evaluator contract: the [`Evaluator`] trait that both engines (the interpreter and the
//! JIT) implement, and the errors of evaluating ([`EvalError`]) and of building an engine
//! ([`EngineError`]).
//!
//! A leaf of the module graph: it names the types an evaluator reads (events, the prefilter's
//! hits, a partial match's captures, IR ids) and nothing that evaluates, so `interp`, `jit`
//! and `engine` all depend on it and never on each other's internals.

use crate::event::Event;
use crate::ir::{ExprId, RuleId};
use crate::prefilter::Hits;
use crate::state::CaptureView;

/// Evaluates rule conditions. Implemented by the interpreter and by JIT-compiled code; both
/// must agree on every program and event (the interpreter is the oracle).
pub trait Evaluator: Send + Sync {
    /// Whether single-event rule `rule`'s condition holds on `event`. The engine calls it only
    /// for rules that run on the event's type, with events whose shape fits the program's
    /// binding.
    fn eval(&self, rule: RuleId, event: &Event<'_>) -> Result<bool, EvalError>;

    /// [`Evaluator::eval`], with the whole-bundle prefilter's results for `event` (`hits`,
    /// scanned by the engine's [`crate::prefilter::Prefilter`], the one this evaluator was
    /// built with, if any): an evaluator may answer literal tests from them instead of scanning
    /// again. The default ignores them (the interpreter, the oracle, always scans).
    fn eval_hits(&self, rule: RuleId, event: &Event<'_>, hits: &Hits) -> Result<bool, EvalError> {
        let _ = hits;
        self.eval(rule, event)
    }

    /// Whether the condition rooted at node `root` of stateful rule `rule` (a sequence step's
    /// or a threshold's) holds on `event`, with `Captured(i)` read from `captures` (the
    /// partial match's values; `None` for thresholds). The default refuses: an evaluator
    /// that only knows single-event rules makes stateful rules count evaluation errors.
    fn eval_root(
        &self,
        rule: RuleId,
        root: ExprId,
        event: &Event<'_>,
        captures: Option<&CaptureView<'_>>,
    ) -> Result<bool, EvalError> {
        let _ = (rule, root, event, captures);
        Err(EvalError::Internal(
            "this evaluator does not evaluate stateful rule conditions".into(),
        ))
    }
}

/// An evaluation that could not complete. None occurs on a verified program; each is a bug,
/// reported instead of a panic.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// An internal inconsistency (a node of an unexpected type, a missing id).
    #[error("internal evaluation error: {0}")]
    Internal(String),
    /// A JIT helper reported a failure (a caught panic or a bad status).
    #[error("helper failed: {0}")]
    Helper(String),
}

/// An engine could not be built or could not take an event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The event is not shaped as the program's binding expects (built against another
    /// schema): refused before any rule reads it.
    #[error("event of type #{0} does not fit the schema the program was bound to")]
    EventShape(u16),
    /// The JIT failed to compile the program.
    #[error("jit: {0}")]
    Jit(String),
    /// The JIT was asked for ([`crate::engine::EngineKind::Jit`]) but this runtime was built
    /// without it (the `jit` feature is off): ask for the interpreter instead. A deployer
    /// reports it as E0803 (the engine could not be built).
    #[error("jit: this runtime was built without the JIT (feature `jit`); use the interpreter")]
    JitNotBuilt,
    /// A stateful rule's table could not be built (the verifier refuses such rules first).
    #[error("rule `{0}`: its state table cannot be built: {1}")]
    State(String, String),
    /// An internal inconsistency.
    #[error("internal engine error: {0}")]
    Internal(String),
}
