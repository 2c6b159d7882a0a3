//! The synchronous core, which `Client` calls and the sender thread runs:
//! validates events, splits batches into calls, sends each call to a host
//! chosen by `hosts`, on a pooled connection, and maps the reply to a result.
//! Host failover and the attempts of one call are here, in `Core::call`; the
//! sender thread's pipelined calls on one connection in `Pipeline`.
//!
//! Delivery: a call answered `OK` was accepted by the source. A call that failed
//! with `Timeout`, `Io`, `Protocol` or `Internal` may or may not have been
//! accepted; its connection is dropped and the next use reconnects. After
//! `Failed` or `Server` the server rejected the call and the connection is kept.
//! A failed call is retried on the next host (up to `max-attempts`): after an
//! uncertain failure that is at-least-once, and the call's result then says
//! "maybe delivered" even if a later attempt only failed to connect.

use crate::clock::Instant;
use std::cell::RefCell;
use std::collections::VecDeque;

use crate::address::HostPort;
use crate::cancel::{CallCancel, InFlight};
use crate::config::Config;
use crate::error::{err, Error, ErrorKind, Result};
use crate::event::AsEvent;
use crate::hosts::{Host, HostSet};
use crate::pool::{Lease, Slot};
use crate::statistics;
use crate::stats::{QueueFigures, Stats as Counters};
use crate::transport::{Connection, Transport};
use crate::wire::{decode_reply_to_call, CallLimits, EncodedEvent, Method, Request, SPLICED_BODY_MIN};

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
            self.call(request, 1, |i| events[i].body(), None)
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
                let call = &events[sent..sent + count];
                self.call(request, count, |i| call[i].body(), None)?;
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

    /// Checks `event` as `append` would (UTF-8 headers, fits alone in a frame)
    /// and calls `f` with its encoding, for the send queue (see
    /// `Request::encode_event`).
    pub(crate) fn encode_event<E: AsEvent, R>(
        &self,
        event: &E,
        f: impl FnOnce(&EncodedEvent) -> Result<R>,
    ) -> Result<R> {
        with_request(|request| f(&request.encode_event(self.config.protocol, event, self.config.max_frame_size)?))
    }

    /// One `appendBatch` call of `count` events encoded beforehand (which
    /// fit in one: see `Worker::call_len_from` in the sender), their encodings back to back
    /// in `pieces` pieces, `piece(i)`, for the sender thread, which `cancel`
    /// can cut.
    pub(crate) fn send_encoded_call<'e>(
        &self,
        count: usize,
        pieces: usize,
        piece: impl Fn(usize) -> &'e [u8] + Copy,
        cancel: &CallCancel,
    ) -> Result<()> {
        with_request(|request| {
            request.encode_encoded(self.config.protocol, count, pieces, piece, self.limits(count).splice_from);
            self.call(request, count, piece, Some(cancel))
        })
    }

    /// One call, encoded in `request` (of `count` events, whose spliced
    /// bytes are `spliced(i)`: see `Request::segments_with`), tried on each
    /// candidate host in turn until one answers OK. Once `cancel` is
    /// cancelled, no further attempt is made.
    fn call<'e>(
        &self,
        request: &mut Request,
        count: usize,
        spliced: impl Fn(usize) -> &'e [u8] + Copy,
        cancel: Option<&CallCancel>,
    ) -> Result<()> {
        self.on_some_host(cancel, |host, mut slot| {
            self.call_on(host, &mut slot, request, count, spliced, cancel)?;
            self.hosts.succeeded(host);
            self.stats.acked(&host.stats, count);
            Ok(())
        })
    }

    /// Runs `attempt` on each candidate host in turn, with a slot of its
    /// pool, until one succeeds. A host whose connections all stay busy until
    /// request-timeout is skipped (nothing was sent, and a busy host is not a
    /// failing one); any other failure counts against its host. Once `cancel`
    /// is cancelled no further attempt is made, and an attempt failing with
    /// `Closed` (cancelled before sending: not the host's fault) ends them.
    fn on_some_host<'c, R>(
        &'c self,
        cancel: Option<&CallCancel>,
        mut attempt: impl FnMut(&'c Host, Lease<'c>) -> Result<R>,
    ) -> Result<R> {
        let mut failure = Failure::default();
        for host in self.hosts.candidates() {
            if let Some(Err(e)) = cancel.map(CallCancel::check) {
                failure.add(e, false);
                break;
            }
            let slot = match host.pool.checkout(self.config.request_timeout) {
                Ok(slot) => slot,
                Err(busy) => {
                    failure.add(busy, false);
                    continue;
                }
            };
            match attempt(host, slot) {
                Ok(done) => return Ok(done),
                Err(e) if e.kind() == ErrorKind::Closed => {
                    failure.add(e, false);
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
    fn call_on<'e>(
        &self,
        host: &Host,
        slot: &mut Slot,
        request: &mut Request,
        count: usize,
        spliced: impl Fn(usize) -> &'e [u8],
        cancel: Option<&CallCancel>,
    ) -> Result<()> {
        let config = &self.config;
        let method = request.method().expect("the call is encoded");
        // One reading of the clock for the idle test and the call's start,
        // read again after a new connection, whose making is not the call's time.
        let mut start = Instant::now();
        if self.connect(host, slot, start)? {
            start = Instant::now();
        }
        let connection = slot.connection.as_mut().expect("connected above");
        slot.seqid = slot.seqid.wrapping_add(1);
        let request_len = request.set_seqid(slot.seqid);
        let request = request.segments_with(move |i| -> &[u8] { spliced(i) });
        let in_flight = cancel.map(|cancel| cancel.enter(connection.fd())).transpose()?;
        let result = connection
            .round_trip(request, request_len, &mut slot.reply, start, config.request_timeout)
            .and_then(|payload| {
                self.stats.answered(start.elapsed());
                decode_reply_to_call(config.protocol, payload, slot.seqid, method, count)
                    .map_err(|e| Error::new(e.kind(), format!("{}: {}", host.address, e.message())))
            });
        drop(in_flight); // before the connection can be closed
        self.stats.sent(request_len);
        if result.as_ref().is_err_and(|e| e.kind().maybe_delivered()) {
            slot.connection = None;
        }
        result
    }

    /// Gives `slot` a connection, made now if it has none or the server
    /// closed it while idle (or sent stray bytes): then it is replaced before
    /// anything is sent. Returns whether it made one. Fails with `Connect`
    /// (nothing sent).
    #[inline(always)]
    fn connect(&self, host: &Host, slot: &mut Slot, now: Instant) -> Result<bool> {
        if slot.connection.as_mut().is_some_and(|c| c.is_stale(now)) {
            slot.connection = None;
        }
        if slot.connection.is_some() {
            return Ok(false);
        }
        slot.connection = Some(Connection::open(&host.address, self.config.connect_timeout, &self.transport)?);
        slot.seqid = 0;
        self.stats.connected(&host.stats);
        Ok(true)
    }

    /// A pipeline (see `Pipeline`) on the first candidate host that lends a
    /// connection and connects, for the sender thread (`queue.max-in-flight`
    /// above 1), whose calls `cancel` can cut. Fails as `call` does when no
    /// host does (nothing was sent).
    /// `sent` is where the pipeline keeps its calls in flight: the caller's,
    /// so that its memory is reused from pipeline to pipeline.
    pub(crate) fn pipeline<'c>(&'c self, cancel: &'c CallCancel, sent: &'c mut SentCalls) -> Result<Pipeline<'c>> {
        sent.0.clear();
        // Taken by the one host that connects (the attempt returns with it).
        let mut sent = Some(&mut sent.0);
        self.on_some_host(Some(cancel), |host, mut slot| {
            self.connect(host, &mut slot, Instant::now())?;
            let sent = sent.take().expect("one pipeline per attempt");
            Ok(Pipeline { in_flight: None, core: self, host, slot, sent, cancel })
        })
    }
}

/// Calls sent one after another on one connection before their replies are
/// read: Thrift servers, Flume's among them, answer a connection's calls one
/// at a time and in order, so the replies come back in the order the calls
/// went. After a reply that leaves delivery unknown (the connection is
/// dropped), the calls still in flight fail the same way, unread.
pub(crate) struct Pipeline<'c> {
    /// The connection's registration with `cancel` while calls are in
    /// flight: dropped before the connection (fields drop in order).
    in_flight: Option<InFlight<'c>>,
    core: &'c Core,
    host: &'c Host,
    slot: Lease<'c>,
    /// The calls sent whose replies are not read yet, oldest first.
    sent: &'c mut VecDeque<SentCall>,
    cancel: &'c CallCancel,
}

/// A pipeline's call in flight: its seqid, its events, when it was sent and its deadline.
type SentCall = (i32, usize, Instant, Instant);

/// The memory of a pipeline's calls in flight, kept between pipelines (a
/// pipeline of several calls would otherwise allocate it each time).
#[derive(Default)]
pub(crate) struct SentCalls(VecDeque<SentCall>);

impl Pipeline<'_> {
    /// Sends an `appendBatch` call of `count` events encoded beforehand, in
    /// `pieces` pieces (as `Core::send_encoded_call`), without waiting for
    /// its reply. After an error no call goes out: the connection is gone.
    pub(crate) fn send<'e>(
        &mut self,
        count: usize,
        pieces: usize,
        piece: impl Fn(usize) -> &'e [u8] + Copy,
    ) -> Result<()> {
        let core = self.core;
        let slot: &mut Slot = &mut self.slot;
        let Some(connection) = slot.connection.as_mut() else {
            return Err(err!(
                Io,
                "{}: the connection failed before this call was sent (nothing was sent)",
                self.host.address
            ));
        };
        if self.in_flight.is_none() {
            self.in_flight = Some(self.cancel.enter(connection.fd())?);
        }
        slot.seqid = slot.seqid.wrapping_add(1);
        let seqid = slot.seqid;
        let result = with_request(|request| {
            request.encode_encoded(core.config.protocol, count, pieces, piece, core.limits(count).splice_from);
            let request_len = request.set_seqid(seqid);
            let start = Instant::now();
            let segments = request.segments_with(move |i| -> &[u8] { piece(i) });
            let sent = connection.send_request(segments, request_len, start, core.config.request_timeout);
            core.stats.sent(request_len);
            sent.map(|deadline| (start, deadline))
        });
        match result {
            Ok((start, deadline)) => {
                self.sent.push_back((seqid, count, start, deadline));
                Ok(())
            }
            Err(e) => {
                self.failed(&e);
                Err(e)
            }
        }
    }

    /// Reads the reply of the oldest call in flight (there is one): `Ok` when
    /// it was accepted. As `Core::call_on` for that call, but without another
    /// host: the sender thread retries.
    pub(crate) fn receive(&mut self) -> Result<()> {
        let (seqid, count, start, deadline) = self.sent.pop_front().expect("a call in flight");
        let (core, host) = (self.core, self.host);
        let more = !self.sent.is_empty();
        let slot: &mut Slot = &mut self.slot;
        let Some(connection) = slot.connection.as_mut() else {
            return Err(err!(
                Io,
                "{}: the connection failed before this call's reply was read: delivery unknown",
                host.address
            ));
        };
        let result = connection.receive_reply(&mut slot.reply, deadline, more).and_then(|payload| {
            core.stats.answered(start.elapsed());
            decode_reply_to_call(core.config.protocol, payload, seqid, Method::AppendBatch, count)
                .map_err(|e| Error::new(e.kind(), format!("{}: {}", host.address, e.message())))
        });
        match &result {
            Ok(()) => {
                core.hosts.succeeded(host);
                core.stats.acked(&host.stats, count);
            }
            Err(e) => self.failed(e),
        }
        if self.sent.is_empty() {
            self.in_flight = None;
        }
        result
    }

    /// After a failed call: counted against the host; a failure that leaves
    /// delivery unknown also ends the connection.
    fn failed(&mut self, e: &Error) {
        self.core.stats.failed(&self.host.stats, e.kind());
        self.core.hosts.failed(self.host);
        if e.kind().maybe_delivered() {
            self.in_flight = None; // before the connection is closed
            self.slot.connection = None;
        }
    }
}

impl Drop for Pipeline<'_> {
    /// Replies still unread (a panic, an early return) leave the connection out of step: it goes.
    fn drop(&mut self) {
        self.in_flight = None;
        if !self.sent.is_empty() {
            self.slot.connection = None;
            self.sent.clear();
        }
    }
}

thread_local! {
    /// The calling thread's request buffer, reused from call to call.
    static REQUEST: RefCell<Request> = RefCell::new(Request::default());
}

/// Runs `f` with the calling thread's `Request`, borrowed in place (a new
/// one in a call nested in another on the same thread, or while the thread
/// ends).
fn with_request<R>(f: impl FnOnce(&mut Request) -> Result<R>) -> Result<R> {
    let mut f = Some(f);
    let in_place = REQUEST.try_with(|cell| {
        let mut request = cell.try_borrow_mut().ok()?;
        let result = (f.take()?)(&mut request);
        if request.capacity() > REQUEST_KEPT {
            *request = Request::default();
        }
        Some(result)
    });
    match in_place {
        Ok(Some(result)) => result,
        _ => (f.take().expect("not called in place"))(&mut Request::default()),
    }
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
