//! Asynchronous sending: `Client::send` copies an event into a bounded queue
//! and returns; one background thread per client takes batches from the head
//! of the queue, sends them with the synchronous client (its pool, hosts and
//! failover; with `queue.max-in-flight` above 1, several calls pipelined on
//! one connection: `Core::pipeline`), retries what failed, and reports every
//! event exactly once.
//!
//! Every event is in exactly one place until it is reported: the queue, or
//! the thread's batch. Only the sender thread reports, in queue order, with
//! no lock held while the callback runs; an event leaves the batch before its
//! callback is called, so that no panic can report it twice. `close` never
//! reports by itself: it lets the thread flush for close-timeout, then cuts
//! the call in flight (`CallCancel`) and waits for the thread to report the
//! rest and end, so nothing of the client outlives it.
//!
//! The thread runs under `catch_unwind`, as does each callback: a panicking
//! callback costs that report only; a bug in the thread costs the batch it
//! was sending (reported `Internal`), and sending goes on.

use std::any::Any;
use std::cell::Cell;
use std::collections::VecDeque;
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::clock::{nanos, Instant};

use crate::cancel::CallCancel;
use crate::config::{Config, QueueFull};
use crate::core::{Core, SentCalls};
use crate::error::{err, panic_message, Error, ErrorKind, Result};
use crate::event::AsEvent;
use crate::report::DeliveryReport;
use crate::spool::Spool;
use crate::sync::{deadline_after, deadline_in, Condvar, Mutex};
use crate::wire::{batch_call_size, EncodedEvent, Method, SPLICED_BODY_MIN};

/// The memory queue's storage: records packed into large chunks.
mod event_queue;
/// The seam to the durable queue (`queue.spool.dir`): what the sender does differently with a spool.
mod spooled;

use event_queue::{runs_of, Body, EventQueue, LargeRecord, Payload, QueueClock, Record, Run, PEAK_WINDOW_NS};

/// An event copied out of the caller's memory in one allocation: the number
/// of headers, each header string's end offset (u32), then the header keys
/// and values and the body back to back (`event_queue::Payload`). The form in
/// which events go to and come from the spool; the memory queue keeps events
/// encoded for the wire (`EventQueue`).
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
    fn copy<E: AsEvent>(mut bytes: Vec<u8>, event: &E, size: usize, opaque: usize) -> QueuedEvent {
        bytes.clear();
        bytes.resize(event_queue::payload_len(event, size), 0);
        event_queue::write_payload(&mut bytes, event);
        QueuedEvent { bytes, size, opaque, queued_at: Instant::now() }
    }

    /// Where the header strings start.
    fn data_start(&self) -> usize {
        Payload(&self.bytes).data_start()
    }
}

impl AsEvent for QueuedEvent {
    fn header_count(&self) -> usize {
        Payload(&self.bytes).header_count()
    }
    fn header(&self, index: usize) -> (&[u8], &[u8]) {
        Payload(&self.bytes).header_of(index)
    }
    fn body(&self) -> &[u8] {
        Payload(&self.bytes).body_of()
    }
}

/// Queue state, under `Shared::queue`.
struct Queue {
    events: EventQueue,
    bytes: usize,
    /// Events accepted by `send` so far.
    accepted: u64,
    /// `flush` callers waiting: the thread sends at once rather than lingering.
    flushing: usize,
    /// `close` began: `send` refuses events, the thread sends what is queued
    /// without lingering and ends once it is all reported.
    closing: bool,
    /// `close` gave up (close-timeout passed): the thread stops sending,
    /// reports what is left and ends.
    abort: bool,
    /// Buffers for `send` to reuse on its way to the spool.
    spare: Vec<Vec<u8>>,
    /// The durable queue, if `queue.spool.dir` is set: every accepted event is
    /// also there until reported (see `spooled`).
    spool: Option<Spool>,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Events reported so far, each counted when its callback has returned.
    reported: AtomicU64,
    reports_by_code: [AtomicU64; ErrorKind::SLOTS],
    /// Delivery callbacks that panicked (each cost its own report only).
    callback_panics: AtomicU64,
    /// Lets `close` cut the thread's call in flight.
    cancel: CallCancel,
    /// Signalled when events arrive, a flush starts, or closing begins or gives up.
    wake: Condvar,
    /// Signalled when events leave the queue (room for `block`) or closing begins.
    room: Condvar,
    /// Signalled when events are reported (progress for `flush` and `close`).
    progress: Condvar,
}

impl Shared {
    fn reported(&self) -> u64 {
        self.reported.load(Ordering::Acquire)
    }

    /// Whether the calling thread is this sender's thread (so the call comes
    /// from one of its delivery callbacks). Thread-local: nothing shared.
    fn on_sender_thread(&self) -> bool {
        std::ptr::eq(SENDER_OF_THIS_THREAD.with(Cell::get), self)
    }
}

/// The asynchronous side of a client.
pub(crate) struct Sender {
    shared: Arc<Shared>,
    /// The client has a spool (then events go to the queue through it).
    spooled: bool,
    /// The queue's clock (for `LargeRecord`s, made outside the lock).
    clock: QueueClock,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Sender {
    /// Starts the sender thread of `core`, with asynchronous signals blocked
    /// so that the program's signals go to its own threads; with the spool
    /// opened for it, if any.
    pub(crate) fn start(core: Arc<Core>, spool: Option<Spool>) -> Result<Sender> {
        let (spooled, clock) = (spool.is_some(), QueueClock::new());
        let events = EventQueue::new(clock, core.config().protocol);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                events,
                bytes: 0,
                accepted: spooled::replayed(&spool),
                flushing: 0,
                closing: false,
                abort: false,
                spare: Vec::new(),
                spool,
            }),
            reported: AtomicU64::new(0),
            reports_by_code: Default::default(),
            callback_panics: AtomicU64::new(0),
            cancel: CallCancel::default(),
            wake: Condvar::new(),
            room: Condvar::new(),
            progress: Condvar::new(),
        });
        let thread_shared = Arc::clone(&shared);
        let thread = with_async_signals_blocked(|| {
            std::thread::Builder::new().name("flume-sender".into()).spawn(move || run(&core, &thread_shared))
        })
        .map_err(|e| err!(Internal, "cannot start the sender thread: {e}").with_source(e))?;
        Ok(Sender { shared, spooled, clock, thread: Mutex::new(Some(thread)) })
    }

    /// Copies `event`, checked and encoded by the caller (`encoded`), into
    /// the queue; with `borrow`, all but a body of 1 KiB or more, which the
    /// calls then send from where it is (no spool: the spool copies it).
    /// Fails with `QueueFull` when there is no room, at once or
    /// after `queue.block-timeout` (at once from a delivery callback, which
    /// would wait for its own thread), and with `Closed` once `close` began.
    #[inline(always)]
    pub(crate) fn send<E: AsEvent>(
        &self,
        config: &Config,
        event: &E,
        encoded: &EncodedEvent,
        borrow: bool,
        opaque: usize,
    ) -> Result<()> {
        let size = encoded.size();
        // A borrowed body stays where it is, but for the spool's copy of the event.
        let body = if borrow && !self.spooled && encoded.body().len() >= SPLICED_BODY_MIN {
            Body::Borrowed
        } else {
            Body::Copied
        };
        // Large events are copied before the lock is taken, so that no copy holds it long.
        let chunk_len = event_queue::chunk_len(encoded, body);
        let mut large = (!self.spooled && event_queue::record_len(chunk_len) > event_queue::LARGE_RECORD)
            .then(|| LargeRecord::new(&self.clock, encoded, size, opaque));
        let mut large_spooled =
            (self.spooled && size > RECYCLED_SIZE).then(|| QueuedEvent::copy(Vec::new(), event, size, opaque));
        let mut queue = self.shared.queue.lock();
        let mut deadline = None;
        loop {
            if queue.closing {
                return Err(err!(Closed, "the client is being freed: the event was not queued (no report follows)"));
            }
            let fits = match &queue.spool {
                Some(spool) => spool.fits(spooled::payload_len(event, size)),
                // An event larger than queue.max-bytes alone is let into an empty queue.
                None => spooled::memory_fits(&queue, config, size),
            };
            if fits {
                break;
            }
            let deadline = *deadline.get_or_insert_with(|| deadline_in(config.queue_block_timeout));
            // Asked only when the queue is full: a thread-local read.
            let may_block = config.queue_full == QueueFull::Block && !self.shared.on_sender_thread();
            if !may_block || Instant::now() >= deadline {
                return Err(err!(
                    QueueFull,
                    "{}{}",
                    match &queue.spool {
                        Some(spool) => spool.full_message(),
                        None => format!(
                            "the send queue is full ({} events, {} bytes; queue.max-events {}, queue.max-bytes {})",
                            queue.events.len(),
                            queue.bytes,
                            config.queue_max_events,
                            config.queue_max_bytes
                        ),
                    },
                    match (config.queue_full, may_block) {
                        (QueueFull::Block, true) => "; queue.block-timeout passed",
                        (QueueFull::Block, false) => "; a delivery callback cannot wait for room",
                        _ => "",
                    }
                ));
            }
            self.shared.room.wait_until(&mut queue, deadline);
        }
        if queue.spool.is_none() {
            match large.take() {
                Some(large) => queue.events.push_large(large),
                None => queue.events.push_event(encoded, body, size, opaque),
            }
        } else {
            let queued = match large_spooled.take() {
                Some(queued) => queued,
                None => {
                    let buffer = queue.spare.pop().unwrap_or_default();
                    QueuedEvent::copy(buffer, event, size, opaque)
                }
            };
            let Some(queued) = spooled::append(&mut queue, config, queued)? else {
                self.shared.wake.notify_one();
                return Ok(()); // on disk only, behind events not yet in memory
            };
            queue.events.push_event(encoded, Body::Copied, size, opaque);
            if queue.spare.len() < 2 * config.batch_size && queued.bytes.capacity() <= RECYCLED_SIZE {
                queue.spare.push(queued.bytes);
            }
        }
        queue.bytes += size;
        queue.accepted += 1;
        // The sender waits without a deadline only on an empty queue, and
        // otherwise until the first event's linger ends or a batch is full.
        // Notified once the lock is free, so that the sender does not wait for it again.
        let wake = queue.events.len() == 1 || queue.events.len() == config.batch_size;
        drop(queue);
        if wake {
            self.shared.wake.notify_one();
        }
        Ok(())
    }

    /// Waits until every event accepted before the call has been reported, or
    /// `timeout` passes (`Timeout`, saying how many remain). From a delivery
    /// callback it fails at once with `InvalidArg`: it would wait for itself.
    pub(crate) fn flush(&self, timeout: Duration) -> Result<()> {
        if self.shared.on_sender_thread() {
            return Err(err!(
                InvalidArg,
                "flush was called from a delivery callback of the same client: it would wait for the thread running the callback"
            ));
        }
        let deadline = deadline_in(timeout);
        let mut queue = self.shared.queue.lock();
        let target = queue.accepted;
        queue.flushing += 1;
        self.shared.wake.notify_one();
        while self.shared.reported() < target && Instant::now() < deadline {
            self.shared.progress.wait_until(&mut queue, deadline);
        }
        queue.flushing -= 1;
        let remaining = target.saturating_sub(self.shared.reported());
        if remaining > 0 {
            return Err(err!(Timeout, "flush timed out: {remaining} events still without a report"));
        }
        Ok(())
    }

    /// Refuses further events, lets the thread send what is queued for at
    /// most `timeout`, then cuts its call in flight and waits for it to report
    /// the rest (queued events `Closed`, events whose delivery is unknown
    /// `Timeout`) and end. Called again, it does nothing.
    ///
    /// From a delivery callback (the sender thread itself), it returns at
    /// once and a helper thread does the waiting: the reports still due come
    /// after it returned, within `timeout`, and then both threads end.
    pub(crate) fn close(&self, timeout: Duration) {
        let deadline = deadline_in(timeout);
        {
            let mut queue = self.shared.queue.lock();
            if queue.closing {
                return;
            }
            queue.closing = true;
            self.shared.wake.notify_all();
            self.shared.room.notify_all();
        }
        let thread = self.thread.lock().take();
        if !self.shared.on_sender_thread() {
            finish_close(&self.shared, deadline, thread);
            return;
        }
        let shared = Arc::clone(&self.shared);
        let closer = with_async_signals_blocked(|| {
            std::thread::Builder::new()
                .name("flume-closer".into())
                .spawn(move || finish_close(&shared, deadline, thread))
        });
        if closer.is_err() {
            // No thread to wait with: the sender reports the rest as soon as the callback returns.
            let mut queue = self.shared.queue.lock();
            queue.abort = true;
            self.shared.wake.notify_all();
        }
    }

    /// Queue figures for the statistics: (events queued, bytes queued, reports by code).
    pub(crate) fn figures(&self) -> (usize, usize, [u64; ErrorKind::SLOTS]) {
        let queue = self.shared.queue.lock();
        let reports = std::array::from_fn(|code| self.shared.reports_by_code[code].load(Ordering::Relaxed));
        (queue.events.len(), queue.bytes, reports)
    }

    /// The spool's statistics, if the client has one.
    pub(crate) fn spool_figures(&self) -> Option<crate::statistics::SpoolStats> {
        self.shared.queue.lock().spool.as_ref().map(Spool::figures)
    }

    /// Delivery callbacks that panicked so far.
    pub(crate) fn callback_panics(&self) -> u64 {
        self.shared.callback_panics.load(Ordering::Relaxed)
    }
}

/// The end of `close`: waits until everything is reported or `deadline`,
/// then makes the thread stop, cuts its call in flight and waits for it.
fn finish_close(shared: &Shared, deadline: Instant, thread: Option<JoinHandle<()>>) {
    {
        let mut queue = shared.queue.lock();
        while shared.reported() < queue.accepted && Instant::now() < deadline {
            shared.progress.wait_until(&mut queue, deadline);
        }
        queue.abort = true;
        shared.wake.notify_all();
    }
    shared.cancel.cancel();
    if let Some(thread) = thread {
        let _ = thread.join(); // the thread catches every panic: it returns normally
    }
}

/// Runs `f` (which starts a thread) with the asynchronous signals blocked,
/// so the new thread starts with them blocked; the caller's mask is restored.
/// Faults (SIGSEGV and the like) stay deliverable.
fn with_async_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: plain signal-set manipulation on local sets; pthread_sigmask
    // only changes the calling thread's mask, restored below.
    unsafe {
        let mut block: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut block);
        for fault in [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL, libc::SIGTRAP, libc::SIGABRT] {
            libc::sigdelset(&mut block, fault);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old);
        let result = f();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        result
    }
}

/// An event the thread took from the queue, with what its attempts left.
struct Pending {
    /// Its record in the queue's storage, released once reported.
    event: Record,
    /// `queued_at` + event-timeout, in `QueueClock` nanoseconds.
    deadline: u64,
    attempts: usize,
    /// The error of its latest attempt.
    last: Option<Rc<Error>>,
    /// The kind of an attempt that may have delivered it.
    uncertain: Option<ErrorKind>,
    /// Taken from the queue before its deadline: it gets an attempt even if
    /// lingering or the calls ahead of it in the batch took it past the
    /// deadline. Cleared when a call of the batch fails.
    protected: bool,
    /// A call accepted it: it waits only for the events before it to be
    /// reported (pipelined calls: one behind a failed call).
    acked: bool,
}

impl Pending {
    fn new(event: Record, deadline: u64, protected: bool) -> Pending {
        Pending { event, deadline, attempts: 0, last: None, uncertain: None, protected, acked: false }
    }
}

/// The sender thread's state.
struct Worker<'a> {
    core: &'a Core,
    shared: &'a Shared,
    config: &'a Config,
    batch: VecDeque<Pending>,
    /// The latest failed call's error, until a call succeeds.
    last_failure: Option<Rc<Error>>,
    /// Events reported since the last `reported_some`, whose records it releases.
    unreleased: usize,
    /// The pieces of the call being sent (`runs_of`), kept for their memory.
    runs: Vec<Run>,
    /// The calls of a pipelined attempt (indices into `batch`) and their
    /// results, kept for their memory.
    round: Vec<(Range<usize>, Option<Result<()>>)>,
    /// The calls in flight of a pipelined attempt, kept for their memory.
    sent: SentCalls,
}

thread_local! {
    /// On a sender thread, its `Shared`; elsewhere null.
    static SENDER_OF_THIS_THREAD: Cell<*const Shared> = const { Cell::new(std::ptr::null()) };
}

/// The sender thread: batches from the head of the queue until closing, then
/// the reports of whatever is left.
fn run(core: &Core, shared: &Shared) {
    SENDER_OF_THIS_THREAD.with(|sender| sender.set(shared));
    let config = core.config();
    let mut worker = Worker {
        core,
        shared,
        config,
        // Room for what `take_batch` takes at most (within reason), so that it never grows.
        batch: VecDeque::with_capacity(most_taken(config).min(1 << 16)),
        last_failure: None,
        unreleased: 0,
        runs: Vec::new(),
        round: Vec::new(),
        sent: SentCalls::default(),
    };
    loop {
        match catch_unwind(AssertUnwindSafe(|| worker.step())) {
            Ok(true) => {}
            Ok(false) => break,
            Err(panic) => {
                let _ = catch_unwind(AssertUnwindSafe(|| worker.report_panic(&*panic)));
            }
        }
    }
    for _ in 0..3 {
        // Retried only if reporting the rest hit a bug itself.
        if catch_unwind(AssertUnwindSafe(|| worker.finish())).is_ok() {
            break;
        }
    }
}

impl Worker<'_> {
    /// Takes a batch if there is none, then makes one attempt on its head.
    /// False when the thread must stop: closed and all reported, or `abort`.
    fn step(&mut self) -> bool {
        if self.batch.is_empty() && !self.take_batch() {
            return false;
        }
        self.attempt()
    }

    /// Waits for a batch worth sending (full, lingered long enough, flushed
    /// or closing) and moves it into `batch`. False when closed with nothing
    /// left, or on `abort`.
    fn take_batch(&mut self) -> bool {
        let config = self.config;
        // Lingering never makes an event miss its event-timeout.
        let linger = config.linger.min(config.event_timeout / 2);
        let mut queue = self.shared.queue.lock();
        let returned_at = Instant::now();
        loop {
            if queue.abort {
                return false;
            }
            spooled::refill(&mut queue, config, self.shared);
            match queue.events.front_queued_at() {
                Some(first_queued_at) => {
                    let send_by = deadline_after(first_queued_at, linger);
                    if queue.events.len() >= config.batch_size
                        || queue.flushing > 0
                        || queue.closing
                        || Instant::now() >= send_by
                    {
                        break;
                    }
                    self.shared.wake.wait_until(&mut queue, send_by);
                }
                None if queue.closing => return false,
                None => {
                    // Idle: the queue's memory falls back once its peak's windows pass.
                    let idle = if queue.events.keeps_more_than_the_minimum() {
                        Duration::from_nanos(PEAK_WINDOW_NS)
                    } else {
                        Duration::MAX
                    };
                    self.shared.wake.wait_until(&mut queue, deadline_in(idle));
                    queue.events.roll_peak();
                }
            }
        }
        let count = queue.events.len().min(most_taken(config));
        let (returned_ns, timeout_ns) = (returned_at.as_nanos(), nanos(config.event_timeout));
        let taken = &mut *queue;
        let (events, bytes, batch) = (&mut taken.events, &mut taken.bytes, &mut self.batch);
        events.take_each(count, |event, timeout_from| {
            *bytes -= event.size();
            let deadline = timeout_from.saturating_add(timeout_ns);
            // Expired only if the deadline passed while the thread was busy with other events.
            let protected = returned_ns < deadline;
            batch.push_back(Pending::new(event, deadline, protected));
        });
        // Notified once the lock is free, so that a woken `send` does not wait for it again.
        drop(queue);
        self.shared.room.notify_all();
        true
    }

    /// Reports the head events past their event-timeout, then sends one
    /// call from the head of the batch and reports or schedules a retry of
    /// its events. False on `abort`.
    fn attempt(&mut self) -> bool {
        let now = Instant::now().as_nanos();
        let mut expired = 0;
        while self.batch.front().is_some_and(|p| !p.protected && !p.acked && now >= p.deadline) {
            let pending = self.batch.pop_front().expect("front checked");
            let error = self.expired_error(&pending);
            self.report_one(pending.event.opaque(), Err(&error));
            expired += 1;
        }
        if expired > 0 {
            self.reported_some();
            return true;
        }
        if self.shared.queue.lock().abort {
            return false;
        }
        #[cfg(test)]
        if self.batch.front().is_some_and(|p| p.event.opaque() == tests::PANIC_OPAQUE) {
            panic!("a bug injected by a test");
        }
        if self.config.queue_max_in_flight > 1 {
            return self.attempt_pipelined();
        }
        let count = self.call_len_from(0);
        let call = &self.batch.make_contiguous()[..count];
        self.runs.clear();
        runs_of(call.iter().map(|p| &p.event), &mut self.runs);
        let runs = &self.runs;
        let result = self.core.send_encoded_call(count, runs.len(), |i| runs[i].bytes(), &self.shared.cancel);
        let failed = match result {
            Ok(()) => {
                self.accepted(0..count);
                None
            }
            Err(e) => Some(self.call_failed(0..count, e)),
        };
        self.after_calls(failed)
    }

    /// `attempt` with `queue.max-in-flight` above 1: calls of the batch's
    /// events not yet accepted, up to that many, sent on one connection
    /// before their replies are read (`Core::pipeline`). The replies come in
    /// the order the calls went; an event accepted behind a call that failed
    /// waits for the events before it, so reports stay in send order.
    fn attempt_pipelined(&mut self) -> bool {
        let mut round = std::mem::take(&mut self.round);
        round.clear();
        let mut start = 0;
        while round.len() < self.config.queue_max_in_flight {
            while self.batch.get(start).is_some_and(|p| p.acked) {
                start += 1;
            }
            if start == self.batch.len() {
                break;
            }
            let len = self.call_len_from(start);
            round.push((start..start + len, None));
            start += len;
        }
        if round.is_empty() {
            self.round = round;
            return self.after_calls(None); // every event accepted: their reports
        }
        match self.core.pipeline(&self.shared.cancel, &mut self.sent) {
            Err(e) => round[0].1 = Some(Err(e)),
            Ok(mut pipeline) => {
                let batch = self.batch.make_contiguous();
                let mut sent = 0;
                for (call, result) in round.iter_mut() {
                    self.runs.clear();
                    runs_of(batch[call.clone()].iter().map(|p| &p.event), &mut self.runs);
                    let runs = &self.runs;
                    if let Err(e) = pipeline.send(call.len(), runs.len(), |i| runs[i].bytes()) {
                        *result = Some(Err(e)); // the calls after it are not sent
                        break;
                    }
                    sent += 1;
                }
                for (_, result) in round.iter_mut().take(sent) {
                    *result = Some(pipeline.receive());
                }
            }
        }
        let mut failed = None;
        for (call, result) in round.drain(..) {
            match result {
                Some(Ok(())) => self.accepted(call),
                Some(Err(e)) => failed = Some(self.call_failed(call, e)),
                None => {}
            }
        }
        self.round = round;
        self.after_calls(failed)
    }

    /// The events of `call` (indices into `batch`) were accepted.
    fn accepted(&mut self, call: Range<usize>) {
        for pending in self.batch.range_mut(call) {
            pending.acked = true;
        }
    }

    /// The attempt of the events of `call` (indices into `batch`) failed with `error`.
    fn call_failed(&mut self, call: Range<usize>, error: Error) -> Rc<Error> {
        let error = Rc::new(error);
        for pending in self.batch.range_mut(call) {
            pending.attempts += 1;
            pending.last = Some(Rc::clone(&error));
            if error.kind().maybe_delivered() {
                pending.uncertain = Some(error.kind());
            }
        }
        error
    }

    /// After an attempt's calls (`failed`: the error of the last one that
    /// failed): reports the batch's leading events that are done, accepted or
    /// out of attempts (or failed for good), in order; then, after a failure,
    /// waits retry-backoff before the head is tried again. False on `abort`.
    fn after_calls(&mut self, failed: Option<Rc<Error>>) -> bool {
        let failed_now = failed.is_some();
        if failed_now {
            for pending in self.batch.iter_mut() {
                pending.protected = false;
            }
            if self.shared.queue.lock().abort {
                self.last_failure = failed;
                return false; // the call was cut by close: `finish` reports the batch
            }
        }
        self.last_failure = failed;
        let retries = self.config.retries;
        let give_up = |p: &Pending| p.last.as_ref().is_some_and(|last| !retriable(last.kind()) || p.attempts > retries);
        // The accepted ones at the head first (after a call that succeeded,
        // all of them), reported in place and then removed together:
        // `report_one` never unwinds (it catches the callback's panic), so
        // none can be reported twice.
        let mut reported = self.batch.iter().take_while(|p| p.acked).count();
        for i in 0..reported {
            self.report_one(self.batch[i].event.opaque(), Ok(()));
        }
        self.batch.drain(..reported);
        while let Some(pending) = self.batch.pop_front() {
            if pending.acked {
                self.report_one(pending.event.opaque(), Ok(()));
            } else if give_up(&pending) {
                let error = Rc::clone(pending.last.as_ref().expect("failed"));
                let mixed;
                let report = match pending.uncertain {
                    Some(kind) if !error.kind().maybe_delivered() => {
                        mixed =
                            Error::new(kind, format!("{}; an earlier attempt left delivery unknown", error.message()))
                                .with_source_of(&error);
                        &mixed
                    }
                    _ => &*error,
                };
                self.report_one(pending.event.opaque(), Err(report));
            } else {
                self.batch.push_front(pending);
                break;
            }
            reported += 1;
        }
        if reported > 0 {
            self.reported_some();
        }
        if failed_now && self.batch.front().is_some_and(|p| p.attempts > 0) {
            self.pause(self.config.retry_backoff);
        }
        true
    }

    /// How many of the batch's events from `start` on fit in one
    /// `appendBatch` call (at least one), from the sizes `send` recorded; an
    /// accepted event ends the call before it.
    fn call_len_from(&self, start: usize) -> usize {
        let config = self.config;
        // The events' bytes that fit in any call (its prefix at its largest,
        // a full call's list header): the exact size only past them.
        let fits_any = config.max_frame_size.saturating_sub(batch_call_size(
            config.protocol,
            Method::AppendBatch,
            config.batch_size,
            0,
        ));
        let mut events_size = 0usize;
        let events = self.batch.range(start..).take(config.batch_size);
        for (i, pending) in events.enumerate() {
            events_size = events_size.saturating_add(pending.event.wire_size());
            let too_large = || {
                events_size > fits_any
                    && batch_call_size(config.protocol, Method::AppendBatch, i + 1, events_size) > config.max_frame_size
            };
            if i > 0 && (pending.acked || too_large()) {
                return i;
            }
        }
        (self.batch.len() - start).min(config.batch_size)
    }

    /// The report of an event whose event-timeout passed: what its attempts
    /// said about delivery, or, never sent, the reason it was not.
    fn expired_error(&self, pending: &Pending) -> Error {
        let ms = self.config.event_timeout.as_millis();
        match (&pending.last, pending.uncertain) {
            (Some(last), Some(kind)) => Error::new(
                kind,
                format!("event-timeout ({ms} ms) passed; an attempt left delivery unknown; the last one: {}", last.message()),
            )
            .with_source_of(last),
            (Some(last), None) => Error::new(
                last.kind(),
                format!("event-timeout ({ms} ms) passed after {} attempts; the last one: {}", pending.attempts, last.message()),
            )
            .with_source_of(last),
            (None, _) => match &self.last_failure {
                Some(f) if f.kind() == ErrorKind::Connect => Error::new(
                    ErrorKind::Connect,
                    format!("event-timeout ({ms} ms) passed before the event was sent (nothing was sent): {}", f.message()),
                )
                .with_source_of(f),
                // The earlier failure with its code's name, as it always read.
                Some(f) => err!(
                    Expired,
                    "event-timeout ({ms} ms) passed before the event was sent (nothing was sent); the calls ahead of it failed: {}: {}",
                    f.kind().name(),
                    f.message()
                )
                .with_source_of(f),
                None => err!(
                    Expired,
                    "event-timeout ({ms} ms) passed before the event was sent (nothing was sent): the events ahead of it took that long"
                ),
            },
        }
    }

    /// Waits `how_long` unless the client gives up closing first.
    fn pause(&self, how_long: Duration) {
        let until = deadline_in(how_long);
        let mut queue = self.shared.queue.lock();
        while !queue.abort && Instant::now() < until {
            self.shared.wake.wait_until(&mut queue, until);
        }
    }

    /// Reports one event (already out of the batch and the queue), by its
    /// opaque, calling the callback with no lock held and catching its panic.
    fn report_one(&mut self, opaque: usize, result: std::result::Result<(), &Error>) {
        self.unreleased += 1;
        if let Some(cb) = &self.config.delivery_callback {
            let report = DeliveryReport { opaque, result };
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| (cb.0)(&report))) {
                self.shared.callback_panics.fetch_add(1, Ordering::Relaxed);
                // A payload whose drop panics too must not unwind out of here.
                if let Err(again) = catch_unwind(AssertUnwindSafe(|| drop(payload))) {
                    std::mem::forget(again);
                }
            }
        }
        // Counted at once (not per call): `flush` says exactly how many are left.
        let code = result.err().map_or(0, |e| e.kind().code() as usize);
        self.shared.reports_by_code[code].fetch_add(1, Ordering::Relaxed);
        self.shared.reported.fetch_add(1, Ordering::Release);
    }

    /// After reports: releases their records for reuse and wakes `flush` and `close`.
    fn reported_some(&mut self) {
        let mut queue = self.shared.queue.lock();
        queue.events.release(std::mem::take(&mut self.unreleased));
        spooled::release(&mut queue, self.shared);
        self.shared.progress.notify_all();
    }

    /// A bug in this thread interrupted the batch: its events are reported
    /// `Internal` (delivery unknown; accepted ones `Ok`), and sending goes on with the next.
    fn report_panic(&mut self, panic: &(dyn Any + Send)) {
        let what = panic_message(panic);
        let error =
            err!(Internal, "the sender thread caught a panic (a bug in flume-client: {what}); delivery unknown");
        while let Some(pending) = self.batch.pop_front() {
            let result = if pending.acked { Ok(()) } else { Err(&error) };
            self.report_one(pending.event.opaque(), result);
        }
        self.reported_some();
    }

    /// Reports what is left when the thread stops: the batch (`Ok` if a call
    /// accepted the event, `Timeout` if an attempt may have delivered it,
    /// else `Closed`), then the queue.
    fn finish(&mut self) {
        if spooled::leave_on_disk(self.shared) {
            self.batch.clear();
            return;
        }
        let unknown = err!(
            Timeout,
            "the client was freed (close-timeout passed) while this event's delivery was unknown: a call that may have delivered it got no answer"
        );
        let unsent = err!(Closed, "the client was freed (close-timeout passed) before this event was sent");
        while let Some(pending) = self.batch.pop_front() {
            let result = match (pending.acked, pending.uncertain) {
                (true, _) => Ok(()),
                (false, Some(_)) => Err(&unknown),
                (false, None) => Err(&unsent),
            };
            self.report_one(pending.event.opaque(), result);
        }
        loop {
            let mut taken = Vec::new();
            {
                let mut queue = self.shared.queue.lock();
                let queue = &mut *queue;
                let bytes = &mut queue.bytes;
                queue.events.take_each(1024, |event, _| {
                    *bytes -= event.size();
                    taken.push(event.opaque());
                });
            }
            if taken.is_empty() {
                break;
            }
            for opaque in taken {
                self.report_one(opaque, Err(&unsent));
            }
            self.reported_some();
        }
        self.reported_some();
    }
}

/// `d` in nanoseconds, saturated.
/// The most events `take_batch` takes at once: a batch for each call that may be in flight.
fn most_taken(config: &Config) -> usize {
    config.batch_size.saturating_mul(config.queue_max_in_flight)
}

/// Errors worth another try: the host, the network or the channel may recover.
fn retriable(kind: ErrorKind) -> bool {
    !matches!(
        kind,
        ErrorKind::InvalidArg | ErrorKind::Config | ErrorKind::TooLarge | ErrorKind::Internal | ErrorKind::Closed
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::DeliveryCallback;
    use crate::Client;

    /// An event with this opaque makes the sender thread panic (a stand-in for a bug).
    pub(super) const PANIC_OPAQUE: usize = usize::MAX - 7;

    #[test]
    fn a_panic_in_the_sender_thread_costs_its_batch_only_and_sending_goes_on() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        type Seen = Vec<(usize, Option<ErrorKind>)>;
        let reports: Arc<std::sync::Mutex<Seen>> = Arc::default();
        let seen = Arc::clone(&reports);
        let mut config = Config::default();
        for (key, value) in [("batch-size", "1"), ("retries", "0"), ("linger-ms", "0")] {
            config.set(key, value).unwrap();
        }
        config.delivery_callback = Some(DeliveryCallback(Arc::new(move |r: &DeliveryReport| {
            seen.lock().unwrap().push((r.opaque, r.result.err().map(Error::kind)));
        })));
        let client = Client::new(&format!("127.0.0.1:{port}"), &config).unwrap();
        let event = crate::event::EventView::body(b"x");
        for opaque in [1, PANIC_OPAQUE, 2] {
            client.send(&event, opaque).unwrap();
        }
        client.flush(Duration::from_secs(10)).unwrap();
        client.send(&event, 3).unwrap();
        client.flush(Duration::from_secs(10)).unwrap();
        let reports = reports.lock().unwrap().clone();
        assert_eq!(
            reports,
            [
                (1, Some(ErrorKind::Connect)),
                (PANIC_OPAQUE, Some(ErrorKind::Internal)),
                (2, Some(ErrorKind::Connect)),
                (3, Some(ErrorKind::Connect))
            ]
        );
    }
    #[test]
    fn an_idle_queue_frees_the_memory_of_its_peak() {
        // A server that takes calls and never answers: the queue fills
        // behind the call in flight until its request-timeout.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                std::thread::spawn(move || std::io::copy(&mut stream, &mut std::io::sink()));
            }
        });
        let mut config = Config::default();
        for (key, value) in [("batch-size", "1000"), ("retries", "0"), ("linger-ms", "0"), ("request-timeout", "500")] {
            config.set(key, value).unwrap();
        }
        let client = Client::new(&format!("127.0.0.1:{port}"), &config).unwrap();
        let body = vec![b'x'; 4096];
        for opaque in 0..3000 {
            client.send(&crate::event::EventView::body(&body), opaque).unwrap();
        }
        client.flush(Duration::from_secs(30)).unwrap();
        let shared = &client.sender().unwrap().shared;
        let kept = || shared.queue.lock().events.keeps_more_than_the_minimum();
        assert!(kept(), "the chunks of 3,000 4 KiB events are kept at first");
        // The sender thread, waiting on the empty queue, rolls the peak's
        // windows: within two of them (polled for much longer).
        let given_up_at = Instant::now() + Duration::from_secs(30);
        while kept() && Instant::now() < given_up_at {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!kept(), "back to the minimum kept once the queue has been idle for two windows");
    }
}
