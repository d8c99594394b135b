//! The engine: runs a verified program over events and reports alerts.
//!
//! Input: a [`Verified`] program (and, when it came from a bundle, the bundle's identity);
//! output per event: the alerts of the rules that fire, through a callback, and counters
//! ([`EngineStats`]). Only the rules whose event types include the event's type run
//! ([`Dispatch`]). Rule conditions are evaluated by a pluggable [`Evaluator`]: the reference
//! interpreter ([`Interp`]) or the JIT; `emit` messages and alert fields are always computed by
//! the interpreter (they run only when a rule fires).
//!
//! Sequence and threshold rules are not evaluated yet: they are skipped and counted
//! ([`EngineStats::stateful_rules_skipped`]).
//!
//! The engine never panics across its API: evaluator calls run under `catch_unwind` as a last
//! line of defence (a panic there is a bug, counted in [`EngineStats::internal_errors`], and
//! the event goes on with the next rule). `Engine` is `Send + Sync`; `process` takes `&self`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::alert::{Alert, BundleInfo};
use crate::bundle::load::Loaded;
use crate::dispatch::Dispatch;
use crate::event::Event;
use crate::interp::{write_interpolated, Interp};
use crate::ir::{RuleId, TemplatePart};
use crate::value::Value;
use crate::verify::Verified;

/// Evaluates single-event rule conditions. Implemented by the interpreter and by JIT-compiled
/// code; both must agree on every program and event (the interpreter is the oracle).
pub trait Evaluator: Send + Sync {
    /// Whether rule `rule`'s condition holds on `event`. The engine calls it only for rules
    /// that run on the event's type, with events whose shape fits the program's binding.
    fn eval(&self, rule: RuleId, event: &Event<'_>) -> Result<bool, EvalError>;
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
    /// An internal inconsistency.
    #[error("internal engine error: {0}")]
    Internal(String),
}

/// Which evaluator runs rule conditions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EngineKind {
    /// The reference interpreter.
    #[default]
    Interp,
    /// Cranelift-compiled code (`crate::jit`).
    Jit,
}

/// How to build an [`Engine`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineOptions {
    /// The evaluator.
    pub engine: EngineKind,
    /// Run the whole bundle in shadow mode: every alert is marked `shadow`.
    pub shadow: bool,
}

/// Counters of an engine, since it was built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Events processed.
    pub events: u64,
    /// Rule evaluations.
    pub evaluations: u64,
    /// Alerts produced.
    pub alerts: u64,
    /// Evaluations of stateful rules skipped (sequence and threshold rules are not run yet).
    pub stateful_rules_skipped: u64,
    /// Evaluations that returned an [`EvalError`].
    pub eval_errors: u64,
    /// Evaluations that panicked (caught): always a bug.
    pub internal_errors: u64,
    /// Events refused because their shape does not fit the binding.
    pub refused_events: u64,
}

#[derive(Debug, Default)]
struct Counters {
    events: AtomicU64,
    evaluations: AtomicU64,
    alerts: AtomicU64,
    stateful_rules_skipped: AtomicU64,
    eval_errors: AtomicU64,
    internal_errors: AtomicU64,
    refused_events: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// Runs one verified program over events. See the module documentation.
pub struct Engine {
    interp: Arc<Interp>,
    evaluator: Arc<dyn Evaluator>,
    kind: EngineKind,
    dispatch: Dispatch,
    bundle: Option<BundleInfo>,
    shadow: bool,
    counters: Counters,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("kind", &self.kind)
            .field("rules", &self.interp.program().rules.len())
            .field("bundle", &self.bundle)
            .field("shadow", &self.shadow)
            .finish_non_exhaustive()
    }
}

/// THE place the JIT plugs in: returns the evaluator for `kind` and which kind it really is.
/// `EngineKind::Jit` compiles every single-event rule with [`crate::jit::compile`]; a program
/// the JIT refuses (an unsupported host, say) is an [`EngineError::Jit`], never a silent
/// fallback. A host that wants the interpreter asks for [`EngineKind::Interp`].
fn make_evaluator(
    kind: EngineKind,
    verified: &Verified,
    interp: &Arc<Interp>,
) -> Result<(Arc<dyn Evaluator>, EngineKind), EngineError> {
    match kind {
        EngineKind::Interp => Ok((interp.clone() as Arc<dyn Evaluator>, EngineKind::Interp)),
        // JIT PLUG-IN POINT.
        EngineKind::Jit => {
            let compiled =
                crate::jit::compile(verified).map_err(|e| EngineError::Jit(e.to_string()))?;
            Ok((Arc::new(compiled) as Arc<dyn Evaluator>, EngineKind::Jit))
        }
    }
}

impl Engine {
    /// An engine for `verified`.
    pub fn new(verified: &Verified, options: EngineOptions) -> Result<Engine, EngineError> {
        let interp = Arc::new(Interp::new(verified)?);
        let (evaluator, kind) = make_evaluator(options.engine, verified, &interp)?;
        let dispatch = Dispatch::new(verified.program(), verified.binding());
        Ok(Engine {
            interp,
            evaluator,
            kind,
            dispatch,
            bundle: None,
            shadow: options.shadow,
            counters: Counters::default(),
        })
    }

    /// An engine with a custom evaluator (a JIT, or a test double), conditions evaluated by
    /// `evaluator` and reported as `kind`.
    pub fn with_evaluator(
        verified: &Verified,
        evaluator: Arc<dyn Evaluator>,
        kind: EngineKind,
        options: EngineOptions,
    ) -> Result<Engine, EngineError> {
        let mut engine = Engine::new(
            verified,
            EngineOptions {
                engine: EngineKind::Interp,
                ..options
            },
        )?;
        engine.evaluator = evaluator;
        engine.kind = kind;
        Ok(engine)
    }

    /// An engine for a loaded bundle: its verified program, with the bundle's identity (id,
    /// content version, SHA-256) in every alert.
    pub fn from_loaded(loaded: &Loaded, options: EngineOptions) -> Result<Engine, EngineError> {
        let sha256 = loaded.sha256.iter().map(|b| format!("{b:02x}")).collect();
        let info = BundleInfo {
            id: loaded.header.bundle_id.clone(),
            content_version: loaded.header.content_version,
            sha256,
        };
        Ok(Engine::new(&loaded.verified, options)?.with_bundle(info))
    }

    /// Records the bundle the program came from; its identity goes into every alert.
    pub fn with_bundle(mut self, bundle: BundleInfo) -> Engine {
        self.bundle = Some(bundle);
        self
    }

    /// Which evaluator runs conditions.
    pub fn kind(&self) -> EngineKind {
        self.kind
    }

    /// The interpreter (also used for `emit` and `fields`).
    pub fn interp(&self) -> &Interp {
        &self.interp
    }

    /// The counters so far.
    pub fn stats(&self) -> EngineStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        EngineStats {
            events: get(&c.events),
            evaluations: get(&c.evaluations),
            alerts: get(&c.alerts),
            stateful_rules_skipped: get(&c.stateful_rules_skipped),
            eval_errors: get(&c.eval_errors),
            internal_errors: get(&c.internal_errors),
            refused_events: get(&c.refused_events),
        }
    }

    /// Runs the rules for `event`'s type, calling `on_alert` for each that fires, in program
    /// order; returns how many fired. An event that does not fit the program's binding is
    /// refused ([`EngineError::EventShape`]) and counted. Evaluation errors and caught panics
    /// are counted and the rule is taken as not firing.
    pub fn process(
        &self,
        event: &Event<'_>,
        on_alert: &mut dyn FnMut(&Alert),
    ) -> Result<usize, EngineError> {
        let c = &self.counters;
        bump(&c.events, 1);
        if !self.dispatch.fits(event) {
            bump(&c.refused_events, 1);
            return Err(EngineError::EventShape(event.ty().0));
        }
        bump(
            &c.stateful_rules_skipped,
            u64::from(self.dispatch.stateful_for(event.ty())),
        );
        let mut fired = 0;
        for &rule in self.dispatch.rules_for(event.ty()) {
            bump(&c.evaluations, 1);
            let outcome = catch_unwind(AssertUnwindSafe(|| self.evaluator.eval(rule, event)));
            match outcome {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => continue,
                Ok(Err(_)) => {
                    bump(&c.eval_errors, 1);
                    continue;
                }
                Err(_) => {
                    bump(&c.internal_errors, 1);
                    continue;
                }
            }
            let alert = catch_unwind(AssertUnwindSafe(|| self.alert(rule, event)));
            match alert {
                Ok(Ok(alert)) => {
                    fired += 1;
                    bump(&c.alerts, 1);
                    on_alert(&alert);
                }
                Ok(Err(_)) => bump(&c.eval_errors, 1),
                Err(_) => bump(&c.internal_errors, 1),
            }
        }
        Ok(fired)
    }

    /// The alert of `rule` firing on `event`.
    fn alert(&self, rule: RuleId, event: &Event<'_>) -> Result<Alert, EvalError> {
        let program = self.interp.program();
        let r = program
            .rules
            .get(rule.0 as usize)
            .ok_or_else(|| EvalError::Internal("rule id out of range".into()))?;
        let message = if r.emit.is_empty() {
            r.title.clone()
        } else {
            let mut m = String::new();
            for part in &r.emit {
                match part {
                    TemplatePart::Lit(text) => m.push_str(text),
                    TemplatePart::Expr(e) => {
                        let v = self.interp.eval_value(rule, *e, event)?;
                        write_interpolated(&mut m, &v);
                    }
                }
            }
            m
        };
        let mut fields = Vec::with_capacity(r.fields.len());
        for (name, e) in &r.fields {
            let v: Value<'static> = self.interp.eval_value(rule, *e, event)?.into_owned();
            fields.push((name.clone(), v));
        }
        Ok(Alert {
            rule: r.id.clone(),
            title: r.title.clone(),
            severity: r.severity,
            time: event.time(),
            host: event.host().to_owned(),
            event_type: self.interp.binding().event_name(event.ty()).to_owned(),
            message,
            fields,
            meta: r.meta.clone(),
            bundle: self.bundle.clone(),
            source: event.source().cloned(),
            shadow: r.shadow || self.shadow,
        })
    }
}
