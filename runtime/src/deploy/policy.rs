//! Shadow comparison and promotion: per-rule alert counters ([`RuleCounts`]), the
//! [`PromotionPolicy`] and its pure decision ([`decide`]), and the staging budget check
//! ([`combined_cost_fits`]).
//!
//! A staged candidate runs beside the active bundle on the same events. When it has seen
//! [`PromotionPolicy::after_events`] events (or [`PromotionPolicy::after_secs`] have passed),
//! [`decide`] compares the two runs: any evaluation error or refused event in the candidate,
//! any candidate rule above [`PromotionPolicy::max_rule_alerts_per_1000`] (unless the active
//! bundle's rule of the same id was at least as noisy over the same events), or a candidate
//! total above `max_total_ratio` × the active total + `total_slack`, rejects it; otherwise it
//! is promoted.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::error::ErrorCode;
use crate::budget::Budget;
use crate::ir::Program;
use crate::verify::CostReport;

/// When a candidate is decided, and the bounds it must keep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PromotionPolicy {
    /// Decide once the candidate has seen this many events. Default 1,000.
    pub after_events: u64,
    /// Decide once this many seconds have passed since staging, whatever the event count.
    /// Default none.
    pub after_secs: Option<u64>,
    /// No candidate rule may fire more than this many times per 1,000 events (unless the
    /// active rule of the same id fired at least as often). Default 50.
    pub max_rule_alerts_per_1000: u64,
    /// The candidate's alerts may be at most this many times the active bundle's ...
    /// Default 2.0.
    pub max_total_ratio: f64,
    /// ... plus this many. Default 10.
    pub total_slack: u64,
}

impl Default for PromotionPolicy {
    fn default() -> PromotionPolicy {
        PromotionPolicy {
            after_events: 1000,
            after_secs: None,
            max_rule_alerts_per_1000: 50,
            max_total_ratio: 2.0,
            total_slack: 10,
        }
    }
}

/// Alert counters per rule id of one program; counting is lock-free.
#[derive(Debug)]
pub struct RuleCounts {
    ids: Vec<String>,
    index: HashMap<String, usize>,
    counts: Vec<AtomicU64>,
}

impl RuleCounts {
    /// Zero counters for every rule of `program`.
    pub fn new(program: &Program) -> RuleCounts {
        let ids: Vec<String> = program.rules.iter().map(|r| r.id.clone()).collect();
        let index = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        let counts = ids.iter().map(|_| AtomicU64::new(0)).collect();
        RuleCounts { ids, index, counts }
    }

    /// Counts one alert of rule `id` (an unknown id is ignored).
    pub fn bump(&self, id: &str) {
        if let Some(c) = self.index.get(id).and_then(|&i| self.counts.get(i)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counts so far, by rule id (rules that never fired included).
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.ids
            .iter()
            .zip(&self.counts)
            .map(|(id, c)| (id.clone(), c.load(Ordering::Relaxed)))
            .collect()
    }

    /// The sum of the counts.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

/// What a shadow run measured, for [`decide`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ShadowReport {
    /// Events both bundles saw.
    pub events: u64,
    /// Evaluation errors, caught panics and refused events of the candidate.
    pub candidate_errors: u64,
    /// Candidate alerts per rule id.
    pub candidate_alerts: BTreeMap<String, u64>,
    /// Active alerts per rule id, over the same events.
    pub active_alerts: BTreeMap<String, u64>,
}

/// A decision: promote (`Ok`, with a reason) or reject (`Err`, with the code and reason).
pub type Decision = Result<String, (ErrorCode, String)>;

/// Decides on a shadow run. See the module documentation.
pub fn decide(policy: &PromotionPolicy, report: &ShadowReport) -> Decision {
    if report.candidate_errors > 0 {
        return Err((
            ErrorCode::CandidateErrors,
            format!(
                "the candidate had {} evaluation errors or refused events in {} events",
                report.candidate_errors, report.events
            ),
        ));
    }
    let events = report.events;
    for (rule, &n) in &report.candidate_alerts {
        let over =
            u128::from(n) * 1000 > u128::from(policy.max_rule_alerts_per_1000) * u128::from(events);
        let active = report.active_alerts.get(rule).copied().unwrap_or(0);
        if over && n > active {
            return Err((
                ErrorCode::CandidateTooNoisy,
                format!(
                    "rule `{rule}` fired {n} times in {events} events (the active bundle's: \
                     {active}), above {} per 1000",
                    policy.max_rule_alerts_per_1000
                ),
            ));
        }
    }
    let cand: u64 = report.candidate_alerts.values().sum();
    let active: u64 = report.active_alerts.values().sum();
    #[expect(
        clippy::cast_precision_loss,
        reason = "alert counts far below 2^52; a ratio bound needs no exactness"
    )]
    let limit = policy.max_total_ratio * active as f64 + policy.total_slack as f64;
    #[expect(clippy::cast_precision_loss, reason = "as above")]
    let cand_f = cand as f64;
    if cand_f > limit {
        return Err((
            ErrorCode::CandidateTooNoisy,
            format!(
                "the candidate raised {cand} alerts in {events} events, the active bundle {active}: \
                 above {} x {active} + {}",
                policy.max_total_ratio, policy.total_slack
            ),
        ));
    }
    Ok(format!(
        "{events} events without errors; {cand} candidate alerts against {active} active"
    ))
}

/// Whether the active and the candidate bundles together fit `budget`: per event type, the
/// sum of their verified worst-case steps within `max_event_cost`, and their state bytes
/// within `max_state_bytes`. `Err` names the first excess.
pub fn combined_cost_fits(
    active: &CostReport,
    candidate: &CostReport,
    budget: &Budget,
) -> Result<(), String> {
    let mut per_event: BTreeMap<u16, (String, u64)> = BTreeMap::new();
    for e in active.events.iter().chain(&candidate.events) {
        let entry = per_event
            .entry(e.event.0)
            .or_insert_with(|| (e.name.clone(), 0));
        entry.1 = entry.1.saturating_add(e.total_steps);
    }
    for (name, steps) in per_event.values() {
        if *steps > budget.max_event_cost {
            return Err(format!(
                "on `{name}` the two bundles together cost {steps} steps per event, the budget is {}",
                budget.max_event_cost
            ));
        }
    }
    let state = active.state_bytes.saturating_add(candidate.state_bytes);
    if state > budget.max_state_bytes {
        return Err(format!(
            "the two bundles together need {state} state bytes, the budget is {}",
            budget.max_state_bytes
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(events: u64, cand: &[(&str, u64)], active: &[(&str, u64)]) -> ShadowReport {
        ShadowReport {
            events,
            candidate_errors: 0,
            candidate_alerts: cand.iter().map(|(k, v)| ((*k).into(), *v)).collect(),
            active_alerts: active.iter().map(|(k, v)| ((*k).into(), *v)).collect(),
        }
    }

    #[test]
    fn quiet_candidate_is_promoted() {
        let p = PromotionPolicy::default();
        assert!(decide(&p, &report(1000, &[("a", 3)], &[("a", 2)])).is_ok());
    }

    #[test]
    fn rule_above_the_rate_is_rejected_unless_the_active_was_as_noisy() {
        let p = PromotionPolicy::default();
        let noisy = decide(&p, &report(1000, &[("a", 51)], &[]));
        assert_eq!(noisy.map_err(|e| e.0), Err(ErrorCode::CandidateTooNoisy));
        let same = decide(&p, &report(1000, &[("a", 60)], &[("a", 60)]));
        assert!(same.is_ok(), "{same:?}");
        assert!(decide(&p, &report(1000, &[("a", 50)], &[("b", 30)])).is_ok());
    }

    #[test]
    fn total_above_ratio_plus_slack_is_rejected() {
        let p = PromotionPolicy {
            max_rule_alerts_per_1000: 1000,
            ..PromotionPolicy::default()
        };
        assert!(decide(&p, &report(1000, &[("a", 30)], &[("a", 10)])).is_ok());
        let r = decide(&p, &report(1000, &[("a", 31)], &[("a", 10)]));
        assert_eq!(r.map_err(|e| e.0), Err(ErrorCode::CandidateTooNoisy));
    }

    #[test]
    fn errors_reject() {
        let mut r = report(10, &[], &[]);
        r.candidate_errors = 1;
        let d = decide(&PromotionPolicy::default(), &r);
        assert_eq!(d.map_err(|e| e.0), Err(ErrorCode::CandidateErrors));
    }
}
