//! Flume's Thrift wire format: framed calls and replies of `ThriftSourceProtocol`
//! in `TCompactProtocol` and strict `TBinaryProtocol`. Pure code: bytes in,
//! bytes out, no I/O.
//!
//! Each protocol supplies its primitives behind two small traits (`Encoder`,
//! `Decoder`); the message layouts are written once, in `call.rs` (the call a
//! client sends) and `reply.rs` (the reply a server sends).

mod binary;
mod call;
mod compact;
mod reply;

pub use call::{
    batch_call_size, decode_call, encode_call, encode_call_spliced, event_size, segments, Call, ReceivedEvent, Splice,
};
pub use reply::{decode_reply, decode_reply_to_call, encode_reply, Status};

use crate::error::{err, Result};

/// The client sends bodies this large from the caller's memory, by a vectored
/// write, instead of copying them into the request (`encode_call_spliced`):
/// below it, copying costs less than the kernel's handling of one more segment.
pub const SPLICED_BODY_MIN: usize = 1024;

/// Bytes of the big-endian length that precedes every frame.
pub const FRAME_HEADER_LEN: usize = 4;

/// Deepest nesting of structs and containers a decoder follows.
const MAX_DEPTH: usize = 32;

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
    fn message_begin(buf: &mut Vec<u8>, name: &str, kind: MessageType, seqid: i32);
    /// Bytes of a field header whose id follows the previous one by 1.
    const FIELD_BEGIN_SIZE: usize;
    /// A field header; `previous_id` is the id of the field before it in the struct (0 for the first).
    fn field_begin(buf: &mut Vec<u8>, ttype: TType, id: i16, previous_id: i16);
    fn field_stop(buf: &mut Vec<u8>);
    fn map_begin_size(len: usize) -> usize;
    fn map_begin(buf: &mut Vec<u8>, key: TType, value: TType, len: usize);
    fn list_begin_size(len: usize) -> usize;
    fn list_begin(buf: &mut Vec<u8>, element: TType, len: usize);
    fn binary_size(len: usize) -> usize;
    /// The length prefix of a binary value of `len` bytes.
    fn binary_len(buf: &mut Vec<u8>, len: usize);
    #[inline]
    fn binary(buf: &mut Vec<u8>, bytes: &[u8]) {
        Self::binary_len(buf, bytes.len());
        put_bytes(buf, bytes);
    }
    fn i32(buf: &mut Vec<u8>, value: i32);
}

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

    fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        if len > self.remaining() {
            return Err(err!(
                Protocol,
                "frame truncated: {len} bytes needed at offset {}, {} left",
                self.pos,
                self.remaining()
            ));
        }
        let slice = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        Ok(slice)
    }

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
            $crate::config::Protocol::Compact => {
                let mut $d = <$crate::wire::compact::CompactDecoder as $crate::wire::Decoder>::new($payload);
                $body
            }
            $crate::config::Protocol::Binary => {
                let mut $d = <$crate::wire::binary::BinaryDecoder as $crate::wire::Decoder>::new($payload);
                $body
            }
        }
    };
}
use with_decoder;

/// Appends `bytes` to `buf`. Header keys and values are short, and for them a
/// call to `memcpy` (what `extend_from_slice` becomes for a length unknown at
/// compile time) costs more than the copy: 4 to 16 bytes are copied inline
/// with two overlapping word moves.
#[inline(always)]
fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    let len = bytes.len();
    if !(4..=16).contains(&len) {
        buf.extend_from_slice(bytes);
        return;
    }
    buf.reserve(len);
    let dst = buf.spare_capacity_mut().as_mut_ptr().cast::<u8>();
    let src = bytes.as_ptr();
    // SAFETY: 4 <= len <= 16; each move reads and writes inside the `len`
    // bytes of `bytes` and of the reserved spare capacity, and the length
    // grows by exactly the `len` bytes written.
    unsafe {
        if len >= 8 {
            dst.cast::<u64>().write_unaligned(src.cast::<u64>().read_unaligned());
            dst.add(len - 8).cast::<u64>().write_unaligned(src.add(len - 8).cast::<u64>().read_unaligned());
        } else {
            dst.cast::<u32>().write_unaligned(src.cast::<u32>().read_unaligned());
            dst.add(len - 4).cast::<u32>().write_unaligned(src.add(len - 4).cast::<u32>().read_unaligned());
        }
        buf.set_len(buf.len() + len);
    }
}

/// Appends a 4-byte placeholder for the frame length; `end_frame` fills it in.
fn begin_frame(buf: &mut Vec<u8>) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&[0; FRAME_HEADER_LEN]);
    start
}

/// Fills in the length of the frame that starts at `start`, whose payload is
/// the bytes after the placeholder plus `spliced` bytes left out of `buf`.
fn end_frame(buf: &mut [u8], start: usize, spliced: usize) {
    let len = (buf.len() - start - FRAME_HEADER_LEN + spliced) as u32;
    buf[start..start + FRAME_HEADER_LEN].copy_from_slice(&len.to_be_bytes());
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
