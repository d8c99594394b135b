//! The state bound holds: driving 4x capacity distinct keys (with maximal-length captured
//! strings and keys, as many hosts as keys fit, missing times, a clock jump back by years and
//! one forward) through
//! sequences of 2 and 8 steps and thresholds (count and distinct), every table's `measured_bytes()` stays at or
//! under its `*_bound_bytes` after EVERY event, its keys never exceed its capacity, and a full
//! table reaches the bound exactly (the bound is tight, so a layout change that forgets the
//! bound fails here).
//!
//! Size: capacities 64 and 1024 by default; `VIGIL_TEST_SCALE=full` adds capacity 250,000
//! (1,000,000 distinct keys per table).

/// Under `state::` so that `cargo test -p vigil-runtime state` runs every test here.
mod state {
    use std::convert::Infallible;

    use vigil_runtime::state::{
        host_hash, key_hash, sequence_state_bound_bytes, threshold_state_bound_bytes, value_hash,
        CaptureKind, CaptureSpec, CaptureValue, KeyHash, KeyHasher, KeyPart, SequenceParams,
        SequenceState, ThresholdParams, ThresholdState, TimeConfig,
    };

    const S: i64 = 1_000_000_000;
    const YEAR: i64 = 365 * 24 * 3600 * S;
    /// The schema's longest string (a command line).
    const MAX_LEN: usize = 98_304;
    const CAPTURE_LEN: u32 = 256;

    fn capacities() -> Vec<u32> {
        let mut c = vec![64, 1024];
        if std::env::var("VIGIL_TEST_SCALE").is_ok_and(|v| v == "full") {
            c.push(250_000);
        }
        c
    }

    /// A string of `len` bytes mixing 1-, 2- and 3-byte chars, so cuts land inside chars.
    fn long_string(len: usize, seed: usize) -> String {
        let mut s = String::with_capacity(len + 3);
        let chars = ['a', 'é', '€', 'z'];
        let mut i = seed;
        while s.len() + 3 <= len {
            s.push(chars[i % chars.len()]);
            i += 1;
        }
        while s.len() < len {
            s.push('x');
        }
        s
    }

    /// The host of key `i` in a table of `capacity`: `capacity` hosts, so the hosts' clocks
    /// fill up too, and each host sees the clock jumps of [`time_of`].
    fn host_of(i: u64, capacity: u32) -> String {
        format!("host-{}", i % u64::from(capacity))
    }

    /// Key `i`: every 512th has a maximal-length string part (stored as 16 bytes all the same).
    fn key_of(i: u64, capacity: u32, huge: &str) -> KeyHash {
        let host = host_of(i, capacity);
        if i.is_multiple_of(512) {
            KeyHasher::new(&host)
                .part(KeyPart::Str(huge))
                .part(KeyPart::Int(i as i64))
                .finish()
        } else {
            key_hash(&host, &[KeyPart::Int(i as i64)])
        }
    }

    /// The time of event `e` of key `i` in a table of `capacity`: advancing by 1us an event, with
    /// no time every 97th event, a jump back by 20 years after 1.5x capacity keys (a clock reset)
    /// and forward by 30 years after 3x capacity keys (everything expires).
    fn time_of(e: u64, i: u64, capacity: u32) -> Option<i64> {
        if e % 97 == 96 {
            return None;
        }
        let cap = u64::from(capacity);
        let base = if i < cap * 3 / 2 {
            50 * YEAR
        } else if i < cap * 3 {
            30 * YEAR
        } else {
            60 * YEAR
        };
        Some(base + (e as i64) * 1000)
    }

    fn drive_sequence(steps: usize, capacity: u32) {
        // Every step captures a maximal string and a scalar.
        let specs: Vec<CaptureSpec> = (0..steps)
            .flat_map(|i| {
                [
                    CaptureSpec {
                        step: i as u8,
                        kind: CaptureKind::Str {
                            max_bytes: CAPTURE_LEN,
                        },
                    },
                    CaptureSpec {
                        step: i as u8,
                        kind: CaptureKind::Scalar,
                    },
                ]
            })
            .collect();
        let bound = sequence_state_bound_bytes(steps, capacity, &specs);
        let mut s = SequenceState::new(SequenceParams {
            steps,
            within_ns: 3600 * S as u64,
            capacity,
            captures: &specs,
            time: TimeConfig::default(),
        })
        .expect("valid parameters");
        let huge = long_string(MAX_LEN, 0);
        let values: Vec<String> = (0..8)
            .map(|i| long_string(CAPTURE_LEN as usize + 40, i))
            .collect();
        let mut fired = 0u64;
        let mut e = 0u64;
        let mut max_keys = 0;
        for i in 0..4 * u64::from(capacity) {
            let k = key_of(i, capacity, &huge);
            let h = host_hash(&host_of(i, capacity));
            // Each key walks up some of its steps; every 50th completes the sequence.
            let upto = if i.is_multiple_of(50) {
                steps
            } else {
                (i as usize % (steps - 1)) + 1
            };
            for step in 0..upto {
                let v = &values[(i as usize + step) % values.len()];
                let r = s
                    .on_host_event(
                        h,
                        k,
                        time_of(e, i, capacity),
                        &[step],
                        |_, c| {
                            assert_eq!(c.len(), specs.len());
                            Ok::<_, Infallible>(true)
                        },
                        |ci| {
                            if ci.is_multiple_of(2) {
                                CaptureValue::Str {
                                    value: v,
                                    truncated: false,
                                }
                            } else {
                                CaptureValue::Int(i as i64)
                            }
                        },
                    )
                    .expect("infallible");
                if let Some(f) = r {
                    fired += 1;
                    assert!(f.captures.get_str(0).len() <= CAPTURE_LEN as usize);
                    assert!(f.captures.is_truncated(0));
                }
                e += 1;
                let m = s.measured_bytes();
                assert!(
                    m <= bound,
                    "steps {steps} capacity {capacity}: {m} > {bound} at event {e}"
                );
                assert!(s.keys() <= capacity as usize);
                max_keys = max_keys.max(s.keys());
            }
        }
        assert_eq!(max_keys, capacity as usize, "the table filled up");
        assert_eq!(
            s.measured_bytes(),
            bound,
            "a full table reaches the bound exactly"
        );
        let c = s.counters();
        assert!(fired > 0 && c.fired == fired);
        assert!(c.evicted > 0, "4x capacity keys evict");
        assert!(c.missing_time > 0);
        // Each host's clock jumps back once (unless all its events before the jump had no
        // time).
        assert!(c.clock_resets > u64::from(capacity) / 2 && c.clock_resets <= u64::from(capacity));
        assert!(c.expired > 0);
        assert_eq!(c.events, e);
    }

    #[test]
    fn sequence_of_2_steps_stays_within_its_bound() {
        for cap in capacities() {
            drive_sequence(2, cap);
        }
    }

    #[test]
    fn sequence_of_8_steps_stays_within_its_bound() {
        for cap in capacities() {
            drive_sequence(8, cap);
        }
    }

    fn drive_threshold(distinct: bool, capacity: u32) {
        let n = 20u32;
        let bound = threshold_state_bound_bytes(capacity, n, distinct);
        let mut t = ThresholdState::new(ThresholdParams {
            count: n,
            within_ns: 3600 * S as u64,
            capacity,
            distinct,
            time: TimeConfig::default(),
        })
        .expect("valid parameters");
        let huge = long_string(MAX_LEN, 1);
        let mut e = 0u64;
        let mut max_keys = 0;
        let mut fired = 0u64;
        for i in 0..4 * u64::from(capacity) {
            let k = key_of(i, capacity, &huge);
            let h = host_hash(&host_of(i, capacity));
            // Most keys get a few events, every 64th enough to fire.
            let events = if i.is_multiple_of(64) {
                n as usize + 3
            } else {
                (i as usize % 5) + 1
            };
            for j in 0..events {
                let v = if j.is_multiple_of(16) {
                    value_hash(KeyPart::Str(&huge))
                } else {
                    value_hash(KeyPart::Int(j as i64))
                };
                if t.on_host_event(h, k, time_of(e, i, capacity), Some(v))
                    .is_some()
                {
                    fired += 1;
                }
                e += 1;
                let m = t.measured_bytes();
                assert!(
                    m <= bound,
                    "distinct {distinct} capacity {capacity}: {m} > {bound} at {e}"
                );
                assert!(t.keys() <= capacity as usize);
                assert!(t.entries(k) <= n as usize);
                max_keys = max_keys.max(t.keys());
            }
        }
        assert_eq!(max_keys, capacity as usize);
        assert_eq!(
            t.measured_bytes(),
            bound,
            "a full table reaches the bound exactly"
        );
        let c = t.counters();
        assert!(fired > 0 && c.fired == fired);
        assert!(c.evicted > 0);
        // Each host's clock jumps back once (unless all its events before the jump had no
        // time).
        assert!(c.clock_resets > u64::from(capacity) / 2 && c.clock_resets <= u64::from(capacity));
        assert!(c.expired > 0);
        assert_eq!(c.events, e);
    }

    #[test]
    fn count_threshold_stays_within_its_bound() {
        for cap in capacities() {
            drive_threshold(false, cap);
        }
    }

    #[test]
    fn distinct_threshold_stays_within_its_bound() {
        for cap in capacities() {
            drive_threshold(true, cap);
        }
    }

    #[test]
    fn expiry_keeps_memory_flat_over_a_long_stream() {
        // A small window and a steady stream of new keys: keys expire rather than being evicted,
        // and the table never grows past what the live keys need.
        let cap = 1024;
        let specs = [CaptureSpec {
            step: 0,
            kind: CaptureKind::Str { max_bytes: 64 },
        }];
        let mut s = SequenceState::new(SequenceParams {
            steps: 2,
            within_ns: 100,
            capacity: cap,
            captures: &specs,
            time: TimeConfig::default(),
        })
        .unwrap();
        for i in 0..50_000i64 {
            s.on_event(
                key_hash("h", &[KeyPart::Int(i)]),
                Some(i * 10),
                &[0],
                |_, _| Ok::<_, Infallible>(true),
                |_| CaptureValue::Str {
                    value: "x",
                    truncated: false,
                },
            )
            .unwrap();
            assert!(s.keys() <= 11);
        }
        assert_eq!(s.counters().evicted, 0);
        assert!(s.counters().expired >= 49_980);
        assert!(s.measured_bytes() < sequence_state_bound_bytes(2, cap, &specs));
    }

    #[test]
    fn bound_formulas_match_their_documentation() {
        // sequence: size_of + C*(2*16+2+4+size_of::<CaptureSpec>()) + S
        //         + cap*(48 + 1 + (steps-1)*(16 + 17*C + S)) + 4*next_pow2(2*cap)
        //         + cap*48 + 4*next_pow2(2*cap)                 (the hosts' clocks)
        let specs = [
            CaptureSpec {
                step: 0,
                kind: CaptureKind::Str { max_bytes: 100 },
            },
            CaptureSpec {
                step: 1,
                kind: CaptureKind::Scalar,
            },
        ];
        let (c, s, cap, steps) = (2u64, 100u64, 1000u64, 3u64);
        let spec = std::mem::size_of::<CaptureSpec>() as u64;
        let fixed_seq = sequence_state_bound_bytes(3, 1000, &specs)
            - (c * (2 * 16 + 2 + 4 + spec) + s)
            - cap * (48 + 1 + (steps - 1) * (16 + 17 * c + s))
            - 4 * 2048
            - (cap * 48 + 4 * 2048);
        assert!(
            fixed_seq > 0 && fixed_seq < 1024,
            "the struct itself: {fixed_seq}"
        );
        // threshold: size_of + cap*(48 + 8 + N*(8 or 16)) + 4*next_pow2(2*cap)
        //          + cap*48 + 4*next_pow2(2*cap)                (the hosts' clocks)
        let fixed_thr = threshold_state_bound_bytes(1000, 20, true)
            - 1000 * (48 + 8 + 20 * 16)
            - 4 * 2048
            - (1000 * 48 + 4 * 2048);
        assert!(fixed_thr > 0 && fixed_thr < 1024);
        assert_eq!(
            threshold_state_bound_bytes(1000, 20, true)
                - threshold_state_bound_bytes(1000, 20, false),
            1000 * 20 * 8
        );
        // Monotone in what grows the state; saturating rather than wrapping.
        assert!(
            sequence_state_bound_bytes(8, 1000, &specs)
                > sequence_state_bound_bytes(2, 1000, &specs)
        );
        assert!(
            threshold_state_bound_bytes(2000, 20, false)
                > threshold_state_bound_bytes(1000, 20, false)
        );
        assert_eq!(
            threshold_state_bound_bytes(u32::MAX, u32::MAX, true),
            u64::MAX
        );
        let wide = [CaptureSpec {
            step: 0,
            kind: CaptureKind::Str {
                max_bytes: u32::MAX,
            },
        }; 64];
        assert!(
            sequence_state_bound_bytes(8, u32::MAX, &wide)
                >= u64::from(u32::MAX) * u64::from(u32::MAX)
        );
    }

    #[test]
    fn an_empty_table_holds_little() {
        let specs = [CaptureSpec {
            step: 0,
            kind: CaptureKind::Str {
                max_bytes: CAPTURE_LEN,
            },
        }];
        let s = SequenceState::new(SequenceParams {
            steps: 8,
            within_ns: 1,
            capacity: 4096,
            captures: &specs,
            time: TimeConfig::default(),
        })
        .unwrap();
        assert!(
            s.measured_bytes() < 2048,
            "nothing is allocated per key before keys arrive"
        );
        let t = ThresholdState::new(ThresholdParams {
            count: 1000,
            within_ns: 1,
            capacity: 4096,
            distinct: true,
            time: TimeConfig::default(),
        })
        .unwrap();
        assert!(t.measured_bytes() < 1024);
    }
}
