//! The rest of [`atomsync::Mutex`]'s public behaviour: release on unwind (no poisoning), the
//! 4-byte size and `const` construction, `Send`/`Sync` as in std, and the `lock_api` extras
//! (mapped guards, `lock_arc`, `into_inner`, `Debug`, ...).
//!
//! No test waits for another thread by sleeping and hoping: threads meet through barriers,
//! channels or the mutex itself. Sleeps appear only (a) to give the lower bound of a timeout
//! something to measure, or (b) to give another thread the chance to go to sleep in `lock()`
//! where the assertion does not depend on how long the sleep was. Every test that could block
//! forever on a bug runs under [`within`], which turns a deadlock into a failure.

mod common;

use atomsync::{ArcMutexGuard, MappedMutexGuard, Mutex, MutexGuard, RawMutex, const_mutex};
use std::cell::Cell;
use std::fmt;
use std::mem::size_of;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{spawn_sleeping_locker, within};

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
