//! The RwLock's wake helpers (`raw.rs` holds the protocol; these are in a file of their own so
//! that it stays under 700 lines): the hand-over of a write unlock to the sleeping readers, and
//! the wakes of `writer_notify`.

use super::{HANDOFF, RawRwLock};
use crate::futex;
use crate::stats::Primitive;
use std::sync::atomic::Ordering::{Relaxed, Release};

impl RawRwLock {
    /// After setting HANDOFF: wake the readers. A thread woken from `state` claims the
    /// phantom read lock first thing (the others join it); if no thread slept there, take
    /// the phantom back.
    pub(in crate::rwlock) fn hand_over_to_readers(&self) {
        if self.wake_readers_for_hand_over() {
            return;
        }
        let mut state = self.state.load(Relaxed);
        while state & HANDOFF != 0 {
            // Relaxed: the phantom read lock becomes ours; `unlock_shared` publishes with
            // Release (we did not write since the write unlock's Release anyway).
            match self.state.compare_exchange_weak(state, state & !HANDOFF, Relaxed, Relaxed) {
                // SAFETY: the phantom read lock we just claimed.
                Ok(_) => return unsafe { self.unlock_shared() },
                Err(actual) => state = actual,
            }
        }
        // Claimed by a reader meanwhile: it releases it as its own.
    }

    /// Wakes every thread asleep on `state`; true only if the platform says one was woken.
    pub(in crate::rwlock) fn wake_readers_for_hand_over(&self) -> bool {
        // The seeded bug for the loom CI check: forget to wake the readers (and believe that
        // one woke, so the phantom read lock is left to nobody).
        if cfg!(atomsync_seeded_bug) {
            return true;
        }
        // Where the platform cannot tell, release the phantom ourselves (readers then race).
        futex::wake_all(&self.state, Primitive::RwLock) && futex::WAKES_ARE_COUNTED
    }

    /// Wakes one writer; false only if the platform says no writer was asleep (on Linux and
    /// under loom; elsewhere `wake_one` cannot tell and this is always true).
    pub(in crate::rwlock) fn wake_writer(&self) -> bool {
        // Release: pairs with the Acquire load in `write_contended`: a writer that reads the
        // new value sees the state change made before this bump.
        self.writer_notify.fetch_add(1, Release);
        futex::wake_one(&self.writer_notify, Primitive::RwLock)
    }

    /// Wakes every writer and the upgrader.
    pub(in crate::rwlock) fn wake_all_writers(&self) {
        // Release: as in `wake_writer`.
        self.writer_notify.fetch_add(1, Release);
        futex::wake_all(&self.writer_notify, Primitive::RwLock);
    }
}
