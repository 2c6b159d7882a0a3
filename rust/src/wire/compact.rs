//! `TCompactProtocol` primitives: varints, zigzag integers, field-id deltas.

use super::{Cursor, Decoder, Encoder, MessageHeader, MessageType, Reader, TType};
use crate::error::{err, Result};

const PROTOCOL_ID: u8 = 0x82;
const VERSION: u8 = 1;
const VERSION_MASK: u8 = 0x1f;
const TYPE_SHIFT: u8 = 5;

const BOOL_TRUE: u8 = 1;

fn type_code(t: TType) -> u8 {
    match t {
        TType::Bool => BOOL_TRUE,
        TType::Byte => 3,
        TType::I16 => 4,
        TType::I32 => 5,
        TType::I64 => 6,
        TType::Double => 7,
        TType::String => 8,
        TType::List => 9,
        TType::Set => 10,
        TType::Map => 11,
        TType::Struct => 12,
        TType::Uuid => 13,
    }
}

fn type_of(code: u8) -> Result<TType> {
    Ok(match code {
        1 | 2 => TType::Bool,
        3 => TType::Byte,
        4 => TType::I16,
        5 => TType::I32,
        6 => TType::I64,
        7 => TType::Double,
        8 => TType::String,
        9 => TType::List,
        10 => TType::Set,
        11 => TType::Map,
        12 => TType::Struct,
        13 => TType::Uuid,
        _ => return Err(err!(Protocol, "unknown compact type code {code}")),
    })
}

#[inline]
fn varint_size(v: u64) -> usize {
    if v < 0x80 {
        return 1; // header strings' lengths
    }
    // 7 bits a byte.
    (64 - v.leading_zeros() as usize).div_ceil(7)
}

#[inline(always)]
fn write_varint(buf: &mut Cursor<'_>, mut v: u64) {
    if v < 0x80 {
        buf.push(v as u8);
        return;
    }
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn zigzag32(v: i32) -> u64 {
    ((v << 1) ^ (v >> 31)) as u32 as u64
}

pub(super) struct CompactEncoder;

impl Encoder for CompactEncoder {
    fn message_begin_size(name: &str) -> usize {
        // Protocol id, version and type, seqid (counted at its 5-byte maximum so
        // the size holds for any seqid), name.
        2 + 5 + varint_size(name.len() as u64) + name.len()
    }

    #[inline]
    fn message_begin(buf: &mut Cursor<'_>, name: &str, kind: MessageType, seqid: i32) {
        buf.push(PROTOCOL_ID);
        buf.push(((kind as u8) << TYPE_SHIFT) | VERSION);
        write_varint(buf, seqid as u32 as u64);
        Self::binary(buf, name.as_bytes());
    }

    const FIELD_BEGIN_SIZE: usize = 1;

    #[inline]
    fn field_begin(buf: &mut Cursor<'_>, ttype: TType, id: i16, previous_id: i16) {
        let delta = id.wrapping_sub(previous_id);
        if (1..=15).contains(&delta) {
            buf.push(((delta as u8) << 4) | type_code(ttype));
        } else {
            buf.push(type_code(ttype));
            write_varint(buf, zigzag32(id as i32));
        }
    }

    #[inline]
    fn field_stop(buf: &mut Cursor<'_>) {
        buf.push(0);
    }

    fn map_begin_size(len: usize) -> usize {
        if len == 0 {
            1
        } else {
            varint_size(len as u64) + 1
        }
    }

    #[inline(always)]
    fn map_begin(buf: &mut Cursor<'_>, key: TType, value: TType, len: usize) {
        if len == 0 {
            buf.push(0);
        } else {
            write_varint(buf, len as u64);
            buf.push((type_code(key) << 4) | type_code(value));
        }
    }

    fn list_begin_size(len: usize) -> usize {
        if len < 15 {
            1
        } else {
            1 + varint_size(len as u64)
        }
    }

    #[inline]
    fn list_begin(buf: &mut Cursor<'_>, element: TType, len: usize) {
        if len < 15 {
            buf.push(((len as u8) << 4) | type_code(element));
        } else {
            buf.push(0xf0 | type_code(element));
            write_varint(buf, len as u64);
        }
    }

    fn binary_size(len: usize) -> usize {
        varint_size(len as u64) + len
    }

    #[inline]
    fn binary_len(buf: &mut Cursor<'_>, len: usize) {
        write_varint(buf, len as u64);
    }

    #[inline]
    fn i32(buf: &mut Cursor<'_>, value: i32) {
        write_varint(buf, zigzag32(value));
    }

    #[inline(always)]
    unsafe fn event_begin(dst: *mut u8, header_count: usize) -> usize {
        // Field 1 (delta 1), a map; then the count and the key and value types.
        dst.write((1 << 4) | type_code(TType::Map));
        if header_count == 0 {
            dst.add(1).write(0);
            return 2;
        }
        let n = 1 + raw_varint(dst.add(1), header_count as u64);
        dst.add(n).write((type_code(TType::String) << 4) | type_code(TType::String));
        n + 1
    }

    #[inline(always)]
    unsafe fn body_begin(dst: *mut u8, len: usize) -> usize {
        // Field 2 after field 1 (delta 1), a string.
        dst.write((1 << 4) | type_code(TType::String));
        // Bodies of up to 16 KiB: a two-byte varint, without the loop.
        if (0x80..0x4000).contains(&len) {
            dst.add(1).write((len as u8) | 0x80);
            dst.add(2).write((len >> 7) as u8);
            return 3;
        }
        1 + raw_varint(dst.add(1), len as u64)
    }
}

/// Writes a varint at `dst` (at most 10 bytes) and returns its length.
#[inline(always)]
unsafe fn raw_varint(dst: *mut u8, mut v: u64) -> usize {
    let mut n = 0;
    while v >= 0x80 {
        dst.add(n).write((v as u8) | 0x80);
        v >>= 7;
        n += 1;
    }
    dst.add(n).write(v as u8);
    n + 1
}

pub(super) struct CompactDecoder<'a> {
    reader: Reader<'a>,
}

impl<'a> CompactDecoder<'a> {
    /// A varint of at most `max_bytes` bytes (5 for 32 bits, 10 for 64).
    #[inline]
    fn varint(&mut self, max_bytes: usize) -> Result<u64> {
        let mut value = 0u64;
        for i in 0..max_bytes {
            let b = self.reader.u8()?;
            value |= ((b & 0x7f) as u64) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(err!(Protocol, "varint longer than {max_bytes} bytes"))
    }

    fn varint32(&mut self) -> Result<u32> {
        let v = self.varint(5)?;
        u32::try_from(v).map_err(|_| err!(Protocol, "varint {v} overflows 32 bits"))
    }

    fn length(&mut self) -> Result<usize> {
        let len = self.varint32()?;
        i32::try_from(len).map(|l| l as usize).map_err(|_| err!(Protocol, "negative length {len}"))
    }
}

impl<'a> Decoder<'a> for CompactDecoder<'a> {
    fn new(payload: &'a [u8]) -> Self {
        CompactDecoder { reader: Reader::new(payload) }
    }

    fn message_begin(&mut self) -> Result<MessageHeader<'a>> {
        let id = self.reader.u8()?;
        if id != PROTOCOL_ID {
            return Err(err!(
                Protocol,
                "expected the compact protocol id 0x82, got 0x{id:02x} (is the server using the binary protocol?)"
            ));
        }
        let version_and_type = self.reader.u8()?;
        if version_and_type & VERSION_MASK != VERSION {
            return Err(err!(Protocol, "unsupported compact protocol version {}", version_and_type & VERSION_MASK));
        }
        let seqid = self.varint32()? as i32;
        let name = self.binary()?;
        Ok(MessageHeader { kind: version_and_type >> TYPE_SHIFT, name, seqid })
    }

    fn field_begin(&mut self, previous_id: &mut i16) -> Result<Option<(TType, i16)>> {
        let byte = self.reader.u8()?;
        if byte == 0 {
            return Ok(None);
        }
        let ttype = type_of(byte & 0x0f)?;
        let delta = (byte >> 4) as i16;
        let id = if delta == 0 {
            let z = self.varint(3)? as u32;
            ((z >> 1) as i32 ^ -((z & 1) as i32)) as i16
        } else {
            previous_id.wrapping_add(delta)
        };
        *previous_id = id;
        Ok(Some((ttype, id)))
    }

    fn map_begin(&mut self) -> Result<(TType, TType, usize)> {
        let len = self.length()?;
        if len == 0 {
            return Ok((TType::Byte, TType::Byte, 0));
        }
        let types = self.reader.u8()?;
        let len = self.reader.check_count(len, 2)?;
        Ok((type_of(types >> 4)?, type_of(types & 0x0f)?, len))
    }

    fn list_begin(&mut self) -> Result<(TType, usize)> {
        let header = self.reader.u8()?;
        let short_len = (header >> 4) as usize;
        let len = if short_len == 15 { self.length()? } else { short_len };
        let element = type_of(header & 0x0f)?;
        Ok((element, self.reader.check_count(len, 1)?))
    }

    fn i32(&mut self) -> Result<i32> {
        let z = self.varint32()?;
        Ok((z >> 1) as i32 ^ -((z & 1) as i32))
    }

    fn binary(&mut self) -> Result<&'a [u8]> {
        let len = self.length()?;
        self.reader.take(len)
    }

    fn skip_scalar(&mut self, ttype: TType) -> Result<()> {
        match ttype {
            // A bool field's value is its type code in the field header: nothing follows.
            TType::Bool => {}
            TType::Byte => {
                self.reader.take(1)?;
            }
            TType::I16 | TType::I32 | TType::I64 => {
                self.varint(10)?;
            }
            TType::Double => {
                self.reader.take(8)?;
            }
            TType::Uuid => {
                self.reader.take(16)?;
            }
            TType::String => {
                self.binary()?;
            }
            TType::Struct | TType::Map | TType::Set | TType::List => {
                unreachable!("containers are skipped by wire::skip")
            }
        }
        Ok(())
    }
}
