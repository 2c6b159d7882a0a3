//! Property test: on thousands of random events, our encoder writes exactly the
//! bytes that Apache Thrift's own Rust library (the `thrift` crate) writes, and
//! our size computation matches the bytes written.

use std::ffi::{c_char, CString};

use flume_client::unstable::{
    batch_call_size, encode_call, encode_call_spliced, event_size, segments, CallLimits, HeaderSink, Method, Request,
};
use flume_client::{AsEvent, EventView, Protocol, Result};
use thrift::protocol::{
    TBinaryOutputProtocol, TCompactOutputProtocol, TFieldIdentifier, TListIdentifier, TMapIdentifier,
    TMessageIdentifier, TMessageType, TOutputProtocol, TStructIdentifier, TType,
};

/// xorshift64*: deterministic, so a failure can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const ALPHABET: [&str; 12] = ["a", "Z", "0", "-", " ", "é", "ß", "中", "文", "🚀", "\u{0}", "\u{7f}"];

fn random_string(rng: &mut Rng, max_chars: u64) -> String {
    (0..rng.below(max_chars + 1)).map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize]).collect()
}

/// Body lengths: mostly small, some empty, a few large (up to 70 KB).
fn random_body(rng: &mut Rng) -> Vec<u8> {
    let len = match rng.below(10) {
        0 => 0,
        1 => rng.below(70_000),
        _ => rng.below(300),
    };
    (0..len).map(|_| rng.next() as u8).collect()
}

struct OwnedEvent {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn random_events(rng: &mut Rng, count: usize) -> Vec<OwnedEvent> {
    (0..count)
        .map(|_| {
            let header_count = if rng.below(4) == 0 { 0 } else { rng.below(51) };
            OwnedEvent {
                headers: (0..header_count).map(|_| (random_string(rng, 12), random_string(rng, 40))).collect(),
                body: random_body(rng),
            }
        })
        .collect()
}

/// The reference: Apache Thrift's generated-code sequence of protocol calls.
fn thrift_encode(protocol: Protocol, seqid: i32, method: Method, events: &[OwnedEvent]) -> Vec<u8> {
    let mut payload = Vec::new();
    {
        let mut p: Box<dyn TOutputProtocol + '_> = match protocol {
            Protocol::Compact => Box::new(TCompactOutputProtocol::new(&mut payload)),
            Protocol::Binary => Box::new(TBinaryOutputProtocol::new(&mut payload, true)),
        };
        p.write_message_begin(&TMessageIdentifier::new(method.name(), TMessageType::Call, seqid)).unwrap();
        p.write_struct_begin(&TStructIdentifier::new("args")).unwrap();
        match method {
            Method::Append => {
                p.write_field_begin(&TFieldIdentifier::new("event", TType::Struct, 1)).unwrap();
                write_event(p.as_mut(), &events[0]);
            }
            Method::AppendBatch => {
                p.write_field_begin(&TFieldIdentifier::new("events", TType::List, 1)).unwrap();
                p.write_list_begin(&TListIdentifier::new(TType::Struct, events.len() as i32)).unwrap();
                for e in events {
                    write_event(p.as_mut(), e);
                }
                p.write_list_end().unwrap();
            }
        }
        p.write_field_end().unwrap();
        p.write_field_stop().unwrap();
        p.write_struct_end().unwrap();
        p.write_message_end().unwrap();
        p.flush().unwrap();
    }
    let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&payload);
    frame
}

fn write_event(p: &mut dyn TOutputProtocol, e: &OwnedEvent) {
    p.write_struct_begin(&TStructIdentifier::new("ThriftFlumeEvent")).unwrap();
    p.write_field_begin(&TFieldIdentifier::new("headers", TType::Map, 1)).unwrap();
    p.write_map_begin(&TMapIdentifier::new(TType::String, TType::String, e.headers.len() as i32)).unwrap();
    for (k, v) in &e.headers {
        p.write_string(k).unwrap();
        p.write_string(v).unwrap();
    }
    p.write_map_end().unwrap();
    p.write_field_end().unwrap();
    p.write_field_begin(&TFieldIdentifier::new("body", TType::String, 2)).unwrap();
    p.write_bytes(&e.body).unwrap();
    p.write_field_end().unwrap();
    p.write_field_stop().unwrap();
    p.write_struct_end().unwrap();
}

fn check(rng: &mut Rng, protocol: Protocol, method: Method, count: usize, buf: &mut Vec<u8>) -> usize {
    let owned = random_events(rng, count);
    let header_slices: Vec<Vec<(&[u8], &[u8])>> =
        owned.iter().map(|e| e.headers.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())).collect()).collect();
    let events: Vec<EventView> = owned.iter().zip(&header_slices).map(|(e, h)| EventView::new(h, &e.body)).collect();
    let seqid = rng.next() as i32;

    buf.clear();
    encode_call(protocol, buf, seqid, method, &events);
    let expected = thrift_encode(protocol, seqid, method, &owned);
    assert!(*buf == expected, "{protocol:?} {method:?} of {count} events, seqid {seqid}: bytes differ");

    // Spliced: bodies from a random size on left out of the buffer, sent from the events.
    let splice_from = [0, 1, 300, 1024, usize::MAX][rng.below(5) as usize];
    let mut spliced_buf = Vec::new();
    let mut splices = Vec::new();
    let len = encode_call_spliced(protocol, &mut spliced_buf, seqid, method, &events, splice_from, &mut splices);
    let joined: Vec<u8> = segments(&spliced_buf, &splices, &events).flatten().copied().collect();
    assert!(joined == expected, "{protocol:?} {method:?} spliced from {splice_from}: bytes differ");
    assert_eq!(len, expected.len(), "{protocol:?} {method:?} spliced from {splice_from}: frame length");
    assert!(splices.iter().all(|s| events[s.event].body.len() >= splice_from));

    let events_size: usize = events.iter().map(|e| event_size(protocol, e)).sum();
    let bound = batch_call_size(protocol, method, count, events_size);
    let written = buf.len() - 4;
    // The size bound counts the seqid varint at its 5-byte maximum; all else is exact.
    assert!(written <= bound && bound <= written + 4, "{protocol:?}: size {bound} for {written} bytes");

    // The client's encoder, `Request`: the same bytes, from slices and from C strings.
    let limits = CallLimits { max_events: usize::MAX, max_frame_size: usize::MAX, splice_from };
    let mut request = Request::default();
    assert_eq!(request.encode(protocol, method, &events, &limits), Ok(count));
    let len = request.set_seqid(seqid);
    let joined: Vec<u8> = request.segments(&events).flatten().copied().collect();
    assert!(joined == expected, "{protocol:?} {method:?}: Request's bytes differ");
    assert_eq!(len, expected.len());
    // A retry with another seqid rewrites the prefix only.
    request.set_seqid(seqid.wrapping_add(1));
    let len = request.set_seqid(seqid);
    assert!(request.segments(&events).flatten().copied().eq(expected.iter().copied()) && len == expected.len());
    // From C strings too (for calls of up to 100 events: the test runs unoptimised in CI).
    let no_nul = owned.iter().all(|e| e.headers.iter().all(|(k, v)| !k.contains('\0') && !v.contains('\0')));
    if count <= 100 && no_nul {
        let c_events: Vec<CEvent> = owned.iter().map(CEvent::new).collect();
        assert_eq!(request.encode(protocol, method, &c_events, &limits), Ok(count));
        request.set_seqid(seqid);
        let joined: Vec<u8> = request.segments(&c_events).flatten().copied().collect();
        assert!(joined == expected, "{protocol:?} {method:?}: Request's bytes from C strings differ");
    }
    count
}

/// An event of NUL-terminated strings, written as the C boundary writes them.
struct CEvent {
    strings: Vec<CString>,
    pairs: Vec<[*const c_char; 2]>,
    views: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
}

impl CEvent {
    fn new(e: &OwnedEvent) -> CEvent {
        let strings: Vec<CString> =
            e.headers.iter().flat_map(|(k, v)| [k, v]).map(|s| CString::new(s.as_str()).unwrap()).collect();
        let pairs = strings.chunks(2).map(|p| [p[0].as_ptr(), p[1].as_ptr()]).collect();
        let views = e.headers.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec())).collect();
        CEvent { strings, pairs, views, body: e.body.clone() }
    }
}

impl AsEvent for CEvent {
    fn header_count(&self) -> usize {
        self.strings.len() / 2
    }
    fn header(&self, index: usize) -> (&[u8], &[u8]) {
        (&self.views[index].0, &self.views[index].1)
    }
    fn body(&self) -> &[u8] {
        &self.body
    }
    fn write_headers(&self, sink: &mut HeaderSink<'_>) -> Result<()> {
        // Half of the events a pair at a time, half a string at a time.
        if self.body.len() % 2 == 0 {
            unsafe { sink.c_headers(&self.pairs) }.unwrap();
        } else {
            for [key, value] in &self.pairs {
                unsafe {
                    sink.c_string(*key);
                    sink.c_string(*value);
                }
            }
        }
        Ok(())
    }
}

#[test]
fn request_splits_at_the_frame_limit_and_each_call_is_exact() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut calls = 0;
    for round in 0..60 {
        for protocol in [Protocol::Compact, Protocol::Binary] {
            let count = 1 + rng.below(60) as usize;
            let owned = random_events(&mut rng, count);
            let header_slices: Vec<Vec<(&[u8], &[u8])>> =
                owned.iter().map(|e| e.headers.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())).collect()).collect();
            let events: Vec<EventView> =
                owned.iter().zip(&header_slices).map(|(e, h)| EventView::new(h, &e.body)).collect();
            let largest = events
                .iter()
                .map(|e| batch_call_size(protocol, Method::AppendBatch, 1, event_size(protocol, e)))
                .max()
                .unwrap();
            let limits = CallLimits {
                max_events: 1 + rng.below(20) as usize,
                max_frame_size: largest + rng.below(20_000) as usize,
                splice_from: if round % 2 == 0 { 1024 } else { usize::MAX },
            };
            let mut request = Request::default();
            let mut rest = &events[..];
            let mut owned_rest = &owned[..];
            while !rest.is_empty() {
                let count = request.encode(protocol, Method::AppendBatch, rest, &limits).unwrap();
                assert!(count >= 1 && count <= limits.max_events);
                let len = request.set_seqid(round);
                let joined: Vec<u8> = request.segments(&rest[..count]).flatten().copied().collect();
                let expected = thrift_encode(protocol, round, Method::AppendBatch, &owned_rest[..count]);
                assert!(joined == expected, "{protocol:?}: call {calls} differs");
                assert!(len - 4 <= limits.max_frame_size);
                if count < rest.len() && count < limits.max_events {
                    let with_next: usize = rest[..=count].iter().map(|e| event_size(protocol, e)).sum();
                    let next = batch_call_size(protocol, Method::AppendBatch, count + 1, with_next);
                    assert!(next > limits.max_frame_size, "{protocol:?}: the next event fitted ({next} bytes)");
                }
                rest = &rest[count..];
                owned_rest = &owned_rest[count..];
                calls += 1;
            }
        }
    }
    assert!(calls >= 200, "only {calls} calls");
}

#[test]
fn request_checks_events_and_names_the_first_bad_one() {
    let bad: [(&[u8], &[u8]); 2] = [(b"k", b"v"), (b"k2", b"\xc3\x28")];
    let good: [(&[u8], &[u8]); 1] = [(b"k", b"v\xc3\xa9")];
    let events = [EventView::new(&good, b"a"), EventView::new(&good, b"b"), EventView::new(&bad, b"c")];
    let limits = CallLimits { max_events: 10, max_frame_size: 1 << 20, splice_from: usize::MAX };
    for protocol in [Protocol::Compact, Protocol::Binary] {
        let mut request = Request::default();
        let e = request.encode(protocol, Method::AppendBatch, &events, &limits).unwrap_err();
        assert_eq!(e.kind(), flume_client::ErrorKind::InvalidArg);
        assert!(e.message().starts_with("event 2: header 1 value is not UTF-8"), "{}", e.message());
        assert_eq!(request.method(), None, "no call is left encoded");
        // `check` names events by their index in the whole slice.
        let e = request.check(protocol, Method::AppendBatch, &events, 1, 1 << 20).unwrap_err();
        assert!(e.message().starts_with("event 2:"), "{}", e.message());
        // On success, `check` gives the events' encoded size (`send` queues it).
        let size: usize = events[..2].iter().map(|e| event_size(protocol, e)).sum();
        assert_eq!(request.check(protocol, Method::AppendBatch, &events[..2], 0, 1 << 20), Ok(size));
        let small = CallLimits { max_frame_size: 20, ..limits };
        let e = request.encode(protocol, Method::AppendBatch, &events[..2], &small).unwrap_err();
        assert_eq!(e.kind(), flume_client::ErrorKind::TooLarge);
        assert!(e.message().starts_with("event 0 needs a frame of"), "{}", e.message());
    }
}

#[test]
fn encoder_matches_apache_thrift_on_random_events() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut buf = Vec::new();
    let mut total = 0;
    for round in 0..120 {
        for protocol in [Protocol::Compact, Protocol::Binary] {
            total += check(&mut rng, protocol, Method::Append, 1, &mut buf);
            let count = match round % 6 {
                0 => 1 + rng.below(2000) as usize,
                1 => 14 + rng.below(3) as usize, // around compact's short-list limit of 15
                _ => 1 + rng.below(40) as usize,
            };
            total += check(&mut rng, protocol, Method::AppendBatch, count, &mut buf);
        }
    }
    assert!(total >= 5_000, "only {total} events compared");
}
