//! `vigil inspect FILE.vglb`: what a bundle says about itself: the header (format version,
//! schema, content version, minimum version, expiry, key id, signed or not, debug section),
//! the field requirements with their bounds, and the rules (id, name, title, severity, kind,
//! event types).
//!
//! Decodes only (`vigil_runtime::bundle::decode`): the signature is NOT checked and the
//! program is not bound or verified, and the output says so; `vigil verify` does the load an
//! agent does. Exit status: 0 decoded, 1 the bytes are not a well-formed bundle (the coded
//! error is printed), 2 I/O errors.

use std::path::PathBuf;
use std::process::ExitCode;

use sha2::{Digest, Sha256};
use vigil_runtime::bundle::decode;
use vigil_runtime::hash::to_hex;
use vigil_runtime::ir::RuleKind;

use crate::common::fail;

/// Arguments of `vigil inspect`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The bundle.
    #[arg(value_name = "FILE.vglb")]
    bundle: PathBuf,
}

/// `none`, or the value.
fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "none".to_owned(), |v| v.to_string())
}

/// Runs `vigil inspect`.
pub(crate) fn run(args: &Args) -> ExitCode {
    let bytes = match std::fs::read(&args.bundle) {
        Ok(b) => b,
        Err(e) => return fail(&format!("cannot read `{}`: {e}", args.bundle.display())),
    };
    let decoded = match decode(&bytes) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let h = &decoded.header;
    let format_version = match bytes.get(8..10) {
        Some(&[a, b]) => u16::from_le_bytes([a, b]),
        _ => 0,
    };
    println!("bundle {}", args.bundle.display());
    println!("  note: decoded only: the signature was NOT checked and the program was not verified (use `vigil verify`)");
    println!("  size: {} bytes", bytes.len());
    println!("  sha256: {}", to_hex(&Sha256::digest(&bytes)));
    println!("  format version: {format_version}");
    println!("  ir version: {}", h.ir_version);
    println!("  min runtime: {}", h.min_runtime);
    println!(
        "  schema: {} {}.{}",
        h.schema.name, h.schema.major, h.schema.minor
    );
    println!("  content version: {}", h.content_version);
    println!("  min version: {}", opt(h.min_version));
    println!(
        "  expires: {}",
        h.expires_unix
            .map_or_else(|| "never".to_owned(), |t| format!("{t} (Unix seconds)"))
    );
    match (h.key_id, decoded.signature.is_some()) {
        (Some(k), true) => println!("  key id: {k} (signed; signature not checked)"),
        (Some(k), false) => println!("  key id: {k} (but no signature section)"),
        (None, _) => println!("  key id: none (unsigned)"),
    }
    println!(
        "  debug section: {}",
        if decoded.debug.is_some() {
            "present"
        } else {
            "stripped"
        }
    );
    println!("  bundle id: {}", h.bundle_id);
    println!("  created by: {}", h.created_by);

    println!("fields ({}):", decoded.fields.fields.len());
    for f in &decoded.fields.fields {
        let mut line = format!("  {}.{}: {}", f.event, f.field, f.ty);
        if f.max_len > 0 {
            line.push_str(&format!(", max_len {}", f.max_len));
        }
        if f.max_items > 0 {
            line.push_str(&format!(", max_items {}", f.max_items));
        }
        println!("{line}");
    }

    println!("rules ({}):", decoded.program.rules.len());
    for r in &decoded.program.rules {
        let kind = match r.kind {
            RuleKind::Single { .. } => "single",
            RuleKind::Sequence(_) => "sequence",
            RuleKind::Threshold(_) => "threshold",
        };
        println!(
            "  {} ({}): {:?}, {}, {kind} on {}{}",
            r.id,
            r.name,
            r.title,
            r.severity.as_str(),
            r.event_types().join(", "),
            if r.shadow { ", shadow" } else { "" }
        );
    }
    ExitCode::SUCCESS
}
