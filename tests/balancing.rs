//! Several hosts behind one client: load balancing (round_robin, random),
//! failover order, Flume's backoff rule with a host killed mid-run and
//! restarted on the same port, `max-attempts`, the per-host connection pool,
//! client properties files written as Flume documents them, and the
//! statistics JSON.
//!
//! Every server here is an in-test Thrift source on 127.0.0.1 that records the
//! body of each event it receives before it answers. Bodies carry unique ids,
//! so delivery is checked exactly: exactly-once when no call failed after it
//! was sent, at-least-once when a server died under a call.
//!
//! Time bounds are generous (a loaded 2-core CI machine) and only ever bound
//! from one side what the rule under test allows; lower bounds on gaps
//! between failed attempts are derived from timestamps taken around each
//! stats sample, so a slow sampler can only loosen them, never break them.

#[path = "common/fake_source.rs"]
mod fake_source;

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use fake_source::{closed_port, FakeSource as Server, Status};
use flume_client::{Client, ClientType, Config, Error, ErrorKind, EventView, HostSelector, Protocol};

/// Slack on top of any time limit, for a loaded machine.
const MARGIN: Duration = Duration::from_millis(2000);

/// `maxBackoff` of the backoff tests, in ms (small so the tests are quick).
const MAX_BACKOFF_MS: u64 = 1000;
const MAX_BACKOFF: Duration = Duration::from_millis(MAX_BACKOFF_MS);

// The servers are the fake source (tests/common/fake_source.rs): stopped
// (listener and every connection closed) and restarted on the same port, it
// keeps the record of all its runs.

// ---------------------------------------------------------------------------
// Clients, events, delivery checks.

fn config(settings: &[(&str, &str)]) -> Config {
    let mut config = Config::default();
    for (key, value) in settings {
        config.set(key, value).unwrap_or_else(|e| panic!("{key}={value}: {e}"));
    }
    config
}

fn host_list(servers: &[&Server]) -> String {
    servers.iter().map(|s| s.addr()).collect::<Vec<_>>().join(",")
}

/// Unique bodies `<prefix>-<i>` for `ids`.
fn bodies(prefix: &str, ids: Range<usize>) -> Vec<Vec<u8>> {
    ids.map(|i| format!("{prefix}-{i}").into_bytes()).collect()
}

/// Sends `bodies` with one `append_batch`: its result and `delivered`.
fn send(client: &Client, bodies: &[Vec<u8>]) -> (Result<(), Error>, usize) {
    let events: Vec<EventView> = bodies.iter().map(|b| EventView::body(b)).collect();
    match client.append_batch(&events) {
        Ok(()) => (Ok(()), events.len()),
        Err(e) => (Err(e.error().clone()), e.delivered()),
    }
}

fn send_ok(client: &Client, bodies: &[Vec<u8>]) {
    let (result, delivered) = send(client, bodies);
    result.unwrap_or_else(|e| panic!("append_batch of {} events failed: {e}", bodies.len()));
    assert_eq!(delivered, bodies.len());
}

/// How often each body arrived, over all `servers`.
fn arrivals(servers: &[&Server]) -> HashMap<Vec<u8>, usize> {
    let mut seen = HashMap::new();
    for server in servers {
        for body in server.bodies() {
            *seen.entry(body).or_insert(0) += 1;
        }
    }
    seen
}

fn assert_exactly_once(servers: &[&Server], sent: &[Vec<u8>]) {
    let seen = arrivals(servers);
    for body in sent {
        let n = seen.get(body).copied().unwrap_or(0);
        assert_eq!(n, 1, "{} arrived {n} times", String::from_utf8_lossy(body));
    }
    assert_eq!(seen.len(), sent.len(), "bodies arrived that were never sent");
}

fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        thread::sleep(Duration::from_millis(5));
    }
    start.elapsed()
}

fn assert_near_third(server_events: &[usize], total: usize, what: &str) {
    let third = total / 3;
    for &n in server_events {
        assert!(
            n.abs_diff(third) <= third / 10,
            "{what}: a server got {n} of {total} events, not within 10% of {third} ({server_events:?})"
        );
    }
}

/// Sets its flag when dropped, on the way out of a test's scope whether it passed or panicked.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

// ---------------------------------------------------------------------------
// Minimal reading of the stats JSON, by string search.

/// The whole number after the first `"key":` in `json`.
fn json_number(json: &str, key: &str) -> u64 {
    let pattern = format!("\"{key}\":");
    let start = json.find(&pattern).unwrap_or_else(|| panic!("no {pattern} in {json}")) + pattern.len();
    let digits: String = json[start..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or_else(|_| panic!("{key} is not a whole number in {json}"))
}

/// The string after the first `"key":` in `json`.
fn json_string<'j>(json: &'j str, key: &str) -> &'j str {
    let pattern = format!("\"{key}\":\"");
    let start = json.find(&pattern).unwrap_or_else(|| panic!("no {pattern} in {json}")) + pattern.len();
    let len = json[start..].find('"').expect("closing quote");
    &json[start..start + len]
}

/// The object of the host at `addr` in the "hosts" array (hosts hold no nested objects).
fn host_entry<'j>(json: &'j str, addr: &str) -> &'j str {
    let pattern = format!("{{\"address\":\"{addr}\"");
    let start = json.find(&pattern).unwrap_or_else(|| panic!("no host {addr} in {json}"));
    let len = json[start..].find('}').expect("end of the host object") + 1;
    &json[start..start + len]
}

/// Failures counted under each code name at the top level.
fn failures_by_code(json: &str) -> HashMap<ErrorKind, u64> {
    let failures = &json[json.find("\"failures\":{").expect("failures object")..];
    ErrorKind::ALL.iter().map(|&kind| (kind, json_number(failures, kind.name()))).collect()
}

// ---------------------------------------------------------------------------
// 1. Load balancing spreads the calls.

#[test]
fn round_robin_gives_each_of_three_hosts_a_third_from_one_thread_and_from_four() {
    const EVENTS: usize = 3000;
    for threads in [1, 4] {
        let servers = [0, 1, 2].map(|_| Server::start(Protocol::Compact));
        let refs: Vec<&Server> = servers.iter().collect();
        let client = Client::new(
            &host_list(&refs),
            &config(&[("client.type", "default_loadbalance"), ("host-selector", "round_robin"), ("batch-size", "10")]),
        )
        .unwrap();
        let sent = bodies(&format!("rr{threads}"), 0..EVENTS);
        thread::scope(|s| {
            for chunk in sent.chunks(EVENTS / threads) {
                let client = &client;
                s.spawn(move || send_ok(client, chunk));
            }
        });
        let what = format!("round_robin, {threads} thread(s)");
        assert_exactly_once(&refs, &sent);
        assert_near_third(&servers.each_ref().map(|s| s.events()), EVENTS, &what);
        for server in &servers {
            assert!(server.events_per_call().iter().all(|&n| n == 10), "{what}: calls of other than batch-size");
        }
        let stats = client.stats_json().unwrap();
        assert_eq!(json_number(&stats, "events_acked"), EVENTS as u64, "{stats}");
        assert!(failures_by_code(&stats).values().all(|&n| n == 0), "{stats}");
    }
}

#[test]
fn random_selector_gives_each_of_three_hosts_a_third_within_ten_percent() {
    const CALLS: usize = 3000;
    let servers = [0, 1, 2].map(|_| Server::start(Protocol::Compact));
    let refs: Vec<&Server> = servers.iter().collect();
    let client = Client::new(
        &host_list(&refs),
        &config(&[("client.type", "default_loadbalance"), ("host-selector", "random"), ("batch-size", "1")]),
    )
    .unwrap();
    let sent = bodies("random", 0..CALLS);
    send_ok(&client, &sent); // batch-size 1: one call per event
    assert_exactly_once(&refs, &sent);
    let calls = servers.each_ref().map(|s| s.events_per_call().len());
    assert_eq!(calls.iter().sum::<usize>(), CALLS);
    // A failed attempt moves its call to the next host: the spread below
    // would then not be the selector's (which a unit test of `hosts` checks alone).
    let stats = client.stats_json().unwrap();
    assert!(failures_by_code(&stats).values().all(|&n| n == 0), "attempts failed: {stats}");
    // Binomial(3000, 1/3): 10% of 1000 is about 3.9 standard deviations.
    assert_near_third(&calls, CALLS, "random selector");
}

/// Flume's `RoundRobinOrderSelector` and `RandomOrderSelector` choose among
/// the hosts *not* backing off (`OrderSelector.getIndexList()`), so the share
/// of a backed-off host spreads evenly over the others; it must not all fall
/// on the host listed after it.
#[test]
fn with_backoff_a_backed_off_hosts_share_spreads_evenly_over_the_others() {
    let mut shares = Vec::new();
    for (selector, calls) in [("round_robin", 600), ("random", 1200)] {
        let first = Server::start(Protocol::Compact);
        let down = format!("127.0.0.1:{}", closed_port());
        let third = Server::start(Protocol::Compact);
        let client = Client::new(
            &format!("{},{down},{}", first.addr(), third.addr()),
            &config(&[
                ("client.type", "default_loadbalance"),
                ("host-selector", selector),
                ("backoff", "true"),
                ("maxBackoff", "30000"),
                ("batch-size", "1"),
            ]),
        )
        .unwrap();
        let sent = bodies(selector, 0..calls);
        send_ok(&client, &sent); // one call per event; the down host fails once, then backs off (2 s)
        assert_exactly_once(&[&first, &third], &sent);
        shares.push((selector, calls, first.events(), third.events()));
    }
    for &(selector, calls, first, third) in &shares {
        let half = calls / 2;
        assert!(
            first.abs_diff(half) <= half / 10 && third.abs_diff(half) <= half / 10,
            "{selector}: with the middle of three hosts backing off, the others got {first} and {third} of {calls} \
             calls, not about half each (all: {shares:?})"
        );
    }
}

// ---------------------------------------------------------------------------
// 2. Load balancing with backoff: a host killed mid-run, then restarted.

#[test]
fn loadbalance_with_backoff_fails_over_from_a_killed_host_skips_it_while_backing_off_and_uses_it_again_after_restart() {
    let mut servers = [0, 1, 2].map(|_| Server::start(Protocol::Compact));
    let hosts = host_list(&servers.iter().collect::<Vec<_>>());
    let victim = servers[1].addr();
    let client = Client::new(
        &hosts,
        &config(&[
            ("client.type", "default_loadbalance"),
            ("host-selector", "round_robin"),
            ("backoff", "true"),
            ("maxBackoff", &MAX_BACKOFF_MS.to_string()),
            ("batch-size", "10"),
            ("connect-timeout", "1000"),
            ("request-timeout", "2000"),
        ]),
    )
    .unwrap();
    let stop_sending = AtomicBool::new(false);

    /// One stats reading of the victim: taken between `before` and `after`.
    struct Sample {
        before: Instant,
        after: Instant,
        failures: u64,
        state: String,
        backoff_ms: u64,
    }
    let sample = |client: &Client| {
        let before = Instant::now();
        let json = client.stats_json().unwrap();
        let after = Instant::now();
        let host = host_entry(&json, &victim).to_string();
        Sample {
            before,
            after,
            failures: json_number(&host, "failures"),
            state: json_string(&host, "state").to_string(),
            backoff_ms: json_number(&host, "backoff_ms"),
        }
    };

    let (results, samples, down_for, back_after) = thread::scope(|s| {
        let sender = s.spawn(|| {
            let mut results = Vec::new();
            let mut next = 0;
            while !stop_sending.load(SeqCst) {
                let batch = bodies("lb", next..next + 10);
                next += 10;
                let (result, delivered) = send(&client, &batch);
                results.push((batch, result, delivered));
                thread::sleep(Duration::from_millis(2));
            }
            results
        });
        // A failed assertion below stops the sender too, so the test fails instead of hanging
        // (`thread::scope` waits for its threads before it passes the panic on).
        let _stop = SetOnDrop(&stop_sending);

        // All three up: each gets traffic.
        wait_until(Duration::from_secs(10), "every server receiving", || servers.iter().all(|s| s.events() >= 50));
        let mut samples = vec![sample(&client)];
        assert_eq!(samples[0].failures, 0, "a failure while every host was up");

        // Kill the victim: listener and connections closed, the port refuses.
        let down_at = Instant::now();
        servers[1].stop();
        let others_at_stop = servers[0].events() + servers[2].events();
        while down_at.elapsed() < Duration::from_millis(2600) {
            samples.push(sample(&client));
            thread::sleep(Duration::from_millis(10));
        }
        samples.push(sample(&client));
        let down_for = down_at.elapsed();
        assert!(
            servers[0].events() + servers[2].events() >= others_at_stop + 100,
            "the other hosts did not carry the traffic while one was down"
        );

        // Restart on the same port: traffic comes back within maxBackoff + margin.
        let received_before = servers[1].events();
        servers[1].restart();
        let back_after = wait_until(MAX_BACKOFF + MARGIN, "the restarted host receiving again", || {
            servers[1].events() > received_before
        });
        let up_events = servers[1].events();
        wait_until(Duration::from_secs(10), "the restarted host taking its share", || {
            servers[1].events() >= up_events + 50
        });
        stop_sending.store(true, SeqCst);
        (sender.join().unwrap(), samples, down_for, back_after)
    });

    // Every call returned OK: a failure on the dead host was retried on another within the call.
    for (batch, result, delivered) in &results {
        if let Err(e) = result {
            panic!("append_batch starting with {} failed: {e}", String::from_utf8_lossy(&batch[0]));
        }
        assert_eq!(*delivered, batch.len());
    }
    // Every acknowledged event arrived at least once; duplicates only from the
    // one call the victim may have read but not answered when it died.
    let refs: Vec<&Server> = servers.iter().collect();
    let seen = arrivals(&refs);
    let sent: Vec<&Vec<u8>> = results.iter().flat_map(|(batch, _, _)| batch).collect();
    for body in &sent {
        assert!(seen.contains_key(*body), "{} was acknowledged but never arrived", String::from_utf8_lossy(body));
    }
    assert_eq!(seen.len(), sent.len(), "bodies arrived that were never sent");
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    assert!(duplicates <= 10, "{duplicates} duplicate events: more than the one call in flight at the kill");

    // While down, the victim showed as backing off, never longer than maxBackoff.
    assert!(samples.iter().any(|s| s.state == "backoff"), "the killed host never showed as backing off");
    assert!(samples.iter().all(|s| s.backoff_ms <= MAX_BACKOFF_MS), "a backoff longer than maxBackoff");
    // The client tried the victim again after each backoff ended, and never
    // during one: the k-th and k+1-th failures are >= maxBackoff apart. The
    // k-th failure came after the last sample showing fewer than k was taken
    // (`before`), the k+1-th before the first sample showing k+1 returned
    // (`after`); so if those are less than maxBackoff apart, the rule broke.
    let failures = samples.last().unwrap().failures;
    assert!(failures >= 2, "the killed host was not retried after its backoff ({failures} failures in {down_for:?})");
    assert!(
        failures <= 1 + down_for.as_millis() as u64 / MAX_BACKOFF_MS,
        "{failures} failed attempts on the killed host in {down_for:?}: attempts during backoff"
    );
    for k in 1..failures {
        let k_after = samples.iter().rev().find(|s| s.failures < k).expect("a sample before failure k").before;
        let k1_by = samples.iter().find(|s| s.failures > k).expect("a sample after failure k+1").after;
        assert!(
            k1_by.duration_since(k_after) >= MAX_BACKOFF,
            "failures {k} and {} on the killed host were less than maxBackoff apart",
            k + 1
        );
    }
    assert!(back_after <= MAX_BACKOFF + MARGIN);

    let json = client.stats_json().unwrap();
    let host = host_entry(&json, &victim);
    assert_eq!(json_string(host, "state"), "up", "{json}");
    assert_eq!(json_number(host, "consecutive_failures"), 0, "{json}");
    // Only the victim ever failed.
    let total: u64 = failures_by_code(&json).values().sum();
    assert_eq!(total, json_number(host, "failures"), "{json}");
    for other in [&servers[0], &servers[2]] {
        assert_eq!(json_number(host_entry(&json, &other.addr()), "failures"), 0, "{json}");
    }
}

// ---------------------------------------------------------------------------
// 3. Failover order.

#[test]
fn failover_sends_everything_to_the_first_host_while_it_is_up() {
    for client_type in ["default_failover", "thrift"] {
        let first = Server::start(Protocol::Compact);
        let second = Server::start(Protocol::Compact);
        let client =
            Client::new(&host_list(&[&first, &second]), &config(&[("client.type", client_type), ("batch-size", "10")]))
                .unwrap();
        let sent = bodies(client_type, 0..800);
        send_ok(&client, &sent[..200]);
        thread::scope(|s| {
            for chunk in sent[200..].chunks(150) {
                let client = &client;
                s.spawn(move || send_ok(client, chunk));
            }
        });
        assert_eq!((first.events(), second.events()), (800, 0), "{client_type}");
        assert_eq!(second.accepted(), 0, "{client_type}: the second host was connected to");
        assert_exactly_once(&[&first, &second], &sent);
    }
}

#[test]
fn failover_uses_the_second_host_while_the_first_is_down_and_returns_to_the_first_after_its_backoff() {
    let first_port = closed_port();
    let second = Server::start(Protocol::Compact);
    let first_addr = format!("127.0.0.1:{first_port}");
    let client = Client::new(
        &format!("{first_addr},{}", second.addr()),
        &config(&[
            ("client.type", "default_failover"),
            ("maxBackoff", &MAX_BACKOFF_MS.to_string()),
            ("batch-size", "10"),
            ("connect-timeout", "1000"),
            ("request-timeout", "2000"),
        ]),
    )
    .unwrap();
    let mut next = 0;
    let mut batch = || {
        next += 10;
        bodies("failover", next - 10..next)
    };
    let mut sent = Vec::new();

    // The first host is down: the second takes everything.
    let start = Instant::now();
    for _ in 0..30 {
        let b = batch();
        send_ok(&client, &b);
        sent.extend(b);
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(second.events(), 300);
    let json = client.stats_json().unwrap();
    let first_json = host_entry(&json, &first_addr);
    assert_eq!(json_string(first_json, "state"), "backoff", "{json}");
    let failures = json_number(first_json, "failures");
    assert!(
        (1..=1 + start.elapsed().as_millis() as u64 / MAX_BACKOFF_MS).contains(&failures),
        "{failures} failed attempts on the down host in {:?}: {json}",
        start.elapsed()
    );
    assert_eq!(json_number(&json, "FLUME_ERR_CONNECT"), failures, "{json}");

    // The first host comes up on its port: once its backoff ends, calls go to it.
    let first = Server::start_on(first_port, Protocol::Compact);
    let started = Instant::now();
    while first.events() == 0 {
        let waited = started.elapsed();
        assert!(waited < MAX_BACKOFF + MARGIN, "the first host got nothing {waited:?} after it came up");
        let b = batch();
        send_ok(&client, &b);
        sent.extend(b);
        thread::sleep(Duration::from_millis(5));
    }
    let second_total = second.events();
    for _ in 0..50 {
        let b = batch();
        send_ok(&client, &b);
        sent.extend(b);
    }
    assert_eq!(second.events(), second_total, "calls still went to the second host once the first was back");
    assert_eq!(first.events() + second.events(), sent.len());
    // Connection refusals send nothing: no duplicates.
    assert_exactly_once(&[&first, &second], &sent);
    let json = client.stats_json().unwrap();
    assert_eq!(json_string(host_entry(&json, &first_addr), "state"), "up", "{json}");
}

// ---------------------------------------------------------------------------
// 4. max-attempts, and retrying after FAILED.

#[test]
fn with_every_host_down_a_call_makes_max_attempts_connection_attempts_and_fails_with_connect() {
    for client_type in ["default_loadbalance", "default_failover"] {
        let ports = [closed_port(), closed_port(), closed_port()];
        let hosts = ports.map(|p| format!("127.0.0.1:{p}"));
        let client = Client::new(
            &hosts.join(","),
            &config(&[("client.type", client_type), ("max-attempts", "2"), ("connect-timeout", "1000")]),
        )
        .unwrap();
        let start = Instant::now();
        let (result, delivered) = send(&client, &bodies("down", 0..3));
        let e = result.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Connect, "{client_type}: {e}");
        assert_eq!(delivered, 0);
        assert!(start.elapsed() < MARGIN, "{client_type}: refused connections took {:?}", start.elapsed());
        assert_eq!(e.message().matches("; then ").count(), 1, "{client_type}: not two attempts: {e}");
        let json = client.stats_json().unwrap();
        assert_eq!(json_number(&json, "FLUME_ERR_CONNECT"), 2, "{client_type}: {json}");
        let per_host: u64 = hosts.iter().map(|h| json_number(host_entry(&json, h), "failures")).sum();
        assert_eq!(per_host, 2, "{client_type}: {json}");
        assert_eq!(json_number(&json, "connects"), 0, "{client_type}: {json}");
        if client_type == "default_loadbalance" {
            // No backoff: every call makes exactly max-attempts attempts.
            for round in 2..=4 {
                assert_eq!(client.append(&EventView::body(b"x")).unwrap_err().kind(), ErrorKind::Connect);
                assert_eq!(json_number(&client.stats_json().unwrap(), "FLUME_ERR_CONNECT"), 2 * round);
            }
        }
    }
}

#[test]
fn a_call_answered_failed_is_retried_on_the_next_host_and_succeeds_there() {
    let failing = Server::answering(Protocol::Compact, Status::Failed, Duration::ZERO);
    let ok = Server::start(Protocol::Compact);
    let client = Client::new(
        &host_list(&[&failing, &ok]),
        &config(&[("client.type", "default_failover"), ("max-attempts", "2")]),
    )
    .unwrap();
    let sent = bodies("failed-then-ok", 0..5);
    send_ok(&client, &sent);
    assert_eq!(failing.bodies(), sent, "the first host did not see the call it refused");
    assert_eq!(ok.bodies(), sent);
    let json = client.stats_json().unwrap();
    assert_eq!(json_number(&json, "FLUME_ERR_FAILED"), 1, "{json}");
    assert_eq!(json_number(&json, "calls_acked"), 1, "{json}");
    assert_eq!(json_number(host_entry(&json, &ok.addr()), "events_acked"), 5, "{json}");
}

#[test]
fn a_call_every_attempted_host_answers_failed_is_failed() {
    let servers = [0, 1, 2].map(|_| Server::answering(Protocol::Compact, Status::Failed, Duration::ZERO));
    let refs: Vec<&Server> = servers.iter().collect();
    let client =
        Client::new(&host_list(&refs), &config(&[("client.type", "default_loadbalance"), ("max-attempts", "2")]))
            .unwrap();
    for round in 1..=3 {
        let (result, delivered) = send(&client, &bodies("all-failed", 0..4));
        let e = result.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Failed, "{e}");
        assert_eq!(delivered, 0);
        let calls: usize = servers.iter().map(|s| s.events_per_call().len()).sum();
        assert_eq!(calls, 2 * round, "max-attempts 2: each call should reach exactly two hosts");
    }
    let json = client.stats_json().unwrap();
    assert_eq!(json_number(&json, "FLUME_ERR_FAILED"), 6, "{json}");
    assert_eq!(json_number(&json, "calls_acked"), 0, "{json}");
    // FAILED keeps the connection: one per host, reused.
    assert!(servers.iter().all(|s| s.accepted() == 1), "a connection was not kept after FAILED");
}

// ---------------------------------------------------------------------------
// 5. The connection pool of a host.

#[test]
fn five_callers_share_max_connections_two_and_the_server_never_sees_a_third() {
    let server = Server::answering(Protocol::Compact, Status::Ok, Duration::from_millis(300));
    let client = Client::new(&server.addr(), &config(&[("maxConnections", "2"), ("request-timeout", "1000")])).unwrap();
    let barrier = Barrier::new(5);
    let start = Instant::now();
    thread::scope(|s| {
        for t in 0..5 {
            let (client, barrier) = (&client, &barrier);
            s.spawn(move || {
                barrier.wait();
                let body = format!("pool-{t}");
                client.append(&EventView::body(body.as_bytes())).unwrap_or_else(|e| panic!("caller {t}: {e}"));
            });
        }
    });
    // Two at a time, 300 ms each: three rounds.
    assert!(start.elapsed() >= Duration::from_millis(900), "five 300 ms calls took only {:?}", start.elapsed());
    assert_eq!(server.events(), 5);
    assert_eq!(server.most_open(), 2, "simultaneous connections");
    assert_eq!(server.accepted(), 2, "connections made");
    assert!(server.most_in_flight() <= 2);
}

#[test]
fn a_caller_finding_every_connection_busy_gets_busy_at_request_timeout_having_sent_nothing() {
    let server = Server::answering(Protocol::Compact, Status::Ok, Duration::from_millis(1000));
    let request_timeout = Duration::from_millis(200);
    let client = Client::new(
        &server.addr(),
        &config(&[("maxConnections", "1"), ("request-timeout", "200"), ("connect-timeout", "1000")]),
    )
    .unwrap();
    let timed_append = |body: &str| {
        let start = Instant::now();
        let result = client.append(&EventView::body(body.as_bytes()));
        (result, start.elapsed())
    };
    // The first caller holds the one connection until its own request-timeout
    // (the server answers after 1 s). Two callers arrive while it waits: each
    // holder keeps the connection for a full request-timeout, so at least one
    // of them waits out its request-timeout for the connection.
    let barrier = Barrier::new(2);
    let (first, others) = thread::scope(|s| {
        let first = s.spawn(|| timed_append("busy-first"));
        wait_until(Duration::from_secs(5), "the first call reaching the server", || server.events() == 1);
        let others: Vec<_> = ["busy-2", "busy-3"]
            .map(|body| {
                let (barrier, timed_append) = (&barrier, &timed_append);
                s.spawn(move || {
                    barrier.wait();
                    timed_append(body)
                })
            })
            .into_iter()
            .collect();
        (first.join().unwrap(), others.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>())
    });
    let e = first.0.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    let mut busy = 0;
    for (result, elapsed) in others {
        let e = result.unwrap_err();
        if e.message().contains("busy") {
            // Not Timeout, whose meaning is "may have been delivered": nothing was.
            assert_eq!(e.kind(), ErrorKind::Busy, "{e}");
            assert!(!e.kind().maybe_delivered());
            busy += 1;
            assert!(e.message().contains("nothing was sent"), "{e}");
            assert!(elapsed >= request_timeout, "gave up waiting for a connection after {elapsed:?}");
            assert!(elapsed < request_timeout + MARGIN, "waited {elapsed:?} for a connection");
        } else {
            assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
        }
    }
    assert!(busy >= 1, "no caller found the connection busy");
    // A caller that found the connection busy sent nothing.
    assert_eq!(server.events_per_call().len(), 3 - busy);
}

// ---------------------------------------------------------------------------
// 6. Flume client properties files.

/// Flume's documented failover client file (comments moved to their own
/// lines: a `#` after a value is part of the value in a properties file),
/// with this library's `protocol`.
fn failover_properties(ports: [u16; 3]) -> String {
    format!(
        "# Flume client properties: failover
client.type = default_failover

# List of hosts (space-separated list of user-chosen host aliases)
hosts = h1 h2 h3

# host/port pair for each host alias
hosts.h1 = 127.0.0.1:{}
hosts.h2 = 127.0.0.1:{}
hosts.h3 = 127.0.0.1:{}

# Must be >=0 (default: number of hosts specified, 3 in this case)
max-attempts = 3

# Must be >=1 (default: 100)
batch-size = 7

# Must be >=1000 (default: 20000)
connect-timeout = 2000

# Must be >=1000 (default: 20000)
request-timeout = 3000

# The Thrift source's protocol (this library's key)
protocol = binary
",
        ports[0], ports[1], ports[2]
    )
}

/// Flume's documented load-balancing client file, likewise.
fn loadbalance_properties(ports: [u16; 3]) -> String {
    format!(
        "client.type = default_loadbalance

# At least 2 hosts are required
hosts = h1 h2 h3

hosts.h1 = 127.0.0.1:{}

hosts.h2 = 127.0.0.1:{}

hosts.h3 = 127.0.0.1:{}

# Specifies whether the client should back-off from (i.e. temporarily
# blacklist) a failed host (default: false).
backoff = false

# Max timeout in millis that a will remain inactive due to a previous
# failure with that host (default: 0, which effectively becomes 30000)
maxBackoff = 0

# The host selection strategy used when load-balancing among hosts
# (default: round_robin).
host-selector = round_robin

batch-size = 5

connect-timeout = 2000

request-timeout = 3000

protocol = binary
",
        ports[0], ports[1], ports[2]
    )
}

#[test]
fn a_failover_properties_file_is_honoured_batch_size_binary_protocol_and_host_order() {
    let mut servers = [0, 1, 2].map(|_| Server::start(Protocol::Binary));
    let mut config = Config::default();
    config.load_properties_str(&failover_properties(servers.each_ref().map(|s| s.port()))).unwrap();
    assert_eq!(config.client_type, ClientType::Failover);
    assert_eq!(config.protocol, Protocol::Binary);
    assert_eq!((config.batch_size, config.max_attempts), (7, Some(3)));
    assert_eq!(config.connect_timeout, Duration::from_millis(2000));
    assert_eq!(config.request_timeout, Duration::from_millis(3000));
    let client = Client::new("", &config).unwrap();

    let sent = bodies("props-failover", 0..20);
    send_ok(&client, &sent);
    assert_eq!(servers[0].events_per_call(), [7, 7, 6], "batch-size 7 at the first host");
    assert_eq!((servers[1].events(), servers[2].events()), (0, 0), "failover: only the first host");
    // Strict binary: every payload starts with version 0x8001; compact would
    // fail to decode (and starts with 0x82).
    assert!(servers[0].heads().iter().all(|h| h == &[0x80, 0x01]));

    // The first host goes: the second one, not the third, takes over.
    servers[0].stop();
    let more = bodies("props-failover", 20..30);
    send_ok(&client, &more);
    assert_eq!((servers[1].events_per_call(), servers[2].events()), (vec![7, 3], 0));
    let refs: Vec<&Server> = servers.iter().collect();
    assert_exactly_once(&refs, &[sent, more].concat());
    assert!(servers.iter().all(|s| s.undecodable() == 0));
}

#[test]
fn a_loadbalance_properties_file_is_honoured_round_robin_batch_size_and_binary_protocol() {
    let servers = [0, 1, 2].map(|_| Server::start(Protocol::Binary));
    let mut config = Config::default();
    config.load_properties_str(&loadbalance_properties(servers.each_ref().map(|s| s.port()))).unwrap();
    assert_eq!(config.client_type, ClientType::LoadBalance);
    assert_eq!(config.host_selector, HostSelector::RoundRobin);
    assert!(!config.backoff);
    assert_eq!(config.max_backoff, Duration::from_millis(30_000), "maxBackoff 0 means 30 s");
    assert_eq!(config.host_aliases, ["h1", "h2", "h3"]);
    let client = Client::new("", &config).unwrap();

    let sent = bodies("props-lb", 0..30);
    send_ok(&client, &sent);
    for server in &servers {
        assert_eq!(server.events_per_call(), [5, 5], "round robin of batch-size 5 calls");
        assert!(server.heads().iter().all(|h| h == &[0x80, 0x01]));
        assert_eq!(server.undecodable(), 0);
    }
    assert_exactly_once(&servers.iter().collect::<Vec<_>>(), &sent);
}

#[test]
fn properties_files_with_unknown_or_unsupported_keys_are_config_errors_naming_line_and_reason() {
    let unknown = "# a client file
client.type = default_loadbalance
hosts = h1
hosts.h1 = 127.0.0.1:4141
batchSize = 10
";
    let mut config = Config::default();
    let e = config.load_properties_str(unknown).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(e.message().contains("line 5"), "{e}");
    assert!(e.message().contains("batchSize"), "{e}");
    assert_eq!(config, Config::default(), "a failed load changed the config");

    for (text, reason) in [("kerberos = true\n", "Kerberos"), ("hosts = h1\ntruststore-type = JKS\n", "PEM")] {
        let e = config.load_properties_str(text).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{text:?}: {e}");
        assert!(e.message().contains(reason), "{text:?}: {e}");
        assert_eq!(config, Config::default(), "{text:?} changed the config");
    }
    let e = config.load_properties_str("hosts = h1\ntruststore-type = JKS\n").unwrap_err();
    assert!(e.message().contains("line 2"), "{e}");
}

// ---------------------------------------------------------------------------
// 7. The statistics JSON.

#[test]
fn stats_json_counts_acks_failures_by_code_connects_and_each_host() {
    // Hosts in order: OK, down, FAILED. Round robin without backoff, 3 attempts:
    // calls starting at each host in turn go
    //   ok                      -> acked
    //   down (CONNECT), failed (FAILED), ok -> acked
    //   failed (FAILED), ok     -> acked
    let ok = Server::start(Protocol::Compact);
    let failing = Server::answering(Protocol::Compact, Status::Failed, Duration::ZERO);
    // Taken after the servers bind, so that neither can be given the closed port.
    let down = format!("127.0.0.1:{}", closed_port());
    let client = Client::new(
        &format!("{},{down},{}", ok.addr(), failing.addr()),
        &config(&[
            ("client.type", "default_loadbalance"),
            ("host-selector", "round_robin"),
            ("backoff", "false"),
            ("batch-size", "4"),
        ]),
    )
    .unwrap();
    let fresh = client.stats_json().unwrap();
    assert!(fresh.starts_with("{\"events_acked\":0,\"calls_acked\":0,"), "{fresh}");

    for round in 0..2 {
        for call in 0..3 {
            send_ok(&client, &bodies(&format!("stats-{round}-{call}"), 0..4));
        }
    }
    // Then every host refuses: OK host answers FAILED too.
    ok.set_reply(Status::Failed);
    let (result, delivered) = send(&client, &bodies("stats-refused", 0..4));
    let e = result.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Failed, "{e}");
    assert_eq!(delivered, 0);

    let json = client.stats_json().unwrap();
    assert_eq!(json_number(&json, "events_acked"), 24, "{json}");
    assert_eq!(json_number(&json, "calls_acked"), 6, "{json}");
    assert_eq!(json_number(&json, "connects"), 2, "{json}: one kept connection each to the answering hosts");
    assert!(json_number(&json, "bytes_sent") > 0, "{json}");
    assert!(json.contains("\"FLUME_ERR_CONNECT\":3"), "{json}");
    assert!(json.contains("\"FLUME_ERR_FAILED\":6"), "{json}");
    let failures = failures_by_code(&json);
    for (kind, n) in &failures {
        if !matches!(kind, ErrorKind::Connect | ErrorKind::Failed) {
            assert_eq!(*n, 0, "{}: {json}", kind.name());
        }
    }
    // Answered calls: 6 OK, 4 FAILED on the way, 2 FAILED in the last call.
    let latency = &json[json.find("\"latency_us\":").expect("latency_us")..];
    assert_eq!(json_number(latency, "count"), 12, "{json}");

    assert_eq!(json.matches("{\"address\":").count(), 3, "{json}");
    let positions =
        [ok.addr(), down.clone(), failing.addr()].map(|a| json.find(&format!("\"address\":\"{a}\"")).unwrap());
    assert!(positions[0] < positions[1] && positions[1] < positions[2], "hosts out of order: {json}");
    // (address, events_acked, calls_acked, failures, consecutive_failures, connects, idle_connections)
    for (addr, events, calls, failed, consecutive, connects, idle) in
        [(ok.addr(), 24, 6, 1, 1, 1, 1), (down.clone(), 0, 0, 3, 3, 0, 0), (failing.addr(), 0, 0, 5, 5, 1, 1)]
    {
        let host = host_entry(&json, &addr);
        assert_eq!(json_string(host, "state"), "up", "backoff is off: {host}");
        assert_eq!(json_number(host, "backoff_ms"), 0, "{host}");
        assert_eq!(json_number(host, "events_acked"), events, "{host}");
        assert_eq!(json_number(host, "calls_acked"), calls, "{host}");
        assert_eq!(json_number(host, "failures"), failed, "{host}");
        assert_eq!(json_number(host, "consecutive_failures"), consecutive, "{host}");
        assert_eq!(json_number(host, "connects"), connects, "{host}");
        assert_eq!(json_number(host, "idle_connections"), idle, "{host}");
    }
    assert_eq!(ok.events(), 24 + 4);
    assert_eq!(failing.events(), 5 * 4);
}
