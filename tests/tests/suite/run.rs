//! The run suite (STYLE.md section 5): rules and events end to end, under BOTH engines.
//!
//! `tests/run/NAME.vgl` with `test` blocks: every case must pass (none failed, none skipped)
//! under the interpreter and the JIT, with the same alerts. `NAME.vgl` + `NAME.events.jsonl`
//! (Vigil's native JSON lines) + `NAME.alerts.jsonl`: the alerts of running the rules over the
//! events must equal the expected file line for line, and the two engines must print identical
//! alerts. `VIGIL_BLESS=1` rewrites the expected alerts; an expected file without its inputs,
//! or events without rules, fails the run.
//!
//! Also: every example rule file's test blocks (`examples/rules/`) pass in both engines; cases
//! of stateful rules may be skipped while the engine does not evaluate them, and are counted.

use std::fs;
use std::path::{Path, PathBuf};

use vigil_compiler::compile::{compile, Compiled};
use vigil_compiler::testing::{self, CaseResult, Status, Summary};
use vigil_compiler::{diag::render, Options, Sources};
use vigil_runtime::budget::Budget;
use vigil_runtime::engine::EngineKind;
use vigil_runtime::schema::Schema;
use vigil_test_support::golden::{files_with_suffix, Golden};

const ENGINES: [EngineKind; 2] = [EngineKind::Interp, EngineKind::Jit];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Compiles named files with the embedded stdlib against the endpoint schema.
fn compile_files(files: &[(String, Vec<u8>)]) -> Result<(Compiled, Sources), String> {
    let mut sources = Sources::with_stdlib();
    for (name, bytes) in files {
        sources.add(name.clone(), bytes.clone());
    }
    match compile(
        &sources,
        &Schema::endpoint(),
        &Options::default(),
        &Budget::default(),
    ) {
        Ok(c) => Ok((c, sources)),
        Err(diags) => Err(render::render_all(&diags, &sources.map, false)),
    }
}

/// `case 2 of encoded_powershell (run/x.vgl:12): FAILED: expected ...`.
fn describe(r: &CaseResult) -> String {
    let why = match &r.status {
        Status::Passed => String::new(),
        Status::Failed(m) | Status::Skipped(m) => format!(": {m}"),
    };
    format!(
        "test {} case {} ({}:{}): {}{why}",
        r.rule,
        r.case,
        r.file,
        r.line,
        r.status.word()
    )
}

/// Runs the test blocks under both engines; returns the interpreter's results, after checking
/// that the JIT agrees on every verdict and every alert.
fn run_tests_both(
    compiled: &Compiled,
    sources: &Sources,
    failures: &mut Vec<String>,
) -> Vec<CaseResult> {
    let schema = Schema::endpoint();
    let mut per_engine = Vec::new();
    for kind in ENGINES {
        match testing::run(compiled, &schema, &sources.map, kind) {
            Ok(r) => per_engine.push(r),
            Err(e) => {
                failures.push(format!("{kind:?}: engine not built: {e}"));
                return Vec::new();
            }
        }
    }
    let (interp, jit) = (&per_engine[0], &per_engine[1]);
    if interp.len() != jit.len() {
        failures.push(format!(
            "engines ran {} and {} cases",
            interp.len(),
            jit.len()
        ));
    }
    for (a, b) in interp.iter().zip(jit) {
        let lines =
            |r: &CaseResult| -> Vec<String> { r.alerts.iter().map(|a| a.to_json_line()).collect() };
        if a.status != b.status || lines(a) != lines(b) {
            failures.push(format!(
                "engines disagree:\n  interp: {}\n  jit:    {}\n  interp alerts: {:?}\n  jit alerts:    {:?}",
                describe(a),
                describe(b),
                lines(a),
                lines(b)
            ));
        }
    }
    per_engine.swap_remove(0)
}

#[test]
fn run_suite() {
    let mut suite = Golden::new(root().join("run"), ".vgl");
    let inputs = suite.cases();
    assert!(
        inputs.len() >= 10,
        "expected at least 10 run cases in {}",
        suite.dir().display()
    );
    let mut cases = 0usize;
    for case in &inputs {
        let stem = &case.name;
        let (compiled, sources) = match compile_files(&[(format!("run/{stem}.vgl"), case.read())]) {
            Ok(c) => c,
            Err(rendered) => {
                suite.fail(case, format!("does not compile:\n{rendered}"));
                continue;
            }
        };
        let mut local = Vec::new();
        let results = run_tests_both(&compiled, &sources, &mut local);
        cases += results.len();
        for r in &results {
            if r.status != Status::Passed {
                local.push(describe(r));
            }
        }
        let events_path = case.sibling(".events.jsonl");
        if events_path.exists() {
            let events =
                fs::read(&events_path).unwrap_or_else(|e| panic!("{}: {e}", events_path.display()));
            let file = format!("{stem}.events.jsonl");
            let mut outputs = Vec::new();
            for kind in ENGINES {
                match testing::run_jsonl(
                    &compiled.verified,
                    &Schema::endpoint(),
                    kind,
                    &file,
                    &events,
                ) {
                    Ok((alerts, _stats)) => {
                        let text: String = alerts
                            .iter()
                            .map(|a| format!("{}\n", a.to_json_line()))
                            .collect();
                        outputs.push(text);
                    }
                    Err(e) => local.push(format!("{kind:?}: {e}")),
                }
            }
            if let [interp, jit] = outputs.as_slice() {
                if interp != jit {
                    local.push(format!(
                        "the engines print different alerts:\n--- interp\n{interp}+++ jit\n{jit}"
                    ));
                } else {
                    suite.check(case, ".alerts.jsonl", Some(interp));
                }
            }
        } else if results.is_empty() {
            local.push("no test cases and no events: the case checks nothing".to_owned());
        }
        for l in local {
            suite.fail(case, l);
        }
    }
    // Expected alerts need events too (the golden loop checks that they have rules).
    for expected in files_with_suffix(suite.dir(), ".alerts.jsonl") {
        let name = expected
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let stem = name.trim_end_matches(".alerts.jsonl");
        if !suite.dir().join(format!("{stem}.events.jsonl")).exists() {
            suite.fail_suite(format!(
                "{name}: expected alerts without `{stem}.events.jsonl`"
            ));
        }
    }
    assert!(cases > 0, "no test cases ran");
    suite.finish(&[".alerts.jsonl", ".events.jsonl"]);
}

#[test]
fn example_rule_tests_pass() {
    let dir = root().join("../examples/rules");
    let mut files = Vec::new();
    for p in files_with_suffix(&dir, ".vgl") {
        let name = format!(
            "examples/rules/{}",
            p.file_name().unwrap_or_default().to_string_lossy()
        );
        let bytes = fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        files.push((name, bytes));
    }
    assert!(!files.is_empty(), "no example rules in {}", dir.display());
    let (compiled, sources) = compile_files(&files).unwrap_or_else(|r| panic!("{r}"));
    let mut failures = Vec::new();
    let results = run_tests_both(&compiled, &sources, &mut failures);
    let summary = Summary::of(&results);
    for r in &results {
        if matches!(r.status, Status::Failed(_)) {
            failures.push(describe(r));
        }
    }
    // Only stateful rules may be skipped.
    let stateful: Vec<&str> = compiled
        .program()
        .rules
        .iter()
        .filter(|r| !matches!(r.kind, vigil_runtime::ir::RuleKind::Single { .. }))
        .map(|r| r.id.as_str())
        .collect();
    for r in &results {
        if matches!(r.status, Status::Skipped(_)) && !stateful.contains(&r.rule_id.as_str()) {
            failures.push(format!(
                "a stateless rule's case was skipped: {}",
                describe(r)
            ));
        }
    }
    eprintln!(
        "examples: {} passed, {} failed, {} skipped (stateful rules not evaluated yet)",
        summary.passed, summary.failed, summary.skipped
    );
    assert!(summary.passed >= 20, "only {} cases passed", summary.passed);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
