//! The error of `Client::append_batch`: the `Error` of the call that failed,
//! and how many leading events were acknowledged before it.

use std::fmt;

use crate::error::{Error, ErrorKind};

/// Why [`Client::append_batch`](crate::Client::append_batch) stopped, and how
/// far it got.
///
/// The batch is sent in calls, in order, and stops at the first call that
/// fails: [`delivered`](BatchError::delivered) leading events were
/// acknowledged by the source (resume after them); the events of the call
/// that failed were not acknowledged, and with a kind whose
/// [`maybe_delivered`](ErrorKind::maybe_delivered) is true they may still
/// have reached it; the events after it were never sent.
///
/// Converts into [`Error`] (dropping the count), so `?` works in a function
/// returning [`flume_client::Result`](crate::Result) or `Box<dyn Error>`.
///
/// ```
/// use flume_client::{BatchError, Error, ErrorKind};
/// let e = BatchError::new(3, Error::new(ErrorKind::Timeout, "no reply in 20 s"));
/// assert_eq!((e.delivered(), e.kind()), (3, ErrorKind::Timeout));
/// assert!(std::error::Error::source(&e).is_some());
/// let plain: Error = e.into();
/// assert_eq!(plain.message(), "no reply in 20 s");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchError {
    delivered: usize,
    error: Error,
}

impl BatchError {
    /// The failure `error` after `delivered` leading events were acknowledged.
    pub fn new(delivered: usize, error: Error) -> BatchError {
        BatchError { delivered, error }
    }

    /// How many leading events of the batch the source acknowledged before the failure.
    pub fn delivered(&self) -> usize {
        self.delivered
    }

    /// The error of the call that failed.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The error's kind (its C result code).
    pub fn kind(&self) -> ErrorKind {
        self.error.kind()
    }

    /// The error's detail message.
    pub fn message(&self) -> &str {
        self.error.message()
    }

    /// The error, without the count.
    pub fn into_error(self) -> Error {
        self.error
    }
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (after {} events acknowledged)", self.error, self.delivered)
    }
}

impl std::error::Error for BatchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<BatchError> for Error {
    fn from(e: BatchError) -> Error {
        e.error
    }
}
