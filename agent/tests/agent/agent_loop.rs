//! [`Agent`] on a bundles folder and a file of events: the bundle is activated, the events
//! evaluated, the alerts written to the caller's sink, and `status.json` written with
//! `"running": false` when the finite inputs end.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vigil_agent::agent::{Agent, Config};
use vigil_runtime::bundle::TrustStore;
use vigil_runtime::deploy::DeployOptions;
use vigil_runtime::schema::Schema;

use super::{bundle_bytes, scratch, EVENTS};

/// An alert sink the test can read after the agent wrote to it.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_agent_activates_the_bundle_and_evaluates_finite_inputs() {
    let dir = scratch("loop");
    let (bundles, state) = (dir.join("bundles"), dir.join("state"));
    std::fs::create_dir_all(&bundles).expect("bundles folder");
    std::fs::write(bundles.join("process.vglb"), bundle_bytes()).expect("bundle");
    let events = dir.join("events.jsonl");
    std::fs::write(&events, EVENTS).expect("events");
    let mut trust = TrustStore::new();
    trust.allow_unsigned = true;
    let config = Config {
        bundles,
        state: state.clone(),
        schema: Schema::endpoint(),
        trust,
        events: vec![events],
        follow: None,
        mapping: None,
        poll: Duration::from_millis(20),
        deploy: DeployOptions::default(),
        exit_after_idle: None,
        stop_file: None,
        live: None,
    };
    let sink = Shared::default();
    let mut agent = Agent::start(config, Box::new(sink.clone())).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(agent.run(), 0);
    let alerts = String::from_utf8(sink.0.lock().expect("sink").clone()).expect("UTF-8");
    assert_eq!(alerts.lines().count(), 1, "{alerts}");
    assert!(alerts.contains(r#""rule":"vgl-ex-0003""#), "{alerts}");
    let status = std::fs::read_to_string(state.join("status.json")).expect("status.json");
    assert!(status.contains(r#""running": false"#), "{status}");
    assert!(status.contains(r#""inputs_done": true"#), "{status}");
}
