//! Interoperability with real Apache Thrift servers: each test starts a peer
//! (Python or Java Thrift, see `common/peers.rs`) speaking compact or binary,
//! sends events with this crate's client and checks that the peer decoded
//! exactly those events, in order: every header and every body byte, and the
//! calls they came in.
//!
//! Headers are compared as sorted sets: the server keeps them in a map. No
//! test sends a key twice.

#[allow(dead_code)] // the TLS tests use parts of it that these do not
#[path = "common/peers.rs"]
mod peers;

use std::collections::HashSet;
use std::time::Duration;

use flume_client::{Client, Config, Error, ErrorKind, EventView, Protocol, FLUME_MAX_FRAME_SIZE};
use peers::{protocol_name, Call, PeerKind, PeerServer, Received};

/// An event owning its data; `events` lends it out as `EventView`s.
#[derive(Clone, Debug)]
struct Owned {
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
}

impl Owned {
    fn new(headers: &[(&str, &str)], body: &[u8]) -> Owned {
        Owned {
            headers: headers.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec())).collect(),
            body: body.to_vec(),
        }
    }
}

/// The header slices of `owned`, to build `EventView`s from (see `events`).
fn header_refs(owned: &[Owned]) -> Vec<Vec<(&[u8], &[u8])>> {
    owned.iter().map(|e| e.headers.iter().map(|(k, v)| (k.as_slice(), v.as_slice())).collect()).collect()
}

fn events<'a>(owned: &'a [Owned], refs: &'a [Vec<(&'a [u8], &'a [u8])>]) -> Vec<EventView<'a>> {
    owned.iter().zip(refs).map(|(e, h)| EventView::new(h, &e.body)).collect()
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
    /// A string of up to `max` characters, from ASCII (controls, NUL, '=' and
    /// spaces included) to 4-byte UTF-8.
    fn text(&mut self, max: usize) -> String {
        #[rustfmt::skip]
        const CHARS: &[char] = &[
            'a', 'b', 'z', 'A', 'Q', '0', '9', ' ', '=', '-', '.', ':', '\0', '\n', '\t', '\u{7f}', '\u{80}',
            'é', 'ß', 'ÿ', 'Ω', 'ж', '\u{7ff}', '\u{800}', '€', '中', '文', '日', '✓', '\u{fffd}', '\u{feff}',
            '\u{ffff}', '\u{10000}', '😀', '𝄞', '\u{10ffff}',
        ];
        let len = self.below(max + 1);
        (0..len).map(|_| CHARS[self.below(CHARS.len())]).collect()
    }
}

/// `count` random events: bodies of 0..=2000 random bytes (one in ten
/// empty), 0..=20 headers with distinct keys, unicode keys and values.
fn random_events(rng: &mut Rng, count: usize) -> Vec<Owned> {
    (0..count)
        .map(|_| {
            let body_len = if rng.below(10) == 0 { 0 } else { rng.below(2001) };
            let body = rng.bytes(body_len);
            let mut keys = HashSet::new();
            let mut headers = Vec::new();
            for _ in 0..rng.below(21) {
                let key = rng.text(12);
                if keys.insert(key.clone()) {
                    let value = rng.text(40);
                    headers.push((key.into_bytes(), value.into_bytes()));
                }
            }
            Owned { headers, body }
        })
        .collect()
}

fn config(protocol: Protocol) -> Config {
    let mut config = Config::default();
    config.set("protocol", protocol_name(protocol)).unwrap();
    config.connect_timeout = Duration::from_secs(10);
    config.request_timeout = Duration::from_secs(30);
    config
}

/// Checks the calls the server got: their methods and sizes, then every event.
fn assert_calls(label: &str, calls: &[Call], shape: &[(&str, usize)], expected: &[Owned]) {
    let got_shape: Vec<(&str, usize)> = calls.iter().map(|c| (c.method.as_str(), c.events.len())).collect();
    assert_eq!(got_shape, shape, "{label}: calls received (method, events)");
    let received: Vec<&Received> = calls.iter().flat_map(|c| &c.events).collect();
    assert_events(label, expected, &received);
}

fn assert_events(label: &str, expected: &[Owned], received: &[&Received]) {
    assert_eq!(received.len(), expected.len(), "{label}: number of events received");
    for (i, (want, got)) in expected.iter().zip(received).enumerate() {
        if want.body != got.body {
            let first = want.body.iter().zip(&got.body).position(|(a, b)| a != b);
            panic!(
                "{label}: event {i}: body differs: sent {} bytes, received {} bytes, first difference at {:?}",
                want.body.len(),
                got.body.len(),
                first
            );
        }
        let mut headers = want.headers.clone();
        headers.sort();
        if headers != got.headers {
            panic!(
                "{label}: event {i}: headers differ:\n sent     {:?}\n received {:?}",
                readable(&headers),
                readable(&got.headers)
            );
        }
    }
}

fn readable(headers: &[(Vec<u8>, Vec<u8>)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), String::from_utf8_lossy(v).into_owned()))
        .collect()
}

fn test_label(peer: PeerKind, protocol: Protocol, test: &str) -> String {
    format!("{}/{}/{test}", peer.name(), protocol_name(protocol))
}

/// One `append` with unicode headers, an empty value, an empty key and a
/// body of every byte value.
fn single_append(peer: PeerKind, protocol: Protocol) {
    let label = test_label(peer, protocol, "single_append");
    let mut server = PeerServer::start(peer, protocol);
    let client = Client::new(&server.address(), &config(protocol)).unwrap();
    let mut body: Vec<u8> = (0..=255u8).collect();
    body.extend_from_slice("hello, Flume ✓\r\n\0".as_bytes());
    let sent = vec![Owned::new(
        &[
            ("host", "example.org"),
            ("timestamp", "1700000000000"),
            ("empty", ""),
            ("", "empty key"),
            ("ключ", "значение"),
            ("日本語", "テキスト"),
            ("emoji 😀", "𝄞 music = \"yes\"; a\tb\nc"),
        ],
        &body,
    )];
    let refs = header_refs(&sent);
    let events = events(&sent, &refs);
    client.append(&events[0]).unwrap_or_else(|e| panic!("{label}: append: {e}"));
    let calls = server.calls(1);
    assert_calls(&label, &calls, &[("append", 1)], &sent);
}

/// A few thousand random events with `append_batch` in calls of 100.
fn random_batch(peer: PeerKind, protocol: Protocol) {
    let label = test_label(peer, protocol, "random_batch");
    let seed = 0x5EED ^ (peer as u64) << 8 ^ protocol as u64;
    let sent = random_events(&mut Rng::new(seed), 3000);
    let mut server = PeerServer::start(peer, protocol);
    let mut config = config(protocol);
    // About half the bodies are over 1 KiB, which the client sends from the
    // events' memory: a call of 1,500 events is then some 1,400 segments,
    // more than one vectored write takes (1,024).
    config.set("batch-size", "1500").unwrap();
    let client = Client::new(&server.address(), &config).unwrap();
    let refs = header_refs(&sent);
    let events = events(&sent, &refs);
    client.append_batch(&events).unwrap_or_else(|e| panic!("{label} (seed {seed:#x}): append_batch: {e}"));
    let calls = server.calls(sent.len());
    assert_calls(&label, &calls, &[("appendBatch", 1500); 2], &sent);
}

/// Events with an empty body and no headers, alone and in a batch; an empty
/// batch sends nothing.
fn empty_events(peer: PeerKind, protocol: Protocol) {
    let label = test_label(peer, protocol, "empty_events");
    let mut server = PeerServer::start(peer, protocol);
    let client = Client::new(&server.address(), &config(protocol)).unwrap();
    let empty = EventView::body(b"");
    client.append(&empty).unwrap_or_else(|e| panic!("{label}: append: {e}"));
    client.append_batch::<EventView>(&[]).unwrap_or_else(|e| panic!("{label}: empty batch: {e}"));
    client.append_batch(&[empty; 3]).unwrap_or_else(|e| panic!("{label}: append_batch: {e}"));
    client.append(&empty).unwrap_or_else(|e| panic!("{label}: second append: {e}"));
    let sent = vec![Owned::new(&[], b""); 5];
    let calls = server.calls(5);
    assert_calls(&label, &calls, &[("append", 1), ("appendBatch", 3), ("append", 1)], &sent);
}

/// A 1 MB body alone and in a batch, then a batch that `max-frame-size`
/// (100,000) splits into calls of three 30 KB events.
fn large_events(peer: PeerKind, protocol: Protocol) {
    let label = test_label(peer, protocol, "large_events");
    let mut rng = Rng::new(0x1A26E ^ (peer as u64) << 8 ^ protocol as u64);
    let mut server = PeerServer::start(peer, protocol);

    let big = vec![
        Owned::new(&[("size", "1 MB"), ("ünïcødé", "✓")], &rng.bytes(1 << 20)),
        Owned::new(&[("after", "big")], b"small"),
    ];
    let client = Client::new(&server.address(), &config(protocol)).unwrap();
    let refs = header_refs(&big);
    let big_events = events(&big, &refs);
    client.append(&big_events[0]).unwrap_or_else(|e| panic!("{label}: append 1 MB: {e}"));
    client.append_batch(&big_events).unwrap_or_else(|e| panic!("{label}: batch with 1 MB: {e}"));

    let split: Vec<Owned> =
        (0..10).map(|i| Owned::new(&[("index", &i.to_string()), ("part", "30 KB")], &rng.bytes(30_000))).collect();
    let mut config = config(protocol);
    config.set("max-frame-size", "100000").unwrap();
    let client = Client::new(&server.address(), &config).unwrap();
    let refs = header_refs(&split);
    let split_events = events(&split, &refs);
    client.append_batch(&split_events).unwrap_or_else(|e| panic!("{label}: split batch: {e}"));

    let mut sent = vec![big[0].clone()];
    sent.extend(big.iter().cloned());
    sent.extend(split.iter().cloned());
    let calls = server.calls(sent.len());
    assert_calls(
        &label,
        &calls,
        &[
            ("append", 1),
            ("appendBatch", 2),
            ("appendBatch", 3),
            ("appendBatch", 3),
            ("appendBatch", 3),
            ("appendBatch", 1),
        ],
        &sent,
    );
}

/// The largest body of an event without headers that a client with `config`
/// sends with `append` (or with `append_batch` if `batch`), found by probing
/// `1..=max_frame_size`: the client refuses a larger one with TooLarge.
fn largest_body(label: &str, config: &Config, batch: bool, body: &[u8]) -> usize {
    assert!(body.len() >= config.max_frame_size);
    // Validation comes before any I/O, so a probe either fails with TooLarge
    // or goes to a listener that never accepts nor answers, and times out.
    let sink = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut probe_config = config.clone();
    probe_config.request_timeout = Duration::from_millis(1);
    let probe = Client::new(&sink.local_addr().unwrap().to_string(), &probe_config).unwrap();
    let fits = |len: usize| {
        let event = EventView::body(&body[..len]);
        let result = if batch { probe.append_batch(&[event]).map_err(Error::from) } else { probe.append(&event) };
        match result {
            Err(e) if e.kind() == ErrorKind::TooLarge => false,
            Err(e) if matches!(e.kind(), ErrorKind::Timeout | ErrorKind::Io) => true,
            other => panic!("{label}: probe of {len} bytes (batch: {batch}) to a silent listener: {other:?}"),
        }
    };
    let (mut fit, mut too_large) = (1, config.max_frame_size);
    assert!(fits(fit), "{label}: a body of {fit} byte is refused (batch: {batch})");
    assert!(!fits(too_large), "{label}: a body of {too_large} bytes is accepted (batch: {batch})");
    while too_large - fit > 1 {
        let mid = fit + (too_large - fit) / 2;
        if fits(mid) {
            fit = mid;
        } else {
            too_large = mid;
        }
    }
    fit
}

/// The largest event the client lets through under Flume's default
/// `max-frame-size`, with `append` and with `append_batch`, reaches the
/// server whole.
fn largest_frame(peer: PeerKind, protocol: Protocol) {
    let label = test_label(peer, protocol, "largest_frame");
    let config = config(protocol);
    assert_eq!(config.max_frame_size, FLUME_MAX_FRAME_SIZE);
    let body = Rng::new(0xB16 ^ (peer as u64) << 8 ^ protocol as u64).bytes(FLUME_MAX_FRAME_SIZE);
    let append_len = largest_body(&label, &config, false, &body);
    let batch_len = largest_body(&label, &config, true, &body);
    eprintln!(
        "{label}: largest body sent: {append_len} bytes with append, {batch_len} with append_batch \
         (frame limit {FLUME_MAX_FRAME_SIZE})"
    );

    let mut server = PeerServer::start(peer, protocol);
    let client = Client::new(&server.address(), &config).unwrap();
    client
        .append(&EventView::body(&body[..append_len]))
        .unwrap_or_else(|e| panic!("{label}: append of {append_len} bytes: {e}"));
    client
        .append_batch(&[EventView::body(&body[..batch_len])])
        .unwrap_or_else(|e| panic!("{label}: append_batch of {batch_len} bytes: {e}"));
    let calls = server.calls(2);
    let sent = [Owned::new(&[], &body[..append_len]), Owned::new(&[], &body[..batch_len])];
    assert_calls(&label, &calls, &[("append", 1), ("appendBatch", 1)], &sent);
}

/// The Java peer, set up as Flume's source, takes a frame of exactly
/// 16,384,000 bytes and closes the connection on one byte more, so
/// `largest_frame` does meet Flume's limit. (The client sends the larger frame
/// only because `max-frame-size` is raised here.)
fn frame_limit_is_flumes(peer: PeerKind, protocol: Protocol) {
    let label = test_label(peer, protocol, "frame_limit_is_flumes");
    // Payload of the first `append` on a connection (seqid 1) of an event
    // without headers whose body has 2^21 to 2^28 bytes, less the body.
    let overhead = match protocol {
        // 0x82, version|type, seqid varint, name length varint, "append";
        // args field; headers field, empty map; body field, length varint; 2 stops.
        Protocol::Compact => 2 + 1 + 1 + 6 + 1 + 1 + 1 + 1 + 4 + 1 + 1,
        // version|type, name length, "append", seqid; args field; headers
        // field, map header; body field, length; 2 stops.
        Protocol::Binary => 4 + 4 + 6 + 4 + 3 + 3 + 6 + 3 + 4 + 1 + 1,
    };
    let at_limit = FLUME_MAX_FRAME_SIZE - overhead;
    let body = Rng::new(0x0BE5 ^ (peer as u64) << 8 ^ protocol as u64).bytes(at_limit + 1);
    let mut config = config(protocol);
    config.max_frame_size = FLUME_MAX_FRAME_SIZE + 64;
    let mut server = PeerServer::start(peer, protocol);

    let client = Client::new(&server.address(), &config).unwrap();
    client
        .append(&EventView::body(&body[..at_limit]))
        .unwrap_or_else(|e| panic!("{label}: append in a frame of exactly {FLUME_MAX_FRAME_SIZE} bytes: {e}"));
    let client = Client::new(&server.address(), &config).unwrap();
    match client.append(&EventView::body(&body)) {
        Err(e) if matches!(e.kind(), ErrorKind::Io | ErrorKind::Protocol) => {}
        other => panic!("{label}: append in a frame of {} bytes: {other:?}", FLUME_MAX_FRAME_SIZE + 1),
    }
    // The server still works, and recorded nothing of the refused frame.
    let small = [Owned::new(&[("after", "refused frame")], b"ok")];
    let refs = header_refs(&small);
    client.append(&events(&small, &refs)[0]).unwrap_or_else(|e| panic!("{label}: append after: {e}"));
    let calls = server.calls(2);
    let sent = [Owned::new(&[], &body[..at_limit]), small[0].clone()];
    assert_calls(&label, &calls, &[("append", 1), ("append", 1)], &sent);
}

/// For each peer and protocol, a module of the listed tests. The Java peer
/// (Flume's server setup) keeps only the frame-size edges: exact delivery
/// through Flume's own Thrift source is tests/real_flume.rs's, against a real
/// agent; the call shapes (append or appendBatch, batch splitting) are the
/// client's, checked with the Python peer.
macro_rules! interop_tests {
    ($($module:ident: $peer:expr, $protocol:expr, [$($test:ident),*];)*) => {$(
        mod $module {
            use super::*;
            $(
                #[test]
                fn $test() {
                    super::$test($peer, $protocol)
                }
            )*
        }
    )*};
}

interop_tests! {
    python_compact: PeerKind::Python, Protocol::Compact, [single_append, random_batch, empty_events, large_events, largest_frame];
    python_binary: PeerKind::Python, Protocol::Binary, [single_append, random_batch, empty_events, large_events, largest_frame];
    java_compact: PeerKind::Java, Protocol::Compact, [largest_frame, frame_limit_is_flumes];
    java_binary: PeerKind::Java, Protocol::Binary, [largest_frame, frame_limit_is_flumes];
}
