//! `vigil bench RULES EVENTS...`: how fast rules run over events, stage by stage.
//!
//! The rules are loaded as `vigil run` loads them (`.vgl` files compiled in memory, or a
//! bundle), timed (`load_ms`: compile or decode, authenticate, bind and verify, then build the
//! engine; with the JIT, rules are compiled on first use unless `--jit-eager`, and the time
//! spent compiling them later is `jit_compile_ms`). Every input is read (and decompressed) into
//! memory first, untimed. Then three timed stages:
//! - **decode**: every line decoded into events held in memory (`decode_ns_per_event`);
//! - **first pass**: the engine over those events once (`first_pass_ns_per_event`, alerts
//!   counted here): with the JIT compiling rules on first use, this is where they compile;
//! - **eval**: the engine over those events, `--repeat` more times (`eval_ns_per_event`,
//!   `events_per_sec`); with `--threads N > 1`, the stateless rules run on N threads over
//!   contiguous slices of the events ([`Engine::process_stateless`]) and the stateful rules
//!   after them on one thread in input order ([`Engine::process_stateful`]);
//! - **end to end**: decode and eval together, line by line, as `vigil run` does without I/O
//!   (`end_to_end_ns_per_event`, and per record: `end_to_end_ns_per_line`,
//!   `end_to_end_lines_per_sec`, where a record routed to two event types is one line and two
//!   events; `mb_per_sec` over the decompressed bytes); with `--threads N > 1`, N workers each
//!   decode and evaluate (stateless rules only) a slice of the lines.
//!
//! Memory: resident memory (`VmRSS`) right after the rules are prepared, before any event is
//! read (`rss_after_load_bytes`), and the peak of the whole run (`VmHWM`, `peak_rss_bytes`),
//! both from `/proc/self/status` (Linux; `null` elsewhere). With `.vgl` rules the first
//! includes what the compiler left in the allocator; load a `.vglb` bundle to see what an agent
//! holds.
//!
//! Output: a human summary, or with `--format json` one JSON object. Alerts are counted, not
//! printed. Exit status as `vigil run`: 1 when the rules do not compile, 2 for usage and I/O
//! errors.

use std::io::{self, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use vigil_runtime::engine::{Engine, EngineOptions};
use vigil_runtime::event::Event;

use crate::common::{fail, write_stdout, Color, Format};
use vigil_agent::inputs::{collect_inputs, make_decoder, Input};
use vigil_agent::text::group;

use super::run::{prepare_rules, EngineChoice, RulesArgs};

/// Arguments of `vigil bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Rule files or directories (`*.vgl`, compiled in memory), or a `.vglb` bundle.
    #[arg(value_name = "RULES_OR_BUNDLE")]
    rules: PathBuf,
    /// Event files (JSON lines or Windows `.evtx`, optionally gzip-compressed), directories, or
    /// `-` for stdin.
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
    /// Threads for the eval and end-to-end stages (default 1: the per-core figure).
    #[arg(long, default_value_t = 1, value_name = "N")]
    threads: usize,
    /// Evaluate every rule of an event's type, rule by rule, without the whole-bundle
    /// prefilter (the baseline it is measured against).
    #[arg(long)]
    no_prefilter: bool,
    /// Compile every rule with the JIT before the first event (the default compiles each rule
    /// the first time it is evaluated).
    #[arg(long)]
    jit_eager: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Evaluate the decoded events this many times.
    #[arg(long, default_value_t = 3, value_name = "K")]
    repeat: u32,
    /// Use this schema (a file or a shipped name: `linux-ebpf`) instead of the embedded `endpoint`.
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// Use the `*.vgl` files of this directory as the standard library.
    #[arg(long, value_name = "DIR")]
    stdlib: Option<PathBuf>,
    /// Trust this public key (a `.pub` file, or the key text itself) for a bundle.
    #[arg(long, value_name = "KEY")]
    pubkey: Vec<String>,
    /// Load an unsigned bundle (development only).
    #[arg(long)]
    allow_unsigned: bool,
}

/// The figures of one run.
#[derive(Debug, serde::Serialize)]
struct Report {
    engine: &'static str,
    prefilter: bool,
    threads: usize,
    repeat: u32,
    rules: usize,
    /// Records read (the input's non-blank lines).
    lines: u64,
    /// Events decoded: one per event type a record belongs to, so at least the records that
    /// gave events.
    events: u64,
    /// Records no mapping route takes (E0710): not bad lines.
    unrouted: u64,
    /// Lines that could not be decoded.
    bad_lines: u64,
    bytes: u64,
    alerts: u64,
    /// Compiling the rules or loading the bundle, and building the engine.
    load_ms: f64,
    /// Rules the JIT compiled by the end of the run (`None`: the interpreter ran).
    jit_rules_compiled: Option<usize>,
    /// Time the JIT spent compiling them, at load (`--jit-eager`) or on first use.
    jit_compile_ms: Option<f64>,
    /// Bytes of machine code the JIT generated.
    jit_code_bytes: Option<usize>,
    decode_ns_per_event: f64,
    /// The first pass over the decoded events (alerts counted; with the lazy JIT, the rules
    /// they make candidates are compiled during it), before the timed `eval` rounds.
    first_pass_ns_per_event: f64,
    eval_ns_per_event: f64,
    end_to_end_ns_per_event: f64,
    /// End to end per record (input line), whatever the number of events it gave.
    end_to_end_ns_per_line: f64,
    events_per_sec: f64,
    end_to_end_events_per_sec: f64,
    end_to_end_lines_per_sec: f64,
    mb_per_sec: f64,
    evaluations_per_event: f64,
    prefilter_skipped_per_event: f64,
    /// Resident memory right after the rules were prepared (compiled or loaded, engine built),
    /// before any event was read; `None` off Linux.
    rss_after_load_bytes: Option<u64>,
    /// Peak resident memory of the run, measured at its end; `None` off Linux.
    peak_rss_bytes: Option<u64>,
}

/// Runs `vigil bench`.
pub(crate) fn run(args: &Args) -> ExitCode {
    let threads = args.threads.max(1);
    let repeat = args.repeat.max(1);
    let options = EngineOptions {
        engine: args.engine.kind(),
        prefilter: !args.no_prefilter,
        jit_eager: args.jit_eager,
        ..EngineOptions::default()
    };
    let load_started = Instant::now();
    let prepared = match prepare_rules(
        &RulesArgs {
            rules: &args.rules,
            schema: args.schema.as_deref(),
            stdlib: args.stdlib.as_deref(),
            pubkey: &args.pubkey,
            allow_unsigned: args.allow_unsigned,
            color: Color::Never,
        },
        options.clone(),
    ) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let load_ms = load_started.elapsed().as_secs_f64() * 1e3;
    let rss_after_load_bytes = proc_status_bytes("VmRSS");
    let inputs = match collect_inputs(&args.events) {
        Ok(i) => i,
        Err(e) => return fail(&e),
    };
    let mut texts = Vec::with_capacity(inputs.len());
    for input in &inputs {
        match read_all(input) {
            Ok(t) => texts.push(t),
            Err(e) => return fail(&format!("cannot read `{}`: {e}", input.name)),
        }
    }
    let lines: Vec<&[u8]> = texts
        .iter()
        .flat_map(|t| t.split(|b| *b == b'\n'))
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .collect();
    let bytes: u64 = texts.iter().map(|t| t.len() as u64).sum();
    let decoder = |schema| make_decoder(args.mapping.as_deref(), schema, Some(&prepared.fields));

    // Decode.
    let mut dec = match decoder(&prepared.schema) {
        Ok(d) => d,
        Err(e) => return fail(&e),
    };
    let started = Instant::now();
    let mut events: Vec<Event<'_>> = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        // Bad lines and unrouted records are counted by the decoder.
        let _ = dec.decode_line(line, i as u64 + 1, &mut events);
    }
    let (bad_lines, unrouted) = (dec.stats().bad_lines, dec.stats().unrouted);
    let decode_ns = started.elapsed().as_nanos() as f64;
    let n_events = events.len() as u64;

    // A first pass over the events, timed on its own: with the lazy JIT it compiles the rules
    // the events make candidates. Then eval, `repeat` times (counters: the difference).
    let engine = &prepared.engine;
    let started = Instant::now();
    let alerts = eval_all(engine, &events, threads);
    let first_pass_ns = started.elapsed().as_nanos() as f64;
    let before = engine.stats();
    let started = Instant::now();
    for _ in 0..repeat {
        eval_all(engine, &events, threads);
    }
    let eval_ns = started.elapsed().as_nanos() as f64;
    let after = engine.stats();
    let stats = (
        after.evaluations.saturating_sub(before.evaluations),
        after
            .prefilter_skipped
            .saturating_sub(before.prefilter_skipped),
    );

    // End to end.
    let started = Instant::now();
    let e2e_events = if threads == 1 {
        let mut dec = match decoder(&prepared.schema) {
            Ok(d) => d,
            Err(e) => return fail(&e),
        };
        let mut spare: Vec<Event<'static>> = Vec::new();
        let mut n = 0u64;
        for (i, line) in lines.iter().enumerate() {
            let mut out = spare;
            let _ = dec.decode_line(line, i as u64 + 1, &mut out);
            for ev in &out {
                n += 1;
                let _ = engine.process(ev, &mut |_| {});
            }
            spare = dec.recycle(out);
        }
        n
    } else {
        let per = lines.len().div_ceil(threads).max(1);
        let results: Vec<Result<u64, String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = lines
                .chunks(per)
                .map(|slice| {
                    let schema = &prepared.schema;
                    scope.spawn(move || {
                        let mut dec = decoder(schema)?;
                        let mut spare: Vec<Event<'static>> = Vec::new();
                        let mut n = 0u64;
                        for (i, line) in slice.iter().enumerate() {
                            let mut out = spare;
                            let _ = dec.decode_line(line, i as u64 + 1, &mut out);
                            for ev in &out {
                                n += 1;
                                let _ = engine.process_stateless(ev, &mut |_| {});
                            }
                            spare = dec.recycle(out);
                        }
                        Ok(n)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("a worker panicked".into())))
                .collect()
        });
        let mut n = 0;
        for r in results {
            match r {
                Ok(k) => n += k,
                Err(e) => return fail(&e),
            }
        }
        n
    };
    let e2e_ns = started.elapsed().as_nanos() as f64;

    let per = |ns: f64, n: u64| if n == 0 { 0.0 } else { ns / n as f64 };
    let evaluated = n_events.saturating_mul(u64::from(repeat));
    let eval_per = per(eval_ns, evaluated);
    let e2e_per = per(e2e_ns, e2e_events);
    let e2e_line = per(e2e_ns, lines.len() as u64);
    let jit = prepared.engine.jit_stats();
    let report = Report {
        engine: args.engine.name(),
        prefilter: options.prefilter,
        threads,
        repeat,
        rules: prepared.rules.len(),
        lines: lines.len() as u64,
        events: n_events,
        unrouted,
        bad_lines,
        bytes,
        alerts,
        load_ms,
        jit_rules_compiled: jit.map(|j| j.rules + j.skipped),
        jit_compile_ms: jit.map(|j| j.compile_time.as_secs_f64() * 1e3),
        jit_code_bytes: jit.map(|j| j.code_bytes),
        decode_ns_per_event: per(decode_ns, n_events),
        first_pass_ns_per_event: per(first_pass_ns, n_events),
        eval_ns_per_event: eval_per,
        end_to_end_ns_per_event: e2e_per,
        end_to_end_ns_per_line: e2e_line,
        events_per_sec: if eval_per > 0.0 { 1e9 / eval_per } else { 0.0 },
        end_to_end_events_per_sec: if e2e_per > 0.0 { 1e9 / e2e_per } else { 0.0 },
        end_to_end_lines_per_sec: if e2e_line > 0.0 { 1e9 / e2e_line } else { 0.0 },
        mb_per_sec: if e2e_ns > 0.0 {
            bytes as f64 / 1e6 / (e2e_ns / 1e9)
        } else {
            0.0
        },
        evaluations_per_event: per(stats.0 as f64, evaluated),
        prefilter_skipped_per_event: per(stats.1 as f64, evaluated),
        rss_after_load_bytes,
        peak_rss_bytes: proc_status_bytes("VmHWM"),
    };
    // A closed stdout (`vigil bench ... | head -1`) is not an error.
    write_stdout(&report_text(&report, args.format))
}

/// Runs `engine` over `events` once; returns the alerts.
fn eval_all(engine: &Engine, events: &[Event<'_>], threads: usize) -> u64 {
    let mut alerts = 0u64;
    if threads == 1 {
        for ev in events {
            let _ = engine.process(ev, &mut |_| alerts += 1);
        }
        return alerts;
    }
    let per = events.len().div_ceil(threads).max(1);
    let counts: Vec<u64> = std::thread::scope(|scope| {
        let handles: Vec<_> = events
            .chunks(per)
            .map(|slice| {
                scope.spawn(move || {
                    let mut n = 0u64;
                    for ev in slice {
                        let _ = engine.process_stateless(ev, &mut |_| n += 1);
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
    });
    alerts += counts.iter().sum::<u64>();
    for ev in events {
        let _ = engine.process_stateful(ev, &mut |_| alerts += 1);
    }
    alerts
}

/// The whole content of `input` as JSON lines (a file, a pipe or stdin; gzip and EVTX
/// decoded; devices are refused).
fn read_all(input: &Input) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    input.open(Arc::default())?.read_to_end(&mut out)?;
    Ok(out)
}

/// The report as printed (human lines or one JSON object).
fn report_text(r: &Report, format: Format) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    match format {
        Format::Json => match serde_json::to_string(r) {
            Ok(s) => {
                let _ = writeln!(o, "{s}");
            }
            Err(e) => eprintln!("error: {e}"),
        },
        Format::Human => {
            let _ = writeln!(o,
                "vigil bench: {} rules, {} events ({} records, {} unrouted, {} bad, {:.1} MB), engine {}, prefilter {}, {} thread{}",
                r.rules,
                group(r.events),
                group(r.lines),
                group(r.unrouted),
                r.bad_lines,
                r.bytes as f64 / 1e6,
                r.engine,
                if r.prefilter { "on" } else { "off" },
                r.threads,
                if r.threads == 1 { "" } else { "s" },
            );
            let jit = match (r.jit_rules_compiled, r.jit_compile_ms, r.jit_code_bytes) {
                (Some(n), Some(ms), Some(b)) => format!(
                    "; JIT: {} rules compiled in {ms:.1} ms, {:.1} KB of code",
                    group(n as u64),
                    b as f64 / 1e3
                ),
                _ => String::new(),
            };
            let _ = writeln!(o, "  load        {:>10.1} ms{jit}", r.load_ms);
            let _ = writeln!(o, "  decode      {:>10.1} ns/event", r.decode_ns_per_event);
            let _ = writeln!(
                o,
                "  first pass  {:>10.1} ns/event  (warm-up of eval: the lazy JIT compiles here)",
                r.first_pass_ns_per_event
            );
            let _ = writeln!(o,
                "  eval        {:>10.1} ns/event  {:>14} events/s  (x{}; {:.1} rules evaluated, {:.1} skipped by the prefilter per event)",
                r.eval_ns_per_event,
                group(r.events_per_sec.round() as u64),
                r.repeat,
                r.evaluations_per_event,
                r.prefilter_skipped_per_event,
            );
            let _ = writeln!(
                o,
                "  end to end  {:>10.1} ns/event  {:>14} events/s  {:.1} MB/s",
                r.end_to_end_ns_per_event,
                group(r.end_to_end_events_per_sec.round() as u64),
                r.mb_per_sec
            );
            let _ = writeln!(
                o,
                "              {:>10.1} ns/record {:>14} records/s",
                r.end_to_end_ns_per_line,
                group(r.end_to_end_lines_per_sec.round() as u64),
            );
            let _ = writeln!(o, "  alerts      {}", group(r.alerts));
            let _ = writeln!(
                o,
                "  memory      {} resident after loading the rules, {} peak",
                megabytes(r.rss_after_load_bytes),
                megabytes(r.peak_rss_bytes)
            );
        }
    }
    o
}

/// `bytes` as `12.3 MB`, or `n/a`.
fn megabytes(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "n/a".to_owned(), |b| format!("{:.1} MB", b as f64 / 1e6))
}

/// A figure of `/proc/self/status` (`VmRSS`, `VmHWM`: `VmRSS:   1234 kB`) in bytes; `None` off
/// Linux, or when the file cannot be read or the line parsed.
fn proc_status_bytes(key: &str) -> Option<u64> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_status(&text, key)
}

/// The value of `key` in a `/proc/<pid>/status` text, in bytes.
fn parse_status(text: &str, key: &str) -> Option<u64> {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))?;
    let mut parts = line.split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") => value.checked_mul(1024),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_status_figures() {
        let text = "Name:\tvigil\nVmHWM:\t   2048 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(parse_status(text, "VmRSS"), Some(1024 * 1024));
        assert_eq!(parse_status(text, "VmHWM"), Some(2048 * 1024));
        assert_eq!(parse_status(text, "VmSwap"), None);
        assert_eq!(parse_status("VmRSS:\t12 MB\n", "VmRSS"), None);
        assert_eq!(megabytes(None), "n/a");
        assert_eq!(megabytes(Some(1_500_000)), "1.5 MB");
        if cfg!(target_os = "linux") {
            assert!(proc_status_bytes("VmRSS").is_some_and(|b| b > 0));
        }
    }
}
