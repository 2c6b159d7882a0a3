//! Cutting a call in flight from another thread: the sender thread registers
//! the socket of each call it makes, and `flume_client_free`, once its
//! close-timeout has passed, shuts that socket down, so the call's wait for
//! the reply ends at once (with `Io`) instead of at request-timeout. A call
//! that has not reached the socket yet is refused before anything is sent.

use std::os::fd::RawFd;

use crate::error::{err, Result};
use crate::sync::Mutex;

#[derive(Default)]
struct State {
    /// The socket of the call in flight, while one is.
    socket: Option<RawFd>,
    cancelled: bool,
}

/// A cancellation point for the calls of one thread.
#[derive(Default)]
pub(crate) struct CallCancel {
    state: Mutex<State>,
}

impl CallCancel {
    /// Fails (nothing sent) once cancelled.
    pub(crate) fn check(&self) -> Result<()> {
        if self.state.lock().cancelled {
            return Err(err!(Closed, "the client is being freed: the call was not made (nothing was sent)"));
        }
        Ok(())
    }

    /// Registers `socket` for the call about to be made on it, unless
    /// cancelled, until the returned guard is dropped (which must happen
    /// before the socket is closed: it is, even on a panic, as the guard is
    /// dropped first).
    pub(crate) fn enter(&self, socket: RawFd) -> Result<InFlight<'_>> {
        let mut state = self.state.lock();
        if state.cancelled {
            return Err(err!(Closed, "the client is being freed: the call was not made (nothing was sent)"));
        }
        state.socket = Some(socket);
        Ok(InFlight { cancel: self })
    }

    /// Refuses every later call and cuts the one in flight. Under the lock,
    /// so the socket cannot be closed (and its number reused) meanwhile.
    pub(crate) fn cancel(&self) {
        let mut state = self.state.lock();
        state.cancelled = true;
        if let Some(socket) = state.socket {
            // SAFETY: the socket is open until `leave`, which needs this lock.
            unsafe { libc::shutdown(socket, libc::SHUT_RDWR) };
        }
    }
}

/// A call in flight on a registered socket; dropping it ends the registration.
pub(crate) struct InFlight<'a> {
    cancel: &'a CallCancel,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.cancel.state.lock().socket = None;
    }
}
