//! The Linux example rules (`examples/rules/linux*.vgl`) against the Linux sensor's schema, the
//! `linux-ebpf` profile of `endpoint`: they compile and verify bound to it with no diagnostic at
//! all (so a bundle of them loads on `vigil agent --source ebpf`), their test blocks pass under
//! it in both engines, and their alerts over `examples/events/linux-sample.jsonl` equal
//! `examples/events/linux-sample.alerts.jsonl` in both engines (`VIGIL_BLESS=1` rewrites it).
//! The other suites run the same files against `endpoint`, with the Windows examples.

use std::fs;
use std::path::{Path, PathBuf};

use vigil_compiler::compile::{compile, Compiled};
use vigil_compiler::testing::{self, Status};
use vigil_compiler::{diag::render, Options, Sources};
use vigil_runtime::budget::Budget;
use vigil_runtime::engine::EngineKind;
use vigil_runtime::schema::Schema;
use vigil_test_support::golden::{files_with_suffix, Golden};

const ENGINES: [EngineKind; 2] = [EngineKind::Interp, EngineKind::Jit];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `examples/rules/linux*.vgl`, compiled with the embedded stdlib against `linux-ebpf`.
fn compile_linux_examples(schema: &Schema) -> (Compiled, Sources) {
    let mut sources = Sources::with_stdlib();
    let files: Vec<PathBuf> = files_with_suffix(&repo().join("examples/rules"), ".vgl")
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("linux"))
        })
        .collect();
    assert!(!files.is_empty(), "no examples/rules/linux*.vgl");
    for p in &files {
        let name = format!(
            "examples/rules/{}",
            p.file_name().unwrap_or_default().to_string_lossy()
        );
        sources.add(
            name,
            fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        );
    }
    match compile(&sources, schema, &Options::default(), &Budget::default()) {
        Ok(c) => (c, sources),
        Err(diags) => panic!(
            "the Linux examples do not bind to {}:\n{}",
            schema.name,
            render::render_all(&diags, &sources.map, false)
        ),
    }
}

#[test]
fn linux_examples_compile_against_the_sensor_profile_without_diagnostics() {
    let schema = Schema::linux_ebpf();
    let (compiled, _) = compile_linux_examples(&schema);
    assert!(compiled.warnings.is_empty(), "{:?}", compiled.warnings);
    assert!(compiled.program().rules.len() >= 15);
}

#[test]
fn linux_example_tests_pass_under_the_sensor_profile_in_both_engines() {
    let schema = Schema::linux_ebpf();
    let (compiled, sources) = compile_linux_examples(&schema);
    let mut per_engine = Vec::new();
    for kind in ENGINES {
        let results = testing::run(&compiled, &schema, &sources.map, kind)
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        let failed: Vec<String> = results
            .iter()
            .filter(|r| r.status != Status::Passed)
            .map(|r| {
                format!(
                    "{kind:?}: {} case {} ({}:{})",
                    r.rule, r.case, r.file, r.line
                )
            })
            .collect();
        assert!(failed.is_empty(), "{}", failed.join("\n"));
        per_engine.push(
            results
                .iter()
                .map(|r| {
                    r.alerts
                        .iter()
                        .map(|a| a.to_json_line())
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(
        per_engine[0], per_engine[1],
        "the engines raise other alerts"
    );
    // Every rule has a case that fires (and, by the test blocks' `=> quiet` lines, near misses).
    let results = testing::run(&compiled, &schema, &sources.map, EngineKind::Interp)
        .unwrap_or_else(|e| panic!("{e}"));
    for rule in &compiled.program().rules {
        assert!(
            results
                .iter()
                .any(|r| r.rule_id == rule.id && !r.alerts.is_empty()),
            "rule `{}` has no test case that fires",
            rule.name
        );
    }
}

#[test]
fn linux_sample_raises_the_expected_alerts_in_both_engines() {
    let schema = Schema::linux_ebpf();
    let (compiled, _) = compile_linux_examples(&schema);
    let dir = repo().join("examples/events");
    let events =
        fs::read(dir.join("linux-sample.jsonl")).expect("examples/events/linux-sample.jsonl");
    let mut outputs = Vec::new();
    for kind in ENGINES {
        let (alerts, stats) = testing::run_jsonl(
            &compiled.verified,
            &schema,
            kind,
            "examples/events/linux-sample.jsonl",
            &events,
        )
        .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        // Every line is an event of the profile's shape: no field it lacks, none cut.
        assert_eq!(stats.events, stats.lines, "{kind:?}: {stats:?}");
        assert_eq!(
            (
                stats.bad_lines,
                stats.unknown_fields,
                stats.uncoercible_values,
                stats.truncated_values
            ),
            (0, 0, 0, 0),
            "{kind:?}: {stats:?}"
        );
        let text: String = alerts
            .iter()
            .map(|a| format!("{}\n", a.to_json_line()))
            .collect();
        outputs.push(text);
    }
    assert_eq!(outputs[0], outputs[1], "the engines raise other alerts");
    let mut golden = Golden::new(&dir, ".jsonl");
    golden.check_path(&dir.join("linux-sample.alerts.jsonl"), Some(&outputs[0]));
    golden.finish(&[]);
}
