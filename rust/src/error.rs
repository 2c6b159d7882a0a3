//! The error type and the one table of result codes.
//!
//! Every result code (the C library's `FLUME_ERR_*`, this crate's
//! [`ErrorKind`]) is one row of the `result_codes!` table below: its variant
//! and Rust doc, number, C name, what it means for delivery, the fixed
//! description `flume_result_str()` returns, and the doc of its C constant.
//! `ErrorKind`, `ErrorKind::ALL`, `name`, `delivery`, `maybe_delivered`,
//! `description` and the C library's `flume_result_str` all come from it.

use std::borrow::Cow;
use std::ffi::CStr;
use std::fmt;
use std::sync::Arc;

/// What a result code says about delivery: of the events of a failed call, or
/// of the event of a delivery report (the same meaning in both).
///
/// Exhaustive on purpose: every code, present and future, is one of these
/// three, which is all a caller needs to decide whether resending is safe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// Nothing was sent (or the event was not even accepted): resending
    /// cannot duplicate anything.
    NotSent,
    /// The events may have reached the source's channel: resending may
    /// duplicate them (at-least-once).
    MaybeDelivered,
    /// The source received the events and refused them: they are not in its
    /// channel, and resending cannot duplicate them.
    Rejected,
}

/// Defines `ErrorKind` and its table from one row per code:
///
/// ```text
/// /// Rust doc of the variant.
/// Variant = number, "FLUME_ERR_NAME", Delivery,
///     "description after the name, as flume_result_str() gives it",
///     "doc of the C constant FLUME_ERR_NAME, on one line";
/// ```
macro_rules! result_codes {
    ($(
        $(#[doc = $doc:literal])*
        $kind:ident = $code:literal, $name:literal, $delivery:ident,
            $description:literal,
            $c_doc:literal;
    )+) => {
        /// What went wrong, one kind per C result code (`FLUME_ERR_*`).
        ///
        /// The numeric values are the C codes; `0` is success and is not a kind.
        /// Later versions may add kinds: match with a `_` arm, or on
        /// [`ErrorKind::delivery`], which every kind has.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u32)]
        #[non_exhaustive]
        pub enum ErrorKind {
            $( $(#[doc = $doc])* $kind = $code, )+
        }

        impl ErrorKind {
            /// Every kind, in code order.
            pub const ALL: [ErrorKind; [$($code),+].len()] = [$(ErrorKind::$kind),+];

            fn row(self) -> &'static Row {
                match self {
                    $(ErrorKind::$kind => &Row {
                        name: $name,
                        delivery: Delivery::$delivery,
                        description_nul: concat!($name, ": ", $description, "\0"),
                        c_doc: $c_doc,
                    },)+
                }
            }
        }
    };
}

/// One row of the table, as `ErrorKind::row` gives it.
struct Row {
    name: &'static str,
    delivery: Delivery,
    /// `flume_result_str()`'s text: "NAME: description" and a NUL.
    description_nul: &'static str,
    c_doc: &'static str,
}

// THE TABLE OF RESULT CODES. To add a code:
// 1. add its row here: Rust doc, variant = the next free number, "FLUME_ERR_NAME", its
//    `Delivery`, the description flume_result_str() gives after the name, and the C doc;
// 2. in src/error.rs, add `pub const FLUME_ERR_NAME: flume_result = N;` with the row's C doc
//    as its `///` comment (cbindgen reads only literal items; line breaks are free), then
//    regenerate the header: `FLUME_CLIENT_UPDATE_HEADER=1 cargo build`; if delivery reports
//    can carry it, name it in flume_delivery_cb's doc (src/config.rs) too;
// 3. add its row to README.md's "Result codes" table (name, number, meaning, and the third
//    column saying "nothing", "maybe" or "yes, and rejected" as its `Delivery`);
// 4. if it is `MaybeDelivered`, add it to `delivery_unknown` in include/flume_client.hpp;
// 5. test what makes the library return it. `cargo test --test result_codes` checks
//    steps 2 to 4 against this table (names, numbers, C docs, README, C++ header).
// Statistics (per-code counters, JSON and Prometheus), flume_result_str(), the C++ names and
// `maybe_delivered` (failover, retries) follow by themselves; flume-send's exit status
// (tools/src/bin/flume-send.rs, `delivery_failure`) is chosen per kind: give the new one its own
// if "delivery unknown" (the default) is wrong for it.
result_codes! {
    /// A NULL pointer where one is not allowed, invalid UTF-8 in a header, a bad host. Nothing sent.
    InvalidArg = 1, "FLUME_ERR_INVALID_ARG", NotSent,
        "invalid argument; nothing was sent",
        "A NULL pointer where one is not allowed, invalid UTF-8 in a header, a count too large for memory, or a \
         bad host list. Nothing was sent.";
    /// Unknown config key or a value out of range. Nothing sent.
    Config = 2, "FLUME_ERR_CONFIG", NotSent,
        "unknown config key or value out of range",
        "An unknown config key, or a value out of range. Nothing was sent.";
    /// One event alone cannot fit in a frame of `max-frame-size`. Nothing sent.
    TooLarge = 3, "FLUME_ERR_TOO_LARGE", NotSent,
        "an event does not fit in max-frame-size; nothing was sent",
        "One event alone cannot fit in a frame of max-frame-size. Nothing was sent.";
    /// No connection could be made. Nothing sent.
    Connect = 4, "FLUME_ERR_CONNECT", NotSent,
        "no connection could be made; nothing was sent",
        "No connection could be made: refused, unreachable, name not resolved, or connect-timeout passed. \
         Nothing was sent.";
    /// `request-timeout` passed before the reply came. Delivery unknown.
    Timeout = 5, "FLUME_ERR_TIMEOUT", MaybeDelivered,
        "request-timeout passed before the reply came; delivery unknown",
        "request-timeout passed before the reply came. The events MAY have been delivered. The connection was \
         closed.";
    /// The connection broke while sending or receiving. Delivery unknown.
    Io = 6, "FLUME_ERR_IO", MaybeDelivered,
        "the connection broke while sending or receiving; delivery unknown",
        "The connection broke while sending or receiving. The events MAY have been delivered.";
    /// The reply was malformed. Delivery unknown.
    Protocol = 7, "FLUME_ERR_PROTOCOL", MaybeDelivered,
        "the reply was malformed; delivery unknown",
        "The reply was malformed: bad frame, wrong protocol, wrong seqid or method name. The events MAY have \
         been delivered. The connection was closed.";
    /// The server answered `FAILED` (its channel is full). Rejected.
    Failed = 8, "FLUME_ERR_FAILED", Rejected,
        "the server answered FAILED (its channel is full, or the call had more events than the channel's \
         transactionCapacity); the events were rejected",
        "The server answered FAILED: its channel is full (retry later), or the call had more events than the \
         channel's transactionCapacity (every such call fails: lower batch-size). The events were sent and \
         rejected; the connection stays usable.";
    /// The server answered `ERROR`, `UNKNOWN`, an unknown status, or an exception. Rejected.
    Server = 9, "FLUME_ERR_SERVER", Rejected,
        "the server answered ERROR, UNKNOWN or an exception; the events were rejected",
        "The server answered ERROR, UNKNOWN, a status outside the enum, or raised an exception: the events were \
         sent and rejected.";
    /// A bug in this library (a caught panic). Delivery unknown.
    Internal = 10, "FLUME_ERR_INTERNAL", MaybeDelivered,
        "a bug in flume-client (a caught panic); delivery unknown",
        "A bug in this library (a caught panic). The events MAY have been delivered. Please report it.";
    /// The asynchronous send queue is full. Nothing queued.
    QueueFull = 11, "FLUME_ERR_QUEUE_FULL", NotSent,
        "the send queue is full; the event was not queued",
        "flume_client_send() only: the send queue is full (queue.max-events or queue.max-bytes), at once with \
         queue.full = fail, or after queue.block-timeout with queue.full = block. Nothing was queued; no report \
         follows.";
    /// The client was freed before a queued event could be sent (not
    /// delivered), or `send` was called while it was being freed (not queued).
    Closed = 12, "FLUME_ERR_CLOSED", NotSent,
        "the client was freed before the event was sent; not delivered",
        "Delivery reports: the client was freed, and close-timeout passed, before the event could be sent. It \
         was not delivered. flume_client_send(): called while flume_client_free() of the same client runs (from \
         a delivery callback): nothing was queued; no report follows.";
    /// No pooled connection became free within `request-timeout`: every one of
    /// `maxConnections` stayed busy with other calls. Nothing sent.
    Busy = 13, "FLUME_ERR_BUSY", NotSent,
        "no pooled connection became free in time; nothing was sent",
        "No pooled connection became free in time: all maxConnections connections to the host stayed busy with \
         other calls for request-timeout. Nothing was sent; retry later, or raise maxConnections.";
    /// The durable send queue (`queue.spool.dir`) could not be written or read:
    /// disk full, a write or sync error, a directory that cannot be used. The
    /// event was not accepted; what was spooled before is unaffected.
    Spool = 14, "FLUME_ERR_SPOOL", NotSent,
        "the send queue's spool directory could not be written or read; the event was not accepted",
        "The durable send queue (queue.spool.dir) could not be used: flume_client_send() could not write the \
         event to the spool (disk full, a write or sync error). Nothing was accepted and no report follows; \
         every event spooled before is intact. A spool at queue.spool.max-bytes is FLUME_ERR_QUEUE_FULL instead. \
         flume_client_new() fails with it (NULL, reason in flume_last_error()) when the directory cannot be \
         created, read or written.";
    /// Delivery reports only: `event-timeout` passed before the event was
    /// written to any connection (the sender was busy with the events ahead
    /// of it, which were failing or slow). Nothing sent.
    Expired = 15, "FLUME_ERR_EXPIRED", NotSent,
        "event-timeout passed before the event was sent; nothing was sent",
        "Delivery reports only: event-timeout passed before the event was written to any connection, while the \
         sender was busy with the events ahead of it (failing or slow calls). Nothing was sent: resending it \
         cannot duplicate it.";
}

impl ErrorKind {
    /// One more than the largest code: the length of arrays indexed by code
    /// (codes need not be contiguous).
    pub const SLOTS: usize = {
        let mut max = 0;
        let mut i = 0;
        while i < ErrorKind::ALL.len() {
            if ErrorKind::ALL[i] as usize > max {
                max = ErrorKind::ALL[i] as usize;
            }
            i += 1;
        }
        max + 1
    };

    /// The C result code.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The kind for a C result code, if it is one.
    pub fn from_code(code: u32) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The C name of the code, e.g. `FLUME_ERR_TIMEOUT`.
    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// What the code says about delivery: nothing sent, maybe delivered, or
    /// rejected by the source.
    pub fn delivery(self) -> Delivery {
        self.row().delivery
    }

    /// Whether the events of a failed call may have reached the server
    /// (`delivery() == Delivery::MaybeDelivered`): resending may duplicate them.
    pub fn maybe_delivered(self) -> bool {
        self.delivery() == Delivery::MaybeDelivered
    }

    /// A fixed one-line description, the same for every error of the kind,
    /// starting with the name: "FLUME_ERR_TIMEOUT: request-timeout passed
    /// before the reply came; delivery unknown". The C library's
    /// `flume_result_str()` returns it.
    pub fn description(self) -> &'static str {
        let text = self.row().description_nul;
        &text[..text.len() - 1]
    }

    /// `description` as a C string, for the C library's `flume_result_str()`.
    #[doc(hidden)]
    pub fn description_c(self) -> &'static CStr {
        CStr::from_bytes_with_nul(self.row().description_nul.as_bytes()).expect("one NUL, at the end")
    }

    /// The doc comment of the C constant (`FLUME_ERR_*` in `flume_client.h`),
    /// on one line: the C library's tests check the header against it.
    #[doc(hidden)]
    pub fn c_doc(self) -> &'static str {
        self.row().c_doc
    }
}

/// The underlying error, shared so that `Error` stays `Clone`.
type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// An error: its kind (the C result code), a human-readable detail, and the
/// underlying error where there is one.
///
/// [`source()`](std::error::Error::source) is the operating system's error
/// (a [`std::io::Error`]: connecting, sending, receiving, the spool's files,
/// name lookup) or, with the feature `tls`, the TLS library's
/// (`rustls::Error`) that caused it. [`Display`](fmt::Display) gives the detail
/// alone, complete (the cause's text included), without the code's name:
/// "127.0.0.1:1: connecting to 127.0.0.1:1: ..." reads "connecting to
/// 127.0.0.1:1: Connection refused (os error 111)". The C library's
/// `flume_last_error()` gives "NAME: " and [`message()`](Error::message).
#[derive(Clone)]
pub struct Error(Box<Inner>);

/// What an `Error` holds, boxed: a `Result` of the hot paths is then a
/// word or two, returned in registers, rather than 48 bytes moved through
/// the stack at each return; an error is the slow path anyway.
#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    message: String,
    source: Option<Source>,
}

impl Error {
    /// An error of `kind` with a detail message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error(Box::new(Inner { kind, message: message.into(), source: None }))
    }

    /// The same error, caused by `source` (see [`Error`]).
    pub(crate) fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        self.0.source = Some(Arc::new(source));
        self
    }

    /// The same error, with the cause of `other` (if it has one).
    pub(crate) fn with_source_of(mut self, other: &Error) -> Error {
        self.0.source = other.0.source.clone();
        self
    }

    /// The same error (kind and cause) with another message.
    pub(crate) fn with_message(mut self, message: impl Into<String>) -> Error {
        self.0.message = message.into();
        self
    }

    /// The same error (message and cause) with another kind.
    pub(crate) fn with_kind(mut self, kind: ErrorKind) -> Error {
        self.0.kind = kind;
        self
    }

    /// The kind, which is the C result code.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The detail message, as the C library gives it after the code's name
    /// (the address of a host that was connected to directly may appear twice
    /// in it; `Display` gives it once).
    pub fn message(&self) -> &str {
        &self.0.message
    }
}

/// Equal kinds and messages; the causes are not compared.
impl PartialEq for Error {
    fn eq(&self, other: &Error) -> bool {
        self.0.kind == other.0.kind && self.0.message == other.0.message
    }
}

impl Eq for Error {}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.0.kind).field("message", &self.0.message);
        if let Some(source) = &self.0.source {
            d.field("source", source);
        }
        d.finish()
    }
}

/// The detail without the code's name, each address once.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&without_repeated_addresses(&self.0.message))
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// `message` with the repetitions of a host's address that the layers of the
/// client leave in it removed. Each part of a message ("; " between the
/// attempts of a call) that starts with an address ("host:port: ") says it
/// once: "A: connecting to A: why" (a host given as an IP address, which is
/// its own one address) becomes "connecting to A: why", and a later ": A: "
/// in the part (the connection's own report under a Kerberos one) becomes
/// ": ".
fn without_repeated_addresses(message: &str) -> Cow<'_, str> {
    let mut out = String::with_capacity(message.len());
    let mut changed = false;
    for (i, part) in message.split("; ").enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        let (lead, body) = match part.strip_prefix("then ") {
            Some(body) => ("then ", body),
            None => ("", part),
        };
        out.push_str(lead);
        let Some((address, rest)) = body.split_once(": ").filter(|(a, _)| looks_like_address(a)) else {
            out.push_str(body);
            continue;
        };
        let connecting = format!("connecting to {address}: ");
        let (head, rest) = match rest.strip_prefix(&connecting) {
            Some(rest) => (connecting, rest),
            None => (format!("{address}: "), rest),
        };
        let inner = format!(": {address}: ");
        let rest = if rest.contains(&inner) { Cow::Owned(rest.replace(&inner, ": ")) } else { Cow::Borrowed(rest) };
        changed |= head.starts_with("connecting") || matches!(rest, Cow::Owned(_));
        out.push_str(&head);
        out.push_str(&rest);
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(message)
    }
}

/// Whether `text` reads as "host:port" (a name, an IPv4 address, or an IPv6
/// one in brackets): no spaces, and a port after the last ':'.
fn looks_like_address(text: &str) -> bool {
    match text.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && !host.contains(char::is_whitespace)
                && !port.is_empty()
                && port.len() <= 5
                && port.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Builds an `Error` with a formatted message: `err!(Timeout, "after {} ms", n)`.
macro_rules! err {
    ($kind:ident, $($arg:tt)+) => {
        $crate::error::Error::new($crate::error::ErrorKind::$kind, format!($($arg)+))
    };
}
pub(crate) use err;

/// The text of a caught panic's payload (`panic!("...")` gives a `&str` or a
/// `String`), for the `Internal` error that reports it.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn the_table_is_consistent() {
        assert_eq!(ErrorKind::ALL.len(), 15);
        for (i, kind) in ErrorKind::ALL.into_iter().enumerate() {
            assert_eq!(ErrorKind::from_code(kind.code()), Some(kind));
            if i > 0 {
                assert!(ErrorKind::ALL[i - 1].code() < kind.code(), "ALL is in code order");
            }
            assert!(kind.name().starts_with("FLUME_ERR_"), "{kind:?}");
            assert!(kind.description().starts_with(&format!("{}: ", kind.name())), "{kind:?}");
            assert!(!kind.description().contains(['\0', '\n']), "{kind:?}");
            assert_eq!(kind.description_c().to_str().unwrap(), kind.description());
            assert!(!kind.c_doc().contains("  ") && !kind.c_doc().contains('\n'), "{kind:?}: one line, single spaces");
        }
        let mut names: Vec<_> = ErrorKind::ALL.iter().map(|k| k.name()).collect();
        names.dedup();
        assert_eq!(names.len(), ErrorKind::ALL.len());
        assert_eq!(ErrorKind::SLOTS, 16);
    }

    #[test]
    fn delivery_is_what_the_descriptions_say() {
        for kind in ErrorKind::ALL {
            let text = kind.description();
            let expected = if text.ends_with("delivery unknown") {
                Delivery::MaybeDelivered
            } else if text.ends_with("rejected") {
                Delivery::Rejected
            } else {
                Delivery::NotSent
            };
            assert_eq!(kind.delivery(), expected, "{text}");
            assert_eq!(kind.maybe_delivered(), expected == Delivery::MaybeDelivered);
        }
    }

    #[test]
    fn display_drops_the_code_and_the_repeated_address() {
        let e = err!(Connect, "127.0.0.1:1: connecting to 127.0.0.1:1: Connection refused (os error 111)");
        assert_eq!(e.to_string(), "connecting to 127.0.0.1:1: Connection refused (os error 111)");
        assert_eq!(e.message(), "127.0.0.1:1: connecting to 127.0.0.1:1: Connection refused (os error 111)");
        let e = err!(
            Connect,
            "[::1]:7: connecting to [::1]:7: refused; then 10.0.0.1:9: connecting to 10.0.0.1:9: no answer within \
             connect-timeout (5 ms)"
        );
        assert_eq!(
            e.to_string(),
            "connecting to [::1]:7: refused; then connecting to 10.0.0.1:9: no answer within connect-timeout (5 ms)"
        );
        let e = err!(Connect, "h:88: Kerberos (SASL GSSAPI as p): sending: h:88: connection broken (nothing)");
        assert_eq!(e.to_string(), "h:88: Kerberos (SASL GSSAPI as p): sending: connection broken (nothing)");
        // Names with several addresses, and messages without any, are left as they are.
        for same in [
            "localhost:4141: connecting to [::1]:4141: refused; connecting to 127.0.0.1:4141: refused",
            "queue.spool.dir /tmp/x: cannot lock it: Resource busy",
            "line 3: unknown config key 'x'",
            "event-timeout (30 ms) passed; the last one: 10.0.0.1:4141: request-timeout passed",
        ] {
            assert_eq!(err!(Io, "{same}").to_string(), same);
        }
    }

    #[test]
    fn the_source_is_kept_through_clones_and_new_messages() {
        let os = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let e = err!(Connect, "x").with_source(os);
        let e = e.clone().with_message("y").with_kind(ErrorKind::Io);
        let source = e.source().and_then(|s| s.downcast_ref::<std::io::Error>()).expect("an io::Error");
        assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);
        assert!(err!(Io, "z").with_source_of(&e).source().is_some());
        assert!(err!(Io, "z").source().is_none());
        assert_eq!(err!(Io, "z"), err!(Io, "z").with_source_of(&e), "causes are not compared");
    }
}
