//! `vigil fmt PATH... [--check]`: rewrites rule files in the canonical layout
//! ([`vigil_compiler::fmt::format_source`]: comments kept, meaning unchanged).
//!
//! Paths are files or directories (searched recursively for `*.vgl`, as `vigil check` does); a
//! changed file is rewritten atomically (a temporary file beside it, its permissions copied,
//! renamed over it), an unchanged one is not touched. `--check` changes nothing and lists the
//! files that would change on stdout. `vigil fmt -` reads standard input and writes the
//! formatted text to standard output. A file with syntax errors is reported (rendered
//! diagnostics on stderr) and left as it is; the other files are still formatted. Exit status:
//! 0 done (or, with `--check`, nothing would change), 1 a file has syntax errors or (with
//! `--check`) would change, 2 usage or I/O errors.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use vigil_agent::inputs::files::{read_all, MAX_SOURCE_BYTES};
use vigil_compiler::diag::Diagnostic;
use vigil_compiler::fmt::format_source;
use vigil_compiler::Sources;

use crate::common::{collect_files, esc, fail, print_diags, Color};

/// Arguments of `vigil fmt`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Rule files or directories (searched recursively for `*.vgl`); `-` alone reads standard
    /// input and writes the formatted text to standard output.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Change nothing: list the files that would change and exit 1 if there are any.
    #[arg(long)]
    check: bool,
    /// Colour diagnostics.
    #[arg(long, value_enum, default_value_t)]
    color: Color,
}

/// What became of one input.
enum Outcome {
    /// Already in the canonical layout.
    Unchanged,
    /// Formatted differently: the new text.
    Changed(String),
    /// Syntax errors: reported, nothing written.
    Invalid,
}

/// Runs `vigil fmt`.
pub(crate) fn run(args: &Args) -> ExitCode {
    let color = args.color.enabled();
    if args.paths.iter().any(|p| p.as_os_str() == "-") {
        if args.paths.len() > 1 {
            return fail("`-` (standard input) cannot be combined with other paths");
        }
        return stdin(args.check, color);
    }
    let files = match collect_files(&args.paths) {
        Ok(f) => f,
        Err(e) => return fail(&e),
    };
    if files.is_empty() {
        eprintln!("note: no `.vgl` files found; nothing to format");
    }
    let (mut invalid, mut would_change, mut io_errors) = (0usize, 0usize, 0usize);
    for path in &files {
        let bytes = match read_all(path, MAX_SOURCE_BYTES, "a rule file") {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: {e}");
                io_errors += 1;
                continue;
            }
        };
        let name = path.display().to_string();
        match format(&name, &bytes, color) {
            Outcome::Unchanged => {}
            Outcome::Invalid => invalid += 1,
            Outcome::Changed(_) if args.check => {
                would_change += 1;
                println!("{}", esc(&name));
            }
            Outcome::Changed(text) => {
                if let Err(e) = write_atomically(path, text.as_bytes()) {
                    eprintln!("error: cannot write `{}`: {e}", esc(&name));
                    io_errors += 1;
                }
            }
        }
    }
    if invalid > 0 {
        let s = if invalid == 1 { "" } else { "s" };
        eprintln!("error: {invalid} file{s} with syntax errors left unformatted");
    }
    if io_errors > 0 {
        ExitCode::from(2)
    } else if invalid > 0 || would_change > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `vigil fmt -`: standard input to standard output (with `--check`, nothing is written and
/// the exit status says whether the text would change).
fn stdin(check: bool, color: bool) -> ExitCode {
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin()
        .lock()
        .take(MAX_SOURCE_BYTES.saturating_add(1))
        .read_to_end(&mut bytes)
    {
        return fail(&format!("cannot read standard input: {e}"));
    }
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_SOURCE_BYTES {
        return fail(&format!(
            "standard input is larger than {MAX_SOURCE_BYTES} bytes"
        ));
    }
    let text = match format("<stdin>", &bytes, color) {
        Outcome::Invalid => return ExitCode::from(1),
        Outcome::Unchanged => String::from_utf8_lossy(&bytes).into_owned(),
        Outcome::Changed(_) if check => {
            println!("<stdin>");
            return ExitCode::from(1);
        }
        Outcome::Changed(text) => text,
    };
    if check {
        return ExitCode::SUCCESS;
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail(&format!("cannot write to stdout: {e}")),
    }
}

/// Formats one input named `name`, printing its syntax errors if it has any.
fn format(name: &str, bytes: &[u8], color: bool) -> Outcome {
    let result = match std::str::from_utf8(bytes) {
        Ok(text) => format_source(text).map(|out| (out != text).then_some(out)),
        // Not UTF-8: the parser's own error (E0110) says where.
        Err(_) => Err(
            vigil_grammar::parse_bytes(vigil_grammar::span::FileId(0), bytes)
                .1
                .iter()
                .map(Diagnostic::from_syntax)
                .collect(),
        ),
    };
    match result {
        Ok(None) => Outcome::Unchanged,
        Ok(Some(text)) => Outcome::Changed(text),
        Err(diags) => {
            // The diagnostics point into file 0: the only file of this map.
            let mut sources = Sources::new();
            sources.add(name, bytes.to_vec());
            print_diags(&diags, &sources, false, color);
            Outcome::Invalid
        }
    }
}

/// Replaces the file at `path` (a symlink's target) with `bytes`: written to a temporary file
/// in the same folder with the original's permissions, then renamed over it, so that a reader
/// sees the old text or the new one, never a part.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let target = std::fs::canonicalize(path)?;
    let dir = target.parent().unwrap_or(Path::new("."));
    let file_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{file_name}.vigil-fmt-{}.tmp", std::process::id()));
    let permissions = std::fs::metadata(&target)?.permissions();
    let written = (|| {
        let mut f = std::fs::File::create(&temp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::set_permissions(&temp, permissions)?;
        std::fs::rename(&temp, &target)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}
