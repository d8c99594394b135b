//! `vigil import sigma PATH... -o DIR [--schema FILE|NAME] [--report FILE] [--placeholders FILE]
//! [--strict]`: converts Sigma
//! rules (files or directory trees of `.yml`/`.yaml`) into formatted `.vgl` files, one per Sigma
//! file, under `DIR/<relative path>/<stem>.vgl`, and reports what was converted and what was
//! refused and why (a JSON report with `--report`, a summary on stderr). Rules are converted
//! onto, and checked against, the schema given (`endpoint` by default; a profile such as
//! `linux-ebpf` refuses rules that read what its sensor does not fill).
//!
//! `--placeholders FILE` gives the values of `expand` placeholders (YAML: name → list of values,
//! pySigma's convention); without it, rules using `expand` are refused naming the placeholder.
//!
//! Exit codes: 0 the rules that could be converted were written (and the report, if asked
//! for), even when others were refused; 1 under `--strict` when any rule was refused; 2 usage or
//! I/O errors.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use vigil_compiler::sigma::{self, report::Report, InputFile};

use crate::common::{esc, load_schema};
use vigil_agent::inputs::files::{self as input, Walker};

/// The formats `vigil import` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Sigma rules (YAML), including correlation rules.
    Sigma,
}

/// Arguments of `vigil import`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The format of the input rules.
    #[arg(value_enum)]
    pub format: Format,
    /// Rule files, or directories searched recursively for `.yml` and `.yaml` files.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The directory to write `.vgl` files into (created if missing).
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
    /// Convert onto this schema (a file or a shipped name: `linux-ebpf`) instead of the
    /// embedded `endpoint`.
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// Write the coverage report (JSON) to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Values for `expand` placeholders: a YAML map of name to a list of values.
    #[arg(long, value_name = "FILE")]
    pub placeholders: Option<PathBuf>,
    /// Fail (exit 1) when any rule is refused.
    #[arg(long)]
    pub strict: bool,
    /// Do not check converted rules with the compiler (faster; output may not compile).
    #[arg(long)]
    pub no_check: bool,
    /// Print nothing on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Runs the import; returns the exit code.
pub(crate) fn run(args: ImportArgs) -> anyhow::Result<i32> {
    let Format::Sigma = args.format;
    let mut inputs = Vec::new();
    let mut walker = Walker::new();
    for p in &args.paths {
        collect(p, &mut walker, &mut inputs).with_context(|| format!("reading {}", p.display()))?;
    }
    if inputs.is_empty() {
        anyhow::bail!("no .yml or .yaml files under the given paths");
    }
    let schema = load_schema(args.schema.as_deref()).map_err(anyhow::Error::msg)?;
    let placeholders = match &args.placeholders {
        Some(p) => {
            let text = fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            sigma::Placeholders::from_yaml(&text)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("reading placeholders from {}", p.display()))?
        }
        None => sigma::Placeholders::default(),
    };
    let table =
        sigma::Table::builtin(&schema).context("the built-in Sigma log source table is broken")?;
    let import = sigma::import_full(
        &inputs,
        &table,
        &schema,
        sigma::Options {
            check: !args.no_check,
        },
        &placeholders,
    );
    for f in &import.files {
        let path = args.out.join(&f.rel);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        fs::write(&path, &f.text).with_context(|| format!("writing {}", path.display()))?;
    }
    let report = Report::new(&import);
    if let Some(r) = &args.report {
        let json = serde_json::to_string_pretty(&report)?;
        fs::write(r, json + "\n").with_context(|| format!("writing {}", r.display()))?;
    }
    if !args.quiet {
        let mut err = std::io::stderr().lock();
        for line in report.rules.iter().filter(|l| l.status == "refused") {
            let _ = writeln!(
                err,
                "{}: error[{}]: {}",
                esc(&line.file),
                line.code.as_deref().unwrap_or("?"),
                esc(line.message.as_deref().unwrap_or(""))
            );
        }
        let _ = write!(err, "{}", report.summary());
    }
    Ok(if args.strict && report.refused > 0 {
        1
    } else {
        0
    })
}

/// Adds a file, or every `.yml`/`.yaml` file under a directory (sorted, relative to it; each
/// file once, symlink loops skipped with a note, FIFOs and devices skipped with a note).
fn collect(path: &Path, walker: &mut Walker, out: &mut Vec<InputFile>) -> anyhow::Result<()> {
    if path.is_dir() {
        let yaml = |p: &Path| {
            p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml"))
        };
        let files = walker.walk(path, &yaml).map_err(anyhow::Error::msg)?;
        for f in files {
            let rel = f.strip_prefix(path).unwrap_or(&f).to_path_buf();
            out.push(InputFile {
                rel,
                bytes: read_bounded(&f)?,
            });
        }
    } else if walker.add_file(path) {
        let rel = PathBuf::from(path.file_name().unwrap_or(path.as_os_str()));
        out.push(InputFile {
            rel,
            bytes: read_bounded(path)?,
        });
    }
    Ok(())
}

/// Reads a file (or a pipe: devices are refused), but no more than one byte past the
/// importer's limit (the importer refuses the rule as too large; a huge file is never read
/// whole).
fn read_bounded(path: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let (f, _) = input::open(path).map_err(anyhow::Error::msg)?;
    let mut buf = Vec::new();
    let limit = u64::try_from(sigma::MAX_FILE_BYTES + 1).unwrap_or(u64::MAX);
    f.take(limit)
        .read_to_end(&mut buf)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(buf)
}
