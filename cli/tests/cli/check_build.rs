//! `vigil check` and `vigil build` give the same verdict: for every `.vgl` file under `tests/`
//! and `examples/`, `check FILE` succeeds exactly when `build FILE --unsigned` does, under the
//! default budget and under a tight one (so that verifier refusals are compared too, not only
//! front-end errors). A rule that checks clean in an editor then builds and loads.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn vgl_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            vgl_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "vgl") {
            out.push(p);
        }
    }
}

/// `(check succeeded, build succeeded, check's stderr)` for one file under `extra` flags.
fn verdicts(file: &Path, out: &Path, extra: &[&str]) -> (bool, bool, String) {
    let check = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("check")
        .arg(file)
        .args(extra)
        .output()
        .expect("vigil runs");
    let build = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("build")
        .arg(file)
        .arg("-o")
        .arg(out)
        .arg("--unsigned")
        .args(extra)
        .output()
        .expect("vigil runs");
    (
        check.status.success(),
        build.status.success(),
        String::from_utf8_lossy(&check.stderr).into_owned(),
    )
}

#[test]
fn check_refuses_exactly_what_build_refuses() {
    let mut files = Vec::new();
    vgl_files(&repo().join("tests"), &mut files);
    vgl_files(&repo().join("examples"), &mut files);
    assert!(files.len() > 50, "found only {} files", files.len());
    let tmp = std::env::temp_dir().join(format!("vigil-check-build-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let out = tmp.join("out.vglb");
    let mut mismatches = Vec::new();
    let mut refused_by_budget = 0;
    for file in &files {
        for extra in [&[][..], &["--max-cost", "2000"][..]] {
            let (check, build, stderr) = verdicts(file, &out, extra);
            if check != build {
                mismatches.push(format!(
                    "{} {extra:?}: check {}, build {}\n{stderr}",
                    file.display(),
                    if check { "ok" } else { "refused" },
                    if build { "ok" } else { "refused" }
                ));
            }
            if !extra.is_empty() && !check && stderr.contains("E0424") {
                refused_by_budget += 1;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // The tight budget really exercised the verifier through `check`.
    assert!(
        refused_by_budget > 10,
        "only {refused_by_budget} budget refusals"
    );
}

/// A verifier refusal through `check` points at the node that dominates the cost, with its
/// share, not at the top of the file.
#[test]
fn check_reports_a_budget_refusal_at_the_dominating_node() {
    let tmp = std::env::temp_dir().join(format!("vigil-check-dominant-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let file = tmp.join("heavy.vgl");
    std::fs::write(
        &file,
        "rule heavy {\n    meta { id: \"heavy\", title: \"heavy\", severity: low }\n    on process_start\n    when image == \"x\"\n        and command_line matches r\"(?i)[a-z]+\\d{3}[a-z]+\"\n}\n",
    )
    .expect("write");
    let (check, _, stderr) = verdicts(&file, &tmp.join("o.vglb"), &["--max-cost", "100000"]);
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(!check, "{stderr}");
    assert!(stderr.contains("E0424"), "{stderr}");
    assert!(stderr.contains("heavy.vgl:5"), "{stderr}");
    assert!(stderr.contains("% of it"), "{stderr}");
}

/// A rule over the node limit that calls no function is told it is too large, not "too large
/// once its functions are inlined" (issue 13).
#[test]
fn a_rule_without_functions_is_not_told_about_inlining() {
    let tmp = std::env::temp_dir().join(format!("vigil-check-huge-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let file = tmp.join("huge.vgl");
    let clauses: Vec<String> = (0..34_000)
        .map(|i| format!("command_line contains \"x{i}\""))
        .collect();
    std::fs::write(
        &file,
        format!(
            "rule huge {{\n    meta {{ id: \"huge\", title: \"huge\", severity: low }}\n    on process_start\n    when {}\n}}\n",
            clauses.join(" or ")
        ),
    )
    .expect("write");
    let (check, build, stderr) = verdicts(&file, &tmp.join("o.vglb"), &[]);
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(!check && !build, "{stderr}");
    assert!(stderr.contains("E0208"), "{stderr}");
    assert!(stderr.contains("rule is too large"), "{stderr}");
    assert!(!stderr.contains("inlined"), "{stderr}");
}
