//! The `vigil` binary end to end: one test binary, one module per area. Every module spawns the
//! binary cargo built for this crate (`CARGO_BIN_EXE_vigil`) from the repository root or a
//! scratch folder, and checks exit codes, stdout, stderr and the files it writes.
//!
//! - [`agent`]: `vigil agent` (bundles folder, shadow and promotion, crash-loop breaker,
//!   `--follow`, hostile bundle files).
//! - [`bundle`]: `keygen`, `build`, `verify`, `inspect`, `explain` and their coded errors.
//! - [`check_build`]: `check` and `build` agree on every `.vgl` file of the repository.
//! - [`inputs`]: one input layer for `run`, `bench` and `diff` (gzip, EVTX, folders, stdin).
//! - [`io`]: hostile files and pipes (devices, FIFOs, symlink loops, truncated gzip, outputs
//!   that are inputs).
//! - [`lsp_editor`]: `vigil lsp` driven by Neovim (headless) as the editor.
//! - [`lsp_protocol`]: `vigil lsp` over stdio: every request, and bad input.
//! - [`run`]: `vigil run` and `vigil test` (engines, bad lines, `--strict`, gzip, stdin,
//!   bundles, mappings).
//! - [`run_threads`]: `--threads N` prints the same bytes as one thread; `vigil bench`.
//! - [`shapes`]: input without `--mapping` (records told by shape), unrouted records, E0715.
//! - [`support`]: the binary under test, running it, scratch folders (`VIGIL_TEST_BIN`).
//! - [`why`]: `vigil why` (reports, coded failures) and `vigil test --explain`.
//! - [`golden`]: the data-driven cases of `tests/golden/` (arguments in, stdout, stderr and
//!   exit code out; `VIGIL_BLESS=1` rewrites them).

mod agent;
mod bundle;
mod check_build;
mod fmt;
mod golden;
mod inputs;
mod io;
mod lsp_editor;
mod lsp_protocol;
mod run;
mod run_threads;
mod shapes;
mod support;
mod why;
