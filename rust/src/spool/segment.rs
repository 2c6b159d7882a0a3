//! Segment files: a 16-byte header, then records appended one after another.
//! See docs/spool.md for the format.
//!
//! Reading is by a window over the file (one `pread` per 256 KiB), so a scan
//! or a refill costs one syscall per many records.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::crc32c;

/// The first 8 bytes of every segment; the next 8 are its number (u64 LE).
pub(crate) const SEGMENT_MAGIC: &[u8; 8] = b"FLSPSEG1";
pub(crate) const SEGMENT_HEADER_LEN: u64 = 16;
/// The first 4 bytes of every record ("FLRC").
pub(crate) const RECORD_MAGIC: [u8; 4] = *b"FLRC";
/// Magic, payload length (u32 LE), CRC-32C of length and payload (u32 LE).
pub(crate) const RECORD_HEADER_LEN: u64 = 12;
/// The largest payload a reader believes: a larger length is corruption.
pub(crate) const MAX_PAYLOAD: u32 = i32::MAX as u32;

const WINDOW: usize = 256 * 1024;

/// The file name of segment `id`: its number in 20 decimal digits, so names sort by number.
pub(crate) fn segment_name(id: u64) -> String {
    format!("{id:020}.seg")
}

/// The segment number in a file name made by `segment_name`.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok())?
}

pub(crate) fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(segment_name(id))
}

/// The header of segment `id`.
pub(crate) fn segment_header(id: u64) -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    h[..8].copy_from_slice(SEGMENT_MAGIC);
    h[8..].copy_from_slice(&id.to_le_bytes());
    h
}

/// The header of the record of `payload` (magic, length, checksum); the payload follows it.
pub(crate) fn record_header(payload: &[u8]) -> [u8; RECORD_HEADER_LEN as usize] {
    let len = (payload.len() as u32).to_le_bytes();
    let crc = crc32c::update(crc32c::crc32c(&len), payload);
    let mut h = [0u8; RECORD_HEADER_LEN as usize];
    h[..4].copy_from_slice(&RECORD_MAGIC);
    h[4..8].copy_from_slice(&len);
    h[8..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Appends the record of `payload` to `out`.
#[cfg(test)]
pub(crate) fn encode_record(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&record_header(payload));
    out.extend_from_slice(payload);
}

/// What is found at a position of a segment.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// A record whose checksum holds: its payload, and where the next record starts.
    Record { payload: Vec<u8>, next: u64 },
    /// The end of the file.
    End,
    /// Bytes that are not a valid record. `resume` is where the next valid
    /// record starts, or `None` if none follows (a torn tail).
    Bad { resume: Option<u64> },
}

/// Reads records of one segment file through a window.
pub(crate) struct SegmentReader {
    file: File,
    len: u64,
    window_start: u64,
    window: Vec<u8>,
}

impl SegmentReader {
    pub(crate) fn open(path: &Path) -> io::Result<SegmentReader> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(SegmentReader { file, len, window_start: 0, window: Vec::new() })
    }

    /// Checks the segment header; `Err` says what is wrong.
    pub(crate) fn check_header(&mut self, id: u64) -> Result<(), String> {
        match self.bytes(0, SEGMENT_HEADER_LEN as usize) {
            Ok(Some(h)) if h == segment_header(id) => Ok(()),
            Ok(Some(_)) => Err("its header is not a flume-client spool segment header of this number".into()),
            Ok(None) => Err(format!("it is shorter than its {SEGMENT_HEADER_LEN}-byte header")),
            Err(e) => Err(format!("cannot read it: {e}")),
        }
    }

    /// Reads no further than `len`: the end of the records of the segment
    /// being written (its file is reserved beyond them).
    pub(crate) fn limit(&mut self, len: u64) {
        self.len = len;
    }

    /// Whether the record header at `at` is all zeros (or what is left of it
    /// before the end): nothing was written there, the reserved rest of a segment.
    pub(crate) fn unwritten_at(&mut self, at: u64) -> io::Result<bool> {
        let n = (self.len.saturating_sub(at)).min(RECORD_HEADER_LEN) as usize;
        Ok(n > 0 && self.bytes(at, n)?.expect("within the file").iter().all(|&b| b == 0))
    }

    /// `n` bytes at `at`, or `None` past the end of the file.
    fn bytes(&mut self, at: u64, n: usize) -> io::Result<Option<&[u8]>> {
        match at.checked_add(n as u64) {
            Some(end) if end <= self.len => {}
            _ => return Ok(None),
        }
        let in_window = at >= self.window_start && at + n as u64 <= self.window_start + self.window.len() as u64;
        if !in_window {
            let want = n.max(WINDOW).min((self.len - at) as usize);
            self.window.resize(want, 0);
            self.file.read_exact_at(&mut self.window, at)?;
            self.window_start = at;
        }
        let from = (at - self.window_start) as usize;
        Ok(Some(&self.window[from..from + n]))
    }

    /// The valid record at `at`, if one is there.
    fn record_at(&mut self, at: u64) -> io::Result<Option<(Vec<u8>, u64)>> {
        let Some(header) = self.bytes(at, RECORD_HEADER_LEN as usize)? else {
            return Ok(None);
        };
        if header[..4] != RECORD_MAGIC {
            return Ok(None);
        }
        let len_bytes: [u8; 4] = header[4..8].try_into().expect("4 bytes");
        let crc = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
        let len = u32::from_le_bytes(len_bytes);
        if len > MAX_PAYLOAD {
            return Ok(None);
        }
        let Some(payload) = self.bytes(at + RECORD_HEADER_LEN, len as usize)? else {
            return Ok(None);
        };
        if crc32c::update(crc32c::crc32c(&len_bytes), payload) != crc {
            return Ok(None);
        }
        Ok(Some((payload.to_vec(), at + RECORD_HEADER_LEN + len as u64)))
    }

    /// What is at `at`: a record, the end, or bad bytes and where good ones resume.
    pub(crate) fn read(&mut self, at: u64) -> io::Result<Found> {
        if at >= self.len {
            return Ok(Found::End);
        }
        if let Some((payload, next)) = self.record_at(at)? {
            return Ok(Found::Record { payload, next });
        }
        // Resynchronise: the next position holding the record magic and a valid record.
        let mut at = at + 1;
        while at + RECORD_HEADER_LEN <= self.len {
            let chunk_len = ((self.len - at) as usize).min(WINDOW);
            let chunk = self.bytes(at, chunk_len)?.expect("within the file");
            let Some(found) = chunk.windows(4).position(|w| w == RECORD_MAGIC) else {
                at += (chunk_len as u64).saturating_sub(3).max(1);
                continue;
            };
            let candidate = at + found as u64;
            if self.record_at(candidate)?.is_some() {
                return Ok(Found::Bad { resume: Some(candidate) });
            }
            at = candidate + 1;
        }
        Ok(Found::Bad { resume: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn segment(dir: &Path, records: &[&[u8]]) -> (PathBuf, Vec<u64>) {
        let path = segment_path(dir, 7);
        let mut bytes = segment_header(7).to_vec();
        let mut starts = Vec::new();
        for r in records {
            starts.push(bytes.len() as u64);
            encode_record(&mut bytes, r);
        }
        File::create(&path).unwrap().write_all(&bytes).unwrap();
        (path, starts)
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("flume-segment-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn names_sort_by_number_and_parse_back() {
        assert_eq!(segment_name(42), "00000000000000000042.seg");
        assert_eq!(parse_segment_name(&segment_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_segment_name("42.seg"), None);
        assert_eq!(parse_segment_name("state"), None);
    }

    #[test]
    fn records_read_back_then_end() {
        let dir = temp_dir("read");
        let (path, starts) = segment(&dir, &[b"one", b"", b"three"]);
        let mut r = SegmentReader::open(&path).unwrap();
        r.check_header(7).unwrap();
        assert!(r.check_header(8).is_err());
        let mut at = SEGMENT_HEADER_LEN;
        for (i, want) in [&b"one"[..], b"", b"three"].iter().enumerate() {
            assert_eq!(at, starts[i]);
            match r.read(at).unwrap() {
                Found::Record { payload, next } => {
                    assert_eq!(&payload, want);
                    at = next;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(r.read(at).unwrap(), Found::End);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_flipped_byte_is_skipped_to_the_next_record_and_a_cut_tail_is_torn() {
        let dir = temp_dir("bad");
        let (path, starts) = segment(&dir, &[b"first record", b"second record", b"third record"]);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[starts[1] as usize + 14] ^= 0x40; // in the second record's payload
        bytes.truncate(bytes.len() - 2); // the third loses its last bytes
        std::fs::write(&path, &bytes).unwrap();
        let mut r = SegmentReader::open(&path).unwrap();
        assert!(matches!(r.read(starts[0]).unwrap(), Found::Record { .. }));
        assert_eq!(r.read(starts[1]).unwrap(), Found::Bad { resume: None });

        let (path, starts) = segment(&dir, &[b"first record", b"second record", b"third record"]);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[starts[1] as usize + 5] ^= 0x01; // the second record's length
        std::fs::write(&path, &bytes).unwrap();
        let mut r = SegmentReader::open(&path).unwrap();
        assert_eq!(r.read(starts[1]).unwrap(), Found::Bad { resume: Some(starts[2]) });
        assert!(matches!(r.read(starts[2]).unwrap(), Found::Record { .. }));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
