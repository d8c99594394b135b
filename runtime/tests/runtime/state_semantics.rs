//! Semantics of the correlation state (LANGUAGE.md section 5, as `vigil_runtime::state`
//! documents it): sequences (EQL's most recent partial, windows, fire once, one event one step,
//! captures) and thresholds (window edges, distinct refresh and expiry), time (late, missing,
//! out of order, clock jumps), keys (host, absent), capacity.

/// Under `state::` so that `cargo test -p vigil-runtime state` runs every test here.
mod state {
    use std::convert::Infallible;

    use vigil_runtime::event::{FLAG_PRESENT, FLAG_TRUNCATED};
    use vigil_runtime::state::{
        host_hash, key_hash, threshold_state_bound_bytes, value_hash, CaptureKind, CaptureSpec,
        CaptureValue, KeyHash, KeyPart, SequenceParams, SequenceState, StateError, ThresholdParams,
        ThresholdState, TimeConfig,
    };

    const S: i64 = 1_000_000_000;

    fn key(pid: i64) -> KeyHash {
        key_hash("host-1", &[KeyPart::Int(pid)])
    }

    /// A sequence of `steps` steps whose every step captures one string (`step i` -> capture `i`)
    /// of at most `cap` bytes.
    fn seq(
        steps: usize,
        within_ns: u64,
        capacity: u32,
        cap: u32,
        time: TimeConfig,
    ) -> SequenceState {
        let specs: Vec<CaptureSpec> = (0..steps)
            .map(|i| CaptureSpec {
                step: i as u8,
                kind: CaptureKind::Str { max_bytes: cap },
            })
            .collect();
        SequenceState::new(SequenceParams {
            steps,
            within_ns,
            capacity,
            captures: &specs,
            time,
        })
        .expect("valid parameters")
    }

    /// What one event did: `None` quiet, `Some(captures as strings)` fired.
    type Outcome = Option<Vec<String>>;

    /// Feeds an event that matches `step` (all conditions true) and captures `label` for it.
    fn feed(s: &mut SequenceState, k: KeyHash, t: i64, step: usize, label: &str) -> Outcome {
        feed_steps(s, k, Some(t), &[step], label)
    }

    fn feed_steps(
        s: &mut SequenceState,
        k: KeyHash,
        t: Option<i64>,
        steps: &[usize],
        label: &str,
    ) -> Outcome {
        let r = s
            .on_event(
                k,
                t,
                steps,
                |_, _| Ok::<bool, Infallible>(true),
                |_| CaptureValue::Str {
                    value: label,
                    truncated: false,
                },
            )
            .expect("infallible");
        r.map(|f| {
            (0..f.captures.len())
                .map(|i| f.captures.get_str(i).to_string())
                .collect()
        })
    }

    fn strs(v: &[&str]) -> Outcome {
        Some(v.iter().map(|s| (*s).to_string()).collect())
    }

    // ---------------------------------------------------------------- sequences

    #[test]
    fn sequence_keeps_the_most_recent_partial() {
        let mut s = seq(2, 30 * S as u64, 16, 64, TimeConfig::default());
        assert_eq!(feed(&mut s, key(7), S, 0, "a1"), None);
        assert_eq!(feed(&mut s, key(7), 2 * S, 0, "a2"), None);
        assert_eq!(feed(&mut s, key(7), 3 * S, 1, "b"), strs(&["a2", "b"]));
    }

    #[test]
    fn sequence_partial_moves_to_the_next_step() {
        // a1 b1 b2 c: b1 moves the partial to step 1, so b2 finds nothing to extend; c completes
        // (a1, b1).
        let mut s = seq(3, 30 * S as u64, 16, 64, TimeConfig::default());
        feed(&mut s, key(1), S, 0, "a1");
        feed(&mut s, key(1), 2 * S, 1, "b1");
        feed(&mut s, key(1), 3 * S, 1, "b2");
        assert_eq!(
            feed(&mut s, key(1), 4 * S, 2, "c"),
            strs(&["a1", "b1", "c"])
        );
    }

    #[test]
    fn sequence_window_is_inclusive() {
        let d = 30 * S;
        let mut s = seq(2, d as u64, 16, 64, TimeConfig::default());
        feed(&mut s, key(1), 0, 0, "a");
        assert_eq!(
            feed(&mut s, key(1), d, 1, "b"),
            strs(&["a", "b"]),
            "exactly D apart fires"
        );
        feed(&mut s, key(2), 0, 0, "a");
        assert_eq!(
            feed(&mut s, key(2), d + 1, 1, "b"),
            None,
            "D + 1ns apart does not"
        );
    }

    #[test]
    fn sequence_window_bounds_first_to_last_step() {
        let mut s = seq(3, 10, 16, 8, TimeConfig::default());
        feed(&mut s, key(1), 0, 0, "a");
        feed(&mut s, key(1), 6, 1, "b");
        // 11 - 0 > 10 although 11 - 6 <= 10.
        assert_eq!(feed(&mut s, key(1), 11, 2, "c"), None);
    }

    #[test]
    fn sequence_fires_once_then_clears_the_key() {
        let mut s = seq(3, 100, 16, 8, TimeConfig::default());
        feed(&mut s, key(1), 1, 0, "a");
        feed(&mut s, key(1), 2, 1, "b");
        // A second partial at step 0, which the completion also clears.
        feed(&mut s, key(1), 3, 0, "a2");
        assert!(feed(&mut s, key(1), 4, 2, "c").is_some());
        assert_eq!(s.keys(), 0);
        assert_eq!(feed(&mut s, key(1), 5, 2, "c"), None);
        assert_eq!(
            feed(&mut s, key(1), 6, 1, "b"),
            None,
            "the step-0 partial was cleared too"
        );
        assert_eq!(s.counters().fired, 1);
    }

    #[test]
    fn one_event_fills_one_step_of_a_partial() {
        // `sequence { a: logon_failure; b: logon_failure; c: logon_failure }`: every event matches
        // every step. One event never completes the sequence alone, two do not either.
        let mut s = seq(3, 100, 16, 8, TimeConfig::default());
        assert_eq!(feed_steps(&mut s, key(1), Some(1), &[0, 1, 2], "e1"), None);
        assert_eq!(feed_steps(&mut s, key(1), Some(2), &[0, 1, 2], "e2"), None);
        assert_eq!(
            feed_steps(&mut s, key(1), Some(3), &[2, 0, 1], "e3"),
            strs(&["e1", "e2", "e3"])
        );
    }

    #[test]
    fn completing_event_starts_no_new_partial() {
        let mut s = seq(2, 100, 16, 8, TimeConfig::default());
        let mut fired = Vec::new();
        for t in 1..=6 {
            fired.push(feed_steps(&mut s, key(1), Some(t), &[0, 1], &format!("e{t}")).is_some());
        }
        assert_eq!(fired, [false, true, false, true, false, true]);
    }

    #[test]
    fn equal_times_are_taken_in_arrival_order() {
        let mut s = seq(2, 100, 16, 8, TimeConfig::default());
        feed(&mut s, key(1), 5, 0, "a");
        assert!(feed(&mut s, key(1), 5, 1, "b").is_some());
        feed(&mut s, key(2), 5, 1, "b");
        assert_eq!(feed(&mut s, key(2), 5, 0, "a"), None);
    }

    #[test]
    fn later_steps_read_earlier_captures_as_slots() {
        let specs = [
            CaptureSpec {
                step: 0,
                kind: CaptureKind::Str { max_bytes: 16 },
            },
            CaptureSpec {
                step: 0,
                kind: CaptureKind::Scalar,
            },
            CaptureSpec {
                step: 1,
                kind: CaptureKind::Scalar,
            },
        ];
        let mut s = SequenceState::new(SequenceParams {
            steps: 2,
            within_ns: 100,
            capacity: 4,
            captures: &specs,
            time: TimeConfig::default(),
        })
        .expect("valid");
        let first = |i: usize| match i {
            0 => CaptureValue::Str {
                value: "SYSTEM",
                truncated: false,
            },
            1 => CaptureValue::Int(4242),
            _ => CaptureValue::Absent,
        };
        let r = s
            .on_event(
                key(1),
                Some(1),
                &[0],
                |_, _| Ok::<_, Infallible>(true),
                first,
            )
            .unwrap();
        assert!(r.is_none());
        let mut seen = None;
        let r = s
            .on_event(
                key(1),
                Some(2),
                &[1],
                |step, c| {
                    assert_eq!(step, 1);
                    assert_eq!(c.len(), 3);
                    let sl = c.slots()[0];
                    seen = Some((c.get_str(0).to_string(), sl.w1, sl.w0 != 0, c.get_int(1)));
                    assert_eq!(c.flags()[0], FLAG_PRESENT);
                    assert!(!c.is_present(2), "step 1's own capture is not yet stored");
                    Ok::<_, Infallible>(c.get_str(0) != "SYSTEM")
                },
                |_| CaptureValue::Int(1),
            )
            .unwrap();
        assert!(r.is_none(), "the condition said no");
        assert_eq!(seen, Some(("SYSTEM".to_string(), 6, true, 4242)));
        // The partial is still there: a matching step 1 completes it.
        let r = s
            .on_event(
                key(1),
                Some(3),
                &[1],
                |_, _| Ok::<_, Infallible>(true),
                |_| CaptureValue::Int(9),
            )
            .unwrap()
            .expect("fires");
        assert_eq!(r.first_time, 1);
        assert_eq!(r.time, 3);
        assert_eq!(r.captures.get_str(0), "SYSTEM");
        assert_eq!(r.captures.get_int(1), 4242);
        assert_eq!(
            r.captures.get_int(2),
            9,
            "the last step's captures come from the event"
        );
    }

    #[test]
    fn step_zero_sees_no_captures_and_errors_propagate() {
        let mut s = seq(2, 100, 4, 8, TimeConfig::default());
        let r = s.on_event(
            key(1),
            Some(1),
            &[0],
            |_, c| {
                assert!((0..c.len()).all(|i| !c.is_present(i) && c.slot(i).w0 == 0));
                Err("boom")
            },
            |_| CaptureValue::Absent,
        );
        assert_eq!(r.err(), Some("boom"));
        assert_eq!(s.keys(), 0);
    }

    #[test]
    fn captured_strings_are_cut_at_a_char_boundary_and_flagged() {
        let mut s = seq(2, 100, 4, 5, TimeConfig::default());
        feed(&mut s, key(1), 1, 0, "abcdé"); // 6 bytes: 'é' straddles the limit
        let r = s
            .on_event(
                key(1),
                Some(2),
                &[1],
                |_, _| Ok::<_, Infallible>(true),
                |_| CaptureValue::Str {
                    value: "12345",
                    truncated: false,
                },
            )
            .unwrap()
            .expect("fires");
        assert_eq!(r.captures.get_str(0), "abcd");
        assert!(r.captures.is_truncated(0));
        assert_eq!(r.captures.get_str(1), "12345");
        assert!(
            !r.captures.is_truncated(1),
            "exactly max_bytes is not truncated"
        );
        assert_eq!(r.captures.flags()[0], FLAG_PRESENT | FLAG_TRUNCATED);
    }

    #[test]
    fn an_event_truncated_value_stays_flagged_and_absent_stays_absent() {
        let specs = [
            CaptureSpec {
                step: 0,
                kind: CaptureKind::Str { max_bytes: 64 },
            },
            CaptureSpec {
                step: 0,
                kind: CaptureKind::Str { max_bytes: 64 },
            },
        ];
        let mut s = SequenceState::new(SequenceParams {
            steps: 2,
            within_ns: 100,
            capacity: 4,
            captures: &specs,
            time: TimeConfig::default(),
        })
        .unwrap();
        let v = |i: usize| {
            if i == 0 {
                CaptureValue::Str {
                    value: "cut",
                    truncated: true,
                }
            } else {
                CaptureValue::Absent
            }
        };
        s.on_event(key(1), Some(1), &[0], |_, _| Ok::<_, Infallible>(true), v)
            .unwrap();
        let f = s
            .on_event(
                key(1),
                Some(2),
                &[1],
                |_, _| Ok::<_, Infallible>(true),
                |_| CaptureValue::Absent,
            )
            .unwrap()
            .expect("fires");
        assert!(f.captures.is_truncated(0));
        assert_eq!(f.captures.get_str(0), "cut");
        assert!(!f.captures.is_present(1));
        assert_eq!(f.captures.slot(1).w0, 0);
    }

    #[test]
    fn sequence_steps_out_of_time_order_do_not_match() {
        let cfg = TimeConfig {
            lateness_ns: 10,
            ..TimeConfig::default()
        };
        let mut s = seq(2, 100, 4, 8, cfg);
        feed(&mut s, key(1), 100, 0, "a");
        // Accepted (within lateness) but earlier than step 0: not a sequence in order.
        assert_eq!(feed(&mut s, key(1), 95, 1, "b"), None);
        assert_eq!(s.counters().late, 0);
        // Out of order within lateness may still start a partial and complete in order.
        feed(&mut s, key(2), 92, 0, "a");
        assert!(feed(&mut s, key(2), 93, 1, "b").is_some());
    }

    #[test]
    fn late_events_touch_no_state() {
        let mut s = seq(2, 100, 4, 8, TimeConfig::default());
        feed(&mut s, key(1), 1000, 0, "a");
        assert_eq!(feed(&mut s, key(2), 999, 0, "a"), None);
        assert_eq!(s.counters().late, 1);
        assert_eq!(s.keys(), 1);
        // A late event cannot complete a partial either.
        feed(&mut s, key(3), 2000, 0, "x");
        assert_eq!(feed(&mut s, key(1), 1500, 1, "b"), None);
        assert_eq!(s.counters().late, 2);
    }

    #[test]
    fn missing_times_and_absent_keys_are_counted() {
        let mut s = seq(2, 100, 4, 8, TimeConfig::default());
        assert_eq!(feed_steps(&mut s, key(1), None, &[0], "a"), None);
        s.note_absent_key();
        let c = s.counters();
        assert_eq!((c.events, c.missing_time, c.absent_key), (1, 1, 1));
        assert_eq!(s.keys(), 0);
    }

    #[test]
    fn host_is_part_of_the_key() {
        let mut s = seq(2, 100, 4, 8, TimeConfig::default());
        let a = key_hash("host-a", &[KeyPart::Int(4)]);
        let b = key_hash("host-b", &[KeyPart::Int(4)]);
        feed(&mut s, a, 1, 0, "x");
        assert_eq!(feed(&mut s, b, 2, 1, "y"), None);
        assert!(feed(&mut s, a, 3, 1, "y").is_some());
    }

    #[test]
    fn clock_jumping_back_by_years_resets_the_table() {
        const YEAR: i64 = 365 * 24 * 3600 * S;
        let now = 55 * YEAR;
        let mut s = seq(2, 60 * S as u64, 8, 8, TimeConfig::default());
        // A forged event from the far future...
        feed(&mut s, key(9), now + 20 * YEAR, 0, "future");
        // ...does not silence the rule: the next real event is taken as a clock reset.
        feed(&mut s, key(1), now, 0, "a");
        assert_eq!(s.counters().clock_resets, 1);
        assert_eq!(s.keys(), 1);
        assert!(feed(&mut s, key(1), now + S, 1, "b").is_some());
        // Modest lateness stays late, not a reset.
        feed(&mut s, key(1), now + 2 * S, 0, "a");
        feed(&mut s, key(1), now, 1, "b");
        assert_eq!(s.counters().late, 1);
        assert_eq!(s.counters().clock_resets, 1);
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let mut s = seq(
            2,
            u64::MAX,
            8,
            8,
            TimeConfig {
                lateness_ns: u64::MAX,
                clock_reset_ns: u64::MAX,
            },
        );
        feed(&mut s, key(1), i64::MIN, 0, "a");
        assert!(feed(&mut s, key(1), i64::MAX, 1, "b").is_some());
        let mut s = seq(2, 0, 8, 8, TimeConfig::default());
        feed(&mut s, key(1), i64::MAX, 0, "a");
        assert!(
            feed(&mut s, key(1), i64::MAX, 1, "b").is_some(),
            "within 0: equal times"
        );
        feed(&mut s, key(2), i64::MIN, 0, "a");
        assert_eq!(s.counters().clock_resets, 1);
    }

    #[test]
    fn expired_keys_are_dropped_as_time_advances() {
        let mut s = seq(3, 100, 100, 8, TimeConfig::default());
        for k in 0..50 {
            feed(&mut s, key(k), k, 0, "a");
        }
        assert_eq!(s.keys(), 50);
        // newest 145: keys last updated before 45 can no longer match.
        feed(&mut s, key(1000), 145, 0, "a");
        assert_eq!(s.counters().expired, 45);
        assert_eq!(s.keys(), 6);
        assert_eq!(s.counters().evicted, 0);
    }

    #[test]
    fn a_full_table_evicts_the_least_recently_updated_key() {
        let mut s = seq(2, 1000, 2, 8, TimeConfig::default());
        feed(&mut s, key(1), 1, 0, "k1");
        feed(&mut s, key(2), 2, 0, "k2");
        feed(&mut s, key(1), 3, 0, "k1b"); // k1 updated: k2 is now the oldest
        feed(&mut s, key(3), 4, 0, "k3");
        assert_eq!(s.counters().evicted, 1);
        assert_eq!(s.keys(), 2);
        assert_eq!(feed(&mut s, key(2), 5, 1, "b"), None, "k2 was evicted");
        assert_eq!(feed(&mut s, key(1), 6, 1, "b"), strs(&["k1b", "b"]));
    }

    #[test]
    fn bad_parameters_are_refused() {
        let p = |steps, capacity| SequenceParams {
            steps,
            within_ns: 1,
            capacity,
            captures: &[],
            time: TimeConfig::default(),
        };
        assert_eq!(
            SequenceState::new(p(1, 4)).err(),
            Some(StateError::Steps(1))
        );
        assert_eq!(
            SequenceState::new(p(9, 4)).err(),
            Some(StateError::Steps(9))
        );
        assert_eq!(
            SequenceState::new(p(2, 0)).err(),
            Some(StateError::ZeroCapacity)
        );
        let bad = [CaptureSpec {
            step: 2,
            kind: CaptureKind::Scalar,
        }];
        let e = SequenceState::new(SequenceParams {
            captures: &bad,
            ..p(2, 4)
        })
        .err();
        assert!(matches!(e, Some(StateError::CaptureStep { .. })));
        let t = |count| ThresholdParams {
            count,
            within_ns: 1,
            capacity: 1,
            distinct: false,
            time: TimeConfig::default(),
        };
        assert_eq!(
            ThresholdState::new(t(0)).err(),
            Some(StateError::ZeroThreshold)
        );
    }

    // ---------------------------------------------------------------- thresholds

    fn thr(n: u32, d: i64, distinct: bool, time: TimeConfig) -> ThresholdState {
        ThresholdState::new(ThresholdParams {
            count: n,
            within_ns: d as u64,
            capacity: 64,
            distinct,
            time,
        })
        .expect("valid parameters")
    }

    fn count(t: &mut ThresholdState, k: KeyHash, at: i64) -> bool {
        t.on_event(k, Some(at), None).is_some()
    }

    fn dv(t: &mut ThresholdState, k: KeyHash, at: i64, v: &str) -> bool {
        t.on_event(k, Some(at), Some(value_hash(KeyPart::Str(v))))
            .is_some()
    }

    #[test]
    fn count_fires_at_n_then_starts_afresh() {
        let mut t = thr(3, 10, false, TimeConfig::default());
        assert!(!count(&mut t, key(1), 0));
        assert!(!count(&mut t, key(1), 1));
        let f = t
            .on_event(key(1), Some(2), None)
            .expect("fires at the third");
        assert_eq!((f.count, f.first_time), (3, 0));
        assert_eq!(t.keys(), 0, "the key starts afresh");
        assert!(!count(&mut t, key(1), 3));
        assert!(!count(&mut t, key(1), 4));
        assert!(count(&mut t, key(1), 5));
    }

    #[test]
    fn threshold_window_excludes_t_minus_d() {
        let mut t = thr(2, 10, false, TimeConfig::default());
        count(&mut t, key(1), 0);
        assert!(!count(&mut t, key(1), 10), "(t - D, t] excludes t - D");
        assert!(count(&mut t, key(1), 19), "10 is inside (9, 19]");
    }

    #[test]
    fn count_is_per_key() {
        let mut t = thr(2, 10, false, TimeConfig::default());
        count(&mut t, key(1), 0);
        assert!(!count(&mut t, key(2), 1));
        assert!(count(&mut t, key(1), 2));
    }

    #[test]
    fn threshold_of_one_fires_on_every_event_and_keeps_nothing() {
        let mut t = thr(1, 10, false, TimeConfig::default());
        assert!(count(&mut t, key(1), 0));
        assert!(count(&mut t, key(1), 0));
        assert_eq!(t.keys(), 0);
    }

    #[test]
    fn distinct_counts_distinct_values() {
        let mut t = thr(3, 100, true, TimeConfig::default());
        assert!(!dv(&mut t, key(1), 1, "alice"));
        assert!(!dv(&mut t, key(1), 2, "alice"));
        assert!(!dv(&mut t, key(1), 3, "bob"));
        assert_eq!(t.entries(key(1)), 2);
        assert!(dv(&mut t, key(1), 4, "carol"));
    }

    #[test]
    fn distinct_value_seen_again_refreshes_its_time() {
        let mut t = thr(2, 10, true, TimeConfig::default());
        dv(&mut t, key(1), 0, "a");
        dv(&mut t, key(1), 8, "a");
        assert!(
            dv(&mut t, key(1), 15, "b"),
            "a was last seen at 8, inside (5, 15]"
        );
        let mut u = thr(2, 10, true, TimeConfig::default());
        dv(&mut u, key(1), 0, "a");
        assert!(
            !dv(&mut u, key(1), 15, "b"),
            "without the refresh, a expired"
        );
    }

    #[test]
    fn distinct_values_expire_each_on_its_own() {
        let mut t = thr(3, 10, true, TimeConfig::default());
        dv(&mut t, key(1), 0, "a");
        dv(&mut t, key(1), 5, "b");
        assert!(!dv(&mut t, key(1), 12, "c"), "a (0) is out of (2, 12]");
        assert_eq!(t.entries(key(1)), 2);
        assert!(dv(&mut t, key(1), 13, "d"), "b, c, d inside (3, 13]");
    }

    #[test]
    fn distinct_with_an_absent_value_is_counted_and_ignored() {
        let mut t = thr(1, 10, true, TimeConfig::default());
        assert!(t.on_event(key(1), Some(1), None).is_none());
        assert_eq!(t.counters().absent_value, 1);
        assert_eq!(t.keys(), 0);
    }

    #[test]
    fn threshold_late_and_out_of_order_events() {
        let mut t = thr(
            3,
            10,
            false,
            TimeConfig {
                lateness_ns: 5,
                ..TimeConfig::default()
            },
        );
        count(&mut t, key(1), 20);
        // Within lateness: counted, but its window (6, 16] does not hold the newer 20.
        assert!(!count(&mut t, key(1), 16));
        assert_eq!(t.entries(key(1)), 2);
        // Beyond lateness: late, untouched.
        assert!(!count(&mut t, key(1), 14));
        assert_eq!(t.counters().late, 1);
        assert_eq!(t.entries(key(1)), 2);
        // 16, 20 and this event inside (11, 21].
        assert!(count(&mut t, key(1), 21));
    }

    #[test]
    fn threshold_clock_jump_back_resets_and_counts_missing_times() {
        const YEAR: i64 = 365 * 24 * 3600 * S;
        let mut t = thr(2, 60 * S, false, TimeConfig::default());
        count(&mut t, key(1), 50 * YEAR);
        assert!(!count(&mut t, key(1), 10 * YEAR));
        assert_eq!(t.counters().clock_resets, 1);
        assert!(count(&mut t, key(1), 10 * YEAR + S));
        assert!(t.on_event(key(1), None, None).is_none());
        assert_eq!(t.counters().missing_time, 1);
    }

    #[test]
    fn threshold_keys_expire_and_evict() {
        let mut t = ThresholdState::new(ThresholdParams {
            count: 5,
            within_ns: 10,
            capacity: 4,
            distinct: false,
            time: TimeConfig::default(),
        })
        .unwrap();
        for k in 0..6 {
            count(&mut t, key(k), 0);
        }
        assert_eq!(t.keys(), 4);
        assert_eq!(t.counters().evicted, 2);
        count(&mut t, key(100), 10);
        assert_eq!(t.counters().expired, 4, "entries at exactly t - D are dead");
        assert_eq!(t.keys(), 1);
    }

    // ---------------------------------------------------------------- time per host

    fn hkey(host: &str, pid: i64) -> (KeyHash, KeyHash) {
        (host_hash(host), key_hash(host, &[KeyPart::Int(pid)]))
    }

    fn hcount(t: &mut ThresholdState, host: &str, pid: i64, at: i64) -> bool {
        let (h, k) = hkey(host, pid);
        t.on_host_event(h, k, Some(at), None).is_some()
    }

    fn hfeed(s: &mut SequenceState, host: &str, pid: i64, t: i64, step: usize) -> bool {
        let (h, k) = hkey(host, pid);
        s.on_host_event(
            h,
            k,
            Some(t),
            &[step],
            |_, _| Ok::<bool, Infallible>(true),
            |_| CaptureValue::Absent,
        )
        .expect("infallible")
        .is_some()
    }

    #[test]
    fn a_host_whose_clock_runs_ahead_makes_no_other_host_late() {
        // The password spray: 25 failed logons of a victim interleaved with a host
        // whose clock runs 2 s ahead. With one clock per table the victim's were all late.
        let mut t = thr(20, 300 * S, false, TimeConfig::default());
        let mut fired = Vec::new();
        for i in 0..25 {
            if hcount(&mut t, "victim", 1, i * S) {
                fired.push(("victim", i));
            }
            if hcount(&mut t, "skewed", 1, (i + 2) * S) {
                fired.push(("skewed", i));
            }
        }
        assert_eq!(fired, [("victim", 19), ("skewed", 19)]);
        assert_eq!(t.counters().late, 0);
        // The same for a sequence.
        let mut s = seq(2, 10 * S as u64, 16, 8, TimeConfig::default());
        assert!(!hfeed(&mut s, "victim", 1, 100 * S, 0));
        assert!(!hfeed(&mut s, "skewed", 1, 102 * S, 0));
        assert!(hfeed(&mut s, "victim", 1, 101 * S, 1));
        assert_eq!(s.counters().late, 0);
    }

    #[test]
    fn lateness_is_judged_against_the_events_own_host() {
        let cfg = TimeConfig {
            lateness_ns: 2 * S as u64,
            ..TimeConfig::default()
        };
        let mut t = thr(3, 60 * S, false, cfg);
        hcount(&mut t, "a", 1, 100 * S);
        hcount(&mut t, "b", 1, 500 * S);
        // 1 s behind a's newest: within the allowance, counted as accepted.
        assert!(!hcount(&mut t, "a", 1, 99 * S));
        // 3 s behind a's newest: late, skipped.
        assert!(!hcount(&mut t, "a", 1, 97 * S));
        let c = t.counters();
        assert_eq!((c.late_accepted, c.late), (1, 1));
        assert!(hcount(&mut t, "a", 1, 101 * S), "100, 99 and 101");
        // Without the allowance, 99 is late too.
        let mut t = thr(3, 60 * S, false, TimeConfig::default());
        hcount(&mut t, "a", 1, 100 * S);
        assert!(!hcount(&mut t, "a", 1, 99 * S));
        assert!(!hcount(&mut t, "a", 1, 101 * S));
        assert_eq!((t.counters().late_accepted, t.counters().late), (0, 1));
    }

    #[test]
    fn a_clock_reset_drops_only_that_hosts_state() {
        const DAY: i64 = 24 * 3600 * S;
        let mut t = thr(3, 60 * S, false, TimeConfig::default());
        hcount(&mut t, "b", 1, 100 * S);
        hcount(&mut t, "b", 1, 101 * S);
        hcount(&mut t, "a", 1, 3 * DAY);
        hcount(&mut t, "a", 2, 3 * DAY);
        // a's clock goes back three days: a reset of a's clock alone.
        assert!(!hcount(&mut t, "a", 3, 102 * S));
        assert_eq!(t.counters().clock_resets, 1);
        assert!(hcount(&mut t, "b", 1, 102 * S), "b's count survived");
        // a's keys from before the reset can no longer match: dropped when met.
        assert!(!hcount(&mut t, "a", 1, 103 * S));
        assert_eq!(t.entries(hkey("a", 1).1), 1, "a fresh count, not 2");
        assert_eq!(t.counters().clock_resets, 1, "one reset, counted once");
        assert_eq!(t.keys(), 2, "a/3 and a/1; a/2 expired at the old end");
    }

    #[test]
    fn keys_expire_by_their_own_hosts_clock() {
        let mut s = seq(2, 10 * S as u64, 16, 8, TimeConfig::default());
        hfeed(&mut s, "slow", 1, 0, 0);
        // Another host far ahead (but within the reset horizon) does not expire slow's partial.
        hfeed(&mut s, "fast", 1, 3600 * S, 0);
        assert_eq!(s.counters().expired, 0);
        assert!(hfeed(&mut s, "slow", 1, 9 * S, 1));
        // slow's own clock does (fast, far ahead, did not).
        let mut s = seq(2, 10 * S as u64, 16, 8, TimeConfig::default());
        hfeed(&mut s, "slow", 2, 20 * S, 0);
        hfeed(&mut s, "fast", 1, 3600 * S, 0);
        assert_eq!(s.counters().expired, 0);
        hfeed(&mut s, "slow", 3, 40 * S, 0);
        assert_eq!(
            s.counters().expired,
            1,
            "slow/2 is 20 s old by slow's clock"
        );
    }

    #[test]
    fn hosts_clocks_are_bounded_and_a_dropped_clock_falls_back_on_the_key() {
        // Capacity 2: at most two hosts' clocks.
        let mut t = ThresholdState::new(ThresholdParams {
            count: 3,
            within_ns: 60 * S as u64,
            capacity: 2,
            distinct: false,
            time: TimeConfig::default(),
        })
        .expect("valid parameters");
        let bound = threshold_state_bound_bytes(2, 3, false);
        for (i, host) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            hcount(&mut t, host, 1, 100 * S + i as i64);
            assert!(t.measured_bytes() <= bound);
        }
        // e and d are held; a's clock and key are gone: its next event starts afresh.
        assert!(!hcount(&mut t, "a", 1, 50 * S));
        assert_eq!(t.counters().late, 0);
        // A key still held whose host's clock was dropped judges lateness by its own time.
        let mut t = ThresholdState::new(ThresholdParams {
            count: 3,
            within_ns: 60 * S as u64,
            capacity: 2,
            distinct: false,
            time: TimeConfig::default(),
        })
        .expect("valid parameters");
        hcount(&mut t, "a", 1, 100 * S);
        // b's events only touch clocks (their condition is checked by the caller, so they
        // reach the table): b and c take the two clocks, a's key stays held.
        let (hb, _) = hkey("b", 1);
        let (hc, _) = hkey("c", 1);
        let (_, ka) = hkey("a", 1);
        t.on_host_event(hb, ka, Some(200 * S), None);
        t.on_host_event(hc, ka, Some(300 * S), None);
        assert!(t.measured_bytes() <= bound);
        let late = t.counters().late;
        assert!(!hcount(&mut t, "a", 1, 10 * S));
        assert_eq!(t.counters().late, late + 1, "90 s behind a's key: late");
    }
}
