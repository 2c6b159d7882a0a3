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
use flume_client::{Client, Config, EventView, Protocol};

/// An event owning its data.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Sent {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl EventView for Sent {
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
            let mut delivered = 0;
            client.append_batch(&sent[i..i + n], &mut delivered).unwrap_or_else(|e| panic!("{test}: batch at {i}: {e}"));
            assert_eq!(delivered, n);
        }
        i += n;
    }
    let mine = |e: &Received| e.header("test") == Some(test.as_str()) || e.body.starts_with(format!("{test}#").as_bytes());
    let events = shared.downstream.wait_for(Duration::from_secs(60), &format!("{} events of {test}", sent.len()), |events| {
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
