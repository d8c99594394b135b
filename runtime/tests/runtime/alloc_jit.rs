//! The JIT evaluation path allocates nothing per event that raises no alert: `Engine::process`
//! with `EngineKind::Jit` over 10,000 non-matching `process_start` events, after a warm-up,
//! makes zero heap allocations. Measured with a counting global allocator (counting only on
//! the test's own thread, so the harness does not disturb it).
//!
//! The program is three hand-built rules over the endpoint schema: a case-sensitive
//! `command_line contains "..."`, a folded `image iendswith any [...]`, and `pid == 4`.
//!
//! Subjects with upper-case letters (typical Windows paths) are covered too: with the prefilter
//! off, the JIT helpers fold into per-thread reused buffers (`runtime/src/jit/helpers.rs`,
//! `with_folded`); with it on, the prefilter folds each field once per event into its buffer.

use crate::counting_alloc::allocations_during;
use vigil_runtime::engine::{Engine, EngineKind, EngineOptions};
use vigil_runtime::event::{Event, EventBuilder};
use vigil_runtime::ir::{CmpOp, ExprKind, Quant, StrTest};
use vigil_runtime::schema::Schema;
use vigil_runtime::types::Ty;
use vigil_runtime::verify::Verified;
use vigil_test_support::builder::{field, str_const, Prog};

/// The three rules: `command_line contains "sekurlsa::"`, `image iendswith any
/// ["\\powershell.exe", "\\mshta.exe"]`, `pid == 4`.
fn program() -> Verified {
    let mut p = Prog::with_schema(Schema::endpoint());
    p.rule("contains", &["process_start"], |p, rb| {
        let lhs = field(p, rb, "process_start", "command_line");
        let rhs = str_const(p, rb, "sekurlsa::");
        Some(rb.e(
            Ty::BOOL,
            ExprKind::StrTest {
                op: StrTest::Contains,
                fold: false,
                lhs,
                rhs,
            },
        ))
    });
    p.rule("folded_list", &["process_start"], |p, rb| {
        let lhs = field(p, rb, "process_start", "image");
        let list = p.str_list(&["\\powershell.exe", "\\mshta.exe"]);
        Some(rb.e(
            Ty::BOOL,
            ExprKind::StrList {
                op: StrTest::EndsWith,
                fold: true,
                quant: Quant::Any,
                lhs,
                list,
            },
        ))
    });
    p.rule("int_cmp", &["process_start"], |p, rb| {
        let lhs = field(p, rb, "process_start", "pid");
        let rhs = rb.int(4);
        Some(rb.e(Ty::BOOL, ExprKind::Cmp(CmpOp::Eq, lhs, rhs)))
    });
    p.verify()
}

/// Events none of the rules fire on, with these images (and matching command lines).
fn events(schema: &Schema, images: &[&'static str]) -> Vec<Event<'static>> {
    images
        .iter()
        .enumerate()
        .map(|(i, image)| {
            let mut b = EventBuilder::new(schema, "process_start").expect("process_start");
            b.set_int("time", 1_700_000_000_000_000_000 + i as i64)
                .expect("time");
            b.set_str("host", "wks-7").expect("host");
            b.set_int("pid", 1000 + i as i64).expect("pid");
            b.set_str("image", image).expect("image");
            b.set_string("command_line", format!("{image} --run {i}"))
                .expect("command line");
            b.finish()
        })
        .collect()
}

/// Allocations over 10,000 `process` calls cycling through `events`, after a warm-up.
fn allocations_per_10k(events: &[Event<'_>]) -> u64 {
    let engine = Engine::new(
        &program(),
        EngineOptions {
            engine: EngineKind::Jit,
            ..EngineOptions::default()
        },
    )
    .expect("the JIT compiles the program");
    let mut alerts = 0usize;
    // Warm up: the context pool hands this thread its context and every helper runs once.
    for event in events {
        alerts += engine.process(event, &mut |_| {}).expect("fits");
    }
    assert_eq!(alerts, 0, "the events must not fire");
    let allocs = allocations_during(|| {
        for event in events.iter().cycle().take(10_000) {
            alerts += engine.process(event, &mut |_| {}).expect("fits");
        }
    });
    assert_eq!(alerts, 0, "the events must not fire");
    assert_eq!(engine.stats().eval_errors, 0);
    assert_eq!(engine.stats().internal_errors, 0);
    allocs
}

#[test]
fn jit_path_allocates_nothing_per_non_alerting_event() {
    // The counter works: a real allocation is seen.
    assert!(allocations_during(|| drop(std::hint::black_box(Vec::<u8>::with_capacity(8)))) >= 1);
    let schema = Schema::endpoint();
    // Already folded (lower case), so folding borrows.
    let events = events(
        &schema,
        &[
            r"c:\windows\system32\svchost.exe",
            r"c:\program files\google\chrome\application\chrome.exe",
            r"c:\windows\system32\conhost.exe",
            r"c:\windows\explorer.exe",
        ],
    );
    assert_eq!(allocations_per_10k(&events), 0);
}

#[test]
fn jit_path_allocates_nothing_on_mixed_case_subjects() {
    let schema = Schema::endpoint();
    let events = events(
        &schema,
        &[
            r"C:\Windows\System32\svchost.exe",
            r"C:\Program Files\Google\Chrome\Application\chrome.exe",
            r"C:\Windows\System32\conhost.exe",
            r"C:\Windows\explorer.exe",
        ],
    );
    assert_eq!(allocations_per_10k(&events), 0);
}

/// With the whole-bundle prefilter on (the default, asserted here): mixed-case subjects are
/// folded once per event into the prefilter's reused buffer and the folded tests read its bits,
/// so nothing is allocated either.
#[test]
fn jit_path_with_the_prefilter_allocates_nothing_on_mixed_case_subjects() {
    assert!(EngineOptions::default().prefilter);
    let schema = Schema::endpoint();
    let events = events(
        &schema,
        &[
            r"C:\Windows\System32\svchost.exe",
            r"C:\Program Files\Google\Chrome\Application\chrome.exe",
            r"C:\Windows\System32\conhost.exe",
            r"C:\Windows\explorer.exe",
        ],
    );
    assert_eq!(allocations_per_10k(&events), 0);
}
