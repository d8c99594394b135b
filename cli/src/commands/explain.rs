//! `vigil explain PATH...`: compiles the rules (check, lower, bind, verify) and prints, per
//! rule, its IR as numbered nodes, its worst-case cost and state bytes and the fields it reads
//! (`vigil_compiler::explain`), then the worst case per event type. `--format json` prints the
//! same as one JSON object on stdout.
//!
//! Exit status: 0 explained, 1 the sources have errors (printed as `vigil check` prints them),
//! 2 usage or I/O errors.

use std::process::ExitCode;

use vigil_compiler::compile::compile;
use vigil_compiler::explain::explain_verified;
use vigil_compiler::Options;

use super::build::BudgetArgs;
use crate::common::{fail, load, print_diags, write_stdout, Color, Format, Loaded, SourceArgs};

/// Arguments of `vigil explain`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    sources: SourceArgs,
    /// Output format: readable text, or one JSON object.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    #[command(flatten)]
    budget: BudgetArgs,
    /// Colour diagnostics.
    #[arg(long, value_enum, default_value_t)]
    color: Color,
}

/// Runs `vigil explain`.
pub(crate) fn run(args: &Args) -> ExitCode {
    let Loaded {
        sources,
        schema,
        files,
    } = match load(&args.sources) {
        Ok(l) => l,
        Err(e) => return fail(&e),
    };
    if files.is_empty() {
        return fail("no `.vgl` files found; nothing to explain");
    }
    let json = args.format == Format::Json;
    let compiled = match compile(
        &sources,
        &schema,
        &Options::default(),
        &args.budget.budget(),
    ) {
        Ok(c) => c,
        Err(diags) => {
            if !print_diags(&diags, &sources, json, args.color.enabled()) {
                return ExitCode::from(2);
            }
            return ExitCode::from(1);
        }
    };
    // Warnings go to stderr in both formats: stdout carries only the explanation.
    print_diags(&compiled.warnings, &sources, false, args.color.enabled());
    let explained = explain_verified(&compiled.verified);
    if json {
        write_stdout(&format!("{}\n", explained.to_json()))
    } else {
        write_stdout(&explained.to_text())
    }
}
