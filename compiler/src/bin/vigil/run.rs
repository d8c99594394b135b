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
//! Alerts go to stdout (or `--output FILE`) as JSON lines (`docs/alerts.md`), `source` naming
//! the input and the 1-based line of the (decompressed) input. A summary goes to stderr:
//! events, alerts per rule, bad lines by code with their first line numbers, value counters,
//! engine counters, throughput. Exit status: 0 normally (bad lines are counted, not fatal), 1
//! when the rules do not compile, the bundle is refused, or `--strict` stops at a bad line, 2
//! for usage and I/O errors.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
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
use vigil_runtime::decode::{DecodeCode, DecodeError, Decoder, Mapping};
use vigil_runtime::engine::{Engine, EngineKind, EngineOptions};
use vigil_runtime::event::Event;
use vigil_runtime::schema::Schema;

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
    /// Colour diagnostics.
    #[arg(long, value_enum, default_value_t)]
    color: Color,
}

/// How many line numbers of each bad-line code the summary shows.
const SHOWN_BAD_LINES: usize = 5;
/// A line longer than this is cut (and then fails to decode as JSON, counted as bad).
const MAX_LINE_BYTES: u64 = 16 << 20;
/// Bytes per chunk handed from a reader thread to the decoding thread.
const CHUNK_BYTES: usize = 256 << 10;
/// Chunks in flight between a reader and the decoder.
const CHUNKS_IN_FLIGHT: usize = 8;
/// Inputs at least this large (bytes on disk) get a progress bar on a terminal.
const PROGRESS_MIN_BYTES: u64 = 16 << 20;

/// One input of events.
#[derive(Debug)]
struct Input {
    /// The name alerts carry in `source.file`: the path as given (or `-`).
    name: String,
    /// The file, or `None` for stdin.
    path: Option<PathBuf>,
}

/// Whole lines read from an input: `data[ends[i-1]..ends[i]]` is line i.
#[derive(Debug, Default)]
struct Chunk {
    data: Vec<u8>,
    ends: Vec<usize>,
}

/// The rules, ready to run.
struct Prepared {
    engine: Engine,
    schema: Schema,
    /// Rule id → rule name, in program order.
    rules: Vec<(String, String)>,
}

/// Runs `vigil run`.
pub(crate) fn run(args: &Args) -> ExitCode {
    let prepared = match prepare(args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let decoder = match make_decoder(args, &prepared.schema) {
        Ok(d) => d,
        Err(e) => return fail(&e),
    };
    let inputs = match collect_inputs(&args.events) {
        Ok(i) => i,
        Err(e) => return fail(&e),
    };
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => match File::create(path) {
            Ok(f) => Box::new(io::BufWriter::with_capacity(1 << 16, f)),
            Err(e) => return fail(&format!("cannot create `{}`: {e}", path.display())),
        },
        None => Box::new(io::BufWriter::with_capacity(1 << 16, io::stdout().lock())),
    };
    let mut run = Run::new(&prepared, decoder, args.strict);
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
    let is_bundle = args.rules.extension().is_some_and(|e| e == "vglb");
    let options = EngineOptions {
        engine: args.engine.kind(),
        ..EngineOptions::default()
    };
    let names = |p: &vigil_runtime::ir::Program| {
        p.rules
            .iter()
            .map(|r| (r.id.clone(), r.name.clone()))
            .collect::<Vec<_>>()
    };
    if is_bundle {
        let schema = load_schema(args.schema.as_deref()).map_err(|e| fail(&e))?;
        let bytes = std::fs::read(&args.rules)
            .map_err(|e| fail(&format!("cannot read `{}`: {e}", args.rules.display())))?;
        let trust = trust_store(&args.pubkey, args.allow_unsigned).map_err(|e| fail(&e))?;
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
        return Ok(Prepared {
            engine,
            schema,
            rules,
        });
    }
    if !args.pubkey.is_empty() || args.allow_unsigned {
        eprintln!("note: --pubkey and --allow-unsigned apply to bundles only; ignored");
    }
    let source_args = SourceArgs {
        paths: vec![args.rules.clone()],
        stdlib: args.stdlib.clone(),
        schema: args.schema.clone(),
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
    Ok(Prepared {
        engine,
        rules: names(compiled.program()),
        schema: loaded.schema,
    })
}

/// The trust store of `--pubkey` (files or key texts) and `--allow-unsigned`.
fn trust_store(keys: &[String], allow_unsigned: bool) -> Result<TrustStore, String> {
    let mut trust = TrustStore::new();
    trust.allow_unsigned = allow_unsigned;
    for k in keys {
        let path = Path::new(k);
        let text = if path.is_file() {
            std::fs::read_to_string(path).map_err(|e| format!("cannot read `{k}`: {e}"))?
        } else {
            k.clone()
        };
        let key = bundle::parse_public_key_text(text.trim())
            .map_err(|e| format!("`{k}` is no public key file or key: {e}"))?;
        trust.trust(key);
    }
    Ok(trust)
}

/// The decoder: native, or through `--mapping` (a shipped mapping's name or a TOML file).
fn make_decoder(args: &Args, schema: &Schema) -> Result<Decoder, String> {
    let Some(m) = &args.mapping else {
        return Ok(Decoder::native(schema));
    };
    let path = Path::new(m);
    let mapping = if path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read `{m}`: {e}"))?;
        Mapping::from_toml(m, &text).map_err(|e| format!("mapping `{m}`: {e}"))?
    } else {
        Mapping::builtin(m)
            .map_err(|e| format!("`{m}` is neither a mapping file nor a shipped mapping: {e}"))?
    };
    Decoder::with_mapping(schema, &mapping).map_err(|e| e.to_string())
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

/// Files under `dir` (recursively), sorted by path.
fn walk(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if is_events_file(&path) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The inputs named on the command line, directories expanded.
fn collect_inputs(paths: &[PathBuf]) -> Result<Vec<Input>, String> {
    let mut inputs = Vec::new();
    let mut stdin_seen = false;
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
            let files =
                walk(p).map_err(|e| format!("cannot read directory `{}`: {e}", p.display()))?;
            if files.is_empty() {
                eprintln!("note: no event files in `{}`", p.display());
            }
            inputs.extend(files.into_iter().map(|f| Input {
                name: f.display().to_string(),
                path: Some(f),
            }));
        } else if p.is_file() {
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

/// Whether `file` starts with the gzip magic bytes (the position is restored).
fn is_gzip(file: &mut File) -> io::Result<bool> {
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        let n = file.read(&mut magic[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    file.rewind()?;
    Ok(got == 2 && magic == [0x1f, 0x8b])
}

/// Opens `input` and starts its reader thread: whole lines, in chunks, through a bounded
/// channel. Opening errors are returned here; read errors arrive through the channel.
fn spawn_reader(
    input: &Input,
    count: Arc<AtomicU64>,
) -> io::Result<(Receiver<io::Result<Chunk>>, JoinHandle<()>)> {
    let reader: Box<dyn BufRead + Send> = match &input.path {
        None => Box::new(BufReader::with_capacity(
            CHUNK_BYTES,
            Counting {
                inner: io::stdin(),
                count,
            },
        )),
        Some(path) => {
            let mut file = File::open(path)?;
            let gz = path.extension().is_some_and(|e| e == "gz") || is_gzip(&mut file)?;
            let counted = Counting { inner: file, count };
            if gz {
                Box::new(BufReader::with_capacity(
                    CHUNK_BYTES,
                    MultiGzDecoder::new(BufReader::new(counted)),
                ))
            } else {
                Box::new(BufReader::with_capacity(CHUNK_BYTES, counted))
            }
        }
    };
    let (tx, rx) = sync_channel(CHUNKS_IN_FLIGHT);
    let handle = std::thread::Builder::new()
        .name("vigil-read".to_owned())
        .spawn(move || {
            let mut reader = reader;
            let mut chunk = Chunk::default();
            loop {
                match read_line(&mut reader, &mut chunk.data) {
                    Ok(0) => break,
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

/// Appends one line (with its newline, if any) to `buf`; returns the bytes consumed, 0 at the
/// end. A line longer than [`MAX_LINE_BYTES`] is cut there and the rest of it skipped.
fn read_line(reader: &mut dyn BufRead, buf: &mut Vec<u8>) -> io::Result<usize> {
    let n = reader.take(MAX_LINE_BYTES).read_until(b'\n', buf)?;
    if n as u64 == MAX_LINE_BYTES && buf.last() != Some(&b'\n') {
        // Skip to the end of the overlong line.
        let mut skipped = 0usize;
        loop {
            let avail = reader.fill_buf()?;
            if avail.is_empty() {
                break;
            }
            match avail.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    reader.consume(i + 1);
                    skipped += i + 1;
                    break;
                }
                None => {
                    let len = avail.len();
                    reader.consume(len);
                    skipped += len;
                }
            }
        }
        return Ok(n + skipped);
    }
    Ok(n)
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
    bad: BTreeMap<DecodeCode, BadLines>,
    refused_events: u64,
    /// Input names, by index (for the summary's line places).
    names: Vec<String>,
    /// Set when stdout was closed: stop quietly.
    closed: bool,
    write_error: Option<io::Error>,
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
            bad: BTreeMap::new(),
            refused_events: 0,
            names: Vec::new(),
            closed: false,
            write_error: None,
        }
    }

    /// Runs one input through the decoder and the engine.
    fn input(
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
        self.decoder.set_file(Some(&input.name));
        let mut line_no = 0u64;
        let mut spare: Vec<Event<'static>> = Vec::new();
        let mut result = Ok(Flow::Go);
        'chunks: for chunk in &rx {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    result = Err(format!(
                        "reading `{}` after line {line_no}: {e}",
                        input.name
                    ));
                    break;
                }
            };
            let mut start = 0;
            for &end in &chunk.ends {
                let line = chunk.data.get(start..end).unwrap_or_default();
                start = end;
                line_no += 1;
                self.lines += 1;
                let mut events = spare;
                let decoded = self.decoder.decode_line(line, line_no, &mut events);
                for ev in &events {
                    self.process(ev, out);
                }
                spare = self.decoder.recycle(events);
                if let Err(e) = decoded {
                    self.bad_line(index, &e);
                    if self.strict {
                        eprintln!("error: {}:{line_no}: {e}", input.name);
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
                s.push_str(&format!("{name}:{line}"));
            }
            last = Some(input);
        }
        s
    }

    /// The summary, on stderr.
    fn summary(&self, secs: f64, engine: EngineChoice, inputs: usize) {
        let stats = self.prepared.engine.stats();
        let d = self.decoder.stats();
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
        let _ = writeln!(err, "alerts: {}", self.alerts);
        for (id, name) in &self.prepared.rules {
            if let Some(n) = self.per_rule.get(id) {
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
                let _ = writeln!(err, "    first: {}", b.first_message);
            }
        }
        let counters = [
            (d.uncoercible_values, "uncoercible values (field left absent)"),
            (d.truncated_values, "truncated values"),
            (d.dropped_items, "dropped list items"),
            (d.unknown_fields, "unknown keys ignored"),
            (d.invalid_utf8_lines, "lines with invalid UTF-8 replaced"),
            (
                stats.stateful_rules_skipped,
                "stateful rule evaluations skipped (sequence/threshold rules this engine does not run yet)",
            ),
            (stats.refused_events, "events refused by the engine"),
            (stats.eval_errors, "evaluation errors"),
            (stats.internal_errors, "internal errors"),
        ];
        for (n, what) in counters {
            if n > 0 {
                let _ = writeln!(err, "{what}: {n}");
            }
        }
    }
}

/// `1234567` → `1,234,567`.
fn group(n: u64) -> String {
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

    #[test]
    fn overlong_lines_are_cut_and_skipped() {
        let mut data = vec![b'x'; (MAX_LINE_BYTES as usize) + 10];
        data.extend_from_slice(b"\nnext\n");
        let mut r = io::Cursor::new(data);
        let mut buf = Vec::new();
        let n = read_line(&mut r, &mut buf).unwrap_or(0);
        assert_eq!(buf.len() as u64, MAX_LINE_BYTES);
        assert_eq!(n as u64, MAX_LINE_BYTES + 11);
        buf.clear();
        read_line(&mut r, &mut buf).unwrap_or(0);
        assert_eq!(buf, b"next\n");
    }
}
