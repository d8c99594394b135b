//! `vigil run RULES_OR_BUNDLE EVENTS...`: run rules over JSON-lines events and print alerts.
//! The pipeline is [`vigil_agent::pipeline`] and the inputs [`vigil_agent::inputs`]; this file
//! prepares the engine (compiling `.vgl` sources here, the only part that needs the compiler),
//! opens `--output`, draws the progress bar and maps the outcome to an exit status.
//!
//! Rules are `.vgl` files or directories (compiled in memory, exactly as `vigil build` would,
//! verifier included) or a `.vglb` bundle (loaded as an agent would: signature checked against
//! `--pubkey`, unsigned only with `--allow-unsigned`, bound and verified against the host
//! schema). Events are files, directories (searched recursively for `*.jsonl`, `*.ndjson`,
//! `*.json` and their `.gz` forms, sorted), gzip files (recognised by their magic bytes or a
//! `.gz` name) or `-` for stdin. Each input is read and decompressed on its own thread, which
//! hands whole lines to the decoding thread through a bounded channel; events reach the engine
//! in input order (files in the order given, lines in file order), which is the time order
//! stateful rules need when the inputs are time-ordered.
//!
//! **Threads** (`--threads N`, default the available parallelism): the chunks of an input are
//! numbered and handed through bounded queues (which block, never drop) to N workers, each
//! decoding with its own decoder and running the single-event rules
//! ([`Engine::process_stateless`], no lock). One ordered stage takes the chunks back in input
//! order, runs the stateful rules over their events in input order
//! ([`Engine::process_stateful`]; it decodes the chunk again for them, only when the program
//! has stateful rules) and writes the alerts. **Alert order** is the same as with one thread,
//! byte for byte: events in input order, and an event's alerts in program order (rule order
//! in the program, stateless and stateful merged). Without `--threads`, inputs under 256 KiB
//! are run on one thread (the pipeline's start-up costs more than it saves there).
//!
//! **Projection**: the decoders produce only the fields the rules read, plus `time` and `host`
//! (`FieldSet::for_binding`, `Decoder::project`); the values of every other key are skipped
//! while parsing (checked for syntax, never coerced), so the summary's uncoercible-values count
//! covers the fields the rules read (`docs/mappings.md`, "Projection").
//!
//! Alerts go to stdout (or `--output FILE`) as JSON lines (`docs/alerts.md`), `source` naming
//! the input and the 1-based line of the (decompressed) input. A summary goes to stderr:
//! events, records (with events, unrouted, bad; a record of several event types gives one event
//! per type), the most frequent unrouted kinds (Channel, EventID), alerts per rule, bad lines by
//! code with their first line numbers, value counters, engine counters, throughput.
//!
//! **Decoding**: `--mapping NAME|FILE` reads every record through that mapping; without it each
//! record's form is told by its shape (`Decoder::auto`: an `event` key is the native form,
//! `Channel`/`EventID` a Windows record through the built-in `windows` mapping). Exit status: 0 normally (bad lines are counted, not fatal), 1
//! when the rules do not compile, the bundle is refused, or `--strict` stops at a bad line, 2
//! for usage and I/O errors.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use vigil_agent::inputs::files::{self, id_of};
use vigil_agent::inputs::{collect_inputs, make_decoder, Input};
use vigil_agent::pipeline::{self, Flow, Prepared, Progress, Run};
use vigil_compiler::compile::compile;
use vigil_compiler::diag::render;
use vigil_compiler::Options;
use vigil_runtime::budget::Budget;
use vigil_runtime::bundle::{self, TrustStore};
use vigil_runtime::decode::FieldSet;
use vigil_runtime::engine::{Engine, EngineKind, EngineOptions};

use crate::common::{fail, load, load_schema, print_diags, Color, SourceArgs};

/// Which evaluator runs rule conditions (shared with `vigil test`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum EngineChoice {
    /// Cranelift-compiled native code.
    #[default]
    Jit,
    /// The reference interpreter.
    Interp,
}

impl EngineChoice {
    /// The runtime's kind.
    pub(crate) fn kind(self) -> EngineKind {
        match self {
            EngineChoice::Jit => EngineKind::Jit,
            EngineChoice::Interp => EngineKind::Interp,
        }
    }

    /// `jit` / `interp`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            EngineChoice::Jit => "jit",
            EngineChoice::Interp => "interp",
        }
    }
}

/// Arguments of `vigil run`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Rule files or directories (`*.vgl`, compiled in memory), or a `.vglb` bundle.
    #[arg(value_name = "RULES_OR_BUNDLE")]
    rules: PathBuf,
    /// Event files (JSON lines or Windows `.evtx`, optionally gzip-compressed), directories, or
    /// `-` for stdin (`docs/inputs.md`).
    #[arg(required = true, value_name = "EVENTS")]
    events: Vec<PathBuf>,
    /// Read the events through a field mapping: a shipped one by name (`windows`, `sysmon`),
    /// a TOML file, or `native` (Vigil's native JSON lines only). Without it, each record's
    /// form is told by its shape: an `event` key is the native form, `Channel`/`EventID` a
    /// Windows event record (read through the built-in `windows` mapping); records no route
    /// takes are counted as unrouted, by Channel and EventID (docs/mappings.md).
    #[arg(long, value_name = "NAME|FILE")]
    mapping: Option<String>,
    /// The evaluator.
    #[arg(long, value_enum, default_value_t)]
    engine: EngineChoice,
    /// Write alerts to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Trust this public key (a `.pub` file, or the key text itself) for a bundle.
    #[arg(long, value_name = "KEY")]
    pubkey: Vec<String>,
    /// Load an unsigned bundle (development only).
    #[arg(long)]
    allow_unsigned: bool,
    /// Stop at the first bad line (exit status 1).
    #[arg(long)]
    strict: bool,
    /// Use this schema (a file or a shipped name: `linux-ebpf`) instead of the embedded `endpoint`.
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// Use the `*.vgl` files of this directory as the standard library.
    #[arg(long, value_name = "DIR")]
    stdlib: Option<PathBuf>,
    /// Never draw a progress bar.
    #[arg(long)]
    no_progress: bool,
    /// Threads that decode events and run the single-event rules (default: the available
    /// parallelism), from 1 to 256. Stateful rules run on one thread, in input order,
    /// whatever this says.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=MAX_THREADS))]
    threads: Option<u16>,
    /// How much older than the newest time seen from its host an event may be and still
    /// count for sequence and threshold rules (`500ms`, `2s`, `1m`; default 0: older events
    /// are late, counted in the summary, and skipped by those rules).
    #[arg(long, value_name = "DURATION", value_parser = parse_lateness, default_value = "0s")]
    lateness: u64,
    /// Colour diagnostics.
    #[arg(long, value_enum, default_value_t)]
    color: Color,
}

/// Parses `--lateness` (`run` and `agent`): a duration as rules write it, in nanoseconds.
pub(crate) fn parse_lateness(text: &str) -> Result<u64, String> {
    vigil_grammar::token::parse_duration(text).ok_or_else(|| {
        format!(
            "`{text}` is not a duration: write a number and a unit (ms, s, m, h, d), as in `2s`"
        )
    })
}

/// Most `--threads`.
const MAX_THREADS: i64 = pipeline::MAX_THREADS as i64;
/// Inputs at least this large (bytes on disk) get a progress bar on a terminal.
const PROGRESS_MIN_BYTES: u64 = 16 << 20;

/// Runs `vigil run`.
pub(crate) fn run(args: &Args) -> ExitCode {
    let prepared = match prepare(args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let mut decoder = match make_decoder(
        args.mapping.as_deref(),
        &prepared.schema,
        Some(&prepared.fields),
    ) {
        Ok(d) => d,
        Err(e) => return fail(&e),
    };
    // `--strict` refuses records that name a key twice (E0713); otherwise they are counted.
    decoder.refuse_duplicate_keys(args.strict);
    let inputs = match collect_inputs(&args.events) {
        Ok(i) => i,
        Err(e) => return fail(&e),
    };
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => match create_output(path, &args.rules, &inputs) {
            Ok(f) => Box::new(io::BufWriter::with_capacity(1 << 16, f)),
            Err(e) => return fail(&e),
        },
        None => Box::new(io::BufWriter::with_capacity(1 << 16, io::stdout().lock())),
    };
    let threads = args
        .threads
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let mut run = Run::new(&prepared, decoder, args.strict);
    run.set_threads(threads, args.threads.is_some());
    run.set_mapping(args.mapping.clone());
    let progress = progress_bar(args, &inputs).map(Bar);
    let started = Instant::now();
    let mut status = ExitCode::SUCCESS;
    for input in &inputs {
        match run.input(
            input,
            &mut *out,
            progress.as_ref().map(|b| b as &dyn Progress),
        ) {
            Ok(Flow::Go) => {}
            Ok(Flow::Stop(code)) => {
                status = ExitCode::from(code);
                break;
            }
            Err(e) => {
                eprintln!("error: {e}");
                status = ExitCode::from(2);
                break;
            }
        }
    }
    if let Err(e) = out.flush() {
        if e.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write alerts: {e}");
            status = ExitCode::from(2);
        }
    }
    drop(out);
    if let Some(p) = &progress {
        p.0.finish_and_clear();
    }
    run.summary(
        started.elapsed().as_secs_f64(),
        args.engine.name(),
        inputs.len(),
    );
    status
}

/// Compiles the rules or loads the bundle, and builds the engine. Errors are printed; the
/// exit code is returned.
fn prepare(args: &Args) -> Result<Prepared, ExitCode> {
    let options = EngineOptions {
        engine: args.engine.kind(),
        lateness_ns: args.lateness,
        ..EngineOptions::default()
    };
    prepare_rules(
        &RulesArgs {
            rules: &args.rules,
            schema: args.schema.as_deref(),
            stdlib: args.stdlib.as_deref(),
            pubkey: &args.pubkey,
            allow_unsigned: args.allow_unsigned,
            color: args.color,
        },
        options,
    )
}

/// Where the rules come from (shared with `vigil bench`).
pub(crate) struct RulesArgs<'a> {
    /// Rule files or directories, or a `.vglb` bundle.
    pub(crate) rules: &'a Path,
    /// A schema file instead of the embedded `endpoint` schema.
    pub(crate) schema: Option<&'a Path>,
    /// A standard library directory.
    pub(crate) stdlib: Option<&'a Path>,
    /// Trusted public keys, for a bundle.
    pub(crate) pubkey: &'a [String],
    /// Load an unsigned bundle.
    pub(crate) allow_unsigned: bool,
    /// Colour diagnostics.
    pub(crate) color: Color,
}

/// Compiles the rules or loads the bundle of `args`, and builds an engine with `options`.
/// Errors are printed; the exit code is returned.
pub(crate) fn prepare_rules(
    args: &RulesArgs<'_>,
    options: EngineOptions,
) -> Result<Prepared, ExitCode> {
    let is_bundle = args.rules.extension().is_some_and(|e| e == "vglb");
    let names = |p: &vigil_runtime::ir::Program| {
        p.rules
            .iter()
            .map(|r| (r.id.clone(), r.name.clone()))
            .collect::<Vec<_>>()
    };
    if is_bundle {
        let schema = load_schema(args.schema).map_err(|e| fail(&e))?;
        let bytes = files::read_bundle(args.rules).map_err(|e| fail(&e))?;
        let trust = trust_store(args.pubkey, args.allow_unsigned).map_err(|e| fail(&e))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let loaded =
            bundle::load(&bytes, &schema, &trust, &Budget::default(), now).map_err(|e| {
                eprintln!("error: bundle `{}` refused:\n{e}", args.rules.display());
                ExitCode::from(1)
            })?;
        // The bundle's bytes are not needed once loaded; the program is kept by the engine
        // (not copied).
        drop(bytes);
        let rules = names(loaded.verified.program());
        let engine = Engine::from_loaded_owned(loaded, options).map_err(|e| {
            eprintln!("error: cannot build the engine: {e}");
            ExitCode::from(1)
        })?;
        let fields = FieldSet::for_binding(&schema, engine.interp().binding());
        return Ok(Prepared {
            engine,
            schema,
            fields,
            rules,
        });
    }
    if !args.pubkey.is_empty() || args.allow_unsigned {
        eprintln!("note: --pubkey and --allow-unsigned apply to bundles only; ignored");
    }
    let source_args = SourceArgs {
        paths: vec![args.rules.to_path_buf()],
        stdlib: args.stdlib.map(Path::to_path_buf),
        schema: args.schema.map(Path::to_path_buf),
    };
    let loaded = load(&source_args).map_err(|e| fail(&e))?;
    if loaded.files.is_empty() {
        return Err(fail(&format!(
            "no `.vgl` files in `{}`",
            args.rules.display()
        )));
    }
    let color = args.color.enabled();
    let compiled = match compile(
        &loaded.sources,
        &loaded.schema,
        &Options::default(),
        &Budget::default(),
    ) {
        Ok(c) => c,
        Err(diags) => {
            print_diags(&diags, &loaded.sources, false, color);
            let (errors, _) = vigil_compiler::diag::count(&diags);
            eprintln!(
                "error: the rules do not compile ({errors} error{})",
                if errors == 1 { "" } else { "s" }
            );
            return Err(ExitCode::from(1));
        }
    };
    if !compiled.warnings.is_empty() {
        eprint!(
            "{}",
            render::render_all(&compiled.warnings, &loaded.sources.map, color)
        );
    }
    let engine = Engine::new(&compiled.verified, options).map_err(|e| {
        eprintln!("error: cannot build the engine: {e}");
        ExitCode::from(1)
    })?;
    let fields = FieldSet::for_binding(&loaded.schema, engine.interp().binding());
    Ok(Prepared {
        engine,
        rules: names(compiled.program()),
        schema: loaded.schema,
        fields,
    })
}

/// The trust store of `--pubkey` (files or key texts) and `--allow-unsigned`.
fn trust_store(keys: &[String], allow_unsigned: bool) -> Result<TrustStore, String> {
    let mut trust = TrustStore::new();
    trust.allow_unsigned = allow_unsigned;
    for k in keys {
        let path = Path::new(k);
        let text = if std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_dir()) {
            files::read_text(path, files::MAX_CONFIG_BYTES, "a key file")?
        } else {
            k.clone()
        };
        let key = bundle::parse_public_key_text(text.trim())
            .map_err(|e| format!("`{k}` is no public key file or key: {e}"))?;
        trust.trust(key);
    }
    Ok(trust)
}

/// Opens `--output` for writing without truncating it, refuses it when it is one of the inputs
/// (the rules or an events file, same device and inode: writing would empty it before it is
/// read), and only then truncates it.
fn create_output(path: &Path, rules: &Path, inputs: &[Input]) -> Result<File, String> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| format!("cannot create `{}`: {e}", path.display()))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot create `{}`: {e}", path.display()))?;
    if meta.is_file() {
        let id = id_of(path, &meta);
        let stdin = Path::new("/dev/stdin");
        let named = std::iter::once(rules).chain(inputs.iter().map(|i| i.path().unwrap_or(stdin)));
        for p in named {
            if std::fs::metadata(p).is_ok_and(|m| id_of(p, &m) == id) {
                return Err(format!(
                    "the output `{}` is an input (`{}`): writing alerts would destroy it",
                    path.display(),
                    p.display()
                ));
            }
        }
        file.set_len(0)
            .map_err(|e| format!("cannot truncate `{}`: {e}", path.display()))?;
    }
    Ok(file)
}

/// A progress bar over the inputs' bytes on disk, when stderr is a terminal and they are large.
fn progress_bar(args: &Args, inputs: &[Input]) -> Option<ProgressBar> {
    if args.no_progress || !io::stderr().is_terminal() {
        return None;
    }
    let total: u64 = inputs
        .iter()
        .filter_map(Input::path)
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    if total < PROGRESS_MIN_BYTES {
        return None;
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    ) {
        bar.set_style(style);
    }
    Some(bar)
}

/// The progress bar, as the pipeline sees it.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn position(&self) -> u64 {
        self.0.position()
    }

    fn set_position(&self, bytes: u64) {
        self.0.set_position(bytes);
    }
}
