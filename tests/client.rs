//! The synchronous client against the fake source (tests/common/fake_source.rs) answering OK:
//! batch splitting by count and by bytes, address forms, name lookup failures.

#[path = "common/fake_source.rs"]
mod fake_source;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use fake_source::FakeSource;
use flume_client::{Client, Config, ErrorKind, EventView, Protocol};

/// An OK-answering source on `listener`; its summaries give each call's
/// payload length and events.
fn serve_ok(listener: TcpListener, protocol: Protocol) -> FakeSource {
    FakeSource::builder(protocol).listener(listener).max_frame(i32::MAX as usize).start()
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
        let counts = seen.events_per_call();
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
        let seen: Vec<(usize, usize)> = seen.summaries().iter().map(|s| (s.payload_len, s.events)).collect();
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
    assert_eq!(seen.calls_decoded(), 1);
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
    assert_eq!((v6_seen.calls_decoded(), v4_seen.calls_decoded()), (2, 1));
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
