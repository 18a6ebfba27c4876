//! [`lock_api` 0.4](::lock_api_04) on atomsync's locks, for code built on parking_lot 0.12,
//! tokio 1.x, dashmap and anything else generic over lock_api 0.4's traits. Needs the
//! `lock_api_04` feature (off by default).
//!
//! The crate's own wrappers ([`crate::Mutex`], [`crate::RwLock`], [`crate::Condvar`]) are
//! lock_api **0.5**'s. This module implements lock_api **0.4**'s raw traits on the *same* raw
//! types, [`RawMutex`] and [`RawRwLock`], by calling their guard-free methods (`lock`,
//! `unlock`, `try_lock_until`, `lock_shared`, `upgrade`, ...): one state
//! machine, two trait sets. Both generations can be used side by side in one program.
//!
//! | lock_api 0.4 trait | implemented on | by |
//! |---|---|---|
//! | `RawMutex`, `RawMutexTimed`, `RawMutexFair` | [`RawMutex`] | `lock`, `try_lock`, `try_lock_until`, `unlock`, `unlock_fair`, `is_locked` |
//! | `RawRwLock`, `RawRwLockTimed`, `RawRwLockFair`, `RawRwLockDowngrade` | [`RawRwLock`] | `lock_shared`/`_exclusive`, their `try_` and `_until` forms, `release_*`, `downgrade` |
//! | `RawRwLockUpgrade`, `RawRwLockUpgradeFair`, `RawRwLockUpgradeDowngrade`, `RawRwLockUpgradeTimed` | [`RawRwLock`] | `lock_upgradable`, `upgrade` (and `try_`, `_until`), `unlock_upgradable`, `downgrade_*` |
//!
//! lock_api 0.4 has no condition-variable trait (parking_lot 0.12 ships its own `Condvar`),
//! so this module has a [`Condvar`] with parking_lot 0.12's methods that waits with this
//! module's [`MutexGuard`], on the crate's [`RawCondvar`](crate::RawCondvar).
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

use crate::lock_api_glue::forward_to_inherent;
use crate::mutex::RawMutex;
use crate::rwlock::RawRwLock;
use ::lock_api_04 as api;
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

mod condvar;
pub use condvar::{Condvar, WaitTimeoutResult};

forward_to_inherent! {
    // SAFETY: `lock`, `try_lock` and the timed forms report success only after `lock`,
    // `try_lock` or `try_lock_until` took the lock (an Acquire CAS that set LOCKED, or the
    // claim of a hand-off that keeps LOCKED set), which only one thread can do at a time;
    // `unlock` is `unlock`, a Release RMW. None of them unwinds after acquiring. These are the
    // same methods, with the same argument, as the lock_api 0.5 implementation in `mutex.rs`.
    unsafe impl api::RawMutex for RawMutex {
        const INIT: Self = Self::new();

        // No owner identity: any thread may release the lock, so guards may be sent.
        type GuardMarker = api::GuardSend;

        fn lock(&self);
        fn try_lock(&self) -> bool;
        unsafe fn unlock(&self);
        fn is_locked(&self) -> bool;
    }

    // SAFETY: `unlock_fair` releases exactly like `unlock` or hands the still-held lock to one
    // sleeper, so the lock is never held by two threads. `bump` is lock_api's default
    // (`unlock_fair` then `lock`).
    unsafe impl api::RawMutexFair for RawMutex {
        unsafe fn unlock_fair(&self);
    }

    // SAFETY: a timed lock succeeds only through the same acquisition as `lock`.
    unsafe impl api::RawMutexTimed for RawMutex {
        type Duration = Duration;
        type Instant = Instant;

        fn try_lock_for(&self, timeout: Duration) -> bool => try_lock_until;
        fn try_lock_until(&self, deadline: Instant) -> bool;
    }

    // SAFETY: a shared lock is reported only after `lock_shared`/`try_lock_shared*` counted a
    // reader while the lock was not write-locked (or claimed the phantom reader of a
    // hand-over), an exclusive one only after the count went from 0 to write-locked; both with
    // Acquire, so readers never coexist with a writer nor writers with each other. Releases are
    // Release RMWs. The one panic of a lock operation (too many readers) happens before
    // anything is acquired. The same methods back the lock_api 0.5 implementation in
    // `rwlock.rs`.
    unsafe impl api::RawRwLock for RawRwLock {
        const INIT: Self = Self::new();

        // No owner identity: any thread may release, so guards may be sent.
        type GuardMarker = api::GuardSend;

        fn lock_shared(&self);
        fn lock_exclusive(&self);
        fn try_lock_shared(&self) -> bool;
        fn try_lock_exclusive(&self) -> bool;
        unsafe fn unlock_shared(&self);
        unsafe fn unlock_exclusive(&self);
        fn is_locked(&self) -> bool;
        fn is_locked_exclusive(&self) -> bool;
    }

    // SAFETY: the fair unlocks are the normal releases: a write unlock already hands the lock
    // to sleeping readers, and a read unlock that lets a writer in keeps that writer's flag
    // set, so the releasing thread cannot take the lock back ahead of it. They release exactly
    // like `unlock_*`. `bump_shared`/`bump_exclusive` are lock_api's defaults.
    unsafe impl api::RawRwLockFair for RawRwLock {
        unsafe fn unlock_shared_fair(&self) => unlock_shared;
        unsafe fn unlock_exclusive_fair(&self) => unlock_exclusive;
    }

    // SAFETY: the timed forms succeed only through the same acquisitions as the untimed ones.
    unsafe impl api::RawRwLockTimed for RawRwLock {
        type Duration = Duration;
        type Instant = Instant;

        fn try_lock_shared_for(&self, timeout: Duration) -> bool => try_lock_shared_until;
        fn try_lock_shared_until(&self, deadline: Instant) -> bool;
        fn try_lock_exclusive_for(&self, timeout: Duration) -> bool => try_lock_exclusive_until;
        fn try_lock_exclusive_until(&self, deadline: Instant) -> bool;
    }

    // SAFETY: `downgrade` turns the write lock into one read lock in a single Release
    // CAS: no writer can enter in between.
    unsafe impl api::RawRwLockDowngrade for RawRwLock {
        unsafe fn downgrade(&self);
    }

    // SAFETY: the upgradable lock has one holder at a time (UPGRADABLE is set by a CAS that
    // found it clear) and shares only with readers; an upgrade takes the write lock only once
    // the upgrader is the last reader, with Acquire. A failed `try_upgrade` keeps the
    // upgradable lock.
    unsafe impl api::RawRwLockUpgrade for RawRwLock {
        fn lock_upgradable(&self);
        fn try_lock_upgradable(&self) -> bool;
        unsafe fn unlock_upgradable(&self);
        unsafe fn upgrade(&self);
        unsafe fn try_upgrade(&self) -> bool;
    }

    // SAFETY: the fair unlock of the upgradable lock is its normal release, which wakes a
    // waiting writer and keeps its flag set (so the releasing thread cannot barge back ahead of
    // it).
    unsafe impl api::RawRwLockUpgradeFair for RawRwLock {
        unsafe fn unlock_upgradable_fair(&self) => unlock_upgradable;
    }

    // SAFETY: as for the untimed upgradable forms; a timed upgrade that fails keeps the
    // upgradable lock, as lock_api 0.4 requires.
    unsafe impl api::RawRwLockUpgradeTimed for RawRwLock {
        fn try_lock_upgradable_for(&self, timeout: Duration) -> bool => try_lock_upgradable_until;
        fn try_lock_upgradable_until(&self, deadline: Instant) -> bool;
        unsafe fn try_upgrade_for(&self, timeout: Duration) -> bool => try_upgrade_until;
        unsafe fn try_upgrade_until(&self, deadline: Instant) -> bool;
    }

    // SAFETY: both downgrades are single atomic steps that keep writers out throughout.
    unsafe impl api::RawRwLockUpgradeDowngrade for RawRwLock {
        unsafe fn downgrade_upgradable(&self);
        unsafe fn downgrade_to_upgradable(&self);
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
