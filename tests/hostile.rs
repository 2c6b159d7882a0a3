//! Hostile receivers: a peer that means harm (or is badly broken) cannot make
//! the client allocate past its reply cap (64 KiB; never `max-frame-size`),
//! loop forever, or wait past `request-timeout`. Complements tests/faults.rs
//! (garbage, bad frame lengths, wrong seqids, stalls, closes) with:
//!
//! * a reply trickled one byte per 100 ms (each read succeeds; the deadline
//!   covers the whole call, not each read), as a valid reply and as an endless
//!   trickle inside a declared frame;
//! * an endless stream of bytes as fast as the socket takes them;
//! * a receiver that never reads, under a batch too large for the socket buffers;
//! * replies nested thousands of levels deep (structs, lists, maps), in an
//!   unknown field where the decoder must skip them;
//! * replies declaring containers and strings of 2^31-1 elements or bytes, or
//!   negative sizes, in the result and in an exception;
//! * the largest legal reply packed with one-byte elements (decoded at once);
//! * the asynchronous path against a trickling receiver: every event reported
//!   once, `flush` within its bound;
//! * each fault of the fault-injecting proxy (tests/common/proxy.rs), scheduled
//!   on the first call in either direction: reset, truncate, stall, corrupt, delay;
//! * and the other way round, a hostile client against the receiver's call
//!   decoder (flume-receive's): millions of declared events or headers followed
//!   by garbage fail before anything is allocated for them.
//!
//! Every case runs in both protocols and ends with a good call on the same
//! client (the broken connection is replaced).

#[path = "common/fake_source.rs"]
mod fake_source;
#[path = "common/largest_alloc.rs"]
mod largest_alloc;
#[path = "common/proxy.rs"]
mod proxy;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use fake_source::{framed, Acceptor, Action, Call, Connection, FakeSource, Status, FRAME_HEADER_LEN};
use flume_client::unstable::{decode_call, encode_reply};
use flume_client::{
    Client, Config, DeliveryCallback, DeliveryReport, ErrorKind, EventView, Protocol, FLUME_MAX_FRAME_SIZE,
};
use largest_alloc::largest_allocation_of;

const PROTOCOLS: [Protocol; 2] = [Protocol::Compact, Protocol::Binary];
const REQUEST_TIMEOUT: Duration = Duration::from_millis(500);
/// Slack on top of a timeout for a loaded CI machine (a bound, not a benchmark).
const MARGIN: Duration = Duration::from_millis(1500);
/// The client's cap on a reply frame (rust/src/transport/mod.rs MAX_REPLY_SIZE).
const MAX_REPLY: usize = 64 * 1024;
/// The most the client may allocate at once while reading any reply: the cap, doubled by a Vec's growth.
const ALLOCATION_LIMIT: usize = 2 * (MAX_REPLY + FRAME_HEADER_LEN);

// ---------------------------------------------------------------------------
// A receiver (the fake source, tests/common/fake_source.rs) that reads calls
// and answers the first with `hostile`, which gets the raw connection (closed
// after it), every later one with OK.

type Hostile = dyn Fn(&mut Connection, &Call) + Send + Sync;

fn hostile_source(protocol: Protocol, hostile: impl Fn(&mut Connection, &Call) + Send + Sync + 'static) -> FakeSource {
    let hostile: Arc<Hostile> = Arc::new(hostile);
    FakeSource::builder(protocol)
        .max_frame(FLUME_MAX_FRAME_SIZE)
        .script(move |r| {
            if r.index > 0 {
                return Action::Reply(Status::Ok);
            }
            let (hostile, call) = (Arc::clone(&hostile), r.call.clone());
            Action::Take(Box::new(move |connection| hostile(connection, &call)))
        })
        .start()
}

fn client_for(addr: SocketAddr, protocol: Protocol, settings: &[(&str, &str)]) -> Client {
    let mut config = Config::default();
    config.protocol = protocol;
    config.set("request-timeout", &REQUEST_TIMEOUT.as_millis().to_string()).unwrap();
    config.set("connect-timeout", "500").unwrap();
    for (k, v) in settings {
        config.set(k, v).unwrap();
    }
    Client::new(&addr.to_string(), &config).unwrap()
}

const HEADERS: [(&[u8], &[u8]); 1] = [(b"k", b"v")];

/// Sends one event to a fresh hostile server; checks the error kind, the time
/// bound and the largest allocation, then that the next call succeeds.
/// Returns the error's message.
#[track_caller]
fn check(
    protocol: Protocol,
    kind: ErrorKind,
    limit: Duration,
    hostile: impl Fn(&mut Connection, &Call) + Send + Sync + 'static,
) -> String {
    let server = hostile_source(protocol, hostile);
    let client = client_for(server.socket_addr(), protocol, &[]);
    let event = EventView::new(&HEADERS, b"body");
    let start = Instant::now();
    let (result, largest) = largest_allocation_of(|| client.append(&event));
    let took = start.elapsed();
    let e = result.expect_err("the hostile reply was accepted");
    assert_eq!(e.kind(), kind, "{protocol:?}: {e}");
    assert!(took <= limit, "{protocol:?}: took {took:?}, more than {limit:?}: {e}");
    assert!(largest <= ALLOCATION_LIMIT, "{protocol:?}: the client allocated {largest} bytes at once: {e}");
    client.append(&event).unwrap_or_else(|next| panic!("{protocol:?}: the call after '{e}' failed: {next}"));
    assert_eq!(server.calls_decoded(), 2);
    e.message().to_string()
}

// ---------------------------------------------------------------------------
// Hand-built replies.

fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// A message header: kind 2 (reply) or 3 (exception), echoing the call's seqid and method.
fn message_begin(protocol: Protocol, kind: u8, call: &Call) -> Vec<u8> {
    let name = call.method.name().as_bytes();
    let mut b = Vec::new();
    match protocol {
        Protocol::Compact => {
            b.extend_from_slice(&[0x82, (kind << 5) | 1]);
            varint(&mut b, call.seqid as u32 as u64);
            varint(&mut b, name.len() as u64);
            b.extend_from_slice(name);
        }
        Protocol::Binary => {
            b.extend_from_slice(&[0x80, 0x01, 0x00, kind]);
            b.extend_from_slice(&(name.len() as i32).to_be_bytes());
            b.extend_from_slice(name);
            b.extend_from_slice(&call.seqid.to_be_bytes());
        }
    }
    b
}

/// A whole reply: header, `body` (fields), the OK result field 0, stop.
fn reply_with(protocol: Protocol, call: &Call, body: &[u8]) -> Vec<u8> {
    let mut b = message_begin(protocol, 2, call);
    b.extend_from_slice(body);
    match protocol {
        // i32 field 0 (long form: delta 0), value 0; stop.
        Protocol::Compact => b.extend_from_slice(&[0x05, 0x00, 0x00, 0x00]),
        Protocol::Binary => b.extend_from_slice(&[0x08, 0x00, 0x00, 0, 0, 0, 0, 0x00]),
    }
    framed(&b)
}

fn write(stream: &mut TcpStream, bytes: &[u8]) {
    let _ = stream.write_all(bytes);
}

/// Writes `bytes` one per `pause`, until they end or the client goes away.
fn trickle(stream: &mut TcpStream, bytes: impl IntoIterator<Item = u8>, pause: Duration) {
    for b in bytes {
        if stream.write_all(&[b]).is_err() {
            return;
        }
        thread::sleep(pause);
    }
}

// ---------------------------------------------------------------------------
// Slow and endless peers.

#[test]
fn a_reply_trickled_one_byte_per_100_ms_is_cut_at_request_timeout() {
    for protocol in PROTOCOLS {
        let message = check(protocol, ErrorKind::Timeout, REQUEST_TIMEOUT + MARGIN, move |s, call| {
            let mut reply = Vec::new();
            encode_reply(protocol, &mut reply, call.seqid, call.method, Status::Ok);
            trickle(s, reply, Duration::from_millis(100)); // ~2 s for the whole reply
        });
        assert!(message.contains("request-timeout"), "{message}");
    }
}

#[test]
fn an_endless_trickle_inside_a_declared_frame_is_cut_at_request_timeout() {
    for protocol in PROTOCOLS {
        check(protocol, ErrorKind::Timeout, REQUEST_TIMEOUT + MARGIN, |s, _| {
            write(s, &(MAX_REPLY as u32).to_be_bytes());
            trickle(s, std::iter::repeat(0x55), Duration::from_millis(100));
        });
    }
}

#[test]
fn a_stalled_trickle_is_timed_out_even_though_the_first_bytes_came_at_once() {
    for protocol in PROTOCOLS {
        let start = Instant::now();
        check(protocol, ErrorKind::Timeout, REQUEST_TIMEOUT + MARGIN, move |s, call| {
            let reply = reply_with(protocol, call, &[]);
            write(s, &reply[..6]);
            s.stopping.wait(Some(Duration::from_secs(3)));
        });
        assert!(start.elapsed() >= REQUEST_TIMEOUT);
    }
}

#[test]
fn an_endless_stream_of_bytes_is_a_protocol_error_within_the_reply_cap() {
    for protocol in PROTOCOLS {
        // A valid frame length, then bytes as fast as the socket takes them.
        check(protocol, ErrorKind::Protocol, MARGIN, |s, _| {
            write(s, &(MAX_REPLY as u32).to_be_bytes());
            let junk = vec![0xa5u8; 64 * 1024];
            let until = Instant::now() + Duration::from_secs(10);
            while Instant::now() < until && s.write_all(&junk).is_ok() {}
        });
        // A whole valid reply, then an endless stream.
        check(protocol, ErrorKind::Protocol, MARGIN, move |s, call| {
            let mut stream = Vec::new();
            encode_reply(protocol, &mut stream, call.seqid, call.method, Status::Ok);
            stream.resize(64 * 1024, 0);
            let until = Instant::now() + Duration::from_secs(10);
            while Instant::now() < until && s.write_all(&stream).is_ok() {
                stream.fill(0);
            }
        });
    }
}

#[test]
fn a_receiver_that_never_reads_cannot_block_a_large_call_past_request_timeout() {
    for protocol in PROTOCOLS {
        // Accepted, never read, held open until the receiver stops.
        let receiver = Acceptor::start(0, |connection| {
            connection.stopping.wait(None);
        });
        let client = client_for(receiver.socket_addr(), protocol, &[]);
        // 15 events of 1 MB: one call of ~15 MB, more than loopback's socket buffers hold.
        let body = vec![b'x'; 1_000_000];
        let events: Vec<EventView> = (0..15).map(|_| EventView::body(&body)).collect();
        let start = Instant::now();
        let e = client.append_batch(&events).unwrap_err();
        let took = start.elapsed();
        assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
        assert!(e.message().contains("while sending"), "{e}");
        assert_eq!(e.delivered(), 0);
        assert!(took >= REQUEST_TIMEOUT && took <= REQUEST_TIMEOUT + MARGIN, "{took:?}");
    }
}

// ---------------------------------------------------------------------------
// Deep nesting and huge declared sizes: rejected at once, nothing allocated for them.

/// `levels` nested values of one container kind as the body of field 1 (which
/// the reply decoder does not know, so it must skip it).
fn nested(protocol: Protocol, kind: &str, levels: usize) -> Vec<u8> {
    let mut b = Vec::new();
    match (protocol, kind) {
        // Field 1 of type struct, whose first field 1 is a struct, ...
        (Protocol::Compact, "struct") => b.resize(levels, 0x1c),
        (Protocol::Binary, "struct") => (0..levels).for_each(|_| b.extend_from_slice(&[0x0c, 0x00, 0x01])),
        // Field 1 of type list; each list holds one list.
        (Protocol::Compact, "list") => {
            b.push(0x19);
            b.resize(levels + 1, 0x19);
        }
        (Protocol::Binary, "list") => {
            b.extend_from_slice(&[0x0f, 0x00, 0x01]);
            (0..levels).for_each(|_| b.extend_from_slice(&[0x0f, 0, 0, 0, 1]));
        }
        // Field 1 of type map; each map holds one entry i32 -> map.
        (Protocol::Compact, "map") => {
            b.push(0x1b);
            (0..levels).for_each(|_| b.extend_from_slice(&[0x01, 0x5b, 0x00]));
        }
        (Protocol::Binary, "map") => {
            b.extend_from_slice(&[0x0d, 0x00, 0x01]);
            (0..levels).for_each(|_| b.extend_from_slice(&[0x08, 0x0d, 0, 0, 0, 1, 0, 0, 0, 0]));
        }
        _ => unreachable!(),
    }
    b
}

#[test]
fn replies_nested_thousands_of_levels_deep_are_rejected_at_once() {
    for protocol in PROTOCOLS {
        for kind in ["struct", "list", "map"] {
            // As deep as the reply cap allows.
            let levels = (MAX_REPLY - 64) / if protocol == Protocol::Compact { 3 } else { 10 };
            let message = check(protocol, ErrorKind::Protocol, MARGIN, move |s, call| {
                write(s, &reply_with(protocol, call, &nested(protocol, kind, levels)));
            });
            assert!(message.contains("nesting deeper"), "{protocol:?} {kind}: {message}");
        }
    }
}

/// Field 1 declaring 2^31-1 (or a negative number of) elements or bytes, in each protocol.
fn huge(protocol: Protocol, kind: &str) -> Vec<u8> {
    match (protocol, kind) {
        // List of i64, size in the varint after the 0xf? header.
        (Protocol::Compact, "list") => vec![0x19, 0xf6, 0xff, 0xff, 0xff, 0xff, 0x07],
        (Protocol::Compact, "set") => vec![0x1a, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x07],
        (Protocol::Compact, "map") => vec![0x1b, 0xff, 0xff, 0xff, 0xff, 0x07, 0x88],
        (Protocol::Compact, "string") => vec![0x18, 0xff, 0xff, 0xff, 0xff, 0x07],
        (Protocol::Compact, "negative") => vec![0x18, 0xff, 0xff, 0xff, 0xff, 0x0f],
        (Protocol::Binary, "list") => vec![0x0f, 0x00, 0x01, 0x0a, 0x7f, 0xff, 0xff, 0xff],
        (Protocol::Binary, "set") => vec![0x0e, 0x00, 0x01, 0x0c, 0x7f, 0xff, 0xff, 0xff],
        (Protocol::Binary, "map") => vec![0x0d, 0x00, 0x01, 0x0b, 0x0b, 0x7f, 0xff, 0xff, 0xff],
        (Protocol::Binary, "string") => vec![0x0b, 0x00, 0x01, 0x7f, 0xff, 0xff, 0xff],
        (Protocol::Binary, "negative") => vec![0x0f, 0x00, 0x01, 0x0a, 0xff, 0xff, 0xff, 0xff],
        _ => unreachable!(),
    }
}

#[test]
fn replies_declaring_2_gb_containers_or_strings_are_rejected_at_once() {
    for protocol in PROTOCOLS {
        for (kind, says) in [
            ("list", "cannot fit"),
            ("set", "cannot fit"),
            ("map", "cannot fit"),
            ("string", "truncated"),
            ("negative", "negative"),
        ] {
            let message = check(protocol, ErrorKind::Protocol, MARGIN, move |s, call| {
                write(s, &reply_with(protocol, call, &huge(protocol, kind)));
            });
            assert!(message.contains(says), "{protocol:?} {kind}: {message}");
        }
        // The same in a TApplicationException's message.
        let message = check(protocol, ErrorKind::Protocol, MARGIN, move |s, call| {
            let mut b = message_begin(protocol, 3, call);
            b.extend_from_slice(&huge(protocol, "string"));
            write(s, &framed(&b));
        });
        assert!(message.contains("truncated"), "{protocol:?} exception: {message}");
    }
}

#[test]
fn the_largest_legal_reply_full_of_one_byte_elements_is_decoded_at_once() {
    for protocol in PROTOCOLS {
        // Field 1: a list of bools (a byte each), as many as the reply cap holds.
        let count = MAX_REPLY - 64;
        let mut field = Vec::new();
        match protocol {
            Protocol::Compact => {
                field.extend_from_slice(&[0x19, 0xf1]);
                varint(&mut field, count as u64);
            }
            Protocol::Binary => {
                field.extend_from_slice(&[0x0f, 0x00, 0x01, 0x02]);
                field.extend_from_slice(&(count as i32).to_be_bytes());
            }
        }
        field.resize(field.len() + count, 0x01);
        let server = hostile_source(protocol, move |s, call| write(s, &reply_with(protocol, call, &field)));
        let client = client_for(server.socket_addr(), protocol, &[]);
        let start = Instant::now();
        // A well-formed reply with an unknown field: the call succeeds.
        client.append(&EventView::body(b"x")).unwrap();
        assert!(start.elapsed() < MARGIN, "{:?}", start.elapsed());
    }
}

// ---------------------------------------------------------------------------
// The asynchronous path.

#[test]
fn send_against_a_trickling_receiver_reports_every_event_once_within_its_bound() {
    for protocol in PROTOCOLS {
        let receiver = Acceptor::start(0, |s| {
            let mut buf = [0u8; 4096];
            // Reads whatever comes, and trickles a reply that never ends.
            let _ = s.set_read_timeout(Some(Duration::from_millis(1)));
            let _ = s.read(&mut buf);
            let _ = s.write_all(&(MAX_REPLY as u32).to_be_bytes());
            loop {
                let _ = s.read(&mut buf);
                if s.write_all(&[0x55]).is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(100));
            }
        });
        let addr = receiver.socket_addr();
        type Reports = Mutex<Vec<(usize, Option<ErrorKind>)>>;
        let reports: Arc<Reports> = Arc::default();
        let sink = Arc::clone(&reports);
        let mut config = Config::default();
        config.protocol = protocol;
        for (k, v) in [("request-timeout", "300"), ("retries", "1"), ("retry-backoff", "0"), ("linger-ms", "20")] {
            config.set(k, v).unwrap();
        }
        config.delivery_callback = Some(DeliveryCallback(Arc::new(move |r: &DeliveryReport| {
            sink.lock().unwrap().push((r.opaque, r.result.err().map(|e| e.kind())));
        })));
        let client = Client::new(&addr.to_string(), &config).unwrap();
        for id in 0..10 {
            client.send(&EventView::body(b"x"), id).unwrap();
        }
        // Two attempts (retries 1) of at most request-timeout each.
        let bound = Duration::from_millis(2 * 300 + 20) + MARGIN;
        let start = Instant::now();
        client.flush(Duration::from_secs(30)).unwrap();
        let took = start.elapsed();
        assert!(took <= bound, "{protocol:?}: flush took {took:?}, more than {bound:?}");
        drop(client);
        let mut got = reports.lock().unwrap().clone();
        got.sort_by_key(|r| r.0);
        let expected: Vec<_> = (0..10).map(|id| (id, Some(ErrorKind::Timeout))).collect();
        assert_eq!(got, expected, "{protocol:?}: one Timeout report per event");
    }
}

// ---------------------------------------------------------------------------
// The fault-injecting proxy, one scheduled fault at a time.

/// A receiver answering OK to every call that decodes; it closes the connection on one that does not.
fn ok_receiver(protocol: Protocol) -> FakeSource {
    FakeSource::builder(protocol).max_frame(FLUME_MAX_FRAME_SIZE).start()
}

#[test]
fn each_scheduled_proxy_fault_fails_one_call_with_its_error_and_the_next_call_succeeds() {
    use proxy::{scripted_plan, Direction::*, Fault, Proxy, Scheduled};
    let corrupt_first_payload_byte = Fault::Corrupt { offset: 4, mask: 0x01 };
    let cases: [(proxy::Direction, Fault, Option<ErrorKind>); 9] = [
        (ToServer, Fault::Reset, Some(ErrorKind::Io)),
        (ToClient, Fault::Reset, Some(ErrorKind::Io)),
        (ToServer, Fault::Truncate(5), Some(ErrorKind::Io)),
        (ToClient, Fault::Truncate(3), Some(ErrorKind::Io)),
        (ToServer, Fault::Stall, Some(ErrorKind::Timeout)),
        (ToClient, Fault::Stall, Some(ErrorKind::Timeout)),
        (ToServer, corrupt_first_payload_byte, Some(ErrorKind::Io)), // the receiver drops the connection
        (ToClient, corrupt_first_payload_byte, Some(ErrorKind::Protocol)),
        (ToClient, Fault::Delay(Duration::from_millis(200)), None),
    ];
    for protocol in PROTOCOLS {
        for (direction, fault, expected) in cases {
            let what = format!("{protocol:?} {fault:?} {direction:?}");
            let receiver = ok_receiver(protocol);
            let schedule = vec![Scheduled { connection: 0, direction, at: 0, fault }];
            let proxy = Proxy::start(receiver.socket_addr(), scripted_plan(schedule));
            let client = client_for(proxy.addr(), protocol, &[]);
            let start = Instant::now();
            let result = client.append(&EventView::body(b"through the proxy"));
            let took = start.elapsed();
            match expected {
                Some(kind) => {
                    let e = result.expect_err(&what);
                    assert_eq!(e.kind(), kind, "{what}: {e}");
                }
                None => {
                    result.unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert!(took >= Duration::from_millis(200), "{what}: the delay was not applied ({took:?})");
                }
            }
            assert!(took <= REQUEST_TIMEOUT + MARGIN, "{what}: took {took:?}");
            client.append(&EventView::body(b"after")).unwrap_or_else(|e| panic!("{what}: the next call failed: {e}"));
            let counts = proxy.counts();
            assert_eq!(counts.total(), 1, "{what}: {counts}");
            let arrived = receiver.calls_decoded();
            let first_arrived = matches!(direction, ToClient);
            assert_eq!(arrived, 1 + first_arrived as usize, "{what}: calls the receiver decoded");
            drop(client);
            assert!(proxy.wait_idle(Duration::from_secs(5)), "{what}: the proxy kept connections open");
        }
    }
}

// ---------------------------------------------------------------------------
// A hostile client against the receiver's call decoder (flume-receive and the
// test servers use `flume_client::unstable::decode_call`).

/// A call whose appendBatch list (or whose first event's header map) declares
/// as many elements as the payload has bytes left (the most the decoder's
/// count check lets through), followed by bytes that fail at the first element.
fn call_declaring(protocol: Protocol, container: &str, garbage: usize) -> Vec<u8> {
    let mut p = Vec::new();
    let name: &[u8] = if container == "list" { b"appendBatch" } else { b"append" };
    let count = if container == "list" { garbage } else { garbage / 2 };
    match protocol {
        Protocol::Compact => {
            p.extend_from_slice(&[0x82, 0x21, 0x01, name.len() as u8]);
            p.extend_from_slice(name);
            if container == "list" {
                p.extend_from_slice(&[0x19, 0xfc]); // field 1: list of structs, size follows
            } else {
                p.extend_from_slice(&[0x1c, 0x1b]); // field 1: the event struct; its field 1: the header map
            }
            varint(&mut p, count as u64);
            if container == "map" {
                p.push(0x88); // string -> string
            }
        }
        Protocol::Binary => {
            p.extend_from_slice(&[0x80, 0x01, 0x00, 0x01]);
            p.extend_from_slice(&(name.len() as i32).to_be_bytes());
            p.extend_from_slice(name);
            p.extend_from_slice(&1i32.to_be_bytes());
            if container == "list" {
                p.extend_from_slice(&[0x0f, 0x00, 0x01, 0x0c]);
            } else {
                p.extend_from_slice(&[0x0c, 0x00, 0x01, 0x0d, 0x00, 0x01, 0x0b, 0x0b]);
            }
            p.extend_from_slice(&(count as i32).to_be_bytes());
        }
    }
    // 0xff: an unknown field type (list), a negative or overlong string length (map).
    p.resize(p.len() + garbage, 0xff);
    p
}

#[test]
fn a_call_declaring_millions_of_events_or_headers_fails_before_allocating_for_them() {
    for protocol in PROTOCOLS {
        for container in ["list", "map"] {
            let payload = call_declaring(protocol, container, 4_000_000);
            let (result, largest) = largest_allocation_of(|| decode_call(protocol, &payload));
            let e = result.expect_err("garbage decoded as a call");
            assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
            // A decoded event takes 48 bytes, a header 48: reserving for every declared
            // element makes a 4 MB frame of garbage cost 96 to 192 MB.
            assert!(
                largest <= payload.len(),
                "{protocol:?} {container}: decoding a {} byte call that fails at its first element allocated {largest} \
                 bytes at once ({e})",
                payload.len()
            );
        }
    }
}
