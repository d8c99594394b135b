//! Where `resolve` and `typeck` put their diagnostics.
//!
//! Diagnostics found in standard library items are held back ("deferred") and only reported
//! when user code uses the item: the stdlib is checked against the host schema only where used
//! (LANGUAGE.md section 4).

use crate::diag::Diagnostic;
use crate::hir::{FnId, ListId};

/// The stdlib item a diagnostic belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Owner {
    /// A stdlib fn.
    Fn(FnId),
    /// A stdlib list.
    List(ListId),
}

/// Collected diagnostics.
#[derive(Debug, Default)]
pub(crate) struct Sink {
    /// Reported now.
    pub(crate) diags: Vec<Diagnostic>,
    /// Reported only if the owner is used.
    pub(crate) deferred: Vec<(Owner, Diagnostic)>,
    /// The stdlib item being processed, if any.
    pub(crate) owner: Option<Owner>,
}

impl Sink {
    /// Reports `d` (deferred when inside a stdlib item).
    pub(crate) fn push(&mut self, d: Diagnostic) {
        match self.owner {
            Some(owner) => self.deferred.push((owner, d)),
            None => self.diags.push(d),
        }
    }

    /// Moves the deferred diagnostics of used owners into the reported ones.
    pub(crate) fn flush(&mut self, used: impl Fn(Owner) -> bool) {
        for (owner, d) in std::mem::take(&mut self.deferred) {
            if used(owner) {
                self.diags.push(d);
            }
        }
    }
}
