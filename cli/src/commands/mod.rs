//! The subcommands of `vigil`, one file each: its clap arguments (`Args`) and its `run`.
//! Shared command-line helpers live in [`crate::common`]; inputs, the run pipeline and the
//! agent in `vigil-agent`.

pub(crate) mod agent;
pub(crate) mod bench;
pub(crate) mod build;
pub(crate) mod check;
pub(crate) mod diff;
pub(crate) mod explain;
pub(crate) mod fmt;
pub(crate) mod import;
pub(crate) mod inspect;
pub(crate) mod keygen;
pub(crate) mod lsp;
pub(crate) mod run;
pub(crate) mod schema;
pub(crate) mod test;
pub(crate) mod verify;
pub(crate) mod why;
