//! The synchronous client: validates events, splits batches into calls, sends
//! each call to a host chosen by `hosts`, on a pooled connection, and maps the
//! reply to a result.
//!
//! Delivery: a call answered `OK` was accepted by the source. A call that failed
//! with `Timeout`, `Io`, `Protocol` or `Internal` may or may not have been
//! accepted; its connection is dropped and the next use reconnects. After
//! `Failed` or `Server` the server rejected the call and the connection is kept.
//! A failed call is retried on the next host (up to `max-attempts`): after an
//! uncertain failure that is at-least-once, and the call's result then says
//! "maybe delivered" even if a later attempt only failed to connect.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once, OnceLock};
use std::time::{Duration, Instant};

use crate::address::parse_host_list;
use crate::batch_error::BatchError;
use crate::cancel::CallCancel;
use crate::config::Config;
use crate::conn::{Connection, Transport};
use crate::error::{err, Error, ErrorKind, Result};
use crate::event::AsEvent;
use crate::hosts::{Host, HostSet};
use crate::pool::Slot;
use crate::sender::Sender;
use crate::spool::Spool;
use crate::statistics::Stats;
use crate::stats::Stats as Counters;
use crate::sync::{deadline_in, Mutex};
use crate::wire::{
    batch_call_size, decode_reply_to_call, encode_call_spliced, event_size, event_size_and_ascii, segments, Method,
    SPLICED_BODY_MIN,
};

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

/// The synchronous machinery, shared with the sender thread.
pub(crate) struct Core {
    config: Config,
    hosts: HostSet,
    stats: Counters,
    /// Plain TCP or TLS, from the config's TLS keys (files read once, here).
    transport: Transport,
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
        let transport = Transport::new(config)?;
        let core = Core {
            hosts: HostSet::new(addresses, config),
            config: config.clone(),
            stats: Counters::default(),
            transport,
        };
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
        &self.core.config
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
        self.core.append_batch(events, &mut delivered).map_err(|e| BatchError::new(delivered, e))
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
        self.core.validate(Method::AppendBatch, std::slice::from_ref(event))?;
        self.sender()?.send(&self.core.config, event, opaque)
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
        let mut stats = self.core.stats.snapshot(&self.core.hosts.snapshot(), sender.map(Sender::figures));
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
    /// serve on a `/metrics` endpoint (metric names `flume_client_*`). Fails
    /// with `InvalidArg` in a forked child, as `stats_json` does.
    pub fn stats_prometheus(&self) -> Result<String> {
        self.check_process()?;
        Ok(self.core.stats.to_prometheus(&self.core.hosts.snapshot(), self.sender.get().map(Sender::figures)))
    }

    /// Delivery callbacks that panicked so far (each cost its own report only).
    pub fn callback_panics(&self) -> u64 {
        self.sender.get().map_or(0, Sender::callback_panics)
    }

    fn sender(&self) -> Result<&Sender> {
        if let Some(sender) = self.sender.get() {
            return Ok(sender);
        }
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
            sender.close(self.core.config.close_timeout);
        }
        true
    }

    /// A child process must not use its parent's client: both would write to
    /// the same sockets, and the child has no sender thread.
    fn check_process(&self) -> Result<()> {
        if fork_generation() != self.process {
            return Err(err!(
                InvalidArg,
                "this client was created before fork(): create a new client in the child process"
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for Client {
    /// The hosts, the settings (no secrets: a config holds file paths only)
    /// and whether the sender thread runs; the counters are in [`Client::stats`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hosts: Vec<String> = self.core.hosts.addresses().map(|address| address.to_string()).collect();
        f.debug_struct("Client")
            .field("hosts", &hosts)
            .field("config", &self.core.config)
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

/// Counts `fork()`s in this process's history: a child sees a larger number
/// than its parent had.
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

impl Core {
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    fn append<E: AsEvent>(&self, event: &E) -> Result<()> {
        let events = std::slice::from_ref(event);
        self.validate(Method::Append, events)?;
        self.call(Method::Append, events, None)
    }

    fn append_batch<E: AsEvent>(&self, events: &[E], delivered: &mut usize) -> Result<()> {
        *delivered = 0;
        let events_size = self.validate(Method::AppendBatch, events)?;
        // The common case, all events in one call, needs no sizing of each event to split them.
        let (protocol, count) = (self.config.protocol, events.len());
        if (1..=self.config.batch_size).contains(&count)
            && batch_call_size(protocol, Method::AppendBatch, count, events_size) <= self.config.max_frame_size
        {
            self.call(Method::AppendBatch, events, None)?;
            *delivered = count;
            return Ok(());
        }
        self.append_validated(events, delivered)
    }

    /// `append_batch` of events already validated (by `Client::send`).
    pub(crate) fn append_validated<E: AsEvent>(&self, events: &[E], delivered: &mut usize) -> Result<()> {
        *delivered = 0;
        let mut rest = events;
        while !rest.is_empty() {
            let count = self.next_call_len(rest);
            self.call(Method::AppendBatch, &rest[..count], None)?;
            *delivered += count;
            rest = &rest[count..];
        }
        Ok(())
    }

    /// Checks that every header is UTF-8 (Flume would silently corrupt it) and
    /// that every event fits alone in a frame. Returns the events' encoded size.
    fn validate<E: AsEvent>(&self, method: Method, events: &[E]) -> Result<usize> {
        let protocol = self.config.protocol;
        let mut events_size = 0usize;
        for (index, event) in events.iter().enumerate() {
            let (size, ascii) = event_size_and_ascii(protocol, event);
            if !ascii {
                check_utf8(event).map_err(|e| err!(InvalidArg, "event {index}: {}", e.message()))?;
            }
            let call_size = batch_call_size(protocol, method, 1, size);
            if call_size > self.config.max_frame_size {
                return Err(err!(
                    TooLarge,
                    "event {index} needs a frame of {call_size} bytes, more than max-frame-size ({})",
                    self.config.max_frame_size
                ));
            }
            events_size = events_size.saturating_add(size);
        }
        Ok(events_size)
    }

    /// One `appendBatch` call of `events` (which fit in one) for the sender
    /// thread, which `cancel` can cut.
    pub(crate) fn send_call<E: AsEvent>(&self, events: &[E], cancel: &CallCancel) -> Result<()> {
        self.call(Method::AppendBatch, events, Some(cancel))
    }

    /// How many of the leading `events` fit in one `appendBatch` call (at least one).
    pub(crate) fn next_call_len<E: AsEvent>(&self, events: &[E]) -> usize {
        let protocol = self.config.protocol;
        let mut events_size = 0usize;
        for (i, event) in events.iter().enumerate().take(self.config.batch_size) {
            events_size = events_size.saturating_add(event_size(protocol, event));
            if i > 0 && batch_call_size(protocol, Method::AppendBatch, i + 1, events_size) > self.config.max_frame_size
            {
                return i;
            }
        }
        events.len().min(self.config.batch_size)
    }

    /// One call, tried on each candidate host in turn until one answers OK.
    /// Once `cancel` is cancelled, no further attempt is made.
    fn call<E: AsEvent>(&self, method: Method, events: &[E], cancel: Option<&CallCancel>) -> Result<()> {
        let mut failure = Failure::default();
        for host in self.hosts.candidates() {
            if let Some(Err(e)) = cancel.map(CallCancel::check) {
                failure.add(e, false);
                break;
            }
            let mut slot = match host.pool.checkout(deadline_in(self.config.request_timeout)) {
                Ok(slot) => slot,
                Err(busy) => {
                    // Nothing was sent, and a busy host is not a failing one.
                    failure.add(busy, false);
                    continue;
                }
            };
            match self.call_on(host, &mut slot, method, events, cancel) {
                Ok(()) => {
                    self.hosts.succeeded(host);
                    self.stats.acked(&host.stats, events.len());
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::Closed => {
                    failure.add(e, false); // cancelled before sending: not the host's fault
                    break;
                }
                Err(e) => {
                    self.stats.failed(&host.stats, e.kind());
                    self.hosts.failed(host);
                    let uncertain = e.kind().maybe_delivered();
                    failure.add(e, uncertain);
                }
            }
        }
        Err(failure.into_error())
    }

    /// One attempt on one host's pooled connection. Drops the connection after
    /// any error that leaves delivery unknown.
    fn call_on<E: AsEvent>(
        &self,
        host: &Host,
        slot: &mut Slot,
        method: Method,
        events: &[E],
        cancel: Option<&CallCancel>,
    ) -> Result<()> {
        let config = &self.config;
        if slot.connection.as_mut().is_some_and(|c| c.is_stale(Instant::now())) {
            // The server closed it while idle (or sent stray bytes): replace it before sending anything.
            slot.connection = None;
        }
        if slot.connection.is_none() {
            slot.connection = Some(Connection::open(&host.address, config.connect_timeout, &self.transport)?);
            slot.seqid = 0;
            self.stats.connected(&host.stats);
        }
        let connection = slot.connection.as_mut().expect("connected above");
        slot.seqid = slot.seqid.wrapping_add(1);
        slot.request.clear();
        let splice_from = if connection.is_tls() { usize::MAX } else { SPLICED_BODY_MIN };
        let request_len = encode_call_spliced(
            config.protocol,
            &mut slot.request,
            slot.seqid,
            method,
            events,
            splice_from,
            &mut slot.splices,
        );
        let request = segments(&slot.request, &slot.splices, events);
        let in_flight = cancel.map(|cancel| cancel.enter(connection.fd())).transpose()?;
        let start = Instant::now();
        let result = connection
            .round_trip(request, request_len, &mut slot.reply, start, config.request_timeout)
            .and_then(|payload| {
                self.stats.answered(start.elapsed());
                decode_reply_to_call(config.protocol, payload, slot.seqid, method, events.len())
                    .map_err(|e| Error::new(e.kind(), format!("{}: {}", host.address, e.message())))
            });
        drop(in_flight); // before the connection can be closed
        self.stats.sent(request_len);
        if result.as_ref().is_err_and(|e| e.kind().maybe_delivered()) {
            slot.connection = None;
        }
        result
    }
}

/// Checks that every header string of `event` is UTF-8, naming the first that is not.
fn check_utf8<E: AsEvent>(event: &E) -> Result<()> {
    for h in 0..event.header_count() {
        let (key, value) = event.header(h);
        for (what, string) in [("key", key), ("value", value)] {
            if let Err(e) = std::str::from_utf8(string) {
                return Err(err!(InvalidArg, "header {h} {what} is not UTF-8: {e}"));
            }
        }
    }
    Ok(())
}

/// The attempts of a call that failed on every host tried.
#[derive(Default)]
struct Failure {
    last: Option<Error>,
    /// The kind of the latest attempt that may have delivered the events.
    uncertain: Option<ErrorKind>,
}

impl Failure {
    fn add(&mut self, e: Error, uncertain: bool) {
        if uncertain {
            self.uncertain = Some(e.kind());
        }
        self.last = Some(match self.last.take() {
            None => e,
            Some(earlier) => Error::new(e.kind(), format!("{}; then {}", earlier.message(), e.message())),
        });
    }

    /// The last attempt's error with every attempt's message; its kind is the
    /// uncertain attempt's if there was one, so "nothing was sent" is never
    /// claimed after an attempt that may have delivered.
    fn into_error(self) -> Error {
        let last = self.last.unwrap_or_else(|| err!(Internal, "no host to try"));
        match self.uncertain {
            Some(kind) if !last.kind().maybe_delivered() => Error::new(kind, last.message()),
            _ => last,
        }
    }
}
