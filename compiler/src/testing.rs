//! Running the `test` blocks of a compiled program (LANGUAGE.md section 7) through an
//! [`Engine`], case by case.
//!
//! Input: a [`Compiled`] program, the schema it was compiled against (test events are built for
//! it), the [`SourceMap`] (to name each case's file and line) and the evaluator to use. Output:
//! one [`CaseResult`] per test line that carries an expectation (`=> fires`, `=> fires N`,
//! `=> quiet`), in source order. This module reports; printing (human, JSON, JUnit) is the
//! `vigil test` command's job, and the data-driven suites call it directly.
//!
//! Semantics:
//! - a block without `at` lines is a set of independent cases: each event is processed alone,
//!   at time 0, by an engine with no state from the other cases;
//! - a block with `at` lines is one stream: its events go in order through one fresh engine,
//!   at time [`STREAM_BASE_NS`] + the line's offset;
//! - a line's expectation is checked against the alerts of the rule under test on THAT event:
//!   `fires` means at least one, `fires N` exactly N, `quiet` none;
//! - every event's `host` is [`TEST_HOST`] and its `source` the test line, unless the line sets
//!   `host` itself (a `time` given on the line also wins over the computed one).
//!
//! Engines are reused where no state can leak: stateless rules share one engine per run;
//! a stateful rule under test (sequence or threshold) gets a fresh engine per case (or per
//! stream). When the engine reports that it skipped stateful rules while running such a case
//! ([`EngineStats::stateful_rules_skipped`]: an engine that does not evaluate them yet), the
//! case is [`Status::Skipped`], not failed.
//!
//! [`EngineStats::stateful_rules_skipped`]: vigil_runtime::engine::EngineStats

use std::sync::Arc;

use vigil_runtime::alert::Alert;
use vigil_runtime::decode::{DecodeError, DecodeStats, Decoder};
use vigil_runtime::engine::{Engine, EngineError, EngineKind, EngineOptions};
use vigil_runtime::event::{Event, EventBuilder, Source};
use vigil_runtime::ir;
use vigil_runtime::schema::Schema;
use vigil_runtime::value::Value;
use vigil_runtime::verify::Verified;

use crate::compile::Compiled;
use crate::hir::{Expect, Test, TestCase};
use crate::source::SourceMap;
use crate::why::{observe, Why};

/// The `host` of every test event that does not set one.
pub const TEST_HOST: &str = "test-host";

/// The time of the first event of a stream block (`at 0s`): 0, as for independent cases.
pub const STREAM_BASE_NS: i64 = 0;

/// How one case ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// The expectation held.
    Passed,
    /// It did not: what happened instead.
    Failed(String),
    /// Not run to a verdict: why (a stateful rule this engine does not evaluate yet).
    Skipped(String),
}

impl Status {
    /// `ok`, `FAILED` or `skipped`.
    pub fn word(&self) -> &'static str {
        match self {
            Status::Passed => "ok",
            Status::Failed(_) => "FAILED",
            Status::Skipped(_) => "skipped",
        }
    }
}

/// The result of one test line with an expectation.
#[derive(Clone, Debug)]
pub struct CaseResult {
    /// The test block's index in the module's tests.
    pub test: usize,
    /// The rule under test: its name.
    pub rule: String,
    /// Its id (what alerts carry).
    pub rule_id: String,
    /// The line's position in its block, from 1 (lines without an expectation count too).
    pub case: usize,
    /// The file the line is in.
    pub file: String,
    /// The line number, from 1.
    pub line: u32,
    /// The event type of the line.
    pub event: String,
    /// What the line expects.
    pub expect: Expect,
    /// The alerts of the rule under test on this line's event.
    pub alerts: Vec<Alert>,
    /// The verdict.
    pub status: Status,
    /// Why the rule did or did not fire on the event ([`crate::why`]): kept for a failed
    /// case, and for every case when asked ([`run_explained`]).
    pub why: Option<Why>,
}

/// Totals of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Cases whose expectation held.
    pub passed: usize,
    /// Cases whose expectation did not hold.
    pub failed: usize,
    /// Cases not run to a verdict.
    pub skipped: usize,
}

impl Summary {
    /// Counts `results`.
    pub fn of(results: &[CaseResult]) -> Summary {
        let mut s = Summary::default();
        for r in results {
            match r.status {
                Status::Passed => s.passed += 1,
                Status::Failed(_) => s.failed += 1,
                Status::Skipped(_) => s.skipped += 1,
            }
        }
        s
    }
}

/// `fires`, `fires 2`, `quiet`.
pub fn describe_expect(e: Expect) -> String {
    match e {
        Expect::Fires(None) => "fires".to_owned(),
        Expect::Fires(Some(n)) => format!("fires {n}"),
        Expect::Quiet => "quiet".to_owned(),
    }
}

/// Whether an IR rule keeps state across events.
fn is_stateful(rule: &ir::Rule) -> bool {
    !matches!(rule.kind, ir::RuleKind::Single { .. })
}

/// Builds one test line's event at `time_ns`.
fn build_event<'c>(
    schema: &Schema,
    case: &'c TestCase,
    time_ns: i64,
    file: &str,
    line: u32,
) -> Result<Event<'c>, DecodeError> {
    let mut b = EventBuilder::new(schema, case.event.id)?;
    let has_time = b.event_type().field("time").is_some();
    let has_host = b.event_type().field("host").is_some();
    if has_time {
        b.set_int("time", time_ns)?;
    }
    if has_host {
        b.set_str("host", TEST_HOST)?;
    }
    for f in &case.fields {
        let name = f.field.name.as_str();
        match &f.value {
            None => b.set_absent(name)?,
            Some(Value::Bool(v)) => b.set_bool(name, *v)?,
            Some(Value::Int(v)) => b.set_int(name, *v)?,
            Some(Value::Str(s)) => b.set_str(name, s.as_ref())?,
            Some(Value::Ip(ip)) => b.set_ip(name, *ip)?,
            Some(Value::Cidr(_)) => {
                return Err(DecodeError::new(
                    vigil_runtime::decode::ErrorCode::WrongType,
                    0,
                    format!("field `{name}`: a cidr is no field value"),
                ))
            }
            Some(Value::List(items)) => {
                b.start_list(name)?;
                for it in items {
                    match it {
                        Value::Str(s) => b.push_item(name, s.as_ref())?,
                        Value::Int(v) => b.push_int_item(name, *v)?,
                        Value::Ip(ip) => b.push_ip_item(name, *ip)?,
                        _ => {
                            return Err(DecodeError::new(
                                vigil_runtime::decode::ErrorCode::WrongType,
                                0,
                                format!("field `{name}`: unsupported list item"),
                            ))
                        }
                    }
                }
            }
        }
    }
    b.set_source(Some(Source::Line {
        file: Some(Arc::from(file)),
        line: u64::from(line),
    }));
    Ok(b.finish())
}

/// The time of a line in a stream: base + its offset; `None` when that is past the time range
/// (an `i64` of nanoseconds: about 292 years), which the case reports as an error rather than
/// running at a clamped time.
fn stream_time(at_ns: u64) -> Option<i64> {
    i64::try_from(at_ns)
        .ok()
        .and_then(|at| STREAM_BASE_NS.checked_add(at))
}

/// Checks `alerts` (of the rule under test) against `expect`.
fn verdict(expect: Expect, alerts: &[Alert]) -> Status {
    let n = alerts.len() as u64;
    let ok = match expect {
        Expect::Fires(None) => n >= 1,
        Expect::Fires(Some(want)) => n == want,
        Expect::Quiet => n == 0,
    };
    if ok {
        return Status::Passed;
    }
    let what = match alerts.first() {
        None => "it fired no alert".to_owned(),
        Some(a) => format!(
            "it fired {n} alert{}; the first: {}",
            if n == 1 { "" } else { "s" },
            a.message
        ),
    };
    Status::Failed(format!("expected `{}`, {what}", describe_expect(expect)))
}

/// Runs every test block of `compiled` with evaluator `kind`. `schema` must be the schema the
/// program was compiled against; `map` names the files. An engine that cannot be built (the
/// JIT refusing the program) is an error of the whole run; everything else is a case result.
pub fn run(
    compiled: &Compiled,
    schema: &Schema,
    map: &SourceMap,
    kind: EngineKind,
) -> Result<Vec<CaseResult>, EngineError> {
    run_explained(compiled, schema, map, kind, false)
}

/// [`run`], keeping each case's [`Why`] (the condition tree of the rule under test on the
/// case's event) for every case when `explain`, for failed cases only otherwise.
pub fn run_explained(
    compiled: &Compiled,
    schema: &Schema,
    map: &SourceMap,
    kind: EngineKind,
    explain: bool,
) -> Result<Vec<CaseResult>, EngineError> {
    let mut runner = Runner {
        verified: &compiled.verified,
        schema,
        kind,
        shared: None,
        explain,
    };
    let module = &compiled.typed.module;
    let mut out = Vec::new();
    for (ti, test) in module.tests.iter().enumerate() {
        let rule_name = module
            .rules
            .get(test.rule.0 as usize)
            .map_or_else(|| format!("#{}", test.rule.0), |r| r.name.clone());
        // The IR rule lowered from the HIR rule under test.
        let pos = compiled.origin.iter().position(|o| *o == test.rule);
        let ir_rule = pos.and_then(|i| {
            let r = compiled.program().rules.get(i)?;
            Some((ir::RuleId(u32::try_from(i).ok()?), r))
        });
        runner.run_block(ti, test, &rule_name, ir_rule, map, &mut out)?;
    }
    Ok(out)
}

struct Runner<'v> {
    verified: &'v Verified,
    schema: &'v Schema,
    kind: EngineKind,
    /// The engine shared by stateless rules under test, built on first use.
    shared: Option<Engine>,
    /// Keep every case's [`Why`], not only failed ones'.
    explain: bool,
}

impl Runner<'_> {
    fn fresh(&self) -> Result<Engine, EngineError> {
        Engine::new(
            self.verified,
            EngineOptions {
                engine: self.kind,
                ..EngineOptions::default()
            },
        )
    }

    fn shared(&mut self) -> Result<&Engine, EngineError> {
        if self.shared.is_none() {
            self.shared = Some(self.fresh()?);
        }
        self.shared
            .as_ref()
            .ok_or_else(|| EngineError::Internal("shared engine missing".into()))
    }

    fn run_block(
        &mut self,
        ti: usize,
        test: &Test,
        rule_name: &str,
        ir_rule: Option<(ir::RuleId, &ir::Rule)>,
        map: &SourceMap,
        out: &mut Vec<CaseResult>,
    ) -> Result<(), EngineError> {
        let explain = self.explain;
        let result = |ci: usize, case: &TestCase, alerts: Vec<Alert>, status: Status| {
            let expect = case.expect.unwrap_or(Expect::Quiet);
            CaseResult {
                test: ti,
                rule: rule_name.to_owned(),
                rule_id: ir_rule.map_or_else(|| rule_name.to_owned(), |(_, r)| r.id.clone()),
                case: ci + 1,
                file: map.name(case.span.file).to_owned(),
                line: map.start(case.span).line,
                event: case.event.name.clone(),
                expect,
                alerts,
                status,
                why: None,
            }
        };
        let Some((rid, rule)) = ir_rule else {
            for (ci, case) in test.cases.iter().enumerate() {
                if case.expect.is_some() {
                    let why = format!("rule `{rule_name}` is not in the compiled program");
                    out.push(result(ci, case, Vec::new(), Status::Failed(why)));
                }
            }
            return Ok(());
        };
        let stateful = is_stateful(rule);
        let skip_note = "stateful rule (sequence/threshold): not evaluated by this engine yet";
        // Streams of a stateful rule: one fresh engine for the whole block.
        let stream_engine = if test.stream && stateful {
            Some(self.fresh()?)
        } else {
            None
        };
        for (ci, case) in test.cases.iter().enumerate() {
            let file = map.name(case.span.file);
            let line = map.start(case.span).line;
            let time = if test.stream {
                match stream_time(case.at_ns) {
                    Some(t) => t,
                    None => {
                        let why = format!(
                            "`at` offset of {} s is past the time range (event times are \
                             nanoseconds in a signed 64-bit integer: at most {} s, about 292 years)",
                            case.at_ns / 1_000_000_000,
                            i64::MAX / 1_000_000_000
                        );
                        out.push(result(ci, case, Vec::new(), Status::Failed(why)));
                        continue;
                    }
                }
            } else {
                0
            };
            let event = match build_event(self.schema, case, time, file, line) {
                Ok(ev) => ev,
                Err(e) => {
                    if case.expect.is_some() {
                        let why = format!("the test event could not be built: {e}");
                        out.push(result(ci, case, Vec::new(), Status::Failed(why)));
                    }
                    continue;
                }
            };
            let fresh;
            let engine: &Engine = match &stream_engine {
                Some(e) => e,
                None if stateful => {
                    fresh = self.fresh()?;
                    &fresh
                }
                None => self.shared()?,
            };
            // The engine processes the event inside `observe`, which traces the rule first.
            let observed = observe(engine, rid, &event);
            let Some(expect) = case.expect else {
                continue;
            };
            let (status, alerts, why) = match observed {
                Err(e) => (
                    Status::Failed(format!("the engine refused the event: {e}")),
                    Vec::new(),
                    None,
                ),
                Ok(w) if stateful && engine.stats().stateful_rules_skipped > 0 => (
                    Status::Skipped(skip_note.to_owned()),
                    w.alerts.clone(),
                    Some(w),
                ),
                Ok(w) => (verdict(expect, &w.alerts), w.alerts.clone(), Some(w)),
            };
            let keep = explain || matches!(status, Status::Failed(_));
            let mut r = result(ci, case, alerts, status);
            r.why = why.filter(|_| keep);
            out.push(r);
        }
        Ok(())
    }
}

/// Runs a verified program over JSON lines in Vigil's native form (`bytes`, named `file` in
/// each alert's `source`), with one engine of kind `kind`, in line order. Returns the alerts
/// and the decoder's counters. For tests and tools; `vigil run` streams instead.
pub fn run_jsonl(
    verified: &Verified,
    schema: &Schema,
    kind: EngineKind,
    file: &str,
    bytes: &[u8],
) -> Result<(Vec<Alert>, DecodeStats), EngineError> {
    let engine = Engine::new(
        verified,
        EngineOptions {
            engine: kind,
            ..EngineOptions::default()
        },
    )?;
    let mut decoder = Decoder::native(schema);
    decoder.set_file(Some(file));
    let mut alerts = Vec::new();
    let mut events: Vec<Event<'_>> = Vec::new();
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    for (i, line) in body.split(|b| *b == b'\n').enumerate() {
        events.clear();
        // Bad lines are counted in the decoder's stats; the stream goes on.
        let _ = decoder.decode_line(line, i as u64 + 1, &mut events);
        for ev in &events {
            engine.process(ev, &mut |a: &Alert| alerts.push(a.clone()))?;
        }
    }
    Ok((alerts, decoder.stats().clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::compile;
    use crate::{Options, Sources};
    use vigil_runtime::budget::Budget;

    fn results(text: &str, kind: EngineKind) -> Vec<CaseResult> {
        let mut sources = Sources::with_stdlib();
        sources.add("t.vgl", text);
        let schema = Schema::endpoint();
        let compiled = compile(&sources, &schema, &Options::default(), &Budget::default())
            .unwrap_or_else(|d| panic!("{d:?}"));
        run(&compiled, &schema, &sources.map, kind).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn independent_cases_pass_and_fail_by_their_own_event() {
        let text = r#"
            rule r {
                on process_start
                when image iendswith "cmd.exe"
                emit "{image} on {host}"
            }
            test r {
                process_start { image: "C:\\cmd.exe" } => fires
                process_start { image: "C:\\cmd.exe" } => fires 1
                process_start { image: "C:\\x.exe" } => quiet
                process_start { image: "C:\\x.exe" } => fires
                process_start { image: "C:\\cmd.exe" } => fires 2
            }
        "#;
        for kind in [EngineKind::Interp, EngineKind::Jit] {
            let r = results(text, kind);
            let words: Vec<&str> = r.iter().map(|c| c.status.word()).collect();
            assert_eq!(words, ["ok", "ok", "ok", "FAILED", "FAILED"], "{kind:?}");
            assert_eq!(r[0].alerts[0].message, "C:\\cmd.exe on test-host");
            assert_eq!(r[0].file, "t.vgl");
            assert_eq!(r[0].line, 8);
            assert_eq!(r[3].case, 4);
            assert!(matches!(&r[4].status, Status::Failed(m) if m.contains("fired 1 alert")));
        }
    }

    #[test]
    fn stream_lines_are_checked_against_their_own_event() {
        let text = r#"
            rule r { on process_start when pid == 7 emit "t={time}" }
            test r {
                at 0s process_start { pid: 1 }
                at 2s process_start { pid: 7 } => fires
                at 3s process_start { pid: 8 } => quiet
            }
        "#;
        let r = results(text, EngineKind::Interp);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].status, Status::Passed);
        assert_eq!(r[0].case, 2);
        assert_eq!(r[0].alerts[0].message, "t=2000000000");
        assert_eq!(r[1].status, Status::Passed);
    }

    #[test]
    fn run_jsonl_keeps_line_numbers_and_counts_bad_lines() {
        let mut sources = Sources::with_stdlib();
        sources.add("t.vgl", "rule r { on process_end }");
        let schema = Schema::endpoint();
        let compiled = compile(&sources, &schema, &Options::default(), &Budget::default())
            .unwrap_or_else(|d| panic!("{d:?}"));
        let input = b"{\"event\":\"process_end\"}\nnot json\n{\"event\":\"process_end\"}\n";
        let (alerts, stats) = run_jsonl(
            &compiled.verified,
            &schema,
            EngineKind::Interp,
            "e.jsonl",
            input,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(alerts.len(), 2);
        assert_eq!(
            alerts[1].source,
            Some(Source::Line {
                file: Some(Arc::from("e.jsonl")),
                line: 3
            })
        );
        assert_eq!(stats.bad_lines, 1);
    }
}
