//! The `lock_api` 0.5 layer over [`RawMutex`]: its traits (thin calls into the guard-free
//! methods, each trait with the safety argument for it), then [`Mutex<T>`](Mutex), its guards
//! and `const_mutex`. Not compiled under loom (`INIT` must be `const`).

use super::RawMutex;
use crate::lock_api_glue::forward_to_inherent;
use std::time::{Duration, Instant};

forward_to_inherent! {
    // SAFETY: `lock`/`try_lock`/`try_lock_*` return a guard only after a successful CAS that
    // set LOCKED (or claimed a HANDOFF, which keeps LOCKED set) with Acquire ordering, and only
    // one thread can do so while LOCKED is set; `unlock` clears LOCKED with Release ordering (or
    // hands the still-set LOCKED to exactly one claimer). No lock operation can unwind after
    // acquiring.
    unsafe impl lock_api::RawMutex for RawMutex {
        const INIT: Self = Self::new();

        // The lock has no owner identity: it may be released from any thread, so guards are
        // Send.
        type Guard = lock_api::GuardSend;

        fn lock(&self) -> Self::Guard;
        fn try_lock(&self) -> Option<Self::Guard>;
        unsafe fn unlock(&self, _guard: Self::Guard);
        fn is_locked(&self) -> bool;
    }

    // SAFETY: `unlock_fair` releases exactly like `unlock`, or passes the ownership to a single
    // claimer without the lock ever being observable as free.
    unsafe impl lock_api::RawMutexFair for RawMutex {
        unsafe fn unlock_fair(&self, _guard: Self::Guard);
    }

    // SAFETY: the timed forms return a guard only after the same successful acquisition as
    // `lock`.
    unsafe impl lock_api::RawMutexTimed for RawMutex {
        type Duration = Duration;
        type Instant = Instant;

        fn try_lock_for(&self, timeout: Duration) -> Option<Self::Guard> => try_lock_until;
        fn try_lock_until(&self, deadline: Instant) -> Option<Self::Guard>;
    }
}

/// A mutual-exclusion lock protecting a `T`; 4 bytes plus the `T` (std's is 8 plus the `T`).
///
/// This is [`lock_api::Mutex`] over [`RawMutex`], so it has parking_lot's API: `lock()`
/// returns the guard directly (no poisoning: a panic while locked just unlocks on unwind),
/// plus `try_lock`, `try_lock_for`, `try_lock_until`, `MutexGuard::unlock_fair`,
/// `MutexGuard::map`, `lock_arc` and friends.
///
/// ```
/// use atomsync::Mutex;
/// use std::sync::Arc;
///
/// let counter = Arc::new(Mutex::new(0));
/// let handles: Vec<_> = (0..4)
///     .map(|_| {
///         let counter = Arc::clone(&counter);
///         std::thread::spawn(move || *counter.lock() += 1)
///     })
///     .collect();
/// for handle in handles {
///     handle.join().unwrap();
/// }
/// assert_eq!(*counter.lock(), 4);
/// ```
pub type Mutex<T> = lock_api::Mutex<RawMutex, T>;

/// The guard of a locked [`Mutex`]; unlocks on drop.
///
/// ```
/// let mutex = atomsync::Mutex::new(vec![1]);
/// let mut guard: atomsync::MutexGuard<'_, Vec<i32>> = mutex.lock();
/// guard.push(2);
/// drop(guard);
/// assert_eq!(*mutex.lock(), [1, 2]);
/// ```
pub type MutexGuard<'a, T> = lock_api::MutexGuard<'a, RawMutex, T>;

/// A guard for a part of a [`Mutex`]'s data, made by [`MutexGuard::map`](lock_api::MutexGuard::map).
///
/// ```
/// use atomsync::{Mutex, MutexGuard, MappedMutexGuard};
/// let mutex = Mutex::new((1, 2));
/// let mut second: MappedMutexGuard<'_, i32> = MutexGuard::map(mutex.lock(), |pair| &mut pair.1);
/// *second += 1;
/// drop(second);
/// assert_eq!(*mutex.lock(), (1, 3));
/// ```
pub type MappedMutexGuard<'a, T> = lock_api::MappedMutexGuard<'a, RawMutex, T>;

/// A guard that owns an `Arc` of its [`Mutex`], from [`Mutex::lock_arc`](lock_api::Mutex::lock_arc).
///
/// ```
/// use std::sync::Arc;
/// let mutex = Arc::new(atomsync::Mutex::new(1));
/// let guard: atomsync::ArcMutexGuard<i32> = mutex.lock_arc();
/// std::thread::spawn(move || assert_eq!(*guard, 1)).join().unwrap();
/// ```
pub type ArcMutexGuard<T> = lock_api::ArcMutexGuard<RawMutex, T>;

/// Creates a [`Mutex`] in a `const` context (same as `Mutex::new`).
///
/// ```
/// static COUNTER: atomsync::Mutex<u32> = atomsync::const_mutex(0);
/// *COUNTER.lock() += 1;
/// assert_eq!(*COUNTER.lock(), 1);
/// ```
pub const fn const_mutex<T>(value: T) -> Mutex<T> {
    Mutex::new(value)
}
