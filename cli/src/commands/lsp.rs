//! `vigil lsp`: the language server over stdin and stdout (crate `vigil-lsp`; editor setup in
//! `docs/editors.md`). `--schema` and the budget flags are `vigil check`'s, so the editor shows
//! what `check` would say. Exit status: 0 after the client's `shutdown` and `exit`, 1 when the
//! session ended otherwise, 2 for a bad `--schema`.

use std::path::PathBuf;
use std::process::ExitCode;

use super::build::BudgetArgs;
use crate::common::{fail, load_schema};

/// Arguments of `vigil lsp`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Use this schema (a file or a shipped name: `linux-ebpf`) instead of the embedded `endpoint`.
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// Accepted for editors that start servers with `--stdio`: stdio is the only transport.
    #[arg(long, hide = true)]
    stdio: bool,
    #[command(flatten)]
    budget: BudgetArgs,
}

/// Runs `vigil lsp`.
pub(crate) fn run(args: &Args) -> ExitCode {
    let schema = match load_schema(args.schema.as_deref()) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let config = vigil_lsp::Config {
        schema,
        budget: args.budget.budget(),
    };
    let code = vigil_lsp::serve_stdio(config);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
