//! Decoding a typical native line into a reused event allocates nothing in steady state, when
//! the line's strings hold no escapes. Measured with a counting global allocator (counting only
//! on the test's own thread, so the harness does not disturb it).

mod counting_alloc;

use counting_alloc::allocations_during;

use vigil_runtime::decode::Decoder;
use vigil_runtime::event::Event;
use vigil_runtime::schema::Schema;

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
