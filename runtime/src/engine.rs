//! The engine: runs a verified program over events and reports alerts.
//!
//! Input: a [`Verified`] program (and, when it came from a bundle, the bundle's identity);
//! output per event: the alerts of the rules that fire, through a callback, and counters
//! ([`EngineStats`]). Only the rules whose event types include the event's type run (the
//! dispatch table, `dispatch.rs`). Rule conditions are evaluated by a pluggable [`Evaluator`]
//! (`runtime/src/eval.rs`): the reference interpreter ([`Interp`]) or the JIT (feature `jit`); `emit`
//! messages and alert fields are always computed by the interpreter (they run only when a rule
//! fires).
//!
//! # Prefilter
//!
//! With [`EngineOptions::prefilter`] (the default), each event is first scanned by the
//! whole-bundle literal prefilter ([`crate::prefilter`]): one Aho-Corasick automaton per
//! (field, folded) pair, run at most once; only the single-event rules whose required
//! literals occurred are evaluated (the others are counted in
//! [`EngineStats::prefilter_skipped`]), in program order, and the evaluator gets the scan's
//! results ([`Evaluator::eval_hits`]: the JIT answers literal tests from them; the
//! interpreter, the oracle, scans for itself). Stateful rules always run.
//!
//! # Correlation (sequences and thresholds)
//!
//! Each stateful rule owns one table of the state module ([`crate::state`]: the ONE
//! implementation of the semantics, whichever evaluator runs) behind a [`Mutex`]. For an event
//! of a type the rule sees, the engine reads the rule's `by` fields and the event's `host`
//! into a key hash (an event whose key field is absent takes no part, and is counted), takes
//! the event's `time` (`None` when absent: counted, skipped), and hands both to the table with
//! the hash of the event's `host`, whose own clock judges the time (late, within the
//! allowance [`EngineOptions::lateness_ns`], or a clock reset). A
//! sequence's table calls back into the evaluator for each step that could advance, with the
//! partial match's captures ([`Evaluator::eval_root`]); when the last step matches, the alert
//! takes its time, host and source from that last event, and its `emit`/`fields` read the
//! earlier steps' captures and the last event's fields. A threshold's condition is evaluated
//! first; a counted event goes to the table, and when the key's count reaches N the alert is
//! that event's. Per-rule counters are in [`Engine::rule_state_stats`], totals in
//! [`EngineStats`]; the bytes the tables hold ([`EngineStats::state_bytes`]) never exceed the
//! verifier's bound ([`Engine::state_bound_bytes`]), computed by the same functions.
//!
//! **Order.** Stateful rules see events in the order `process` is called. An engine may be
//! shared by threads (`process` takes `&self`, each table has its own lock), but then the
//! order in which events reach a table is the order in which the threads happen to call it.
//! DESIGN.md's pattern is "one ordered stage": decode and run stateless rules in parallel
//! ([`Engine::process_stateless`], no locks taken), and feed every event, in input order,
//! through one thread calling [`Engine::process_stateful`]. Calling [`Engine::process`] from
//! one thread does both, in program order. Alerts are delivered after a table's lock is
//! released, so the callback may call into the engine.
//!
//! **Reload.** [`Engine::adopt_state`] moves the tables of unchanged rules (same id, same
//! canonical IR hash, same layout) from the engine being replaced.
//!
//! The engine never panics across its API: evaluator calls run under `catch_unwind` as a last
//! line of defence (a panic there is a bug, counted in [`EngineStats::internal_errors`], and
//! the event goes on with the next rule). `Engine` is `Send + Sync`; `process` takes `&self`.

mod correlate;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use regex_automata::util::pool::Pool;

use crate::alert::{Alert, BundleInfo};
use crate::bundle::load::Loaded;
use crate::dispatch::Dispatch;
use crate::event::Event;
use crate::interp::Interp;
use crate::ir::{ExprId, RuleId, TemplatePart};
use crate::ops::write_interpolated;
use crate::prefilter::{Hits, Prefilter};
use crate::state::{CaptureView, Counters as StateCounters, TimeConfig};
use crate::value::Value;
use crate::verify::Verified;

use correlate::{amount_of, capture_of, value_of, KeyCache, Stateful, Table};

// The evaluator contract lives in a leaf (`eval.rs`); these paths stay for embedders.
pub use crate::eval::{EngineError, EvalError, Evaluator};

/// What an `emit` message says for `{field}` when the event did not carry the field.
pub const ABSENT: &str = "<absent>";

/// Which evaluator runs rule conditions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EngineKind {
    /// The reference interpreter.
    #[default]
    Interp,
    /// Cranelift-compiled code (`crate::jit`). Only in a runtime built with the `jit` feature;
    /// without it, asking for it is an [`EngineError::JitNotBuilt`].
    Jit,
}

impl EngineKind {
    /// Whether this runtime was built with this evaluator (the interpreter always is; the JIT
    /// with the `jit` feature).
    pub const fn is_built(self) -> bool {
        match self {
            EngineKind::Interp => true,
            EngineKind::Jit => cfg!(feature = "jit"),
        }
    }

    /// The fastest evaluator this runtime was built with: the JIT with the `jit` feature, the
    /// interpreter without it. What a host that does not care which should ask for.
    pub const fn fastest() -> EngineKind {
        if cfg!(feature = "jit") {
            EngineKind::Jit
        } else {
            EngineKind::Interp
        }
    }
}

/// How to build an [`Engine`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineOptions {
    /// The evaluator.
    pub engine: EngineKind,
    /// Run the whole bundle in shadow mode: every alert is marked `shadow`.
    pub shadow: bool,
    /// How much older than the newest time a stateful rule has seen from the event's host an
    /// event may be and still touch its state (default 0: an older event is late, counted, and
    /// only single-event rules evaluate it). Each host has its own clock, so one host's clock
    /// running ahead makes no other host's events late. See [`crate::state`], "Time".
    pub lateness_ns: u64,
    /// Run the whole-bundle literal prefilter ([`crate::prefilter`]) before the single-event
    /// rules of each event, skipping those whose required literals did not occur (default
    /// true). Off: every rule of the event's type is evaluated, rule by rule.
    pub prefilter: bool,
    /// With the JIT: compile every rule when the engine is built, a rule the JIT refuses
    /// failing the build ([`EngineError::Jit`]). Off (the default): each rule is compiled the
    /// first time it is evaluated (most rules of a large bundle never are: the prefilter skips
    /// them), so loading costs no code generation; a rule the JIT then refuses runs on the
    /// interpreter, with the same results, and is counted (`JitStats::refused` of the `jit` module).
    pub jit_eager: bool,
}

impl Default for EngineOptions {
    fn default() -> EngineOptions {
        EngineOptions {
            engine: EngineKind::default(),
            shadow: false,
            lateness_ns: 0,
            prefilter: true,
            jit_eager: false,
        }
    }
}

/// Counters of an engine, since it was built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Events processed.
    pub events: u64,
    /// Rule evaluations.
    pub evaluations: u64,
    /// Single-event rules not evaluated because the prefilter showed that their required
    /// literals did not occur.
    pub prefilter_skipped: u64,
    /// Alerts produced.
    pub alerts: u64,
    /// Stateful rules not run on an event because the caller asked for
    /// [`Engine::process_stateless`] (0 when every event goes through [`Engine::process`]).
    pub stateful_rules_skipped: u64,
    /// Evaluations that returned an [`EvalError`].
    pub eval_errors: u64,
    /// Evaluations that panicked (caught): always a bug.
    pub internal_errors: u64,
    /// Events refused because their shape does not fit the binding.
    pub refused_events: u64,
    /// Stateful rules, summed: events handed to their tables (late ones included).
    pub state_events: u64,
    /// Stateful rules, summed: times they fired.
    pub state_fired: u64,
    /// Stateful rules, summed: keys evicted to make room (capacity reached).
    pub state_evicted: u64,
    /// Stateful rules, summed: keys dropped because their window had passed.
    pub state_expired: u64,
    /// Stateful rules, summed: late events skipped (more than the lateness allowance older
    /// than their host's newest time; state untouched).
    pub state_late: u64,
    /// Stateful rules, summed: late events processed (older than their host's newest time, but
    /// within the lateness allowance).
    pub state_late_accepted: u64,
    /// Stateful rules, summed: events whose key field was absent (they take no part).
    pub state_absent_key: u64,
    /// Stateful rules, summed: events without a `time` (state untouched).
    pub state_missing_time: u64,
    /// Stateful rules, summed: times a host's clock jumped back past the reset horizon (that
    /// host's keys were dropped).
    pub state_clock_resets: u64,
    /// Distinct thresholds, summed: events whose counted field was absent.
    pub state_absent_value: u64,
    /// Bytes the stateful rules' tables hold now (`measured_bytes`, summed); never more than
    /// [`Engine::state_bound_bytes`].
    pub state_bytes: u64,
}

/// The state of one stateful rule of an engine ([`Engine::rule_state_stats`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleStateStats {
    /// The rule.
    pub rule: RuleId,
    /// Its id (meta `id`).
    pub id: String,
    /// Its table's counters.
    pub counters: StateCounters,
    /// Keys held now.
    pub keys: usize,
    /// Keys held at most.
    pub capacity: usize,
    /// Bytes the table holds now.
    pub bytes: u64,
    /// The verifier's bound on the table's bytes (`bytes` never exceeds it).
    pub bound_bytes: u64,
}

/// What [`Engine::adopt_state`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdoptReport {
    /// Stateful rules whose table was taken over from the old engine (same id, same canonical
    /// IR hash, same table layout).
    pub kept: Vec<String>,
    /// Stateful rules of the old engine whose table was dropped (rule removed or changed).
    pub dropped: Vec<String>,
    /// Stateful rules of this engine that start with an empty table (new or changed).
    pub fresh: Vec<String>,
}

#[derive(Debug, Default)]
struct Counters {
    events: AtomicU64,
    evaluations: AtomicU64,
    prefilter_skipped: AtomicU64,
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
    /// The JIT's program when `evaluator` is it (for its statistics).
    #[cfg_attr(not(feature = "jit"), allow(dead_code))]
    jit: JitHandle,
    dispatch: Dispatch,
    bundle: Option<BundleInfo>,
    shadow: bool,
    counters: Counters,
    /// Per rule (by [`RuleId`]): its index in `stateful`, for stateful rules.
    stateful_ix: Vec<Option<usize>>,
    /// The stateful rules, in program order.
    stateful: Vec<Stateful>,
    /// Serialises [`Engine::adopt_state`] calls (tables are swapped one lock at a time).
    adopt: Mutex<()>,
    /// The whole-bundle prefilter, when on, and its per-thread result buffers.
    prefilter: Option<(Arc<Prefilter>, Pool<Hits, HitsFactory>)>,
}

type HitsFactory =
    Box<dyn Fn() -> Hits + Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe>;

fn hits_pool(prefilter: &Arc<Prefilter>) -> Pool<Hits, HitsFactory> {
    let p = Arc::clone(prefilter);
    Pool::new(Box::new(move || p.hits()))
}

/// A stateful evaluation that failed.
enum Failure {
    Eval,
    Panic,
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

/// The JIT's program, when the engine runs one (its statistics are the engine's to report).
#[cfg(feature = "jit")]
type JitHandle = Option<Arc<crate::jit::JitProgram>>;
#[cfg(not(feature = "jit"))]
type JitHandle = ();

/// THE place the JIT plugs in: returns the evaluator for `kind`, which kind it really is, and
/// the JIT's program if it is one. `EngineKind::Jit` compiles rules with [`crate::jit`]: all at
/// once with `eager` (a rule the JIT refuses is an [`EngineError::Jit`]), else each on first
/// use ([`crate::jit::lazy`]); a host the JIT cannot run on is an [`EngineError::Jit`] either
/// way, never a silent fallback. A host that wants the interpreter asks for
/// [`EngineKind::Interp`].
fn make_evaluator(
    kind: EngineKind,
    interp: &Arc<Interp>,
    prefilter: Option<&Arc<Prefilter>>,
    eager: bool,
) -> Result<(Arc<dyn Evaluator>, EngineKind, JitHandle), EngineError> {
    match kind {
        EngineKind::Interp => Ok((
            interp.clone() as Arc<dyn Evaluator>,
            EngineKind::Interp,
            JitHandle::default(),
        )),
        // JIT PLUG-IN POINT.
        EngineKind::Jit => jit_evaluator(interp, prefilter, eager),
    }
}

/// The JIT's evaluator over `interp`'s program.
#[cfg(feature = "jit")]
fn jit_evaluator(
    interp: &Arc<Interp>,
    prefilter: Option<&Arc<Prefilter>>,
    eager: bool,
) -> Result<(Arc<dyn Evaluator>, EngineKind, JitHandle), EngineError> {
    let jit = |e: crate::jit::JitError| EngineError::Jit(e.to_string());
    let compiled = crate::jit::lazy(Arc::clone(interp), prefilter.cloned()).map_err(jit)?;
    if eager {
        compiled.compile_all().map_err(jit)?;
    }
    let compiled = Arc::new(compiled);
    Ok((
        Arc::clone(&compiled) as Arc<dyn Evaluator>,
        EngineKind::Jit,
        Some(compiled),
    ))
}

/// Without the `jit` feature there is no JIT to build: a coded refusal, never a panic.
#[cfg(not(feature = "jit"))]
fn jit_evaluator(
    _interp: &Arc<Interp>,
    _prefilter: Option<&Arc<Prefilter>>,
    _eager: bool,
) -> Result<(Arc<dyn Evaluator>, EngineKind, JitHandle), EngineError> {
    Err(EngineError::JitNotBuilt)
}

/// Per rule: the verifier's bound on its state bytes.
fn state_bounds(verified: &Verified) -> Vec<u64> {
    verified
        .cost()
        .rules
        .iter()
        .map(|c| c.state_bytes)
        .collect()
}

/// The tables of `verified`'s stateful rules, in program order, and per rule (by [`RuleId`])
/// its index among them; each table's byte bound is the verifier's (from the cost report).
fn state_tables(
    interp: &Interp,
    state_bounds: &[u64],
    lateness_ns: u64,
) -> Result<(Vec<Option<usize>>, Vec<Stateful>), EngineError> {
    let program = interp.program();
    let time = TimeConfig {
        lateness_ns,
        ..TimeConfig::default()
    };
    let mut stateful = Vec::new();
    let mut stateful_ix = Vec::with_capacity(program.rules.len());
    for (i, rule) in program.rules.iter().enumerate() {
        let rid =
            RuleId(u32::try_from(i).map_err(|_| EngineError::Internal("too many rules".into()))?);
        let bound = state_bounds.get(i).copied().unwrap_or(u64::MAX);
        match Stateful::build(program, interp.binding(), rid, rule, bound, time) {
            None => stateful_ix.push(None),
            Some(Ok(s)) => {
                stateful_ix.push(Some(stateful.len()));
                stateful.push(s);
            }
            Some(Err(correlate::BuildError::Capture(name))) => {
                return Err(EngineError::State(
                    name,
                    "it captures a list field, which tables do not store".into(),
                ))
            }
            Some(Err(correlate::BuildError::State(name, e))) => {
                return Err(EngineError::State(name, e.to_string()))
            }
        }
    }
    Ok((stateful_ix, stateful))
}

impl Engine {
    /// An engine for `verified`.
    pub fn new(verified: &Verified, options: EngineOptions) -> Result<Engine, EngineError> {
        let bounds = state_bounds(verified);
        Engine::build(Interp::new(verified)?, &bounds, options)
    }

    /// [`Engine::new`], keeping `verified`'s program instead of copying it: what a host that
    /// has no further use for the verified program (an agent after loading a bundle) should
    /// call, so that the program is held once.
    pub fn from_verified(
        verified: Verified,
        options: EngineOptions,
    ) -> Result<Engine, EngineError> {
        let bounds = state_bounds(&verified);
        Engine::build(Interp::from_verified(verified)?, &bounds, options)
    }

    fn build(
        interp: Interp,
        state_bounds: &[u64],
        options: EngineOptions,
    ) -> Result<Engine, EngineError> {
        let interp = Arc::new(interp);
        let program = interp.program();
        let binding = interp.binding();
        let prefilter = options
            .prefilter
            .then(|| Arc::new(Prefilter::new(program, binding)));
        let (evaluator, kind, jit) = make_evaluator(
            options.engine,
            &interp,
            prefilter.as_ref(),
            options.jit_eager,
        )?;
        let dispatch = Dispatch::new(program, binding);
        let (stateful_ix, stateful) = state_tables(&interp, state_bounds, options.lateness_ns)?;
        Ok(Engine {
            interp,
            evaluator,
            kind,
            jit,
            dispatch,
            bundle: None,
            shadow: options.shadow,
            counters: Counters::default(),
            stateful_ix,
            stateful,
            adopt: Mutex::new(()),
            prefilter: prefilter.map(|p| {
                let pool = hits_pool(&p);
                (p, pool)
            }),
        })
    }

    /// An engine with a custom evaluator (a JIT, or a test double), conditions evaluated by
    /// `evaluator` and reported as `kind`. The prefilter does not skip rules here (whatever
    /// `options.prefilter` says): skipping relies on the evaluator following the IR's
    /// semantics, which the engine cannot assume of a custom one, so it is asked about every
    /// rule.
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
        engine.jit = JitHandle::default();
        engine.prefilter = None;
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

    /// [`Engine::from_loaded`], keeping the loaded program instead of copying it (see
    /// [`Engine::from_verified`]).
    pub fn from_loaded_owned(
        loaded: Loaded,
        options: EngineOptions,
    ) -> Result<Engine, EngineError> {
        let sha256 = loaded.sha256.iter().map(|b| format!("{b:02x}")).collect();
        let info = BundleInfo {
            id: loaded.header.bundle_id,
            content_version: loaded.header.content_version,
            sha256,
        };
        Ok(Engine::from_verified(loaded.verified, options)?.with_bundle(info))
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

    /// What the JIT has compiled so far (rules are compiled on first use unless
    /// [`EngineOptions::jit_eager`]); `None` when the engine does not run the JIT.
    #[cfg(feature = "jit")]
    pub fn jit_stats(&self) -> Option<crate::jit::JitStats> {
        self.jit.as_ref().map(|j| j.stats())
    }

    /// The interpreter (also used for `emit` and `fields`).
    pub fn interp(&self) -> &Interp {
        &self.interp
    }

    /// The counters so far.
    pub fn stats(&self) -> EngineStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = EngineStats {
            events: get(&c.events),
            evaluations: get(&c.evaluations),
            prefilter_skipped: get(&c.prefilter_skipped),
            alerts: get(&c.alerts),
            stateful_rules_skipped: get(&c.stateful_rules_skipped),
            eval_errors: get(&c.eval_errors),
            internal_errors: get(&c.internal_errors),
            refused_events: get(&c.refused_events),
            ..EngineStats::default()
        };
        for st in &self.stateful {
            let table = st.lock();
            let k = table.counters();
            let add = |a: &mut u64, b: u64| *a = a.saturating_add(b);
            add(&mut s.state_events, k.events);
            add(&mut s.state_fired, k.fired);
            add(&mut s.state_evicted, k.evicted);
            add(&mut s.state_expired, k.expired);
            add(&mut s.state_late, k.late);
            add(&mut s.state_late_accepted, k.late_accepted);
            add(&mut s.state_absent_key, k.absent_key);
            add(&mut s.state_missing_time, k.missing_time);
            add(&mut s.state_clock_resets, k.clock_resets);
            add(&mut s.state_absent_value, k.absent_value);
            add(&mut s.state_bytes, table.measured_bytes());
        }
        s
    }

    /// Per stateful rule, in program order: its counters, keys and bytes.
    pub fn rule_state_stats(&self) -> Vec<RuleStateStats> {
        self.stateful
            .iter()
            .map(|st| {
                let table = st.lock();
                RuleStateStats {
                    rule: st.rule,
                    id: st.identity.id.clone(),
                    counters: table.counters(),
                    keys: table.keys(),
                    capacity: table.capacity(),
                    bytes: table.measured_bytes(),
                    bound_bytes: st.bound_bytes,
                }
            })
            .collect()
    }

    /// The verifier's bound on the bytes of every stateful rule's table, summed (from the
    /// program's cost report, computed with the state module's own bound functions):
    /// [`EngineStats::state_bytes`] never exceeds it.
    pub fn state_bound_bytes(&self) -> u64 {
        self.stateful
            .iter()
            .map(|s| s.bound_bytes)
            .fold(0, u64::saturating_add)
    }

    /// Takes over the tables of `old`'s stateful rules that are unchanged in this engine: same
    /// rule id, same canonical IR hash ([`crate::hash::rule_hash`]) and same table layout
    /// (capture lengths from the host's bounds, time configuration). Their partial matches,
    /// counts and counters carry on here; `old` is left with this engine's empty tables for
    /// them (it should not process events any more). Every other table of `old` is dropped
    /// with `old`; every other rule here starts empty. Call it before this engine processes
    /// events, while `old` no longer does.
    pub fn adopt_state(&self, old: &Engine) -> AdoptReport {
        let mut report = AdoptReport::default();
        if std::ptr::eq(self, old) {
            report.kept = self
                .stateful
                .iter()
                .map(|s| s.identity.id.clone())
                .collect();
            return report;
        }
        let _serial = self.adopt.lock().unwrap_or_else(|e| e.into_inner());
        let mut taken = vec![false; old.stateful.len()];
        for st in &self.stateful {
            let found = old.stateful.iter().enumerate().find(|(i, o)| {
                !taken.get(*i).copied().unwrap_or(true) && o.identity == st.identity
            });
            match found {
                Some((i, o)) => {
                    if let Some(t) = taken.get_mut(i) {
                        *t = true;
                    }
                    let mut mine = st.lock();
                    let mut theirs = o.lock();
                    std::mem::swap(&mut *mine, &mut *theirs);
                    report.kept.push(st.identity.id.clone());
                }
                None => report.fresh.push(st.identity.id.clone()),
            }
        }
        for (o, t) in old.stateful.iter().zip(&taken) {
            if !*t {
                report.dropped.push(o.identity.id.clone());
            }
        }
        report
    }

    /// Runs the rules for `event`'s type, calling `on_alert` for each that fires, in program
    /// order; returns how many fired. An event that does not fit the program's binding is
    /// refused ([`EngineError::EventShape`]) and counted. Evaluation errors and caught panics
    /// are counted and the rule is taken as not firing.
    ///
    /// Stateful rules run too, in the same program order (see the module docs, "Order").
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
        Ok(self.run_rules(
            self.dispatch.all_rules_for(event.ty()),
            true,
            event,
            on_alert,
        ))
    }

    /// [`Engine::process`] for single-event rules only: no lock is taken, so any number of
    /// threads may call it at once. The stateful rules of the event's type are skipped and
    /// counted ([`EngineStats::stateful_rules_skipped`]); run them with
    /// [`Engine::process_stateful`], from one thread, in input order.
    pub fn process_stateless(
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
        Ok(self.run_rules(self.dispatch.rules_for(event.ty()), false, event, on_alert))
    }

    /// [`Engine::process`] for stateful rules only (sequences, thresholds), in program order:
    /// the ordered stage of a pipeline whose stateless rules run elsewhere
    /// ([`Engine::process_stateless`]). Events must come in input order. Does not count the
    /// event in [`EngineStats::events`] (the stateless call did); a refused event is refused
    /// here too.
    pub fn process_stateful(
        &self,
        event: &Event<'_>,
        on_alert: &mut dyn FnMut(&Alert),
    ) -> Result<usize, EngineError> {
        if !self.dispatch.fits(event) {
            return Err(EngineError::EventShape(event.ty().0));
        }
        let mut fired = 0;
        let mut keys = KeyCache::default();
        for &rule in self.dispatch.stateful_rules_for(event.ty()) {
            fired += self.run_rule(rule, event, &mut keys, None, on_alert);
        }
        Ok(fired)
    }

    /// What stateful rule `rule`'s table holds now for `event`'s key, read-only (for
    /// `vigil why`); `None` for a single-event rule or an event type the rule does not see.
    pub fn key_state(&self, rule: RuleId, event: &Event<'_>) -> Option<crate::state::KeyState> {
        let ix = (*self.stateful_ix.get(rule.0 as usize)?)?;
        self.stateful.get(ix)?.key_state(event)
    }

    /// Calls `f` with the captures of the partial match of `steps_done` steps that `event`'s
    /// key holds in sequence rule `rule`'s table (read-only; for `vigil why`, which traces the
    /// next step's condition with them); `None` when there is none.
    pub fn with_partial<R>(
        &self,
        rule: RuleId,
        event: &Event<'_>,
        steps_done: usize,
        f: impl FnOnce(&CaptureView<'_>) -> R,
    ) -> Option<R> {
        let ix = (*self.stateful_ix.get(rule.0 as usize)?)?;
        self.stateful.get(ix)?.with_partial(event, steps_done, f)
    }

    /// The prefilter, when this engine runs one.
    pub fn prefilter(&self) -> Option<&Prefilter> {
        self.prefilter.as_ref().map(|(p, _)| &**p)
    }

    /// Runs `rules` (the event type's single-event rules, and its stateful ones too when
    /// `stateful`) on `event`, in program order. With the prefilter on, the event is scanned
    /// once and only the candidate single-event rules run ([`Prefilter::candidates`]); the
    /// others are counted as skipped.
    fn run_rules(
        &self,
        rules: &[RuleId],
        stateful: bool,
        event: &Event<'_>,
        on_alert: &mut dyn FnMut(&Alert),
    ) -> usize {
        let mut fired = 0;
        let mut keys = KeyCache::default();
        let Some((prefilter, pool)) = &self.prefilter else {
            for &rule in rules {
                fired += self.run_rule(rule, event, &mut keys, None, on_alert);
            }
            return fired;
        };
        let mut hits = pool.get();
        let scanned = catch_unwind(AssertUnwindSafe(|| {
            prefilter.scan(event, &mut hits);
            prefilter.candidates(event, &mut hits);
        }));
        if scanned.is_err() {
            // A bug; without results every rule runs and scans for itself.
            bump(&self.counters.internal_errors, 1);
            for &rule in rules {
                fired += self.run_rule(rule, event, &mut keys, None, on_alert);
            }
            return fired;
        }
        let hits = &*hits;
        let candidates = hits.candidates();
        let stateful_rules = if stateful {
            self.dispatch.stateful_rules_for(event.ty())
        } else {
            &[]
        };
        // Merge the two program-ordered lists.
        let mut st = stateful_rules.iter().copied().peekable();
        for &rule in candidates {
            while let Some(s) = st.next_if(|s| *s < rule) {
                fired += self.run_rule(s, event, &mut keys, Some(hits), on_alert);
            }
            fired += self.run_rule(rule, event, &mut keys, Some(hits), on_alert);
        }
        for s in st {
            fired += self.run_rule(s, event, &mut keys, Some(hits), on_alert);
        }
        let ran = candidates.len() + stateful_rules.len();
        bump(
            &self.counters.prefilter_skipped,
            rules.len().saturating_sub(ran) as u64,
        );
        fired
    }

    /// Runs one rule on `event`; returns how many alerts it delivered (0 or 1).
    fn run_rule(
        &self,
        rule: RuleId,
        event: &Event<'_>,
        keys: &mut KeyCache,
        hits: Option<&Hits>,
        on_alert: &mut dyn FnMut(&Alert),
    ) -> usize {
        let c = &self.counters;
        if let Some(Some(ix)) = self.stateful_ix.get(rule.0 as usize) {
            let Some(st) = self.stateful.get(*ix) else {
                return 0;
            };
            let alert = self.run_stateful(st, event, keys);
            return match alert {
                Some(alert) => {
                    bump(&c.alerts, 1);
                    on_alert(&alert);
                    1
                }
                None => 0,
            };
        }
        {
            bump(&c.evaluations, 1);
            let outcome = catch_unwind(AssertUnwindSafe(|| match hits {
                Some(h) => self.evaluator.eval_hits(rule, event, h),
                None => self.evaluator.eval(rule, event),
            }));
            match outcome {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => return 0,
                Ok(Err(_)) => {
                    bump(&c.eval_errors, 1);
                    return 0;
                }
                Err(_) => {
                    bump(&c.internal_errors, 1);
                    return 0;
                }
            }
            match self.alert_caught(rule, event, None) {
                Some(alert) => {
                    bump(&c.alerts, 1);
                    on_alert(&alert);
                    1
                }
                None => 0,
            }
        }
    }

    /// Evaluates a stateful rule's condition under `catch_unwind`, counting the evaluation.
    fn eval_root_caught(
        &self,
        rule: RuleId,
        root: Option<ExprId>,
        event: &Event<'_>,
        captures: Option<&CaptureView<'_>>,
    ) -> Result<bool, Failure> {
        let Some(root) = root else {
            return Ok(true);
        };
        bump(&self.counters.evaluations, 1);
        match catch_unwind(AssertUnwindSafe(|| {
            self.evaluator.eval_root(rule, root, event, captures)
        })) {
            Ok(Ok(b)) => Ok(b),
            Ok(Err(_)) => Err(Failure::Eval),
            Err(_) => Err(Failure::Panic),
        }
    }

    fn count_failure(&self, f: &Failure) {
        match f {
            Failure::Eval => bump(&self.counters.eval_errors, 1),
            Failure::Panic => bump(&self.counters.internal_errors, 1),
        }
    }

    /// Hands `event` to stateful rule `st`'s table; the alert when it fires. The alert is
    /// built while the table is locked (it reads the completed match's captures) and
    /// delivered by the caller after the lock is released.
    fn run_stateful(&self, st: &Stateful, event: &Event<'_>, keys: &mut KeyCache) -> Option<Alert> {
        if st.step_conds.is_empty() {
            self.run_threshold(st, event, keys)
        } else {
            self.run_sequence(st, event, keys)
        }
    }

    /// [`Engine::run_stateful`] for a threshold: its condition first, then the table counts
    /// the event; the alert is the event that brings the key's count to N.
    fn run_threshold(
        &self,
        st: &Stateful,
        event: &Event<'_>,
        keys: &mut KeyCache,
    ) -> Option<Alert> {
        let plan = st.plan(event.ty())?;
        let rule = st.rule;
        match self.eval_root_caught(rule, st.cond, event, None) {
            Ok(true) => {}
            Ok(false) => return None,
            Err(f) => {
                self.count_failure(&f);
                return None;
            }
        }
        let Some(key) = keys.key(event, &plan.key) else {
            st.lock().note_absent_key();
            return None;
        };
        let host = keys.host(event);
        let fired = match &mut *st.lock() {
            Table::Threshold(t) => match plan.amount {
                Some(a) => t
                    .on_host_amount(host, key, event.time_opt(), amount_of(event, a))
                    .is_some(),
                None => {
                    let value = plan.distinct.and_then(|d| value_of(event, d));
                    t.on_host_event(host, key, event.time_opt(), value)
                        .is_some()
                }
            },
            Table::Sequence(_) | Table::AnyOrder(_) => false,
        };
        if !fired {
            return None;
        }
        self.alert_caught(rule, event, None)
    }

    /// [`Engine::run_stateful`] for a sequence: the table tries to advance the key's partial
    /// matches with this event, evaluating each step's condition with the match's captures;
    /// the alert is the last step's, with the completed match's captures.
    fn run_sequence(&self, st: &Stateful, event: &Event<'_>, keys: &mut KeyCache) -> Option<Alert> {
        let plan = st.plan(event.ty())?;
        let rule = st.rule;
        let Some(key) = keys.key(event, &plan.key) else {
            st.lock().note_absent_key();
            return None;
        };
        let host = keys.host(event);
        if matches!(&*st.lock(), Table::AnyOrder(_)) {
            return self.run_any_order(st, event, plan, host, key);
        }
        let mut guard = st.lock();
        let Table::Sequence(seq) = &mut *guard else {
            return None;
        };
        let outcome = seq.on_host_event(
            host,
            key,
            event.time_opt(),
            &plan.steps,
            |step, view| {
                let root = st.step_conds.get(step).copied().flatten();
                self.eval_root_caught(rule, root, event, Some(view))
            },
            |i| capture_of(event, plan.captures.get(i).copied().flatten()),
        );
        match outcome {
            Ok(Some(fired)) => self.alert_caught(rule, event, Some(&fired.captures)),
            Ok(None) => None,
            Err(f) => {
                self.count_failure(&f);
                None
            }
        }
    }

    /// [`Engine::run_sequence`] for `sequence any order`: each step of this event type is
    /// tested on the event alone (no captures), before the table is locked; the table records
    /// the steps it satisfied; the alert is this event's when every step is held.
    fn run_any_order(
        &self,
        st: &Stateful,
        event: &Event<'_>,
        plan: &correlate::Plan,
        host: crate::state::KeyHash,
        key: crate::state::KeyHash,
    ) -> Option<Alert> {
        let rule = st.rule;
        let mut matched = 0u8;
        for &step in &plan.steps {
            let root = st.step_conds.get(step).copied().flatten();
            match self.eval_root_caught(rule, root, event, None) {
                Ok(true) if step < 8 => matched |= 1 << step,
                Ok(_) => {}
                Err(f) => {
                    self.count_failure(&f);
                    return None;
                }
            }
        }
        let fired = match &mut *st.lock() {
            Table::AnyOrder(t) => t
                .on_host_event(host, key, event.time_opt(), matched)
                .is_some(),
            _ => false,
        };
        if !fired {
            return None;
        }
        self.alert_caught(rule, event, None)
    }

    /// [`Engine::alert`] under `catch_unwind`, counting failures.
    fn alert_caught(
        &self,
        rule: RuleId,
        event: &Event<'_>,
        captures: Option<&CaptureView<'_>>,
    ) -> Option<Alert> {
        match catch_unwind(AssertUnwindSafe(|| self.alert(rule, event, captures))) {
            Ok(Ok(alert)) => Some(alert),
            Ok(Err(_)) => {
                bump(&self.counters.eval_errors, 1);
                None
            }
            Err(_) => {
                bump(&self.counters.internal_errors, 1);
                None
            }
        }
    }

    /// Whether template part `e` of `rule` is a field of the current event that the event did
    /// not carry: the message then says [`ABSENT`] rather than the type's empty value (`0`,
    /// `""`), which reads as a value the event had.
    fn reads_absent_field(&self, rule: &crate::ir::Rule, e: ExprId, event: &Event<'_>) -> bool {
        match rule.expr(e).map(|x| &x.kind) {
            Some(crate::ir::ExprKind::Field(f)) => !self
                .interp
                .binding()
                .field_on(*f, event.ty())
                .is_some_and(|b| event.is_present(b.index)),
            _ => false,
        }
    }

    /// The message of `rule` (`r`) firing on `event`: its `emit` template with each `{...}`
    /// interpolated ([`write_interpolated`], [`ABSENT`] for a field the event lacks), or its
    /// title when it has no `emit`.
    fn message(
        &self,
        rule: RuleId,
        r: &crate::ir::Rule,
        event: &Event<'_>,
        captures: Option<&CaptureView<'_>>,
    ) -> Result<String, EvalError> {
        if r.emit.is_empty() {
            return Ok(r.title.clone());
        }
        let mut m = String::new();
        for part in &r.emit {
            match part {
                TemplatePart::Lit(text) => m.push_str(text),
                TemplatePart::Expr(e) if self.reads_absent_field(r, *e, event) => {
                    m.push_str(ABSENT);
                }
                TemplatePart::Expr(e) => {
                    let v = self.interp.eval_value_with(rule, *e, event, captures)?;
                    write_interpolated(&mut m, &v);
                }
            }
        }
        Ok(m)
    }

    /// The alert of `rule` firing on `event` (for a sequence: its last step's event, with the
    /// completed match's `captures`).
    fn alert(
        &self,
        rule: RuleId,
        event: &Event<'_>,
        captures: Option<&CaptureView<'_>>,
    ) -> Result<Alert, EvalError> {
        let program = self.interp.program();
        let r = program
            .rules
            .get(rule.0 as usize)
            .ok_or_else(|| EvalError::Internal("rule id out of range".into()))?;
        let message = self.message(rule, r, event, captures)?;
        let mut fields = Vec::with_capacity(r.fields.len());
        for (name, e) in &r.fields {
            let v: Value<'static> = self
                .interp
                .eval_value_with(rule, *e, event, captures)?
                .into_owned();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bind::bind;
    use crate::budget::Budget;
    use crate::ir::{Program, SchemaRef};
    use crate::schema::Schema;
    use crate::verify::verify;

    fn empty_verified() -> Verified {
        let program = Program {
            schema: SchemaRef {
                name: "endpoint".to_string(),
                major: 1,
                minor: 0,
            },
            fields: Vec::new(),
            builtins: Vec::new(),
            strings: Vec::new(),
            lists: Vec::new(),
            regexes: Vec::new(),
            rules: Vec::new(),
        };
        let schema = Schema::endpoint();
        let binding = bind(&program, &schema).expect("an empty program binds");
        verify(program, binding, &Budget::default()).expect("an empty program verifies")
    }

    /// The interpreter-only build (`--no-default-features`) really has no JIT: asking for it is
    /// a refusal, not a panic and not a silent fallback; the full build compiles with it.
    #[test]
    fn the_jit_runs_exactly_when_the_feature_is_built() {
        let verified = empty_verified();
        let options = EngineOptions {
            engine: EngineKind::Jit,
            ..EngineOptions::default()
        };
        let built = Engine::new(&verified, options).map(|e| e.kind());
        if cfg!(feature = "jit") {
            assert_eq!(built, Ok(EngineKind::Jit));
            assert_eq!(EngineKind::fastest(), EngineKind::Jit);
        } else {
            assert_eq!(built, Err(EngineError::JitNotBuilt));
            assert!(EngineError::JitNotBuilt
                .to_string()
                .contains("without the JIT"));
            assert_eq!(EngineKind::fastest(), EngineKind::Interp);
        }
        assert_eq!(EngineKind::Jit.is_built(), cfg!(feature = "jit"));
        assert!(EngineKind::Interp.is_built());
        let interp = EngineOptions::default();
        assert_eq!(
            Engine::new(&verified, interp).map(|e| e.kind()),
            Ok(EngineKind::Interp)
        );
    }
}
