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
use super::{Splice, TType, EVENT_PART_MAX, FRAME_HEADER_LEN};
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
        self.segments_with(move |event| events[event].body())
    }

    /// `segments`, with `spliced(i)` the bytes spliced out for event `i`:
    /// its body (`encode`) or its whole encoding (`encode_encoded`).
    pub fn segments_with<'a>(&'a self, spliced: impl Fn(usize) -> &'a [u8] + 'a) -> impl Iterator<Item = &'a [u8]> {
        segments_from(&self.buf, self.start, &self.splices, spliced)
    }

    /// Checks `event` as `check` does and returns its encoding as an element
    /// of `appendBatch`'s list (what `encode` would write for it), for the
    /// send queue: its headers in this request's scratch buffer, its body
    /// still the caller's. `encode_encoded` makes calls of such encodings.
    #[inline(always)]
    pub fn encode_event<'a, E: AsEvent>(
        &'a mut self,
        protocol: Protocol,
        event: &'a E,
        max_frame_size: usize,
    ) -> Result<EncodedEvent<'a>> {
        match protocol {
            Protocol::Compact => self.encode_event_with::<CompactEncoder, E>(true, event, max_frame_size),
            Protocol::Binary => self.encode_event_with::<BinaryEncoder, E>(false, event, max_frame_size),
        }
    }

    #[inline(always)]
    fn encode_event_with<'a, P: Encoder, E: AsEvent>(
        &'a mut self,
        compact: bool,
        event: &'a E,
        max_frame_size: usize,
    ) -> Result<EncodedEvent<'a>> {
        let (encoded_size, header_bytes) =
            self.check_one::<P, E>(compact, Method::AppendBatch, event, 0, max_frame_size)?;
        let body = event.body();
        // The body field's header and length go after the headers, in the
        // scratch buffer too: the encoding is then two pieces and a stop byte.
        let mut cur = Cursor::new(&mut self.scratch, 0);
        // SAFETY: `write_part` gives `EVENT_PART_MAX` writable bytes.
        cur.write_part(|dst| unsafe { P::body_begin(dst, body.len()) });
        drop(cur);
        let size = header_bytes + body.len();
        let encoded = EncodedEvent { head: &self.scratch, body, size };
        debug_assert_eq!(encoded.len(), encoded_size);
        Ok(encoded)
    }

    /// Encodes an `appendBatch` call of `count` events encoded beforehand
    /// (`EncodedEvent::write_to`), which the caller checked fit in one call:
    /// their encodings back to back in `pieces` pieces, `piece(i)` for
    /// i < `pieces` (one per event, or several events' in one). A piece of
    /// `splice_from` bytes or more is left in the caller's memory
    /// (`segments_with`, whose `spliced(i)` is then `piece(i)`).
    pub fn encode_encoded<'a>(
        &mut self,
        protocol: Protocol,
        count: usize,
        pieces: usize,
        piece: impl Fn(usize) -> &'a [u8],
        splice_from: usize,
    ) {
        let Request { buf, splices, spliced, .. } = self;
        buf.clear();
        buf.resize(HEADROOM, 0);
        splices.clear();
        *spliced = 0;
        // Of the queue's copied events a call copies at most two pieces, its
        // first and last (a piece between them is a whole chunk of the queue,
        // far larger): room for both from the first call on, so that the
        // buffer does not grow later with the shape of some call. (Borrowed
        // bodies add small pieces of their own: their heads and stop bytes.)
        let mut cur = Cursor::new(buf, 2 * splice_from.min(super::SPLICED_BODY_MIN));
        for index in 0..pieces {
            let bytes = piece(index);
            if bytes.len() >= splice_from {
                splices.push(Splice { at: cur.len(), event: index });
                *spliced += bytes.len();
            } else {
                cur.extend_body(bytes);
            }
        }
        cur.push(0); // the arguments' stop (the same byte in both protocols)
        self.call = Some((protocol, Method::AppendBatch));
        self.count = count;
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
        // The last event whose headers were checked, and the length of its
        // headers field: an event with the same headers (`header_words`)
        // needs only its size checked.
        let mut checked: Option<(&E, usize)> = None;
        for (index, event) in events.iter().enumerate().skip(first) {
            let head = match checked {
                Some((earlier, head)) if same_words(event, earlier) => head,
                _ => {
                    let (head, _) = self.check_headers_of::<P, E>(compact, event, index)?;
                    checked = Some((event, head));
                    head
                }
            };
            events_size = events_size.saturating_add(check_size::<P>(method, head, event, index, max_frame)?);
        }
        Ok(events_size)
    }

    /// Checks `event` (`events[index]`) as `check` does, its headers encoded
    /// into the scratch buffer, over the previous event's. Returns its
    /// encoded size and the bytes of its header strings.
    #[inline(always)]
    fn check_one<P: Encoder, E: AsEvent>(
        &mut self,
        compact: bool,
        method: Method,
        event: &E,
        index: usize,
        max_frame: usize,
    ) -> Result<(usize, usize)> {
        let (head, header_bytes) = self.check_headers_of::<P, E>(compact, event, index)?;
        Ok((check_size::<P>(method, head, event, index, max_frame)?, header_bytes))
    }

    /// Checks the headers of `event` (`events[index]`), encoded into the
    /// scratch buffer. Returns the length of its headers field and the bytes
    /// of its header strings.
    #[inline(always)]
    fn check_headers_of<P: Encoder, E: AsEvent>(
        &mut self,
        compact: bool,
        event: &E,
        index: usize,
    ) -> Result<(usize, usize)> {
        self.scratch.clear();
        let mut sink = HeaderSink::new(Cursor::new(&mut self.scratch, 0), compact);
        // SAFETY: `write_part` gives `EVENT_PART_MAX` writable bytes.
        sink.buf.write_part(|dst| unsafe { P::event_begin(dst, event.header_count()) });
        let strings_start = sink.buf.len();
        check_headers(&mut sink, event, || index)?;
        // What the strings wrote, but their length prefixes.
        let header_bytes = sink.buf.len() - strings_start - sink.prefix_bytes();
        Ok((sink.buf.len(), header_bytes))
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
        // The events' bytes that fit whatever the call's prefix (at its
        // largest: the list header of a full call, a 5-byte seqid): checked
        // at each event, and the exact size only when this bound is passed.
        let events_budget = max_frame.saturating_sub(call_size_with::<P>(method, events.len(), 0));
        // The cursor stays a local of this loop (in registers): the sink
        // that `write_headers` gets takes it over for the headers only.
        let mut cur = Cursor::new(buf, events.len().saturating_mul(64));
        // The events' bytes so far are `cur.pos - HEADROOM + *spliced`: the
        // budget as a bound on that sum, tested once per event.
        let budget_end = events_budget.saturating_add(HEADROOM);
        // Events that all have the first one's headers (`header_words`) have
        // them encoded once, for the first, and copied for the others. The
        // test walks the events until one differs (at the second, typically,
        // when they do not share), so the loop only compares a pointer.
        let shared_headers = events.len() > 1 && events.iter().all(|event| same_words(event, &events[0]));
        let mut first_headers = 0..0;
        let (first, end) = (events.as_ptr(), events.as_ptr_range().end);
        // The first event whose headers are copied (none: `end`).
        let copied_from = if shared_headers { first.wrapping_add(1) } else { end };
        let mut at = first;
        let count = 'events: {
            while at != end {
                // SAFETY: `at` is in `events`.
                let event = unsafe { &*at };
                // The index for errors only: from the pointer, no counter.
                let index = || unsafe { at.offset_from(first) } as usize;
                let start = cur.len();
                if at >= copied_from {
                    cur.copy_earlier(first_headers.clone());
                } else {
                    let headers = event.header_count();
                    // SAFETY: `write_part` gives `EVENT_PART_MAX` writable bytes.
                    cur.write_part(|dst| unsafe { P::event_begin(dst, headers) });
                    // The sink writes through a cursor of its own over the same
                    // buffer, whose position is taken back: `cur` is never moved,
                    // so it needs no drop flag and stays in registers.
                    let mut sink = HeaderSink::new(cur.reborrow(), compact);
                    let written = check_headers(&mut sink, event, index);
                    let taken = (sink.buf.ptr, sink.buf.pos, sink.buf.cap);
                    drop(sink);
                    (cur.ptr, cur.pos, cur.cap) = taken;
                    written?;
                    first_headers = start..cur.pos;
                }
                let body = event.body();
                // Room for the body's field header and for the event's stop
                // after a spliced body; a copied body's room is made once it
                // is known to fit (never for a body too large for the call).
                cur.room(EVENT_PART_MAX + 1);
                // SAFETY: as above.
                cur.pos += unsafe { P::body_begin(cur.ptr.add(cur.pos), body.len()) };
                // No overflow: the sum is at most `budget_end`, the rest are
                // lengths of what is in memory.
                if cur.pos + *spliced + body.len() + 1 > budget_end {
                    let total = (cur.pos + *spliced + body.len() + 1) - HEADROOM;
                    let call_size = call_size_with::<P>(method, index() + 1, total);
                    if call_size > max_frame {
                        if at == first {
                            return Err(too_large(0, call_size, max_frame));
                        }
                        cur.pos = start; // the next call's first event
                        break 'events index();
                    }
                }
                // SAFETY: the room made above, or here.
                unsafe {
                    if body.len() >= limits.splice_from {
                        splices.push(Splice { at: cur.len(), event: index() });
                        *spliced += body.len();
                    } else {
                        cur.room(body.len() + 1);
                        cur.copy_body(body);
                    }
                    cur.ptr.add(cur.pos).write(0); // the event's stop (the same byte in both protocols)
                    cur.pos += 1;
                    at = at.add(1);
                }
            }
            events.len()
        };
        P::field_stop(&mut cur); // the arguments' stop
        Ok(count)
    }
}

/// An event encoded as an element of `appendBatch`'s list
/// (`Request::encode_event`): its headers field, its body field's header and
/// its body, and the struct's stop.
#[derive(Debug)]
pub struct EncodedEvent<'a> {
    /// Its headers field and its body field's header and length prefix.
    head: &'a [u8],
    body: &'a [u8],
    /// Its header strings' and body's bytes.
    size: usize,
}

impl EncodedEvent<'_> {
    /// Its bytes (`wire::event_size`).
    #[allow(clippy::len_without_is_empty)] // never empty
    pub fn len(&self) -> usize {
        self.head.len() + self.body.len() + 1
    }

    /// The bytes of its header strings and body (what `queue.max-bytes` counts).
    pub fn size(&self) -> usize {
        self.size
    }

    /// Its bytes before the body: its headers field, its body field's header
    /// and the body's length prefix.
    pub fn head(&self) -> &[u8] {
        self.head
    }

    /// Its body (the caller's bytes; the stop byte follows it).
    pub fn body(&self) -> &[u8] {
        self.body
    }

    /// Writes it into `out`, which is `len()` bytes long.
    #[inline]
    pub fn write_to(&self, out: &mut [u8]) {
        assert_eq!(out.len(), self.len(), "an encoding's length");
        // SAFETY: `out` holds the head, the body and the stop byte, in that
        // order; neither source overlaps it (`out` is borrowed mutably).
        unsafe {
            let dst = out.as_mut_ptr();
            super::copy_head(self.head.as_ptr(), dst, self.head.len());
            let dst = dst.add(self.head.len());
            std::ptr::copy_nonoverlapping(self.body.as_ptr(), dst, self.body.len());
            dst.add(self.body.len()).write(0); // the struct's stop (the same byte in both protocols)
        }
    }
}

/// Writes an event's header strings into `sink` (after its headers field's
/// header) and checks them.
#[inline(always)]
fn check_headers<E: AsEvent>(sink: &mut HeaderSink<'_>, event: &E, index: impl Fn() -> usize) -> Result<()> {
    let headers = event.header_count();
    if let Err(e) = event.write_headers(sink) {
        return Err(event_error(index(), &e));
    }
    if Some(sink.strings) != headers.checked_mul(2) {
        return Err(wrong_count(index(), sink.strings, headers));
    }
    if !sink.ascii() {
        check_utf8(event).map_err(|e| event_error(index(), &e))?;
    }
    Ok(())
}

/// The encoded size of `event` (`events[index]`), whose headers field takes
/// `head` bytes, checked against `max_frame` for a call of it alone.
#[inline(always)]
fn check_size<P: Encoder>(
    method: Method,
    head: usize,
    event: &impl AsEvent,
    index: usize,
    max_frame: usize,
) -> Result<usize> {
    let size = (head.saturating_add(P::FIELD_BEGIN_SIZE + 1)).saturating_add(P::binary_size(event.body().len()));
    let call_size = call_size_with::<P>(method, 1, size);
    if call_size > max_frame {
        return Err(too_large(index, call_size, max_frame));
    }
    Ok(size)
}

/// Whether two events' `header_words` say they have the same headers: the
/// same array, or arrays of the same words.
#[inline(always)]
fn same_words<E: AsEvent>(event: &E, other: &E) -> bool {
    let (Some(words), Some(other)) = (event.header_words(), other.header_words()) else { return false };
    words.as_ptr() == other.as_ptr() && words.len() == other.len() || words == other
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

#[cfg(test)]
mod tests {
    use super::{CallLimits, Request};
    use crate::wire::{AsEvent, Method, Protocol};

    /// An event for these tests (`crate::event` is a layer above): its
    /// headers, its body, and what counts its `write_headers` calls.
    struct EventView<'a>(&'a [(&'a [u8], &'a [u8])], &'a [u8], Option<&'a std::cell::Cell<usize>>);

    impl<'a> EventView<'a> {
        fn new(headers: &'a [(&'a [u8], &'a [u8])], body: &'a [u8]) -> Self {
            EventView(headers, body, None)
        }
        fn body(body: &'a [u8]) -> Self {
            EventView(&[], body, None)
        }
        fn counted(headers: &'a [(&'a [u8], &'a [u8])], body: &'a [u8], writes: &'a std::cell::Cell<usize>) -> Self {
            EventView(headers, body, Some(writes))
        }
    }

    impl AsEvent for EventView<'_> {
        fn header_count(&self) -> usize {
            self.0.len()
        }
        fn header(&self, index: usize) -> (&[u8], &[u8]) {
            self.0[index]
        }
        fn body(&self) -> &[u8] {
            self.1
        }
        fn write_headers(&self, sink: &mut crate::wire::HeaderSink<'_>) -> crate::Result<()> {
            if let Some(writes) = self.2 {
                writes.set(writes.get() + 1);
            }
            sink.headers(self.0.iter().copied());
            Ok(())
        }
        fn header_words(&self) -> Option<&[usize]> {
            Some(crate::wire::slice_words(self.0))
        }
    }

    /// The frame of `request`, completed with seqid 7, as one byte string;
    /// `spliced(i)` for i < `pieces`.
    fn frame(request: &mut Request, pieces: usize, spliced: impl Fn(usize) -> Vec<u8>) -> Vec<u8> {
        let len = request.set_seqid(7);
        let owned: Vec<Vec<u8>> = (0..pieces).map(spliced).collect();
        let bytes: Vec<u8> = request.segments_with(|i| &owned[i]).flatten().copied().collect();
        assert_eq!(bytes.len(), len);
        bytes
    }

    #[test]
    fn a_call_of_events_encoded_one_by_one_is_the_call_encoded_at_once() {
        let long = vec![b'L'; 3000];
        let (key, value) = (vec![b'k'; 200], vec![b'v'; 20000]); // 2- and 3-byte compact prefixes
        let strings: [(&[u8], &[u8]); 4] =
            [(b"host", b"web-17"), ("clé".as_bytes(), "välue".as_bytes()), (b"", b""), (&key, &value)];
        let events = [
            EventView::new(&strings, b"a body"),
            EventView::body(b""),
            EventView::new(&strings[..1], &long),
            EventView::new(&strings[1..], b"x"),
        ];
        for protocol in [Protocol::Compact, Protocol::Binary] {
            for splice_from in [usize::MAX, 1024] {
                let mut whole = Request::default();
                let limits = CallLimits { max_events: 100, max_frame_size: 1 << 20, splice_from };
                assert_eq!(whole.encode(protocol, Method::AppendBatch, &events, &limits).unwrap(), events.len());
                let expected = frame(&mut whole, events.len(), |i| events[i].body().to_vec());
                let mut scratch = Request::default();
                let encoded: Vec<Vec<u8>> = events
                    .iter()
                    .map(|event| {
                        let encoded = scratch.encode_event(protocol, event, 1 << 20).unwrap();
                        assert_eq!(encoded.len(), crate::wire::event_size(protocol, event));
                        let strings: usize = event.0.iter().map(|(k, v)| k.len() + v.len()).sum();
                        assert_eq!(encoded.size(), strings + event.1.len(), "{protocol:?}");
                        let mut bytes = vec![0; encoded.len()];
                        encoded.write_to(&mut bytes);
                        bytes
                    })
                    .collect();
                let mut call = Request::default();
                call.encode_encoded(protocol, encoded.len(), encoded.len(), |i| &encoded[i], splice_from);
                assert_eq!(call.count(), events.len());
                assert_eq!(
                    frame(&mut call, encoded.len(), |i| encoded[i].clone()),
                    expected,
                    "{protocol:?}, splice from {splice_from}"
                );
                // The same encodings in fewer pieces (as the send queue's chunks hold them).
                let pieces = [encoded[..2].concat(), encoded[2..].concat()];
                call.encode_encoded(protocol, encoded.len(), pieces.len(), |i| &pieces[i], splice_from);
                assert_eq!(call.count(), events.len());
                assert_eq!(frame(&mut call, 2, |i| pieces[i].clone()), expected, "{protocol:?}, in two pieces");
            }
        }
    }

    #[test]
    fn events_that_share_their_headers_have_them_encoded_once_per_call() {
        let key = vec![b'k'; 200]; // a 2-byte compact prefix
        let strings: [(&[u8], &[u8]); 3] = [(b"host", b"web-17"), ("clé".as_bytes(), "välue".as_bytes()), (&key, b"v")];
        let same = strings; // another array of the same slices
        let copies: Vec<(Vec<u8>, Vec<u8>)> = strings.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
        let copies: Vec<(&[u8], &[u8])> = copies.iter().map(|(k, v)| (&k[..], &v[..])).collect();
        let bodies: Vec<Vec<u8>> = (0..10).map(|i| vec![b'a' + i as u8; if i == 3 { 2000 } else { i }]).collect();
        let writes = std::cell::Cell::new(0);
        // The events with the headers `pick(i)` gives event i.
        let make = |pick: &dyn Fn(usize) -> usize| -> Vec<EventView<'_>> {
            let arrays: [&[(&[u8], &[u8])]; 4] = [&strings, &same, &copies, &strings[..2]];
            (0..bodies.len()).map(|i| EventView::counted(arrays[pick(i)], &bodies[i], &writes)).collect()
        };
        let shared = make(&|_| 0);
        let alternating = make(&|i| i % 2);
        let one_of_its_own = make(&|i| if i == 9 { 2 } else { 0 });
        let fewer_last = make(&|i| if i == 9 { 3 } else { 0 });
        for protocol in [Protocol::Compact, Protocol::Binary] {
            for splice_from in [usize::MAX, 1024] {
                // Calls ended by batch-size, and by max-frame-size (before and
                // after the 2,000-byte body: three calls).
                for (max_events, max_frame_size) in [(10, 1 << 20), (4, 1 << 20), (10, 2600)] {
                    let limits = CallLimits { max_events, max_frame_size, splice_from };
                    // The frames of `events` (a call at a time), and the write_headers calls made.
                    let frames = |events: &[EventView<'_>]| {
                        writes.set(0);
                        let mut request = Request::default();
                        let (mut sent, mut frames) = (0, Vec::new());
                        while sent < events.len() {
                            let count =
                                request.encode(protocol, Method::AppendBatch, &events[sent..], &limits).unwrap();
                            frames.push(frame(&mut request, count, |i| events[sent + i].1.to_vec()));
                            sent += count;
                        }
                        (frames, writes.get())
                    };
                    let calls = if max_frame_size == 2600 { 3 } else { 10usize.div_ceil(max_events) };
                    let unshared = |events: &[EventView<'_>]| {
                        let apart: Vec<Vec<(&[u8], &[u8])>> = events.iter().map(|e| e.0.to_vec()).collect();
                        let apart: Vec<EventView<'_>> =
                            (0..events.len()).map(|i| EventView::counted(&apart[i], events[i].1, &writes)).collect();
                        frames(&apart).0
                    };
                    let context = format!("{protocol:?}, splice from {splice_from}, {limits:?}");
                    // The frames of the events unshared, and the headers walked.
                    let same = |events: &[EventView<'_>], walks: usize, what: &str| {
                        let (got, walked) = frames(events);
                        assert_eq!(got.len(), calls, "{what}: {context}");
                        assert!(got == unshared(events), "{what}: other bytes than unshared, {context}");
                        assert_eq!(walked, walks, "{what}: {context}");
                    };
                    same(&shared, calls, "one array");
                    same(&alternating, calls, "the same slices");
                    // Encoded once in each call whose events (up to batch-size) all
                    // share them: the first two calls of 4 + 4 + 2. Ended by the frame
                    // (3 + 2 + 5 events), every call's events include the last one,
                    // and each call also walks the event it ends before.
                    let mixed = match (max_events, max_frame_size) {
                        (4, _) => 1 + 1 + 2,
                        (_, 2600) => 4 + 3 + 5,
                        _ => 10,
                    };
                    same(&one_of_its_own, mixed, "the last event's own");
                    same(&fewer_last, mixed, "fewer headers last");
                }
            }
        }
        // `check`, for a batch's later calls: the headers checked once, each size still checked.
        for protocol in [Protocol::Compact, Protocol::Binary] {
            let mut request = Request::default();
            writes.set(0);
            let size = request.check(protocol, Method::AppendBatch, &shared, 1, 1 << 20).unwrap();
            assert_eq!(writes.get(), 1, "{protocol:?}");
            let apart: Vec<Vec<(&[u8], &[u8])>> = shared.iter().map(|e| e.0.to_vec()).collect();
            let apart: Vec<EventView<'_>> =
                (0..10).map(|i| EventView::counted(&apart[i], &bodies[i], &writes)).collect();
            assert_eq!(size, request.check(protocol, Method::AppendBatch, &apart, 1, 1 << 20).unwrap());
            let e = request.check(protocol, Method::AppendBatch, &shared, 1, 1500).unwrap_err();
            assert!(e.message().starts_with("event 3 needs a frame"), "{e}");
        }
        // A shared header of invalid UTF-8 fails the call as the first event's.
        let bad: [(&[u8], &[u8]); 2] = [(b"host", b"web-17"), (b"k", b"ab\xc3")];
        let events: Vec<EventView<'_>> = (0..5).map(|_| EventView::counted(&bad, b"b", &writes)).collect();
        let limits = CallLimits { max_events: 10, max_frame_size: 1 << 20, splice_from: usize::MAX };
        let e = Request::default().encode(Protocol::Compact, Method::AppendBatch, &events, &limits).unwrap_err();
        assert!(e.message().starts_with("event 0:"), "{e}");
    }

    #[test]
    fn heads_of_every_length_are_copied_whole() {
        let src: Vec<u8> = (0..200u8).collect();
        for len in 0..=200 {
            let mut dst = vec![0xAAu8; len + 1];
            // SAFETY: `len` bytes of each, apart.
            unsafe { crate::wire::copy_head(src.as_ptr(), dst.as_mut_ptr(), len) };
            assert_eq!(&dst[..len], &src[..len], "{len} bytes");
            assert_eq!(dst[len], 0xAA, "nothing past {len} bytes");
        }
    }

    #[test]
    fn an_event_encoded_alone_is_checked_as_append_checks_it() {
        let bad: [(&[u8], &[u8]); 1] = [(b"key", b"\xff\xfe")];
        let mut request = Request::default();
        let e = request.encode_event(Protocol::Compact, &EventView::new(&bad, b""), 1 << 20).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidArg, "{e}");
        let big = vec![0u8; 2000];
        let e = request.encode_event(Protocol::Binary, &EventView::body(&big), 1000).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::TooLarge, "{e}");
    }

    #[test]
    fn a_body_too_large_for_the_call_is_refused_without_room_made_for_it() {
        // Copied, not spliced (as with TLS): 64 MiB against a 1 MiB frame.
        let limits = CallLimits { max_events: 10, max_frame_size: 1 << 20, splice_from: usize::MAX };
        let big = vec![0u8; 64 << 20];
        let (small, events) = (EventView::body(b"x"), [EventView::body(b"y"), EventView::body(&big)]);
        for protocol in [Protocol::Compact, Protocol::Binary] {
            let mut request = Request::default();
            let e = request.encode(protocol, Method::Append, std::slice::from_ref(&EventView::body(&big)), &limits);
            assert_eq!(e.unwrap_err().kind(), crate::ErrorKind::TooLarge);
            // A later event that does not fit ends the call before it.
            assert_eq!(request.encode(protocol, Method::AppendBatch, &events, &limits).unwrap(), 1);
            request.encode(protocol, Method::Append, std::slice::from_ref(&small), &limits).unwrap();
            assert!(request.capacity() < 1 << 20, "{protocol:?}: {} bytes kept", request.capacity());
        }
    }
}
