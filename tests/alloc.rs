//! In steady state a call allocates nothing: the client encodes into and
//! receives into buffers it keeps, and reads the caller's events in place.
//! So does `send`, on the caller's thread and on the sender thread.
//!
//! A counting global allocator counts the allocations of the test's own thread
//! while it makes calls (the server runs on other threads and is not counted),
//! and those of sender threads (named `flume-sender`) while told to.

#[path = "common/fake_source.rs"]
mod fake_source;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use fake_source::{FakeSource, Record};
use flume_client::{Client, Config, DeliveryCallback, DeliveryReport, EventView, Protocol};

struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// Whether sender threads' allocations are counted (into `SENDER_ALLOCATIONS`).
static SENDER_COUNTING: AtomicBool = AtomicBool::new(false);
static SENDER_ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread is a sender thread: unknown (0), yes (1), no (2), being found out (3).
    static SENDER_THREAD: Cell<u8> = const { Cell::new(0) };
}

fn on_sender_thread() -> bool {
    SENDER_THREAD
        .try_with(|role| {
            if role.get() == 0 {
                role.set(3); // finding the name out may allocate, which lands here again
                let yes = std::thread::current().name() == Some("flume-sender");
                role.set(if yes { 1 } else { 2 });
            }
            role.get() == 1
        })
        .unwrap_or(false)
}

fn note_allocation() {
    let _ = COUNTING.try_with(|counting| {
        if counting.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
    if SENDER_COUNTING.load(Relaxed) && on_sender_thread() {
        SENDER_ALLOCATIONS.fetch_add(1, Relaxed);
    }
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

/// Held by a test that counts sender threads' allocations: every sender
/// thread's are counted, so one such test runs at a time.
fn counting_sender_threads_alone() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Allocations while `rounds` bursts of `events` are sent and flushed, after
/// as many bursts of warm-up: on the caller's thread, and on the sender thread.
fn send_steady_state_allocations(settings: &[(&str, &str)], events: &[EventView], rounds: usize) -> (usize, usize) {
    let _alone = counting_sender_threads_alone();
    let server = ok_server(Protocol::Compact);
    let mut config = Config::default();
    for (key, value) in settings {
        config.set(key, value).unwrap();
    }
    let reported = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&reported);
    config.delivery_callback = Some(DeliveryCallback(Arc::new(move |r: &DeliveryReport| {
        assert!(r.result.is_ok(), "every event is accepted");
        counted.fetch_add(1, Relaxed);
    })));
    let client = Client::new(&server.addr(), &config).unwrap();
    let burst = || {
        for (i, event) in events.iter().enumerate() {
            client.send(event, i).unwrap();
        }
        client.flush(Duration::from_secs(60)).unwrap();
    };
    for _ in 0..rounds {
        burst();
    }
    SENDER_ALLOCATIONS.store(0, Relaxed);
    SENDER_COUNTING.store(true, Relaxed);
    let caller = allocations_in(|| (0..rounds).for_each(|_| burst()));
    SENDER_COUNTING.store(false, Relaxed);
    assert_eq!(reported.load(Relaxed), 2 * rounds * events.len());
    (caller, SENDER_ALLOCATIONS.load(Relaxed))
}

#[test]
fn send_allocates_nothing_in_steady_state_on_either_thread() {
    let bodies: Vec<Vec<u8>> =
        (0..EVENTS_PER_CALL).map(|i| format!("{i:>4}: {}", "x".repeat(120)).into_bytes()).collect();
    let events: Vec<EventView> = bodies.iter().map(|b| EventView::new(&HEADERS, b)).collect();
    // A call at a time, and four calls pipelined (100 events: 30 + 30 + 30 + 10).
    for in_flight in ["1", "4"] {
        let settings = [("batch-size", "30"), ("queue.max-in-flight", in_flight), ("linger-ms", "1")];
        let allocations = send_steady_state_allocations(&settings, &events, 20);
        assert_eq!(allocations, (0, 0), "queue.max-in-flight {in_flight}: allocations (caller, sender thread)");
    }
}

#[test]
fn a_queue_that_fills_and_drains_reuses_its_memory() {
    // Bursts of 8 MiB queued at once (some 130 chunks of 4 KiB events),
    // drained by flush, again and again: the chunks freed in one are kept
    // for the next (within the second or two that the queue keeps its peak).
    let body = vec![b'b'; 4096];
    let events: Vec<EventView> = (0..2000).map(|_| EventView::new(&HEADERS, &body)).collect();
    let settings = [("batch-size", "1000"), ("queue.max-in-flight", "4")];
    let (caller, sender) = send_steady_state_allocations(&settings, &events, 3);
    assert_eq!((caller, sender), (0, 0), "allocations (caller, sender thread) in bursts of 2,000 4 KiB events");
}

extern "C" fn count_report(
    _opaque: *mut std::ffi::c_void,
    result: u32,
    message: *const std::ffi::c_char,
    user: *mut std::ffi::c_void,
) {
    // Counts acceptances with an empty message only (a panic here would abort the tests).
    // SAFETY: `user` is the test's counter, `message` a C string valid during the call.
    unsafe {
        if result == 0 && *message == 0 {
            (*user.cast::<AtomicUsize>()).fetch_add(1, Relaxed);
        }
    }
}

#[test]
fn the_c_delivery_callback_allocates_nothing_per_report() {
    use flume_client_ffi::*;
    let _alone = counting_sender_threads_alone();
    let server = ok_server(Protocol::Compact);
    let reported = AtomicUsize::new(0);
    let headers: Vec<flume_header> = [(c"host", c"web-1"), (c"topic", c"allocation-test")]
        .iter()
        .map(|(k, v)| flume_header { key: k.as_ptr(), value: v.as_ptr() })
        .collect();
    let body = b"an event's body";
    let event = flume_event {
        headers: headers.as_ptr(),
        header_count: headers.len(),
        body: body.as_ptr().cast(),
        body_len: body.len(),
    };
    // SAFETY: plain calls of the C API with valid arguments; `reported` outlives the client.
    let sender_allocations = unsafe {
        let conf = flume_config_new();
        let address = std::ffi::CString::new(server.addr()).unwrap();
        assert_eq!(flume_config_set(conf, c"batch-size".as_ptr(), c"30".as_ptr()), 0);
        let user = &reported as *const AtomicUsize as *mut std::ffi::c_void;
        assert_eq!(flume_config_set_delivery_cb(conf, Some(count_report), user), 0);
        let client = flume_client_new(address.as_ptr(), conf);
        flume_config_free(conf);
        assert!(!client.is_null());
        let burst = || {
            for i in 0..100 {
                assert_eq!(flume_client_send(client, &event, i as *mut std::ffi::c_void), 0);
            }
            assert_eq!(flume_client_flush(client, 30_000), 0);
        };
        (0..10).for_each(|_| burst());
        SENDER_ALLOCATIONS.store(0, Relaxed);
        SENDER_COUNTING.store(true, Relaxed);
        (0..10).for_each(|_| burst());
        SENDER_COUNTING.store(false, Relaxed);
        flume_client_free(client);
        SENDER_ALLOCATIONS.load(Relaxed)
    };
    assert_eq!(reported.load(Relaxed), 2_000, "acceptances with an empty message");
    assert_eq!(sender_allocations, 0, "allocations on the sender thread for 1,000 reports");
}
