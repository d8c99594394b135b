//! The run pipeline of `vigil run` and `vigil bench`, for any embedder: JSON-lines inputs
//! through the decoder and an [`Engine`], alerts written as JSON lines to a sink, a summary at
//! the end.
//!
//! Each input is read and decompressed on its own thread (`chunks.rs`), which hands whole lines
//! to the decoding side through a bounded channel; events reach the engine in input order
//! (inputs in the order given, lines in input order), which is the time order stateful rules
//! need when the inputs are time-ordered.
//!
//! **Threads** ([`Run::set_threads`]): the chunks of an input are numbered and handed through
//! bounded queues (which block, never drop) to N workers, each decoding with its own decoder
//! and running the single-event rules ([`Engine::process_stateless`], no lock). One ordered
//! stage takes the chunks back in input order, runs the stateful rules over their events in
//! input order ([`Engine::process_stateful`]; it decodes the chunk again for them, only when
//! the program has stateful rules) and writes the alerts. **Alert order** is the same as with
//! one thread, byte for byte: events in input order, and an event's alerts in program order.
//! Unless the thread count was asked for, inputs under 256 KiB run on one thread (the
//! pipeline's start-up costs more than it saves there).
//!
//! Bad lines are counted with the places of their first few lines, not fatal, unless the run
//! is strict (then the first one stops it, [`Flow::Stop`] with status 1). Records no mapping
//! route takes (E0710) are not bad: they are counted as unrouted, by kind (Channel, EventID),
//! and never stop a strict run. The summary counts records and events apart (a record of
//! several event types gives one event per type).

mod chunks;
mod issues;
mod parallel;
mod summary;

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use vigil_runtime::alert::Alert;
use vigil_runtime::decode::{DecodeError, DecodeStats, Decoder, ErrorCode, FieldSet};
use vigil_runtime::engine::Engine;
use vigil_runtime::event::Event;
use vigil_runtime::schema::Schema;

use chunks::{spawn_reader, too_long_error};
use summary::{counters, noted, BadLines, Noted};

use crate::inputs::{Input, Issues};
use crate::text::esc;

/// Most threads a run uses (each worker holds a decoder and chunks in flight).
pub const MAX_THREADS: usize = 256;
/// How many line numbers of each bad-line code the summary shows.
const SHOWN_BAD_LINES: usize = 5;
/// Inputs smaller than this (bytes on disk) are decoded and run on one thread.
const PARALLEL_MIN_BYTES: u64 = 256 << 10;

/// The rules, ready to run.
pub struct Prepared {
    /// The engine, built from a verified program or a loaded bundle.
    pub engine: Engine,
    /// The schema events are decoded into.
    pub schema: Schema,
    /// The fields the rules read (with `time` and `host`): the decoders' projection.
    pub fields: FieldSet,
    /// Rule id → rule name, in program order.
    pub rules: Vec<(String, String)>,
}

/// Where a run reports its progress: the bytes read so far over all inputs (a progress bar).
pub trait Progress {
    /// The bytes counted so far.
    fn position(&self) -> u64;
    /// Sets the bytes counted so far.
    fn set_position(&self, bytes: u64);
}

/// Whether to go on with the next input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on.
    Go,
    /// Stop, with this exit status: 1 when a strict run met a bad line, 0 when the alert sink
    /// was closed (a reader went away: not an error).
    Stop(u8),
}

/// The state of a run across inputs: counters, the decoders kept between inputs, and the
/// places of bad lines for the summary. Feed it inputs with [`Run::input`], then print
/// [`Run::summary`].
pub struct Run<'p> {
    prepared: &'p Prepared,
    decoder: Decoder,
    strict: bool,
    /// Alerts per rule id.
    per_rule: HashMap<String, u64>,
    alerts: u64,
    lines: u64,
    /// Lines that were empty or white space (no event, no error).
    blank_lines: u64,
    /// Records no mapping route takes (E0710; not bad lines).
    unrouted: u64,
    /// Lines that gave more than one event (a mapping route fanning a record out), and the
    /// events beyond the first they gave.
    fanout_lines: u64,
    fanout_extra: u64,
    /// The first lines of each per-value counter: (input index, line).
    noted: BTreeMap<Noted, Vec<(usize, u64)>>,
    bad: BTreeMap<ErrorCode, BadLines>,
    /// What inputs' readers met that is not a line (EVTX damage): code → (count, first message).
    input_errors: BTreeMap<ErrorCode, (u64, String)>,
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
    /// A run of `prepared`'s engine, decoding with `decoder` on this thread (`strict`: stop at
    /// the first bad line). One thread until [`Run::set_threads`] says otherwise.
    pub fn new(prepared: &'p Prepared, decoder: Decoder, strict: bool) -> Run<'p> {
        Run {
            prepared,
            decoder,
            strict,
            per_rule: HashMap::new(),
            alerts: 0,
            lines: 0,
            blank_lines: 0,
            unrouted: 0,
            fanout_lines: 0,
            fanout_extra: 0,
            noted: BTreeMap::new(),
            bad: BTreeMap::new(),
            input_errors: BTreeMap::new(),
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

    /// Decodes and runs the single-event rules on `threads` workers (clamped to 1 to
    /// [`MAX_THREADS`]); `given`: the caller asked for them, so even small inputs use them.
    pub fn set_threads(&mut self, threads: usize, given: bool) {
        self.threads = threads.clamp(1, MAX_THREADS);
        self.threads_given = given;
    }

    /// The mapping the workers' decoders read events through (the same as `decoder`'s).
    pub fn set_mapping(&mut self, mapping: Option<String>) {
        self.mapping = mapping;
    }

    /// Runs one input through the decoder and the engine.
    ///
    /// # Errors
    /// A message when the input cannot be opened or the alerts cannot be written.
    pub fn input(
        &mut self,
        input: &Input,
        out: &mut dyn Write,
        progress: Option<&dyn Progress>,
    ) -> Result<Flow, String> {
        // Small files are not worth the pipeline's start-up (threads, queues), unless the
        // user asked for threads.
        let small = input
            .path()
            .and_then(|p| std::fs::metadata(p).ok())
            .is_some_and(|m| m.len() < PARALLEL_MIN_BYTES);
        if self.threads > 1 && (!small || self.threads_given) {
            return self.input_parallel(input, out, progress);
        }
        let count = Arc::new(AtomicU64::new(0));
        let base = progress.map_or(0, |p| p.position());
        let issues = Issues::new();
        let (rx, handle) = spawn_reader(input, count.clone(), &issues)
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
                // An unrouted record is counted, not bad (`--strict` goes on).
                let bad = match decoded {
                    Err(e) if e.code == ErrorCode::NoRoute => {
                        self.unrouted += 1;
                        None
                    }
                    Err(e) => Some(e),
                    Ok(()) => None,
                };
                if let Some(e) = bad {
                    self.bad_line(index, &e);
                    if self.strict {
                        eprintln!(
                            "error: {}:{line_no}: {}",
                            esc(&input.name),
                            esc(&e.to_string())
                        );
                        eprintln!("note: stopped at the first bad line (--strict)");
                        result = Ok(Flow::Stop(1));
                        break 'chunks;
                    }
                }
                if self.closed {
                    result = Ok(Flow::Stop(0));
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
        self.input_issues(&issues, result)
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
            ErrorCode::DecodeIo,
            line_no + 1,
            format!("reading `{}` failed after line {line_no}: {e}", input.name),
        );
        eprintln!("error[{}]: {}: {}", err.code, input.name, err.message);
        self.bad_line(index, &err);
        if self.strict {
            eprintln!("note: stopped at the first bad input (--strict)");
            return Flow::Stop(1);
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
}
