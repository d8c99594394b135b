//! The C API called as a C host calls it (from Rust, through the same `extern "C"`
//! functions): status codes and last errors of builders, decoders and the panic guard, and
//! NULL everywhere. The C tests (`examples/c-agent/tests/`) cover bundles, threads and the
//! whole library under valgrind; the fuzz target `capi_calls` drives random sequences.

#![allow(unsafe_code)]

use std::ffi::{c_char, CStr};
use std::ptr::{null, null_mut};

use vigil_capi::deployer::*;
use vigil_capi::event::*;
use vigil_capi::json::*;
use vigil_capi::schema::*;
use vigil_capi::status::*;
use vigil_capi::trust::*;
use vigil_capi::{vigil_builder, vigil_deployer, vigil_event, vigil_field};

use vigil_status::*;

fn last() -> (String, String) {
    // SAFETY: the API returns NUL-terminated strings valid until the next call.
    unsafe {
        (
            CStr::from_ptr(vigil_last_error_code())
                .to_string_lossy()
                .into_owned(),
            CStr::from_ptr(vigil_last_error_message())
                .to_string_lossy()
                .into_owned(),
        )
    }
}

fn s(text: &str) -> (*const c_char, usize) {
    (text.as_ptr().cast(), text.len())
}

/// A deployer with no bundle (the endpoint schema, the interpreter), a `process_start`
/// builder and an event.
fn setup() -> (*mut vigil_deployer, *mut vigil_builder, *mut vigil_event) {
    // SAFETY: out pointers are ours; handles are used as the header says.
    unsafe {
        let mut t = null_mut();
        assert_eq!(vigil_trust_new(&mut t), VIGIL_OK);
        let mut d = null_mut();
        assert_eq!(vigil_deployer_new(null(), t, 2, &mut d), VIGIL_OK);
        vigil_trust_free(t);
        let mut b = null_mut();
        let (p, n) = s("process_start");
        assert_eq!(vigil_builder_new(d, p, n, &mut b), VIGIL_OK);
        let mut e = null_mut();
        assert_eq!(vigil_event_new(&mut e), VIGIL_OK);
        (d, b, e)
    }
}

fn teardown(d: *mut vigil_deployer, b: *mut vigil_builder, e: *mut vigil_event) {
    // SAFETY: each handle freed once.
    unsafe {
        vigil_event_free(e);
        vigil_builder_free(b);
        vigil_deployer_free(d);
    }
}

fn field(b: *mut vigil_builder, name: &str) -> vigil_field {
    let mut f = 0;
    let (p, n) = s(name);
    // SAFETY: live builder, our buffers.
    assert_eq!(
        unsafe { vigil_builder_field(b, p, n, &mut f) },
        VIGIL_OK,
        "{name}"
    );
    f
}

#[test]
fn builder_errors_have_statuses_and_codes() {
    let (d, b, e) = setup();
    // SAFETY: live handles, our buffers.
    unsafe {
        let mut f = 0;
        let (p, n) = s("no_such_field");
        assert_eq!(vigil_builder_field(b, p, n, &mut f), VIGIL_E_UNKNOWN);
        assert_eq!(last().0, "E0705");
        assert!(last().1.contains("no_such_field"), "{}", last().1);

        let pid = field(b, "pid");
        let (p, n) = s("4100");
        assert_eq!(vigil_builder_set_str(b, pid, p, n), VIGIL_E_TYPE);
        assert!(!last().0.is_empty());
        assert_eq!(vigil_builder_set_int(b, 9999, 1), VIGIL_E_UNKNOWN);
        assert_eq!(vigil_builder_set_int(b, u32::MAX, 1), VIGIL_E_UNKNOWN);

        let image = field(b, "image");
        let bad = [b'a', 0xff, b'b'];
        assert_eq!(
            vigil_builder_set_str(b, image, bad.as_ptr().cast(), 3),
            VIGIL_E_UTF8
        );
        assert_eq!(
            vigil_builder_set_str(b, image, null(), 0),
            VIGIL_OK,
            "NULL, 0 is empty"
        );
        assert_eq!(
            last(),
            (String::new(), String::new()),
            "success clears the last error"
        );
        assert_eq!(vigil_builder_set_str(b, image, null(), 5), VIGIL_E_NULL);
        assert_eq!(
            vigil_builder_set_str(b, image, p, usize::MAX),
            VIGIL_E_INVALID
        );

        let ip = {
            let mut nb = null_mut();
            let (p, n) = s("network_connect");
            assert_eq!(vigil_builder_new(d, p, n, &mut nb), VIGIL_OK);
            let f = field(nb, "dest_ip");
            let (p, n) = s("10.0.0.300");
            let st = vigil_builder_set_ip(nb, f, p, n);
            vigil_builder_free(nb);
            st
        };
        assert_eq!(ip, VIGIL_E_INVALID);

        // integrity_level is bounded at 32 bytes: a longer value is cut and flagged.
        let level = field(b, "integrity_level");
        let long = "é".repeat(20);
        let (p, n) = s(&long);
        assert_eq!(vigil_builder_set_str(b, level, p, n), VIGIL_TRUNCATED);
        assert_eq!(vigil_builder_finish(b, e), VIGIL_OK);
    }
    teardown(d, b, e);
}

#[test]
fn an_event_runs_only_on_its_deployer_and_only_with_a_bundle() {
    let (d, b, e) = setup();
    let (d2, b2, e2) = setup();
    // SAFETY: live handles.
    unsafe {
        assert_eq!(
            vigil_deployer_process(d, e, None, null_mut(), null_mut()),
            VIGIL_E_STATE
        );
        assert_eq!(vigil_builder_finish(b, e), VIGIL_OK);
        assert_eq!(
            vigil_deployer_process(d2, e, None, null_mut(), null_mut()),
            VIGIL_E_STATE
        );
        let mut alerts = 7usize;
        assert_eq!(
            vigil_deployer_process(d, e, None, null_mut(), &mut alerts),
            VIGIL_E_DROPPED
        );
        assert_eq!(last().0, "E0811");
        assert_eq!(alerts, 0);

        let mut json = null_mut();
        let mut len = 0;
        assert_eq!(vigil_deployer_status_json(d, &mut json, &mut len), VIGIL_OK);
        let text = CStr::from_ptr(json).to_string_lossy().into_owned();
        vigil_string_free(json);
        let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(v["engine"], "interpreter");
        assert_eq!(v["events"]["received"], 1);
        assert_eq!(v["events"]["dropped"]["E0811"], 1);
        assert_eq!(v["abi_version"], 1);
        assert_eq!(text.len(), len);
    }
    teardown(d, b, e);
    teardown(d2, b2, e2);
}

#[test]
fn json_lines_that_do_not_decode_are_counted_as_dropped() {
    let (d, b, e) = setup();
    // SAFETY: live handles, our buffers.
    unsafe {
        let mut dec = null_mut();
        let (p, n) = s("nosuchmapping");
        assert_eq!(vigil_decoder_new(d, p, n, &mut dec), VIGIL_E_INVALID);
        assert!(dec.is_null());
        assert_eq!(vigil_decoder_new(d, null(), 0, &mut dec), VIGIL_OK);
        let (p, n) = s("{not json");
        assert_eq!(
            vigil_deployer_process_json(d, dec, p, n, None, null_mut(), null_mut()),
            VIGIL_E_DECODE
        );
        assert!(last().0.starts_with("E07"), "{:?}", last());
        let (p, n) = s("   ");
        assert_eq!(
            vigil_deployer_process_json(d, dec, p, n, None, null_mut(), null_mut()),
            VIGIL_OK
        );
        vigil_decoder_free(dec);
    }
    teardown(d, b, e);
}

#[test]
fn with_no_mapping_named_records_are_read_by_their_shape() {
    let (d, b, e) = setup();
    let windows = r#"{"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": "pc1", "Image": "C:\\Windows\\System32\\cmd.exe", "ProcessId": 7}"#;
    // SAFETY: live handles, our buffers.
    unsafe {
        let mut shape = null_mut();
        assert_eq!(vigil_decoder_new(d, null(), 0, &mut shape), VIGIL_OK);
        let (p, n) = s(windows);
        // Decoded (a Sysmon process start), then dropped: no bundle is active in this setup.
        assert_eq!(
            vigil_deployer_process_json(d, shape, p, n, None, null_mut(), null_mut()),
            VIGIL_E_DROPPED,
            "{:?}",
            last()
        );
        assert_eq!(last().0, "E0811", "{:?}", last());
        let mut native = null_mut();
        let (m, mn) = s("native");
        assert_eq!(vigil_decoder_new(d, m, mn, &mut native), VIGIL_OK);
        assert_eq!(
            vigil_deployer_process_json(d, native, p, n, None, null_mut(), null_mut()),
            VIGIL_E_DECODE
        );
        assert_eq!(last().0, "E0703", "{:?}", last());
        vigil_decoder_free(shape);
        vigil_decoder_free(native);
    }
    teardown(d, b, e);
}

#[test]
fn a_panic_inside_is_a_status_and_the_library_goes_on() {
    assert_eq!(vigil_debug_panic(), VIGIL_E_PANIC);
    assert!(last().1.contains("vigil_debug_panic"), "{:?}", last());
    let (d, b, e) = setup();
    teardown(d, b, e);
}

#[test]
fn null_everywhere_is_a_status_never_a_crash() {
    // SAFETY: NULLs are what is tested; every function must refuse them.
    unsafe {
        let mut out = null_mut();
        assert_eq!(vigil_trust_new(null_mut()), VIGIL_E_NULL);
        assert_eq!(vigil_trust_add_key(null_mut(), null(), 0), VIGIL_E_NULL);
        assert_eq!(vigil_trust_revoke(null_mut(), null(), 0), VIGIL_E_NULL);
        assert_eq!(vigil_trust_allow_unsigned(null_mut(), true), VIGIL_E_NULL);
        assert_eq!(vigil_schema_shipped(null(), 0, null_mut()), VIGIL_E_NULL);
        let (p, n) = s("nope");
        assert_eq!(
            vigil_schema_shipped(p, n, null_mut()),
            VIGIL_E_NULL,
            "out is checked first"
        );
        assert_eq!(vigil_schema_shipped(p, n, &mut null_mut()), VIGIL_E_UNKNOWN);
        assert_eq!(vigil_schema_from_toml(null(), 0, &mut out), VIGIL_E_INVALID);
        assert_eq!(
            vigil_deployer_new(null(), null(), 0, null_mut()),
            VIGIL_E_NULL
        );
        assert_eq!(vigil_deployer_set_trust(null(), null()), VIGIL_E_NULL);
        let mut verdict = vigil_verdict::VIGIL_VERDICT_ACTIVATED;
        assert_eq!(
            vigil_deployer_update(null(), null(), 0, &mut verdict),
            VIGIL_E_NULL
        );
        assert_eq!(verdict, vigil_verdict::VIGIL_VERDICT_REFUSED);
        assert_eq!(vigil_deployer_rollback(null(), null_mut()), VIGIL_E_NULL);
        assert_eq!(
            vigil_deployer_status_json(null(), null_mut(), null_mut()),
            VIGIL_E_NULL
        );
        assert_eq!(
            vigil_deployer_process(null(), null(), None, null_mut(), null_mut()),
            VIGIL_E_NULL
        );
        assert_eq!(
            vigil_deployer_process_json(
                null(),
                null_mut(),
                null(),
                0,
                None,
                null_mut(),
                null_mut()
            ),
            VIGIL_E_NULL
        );
        assert_eq!(vigil_event_new(null_mut()), VIGIL_E_NULL);
        assert_eq!(
            vigil_builder_new(null(), null(), 0, null_mut()),
            VIGIL_E_NULL
        );
        assert_eq!(
            vigil_builder_field(null(), null(), 0, null_mut()),
            VIGIL_E_NULL
        );
        assert_eq!(
            vigil_builder_set_str(null_mut(), 0, null(), 0),
            VIGIL_E_NULL
        );
        assert_eq!(vigil_builder_set_int(null_mut(), 0, 0), VIGIL_E_NULL);
        assert_eq!(vigil_builder_set_bool(null_mut(), 0, true), VIGIL_E_NULL);
        assert_eq!(vigil_builder_set_ip(null_mut(), 0, null(), 0), VIGIL_E_NULL);
        assert_eq!(
            vigil_builder_push_str(null_mut(), 0, null(), 0),
            VIGIL_E_NULL
        );
        assert_eq!(vigil_builder_push_int(null_mut(), 0, 0), VIGIL_E_NULL);
        assert_eq!(
            vigil_builder_push_ip(null_mut(), 0, null(), 0),
            VIGIL_E_NULL
        );
        assert_eq!(vigil_builder_set_record_id(null_mut(), 0), VIGIL_E_NULL);
        assert_eq!(vigil_builder_finish(null_mut(), null_mut()), VIGIL_E_NULL);
        assert_eq!(
            vigil_decoder_new(null(), null(), 0, null_mut()),
            VIGIL_E_NULL
        );
        assert_eq!(
            vigil_decoder_new_toml(null(), null(), 0, null_mut()),
            VIGIL_E_NULL
        );
        assert_eq!(vigil_decoder_set_file(null_mut(), null(), 0), VIGIL_E_NULL);
        vigil_trust_free(null_mut());
        vigil_schema_free(null_mut());
        vigil_deployer_free(null_mut());
        vigil_builder_free(null_mut());
        vigil_event_free(null_mut());
        vigil_decoder_free(null_mut());
        vigil_string_free(null_mut());
    }
}

#[test]
fn the_engine_asked_for_is_the_engine_that_runs() {
    // SAFETY: out pointers are ours; handles freed once.
    unsafe {
        let mut t = null_mut();
        assert_eq!(vigil_trust_new(&mut t), VIGIL_OK);
        for (raw, want) in [
            (0u32, None),
            (1, Some("jit")),
            (2, Some("interpreter")),
            (3, None),
        ] {
            let mut d = null_mut();
            let status = vigil_deployer_new(null(), t, raw, &mut d);
            let expected = match (raw, cfg!(feature = "jit")) {
                (3, _) | (1, false) => VIGIL_E_INVALID,
                _ => VIGIL_OK,
            };
            assert_eq!(status, expected, "engine {raw}");
            if status != VIGIL_OK {
                assert!(d.is_null());
                continue;
            }
            let mut json = null_mut();
            assert_eq!(
                vigil_deployer_status_json(d, &mut json, null_mut()),
                VIGIL_OK
            );
            let v: serde_json::Value =
                serde_json::from_slice(CStr::from_ptr(json).to_bytes()).expect("JSON");
            vigil_string_free(json);
            let default = if cfg!(feature = "jit") {
                "jit"
            } else {
                "interpreter"
            };
            assert_eq!(v["engine"], want.unwrap_or(default), "engine {raw}");
            vigil_deployer_free(d);
        }
        vigil_trust_free(t);
    }
}
