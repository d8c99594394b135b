//! Writing bundles: a [`Compiled`] program in, signed (or unsigned) bundle bytes out.
//!
//! The byte format, the signature and loading belong to the runtime
//! (`vigil_runtime::bundle`, `docs/bundle-format.md`); this module only decides what goes into
//! the header and whether the debug section travels. Stripping happens here, BEFORE signing:
//! the signature covers every byte of the bundle, debug section included, so a stripped bundle
//! is a different, separately signed bundle, never a signed one with bytes cut out.
//!
//! Builds are deterministic: the same sources, compiler, options and key give the same bytes.
//! Nothing is read from the clock or the environment; the bundle id is derived from the
//! program's canonical hash and the content version unless one is given, and an expiry is
//! written only when one is given.

use sha2::{Digest, Sha256};
use vigil_runtime::bundle::{encode, BundleError, HeaderInput, KeyId, Keypair, RuntimeVersion};
use vigil_runtime::error::ErrorCode;
use vigil_runtime::hash::{program_hash, to_hex};

use crate::compile::Compiled;

/// What a build writes into the header, and whether it keeps the debug section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// The content version: a runtime refuses one below the highest it has accepted.
    pub content_version: u64,
    /// A signed floor on the content version (must not be above `content_version`).
    pub min_version: Option<u64>,
    /// Expiry in Unix seconds: runtimes refuse the bundle at or after it.
    pub expires_unix: Option<u64>,
    /// Leave out the debug section (source spans). Done before signing.
    pub strip: bool,
    /// The oldest runtime that may load the bundle; `None` is this compiler's runtime.
    pub min_runtime: Option<RuntimeVersion>,
    /// The bundle id; `None` derives one from the program hash and the content version.
    pub bundle_id: Option<String>,
    /// Who built it; `None` is `vigil <version>`.
    pub created_by: Option<String>,
}

/// A built bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Built {
    /// The bundle's bytes.
    pub bytes: Vec<u8>,
    /// SHA-256 of `bytes`.
    pub sha256: [u8; 32],
    /// The signing key's id; `None` when unsigned.
    pub key_id: Option<KeyId>,
    /// Number of rules.
    pub rules: usize,
    /// Whether the debug section is included.
    pub debug: bool,
}

impl Built {
    /// SHA-256 of the bytes as 64 lower-case hex digits.
    pub fn sha256_hex(&self) -> String {
        to_hex(&self.sha256)
    }
}

/// The default bundle id: 16 hex digits of the program's canonical hash, and the content
/// version (`3f2a…-v7`). The same program at the same version always gets the same id.
pub fn default_bundle_id(compiled: &Compiled, content_version: u64) -> String {
    let hash = program_hash(compiled.program());
    let head = hash.get(..8).unwrap_or(&hash[..]);
    format!("{}-v{content_version}", to_hex(head))
}

/// Builds the bundle of `compiled`: signed by `key`, or unsigned when `key` is `None`.
///
/// # Errors
/// [`ErrorCode::BelowMinVersion`] when `min_version` is above `content_version` (every runtime
/// would refuse the bundle), and the runtime encoder's errors (a section over its size limit).
pub fn build(
    compiled: &Compiled,
    opts: &BuildOptions,
    key: Option<&Keypair>,
) -> Result<Built, BundleError> {
    if let Some(min) = opts.min_version {
        if min > opts.content_version {
            return Err(BundleError::new(
                ErrorCode::BelowMinVersion,
                format!(
                    "the minimum version {min} is above the content version {}: every runtime \
                     would refuse the bundle",
                    opts.content_version
                ),
            ));
        }
    }
    let header = HeaderInput {
        min_runtime: opts.min_runtime,
        content_version: opts.content_version,
        min_version: opts.min_version,
        expires_unix: opts.expires_unix,
        bundle_id: opts
            .bundle_id
            .clone()
            .unwrap_or_else(|| default_bundle_id(compiled, opts.content_version)),
        created_by: opts
            .created_by
            .clone()
            .unwrap_or_else(|| format!("vigil {}", env!("CARGO_PKG_VERSION"))),
    };
    let debug = (!opts.strip).then_some(&compiled.debug);
    let bytes = encode(
        compiled.program(),
        debug,
        &header,
        key.map(Keypair::signing_key),
    )?;
    Ok(Built {
        sha256: Sha256::digest(&bytes).into(),
        bytes,
        key_id: key.map(Keypair::key_id),
        rules: compiled.program().rules.len(),
        debug: !opts.strip,
    })
}

#[cfg(test)]
mod tests {
    use vigil_runtime::budget::Budget;
    use vigil_runtime::bundle::{decode, load, TrustStore};
    use vigil_runtime::schema::Schema;

    use super::*;
    use crate::compile::compile;
    use crate::{Options, Sources};

    fn compiled() -> Compiled {
        let mut sources = Sources::with_stdlib();
        sources.add(
            "t.vgl",
            "rule r { on process_start when image iendswith \"\\\\cmd.exe\" }",
        );
        compile(
            &sources,
            &Schema::endpoint(),
            &Options::default(),
            &Budget::default(),
        )
        .expect("compiles")
    }

    #[test]
    fn builds_are_deterministic_and_strip_before_signing() {
        let c = compiled();
        let key = Keypair::from_seed(&[3; 32]);
        let opts = BuildOptions {
            content_version: 7,
            ..BuildOptions::default()
        };
        let a = build(&c, &opts, Some(&key)).expect("builds");
        let b = build(&c, &opts, Some(&key)).expect("builds");
        assert_eq!(a, b);
        assert_eq!(a.key_id, Some(key.key_id()));
        let stripped = build(
            &c,
            &BuildOptions {
                strip: true,
                ..opts.clone()
            },
            Some(&key),
        )
        .expect("builds");
        assert!(stripped.bytes.len() < a.bytes.len());
        let mut trust = TrustStore::new();
        trust.trust(key.verifying_key());
        for bytes in [&a.bytes, &stripped.bytes] {
            let loaded =
                load(bytes, &Schema::endpoint(), &trust, &Budget::default(), 0).expect("loads");
            assert_eq!(loaded.header.content_version, 7);
        }
        let decoded = decode(&stripped.bytes).expect("decodes");
        assert!(decoded.debug.is_none());
        assert!(decoded.header.bundle_id.ends_with("-v7"));
        assert_eq!(decoded.header.expires_unix, None);
    }

    #[test]
    fn a_minimum_above_the_content_version_is_refused() {
        let opts = BuildOptions {
            content_version: 1,
            min_version: Some(2),
            ..BuildOptions::default()
        };
        let err = build(&compiled(), &opts, None).expect_err("refused");
        assert_eq!(err.code, ErrorCode::BelowMinVersion);
    }
}
