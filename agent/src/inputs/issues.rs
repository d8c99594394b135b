//! Problems met while reading an input that are not lines of it: a damaged EVTX chunk or
//! record, a file cut short ([`InputIssue`], codes E0720–E0729). The reader reports them to an
//! [`Issues`] log and goes on with the next record or chunk; the log prints the first few on
//! stderr as they come and keeps counts per code, which the run summary shows.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use vigil_runtime::decode::ErrorCode;

/// Issues printed on stderr per log; the rest are counted only (a note says so).
pub const PRINTED_ISSUES: usize = 20;

/// One problem met while reading an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputIssue {
    /// What went wrong (E0720–E0729).
    pub code: ErrorCode,
    /// The lines (records) the input had given before it.
    pub after_line: u64,
    /// The message, naming the input and the place (chunk, offset, record id).
    pub message: String,
}

/// What an [`Issues`] log holds.
#[derive(Debug, Default)]
struct Log {
    /// The first [`PRINTED_ISSUES`] issues.
    first: Vec<InputIssue>,
    /// Issues per code.
    counts: BTreeMap<ErrorCode, u64>,
}

/// A shared log of [`InputIssue`]s: a reader thread reports, the caller reads the counts.
/// Clones share the log.
#[derive(Debug, Clone, Default)]
pub struct Issues {
    log: Arc<Mutex<Log>>,
    /// Whether issues are kept without printing them.
    quiet: bool,
}

impl Issues {
    /// A log that prints its first [`PRINTED_ISSUES`] issues on stderr as they come.
    pub fn new() -> Issues {
        Issues::default()
    }

    /// A log that prints nothing (tests, embedders that show issues themselves).
    pub fn quiet() -> Issues {
        Issues {
            quiet: true,
            ..Issues::default()
        }
    }

    /// Reports an issue (printed as `error[E0723]: message` while fewer than
    /// [`PRINTED_ISSUES`] were).
    pub fn report(&self, code: ErrorCode, after_line: u64, message: String) {
        let Ok(mut log) = self.log.lock() else {
            return;
        };
        *log.counts.entry(code).or_default() += 1;
        if log.first.len() < PRINTED_ISSUES {
            if !self.quiet {
                eprintln!("error[{code}]: {message}");
                if log.first.len() + 1 == PRINTED_ISSUES {
                    eprintln!("note: further input errors are counted, not shown");
                }
            }
            log.first.push(InputIssue {
                code,
                after_line,
                message,
            });
        }
    }

    /// How many issues were reported.
    pub fn count(&self) -> u64 {
        self.log
            .lock()
            .map(|l| l.counts.values().sum())
            .unwrap_or(0)
    }

    /// Issues per code, in code order.
    pub fn counts(&self) -> Vec<(ErrorCode, u64)> {
        self.log
            .lock()
            .map(|l| l.counts.iter().map(|(c, n)| (*c, *n)).collect())
            .unwrap_or_default()
    }

    /// The first [`PRINTED_ISSUES`] issues, in the order they came.
    pub fn first(&self) -> Vec<InputIssue> {
        self.log.lock().map(|l| l.first.clone()).unwrap_or_default()
    }
}
