//! In steady state a call allocates nothing: the client encodes into and
//! receives into buffers it keeps, and reads the caller's events in place.
//!
//! A counting global allocator counts the allocations of the test's own thread
//! while it makes calls (the server runs on other threads and is not counted).

#[path = "common/fake_source.rs"]
mod fake_source;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use fake_source::{FakeSource, Record};
use flume_client::{Client, Config, EventView, Protocol};

struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation() {
    let _ = COUNTING.try_with(|counting| {
        if counting.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Runs `f` and returns how many allocations (and reallocations) this thread made in it.
fn allocations_in(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get)
}

/// A source that answers every call `OK`, on its own threads (not counted).
fn ok_server(protocol: Protocol) -> FakeSource {
    FakeSource::builder(protocol).record(Record::Nothing).start()
}

const HEADERS: [(&[u8], &[u8]); 3] =
    [(b"host", b"web-1.example.com"), (b"timestamp", b"1700000000000"), (b"topic", b"allocation-test")];

const CALLS: usize = 100;
const EVENTS_PER_CALL: usize = 100;

fn steady_state_allocations(protocol: Protocol, batch_size: &str) -> (usize, usize) {
    let server = ok_server(protocol);
    let mut config = Config::default();
    config.protocol = protocol;
    config.set("batch-size", batch_size).unwrap();
    config.set("request-timeout", "5000").unwrap();
    config.set("connect-timeout", "5000").unwrap();
    let client = Client::new(&server.addr(), &config).unwrap();

    let bodies: Vec<Vec<u8>> =
        (0..EVENTS_PER_CALL).map(|i| format!("{i:>4}: {}", "x".repeat(120)).into_bytes()).collect();
    let events: Vec<EventView> = bodies.iter().map(|b| EventView::new(&HEADERS, b)).collect();

    // Warm up: connect, and let the request and reply buffers reach their size.
    for _ in 0..5 {
        client.append_batch(&events).unwrap();
        client.append(&events[0]).unwrap();
    }

    let mut failures = 0;
    let batches = allocations_in(|| {
        for _ in 0..CALLS {
            if client.append_batch(&events).is_err() {
                failures += 1;
            }
        }
    });
    let appends = allocations_in(|| {
        for _ in 0..CALLS {
            if client.append(&events[7]).is_err() {
                failures += 1;
            }
        }
    });
    assert_eq!(failures, 0, "{protocol:?}: calls failed while counting");
    (batches, appends)
}

#[test]
fn the_counter_counts_this_threads_allocations() {
    let n = allocations_in(|| {
        let v: Vec<u8> = Vec::with_capacity(std::hint::black_box(100));
        std::hint::black_box(&v);
    });
    assert_eq!(n, 1);
}

#[test]
fn append_batch_and_append_allocate_nothing_in_steady_state() {
    for protocol in [Protocol::Compact, Protocol::Binary] {
        // One call per append_batch, then four (30 + 30 + 30 + 10).
        for batch_size in ["100", "30"] {
            let (batches, appends) = steady_state_allocations(protocol, batch_size);
            assert_eq!(
                (batches, appends),
                (0, 0),
                "{protocol:?}, batch-size {batch_size}: allocations during {CALLS} append_batch calls of \
                 {EVENTS_PER_CALL} events, and during {CALLS} append calls"
            );
        }
    }
}
