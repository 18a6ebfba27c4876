//! A counting semaphore with tokio's API, blocking: [`Semaphore`], its permits
//! ([`SemaphorePermit`] borrows the semaphore, [`OwnedSemaphorePermit`] holds it through an
//! `Arc`: one generic type, in `permit.rs`) and its errors. The protocol (the words, the state
//! table, the transitions, the orderings, fairness and timeouts) is documented and implemented
//! in `raw.rs`; this file holds the public API and its fast paths.
//!
//! **Limits: no count can wrap, and a permit's drop never panics.** Every permit that exists is
//! counted in `total`, whether it is available or held by a permit, and `total` never exceeds
//! [`Semaphore::MAX_PERMITS`]: [`Semaphore::new`] and [`Semaphore::add_permits`] panic (naming
//! the limit, and changing nothing) rather than raise it above the maximum, *counting the
//! permits held right now*. `add_permits` raises `total` before the new permits appear in
//! `state`; `forget_permits` and a permit's `forget` lower it after the permits have left.
//! So at every moment `available + held <= total <= MAX_PERMITS`, and returning held permits
//! (a permit's drop) can never overflow: it needs no check and cannot panic. Asking for 0
//! permits succeeds at once (unless closed); asking for more than `MAX_PERMITS` fails with
//! `TooMany` instead of waiting forever. `split` and `forget_permits` take a `usize` and
//! never wrap it (`split` of more than the permit holds is `None`, `forget_permits` removes
//! at most what is available).
//!
//! ```
//! use atomsync::Semaphore;
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::thread;
//!
//! // At most 2 of the 8 jobs run at once.
//! let slots = Arc::new(Semaphore::new(2));
//! let running = Arc::new(AtomicUsize::new(0));
//! let jobs: Vec<_> = (0..8)
//!     .map(|_| {
//!         let (slots, running) = (Arc::clone(&slots), Arc::clone(&running));
//!         thread::spawn(move || {
//!             let _permit = slots.acquire().unwrap();
//!             assert!(running.fetch_add(1, Ordering::SeqCst) < 2);
//!             running.fetch_sub(1, Ordering::SeqCst);
//!         })
//!     })
//!     .collect();
//! for job in jobs {
//!     job.join().unwrap();
//! }
//! assert_eq!(slots.available_permits(), 2);
//! ```

mod permit;
mod raw;

pub use permit::{OwnedSemaphorePermit, Permit, SemaphorePermit};
pub use raw::Semaphore;

use crate::futex;
use crate::shim::{self, AtomicU32};
use raw::{CLOSED, MAX, PERMIT_SHIFT, RESERVED, permits, without_permits};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering::{Acquire, Relaxed};
use std::time::{Duration, Instant};

/// Why an acquire failed.
///
/// ```
/// use atomsync::{AcquireError, Semaphore};
/// let semaphore = Semaphore::new(1);
/// semaphore.close();
/// assert_eq!(semaphore.acquire().unwrap_err(), AcquireError::Closed);
/// assert_eq!(AcquireError::Closed.to_string(), "semaphore closed");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AcquireError {
    /// The semaphore was closed (before or while waiting).
    Closed,
    /// More permits were asked for than [`Semaphore::MAX_PERMITS`]: the request can never be
    /// met.
    TooMany,
    /// The deadline of a timed acquire (`acquire_for`, `acquire_until`, ...) passed. The
    /// untimed forms never return it.
    TimedOut,
}

/// `Display` (one message per variant) and `Error` for the two error types.
macro_rules! error_messages {
    ($error:ty { $($variant:ident => $message:literal,)* }) => {
        impl fmt::Display for $error {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self {
                    $(Self::$variant => $message,)*
                })
            }
        }

        impl std::error::Error for $error {}
    };
}

error_messages!(AcquireError {
    Closed => "semaphore closed",
    TooMany => "more permits requested than a semaphore can hold",
    TimedOut => "timed out waiting for semaphore permits",
});

/// Why a `try_acquire` failed.
///
/// ```
/// use atomsync::{Semaphore, TryAcquireError};
/// let semaphore = Semaphore::new(0);
/// assert_eq!(semaphore.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TryAcquireError {
    /// The semaphore was closed.
    Closed,
    /// Not enough permits are available now (or a waiter ahead has reserved them).
    NoPermits,
    /// More permits were asked for than [`Semaphore::MAX_PERMITS`].
    TooMany,
}

error_messages!(TryAcquireError {
    Closed => "semaphore closed",
    NoPermits => "no permits available",
    TooMany => "more permits requested than a semaphore can hold",
});

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One load for both fields, so that they describe the same moment. Relaxed: a snapshot.
        let state = self.state.load(Relaxed);
        f.debug_struct("Semaphore")
            .field("available_permits", &(permits(state) as usize))
            .field("closed", &(state & CLOSED != 0))
            .finish()
    }
}

/// Converts a permit count to the internal `u32`, or `None` above the maximum.
#[inline]
fn checked_count(n: usize) -> Option<u32> {
    if n <= MAX as usize { Some(n as u32) } else { None }
}

/// The panic of `add_permits`: `n` more would exceed MAX_PERMITS with `total` already there.
#[cold]
#[track_caller]
fn too_many_permits(n: usize, total: u32) -> ! {
    panic!(
        "atomsync::Semaphore::add_permits: {n} more permits would exceed MAX_PERMITS ({MAX}): \
         {total} permits exist already (available and held)"
    )
}

impl Semaphore {
    /// The most permits a semaphore can have — available and held by permits together — and
    /// the most one acquire can ask for: 2^29 - 1 = 536 870 911.
    ///
    /// ```
    /// use atomsync::{AcquireError, Semaphore};
    /// let semaphore = Semaphore::new(Semaphore::MAX_PERMITS);
    /// assert_eq!(semaphore.acquire_many(u32::MAX).unwrap_err(), AcquireError::TooMany);
    /// ```
    pub const MAX_PERMITS: usize = MAX as usize;

    shim::const_fn! {
        /// A semaphore with `permits` permits.
        ///
        /// # Panics
        /// If `permits` exceeds [`MAX_PERMITS`](Self::MAX_PERMITS) (at compile time in a
        /// `const`). The limit counts every permit that exists, available or held: see
        /// [`add_permits`](Self::add_permits).
        ///
        /// ```
        /// static LIMIT: atomsync::Semaphore = atomsync::Semaphore::new(4);
        /// assert_eq!(LIMIT.available_permits(), 4);
        /// ```
        pub const fn new(permits: usize) -> Self {
            assert!(
                permits <= Self::MAX_PERMITS,
                "atomsync::Semaphore::new: more than MAX_PERMITS permits"
            );
            Self {
                state: AtomicU32::new((permits as u32) << PERMIT_SHIFT),
                head_need: AtomicU32::new(0),
                queued: AtomicU32::new(0),
                queue: AtomicU32::new(0),
                total: AtomicU32::new(permits as u32),
            }
        }
    }

    /// The permits available now (a snapshot that may be stale at once).
    ///
    /// ```
    /// let semaphore = atomsync::Semaphore::new(2);
    /// let _permit = semaphore.acquire().unwrap();
    /// assert_eq!(semaphore.available_permits(), 1);
    /// ```
    pub fn available_permits(&self) -> usize {
        // Relaxed: a snapshot; it orders nothing.
        permits(self.state.load(Relaxed)) as usize
    }

    /// True once [`close`](Self::close) has been called.
    ///
    /// ```
    /// let semaphore = atomsync::Semaphore::new(1);
    /// assert!(!semaphore.is_closed());
    /// semaphore.close();
    /// assert!(semaphore.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        // Relaxed: a snapshot; it orders nothing.
        self.state.load(Relaxed) & CLOSED != 0
    }

    /// Acquires one permit, blocking until one is available; `Err(Closed)` if the semaphore
    /// is or gets closed.
    ///
    /// ```
    /// let semaphore = atomsync::Semaphore::new(1);
    /// let permit = semaphore.acquire().unwrap();
    /// assert_eq!(permit.num_permits(), 1);
    /// ```
    #[inline]
    pub fn acquire(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.acquire_many(1)
    }

    /// Acquires `n` permits at once, blocking until they are available. `n` is a `u32` as in
    /// tokio; `n == 0` succeeds at once (unless closed); `n` above
    /// [`MAX_PERMITS`](Self::MAX_PERMITS) returns `Err(TooMany)`.
    ///
    /// ```
    /// let semaphore = atomsync::Semaphore::new(5);
    /// let permit = semaphore.acquire_many(3).unwrap();
    /// assert_eq!(semaphore.available_permits(), 2);
    /// # drop(permit);
    /// ```
    #[inline]
    pub fn acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, AcquireError> {
        Permit::acquire(self, n, None)
    }

    /// As [`acquire`](Self::acquire), giving up with `Err(TimedOut)` after `timeout` (never
    /// earlier). A timeout too long to represent (`Duration::MAX`) waits forever.
    ///
    /// ```
    /// use std::time::Duration;
    /// use atomsync::{AcquireError, Semaphore};
    /// let semaphore = Semaphore::new(0);
    /// let err = semaphore.acquire_for(Duration::from_millis(1)).unwrap_err();
    /// assert_eq!(err, AcquireError::TimedOut);
    /// ```
    #[inline]
    pub fn acquire_for(&self, timeout: Duration) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.acquire_many_for(1, timeout)
    }

    /// As [`acquire`](Self::acquire), giving up with `Err(TimedOut)` once `deadline` has
    /// passed (never earlier).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let semaphore = atomsync::Semaphore::new(1);
    /// let permit = semaphore.acquire_until(Instant::now() + Duration::from_secs(1)).unwrap();
    /// # drop(permit);
    /// ```
    #[inline]
    pub fn acquire_until(&self, deadline: Instant) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.acquire_many_until(1, deadline)
    }

    /// As [`acquire_many`](Self::acquire_many), giving up with `Err(TimedOut)` after
    /// `timeout`; `Duration::MAX` waits forever.
    ///
    /// ```
    /// use std::time::Duration;
    /// let semaphore = atomsync::Semaphore::new(2);
    /// assert!(semaphore.acquire_many_for(2, Duration::MAX).is_ok());
    /// ```
    #[inline]
    pub fn acquire_many_for(
        &self,
        n: u32,
        timeout: Duration,
    ) -> Result<SemaphorePermit<'_>, AcquireError> {
        Permit::acquire(self, n, futex::deadline_after(timeout))
    }

    /// As [`acquire_many`](Self::acquire_many), giving up with `Err(TimedOut)` once
    /// `deadline` has passed.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let semaphore = atomsync::Semaphore::new(1);
    /// let deadline = Instant::now() + Duration::from_millis(1);
    /// assert!(semaphore.acquire_many_until(2, deadline).is_err());
    /// ```
    #[inline]
    pub fn acquire_many_until(
        &self,
        n: u32,
        deadline: Instant,
    ) -> Result<SemaphorePermit<'_>, AcquireError> {
        Permit::acquire(self, n, Some(deadline))
    }

    /// Takes one permit if one is available now and no waiter has reserved it; never blocks.
    ///
    /// ```
    /// let semaphore = atomsync::Semaphore::new(1);
    /// let permit = semaphore.try_acquire().unwrap();
    /// assert!(semaphore.try_acquire().is_err());
    /// # drop(permit);
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if they are available now and no waiter has reserved them; never
    /// blocks. `n == 0` succeeds unless closed.
    ///
    /// ```
    /// use atomsync::{Semaphore, TryAcquireError};
    /// let semaphore = Semaphore::new(2);
    /// assert_eq!(semaphore.try_acquire_many(3).unwrap_err(), TryAcquireError::NoPermits);
    /// assert_eq!(semaphore.try_acquire_many(2).unwrap().num_permits(), 2);
    /// ```
    #[inline]
    pub fn try_acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        Permit::try_acquire(self, n)
    }

    /// [`acquire`](Self::acquire) through an `Arc`: the permit owns a clone of the `Arc`, so
    /// it is `'static` and can move to another thread.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let semaphore = Arc::new(atomsync::Semaphore::new(1));
    /// let permit = Arc::clone(&semaphore).acquire_owned().unwrap();
    /// std::thread::spawn(move || drop(permit)).join().unwrap();
    /// assert_eq!(semaphore.available_permits(), 1);
    /// ```
    pub fn acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, AcquireError> {
        self.acquire_many_owned(1)
    }

    /// [`acquire_many`](Self::acquire_many) through an `Arc`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let semaphore = Arc::new(atomsync::Semaphore::new(3));
    /// let permit = Arc::clone(&semaphore).acquire_many_owned(2).unwrap();
    /// assert_eq!(permit.num_permits(), 2);
    /// ```
    pub fn acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> Result<OwnedSemaphorePermit, AcquireError> {
        Permit::acquire(self, n, None)
    }

    /// [`acquire_for`](Self::acquire_for) through an `Arc`.
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// let semaphore = Arc::new(atomsync::Semaphore::new(1));
    /// let permit = Arc::clone(&semaphore).acquire_owned_for(Duration::from_millis(1)).unwrap();
    /// assert!(Arc::clone(&semaphore).acquire_owned_for(Duration::from_millis(1)).is_err());
    /// # drop(permit);
    /// ```
    pub fn acquire_owned_for(
        self: Arc<Self>,
        timeout: Duration,
    ) -> Result<OwnedSemaphorePermit, AcquireError> {
        self.acquire_many_owned_for(1, timeout)
    }

    /// [`acquire_until`](Self::acquire_until) through an `Arc`.
    ///
    /// ```
    /// use std::{sync::Arc, time::{Duration, Instant}};
    /// let semaphore = Arc::new(atomsync::Semaphore::new(0));
    /// let deadline = Instant::now() + Duration::from_millis(1);
    /// assert!(semaphore.acquire_owned_until(deadline).is_err());
    /// ```
    pub fn acquire_owned_until(
        self: Arc<Self>,
        deadline: Instant,
    ) -> Result<OwnedSemaphorePermit, AcquireError> {
        Permit::acquire(self, 1, Some(deadline))
    }

    /// [`acquire_many_for`](Self::acquire_many_for) through an `Arc`.
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// let semaphore = Arc::new(atomsync::Semaphore::new(0));
    /// assert!(semaphore.acquire_many_owned_for(1, Duration::from_millis(1)).is_err());
    /// ```
    pub fn acquire_many_owned_for(
        self: Arc<Self>,
        n: u32,
        timeout: Duration,
    ) -> Result<OwnedSemaphorePermit, AcquireError> {
        // A timeout too long to represent (`Duration::MAX`) waits forever.
        Permit::acquire(self, n, futex::deadline_after(timeout))
    }

    /// [`acquire_many_until`](Self::acquire_many_until) through an `Arc`.
    ///
    /// ```
    /// use std::{sync::Arc, time::{Duration, Instant}};
    /// let semaphore = Arc::new(atomsync::Semaphore::new(2));
    /// let deadline = Instant::now() + Duration::from_millis(1);
    /// assert_eq!(semaphore.acquire_many_owned_until(2, deadline).unwrap().num_permits(), 2);
    /// ```
    pub fn acquire_many_owned_until(
        self: Arc<Self>,
        n: u32,
        deadline: Instant,
    ) -> Result<OwnedSemaphorePermit, AcquireError> {
        Permit::acquire(self, n, Some(deadline))
    }

    /// [`try_acquire`](Self::try_acquire) through an `Arc`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let semaphore = Arc::new(atomsync::Semaphore::new(1));
    /// let permit = Arc::clone(&semaphore).try_acquire_owned().unwrap();
    /// assert!(Arc::clone(&semaphore).try_acquire_owned().is_err());
    /// # drop(permit);
    /// ```
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_acquire_many_owned(1)
    }

    /// [`try_acquire_many`](Self::try_acquire_many) through an `Arc`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let semaphore = Arc::new(atomsync::Semaphore::new(2));
    /// assert!(semaphore.try_acquire_many_owned(2).is_ok());
    /// ```
    pub fn try_acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        Permit::try_acquire(self, n)
    }

    /// Adds `n` permits (waking waiters they can satisfy). Allowed after `close`.
    ///
    /// # Panics
    /// If the permits would exceed [`MAX_PERMITS`](Self::MAX_PERMITS), counting those held
    /// by permits right now as well as the available ones (any `n` above the maximum,
    /// `usize::MAX` included). The count is then left unchanged. Because held permits count,
    /// their release (a permit's drop) never overflows and never panics.
    ///
    /// ```
    /// use atomsync::Semaphore;
    /// let semaphore = Semaphore::new(0);
    /// semaphore.add_permits(2);
    /// assert_eq!(semaphore.available_permits(), 2);
    ///
    /// // 1 permit held + 1 available: room for MAX_PERMITS - 2 more, not for MAX_PERMITS - 1.
    /// let held = semaphore.acquire().unwrap();
    /// let too_many = std::panic::catch_unwind(|| semaphore.add_permits(Semaphore::MAX_PERMITS - 1));
    /// assert!(too_many.is_err());
    /// semaphore.add_permits(Semaphore::MAX_PERMITS - 2);
    /// drop(held);
    /// assert_eq!(semaphore.available_permits(), Semaphore::MAX_PERMITS);
    /// ```
    #[track_caller]
    pub fn add_permits(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut total = self.total.load(Relaxed);
        let added = loop {
            let Some((added, new_total)) = checked_count(n)
                .and_then(|added| Some((added, total.checked_add(added)?)))
                .filter(|&(_, new_total)| new_total <= MAX)
            else {
                too_many_permits(n, total)
            };
            // Acquire: a forget whose decrement we read has taken its permits out of `state`
            // before we put ours in (`raw.rs`, Orderings).
            match self.total.compare_exchange_weak(total, new_total, Acquire, Relaxed) {
                Ok(_) => break added,
                Err(actual) => total = actual,
            }
        };
        // Cannot overflow: available <= total - added before this (module docs, Limits). From
        // here on, the permits enter `state` as a permit's drop returns them.
        self.release(added);
    }

    /// Removes up to `n` available permits (not those held) and returns how many it removed;
    /// any `n` is fine (`usize::MAX`: all that are available). Permits reserved for a waiting
    /// head may be removed too. The removed permits no longer count against
    /// [`MAX_PERMITS`](Self::MAX_PERMITS).
    ///
    /// ```
    /// let semaphore = atomsync::Semaphore::new(3);
    /// assert_eq!(semaphore.forget_permits(2), 2);
    /// assert_eq!(semaphore.forget_permits(5), 1);
    /// assert_eq!(semaphore.available_permits(), 0);
    /// ```
    pub fn forget_permits(&self, n: usize) -> usize {
        let mut state = self.state.load(Relaxed);
        loop {
            let removed = permits(state).min(n.min(MAX as usize) as u32);
            if removed == 0 {
                return 0;
            }
            // Relaxed: removing permits makes nobody runnable and publishes nothing.
            match self.state.compare_exchange_weak(
                state,
                without_permits(state, removed),
                Relaxed,
                Relaxed,
            ) {
                Ok(_) => {
                    self.forget_total(removed);
                    return removed as usize;
                }
                Err(actual) => state = actual,
            }
        }
    }

    /// Closes the semaphore: every waiter wakes and returns `Err(Closed)`, and every later
    /// acquire fails with `Closed`. Permits still held may be released (they are counted, but
    /// nobody can acquire them).
    ///
    /// ```
    /// use atomsync::{Semaphore, TryAcquireError};
    /// let semaphore = Semaphore::new(1);
    /// let permit = semaphore.acquire().unwrap();
    /// semaphore.close();
    /// assert_eq!(semaphore.try_acquire().unwrap_err(), TryAcquireError::Closed);
    /// drop(permit); // accepted
    /// assert_eq!(semaphore.available_permits(), 1);
    /// ```
    pub fn close(&self) {
        self.close_transition();
    }

    /// The fast path of every `try_acquire*`: `n` permits, or why not.
    #[inline]
    fn try_acquire_raw(&self, n: u32) -> Result<u32, TryAcquireError> {
        let need = checked_count(n as usize).ok_or(TryAcquireError::TooMany)?;
        let mut state = self.state.load(Relaxed);
        loop {
            if state & CLOSED != 0 {
                return Err(TryAcquireError::Closed);
            }
            if need == 0 {
                return Ok(0);
            }
            if state & RESERVED != 0 || permits(state) < need {
                return Err(TryAcquireError::NoPermits);
            }
            // Acquire: pairs with the release of the permits (`release`'s fetch_add), so
            // what their holder did happens-before what we do with them.
            match self.state.compare_exchange_weak(
                state,
                without_permits(state, need),
                Acquire,
                Relaxed,
            ) {
                Ok(_) => {
                    stat!(Semaphore, Fast);
                    return Ok(need);
                }
                Err(actual) => state = actual,
            }
        }
    }

    /// The fast path of every blocking acquire: one CAS when permits are free and no head has
    /// reserved them (barging past a head that has not), else the slow path. Returns the
    /// number of permits taken.
    #[inline]
    fn acquire_raw(&self, n: u32, deadline: Option<Instant>) -> Result<u32, AcquireError> {
        let need = checked_count(n as usize).ok_or(AcquireError::TooMany)?;
        // Relaxed: the CAS below (or the slow path) orders what matters.
        let state = self.state.load(Relaxed);
        if need == 0 {
            return if state & CLOSED != 0 { Err(AcquireError::Closed) } else { Ok(0) };
        }
        if state & (CLOSED | RESERVED) == 0
            && permits(state) >= need
            // Acquire: pairs with the release of the permits (see `try_acquire_raw`).
            && self
                .state
                .compare_exchange_weak(state, without_permits(state, need), Acquire, Relaxed)
                .is_ok()
        {
            stat!(Semaphore, Fast);
            return Ok(need);
        }
        self.acquire_contended(need, deadline).map(|()| need)
    }
}
