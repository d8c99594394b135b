//! The integration tests of `vigil-capi`, one module per area: the C API called as a C host
//! calls it (`api`), and the committed header against a fresh generation (`header`).

mod api;
mod header;
