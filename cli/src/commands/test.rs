//! `vigil test PATH...`: compile rule files and run their `test` blocks (LANGUAGE.md section 7)
//! through the engine, reporting each case like `cargo test` does.
//!
//! The running is [`vigil_compiler::testing`]'s; this file prints. Human output (stdout):
//! `test NAME ... case N ... ok` per case, then each failure with its rule, file:line and what
//! happened, then `test result: ok. N passed; M failed; K skipped` and the plain closing line
//! `vigil test: N passed, M failed, K skipped`. Each failure also prints why the rule did or did
//! not fire on the case's event (`vigil_compiler::why`: the condition tree with each node's
//! value, the fields read, the prefilter, the state); `--explain` prints that for every case. `--format json` writes one JSON object per case
//! to stdout; `--format junit` a JUnit XML report; both put the closing line on stderr. Cases of
//! stateful rules the engine does not evaluate yet are skipped and counted, not failed. Exit
//! status: 0 when no case failed, 1 on a failure or when the rules do not compile, 2 for usage
//! and I/O errors.

use std::fmt::Write as _;
use std::io::Write;
use std::process::ExitCode;

use clap::ValueEnum;
use vigil_compiler::compile::compile;
use vigil_compiler::diag::render;
use vigil_compiler::testing::{self, describe_expect, CaseResult, Status, Summary};
use vigil_compiler::why::Context;
use vigil_compiler::Options;
use vigil_runtime::budget::Budget;

use super::run::EngineChoice;
use crate::common::{esc_text, fail, load, print_diags, Color, Loaded, SourceArgs};

/// Output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// `cargo test`-like lines on stdout.
    #[default]
    Human,
    /// One JSON object per case, one per line, on stdout.
    Json,
    /// A JUnit XML report on stdout.
    Junit,
}

/// Arguments of `vigil test`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    sources: SourceArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// The evaluator.
    #[arg(long, value_enum, default_value_t)]
    engine: EngineChoice,
    /// Colour diagnostics.
    #[arg(long, value_enum, default_value_t)]
    color: Color,
    /// Print, for every case, the rule's condition tree on the case's event with each node's
    /// value (as `vigil why` does); failed cases always print it.
    #[arg(long)]
    explain: bool,
}

/// Runs `vigil test`.
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
        return fail("no `.vgl` files found; nothing to test");
    }
    let color = args.color.enabled();
    let compiled = match compile(&sources, &schema, &Options::default(), &Budget::default()) {
        Ok(c) => c,
        Err(diags) => {
            print_diags(&diags, &sources, false, color);
            let (errors, _) = vigil_compiler::diag::count(&diags);
            eprintln!(
                "error: the rules do not compile ({errors} error{}); no test run",
                if errors == 1 { "" } else { "s" }
            );
            return ExitCode::from(1);
        }
    };
    if !compiled.warnings.is_empty() {
        eprint!(
            "{}",
            render::render_all(&compiled.warnings, &sources.map, color)
        );
    }
    let results = match testing::run_explained(
        &compiled,
        &schema,
        &sources.map,
        args.engine.kind(),
        args.explain,
    ) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot build the engine: {e}");
            return ExitCode::from(1);
        }
    };
    let summary = Summary::of(&results);
    let cx = Context {
        program: compiled.program(),
        debug: &compiled.debug,
        map: &sources.map,
    };
    let text = match args.format {
        Format::Human => human(&results, summary, &cx, args.explain),
        Format::Json => json(&results, &cx),
        Format::Junit => junit(&results, summary),
    };
    // Test names, rule ids and messages come from the sources: no raw control characters on a
    // terminal.
    let text = match args.format {
        Format::Human => esc_text(&text).into_owned(),
        _ => text,
    };
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::from(2);
    }
    if args.format != Format::Human {
        eprintln!("{}", closing_line(summary));
    }
    if summary.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `vigil test: 42 passed, 0 failed, 0 skipped`: the line CI log readers look for.
fn closing_line(s: Summary) -> String {
    format!(
        "vigil test: {} passed, {} failed, {} skipped",
        s.passed, s.failed, s.skipped
    )
}

/// `text` indented by `pad`, line by line.
fn indent(text: &str, pad: &str) -> String {
    text.lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_owned()
            } else {
                format!("{pad}{l}\n")
            }
        })
        .collect()
}

/// The human report; with `explain`, each case's condition tree under its line.
fn human(results: &[CaseResult], summary: Summary, cx: &Context<'_>, explain: bool) -> String {
    let mut out = String::new();
    let n = results.len();
    let _ = writeln!(out, "\nrunning {n} case{}", if n == 1 { "" } else { "s" });
    for r in results {
        let _ = write!(
            out,
            "test {} ... case {} ... {}",
            r.rule,
            r.case,
            r.status.word()
        );
        if let Status::Skipped(why) = &r.status {
            let _ = write!(out, " ({why})");
        }
        out.push('\n');
        if let (true, Some(w)) = (explain, &r.why) {
            out.push_str(&indent(&w.to_text(cx), "    "));
        }
    }
    let failed: Vec<&CaseResult> = results
        .iter()
        .filter(|r| matches!(r.status, Status::Failed(_)))
        .collect();
    if !failed.is_empty() {
        out.push_str("\nfailures:\n");
        for r in &failed {
            let Status::Failed(what) = &r.status else {
                continue;
            };
            let _ = writeln!(
                out,
                "\n---- {} case {} ({}:{}) ----\nrule `{}` (id `{}`), {} event: {what}",
                r.rule, r.case, r.file, r.line, r.rule, r.rule_id, r.event
            );
            if let Some(w) = &r.why {
                out.push_str(&indent(&w.to_text(cx), "    "));
            }
        }
        out.push_str("\nfailures:\n");
        for r in &failed {
            let _ = writeln!(
                out,
                "    {} case {} ({}:{})",
                r.rule, r.case, r.file, r.line
            );
        }
    }
    let _ = writeln!(
        out,
        "\ntest result: {}. {} passed; {} failed; {} skipped",
        if summary.failed == 0 { "ok" } else { "FAILED" },
        summary.passed,
        summary.failed,
        summary.skipped
    );
    let _ = writeln!(out, "{}", closing_line(summary));
    out
}

/// One JSON object per case (with `why`, the [`vigil_compiler::why`] report, for failed cases
/// and under `--explain`).
fn json(results: &[CaseResult], cx: &Context<'_>) -> String {
    let mut out = String::new();
    for r in results {
        let (status, message) = match &r.status {
            Status::Passed => ("passed", None),
            Status::Failed(m) => ("failed", Some(m.as_str())),
            Status::Skipped(m) => ("skipped", Some(m.as_str())),
        };
        let v = serde_json::json!({
            "test": r.rule,
            "rule": r.rule_id,
            "case": r.case,
            "file": r.file,
            "line": r.line,
            "event": r.event,
            "expect": describe_expect(r.expect),
            "alerts": r.alerts.len(),
            "status": status,
            "message": message,
            "why": r.why.as_ref().map(|w| w.to_json(cx)),
        });
        let _ = writeln!(out, "{v}");
    }
    out
}

/// Escapes text for XML attributes and content.
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters, even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A JUnit XML report: one `testsuite` per file, one `testcase` per case.
fn junit(results: &[CaseResult], summary: Summary) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"vigil test\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">",
        results.len(),
        summary.failed,
        summary.skipped
    );
    let mut files: Vec<&str> = Vec::new();
    for r in results {
        if !files.contains(&r.file.as_str()) {
            files.push(&r.file);
        }
    }
    for file in files {
        let cases: Vec<&CaseResult> = results.iter().filter(|r| r.file == file).collect();
        let failed = cases
            .iter()
            .filter(|r| matches!(r.status, Status::Failed(_)))
            .count();
        let skipped = cases
            .iter()
            .filter(|r| matches!(r.status, Status::Skipped(_)))
            .count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" skipped=\"{skipped}\">",
            xml_escape(file),
            cases.len()
        );
        for r in cases {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"case {} (line {})\" file=\"{}\" line=\"{}\"",
                xml_escape(&r.rule),
                r.case,
                r.line,
                xml_escape(&r.file),
                r.line
            );
            match &r.status {
                Status::Passed => out.push_str("/>\n"),
                Status::Failed(m) => {
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{}\" type=\"expectation\">{}:{}: rule `{}` (id `{}`): {}</failure>\n    </testcase>",
                        xml_escape(m),
                        xml_escape(&r.file),
                        r.line,
                        xml_escape(&r.rule),
                        xml_escape(&r.rule_id),
                        xml_escape(m)
                    );
                }
                Status::Skipped(m) => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        xml_escape(m)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escape_handles_markup_and_control_characters() {
        assert_eq!(xml_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
        assert_eq!(xml_escape("x\u{1}y"), "x\\u{1}y");
        assert_eq!(xml_escape("tab\there"), "tab\there");
    }
}
