//! Vigil runtime: what an endpoint agent embeds to load, verify and run Vigil rule bundles.
//!
//! This crate must stay small: no parser, no CLI, no diagnostic renderer. The compiler depends on
//! it (for the types, the schema, the builtin registry, the IR and the verifier), never the
//! other way round.

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
pub mod dispatch;
pub mod engine;
pub mod error;
pub mod eval;
pub mod event;
pub mod hash;
pub mod interp;
pub mod ir;
#[cfg(feature = "jit")]
pub mod jit;
pub mod matcher;
pub mod ops;
pub mod prefilter;
pub mod schema;
pub mod state;
#[cfg(any(test, feature = "testgen"))]
pub mod testgen;
pub mod types;
pub mod value;
pub mod verify;
