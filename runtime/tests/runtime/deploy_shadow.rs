//! Shadow: rules with `meta { shadow: true }` raise alerts marked `shadow`; a staged candidate
//! runs beside the active bundle on the same events, its alerts marked `shadow`, and the
//! promotion policy promotes a quiet one and rejects a noisy one (the active bundle runs on);
//! staging is refused when the two bundles together exceed the host's budget.

use crate::deploy_common::{bundle, event, key, line, run, trust, Rules, NOW};
use vigil_runtime::budget::Budget;
use vigil_runtime::bundle::load;
use vigil_runtime::deploy::{
    DeployOptions, Deployer, ErrorCode, PromotionPolicy, ReviewOutcome, StageOutcome,
};
use vigil_runtime::schema::Schema;

/// Named `deploy` so that `cargo test -p vigil-runtime deploy` selects these tests.
mod deploy {
    use super::*;

    fn deployer_with(policy: PromotionPolicy, budget: Budget) -> Deployer {
        let d = Deployer::new(
            Schema::endpoint(),
            budget,
            trust(&[&key()]),
            DeployOptions {
                policy,
                ..DeployOptions::default()
            },
        );
        d.set_clock(|| NOW);
        d
    }

    fn policy(after_events: u64) -> PromotionPolicy {
        PromotionPolicy {
            after_events,
            ..PromotionPolicy::default()
        }
    }

    #[test]
    fn shadow_rules_raise_alerts_marked_shadow() {
        let d = deployer_with(policy(10), Budget::default());
        d.update(&bundle(Rules::WithShadowRule, 1)).expect("v1");
        let bytes = line("a.exe");
        let (_, alerts) = run(&d, &event(&bytes));
        let marks: Vec<(&str, bool)> = alerts.iter().map(|a| (a.rule.as_str(), a.shadow)).collect();
        assert_eq!(marks, [("always_a", false), ("shadowed", true)]);
        assert!(alerts[1].to_json_line().ends_with(r#""shadow":true}"#));
    }

    #[test]
    fn a_quiet_candidate_is_promoted_after_n_events() {
        let d = deployer_with(policy(10), Budget::default());
        d.update(&bundle(Rules::Quiet, 1)).expect("v1");
        let staged = d.stage(&bundle(Rules::Quiet, 2)).expect("stages");
        assert!(matches!(
            staged,
            StageOutcome::Staged {
                superseded: None,
                ..
            }
        ));
        assert_eq!(d.candidate().map(|c| c.content_version), Some(2));
        let rare = line("rare.exe");
        let plain = line("a.exe");
        for i in 0..9 {
            let bytes = if i == 0 { &rare } else { &plain };
            let (v, alerts) = run(&d, &event(bytes));
            assert_eq!(v, Some(1), "the active bundle evaluates");
            if i == 0 {
                // One alert from each bundle; the candidate's is marked shadow.
                let marks: Vec<(u64, bool)> = alerts
                    .iter()
                    .map(|a| (a.bundle.as_ref().map_or(0, |b| b.content_version), a.shadow))
                    .collect();
                assert_eq!(marks, [(1, false), (2, true)]);
            }
            assert_eq!(d.review(), None, "not due before 10 events");
        }
        let status = d.status();
        let cand = status.candidate.expect("candidate");
        assert_eq!(cand.report.events, 9);
        assert_eq!(cand.report.candidate_alerts.get("rare"), Some(&1));
        assert_eq!(cand.report.active_alerts.get("rare"), Some(&1));
        run(&d, &event(&plain));
        match d.review() {
            Some(ReviewOutcome::Promoted { bundle, .. }) => assert_eq!(bundle.content_version, 2),
            other => panic!("expected a promotion: {other:?}"),
        }
        assert_eq!(d.candidate(), None);
        let (v, alerts) = run(&d, &event(&rare));
        assert_eq!(v, Some(2));
        assert!(
            alerts.iter().all(|a| !a.shadow),
            "promoted: no longer shadow"
        );
        let status = d.status();
        assert_eq!(status.updates.promoted, 1);
        assert_eq!(status.lkg.map(|b| b.content_version), Some(1));
        assert!(status.events.balanced());
    }

    #[test]
    fn a_noisy_candidate_is_rejected_and_the_active_bundle_runs_on() {
        let d = deployer_with(policy(20), Budget::default());
        d.update(&bundle(Rules::Quiet, 1)).expect("v1");
        let noisy = bundle(Rules::Noisy, 2);
        d.stage(&noisy).expect("stages");
        let plain = line("a.exe");
        for _ in 0..20 {
            let (v, alerts) = run(&d, &event(&plain));
            assert_eq!(v, Some(1));
            assert!(alerts.iter().all(|a| a.shadow), "only the candidate fires");
        }
        match d.review() {
            Some(ReviewOutcome::Rejected { code, reason, .. }) => {
                assert_eq!(code, ErrorCode::CandidateTooNoisy);
                assert!(reason.contains("`noisy`"), "{reason}");
            }
            other => panic!("expected a rejection: {other:?}"),
        }
        assert_eq!(d.candidate(), None);
        assert_eq!(run(&d, &event(&plain)).0, Some(1));
        let status = d.status();
        assert_eq!(status.updates.rejected, 1);
        assert_eq!(status.updates.refused.get("E0807"), Some(&1));
        assert!(status.log.iter().any(|e| e.event == "rejected"));
        let sha = status.rejected.first().cloned().expect("remembered");
        assert!(d.was_rejected(&sha));
    }

    #[test]
    fn staging_checks_versions_supersedes_and_the_combined_budget() {
        let d = deployer_with(policy(1000), Budget::default());
        // No active bundle: staging activates directly.
        assert!(matches!(
            d.stage(&bundle(Rules::Quiet, 1)),
            Ok(StageOutcome::Activated { .. })
        ));
        d.stage(&bundle(Rules::Quiet, 3)).expect("v3 staged");
        assert_eq!(
            d.stage(&bundle(Rules::Quiet, 2)).map_err(|e| e.code()),
            Err("E0801".into()),
            "not above the candidate"
        );
        let s = d.stage(&bundle(Rules::Quiet, 4)).expect("v4 supersedes v3");
        assert!(
            matches!(s, StageOutcome::Staged { superseded: Some(ref b), .. } if b.content_version == 3)
        );
        assert_eq!(d.status().updates.refused.get("E0808"), Some(&1));
        // A direct update supersedes the candidate too.
        d.update(&bundle(Rules::Quiet, 5)).expect("v5");
        assert_eq!(d.candidate(), None);
        assert_eq!(d.status().updates.refused.get("E0808"), Some(&2));

        // A budget one bundle fits and two do not.
        let bytes = bundle(Rules::Quiet, 1);
        let loaded = load(
            &bytes,
            &Schema::endpoint(),
            &trust(&[&key()]),
            &Budget::default(),
            NOW,
        )
        .expect("loads");
        let steps = loaded
            .verified
            .cost()
            .events
            .iter()
            .map(|e| e.total_steps)
            .max()
            .expect("one event type");
        let tight = Budget {
            max_event_cost: steps + steps / 2,
            ..Budget::default()
        };
        let d = deployer_with(policy(1000), tight);
        d.update(&bundle(Rules::Quiet, 1)).expect("one fits");
        // Two do not: the candidate cannot run in shadow, so it replaces the active bundle
        // without staging, and the log says so.
        let s = d
            .stage(&bundle(Rules::Quiet, 2))
            .expect("swapped without staging");
        assert!(
            matches!(s, StageOutcome::Activated { ref bundle, .. } if bundle.content_version == 2),
            "{s:?}"
        );
        assert_eq!(d.candidate(), None);
        assert_eq!(d.active().map(|b| b.content_version), Some(2));
        let swapped = d.status().log.into_iter().find(|e| e.event == "swapped");
        assert_eq!(
            swapped.and_then(|e| e.code),
            Some(ErrorCode::OverBudget.code())
        );
    }
}
