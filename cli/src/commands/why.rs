//! `vigil why RULES... --rule ID --event FILE[:LINE]`: why one rule did or did not fire on one
//! event. Compiles the rules, picks the rule by meta `id` or name, reads the events file (JSON
//! lines, `.gz`, `.evtx`: the inputs of `vigil run`) up to line LINE (the first without it; for
//! `.evtx`, the LINE-th record), runs every earlier event through a fresh engine so that the
//! state of sequences and thresholds is real, then reports the chosen event with
//! [`vigil_compiler::why`]: the condition tree with each node's value, the fields as read, the
//! prefilter's answer, the state the event met, and whether the engine fired.
//!
//! Exit status: 0 when it ran (whether or not the rule fired); 1 when the rules do not compile
//! or the question has no answer (E1101 unknown rule, E1102 ambiguous, E1105 line past the end,
//! E1106 line does not decode, E1107 event type not watched, E1109 engine failure); 2 for usage
//! and I/O errors (E1103 malformed `--event`, E1104 unreadable file, E1108 mapping).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use vigil_agent::inputs::events::open_events_with;
use vigil_agent::inputs::issues::Issues;
use vigil_agent::inputs::lines::{self, Outcome};
use vigil_agent::inputs::make_decoder;
use vigil_compiler::compile::compile;
use vigil_compiler::why::{find_rule, observe, Context, FindError};
use vigil_compiler::Options;
use vigil_runtime::budget::Budget;
use vigil_runtime::engine::{Engine, EngineOptions};
use vigil_runtime::error::ErrorCode;
use vigil_runtime::event::Event;

use crate::common::{fail, load, print_diags, write_stdout, Color, Format, Loaded, SourceArgs};

/// Arguments of `vigil why`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    sources: SourceArgs,
    /// The rule: its meta `id` or its name.
    #[arg(long, value_name = "ID")]
    rule: String,
    /// The event: line LINE (from 1) of a JSON-lines file (`.gz` too), or record LINE of an
    /// `.evtx` file; the first without `:LINE`.
    #[arg(long, value_name = "FILE[:LINE]")]
    event: String,
    /// Read the events through this mapping (a shipped name or a TOML file); without it each
    /// record's form is told by its shape, as `vigil run` does.
    #[arg(long, value_name = "M")]
    mapping: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Colour diagnostics.
    #[arg(long, value_enum, default_value_t)]
    color: Color,
}

/// A coded failure: printed as `error[E11xx]: message`, exit status `status`.
fn coded(code: ErrorCode, status: u8, message: &str) -> ExitCode {
    eprintln!("error[{code}]: {message}");
    ExitCode::from(status)
}

/// `FILE[:LINE]` → the path and the 1-based line; `None` for a line that is not a positive
/// number.
fn parse_event_arg(arg: &str) -> Option<(PathBuf, u64)> {
    match arg.rsplit_once(':') {
        Some((file, line))
            if !file.is_empty() && !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()) =>
        {
            let n: u64 = line.parse().ok()?;
            (n > 0).then(|| (PathBuf::from(file), n))
        }
        _ if arg.is_empty() => None,
        _ => Some((PathBuf::from(arg), 1)),
    }
}

/// Runs `vigil why`.
pub(crate) fn run(args: &Args) -> ExitCode {
    let Loaded {
        sources,
        schema,
        files,
    } = match load(&args.sources) {
        Ok(l) => l,
        Err(e) => return fail(&e),
    };
    if files.is_empty() {
        return fail("no `.vgl` files found; no rule to ask about");
    }
    let Some((path, line_no)) = parse_event_arg(&args.event) else {
        return coded(
            ErrorCode::WhyBadEventArg,
            2,
            &format!(
                "`--event {}`: expected FILE or FILE:LINE with LINE a line number from 1",
                args.event
            ),
        );
    };
    let json = args.format == Format::Json;
    let color = args.color.enabled();
    let compiled = match compile(&sources, &schema, &Options::default(), &Budget::default()) {
        Ok(c) => c,
        Err(diags) => {
            if !print_diags(&diags, &sources, false, color) {
                return ExitCode::from(2);
            }
            eprintln!("error: the rules do not compile; nothing to explain");
            return ExitCode::from(1);
        }
    };
    print_diags(&compiled.warnings, &sources, false, color);
    let program = compiled.program();
    let rule = match find_rule(program, &args.rule) {
        Ok(r) => r,
        Err(FindError::Unknown(hint)) => {
            let hint = hint.map_or_else(String::new, |h| format!("; did you mean `{h}`?"));
            return coded(
                ErrorCode::WhyUnknownRule,
                1,
                &format!("no rule has the id or name `{}`{hint}", args.rule),
            );
        }
        Err(FindError::Ambiguous(ids)) => {
            return coded(
                ErrorCode::WhyAmbiguousRule,
                1,
                &format!(
                    "`{}` names several rules (ids: {}); pass one of those ids",
                    args.rule,
                    ids.iter()
                        .map(|i| format!("`{i}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    };
    let mut decoder = match make_decoder(args.mapping.as_deref(), &schema, None) {
        Ok(d) => d,
        Err(e) => return coded(ErrorCode::WhyBadMapping, 2, &e),
    };
    let name = path.display().to_string();
    decoder.set_file(Some(&name));
    let engine = match Engine::new(&compiled.verified, EngineOptions::default()) {
        Ok(e) => e,
        Err(e) => {
            return coded(
                ErrorCode::WhyEngineFailed,
                1,
                &format!("cannot build the engine: {e}"),
            )
        }
    };
    let reader = match open(&path) {
        Ok(r) => r,
        Err(e) => return coded(ErrorCode::WhyEventUnreadable, 2, &e),
    };
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    // The lines before the chosen one: through the engine, for its state.
    for n in 1..line_no {
        buf.clear();
        match read_line(&mut reader, &mut buf) {
            Ok(true) => {}
            Ok(false) => return past_end(&name, line_no, n - 1),
            Err(e) => return coded(ErrorCode::WhyEventUnreadable, 2, &format!("`{name}`: {e}")),
        }
        let mut events: Vec<Event<'_>> = Vec::new();
        // Bad earlier lines take no part, as in `vigil run`.
        let _ = decoder.decode_line(&buf, n, &mut events);
        for ev in &events {
            let _ = engine.process(ev, &mut |_| {});
        }
    }
    buf.clear();
    match read_line(&mut reader, &mut buf) {
        Ok(true) => {}
        Ok(false) => return past_end(&name, line_no, line_no - 1),
        Err(e) => return coded(ErrorCode::WhyEventUnreadable, 2, &format!("`{name}`: {e}")),
    }
    let mut chosen: Vec<Event<'_>> = Vec::new();
    if let Err(e) = decoder.decode_line(&buf, line_no, &mut chosen) {
        return coded(
            ErrorCode::WhyEventUndecodable,
            1,
            &format!(
                "`{name}:{line_no}` does not decode: error[{}]: {}",
                e.code, e.message
            ),
        );
    }
    let binding = compiled.verified.binding();
    let watched = binding.rule_events(rule);
    let Some(at) = chosen.iter().position(|ev| watched.contains(&ev.ty())) else {
        let r = program.rules.get(rule.0 as usize);
        let rule_name = r.map_or("?", |r| r.name.as_str());
        let on = r.map_or_else(String::new, |r| r.event_types().join(", "));
        return match chosen.first() {
            None => coded(
                ErrorCode::WhyEventUndecodable,
                1,
                &format!(
                    "`{name}:{line_no}` decodes to no event (a blank line, or a record no \
                     mapping route takes)"
                ),
            ),
            Some(ev) => coded(
                ErrorCode::WhyEventNotWatched,
                1,
                &format!(
                    "`{name}:{line_no}` is a `{}` event; rule `{rule_name}` runs on {on} only",
                    binding.event_name(ev.ty())
                ),
            ),
        };
    };
    // Events of the same line before the chosen one go first, in order.
    for ev in chosen.get(..at).unwrap_or_default() {
        let _ = engine.process(ev, &mut |_| {});
    }
    let Some(event) = chosen.get(at) else {
        return coded(ErrorCode::WhyEngineFailed, 1, "the chosen event vanished");
    };
    let why = match observe(&engine, rule, event) {
        Ok(w) => w,
        Err(e) => return coded(ErrorCode::WhyEngineFailed, 1, &e.to_string()),
    };
    let cx = Context {
        program,
        debug: &compiled.debug,
        map: &sources.map,
    };
    if json {
        write_stdout(&format!("{}\n", why.to_json(&cx)))
    } else {
        write_stdout(&format!("event: {name}:{line_no}\n{}", why.to_text(&cx)))
    }
}

fn past_end(name: &str, line_no: u64, has: u64) -> ExitCode {
    coded(
        ErrorCode::WhyLinePastEnd,
        1,
        &format!("`{name}` has {has} line(s) or record(s); line {line_no} is past its end"),
    )
}

/// Opens the events file as JSON lines (gzip and EVTX converted, as `vigil run` reads them).
fn open(path: &Path) -> Result<Box<dyn std::io::Read + Send>, String> {
    open_events_with(Some(path), Arc::new(AtomicU64::new(0)), &Issues::new())
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

/// Reads one line (without its newline) into `buf` with the input layer's line reader, as
/// `vigil run` reads; `Ok(false)` at the end of the input. A line longer than the reader's
/// limit (16 MiB) is an error here: its first part is no event to explain.
fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    match lines::read_line(reader, buf)? {
        Outcome::End => Ok(false),
        Outcome::TooLong { .. } => Err(std::io::Error::other(lines::TOO_LONG)),
        Outcome::Line { .. } | Outcome::Pending { .. } => {
            if buf.last() == Some(&b'\n') {
                buf.pop();
            }
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_arguments_parse_with_and_without_a_line() {
        assert_eq!(
            parse_event_arg("a.jsonl"),
            Some((PathBuf::from("a.jsonl"), 1))
        );
        assert_eq!(
            parse_event_arg("a.jsonl:7"),
            Some((PathBuf::from("a.jsonl"), 7))
        );
        assert_eq!(parse_event_arg("a.jsonl:0"), None);
        assert_eq!(parse_event_arg(""), None);
        assert_eq!(
            parse_event_arg("a.jsonl:x"),
            Some((PathBuf::from("a.jsonl:x"), 1))
        );
    }
}
