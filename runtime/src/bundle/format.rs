//! The bundle byte layout: [`encode`] and [`decode`] (E0501–E0507, E0514, E0515).
//!
//! ```text
//! offset  size  content
//! ------  ----  ---------------------------------------------------------------------------
//!      0     8  magic "VIGLBNDL"
//!      8     2  format version, u16 little-endian (FORMAT_VERSION = 1)
//!     10     …  sections, in this order, each framed as
//!                  kind: u8 | length: u32 little-endian | `length` bytes of body
//!               0x01 HEADER     postcard(Header)               required, <= 64 KiB
//!               0x02 FIELDS     postcard(FieldsSection)        required: schema + field requirements
//!               0x03 RULES      postcard(Vec<RuleMeta>)        required: id, name, title, severity, shadow
//!               0x04 IR         postcard(ir::Program)          required
//!               0x05 DEBUG      postcard(ir::DebugInfo)        optional (stripped before signing)
//!               0x7F SIGNATURE  64 bytes: ed25519 over every   present iff the header names a key;
//!                               byte before this section's      always last
//!                               kind byte
//! ```
//!
//! Every section but the signature is at most [`MAX_SECTION_BYTES`] (64 MiB; the header
//! [`MAX_HEADER_BYTES`]); nothing may follow the last section. The FIELDS and RULES sections
//! repeat what the IR holds, so that tools (and a host checking requirements) can read them
//! without decoding the IR; [`decode`] refuses a bundle whose copies disagree.
//!
//! Decoding is total and bounded: each length is checked against the bytes that remain and the
//! limits before anything is read, and postcard decodes from a slice of known length (every
//! element of every IR list takes at least one byte, so no length prefix can make it allocate
//! or loop beyond a small multiple of the section's size; the IR has no recursive types, so no
//! nesting can exhaust the stack). [`encode`] is deterministic: the same inputs give the same
//! bytes.

use ed25519_dalek::{Signer, SigningKey};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::sign::{key_id, KeyId};
use super::BundleError;
use crate::error::ErrorCode;
use crate::ir::{DebugInfo, FieldReq, Program, SchemaRef, Severity, IR_VERSION};

/// The first eight bytes of every bundle.
pub const MAGIC: &[u8; 8] = b"VIGLBNDL";
/// The format version this runtime writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Largest section body.
pub const MAX_SECTION_BYTES: usize = 64 << 20;
/// Largest header body.
pub const MAX_HEADER_BYTES: usize = 64 << 10;
/// Bytes of a section's frame (kind and length).
const FRAME_BYTES: usize = 5;
/// Bytes of an ed25519 signature.
pub const SIGNATURE_BYTES: usize = 64;

/// Section kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    Header = 0x01,
    Fields = 0x02,
    Rules = 0x03,
    Ir = 0x04,
    Debug = 0x05,
    Signature = 0x7F,
}

/// A runtime version `major.minor.patch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RuntimeVersion {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch.
    pub patch: u32,
}

impl RuntimeVersion {
    /// This runtime's version (the crate's).
    pub fn current() -> RuntimeVersion {
        let mut parts = env!("CARGO_PKG_VERSION")
            .split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0));
        RuntimeVersion {
            major: parts.next().unwrap_or(0),
            minor: parts.next().unwrap_or(0),
            patch: parts.next().unwrap_or(0),
        }
    }
}

impl std::fmt::Display for RuntimeVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The bundle header (section 0x01).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The oldest runtime that may load the bundle.
    pub min_runtime: RuntimeVersion,
    /// The IR version of the program ([`IR_VERSION`]).
    pub ir_version: u32,
    /// The schema the program was built against.
    pub schema: SchemaRef,
    /// The content version: a runtime refuses one below the highest it has accepted.
    pub content_version: u64,
    /// A signed floor: the bundle is refused if its content version is below it, and a runtime
    /// that accepts the bundle refuses content below it from then on.
    pub min_version: Option<u64>,
    /// Expiry, in Unix seconds: refused at or after this time.
    pub expires_unix: Option<u64>,
    /// The signing key's id; `None` for an unsigned bundle.
    pub key_id: Option<KeyId>,
    /// An identifier of this build.
    pub bundle_id: String,
    /// Who built it (tool and version, pipeline).
    pub created_by: String,
}

/// What a builder supplies for the header; the rest comes from the program and the key.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct HeaderInput {
    /// The oldest runtime that may load the bundle; `None` is this runtime's version.
    pub min_runtime: Option<RuntimeVersion>,
    /// See [`Header::content_version`].
    pub content_version: u64,
    /// See [`Header::min_version`].
    pub min_version: Option<u64>,
    /// See [`Header::expires_unix`].
    pub expires_unix: Option<u64>,
    /// See [`Header::bundle_id`].
    pub bundle_id: String,
    /// See [`Header::created_by`].
    pub created_by: String,
}

/// The field-requirements section (0x02).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldsSection {
    /// The schema.
    pub schema: SchemaRef,
    /// The requirements, as in the program.
    pub fields: Vec<FieldReq>,
}

/// One rule's metadata (section 0x03).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleMeta {
    /// Rule id.
    pub id: String,
    /// Rule name.
    pub name: String,
    /// Title.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// Shadow rule.
    pub shadow: bool,
}

/// A decoded bundle: not yet authenticated, bound or verified.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedBundle {
    /// The header.
    pub header: Header,
    /// The field requirements section.
    pub fields: FieldsSection,
    /// The rule metadata section.
    pub rules: Vec<RuleMeta>,
    /// The program.
    pub program: Program,
    /// The debug section, if any.
    pub debug: Option<DebugInfo>,
    /// The signature, if any.
    pub signature: Option<[u8; SIGNATURE_BYTES]>,
    /// How many leading bytes the signature covers.
    pub signed_len: usize,
}

/// The metadata of each rule of a program.
pub fn rule_meta(program: &Program) -> Vec<RuleMeta> {
    program
        .rules
        .iter()
        .map(|r| RuleMeta {
            id: r.id.clone(),
            name: r.name.clone(),
            title: r.title.clone(),
            severity: r.severity,
            shadow: r.shadow,
        })
        .collect()
}

fn postcard_bytes<T: Serialize>(value: &T, what: &str) -> Result<Vec<u8>, BundleError> {
    postcard::to_allocvec(value).map_err(|e| {
        BundleError::new(
            ErrorCode::MalformedSection,
            format!("cannot encode the {what}: {e}"),
        )
    })
}

fn push_section(out: &mut Vec<u8>, kind: Kind, body: &[u8], max: usize) -> Result<(), BundleError> {
    let len = u32::try_from(body.len())
        .ok()
        .filter(|_| body.len() <= max)
        .ok_or_else(|| {
            BundleError::new(
                ErrorCode::SectionTooLarge,
                format!(
                    "the {kind:?} section is {} bytes, the limit is {max}",
                    body.len()
                ),
            )
        })?;
    out.push(kind as u8);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(body);
    Ok(())
}

/// Encodes (and, given a key, signs) a bundle. Deterministic. Fails only when a section is
/// over its size limit.
pub fn encode(
    program: &Program,
    debug: Option<&DebugInfo>,
    header: &HeaderInput,
    key: Option<&SigningKey>,
) -> Result<Vec<u8>, BundleError> {
    let full = Header {
        min_runtime: header.min_runtime.unwrap_or_else(RuntimeVersion::current),
        ir_version: IR_VERSION,
        schema: program.schema.clone(),
        content_version: header.content_version,
        min_version: header.min_version,
        expires_unix: header.expires_unix,
        key_id: key.map(|k| key_id(&k.verifying_key())),
        bundle_id: header.bundle_id.clone(),
        created_by: header.created_by.clone(),
    };
    let fields = FieldsSection {
        schema: program.schema.clone(),
        fields: program.fields.clone(),
    };
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    push_section(
        &mut out,
        Kind::Header,
        &postcard_bytes(&full, "header")?,
        MAX_HEADER_BYTES,
    )?;
    push_section(
        &mut out,
        Kind::Fields,
        &postcard_bytes(&fields, "field requirements")?,
        MAX_SECTION_BYTES,
    )?;
    push_section(
        &mut out,
        Kind::Rules,
        &postcard_bytes(&rule_meta(program), "rule metadata")?,
        MAX_SECTION_BYTES,
    )?;
    push_section(
        &mut out,
        Kind::Ir,
        &postcard_bytes(program, "program")?,
        MAX_SECTION_BYTES,
    )?;
    if let Some(debug) = debug {
        push_section(
            &mut out,
            Kind::Debug,
            &postcard_bytes(debug, "debug section")?,
            MAX_SECTION_BYTES,
        )?;
    }
    if let Some(key) = key {
        let signature = key.sign(&out);
        push_section(
            &mut out,
            Kind::Signature,
            &signature.to_bytes(),
            SIGNATURE_BYTES,
        )?;
    }
    Ok(out)
}

/// A bundle's sections, located but not decoded.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frame<'a> {
    pub(crate) header: &'a [u8],
    pub(crate) fields: &'a [u8],
    pub(crate) rules: &'a [u8],
    pub(crate) ir: &'a [u8],
    pub(crate) debug: Option<&'a [u8]>,
    pub(crate) signature: Option<[u8; SIGNATURE_BYTES]>,
    /// The bytes the signature covers.
    pub(crate) signed: &'a [u8],
}

/// Locates the sections: magic, version, each frame's length against what remains and the
/// limits, order, nothing after the end.
pub(crate) fn frame(bytes: &[u8]) -> Result<Frame<'_>, BundleError> {
    if bytes.len() < MAGIC.len() || !bytes.starts_with(MAGIC) {
        return Err(BundleError::new(
            ErrorCode::NotABundle,
            "the bytes do not start with `VIGLBNDL`".to_string(),
        ));
    }
    let version = match bytes.get(8..10) {
        Some(&[a, b]) => u16::from_le_bytes([a, b]),
        _ => {
            return Err(BundleError::new(
                ErrorCode::Truncated,
                "the bundle ends inside its format version".to_string(),
            ))
        }
    };
    if version != FORMAT_VERSION {
        return Err(BundleError::new(
            ErrorCode::UnsupportedFormat,
            format!("format version {version}, this runtime reads {FORMAT_VERSION}"),
        ));
    }
    let mut pos = 10usize;
    let mut sections: Vec<(u8, &[u8], usize)> = Vec::new();
    while pos < bytes.len() {
        let start = pos;
        let (Some(&kind), Some(len_bytes)) =
            (bytes.get(pos), bytes.get(pos + 1..pos + FRAME_BYTES))
        else {
            return Err(BundleError::new(
                ErrorCode::Truncated,
                format!("the bundle ends inside a section frame at byte {pos}"),
            ));
        };
        let len_bytes: [u8; 4] = len_bytes.try_into().unwrap_or([0xFF; 4]);
        let len = u32::from_le_bytes(len_bytes) as usize;
        let max = match kind {
            k if k == Kind::Header as u8 => MAX_HEADER_BYTES,
            k if k == Kind::Signature as u8 => SIGNATURE_BYTES,
            _ => MAX_SECTION_BYTES,
        };
        if len > max {
            return Err(BundleError::new(
                ErrorCode::SectionTooLarge,
                format!("section 0x{kind:02x} at byte {pos} is {len} bytes, the limit is {max}"),
            ));
        }
        let body_start = pos + FRAME_BYTES;
        let Some(body) = body_start
            .checked_add(len)
            .and_then(|end| bytes.get(body_start..end))
        else {
            return Err(BundleError::new(
                ErrorCode::Truncated,
                format!(
                    "section 0x{kind:02x} at byte {pos} declares {len} bytes, {} remain",
                    bytes.len().saturating_sub(body_start)
                ),
            ));
        };
        sections.push((kind, body, start));
        pos = body_start + len;
        if sections.len() > 6 {
            break; // more sections than the layout has: reported below
        }
    }

    let expected_required = [Kind::Header, Kind::Fields, Kind::Rules, Kind::Ir];
    let layout = |what: String| BundleError::new(ErrorCode::BadSectionLayout, what);
    let mut it = sections.iter().copied().peekable();
    let mut required: Vec<&[u8]> = Vec::with_capacity(4);
    for kind in expected_required {
        match it.next() {
            Some((k, body, _)) if k == kind as u8 => required.push(body),
            Some((k, _, at)) => {
                return Err(layout(format!(
                    "section 0x{k:02x} at byte {at} where the {kind:?} section must be"
                )))
            }
            None => {
                return Err(BundleError::new(
                    ErrorCode::Truncated,
                    format!("the bundle ends before its {kind:?} section"),
                ))
            }
        }
    }
    let debug = match it.peek() {
        Some(&(k, body, _)) if k == Kind::Debug as u8 => {
            it.next();
            Some(body)
        }
        _ => None,
    };
    let (signature, signed) = match it.next() {
        None => (None, bytes),
        Some((k, body, at)) if k == Kind::Signature as u8 => {
            let sig: [u8; SIGNATURE_BYTES] = body.try_into().map_err(|_| {
                BundleError::new(
                    ErrorCode::MalformedSection,
                    format!(
                        "the signature is {} bytes, it must be {SIGNATURE_BYTES}",
                        body.len()
                    ),
                )
            })?;
            (Some(sig), bytes.get(..at).unwrap_or_default())
        }
        Some((k, _, at)) => {
            return Err(layout(format!("unexpected section 0x{k:02x} at byte {at}")));
        }
    };
    if let Some((k, _, at)) = it.next() {
        return Err(layout(format!(
            "section 0x{k:02x} at byte {at} follows the end of the bundle"
        )));
    }
    if pos != bytes.len() {
        return Err(layout(format!(
            "bytes follow the end of the bundle at byte {pos}"
        )));
    }
    let [header, fields, rules, ir] = required[..] else {
        return Err(layout("the bundle lacks a required section".to_string()));
    };
    Ok(Frame {
        header,
        fields,
        rules,
        ir,
        debug,
        signature,
        signed,
    })
}

/// Decodes one postcard section; every byte must be used.
fn section<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, BundleError> {
    match postcard::take_from_bytes::<T>(body) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(BundleError::new(
            ErrorCode::MalformedSection,
            format!(
                "the {what} section has {} bytes past its content",
                rest.len()
            ),
        )),
        Err(e) => Err(BundleError::new(
            ErrorCode::MalformedSection,
            format!("the {what} section does not decode: {e}"),
        )),
    }
}

/// Decodes the header and checks the versions it names.
pub(crate) fn decode_header(frame: &Frame<'_>) -> Result<Header, BundleError> {
    let header: Header = section(frame.header, "header")?;
    let current = RuntimeVersion::current();
    if header.min_runtime > current {
        return Err(BundleError::new(
            ErrorCode::RuntimeTooOld,
            format!(
                "the bundle needs runtime {} or newer, this is {current}",
                header.min_runtime
            ),
        ));
    }
    if header.ir_version != IR_VERSION {
        return Err(BundleError::new(
            ErrorCode::UnsupportedIr,
            format!(
                "IR version {}, this runtime runs {IR_VERSION}",
                header.ir_version
            ),
        ));
    }
    match (header.key_id.is_some(), frame.signature.is_some()) {
        (true, false) => Err(BundleError::new(
            ErrorCode::BadSectionLayout,
            "the header names a signing key, but the bundle has no signature".to_string(),
        )),
        (false, true) => Err(BundleError::new(
            ErrorCode::BadSectionLayout,
            "the bundle has a signature, but the header names no key".to_string(),
        )),
        _ => Ok(header),
    }
}

/// Decodes the sections after the header and checks that they agree.
pub(crate) fn decode_body(frame: &Frame<'_>, header: Header) -> Result<DecodedBundle, BundleError> {
    let fields: FieldsSection = section(frame.fields, "field requirements")?;
    let rules: Vec<RuleMeta> = section(frame.rules, "rule metadata")?;
    let program: Program = section(frame.ir, "IR")?;
    let debug: Option<DebugInfo> = frame.debug.map(|d| section(d, "debug")).transpose()?;
    let mismatch = |what: &str| BundleError::new(ErrorCode::SectionMismatch, what.to_string());
    if header.schema != program.schema || fields.schema != program.schema {
        return Err(mismatch(
            "the header, the field requirements and the IR name different schemas",
        ));
    }
    if fields.fields != program.fields {
        return Err(mismatch(
            "the field-requirements section disagrees with the IR",
        ));
    }
    if rules != rule_meta(&program) {
        return Err(mismatch("the rule-metadata section disagrees with the IR"));
    }
    Ok(DecodedBundle {
        header,
        fields,
        rules,
        program,
        debug,
        signature: frame.signature,
        signed_len: frame.signed.len(),
    })
}

/// Decodes a bundle without authenticating it (see [`super::load()`] for the whole path).
pub fn decode(bytes: &[u8]) -> Result<DecodedBundle, BundleError> {
    let frame = frame(bytes)?;
    let header = decode_header(&frame)?;
    decode_body(&frame, header)
}
