//! loom models of `Semaphore`: two acquirers sleeping (as the head and behind it) and woken
//! by a release, free races of acquirers and a release, `acquire_many` against `acquire(1)`
//! racing a release, barging past a head and its reservation (under loom a head counts as
//! old once it has slept: `src/semaphore/raw.rs`, Fairness), a queue wake in flight, `close`
//! racing sleeping acquirers, and the timed paths. See `docs/loom.md`.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=2 \
//!       cargo test -p atomsync-loom-tests --release --test semaphore`
#![cfg(loom)]

use atomsync::{AcquireError, Semaphore, futex_model_expire_deadlines, futex_model_stats};
use atomsync_loom_tests::wait_until_sleeps;
use atomsync_loom_tests::{model, wait_until_asleep};
use loom::sync::Arc;
use loom::sync::atomic::AtomicUsize;
use loom::thread;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// `f` on a new loom thread, with its own clone of `shared` (an `Arc`).
fn spawn_with<C, T>(shared: &C, f: impl FnOnce(C) -> T + Send + 'static) -> thread::JoinHandle<T>
where
    C: Clone + Send + 'static,
    T: Send + 'static,
{
    let shared = shared.clone();
    thread::spawn(move || f(shared))
}

/// As `spawn_with`, then yields until `asleep` threads sleep in the futex model: the new
/// thread is asleep on purpose before the model goes on.
fn spawn_asleep<C, T>(
    shared: &C,
    asleep: usize,
    f: impl FnOnce(C) -> T + Send + 'static,
) -> thread::JoinHandle<T>
where
    C: Clone + Send + 'static,
    T: Send + 'static,
{
    let thread = spawn_with(shared, f);
    wait_until_asleep(asleep);
    thread
}

/// Permits in use, checked against the semaphore's size: loom atomics, so the check is part of
/// every explored interleaving.
struct Usage {
    semaphore: Semaphore,
    in_use: AtomicUsize,
    /// Acquirers that got their permits so far.
    turns: AtomicUsize,
    size: usize,
}

impl Usage {
    fn new(size: usize) -> Arc<Self> {
        Arc::new(Self {
            semaphore: Semaphore::new(size),
            in_use: AtomicUsize::new(0),
            turns: AtomicUsize::new(0),
            size,
        })
    }

    /// acquire_many(n); check that at most `size` permits are in use; release.
    fn use_permits(&self, n: u32) {
        self.use_permits_in_turn(n);
    }

    /// As `use_permits`; returns how many acquirers got their permits before this one.
    fn use_permits_in_turn(&self, n: u32) -> usize {
        let permit = self.semaphore.acquire_many(n).unwrap();
        let turn = self.turns.fetch_add(1, Ordering::SeqCst);
        let now = self.in_use.fetch_add(n as usize, Ordering::SeqCst) + n as usize;
        assert!(now <= self.size, "{now} permits in use of {}", self.size);
        self.in_use.fetch_sub(n as usize, Ordering::SeqCst);
        drop(permit);
        turn
    }
}

/// The main thread holds the only permit; two acquirers go to sleep (one as the head on the
/// state word, one queued behind it) before the main thread releases. The release must wake
/// the head, and the head, once served, the queued one. This is the model the seeded bug (a
/// release that skips the wake) must fail with a deadlock.
#[test]
fn two_acquirers_sleep_and_a_release_wakes_them() {
    model("two_acquirers_sleep_and_a_release_wakes_them", || {
        let usage = Usage::new(1);
        let held = usage.semaphore.try_acquire().unwrap();
        let acquirers: Vec<_> =
            (0..2).map(|_| spawn_with(&usage, |usage| usage.use_permits(1))).collect();
        wait_until_asleep(2);
        drop(held);
        for acquirer in acquirers {
            acquirer.join().unwrap();
        }
        assert_eq!(usage.semaphore.available_permits(), 1);
        assert!(futex_model_stats().sleeps >= 2);
    });
}

/// Two acquirers race the main thread's release of the only permit, unforced: every
/// interleaving of the fast path, the spin, becoming the head and queueing; some executions
/// must reach a futex sleep.
#[test]
fn two_acquirers_race_a_release() {
    static SLEPT: AtomicBool = AtomicBool::new(false);
    model("two_acquirers_race_a_release", || {
        let usage = Usage::new(1);
        let held = usage.semaphore.try_acquire().unwrap();
        let acquirers: Vec<_> =
            (0..2).map(|_| spawn_with(&usage, |usage| usage.use_permits(1))).collect();
        drop(held);
        for acquirer in acquirers {
            acquirer.join().unwrap();
        }
        assert_eq!(usage.semaphore.available_permits(), 1);
        if futex_model_stats().sleeps > 0 {
            SLEPT.store(true, Ordering::Relaxed);
        }
    });
    assert!(SLEPT.load(Ordering::Relaxed), "no execution reached a futex sleep");
}

/// `acquire_many(2)` and `acquire(1)` on a semaphore of 2 whose permits the main thread holds
/// and releases, racing both: never more than 2 permits in use, both acquirers finish, all
/// permits come back.
#[test]
fn acquire_many_and_acquire_one_race_a_release() {
    model("acquire_many_and_acquire_one_race_a_release", || {
        let usage = Usage::new(2);
        let held = usage.semaphore.try_acquire_many(2).unwrap();
        let many = spawn_with(&usage, |usage| usage.use_permits(2));
        let one = spawn_with(&usage, |usage| usage.use_permits(1));
        drop(held);
        many.join().unwrap();
        one.join().unwrap();
        assert_eq!(usage.semaphore.available_permits(), 2);
    });
}

/// `acquire_many(2)` sleeps as the head while `acquire(1)` sleeps behind it, on 2 permits
/// that main holds. Main releases one: it does not cover the head (no wake), and the head has
/// not reserved yet, so a running thread takes it past the head (`try_acquire` succeeds:
/// barging). Then main fires the clock, which stands for the head's 0.5 ms: its sleep ends,
/// it reserves and sleeps again. Now a released permit stays reserved (`try_acquire` fails);
/// the second release covers the head and wakes it, and the head passes on to the queued one.
#[test]
fn head_is_barged_past_then_reserves_and_holds_across_two_releases() {
    model("head_is_barged_past_then_reserves_and_holds_across_two_releases", || {
        let usage = Usage::new(2);
        let mut held = usage.semaphore.try_acquire_many(2).unwrap();
        let many = spawn_asleep(&usage, 1, |usage| usage.use_permits(2));
        let one = spawn_asleep(&usage, 2, |usage| usage.use_permits(1));
        drop(held.split(1).unwrap());
        let barged = usage.semaphore.try_acquire().expect("an unreserved head is barged past");
        held.merge(barged);
        futex_model_expire_deadlines();
        // The head's second sleep (the queued one never woke).
        wait_until_sleeps(3, 2);
        drop(held.split(1).unwrap());
        // The free permit is reserved for the head: nobody may take it.
        assert!(usage.semaphore.try_acquire().is_err());
        drop(held);
        many.join().unwrap();
        one.join().unwrap();
        assert_eq!(usage.semaphore.available_permits(), 2);
    });
}

/// A running thread takes the permit past a head that a release has just woken: main holds
/// the only permit, `acquire` sleeps as the head, a second `acquire` (the barger) starts and
/// main releases, racing it. The release wakes the head; the barger may take the permit
/// first (fast path or spin), and then the head's wake was futile: it must arm again, and the
/// barger's release must wake it (a release that found the wake already claimed wakes
/// nobody). Or the barger queues behind the head. Both finish; the barger first occurs.
#[test]
fn a_barger_takes_the_permit_past_a_woken_head() {
    static BARGED: Seen = Seen::new();
    model("a_barger_takes_the_permit_past_a_woken_head", || {
        let usage = Usage::new(1);
        let held = usage.semaphore.try_acquire().unwrap();
        let head = spawn_asleep(&usage, 1, |usage| usage.use_permits_in_turn(1));
        let barger = spawn_with(&usage, |usage| usage.use_permits_in_turn(1));
        drop(held);
        let head_turn = head.join().unwrap();
        if barger.join().unwrap() < head_turn {
            BARGED.mark();
        }
        assert_eq!(usage.semaphore.available_permits(), 1);
    });
    BARGED.assert("let the barger take the permit before the woken head");
}

/// A queue wake in flight (WAKING) silences the releases that come before its waiter runs:
/// that waiter must pass on the permits beyond its need. On 3 permits that main holds, an
/// untimed head and two queued waiters sleep, each keeping its permit to the end. Main
/// releases one (it wakes the head, which takes it and wakes one queued waiter, setting
/// WAKING) and then two more, racing that waiter: if the release finds WAKING set it wakes
/// nobody, and the woken waiter, clearing WAKING, sees 2 free for its 1 and wakes the other.
/// Without that pass-on the other sleeps forever beside a free permit (loom deadlock). Since
/// the head's place is passed on (session 7), the served head keeps HEAD set and the releases
/// serve the new head instead; the pass-on is checked by
/// `a_release_silenced_after_a_timed_out_head_is_passed_on`.
#[test]
fn a_release_silenced_by_a_queue_wake_in_flight_is_passed_on() {
    model("a_release_silenced_by_a_queue_wake_in_flight_is_passed_on", || {
        let semaphore = std::sync::Arc::new(Semaphore::new(3));
        let mut held = semaphore.try_acquire_many(3).unwrap();
        let acquirers: Vec<_> = (1..=3)
            .map(|asleep| {
                spawn_asleep(&semaphore, asleep, |semaphore| semaphore.acquire_owned().unwrap())
            })
            .collect();
        drop(held.split(1).unwrap());
        drop(held);
        let permits: Vec<_> = acquirers.into_iter().map(|a| a.join().unwrap()).collect();
        assert_eq!(semaphore.available_permits(), 0);
        drop(permits);
        assert_eq!(semaphore.available_permits(), 3);
    });
}

/// A second round after a head was served with nobody behind it: that head leaves a stale
/// `head_need` and must leave no queue wake marked in flight (WAKING is set only while
/// somebody is queued). On 1 permit that main holds, a head sleeps, is served and keeps its
/// permit; then a second head and a queued waiter sleep behind it, and main returns the
/// permit: the second head is woken, served, and must wake the queued one.
#[test]
fn a_second_head_and_queue_after_a_head_served_alone() {
    model("a_second_head_and_queue_after_a_head_served_alone", || {
        let semaphore = std::sync::Arc::new(Semaphore::new(1));
        let held = semaphore.try_acquire().unwrap();
        let acquire = |asleep| {
            spawn_asleep(&semaphore, asleep, |semaphore| semaphore.acquire_owned().unwrap())
        };
        let first = acquire(1);
        drop(held);
        let held = first.join().unwrap();
        let second = acquire(1);
        let queued = acquire(2);
        drop(held);
        drop(second.join().unwrap());
        drop(queued.join().unwrap());
        assert_eq!(semaphore.available_permits(), 1);
    });
}

/// Two acquirers on an empty semaphore race `close`: both return `Closed`, whether they slept
/// (as head or queued) or saw the close first.
#[test]
fn close_races_sleeping_acquirers() {
    model("close_races_sleeping_acquirers", || {
        let semaphore = Arc::new(Semaphore::new(0));
        let acquirers: Vec<_> = (0..2)
            .map(|_| spawn_with(&semaphore, |semaphore| semaphore.acquire().map(drop)))
            .collect();
        semaphore.close();
        for acquirer in acquirers {
            assert_eq!(acquirer.join().unwrap(), Err(AcquireError::Closed));
        }
    });
}

/// An acquirer asleep for sure when `close` comes: `close` must wake it.
#[test]
fn close_wakes_a_sleeping_acquirer() {
    model("close_wakes_a_sleeping_acquirer", || {
        let semaphore = Arc::new(Semaphore::new(0));
        let acquirer = spawn_asleep(&semaphore, 1, |semaphore| semaphore.acquire_many(2).map(drop));
        semaphore.close();
        assert_eq!(acquirer.join().unwrap(), Err(AcquireError::Closed));
        // Permits added after close are accepted.
        semaphore.add_permits(1);
        assert_eq!(semaphore.available_permits(), 1);
    });
}

// ---- Timeouts (issue 10): a timer thread fires the futex model's clock ----
//
// `futex_model_expire_deadlines()` makes every deadline pass at once: a timed sleeper wakes
// with `TimedOut` (a wake that came first wins) and every later deadline check says "passed".
// Spawned as its own thread, loom tries it at every point of the other threads' runs: before a
// waiter sleeps, while it sleeps, and just after a wake was spent on it. The deadlines below
// are an hour away: only the clock can make them pass.

/// A deadline only the model's clock can pass.
const LATER: Duration = Duration::from_secs(3600);

/// Records that some execution of a model took a path (checked after the model: a model that
/// never reaches the timeout checks nothing about it).
struct Seen(AtomicBool);

impl Seen {
    const fn new() -> Self {
        Self(AtomicBool::new(false))
    }

    fn mark(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn assert(&self, what: &str) {
        assert!(self.0.load(Ordering::Relaxed), "no execution {what}");
    }
}

impl Usage {
    /// As `use_permits`, through `acquire_many_for(n, LATER)`: `Ok` if it got the permits,
    /// else the error (only `TimedOut` is possible in these models).
    fn use_permits_for(&self, n: u32) -> Result<(), AcquireError> {
        let permit = self.semaphore.acquire_many_for(n, LATER)?;
        let now = self.in_use.fetch_add(n as usize, Ordering::SeqCst) + n as usize;
        assert!(now <= self.size, "{now} permits in use of {}", self.size);
        self.in_use.fetch_sub(n as usize, Ordering::SeqCst);
        drop(permit);
        Ok(())
    }
}

/// A timed head that times out must pass its place on. On 2 permits that main holds, a timed
/// `acquire_many_for(2)` sleeps as the head and `acquire(1)` sleeps queued behind it (queued
/// waiters sleep while there is a head, reserved or not). Main releases one permit: it does
/// not cover the head, and a release with a head waiting wakes nobody on the queue. Then main
/// fires the clock: the head times out, clears HEAD and must wake the queue, or the queued
/// waiter sleeps forever beside the free permit. **Seeded-bug target** (the timed-out head
/// clears HEAD without waking the queue: a deadlock in every execution; the release's seeded
/// bug plays no part, that release wakes nobody anyway).
#[test]
fn timed_out_head_passes_on_its_place() {
    model("timed_out_head_passes_on_its_place", || {
        let usage = Usage::new(2);
        let mut held = usage.semaphore.try_acquire_many(2).unwrap();
        let head = spawn_asleep(&usage, 1, |usage| usage.use_permits_for(2));
        let queued = spawn_asleep(&usage, 2, |usage| usage.use_permits(1));
        drop(held.split(1).unwrap());
        futex_model_expire_deadlines();
        assert_eq!(head.join().unwrap(), Err(AcquireError::TimedOut));
        queued.join().unwrap();
        drop(held);
        assert_eq!(usage.semaphore.available_permits(), 2);
    });
}

/// A timed head that has reserved and then times out must give the reservation back and wake
/// the queue. On 2 permits that main holds, a timed `acquire_many_for(2)` sleeps as the head.
/// Main releases both (covering the head: its wake is claimed) and takes them back at once,
/// racing the woken head. If the head was quicker it is served. Else its wake was futile: it
/// reserves (under loom, once it has slept) and sleeps again; main releases one permit, which
/// stays reserved; `acquire(1)` sleeps queued; the clock fires: the head times out, clears
/// HEAD and RESERVED and wakes the queued one. Both paths occur.
#[test]
fn timed_head_reserves_after_a_futile_wake_then_times_out() {
    static RESERVED: Seen = Seen::new();
    static SERVED: Seen = Seen::new();
    model("timed_head_reserves_after_a_futile_wake_then_times_out", || {
        let semaphore = std::sync::Arc::new(Semaphore::new(2));
        let held = semaphore.try_acquire_many(2).unwrap();
        let head =
            spawn_asleep(&semaphore, 1, |semaphore| semaphore.acquire_many_owned_for(2, LATER));
        drop(held);
        let Ok(mut back) = semaphore.try_acquire_many(2) else {
            let permit = head.join().unwrap().expect("the head took the permits first");
            assert_eq!(permit.num_permits(), 2);
            SERVED.mark();
            return;
        };
        // The head's wake was futile: its second sleep is reserved.
        wait_until_sleeps(2, 1);
        drop(back.split(1).unwrap());
        assert!(semaphore.try_acquire().is_err(), "the free permit is reserved");
        let queued = spawn_asleep(&semaphore, 2, |semaphore| semaphore.acquire().map(drop));
        futex_model_expire_deadlines();
        assert_eq!(head.join().unwrap().map(drop), Err(AcquireError::TimedOut));
        assert_eq!(queued.join().unwrap(), Ok(()));
        drop(back);
        assert_eq!(semaphore.available_permits(), 2);
        RESERVED.mark();
    });
    SERVED.assert("served the head before main took the permits back");
    RESERVED.assert("timed out a reserved head");
}

/// `acquire_for` as the head racing a release and the clock. Main holds the only
/// permit; a timed `acquire_for` sleeps as the head, an untimed `acquire` queued behind it.
/// Then a timer thread fires the clock while main releases: the head is served, or times out
/// before the release, or after the release's wake was spent on it. Whatever happens, the
/// queued waiter must get the permit (a timed-out head that consumed the wake passes it on),
/// and the permit comes back. Both outcomes of the head must occur in some execution.
#[test]
fn timed_head_races_a_release_and_the_clock() {
    static SERVED: Seen = Seen::new();
    static TIMED_OUT: Seen = Seen::new();
    model("timed_head_races_a_release_and_the_clock", || {
        let usage = Usage::new(1);
        let held = usage.semaphore.try_acquire().unwrap();
        let head = spawn_asleep(&usage, 1, |usage| usage.use_permits_for(1));
        let queued = spawn_asleep(&usage, 2, |usage| usage.use_permits(1));
        let timer = thread::spawn(futex_model_expire_deadlines);
        drop(held);
        match head.join().unwrap() {
            Ok(()) => SERVED.mark(),
            Err(error) => {
                assert_eq!(error, AcquireError::TimedOut);
                TIMED_OUT.mark();
            }
        }
        queued.join().unwrap();
        timer.join().unwrap();
        assert_eq!(usage.semaphore.available_permits(), 1);
    });
    SERVED.assert("served the timed head");
    TIMED_OUT.assert("timed the head out");
}

/// The same threads racing freely from the start (no forced sleeps): the timed acquirer and
/// the untimed one each may take the fast path, spin, become the head or queue; the clock may
/// fire at any point, also before anybody sleeps. The untimed one always finishes and the
/// permit comes back.
#[test]
fn timed_and_untimed_acquirers_race_a_release_and_the_clock() {
    static TIMED_OUT: Seen = Seen::new();
    model("timed_and_untimed_acquirers_race_a_release_and_the_clock", || {
        let usage = Usage::new(1);
        let held = usage.semaphore.try_acquire().unwrap();
        let timed = spawn_with(&usage, |usage| usage.use_permits_for(1));
        let untimed = spawn_with(&usage, |usage| usage.use_permits(1));
        let timer = thread::spawn(futex_model_expire_deadlines);
        drop(held);
        if timed.join().unwrap().is_err() {
            TIMED_OUT.mark();
        }
        untimed.join().unwrap();
        timer.join().unwrap();
        assert_eq!(usage.semaphore.available_permits(), 1);
    });
    TIMED_OUT.assert("timed the acquirer out");
}

/// A timed waiter queued on the generation word races a release and the clock. Main holds
/// the only permit; an untimed `acquire` sleeps as the head; a timed `acquire_for` sleeps
/// queued behind it, then an untimed `acquire` queued behind that. Main releases and then
/// fires the clock (main is the timer: a fifth thread makes the model 400 000 executions):
/// the clock lands at every point of the others' runs after the release. The head is served
/// and wakes one queued waiter (the timed one, first in the futex queue) to become the next
/// head; if that one times out after the wake was spent on it, it must pass it on. Every
/// untimed waiter finishes; the permit comes back.
#[test]
fn timed_queued_waiter_races_a_release_and_the_clock() {
    static TIMED_OUT: Seen = Seen::new();
    model("timed_queued_waiter_races_a_release_and_the_clock", || {
        let usage = Usage::new(1);
        let held = usage.semaphore.try_acquire().unwrap();
        let head = spawn_asleep(&usage, 1, |usage| usage.use_permits(1));
        let timed = spawn_asleep(&usage, 2, |usage| usage.use_permits_for(1));
        let untimed = spawn_asleep(&usage, 3, |usage| usage.use_permits(1));
        drop(held);
        futex_model_expire_deadlines();
        head.join().unwrap();
        if timed.join().unwrap().is_err() {
            TIMED_OUT.mark();
        }
        untimed.join().unwrap();
        assert_eq!(usage.semaphore.available_permits(), 1);
    });
    TIMED_OUT.assert("timed the queued waiter out");
}

/// A timed queued waiter woken with permits it cannot use must pass the wake on. Main holds
/// both permits of 2; an untimed `acquire` sleeps as the head (and keeps its permit to the
/// end); a timed `acquire_many_for(2)` sleeps queued behind it (served only if the clock
/// ends its sleep before the head takes its permit: it then barges past the unreserved head),
/// then an untimed `acquire` queued behind that. Main releases both permits and fires
/// the clock. The head takes one and wakes one queued waiter for the one left: the timed one,
/// first in the futex queue. If the clock has fired, it finds 1 permit for its 2 and times out
/// — and must wake the other queued waiter, or that one sleeps forever beside a free permit
/// (nobody else releases). The pass-on in `pass_on_queue_wake` is what this model checks.
#[test]
fn timed_queued_waiter_passes_on_a_wake_it_cannot_use() {
    static PASSED_ON: Seen = Seen::new();
    model("timed_queued_waiter_passes_on_a_wake_it_cannot_use", || {
        let semaphore = std::sync::Arc::new(Semaphore::new(2));
        let held = semaphore.try_acquire_many(2).unwrap();
        let head = spawn_asleep(&semaphore, 1, |semaphore| semaphore.acquire_owned().unwrap());
        let timed =
            spawn_with(&semaphore, |semaphore| semaphore.acquire_many_for(2, LATER).map(drop));
        wait_until_asleep(2);
        let untimed = spawn_asleep(&semaphore, 3, |semaphore| semaphore.acquire().map(drop));
        drop(held);
        futex_model_expire_deadlines();
        let head_permit = head.join().unwrap();
        // Ok: its sleep ended at the clock before the head took its permit, and it took both
        // (barging past the unreserved head) before checking its deadline.
        let timed = timed.join().unwrap();
        assert!(matches!(timed, Ok(()) | Err(AcquireError::TimedOut)), "{timed:?}");
        assert_eq!(untimed.join().unwrap(), Ok(()));
        if timed.is_err() && futex_model_stats().sleeps == 3 {
            // Nobody slept again: the timed waiter timed out on its first wake (the path
            // where only its pass-on can wake the untimed one).
            PASSED_ON.mark();
        }
        drop(head_permit);
        assert_eq!(semaphore.available_permits(), 2);
    });
    PASSED_ON.assert("timed the queued waiter out right after its wake");
}

// ---- The head's place passed on (issue 13, session 7) ----
//
// A served head with waiters queued behind it keeps HEAD set and passes its place to the
// queued waiter that clears the queue wake's WAKING (`pass_head` in `src/semaphore/raw.rs`).
// These models check that the place always reaches somebody (or HEAD is cleared): a HEAD left
// set for nobody would send every later waiter to the queue, where no release wakes it.

/// On a 1-permit semaphore that nobody holds any more, one more waiter must still get
/// through: main takes the permit, an acquirer sleeps for sure (as the head if HEAD is clear,
/// queued if HEAD was left set for nobody), and main's release must wake it.
fn a_late_acquirer_still_gets_through(semaphore: &std::sync::Arc<Semaphore>) {
    let held = semaphore.try_acquire().expect("the permit is back and nobody waits");
    let late = spawn_asleep(semaphore, 1, |semaphore| semaphore.acquire().map(drop));
    drop(held);
    assert_eq!(late.join().unwrap(), Ok(()));
}

/// The head is served while a waiter is queued behind it and a third thread barges in. Main
/// holds the only permit; an acquirer sleeps as the head, a second one queued; a third starts
/// unforced (fast path, spin, queueing) and main releases, racing it. The served head passes
/// its place to the queued waiter (HEAD stays set), so the third thread, if it finds no
/// permit, queues behind instead of becoming the head. Everybody finishes and at most one
/// holds the permit at a time (830 000 executions, about 80 s at bound 2).
#[test]
fn a_served_head_passes_its_place_while_a_third_thread_barges() {
    model("a_served_head_passes_its_place_while_a_third_thread_barges", || {
        let usage = Usage::new(1);
        let held = usage.semaphore.try_acquire().unwrap();
        let head = spawn_asleep(&usage, 1, |usage| usage.use_permits(1));
        let queued = spawn_asleep(&usage, 2, |usage| usage.use_permits(1));
        let barger = spawn_with(&usage, |usage| usage.use_permits(1));
        drop(held);
        head.join().unwrap();
        queued.join().unwrap();
        barger.join().unwrap();
        assert_eq!(usage.semaphore.available_permits(), 1);
    });
}

/// A served head reads the queue count, and the only queued waiter times out before the head
/// passes its place: `pass_head` then finds nobody counted and must clear HEAD itself. Main
/// holds the only permit; an untimed acquirer sleeps as the head and keeps its permit; a timed
/// one sleeps queued; a timer thread fires the clock while main releases. The queued waiter
/// is served (after the head's release), or times out at any point, also after the head's
/// place was passed on to it. Then a late acquirer must still get through: no HEAD is left
/// set for nobody. Both outcomes of the timed waiter occur.
#[test]
fn a_queued_waiter_times_out_while_the_head_passes_its_place() {
    static SERVED: Seen = Seen::new();
    static TIMED_OUT: Seen = Seen::new();
    model("a_queued_waiter_times_out_while_the_head_passes_its_place", || {
        let semaphore = std::sync::Arc::new(Semaphore::new(1));
        let held = semaphore.try_acquire().unwrap();
        let head = spawn_asleep(&semaphore, 1, |semaphore| semaphore.acquire_owned().unwrap());
        let timed = spawn_asleep(&semaphore, 2, |semaphore| semaphore.acquire_for(LATER).map(drop));
        let timer = thread::spawn(futex_model_expire_deadlines);
        drop(held);
        drop(head.join().unwrap());
        match timed.join().unwrap() {
            Ok(()) => SERVED.mark(),
            Err(error) => {
                assert_eq!(error, AcquireError::TimedOut);
                TIMED_OUT.mark();
            }
        }
        timer.join().unwrap();
        assert_eq!(semaphore.available_permits(), 1);
        a_late_acquirer_still_gets_through(&semaphore);
    });
    SERVED.assert("served the queued waiter");
    TIMED_OUT.assert("timed the queued waiter out");
}

/// Two heads in a row pass their places down a queue of two: main holds the only permit, a
/// head and two queued waiters sleep; main releases. Each served head releases at once, and
/// its place goes to the next queued waiter, which is then served by that release. All three
/// finish in turn, and afterwards no head is left behind.
#[test]
fn the_head_place_is_passed_down_a_queue_of_two() {
    model("the_head_place_is_passed_down_a_queue_of_two", || {
        let usage = Usage::new(1);
        let held = usage.semaphore.try_acquire().unwrap();
        let acquirers: Vec<_> = (1..=3)
            .map(|asleep| spawn_asleep(&usage, asleep, |usage| usage.use_permits(1)))
            .collect();
        drop(held);
        for acquirer in acquirers {
            acquirer.join().unwrap();
        }
        assert_eq!(usage.semaphore.available_permits(), 1);
        assert!(futex_model_stats().sleeps >= 3);
    });
}

/// A release silenced by a queue wake in flight while no head waits must still be passed on
/// (the exit pass-on of the waiter that clears WAKING). Since the head's place is passed on,
/// a served head no longer clears HEAD with waiters queued, so this needs a head that times
/// out: on 2 permits that main holds, a timed head and two untimed waiters queued behind it
/// sleep, the queued ones keeping their permits to the end. Main fires the clock and then
/// releases both permits, racing the head's resignation: if the head resigned first (HEAD
/// clear, one queued waiter woken with WAKING set), the release finds WAKING set and wakes
/// nobody, and the woken waiter, clearing WAKING, must wake the other for the permit beyond
/// its own; without that pass-on the other sleeps forever beside a free permit (loom
/// deadlock).
#[test]
fn a_release_silenced_after_a_timed_out_head_is_passed_on() {
    static TIMED_OUT: Seen = Seen::new();
    model("a_release_silenced_after_a_timed_out_head_is_passed_on", || {
        let semaphore = std::sync::Arc::new(Semaphore::new(2));
        let held = semaphore.try_acquire_many(2).unwrap();
        // Served (if the release came first), the head returns its permit at once.
        let head = spawn_asleep(&semaphore, 1, |semaphore| semaphore.acquire_for(LATER).map(drop));
        let queued: Vec<_> = (2..=3)
            .map(|asleep| {
                spawn_asleep(&semaphore, asleep, |semaphore| semaphore.acquire_owned().unwrap())
            })
            .collect();
        futex_model_expire_deadlines();
        drop(held);
        let head = head.join().unwrap();
        let permits: Vec<_> = queued.into_iter().map(|q| q.join().unwrap()).collect();
        if head.is_err() {
            TIMED_OUT.mark();
        }
        drop(permits);
        assert_eq!(semaphore.available_permits(), 2);
    });
    TIMED_OUT.assert("timed the head out");
}
