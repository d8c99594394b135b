//! The example agent (`examples/embed`, crate `vigil-example-agent`) end to end: the example
//! rules are compiled here with the compiler library, encoded into a bundle (unsigned, and
//! signed with a fresh key), and handed as bytes to the agent, which depends on the runtime
//! alone, builds its events through `EventBuilder` and runs them on several threads sharing one
//! engine.

use std::path::Path;

use vigil_compiler::compile::{compile, Compiled};
use vigil_compiler::{Options, Sources};
use vigil_example_agent::{demo_records, run_agent, Alert, TrustStore};
use vigil_runtime::budget::Budget;
use vigil_runtime::bundle::{self, HeaderInput, Keypair};
use vigil_runtime::event::Source;
use vigil_runtime::schema::Schema;

fn compiled_examples() -> Compiled {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rules");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/rules exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "vgl"))
        .collect();
    paths.sort();
    let mut sources = Sources::with_stdlib();
    for p in paths {
        let text = std::fs::read(&p).expect("readable example");
        sources.add(p.display().to_string(), text);
    }
    compile(
        &sources,
        &Schema::endpoint(),
        &Options::default(),
        &Budget::default(),
    )
    .unwrap_or_else(|d| panic!("examples compile: {d:?}"))
}

fn header() -> HeaderInput {
    HeaderInput {
        content_version: 7,
        bundle_id: "example-agent-test".to_owned(),
        created_by: "vigil-tests".to_owned(),
        ..HeaderInput::default()
    }
}

fn rules(alerts: &[Alert]) -> Vec<(u64, &str)> {
    alerts
        .iter()
        .map(|a| {
            let id = match a.source {
                Some(Source::Record { id }) => id,
                _ => 0,
            };
            (id, a.rule.as_str())
        })
        .collect()
}

#[test]
fn agent_runs_an_unsigned_bundle_on_several_threads() {
    let compiled = compiled_examples();
    let bytes = bundle::encode(compiled.program(), Some(&compiled.debug), &header(), None)
        .expect("encodes");
    let mut trust = TrustStore::new();
    trust.allow_unsigned = true;
    let alerts = run_agent(&bytes, &trust, demo_records(), 4).unwrap_or_else(|e| panic!("{e}"));
    let got = rules(&alerts);
    // Record 2: encoded PowerShell started by Word; record 3: it connects out to a
    // suspicious port; record 4: a tunnelling service's name.
    assert!(
        got.contains(&(2, "8c1a2f3e-0d4b-4b2e-9a51-3f7c2b1d9e01")),
        "{got:?}"
    );
    assert!(got.contains(&(2, "vgl-ex-0002")), "{got:?}");
    assert!(got.contains(&(4, "vgl-ex-0103")), "{got:?}");
    assert!(!got.iter().any(|(id, _)| *id == 1 || *id == 5), "{got:?}");
    // Ordered by record, whatever the threads' interleaving.
    assert!(got.windows(2).all(|w| w[0].0 <= w[1].0));
    let b = alerts[0].bundle.as_ref().expect("alerts name their bundle");
    assert_eq!(b.id, "example-agent-test");
    assert_eq!(b.content_version, 7);
    // The same alerts with one worker as with four.
    let one = run_agent(&bytes, &trust, demo_records(), 1).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rules(&one), got);
}

#[test]
fn agent_refuses_unsigned_bundles_unless_allowed_and_checks_signatures() {
    let compiled = compiled_examples();
    let unsigned = bundle::encode(compiled.program(), None, &header(), None).expect("encodes");
    let strict = TrustStore::new();
    assert!(run_agent(&unsigned, &strict, demo_records(), 2).is_err());

    let key = Keypair::from_seed(&[7; 32]);
    let signed = bundle::encode(compiled.program(), None, &header(), Some(key.signing_key()))
        .expect("encodes");
    // Not trusted yet.
    assert!(run_agent(&signed, &strict, demo_records(), 2).is_err());
    let mut trust = TrustStore::new();
    trust.trust(key.verifying_key());
    let alerts = run_agent(&signed, &trust, demo_records(), 2).unwrap_or_else(|e| panic!("{e}"));
    assert!(!alerts.is_empty());
    // One flipped byte: refused.
    let mut tampered = signed.clone();
    if let Some(last) = tampered.last_mut() {
        *last ^= 1;
    }
    assert!(run_agent(&tampered, &trust, demo_records(), 2).is_err());
}

#[test]
fn agent_depends_on_the_runtime_alone() {
    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/embed/Cargo.toml"),
    )
    .expect("the agent's manifest");
    let mut in_deps = false;
    let mut deps = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line.ends_with("dependencies]");
            continue;
        }
        if in_deps && !line.is_empty() && !line.starts_with('#') {
            deps.push(
                line.split(['.', ' ', '='])
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
    }
    assert_eq!(deps, ["vigil-runtime"], "{manifest}");
}
