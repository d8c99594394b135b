//! The one input layer: every whole-file read (rule sources, bundles, schema, mapping, key and
//! revocation files, Sigma YAML), every folder walk and every event input of the CLI and the
//! agent goes through it.
//!
//! - [`files`]: bounded whole-file readers (file types checked before reading, caps, bundles
//!   read magic first) and the [`Walker`] (symlink loops entered once, each file once).
//! - [`lines`]: the bounded line reader (16 MiB a line), with room for a file still being
//!   written (`--follow`).
//! - [`events`]: event inputs ([`Input`], [`EventSource`]: files, folders, gzip, stdin) and the
//!   decoder they go through ([`make_decoder`]).

pub mod events;
pub mod files;
pub mod lines;

pub use events::{collect_inputs, is_events_file, make_decoder, open_events, EventSource, Input};
pub use files::Walker;
