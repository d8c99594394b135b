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

use crate::common::{fail, write_stdout};
use vigil_agent::inputs::files::read_bundle;

/// `writeln!` into a `String` (which cannot fail).
macro_rules! outln {
    ($o:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($o, $($arg)*);
    }};
}

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
    let bytes = match read_bundle(&args.bundle) {
        Ok(b) => b,
        Err(e) => return fail(&e),
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
    let mut o = String::new();
    outln!(o, "bundle {}", args.bundle.display());
    outln!(o, "  note: decoded only: the signature was NOT checked and the program was not verified (use `vigil verify`)");
    outln!(o, "  size: {} bytes", bytes.len());
    outln!(o, "  sha256: {}", to_hex(&Sha256::digest(&bytes)));
    outln!(o, "  format version: {format_version}");
    outln!(o, "  ir version: {}", h.ir_version);
    outln!(o, "  min runtime: {}", h.min_runtime);
    outln!(
        o,
        "  schema: {} {}.{}",
        h.schema.name,
        h.schema.major,
        h.schema.minor
    );
    outln!(o, "  content version: {}", h.content_version);
    outln!(o, "  min version: {}", opt(h.min_version));
    outln!(
        o,
        "  expires: {}",
        h.expires_unix
            .map_or_else(|| "never".to_owned(), |t| format!("{t} (Unix seconds)"))
    );
    match (h.key_id, decoded.signature.is_some()) {
        (Some(k), true) => outln!(o, "  key id: {k} (signed; signature not checked)"),
        (Some(k), false) => outln!(o, "  key id: {k} (but no signature section)"),
        (None, _) => outln!(o, "  key id: none (unsigned)"),
    }
    outln!(
        o,
        "  debug section: {}",
        if decoded.debug.is_some() {
            "present"
        } else {
            "stripped"
        }
    );
    outln!(o, "  bundle id: {}", h.bundle_id);
    outln!(o, "  created by: {}", h.created_by);

    outln!(o, "fields ({}):", decoded.fields.fields.len());
    for f in &decoded.fields.fields {
        let mut line = format!("  {}.{}: {}", f.event, f.field, f.ty);
        if f.max_len > 0 {
            line.push_str(&format!(", max_len {}", f.max_len));
        }
        if f.max_items > 0 {
            line.push_str(&format!(", max_items {}", f.max_items));
        }
        outln!(o, "{line}");
    }

    outln!(o, "rules ({}):", decoded.program.rules.len());
    for r in &decoded.program.rules {
        let kind = match r.kind {
            RuleKind::Single { .. } => "single",
            RuleKind::Sequence(_) | RuleKind::SequenceAnyOrder(_) => "sequence",
            RuleKind::Threshold(_) => "threshold",
        };
        outln!(
            o,
            "  {} ({}): {:?}, {}, {kind} on {}{}",
            r.id,
            r.name,
            r.title,
            r.severity.as_str(),
            r.event_types().join(", "),
            if r.shadow { ", shadow" } else { "" }
        );
    }
    write_stdout(&o)
}
