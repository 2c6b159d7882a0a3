//! A pool of up to `maxConnections` connections to one host, one call in
//! flight on each. A caller that finds them all busy waits at most until its
//! deadline (Flume's Java client waits forever).

use std::time::Duration;

use crate::clock::Instant;

use crate::error::{err, Result};
use crate::sync::{deadline_in, Condvar, Mutex, MutexGuard};
use crate::transport::Connection;

/// One connection and the reply buffer its calls reuse (requests are encoded
/// before a slot is taken, into the calling thread's `wire::Request`). The
/// connection is `None` until first used and after an error dropped it; the
/// buffer stays, so reconnecting does not reallocate.
#[derive(Default)]
pub(crate) struct Slot {
    pub(crate) connection: Option<Connection>,
    pub(crate) seqid: i32,
    pub(crate) reply: Vec<u8>,
}

pub(crate) struct Pool {
    max: usize,
    state: Mutex<PoolState>,
    returned: Condvar,
}

struct PoolState {
    /// Slots not in use; those with live connections are at the end.
    idle: Vec<Slot>,
    /// Slots made so far: at most `max`, so never more than `max` connections.
    created: usize,
}

/// A slot taken from the pool; it goes back when dropped, even on a panic.
pub(crate) struct Lease<'p> {
    pool: &'p Pool,
    slot: Option<Slot>,
}

impl Pool {
    pub(crate) fn new(max: usize) -> Pool {
        Pool {
            max,
            state: Mutex::new(PoolState { idle: Vec::with_capacity(max), created: 0 }),
            returned: Condvar::new(),
        }
    }

    /// Takes a slot, waiting at most `timeout` if all `max` are in use; then
    /// fails with `Busy` (nothing was sent).
    pub(crate) fn checkout(&self, timeout: Duration) -> Result<Lease<'_>> {
        let mut state = self.lock();
        // Read the clock only to wait: a slot is idle or can be made in the common case.
        let mut deadline = None;
        loop {
            if let Some(slot) = state.idle.pop() {
                return Ok(Lease { pool: self, slot: Some(slot) });
            }
            if state.created < self.max {
                state.created += 1;
                return Ok(Lease { pool: self, slot: Some(Slot::default()) });
            }
            let deadline = *deadline.get_or_insert_with(|| deadline_in(timeout));
            if Instant::now() >= deadline {
                return Err(err!(
                    Busy,
                    "all {} connections (maxConnections) stayed busy until request-timeout; nothing was sent",
                    self.max
                ));
            }
            self.returned.wait_until(&mut state, deadline);
        }
    }

    /// Connections currently open (idle ones; busy ones are counted by their callers).
    pub(crate) fn idle_connections(&self) -> usize {
        self.lock().idle.iter().filter(|s| s.connection.is_some()).count()
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock()
    }
}

impl std::ops::Deref for Lease<'_> {
    type Target = Slot;
    fn deref(&self) -> &Slot {
        self.slot.as_ref().expect("present until dropped")
    }
}

impl std::ops::DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut Slot {
        self.slot.as_mut().expect("present until dropped")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let mut slot = self.slot.take().expect("present until dropped");
        if std::thread::panicking() {
            // A panic interrupted a call: its connection may be mid-frame.
            slot.connection = None;
        }
        let mut state = self.pool.lock();
        if slot.connection.is_some() {
            state.idle.push(slot);
        } else {
            state.idle.insert(0, slot);
        }
        // Signalled under the lock, which helgrind insists on.
        self.pool.returned.notify_one();
    }
}
