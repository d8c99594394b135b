//! The `vigil` command line: one subcommand per file under `commands/` (`check.rs`, ...),
//! dispatched from the [`Command`] enum. Exit codes: 0 success, 1 the sources have errors, 2
//! usage or I/O errors.

#![forbid(unsafe_code)]

mod commands;
mod common;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commands::{
    agent, bench, build, check, diff, explain, fmt, import, inspect, keygen, lsp, run, schema,
    test, verify, why,
};

/// Vigil: detection rules, checked, verified and run safely.
#[derive(Debug, Parser)]
#[command(name = "vigil", version, propagate_version = true)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Check rule files: syntax, names, types and fields, without building a bundle.
    Check(check::Args),
    /// Compile, verify and write a signed (or `--unsigned`) bundle.
    Build(build::Args),
    /// Load a bundle as an agent would (signature, expiry, schema binding, verifier) and
    /// report its worst-case cost.
    Verify(verify::Args),
    /// Print a bundle's header, field requirements and rules (the signature is not checked).
    Inspect(inspect::Args),
    /// Print each rule's IR, worst-case cost and state bytes, and the fields it reads.
    Explain(explain::Args),
    /// Generate an ed25519 signing key pair: `NAME.key` and `NAME.pub`.
    Keygen(keygen::Args),
    /// Run rules (`.vgl` files or a `.vglb` bundle) over JSON-lines events and print alerts.
    Run(run::Args),
    /// Measure how fast rules run over events: decode, eval and end to end, per event.
    Bench(bench::Args),
    /// Compile rule files and run their `test` blocks.
    Test(test::Args),
    /// Convert rules from another language (Sigma) into formatted `.vgl` files.
    Import(import::ImportArgs),
    /// Run bundles as an endpoint agent would: watch a folder for new bundles, shadow,
    /// promote or reject them, keep the last known good, and report `status.json`.
    Agent(agent::Args),
    /// Compare two rule sets (bundles or rule folders): rules added, removed and changed, and
    /// given events, the alerts that appear or disappear.
    Diff(diff::Args),
    /// Rewrite rule files in the canonical layout, comments kept (`--check`: only list them).
    Fmt(fmt::Args),
    /// Print a schema's event types and fields, with types, bounds and descriptions.
    Schema(schema::Args),
    /// Show why a rule did or did not fire on one event: its condition tree with values.
    Why(why::Args),
    /// Serve the language server protocol over stdin and stdout (for editors: docs/editors.md).
    Lsp(lsp::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Build(args) => build::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Keygen(args) => keygen::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Agent(args) => agent::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Fmt(args) => fmt::run(&args),
        Command::Schema(args) => schema::run(&args),
        Command::Why(args) => why::run(&args),
        Command::Lsp(args) => lsp::run(&args),
        Command::Import(args) => match import::run(args) {
            Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(2)),
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        },
    }
}
