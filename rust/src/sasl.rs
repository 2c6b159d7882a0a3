//! Apache Thrift's SASL negotiation framing (`TSaslTransport`,
//! `doc/specs/thrift-sasl-spec.txt`) and the RFC 4752 security-layer message
//! of the GSSAPI mechanism: pure byte handling, no I/O and no GSSAPI, so it is
//! tested on its own.
//!
//! A negotiation message is one status byte, a 4-byte big-endian payload
//! length and the payload. With QOP `auth` (the only one Flume's source
//! offers) the data frames after the negotiation are a 4-byte length and the
//! Thrift message, exactly what the framed transport sends: nothing here is
//! needed after `COMPLETE`.

use std::fmt;

/// The mechanism Flume's Thrift source offers.
pub(crate) const MECHANISM: &[u8] = b"GSSAPI";

/// Status byte and payload length.
pub(crate) const HEADER_LEN: usize = 5;

/// The largest negotiation payload accepted from a server. Java's side
/// accepts up to 100 MB; a Kerberos token is a few kilobytes (an AP-REP, a
/// 32-byte wrap token), so anything near the cap is a stray peer, not a token.
pub(crate) const MAX_PAYLOAD: usize = 1 << 20;

/// The status byte of a negotiation message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Start = 1,
    Ok = 2,
    Bad = 3,
    Error = 4,
    Complete = 5,
}

impl Status {
    fn from_byte(byte: u8) -> Option<Status> {
        Some(match byte {
            1 => Status::Start,
            2 => Status::Ok,
            3 => Status::Bad,
            4 => Status::Error,
            5 => Status::Complete,
            _ => return None,
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Start => "START",
            Status::Ok => "OK",
            Status::Bad => "BAD",
            Status::Error => "ERROR",
            Status::Complete => "COMPLETE",
        })
    }
}

/// Appends one negotiation message to `out`.
pub(crate) fn encode(status: Status, payload: &[u8], out: &mut Vec<u8>) {
    out.push(status as u8);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Why received bytes are not a negotiation message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The first byte is no status: the peer does not speak SASL (a plain
    /// Thrift source answering with a frame, or something else entirely).
    BadStatus(u8),
    /// A payload longer than `MAX_PAYLOAD`.
    TooLong(u32),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::BadStatus(b) => {
                write!(f, "byte 0x{b:02x} is not a SASL negotiation status")
            }
            DecodeError::TooLong(n) => write!(f, "a SASL negotiation message of {n} bytes (at most {MAX_PAYLOAD})"),
        }
    }
}

/// A decoded message: its status, its payload, and the bytes it took.
pub(crate) type Message<'a> = (Status, &'a [u8], usize);

/// One negotiation message from the front of `bytes`: `Ok(None)` while it is
/// incomplete.
pub(crate) fn decode(bytes: &[u8]) -> Result<Option<Message<'_>>, DecodeError> {
    let Some(&first) = bytes.first() else {
        return Ok(None);
    };
    let status = Status::from_byte(first).ok_or(DecodeError::BadStatus(first))?;
    if bytes.len() < HEADER_LEN {
        return Ok(None);
    }
    let len = u32::from_be_bytes(bytes[1..HEADER_LEN].try_into().expect("4 bytes"));
    if len as usize > MAX_PAYLOAD {
        return Err(DecodeError::TooLong(len));
    }
    let end = HEADER_LEN + len as usize;
    if bytes.len() < end {
        return Ok(None);
    }
    Ok(Some((status, &bytes[HEADER_LEN..end], end)))
}

/// Whether the first four bytes of what a plain (not SASL) client received
/// are a SASL source's refusal: BAD or ERROR and the top bytes of a short
/// length. As a frame length that is 50 MB or more, never a reply.
pub(crate) fn looks_like_refusal(header: [u8; 4]) -> bool {
    matches!(header, [0x03 | 0x04, 0x00, 0x00, _])
}

/// RFC 4752's security layer bit for "no security layer".
pub(crate) const LAYER_NONE: u8 = 0x01;

/// The server's security-layer offer (RFC 4752 section 3.1, the unwrapped
/// payload of its last challenge): the layers it supports and its largest
/// buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LayerOffer {
    pub(crate) layers: u8,
    pub(crate) max_buffer: u32,
}

/// Parses the offer. Java's server offers a non-zero `max_buffer` even when
/// it offers no layer but "none"; that is accepted (the size only matters
/// for a layer that wraps data).
pub(crate) fn parse_offer(unwrapped: &[u8]) -> Result<LayerOffer, String> {
    match unwrapped {
        [layers, a, b, c] => Ok(LayerOffer { layers: *layers, max_buffer: u32::from_be_bytes([0, *a, *b, *c]) }),
        _ => Err(format!(
            "the server's security-layer offer is {} bytes, not 4 (RFC 4752): {:02x?}",
            unwrapped.len(),
            &unwrapped[..unwrapped.len().min(16)]
        )),
    }
}

/// The client's answer to be wrapped: no security layer, buffer size 0, and
/// an empty authorization id (no trailing NUL: Java's server would take the
/// NUL as part of the id, which then differs from the authenticated one).
pub(crate) fn layer_choice() -> [u8; 4] {
    [LAYER_NONE, 0, 0, 0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_message_is_status_length_and_mechanism() {
        let mut out = Vec::new();
        encode(Status::Start, MECHANISM, &mut out);
        encode(Status::Ok, &[0xaa, 0xbb], &mut out);
        assert_eq!(out, b"\x01\x00\x00\x00\x06GSSAPI\x02\x00\x00\x00\x02\xaa\xbb");
    }

    #[test]
    fn decode_waits_for_whole_messages_and_reports_what_it_took() {
        let mut bytes = Vec::new();
        encode(Status::Complete, b"", &mut bytes);
        encode(Status::Bad, b"GSS initiate failed", &mut bytes);
        for cut in 0..HEADER_LEN {
            assert_eq!(decode(&bytes[..cut]), Ok(None), "cut at {cut}");
        }
        let (status, payload, used) = decode(&bytes).unwrap().unwrap();
        assert_eq!((status, payload, used), (Status::Complete, &b""[..], 5));
        let rest = &bytes[used..];
        assert_eq!(decode(&rest[..rest.len() - 1]), Ok(None));
        let (status, payload, used) = decode(rest).unwrap().unwrap();
        assert_eq!((status, payload, used), (Status::Bad, &b"GSS initiate failed"[..], rest.len()));
    }

    #[test]
    fn a_framed_reply_is_no_negotiation_message() {
        // A plain source's reply frame starts with its length's top byte, 0.
        assert_eq!(decode(&[0, 0, 0, 0x13, 0x82]), Err(DecodeError::BadStatus(0)));
        assert_eq!(decode(&[0x82, 0x21]), Err(DecodeError::BadStatus(0x82)));
        assert_eq!(decode(&[2, 0x01, 0, 0, 1]), Err(DecodeError::TooLong(0x0100_0001)));
        assert_eq!(decode(&[2, 0x00, 0x10, 0, 0]).map(|m| m.is_none()), Ok(true));
    }

    #[test]
    fn sasl_refusals_are_recognised_and_frame_lengths_are_not() {
        assert!(looks_like_refusal([0x04, 0, 0, 0x10]));
        assert!(looks_like_refusal([0x03, 0, 0, 0x00]));
        assert!(!looks_like_refusal([0x00, 0, 0, 0x13]));
        assert!(!looks_like_refusal([0x02, 0, 0, 0x13]));
        assert!(!looks_like_refusal([0x04, 0, 1, 0x13]));
    }

    #[test]
    fn java_offer_of_no_layer_with_a_buffer_is_accepted() {
        // Java's GssKrb5Server with QOP auth: layer "none" and max buffer 65536.
        let offer = parse_offer(&[0x01, 0x01, 0x00, 0x00]).unwrap();
        assert_eq!(offer, LayerOffer { layers: LAYER_NONE, max_buffer: 65536 });
        assert!(parse_offer(&[0x01, 0, 0]).unwrap_err().contains("3 bytes, not 4"));
        assert!(parse_offer(&[0x01, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn choice_is_no_layer_no_buffer_and_an_empty_authzid() {
        assert_eq!(layer_choice(), [0x01, 0x00, 0x00, 0x00]);
    }
}
