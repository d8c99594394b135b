//! What a run counted and how it is reported: per-value counter hits ([`Noted`]) and bad lines
//! with the places of their first few lines, and the summary printed on stderr at the end
//! ([`Run::summary`]).

use std::io::{self, Write};

use vigil_runtime::decode::{DecodeError, DecodeStats, ErrorCode};

use super::{Run, SHOWN_BAD_LINES};
use crate::text::{esc, group};

/// Per-value counters whose first lines the summary names (the values are counted by the
/// decoder; the line stays good).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Noted {
    /// A value that could not be coerced (E0704).
    Uncoercible,
    /// Invalid UTF-8 or a lone surrogate replaced (E0707).
    Utf8,
    /// A key given twice (E0713).
    Duplicate,
}

/// What one line added to the per-value counters, from the decoder's counters before and
/// after it.
pub(super) fn noted(before: &DecodeStats, after: &DecodeStats) -> impl Iterator<Item = Noted> {
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
pub(super) fn counters(stats: &DecodeStats) -> DecodeStats {
    DecodeStats {
        uncoercible_values: stats.uncoercible_values,
        invalid_utf8_lines: stats.invalid_utf8_lines,
        duplicate_key_lines: stats.duplicate_key_lines,
        ..DecodeStats::default()
    }
}

/// One bad-line code's count and first places.
#[derive(Default)]
pub(super) struct BadLines {
    count: u64,
    first_message: String,
    /// (input index, line)
    places: Vec<(usize, u64)>,
}

impl Run<'_> {
    /// Keeps the place of a per-value counter's hit (the first few).
    pub(super) fn note(&mut self, n: Noted, input: usize, line: u64) {
        let places = self.noted.entry(n).or_default();
        if places.len() < SHOWN_BAD_LINES {
            places.push((input, line));
        }
    }

    /// Counts a bad line and keeps its place (the first few).
    pub(super) fn bad_line(&mut self, input: usize, e: &DecodeError) {
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

    /// Prints the summary on stderr: events, alerts per rule, bad lines by code with their
    /// first places, value and engine counters, throughput (`engine`: its name, `jit` or
    /// `interp`; `inputs`: how many were run).
    pub fn summary(&self, secs: f64, engine: &str, inputs: usize) {
        let stats = self.prepared.engine.stats();
        let mut d = self.decoder.stats().clone();
        d.add(&self.worker_stats);
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
            engine
        );
        // How the lines add up: each is blank or a record; a record is bad, unrouted, or gave
        // events (one per event type it belongs to); a failed read (E0712) is no line.
        let bad_lines: u64 = self
            .bad
            .iter()
            .filter(|(code, _)| **code != ErrorCode::DecodeIo)
            .map(|(_, b)| b.count)
            .sum();
        let records = self.lines.saturating_sub(self.blank_lines);
        let with_events = records
            .saturating_sub(bad_lines)
            .saturating_sub(self.unrouted);
        if self.blank_lines > 0 || bad_lines > 0 || self.fanout_lines > 0 || self.unrouted > 0 {
            let _ = writeln!(
                err,
                "lines: {} = {records} record{} + {} blank",
                self.lines,
                s(records),
                self.blank_lines
            );
            let mut line = format!(
                "records: {records} = {with_events} with events + {} unrouted + {bad_lines} bad; {} event{}",
                self.unrouted,
                stats.events,
                s(stats.events)
            );
            if self.fanout_lines > 0 {
                line.push_str(&format!(
                    " ({} record{} of several event types gave {} events more than records)",
                    self.fanout_lines,
                    s(self.fanout_lines),
                    self.fanout_extra
                ));
            }
            let _ = writeln!(err, "{line}");
        }
        if self.unrouted > 0 {
            let _ = writeln!(
                err,
                "unrouted records: {} (E0710: no route of the mapping takes them; not bad lines)",
                self.unrouted
            );
            for (kind, n) in d.top_unrouted(SHOWN_UNROUTED_KINDS) {
                let kind = if kind.is_empty() {
                    "(no Channel or EventID)"
                } else {
                    kind
                };
                let _ = writeln!(err, "  {}: {n}", esc(kind));
            }
            let kinds = d.unrouted_kinds.len();
            if kinds > SHOWN_UNROUTED_KINDS {
                let _ = writeln!(err, "  ... {} kinds more", kinds - SHOWN_UNROUTED_KINDS);
            }
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
        self.print_input_issues(&mut err);
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

/// How many kinds of unrouted record (Channel, EventID) the summary lists.
const SHOWN_UNROUTED_KINDS: usize = 10;

/// The summary's names of the per-value counters whose first lines it shows.
const UNCOERCIBLE: &str = "uncoercible values (field left absent)";
const UTF8: &str = "lines with invalid UTF-8 replaced";
const DUPLICATE: &str =
    "lines naming a key twice (E0713: the last value kept; --strict refuses them)";
