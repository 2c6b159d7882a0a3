//! Soak: 8 threads (4 with synchronous `append`/`append_batch`, 4 with
//! asynchronous `send`) share one client of two hosts, each host a
//! fault-injecting proxy (tests/common/proxy.rs) in front of one in-test
//! receiver. The proxies delay, stall, reset, truncate and corrupt bytes in
//! both directions at random (seeded PRNG; the seed is printed), and the
//! receiver is stopped and restarted at random times.
//!
//! The run is cut into rounds, each with a new client (alternating the compact
//! and binary protocols). After each round the client is flushed and dropped,
//! and the test checks that:
//!
//! * every event is accounted for: a synchronous event counted as delivered
//!   arrived; an asynchronous event accepted by `send` got exactly one report,
//!   and one reported OK arrived; one refused by `send` got none;
//! * no synchronous call took longer than its bound, computed from the config
//!   (`max-attempts` x (`connect-timeout` + `request-timeout`)) plus a margin,
//!   and neither `flush` nor the drop took longer than theirs;
//! * once the client is dropped and every connection closed, the open file
//!   descriptors (/proc/self/fd) and the resident memory (/proc/self/statm)
//!   are back to what they were after the warm-up rounds (memory: within 5 %
//!   plus 4 MiB).
//!
//! The receiver acknowledges a call only if it decodes, re-encodes to exactly
//! the bytes received (the client's encoding is canonical) and every event
//! carries its checksum: so a corrupted call is never acknowledged, and an
//! acknowledged event really arrived.
//!
//! Default: 50 s of sending, about a minute and a quarter in all (CI).
//! Longer: `FLUME_SOAK_SECONDS=600 cargo test --release --test soak -- --nocapture`;
//! `FLUME_SOAK_SEED=N` repeats a run's faults.
//! The figures are printed per round and in a summary line at the end.
//! This target has `test = false` (Cargo.toml): `cargo test --test soak` runs
//! it, `cargo test --all-targets` does not; scripts/test.sh runs it on its own.

#[path = "common/fake_source.rs"]
mod fake_source;
#[path = "common/proxy.rs"]
mod proxy;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fake_source::{Action, FakeSource, Record, Request, Status, FRAME_HEADER_LEN};
use flume_client::unstable::encode_call;
use flume_client::{Client, Config, DeliveryCallback, DeliveryReport, ErrorKind, EventView, Protocol};
use proxy::{random_plan, FaultCounts, FaultRates, Proxy, Rng};

const SYNC_THREADS: usize = 4;
const ASYNC_THREADS: usize = 4;
/// Events one round may send (the tracking arrays are allocated once, up front).
const ROUND_CAPACITY: usize = 1 << 21;
const MAX_FRAME: usize = 1 << 20;
/// Rounds before the baseline of file descriptors and memory is taken.
const WARM_UP_ROUNDS: usize = 2;
/// Slack on top of each computed time bound, for a loaded 2-core CI machine.
const MARGIN: Duration = Duration::from_millis(1000);

const CONNECT_TIMEOUT_MS: u64 = 300;
const REQUEST_TIMEOUT_MS: u64 = 500;
const EVENT_TIMEOUT_MS: u64 = 4000;
const CLOSE_TIMEOUT_MS: u64 = 1000;
const MAX_CONNECTIONS: usize = 5;

// ---------------------------------------------------------------------------
// Events: a fixed header set and a 16-byte body of round, id and checksum.

fn checksum(round: u32, id: u32) -> u64 {
    let mut z = ((round as u64) << 32 | id as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn body(round: u32, id: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&round.to_le_bytes());
    b[4..8].copy_from_slice(&id.to_le_bytes());
    b[8..].copy_from_slice(&checksum(round, id).to_le_bytes());
    b
}

const SYNC_HEADERS: [(&[u8], &[u8]); 2] = [(b"soak", b"v1"), (b"kind", b"sync")];
const ASYNC_HEADERS: [(&[u8], &[u8]); 2] = [(b"soak", b"v1"), (b"kind", b"async")];

/// The (round, id) of an intact event, or None.
fn parse_event(headers: &[(String, String)], body: &[u8]) -> Option<(u32, u32)> {
    let kind_ok = matches!(headers, [(k0, v0), (k1, v1)] if k0 == "soak" && v0 == "v1" && k1 == "kind" && (v1 == "sync" || v1 == "async"));
    if !kind_ok || body.len() != 16 {
        return None;
    }
    let round = u32::from_le_bytes(body[..4].try_into().unwrap());
    let id = u32::from_le_bytes(body[4..8].try_into().unwrap());
    (u64::from_le_bytes(body[8..].try_into().unwrap()) == checksum(round, id)).then_some((round, id))
}

// ---------------------------------------------------------------------------
// What happened to each event of the current round.

const UNUSED: u8 = 0;
const SYNC_PENDING: u8 = 1;
const SYNC_ACKED: u8 = 2;
const SYNC_FAILED: u8 = 3;
const ASYNC_QUEUED: u8 = 4;
const ASYNC_REFUSED: u8 = 5;

struct Tracker {
    state: Vec<AtomicU8>,
    /// Reports received (saturating).
    reports: Vec<AtomicU8>,
    report_ok: Vec<AtomicBool>,
    /// Arrivals at the receiver (saturating).
    arrived: Vec<AtomicU8>,
    next_id: AtomicUsize,
    /// Reports for ids never sent, arrivals of ids never allocated.
    stray_reports: AtomicU64,
    stray_arrivals: AtomicU64,
    report_failures: Mutex<HashMap<ErrorKind, u64>>,
}

fn atomics<T: Default>(n: usize) -> Vec<T> {
    (0..n).map(|_| T::default()).collect()
}

fn bump(counter: &AtomicU8) {
    let _ = counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_add(1));
}

impl Tracker {
    fn new() -> Tracker {
        Tracker {
            state: atomics(ROUND_CAPACITY),
            reports: atomics(ROUND_CAPACITY),
            report_ok: atomics(ROUND_CAPACITY),
            arrived: atomics(ROUND_CAPACITY),
            next_id: AtomicUsize::new(0),
            stray_reports: AtomicU64::new(0),
            stray_arrivals: AtomicU64::new(0),
            report_failures: Mutex::new(HashMap::new()),
        }
    }

    fn reset(&self) {
        let used = self.next_id.swap(0, Ordering::SeqCst).min(ROUND_CAPACITY);
        for i in 0..used {
            self.state[i].store(UNUSED, Ordering::SeqCst);
            self.reports[i].store(0, Ordering::SeqCst);
            self.report_ok[i].store(false, Ordering::SeqCst);
            self.arrived[i].store(0, Ordering::SeqCst);
        }
        self.report_failures.lock().unwrap().clear();
    }

    /// `n` fresh ids, or None when the round's capacity is used up.
    fn allocate(&self, n: usize) -> Option<usize> {
        let first = self.next_id.fetch_add(n, Ordering::SeqCst);
        (first + n <= ROUND_CAPACITY).then_some(first)
    }

    fn report(&self, r: &DeliveryReport) {
        let id = r.opaque;
        if id >= ROUND_CAPACITY || self.state[id].load(Ordering::SeqCst) != ASYNC_QUEUED {
            self.stray_reports.fetch_add(1, Ordering::SeqCst);
            return;
        }
        bump(&self.reports[id]);
        match r.result {
            Ok(()) => self.report_ok[id].store(true, Ordering::SeqCst),
            Err(e) => *self.report_failures.lock().unwrap().entry(e.kind()).or_default() += 1,
        }
    }

    fn arrive(&self, id: u32) {
        let id = id as usize;
        if id >= self.next_id.load(Ordering::SeqCst).min(ROUND_CAPACITY)
            || self.state[id].load(Ordering::SeqCst) == UNUSED
        {
            self.stray_arrivals.fetch_add(1, Ordering::SeqCst);
            return;
        }
        bump(&self.arrived[id]);
    }
}

// ---------------------------------------------------------------------------
// The receiver: the fake source (tests/common/fake_source.rs) answering OK to
// every intact call, whose events the tracker counts; it records nothing else
// (the memory is measured), and is stopped and restarted on its port.

struct Receiver {
    addr: SocketAddr,
    source: FakeSource,
    /// The round whose events count; calls of other rounds are answered but not counted.
    round: Arc<AtomicU32>,
    /// Calls that decode but are not intact (the source counts those that do not decode).
    corrupted_calls: Arc<AtomicU64>,
    restarts: u64,
}

impl Receiver {
    fn start(tracker: Arc<Tracker>) -> Receiver {
        let round = Arc::new(AtomicU32::new(0));
        let corrupted_calls = Arc::new(AtomicU64::new(0));
        let (counted_round, corrupted) = (Arc::clone(&round), Arc::clone(&corrupted_calls));
        let source = FakeSource::builder(Protocol::Compact)
            .max_frame(MAX_FRAME)
            .record(Record::Nothing)
            .script(move |r| {
                let Some(ids) = intact_ids(r) else {
                    // A corrupted call: drop the connection without an answer, as a source would on a bad frame.
                    corrupted.fetch_add(1, Ordering::SeqCst);
                    return Action::Close;
                };
                let round = counted_round.load(Ordering::SeqCst);
                for (event_round, id) in ids {
                    if event_round == round {
                        tracker.arrive(id);
                    }
                }
                Action::Reply(Status::Ok)
            })
            .start();
        Receiver { addr: source.socket_addr(), source, round, corrupted_calls, restarts: 0 }
    }

    /// Closes the listener and every connection.
    fn stop(&mut self) {
        self.source.stop();
    }

    fn restart(&mut self) {
        self.source.restart();
        self.restarts += 1;
    }

    fn set_round(&self, round: u32, protocol: Protocol) {
        self.round.store(round, Ordering::SeqCst);
        self.source.set_protocol(protocol);
    }

    fn wait_idle(&self, timeout: Duration) -> bool {
        self.source.wait_idle(timeout)
    }

    /// Calls dropped without an answer: they did not decode, or not to intact events.
    fn rejected_calls(&self) -> u64 {
        self.source.undecodable() as u64 + self.corrupted_calls.load(Ordering::SeqCst)
    }
}

/// The events' (round, id) if the call re-encodes to the bytes received and
/// every event is intact.
fn intact_ids(r: &Request) -> Option<Vec<(u32, u32)>> {
    let call = &r.call;
    let ids = call.events.iter().map(|e| parse_event(&e.headers, &e.body)).collect::<Option<Vec<_>>>()?;
    let headers: Vec<Vec<(&[u8], &[u8])>> =
        call.events.iter().map(|e| e.headers.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())).collect()).collect();
    let events: Vec<EventView> = call.events.iter().zip(&headers).map(|(e, h)| EventView::new(h, &e.body)).collect();
    let mut check = Vec::new();
    encode_call(r.protocol, &mut check, call.seqid, call.method, &events);
    (check[..FRAME_HEADER_LEN] == r.header[..] && check[FRAME_HEADER_LEN..] == *r.payload).then_some(ids)
}

// ---------------------------------------------------------------------------
// Process figures.

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").count()
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

/// Returns freed heap memory to the system, so RSS shows live memory rather than the allocator's caches.
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

// ---------------------------------------------------------------------------

#[derive(Default)]
struct RoundFigures {
    sync_events: u64,
    sync_acked: u64,
    sync_calls: u64,
    async_events: u64,
    async_ok: u64,
    async_failed: u64,
    async_refused: u64,
    duplicates: u64,
    /// Events acked or reported OK that never arrived, or without exactly one report.
    unaccounted: u64,
    max_call: Duration,
    slow_calls: u64,
    unexpected_errors: Vec<String>,
}

fn config_for(protocol: Protocol, tracker: &Arc<Tracker>) -> Config {
    let mut config = Config::default();
    let settings = [
        ("protocol", if protocol == Protocol::Binary { "binary" } else { "compact" }),
        ("client.type", "default_loadbalance"),
        ("batch-size", "100"),
        ("connect-timeout", &CONNECT_TIMEOUT_MS.to_string()),
        ("request-timeout", &REQUEST_TIMEOUT_MS.to_string()),
        ("maxConnections", &MAX_CONNECTIONS.to_string()),
        ("max-frame-size", &MAX_FRAME.to_string()),
        ("queue.max-events", "20000"),
        ("queue.full", "block"),
        ("queue.block-timeout", "100"),
        ("linger-ms", "5"),
        ("retries", "3"),
        ("retry-backoff", "20"),
        ("event-timeout", &EVENT_TIMEOUT_MS.to_string()),
        ("close-timeout", &CLOSE_TIMEOUT_MS.to_string()),
    ];
    for (k, v) in settings {
        config.set(k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
    }
    let t = Arc::clone(tracker);
    config.delivery_callback = Some(DeliveryCallback(Arc::new(move |r: &DeliveryReport| t.report(r))));
    config
}

/// The longest a synchronous call of at most `batch-size` events may take:
/// each attempt (one per host, up to `max-attempts`) connects within
/// connect-timeout and has its reply within request-timeout. No call waits for
/// a pooled connection: a host's users (the synchronous threads and the
/// sender) are no more than maxConnections.
fn call_bound(config: &Config, hosts: usize) -> Duration {
    assert!(SYNC_THREADS + 1 <= config.max_connections, "a call could wait for a pooled connection");
    let attempts = config.max_attempts.unwrap_or(hosts) as u32;
    (config.connect_timeout + config.request_timeout) * attempts + MARGIN
}

fn sync_worker(
    client: &Client,
    tracker: &Tracker,
    round: u32,
    seed: u64,
    deadline: Instant,
    bound: Duration,
) -> RoundFigures {
    let mut rng = Rng::new(seed);
    let mut f = RoundFigures::default();
    let mut bodies = Vec::new();
    while Instant::now() < deadline {
        let most = if rng.chance(0.2) { 1 } else { 60 };
        let n = 1 + rng.below(most) as usize;
        let Some(first) = tracker.allocate(n) else { break };
        bodies.clear();
        bodies.extend((first..first + n).map(|id| body(round, id as u32)));
        let events: Vec<EventView> = bodies.iter().map(|b| EventView::new(&SYNC_HEADERS, b)).collect();
        for id in first..first + n {
            tracker.state[id].store(SYNC_PENDING, Ordering::SeqCst);
        }
        let start = Instant::now();
        let (result, delivered) = if n == 1 {
            let r = client.append(&events[0]);
            let delivered = r.is_ok() as usize;
            (r, delivered)
        } else {
            match client.append_batch(&events) {
                Ok(()) => (Ok(()), events.len()),
                Err(e) => (Err(e.error().clone()), e.delivered()),
            }
        };
        let took = start.elapsed();
        f.sync_calls += 1;
        f.max_call = f.max_call.max(took);
        if took > bound {
            f.slow_calls += 1;
            f.unexpected_errors
                .push(format!("a call of {n} events took {took:?}, over its bound {bound:?}: {result:?}"));
        }
        if let Err(e) = &result {
            if matches!(e.kind(), ErrorKind::InvalidArg | ErrorKind::Config | ErrorKind::TooLarge | ErrorKind::Internal)
            {
                f.unexpected_errors.push(format!("sync call: {e}"));
            }
        }
        for (i, id) in (first..first + n).enumerate() {
            tracker.state[id].store(if i < delivered { SYNC_ACKED } else { SYNC_FAILED }, Ordering::SeqCst);
        }
        f.sync_events += n as u64;
        f.sync_acked += delivered as u64;
    }
    f
}

fn async_worker(client: &Client, tracker: &Tracker, round: u32, deadline: Instant) -> RoundFigures {
    let mut f = RoundFigures::default();
    while Instant::now() < deadline {
        let Some(id) = tracker.allocate(1) else { break };
        let b = body(round, id as u32);
        tracker.state[id].store(ASYNC_QUEUED, Ordering::SeqCst);
        match client.send(&EventView::new(&ASYNC_HEADERS, &b), id) {
            Ok(()) => f.async_events += 1,
            Err(e) => {
                tracker.state[id].store(ASYNC_REFUSED, Ordering::SeqCst);
                f.async_refused += 1;
                if e.kind() != ErrorKind::QueueFull {
                    f.unexpected_errors.push(format!("send: {e}"));
                }
            }
        }
    }
    f
}

/// Checks every event of the round; returns the problems found.
fn account(tracker: &Tracker, f: &mut RoundFigures) -> Vec<String> {
    let mut problems = Vec::new();
    let mut unaccounted = 0;
    let mut note = |problems: &mut Vec<String>, what: String| {
        unaccounted += 1;
        if problems.len() < 20 {
            problems.push(what);
        }
    };
    let used = tracker.next_id.load(Ordering::SeqCst).min(ROUND_CAPACITY);
    for id in 0..used {
        let arrived = tracker.arrived[id].load(Ordering::SeqCst);
        let reports = tracker.reports[id].load(Ordering::SeqCst);
        let ok = tracker.report_ok[id].load(Ordering::SeqCst);
        f.duplicates += (arrived > 1) as u64;
        match tracker.state[id].load(Ordering::SeqCst) {
            UNUSED => {} // allocated past the capacity, or by a worker that stopped
            SYNC_ACKED if arrived == 0 => {
                note(&mut problems, format!("event {id}: counted as delivered, never arrived"))
            }
            SYNC_ACKED | SYNC_FAILED => {}
            SYNC_PENDING => note(&mut problems, format!("event {id}: its call never returned")),
            ASYNC_QUEUED => {
                if reports != 1 {
                    note(&mut problems, format!("event {id}: {reports} reports, expected exactly 1"));
                } else if ok {
                    f.async_ok += 1;
                    if arrived == 0 {
                        note(&mut problems, format!("event {id}: reported OK, never arrived"));
                    }
                } else {
                    f.async_failed += 1;
                }
            }
            ASYNC_REFUSED if reports != 0 => note(&mut problems, format!("event {id}: refused by send, yet reported")),
            ASYNC_REFUSED => {}
            other => note(&mut problems, format!("event {id}: state {other}")),
        }
    }
    f.unaccounted += unaccounted;
    let stray = (tracker.stray_reports.swap(0, Ordering::SeqCst), tracker.stray_arrivals.swap(0, Ordering::SeqCst));
    if stray != (0, 0) {
        problems.push(format!("{} reports and {} arrivals of events never sent", stray.0, stray.1));
    }
    problems
}

#[test]
fn soak_with_faults_and_receiver_restarts() {
    let seconds: u64 = std::env::var("FLUME_SOAK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(50);
    let seed: u64 = std::env::var("FLUME_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64);
    let round_time = Duration::from_secs(if seconds <= 120 { 5 } else { 10 });
    let rounds = ((seconds as usize) / round_time.as_secs() as usize).max(WARM_UP_ROUNDS + 2);
    println!(
        "soak: seed {seed} (FLUME_SOAK_SEED={seed} repeats the faults), {rounds} rounds of {round_time:?}, \
         {SYNC_THREADS} sync + {ASYNC_THREADS} async threads"
    );
    // A fixed mmap threshold (glibc's moves up with use), so large buffers go back to the system when freed.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: a documented mallopt parameter.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }

    let tracker = Arc::new(Tracker::new());
    let mut receiver = Receiver::start(Arc::clone(&tracker));
    let rates = FaultRates {
        delay: 0.02,
        max_delay: Duration::from_millis(300),
        stall: 0.002,
        reset: 0.002,
        truncate: 0.002,
        corrupt: 0.003,
    };
    let proxies = [
        Proxy::start(receiver.addr, random_plan(seed ^ 1, rates)),
        Proxy::start(receiver.addr, random_plan(seed ^ 2, rates)),
    ];
    let hosts = format!("{},{}", proxies[0].addr(), proxies[1].addr());
    let mut chaos_rng = Rng::new(seed ^ 3);

    let mut total = RoundFigures::default();
    let mut problems = Vec::new();
    let mut baseline: Option<(usize, u64)> = None;
    let mut last = (0usize, 0u64);
    let (mut max_flush, mut max_drop) = (Duration::ZERO, Duration::ZERO);
    let mut bound = Duration::ZERO;
    let started = Instant::now();

    for round in 0..rounds as u32 {
        tracker.reset();
        let protocol = if round % 2 == 0 { Protocol::Compact } else { Protocol::Binary };
        receiver.set_round(round, protocol);
        let config = config_for(protocol, &tracker);
        bound = call_bound(&config, 2);
        let client = Client::new(&hosts, &config).unwrap();
        let deadline = Instant::now() + round_time;

        let figures: Vec<RoundFigures> = thread::scope(|s| {
            let workers: Vec<_> = (0..SYNC_THREADS + ASYNC_THREADS)
                .map(|t| {
                    let (client, tracker) = (&client, &tracker);
                    let worker_seed = seed ^ ((round as u64) << 8 | t as u64).wrapping_mul(0x1000_0000_01b3);
                    s.spawn(move || {
                        if t < SYNC_THREADS {
                            sync_worker(client, tracker, round, worker_seed, deadline, bound)
                        } else {
                            async_worker(client, tracker, round, deadline)
                        }
                    })
                })
                .collect();
            // Meanwhile: stop the receiver for a while, now and then.
            while Instant::now() + Duration::from_millis(1500) < deadline {
                thread::sleep(Duration::from_millis(500 + chaos_rng.below(1500)));
                receiver.stop();
                thread::sleep(Duration::from_millis(50 + chaos_rng.below(500)));
                receiver.restart();
            }
            workers.into_iter().map(|w| w.join().expect("worker panicked")).collect()
        });

        let start = Instant::now();
        let flushed = client.flush(Duration::from_millis(EVENT_TIMEOUT_MS) + MARGIN * 10);
        let flush_took = start.elapsed();
        let start = Instant::now();
        drop(client);
        let drop_took = start.elapsed();
        max_flush = max_flush.max(flush_took);
        max_drop = max_drop.max(drop_took);
        if let Err(e) = flushed {
            problems.push(format!("round {round}: flush failed after {flush_took:?}: {e}"));
        }
        // flush waits for the last event's event-timeout (plus the call in flight); drop then has nothing left.
        let flush_bound = Duration::from_millis(EVENT_TIMEOUT_MS) + bound + MARGIN;
        if flush_took > flush_bound {
            problems.push(format!("round {round}: flush took {flush_took:?}, over {flush_bound:?}"));
        }
        if drop_took > Duration::from_millis(CLOSE_TIMEOUT_MS) + MARGIN {
            problems.push(format!("round {round}: dropping the client took {drop_took:?}"));
        }

        // Everything closed: the client's connections, the proxies', the receiver's.
        let idle =
            proxies.iter().all(|p| p.wait_idle(Duration::from_secs(10))) && receiver.wait_idle(Duration::from_secs(10));
        if !idle {
            problems.push(format!("round {round}: connections still open 10 s after the client was dropped"));
        }

        let mut f = RoundFigures::default();
        for w in figures {
            f.sync_events += w.sync_events;
            f.sync_acked += w.sync_acked;
            f.sync_calls += w.sync_calls;
            f.async_events += w.async_events;
            f.async_refused += w.async_refused;
            f.max_call = f.max_call.max(w.max_call);
            f.slow_calls += w.slow_calls;
            f.unexpected_errors.extend(w.unexpected_errors);
        }
        for p in account(&tracker, &mut f) {
            problems.push(format!("round {round}: {p}"));
        }
        for e in f.unexpected_errors.iter().take(10) {
            problems.push(format!("round {round}: {e}"));
        }
        let failures = tracker.report_failures.lock().unwrap().clone();

        trim_heap();
        let (fds, rss) = (open_fds(), rss_bytes());
        if round as usize + 1 == WARM_UP_ROUNDS {
            baseline = Some((fds, rss));
        }
        last = (fds, rss);
        let mut faults = FaultCounts::default();
        for p in &proxies {
            faults.add(&p.counts());
        }
        println!(
            "soak round {round} ({protocol:?}): sync {} events in {} calls, {} acked; async {} queued: {} ok, {} failed {:?}, \
             {} refused (queue full); {} duplicates; {} unaccounted; max call {:?}; fds {fds}, rss {:.1} MiB; \
             so far {faults}, {} receiver restarts",
            f.sync_events,
            f.sync_calls,
            f.sync_acked,
            f.async_events,
            f.async_ok,
            f.async_failed,
            failures,
            f.async_refused,
            f.duplicates,
            f.unaccounted,
            f.max_call,
            mib(rss),
            receiver.restarts,
        );
        total.sync_events += f.sync_events;
        total.sync_acked += f.sync_acked;
        total.sync_calls += f.sync_calls;
        total.async_events += f.async_events;
        total.async_ok += f.async_ok;
        total.async_failed += f.async_failed;
        total.async_refused += f.async_refused;
        total.duplicates += f.duplicates;
        total.unaccounted += f.unaccounted;
        total.max_call = total.max_call.max(f.max_call);
        total.slow_calls += f.slow_calls;
    }

    let mut faults = FaultCounts::default();
    for p in &proxies {
        faults.add(&p.counts());
    }
    let (base_fds, base_rss) = baseline.expect("a baseline after the warm-up");
    let (end_fds, end_rss) = last;
    if end_fds > base_fds {
        problems.push(format!("file descriptors grew from {base_fds} to {end_fds}"));
    }
    let rss_limit = base_rss + base_rss / 20 + (4 << 20);
    if end_rss > rss_limit {
        problems.push(format!(
            "memory grew from {:.1} MiB to {:.1} MiB (limit {:.1} MiB)",
            mib(base_rss),
            mib(end_rss),
            mib(rss_limit)
        ));
    }
    let events = total.sync_events + total.async_events + total.async_refused;
    let unaccounted = total.unaccounted;
    println!(
        "soak summary: seed {seed}, {:.0} s, {rounds} rounds; {events} events: sync {} ({} acked), \
         async {} queued ({} reported ok, {} reported failed) + {} refused (queue full); {} duplicates (at-least-once); \
         {unaccounted} unaccounted (acked or reported ok but never arrived, or not exactly one report); \
         {faults}; {} receiver restarts, {} calls rejected as corrupt; \
         fds {base_fds} -> {end_fds}; rss {:.1} -> {:.1} MiB; max sync call {:?} (bound {bound:?}), max flush {max_flush:?}, \
         max drop {max_drop:?}; {} problems",
        started.elapsed().as_secs_f64(),
        total.sync_events,
        total.sync_acked,
        total.async_events,
        total.async_ok,
        total.async_failed,
        total.async_refused,
        total.duplicates,
        receiver.restarts,
        receiver.rejected_calls(),
        mib(base_rss),
        mib(end_rss),
        total.max_call,
        problems.len(),
    );
    receiver.stop();
    assert!(faults.total() > 0 && receiver.restarts > 0, "the soak injected no fault");
    assert!(total.sync_acked > 0 && total.async_ok > 0, "nothing was delivered at all");
    assert!(problems.is_empty(), "soak problems (seed {seed}):\n{}", problems.join("\n"));
}
