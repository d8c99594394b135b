//! The one input layer: every whole-file read (rule sources, bundles, schema, mapping, key and
//! revocation files, Sigma YAML), every folder walk and every event input of the CLI and the
//! agent goes through it.
//!
//! - [`files`]: bounded whole-file readers (file types checked before reading, caps, bundles
//!   read magic first) and the [`Walker`] (symlink loops entered once, each file once).
//! - [`lines`]: the bounded line reader (16 MiB a line), with room for a file still being
//!   written (`--follow`).
//! - [`events`]: event inputs ([`Input`], [`EventSource`]: files, folders, gzip, EVTX, stdin)
//!   and the decoder they go through ([`make_decoder`]).
//! - [`evtx`] (feature `evtx`): Windows event log files as JSON lines, one per record.
//! - [`issues`]: what an input's reader met that is not a line of it (EVTX damage, E0720–E0729).

pub mod events;
#[cfg(feature = "evtx")]
pub mod evtx;
pub mod files;
pub mod issues;
pub mod lines;

pub use events::{
    collect_inputs, is_events_file, is_evtx_name, make_decoder, open_events, open_events_with,
    EventSource, Input,
};
pub use files::Walker;
pub use issues::{InputIssue, Issues};
