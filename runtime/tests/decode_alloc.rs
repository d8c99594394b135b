//! Decoding a typical native line into a reused event allocates nothing in steady state, when
//! the line's strings hold no escapes. Measured with a counting global allocator (counting only
//! on the test's own thread, so the harness does not disturb it).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use vigil_runtime::decode::Decoder;
use vigil_runtime::event::Event;
use vigil_runtime::schema::Schema;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    // `try_with`: the thread-locals may be gone while a thread shuts down.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: forwards every call to the system allocator unchanged; the counting only touches
// const-initialised thread-locals, which never allocate.
#[expect(unsafe_code, reason = "a counting global allocator for this test")]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> u64 {
    ALLOCS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    ALLOCS.with(Cell::get)
}

const LINE: &[u8] = br#"{"event": "process_start", "time": 1700000000000000000, "host": "workstation-7", "pid": 4242, "ppid": 4, "image": "C:/Windows/System32/WindowsPowerShell/v1.0/powershell.exe", "command_line": "powershell -NoProfile -EncodedCommand SQBFAFgA", "args": ["powershell", "-NoProfile", "-EncodedCommand", "SQBFAFgA"], "user": "CORP/alice", "integrity_level": "High", "parent_image": "C:/Windows/explorer.exe"}"#;

#[test]
fn steady_state_decoding_allocates_nothing() {
    // The counter works: a real allocation is seen.
    assert!(allocations_during(|| drop(std::hint::black_box(Vec::<u8>::with_capacity(8)))) >= 1);
    let schema = Schema::endpoint();
    let mut decoder = Decoder::native(&schema);
    let mut spare: Vec<Event<'static>> = Vec::new();
    // Warm up: buffers grow to this line's needs.
    for n in 1..=3 {
        let mut out = spare;
        decoder.decode_line(LINE, n, &mut out).expect("good line");
        spare = decoder.recycle(out);
    }
    let allocs = allocations_during(|| {
        for n in 4..=1000 {
            let mut out = spare;
            decoder.decode_line(LINE, n, &mut out).expect("good line");
            assert_eq!(out.len(), 1);
            spare = decoder.recycle(out);
        }
        drop(spare);
    });
    assert_eq!(allocs, 0, "allocations while decoding 997 lines");
    assert_eq!(decoder.stats().events, 1000);
}
