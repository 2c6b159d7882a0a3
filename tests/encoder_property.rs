//! Property test: on thousands of random events, our encoder writes exactly the
//! bytes that Apache Thrift's own Rust library (the `thrift` crate) writes, and
//! our size computation matches the bytes written.

use flume_client::unstable::{batch_call_size, encode_call, encode_call_spliced, event_size, segments, Method};
use flume_client::{EventView, Protocol};
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
    count
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
