//! The grammar's integration tests: one test binary, one module per area ([`parse`]: every
//! construct, precedence, recovery and each error code; [`hostile`]: input over every limit
//! returns coded errors without panicking or overflowing the stack).

mod hostile;
mod parse;
