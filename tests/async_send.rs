//! Asynchronous sending: `Client::send`, delivery reports, `flush`, and the
//! close on drop, against in-test servers that can stall or be restarted.

#[path = "common/fake_source.rs"]
mod fake_source;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread;
use std::time::{Duration, Instant};

use fake_source::{Action, FakeSource, Record, Status};
use flume_client::{
    Client, Config, DeliveryCallback, DeliveryReport, ErrorKind, EventView, Protocol, FLUME_MAX_FRAME_SIZE,
};

/// Slack for a loaded CI machine on top of each configured time: a bound, not a benchmark.
const MARGIN: Duration = Duration::from_millis(1500);

/// The fake source answering OK (or never, when `stall`), counting arrivals
/// per event id (the body's first 4 bytes); it can be stopped and started
/// again on its port.
struct Server {
    addr: SocketAddr,
    arrivals: Arc<Vec<AtomicU8>>,
    source: FakeSource,
}

impl Server {
    fn start(ids: usize, stall: bool) -> Server {
        let arrivals: Arc<Vec<AtomicU8>> = Arc::new((0..ids).map(|_| AtomicU8::new(0)).collect());
        let counted = Arc::clone(&arrivals);
        let source = FakeSource::builder(Protocol::Compact)
            .max_frame(FLUME_MAX_FRAME_SIZE)
            .record(Record::Nothing)
            .script(move |r| {
                for event in &r.call.events {
                    let id = u32::from_le_bytes(event.body[..4].try_into().unwrap()) as usize;
                    counted[id].fetch_add(1, Ordering::SeqCst);
                }
                if stall {
                    Action::Silent // read calls, never answer
                } else {
                    Action::Reply(Status::Ok)
                }
            })
            .start();
        Server { addr: source.socket_addr(), arrivals, source }
    }

    /// Closes the listener and every connection.
    fn stop(&mut self) {
        self.source.stop();
    }

    fn restart(&mut self) {
        self.source.restart();
    }

    fn received(&self, id: usize) -> u8 {
        self.arrivals[id].load(Ordering::SeqCst)
    }
}

/// Per id: 0 = no report yet, 1 = reported OK, 2 = reported failed; more than one report panics.
struct Reports {
    state: Vec<AtomicU8>,
    failures: Mutex<Vec<ErrorKind>>,
    /// Per id, the code of its report (0 for OK).
    codes: Vec<AtomicU32>,
}

impl Reports {
    fn new(ids: usize) -> Arc<Reports> {
        Arc::new(Reports {
            state: (0..ids).map(|_| AtomicU8::new(0)).collect(),
            failures: Mutex::default(),
            codes: (0..ids).map(|_| AtomicU32::new(u32::MAX)).collect(),
        })
    }

    fn callback(self: &Arc<Reports>) -> DeliveryCallback {
        let reports = Arc::clone(self);
        DeliveryCallback(Arc::new(move |r: &DeliveryReport| {
            let outcome = if r.result.is_ok() { 1 } else { 2 };
            if let Err(e) = r.result {
                reports.failures.lock().unwrap().push(e.kind());
            }
            reports.codes[r.opaque].store(r.result.map_or_else(|e| e.kind().code(), |()| 0), Ordering::SeqCst);
            let before = reports.state[r.opaque].swap(outcome, Ordering::SeqCst);
            assert_eq!(before, 0, "event {} reported twice", r.opaque);
        }))
    }

    fn count(&self, outcome: u8) -> usize {
        self.state.iter().filter(|s| s.load(Ordering::SeqCst) == outcome).count()
    }
}

fn body(id: usize) -> [u8; 16] {
    let mut body = [b'.'; 16];
    body[..4].copy_from_slice(&(id as u32).to_le_bytes());
    body
}

fn config(settings: &[(&str, &str)], reports: &Arc<Reports>) -> Config {
    let mut config = Config::default();
    for (k, v) in settings {
        config.set(k, v).unwrap();
    }
    config.delivery_callback = Some(reports.callback());
    config
}

#[test]
fn a_million_events_from_eight_threads_through_two_receiver_restarts_are_all_reported() {
    const EVENTS: usize = 1_000_000;
    const THREADS: usize = 8;
    let mut server = Server::start(EVENTS, false);
    let reports = Reports::new(EVENTS);
    let config = config(
        &[
            ("batch-size", "500"),
            ("queue.full", "block"),
            ("queue.block-timeout", "30000"),
            ("retry-backoff", "50"),
            ("connect-timeout", "1000"),
        ],
        &reports,
    );
    let client = Arc::new(Client::new(&server.addr.to_string(), &config).unwrap());
    let headers: [(&[u8], &[u8]); 3] = [(b"host", b"web-1"), (b"topic", b"clicks"), (b"dc", b"eu")];
    // Each sender waits, a third and two thirds into its events, until the
    // receiver has been stopped once and twice: events are sent while it is
    // down and when it comes back, however fast the client is.
    let stops = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            let (client, stops) = (Arc::clone(&client), Arc::clone(&stops));
            thread::spawn(move || {
                for (n, id) in (t..EVENTS).step_by(THREADS).enumerate() {
                    let due = [EVENTS / THREADS / 3, 2 * EVENTS / THREADS / 3].iter().filter(|&&at| n >= at).count();
                    while stops.load(Ordering::SeqCst) < due {
                        thread::sleep(Duration::from_millis(1));
                    }
                    client.send(&EventView::new(&headers, &body(id)), id).unwrap();
                }
            })
        })
        .collect();
    for _ in 0..2 {
        thread::sleep(Duration::from_millis(300));
        server.stop();
        stops.fetch_add(1, Ordering::SeqCst);
        thread::sleep(Duration::from_millis(300));
        server.restart();
    }
    for s in senders {
        s.join().unwrap();
    }
    client.flush(Duration::from_secs(120)).unwrap();

    let (ok, failed) = (reports.count(1), reports.count(2));
    assert_eq!(ok + failed, EVENTS, "every event has exactly one report");
    for id in 0..EVENTS {
        let arrived = server.received(id);
        // Reported failed: it may or may not have arrived.
        if reports.state[id].load(Ordering::SeqCst) == 1 {
            assert!(arrived >= 1, "event {id} reported delivered but never arrived");
        }
    }
    // None arrives that was not sent: ids are only those sent, and the server
    // decoded every event it got into an id below EVENTS (else it would panic).
    let stats = client.stats_json().unwrap();
    assert!(stats.contains(&format!("\"FLUME_OK\":{ok},")), "{stats}");
    let connects: usize = stats
        .split("\"connects\":")
        .nth(1)
        .unwrap()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(connects >= 3, "the restarts happened before the sending ended: {stats}");
    eprintln!(
        "{ok} delivered, {failed} failed: {:?}",
        reports.failures.lock().unwrap().iter().take(5).collect::<Vec<_>>()
    );
}

#[test]
fn a_full_queue_fails_at_once_in_fail_mode() {
    let server = Server::start(1000, true);
    let reports = Reports::new(1000);
    let config = config(&[("batch-size", "5"), ("queue.max-events", "10"), ("request-timeout", "60000")], &reports);
    let client = Client::new(&server.addr.to_string(), &config).unwrap();
    let mut accepted = 0;
    let start = Instant::now();
    let full = loop {
        match client.send(&EventView::body(&body(accepted)), accepted) {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted < 100, "the queue never filled");
        thread::sleep(Duration::from_millis(2)); // let the sender take its first batch
    };
    assert_eq!(full.kind(), ErrorKind::QueueFull, "{full}");
    assert!(full.message().contains("queue.max-events 10"), "{full}");
    assert!((10..=15).contains(&accepted), "{accepted} events accepted");
    assert!(start.elapsed() < MARGIN);
}

#[test]
fn a_full_queue_blocks_no_longer_than_block_timeout_in_block_mode() {
    let server = Server::start(1000, true);
    let reports = Reports::new(1000);
    let config = config(
        &[
            ("queue.max-bytes", "100"),
            ("queue.full", "block"),
            ("queue.block-timeout", "300"),
            ("request-timeout", "60000"),
            ("linger-ms", "60000"),
        ],
        &reports,
    );
    let client = Client::new(&server.addr.to_string(), &config).unwrap();
    for id in 0..6 {
        client.send(&EventView::body(&body(id)), id).unwrap(); // 6 * 16 bytes: room for no more
    }
    let start = Instant::now();
    let e = client.send(&EventView::body(&body(6)), 6).unwrap_err();
    let waited = start.elapsed();
    assert_eq!(e.kind(), ErrorKind::QueueFull, "{e}");
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_millis(300) + MARGIN, "{waited:?}");
}

#[test]
fn flush_and_free_respect_their_timeouts_with_the_agent_unreachable() {
    // A server that takes calls and never answers: the sender is stuck in a call.
    let server = Server::start(1000, true);
    let reports = Reports::new(1000);
    let config = config(
        &[("batch-size", "10"), ("request-timeout", "60000"), ("close-timeout", "400"), ("linger-ms", "0")],
        &reports,
    );
    let client = Client::new(&server.addr.to_string(), &config).unwrap();
    for id in 0..100 {
        client.send(&EventView::body(&body(id)), id).unwrap();
    }
    let start = Instant::now();
    let e = client.flush(Duration::from_millis(300)).unwrap_err();
    let waited = start.elapsed();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(e.message().contains("100 events"), "{e}");
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_millis(300) + MARGIN, "{waited:?}");

    let start = Instant::now();
    drop(client);
    let waited = start.elapsed();
    assert!(waited < Duration::from_millis(400) + MARGIN, "free took {waited:?}");
    assert_eq!(reports.count(2), 100, "every queued event reported failed by free");
    let failures = reports.failures.lock().unwrap().clone();
    assert_eq!(
        failures.iter().filter(|k| **k == ErrorKind::Timeout).count(),
        10,
        "the batch in flight: delivery unknown"
    );
    assert_eq!(failures.iter().filter(|k| **k == ErrorKind::Closed).count(), 90, "the queued events: not sent");
    thread::sleep(Duration::from_millis(200));
    assert_eq!(reports.failures.lock().unwrap().len(), 100, "no report after free returned");
}

#[test]
fn free_with_the_agent_refusing_connections_reports_everything_within_close_timeout() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port(); // closed again at once
    let reports = Reports::new(50);
    let config = config(&[("close-timeout", "500"), ("retries", "1000"), ("retry-backoff", "20")], &reports);
    let client = Client::new(&format!("127.0.0.1:{port}"), &config).unwrap();
    for id in 0..50 {
        client.send(&EventView::body(&body(id)), id).unwrap();
    }
    let start = Instant::now();
    drop(client);
    assert!(start.elapsed() < Duration::from_millis(500) + MARGIN, "free took {:?}", start.elapsed());
    assert_eq!(reports.count(2), 50);
}

#[test]
fn events_that_fail_past_retries_are_reported_with_their_error() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let reports = Reports::new(20);
    let config = config(&[("retries", "2"), ("retry-backoff", "10"), ("linger-ms", "0")], &reports);
    let client = Client::new(&format!("127.0.0.1:{port}"), &config).unwrap();
    for id in 0..20 {
        client.send(&EventView::body(&body(id)), id).unwrap();
    }
    client.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(reports.count(2), 20);
    assert!(reports.failures.lock().unwrap().iter().all(|k| *k == ErrorKind::Connect));
    let stats = client.stats_json().unwrap();
    assert!(stats.contains("\"FLUME_ERR_CONNECT\":20"), "{stats}");
}

#[test]
fn bad_events_are_refused_by_send_and_never_reported() {
    let reports = Reports::new(2);
    let mut config = config(&[("max-frame-size", "100")], &reports);
    config.linger = Duration::ZERO;
    let client = Client::new("127.0.0.1:1", &config).unwrap();
    let bad_utf8: [(&[u8], &[u8]); 1] = [(b"k", b"\xff")];
    assert_eq!(client.send(&EventView::new(&bad_utf8, b"x"), 0).unwrap_err().kind(), ErrorKind::InvalidArg);
    assert_eq!(client.send(&EventView::body(&[0; 200]), 1).unwrap_err().kind(), ErrorKind::TooLarge);
    client.flush(Duration::from_secs(1)).unwrap();
    drop(client);
    assert_eq!(reports.count(1) + reports.count(2), 0);
}

#[test]
fn a_forked_child_cannot_use_its_parents_client() {
    let client = Client::new("127.0.0.1:1", &Config::default()).unwrap();
    // SAFETY: the child only calls the client (which fails before any lock or
    // I/O) and _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let code = match client.append(&EventView::body(b"x")) {
            Err(e) if e.kind() == ErrorKind::InvalidArg && e.message().contains("fork") => 0,
            _ => 1,
        };
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child status {status}");
    // The parent's client is unaffected.
    assert_eq!(client.append(&EventView::body(b"x")).unwrap_err().kind(), ErrorKind::Connect);
}

/// The kind of each id's report (`None` for OK); panics if one has none.
fn kinds(reports: &Reports, ids: usize) -> Vec<Option<ErrorKind>> {
    (0..ids)
        .map(|id| match reports.codes[id].load(Ordering::SeqCst) {
            0 => None,
            u32::MAX => panic!("event {id} has no report"),
            code => Some(ErrorKind::from_code(code).unwrap()),
        })
        .collect()
}

/// Waits up to `limit` for `done`, polling.
fn wait_for(limit: Duration, done: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > limit {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
    true
}

/// A callback that records into `reports`, holding `marker`: once the client
/// and its sender thread (which holds the client's internals, the callback
/// and the connections among them) are gone, `marker` has no other owner.
fn marked_callback(reports: &Arc<Reports>, marker: &Arc<()>) -> DeliveryCallback {
    let (inner, marker) = (reports.callback(), Arc::clone(marker));
    DeliveryCallback(Arc::new(move |r: &DeliveryReport| {
        let _held = &marker;
        (inner.0)(r)
    }))
}

#[test]
fn events_never_sent_while_the_agent_is_down_are_reported_as_connect_failures() {
    // Issue 19, 2: the batch being retried fails with FLUME_ERR_CONNECT; the
    // events queued behind it expire without ever being written: they too
    // were never sent, and must not say "maybe delivered" (FLUME_ERR_TIMEOUT).
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let reports = Reports::new(50);
    let config = config(
        &[
            ("event-timeout", "300"),
            ("retries", "1000"),
            ("retry-backoff", "20"),
            ("batch-size", "10"),
            ("linger-ms", "0"),
        ],
        &reports,
    );
    let client = Client::new(&format!("127.0.0.1:{port}"), &config).unwrap();
    for id in 0..50 {
        client.send(&EventView::body(&body(id)), id).unwrap();
    }
    client.flush(Duration::from_secs(10)).unwrap();
    let kinds = kinds(&reports, 50);
    assert!(kinds.iter().all(|k| *k == Some(ErrorKind::Connect)), "{kinds:?}");
}

#[test]
fn events_never_sent_behind_timing_out_calls_are_reported_expired_and_the_others_maybe_delivered() {
    // Issue 19, 2: calls time out (the agent reads and never answers): their
    // events may have been delivered (FLUME_ERR_TIMEOUT); the events queued
    // behind them expire unsent (FLUME_ERR_EXPIRED): never written anywhere.
    let server = Server::start(50, true);
    let reports = Reports::new(50);
    let config = config(
        &[
            ("event-timeout", "300"),
            ("request-timeout", "200"),
            ("retries", "1000"),
            ("retry-backoff", "20"),
            ("batch-size", "10"),
            ("linger-ms", "0"),
        ],
        &reports,
    );
    let client = Client::new(&server.addr.to_string(), &config).unwrap();
    for id in 0..50 {
        client.send(&EventView::body(&body(id)), id).unwrap();
    }
    client.flush(Duration::from_secs(20)).unwrap();
    let kinds = kinds(&reports, 50);
    for (id, kind) in kinds.iter().enumerate() {
        match kind {
            Some(ErrorKind::Timeout) => {
                assert!(server.received(id) > 0, "event {id} reported maybe delivered, never written")
            }
            Some(ErrorKind::Expired) => {
                assert_eq!(server.received(id), 0, "event {id} reported never sent, but it arrived")
            }
            other => panic!("event {id}: {other:?}"),
        }
    }
    let expired = kinds.iter().filter(|k| **k == Some(ErrorKind::Expired)).count();
    assert!(expired >= 20, "{expired} of 50 expired unsent: {kinds:?}");
    let stats = client.stats_json().unwrap();
    assert!(stats.contains(&format!("\"FLUME_ERR_EXPIRED\":{expired}")), "{stats}");
}

#[test]
fn lingering_never_expires_an_event_sent_to_a_healthy_agent() {
    // Issue 19, 3: linger-ms >= event-timeout used to fail every event.
    for (event_timeout, linger, events_per_round, rounds) in [("5", "5", 1, 20), ("1000", "2000", 10, 1)] {
        let server = Server::start(100, false);
        let reports = Reports::new(100);
        let config = config(&[("event-timeout", event_timeout), ("linger-ms", linger)], &reports);
        let client = Client::new(&server.addr.to_string(), &config).unwrap();
        let mut id = 0;
        for _ in 0..rounds {
            for _ in 0..events_per_round {
                client.send(&EventView::body(&body(id)), id).unwrap();
                id += 1;
            }
            // Not flush, which sends at once: the sender lingers as it would.
            assert!(wait_for(Duration::from_secs(10), || reports.count(1) + reports.count(2) == id), "no report");
        }
        let kinds = kinds(&reports, id);
        assert!(kinds.iter().all(Option::is_none), "event-timeout {event_timeout}, linger-ms {linger}: {kinds:?}");
        assert!((0..id).all(|i| server.received(i) == 1));
    }
}

#[test]
fn flush_counts_exactly_the_events_still_without_a_report() {
    // Issue 19, 4: with a slow callback, flush said "N events still without a
    // report" counting events whose reports had long been made.
    let server = Server::start(50, false);
    let done = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&done);
    let mut config = Config::default();
    config.delivery_callback = Some(DeliveryCallback(Arc::new(move |_r: &DeliveryReport| {
        thread::sleep(Duration::from_millis(20));
        counter.fetch_add(1, Ordering::SeqCst);
    })));
    let client = Client::new(&server.addr.to_string(), &config).unwrap();
    for id in 0..50 {
        client.send(&EventView::body(&body(id)), id).unwrap();
    }
    let e = client.flush(Duration::from_millis(300)).unwrap_err();
    let reported = done.load(Ordering::SeqCst);
    let said: usize =
        e.message().split("flush timed out: ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(reported > 0 && reported < 50, "{reported} reported during the flush");
    // One more callback may have ended between flush's count and ours.
    assert!(
        (50 - reported..=50 - reported + 1).contains(&said),
        "flush said {said} unreported; {reported} of 50 were reported"
    );
    drop(client);
    assert_eq!(done.load(Ordering::SeqCst), 50);
}

/// Silences the deliberate panics of these tests (other panics still print).
fn quiet_deliberate_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let deliberate = info.payload().downcast_ref::<&str>().is_some_and(|s| s.starts_with("deliberate"));
            if !deliberate {
                default(info);
            }
        }));
    });
}

#[test]
fn a_callback_panicking_on_every_second_report_costs_only_those_reports() {
    // Issue 20: a panic in the callback killed the sender thread: later sends
    // were never reported, and drop reported delivered events a second time.
    quiet_deliberate_panics();
    let server = Server::start(300, false);
    let reports = Reports::new(300);
    let inner = reports.callback();
    let mut config = config(&[("batch-size", "7")], &reports);
    config.delivery_callback = Some(DeliveryCallback(Arc::new(move |r: &DeliveryReport| {
        (inner.0)(r);
        if r.opaque % 2 == 1 {
            panic!("deliberate panic in a delivery callback");
        }
    })));
    let client = Client::new(&server.addr.to_string(), &config).unwrap();
    for id in 0..200 {
        client.send(&EventView::body(&body(id)), id).unwrap();
    }
    client.flush(Duration::from_secs(10)).unwrap();
    for id in 200..300 {
        client.send(&EventView::body(&body(id)), id).unwrap();
    }
    client.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(client.callback_panics(), 150);
    drop(client); // reports nothing more, and re-raises nothing
    assert_eq!(reports.count(1), 300, "every event reported delivered exactly once (a second report panics)");
    assert!((0..300).all(|id| server.received(id) == 1));
}

#[test]
fn duration_max_means_no_limit_for_every_timeout() {
    // Issue 20: Duration::MAX panicked with "overflow when adding duration to instant".
    let server = Server::start(100, false);
    let reports = Reports::new(100);
    let mut config = config(&[("queue.full", "block")], &reports);
    config.connect_timeout = Duration::MAX;
    config.request_timeout = Duration::MAX;
    config.queue_block_timeout = Duration::MAX;
    config.linger = Duration::MAX;
    config.retry_backoff = Duration::MAX;
    config.event_timeout = Duration::MAX;
    config.close_timeout = Duration::MAX;
    let client = Client::new(&server.addr.to_string(), &config).unwrap();
    client.append(&EventView::body(&body(0))).unwrap();
    client.append_batch(&[EventView::body(&body(1)), EventView::body(&body(2))]).unwrap();
    for id in 3..50 {
        client.send(&EventView::body(&body(id)), id).unwrap();
    }
    client.flush(Duration::MAX).unwrap();
    for id in 50..100 {
        client.send(&EventView::body(&body(id)), id).unwrap();
    }
    drop(client); // close-timeout MAX: flushes everything
    assert_eq!(reports.count(1), 97);
    assert!((0..100).all(|id| server.received(id) == 1));

    // linger alone at MAX: the sender thread panicked while send kept returning Ok.
    let server = Server::start(1, false);
    let reports = Reports::new(1);
    let mut lingering = self::config(&[("event-timeout", "200")], &reports);
    lingering.linger = Duration::MAX;
    let client = Client::new(&server.addr.to_string(), &lingering).unwrap();
    client.send(&EventView::body(&body(0)), 0).unwrap();
    assert!(wait_for(Duration::from_secs(5), || reports.count(1) == 1), "linger is capped below event-timeout");
    assert_eq!(server.received(0), 1);
}

#[test]
fn a_callback_that_flushes_or_waits_for_room_fails_at_once_instead_of_waiting_for_itself() {
    let server = Server::start(3, false);
    let reports = Reports::new(3);
    let slot: Arc<OnceLock<Weak<Client>>> = Arc::default();
    let seen: Arc<Mutex<Vec<(ErrorKind, Duration)>>> = Arc::default();
    let (inner, callback_slot, callback_seen) = (reports.callback(), Arc::clone(&slot), Arc::clone(&seen));
    let mut config =
        config(&[("queue.full", "block"), ("queue.block-timeout", "3000"), ("queue.max-events", "1")], &reports);
    config.delivery_callback = Some(DeliveryCallback(Arc::new(move |r: &DeliveryReport| {
        (inner.0)(r);
        if r.opaque != 0 {
            return;
        }
        let client = callback_slot.get().unwrap().upgrade().unwrap();
        let mut seen = callback_seen.lock().unwrap();
        let start = Instant::now();
        seen.push((client.flush(Duration::from_secs(3)).unwrap_err().kind(), start.elapsed()));
        client.send(&EventView::body(&body(1)), 1).unwrap(); // fills the queue
        let start = Instant::now();
        seen.push((client.send(&EventView::body(&body(2)), 2).unwrap_err().kind(), start.elapsed()));
    })));
    let client = Arc::new(Client::new(&server.addr.to_string(), &config).unwrap());
    slot.set(Arc::downgrade(&client)).unwrap();
    client.send(&EventView::body(&body(0)), 0).unwrap();
    assert!(wait_for(Duration::from_secs(10), || seen.lock().unwrap().len() == 2), "the callback is stuck");
    client.flush(Duration::from_secs(10)).unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0].0, ErrorKind::InvalidArg, "flush from the callback: {seen:?}");
    assert_eq!(seen[1].0, ErrorKind::QueueFull, "send waiting for room from the callback: {seen:?}");
    assert!(seen.iter().all(|(_, took)| *took < Duration::from_secs(1)), "{seen:?}");
    assert_eq!(reports.count(1), 2, "events 0 and 1 delivered, 2 refused");
}

#[test]
fn after_drop_gives_up_no_thread_or_connection_of_the_client_remains() {
    // Issue 19, 1: after free returns there is no report, no thread and no
    // socket of the client. The sender thread used to be left behind, stuck
    // in its call until request-timeout (here a minute).
    let server = Server::start(50, true);
    let reports = Reports::new(50);
    let marker = Arc::new(());
    let mut config = config(&[("request-timeout", "60000"), ("close-timeout", "300"), ("linger-ms", "0")], &reports);
    config.delivery_callback = Some(marked_callback(&reports, &marker));
    let client = Client::new(&server.addr.to_string(), &config).unwrap();
    drop(config); // the client holds its own copy, callback included
    for id in 0..50 {
        client.send(&EventView::body(&body(id)), id).unwrap();
    }
    assert!(wait_for(MARGIN, || server.received(0) == 1), "the first call is in flight");
    let start = Instant::now();
    drop(client);
    assert!(start.elapsed() < Duration::from_millis(300) + MARGIN, "drop took {:?}", start.elapsed());
    assert_eq!(Arc::strong_count(&marker), 1, "the sender thread (or the client's internals) outlived drop");
    assert_eq!(reports.count(2), 50);
    let kinds = kinds(&reports, 50);
    for (id, kind) in kinds.iter().enumerate() {
        let expected = if server.received(id) > 0 { ErrorKind::Timeout } else { ErrorKind::Closed };
        assert_eq!(*kind, Some(expected), "event {id}");
    }
}

#[test]
fn dropping_the_last_client_in_its_own_callback_neither_deadlocks_nor_loses_reports() {
    // Issue 20: this deadlocked the sender thread forever.
    let server = Server::start(100, false);
    let reports = Reports::new(100);
    let marker = Arc::new(());
    let slot: Arc<Mutex<Option<Arc<Client>>>> = Arc::default();
    let dropped_in: Arc<Mutex<Option<Duration>>> = Arc::default();
    let (inner, callback_slot, callback_dropped_in) =
        (marked_callback(&reports, &marker), Arc::clone(&slot), Arc::clone(&dropped_in));
    let mut config = config(&[("close-timeout", "2000"), ("batch-size", "10")], &reports);
    config.delivery_callback = Some(DeliveryCallback(Arc::new(move |r: &DeliveryReport| {
        (inner.0)(r);
        if r.opaque == 5 {
            let client = callback_slot.lock().unwrap().take().unwrap();
            let start = Instant::now();
            drop(client); // the last one
            *callback_dropped_in.lock().unwrap() = Some(start.elapsed());
        }
    })));
    let client = Arc::new(Client::new(&server.addr.to_string(), &config).unwrap());
    drop(config);
    *slot.lock().unwrap() = Some(Arc::clone(&client));
    for id in 0..100 {
        client.send(&EventView::body(&body(id)), id).unwrap();
    }
    drop(client);
    let start = Instant::now();
    assert!(
        wait_for(Duration::from_millis(2000) + MARGIN, || reports.count(1) == 100),
        "{} of 100 reported",
        reports.count(1)
    );
    assert!(
        wait_for(Duration::from_millis(2000) + MARGIN, || Arc::strong_count(&marker) == 1),
        "the sender thread did not end"
    );
    assert!(start.elapsed() < Duration::from_millis(2000) + MARGIN);
    assert!(dropped_in.lock().unwrap().unwrap() < Duration::from_millis(500), "the drop in the callback waited");
    assert!((0..100).all(|id| server.received(id) == 1));
}

#[test]
fn the_sender_thread_blocks_asynchronous_signals_so_they_reach_the_programs_threads() {
    let server = Server::start(1, false);
    let reports = Reports::new(1);
    let client = Client::new(&server.addr.to_string(), &config(&[], &reports)).unwrap();
    client.send(&EventView::body(&body(0)), 0).unwrap();
    client.flush(Duration::from_secs(10)).unwrap();
    let mut senders = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let task = task.unwrap().path();
        let name = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if name.trim() != "flume-sender" {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(task.join("status")) else { continue }; // it may have just ended
        let blocked = status.lines().find_map(|l| l.strip_prefix("SigBlk:")).unwrap().trim();
        let blocked = u64::from_str_radix(blocked, 16).unwrap();
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGUSR1, libc::SIGCHLD, libc::SIGALRM] {
            assert_ne!(blocked & (1 << (signal - 1)), 0, "signal {signal} not blocked on a sender thread: {blocked:x}");
        }
        assert_eq!(blocked & (1 << (libc::SIGSEGV - 1)), 0, "faults stay deliverable");
        senders += 1;
    }
    assert!(senders >= 1, "no sender thread found");
}

#[test]
fn a_child_forked_while_events_are_in_flight_touches_nothing_and_the_parent_reports_all() {
    let server = Server::start(200, false);
    let reports = Reports::new(200);
    let client =
        Client::new(&server.addr.to_string(), &config(&[("linger-ms", "0"), ("batch-size", "5")], &reports)).unwrap();
    for id in 0..100 {
        client.send(&EventView::body(&body(id)), id).unwrap();
    }
    // SAFETY: the child calls the client (each call fails before any lock or
    // I/O, or, for drop, forgets what parent threads may hold) and _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let refused = |r: flume_client::Result<()>| r.is_err_and(|e| e.kind() == ErrorKind::InvalidArg);
        let ok =
            refused(client.send(&EventView::body(&body(150)), 150)) && refused(client.flush(Duration::from_secs(5)));
        drop(client); // must return at once, reporting nothing here
        unsafe { libc::_exit(if ok && reports.count(1) + reports.count(2) <= 100 { 0 } else { 1 }) };
    }
    let start = Instant::now();
    let mut status = 0;
    loop {
        let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if done == pid {
            break;
        }
        if start.elapsed() > Duration::from_secs(10) {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the child hung");
        }
        thread::sleep(Duration::from_millis(5));
    }
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child status {status}");
    for id in 100..200 {
        client.send(&EventView::body(&body(id)), id).unwrap();
    }
    client.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(reports.count(1), 200);
    assert!((0..200).all(|id| server.received(id) == 1));
}

/// A loopback listener whose accept queue is full (backlog 0, one connection
/// queued): Linux drops further SYNs, so connecting to it hangs like a
/// blackholed agent. Checked with a raw connect; keep the result alive.
fn blackholed_agent() -> (TcpListener, Vec<TcpStream>) {
    use std::os::fd::AsRawFd;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
    let addr = listener.local_addr().unwrap();
    let probe = Duration::from_millis(200);
    let queued: Vec<TcpStream> = (0..3).filter_map(|_| TcpStream::connect_timeout(&addr, probe).ok()).collect();
    let hangs = TcpStream::connect_timeout(&addr, probe)
        .is_err_and(|e| matches!(e.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock));
    assert!(hangs, "a connect to the full listener on {addr} did not hang: this kernel cannot blackhole it");
    (listener, queued)
}

#[test]
fn drop_while_connecting_to_a_blackholed_agent_waits_at_most_the_rest_of_that_connect() {
    // free's documented worst case: close-timeout, plus the rest of a connect
    // attempt in progress (which cannot be cut), plus the callbacks due.
    let hole = blackholed_agent();
    let reports = Reports::new(20);
    let marker = Arc::new(());
    let mut config = config(&[("connect-timeout", "1500"), ("close-timeout", "300"), ("linger-ms", "0")], &reports);
    config.delivery_callback = Some(marked_callback(&reports, &marker));
    let client = Client::new(&hole.0.local_addr().unwrap().to_string(), &config).unwrap();
    drop(config);
    for id in 0..20 {
        client.send(&EventView::body(&body(id)), id).unwrap();
    }
    thread::sleep(Duration::from_millis(100)); // the sender is connecting
    let start = Instant::now();
    drop(client);
    let took = start.elapsed();
    assert!(took < Duration::from_millis(1500) + MARGIN, "drop took {took:?}");
    assert_eq!(Arc::strong_count(&marker), 1, "the sender thread outlived drop");
    let kinds = kinds(&reports, 20);
    assert!(kinds.iter().all(|k| *k == Some(ErrorKind::Closed)), "never sent: {kinds:?}");
}

#[test]
fn send_borrowed_sends_a_large_body_from_the_callers_memory_and_copies_a_small_one() {
    let source = FakeSource::builder(Protocol::Compact).max_frame(FLUME_MAX_FRAME_SIZE).record(Record::Calls).start();
    let reports = Reports::new(100);
    // Nothing goes before the batch is full: the bodies are changed meanwhile.
    let settings = [("batch-size", "100"), ("linger-ms", "60000")];
    let client = Client::new(&source.addr(), &config(&settings, &reports)).unwrap();
    let mut bodies: Vec<Vec<u8>> =
        (0..100).map(|id| vec![b'a' + (id % 26) as u8; if id % 2 == 0 { 4096 } else { 100 }]).collect();
    for (id, body) in bodies.iter().take(99).enumerate() {
        // SAFETY: the bodies outlive the client (dropped first, below), and each
        // is changed only before the batch is sent (the change is what is tested).
        unsafe { client.send_borrowed(&EventView::new(&[], body), id) }.unwrap();
    }
    for body in &mut bodies[..99] {
        body[0] = b'#';
    }
    unsafe { client.send_borrowed(&EventView::new(&[], &bodies[99]), 99) }.unwrap();
    client.flush(Duration::from_secs(30)).unwrap();
    drop(client);
    assert_eq!(reports.count(1), 100, "every event reported OK");
    let received = source.bodies();
    assert_eq!(received.len(), 100);
    for (id, body) in received.iter().enumerate() {
        let large = id % 2 == 0;
        // A large body is read where it is (the change shows); a small one was copied by send.
        let first = if large && id < 99 { b'#' } else { b'a' + (id % 26) as u8 };
        assert_eq!(body[0], first, "event {id}");
        assert_eq!(body.len(), if large { 4096 } else { 100 }, "event {id}");
        assert!(body[1..].iter().all(|&b| b == b'a' + (id % 26) as u8), "event {id}");
    }
}

#[test]
fn send_borrowed_needs_a_delivery_callback_and_copies_into_a_spool() {
    let source = FakeSource::builder(Protocol::Compact).max_frame(FLUME_MAX_FRAME_SIZE).record(Record::Calls).start();
    let body = vec![b'x'; 2048];
    let client = Client::new(&source.addr(), &Config::default()).unwrap();
    let e = unsafe { client.send_borrowed(&EventView::new(&[], &body), 0) }.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArg);
    assert!(e.message().contains("delivery callback"), "{e}");
    drop(client);

    let spool = std::env::temp_dir().join(format!("flume-borrowed-spool-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&spool);
    let reports = Reports::new(1);
    let settings = [("queue.spool.dir", spool.to_str().unwrap()), ("linger-ms", "60000"), ("batch-size", "10")];
    let client = Client::new(&source.addr(), &config(&settings, &reports)).unwrap();
    let mut body = vec![b'y'; 2048];
    unsafe { client.send_borrowed(&EventView::new(&[], &body), 0) }.unwrap();
    body[0] = b'#'; // the spool has its own copy
    client.flush(Duration::from_secs(30)).unwrap();
    drop(client);
    assert_eq!(reports.count(1), 1);
    assert_eq!(source.bodies(), vec![vec![b'y'; 2048]]);
    let _ = std::fs::remove_dir_all(&spool);
}

/// Queued events go in calls as full as `max-frame-size` allows, and none
/// larger: each call's size is what `batch_call_size` bounds it by (within
/// the seqid's varint), at most the limit, and with the next call's first
/// event that bound would pass the limit.
#[test]
fn queued_events_fill_calls_up_to_max_frame_size_and_never_past_it() {
    use flume_client::unstable::{batch_call_size, event_size, Method};
    for protocol in [Protocol::Compact, Protocol::Binary] {
        let source = FakeSource::builder(protocol).max_frame(FLUME_MAX_FRAME_SIZE).start();
        let reports = Reports::new(1000);
        let name = if protocol == Protocol::Compact { "compact" } else { "binary" };
        // Lingering longer than the sends take: the sender takes all 1,000 at the flush.
        let settings = [("protocol", name), ("batch-size", "1000"), ("max-frame-size", "10000"), ("linger-ms", "5000")];
        let client = Client::new(&source.socket_addr().to_string(), &config(&settings, &reports)).unwrap();
        // Sizes of a few bytes to 300 in no order: calls end at every distance from the limit.
        let bodies: Vec<Vec<u8>> =
            (0..1000u32).map(|i| [&i.to_le_bytes()[..], &vec![b'x'; (i * 37 % 300) as usize]].concat()).collect();
        let headers: [(&[u8], &[u8]); 2] = [(b"host", b"web-1"), (b"topic", b"clicks")];
        let events: Vec<EventView> = bodies.iter().map(|b| EventView::new(&headers, b)).collect();
        for (id, event) in events.iter().enumerate() {
            client.send(event, id).unwrap();
        }
        client.flush(Duration::from_secs(10)).unwrap();
        assert_eq!(reports.count(1), 1000, "{name}: every event reported OK");
        let calls: Vec<(usize, usize)> = source.summaries().iter().map(|s| (s.payload_len, s.events)).collect();
        assert!(calls.len() > 10, "{name}: {} calls", calls.len());
        let mut next = 0;
        for (k, &(len, count)) in calls.iter().enumerate() {
            let sizes: usize = events[next..next + count].iter().map(|e| event_size(protocol, e)).sum();
            // The bound counts the seqid at its largest (5 bytes in compact); the frame has the real one.
            let bound = batch_call_size(protocol, Method::AppendBatch, count, sizes);
            assert!(len <= bound && bound - len < 5, "{name}: call {k} is {len} bytes, its events {bound}");
            assert!(len <= 10_000, "{name}: call {k} is {len} bytes");
            next += count;
            if next < events.len() {
                let with_next = batch_call_size(
                    protocol,
                    Method::AppendBatch,
                    count + 1,
                    sizes + event_size(protocol, &events[next]),
                );
                assert!(
                    with_next > 10_000,
                    "{name}: call {k} ({count} events) had room for the next ({with_next} bytes)"
                );
            }
        }
        assert_eq!(next, 1000, "{name}: events in the calls");
    }
}
