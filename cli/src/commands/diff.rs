//! `vigil diff OLD NEW [EVENTS...]`: what changes between two rule sets (bundles or rule
//! files and folders), before they are deployed.
//!
//! Rules are matched by id and compared by canonical hash ([`vigil_runtime::hash::rule_hash`]):
//! added, removed, changed, unchanged. Given events, both sets run over them and the alerts
//! that appear or disappear are listed (by rule and event position). Events are read through
//! the one input layer, as `vigil run` reads them: files, folders, `.gz`, `.evtx`, `-` for
//! stdin ([`collect_inputs`]). Bundles are
//! decoded, bound and verified, but their signatures are not checked: this is a review tool,
//! not a loader. Exit status: 0 no difference, 1 differences, 2 usage or input errors.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;
use vigil_compiler::compile::compile;
use vigil_compiler::Options;
use vigil_runtime::bind::bind;
use vigil_runtime::budget::Budget;
use vigil_runtime::bundle;
use vigil_runtime::decode::{Decoder, Mapping};
use vigil_runtime::engine::{Engine, EngineOptions};
use vigil_runtime::event::Source;
use vigil_runtime::hash::{rule_hash, to_hex};
use vigil_runtime::schema::Schema;
use vigil_runtime::verify::{verify, Verified};

use crate::common::{esc, fail, load, load_schema, SourceArgs};
use vigil_agent::inputs::files as input;
use vigil_agent::inputs::{collect_inputs, Issues};

/// Arguments of `vigil diff`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The old rule set: a `.vglb` bundle, or rule files or a folder.
    #[arg(value_name = "OLD")]
    old: PathBuf,
    /// The new rule set.
    #[arg(value_name = "NEW")]
    new: PathBuf,
    /// Events to run both sets over: JSON-lines files, `.gz`, `.evtx`, folders of them, or
    /// `-` for stdin.
    #[arg(value_name = "EVENTS")]
    events: Vec<PathBuf>,
    /// Read the events through a field mapping: a shipped one by name (`windows`, `sysmon`),
    /// a TOML file, or `native`. Without it, each record's form is told by its shape, as in
    /// `vigil run` (docs/mappings.md).
    #[arg(long, value_name = "M")]
    mapping: Option<String>,
    /// The host schema: a file or a shipped name, `endpoint` or `linux-ebpf` (default: `endpoint`).
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// The difference, as printed with `--json`.
#[derive(Debug, Default, Serialize)]
struct Report {
    added: Vec<String>,
    removed: Vec<String>,
    changed: Vec<String>,
    unchanged: usize,
    events: u64,
    alerts_appear: Vec<AlertDiff>,
    alerts_disappear: Vec<AlertDiff>,
    /// Event inputs read (the alert section is printed whenever there were some).
    #[serde(skip)]
    inputs: usize,
}

/// One alert present on one side only.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
struct AlertDiff {
    rule: String,
    event: String,
}

/// Runs `vigil diff`.
pub(crate) fn run(args: &Args) -> ExitCode {
    match diff(args) {
        Ok(report) => {
            let differ = !(report.added.is_empty()
                && report.removed.is_empty()
                && report.changed.is_empty()
                && report.alerts_appear.is_empty()
                && report.alerts_disappear.is_empty());
            let mut out = std::io::stdout().lock();
            let written = if args.json {
                serde_json::to_string(&report)
                    .map_err(std::io::Error::other)
                    .and_then(|t| writeln!(out, "{t}"))
            } else {
                print_text(&mut out, &report)
            };
            if written.is_err() {
                return ExitCode::from(2);
            }
            if differ {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => fail(&e),
    }
}

fn print_text(out: &mut dyn Write, r: &Report) -> std::io::Result<()> {
    writeln!(
        out,
        "rules: {} added, {} removed, {} changed, {} unchanged",
        r.added.len(),
        r.removed.len(),
        r.changed.len(),
        r.unchanged
    )?;
    for id in &r.added {
        writeln!(out, "+ rule {}", esc(id))?;
    }
    for id in &r.removed {
        writeln!(out, "- rule {}", esc(id))?;
    }
    for id in &r.changed {
        writeln!(out, "~ rule {}", esc(id))?;
    }
    if r.inputs > 0 {
        writeln!(
            out,
            "alerts over {} events: {} appear, {} disappear",
            r.events,
            r.alerts_appear.len(),
            r.alerts_disappear.len()
        )?;
        for a in &r.alerts_appear {
            writeln!(out, "+ alert {} at {}", esc(&a.rule), esc(&a.event))?;
        }
        for a in &r.alerts_disappear {
            writeln!(out, "- alert {} at {}", esc(&a.rule), esc(&a.event))?;
        }
    }
    Ok(())
}

/// A bundle (decoded, bound, verified; signature not checked) or rules compiled in memory.
fn program_of(
    path: &Path,
    schema_path: Option<&Path>,
    schema: &Schema,
) -> Result<Verified, String> {
    let budget = Budget::default();
    if path.is_file() && path.extension().is_some_and(|e| e == "vglb") {
        let bytes = input::read_bundle(path)?;
        let decoded = bundle::decode(&bytes).map_err(|e| format!("`{}`: {e}", path.display()))?;
        let binding = bind(&decoded.program, schema).map_err(|errs| {
            let lines: Vec<String> = errs.iter().map(ToString::to_string).collect();
            format!(
                "`{}` does not bind to the schema:\n{}",
                path.display(),
                lines.join("\n")
            )
        })?;
        return verify(decoded.program, binding, &budget).map_err(|errs| {
            let lines: Vec<String> = errs.iter().map(ToString::to_string).collect();
            format!(
                "`{}` does not verify:\n{}",
                path.display(),
                lines.join("\n")
            )
        });
    }
    let args = SourceArgs {
        paths: vec![path.to_path_buf()],
        stdlib: None,
        schema: schema_path.map(Path::to_path_buf),
    };
    let loaded = load(&args)?;
    compile(
        &loaded.sources,
        &loaded.schema,
        &Options::default(),
        &budget,
    )
    .map(|c| c.verified)
    .map_err(|diags| {
        let errors = diags.iter().filter(|d| d.is_error()).count();
        format!(
            "`{}` does not compile ({errors} errors; run `vigil check` on it)",
            path.display()
        )
    })
}

fn rule_hashes(v: &Verified) -> BTreeMap<String, String> {
    let p = v.program();
    p.rules
        .iter()
        .map(|r| (r.id.clone(), to_hex(&rule_hash(p, r))))
        .collect()
}

/// The decoder of the events: without `--mapping`, each record's form told by its shape
/// (native `event` key, or a Windows record through the built-in `windows` mapping:
/// [`Decoder::auto`]); `native` forces the native form.
fn decoder(mapping: Option<&str>, schema: &Schema) -> Result<Decoder, String> {
    let Some(m) = mapping else {
        return Ok(Decoder::auto(schema));
    };
    let path = Path::new(m);
    let is_file = std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_dir());
    if m == "native" && !is_file {
        return Ok(Decoder::native(schema));
    }
    let mapping = if is_file {
        let text = input::read_text(path, input::MAX_CONFIG_BYTES, "a mapping file")?;
        Mapping::from_toml(m, &text).map_err(|e| format!("mapping `{m}`: {e}"))?
    } else {
        Mapping::builtin(m)
            .map_err(|e| format!("`{m}` is neither a mapping file nor a shipped mapping: {e}"))?
    };
    Decoder::with_mapping(schema, &mapping).map_err(|e| e.to_string())
}

fn diff(args: &Args) -> Result<Report, String> {
    let schema = load_schema(args.schema.as_deref())?;
    let old = program_of(&args.old, args.schema.as_deref(), &schema)?;
    let new = program_of(&args.new, args.schema.as_deref(), &schema)?;
    let (old_h, new_h) = (rule_hashes(&old), rule_hashes(&new));
    let mut report = Report::default();
    for (id, h) in &new_h {
        match old_h.get(id) {
            None => report.added.push(id.clone()),
            Some(o) if o != h => report.changed.push(id.clone()),
            Some(_) => report.unchanged += 1,
        }
    }
    report.removed = old_h
        .keys()
        .filter(|id| !new_h.contains_key(*id))
        .cloned()
        .collect();
    if args.events.is_empty() {
        return Ok(report);
    }
    let engine = |v: &Verified| Engine::new(v, EngineOptions::default()).map_err(|e| e.to_string());
    let (old_e, new_e) = (engine(&old)?, engine(&new)?);
    let mut dec = decoder(args.mapping.as_deref(), &schema)?;
    let mut old_a: BTreeSet<AlertDiff> = BTreeSet::new();
    let mut new_a: BTreeSet<AlertDiff> = BTreeSet::new();
    let inputs = collect_inputs(&args.events)?;
    report.inputs = inputs.len();
    let issues = Issues::new();
    for inp in &inputs {
        let name = inp.name.clone();
        // gzip and EVTX by name or magic bytes; a device is refused.
        let reader = inp
            .open_with(Default::default(), &issues)
            .map_err(|e| format!("cannot read `{name}`: {e}"))?;
        dec.set_file(Some(&name));
        let mut events = 0u64;
        dec.decode_reader(BufReader::new(reader), |ev| {
            events += 1;
            let at = match ev.source() {
                Some(Source::Line { line, .. }) => format!("{name}:{line}"),
                _ => format!("{name}#{events}"),
            };
            let on = |set: &mut BTreeSet<AlertDiff>, rule: &str| {
                set.insert(AlertDiff {
                    rule: rule.to_string(),
                    event: at.clone(),
                });
            };
            let _ = old_e.process(ev, &mut |a| on(&mut old_a, &a.rule));
            let _ = new_e.process(ev, &mut |a| on(&mut new_a, &a.rule));
        })
        .map_err(|e| format!("`{name}`: {e}"))?;
        report.events += events;
    }
    if issues.count() > 0 {
        eprintln!(
            "vigil diff: {} input error{} (above); the records that could be read were compared",
            issues.count(),
            if issues.count() == 1 { "" } else { "s" }
        );
    }
    report.alerts_appear = new_a.difference(&old_a).cloned().collect();
    report.alerts_disappear = old_a.difference(&new_a).cloned().collect();
    Ok(report)
}
