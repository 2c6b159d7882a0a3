//! The memory queue's storage: queued events packed back to back, as records,
//! into large chunks, in queue order, rather than one heap allocation each.
//!
//! A record holds the event already encoded for the wire, as an element of
//! an `appendBatch` call's list (`wire::EncodedEvent`): `send` encodes it
//! (which is also its validation, as for `append`) and copies it into the
//! tail chunk; the sender thread's calls are these encodings back to back
//! (`Request::encode_encoded`), with nothing encoded again.
//!
//! A chunk holds the encodings back to back from its start, and their
//! record headers from its end down, so that the encodings of consecutive
//! events are one piece of memory: a call sends them straight from the
//! chunk, one piece per chunk ([`runs_of`]), not copied again.
//!
//! A queued event then costs its encoding (its bytes, a length prefix per
//! string and a few bytes of structure) plus a 24-byte record header, with
//! no padding, allocator header, size-class rounding or separate queue
//! entry, and no allocation while the queue reuses its chunks.
//!
//! A record header: the caller's opaque (u64), when it was sent (u64, see
//! `QueueClock`), the encoding's length (u32), the event's header and body
//! bytes (u32, counted against `queue.max-bytes`).
//!
//! An event sent with `send_borrowed` and a body of 1 KiB or more keeps its
//! body in the caller's memory (`Body::Borrowed`): its record's encoding is
//! the head, the body's address and length, and the stop byte, and the body
//! is a run of its own between them.
//!
//! The sender thread takes records from the head ([`EventQueue::take`], under
//! the queue lock) and reads them without the lock while `send` appends
//! behind them: a taken record's bytes are never written again, and its chunk
//! is freed or reused only once every record in it was released
//! ([`EventQueue::release`]), which the thread does after reporting them, in
//! queue order (reports are in queue order).

use std::collections::VecDeque;
use std::ptr::NonNull;

use crate::clock::{clock_ns, Instant};
use crate::event::AsEvent;
use crate::wire::{EncodedEvent, Protocol, Request};

/// The size of a chunk shared by many records.
const CHUNK: usize = 64 * 1024;
/// Records larger than this get a chunk of their own, filled before the queue
/// lock is taken (so that a large copy never holds it): at most this much of a
/// shared chunk is ever left unused at its end (1/8).
pub(super) const LARGE_RECORD: usize = CHUNK / 8;
/// Emptied standard chunks kept for reuse: at least this many (1 MiB: what
/// a batch of 1,000 small events in flight and the next one queued take),
/// and up to a quarter more than the most chunks in use within the last
/// window of the peak (`PEAK_WINDOW_NS`) or two, so that a queue that fills
/// and drains again and again (bursts, several calls in flight, a slow host)
/// reuses its memory instead of freeing it and faulting it in again. Kept
/// chunks are chunks the queue used: its memory never exceeds what it took
/// at its fullest, and falls back to this many once its use has stayed low
/// for two windows (the sender thread rolls them while it waits on an empty
/// queue).
const FREE_CHUNKS: usize = 16;
/// How long the queue remembers its peak (see `FREE_CHUNKS`), in nanoseconds.
pub(super) const PEAK_WINDOW_NS: u64 = 1_000_000_000;
/// opaque u64, queue time u64 (`QueueClock`), encoding length u32 (its top
/// bit `BORROWED`), event bytes u32.
const RECORD_HEADER: usize = 24;

/// The bytes of a chunk that a record of an encoding of `encoded_len` bytes takes.
pub(super) fn record_len(encoded_len: usize) -> usize {
    RECORD_HEADER + encoded_len
}

/// Where an event's body is queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Body {
    /// Copied into the chunk with the rest of the encoding.
    Copied,
    /// Left in the caller's memory (`Client::send_borrowed`): the chunk holds
    /// the encoding's head, the body's address and length (`LOCATOR` bytes),
    /// then the stop byte; calls send the body from where it is.
    Borrowed,
}

/// The bytes that locate a borrowed body in its record: address and length, u64 each.
const LOCATOR: usize = 16;

/// Set in a record header's encoding length for a borrowed body.
const BORROWED: u32 = 1 << 31;

/// The bytes `encoded` takes in a chunk with its body queued as `body` says.
pub(super) fn chunk_len(encoded: &EncodedEvent, body: Body) -> usize {
    match body {
        Body::Copied => encoded.len(),
        Body::Borrowed => encoded.head().len() + LOCATOR + 1,
    }
}

/// The payload of `event` (whose header strings and body are `size` bytes),
/// the form of events in the spool (`QueuedEvent`): the header count, each
/// header string's end offset (u32, from the start of the strings), the
/// header keys and values, then the body.
pub(super) fn payload_len<E: AsEvent>(event: &E, size: usize) -> usize {
    4 + 8 * event.header_count() + size
}

/// Writes `event`'s payload into `out`, which is exactly `payload_len` long.
pub(super) fn write_payload<E: AsEvent>(out: &mut [u8], event: &E) {
    let count = event.header_count();
    out[..4].copy_from_slice(&(count as u32).to_le_bytes());
    let (offsets, strings) = out[4..].split_at_mut(8 * count);
    let mut end = 0;
    for i in 0..count {
        let (key, value) = event.header(i);
        for (slot, string) in [(2 * i, key), (2 * i + 1, value)] {
            copy_short(&mut strings[end..end + string.len()], string);
            end += string.len();
            offsets[4 * slot..4 * slot + 4].copy_from_slice(&(end as u32).to_le_bytes());
        }
    }
    strings[end..].copy_from_slice(event.body());
}

/// `dst.copy_from_slice(src)`, for header strings, which are short: for them
/// a call to `memcpy` (what a copy of a length unknown at compile time
/// becomes) costs more than the copy, so 4 to 32 bytes are copied inline, as
/// two overlapping moves of a fixed size.
#[inline(always)]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    let len = src.len();
    match len {
        17..=32 => {
            dst[..16].copy_from_slice(&src[..16]);
            dst[len - 16..].copy_from_slice(&src[len - 16..]);
        }
        8..=16 => {
            dst[..8].copy_from_slice(&src[..8]);
            dst[len - 8..].copy_from_slice(&src[len - 8..]);
        }
        4..=7 => {
            dst[..4].copy_from_slice(&src[..4]);
            dst[len - 4..].copy_from_slice(&src[len - 4..]);
        }
        _ => dst.copy_from_slice(src),
    }
}

/// A payload's bytes read as an event (see `write_payload`).
#[derive(Clone, Copy)]
pub(super) struct Payload<'a>(pub(super) &'a [u8]);

impl Payload<'_> {
    fn u32_at(&self, at: usize) -> usize {
        u32::from_le_bytes(self.0[at..at + 4].try_into().expect("4 bytes")) as usize
    }

    /// Where the header strings start.
    pub(super) fn data_start(&self) -> usize {
        4 + 8 * self.header_count()
    }

    /// Where string `n` ends, from the start of the strings.
    fn end_of(&self, string: usize) -> usize {
        self.u32_at(4 + 4 * string)
    }

    /// The bytes of the header strings and the body (counted against queue.max-bytes).
    pub(super) fn size(&self) -> usize {
        self.0.len() - self.data_start()
    }
}

impl<'a> Payload<'a> {
    pub(super) fn header_of(self, index: usize) -> (&'a [u8], &'a [u8]) {
        let data = &self.0[self.data_start()..];
        let key_start = if index == 0 { 0 } else { self.end_of(2 * index - 1) };
        let (key_end, value_end) = (self.end_of(2 * index), self.end_of(2 * index + 1));
        (&data[key_start..key_end], &data[key_end..value_end])
    }

    pub(super) fn body_of(self) -> &'a [u8] {
        let count = self.header_count();
        let headers_len = if count == 0 { 0 } else { self.end_of(2 * count - 1) };
        &self.0[self.data_start() + headers_len..]
    }
}

impl AsEvent for Payload<'_> {
    fn header_count(&self) -> usize {
        self.u32_at(0)
    }
    fn header(&self, index: usize) -> (&[u8], &[u8]) {
        self.header_of(index)
    }
    fn body(&self) -> &[u8] {
        self.body_of()
    }
}

/// The clock of queue times. `send` stamps each event with the monotonic
/// clock's coarse reading (`CLOCK_MONOTONIC_COARSE`, a few nanoseconds where
/// `Instant::now` costs some 30 on a virtual machine): it lags the true time by
/// less than its resolution (one kernel tick, 1 to 10 ms). So the sender
/// lingers from the stamp, which never makes it wait longer than linger-ms,
/// and counts event-timeout from the stamp plus twice the resolution, which
/// never expires an event early (at most two ticks late).
#[derive(Clone, Copy)]
pub(super) struct QueueClock {
    /// Twice the coarse clock's resolution.
    margin_ns: u64,
}

impl QueueClock {
    pub(super) fn new() -> QueueClock {
        let mut resolution = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_getres writes the timespec it is given.
        let known = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut resolution) } == 0;
        let resolution_ns = (resolution.tv_sec as u64).saturating_mul(1_000_000_000) + resolution.tv_nsec as u64;
        // Unknown or implausible: a second is more than any kernel's tick.
        let margin_ns = if known && resolution_ns < 1_000_000_000 { 2 * resolution_ns } else { 2_000_000_000 };
        QueueClock { margin_ns }
    }

    /// Now, at most the resolution early.
    #[inline]
    fn now_ns(&self) -> u64 {
        clock_ns(libc::CLOCK_MONOTONIC_COARSE)
    }
}

/// Where the oldest record not taken yet is: its chunk (index in `chunks`),
/// its index in the chunk, and where its encoding starts.
#[derive(Clone, Copy, Default)]
struct Head {
    chunk: usize,
    record: usize,
    offset: usize,
}

/// One allocation of records: the encodings from the start, back to back,
/// and their headers from the end down (header `i` at `cap - (i + 1) * RECORD_HEADER`).
struct Chunk {
    ptr: NonNull<u8>,
    cap: usize,
    /// Bytes of encodings written.
    used: usize,
    /// Records written, and released (taken and reported) so far.
    records: usize,
    released: usize,
}

impl Chunk {
    fn layout(cap: usize) -> std::alloc::Layout {
        std::alloc::Layout::from_size_align(cap, 8).expect("a chunk's layout")
    }

    fn new(cap: usize) -> Chunk {
        let layout = Chunk::layout(cap);
        // SAFETY: `cap` is never zero (a record has a header).
        let ptr = NonNull::new(unsafe { std::alloc::alloc(layout) })
            .unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        Chunk { ptr, cap, used: 0, records: 0, released: 0 }
    }

    /// The bytes a record (`record_len`) may still take.
    fn free(&self) -> usize {
        self.cap - self.used - self.records * RECORD_HEADER
    }

    /// Where header `index` starts.
    fn header_at(&self, index: usize) -> usize {
        self.cap - (index + 1) * RECORD_HEADER
    }

    /// Writes one record, for which the chunk has room (`free`).
    #[inline(always)]
    fn write(&mut self, head: RecordHead, encoded: &EncodedEvent, body: Body) {
        let RecordHead { size, opaque, queued_ns } = head;
        let encoded_len = chunk_len(encoded, body);
        debug_assert!(record_len(encoded_len) <= self.free());
        let header_at = self.header_at(self.records);
        // SAFETY: the encoding's bytes from `used` and the header's at
        // `header_at` are inside the allocation, apart, and belong to no
        // record yet, so nothing else (no taken record) refers to them.
        let (encoding, header) = unsafe {
            let base = self.ptr.as_ptr();
            (
                std::slice::from_raw_parts_mut(base.add(self.used), encoded_len),
                std::slice::from_raw_parts_mut(base.add(header_at), RECORD_HEADER),
            )
        };
        header[..8].copy_from_slice(&(opaque as u64).to_le_bytes());
        header[8..16].copy_from_slice(&queued_ns.to_le_bytes());
        let flag = if body == Body::Borrowed { BORROWED } else { 0 };
        header[16..20].copy_from_slice(&(encoded_len as u32 | flag).to_le_bytes());
        header[20..24].copy_from_slice(&(size as u32).to_le_bytes());
        match body {
            Body::Copied => encoded.write_to(encoding),
            Body::Borrowed => write_borrowed(encoding, encoded),
        }
        self.used += encoded_len;
        self.records += 1;
    }

    /// Record `index`, whose encoding starts at `offset`, and its queue time (`QueueClock`).
    fn record_at(&self, index: usize, offset: usize) -> (Record, u64) {
        debug_assert!(index < self.records && offset < self.used);
        // SAFETY: header `index` and the encoding at `offset` were written in this (live) chunk.
        unsafe {
            let base = self.ptr.as_ptr();
            Record::read(base.add(self.header_at(index)), NonNull::new_unchecked(base.add(offset)))
        }
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        // SAFETY: allocated in `Chunk::new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), Chunk::layout(self.cap)) };
    }
}

/// Writes the in-chunk encoding of a borrowed body's event into `encoding`
/// (`chunk_len` bytes): its head, the body's address and length, the stop byte.
#[inline(never)]
fn write_borrowed(encoding: &mut [u8], encoded: &EncodedEvent) {
    let (head, rest) = encoding.split_at_mut(encoded.head().len());
    head.copy_from_slice(encoded.head());
    let body = encoded.body();
    rest[..8].copy_from_slice(&(body.as_ptr() as u64).to_le_bytes());
    rest[8..LOCATOR].copy_from_slice(&(body.len() as u64).to_le_bytes());
    rest[LOCATOR] = 0; // the struct's stop
}

/// What a record's header holds.
struct RecordHead {
    size: usize,
    opaque: usize,
    queued_ns: u64,
}

/// A record taken from the queue: valid until it is released (see the module
/// doc). Its header is read once, when it is taken.
pub(super) struct Record {
    /// The encoding's first byte.
    encoded: NonNull<u8>,
    /// The bytes of the encoding in the chunk.
    encoded_len: u32,
    size: u32,
    opaque: usize,
    /// A borrowed body (`Body::Borrowed`): its address and length.
    borrowed: Option<(NonNull<u8>, usize)>,
}

impl Record {
    /// Reads the record whose header is at `header` and encoding at
    /// `encoded`, and its queue time (`QueueClock`).
    ///
    /// # Safety
    /// Both written by `Chunk::write` for one record, in a live chunk.
    unsafe fn read(header: *const u8, encoded: NonNull<u8>) -> (Record, u64) {
        let header = std::slice::from_raw_parts(header, RECORD_HEADER);
        let u64_at = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().expect("8 bytes"));
        let u32_at = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().expect("4 bytes"));
        let (len, size, opaque) = (u32_at(16), u32_at(20), u64_at(0) as usize);
        let encoded_len = len & !BORROWED;
        let borrowed = (len & BORROWED != 0).then(|| {
            let locator = std::slice::from_raw_parts(encoded.as_ptr().add(encoded_len as usize - LOCATOR - 1), LOCATOR);
            let at = |i: usize| u64::from_le_bytes(locator[i..i + 8].try_into().expect("8 bytes")) as usize;
            // The caller's body, non-empty (`Body::Borrowed` is for large ones).
            (NonNull::new_unchecked(at(0) as *mut u8), at(8))
        });
        (Record { encoded, encoded_len, size, opaque, borrowed }, u64_at(8))
    }

    pub(super) fn opaque(&self) -> usize {
        self.opaque
    }

    /// The event's encoded size (`wire::event_size`).
    pub(super) fn wire_size(&self) -> usize {
        match self.borrowed {
            None => self.encoded_len as usize,
            Some((_, body_len)) => self.encoded_len as usize - LOCATOR + body_len,
        }
    }

    /// The event's header and body bytes (counted against `queue.max-bytes`).
    pub(super) fn size(&self) -> usize {
        self.size as usize
    }

    /// The event encoded, as an element of an `appendBatch` call's list
    /// (calls take it by `runs_of`).
    #[cfg(test)]
    fn encoded(&self) -> Vec<u8> {
        let mut runs = Vec::new();
        runs_of(std::iter::once(self), &mut runs);
        runs.iter().flat_map(|run| run.bytes().to_vec()).collect()
    }
}

/// The encodings of consecutive records that lie back to back in one chunk,
/// as one piece of a call. Valid as long as its records are (until released).
pub(super) struct Run {
    start: NonNull<u8>,
    len: usize,
}

impl Run {
    pub(super) fn bytes(&self) -> &[u8] {
        // SAFETY: the encodings of one chunk's records (see `runs_of`), which live until released.
        unsafe { std::slice::from_raw_parts(self.start.as_ptr(), self.len) }
    }
}

/// Appends to `runs` the encodings of `records` (taken in queue order), as
/// few runs as their chunks allow: one per chunk.
/// A borrowed body is a run of its own, between its record's head and stop byte.
pub(super) fn runs_of<'r>(records: impl Iterator<Item = &'r Record>, runs: &mut Vec<Run>) {
    for record in records {
        let len = record.encoded_len as usize;
        let Some((body, body_len)) = record.borrowed else {
            extend_runs(runs, record.encoded, len);
            continue;
        };
        let head_len = len - LOCATOR - 1;
        extend_runs(runs, record.encoded, head_len);
        runs.push(Run { start: body, len: body_len });
        // SAFETY: the stop byte, the encoding's last, after the locator.
        let stop = unsafe { NonNull::new_unchecked(record.encoded.as_ptr().add(len - 1)) };
        // Pushed, not merged: the records after it continue this run.
        runs.push(Run { start: stop, len: 1 });
    }
}

/// Adds `len` bytes of encoding at `start` to the last run, or as a new one.
fn extend_runs(runs: &mut Vec<Run>, start: NonNull<u8>, len: usize) {
    match runs.last_mut() {
        // An encoding that starts where the run ends is in the run's
        // chunk: a chunk ends with its record headers, so no other
        // allocation starts where an encoding ends (and a borrowed body,
        // which might, is never the last run when a record is added).
        Some(run) if run.start.as_ptr().wrapping_add(run.len) == start.as_ptr() => run.len += len,
        _ => runs.push(Run { start, len }),
    }
}

/// Whether `payload` has `write_payload`'s layout: a header count, that many
/// pairs of string end offsets, not decreasing, and within the payload.
fn layout_ok(payload: &[u8]) -> bool {
    let u32_at = |at: usize| payload.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().expect("4")) as usize);
    let Some(count) = u32_at(0) else { return false };
    let Some(data_start) = count.checked_mul(8).and_then(|n| n.checked_add(4)).filter(|&d| d <= payload.len()) else {
        return false;
    };
    let mut last = 0;
    (0..2 * count).all(|i| {
        let end = u32_at(4 + 4 * i).expect("within the offsets");
        let ok = end >= last && data_start + end <= payload.len();
        last = end;
        ok
    })
}

/// The chunk of the oldest record not taken yet (there is one), `head`
/// moved past chunks whose records were all taken.
fn head_chunk<'c>(chunks: &'c VecDeque<Chunk>, head: &mut Head) -> &'c Chunk {
    while head.record >= chunks[head.chunk].records {
        *head = Head { chunk: head.chunk + 1, ..Head::default() };
    }
    &chunks[head.chunk]
}

/// The queued events, oldest first, and the records taken but not yet released.
pub(super) struct EventQueue {
    /// Oldest first; only the last one is written to.
    chunks: VecDeque<Chunk>,
    free: Vec<Chunk>,
    /// The oldest record not taken yet (see `Head`).
    head: Head,
    /// Records queued (not taken).
    len: usize,
    /// The clock of the records' queue times.
    clock: QueueClock,
    /// The client's protocol, for the events handed over as payloads.
    protocol: Protocol,
    /// Where those are encoded.
    scratch: Request,
    /// The most chunks in use in the current window of the peak (see
    /// `FREE_CHUNKS`) and in the one before, and when the current one began.
    peak: usize,
    last_peak: usize,
    window_start_ns: u64,
}

// SAFETY: the chunks are owned allocations; the queue is only used under the
// queue lock, and taken records are read by one thread (see the module doc).
unsafe impl Send for EventQueue {}

impl EventQueue {
    /// An empty queue whose records' queue times are read on `clock`.
    pub(super) fn new(clock: QueueClock, protocol: Protocol) -> EventQueue {
        EventQueue {
            chunks: VecDeque::new(),
            free: Vec::new(),
            head: Head::default(),
            len: 0,
            clock,
            protocol,
            scratch: Request::default(),
            peak: 0,
            last_peak: 0,
            window_start_ns: clock.now_ns(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues an event encoded by `send` (`Request::encode_event`), of
    /// `size` header and body bytes, copied now but for a borrowed body.
    #[inline(always)]
    pub(super) fn push_event(&mut self, encoded: &EncodedEvent, body: Body, size: usize, opaque: usize) {
        let queued_ns = self.clock.now_ns();
        self.push_encoded(encoded, body, size, opaque, queued_ns);
    }

    #[inline(always)]
    fn push_encoded(&mut self, encoded: &EncodedEvent, body: Body, size: usize, opaque: usize, queued_ns: u64) {
        let head = RecordHead { size, opaque, queued_ns };
        self.tail_for(record_len(chunk_len(encoded, body))).write(head, encoded, body);
        self.len += 1;
    }

    /// Queues a record filled beforehand in a chunk of its own (`LargeRecord`).
    pub(super) fn push_large(&mut self, large: LargeRecord) {
        self.chunks.push_back(large.chunk);
        self.len += 1;
    }

    /// Queues an event given as its payload bytes (the spool's events), encoded now.
    pub(super) fn push_payload(&mut self, payload: &[u8], opaque: usize, queued_at: Instant) {
        // The spool hands over only payloads it checked the same way: this never fails.
        assert!(layout_ok(payload), "a queued payload without the layout of an event");
        let payload = Payload(payload);
        let mut scratch = std::mem::take(&mut self.scratch);
        let encoded = scratch.encode_event(self.protocol, &payload, usize::MAX);
        let encoded = encoded.expect("an event from the spool was checked when it was read or sent");
        self.push_encoded(&encoded, Body::Copied, payload.size(), opaque, queued_at.as_nanos());
        self.scratch = scratch;
    }

    /// Queues a `QueuedEvent` (what the spool's side of the sender hands over).
    pub(super) fn push_back(&mut self, event: super::QueuedEvent) {
        self.push_payload(&event.bytes, event.opaque, event.queued_at);
    }

    /// The chunk to write a record of `len` bytes into: the last one, or a new one.
    #[inline(always)]
    fn tail_for(&mut self, len: usize) -> &mut Chunk {
        if self.chunks.back().is_none_or(|c| c.free() < len) {
            self.add_chunk(len);
        }
        self.chunks.back_mut().expect("pushed above")
    }

    /// Adds a chunk with room for a record of `len` bytes: a kept one if it is large enough.
    #[cold]
    #[inline(never)]
    fn add_chunk(&mut self, len: usize) {
        let kept = if len <= CHUNK { self.free.pop() } else { None };
        let chunk = kept.unwrap_or_else(|| {
            // With every chunk there is room for it in both lists, made as it
            // is allocated: moving chunks between them (taking them in use,
            // keeping them freed) never allocates.
            let chunks = self.chunks.len() + self.free.len() + 1;
            self.chunks.reserve(chunks - self.chunks.len());
            self.free.reserve(chunks - self.free.len());
            Chunk::new(len.max(CHUNK))
        });
        self.chunks.push_back(chunk);
        self.peak = self.peak.max(self.chunks.len());
    }

    /// When the oldest queued event was sent, or a little earlier: where its
    /// linger starts (`QueueClock`).
    pub(super) fn front_queued_at(&mut self) -> Option<Instant> {
        if self.len == 0 {
            return None;
        }
        let (_, queued_ns) = self.head_record();
        Some(Instant::from_nanos(queued_ns))
    }

    /// The record at the head (there is one: `len > 0`), the head moved onto it.
    fn head_record(&mut self) -> (Record, u64) {
        let chunk = head_chunk(&self.chunks, &mut self.head);
        chunk.record_at(self.head.record, self.head.offset)
    }

    /// Takes the oldest queued event, with when it was sent or a little later
    /// (in `QueueClock` nanoseconds): where its event-timeout starts. The
    /// record stays valid until `release` has been called for it.
    #[cfg(test)]
    fn take(&mut self) -> Option<(Record, u64)> {
        let mut taken = None;
        self.take_each(1, |record, timeout_from| taken = Some((record, timeout_from)));
        taken
    }

    /// `take` of the oldest `count` events (at most as many as are queued),
    /// oldest first, each handed to `each`: a chunk's records in one loop.
    #[inline(always)]
    pub(super) fn take_each(&mut self, count: usize, mut each: impl FnMut(Record, u64)) {
        let EventQueue { chunks, head, len, clock, .. } = self;
        let mut count = count.min(*len);
        while count > 0 {
            let chunk = head_chunk(chunks, head);
            for _ in 0..count.min(chunk.records - head.record) {
                let (record, queued_ns) = chunk.record_at(head.record, head.offset);
                // The queue moves on before `each` runs, which may panic.
                head.record += 1;
                head.offset += record.encoded_len as usize;
                *len -= 1;
                count -= 1;
                each(record, queued_ns.saturating_add(clock.margin_ns));
            }
        }
    }

    /// The oldest `count` taken records are done with (reported): chunks
    /// whose records are all released are freed or kept for reuse.
    pub(super) fn release(&mut self, mut count: usize) {
        while count > 0 {
            let only_one = self.chunks.len() == 1;
            let Some(front) = self.chunks.front_mut() else { break };
            let here = count.min(front.records - front.released);
            front.released += here;
            count -= here;
            if front.released < front.records {
                break; // count is 0
            }
            if only_one {
                // Every record written was reported: start the chunk over.
                debug_assert_eq!(self.len, 0);
                (front.used, front.records, front.released) = (0, 0, 0);
                self.head = Head::default();
                break;
            }
            let chunk = self.chunks.pop_front().expect("front above");
            self.head = match self.head.chunk {
                0 => Head::default(),
                chunk => Head { chunk: chunk - 1, ..self.head },
            };
            if chunk.cap == CHUNK && self.free.len() < self.free_kept() {
                let mut chunk = chunk;
                (chunk.used, chunk.records, chunk.released) = (0, 0, 0);
                self.free.push(chunk);
            }
        }
        self.roll_peak();
    }

    /// How many emptied chunks to keep (see `FREE_CHUNKS`): with the chunks
    /// in use, a quarter more than the recent peak, so that a peak a little
    /// above the last ones (they vary with the timing of calls) still finds
    /// its chunks.
    fn free_kept(&self) -> usize {
        let recent = self.peak.max(self.last_peak);
        FREE_CHUNKS.max((recent + recent / 4).saturating_sub(self.chunks.len()))
    }

    /// Whether more chunks are kept than `FREE_CHUNKS`: then the sender
    /// thread rolls the peak's windows (`roll_peak`) while the queue is empty.
    pub(super) fn keeps_more_than_the_minimum(&self) -> bool {
        self.free.len() > FREE_CHUNKS
    }

    /// Once a window of the peak is over, starts the next one, and frees the
    /// emptied chunks beyond what the last two windows' peaks keep.
    pub(super) fn roll_peak(&mut self) {
        self.roll_peak_at(self.clock.now_ns());
    }

    fn roll_peak_at(&mut self, now: u64) {
        if now.saturating_sub(self.window_start_ns) < PEAK_WINDOW_NS {
            return;
        }
        (self.last_peak, self.peak, self.window_start_ns) = (self.peak, self.chunks.len(), now);
        self.free.truncate(self.free_kept());
    }

    /// Forgets every event, queued or taken (the spool keeps them): taken
    /// records must not be used afterwards.
    pub(super) fn clear(&mut self) {
        self.chunks.clear();
        self.head = Head::default();
        self.len = 0;
    }
}

/// A record filled before the queue lock is taken, in a chunk of its own.
pub(super) struct LargeRecord {
    chunk: Chunk,
}

impl LargeRecord {
    /// `encoded` copied, as `EventQueue::push_event` would, for a queue on `clock`.
    pub(super) fn new(clock: &QueueClock, encoded: &EncodedEvent, size: usize, opaque: usize) -> LargeRecord {
        let mut chunk = Chunk::new(record_len(encoded.len()));
        let queued_ns = clock.now_ns();
        chunk.write(RecordHead { size, opaque, queued_ns }, encoded, Body::Copied);
        LargeRecord { chunk }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventView;

    fn event_of(n: usize) -> (Vec<u8>, String) {
        (vec![b'a' + (n % 26) as u8; n % 3000], format!("v{n}"))
    }

    #[test]
    fn layouts_are_checked() {
        let headers: [(&[u8], &[u8]); 2] = [(b"key", b"value"), (b"k2", b"")];
        let event = EventView::new(&headers, b"body");
        let mut payload = vec![0u8; payload_len(&event, 14)];
        write_payload(&mut payload, &event);
        assert!(layout_ok(&payload));
        assert_eq!(Payload(&payload).header(1), (&b"k2"[..], &b""[..]));
        assert!(!layout_ok(&payload[..3]), "no count");
        assert!(!layout_ok(&payload[..10]), "offsets cut");
        let mut decreasing = payload.clone();
        decreasing[8..12].copy_from_slice(&1u32.to_le_bytes());
        assert!(!layout_ok(&decreasing));
        let mut beyond = payload.clone();
        beyond[16..20].copy_from_slice(&1000u32.to_le_bytes());
        assert!(!layout_ok(&beyond));
    }

    #[test]
    fn short_copies_copy_every_length() {
        let src: Vec<u8> = (1..=40).collect();
        for len in 0..=40 {
            let mut dst = vec![0u8; len];
            copy_short(&mut dst, &src[..len]);
            assert_eq!(dst, src[..len]);
        }
    }

    /// The bytes of `encoded`.
    fn bytes_of(encoded: &EncodedEvent) -> Vec<u8> {
        let mut bytes = vec![0; encoded.len()];
        encoded.write_to(&mut bytes);
        bytes
    }

    #[test]
    fn queue_times_start_linger_no_later_and_event_timeout_no_earlier_than_the_send() {
        let clock = QueueClock::new();
        let mut queue = EventQueue::new(clock, Protocol::Compact);
        let mut request = Request::default();
        let event = EventView::body(b"x");
        let encoded = request.encode_event(Protocol::Compact, &event, usize::MAX).unwrap();
        for _ in 0..1000 {
            let before = Instant::now();
            queue.push_event(&encoded, Body::Copied, 1, 0);
            let after = Instant::now();
            assert!(queue.front_queued_at().unwrap() <= after, "linger starts no later than the send");
            let (_, timeout_from) = queue.take().unwrap();
            assert!(timeout_from >= before.as_nanos(), "event-timeout starts no earlier than the send");
            queue.release(1);
        }
    }

    #[test]
    fn records_come_back_in_order_across_chunks_and_chunks_are_reused() {
        let clock = QueueClock::new();
        let mut queue = EventQueue::new(clock, Protocol::Compact);
        let mut request = Request::default();
        let mut taken = VecDeque::new();
        // The borrowed bodies, alive until their records are released.
        let mut lent: std::collections::HashMap<usize, Vec<u8>> = Default::default();
        let (mut next_in, mut next_out) = (0usize, 0usize);
        for round in 0..50 {
            for _ in 0..(round * 37) % 200 + 1 {
                let (body, value) = event_of(next_in);
                let headers: [(&[u8], &[u8]); 2] = [(b"k", value.as_bytes()), (b"", b"x")];
                let event = EventView::new(&headers, &body);
                let size = body.len() + 1 + value.len() + 1;
                let encoded = request.encode_event(Protocol::Compact, &event, usize::MAX).unwrap();
                if next_in % 97 == 0 {
                    queue.push_large(LargeRecord::new(&clock, &encoded, size, next_in));
                } else if next_in % 89 == 0 {
                    // As the spool hands events over: a payload, encoded by the queue.
                    let mut payload = vec![0; payload_len(&event, size)];
                    write_payload(&mut payload, &event);
                    queue.push_payload(&payload, next_in, Instant::now());
                } else if next_in % 3 == 0 && body.len() >= crate::wire::SPLICED_BODY_MIN {
                    queue.push_event(&encoded, Body::Borrowed, size, next_in);
                    lent.insert(next_in, body); // moved: its bytes stay where they are
                } else {
                    queue.push_event(&encoded, Body::Copied, size, next_in);
                }
                next_in += 1;
            }
            while let Some((record, _)) = queue.take() {
                let (body, value) = event_of(record.opaque());
                let headers: [(&[u8], &[u8]); 2] = [(b"k", value.as_bytes()), (b"", b"x")];
                let event = EventView::new(&headers, &body);
                let expected = bytes_of(&request.encode_event(Protocol::Compact, &event, usize::MAX).unwrap());
                assert_eq!(record.encoded(), &expected[..]);
                assert_eq!(record.size(), body.len() + value.len() + 2);
                assert_eq!(record.wire_size(), crate::wire::event_size(Protocol::Compact, &event));
                taken.push_back(record);
                if taken.len() > 150 {
                    let record = taken.pop_front().unwrap();
                    assert_eq!(record.opaque(), next_out);
                    next_out += 1;
                    queue.release(1);
                    lent.remove(&record.opaque());
                }
            }
        }
        assert_eq!(queue.len(), 0);
        queue.release(taken.len());
        assert_eq!(queue.chunks.len(), 1, "every chunk but the last was freed");
        assert!(queue.free.len() <= FREE_CHUNKS);
    }

    /// `count` events of `body_len`-byte bodies pushed, as `send` queues them.
    fn push_events(queue: &mut EventQueue, request: &mut Request, count: usize, body_len: usize) {
        for n in 0..count {
            let body = vec![b'a' + (n % 26) as u8; body_len];
            let n_text = n.to_string();
            let headers: [(&[u8], &[u8]); 1] = [(b"n", n_text.as_bytes())];
            let event = EventView::new(&headers, &body);
            let encoded = request.encode_event(Protocol::Compact, &event, usize::MAX).unwrap();
            queue.push_event(&encoded, Body::Copied, body_len, n);
        }
    }

    #[test]
    fn a_call_sends_the_encodings_of_one_chunk_as_one_piece() {
        let mut queue = EventQueue::new(QueueClock::new(), Protocol::Compact);
        let mut request = Request::default();
        push_events(&mut queue, &mut request, 1000, 256); // some 5 chunks of encodings
        queue.push_large(LargeRecord::new(
            &queue.clock,
            &request.encode_event(Protocol::Compact, &EventView::body(&[7; 9000]), usize::MAX).unwrap(),
            9000,
            1000,
        ));
        push_events(&mut queue, &mut request, 10, 100);
        let records: Vec<Record> = std::iter::from_fn(|| queue.take().map(|(r, _)| r)).collect();
        assert_eq!(records.len(), 1011);
        let mut runs = Vec::new();
        runs_of(records.iter(), &mut runs);
        // One piece per chunk: the chunks of the 1,000, the large record's, the last one's.
        assert_eq!(runs.len(), queue.chunks.len());
        assert!(runs.len() < 10, "{} runs", runs.len());
        let pieces: Vec<u8> = runs.iter().flat_map(|run| run.bytes().to_vec()).collect();
        let each: Vec<u8> = records.iter().flat_map(|r| r.encoded().to_vec()).collect();
        assert_eq!(pieces, each, "the pieces are the encodings in queue order");
        // A call of part of them (as the sender thread's `call_len_from` cuts them).
        runs.clear();
        runs_of(records[3..500].iter(), &mut runs);
        let pieces: Vec<u8> = runs.iter().flat_map(|run| run.bytes().to_vec()).collect();
        assert_eq!(pieces, records[3..500].iter().flat_map(|r| r.encoded().to_vec()).collect::<Vec<u8>>());
        queue.release(records.len());
    }

    #[test]
    fn a_borrowed_body_is_a_piece_of_its_own_sent_from_the_callers_memory() {
        let mut queue = EventQueue::new(QueueClock::new(), Protocol::Compact);
        let mut request = Request::default();
        let headers: [(&[u8], &[u8]); 1] = [(b"k", b"v")];
        let bodies = [vec![1u8; 300], vec![2u8; 5000], vec![3u8; 300]];
        let mut expected = Vec::new();
        for (n, body) in bodies.iter().enumerate() {
            let event = EventView::new(&headers, body);
            let encoded = request.encode_event(Protocol::Compact, &event, usize::MAX).unwrap();
            expected.extend(bytes_of(&encoded));
            let how = if n == 1 { Body::Borrowed } else { Body::Copied };
            queue.push_event(&encoded, how, body.len() + 2, n);
        }
        // The borrowed record takes its head, the locator and the stop byte of the chunk.
        assert!(queue.chunks[0].used < 2 * 400, "{} bytes in the chunk", queue.chunks[0].used);
        let records: Vec<Record> = std::iter::from_fn(|| queue.take().map(|(r, _)| r)).collect();
        let wire: usize = records.iter().map(Record::wire_size).sum();
        assert_eq!(wire, expected.len());
        let mut runs = Vec::new();
        runs_of(records.iter(), &mut runs);
        // The first event and the second's head; the second's body; its stop byte and the third.
        assert_eq!(runs.len(), 3);
        assert_eq!(runs[1].bytes().as_ptr(), bodies[1].as_ptr(), "the caller's bytes, not a copy");
        let pieces: Vec<u8> = runs.iter().flat_map(|run| run.bytes().to_vec()).collect();
        assert_eq!(pieces, expected, "the call's bytes are the three encodings");
        queue.release(records.len());
    }

    #[test]
    fn chunks_move_between_in_use_and_kept_without_growing_either_list() {
        let mut queue = EventQueue::new(QueueClock::new(), Protocol::Compact);
        let mut request = Request::default();
        // A few chunks, freed and kept; then more in use than were ever kept,
        // all freed: the list of kept chunks takes them without growing (it
        // grew, once, when the sender thread kept more than it ever had).
        for events in [45, 600, 45, 600] {
            push_events(&mut queue, &mut request, events, 4096);
            let (in_use, kept) = (queue.chunks.capacity(), queue.free.capacity());
            let left = queue.len();
            for _ in 0..left {
                queue.take().unwrap();
            }
            queue.release(left);
            assert_eq!(queue.free.capacity(), kept, "the kept chunks' list grew after {events} events");
            assert_eq!(queue.chunks.capacity(), in_use);
        }
    }

    #[test]
    fn a_queue_keeps_the_chunks_it_frees_up_to_its_recent_peak() {
        let mut queue = EventQueue::new(QueueClock::new(), Protocol::Compact);
        let mut request = Request::default();
        // 4 KiB events: 15 a chunk, 100 chunks.
        push_events(&mut queue, &mut request, 1500, 4096);
        let in_use = queue.chunks.len();
        assert!(in_use >= 100, "{in_use} chunks");
        // The oldest half taken and reported, while the rest stays queued.
        for _ in 0..750 {
            queue.take().unwrap();
        }
        queue.release(750);
        let freed = in_use - queue.chunks.len();
        assert!(freed > FREE_CHUNKS, "{freed} chunks freed");
        assert_eq!(queue.free.len(), freed, "all kept: no more than the chunks still in use");
        // Refilled: from the chunks kept, with none allocated.
        push_events(&mut queue, &mut request, 750, 4096);
        assert!(queue.free.len() <= 1, "{} kept chunks unused", queue.free.len());
        // Emptied: every chunk kept, for the next time it fills.
        let left = queue.len();
        for _ in 0..left {
            queue.take().unwrap();
        }
        queue.release(left);
        assert_eq!(queue.free.len() + queue.chunks.len(), in_use, "the peak kept, and no more");
        push_events(&mut queue, &mut request, 1500, 4096);
        assert!(queue.free.is_empty() && queue.chunks.len() == in_use, "filled again from the chunks kept");
        let left = queue.len();
        for _ in 0..left {
            queue.take().unwrap();
        }
        queue.release(left);
        // Back to FREE_CHUNKS once two windows of the peak passed with less in use.
        let start = queue.window_start_ns;
        queue.roll_peak_at(start + PEAK_WINDOW_NS - 1);
        assert_eq!(queue.free.len() + 1, in_use, "within the window");
        queue.roll_peak_at(start + PEAK_WINDOW_NS);
        assert_eq!(queue.free.len() + 1, in_use, "the last window's peak");
        assert!(queue.keeps_more_than_the_minimum());
        queue.roll_peak_at(start + 2 * PEAK_WINDOW_NS);
        assert_eq!(queue.free.len(), FREE_CHUNKS);
        assert!(!queue.keeps_more_than_the_minimum());
    }
}
