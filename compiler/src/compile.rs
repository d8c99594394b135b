//! The whole compile: check → lower → overlaps → bind → verify, with the verifier's findings
//! mapped back to source spans. The overlap warnings ([`crate::overlap`]) are found on the
//! lowered IR, so every caller of [`compile`] (`check`, `build`, the language server) sees them.
//!
//! This is what `vigil build`, `explain`, `run` and `test` share. The verifier and binding are
//! the runtime's own (`vigil_runtime::bind`, `vigil_runtime::verify`): an engineer sees at
//! compile time exactly what an agent would refuse at load, against the schema and budget given.

use vigil_grammar::span::{FileId, Span};
use vigil_runtime::bind::{self, BindError};
use vigil_runtime::budget::Budget;
use vigil_runtime::ir;
use vigil_runtime::schema::Schema;
use vigil_runtime::verify::{self, Verified, VerifyError};

use crate::diag::Diagnostic;
use crate::lower::{self, Lowered};
use crate::typeck::Typed;
use crate::{check, Options, Sources};

/// A compiled, verified program.
#[derive(Debug)]
pub struct Compiled {
    /// The checked HIR (tests and `explain` read it).
    pub typed: Typed,
    /// The IR's debug section: source spans per rule and node.
    pub debug: ir::DebugInfo,
    /// For each IR rule, the HIR rule it came from.
    pub origin: Vec<crate::hir::RuleId>,
    /// The program, bound to the schema and verified under the budget.
    pub verified: Verified,
    /// Warnings found on the way (errors make [`compile`] fail).
    pub warnings: Vec<Diagnostic>,
}

impl Compiled {
    /// The IR program.
    pub fn program(&self) -> &ir::Program {
        self.verified.program()
    }
}

/// Compiles the sources against `schema`, verifying under `budget`. On failure, every
/// diagnostic found (warnings included) is returned.
pub fn compile(
    sources: &Sources,
    schema: &Schema,
    opts: &Options,
    budget: &Budget,
) -> Result<Compiled, Vec<Diagnostic>> {
    let (typed, mut diags) = check(sources, schema, opts);
    let Some(typed) = typed else {
        return Err(diags);
    };
    let names: Vec<String> = sources.map.names().map(str::to_owned).collect();
    let Lowered {
        program,
        debug,
        origin,
    } = match lower::lower(&typed, &names) {
        Ok(l) => l,
        Err(mut errs) => {
            errs.extend(diags);
            return Err(errs);
        }
    };
    // Overlaps between rules and contradictions within them: warnings on the lowered IR.
    diags.extend(crate::overlap::check(&program, &debug));
    crate::sort(&mut diags);
    let binding = match bind::bind(&program, schema) {
        Ok(b) => b,
        Err(errs) => {
            let mut out: Vec<Diagnostic> = errs
                .iter()
                .map(|e| bind_diag(e, &program, &debug))
                .collect();
            out.extend(diags);
            return Err(out);
        }
    };
    match verify::verify(program, binding, budget) {
        // Under `--deny-warnings`, the overlap warnings withhold the program too.
        Ok(_) if opts.deny_warnings && !diags.is_empty() => Err(diags),
        Ok(verified) => Ok(Compiled {
            typed,
            debug,
            origin,
            verified,
            warnings: diags,
        }),
        Err(errs) => {
            let whole = sources
                .first_user_file()
                .map_or_else(Span::default, |f| Span::new(f, 0, 0));
            let mut out: Vec<Diagnostic> =
                errs.iter().map(|e| verify_diag(e, &debug, whole)).collect();
            out.extend(diags);
            Err(out)
        }
    }
}

fn span_of(s: ir::SrcSpan) -> Span {
    Span::new(FileId(s.file), s.start, s.end)
}

/// A verifier error as a diagnostic at the node's (or the rule's) source span; a finding about
/// the whole bundle (an event type's cost, the bundle's state) is reported at `whole`.
pub fn verify_diag(e: &VerifyError, debug: &ir::DebugInfo, whole: Span) -> Diagnostic {
    let rule = e.rule.and_then(|r| debug.rules.get(r.0 as usize));
    let node = rule.and_then(|r| e.expr.and_then(|x| r.exprs.get(x.0 as usize)));
    let span = node
        .or(rule.map(|r| &r.name))
        .map_or(whole, |s| span_of(*s));
    let label = if node.is_some() {
        "here"
    } else if rule.is_some() {
        "in this rule"
    } else {
        "in the rules compiled together"
    };
    let mut d = Diagnostic::new(e.code, span, e.message.clone(), label);
    if let Some(name) = &e.rule_name {
        d = d.with_note(format!("found by the verifier in rule `{name}`"));
    }
    d.with_help_opt(verify_help(e.code).map(str::to_owned))
}

/// What to do about a verifier finding, where there is a usual fix.
fn verify_help(code: vigil_runtime::error::ErrorCode) -> Option<&'static str> {
    use vigil_runtime::error::ErrorCode as C;
    match code {
        C::RuleCostOverBudget => Some(
            "test a literal first (`contains`, `startswith`, `endswith`, `in [..]` on a field): \
             the prefilter answers literal tests once per event, and a rule whose literal is \
             absent is not run; match a regex or a quantifier over a shorter field; or raise \
             the budget with `--max-cost` (bounds are shown by `vigil explain`)",
        ),
        C::EventCostOverBudget => Some(
            "the rules of this event type together are over the budget: make the costliest \
             rule cheaper (see `vigil explain`), or split the bundle",
        ),
        C::RegexCostOverBudget => Some(
            "rewrite the pattern so that it compiles to a DFA (an unbounded repetition before a \
             long bounded one, as in `[ab]*a[ab]{900}`, is the usual cause), put a literal \
             test before it, or match a shorter field",
        ),
        _ => None,
    }
}

/// A binding error as a diagnostic at the first rule it names.
fn bind_diag(e: &BindError, program: &ir::Program, debug: &ir::DebugInfo) -> Diagnostic {
    let span = e
        .rules
        .first()
        .and_then(|name| program.rules.iter().position(|r| &r.name == name))
        .and_then(|i| debug.rules.get(i))
        .map_or_else(Span::default, |r| span_of(r.name));
    Diagnostic::new(e.code, span, e.message.clone(), "this rule")
}
