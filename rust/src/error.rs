//! The error type: one variant per result code of the C API, plus a message.

use std::fmt;

/// What went wrong, one kind per C result code (`FLUME_ERR_*`).
///
/// The numeric values are the C codes; `0` is success and is not a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ErrorKind {
    /// A NULL pointer where one is not allowed, invalid UTF-8 in a header, a bad host. Nothing sent.
    InvalidArg = 1,
    /// Unknown config key or a value out of range. Nothing sent.
    Config = 2,
    /// One event alone cannot fit in a frame of `max-frame-size`. Nothing sent.
    TooLarge = 3,
    /// No connection could be made. Nothing sent.
    Connect = 4,
    /// `request-timeout` passed before the reply came. Delivery unknown.
    Timeout = 5,
    /// The connection broke while sending or receiving. Delivery unknown.
    Io = 6,
    /// The reply was malformed. Delivery unknown.
    Protocol = 7,
    /// The server answered `FAILED` (its channel is full). Rejected.
    Failed = 8,
    /// The server answered `ERROR`, `UNKNOWN`, an unknown status, or an exception. Rejected.
    Server = 9,
    /// A bug in this library (a caught panic). Delivery unknown.
    Internal = 10,
    /// The asynchronous send queue is full. Nothing queued.
    QueueFull = 11,
    /// The client was freed before a queued event could be sent (not
    /// delivered), or `send` was called while it was being freed (not queued).
    Closed = 12,
    /// No pooled connection became free within `request-timeout`: every one of
    /// `maxConnections` stayed busy with other calls. Nothing sent.
    Busy = 13,
    /// The durable send queue (`queue.spool.dir`) could not be written or read:
    /// disk full, a write or sync error, a directory that cannot be used. The
    /// event was not accepted; what was spooled before is unaffected.
    Spool = 14,
    /// Delivery reports only: `event-timeout` passed before the event was
    /// written to any connection (the sender was busy with the events ahead
    /// of it, which were failing or slow). Nothing sent.
    Expired = 15,
}

impl ErrorKind {
    /// Every kind, in code order.
    pub const ALL: [ErrorKind; 15] = [
        ErrorKind::InvalidArg,
        ErrorKind::Config,
        ErrorKind::TooLarge,
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::Io,
        ErrorKind::Protocol,
        ErrorKind::Failed,
        ErrorKind::Server,
        ErrorKind::Internal,
        ErrorKind::QueueFull,
        ErrorKind::Closed,
        ErrorKind::Busy,
        ErrorKind::Spool,
        ErrorKind::Expired,
    ];

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
        match self {
            ErrorKind::InvalidArg => "FLUME_ERR_INVALID_ARG",
            ErrorKind::Config => "FLUME_ERR_CONFIG",
            ErrorKind::TooLarge => "FLUME_ERR_TOO_LARGE",
            ErrorKind::Connect => "FLUME_ERR_CONNECT",
            ErrorKind::Timeout => "FLUME_ERR_TIMEOUT",
            ErrorKind::Io => "FLUME_ERR_IO",
            ErrorKind::Protocol => "FLUME_ERR_PROTOCOL",
            ErrorKind::Failed => "FLUME_ERR_FAILED",
            ErrorKind::Server => "FLUME_ERR_SERVER",
            ErrorKind::Internal => "FLUME_ERR_INTERNAL",
            ErrorKind::QueueFull => "FLUME_ERR_QUEUE_FULL",
            ErrorKind::Closed => "FLUME_ERR_CLOSED",
            ErrorKind::Busy => "FLUME_ERR_BUSY",
            ErrorKind::Spool => "FLUME_ERR_SPOOL",
            ErrorKind::Expired => "FLUME_ERR_EXPIRED",
        }
    }

    /// Whether the events of a failed call may have reached the server.
    pub fn maybe_delivered(self) -> bool {
        matches!(self, ErrorKind::Timeout | ErrorKind::Io | ErrorKind::Protocol | ErrorKind::Internal)
    }
}

/// An error: its kind (the C result code) and a human-readable detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error of `kind` with a detail message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into() }
    }

    /// The kind, which is the C result code.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The detail message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.message)
    }
}

impl std::error::Error for Error {}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Builds an `Error` with a formatted message: `err!(Timeout, "after {} ms", n)`.
macro_rules! err {
    ($kind:ident, $($arg:tt)+) => {
        $crate::error::Error::new($crate::error::ErrorKind::$kind, format!($($arg)+))
    };
}
pub(crate) use err;
