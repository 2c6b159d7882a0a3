//! `flume_event` and `flume_header`, and the pointer checks that make them
//! readable as `EventView`s without copying.

use std::ffi::{c_char, c_void, CStr};

use crate::error::{err, Result};
use crate::event::EventView;

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

/// An event whose pointers `check_events` has checked.
#[repr(transparent)]
pub(crate) struct CheckedEvent(flume_event);

/// The largest element count a C array may have: Rust slices span at most `isize::MAX` bytes.
fn max_len<T>() -> usize {
    isize::MAX as usize / std::mem::size_of::<T>().max(1)
}

/// Checks the pointers of `count` events at `events` and views them as checked events.
///
/// # Safety
/// Non-NULL pointers must point to what their counts say, as the header requires.
pub(crate) unsafe fn check_events<'a>(events: *const flume_event, count: usize) -> Result<&'a [CheckedEvent]> {
    if count == 0 {
        return Ok(&[]);
    }
    if events.is_null() {
        return Err(err!(InvalidArg, "events is NULL but count is {count}"));
    }
    if count > max_len::<flume_event>() {
        return Err(err!(InvalidArg, "count {count} is larger than any array in memory"));
    }
    let events = std::slice::from_raw_parts(events, count);
    for (i, event) in events.iter().enumerate() {
        check_event(event).map_err(|e| err!(InvalidArg, "event {i}: {}", e.message()))?;
    }
    // SAFETY: CheckedEvent is a transparent wrapper of flume_event.
    Ok(std::slice::from_raw_parts(events.as_ptr().cast(), count))
}

unsafe fn check_event(event: &flume_event) -> Result<()> {
    if event.body.is_null() && event.body_len > 0 {
        return Err(err!(InvalidArg, "body is NULL but body_len is {}", event.body_len));
    }
    if event.body_len > max_len::<u8>() {
        return Err(err!(InvalidArg, "body_len {} is larger than any buffer in memory", event.body_len));
    }
    if event.header_count == 0 {
        return Ok(());
    }
    if event.headers.is_null() {
        return Err(err!(InvalidArg, "headers is NULL but header_count is {}", event.header_count));
    }
    if event.header_count > max_len::<flume_header>() {
        return Err(err!(InvalidArg, "header_count {} is larger than any array in memory", event.header_count));
    }
    let headers = std::slice::from_raw_parts(event.headers, event.header_count);
    for (h, header) in headers.iter().enumerate() {
        if header.key.is_null() || header.value.is_null() {
            return Err(err!(InvalidArg, "header {h} has a NULL key or value"));
        }
    }
    Ok(())
}

impl EventView for CheckedEvent {
    fn header_count(&self) -> usize {
        self.0.header_count
    }

    fn header(&self, index: usize) -> (&[u8], &[u8]) {
        // SAFETY: check_event verified the array and its non-NULL strings.
        unsafe {
            let header = &*self.0.headers.add(index);
            (CStr::from_ptr(header.key).to_bytes(), CStr::from_ptr(header.value).to_bytes())
        }
    }

    fn body(&self) -> &[u8] {
        if self.0.body_len == 0 {
            return &[];
        }
        // SAFETY: check_event verified the pointer is non-NULL for a non-zero length.
        unsafe { std::slice::from_raw_parts(self.0.body.cast(), self.0.body_len) }
    }
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
