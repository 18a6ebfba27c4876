//! loom models of `Semaphore`: two acquirers sleeping (as the head and behind it) and woken
//! by a release, free races of acquirers and a release, `acquire_many` against `acquire(1)`
//! racing a release, and `close` racing sleeping acquirers. See `docs/loom.md`.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=2 \
//!       cargo test -p atomsync-loom-tests --release --test semaphore`
#![cfg(loom)]

use atomsync::{AcquireError, Semaphore, futex_model_expire_deadlines, futex_model_stats};
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
    size: usize,
}

impl Usage {
    fn new(size: usize) -> Arc<Self> {
        Arc::new(Self { semaphore: Semaphore::new(size), in_use: AtomicUsize::new(0), size })
    }

    /// acquire_many(n); check that at most `size` permits are in use; release.
    fn use_permits(&self, n: u32) {
        let permit = self.semaphore.acquire_many(n).unwrap();
        let now = self.in_use.fetch_add(n as usize, Ordering::SeqCst) + n as usize;
        assert!(now <= self.size, "{now} permits in use of {}", self.size);
        self.in_use.fetch_sub(n as usize, Ordering::SeqCst);
        drop(permit);
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

/// `acquire_many(2)` sleeps as the head while `acquire(1)` sleeps behind it; the main thread
/// releases its 2 permits one at a time: the first release must not wake anybody who could
/// take it (the head reserved it), the second wakes the head, which then passes on to the
/// queued one.
#[test]
fn head_reservation_holds_across_two_releases() {
    model("head_reservation_holds_across_two_releases", || {
        let usage = Usage::new(2);
        let mut held = usage.semaphore.try_acquire_many(2).unwrap();
        let many = spawn_asleep(&usage, 1, |usage| usage.use_permits(2));
        let one = spawn_asleep(&usage, 2, |usage| usage.use_permits(1));
        drop(held.split(1).unwrap());
        // The free permit is reserved for the head: nobody may take it.
        assert!(usage.semaphore.try_acquire().is_err());
        drop(held);
        many.join().unwrap();
        one.join().unwrap();
        assert_eq!(usage.semaphore.available_permits(), 2);
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

/// A timed head that times out must pass its reservation on. On 1 permit, a head asks for 2
/// (`acquire_many_for(2)`: never served) and sleeps, reserving the free permit; `acquire(1)`
/// sleeps queued behind it. Then main fires the clock. The head times out, clears HEAD and
/// must wake the queue: the queued waiter takes the free permit. No release happens, so only
/// the timeout path can wake it. **Seeded-bug target** (the timed-out head frees the
/// reservation without waking the queue: a deadlock in every execution).
#[test]
fn timed_out_head_passes_on_its_reservation() {
    model("timed_out_head_passes_on_its_reservation", || {
        let usage = Usage::new(1);
        let head = spawn_asleep(&usage, 1, |usage| usage.use_permits_for(2));
        // The free permit is reserved for the head.
        assert!(usage.semaphore.try_acquire().is_err());
        let queued = spawn_asleep(&usage, 2, |usage| usage.use_permits(1));
        futex_model_expire_deadlines();
        assert_eq!(head.join().unwrap(), Err(AcquireError::TimedOut));
        queued.join().unwrap();
        assert_eq!(usage.semaphore.available_permits(), 1);
    });
}

/// `acquire_for` as the reserved head racing a release and the clock. Main holds the only
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
/// end); a timed `acquire_many_for(2)` sleeps queued behind it (never served: the head keeps
/// one), then an untimed `acquire` queued behind that. Main releases both permits and fires
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
            spawn_asleep(&semaphore, 2, |semaphore| semaphore.acquire_many_for(2, LATER).map(drop));
        let untimed = spawn_asleep(&semaphore, 3, |semaphore| semaphore.acquire().map(drop));
        drop(held);
        futex_model_expire_deadlines();
        let head_permit = head.join().unwrap();
        assert_eq!(timed.join().unwrap(), Err(AcquireError::TimedOut));
        assert_eq!(untimed.join().unwrap(), Ok(()));
        if futex_model_stats().sleeps == 3 {
            // Nobody slept again: the timed waiter timed out on its first wake (the path
            // where only its pass-on can wake the untimed one).
            PASSED_ON.mark();
        }
        drop(head_permit);
        assert_eq!(semaphore.available_permits(), 2);
    });
    PASSED_ON.assert("timed the queued waiter out right after its wake");
}
