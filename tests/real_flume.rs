//! Against a real Apache Flume 1.11.0 agent (scripts/flume-agent.sh; Flume from
//! Maven Central): its Thrift source, memory and file channels, and its Thrift
//! sink forwarding to the bundled `flume-receive --format json --base64`, which
//! shows exactly what the agent took (tests/common/flume_agent.rs).
//!
//! JVM start-ups are the cost here, so tests that neither kill nor fill an
//! agent share one per protocol (`shared`), each marking its events with a
//! header `test` of its own and reading back only those.

#[path = "common/flume_agent.rs"]
mod flume_agent;

use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::Duration;

use flume_agent::{AgentOptions, Downstream, FlumeAgent, Received, SinkKind};
use flume_client::{AsEvent, Client, Config, Protocol};

/// An event owning its data.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Sent {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl AsEvent for Sent {
    fn header_count(&self) -> usize {
        self.headers.len()
    }
    fn header(&self, index: usize) -> (&[u8], &[u8]) {
        let (k, v) = &self.headers[index];
        (k.as_bytes(), v.as_bytes())
    }
    fn body(&self) -> &[u8] {
        &self.body
    }
}

impl Sent {
    fn tagged(test: &str, i: usize, body: Vec<u8>) -> Sent {
        Sent { headers: vec![("test".into(), test.into()), ("n".into(), i.to_string())], body }
    }
    /// As the downstream shows it: headers sorted.
    fn received(&self) -> Received {
        let mut headers = self.headers.clone();
        headers.sort();
        Received { headers, body: self.body.clone() }
    }
}

/// xorshift64: reproducible random data without a crate.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(len);
        out
    }
    /// Up to `max` characters, from ASCII (controls, NUL, '=', ',', quotes,
    /// newlines) to 4-byte UTF-8.
    fn text(&mut self, max: usize) -> String {
        #[rustfmt::skip]
        const CHARS: &[char] = &[
            'a', 'b', 'z', 'A', 'Q', '0', '9', ' ', '=', ',', '"', '\\', '{', ':', '\0', '\n', '\r', '\t',
            '\u{7f}', '\u{80}', 'é', 'ß', 'Ω', 'ж', '\u{7ff}', '\u{800}', '€', '中', '✓', '\u{fffd}', '\u{feff}',
            '\u{ffff}', '\u{10000}', '😀', '𝄞', '\u{10ffff}',
        ];
        let len = self.below(max + 1);
        (0..len).map(|_| CHARS[self.below(CHARS.len())]).collect()
    }
}

fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Compact => "compact",
        Protocol::Binary => "binary",
    }
}

fn config(protocol: Protocol, settings: &[(&str, &str)]) -> Config {
    let mut config = Config::default();
    config.set("protocol", protocol_name(protocol)).unwrap();
    config.set("connect-timeout", "10000").unwrap();
    config.set("request-timeout", "30000").unwrap();
    for (k, v) in settings {
        config.set(k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
    }
    config
}

/// One agent per protocol shared by the tests that neither kill nor fill it:
/// memory channel (capacity 100,000, transactionCapacity 1000), Thrift sink
/// to a `Downstream`.
struct Shared {
    agent: FlumeAgent,
    downstream: Downstream,
}

fn shared(protocol: Protocol) -> &'static Shared {
    static COMPACT: OnceLock<Shared> = OnceLock::new();
    static BINARY: OnceLock<Shared> = OnceLock::new();
    let cell = if protocol == Protocol::Compact { &COMPACT } else { &BINARY };
    cell.get_or_init(|| {
        let downstream = Downstream::start(&format!("shared-{}", protocol_name(protocol)), protocol);
        let mut options = AgentOptions::new(protocol, SinkKind::Thrift(downstream.port()));
        options.heap = "512m".into();
        // Bodies reach 1 MB: 100 of them stay within flume-receive's 16 MB frame.
        options.sink_batch_size = 100;
        let agent = FlumeAgent::start(&format!("shared-{}", protocol_name(protocol)), options);
        Shared { agent, downstream }
    })
}

/// Waits until the downstream has `count` events tagged `test`; those events.
fn tagged(downstream: &Downstream, test: &str, count: usize) -> Vec<Received> {
    let timeout = Duration::from_secs(60);
    downstream.wait_for(timeout, &format!("{count} events of {test}"), |events| {
        events.iter().filter(|e| e.header("test") == Some(test)).count() >= count
    });
    downstream.events_with("test", test)
}

fn assert_same(label: &str, sent: &[Sent], received: &[Received]) {
    assert_eq!(received.len(), sent.len(), "{label}: number of events in the sink");
    for (i, (want, got)) in sent.iter().zip(received).enumerate() {
        let want = want.received();
        if want.body != got.body {
            let first = want.body.iter().zip(&got.body).position(|(a, b)| a != b);
            panic!(
                "{label}: event {i}: body differs: sent {} bytes, sink has {} bytes, first difference at {first:?}",
                want.body.len(),
                got.body.len()
            );
        }
        assert_eq!(want.headers, got.headers, "{label}: event {i}: headers");
    }
}

// --- Exact delivery ----------------------------------------------------------------

/// Random events: empty header maps, 0 to 50 headers with multi-byte UTF-8
/// keys and values, empty and binary bodies, a few bodies up to 1 MB.
fn random_events(test: &str, rng: &mut Rng, count: usize) -> Vec<Sent> {
    (0..count)
        .map(|i| {
            let body_len = match rng.below(40) {
                0 => 0,
                1 => 1 << 20,
                2 => 100_000 + rng.below(900_000),
                _ => rng.below(3000),
            };
            let body = rng.bytes(body_len);
            let mut keys = HashSet::new();
            let mut headers = Vec::new();
            // One event in eight has no header at all (an empty map): it is
            // found again by its body, which starts with its tag.
            let header_count = if rng.below(8) == 0 { 0 } else { rng.below(51) };
            for _ in 0..header_count {
                let key = rng.text(12);
                if key != "test" && keys.insert(key.clone()) {
                    headers.push((key, rng.text(40)));
                }
            }
            if !headers.is_empty() {
                headers.push(("test".into(), test.into()));
            }
            let mut body = body;
            if headers.is_empty() {
                let mut tagged = format!("{test}#{i}#").into_bytes();
                tagged.extend_from_slice(&body);
                body = tagged;
            }
            Sent { headers, body }
        })
        .collect()
}

fn exact_delivery(protocol: Protocol) {
    let test = format!("exact-{}", protocol_name(protocol));
    let shared = shared(protocol);
    let mut rng = Rng::new(if protocol == Protocol::Compact { 1 } else { 2 });
    let sent = random_events(&test, &mut rng, 400);
    let client = Client::new(&shared.agent.address(), &config(protocol, &[])).unwrap();
    // Single appends and batches of 1 to 100.
    let mut i = 0;
    while i < sent.len() {
        let n = if rng.below(4) == 0 { 1 } else { 1 + rng.below(100) }.min(sent.len() - i);
        if n == 1 {
            client.append(&sent[i]).unwrap_or_else(|e| panic!("{test}: append {i}: {e}"));
        } else {
            client.append_batch(&sent[i..i + n]).unwrap_or_else(|e| panic!("{test}: batch at {i}: {e}"));
        }
        i += n;
    }
    let mine =
        |e: &Received| e.header("test") == Some(test.as_str()) || e.body.starts_with(format!("{test}#").as_bytes());
    let events =
        shared.downstream.wait_for(Duration::from_secs(60), &format!("{} events of {test}", sent.len()), |events| {
            events.iter().filter(|e| mine(e)).count() >= sent.len()
        });
    let received: Vec<Received> = events.into_iter().filter(mine).collect();
    assert!(sent.iter().any(|e| e.headers.is_empty()) && sent.iter().any(|e| e.headers.len() > 40));
    assert!(sent.iter().any(|e| e.body.len() == 1 << 20));
    assert_same(&test, &sent, &received);
}

#[test]
fn exact_delivery_compact() {
    exact_delivery(Protocol::Compact);
}

#[test]
fn exact_delivery_binary() {
    exact_delivery(Protocol::Binary);
}

// --- Pipelined calls -------------------------------------------------------------------

/// `queue.max-in-flight`: the sender thread sends up to 8 calls on one
/// connection before it reads their replies. Flume's Thrift source answers a
/// connection's calls one at a time, in order: every event arrives once, in
/// send order, and each is reported OK, in send order.
fn pipelined_sends(protocol: Protocol) {
    use flume_client::{DeliveryCallback, DeliveryReport};
    use std::sync::{Arc, Mutex};

    let test = format!("pipelined-{}", protocol_name(protocol));
    let shared = shared(protocol);
    let reports: Arc<Mutex<Vec<(usize, bool)>>> = Arc::default();
    let seen = Arc::clone(&reports);
    let settings = [("batch-size", "10"), ("queue.max-in-flight", "8"), ("linger-ms", "0")];
    let mut config = config(protocol, &settings);
    config.delivery_callback = Some(DeliveryCallback(Arc::new(move |r: &DeliveryReport| {
        seen.lock().unwrap().push((r.opaque, r.result.is_ok()));
    })));
    let client = Client::new(&shared.agent.address(), &config).unwrap();
    let sent: Vec<Sent> = (0..5000).map(|i| Sent::tagged(&test, i, format!("body {i}").into_bytes())).collect();
    for (i, event) in sent.iter().enumerate() {
        client.send(event, i).unwrap_or_else(|e| panic!("{test}: send {i}: {e}"));
    }
    client.flush(Duration::from_secs(60)).unwrap_or_else(|e| panic!("{test}: {e}"));
    let stats = client.stats_json().unwrap();
    drop(client);
    let expected: Vec<(usize, bool)> = (0..sent.len()).map(|i| (i, true)).collect();
    assert_eq!(*reports.lock().unwrap(), expected, "{test}: reports, in send order: {stats}");
    assert!(stats.contains("\"connects\":1,"), "{test}: one connection carried the calls: {stats}");
    assert_same(&test, &sent, &tagged(&shared.downstream, &test, sent.len()));
}

#[test]
fn pipelined_sends_compact() {
    pipelined_sends(Protocol::Compact);
}

#[test]
fn pipelined_sends_binary() {
    pipelined_sends(Protocol::Binary);
}

// --- FAILED ----------------------------------------------------------------------------

/// A call of more events than the channel's transactionCapacity (1000 on the
/// shared agent) is answered FAILED at once, every time, and the connection
/// stays usable; the message names that cause with the call's event count.
fn batch_over_transaction_capacity(protocol: Protocol) {
    let test = format!("over-tc-{}", protocol_name(protocol));
    let shared = shared(protocol);
    let client = Client::new(&shared.agent.address(), &config(protocol, &[("batch-size", "5000")])).unwrap();
    let big: Vec<Sent> = (0..1500).map(|i| Sent::tagged(&test, i, format!("over {i}").into_bytes())).collect();
    for attempt in 0..2 {
        let e = client.append_batch(&big).expect_err("a call of 1500 events > transactionCapacity 1000");
        assert_eq!(e.kind(), flume_client::ErrorKind::Failed, "attempt {attempt}: {e}");
        assert_eq!(e.delivered(), 0, "attempt {attempt}");
        let message = e.to_string();
        for words in ["1500 events", "transactionCapacity", "channel is full"] {
            assert!(message.contains(words), "attempt {attempt}: {words:?} not in {message:?}");
        }
    }
    // The same connection then carries a call within the limit.
    let small: Vec<Sent> = (0..1000).map(|i| Sent::tagged(&test, i, format!("ok {i}").into_bytes())).collect();
    client.append_batch(&small).unwrap();
    let received = tagged(&shared.downstream, &test, 1000);
    assert_same(&test, &small, &received);
    let stats = client.stats_json().unwrap();
    assert!(stats.contains("\"connects\":1,"), "one connection for all three calls: {stats}");
}

#[test]
fn batch_over_transaction_capacity_compact() {
    batch_over_transaction_capacity(Protocol::Compact);
}

#[test]
fn batch_over_transaction_capacity_binary() {
    batch_over_transaction_capacity(Protocol::Binary);
}

/// A full channel (capacity 100, no sink) answers FAILED after the channel's
/// keep-alive (1 s here): the calls before it were acknowledged, so
/// `delivered` counts exactly their events.
fn full_channel(protocol: Protocol) {
    let test = format!("full-{}", protocol_name(protocol));
    let mut options = AgentOptions::new(protocol, SinkKind::None);
    options.capacity = 100;
    options.transaction_capacity = 100;
    options.keep_alive = Some(1);
    let agent = FlumeAgent::start(&test, options);
    let client = Client::new(&agent.address(), &config(protocol, &[("batch-size", "40")])).unwrap();
    let events: Vec<Sent> = (0..200).map(|i| Sent::tagged(&test, i, vec![b'x'; 100])).collect();
    let e = client.append_batch(&events).expect_err("the third call of 40 overflows capacity 100");
    assert_eq!(e.kind(), flume_client::ErrorKind::Failed, "{e}");
    assert_eq!(e.delivered(), 80, "two calls of 40 acknowledged, the third FAILED: {e}");
    let message = e.to_string();
    for words in ["40 events", "transactionCapacity", "channel is full"] {
        assert!(message.contains(words), "{words:?} not in {message:?}");
    }
    // A single event still fits (80 of 100), then the channel is full for one too.
    let mut one_more = 0;
    for (i, event) in events[80..].iter().enumerate() {
        match client.append(event) {
            Ok(()) => one_more += 1,
            Err(e) => {
                assert_eq!(e.kind(), flume_client::ErrorKind::Failed, "append {i}: {e}");
                assert!(e.to_string().contains("channel is full"), "{e}");
                break;
            }
        }
    }
    assert_eq!(one_more, 20, "80 + 20 single events fill capacity 100");
}

#[test]
fn full_channel_compact() {
    full_channel(Protocol::Compact);
}

#[test]
fn full_channel_binary() {
    full_channel(Protocol::Binary);
}

// --- Restarts ----------------------------------------------------------------------------

/// Sends `events` in calls of at most batch-size, retrying from the first
/// event not acknowledged until every one is (waiting `pause` after a
/// failure); the number of failed calls.
fn send_until_acknowledged(client: &Client, events: &[Sent], pause: Duration) -> usize {
    let mut failures = 0;
    let mut from = 0;
    while from < events.len() {
        let result = client.append_batch(&events[from..]);
        from += result.as_ref().map_or_else(|e| e.delivered(), |()| events.len() - from);
        if result.is_err() {
            failures += 1;
            assert!(failures < 10_000, "no progress: {result:?}");
            std::thread::sleep(pause);
        }
    }
    failures
}

/// With a file channel, every event the library reported acknowledged is in
/// the sink after the agent was killed (SIGKILL) and started again: the sink's
/// downstream is not even running until after the restart, so every
/// acknowledged event was only in the channel when the agent died.
#[test]
fn file_channel_keeps_every_acknowledged_event_through_sigkill() {
    let test = "file-channel-kill";
    let protocol = Protocol::Compact;
    let downstream_port = flume_agent::unused_port();
    let mut options = AgentOptions::new(protocol, SinkKind::Thrift(downstream_port));
    options.channel = flume_agent::ChannelKind::File;
    let mut agent = FlumeAgent::start(test, options);
    let events: Vec<Sent> = (0..20_000).map(|i| Sent::tagged(test, i, format!("event {i}").into_bytes())).collect();
    let client =
        Client::new(&agent.address(), &config(protocol, &[("batch-size", "100"), ("connect-timeout", "2000")]))
            .unwrap();

    // Half before the kill, all acknowledged; the rest while the agent is
    // killed and started again.
    assert_eq!(send_until_acknowledged(&client, &events[..10_000], Duration::from_millis(50)), 0);
    let failures = std::thread::scope(|s| {
        let sender = s.spawn(|| send_until_acknowledged(&client, &events[10_000..], Duration::from_millis(50)));
        std::thread::sleep(Duration::from_millis(200));
        agent.kill();
        std::thread::sleep(Duration::from_millis(500));
        agent.start_again();
        sender.join().unwrap()
    });
    assert!(failures > 0, "the kill happened after the sender had finished");

    let downstream = Downstream::start_on(test, protocol, downstream_port);
    let received = downstream.wait_for(Duration::from_secs(120), "every acknowledged event", |received| {
        received.len() >= events.len() && {
            let got: HashSet<&[u8]> = received.iter().map(|e| e.body.as_slice()).collect();
            events.iter().all(|e| got.contains(e.body.as_slice()))
        }
    });
    let expected: HashSet<Received> = events.iter().map(Sent::received).collect();
    let unknown: Vec<&Received> = received.iter().filter(|e| !expected.contains(*e)).collect();
    assert!(unknown.is_empty(), "the sink has events never sent: {:?}", &unknown[..unknown.len().min(3)]);
    eprintln!(
        "{test}: {} events acknowledged, {} in the sink ({} duplicates), {failures} failed calls during the restart",
        events.len(),
        received.len(),
        received.len() - events.len()
    );
}

/// The whole number after the first `"key":` in `json`.
fn json_number(json: &str, key: &str) -> u64 {
    let pattern = format!("\"{key}\":");
    let start = json.find(&pattern).unwrap_or_else(|| panic!("no {pattern} in {json}")) + pattern.len();
    let digits: String = json[start..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or_else(|_| panic!("{key} is not a whole number in {json}"))
}

/// The stats object of the host at `address`.
fn host_entry<'j>(json: &'j str, address: &str) -> &'j str {
    let pattern = format!("{{\"address\":\"{address}\"");
    let start = json.find(&pattern).unwrap_or_else(|| panic!("no host {address} in {json}"));
    let len = json[start..].find('}').expect("end of the host object") + 1;
    &json[start..start + len]
}

/// Three real agents (file channels; a static interceptor marks each event
/// with its agent's name) behind `default_loadbalance` with backoff, then
/// `default_failover`; one killed mid-run and started again. Nothing
/// acknowledged is lost, the dead agent is skipped while backed off (few
/// attempts on it) and used again once it is back.
#[test]
fn three_agents_load_balancing_and_failover_with_one_killed() {
    let protocol = Protocol::Compact;
    let downstream = Downstream::start("three", protocol);
    // Started side by side: a JVM start is most of an agent's cost here.
    let downstream_port = downstream.port();
    let mut agents: Vec<FlumeAgent> = std::thread::scope(|s| {
        let starting: Vec<_> = (1..=3)
            .map(|n| {
                s.spawn(move || {
                    let mut options = AgentOptions::new(protocol, SinkKind::Thrift(downstream_port));
                    options.channel = flume_agent::ChannelKind::File;
                    options.lines = vec![
                        "a1.sources.r1.interceptors = agent".into(),
                        "a1.sources.r1.interceptors.agent.type = static".into(),
                        "a1.sources.r1.interceptors.agent.key = agent".into(),
                        format!("a1.sources.r1.interceptors.agent.value = h{n}"),
                    ];
                    FlumeAgent::start(&format!("three-h{n}"), options)
                })
            })
            .collect();
        starting.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let hosts: Vec<(String, String)> =
        agents.iter().enumerate().map(|(i, a)| (format!("hosts.h{}", i + 1), a.address())).collect();

    for (client_type, victim) in [("default_loadbalance", 1), ("default_failover", 0)] {
        let test = format!("three-{client_type}");
        let mut settings: Vec<(&str, &str)> = vec![
            ("hosts", "h1 h2 h3"),
            ("client.type", client_type),
            ("backoff", "true"),
            ("maxBackoff", "2000"),
            ("batch-size", "10"),
            ("connect-timeout", "2000"),
        ];
        settings.extend(hosts.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let client = Client::new("", &config(protocol, &settings)).unwrap();
        let events: Vec<Sent> = (0..3000).map(|i| Sent::tagged(&test, i, format!("{test} {i}").into_bytes())).collect();
        let batch = |k: usize| &events[k * 10..(k + 1) * 10];

        // A third with all three up, a third around the victim's death and
        // restart, a third after its backoff has ended.
        assert_eq!(send_until_acknowledged(&client, &events[..1000], Duration::ZERO), 0);
        agents[victim].kill();
        let killed = std::time::Instant::now();
        let failures_before =
            json_number(host_entry(&client.stats_json().unwrap(), &agents[victim].address()), "failures");
        let mut calls_while_down = 0;
        for k in 100..150 {
            assert_eq!(send_until_acknowledged(&client, batch(k), Duration::ZERO), 0, "{test}: batch {k}");
            calls_while_down += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        agents[victim].start_again();
        let down_for = killed.elapsed();
        let attempts_while_down =
            json_number(host_entry(&client.stats_json().unwrap(), &agents[victim].address()), "failures")
                - failures_before;
        for k in 150..200 {
            assert_eq!(send_until_acknowledged(&client, batch(k), Duration::ZERO), 0, "{test}: batch {k}");
        }
        std::thread::sleep(Duration::from_millis(2100)); // maxBackoff
        assert_eq!(send_until_acknowledged(&client, &events[2000..], Duration::ZERO), 0);

        let mine = tagged(&downstream, &test, events.len());
        let got: HashSet<&[u8]> = mine.iter().map(|e| e.body.as_slice()).collect();
        let lost: Vec<&Sent> = events.iter().filter(|e| !got.contains(e.body.as_slice())).collect();
        assert!(lost.is_empty(), "{test}: {} acknowledged events lost, e.g. {:?}", lost.len(), lost[0]);
        let victim_name = format!("h{}", victim + 1);
        // Distinct events (a sink may deliver one twice: at-least-once) of
        // `range` that went through agent `name`.
        let by = |name: &str, range: std::ops::Range<usize>| {
            mine.iter()
                .filter(|e| e.header("agent") == Some(name))
                .map(|e| e.header("n").unwrap().parse::<usize>().unwrap())
                .filter(|n| range.contains(n))
                .collect::<HashSet<usize>>()
                .len()
        };
        // Every attempt on the dead agent is a failure counted for it; with
        // backoff (1 s, then 2 s) there are a handful, not one per call.
        assert!(
            (1..=6).contains(&attempts_while_down),
            "{test}: {attempts_while_down} attempts on the dead agent in {down_for:?} ({calls_while_down} calls)"
        );
        assert_eq!(by(&victim_name, 1000..1500), 0, "{test}: events reached the killed agent");
        let back = by(&victim_name, 2000..3000);
        match client_type {
            "default_loadbalance" => {
                assert!(back > 200, "{test}: the restarted agent took {back} of the last 1000 events");
                assert!(by("h1", 0..1000) > 200 && by("h2", 0..1000) > 200 && by("h3", 0..1000) > 200);
            }
            _ => {
                let first = [by("h1", 0..1000), by("h2", 0..1000), by("h3", 0..1000)];
                assert_eq!(first[0], 1000, "{test}: all to the first host while it is up (h1, h2, h3: {first:?})");
                assert_eq!(by("h1", 0..1000), 1000, "{test}: all to the first host while it is up");
                assert_eq!(by("h2", 1000..1500), 500, "{test}: all to the second while the first is down");
                assert_eq!(back, 1000, "{test}: back to the first after its backoff");
            }
        }
        eprintln!(
            "{test}: {} events acknowledged, {} in the sink; the killed agent was down {down_for:?}, tried \
             {attempts_while_down} times in {calls_while_down} calls",
            events.len(),
            mine.len()
        );
    }
}

/// `send` of 1,000,000 events while the agent (file channel) is killed and
/// started again: one report per event, and every event reported FLUME_OK is
/// in the sink. Lean on purpose: 7-digit bodies, no headers, and the agent's
/// own file_roll sink (`text`: a body a line) rather than a Thrift sink, so
/// that the sink side costs little beside the file channel.
#[test]
fn a_million_asynchronous_events_through_an_agent_restart() {
    use flume_client::{DeliveryCallback, DeliveryReport};
    use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
    use std::sync::Arc;

    const COUNT: usize = 1_000_000;
    let test = "async-million";
    let protocol = Protocol::Compact;
    let mut options = AgentOptions::new(protocol, SinkKind::FileRoll);
    options.lines = vec!["a1.sinks.k1.sink.serializer = text".into()];
    options.channel = flume_agent::ChannelKind::File;
    options.capacity = 1_000_000;
    options.transaction_capacity = 2000;
    options.sink_batch_size = 2000;
    options.heap = "512m".into();
    let mut agent = FlumeAgent::start(test, options);

    struct Reports {
        state: Vec<AtomicU8>,
        reported: AtomicUsize,
    }
    let reports =
        Arc::new(Reports { state: (0..COUNT).map(|_| AtomicU8::new(0)).collect(), reported: AtomicUsize::new(0) });
    let mut config = config(
        protocol,
        &[
            ("batch-size", "1000"),
            ("connect-timeout", "2000"),
            ("retries", "1000"),
            ("retry-backoff", "100"),
            ("event-timeout", "120000"),
            ("queue.full", "block"),
            ("queue.block-timeout", "60000"),
        ],
    );
    let r = Arc::clone(&reports);
    config.delivery_callback = Some(DeliveryCallback(Arc::new(move |report: &DeliveryReport| {
        let outcome = if report.result.is_ok() { 1 } else { 2 };
        let before = r.state[report.opaque].swap(outcome, Ordering::SeqCst);
        assert_eq!(before, 0, "event {} reported twice", report.opaque);
        r.reported.fetch_add(1, Ordering::SeqCst);
    })));
    let client = Client::new(&agent.address(), &config).unwrap();
    let started = std::time::Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..COUNT {
                let body = format!("{i:07}");
                client
                    .send(&flume_client::EventView::new(&[], body.as_bytes()), i)
                    .unwrap_or_else(|e| panic!("send {i}: {e}"));
            }
        });
        // Kill and restart once a third has been reported.
        while reports.reported.load(Ordering::SeqCst) < COUNT / 3 {
            std::thread::sleep(Duration::from_millis(20));
        }
        agent.kill();
        std::thread::sleep(Duration::from_millis(300));
        agent.start_again();
    });
    client.flush(Duration::from_secs(300)).unwrap();
    let sent_in = started.elapsed();
    let ok: Vec<usize> = (0..COUNT).filter(|&i| reports.state[i].load(Ordering::SeqCst) == 1).collect();
    let failed = (0..COUNT).filter(|&i| reports.state[i].load(Ordering::SeqCst) == 2).count();
    assert_eq!(ok.len() + failed, COUNT, "one report per event");
    assert!(ok.len() > COUNT / 2, "{} reported FLUME_OK", ok.len());

    // Every FLUME_OK event is in the sink (duplicates allowed: at least once).
    let mut seen = vec![false; COUNT];
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    loop {
        while agent.file_roll_line_count() < ok.len() {
            assert!(std::time::Instant::now() < deadline, "fewer lines in the sink than events reported FLUME_OK");
            std::thread::sleep(Duration::from_millis(500));
        }
        for line in agent.file_roll_lines() {
            let i: usize = std::str::from_utf8(&line)
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| panic!("the sink has a line never sent: {:?}", String::from_utf8_lossy(&line)));
            seen[i] = true;
        }
        let missing = ok.iter().filter(|&&i| !seen[i]).count();
        if missing == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{missing} events reported FLUME_OK are not in the sink");
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("{test}: {} reported FLUME_OK, {failed} failed; sent and reported in {sent_in:?}", ok.len());
}

// --- flume-send ----------------------------------------------------------------------------

/// The bundled `flume-send` sends a 100,000-line file to the real agent; the
/// sink has every line, in order, with the header given.
#[test]
fn flume_send_a_hundred_thousand_lines_in_order() {
    let test = "flume-send-100k";
    let shared = shared(Protocol::Compact);
    let file = flume_agent::scratch_dir().join("100k.txt");
    let lines: Vec<String> = (1..=100_000).map(|i| format!("line {i}\t\"q\" \\ é 😀 {}", "x".repeat(i % 37))).collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let out = std::process::Command::new(flume_agent::tool_binary("flume-send"))
        .args(["--hosts", &shared.agent.address(), "--batch-size", "1000", "--header", &format!("test={test}"), "-F"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "flume-send: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    let received = tagged(&shared.downstream, test, lines.len());
    assert_eq!(received.len(), lines.len());
    for (i, (event, line)) in received.iter().zip(&lines).enumerate() {
        assert_eq!(event.body, line.as_bytes(), "line {}", i + 1);
    }
}
