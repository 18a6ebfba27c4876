//! [`lock_api` 0.4](::lock_api_04) on atomsync's locks, for code built on parking_lot 0.12,
//! tokio 1.x, dashmap and anything else generic over lock_api 0.4's traits. Needs the
//! `lock_api_04` feature (off by default).
//!
//! The crate's own wrappers ([`crate::Mutex`], [`crate::RwLock`], [`crate::Condvar`]) are
//! lock_api **0.5**'s. This module implements lock_api **0.4**'s raw traits on the *same* raw
//! types, [`RawMutex`] and [`RawRwLock`], by calling their guard-free methods (`acquire`,
//! `release`, `try_acquire_until`, `acquire_shared`, `upgrade_to_exclusive`, ...): one state
//! machine, two trait sets. Both generations can be used side by side in one program.
//!
//! | lock_api 0.4 trait | implemented on | by |
//! |---|---|---|
//! | `RawMutex`, `RawMutexTimed`, `RawMutexFair` | [`RawMutex`] | `acquire`, `try_acquire`, `try_acquire_until`, `release`, `release_fair`, `is_held` |
//! | `RawRwLock`, `RawRwLockTimed`, `RawRwLockFair`, `RawRwLockDowngrade` | [`RawRwLock`] | `acquire_shared`/`_exclusive`, their `try_` and `_until` forms, `release_*`, `downgrade_to_shared` |
//! | `RawRwLockUpgrade`, `RawRwLockUpgradeFair`, `RawRwLockUpgradeDowngrade`, `RawRwLockUpgradeTimed` | [`RawRwLock`] | `acquire_upgradable`, `upgrade_to_exclusive` (and `try_`, `_until`), `release_upgradable`, `downgrade_*` |
//!
//! lock_api 0.4 has no condition-variable trait (parking_lot 0.12 ships its own `Condvar`),
//! so this module has a [`Condvar`] with parking_lot 0.12's methods that waits with this
//! module's [`MutexGuard`], on the crate's [`RawCondvar`].
//!
//! The guard marker is `GuardSend` (the locks have no owner identity), the fair unlocks of
//! the `RwLock` are its normal ones (they already hand over; see the crate's design notes),
//! and there is no poisoning. Not implemented: `RawRwLockRecursive`, so code that calls
//! `read_recursive` (parking_lot has it) does not compile against this `RwLock`: our read
//! locks never pass a waiting writer, which is what keeps writers from starving, and the
//! raw lock has no operation that would.
//!
//! # Switching a parking_lot 0.12 code base
//!
//! Code that names `parking_lot::Mutex<T>` can switch with type aliases in one place:
//!
//! ```
//! // Was: use parking_lot::{Condvar, Mutex, RwLock};
//! use atomsync::lock_api_04::{Condvar, Mutex, RwLock};
//!
//! let queue = Mutex::new(vec![1, 2]);
//! let config = RwLock::new(String::from("on"));
//! let changed = Condvar::new();
//! queue.lock().push(3);
//! assert_eq!(*config.read(), "on");
//! assert!(!changed.notify_one());
//! assert_eq!(queue.lock().len(), 3);
//! ```
//!
//! Code generic over `lock_api::RawMutex` (0.4) takes [`RawMutex`] as its parameter:
//!
//! ```
//! use atomsync::lock_api_04::lock_api;
//!
//! fn bump<R: lock_api::RawMutex>(counter: &lock_api::Mutex<R, u64>) -> u64 {
//!     let mut value = counter.lock();
//!     *value += 1;
//!     *value
//! }
//!
//! let counter = lock_api::Mutex::<atomsync::RawMutex, u64>::new(0);
//! assert_eq!(bump(&counter), 1);
//! ```

use crate::condvar::RawCondvar;
use crate::futex;
use crate::mutex::RawMutex;
use crate::rwlock::RawRwLock;
use ::lock_api_04 as api;
use std::fmt;
use std::ops::DerefMut;
use std::time::{Duration, Instant};

/// The lock_api 0.4 crate itself, so that generic code can name its traits and wrappers
/// through atomsync without a second dependency line.
///
/// ```
/// use atomsync::lock_api_04::lock_api::{RawMutex as _, RawMutexTimed as _};
/// let raw = atomsync::RawMutex::new();
/// assert!(raw.try_lock_for(std::time::Duration::from_millis(1)));
/// // SAFETY: the lock was just taken.
/// unsafe { raw.unlock() };
/// ```
pub use ::lock_api_04 as lock_api;

// SAFETY: `lock`, `try_lock` and the timed forms report success only after `acquire`,
// `try_acquire` or `try_acquire_until` took the lock (an Acquire CAS that set LOCKED, or the
// claim of a hand-off that keeps LOCKED set), which only one thread can do at a time; `unlock`
// is `release`, a Release RMW. None of them unwinds after acquiring. These are the same
// methods, with the same argument, as the lock_api 0.5 implementation in `mutex.rs`.
unsafe impl api::RawMutex for RawMutex {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Self::new();

    // No owner identity: any thread may release the lock, so guards may be sent.
    type GuardMarker = api::GuardSend;

    #[inline]
    fn lock(&self) {
        self.acquire();
    }

    #[inline]
    fn try_lock(&self) -> bool {
        self.try_acquire()
    }

    #[inline]
    unsafe fn unlock(&self) {
        // SAFETY: the caller holds the lock, as lock_api 0.4's `unlock` requires; that is
        // `release`'s contract.
        unsafe { self.release() }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.is_held()
    }
}

// SAFETY: `release_fair` releases exactly like `release` or hands the still-held lock to one
// sleeper, so the lock is never held by two threads. `bump` is lock_api's default
// (`unlock_fair` then `lock`).
unsafe impl api::RawMutexFair for RawMutex {
    #[inline]
    unsafe fn unlock_fair(&self) {
        // SAFETY: the caller holds the lock, which is `release_fair`'s contract.
        unsafe { self.release_fair() }
    }
}

// SAFETY: a timed lock succeeds only through the same acquisition as `lock`.
unsafe impl api::RawMutexTimed for RawMutex {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    fn try_lock_for(&self, timeout: Duration) -> bool {
        // `deadline_after` turns a timeout too long to represent (`Duration::MAX`) into "no
        // deadline", as the 0.5 implementation does.
        self.try_acquire_until(futex::deadline_after(timeout))
    }

    #[inline]
    fn try_lock_until(&self, deadline: Instant) -> bool {
        self.try_acquire_until(Some(deadline))
    }
}

// SAFETY: a shared lock is reported only after `acquire_shared`/`try_acquire_shared*` counted a
// reader while the lock was not write-locked (or claimed the phantom reader of a hand-over), an
// exclusive one only after the count went from 0 to write-locked; both with Acquire, so readers
// never coexist with a writer nor writers with each other. Releases are Release RMWs. The one
// panic of a lock operation (too many readers) happens before anything is acquired. The same
// methods back the lock_api 0.5 implementation in `rwlock.rs`.
unsafe impl api::RawRwLock for RawRwLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Self::new();

    // No owner identity: any thread may release, so guards may be sent.
    type GuardMarker = api::GuardSend;

    #[inline]
    fn lock_shared(&self) {
        self.acquire_shared();
    }

    #[inline]
    fn try_lock_shared(&self) -> bool {
        self.try_acquire_shared()
    }

    #[inline]
    unsafe fn unlock_shared(&self) {
        // SAFETY: the caller holds a read lock, `release_shared`'s contract.
        unsafe { self.release_shared() }
    }

    #[inline]
    fn lock_exclusive(&self) {
        self.acquire_exclusive();
    }

    #[inline]
    fn try_lock_exclusive(&self) -> bool {
        self.try_acquire_exclusive()
    }

    #[inline]
    unsafe fn unlock_exclusive(&self) {
        // SAFETY: the caller holds the write lock, `release_exclusive`'s contract.
        unsafe { self.release_exclusive() }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.is_held()
    }

    #[inline]
    fn is_locked_exclusive(&self) -> bool {
        self.is_held_exclusive()
    }
}

// SAFETY: the fair unlocks are the normal releases: a write unlock already hands the lock to
// sleeping readers, and a read unlock that lets a writer in keeps that writer's flag set, so
// the releasing thread cannot take the lock back ahead of it. They release exactly like
// `unlock_*`. `bump_shared`/`bump_exclusive` are lock_api's defaults.
unsafe impl api::RawRwLockFair for RawRwLock {
    #[inline]
    unsafe fn unlock_shared_fair(&self) {
        // SAFETY: the caller holds a read lock.
        unsafe { self.release_shared() }
    }

    #[inline]
    unsafe fn unlock_exclusive_fair(&self) {
        // SAFETY: the caller holds the write lock.
        unsafe { self.release_exclusive() }
    }
}

// SAFETY: `downgrade_to_shared` turns the write lock into one read lock in a single Release
// CAS: no writer can enter in between.
unsafe impl api::RawRwLockDowngrade for RawRwLock {
    #[inline]
    unsafe fn downgrade(&self) {
        // SAFETY: the caller holds the write lock.
        unsafe { self.downgrade_to_shared() }
    }
}

// SAFETY: the timed forms succeed only through the same acquisitions as the untimed ones.
unsafe impl api::RawRwLockTimed for RawRwLock {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    fn try_lock_shared_for(&self, timeout: Duration) -> bool {
        self.try_acquire_shared_until(futex::deadline_after(timeout))
    }

    #[inline]
    fn try_lock_shared_until(&self, deadline: Instant) -> bool {
        self.try_acquire_shared_until(Some(deadline))
    }

    #[inline]
    fn try_lock_exclusive_for(&self, timeout: Duration) -> bool {
        self.try_acquire_exclusive_until(futex::deadline_after(timeout))
    }

    #[inline]
    fn try_lock_exclusive_until(&self, deadline: Instant) -> bool {
        self.try_acquire_exclusive_until(Some(deadline))
    }
}

// SAFETY: the upgradable lock has one holder at a time (UPGRADABLE is set by a CAS that found
// it clear) and shares only with readers; an upgrade takes the write lock only once the
// upgrader is the last reader, with Acquire. A failed `try_upgrade` keeps the upgradable lock.
unsafe impl api::RawRwLockUpgrade for RawRwLock {
    #[inline]
    fn lock_upgradable(&self) {
        self.acquire_upgradable();
    }

    #[inline]
    fn try_lock_upgradable(&self) -> bool {
        self.try_acquire_upgradable()
    }

    #[inline]
    unsafe fn unlock_upgradable(&self) {
        // SAFETY: the caller holds the upgradable lock.
        unsafe { self.release_upgradable() }
    }

    #[inline]
    unsafe fn upgrade(&self) {
        // SAFETY: the caller holds the upgradable lock.
        unsafe { self.upgrade_to_exclusive() }
    }

    #[inline]
    unsafe fn try_upgrade(&self) -> bool {
        // SAFETY: the caller holds the upgradable lock.
        unsafe { self.try_upgrade_to_exclusive() }
    }
}

// SAFETY: the fair unlock of the upgradable lock is its normal release, which wakes a waiting
// writer and keeps its flag set (so the releasing thread cannot barge back ahead of it).
unsafe impl api::RawRwLockUpgradeFair for RawRwLock {
    #[inline]
    unsafe fn unlock_upgradable_fair(&self) {
        // SAFETY: the caller holds the upgradable lock.
        unsafe { self.release_upgradable() }
    }
}

// SAFETY: both downgrades are single atomic steps that keep writers out throughout.
unsafe impl api::RawRwLockUpgradeDowngrade for RawRwLock {
    #[inline]
    unsafe fn downgrade_upgradable(&self) {
        // SAFETY: the caller holds the upgradable lock.
        unsafe { self.downgrade_upgradable_to_shared() }
    }

    #[inline]
    unsafe fn downgrade_to_upgradable(&self) {
        // SAFETY: the caller holds the write lock.
        unsafe { self.downgrade_exclusive_to_upgradable() }
    }
}

// SAFETY: as for the untimed upgradable forms; a timed upgrade that fails keeps the
// upgradable lock, as lock_api 0.4 requires.
unsafe impl api::RawRwLockUpgradeTimed for RawRwLock {
    #[inline]
    fn try_lock_upgradable_for(&self, timeout: Duration) -> bool {
        self.try_acquire_upgradable_until(futex::deadline_after(timeout))
    }

    #[inline]
    fn try_lock_upgradable_until(&self, deadline: Instant) -> bool {
        self.try_acquire_upgradable_until(Some(deadline))
    }

    #[inline]
    unsafe fn try_upgrade_for(&self, timeout: Duration) -> bool {
        // SAFETY: the caller holds the upgradable lock.
        unsafe { self.try_upgrade_to_exclusive_until(futex::deadline_after(timeout)) }
    }

    #[inline]
    unsafe fn try_upgrade_until(&self, deadline: Instant) -> bool {
        // SAFETY: the caller holds the upgradable lock.
        unsafe { self.try_upgrade_to_exclusive_until(Some(deadline)) }
    }
}

/// A mutual-exclusion lock: lock_api 0.4's `Mutex` over [`RawMutex`] (4 bytes plus the `T`).
/// A drop-in for `parking_lot::Mutex<T>` (parking_lot 0.12).
///
/// ```
/// use atomsync::lock_api_04::Mutex;
/// use std::sync::Arc;
///
/// let counter = Arc::new(Mutex::new(0u32));
/// let threads: Vec<_> = (0..4)
///     .map(|_| {
///         let counter = Arc::clone(&counter);
///         std::thread::spawn(move || *counter.lock() += 1)
///     })
///     .collect();
/// for thread in threads {
///     thread.join().unwrap();
/// }
/// assert_eq!(*counter.lock(), 4);
/// ```
pub type Mutex<T> = api::Mutex<RawMutex, T>;

/// The guard of a locked [`Mutex`] (lock_api 0.4); unlocks on drop.
///
/// ```
/// let mutex = atomsync::lock_api_04::Mutex::new(1);
/// let mut guard: atomsync::lock_api_04::MutexGuard<'_, i32> = mutex.lock();
/// *guard += 1;
/// drop(guard);
/// assert_eq!(*mutex.lock(), 2);
/// ```
pub type MutexGuard<'a, T> = api::MutexGuard<'a, RawMutex, T>;

/// A guard for part of a [`Mutex`]'s data, from `MutexGuard::map` (lock_api 0.4).
///
/// ```
/// use atomsync::lock_api_04::{MappedMutexGuard, Mutex, MutexGuard};
/// let mutex = Mutex::new((1, 2));
/// let mut second: MappedMutexGuard<'_, i32> = MutexGuard::map(mutex.lock(), |pair| &mut pair.1);
/// *second = 5;
/// drop(second);
/// assert_eq!(*mutex.lock(), (1, 5));
/// ```
pub type MappedMutexGuard<'a, T> = api::MappedMutexGuard<'a, RawMutex, T>;

/// A [`Mutex`] guard that owns an `Arc` of its mutex, from `Mutex::lock_arc` (lock_api 0.4).
///
/// ```
/// use std::sync::Arc;
/// let mutex = Arc::new(atomsync::lock_api_04::Mutex::new(7));
/// let guard: atomsync::lock_api_04::ArcMutexGuard<i32> = mutex.lock_arc();
/// std::thread::spawn(move || assert_eq!(*guard, 7)).join().unwrap();
/// ```
pub type ArcMutexGuard<T> = api::ArcMutexGuard<RawMutex, T>;

/// A reader-writer lock: lock_api 0.4's `RwLock` over [`RawRwLock`] (8 bytes plus the `T`),
/// phase-fair, with upgradable reads, atomic downgrades and timed forms. A drop-in for
/// `parking_lot::RwLock<T>` (parking_lot 0.12).
///
/// ```
/// use atomsync::lock_api_04::{RwLock, RwLockUpgradableReadGuard, RwLockWriteGuard};
///
/// let lock = RwLock::new(Vec::new());
/// let maybe_insert = lock.upgradable_read();
/// if maybe_insert.is_empty() {
///     let mut writable = RwLockUpgradableReadGuard::upgrade(maybe_insert);
///     writable.push(1);
///     let readable = RwLockWriteGuard::downgrade(writable);
///     assert_eq!(*readable, [1]);
/// }
/// assert_eq!(lock.read().len(), 1);
/// ```
pub type RwLock<T> = api::RwLock<RawRwLock, T>;

/// The guard of a read lock on an [`RwLock`] (lock_api 0.4).
///
/// ```
/// let lock = atomsync::lock_api_04::RwLock::new(3);
/// let first: atomsync::lock_api_04::RwLockReadGuard<'_, i32> = lock.read();
/// let second = lock.read();
/// assert_eq!(*first + *second, 6);
/// ```
pub type RwLockReadGuard<'a, T> = api::RwLockReadGuard<'a, RawRwLock, T>;

/// The guard of the write lock on an [`RwLock`] (lock_api 0.4).
///
/// ```
/// let lock = atomsync::lock_api_04::RwLock::new(3);
/// let mut guard: atomsync::lock_api_04::RwLockWriteGuard<'_, i32> = lock.write();
/// *guard = 4;
/// assert!(lock.try_read().is_none());
/// drop(guard);
/// assert_eq!(*lock.read(), 4);
/// ```
pub type RwLockWriteGuard<'a, T> = api::RwLockWriteGuard<'a, RawRwLock, T>;

/// The guard of the upgradable read lock on an [`RwLock`] (lock_api 0.4): shares with
/// readers, excludes writers and other upgradable readers, and can become the write lock.
///
/// ```
/// use atomsync::lock_api_04::{RwLock, RwLockUpgradableReadGuard};
/// let lock = RwLock::new(1);
/// let upgradable: RwLockUpgradableReadGuard<'_, i32> = lock.upgradable_read();
/// assert_eq!(*lock.read(), 1); // readers still get in
/// assert!(lock.try_upgradable_read().is_none());
/// *RwLockUpgradableReadGuard::upgrade(upgradable) += 1;
/// assert_eq!(*lock.read(), 2);
/// ```
pub type RwLockUpgradableReadGuard<'a, T> = api::RwLockUpgradableReadGuard<'a, RawRwLock, T>;

/// A read guard for part of an [`RwLock`]'s data, from `RwLockReadGuard::map` (lock_api 0.4).
///
/// ```
/// use atomsync::lock_api_04::{MappedRwLockReadGuard, RwLock, RwLockReadGuard};
/// let lock = RwLock::new((1, 2));
/// let second: MappedRwLockReadGuard<'_, i32> = RwLockReadGuard::map(lock.read(), |pair| &pair.1);
/// assert_eq!(*second, 2);
/// ```
pub type MappedRwLockReadGuard<'a, T> = api::MappedRwLockReadGuard<'a, RawRwLock, T>;

/// A write guard for part of an [`RwLock`]'s data, from `RwLockWriteGuard::map` (lock_api 0.4).
///
/// ```
/// use atomsync::lock_api_04::{MappedRwLockWriteGuard, RwLock, RwLockWriteGuard};
/// let lock = RwLock::new((1, 2));
/// let mut first: MappedRwLockWriteGuard<'_, i32> = RwLockWriteGuard::map(lock.write(), |pair| &mut pair.0);
/// *first = 9;
/// drop(first);
/// assert_eq!(*lock.read(), (9, 2));
/// ```
pub type MappedRwLockWriteGuard<'a, T> = api::MappedRwLockWriteGuard<'a, RawRwLock, T>;

/// A read guard that owns an `Arc` of its [`RwLock`], from `RwLock::read_arc` (lock_api 0.4).
///
/// ```
/// use std::sync::Arc;
/// let lock = Arc::new(atomsync::lock_api_04::RwLock::new(5));
/// let guard: atomsync::lock_api_04::ArcRwLockReadGuard<i32> = lock.read_arc();
/// std::thread::spawn(move || assert_eq!(*guard, 5)).join().unwrap();
/// ```
pub type ArcRwLockReadGuard<T> = api::ArcRwLockReadGuard<RawRwLock, T>;

/// A write guard that owns an `Arc` of its [`RwLock`], from `RwLock::write_arc` (lock_api 0.4).
///
/// ```
/// use std::sync::Arc;
/// let lock = Arc::new(atomsync::lock_api_04::RwLock::new(5));
/// let mut guard: atomsync::lock_api_04::ArcRwLockWriteGuard<i32> = lock.write_arc();
/// *guard += 1;
/// drop(guard);
/// assert_eq!(*lock.read(), 6);
/// ```
pub type ArcRwLockWriteGuard<T> = api::ArcRwLockWriteGuard<RawRwLock, T>;

/// An upgradable read guard that owns an `Arc` of its [`RwLock`], from
/// `RwLock::upgradable_read_arc` (lock_api 0.4).
///
/// ```
/// use std::sync::Arc;
/// let lock = Arc::new(atomsync::lock_api_04::RwLock::new(5));
/// let guard: atomsync::lock_api_04::ArcRwLockUpgradableReadGuard<i32> = lock.upgradable_read_arc();
/// assert_eq!(*guard, 5);
/// ```
pub type ArcRwLockUpgradableReadGuard<T> = api::ArcRwLockUpgradableReadGuard<RawRwLock, T>;

/// Creates a [`Mutex`] in a `const` context, like parking_lot 0.12's `const_mutex`.
///
/// ```
/// static HITS: atomsync::lock_api_04::Mutex<u32> = atomsync::lock_api_04::const_mutex(0);
/// *HITS.lock() += 1;
/// assert_eq!(*HITS.lock(), 1);
/// ```
pub const fn const_mutex<T>(value: T) -> Mutex<T> {
    Mutex::const_new(RawMutex::new(), value)
}

/// Creates an [`RwLock`] in a `const` context, like parking_lot 0.12's `const_rwlock`.
///
/// ```
/// static NAMES: atomsync::lock_api_04::RwLock<Vec<&str>> = atomsync::lock_api_04::const_rwlock(Vec::new());
/// NAMES.write().push("a");
/// assert_eq!(NAMES.read().len(), 1);
/// ```
pub const fn const_rwlock<T>(value: T) -> RwLock<T> {
    RwLock::const_new(RawRwLock::new(), value)
}

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

/// A condition variable for this module's [`Mutex`] (lock_api 0.4 guards), with parking_lot
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
        self.raw.notify_one_waiter()
    }

    /// Wakes every thread waiting on this condvar: one now, the others one per unlock of
    /// their mutex. Returns `0` always (parking_lot returns the number woken).
    ///
    /// ```
    /// let condvar = atomsync::lock_api_04::Condvar::new();
    /// assert_eq!(condvar.notify_all(), 0);
    /// ```
    #[inline]
    pub fn notify_all(&self) -> usize {
        self.raw.notify_all_waiters()
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
    pub fn wait_while<T: ?Sized, F>(&self, guard: &mut MutexGuard<'_, T>, mut condition: F)
    where
        F: FnMut(&mut T) -> bool,
    {
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
    pub fn wait_for<T: ?Sized>(&self, guard: &mut MutexGuard<'_, T>, timeout: Duration) -> WaitTimeoutResult {
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
    pub fn wait_while_until<T: ?Sized, F>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        condition: F,
        deadline: Instant,
    ) -> WaitTimeoutResult
    where
        F: FnMut(&mut T) -> bool,
    {
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
    pub fn wait_while_for<T: ?Sized, F>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        condition: F,
        timeout: Duration,
    ) -> WaitTimeoutResult
    where
        F: FnMut(&mut T) -> bool,
    {
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
        WaitTimeoutResult(!in_time && deadline.is_some_and(|deadline| Instant::now() >= deadline))
    }

    fn wait_while_deadline<T: ?Sized, F>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        mut condition: F,
        deadline: Option<Instant>,
    ) -> WaitTimeoutResult
    where
        F: FnMut(&mut T) -> bool,
    {
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
