//! Flume's Thrift wire format: framed calls and replies of `ThriftSourceProtocol`
//! in `TCompactProtocol` and strict `TBinaryProtocol`. Pure code: bytes in,
//! bytes out, no I/O.
//!
//! Each protocol supplies its primitives behind two small traits (`Encoder`,
//! `Decoder`); the message layouts are written once, in `call.rs` (the call a
//! client sends) and `reply.rs` (the reply a server sends). The client's own
//! encoder is `request.rs` (`Request`: a call encoded and checked in one
//! pass, before it is sent), which events write their headers into through
//! `sink.rs` (`HeaderSink`, which measures C strings as it copies them).

mod as_event;
mod binary;
mod call;
mod compact;
mod reply;
mod request;
mod sink;

pub(crate) use as_event::slice_words;
pub use as_event::AsEvent;
pub use call::{
    batch_call_size, decode_call, encode_call, encode_call_spliced, event_size, segments, Call, ReceivedEvent, Splice,
};
pub use reply::{decode_reply, decode_reply_to_call, encode_reply, Status};
pub use request::{CallLimits, EncodedEvent, Request};
pub use sink::HeaderSink;

use crate::error::{err, Error, Result};

/// The client sends bodies this large from the caller's memory, by a vectored
/// write, instead of copying them into the request (`encode_call_spliced`):
/// below it, copying costs less than the kernel's handling of one more segment.
pub const SPLICED_BODY_MIN: usize = 1024;

/// Bytes of the big-endian length that precedes every frame.
pub const FRAME_HEADER_LEN: usize = 4;

/// Deepest nesting of structs and containers a decoder follows.
const MAX_DEPTH: usize = 32;

/// The Thrift protocol spoken inside each frame. Flume's Thrift source has no
/// negotiation: it must match the source's `protocol` setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `TCompactProtocol`, Flume's default.
    Compact,
    /// Strict `TBinaryProtocol`.
    Binary,
}

/// The two methods of `ThriftSourceProtocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `Status append(1: ThriftFlumeEvent event)`
    Append,
    /// `Status appendBatch(1: list<ThriftFlumeEvent> events)`
    AppendBatch,
}

impl Method {
    /// The method name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Method::Append => "append",
            Method::AppendBatch => "appendBatch",
        }
    }
}

/// Thrift message types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum MessageType {
    Call = 1,
    Reply = 2,
    Exception = 3,
}

/// Thrift value types, independent of the protocol's numbering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TType {
    Bool,
    Byte,
    Double,
    I16,
    I32,
    I64,
    String,
    Struct,
    Map,
    Set,
    List,
    Uuid,
}

/// Writes one protocol's primitives into a buffer. Every `*_size` function
/// returns exactly the bytes the matching writer appends.
trait Encoder {
    /// Bytes of a message header for a method name, for any seqid.
    fn message_begin_size(name: &str) -> usize;
    fn message_begin(buf: &mut Cursor<'_>, name: &str, kind: MessageType, seqid: i32);
    /// Bytes of a field header whose id follows the previous one by 1.
    const FIELD_BEGIN_SIZE: usize;
    /// A field header; `previous_id` is the id of the field before it in the struct (0 for the first).
    fn field_begin(buf: &mut Cursor<'_>, ttype: TType, id: i16, previous_id: i16);
    fn field_stop(buf: &mut Cursor<'_>);
    fn map_begin_size(len: usize) -> usize;
    fn map_begin(buf: &mut Cursor<'_>, key: TType, value: TType, len: usize);
    fn list_begin_size(len: usize) -> usize;
    fn list_begin(buf: &mut Cursor<'_>, element: TType, len: usize);
    fn binary_size(len: usize) -> usize;
    /// The length prefix of a binary value of `len` bytes.
    fn binary_len(buf: &mut Cursor<'_>, len: usize);
    #[inline(always)]
    fn binary(buf: &mut Cursor<'_>, bytes: &[u8]) {
        Self::binary_len(buf, bytes.len());
        buf.extend_from_slice(bytes);
    }
    fn i32(buf: &mut Cursor<'_>, value: i32);

    /// The start of a `ThriftFlumeEvent`, as `field_begin` and `map_begin`
    /// write it: its headers field and the map header of `header_count`
    /// string pairs. Returns the bytes written (at most `EVENT_PART_MAX`).
    ///
    /// # Safety
    /// `dst` must be writable for `EVENT_PART_MAX` bytes.
    unsafe fn event_begin(dst: *mut u8, header_count: usize) -> usize;
    /// The body field's header and the body's length prefix. Returns the
    /// bytes written (at most `EVENT_PART_MAX`).
    ///
    /// # Safety
    /// `dst` must be writable for `EVENT_PART_MAX` bytes.
    unsafe fn body_begin(dst: *mut u8, len: usize) -> usize;
}

/// The most bytes `Encoder::event_begin` and `Encoder::body_begin` write.
const EVENT_PART_MAX: usize = 16;

/// A message header as read.
struct MessageHeader<'a> {
    kind: u8,
    name: &'a [u8],
    seqid: i32,
}

/// Reads one protocol's primitives from a frame payload; every read is bounded
/// by the bytes left and fails with `Protocol` past them.
trait Decoder<'a> {
    fn new(payload: &'a [u8]) -> Self;
    /// Reads and checks the protocol id and version, then the rest of the header.
    fn message_begin(&mut self) -> Result<MessageHeader<'a>>;
    /// The next field header, or `None` at the struct's stop. `previous_id`
    /// holds the id of the field before it and is updated.
    fn field_begin(&mut self, previous_id: &mut i16) -> Result<Option<(TType, i16)>>;
    fn map_begin(&mut self) -> Result<(TType, TType, usize)>;
    fn list_begin(&mut self) -> Result<(TType, usize)>;
    fn i32(&mut self) -> Result<i32>;
    fn binary(&mut self) -> Result<&'a [u8]>;
    /// Skips a value of a fixed-size or length-prefixed type (not a container).
    fn skip_scalar(&mut self, ttype: TType) -> Result<()>;
}

/// Skips a value of any type, following at most `MAX_DEPTH` levels of nesting.
/// Every element consumes at least one byte, so this ends within the payload.
fn skip<'a, D: Decoder<'a>>(d: &mut D, ttype: TType, depth: usize) -> Result<()> {
    if depth >= MAX_DEPTH {
        return Err(err!(Protocol, "nesting deeper than {MAX_DEPTH} levels"));
    }
    match ttype {
        TType::Struct => {
            let mut previous_id = 0;
            while let Some((t, _)) = d.field_begin(&mut previous_id)? {
                skip(d, t, depth + 1)?;
            }
        }
        TType::Map => {
            let (k, v, len) = d.map_begin()?;
            for _ in 0..len {
                skip_element(d, k, depth + 1)?;
                skip_element(d, v, depth + 1)?;
            }
        }
        TType::List | TType::Set => {
            let (e, len) = d.list_begin()?;
            for _ in 0..len {
                skip_element(d, e, depth + 1)?;
            }
        }
        scalar => d.skip_scalar(scalar)?,
    }
    Ok(())
}

/// Skips a container element: a bool there always takes a byte, unlike a
/// compact bool field, whose value sits in the field header.
fn skip_element<'a, D: Decoder<'a>>(d: &mut D, ttype: TType, depth: usize) -> Result<()> {
    match ttype {
        TType::Bool => d.skip_scalar(TType::Byte),
        t => skip(d, t, depth),
    }
}

/// A bounded cursor over a frame payload.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    #[inline]
    fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        if len > self.remaining() {
            return Err(self.truncated(len));
        }
        let slice = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        Ok(slice)
    }

    #[cold]
    #[inline(never)]
    fn truncated(&self, len: usize) -> Error {
        err!(Protocol, "frame truncated: {len} bytes needed at offset {}, {} left", self.pos, self.remaining())
    }

    #[inline]
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }

    /// Checks that `count` elements of at least `min_size` bytes each can fit in what is left.
    fn check_count(&self, count: usize, min_size: usize) -> Result<usize> {
        if count.saturating_mul(min_size) > self.remaining() {
            return Err(err!(
                Protocol,
                "container of {count} elements cannot fit in the {} bytes left",
                self.remaining()
            ));
        }
        Ok(count)
    }
}

/// Decoder for `protocol`, used by `call.rs` and `reply.rs` to dispatch once per message.
macro_rules! with_decoder {
    ($protocol:expr, $payload:expr, |$d:ident| $body:expr) => {
        match $protocol {
            $crate::wire::Protocol::Compact => {
                let mut $d = <$crate::wire::compact::CompactDecoder as $crate::wire::Decoder>::new($payload);
                $body
            }
            $crate::wire::Protocol::Binary => {
                let mut $d = <$crate::wire::binary::BinaryDecoder as $crate::wire::Decoder>::new($payload);
                $body
            }
        }
    };
}
use with_decoder;

/// The encoders' output: a cursor into a buffer's spare capacity, reserved
/// once per call (`Cursor::new`), so that each write is a store and a bound
/// check, with the position and the end in registers instead of a `Vec`'s
/// length and capacity reloaded and stored back around every push. A write
/// past the reservation grows the buffer (a cold path the encoders' size
/// bounds keep unused). Dropping the cursor sets the buffer's length to what
/// was written.
struct Cursor<'a> {
    vec: &'a mut Vec<u8>,
    ptr: *mut u8,
    pos: usize,
    cap: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor appending to `vec`, with room for `reserve` bytes.
    #[inline]
    fn new(vec: &'a mut Vec<u8>, reserve: usize) -> Cursor<'a> {
        vec.reserve(reserve);
        let (ptr, pos, cap) = (vec.as_mut_ptr(), vec.len(), vec.capacity());
        Cursor { vec, ptr, pos, cap }
    }

    /// A cursor at the same place of the same buffer, for a while.
    #[inline(always)]
    fn reborrow(&mut self) -> Cursor<'_> {
        Cursor { vec: &mut *self.vec, ptr: self.ptr, pos: self.pos, cap: self.cap }
    }

    /// Bytes in the buffer so far.
    #[inline(always)]
    fn len(&self) -> usize {
        self.pos
    }

    /// Makes room for `n` more bytes.
    #[inline(always)]
    fn room(&mut self, n: usize) {
        if n > self.cap - self.pos {
            self.grow(n);
        }
    }

    #[inline(always)]
    fn grow(&mut self, n: usize) {
        // The cursor itself is not passed: its address never escapes, so its
        // fields can stay in registers.
        (self.ptr, self.cap) = grow(self.vec, self.pos, n);
    }

    #[inline(always)]
    fn push(&mut self, byte: u8) {
        self.room(1);
        // SAFETY: `room` made `pos` < `cap`.
        unsafe { self.ptr.add(self.pos).write(byte) };
        self.pos += 1;
    }

    /// Appends `bytes`. Header keys and values are short, and for them a call
    /// to `memcpy` (what a copy of a length unknown at compile time becomes)
    /// costs more than the copy: 4 to 32 bytes are copied inline with two
    /// overlapping moves.
    #[inline(always)]
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.room(bytes.len());
        // SAFETY: `room` made the room.
        unsafe { self.copy_short(bytes) };
    }

    /// `extend_from_slice` without the room test.
    ///
    /// # Safety
    /// `bytes.len()` bytes from `pos` writable.
    #[inline(always)]
    unsafe fn copy_short(&mut self, bytes: &[u8]) {
        let len = bytes.len();
        let src = bytes.as_ptr();
        // Each move reads inside `bytes` and writes inside the `len` bytes from `pos`.
        let dst = self.ptr.add(self.pos);
        if (17..=32).contains(&len) {
            dst.cast::<u128>().write_unaligned(src.cast::<u128>().read_unaligned());
            dst.add(len - 16).cast::<u128>().write_unaligned(src.add(len - 16).cast::<u128>().read_unaligned());
        } else if (8..=16).contains(&len) {
            dst.cast::<u64>().write_unaligned(src.cast::<u64>().read_unaligned());
            dst.add(len - 8).cast::<u64>().write_unaligned(src.add(len - 8).cast::<u64>().read_unaligned());
        } else if (4..8).contains(&len) {
            dst.cast::<u32>().write_unaligned(src.cast::<u32>().read_unaligned());
            dst.add(len - 4).cast::<u32>().write_unaligned(src.add(len - 4).cast::<u32>().read_unaligned());
        } else {
            std::ptr::copy_nonoverlapping(src, dst, len);
        }
        self.pos += len;
    }

    /// Appends an event's body: as `extend_from_slice`, but a body longer than
    /// a header string goes straight to `memcpy`.
    #[inline(always)]
    fn extend_body(&mut self, bytes: &[u8]) {
        self.room(bytes.len());
        // SAFETY: `room` made the room.
        unsafe { self.copy_body(bytes) };
    }

    /// `extend_body` without the room test.
    ///
    /// # Safety
    /// `bytes.len()` bytes from `pos` writable.
    #[inline(always)]
    unsafe fn copy_body(&mut self, bytes: &[u8]) {
        if bytes.len() <= 32 {
            return self.copy_short(bytes);
        }
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(self.pos), bytes.len());
        self.pos += bytes.len();
    }

    /// Appends the bytes at `earlier` in the buffer, which are before `pos`.
    #[inline(always)]
    fn copy_earlier(&mut self, earlier: std::ops::Range<usize>) {
        debug_assert!(earlier.end <= self.pos);
        let len = earlier.len();
        self.room(len);
        // SAFETY: `earlier` is written and ends at or before `pos`, the room
        // is made: the two do not overlap.
        unsafe { copy_head(self.ptr.add(earlier.start), self.ptr.add(self.pos), len) };
        self.pos += len;
    }

    /// `extend_from_slice`, returning the OR of the bytes copied (in some of
    /// its 8 byte lanes; see `call::high_bits`), taken from the loads of the copy.
    #[inline(always)]
    fn extend_from_slice_high(&mut self, bytes: &[u8]) -> u64 {
        let len = bytes.len();
        self.room(len);
        let src = bytes.as_ptr();
        // SAFETY: as in `extend_from_slice`.
        let high = unsafe {
            let dst = self.ptr.add(self.pos);
            if (17..=32).contains(&len) {
                let (a, b) = (src.cast::<u128>().read_unaligned(), src.add(len - 16).cast::<u128>().read_unaligned());
                dst.cast::<u128>().write_unaligned(a);
                dst.add(len - 16).cast::<u128>().write_unaligned(b);
                let ab = a | b;
                ab as u64 | (ab >> 64) as u64
            } else if (8..=16).contains(&len) {
                let (a, b) = (src.cast::<u64>().read_unaligned(), src.add(len - 8).cast::<u64>().read_unaligned());
                dst.cast::<u64>().write_unaligned(a);
                dst.add(len - 8).cast::<u64>().write_unaligned(b);
                a | b
            } else if (4..8).contains(&len) {
                let (a, b) = (src.cast::<u32>().read_unaligned(), src.add(len - 4).cast::<u32>().read_unaligned());
                dst.cast::<u32>().write_unaligned(a);
                dst.add(len - 4).cast::<u32>().write_unaligned(b);
                u64::from(a | b)
            } else {
                std::ptr::copy_nonoverlapping(src, dst, len);
                call::high_bits(bytes)
            }
        };
        self.pos += len;
        high
    }

    /// Writes at most `EVENT_PART_MAX` bytes with `write`, which returns how many.
    #[inline(always)]
    fn write_part(&mut self, write: impl FnOnce(*mut u8) -> usize) {
        self.room(EVENT_PART_MAX);
        // SAFETY: `room` made `EVENT_PART_MAX` bytes from `pos` writable.
        self.pos += write(unsafe { self.ptr.add(self.pos) });
    }

    /// Overwrites 4 bytes already written at `at`.
    fn patch(&mut self, at: usize, bytes: [u8; FRAME_HEADER_LEN]) {
        assert!(at + FRAME_HEADER_LEN <= self.pos);
        // SAFETY: inside the bytes written.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(at), FRAME_HEADER_LEN) };
    }
}

/// `Cursor::grow`: the buffer's new start and capacity.
#[cold]
#[inline(never)]
fn grow(vec: &mut Vec<u8>, pos: usize, n: usize) -> (*mut u8, usize) {
    // SAFETY: the first `pos` bytes were written.
    unsafe { vec.set_len(pos) };
    vec.reserve(n);
    (vec.as_mut_ptr(), vec.capacity())
}

impl Drop for Cursor<'_> {
    fn drop(&mut self) {
        // SAFETY: the first `pos` bytes were written (by the buffer's owner or through this cursor).
        unsafe { self.vec.set_len(self.pos) };
    }
}

/// Appends a 4-byte placeholder for the frame length; `end_frame` fills it in.
fn begin_frame(buf: &mut Cursor<'_>) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&[0; FRAME_HEADER_LEN]);
    start
}

/// Fills in the length of the frame that starts at `start`, whose payload is
/// the bytes after the placeholder plus `spliced` bytes left out of `buf`.
fn end_frame(buf: &mut Cursor<'_>, start: usize, spliced: usize) {
    let len = (buf.len() - start - FRAME_HEADER_LEN + spliced) as u32;
    buf.patch(start, len.to_be_bytes());
}

/// Reads a frame header: the payload length, which must be in `1..=max`.
pub fn frame_len(header: [u8; FRAME_HEADER_LEN], max: usize) -> Result<usize> {
    let len = i32::from_be_bytes(header);
    if len <= 0 || len as usize > max {
        return Err(err!(
            Protocol,
            "frame length {len} is outside 1..={max} (header bytes {:02x?}; the peer may not speak framed Thrift)",
            header
        ));
    }
    Ok(len as usize)
}

/// Copies `len` bytes from `src` to `dst` (apart): an event's head or its
/// headers field, which is typically 33 to 128 bytes (a few headers), with two overlapping moves of a
/// fixed size that the compiler inlines, where a call to `memcpy` (what a
/// copy of a length unknown at compile time becomes) costs more than the copy.
///
/// # Safety
/// `len` bytes readable at `src` and writable at `dst`, not overlapping.
#[inline(always)]
pub(crate) unsafe fn copy_head(src: *const u8, dst: *mut u8, len: usize) {
    match len {
        33..=64 => {
            std::ptr::copy_nonoverlapping(src, dst, 32);
            std::ptr::copy_nonoverlapping(src.add(len - 32), dst.add(len - 32), 32);
        }
        65..=128 => {
            std::ptr::copy_nonoverlapping(src, dst, 64);
            std::ptr::copy_nonoverlapping(src.add(len - 64), dst.add(len - 64), 64);
        }
        _ => std::ptr::copy_nonoverlapping(src, dst, len),
    }
}
