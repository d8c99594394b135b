//! Shared by the `deploy_*` tests: small hand-built programs over the endpoint schema, signed
//! bundles of them, a deployer, and an event.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::keys::Keypair;
use vigil_runtime::budget::Budget;
use vigil_runtime::bundle::{encode, HeaderInput, TrustStore};
use vigil_runtime::decode::Decoder;
use vigil_runtime::deploy::{DeployOptions, Deployer};
use vigil_runtime::event::Event;
use vigil_runtime::ir::{ExprKind, Program};
use vigil_runtime::schema::Schema;
use vigil_runtime::types::Ty;

use vigil_test_support::builder::{field, str_const, Prog};

/// A test time: bundles without expiry, clocks fixed here where it matters.
pub(crate) const NOW: u64 = 1_750_000_000;

/// The trusted key.
pub(crate) fn key() -> Keypair {
    Keypair::from_seed(&[1; 32])
}

/// A key nobody trusts.
pub(crate) fn other_key() -> Keypair {
    Keypair::from_seed(&[2; 32])
}

/// Trusting `pairs`.
pub(crate) fn trust(pairs: &[&Keypair]) -> TrustStore {
    let mut t = TrustStore::new();
    for p in pairs {
        t.trust(p.verifying_key());
    }
    t
}

/// What a test program's rules do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Rules {
    /// `always_a` and `always_b` fire on every `process_start`; `quiet_TAG` never does.
    TwoAlways,
    /// Only `quiet_TAG` (and `rare`, which fires on `image == "rare.exe"`).
    Quiet,
    /// `quiet_TAG`, `rare`, and `noisy` which fires on every `process_start`.
    Noisy,
    /// `always_a`, and `shadowed` (meta shadow: true) firing on every `process_start`.
    WithShadowRule,
}

/// A program; `tag` makes its content (and `program_hash`) differ. Built once per `rules`
/// (building parses the schema) and then retagged.
pub(crate) fn program(rules: Rules, tag: &str) -> Program {
    static BASE: OnceLock<Mutex<HashMap<Rules, Program>>> = OnceLock::new();
    let mut base = BASE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut p = base.entry(rules).or_insert_with(|| build(rules)).clone();
    drop(base);
    for s in &mut p.strings {
        if s == "never-TAG.exe" {
            *s = format!("never-{tag}.exe");
        }
    }
    if let Some(r) = p.rules.first_mut() {
        r.id = format!("quiet_{tag}");
        r.name = r.id.clone();
    }
    p
}

fn build(rules: Rules) -> Program {
    let mut p = Prog::new();
    let quiet = "quiet_TAG".to_string();
    let tag_owned = "never-TAG.exe".to_string();
    p.rule(&quiet, &["process_start"], |p, rb| {
        let image = field(p, rb, "process_start", "image");
        let s = str_const(p, rb, &tag_owned);
        Some(rb.e(
            Ty::BOOL,
            ExprKind::StrTest {
                op: vigil_runtime::ir::StrTest::Eq,
                fold: false,
                lhs: image,
                rhs: s,
            },
        ))
    });
    let always = |p: &mut Prog, name: &str| {
        p.rule(name, &["process_start"], |_, rb| Some(rb.bool(true)));
    };
    match rules {
        Rules::TwoAlways => {
            always(&mut p, "always_a");
            always(&mut p, "always_b");
        }
        Rules::Quiet | Rules::Noisy => {
            p.rule("rare", &["process_start"], |p, rb| {
                let image = field(p, rb, "process_start", "image");
                let s = str_const(p, rb, "rare.exe");
                Some(rb.e(
                    Ty::BOOL,
                    ExprKind::StrTest {
                        op: vigil_runtime::ir::StrTest::Eq,
                        fold: false,
                        lhs: image,
                        rhs: s,
                    },
                ))
            });
            if rules == Rules::Noisy {
                always(&mut p, "noisy");
            }
        }
        Rules::WithShadowRule => {
            always(&mut p, "always_a");
            always(&mut p, "shadowed");
            if let Some(r) = p.p.rules.last_mut() {
                r.shadow = true;
            }
        }
    }
    p.p
}

/// A header for version `v`.
pub(crate) fn header(v: u64) -> HeaderInput {
    HeaderInput {
        content_version: v,
        bundle_id: format!("b{v}"),
        created_by: "deploy tests".into(),
        ..HeaderInput::default()
    }
}

/// `program` as a bundle with `header`, signed by `key` (unsigned without one).
pub(crate) fn bundle_with(
    program: &Program,
    header: &HeaderInput,
    key: Option<&Keypair>,
) -> Vec<u8> {
    encode(program, None, header, key.map(Keypair::signing_key)).expect("encodes")
}

/// Version `v` of a `rules` program tagged `v`, signed by the trusted key.
pub(crate) fn bundle(rules: Rules, v: u64) -> Vec<u8> {
    bundle_with(&program(rules, &v.to_string()), &header(v), Some(&key()))
}

/// A deployer for the endpoint schema trusting [`key`], with its clock at [`NOW`].
pub(crate) fn deployer(options: DeployOptions) -> Deployer {
    let d = Deployer::new(
        Schema::endpoint(),
        Budget::default(),
        trust(&[&key()]),
        options,
    );
    d.set_clock(|| NOW);
    d
}

/// The test event line: a `process_start` of `image`.
pub(crate) fn line(image: &str) -> Vec<u8> {
    format!(
        r#"{{"event": "process_start", "time": 1, "host": "pc1", "pid": 4, "image": "{image}"}}"#
    )
    .into_bytes()
}

/// Decodes `line` (one event).
pub(crate) fn event(line: &[u8]) -> Event<'_> {
    let mut decoder = Decoder::native(&Schema::endpoint());
    let mut out = Vec::new();
    decoder.decode_line(line, 1, &mut out).expect("decodes");
    out.pop().expect("one event")
}

/// The content version of the bundle that evaluated `event` on `d`, and its alerts.
pub(crate) fn run(
    d: &Deployer,
    event: &Event<'_>,
) -> (Option<u64>, Vec<vigil_runtime::alert::Alert>) {
    let mut alerts = Vec::new();
    let p = d.process(event, &mut |a| alerts.push(a.clone()));
    (p.bundle.map(|b| b.content_version), alerts)
}

/// The deployer's refusal count for `code`.
pub(crate) fn refused(d: &Deployer, code: &str) -> u64 {
    d.status().updates.refused.get(code).copied().unwrap_or(0)
}

/// A fresh temporary directory for this test.
pub(crate) fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vigil-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
