//! Strict `TBinaryProtocol` primitives: big-endian fixed-width integers.

use super::{Cursor, Decoder, Encoder, MessageHeader, MessageType, Reader, TType};
use crate::error::{err, Result};

const VERSION_1: u32 = 0x8001_0000;
const VERSION_MASK: u32 = 0xffff_0000;

fn type_code(t: TType) -> u8 {
    match t {
        TType::Bool => 2,
        TType::Byte => 3,
        TType::Double => 4,
        TType::I16 => 6,
        TType::I32 => 8,
        TType::I64 => 10,
        TType::String => 11,
        TType::Struct => 12,
        TType::Map => 13,
        TType::Set => 14,
        TType::List => 15,
        TType::Uuid => 16,
    }
}

fn type_of(code: u8) -> Result<TType> {
    Ok(match code {
        2 => TType::Bool,
        3 => TType::Byte,
        4 => TType::Double,
        6 => TType::I16,
        8 => TType::I32,
        10 => TType::I64,
        11 => TType::String,
        12 => TType::Struct,
        13 => TType::Map,
        14 => TType::Set,
        15 => TType::List,
        16 => TType::Uuid,
        _ => return Err(err!(Protocol, "unknown binary type code {code}")),
    })
}

pub(super) struct BinaryEncoder;

impl Encoder for BinaryEncoder {
    fn message_begin_size(name: &str) -> usize {
        4 + 4 + name.len() + 4
    }

    #[inline]
    fn message_begin(buf: &mut Cursor<'_>, name: &str, kind: MessageType, seqid: i32) {
        buf.extend_from_slice(&(VERSION_1 | kind as u32).to_be_bytes());
        Self::binary(buf, name.as_bytes());
        buf.extend_from_slice(&seqid.to_be_bytes());
    }

    const FIELD_BEGIN_SIZE: usize = 3;

    #[inline]
    fn field_begin(buf: &mut Cursor<'_>, ttype: TType, id: i16, _previous_id: i16) {
        buf.push(type_code(ttype));
        buf.extend_from_slice(&id.to_be_bytes());
    }

    #[inline]
    fn field_stop(buf: &mut Cursor<'_>) {
        buf.push(0);
    }

    fn map_begin_size(_len: usize) -> usize {
        6
    }

    #[inline(always)]
    fn map_begin(buf: &mut Cursor<'_>, key: TType, value: TType, len: usize) {
        buf.push(type_code(key));
        buf.push(type_code(value));
        buf.extend_from_slice(&(len as i32).to_be_bytes());
    }

    fn list_begin_size(_len: usize) -> usize {
        5
    }

    #[inline]
    fn list_begin(buf: &mut Cursor<'_>, element: TType, len: usize) {
        buf.push(type_code(element));
        buf.extend_from_slice(&(len as i32).to_be_bytes());
    }

    fn binary_size(len: usize) -> usize {
        4 + len
    }

    #[inline]
    fn binary_len(buf: &mut Cursor<'_>, len: usize) {
        buf.extend_from_slice(&(len as i32).to_be_bytes());
    }

    #[inline]
    fn i32(buf: &mut Cursor<'_>, value: i32) {
        buf.extend_from_slice(&value.to_be_bytes());
    }

    #[inline(always)]
    unsafe fn event_begin(dst: *mut u8, header_count: usize) -> usize {
        // Field 1, a map; its key and value types and its count.
        let (t, s) = (type_code(TType::Map), type_code(TType::String));
        let head = [t, 0, 1, s, s];
        dst.cast::<[u8; 5]>().write_unaligned(head);
        dst.add(5).cast::<[u8; 4]>().write_unaligned((header_count as i32).to_be_bytes());
        9
    }

    #[inline(always)]
    unsafe fn body_begin(dst: *mut u8, len: usize) -> usize {
        // Field 2, a string; its length.
        dst.cast::<[u8; 3]>().write_unaligned([type_code(TType::String), 0, 2]);
        dst.add(3).cast::<[u8; 4]>().write_unaligned((len as i32).to_be_bytes());
        7
    }
}

pub(super) struct BinaryDecoder<'a> {
    reader: Reader<'a>,
}

impl<'a> BinaryDecoder<'a> {
    fn length(&mut self) -> Result<usize> {
        let len = i32::from_be_bytes(self.reader.array()?);
        usize::try_from(len).map_err(|_| err!(Protocol, "negative length {len}"))
    }
}

impl<'a> Decoder<'a> for BinaryDecoder<'a> {
    fn new(payload: &'a [u8]) -> Self {
        BinaryDecoder { reader: Reader::new(payload) }
    }

    fn message_begin(&mut self) -> Result<MessageHeader<'a>> {
        let version = u32::from_be_bytes(self.reader.array()?);
        if version & VERSION_MASK != VERSION_1 {
            return Err(err!(
                Protocol,
                "expected a strict binary header 0x8001, got 0x{:04x} (is the server using the compact protocol?)",
                version >> 16
            ));
        }
        let name = self.binary()?;
        let seqid = i32::from_be_bytes(self.reader.array()?);
        Ok(MessageHeader { kind: version as u8, name, seqid })
    }

    fn field_begin(&mut self, _previous_id: &mut i16) -> Result<Option<(TType, i16)>> {
        let code = self.reader.u8()?;
        if code == 0 {
            return Ok(None);
        }
        let ttype = type_of(code)?;
        let id = i16::from_be_bytes(self.reader.array()?);
        Ok(Some((ttype, id)))
    }

    fn map_begin(&mut self) -> Result<(TType, TType, usize)> {
        let key = type_of(self.reader.u8()?)?;
        let value = type_of(self.reader.u8()?)?;
        let len = self.length()?;
        Ok((key, value, self.reader.check_count(len, 2)?))
    }

    fn list_begin(&mut self) -> Result<(TType, usize)> {
        let element = type_of(self.reader.u8()?)?;
        let len = self.length()?;
        Ok((element, self.reader.check_count(len, 1)?))
    }

    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.reader.array()?))
    }

    fn binary(&mut self) -> Result<&'a [u8]> {
        let len = self.length()?;
        self.reader.take(len)
    }

    fn skip_scalar(&mut self, ttype: TType) -> Result<()> {
        let len = match ttype {
            TType::Bool | TType::Byte => 1,
            TType::I16 => 2,
            TType::I32 => 4,
            TType::I64 | TType::Double => 8,
            TType::Uuid => 16,
            TType::String => self.length()?,
            TType::Struct | TType::Map | TType::Set | TType::List => {
                unreachable!("containers are skipped by wire::skip")
            }
        };
        self.reader.take(len)?;
        Ok(())
    }
}
