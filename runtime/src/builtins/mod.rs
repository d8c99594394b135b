//! The builtin functions of the language: ONE registry ([`BUILTINS`], in `table.rs`) that the
//! type checker (signature), the verifier (cost, purity, result bounds), the interpreter and
//! the constant folder (`eval`), the JIT (same algorithms) and the docs all read. Nobody else
//! keeps a list of builtins.
//!
//! The algorithms live in one file per family ([`string`], [`path`]) as plain functions over
//! `&str` that borrow where they can; `eval` wraps them over [`crate::value::Value`]s.

pub mod path;
pub mod string;
mod table;

pub use table::{
    get, lookup, result_max_len, Builtin, BuiltinId, Cost, EvalFn, JitLowering, ParamTy, Purity,
    RetLen, BUILTINS,
};

#[cfg(test)]
mod tests;
