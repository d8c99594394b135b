//! Every must-reject update, delivered as an update, leaves the active bundle running and
//! increments its own counter; versions only go up (downgrade and same-version replay
//! refused, rollback to the last known good allowed); keys rotate and revoke at runtime.

use crate::deploy_common::{
    bundle, bundle_with, deployer, event, header, key, line, other_key, program, refused, run,
    trust, Rules, NOW,
};
use vigil_runtime::bundle::HeaderInput;
use vigil_runtime::deploy::{DeployOptions, ErrorCode, UpdateOutcome};

/// Named `deploy` so that `cargo test -p vigil-runtime deploy` selects these tests.
mod deploy {
    use super::*;

    #[test]
    fn every_must_reject_case_leaves_the_active_bundle_and_counts_its_code() {
        let d = deployer(DeployOptions::default());
        let bytes = line("a.exe");
        let ev = event(&bytes);
        d.update(&bundle(Rules::TwoAlways, 5))
            .expect("v5 activates");
        let good = bundle(Rules::TwoAlways, 6);

        let mut tampered = good.clone();
        let at = tampered.len() - 80;
        tampered[at] ^= 1;
        let mut other_schema = program(Rules::TwoAlways, "s");
        other_schema.schema.name = "not-endpoint".into();
        let mut missing_field = program(Rules::Quiet, "m");
        missing_field.fields[0].field = "no_such_field".into();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("E0511", tampered),
            ("E0503", good[..good.len() - 10].to_vec()),
            ("E0501", b"garbage, not a bundle at all".to_vec()),
            ("E0501", Vec::new()),
            (
                "E0509",
                bundle_with(
                    &program(Rules::TwoAlways, "k"),
                    &header(6),
                    Some(&other_key()),
                ),
            ),
            (
                "E0508",
                bundle_with(&program(Rules::TwoAlways, "u"), &header(6), None),
            ),
            (
                "E0512",
                bundle_with(
                    &program(Rules::TwoAlways, "e"),
                    &HeaderInput {
                        expires_unix: Some(NOW),
                        ..header(6)
                    },
                    Some(&key()),
                ),
            ),
            (
                "E0513",
                bundle_with(
                    &program(Rules::TwoAlways, "min"),
                    &HeaderInput {
                        min_version: Some(7),
                        ..header(6)
                    },
                    Some(&key()),
                ),
            ),
            (
                "E0620",
                bundle_with(&other_schema, &header(6), Some(&key())),
            ),
            (
                "E0623",
                bundle_with(&missing_field, &header(6), Some(&key())),
            ),
            ("E0801", bundle(Rules::TwoAlways, 4)),
            (
                "E0802",
                bundle_with(&program(Rules::TwoAlways, "x"), &header(5), Some(&key())),
            ),
        ];
        for (code, bytes) in &cases {
            let before = refused(&d, code);
            let err = d.update(bytes).expect_err(code);
            assert_eq!(err.code(), *code, "{err}");
            assert_eq!(refused(&d, code), before + 1, "{code} counted");
            let (v, alerts) = run(&d, &ev);
            assert_eq!(v, Some(5), "v5 still runs after {code}");
            assert_eq!(alerts.len(), 2);
        }
        let status = d.status();
        assert_eq!(
            status.updates.refused.values().sum::<u64>(),
            cases.len() as u64
        );
        assert!(status
            .updates
            .last_refusal
            .as_deref()
            .is_some_and(|m| m.contains("E0802")));

        // Revocation at runtime: the same valid bundle is refused once its key is revoked.
        let mut revoking = trust(&[&key()]);
        revoking.revoke(key().key_id());
        d.set_trust(revoking);
        assert_eq!(d.update(&good).map_err(|e| e.code()), Err("E0510".into()));
        assert_eq!(run(&d, &ev).0, Some(5));
        // Rotation: trust only the new key; bundles by the old one are unknown.
        d.set_trust(trust(&[&other_key()]));
        assert_eq!(d.update(&good).map_err(|e| e.code()), Err("E0509".into()));
        let rotated = bundle_with(
            &program(Rules::TwoAlways, "r"),
            &header(6),
            Some(&other_key()),
        );
        assert!(matches!(
            d.update(&rotated),
            Ok(UpdateOutcome::Activated { .. })
        ));
        assert_eq!(run(&d, &ev).0, Some(6));
        assert!(d.event_counts().balanced());
    }

    #[test]
    fn versions_are_monotonic_but_rollback_to_last_known_good_is_not_a_downgrade() {
        let d = deployer(DeployOptions::default());
        let bytes = line("a.exe");
        let ev = event(&bytes);
        let v1 = bundle(Rules::TwoAlways, 1);
        let v2 = bundle(Rules::TwoAlways, 2);
        d.update(&v1).expect("v1");
        d.update(&v2).expect("v2");
        // Same bytes again: nothing to do, not a refusal.
        assert!(matches!(d.update(&v2), Ok(UpdateOutcome::Unchanged { .. })));
        // Same version, same program, other bytes (another bundle id): the same content.
        let same_program = bundle_with(
            &program(Rules::TwoAlways, "2"),
            &HeaderInput {
                bundle_id: "b2-resigned".into(),
                ..header(2)
            },
            Some(&key()),
        );
        assert!(matches!(
            d.update(&same_program),
            Ok(UpdateOutcome::Activated { .. })
        ));
        assert_eq!(d.update(&v1).map_err(|e| e.code()), Err("E0801".into()));

        // The operator's own rollback goes back to the last known good bundle.
        d.update(&v2).expect("v2 again");
        let rolled = d.rollback().expect("rollback");
        assert!(
            matches!(rolled, UpdateOutcome::Activated { ref bundle, .. } if bundle.bundle_id == "b2-resigned")
        );
        assert_eq!(d.status().highest_version, Some(2));
        // And a replayed v2 with other content is still refused afterwards.
        let replay = bundle_with(&program(Rules::Quiet, "2"), &header(2), Some(&key()));
        assert_eq!(d.update(&replay).map_err(|e| e.code()), Err("E0802".into()));
        assert_eq!(run(&d, &ev).0, Some(2));

        // Without a last known good bundle there is nothing to roll back to.
        let fresh = deployer(DeployOptions::default());
        assert_eq!(
            fresh.rollback().map_err(|e| e.deploy_code()),
            Err(Some(ErrorCode::NoLastKnownGood))
        );
    }

    #[test]
    fn allow_downgrade_permits_lower_versions_but_never_below_a_signed_minimum() {
        let d = deployer(DeployOptions {
            allow_downgrade: true,
            ..DeployOptions::default()
        });
        d.update(&bundle(Rules::TwoAlways, 3)).expect("v3");
        d.update(&bundle(Rules::TwoAlways, 2))
            .expect("v2, downgrade allowed");
        let floor = bundle_with(
            &program(Rules::TwoAlways, "f"),
            &HeaderInput {
                min_version: Some(5),
                ..header(6)
            },
            Some(&key()),
        );
        d.update(&floor).expect("v6 with minimum 5");
        assert_eq!(d.status().floor_version, Some(5));
        assert_eq!(
            d.update(&bundle(Rules::TwoAlways, 4)).map_err(|e| e.code()),
            Err("E0801".into())
        );
        d.update(&bundle(Rules::TwoAlways, 5))
            .expect("v5: at the floor, downgrade allowed");
    }

    #[test]
    fn events_without_a_bundle_are_dropped_and_counted() {
        let d = deployer(DeployOptions::default());
        let bytes = line("a.exe");
        let ev = event(&bytes);
        assert_eq!(run(&d, &ev), (None, Vec::new()));
        d.record_dropped("E0701");
        d.update(&bundle(Rules::TwoAlways, 1)).expect("v1");
        assert_eq!(run(&d, &ev).0, Some(1));
        let counts = d.event_counts();
        assert_eq!(counts.received, 3);
        assert_eq!(counts.evaluated, 1);
        assert_eq!(counts.dropped.get("E0811"), Some(&1));
        assert_eq!(counts.dropped.get("E0701"), Some(&1));
        assert!(counts.balanced());
    }
}
