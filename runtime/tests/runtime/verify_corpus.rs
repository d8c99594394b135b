//! The must-reject corpus: every `tests/verify/NAME.vir` is a program in the IR text
//! (`vigil_runtime::ir_text`), bound to the standard `endpoint` schema and verified under the
//! default budget with the file's `; budget: KEY = VALUE` comment lines applied (TOML, as in
//! `; budget: limits.max_depth = 3`). The line that must fail carries `; error: E04xx`
//! (several codes: `; error: E0426, E0427`), and the run checks each error is reported AT
//! that line, and that no other error is:
//! - a verifier error with a node: on that node's line (`%N = ...`);
//! - a verifier error about a rule: on any other line of that rule (its `sequence`, `step`,
//!   `threshold`, `on`, `when`, ... line, whichever it concerns);
//! - a verifier error about the whole program: on a header line;
//! - a binding error about a field: on the field's `field#N` line; about a builtin: on its
//!   `builtin#N` line or a node that calls it; about one rule: on a line of that rule; about
//!   the schema: on a header line.
//!
//! A file with no `; error:` must verify, and every program must read back from its printed
//! text. Any other file in the folder fails the run. Adding a case is adding one file.

use std::fs;
use std::path::{Path, PathBuf};

use vigil_runtime::bind::{bind, BindError};
use vigil_runtime::budget::Budget;
use vigil_runtime::error::ErrorCode;
use vigil_runtime::ir::{ExprKind, Program};
use vigil_runtime::ir_text::{parse, parse_lines, print, Line, LineItem};
use vigil_runtime::schema::Schema;
use vigil_runtime::verify::{verify, VerifyError};

fn corpus_dir() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/verify")).to_path_buf()
}

/// A reported error, binding's or the verifier's.
enum Reported {
    Bind(BindError),
    Verify(VerifyError),
}

impl Reported {
    fn code(&self) -> ErrorCode {
        match self {
            Reported::Bind(e) => e.code,
            Reported::Verify(e) => e.code,
        }
    }

    fn text(&self) -> String {
        match self {
            Reported::Bind(e) => e.to_string(),
            Reported::Verify(e) => e.to_string(),
        }
    }

    /// Whether an annotation on a line declaring `item` stands for this error.
    fn is_at(&self, item: LineItem, program: &Program) -> bool {
        let header = matches!(
            item,
            LineItem::Header | LineItem::Field(_) | LineItem::Builtin(_)
        );
        match self {
            Reported::Verify(e) => match (e.rule, e.expr) {
                (Some(r), Some(x)) => item == LineItem::Node(r, x),
                (Some(r), None) => item == LineItem::Rule(r),
                (None, _) => header,
            },
            Reported::Bind(e) => {
                let field = e.field.as_ref().and_then(|name| {
                    program
                        .fields
                        .iter()
                        .position(|f| format!("{}.{}", f.event, f.field) == *name)
                });
                if let Some(i) = field {
                    return matches!(item, LineItem::Field(f) if f.0 as usize == i);
                }
                if matches!(
                    e.code,
                    ErrorCode::UnknownBuiltin | ErrorCode::BuiltinSignatureMismatch
                ) {
                    let called = |i: usize| {
                        program.builtins.get(i).is_some_and(|b| {
                            let params: Vec<String> =
                                b.params.iter().map(ToString::to_string).collect();
                            let sig = format!("{}({}) -> {}", b.name, params.join(", "), b.ret);
                            e.message.contains(&format!("calls `{sig}`"))
                        })
                    };
                    return match item {
                        LineItem::Builtin(c) => called(usize::from(c.0)),
                        LineItem::Node(r, x) => program
                            .rules
                            .get(r.0 as usize)
                            .and_then(|rule| rule.expr(x))
                            .is_some_and(|ex| match &ex.kind {
                                ExprKind::Call { builtin, .. } => called(usize::from(builtin.0)),
                                _ => false,
                            }),
                        _ => false,
                    };
                }
                match (e.rules.as_slice(), item) {
                    ([one], LineItem::Rule(r)) => program
                        .rules
                        .get(r.0 as usize)
                        .is_some_and(|rule| rule.name == *one),
                    ([], _) => header,
                    _ => false,
                }
            }
        }
    }
}

/// The errors of one program: binding's, else the verifier's.
fn reported(program: &Program, schema: &Schema, budget: &Budget) -> Vec<Reported> {
    match bind(program, schema) {
        Err(errors) => errors.into_iter().map(Reported::Bind).collect(),
        Ok(binding) => match verify(program.clone(), binding, budget) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.into_iter().map(Reported::Verify).collect(),
        },
    }
}

/// The expected errors (`(line index, code)`) and the budget of a case.
fn directives(lines: &[Line]) -> Result<(Vec<(usize, ErrorCode)>, Budget), String> {
    let mut expected = Vec::new();
    let mut budget = String::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(comment) = &line.comment else {
            continue;
        };
        if let Some(codes) = comment.strip_prefix("error:") {
            if line.item == LineItem::Blank {
                return Err(format!("line {}: `; error:` on a line with no item", i + 1));
            }
            for code in codes.split(',') {
                match ErrorCode::parse(code.trim()) {
                    Some(c) => expected.push((i, c)),
                    None => return Err(format!("line {}: `{}` is no code", i + 1, code.trim())),
                }
            }
        } else if let Some(setting) = comment.strip_prefix("budget:") {
            budget.push_str(setting.trim());
            budget.push('\n');
        } else if comment.starts_with("error") || comment.starts_with("budget") {
            return Err(format!(
                "line {}: write `; error: CODE` or `; budget: KEY = VALUE`",
                i + 1
            ));
        }
    }
    let budget = toml::from_str(&budget).map_err(|e| format!("bad budget: {e}"))?;
    Ok((expected, budget))
}

/// Checks one case; `Ok(true)` when it must be refused.
fn check_case(text: &str, schema: &Schema) -> Result<bool, String> {
    let (program, lines) = parse_lines(text).map_err(|e| e.to_string())?;
    if parse(&print(&program)).as_ref() != Ok(&program) {
        return Err("the program does not read back from its printed text".to_owned());
    }
    let (expected, budget) = directives(&lines)?;
    let mut open: Vec<Option<(usize, ErrorCode)>> = expected.iter().copied().map(Some).collect();
    let mut problems = Vec::new();
    for error in reported(&program, schema, &budget) {
        let slot = open.iter_mut().find(|slot| {
            slot.is_some_and(|(i, code)| {
                code == error.code() && lines.get(i).is_some_and(|l| error.is_at(l.item, &program))
            })
        });
        match slot {
            Some(slot) => *slot = None,
            None => problems.push(format!("unexpected: {}", error.text())),
        }
    }
    for (i, code) in open.into_iter().flatten() {
        problems.push(format!(
            "line {}: expected {code}, not reported there",
            i + 1
        ));
    }
    if problems.is_empty() {
        Ok(!expected.is_empty())
    } else {
        Err(problems.join("\n  "))
    }
}

#[test]
fn every_corpus_case_reports_its_errors_at_its_lines() {
    let dir = corpus_dir();
    let schema = Schema::endpoint();
    let mut names: Vec<String> = fs::read_dir(&dir)
        .expect("tests/verify exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut failures = Vec::new();
    let (mut cases, mut rejects) = (0, 0);
    for name in &names {
        if !name.ends_with(".vir") {
            failures.push(format!("{name}: not a corpus file (cases are NAME.vir)"));
            continue;
        }
        cases += 1;
        let text = fs::read_to_string(dir.join(name)).expect("readable corpus file");
        match check_case(&text, &schema) {
            Ok(reject) => rejects += usize::from(reject),
            Err(problem) => failures.push(format!("{name}:\n  {problem}")),
        }
    }
    assert!(
        failures.is_empty(),
        "corpus failures:\n{}",
        failures.join("\n")
    );
    assert!(cases >= 76, "only {cases} cases");
    assert!(rejects >= 30, "only {rejects} must-reject cases");
    assert!(cases > rejects, "the corpus has no accepted baseline");
}

#[test]
fn an_error_elsewhere_or_a_missing_error_fails_the_case() {
    let schema = Schema::endpoint();
    let base = "schema endpoint 1.1\nfield#0 = process_start.pid : int\nrule r\n  on process_start\n  %0 = field process_start.pid : int\n  %1 = const 1 : int\n";
    let bad = format!("{base}  %2 = cmp lt %0, 1 : int\n  when %2\n");
    // Declared `int` but computes `bool`, and the condition is not `bool`: two errors, one node.
    let at_node = format!("{base}  %2 = cmp lt %0, 1 : int ; error: E0404, E0404\n  when %2\n");
    assert_eq!(check_case(&at_node, &schema), Ok(true));
    let at_other_node =
        format!("{base}  %2 = cmp lt %0, 1 : int\n  when %2 ; error: E0404, E0404\n");
    assert!(check_case(&at_other_node, &schema).is_err());
    let one_of_two = format!("{base}  %2 = cmp lt %0, 1 : int ; error: E0404\n  when %2\n");
    assert!(check_case(&one_of_two, &schema).is_err());
    let wrong_code = format!("{base}  %2 = cmp lt %0, 1 : int ; error: E0403, E0404\n  when %2\n");
    assert!(check_case(&wrong_code, &schema).is_err());
    assert!(check_case(&bad, &schema).is_err());
    let good = format!("{base}  %2 = cmp lt %0, 1 : bool\n  when %2\n");
    assert_eq!(check_case(&good, &schema), Ok(false));
    let too_many = format!("{good}  ; error: E0404\n");
    assert!(check_case(&too_many, &schema).is_err());
}
