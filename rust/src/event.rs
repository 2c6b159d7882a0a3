//! Events: the owned `Event` and the borrowed `EventView`, both readable as
//! `AsEvent` (defined by `wire`, whose encoders read it).
//!
//! Events are never copied into intermediate structs on the way to the wire:
//! the encoder reads the caller's memory (an `Event`, an `EventView`'s slices,
//! or the C structs behind `flume_event`) directly.

// The read access is the encoders' (wire's), as Protocol is: re-exported here beside the event types.
pub use crate::wire::AsEvent;

/// An event that owns its headers and body.
///
/// ```
/// use flume_client::Event;
/// let event = Event::new("hello").with_header("host", "web-1").with_header("topic", "clicks");
/// assert_eq!(event.headers()[0], ("host".to_string(), "web-1".to_string()));
/// assert_eq!(event.body(), b"hello");
/// let from_map = Event::new(vec![0u8, 1, 2]).with_headers(std::collections::BTreeMap::from([("k", "v")]));
/// assert_eq!(from_map.headers().len(), 1);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Event {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Event {
    /// An event with this body and no headers: from `&str`, `String`,
    /// `Vec<u8>`, `&[u8]` or anything else that converts into bytes.
    pub fn new(body: impl Into<Vec<u8>>) -> Event {
        Event { headers: Vec::new(), body: body.into() }
    }

    /// This event with one more header. Flume keeps the last value of a
    /// repeated key.
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<String>) -> Event {
        self.headers.push((key.into(), value.into()));
        self
    }

    /// This event with the headers of any iterator of (key, value) pairs
    /// added: a `HashMap`, a `BTreeMap`, a `Vec` of pairs, `.map(...)`.
    pub fn with_headers<K: Into<String>, V: Into<String>>(
        mut self,
        headers: impl IntoIterator<Item = (K, V)>,
    ) -> Event {
        self.headers.extend(headers.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// The headers, in order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The headers, to change in place.
    pub fn headers_mut(&mut self) -> &mut Vec<(String, String)> {
        &mut self.headers
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body, to change in place.
    pub fn body_mut(&mut self) -> &mut Vec<u8> {
        &mut self.body
    }

    /// The body and the headers, taken out of the event.
    pub fn into_parts(self) -> (Vec<(String, String)>, Vec<u8>) {
        (self.headers, self.body)
    }
}

impl From<&str> for Event {
    fn from(body: &str) -> Event {
        Event::new(body)
    }
}

impl From<String> for Event {
    fn from(body: String) -> Event {
        Event::new(body)
    }
}

impl From<Vec<u8>> for Event {
    fn from(body: Vec<u8>) -> Event {
        Event::new(body)
    }
}

impl From<&[u8]> for Event {
    fn from(body: &[u8]) -> Event {
        Event::new(body)
    }
}

impl AsEvent for Event {
    fn header_count(&self) -> usize {
        self.headers.len()
    }
    fn header(&self, index: usize) -> (&[u8], &[u8]) {
        let (key, value) = &self.headers[index];
        (key.as_bytes(), value.as_bytes())
    }
    fn body(&self) -> &[u8] {
        &self.body
    }
}

/// An event borrowed from the caller's memory: slices of headers and a body,
/// sent without copying.
///
/// Headers are bytes so that invalid UTF-8 can be represented (and rejected
/// before anything is sent).
///
/// ```
/// use flume_client::EventView;
/// let headers: [(&[u8], &[u8]); 1] = [(b"host", b"web-1")];
/// let event = EventView::new(&headers, b"hello");
/// assert_eq!(event.headers.len(), 1);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventView<'a> {
    /// The headers, in order. Flume keeps the last value of a repeated key.
    pub headers: &'a [(&'a [u8], &'a [u8])],
    /// The body.
    pub body: &'a [u8],
}

impl<'a> EventView<'a> {
    /// An event with the given headers and body.
    pub fn new(headers: &'a [(&'a [u8], &'a [u8])], body: &'a [u8]) -> EventView<'a> {
        EventView { headers, body }
    }

    /// An event with a body and no headers.
    pub fn body(body: &'a [u8]) -> EventView<'a> {
        EventView { headers: &[], body }
    }
}

impl AsEvent for EventView<'_> {
    fn header_count(&self) -> usize {
        self.headers.len()
    }
    fn header(&self, index: usize) -> (&[u8], &[u8]) {
        self.headers[index]
    }
    fn body(&self) -> &[u8] {
        self.body
    }
    /// The slices' pointers and lengths (borrowed, so unchanged during the
    /// call): events of one call with the same header slices share their
    /// encoded headers.
    #[inline]
    fn header_words(&self) -> Option<&[usize]> {
        Some(crate::wire::slice_words(self.headers))
    }
}
