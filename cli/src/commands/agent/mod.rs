//! `vigil agent`: the command line of the reference agent. The agent itself (inputs, the
//! bundles folder, the [`Deployer`](vigil_runtime::deploy::Deployer), `status.json`, exit
//! statuses) is [`vigil_agent::agent`]; this file turns the flags into its
//! [`Config`] (the schema loaded, the trust store built, the eBPF sensor started with
//! `--source ebpf`) and runs it, or lifts a quarantine.

mod ebpf;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use vigil_agent::agent::{check_bundles_dir, Agent, Config, EXIT_IO};
use vigil_runtime::bundle::{self, KeyId, TrustStore};
use vigil_runtime::deploy::{lift_quarantine_in, DeployOptions, PromotionPolicy, StateDir};

use super::run::EngineChoice;
use crate::common::{fail, load_schema};

/// Arguments of `vigil agent`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The folder watched for new `*.vglb` bundles.
    #[arg(long, value_name = "DIR", required_unless_present = "lift_quarantine")]
    bundles: Option<PathBuf>,
    /// The state folder: active and last known good bundles, `state.json`, `status.json`.
    #[arg(long, value_name = "DIR")]
    state: PathBuf,
    /// Trust this public key (a `NAME.pub` file from `vigil keygen`, or its text); repeatable.
    #[arg(long = "pubkey", value_name = "K")]
    pubkey: Vec<String>,
    /// Revoke this key id (16 hex digits); repeatable.
    #[arg(long = "revoke", value_name = "KEYID")]
    revoke: Vec<String>,
    /// Load unsigned bundles too (development only).
    #[arg(long)]
    allow_unsigned: bool,
    /// Accept content versions below the highest accepted (never below a signed minimum).
    #[arg(long)]
    allow_downgrade: bool,
    /// Event files (JSON lines), read in order; `-` reads stdin.
    #[arg(value_name = "EVENTS")]
    events: Vec<PathBuf>,
    /// Tail this file for events as it grows (the agent then runs until stopped).
    #[arg(long, value_name = "FILE")]
    follow: Option<PathBuf>,
    /// Read events through a field mapping: a shipped one by name (`windows`, `sysmon`), a
    /// TOML file, or `native`. Without it, each record's form is told by its shape (an `event`
    /// key: native; `Channel`/`EventID`: Windows, through the built-in `windows` mapping).
    #[arg(long, value_name = "M")]
    mapping: Option<String>,
    /// The host schema: a file or a shipped name, `endpoint` or `linux-ebpf` (default:
    /// `linux-ebpf` with `--source ebpf`, else `endpoint`).
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// A live event source besides the files: `ebpf`, the Linux eBPF sensor (root; see
    /// docs/sensor-linux.md). The agent then runs until stopped.
    #[arg(long, value_enum, value_name = "SOURCE")]
    source: Option<ebpf::SourceChoice>,
    /// The eBPF sensor's ring buffer, in MiB (a power of two, at most 1024).
    #[arg(long, value_name = "N", default_value_t = 32)]
    ring_mb: u32,
    /// How many processes the eBPF sensor's process table keeps.
    #[arg(long, value_name = "N", default_value_t = 65_536)]
    process_table: usize,
    /// How often to scan the bundles folder and write the status, in milliseconds.
    #[arg(long, value_name = "N", default_value_t = 200)]
    poll_ms: u64,
    /// Decide on a shadow candidate after this many events.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    promote_after_events: u64,
    /// Decide on a shadow candidate after this many seconds, whatever the event count.
    #[arg(long, value_name = "N")]
    promote_after_secs: Option<u64>,
    /// Reject a candidate with a rule above this many alerts per 1000 events.
    #[arg(long, value_name = "X", default_value_t = 50)]
    max_alert_rate: u64,
    /// Reject a candidate with more than this many times the active bundle's alerts ...
    #[arg(long, value_name = "Y", default_value_t = 2.0)]
    max_alert_ratio: f64,
    /// ... plus this many.
    #[arg(long, value_name = "N", default_value_t = 10)]
    alert_slack: u64,
    /// Quarantine a bundle after this many crashes ...
    #[arg(long, value_name = "K", default_value_t = 3)]
    crash_limit: u32,
    /// ... within this many minutes of running it.
    #[arg(long, value_name = "T", default_value_t = 10)]
    crash_window_mins: u64,
    /// The evaluator.
    #[arg(long, value_enum, default_value_t = EngineChoice::Jit)]
    engine: EngineChoice,
    /// How much older than the newest time seen from its host an event may be and still
    /// count for sequence and threshold rules (`500ms`, `2s`; default 0). Late events are
    /// counted in `status.json` (`event_time`).
    #[arg(long, value_name = "DURATION", value_parser = super::run::parse_lateness, default_value = "0s")]
    lateness: u64,
    /// Exit after this many milliseconds without events or new bundles.
    #[arg(long, value_name = "N")]
    exit_after_idle_ms: Option<u64>,
    /// Exit cleanly when this file exists.
    #[arg(long, value_name = "PATH")]
    stop_file: Option<PathBuf>,
    /// Lift the quarantine of the bundle whose SHA-256 starts with SHA (at least 8 hex
    /// digits) in the state folder, and exit.
    #[arg(long, value_name = "SHA")]
    lift_quarantine: Option<String>,
}

/// Runs `vigil agent`.
pub(crate) fn run(args: &Args) -> ExitCode {
    if let Some(sha) = &args.lift_quarantine {
        return lift(args, sha);
    }
    let started = config(args).and_then(|c| Agent::start(c, Box::new(std::io::stdout())));
    match started {
        Ok(mut agent) => ExitCode::from(agent.run()),
        Err(e) => {
            eprintln!("vigil agent: error: {e}");
            ExitCode::from(EXIT_IO)
        }
    }
}

/// The agent's configuration from the flags: the bundles folder checked, the schema loaded
/// and the trust store built, in that order (the first error is the one reported).
fn config(args: &Args) -> Result<Config, String> {
    let bundles = args
        .bundles
        .clone()
        .ok_or_else(|| "`--bundles DIR` is required".to_string())?;
    check_bundles_dir(&bundles)?;
    let schema = match (&args.schema, args.source) {
        (None, Some(ebpf::SourceChoice::Ebpf)) => vigil_runtime::Schema::linux_ebpf(),
        _ => load_schema(args.schema.as_deref())?,
    };
    let trust = trust_store(args)?;
    let live = match args.source {
        Some(ebpf::SourceChoice::Ebpf) => {
            Some(ebpf::start(&schema, args.ring_mb, args.process_table)?)
        }
        None => None,
    };
    let deploy = DeployOptions {
        engine: args.engine.kind(),
        allow_downgrade: args.allow_downgrade,
        policy: PromotionPolicy {
            after_events: args.promote_after_events,
            after_secs: args.promote_after_secs,
            max_rule_alerts_per_1000: args.max_alert_rate,
            max_total_ratio: args.max_alert_ratio,
            total_slack: args.alert_slack,
        },
        crash_limit: args.crash_limit,
        crash_window_secs: args.crash_window_mins.saturating_mul(60),
        lateness_ns: args.lateness,
    };
    Ok(Config {
        bundles,
        state: args.state.clone(),
        schema,
        trust,
        events: args.events.clone(),
        follow: args.follow.clone(),
        mapping: args.mapping.clone(),
        poll: Duration::from_millis(args.poll_ms),
        deploy,
        exit_after_idle: args.exit_after_idle_ms.map(Duration::from_millis),
        stop_file: args.stop_file.clone(),
        live,
    })
}

fn lift(args: &Args, sha: &str) -> ExitCode {
    let lifted = StateDir::open(&args.state).and_then(|dir| lift_quarantine_in(&dir, sha));
    match lifted {
        Ok(v) if v.is_empty() => fail(&format!(
            "no quarantined bundle's SHA-256 starts with `{sha}`"
        )),
        Ok(v) => {
            for q in v {
                eprintln!(
                    "lifted the quarantine of {} v{} ({})",
                    q.bundle_id, q.content_version, q.sha256
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string()),
    }
}

/// The trust store of `--pubkey`, `--revoke` and `--allow-unsigned`.
fn trust_store(args: &Args) -> Result<TrustStore, String> {
    let mut trust = TrustStore::new();
    trust.allow_unsigned = args.allow_unsigned;
    for k in &args.pubkey {
        let path = Path::new(k);
        let text = if path.is_file() {
            std::fs::read_to_string(path).map_err(|e| format!("cannot read `{k}`: {e}"))?
        } else {
            k.clone()
        };
        let key = bundle::parse_public_key_text(text.trim())
            .map_err(|e| format!("`{k}` is no public key file or key: {e}"))?;
        trust.trust(key);
    }
    for id in &args.revoke {
        let id =
            KeyId::parse(id).ok_or_else(|| format!("`{id}` is not a key id (16 hex digits)"))?;
        trust.revoke(id);
    }
    Ok(trust)
}
