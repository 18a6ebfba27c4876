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

#[cfg(not(loom))]
pub use lock_api_impls::{
    ArcRwLockReadGuard, ArcRwLockUpgradableReadGuard, ArcRwLockWriteGuard, MappedRwLockReadGuard,
    MappedRwLockWriteGuard, RwLock, RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard,
    const_rwlock,
};

use crate::shim::{self, AtomicU32};
pub use raw::RawRwLock;
use raw::{
    READER, READERS_MASK, UPGRADABLE, UPGRADING, WRITE_LOCKED, WRITER_WOKEN, WRITERS_WAITING,
    count, is_read_lockable, readers,
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
    /// If `2^24` read locks are held already (counting, near that limit, the readers entering at
    /// the same instant).
    ///
    /// ```
    /// let raw = atomsync::RawRwLock::new();
    /// raw.lock_shared();
    /// // SAFETY: a read lock is held.
    /// unsafe { raw.unlock_shared() };
    /// ```
    #[inline]
    pub fn lock_shared(&self) {
        // A `fetch_add`, which cannot lose a race to another reader as a CAS can: if the
        // state before it let a reader in, the read lock is ours; else the add was tentative
        // and is taken back (see "Tentative adds" in raw.rs). Acquire: pairs with the Release
        // of the last write unlock (or downgrade), so that writer's critical section
        // happens-before our reads.
        if is_read_lockable(self.state.fetch_add(READER, Acquire), false) {
            stat!(RwLock, Fast);
        } else {
            self.read_backed_out();
        }
    }

    /// Takes a read lock if that is possible right now without waiting (not write-locked, no
    /// writer or upgrade waiting); never blocks.
    ///
    /// # Panics
    /// If `2^24` read locks are held already (counting, near that limit, the readers entering at
    /// the same instant).
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
        debug_assert!(readers(state) < READERS_MASK, "release of an unheld read lock");
        if state & (WRITERS_WAITING | UPGRADING) != 0 {
            self.unlock_shared_slow(state);
        }
    }

    // ---------------------------------------------------------- upgradable read locks

    /// Blocks until an upgradable read lock is acquired: it shares with readers and excludes
    /// writers and other upgradable readers.
    ///
    /// # Panics
    /// If `2^24` read locks are held already (counting, near that limit, the readers entering at
    /// the same instant).
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
        } else {
            stat!(RwLock, Fast);
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
        // A woken writer still on its way (WRITER_WOKEN) finds the lock taken and sleeps
        // again; our unlock wakes a writer anew.
        self.try_take(|state| count(state) == 0, |state| (state & !WRITER_WOKEN) | WRITE_LOCKED)
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

    /// The loop of `try_lock_exclusive` and `try_upgrade`: while `may(state)` holds, CAS the
    /// word to `taken(state)`; true once that succeeded.
    #[inline]
    fn try_take(&self, may: impl Fn(u32) -> bool, taken: impl Fn(u32) -> u32) -> bool {
        let mut state = self.state.load(Relaxed);
        while may(state) {
            // Acquire: pairs with the Release of the unlocks that freed the lock (or drained
            // the count), so their critical sections happen-before ours.
            match self.state.compare_exchange_weak(state, taken(state), Acquire, Relaxed) {
                Ok(_) => {
                    stat!(RwLock, Fast);
                    return true;
                }
                Err(actual) => state = actual,
            }
        }
        false
    }

    /// True if the lock is held in any mode (a snapshot that may be stale at once; a reader
    /// that is entering, or finding it cannot, counts for that instant).
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
        self.state.load(Relaxed) & WRITE_LOCKED != 0
    }
}

impl Default for RawRwLock {
    fn default() -> Self {
        Self::new()
    }
}
