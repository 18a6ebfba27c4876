//! loom models of `RawMutex`: mutual exclusion, the contended (sleeping) path, timed lock,
//! fair hand-off, fair and normal unlocks mixed, and the timed paths with the futex model's
//! clock (timeouts racing hand-offs and wakes). See `docs/loom.md`.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=2 \
//!       cargo test -p atomsync-loom-tests --release --test mutex`
#![cfg(loom)]

use atomsync::{RawMutex, futex_model_stats};
use atomsync_loom_tests::{model, wait_until_asleep};
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A `RawMutex` protecting a loom `UnsafeCell`, so loom reports any access the lock fails to
/// order (two critical sections overlapping is a data race on `value`).
struct Locked {
    mutex: RawMutex,
    value: UnsafeCell<usize>,
}

// SAFETY: `value` is only accessed between a successful acquire of `mutex` and its release
// (see `with_lock`/`critical`), so accesses from different threads never overlap; loom checks
// exactly that.
unsafe impl Sync for Locked {}

impl Locked {
    fn new() -> Arc<Self> {
        Arc::new(Self { mutex: RawMutex::new(), value: UnsafeCell::new(0) })
    }

    /// The critical section: add one. The caller must hold `mutex`.
    fn critical(&self) {
        // SAFETY: the caller holds `mutex`, so no other thread accesses `value` now.
        self.value.with_mut(|value| unsafe { *value += 1 });
    }

    /// The protected value. The caller must hold `mutex`.
    fn read(&self) -> usize {
        // SAFETY: the caller holds `mutex`, so no other thread writes `value` now.
        self.value.with(|value| unsafe { *value })
    }

    /// acquire; add one; release.
    fn increment(&self) {
        self.mutex.lock();
        self.critical();
        // SAFETY: this thread acquired `mutex` just above.
        unsafe { self.mutex.unlock() };
    }

    /// acquire; add one after a yield (a long critical section: the holder is descheduled,
    /// so a contender that has exhausted its spin goes to sleep); release.
    fn increment_slowly(&self) {
        self.mutex.lock();
        thread::yield_now();
        self.critical();
        // SAFETY: this thread acquired `mutex` just above.
        unsafe { self.mutex.unlock() };
    }

    /// The final value, read under the lock (all other threads have been joined).
    fn total(&self) -> usize {
        assert!(self.mutex.try_lock(), "the mutex is still held after every thread finished");
        let total = self.read();
        // SAFETY: `try_lock` just succeeded.
        unsafe { self.mutex.unlock() };
        assert!(!self.mutex.is_locked());
        total
    }
}

/// A deadline that passes, under loom, only when a model's timer thread fires the futex
/// model's clock (`spawn_timer`): in a model without a timer it never does.
fn far_deadline() -> Option<Instant> {
    Some(Instant::now() + Duration::from_secs(3600))
}

/// Two threads increment under the lock (the main thread only joins): no data race, no lost
/// update, the lock ends free. The critical section yields (a long hold), so that in some
/// executions the other thread gives up spinning and sleeps; the test checks that at least one
/// execution did. (Under loom a spinning contender's `yield_now` lets the holder run, so with
/// an empty critical section the holder always releases before the contender could sleep.)
#[test]
fn mutual_exclusion_two_threads() {
    static SLEPT: AtomicBool = AtomicBool::new(false);
    model("mutual_exclusion_two_threads", || {
        let locked = Locked::new();
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let locked = Arc::clone(&locked);
                thread::spawn(move || locked.increment_slowly())
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(locked.total(), 2);
        if futex_model_stats().sleeps > 0 {
            SLEPT.store(true, Ordering::Relaxed);
        }
    });
    assert!(SLEPT.load(Ordering::Relaxed), "no execution reached a futex sleep");
}

/// Two threads lock twice each: a thread woken from its sleep may meet the other thread's
/// second lock (barging) and the WOKEN bit and waiter count must survive the round trip.
#[test]
fn mutual_exclusion_two_threads_twice() {
    model("mutual_exclusion_two_threads_twice", || {
        let locked = Locked::new();
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let locked = Arc::clone(&locked);
                thread::spawn(move || {
                    locked.increment_slowly();
                    locked.increment();
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(locked.total(), 4);
    });
}

/// Three threads (two spawned plus the main thread) increment under the lock: with three
/// contenders a sleeper can be woken while a third thread barges in (checked to happen: some
/// execution sleeps).
#[test]
fn mutual_exclusion_three_threads() {
    static SLEPT: AtomicBool = AtomicBool::new(false);
    model("mutual_exclusion_three_threads", || {
        let locked = Locked::new();
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let locked = Arc::clone(&locked);
                thread::spawn(move || locked.increment())
            })
            .collect();
        locked.increment();
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(locked.total(), 3);
        if futex_model_stats().sleeps > 0 {
            SLEPT.store(true, Ordering::Relaxed);
        }
    });
    assert!(SLEPT.load(Ordering::Relaxed), "no execution reached a futex sleep");
}

/// Forces the contended path in every execution: the main thread holds the lock until the
/// other thread is asleep on the word (registered as a waiter), then releases; the release
/// must wake it. With the wake dropped (`--cfg atomsync_seeded_bug`) loom reports a deadlock.
#[test]
fn contended_path_sleeps_and_is_woken() {
    model("contended_path_sleeps_and_is_woken", || {
        let locked = Locked::new();
        locked.mutex.lock();
        let contender = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || locked.increment())
        };
        wait_until_asleep(1);
        locked.critical();
        // SAFETY: the main thread acquired the lock above.
        unsafe { locked.mutex.unlock() };
        contender.join().unwrap();
        assert_eq!(locked.total(), 2);
        assert!(futex_model_stats().sleeps >= 1);
    });
}

/// A timed lock with a far deadline races a holder whose critical section yields: it must
/// succeed (never report a timeout, whether it got the lock at once, by spinning or after a
/// sleep; some execution sleeps), and the critical sections are exclusive.
#[test]
fn timed_lock_races_holder() {
    static SLEPT: AtomicBool = AtomicBool::new(false);
    model("timed_lock_races_holder", || {
        let locked = Locked::new();
        let timed = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || {
                assert!(locked.mutex.try_lock_until(far_deadline()), "timed lock timed out");
                locked.critical();
                // SAFETY: `try_lock_until` returned true.
                unsafe { locked.mutex.unlock() };
            })
        };
        locked.increment_slowly();
        timed.join().unwrap();
        assert_eq!(locked.total(), 2);
        if futex_model_stats().sleeps > 0 {
            SLEPT.store(true, Ordering::Relaxed);
        }
    });
    assert!(SLEPT.load(Ordering::Relaxed), "no execution reached a futex sleep");
}

/// The timed lock forced to sleep: the main thread holds the lock until the timed locker is
/// asleep; its release must wake it and the timed lock must then succeed.
#[test]
fn timed_lock_sleeps_until_release() {
    model("timed_lock_sleeps_until_release", || {
        let locked = Locked::new();
        locked.mutex.lock();
        let timed = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || {
                assert!(locked.mutex.try_lock_until(far_deadline()), "timed lock timed out");
                locked.critical();
                // SAFETY: `try_lock_until` returned true.
                unsafe { locked.mutex.unlock() };
            })
        };
        wait_until_asleep(1);
        // SAFETY: the main thread acquired the lock above.
        unsafe { locked.mutex.unlock() };
        timed.join().unwrap();
        assert_eq!(locked.total(), 1);
    });
}

/// `unlock_fair` with a sleeping waiter hands the lock to it: the releasing thread, locking
/// again at once, must find the waiter's critical section already done (no barging).
#[test]
fn fair_release_hands_off_to_sleeper() {
    model("fair_release_hands_off_to_sleeper", || {
        let locked = Locked::new();
        locked.mutex.lock();
        let waiter = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || locked.increment())
        };
        wait_until_asleep(1);
        // SAFETY: the main thread acquired the lock above.
        unsafe { locked.mutex.unlock_fair() };
        // Barge: a plain try-lock right after the hand-off may only succeed once the waiter
        // is done, and so must the blocking lock.
        if locked.mutex.try_lock() {
            assert_eq!(locked.read(), 1, "try_acquire barged past the hand-off");
            // SAFETY: `try_lock` returned true.
            unsafe { locked.mutex.unlock() };
        }
        locked.mutex.lock();
        assert_eq!(locked.read(), 1, "acquire barged past the hand-off");
        // SAFETY: acquired just above.
        unsafe { locked.mutex.unlock() };
        waiter.join().unwrap();
        assert_eq!(locked.total(), 1);
    });
}

/// Fair and normal releases mixed among three threads (two release fairly, one normally): the
/// HANDOFF and WOKEN bits and the waiter count must stay consistent whichever release meets
/// which sleeper. The main thread's critical section yields, so that in some executions the
/// others sleep and its fair release really hands off (checked: some execution slept).
#[test]
fn fair_and_normal_release_mixed() {
    static SLEPT: AtomicBool = AtomicBool::new(false);
    model("fair_and_normal_release_mixed", || {
        let locked = Locked::new();
        let fair = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || {
                locked.mutex.lock();
                locked.critical();
                // SAFETY: acquired just above.
                unsafe { locked.mutex.unlock_fair() };
            })
        };
        let normal = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || locked.increment())
        };
        locked.mutex.lock();
        thread::yield_now();
        locked.critical();
        // SAFETY: acquired just above.
        unsafe { locked.mutex.unlock_fair() };
        fair.join().unwrap();
        normal.join().unwrap();
        assert_eq!(locked.total(), 3);
        if futex_model_stats().sleeps > 0 {
            SLEPT.store(true, Ordering::Relaxed);
        }
    });
    assert!(SLEPT.load(Ordering::Relaxed), "no execution reached a futex sleep");
}

// ---------------------------------------------------------------------------------------------
// Timed paths, with the futex model's clock: a "timer" thread fires it once, at any point.
// ---------------------------------------------------------------------------------------------

/// Spawns the timer thread: it fires the futex model's clock once, so every deadline passes at
/// a point loom chooses (before a waiter sleeps, while it sleeps, just after a wake).
fn spawn_timer() -> thread::JoinHandle<()> {
    thread::spawn(atomsync::futex_model_expire_deadlines)
}

/// `try_lock_until` races `unlock_fair` and the clock: the timed locker may take the lock
/// at once, sleep and be handed the lock, or time out before, while or after it sleeps, also
/// just as the hand-off wakes it. Whatever happens, its result is true exactly when it ran its
/// critical section, and the lock is never left owned by nobody: the main thread, locking
/// after the timed locker has returned, must get it (a wedged HANDOFF deadlocks here).
fn timed_lock_races_fair_release(name: &'static str, wake_one_cannot_count: bool) {
    static HANDED_OFF: AtomicBool = AtomicBool::new(false);
    static TIMED_OUT: AtomicBool = AtomicBool::new(false);
    model(name, move || {
        if wake_one_cannot_count {
            atomsync::futex_model_wake_one_cannot_count();
        }
        let locked = Locked::new();
        let done = Arc::new(loom::sync::atomic::AtomicBool::new(false));
        locked.mutex.lock();
        let timed = {
            let (locked, done) = (Arc::clone(&locked), Arc::clone(&done));
            thread::spawn(move || {
                let got = locked.mutex.try_lock_until(far_deadline());
                if got {
                    locked.critical();
                    // SAFETY: `try_lock_until` returned true.
                    unsafe { locked.mutex.unlock() };
                }
                done.store(true, Ordering::SeqCst);
                got
            })
        };
        let timer = spawn_timer();
        // Let the timed locker sleep first if it is going to (it may time out before).
        while futex_model_stats().sleeps == 0 && !done.load(Ordering::SeqCst) {
            thread::yield_now();
        }
        // SAFETY: the main thread acquired the lock above.
        unsafe { locked.mutex.unlock_fair() };
        let got = timed.join().unwrap();
        timer.join().unwrap();
        // The timed locker is gone: the lock must be free (or freed by whoever holds it).
        locked.increment();
        assert_eq!(locked.total(), 1 + usize::from(got));
        if got && futex_model_stats().sleeps > 0 {
            HANDED_OFF.store(true, Ordering::Relaxed);
        }
        if !got {
            TIMED_OUT.store(true, Ordering::Relaxed);
        }
    });
    assert!(HANDED_OFF.load(Ordering::Relaxed), "{name}: no execution slept and got the lock");
    assert!(TIMED_OUT.load(Ordering::Relaxed), "{name}: no execution timed out");
}

#[test]
fn timed_lock_races_fair_release_and_the_clock() {
    timed_lock_races_fair_release("timed_lock_races_fair_release_and_the_clock", false);
}

/// The same where `wake_one` cannot count (the non-Linux fallback: it always reports a wake,
/// and a wait that found the word changed reports `Woken`): a timed locker that timed out
/// while counted and then finds HANDOFF must claim it and pass it on, or nobody ever will and
/// the main thread's lock sleeps forever. **Seeded-bug target**: `--cfg atomsync_seeded_bug`
/// drops that claim, and loom reports the deadlock (issue 10, case 8).
#[test]
fn timed_out_waiter_claims_a_hand_off_where_wake_one_cannot_count() {
    timed_lock_races_fair_release(
        "timed_out_waiter_claims_a_hand_off_where_wake_one_cannot_count",
        true,
    );
}

/// A timed locker and an untimed one both sleep while the main thread holds the lock; main
/// releases, starts the clock and at once tries to lock again (barging). The
/// release may wake the timed locker, which then finds the lock taken and times out: it must
/// not leave with the wake (WOKEN still set, the untimed locker asleep with nobody to wake
/// it). The untimed locker must finish; the counts add up. (The timer starts only after the
/// release, which keeps the model small; timeouts before sleeping and before a wake are in
/// the models above.)
#[test]
fn timed_waiter_woken_then_timed_out_passes_the_wake_on() {
    static SLEPT_THEN_TIMED_OUT: AtomicBool = AtomicBool::new(false);
    model("timed_waiter_woken_then_timed_out_passes_the_wake_on", || {
        let locked = Locked::new();
        locked.mutex.lock();
        let timed = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || {
                let got = locked.mutex.try_lock_until(far_deadline());
                if got {
                    locked.critical();
                    // SAFETY: `try_lock_until` returned true.
                    unsafe { locked.mutex.unlock() };
                }
                got
            })
        };
        let untimed = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || locked.increment())
        };
        wait_until_asleep(2);
        // SAFETY: the main thread acquired the lock above.
        unsafe { locked.mutex.unlock() };
        // The clock fires after the release's wake (on either sleeper) at any later point.
        let timer = spawn_timer();
        // Barge: one try (a full `lock` here makes the model ten times larger).
        let barged = locked.mutex.try_lock();
        if barged {
            locked.critical();
            // SAFETY: `try_lock` returned true.
            unsafe { locked.mutex.unlock() };
        }
        let got = timed.join().unwrap();
        untimed.join().unwrap();
        timer.join().unwrap();
        assert_eq!(locked.total(), 1 + usize::from(got) + usize::from(barged));
        // It slept (forced above) and timed out.
        if !got {
            SLEPT_THEN_TIMED_OUT.store(true, Ordering::Relaxed);
        }
    });
    assert!(
        SLEPT_THEN_TIMED_OUT.load(Ordering::Relaxed),
        "no execution had the timed locker time out"
    );
}
