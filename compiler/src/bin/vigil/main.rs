//! The `vigil` command line: one subcommand per file (`check.rs`, ...), dispatched from the
//! [`Command`] enum. Exit codes: 0 success, 1 the sources have errors, 2 usage or I/O errors.

#![forbid(unsafe_code)]

mod check;
mod common;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Vigil: detection rules, checked, verified and run safely.
#[derive(Debug, Parser)]
#[command(name = "vigil", version, about, propagate_version = true)]
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check::run(&args),
    }
}
