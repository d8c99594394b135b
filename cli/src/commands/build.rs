//! `vigil build PATH... -o FILE.vglb (--key NAME.key | --unsigned)`: compile, verify and write
//! a bundle.
//!
//! Compiles exactly as `vigil check` checks (same diagnostics on stderr), then lowers, binds and
//! verifies against the schema and budget given (`--max-cost`, `--max-state`), and writes the
//! bundle (`vigil_compiler::bundle`). One summary line goes to stdout: rules, bytes, SHA-256
//! and key id. Builds are deterministic: the same inputs and key give the same bytes.
//!
//! Exit status: 0 written, 1 the sources have errors (or the verifier refuses them), 2 usage
//! or I/O errors (neither `--key` nor `--unsigned`, an unreadable or malformed key file, an
//! unwritable output).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use vigil_compiler::bundle::{self, BuildOptions};
use vigil_compiler::compile::compile;
use vigil_compiler::Options;
use vigil_runtime::budget::Budget;

use super::keygen::read_secret_key;
use crate::common::{fail, load, print_diags, write_stdout, Color, Loaded, SourceArgs};

/// Budget overrides shared by `build`, `check`, `verify` and `explain`.
#[derive(Debug, Default, clap::Args)]
pub(crate) struct BudgetArgs {
    /// Worst-case steps one rule may take per event at the schema's `max_event_bytes` (the
    /// rule's own work; the shared literal prefilter is charged to the event type; a step is
    /// about a nanosecond) [default: 20000000].
    #[arg(long, value_name = "N")]
    pub(crate) max_cost: Option<u64>,
    /// Worst-case state bytes of the whole bundle (sequence and threshold tables)
    /// [default: 536870912, 512 MiB]; one rule may also use at most 64 MiB.
    #[arg(long, value_name = "BYTES")]
    pub(crate) max_state: Option<u64>,
}

impl BudgetArgs {
    /// The default budget with the overrides applied.
    pub(crate) fn budget(&self) -> Budget {
        let mut budget = Budget::default();
        if let Some(n) = self.max_cost {
            budget.max_rule_cost = n;
        }
        if let Some(n) = self.max_state {
            budget.max_state_bytes = n;
        }
        budget
    }
}

/// Arguments of `vigil build`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    sources: SourceArgs,
    /// The bundle file to write.
    #[arg(short = 'o', long = "out", value_name = "FILE.vglb")]
    out: PathBuf,
    /// Sign with this secret key file (from `vigil keygen`).
    #[arg(long, value_name = "NAME.key", conflicts_with = "unsigned")]
    key: Option<PathBuf>,
    /// Write an unsigned bundle (runtimes load it only when told to allow unsigned bundles).
    #[arg(long)]
    unsigned: bool,
    /// Leave out the debug section (source spans): smaller, still verifies; errors then name
    /// rules and node ids instead of source lines.
    #[arg(long)]
    strip: bool,
    /// The content version: runtimes refuse a version below the highest they have accepted.
    #[arg(long, value_name = "N", default_value_t = 0)]
    content_version: u64,
    /// A signed minimum content version (at most the content version).
    #[arg(long, value_name = "N")]
    min_version: Option<u64>,
    /// Expiry in Unix seconds: runtimes refuse the bundle from then on.
    #[arg(long, value_name = "UNIX_SECONDS")]
    expires: Option<u64>,
    #[command(flatten)]
    budget: BudgetArgs,
    /// Colour diagnostics.
    #[arg(long, value_enum, default_value_t)]
    color: Color,
}

/// Runs `vigil build`.
pub(crate) fn run(args: &Args) -> ExitCode {
    if args.key.is_none() && !args.unsigned {
        return fail("`vigil build` needs `--key NAME.key` to sign, or `--unsigned`");
    }
    let key = match &args.key {
        Some(path) => match read_secret_key(path) {
            Ok(k) => Some(k),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let Loaded {
        sources,
        schema,
        files,
    } = match load(&args.sources) {
        Ok(l) => l,
        Err(e) => return fail(&e),
    };
    if files.is_empty() {
        return fail("no `.vgl` files found; nothing to build");
    }
    let compiled = match compile(
        &sources,
        &schema,
        &Options::default(),
        &args.budget.budget(),
    ) {
        Ok(c) => c,
        Err(diags) => {
            print_diags(&diags, &sources, false, args.color.enabled());
            let errors = diags.iter().filter(|d| d.is_error()).count();
            eprintln!(
                "error: {errors} error{}; no bundle written",
                if errors == 1 { "" } else { "s" }
            );
            return ExitCode::from(1);
        }
    };
    print_diags(&compiled.warnings, &sources, false, args.color.enabled());
    if compiled.program().rules.is_empty() {
        eprintln!("warning: no rules found; the bundle is empty");
    }
    if let Some(expires) = args.expires {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if expires <= now {
            eprintln!(
                "warning: --expires {expires} is in the past (now {now}): every runtime will refuse this bundle as expired"
            );
        }
    }
    let opts = BuildOptions {
        content_version: args.content_version,
        min_version: args.min_version,
        expires_unix: args.expires,
        strip: args.strip,
        ..BuildOptions::default()
    };
    let built = match bundle::build(&compiled, &opts, key.as_ref()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = write_atomically(&args.out, &built.bytes) {
        return fail(&format!("cannot write `{}`: {e}", args.out.display()));
    }
    write_stdout(&format!(
        "wrote {}: {} rule{}, {} bytes, sha256 {}, {}{}\n",
        args.out.display(),
        built.rules,
        if built.rules == 1 { "" } else { "s" },
        built.bytes.len(),
        built.sha256_hex(),
        built
            .key_id
            .map_or_else(|| "unsigned".to_owned(), |k| format!("key {k}")),
        if built.debug { "" } else { ", stripped" }
    ))
}

/// Writes `bytes` to `path` so that a reader (an agent watching the folder) sees the old file
/// or the whole new one, never a part: a temporary file in the same directory, written and
/// synced, then renamed over `path` (and the directory synced). The temporary file is removed
/// when anything fails.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "bundle".into(), |n| n.to_string_lossy().into_owned());
    // A leading dot and a suffix other than `.vglb`: watchers skip it.
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_states_the_default_budget() {
        // `--max-cost` and `--max-state` print these numbers in `--help`.
        let budget = Budget::default();
        assert_eq!(budget.max_rule_cost, 20_000_000);
        assert_eq!(budget.max_state_bytes, 536_870_912);
        assert_eq!(budget.max_rule_state_bytes, 64 << 20);
        assert_eq!(BudgetArgs::default().budget(), budget);
        let tight = BudgetArgs {
            max_cost: Some(10),
            max_state: Some(20),
        }
        .budget();
        assert_eq!((tight.max_rule_cost, tight.max_state_bytes), (10, 20));
    }
}
