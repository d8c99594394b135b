//! The state directory: the active and last known good bundles persisted atomically and
//! restored on start; the crash-loop breaker quarantines a bundle after K unclean exits within
//! the window, falls back to the last known good one, and the quarantine can be lifted. A
//! kill while idle is not a crash; the only bundle, quarantined, keeps running (degraded); a
//! file copied over the active one must pass the version checks; a failed write keeps the
//! previous record and files; a state directory others may write is refused.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::deploy_common::{bundle, deployer, event, line, run, temp_dir, Rules, NOW};
use vigil_runtime::deploy::{
    lift_quarantine_in, DeployOptions, Deployer, ErrorCode, StateDir, ACTIVE_FILE, LKG_FILE,
    STATE_FILE,
};

/// Named `deploy` so that `cargo test -p vigil-runtime deploy` selects these tests.
mod deploy {
    use super::*;

    fn open(dir: &std::path::Path) -> Deployer {
        let d = deployer(DeployOptions::default());
        let restored = d.open_state(StateDir::open(dir).expect("state dir"));
        assert!(restored.refusals.is_empty());
        d
    }

    #[test]
    fn active_and_last_known_good_survive_a_restart() {
        let dir = temp_dir("deploy-state-restart");
        let d = open(&dir);
        d.update(&bundle(Rules::TwoAlways, 1)).expect("v1");
        d.update(&bundle(Rules::TwoAlways, 2)).expect("v2");
        for f in [ACTIVE_FILE, LKG_FILE, STATE_FILE] {
            assert!(dir.join(f).is_file(), "{f}");
            assert!(!dir.join(format!("{f}.tmp")).exists());
        }
        assert_eq!(
            std::fs::read(dir.join(ACTIVE_FILE)).expect("active"),
            bundle(Rules::TwoAlways, 2)
        );
        assert_eq!(
            std::fs::read(dir.join(LKG_FILE)).expect("lkg"),
            bundle(Rules::TwoAlways, 1)
        );
        d.shutdown();
        drop(d);

        let d = deployer(DeployOptions::default());
        let restored = d.open_state(StateDir::open(&dir).expect("state dir"));
        assert_eq!(restored.active.map(|b| b.content_version), Some(2));
        assert!(!restored.from_lkg);
        let bytes = line("a.exe");
        assert_eq!(run(&d, &event(&bytes)).0, Some(2));
        // The high-water mark survived too: v1 is a downgrade now.
        assert_eq!(
            d.update(&bundle(Rules::TwoAlways, 1)).map_err(|e| e.code()),
            Err("E0801".into())
        );
        // And the last known good is there to roll back to.
        d.rollback().expect("rollback to v1");
        assert_eq!(run(&d, &event(&bytes)).0, Some(1));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn crash_loop_quarantines_the_bundle_and_falls_back_to_last_known_good() {
        let dir = temp_dir("deploy-state-crashloop");
        let clock = Arc::new(AtomicU64::new(NOW));
        let start = |clock: &Arc<AtomicU64>| {
            let d = deployer(DeployOptions::default());
            let c = clock.clone();
            d.set_clock(move || c.load(Ordering::SeqCst));
            let restored = d.open_state(StateDir::open(&dir).expect("state dir"));
            (d, restored)
        };
        let (d, _) = start(&clock);
        d.update(&bundle(Rules::TwoAlways, 1)).expect("v1");
        d.shutdown();
        drop(d);

        // v2 is activated, then the process dies (no shutdown) three times within the window.
        let (d, _) = start(&clock);
        d.update(&bundle(Rules::TwoAlways, 2)).expect("v2");
        drop(d);
        for _ in 0..2 {
            clock.fetch_add(60, Ordering::SeqCst);
            let (d, restored) = start(&clock);
            assert_eq!(restored.active.map(|b| b.content_version), Some(2));
            assert!(restored.quarantined.is_empty());
            drop(d);
        }
        clock.fetch_add(60, Ordering::SeqCst);
        let (d, restored) = start(&clock);
        assert_eq!(restored.quarantined.len(), 1);
        let q = &restored.quarantined[0];
        assert_eq!(
            (q.bundle_id.as_str(), q.content_version, q.crashes),
            ("b2", 2, 3)
        );
        assert!(restored.from_lkg);
        assert_eq!(restored.active.map(|b| b.content_version), Some(1));
        let bytes = line("a.exe");
        assert_eq!(run(&d, &event(&bytes)).0, Some(1));
        let status = d.status();
        assert_eq!(status.quarantine.len(), 1);
        // The quarantined bundle is refused when it comes again.
        let err = d
            .update(&bundle(Rules::TwoAlways, 2))
            .expect_err("quarantined");
        assert_eq!(err.deploy_code(), Some(ErrorCode::Quarantined));
        // Lifted, it may run again.
        let sha = q.sha256.clone();
        assert_eq!(d.lift_quarantine(&sha[..12]).len(), 1);
        d.update(&bundle(Rules::TwoAlways, 2))
            .expect("v2 after lifting");
        d.shutdown();
        drop(d);
        // Clean restarts never count.
        for _ in 0..5 {
            let (d, restored) = start(&clock);
            assert!(restored.quarantined.is_empty());
            assert_eq!(restored.active.map(|b| b.content_version), Some(2));
            d.shutdown();
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn crashes_outside_the_window_do_not_count() {
        let dir = temp_dir("deploy-state-window");
        let clock = Arc::new(AtomicU64::new(NOW));
        for _ in 0..5 {
            let d = deployer(DeployOptions::default());
            let c = clock.clone();
            d.set_clock(move || c.load(Ordering::SeqCst));
            let restored = d.open_state(StateDir::open(&dir).expect("state dir"));
            assert!(restored.quarantined.is_empty());
            if restored.active.is_none() {
                d.update(&bundle(Rules::TwoAlways, 1)).expect("v1");
            }
            drop(d); // a crash, each 11 minutes after the last
            clock.fetch_add(660, Ordering::SeqCst);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_write_keeps_the_previous_record_and_the_files_it_names() {
        let dir = temp_dir("deploy-state-fulldisk");
        let d = open(&dir);
        d.update(&bundle(Rules::TwoAlways, 1)).expect("v1");
        drop(d);
        // The disk is full for `lkg.vglb`: v2 runs, but the state stays v1's, whole.
        let d = deployer(DeployOptions::default());
        let mut state = StateDir::open(&dir).expect("state dir");
        state.fail_writes_of(LKG_FILE);
        d.open_state(state);
        d.update(&bundle(Rules::TwoAlways, 2)).expect("v2 runs");
        assert_eq!(d.status().state_errors, 1);
        // Later writes (a rejection, a shutdown) do not write a record without its files.
        d.shutdown();
        assert_eq!(d.status().state_errors, 2);
        drop(d);
        let st = StateDir::open(&dir)
            .expect("state dir")
            .read_state()
            .expect("parses")
            .expect("a record");
        assert_eq!(st.active.map(|r| r.content_version), Some(1));
        assert_eq!(
            std::fs::read(dir.join(ACTIVE_FILE)).expect("active"),
            bundle(Rules::TwoAlways, 1)
        );
        assert!(!dir.join(LKG_FILE).exists());
        for f in [ACTIVE_FILE, LKG_FILE, STATE_FILE] {
            assert!(!dir.join(format!("{f}.tmp")).exists(), "{f}.tmp left");
        }
        let d = open(&dir);
        assert_eq!(d.active().map(|b| b.content_version), Some(1));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_kill_while_idle_is_not_a_crash() {
        let dir = temp_dir("deploy-state-idle");
        let clock = Arc::new(AtomicU64::new(NOW));
        let start = |clock: &Arc<AtomicU64>| {
            let d = deployer(DeployOptions::default());
            let c = clock.clone();
            d.set_clock(move || c.load(Ordering::SeqCst));
            let restored = d.open_state(StateDir::open(&dir).expect("state dir"));
            (d, restored)
        };
        let (d, _) = start(&clock);
        d.update(&bundle(Rules::TwoAlways, 1)).expect("v1");
        drop(d);
        for _ in 0..5 {
            clock.fetch_add(10, Ordering::SeqCst);
            let (d, restored) = start(&clock);
            assert!(restored.quarantined.is_empty());
            d.set_busy(true);
            d.set_busy(false);
            drop(d); // killed while idle
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_only_bundle_quarantined_keeps_running_and_the_status_says_so() {
        let dir = temp_dir("deploy-state-keep");
        let clock = Arc::new(AtomicU64::new(NOW));
        let start = |clock: &Arc<AtomicU64>| {
            let d = deployer(DeployOptions::default());
            let c = clock.clone();
            d.set_clock(move || c.load(Ordering::SeqCst));
            let restored = d.open_state(StateDir::open(&dir).expect("state dir"));
            (d, restored)
        };
        let (d, _) = start(&clock);
        d.update(&bundle(Rules::TwoAlways, 1)).expect("v1");
        drop(d); // crash 1
        for _ in 0..2 {
            clock.fetch_add(10, Ordering::SeqCst);
            drop(start(&clock)); // crashes 2 and 3
        }
        let (d, restored) = start(&clock);
        assert_eq!(restored.quarantined.len(), 1);
        assert_eq!(restored.active.map(|b| b.content_version), Some(1));
        let bytes = line("a.exe");
        assert_eq!(run(&d, &event(&bytes)).0, Some(1));
        assert!(d.status().degraded.is_some());
        // A new bundle ends it.
        d.update(&bundle(Rules::TwoAlways, 2)).expect("v2");
        assert!(d.status().degraded.is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_copied_over_the_active_one_must_pass_the_version_checks() {
        let dir = temp_dir("deploy-state-copied");
        let d = open(&dir);
        d.update(&bundle(Rules::TwoAlways, 1)).expect("v1");
        d.update(&bundle(Rules::TwoAlways, 3)).expect("v3");
        d.shutdown();
        drop(d);
        std::fs::write(dir.join(ACTIVE_FILE), bundle(Rules::Quiet, 2)).expect("copy");
        let d = deployer(DeployOptions::default());
        let restored = d.open_state(StateDir::open(&dir).expect("state dir"));
        assert!(restored.from_lkg);
        assert_eq!(restored.active.map(|b| b.content_version), Some(1));
        assert_eq!(
            restored
                .refusals
                .iter()
                .map(|e| e.code())
                .collect::<Vec<_>>(),
            ["E0801"]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_state_dir_others_may_write_is_refused_and_a_new_one_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("deploy-state-mode");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o775)).expect("chmod");
        assert_eq!(
            StateDir::open(&dir).map(|_| ()).map_err(|e| e.code()),
            Err("E0816".into())
        );
        let fresh = dir.join("sub").join("state");
        StateDir::open(&fresh).expect("created");
        let mode = std::fs::metadata(&fresh)
            .expect("exists")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700, "{mode:o}");
        // Owned by another user (only root can give it away; otherwise this part is moot).
        if std::os::unix::fs::chown(&fresh, Some(65534), None).is_ok() {
            assert_eq!(
                StateDir::open(&fresh).map(|_| ()).map_err(|e| e.code()),
                Err("E0816".into())
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_corrupt_state_file_is_reported_and_ignored_and_quarantine_lifts_offline() {
        let dir = temp_dir("deploy-state-corrupt");
        std::fs::write(dir.join(STATE_FILE), b"{ half a json").expect("write");
        let d = deployer(DeployOptions::default());
        let restored = d.open_state(StateDir::open(&dir).expect("state dir"));
        assert_eq!(
            restored
                .refusals
                .iter()
                .map(|e| e.code())
                .collect::<Vec<_>>(),
            ["E0810"]
        );
        assert!(restored.active.is_none());
        d.update(&bundle(Rules::TwoAlways, 1)).expect("v1");
        drop(d);
        let state = StateDir::open(&dir).expect("state dir");
        assert!(lift_quarantine_in(&state, "0123456789")
            .expect("reads")
            .is_empty());
        assert!(state.read_state().expect("parses now").is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
