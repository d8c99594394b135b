//! `vigil check PATH...`: parse, resolve, type-check, lower, bind and verify rule files and
//! report diagnostics: the same pipeline and verdict as `vigil build` for the same sources,
//! schema and budget (`--max-cost`, `--max-state`), so that what checks clean also builds and
//! loads. Verifier findings (cost, state, regexes, limits) are reported at their source spans.
//!
//! Paths are files or directories (searched recursively for `*.vgl`, sorted so that output is
//! deterministic). Human output goes to stderr; `--format json` writes one JSON object per
//! diagnostic to stdout; `--format sarif` writes one SARIF 2.1.0 log to stdout (file names
//! relative to the working directory, for code-scanning uploads). Exit status: 0 clean (warnings allowed unless `--deny-warnings`), 1
//! errors, 2 usage or I/O errors (a missing path, an unreadable file, a malformed schema).

use std::process::ExitCode;

use clap::ValueEnum;
use vigil_compiler::compile::compile;
use vigil_compiler::diag;
use vigil_compiler::Options;

use super::build::BudgetArgs;
use crate::common::{fail, load, print_diags, write_stdout, Color, Loaded, SourceArgs};

/// Output format of `vigil check`: rendered diagnostics, JSON lines, or one SARIF log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum CheckFormat {
    /// Rendered diagnostics on stderr.
    #[default]
    Human,
    /// One JSON object per diagnostic, one per line, on stdout.
    Json,
    /// One SARIF 2.1.0 log on stdout (for code-scanning services).
    Sarif,
}

/// Arguments of `vigil check`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    sources: SourceArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: CheckFormat,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    deny_warnings: bool,
    /// Colour human output.
    #[arg(long, value_enum, default_value_t)]
    color: Color,
    #[command(flatten)]
    budget: BudgetArgs,
}

/// Runs `vigil check`.
pub(crate) fn run(args: &Args) -> ExitCode {
    let Loaded {
        sources,
        schema,
        files,
    } = match load(&args.sources) {
        Ok(l) => l,
        Err(e) => return fail(&e),
    };
    let opts = Options {
        deny_warnings: args.deny_warnings,
    };
    // The whole pipeline, as `build` runs it: a rule that checks clean also builds.
    let (rules, diags) = match compile(&sources, &schema, &opts, &args.budget.budget()) {
        Ok(compiled) => {
            let rules = compiled
                .typed
                .module
                .rules
                .iter()
                .filter(|r| !r.stdlib)
                .count();
            (Some(rules), compiled.warnings)
        }
        Err(diags) => (None, diags),
    };
    let (errors, warnings) = diag::count(&diags);
    if args.format == CheckFormat::Sarif {
        let base = std::env::current_dir().unwrap_or_default();
        let log = diag::sarif::to_sarif(&diags, &sources.map, &base);
        let text = serde_json::to_string_pretty(&log).unwrap_or_default() + "\n";
        if write_stdout(&text) != ExitCode::SUCCESS {
            return ExitCode::from(2);
        }
    } else if !print_diags(
        &diags,
        &sources,
        args.format == CheckFormat::Json,
        args.color.enabled(),
    ) {
        return ExitCode::from(2);
    }
    if files.is_empty() {
        eprintln!("note: no `.vgl` files found; nothing to check");
        return ExitCode::SUCCESS;
    }
    if args.format == CheckFormat::Human {
        let s = |n: usize| if n == 1 { "" } else { "s" };
        if errors > 0 {
            eprintln!(
                "error: {errors} error{}, {warnings} warning{}",
                s(errors),
                s(warnings)
            );
        } else if warnings > 0 {
            eprintln!("warning: {warnings} warning{}", s(warnings));
        }
    }
    if rules == Some(0) {
        eprintln!(
            "note: no rules found in {} file{}",
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        );
    }
    if errors > 0 || (args.deny_warnings && warnings > 0) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
