//! The `capi_calls` fuzz target's logic: random call sequences through Vigil's C API
//! (`vigil-capi`), as a C host would make them, with NULLs, invalid UTF-8, unknown names and
//! handles, out-of-range engines, tampered bundles and handles freed in any order.
//!
//! Properties checked on every call: no panic escapes (libFuzzer aborts on one); every error
//! leaves a message (`vigil_last_error_message`); a refusal and a decode error carry a code;
//! every alert delivered is a JSON object naming its rule; the status JSON parses and its event
//! accounting balances (`received = evaluated + sum(dropped)`).

// A C host's calls are `unsafe`: this module makes them, as the C tests do.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_void, CStr};
use std::ptr::null_mut;

use vigil_capi::deployer::*;
use vigil_capi::event::*;
use vigil_capi::json::*;
use vigil_capi::schema::*;
use vigil_capi::status::*;
use vigil_capi::trust::*;
use vigil_capi::{vigil_builder, vigil_decoder, vigil_deployer, vigil_event, vigil_schema};

/// Two bundles signed by the fuzz key (`fuzz/make-seeds.sh`): every example rule, and the
/// network rules alone (another content version), for updates and rollbacks.
const BUNDLES: [&[u8]; 2] = [
    include_bytes!("../../fuzz/seeds/load/signed_all.vglb"),
    include_bytes!("../../fuzz/seeds/load/signed_network.vglb"),
];
const PUBLIC_KEY: &str = include_str!("../../fuzz/signing-key.pub");
const LINES: [&str; 3] = [
    r#"{"event": "process_start", "time": 1732406400000000000, "host": "h", "pid": 1, "image": "C:\\Windows\\Temp\\evil.exe", "command_line": "evil.exe /c whoami", "args": ["a"]}"#,
    r#"{"event": "network_connect", "host": "h", "dest_ip": "10.0.0.1", "dest_port": 4444, "initiated": true}"#,
    r#"{"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Image": "C:\\x.exe", "CommandLine": "x -enc AAAA"}"#,
];
const TYPES: [&str; 4] = [
    "process_start",
    "network_connect",
    "file_create",
    "dns_query",
];
const FIELDS: [&str; 8] = [
    "time",
    "host",
    "pid",
    "image",
    "command_line",
    "args",
    "dest_ip",
    "initiated",
];
const MAX_CALLS: usize = 96;

/// A cursor over the fuzzer's bytes; past the end every read is zero.
struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    fn bytes(&mut self) -> &'a [u8] {
        let n = usize::from(self.byte()).min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }
    fn pick<T: Copy>(&mut self, from: &[T]) -> Option<T> {
        if from.is_empty() {
            return None;
        }
        from.get(usize::from(self.byte()) % from.len()).copied()
    }
    /// A text argument: a known one, the input's bytes (maybe not UTF-8), or NULL.
    fn text(&mut self, known: &[&'static str]) -> (Vec<u8>, bool) {
        match self.byte() % 8 {
            0 => (Vec::new(), true),
            1..=4 => (self.pick(known).unwrap_or("").as_bytes().to_vec(), false),
            _ => (self.bytes().to_vec(), false),
        }
    }
}

/// The handles alive, as raw pointers (freed ones removed).
#[derive(Default)]
struct Handles {
    trusts: Vec<*mut vigil_trust>,
    schemas: Vec<*mut vigil_schema>,
    deployers: Vec<*mut vigil_deployer>,
    builders: Vec<*mut vigil_builder>,
    events: Vec<*mut vigil_event>,
    decoders: Vec<*mut vigil_decoder>,
    fields: Vec<vigil_field>,
    alerts: usize,
}

/// One handle of `v`, or NULL (one time in eight, or when there is none).
fn any<T>(input: &mut Input<'_>, v: &[*mut T]) -> *mut T {
    if input.byte().is_multiple_of(8) {
        return null_mut();
    }
    input.pick(v).unwrap_or(null_mut())
}

unsafe extern "C" fn on_alert(user: *mut c_void, alert: *const vigil_alert) {
    // SAFETY: the API's contract: `alert` is valid during the call; `user` is our counter.
    let (a, n) = unsafe { (&*alert, &mut *user.cast::<usize>()) };
    // SAFETY: the API's contract: (pointer, length) pairs valid during the call.
    let (json, rule) = unsafe {
        (
            std::slice::from_raw_parts(a.json, a.json_len),
            std::slice::from_raw_parts(a.rule_id, a.rule_id_len),
        )
    };
    let v: serde_json::Value = serde_json::from_slice(json).expect("an alert is JSON");
    assert_eq!(
        v.get("rule").and_then(|r| r.as_str()).map(str::as_bytes),
        Some(rule),
        "the alert's rule id is the JSON's"
    );
    *n += 1;
}

fn last_message() -> String {
    // SAFETY: the API returns a NUL-terminated string, valid until the next call.
    unsafe { CStr::from_ptr(vigil_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

fn last_code() -> String {
    // SAFETY: as `last_message`.
    unsafe { CStr::from_ptr(vigil_last_error_code()) }
        .to_string_lossy()
        .into_owned()
}

/// Checks what every call returns.
fn check(status: vigil_status, what: &str) {
    let negative = (status as i32) < 0;
    assert!(
        !negative || !last_message().is_empty(),
        "{what}: {status:?} without a message"
    );
    if matches!(
        status,
        vigil_status::VIGIL_E_REFUSED
            | vigil_status::VIGIL_E_DECODE
            | vigil_status::VIGIL_E_DROPPED
    ) {
        assert!(!last_code().is_empty(), "{what}: {status:?} without a code");
    }
    assert_ne!(
        status,
        vigil_status::VIGIL_E_PANIC,
        "{what}: a panic inside: {}",
        last_message()
    );
}

/// Checks a deployer's status JSON.
fn check_status(d: *const vigil_deployer) {
    let mut json: *mut c_char = null_mut();
    let mut len = 0usize;
    // SAFETY: `d` is NULL or live; the out pointers are ours.
    let s = unsafe { vigil_deployer_status_json(d, &mut json, &mut len) };
    check(s, "status_json");
    if s != vigil_status::VIGIL_OK {
        return;
    }
    // SAFETY: a NUL-terminated string of `len` bytes the API returned.
    let text = unsafe { CStr::from_ptr(json) }.to_bytes().to_vec();
    // SAFETY: returned by the API, freed once.
    unsafe { vigil_string_free(json) };
    assert_eq!(text.len(), len);
    let v: serde_json::Value = serde_json::from_slice(&text).expect("the status is JSON");
    let events = &v["events"];
    let dropped: u64 = events["dropped"]
        .as_object()
        .map(|m| m.values().filter_map(|n| n.as_u64()).sum())
        .unwrap_or(0);
    assert_eq!(
        events["received"].as_u64(),
        events["evaluated"].as_u64().map(|e| e + dropped),
        "received = evaluated + sum(dropped): {events}"
    );
}

fn ptr_of(bytes: &[u8], null: bool) -> *const c_char {
    if null {
        std::ptr::null()
    } else {
        bytes.as_ptr().cast()
    }
}

/// `capi_calls`: the bytes as a sequence of C API calls. Returns the number of alerts
/// delivered (the seeds' test checks that the sequences reach the rules).
pub fn capi_calls(data: &[u8]) -> usize {
    let mut input = Input { data };
    let mut h = Handles::default();
    for _ in 0..MAX_CALLS {
        if input.data.is_empty() {
            break;
        }
        // SAFETY: every handle passed is NULL or alive (taken from `h`, which drops freed
        // ones); every buffer is ours with its true length.
        unsafe { call(&mut input, &mut h) };
    }
    // SAFETY: each handle alive is freed once.
    unsafe {
        for d in &h.deployers {
            check_status(*d);
        }
        h.builders.iter().for_each(|p| vigil_builder_free(*p));
        h.events.iter().for_each(|p| vigil_event_free(*p));
        h.decoders.iter().for_each(|p| vigil_decoder_free(*p));
        h.deployers.iter().for_each(|p| vigil_deployer_free(*p));
        h.schemas.iter().for_each(|p| vigil_schema_free(*p));
        h.trusts.iter().for_each(|p| vigil_trust_free(*p));
    }
    h.alerts
}

unsafe fn call(input: &mut Input<'_>, h: &mut Handles) {
    // SAFETY (whole function): as in `capi_calls`.
    unsafe {
        match input.byte() % 22 {
            0 => {
                let mut t = null_mut();
                check(vigil_trust_new(&mut t), "trust_new");
                if !t.is_null() {
                    h.trusts.push(t);
                }
            }
            1 => {
                let t = any(input, &h.trusts);
                let (k, null) = input.text(&[PUBLIC_KEY]);
                check(vigil_trust_add_key(t, ptr_of(&k, null), k.len()), "add_key");
            }
            2 => {
                let t = any(input, &h.trusts);
                let (k, null) = input.text(&["968542278536933a", "0000000000000000"]);
                check(vigil_trust_revoke(t, ptr_of(&k, null), k.len()), "revoke");
            }
            3 => {
                let t = any(input, &h.trusts);
                check(
                    vigil_trust_allow_unsigned(t, input.byte().is_multiple_of(2)),
                    "allow_unsigned",
                );
            }
            4 => {
                let mut s = null_mut();
                let st = if input.byte().is_multiple_of(4) {
                    let b = input.bytes();
                    vigil_schema_from_toml(b.as_ptr().cast(), b.len(), &mut s)
                } else {
                    let (n, null) = input.text(&["endpoint", "linux-ebpf"]);
                    vigil_schema_shipped(ptr_of(&n, null), n.len(), &mut s)
                };
                check(st, "schema");
                if !s.is_null() {
                    h.schemas.push(s);
                }
            }
            5 => {
                let s = any(input, &h.schemas);
                let t = any(input, &h.trusts);
                let engine = u32::from(input.byte() % 4);
                let mut d = null_mut();
                check(vigil_deployer_new(s, t, engine, &mut d), "deployer_new");
                if !d.is_null() {
                    h.deployers.push(d);
                }
            }
            6 => {
                let d = any(input, &h.deployers);
                let mut bytes = input.pick(&BUNDLES).unwrap_or_default().to_vec();
                match input.byte() % 4 {
                    0 => bytes = input.bytes().to_vec(),
                    1 => {
                        let at = input.u32() as usize % bytes.len().max(1);
                        if let Some(b) = bytes.get_mut(at) {
                            *b ^= input.byte() | 1;
                        }
                    }
                    _ => {}
                }
                let mut verdict = vigil_verdict::VIGIL_VERDICT_ACTIVATED;
                let s = vigil_deployer_update(d, bytes.as_ptr(), bytes.len(), &mut verdict);
                check(s, "update");
                assert_eq!(
                    s == vigil_status::VIGIL_OK,
                    verdict != vigil_verdict::VIGIL_VERDICT_REFUSED
                );
            }
            7 => {
                let d = any(input, &h.deployers);
                check(vigil_deployer_rollback(d, null_mut()), "rollback");
            }
            8 => check_status(any(input, &h.deployers)),
            9 => {
                let d = any(input, &h.deployers);
                let (t, null) = input.text(&TYPES);
                let mut b = null_mut();
                check(
                    vigil_builder_new(d, ptr_of(&t, null), t.len(), &mut b),
                    "builder_new",
                );
                if !b.is_null() {
                    h.builders.push(b);
                }
            }
            10 => {
                let b = any(input, &h.builders);
                let (n, null) = input.text(&FIELDS);
                let mut f = 0;
                let s = vigil_builder_field(b, ptr_of(&n, null), n.len(), &mut f);
                check(s, "builder_field");
                if s == vigil_status::VIGIL_OK {
                    h.fields.push(f);
                }
            }
            11..=14 => {
                let b = any(input, &h.builders);
                let f = match input.byte() % 4 {
                    0 => input.u32(),
                    _ => input.pick(&h.fields).unwrap_or(0),
                };
                let v = input.bytes().to_vec();
                let s = match input.byte() % 6 {
                    0 => vigil_builder_set_str(b, f, v.as_ptr().cast(), v.len()),
                    1 => vigil_builder_set_int(b, f, i64::from(input.u32())),
                    2 => vigil_builder_set_bool(b, f, input.byte().is_multiple_of(2)),
                    3 => vigil_builder_set_ip(b, f, v.as_ptr().cast(), v.len()),
                    4 => vigil_builder_push_str(b, f, v.as_ptr().cast(), v.len()),
                    _ => vigil_builder_set_record_id(b, u64::from(input.u32())),
                };
                check(s, "builder_set");
            }
            15 => {
                let mut e = null_mut();
                check(vigil_event_new(&mut e), "event_new");
                if !e.is_null() {
                    h.events.push(e);
                }
            }
            16 => {
                let b = any(input, &h.builders);
                let e = any(input, &h.events);
                check(vigil_builder_finish(b, e), "finish");
            }
            17 => {
                let d = any(input, &h.deployers);
                let e = any(input, &h.events);
                let mut n = 0usize;
                let mut alerts = 0usize;
                let s = vigil_deployer_process(
                    d,
                    e,
                    Some(on_alert),
                    (&mut n as *mut usize).cast(),
                    &mut alerts,
                );
                check(s, "process");
                assert_eq!(n, alerts, "every alert counted was delivered");
                h.alerts += n;
            }
            18 => {
                let d = any(input, &h.deployers);
                let (m, null) = input.text(&["sysmon", "windows", ""]);
                let mut dec = null_mut();
                check(
                    vigil_decoder_new(d, ptr_of(&m, null), m.len(), &mut dec),
                    "decoder_new",
                );
                if !dec.is_null() {
                    h.decoders.push(dec);
                }
            }
            19 => {
                let d = any(input, &h.deployers);
                let dec = any(input, &h.decoders);
                let (line, null) = input.text(&LINES);
                let mut n = 0usize;
                let mut alerts = 0usize;
                let s = vigil_deployer_process_json(
                    d,
                    dec,
                    ptr_of(&line, null),
                    line.len(),
                    Some(on_alert),
                    (&mut n as *mut usize).cast(),
                    &mut alerts,
                );
                check(s, "process_json");
                assert_eq!(n, alerts, "every alert counted was delivered");
                h.alerts += n;
            }
            20 => {
                let d = any(input, &h.deployers);
                let t = any(input, &h.trusts);
                check(vigil_deployer_set_trust(d, t), "set_trust");
            }
            _ => free_one(input, h),
        }
    }
}

/// Frees one handle of any kind, in any order (a builder may outlive its deployer).
unsafe fn free_one(input: &mut Input<'_>, h: &mut Handles) {
    fn take<T>(input: &mut Input<'_>, v: &mut Vec<*mut T>) -> *mut T {
        if v.is_empty() {
            return null_mut();
        }
        let i = usize::from(input.byte()) % v.len();
        v.swap_remove(i)
    }
    // SAFETY: each pointer taken is removed from `h`, so it is freed once.
    unsafe {
        match input.byte() % 6 {
            0 => vigil_trust_free(take(input, &mut h.trusts)),
            1 => vigil_schema_free(take(input, &mut h.schemas)),
            2 => vigil_deployer_free(take(input, &mut h.deployers)),
            3 => vigil_builder_free(take(input, &mut h.builders)),
            4 => vigil_event_free(take(input, &mut h.events)),
            _ => vigil_decoder_free(take(input, &mut h.decoders)),
        }
    }
}
