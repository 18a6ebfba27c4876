//! The `lock_api` 0.5 traits on [`RawMutex`]: thin calls into its guard-free methods, each
//! trait with the safety argument for it. Not compiled under loom (`INIT` must be `const`).

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
