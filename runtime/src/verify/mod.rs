//! The verifier: proves a bound program safe to run on the host, or reports every reason it is
//! not as a coded error (E04xx; E0627 when only the host's looser bounds break a proof).
//!
//! Input: an [`crate::ir::Program`], its [`Binding`] to the host schema (so every bound used is the
//! HOST's) and the host's [`Budget`]; output: [`Verified`] (the program, its binding, its
//! [`CostReport`] and its compiled regexes; constructible only here) or `Vec<VerifyError>`.
//! The compiler runs the very same function after lowering.
//!
//! Passes, each linear in the program (no recursion anywhere; every count is checked against
//! [`crate::budget::Limits`] before work proportional to it is done):
//! - `limits`: table sizes, literal bytes, node counts; constants are values of their type;
//! - `structure`: per rule, operand ids precede their node (acyclic, topological), every id is
//!   in range, every node is well-typed, quantifier variables are read only inside their
//!   quantifier's body (quantifiers nest by strictly increasing level), nesting depth, and which
//!   fields and captures each part of a rule may read;
//! - `kinds`: rule shapes: event types, sequences (2 to 8 steps, windows, captures, keys),
//!   thresholds, state declarations, unique rule ids;
//! - `regex`: every pattern compiles to a [`crate::matcher::Matcher`] (a DFA when it
//!   determinizes within its limit, else a PikeVM over an NFA within [`REGEX_SIZE_LIMIT`]),
//!   whose worst case per byte the cost pass charges;
//! - `cost` and `state`: the worst-case steps per event per rule and per event type, and the
//!   worst-case state bytes per rule and per bundle, against the budget (the model is documented
//!   in `cost` and in `docs/bundle-format.md`).
//!
//! Termination needs no pass of its own: the IR has no jumps, calls or recursion, and its only
//! loop is a quantifier over a list, whose length the host bounds. No operation traps: integer
//! arithmetic is total by definition (wrapping, division by zero gives 0), the only partial
//! constants (network prefixes) are checked, and every read is through a checked id.

mod cost;
mod kinds;
mod limits;
mod regex;
pub(crate) mod state;
mod structure;

use std::fmt;

use crate::bind::Binding;
use crate::budget::Budget;
use crate::error::ErrorCode;
use crate::ir::{ExprId, Program, RuleId};
use crate::matcher::Matcher;

pub use crate::matcher::{DFA_BYTE_STEPS, PIKE_BYTE_STEPS, PIKE_STATE_STEPS, REGEX_BASE_STEPS};
pub use cost::{
    steps_to_ns, CostReport, EventCost, LinearBound, PrefilterField, RuleCost, ALERT_FRAME_STEPS,
    CAPTURE_HEADER_BYTES, EVENT_FRAME_STEPS, FOLD_DEN, FOLD_NUM, KEY_HASH_BYTES,
    LITERAL_PATTERN_STEPS, NODE_STEPS, PREFILTER_AC_BYTE_STEPS, PREFILTER_GRAM_BYTE_STEPS,
    PREFILTER_GRAM_PATTERNS, PREFILTER_HIT_STEPS, PS_PER_STEP, RULE_FRAME_STEPS, SMALL_FIELD_BYTES,
    STATE_ENTRY_OVERHEAD_BYTES, STATE_UPDATE_STEPS, TIMESTAMP_BYTES, TYPICAL_EVENT_BYTES,
    VALUE_HASH_BYTES,
};

pub use crate::matcher::REGEX_SIZE_LIMIT;

/// At most this many errors are reported (the passes stop early past it).
pub const MAX_REPORTED_ERRORS: usize = 1000;

/// Compiles a pattern exactly as the engines will, within [`REGEX_SIZE_LIMIT`].
pub fn compile_regex(pattern: &str) -> Result<Matcher, crate::matcher::MatcherError> {
    Matcher::new(pattern)
}

/// One verifier finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// The E04xx code (or E0627).
    pub code: ErrorCode,
    /// The rule at fault, when one is.
    pub rule: Option<RuleId>,
    /// That rule's name, for printing.
    pub rule_name: Option<String>,
    /// The node at fault, when one is (the compiler maps it to a span through the debug
    /// section).
    pub expr: Option<ExprId>,
    /// Lower case, names in backticks, no final period.
    pub message: String,
}

impl fmt::Display for VerifyError {
    /// `error[E0403]: rule NAME: message (node 7)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error[{}]: ", self.code)?;
        match (&self.rule_name, self.rule) {
            (Some(name), _) => write!(f, "rule {name}: ")?,
            (None, Some(id)) => write!(f, "rule #{}: ", id.0)?,
            (None, None) => {}
        }
        f.write_str(&self.message)?;
        if let Some(e) = self.expr {
            write!(f, " (node {})", e.0)?;
        }
        Ok(())
    }
}

impl std::error::Error for VerifyError {}

/// A program proven safe on one host under one budget. Only [`verify`] builds it; engines take
/// it by reference, so unverified code cannot run.
#[derive(Clone, Debug)]
pub struct Verified {
    program: Program,
    binding: Binding,
    cost: CostReport,
    regexes: Vec<Matcher>,
}

impl Verified {
    /// The verified program.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Its binding to the host schema.
    pub fn binding(&self) -> &Binding {
        &self.binding
    }

    /// Its worst-case cost and state, per rule and per event type.
    pub fn cost(&self) -> &CostReport {
        &self.cost
    }

    /// The compiled regexes, indexed by [`crate::ir::RegexId`]: the engines use these rather
    /// than compiling again (each compiled within [`REGEX_SIZE_LIMIT`]).
    pub fn regexes(&self) -> &[Matcher] {
        &self.regexes
    }

    /// The program, its binding and its compiled regexes, without copying them (the engine
    /// keeps them; [`Verified::cost`] is read before).
    pub(crate) fn into_parts(self) -> (Program, Binding, Vec<Matcher>) {
        (self.program, self.binding, self.regexes)
    }
}

/// Shared context of the passes.
pub(crate) struct Cx<'a> {
    pub(crate) program: &'a Program,
    pub(crate) binding: &'a Binding,
    pub(crate) budget: &'a Budget,
}

impl Cx<'_> {
    /// An error about rule `rule`.
    pub(crate) fn err(
        &self,
        code: ErrorCode,
        rule: RuleId,
        expr: Option<ExprId>,
        message: String,
    ) -> VerifyError {
        VerifyError {
            code,
            rule: Some(rule),
            rule_name: self
                .program
                .rules
                .get(rule.0 as usize)
                .map(|r| r.name.clone()),
            expr,
            message,
        }
    }

    /// An error about the program as a whole.
    pub(crate) fn global(code: ErrorCode, message: String) -> VerifyError {
        VerifyError {
            code,
            rule: None,
            rule_name: None,
            expr: None,
            message,
        }
    }
}

/// Verifies `program`, bound to the host by `binding`, under `budget`.
pub fn verify(
    program: Program,
    binding: Binding,
    budget: &Budget,
) -> Result<Verified, Vec<VerifyError>> {
    let mut errors = Vec::new();
    let cx = Cx {
        program: &program,
        binding: &binding,
        budget,
    };

    if binding.field_count() != program.fields.len()
        || binding.builtin_count() != program.builtins.len()
        || binding.rule_count() != program.rules.len()
    {
        return Err(vec![Cx::global(
            ErrorCode::FieldOutOfRange,
            "the binding was made for another program".to_string(),
        )]);
    }

    // Counts first: everything after is proportional to them.
    limits::check(&cx, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    limits::check_constants(&cx, &mut errors);
    kinds::check_program(&cx, &mut errors);
    for (i, rule) in program.rules.iter().enumerate() {
        if errors.len() >= MAX_REPORTED_ERRORS {
            break; // enough to act on; a hostile program must not make the report huge
        }
        // `limits::check` bounded the rule count by a u32.
        let id = RuleId(u32::try_from(i).unwrap_or(u32::MAX));
        let before = errors.len();
        kinds::check_rule(&cx, id, rule, &mut errors);
        if errors.len() == before {
            structure::check_rule(&cx, id, rule, &mut errors);
        }
    }
    if !errors.is_empty() {
        errors.truncate(MAX_REPORTED_ERRORS);
        return Err(errors);
    }
    let regexes = regex::compile_all(&cx, &mut errors);
    if !errors.is_empty() {
        errors.truncate(MAX_REPORTED_ERRORS);
        return Err(errors);
    }

    let cost = cost::report(&cx, &regexes, cost::Bounds::Host);
    cost::check_budget(&cx, &regexes, &cost, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Verified {
        program,
        binding,
        cost,
        regexes,
    })
}

#[cfg(test)]
mod tests;
