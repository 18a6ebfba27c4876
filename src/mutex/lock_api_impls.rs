//! The `lock_api` 0.5 traits on [`RawMutex`]: thin calls into its guard-free methods, each
//! with the safety argument for its trait. Not compiled under loom (`INIT` must be `const`).

use super::RawMutex;
use crate::futex;
use std::time::{Duration, Instant};

// SAFETY: `lock`/`try_lock`/`try_lock_*` return a guard only after a successful CAS that set
// LOCKED (or claimed a HANDOFF, which keeps LOCKED set) with Acquire ordering, and only one
// thread can do so while LOCKED is set; `unlock` clears LOCKED with Release ordering (or hands
// the still-set LOCKED to exactly one claimer). No lock operation can unwind after acquiring.
unsafe impl lock_api::RawMutex for RawMutex {
    const INIT: Self = Self::new();

    // The lock has no owner identity: it may be released from any thread, so guards are Send.
    type Guard = lock_api::GuardSend;

    #[inline]
    fn lock(&self) -> Self::Guard {
        self.lock();
        lock_api::GuardSend::new()
    }

    #[inline]
    fn try_lock(&self) -> Option<Self::Guard> {
        self.try_lock().then(lock_api::GuardSend::new)
    }

    #[inline]
    unsafe fn unlock(&self, _guard: Self::Guard) {
        // SAFETY: the caller holds the lock, as `lock_api::RawMutex::unlock` requires.
        unsafe { self.unlock() }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.is_locked()
    }
}

// SAFETY: `unlock_fair` releases exactly like `unlock`, or passes the ownership to a single
// claimer without the lock ever being observable as free.
unsafe impl lock_api::RawMutexFair for RawMutex {
    #[inline]
    unsafe fn unlock_fair(&self, _guard: Self::Guard) {
        // SAFETY: the caller holds the lock.
        unsafe { self.unlock_fair() }
    }
}

// SAFETY: the timed forms return a guard only after the same successful acquisition as `lock`.
unsafe impl lock_api::RawMutexTimed for RawMutex {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    fn try_lock_for(&self, timeout: Duration) -> Option<Self::Guard> {
        // A timeout too long to represent (`Duration::MAX`) waits forever.
        self.try_lock_until(futex::deadline_after(timeout)).then(lock_api::GuardSend::new)
    }

    #[inline]
    fn try_lock_until(&self, deadline: Instant) -> Option<Self::Guard> {
        self.try_lock_until(Some(deadline)).then(lock_api::GuardSend::new)
    }
}
