//! SigmaHQ Linux rules convert and run on the Linux sensor's schema: every rule of the shared
//! corpus's `sigma/rules/linux/{process_creation,file_event,network_connection}` is imported
//! onto the `linux-ebpf` profile (`vigil import sigma --schema linux-ebpf`); the converted share
//! must stay at or above [`MIN_PERCENT`], and the per-category figures with every refused rule
//! (file, code, message) must equal `tests/sigma_linux/refused.txt`, so a change in what
//! converts shows up as a diff (`VIGIL_BLESS=1` rewrites it). The converted rules, compiled
//! together, must bind to `Schema::linux_ebpf()` through the runtime's binding both when built
//! against the profile and when built against the default `endpoint` schema (what an author
//! ships), and run: the events of `tests/sigma_linux/events.jsonl`, built with the event builder
//! as the sensor builds them, must raise exactly the rules each lists.
//!
//! The corpus is not vendored: it is looked up at `$VIGIL_CORPUS`, else `../../shared/corpus`
//! from this crate; without it the test prints a note and passes.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use vigil_compiler::compile::{compile, Compiled};
use vigil_compiler::sigma::{self, InputFile, Options as ImportOptions};
use vigil_compiler::{Options, Sources};
use vigil_runtime::bind::bind;
use vigil_runtime::budget::Budget;
use vigil_runtime::engine::{Engine, EngineOptions};
use vigil_runtime::event::EventBuilder;
use vigil_runtime::schema::Schema;
use vigil_test_support::golden::{self, Golden};

/// The Sigma categories the sensor serves, folders of `sigma/rules/linux`.
const CATEGORIES: &[&str] = &["process_creation", "file_event", "network_connection"];
/// The share of those rules that must convert onto the profile (docs/sigma.md, "Linux").
const MIN_PERCENT: f64 = 90.0;

fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sigma_linux")
}

/// The `.yml` files of one category folder, sorted, named `category/file.yml`.
fn rules_of(linux: &Path, category: &str) -> Vec<InputFile> {
    let mut paths: Vec<PathBuf> = fs::read_dir(linux.join(category))
        .expect("list rules")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| InputFile {
            rel: Path::new(category).join(p.file_name().expect("a file name")),
            bytes: fs::read(&p).expect("read rule"),
        })
        .collect()
}

fn compile_all(files: &[sigma::OutputFile], schema: &Schema) -> Compiled {
    let mut sources = Sources::with_stdlib();
    for f in files {
        sources.add(f.rel.display().to_string(), f.text.clone().into_bytes());
    }
    match compile(&sources, schema, &Options::default(), &Budget::default()) {
        Ok(c) => c,
        Err(diags) => {
            let errs: Vec<String> = diags
                .iter()
                .filter(|d| d.is_error())
                .take(20)
                .map(|d| format!("{}: {}", d.code, d.message))
                .collect();
            panic!(
                "the converted rules do not compile together against `{}`:\n{}",
                schema.label(),
                errs.join("\n")
            );
        }
    }
}

/// Builds one event of `events.jsonl` on the profile: `{"event": T, "fields": {...}}` (strings,
/// integers, booleans; `ip` fields as strings; `args` as a list).
fn build_event<'a>(
    schema: &Schema,
    v: &'a serde_json::Value,
) -> Result<vigil_runtime::event::Event<'a>, String> {
    let ty = v["event"].as_str().ok_or("no `event`")?;
    let (_, et) = schema.event(ty).ok_or(format!("no event type `{ty}`"))?;
    let mut b = EventBuilder::new(schema, ty).map_err(|e| e.to_string())?;
    let fields = v["fields"].as_object().ok_or("no `fields` object")?;
    for (name, value) in fields {
        let (_, def) = et
            .field(name)
            .ok_or(format!("no field `{name}` on `{ty}`"))?;
        let r = match value {
            serde_json::Value::String(s) if def.ty == vigil_runtime::types::Ty::IP => b.set_ip(
                name.as_str(),
                s.parse().map_err(|e| format!("{name}: {e}"))?,
            ),
            serde_json::Value::String(s) => b.set_str(name.as_str(), s),
            serde_json::Value::Bool(x) => b.set_bool(name.as_str(), *x),
            serde_json::Value::Number(n) => b.set_int(
                name.as_str(),
                n.as_i64().ok_or(format!("{name}: not an i64"))?,
            ),
            serde_json::Value::Array(items) => {
                b.start_list(name.as_str()).map_err(|e| e.to_string())?;
                for it in items {
                    b.push_item(name.as_str(), it.as_str().ok_or("a non-string item")?)
                        .map_err(|e| e.to_string())?;
                }
                Ok(())
            }
            _ => return Err(format!("{name}: unsupported value")),
        };
        r.map_err(|e| e.to_string())?;
    }
    Ok(b.finish())
}

#[test]
fn sigmahq_linux_rules_convert_and_run_on_the_linux_sensor_profile() {
    let Some(root) = vigil_tests::corpus_for(
        "sigmahq_linux_rules_convert_and_run_on_the_linux_sensor_profile",
        &["sigma/rules/linux"],
    ) else {
        return;
    };
    let linux = root.join("sigma/rules/linux");
    let profile = Schema::linux_ebpf();
    let mut inputs = Vec::new();
    let mut counts = Vec::new();
    for category in CATEGORIES {
        let rules = rules_of(&linux, category);
        counts.push((*category, rules.len()));
        inputs.extend(rules);
    }
    let import =
        sigma::import_on(&inputs, &profile, ImportOptions::default()).expect("built-in table");
    assert_eq!(
        import.rules.len(),
        inputs.len(),
        "one outcome per rule file"
    );

    // Figures per category, then every refused rule: the expected file.
    let mut text = String::from(
        "# SigmaHQ rules/linux imported onto the linux-ebpf profile (docs/sigma.md, \"Linux\").\n\
         # Rewrite with VIGIL_BLESS=1.\n",
    );
    let mut converted_total = 0;
    for (category, n) in &counts {
        let converted = import
            .rules
            .iter()
            .filter(|r| r.rel.starts_with(category) && r.result.is_ok())
            .count();
        converted_total += converted;
        let _ = writeln!(text, "# {category}: {converted} of {n} converted");
    }
    let _ = writeln!(
        text,
        "# total: {converted_total} of {} converted",
        inputs.len()
    );
    for r in &import.rules {
        if let Err(e) = &r.result {
            let _ = writeln!(
                text,
                "{}\t{}\t{}",
                r.rel.display(),
                e.code.code(),
                e.message
            );
        }
    }
    let mut suite = Golden::new(here(), ".jsonl");
    suite.check_path(&here().join("refused.txt"), Some(&text));

    #[expect(clippy::cast_precision_loss, reason = "rule counts are far below 2^52")]
    let percent = converted_total as f64 * 100.0 / inputs.len() as f64;
    assert!(
        percent >= MIN_PERCENT,
        "{converted_total} of {} rules converted ({percent:.2}%), below {MIN_PERCENT}%",
        inputs.len()
    );

    // Built together against the profile, and against `endpoint` as an author would: both bind
    // to the profile through the runtime's binding.
    let on_profile = compile_all(&import.files, &profile);
    let on_endpoint = compile_all(&import.files, &Schema::endpoint());
    for (what, c) in [("profile", &on_profile), ("endpoint", &on_endpoint)] {
        assert_eq!(c.program().rules.len(), converted_total, "{what}");
        if let Err(errs) = bind(c.program(), &profile) {
            let msgs: Vec<String> = errs.iter().take(10).map(ToString::to_string).collect();
            panic!(
                "built against {what}, the rules do not bind to linux-ebpf:\n{}",
                msgs.join("\n")
            );
        }
    }

    // And run: each sample event raises exactly the rules it lists.
    let engine =
        Engine::new(&on_profile.verified, EngineOptions::default()).expect("the engine builds");
    let events_text =
        fs::read_to_string(here().join("events.jsonl")).expect("read sigma_linux/events.jsonl");
    let mut failures = Vec::new();
    let mut fired_rules = BTreeSet::new();
    let mut lines = 0;
    for (i, line) in events_text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        lines += 1;
        let v: serde_json::Value = serde_json::from_str(line).expect("events.jsonl is JSON");
        let ev = match build_event(&profile, &v) {
            Ok(ev) => ev,
            Err(e) => {
                failures.push(format!("line {}: {e}", i + 1));
                continue;
            }
        };
        let mut fired = BTreeSet::new();
        engine
            .process(&ev, &mut |al| {
                fired.insert(al.rule.clone());
            })
            .expect("the event fits the program");
        let want: BTreeSet<String> = v["expect"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if fired != want {
            failures.push(format!(
                "line {}: expected {want:?}, raised {fired:?}",
                i + 1
            ));
        }
        fired_rules.extend(fired);
    }
    assert!(lines >= 5, "only {lines} sample events");
    assert!(
        fired_rules.len() >= 5,
        "the samples raise only {fired_rules:?}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    if golden::bless() {
        eprintln!("blessed {}", here().join("refused.txt").display());
    }
    // The expected file is the only golden file here: no orphans to look for.
    suite.finish(&[]);
}
