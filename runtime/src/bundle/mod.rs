//! Bundles: the signed byte format a compiled program travels in ([`mod@format`]), keys and trust
//! ([`mod@sign`]; making keys and signing need the `sign` feature, verifying does not), and loading ([`mod@load`]: decode, authenticate, check expiry, bind, verify). E05xx.
//!
//! Nothing unverified leaves this module: [`load()`] returns a [`Loaded`] whose program is a
//! [`crate::verify::Verified`], or a [`LoadError`] with coded errors.

pub mod format;
pub mod load;
pub mod sign;

use std::fmt;

use crate::error::ErrorCode;

pub use format::{
    decode, encode, rule_meta, DecodedBundle, FieldsSection, Header, HeaderInput, RuleMeta,
    RuntimeVersion, FORMAT_VERSION, MAGIC, MAX_HEADER_BYTES, MAX_SECTION_BYTES,
};
pub use load::{load, LoadError, Loaded};
#[cfg(feature = "sign")]
pub use sign::Keypair;
pub use sign::{key_id, parse_public_key_text, public_key_text, KeyId, TrustStore};

/// A bundle or key file error (E05xx).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleError {
    /// The code.
    pub code: ErrorCode,
    /// Lower case, names in backticks, no final period.
    pub message: String,
}

impl BundleError {
    /// An error with code `code`.
    pub fn new(code: ErrorCode, message: String) -> BundleError {
        BundleError { code, message }
    }
}

impl fmt::Display for BundleError {
    /// `error[E0511]: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error[{}]: {}", self.code, self.message)
    }
}

impl std::error::Error for BundleError {}
