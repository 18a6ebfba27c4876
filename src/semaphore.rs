//! A counting semaphore: the permit count and a closed bit in one 32-bit futex word.
//!
//! ```text
//! state (the futex word the head waiter sleeps on):
//! | bits  | name    | meaning                                                          |
//! |-------|---------|------------------------------------------------------------------|
//! | 0     | CLOSED  | `close()` was called: every acquire fails with `Closed`          |
//! | 1     | HEAD    | a head waiter has reserved the permits: nobody else may take any |
//! | 2..32 | permits | the available permits (at most MAX_PERMITS = 2^29 - 1)           |
//!
//! head_need   permits the head waiter asks for (written by the head before it sleeps)
//! queued      threads registered to sleep on `queue` (waiters behind the head)
//! queue       a generation counter, the futex word of the waiters behind the head
//! total       the permits that exist: available + held by permits (at most MAX_PERMITS)
//! ```
//!
//! ```text
//! acquire(n):  CAS permits -= n if HEAD and CLOSED are clear and permits >= n (fast path)
//!              else spin a little while there is no head, then
//!              no head: CAS HEAD on, store head_need = n, sleep on `state` until the
//!                       permits suffice; take them and clear HEAD in one CAS; wake the
//!                       queue for what is left (at least one, to become the next head)
//!              a head:  queued += 1, sleep on `queue` while HEAD is set; retry
//! release(n):  fetch_add(n permits); if HEAD was set and the permits now cover
//!              head_need: wake the head; else if queued > 0: wake min(n, queued) of the queue
//! close():     set CLOSED, wake everybody on both words
//! ```
//!
//! **No lost wake-ups.** A waiter first announces itself (`queued += 1`, or `head_need = n`)
//! and then re-reads `state` with a read-modify-write (`fetch_add(0)`, AcqRel); a releaser
//! first changes `state` with its `fetch_add` (AcqRel) and then reads the announcement. Two
//! RMWs of one word are ordered: if the waiter's comes first, the releaser's acquires it and
//! so sees the announcement, and wakes; if the releaser's comes first, the waiter sees the new
//! permits and does not sleep. (No store-load `SeqCst` handshake between two words: that is
//! the pattern loom cannot check, and it needs a fence on the hot path.) The queue's
//! generation counter is read before the announcement and bumped before every wake, so a wake
//! that comes between the check and the sleep is not lost either.
//!
//! **Fairness.** The first waiter that finds no permits becomes the *head*; while a head
//! waits, no other acquire (new or queued, `try_acquire` included) takes a permit, so
//! releases accumulate until the head's request is met, and the head is woken exactly then.
//! A waiting `acquire_many(n)` therefore never starves behind a stream of `acquire(1)`:
//! once it is the head it is served as soon as `n` permits have been released. Waiters
//! behind the head are served in the order the kernel wakes them (FIFO on Linux), but a
//! running thread may become the next head before a woken one: the order among them is not
//! strictly FIFO (tokio's semaphore is; it keeps a queue in memory, this one keeps 20 bytes).
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
//! **Timeouts.** A timed acquire looks at its deadline before it spins, so a zero timeout or
//! a passed deadline costs about what `try_acquire` costs (and, like it, takes free permits).
//! A waiter that times out passes on what it may hold: a head gives up its reservation and
//! wakes the queue as a served head does; a queued waiter that may have swallowed a queue wake
//! wakes another queued waiter if the permits are free for the queue (`docs/loom.md`, "Timed
//! paths audit").
//!
//! **Orderings.** The sleep handshake above (AcqRel RMWs of `state`). The acquiring CASes are
//! Acquire and the release `fetch_add` Release, so a permit's previous holder happens-before
//! its next. `total` is lowered with Release after the permits left `state` (or the permit),
//! and raised with Acquire before they enter `state`, so an `add_permits` that counts a
//! forget's decrement comes after the forget in `state`'s order too.
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

use crate::futex;
use crate::shim::AtomicU32;
use crate::spin::SpinWait;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::time::{Duration, Instant};

const CLOSED: u32 = 1;
const HEAD: u32 = 1 << 1;
const PERMIT_SHIFT: u32 = 2;
/// MAX_PERMITS. The permit field has one bit more than it needs: headroom, although no
/// release can overflow (held permits count against the maximum, module docs).
const MAX: u32 = (1 << 29) - 1;

#[inline]
fn permits(state: u32) -> u32 {
    state >> PERMIT_SHIFT
}

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

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Closed => "semaphore closed",
            Self::TooMany => "more permits requested than a semaphore can hold",
            Self::TimedOut => "timed out waiting for semaphore permits",
        })
    }
}

impl std::error::Error for AcquireError {}

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

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Closed => "semaphore closed",
            Self::NoPermits => "no permits available",
            Self::TooMany => "more permits requested than a semaphore can hold",
        })
    }
}

impl std::error::Error for TryAcquireError {}

/// A counting semaphore; 20 bytes, `const`-constructible.
///
/// The uncontended acquire is one CAS and the release one `fetch_add` (no system call while
/// nobody sleeps). **Fairness**: the first waiter that finds too few permits becomes the head
/// and reserves the permits: while it waits no other acquire (`try_acquire` included) takes
/// any, and it is woken as soon as releases cover its request. So `acquire_many(n)` never
/// starves behind a stream of `acquire(1)`. Waiters behind the head are woken in the kernel's
/// order (FIFO on Linux), but a running thread may become the next head before a woken one.
/// Timed acquires return `Err(AcquireError::TimedOut)` never before their deadline.
///
/// ```
/// use atomsync::Semaphore;
/// static SLOTS: Semaphore = Semaphore::new(3);
/// let permit = SLOTS.acquire_many(2).unwrap();
/// assert_eq!(SLOTS.available_permits(), 1);
/// drop(permit);
/// assert_eq!(SLOTS.available_permits(), 3);
/// ```
pub struct Semaphore {
    /// CLOSED | HEAD | permits << PERMIT_SHIFT; the head waiter's futex word.
    state: AtomicU32,
    /// The permits the head waiter asks for (0: not written yet).
    head_need: AtomicU32,
    /// Waiters registered to sleep on `queue`.
    queued: AtomicU32,
    /// Generation counter; the futex word of the waiters behind the head.
    queue: AtomicU32,
    /// Permits that exist: available (in `state`) plus held by permits; at most MAX. Only
    /// `add_permits`, `forget_permits` and a permit's `forget` change it (module docs, Limits).
    total: AtomicU32,
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available_permits", &self.available_permits())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Converts a permit count to the internal `u32`, or `None` above the maximum.
#[inline]
fn checked_count(n: usize) -> Option<u32> {
    if n <= MAX as usize {
        Some(n as u32)
    } else {
        None
    }
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

    /// A semaphore with `permits` permits.
    ///
    /// # Panics
    /// If `permits` exceeds [`MAX_PERMITS`](Self::MAX_PERMITS) (at compile time in a `const`).
    /// The limit counts every permit that exists, available or held: see
    /// [`add_permits`](Self::add_permits).
    ///
    /// ```
    /// static LIMIT: atomsync::Semaphore = atomsync::Semaphore::new(4);
    /// assert_eq!(LIMIT.available_permits(), 4);
    /// ```
    #[cfg(not(loom))]
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

    /// A semaphore with `permits` permits (loom atomics cannot be built in a `const fn`).
    #[cfg(loom)]
    pub fn new(permits: usize) -> Self {
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
        self.acquire_raw(n, None).map(|n| SemaphorePermit {
            semaphore: self,
            permits: n,
        })
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
        self.acquire_raw(n, futex::deadline_after(timeout))
            .map(|n| SemaphorePermit {
                semaphore: self,
                permits: n,
            })
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
        self.acquire_raw(n, Some(deadline))
            .map(|n| SemaphorePermit {
                semaphore: self,
                permits: n,
            })
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
        self.try_acquire_raw(n).map(|n| SemaphorePermit {
            semaphore: self,
            permits: n,
        })
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
        self.acquire_owned_raw(n, None)
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
        self.acquire_owned_raw(1, Some(deadline))
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
        self.acquire_owned_raw(n, futex::deadline_after(timeout))
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
        self.acquire_owned_raw(n, Some(deadline))
    }

    /// The owned acquisitions: `n` permits until `deadline` (`None`: forever).
    fn acquire_owned_raw(
        self: Arc<Self>,
        n: u32,
        deadline: Option<Instant>,
    ) -> Result<OwnedSemaphorePermit, AcquireError> {
        let n = self.acquire_raw(n, deadline)?;
        Ok(OwnedSemaphorePermit {
            semaphore: self,
            permits: n,
        })
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
        let n = self.try_acquire_raw(n)?;
        Ok(OwnedSemaphorePermit {
            semaphore: self,
            permits: n,
        })
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
            // before we put ours in (module docs, Orderings).
            match self
                .total
                .compare_exchange_weak(total, new_total, Acquire, Relaxed)
            {
                Ok(_) => break added,
                Err(actual) => total = actual,
            }
        };
        // Cannot overflow: available <= total - added before this (module docs, Limits).
        // AcqRel: as the fetch_add in `release` (the releaser's side of the handshake).
        let old = self.state.fetch_add(added << PERMIT_SHIFT, AcqRel);
        self.wake_after_release(old, added);
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
                state - (removed << PERMIT_SHIFT),
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
        // AcqRel: a waiter whose re-check RMW of `state` came before this saw no CLOSED and
        // will sleep; we acquire that RMW, so its read of the queue generation happened before
        // the bump below, which makes its sleep return.
        let old = self.state.fetch_or(CLOSED, AcqRel);
        if old & CLOSED != 0 {
            return;
        }
        futex::wake_all(&self.state);
        // Relaxed: the futex checks the word under its own lock, after our bump or before our
        // wake; either way the sleeper returns.
        self.queue.fetch_add(1, Relaxed);
        futex::wake_all(&self.queue);
    }

    /// `n` permits stopped existing (forgotten, after they left `state` or their permit).
    #[inline]
    fn forget_total(&self, n: u32) {
        // Release: pairs with the Acquire of `add_permits` (module docs, Orderings).
        self.total.fetch_sub(n, Release);
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
            if state & HEAD != 0 || permits(state) < need {
                return Err(TryAcquireError::NoPermits);
            }
            // Acquire: pairs with the release of the permits (`release`'s fetch_add), so
            // what their holder did happens-before what we do with them.
            match self.state.compare_exchange_weak(
                state,
                state - (need << PERMIT_SHIFT),
                Acquire,
                Relaxed,
            ) {
                Ok(_) => return Ok(need),
                Err(actual) => state = actual,
            }
        }
    }

    /// Every blocking acquire: one CAS when permits are free and nobody waits, else the slow
    /// path. Returns the number of permits taken.
    #[inline]
    fn acquire_raw(&self, n: u32, deadline: Option<Instant>) -> Result<u32, AcquireError> {
        let need = checked_count(n as usize).ok_or(AcquireError::TooMany)?;
        // Relaxed: the CAS below (or the slow path) orders what matters.
        let state = self.state.load(Relaxed);
        if need == 0 {
            return if state & CLOSED != 0 {
                Err(AcquireError::Closed)
            } else {
                Ok(0)
            };
        }
        if state & (CLOSED | HEAD) == 0
            && permits(state) >= need
            // Acquire: pairs with the release of the permits (see `try_acquire_raw`).
            && self
                .state
                .compare_exchange_weak(state, state - (need << PERMIT_SHIFT), Acquire, Relaxed)
                .is_ok()
        {
            return Ok(need);
        }
        self.acquire_slow(need, deadline).map(|()| need)
    }

    /// The slow path of acquire: spin, become the head or queue behind it, sleep.
    #[cold]
    fn acquire_slow(&self, need: u32, deadline: Option<Instant>) -> Result<(), AcquireError> {
        let mut spin = SpinWait::new();
        let mut is_head = false;
        // Has this waiter registered on the queue (so a queue wake may have been spent on it)?
        let mut was_queued = false;
        let mut state = self.state.load(Relaxed);
        loop {
            if state & CLOSED != 0 {
                // `close` woke everybody; a head leaves HEAD set, which no longer matters.
                return Err(AcquireError::Closed);
            }

            // 1. Enough permits and nobody else's reservation: take them (the head also gives
            //    up HEAD in the same CAS).
            if (state & HEAD == 0 || is_head) && permits(state) >= need {
                let new = (state - (need << PERMIT_SHIFT)) & !HEAD;
                // AcqRel: Acquire for the permits (see `try_acquire_raw`); Release so that a
                // queued waiter's re-check RMW that reads our clearing of HEAD is ordered after
                // it (see `head_left`).
                match self
                    .state
                    .compare_exchange_weak(state, new, AcqRel, Relaxed)
                {
                    Ok(_) => {
                        if is_head {
                            self.head_left(new);
                        }
                        return Ok(());
                    }
                    Err(actual) => state = actual,
                }
                continue;
            }

            // 2. Out of time: give up, passing on what we might have swallowed. Checked before
            //    any spinning, so a zero timeout or a passed deadline costs about a try_acquire.
            if futex::deadline_passed(deadline) {
                if is_head {
                    self.resign_head();
                } else if was_queued {
                    self.pass_on_queue_wake();
                }
                return Err(AcquireError::TimedOut);
            }

            // 3. No head: permits may come back soon, spin a little.
            if state & HEAD == 0 && spin.spin() {
                state = self.state.load(Relaxed);
                continue;
            }

            // 4. No head: become the head.
            if state & HEAD == 0 {
                // AcqRel: in the modification order of `state`, with the releasers' RMWs.
                match self
                    .state
                    .compare_exchange_weak(state, state | HEAD, AcqRel, Relaxed)
                {
                    Ok(_) => {
                        is_head = true;
                        // Relaxed: published by the re-check RMW of step 5, which a releaser
                        // that comes later acquires (the head's side of the handshake).
                        self.head_need.store(need, Relaxed);
                        state |= HEAD;
                    }
                    Err(actual) => state = actual,
                }
                continue;
            }

            // 5. The head: sleep on `state` until a release covers `need` (or close).
            if is_head {
                // AcqRel: the re-check RMW after the store of `head_need` (module docs).
                let seen = self.state.fetch_add(0, AcqRel);
                if seen == state {
                    futex::wait(&self.state, state, deadline);
                }
                state = self.state.load(Relaxed);
                continue;
            }

            // 6. Behind somebody else's head: register and sleep on the queue while HEAD is set.
            // The waiter's side of the handshake with `release`, `head_left` and `close` (see
            // the module docs). Acquire: a generation not older than the last bump we saw.
            let generation = self.queue.load(Acquire);
            // Relaxed: published by the re-check RMW below (Release).
            self.queued.fetch_add(1, Relaxed);
            was_queued = true;
            // AcqRel: the re-check RMW.
            let seen = self.state.fetch_add(0, AcqRel);
            if seen & (CLOSED | HEAD) == HEAD {
                futex::wait(&self.queue, generation, deadline);
            }
            // Relaxed: a releaser that still counts us may wake us for nothing; harmless.
            self.queued.fetch_sub(1, Relaxed);
            spin.reset();
            state = self.state.load(Relaxed);
        }
    }

    /// After the head took its permits: wake queued waiters for the permits left, and at
    /// least one so that somebody becomes the next head.
    fn head_left(&self, state: u32) {
        // Relaxed: our clearing RMW of `state` acquired every queued waiter's re-check RMW
        // that came before it, and with it the waiter's increment; a waiter whose re-check
        // came after sees HEAD clear and does not sleep.
        let queued = self.queued.load(Relaxed);
        if queued > 0 {
            self.wake_queue(permits(state).max(1).min(queued));
        }
    }

    /// A head that times out clears HEAD (so the permits it reserved are free again) and wakes
    /// the queue as `head_left` does.
    fn resign_head(&self) {
        let mut state = self.state.load(Relaxed);
        loop {
            if state & CLOSED != 0 {
                return;
            }
            // AcqRel: as the clearing of HEAD in `acquire_slow` step 1.
            match self
                .state
                .compare_exchange_weak(state, state & !HEAD, AcqRel, Relaxed)
            {
                Ok(_) => {
                    if cfg!(atomsync_seeded_bug) {
                        // The seeded timeout bug for the loom CI check: a timed-out head
                        // frees its reservation but does not pass the queue's turn on.
                        return;
                    }
                    return self.head_left(state & !HEAD);
                }
                Err(actual) => state = actual,
            }
        }
    }

    /// A queued waiter that gives up may have been the one a release woke: if the permits are
    /// free for the queue and others wait there, wake one of them instead.
    fn pass_on_queue_wake(&self) {
        // AcqRel, then Relaxed: as in `release` (an RMW, then the count).
        let state = self.state.fetch_add(0, AcqRel);
        if state & (CLOSED | HEAD) == 0 && permits(state) > 0 && self.queued.load(Relaxed) > 0 {
            self.wake_queue(1);
        }
    }

    /// Returns `n` held permits (a permit's drop). Never panics: the held permits are
    /// counted in `total`, so the available ones stay within MAX (module docs, Limits).
    fn release(&self, n: u32) {
        // AcqRel: Release for the permits' next holder (pairs with the Acquire of the CASes
        // that take them); Acquire for the releaser's side of the sleep handshake: change
        // `state`, then read `head_need`/`queued` (module docs).
        let old = self.state.fetch_add(n << PERMIT_SHIFT, AcqRel);
        debug_assert!(permits(old) + n <= MAX, "held permits not counted in total");
        self.wake_after_release(old, n);
    }

    /// After `added` permits were put into a `state` that was `old`: wake the head if they
    /// cover its need, or up to `added` queued waiters if there is no head.
    #[inline]
    fn wake_after_release(&self, old: u32, added: u32) {
        if cfg!(atomsync_seeded_bug) {
            // The seeded bug for the loom CI check: a release that never wakes anybody.
            return;
        }
        if old & HEAD != 0 {
            // Relaxed: if the head's re-check RMW came before our RMW of `state`, we acquired
            // it and see its need; if it came after, the head sees our permits. So a stale
            // need (0 before the first head stored one, or a previous head's: it is not reset
            // when a head leaves) only matters when the head re-checks after us, and sees our
            // permits. 0: wake anyway (the head re-checks).
            let need = self.head_need.load(Relaxed);
            if need == 0 || permits(old) + added >= need {
                futex::wake_one(&self.state);
            }
            return;
        }
        // Relaxed: the handshake with the queued waiters (see `head_left`).
        let queued = self.queued.load(Relaxed);
        if queued > 0 {
            self.wake_queue(added.min(queued));
        }
    }

    /// Bumps the queue generation and wakes up to `count` queued waiters.
    #[cold]
    fn wake_queue(&self, count: u32) {
        // Relaxed: a waiter that read the old generation and has not slept yet finds the futex
        // value changed (the futex checks it under its own lock, which our wake takes after).
        self.queue.fetch_add(1, Relaxed);
        for _ in 0..count {
            if !futex::wake_one(&self.queue) {
                break;
            }
        }
    }
}

/// Permits acquired from a [`Semaphore`]; released on drop.
///
/// ```
/// let semaphore = atomsync::Semaphore::new(4);
/// let mut permit = semaphore.acquire_many(3).unwrap();
/// let one = permit.split(1).unwrap();
/// assert_eq!((permit.num_permits(), one.num_permits()), (2, 1));
/// permit.merge(one);
/// permit.forget();
/// assert_eq!(semaphore.available_permits(), 1);
/// ```
#[must_use = "the permits are released as soon as the permit is dropped"]
pub struct SemaphorePermit<'a> {
    semaphore: &'a Semaphore,
    permits: u32,
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.permits)
            .finish()
    }
}

impl<'a> SemaphorePermit<'a> {
    /// How many permits this holds.
    ///
    /// ```
    /// let semaphore = atomsync::Semaphore::new(2);
    /// assert_eq!(semaphore.acquire_many(2).unwrap().num_permits(), 2);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.permits as usize
    }

    /// Drops the permit without releasing its permits: the semaphore has that many fewer
    /// (and room for that many more under [`Semaphore::MAX_PERMITS`]).
    ///
    /// ```
    /// let semaphore = atomsync::Semaphore::new(2);
    /// semaphore.acquire().unwrap().forget();
    /// assert_eq!(semaphore.available_permits(), 1);
    /// ```
    pub fn forget(mut self) {
        if self.permits > 0 {
            self.semaphore.forget_total(self.permits);
            self.permits = 0;
        }
    }

    /// Moves `n` of this permit's permits into a new permit; `None` (and no change) if it
    /// holds fewer than `n`.
    ///
    /// ```
    /// let semaphore = atomsync::Semaphore::new(2);
    /// let mut permit = semaphore.acquire_many(2).unwrap();
    /// assert!(permit.split(3).is_none());
    /// let other = permit.split(2).unwrap();
    /// assert_eq!((permit.num_permits(), other.num_permits()), (0, 2));
    /// ```
    pub fn split(&mut self, n: usize) -> Option<SemaphorePermit<'a>> {
        let n = u32::try_from(n).ok().filter(|&n| n <= self.permits)?;
        self.permits -= n;
        Some(SemaphorePermit {
            semaphore: self.semaphore,
            permits: n,
        })
    }

    /// Moves `other`'s permits into this one.
    ///
    /// # Panics
    /// If `other` comes from another semaphore.
    ///
    /// ```
    /// let semaphore = atomsync::Semaphore::new(2);
    /// let mut permit = semaphore.acquire().unwrap();
    /// permit.merge(semaphore.acquire().unwrap());
    /// assert_eq!(permit.num_permits(), 2);
    /// ```
    pub fn merge(&mut self, mut other: SemaphorePermit<'_>) {
        assert!(
            std::ptr::eq(self.semaphore, other.semaphore),
            "merging permits from different semaphores"
        );
        // Permits of one semaphore that exist at once: at most MAX_PERMITS (module docs,
        // Limits), so the sum fits.
        self.permits = self
            .permits
            .checked_add(other.permits)
            .filter(|&sum| sum <= MAX)
            .expect("permits of one semaphore exceed MAX_PERMITS");
        other.permits = 0;
    }

    /// The semaphore the permits belong to.
    ///
    /// ```
    /// let semaphore = atomsync::Semaphore::new(1);
    /// let permit = semaphore.acquire().unwrap();
    /// assert!(std::ptr::eq(permit.semaphore(), &semaphore));
    /// ```
    pub fn semaphore(&self) -> &'a Semaphore {
        self.semaphore
    }
}

impl Drop for SemaphorePermit<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.permits > 0 {
            self.semaphore.release(self.permits);
        }
    }
}

/// Permits acquired through an `Arc<Semaphore>` ([`Semaphore::acquire_owned`] and friends):
/// `'static` and `Send`, released on drop.
///
/// ```
/// use std::sync::Arc;
/// let semaphore = Arc::new(atomsync::Semaphore::new(2));
/// let mut permit = Arc::clone(&semaphore).acquire_many_owned(2).unwrap();
/// let half = permit.split(1).unwrap();
/// std::thread::spawn(move || drop(half)).join().unwrap();
/// assert_eq!(semaphore.available_permits(), 1);
/// ```
#[must_use = "the permits are released as soon as the permit is dropped"]
pub struct OwnedSemaphorePermit {
    semaphore: Arc<Semaphore>,
    permits: u32,
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .field("permits", &self.permits)
            .finish()
    }
}

impl OwnedSemaphorePermit {
    /// How many permits this holds.
    ///
    /// ```
    /// let semaphore = std::sync::Arc::new(atomsync::Semaphore::new(1));
    /// assert_eq!(semaphore.acquire_owned().unwrap().num_permits(), 1);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.permits as usize
    }

    /// Drops the permit without releasing its permits.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let semaphore = Arc::new(atomsync::Semaphore::new(1));
    /// Arc::clone(&semaphore).acquire_owned().unwrap().forget();
    /// assert_eq!(semaphore.available_permits(), 0);
    /// ```
    pub fn forget(mut self) {
        if self.permits > 0 {
            self.semaphore.forget_total(self.permits);
            self.permits = 0;
        }
    }

    /// Moves `n` permits into a new permit; `None` (and no change) if it holds fewer.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let semaphore = Arc::new(atomsync::Semaphore::new(2));
    /// let mut permit = semaphore.acquire_many_owned(2).unwrap();
    /// assert_eq!(permit.split(1).unwrap().num_permits(), 1);
    /// ```
    pub fn split(&mut self, n: usize) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(n).ok().filter(|&n| n <= self.permits)?;
        self.permits -= n;
        Some(OwnedSemaphorePermit {
            semaphore: Arc::clone(&self.semaphore),
            permits: n,
        })
    }

    /// Moves `other`'s permits into this one.
    ///
    /// # Panics
    /// If `other` comes from another semaphore.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let semaphore = Arc::new(atomsync::Semaphore::new(2));
    /// let mut permit = Arc::clone(&semaphore).acquire_owned().unwrap();
    /// permit.merge(semaphore.acquire_owned().unwrap());
    /// assert_eq!(permit.num_permits(), 2);
    /// ```
    pub fn merge(&mut self, mut other: OwnedSemaphorePermit) {
        assert!(
            Arc::ptr_eq(&self.semaphore, &other.semaphore),
            "merging permits from different semaphores"
        );
        // Permits of one semaphore that exist at once: at most MAX_PERMITS (module docs,
        // Limits), so the sum fits.
        self.permits = self
            .permits
            .checked_add(other.permits)
            .filter(|&sum| sum <= MAX)
            .expect("permits of one semaphore exceed MAX_PERMITS");
        other.permits = 0;
    }

    /// The semaphore the permits belong to.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let semaphore = Arc::new(atomsync::Semaphore::new(1));
    /// let permit = Arc::clone(&semaphore).acquire_owned().unwrap();
    /// assert!(Arc::ptr_eq(permit.semaphore(), &semaphore));
    /// ```
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.semaphore
    }
}

impl Drop for OwnedSemaphorePermit {
    #[inline]
    fn drop(&mut self) {
        if self.permits > 0 {
            self.semaphore.release(self.permits);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    // The flags sit below the permit field.
    const _: () = assert!((CLOSED | HEAD) >> PERMIT_SHIFT == 0);

    #[test]
    fn encoding_leaves_room_for_an_overflowing_release() {
        assert_eq!(permits(u32::MAX), 2 * MAX + 1);
        assert_eq!(Semaphore::MAX_PERMITS, (1 << 29) - 1);
    }

    #[test]
    fn total_counts_available_and_held_permits() {
        let semaphore = Semaphore::new(5);
        let total = || semaphore.total.load(Relaxed);
        let mut held = semaphore.acquire_many(3).unwrap();
        assert_eq!((semaphore.available_permits(), total()), (2, 5));
        held.split(1).unwrap().forget();
        assert_eq!((semaphore.available_permits(), total()), (2, 4));
        semaphore.add_permits(7);
        assert_eq!((semaphore.available_permits(), total()), (9, 11));
        assert_eq!(semaphore.forget_permits(4), 4);
        assert_eq!((semaphore.available_permits(), total()), (5, 7));
        drop(held);
        assert_eq!((semaphore.available_permits(), total()), (7, 7));
        semaphore.acquire_many(0).unwrap().forget();
        assert_eq!(total(), 7);
    }

    #[test]
    fn uncontended_round_trip_leaves_the_word_clean() {
        let semaphore = Semaphore::new(3);
        let permit = semaphore.acquire_many(3).unwrap();
        assert_eq!(semaphore.state.load(Relaxed), 0);
        drop(permit);
        assert_eq!(semaphore.state.load(Relaxed), 3 << PERMIT_SHIFT);
        assert_eq!(semaphore.queued.load(Relaxed), 0);
    }
}
