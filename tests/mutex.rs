//! Public behaviour of [`atomsync::Mutex`] (and the [`atomsync::RawMutex`] under it), as a user
//! coming from `std::sync::Mutex` or `parking_lot::Mutex` relies on it: mutual exclusion under
//! heavy contention, `try_lock`, timed locks and their bounds, release on unwind (no poisoning),
//! fair unlock and `bump`, the 4-byte size and `const` construction, and the `lock_api` extras
//! (mapped guards, `lock_arc`, `into_inner`, `Debug`, ...).
//!
//! No test waits for another thread by sleeping and hoping: threads meet through barriers,
//! channels or the mutex itself. Sleeps appear only (a) to give the lower bound of a timeout
//! something to measure, or (b) to give another thread the chance to go to sleep in `lock()`
//! where the assertion does not depend on how long the sleep was. Every test that could block
//! forever on a bug runs under [`within`], which turns a deadlock into a failure.

mod common;

use atomsync::{ArcMutexGuard, MappedMutexGuard, Mutex, MutexGuard, RawMutex, const_mutex};
use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::mem::size_of;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    current_thread_id, spawn_watched, wait_until_asleep_on, wait_until_asleep_on_value, within,
};

/// Upper slack for "returns promptly" checks: far above any sane latency, far below "hangs".
const PROMPT: Duration = Duration::from_secs(2);

/// Returns once the thread `thread_id` sleeps in a futex wait on `mutex`'s word (see
/// [`common::wait_until_asleep_on`]): how the tests below know that a thread is really asleep
/// in `lock()`, not still on its way or spinning.
fn wait_until_asleep_on_mutex<T: ?Sized>(thread_id: Option<u32>, mutex: &Mutex<T>) {
    // SAFETY: we only take the address of the raw mutex; we never lock or unlock through it.
    let word = unsafe { mutex.raw() } as *const RawMutex as u64;
    wait_until_asleep_on(thread_id, &[word]);
}

/// Spawns a thread that blocks in `mutex.lock()` and pushes `label` once it has the lock;
/// returns once that thread is asleep in `lock()` (see [`wait_until_asleep_on_mutex`]).
fn spawn_sleeping_locker(
    mutex: &Arc<Mutex<Vec<&'static str>>>,
    label: &'static str,
) -> thread::JoinHandle<()> {
    let (handle, thread_id) = {
        let mutex = Arc::clone(mutex);
        spawn_watched(move || mutex.lock().push(label))
    };
    wait_until_asleep_on_mutex(thread_id, mutex);
    handle
}

// ---------------------------------------------------------------------------------------------
// Mutual exclusion
// ---------------------------------------------------------------------------------------------

#[test]
fn sixteen_threads_times_100_000_increments_count_exactly() {
    const THREADS: usize = 16;
    const INCREMENTS: u64 = 100_000;
    within(|| {
        let counter = Arc::new(Mutex::new(0u64));
        let start = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let (counter, start) = (Arc::clone(&counter), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    for _ in 0..INCREMENTS {
                        // A plain read-modify-write of a u64: lost updates show up in the total.
                        *counter.lock() += 1;
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(*counter.lock(), THREADS as u64 * INCREMENTS);
        assert!(!counter.is_locked());
    });
}

/// State whose invariant (`first == second`) holds only between critical sections: a
/// critical section breaks it, yields now and then, and restores it.
#[derive(Default)]
struct Pair {
    first: u64,
    second: u64,
}

#[test]
fn critical_sections_never_overlap_under_sixteen_threads() {
    const THREADS: usize = 16;
    const ITERATIONS: u64 = 100_000;
    within(|| {
        let pair = Arc::new(Mutex::new(Pair::default()));
        // Set and cleared inside the lock: seeing it set on entry means two owners at once.
        let in_critical = Arc::new(AtomicBool::new(false));
        let start = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|thread_index| {
                let (pair, in_critical, start) =
                    (Arc::clone(&pair), Arc::clone(&in_critical), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    for iteration in 0..ITERATIONS {
                        let mut guard = pair.lock();
                        assert!(
                            !in_critical.swap(true, SeqCst),
                            "two threads inside the lock at once"
                        );
                        assert_eq!(guard.first, guard.second, "saw a half-done critical section");
                        guard.first += 1;
                        if (iteration + thread_index as u64).is_multiple_of(1024) {
                            // Hold the broken invariant across a reschedule now and then.
                            thread::yield_now();
                        }
                        guard.second += 1;
                        in_critical.store(false, SeqCst);
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        let pair = pair.lock();
        assert_eq!(pair.first, THREADS as u64 * ITERATIONS);
        assert_eq!(pair.second, THREADS as u64 * ITERATIONS);
    });
}

#[test]
fn every_way_of_locking_and_unlocking_excludes_the_others() {
    // lock / try_lock (spinning) / try_lock_for / try_lock_until, unlocked by drop, unlock_fair
    // and bump, all on one mutex at once.
    const THREADS: usize = 8;
    const ITERATIONS: u64 = 10_000;
    within(|| {
        let counter = Arc::new(Mutex::new(0u64));
        let in_critical = Arc::new(AtomicBool::new(false));
        let start = Arc::new(Barrier::new(THREADS));
        let enter = |flag: &AtomicBool| assert!(!flag.swap(true, SeqCst), "two owners at once");
        let leave = |flag: &AtomicBool| flag.store(false, SeqCst);
        let handles: Vec<_> = (0..THREADS)
            .map(|thread_index| {
                let (counter, in_critical, start) =
                    (Arc::clone(&counter), Arc::clone(&in_critical), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    for iteration in 0..ITERATIONS {
                        let mut guard = match thread_index % 4 {
                            0 => counter.lock(),
                            1 => loop {
                                if let Some(guard) = counter.try_lock() {
                                    break guard;
                                }
                                thread::yield_now();
                            },
                            2 => loop {
                                if let Some(guard) = counter.try_lock_for(Duration::from_micros(50))
                                {
                                    break guard;
                                }
                            },
                            _ => loop {
                                let deadline = Instant::now() + Duration::from_micros(20);
                                if let Some(guard) = counter.try_lock_until(deadline) {
                                    break guard;
                                }
                            },
                        };
                        enter(&in_critical);
                        *guard += 1;
                        match iteration % 5 {
                            0 => {
                                leave(&in_critical);
                                MutexGuard::unlock_fair(guard);
                            }
                            1 => {
                                leave(&in_critical);
                                MutexGuard::bump(&mut guard);
                                enter(&in_critical);
                                *guard += 1;
                                leave(&in_critical);
                            }
                            _ => {
                                leave(&in_critical);
                                drop(guard);
                            }
                        }
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        // Iterations with `iteration % 5 == 1` increment twice.
        let per_thread = ITERATIONS + ITERATIONS / 5;
        assert_eq!(*counter.lock(), THREADS as u64 * per_thread);
    });
}

#[test]
fn raw_mutex_excludes_on_its_own() {
    // The raw lock, as code generic over lock_api (or a hand-written wrapper) would use it.
    struct RawCounter {
        lock: RawMutex,
        value: UnsafeCell<u64>,
    }
    // SAFETY: `value` is only touched while `lock` is held.
    unsafe impl Sync for RawCounter {}

    const THREADS: usize = 4;
    const ITERATIONS: u64 = 50_000;
    within(|| {
        let counter = Arc::new(RawCounter { lock: RawMutex::new(), value: UnsafeCell::new(0) });
        let handles: Vec<_> = (0..THREADS)
            .map(|thread_index| {
                let counter = Arc::clone(&counter);
                thread::spawn(move || {
                    for iteration in 0..ITERATIONS {
                        match (thread_index + iteration as usize) % 3 {
                            0 => counter.lock.lock(),
                            1 => {
                                while !counter.lock.try_lock() {
                                    thread::yield_now();
                                }
                            }
                            _ => assert!(counter.lock.try_lock_until(None)),
                        }
                        assert!(counter.lock.is_locked());
                        // SAFETY: we hold the lock.
                        unsafe { *counter.value.get() += 1 };
                        // SAFETY: we hold the lock.
                        unsafe {
                            if iteration % 2 == 0 {
                                counter.lock.unlock();
                            } else {
                                counter.lock.unlock_fair();
                            }
                        }
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        assert!(!counter.lock.is_locked());
        // SAFETY: every thread has been joined.
        assert_eq!(unsafe { *counter.value.get() }, THREADS as u64 * ITERATIONS);
    });
}

// ---------------------------------------------------------------------------------------------
// try_lock
// ---------------------------------------------------------------------------------------------

#[test]
fn try_lock_fails_while_held_and_succeeds_after_release_same_thread() {
    let mutex = Mutex::new(1);
    let guard = mutex.lock();
    assert!(mutex.is_locked());
    // Not re-entrant, and does not block or deadlock: just says no.
    assert!(mutex.try_lock().is_none());
    drop(guard);
    assert!(!mutex.is_locked());
    let mut guard = mutex.try_lock().expect("a free mutex");
    *guard += 1;
    assert!(mutex.try_lock().is_none());
    drop(guard);
    assert_eq!(*mutex.try_lock().unwrap(), 2);
}

#[test]
fn try_lock_fails_while_another_thread_holds_and_succeeds_after_its_release() {
    within(|| {
        let mutex = Arc::new(Mutex::new(0));

        // Held here, tried there.
        let guard = mutex.lock();
        thread::scope(|scope| {
            scope.spawn(|| assert!(mutex.try_lock().is_none(), "try_lock took a held mutex"));
        });
        drop(guard);
        thread::scope(|scope| {
            scope.spawn(|| *mutex.try_lock().expect("the mutex was released") += 1);
        });

        // Held there, tried here.
        let (locked_tx, locked_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let holder = {
            let mutex = Arc::clone(&mutex);
            thread::spawn(move || {
                let mut guard = mutex.lock();
                *guard += 10;
                locked_tx.send(()).unwrap();
                release_rx.recv().unwrap();
            })
        };
        locked_rx.recv().unwrap();
        assert!(mutex.try_lock().is_none(), "try_lock took a mutex held by another thread");
        assert!(mutex.is_locked());
        release_tx.send(()).unwrap();
        holder.join().unwrap();
        let guard = mutex.try_lock().expect("the holder has released the mutex");
        assert_eq!(*guard, 11);
    });
}

#[test]
fn try_lock_only_ever_lets_one_thread_in() {
    const THREADS: usize = 4;
    const INCREMENTS: u64 = 20_000;
    within(|| {
        let counter = Arc::new(Mutex::new(0u64));
        let failures = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let (counter, failures) = (Arc::clone(&counter), Arc::clone(&failures));
                thread::spawn(move || {
                    let mut done = 0;
                    while done < INCREMENTS {
                        match counter.try_lock() {
                            Some(mut guard) => {
                                *guard += 1;
                                done += 1;
                            }
                            None => {
                                failures.fetch_add(1, SeqCst);
                                std::hint::spin_loop();
                            }
                        }
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(*counter.lock(), THREADS as u64 * INCREMENTS);
    });
}

// ---------------------------------------------------------------------------------------------
// Timed locks
// ---------------------------------------------------------------------------------------------

#[test]
fn try_lock_for_on_a_held_mutex_returns_none_no_earlier_than_its_timeout() {
    within(|| {
        let mutex = Arc::new(Mutex::new(()));
        let _held = mutex.lock();
        for timeout in
            [Duration::from_millis(1), Duration::from_millis(20), Duration::from_millis(100)]
        {
            // From the holding thread (no re-entrancy: it simply times out) ...
            let start = Instant::now();
            assert!(mutex.try_lock_for(timeout).is_none());
            let elapsed = start.elapsed();
            assert!(
                elapsed >= timeout,
                "timed out after {elapsed:?}, before the {timeout:?} timeout"
            );
            assert!(elapsed < timeout + PROMPT, "took {elapsed:?} for a {timeout:?} timeout");

            // ... and from another thread.
            thread::scope(|scope| {
                scope.spawn(|| {
                    let start = Instant::now();
                    assert!(mutex.try_lock_for(timeout).is_none());
                    let elapsed = start.elapsed();
                    assert!(elapsed >= timeout, "timed out after {elapsed:?}, before {timeout:?}");
                    assert!(elapsed < timeout + PROMPT, "took {elapsed:?} for {timeout:?}");
                });
            });
        }
        assert!(mutex.is_locked());
    });
}

#[test]
fn try_lock_until_on_a_held_mutex_returns_none_no_earlier_than_its_deadline() {
    within(|| {
        let mutex = Arc::new(Mutex::new(()));
        let _held = mutex.lock();
        for timeout in [Duration::from_millis(5), Duration::from_millis(80)] {
            thread::scope(|scope| {
                scope.spawn(|| {
                    let deadline = Instant::now() + timeout;
                    assert!(mutex.try_lock_until(deadline).is_none());
                    let now = Instant::now();
                    assert!(now >= deadline, "gave up {:?} before the deadline", deadline - now);
                    assert!(now < deadline + PROMPT);
                });
            });
        }
    });
}

#[test]
fn several_timed_out_waiters_leave_the_mutex_fully_usable() {
    // Threads that register as waiters and then leave on timeout must not leave the lock's
    // bookkeeping behind: a later sleeper must still be woken by the release.
    const TIMED: usize = 4;
    within(|| {
        let mutex = Arc::new(Mutex::new(Vec::new()));
        for _round in 0..3 {
            let guard = mutex.lock();
            let sleeper = spawn_sleeping_locker(&mutex, "sleeper");
            let start = Arc::new(Barrier::new(TIMED));
            let timed: Vec<_> = (0..TIMED)
                .map(|_| {
                    let (mutex, start) = (Arc::clone(&mutex), Arc::clone(&start));
                    thread::spawn(move || {
                        start.wait();
                        let timeout = Duration::from_millis(30);
                        let begin = Instant::now();
                        assert!(mutex.try_lock_for(timeout).is_none());
                        assert!(begin.elapsed() >= timeout);
                    })
                })
                .collect();
            for handle in timed {
                handle.join().unwrap();
            }
            drop(guard);
            // The sleeper must get the lock: no lost wake-up after the timed-out waiters left.
            sleeper.join().unwrap();
            assert!(!mutex.is_locked());
            assert!(mutex.try_lock().is_some());
        }
        assert_eq!(*mutex.lock(), ["sleeper"; 3]);
    });
}

#[test]
fn try_lock_for_succeeds_as_soon_as_the_holder_releases() {
    within(|| {
        let mutex = Arc::new(Mutex::new(0));
        let (locked_tx, locked_rx) = mpsc::channel();
        let (waiter_tx, waiter_rx) = mpsc::channel();
        let holder = {
            let mutex = Arc::clone(&mutex);
            thread::spawn(move || {
                let mut guard = mutex.lock();
                locked_tx.send(()).unwrap();
                // Release only once the main thread sleeps in try_lock_for.
                wait_until_asleep_on_mutex(waiter_rx.recv().unwrap(), &mutex);
                *guard = 42;
            })
        };
        locked_rx.recv().unwrap();
        waiter_tx.send(current_thread_id()).unwrap();
        let timeout = Duration::from_secs(30);
        let start = Instant::now();
        let guard =
            mutex.try_lock_for(timeout).expect("the holder released long before the timeout");
        assert!(start.elapsed() < timeout);
        assert_eq!(*guard, 42, "the holder's write is visible to the next owner");
        drop(guard);
        holder.join().unwrap();
    });
}

/// The latest `Instant` that can be represented (found by halving steps from now).
fn farthest_instant() -> Instant {
    let mut instant = Instant::now();
    let mut step = Duration::MAX;
    while step > Duration::from_nanos(0) {
        match instant.checked_add(step) {
            Some(later) => instant = later,
            None => step /= 2,
        }
    }
    instant
}

#[test]
fn try_lock_for_duration_max_does_not_overflow() {
    within(|| {
        let mutex = Arc::new(Mutex::new(0));

        // On a free mutex: succeeds at once.
        let start = Instant::now();
        let guard = mutex.try_lock_for(Duration::MAX).expect("a free mutex");
        assert!(start.elapsed() < PROMPT);

        // On a mutex another thread releases later: sleeps (forever, if it had to) and succeeds.
        let (waiter, waiter_id) = {
            let mutex = Arc::clone(&mutex);
            spawn_watched(move || {
                let mut guard =
                    mutex.try_lock_for(Duration::MAX).expect("Duration::MAX never times out");
                *guard += 1;
            })
        };
        wait_until_asleep_on_mutex(waiter_id, &mutex);
        drop(guard);
        waiter.join().unwrap();
        assert_eq!(*mutex.lock(), 1);

        // The same for the farthest deadline an Instant can express.
        let guard = mutex.try_lock_until(farthest_instant()).expect("a free mutex");
        let (waiter, waiter_id) = {
            let mutex = Arc::clone(&mutex);
            spawn_watched(move || {
                let mut guard = mutex.try_lock_until(farthest_instant()).expect("never times out");
                *guard += 1;
            })
        };
        wait_until_asleep_on_mutex(waiter_id, &mutex);
        drop(guard);
        waiter.join().unwrap();
        assert_eq!(*mutex.lock(), 2);
    });
}

#[test]
fn zero_timeouts_and_past_deadlines_never_wait() {
    within(|| {
        let mutex = Arc::new(Mutex::new(()));
        let past =
            Instant::now().checked_sub(Duration::from_millis(10)).unwrap_or_else(Instant::now);

        // Free: they take the lock.
        let guard = mutex.try_lock_for(Duration::ZERO).expect("Duration::ZERO on a free mutex");
        drop(guard);
        let guard = mutex.try_lock_until(past).expect("a past deadline on a free mutex");
        drop(guard);

        // Held (here and by another thread): they give up promptly.
        let _held = mutex.lock();
        let start = Instant::now();
        assert!(mutex.try_lock_for(Duration::ZERO).is_none());
        assert!(mutex.try_lock_until(past).is_none());
        assert!(mutex.try_lock_until(Instant::now()).is_none());
        thread::scope(|scope| {
            scope.spawn(|| {
                assert!(mutex.try_lock_for(Duration::ZERO).is_none());
                assert!(mutex.try_lock_until(past).is_none());
            });
        });
        assert!(start.elapsed() < PROMPT, "a zero timeout waited {:?}", start.elapsed());
        assert!(mutex.is_locked());
    });
}

/// Issue 10, case 9: a passed deadline must return at once, at about the cost of `try_lock`,
/// not after the spin-and-yield schedule (3 spin rounds and 7 `yield_now`: 7-12 us on an idle
/// machine, milliseconds on a loaded one). Two threads spin on the CPUs meanwhile, so that
/// every `yield_now` really gives the CPU away, as on a loaded machine. The bound is generous
/// (the fastest of 20 attempts under 200 us; it takes well under 1 us) so that a descheduled
/// attempt cannot fail it; `src/mutex.rs` has the exact unit test (no spin round at all).
#[test]
fn zero_timeouts_on_a_held_mutex_return_at_once_even_on_a_loaded_machine() {
    const ATTEMPTS: usize = 20;
    within(|| {
        let mutex = Mutex::new(());
        let stop = AtomicBool::new(false);
        let _held = mutex.lock();
        thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    while !stop.load(SeqCst) {
                        std::hint::spin_loop();
                    }
                });
            }
            let past = Instant::now();
            let mut fastest = [Duration::MAX; 2];
            for _ in 0..ATTEMPTS {
                let start = Instant::now();
                assert!(mutex.try_lock_for(Duration::ZERO).is_none());
                fastest[0] = fastest[0].min(start.elapsed());
                let start = Instant::now();
                assert!(mutex.try_lock_until(past).is_none());
                fastest[1] = fastest[1].min(start.elapsed());
            }
            stop.store(true, SeqCst);
            assert!(
                fastest.iter().all(|&fastest| fastest < Duration::from_micros(200)),
                "the fastest of {ATTEMPTS} zero-timeout attempts took {:?} \
                 (try_lock_for(ZERO), try_lock_until(past))",
                fastest
            );
        });
        assert!(mutex.is_locked());
    });
}

#[test]
fn try_lock_arc_for_and_until_behave_like_the_borrowing_forms() {
    within(|| {
        let mutex = Arc::new(Mutex::new(5));
        let held = mutex.lock_arc();
        let timeout = Duration::from_millis(20);
        let start = Instant::now();
        assert!(mutex.try_lock_arc_for(timeout).is_none());
        assert!(start.elapsed() >= timeout);
        assert!(mutex.try_lock_arc_until(Instant::now()).is_none());
        assert!(mutex.try_lock_arc().is_none());
        drop(held);
        let guard = mutex.try_lock_arc_for(timeout).expect("free");
        assert_eq!(*guard, 5);
    });
}

// ---------------------------------------------------------------------------------------------
// Unwinding: no poisoning
// ---------------------------------------------------------------------------------------------

#[test]
fn a_panic_while_locked_releases_the_lock_without_poisoning() {
    within(|| {
        let mutex = Arc::new(Mutex::new(0));
        let panicker = {
            let mutex = Arc::clone(&mutex);
            thread::spawn(move || {
                let mut guard = mutex.lock();
                *guard = 42;
                panic!("deliberate panic while holding the lock");
            })
        };
        assert!(panicker.join().is_err(), "the thread should have panicked");
        assert!(!mutex.is_locked(), "unwinding must have released the lock");
        // No poisoning: the lock just works, and the panicking thread's write is there.
        assert_eq!(*mutex.try_lock().expect("free after the unwind"), 42);
        *mutex.lock() += 1;
        assert_eq!(*mutex.lock(), 43);
    });
}

#[test]
fn a_panic_while_locked_wakes_a_thread_blocked_in_lock() {
    within(|| {
        let mutex = Arc::new(Mutex::new(Vec::new()));
        let (locked_tx, locked_rx) = mpsc::channel();
        let (panic_now_tx, panic_now_rx) = mpsc::channel::<()>();
        let panicker = {
            let mutex = Arc::clone(&mutex);
            thread::spawn(move || {
                let mut guard = mutex.lock();
                guard.push("panicker");
                locked_tx.send(()).unwrap();
                panic_now_rx.recv().unwrap();
                panic!("deliberate panic while another thread waits for the lock");
            })
        };
        locked_rx.recv().unwrap();
        let waiter = spawn_sleeping_locker(&mutex, "waiter");
        panic_now_tx.send(()).unwrap();
        assert!(panicker.join().is_err());
        waiter.join().unwrap();
        assert_eq!(*mutex.lock(), ["panicker", "waiter"]);
    });
}

#[test]
fn a_caught_panic_releases_the_lock_in_the_same_thread() {
    let mutex = Mutex::new(String::from("before"));
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        let mut guard = mutex.lock();
        guard.push_str(" during");
        panic!("deliberate");
    }));
    assert!(result.is_err());
    assert!(!mutex.is_locked());
    assert_eq!(*mutex.lock(), "before during");
}

#[test]
fn mapped_and_arc_guards_also_release_on_unwind() {
    within(|| {
        let mutex = Arc::new(Mutex::new((1, 2)));
        {
            let mutex = Arc::clone(&mutex);
            let result = thread::spawn(move || {
                let mut second = MutexGuard::map(mutex.lock(), |pair| &mut pair.1);
                *second = 20;
                panic!("deliberate panic holding a mapped guard");
            })
            .join();
            assert!(result.is_err());
        }
        assert!(!mutex.is_locked());
        {
            let mutex = Arc::clone(&mutex);
            let result = thread::spawn(move || {
                let mut guard = mutex.lock_arc();
                guard.0 = 10;
                panic!("deliberate panic holding an Arc guard");
            })
            .join();
            assert!(result.is_err());
        }
        assert!(!mutex.is_locked());
        assert_eq!(*mutex.lock(), (10, 20));
    });
}

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

// ---------------------------------------------------------------------------------------------
// Size, const construction, traits
// ---------------------------------------------------------------------------------------------

#[test]
fn a_mutex_is_four_bytes() {
    assert_eq!(size_of::<RawMutex>(), 4);
    assert_eq!(size_of::<Mutex<()>>(), 4);
    assert_eq!(size_of::<Mutex<u32>>(), 8);
    // For comparison: std's is 8 bytes for `()`.
    assert!(size_of::<Mutex<()>>() < size_of::<std::sync::Mutex<()>>());
}

static COUNTER: Mutex<u64> = Mutex::new(0);
static NAMES: Mutex<Vec<&str>> = const_mutex(Vec::new());
static RAW: RawMutex = RawMutex::new();
const fn make_mutex() -> Mutex<u8> {
    Mutex::new(3)
}
static FROM_CONST_FN: Mutex<u8> = make_mutex();

#[test]
fn mutexes_can_be_statics_built_in_const_context() {
    within(|| {
        thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..10_000 {
                        *COUNTER.lock() += 1;
                    }
                    NAMES.lock().push("worker");
                });
            }
        });
        assert_eq!(*COUNTER.lock(), 40_000);
        assert_eq!(*NAMES.lock(), ["worker"; 4]);
        assert_eq!(*FROM_CONST_FN.lock(), 3);
        assert!(RAW.try_lock());
        assert!(!RAW.try_lock());
        // SAFETY: held by this thread.
        unsafe { RAW.unlock() };
    });
}

#[test]
fn mutexes_and_their_guards_are_send_and_sync_as_in_std() {
    fn assert_send<T: Send>() {}
    fn assert_sync<T: Sync>() {}
    assert_send::<RawMutex>();
    assert_sync::<RawMutex>();
    assert_send::<Mutex<u32>>();
    assert_sync::<Mutex<u32>>();
    // A Mutex makes a Send-but-not-Sync type shareable, as std's does.
    assert_sync::<Mutex<Cell<u32>>>();
    assert_sync::<MutexGuard<'static, u32>>();
    // The lock has no owner identity: guards may be released on another thread.
    assert_send::<MutexGuard<'static, u32>>();
    assert_send::<ArcMutexGuard<u32>>();
    assert_send::<MappedMutexGuard<'static, u32>>();
}

// ---------------------------------------------------------------------------------------------
// The rest of the API
// ---------------------------------------------------------------------------------------------

#[test]
fn into_inner_get_mut_default_and_from() {
    let mut mutex = Mutex::new(vec![1, 2]);
    mutex.get_mut().push(3);
    assert_eq!(*mutex.lock(), [1, 2, 3]);
    assert_eq!(mutex.into_inner(), [1, 2, 3]);

    let mutex: Mutex<u32> = Mutex::default();
    assert_eq!(mutex.into_inner(), 0);
    let mutex: Mutex<&str> = Mutex::from("from");
    assert_eq!(*mutex.lock(), "from");
}

#[test]
fn data_is_dropped_exactly_once() {
    struct CountDrops(Arc<AtomicUsize>);
    impl Drop for CountDrops {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    drop(Mutex::new(CountDrops(Arc::clone(&drops))));
    assert_eq!(drops.load(SeqCst), 1);
    let inner = Mutex::new(CountDrops(Arc::clone(&drops))).into_inner();
    assert_eq!(drops.load(SeqCst), 1, "into_inner must not drop the value");
    drop(inner);
    assert_eq!(drops.load(SeqCst), 2);
    // A leaked guard leaves the mutex locked; dropping the mutex still drops the data.
    let mutex = Mutex::new(CountDrops(Arc::clone(&drops)));
    let _ = MutexGuard::leak(mutex.lock());
    assert!(mutex.is_locked());
    drop(mutex);
    assert_eq!(drops.load(SeqCst), 3);
}

#[test]
fn debug_of_a_locked_mutex_does_not_deadlock() {
    within(|| {
        let mutex = Mutex::new(vec![1, 2]);
        assert_eq!(format!("{mutex:?}"), "Mutex { data: [1, 2] }");
        let guard = mutex.lock();
        assert_eq!(format!("{mutex:?}"), "Mutex { data: <locked> }");
        assert_eq!(format!("{guard:?}"), "[1, 2]");
        drop(guard);
        assert!(!mutex.is_locked(), "Debug must not leave the mutex locked");
        let name = Mutex::new("display");
        assert_eq!(format!("{}", name.lock()), "display");
    });
}

#[test]
fn mapped_guards_keep_the_whole_mutex_locked() {
    let mutex = Mutex::new((String::from("a"), vec![1, 2]));
    let mut first: MappedMutexGuard<'_, String> = MutexGuard::map(mutex.lock(), |pair| &mut pair.0);
    first.push('b');
    assert!(mutex.is_locked());
    assert!(mutex.try_lock().is_none());
    drop(first);
    assert!(!mutex.is_locked());

    // A mapped guard maps further, and still holds the lock.
    let numbers = MutexGuard::map(mutex.lock(), |pair| &mut pair.1);
    let mut last = MappedMutexGuard::map(numbers, |numbers| numbers.last_mut().unwrap());
    *last += 10;
    assert!(mutex.try_lock().is_none());
    drop(last);

    // try_map: on `None` the original guard comes back, still holding the lock.
    let guard = mutex.lock();
    let guard = match MutexGuard::try_map(guard, |pair| pair.1.get_mut(5)) {
        Ok(_) => panic!("index 5 does not exist"),
        Err(guard) => guard,
    };
    assert!(mutex.is_locked());
    let mut element = MutexGuard::try_map(guard, |pair| pair.1.get_mut(0)).expect("index 0 exists");
    *element += 1;
    drop(element);
    assert!(!mutex.is_locked());
    assert_eq!(*mutex.lock(), (String::from("ab"), vec![2, 12]));
}

#[test]
fn lock_arc_guards_move_across_threads_and_unlock_there() {
    within(|| {
        let mutex = Arc::new(Mutex::new(Vec::new()));
        let mut guard: ArcMutexGuard<Vec<&str>> = mutex.lock_arc();
        guard.push("main");
        assert!(Arc::ptr_eq(ArcMutexGuard::mutex(&guard), &mutex));
        // The guard owns an Arc: it outlives the borrow of `mutex`, moves to another thread,
        // and is released there.
        let other = thread::spawn(move || {
            guard.push("other");
            drop(guard);
        });
        other.join().unwrap();
        assert!(!mutex.is_locked());
        assert_eq!(*mutex.lock(), ["main", "other"]);
        assert!(mutex.try_lock_arc().is_some());
        assert_eq!(Arc::strong_count(&mutex), 1, "dropped ArcMutexGuards release their Arc");
    });
}

#[test]
fn a_guard_may_be_released_by_another_thread() {
    within(|| {
        let mutex = Mutex::new(0);
        let guard = mutex.lock();
        thread::scope(|scope| {
            scope.spawn(move || {
                let mut guard = guard;
                *guard += 1;
            });
        });
        assert!(!mutex.is_locked());
        assert_eq!(*mutex.lock(), 1);
    });
}

#[test]
fn guard_mutex_and_leak() {
    let mutex = Mutex::new(5);
    let guard = mutex.lock();
    assert!(std::ptr::eq(MutexGuard::mutex(&guard), &mutex));
    let leaked: &mut i32 = MutexGuard::leak(guard);
    *leaked += 1;
    assert!(mutex.is_locked(), "a leaked guard keeps the lock");
    assert!(mutex.try_lock().is_none());
    assert_eq!(mutex.into_inner(), 6);
}

#[test]
fn unsized_data() {
    let array = Mutex::new([1, 2, 3]);
    let slice: &Mutex<[i32]> = &array;
    slice.lock()[1] = 20;
    assert_eq!(slice.lock().len(), 3);
    assert_eq!(*array.lock(), [1, 20, 3]);

    let boxed: Box<Mutex<dyn fmt::Debug + Send>> = Box::new(Mutex::new(7u8));
    assert_eq!(format!("{:?}", &*boxed.lock()), "7");
}

#[test]
fn code_generic_over_lock_api_works_with_our_raw_mutex() {
    use atomsync::lock_api;
    fn add_all<R: lock_api::RawMutex>(mutex: &lock_api::Mutex<R, u64>, values: &[u64]) {
        for value in values {
            *mutex.lock() += value;
        }
    }
    fn try_timed<R: lock_api::RawMutexTimed<Duration = Duration>>(
        mutex: &lock_api::Mutex<R, u64>,
    ) -> bool {
        mutex.try_lock_for(Duration::from_millis(1)).is_some()
    }
    let mutex: Mutex<u64> = Mutex::new(0);
    add_all(&mutex, &[1, 2, 3]);
    assert_eq!(*mutex.lock(), 6);
    assert!(try_timed(&mutex));
    let _held = mutex.lock();
    assert!(!try_timed(&mutex));
}
