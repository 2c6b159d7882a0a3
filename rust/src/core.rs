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
use crate::wire::{
    batch_call_size, decode_reply_to_call, encode_call_spliced, event_size, event_size_and_ascii, segments, Method,
    SPLICED_BODY_MIN,
};

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
        self.validate(Method::Append, events)?;
        self.call(Method::Append, events, None)
    }

    pub(crate) fn append_batch<E: AsEvent>(&self, events: &[E], delivered: &mut usize) -> Result<()> {
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
    pub(crate) fn validate<E: AsEvent>(&self, method: Method, events: &[E]) -> Result<usize> {
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
