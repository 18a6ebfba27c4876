//! How idle workers sleep without ever missing a job: a jobs-event counter with two counts of
//! idle workers and a wake-in-flight bit, so that a push issues a `futex_wake` only when a
//! worker is committed to sleeping and no wake is already on its way.
//!
//! Three words: `event`, a counter that wake-worthy events bump and that sleepers futex-wait
//! on; `sleepers`, the workers *registered* as idle (from `prepare_to_sleep` to the end of
//! `sleep`/`cancel`); `sleeping`, the registered workers *committed* to sleeping (bits 0–30,
//! from the start of `sleep` to its end) plus `WAKE_PENDING` (bit 31: a push has issued a
//! wake that no worker has yet acknowledged by leaving `sleep`).
//!
//! | step | idle worker                                         | pusher (`notify_one`)                       |
//! |------|-----------------------------------------------------|---------------------------------------------|
//! | 1    | `sleepers += 1`; `ticket = event`; fence            | push the job; fence                         |
//! | 2    | re-check every queue (and the shutdown flag)        | `sleepers == 0`: return (the hot path)      |
//! | 3    | found work: `sleepers -= 1`, run it (`cancel`)      | `event += 1` (A)                            |
//! | 4    | else `sleeping += 1` (commit)                       | `s = sleeping`; no committed worker, or `WAKE_PENDING`: return |
//! | 5    | `event == ticket`: `futex_wait(event, ticket)`      | CAS `s -> s \| WAKE_PENDING`; `event += 1` (B); `futex_wake_one(event)` |
//! | 6    | leave: `sleeping -= 1` and clear `WAKE_PENDING` in one RMW; `sleepers -= 1`; fence; look for work | |
//!
//! Why no job is missed (every step SeqCst unless said otherwise below; each store-buffering
//! pair has a SeqCst fence between the write and the read on both sides, which is what the
//! memory model, and loom, need beyond SeqCst accesses):
//! - Steps 1–2 on both sides are the store-buffering pattern with a SeqCst fence on each side:
//!   either the worker's re-check finds the job, or the pusher sees the worker registered.
//! - A registered worker that is not yet committed (still re-checking, the common case under
//!   load) costs the pusher the bump (A) but no system call. The worker's commit (4) and its
//!   `event` check (5) against the pusher's bump (A) and `sleeping` load (4) are a second
//!   store-buffering pair: either the worker sees `event != ticket` and does not sleep, or the
//!   pusher sees it committed and goes on to wake.
//! - A pusher that finds `WAKE_PENDING` skips its wake: the bit was set by a pusher that saw a
//!   committed worker, and it is cleared only by a worker leaving `sleep` (6), in the same RMW
//!   as its `sleeping` decrement. The skipping pusher's `sleeping` load precedes that clear in
//!   the word's order, and the leaver's fence after the clear then makes its search see the
//!   skipped job (fence after the push, fence after the clear: store-buffering once more).
//! - Someone does leave after each `WAKE_PENDING` set: the CAS saw a committed worker W, whose
//!   commit precedes the CAS; W's ticket, read before its commit, cannot include the bump (B)
//!   after the CAS, so W's futex wait either returns at once (the kernel sees `event !=
//!   ticket`) or W is queued before the wake, and the wake then ends W's or another queued
//!   worker's sleep; either leaves and clears the bit.
//!
//! So a push wakes at most one worker, only when one is committed and no wake is in flight; a
//! wake is never lost. A push that skipped its wake hands its job to the leaver that clears
//! the bit (as the mutex's WOKEN bit does), and that leaver may take another job, or return
//! to a task whose latch is set, without running it; so `sleep` returns whether it cleared the
//! bit, and such a leaver passes the wake on (`notify_one`) when it takes a job or stops
//! looking (`worker.rs`): a burst of pushes still wakes the sleepers one after the other, and a
//! job is never left queued behind a worker that is busy or blocked while others sleep. When
//! every worker is busy a push costs one fence and one load. `notify_all` (shutdown, a latch set while its waiter sleeps here) bumps `event` and
//! issues `futex_wake_all` only if a worker is committed (the same pair as steps 4–5).
//!
//! **Orderings.** The fences of step 1 order the queues against `sleepers`, so the pusher's
//! hot load of `sleepers` is Relaxed. The ticket load is Acquire against the bumps' Release
//! half: a worker whose ticket includes a bump also sees the job pushed before it. The
//! decrements of `sleepers` are Relaxed: the count only decides whether a pusher goes on to
//! step 3, and a stale non-zero value costs a needless bump, never a missed job. Everything on
//! `sleeping` and the bumps are SeqCst (steps 3–6 are the cold path). `notify_all`'s SeqCst
//! bump also publishes the `WAKING` store of `latch.rs` to a ticket that sees it. The shutdown
//! flag is read between the ticket and the re-check, followed by a fence of its own
//! (`shared.rs`, "Shutdown").
//!
//! With `--cfg atomsync_seeded_bug` the pusher bumps `event` and sets `WAKE_PENDING` but does
//! not wake: a worker that is already asleep stays asleep, which the loom model
//! `push_wakes_sleeping_worker` must report as a deadlock.

use crate::futex;
use crate::shim::{AtomicU32, fence};
use crate::stats::Primitive;
use std::sync::atomic::Ordering::{Acquire, Relaxed, SeqCst};

/// `sleeping`'s bit 31: a wake was issued and no worker has left `sleep` since.
const WAKE_PENDING: u32 = 1 << 31;

/// The idle-worker sleep protocol of one pool (see the module docs).
#[derive(Debug)]
pub struct Sleep {
    /// Bumped by every push that finds registered workers, and by `notify_all`; the futex word.
    event: AtomicU32,
    /// Workers registered as idle: between `prepare_to_sleep` and the end of `sleep`/`cancel`.
    sleepers: AtomicU32,
    /// Workers committed to sleeping (inside `sleep`), plus `WAKE_PENDING`.
    sleeping: AtomicU32,
}

/// What a worker read when it announced that it is about to sleep.
#[derive(Clone, Copy, Debug)]
#[must_use = "pass the ticket to `sleep` or `cancel`"]
pub struct Ticket {
    event: u32,
}

impl Default for Sleep {
    fn default() -> Self {
        Self::new()
    }
}

impl Sleep {
    /// No sleepers, event counter 0.
    pub fn new() -> Self {
        Self { event: AtomicU32::new(0), sleepers: AtomicU32::new(0), sleeping: AtomicU32::new(0) }
    }

    /// Step 1–2 of a worker going idle. The caller must then re-check every queue (and the
    /// shutdown flag) and call [`cancel`](Self::cancel) if it found something, else
    /// [`sleep`](Self::sleep).
    pub fn prepare_to_sleep(&self) -> Ticket {
        self.sleepers.fetch_add(1, SeqCst);
        let event = self.event.load(Acquire);
        // The worker's half of the store-buffering pair: orders our `sleepers` increment
        // before the re-check of the queues (see the module docs).
        fence(SeqCst);
        Ticket { event }
    }

    /// The re-check found work (or shutdown): leave the sleepers.
    pub fn cancel(&self, ticket: Ticket) {
        let _ = ticket;
        self.sleepers.fetch_sub(1, Relaxed);
    }

    /// Sleeps until an event after `ticket` (returns at once if one already happened). May
    /// return spuriously; the caller loops back to looking for work. True if we acknowledged a
    /// wake in flight (cleared `WAKE_PENDING`): pushes may have skipped their wakes on it, so
    /// the caller must pass the wake on ([`notify_one`](Self::notify_one)) when it takes a job
    /// or stops looking for work (module docs).
    #[must_use = "a wake acknowledged here must be passed on"]
    pub fn sleep(&self, ticket: Ticket) -> bool {
        // Step 4, the commit: from here a push wakes us (with the check below, the second
        // store-buffering pair of the module docs).
        self.sleeping.fetch_add(1, SeqCst);
        fence(SeqCst);
        if self.event.load(SeqCst) == ticket.event {
            futex::wait(&self.event, ticket.event, None, Primitive::ThreadPool);
        }
        // Step 6: leave, and acknowledge any wake in flight (ours or not: whoever clears the
        // bit looks for work next). Relaxed load and failure: they only seed the SeqCst CAS.
        let mut state = self.sleeping.load(Relaxed);
        loop {
            let left = (state - 1) & !WAKE_PENDING;
            match self.sleeping.compare_exchange_weak(state, left, SeqCst, Relaxed) {
                Ok(_) => break,
                Err(current) => state = current,
            }
        }
        self.sleepers.fetch_sub(1, Relaxed);
        // Pairs with the fence of a push that saw `WAKE_PENDING` and skipped its wake: our
        // search for work, next, sees that push's job.
        fence(SeqCst);
        state & WAKE_PENDING != 0
    }

    /// The number of workers registered as idle (loom models wait for a registration).
    #[cfg(loom)]
    pub fn registered(&self) -> u32 {
        self.sleepers.load(SeqCst)
    }

    /// A job was just pushed onto a queue that idle workers check: wakes one sleeper if one
    /// is committed to sleeping and no wake is already in flight.
    #[inline]
    pub fn notify_one(&self) {
        // The pusher's half of the store-buffering pair: orders the push before the
        // `sleepers` load below (see the module docs).
        fence(SeqCst);
        if self.sleepers.load(Relaxed) != 0 {
            self.notify_one_cold();
        }
    }

    #[cold]
    fn notify_one_cold(&self) {
        // (A): a registered worker that has not committed yet sees it and does not sleep.
        self.event.fetch_add(1, SeqCst);
        fence(SeqCst);
        let mut state = self.sleeping.load(SeqCst);
        loop {
            if state & !WAKE_PENDING == 0 || state & WAKE_PENDING != 0 {
                return;
            }
            match self.sleeping.compare_exchange_weak(state, state | WAKE_PENDING, SeqCst, SeqCst) {
                Ok(_) => break,
                Err(current) => state = current,
            }
        }
        // (B): after the CAS, so that a committed worker's ticket cannot include it and its
        // futex wait cannot sleep through our wake (module docs).
        self.event.fetch_add(1, SeqCst);
        #[cfg(not(atomsync_seeded_bug))]
        futex::wake_one(&self.event, Primitive::ThreadPool);
    }

    /// Wakes every idle worker (shutdown, or a latch whose waiting worker sleeps here). The
    /// caller has already published the reason (the shutdown flag, the latch's `WAKING`).
    pub fn notify_all(&self) {
        self.event.fetch_add(1, SeqCst);
        // A worker that commits after this load sees the bump and does not sleep.
        fence(SeqCst);
        if self.sleeping.load(SeqCst) & !WAKE_PENDING != 0 {
            futex::wake_all(&self.event, Primitive::ThreadPool);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::time::{Duration, Instant};

    #[test]
    fn a_push_wakes_nobody_while_workers_are_only_registered() {
        let sleep = Sleep::new();
        let ticket = sleep.prepare_to_sleep();
        // Registered, not committed: the push bumps the event (the worker will not sleep
        // through it) but issues no wake and sets no WAKE_PENDING.
        sleep.notify_one();
        assert_eq!(sleep.sleeping.load(SeqCst), 0);
        assert_ne!(sleep.event.load(SeqCst), ticket.event);
        // The worker commits, finds the event moved on, and leaves at once: nothing to pass on.
        assert!(!sleep.sleep(ticket));
        assert_eq!(sleep.sleeping.load(SeqCst), 0);
        assert_eq!(sleep.sleepers.load(SeqCst), 0);
    }

    #[test]
    fn a_committed_sleeper_is_woken_and_acknowledges_the_wake() {
        let sleep = Arc::new(Sleep::new());
        let stop = Arc::new(AtomicBool::new(false));
        // The worker sleeps until a sleep of its ends with the acknowledgement of a wake in
        // flight (a push found it committed and set WAKE_PENDING). A push that comes while it
        // is committed but has not read the event yet lets it leave without one (the push then
        // finds nobody committed): it just tries again.
        let worker = {
            let (sleep, stop) = (Arc::clone(&sleep), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(SeqCst) {
                    let ticket = sleep.prepare_to_sleep();
                    if sleep.sleep(ticket) {
                        return true;
                    }
                }
                false
            })
        };
        let give_up = Instant::now() + Duration::from_secs(60);
        while !worker.is_finished() {
            if Instant::now() > give_up {
                stop.store(true, SeqCst);
                sleep.notify_all();
            } else if sleep.sleeping.load(SeqCst) != 0 {
                sleep.notify_one();
            }
            std::thread::yield_now();
        }
        assert!(worker.join().unwrap(), "no sleep ever acknowledged a wake in flight");
        assert_eq!(sleep.sleeping.load(SeqCst), 0);
        assert_eq!(sleep.sleepers.load(SeqCst), 0);
    }
}
