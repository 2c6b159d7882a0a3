//! Byte-exact checks against frames written by Apache Thrift's own library
//! (tests/data/wire-vectors.txt, copied from the project's reference).

use flume_client::unstable::{
    decode_call, decode_reply, decode_reply_to_call, encode_call, encode_reply, Method, ReceivedEvent, Status,
};
use flume_client::{ErrorKind, EventView, Protocol};

const VECTORS: &str = include_str!("data/wire-vectors.txt");

/// (title, frame bytes) for every case of the file.
fn vectors() -> Vec<(String, Vec<u8>)> {
    let lines: Vec<&str> = VECTORS.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).collect();
    lines
        .chunks(2)
        .map(|pair| {
            let bytes = pair[1].split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect();
            (pair[0].to_string(), bytes)
        })
        .collect()
}

fn protocol_of(title: &str) -> Protocol {
    if title.starts_with("compact") {
        Protocol::Compact
    } else {
        assert!(title.starts_with("binary-strict"), "{title}");
        Protocol::Binary
    }
}

fn method_of(title: &str) -> Method {
    if title.contains(" appendBatch ") {
        Method::AppendBatch
    } else {
        Method::Append
    }
}

const HELLO: [(&[u8], &[u8]); 1] = [(b"a", b"hello")];

fn events_of(method: Method) -> Vec<EventView<'static>> {
    match method {
        Method::Append => vec![EventView::new(&HELLO, b"hi")],
        Method::AppendBatch => vec![EventView::body(b"a"), EventView::body(b"b")],
    }
}

fn received(events: &[EventView]) -> Vec<ReceivedEvent> {
    events
        .iter()
        .map(|e| ReceivedEvent {
            headers: e
                .headers
                .iter()
                .map(|(k, v)| (String::from_utf8(k.to_vec()).unwrap(), String::from_utf8(v.to_vec()).unwrap()))
                .collect(),
            body: e.body.to_vec(),
        })
        .collect()
}

#[test]
fn the_file_holds_the_eight_expected_cases() {
    assert_eq!(vectors().len(), 8);
}

#[test]
fn calls_encode_byte_for_byte_and_decode_back() {
    let mut checked = 0;
    for (title, frame) in vectors().into_iter().filter(|(t, _)| t.contains(" call ")) {
        let (protocol, method) = (protocol_of(&title), method_of(&title));
        let events = events_of(method);
        let mut buf = vec![0xee]; // encoding appends: what was there stays
        encode_call(protocol, &mut buf, 1, method, &events);
        assert_eq!(buf[0], 0xee);
        assert_eq!(&buf[1..], &frame[..], "{title}");

        let call = decode_call(protocol, &frame[4..]).unwrap();
        assert_eq!((call.method, call.seqid), (method, 1), "{title}");
        assert_eq!(call.events, received(&events), "{title}");
        checked += 1;
    }
    assert_eq!(checked, 4);
}

#[test]
fn ok_replies_encode_byte_for_byte_and_decode_as_ok() {
    let mut checked = 0;
    for (title, frame) in vectors().into_iter().filter(|(t, _)| t.contains(" reply ")) {
        let protocol = protocol_of(&title);
        let mut buf = Vec::new();
        encode_reply(protocol, &mut buf, 1, Method::Append, Status::Ok);
        assert_eq!(buf, frame, "{title}");
        decode_reply(protocol, &frame[4..], 1, Method::Append).unwrap();
        checked += 1;
    }
    assert_eq!(checked, 2);
}

#[test]
fn exception_replies_decode_as_server_errors_naming_type_and_message() {
    let mut checked = 0;
    for (title, frame) in vectors().into_iter().filter(|(t, _)| t.contains(" exception ")) {
        let e = decode_reply(protocol_of(&title), &frame[4..], 1, Method::Append).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Server, "{title}");
        assert!(e.message().contains("UNKNOWN_METHOD (1): x"), "{title}: {e}");
        checked += 1;
    }
    assert_eq!(checked, 2);
}

#[test]
fn a_reply_in_the_other_protocol_is_a_protocol_error() {
    for (title, frame) in vectors().into_iter().filter(|(t, _)| t.contains(" reply ")) {
        let other = match protocol_of(&title) {
            Protocol::Compact => Protocol::Binary,
            Protocol::Binary => Protocol::Compact,
        };
        let e = decode_reply(other, &frame[4..], 1, Method::Append).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Protocol, "{title}");
    }
}

#[test]
fn every_truncation_of_a_reply_is_a_protocol_error() {
    for (title, frame) in vectors().into_iter().filter(|(t, _)| !t.contains(" call ")) {
        let payload = &frame[4..];
        for len in 0..payload.len() - 1 {
            let e = decode_reply(protocol_of(&title), &payload[..len], 1, Method::Append).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Protocol, "{title} cut at {len}: {e}");
        }
    }
}

#[test]
fn status_values_map_to_their_result_codes() {
    for protocol in [Protocol::Compact, Protocol::Binary] {
        for (status, kind) in [
            (Status::Failed, ErrorKind::Failed),
            (Status::Error, ErrorKind::Server),
            (Status::Unknown, ErrorKind::Server),
        ] {
            let mut buf = Vec::new();
            encode_reply(protocol, &mut buf, 7, Method::AppendBatch, status);
            let e = decode_reply(protocol, &buf[4..], 7, Method::AppendBatch).unwrap_err();
            assert_eq!(e.kind(), kind);
        }
        let mut buf = Vec::new();
        encode_reply(protocol, &mut buf, 7, Method::AppendBatch, Status::Ok);
        assert_eq!(decode_reply(protocol, &buf[4..], 8, Method::AppendBatch).unwrap_err().kind(), ErrorKind::Protocol);
        assert_eq!(decode_reply(protocol, &buf[4..], 7, Method::Append).unwrap_err().kind(), ErrorKind::Protocol);
    }
}

/// A real Flume source answers FAILED for a full channel and for a call of
/// more events than the channel's transactionCapacity: the message names both,
/// with the call's event count.
#[test]
fn failed_names_both_causes_with_the_event_count() {
    let mut buf = Vec::new();
    encode_reply(Protocol::Compact, &mut buf, 3, Method::AppendBatch, Status::Failed);
    let e = decode_reply_to_call(Protocol::Compact, &buf[4..], 3, Method::AppendBatch, 250).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Failed);
    for words in ["call of 250 events", "channel is full", "250 events are more than the channel's transactionCapacity"]
    {
        assert!(e.message().contains(words), "{words:?} not in {:?}", e.message());
    }
    let e = decode_reply(Protocol::Compact, &buf[4..], 3, Method::AppendBatch).unwrap_err();
    assert!(e.message().contains("channel is full") && e.message().contains("transactionCapacity"), "{e}");
}

#[test]
fn out_of_range_status_is_a_server_error() {
    // compact reply append seqid=1 with status 7 (zigzag 14 = 0x0e).
    let payload = [0x82, 0x41, 0x01, 0x06, b'a', b'p', b'p', b'e', b'n', b'd', 0x05, 0x00, 0x0e, 0x00];
    let e = decode_reply(Protocol::Compact, &payload, 1, Method::Append).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Server);
    assert!(e.message().contains("status 7"), "{e}");
}

#[test]
fn unknown_result_fields_are_skipped_and_a_missing_status_is_a_protocol_error() {
    // compact reply: field 5 = list of 3 strings, a nested struct with a bool, then field 0 = OK.
    let mut payload = vec![0x82, 0x41, 0x01, 0x06];
    payload.extend_from_slice(b"append");
    payload.extend_from_slice(&[0x59, 0x38, 1, b'x', 0, 2, b'y', b'z']); // field 5 list<string>[3]
    payload.extend_from_slice(&[0x1c, 0x11, 0x00]); // field 6 struct { 1: true }
    payload.extend_from_slice(&[0x05, 0x00, 0x00, 0x00]); // field 0 i32 = 0, stop
    decode_reply(Protocol::Compact, &payload, 1, Method::Append).unwrap();

    let mut no_status = payload[..payload.len() - 4].to_vec();
    no_status.push(0x00);
    let e = decode_reply(Protocol::Compact, &no_status, 1, Method::Append).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol);
}

#[test]
fn hostile_lengths_and_nesting_are_protocol_errors() {
    let header = |p: &mut Vec<u8>| {
        p.extend_from_slice(&[0x82, 0x41, 0x01, 0x06]);
        p.extend_from_slice(b"append");
    };
    // A list announcing 2^31 elements in a 20-byte payload.
    let mut huge = Vec::new();
    header(&mut huge);
    huge.extend_from_slice(&[0x19, 0xf8, 0xff, 0xff, 0xff, 0xff, 0x07]);
    assert_eq!(decode_reply(Protocol::Compact, &huge, 1, Method::Append).unwrap_err().kind(), ErrorKind::Protocol);
    // A varint longer than 5 bytes.
    let mut long = Vec::new();
    header(&mut long);
    long.extend_from_slice(&[0x15, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert_eq!(decode_reply(Protocol::Compact, &long, 1, Method::Append).unwrap_err().kind(), ErrorKind::Protocol);
    // Structs nested 10,000 deep.
    let mut deep = Vec::new();
    header(&mut deep);
    deep.extend(std::iter::repeat_n(0x1c, 10_000));
    let e = decode_reply(Protocol::Compact, &deep, 1, Method::Append).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol);
    assert!(e.message().contains("nesting"), "{e}");
}
