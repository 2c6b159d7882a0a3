//! A mutex and a condition variable on pthreads rather than std's futex-based
//! ones: valgrind's helgrind and DRD, which C programmers run on their
//! programs, understand pthread locking only, and would otherwise report
//! every handover of a pooled connection between threads as a data race.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use crate::clock::Instant;

/// The instant `timeout` after `start`, saturating: a timeout too large to
/// add (`Duration::MAX`, the natural "forever") gives a deadline a century
/// away, which every wait here treats as "no limit".
pub(crate) fn deadline_after(start: Instant, timeout: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    start.checked_add(timeout).or_else(|| start.checked_add(CENTURY)).unwrap_or(start)
}

/// `deadline_after(Instant::now(), timeout)`.
pub(crate) fn deadline_in(timeout: Duration) -> Instant {
    deadline_after(Instant::now(), timeout)
}

/// A mutual-exclusion lock around a `T`. Unlike std's, it is never poisoned:
/// the data it guards here stays consistent at every point a panic can occur.
pub(crate) struct Mutex<T> {
    // Boxed: a pthread mutex must not move once used.
    raw: Box<UnsafeCell<libc::pthread_mutex_t>>,
    data: UnsafeCell<T>,
}

// SAFETY: access to `data` is serialized by the pthread mutex.
unsafe impl<T: Send> Send for Mutex<T> {}
unsafe impl<T: Send> Sync for Mutex<T> {}

pub(crate) struct MutexGuard<'a, T> {
    mutex: &'a Mutex<T>,
}

impl<T> Mutex<T> {
    pub(crate) fn new(data: T) -> Mutex<T> {
        Mutex { raw: Box::new(UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER)), data: UnsafeCell::new(data) }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        // SAFETY: an initialized mutex that does not move. A default mutex
        // only fails to lock on deadlock by the same thread, which our lock
        // scopes (no nesting, no calls out) rule out.
        let rc = unsafe { libc::pthread_mutex_lock(self.raw.get()) };
        assert_eq!(rc, 0, "pthread_mutex_lock");
        MutexGuard { mutex: self }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> Drop for Mutex<T> {
    fn drop(&mut self) {
        // SAFETY: no guard can outlive the mutex, so it is unlocked.
        unsafe { libc::pthread_mutex_destroy(self.raw.get()) };
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this thread holds the lock.
        unsafe { libc::pthread_mutex_unlock(self.mutex.raw.get()) };
    }
}

/// A condition variable on the monotonic clock, so deadlines ignore wall-clock jumps.
pub(crate) struct Condvar {
    raw: Box<UnsafeCell<libc::pthread_cond_t>>,
}

// SAFETY: pthread condition variables are made to be shared between threads.
unsafe impl Send for Condvar {}
unsafe impl Sync for Condvar {}

impl Condvar {
    pub(crate) fn new() -> Condvar {
        let raw = Box::new(UnsafeCell::new(libc::PTHREAD_COND_INITIALIZER));
        // SAFETY: initializing a fresh condition variable with a fresh attribute.
        unsafe {
            let mut attr: libc::pthread_condattr_t = std::mem::zeroed();
            libc::pthread_condattr_init(&mut attr);
            libc::pthread_condattr_setclock(&mut attr, libc::CLOCK_MONOTONIC);
            libc::pthread_cond_init(raw.get(), &attr);
            libc::pthread_condattr_destroy(&mut attr);
        }
        Condvar { raw }
    }

    /// Releases the guard's lock until notified or `deadline` passes (or
    /// spuriously), then takes it again.
    pub(crate) fn wait_until<T>(&self, guard: &mut MutexGuard<'_, T>, deadline: Instant) {
        // The condition variable's clock is the deadline's (`Condvar::new`).
        let ns = deadline.as_nanos();
        let until = libc::timespec {
            tv_sec: (ns / 1_000_000_000).min(libc::time_t::MAX as u64) as libc::time_t,
            tv_nsec: (ns % 1_000_000_000) as libc::c_long,
        };
        // SAFETY: the guard's mutex is locked by this thread.
        unsafe {
            libc::pthread_cond_timedwait(self.raw.get(), guard.mutex.raw.get(), &until);
        }
    }

    pub(crate) fn notify_one(&self) {
        // SAFETY: an initialized condition variable.
        unsafe { libc::pthread_cond_signal(self.raw.get()) };
    }

    pub(crate) fn notify_all(&self) {
        // SAFETY: an initialized condition variable.
        unsafe { libc::pthread_cond_broadcast(self.raw.get()) };
    }
}

impl Drop for Condvar {
    fn drop(&mut self) {
        // SAFETY: no thread can be waiting on a condition variable being dropped.
        unsafe { libc::pthread_cond_destroy(self.raw.get()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_saturate_instead_of_overflowing() {
        let now = Instant::now();
        assert_eq!(deadline_after(now, Duration::from_millis(5)), now + Duration::from_millis(5));
        let forever = deadline_after(now, Duration::MAX);
        assert!(forever > now + Duration::from_secs(50 * 365 * 24 * 3600));
        assert!(deadline_in(Duration::MAX) >= forever);
    }

    #[test]
    fn a_wait_until_a_far_deadline_is_woken_by_a_notify() {
        let mutex = std::sync::Arc::new(Mutex::new(false));
        let condvar = std::sync::Arc::new(Condvar::new());
        let (m, c) = (mutex.clone(), condvar.clone());
        let waker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            *m.lock() = true;
            c.notify_all();
        });
        let mut guard = mutex.lock();
        while !*guard {
            condvar.wait_until(&mut guard, deadline_in(Duration::MAX));
        }
        drop(guard);
        waker.join().unwrap();
    }
}
