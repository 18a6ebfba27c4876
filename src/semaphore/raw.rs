//! The Semaphore's protocol: the permit count and a closed bit in one 32-bit futex word, four
//! companion words, the state table, its transitions and the slow paths. The public API and
//! the fast paths are in `mod.rs`, the permits in `permit.rs`.
//!
//! ```text
//! state (the futex word the head waiter sleeps on):
//! | bits  | name    | meaning                                                          |
//! |-------|---------|------------------------------------------------------------------|
//! | 0     | CLOSED  | `close()` was called: every acquire fails with `Closed`          |
//! | 1     | HEAD    | a head waiter has reserved the permits: nobody else may take any |
//! | 2..32 | permits | the available permits (at most MAX_PERMITS = 2^29 - 1)           |
//!
//! head_need   permits the head waiter asks for (written by the head before it sleeps)
//! queued      threads registered to sleep on `queue` (waiters behind the head)
//! queue       a generation counter, the futex word of the waiters behind the head
//! total       the permits that exist: available + held by permits (at most MAX_PERMITS)
//! ```
//!
//! ```text
//! acquire(n):  CAS permits -= n if HEAD and CLOSED are clear and permits >= n (fast path)
//!              else spin a little while there is no head, then
//!              no head: CAS HEAD on, store head_need = n, sleep on `state` until the
//!                       permits suffice; take them and clear HEAD in one CAS; wake the
//!                       queue for what is left (at least one, to become the next head)
//!              a head:  queued += 1, sleep on `queue` while HEAD is set; retry
//! release(n):  fetch_add(n permits); if HEAD was set and the permits now cover
//!              head_need: wake the head; else if queued > 0: wake min(n, queued) of the queue
//! add_permits: total += n (checked, before the permits appear), then as release(n)
//! forget:      permits leave `state` (or the permit), then total -= n
//! close():     set CLOSED, wake everybody on both words
//! ```
//!
//! **No lost wake-ups.** A waiter first announces itself (`queued += 1`, or `head_need = n`)
//! and then re-reads `state` with a read-modify-write (`fetch_add(0)`, AcqRel); a releaser
//! first changes `state` with its `fetch_add` (AcqRel) and then reads the announcement. Two
//! RMWs of one word are ordered: if the waiter's comes first, the releaser's acquires it and
//! so sees the announcement, and wakes; if the releaser's comes first, the waiter sees the new
//! permits and does not sleep. (No store-load `SeqCst` handshake between two words: that is
//! the pattern loom cannot check, and it needs a fence on the hot path.) The queue's
//! generation counter is read before the announcement and bumped before every wake, so a wake
//! that comes between the check and the sleep is not lost either.
//!
//! **Fairness.** The first waiter that finds no permits becomes the *head*; while a head
//! waits, no other acquire (new or queued, `try_acquire` included) takes a permit, so
//! releases accumulate until the head's request is met, and the head is woken exactly then.
//! A waiting `acquire_many(n)` therefore never starves behind a stream of `acquire(1)`:
//! once it is the head it is served as soon as `n` permits have been released. Waiters
//! behind the head are served in the order the kernel wakes them (FIFO on Linux), but a
//! running thread may become the next head before a woken one: the order among them is not
//! strictly FIFO (tokio's semaphore is; it keeps a queue in memory, this one keeps 20 bytes).
//!
//! **Timeouts.** A timed acquire looks at its deadline before it spins, so a zero timeout or
//! a passed deadline costs about what `try_acquire` costs (and, like it, takes free permits).
//! A waiter that times out passes on what it may hold: a head gives up its reservation and
//! wakes the queue as a served head does; a queued waiter that may have swallowed a queue wake
//! wakes another queued waiter if the permits are free for the queue (`docs/loom.md`, "Timed
//! paths audit").
//!
//! **Orderings.** The sleep handshake above (AcqRel RMWs of `state`); the site comments of
//! the handshake say which side of it they are. The acquiring CASes are Acquire and the
//! release `fetch_add` Release, so a permit's previous holder happens-before its next. Flag
//! and count changes that publish nothing (`forget_permits`' CAS, `queued`, the generation
//! bump) are Relaxed. `total` is lowered with Release after the permits left `state` (or the
//! permit), and raised with Acquire before they enter `state`, so an `add_permits` that counts
//! a forget's decrement comes after the forget in `state`'s order too.
//!
//! **Seeded bugs** (`cfg(atomsync_seeded_bug)`, for the loom CI check): a release wakes
//! nobody; a head that times out frees its reservation but does not wake the queue.

use super::AcquireError;
use crate::futex;
use crate::shim::AtomicU32;
use crate::spin::SpinWait;
use crate::stats::Primitive;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::time::Instant;

pub(super) const CLOSED: u32 = 1;
pub(super) const HEAD: u32 = 1 << 1;
pub(super) const PERMIT_SHIFT: u32 = 2;
/// MAX_PERMITS. The permit field has one bit more than it needs: headroom, although no
/// release can overflow (held permits count against the maximum, `mod.rs`, Limits).
pub(super) const MAX: u32 = (1 << 29) - 1;

/// The available permits in `state`.
#[inline]
pub(super) fn permits(state: u32) -> u32 {
    state >> PERMIT_SHIFT
}

/// `state` with `n` permits taken out.
#[inline]
pub(super) fn without_permits(state: u32, n: u32) -> u32 {
    state - (n << PERMIT_SHIFT)
}

/// A counting semaphore; 20 bytes, `const`-constructible.
///
/// The uncontended acquire is one CAS and the release one `fetch_add` (no system call while
/// nobody sleeps). **Fairness**: the first waiter that finds too few permits becomes the head
/// and reserves the permits: while it waits no other acquire (`try_acquire` included) takes
/// any, and it is woken as soon as releases cover its request. So `acquire_many(n)` never
/// starves behind a stream of `acquire(1)`. Waiters behind the head are woken in the kernel's
/// order (FIFO on Linux), but a running thread may become the next head before a woken one.
/// Timed acquires return `Err(AcquireError::TimedOut)` never before their deadline.
///
/// ```
/// use atomsync::Semaphore;
/// static SLOTS: Semaphore = Semaphore::new(3);
/// let permit = SLOTS.acquire_many(2).unwrap();
/// assert_eq!(SLOTS.available_permits(), 1);
/// drop(permit);
/// assert_eq!(SLOTS.available_permits(), 3);
/// ```
pub struct Semaphore {
    /// CLOSED | HEAD | permits << PERMIT_SHIFT; the head waiter's futex word.
    pub(super) state: AtomicU32,
    /// The permits the head waiter asks for (0 before the first head stored one; not reset
    /// when a head leaves: see `wake_head_slow`).
    pub(super) head_need: AtomicU32,
    /// Waiters registered to sleep on `queue`.
    pub(super) queued: AtomicU32,
    /// Generation counter; the futex word of the waiters behind the head.
    pub(super) queue: AtomicU32,
    /// Permits that exist: available (in `state`) plus held by permits; at most MAX. Only
    /// `add_permits`, `forget_permits` and a permit's `forget` change it (`mod.rs`, Limits).
    pub(super) total: AtomicU32,
}

impl Semaphore {
    /// The slow path of acquire: spin, become the head or queue behind it, sleep. Takes `need`
    /// (at least 1) permits.
    #[cold]
    pub(super) fn acquire_contended(
        &self,
        need: u32,
        deadline: Option<Instant>,
    ) -> Result<(), AcquireError> {
        stat!(Semaphore, Contended);
        let mut spin = SpinWait::new(Primitive::Semaphore);
        let mut is_head = false;
        // Has this waiter registered on the queue (so a queue wake may have been spent on it)?
        let mut was_queued = false;
        let mut state = self.state.load(Relaxed);
        loop {
            if state & CLOSED != 0 {
                // `close` woke everybody; a head leaves HEAD set, which no longer matters.
                return Err(AcquireError::Closed);
            }

            // 1. Enough permits and nobody else's reservation: take them (the head also gives
            //    up HEAD in the same CAS).
            if (state & HEAD == 0 || is_head) && permits(state) >= need {
                match self.take_as_waiter(state, need, is_head) {
                    Ok(()) => return Ok(()),
                    Err(actual) => state = actual,
                }
                continue;
            }

            // 2. Out of time: give up, passing on what we might have swallowed. Checked before
            //    any spinning, so a zero timeout or a passed deadline costs about a try_acquire.
            if futex::deadline_passed(deadline) {
                if is_head {
                    self.resign_head();
                } else if was_queued {
                    self.pass_on_queue_wake();
                }
                stat!(Semaphore, Timeout);
                return Err(AcquireError::TimedOut);
            }

            // 3. No head: permits may come back soon, spin a little.
            if state & HEAD == 0 && spin.spin() {
                state = self.state.load(Relaxed);
                continue;
            }

            // 4. No head: become the head.
            if state & HEAD == 0 {
                match self.become_head(state, need) {
                    Ok(()) => {
                        is_head = true;
                        state |= HEAD;
                    }
                    Err(actual) => state = actual,
                }
                continue;
            }

            // 5. The head: sleep on `state` until a release covers `need` (or close).
            if is_head {
                self.sleep_as_head(state, deadline);
                state = self.state.load(Relaxed);
                continue;
            }

            // 6. Behind somebody else's head: register and sleep on the queue while HEAD is set.
            self.sleep_in_queue(deadline);
            was_queued = true;
            spin.reset();
            state = self.state.load(Relaxed);
        }
    }

    /// Step 1 of `acquire_contended`: takes `need` permits out of `state` (the head clears
    /// HEAD in the same CAS and then wakes the queue); the actual state if the CAS failed.
    fn take_as_waiter(&self, state: u32, need: u32, is_head: bool) -> Result<(), u32> {
        let new = without_permits(state, need) & !HEAD;
        // AcqRel: Acquire for the permits (as the fast path's CAS); Release so that a queued
        // waiter's re-check RMW that reads our clearing of HEAD is ordered after it (see
        // `head_left`).
        self.state.compare_exchange_weak(state, new, AcqRel, Relaxed)?;
        if is_head {
            stat!(Semaphore, HandOff);
            self.head_left(new);
        }
        Ok(())
    }

    /// Step 4 of `acquire_contended`: CAS HEAD on and announce `need`; the actual state if
    /// the CAS failed.
    fn become_head(&self, state: u32, need: u32) -> Result<(), u32> {
        // AcqRel: in the modification order of `state`, with the releasers' RMWs.
        self.state.compare_exchange_weak(state, state | HEAD, AcqRel, Relaxed)?;
        // Relaxed: published by the re-check RMW of step 5, which a releaser that comes later
        // acquires (the head's side of the handshake).
        self.head_need.store(need, Relaxed);
        Ok(())
    }

    /// Step 5 of `acquire_contended`: the head sleeps on `state` while it is still `state`.
    fn sleep_as_head(&self, state: u32, deadline: Option<Instant>) {
        // AcqRel: the re-check RMW after the store of `head_need` (module docs).
        let seen = self.state.fetch_add(0, AcqRel);
        if seen == state {
            futex::wait(&self.state, state, deadline, Primitive::Semaphore);
        }
    }

    /// Step 6 of `acquire_contended`: register on the queue and sleep on it while somebody
    /// else's HEAD is set. The waiter's side of the handshake with `release`, `head_left` and
    /// `close` (module docs).
    fn sleep_in_queue(&self, deadline: Option<Instant>) {
        // Acquire: a generation not older than the last bump we saw.
        let generation = self.queue.load(Acquire);
        // Relaxed: published by the re-check RMW below (Release).
        self.queued.fetch_add(1, Relaxed);
        // AcqRel: the re-check RMW.
        let seen = self.state.fetch_add(0, AcqRel);
        if seen & (CLOSED | HEAD) == HEAD {
            futex::wait(&self.queue, generation, deadline, Primitive::Semaphore);
        }
        // Relaxed: a releaser that still counts us may wake us for nothing; harmless.
        self.queued.fetch_sub(1, Relaxed);
    }

    /// After the head took its permits: wake queued waiters for the permits left, and at
    /// least one so that somebody becomes the next head.
    fn head_left(&self, state: u32) {
        // Relaxed: our clearing RMW of `state` acquired every queued waiter's re-check RMW
        // that came before it, and with it the waiter's increment; a waiter whose re-check
        // came after sees HEAD clear and does not sleep.
        let queued = self.queued.load(Relaxed);
        if queued > 0 {
            self.wake_queue(permits(state).max(1).min(queued));
        }
    }

    /// A head that times out clears HEAD (so the permits it reserved are free again) and wakes
    /// the queue as `head_left` does.
    fn resign_head(&self) {
        let mut state = self.state.load(Relaxed);
        loop {
            if state & CLOSED != 0 {
                return;
            }
            // AcqRel: as the clearing of HEAD in `take_as_waiter`.
            match self.state.compare_exchange_weak(state, state & !HEAD, AcqRel, Relaxed) {
                Ok(_) => {
                    if cfg!(atomsync_seeded_bug) {
                        // The seeded timeout bug for the loom CI check: a timed-out head
                        // frees its reservation but does not pass the queue's turn on.
                        return;
                    }
                    return self.head_left(state & !HEAD);
                }
                Err(actual) => state = actual,
            }
        }
    }

    /// A queued waiter that gives up may have been the one a release woke: if the permits are
    /// free for the queue and others wait there, wake one of them instead.
    fn pass_on_queue_wake(&self) {
        // AcqRel, then Relaxed: as in `release` (an RMW, then the count).
        let state = self.state.fetch_add(0, AcqRel);
        if state & (CLOSED | HEAD) == 0 && permits(state) > 0 && self.queued.load(Relaxed) > 0 {
            self.wake_queue(1);
        }
    }

    /// Puts `n` permits into `state` and wakes whom they serve: a permit's drop, and
    /// `add_permits` once `total` counts them. Never panics: every permit is counted in
    /// `total`, so the available ones stay within MAX (`mod.rs`, Limits).
    pub(super) fn release(&self, n: u32) {
        // AcqRel: Release for the permits' next holder (pairs with the Acquire of the CASes
        // that take them); Acquire for the releaser's side of the sleep handshake: change
        // `state`, then read `head_need`/`queued` (module docs).
        let old = self.state.fetch_add(n << PERMIT_SHIFT, AcqRel);
        debug_assert!(permits(old) + n <= MAX, "held permits not counted in total");
        self.wake_after_release(old, n);
    }

    /// After `added` permits were put into a `state` that was `old`: wake the head if they
    /// cover its need, or up to `added` queued waiters if there is no head.
    #[inline]
    fn wake_after_release(&self, old: u32, added: u32) {
        if cfg!(atomsync_seeded_bug) {
            // The seeded bug for the loom CI check: a release that never wakes anybody.
            return;
        }
        if old & HEAD != 0 {
            return self.wake_head_slow(old, added);
        }
        // Relaxed: the handshake with the queued waiters (see `head_left`).
        let queued = self.queued.load(Relaxed);
        if queued > 0 {
            self.wake_queue(added.min(queued));
        }
    }

    /// The release's slow path when a head waits: wake it if the permits now cover its need.
    #[cold]
    fn wake_head_slow(&self, old: u32, added: u32) {
        // Relaxed: if the head's re-check RMW came before our RMW of `state`, we acquired it
        // and see its need; if it came after, the head sees our permits. So a stale need (0
        // before the first head stored one, or a previous head's: it is not reset when a head
        // leaves) only matters when the head re-checks after us, and sees our permits. 0: wake
        // anyway (the head re-checks).
        let need = self.head_need.load(Relaxed);
        if need == 0 || permits(old) + added >= need {
            futex::wake_one(&self.state, Primitive::Semaphore);
        }
    }

    /// Bumps the queue generation and wakes up to `count` queued waiters.
    #[cold]
    fn wake_queue(&self, count: u32) {
        // Relaxed: a waiter that read the old generation and has not slept yet finds the futex
        // value changed (the futex checks it under its own lock, which our wake takes after).
        self.queue.fetch_add(1, Relaxed);
        for _ in 0..count {
            if !futex::wake_one(&self.queue, Primitive::Semaphore) {
                break;
            }
        }
    }

    /// The transition behind `close`: set CLOSED, wake everybody on both words (once).
    pub(super) fn close_transition(&self) {
        // AcqRel: a waiter whose re-check RMW of `state` came before this saw no CLOSED and
        // will sleep; we acquire that RMW, so its read of the queue generation happened before
        // the bump below, which makes its sleep return.
        let old = self.state.fetch_or(CLOSED, AcqRel);
        if old & CLOSED != 0 {
            return;
        }
        futex::wake_all(&self.state, Primitive::Semaphore);
        // Relaxed: the futex checks the word under its own lock, after our bump or before our
        // wake; either way the sleeper returns.
        self.queue.fetch_add(1, Relaxed);
        futex::wake_all(&self.queue, Primitive::Semaphore);
    }

    /// `n` permits stopped existing (forgotten, after they left `state` or their permit).
    #[inline]
    pub(super) fn forget_total(&self, n: u32) {
        // Release: pairs with the Acquire of `add_permits` (module docs, Orderings).
        self.total.fetch_sub(n, Release);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    // The flags sit below the permit field.
    const _: () = assert!((CLOSED | HEAD) >> PERMIT_SHIFT == 0);

    #[test]
    fn encoding_leaves_room_for_an_overflowing_release() {
        assert_eq!(permits(u32::MAX), 2 * MAX + 1);
        assert_eq!(Semaphore::MAX_PERMITS, (1 << 29) - 1);
    }

    #[test]
    fn total_counts_available_and_held_permits() {
        let semaphore = Semaphore::new(5);
        let total = || semaphore.total.load(Relaxed);
        let mut held = semaphore.acquire_many(3).unwrap();
        assert_eq!((semaphore.available_permits(), total()), (2, 5));
        held.split(1).unwrap().forget();
        assert_eq!((semaphore.available_permits(), total()), (2, 4));
        semaphore.add_permits(7);
        assert_eq!((semaphore.available_permits(), total()), (9, 11));
        assert_eq!(semaphore.forget_permits(4), 4);
        assert_eq!((semaphore.available_permits(), total()), (5, 7));
        drop(held);
        assert_eq!((semaphore.available_permits(), total()), (7, 7));
        semaphore.acquire_many(0).unwrap().forget();
        assert_eq!(total(), 7);
    }

    #[test]
    fn uncontended_round_trip_leaves_the_word_clean() {
        let semaphore = Semaphore::new(3);
        let permit = semaphore.acquire_many(3).unwrap();
        assert_eq!(semaphore.state.load(Relaxed), 0);
        drop(permit);
        assert_eq!(semaphore.state.load(Relaxed), 3 << PERMIT_SHIFT);
        assert_eq!(semaphore.queued.load(Relaxed), 0);
    }
}
