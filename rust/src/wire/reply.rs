//! The reply a server sends: a `Status`, or a `TApplicationException`.
//!
//! Decoding validates in the order that catches every fault: protocol id and
//! version, seqid, method name, exception, message type, result field 0, enum
//! range. The frame length was checked by the caller (`wire::frame_len`).

use super::Protocol;
use super::{
    begin_frame, binary::BinaryEncoder, compact::CompactEncoder, end_frame, skip, with_decoder, Cursor, Decoder,
    Encoder, MessageType, Method, TType,
};
use crate::error::{err, Error, Result};

/// Flume's `Status` enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Status {
    /// Accepted: the events are in the source's channel.
    Ok = 0,
    /// The channel is full; nothing of the call was accepted.
    Failed = 1,
    /// Never sent by Flume, but legal.
    Error = 2,
    /// Never sent by Flume, but legal.
    Unknown = 3,
}

// Field ids of the IDL's result struct and of TApplicationException.
const SUCCESS_FIELD: i16 = 0;
const EXCEPTION_MESSAGE_FIELD: i16 = 1;
const EXCEPTION_TYPE_FIELD: i16 = 2;

/// Appends a framed reply carrying `status` to `buf`, as a Flume Thrift source sends it.
pub fn encode_reply(protocol: Protocol, buf: &mut Vec<u8>, seqid: i32, method: Method, status: Status) {
    match protocol {
        Protocol::Compact => encode_reply_with::<CompactEncoder>(buf, seqid, method, status),
        Protocol::Binary => encode_reply_with::<BinaryEncoder>(buf, seqid, method, status),
    }
}

fn encode_reply_with<P: Encoder>(buf: &mut Vec<u8>, seqid: i32, method: Method, status: Status) {
    let buf = &mut Cursor::new(buf, 32);
    let start = begin_frame(buf);
    P::message_begin(buf, method.name(), MessageType::Reply, seqid);
    P::field_begin(buf, TType::I32, SUCCESS_FIELD, 0);
    P::i32(buf, status as i32);
    P::field_stop(buf);
    end_frame(buf, start, 0);
}

/// Decodes a reply's frame payload (without the length) to the call `seqid`
/// of `method`. `Ok(())` means the server answered `OK`.
pub fn decode_reply(protocol: Protocol, payload: &[u8], seqid: i32, method: Method) -> Result<()> {
    with_decoder!(protocol, payload, |d| decode_reply_with(&mut d, seqid, method, None))
}

/// `decode_reply` for a call of `events` events, which a `FAILED` answer's
/// message names: a real Flume source answers `FAILED` both for a full
/// channel and for a call larger than the channel's `transactionCapacity`.
pub fn decode_reply_to_call(
    protocol: Protocol,
    payload: &[u8],
    seqid: i32,
    method: Method,
    events: usize,
) -> Result<()> {
    if is_ok_reply(protocol, payload, seqid, method) {
        return Ok(());
    }
    with_decoder!(protocol, payload, |d| decode_reply_with(&mut d, seqid, method, Some(events)))
}

/// Whether `payload` is, byte for byte, the `OK` reply to the call `seqid`
/// of `method` as Thrift's servers write it (`encode_reply`): the answer to
/// nearly every call, recognised by one comparison instead of a decoding.
/// Any other payload (another status, an exception, another but legal
/// encoding) goes to the decoder.
#[inline]
fn is_ok_reply(protocol: Protocol, payload: &[u8], seqid: i32, method: Method) -> bool {
    // At most 2 + 5 + 1 + 11 + 4 (compact) or 4 + 4 + 11 + 4 + 3 + 4 + 1 (binary) bytes.
    let mut expected = [0u8; 32];
    let name = method.name().as_bytes();
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        expected[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    match protocol {
        Protocol::Compact => {
            put(&[0x82, ((MessageType::Reply as u8) << 5) | 1]);
            let mut v = seqid as u32;
            while v >= 0x80 {
                put(&[(v as u8) | 0x80]);
                v >>= 7;
            }
            put(&[v as u8, name.len() as u8]);
            put(name);
            // Field 0 (a long-form header: no delta from 0), an i32, zigzag 0; the stop.
            put(&[0x05, 0x00, 0x00, 0x00]);
        }
        Protocol::Binary => {
            put(&(0x8001_0000u32 | MessageType::Reply as u32).to_be_bytes());
            put(&(name.len() as u32).to_be_bytes());
            put(name);
            put(&seqid.to_be_bytes());
            // Field 0, an i32 (type 8), value 0; the stop.
            put(&[0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
        }
    }
    payload == &expected[..at]
}

/// The error of a `FAILED` answer to a call of `events` events (if known).
/// Flume's ChannelProcessor answers `FAILED` for any ChannelException: a full
/// channel (after the memory channel's keep-alive, 3 s by default), or more
/// events in one transaction than the channel's `transactionCapacity` (100 by
/// default; answered at once and every time, so retrying cannot help).
fn failed(events: Option<usize>) -> Error {
    match events {
        Some(1) => err!(
            Failed,
            "server answered FAILED to a call of 1 event: its channel is full (no room within the channel's \
             keep-alive, 3 s by default); nothing of the call was accepted"
        ),
        Some(n) => err!(
            Failed,
            "server answered FAILED to a call of {n} events: either its channel is full (no room within the \
             channel's keep-alive, 3 s by default), or {n} events are more than the channel's transactionCapacity \
             (100 by default; then every such call fails at once: lower batch-size to at most transactionCapacity \
             or raise it); nothing of the call was accepted"
        ),
        None => err!(
            Failed,
            "server answered FAILED: either its channel is full, or the call had more events than the channel's \
             transactionCapacity; nothing of the call was accepted"
        ),
    }
}

fn decode_reply_with<'a, D: Decoder<'a>>(d: &mut D, seqid: i32, method: Method, events: Option<usize>) -> Result<()> {
    let header = d.message_begin()?;
    if header.seqid != seqid {
        return Err(err!(
            Protocol,
            "reply has seqid {} but the call had {seqid}: the connection is out of step",
            header.seqid
        ));
    }
    if header.name != method.name().as_bytes() {
        return Err(err!(
            Protocol,
            "reply is for method '{}' but the call was '{}'",
            String::from_utf8_lossy(header.name),
            method.name()
        ));
    }
    if header.kind == MessageType::Exception as u8 {
        return Err(decode_exception(d)?);
    }
    if header.kind != MessageType::Reply as u8 {
        return Err(err!(Protocol, "message type {} where a reply was expected", header.kind));
    }
    let mut status = None;
    let mut previous_id = 0;
    while let Some((ttype, id)) = d.field_begin(&mut previous_id)? {
        match (id, ttype) {
            (SUCCESS_FIELD, TType::I32) => status = Some(d.i32()?),
            _ => skip(d, ttype, 1)?,
        }
    }
    match status {
        None => Err(err!(Protocol, "reply to {} has no result (field 0)", method.name())),
        Some(0) => Ok(()),
        Some(1) => Err(failed(events)),
        Some(2) => Err(err!(Server, "server answered ERROR; nothing of the call was accepted")),
        Some(3) => Err(err!(Server, "server answered UNKNOWN; nothing of the call was accepted")),
        Some(other) => Err(err!(Server, "server answered status {other}, outside Flume's Status enum")),
    }
}

/// Reads a `TApplicationException` into a `Server` error naming its type and message.
fn decode_exception<'a, D: Decoder<'a>>(d: &mut D) -> Result<Error> {
    let (mut message, mut kind) = (String::new(), 0);
    let mut previous_id = 0;
    while let Some((ttype, id)) = d.field_begin(&mut previous_id)? {
        match (id, ttype) {
            (EXCEPTION_MESSAGE_FIELD, TType::String) => message = String::from_utf8_lossy(d.binary()?).into_owned(),
            (EXCEPTION_TYPE_FIELD, TType::I32) => kind = d.i32()?,
            _ => skip(d, ttype, 1)?,
        }
    }
    Ok(err!(Server, "server raised TApplicationException {} ({kind}): {message}", exception_type_name(kind)))
}

fn exception_type_name(kind: i32) -> &'static str {
    match kind {
        1 => "UNKNOWN_METHOD",
        2 => "INVALID_MESSAGE_TYPE",
        3 => "WRONG_METHOD_NAME",
        4 => "BAD_SEQUENCE_ID",
        5 => "MISSING_RESULT",
        6 => "INTERNAL_ERROR",
        7 => "PROTOCOL_ERROR",
        8 => "INVALID_TRANSFORM",
        9 => "INVALID_PROTOCOL",
        10 => "UNSUPPORTED_CLIENT_TYPE",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(protocol: Protocol, seqid: i32, method: Method, status: Status) -> Vec<u8> {
        let mut frame = Vec::new();
        encode_reply(protocol, &mut frame, seqid, method, status);
        frame.split_off(super::super::FRAME_HEADER_LEN)
    }

    #[test]
    fn the_ok_fast_path_recognises_the_ok_replies_of_thrifts_own_library() {
        // Apache Thrift 0.17's Python library's (tests/data/wire-vectors.txt), payloads.
        let compact = [0x82, 0x41, 0x01, 0x06, b'a', b'p', b'p', b'e', b'n', b'd', 0x05, 0, 0, 0];
        assert!(is_ok_reply(Protocol::Compact, &compact, 1, Method::Append));
        let mut binary = vec![0x80, 0x01, 0x00, 0x02, 0, 0, 0, 6];
        binary.extend_from_slice(b"append");
        binary.extend_from_slice(&[0, 0, 0, 1, 0x08, 0, 0, 0, 0, 0, 0, 0]);
        assert!(is_ok_reply(Protocol::Binary, &binary, 1, Method::Append));
    }

    #[test]
    fn the_ok_fast_path_recognises_exactly_the_ok_reply_to_the_call() {
        let seqids = [0, 1, 127, 128, 300, 1 << 21, (1 << 28) + 5, i32::MAX, -1, i32::MIN];
        for protocol in [Protocol::Compact, Protocol::Binary] {
            for method in [Method::Append, Method::AppendBatch] {
                for seqid in seqids {
                    let ok = payload(protocol, seqid, method, Status::Ok);
                    assert!(is_ok_reply(protocol, &ok, seqid, method), "{protocol:?} {method:?} {seqid}");
                    assert!(!is_ok_reply(protocol, &ok, seqid.wrapping_add(1), method), "another seqid");
                    let other = if method == Method::Append { Method::AppendBatch } else { Method::Append };
                    assert!(!is_ok_reply(protocol, &ok, seqid, other), "another method");
                    assert!(!is_ok_reply(protocol, &ok[..ok.len() - 1], seqid, method), "cut short");
                    let mut longer = ok.clone();
                    longer.push(0);
                    assert!(!is_ok_reply(protocol, &longer, seqid, method), "a byte more");
                    for status in [Status::Failed, Status::Error, Status::Unknown] {
                        let reply = payload(protocol, seqid, method, status);
                        assert!(!is_ok_reply(protocol, &reply, seqid, method), "{status:?}");
                        // Not OK: the decoder says what it is.
                        assert!(decode_reply_to_call(protocol, &reply, seqid, method, 2).is_err(), "{status:?}");
                    }
                }
            }
        }
    }
}
