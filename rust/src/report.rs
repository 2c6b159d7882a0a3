//! Delivery reports: what the sender thread tells the caller about each
//! event queued with `Client::send`, and the callback that receives it.

use std::fmt;
use std::sync::Arc;

use crate::error::Error;

/// The outcome of one event queued with [`Client::send`](crate::Client::send),
/// given to the delivery callback: exactly one per event `send` accepted.
#[derive(Debug)]
#[non_exhaustive]
pub struct DeliveryReport<'a> {
    /// The caller's value given to `send`.
    pub opaque: usize,
    /// `Ok` when the source acknowledged the event.
    pub result: std::result::Result<(), &'a Error>,
}

/// A function called once per queued event with its report.
#[derive(Clone)]
pub struct DeliveryCallback(pub Arc<dyn Fn(&DeliveryReport) + Send + Sync>);

impl DeliveryCallback {
    /// The callback calling `callback` with each report.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use flume_client::{Config, DeliveryCallback};
    ///
    /// let failed = Arc::new(Mutex::new(Vec::new()));
    /// let sink = Arc::clone(&failed);
    /// let mut config = Config::default();
    /// config.delivery_callback = Some(DeliveryCallback::new(move |report| {
    ///     if report.result.is_err() {
    ///         sink.lock().unwrap().push(report.opaque);
    ///     }
    /// }));
    /// ```
    pub fn new<F>(callback: F) -> DeliveryCallback
    where
        F: Fn(&DeliveryReport) + Send + Sync + 'static,
    {
        DeliveryCallback(Arc::new(callback))
    }
}

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
