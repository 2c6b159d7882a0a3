//! Asynchronous sending: a bounded queue and a background sender thread.

use std::fmt;
use std::sync::Arc;

use crate::error::Error;

/// The outcome of one event queued with `Client::send`.
pub struct DeliveryReport<'a> {
    /// The caller's value given to `send`.
    pub opaque: usize,
    /// `Ok` when the source acknowledged the event.
    pub result: std::result::Result<(), &'a Error>,
}

/// A function called once per queued event with its report.
#[derive(Clone)]
pub struct DeliveryCallback(pub Arc<dyn Fn(&DeliveryReport) + Send + Sync>);

impl fmt::Debug for DeliveryCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeliveryCallback")
    }
}

impl PartialEq for DeliveryCallback {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for DeliveryCallback {}
