//! A reader-writer lock: [`RwLock<T>`](RwLock) (`lock_api`'s, over [`RawRwLock`]) and the raw
//! lock's guard-free API. Phase-fair: a waiting writer stops new readers, and a write unlock
//! lets the waiting readers in before the next writer; upgradable reads, downgrades and timed
//! forms as parking_lot's. The protocol (state word, table, transitions, orderings, timeouts)
//! is documented and implemented in `raw.rs`.
//!
//! **No poisoning**, as for the [`Mutex`](crate::Mutex): a panic releases the guards it holds
//! during unwinding.

#[cfg(not(loom))]
mod lock_api_impls;
mod raw;

use crate::shim::{self, AtomicU32};
pub use raw::RawRwLock;
use raw::{
    MAX_READERS, READER, UPGRADABLE, UPGRADING, WRITE_LOCKED, WRITERS_WAITING, count,
    is_read_lockable,
};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::time::Instant;

impl RawRwLock {
    shim::const_fn! {
        /// A new, unlocked lock.
        ///
        /// ```
        /// static LOCK: atomsync::RawRwLock = atomsync::RawRwLock::new();
        /// assert!(LOCK.try_lock_shared());
        /// # unsafe { LOCK.unlock_shared() };
        /// ```
        pub const fn new() -> Self {
            Self { state: AtomicU32::new(0), writer_notify: AtomicU32::new(0) }
        }
    }

    // ---------------------------------------------------------------- shared (read) locks

    /// Blocks until a read lock is acquired.
    ///
    /// # Panics
    /// If `2^27 - 2` read locks are held already.
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// raw.lock_shared();
    /// // SAFETY: a read lock is held.
    /// unsafe { raw.unlock_shared() };
    /// ```
    #[inline]
    pub fn lock_shared(&self) {
        let state = self.state.load(Relaxed);
        // Acquire: pairs with the Release of the last write unlock (or downgrade), so that
        // writer's critical section happens-before our reads.
        if !(is_read_lockable(state, false)
            && self.state.compare_exchange_weak(state, state + READER, Acquire, Relaxed).is_ok())
        {
            self.read_contended(None, false);
        }
    }

    /// Takes a read lock if that is possible right now without waiting (not write-locked, no
    /// writer or upgrade waiting); never blocks.
    ///
    /// # Panics
    /// If `2^27 - 2` read locks are held already.
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// assert!(raw.try_lock_exclusive());
    /// assert!(!raw.try_lock_shared());
    /// # unsafe { raw.unlock_exclusive() };
    /// ```
    #[inline]
    #[must_use = "if it returns true the lock is held and must be released"]
    pub fn try_lock_shared(&self) -> bool {
        self.try_read(false)
    }

    /// Tries to take a read lock until `deadline` (`None`: forever). False only once the
    /// deadline has passed.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let raw = atomsync::RawRwLock::new();
    /// raw.lock_exclusive();
    /// assert!(!raw.try_lock_shared_until(Some(Instant::now() + Duration::from_millis(1))));
    /// # unsafe { raw.unlock_exclusive() };
    /// ```
    #[inline]
    #[must_use = "if it returns true the lock is held and must be released"]
    pub fn try_lock_shared_until(&self, deadline: Option<Instant>) -> bool {
        self.try_read(false) || self.read_contended(deadline, false)
    }

    /// Releases a read lock; the last reader out wakes a waiting writer (or the upgrader).
    ///
    /// # Safety
    /// The calling context must hold a read lock (not an upgradable one).
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// raw.lock_shared();
    /// // SAFETY: a read lock is held.
    /// unsafe { raw.unlock_shared() };
    /// ```
    #[inline]
    pub unsafe fn unlock_shared(&self) {
        // Release: orders our reads before the next writer's Acquire (its CAS reads this
        // value or a later one in the word's release sequence of read-modify-writes).
        let state = self.state.fetch_sub(READER, Release) - READER;
        debug_assert!(count(state) < MAX_READERS, "release of an unheld read lock");
        if state & (WRITERS_WAITING | UPGRADING) != 0 {
            self.unlock_shared_slow(state);
        }
    }

    // ---------------------------------------------------------- upgradable read locks

    /// Blocks until an upgradable read lock is acquired: it shares with readers and excludes
    /// writers and other upgradable readers.
    ///
    /// # Panics
    /// If `2^27 - 2` read locks are held already.
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// raw.lock_upgradable();
    /// assert!(raw.try_lock_shared());
    /// assert!(!raw.try_lock_upgradable());
    /// // SAFETY: both locks are held.
    /// unsafe {
    ///     raw.unlock_shared();
    ///     raw.unlock_upgradable();
    /// }
    /// ```
    #[inline]
    pub fn lock_upgradable(&self) {
        if !self.try_read(true) {
            self.read_contended(None, true);
        }
    }

    /// Takes an upgradable read lock if possible right now; never blocks.
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// assert!(raw.try_lock_upgradable());
    /// assert!(!raw.try_lock_upgradable());
    /// # unsafe { raw.unlock_upgradable() };
    /// ```
    #[inline]
    #[must_use = "if it returns true the lock is held and must be released"]
    pub fn try_lock_upgradable(&self) -> bool {
        self.try_read(true)
    }

    /// Tries to take an upgradable read lock until `deadline` (`None`: forever).
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// assert!(raw.try_lock_upgradable_until(None));
    /// # unsafe { raw.unlock_upgradable() };
    /// ```
    #[inline]
    #[must_use = "if it returns true the lock is held and must be released"]
    pub fn try_lock_upgradable_until(&self, deadline: Option<Instant>) -> bool {
        self.try_read(true) || self.read_contended(deadline, true)
    }

    /// Releases an upgradable read lock.
    ///
    /// # Safety
    /// The calling context must hold the upgradable read lock.
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// raw.lock_upgradable();
    /// // SAFETY: held.
    /// unsafe { raw.unlock_upgradable() };
    /// ```
    #[inline]
    pub unsafe fn unlock_upgradable(&self) {
        self.unlock_upgradable_slow()
    }

    /// Upgrades the held upgradable read lock to the write lock, waiting for the other
    /// readers to leave. New readers wait meanwhile, so the upgrade cannot be starved.
    ///
    /// # Safety
    /// The calling context must hold the upgradable read lock; afterwards it holds the write
    /// lock instead.
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// raw.lock_upgradable();
    /// // SAFETY: the upgradable lock is held; then the write lock is.
    /// unsafe {
    ///     raw.upgrade();
    ///     raw.unlock_exclusive();
    /// }
    /// ```
    #[inline]
    pub unsafe fn upgrade(&self) {
        // SAFETY: forwarded from the caller.
        if !unsafe { self.try_upgrade() } {
            self.upgrade_contended(None);
        }
    }

    /// Upgrades to the write lock if no other reader holds the lock right now.
    ///
    /// # Safety
    /// The calling context must hold the upgradable read lock; on `true` it holds the write
    /// lock instead, on `false` still the upgradable one.
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// raw.lock_upgradable();
    /// raw.lock_shared();
    /// // SAFETY: the locks named are held.
    /// unsafe {
    ///     assert!(!raw.try_upgrade());
    ///     raw.unlock_shared();
    ///     assert!(raw.try_upgrade());
    ///     raw.unlock_exclusive();
    /// }
    /// ```
    #[inline]
    #[must_use = "true: the write lock is held now (the upgradable one is gone); false: still upgradable"]
    pub unsafe fn try_upgrade(&self) -> bool {
        self.try_upgrade_now()
    }

    /// Upgrades to the write lock, waiting for the other readers until `deadline` (`None`:
    /// forever). On `false` the deadline passed and the upgradable lock is still held.
    ///
    /// # Safety
    /// As for [`try_upgrade`](Self::try_upgrade).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let raw = atomsync::RawRwLock::new();
    /// raw.lock_upgradable();
    /// raw.lock_shared();
    /// // SAFETY: the locks named are held.
    /// unsafe {
    ///     assert!(!raw.try_upgrade_until(Some(Instant::now() + Duration::from_millis(1))));
    ///     raw.unlock_shared();
    ///     raw.unlock_upgradable();
    /// }
    /// ```
    #[inline]
    #[must_use = "true: the write lock is held now (the upgradable one is gone); false: still upgradable"]
    pub unsafe fn try_upgrade_until(&self, deadline: Option<Instant>) -> bool {
        // SAFETY: forwarded from the caller.
        (unsafe { self.try_upgrade() }) || self.upgrade_contended(deadline)
    }

    /// Turns the held upgradable read lock into a plain read lock, atomically, and wakes
    /// threads waiting for the upgradable lock.
    ///
    /// # Safety
    /// The calling context must hold the upgradable read lock; afterwards it holds a read lock.
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// raw.lock_upgradable();
    /// // SAFETY: held; then a read lock is held.
    /// unsafe { raw.downgrade_upgradable() };
    /// assert!(raw.try_lock_upgradable());
    /// # unsafe { raw.unlock_upgradable(); raw.unlock_shared() };
    /// ```
    #[inline]
    pub unsafe fn downgrade_upgradable(&self) {
        self.downgrade_upgradable_slow()
    }

    // ------------------------------------------------------------ exclusive (write) lock

    /// Blocks until the write lock is acquired.
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// raw.lock_exclusive();
    /// assert!(raw.is_locked_exclusive());
    /// // SAFETY: the write lock is held.
    /// unsafe { raw.unlock_exclusive() };
    /// ```
    #[inline]
    pub fn lock_exclusive(&self) {
        // Acquire: pairs with the Release of every unlock, so the previous critical sections
        // (reads and writes) happen-before ours.
        if self.state.compare_exchange_weak(0, WRITE_LOCKED, Acquire, Relaxed).is_err() {
            self.write_contended(None);
        }
    }

    /// Takes the write lock if nobody holds the lock right now; never blocks.
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// assert!(raw.try_lock_exclusive());
    /// assert!(!raw.try_lock_exclusive());
    /// # unsafe { raw.unlock_exclusive() };
    /// ```
    #[inline]
    #[must_use = "if it returns true the lock is held and must be released"]
    pub fn try_lock_exclusive(&self) -> bool {
        let mut state = self.state.load(Relaxed);
        while count(state) == 0 {
            // Acquire: as in `lock_exclusive`.
            match self.state.compare_exchange_weak(state, state | WRITE_LOCKED, Acquire, Relaxed) {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
        false
    }

    /// Tries to take the write lock until `deadline` (`None`: forever). False only once the
    /// deadline has passed.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let raw = atomsync::RawRwLock::new();
    /// raw.lock_shared();
    /// assert!(!raw.try_lock_exclusive_until(Some(Instant::now() + Duration::from_millis(1))));
    /// # unsafe { raw.unlock_shared() };
    /// ```
    #[inline]
    #[must_use = "if it returns true the lock is held and must be released"]
    pub fn try_lock_exclusive_until(&self, deadline: Option<Instant>) -> bool {
        self.try_lock_exclusive() || self.write_contended(deadline)
    }

    /// Releases the write lock, waking waiting readers (first) or a waiting writer.
    ///
    /// # Safety
    /// The calling context must hold the write lock.
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// raw.lock_exclusive();
    /// // SAFETY: the write lock is held.
    /// unsafe { raw.unlock_exclusive() };
    /// ```
    #[inline]
    pub unsafe fn unlock_exclusive(&self) {
        // Release: publishes our critical section to the next owner's Acquire.
        if self.state.compare_exchange(WRITE_LOCKED, 0, Release, Relaxed).is_err() {
            self.unlock_exclusive_slow();
        }
    }

    /// Turns the held write lock into a read lock, atomically (no writer can get in between),
    /// and wakes the waiting readers.
    ///
    /// # Safety
    /// The calling context must hold the write lock; afterwards it holds a read lock.
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// raw.lock_exclusive();
    /// // SAFETY: the write lock is held; then a read lock is.
    /// unsafe { raw.downgrade() };
    /// assert!(raw.try_lock_shared());
    /// # unsafe { raw.unlock_shared(); raw.unlock_shared() };
    /// ```
    #[inline]
    pub unsafe fn downgrade(&self) {
        self.downgrade_exclusive(READER);
    }

    /// Turns the held write lock into an upgradable read lock, atomically, and wakes the
    /// waiting readers.
    ///
    /// # Safety
    /// The calling context must hold the write lock; afterwards it holds the upgradable lock.
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// raw.lock_exclusive();
    /// // SAFETY: the write lock is held; then the upgradable lock is.
    /// unsafe { raw.downgrade_to_upgradable() };
    /// assert!(raw.try_lock_shared());
    /// assert!(!raw.try_lock_upgradable());
    /// # unsafe { raw.unlock_shared(); raw.unlock_upgradable() };
    /// ```
    #[inline]
    pub unsafe fn downgrade_to_upgradable(&self) {
        self.downgrade_exclusive(READER | UPGRADABLE);
    }

    /// True if the lock is held in any mode (a snapshot that may be stale at once).
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// assert!(!raw.is_locked());
    /// ```
    #[inline]
    pub fn is_locked(&self) -> bool {
        count(self.state.load(Relaxed)) != 0
    }

    /// True if the write lock is held (a snapshot that may be stale at once).
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// raw.lock_shared();
    /// assert!(!raw.is_locked_exclusive());
    /// # unsafe { raw.unlock_shared() };
    /// ```
    #[inline]
    pub fn is_locked_exclusive(&self) -> bool {
        count(self.state.load(Relaxed)) == WRITE_LOCKED
    }
}

impl Default for RawRwLock {
    fn default() -> Self {
        Self::new()
    }
}

/// A reader-writer lock protecting a `T`: 8 bytes plus the `T` (std's is 12 plus the `T`).
///
/// This is [`lock_api::RwLock`] over [`RawRwLock`], so it has parking_lot's API: `read()`
/// and `write()` return guards directly (no poisoning), plus `try_*`, timed `try_*_for` /
/// `try_*_until`, `upgradable_read()` with `upgrade`, `downgrade`, mapped guards and `Arc`
/// guards. Policy: phase-fair (see [`RawRwLock`]'s module notes in `docs/design.md`): a
/// waiting writer stops new readers, and a write unlock lets the waiting readers in before
/// the next writer.
///
/// ```
/// use atomsync::RwLock;
/// use std::sync::Arc;
///
/// let config = Arc::new(RwLock::new(vec![1, 2]));
/// let reader = {
///     let config = Arc::clone(&config);
///     std::thread::spawn(move || config.read().len())
/// };
/// config.write().push(3);
/// assert!(matches!(reader.join().unwrap(), 2 | 3));
/// assert_eq!(*config.read(), [1, 2, 3]);
/// ```
#[cfg(not(loom))]
pub type RwLock<T> = lock_api::RwLock<RawRwLock, T>;

/// The guard of a read lock on an [`RwLock`]; unlocks on drop.
///
/// ```
/// let lock = atomsync::RwLock::new(5);
/// let a: atomsync::RwLockReadGuard<'_, i32> = lock.read();
/// let b = lock.read();
/// assert_eq!(*a + *b, 10);
/// ```
#[cfg(not(loom))]
pub type RwLockReadGuard<'a, T> = lock_api::RwLockReadGuard<'a, RawRwLock, T>;

/// The guard of the write lock on an [`RwLock`]; unlocks on drop.
///
/// ```
/// let lock = atomsync::RwLock::new(5);
/// let mut guard: atomsync::RwLockWriteGuard<'_, i32> = lock.write();
/// *guard += 1;
/// drop(guard);
/// assert_eq!(*lock.read(), 6);
/// ```
#[cfg(not(loom))]
pub type RwLockWriteGuard<'a, T> = lock_api::RwLockWriteGuard<'a, RawRwLock, T>;

/// The guard of the upgradable read lock on an [`RwLock`]: shares with readers, excludes
/// writers and other upgradable readers, and can be upgraded to a write guard.
///
/// ```
/// use atomsync::{RwLock, RwLockUpgradableReadGuard};
/// let lock = RwLock::new(1);
/// let guard = lock.upgradable_read();
/// assert_eq!(*lock.read(), 1); // readers still get in
/// let mut writer = RwLockUpgradableReadGuard::upgrade(guard);
/// *writer = 2;
/// drop(writer);
/// assert_eq!(*lock.read(), 2);
/// ```
#[cfg(not(loom))]
pub type RwLockUpgradableReadGuard<'a, T> = lock_api::RwLockUpgradableReadGuard<'a, RawRwLock, T>;

/// A read guard for a part of an [`RwLock`]'s data, from
/// [`RwLockReadGuard::map`](lock_api::RwLockReadGuard::map).
///
/// ```
/// use atomsync::{MappedRwLockReadGuard, RwLock, RwLockReadGuard};
/// let lock = RwLock::new((1, 2));
/// let second: MappedRwLockReadGuard<'_, i32> = RwLockReadGuard::map(lock.read(), |pair| &pair.1);
/// assert_eq!(*second, 2);
/// ```
#[cfg(not(loom))]
pub type MappedRwLockReadGuard<'a, T> = lock_api::MappedRwLockReadGuard<'a, RawRwLock, T>;

/// A write guard for a part of an [`RwLock`]'s data, from
/// [`RwLockWriteGuard::map`](lock_api::RwLockWriteGuard::map).
///
/// ```
/// use atomsync::{MappedRwLockWriteGuard, RwLock, RwLockWriteGuard};
/// let lock = RwLock::new((1, 2));
/// let mut second: MappedRwLockWriteGuard<'_, i32> = RwLockWriteGuard::map(lock.write(), |pair| &mut pair.1);
/// *second += 1;
/// drop(second);
/// assert_eq!(*lock.read(), (1, 3));
/// ```
#[cfg(not(loom))]
pub type MappedRwLockWriteGuard<'a, T> = lock_api::MappedRwLockWriteGuard<'a, RawRwLock, T>;

/// A read guard that owns an `Arc` of its [`RwLock`], from
/// [`RwLock::read_arc`](lock_api::RwLock::read_arc).
///
/// ```
/// use std::sync::Arc;
/// let lock = Arc::new(atomsync::RwLock::new(1));
/// let guard: atomsync::ArcRwLockReadGuard<i32> = lock.read_arc();
/// std::thread::spawn(move || assert_eq!(*guard, 1)).join().unwrap();
/// ```
#[cfg(not(loom))]
pub type ArcRwLockReadGuard<T> = lock_api::ArcRwLockReadGuard<RawRwLock, T>;

/// A write guard that owns an `Arc` of its [`RwLock`], from
/// [`RwLock::write_arc`](lock_api::RwLock::write_arc).
///
/// ```
/// use std::sync::Arc;
/// let lock = Arc::new(atomsync::RwLock::new(1));
/// let mut guard: atomsync::ArcRwLockWriteGuard<i32> = lock.write_arc();
/// *guard = 2;
/// drop(guard);
/// assert_eq!(*lock.read(), 2);
/// ```
#[cfg(not(loom))]
pub type ArcRwLockWriteGuard<T> = lock_api::ArcRwLockWriteGuard<RawRwLock, T>;

/// An upgradable read guard that owns an `Arc` of its [`RwLock`], from
/// [`RwLock::upgradable_read_arc`](lock_api::RwLock::upgradable_read_arc).
///
/// ```
/// use std::sync::Arc;
/// let lock = Arc::new(atomsync::RwLock::new(1));
/// let guard: atomsync::ArcRwLockUpgradableReadGuard<i32> = lock.upgradable_read_arc();
/// assert_eq!(*guard, 1);
/// ```
#[cfg(not(loom))]
pub type ArcRwLockUpgradableReadGuard<T> = lock_api::ArcRwLockUpgradableReadGuard<RawRwLock, T>;

/// Creates an [`RwLock`] in a `const` context (same as `RwLock::new`).
///
/// ```
/// static TABLE: atomsync::RwLock<[u8; 4]> = atomsync::const_rwlock([0; 4]);
/// TABLE.write()[0] = 1;
/// assert_eq!(TABLE.read()[0], 1);
/// ```
#[cfg(not(loom))]
pub const fn const_rwlock<T>(value: T) -> RwLock<T> {
    RwLock::new(value)
}
