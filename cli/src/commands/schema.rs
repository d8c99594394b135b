//! `vigil schema [EVENT_TYPE] [--schema FILE|NAME] [--format human|json]`: the event types of a
//! schema and their fields, with types, bounds and descriptions (`vigil_compiler::schema_doc`,
//! the same words the language server's hover shows).
//!
//! Without `EVENT_TYPE`, the whole schema; with it, that event type. `--schema` takes what the
//! other commands take: a schema file, or a shipped name (`linux-ebpf`); the default is the
//! embedded `endpoint` schema. Human output and JSON (`--format json`: one object) go to
//! stdout. Exit status: 0 printed, 2 an unknown event type (`E0204`, with the closest name),
//! an unreadable schema or another usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use vigil_compiler::diag::{suggest, ErrorCode};
use vigil_compiler::schema_doc;

use crate::common::{esc, fail, load_schema, write_stdout, Format};

/// Arguments of `vigil schema`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Show only this event type.
    #[arg(value_name = "EVENT_TYPE")]
    event_type: Option<String>,
    /// Use this schema (a file or a shipped name: `linux-ebpf`) instead of the embedded
    /// `endpoint`.
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Runs `vigil schema`.
pub(crate) fn run(args: &Args) -> ExitCode {
    let schema = match load_schema(args.schema.as_deref()) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let text = match &args.event_type {
        None => match args.format {
            Format::Human => schema_doc::schema_text(&schema),
            Format::Json => json_text(&schema_doc::schema_json(&schema)),
        },
        Some(name) => {
            let Some((_, event)) = schema.event(name) else {
                eprintln!(
                    "error[{}]: unknown event type `{}` in schema `{}`",
                    ErrorCode::UnknownEventType,
                    esc(name),
                    esc(&schema.name)
                );
                let names = schema.events.iter().map(|e| e.name.as_str());
                if let Some(help) = suggest(name, names) {
                    eprintln!("  = help: {help}");
                } else {
                    eprintln!("  = help: `vigil schema` lists the event types");
                }
                return ExitCode::from(2);
            };
            match args.format {
                Format::Human => schema_doc::event_type_text(event),
                Format::Json => json_text(&schema_doc::event_type_json(event)),
            }
        }
    };
    write_stdout(&text)
}

fn json_text(value: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}
