//! The bounded spin-before-sleep policy shared by every primitive.
//!
//! A contender that finds a lock held by a *running* thread spins a little before it sleeps:
//! the owner is likely to release within a few hundred nanoseconds, and a futex sleep plus wake
//! costs microseconds. When to spin is each caller's decision, made where its protocol is: the
//! mutex's newcomers always spin (a spinner claims WOKEN, so unlocks need not wake a sleeper);
//! the RwLock's readers spin only while no reader sleeps, its writers only while no writer
//! waits, and a writer behind readers runs only the busy-wait rounds
//! ([`SpinWait::spin_without_yield`]): until it registers, readers keep entering. A semaphore
//! newcomer does not busy-wait at all: it yields two rounds and then sleeps
//! ([`SpinWait::semaphore_newcomer`]), seven if it waits for a hand-off (no permit exists, no
//! head, nobody queued: [`SpinWait::semaphore_first_waiter`]); a woken semaphore head runs the
//! busy-wait rounds and two yields ([`SpinWait::woken_semaphore_head`]); none of them spins
//! while a head has reserved the permits (`docs/design.md`, Semaphore).
//!
//! The schedule: `PAUSE_ROUNDS` rounds of exponentially more `spin_loop` hints (2, 4, 8, ...),
//! then `YIELD_ROUNDS` rounds of `yield_now`, which under oversubscription lets a preempted
//! owner run instead of burning its time slice. A contender for a lock that another thread
//! holds *exclusively* (a mutex's, an RwLock writer behind a writer) runs one busy-wait round
//! fewer (`EXCLUSIVE_PAUSE_ROUNDS`: 2 and 4 hints), yields only twice and then, while nobody
//! sleeps for the lock (no mutex sleeper counted, no writer registered), *backs off*: it sleeps
//! [`BACK_OFF`] without registering anywhere, so no unlock pays a wake for it, and looks again;
//! five such rounds, then it registers and sleeps on the futex ([`SpinWait::exclusive`]; a
//! mutex contender behind counted sleepers yields instead, [`SpinWait::spin_yielding`]). These
//! numbers were tuned with `benches/mutex.rs` and `examples/compare.rs`; `docs/benchmarks.md`
//! records what was tried.

use crate::shim;
use crate::stats::Primitive;
#[cfg(not(loom))]
use std::time::Duration;

/// Rounds of busy-waiting with `spin_loop` hints.
#[cfg(not(loom))]
const PAUSE_ROUNDS: u32 = 3;
/// Busy-waiting rounds of a contender for a lock held exclusively (2 and 4 hints): a mutex
/// contender, and an RwLock writer behind a writer. One fewer than elsewhere. A lock around a
/// tiny critical section is taken again by its owner within nanoseconds of its release, so a
/// waiter that catches it free takes it from a thread that was about to continue: a hand-off
/// between CPUs that costs both. The third round (8 more hints, about 170 ns on the Xeon of
/// `docs/benchmarks.md`) mostly bought such hand-offs: without it the tiny-section mutex ran
/// at 0.87–1.15× parking_lot's throughput against 0.72–1.01× with it, and the 100 ns section
/// no slower beyond the noise (`docs/benchmarks.md`, "What we tried (mutex)"). With no
/// busy-wait round, or one, the 100 ns section lost half its throughput: its waiter must be
/// there when the lock comes free. An RwLock writer behind *readers* keeps three: all of them
/// must leave, and the 90 %-read row fell when that wait was shortened too (session 9);
/// behind a writer alone the 50 %-read row gained (session 10, `docs/benchmarks.md`).
#[cfg(not(loom))]
const EXCLUSIVE_PAUSE_ROUNDS: u32 = 2;
#[cfg(loom)]
const EXCLUSIVE_PAUSE_ROUNDS: u32 = PAUSE_ROUNDS;

/// Rounds of `yield_now` after the busy-waiting rounds.
#[cfg(not(loom))]
const YIELD_ROUNDS: u32 = 7;

// Under loom every round is a yield the model must explore: keep one.
#[cfg(loom)]
const PAUSE_ROUNDS: u32 = 1;
#[cfg(loom)]
const YIELD_ROUNDS: u32 = 0;

/// The yield rounds of a contender for a lock held exclusively (a mutex contender, an RwLock
/// writer behind a writer), after its busy-wait rounds and before it backs off.
#[cfg(not(loom))]
const EXCLUSIVE_YIELD_ROUNDS: u32 = 2;
#[cfg(loom)]
const EXCLUSIVE_YIELD_ROUNDS: u32 = 0;

/// The back-off rounds of a contender for a lock held exclusively: timed sleeps of
/// [`BACK_OFF`], registered nowhere, before it registers and sleeps on the futex (on Linux;
/// elsewhere yields, `shim::back_off`). A lock that is still held after the busy-wait
/// rounds and two yields is, under contention, mostly a lock that its owner takes again within
/// nanoseconds of each release (a short critical section in a loop). Yielding on (the
/// schedule's other 5 yields) only polls it: on a CPU with nothing else to run `sched_yield`
/// returns at once, and each look pulls the lock's cache line away from the owner; under
/// oversubscription the yield hands the CPU to another contender rather than to the owner.
/// Registering to sleep costs the owner's next unlock a `futex_wake`, and the waiter's
/// registration is seen by that unlock before the waiter is asleep (the futile pair of
/// `docs/benchmarks.md`, "What we tried (mutex)"). A timed sleep takes the contender off the
/// CPU and off the cache line, and leaves the owner to run its critical sections back to back:
/// the tiny-section row went from parking_lot's throughput to 1.0–2.5× it (2.2–2.5× at 2
/// threads). Starting the back-off at the first yield lost the 100 ns row more (there the lock
/// is free two thirds of the time, and a yield catches it); so did backing off behind counted
/// sleepers, and sleeps of the default timer slack's 50 µs (`docs/benchmarks.md`, Mutex,
/// session 14). What it costs: a waiter may find the lock free up to one back-off after its
/// release; no wake-up can be lost, since nobody counts on waking it. Under loom, none: a
/// round there is a yield that keeps the contender from its futex sleep within the models'
/// preemption bound (`docs/loom.md`, "What the models do not cover"). An RwLock writer behind
/// a writer backs off the same way, while no writer is registered (with one registered it
/// registers at once, as before): the 50 %-read row, where every thread writes every other
/// operation, went from 1.04–1.15× parking_lot's throughput to 1.23–1.76× (means of five
/// alternated rounds at 2–16 threads; `docs/benchmarks.md`, session 15).
#[cfg(not(loom))]
const BACK_OFF_ROUNDS: u32 = 5;
#[cfg(loom)]
const BACK_OFF_ROUNDS: u32 = 0;

/// How long a back-off round sleeps: long enough for an owner that retakes the lock at once to
/// run a few hundred critical sections alone, short enough that a contender for a lock with
/// work outside it is back soon after it is free. 15 µs kept the 100 ns row level with main's,
/// where the default timer slack (about 50 µs of sleep for any request) cost it 5–10 %
/// (`docs/benchmarks.md`, Mutex, session 14).
#[cfg(not(loom))]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) const BACK_OFF: Duration = Duration::from_micros(15);

/// The timer slack a back-off sleeps with (Linux, `PR_SET_TIMERSLACK`; restored after it).
#[cfg(not(loom))]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) const BACK_OFF_SLACK: Duration = Duration::from_micros(1);

/// Yield rounds of an idle pool worker looking for work before it sleeps: work often comes
/// within microseconds (a submitter in a loop pushes every ~100 ns) and a sleep costs the next
/// push a futex wake. 64 rounds in all was measured best with `benches/pool.rs`.
/// (The pool's worker loop is not compiled under loom: its models check `pool/sleep.rs`.)
#[cfg(not(loom))]
const IDLE_YIELD_ROUNDS: u32 = 64 - PAUSE_ROUNDS;

/// The yield rounds of a semaphore newcomer, which runs no busy-wait round. A permit that a
/// thread cycles (release, then acquire again) is free only between its release and its next
/// acquire: a newcomer polling in busy-wait rounds catches it there, and the permit, the
/// line it lives on and the holder's work move to the other CPU on nearly every operation
/// (one permit, 2 threads: 787 of 1 000 acquisitions contended). Yielding instead leaves the
/// line to the thread that cycles it, and gives a preempted holder the CPU: the one-permit
/// row went from 1.06 / 0.97 to 1.30 / 1.15 of the best baseline at 2 / 4 threads in eight
/// alternated pairs (`docs/benchmarks.md`, Semaphore, session 12).
#[cfg(not(loom))]
const NEWCOMER_YIELD_ROUNDS: u32 = 2;

/// The yield rounds of a semaphore head that was woken (or handed the head's place): a few,
/// to stay on the CPU through a barger's short hold instead of paying another sleep and
/// wake-up, but not the whole schedule, which leaves the queue behind it waiting through
/// other threads' time slices (`docs/benchmarks.md`, Semaphore, session 7).
#[cfg(not(loom))]
const WOKEN_HEAD_YIELD_ROUNDS: u32 = 2;
#[cfg(loom)]
const WOKEN_HEAD_YIELD_ROUNDS: u32 = 0;

#[cfg(all(test, not(loom)))]
thread_local! {
    /// Back-off rounds this thread has run (unit tests: these, the mutex's).
    pub(crate) static BACK_OFFS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// One contender's progress through the spin schedule.
#[derive(Debug)]
pub(crate) struct SpinWait {
    round: u32,
    pause_rounds: u32,
    yield_rounds: u32,
    back_off_rounds: u32,
    /// Whose spins and yields these are (feature `stats`).
    #[cfg(feature = "stats")]
    by: Primitive,
}

impl SpinWait {
    /// The schedule of a contender for a lock; `by` is the primitive its rounds are counted
    /// for (feature `stats`; unused without it).
    pub(crate) const fn new(by: Primitive) -> Self {
        Self::with_rounds(PAUSE_ROUNDS, YIELD_ROUNDS, by)
    }

    /// The schedule of a contender for a lock held exclusively (a mutex's, or an RwLock
    /// writer's behind a writer), counted for `by`: [`EXCLUSIVE_PAUSE_ROUNDS`] busy-wait
    /// rounds, [`EXCLUSIVE_YIELD_ROUNDS`] yields, then [`BACK_OFF_ROUNDS`] back-off sleeps.
    pub(crate) const fn exclusive(by: Primitive) -> Self {
        let mut spin = Self::with_rounds(EXCLUSIVE_PAUSE_ROUNDS, EXCLUSIVE_YIELD_ROUNDS, by);
        spin.back_off_rounds = BACK_OFF_ROUNDS;
        spin
    }

    /// A semaphore waiter that has not been woken as the head: no busy-wait round,
    /// [`NEWCOMER_YIELD_ROUNDS`] yields. (Under loom, one busy-wait round: the models explore
    /// the protocol, in which a round is one more look at the word.)
    pub(crate) const fn semaphore_newcomer() -> Self {
        #[cfg(not(loom))]
        return Self::with_rounds(0, NEWCOMER_YIELD_ROUNDS, Primitive::Semaphore);
        #[cfg(loom)]
        return Self::with_rounds(PAUSE_ROUNDS, 0, Primitive::Semaphore);
    }

    /// The first waiter of a hand-off: a semaphore waiter that found no permit in existence
    /// (so its permit can only come from another thread's `add_permits`), no head and nobody
    /// queued. No busy-wait round, then the full [`YIELD_ROUNDS`] yields, about as long as a
    /// futex wake-up takes here: a two-semaphore ping-pong took 0.5–0.6 µs a round trip with
    /// them against 7–9 µs with the newcomer's two (`docs/benchmarks.md`, Semaphore, session
    /// 12). Where permits exist and are cycled by running threads, or behind a head or a
    /// queue, [`semaphore_newcomer`](Self::semaphore_newcomer)'s two yields measured faster.
    /// (Under loom: the newcomer's schedule.)
    pub(crate) const fn semaphore_first_waiter() -> Self {
        #[cfg(not(loom))]
        return Self::with_rounds(0, YIELD_ROUNDS, Primitive::Semaphore);
        #[cfg(loom)]
        return Self::semaphore_newcomer();
    }

    /// A semaphore head after its wake-up: the busy-wait rounds, then
    /// `WOKEN_HEAD_YIELD_ROUNDS` yields.
    pub(crate) const fn woken_semaphore_head() -> Self {
        Self::with_rounds(PAUSE_ROUNDS, WOKEN_HEAD_YIELD_ROUNDS, Primitive::Semaphore)
    }

    /// The longer schedule of an idle pool worker looking for work: the same pause rounds,
    /// then more yields.
    #[cfg(not(loom))]
    pub(crate) const fn idle_worker() -> Self {
        Self::with_rounds(PAUSE_ROUNDS, IDLE_YIELD_ROUNDS, Primitive::ThreadPool)
    }

    /// `pause_rounds` busy-wait rounds, then `yield_rounds` yields, counted for `by`.
    #[cfg_attr(not(feature = "stats"), allow(unused_variables))]
    const fn with_rounds(pause_rounds: u32, yield_rounds: u32, by: Primitive) -> Self {
        Self {
            round: 0,
            pause_rounds,
            yield_rounds,
            back_off_rounds: 0,
            #[cfg(feature = "stats")]
            by,
        }
    }

    /// Spins once; false when the schedule is exhausted and the caller should sleep.
    #[inline]
    pub(crate) fn spin(&mut self) -> bool {
        if self.round >= self.pause_rounds + self.yield_rounds + self.back_off_rounds {
            return false;
        }
        self.round += 1;
        if self.round <= self.pause_rounds {
            stat!(self.by => Spin);
            // Under loom one hint is one yield point; more would only grow the state space.
            let pauses = if cfg!(loom) { 1 } else { 1u32 << self.round };
            for _ in 0..pauses {
                shim::spin_loop();
            }
        } else if self.round <= self.pause_rounds + self.yield_rounds {
            stat!(self.by => Yield);
            shim::yield_now();
        } else {
            stat!(self.by => BackOff);
            #[cfg(all(test, not(loom)))]
            BACK_OFFS.with(|count| count.set(count.get() + 1));
            shim::back_off();
        }
        true
    }

    /// As [`spin`](Self::spin), but a back-off round yields instead of sleeping (a mutex
    /// contender while sleepers are counted; [`spin_or_yield`](Self::spin_or_yield)).
    #[inline]
    pub(crate) fn spin_yielding(&mut self) -> bool {
        if self.backs_off_next() {
            self.round += 1;
            stat!(self.by => Yield);
            shim::yield_now();
            return true;
        }
        self.spin()
    }

    /// Whether the next round of [`spin`](Self::spin) is a back-off sleep: the contender will
    /// not be awake for a while (a mutex contender gives up its WOKEN first).
    #[inline]
    pub(crate) fn backs_off_next(&self) -> bool {
        let awake = self.pause_rounds + self.yield_rounds;
        self.round >= awake && self.round < awake + self.back_off_rounds
    }

    /// Spins once if the schedule is still in its busy-waiting rounds; false once only
    /// `yield_now` rounds are left. For a contender whose wait should start at once rather
    /// than after giving the CPU away (an RwLock writer behind readers: until it registers,
    /// new readers keep entering).
    #[inline]
    pub(crate) fn spin_without_yield(&mut self) -> bool {
        self.round < self.pause_rounds && self.spin()
    }

    /// Spins once, yielding where [`spin`](Self::spin) would back off, and once the schedule
    /// is used up yields instead of giving up: for a wait that must stay awake until another
    /// thread's step, which is due at once but may be preempted (an RwLock writer waiting for
    /// readers' take-backs while a woken writer is on its way).
    #[inline]
    pub(crate) fn spin_or_yield(&mut self) {
        if !self.spin_yielding() {
            stat!(self.by => Yield);
            shim::yield_now();
        }
    }

    /// Starts the schedule again (after a wake-up).
    #[inline]
    pub(crate) fn reset(&mut self) {
        self.round = 0;
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::time::Instant;

    /// How many rounds `spin` grants before the schedule says "sleep now".
    fn rounds(spin: &mut SpinWait) -> u32 {
        let mut rounds = 0;
        while spin.spin() {
            rounds += 1;
            assert!(rounds <= 1_000, "the schedule never ends");
        }
        rounds
    }

    #[test]
    fn every_schedule_has_its_documented_length() {
        assert_eq!(rounds(&mut SpinWait::new(Primitive::RwLock)), 3 + 7);
        assert_eq!(rounds(&mut SpinWait::exclusive(Primitive::RwLock)), 2 + 2 + 5);
        assert_eq!(rounds(&mut SpinWait::exclusive(Primitive::Mutex)), 2 + 2 + 5);
        assert_eq!(rounds(&mut SpinWait::semaphore_newcomer()), 2);
        assert_eq!(rounds(&mut SpinWait::semaphore_first_waiter()), 7);
        assert_eq!(rounds(&mut SpinWait::woken_semaphore_head()), 3 + 2);
        assert_eq!(rounds(&mut SpinWait::idle_worker()), 64);
    }

    #[test]
    fn spin_without_yield_grants_the_busy_wait_rounds_only() {
        for (mut spin, pauses) in
            [(SpinWait::new(Primitive::RwLock), 3), (SpinWait::exclusive(Primitive::Mutex), 2)]
        {
            for round in 0..pauses {
                assert!(spin.spin_without_yield(), "busy-wait round {round} refused");
            }
            assert!(!spin.spin_without_yield(), "a yield round granted without yielding");
            // The other rounds are still there for `spin` (7 yields; 2 yields and 5 back-offs).
            assert_eq!(rounds(&mut spin), 7);
        }
    }

    #[test]
    fn spin_or_yield_uses_up_the_schedule_never_backing_off_and_returns_past_its_end() {
        let mut spin = SpinWait::exclusive(Primitive::RwLock);
        let back_offs = BACK_OFFS.with(Cell::get);
        for _ in 0..9 + 3 {
            spin.spin_or_yield();
        }
        assert!(!spin.spin(), "the schedule should be used up");
        assert_eq!(BACK_OFFS.with(Cell::get), back_offs, "spin_or_yield backed off");
    }

    #[test]
    fn the_exclusive_schedule_stays_awake_then_backs_off_in_timed_sleeps() {
        let mut spin = SpinWait::exclusive(Primitive::Mutex);
        // The busy-wait rounds and the yields: awake, no back-off next.
        for round in 0..2 + 2 {
            assert!(!spin.backs_off_next(), "round {round}");
            let start = Instant::now();
            assert!(spin.spin());
            // Neither a busy-wait round nor a yield sleeps (generous: a preempted yield may
            // take a while, but not 50 ms).
            assert!(start.elapsed() < Duration::from_millis(50), "round {round}");
        }
        // The back-off rounds: on Linux each sleeps at least its BACK_OFF (a sleep never ends
        // early); elsewhere they are yields.
        for round in 0..5 {
            assert!(spin.backs_off_next(), "back-off {round}");
            let start = Instant::now();
            assert!(spin.spin());
            if cfg!(target_os = "linux") {
                assert!(start.elapsed() >= BACK_OFF, "back-off {round} did not sleep");
            }
        }
        assert!(!spin.backs_off_next());
        assert!(!spin.spin(), "the schedule should be used up");
        // `spin_yielding` runs the same schedule, yielding where `spin` backs off.
        let mut spin = SpinWait::exclusive(Primitive::RwLock);
        let back_offs = BACK_OFFS.with(Cell::get);
        let mut rounds = 0;
        while spin.spin_yielding() {
            rounds += 1;
        }
        assert_eq!(rounds, 2 + 2 + 5);
        assert_eq!(BACK_OFFS.with(Cell::get), back_offs, "spin_yielding backed off");
        // No other schedule backs off.
        for mut other in [
            SpinWait::new(Primitive::RwLock),
            SpinWait::semaphore_newcomer(),
            SpinWait::semaphore_first_waiter(),
            SpinWait::woken_semaphore_head(),
            SpinWait::idle_worker(),
        ] {
            while !other.backs_off_next() && other.spin() {}
            assert!(!other.backs_off_next(), "{other:?}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_back_off_leaves_the_threads_timer_slack_as_it_found_it() {
        // SAFETY: integer arguments only; reads this thread's timer slack.
        let slack = || unsafe { libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0) };
        let before = slack();
        assert!(before > 0, "PR_GET_TIMERSLACK failed");
        let start = Instant::now();
        shim::back_off();
        assert!(start.elapsed() >= BACK_OFF);
        assert_eq!(slack(), before);
        // A thread whose slack is already below ours keeps it, and still sleeps its back-off.
        // SAFETY: integer arguments only; this test's own thread.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 500, 0, 0, 0) };
        shim::back_off();
        assert_eq!(slack(), 500);
        // SAFETY: as above; back to what it was.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, before as libc::c_ulong, 0, 0, 0) };
        assert_eq!(slack(), before);
    }

    #[test]
    fn reset_starts_the_schedule_again() {
        let mut spin = SpinWait::exclusive(Primitive::Mutex);
        assert_eq!(rounds(&mut spin), 9);
        assert!(!spin.spin());
        spin.reset();
        assert_eq!(rounds(&mut spin), 9);
    }
}
