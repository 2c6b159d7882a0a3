//! Asynchronous sending: `Client::send` copies an event into a bounded queue
//! and returns; one background thread per client takes batches from the head
//! of the queue, sends them with the synchronous client (its pool, hosts and
//! failover), retries what failed, and reports every event exactly once.
//!
//! Reports follow queue order. Every event is in exactly one place until it
//! is reported: the queue, or the thread's batch in flight (whose opaques are
//! also listed in `Reports::in_flight`, so that `close` can report them if it
//! gives up waiting for the thread).

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::Core;
use crate::config::{Config, QueueFull};
use crate::error::{err, Error, ErrorKind, Result};
use crate::event::EventView;
use crate::sync::{Condvar, Mutex};

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

/// An event copied out of the caller's memory in one allocation: the number
/// of headers, each header string's end offset (u32), then the header keys
/// and values and the body back to back.
struct QueuedEvent {
    bytes: Vec<u8>,
    /// Header and body bytes, counted against `queue.max-bytes`.
    size: usize,
    opaque: usize,
    queued_at: Instant,
}

/// Event buffers up to this size are recycled (and filled under the queue
/// lock); larger ones are allocated and filled before taking the lock.
const RECYCLED_SIZE: usize = 64 * 1024;

impl QueuedEvent {
    /// Copies `event` into `bytes` (emptied first), which holds `size` bytes of headers and body.
    fn copy<E: EventView>(mut bytes: Vec<u8>, event: &E, size: usize, opaque: usize) -> QueuedEvent {
        let count = event.header_count();
        bytes.clear();
        bytes.reserve(4 + 8 * count + size);
        bytes.extend_from_slice(&(count as u32).to_le_bytes());
        let mut end = 0;
        for i in 0..count {
            let (key, value) = event.header(i);
            for string in [key, value] {
                end += string.len();
                bytes.extend_from_slice(&(end as u32).to_le_bytes());
            }
        }
        for i in 0..count {
            let (key, value) = event.header(i);
            bytes.extend_from_slice(key);
            bytes.extend_from_slice(value);
        }
        bytes.extend_from_slice(event.body());
        QueuedEvent { bytes, size, opaque, queued_at: Instant::now() }
    }

    fn u32_at(&self, at: usize) -> usize {
        u32::from_le_bytes(self.bytes[at..at + 4].try_into().expect("4 bytes")) as usize
    }

    /// Where the header strings start, and where string `n` ends (relative to that start).
    fn data_start(&self) -> usize {
        4 + 8 * self.header_count()
    }

    fn end_of(&self, string: usize) -> usize {
        self.u32_at(4 + 4 * string)
    }
}

impl EventView for QueuedEvent {
    fn header_count(&self) -> usize {
        self.u32_at(0)
    }
    fn header(&self, index: usize) -> (&[u8], &[u8]) {
        let data = &self.bytes[self.data_start()..];
        let key_start = if index == 0 { 0 } else { self.end_of(2 * index - 1) };
        let (key_end, value_end) = (self.end_of(2 * index), self.end_of(2 * index + 1));
        (&data[key_start..key_end], &data[key_end..value_end])
    }
    fn body(&self) -> &[u8] {
        let count = self.header_count();
        let headers_len = if count == 0 { 0 } else { self.end_of(2 * count - 1) };
        &self.bytes[self.data_start() + headers_len..]
    }
}

/// Queue state, under `Shared::queue`.
#[derive(Default)]
struct Queue {
    events: VecDeque<QueuedEvent>,
    bytes: usize,
    /// Events accepted by `send` so far, and events reported so far.
    accepted: u64,
    reported: u64,
    /// `flush` callers waiting: the thread sends at once rather than lingering.
    flushing: usize,
    closing: bool,
    reports_by_code: [u64; ErrorKind::ALL.len() + 1],
    /// Buffers of reported events, for `send` to reuse.
    spare: Vec<Vec<u8>>,
}

/// Report state, under `Shared::reports`: taken before `queue` when both are needed.
#[derive(Default)]
struct Reports {
    /// Set when `close` gave up on the thread: it reports nothing more.
    closed: bool,
    /// Opaques of the batch in flight, in order.
    in_flight: VecDeque<usize>,
}

struct Shared {
    queue: Mutex<Queue>,
    reports: Mutex<Reports>,
    /// Signalled when events arrive, a flush starts or closing begins.
    wake: Condvar,
    /// Signalled when events leave the queue (room for `block`).
    room: Condvar,
    /// Signalled when events are reported (progress for `flush`).
    progress: Condvar,
}

/// The asynchronous side of a client.
pub(crate) struct Sender {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sender {
    /// Starts the sender thread of `core`.
    pub(crate) fn start(core: Arc<Core>) -> Result<Sender> {
        let shared = Arc::new(Shared {
            queue: Mutex::default(),
            reports: Mutex::default(),
            wake: Condvar::new(),
            room: Condvar::new(),
            progress: Condvar::new(),
        });
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("flume-sender".into())
            .spawn(move || run(&core, &thread_shared))
            .map_err(|e| err!(Internal, "cannot start the sender thread: {e}"))?;
        Ok(Sender { shared, thread: Some(thread) })
    }

    /// Copies `event` into the queue (the caller validated it). Fails with
    /// `QueueFull` when there is no room, at once or after `queue.block-timeout`.
    pub(crate) fn send<E: EventView>(&self, config: &Config, event: &E, opaque: usize) -> Result<()> {
        let size = event_bytes(event);
        let mut large = (size > RECYCLED_SIZE).then(|| QueuedEvent::copy(Vec::new(), event, size, opaque));
        let mut queue = self.shared.queue.lock();
        let deadline = Instant::now() + config.queue_block_timeout;
        loop {
            if queue.closing {
                return Err(err!(InvalidArg, "the client is being freed"));
            }
            let fits = queue.events.len() < config.queue_max_events && queue.bytes + size <= config.queue_max_bytes;
            // An event larger than queue.max-bytes alone is let into an empty queue.
            if fits || queue.events.is_empty() {
                break;
            }
            if config.queue_full == QueueFull::Fail || Instant::now() >= deadline {
                return Err(err!(
                    QueueFull,
                    "the send queue is full ({} events, {} bytes; queue.max-events {}, queue.max-bytes {}){}",
                    queue.events.len(),
                    queue.bytes,
                    config.queue_max_events,
                    config.queue_max_bytes,
                    if config.queue_full == QueueFull::Block { "; queue.block-timeout passed" } else { "" }
                ));
            }
            self.shared.room.wait_until(&mut queue, deadline);
        }
        let queued = match large.take() {
            Some(queued) => queued,
            None => {
                let buffer = queue.spare.pop().unwrap_or_default();
                QueuedEvent::copy(buffer, event, size, opaque)
            }
        };
        queue.bytes += size;
        queue.accepted += 1;
        queue.events.push_back(queued);
        // The sender waits without a deadline only on an empty queue, and
        // otherwise until the first event's linger ends or a batch is full.
        if queue.events.len() == 1 || queue.events.len() == config.batch_size {
            self.shared.wake.notify_one();
        }
        Ok(())
    }

    /// Waits until every event accepted before the call has been reported, or
    /// `timeout` passes (`Timeout`, saying how many remain).
    pub(crate) fn flush(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut queue = self.shared.queue.lock();
        let target = queue.accepted;
        queue.flushing += 1;
        self.shared.wake.notify_one();
        while queue.reported < target && Instant::now() < deadline {
            self.shared.progress.wait_until(&mut queue, deadline);
        }
        queue.flushing -= 1;
        let remaining = target.saturating_sub(queue.reported);
        if remaining > 0 {
            return Err(err!(Timeout, "flush timed out: {remaining} events still without a report"));
        }
        Ok(())
    }

    /// Flushes for at most `timeout`, then stops the thread. Events still
    /// unreported are reported here, on the caller's thread: queued ones as
    /// `Closed` (not sent), the batch in flight as `Timeout` (delivery unknown).
    /// Returns without waiting for a call in flight to end.
    pub(crate) fn close(mut self, timeout: Duration, callback: Option<&DeliveryCallback>) {
        let flushed = self.flush(timeout).is_ok();
        if flushed {
            self.shared.queue.lock().closing = true;
            self.shared.wake.notify_one();
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
            return;
        }
        let mut reports = self.shared.reports.lock();
        reports.closed = true;
        let in_flight: Vec<usize> = reports.in_flight.drain(..).collect();
        let queued: Vec<usize> = {
            let mut queue = self.shared.queue.lock();
            queue.closing = true;
            queue.events.drain(..).map(|e| e.opaque).collect()
        };
        self.shared.wake.notify_one();
        let uncertain = err!(Timeout, "the client was freed while this event's call was in flight: delivery unknown");
        let unsent = err!(Closed, "the client was freed (close-timeout passed) before this event was sent");
        let mut queue_counts = (0, 0);
        if let Some(cb) = callback {
            for opaque in &in_flight {
                (cb.0)(&DeliveryReport { opaque: *opaque, result: Err(&uncertain) });
            }
            for opaque in &queued {
                (cb.0)(&DeliveryReport { opaque: *opaque, result: Err(&unsent) });
            }
        }
        queue_counts.0 += in_flight.len() as u64;
        queue_counts.1 += queued.len() as u64;
        drop(reports);
        let mut queue = self.shared.queue.lock();
        queue.reported += queue_counts.0 + queue_counts.1;
        queue.reports_by_code[ErrorKind::Timeout.code() as usize] += queue_counts.0;
        queue.reports_by_code[ErrorKind::Closed.code() as usize] += queue_counts.1;
        // The thread is detached: it ends after its call in flight, reporting nothing.
    }

    /// Queue figures for the statistics: (events queued, bytes queued, reports by code).
    pub(crate) fn figures(&self) -> (usize, usize, [u64; ErrorKind::ALL.len() + 1]) {
        let queue = self.shared.queue.lock();
        (queue.events.len(), queue.bytes, queue.reports_by_code)
    }
}

fn event_bytes<E: EventView>(event: &E) -> usize {
    (0..event.header_count()).map(|i| event.header(i)).map(|(k, v)| k.len() + v.len()).sum::<usize>()
        + event.body().len()
}

/// The sender thread: batches from the head of the queue until closing.
fn run(core: &Core, shared: &Shared) {
    let config = core.config();
    let mut batch: Vec<QueuedEvent> = Vec::with_capacity(config.batch_size);
    while take_batch(config, shared, &mut batch) {
        send_batch(core, shared, &mut batch);
    }
}

/// Waits for a batch worth sending (full, lingered long enough, or flushed)
/// and moves it into `batch`. False when the client is closing and nothing is left.
fn take_batch(config: &Config, shared: &Shared, batch: &mut Vec<QueuedEvent>) -> bool {
    {
        let mut queue = shared.queue.lock();
        loop {
            if let Some(first) = queue.events.front() {
                let send_by = first.queued_at + config.linger;
                if queue.events.len() >= config.batch_size || queue.flushing > 0 || queue.closing || Instant::now() >= send_by {
                    break;
                }
                shared.wake.wait_until(&mut queue, send_by);
            } else if queue.closing {
                return false;
            } else {
                shared.wake.wait_until(&mut queue, Instant::now() + Duration::from_secs(3600));
            }
        }
    }
    // Take the batch and list it in flight in one step, under both locks.
    let mut reports = shared.reports.lock();
    if reports.closed {
        return false;
    }
    let mut queue = shared.queue.lock();
    let count = queue.events.len().min(config.batch_size);
    let queue = &mut *queue;
    for event in queue.events.drain(..count) {
        queue.bytes -= event.size;
        reports.in_flight.push_back(event.opaque);
        batch.push(event);
    }
    shared.room.notify_all();
    true
}

/// Sends `batch`, retrying what failed, until every event is reported.
fn send_batch(core: &Core, shared: &Shared, batch: &mut Vec<QueuedEvent>) {
    let config = core.config();
    let mut retries = 0;
    let mut last_error: Option<Error> = None;
    while !batch.is_empty() {
        // Events past event-timeout get their last error (or a timeout) now.
        let expired = batch.iter().take_while(|e| e.queued_at.elapsed() >= config.event_timeout).count();
        if expired > 0 {
            let e = last_error.clone().unwrap_or_else(|| err!(Timeout, "event-timeout passed before the event could be sent"));
            report(core, shared, batch, expired, Err(&e));
            continue;
        }
        let mut delivered = 0;
        let result = core.append_validated(batch, &mut delivered);
        report(core, shared, batch, delivered, Ok(()));
        match result {
            Ok(()) => return,
            Err(e) if retries >= config.retries || !retriable(e.kind()) => {
                let count = batch.len();
                report(core, shared, batch, count, Err(&e));
                return;
            }
            Err(e) => {
                retries += 1;
                last_error = Some(e);
                if !pause(shared, config.retry_backoff) {
                    return; // closed: close() reported the batch
                }
            }
        }
    }
}

/// Errors worth another try: the host, the network or the channel may recover.
fn retriable(kind: ErrorKind) -> bool {
    !matches!(kind, ErrorKind::InvalidArg | ErrorKind::Config | ErrorKind::TooLarge | ErrorKind::Internal)
}

/// Waits `how_long` unless the client closes first. False if it did.
fn pause(shared: &Shared, how_long: Duration) -> bool {
    let until = Instant::now() + how_long;
    let mut queue = shared.queue.lock();
    while !queue.closing && Instant::now() < until {
        shared.wake.wait_until(&mut queue, until);
    }
    !queue.closing
}

/// Reports the first `count` events of `batch` and removes them.
fn report(core: &Core, shared: &Shared, batch: &mut Vec<QueuedEvent>, count: usize, result: std::result::Result<(), &Error>) {
    if count == 0 {
        return;
    }
    let mut reports = shared.reports.lock();
    if reports.closed {
        batch.clear();
        return;
    }
    if let Some(cb) = &core.config().delivery_callback {
        for event in &batch[..count] {
            (cb.0)(&DeliveryReport { opaque: event.opaque, result });
        }
    }
    reports.in_flight.drain(..count);
    drop(reports);
    let mut queue = shared.queue.lock();
    let spare_limit = 2 * core.config().batch_size;
    for event in batch.drain(..count) {
        if queue.spare.len() < spare_limit && event.bytes.capacity() <= RECYCLED_SIZE {
            queue.spare.push(event.bytes);
        }
    }
    queue.reported += count as u64;
    let code = result.err().map_or(0, |e| e.kind().code() as usize);
    queue.reports_by_code[code] += count as u64;
    shared.progress.notify_all();
}
