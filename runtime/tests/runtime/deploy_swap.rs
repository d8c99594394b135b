//! Atomic swaps under load: a long run of updates (1,000; 10,000 with `VIGIL_TEST_SCALE=full`)
//! through bundles of increasing versions while 4 threads evaluate events. Every evaluation is
//! tagged with exactly one bundle, none mixed, none skipped, none on a freed bundle; must-reject
//! updates delivered in the run leave the active bundle running; the accounting balances.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::deploy_common::{bundle, bundle_with, deployer, event, header, line, program, Rules};
use vigil_runtime::deploy::{DeployOptions, UpdateOutcome};

/// Named `deploy` so that `cargo test -p vigil-runtime deploy` selects these tests.
mod deploy {
    use super::*;

    fn scale() -> u64 {
        match std::env::var("VIGIL_TEST_SCALE").as_deref() {
            Ok("full") => 10_000,
            _ => 1_000,
        }
    }

    /// Evaluations one thread saw: (content version, alerts) per event.
    #[derive(Default)]
    struct Seen {
        events: u64,
        versions: HashSet<u64>,
    }

    #[test]
    fn updates_swap_whole_events_between_bundles_under_concurrent_evaluation() {
        let n = scale();
        let d = Arc::new(deployer(DeployOptions::default()));
        // Freed generations, one flag each: a lock-free check inside every evaluation.
        let freed: Arc<Vec<AtomicBool>> =
            Arc::new((0..=n).map(|_| AtomicBool::new(false)).collect());
        {
            let freed = freed.clone();
            d.on_retire(move |generation, _| {
                let flag = usize::try_from(generation).ok().and_then(|g| freed.get(g));
                flag.expect("generation in range")
                    .store(true, Ordering::SeqCst);
            });
        }
        assert!(matches!(
            d.update(&bundle(Rules::TwoAlways, 1)),
            Ok(UpdateOutcome::Activated { generation: 1, .. })
        ));

        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let (d, stop, freed) = (d.clone(), stop.clone(), freed.clone());
                std::thread::spawn(move || {
                    let bytes = line("a.exe");
                    let ev = event(&bytes);
                    let mut seen = Seen::default();
                    let mut last = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let mut alerts: Vec<(String, u64)> = Vec::new();
                        let p = d.process(&ev, &mut |a| {
                            let b = a.bundle.as_ref().expect("alerts name their bundle");
                            // Generation == content version in this test: one activation per
                            // version. The code evaluating this alert must not be freed.
                            let g = usize::try_from(b.content_version).expect("small");
                            assert!(
                                !freed[g].load(Ordering::SeqCst),
                                "evaluation on freed bundle v{}",
                                b.content_version
                            );
                            alerts.push((b.id.clone(), b.content_version));
                        });
                        let tag = p.bundle.expect("every evaluation is tagged");
                        assert!(p.evaluated);
                        assert_eq!(tag.generation, tag.content_version);
                        assert_eq!(alerts.len(), 2, "both rules of one bundle, none skipped");
                        for (id, v) in &alerts {
                            assert_eq!(*v, tag.content_version, "mixed bundles in one event");
                            assert_eq!(*id, format!("b{v}"));
                        }
                        assert!(tag.content_version >= last, "a thread went back in time");
                        last = tag.content_version;
                        seen.events += 1;
                        seen.versions.insert(tag.content_version);
                    }
                    seen
                })
            })
            .collect();

        // Must-reject cases, built from a valid bundle of the next version.
        let reject_cases = |v: u64| -> Vec<(&'static str, Vec<u8>)> {
            let good = bundle(Rules::TwoAlways, v);
            let mut tampered = good.clone();
            let last = tampered.len() - 70;
            tampered[last] ^= 0x40;
            let unsigned = bundle_with(&program(Rules::TwoAlways, "u"), &header(v), None);
            let wrong_key = bundle_with(
                &program(Rules::TwoAlways, "w"),
                &header(v),
                Some(&crate::deploy_common::other_key()),
            );
            let mut other_schema = program(Rules::TwoAlways, "s");
            other_schema.schema.name = "not-endpoint".into();
            let schema = bundle_with(
                &other_schema,
                &header(v),
                Some(&crate::deploy_common::key()),
            );
            let expired = bundle_with(
                &program(Rules::TwoAlways, "e"),
                &vigil_runtime::bundle::HeaderInput {
                    expires_unix: Some(crate::deploy_common::NOW - 1),
                    ..header(v)
                },
                Some(&crate::deploy_common::key()),
            );
            vec![
                ("E0511", tampered),
                ("E0503", good[..good.len() / 2].to_vec()),
                ("E0508", unsigned),
                ("E0509", wrong_key),
                ("E0620", schema),
                ("E0512", expired),
                ("E0801", bundle(Rules::TwoAlways, 1)),
            ]
        };

        let mut refusals = 0u64;
        for v in 2..=n {
            if v % 100 == 0 {
                for (code, bytes) in reject_cases(v) {
                    let err = d.update(&bytes).expect_err(code);
                    assert_eq!(err.code(), code, "{err}");
                    assert_eq!(d.active_tag().map(|t| t.content_version), Some(v - 1));
                    refusals += 1;
                }
            }
            match d.update(&bundle(Rules::TwoAlways, v)) {
                Ok(UpdateOutcome::Activated { generation, .. }) => assert_eq!(generation, v),
                other => panic!("update to v{v}: {other:?}"),
            }
        }
        // Let the evaluators see the last bundle before stopping them.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while d.status().alerts.per_rule.is_empty() && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        stop.store(true, Ordering::Relaxed);
        let mut events = 0;
        let mut versions = HashSet::new();
        for w in workers {
            let seen = w.join().expect("worker passed its checks");
            events += seen.events;
            versions.extend(seen.versions);
        }
        assert!(events > 0);
        assert!(!versions.is_empty());

        let status = d.status();
        assert_eq!(
            status.active.as_ref().map(|a| a.bundle.content_version),
            Some(n)
        );
        assert_eq!(status.updates.accepted, n);
        assert_eq!(
            status.updates.refused.values().sum::<u64>(),
            refusals,
            "{:?}",
            status.updates.refused
        );
        // Every replaced bundle was freed once the last event on it finished: all but the active.
        assert_eq!(d.freed(), n - 1);
        let flagged = freed.iter().filter(|f| f.load(Ordering::SeqCst)).count();
        assert_eq!(flagged as u64, n - 1);
        // Accounting: every event evaluated, nothing dropped.
        assert_eq!(status.events.received, events);
        assert_eq!(status.events.evaluated, events);
        assert!(status.events.balanced());
        assert_eq!(status.alerts.total, 2 * events);
    }
}
