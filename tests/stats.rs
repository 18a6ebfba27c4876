//! The contention profile (`--features stats`): each counter counts what its documentation says,
//! in situations whose events are known exactly (a thread is observed asleep in the futex with
//! `/proc` before the test goes on), and `reset`/`snapshot` work across threads that exited.
//!
//! The counters are process-wide, so the tests of this file take turns (`serial`) and start
//! from a `reset`; no other test binary shares the process.
//!
//! ```text
//! cargo test --features stats --test stats
//! ```

#![cfg(feature = "stats")]

mod common;

use atomsync::stats::{self, Counters, Profile};
use atomsync::{Mutex, RawCondvar, RawMutex, RwLock, Semaphore, ThreadPool};
use std::sync::{Arc, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use common::{spawn_watched, wait_until_asleep_on, wait_until_asleep_on_rwlock, within};

/// Runs `test` on its own thread under [`within`]'s deadlock bound, alone: it takes this
/// file's turn lock and resets the profile first (the counters are process-wide).
fn isolated(test: impl FnOnce() + Send + 'static) {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = TURN.lock().unwrap_or_else(PoisonError::into_inner);
    stats::reset();
    within(test);
}

/// The address of a mutex's futex word.
fn word_of<T>(mutex: &Mutex<T>) -> u64 {
    // SAFETY: only the address is taken.
    (unsafe { mutex.raw() }) as *const RawMutex as u64
}

/// Starts `count` threads that each wait on `pair.1` with `pair.0` (no deadline) and unlock
/// once notified; returns once each is asleep on one of the condvar's words.
fn asleep_in_wait(pair: &Arc<(RawMutex, RawCondvar)>, count: usize) -> Vec<thread::JoinHandle<()>> {
    let condvar_word = &pair.1 as *const RawCondvar as u64;
    (0..count)
        .map(|_| {
            let pair = Arc::clone(pair);
            let (handle, id) = spawn_watched(move || {
                pair.0.lock();
                // SAFETY: the mutex is held; it is held again when the wait returns.
                unsafe {
                    pair.1.wait_raw(&pair.0, None);
                    pair.0.unlock();
                }
            });
            wait_until_asleep_on(id, &[condvar_word, condvar_word + 4]);
            handle
        })
        .collect()
}

/// Every row of `profile` except `keep` is all zeros.
fn assert_only(profile: &Profile, keep: &str) {
    for (name, counters) in profile.rows() {
        if name != keep {
            assert_eq!(counters, Counters::default(), "{name} counted something:\n{profile}");
        }
    }
}

#[test]
fn an_uncontended_lock_is_one_fast_acquisition_and_no_system_call() {
    isolated(|| {
        let mutex = Mutex::new(0);
        *mutex.lock() += 1;
        let profile = stats::snapshot();
        let counted: Vec<_> =
            profile.mutex.fields().into_iter().filter(|field| field.1 != 0).collect();
        assert_eq!(counted, [("fast", 1)], "\n{profile}");
        assert_only(&profile, "Mutex");
    });
}

#[test]
fn a_blocked_locker_spins_sleeps_and_is_woken() {
    isolated(|| {
        static LOCK: Mutex<i32> = atomsync::const_mutex(0);
        let guard = LOCK.lock();
        let (locker, locker_id) = spawn_watched(|| *LOCK.lock() += 1);
        wait_until_asleep_on(locker_id, &[word_of(&LOCK)]);
        drop(guard);
        locker.join().unwrap();
        let mutex = stats::snapshot().mutex;
        // The main thread's lock; the locker's slow path.
        assert_eq!((mutex.fast, mutex.contended, mutex.timeouts), (1, 1, 0), "{mutex:?}");
        // The whole spin schedule ran before the sleep: the mutex's 2 busy rounds, 2 yields,
        // 5 back-off sleeps.
        assert!(mutex.spins >= 2 && mutex.yields >= 2 && mutex.back_offs >= 5, "{mutex:?}");
        assert!(mutex.futex_waits >= 1 && mutex.futex_wakes >= 1, "{mutex:?}");
        assert_eq!(
            mutex.syscalls(),
            mutex.futex_waits + mutex.futex_wakes + mutex.yields + mutex.back_offs
        );
        // The locker was asleep when the unlock woke it, and took the free lock at once: no
        // wake found nobody, and it never went back to sleep.
        assert_eq!((mutex.empty_wakes, mutex.futile_wakeups), (0, 0), "{mutex:?}");
    });
}

#[test]
fn a_timed_lock_that_gives_up_counts_a_timeout() {
    isolated(|| {
        let mutex = Arc::new(Mutex::new(()));
        let guard = mutex.lock();
        let waiter = {
            let mutex = Arc::clone(&mutex);
            thread::spawn(move || mutex.try_lock_for(Duration::from_millis(20)).is_some())
        };
        assert!(!waiter.join().unwrap());
        drop(guard);
        let mutex = stats::snapshot().mutex;
        assert_eq!((mutex.fast, mutex.contended, mutex.timeouts), (1, 1, 1), "{mutex:?}");
        // A zero timeout on a held lock gives up before the spin schedule (and counts as one).
        stats::reset();
        let _held = {
            let raw = RawMutex::new();
            raw.lock();
            assert!(!raw.try_lock_until(Some(Instant::now())));
            raw
        };
        let mutex = stats::snapshot().mutex;
        assert_eq!(
            (mutex.contended, mutex.timeouts, mutex.spins, mutex.yields, mutex.back_offs),
            (1, 1, 0, 0, 0)
        );
    });
}

#[test]
fn reset_zeroes_and_counts_start_again() {
    isolated(|| {
        let mutex = Mutex::new(());
        for _ in 0..5 {
            drop(mutex.lock());
        }
        assert_eq!(stats::snapshot().mutex.fast, 5);
        stats::reset();
        assert_eq!(stats::snapshot(), Profile::default());
        drop(mutex.lock());
        assert_eq!(stats::snapshot().mutex.fast, 1);
    });
}

#[test]
fn threads_that_exited_still_count_and_their_blocks_are_reused() {
    isolated(|| {
        let mutex = Arc::new(Mutex::new(()));
        for round in 1..=3 {
            let mutex = Arc::clone(&mutex);
            thread::spawn(move || (0..10).for_each(|_| drop(mutex.lock()))).join().unwrap();
            assert_eq!(stats::snapshot().mutex.fast, 10 * round);
        }
    });
}

#[test]
fn a_write_unlock_hands_over_to_a_sleeping_reader() {
    isolated(|| {
        let lock = Arc::new(RwLock::new(0));
        let writer = lock.write();
        let reader = common::spawn_sleeping_on_rwlock(&lock, |lock| *lock.read());
        drop(writer);
        reader.join().unwrap();
        let rwlock = stats::snapshot().rwlock;
        assert_eq!((rwlock.fast, rwlock.contended, rwlock.handoffs), (1, 1, 1), "{rwlock:?}");
        assert!(rwlock.futex_waits >= 1 && rwlock.futex_wakes >= 1, "{rwlock:?}");
    });
}

/// With `held` (a guard of `lock`) in place, starts a writer, waits until it sleeps, drops
/// `held` and joins the writer; returns the RwLock's spin, yield and back-off rounds, and its
/// sleeps.
fn writer_blocked_by<G>(lock: &Arc<RwLock<i32>>, held: G) -> (u64, u64, u64, u64) {
    stats::reset();
    let writer = common::spawn_sleeping_on_rwlock(lock, |lock| *lock.write() += 1);
    drop(held);
    writer.join().unwrap();
    let rwlock = stats::snapshot().rwlock;
    assert!(rwlock.futex_waits >= 1, "{rwlock:?}");
    (rwlock.spins, rwlock.yields, rwlock.back_offs, rwlock.futex_waits)
}

#[test]
fn a_writer_behind_a_writer_spins_the_exclusive_schedule_and_one_behind_readers_does_not_yield() {
    isolated(|| {
        let lock = Arc::new(RwLock::new(0));
        // Behind a writer: the exclusive schedule (2 busy-wait rounds, 2 yields, 5 back-off
        // sleeps) before each sleep. A sleep that ends without the lock (a spurious return)
        // runs it again.
        let (spins, yields, back_offs, sleeps) = writer_blocked_by(&lock, lock.write());
        assert_eq!((spins, yields, back_offs), (2 * sleeps, 2 * sleeps, 5 * sleeps));
        // Behind a reader: the shared schedule's 3 busy-wait rounds and no yield before it
        // registers, then as many busy-wait rounds for the readers to drain.
        let (spins, yields, back_offs, sleeps) = writer_blocked_by(&lock, lock.read());
        assert_eq!((spins, yields, back_offs), (6 * sleeps, 0, 0));
        assert_eq!(*lock.read(), 2);
    });
}

#[test]
fn a_writer_behind_a_registered_writer_neither_spins_nor_backs_off() {
    isolated(|| {
        let lock = Arc::new(RwLock::new(0));
        let held = lock.write();
        let first = common::spawn_sleeping_on_rwlock(&lock, |lock| *lock.write() += 1);
        assert_eq!(stats::snapshot().rwlock.back_offs, 5);
        // The first writer has registered (WRITERS_WAITING): a second one sleeps at once,
        // registered too, since its back-off would leave it out of the wakes.
        stats::reset();
        let second = common::spawn_sleeping_on_rwlock(&lock, |lock| *lock.write() += 1);
        let rwlock = stats::snapshot().rwlock;
        assert_eq!((rwlock.spins, rwlock.yields, rwlock.back_offs), (0, 0, 0), "{rwlock:?}");
        assert!(rwlock.futex_waits >= 1, "{rwlock:?}");
        drop(held);
        first.join().unwrap();
        second.join().unwrap();
        assert_eq!(*lock.read(), 2);
    });
}

#[test]
fn a_writer_woken_for_an_upgrade_goes_back_to_sleep_a_futile_wake_up() {
    isolated(|| {
        let lock = Arc::new(RwLock::new(0));
        let (reader, upgradable) = (lock.read(), lock.upgradable_read_arc());
        // A writer sleeps behind the two readers...
        let writer = common::spawn_sleeping_on_rwlock(&lock, |lock| *lock.write() += 1);
        // ... and so does the upgrade, on the same word.
        // It holds the write lock until the writer has gone back to sleep (counted as the
        // wait begins), so that the writer cannot find the lock free in between.
        let (upgrader, upgrader_id) = spawn_watched(move || {
            let mut guard = atomsync::ArcRwLockUpgradableReadGuard::upgrade(upgradable);
            let give_up = Instant::now() + common::DEADLOCK;
            while stats::snapshot().rwlock.futile_wakeups == 0 {
                assert!(Instant::now() < give_up, "the woken writer never slept again");
                thread::yield_now();
            }
            *guard += 1;
        });
        wait_until_asleep_on_rwlock(upgrader_id, &lock);
        // The last plain reader leaves: that wakes every thread on the writers' word; the
        // upgrade proceeds and the writer, finding the lock held, sleeps again.
        drop(reader);
        upgrader.join().unwrap();
        writer.join().unwrap();
        let rwlock = stats::snapshot().rwlock;
        assert!(rwlock.futile_wakeups >= 1, "{rwlock:?}");
        assert_eq!(*lock.read(), 2);
    });
}

#[test]
fn a_sleeping_head_waiter_is_handed_the_permits() {
    isolated(|| {
        static SEMAPHORE: Semaphore = Semaphore::new(0);
        let (waiter, waiter_id) = spawn_watched(|| SEMAPHORE.acquire().unwrap().forget());
        // The head sleeps on one of the semaphore's five words (its `head_need`).
        let start = &SEMAPHORE as *const Semaphore as u64;
        let words = [start, start + 4, start + 8, start + 12, start + 16];
        // Its first sleep ends 0.5 ms after it became the head; it then reserves the permits
        // and sleeps again: wait for that second sleep, so that the permit is handed to it.
        while stats::snapshot().semaphore.futex_waits < 2 {
            thread::yield_now();
        }
        wait_until_asleep_on(waiter_id, &words);
        SEMAPHORE.add_permits(1);
        waiter.join().unwrap();
        let counters = stats::snapshot().semaphore;
        assert_eq!((counters.fast, counters.contended, counters.handoffs), (0, 1, 1));
        assert!(counters.futex_waits >= 2 && counters.futex_wakes >= 1, "{counters:?}");
        // Before its first sleep the first waiter yields 7 rounds (no busy-wait); after each
        // sleep but the last (which ends with the permit reserved for it) the woken head spins
        // the 3 busy-wait rounds and yields 2 rounds before it sleeps again.
        let rewaits = counters.futex_waits - 1;
        assert_eq!(
            (counters.spins, counters.yields),
            (3 * rewaits, 7 + 2 * rewaits),
            "{counters:?}"
        );
        assert_eq!(counters.timeouts, 0);
        // A timed acquire that gives up.
        assert!(SEMAPHORE.acquire_for(Duration::from_millis(5)).is_err());
        assert_eq!(stats::snapshot().semaphore.timeouts, 1);
    });
}

#[test]
fn close_wakes_both_words_and_nobody_is_there_two_empty_wakes() {
    isolated(|| {
        let semaphore = Semaphore::new(1);
        drop(semaphore.try_acquire().unwrap());
        semaphore.close();
        let counters = stats::snapshot().semaphore;
        assert_eq!((counters.fast, counters.futex_wakes), (1, 2), "{counters:?}");
        if cfg!(target_os = "linux") {
            assert_eq!(counters.empty_wakes, 2, "{counters:?}");
        }
    });
}

#[test]
fn condvar_notifies_waits_timeouts_and_requeues() {
    isolated(|| {
        // Nobody waits: no system call.
        let condvar = RawCondvar::new();
        assert!(!condvar.notify_one());
        assert_eq!(condvar.notify_all(), 0);
        let counters = stats::snapshot().condvar;
        assert_eq!((counters.fast, counters.futex_wakes), (2, 0), "{counters:?}");

        // A timed wait that nobody notifies.
        stats::reset();
        let mutex = RawMutex::new();
        mutex.lock();
        // SAFETY: `mutex` is held.
        let notified =
            unsafe { condvar.wait_raw(&mutex, Some(Instant::now() + Duration::from_millis(5))) };
        assert!(!notified);
        // SAFETY: held again after the wait.
        unsafe { mutex.unlock() };
        let counters = stats::snapshot().condvar;
        assert_eq!((counters.contended, counters.timeouts, counters.futex_waits), (1, 1, 1));
        // Alone on the condvar, it watched for a notify through the whole spin schedule
        // (3 busy-wait rounds, 7 yields) before it slept.
        assert_eq!((counters.spins, counters.yields), (3, 7), "{counters:?}");
    });
}

#[test]
fn a_second_waiter_spins_and_a_third_sleeps_at_once() {
    for (asleep, (spins, yields)) in [(1, (3, 7)), (2, (0, 0))] {
        isolated(move || {
            let pair = Arc::new((RawMutex::new(), RawCondvar::new()));
            let waiters = asleep_in_wait(&pair, asleep);
            // With one asleep we still spin before sleeping (nobody notifies us); with two,
            // we go straight to the futex wait.
            stats::reset();
            pair.0.lock();
            let deadline = Instant::now() + Duration::from_millis(5);
            // SAFETY: `pair.0` is held; it is held again when the wait returns.
            let notified = unsafe { pair.1.wait_raw(&pair.0, Some(deadline)) };
            // SAFETY: held again after the wait.
            unsafe { pair.0.unlock() };
            let counters = stats::snapshot().condvar;
            assert!(!notified);
            assert_eq!(
                (counters.spins, counters.yields, counters.futex_waits),
                (spins, yields, 1),
                "{asleep} asleep: {counters:?}"
            );
            pair.1.notify_all();
            waiters.into_iter().for_each(|waiter| waiter.join().unwrap());
        });
    }
}

#[test]
fn notify_all_requeues_the_other_sleepers_onto_the_mutex() {
    isolated(|| {
        let pair = Arc::new((RawMutex::new(), RawCondvar::new()));
        let waiters = asleep_in_wait(&pair, 3);
        stats::reset();
        pair.1.notify_all();
        waiters.into_iter().for_each(|waiter| waiter.join().unwrap());
        let counters = stats::snapshot().condvar;
        if cfg!(target_os = "linux") {
            // One woken by the notify, the two others moved onto the mutex by it.
            assert_eq!(counters.handoffs, 2, "{counters:?}");
        }
        assert_eq!(counters.timeouts, 0);
        // The requeued sleepers are all gone, and the unlock that found nobody left to wake
        // cleared REQUEUED: a lock and unlock now is the plain fast path, with no system call.
        stats::reset();
        pair.0.lock();
        // SAFETY: locked just above.
        unsafe { pair.0.unlock() };
        let mutex = stats::snapshot().mutex;
        assert_eq!((mutex.fast, mutex.syscalls()), (1, 0), "{mutex:?}");
    });
}

#[test]
fn a_pool_counts_its_jobs_and_its_idle_workers_sleep() {
    isolated(|| {
        let pool = ThreadPool::new(2);
        for _ in 0..100 {
            pool.execute(|| {});
        }
        pool.wait_idle();
        assert_eq!(stats::snapshot().pool.jobs, 100);
        // Idle workers spin their schedule (3 busy rounds, 61 yields), then sleep in the
        // futex. The two workers' thread ids, from two tasks that run at once:
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let ids: Vec<_> = (0..2)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                pool.spawn(move || {
                    barrier.wait();
                    common::current_thread_id()
                })
            })
            .collect();
        for id in ids {
            common::wait_until_asleep(id.join().unwrap());
        }
        let pool_counters = stats::snapshot().pool;
        assert!(pool_counters.futex_waits >= 2, "{pool_counters:?}");
        assert!(
            pool_counters.spins >= 2 * 3 && pool_counters.yields >= 2 * 61,
            "{pool_counters:?}"
        );
        // A task that is not done in time.
        let (release, stuck) = std::sync::mpsc::channel::<()>();
        let handle = pool.spawn(move || stuck.recv().unwrap());
        let handle = handle.join_timeout(Duration::from_millis(5)).unwrap_err();
        release.send(()).unwrap();
        handle.join().unwrap();
        assert_eq!(stats::snapshot().pool.timeouts, 1);
        drop(pool);
        let profile = stats::snapshot();
        assert_eq!(profile.pool.jobs, 103, "\n{profile}");
        assert_eq!(profile.pool.steals, profile.pool.steals.min(profile.pool.jobs));
    });
}

#[test]
fn the_table_has_a_row_per_primitive_and_dashes_where_a_counter_does_not_apply() {
    isolated(|| {
        let table = stats::snapshot().to_string();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2 + 5, "{table}");
        assert!(lines[0].starts_with("| primitive") && lines[0].contains("futile wake-ups"));
        for (line, name) in lines[2..].iter().zip(["Mutex", "RwLock", "Condvar", "Semaphore"]) {
            assert!(line.starts_with(&format!("| {name}")), "{line}");
        }
        // A dash exactly where a counter does not apply: jobs and steals are the pool's; the
        // pool has no fast path, slow path or hand-off.
        let cells = |line: &str| -> Vec<String> {
            line.split('|').map(|cell| cell.trim().to_string()).filter(|c| !c.is_empty()).collect()
        };
        let header = cells(lines[0]);
        for line in &lines[2..] {
            let row = cells(line);
            for (column, cell) in header.iter().zip(&row).skip(1) {
                let pool_only = ["jobs", "steals"].contains(&column.as_str());
                let lock_only = ["fast", "contended", "hand-offs"].contains(&column.as_str());
                let applies = match row[0].as_str() {
                    "ThreadPool" => !lock_only,
                    _ => !pool_only,
                };
                assert_eq!(cell != "-", applies, "{} / {column}:\n{table}", row[0]);
            }
        }
    });
}

#[test]
fn profiles_add_and_subtract_counter_by_counter() {
    let mut a = Profile::default();
    (a.mutex.fast, a.condvar.futex_waits, a.pool.jobs) = (5, 3, 7);
    let mut b = Profile::default();
    (b.mutex.fast, b.rwlock.spins, b.pool.jobs, b.semaphore.timeouts) = (2, 1, 10, 4);
    let sum = a + b;
    assert_eq!((sum.mutex.fast, sum.rwlock.spins, sum.condvar.futex_waits), (7, 1, 3));
    assert_eq!((sum.semaphore.timeouts, sum.pool.jobs), (4, 17));
    assert_eq!(a.mutex + b.mutex, sum.mutex);
    // A difference saturates at zero (snapshots in the wrong order, or across a reset).
    let difference = a - b;
    assert_eq!((difference.mutex.fast, difference.condvar.futex_waits), (3, 3));
    assert_eq!((difference.pool.jobs, difference.rwlock.spins), (0, 0));
    assert_eq!(a.mutex - b.mutex, difference.mutex);
    assert_eq!(sum - b, a);
}
