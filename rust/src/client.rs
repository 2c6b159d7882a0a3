//! The `Client` facade: the synchronous calls (`append`, `append_batch`) go
//! to the `Core`, `send` and `flush` to the `Sender` started on first use,
//! and a client made before `fork()` refuses to work in the child.
//!
//! Delivery semantics are the core's (see `core`) and the sender's.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once, OnceLock};
use std::time::Duration;

use crate::address::parse_host_list;
use crate::batch_error::BatchError;
use crate::config::Config;
use crate::core::Core;
use crate::error::{err, panic_message, Error, Result};
use crate::event::AsEvent;
use crate::sender::Sender;
use crate::spool::Spool;
use crate::statistics::Stats;
use crate::sync::Mutex;

/// A client of one or more Flume Thrift sources. Safe to share between
/// threads: each call takes a connection from its host's pool.
pub struct Client {
    core: Arc<Core>,
    /// Started by the first `send`.
    sender: OnceLock<Sender>,
    /// Set when closing begins: no sender starts after it. Held while one starts.
    closed: Mutex<bool>,
    /// `fork_generation()` when the client was made.
    process: u64,
}

impl Client {
    /// A client of the hosts in `hosts` (see `address::parse_host_list`), or,
    /// when `hosts` is blank, of the hosts `config` names with `hosts` and
    /// `hosts.<alias>`. Does not connect: that happens on the first call.
    ///
    /// Fails with `Config` when a setting breaks the rules of its key
    /// (`Config::validate`), so a `Config` built in Rust is held to the same
    /// ranges as a properties file.
    pub fn new(hosts: &str, config: &Config) -> Result<Client> {
        config.validate()?;
        let addresses = if hosts.trim().is_empty() && !config.host_aliases.is_empty() {
            config.configured_hosts()?
        } else {
            parse_host_list(hosts)?
        };
        let core = Core::new(addresses, config)?;
        let client = Client {
            core: Arc::new(core),
            sender: OnceLock::new(),
            closed: Mutex::new(false),
            process: fork_generation(),
        };
        // A spool is opened (and locked) now, and its sender started at once:
        // what a previous client left is sent without waiting for a `send`.
        if let Some(spool) = Spool::open(config)? {
            let _ = client.sender.set(Sender::start(Arc::clone(&client.core), Some(spool))?);
        }
        Ok(client)
    }

    /// The client's settings.
    pub fn config(&self) -> &Config {
        self.core.config()
    }

    /// Sends one event with `append` and waits for the answer.
    pub fn append<E: AsEvent>(&self, event: &E) -> Result<()> {
        self.check_process()?;
        self.core.append(event)
    }

    /// Sends `events` with `appendBatch`, in calls of at most `batch-size`
    /// events and `max-frame-size` bytes, in order, stopping at the first
    /// failure. Every event is validated before anything is sent (a bad event
    /// fails the whole batch with nothing sent). On failure the
    /// [`BatchError`] says how many leading events the source acknowledged
    /// ([`BatchError::delivered`]), so the caller can resume after them.
    pub fn append_batch<E: AsEvent>(&self, events: &[E]) -> std::result::Result<(), BatchError> {
        self.check_process().map_err(|e| BatchError::new(0, e))?;
        let mut delivered = 0;
        // A panic (a bug of this library) fails the batch as `Internal` with
        // the exact count of the calls acknowledged before it.
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.core.append_batch(events, &mut delivered)))
                .unwrap_or_else(|panic| Err(err!(Internal, "a panic in append_batch: {}", panic_message(&*panic))));
        result.map_err(|e| BatchError::new(delivered, e))
    }

    /// Validates `event`, copies it into the send queue and returns; the
    /// sender thread delivers it and reports the result to the config's
    /// delivery callback with `opaque`. Fails with `QueueFull` when the queue
    /// has no room (see `queue.full`); a failed `send` queues nothing and
    /// reports nothing. Fails with `Closed` while the client is being dropped
    /// (a delivery callback sending then).
    ///
    /// From a delivery callback, `send` never waits for room (the room would
    /// have to come from the thread running the callback): with
    /// `queue.full = block` a full queue fails at once.
    pub fn send<E: AsEvent>(&self, event: &E, opaque: usize) -> Result<()> {
        self.check_process()?;
        // Checked (as `append` checks) by being encoded, and queued encoded.
        self.core.encode_event(event, |encoded| self.sender()?.send(self.core.config(), event, encoded, false, opaque))
    }

    /// [`send`](Client::send), but a body of 1 KiB or more (`wire::SPLICED_BODY_MIN`)
    /// is not copied: the calls send it from the caller's memory, as
    /// `append_batch` sends such bodies, so that it is copied once (by the
    /// kernel) instead of twice. The headers are copied as by `send`; a
    /// smaller body is copied too (a segment of its own would cost more than
    /// the copy), and so is every body with a spool (`queue.spool.dir`),
    /// which keeps its own copy. Needs a delivery callback (`InvalidArg`
    /// without one: nothing would say when the body is free again).
    ///
    /// A failed `send_borrowed` keeps nothing: the body is the caller's again
    /// at once.
    ///
    /// # Safety
    /// Once it returned `Ok`, the event's body must stay valid and unchanged
    /// until its delivery callback has been called (the callback may free it).
    pub unsafe fn send_borrowed<E: AsEvent>(&self, event: &E, opaque: usize) -> Result<()> {
        self.check_process()?;
        if self.core.config().delivery_callback.is_none() {
            return Err(err!(
                InvalidArg,
                "send_borrowed needs a delivery callback: it says when the body may be freed"
            ));
        }
        self.core.encode_event(event, |encoded| self.sender()?.send(self.core.config(), event, encoded, true, opaque))
    }

    /// Waits until every event sent before the call has its report, at most
    /// `timeout` (`Duration::MAX`: no limit); then fails with `Timeout` saying
    /// how many remain. From a delivery callback it fails at once with
    /// `InvalidArg`: it would wait for its own thread.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.check_process()?;
        self.sender.get().map_or(Ok(()), |sender| sender.flush(timeout))
    }

    /// The client's statistics: events and calls acknowledged, failed
    /// attempts by result code, connections made, bytes sent, call latency
    /// (count, total, max, and a histogram of power-of-two microsecond
    /// buckets), the send queue (events and bytes queued, reports by result
    /// code), each host's state, backoff and counters, and with a spool its
    /// figures. Takes the queue's lock for a moment; never blocks on the network.
    ///
    /// Fails with `InvalidArg` in a child process forked after the client was
    /// made: the statistics sit behind locks that a thread of the parent may
    /// have held at the fork, and would then never be released in the child.
    pub fn stats(&self) -> Result<Stats> {
        self.check_process()?;
        let sender = self.sender.get();
        let mut stats = self.core.stats(sender.map(Sender::figures));
        stats.spool = sender.and_then(Sender::spool_figures);
        Ok(stats)
    }

    /// The statistics of [`Client::stats`] as one JSON object
    /// ([`Stats::to_json`]), the form the C `flume_client_stats_json` returns.
    /// Fails as `stats` does.
    pub fn stats_json(&self) -> Result<String> {
        self.stats().map(|stats| stats.to_json())
    }

    /// The same statistics in the Prometheus text exposition format, ready to
    /// serve on a `/metrics` endpoint (metric names `flume_client_*`; with a
    /// spool, its figures as `flume_client_spool_*`, see docs/spool.md). Fails
    /// with `InvalidArg` in a forked child, as `stats_json` does.
    pub fn stats_prometheus(&self) -> Result<String> {
        self.check_process()?;
        let mut text = self.core.stats_prometheus(self.sender.get().map(Sender::figures));
        // With a spool, its families follow (the figures of the JSON's "spool" object).
        if let Some(spool) = self.sender.get().and_then(Sender::spool_figures) {
            text.push_str(&crate::spool::prometheus(&spool));
        }
        Ok(text)
    }

    /// Delivery callbacks that panicked so far (each cost its own report only).
    pub fn callback_panics(&self) -> u64 {
        self.sender.get().map_or(0, Sender::callback_panics)
    }

    /// The sender thread's side, started the first time.
    #[inline]
    pub(crate) fn sender(&self) -> Result<&Sender> {
        match self.sender.get() {
            Some(sender) => Ok(sender),
            None => self.start_sender(),
        }
    }

    /// `sender` the first time: starts the sender thread.
    #[cold]
    #[inline(never)]
    fn start_sender(&self) -> Result<&Sender> {
        let closed = self.closed.lock();
        if *closed {
            return Err(err!(Closed, "the client is being freed: the event was not queued (no report follows)"));
        }
        if self.sender.get().is_none() {
            let _ = self.sender.set(Sender::start(Arc::clone(&self.core), None)?);
            // cannot be set meanwhile: under `closed`
        }
        Ok(self.sender.get().expect("set above"))
    }

    /// Closes the asynchronous side: refuses further sends, flushes for
    /// close-timeout, then has the rest reported and waits for the sender
    /// thread to end. Takes `&self` so that delivery callbacks may still use
    /// the client while it runs (the C `flume_client_free` calls it before
    /// freeing; dropping the client calls it too). True for the call that
    /// closed; false if the client was already closed or closing (a callback
    /// closing its client while another close runs), which then does nothing.
    pub fn close(&self) -> bool {
        if fork_generation() != self.process {
            return true; // see Drop
        }
        {
            let mut closed = self.closed.lock();
            if *closed {
                return false;
            }
            *closed = true;
        }
        if let Some(sender) = self.sender.get() {
            sender.close(self.core.config().close_timeout);
        }
        true
    }

    /// A child process must not use its parent's client: both would write to
    /// the same sockets, and the child has no sender thread.
    #[inline]
    fn check_process(&self) -> Result<()> {
        if fork_generation() != self.process {
            return Err(forked());
        }
        Ok(())
    }
}

impl fmt::Debug for Client {
    /// The hosts, the settings (no secrets: a config holds file paths only)
    /// and whether the sender thread runs; the counters are in [`Client::stats`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hosts: Vec<String> = self.core.host_addresses().map(|address| address.to_string()).collect();
        f.debug_struct("Client")
            .field("hosts", &hosts)
            .field("config", self.core.config())
            .field("sender_started", &self.sender.get().is_some())
            .finish_non_exhaustive()
    }
}

impl Drop for Client {
    /// Flushes the send queue for at most `close-timeout`, then has what is
    /// left reported as failed and waits for the sender thread to end: no
    /// report, thread or connection of the client outlives the drop. The
    /// worst case is close-timeout, plus the rest of a connect attempt in
    /// progress, plus the callbacks of the reports still due.
    ///
    /// Dropped from its own delivery callback, it returns at once: the
    /// sender thread finishes on its own (flush for close-timeout, then the
    /// rest reported), after the callback returns. In a forked child it
    /// touches nothing of the parent's.
    fn drop(&mut self) {
        if fork_generation() != self.process {
            if let Some(sender) = self.sender.take() {
                std::mem::forget(sender); // its locks may be held by parent threads that do not exist here
            }
            return;
        }
        self.close();
    }
}

#[cold]
fn forked() -> Error {
    err!(InvalidArg, "this client was created before fork(): create a new client in the child process")
}

/// Counts `fork()`s in this process's history: a child sees a larger number
/// than its parent had.
#[inline]
fn fork_generation() -> u64 {
    static FORKS: AtomicU64 = AtomicU64::new(0);
    static REGISTER: Once = Once::new();
    extern "C" fn in_child() {
        FORKS.fetch_add(1, Ordering::Relaxed);
    }
    // SAFETY: registers a handler that only increments an atomic.
    REGISTER.call_once(|| unsafe {
        libc::pthread_atfork(None, None, Some(in_child));
    });
    FORKS.load(Ordering::Relaxed)
}
