//! How idle workers sleep without ever missing a job: the jobs-event-counter protocol.
//!
//! Two words: `event`, a counter that every wake-worthy event bumps and that sleepers futex-wait
//! on, and `sleepers`, how many workers are on their way to sleep or asleep.
//!
//! | step | idle worker                                   | pusher                                   |
//! |------|-----------------------------------------------|------------------------------------------|
//! | 1    | `sleepers += 1` (SeqCst)                      | push the job (a queue write)             |
//! | 2    | `ticket = event` (Acquire); fence(SeqCst)     | fence(SeqCst)                            |
//! | 3    | re-check every queue (and the shutdown flag)  | `if sleepers == 0 { return }`            |
//! | 4    | found work: `sleepers -= 1`, run it           | `event += 1` (Release)                   |
//! | 5    | else `futex_wait(event, ticket)`; `sleepers -= 1` | `futex_wake_one(event)`              |
//!
//! Why no job is missed: steps 1–3 on both sides are the store-buffering pattern with a SeqCst
//! fence on each side, so at least one side sees the other: either the worker's re-check finds
//! the job, or the pusher sees `sleepers > 0` and bumps `event`. If it bumps, the worker either
//! read `event` after the bump (then, through the Release/Acquire pair on `event`, its re-check
//! sees the job) or holds an older ticket, in which case its futex wait returns at once (the
//! kernel compares `event` with the ticket) or the wake-up of step 5 ends it.
//!
//! A push wakes at most one sleeper, and only if someone is on the way to sleep; when every
//! worker is busy a push costs one fence and one load. `notify_all` (shutdown, a latch set
//! while its waiter sleeps here) bumps and wakes everyone. A worker that is counted in
//! `sleepers` but not yet asleep can absorb a wake meant for another (it sees the new `event`
//! and stays up, and the really asleep worker is woken too): an extra wake-up, never a lost
//! one; the loom model with two workers and two jobs checks exactly that.
//!
//! **Orderings.** The two SeqCst fences (the worker's after its `sleepers` increment and ticket
//! read, the pusher's after its push) make the store-buffering pair above; they order the
//! queues against `sleepers`, so the pusher's load of `sleepers` is Relaxed. The `event` bump
//! is Release and the ticket load Acquire: a worker whose ticket already includes a bump also
//! sees the job pushed before it. The decrements of `sleepers` are Relaxed: the count only
//! decides whether a pusher bothers to wake, and a stale non-zero value costs a needless wake,
//! never a missed one. `notify_all`'s bump is SeqCst; its Release half publishes the `WAKING`
//! store of `latch.rs` to a ticket that sees the bump. The shutdown flag is read between the
//! ticket and the re-check, followed by a fence of its own (`shared.rs`, "Shutdown").
//!
//! With `--cfg atomsync_seeded_bug` the pusher bumps `event` but does not wake: a worker that
//! is already asleep stays asleep, which the loom model `push_wakes_sleeping_worker` must report
//! as a deadlock.

use crate::futex;
use crate::shim::{AtomicU32, fence};
use crate::stats::Primitive;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};

/// The idle-worker sleep protocol of one pool (see the module docs).
#[derive(Debug)]
pub struct Sleep {
    /// Bumped by every push that finds sleepers, and by `notify_all`; the futex word.
    event: AtomicU32,
    /// Workers between `prepare_to_sleep` and the end of `sleep`/`cancel`.
    sleepers: AtomicU32,
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
        Self { event: AtomicU32::new(0), sleepers: AtomicU32::new(0) }
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
    /// return spuriously; the caller loops back to looking for work.
    pub fn sleep(&self, ticket: Ticket) {
        futex::wait(&self.event, ticket.event, None, Primitive::ThreadPool);
        self.sleepers.fetch_sub(1, Relaxed);
    }

    /// A job was just pushed onto a queue that idle workers check: wakes one sleeper if
    /// there is any.
    #[inline]
    pub fn notify_one(&self) {
        // The pusher's half of the store-buffering pair: orders the push before the
        // `sleepers` load below (see the module docs).
        fence(SeqCst);
        if self.sleepers.load(Relaxed) != 0 {
            self.wake_one_cold();
        }
    }

    #[cold]
    fn wake_one_cold(&self) {
        self.event.fetch_add(1, Release);
        #[cfg(not(atomsync_seeded_bug))]
        futex::wake_one(&self.event, Primitive::ThreadPool);
    }

    /// Wakes every idle worker (shutdown, or a latch whose waiting worker sleeps here). The
    /// caller has already published the reason (the shutdown flag, the latch's `WAKING`).
    pub fn notify_all(&self) {
        self.event.fetch_add(1, SeqCst);
        futex::wake_all(&self.event, Primitive::ThreadPool);
    }
}
