//! Signing keys for the tests, from fixed seeds. The runtime's own `bundle::Keypair` exists only
//! with its `sign` feature; these tests also run against the interpreter-only runtime
//! (`--no-default-features`), which still verifies signatures, so they sign with the raw
//! ed25519 key and the always-built `bundle::encode`.

use ed25519_dalek::{SigningKey, VerifyingKey};
use vigil_runtime::bundle::{key_id, KeyId};

/// A signing key pair with a fixed seed.
#[derive(Clone, Debug)]
pub(crate) struct Keypair {
    signing: SigningKey,
}

impl Keypair {
    /// The key pair with this 32-byte secret seed.
    pub(crate) fn from_seed(seed: &[u8; 32]) -> Keypair {
        Keypair {
            signing: SigningKey::from_bytes(seed),
        }
    }

    /// The signing key.
    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// The public key.
    pub(crate) fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The key id.
    pub(crate) fn key_id(&self) -> KeyId {
        key_id(&self.verifying_key())
    }
}
