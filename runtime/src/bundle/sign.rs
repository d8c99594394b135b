//! Keys and signatures: ed25519 key pairs, key ids, the [`TrustStore`] a runtime loads bundles
//! under, and the key file formats (E0508–E0511, E0516).
//!
//! A key id is the first 8 bytes of SHA-256 of the 32-byte public key, printed as 16 lower-case
//! hex digits. Key files are text:
//!
//! ```text
//! vigil-ed25519-secret-key v1        (or: vigil-ed25519-public-key v1)
//! keyid: 0123456789abcdef
//! <64 hex digits: the 32-byte secret seed, or the public key>
//! ```
//!
//! Parsing checks the first line, that the key id matches the key, and nothing else follows
//! (a final newline is optional). A secret key file must be kept private by its owner; this
//! module never writes files itself.

use std::collections::HashSet;
use std::fmt;

#[cfg(feature = "sign")]
use ed25519_dalek::SigningKey;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::BundleError;
use crate::error::ErrorCode;
use crate::hash::to_hex;

/// A key's id: the first 8 bytes of SHA-256 of its public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KeyId(pub [u8; 8]);

impl fmt::Display for KeyId {
    /// 16 lower-case hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

impl KeyId {
    /// Parses 16 hex digits.
    pub fn parse(text: &str) -> Option<KeyId> {
        let bytes = from_hex(text)?;
        Some(KeyId(bytes.try_into().ok()?))
    }
}

/// The id of a public key.
pub fn key_id(key: &VerifyingKey) -> KeyId {
    let digest = Sha256::digest(key.as_bytes());
    let mut id = [0u8; 8];
    id.copy_from_slice(digest.get(..8).unwrap_or(&[0; 8]));
    KeyId(id)
}

/// A signing key pair (feature `sign`: a runtime that only loads bundles has no keys to make
/// or sign with; verification is always built).
#[cfg(feature = "sign")]
#[derive(Clone, Debug)]
pub struct Keypair {
    signing: SigningKey,
}

#[cfg(feature = "sign")]
impl Keypair {
    /// A fresh key pair from the operating system's random source.
    pub fn generate() -> Keypair {
        let mut rng = rand_core::OsRng;
        Keypair {
            signing: SigningKey::generate(&mut rng),
        }
    }

    /// The key pair with this 32-byte secret seed (deterministic; for tests and key files).
    pub fn from_seed(seed: &[u8; 32]) -> Keypair {
        Keypair {
            signing: SigningKey::from_bytes(seed),
        }
    }

    /// The signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// The public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The key id.
    pub fn key_id(&self) -> KeyId {
        key_id(&self.verifying_key())
    }

    /// The secret key file's text.
    pub fn to_secret_text(&self) -> String {
        key_text(SECRET_LINE, self.key_id(), self.signing.as_bytes())
    }

    /// The public key file's text.
    pub fn to_public_text(&self) -> String {
        public_key_text(&self.verifying_key())
    }

    /// Parses a secret key file.
    pub fn parse_secret_text(text: &str) -> Result<Keypair, BundleError> {
        let (id, bytes) = parse_key_text(SECRET_LINE, text)?;
        let pair = Keypair::from_seed(&bytes);
        if pair.key_id() != id {
            return Err(key_error(format!(
                "the file says key id {id}, the key's id is {}",
                pair.key_id()
            )));
        }
        Ok(pair)
    }
}

#[cfg(feature = "sign")]
const SECRET_LINE: &str = "vigil-ed25519-secret-key v1";
const PUBLIC_LINE: &str = "vigil-ed25519-public-key v1";

fn key_error(message: String) -> BundleError {
    BundleError::new(ErrorCode::BadKeyFile, message)
}

fn key_text(first: &str, id: KeyId, bytes: &[u8; 32]) -> String {
    format!("{first}\nkeyid: {id}\n{}\n", to_hex(bytes))
}

/// The public key file's text.
pub fn public_key_text(key: &VerifyingKey) -> String {
    key_text(PUBLIC_LINE, key_id(key), key.as_bytes())
}

/// Parses a public key file.
pub fn parse_public_key_text(text: &str) -> Result<VerifyingKey, BundleError> {
    let (id, bytes) = parse_key_text(PUBLIC_LINE, text)?;
    let key = VerifyingKey::from_bytes(&bytes)
        .map_err(|_| key_error("the public key is not a valid ed25519 point".to_string()))?;
    if key_id(&key) != id {
        return Err(key_error(format!(
            "the file says key id {id}, the key's id is {}",
            key_id(&key)
        )));
    }
    Ok(key)
}

fn parse_key_text(first: &str, text: &str) -> Result<(KeyId, [u8; 32]), BundleError> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    let lines: Vec<&str> = text.split('\n').collect();
    let [head, id_line, key_line] = lines[..] else {
        return Err(key_error(format!(
            "a key file has 3 lines, this one has {}",
            lines.len()
        )));
    };
    if head != first {
        return Err(key_error(format!("the first line must be `{first}`")));
    }
    let id = id_line
        .strip_prefix("keyid: ")
        .and_then(KeyId::parse)
        .ok_or_else(|| {
            key_error("the second line must be `keyid: ` and 16 hex digits".to_string())
        })?;
    let bytes: [u8; 32] = from_hex(key_line)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| key_error("the third line must be 64 hex digits".to_string()))?;
    Ok((id, bytes))
}

/// Decodes hex digits (either case); `None` on odd length or any other character.
fn from_hex(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    };
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| match pair {
            [hi, lo] => Some(digit(*hi)? << 4 | digit(*lo)?),
            _ => None,
        })
        .collect()
}

/// The keys a runtime trusts, the ones it has revoked, and whether it loads unsigned bundles.
#[derive(Clone, Debug, Default)]
pub struct TrustStore {
    /// Trusted keys with their ids.
    pub keys: Vec<(KeyId, VerifyingKey)>,
    /// Revoked key ids: refused even when also trusted.
    pub revoked: HashSet<KeyId>,
    /// Whether unsigned bundles load (development only).
    pub allow_unsigned: bool,
}

impl TrustStore {
    /// An empty store: refuses everything.
    pub fn new() -> TrustStore {
        TrustStore::default()
    }

    /// Trusts `key`.
    pub fn trust(&mut self, key: VerifyingKey) -> &mut TrustStore {
        self.keys.push((key_id(&key), key));
        self
    }

    /// Revokes key id `id`.
    pub fn revoke(&mut self, id: KeyId) -> &mut TrustStore {
        self.revoked.insert(id);
        self
    }

    /// Checks that `signed` carries a valid `signature` by trusted, unrevoked key `id`; or,
    /// with no key, that unsigned bundles are allowed.
    pub fn check(
        &self,
        id: Option<KeyId>,
        signature: Option<&[u8; 64]>,
        signed: &[u8],
    ) -> Result<(), BundleError> {
        let (id, signature) = match (id, signature) {
            (None, None) if self.allow_unsigned => return Ok(()),
            (None, None) => {
                return Err(BundleError::new(
                    ErrorCode::Unsigned,
                    "the bundle is unsigned, and this runtime loads only signed bundles"
                        .to_string(),
                ))
            }
            (Some(id), Some(sig)) => (id, sig),
            _ => {
                return Err(BundleError::new(
                    ErrorCode::BadSectionLayout,
                    "the bundle's key id and signature do not come together".to_string(),
                ))
            }
        };
        if self.revoked.contains(&id) {
            return Err(BundleError::new(
                ErrorCode::RevokedKey,
                format!("the bundle is signed by key {id}, which is revoked"),
            ));
        }
        let Some((_, key)) = self.keys.iter().find(|(k, _)| *k == id) else {
            return Err(BundleError::new(
                ErrorCode::UnknownKey,
                format!("the bundle is signed by key {id}, which this runtime does not trust"),
            ));
        };
        key.verify_strict(signed, &Signature::from_bytes(signature))
            .map_err(|_| {
                BundleError::new(
                    ErrorCode::BadSignature,
                    format!("the signature by key {id} does not verify"),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The public key of secret seed `seed` (no `Keypair`: verification is built without the
    /// `sign` feature).
    fn public(seed: u8) -> VerifyingKey {
        ed25519_dalek::SigningKey::from_bytes(&[seed; 32]).verifying_key()
    }

    #[cfg(feature = "sign")]
    #[test]
    fn secret_key_files_round_trip_and_check_their_id() {
        let pair = Keypair::from_seed(&[7; 32]);
        let secret = pair.to_secret_text();
        assert!(secret.starts_with("vigil-ed25519-secret-key v1\nkeyid: "));
        let back = Keypair::parse_secret_text(&secret).expect("round trip");
        assert_eq!(back.key_id(), pair.key_id());
        assert_eq!(pair.verifying_key(), public(7));
        assert_eq!(pair.to_public_text(), public_key_text(&public(7)));
        assert!(Keypair::parse_secret_text(&pair.to_public_text()).is_err());
    }

    #[test]
    fn key_files_round_trip_and_check_their_id() {
        let key = public(7);
        let public = public_key_text(&key);
        assert_eq!(parse_public_key_text(&public).expect("round trip"), key);
        assert_eq!(KeyId::parse(&key_id(&key).to_string()), Some(key_id(&key)));

        let other = self::public(8);
        let forged = public.replace(&key_id(&key).to_string(), &key_id(&other).to_string());
        assert_eq!(
            parse_public_key_text(&forged)
                .map(|_| ())
                .map_err(|e| e.code),
            Err(ErrorCode::BadKeyFile)
        );
        for bad in [
            "",
            "vigil-ed25519-public-key v1\n",
            "x\ny\nz\n",
            &public.replace("keyid", "kid"),
        ] {
            assert_eq!(
                parse_public_key_text(bad).map(|_| ()).map_err(|e| e.code),
                Err(ErrorCode::BadKeyFile)
            );
        }
    }

    #[cfg(feature = "sign")]
    #[test]
    fn generated_keys_differ() {
        assert_ne!(Keypair::generate().key_id(), Keypair::generate().key_id());
    }
}
