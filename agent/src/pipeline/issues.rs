//! What an input's reader met that is not a line of it (EVTX damage, E0720–E0729,
//! [`Issues`]): counted per code over the run, shown in the summary as "input errors", and
//! under `--strict` the end of the run.

use std::io::Write;

use crate::inputs::Issues;

use super::{Flow, Run};
use crate::text::esc;

impl Run<'_> {
    /// Counts the issues an input's reader reported (already printed as they came); under
    /// `--strict` any of them stops the run (exit status 1).
    pub(super) fn input_issues(
        &mut self,
        issues: &Issues,
        result: Result<Flow, String>,
    ) -> Result<Flow, String> {
        let first = issues.first();
        for (code, n) in issues.counts() {
            let entry = self.input_errors.entry(code).or_default();
            entry.0 += n;
            if entry.1.is_empty() {
                if let Some(i) = first.iter().find(|i| i.code == code) {
                    entry.1.clone_from(&i.message);
                }
            }
        }
        if self.strict && issues.count() > 0 && matches!(result, Ok(Flow::Go)) {
            eprintln!("note: stopped at the first bad input (--strict)");
            return Ok(Flow::Stop(1));
        }
        result
    }

    /// The summary's "input errors" section (nothing when there were none).
    pub(super) fn print_input_issues(&self, err: &mut dyn Write) {
        let total: u64 = self.input_errors.values().map(|(n, _)| n).sum();
        if total == 0 {
            return;
        }
        let _ = writeln!(err, "input errors: {total}");
        for (code, (n, first)) in &self.input_errors {
            let _ = writeln!(err, "  {code} {}: {n}", code.title());
            let _ = writeln!(err, "    first: {}", esc(first));
        }
    }
}
