//! The durable send queue (`queue.spool.dir`): every event `Client::send`
//! accepts is appended to a segment file before `send` returns, and stays
//! there until its report; a new client on the same directory sends what a
//! previous one left. docs/spool.md describes the files and each promise.
//!
//! The sender uses it through a narrow seam, all under its queue lock:
//! `append` (an accepted event, kept in memory too or on disk only),
//! `read_unread` (events on disk only: replayed ones, or those beyond the
//! memory queue's bounds), `release` (the oldest events were reported), and
//! `fits` / `json` for limits and statistics. Records are released in the
//! order they were appended, which is the order the sender reports them.

mod background;
mod crc32c;
mod lock;
mod mapped;
mod segment;
mod state;

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Instant;

use crate::config::{Config, SpoolFsync};
use crate::error::{err, Result};
use crate::statistics::SpoolStats;
use crate::sync::{Condvar, Mutex};
use segment::{Found, SegmentReader, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN};
use state::{Position, StateFile};

/// The opaque of a replayed event's report: the process that sent it is gone.
pub(crate) const REPLAYED_OPAQUE: usize = 0;

/// The segment being appended to.
struct Writer {
    id: u64,
    map: mapped::MappedSegment,
    len: u64,
}

/// Counters for the statistics.
#[derive(Default)]
struct Counters {
    spooled_events: u64,
    spooled_bytes: u64,
    replayed: u64,
    torn: u64,
    corrupt: u64,
    write_errors: u64,
    segments_created: u64,
    segments_deleted: u64,
    last_problem: Option<String>,
}

/// What the `interval` sync thread shares with the writer.
struct SyncShared {
    file: Mutex<Option<Arc<File>>>,
    dirty: AtomicBool,
    stop: Mutex<bool>,
    wake: Condvar,
    fsyncs: AtomicU64,
    sync_errors: AtomicU64,
}

/// An open spool directory, owned by one client (it holds the directory's lock).
pub(crate) struct Spool {
    dir: PathBuf,
    _lock: File,
    fsync: SpoolFsync,
    max_bytes: u64,
    segment_bytes: u64,
    state: StateFile,
    /// Segments holding unreleased records (and the writer's), oldest first: (number, length).
    segments: VecDeque<(u64, u64)>,
    writer: Option<Writer>,
    next_id: u64,
    /// The first unreleased record.
    head: Position,
    /// The next record not yet handed to the sender (`read_unread`).
    read: Position,
    reader: Option<(u64, SegmentReader)>,
    /// Records on disk only: first `replay_left` replayed ones, then this client's, with their opaques.
    replay_left: u64,
    unread: VecDeque<usize>,
    /// Records handed to the sender and not yet released: where each ends and its length.
    loaded: VecDeque<(Position, u64)>,
    /// Unreleased records and their bytes (record headers included): what queue.spool.max-bytes bounds.
    live_events: u64,
    live_bytes: u64,
    /// Events reported and released (or dropped unsendable) so far: `release_to` releases the rest.
    accounted: u64,
    /// Bad regions counted when the spool was opened, so reading them again does not count twice.
    known_bad: Vec<Position>,
    counters: Counters,
    sync: Arc<SyncShared>,
    sync_thread: Option<std::thread::JoinHandle<()>>,
    /// The thread making the next segment ahead and finishing and deleting old ones.
    files: Option<background::Background>,
}

impl Spool {
    /// Opens the spool of `config.spool_dir` (creating it), takes its lock, and
    /// scans what a previous client left: those records will be sent first.
    /// `Config` if another client holds the lock (naming its process), `Spool`
    /// if the directory cannot be used.
    pub(crate) fn open(config: &Config) -> Result<Option<Spool>> {
        let Some(dir) = &config.spool_dir else {
            return Ok(None);
        };
        let shown = dir.display();
        std::fs::create_dir_all(dir)
            .map_err(|e| err!(Spool, "queue.spool.dir {shown}: cannot create the directory: {e}").with_source(e))?;
        let lock = lock::lock_dir(dir)?;
        let (state, recorded_head) = StateFile::open(&dir.join("state"))
            .map_err(|e| err!(Spool, "queue.spool.dir {shown}: cannot open the state file: {e}").with_source(e))?;
        let mut spool = Spool {
            dir: dir.clone(),
            _lock: lock,
            fsync: config.spool_fsync,
            max_bytes: config.spool_max_bytes,
            segment_bytes: config.spool_segment_bytes,
            state,
            segments: VecDeque::new(),
            writer: None,
            next_id: 1,
            head: Position::default(),
            read: Position::default(),
            reader: None,
            replay_left: 0,
            unread: VecDeque::new(),
            loaded: VecDeque::new(),
            accounted: 0,
            live_events: 0,
            live_bytes: 0,
            known_bad: Vec::new(),
            counters: Counters::default(),
            sync: Arc::new(SyncShared {
                file: Mutex::new(None),
                dirty: AtomicBool::new(false),
                stop: Mutex::new(false),
                wake: Condvar::new(),
                fsyncs: AtomicU64::new(0),
                sync_errors: AtomicU64::new(0),
            }),
            sync_thread: None,
            files: None,
        };
        spool.recover(recorded_head)?;
        spool.files = Some(
            background::Background::start(dir, spool.fsync != SpoolFsync::Never)
                .map_err(|e| err!(Internal, "cannot start the spool's file thread: {e}").with_source(e))?,
        );
        spool
            .rotate(0)
            .map_err(|e| err!(Spool, "queue.spool.dir {shown}: cannot create a segment: {e}").with_source(e))?;
        if spool.live_events == 0 {
            spool.head = Position { segment: spool.writer.as_ref().expect("rotated").id, offset: SEGMENT_HEADER_LEN };
            spool.read = spool.head;
        }
        spool
            .state
            .write(spool.head)
            .map_err(|e| err!(Spool, "queue.spool.dir {shown}: cannot write the state file: {e}").with_source(e))?;
        if let SpoolFsync::Interval(every) = spool.fsync {
            let shared = Arc::clone(&spool.sync);
            spool.sync_thread = Some(
                std::thread::Builder::new()
                    .name("flume-spool-sync".into())
                    .spawn(move || sync_every(&shared, every))
                    .map_err(|e| err!(Internal, "cannot start the spool's sync thread: {e}").with_source(e))?,
            );
        }
        Ok(Some(spool))
    }

    /// Finds the segments, drops those already acknowledged, and scans the
    /// rest from the recorded head: counts records, torn tails and corrupt regions.
    fn recover(&mut self, recorded_head: Option<Position>) -> Result<()> {
        let shown = self.dir.display().to_string();
        let names: Vec<String> = std::fs::read_dir(&self.dir)
            .map_err(|e| err!(Spool, "queue.spool.dir {shown}: cannot list the directory: {e}").with_source(e))?
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .collect();
        // A segment a killed client was making ahead, never used.
        for name in names.iter().filter(|name| background::is_next_name(name)) {
            let _ = std::fs::remove_file(self.dir.join(name));
        }
        let mut ids: Vec<u64> = names.iter().filter_map(|name| segment::parse_segment_name(name)).collect();
        ids.sort_unstable();
        self.next_id = ids.last().map_or(1, |last| last + 1);
        let head = recorded_head.unwrap_or(Position { segment: 0, offset: SEGMENT_HEADER_LEN });
        let mut first = true;
        for id in ids {
            let path = segment::segment_path(&self.dir, id);
            if id < head.segment {
                self.delete_segment(id);
                continue;
            }
            let start = if id == head.segment { head.offset.max(SEGMENT_HEADER_LEN) } else { SEGMENT_HEADER_LEN };
            let (records, bytes, len) = self.scan(id, &path, start)?;
            if records == 0 {
                self.delete_segment(id);
                continue;
            }
            if first {
                self.head = Position { segment: id, offset: start };
                self.read = self.head;
                first = false;
            }
            self.segments.push_back((id, len));
            self.live_events += records;
            self.live_bytes += bytes;
        }
        self.replay_left = self.live_events;
        self.counters.replayed = self.live_events;
        Ok(())
    }

    /// Valid records of segment `id` from `start`: (count, bytes, where the last one ends).
    fn scan(&mut self, id: u64, path: &Path, start: u64) -> Result<(u64, u64, u64)> {
        let name = segment::segment_name(id);
        let shown = self.dir.display().to_string();
        let cannot =
            |e: io::Error| err!(Spool, "queue.spool.dir {shown}: cannot read segment {name}: {e}").with_source(e);
        let mut reader = SegmentReader::open(path).map_err(cannot)?;
        if let Err(why) = reader.check_header(id) {
            self.counters.corrupt += 1;
            self.problem(format!("segment {name} skipped: {why}"));
            return Ok((0, 0, 0));
        }
        let (mut at, mut records, mut bytes) = (start, 0, 0);
        loop {
            // The reserved, never written rest of a segment whose client died
            // (a record is copied in whole before the next one starts): cut it
            // off, so that neither the search below nor the next open reads it.
            if reader.unwritten_at(at).map_err(cannot)? {
                if let Ok(file) = OpenOptions::new().write(true).open(path) {
                    let _ = file.set_len(at);
                }
                break;
            }
            match reader.read(at).map_err(cannot)? {
                Found::Record { payload, next } => {
                    if event_layout_ok(&payload) {
                        records += 1;
                        bytes += next - at;
                    } else {
                        self.counters.corrupt += 1;
                        self.known_bad.push(Position { segment: id, offset: at });
                        self.problem(format!("segment {name}: the record at offset {at} is not an event; skipped"));
                    }
                    at = next;
                }
                Found::End => break,
                Found::Bad { resume: Some(next) } => {
                    self.counters.corrupt += 1;
                    self.known_bad.push(Position { segment: id, offset: at });
                    self.problem(format!(
                        "segment {name}: {} bytes at offset {at} are not a valid record (checksum or framing); skipped to the next record",
                        next - at
                    ));
                    at = next;
                }
                Found::Bad { resume: None } => {
                    self.counters.torn += 1;
                    self.known_bad.push(Position { segment: id, offset: at });
                    let len = std::fs::metadata(path).map_or(at, |m| m.len());
                    self.problem(format!(
                        "segment {name}: a torn record at its end (a write cut short by a crash): {} bytes at offset {at} dropped",
                        len - at
                    ));
                    break;
                }
            }
        }
        // The end of the last valid record: past it there is nothing to wait for.
        Ok((records, bytes, at))
    }

    fn problem(&mut self, what: String) {
        self.counters.last_problem = Some(what);
    }

    /// Deletes a released segment: by the file thread, or now if there is none yet (at open).
    fn retire_segment(&mut self, id: u64) {
        match &self.files {
            Some(files) => files.delete(id),
            None => self.delete_segment(id),
        }
    }

    fn delete_segment(&mut self, id: u64) {
        if std::fs::remove_file(segment::segment_path(&self.dir, id)).is_ok() {
            self.counters.segments_deleted += 1;
        }
    }

    /// Starts a new segment: the old one is synced first (unless `never`), and
    /// the new file's directory entry is synced with it.
    fn rotate(&mut self, record_len: u64) -> io::Result<()> {
        if let Some(old) = self.writer.take() {
            let synced = if self.fsync != SpoolFsync::Never {
                self.sync.fsyncs.fetch_add(1, Ordering::Relaxed);
                old.map.file().sync_data()
            } else {
                Ok(())
            };
            match &self.files {
                Some(files) => files.finish(old.id, old.map, old.len),
                None => old.map.finish(old.len),
            }
            synced?;
        }
        let id = self.next_id;
        let path = segment::segment_path(&self.dir, id);
        // Room for one record at least: a single event larger than a segment gets its own.
        let cap = self.segment_bytes.max(SEGMENT_HEADER_LEN + record_len);
        let ahead = self.files.as_ref().and_then(|files| files.take(id, cap as usize));
        let made_here = ahead.is_none();
        let made = match ahead {
            // Made ahead, header written (and synced) there; renamed to its name by `take`.
            Some(map) => Ok(map),
            None => OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .and_then(|file| mapped::MappedSegment::new(file, cap as usize))
                .and_then(|mut map| {
                    map.write_at(0, &segment::segment_header(id));
                    if self.fsync != SpoolFsync::Never {
                        map.file().sync_data()?;
                    }
                    Ok(map)
                }),
        }
        .and_then(|map| {
            if self.fsync != SpoolFsync::Never {
                File::open(&self.dir)?.sync_all()?;
            }
            Ok(map)
        });
        let map = match made {
            Ok(map) => map,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
        };
        if let Some(files) = self.files.as_ref().filter(|_| made_here) {
            // SAFETY: the writer is unmapped by the file thread (`finish`) or,
            // in `drop`, after that thread ended.
            unsafe { files.populate(map.as_ptr(), cap as usize) };
        }
        self.next_id += 1;
        self.counters.segments_created += 1;
        *self.sync.file.lock() = Some(Arc::clone(map.file()));
        self.writer = Some(Writer { id, map, len: SEGMENT_HEADER_LEN });
        self.segments.push_back((id, SEGMENT_HEADER_LEN));
        if let Some(files) = &self.files {
            files.prepare(self.next_id, self.segment_bytes as usize);
        }
        Ok(())
    }

    /// Whether a payload of `payload_len` bytes fits under queue.spool.max-bytes
    /// (an event alone larger than it is let into an empty spool).
    pub(crate) fn fits(&self, payload_len: usize) -> bool {
        self.live_events == 0 || self.live_bytes + RECORD_HEADER_LEN + payload_len as u64 <= self.max_bytes
    }

    /// Why `fits` said no.
    pub(crate) fn full_message(&self) -> String {
        format!(
            "the spool is full ({} events, {} bytes; queue.spool.max-bytes {})",
            self.live_events, self.live_bytes, self.max_bytes
        )
    }

    /// Events a previous client left that are not yet handed to the sender.
    pub(crate) fn replay_pending(&self) -> u64 {
        self.replay_left
    }

    /// Whether events are waiting on disk only (then new ones must queue behind them).
    pub(crate) fn has_unread(&self) -> bool {
        self.replay_left > 0 || !self.unread.is_empty()
    }

    /// Appends an accepted event's payload. `in_memory`: the sender also holds
    /// it in memory (only when nothing is unread); otherwise it stays on disk
    /// until `read_unread` hands it over, with `opaque`. On failure nothing is
    /// appended (a partial write is cut off again) and earlier records are untouched.
    pub(crate) fn append(&mut self, payload: &[u8], opaque: usize, in_memory: bool) -> Result<()> {
        debug_assert!(!in_memory || !self.has_unread());
        let record_len = RECORD_HEADER_LEN + payload.len() as u64;
        let needs_new = match &self.writer {
            None => true,
            Some(w) => w.len + record_len > w.map.capacity(),
        };
        if needs_new {
            if let Err(e) = self.rotate(record_len) {
                return Err(self.write_failed(format!("cannot start a new segment: {e}")).with_source(e));
            }
        }
        // Straight into the mapped file: the header, then the payload (a kill
        // between the two leaves a record whose checksum fails: torn).
        let header = segment::record_header(payload);
        let writer = self.writer.as_mut().expect("a writer after rotate");
        let (id, at) = (writer.id, writer.len);
        writer.map.write_at(at, &header);
        writer.map.write_at(at + RECORD_HEADER_LEN, payload);
        if self.fsync == SpoolFsync::Always {
            self.sync.fsyncs.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = writer.map.sync_range(at, at + record_len) {
                // Not known to be on the device: not accepted. Zeroed again, so that
                // no later client sends it; the next record goes after it.
                writer.map.write_at(at, &vec![0; record_len as usize]);
                let message = format!("cannot sync segment {}: {e}", segment::segment_name(id));
                return Err(self.write_failed(message).with_source(e));
            }
        }
        let end = Position { segment: id, offset: at + record_len };
        let writer = self.writer.as_mut().expect("still there");
        writer.len = end.offset;
        if let Some(last) = self.segments.back_mut() {
            last.1 = end.offset;
        }
        if self.fsync != SpoolFsync::Always {
            self.sync.dirty.store(true, Ordering::Relaxed);
        }
        self.live_events += 1;
        self.live_bytes += record_len;
        self.counters.spooled_events += 1;
        self.counters.spooled_bytes += record_len;
        if in_memory {
            self.loaded.push_back((end, record_len));
            self.read = end;
        } else {
            self.unread.push_back(opaque);
        }
        Ok(())
    }

    fn write_failed(&mut self, what: String) -> crate::error::Error {
        self.counters.write_errors += 1;
        let message = format!(
            "queue.spool.dir {}: {what}; the event was not accepted (the {} events spooled before are intact)",
            self.dir.display(),
            self.live_events
        );
        self.problem(message.clone());
        err!(Spool, "{message}")
    }

    /// Hands over up to `max_events` events waiting on disk only (and about
    /// `max_bytes` of payload), oldest first, each with its opaque
    /// (`REPLAYED_OPAQUE` for a previous client's).
    /// A replayed event that `sendable` refuses (its headers are not UTF-8, or
    /// it does not fit this client's max-frame-size) is dropped, counted as
    /// corrupt and described in `last_problem`, rather than retried forever;
    /// the second value is how many were dropped so.
    pub(crate) fn read_unread(
        &mut self,
        max_events: usize,
        max_bytes: usize,
        sendable: impl Fn(&[u8]) -> bool,
    ) -> (Vec<(Vec<u8>, usize)>, u64) {
        let mut out = Vec::new();
        let mut dropped = 0;
        let mut bytes = 0;
        while self.has_unread() && out.len() < max_events && (out.is_empty() || bytes < max_bytes) {
            match self.next_unread() {
                Some(payload) => {
                    bytes += payload.len();
                    let opaque = if self.replay_left > 0 {
                        self.replay_left -= 1;
                        REPLAYED_OPAQUE
                    } else {
                        self.unread.pop_front().expect("has_unread")
                    };
                    if opaque == REPLAYED_OPAQUE && !sendable(&payload) {
                        // Not handed over: released with the next event that is.
                        self.loaded.pop_back();
                        self.live_events = self.live_events.saturating_sub(1);
                        self.counters.corrupt += 1;
                        self.accounted += 1; // counted as reported by the sender
                        dropped += 1;
                        self.problem(format!(
                            "segment {}: a replayed event cannot be sent with this client's settings \
                             (headers not UTF-8, or larger than max-frame-size); dropped",
                            segment::segment_name(self.read.segment)
                        ));
                        continue;
                    }
                    out.push((payload, opaque));
                }
                None => {
                    // The files changed under us (or cannot be read): what is
                    // left unread cannot be found. Count it rather than stall.
                    let lost = self.replay_left + self.unread.len() as u64;
                    self.counters.corrupt += lost;
                    self.live_events = self.live_events.saturating_sub(lost);
                    self.replay_left = 0;
                    self.unread.clear();
                    self.problem(format!("{lost} spooled events could not be read back and are lost"));
                }
            }
        }
        (out, dropped)
    }

    /// The next valid event record at or after `read`, advancing `read` past it.
    fn next_unread(&mut self) -> Option<Vec<u8>> {
        loop {
            let mut at = self.read;
            // Its segment was deleted once every record read from it was released: go on in the next.
            if !self.segments.iter().any(|(id, _)| *id == at.segment) {
                let next = self.segments.iter().map(|(id, _)| *id).find(|id| *id > at.segment)?;
                self.read = Position { segment: next, offset: SEGMENT_HEADER_LEN };
                at = self.read;
            }
            if !matches!(&self.reader, Some((id, _)) if *id == at.segment) {
                let path = segment::segment_path(&self.dir, at.segment);
                self.reader = Some((at.segment, SegmentReader::open(&path).ok()?));
            }
            let (_, reader) = self.reader.as_mut().expect("opened");
            // The segment being written is longer (reserved) than its records.
            if let Some(w) = self.writer.as_ref().filter(|w| w.id == at.segment) {
                reader.limit(w.len);
            }
            let found = match reader.unwritten_at(at.offset) {
                Ok(true) => Ok(Found::End),
                Ok(false) => reader.read(at.offset),
                Err(e) => Err(e),
            };
            match found {
                Ok(Found::Record { payload, next }) => {
                    self.read.offset = next;
                    if event_layout_ok(&payload) {
                        self.loaded.push_back((self.read, next - at.offset));
                        return Some(payload);
                    }
                    self.skipped(at, next - at.offset);
                }
                Ok(Found::Bad { resume: Some(next) }) => {
                    self.read.offset = next;
                    self.skipped(at, 0);
                }
                Ok(Found::End | Found::Bad { resume: None }) => {
                    let next = self.segments.iter().map(|(id, _)| *id).find(|id| *id > at.segment)?;
                    self.read = Position { segment: next, offset: SEGMENT_HEADER_LEN };
                    // The records skipped are released with the next real one.
                }
                Err(_) => return None,
            }
        }
    }

    /// A bad region met while reading: counted unless the scan at open counted it.
    /// `len` bytes of a released-with-the-next skipped record are part of live bytes.
    fn skipped(&mut self, at: Position, len: u64) {
        if !self.known_bad.contains(&at) {
            self.counters.corrupt += 1;
            self.problem(format!(
                "segment {}: bad record at offset {} skipped",
                segment::segment_name(at.segment),
                at.offset
            ));
        }
        let _ = len;
    }

    /// `reported` events have been reported in all (replayed ones included):
    /// the records of those not yet released go. Fully released segments are deleted.
    pub(crate) fn release_to(&mut self, reported: u64) {
        let count = reported.saturating_sub(self.accounted);
        self.accounted += count;
        self.release(count as usize);
    }

    /// The `count` oldest events handed to the sender were reported: their
    /// records are no longer needed.
    fn release(&mut self, count: usize) {
        let count = count.min(self.loaded.len());
        if count == 0 {
            return;
        }
        let mut end = self.head;
        for (position, len) in self.loaded.drain(..count) {
            end = position;
            self.live_bytes = self.live_bytes.saturating_sub(len);
        }
        self.live_events = self.live_events.saturating_sub(count as u64);
        self.head = end;
        // Segments wholly before the head (and the head's own, once read to its end) go.
        let writer_id = self.writer.as_ref().map(|w| w.id);
        while let Some(&(id, len)) = self.segments.front() {
            let finished = id < self.head.segment || (id == self.head.segment && self.head.offset >= len);
            if !finished || Some(id) == writer_id {
                break;
            }
            self.segments.pop_front();
            if let Some(&(next, _)) = self.segments.front() {
                if self.head.segment <= id {
                    self.head = Position { segment: next, offset: SEGMENT_HEADER_LEN };
                }
            }
            if self.reader.as_ref().is_some_and(|(r, _)| *r == id) {
                self.reader = None;
            }
            // The state first: a crash between the two leaves a segment the next open deletes.
            let _ = self.state.write(self.head);
            self.retire_segment(id);
        }
        if self.live_events == 0 {
            self.live_bytes = 0;
        }
        let _ = self.state.write(self.head);
    }

    /// The spool's statistics (`Stats::spool`, the `spool` object of flume_client_stats_json).
    pub(crate) fn figures(&self) -> SpoolStats {
        let c = &self.counters;
        SpoolStats {
            dir: self.dir.clone(),
            fsync: self.fsync,
            events: self.live_events,
            bytes: self.live_bytes,
            segments: self.segments.len(),
            spooled_events: c.spooled_events,
            spooled_bytes: c.spooled_bytes,
            replayed: c.replayed,
            replay_pending: self.replay_left,
            torn_records: c.torn,
            corrupt_records: c.corrupt,
            write_errors: c.write_errors,
            fsyncs: self.sync.fsyncs.load(Ordering::Relaxed),
            sync_errors: self.sync.sync_errors.load(Ordering::Relaxed),
            segments_created: c.segments_created,
            segments_deleted: self.segments_deleted(),
            last_problem: c.last_problem.clone(),
        }
    }
}

impl Spool {
    /// Segments deleted: at open, and by the file thread since.
    fn segments_deleted(&self) -> u64 {
        self.counters.segments_deleted + self.files.as_ref().map_or(0, background::Background::deleted)
    }
}

/// The spool's statistics in the Prometheus text format (see
/// flume_client_stats_prometheus): the figures of the JSON's `spool` object
/// as `flume_client_spool_*` families, counters ending `_total`, and an info
/// gauge with the directory and the fsync policy as labels (`last_problem`,
/// a text, stays in the JSON).
pub(crate) fn prometheus(f: &SpoolStats) -> String {
    use crate::stats::{family, label_value, sample};
    let mut p = String::with_capacity(4096);
    let name = "flume_client_spool_info";
    family(&mut p, name, "gauge", "The durable send queue: its directory and fsync policy (always 1).");
    let fsync = match f.fsync {
        SpoolFsync::Never => "never",
        SpoolFsync::Interval(_) => "interval",
        SpoolFsync::Always => "always",
    };
    let labels = format!("dir=\"{}\",fsync=\"{fsync}\"", label_value(&f.dir.display().to_string()));
    sample(&mut p, name, &labels, 1);
    let figures: [(&str, &str, &str, u64); 14] = [
        ("flume_client_spool_events", "gauge", "Events in the spool not yet reported.", f.events),
        (
            "flume_client_spool_bytes",
            "gauge",
            "Bytes of the records in the spool not yet reported (record headers included).",
            f.bytes,
        ),
        ("flume_client_spool_segments", "gauge", "Segment files in the spool.", f.segments as u64),
        (
            "flume_client_spool_replay_pending",
            "gauge",
            "Events a previous client left that are not yet read back.",
            f.replay_pending,
        ),
        (
            "flume_client_spool_spooled_events_total",
            "counter",
            "Events this client wrote to the spool.",
            f.spooled_events,
        ),
        (
            "flume_client_spool_spooled_bytes_total",
            "counter",
            "Bytes of records this client wrote to the spool.",
            f.spooled_bytes,
        ),
        (
            "flume_client_spool_replayed_total",
            "counter",
            "Events a previous client left in the spool, found when this one was made.",
            f.replayed,
        ),
        (
            "flume_client_spool_torn_records_total",
            "counter",
            "Torn records at the end of a segment (a write cut short by a crash), dropped.",
            f.torn_records,
        ),
        (
            "flume_client_spool_corrupt_records_total",
            "counter",
            "Corrupt records or regions, and replayed events that cannot be sent, skipped.",
            f.corrupt_records,
        ),
        (
            "flume_client_spool_write_errors_total",
            "counter",
            "Sends that failed with FLUME_ERR_SPOOL because the spool could not be written.",
            f.write_errors,
        ),
        ("flume_client_spool_fsyncs_total", "counter", "Syncs of spool segments to the device.", f.fsyncs),
        (
            "flume_client_spool_sync_errors_total",
            "counter",
            "Failed syncs of the interval policy's thread.",
            f.sync_errors,
        ),
        ("flume_client_spool_segments_created_total", "counter", "Segment files created.", f.segments_created),
        ("flume_client_spool_segments_deleted_total", "counter", "Segment files deleted.", f.segments_deleted),
    ];
    for (name, kind, help, value) in figures {
        family(&mut p, name, kind, help);
        sample(&mut p, name, "", value);
    }
    p
}

impl Drop for Spool {
    /// Stops the sync thread (which syncs one last time) and records the head.
    fn drop(&mut self) {
        *self.sync.stop.lock() = true;
        self.sync.wake.notify_all();
        if let Some(thread) = self.sync_thread.take() {
            let _ = thread.join();
        }
        // The file thread ends first: it may be faulting in the writer's
        // pages, and its work must be done before the directory's lock goes
        // with this spool (the next owner must not find a segment still
        // being deleted or made).
        drop(self.files.take());
        if let Some(writer) = self.writer.take() {
            writer.map.finish(writer.len);
        }
        let _ = self.state.write(self.head);
    }
}

/// The `interval` policy's thread: syncs the segment being written every
/// `every` if anything was appended since the last sync, and once more when stopped.
fn sync_every(shared: &SyncShared, every: Duration) {
    loop {
        let stopping = {
            let mut stop = shared.stop.lock();
            let until = Instant::now() + every;
            while !*stop && Instant::now() < until {
                shared.wake.wait_until(&mut stop, until);
            }
            *stop
        };
        if shared.dirty.swap(false, Ordering::Relaxed) {
            let file = shared.file.lock().clone();
            if let Some(file) = file {
                shared.fsyncs.fetch_add(1, Ordering::Relaxed);
                if file.sync_data().is_err() {
                    shared.sync_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if stopping {
            return;
        }
    }
}

/// Whether `payload` has the layout of a queued event (see sender.rs
/// `QueuedEvent`): a header count, that many pairs of string end offsets,
/// non-decreasing and within the payload. A record that passes its checksum
/// but not this was not written by this library.
fn event_layout_ok(payload: &[u8]) -> bool {
    let u32_at =
        |at: usize| payload.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize);
    let Some(count) = u32_at(0) else { return false };
    let Some(data_start) = count.checked_mul(8).and_then(|n| n.checked_add(4)) else {
        return false;
    };
    if data_start > payload.len() {
        return false;
    }
    let mut last = 0;
    for i in 0..2 * count {
        let end = u32_at(4 + 4 * i).expect("within the offsets");
        if end < last || data_start + end > payload.len() {
            return false;
        }
        last = end;
    }
    true
}
