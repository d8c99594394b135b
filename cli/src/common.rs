//! What every subcommand that reads rules shares: collecting `*.vgl` files, the standard
//! library and the schema (`--stdlib`, `--schema`), printing diagnostics (control characters
//! escaped, [`esc`]), human reports on stdout, and usage errors. The event decoder
//! (`--mapping`) is [`vigil_agent::inputs::make_decoder`].

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::ValueEnum;
use vigil_compiler::diag::{json, render, Diagnostic};
use vigil_compiler::{stdlib, Sources};
use vigil_runtime::schema::Schema;

use vigil_agent::inputs::files::{read_all, read_text, Walker, MAX_CONFIG_BYTES, MAX_SOURCE_BYTES};
pub(crate) use vigil_agent::text::{esc, esc_text};

/// `--format` of the commands that print either for people or for tools.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Text for people.
    #[default]
    Human,
    /// JSON for tools, on stdout.
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

impl Color {
    /// Whether to colour stderr.
    pub(crate) fn enabled(self) -> bool {
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => std::io::stderr().is_terminal(),
        }
    }
}

/// Where the rules, the standard library and the schema come from.
#[derive(Debug, clap::Args)]
pub(crate) struct SourceArgs {
    /// Rule files or directories (searched recursively for `*.vgl`).
    #[arg(required = true, value_name = "PATH")]
    pub(crate) paths: Vec<PathBuf>,
    /// Use the `*.vgl` files of this directory as the standard library instead of the
    /// embedded one.
    #[arg(long, value_name = "DIR")]
    pub(crate) stdlib: Option<PathBuf>,
    /// Use this schema (a file or a shipped name: `linux-ebpf`) instead of the embedded `endpoint`.
    #[arg(long, value_name = "FILE")]
    pub(crate) schema: Option<PathBuf>,
}

/// Rules, stdlib and schema, loaded.
pub(crate) struct Loaded {
    /// The user's files and the standard library.
    pub(crate) sources: Sources,
    /// The schema compiled against.
    pub(crate) schema: Schema,
    /// The user's rule files, in the order loaded.
    pub(crate) files: Vec<PathBuf>,
}

/// A usage or I/O error: printed, exit status 2.
pub(crate) fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

/// The `*.vgl` files the paths name (directories recursively, in sorted order), each file
/// once however many paths reach it; symlink loops are skipped with a note
/// ([`Walker`]).
pub(crate) fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut walker = Walker::new();
    let vgl = |p: &Path| p.extension().is_some_and(|e| e == "vgl");
    for p in paths {
        if p.is_dir() {
            files.extend(walker.walk(p, &vgl)?);
        } else if std::fs::symlink_metadata(p).is_ok() {
            if walker.add_file(p) {
                files.push(p.clone());
            }
        } else {
            return Err(format!("`{}` does not exist", p.display()));
        }
    }
    Ok(files)
}

/// Reads a schema file, a shipped schema by name (`endpoint`, `linux-ebpf`: when no file has
/// that name), or the embedded `endpoint` schema.
pub(crate) fn load_schema(path: Option<&Path>) -> Result<Schema, String> {
    match path {
        None => Ok(stdlib::schema()),
        Some(path) => {
            if let Some(shipped) = path.to_str().and_then(Schema::shipped) {
                if !path.exists() {
                    return Ok(shipped);
                }
            }
            let text = read_text(path, MAX_CONFIG_BYTES, "a schema file")?;
            Schema::from_toml(&path.display().to_string(), &text).map_err(|e| e.to_string())
        }
    }
}

/// The `*.vgl` files directly in `dir` (the `--stdlib` folder), sorted, each read through the
/// capped reader (regular files only: anything else is skipped with a note).
fn load_stdlib_dir(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let cannot =
        |e: std::io::Error| format!("cannot read standard library `{}`: {e}", dir.display());
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(cannot)? {
        let path = entry.map_err(cannot)?.path();
        if path.extension().is_some_and(|e| e == "vgl") && !path.is_dir() {
            paths.push(path);
        }
    }
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        if !std::fs::metadata(&p).is_ok_and(|m| m.is_file()) {
            eprintln!("note: skipping `{}`: not a regular file", p.display());
            continue;
        }
        let text = read_text(&p, MAX_SOURCE_BYTES, "a standard library file")?;
        out.push((p.display().to_string(), text));
    }
    Ok(out)
}

/// Loads the rule files, the standard library and the schema.
pub(crate) fn load(args: &SourceArgs) -> Result<Loaded, String> {
    let files = collect_files(&args.paths)?;
    let mut sources = Sources::new();
    for f in &files {
        let bytes = read_all(f, MAX_SOURCE_BYTES, "a rule file")?;
        sources.add(f.display().to_string(), bytes);
    }
    match &args.stdlib {
        Some(dir) => {
            let lib = load_stdlib_dir(dir)?;
            for (name, text) in lib {
                sources.add_stdlib(name, text);
            }
        }
        None => {
            for (name, text) in stdlib::FILES {
                sources.add_stdlib(*name, (*text).to_owned());
            }
        }
    }
    let schema = load_schema(args.schema.as_deref())?;
    Ok(Loaded {
        sources,
        schema,
        files,
    })
}

/// [`esc_text`] for coloured output: SGR sequences (`\x1b[1;31m`) are kept, every other
/// control character (a cursor move, a title change) is escaped.
fn esc_keeping_colours(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\u{1b}') {
        let (before, at) = rest.split_at(i);
        out.push_str(&esc_text(before));
        let body = at.get(1..).unwrap_or_default();
        let sgr_len = body.strip_prefix('[').and_then(|b| {
            let n = b.find(|c: char| !(c.is_ascii_digit() || c == ';'))?;
            (b.as_bytes().get(n) == Some(&b'm')).then_some(n + 2)
        });
        match sgr_len {
            Some(n) => {
                let end = 1 + n;
                out.push_str(at.get(..end).unwrap_or_default());
                rest = at.get(end..).unwrap_or_default();
            }
            None => {
                out.push_str("\\u{1b}");
                rest = body;
            }
        }
    }
    out.push_str(&esc_text(rest));
    out
}

/// Writes `text`, a human report, to stdout, control characters escaped ([`esc_text`]). A
/// closed stdout (`vigil inspect X | head -1`, `| true`) ends the
/// output quietly and is not an error (as `vigil run` does): exit 0; any other write error is
/// printed, exit 2.
pub(crate) fn write_stdout(text: &str) -> ExitCode {
    let text = esc_text(text);
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail(&format!("cannot write to stdout: {e}")),
    }
}

/// Prints diagnostics: rendered on stderr, or as JSON lines on stdout. Returns false when
/// stdout is closed.
pub(crate) fn print_diags(
    diags: &[Diagnostic],
    sources: &Sources,
    as_json: bool,
    color: bool,
) -> bool {
    if as_json {
        let mut out = std::io::stdout().lock();
        for d in diags {
            if writeln!(out, "{}", json::to_line(d, &sources.map)).is_err() {
                return false;
            }
        }
    } else {
        let mut err = std::io::stderr().lock();
        for d in diags {
            let text = render::render(d, &sources.map, color);
            // Escape what the sources and names hold; with colour, keep only the colour
            // sequences (SGR: `ESC [ digits ; ... m`), which cannot move the cursor or retitle.
            let text = if color {
                std::borrow::Cow::Owned(esc_keeping_colours(&text))
            } else {
                esc_text(&text)
            };
            let _ = write!(err, "{text}");
        }
    }
    true
}
