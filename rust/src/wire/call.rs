//! The call a client sends: `append(event)` or `appendBatch(events)`, framed.
//!
//! Encoding writes the caller's events straight into a reused buffer. Decoding
//! (used by the bundled receiver and by tests) builds owned events.

use super::AsEvent;
use super::Protocol;
use super::{
    begin_frame, binary::BinaryEncoder, compact::CompactEncoder, end_frame, skip, with_decoder, Cursor, Decoder,
    Encoder, MessageType, Method, TType,
};
use crate::error::{err, Result};

// Field ids of the IDL: ThriftFlumeEvent { 1: headers, 2: body }, args { 1: event(s) }.
pub(super) const HEADERS_FIELD: i16 = 1;
pub(super) const BODY_FIELD: i16 = 2;
pub(super) const ARGS_FIELD: i16 = 1;

/// Encoded size of one `ThriftFlumeEvent` struct.
pub fn event_size<E: AsEvent>(protocol: Protocol, event: &E) -> usize {
    match protocol {
        Protocol::Compact => event_size_with::<CompactEncoder, E>(event),
        Protocol::Binary => event_size_with::<BinaryEncoder, E>(event),
    }
}

/// Payload size of a call of `count` events whose `event_size`s add up to `events_size`.
pub fn batch_call_size(protocol: Protocol, method: Method, count: usize, events_size: usize) -> usize {
    match protocol {
        Protocol::Compact => call_size_with::<CompactEncoder>(method, count, events_size),
        Protocol::Binary => call_size_with::<BinaryEncoder>(method, count, events_size),
    }
}

/// Appends the framed call to `buf`. `Method::Append` sends `events[0]` alone.
pub fn encode_call<E: AsEvent>(protocol: Protocol, buf: &mut Vec<u8>, seqid: i32, method: Method, events: &[E]) {
    let mut splices = Vec::new();
    encode_call_spliced(protocol, buf, seqid, method, events, usize::MAX, &mut splices);
}

/// Where an event's body belongs in a call encoded without it: at byte `at`
/// of the buffer (right after its length prefix) goes the body of
/// `events[event]` (for `Request::encode_encoded`: piece `event`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Splice {
    /// Offset in the encoded buffer.
    pub at: usize,
    /// Index of the event whose body goes there.
    pub event: usize,
}

/// `encode_call`, but bodies of `splice_from` bytes or more are left out of
/// `buf` and listed in `splices` (cleared first), so that a vectored write can
/// send them from the caller's memory without copying them; `segments` lists
/// the pieces in order. Returns the frame's full length.
pub fn encode_call_spliced<E: AsEvent>(
    protocol: Protocol,
    buf: &mut Vec<u8>,
    seqid: i32,
    method: Method,
    events: &[E],
    splice_from: usize,
    splices: &mut Vec<Splice>,
) -> usize {
    splices.clear();
    let start = buf.len();
    let spliced = match protocol {
        Protocol::Compact => encode_call_with::<CompactEncoder, E>(buf, seqid, method, events, splice_from, splices),
        Protocol::Binary => encode_call_with::<BinaryEncoder, E>(buf, seqid, method, events, splice_from, splices),
    };
    buf.len() - start + spliced
}

/// The bytes of a call encoded by `encode_call_spliced`, in order: pieces of
/// `buf` and the spliced bodies of `events`.
pub fn segments<'a, E: AsEvent>(
    buf: &'a [u8],
    splices: &'a [Splice],
    events: &'a [E],
) -> impl Iterator<Item = &'a [u8]> {
    segments_from(buf, 0, splices, move |event| events[event].body())
}

/// `segments` of a call starting at `buf[start]` (`Request` keeps headroom
/// before it), whose splices' bytes are `spliced(event)`.
pub(super) fn segments_from<'a>(
    buf: &'a [u8],
    start: usize,
    splices: &'a [Splice],
    spliced: impl Fn(usize) -> &'a [u8] + 'a,
) -> impl Iterator<Item = &'a [u8]> {
    let mut done = start;
    let last = splices.last().map_or(start, |s| s.at);
    splices
        .iter()
        .flat_map(move |s| {
            let piece = &buf[done..s.at];
            done = s.at;
            [piece, spliced(s.event)]
        })
        .chain(std::iter::once(&buf[last..]))
}

fn event_size_with<P: Encoder, E: AsEvent>(event: &E) -> usize {
    event_size_and_ascii_with::<P, E>(event).0
}

#[inline(always)]
fn event_size_and_ascii_with<P: Encoder, E: AsEvent>(event: &E) -> (usize, bool) {
    let count = event.header_count();
    let mut size = P::FIELD_BEGIN_SIZE + P::map_begin_size(count);
    let mut bits = 0u64;
    for i in 0..count {
        let (key, value) = event.header(i);
        bits |= high_bits(key) | high_bits(value);
        size = size.saturating_add(P::binary_size(key.len())).saturating_add(P::binary_size(value.len()));
    }
    let body = P::FIELD_BEGIN_SIZE.saturating_add(P::binary_size(event.body().len()));
    (size.saturating_add(body).saturating_add(1), bits & 0x8080_8080_8080_8080 == 0)
    // + field stop
}

/// The bytes of `s` ORed together into a word (in some of its 8 byte lanes):
/// `s` is ASCII if no lane has its top bit set. Header strings are short:
/// from 8 bytes on, a word at a time and a last word overlapping the one
/// before; under 8 bytes, two overlapping half words or single bytes.
#[inline(always)]
pub(super) fn high_bits(s: &[u8]) -> u64 {
    let len = s.len();
    let p = s.as_ptr();
    // SAFETY: every load below reads inside `s`: at offsets i < len - 8 and
    // len - 8 (when len >= 8), at 0 and len - 4 (when 4 <= len < 8).
    unsafe {
        if len >= 8 {
            let mut bits = p.add(len - 8).cast::<u64>().read_unaligned();
            let mut i = 0;
            while i + 8 < len {
                bits |= p.add(i).cast::<u64>().read_unaligned();
                i += 8;
            }
            return bits;
        }
        if len >= 4 {
            return u64::from(p.cast::<u32>().read_unaligned() | p.add(len - 4).cast::<u32>().read_unaligned());
        }
    }
    s.iter().fold(0, |bits, &byte| bits | u64::from(byte))
}

pub(super) fn call_size_with<P: Encoder>(method: Method, count: usize, events_size: usize) -> usize {
    let list_header = match method {
        Method::Append => 0,
        Method::AppendBatch => P::list_begin_size(count),
    };
    (P::message_begin_size(method.name()) + P::FIELD_BEGIN_SIZE + list_header + 1) // + args stop
        .saturating_add(events_size)
}

/// Returns the bytes of the bodies spliced out.
fn encode_call_with<P: Encoder, E: AsEvent>(
    buf: &mut Vec<u8>,
    seqid: i32,
    method: Method,
    events: &[E],
    splice_from: usize,
    splices: &mut Vec<Splice>,
) -> usize {
    let buf = &mut Cursor::new(buf, 64);
    let start = begin_frame(buf);
    P::message_begin(buf, method.name(), MessageType::Call, seqid);
    let events = match method {
        Method::Append => {
            P::field_begin(buf, TType::Struct, ARGS_FIELD, 0);
            &events[..1]
        }
        Method::AppendBatch => {
            P::field_begin(buf, TType::List, ARGS_FIELD, 0);
            P::list_begin(buf, TType::Struct, events.len());
            events
        }
    };
    let mut spliced = 0;
    for (index, event) in events.iter().enumerate() {
        encode_headers::<P, E>(buf, event);
        let body = event.body();
        P::field_begin(buf, TType::String, BODY_FIELD, HEADERS_FIELD);
        if body.len() >= splice_from {
            P::binary_len(buf, body.len());
            splices.push(Splice { at: buf.len(), event: index });
            spliced += body.len();
        } else {
            P::binary(buf, body);
        }
        P::field_stop(buf);
    }
    P::field_stop(buf);
    end_frame(buf, start, spliced);
    spliced
}

/// The start of a `ThriftFlumeEvent`: its headers field, up to the body field.
fn encode_headers<P: Encoder, E: AsEvent>(buf: &mut Cursor<'_>, event: &E) {
    let count = event.header_count();
    P::field_begin(buf, TType::Map, HEADERS_FIELD, 0);
    P::map_begin(buf, TType::String, TType::String, count);
    for i in 0..count {
        let (key, value) = event.header(i);
        P::binary(buf, key);
        P::binary(buf, value);
    }
}

/// Checks that every header string of `event` is UTF-8, naming the first that is not.
pub(crate) fn check_utf8<E: AsEvent>(event: &E) -> Result<()> {
    for h in 0..event.header_count() {
        let (key, value) = event.header(h);
        for (what, string) in [("key", key), ("value", value)] {
            if let Err(e) = std::str::from_utf8(string) {
                return Err(err!(InvalidArg, "header {h} {what} is not UTF-8: {e}"));
            }
        }
    }
    Ok(())
}

/// An event as a server decoded it. Header strings are decoded as Flume does:
/// UTF-8 with invalid bytes replaced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceivedEvent {
    /// Headers in wire order (Flume keeps the last of repeated keys).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// A decoded call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// `append` or `appendBatch`.
    pub method: Method,
    /// The sequence id, to be echoed in the reply.
    pub seqid: i32,
    /// The events: one for `append`, any number for `appendBatch`.
    pub events: Vec<ReceivedEvent>,
}

/// Decodes a call's frame payload (without the length), as a Flume Thrift source would.
pub fn decode_call(protocol: Protocol, payload: &[u8]) -> Result<Call> {
    with_decoder!(protocol, payload, |d| decode_call_with(&mut d))
}

fn decode_call_with<'a, D: Decoder<'a>>(d: &mut D) -> Result<Call> {
    let header = d.message_begin()?;
    if header.kind != MessageType::Call as u8 {
        return Err(err!(Protocol, "message type {} where a call was expected", header.kind));
    }
    let method = match header.name {
        b"append" => Method::Append,
        b"appendBatch" => Method::AppendBatch,
        other => return Err(err!(Protocol, "unknown method '{}'", String::from_utf8_lossy(other))),
    };
    let mut events = Vec::new();
    let mut previous_id = 0;
    while let Some((ttype, id)) = d.field_begin(&mut previous_id)? {
        match (method, id, ttype) {
            (Method::Append, ARGS_FIELD, TType::Struct) => events.push(decode_event(d)?),
            (Method::AppendBatch, ARGS_FIELD, TType::List) => {
                let (element, len) = d.list_begin()?;
                if element != TType::Struct {
                    return Err(err!(Protocol, "appendBatch list of {element:?}, not of events"));
                }
                // Reserve little up front: the count is only bounded by the bytes
                // left, and an event takes more memory than its smallest encoding.
                events.reserve(len.min(1024));
                for _ in 0..len {
                    events.push(decode_event(d)?);
                }
            }
            _ => skip(d, ttype, 1)?,
        }
    }
    if method == Method::Append && events.len() != 1 {
        return Err(err!(Protocol, "append call without its event"));
    }
    Ok(Call { method, seqid: header.seqid, events })
}

fn decode_event<'a, D: Decoder<'a>>(d: &mut D) -> Result<ReceivedEvent> {
    let (mut headers, mut body) = (None, None);
    let mut previous_id = 0;
    while let Some((ttype, id)) = d.field_begin(&mut previous_id)? {
        match (id, ttype) {
            (HEADERS_FIELD, TType::Map) => {
                let (key, value, len) = d.map_begin()?;
                if len > 0 && (key != TType::String || value != TType::String) {
                    return Err(err!(Protocol, "headers map of {key:?} to {value:?}, not strings"));
                }
                let mut map = Vec::with_capacity(len.min(64));
                for _ in 0..len {
                    let k = String::from_utf8_lossy(d.binary()?).into_owned();
                    let v = String::from_utf8_lossy(d.binary()?).into_owned();
                    map.push((k, v));
                }
                headers = Some(map);
            }
            (BODY_FIELD, TType::String) => body = Some(d.binary()?.to_vec()),
            _ => skip(d, ttype, 2)?,
        }
    }
    match (headers, body) {
        (Some(headers), Some(body)) => Ok(ReceivedEvent { headers, body }),
        _ => Err(err!(Protocol, "event without its required headers and body")),
    }
}

#[cfg(test)]
mod high_bits_tests {
    use super::high_bits;

    #[test]
    fn a_byte_above_ascii_is_found_at_any_position_of_any_length() {
        for len in 0..48 {
            let ascii = vec![b'a'; len];
            assert_eq!(high_bits(&ascii) & 0x8080_8080_8080_8080, 0, "len {len}");
            for at in 0..len {
                let mut s = ascii.clone();
                s[at] = 0xc3;
                assert_ne!(high_bits(&s) & 0x8080_8080_8080_8080, 0, "len {len}, byte {at}");
            }
        }
    }
}
