//! [`Run`] over a file of events: alerts as JSON lines in the sink, the same bytes on one
//! thread and on several, and bad lines counted without stopping unless the run is strict.

use vigil_agent::inputs::{collect_inputs, make_decoder};
use vigil_agent::pipeline::{Flow, Prepared, Run};
use vigil_runtime::budget::Budget;
use vigil_runtime::bundle::{self, TrustStore};
use vigil_runtime::decode::FieldSet;
use vigil_runtime::engine::{Engine, EngineOptions};
use vigil_runtime::schema::Schema;

use super::{bundle_bytes, scratch, EVENTS};

fn prepared() -> Prepared {
    let schema = Schema::endpoint();
    let mut trust = TrustStore::new();
    trust.allow_unsigned = true;
    let loaded = bundle::load(&bundle_bytes(), &schema, &trust, &Budget::default(), 0)
        .unwrap_or_else(|e| panic!("{e}"));
    let engine =
        Engine::from_loaded(&loaded, EngineOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let fields = FieldSet::for_binding(&schema, engine.interp().binding());
    let rules = loaded
        .verified
        .program()
        .rules
        .iter()
        .map(|r| (r.id.clone(), r.name.clone()))
        .collect();
    Prepared {
        engine,
        schema,
        fields,
        rules,
    }
}

/// Runs the events file through a fresh [`Run`] on `threads` threads: what it wrote and
/// how it ended.
fn run(name: &str, threads: usize, strict: bool) -> (String, Flow) {
    let dir = scratch(name);
    let events = dir.join("events.jsonl");
    std::fs::write(&events, EVENTS).expect("events");
    let prepared = prepared();
    let decoder = make_decoder(None, &prepared.schema, Some(&prepared.fields))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut run = Run::new(&prepared, decoder, strict);
    run.set_threads(threads, true);
    let mut out = Vec::new();
    let mut flow = Flow::Go;
    for input in collect_inputs(&[events]).unwrap_or_else(|e| panic!("{e}")) {
        flow = run
            .input(&input, &mut out, None)
            .unwrap_or_else(|e| panic!("{e}"));
        if flow != Flow::Go {
            break;
        }
    }
    (String::from_utf8(out).expect("alerts are UTF-8"), flow)
}

#[test]
fn a_run_writes_one_json_line_per_alert() {
    let (alerts, flow) = run("one_thread", 1, false);
    assert_eq!(flow, Flow::Go);
    let lines: Vec<&str> = alerts.lines().collect();
    assert_eq!(lines.len(), 1, "{alerts}");
    assert!(lines[0].contains(r#""rule":"vgl-ex-0003""#), "{alerts}");
}

#[test]
fn several_threads_write_the_same_bytes_as_one() {
    // The same file (alerts name it), run twice.
    let one = run("threads", 1, false);
    assert_eq!(run("threads", 3, false), one);
}

#[test]
fn a_strict_run_stops_at_the_first_bad_line() {
    let (alerts, flow) = run("strict", 1, true);
    assert_eq!(flow, Flow::Stop(1));
    assert_eq!(alerts.lines().count(), 1, "{alerts}");
}
