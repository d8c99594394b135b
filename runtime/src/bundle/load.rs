//! Loading a bundle: the one path from bytes to a runnable program.
//!
//! [`load`] = frame the bytes and decode the header -> check the signature against the
//! [`TrustStore`] (before the IR is decoded: nothing unauthenticated is parsed beyond the
//! header) -> check expiry and the signed minimum version -> decode the sections -> bind to the
//! host schema -> verify under the host's budget. Any failure is a [`LoadError`] carrying the
//! coded errors; the caller keeps the bundle it had. Content-version rollback protection across
//! loads (refusing a version below the highest accepted) belongs to the update layer, which
//! reads [`Header::content_version`] and [`Header::min_version`] from [`Loaded::header`].

use std::fmt;

use sha2::{Digest, Sha256};

use super::format::{decode_body, decode_header, frame, Header};
use super::sign::TrustStore;
use super::BundleError;
use crate::bind::{bind, BindError};
use crate::budget::Budget;
use crate::error::ErrorCode;
use crate::ir::DebugInfo;
use crate::schema::Schema;
use crate::verify::{verify, Verified, VerifyError};

/// A bundle that decoded, authenticated, bound and verified.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// Its header.
    pub header: Header,
    /// The verified program, bound to the host.
    pub verified: Verified,
    /// Its debug section, if it has one.
    pub debug: Option<DebugInfo>,
    /// SHA-256 of the whole bundle's bytes.
    pub sha256: [u8; 32],
}

/// Why a bundle did not load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// Its bytes, signature, expiry or versions (E05xx).
    Bundle(BundleError),
    /// Binding to the host schema (E06xx).
    Bind(Vec<BindError>),
    /// Verification (E04xx, E0627).
    Verify(Vec<VerifyError>),
}

impl LoadError {
    /// The code of the first error.
    pub fn code(&self) -> ErrorCode {
        self.codes()
            .first()
            .copied()
            .unwrap_or(ErrorCode::MalformedSection)
    }

    /// Every error's code.
    pub fn codes(&self) -> Vec<ErrorCode> {
        match self {
            LoadError::Bundle(e) => vec![e.code],
            LoadError::Bind(v) => v.iter().map(|e| e.code).collect(),
            LoadError::Verify(v) => v.iter().map(|e| e.code).collect(),
        }
    }
}

impl fmt::Display for LoadError {
    /// One error per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Bundle(e) => write!(f, "{e}"),
            LoadError::Bind(v) => {
                let lines: Vec<String> = v.iter().map(ToString::to_string).collect();
                f.write_str(&lines.join("\n"))
            }
            LoadError::Verify(v) => {
                let lines: Vec<String> = v.iter().map(ToString::to_string).collect();
                f.write_str(&lines.join("\n"))
            }
        }
    }
}

impl std::error::Error for LoadError {}

impl From<BundleError> for LoadError {
    fn from(e: BundleError) -> LoadError {
        LoadError::Bundle(e)
    }
}

/// Loads a bundle for host schema `host`, trusting `trust`, under `budget`, at time
/// `now_unix` (seconds).
pub fn load(
    bytes: &[u8],
    host: &Schema,
    trust: &TrustStore,
    budget: &Budget,
    now_unix: u64,
) -> Result<Loaded, LoadError> {
    let frame = frame(bytes)?;
    let header = decode_header(&frame)?;
    trust.check(header.key_id, frame.signature.as_ref(), frame.signed)?;
    if let Some(expires) = header.expires_unix {
        if now_unix >= expires {
            return Err(BundleError::new(
                ErrorCode::Expired,
                format!("the bundle expired at {expires} (Unix seconds), it is now {now_unix}"),
            )
            .into());
        }
    }
    if let Some(min) = header.min_version {
        if header.content_version < min {
            return Err(BundleError::new(
                ErrorCode::BelowMinVersion,
                format!(
                    "the bundle's content version {} is below its minimum version {min}",
                    header.content_version
                ),
            )
            .into());
        }
    }
    let decoded = decode_body(&frame, header)?;
    let binding = bind(&decoded.program, host).map_err(LoadError::Bind)?;
    let verified = verify(decoded.program, binding, budget).map_err(LoadError::Verify)?;
    Ok(Loaded {
        header: decoded.header,
        verified,
        debug: decoded.debug,
        sha256: Sha256::digest(bytes).into(),
    })
}
