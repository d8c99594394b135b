//! Shared support for the Vigil crates' tests and benchmarks. Adding a test case is adding a
//! file; this crate is what makes that true everywhere:
//!
//! - [`golden`]: the golden-file loop (walk a folder of cases, compare each case's output with
//!   its expected file, rewrite them under `VIGIL_BLESS=1`, fail on expected files no case
//!   produces);
//! - [`rng`]: the one pseudo-random generator (SplitMix64) of tests, benchmarks and fuzz
//!   targets, deterministic in its seed;
//! - [`builder`]: a tiny IR builder (programs over a schema, bound and verified as a bundle
//!   would be);
//! - [`testgen`]: the one random-program generator (well-typed IR within the verifier's
//!   limits), which reads the builtins from the runtime's table;
//! - [`examples`]: the parser of the builtin table's examples (`name(arg, ...)`, literals);
//! - [`tree`]: the walk over the repository's own files that the whole-tree checks share.
//!
//! Never a dependency of a library: only of tests, benchmarks and fuzz targets.

pub mod builder;
pub mod examples;
pub mod golden;
pub mod rng;
pub mod testgen;
pub mod tree;
