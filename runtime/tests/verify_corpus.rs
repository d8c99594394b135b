//! The must-reject corpus: every `tests/verify/NAME.json` (an IR program as JSON) is bound to
//! the standard `endpoint` schema and verified under the default budget (or the overrides in
//! `NAME.budget.json`), and must report the code in `NAME.expect` (`ok`: must verify). An
//! `.expect` or `.budget.json` without its `.json` fails the run. Adding a case is adding files.

use std::fs;
use std::path::{Path, PathBuf};

use vigil_runtime::bind::bind;
use vigil_runtime::budget::Budget;
use vigil_runtime::error::Code;
use vigil_runtime::ir::Program;
use vigil_runtime::schema::Schema;
use vigil_runtime::verify::verify;

fn corpus_dir() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/verify")).to_path_buf()
}

/// The codes reported for one program: binding's, else the verifier's; empty when it verifies.
fn codes(program: Program, schema: &Schema, budget: &Budget) -> Vec<Code> {
    match bind(&program, schema) {
        Err(errors) => errors.iter().map(|e| e.code).collect(),
        Ok(binding) => match verify(program, binding, budget) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.iter().map(|e| e.code).collect(),
        },
    }
}

#[test]
fn every_corpus_case_reports_its_code() {
    let dir = corpus_dir();
    let schema = Schema::endpoint();
    let mut names: Vec<String> = fs::read_dir(&dir)
        .expect("tests/verify exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut failures = Vec::new();
    let mut cases = 0;
    let mut rejects = 0;
    for name in &names {
        let stem = if let Some(stem) = name.strip_suffix(".budget.json") {
            if !dir.join(format!("{stem}.json")).exists() {
                failures.push(format!("{name}: no {stem}.json"));
            }
            continue;
        } else if let Some(stem) = name.strip_suffix(".expect") {
            if !dir.join(format!("{stem}.json")).exists() {
                failures.push(format!("{name}: no {stem}.json"));
            }
            continue;
        } else if let Some(stem) = name.strip_suffix(".json") {
            stem
        } else {
            failures.push(format!("{name}: not a corpus file"));
            continue;
        };
        cases += 1;
        let expect = match fs::read_to_string(dir.join(format!("{stem}.expect"))) {
            Ok(text) => text.trim().to_string(),
            Err(_) => {
                failures.push(format!("{stem}: no .expect"));
                continue;
            }
        };
        let program: Program = match serde_json::from_str(
            &fs::read_to_string(dir.join(name)).expect("readable corpus file"),
        ) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{stem}: not an IR program: {e}"));
                continue;
            }
        };
        let budget_path = dir.join(format!("{stem}.budget.json"));
        let budget: Budget = if budget_path.exists() {
            match serde_json::from_str(&fs::read_to_string(&budget_path).expect("readable")) {
                Ok(b) => b,
                Err(e) => {
                    failures.push(format!("{stem}: bad budget: {e}"));
                    continue;
                }
            }
        } else {
            Budget::default()
        };
        let got = codes(program, &schema, &budget);
        let shown: Vec<String> = got.iter().map(ToString::to_string).collect();
        if expect == "ok" {
            if !got.is_empty() {
                failures.push(format!("{stem}: expected to verify, got {shown:?}"));
            }
        } else {
            rejects += 1;
            match Code::parse(&expect) {
                None => failures.push(format!("{stem}: `{expect}` is no code")),
                Some(code) if !got.contains(&code) => {
                    failures.push(format!("{stem}: expected {expect}, got {shown:?}"))
                }
                Some(_) => {}
            }
        }
    }
    assert!(
        failures.is_empty(),
        "corpus failures:\n{}",
        failures.join("\n")
    );
    assert!(rejects >= 30, "only {rejects} must-reject cases");
    assert!(cases > rejects, "the corpus has no accepted baseline");
}
