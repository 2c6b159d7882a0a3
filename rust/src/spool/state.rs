//! The state file: where the oldest unacknowledged record starts. Two 32-byte
//! slots written in turn, each with a sequence number and a CRC-32C, so a
//! write torn by a crash or power loss leaves the other slot readable. A
//! stale state only makes the next client send acknowledged events again
//! (duplicates), never lose any: it is written after acknowledgements and
//! never synced.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::crc32c::crc32c;

const SLOT_LEN: usize = 32;
const STATE_MAGIC: [u8; 4] = *b"FLST";

/// A position in the spool: a segment number and a byte offset in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct Position {
    pub(crate) segment: u64,
    pub(crate) offset: u64,
}

pub(crate) struct StateFile {
    file: File,
    seq: u64,
}

impl StateFile {
    /// Opens (creating) the state file; returns it and the head it records,
    /// or `None` when neither slot is valid (a new directory, or both damaged).
    pub(crate) fn open(path: &Path) -> io::Result<(StateFile, Option<Position>)> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        let mut bytes = [0u8; 2 * SLOT_LEN];
        let len = file.metadata()?.len().min(bytes.len() as u64) as usize;
        file.read_exact_at(&mut bytes[..len], 0)?;
        let best = bytes.chunks_exact(SLOT_LEN).filter_map(decode).max_by_key(|(seq, _)| *seq);
        let seq = best.map_or(0, |(seq, _)| seq);
        Ok((StateFile { file, seq }, best.map(|(_, head)| head)))
    }

    /// Records `head` in the slot not holding the latest state.
    pub(crate) fn write(&mut self, head: Position) -> io::Result<()> {
        self.seq += 1;
        let slot = encode(self.seq, head);
        self.file.write_all_at(&slot, (self.seq % 2) * SLOT_LEN as u64)
    }
}

fn encode(seq: u64, head: Position) -> [u8; SLOT_LEN] {
    let mut slot = [0u8; SLOT_LEN];
    slot[..4].copy_from_slice(&STATE_MAGIC);
    slot[4..12].copy_from_slice(&seq.to_le_bytes());
    slot[12..20].copy_from_slice(&head.segment.to_le_bytes());
    slot[20..28].copy_from_slice(&head.offset.to_le_bytes());
    let crc = crc32c(&slot[..28]);
    slot[28..].copy_from_slice(&crc.to_le_bytes());
    slot
}

fn decode(slot: &[u8]) -> Option<(u64, Position)> {
    let u64_at = |at: usize| u64::from_le_bytes(slot[at..at + 8].try_into().expect("8 bytes"));
    let crc = u32::from_le_bytes(slot[28..32].try_into().expect("4 bytes"));
    (slot[..4] == STATE_MAGIC && crc32c(&slot[..28]) == crc)
        .then(|| (u64_at(4), Position { segment: u64_at(12), offset: u64_at(20) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_valid_slot_wins_and_a_torn_slot_falls_back_to_the_other() {
        let path = std::env::temp_dir().join(format!("flume-state-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let (mut state, head) = StateFile::open(&path).unwrap();
        assert_eq!(head, None);
        state.write(Position { segment: 1, offset: 16 }).unwrap();
        state.write(Position { segment: 2, offset: 40 }).unwrap();
        drop(state);
        let (mut state, head) = StateFile::open(&path).unwrap();
        assert_eq!(head, Some(Position { segment: 2, offset: 40 }));
        state.write(Position { segment: 3, offset: 99 }).unwrap(); // seq 3: slot 1
        drop(state);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[SLOT_LEN + 13] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let (_, head) = StateFile::open(&path).unwrap();
        assert_eq!(head, Some(Position { segment: 2, offset: 40 }));
        std::fs::remove_file(path).unwrap();
    }
}
