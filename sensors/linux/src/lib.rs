//! The Vigil Linux sensor (placeholder while the crate is built up).
pub mod procs;
