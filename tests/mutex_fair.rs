//! [`atomsync::Mutex`]'s hand-offs, as a user of parking_lot's `unlock_fair` and `bump`
//! relies on them: a fair unlock, `bump` and `unlocked_fair` give the lock to a thread asleep
//! in `lock()`, a sleeper past the starvation limit is handed the lock by a plain unlock, and
//! a waiter makes progress against threads re-locking in a loop.
//!
//! No test waits for another thread by sleeping and hoping: threads meet through barriers,
//! channels or the mutex itself. Sleeps appear only (a) to give the lower bound of a timeout
//! something to measure, or (b) to give another thread the chance to go to sleep in `lock()`
//! where the assertion does not depend on how long the sleep was. Every test that could block
//! forever on a bug runs under [`within`], which turns a deadlock into a failure.

mod common;

use atomsync::{Mutex, MutexGuard, RawMutex};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    spawn_sleeping_locker, spawn_watched, wait_until_asleep_on_mutex, wait_until_asleep_on_value,
    within,
};

// ---------------------------------------------------------------------------------------------
// Fair unlock, bump, unlocked
// ---------------------------------------------------------------------------------------------
//
// These tests need a thread that is really asleep in `lock()` when the owner releases: a fair
// hand-off can only go to a sleeper (one still on its way would find the lock free or held and
// could lose to the releaser re-locking). `spawn_sleeping_locker` returns only once the kernel
// shows the thread asleep in the futex wait on the mutex word; without /proc it waits
// common::LET_IT_SLEEP (50 ms), which is then the one timing assumption.

#[test]
fn unlock_fair_hands_the_lock_to_the_sleeping_waiter() {
    within(|| {
        for _round in 0..3 {
            let mutex = Arc::new(Mutex::new(Vec::new()));
            let guard = mutex.lock();
            let waiter = spawn_sleeping_locker(&mutex, "waiter");
            MutexGuard::unlock_fair(guard);
            // We re-lock at once; a plain unlock would let us barge in ahead of the woken
            // waiter. The fair one made the waiter the owner before we got here.
            mutex.lock().push("owner again");
            waiter.join().unwrap();
            assert_eq!(*mutex.lock(), ["waiter", "owner again"]);
        }
    });
}

#[test]
fn unlock_fair_hands_off_to_each_of_several_sleepers_in_turn() {
    within(|| {
        let mutex = Arc::new(Mutex::new(Vec::new()));
        let mut guard = mutex.lock();
        let waiters: Vec<_> = ["first", "second", "third"]
            .into_iter()
            .map(|label| spawn_sleeping_locker(&mutex, label))
            .collect();
        guard.push("owner");
        MutexGuard::unlock_fair(guard);
        // We line up again; each waiter releases normally, so we may barge after the first
        // hand-off. All we require: a sleeper got it first, and everybody got it once.
        mutex.lock().push("owner again");
        for waiter in waiters {
            waiter.join().unwrap();
        }
        let order = mutex.lock().clone();
        assert_eq!(order.len(), 5);
        assert_eq!(order[0], "owner");
        assert!(order[1] != "owner again", "the fair release let the releaser barge: {order:?}");
        for label in ["first", "second", "third", "owner again"] {
            assert_eq!(order.iter().filter(|&&entry| entry == label).count(), 1, "{order:?}");
        }
    });
}

#[test]
fn unlock_fair_without_waiters_just_unlocks() {
    let mutex = Mutex::new(7);
    let guard = mutex.lock();
    MutexGuard::unlock_fair(guard);
    assert!(!mutex.is_locked());
    assert_eq!(*mutex.try_lock().expect("free after unlock_fair"), 7);
    // And the lock keeps working normally afterwards.
    *mutex.lock() += 1;
    assert_eq!(*mutex.lock(), 8);
}

#[test]
fn bump_lets_a_sleeping_waiter_in_and_takes_the_lock_back() {
    within(|| {
        for _round in 0..3 {
            let mutex = Arc::new(Mutex::new(Vec::new()));
            let mut guard = mutex.lock();
            let waiter = spawn_sleeping_locker(&mutex, "waiter");
            guard.push("before bump");
            MutexGuard::bump(&mut guard);
            assert!(mutex.is_locked());
            guard.push("after bump");
            drop(guard);
            waiter.join().unwrap();
            assert_eq!(*mutex.lock(), ["before bump", "waiter", "after bump"]);
        }
    });
}

#[test]
fn bump_without_waiters_keeps_the_lock() {
    let mutex = Mutex::new(1);
    let mut guard = mutex.lock();
    MutexGuard::bump(&mut guard);
    assert!(mutex.is_locked());
    assert!(mutex.try_lock().is_none());
    *guard += 1;
    drop(guard);
    assert_eq!(*mutex.lock(), 2);
}

#[test]
fn unlocked_and_unlocked_fair_release_the_lock_for_the_closure() {
    within(|| {
        let mutex = Arc::new(Mutex::new(0));
        let mut guard = mutex.lock();
        let seen = MutexGuard::unlocked(&mut guard, || {
            thread::scope(|scope| {
                scope.spawn(|| *mutex.try_lock().expect("unlocked() must release") += 1);
            });
            5
        });
        assert_eq!(seen, 5);
        assert!(mutex.is_locked());
        assert_eq!(*guard, 1);
        MutexGuard::unlocked_fair(&mut guard, || {
            thread::scope(|scope| {
                scope.spawn(|| *mutex.try_lock().expect("unlocked_fair() must release") += 1);
            });
        });
        assert_eq!(*guard, 2);
    });
}

/// The mutex word's bit that a sleeper past the starvation limit sets (`src/mutex/mod.rs`).
const STARVING: u32 = 1 << 3;

#[test]
fn a_plain_unlock_hands_the_lock_to_a_sleeper_past_the_starvation_limit() {
    // A sleeper that was woken once, lost the lock to a barging owner and has waited longer
    // than the starvation limit (0.5 ms) marks itself starving when it sleeps again; from
    // then on even a *plain* unlock hands it the lock, so the owner re-locking at once comes
    // second. The round needs the owner to barge past the first wake (it re-locks nanoseconds
    // after its unlock, the woken thread takes microseconds): a round where the waiter won
    // that race instead is simply run again.
    within(|| {
        for _attempt in 0..50 {
            let mutex = Arc::new(Mutex::new(Vec::new()));
            let guard = mutex.lock();
            let (waiter, waiter_id) = {
                let mutex = Arc::clone(&mutex);
                spawn_watched(move || mutex.lock().push("waiter"))
            };
            wait_until_asleep_on_mutex(waiter_id, &mutex);
            // (a) The lower bound of a limit: the waiter's first sleep must be older than
            // 0.5 ms by the time it sleeps again.
            thread::sleep(Duration::from_millis(2));
            drop(guard); // wakes the waiter
            let guard = mutex.lock(); // ... and barges past it
            if !guard.is_empty() {
                // The waiter got in first: no starvation to test this time.
                drop(guard);
                waiter.join().unwrap();
                continue;
            }
            // The woken waiter found the lock taken and sleeps again, now starving: it waits
            // for a word with the STARVING bit set (1 << 3 in `src/mutex/mod.rs`), which
            // tells this sleep from the first one, still on its way out of the kernel.
            // SAFETY: we only take the address of the raw mutex.
            let word = unsafe { mutex.raw() } as *const RawMutex as u64;
            wait_until_asleep_on_value(waiter_id, word, |expected| expected & STARVING != 0);
            drop(guard); // a plain unlock: the starving waiter is handed the lock
            mutex.lock().push("owner again");
            waiter.join().unwrap();
            assert_eq!(*mutex.lock(), ["waiter", "owner again"]);
            return;
        }
        panic!("in 50 rounds the owner never re-locked before the woken waiter");
    });
}

#[test]
fn a_waiter_makes_progress_against_threads_relocking_in_a_loop() {
    // Two threads lock, work ~20 us, unlock and re-lock at once, as fast as they can; a third
    // asks for the lock 20 times. A barging lock lets the hot threads overtake a woken waiter
    // again and again; the waiter must still get in. The bound (10 s for one acquisition) is
    // scheduling slack for a shared, overloaded 2-core machine (with three CPU hogs running
    // beside this test, single acquisitions of over 2 s were seen): this checks progress,
    // not the ~0.5 ms eventual-fairness promise, which wall-clock times cannot pin down here.
    const ACQUISITIONS: usize = 20;
    const HOT_THREADS: usize = 2;
    within(|| {
        let mutex = Arc::new(Mutex::new(0u64));
        let stop = Arc::new(AtomicBool::new(false));
        let start = Arc::new(Barrier::new(HOT_THREADS + 1));
        let hot: Vec<_> = (0..HOT_THREADS)
            .map(|_| {
                let (mutex, stop, start) =
                    (Arc::clone(&mutex), Arc::clone(&stop), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    while !stop.load(SeqCst) {
                        let mut guard = mutex.lock();
                        *guard += 1;
                        busy_for(Duration::from_micros(20));
                    }
                })
            })
            .collect();
        start.wait();
        let mut longest = Duration::ZERO;
        for _ in 0..ACQUISITIONS {
            let begin = Instant::now();
            let guard = mutex.lock();
            longest = longest.max(begin.elapsed());
            drop(guard);
            thread::sleep(Duration::from_micros(100));
        }
        stop.store(true, SeqCst);
        for handle in hot {
            handle.join().unwrap();
        }
        assert!(
            longest < Duration::from_secs(10),
            "one lock() waited {longest:?} behind a hot loop"
        );
    });
}

/// Spins (without sleeping) for `duration`.
fn busy_for(duration: Duration) {
    let start = Instant::now();
    while start.elapsed() < duration {
        std::hint::spin_loop();
    }
}

#[test]
fn timed_waiters_that_give_up_do_not_swallow_the_wake_ups_of_others() {
    // A timed waiter may be woken by an unlock, lose the race for the lock to a barging thread,
    // and then time out. If it left without giving up its claim to having been woken, no later
    // unlock would wake anybody: once the timed waiters are gone, the threads blocked in
    // lock() would sleep forever. Several rounds of: 3 threads making short timed attempts
    // while 2 threads lock() in a loop; then the 2 go on alone for 200 more locks each.
    const ROUNDS: usize = 20;
    const TIMED: usize = 3;
    const PLAIN: usize = 2;
    const ATTEMPTS: u64 = 300;
    const LOCKS_ALONE: u64 = 200;
    within(|| {
        let counter = Arc::new(Mutex::new(0u64));
        let mut expected = 0;
        for _round in 0..ROUNDS {
            let timed_done = Arc::new(AtomicBool::new(false));
            let plain: Vec<_> = (0..PLAIN)
                .map(|_| {
                    let (counter, timed_done) = (Arc::clone(&counter), Arc::clone(&timed_done));
                    thread::spawn(move || {
                        let (mut locks, mut alone) = (0, 0);
                        while alone < LOCKS_ALONE {
                            let mut guard = counter.lock();
                            *guard += 1;
                            busy_for(Duration::from_micros(5));
                            drop(guard);
                            locks += 1;
                            if timed_done.load(SeqCst) {
                                alone += 1;
                            }
                        }
                        locks
                    })
                })
                .collect();
            let start = Arc::new(Barrier::new(TIMED));
            let timed: Vec<_> = (0..TIMED as u64)
                .map(|index| {
                    let (counter, start) = (Arc::clone(&counter), Arc::clone(&start));
                    thread::spawn(move || {
                        start.wait();
                        let mut successes = 0;
                        for attempt in 0..ATTEMPTS {
                            let timeout =
                                Duration::from_micros(10 + (index * 37 + attempt * 13) % 90);
                            if let Some(mut guard) = counter.try_lock_for(timeout) {
                                *guard += 1;
                                busy_for(Duration::from_micros(5));
                                successes += 1;
                            }
                        }
                        successes
                    })
                })
                .collect();
            for handle in timed {
                expected += handle.join().unwrap();
            }
            timed_done.store(true, SeqCst);
            for handle in plain {
                expected += handle.join().unwrap();
            }
            assert_eq!(*counter.lock(), expected);
        }
    });
}
