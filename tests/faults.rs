//! Fault tests: every case runs the client against a server, written here,
//! that misbehaves on purpose, and pins three things:
//!
//! * the call fails with the specific error kind for that fault;
//! * it returns within its timeout plus a margin (a bound for a loaded CI
//!   machine, not a speed benchmark): no fault can make a call hang;
//! * the next call on the same `Client` succeeds once the server behaves, on a
//!   new connection after `Timeout`/`Io`/`Protocol` and on the same connection
//!   after `Failed`/`Server`.
//!
//! Bad input (too large, invalid UTF-8) must fail before a single byte is sent.

#[path = "common/fake_source.rs"]
mod fake_source;
#[path = "common/largest_alloc.rs"]
mod largest_alloc;

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

use fake_source::{framed, reply_bytes, Action, FakeSource, Method, Request, Status};
use flume_client::{Client, Config, Error, ErrorKind, EventView, Protocol};
use largest_alloc::largest_allocation_of;

const PROTOCOLS: [Protocol; 2] = [Protocol::Compact, Protocol::Binary];
const METHODS: [Method; 2] = [Method::Append, Method::AppendBatch];

/// `request-timeout` and `connect-timeout` of every client here.
const TIMEOUT: Duration = Duration::from_millis(300);
const TIMEOUT_SETTING: &str = "300";
/// Slack on top of a timeout before a call counts as hanging.
const MARGIN: Duration = Duration::from_millis(1500);

// ---------------------------------------------------------------------------
// The server is the fake source (tests/common/fake_source.rs) with a script:
// it reads framed calls and answers each as the script says.

/// A source answering each call as `script` says.
fn scripted(protocol: Protocol, script: impl Fn(&Request) -> Action + Send + Sync + 'static) -> FakeSource {
    FakeSource::builder(protocol).script(script).start()
}

/// The same on a listener the test made (its queued connections are accepted first).
fn scripted_on(
    listener: TcpListener,
    protocol: Protocol,
    script: impl Fn(&Request) -> Action + Send + Sync + 'static,
) -> FakeSource {
    FakeSource::builder(protocol).listener(listener).script(script).start()
}

// ---------------------------------------------------------------------------
// Replies built by hand, for what the crate's `encode_reply` cannot express.

fn varint(buf: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn zigzag(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

/// A message header of type `kind` (2 reply, 3 exception).
fn message_begin(protocol: Protocol, kind: u8, seqid: i32, name: &str) -> Vec<u8> {
    let mut p = Vec::new();
    match protocol {
        Protocol::Compact => {
            p.extend([0x82, (kind << 5) | 1]);
            varint(&mut p, seqid as u32);
            varint(&mut p, name.len() as u32);
            p.extend(name.as_bytes());
        }
        Protocol::Binary => {
            p.extend([0x80, 0x01, 0x00, kind]);
            p.extend((name.len() as i32).to_be_bytes());
            p.extend(name.as_bytes());
            p.extend(seqid.to_be_bytes());
        }
    }
    p
}

/// A reply whose result (field 0) is any i32, in or out of Flume's `Status` range.
fn status_reply(protocol: Protocol, seqid: i32, method: &str, status: i32) -> Vec<u8> {
    let mut p = message_begin(protocol, 2, seqid, method);
    match protocol {
        Protocol::Compact => {
            p.extend([0x05, 0x00]); // i32, long form with field id 0
            varint(&mut p, zigzag(status));
        }
        Protocol::Binary => {
            p.extend([0x08, 0x00, 0x00]);
            p.extend(status.to_be_bytes());
        }
    }
    p.push(0);
    framed(&p)
}

/// A `TApplicationException` { 1: message, 2: type }.
fn exception_reply(protocol: Protocol, seqid: i32, method: &str, kind: i32, message: &str) -> Vec<u8> {
    let mut p = message_begin(protocol, 3, seqid, method);
    match protocol {
        Protocol::Compact => {
            p.push(0x18); // field 1 (delta 1), string
            varint(&mut p, message.len() as u32);
            p.extend(message.as_bytes());
            p.push(0x15); // field 2 (delta 1), i32
            varint(&mut p, zigzag(kind));
        }
        Protocol::Binary => {
            p.extend([0x0b, 0x00, 0x01]);
            p.extend((message.len() as i32).to_be_bytes());
            p.extend(message.as_bytes());
            p.extend([0x08, 0x00, 0x02]);
            p.extend(kind.to_be_bytes());
        }
    }
    p.push(0);
    framed(&p)
}

fn other(protocol: Protocol) -> Protocol {
    match protocol {
        Protocol::Compact => Protocol::Binary,
        Protocol::Binary => Protocol::Compact,
    }
}

fn other_method(method: Method) -> Method {
    match method {
        Method::Append => Method::AppendBatch,
        Method::AppendBatch => Method::Append,
    }
}

fn hex(text: &str) -> Vec<u8> {
    text.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
}

// ---------------------------------------------------------------------------
// Client side.

static HEADERS: [(&[u8], &[u8]); 2] = [(b"host", b"web-1"), (b"topic", b"faults")];

static EVENTS: [EventView<'static>; 3] = [
    EventView { headers: &HEADERS, body: b"first" },
    EventView { headers: &HEADERS, body: b"second" },
    EventView { headers: &HEADERS, body: b"third" },
];

fn client_for(addr: SocketAddr, protocol: Protocol, settings: &[(&str, &str)]) -> Client {
    let mut config = Config::default();
    config.protocol = protocol;
    config.set("request-timeout", TIMEOUT_SETTING).unwrap();
    config.set("connect-timeout", TIMEOUT_SETTING).unwrap();
    for (key, value) in settings {
        config.set(key, value).unwrap();
    }
    Client::new(&addr.to_string(), &config).unwrap()
}

/// One `append` of `events[0]`, or one `append_batch` of `events`, timed.
/// Returns the result, `delivered` (1 for a successful `append`) and the time taken.
fn send(client: &Client, method: Method, events: &[EventView]) -> (Result<(), Error>, usize, Duration) {
    let start = Instant::now();
    match method {
        Method::Append => {
            let result = client.append(&events[0]);
            let delivered = usize::from(result.is_ok());
            (result, delivered, start.elapsed())
        }
        Method::AppendBatch => match client.append_batch(events) {
            Ok(()) => (Ok(()), events.len(), start.elapsed()),
            Err(e) => (Err(e.error().clone()), e.delivered(), start.elapsed()),
        },
    }
}

#[track_caller]
fn expect_error(result: Result<(), Error>, kind: ErrorKind, elapsed: Duration, limit: Duration, what: &str) -> Error {
    let e = match result {
        Ok(()) => panic!("{what}: expected {kind:?}, the call succeeded"),
        Err(e) => e,
    };
    assert_eq!(e.kind(), kind, "{what}: wrong kind, error: {e}");
    assert!(elapsed <= limit, "{what}: took {elapsed:?}, more than {limit:?}: {e}");
    e
}

fn context(protocol: Protocol, method: Method) -> String {
    format!("{protocol:?} {}", method.name())
}

/// Runs `fault` for each protocol and method: the first call meets it, every
/// later call is answered `OK`. Checks the kind, the time bound, that nothing
/// counts as delivered, and that the next call succeeds, on a new connection
/// after an error that leaves delivery unknown and on the same one otherwise.
/// Returns the errors, for checks of their messages.
fn check_fault<F>(kind: ErrorKind, fault: F) -> Vec<Error>
where
    F: Fn(&Request) -> Action + Clone + Send + Sync + 'static,
{
    let reconnects = matches!(kind, ErrorKind::Timeout | ErrorKind::Io | ErrorKind::Protocol);
    let mut errors = Vec::new();
    for protocol in PROTOCOLS {
        for method in METHODS {
            let what = context(protocol, method);
            let fault = fault.clone();
            let server =
                scripted(protocol, move |r| if r.index == 0 { fault(r) } else { Action::Send(r.reply(Status::Ok)) });
            let client = client_for(server.socket_addr(), protocol, &[]);

            let (result, delivered, elapsed) = send(&client, method, &EVENTS);
            let e = expect_error(result, kind, elapsed, TIMEOUT + MARGIN, &what);
            assert_eq!(delivered, 0, "{what}: delivered after {e}");
            if kind == ErrorKind::Timeout {
                assert!(elapsed >= TIMEOUT, "{what}: timed out after only {elapsed:?}");
            }

            let (result, _, _) = send(&client, method, &EVENTS);
            if let Err(next) = result {
                panic!("{what}: the call after '{e}' failed: {next}");
            }
            let calls = server.calls();
            assert_eq!(calls.len(), 2, "{what}: calls the server saw");
            if reconnects {
                assert_eq!(server.accepted(), 2, "{what}: no new connection after {e}");
                assert_eq!(calls[1].seqid, 1, "{what}: seqid on the new connection");
            } else {
                assert_eq!(server.accepted(), 1, "{what}: the connection was not kept after {e}");
                assert_eq!(calls[1].seqid, 2, "{what}: seqid on the kept connection");
            }
            errors.push(e);
        }
    }
    errors
}

// ---------------------------------------------------------------------------
// The hand-built replies are right (checked against the crate and the vectors).

#[test]
fn hand_built_replies_match_the_crate_encoder_and_the_reference_vectors() {
    for protocol in PROTOCOLS {
        for method in METHODS {
            for (status, code) in [(Status::Ok, 0), (Status::Failed, 1), (Status::Error, 2), (Status::Unknown, 3)] {
                assert_eq!(
                    status_reply(protocol, 300, method.name(), code),
                    reply_bytes(protocol, 300, method, status),
                    "{protocol:?} {method:?} {status:?}"
                );
            }
        }
    }
    assert_eq!(
        exception_reply(Protocol::Compact, 1, "append", 1, "x"),
        hex("00 00 00 10 82 61 01 06 61 70 70 65 6e 64 18 01 78 15 02 00")
    );
    assert_eq!(
        exception_reply(Protocol::Binary, 1, "append", 1, "x"),
        hex("00 00 00 22 80 01 00 03 00 00 00 06 61 70 70 65 6e 64 00 00 00 01 0b 00 01 00 00 00 01 78 08 00 02 00 00 00 01 00")
    );
}

// ---------------------------------------------------------------------------
// Replies that never come, or break off.

#[test]
fn server_that_never_answers_is_timeout() {
    check_fault(ErrorKind::Timeout, |_| Action::Silent);
}

#[test]
fn server_that_closes_after_reading_the_call_is_io_error() {
    check_fault(ErrorKind::Io, |_| Action::Close);
}

#[test]
fn half_a_reply_then_close_is_io_error() {
    // Cut inside the length, and inside the payload.
    check_fault(ErrorKind::Io, |r| Action::SendThenClose(r.reply(Status::Ok)[..2].to_vec()));
    check_fault(ErrorKind::Io, |r| {
        let reply = r.reply(Status::Ok);
        Action::SendThenClose(reply[..reply.len() / 2].to_vec())
    });
}

#[test]
fn half_a_reply_then_stall_is_timeout() {
    check_fault(ErrorKind::Timeout, |r| Action::Send(r.reply(Status::Ok)[..2].to_vec()));
    check_fault(ErrorKind::Timeout, |r| {
        let reply = r.reply(Status::Ok);
        Action::Send(reply[..reply.len() / 2].to_vec())
    });
}

// ---------------------------------------------------------------------------
// Malformed replies.

#[test]
fn garbage_reply_is_protocol_error() {
    // Not framed at all: "HTTP" read as a length is 1.2 GB.
    let errors = check_fault(ErrorKind::Protocol, |_| Action::Send(b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()));
    for e in errors {
        assert!(e.message().contains("frame length"), "{e}");
    }
    // Framed, but the payload is no Thrift message.
    check_fault(ErrorKind::Protocol, |_| Action::Send(framed(&[0xde, 0xad, 0xbe, 0xef, 0x00, 0x11, 0x22, 0x33, 0x44])));
}

#[test]
fn frame_length_of_2_gb_is_protocol_error_and_is_never_allocated() {
    let ((), largest) = largest_allocation_of(|| {
        check_fault(ErrorKind::Protocol, |_| Action::Send(vec![0x7f, 0xff, 0xff, 0xff, 0x82, 0x41, 0x01]));
        // Just past the default max-frame-size (16,384,000) is refused too.
        check_fault(ErrorKind::Protocol, |_| Action::Send(16_384_001u32.to_be_bytes().to_vec()));
    });
    assert!(largest < 1 << 30, "the client allocated {largest} bytes at once");
}

/// A reply is a few dozen bytes; a large `max-frame-size` (a limit for the
/// batches the client sends) should not let a peer make the client allocate
/// 2 GB and wait for it.
#[test]
fn frame_length_of_2_gb_is_protocol_error_even_with_the_largest_max_frame_size() {
    for protocol in PROTOCOLS {
        let server = scripted(protocol, |r| {
            if r.index == 0 {
                Action::Send(vec![0x7f, 0xff, 0xff, 0xff, 0x82, 0x41, 0x01])
            } else {
                Action::Send(r.reply(Status::Ok))
            }
        });
        let client = client_for(server.socket_addr(), protocol, &[("max-frame-size", "2147483647")]);
        let ((result, _, elapsed), largest) = largest_allocation_of(|| send(&client, Method::Append, &EVENTS));
        assert!(
            matches!(&result, Err(e) if e.kind() == ErrorKind::Protocol) && largest < 1 << 30,
            "{protocol:?}: expected a Protocol error and no huge allocation; got {result:?} after {elapsed:?}, \
             the client's largest allocation was {largest} bytes"
        );
        client.append(&EVENTS[0]).unwrap();
    }
}

#[test]
fn zero_and_negative_frame_lengths_are_protocol_errors() {
    for header in [[0u8, 0, 0, 0], [0xff, 0xff, 0xff, 0xff], [0x80, 0, 0, 0]] {
        let errors = check_fault(ErrorKind::Protocol, move |_| Action::Send(header.to_vec()));
        for e in errors {
            assert!(e.message().contains("frame length"), "{e}");
        }
    }
}

#[test]
fn reply_with_wrong_seqid_is_protocol_error() {
    let errors = check_fault(ErrorKind::Protocol, |r| {
        Action::Send(reply_bytes(r.protocol, r.seqid() + 1, r.method(), Status::Ok))
    });
    for e in errors {
        assert!(e.message().contains("seqid"), "{e}");
    }
}

#[test]
fn reply_with_wrong_method_name_is_protocol_error() {
    let errors = check_fault(ErrorKind::Protocol, |r| {
        Action::Send(reply_bytes(r.protocol, r.seqid(), other_method(r.method()), Status::Ok))
    });
    for e in errors {
        assert!(e.message().contains("method"), "{e}");
    }
    // A name that is neither method.
    check_fault(ErrorKind::Protocol, |r| Action::Send(status_reply(r.protocol, r.seqid(), "appendX", 0)));
}

#[test]
fn reply_in_the_other_protocol_is_protocol_error() {
    check_fault(ErrorKind::Protocol, |r| {
        Action::Send(reply_bytes(other(r.protocol), r.seqid(), r.method(), Status::Ok))
    });
}

#[test]
fn reply_followed_by_extra_bytes_is_protocol_error() {
    // A duplicate reply, in the same write as the reply.
    check_fault(ErrorKind::Protocol, |r| Action::Send(r.reply(Status::Ok).repeat(2)));
    // A few stray bytes.
    check_fault(ErrorKind::Protocol, |r| {
        let mut bytes = r.reply(Status::Ok);
        bytes.extend([0, 0, 0]);
        Action::Send(bytes)
    });
}

/// Bytes that come after a reply was read mark the idle connection as out of
/// step: the next call sees them before sending, sends nothing on it, and goes
/// through on a new connection.
#[test]
fn late_bytes_after_a_reply_make_the_next_call_reconnect_before_sending() {
    for protocol in PROTOCOLS {
        let server = scripted(protocol, |r| {
            if r.index == 0 {
                let reply = r.reply(Status::Ok);
                Action::SendThenLater { now: reply.clone(), pause: Duration::from_millis(50), later: reply }
            } else {
                Action::Send(r.reply(Status::Ok))
            }
        });
        let client = client_for(server.socket_addr(), protocol, &[]);
        client.append(&EVENTS[0]).unwrap();
        server.wait_for_actions(1); // the stray reply is written...
                                    // ...and has arrived, and the connection has been idle longer than the
                                    // 500 ms within which the client uses it without looking (README, Performance).
        thread::sleep(Duration::from_millis(600));
        client.append(&EVENTS[0]).unwrap();
        assert_eq!(server.accepted(), 2, "{protocol:?}");
        assert_eq!(server.calls().len(), 2, "{protocol:?}: the stale connection carried no call");
    }
}

// ---------------------------------------------------------------------------
// Replies that reject the call: the connection is kept.

#[test]
fn application_exception_is_server_error_naming_type_and_message() {
    let errors = check_fault(ErrorKind::Server, |r| {
        Action::Send(exception_reply(r.protocol, r.seqid(), r.method().name(), 1, "Invalid method name: 'frobnicate'"))
    });
    for e in errors {
        assert!(e.message().contains("UNKNOWN_METHOD"), "{e}");
        assert!(e.message().contains("Invalid method name: 'frobnicate'"), "{e}");
    }
    let errors = check_fault(ErrorKind::Server, |r| {
        Action::Send(exception_reply(r.protocol, r.seqid(), r.method().name(), 6, "boom"))
    });
    for e in errors {
        assert!(e.message().contains("INTERNAL_ERROR") && e.message().contains("boom"), "{e}");
    }
}

#[test]
fn failed_status_is_failed_and_keeps_the_connection() {
    check_fault(ErrorKind::Failed, |r| Action::Send(r.reply(Status::Failed)));
}

#[test]
fn error_and_unknown_statuses_are_server_errors_and_keep_the_connection() {
    let errors = check_fault(ErrorKind::Server, |r| Action::Send(r.reply(Status::Error)));
    errors.iter().for_each(|e| assert!(e.message().contains("ERROR"), "{e}"));
    let errors = check_fault(ErrorKind::Server, |r| Action::Send(r.reply(Status::Unknown)));
    errors.iter().for_each(|e| assert!(e.message().contains("UNKNOWN"), "{e}"));
}

#[test]
fn out_of_range_status_is_server_error_and_keeps_the_connection() {
    for status in [7, -1, i32::MAX] {
        let errors = check_fault(ErrorKind::Server, move |r| {
            Action::Send(status_reply(r.protocol, r.seqid(), r.method().name(), status))
        });
        for e in errors {
            assert!(e.message().contains(&status.to_string()), "{e}");
        }
    }
}

#[test]
fn failed_second_call_of_a_batch_delivers_exactly_the_first_call() {
    let bodies: Vec<String> = (0..8).map(|i| format!("event {i}")).collect();
    let events: Vec<EventView> = bodies.iter().map(|b| EventView::new(&HEADERS, b.as_bytes())).collect();
    for protocol in PROTOCOLS {
        let server = scripted(protocol, |r| match r.index {
            1 => Action::Send(r.reply(Status::Failed)),
            _ => Action::Send(r.reply(Status::Ok)),
        });
        let client = client_for(server.socket_addr(), protocol, &[("batch-size", "3")]);

        let start = Instant::now();
        let result = client.append_batch(&events);
        let delivered = result.as_ref().map_or_else(|e| e.delivered(), |()| events.len());
        expect_error(
            result.map_err(Error::from),
            ErrorKind::Failed,
            start.elapsed(),
            TIMEOUT + MARGIN,
            &format!("{protocol:?}"),
        );
        assert_eq!(delivered, 3, "{protocol:?}");

        let calls = server.calls();
        assert_eq!(calls.len(), 2, "{protocol:?}: the batch did not stop at the failed call");
        for (call, range) in calls.iter().zip([0..3, 3..6]) {
            assert_eq!(call.method, Method::AppendBatch);
            let sent: Vec<&[u8]> = call.events.iter().map(|e| e.body.as_slice()).collect();
            let expected: Vec<&[u8]> = events[range].iter().map(|e| e.body).collect();
            assert_eq!(sent, expected, "{protocol:?}");
            for event in &call.events {
                assert_eq!(event.headers, [("host".into(), "web-1".into()), ("topic".into(), "faults".into())]);
            }
        }

        // Retrying the rest succeeds, on the kept connection.
        client.append_batch(&events[delivered..]).unwrap();
        assert_eq!(server.accepted(), 1, "{protocol:?}");
    }
}

// ---------------------------------------------------------------------------
// Connecting.

#[test]
fn nothing_listening_is_connect_error() {
    for protocol in PROTOCOLS {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = client_for(addr, protocol, &[]);
        for method in METHODS {
            let (result, delivered, elapsed) = send(&client, method, &EVENTS);
            expect_error(result, ErrorKind::Connect, elapsed, TIMEOUT + MARGIN, &context(protocol, method));
            assert_eq!(delivered, 0);
        }

        // A server comes up on the port: the same client connects.
        let server = scripted_on(TcpListener::bind(addr).unwrap(), protocol, |r| Action::Send(r.reply(Status::Ok)));
        for method in METHODS {
            let (result, _, _) = send(&client, method, &EVENTS);
            result.unwrap();
        }
        assert_eq!(server.accepted(), 1);
    }
}

#[test]
fn connect_to_a_listener_that_never_accepts_is_connect_error_within_connect_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Backlog 0: the accept queue holds one connection and Linux drops SYNs
    // that arrive while it is full, so a connect hangs.
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
    let probe = Duration::from_millis(200);
    let mut queued = Vec::new();
    for _ in 0..3 {
        if let Ok(stream) = TcpStream::connect_timeout(&addr, probe) {
            queued.push(stream);
        }
    }
    let start = Instant::now();
    match TcpStream::connect_timeout(&addr, probe) {
        Err(e) if e.kind() == io::ErrorKind::TimedOut || e.kind() == io::ErrorKind::WouldBlock => {}
        other => panic!(
            "a raw connect to the full listener did not hang ({other:?} after {:?}, {} queued): \
             this test cannot exercise a hanging connect on this kernel",
            start.elapsed(),
            queued.len()
        ),
    }

    let client = client_for(addr, Protocol::Compact, &[]);
    for method in METHODS {
        let (result, delivered, elapsed) = send(&client, method, &EVENTS);
        let what = format!("{} to a full listener", method.name());
        let e = expect_error(result, ErrorKind::Connect, elapsed, TIMEOUT + MARGIN, &what);
        assert!(elapsed >= TIMEOUT, "{what}: the connect did not hang ({elapsed:?}): {e}");
        assert_eq!(delivered, 0);
    }

    // The listener starts accepting: once the queue is drained, the same client connects.
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 128) }, 0);
    let server = scripted_on(listener, Protocol::Compact, |r| Action::Send(r.reply(Status::Ok)));
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.accepted() < queued.len() {
        assert!(Instant::now() < deadline, "the queued connections were never accepted");
        thread::sleep(Duration::from_millis(10));
    }
    drop(queued);
    for method in METHODS {
        let (result, _, _) = send(&client, method, &EVENTS);
        result.unwrap();
    }
    assert_eq!(server.calls().len(), 2);
}

// ---------------------------------------------------------------------------
// Bad input: rejected before a byte is sent.

static BIG_BODY: [u8; 300] = [b'x'; 300];
static BAD_KEY: [(&[u8], &[u8]); 2] = [(b"host", b"web-1"), (b"\xff", b"v")];
static BAD_VALUE: [(&[u8], &[u8]); 1] = [(b"k", b"caf\xc3")];

/// Events that fail validation when `max-frame-size` is 256, with their kind.
fn bad_events() -> [(EventView<'static>, ErrorKind); 3] {
    [
        (EventView::new(&HEADERS, &BIG_BODY), ErrorKind::TooLarge),
        (EventView::new(&BAD_KEY, b"body"), ErrorKind::InvalidArg),
        (EventView::new(&BAD_VALUE, b"body"), ErrorKind::InvalidArg),
    ]
}

const SMALL_FRAMES: [(&str, &str); 2] = [("max-frame-size", "256"), ("batch-size", "2")];

/// Waits a moment for bytes a wrong client might have sent to arrive.
fn settle() {
    thread::sleep(Duration::from_millis(100));
}

#[test]
fn bad_event_fails_without_connecting() {
    for protocol in PROTOCOLS {
        let server = FakeSource::start(protocol);
        let client = client_for(server.socket_addr(), protocol, &SMALL_FRAMES);
        for (bad, kind) in bad_events() {
            for method in METHODS {
                let (result, delivered, elapsed) = send(&client, method, &[bad]);
                expect_error(result, kind, elapsed, MARGIN, &context(protocol, method));
                assert_eq!(delivered, 0);
            }
        }
        settle();
        assert_eq!(server.accepted(), 0, "{protocol:?}: bad input opened a connection");
        assert_eq!(server.bytes(), 0, "{protocol:?}: bad input sent bytes");
        client.append(&EVENTS[0]).unwrap();
    }
}

#[test]
fn bad_event_sends_no_byte_on_an_open_connection() {
    for protocol in PROTOCOLS {
        let server = FakeSource::start(protocol);
        let client = client_for(server.socket_addr(), protocol, &SMALL_FRAMES);
        client.append(&EVENTS[0]).unwrap();
        for (bad, kind) in bad_events() {
            for method in METHODS {
                let (result, delivered, elapsed) = send(&client, method, &[bad]);
                expect_error(result, kind, elapsed, MARGIN, &context(protocol, method));
                assert_eq!(delivered, 0);
            }
        }
        settle();
        assert_eq!(server.calls().len(), 1, "{protocol:?}");
        assert_eq!(server.bytes(), server.framed_bytes(), "{protocol:?}: stray bytes after the first call");
        let sent_before = server.bytes();

        client.append(&EVENTS[0]).unwrap();
        let calls = server.calls();
        assert_eq!(calls.len(), 2, "{protocol:?}");
        assert_eq!(calls[1].seqid, 2, "{protocol:?}: a seqid was spent on bad input");
        assert_eq!(server.bytes(), server.framed_bytes(), "{protocol:?}");
        assert!(server.bytes() > sent_before);
        assert_eq!(server.accepted(), 1, "{protocol:?}");
    }
}

#[test]
fn bad_fifth_event_of_a_batch_sends_nothing_of_the_batch() {
    let bodies: Vec<String> = (0..10).map(|i| format!("event {i}")).collect();
    for protocol in PROTOCOLS {
        let server = FakeSource::start(protocol);
        let client = client_for(server.socket_addr(), protocol, &SMALL_FRAMES);
        for connected in [false, true] {
            for (bad, kind) in bad_events() {
                let mut events: Vec<EventView> =
                    bodies.iter().map(|b| EventView::new(&HEADERS, b.as_bytes())).collect();
                events[4] = bad;
                let what = format!("{protocol:?}, connected: {connected}");
                let (result, delivered, elapsed) = send(&client, Method::AppendBatch, &events);
                expect_error(result, kind, elapsed, MARGIN, &what);
                assert_eq!(delivered, 0, "{what}");
            }
            settle();
            if connected {
                assert_eq!(server.calls().len(), 1, "{protocol:?}: part of a bad batch was sent");
                assert_eq!(server.bytes(), server.framed_bytes(), "{protocol:?}");
            } else {
                assert_eq!(server.accepted(), 0, "{protocol:?}: a bad batch opened a connection");
                assert_eq!(server.bytes(), 0, "{protocol:?}: part of a bad batch was sent");
                client.append(&EVENTS[0]).unwrap();
            }
        }
    }
}
