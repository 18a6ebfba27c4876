//! The `lock_api` 0.5 layer over [`RawRwLock`]: its traits (thin calls into the guard-free
//! methods, each trait with the safety argument for it), then [`RwLock<T>`](RwLock), its
//! guards and `const_rwlock`. Not compiled under loom (`INIT` must be `const`).

use super::RawRwLock;
use crate::lock_api_glue::forward_to_inherent;
use std::time::{Duration, Instant};

forward_to_inherent! {
    // SAFETY: a shared guard is returned only after an Acquire CAS or `fetch_add` that counted
    // a reader in a state with fewer than MAX_READERS readers and WRITE_LOCKED clear (a fast
    // path add that found it otherwise is taken back, not returned), or claimed the phantom
    // reader of a HANDOFF; an exclusive guard only after a CAS (Acquire) from count 0 (no
    // reader, not even a tentative one, and not write-locked) to WRITE_LOCKED, or an upgrade
    // from count 1 (the upgrader alone). Readers therefore never coexist with a
    // writer, nor writers with each other; every release is a Release read-modify-write. The
    // only panic of a lock operation (too many readers) happens before anything is acquired.
    unsafe impl lock_api::RawRwLock for RawRwLock {
        const INIT: Self = Self::new();

        // No owner identity: any thread may release, so guards are Send.
        type SharedGuard = lock_api::GuardSend;
        type ExclusiveGuard = lock_api::GuardSend;

        fn lock_shared(&self) -> Self::SharedGuard;
        fn lock_exclusive(&self) -> Self::ExclusiveGuard;
        fn try_lock_shared(&self) -> Option<Self::SharedGuard>;
        fn try_lock_exclusive(&self) -> Option<Self::ExclusiveGuard>;
        unsafe fn unlock_shared(&self, _guard: Self::SharedGuard);
        unsafe fn unlock_exclusive(&self, _guard: Self::ExclusiveGuard);
        fn is_locked(&self) -> bool;
        fn is_locked_exclusive(&self) -> bool;
    }

    // SAFETY: the fair unlocks are the normal ones, which already hand the lock to sleeping
    // readers before the next writer (see the module doc); they release exactly like them.
    unsafe impl lock_api::RawRwLockFair for RawRwLock {
        unsafe fn unlock_shared_fair(&self, _guard: Self::SharedGuard) => unlock_shared;
        unsafe fn unlock_exclusive_fair(&self, _guard: Self::ExclusiveGuard) => unlock_exclusive;
    }

    // SAFETY: the timed forms return a guard only after the same acquisitions as the untimed
    // ones.
    unsafe impl lock_api::RawRwLockTimed for RawRwLock {
        type Duration = Duration;
        type Instant = Instant;

        fn try_lock_shared_for(&self, timeout: Duration) -> Option<Self::SharedGuard>
            => try_lock_shared_until;
        fn try_lock_shared_until(&self, deadline: Instant) -> Option<Self::SharedGuard>;
        fn try_lock_exclusive_for(&self, timeout: Duration) -> Option<Self::ExclusiveGuard>
            => try_lock_exclusive_until;
        fn try_lock_exclusive_until(&self, deadline: Instant) -> Option<Self::ExclusiveGuard>;
    }

    // SAFETY: WRITE_LOCKED is replaced by one read lock in one Release CAS: no writer can enter in
    // between, and the readers that enter afterwards acquire from it.
    unsafe impl lock_api::RawRwLockDowngrade for RawRwLock {
        unsafe fn downgrade(&self, _guard: Self::ExclusiveGuard) -> Self::SharedGuard;
    }

    // SAFETY: UPGRADABLE admits one holder at a time (set by a CAS that found it clear); an
    // upgrade takes the write lock only when the count is 1 (the upgrader alone), with Acquire.
    unsafe impl lock_api::RawRwLockUpgrade for RawRwLock {
        type UpgradableGuard = lock_api::GuardSend;

        fn lock_upgradable(&self) -> Self::UpgradableGuard;
        fn try_lock_upgradable(&self) -> Option<Self::UpgradableGuard>;
        unsafe fn unlock_upgradable(&self, _guard: Self::UpgradableGuard);
        unsafe fn upgrade(&self, _guard: Self::UpgradableGuard) -> Self::ExclusiveGuard;
        unsafe fn try_upgrade(&self, guard: Self::UpgradableGuard)
            -> Result<Self::ExclusiveGuard, Self::UpgradableGuard>;
    }

    // SAFETY: the fair unlock of the upgradable lock is its normal release (below).
    // `bump_upgradable` is lock_api's default: that fair unlock, then `lock_upgradable`,
    // aborting if re-locking panics. It is fair to writers: the flag of a waiting writer keeps
    // every new reader (the bumping thread included) out until that writer has had the lock;
    // sleeping readers are woken and race the bumping thread for the read phase they share.
    unsafe impl lock_api::RawRwLockUpgradeFair for RawRwLock {
        unsafe fn unlock_upgradable_fair(&self, _guard: Self::UpgradableGuard)
            => unlock_upgradable;
    }

    // SAFETY: as for the untimed upgradable forms; a failed timed upgrade keeps the upgradable
    // lock and returns its guard.
    unsafe impl lock_api::RawRwLockUpgradeTimed for RawRwLock {
        fn try_lock_upgradable_for(&self, timeout: Duration) -> Option<Self::UpgradableGuard>
            => try_lock_upgradable_until;
        fn try_lock_upgradable_until(&self, deadline: Instant) -> Option<Self::UpgradableGuard>;
        unsafe fn try_upgrade_for(&self, guard: Self::UpgradableGuard, timeout: Duration)
            -> Result<Self::ExclusiveGuard, Self::UpgradableGuard> => try_upgrade_until;
        unsafe fn try_upgrade_until(&self, guard: Self::UpgradableGuard, deadline: Instant)
            -> Result<Self::ExclusiveGuard, Self::UpgradableGuard>;
    }

    // SAFETY: both are single atomic steps that keep writers out (see the methods).
    unsafe impl lock_api::RawRwLockUpgradeDowngrade for RawRwLock {
        unsafe fn downgrade_upgradable(&self, _guard: Self::UpgradableGuard)
            -> Self::SharedGuard;
        unsafe fn downgrade_to_upgradable(&self, _guard: Self::ExclusiveGuard)
            -> Self::UpgradableGuard;
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
pub type RwLock<T> = lock_api::RwLock<RawRwLock, T>;

/// The guard of a read lock on an [`RwLock`]; unlocks on drop.
///
/// ```
/// let lock = atomsync::RwLock::new(5);
/// let a: atomsync::RwLockReadGuard<'_, i32> = lock.read();
/// let b = lock.read();
/// assert_eq!(*a + *b, 10);
/// ```
pub type RwLockReadGuard<'a, T> = lock_api::RwLockReadGuard<'a, RawRwLock, T>;

/// A read guard for a part of an [`RwLock`]'s data, from
/// [`RwLockReadGuard::map`](lock_api::RwLockReadGuard::map).
///
/// ```
/// use atomsync::{MappedRwLockReadGuard, RwLock, RwLockReadGuard};
/// let lock = RwLock::new((1, 2));
/// let second: MappedRwLockReadGuard<'_, i32> = RwLockReadGuard::map(lock.read(), |pair| &pair.1);
/// assert_eq!(*second, 2);
/// ```
pub type MappedRwLockReadGuard<'a, T> = lock_api::MappedRwLockReadGuard<'a, RawRwLock, T>;

/// A read guard that owns an `Arc` of its [`RwLock`], from
/// [`RwLock::read_arc`](lock_api::RwLock::read_arc).
///
/// ```
/// use std::sync::Arc;
/// let lock = Arc::new(atomsync::RwLock::new(1));
/// let guard: atomsync::ArcRwLockReadGuard<i32> = lock.read_arc();
/// std::thread::spawn(move || assert_eq!(*guard, 1)).join().unwrap();
/// ```
pub type ArcRwLockReadGuard<T> = lock_api::ArcRwLockReadGuard<RawRwLock, T>;

/// The guard of the write lock on an [`RwLock`]; unlocks on drop.
///
/// ```
/// let lock = atomsync::RwLock::new(5);
/// let mut guard: atomsync::RwLockWriteGuard<'_, i32> = lock.write();
/// *guard += 1;
/// drop(guard);
/// assert_eq!(*lock.read(), 6);
/// ```
pub type RwLockWriteGuard<'a, T> = lock_api::RwLockWriteGuard<'a, RawRwLock, T>;

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
pub type MappedRwLockWriteGuard<'a, T> = lock_api::MappedRwLockWriteGuard<'a, RawRwLock, T>;

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
pub type ArcRwLockWriteGuard<T> = lock_api::ArcRwLockWriteGuard<RawRwLock, T>;

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
pub type RwLockUpgradableReadGuard<'a, T> = lock_api::RwLockUpgradableReadGuard<'a, RawRwLock, T>;

/// An upgradable read guard that owns an `Arc` of its [`RwLock`], from
/// [`RwLock::upgradable_read_arc`](lock_api::RwLock::upgradable_read_arc).
///
/// ```
/// use std::sync::Arc;
/// let lock = Arc::new(atomsync::RwLock::new(1));
/// let guard: atomsync::ArcRwLockUpgradableReadGuard<i32> = lock.upgradable_read_arc();
/// assert_eq!(*guard, 1);
/// ```
pub type ArcRwLockUpgradableReadGuard<T> = lock_api::ArcRwLockUpgradableReadGuard<RawRwLock, T>;

/// Creates an [`RwLock`] in a `const` context (same as `RwLock::new`).
///
/// ```
/// static TABLE: atomsync::RwLock<[u8; 4]> = atomsync::const_rwlock([0; 4]);
/// TABLE.write()[0] = 1;
/// assert_eq!(TABLE.read()[0], 1);
/// ```
pub const fn const_rwlock<T>(value: T) -> RwLock<T> {
    RwLock::new(value)
}
