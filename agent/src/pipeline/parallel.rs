//! The parallel path of [`Run::input`]: a feeder numbers the reader's chunks and hands them to
//! N workers through a bounded queue; each worker decodes a chunk with its own decoder and
//! runs the single-event rules ([`Engine::process_stateless`], no lock); the ordered stage
//! (the calling thread) takes the chunks back in input order, runs the stateful rules over
//! their events ([`Engine::process_stateful`]) and writes every alert of an event in program
//! order: the same bytes, in the same order, as one thread.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};

use vigil_runtime::alert::Alert;
use vigil_runtime::decode::{DecodeError, DecodeStats, Decoder, ErrorCode};
use vigil_runtime::engine::Engine;
use vigil_runtime::event::Event;

use super::chunks::{spawn_reader, too_long_error, Chunk};
use super::summary::{counters, noted, Noted};
use super::{Flow, Prepared, Progress, Run};
use crate::inputs::{make_decoder, Input, Issues};
use crate::text::esc;

impl<'p> Run<'p> {
    /// [`Run::input`] on `self.threads` workers: a feeder hands the reader's chunks, numbered,
    /// to the workers through a bounded queue; each worker decodes a chunk with its own
    /// decoder and runs the single-event rules ([`Engine::process_stateless`]), keeping the
    /// alerts; this thread, the ordered stage, takes the chunks back in input order, runs the
    /// stateful rules over them ([`Engine::process_stateful`], decoding the chunk again, only
    /// when the program has stateful rules), and writes every alert of an event in program
    /// order: the same bytes, in the same order, as one thread.
    pub(super) fn input_parallel(
        &mut self,
        input: &Input,
        out: &mut dyn Write,
        progress: Option<&dyn Progress>,
    ) -> Result<Flow, String> {
        let count = Arc::new(AtomicU64::new(0));
        let base = progress.map_or(0, |p| p.position());
        let issues = Issues::new();
        let (rx, handle) = spawn_reader(input, count.clone(), &issues)
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
        let result = match (result, read_error) {
            (Ok(Flow::Go), Some((line_no, e))) => Ok(self.read_failed(index, input, line_no, &e)),
            (result, _) => result,
        };
        self.input_issues(&issues, result)
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
            unrouted,
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
        self.unrouted += unrouted.iter().filter(|&&li| (li as usize) < lines).count() as u64;
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
                return Ok(Flow::Stop(1));
            }
        }
        if self.closed {
            return Ok(Flow::Stop(0));
        }
        if let Some(e) = self.write_error.take() {
            return Err(format!("cannot write alerts: {e}"));
        }
        Ok(Flow::Go)
    }
}

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
    /// The unrouted records (E0710, not bad): line indexes in the chunk.
    unrouted: Vec<u32>,
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
    let mut unrouted = Vec::new();
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
        match decoded {
            Err(e) if e.code == ErrorCode::NoRoute => unrouted.push(li as u32),
            Err(e) => bad.push((li as u32, e)),
            Ok(()) => {}
        }
    }
    let stats = decoder.take_stats();
    Done {
        seq,
        chunk,
        first_line,
        alerts,
        bad,
        unrouted,
        noted: noted_hits,
        events_per_line,
        stats,
        refused,
    }
}

/// Adds the counters of `b` to `a` (bad lines and unrouted records are counted by the ordered
/// stage; the unrouted kinds come from here).
fn add_stats(a: &mut DecodeStats, b: &DecodeStats) {
    a.add(b);
}
