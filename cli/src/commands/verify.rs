//! `vigil verify FILE.vglb --pubkey NAME.pub ...`: does exactly what an agent does on load
//! (`vigil_runtime::bundle::load`: frame and decode, check the signature against the trusted
//! and revoked keys, expiry and minimum version, bind to the host schema, verify under the
//! host's budget) and reports the result: on success the rule count, the worst-case steps per
//! event type and the worst-case state bytes; on refusal the coded errors, one per line
//! (`error[E0511]: ...`).
//!
//! `--revoked FILE` lists revoked keys, one per line: a key id (16 hex digits) or a public key
//! file's text; blank lines and lines starting with `#` are ignored.
//!
//! Exit status: 0 the bundle loads, 1 it is refused, 2 usage or I/O errors (an unreadable
//! bundle, a malformed key, revocation or schema file).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use vigil_runtime::bundle::{key_id, load, parse_public_key_text, KeyId, TrustStore};

use super::build::BudgetArgs;
use super::keygen::read_public_key;
use crate::common::{fail, load_schema, write_stdout, Format};
use vigil_agent::inputs::files::{read_bundle, read_text, MAX_CONFIG_BYTES};

/// Arguments of `vigil verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The bundle.
    #[arg(value_name = "FILE.vglb")]
    bundle: PathBuf,
    /// Trust this public key file (repeatable).
    #[arg(long, value_name = "NAME.pub")]
    pubkey: Vec<PathBuf>,
    /// Revoked keys: one key id (16 hex digits) or public key file per line.
    #[arg(long, value_name = "FILE")]
    revoked: Option<PathBuf>,
    /// The host schema to bind to (a file or a shipped name: `linux-ebpf`) instead of `endpoint`.
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// Load unsigned bundles too (development only).
    #[arg(long)]
    allow_unsigned: bool,
    /// Check expiry as of this time (Unix seconds) instead of the clock's.
    #[arg(long, value_name = "UNIX_SECONDS")]
    now: Option<u64>,
    #[command(flatten)]
    budget: BudgetArgs,
    /// Output format: a summary, or one JSON object with the cost per event type (`events`,
    /// each with its `bound`, as in `vigil explain --format json`) and per rule.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// `writeln!` into a `String` (which cannot fail).
macro_rules! outln {
    ($o:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($o, $($arg)*);
    }};
}

/// Parses a revocation list: key ids, or public key files, one per line.
fn read_revoked(path: &Path) -> Result<Vec<KeyId>, String> {
    let text = read_text(path, MAX_CONFIG_BYTES, "a revocation list")
        .map_err(|e| format!("error: {e}"))?;
    if text.starts_with("vigil-ed25519-public-key") {
        let key =
            parse_public_key_text(&text).map_err(|e| format!("{e}\n  --> {}", path.display()))?;
        return Ok(vec![key_id(&key)]);
    }
    let mut ids = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let id = line.strip_prefix("keyid: ").unwrap_or(line);
        match KeyId::parse(id) {
            Some(id) => ids.push(id),
            None => {
                return Err(format!(
                    "error: `{}` line {}: expected a key id (16 hex digits), found `{line}`",
                    path.display(),
                    i + 1
                ))
            }
        }
    }
    Ok(ids)
}

/// Runs `vigil verify`.
pub(crate) fn run(args: &Args) -> ExitCode {
    let mut trust = TrustStore::new();
    trust.allow_unsigned = args.allow_unsigned;
    for path in &args.pubkey {
        match read_public_key(path) {
            Ok(key) => {
                trust.trust(key);
            }
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(path) = &args.revoked {
        match read_revoked(path) {
            Ok(ids) => {
                for id in ids {
                    trust.revoke(id);
                }
            }
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        }
    }
    let host = match load_schema(args.schema.as_deref()) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let bytes = match read_bundle(&args.bundle) {
        Ok(b) => b,
        Err(e) => return fail(&e),
    };
    let now = args.now.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
    let budget = args.budget.budget();
    let loaded = match load(&bytes, &host, &trust, &budget, now) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            eprintln!(
                "error: `{}` refused: an agent would keep its current bundle",
                args.bundle.display()
            );
            return ExitCode::from(1);
        }
    };
    let program = loaded.verified.program();
    let cost = loaded.verified.cost();
    let h = &loaded.header;
    let mut o = String::new();
    outln!(
        o,
        "ok: {}: {} rule{}, content version {}, schema {} {}.{} on host {}, {}",
        args.bundle.display(),
        program.rules.len(),
        if program.rules.len() == 1 { "" } else { "s" },
        h.content_version,
        h.schema.name,
        h.schema.major,
        h.schema.minor,
        host.label(),
        h.key_id
            .map_or_else(|| "unsigned".to_owned(), |k| format!("signed by key {k}")),
    );
    let explained = vigil_compiler::explain::explain_verified(&loaded.verified);
    if args.format == Format::Json {
        let rules: Vec<serde_json::Value> = explained
            .rules
            .iter()
            .map(|r| serde_json::json!({ "id": r.id, "name": r.name, "bound": r.bound }))
            .collect();
        let doc = serde_json::json!({
            "bundle": args.bundle.display().to_string(),
            "ok": true,
            "content_version": h.content_version,
            "sha256": vigil_runtime::hash::to_hex(&loaded.sha256),
            "events": explained.events,
            "rules": rules,
            "state_bytes": cost.state_bytes,
        });
        return write_stdout(&format!("{doc}\n"));
    }
    for e in &explained.events {
        outln!(
            o,
            "event {}: {} ({} prefilter, {} rule{}; budget {} + {} x n, {} at the largest event)",
            e.name,
            e.bound.to_text(),
            e.prefilter_steps,
            e.rules.len(),
            if e.rules.len() == 1 { "" } else { "s" },
            budget.max_event_base_steps,
            budget.max_event_steps_per_byte,
            budget.max_event_cost
        );
    }
    let worst_rule = cost
        .rules
        .iter()
        .max_by_key(|r| r.steps)
        .and_then(|r| program.rules.get(r.rule.0 as usize).map(|p| (p, r.steps)));
    if let Some((rule, steps)) = worst_rule {
        let bound = explained
            .rules
            .iter()
            .find(|r| r.id == rule.id)
            .and_then(|r| r.bound);
        outln!(
            o,
            "costliest rule: {} at {} (budget {} + {} x n, {} at the largest event)",
            rule.id,
            bound.map_or_else(|| format!("{steps} steps"), |b| b.to_text()),
            budget.max_rule_base_steps,
            budget.max_rule_steps_per_byte,
            budget.max_rule_cost
        );
    }
    outln!(
        o,
        "state: {} bytes worst case (budget {})",
        cost.state_bytes,
        budget.max_state_bytes
    );
    outln!(o, "sha256 {}", vigil_runtime::hash::to_hex(&loaded.sha256));
    write_stdout(&o)
}
