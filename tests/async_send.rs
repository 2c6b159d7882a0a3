//! Asynchronous sending: `Client::send`, delivery reports, `flush`, and the
//! close on drop, against in-test servers that can stall or be restarted.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use flume_client::wire::{decode_call, encode_reply, frame_len, Status, FRAME_HEADER_LEN};
use flume_client::{Client, Config, DeliveryCallback, DeliveryReport, ErrorKind, Event, Protocol, FLUME_MAX_FRAME_SIZE};

/// Slack for a loaded CI machine on top of each configured time: a bound, not a benchmark.
const MARGIN: Duration = Duration::from_millis(1500);

/// A server answering OK (or never, when `stall`), recording event ids (the
/// body's first 4 bytes), that can be stopped and started again on its port.
struct Server {
    addr: SocketAddr,
    arrivals: Arc<Vec<AtomicU8>>,
    stall: bool,
    running: Option<(Arc<AtomicBool>, Arc<Mutex<Vec<TcpStream>>>, thread::JoinHandle<()>)>,
}

impl Server {
    fn start(ids: usize, stall: bool) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut server = Server { addr, arrivals: Arc::new((0..ids).map(|_| AtomicU8::new(0)).collect()), stall, running: None };
        server.run(listener);
        server
    }

    fn run(&mut self, listener: TcpListener) {
        let stop = Arc::new(AtomicBool::new(false));
        let streams: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (arrivals, stall) = (Arc::clone(&self.arrivals), self.stall);
        let (thread_stop, thread_streams) = (Arc::clone(&stop), Arc::clone(&streams));
        let accept = thread::spawn(move || {
            for stream in listener.incoming() {
                if thread_stop.load(Ordering::SeqCst) {
                    return;
                }
                let stream = stream.unwrap();
                thread_streams.lock().unwrap().push(stream.try_clone().unwrap());
                let arrivals = Arc::clone(&arrivals);
                thread::spawn(move || answer(stream, &arrivals, stall));
            }
        });
        self.running = Some((stop, streams, accept));
    }

    /// Closes the listener and every connection.
    fn stop(&mut self) {
        let (stop, streams, accept) = self.running.take().expect("running");
        stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop, which then drops the listener
        accept.join().unwrap();
        for s in streams.lock().unwrap().iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn restart(&mut self) {
        self.run(TcpListener::bind(self.addr).unwrap());
    }

    fn received(&self, id: usize) -> u8 {
        self.arrivals[id].load(Ordering::SeqCst)
    }
}

fn answer(mut stream: TcpStream, arrivals: &[AtomicU8], stall: bool) {
    let (mut payload, mut reply) = (Vec::new(), Vec::new());
    let mut header = [0u8; FRAME_HEADER_LEN];
    while stream.read_exact(&mut header).is_ok() {
        payload.resize(frame_len(header, FLUME_MAX_FRAME_SIZE).unwrap(), 0);
        if stream.read_exact(&mut payload).is_err() {
            return;
        }
        if stall {
            continue; // read calls, never answer
        }
        let call = decode_call(Protocol::Compact, &payload).unwrap();
        for event in &call.events {
            let id = u32::from_le_bytes(event.body[..4].try_into().unwrap()) as usize;
            arrivals[id].fetch_add(1, Ordering::SeqCst);
        }
        reply.clear();
        encode_reply(Protocol::Compact, &mut reply, call.seqid, call.method, Status::Ok);
        if stream.write_all(&reply).is_err() {
            return;
        }
    }
}

/// Per id: 0 = no report yet, 1 = reported OK, 2 = reported failed; more than one report panics.
struct Reports {
    state: Vec<AtomicU8>,
    failures: Mutex<Vec<ErrorKind>>,
}

impl Reports {
    fn new(ids: usize) -> Arc<Reports> {
        Arc::new(Reports { state: (0..ids).map(|_| AtomicU8::new(0)).collect(), failures: Mutex::default() })
    }

    fn callback(self: &Arc<Reports>) -> DeliveryCallback {
        let reports = Arc::clone(self);
        DeliveryCallback(Arc::new(move |r: &DeliveryReport| {
            let outcome = if r.result.is_ok() { 1 } else { 2 };
            if let Err(e) = r.result {
                reports.failures.lock().unwrap().push(e.kind());
            }
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
        &[("batch-size", "500"), ("queue.full", "block"), ("queue.block-timeout", "30000"), ("retry-backoff", "50"), ("connect-timeout", "1000")],
        &reports,
    );
    let client = Arc::new(Client::new(&server.addr.to_string(), &config).unwrap());
    let headers: [(&[u8], &[u8]); 3] = [(b"host", b"web-1"), (b"topic", b"clicks"), (b"dc", b"eu")];
    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            let client = Arc::clone(&client);
            thread::spawn(move || {
                for id in (t..EVENTS).step_by(THREADS) {
                    client.send(&Event::new(&headers, &body(id)), id).unwrap();
                }
            })
        })
        .collect();
    for _ in 0..2 {
        thread::sleep(Duration::from_millis(300));
        server.stop();
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
        match reports.state[id].load(Ordering::SeqCst) {
            1 => assert!(arrived >= 1, "event {id} reported delivered but never arrived"),
            _ => {} // reported failed: it may or may not have arrived
        }
    }
    // None arrives that was not sent: ids are only those sent, and the server
    // decoded every event it got into an id below EVENTS (else it would panic).
    let stats = client.stats_json().unwrap();
    assert!(stats.contains(&format!("\"FLUME_OK\":{ok},")), "{stats}");
    let connects: usize = stats.split("\"connects\":").nth(1).unwrap().split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap();
    assert!(connects >= 3, "the restarts happened before the sending ended: {stats}");
    eprintln!("{ok} delivered, {failed} failed: {:?}", reports.failures.lock().unwrap().iter().take(5).collect::<Vec<_>>());
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
        match client.send(&Event::body(&body(accepted)), accepted) {
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
        &[("queue.max-bytes", "100"), ("queue.full", "block"), ("queue.block-timeout", "300"), ("request-timeout", "60000"), ("linger-ms", "60000")],
        &reports,
    );
    let client = Client::new(&server.addr.to_string(), &config).unwrap();
    for id in 0..6 {
        client.send(&Event::body(&body(id)), id).unwrap(); // 6 * 16 bytes: room for no more
    }
    let start = Instant::now();
    let e = client.send(&Event::body(&body(6)), 6).unwrap_err();
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
        client.send(&Event::body(&body(id)), id).unwrap();
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
    assert_eq!(failures.iter().filter(|k| **k == ErrorKind::Timeout).count(), 10, "the batch in flight: delivery unknown");
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
        client.send(&Event::body(&body(id)), id).unwrap();
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
        client.send(&Event::body(&body(id)), id).unwrap();
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
    assert_eq!(client.send(&Event::new(&bad_utf8, b"x"), 0).unwrap_err().kind(), ErrorKind::InvalidArg);
    assert_eq!(client.send(&Event::body(&[0; 200]), 1).unwrap_err().kind(), ErrorKind::TooLarge);
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
        let code = match client.append(&Event::body(b"x")) {
            Err(e) if e.kind() == ErrorKind::InvalidArg && e.message().contains("fork") => 0,
            _ => 1,
        };
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child status {status}");
    // The parent's client is unaffected.
    assert_eq!(client.append(&Event::body(b"x")).unwrap_err().kind(), ErrorKind::Connect);
}

