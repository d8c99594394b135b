//! `vigil run RULES_OR_BUNDLE EVENTS...`: run rules over JSON-lines events and print alerts.
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
//! events, alerts per rule, bad lines by code with their first line numbers, value counters,
//! engine counters, throughput. Exit status: 0 normally (bad lines are counted, not fatal), 1
//! when the rules do not compile, the bundle is refused, or `--strict` stops at a bad line, 2
//! for usage and I/O errors.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use clap::ValueEnum;
use flate2::read::MultiGzDecoder;
use indicatif::{ProgressBar, ProgressStyle};
use vigil_compiler::compile::compile;
use vigil_compiler::diag::render;
use vigil_compiler::Options;
use vigil_runtime::alert::Alert;
use vigil_runtime::budget::Budget;
use vigil_runtime::bundle::{self, TrustStore};
use vigil_runtime::decode::{DecodeCode, DecodeError, DecodeStats, Decoder, FieldSet};
use vigil_runtime::engine::{Engine, EngineKind, EngineOptions};
use vigil_runtime::event::Event;
use vigil_runtime::schema::Schema;

pub(crate) use crate::common::make_decoder;
use crate::common::{esc, fail, load, load_schema, print_diags, Color, SourceArgs};
use crate::input::{self, Walker};

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
    /// Event files (JSON lines, optionally gzip-compressed), directories, or `-` for stdin.
    #[arg(required = true, value_name = "EVENTS")]
    events: Vec<PathBuf>,
    /// Read the events through a field mapping: a shipped one by name (`sysmon`) or a TOML
    /// file. Without it, events are Vigil's native JSON lines.
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
    /// Use this schema file instead of the embedded `endpoint` schema.
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

/// Most `--threads` (each worker holds a decoder and chunks in flight).
const MAX_THREADS: i64 = 256;
/// How many line numbers of each bad-line code the summary shows.
const SHOWN_BAD_LINES: usize = 5;
/// Bytes per chunk handed from a reader thread to the decoding thread.
const CHUNK_BYTES: usize = 256 << 10;
/// Chunks in flight between a reader and the decoder.
const CHUNKS_IN_FLIGHT: usize = 8;
/// Inputs smaller than this (bytes on disk) are decoded and run on one thread.
const PARALLEL_MIN_BYTES: u64 = 256 << 10;
/// Inputs at least this large (bytes on disk) get a progress bar on a terminal.
const PROGRESS_MIN_BYTES: u64 = 16 << 20;

/// One input of events.
#[derive(Debug)]
pub(crate) struct Input {
    /// The name alerts carry in `source.file`: the path as given (or `-`).
    pub(crate) name: String,
    /// The file, or `None` for stdin.
    pub(crate) path: Option<PathBuf>,
}

/// Whole lines read from an input: `data[ends[i-1]..ends[i]]` is line i.
#[derive(Debug, Default)]
struct Chunk {
    data: Vec<u8>,
    ends: Vec<usize>,
    /// Indexes (into `ends`, ascending) of lines longer than
    /// [`crate::lines::MAX_LINE_BYTES`]: their data is only a marker, and they are reported as
    /// bad lines ([`DecodeCode::DecodeLineTooLong`]) without decoding.
    too_long: Vec<usize>,
}

impl Chunk {
    fn is_too_long(&self, li: usize) -> bool {
        self.too_long.binary_search(&li).is_ok()
    }
}

/// The error of a line longer than [`crate::lines::MAX_LINE_BYTES`].
fn too_long_error(line: u64) -> DecodeError {
    DecodeError::new(DecodeCode::DecodeLineTooLong, line, crate::lines::TOO_LONG)
}

/// The rules, ready to run.
pub(crate) struct Prepared {
    pub(crate) engine: Engine,
    pub(crate) schema: Schema,
    /// The fields the rules read (with `time` and `host`): the decoders' projection.
    pub(crate) fields: FieldSet,
    /// Rule id → rule name, in program order.
    pub(crate) rules: Vec<(String, String)>,
}

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
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .clamp(1, MAX_THREADS as usize);
    let mut run = Run::new(&prepared, decoder, args.strict);
    run.threads = threads;
    run.threads_given = args.threads.is_some();
    run.mapping.clone_from(&args.mapping);
    let progress = progress_bar(args, &inputs);
    let started = Instant::now();
    let mut status = ExitCode::SUCCESS;
    for input in &inputs {
        match run.input(input, &mut *out, progress.as_ref()) {
            Ok(Flow::Go) => {}
            Ok(Flow::Stop(code)) => {
                status = code;
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
        p.finish_and_clear();
    }
    run.summary(started.elapsed().as_secs_f64(), args.engine, inputs.len());
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
        let bytes = input::read_bundle(args.rules).map_err(|e| fail(&e))?;
        let trust = trust_store(args.pubkey, args.allow_unsigned).map_err(|e| fail(&e))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let loaded =
            bundle::load(&bytes, &schema, &trust, &Budget::default(), now).map_err(|e| {
                eprintln!("error: bundle `{}` refused:\n{e}", args.rules.display());
                ExitCode::from(1)
            })?;
        let engine = Engine::from_loaded(&loaded, options).map_err(|e| {
            eprintln!("error: cannot build the engine: {e}");
            ExitCode::from(1)
        })?;
        let rules = names(loaded.verified.program());
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
            input::read_text(path, input::MAX_CONFIG_BYTES, "a key file")?
        } else {
            k.clone()
        };
        let key = bundle::parse_public_key_text(text.trim())
            .map_err(|e| format!("`{k}` is no public key file or key: {e}"))?;
        trust.trust(key);
    }
    Ok(trust)
}

/// Whether a file found in a directory is an events file.
fn is_events_file(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    [".jsonl", ".ndjson", ".json"]
        .iter()
        .any(|ext| name.ends_with(ext))
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
        let id = input::id_of(&meta);
        let stdin = Path::new("/dev/stdin");
        let named =
            std::iter::once(rules).chain(inputs.iter().map(|i| i.path.as_deref().unwrap_or(stdin)));
        for p in named {
            if std::fs::metadata(p).is_ok_and(|m| input::id_of(&m) == id) {
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

/// The inputs named on the command line, directories expanded.
pub(crate) fn collect_inputs(paths: &[PathBuf]) -> Result<Vec<Input>, String> {
    let mut inputs = Vec::new();
    let mut stdin_seen = false;
    let mut walker = Walker::new();
    for p in paths {
        if p.as_os_str() == "-" {
            if stdin_seen {
                return Err("stdin (`-`) given twice".to_owned());
            }
            stdin_seen = true;
            inputs.push(Input {
                name: "-".to_owned(),
                path: None,
            });
        } else if p.is_dir() {
            let files = walker.walk(p, &is_events_file)?;
            if files.is_empty() {
                eprintln!("note: no event files in `{}`", p.display());
            }
            inputs.extend(files.into_iter().map(|f| Input {
                name: f.display().to_string(),
                path: Some(f),
            }));
        } else if std::fs::symlink_metadata(p).is_ok() {
            // A file or a pipe (`/dev/fd/N`, a FIFO); a device or socket is refused here.
            input::classify(p)?;
            inputs.push(Input {
                name: p.display().to_string(),
                path: Some(p.clone()),
            });
        } else {
            return Err(format!("`{}` does not exist", p.display()));
        }
    }
    Ok(inputs)
}

/// A progress bar over the inputs' bytes on disk, when stderr is a terminal and they are large.
fn progress_bar(args: &Args, inputs: &[Input]) -> Option<ProgressBar> {
    if args.no_progress || !io::stderr().is_terminal() {
        return None;
    }
    let total: u64 = inputs
        .iter()
        .filter_map(|i| i.path.as_ref())
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

/// A reader that counts the bytes it hands out (the progress bar reads the count).
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens an events input (stdin for `None`) as a stream of its decompressed bytes: a file or a
/// pipe (checked by [`input::open`]: devices are refused), gzip when it is named `.gz` or
/// starts with the gzip magic bytes (read first and put back in front, so pipes work too).
/// `count` counts the bytes read before decompression.
pub(crate) fn open_events(
    path: Option<&Path>,
    count: Arc<AtomicU64>,
) -> io::Result<Box<dyn Read + Send>> {
    let raw: Box<dyn Read + Send> = match path {
        None => Box::new(io::stdin()),
        Some(p) => Box::new(input::open(p).map_err(io::Error::other)?.0),
    };
    let mut counted = Counting { inner: raw, count };
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < magic.len() {
        let n = match counted.read(&mut magic[got..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        got += n;
    }
    let named_gz = path.is_some_and(|p| p.extension().is_some_and(|e| e == "gz"));
    let gz = named_gz || (got == 2 && magic == [0x1f, 0x8b]);
    let head = io::Cursor::new(magic.get(..got).unwrap_or_default().to_vec());
    let whole = head.chain(counted);
    Ok(if gz {
        Box::new(MultiGzDecoder::new(BufReader::new(whole)))
    } else {
        Box::new(whole)
    })
}

/// Opens `input` and starts its reader thread: whole lines, in chunks, through a bounded
/// channel. Opening errors are returned here; read errors arrive through the channel.
fn spawn_reader(
    input: &Input,
    count: Arc<AtomicU64>,
) -> io::Result<(Receiver<io::Result<Chunk>>, JoinHandle<()>)> {
    let reader: Box<dyn BufRead + Send> = Box::new(BufReader::with_capacity(
        CHUNK_BYTES,
        open_events(input.path.as_deref(), count)?,
    ));
    let (tx, rx) = sync_channel(CHUNKS_IN_FLIGHT);
    let handle = std::thread::Builder::new()
        .name("vigil-read".to_owned())
        .spawn(move || {
            let mut reader = reader;
            let mut chunk = Chunk::default();
            loop {
                let start = chunk.data.len();
                match crate::lines::read_line(&mut reader, &mut chunk.data) {
                    Ok(crate::lines::Outcome::End) => break,
                    Ok(crate::lines::Outcome::TooLong { .. }) => {
                        // Not held: a marker stands for the line in the chunk.
                        chunk.data.truncate(start);
                        chunk.data.extend_from_slice(b"<too long>");
                        chunk.too_long.push(chunk.ends.len());
                        chunk.ends.push(chunk.data.len());
                    }
                    Ok(_) => chunk.ends.push(chunk.data.len()),
                    Err(e) => {
                        if !chunk.ends.is_empty() {
                            let _ = tx.send(Ok(std::mem::take(&mut chunk)));
                        }
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
                if chunk.data.len() >= CHUNK_BYTES {
                    let full = std::mem::replace(
                        &mut chunk,
                        Chunk {
                            data: Vec::with_capacity(CHUNK_BYTES + (CHUNK_BYTES >> 2)),
                            ends: Vec::new(),
                            too_long: Vec::new(),
                        },
                    );
                    if tx.send(Ok(full)).is_err() {
                        // The decoder stopped (strict mode): nothing more to read.
                        return;
                    }
                }
            }
            if !chunk.ends.is_empty() {
                let _ = tx.send(Ok(chunk));
            }
        })?;
    Ok((rx, handle))
}

/// Per-value counters whose first lines the summary names (the values are counted by the
/// decoder; the line stays good).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Noted {
    /// A value that could not be coerced (E0704).
    Uncoercible,
    /// Invalid UTF-8 or a lone surrogate replaced (E0707).
    Utf8,
    /// A key given twice (E0713).
    Duplicate,
}

/// What one line added to the per-value counters, from the decoder's counters before and
/// after it.
fn noted(before: &DecodeStats, after: &DecodeStats) -> impl Iterator<Item = Noted> {
    [
        (
            after.uncoercible_values > before.uncoercible_values,
            Noted::Uncoercible,
        ),
        (
            after.invalid_utf8_lines > before.invalid_utf8_lines,
            Noted::Utf8,
        ),
        (
            after.duplicate_key_lines > before.duplicate_key_lines,
            Noted::Duplicate,
        ),
    ]
    .into_iter()
    .filter_map(|(hit, n)| hit.then_some(n))
}

/// The counters of `stats` [`noted`] compares.
fn counters(stats: &DecodeStats) -> DecodeStats {
    DecodeStats {
        uncoercible_values: stats.uncoercible_values,
        invalid_utf8_lines: stats.invalid_utf8_lines,
        duplicate_key_lines: stats.duplicate_key_lines,
        ..DecodeStats::default()
    }
}

/// Whether to go on with the next input.
enum Flow {
    Go,
    Stop(ExitCode),
}

/// One bad-line code's count and first places.
#[derive(Default)]
struct BadLines {
    count: u64,
    first_message: String,
    /// (input index, line)
    places: Vec<(usize, u64)>,
}

/// The state of a run across inputs.
struct Run<'p> {
    prepared: &'p Prepared,
    decoder: Decoder,
    strict: bool,
    /// Alerts per rule id.
    per_rule: HashMap<String, u64>,
    alerts: u64,
    lines: u64,
    /// Lines that were empty or white space (no event, no error).
    blank_lines: u64,
    /// Lines that gave more than one event (a mapping route fanning a record out), and the
    /// events beyond the first they gave.
    fanout_lines: u64,
    fanout_extra: u64,
    /// The first lines of each per-value counter: (input index, line).
    noted: BTreeMap<Noted, Vec<(usize, u64)>>,
    bad: BTreeMap<DecodeCode, BadLines>,
    refused_events: u64,
    /// Input names, by index (for the summary's line places).
    names: Vec<String>,
    /// Set when stdout was closed: stop quietly.
    closed: bool,
    write_error: Option<io::Error>,
    /// Decoding threads (1: decode and run on this thread, no pipeline).
    threads: usize,
    /// Whether `--threads` was given (then even small inputs go through the pipeline).
    threads_given: bool,
    /// The mapping each worker's decoder reads events through.
    mapping: Option<String>,
    /// Rule id → index in program order (alerts of one event are merged in that order).
    rule_ix: HashMap<String, usize>,
    /// Whether the program has stateful rules (the ordered stage then decodes each chunk
    /// again for them).
    has_stateful: bool,
    /// The workers' decoding counters, summed.
    worker_stats: DecodeStats,
    /// The workers' decoders, kept across inputs.
    worker_decoders: Vec<Decoder>,
    /// The ordered stage's decoder (stateful rules), kept across inputs.
    stateful_decoder: Option<Decoder>,
}

impl<'p> Run<'p> {
    fn new(prepared: &'p Prepared, decoder: Decoder, strict: bool) -> Run<'p> {
        Run {
            prepared,
            decoder,
            strict,
            per_rule: HashMap::new(),
            alerts: 0,
            lines: 0,
            blank_lines: 0,
            fanout_lines: 0,
            fanout_extra: 0,
            noted: BTreeMap::new(),
            bad: BTreeMap::new(),
            refused_events: 0,
            names: Vec::new(),
            closed: false,
            write_error: None,
            threads: 1,
            threads_given: false,
            mapping: None,
            rule_ix: prepared
                .rules
                .iter()
                .enumerate()
                .map(|(i, (id, _))| (id.clone(), i))
                .collect(),
            has_stateful: !prepared.engine.rule_state_stats().is_empty(),
            worker_stats: DecodeStats::default(),
            worker_decoders: Vec::new(),
            stateful_decoder: None,
        }
    }

    /// Runs one input through the decoder and the engine.
    fn input(
        &mut self,
        input: &Input,
        out: &mut dyn Write,
        progress: Option<&ProgressBar>,
    ) -> Result<Flow, String> {
        // Small files are not worth the pipeline's start-up (threads, queues), unless the
        // user asked for threads.
        let small = input
            .path
            .as_ref()
            .and_then(|p| std::fs::metadata(p).ok())
            .is_some_and(|m| m.len() < PARALLEL_MIN_BYTES);
        if self.threads > 1 && (!small || self.threads_given) {
            return self.input_parallel(input, out, progress);
        }
        let count = Arc::new(AtomicU64::new(0));
        let base = progress.map_or(0, ProgressBar::position);
        let (rx, handle) = spawn_reader(input, count.clone())
            .map_err(|e| format!("cannot read `{}`: {e}", input.name))?;
        let index = self.names.len();
        self.names.push(input.name.clone());
        self.decoder.set_file(Some(&input.name));
        let mut line_no = 0u64;
        let mut spare: Vec<Event<'static>> = Vec::new();
        let mut result = Ok(Flow::Go);
        'chunks: for chunk in &rx {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    result = Ok(self.read_failed(index, input, line_no, &e));
                    break;
                }
            };
            let mut start = 0;
            for (li, &end) in chunk.ends.iter().enumerate() {
                let line = chunk.data.get(start..end).unwrap_or_default();
                start = end;
                line_no += 1;
                self.lines += 1;
                let mut events = spare;
                let before = counters(self.decoder.stats());
                let decoded = if chunk.is_too_long(li) {
                    Err(too_long_error(line_no))
                } else {
                    self.decoder.decode_line(line, line_no, &mut events)
                };
                let seen: Vec<Noted> = noted(&before, self.decoder.stats()).collect();
                for n in seen {
                    self.note(n, index, line_no);
                }
                self.count_line(line, events.len());
                for ev in &events {
                    self.process(ev, out);
                }
                spare = self.decoder.recycle(events);
                if let Err(e) = decoded {
                    self.bad_line(index, &e);
                    if self.strict {
                        eprintln!(
                            "error: {}:{line_no}: {}",
                            esc(&input.name),
                            esc(&e.to_string())
                        );
                        eprintln!("note: stopped at the first bad line (--strict)");
                        result = Ok(Flow::Stop(ExitCode::from(1)));
                        break 'chunks;
                    }
                }
                if self.closed {
                    result = Ok(Flow::Stop(ExitCode::SUCCESS));
                    break 'chunks;
                }
            }
            if let Some(e) = self.write_error.take() {
                result = Err(format!("cannot write alerts: {e}"));
                break;
            }
            if let Some(p) = progress {
                p.set_position(base + count.load(Ordering::Relaxed));
            }
        }
        drop(rx);
        let _ = handle.join();
        result
    }

    /// [`Run::input`] on `self.threads` workers: a feeder hands the reader's chunks, numbered,
    /// to the workers through a bounded queue; each worker decodes a chunk with its own
    /// decoder and runs the single-event rules ([`Engine::process_stateless`]), keeping the
    /// alerts; this thread, the ordered stage, takes the chunks back in input order, runs the
    /// stateful rules over them ([`Engine::process_stateful`], decoding the chunk again, only
    /// when the program has stateful rules), and writes every alert of an event in program
    /// order: the same bytes, in the same order, as one thread.
    fn input_parallel(
        &mut self,
        input: &Input,
        out: &mut dyn Write,
        progress: Option<&ProgressBar>,
    ) -> Result<Flow, String> {
        let count = Arc::new(AtomicU64::new(0));
        let base = progress.map_or(0, ProgressBar::position);
        let (rx, handle) = spawn_reader(input, count.clone())
            .map_err(|e| format!("cannot read `{}`: {e}", input.name))?;
        let index = self.names.len();
        self.names.push(input.name.clone());
        let prepared: &'p Prepared = self.prepared;
        let schema = &prepared.schema;
        let mut stateful_decoder = match self.stateful_decoder.take() {
            Some(d) => d,
            None => {
                let mut d = make_decoder(self.mapping.as_deref(), schema, Some(&prepared.fields))?;
                d.refuse_duplicate_keys(self.strict);
                d
            }
        };
        stateful_decoder.set_file(Some(&input.name));
        // The workers' decoders, kept across inputs (building one compiles the mapping).
        let mut decoders = std::mem::take(&mut self.worker_decoders);
        while decoders.len() < self.threads {
            let mut d = make_decoder(self.mapping.as_deref(), schema, Some(&prepared.fields))?;
            d.refuse_duplicate_keys(self.strict);
            decoders.push(d);
        }
        let threads = self.threads;
        let (work_tx, work_rx) = sync_channel::<(u64, Chunk, u64)>(threads * 2);
        let work_rx = Mutex::new(work_rx);
        let (done_tx, done_rx) = sync_channel::<Result<Done, String>>(threads * 2);
        let stop = AtomicBool::new(false);
        let read_error: Mutex<Option<(u64, io::Error)>> = Mutex::new(None);
        let engine = &prepared.engine;
        let rule_ix = self.rule_ix.clone();
        let rule_ix = &rule_ix;
        let (result, decoders) = std::thread::scope(|scope| {
            let mut workers = Vec::with_capacity(threads);
            for mut decoder in decoders {
                let done_tx = done_tx.clone();
                let work_rx = &work_rx;
                workers.push(scope.spawn(move || {
                    decoder.set_file(Some(&input.name));
                    let mut hung_up = false;
                    loop {
                        let job = match work_rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return decoder,
                        };
                        let Ok((seq, chunk, first_line)) = job else {
                            return decoder;
                        };
                        // After the ordered stage hung up, drain the queue so the feeder
                        // never blocks on it.
                        if hung_up {
                            continue;
                        }
                        let done = run_chunk(engine, rule_ix, &mut decoder, seq, chunk, first_line);
                        hung_up = done_tx.send(Ok(done)).is_err();
                    }
                }));
            }
            drop(done_tx);
            let stop = &stop;
            let read_error = &read_error;
            scope.spawn(move || {
                let mut seq = 0u64;
                let mut line_no = 0u64;
                for chunk in rx {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match chunk {
                        Ok(chunk) => {
                            let lines = chunk.ends.len() as u64;
                            if work_tx.send((seq, chunk, line_no)).is_err() {
                                break;
                            }
                            seq += 1;
                            line_no += lines;
                        }
                        Err(e) => {
                            if let Ok(mut slot) = read_error.lock() {
                                *slot = Some((line_no, e));
                            }
                            break;
                        }
                    }
                }
            });
            // The ordered stage.
            let mut pending: BTreeMap<u64, Done> = BTreeMap::new();
            let mut next = 0u64;
            let mut result = Ok(Flow::Go);
            'recv: for done in &done_rx {
                let done = match done {
                    Ok(d) => d,
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                };
                pending.insert(done.seq, done);
                while let Some(d) = pending.remove(&next) {
                    next += 1;
                    match self.ordered(d, index, input, &mut stateful_decoder, out) {
                        Ok(Flow::Go) => {}
                        other => {
                            result = other;
                            break 'recv;
                        }
                    }
                    if let Some(p) = progress {
                        p.set_position(base + count.load(Ordering::Relaxed));
                    }
                }
            }
            stop.store(true, Ordering::Relaxed);
            drop(done_rx);
            let decoders: Vec<Decoder> =
                workers.into_iter().filter_map(|w| w.join().ok()).collect();
            (result, decoders)
        });
        self.worker_decoders = decoders;
        self.stateful_decoder = Some(stateful_decoder);
        let _ = handle.join();
        let read_error = read_error.into_inner().ok().flatten();
        match (result, read_error) {
            (Ok(Flow::Go), Some((line_no, e))) => Ok(self.read_failed(index, input, line_no, &e)),
            (result, _) => result,
        }
    }

    /// The ordered stage's work on one chunk back from a worker: stateful rules, alerts in
    /// order, bad lines, `--strict`.
    fn ordered(
        &mut self,
        done: Done,
        index: usize,
        input: &Input,
        stateful_decoder: &mut Decoder,
        out: &mut dyn Write,
    ) -> Result<Flow, String> {
        let Done {
            chunk,
            first_line,
            mut alerts,
            bad,
            noted: noted_hits,
            events_per_line,
            stats,
            refused,
            ..
        } = done;
        add_stats(&mut self.worker_stats, &stats);
        self.refused_events += refused;
        // Under `--strict`, the first bad line ends the run: nothing after it is written.
        let stop_at = if self.strict {
            bad.first().map(|(li, _)| *li)
        } else {
            None
        };
        let lines = stop_at.map_or(chunk.ends.len(), |li| li as usize + 1);
        self.lines += lines as u64;
        let mut start = 0;
        for (&end, &n) in chunk.ends.iter().zip(&events_per_line).take(lines) {
            self.count_line(chunk.data.get(start..end).unwrap_or_default(), n as usize);
            start = end;
        }
        for &(li, n) in &noted_hits {
            if (li as usize) < lines {
                self.note(n, index, first_line + u64::from(li) + 1);
            }
        }
        if self.has_stateful {
            let engine = &self.prepared.engine;
            let rule_ix = &self.rule_ix;
            let mut start = 0;
            let mut spare: Vec<Event<'static>> = Vec::new();
            for (li, &end) in chunk.ends.iter().enumerate().take(lines) {
                let line = chunk.data.get(start..end).unwrap_or_default();
                start = end;
                let mut events = spare;
                if !chunk.is_too_long(li) {
                    let _ =
                        stateful_decoder.decode_line(line, first_line + li as u64 + 1, &mut events);
                }
                for (ei, ev) in events.iter().enumerate() {
                    let _ = engine.process_stateful(ev, &mut |a: &Alert| {
                        let r = rule_ix.get(&a.rule).copied().unwrap_or(usize::MAX);
                        alerts.push((li as u32, ei as u32, r, a.to_json_line()));
                    });
                }
                spare = stateful_decoder.recycle(events);
            }
            // Every alert of an event in program order, as `Engine::process` gives them.
            alerts.sort_by_key(|(li, ei, r, _)| (*li, *ei, *r));
        }
        for (li, _, r, line) in &alerts {
            if stop_at.is_some_and(|s| *li >= s) {
                break;
            }
            self.alerts += 1;
            if let Some((id, _)) = self.prepared.rules.get(*r) {
                *self.per_rule.entry(id.clone()).or_insert(0) += 1;
            }
            if self.closed || self.write_error.is_some() {
                continue;
            }
            if let Err(e) = writeln!(out, "{line}") {
                if e.kind() == io::ErrorKind::BrokenPipe {
                    self.closed = true;
                } else {
                    self.write_error = Some(e);
                }
            }
        }
        for (_, e) in &bad {
            self.bad_line(index, e);
            if self.strict {
                eprintln!(
                    "error: {}:{}: {}",
                    esc(&input.name),
                    e.line,
                    esc(&e.to_string())
                );
                eprintln!("note: stopped at the first bad line (--strict)");
                return Ok(Flow::Stop(ExitCode::from(1)));
            }
        }
        if self.closed {
            return Ok(Flow::Stop(ExitCode::SUCCESS));
        }
        if let Some(e) = self.write_error.take() {
            return Err(format!("cannot write alerts: {e}"));
        }
        Ok(Flow::Go)
    }

    /// Runs the engine on one event, writing its alerts.
    fn process(&mut self, ev: &Event<'_>, out: &mut dyn Write) {
        let per_rule = &mut self.per_rule;
        let alerts = &mut self.alerts;
        let closed = &mut self.closed;
        let write_error = &mut self.write_error;
        let result = self.prepared.engine.process(ev, &mut |a: &Alert| {
            *alerts += 1;
            match per_rule.get_mut(&a.rule) {
                Some(n) => *n += 1,
                None => {
                    per_rule.insert(a.rule.clone(), 1);
                }
            }
            if *closed || write_error.is_some() {
                return;
            }
            if let Err(e) = writeln!(out, "{}", a.to_json_line()) {
                if e.kind() == io::ErrorKind::BrokenPipe {
                    *closed = true;
                } else {
                    *write_error = Some(e);
                }
            }
        });
        if result.is_err() {
            self.refused_events += 1;
        }
    }

    /// An input that fails while being read (a truncated or corrupt `.gz`, an I/O error): a
    /// coded error (E0712) for that input, counted as a bad line after the last line read; the
    /// run goes on with the next input (under `--strict` it stops, exit status 1).
    fn read_failed(&mut self, index: usize, input: &Input, line_no: u64, e: &io::Error) -> Flow {
        let err = DecodeError::new(
            DecodeCode::DecodeIo,
            line_no + 1,
            format!("reading `{}` failed after line {line_no}: {e}", input.name),
        );
        eprintln!("error[{}]: {}: {}", err.code, input.name, err.message);
        self.bad_line(index, &err);
        if self.strict {
            eprintln!("note: stopped at the first bad input (--strict)");
            return Flow::Stop(ExitCode::from(1));
        }
        eprintln!(
            "note: the rest of `{}` is skipped; going on with the next input",
            input.name
        );
        Flow::Go
    }

    /// Counts a line as blank or fanned out (`events`: what it gave).
    fn count_line(&mut self, line: &[u8], events: usize) {
        if events == 0 && line.trim_ascii().is_empty() {
            self.blank_lines += 1;
        } else if events > 1 {
            self.fanout_lines += 1;
            self.fanout_extra += events as u64 - 1;
        }
    }

    /// Keeps the place of a per-value counter's hit (the first few).
    fn note(&mut self, n: Noted, input: usize, line: u64) {
        let places = self.noted.entry(n).or_default();
        if places.len() < SHOWN_BAD_LINES {
            places.push((input, line));
        }
    }

    fn bad_line(&mut self, input: usize, e: &DecodeError) {
        let b = self.bad.entry(e.code).or_default();
        b.count += 1;
        if b.first_message.is_empty() {
            b.first_message.clone_from(&e.message);
        }
        if b.places.len() < SHOWN_BAD_LINES {
            b.places.push((input, e.line));
        }
    }

    /// `a.jsonl:3, 5, b.jsonl:1`.
    fn places(&self, places: &[(usize, u64)]) -> String {
        let mut s = String::new();
        let mut last = None;
        for (i, &(input, line)) in places.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            if last == Some(input) {
                s.push_str(&line.to_string());
            } else {
                let name = self.names.get(input).map_or("?", String::as_str);
                s.push_str(&format!("{}:{line}", esc(name)));
            }
            last = Some(input);
        }
        s
    }

    /// The summary, on stderr.
    fn summary(&self, secs: f64, engine: EngineChoice, inputs: usize) {
        let stats = self.prepared.engine.stats();
        let mine = self.decoder.stats();
        let w = &self.worker_stats;
        let d = DecodeStats {
            uncoercible_values: mine.uncoercible_values + w.uncoercible_values,
            truncated_values: mine.truncated_values + w.truncated_values,
            dropped_items: mine.dropped_items + w.dropped_items,
            unknown_fields: mine.unknown_fields + w.unknown_fields,
            invalid_utf8_lines: mine.invalid_utf8_lines + w.invalid_utf8_lines,
            duplicate_key_lines: mine.duplicate_key_lines + w.duplicate_key_lines,
            ..DecodeStats::default()
        };
        let s = |n: u64| if n == 1 { "" } else { "s" };
        let rate = if secs > 0.0 {
            stats.events as f64 / secs
        } else {
            0.0
        };
        let mut err = io::stderr().lock();
        let _ = writeln!(
            err,
            "vigil run: {} event{} from {} line{} in {inputs} input{} in {secs:.3}s ({} events/s, engine {})",
            stats.events,
            s(stats.events),
            self.lines,
            s(self.lines),
            if inputs == 1 { "" } else { "s" },
            group(rate.round() as u64),
            engine.name()
        );
        // How the lines add up: each is blank, bad, or gave events (several when a mapping
        // route fans a record out); a failed read (E0712) is no line.
        let bad_lines: u64 = self
            .bad
            .iter()
            .filter(|(code, _)| **code != DecodeCode::DecodeIo)
            .map(|(_, b)| b.count)
            .sum();
        if self.blank_lines > 0 || bad_lines > 0 || self.fanout_lines > 0 {
            let with_events = self
                .lines
                .saturating_sub(self.blank_lines)
                .saturating_sub(bad_lines);
            let mut line = format!(
                "lines: {} = {with_events} with events + {} blank + {bad_lines} bad",
                self.lines, self.blank_lines
            );
            if self.fanout_lines > 0 {
                line.push_str(&format!(
                    "; {} line{} gave several events ({} events more than lines)",
                    self.fanout_lines,
                    s(self.fanout_lines),
                    self.fanout_extra
                ));
            }
            let _ = writeln!(err, "{line}");
        }
        let _ = writeln!(err, "alerts: {}", self.alerts);
        for (id, name) in &self.prepared.rules {
            if let Some(n) = self.per_rule.get(id) {
                let (id, name) = (esc(id), esc(name));
                if id == name {
                    let _ = writeln!(err, "  {id}: {n}");
                } else {
                    let _ = writeln!(err, "  {id} ({name}): {n}");
                }
            }
        }
        let bad: u64 = self.bad.values().map(|b| b.count).sum();
        if bad > 0 {
            let _ = writeln!(err, "bad lines: {bad}");
            for (code, b) in &self.bad {
                let _ = writeln!(
                    err,
                    "  {code} {}: {} (line{} {})",
                    code.title(),
                    b.count,
                    s(b.places.len() as u64),
                    self.places(&b.places)
                );
                let _ = writeln!(err, "    first: {}", esc(&b.first_message));
            }
        }
        let counters = [
            (d.uncoercible_values, UNCOERCIBLE),
            (d.truncated_values, "truncated values"),
            (d.dropped_items, "dropped list items"),
            (d.unknown_fields, "unknown keys ignored"),
            (d.invalid_utf8_lines, UTF8),
            (d.duplicate_key_lines, DUPLICATE),
            (
                // With workers, the ordered stage runs the stateful rules the workers skip.
                if self.threads > 1 {
                    0
                } else {
                    stats.stateful_rules_skipped
                },
                "stateful rule evaluations skipped (sequence/threshold rules this engine does not run yet)",
            ),
            (stats.refused_events, "events refused by the engine"),
            // Per stateful rule: an event seen by two such rules counts twice.
            (
                stats.state_late,
                "late events skipped by stateful rules (older than their host's newest time by more than --lateness)",
            ),
            (
                stats.state_late_accepted,
                "late events accepted by stateful rules (within --lateness)",
            ),
            (
                stats.state_missing_time,
                "events without a time skipped by stateful rules",
            ),
            (
                stats.state_clock_resets,
                "clock resets (a host's time went back by more than 24h: its state was dropped)",
            ),
            (stats.eval_errors, "evaluation errors"),
            (stats.internal_errors, "internal errors"),
        ];
        for (n, what) in counters {
            if n > 0 {
                let noted = match what {
                    UNCOERCIBLE => self.noted.get(&Noted::Uncoercible),
                    UTF8 => self.noted.get(&Noted::Utf8),
                    DUPLICATE => self.noted.get(&Noted::Duplicate),
                    _ => None,
                };
                match noted {
                    Some(places) if !places.is_empty() => {
                        let _ = writeln!(
                            err,
                            "{what}: {n} (line{} {})",
                            s(places.len() as u64),
                            self.places(places)
                        );
                    }
                    _ => {
                        let _ = writeln!(err, "{what}: {n}");
                    }
                }
            }
        }
    }
}

/// The summary's names of the per-value counters whose first lines it shows.
const UNCOERCIBLE: &str = "uncoercible values (field left absent)";
const UTF8: &str = "lines with invalid UTF-8 replaced";
const DUPLICATE: &str =
    "lines naming a key twice (E0713: the last value kept; --strict refuses them)";

/// One chunk decoded and run through the single-event rules by a worker.
struct Done {
    /// Its number in the input (the ordered stage takes chunks back in this order).
    seq: u64,
    chunk: Chunk,
    /// Lines of the input before this chunk.
    first_line: u64,
    /// (line index in the chunk, event index in the line, rule index, alert JSON line).
    alerts: Vec<(u32, u32, usize, String)>,
    /// The bad lines: (line index in the chunk, error).
    bad: Vec<(u32, DecodeError)>,
    /// Per-value counter hits: (line index in the chunk, which).
    noted: Vec<(u32, Noted)>,
    /// Per line: its events (blank lines and fan-out are counted in order, up to `--strict`'s
    /// stop).
    events_per_line: Vec<u32>,
    /// The worker decoder's counters for this chunk.
    stats: DecodeStats,
    /// Events the engine refused.
    refused: u64,
}

/// A worker's job: decode `chunk` and run the single-event rules over its events.
fn run_chunk(
    engine: &Engine,
    rule_ix: &HashMap<String, usize>,
    decoder: &mut Decoder,
    seq: u64,
    chunk: Chunk,
    first_line: u64,
) -> Done {
    let mut alerts = Vec::new();
    let mut bad = Vec::new();
    let mut noted_hits = Vec::new();
    let mut events_per_line = Vec::with_capacity(chunk.ends.len());
    let mut refused = 0;
    let mut spare: Vec<Event<'static>> = Vec::new();
    let mut start = 0;
    for (li, &end) in chunk.ends.iter().enumerate() {
        let line = chunk.data.get(start..end).unwrap_or_default();
        start = end;
        let mut events = spare;
        let before = counters(decoder.stats());
        let line_no = first_line + li as u64 + 1;
        let decoded = if chunk.is_too_long(li) {
            Err(too_long_error(line_no))
        } else {
            decoder.decode_line(line, line_no, &mut events)
        };
        noted_hits.extend(noted(&before, decoder.stats()).map(|n| (li as u32, n)));
        events_per_line.push(u32::try_from(events.len()).unwrap_or(u32::MAX));
        for (ei, ev) in events.iter().enumerate() {
            let r = engine.process_stateless(ev, &mut |a: &Alert| {
                let r = rule_ix.get(&a.rule).copied().unwrap_or(usize::MAX);
                alerts.push((li as u32, ei as u32, r, a.to_json_line()));
            });
            if r.is_err() {
                refused += 1;
            }
        }
        spare = decoder.recycle(events);
        if let Err(e) = decoded {
            bad.push((li as u32, e));
        }
    }
    let stats = decoder.take_stats();
    Done {
        seq,
        chunk,
        first_line,
        alerts,
        bad,
        noted: noted_hits,
        events_per_line,
        stats,
        refused,
    }
}

/// Adds the counters of `b` to `a` (bad lines are counted by the ordered stage).
fn add_stats(a: &mut DecodeStats, b: &DecodeStats) {
    a.uncoercible_values += b.uncoercible_values;
    a.truncated_values += b.truncated_values;
    a.dropped_items += b.dropped_items;
    a.unknown_fields += b.unknown_fields;
    a.invalid_utf8_lines += b.invalid_utf8_lines;
    a.duplicate_key_lines += b.duplicate_key_lines;
}

/// `1234567` → `1,234,567`.
pub(crate) fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_inserts_thousands_separators() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1_234_567), "1,234,567");
    }

    #[test]
    fn events_files_are_recognised_by_name() {
        assert!(is_events_file(Path::new("a/b.jsonl")));
        assert!(is_events_file(Path::new("a/b.JSONL.gz")));
        assert!(is_events_file(Path::new("b.json")));
        assert!(!is_events_file(Path::new("manifest.tsv")));
        assert!(!is_events_file(Path::new("LICENSE")));
    }
}
