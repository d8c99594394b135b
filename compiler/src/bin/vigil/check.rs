//! `vigil check PATH...`: parse, resolve and type-check rule files and report diagnostics.
//!
//! Paths are files or directories (searched recursively for `*.vgl`, sorted so that output is
//! deterministic). Human output goes to stderr; `--format json` writes one JSON object per
//! diagnostic to stdout. Exit status: 0 clean (warnings allowed unless `--deny-warnings`), 1
//! errors, 2 usage or I/O errors (a missing path, an unreadable file, a malformed schema).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::ValueEnum;
use vigil_compiler::diag::{self, json, render};
use vigil_compiler::{stdlib, Options, Sources};
use vigil_runtime::schema::Schema;

/// Output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Rendered diagnostics on stderr.
    #[default]
    Human,
    /// One JSON object per diagnostic, one per line, on stdout.
    Json,
}

/// When to colour human output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum Color {
    /// When stderr is a terminal.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Arguments of `vigil check`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Rule files or directories (searched recursively for `*.vgl`).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Use the `*.vgl` files of this directory as the standard library instead of the
    /// embedded one.
    #[arg(long, value_name = "DIR")]
    stdlib: Option<PathBuf>,
    /// Check against this schema file instead of the embedded `endpoint` schema.
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    deny_warnings: bool,
    /// Colour human output.
    #[arg(long, value_enum, default_value_t)]
    color: Color,
}

/// A usage or I/O error: printed, exit status 2.
fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

/// Collects `*.vgl` files under `dir`, recursively.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "vgl") {
                out.push(path);
            }
        }
    }
    Ok(())
}

/// Runs `vigil check`.
pub(crate) fn run(args: &Args) -> ExitCode {
    // Sources.
    let mut files: Vec<PathBuf> = Vec::new();
    for p in &args.paths {
        if p.is_dir() {
            let mut found = Vec::new();
            if let Err(e) = walk(p, &mut found) {
                return fail(&format!("cannot read directory `{}`: {e}", p.display()));
            }
            found.sort();
            files.extend(found);
        } else if p.exists() {
            files.push(p.clone());
        } else {
            return fail(&format!("`{}` does not exist", p.display()));
        }
    }
    let mut sources = Sources::new();
    for f in &files {
        match std::fs::read(f) {
            Ok(bytes) => {
                sources.add(f.display().to_string(), bytes);
            }
            Err(e) => return fail(&format!("cannot read `{}`: {e}", f.display())),
        }
    }
    match &args.stdlib {
        Some(dir) => match stdlib::load_dir(dir) {
            Ok(lib) => {
                for (name, text) in lib {
                    sources.add_stdlib(name, text);
                }
            }
            Err(e) => {
                return fail(&format!(
                    "cannot read standard library `{}`: {e}",
                    dir.display()
                ))
            }
        },
        None => {
            for (name, text) in stdlib::FILES {
                sources.add_stdlib(*name, (*text).to_owned());
            }
        }
    }
    // Schema.
    let schema = match &args.schema {
        None => stdlib::schema(),
        Some(path) => {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => return fail(&format!("cannot read schema `{}`: {e}", path.display())),
            };
            match Schema::from_toml(&path.display().to_string(), &text) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            }
        }
    };
    let opts = Options {
        deny_warnings: args.deny_warnings,
    };
    let (typed, diags) = vigil_compiler::check(&sources, &schema, &opts);
    let (errors, warnings) = diag::count(&diags);
    match args.format {
        Format::Json => {
            let mut out = std::io::stdout().lock();
            for d in &diags {
                if writeln!(out, "{}", json::to_line(d, &sources.map)).is_err() {
                    return ExitCode::from(2);
                }
            }
        }
        Format::Human => {
            let color = match args.color {
                Color::Always => true,
                Color::Never => false,
                Color::Auto => std::io::stderr().is_terminal(),
            };
            let mut err = std::io::stderr().lock();
            for d in &diags {
                let _ = write!(err, "{}", render::render(d, &sources.map, color));
            }
        }
    }
    if files.is_empty() {
        eprintln!("note: no `.vgl` files found; nothing to check");
        return ExitCode::SUCCESS;
    }
    let rules = typed
        .as_ref()
        .map_or(0, |t| t.module.rules.iter().filter(|r| !r.stdlib).count());
    if args.format == Format::Human {
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
    if typed.is_some() && rules == 0 {
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
