//! The synchronous core, which `Client` calls and the sender thread runs:
//! validates events, splits batches into calls, sends each call to a host
//! chosen by `hosts`, on a pooled connection, and maps the reply to a result.
//! Host failover and the attempts of one call are here, in `Core::call`.
//!
//! Delivery: a call answered `OK` was accepted by the source. A call that failed
//! with `Timeout`, `Io`, `Protocol` or `Internal` may or may not have been
//! accepted; its connection is dropped and the next use reconnects. After
//! `Failed` or `Server` the server rejected the call and the connection is kept.
//! A failed call is retried on the next host (up to `max-attempts`): after an
//! uncertain failure that is at-least-once, and the call's result then says
//! "maybe delivered" even if a later attempt only failed to connect.

use std::cell::Cell;
use std::time::Instant;

use crate::address::HostPort;
use crate::cancel::CallCancel;
use crate::config::Config;
use crate::error::{err, Error, ErrorKind, Result};
use crate::event::AsEvent;
use crate::hosts::{Host, HostSet};
use crate::pool::Slot;
use crate::statistics;
use crate::stats::{QueueFigures, Stats as Counters};
use crate::sync::deadline_in;
use crate::transport::{Connection, Transport};
use crate::wire::{decode_reply_to_call, CallLimits, Method, Request, SPLICED_BODY_MIN};

/// The synchronous machinery, shared with the sender thread.
pub(crate) struct Core {
    config: Config,
    hosts: HostSet,
    stats: Counters,
    /// Plain TCP or TLS, from the config's TLS keys (files read once, here).
    transport: Transport,
}

impl Core {
    /// The core of a client of `addresses`. Reads the TLS and Kerberos
    /// settings (see `Transport::new`); connects to nothing yet.
    pub(crate) fn new(addresses: Vec<HostPort>, config: &Config) -> Result<Core> {
        let transport = Transport::new(config)?;
        Ok(Core {
            hosts: HostSet::new(addresses, config),
            config: config.clone(),
            stats: Counters::default(),
            transport,
        })
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// The hosts' addresses, in order.
    pub(crate) fn host_addresses(&self) -> impl Iterator<Item = &HostPort> {
        self.hosts.addresses()
    }

    /// The statistics as values (see `Client::stats`), without the spool's.
    pub(crate) fn stats(&self, queue: Option<QueueFigures>) -> statistics::Stats {
        self.stats.snapshot(&self.hosts.snapshot(), queue)
    }

    /// The statistics in the Prometheus text format (see `Client::stats_prometheus`).
    pub(crate) fn stats_prometheus(&self, queue: Option<QueueFigures>) -> String {
        self.stats.to_prometheus(&self.hosts.snapshot(), queue)
    }

    pub(crate) fn append<E: AsEvent>(&self, event: &E) -> Result<()> {
        let events = std::slice::from_ref(event);
        with_request(|request| {
            // Encoding checks the event: nothing is sent if it fails.
            request.encode(self.config.protocol, Method::Append, events, &self.limits(1))?;
            self.call(request, events, None)
        })
    }

    pub(crate) fn append_batch<E: AsEvent>(&self, events: &[E], delivered: &mut usize) -> Result<()> {
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
    pub(crate) fn validate<E: AsEvent>(&self, method: Method, events: &[E]) -> Result<usize> {
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
