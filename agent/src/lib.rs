//! `vigil-agent`: the Vigil reference agent as a library, for the `vigil` command line and for
//! embedders. It takes compiled programs and bundles from `vigil-runtime` (no parser, no
//! command-line crates) and owns:
//!
//! - [`inputs`]: the one input layer: bounded file readers, folder walks, event inputs (files,
//!   folders, gzip, stdin) and the bounded line reader.
//! - [`pipeline`]: the run pipeline ([`pipeline::Run`]): reader threads, parallel stateless
//!   workers, the ordered stateful stage, alerts written as JSON lines to a sink, the summary.
//! - [`agent`]: the agent loop around [`vigil_runtime::deploy::Deployer`] ([`agent::Agent`]):
//!   the bundles folder watched, shadow and promotion, `status.json`, `--follow`.
//! - [`text`]: terminal-safe text for the reports.
//!
//! Driving a run from Rust:
//!
//! ```no_run
//! # fn demo(prepared: vigil_agent::pipeline::Prepared) -> Result<(), String> {
//! use vigil_agent::inputs::{collect_inputs, make_decoder};
//! use vigil_agent::pipeline::Run;
//!
//! let decoder = make_decoder(None, &prepared.schema, Some(&prepared.fields))?;
//! let mut run = Run::new(&prepared, decoder, false);
//! let mut out = std::io::stdout();
//! for input in collect_inputs(&["events.jsonl".into()])? {
//!     run.input(&input, &mut out, None)?;
//! }
//! run.summary(0.0, "jit", 1);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod agent;
pub mod inputs;
pub mod pipeline;
pub mod text;
