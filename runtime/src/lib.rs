//! Vigil runtime: what an endpoint agent embeds to load, verify and run Vigil rule bundles.
//!
//! This crate must stay small: no parser, no CLI, no diagnostic renderer. The compiler depends on
//! it (for the types, the schema, the builtin registry, the IR and the verifier), never the
//! other way round.
//!
//! # The embedding API
//!
//! The types an agent needs are re-exported here; the modules hold the rest.
//!
//! - **Schema** ([`Schema`]): the host's event types and fields, with their bounds
//!   (`Schema::endpoint()` for the standard one, or a schema TOML file).
//! - **Bundles** ([`load()`], [`TrustStore`], [`Loaded`], [`LoadError`]): decode a bundle,
//!   check its signature against the trusted keys, its expiry, bind it to the host schema and
//!   verify it; nothing unverified is ever run. [`Budget`] is the host's cost and state budget.
//! - **Running** ([`Engine`], [`EngineOptions`], [`EngineKind`], [`EngineStats`]): one
//!   verified program over events, alerts through a callback. Conditions are evaluated by an
//!   [`Evaluator`]: the reference interpreter ([`Interp`]) or the JIT.
//! - **Deploying** ([`Deployer`], [`DeployOptions`], [`DeployStatus`], [`UpdateOutcome`],
//!   [`UpdateError`], [`ErrorCode`]): bundle updates with downgrade and replay refusal, shadow
//!   candidates, promotion, rollback, persistence and a crash-loop breaker, around an atomic
//!   swap of the running engine. What a long-running agent drives.
//! - **Events** ([`Event`], [`EventBuilder`], [`Source`]): events filled field by field through
//!   the builder, which enforces the schema's bounds; or decoded from JSON lines, natively or
//!   through a mapping ([`Decoder`], [`Mapping`], [`DecodeError`]).
//! - **Alerts** ([`Alert`], [`BundleInfo`]): what fires, with JSON-lines output.
//!
//! The API never panics across its boundary: errors are typed values with codes
//! (`error[E0511]: ...`); every code is a row of the one registry, [`ErrorCode`].
//!
//! # Features
//!
//! As wasmtime does, the full runtime is the default and a host can take less:
//!
//! - `jit` (default): Cranelift-compiled rule conditions ([`EngineKind::Jit`], the `jit`
//!   module). Without it the runtime is the interpreter alone, with no code generator linked
//!   (for a host that forbids generated code); asking for the JIT is then a refusal,
//!   [`EngineError::JitNotBuilt`], never a panic. [`EngineKind::fastest`] names what is built.
//! - `sign` (default): making keys and signing (`bundle::Keypair`, the OS random source).
//!   Verifying signatures is always built.
//! - `testgen`: random well-typed IR programs, for differential tests in other crates.
//!
//! Crates of this workspace take the runtime with `default-features = false` and name the
//! features they use, so an interpreter-only build of one crate is not turned back into a full
//! one by another crate's needs.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod alert;
pub mod bind;
pub mod budget;
pub mod builtins;
pub mod bundle;
pub mod casefold;
pub mod coerce;
pub mod decode;
pub mod deploy;
pub(crate) mod dispatch;
pub mod engine;
pub mod error;
mod eval;
pub mod event;
pub mod hash;
pub mod interp;
pub mod ir;
pub mod ir_text;
#[cfg(feature = "jit")]
pub mod jit;
pub mod matcher;
pub mod ops;
pub mod prefilter;
pub mod schema;
pub mod state;
pub mod types;
pub mod value;
pub mod verify;

pub use alert::{Alert, BundleInfo};
pub use budget::{Budget, Limits};
#[cfg(feature = "sign")]
pub use bundle::Keypair;
pub use bundle::{load, BundleError, KeyId, LoadError, Loaded, TrustStore};
pub use decode::{DecodeError, DecodeStats, Decoder, Mapping};
pub use deploy::{
    DeployOptions, DeployStatus, Deployer, Processed, PromotionPolicy, UpdateError, UpdateOutcome,
};
pub use engine::{Engine, EngineKind, EngineOptions, EngineStats};
pub use error::ErrorCode;
pub use eval::{EngineError, EvalError, Evaluator};
pub use event::{Event, EventBuilder, Source};
pub use interp::Interp;
pub use schema::{EventTypeId, FieldIndex, Schema, SchemaError};
pub use value::Value;
pub use verify::{Verified, VerifyError};
