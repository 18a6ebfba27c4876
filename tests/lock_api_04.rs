//! atomsync's raw locks under code written against **lock_api 0.4's traits only**, the way
//! dashmap, tokio (its `parking_lot` feature) and other generic lock code is written: every
//! helper below is generic over a lock_api 0.4 trait bound and knows nothing of atomsync; the
//! tests instantiate it with [`atomsync::RawMutex`] / [`atomsync::RawRwLock`] and run it under
//! real contention. Plus the module's `Condvar` with lock_api 0.4 guards, and a check that both
//! lock_api generations drive one and the same state machine.
//!
//! Runs with `cargo test --features lock_api_04 --test lock_api_04`. Every test that could hang
//! on a bug runs under [`within`].
#![cfg(feature = "lock_api_04")]

mod common;

use atomsync::lock_api_04::lock_api::{
    self as api, RawMutex, RawMutexFair, RawMutexTimed, RawRwLock, RawRwLockDowngrade,
    RawRwLockTimed, RawRwLockUpgradeDowngrade, RawRwLockUpgradeFair, RawRwLockUpgradeTimed,
};
use atomsync::lock_api_04::{Condvar, Mutex, MutexGuard, RwLock, RwLockWriteGuard};
use common::{spawn_watched, wait_until_asleep_on, within};
use std::collections::HashMap;
use std::mem::size_of;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

const THREADS: usize = 4;
const ROUNDS: u64 = 20_000;
/// The timeout of the timed operations that must fail; also the lower bound they are held to.
const TIMEOUT: Duration = Duration::from_millis(20);

// ---------------------------------------------------------------------------------------------
// Generic code, lock_api 0.4 bounds only
// ---------------------------------------------------------------------------------------------

/// Two counters that are only ever changed together: a reader that sees them differ has seen
/// a critical section that was not exclusive.
#[derive(Default)]
struct Pair {
    left: u64,
    right: u64,
}

/// The brief's example shape: an increment through any lock_api 0.4 mutex.
fn bump<R: RawMutex>(counter: &api::Mutex<R, u64>) {
    *counter.lock() += 1;
}

/// Increments both halves in separate steps, checking that nobody else was inside.
fn bump_pair<R: RawMutex>(pair: &api::Mutex<R, Pair>) {
    let mut pair = pair.lock();
    assert_eq!(pair.left, pair.right, "two threads inside the mutex");
    pair.left += 1;
    std::hint::spin_loop();
    pair.right += 1;
}

/// `try_lock_for` on a mutex held elsewhere: must fail, and not before the timeout.
fn timed_out_lock<R>(mutex: &api::Mutex<R, u64>) -> Duration
where
    R: RawMutexTimed<Duration = Duration, Instant = Instant>,
{
    let start = Instant::now();
    assert!(mutex.try_lock_for(TIMEOUT).is_none());
    assert!(mutex.try_lock_until(Instant::now() + TIMEOUT).is_none());
    start.elapsed()
}

/// A dashmap-style "get or insert": look under the upgradable lock, upgrade only to insert,
/// downgrade to read the entry. Returns the value and whether this call inserted it.
fn get_or_insert<R>(map: &api::RwLock<R, HashMap<u64, u64>>, key: u64) -> (u64, bool)
where
    R: RawRwLockUpgradeDowngrade,
{
    let lookup = map.upgradable_read();
    if let Some(&value) = lookup.get(&key) {
        return (value, false);
    }
    let mut insert = api::RwLockUpgradableReadGuard::upgrade(lookup);
    let previous = insert.insert(key, key * 2);
    assert!(previous.is_none(), "two upgradable holders inserted key {key}");
    // Back to a read lock without letting a writer in: the entry is still ours to read.
    let read = api::RwLockWriteGuard::downgrade(insert);
    (read[&key], true)
}

/// A writer that downgrades: after the atomic downgrade, no writer can have run, so the value
/// it wrote is still there.
fn write_then_read<R: RawRwLockDowngrade>(lock: &api::RwLock<R, Pair>) {
    let mut pair = lock.write();
    assert_eq!(pair.left, pair.right, "a writer overlapped another lock holder");
    pair.left += 1;
    std::hint::spin_loop();
    pair.right += 1;
    let written = pair.left;
    let pair = api::RwLockWriteGuard::downgrade(pair);
    assert_eq!((pair.left, pair.right), (written, written), "a writer entered during a downgrade");
}

/// A reader that checks the writers' invariant.
fn read_pair<R: RawRwLock>(lock: &api::RwLock<R, Pair>) -> u64 {
    let pair = lock.read();
    assert_eq!(pair.left, pair.right, "a reader overlapped a writer");
    pair.left
}

/// Every timed form of a lock_api 0.4 rwlock, against a lock held in write mode elsewhere.
/// Returns how long the five failing attempts took altogether.
fn timed_out_against_a_writer<R>(lock: &api::RwLock<R, u64>) -> Duration
where
    R: RawRwLockUpgradeTimed<Duration = Duration, Instant = Instant>,
{
    let start = Instant::now();
    assert!(lock.try_read_for(TIMEOUT).is_none());
    assert!(lock.try_read_until(Instant::now() + TIMEOUT).is_none());
    assert!(lock.try_write_for(TIMEOUT).is_none());
    assert!(lock.try_write_until(Instant::now() + TIMEOUT).is_none());
    assert!(lock.try_upgradable_read_for(TIMEOUT).is_none());
    start.elapsed()
}

/// A timed upgrade while another reader holds on: it fails, not before the timeout, and keeps
/// the upgradable lock (the guard comes back and still reads).
fn upgrade_for<R>(lock: &api::RwLock<R, u64>, timeout: Duration) -> Result<u64, Duration>
where
    R: RawRwLockUpgradeTimed<Duration = Duration, Instant = Instant>,
{
    let start = Instant::now();
    match api::RwLockUpgradableReadGuard::try_upgrade_for(lock.upgradable_read(), timeout) {
        Ok(mut write) => {
            *write += 1;
            Ok(*write)
        }
        Err(still_upgradable) => {
            let waited = start.elapsed();
            assert_eq!(*still_upgradable, *lock.read(), "the failed upgrade lost its read lock");
            Err(waited)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Mutex
// ---------------------------------------------------------------------------------------------

#[test]
fn generic_mutex_code_counts_every_increment_under_contention() {
    within(|| {
        let counter = Arc::new(api::Mutex::<atomsync::RawMutex, u64>::new(0));
        let pair = Arc::new(api::Mutex::<atomsync::RawMutex, Pair>::new(Pair::default()));
        let start = Arc::new(Barrier::new(THREADS));
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let (counter, pair, start) =
                    (Arc::clone(&counter), Arc::clone(&pair), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    for _ in 0..ROUNDS {
                        bump(&counter);
                        bump_pair(&pair);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(*counter.lock(), THREADS as u64 * ROUNDS);
        let pair = pair.lock();
        assert_eq!((pair.left, pair.right), (THREADS as u64 * ROUNDS, THREADS as u64 * ROUNDS));
    });
}

#[test]
fn generic_timed_mutex_code_times_out_no_earlier_than_asked_and_then_succeeds() {
    within(|| {
        let mutex = Arc::new(Mutex::new(0u64));
        let held = mutex.lock();
        let waited = {
            let mutex = Arc::clone(&mutex);
            thread::spawn(move || timed_out_lock(&mutex)).join().unwrap()
        };
        assert!(waited >= 2 * TIMEOUT, "two timed locks of {TIMEOUT:?} returned after {waited:?}");
        drop(held);
        // Free now: both timed forms take it at once, whatever the timeout.
        drop(mutex.try_lock_for(Duration::MAX).expect("a free mutex"));
        assert!(mutex.try_lock_until(Instant::now()).is_some());
    });
}

/// lock_api 0.4's `unlock_fair` hands the lock to the thread asleep in `lock()`: the unlocking
/// thread, locking again at once, comes second.
fn fair_unlock_hands_over<R>(mutex: &Arc<api::Mutex<R, Vec<&'static str>>>)
where
    R: RawMutexFair + Send + Sync + 'static,
{
    let guard = mutex.lock();
    let (sleeper, thread_id) = {
        let mutex = Arc::clone(mutex);
        spawn_watched(move || mutex.lock().push("sleeper"))
    };
    // SAFETY: only the address of the raw lock (its futex word is its first and only field) is
    // taken; nothing locks or unlocks through it.
    let word = unsafe { mutex.raw() } as *const R as u64;
    wait_until_asleep_on(thread_id, &[word]);
    api::MutexGuard::unlock_fair(guard);
    mutex.lock().push("unlocker");
    sleeper.join().unwrap();
    assert_eq!(*mutex.lock(), ["sleeper", "unlocker"]);
}

#[test]
fn generic_fair_mutex_code_hands_the_lock_to_a_sleeper() {
    within(|| {
        fair_unlock_hands_over(&Arc::new(api::Mutex::<atomsync::RawMutex, _>::new(Vec::new())))
    });
}

#[test]
fn fair_unlocks_and_bumps_keep_mutual_exclusion_under_contention() {
    within(|| {
        let pair = Arc::new(Mutex::new(Pair::default()));
        let threads: Vec<_> = (0..THREADS)
            .map(|thread| {
                let pair = Arc::clone(&pair);
                thread::spawn(move || {
                    for round in 0..ROUNDS / 4 {
                        let mut guard = pair.lock();
                        assert_eq!(guard.left, guard.right, "two threads inside the mutex");
                        guard.left += 1;
                        std::hint::spin_loop();
                        guard.right += 1;
                        // `bump` may let others in (it is a fair unlock and a lock): only at
                        // a point where the pair is consistent.
                        MutexGuard::bump(&mut guard);
                        assert_eq!(guard.left, guard.right, "two threads inside the mutex");
                        guard.left += 1;
                        std::hint::spin_loop();
                        guard.right += 1;
                        if (round + thread as u64).is_multiple_of(2) {
                            MutexGuard::unlock_fair(guard);
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let pair = pair.lock();
        assert_eq!(
            (pair.left, pair.right),
            (THREADS as u64 * ROUNDS / 2, THREADS as u64 * ROUNDS / 2)
        );
    });
}

#[test]
fn guards_can_be_released_on_another_thread() {
    within(|| {
        let mutex = Arc::new(Mutex::new(1));
        let lock = Arc::new(RwLock::new(1));
        let (mutex_guard, write_guard) = (mutex.lock_arc(), lock.write_arc());
        // GuardSend: the lock has no owner identity, so this compiles and is sound.
        thread::spawn(move || drop((mutex_guard, write_guard))).join().unwrap();
        assert!(!mutex.is_locked() && !lock.is_locked());
        assert_eq!((*mutex.lock(), *lock.read()), (1, 1));
    });
}

#[test]
fn sizes_are_those_of_the_lock_api_05_wrappers() {
    assert_eq!(size_of::<Mutex<()>>(), 4);
    assert_eq!(size_of::<atomsync::Mutex<()>>(), 4);
    assert_eq!(size_of::<RwLock<()>>(), 8);
    assert_eq!(size_of::<atomsync::RwLock<()>>(), 8);
    assert_eq!(size_of::<Condvar>(), 8);
    assert_eq!(size_of::<atomsync::Condvar>(), 8);
}

#[test]
fn both_lock_api_generations_drive_one_state_machine() {
    use atomsync::lock_api::RawMutex as RawMutex05;
    let raw = atomsync::RawMutex::new();
    let guard = RawMutex05::lock(&raw);
    // Locked through 0.5: 0.4 sees it locked and cannot take it.
    assert!(RawMutex::is_locked(&raw));
    assert!(!RawMutex::try_lock(&raw));
    assert!(!RawMutexTimed::try_lock_for(&raw, Duration::from_millis(1)));
    // SAFETY: held through the 0.5 guard.
    unsafe { RawMutex05::unlock(&raw, guard) };
    assert!(RawMutex::try_lock(&raw));
    assert!(RawMutex05::is_locked(&raw));
    // SAFETY: taken through 0.4 just above.
    unsafe { RawMutex::unlock(&raw) };
    assert!(!RawMutex05::is_locked(&raw));
}

#[test]
fn statics_work_through_init_and_const_constructors() {
    static BY_INIT: api::Mutex<atomsync::RawMutex, u32> =
        api::Mutex::const_new(<atomsync::RawMutex as RawMutex>::INIT, 1);
    static BY_FN: Mutex<u32> = atomsync::lock_api_04::const_mutex(2);
    static TABLE: RwLock<u32> = atomsync::lock_api_04::const_rwlock(3);
    *BY_INIT.lock() += 10;
    *BY_FN.lock() += 10;
    *TABLE.write() += 10;
    assert_eq!((*BY_INIT.lock(), *BY_FN.lock(), *TABLE.read()), (11, 12, 13));
}

// ---------------------------------------------------------------------------------------------
// RwLock
// ---------------------------------------------------------------------------------------------

#[test]
fn generic_get_or_insert_inserts_each_key_exactly_once_under_contention() {
    within(|| {
        const KEYS: u64 = 2_000;
        let map =
            Arc::new(api::RwLock::<atomsync::RawRwLock, HashMap<u64, u64>>::new(HashMap::new()));
        let inserts = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(THREADS));
        let threads: Vec<_> = (0..THREADS as u64)
            .map(|thread| {
                let (map, inserts, start) =
                    (Arc::clone(&map), Arc::clone(&inserts), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    for step in 0..KEYS {
                        // Each thread walks the keys from a different place, in a different
                        // direction, so that every key is contended by some thread.
                        let key = if thread.is_multiple_of(2) {
                            (step + thread * 500) % KEYS
                        } else {
                            KEYS - 1 - step
                        };
                        let (value, inserted) = get_or_insert(&map, key);
                        assert_eq!(value, key * 2);
                        if inserted {
                            inserts.fetch_add(1, SeqCst);
                        }
                        // Plain readers in between, as a cache's hit path would be.
                        assert!(map.read().get(&key).is_some());
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(inserts.load(SeqCst), KEYS as usize);
        assert_eq!(map.read().len(), KEYS as usize);
    });
}

#[test]
fn generic_rwlock_readers_never_see_a_writer_half_way() {
    within(|| {
        let lock = Arc::new(api::RwLock::<atomsync::RawRwLock, Pair>::new(Pair::default()));
        let writes = ROUNDS / 10;
        let start = Arc::new(Barrier::new(THREADS));
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let (lock, start) = (Arc::clone(&lock), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    for _ in 0..writes {
                        write_then_read(&lock);
                    }
                })
            })
            .collect();
        let readers: Vec<_> = (0..THREADS - 2)
            .map(|_| {
                let (lock, start) = (Arc::clone(&lock), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    let mut last = 0;
                    for _ in 0..writes {
                        let seen = read_pair(&lock);
                        assert!(seen >= last, "a reader saw the value go back");
                        last = seen;
                    }
                })
            })
            .collect();
        for thread in writers.into_iter().chain(readers) {
            thread.join().unwrap();
        }
        assert_eq!(read_pair(&lock), 2 * writes);
    });
}

#[test]
fn generic_timed_rwlock_code_times_out_against_a_writer() {
    within(|| {
        let lock = Arc::new(RwLock::new(5u64));
        let held = lock.write();
        let waited = {
            let lock = Arc::clone(&lock);
            thread::spawn(move || timed_out_against_a_writer(&lock)).join().unwrap()
        };
        assert!(waited >= 5 * TIMEOUT, "five timed locks of {TIMEOUT:?} returned after {waited:?}");
        drop(held);
        assert_eq!(*lock.try_read_for(Duration::MAX).expect("free"), 5);
        assert!(lock.try_write_until(Instant::now()).is_some());
        assert!(lock.try_upgradable_read_for(Duration::ZERO).is_some());
    });
}

#[test]
fn generic_timed_upgrade_waits_for_the_readers_and_keeps_its_lock_on_failure() {
    within(|| {
        let lock = Arc::new(RwLock::new(0u64));
        let reader = lock.read();
        let waited = {
            let lock = Arc::clone(&lock);
            thread::spawn(move || upgrade_for(&lock, TIMEOUT)).join().unwrap()
        };
        let waited = waited.expect_err("upgraded while another reader held the lock");
        assert!(waited >= TIMEOUT, "a {TIMEOUT:?} upgrade gave up after {waited:?}");
        // The upgrade waits for a reader that leaves while it waits.
        let (upgrader, thread_id) = {
            let lock = Arc::clone(&lock);
            spawn_watched(move || upgrade_for(&lock, Duration::from_secs(30)))
        };
        // The upgrading thread sleeps on the lock's second word (writer_notify), 4 bytes on.
        // SAFETY: only the address of the raw lock is taken.
        let base = unsafe { lock.raw() } as *const atomsync::RawRwLock as u64;
        wait_until_asleep_on(thread_id, &[base, base + 4]);
        drop(reader);
        assert_eq!(upgrader.join().unwrap(), Ok(1));
        assert_eq!(*lock.read(), 1);
    });
}

#[test]
fn upgradable_downgrades_and_fair_unlocks_through_the_04_guards() {
    use atomsync::lock_api_04::{RwLockReadGuard, RwLockUpgradableReadGuard};
    let lock = RwLock::new(1);
    // write -> upgradable -> read, readers allowed in at each step down.
    let write = lock.write();
    assert!(lock.try_read().is_none());
    let upgradable = RwLockWriteGuard::downgrade_to_upgradable(write);
    assert_eq!(*lock.try_read().expect("readers share with the upgradable lock"), 1);
    assert!(lock.try_upgradable_read().is_none());
    let read = RwLockUpgradableReadGuard::downgrade(upgradable);
    let other_upgradable = lock.try_upgradable_read().expect("the upgradable lock is free again");
    RwLockUpgradableReadGuard::unlock_fair(other_upgradable);
    RwLockReadGuard::unlock_fair(read);
    let mut write = lock.write();
    RwLockWriteGuard::bump(&mut write);
    *write += 1;
    RwLockWriteGuard::unlock_fair(write);
    assert!(!lock.is_locked());
    let mut upgradable = lock.upgradable_read();
    RwLockUpgradableReadGuard::bump(&mut upgradable);
    assert!(RwLockUpgradableReadGuard::try_upgrade(upgradable).is_ok());
    assert_eq!(*lock.read(), 2);
}

/// Fair unlocks and bumps of every lock mode, generic over lock_api 0.4's fair traits.
fn fair_round<R: RawRwLockUpgradeFair>(lock: &api::RwLock<R, Pair>) {
    let mut write = lock.write();
    assert_eq!(write.left, write.right, "a writer overlapped another lock holder");
    write.left += 1;
    std::hint::spin_loop();
    write.right += 1;
    // `bump` may let others in: only where the pair is consistent.
    api::RwLockWriteGuard::bump(&mut write);
    assert_eq!(write.left, write.right, "a writer overlapped another lock holder");
    api::RwLockWriteGuard::unlock_fair(write);
    let mut read = lock.read();
    assert_eq!(read.left, read.right);
    api::RwLockReadGuard::bump(&mut read);
    assert_eq!(read.left, read.right);
    api::RwLockReadGuard::unlock_fair(read);
    let mut upgradable = lock.upgradable_read();
    api::RwLockUpgradableReadGuard::bump(&mut upgradable);
    assert_eq!(upgradable.left, upgradable.right);
    api::RwLockUpgradableReadGuard::unlock_fair(upgradable);
}

#[test]
fn generic_fair_rwlock_code_keeps_exclusion_under_contention() {
    within(|| {
        let lock = Arc::new(api::RwLock::<atomsync::RawRwLock, Pair>::new(Pair::default()));
        let rounds = ROUNDS / 10;
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let lock = Arc::clone(&lock);
                thread::spawn(move || (0..rounds).for_each(|_| fair_round(&lock)))
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(read_pair(&lock), THREADS as u64 * rounds);
    });
}

/// `is_locked`/`is_locked_exclusive` through lock_api 0.4's `RawRwLock` trait.
fn lock_states<R: RawRwLock + RawRwLockTimed>(lock: &api::RwLock<R, ()>) -> [(bool, bool); 3] {
    let free = (lock.is_locked(), lock.is_locked_exclusive());
    let read = lock.read();
    let reading = (lock.is_locked(), lock.is_locked_exclusive());
    drop(read);
    let write = lock.write();
    let writing = (lock.is_locked(), lock.is_locked_exclusive());
    drop(write);
    [free, reading, writing]
}

#[test]
fn is_locked_reports_each_mode() {
    assert_eq!(lock_states(&RwLock::new(())), [(false, false), (true, false), (true, true)]);
}

// ---------------------------------------------------------------------------------------------
// Condvar with lock_api 0.4 guards
// ---------------------------------------------------------------------------------------------

#[test]
fn condvar_carries_every_item_from_producers_to_consumers() {
    within(|| {
        const ITEMS: u64 = 5_000;
        let queue =
            Arc::new((Mutex::new((Vec::<u64>::new(), 0usize)), Condvar::new(), Condvar::new()));
        let producers: Vec<_> = (0..2)
            .map(|producer| {
                let queue = Arc::clone(&queue);
                thread::spawn(move || {
                    let (items, not_empty, not_full) = &*queue;
                    for item in 0..ITEMS {
                        let mut items = items.lock();
                        not_full.wait_while(&mut items, |(items, _)| items.len() >= 16);
                        items.0.push(producer * ITEMS + item);
                        not_empty.notify_one();
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let queue = Arc::clone(&queue);
                thread::spawn(move || {
                    let (items, not_empty, not_full) = &*queue;
                    let mut sum = 0;
                    loop {
                        let mut items = items.lock();
                        not_empty.wait_while(&mut items, |(items, taken)| {
                            items.is_empty() && *taken < 2 * ITEMS as usize
                        });
                        let Some(item) = items.0.pop() else { return sum };
                        items.1 += 1;
                        sum += item;
                        not_full.notify_one();
                        if items.1 == 2 * ITEMS as usize {
                            not_empty.notify_all(); // the other consumer: nothing is left
                        }
                    }
                })
            })
            .collect();
        for producer in producers {
            producer.join().unwrap();
        }
        let total: u64 = consumers.into_iter().map(|consumer| consumer.join().unwrap()).sum();
        assert_eq!(total, (0..2 * ITEMS).sum());
    });
}

#[test]
fn condvar_notify_all_wakes_every_waiter() {
    within(|| {
        const WAITERS: usize = 6;
        let state = Arc::new((Mutex::new((false, 0usize)), Condvar::new()));
        let waiters: Vec<_> = (0..WAITERS)
            .map(|_| {
                let state = Arc::clone(&state);
                thread::spawn(move || {
                    let (mutex, condvar) = &*state;
                    let mut guard = mutex.lock();
                    guard.1 += 1;
                    condvar.wait_while(&mut guard, |(go, _)| !*go);
                })
            })
            .collect();
        let (mutex, condvar) = &*state;
        // Wait until all are inside `wait_while` (they registered under the mutex).
        loop {
            let mut guard = mutex.lock();
            if guard.1 == WAITERS {
                guard.0 = true;
                // Spurious wake-ups are possible, so no exact count is promised.
                assert_eq!(condvar.notify_all(), 0);
                break;
            }
            drop(guard);
            thread::yield_now();
        }
        for waiter in waiters {
            waiter.join().unwrap();
        }
        assert!(!mutex.is_locked());
    });
}

#[test]
fn condvar_timed_waits_time_out_with_the_mutex_held_again() {
    within(|| {
        let mutex = Arc::new(Mutex::new(0));
        let condvar = Condvar::new();
        let mut guard = mutex.lock();
        let start = Instant::now();
        assert!(condvar.wait_for(&mut guard, TIMEOUT).timed_out());
        assert!(start.elapsed() >= TIMEOUT);
        let deadline = Instant::now() + TIMEOUT;
        assert!(condvar.wait_until(&mut guard, deadline).timed_out());
        assert!(Instant::now() >= deadline);
        let start = Instant::now();
        assert!(condvar.wait_while_for(&mut guard, |value| *value == 0, TIMEOUT).timed_out());
        assert!(start.elapsed() >= TIMEOUT);
        let deadline = Instant::now() + TIMEOUT;
        assert!(condvar.wait_while_until(&mut guard, |value| *value == 0, deadline).timed_out());
        assert!(Instant::now() >= deadline);
        // Re-locked after every timeout: another thread cannot get in.
        let other = Arc::clone(&mutex);
        assert!(thread::spawn(move || other.try_lock().is_none()).join().unwrap());
        *guard += 1;
        assert!(!condvar.wait_while_for(&mut guard, |value| *value == 0, TIMEOUT).timed_out());
    });
}

#[test]
fn condvar_timed_wait_returns_on_notification_before_its_deadline() {
    within(|| {
        let state = Arc::new((Mutex::new(false), Condvar::new()));
        let notifier = {
            let state = Arc::clone(&state);
            thread::spawn(move || {
                *state.0.lock() = true;
                state.1.notify_one();
            })
        };
        let (mutex, condvar) = &*state;
        let mut ready = mutex.lock();
        // Duration::MAX: no deadline at all (not an overflow).
        let result = condvar.wait_while_for(&mut ready, |ready| !*ready, Duration::MAX);
        assert!(!result.timed_out());
        assert!(*ready);
        drop(ready);
        notifier.join().unwrap();
    });
}

/// A flag under a mutex, and the condvar its waiters use.
type Flag = Arc<(Mutex<bool>, Condvar)>;

/// Runs `wait` (which waits on `shared`'s condvar) on a new thread; returns its handle once
/// the thread sleeps in a futex wait on one of the condvar's two 4-byte words.
fn spawn_condvar_waiter<R: Send + 'static>(
    shared: &Flag,
    wait: impl FnOnce(&Flag) -> R + Send + 'static,
) -> thread::JoinHandle<R> {
    let (waiter, thread_id) = {
        let shared = Arc::clone(shared);
        spawn_watched(move || wait(&shared))
    };
    let base = &shared.1 as *const Condvar as u64;
    wait_until_asleep_on(thread_id, &[base, base + 4]);
    waiter
}

#[test]
fn condvar_rejects_a_second_mutex_while_waiters_use_the_first() {
    within(|| {
        let shared = Arc::new((Mutex::new(false), Condvar::new()));
        // Asleep on the condvar: registered with the first mutex.
        let waiter = spawn_condvar_waiter(&shared, |shared| {
            let mut ready = shared.0.lock();
            shared.1.wait_while(&mut ready, |ready| !*ready);
        });
        let other = Mutex::new(());
        let mut other_guard = other.lock();
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            shared.1.wait_for(&mut other_guard, Duration::from_millis(1))
        }))
        .expect_err("a wait with a second mutex must panic");
        let message = panic.downcast_ref::<&str>().copied().unwrap_or_default();
        assert!(message.contains("two different mutexes"), "panicked with {message:?}");
        // It panicked before unlocking: the second mutex is still held by its guard.
        assert!(other.is_locked());
        drop(other_guard);
        assert!(!other.is_locked());
        *shared.0.lock() = true;
        shared.1.notify_all();
        waiter.join().unwrap();
    });
}

/// A notify that came in time counts even when the waiter gets its mutex back only after the
/// deadline (the notifier holds the mutex past it): the wait reports "not timed out".
#[test]
fn condvar_wait_notified_in_time_is_not_a_timeout_however_late_it_relocks() {
    within(|| {
        let shared = Arc::new((Mutex::new(false), Condvar::new()));
        let waiter = spawn_condvar_waiter(&shared, |shared| {
            let mut notified = shared.0.lock();
            let result = shared.1.wait_for(&mut notified, Duration::from_millis(200));
            (result.timed_out(), *notified)
        });
        let mut notified = shared.0.lock();
        *notified = true;
        shared.1.notify_one();
        // Hold the mutex past the waiter's deadline.
        thread::sleep(Duration::from_millis(300));
        drop(notified);
        assert_eq!(waiter.join().unwrap(), (false, true));
    });
}

#[test]
fn condvar_debug_names_the_type() {
    assert_eq!(format!("{:?}", Condvar::new()), "Condvar { .. }");
}
