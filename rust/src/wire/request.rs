//! `Request`: a call encoded before it is sent, checked in the same pass.
//!
//! The client encodes a call's events into a reused buffer first, and the
//! walk that copies each header string also measures it and checks its
//! bytes: the size against `max-frame-size` and the UTF-8 of the headers
//! come out of the encoding, not out of a pass of their own. A call whose
//! events fail the checks is never sent (its bytes are discarded).
//!
//! The events go after a gap (`HEADROOM`) where `set_seqid` writes the
//! frame length, the message header and the argument's list header once
//! they are known: the count of events that fit, and the seqid of the
//! connection the call goes out on (a retry on another host writes them
//! again without encoding the events again).

use super::call::{call_size_with, check_utf8, segments_from, ARGS_FIELD};
use super::AsEvent;
use super::Protocol;
use super::{binary::BinaryEncoder, compact::CompactEncoder, Cursor, Encoder, HeaderSink, MessageType, Method};
use super::{Splice, TType, FRAME_HEADER_LEN};
use crate::error::{err, Error, Result};

/// Bytes before the events, for the frame length and everything the call
/// puts before its first event (at most 35 bytes, binary `appendBatch`).
const HEADROOM: usize = 64;

/// What one call may hold.
#[derive(Clone, Copy, Debug)]
pub struct CallLimits {
    /// At most this many events (`batch-size`).
    pub max_events: usize,
    /// At most this many bytes of frame payload (`max-frame-size`).
    pub max_frame_size: usize,
    /// Bodies of this many bytes or more are left out of the buffer and sent
    /// from the caller's memory (see `Splice`); `usize::MAX`: none.
    pub splice_from: usize,
}

/// A call encoded by `Request::encode`, reused from call to call (in steady
/// state it allocates nothing).
#[derive(Debug, Default)]
pub struct Request {
    buf: Vec<u8>,
    splices: Vec<Splice>,
    /// Bytes of the bodies spliced out.
    spliced: usize,
    /// The protocol and method of the call encoded, if one is.
    call: Option<(Protocol, Method)>,
    /// Events in the call.
    count: usize,
    /// Where the frame starts in `buf` (set by `set_seqid`).
    start: usize,
    /// Where `check` encodes headers it only checks.
    scratch: Vec<u8>,
}

impl Request {
    /// Encodes the leading `events` that fit in one call under `limits`
    /// (for `Method::Append`, `events[0]` alone) and returns how many; at
    /// least one, unless `events` is empty.
    ///
    /// Each event is checked as it is encoded: its header strings (UTF-8),
    /// what its `write_headers` reports (the C boundary's NULL strings),
    /// and, for the first, that it fits in a frame alone. A failure names
    /// the event (`event N: ...`) and leaves no call encoded. An event after
    /// the first that does not fit ends the call before it, unchecked past
    /// what its encoding saw: the caller checks the events it still has to
    /// send before sending this call.
    pub fn encode<E: AsEvent>(
        &mut self,
        protocol: Protocol,
        method: Method,
        events: &[E],
        limits: &CallLimits,
    ) -> Result<usize> {
        self.call = None;
        let count = match protocol {
            Protocol::Compact => self.encode_with::<CompactEncoder, E>(true, method, events, limits),
            Protocol::Binary => self.encode_with::<BinaryEncoder, E>(false, method, events, limits),
        }?;
        self.call = Some((protocol, method));
        self.count = count;
        Ok(count)
    }

    /// Events in the call encoded.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The method of the call encoded.
    pub fn method(&self) -> Option<Method> {
        self.call.map(|(_, method)| method)
    }

    /// Bytes the request holds on to.
    pub fn capacity(&self) -> usize {
        self.buf.capacity() + self.scratch.capacity() + self.splices.capacity() * std::mem::size_of::<Splice>()
    }

    /// Completes the frame with `seqid` (which may change between attempts)
    /// and returns its full length, the 4-byte frame length included.
    ///
    /// # Panics
    /// If no call is encoded.
    pub fn set_seqid(&mut self, seqid: i32) -> usize {
        let (protocol, method) = self.call.expect("a call is encoded");
        match protocol {
            Protocol::Compact => self.write_prefix::<CompactEncoder>(method, seqid),
            Protocol::Binary => self.write_prefix::<BinaryEncoder>(method, seqid),
        }
    }

    /// The bytes of the frame completed by `set_seqid`, in order: pieces of
    /// the buffer and the spliced bodies of `events` (the events encoded).
    pub fn segments<'a, E: AsEvent>(&'a self, events: &'a [E]) -> impl Iterator<Item = &'a [u8]> {
        segments_from(&self.buf, self.start, &self.splices, events)
    }

    /// Checks `events[first..]` as `encode` checks the events it encodes
    /// (naming them by their index in `events`), without touching the call
    /// encoded: for the events of a call's later calls, all checked before
    /// the first is sent, and for an event queued by `send`. Returns the
    /// encoded size of the events checked (what `event_size` gives).
    pub fn check<E: AsEvent>(
        &mut self,
        protocol: Protocol,
        method: Method,
        events: &[E],
        first: usize,
        max_frame_size: usize,
    ) -> Result<usize> {
        match protocol {
            Protocol::Compact => self.check_with::<CompactEncoder, E>(true, method, events, first, max_frame_size),
            Protocol::Binary => self.check_with::<BinaryEncoder, E>(false, method, events, first, max_frame_size),
        }
    }

    fn check_with<P: Encoder, E: AsEvent>(
        &mut self,
        compact: bool,
        method: Method,
        events: &[E],
        first: usize,
        max_frame: usize,
    ) -> Result<usize> {
        let mut events_size = 0usize;
        for (index, event) in events.iter().enumerate().skip(first) {
            // Each event's headers are encoded into the scratch buffer, over the previous one's.
            self.scratch.clear();
            let mut sink = HeaderSink::new(Cursor::new(&mut self.scratch, 0), compact);
            encode_headers::<P, E>(&mut sink, event, index)?;
            let size = (sink.buf.len().saturating_add(P::FIELD_BEGIN_SIZE + 1))
                .saturating_add(P::binary_size(event.body().len()));
            let call_size = call_size_with::<P>(method, 1, size);
            if call_size > max_frame {
                return Err(too_large(index, call_size, max_frame));
            }
            events_size = events_size.saturating_add(size);
        }
        Ok(events_size)
    }

    fn write_prefix<P: Encoder>(&mut self, method: Method, seqid: i32) -> usize {
        let end = self.buf.len();
        {
            // Written after the events, then moved into the headroom.
            let buf = &mut Cursor::new(&mut self.buf, HEADROOM);
            P::message_begin(buf, method.name(), MessageType::Call, seqid);
            match method {
                Method::Append => P::field_begin(buf, TType::Struct, ARGS_FIELD, 0),
                Method::AppendBatch => {
                    P::field_begin(buf, TType::List, ARGS_FIELD, 0);
                    P::list_begin(buf, TType::Struct, self.count);
                }
            }
        }
        let prefix_len = self.buf.len() - end;
        assert!(prefix_len + FRAME_HEADER_LEN <= HEADROOM);
        self.buf.copy_within(end.., HEADROOM - prefix_len);
        self.buf.truncate(end);
        self.start = HEADROOM - prefix_len - FRAME_HEADER_LEN;
        let payload = prefix_len + (end - HEADROOM) + self.spliced;
        self.buf[self.start..self.start + FRAME_HEADER_LEN].copy_from_slice(&(payload as u32).to_be_bytes());
        FRAME_HEADER_LEN + payload
    }

    fn encode_with<P: Encoder, E: AsEvent>(
        &mut self,
        compact: bool,
        method: Method,
        events: &[E],
        limits: &CallLimits,
    ) -> Result<usize> {
        let events = match method {
            Method::Append if events.is_empty() => return Err(err!(InvalidArg, "append needs an event")),
            Method::Append => &events[..1],
            Method::AppendBatch => &events[..events.len().min(limits.max_events)],
        };
        let Request { buf, splices, spliced, .. } = self;
        buf.clear();
        buf.resize(HEADROOM, 0);
        splices.clear();
        *spliced = 0;
        let max_frame = limits.max_frame_size;
        // The call's size with the events so far, at its largest (the list
        // header of a full call, a 5-byte seqid): checked at each event, and
        // the exact size only when this bound is passed.
        let prefix_bound = call_size_with::<P>(method, events.len(), 0);
        // The cursor stays a local of this loop (in registers): the sink
        // that `write_headers` gets takes it over for the headers only.
        let mut cur = Cursor::new(buf, events.len().saturating_mul(64));
        let (mut count, mut events_size) = (0, 0usize);
        for (index, event) in events.iter().enumerate() {
            let start = cur.len();
            let headers = event.header_count();
            // SAFETY: `write_part` gives `EVENT_PART_MAX` writable bytes.
            cur.write_part(|dst| unsafe { P::event_begin(dst, headers) });
            let mut sink = HeaderSink::new(cur, compact);
            let written = event.write_headers(&mut sink);
            let (ascii, strings) = (sink.ascii(), sink.strings);
            cur = sink.buf;
            if let Err(e) = written {
                return Err(event_error(index, &e));
            }
            if Some(strings) != headers.checked_mul(2) {
                return Err(wrong_count(index, strings, headers));
            }
            if !ascii {
                check_utf8(event).map_err(|e| event_error(index, &e))?;
            }
            let body = event.body();
            // SAFETY: as above.
            cur.write_part(|dst| unsafe { P::body_begin(dst, body.len()) });
            let size = (cur.len() - start).saturating_add(body.len()) + 1; // + the event's stop
            let total = events_size.saturating_add(size);
            if total.saturating_add(prefix_bound) > max_frame {
                let call_size = call_size_with::<P>(method, count + 1, total);
                if call_size > max_frame {
                    if count == 0 {
                        return Err(too_large(index, call_size, max_frame));
                    }
                    cur.pos = start; // the next call's first event
                    break;
                }
            }
            if body.len() >= limits.splice_from {
                splices.push(Splice { at: cur.len(), event: index });
                *spliced += body.len();
            } else {
                cur.extend_body(body);
            }
            P::field_stop(&mut cur);
            events_size = total;
            count += 1;
        }
        P::field_stop(&mut cur); // the arguments' stop
        Ok(count)
    }
}

/// Encodes an event's headers field into `sink` and checks its strings.
#[inline(always)]
fn encode_headers<P: Encoder, E: AsEvent>(sink: &mut HeaderSink<'_>, event: &E, index: usize) -> Result<()> {
    let headers = event.header_count();
    // SAFETY: `write_part` gives `EVENT_PART_MAX` writable bytes.
    sink.buf.write_part(|dst| unsafe { P::event_begin(dst, headers) });
    if let Err(e) = event.write_headers(sink) {
        return Err(event_error(index, &e));
    }
    if Some(sink.strings) != headers.checked_mul(2) {
        return Err(wrong_count(index, sink.strings, headers));
    }
    if !sink.ascii() {
        check_utf8(event).map_err(|e| event_error(index, &e))?;
    }
    Ok(())
}

#[cold]
fn event_error(index: usize, e: &Error) -> Error {
    Error::new(e.kind(), format!("event {index}: {}", e.message()))
}

#[cold]
fn wrong_count(index: usize, strings: usize, headers: usize) -> Error {
    err!(Internal, "event {index}: its write_headers wrote {strings} strings for {headers} headers")
}

#[cold]
fn too_large(index: usize, call_size: usize, max_frame: usize) -> Error {
    err!(TooLarge, "event {index} needs a frame of {call_size} bytes, more than max-frame-size ({max_frame})")
}
