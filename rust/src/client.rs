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

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once, OnceLock};
use std::time::{Duration, Instant};

use crate::batch_error::BatchError;
use crate::cancel::CallCancel;
use crate::config::Config;
use crate::conn::{Connection, Transport};
use crate::error::{err, Error, ErrorKind, Result};
use crate::event::AsEvent;
use crate::hosts::{parse_host_list, Host, HostSet};
use crate::pool::Slot;
use crate::sender::Sender;
use crate::spool::Spool;
use crate::statistics::Stats;
use crate::stats::Stats as Counters;
use crate::sync::{deadline_in, Mutex};
use crate::wire::{decode_reply_to_call, CallLimits, Method, Request, SPLICED_BODY_MIN};

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
    /// A client of the hosts in `hosts` (see `hosts::parse_host_list`), or,
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
        let wire_size = self.core.validate(Method::AppendBatch, std::slice::from_ref(event))?;
        self.sender()?.send(&self.core.config, event, wire_size, opaque)
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
        let mut stats = self.core.stats.snapshot(&self.core.hosts, sender.map(Sender::figures));
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
        let mut text = self.core.stats.to_prometheus(&self.core.hosts, self.sender.get().map(Sender::figures));
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
        let hosts: Vec<String> = self.core.hosts.hosts().iter().map(|host| host.address.to_string()).collect();
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

thread_local! {
    /// The calling thread's request buffer, reused from call to call.
    static REQUEST: Cell<Request> = Cell::new(Request::default());
}

/// Runs `f` with the calling thread's `Request` (a new one in a call nested
/// in another on the same thread).
fn with_request<R>(f: impl FnOnce(&mut Request) -> Result<R>) -> Result<R> {
    let mut request = REQUEST.try_with(Cell::take).unwrap_or_default();
    let result = f(&mut request);
    if request.capacity() <= REQUEST_KEPT {
        let _ = REQUEST.try_with(|cell| cell.set(request));
    }
    result
}

/// The largest request a thread keeps between calls: every thread that calls
/// keeps one, so a call larger than this (megabytes copied, beside which an
/// allocation is cheap) has its own.
const REQUEST_KEPT: usize = 8 << 20;

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
        with_request(|request| {
            // Encoding checks the event: nothing is sent if it fails.
            request.encode(self.config.protocol, Method::Append, events, &self.limits(1))?;
            self.call(request, events, None)
        })
    }

    fn append_batch<E: AsEvent>(&self, events: &[E], delivered: &mut usize) -> Result<()> {
        *delivered = 0;
        if events.is_empty() {
            return Ok(());
        }
        let (protocol, limits) = (self.config.protocol, self.limits(self.config.batch_size));
        with_request(|request| {
            // The first call is checked as it is encoded; when it cannot take
            // every event, the others are checked before it is sent.
            let mut count = request.encode(protocol, Method::AppendBatch, events, &limits)?;
            if count < events.len() {
                request.check(protocol, Method::AppendBatch, events, count, limits.max_frame_size)?;
            }
            loop {
                let sent = *delivered;
                self.call(request, &events[sent..sent + count], None)?;
                *delivered += count;
                if *delivered == events.len() {
                    return Ok(());
                }
                count = request.encode(protocol, Method::AppendBatch, &events[*delivered..], &limits)?;
            }
        })
    }

    /// What one call may hold. Bodies are spliced into plain connections'
    /// writes only: TLS copies every byte into its records anyway.
    fn limits(&self, max_events: usize) -> CallLimits {
        let splice_from = if self.transport.is_tls() { usize::MAX } else { SPLICED_BODY_MIN };
        CallLimits { max_events, max_frame_size: self.config.max_frame_size, splice_from }
    }

    /// Checks that every header is UTF-8 (Flume would silently corrupt it) and
    /// that every event fits alone in a frame. Returns the events' encoded size.
    fn validate<E: AsEvent>(&self, method: Method, events: &[E]) -> Result<usize> {
        with_request(|request| request.check(self.config.protocol, method, events, 0, self.config.max_frame_size))
    }

    /// One `appendBatch` call of `events` (which fit in one: see
    /// `Sender::next_call_len`) for the sender thread, which `cancel` can cut.
    pub(crate) fn send_call<E: AsEvent>(&self, events: &[E], cancel: &CallCancel) -> Result<()> {
        with_request(|request| {
            let count =
                request.encode(self.config.protocol, Method::AppendBatch, events, &self.limits(events.len()))?;
            if count != events.len() {
                return Err(err!(Internal, "a call of {} events held only {count}", events.len()));
            }
            self.call(request, events, Some(cancel))
        })
    }

    /// One call, encoded in `request` (of `events`), tried on each candidate
    /// host in turn until one answers OK. Once `cancel` is cancelled, no
    /// further attempt is made.
    fn call<E: AsEvent>(&self, request: &mut Request, events: &[E], cancel: Option<&CallCancel>) -> Result<()> {
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
            match self.call_on(host, &mut slot, request, events, cancel) {
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
        request: &mut Request,
        events: &[E],
        cancel: Option<&CallCancel>,
    ) -> Result<()> {
        let config = &self.config;
        let method = request.method().expect("the call is encoded");
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
        let request_len = request.set_seqid(slot.seqid);
        let request = request.segments(events);
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
            Some(earlier) => {
                let message = format!("{}; then {}", earlier.message(), e.message());
                e.with_message(message)
            }
        });
    }

    /// The last attempt's error with every attempt's message; its kind is the
    /// uncertain attempt's if there was one, so "nothing was sent" is never
    /// claimed after an attempt that may have delivered.
    fn into_error(self) -> Error {
        let last = self.last.unwrap_or_else(|| err!(Internal, "no host to try"));
        match self.uncertain {
            Some(kind) if !last.kind().maybe_delivered() => last.with_kind(kind),
            _ => last,
        }
    }
}
