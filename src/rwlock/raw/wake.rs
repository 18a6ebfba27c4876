//! The RwLock's sleeps and wakes (`raw.rs` holds the protocol; these are in a file of their
//! own so that it stays under 700 lines): the hand-over of a write unlock to the sleeping
//! readers, and the sleep and wakes of `writer_notify`.
//!
//! **`writer_notify`.** Bits 1..32 are a sequence number, bumped by every wake; bit 0,
//! [`WRITER_ASLEEP`], says that a writer (or the upgrader) may be asleep on the word. A writer
//! sets it with the read of the value it will sleep on (one `fetch_or`: it *commits* to
//! sleeping), re-checks `state`, and sleeps on that value. A wake bumps the sequence and makes
//! the futex call only if the bit is set: a writer that has registered in `state`
//! (WRITERS_WAITING) but is still spinning costs its waker no system call, nor does a
//! WRITERS_WAITING kept by a writer that took the lock when no other writer sleeps.
//!
//! The bit stays set while writers may sleep: only a wake that found nobody asleep clears it.
//! Writers may have committed between that futex call and the clear, so the clear bumps the
//! sequence too (a committed writer's wait then fails, and it commits again) and is followed
//! by a wake of all (a writer already asleep by then is woken). So a writer never sleeps with
//! the bit clear unless a wake is on its way to it, and a wake that reports nobody asleep
//! means, as a plain futex wake's answer would, that every writer about to sleep will find the
//! sequence bumped and re-check the state. A wake-all clears the bit with its bump.
//!
//! **Orderings.** The commit is Acquire and every bump Release, all read-modify-writes of the
//! one word. If the commit comes after a bump in the word's order, it synchronises with it and
//! the writer's re-check sees the state change made before that bump (it does not sleep);
//! if it comes before, the bump reads the bit and the waker makes the futex call, which the
//! kernel orders with the sleep (the sleep fails if the word has changed).

use super::{HANDOFF, RawRwLock};
use crate::futex;
use crate::stats::Primitive;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::time::Instant;

/// In `writer_notify`: a writer or the upgrader may be asleep on it (see the module doc).
pub(in crate::rwlock) const WRITER_ASLEEP: u32 = 1;
/// One step of `writer_notify`'s sequence (bits 1..32; it wraps).
const NOTIFY_STEP: u32 = 2;

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

    /// The writers' (and the upgrader's) sleep on `writer_notify`, if `blocked(state)` still
    /// holds once we have committed to it. Returns the state to go on with and whether it
    /// slept.
    pub(in crate::rwlock) fn sleep_on_writer_notify(
        &self,
        deadline: Option<Instant>,
        blocked: impl Fn(u32) -> bool,
    ) -> (u32, bool) {
        // Commit, reading the sequence, *before* re-checking the state: a wake that comes
        // after our check then finds the bit and bumps the sequence, so the futex wait
        // returns at once or is woken. Acquire: see the module doc.
        let seq = self.writer_notify.fetch_or(WRITER_ASLEEP, Acquire) | WRITER_ASLEEP;
        let state = self.state.load(Relaxed);
        if !blocked(state) {
            // The bit stays: other writers may have committed too (at worst, a wake finds
            // nobody asleep and clears it).
            return (state, false);
        }
        futex::wait(&self.writer_notify, seq, deadline, Primitive::RwLock);
        (self.state.load(Relaxed), true)
    }

    /// Bumps the sequence and clears WRITER_ASLEEP; true if the bit was set (writers may
    /// sleep: the caller wakes them all).
    fn bump_clearing_asleep(&self) -> bool {
        let mut seq = self.writer_notify.load(Relaxed);
        loop {
            // Release: see the module doc.
            let new = seq.wrapping_add(NOTIFY_STEP) & !WRITER_ASLEEP;
            match self.writer_notify.compare_exchange_weak(seq, new, Release, Relaxed) {
                Ok(_) => return seq & WRITER_ASLEEP != 0,
                Err(actual) => seq = actual,
            }
        }
    }

    /// Wakes one writer; false if no writer was asleep: known from WRITER_ASLEEP everywhere,
    /// and from the futex calls on Linux and under loom (elsewhere a call counts as a wake).
    pub(in crate::rwlock) fn wake_writer(&self) -> bool {
        // Release: see the module doc. The bit stays set: other writers may sleep.
        if self.writer_notify.fetch_add(NOTIFY_STEP, Release) & WRITER_ASLEEP == 0 {
            return false;
        }
        if futex::wake_one(&self.writer_notify, Primitive::RwLock) {
            return true;
        }
        // Nobody was asleep: clear the bit, and wake whoever slipped into a sleep between
        // our wake and the clear (see the module doc).
        self.wake_all_writers()
    }

    /// Wakes every writer and the upgrader; true if the futex call says it woke one (as
    /// `wake_writer`).
    pub(in crate::rwlock) fn wake_all_writers(&self) -> bool {
        self.bump_clearing_asleep() && futex::wake_all(&self.writer_notify, Primitive::RwLock)
    }
}
