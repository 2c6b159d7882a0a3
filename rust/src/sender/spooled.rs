//! What the sender does differently when the client has a spool
//! (`queue.spool.dir`). The spool holds every accepted event until its
//! report; the memory queue keeps its bounds (`queue.max-events`,
//! `queue.max-bytes`) and holds the oldest of them, so events beyond those
//! bounds, and those a previous client left, wait on disk only and are read
//! back (`refill`) as the memory queue drains. A full spool
//! (`queue.spool.max-bytes`) is what makes `send` fail or block.
//!
//! Everything here runs under the queue lock, so the spool's record order is
//! the queue's order, which is the order of reports and thus of `release`.

use crate::clock::Instant;
use std::sync::atomic::Ordering;

use super::{Queue, QueuedEvent, Shared};
use crate::config::Config;
use crate::error::Result;
use crate::event::AsEvent;
use crate::spool::Spool;
use crate::wire::{batch_call_size, event_size, Method};

/// The spooled size of `event`, whose headers and body are `size` bytes: its `QueuedEvent` bytes.
pub(super) fn payload_len<E: AsEvent>(event: &E, size: usize) -> usize {
    4 + 8 * event.header_count() + size
}

/// Whether an event of `size` bytes fits in the memory queue (an event larger
/// than queue.max-bytes alone is let into an empty queue).
pub(super) fn memory_fits(queue: &Queue, config: &Config, size: usize) -> bool {
    queue.events.is_empty()
        || (queue.events.len() < config.queue_max_events && queue.bytes + size <= config.queue_max_bytes)
}

/// Events a previous client left in the spool: they count as accepted, so
/// `flush` waits for their reports too.
pub(super) fn replayed(spool: &Option<Spool>) -> u64 {
    spool.as_ref().map_or(0, Spool::replay_pending)
}

/// Writes an accepted event to the spool (a no-op without one). Returns it
/// back for the memory queue, or `None` when it stays on disk only (older
/// events are still on disk, or the memory queue is full). Fails with `Spool`
/// when it cannot be written: then it was not accepted.
pub(super) fn append(queue: &mut Queue, config: &Config, queued: QueuedEvent) -> Result<Option<QueuedEvent>> {
    let in_memory = match &queue.spool {
        None => return Ok(Some(queued)),
        Some(spool) => !spool.has_unread() && memory_fits(queue, config, queued.size),
    };
    let spool = queue.spool.as_mut().expect("checked");
    match spool.append(&queued.bytes, queued.opaque, in_memory) {
        Ok(()) if in_memory => Ok(Some(queued)),
        Ok(()) => {
            queue.accepted += 1;
            recycle(queue, config, queued.bytes);
            Ok(None)
        }
        Err(e) => {
            recycle(queue, config, queued.bytes);
            Err(e)
        }
    }
}

/// Keeps an event buffer for the next `send`, within the sender's own limits.
fn recycle(queue: &mut Queue, config: &Config, bytes: Vec<u8>) {
    if queue.spare.len() < 2 * config.batch_size && bytes.capacity() <= super::RECYCLED_SIZE {
        queue.spare.push(bytes);
    }
}

/// Moves events waiting on disk only into the memory queue, as far as its bounds allow.
pub(super) fn refill(queue: &mut Queue, config: &Config, shared: &Shared) {
    let Some(spool) = queue.spool.as_mut() else {
        return;
    };
    if !spool.has_unread() {
        return;
    }
    let room_events = config.queue_max_events.saturating_sub(queue.events.len());
    let room_bytes = config.queue_max_bytes.saturating_sub(queue.bytes);
    if queue.events.is_empty() || (room_events > 0 && room_bytes > 0) {
        let now = Instant::now();
        let as_event = |bytes: Vec<u8>, opaque| {
            let mut event = QueuedEvent { bytes, size: 0, opaque, queued_at: now };
            event.size = event.bytes.len() - event.data_start();
            event
        };
        // A previous client validated its events, maybe under other settings: check again.
        let sendable = |bytes: &[u8]| {
            let event = as_event(bytes.to_vec(), 0);
            let utf8 = (0..event.header_count()).all(|i| {
                let (key, value) = event.header(i);
                std::str::from_utf8(key).is_ok() && std::str::from_utf8(value).is_ok()
            });
            let size = event_size(config.protocol, &event);
            utf8 && batch_call_size(config.protocol, Method::AppendBatch, 1, size) <= config.max_frame_size
        };
        let (events, dropped) = spool.read_unread(room_events.max(1), room_bytes, sendable);
        // Dropped replayed events count as reported (they were counted as
        // accepted), so that `flush` does not wait for them.
        if dropped > 0 {
            shared.reported.fetch_add(dropped, Ordering::Release);
            shared.progress.notify_all();
        }
        for (bytes, opaque) in events {
            let event = as_event(bytes, opaque);
            queue.bytes += event.size;
            queue.events.push_back(event);
        }
    }
}

/// After reports: the spool forgets every event reported so far (they are
/// its oldest), and a `send` blocked on a full spool may find room.
pub(super) fn release(queue: &mut Queue, shared: &Shared) {
    if let Some(spool) = queue.spool.as_mut() {
        spool.release_to(shared.reported());
        shared.room.notify_all();
    }
}

/// The sender thread stops (`close`, after close-timeout when events are
/// left): with a spool, what is unreported stays on disk for the next client
/// instead of being reported `Closed` (queued) or `Timeout` (in flight), and
/// the spool is closed (synced, its lock released) at once. False without a spool.
pub(super) fn leave_on_disk(shared: &Shared) -> bool {
    let spool = {
        let mut queue = shared.queue.lock();
        let Some(spool) = queue.spool.take() else {
            return false;
        };
        queue.events.clear();
        queue.bytes = 0;
        spool
    };
    drop(spool);
    true
}
