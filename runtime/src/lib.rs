//! Vigil runtime: what an endpoint agent embeds to load, verify and run Vigil rule bundles.
//!
//! This crate must stay small: no parser, no CLI, no diagnostic renderer. The compiler depends on
//! it (for the types, the schema, the builtin registry, the IR and the verifier), never the
//! other way round.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod builtins;
pub mod casefold;
pub mod ir;
pub mod schema;
pub mod types;
pub mod value;
