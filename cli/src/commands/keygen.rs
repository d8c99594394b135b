//! `vigil keygen --out NAME`: a fresh ed25519 key pair, written as `NAME.key` (the secret
//! seed; mode 0600 on Unix) and `NAME.pub` (the public key), each naming the key id (the
//! formats are `vigil_runtime::bundle::sign`'s). An existing key file is never overwritten
//! unless `--force` is given. Also the key file readers `build` and `verify` share.
//!
//! Exit status: 0 written, 2 usage or I/O errors (a key file exists, a directory is missing).

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ed25519_dalek::VerifyingKey;
use vigil_runtime::bundle::{parse_public_key_text, Keypair};

use crate::common::{fail, write_stdout};
use vigil_agent::inputs::files::{read_text, MAX_CONFIG_BYTES};

/// Arguments of `vigil keygen`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Path prefix of the key files: writes `NAME.key` and `NAME.pub`.
    #[arg(long, value_name = "NAME")]
    out: PathBuf,
    /// Overwrite existing key files.
    #[arg(long)]
    force: bool,
}

/// `NAME` with `.ext` appended (not replacing an extension: `ci.prod` gives `ci.prod.key`).
fn with_suffix(name: &Path, ext: &str) -> PathBuf {
    let mut s = name.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// Opens `path` for writing: fails if it exists (unless `force`); a secret file is created
/// with mode 0600 and, when it already existed, set to 0600 before anything is written.
fn create(path: &Path, force: bool, secret: bool) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let file = opts.open(path)?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    Ok(file)
}

/// Runs `vigil keygen`.
pub(crate) fn run(args: &Args) -> ExitCode {
    let secret_path = with_suffix(&args.out, "key");
    let public_path = with_suffix(&args.out, "pub");
    if !args.force {
        for p in [&secret_path, &public_path] {
            if p.exists() {
                return fail(&format!(
                    "`{}` exists; pass `--force` to overwrite it",
                    p.display()
                ));
            }
        }
    }
    let pair = Keypair::generate();
    for (path, text, secret) in [
        (&secret_path, pair.to_secret_text(), true),
        (&public_path, pair.to_public_text(), false),
    ] {
        let written =
            create(path, args.force, secret).and_then(|mut f| f.write_all(text.as_bytes()));
        if let Err(e) = written {
            return fail(&format!("cannot write `{}`: {e}", path.display()));
        }
    }
    write_stdout(&format!(
        "key {}: wrote {} (secret, keep it private) and {}\n",
        pair.key_id(),
        secret_path.display(),
        public_path.display()
    ))
}

/// Reads a secret key file. The error is the whole line to print (a malformed file gives its
/// coded error, `error[E0516]: ...`).
pub(crate) fn read_secret_key(path: &Path) -> Result<Keypair, String> {
    let text =
        read_text(path, MAX_CONFIG_BYTES, "a key file").map_err(|e| format!("error: {e}"))?;
    Keypair::parse_secret_text(&text).map_err(|e| format!("{e}\n  --> {}", path.display()))
}

/// Reads a public key file; errors as [`read_secret_key`]'s.
pub(crate) fn read_public_key(path: &Path) -> Result<VerifyingKey, String> {
    let text =
        read_text(path, MAX_CONFIG_BYTES, "a key file").map_err(|e| format!("error: {e}"))?;
    parse_public_key_text(&text).map_err(|e| format!("{e}\n  --> {}", path.display()))
}
