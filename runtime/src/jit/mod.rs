//! The Cranelift JIT: compiles each single-event rule's condition to native code, one function
//! per (rule, event type), and each stateful rule's conditions (every sequence step's, on its
//! step's event type; a threshold's, on each of its event types), one function per (rule,
//! event type, condition root), and runs them as an [`Evaluator`].
//!
//! Input: a [`Verified`] program (so every field read is bound to the host and every bound is
//! proven); output: a [`JitProgram`] owning the machine code, the constants it refers to and a
//! pool of per-call contexts. The interpreter ([`crate::interp::Interp`]) is the oracle: both
//! engines must agree on every program and event (`tests/tests/suite/differential.rs`). This module
//! must not define semantics: helpers call the interpreter's own functions, and read the
//! interpreter's own prepared tables (constant lists, regexes, builtin rows) by the program's ids.
//!
//! # When code is generated
//!
//! [`compile`] generates every rule's code at once and refuses a program with a rule the JIT
//! cannot compile. [`lazy`] (what the engine uses by default) generates nothing up front: a
//! rule's functions are translated, generated and finalized the first time the rule is
//! evaluated, under a lock that only compilation takes. With the prefilter skipping most rules
//! of a large bundle on most events, loading the converted SigmaHQ set then costs no code
//! generation, and only the rules that ever become candidates take code memory. A rule compiles
//! once, in 0.5 to 1 ms on average for the converted SigmaHQ rules (its size is bounded by the
//! verifier). A rule the JIT
//! refuses when compiled lazily is evaluated by the interpreter (the oracle: same results) and
//! counted in [`JitStats::refused`].
//!
//! # Calling convention of a compiled rule
//!
//! ```text
//!   extern "C" fn(slots: *const Slot, flags: *const u8, ctx: *mut EvalCtx,
//!                 captures: *const Slot, capture_flags: *const u8) -> u32
//!
//!   slots ──► ┌──────────────── Slot 0 ───────────────┐┌─ Slot 1 ─┐      one per field of the
//!             │ w0 (offset 0)      │ w1 (offset 8)     ││   ...    │ ...  event type, at
//!             └────────────────────┴───────────────────┘└──────────┘      FieldIndex * 16
//!   flags ──► [ f0 ][ f1 ] ...   one byte per field: bit 0 present, bit 1 truncated
//!   ctx   ──► EvalCtx            opaque to compiled code; passed through to helpers
//!   captures ──► [ Slot 0 ][ Slot 1 ] ...   a sequence step's partial match: Captured(i) at
//!                                           captures + 16 * i, laid out as event slots (a
//!                                           string's bytes live in the state table)
//!   capture_flags ──► [ c0 ][ c1 ] ...      one byte per capture, as `flags`
//!                     (both null for single-event rules and thresholds, which read none)
//!
//!   returns 0  the condition is false
//!           1  the condition is true
//!           2  STATUS_PANIC: a helper caught a panic (the event is an internal error)
//!           3  STATUS_ERROR: a helper was handed something it refuses (a bug)
//! ```
//!
//! The slot words are those of [`crate::event::slot`]: bool and int in `w0`; a string's
//! address in `w0` and its byte length in `w1` (`<= max_len`); an ip's high and low 64 bits
//! (IPv4 mapped, and all zero when absent, which compiled code replaces by `0.0.0.0` unless the
//! present flag is set); a list's first item slot address in `w0` and item count in `w1`
//! (`<= max_items`), items laid out as slots too. Compiled code reads a field as
//! `load.i64 slots + index * 16 + {0, 8}` and its flag as `load.i8 flags + index`.
//!
//! Inline: constants, field reads, `exists`, `truncated`, `not`/`and`/`or` (short-circuit
//! branches), int arithmetic (wrapping; `/` and `%` guarded by selects so that no instruction
//! can trap), comparisons of ints, bools and ips, string `==`/`startswith`/`endswith` against
//! a constant of up to 32 bytes (length check, then word compares), quantifiers (a loop over
//! the list's item slots, bounded by its count), `len` and `truncated(field)`.
//!
//! Helpers (`helpers.rs`, `extern "C"`, each under `catch_unwind`): every other string test
//! (folded or not), `OP any|all [...]`, membership (constant lists: strings, ints, ips, ip in
//! cidr; list fields), `matches` (the verifier's compiled regex, with a cache per call) and
//! every other builtin (the registry's own `eval`; a string result lives in the call's
//! scratch). A helper returns 0/1 or a status `>= 2`, which compiled code returns at once.
//!
//! Prefilter bits: compiled against the engine's [`Prefilter`] ([`lazy`] with the prefilter), a
//! literal test on a `string` field whose patterns the prefilter scans for (`contains`,
//! `startswith`, `endswith`, `==`, folded or not, `any`/`all` lists, `in`/`iin` constant
//! lists) first loads the `hits` word of the [`EvalCtx`]: when not 0 (the engine passed this
//! event's scan results through [`Evaluator::eval_hits`]), the test is one byte load and mask
//! per pattern; when 0, the helper runs as above. Folding then happens once per event, in the
//! prefilter's reused buffer.
//!
//! Stateful rules are driven by the engine through the state module, which calls
//! [`Evaluator::eval_root`] with the partial match's [`CaptureView`]: its `slots()` and
//! `flags()` are passed as `captures` and `capture_flags` (the view borrows the table, so the
//! string addresses stay valid for the call). Like the interpreter's `eval_cond`,
//! [`Evaluator::eval`] on a stateful rule is `false`.
//!
//! # Threads
//!
//! A [`JitProgram`] is `Send + Sync`. Each call takes an [`EvalCtx`] from a pool
//! (`regex_automata::util::pool::Pool`: its owner thread takes its context without locking,
//! other threads from a small striped stack), so each thread in effect keeps one context and its
//! regex caches warm. Machine code, once finalized, is immutable; each rule's entry points are
//! published through a `OnceLock`, so a thread that finds a rule compiled reads it without a
//! lock, and two threads that need the same new rule wait for one compilation.
#![expect(
    unsafe_code,
    reason = "calling JIT-compiled code and reading event strings by address in its helpers"
)]

mod helpers;
mod module;
mod prepare;
mod translate;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use cranelift_codegen::ir::{types, AbiParam, Signature, UserFuncName};
use cranelift_frontend::FunctionBuilderContext;
use cranelift_jit::JITModule;
use cranelift_module::Module;
use regex_automata::util::pool::Pool;

use crate::bind::Binding;
use crate::builtins::EvalFn;
use crate::eval::{EvalError, Evaluator};
use crate::event::{Event, Slot};
use crate::interp::Interp;
use crate::ir::{ExprId, Rule, RuleId, RuleKind};
use crate::prefilter::{Hits, Prefilter};
use crate::schema::EventTypeId;
use crate::state::CaptureView;
use crate::verify::Verified;

/// Where compiled code finds the prefilter bits' address in an [`EvalCtx`].
pub(crate) const HITS_OFFSET: i32 = std::mem::offset_of!(EvalCtx, hits) as i32;

/// A helper caught a panic: the event is reported as an internal error.
pub const STATUS_PANIC: u32 = 2;
/// A helper was handed an id or a value it refuses (a bug in the JIT, never in content).
pub const STATUS_ERROR: u32 = 3;

/// Why a program could not be compiled.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JitError {
    /// The host cannot run the JIT (not a supported or not a 64-bit ISA).
    #[error("host: {0}")]
    Host(String),
    /// A node the JIT does not compile (none on a verified single-event rule).
    #[error("rule `{rule}`: node {expr}: the JIT does not compile {what}")]
    Unsupported {
        /// The rule's name.
        rule: String,
        /// The node.
        expr: u32,
        /// What it is.
        what: String,
    },
    /// Sharing in the rule's arena would be duplicated into too much code.
    #[error("rule `{rule}`: the compiled code would be too large")]
    TooLarge {
        /// The rule's name.
        rule: String,
    },
    /// Cranelift refused the generated code (a bug).
    #[error("code generation: {0}")]
    Codegen(String),
    /// An internal inconsistency (a bug).
    #[error("internal: {0}")]
    Internal(String),
}

/// What compiling took so far (a lazily compiled program grows these as rules are compiled).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JitStats {
    /// Rules compiled (single-event rules).
    pub rules: usize,
    /// Native functions (one per rule and event type it runs on).
    pub functions: usize,
    /// Stateful rules compiled (their conditions are, see `conditions`).
    pub skipped: usize,
    /// Stateful rules' conditions compiled (one per step or threshold and event type).
    pub conditions: usize,
    /// Rules the JIT refused when compiled lazily: they run on the interpreter (same results).
    /// An eagerly compiled program ([`compile`]) refuses to build instead.
    pub refused: usize,
    /// Bytes of machine code.
    pub code_bytes: usize,
    /// Wall time spent compiling, translation and code generation included.
    pub compile_time: Duration,
}

/// What to compile for one rule: (event type, condition, root if stateful, captures).
type UnitSpec = (EventTypeId, Option<ExprId>, Option<ExprId>, Option<usize>);

/// The native code of one rule (or stateful condition) for one event type.
type RuleFn =
    unsafe extern "C" fn(*const Slot, *const u8, *mut EvalCtx, *const Slot, *const u8) -> u32;

#[derive(Clone, Copy)]
struct Compiled {
    event: EventTypeId,
    /// For a stateful rule's condition: its root node.
    root: Option<ExprId>,
    code: RuleFn,
    /// The event must have at least this many slots (largest field index read, plus one).
    min_slots: usize,
    /// The capture view must have at least this many captures.
    min_captures: usize,
}

/// One rule's code, once asked for.
enum RuleCode {
    /// Its functions: one per event type for a single-event rule, one per (event type, root)
    /// for a stateful rule's conditions.
    Native(Box<[Compiled]>),
    /// The JIT refused it (see [`JitStats::refused`]): the interpreter evaluates it.
    Refused(JitError),
}

/// Everything compiling a rule needs and keeps: the module owning the code, the helpers'
/// imports, the constants compiled code embeds, Cranelift's reusable contexts.
struct Compiler {
    module: JITModule,
    helpers: translate::HelperIds,
    prep: prepare::Prepare,
    ctx: cranelift_codegen::Context,
    fctx: FunctionBuilderContext,
    sig: Signature,
    stats: JitStats,
}

type CtxFactory =
    Box<dyn Fn() -> EvalCtx + Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe>;

/// A program whose rules are compiled to native code: on first use ([`lazy`]) or all at once
/// ([`compile`]). See the module documentation.
pub struct JitProgram {
    /// Per event type: the prefilter's literal count, when compiled against one (its bits
    /// must be at least that long for compiled code to read them).
    hit_lens: Vec<usize>,
    /// Per rule (by [`RuleId`]): its code, compiled the first time it is asked for.
    code: Box<[OnceLock<RuleCode>]>,
    /// The program, its binding and the tables helpers read (prepared lists, regexes, builtin
    /// rows); also the evaluator of rules the JIT refused.
    interp: Arc<Interp>,
    /// The engine's prefilter, whose literals compiled code answers from its bits.
    prefilter: Option<Arc<Prefilter>>,
    pool: Pool<EvalCtx, CtxFactory>,
    /// Compiles rules on demand and owns the code memory (freed on drop). Locked only while a
    /// rule is being compiled, never while code runs.
    compiler: Mutex<Option<Compiler>>,
}

impl fmt::Debug for JitProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JitProgram")
            .field("stats", &self.stats())
            .field("regexes", &self.interp.regexes().len())
            .finish_non_exhaustive()
    }
}

/// Per-call working state of compiled code: regex caches (one per regex of the program)
/// and the scratch that holds builtin string results until the call ends. Opaque to
/// compiled code, which passes its address through to the helpers. Not shared between
/// threads: each call holds one exclusively (see [`JitProgram`]).
pub struct EvalCtx {
    /// The address of the prefilter's bits for the running call ([`Hits::bits`]), 0 when the
    /// call has none; compiled code reads it at [`HITS_OFFSET`].
    hits: u64,
    /// The tables helpers read by the program's ids.
    pub(crate) interp: Arc<Interp>,
    pub(crate) caches: Vec<crate::matcher::MatcherCache>,
    /// Replaces every builtin's `eval` (tests inject a panicking builtin with it).
    pub(crate) call_override: Option<EvalFn>,
    scratch: Vec<String>,
}

impl fmt::Debug for EvalCtx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvalCtx")
            .field("scratch", &self.scratch.len())
            .finish_non_exhaustive()
    }
}

impl EvalCtx {
    pub(crate) fn new(interp: Arc<Interp>, call_override: Option<EvalFn>) -> EvalCtx {
        let caches = interp
            .regexes()
            .iter()
            .map(crate::matcher::Matcher::create_cache)
            .collect();
        EvalCtx {
            hits: 0,
            interp,
            caches,
            call_override,
            scratch: Vec::new(),
        }
    }

    /// Keeps a builtin's string result alive until the call ends; returns it in place.
    pub(crate) fn keep(&mut self, s: Cow<'static, str>) -> &str {
        match s {
            Cow::Borrowed(s) => s,
            Cow::Owned(s) => {
                // A `String`'s bytes stay where they are when the vector grows.
                self.scratch.push(s);
                self.scratch.last().map_or("", String::as_str)
            }
        }
    }

    /// Ends a call: drops its scratch strings (compiled code holds no address into them
    /// any more).
    pub(crate) fn end_call(&mut self) {
        self.scratch.clear();
    }

    /// After a caught panic: fresh regex caches (a search may have stopped half-way).
    pub(crate) fn reset(&mut self) {
        for (cache, re) in self.caches.iter_mut().zip(self.interp.regexes()) {
            re.reset_cache(cache);
        }
        self.scratch.clear();
    }
}

/// Compiles every rule of `verified` to native code now; a rule the JIT refuses is an error.
pub fn compile(verified: &Verified) -> Result<JitProgram, JitError> {
    compile_with(verified, None)
}

/// [`compile`], with every builtin's `eval` replaced by `call_override` (tests use it to
/// inject a panicking builtin).
pub(crate) fn compile_with(
    verified: &Verified,
    call_override: Option<EvalFn>,
) -> Result<JitProgram, JitError> {
    let interp = Interp::new(verified).map_err(|e| JitError::Internal(e.to_string()))?;
    let program = JitProgram::new(Arc::new(interp), None, call_override)?;
    program.compile_all()?;
    Ok(program)
}

/// A program that compiles each rule the first time it is evaluated (or asked about), for an
/// engine that runs `prefilter` (built from the same program): literal tests the prefilter scans
/// for are answered from its per-event results when [`Evaluator::eval_hits`] passes them.
/// Only the host is checked here; a rule the JIT then refuses runs on `interp` (the oracle, so
/// with the same results) and is counted in [`JitStats::refused`].
pub fn lazy(
    interp: Arc<Interp>,
    prefilter: Option<Arc<Prefilter>>,
) -> Result<JitProgram, JitError> {
    JitProgram::new(interp, prefilter, None)
}

/// The units of rule `rule_id`: (event type, condition, root if stateful, captures).
fn units_of(rule: &Rule, rule_id: RuleId, binding: &Binding) -> Vec<UnitSpec> {
    match &rule.kind {
        RuleKind::Single { cond, .. } => binding
            .rule_events(rule_id)
            .iter()
            .map(|&ev| (ev, *cond, None, None))
            .collect(),
        RuleKind::Sequence(seq) | RuleKind::SequenceAnyOrder(seq) => {
            let mut units = Vec::new();
            for (step, &ev) in seq.steps.iter().zip(binding.step_events(rule_id)) {
                if let Some(root) = step.cond {
                    if !units
                        .iter()
                        .any(|u: &UnitSpec| u.0 == ev && u.2 == Some(root))
                    {
                        units.push((ev, Some(root), Some(root), Some(seq.captures.len())));
                    }
                }
            }
            units
        }
        RuleKind::Threshold(t) => match t.cond {
            Some(root) => binding
                .rule_events(rule_id)
                .iter()
                .map(|&ev| (ev, Some(root), Some(root), None))
                .collect(),
            None => Vec::new(),
        },
    }
}

impl Compiler {
    fn new() -> Result<Compiler, JitError> {
        let (module, helpers) = module::new_module()?;
        let ctx = module.make_context();
        let mut sig = module.make_signature();
        for _ in 0..5 {
            sig.params.push(AbiParam::new(types::I64));
        }
        sig.returns.push(AbiParam::new(types::I32));
        Ok(Compiler {
            module,
            helpers,
            prep: prepare::Prepare::default(),
            ctx,
            fctx: FunctionBuilderContext::new(),
            sig,
            stats: JitStats::default(),
        })
    }

    /// Translates, generates and finalizes rule `rule_id`'s functions.
    fn compile_rule(
        &mut self,
        interp: &Interp,
        prefilter: Option<&Prefilter>,
        rule_id: RuleId,
    ) -> Result<Box<[Compiled]>, JitError> {
        let program = interp.program();
        let binding = interp.binding();
        let rule = program
            .rules
            .get(rule_id.0 as usize)
            .ok_or_else(|| JitError::Internal("rule id out of range".into()))?;
        let mut defined = Vec::new();
        for (event, cond, root, captures) in units_of(rule, rule_id, binding) {
            let func_id = self
                .module
                .declare_anonymous_function(&self.sig)
                .map_err(|e| JitError::Codegen(e.to_string()))?;
            self.ctx.func.signature = self.sig.clone();
            self.ctx.func.name = UserFuncName::user(0, func_id.as_u32());
            let unit = translate::Unit {
                program,
                binding,
                rule_id,
                rule,
                cond,
                event,
                captures,
                prefilter,
            };
            let reads = translate::translate(
                &mut self.module,
                &self.helpers,
                &mut self.ctx.func,
                &mut self.fctx,
                &mut self.prep,
                &unit,
            );
            let reads = match reads {
                Ok(m) => m,
                Err(e) => {
                    self.module.clear_context(&mut self.ctx);
                    return Err(e);
                }
            };
            if let Err(e) = self.module.define_function(func_id, &mut self.ctx) {
                self.module.clear_context(&mut self.ctx);
                return Err(JitError::Codegen(format!("rule `{}`: {e:?}", rule.name)));
            }
            self.stats.code_bytes += self
                .ctx
                .compiled_code()
                .map_or(0, |c| c.code_buffer().len());
            self.module.clear_context(&mut self.ctx);
            defined.push((event, root, func_id, reads));
        }
        self.module
            .finalize_definitions()
            .map_err(|e| JitError::Codegen(e.to_string()))?;
        let mut out = Vec::with_capacity(defined.len());
        for (event, root, func_id, reads) in defined {
            let ptr = self.module.get_finalized_function(func_id);
            // SAFETY: `ptr` is the entry of a function just finalized in `module` with the
            // signature `sig` (five i64 parameters, one i32 result, the host's default calling
            // convention, which is `extern "C"`), matching `RuleFn`. It stays valid while
            // `module` lives, i.e. as long as the `JitProgram` that stores both (the module is
            // freed only in its `drop`).
            let code = unsafe { std::mem::transmute::<*const u8, RuleFn>(ptr) };
            out.push(Compiled {
                event,
                root,
                code,
                min_slots: reads.slots,
                min_captures: reads.captures,
            });
            self.stats.functions += 1;
            if root.is_some() {
                self.stats.conditions += 1;
            }
        }
        match rule.kind {
            RuleKind::Single { .. } => self.stats.rules += 1,
            _ => self.stats.skipped += 1,
        }
        Ok(out.into_boxed_slice())
    }
}

impl JitProgram {
    fn new(
        interp: Arc<Interp>,
        prefilter: Option<Arc<Prefilter>>,
        call_override: Option<EvalFn>,
    ) -> Result<JitProgram, JitError> {
        let compiler = Compiler::new()?;
        let code = interp
            .program()
            .rules
            .iter()
            .map(|_| OnceLock::new())
            .collect();
        let for_pool = Arc::clone(&interp);
        let factory: CtxFactory =
            Box::new(move || EvalCtx::new(Arc::clone(&for_pool), call_override));
        // Per event type: how many bytes of prefilter bits compiled code may read.
        let hit_lens = match &prefilter {
            Some(p) => (0..p.type_count())
                .map(|t| u16::try_from(t).map_or(0, |t| p.literal_count(EventTypeId(t))))
                .collect(),
            None => Vec::new(),
        };
        Ok(JitProgram {
            hit_lens,
            code,
            interp,
            prefilter,
            pool: Pool::new(factory),
            compiler: Mutex::new(Some(compiler)),
        })
    }

    /// What compiling took so far.
    pub fn stats(&self) -> JitStats {
        match self.compiler.lock() {
            Ok(c) => c.as_ref().map(|c| c.stats).unwrap_or_default(),
            Err(poisoned) => poisoned
                .into_inner()
                .as_ref()
                .map(|c| c.stats)
                .unwrap_or_default(),
        }
    }

    /// Compiles every rule not compiled yet; the first rule the JIT refuses is the error.
    pub fn compile_all(&self) -> Result<(), JitError> {
        for i in 0..self.code.len() {
            let rule =
                RuleId(u32::try_from(i).map_err(|_| JitError::Internal("too many rules".into()))?);
            if let Some(RuleCode::Refused(e)) = self.code(rule) {
                return Err(e.clone());
            }
        }
        Ok(())
    }

    /// Rule `rule`'s code, compiled now if it was not yet; `None` for an id out of range.
    fn code(&self, rule: RuleId) -> Option<&RuleCode> {
        let cell = self.code.get(rule.0 as usize)?;
        Some(cell.get_or_init(|| self.compile_rule(rule)))
    }

    fn compile_rule(&self, rule: RuleId) -> RuleCode {
        // A panic while compiling is caught below, so the lock is never poisoned by one; take
        // it anyway if it is.
        let mut guard = match self.compiler.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let Some(compiler) = guard.as_mut() else {
            return RuleCode::Refused(JitError::Internal("the code was freed".into()));
        };
        let started = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| {
            compiler.compile_rule(&self.interp, self.prefilter.as_deref(), rule)
        }));
        compiler.stats.compile_time += started.elapsed();
        match result {
            Ok(Ok(code)) => RuleCode::Native(code),
            Ok(Err(e)) => {
                compiler.stats.refused += 1;
                RuleCode::Refused(e)
            }
            Err(_) => {
                // Cranelift panicked half-way: start the next rule from fresh contexts.
                compiler.ctx = compiler.module.make_context();
                compiler.fctx = FunctionBuilderContext::new();
                compiler.stats.refused += 1;
                RuleCode::Refused(JitError::Internal(
                    "code generation panicked (caught)".into(),
                ))
            }
        }
    }

    /// Whether rule `rule` runs as native code on events of type `event` (compiling it now if
    /// it was not yet).
    pub fn is_compiled(&self, rule: RuleId, event: EventTypeId) -> bool {
        self.find(rule, event).is_some()
    }

    fn find(&self, rule: RuleId, event: EventTypeId) -> Option<Compiled> {
        match self.code(rule)? {
            RuleCode::Native(units) => units
                .iter()
                .find(|c| c.event == event && c.root.is_none())
                .copied(),
            RuleCode::Refused(_) => None,
        }
    }

    /// Whether the JIT refused rule `rule` (it then runs on the interpreter).
    fn refused(&self, rule: RuleId) -> bool {
        matches!(self.code(rule), Some(RuleCode::Refused(_)))
    }

    /// The interpreter's answer as a raw result (for a rule the JIT refused).
    fn interp_raw(r: Result<bool, EvalError>) -> Result<u32, EvalError> {
        r.map(u32::from)
    }

    /// Runs rule `rule` on `event`, giving the raw result or status of the compiled code
    /// (0 false, 1 true, `>= 2` a status, see the module documentation).
    pub fn run_raw(&self, rule: RuleId, event: &Event<'_>) -> Result<u32, EvalError> {
        self.run_raw_with(rule, event, None)
    }

    /// [`JitProgram::run_raw`] with the prefilter's results for `event` (see
    /// [`Evaluator::eval_hits`]): used when they are of `event`'s type and as long as the
    /// code compiled against the prefilter may read.
    pub fn run_raw_hits(
        &self,
        rule: RuleId,
        event: &Event<'_>,
        hits: &Hits,
    ) -> Result<u32, EvalError> {
        let ty = event.ty();
        let usable = hits.event_type() == Some(ty)
            && self
                .hit_lens
                .get(usize::from(ty.0))
                .is_some_and(|&n| n > 0 && hits.bits().len() >= n);
        self.run_raw_with(rule, event, usable.then_some(hits))
    }

    fn run_raw_with(
        &self,
        rule: RuleId,
        event: &Event<'_>,
        hits: Option<&Hits>,
    ) -> Result<u32, EvalError> {
        let Some(compiled) = self.find(rule, event.ty()) else {
            return match self.interp.program().rules.get(rule.0 as usize) {
                // Stateful rules: `false`, as the interpreter's `eval_cond`.
                Some(r) if !matches!(r.kind, RuleKind::Single { .. }) => Ok(0),
                Some(_) if self.refused(rule) => Self::interp_raw(self.interp.eval(rule, event)),
                Some(_) => Err(EvalError::Internal(format!(
                    "rule #{} does not run on event type #{}",
                    rule.0,
                    event.ty().0
                ))),
                None => Err(EvalError::Internal("rule id out of range".into())),
            };
        };
        let slots = event.slots();
        let flags = event.flags();
        if slots.len() < compiled.min_slots || flags.len() < compiled.min_slots {
            return Err(EvalError::Internal(
                "event has fewer fields than the binding".into(),
            ));
        }
        let mut ctx = self.pool.get();
        ctx.hits = hits.map_or(0, |h| h.bits().as_ptr() as u64);
        // SAFETY: `compiled.code` is live machine code owned by `self` (see `compile`) with the
        // `RuleFn` convention. It reads `slots[i]` and `flags[i]` only for field indexes
        // `i < min_slots <= slots.len(), flags.len()` (checked just above; the binding proved
        // the indexes belong to this event type), string bytes within each slot's length and
        // list items within each list's count (established by `event::EventBuilder`, whose
        // addresses stay valid while `event` is borrowed), and the prepared constants in
        // the compiler's store (kept until the code is freed). A single-event rule's code reads no capture (`translate` refuses
        // `Captured` without a capture count), so the null capture pointers are never read.
        // `ctx` is exclusively ours for the call (taken from the pool). When `ctx.hits` is not
        // 0 it is the address of `hits.bits()`, borrowed for the whole call, of this event's
        // type and at least `hit_lens[type]` bytes long (checked by `run_raw_hits`); compiled
        // code reads only literal numbers below that count (`translate::bits_or`).
        let r = unsafe {
            (compiled.code)(
                slots.as_ptr(),
                flags.as_ptr(),
                &raw mut *ctx,
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        ctx.hits = 0;
        if r >= 2 {
            ctx.reset();
        } else {
            ctx.end_call();
        }
        Ok(r)
    }

    /// Whether stateful rule `rule`'s condition `root` was compiled for events of type `event`.
    pub fn is_compiled_root(&self, rule: RuleId, root: ExprId, event: EventTypeId) -> bool {
        self.find_root(rule, root, event).is_some()
    }

    fn find_root(&self, rule: RuleId, root: ExprId, event: EventTypeId) -> Option<Compiled> {
        match self.code(rule)? {
            RuleCode::Native(units) => units
                .iter()
                .find(|c| c.event == event && c.root == Some(root))
                .copied(),
            RuleCode::Refused(_) => None,
        }
    }

    /// Runs stateful rule `rule`'s condition `root` on `event` with `captures` (see
    /// [`Evaluator::eval_root`]), giving the raw result or status of the compiled code.
    pub fn run_root_raw(
        &self,
        rule: RuleId,
        root: ExprId,
        event: &Event<'_>,
        captures: Option<&CaptureView<'_>>,
    ) -> Result<u32, EvalError> {
        let Some(compiled) = self.find_root(rule, root, event.ty()) else {
            if self.refused(rule) {
                return Self::interp_raw(self.interp.eval_root(rule, root, event, captures));
            }
            return Err(EvalError::Internal(format!(
                "rule #{}: condition {} is not compiled for event type #{}",
                rule.0,
                root.0,
                event.ty().0
            )));
        };
        let slots = event.slots();
        let flags = event.flags();
        if slots.len() < compiled.min_slots || flags.len() < compiled.min_slots {
            return Err(EvalError::Internal(
                "event has fewer fields than the binding".into(),
            ));
        }
        let (cap_slots, cap_flags) = match captures {
            Some(c) => (c.slots(), c.flags()),
            None => (&[][..], &[][..]),
        };
        if cap_slots.len() < compiled.min_captures || cap_flags.len() < compiled.min_captures {
            return Err(EvalError::Internal(
                "the partial match has fewer captures than the rule reads".into(),
            ));
        }
        let (cap_slots, cap_flags) = if compiled.min_captures == 0 {
            (std::ptr::null(), std::ptr::null())
        } else {
            (cap_slots.as_ptr(), cap_flags.as_ptr())
        };
        let mut ctx = self.pool.get();
        // Stateful conditions never read the prefilter's bits (their code falls back).
        ctx.hits = 0;
        // SAFETY: as in `run_raw` for the event's slots, flags, string bytes, list items, the
        // prepared constants and `ctx`. Captures: the code reads `captures[i]` and
        // `capture_flags[i]` only for `i < min_captures <= cap_slots.len(), cap_flags.len()`
        // (checked just above; null only when `min_captures` is 0, i.e. nothing is read), and
        // a present string capture's bytes within its length `w1`: `CaptureView` guarantees
        // that `w0` addresses that many bytes of UTF-8 inside the state table, valid while the
        // view is borrowed, which it is for the whole call.
        let r = unsafe {
            (compiled.code)(
                slots.as_ptr(),
                flags.as_ptr(),
                &raw mut *ctx,
                cap_slots,
                cap_flags,
            )
        };
        if r >= 2 {
            ctx.reset();
        } else {
            ctx.end_call();
        }
        Ok(r)
    }
}

fn status_result(r: u32) -> Result<bool, EvalError> {
    match r {
        0 => Ok(false),
        1 => Ok(true),
        STATUS_PANIC => Err(EvalError::Helper("a JIT helper panicked (caught)".into())),
        s => Err(EvalError::Helper(format!(
            "a JIT helper failed with status {s}"
        ))),
    }
}

impl Evaluator for JitProgram {
    fn eval(&self, rule: RuleId, event: &Event<'_>) -> Result<bool, EvalError> {
        status_result(self.run_raw(rule, event)?)
    }

    fn eval_hits(&self, rule: RuleId, event: &Event<'_>, hits: &Hits) -> Result<bool, EvalError> {
        status_result(self.run_raw_hits(rule, event, hits)?)
    }

    fn eval_root(
        &self,
        rule: RuleId,
        root: ExprId,
        event: &Event<'_>,
        captures: Option<&CaptureView<'_>>,
    ) -> Result<bool, EvalError> {
        status_result(self.run_root_raw(rule, root, event, captures)?)
    }
}

impl Drop for JitProgram {
    fn drop(&mut self) {
        let compiler = match self.compiler.get_mut() {
            Ok(c) => c.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(compiler) = compiler {
            // SAFETY: `drop` has `&mut self`, so no call into the code is running (calls
            // borrow `&self`), and the function pointers in `self.code` are dropped with
            // `self` and never called again. The constants the code embeds (`prep`) are
            // dropped after the memory is freed.
            unsafe { compiler.module.free_memory() };
        }
    }
}
