//! `vigil-example-agent BUNDLE.vglb [--pubkey FILE]... [--allow-unsigned] [--workers N]
//! [--interp]`: loads a bundle as an endpoint agent would, feeds it a small demo stream of
//! sensor records through the builder API on N worker threads, and prints the alerts as JSON
//! lines (stdout) and the deployer's event accounting (stderr).
//!
//! Arguments are parsed by hand: an agent carries no CLI crate. Build a bundle to try it:
//! `vigil build examples/rules -o /tmp/ex.vglb --unsigned` then
//! `cargo run -p vigil-example-agent -- /tmp/ex.vglb --allow-unsigned`.

use std::process::ExitCode;

use vigil_example_agent::{demo_records, run_records, Agent, EngineKind, TrustStore};
use vigil_runtime::bundle::parse_public_key_text;

const USAGE: &str = "usage: vigil-example-agent BUNDLE.vglb [--pubkey FILE]... [--allow-unsigned] [--workers N] [--interp]";

fn main() -> ExitCode {
    let mut bundle_path = None;
    let mut trust = TrustStore::new();
    let mut workers = 4usize;
    let mut kind = EngineKind::Jit;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--allow-unsigned" => trust.allow_unsigned = true,
            "--interp" => kind = EngineKind::Interp,
            "--pubkey" => {
                let Some(path) = args.next() else {
                    eprintln!("{USAGE}");
                    return ExitCode::from(2);
                };
                let key = std::fs::read_to_string(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|t| parse_public_key_text(t.trim()).map_err(|e| e.to_string()));
                match key {
                    Ok(k) => {
                        trust.trust(k);
                    }
                    Err(e) => {
                        eprintln!("error: public key `{path}`: {e}");
                        return ExitCode::from(2);
                    }
                }
            }
            "--workers" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) if n > 0 => workers = n,
                _ => {
                    eprintln!("{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ if bundle_path.is_none() && !a.starts_with('-') => bundle_path = Some(a),
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(bundle_path) = bundle_path else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let bytes = match std::fs::read(&bundle_path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: cannot read `{bundle_path}`: {e}");
            return ExitCode::from(2);
        }
    };
    let agent = match Agent::load(&bytes, &trust, kind) {
        Ok(a) => a,
        Err(e) => {
            // A real agent keeps running the bundle it had.
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let (alerts, error) = run_records(&agent, demo_records(), workers);
    for a in &alerts {
        println!("{}", a.to_json_line());
    }
    let s = agent.stats();
    eprintln!(
        "agent: {} events, {} evaluated, {} alerts, {} dropped ({workers} workers)",
        s.received,
        s.evaluated,
        alerts.len(),
        s.dropped.values().sum::<u64>()
    );
    if let Some(e) = error {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
