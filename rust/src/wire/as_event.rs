//! `AsEvent`: the read access to an event that the encoders use, and so the
//! seam between the caller's events (Rust types, the C structs) and the wire.

use super::HeaderSink;
use crate::error::Result;

/// Read access to one event: its headers (key, value) and its body, as bytes.
/// Implemented by [`Event`](crate::Event), [`EventView`](crate::EventView) and references to either, so
/// `append_batch` takes `&[Event]`, `&[EventView]` and `&[&Event]` alike.
///
/// Header bytes must be valid UTF-8 to be sent; the client checks that before
/// sending anything.
pub trait AsEvent {
    /// How many headers the event has.
    fn header_count(&self) -> usize;
    /// Header `index` (< `header_count()`) as (key, value) bytes.
    fn header(&self, index: usize) -> (&[u8], &[u8]);
    /// The body bytes.
    fn body(&self) -> &[u8];
    /// Writes the headers, in order, through `sink`: key then value of each
    /// of the `header_count()` headers. The encoder calls it once per event
    /// it encodes; the default writes `header(i)`. An event whose strings
    /// must be measured (the C API's NUL-terminated strings) overrides it
    /// to measure them while they are copied. An error fails the call
    /// before anything of it is sent.
    #[inline]
    fn write_headers(&self, sink: &mut HeaderSink<'_>) -> Result<()> {
        sink.headers((0..self.header_count()).map(|index| self.header(index)));
        Ok(())
    }
    /// The event's array of headers as words, if those words are references
    /// to the header strings (pointers and lengths) that stay unchanged
    /// during the call: two events of one call with equal words then have
    /// the same headers, and the encoder copies the first one's encoded
    /// headers for the second instead of encoding them again (when every
    /// event of the call has the first one's). The default, `None`, never
    /// claims that. A wrong claim sends the first event's headers for the
    /// others; it is never unsafe.
    #[inline]
    fn header_words(&self) -> Option<&[usize]> {
        None
    }
}

impl<T: AsEvent + ?Sized> AsEvent for &T {
    fn header_count(&self) -> usize {
        (**self).header_count()
    }
    fn header(&self, index: usize) -> (&[u8], &[u8]) {
        (**self).header(index)
    }
    fn body(&self) -> &[u8] {
        (**self).body()
    }
    #[inline]
    fn write_headers(&self, sink: &mut HeaderSink<'_>) -> Result<()> {
        (**self).write_headers(sink)
    }
    #[inline]
    fn header_words(&self) -> Option<&[usize]> {
        (**self).header_words()
    }
}

/// The words of an array of headers given as slices (their pointers and
/// lengths), for `AsEvent::header_words`.
pub(crate) fn slice_words<'a>(headers: &'a [(&[u8], &[u8])]) -> &'a [usize] {
    type Header<'h> = (&'h [u8], &'h [u8]);
    const WORDS: usize = std::mem::size_of::<Header>() / std::mem::size_of::<usize>();
    const { assert!(std::mem::size_of::<Header>() == WORDS * std::mem::size_of::<usize>()) };
    const { assert!(std::mem::align_of::<Header>() == std::mem::align_of::<usize>()) };
    // SAFETY: a pair of slices is four words, none of them padding.
    unsafe { std::slice::from_raw_parts(headers.as_ptr().cast(), WORDS * headers.len()) }
}
