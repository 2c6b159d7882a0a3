//! The borrowed view of an event that the validator and the encoders read.
//!
//! Events are never copied into intermediate structs: the encoder reads the
//! caller's memory (Rust slices, or the C structs behind `flume_event`) directly.

/// Read access to one event: its headers (key, value) and its body, as bytes.
///
/// Header bytes must be valid UTF-8 to be sent; the client checks that before
/// sending anything.
pub trait EventView {
    /// How many headers the event has.
    fn header_count(&self) -> usize;
    /// Header `index` (< `header_count()`) as (key, value) bytes.
    fn header(&self, index: usize) -> (&[u8], &[u8]);
    /// The body bytes.
    fn body(&self) -> &[u8];
}

/// An event built from Rust slices.
///
/// Headers are bytes so that invalid UTF-8 can be represented (and rejected);
/// `Event::new` takes `&str` pairs for the common case.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Event<'a> {
    /// The headers, in order. Flume keeps the last value of a repeated key.
    pub headers: &'a [(&'a [u8], &'a [u8])],
    /// The body.
    pub body: &'a [u8],
}

impl<'a> Event<'a> {
    /// An event with the given headers and body.
    pub fn new(headers: &'a [(&'a [u8], &'a [u8])], body: &'a [u8]) -> Event<'a> {
        Event { headers, body }
    }

    /// An event with a body and no headers.
    pub fn body(body: &'a [u8]) -> Event<'a> {
        Event { headers: &[], body }
    }
}

impl EventView for Event<'_> {
    fn header_count(&self) -> usize {
        self.headers.len()
    }
    fn header(&self, index: usize) -> (&[u8], &[u8]) {
        self.headers[index]
    }
    fn body(&self) -> &[u8] {
        self.body
    }
}
