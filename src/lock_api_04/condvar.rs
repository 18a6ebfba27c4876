//! The lock_api 0.4 flavour's [`Condvar`]: parking_lot 0.12's methods over this module's
//! [`MutexGuard`], waiting on the crate's [`RawCondvar`].

use super::MutexGuard;
use crate::condvar::RawCondvar;
use crate::futex;
use std::fmt;
use std::ops::DerefMut;
use std::time::{Duration, Instant};

/// Whether a timed wait on a [`Condvar`] timed out (parking_lot 0.12's type of the same name).
///
/// ```
/// use atomsync::lock_api_04::{Condvar, Mutex, WaitTimeoutResult};
/// use std::time::Duration;
/// let (mutex, condvar) = (Mutex::new(()), Condvar::new());
/// let result: WaitTimeoutResult = condvar.wait_for(&mut mutex.lock(), Duration::from_millis(1));
/// assert!(result.timed_out());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// True if the wait returned because its deadline passed (and not because of a
    /// notification, or the condition turning false).
    ///
    /// ```
    /// use atomsync::lock_api_04::{Condvar, Mutex};
    /// let (mutex, condvar) = (Mutex::new(true), Condvar::new());
    /// let result = condvar.wait_while_for(&mut mutex.lock(), |flag| !*flag, std::time::Duration::ZERO);
    /// assert!(!result.timed_out()); // the condition was already false
    /// ```
    #[must_use]
    pub const fn timed_out(self) -> bool {
        self.0
    }
}

/// A condition variable for this module's [`Mutex`](super::Mutex) (lock_api 0.4 guards), with parking_lot
/// 0.12's `Condvar` API, built on the crate's [`RawCondvar`] (8 bytes).
///
/// Its behaviour is that of [`crate::Condvar`]: `notify_all` wakes one waiter and requeues the
/// others onto the mutex; spurious wake-ups are possible, so `notify_one` returns `false` and
/// `notify_all` returns `0` (parking_lot's report exact counts; code that branches on them must
/// not rely on them here); and all threads waiting at one time must use the same mutex (a
/// second mutex panics before unlocking anything).
///
/// ```
/// use atomsync::lock_api_04::{Condvar, Mutex};
/// use std::sync::Arc;
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let pair2 = Arc::clone(&pair);
/// let notifier = std::thread::spawn(move || {
///     *pair2.0.lock() = true;
///     pair2.1.notify_one();
/// });
/// let mut ready = pair.0.lock();
/// pair.1.wait_while(&mut ready, |ready| !*ready);
/// assert!(*ready);
/// drop(ready);
/// notifier.join().unwrap();
/// ```
pub struct Condvar {
    raw: RawCondvar,
}

impl Condvar {
    /// A condition variable with no waiters; `const`, so it can sit in a `static`.
    ///
    /// ```
    /// static READY: atomsync::lock_api_04::Condvar = atomsync::lock_api_04::Condvar::new();
    /// assert_eq!(READY.notify_all(), 0);
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self { raw: RawCondvar::new() }
    }

    /// Wakes one thread waiting on this condvar, if there is one. Returns `false` always
    /// (spurious wake-ups make an exact answer impossible; parking_lot returns whether a
    /// thread was woken).
    ///
    /// ```
    /// let condvar = atomsync::lock_api_04::Condvar::new();
    /// assert!(!condvar.notify_one());
    /// ```
    #[inline]
    pub fn notify_one(&self) -> bool {
        self.raw.notify_one()
    }

    /// Wakes every thread waiting on this condvar: one now, the others two per unlock of
    /// their mutex. Returns `0` always (parking_lot returns the number woken).
    ///
    /// ```
    /// let condvar = atomsync::lock_api_04::Condvar::new();
    /// assert_eq!(condvar.notify_all(), 0);
    /// ```
    #[inline]
    pub fn notify_all(&self) -> usize {
        self.raw.notify_all()
    }

    /// Unlocks the guard's mutex, sleeps until notified (or spuriously), and locks it again
    /// before returning. Re-check your condition afterwards, or use
    /// [`wait_while`](Self::wait_while).
    ///
    /// # Panics
    /// If other threads wait on this condvar with a different mutex (the mutex is still
    /// locked when it panics).
    ///
    /// ```
    /// use atomsync::lock_api_04::{Condvar, Mutex};
    /// use std::sync::Arc;
    /// let shared = Arc::new((Mutex::new(0), Condvar::new()));
    /// let shared2 = Arc::clone(&shared);
    /// let setter = std::thread::spawn(move || {
    ///     *shared2.0.lock() = 1;
    ///     shared2.1.notify_all();
    /// });
    /// let mut value = shared.0.lock();
    /// while *value == 0 {
    ///     shared.1.wait(&mut value);
    /// }
    /// drop(value);
    /// setter.join().unwrap();
    /// ```
    #[inline]
    pub fn wait<T: ?Sized>(&self, guard: &mut MutexGuard<'_, T>) {
        self.wait_deadline(guard, None);
    }

    /// Waits while `condition` returns true: checks it first, then after every wake-up,
    /// always with the mutex locked. Returns with the mutex locked and the condition false.
    ///
    /// # Panics
    /// As [`wait`](Self::wait); a panic of `condition` unwinds with the mutex locked.
    ///
    /// ```
    /// use atomsync::lock_api_04::{Condvar, Mutex};
    /// let (mutex, condvar) = (Mutex::new(3), Condvar::new());
    /// let mut value = mutex.lock();
    /// condvar.wait_while(&mut value, |value| *value == 0); // false at once: no wait
    /// assert_eq!(*value, 3);
    /// ```
    #[inline]
    pub fn wait_while<T: ?Sized, F: FnMut(&mut T) -> bool>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        mut condition: F,
    ) {
        while condition(guard.deref_mut()) {
            self.wait(guard);
        }
    }

    /// As [`wait`](Self::wait), giving up at `deadline`. The result says whether the deadline
    /// had passed when the wait returned; it never reports a timeout before `deadline`.
    ///
    /// # Panics
    /// As [`wait`](Self::wait).
    ///
    /// ```
    /// use atomsync::lock_api_04::{Condvar, Mutex};
    /// use std::time::{Duration, Instant};
    /// let (mutex, condvar) = (Mutex::new(()), Condvar::new());
    /// let deadline = Instant::now() + Duration::from_millis(5);
    /// assert!(condvar.wait_until(&mut mutex.lock(), deadline).timed_out());
    /// assert!(Instant::now() >= deadline);
    /// ```
    #[inline]
    pub fn wait_until<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        deadline: Instant,
    ) -> WaitTimeoutResult {
        self.wait_deadline(guard, Some(deadline))
    }

    /// As [`wait`](Self::wait), giving up after `timeout`. `Duration::MAX` (or any timeout
    /// too long to represent) waits without a deadline.
    ///
    /// # Panics
    /// As [`wait`](Self::wait).
    ///
    /// ```
    /// use atomsync::lock_api_04::{Condvar, Mutex};
    /// use std::time::Duration;
    /// let (mutex, condvar) = (Mutex::new(()), Condvar::new());
    /// assert!(condvar.wait_for(&mut mutex.lock(), Duration::from_millis(1)).timed_out());
    /// ```
    #[inline]
    pub fn wait_for<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        timeout: Duration,
    ) -> WaitTimeoutResult {
        self.wait_deadline(guard, futex::deadline_after(timeout))
    }

    /// As [`wait_while`](Self::wait_while), giving up at `deadline`. Timed out means the
    /// deadline passed while the condition was still true.
    ///
    /// # Panics
    /// As [`wait_while`](Self::wait_while).
    ///
    /// ```
    /// use atomsync::lock_api_04::{Condvar, Mutex};
    /// use std::time::{Duration, Instant};
    /// let (mutex, condvar) = (Mutex::new(0), Condvar::new());
    /// let deadline = Instant::now() + Duration::from_millis(2);
    /// let result = condvar.wait_while_until(&mut mutex.lock(), |value| *value == 0, deadline);
    /// assert!(result.timed_out());
    /// ```
    #[inline]
    pub fn wait_while_until<T: ?Sized, F: FnMut(&mut T) -> bool>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        condition: F,
        deadline: Instant,
    ) -> WaitTimeoutResult {
        self.wait_while_deadline(guard, condition, Some(deadline))
    }

    /// As [`wait_while`](Self::wait_while), giving up after `timeout` (`Duration::MAX`: no
    /// deadline).
    ///
    /// # Panics
    /// As [`wait_while`](Self::wait_while).
    ///
    /// ```
    /// use atomsync::lock_api_04::{Condvar, Mutex};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// let shared = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
    /// let shared2 = Arc::clone(&shared);
    /// let producer = std::thread::spawn(move || {
    ///     shared2.0.lock().push(1);
    ///     shared2.1.notify_one();
    /// });
    /// let mut items = shared.0.lock();
    /// let result = shared.1.wait_while_for(&mut items, |items| items.is_empty(), Duration::from_secs(60));
    /// assert!(!result.timed_out());
    /// assert_eq!(*items, [1]);
    /// drop(items);
    /// producer.join().unwrap();
    /// ```
    #[inline]
    pub fn wait_while_for<T: ?Sized, F: FnMut(&mut T) -> bool>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        condition: F,
        timeout: Duration,
    ) -> WaitTimeoutResult {
        self.wait_while_deadline(guard, condition, futex::deadline_after(timeout))
    }

    /// One wait on the raw condvar with the guard's raw mutex; `None`: no deadline.
    fn wait_deadline<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        deadline: Option<Instant>,
    ) -> WaitTimeoutResult {
        // SAFETY (`raw`): lock_api 0.4 marks `Mutex::raw` unsafe because the raw mutex could be
        // unlocked behind a live guard. `wait_raw` does unlock it, but locks it again before
        // it returns (also when it times out), and it panics only before unlocking; while it
        // runs, the data is unreachable because we hold the only guard by `&mut`.
        let mutex = unsafe { MutexGuard::mutex(guard).raw() };
        // SAFETY: the guard proves that this context holds `mutex`, which is `wait_raw`'s
        // contract; the data is not touched until `wait_raw` has re-locked it.
        let in_time = unsafe { self.raw.wait_raw(mutex, deadline) };
        // `wait_raw` reports the futex's timeout; report one only once the deadline has
        // really passed (as `crate::Condvar` does).
        WaitTimeoutResult(!in_time && futex::deadline_passed(deadline))
    }

    fn wait_while_deadline<T: ?Sized, F: FnMut(&mut T) -> bool>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        mut condition: F,
        deadline: Option<Instant>,
    ) -> WaitTimeoutResult {
        while condition(guard.deref_mut()) {
            if self.wait_deadline(guard, deadline).timed_out() {
                // The deadline passed: one last look, so that a condition made false just
                // before the deadline is not reported as a timeout.
                return WaitTimeoutResult(condition(guard.deref_mut()));
            }
        }
        WaitTimeoutResult(false)
    }
}

impl Default for Condvar {
    /// Same as [`Condvar::new`].
    ///
    /// ```
    /// let condvar = atomsync::lock_api_04::Condvar::default();
    /// assert!(!condvar.notify_one());
    /// ```
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.pad("Condvar { .. }")
    }
}
