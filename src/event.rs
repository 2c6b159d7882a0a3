//! `flume_event` and `flume_header`, and the pointer checks that make them
//! readable by the Rust API without copying their bytes: as `CEvent`s, whose
//! header strings the encoder measures while it copies them (every call that
//! takes events: `append`, `append_batch` and `send`, which queues the
//! encoding).

use std::ffi::{c_char, c_void, CStr};

use crate::err;
use ::flume_client::unstable::HeaderSink;
use ::flume_client::{AsEvent, Result};

/// One header of an event: a key and a value, each a NUL-terminated UTF-8
/// string. Neither may be NULL. The library only reads them during the call.
#[repr(C)]
pub struct flume_header {
    /// NUL-terminated UTF-8; not NULL.
    pub key: *const c_char,
    /// NUL-terminated UTF-8; not NULL.
    pub value: *const c_char,
}

/// One event: headers and a body of bytes. The library only reads the event
/// during the call and keeps no pointer to it afterwards.
///
/// Events may share one `flume_header` array. When every event of a call
/// (`flume_client_append_batch`, a call of at most `batch-size` events)
/// points to one array, or to arrays of the same key and value pointers,
/// the library measures, checks and encodes the headers once for the call
/// and copies the bytes for the other events: 159-181 instructions per
/// event at batch 1,000 instead of 366-367 (README, "Performance").
#[repr(C)]
pub struct flume_event {
    /// header_count headers; may be NULL when header_count is 0.
    pub headers: *const flume_header,
    /// Number of headers. A key repeated keeps its last value at the agent.
    pub header_count: usize,
    /// body_len bytes, any content; may be NULL when body_len is 0.
    pub body: *const c_void,
    /// Number of body bytes.
    pub body_len: usize,
}

/// The largest element count a C array may have: Rust slices span at most `isize::MAX` bytes.
fn max_len<T>() -> usize {
    isize::MAX as usize / std::mem::size_of::<T>().max(1)
}

/// The caller's array of `count` events, checked: NULL only when empty, and
/// no longer than any array in memory can be.
unsafe fn event_array<'a>(events: *const flume_event, count: usize) -> Result<&'a [flume_event]> {
    if count == 0 {
        return Ok(&[]);
    }
    if events.is_null() {
        return Err(err!(InvalidArg, "events is NULL but count is {count}"));
    }
    if count > max_len::<flume_event>() {
        return Err(err!(InvalidArg, "count {count} is larger than any array in memory"));
    }
    Ok(std::slice::from_raw_parts(events, count))
}

/// A `flume_event` whose pointers `with_c_events` checked (all but the header
/// strings', which `write_headers` checks as it reaches them).
#[repr(transparent)]
pub(crate) struct CEvent(flume_event);

impl CEvent {
    fn headers(&self) -> &[flume_header] {
        if self.0.header_count == 0 {
            return &[];
        }
        // SAFETY: checked by `checked_headers` when the `CEvent` was made.
        unsafe { std::slice::from_raw_parts(self.0.headers, self.0.header_count) }
    }
}

/// The bytes of a C string, or none for NULL (which `write_headers` rejects
/// before anything else reads the headers).
unsafe fn c_bytes<'a>(s: *const c_char) -> &'a [u8] {
    if s.is_null() {
        return &[];
    }
    std::slice::from_raw_parts(s.cast(), libc::strlen(s))
}

impl AsEvent for CEvent {
    fn header_count(&self) -> usize {
        self.0.header_count
    }

    /// The `flume_header` array's pointers (the header requires the strings
    /// unchanged during the call): events of one call whose headers point to
    /// the same strings share their encoded headers.
    #[inline(always)]
    fn header_words(&self) -> Option<&[usize]> {
        let headers = self.headers();
        // SAFETY: a `flume_header` is two pointers (`write_headers`).
        Some(unsafe { std::slice::from_raw_parts(headers.as_ptr().cast(), 2 * headers.len()) })
    }

    /// Measures the strings (`strlen`): for the checks that only a header
    /// above ASCII needs, after `write_headers`.
    fn header(&self, index: usize) -> (&[u8], &[u8]) {
        let header = &self.headers()[index];
        // SAFETY: the header requires NUL-terminated strings.
        unsafe { (c_bytes(header.key), c_bytes(header.value)) }
    }

    fn body(&self) -> &[u8] {
        // SAFETY: checked by `checked_headers` when the `CEvent` was made.
        unsafe { body(&self.0) }
    }

    /// One walk over each string: the encoder's, which measures, checks and
    /// copies it at once.
    #[inline(always)]
    fn write_headers(&self, sink: &mut HeaderSink<'_>) -> Result<()> {
        const { assert!(std::mem::size_of::<flume_header>() == std::mem::size_of::<[*const c_char; 2]>()) };
        const { assert!(std::mem::align_of::<flume_header>() == std::mem::align_of::<[*const c_char; 2]>()) };
        let headers = self.headers();
        // SAFETY: a `flume_header` is two string pointers, laid out as an
        // array of two (repr(C), checked above); the header requires
        // NUL-terminated strings, unchanged during the call.
        unsafe {
            let pairs = std::slice::from_raw_parts(headers.as_ptr().cast::<[*const c_char; 2]>(), headers.len());
            sink.c_headers(pairs).map_err(|h| err!(InvalidArg, "header {h} has a NULL key or value"))
        }
    }
}

/// Checks the pointers of `count` events at `events` (but their header
/// strings': see `CEvent`) and calls `f` with them as `CEvent`s. Nothing is
/// copied, nothing is measured.
///
/// # Safety
/// Non-NULL pointers must point to what their counts say, as the header requires.
pub(crate) unsafe fn with_c_events<R>(
    events: *const flume_event,
    count: usize,
    f: impl FnOnce(&[CEvent]) -> Result<R>,
) -> Result<R> {
    let events = event_array(events, count)?;
    for (i, event) in events.iter().enumerate() {
        checked_headers(event).map_err(|e| err!(InvalidArg, "event {i}: {}", e.message()))?;
    }
    // SAFETY: `CEvent` is a transparent `flume_event`.
    f(std::slice::from_raw_parts(events.as_ptr().cast::<CEvent>(), count))
}

/// Checks one event's pointers but its header strings', and returns its headers.
#[inline(always)]
unsafe fn checked_headers(event: &flume_event) -> Result<&[flume_header]> {
    // One test for the common case, where all is well.
    let body_bad = (event.body.is_null() && event.body_len > 0) | (event.body_len > max_len::<u8>());
    let headers_bad =
        event.header_count > 0 && (event.headers.is_null() | (event.header_count > max_len::<flume_header>()));
    if !(body_bad | headers_bad) {
        if event.header_count == 0 {
            return Ok(&[]);
        }
        return Ok(std::slice::from_raw_parts(event.headers, event.header_count));
    }
    bad_pointers(event).map(|()| &[][..])
}

/// The error for an event whose pointers `checked_headers` rejects.
#[cold]
#[inline(never)]
unsafe fn bad_pointers(event: &flume_event) -> Result<()> {
    if event.body.is_null() && event.body_len > 0 {
        return Err(err!(InvalidArg, "body is NULL but body_len is {}", event.body_len));
    }
    if event.body_len > max_len::<u8>() {
        return Err(err!(InvalidArg, "body_len {} is larger than any buffer in memory", event.body_len));
    }
    if event.header_count == 0 {
        return Err(err!(Internal, "the event's pointers were rejected, for no reason found"));
    }
    if event.headers.is_null() {
        return Err(err!(InvalidArg, "headers is NULL but header_count is {}", event.header_count));
    }
    if event.header_count > max_len::<flume_header>() {
        return Err(err!(InvalidArg, "header_count {} is larger than any array in memory", event.header_count));
    }
    // Each header's key and value are checked for NULL where they are measured.
    Err(err!(Internal, "the event's pointers were rejected, for no reason found"))
}

/// The body of an event whose pointers `checked_headers` accepted.
unsafe fn body(event: &flume_event) -> &[u8] {
    if event.body_len == 0 {
        return &[];
    }
    std::slice::from_raw_parts(event.body.cast(), event.body_len)
}

/// Reads a NUL-terminated UTF-8 argument named `what`.
///
/// # Safety
/// A non-NULL `ptr` must point to a NUL-terminated string.
pub(crate) unsafe fn c_str<'a>(ptr: *const c_char, what: &str) -> Result<&'a str> {
    if ptr.is_null() {
        return Err(err!(InvalidArg, "{what} is NULL"));
    }
    CStr::from_ptr(ptr).to_str().map_err(|e| err!(InvalidArg, "{what} is not UTF-8: {e}"))
}
