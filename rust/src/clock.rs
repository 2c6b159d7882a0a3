//! `Instant`: a reading of the monotonic clock (`CLOCK_MONOTONIC`, the
//! clock of std's `Instant` on Linux) as nanoseconds, for every deadline,
//! timestamp and latency of the client.
//!
//! std's `Instant` keeps a `timespec` and checks and normalizes it at each
//! reading, addition and subtraction: some 250 instructions of every
//! synchronous call (callgrind, batch 1), where nanoseconds in a `u64` cost
//! a `clock_gettime` and integer arithmetic. A `u64` of nanoseconds spans
//! 584 years of uptime.

use std::ops::{Add, Sub};
use std::time::Duration;

/// A moment of the monotonic clock, in nanoseconds since an unspecified
/// start (the system's boot): `Copy`, ordered, and meaningful only within
/// the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Instant(u64);

/// Nanoseconds of `clock` (`CLOCK_MONOTONIC` or `CLOCK_MONOTONIC_COARSE`, the
/// same clock read more cheaply and less finely).
#[inline]
pub(crate) fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec it is given; both clocks exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut now) };
    (now.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(now.tv_nsec as u64)
}

/// A duration in nanoseconds, saturating (`Duration::MAX` is some 10^28).
pub(crate) fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl Instant {
    #[inline]
    pub(crate) fn now() -> Instant {
        Instant(clock_ns(libc::CLOCK_MONOTONIC))
    }

    /// The moment `ns` nanoseconds after the clock's start.
    pub(crate) fn from_nanos(ns: u64) -> Instant {
        Instant(ns)
    }

    /// Nanoseconds since the clock's start.
    pub(crate) fn as_nanos(self) -> u64 {
        self.0
    }

    pub(crate) fn checked_add(self, duration: Duration) -> Option<Instant> {
        self.0.checked_add(nanos(duration)).map(Instant)
    }

    pub(crate) fn checked_sub(self, duration: Duration) -> Option<Instant> {
        self.0.checked_sub(nanos(duration)).map(Instant)
    }

    /// The time from `earlier` to `self`; zero if `earlier` is later.
    #[inline]
    pub(crate) fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// The time since `self`.
    #[inline]
    pub(crate) fn elapsed(self) -> Duration {
        Instant::now().saturating_duration_since(self)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// # Panics
    /// Past the clock's range, as std's `Instant` does.
    fn add(self, duration: Duration) -> Instant {
        self.checked_add(duration).expect("overflow when adding a duration to an instant")
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;

    /// # Panics
    /// Before the clock's start, as std's `Instant` does.
    fn sub(self, duration: Duration) -> Instant {
        self.checked_sub(duration).expect("overflow when subtracting a duration from an instant")
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;

    /// Saturating, as std's `Instant` is: zero if `earlier` is later.
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_reads_the_clock_of_std_instant_and_does_its_arithmetic() {
        let (std_before, ours) = (std::time::Instant::now(), Instant::now());
        assert!(Instant::now() >= ours);
        // Both read CLOCK_MONOTONIC: std's, read earlier, has seen at least as much time pass.
        std::thread::sleep(Duration::from_millis(20));
        let ours_elapsed = ours.elapsed();
        let std_elapsed = std_before.elapsed();
        assert!(ours_elapsed >= Duration::from_millis(20), "{ours_elapsed:?}");
        assert!(ours_elapsed <= std_elapsed, "{ours_elapsed:?} against {std_elapsed:?}");
        let step = Duration::from_nanos(1_500_000_123);
        assert_eq!((ours + step) - ours, step);
        assert_eq!((ours + step) - step, ours);
        assert_eq!(ours - (ours + step), Duration::ZERO, "saturating");
        assert_eq!(ours.checked_add(Duration::MAX), None);
        assert_eq!(Instant::from_nanos(5).checked_sub(Duration::from_nanos(6)), None);
        assert_eq!(Instant::from_nanos(ours.as_nanos()), ours);
    }
}
