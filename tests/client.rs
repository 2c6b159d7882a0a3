//! The synchronous client against a small in-test server that answers OK:
//! batch splitting by count and by bytes, address forms, name lookup failures.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flume_client::unstable::{decode_call, encode_reply, frame_len, Status};
use flume_client::{Client, Config, ErrorKind, EventView, Protocol};

/// Frames seen by the server: (payload length, events in the call).
type Seen = Arc<Mutex<Vec<(usize, usize)>>>;

/// Serves OK replies on `listener` in a background thread, recording each call.
fn serve_ok(listener: TcpListener, protocol: Protocol) -> Seen {
    let seen: Seen = Arc::default();
    let record = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let (mut stream, record) = (stream.unwrap(), Arc::clone(&record));
            std::thread::spawn(move || answer_ok(&mut stream, protocol, &record));
        }
    });
    seen
}

fn answer_ok(stream: &mut TcpStream, protocol: Protocol, seen: &Seen) {
    let mut header = [0u8; 4];
    while stream.read_exact(&mut header).is_ok() {
        let mut payload = vec![0; frame_len(header, i32::MAX as usize).unwrap()];
        stream.read_exact(&mut payload).unwrap();
        let call = decode_call(protocol, &payload).unwrap();
        seen.lock().unwrap().push((payload.len(), call.events.len()));
        let mut reply = Vec::new();
        encode_reply(protocol, &mut reply, call.seqid, call.method, Status::Ok);
        stream.write_all(&reply).unwrap();
    }
}

fn config(settings: &[(&str, &str)]) -> Config {
    let mut config = Config::default();
    for (k, v) in settings {
        config.set(k, v).unwrap();
    }
    config
}

#[test]
fn batches_split_by_batch_size_in_order() {
    for protocol in ["compact", "binary"] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let config = config(&[("protocol", protocol), ("batch-size", "7")]);
        let seen = serve_ok(listener, config.protocol);
        let bodies: Vec<Vec<u8>> = (0..20).map(|i| format!("event {i}").into_bytes()).collect();
        let events: Vec<EventView> = bodies.iter().map(|b| EventView::body(b)).collect();
        let client = Client::new(&addr, &config).unwrap();
        client.append_batch(&events).unwrap();
        let counts: Vec<usize> = seen.lock().unwrap().iter().map(|s| s.1).collect();
        assert_eq!(counts, [7, 7, 6], "{protocol}");
    }
}

#[test]
fn batches_split_by_max_frame_size_and_every_frame_fits() {
    for protocol in ["compact", "binary"] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let config = config(&[("protocol", protocol), ("batch-size", "1000"), ("max-frame-size", "10000")]);
        let seen = serve_ok(listener, config.protocol);
        let bodies: Vec<Vec<u8>> = (0..100).map(|i| vec![b'x'; 100 + 37 * i]).collect();
        let headers: [(&[u8], &[u8]); 2] = [(b"host", b"web-1"), (b"topic", b"clicks")];
        let events: Vec<EventView> = bodies.iter().map(|b| EventView::new(&headers, b)).collect();
        let client = Client::new(&addr, &config).unwrap();
        client.append_batch(&events).unwrap();
        let seen = seen.lock().unwrap();
        assert!(seen.len() > 10, "{protocol}: {} calls", seen.len());
        assert_eq!(seen.iter().map(|s| s.1).sum::<usize>(), 100);
        for &(len, count) in seen.iter() {
            assert!(len <= 10_000, "{protocol}: a frame of {len} bytes");
            assert!(count >= 1);
        }
    }
}

#[test]
fn an_event_that_fits_exactly_is_sent_and_one_byte_more_is_too_large() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    // In compact, an appendBatch of one event with an n-byte body is counted as
    // 28 + n bytes: message header 19 (its seqid varint at the 5-byte maximum),
    // args field, list header and stop 3, event 6 + n (for 128 <= n < 16384).
    let config = config(&[("max-frame-size", "1000")]);
    let seen = serve_ok(listener, Protocol::Compact);
    let client = Client::new(&addr, &config).unwrap();
    let fits = vec![0u8; 1000 - 28];
    client.append_batch(&[EventView::body(&fits)]).unwrap();
    let too_big = vec![0u8; 1000 - 27];
    let e = client.append_batch(&[EventView::body(&too_big)]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
    assert_eq!(e.delivered(), 0);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn ipv6_literals_and_host_names_connect() {
    let v6 = TcpListener::bind("[::1]:0").expect("loopback IPv6 must be available");
    let v6_port = v6.local_addr().unwrap().port();
    let v6_seen = serve_ok(v6, Protocol::Compact);
    let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
    let v4_port = v4.local_addr().unwrap().port();
    let v4_seen = serve_ok(v4, Protocol::Compact);
    // The second list's first host refuses: the client goes on to the next.
    for hosts in [format!("[::1]:{v6_port}"), format!("localhost:{v4_port}"), format!("127.0.0.1:1, [::1]:{v6_port}")] {
        let client = Client::new(&hosts, &Config::default()).unwrap();
        client.append(&EventView::body(b"x")).unwrap_or_else(|e| panic!("{hosts}: {e}"));
    }
    assert_eq!((v6_seen.lock().unwrap().len(), v4_seen.lock().unwrap().len()), (2, 1));
}

#[test]
fn an_unresolvable_name_is_a_connect_error_within_the_timeout() {
    let config = config(&[("connect-timeout", "2000")]);
    let client = Client::new("no-such-host.invalid:4141", &config).unwrap();
    let start = Instant::now();
    let e = client.append(&EventView::body(b"x")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
    assert!(e.message().contains("no-such-host.invalid"), "{e}");
    assert!(start.elapsed() < Duration::from_millis(2000 + 1500));
}

#[test]
fn empty_batches_send_nothing_and_need_no_server() {
    let client = Client::new("127.0.0.1:1", &Config::default()).unwrap();
    client.append_batch::<EventView>(&[]).unwrap();
}
